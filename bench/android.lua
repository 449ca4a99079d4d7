-- wrk script: a batch upload as Customer.io's Android SDK makes it (through Segment's
-- analytics-kotlin: HTTPClient.kt): POST /v1/b, Content-Type: text/plain, the body gzip'd and
-- sent chunked (HttpURLConnection's setChunkedStreamingMode(0); 1 KB chunks here), no
-- Authorization header: the write key is the body's "writeKey", beside "batch" and "sentAt".
-- Run it against trackd's https:// URL. The bodies come from a pool that bench/run.sh generated
-- before the run (see common.lua).
-- Usage: BENCH_POOL=/tmp/.../pool-android BENCH_DIR=bench \
--        wrk -s bench/android.lua https://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

local chunk_size = 1024

-- The body in chunked transfer coding: each chunk's length in hex, then the last, empty one.
local function chunked(body)
   local out = {}
   for i = 1, #body, chunk_size do
      local chunk = body:sub(i, i + chunk_size - 1)
      out[#out + 1] = string.format("%x\r\n%s\r\n", #chunk, chunk)
   end
   out[#out + 1] = "0\r\n\r\n"
   return table.concat(out)
end

setup = common.pool_setup

function init(args)
   -- Written out whole: wrk.format would add a Content-Length, which a chunked request has not.
   local head = table.concat({
      "POST /v1/b HTTP/1.1",
      "Host: " .. wrk.headers["Host"],
      "Content-Type: text/plain",
      "Content-Encoding: gzip",
      "Transfer-Encoding: chunked",
      "Accept-Encoding: gzip",
      "", ""}, "\r\n")
   common.pool_load(function(body) return head .. chunked(body) end)
end

request = common.pool_request
done = common.pool_done
