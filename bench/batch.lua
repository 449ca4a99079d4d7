-- wrk script: POST /v1/batch with 100 track events per request (bench/events/track.json, as
-- cdp-analytics-node batches them), each with a unique messageId.
-- Usage: WRITE_KEY=... BENCH_DIR=bench wrk -s bench/batch.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
local template = common.template("track")
local counter = 0

function init(args)
   common.init("POST", "/v1/batch")
end

function request()
   local items = {}
   for i = 1, 100 do
      counter = counter + 1
      items[i] = common.render(template, common.values(counter, common.existing_person()))
   end
   return wrk.format(nil, nil, nil, '{"batch":[' .. table.concat(items, ",") .. ']}')
end

done = common.done
