# Shared helpers of the bench scripts (run.sh, tls.sh, failover.sh); sourced,
# not run. The caller sets TMP, RESULTS, KEEP_TMP, PIDS=(), PROXY_CPU,
# LOAD_CPU, QUIET_MAX and QUIET_WAIT; an optional CURL array overrides the
# readiness probe (tls.sh adds its CA).

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# cleanup stops every process in PIDS (TERM, then KILL after 5 s), keeps
# the configs and logs with the results (they say what ran; keys under
# $TMP/pki stay behind), and removes the temp dir unless KEEP_TMP=1.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid i
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	cp "$TMP"/*.toml "$TMP"/*.conf "$TMP"/*.log "$RESULTS/" 2>/dev/null || true
	if [[ $KEEP_TMP == 1 ]]; then echo "temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
	exit "$rc"
}

USED_PORTS=" "
free_port() { # VAR: a random port nothing listens on (nor was handed out)
	local p
	for ((;;)); do
		p=$((20000 + RANDOM % 40000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if [[ -z $(ss -Htan "( sport = :$p )") ]]; then
			USED_PORTS+="$p "
			printf -v "$1" '%s' "$p"
			return
		fi
	done
}

wait_ready() { # URL PID NAME LOG
	local i probe=(curl -s -m 1)
	[[ -n ${CURL+x} ]] && probe=("${CURL[@]}")
	for ((i = 0; i < 100; i++)); do
		kill -0 "$2" 2>/dev/null || die "$3 exited at startup: $(tail -n 20 "$4" 2>/dev/null)"
		if "${probe[@]}" -o /dev/null "$1"; then return 0; fi
		sleep 0.1
	done
	die "$3 not ready after 10s: $(tail -n 20 "$4" 2>/dev/null)"
}

core_ticks() { # CPU: "busy total" jiffies of one core
	awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 + $7 + $8; t = 0; for (i = 2; i <= NF; i++) t += $i; print b, t }' /proc/stat
}

# wait_quiet waits up to QUIET_WAIT s for both cores to be under QUIET_MAX %
# busy: the machine may be shared.
wait_quiet() {
	local start=$SECONDS a0 at0 b0 bt0 a1 at1 b1 bt1 pa pb
	for ((;;)); do
		read -r a0 at0 < <(core_ticks "$PROXY_CPU")
		read -r b0 bt0 < <(core_ticks "$LOAD_CPU")
		sleep 1
		read -r a1 at1 < <(core_ticks "$PROXY_CPU")
		read -r b1 bt1 < <(core_ticks "$LOAD_CPU")
		pa=$((100 * (a1 - a0) / (at1 - at0 + 1)))
		pb=$((100 * (b1 - b0) / (bt1 - bt0 + 1)))
		((pa < QUIET_MAX && pb < QUIET_MAX)) && return 0
		if ((SECONDS - start >= QUIET_WAIT)); then
			log "WARNING: cores still busy ($pa%/$pb%) after ${QUIET_WAIT}s; measuring anyway"
			return 0
		fi
	done
}
