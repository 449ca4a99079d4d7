-- wrk script: single-event POST /v1/track with a unique messageId per request.
-- Usage: WRITE_KEY=... wrk -s bench/track.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
local counter = 0

function init(args)
   common.init("/v1/track")
end

function request()
   counter = counter + 1
   return wrk.format(nil, nil, nil, common.track_event(counter))
end
