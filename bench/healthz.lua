-- wrk script: GET /healthz, the HTTP ceiling (what trackd answers when it does no work).
-- Usage: BENCH_DIR=bench wrk -s bench/healthz.lua http://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/healthz"
done = common.done
