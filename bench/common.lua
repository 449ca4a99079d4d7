-- Shared by the wrk scripts: authentication, the event templates of bench/events/, unique ids,
-- and the one result line that bench/run.sh parses.
--
-- A template is a JSON file written over several lines for reading; a newline and the blanks
-- after it are removed, so what is sent is compact JSON, as the SDKs send it. Placeholders:
--   {{timestamp}}   now, ISO-8601 UTC (Pipelines)      {{unix}}  now, unix seconds (Track v1)
--   {{message_id}}  unique per event, shaped like cdp-analytics-node's "node-next-<ms>-<id>"
--   {{user_id}}     the person the script chose      {{n}}     the event's number in its thread
-- bench/loadgen.c fills the same templates with the same rules.
local M = {}

-- Existing people are user-0 .. user-(people - 1): the first scenario creates them.
M.people = 5000

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Base64 for the Authorization header (wrk's Lua has no library for it).
function M.base64(data)
   local out = {}
   for i = 1, #data, 3 do
      local a, b, c = data:byte(i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local chars = {}
      for k = 3, 0, -1 do
         local index = math.floor(n / 64 ^ k) % 64
         chars[#chars + 1] = alphabet:sub(index + 1, index + 1)
      end
      if not b then chars[3], chars[4] = "=", "=" elseif not c then chars[4] = "=" end
      out[#out + 1] = table.concat(chars)
   end
   return table.concat(out)
end

-- 16 hex digits from the kernel's generator: wrk starts its threads within the same
-- microsecond, so anything derived from the clock could give two threads the same ids (and a
-- repeated messageId is answered 2xx but not stored, which the script would report as a loss).
local function random_bytes(count)
   local f = assert(io.open("/dev/urandom", "rb"))
   local bytes = f:read(count)
   f:close()
   return bytes
end

local function random_prefix()
   return (random_bytes(8):gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- Reads bench/events/NAME.json into a list: odd entries literal text, even entries placeholder
-- names.
function M.template(name)
   local path = (os.getenv("BENCH_DIR") or "bench") .. "/events/" .. name .. ".json"
   local f = assert(io.open(path, "r"))
   local text = f:read("*a"):gsub("\n%s*", "")
   f:close()
   local parts, pos = {}, 1
   while true do
      local first, last, key = text:find("{{([%w_]+)}}", pos)
      if not first then break end
      parts[#parts + 1] = text:sub(pos, first - 1)
      parts[#parts + 1] = key
      pos = last + 1
   end
   parts[#parts + 1] = text:sub(pos)
   return parts
end

-- Fills a template: `values` maps each placeholder name to its text.
function M.render(parts, values)
   local out = {}
   for i = 1, #parts do
      if i % 2 == 1 then
         out[i] = parts[i]
      else
         out[i] = values[parts[i]] or error("no value for {{" .. parts[i] .. "}}")
      end
   end
   return table.concat(out)
end

-- Sets method, path and headers. `credentials` is "user:password" (default: the Pipelines
-- write key and an empty password).
function M.init(method, path, credentials)
   wrk.method = method
   wrk.path = path
   wrk.headers["Content-Type"] = "application/json"
   credentials = credentials or ((os.getenv("WRITE_KEY") or "") .. ":")
   wrk.headers["Authorization"] = "Basic " .. M.base64(credentials)
   M.prefix = random_prefix()
   local a, b, c = random_bytes(3):byte(1, 3)
   math.randomseed(a * 65536 + b * 256 + c)
end

-- The time placeholders, recomputed once a second (os.date per request would cost wrk CPU that
-- the server needs: they share the machine). The "now" of every event is the real time, so each
-- one is eligible to trigger rules (SPEC §5: within 72 hours).
local now_second, now_iso
local function clock()
   local t = os.time()
   if t ~= now_second then
      now_second = t
      now_iso = os.date("!%Y-%m-%dT%H:%M:%S.000Z", t)
   end
   return now_second, now_iso
end

-- The placeholder values of event number `n` of this thread, for person `user_id`.
function M.values(n, user_id)
   local t, iso = clock()
   return {
      timestamp = iso,
      unix = string.format("%d", t),
      message_id = string.format("node-next-%d000-%s-%d", t, M.prefix, n),
      user_id = user_id,
      n = string.format("%d", n),
   }
end

-- An existing person, drawn at random for each event as independent clients would send them.
-- (Walking the people in order made wrk's two threads update the same person at the same
-- moment, all run long: contention no real traffic has.)
function M.existing_person()
   return "user-" .. math.random(0, M.people - 1)
end

-- wrk calls done() once at the end with the totals of all threads; this line is what
-- bench/run.sh reads (wrk's own report stays above it for people). Times in milliseconds.
-- non2xx counts answers with status >= 400 (wrk's count); errors counts connect, read and write
-- errors and timeouts, which have no status. `extra`, if given, is appended ("name=value ...").
function M.done(summary, latency, requests, extra)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d seconds=%.3f non2xx=%d errors=%d " ..
      "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f%s\n",
      summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency:percentile(99.9) / 1000, latency.max / 1000, extra and (" " .. extra) or ""))
end

-- Body pools: request bodies written before the run (bench/lib.sh's body_pool), for what wrk's
-- Lua cannot make itself, such as gzip, or should not make while measuring (a body of 100
-- events costs wrk's Lua more CPU than its plain upload costs trackd). BENCH_POOL names the
-- pool: BENCH_POOL.bin holds the bodies one after the other, BENCH_POOL.idx has one
-- "offset length" line for each. Every body holds events with message ids of their own, so
-- none may be sent twice: wrk's threads (BENCH_THREADS) take every BENCH_THREADS-th body each,
-- and a thread that has sent all of its share sends a request that trackd refuses instead
-- (counted as non2xx), and says so in done(). The pool scripts define setup(), init(),
-- request() and done() with these functions.
local pool_threads = {}

-- setup(thread) of a pool script: numbers the threads (wrk calls setup, then that thread's
-- init, one thread after the other).
function M.pool_setup(thread)
   pool_threads[#pool_threads + 1] = thread
   thread:set("pool_thread", #pool_threads - 1)
end

-- In a thread's init(): reads this thread's share of the pool (in binary) and turns each body
-- into a whole request with make_request(body) (wrk.format, say). All of it before wrk starts
-- its clock: request() only hands out what is ready.
function M.pool_load(make_request)
   local started = os.clock()
   local name = assert(os.getenv("BENCH_POOL"), "BENCH_POOL is not set")
   local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
   local f = assert(io.open(name .. ".bin", "rb"))
   local requests, index = {}, 0
   for line in io.lines(name .. ".idx") do
      local offset, length = line:match("^(%d+) (%d+)$")
      if index % threads == pool_thread then
         f:seek("set", tonumber(offset))
         local body = f:read(tonumber(length))
         assert(body and #body == tonumber(length), name .. ".bin is shorter than its index")
         requests[#requests + 1] = make_request(body)
      end
      index = index + 1
   end
   f:close()
   pool_bodies, pool_sent, pool_overrun = index, 0, 0
   -- wrk's CPU time reading it (the threads' init() run one after the other, before the load).
   pool_load_seconds = os.clock() - started
   M.pool_requests = requests
   M.pool_exhausted = wrk.format("GET", "/bench-pool-exhausted")
end

-- request() of a pool script: the next body of this thread's share.
function M.pool_request()
   pool_sent = pool_sent + 1
   local request = M.pool_requests[pool_sent]
   if request == nil then
      pool_overrun = pool_overrun + 1
      return M.pool_exhausted
   end
   return request
end

-- done() of a pool script: the result line, with the pool's size, the requests its threads
-- asked for, how many of those found their share spent (pool_overrun, 0 if all went well), and
-- the CPU time wrk spent reading the pool (load_cpu_s: bench/lib.sh's run_wrk deducts it).
function M.pool_done(summary, latency, requests)
   local sent, overrun, bodies, load = 0, 0, 0, 0
   for _, thread in ipairs(pool_threads) do
      sent = sent + thread:get("pool_sent")
      overrun = overrun + thread:get("pool_overrun")
      bodies = thread:get("pool_bodies")
      load = load + thread:get("pool_load_seconds")
   end
   M.done(summary, latency, requests,
      string.format("pool_bodies=%d pool_sent=%d pool_overrun=%d load_cpu_s=%.3f",
         bodies, sent, overrun, load))
end

return M
