-- wrk script of `make bench-api` (bench/api_bench.py): random requests over the city, the API key
-- from the environment (never on a command line), an optional pause per connection to hold a rate.
-- BENCH_MODE: nearby | driver; BENCH_BOX: south,west,north,east; BENCH_DRIVERS: ids 0..n-1 of
-- bench-api-%012d; BENCH_DELAY_MS: pause between a response and the connection's next request.
local key = os.getenv("RASTRO_API_KEY")
local mode = os.getenv("BENCH_MODE") or "nearby"
local drivers = tonumber(os.getenv("BENCH_DRIVERS") or "100000")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local box = {}
for v in string.gmatch(os.getenv("BENCH_BOX") or "-23.68,-46.78,-23.45,-46.51", "[^,]+") do
  box[#box + 1] = tonumber(v)
end
local headers = {["Authorization"] = "Bearer " .. key}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  local path
  if mode == "nearby" then
    path = string.format("/v1/drivers/nearby?lat=%.6f&lon=%.6f&radius_m=2000&limit=10",
      box[1] + math.random() * (box[3] - box[1]), box[2] + math.random() * (box[4] - box[2]))
  else
    path = string.format("/v1/drivers/bench-api-%012d", math.random(0, drivers - 1))
  end
  return wrk.format("GET", path, headers)
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_s": %.3f, "connect_errors": %d, "read_errors": %d, '
    .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, '
    .. '"max_ms": %.3f}\n', summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
