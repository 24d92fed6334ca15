-- wrk (4.x, LuaJIT) script for bench/proxy-wrk.ts: requests at a fixed total rate, spread evenly in
-- time over all of a thread's connections, latency reported in microseconds as one JSON line.
--
--   wrk -t THREADS -c16 -d5s -s bench/wrk-paced.lua URL -- RATE THREADS
--
-- Pacing: wrk calls delay() before each request of a connection (after its previous answer, and
-- before its first); the delay is in whole milliseconds. Each call takes the next free slot of an
-- absolute schedule, one slot every 1/RATE s (RATE divided among the threads), and waits until it:
-- rounding does not accumulate, so the achieved rate is RATE as long as a free connection exists at
-- each slot. A thread that falls more than 50 ms behind its schedule (a stall) restarts it from now
-- rather than sending the missed requests in a burst: those requests are lost, and the achieved
-- rate in the report says so. wrk measures latency from writing a request to its answer's end, so
-- the delay is not in it (and, as in wrk 4 generally, neither is time a request waited for its slot).
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } gf_timespec;
int clock_gettime(int clk, gf_timespec *tp);
]])
local ts = ffi.new("gf_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval = 1
local nextSlot = nil
function init(args)
  local rate = tonumber(args[1]) or 1000
  local n = tonumber(args[2]) or 1
  interval = 1000 * n / rate
end

function delay()
  local t = now_ms()
  if nextSlot == nil or nextSlot < t - 50 then
    nextSlot = t
  end
  local wait = nextSlot - t
  nextSlot = nextSlot + interval
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latencyUs":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)
  ))
end
