-- wrk script: POST /v1/batch with 100 track events per request, each with a unique messageId.
-- Usage: WRITE_KEY=... wrk -s bench/batch.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
local counter = 0

function init(args)
   common.init("/v1/batch")
end

function request()
   local items = {}
   for i = 1, 100 do
      counter = counter + 1
      items[i] = common.track_event(counter, '"type":"track",')
   end
   return wrk.format(nil, nil, nil, '{"batch":[' .. table.concat(items, ",") .. ']}')
end
