-- wrk script for the full-handshake run of bench/tls.sh: every request says
-- `Connection: close`, both proxies answer with Connection: close and close
-- the socket, and wrk opens a new one (a full TLS handshake, since wrk never
-- offers a session for resumption) for the next request. So req/s here is
-- handshakes/s, each followed by one proxied GET.
--
--   wrk ... -s close.lua https://HOST:PORT/path
--
-- done() prints the same WRKRESULT line as ../wrk/report.lua.

function init(args)
  wrk.headers["Connection"] = "close"
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRKRESULT rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests / secs, latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
end
