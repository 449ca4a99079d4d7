-- wrk script: single-event POST /v1/track (bench/events/track.json) with a unique messageId per
-- request, for existing people drawn at random.
-- Usage: WRITE_KEY=... BENCH_DIR=bench wrk -s bench/track.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
local template = common.template("track")
local counter = 0

function init(args)
   common.init("POST", "/v1/track")
end

function request()
   counter = counter + 1
   local values = common.values(counter, common.existing_person())
   return wrk.format(nil, nil, nil, common.render(template, values))
end

done = common.done
