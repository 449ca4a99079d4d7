-- wrk script: Track API v1 POST /api/v1/customers/{id}/events (bench/events/track_v1.json, as
-- customerio-node's track() sends it) with a unique id per event, for the existing people.
-- Usage: SITE_ID=... API_KEY=... BENCH_DIR=bench wrk -s bench/track_v1.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
local template = common.template("track_v1")
local counter = 0

function init(args)
   common.init("POST", "/", (os.getenv("SITE_ID") or "") .. ":" .. (os.getenv("API_KEY") or ""))
end

function request()
   counter = counter + 1
   local person = common.existing_person()
   local body = common.render(template, common.values(counter, person))
   return wrk.format(nil, "/api/v1/customers/" .. person .. "/events", nil, body)
end

done = common.done
