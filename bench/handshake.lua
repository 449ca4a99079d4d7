-- wrk script: GET /healthz on a new connection each time: "Connection: close" makes trackd
-- close the connection once it has answered, and wrk opens another. Over HTTPS every call then
-- pays a whole TLS handshake (trackd resumes no session). wrk's latency runs from the request's
-- first byte, so the handshake shows in the rate, not in the answer times.
-- Usage: BENCH_DIR=bench wrk -s bench/handshake.lua https://127.0.0.1:8080
local common = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/healthz"
wrk.headers["Connection"] = "close"
done = common.done
