-- wrk script for bench/failover.sh with STATUS=on: report.lua's summary line
-- plus a count of responses per status code, so the non-2xx of a failover
-- run can be told apart (502 upstream reset vs 503 no target, ...).
-- response() makes wrk call Lua for every response (a few % of wrk's own
-- CPU), so failover.sh uses it only when asked.
--
--   wrk ... -s failover.lua URL
--
-- done() prints:
--   WRKRESULT rps=… p50_us=… p99_us=… requests=… non2xx=… connect=… read=… write=… timeout=…
--   WRKSTATUS 200=… 502=… …

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRKRESULT rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests / secs, latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
  local total, codes = {}, {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do
      if not total[code] then table.insert(codes, code) end
      total[code] = (total[code] or 0) + n
    end
  end
  table.sort(codes)
  local parts = {}
  for _, code in ipairs(codes) do table.insert(parts, code .. "=" .. total[code]) end
  io.write("WRKSTATUS " .. table.concat(parts, " ") .. "\n")
end
