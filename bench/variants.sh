#!/usr/bin/env bash
# Interleaved A/B of gateway builds on one scenario: each round runs every
# binary in turn against the same upstream, so the machine's drift hits all
# of them alike. Prints, per run, req/s, the gateway's CPU per request and
# its system calls per request (perf stat), which moves less with the
# machine's load than req/s does.
#
#   KEEP_TMP=1 bench/run.sh plain          # once: makes the configs
#   bench/variants.sh /tmp/cobaltgw-bench.XXXX ./old-gw ./new-gw ...
#
# Environment: ROUNDS [5]  DURATION [4] (seconds)  PATH_ [/bench/plain]
#   PROXY_CPU [0]  LOAD_CPU [1]  (as in run.sh)
set -euo pipefail
dir=${1:?usage: variants.sh BENCH_TMP_DIR BIN...}
shift
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-4} PATH_=${PATH_:-/bench/plain}
PROXY_CPU=${PROXY_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
port=$(grep -o '127.0.0.1:[0-9]*' "$dir/gateway.toml" | head -1)
taskset -c "$LOAD_CPU" nginx -c "$dir/upstream.conf" >/dev/null 2>&1 &
trap 'nginx -s stop -c "$dir/upstream.conf" 2>/dev/null || true' EXIT
sleep 0.5
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
for _ in $(seq "$ROUNDS"); do
	for bin in "$@"; do
		GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$bin" -config "$dir/gateway.toml" >/dev/null 2>&1 &
		gw=$!
		sleep 0.7
		taskset -c "$LOAD_CPU" wrk -t1 -c64 -d2s "http://$port$PATH_" >/dev/null
		t0=$(ticks $gw)
		perf stat -x, -e raw_syscalls:sys_enter -p $gw -o "$dir/variants-perf.txt" -- sleep "$DURATION" &
		ps=$!
		out=$(taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${DURATION}s" "http://$port$PATH_")
		wait $ps || true
		t1=$(ticks $gw)
		kill $gw
		wait $gw 2>/dev/null || true
		reqs=$(awk '/requests in/{print $1}' <<<"$out")
		rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
		sys=$(awk -F, '/sys_enter/{print $1}' "$dir/variants-perf.txt")
		# /proc ticks are 1/100 s: µs per request = ticks * 10000 / requests.
		awk -v b="$(basename "$bin")" -v r="$rps" -v t=$((t1 - t0)) -v n="$reqs" -v s="$sys" \
			'BEGIN{printf "%-16s %8.0f req/s  %5.1f us/req  %4.2f syscalls/req\n", b, r, t*10000/n, s/n}'
	done
done
