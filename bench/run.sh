#!/usr/bin/env bash
# The benchmark suite (`make bench`): starts its own PostgreSQL (with fsync on, as in production)
# and trackd, drives them with wrk, and prints one table of events/s, answer times and ratios to
# the HTTP ceiling measured in the same run (wrk on trackd's own /healthz). Machines differ and
# are noisy: compare ratios, not absolute numbers.
#
# Settings: BENCH_DURATION (default 10s per scenario), BENCH_CONNECTIONS (default 64).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-64}
port=${BENCH_PORT:-18080}

scripts/deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTRACKD_WERROR=OFF >/dev/null
cmake --build build-bench -j2 --target trackd >/dev/null

work=$(mktemp -d /tmp/trackd-bench.XXXXXX)
chmod 711 "$work"
trackd_pid=
cleanup() {
    [ -n "$trackd_pid" ] && kill "$trackd_pid" 2>/dev/null && wait "$trackd_pid" 2>/dev/null
    scripts/pg.sh destroy "$work" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

scripts/pg.sh start "$work" >/dev/null
export DATABASE_URL
DATABASE_URL=$(scripts/pg.sh url "$work")
build-bench/trackd migrate >/dev/null
WRITE_KEY=$(build-bench/trackd workspace create bench | sed -E 's/.*"write_key":"([^"]+)".*/\1/')
export WRITE_KEY BENCH_DIR="$root/bench"

TRACKD_LOG_LEVEL=warn TRACKD_LISTEN="127.0.0.1:$port" build-bench/trackd serve \
    2>"$work/trackd.log" &
trackd_pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done

# run_wrk NAME SCRIPT CONNECTIONS: runs wrk and leaves its report in $work/NAME.txt
run_wrk() {
    local name=$1 script=$2 conns=$3 args=()
    [ -n "$script" ] && args=(-s "$root/bench/$script")
    wrk -t2 -c"$conns" -d"$duration" --latency "${args[@]}" "http://127.0.0.1:$port/healthz" \
        >"$work/$name.txt"
}

# field FILE: prints requests/s, p50 ms, p99 ms, non-2xx count
field() {
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                         if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { bad = $5 }
        END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad }' "$1"
}

run_wrk healthz "" "$connections"
run_wrk track track.lua "$connections"
run_wrk batch batch.lua 16

read -r ceiling h50 h99 hbad < <(field "$work/healthz.txt")
read -r track_rps t50 t99 tbad < <(field "$work/track.txt")
read -r batch_rps b50 b99 bbad < <(field "$work/batch.txt")
batch_events=$((batch_rps * 100))
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$trackd_pid/status")
stored=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM events")

printf '\ntrackd benchmark: %s per scenario, %s connections, %s cores\n\n' \
    "$duration" "$connections" "$(nproc)"
printf '%-34s %12s %9s %9s %8s %10s\n' scenario events/s p50_ms p99_ms non2xx ratio
printf '%-34s %12s %9s %9s %8s %10s\n' "GET /healthz (HTTP ceiling)" "$ceiling" "$h50" "$h99" \
    "$hbad" "1.00"
printf '%-34s %12s %9s %9s %8s %10s\n' "POST /v1/track, 1 event" "$track_rps" "$t50" "$t99" \
    "$tbad" "$(awk -v a="$track_rps" -v b="$ceiling" 'BEGIN { printf "%.2f", a / b }')"
printf '%-34s %12s %9s %9s %8s %10s\n' "POST /v1/batch, 100 events (16 c)" "$batch_events" \
    "$b50" "$b99" "$bbad" "$(awk -v a="$batch_events" -v b="$ceiling" 'BEGIN { printf "%.2f", a / b }')"
printf '\ntrackd peak resident memory: %d MB; events stored: %s\n' $((rss_kb / 1024)) "$stored"
