-- wrk script: identify-heavy traffic, POST /v1/identify with traits (bench/events/identify.json):
-- every other call identifies a new person (a user id never seen before), the others update one
-- of the existing people, drawn at random (a new value for "visits" each time, so every call
-- writes).
-- Usage: WRITE_KEY=... BENCH_DIR=bench wrk -s bench/identify.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
local template = common.template("identify")
local counter = 0

function init(args)
   common.init("POST", "/v1/identify")
end

function request()
   counter = counter + 1
   local person
   if counter % 2 == 1 then
      person = "new-" .. common.prefix .. "-" .. counter
   else
      person = common.existing_person()
   end
   return wrk.format(nil, nil, nil, common.render(template, common.values(counter, person)))
end

done = common.done
