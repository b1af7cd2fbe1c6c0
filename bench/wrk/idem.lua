-- wrk script for the idempotency scenario: a JSON POST carrying a fresh
-- Idempotency-Key on every request, so the gateway claims and records a new
-- key each time (never a 409). Keys are "<prefix>-<thread>-<counter>"; run.sh
-- passes a prefix unique to each wrk run, since the gateway remembers keys
-- for [idempotency] ttl across runs against the same process.
--
--   wrk ... -s idem.lua URL -- <prefix>
--
-- The request is built per request (request() is defined), which costs wrk
-- some CPU; both proxies are driven by this same script, so the cost is equal.
-- done() prints the same WRKRESULT line as report.lua.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local prefix, counter, headers
local body = '{"name":"bench","size":1}'

function init(args)
  prefix = (args[1] or "bench") .. "-" .. tostring(tid)
  counter = 0
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRKRESULT rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests / secs, latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
end
