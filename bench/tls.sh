#!/usr/bin/env bash
# TLS side-by-side benchmark: the gateway's TLS listener vs nginx `listen ssl`,
# both with the same throwaway ECDSA P-256 certificate, in front of the same
# plain-HTTP upstream (nginx `return 200`), driven by wrk over https.
#
#   bench/tls.sh
#
# Two modes per side:
#   keepalive  CONNECTIONS keep-alive connections: req/s and p99 (TLS record
#              cost only; the handshakes happen once, in the warm-up)
#   handshake  `Connection: close` on every request (bench/tls/close.lua):
#              wrk reconnects for each one, so req/s = full handshakes/s
#              (wrk never resumes a session)
#
# Environment (defaults in brackets):
#   DURATION [10s]  WARMUP [2s]  CONNECTIONS [64]  THREADS [1]
#   QUIET_MAX [20] QUIET_WAIT [30]  before each run, wait up to QUIET_WAIT s for
#                   both cores to be under QUIET_MAX % busy (the machine is shared)
#   PROXY_CPU [0]   core both proxies are pinned to (one at a time is loaded)
#   LOAD_CPU [1]    core the upstream and wrk are pinned to
#   GATEWAY_BIN     use this gateway binary instead of building one
#   KEEP_TMP [0]    1 = keep the temp dir (configs, certificates, logs)
#
# The CA and server keys are generated in the temp dir and never copied to the
# results. Nothing is written outside a mktemp dir and bench/results/<timestamp>/.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
REPO=$(dirname "$BENCH_DIR")

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
QUIET_MAX=${QUIET_MAX:-20}
QUIET_WAIT=${QUIET_WAIT:-30}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
GATEWAY_BIN=${GATEWAY_BIN:-}
KEEP_TMP=${KEEP_TMP:-0}

case ${1:-} in
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
	exit 2
	;;
esac


for tool in nginx wrk taskset curl ss openssl; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -n $GATEWAY_BIN ]] || command -v go >/dev/null || die "go is not installed (or set GATEWAY_BIN)"
NCPU=$(nproc)
if ((NCPU < 2)); then
	log "WARNING: $NCPU core(s); proxies, upstream and wrk will share core 0"
	PROXY_CPU=0 LOAD_CPU=0
fi

# --- temp dir, results dir, cleanup (as in run.sh) --------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cobaltgw-tls.XXXXXX")
STAMP=$(date +%Y%m%dT%H%M%S)
RESULTS="$BENCH_DIR/results/$STAMP-tls"
mkdir -p "$RESULTS" "$TMP/ngx-up" "$TMP/ngx-proxy" "$TMP/pki"
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port UP_PORT
free_port GW_PORT
free_port NG_PORT
UP="127.0.0.1:$UP_PORT"
GW="https://127.0.0.1:$GW_PORT"
NG="https://127.0.0.1:$NG_PORT"
PATH_=/bench/plain

# --- throwaway PKI: ECDSA P-256 CA and server certificate -------------------
PKI=$TMP/pki
log "generating an ECDSA P-256 CA and server certificate in the temp dir"
{
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/ca.key"
	openssl req -x509 -new -key "$PKI/ca.key" -sha256 -days 2 -subj "/CN=cobaltgw bench CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$PKI/ca.pem"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/server.key"
	openssl req -new -key "$PKI/server.key" -subj "/CN=localhost" -out "$PKI/server.csr"
	printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=critical,CA:FALSE' \
		'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' >"$PKI/server.ext"
	openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 2 -sha256 -extfile "$PKI/server.ext" -out "$PKI/server.pem"
} >"$TMP/pki.log" 2>&1 || die "openssl failed: $(tail -n 5 "$TMP/pki.log")"
openssl verify -CAfile "$PKI/ca.pem" "$PKI/server.pem" >/dev/null || die "the server certificate does not verify"

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
ngx_head() { # DIR: process-wide part and temp paths of an nginx.conf
	cat <<EOF
$NGX_USER
worker_processes 1;
daemon off;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
EOF
}

{
	ngx_head "$TMP/ngx-up"
	cat <<EOF
  server {
    listen $UP reuseport backlog=4096;
    location / {
      default_type application/json;
      return 200 '{"ok":true}\n';
    }
  }
}
EOF
} >"$TMP/upstream.conf"

# nginx's TLS defaults are kept otherwise (ssl_ecdh_curve auto, session
# tickets on, no session cache): wrk never resumes, so they do not matter.
# The negotiated protocol/cipher/group of both sides lands in the summary.
{
	ngx_head "$TMP/ngx-proxy"
	cat <<EOF
  upstream backend {
    server $UP;
    keepalive 64;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$NG_PORT ssl reuseport backlog=4096;
    ssl_certificate $PKI/server.pem;
    ssl_certificate_key $PKI/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    # Go's server picks TLS_AES_128_GCM_SHA256 (with AES-NI); make nginx do
    # the same rather than follow OpenSSL's client order (AES-256 first).
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_prefer_server_ciphers on;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location / {
      proxy_pass http://backend;
    }
  }
}
EOF
} >"$TMP/nginx.conf"

cat >"$TMP/gateway.toml" <<EOF
# Generated by bench/tls.sh.
[server]
listen = "127.0.0.1:$GW_PORT"
shutdown_grace = "2s"
tls_cert = "$PKI/server.pem"
tls_key = "$PKI/server.key"

[admin]
listen = ""

[log]
format = "json"
access = false

[[upstreams]]
name = "bench"
targets = ["http://$UP"]
timeout = "2s"

[[routes]]
path = "$PATH_"
methods = ["GET"]
upstream = "bench"
EOF
"$TMP/cobaltgw" validate -config "$TMP/gateway.toml" >"$TMP/validate.out" 2>&1 ||
	die "the gateway refuses the bench config: $(sed "s|$TMP/||" "$TMP/validate.out")"

# --- processes --------------------------------------------------------------
CURL=(curl -s --cacert "$PKI/ca.pem" -m 2)

log "upstream (nginx return 200) on $UP, cpu $LOAD_CPU"
taskset -c "$LOAD_CPU" nginx -e "$TMP/upstream.error.log" -p "$TMP/ngx-up/" -c "$TMP/upstream.conf" \
	>"$TMP/upstream.out.log" 2>&1 &
PIDS+=($!)
wait_ready "http://$UP/" "$!" upstream "$TMP/upstream.error.log"

log "gateway (TLS) on $GW, cpu $PROXY_CPU, GOMAXPROCS=1"
GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$TMP/cobaltgw" -config "$TMP/gateway.toml" >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_ready "$GW$PATH_" "$GW_PID" gateway "$TMP/gateway.log"

log "nginx proxy (listen ssl) on $NG, cpu $PROXY_CPU, worker_processes 1"
taskset -c "$PROXY_CPU" nginx -e "$TMP/nginx-proxy.error.log" -p "$TMP/ngx-proxy/" -c "$TMP/nginx.conf" \
	>"$TMP/nginx-proxy.out.log" 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
wait_ready "$NG$PATH_" "$NG_PID" "nginx proxy" "$TMP/nginx-proxy.error.log"

# Probes: both answer 200 over a verified chain, close on `Connection: close`,
# and negotiate comparable parameters with an OpenSSL client (as wrk is).
for side in "$GW" "$NG"; do
	c=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$side$PATH_" || true)
	[[ $c == 200 ]] || die "GET $side$PATH_ answered $c, not 200"
	h=$("${CURL[@]}" -o /dev/null -D - -H 'Connection: close' "$side$PATH_" | tr -d '\r' || true)
	grep -qi '^connection: *close' <<<"$h" || die "$side does not answer Connection: close to Connection: close"
done
negotiated() { # PORT → "protocol cipher group"
	openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$PKI/ca.pem" -brief </dev/null 2>&1 |
		awk -F': ' '/^Protocol version/ { p = $2 } /^Ciphersuite/ { c = $2 } /^(Server Temp Key|Negotiated TLS1.3 group)/ { g = $2 }
			/^Signature type/ { s = $2 } END { print p, c, g, s }'
}
NEG_GW=$(negotiated "$GW_PORT")
NEG_NG=$(negotiated "$NG_PORT")

# --- measuring (as in run.sh) -----------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { # PID: user+sys ticks of the process and its direct children
	local t=0 p f
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		read -r -a f <"/proc/$p/stat" || continue
		t=$((t + f[13] + f[14]))
	done
	echo "$t"
}

declare -A M_SCRIPT=([keepalive]="$BENCH_DIR/wrk/report.lua" [handshake]="$BENCH_DIR/tls/close.lua")
RAW="$RESULTS/raw.tsv"
printf 'mode\tside\trps\tp50_us\tp99_us\trequests\tnon2xx\tsock_errors\tproxy_cpu_pct\tproxy_core_busy_pct\tload_core_busy_pct\tproxy_cpu_us_per_req\n' >"$RAW"

run_wrk() { # SIDE BASE MODE DURATION LABEL → path of the output file
	local out="$RESULTS/wrk-$3-$1-$5.txt"
	taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$4" -s "${M_SCRIPT[$3]}" "$2$PATH_" -- get >"$out" 2>&1 || true
	echo "$out"
}

measure() { # MODE SIDE
	local m=$1 side=$2 base pid p0 p1 c0 t0 c1 t1 l0 lt0 l1 lt1 w0 w1 out line kv
	if [[ $side == gw ]]; then base=$GW pid=$GW_PID; else base=$NG pid=$NG_PID; fi
	wait_quiet
	run_wrk "$side" "$base" "$m" "$WARMUP" warmup >/dev/null
	p0=$(proc_ticks "$pid")
	read -r c0 t0 < <(core_ticks "$PROXY_CPU")
	read -r l0 lt0 < <(core_ticks "$LOAD_CPU")
	w0=$(date +%s%N)
	out=$(run_wrk "$side" "$base" "$m" "$DURATION" run)
	w1=$(date +%s%N)
	p1=$(proc_ticks "$pid")
	read -r c1 t1 < <(core_ticks "$PROXY_CPU")
	read -r l1 lt1 < <(core_ticks "$LOAD_CPU")
	line=$(grep -m1 '^WRKRESULT' "$out" || true)
	[[ -n $line ]] || die "wrk printed no result for $m/$side: $(cat "$out")"
	local -A r=()
	for kv in ${line#WRKRESULT }; do r[${kv%%=*}]=${kv#*=}; done
	local sock=$((r[connect] + r[read] + r[write] + r[timeout]))
	awk -v OFS='\t' -v m="$m" -v s="$side" -v rps="${r[rps]}" -v p50="${r[p50_us]}" -v p99="${r[p99_us]}" \
		-v n="${r[requests]}" -v e="${r[non2xx]}" -v sock="$sock" -v d=$((p1 - p0)) -v hz="$CLK_TCK" \
		-v ms=$(((w1 - w0) / 1000000)) -v cb=$((c1 - c0)) -v ct=$((t1 - t0)) -v lb=$((l1 - l0)) -v lt=$((lt1 - lt0)) 'BEGIN {
		print m, s, rps, p50, p99, n, e, sock, sprintf("%.0f", d / hz / (ms / 1000) * 100),
			sprintf("%.0f", ct ? cb / ct * 100 : 0), sprintf("%.0f", lt ? lb / lt * 100 : 0),
			sprintf("%.1f", n ? d / hz * 1e6 / n : 0) }' >>"$RAW"
	log "$(tail -n 1 "$RAW" | awk -F'\t' '{ printf "%s %s: %s req/s p99 %sus non2xx %s sock %s proxy cpu %s%% (%s us/req) cores %s%%/%s%%",
		$1, $2, $3, $5, $7, $8, $9, $12, $10, $11 }')"
}

{
	echo "date: $(date -Is)"
	echo "command: $0 $*"
	echo "DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU"
	echo "cores: $NCPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
	echo "loadavg before: $(cat /proc/loadavg)"
	echo "kernel: $(uname -r)"
	echo "go: $(go version 2>/dev/null || echo n/a)"
	echo "nginx: $(nginx -V 2>&1 | grep -m1 -e 'nginx version') ($(nginx -V 2>&1 | grep -m1 -o 'built with OpenSSL [^ ]*'))"
	echo "openssl: $(openssl version)"
	echo "wrk: $(wrk -v 2>&1 | head -n1)"
	echo "negotiated with openssl s_client (protocol, cipher, group, signature): gw: $NEG_GW | nginx: $NEG_NG"
	echo "gateway commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo n/a) (working tree as built)"
} >"$RESULTS/env.txt"

for m in keepalive handshake; do
	for side in gw ng; do measure "$m" "$side"; done
done
echo "loadavg after: $(cat /proc/loadavg)" >>"$RESULTS/env.txt"

# --- table ------------------------------------------------------------------
row() { awk -F'\t' -v m="$1" -v s="$2" '$1 == m && $2 == s' "$RAW"; }
{
	printf '%-10s %11s %9s %11s %9s %8s  %-21s %-13s %s\n' mode "gw req/s" "gw p99" "nginx req/s" "nginx p99" \
		"gw/nginx" "cpu us/req gw|nginx" "cpu gw|nginx" "errors gw|nginx (non2xx/sock)"
	for m in keepalive handshake; do
		IFS=$'\t' read -r -a g < <(row "$m" gw)
		IFS=$'\t' read -r -a n < <(row "$m" ng)
		awk -v m="$m" -v grps="${g[2]}" -v gp99="${g[4]}" -v nrps="${n[2]}" -v np99="${n[4]}" \
			-v cpureq="${g[11]} | ${n[11]}" -v cpu="${g[8]}% | ${n[8]}%" -v err="${g[6]}/${g[7]} | ${n[6]}/${n[7]}" 'BEGIN {
			printf "%-10s %11.0f %7.2fms %11.0f %7.2fms %8.2f  %-21s %-13s %s\n", m, grps, gp99 / 1000, nrps, np99 / 1000,
				(nrps > 0 ? grps / nrps : 0), cpureq, cpu, err }'
	done
	echo
	echo "DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS; proxies on cpu $PROXY_CPU" \
		"(gateway GOMAXPROCS=1, nginx worker_processes 1), upstream (nginx return 200, plain http) + wrk on cpu $LOAD_CPU"
	echo "  certificate: throwaway ECDSA P-256 leaf (SAN 127.0.0.1) signed by a throwaway P-256 CA, same files for both"
	echo "  negotiated (openssl s_client): gw: $NEG_GW | nginx: $NEG_NG"
	echo "  keepalive: GET $PATH_ over $CONNECTIONS kept-alive TLS connections"
	echo "  handshake: same GET with Connection: close: one new connection and full handshake per request, so req/s = handshakes/s"
	echo "  cpu: the proxy's own CPU over the run (100% = its core saturated); cpu us/req: its CPU per request (user+sys)"
	echo "  errors: non2xx = responses >= 400, sock = connect+read+write+timeout errors"
	echo "  raw rows (incl. per-core busy %): $RAW"
} | tee "$RESULTS/summary.txt"
