-- Print wrk's totals as one JSON line, with latencies in microseconds, for bench/load.ts.
-- For a row with one user, only a done() hook: a request() hook would slow wrk down.
-- A row with many users (bench/crowd.ts) names a file of Cookie header values in
-- BENCH_WRK_COOKIES: every request then carries the next one in turn, from requests
-- formatted once here. wrk looks for request() right after loading this script, in every
-- thread and once more to check the request, so all of it happens at load, not in init().

local cookies = os.getenv("BENCH_WRK_COOKIES")
if cookies and cookies ~= "" then
  local base = {}
  for name, value in pairs(wrk.headers) do
    if string.lower(name) ~= "cookie" then base[name] = value end
  end
  local requests, count = {}, 0
  for line in io.lines(cookies) do
    if line ~= "" then
      local headers = { Cookie = line }
      for name, value in pairs(base) do headers[name] = value end
      count = count + 1
      requests[count] = wrk.format(nil, nil, headers)
    end
  end
  if count == 0 then error("no Cookie header values in " .. cookies) end
  local next_index = 0
  request = function()
    next_index = next_index % count + 1
    return requests[next_index]
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
