#!/usr/bin/env bash
# bench/request_cost.sh — what one HTTP call costs trackd, counted rather than timed, so that a
# change to the HTTP layer can be judged on a noisy machine: the instructions trackd runs per
# call (callgrind, user space only) and the system calls it makes per call (strace), for
# GET /healthz and for a single-event POST /v1/track. The counts are repeatable within a few
# percent where timings on a shared 2-core machine move by 20 %.
#
#   bench/request_cost.sh
#
# Settings: REQUEST_COST_SECONDS (per call type, default 10); REQUEST_COST_KEEP, a directory to
# keep callgrind's profiles in (one per call type, after the idle one: callgrind_annotate).
#
# The database behind trackd is real (scripts/pg.sh) and every call is committed, but only
# trackd is measured. System calls depend on how calls overlap (a group commit resumes many
# suspended calls with one write; strace slows trackd and so changes the overlap): read them
# as a profile, and compare instruction counts between changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

seconds=${REQUEST_COST_SECONDS:-10}
duration=${seconds}s
connections=8
port=18090
while listening_on() { (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; } && listening_on $port; do
    port=$((port + 2))
done

scripts/deps.sh --with-profilers
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTRACKD_WERROR=OFF >/dev/null
cmake --build build-bench -j2 --target trackd >/dev/null

work=$(mktemp -d /tmp/trackd-cost.XXXXXX)
chmod 711 "$work"
trap cleanup EXIT
scripts/pg.sh start "$work" >/dev/null
DATABASE_URL=$(scripts/pg.sh url "$work")
export DATABASE_URL
build-bench/trackd migrate >/dev/null
workspace=$(build-bench/trackd workspace create cost)
WRITE_KEY=$(sed -E 's/.*"write_key":"([^"]+)".*/\1/' <<<"$workspace")
export WRITE_KEY BENCH_DIR="$root/bench" BENCH_THREADS=1
trackd_env=(TRACKD_LOG_LEVEL=warn TRACKD_LISTEN="127.0.0.1:$port"
    TRACKD_MAX_CONNECTIONS_PER_ADDRESS=0 TRACKD_MAX_UPLOADS_PER_ADDRESS=0
    TRACKD_DELIVERY_WORKERS=0)
trackd_url=http://127.0.0.1:$port

# The people bench/track.lua sends events for.
for ((from = 0; from < 5000; from += 500)); do
    sql -c "INSERT INTO people (workspace_id, cio_id, customer_id)
            SELECT w.id, 'user-' || i, 'user-' || i FROM workspaces w, generate_series($from, $from + 499) i
            WHERE w.name = 'cost'"
done

# requests SCRIPT: runs bench/SCRIPT with wrk for $duration; prints how many calls were answered.
requests() {
    wrk -t1 -c"$connections" -d"$duration" -s "$root/bench/$1" "$trackd_url" >"$work/wrk.out" 2>&1
    sed -nE 's/^BENCH .*requests=([0-9]+).*/\1/p' "$work/wrk.out"
}

# instructions_during COMMAND...: trackd's user-space instructions while COMMAND runs; COMMAND's
# output is kept in $work/during.out.
instructions_during() {
    callgrind_control -z "$trackd_pid" >/dev/null 2>&1
    "$@" >"$work/during.out"
    callgrind_control -d "$trackd_pid" >/dev/null 2>&1
    sleep 1
    cat "$work"/callgrind.out.*.* | awk '/^summary:/ { s += $2 } END { print s + 0 }'
    if [[ -n ${REQUEST_COST_KEEP:-} ]]; then
        mkdir -p "$REQUEST_COST_KEEP"
        cp "$work"/callgrind.out.*.* "$REQUEST_COST_KEEP/"
    fi
    rm -f "$work"/callgrind.out.*.*
}

# instructions_per_call SCRIPT: trackd's user-space instructions per call of SCRIPT, less what
# trackd runs in the same time with no calls ($idle_ir: its evaluator, purge and pool timers).
instructions_per_call() {
    local total
    total=$(instructions_during requests "$1")
    calc 'sprintf("%.0f", (t - i) / c)' t="$total" i="$idle_ir" c="$(cat "$work/during.out")"
}

# syscalls_per_call SCRIPT: trackd's system calls per call of SCRIPT, the most frequent first.
syscalls_per_call() {
    local calls
    strace -f -c -o "$work/strace.out" -p "$trackd_pid" 2>/dev/null &
    local strace_pid=$!
    sleep 1
    calls=$(requests "$1")
    kill -INT "$strace_pid"
    wait "$strace_pid" 2>/dev/null || true
    awk -v calls="$calls" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
            name = $NF; n = $4; per = n / calls
            if (name == "total") next
            if (per >= 0.05) printf "%s %.2f\n", name, per; total += per
        }
        END { printf "total %.2f\n", total }' "$work/strace.out" | sort -k2 -nr |
        awk '{ printf "%s %s, ", $1, $2 } END { print "" }'
}

log "callgrind: trackd under valgrind, $connections connections, $duration per call type"
env "${trackd_env[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" \
    --dump-instr=no --collect-atstart=yes "$root/build-bench/trackd" serve \
    2>>"$work/trackd.log" &
trackd_pid=$!
track_pid "$trackd_pid"
for _ in $(seq 600); do
    curl -sf -o /dev/null "$trackd_url/healthz" && break
    sleep 0.1
done
idle_ir=$(instructions_during sleep "$seconds")
healthz_ir=$(instructions_per_call healthz.lua)
track_ir=$(instructions_per_call track.lua)
stop_pid "$trackd_pid"

log "strace: trackd alone"
env "${trackd_env[@]}" "$root/build-bench/trackd" serve 2>>"$work/trackd.log" &
trackd_pid=$!
track_pid "$trackd_pid"
wait_http "$trackd_url/healthz" || fail "trackd did not start: $(tail -n 3 "$work/trackd.log")"
healthz_sys=$(syscalls_per_call healthz.lua)
track_sys=$(syscalls_per_call track.lua)
stop_pid "$trackd_pid"

printf 'trackd per call, commit %s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
printf '  GET /healthz   %10s instructions; system calls: %s\n' "$healthz_ir" "$healthz_sys"
printf '  POST /v1/track %10s instructions; system calls: %s\n' "$track_ir" "$track_sys"
