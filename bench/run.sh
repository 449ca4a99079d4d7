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
cmake --build build-bench -j2 --target trackd bench_receiver >/dev/null

work=$(mktemp -d /tmp/trackd-bench.XXXXXX)
chmod 711 "$work"
trackd_pid=
worker_pid=
receiver_pid=
cleanup() {
    for pid in $trackd_pid $worker_pid $receiver_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
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

# --- 100 rules: every event of the single-event load is a candidate of 100 rules (none matches,
# so all are evaluated in full and nothing is sent).
mkdir -p "$work/rules"
for i in $(seq 1 100); do
    cat >"$work/rules/rule-$i.json" <<RULE
{"name": "bench-rule-$i", "trigger": {"event": "Order Completed"},
 "conditions": [{"field": "event.price", "op": "gt", "value": $((1000 + i))},
                {"field": "person.plan", "op": "eq", "value": "never"}],
 "action": {"type": "webhook", "url": "http://127.0.0.1:9/unused", "body": {"n": $i}}}
RULE
done
build-bench/trackd rules load --workspace bench "$work/rules" >/dev/null
sleep 1.5 # the evaluator notices new rules within its idle wait
rules_start=$(date +%s.%N)
run_wrk track_rules track.lua "$connections"
# Evaluation runs apart from ingest: wait for the queue to drain, bounded.
for _ in $(seq 600); do
    [ "$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM pending_evaluations")" = 0 ] && break
    sleep 0.1
done
rules_end=$(date +%s.%N)
evaluated=$(psql "$DATABASE_URL" -Atc \
    "SELECT count(*) FROM events e JOIN rules r ON r.trigger_event = e.name AND r.name = 'bench-rule-1'
     WHERE e.received_at >= to_timestamp($rules_start)")
left=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM pending_evaluations")

# --- deliveries: webhooks to a local receiver, sent by one trackd worker process.
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$trackd_pid/status")
kill "$trackd_pid" && wait "$trackd_pid" 2>/dev/null
trackd_pid=
receiver_port=$((port + 1))
build-bench/bench_receiver "$receiver_port" >"$work/receiver.out" &
receiver_pid=$!
deliveries=${BENCH_DELIVERIES:-20000}
psql "$DATABASE_URL" -q <<SQL
WITH rule AS (SELECT id, workspace_id FROM rules WHERE name = 'bench-rule-1'),
fired AS (
    INSERT INTO firings (workspace_id, rule_id, event_id)
    SELECT rule.workspace_id, rule.id, -g FROM rule, generate_series(1, $deliveries) g
    RETURNING id, workspace_id, rule_id)
INSERT INTO deliveries (workspace_id, rule_id, firing_id, action, next_attempt_at)
SELECT workspace_id, rule_id, id,
       jsonb_build_object('type', 'webhook', 'url', 'http://127.0.0.1:$receiver_port/hook',
                          'method', 'POST', 'body', jsonb_build_object('n', id)),
       now()
FROM fired;
ANALYZE deliveries;
SQL
delivery_start=$(date +%s.%N)
TRACKD_LOG_LEVEL=warn TRACKD_DELIVERY_WORKERS=2 TRACKD_DELIVERY_CONCURRENCY=64 \
    build-bench/trackd worker 2>"$work/worker.log" &
worker_pid=$!
for _ in $(seq 1200); do
    [ "$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM deliveries WHERE status IN ('scheduled', 'retrying')")" = 0 ] && break
    sleep 0.1
done
delivery_end=$(date +%s.%N)
sent=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM deliveries WHERE status = 'sent'")
kill "$worker_pid" && wait "$worker_pid" 2>/dev/null
kill "$receiver_pid" && wait "$receiver_pid" 2>/dev/null

read -r ceiling h50 h99 hbad < <(field "$work/healthz.txt")
read -r track_rps t50 t99 tbad < <(field "$work/track.txt")
read -r batch_rps b50 b99 bbad < <(field "$work/batch.txt")
read -r rules_rps r50 r99 rbad < <(field "$work/track_rules.txt")
eval_rate=$(awk -v n="$evaluated" -v a="$rules_start" -v b="$rules_end" 'BEGIN { printf "%.0f", n / (b - a) }')
delivery_rate=$(awk -v n="$sent" -v a="$delivery_start" -v b="$delivery_end" 'BEGIN { printf "%.0f", n / (b - a) }')
batch_events=$((batch_rps * 100))
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
printf '%-34s %12s %9s %9s %8s %10s\n' "POST /v1/track, 100 rules loaded" "$rules_rps" "$r50" \
    "$r99" "$rbad" "$(awk -v a="$rules_rps" -v b="$ceiling" 'BEGIN { printf "%.2f", a / b }')"
printf '\n100 rules cost: ingest at %s of the rate without rules; evaluation kept up at %s events/s\n' \
    "$(awk -v a="$rules_rps" -v b="$track_rps" 'BEGIN { printf "%.2f", a / b }')" "$eval_rate"
printf '  (%s events evaluated against 100 rules each; %s still queued at the end)\n' "$evaluated" "$left"
printf 'webhook deliveries: %s sent at %s/s to a local receiver (1 worker process, 2 threads x 64)\n' \
    "$sent" "$delivery_rate"
printf '\ntrackd peak resident memory: %d MB; events stored: %s\n' $((rss_kb / 1024)) "$stored"
