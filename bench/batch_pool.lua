-- wrk script: POST /v1/batch as batch.lua sends it (100 track events, Basic write key,
-- application/json), the bodies taken from a pool that bench/run.sh wrote before the run (see
-- common.lua), gzip'd (Content-Encoding: gzip) when BENCH_CONTENT_ENCODING is "gzip".
-- Usage: WRITE_KEY=... BENCH_POOL=/tmp/.../pool-batch_gzip BENCH_CONTENT_ENCODING=gzip \
--        BENCH_DIR=bench wrk -s bench/batch_pool.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

setup = common.pool_setup

function init(args)
   common.init("POST", "/v1/batch")
   local encoding = os.getenv("BENCH_CONTENT_ENCODING") or ""
   if encoding ~= "" then
      wrk.headers["Content-Encoding"] = encoding
   end
   common.pool_load(function(body) return wrk.format(nil, nil, nil, body) end)
end

request = common.pool_request
done = common.pool_done
