-- wrk script for the static scenarios (GET, plain POST). wrk builds the
-- request once per thread after init(), so the load generator pays nothing
-- per request here.
--
--   wrk ... -s report.lua URL -- get
--   wrk ... -s report.lua URL -- post
--
-- done() prints one machine-readable line that run.sh parses:
--   WRKRESULT rps=… p50_us=… p99_us=… requests=… non2xx=… connect=… read=… write=… timeout=…
-- non2xx is wrk's errors.status: responses with a status above 399.

local body = '{"name":"bench","size":1}'

function init(args)
  if args[1] == "post" then
    wrk.method = "POST"
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRKRESULT rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests / secs, latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
end
