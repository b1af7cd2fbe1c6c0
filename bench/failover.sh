#!/usr/bin/env bash
# Failover benchmark: cobaltgw vs nginx, each proxying to two upstream
# targets (A and B), with target A killed (SIGKILL) KILL_AT into a wrk run.
# Reports what the client saw on each side: requests, non-2xx responses,
# socket errors, p50/p99 and req/s.
#
#   bench/failover.sh
#
# Setup:
#   targets A, B   two separate nginx processes (master_process off, so one
#                  SIGKILL takes the whole server down) answering
#                  200 {"ok":true} on any path, pinned to LOAD_CPU
#   gateway        one upstream, targets [A, B]: round_robin,
#                  connect_timeout 200ms, timeout 2s, retries 1, eject_after 2,
#                  eject_for 10s, health_path "/" every 1s (HEALTH=off: passive
#                  ejection only); GOMAXPROCS=1 on PROXY_CPU
#   nginx proxy    upstream { server A max_fails=1 fail_timeout=10s; server B
#                  max_fails=1 fail_timeout=10s; keepalive 64; } with the
#                  default proxy_next_upstream (error timeout),
#                  proxy_connect_timeout 200ms; worker_processes 1 on PROXY_CPU
# Each side: (re)start A, WARMUP wrk run (fills both pools), then the measured
# wrk run with A killed KILL_AT after it starts. The gateway goes first, then
# A is restarted and nginx gets the same treatment.
#
# Environment (defaults in brackets):
#   DURATION [10s]  CONNECTIONS [64]  THREADS [1]  WARMUP [2s]  KILL_AT [2]
#   (seconds into the measured run)  HEALTH [on]
#   STATUS [off]    on = count responses per status code (wrk/failover.lua;
#                   costs wrk a Lua call per response) and show them
#   QUIET_MAX [20] QUIET_WAIT [30]  before each run, wait up to QUIET_WAIT s for
#                   both cores to be under QUIET_MAX % busy (shared machine)
#   PROXY_CPU [0]   core both proxies are pinned to
#   LOAD_CPU [1]    core the targets and wrk are pinned to
#   GATEWAY_BIN     use this gateway binary instead of building one
#   KEEP_TMP [0]    1 = keep the temp dir (configs, logs) after the run
#
# Nothing is written outside a mktemp dir and bench/results/<timestamp>-failover/.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
REPO=$(dirname "$BENCH_DIR")

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2s}
KILL_AT=${KILL_AT:-2}
HEALTH=${HEALTH:-on}
STATUS=${STATUS:-off}
QUIET_MAX=${QUIET_MAX:-20}
QUIET_WAIT=${QUIET_WAIT:-30}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
GATEWAY_BIN=${GATEWAY_BIN:-}
KEEP_TMP=${KEEP_TMP:-0}

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
	exit 2
}
[[ $# -eq 0 ]] || usage


for tool in nginx wrk taskset curl ss; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -n $GATEWAY_BIN ]] || command -v go >/dev/null || die "go is not installed (or set GATEWAY_BIN)"
[[ $HEALTH == on || $HEALTH == off ]] || die "HEALTH must be on or off"
[[ $STATUS == on || $STATUS == off ]] || die "STATUS must be on or off"
WRK_SCRIPT=report.lua
[[ $STATUS == off ]] || WRK_SCRIPT=failover.lua
[[ $KILL_AT =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "KILL_AT must be a number of seconds"
if (($(nproc) < 2)); then
	log "WARNING: one core; proxies, targets and wrk will share core 0"
	PROXY_CPU=0 LOAD_CPU=0
fi

# --- temp dir, results dir, cleanup ----------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cobaltgw-failover.XXXXXX")
STAMP=$(date +%Y%m%dT%H%M%S)
RESULTS="$BENCH_DIR/results/$STAMP-failover"
mkdir -p "$RESULTS" "$TMP/ngx-a" "$TMP/ngx-b" "$TMP/ngx-proxy"
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- free ports on 127.0.0.1 ------------------------------------------------
free_port A_PORT
free_port B_PORT
free_port GW_PORT
free_port NG_PORT
A="127.0.0.1:$A_PORT"
B="127.0.0.1:$B_PORT"
GW="http://127.0.0.1:$GW_PORT"
NG="http://127.0.0.1:$NG_PORT"

# --- build ------------------------------------------------------------------
if [[ -n $GATEWAY_BIN ]]; then
	cp "$GATEWAY_BIN" "$TMP/cobaltgw"
else
	log "building the gateway"
	(cd "$REPO" && go build -o "$TMP/cobaltgw" .) || die "the gateway does not build"
fi

# --- configs ----------------------------------------------------------------
NGX_USER=""
if [[ $EUID -eq 0 ]]; then NGX_USER="user $(id -un) $(id -gn);"; fi

ngx_temp_paths() { # DIR
	cat <<EOF
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
EOF
}

# A target: one process (master_process off), so SIGKILL on the pid we hold
# is the whole server dying: its sockets are closed by the kernel, in-flight
# requests are cut, and new connections are refused.
target_conf() { # DIR ADDR
	cat <<EOF
$NGX_USER
master_process off;
daemon off;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
$(ngx_temp_paths "$1")
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  server {
    listen $2 reuseport backlog=4096;
    location / {
      default_type application/json;
      return 200 '{"ok":true}\n';
    }
  }
}
EOF
}
target_conf "$TMP/ngx-a" "$A" >"$TMP/target-a.conf"
target_conf "$TMP/ngx-b" "$B" >"$TMP/target-b.conf"

cat >"$TMP/nginx.conf" <<EOF
$NGX_USER
worker_processes 1;
daemon off;
pid $TMP/ngx-proxy/nginx.pid;
events { worker_connections 4096; }
http {
$(ngx_temp_paths "$TMP/ngx-proxy")
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  upstream backend {
    server $A max_fails=1 fail_timeout=10s;
    server $B max_fails=1 fail_timeout=10s;
    keepalive 64;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$NG_PORT reuseport backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    # proxy_next_upstream stays at its default: error timeout.
    proxy_connect_timeout 200ms;
    proxy_read_timeout 2s;
    location / {
      proxy_pass http://backend;
    }
  }
}
EOF

HEALTH_KEYS=""
if [[ $HEALTH == on ]]; then
	HEALTH_KEYS='health_path = "/"
health_interval = "1s"
health_timeout = "200ms"'
fi
cat >"$TMP/gateway.toml" <<EOF
# Generated by bench/failover.sh.
[server]
listen = "127.0.0.1:$GW_PORT"
shutdown_grace = "2s"

[admin]
listen = ""

[log]
format = "json"
access = false

[[upstreams]]
name = "pair"
targets = ["http://$A", "http://$B"]
balance = "round_robin"
connect_timeout = "200ms"
timeout = "2s"
retries = 1
eject_after = 2
eject_for = "10s"
$HEALTH_KEYS

[[routes]]
path = "/bench/plain"
methods = ["GET"]
upstream = "pair"
EOF
"$TMP/cobaltgw" validate -config "$TMP/gateway.toml" >"$TMP/validate.out" 2>&1 ||
	die "the gateway refuses the failover config: $(sed "s|$TMP/||" "$TMP/validate.out")"

# --- processes --------------------------------------------------------------

A_PID=""
start_target() { # NAME(a|b) ADDR → sets A_PID for a
	local name=$1 addr=$2 pid
	taskset -c "$LOAD_CPU" nginx -e "$TMP/target-$name.error.log" -p "$TMP/ngx-$name/" -c "$TMP/target-$name.conf" \
		>>"$TMP/target-$name.out.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_ready "http://$addr/" "$pid" "target $name" "$TMP/target-$name.error.log"
	[[ $name != a ]] || A_PID=$pid
}

log "targets A on $A and B on $B, cpu $LOAD_CPU"
start_target a "$A"
start_target b "$B"

log "gateway on $GW, cpu $PROXY_CPU, GOMAXPROCS=1 (health checks $HEALTH)"
GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$TMP/cobaltgw" -config "$TMP/gateway.toml" >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_ready "$GW/bench/plain" "$GW_PID" gateway "$TMP/gateway.log"

log "nginx proxy on $NG, cpu $PROXY_CPU, worker_processes 1"
taskset -c "$PROXY_CPU" nginx -e "$TMP/nginx-proxy.error.log" -p "$TMP/ngx-proxy/" -c "$TMP/nginx.conf" \
	>"$TMP/nginx-proxy.out.log" 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
wait_ready "$NG/bench/plain" "$NG_PID" "nginx proxy" "$TMP/nginx-proxy.error.log"

# --- measuring --------------------------------------------------------------

wrk_cmd() { # DURATION URL
	taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1" -s "$BENCH_DIR/wrk/$WRK_SCRIPT" "$2" -- get
}

RAW="$RESULTS/raw.tsv"
printf 'side\trps\tp50_us\tp99_us\trequests\tnon2xx\tconnect\tread\twrite\ttimeout\tstatuses\n' >"$RAW"

measure() { # SIDE(gw|ng) BASE
	local side=$1 base=$2 out="$RESULTS/wrk-$1.txt" wpid t0 t1
	[[ -n $A_PID ]] && kill -0 "$A_PID" 2>/dev/null || start_target a "$A"
	wait_quiet
	wrk_cmd "$WARMUP" "$base/bench/plain" >"$RESULTS/wrk-$side-warmup.txt" 2>&1 || true
	# Both targets must be serving through the proxy before the run starts.
	local c
	c=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$base/bench/plain" || true)
	[[ $c == 200 ]] || die "$side answered $c before the run"
	wrk_cmd "$DURATION" "$base/bench/plain" >"$out" 2>&1 &
	wpid=$!
	PIDS+=("$wpid")
	t0=$(date +%s.%N)
	sleep "$KILL_AT"
	t1=$(date +%s.%N) # stamped just before the kill
	kill -KILL "$A_PID"
	wait "$A_PID" 2>/dev/null || true
	log "$side: target A (pid $A_PID) killed $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s into the run"
	echo "$side $(date -u -d "@$t1" +%H:%M:%S.%3N)" >>"$RESULTS/kills.txt"
	A_PID=""
	wait "$wpid" || true
	local line
	line=$(grep -m1 '^WRKRESULT' "$out" || true)
	[[ -n $line ]] || die "wrk printed no result for $side: $(cat "$out")"
	local -A r=()
	local kv
	for kv in ${line#WRKRESULT }; do r[${kv%%=*}]=${kv#*=}; done
	local st
	st=$(grep -m1 '^WRKSTATUS' "$out" | cut -d' ' -f2- | tr ' ' ',' || true)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$side" "${r[rps]}" "${r[p50_us]}" "${r[p99_us]}" \
		"${r[requests]}" "${r[non2xx]}" "${r[connect]}" "${r[read]}" "${r[write]}" "${r[timeout]}" "${st:--}" >>"$RAW"
	log "$side: ${r[rps]} req/s p99 ${r[p99_us]}us non2xx ${r[non2xx]} sock ${r[connect]}/${r[read]}/${r[write]}/${r[timeout]}"
}

{
	echo "date: $(date -Is)"
	echo "command: $0 $*"
	echo "DURATION=$DURATION WARMUP=$WARMUP KILL_AT=$KILL_AT CONNECTIONS=$CONNECTIONS THREADS=$THREADS HEALTH=$HEALTH PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU"
	echo "loadavg before: $(cat /proc/loadavg)"
	echo "nginx: $(nginx -v 2>&1)"
	echo "gateway commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo n/a) (working tree as built)"
} >"$RESULTS/env.txt"

measure gw "$GW"
measure ng "$NG"
echo "loadavg after: $(cat /proc/loadavg)" >>"$RESULTS/env.txt"

# --- table ------------------------------------------------------------------
{
	printf '%-8s %9s %8s %14s %9s %9s %10s%s\n' side requests non2xx "sock c/r/w/t" p50 p99 req/s \
		"$([[ $STATUS == off ]] || echo '  statuses')"
	awk -F'\t' -v status="$STATUS" 'NR > 1 {
		name = $1 == "gw" ? "cobaltgw" : "nginx"
		printf "%-8s %9d %8d %14s %7.2fms %7.2fms %10.0f%s\n", name, $5, $6, $7 "/" $8 "/" $9 "/" $10,
			$3 / 1000, $4 / 1000, $2, (status == "on" ? "  " $11 : "") }' "$RAW"
	echo
	echo "DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS; target A SIGKILLed ${KILL_AT}s into each run (after a $WARMUP warmup)"
	echo "  targets: two nginx processes (return 200) + wrk on cpu $LOAD_CPU; proxies on cpu $PROXY_CPU"
	echo "  cobaltgw: round_robin, connect_timeout 200ms, retries 1, eject_after 2, eject_for 10s, health checks $HEALTH$(
		[[ $HEALTH == off ]] || echo ' (GET / every 1s, timeout 200ms)')"
	echo "  nginx: max_fails=1 fail_timeout=10s, keepalive 64, proxy_next_upstream error timeout (default), proxy_connect_timeout 200ms"
	echo "  non2xx = responses >= 400 seen by wrk; sock = connect/read/write/timeout errors seen by wrk"
	echo "  A killed at (UTC): $(awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), ($1 == "gw" ? "cobaltgw run" : "nginx run"), $2 }' "$RESULTS/kills.txt")"
	echo "  gateway log (target state changes; it keeps health-checking A during the nginx run too):"
	grep -E 'ejected|back in rotation|unhealthy|healthy' "$TMP/gateway.log" | sed 's/^/    /' | head -n 10 || true
	echo "  nginx proxy error log ($(wc -l <"$TMP/nginx-proxy.error.log" 2>/dev/null || echo 0) lines), first lines:"
	grep -v '\[notice\]' "$TMP/nginx-proxy.error.log" 2>/dev/null | cut -c1-200 | sed 's/^/    /' | head -n 4 || true
	echo "  raw: $RAW"
} | tee "$RESULTS/summary.txt"
