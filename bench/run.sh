#!/usr/bin/env bash
# The benchmark suite (`make bench`; BENCHMARKS.md explains the report). Starts its own
# PostgreSQL (fsync and synchronous_commit on, as in production) and trackd, runs each scenario
# against them, and prints one table: events/s, answer times, failed answers, trackd's peak
# resident memory, and each figure's ratio to a ceiling measured in the same run (GET /healthz
# for HTTP, PostgreSQL's own COPY for storage), or, for gzip and HTTPS, to the same calls sent
# plain. Machines differ and are noisy: compare ratios.
#
# Settings (environment):
#   BENCH_DURATION      per load scenario, wrk syntax                         10s
#   BENCH_CONNECTIONS   keep-alive connections of the single-call scenarios   64
#   BENCH_BATCH_CONNECTIONS   connections of the /v1/batch scenario          16
#   BENCH_COPY_ROWS     rows of the COPY ceiling                              500000
#   BENCH_FIXED_RATE    offered events/s of the fixed-load latency scenario   half the single-
#                                                                             event run's rate
#   BENCH_LARGE_ROWS    events stored before the "as data grows" run; 0 skips 10000000
#   BENCH_DELIVERIES    webhook deliveries of the delivery scenario           20000
#   BENCH_JOURNEY_PEOPLE  people in the three-step journey scenario          100000
#   BENCH_ONLY          comma-separated scenario ids to run (the others are   all
#                       skipped); e.g. healthz,track,fixed
#   BENCH_PORT          trackd's port (the receiver takes the next one)       the first free
#                                                                             of 18080, 18082...
#
# Exit status: 0 when every scenario ran (targets met or not), 1 when one could not run or an
# event answered 2xx was not stored.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-64}
batch_connections=${BENCH_BATCH_CONNECTIONS:-16}
copy_rows=${BENCH_COPY_ROWS:-500000}
fixed_rate=${BENCH_FIXED_RATE:-} # empty: half of what the single-event scenario reached
large_rows=${BENCH_LARGE_ROWS:-10000000}
deliveries=${BENCH_DELIVERIES:-20000}
journey_people=${BENCH_JOURNEY_PEOPLE:-100000}
port=${BENCH_PORT:-}
# How long the evaluation backlog and the delivery outbox may take to drain.
drain_timeout=120

# The report's rows, in print order: id | title | ratio of (a scenario id, self, offered or -) |
# label of that reference | target (ratio>=X, p99<=MS, rate>=N or -). SPEC §8 sets the targets;
# "evaluation >= 0.90" is our reading of "evaluation keeps up".
report_rows=(
    "healthz|GET /healthz (HTTP ceiling)|self|HTTP|-"
    "copy|COPY rows+keys (storage ceiling)|self|COPY|-"
    "track|/v1/track, 1 event|healthz|HTTP|ratio>=0.35"
    "batch|/v1/batch, 100 events|copy|COPY|ratio>=0.80"
    "track_v1|/api/v1/customers/{id}/events|healthz|HTTP|-"
    "identify|/v1/identify, half new people|healthz|HTTP|-"
    "rules|/v1/track, 100 rules|track|0 rules|ratio>=0.80"
    "evaluation|rule evaluation, 100 rules|rules|ingest|ratio>=0.90"
    "fixed|/v1/track, fixed rate|offered|offered|p99<=20"
    "large|/v1/track, events stored|track|empty|ratio>=0.80"
    "deliveries|webhook deliveries|-|-|rate>=5000"
    "journeys|journey steps, 3-step journey|-|-|rate>=5000"
    "batch_pool|/v1/batch, 100 events, pre-written|batch|rendered|-"
    "batch_gzip|/v1/batch, 100 events, gzip|batch_pool|plain|-"
    "track_tail|/v1/track, 1 event, a tail attached|track|no tail|-"
    "batch_tail|/v1/batch, 100 events, a tail attached|batch|no tail|-"
    "healthz_tls|GET /healthz, HTTPS|healthz|plain|-"
    "tls_handshake|GET /healthz, HTTPS, new connection|healthz_tls|reused|-"
    "track_tls|/v1/track, 1 event, HTTPS|track|plain|-"
    "android|/v1/b as the Android SDK, 100 events|batch_pool|plain|-"
)

# --- set-up ----------------------------------------------------------------------------------

# listening PORT: true when something accepts connections on 127.0.0.1:PORT (another
# engineer's benchmark, say: we must not measure their server).
listening() {
    (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_settings() {
    local name value
    for name in BENCH_CONNECTIONS BENCH_BATCH_CONNECTIONS BENCH_COPY_ROWS BENCH_FIXED_RATE \
        BENCH_LARGE_ROWS BENCH_DELIVERIES BENCH_PORT; do
        value=${!name:-0}
        [[ $value =~ ^[0-9]+$ ]] || fail "$name must be a whole number, not '$value'"
    done
    seconds_of "$duration" >/dev/null
    if [[ -z $port ]]; then
        port=18080
        while listening "$port" || listening $((port + 1)); do
            port=$((port + 2))
            ((port < 18180)) || fail "no free port pair in 18080-18179; set BENCH_PORT"
        done
    elif listening "$port" || listening $((port + 1)); then
        fail "something already listens on port $port or $((port + 1)); set another BENCH_PORT"
    fi
    receiver_port=$((port + 1))
    ((connections > 0 && batch_connections > 0 && copy_rows > 0 && ${fixed_rate:-1} > 0 &&
        deliveries > 0 && journey_people > 0)) || fail "BENCH_* counts must be positive (only BENCH_LARGE_ROWS may be 0)"
}

build() {
    scripts/deps.sh
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTRACKD_WERROR=OFF >/dev/null
    cmake --build build-bench -j2 --target trackd bench_receiver bench_loadgen >/dev/null
}

# json_field NAME JSON: a string field of trackd's one-line JSON output.
json_field() {
    sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/" <<<"$2"
}

setup() {
    local workspace
    work=$(mktemp -d /tmp/trackd-bench.XXXXXX)
    chmod 711 "$work" # the postgres user must reach its data directory inside
    trap cleanup EXIT
    log "starting PostgreSQL in $work"
    scripts/pg.sh start "$work" >/dev/null
    DATABASE_URL=$(scripts/pg.sh url "$work")
    export DATABASE_URL
    build-bench/trackd migrate >/dev/null
    workspace=$(build-bench/trackd workspace create bench)
    WRITE_KEY=$(json_field write_key "$workspace")
    SITE_ID=$(json_field site_id "$workspace")
    API_KEY=$(json_field api_key "$workspace")
    export WRITE_KEY SITE_ID API_KEY BENCH_DIR="$root/bench"
    start_trackd || exit 1
    create_people
}

# The people the scenarios send events for, user-0 .. user-4999 (bench/common.lua), created
# before any measurement: otherwise the first scenario alone would pay for creating them.
create_people() {
    local from people=5000
    log "creating $people people"
    for ((from = 0; from < people; from += 100)); do
        awk -v from="$from" 'BEGIN {
            item = "{\"type\":\"identify\",\"userId\":\"user-%d\",\"messageId\":\"people-%d\","
            item = item "\"traits\":{\"email\":\"user-%d@example.com\",\"first_name\":\"Ada\"}}"
            printf "{\"batch\":["
            for (i = from; i < from + 100; i++) {
                if (i > from)
                    printf ","
                printf item, i, i, i
            }
            printf "]}"
        }' | curl -sf -o /dev/null -u "$WRITE_KEY:" -H 'Content-Type: application/json' \
            --data-binary @- "http://127.0.0.1:$port/v1/batch" ||
            fail "creating people with /v1/batch failed"
    done
    [[ $(sql -c 'SELECT count(*) FROM people') == "$people" ]] ||
        fail "expected $people people after creating them"
    # Now rather than by autovacuum during the first scenario.
    sql -c 'VACUUM (ANALYZE)'
}

# run_scenario ID FUNCTION: runs FUNCTION in a subshell with errexit, so that a failure ends
# that scenario (reported, and the exit status becomes 1) but not the suite. Its stderr goes to
# $work/ID.err; the last lines of it become the note that says why.
run_scenario() {
    local id=$1 function=$2 status
    if [[ -n ${BENCH_ONLY:-} && ",$BENCH_ONLY," != *",$id,"* ]]; then
        mkdir -p "$work/results"
        echo "not in BENCH_ONLY" >"$work/results/$id.skipped"
        # The evaluation row is measured by the rules scenario.
        [[ $id != rules ]] || echo "not in BENCH_ONLY" >"$work/results/evaluation.skipped"
        return
    fi
    log "scenario $id"
    set +e
    (
        set -eE
        trap 'echo "bench: failed: $BASH_COMMAND" >&2' ERR
        "$function"
    ) 2>"$work/$id.err"
    status=$?
    set -e
    rm -f "$work/sampling" # stops scenario_rules' sampler if the scenario failed before it did
    if ((status != 0)); then
        failed_scenarios+=("$id")
        note "$id could not run: $(tail -n 4 "$work/$id.err" | tr '\n' ' ')"
        log "scenario $id could not run (see the notes)"
    fi
    # A crash of trackd is reported; the next scenarios get a new one.
    if [[ -n ${trackd_pid:-} ]] && ! ours "$trackd_pid"; then
        note "trackd exited during $id; its log ends: $(tail -n 3 "$work/trackd.log" | tr '\n' ' ')"
        failed_scenarios+=("$id (trackd exited)")
        stop_pid "$trackd_pid"
        start_trackd || exit 1
    fi
}

# --- scenarios: each records its results (lib.sh) and may add notes --------------------------

scenario_healthz() {
    ingest_scenario healthz healthz.lua "$connections" 0
}

scenario_track() {
    ingest_scenario track track.lua "$connections" 1
}

# rule_files DIRECTORY ENABLED: 100 rules that every single-event call is a candidate of; none
# matches (the price is never over 1000, the plan never "never"), so each is evaluated in full
# and nothing is sent.
rule_files() {
    local i
    mkdir -p "$1"
    for i in $(seq 1 100); do
        cat >"$1/rule-$i.json" <<RULE
{"name": "bench-rule-$i", "enabled": $2, "trigger": {"event": "Order Completed"},
 "conditions": [{"field": "event.price", "op": "gt", "value": $((1000 + i))},
                {"field": "person.plan", "op": "eq", "value": "never"}],
 "action": {"type": "webhook", "url": "http://127.0.0.1:9/unused", "body": {"n": $i}}}
RULE
    done
}

# metric NAME: the value of an unlabelled metric of trackd's /metrics.
metric() {
    curl -sf "http://127.0.0.1:$port/metrics" | awk -v name="$1" '$1 == name { print $2 }'
}

pending_evaluations() {
    sql -c 'SELECT count(*) FROM pending_evaluations'
}

# The single-event load with 100 rules loaded (its ratio to the run without rules is 1 - cost),
# then how fast evaluation, which runs apart from ingest, works through what it queued. One
# psql session samples the evaluation queue every 0.05 s meanwhile (a query on a small table:
# negligible next to the load).
scenario_rules() {
    local before after sampler ended backlog drained peak evaluated
    rule_files "$work/rules" true
    build-bench/trackd rules load --workspace bench "$work/rules" >/dev/null
    # The scenarios that follow send the same events, without rules: disable them however this
    # one ends (it runs in a subshell of its own, see run_scenario).
    trap disable_rules EXIT
    sleep 1.5 # the evaluator notices new rules within its idle wait
    before=$(metric trackd_rule_evaluations_total)
    [[ -n $before ]] || fail "trackd's /metrics has no trackd_rule_evaluations_total"
    # The sampler stops when $work/sampling goes (here, or with $work at exit); psql then
    # reads the end of its input and exits too.
    touch "$work/sampling"
    while [[ -f $work/sampling ]] && sleep 0.05; do
        echo 'SELECT extract(epoch FROM clock_timestamp()), count(*) FROM pending_evaluations;'
    done | sql >"$work/pending.log" &
    sampler=$!
    ingest_scenario rules track.lua "$connections" 1
    ended=$(result_get rules ended)
    # Drained: the first sample after the load stopped that finds the queue empty.
    for _ in $(seq $((drain_timeout * 10))); do
        drained=$(awk -F'|' -v t="$ended" '$1 >= t && $2 == 0 { print $1; exit }' \
            "$work/pending.log")
        [[ -n $drained ]] && break
        sleep 0.1
    done
    rm "$work/sampling"
    wait "$sampler"
    backlog=$(awk -F'|' -v t="$ended" '$1 >= t { print $2; exit }' "$work/pending.log")
    peak=$(awk -F'|' '$2 > max { max = $2 } END { print max + 0 }' "$work/pending.log")
    after=$(metric trackd_rule_evaluations_total)
    evaluated=$((after - before))
    result_set evaluation rss_mb "$(rss_peak_mb "$trackd_pid")"
    if [[ -n $drained ]]; then
        # Over the load's own duration (as wrk measured it, like the ingest rate) plus the time
        # the queue took to empty after it.
        result_set evaluation rate "$(calc_int 'n / (s + b - a)' n="$evaluated" \
            s="$(result_get rules seconds)" a="$ended" b="$drained")"
        drained="drained $(calc 'sprintf("%.1f", b - a)' a="$ended" b="$drained") s later"
    else
        drained="NOT drained within $drain_timeout s: $(pending_evaluations) left"
    fi
    note "100 rules: ingest cost $(calc 'sprintf("%.0f%%", (1 - r / t) * 100)' \
        r="$(result_get rules rate)" t="$(result_get track rate)") of the rate without rules" \
        "(target < 20%); evaluation: $evaluated events evaluated against all 100; queue at most" \
        "$peak, ${backlog:-?} when the load stopped, $drained"
    ((evaluated > 0)) || fail "no event was evaluated: were they queued (timestamps within 72 h)?"
}

disable_rules() {
    rule_files "$work/rules" false
    build-bench/trackd rules load --workspace bench "$work/rules" >/dev/null
    sleep 1.5
}

scenario_batch() {
    ingest_scenario batch batch.lua "$batch_connections" 100
}

# tail_scenario SCENARIO SCRIPT CONNECTIONS EVENTS_PER_REQUEST: ingest_scenario's load with one
# `trackd tail --json` attached (its output discarded), recording the tail's own CPU time too
# (tail_cpu_s).
tail_scenario() {
    local scenario=$1 tail_pid cpu
    build-bench/trackd tail --json >/dev/null 2>"$work/tail.err" &
    tail_pid=$!
    track_pid "$tail_pid"
    sleep 1.5 # the writers ask once a second whether a tail is connected
    cpu=$(cpu_seconds "$tail_pid")
    ingest_scenario "$@"
    result_set "$scenario" tail_cpu_s "$(calc 'b - a' a="$cpu" b="$(cpu_seconds "$tail_pid")")"
    stop_pid "$tail_pid"
}

scenario_track_tail() {
    tail_scenario track_tail track.lua "$connections" 1
}

scenario_batch_tail() {
    tail_scenario batch_tail batch.lua "$batch_connections" 100
}

# The storage ceiling: PostgreSQL's own COPY of $copy_rows rows into the real events table (with
# whatever the earlier scenarios stored), and of their deduplication keys into message_ids, in
# one transaction, as fast as one psql session streams them. The rows are the batch
# scenario's stored events (so properties and context are byte for byte what trackd stores),
# repeated as needed with fresh message ids shaped like bench/common.lua's (a time, a random
# prefix, a counter).
scenario_copy() {
    local first last source_rows stamp ms prefix message_id events_file keys_file timing
    first=$(result_get batch first_id)
    last=$(result_get batch last_id)
    [[ -n $first && -n $last ]] || fail "the batch scenario stored no rows to copy"
    events_file=$work/copy-events.txt
    keys_file=$work/copy-keys.txt
    stamp=$(sql -c 'SELECT now()')
    ms=$(sql -c "SELECT (extract(epoch FROM timestamptz '$stamp') * 1000)::bigint")
    source_rows=$(sql -c "SELECT count(*) FROM events WHERE id > $first AND id <= $last")
    ((source_rows > 0)) || fail "the batch scenario stored no rows to copy"
    prefix=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    message_id="format('node-next-%s-%s-%s', $ms, '$prefix', g)"
    log "writing $copy_rows rows to copy"
    # (psql reads a \copy command to the end of its line: those lines cannot be wrapped.)
    sql <<SQL
CREATE TEMP TABLE copy_source AS
SELECT row_number() OVER (ORDER BY id) - 1 AS k, workspace_id, person_id, anonymous_id, type,
       name, properties, context
FROM events WHERE id > $first AND id <= $last;
\copy (SELECT s.workspace_id, s.person_id, s.anonymous_id, $message_id, s.type, s.name, s.properties, s.context, '$stamp', '$stamp' FROM generate_series(0, $copy_rows - 1) g JOIN copy_source s ON s.k = g % $source_rows ORDER BY g) TO '$events_file'
\copy (SELECT s.workspace_id, $message_id, '$stamp' FROM generate_series(0, $copy_rows - 1) g JOIN copy_source s ON s.k = g % $source_rows ORDER BY g) TO '$keys_file'
SQL
    sql -c CHECKPOINT
    log "copying"
    local pg_cpu
    pg_cpu=$(postgres_cpu_seconds)
    timing=$(
        sql <<SQL
SELECT extract(epoch FROM clock_timestamp());
BEGIN;
\copy events (workspace_id, person_id, anonymous_id, message_id, type, name, properties, context, "timestamp", received_at) FROM '$events_file'
\copy message_ids (workspace_id, message_id, received_at) FROM '$keys_file'
COMMIT;
SELECT extract(epoch FROM clock_timestamp());
SQL
    )
    local start end
    start=$(head -n 1 <<<"$timing")
    end=$(tail -n 1 <<<"$timing")
    result_set copy seconds "$(calc 'b - a' a="$start" b="$end")"
    result_set copy rate "$(calc_int 'n / (b - a)' n="$copy_rows" a="$start" b="$end")"
    result_set copy events "$copy_rows"
    result_set copy pg_cpu_s "$(calc 'b - a' a="$pg_cpu" b="$(postgres_cpu_seconds)")"
    note "COPY ceiling: $copy_rows events ($(calc_int 's / n' s="$(stat -c %s "$events_file")" \
        n="$copy_rows") bytes a row as text, from the batch scenario's $source_rows stored" \
        "rows) and their keys copied in $(calc 'sprintf("%.1f", b - a)' a="$start" b="$end") s," \
        "one transaction"
}

# pg_us SCENARIO: PostgreSQL's CPU time per event of SCENARIO, in microseconds.
pg_us() {
    calc 'sprintf("%.1f", c * 1e6 / n)' c="$(result_get "$1" pg_cpu_s)" \
        n="$(result_get "$1" events)"
}

scenario_track_v1() {
    ingest_scenario track_v1 track_v1.lua "$connections" 1
}

scenario_identify() {
    local before after
    before=$(sql -c 'SELECT count(*) FROM people')
    ingest_scenario identify identify.lua "$connections" 0
    after=$(sql -c 'SELECT count(*) FROM people')
    note "identify: $(result_get identify ok) calls answered 2xx, $((after - before)) people" \
        "created (about half of the calls name a new person)"
}

# A fixed offered load for latency: bench_loadgen sends at a constant rate and measures each
# answer from the time its request was due (bench/loadgen.c).
scenario_fixed() {
    local first last line pair
    if [[ -z $fixed_rate ]]; then
        fixed_rate=$(calc_int 'r / 2' r="$(result_get track rate)")
        ((fixed_rate > 0)) || fail "no single-event rate to take half of"
    fi
    sql -c CHECKPOINT
    first=$(events_max_id)
    rss_reset "$trackd_pid"
    line=$(build-bench/bench_loadgen -u "http://127.0.0.1:$port/v1/track" -a "$WRITE_KEY:" \
        -t bench/events/track.json -r "$fixed_rate" -d "$duration" -c "$connections")
    result_set fixed rss_mb "$(rss_peak_mb "$trackd_pid")"
    last=$(events_max_id)
    [[ $line == LOADGEN\ * ]] || fail "bench_loadgen printed no result line: $line"
    for pair in ${line#LOADGEN }; do
        result_set fixed "${pair%%=*}" "${pair#*=}"
    done
    check_stored fixed "$first" "$last" "$(result_get fixed ok)"
    note "fixed load: $(result_get fixed scheduled) calls due at $fixed_rate/s over $duration" \
        "on $connections connections; latency from each call's due time;" \
        "$(result_get fixed unsent) never sent"
}

# Cost as data grows: $large_rows events (and their keys) already stored, spread over the last
# 29 days as production would hold them (29, not 30: none is old enough for the purge to
# delete during the run), then the single-event load again.
scenario_large() {
    if ((large_rows == 0)); then
        mkdir -p "$work/results"
        echo "BENCH_LARGE_ROWS=0" >"$work/results/large.skipped"
        return 0
    fi
    local first last stamp prefix started inserted vacuumed chunk from to rows message_id
    first=$(result_get track first_id)
    last=$(result_get track last_id)
    [[ -n $first && -n $last ]] || fail "the single-event scenario stored no rows to imitate"
    stamp=$(sql -c 'SELECT now()')
    prefix=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    sql -c "CREATE TABLE bench_sample AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS k, workspace_id, person_id, type, name,
                   properties, context
            FROM events WHERE id > $first AND id <= $last ORDER BY id LIMIT 10000"
    local sample_rows
    sample_rows=$(sql -c 'SELECT count(*) FROM bench_sample')
    ((sample_rows > 0)) || fail "the single-event scenario stored no rows to imitate"
    log "loading $large_rows events (this takes minutes at 10 million)"
    started=$(now)
    chunk=1000000
    for ((from = 0; from < large_rows; from += chunk)); do
        to=$((from + chunk < large_rows ? from + chunk : large_rows))
        # Two statements rather than one with a shared CTE: materialising the CTE made the
        # load a third slower. Both compute the same message ids and times.
        rows="FROM generate_series($from, $to - 1) g JOIN bench_sample s ON s.k = g % $sample_rows
              CROSS JOIN LATERAL (
                  SELECT timestamptz '$stamp' - interval '29 days' * (1 - g::float8 / $large_rows)
                  AS t) x
              ORDER BY g"
        message_id="format('node-next-%s-%s-%s', (extract(epoch FROM x.t) * 1000)::bigint,
                           '$prefix', g)"
        sql -c 'BEGIN' -c "
INSERT INTO events (workspace_id, person_id, anonymous_id, message_id, type, name, properties,
                    context, \"timestamp\", received_at)
SELECT s.workspace_id, s.person_id, NULL, $message_id, s.type, s.name, s.properties, s.context,
       x.t, x.t
$rows" -c "
INSERT INTO message_ids (workspace_id, message_id, received_at)
SELECT s.workspace_id, $message_id, x.t
$rows" -c 'COMMIT'
        log "  $to of $large_rows events loaded ($(calc_int 'b - a' a="$started" b="$(now)") s)"
    done
    inserted=$(now)
    sql -c 'DROP TABLE bench_sample'
    # Vacuum too, not only analyze: autovacuum would otherwise start on the new rows during the
    # measurement. The checkpoint writes what the load left dirty.
    sql -c 'VACUUM (ANALYZE) events' -c 'VACUUM (ANALYZE) message_ids' -c CHECKPOINT
    vacuumed=$(now)
    note "as data grows: $large_rows events and keys loaded in" \
        "$(calc_int 'b - a' a="$started" b="$vacuumed") s (insert" \
        "$(calc_int 'b - a' a="$started" b="$inserted") s, vacuum, analyze and checkpoint" \
        "$(calc_int 'b - a' a="$inserted" b="$vacuumed") s); events then held" \
        "$(sql -c 'SELECT count(*) FROM events') rows"
    ingest_scenario large track.lua "$connections" 1
}

# Webhook deliveries per second: $deliveries due webhook deliveries in the outbox, sent by one
# `trackd worker` process to bench_receiver. Runs with trackd serve stopped.
scenario_deliveries() {
    local receiver worker sent span
    build-bench/bench_receiver "$receiver_port" >"$work/receiver.out" &
    receiver=$!
    track_pid "$receiver"
    wait_http "http://127.0.0.1:$receiver_port/" || fail "bench_receiver did not start"
    sql <<SQL
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
CHECKPOINT;
SQL
    TRACKD_LOG_LEVEL=warn TRACKD_DELIVERY_WORKERS=2 TRACKD_DELIVERY_CONCURRENCY=64 \
        build-bench/trackd worker 2>"$work/worker.log" &
    worker=$!
    track_pid "$worker"
    for _ in $(seq $((drain_timeout * 10))); do
        [[ $(sql -c "SELECT count(*) FROM deliveries
                     WHERE status IN ('scheduled', 'retrying')") == 0 ]] && break
        sleep 0.1
    done
    result_set deliveries rss_mb "$(rss_peak_mb "$worker")"
    stop_pid "$worker"
    stop_pid "$receiver"
    sent=$(sql -c "SELECT count(*) FROM deliveries WHERE status = 'sent'")
    ((sent > 1)) || fail "no webhook was sent; the worker's log: $(tail -n 3 "$work/worker.log")"
    # From the first send to the last: the worker's start-up is not part of the rate.
    span=$(sql -c "SELECT extract(epoch FROM max(sent_at) - min(sent_at))
                   FROM deliveries WHERE status = 'sent'")
    result_set deliveries rate "$(calc_int 'n / s' n="$sent" s="$span")"
    note "deliveries: $sent of $deliveries sent by one worker process (2 threads x 64 in" \
        "flight) in $(calc 'sprintf("%.1f", s)' s="$span") s"
}

# Journey steps per second: $journey_people people each at the start of a three-step journey
# (a webhook; a branch on the trigger event, each side a webhook; a webhook: four steps passed
# per person, three deliveries written), moved to the end by the journey runner of one
# `trackd worker` process that sends nothing (TRACKD_DELIVERY_WORKERS=0), so that the figure is
# the runner's: claiming runs, deciding branches, rendering and writing deliveries, moving the
# runs, in one transaction per batch. Runs with trackd serve stopped.
scenario_journeys() {
    local worker started span done_runs
    mkdir -p "$work/journey"
    cat >"$work/journey/bench-journey.json" <<'RULE'
{"name": "bench-journey", "trigger": {"event": "bench_journey_start"},
 "steps": [
   {"action": {"type": "webhook", "url": "http://127.0.0.1:9/welcome", "body": {"who": "{{ person.id }}"}}},
   {"branch": {"if": [{"field": "event.tier", "op": "eq", "value": "gold"}],
               "then": [{"action": {"type": "webhook", "url": "http://127.0.0.1:9/gold", "body": {"who": "{{ person.id }}"}}}],
               "else": [{"action": {"type": "webhook", "url": "http://127.0.0.1:9/plain", "body": {"who": "{{ person.id }}"}}}]}},
   {"action": {"type": "webhook", "url": "http://127.0.0.1:9/last", "body": {"n": "{{ event.n }}"}}}
 ]}
RULE
    build-bench/trackd rules load --workspace bench "$work/journey" >/dev/null
    sql <<SQL
WITH rule AS (SELECT id, workspace_id FROM rules WHERE name = 'bench-journey'),
people_made AS (
    INSERT INTO people (workspace_id, customer_id, cio_id, attributes)
    SELECT rule.workspace_id, 'journey-' || g, trackd_cio_id(0), '{}'
    FROM rule, generate_series(1, $journey_people) g
    RETURNING id, workspace_id),
fired AS (
    INSERT INTO firings (workspace_id, rule_id, person_id, event_id)
    SELECT p.workspace_id, rule.id, p.id, -p.id FROM people_made p, rule
    RETURNING id, workspace_id, rule_id, person_id, event_id)
INSERT INTO journey_runs (workspace_id, rule_id, firing_id, person_id, event_id, trigger_event,
                          due_at)
SELECT workspace_id, rule_id, id, person_id, event_id,
       jsonb_build_object('name', 'bench_journey_start', 'properties',
                          jsonb_build_object('n', person_id,
                                             'tier', CASE WHEN person_id % 2 = 0 THEN 'gold' END)),
       now()
FROM fired;
ANALYZE people; ANALYZE journey_runs; ANALYZE deliveries;
CHECKPOINT;
SQL
    started=$(sql -c "SELECT extract(epoch FROM clock_timestamp())")
    TRACKD_LOG_LEVEL=warn TRACKD_DELIVERY_WORKERS=0 build-bench/trackd worker \
        2>"$work/journey-worker.log" &
    worker=$!
    track_pid "$worker"
    for _ in $(seq $((drain_timeout * 10))); do
        [[ $(sql -c "SELECT count(*) FROM journey_runs WHERE status = 'active'") == 0 ]] && break
        sleep 0.1
    done
    result_set journeys rss_mb "$(rss_peak_mb "$worker")"
    stop_pid "$worker"
    done_runs=$(sql -c "SELECT count(*) FROM journey_runs WHERE status = 'completed'")
    ((done_runs == journey_people)) ||
        fail "$done_runs of $journey_people journeys completed; the worker's log: $(tail -n 3 "$work/journey-worker.log")"
    [[ $(sql -c "SELECT count(*) FROM deliveries WHERE journey_run_id IS NOT NULL") == $((journey_people * 3)) ]] ||
        fail "the journeys did not write three deliveries each"
    # From the worker's start to the last run's end: start-up included.
    span=$(sql -c "SELECT extract(epoch FROM max(ended_at)) - $started FROM journey_runs")
    result_set journeys rate "$(calc_int 'n * 4 / s' n="$done_runs" s="$span")"
    note "journeys: $done_runs people through a three-step journey (4 steps passed, 3 deliveries" \
        "written each) by one worker process in $(calc 'sprintf("%.1f", s)' s="$span") s:" \
        "$(calc_int 'n / s' n="$done_runs" s="$span") people/s"
    sql -c "DELETE FROM rules WHERE name = 'bench-journey'" >/dev/null
}

# --- what gzip and TLS cost: the same calls compressed, or over HTTPS ------------------------

# cost_us SCENARIO REFERENCE: how much longer each event (or call) of SCENARIO took than one of
# REFERENCE, in microseconds of wall time with the machine saturated: 1/rate - 1/rate of
# REFERENCE, signed ("+12.5").
cost_us() {
    calc 'sprintf("%+.1f", (1 / a - 1 / b) * 1e6)' a="$(result_get "$1" rate)" \
        b="$(result_get "$2" rate)"
}

# cpu_us SCENARIO PROGRAM: the CPU time PROGRAM (trackd or wrk) used per event (or call) of
# SCENARIO, in microseconds.
cpu_us() {
    calc 'sprintf("%.1f", c * 1e6 / n)' c="$(result_get "$1" "$2_cpu_s")" \
        n="$(result_get "$1" events)"
}

# cpu_text SCENARIO REFERENCE [LABEL]: "trackd A us (B plain), wrk C us (D plain)", B and D
# being REFERENCE's.
cpu_text() {
    local label=${3:-plain}
    printf 'trackd %s us (%s %s), wrk %s us (%s %s)' "$(cpu_us "$1" trackd)" \
        "$(cpu_us "$2" trackd)" "$label" "$(cpu_us "$1" wrk)" "$(cpu_us "$2" wrk)" "$label"
}

# pool_scenario SCENARIO SCRIPT ENCODING SHAPE REFERENCE...: a load of 100-event bodies from a
# pool (lib.sh's body_pool; ENCODING gzip or identity, SHAPE node or android) written just
# before, on the batch scenario's connections. The pool holds enough for twice the highest rate
# of the REFERENCE scenarios over $duration (50 000 events/s if none ran), and two bodies a
# connection more; a scenario that ran faster all the same, and so ran out of bodies, fails.
pool_scenario() {
    local scenario=$1 script=$2 encoding=$3 key='' rate=0 value bodies overrun
    [[ $4 == android ]] && key=$WRITE_KEY
    shift 4
    for value in "$@"; do
        value=$(result_get "$value" rate)
        [[ -n $value ]] && ((value > rate)) && rate=$value
    done
    ((rate > 0)) || rate=50000
    bodies=$(calc_int 'r * 2 * s / 100 + 2 * c' r="$rate" s="$(seconds_of "$duration")" \
        c="$batch_connections")
    log "writing $bodies bodies of 100 events ($encoding)"
    body_pool "$scenario" "$bodies" "$encoding" "$key"
    export BENCH_POOL=$work/pool-$scenario BENCH_CONTENT_ENCODING=${encoding#identity}
    ingest_scenario "$scenario" "$script" "$batch_connections" 100
    rm -f "$BENCH_POOL.bin" "$BENCH_POOL.idx"
    overrun=$(result_get "$scenario" pool_overrun)
    if ((${overrun:-0} > 0)); then
        result_set "$scenario" rate "" # refused requests make it wrong: not reported
        fail "$scenario: its $bodies bodies ran out ($overrun requests refused instead): it ran" \
            "more than twice as fast as its reference; run the suite again"
    fi
}

# pool_text SCENARIO: the size of its bodies before and after gzip, and how many were sent.
pool_text() {
    local bodies json sent
    bodies=$(result_get "$1" pool_bodies)
    json=$(result_get "$1" pool_json_bytes)
    sent=$(result_get "$1" pool_sent_bytes)
    printf 'bodies of 100 events: %s bytes, %s gzip'"'"'d (%s:1); %s requests from a pool of %s' \
        "$(calc_int 'j / b' j="$json" b="$bodies")" "$(calc_int 's / b' s="$sent" b="$bodies")" \
        "$(calc 'sprintf("%.1f", j / s)' j="$json" s="$sent")" \
        "$(result_get "$1" pool_sent)" "$bodies"
}

# The batch scenario's calls with bodies written before the run: the reference of the gzip'd
# ones, with the same work for wrk.
scenario_batch_pool() {
    pool_scenario batch_pool batch_pool.lua identity node batch
    note "pre-written bodies (rendered: written by wrk's Lua): CPU per event:" \
        "$(cpu_text batch_pool batch rendered); $(result_get batch_pool pool_sent) requests" \
        "from a pool of $(result_get batch_pool pool_bodies)"
}

# The same calls gzip'd: same events, connections and credentials.
scenario_batch_gzip() {
    pool_scenario batch_gzip batch_pool.lua gzip node batch batch_pool
    note "gzip: $(cost_us batch_gzip batch_pool) us of wall time per event of /v1/batch" \
        "(1/rate - 1/plain rate); CPU per event: $(cpu_text batch_gzip batch_pool);" \
        "$(pool_text batch_gzip)"
}

# tls_certificate: a throwaway self-signed certificate for 127.0.0.1 with an EC P-256 key (the
# key type certbot and Caddy default to), in $work/tls/.
tls_certificate() {
    mkdir -p "$work/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2>"$work/tls/openssl.log" ||
        {
            cat "$work/tls/openssl.log" >&2
            return 1
        }
}

# The HTTPS scenarios run against trackd serve restarted with TLS (see main).
scenario_track_tls() {
    ingest_scenario track_tls track.lua "$connections" 1
}

scenario_healthz_tls() {
    ingest_scenario healthz_tls healthz.lua "$connections" 0
    note "TLS on kept connections: $(cost_us healthz_tls healthz) us of wall time per call of" \
        "GET /healthz, $(cost_us track_tls track) per event of /v1/track; CPU per call:" \
        "healthz $(cpu_text healthz_tls healthz), track $(cpu_text track_tls track)"
}

scenario_tls_handshake() {
    local session
    ingest_scenario tls_handshake handshake.lua "$connections" 0
    # What wrk's OpenSSL and trackd's GnuTLS agree on, and whether trackd resumes sessions
    # (a resumed handshake is cheaper): openssl s_client reconnects five times.
    session=$(openssl s_client -connect "127.0.0.1:$port" -reconnect </dev/null 2>/dev/null |
        awk '/^New,/ && !first { sub(/^New, /, ""); first = $0 }
             /^Server Temp Key:/ { sub(/.*: /, ""); group = $0 }
             /^Reused,/ { reused++ }
             END { printf "%s, key exchange %s, ECDSA P-256 certificate; %d of 5 reconnections",
                   first ? first : "?", group ? group : "?", reused }') || true
    note "TLS handshake: $(cost_us tls_handshake healthz_tls) us of wall time per call on a" \
        "new connection against a kept one (TCP connect and close included); CPU per call:" \
        "$(cpu_text tls_handshake healthz_tls kept); $session resumed the session"
}

# What Customer.io's Android SDK sends (bench/android.lua), on the batch scenario's connections.
scenario_android() {
    pool_scenario android android.lua gzip android batch batch_pool batch_gzip
    note "Android SDK: $(cost_us android batch_pool) us of wall time per event against plain" \
        "/v1/batch, $(cost_us android batch_gzip) against gzip'd /v1/batch over HTTP;" \
        "CPU per event: $(cpu_text android batch_pool); $(pool_text android)"
}

# --- the report ------------------------------------------------------------------------------

print_report() {
    local row id title reference label target lost=0 scenario value rss
    note "PostgreSQL CPU per event (all its processes, from /proc): /v1/track" \
        "$(pg_us track) us (target <= 40), /v1/batch $(pg_us batch) us, COPY $(pg_us copy) us;" \
        "calls per write transaction: /v1/track $(result_get track group_calls)," \
        "/v1/batch $(result_get batch group_calls)"
    note "trackd CPU per call (all its threads, from /proc): GET /healthz $(cpu_us healthz trackd)" \
        "us, /v1/track $(cpu_us track trackd) us"
    if [[ -f $work/results/track_tail && -f $work/results/batch_tail ]]; then
        note "one trackd tail attached: PostgreSQL CPU per event /v1/track $(pg_us track_tail) us" \
            "($(pg_us track) without), /v1/batch $(pg_us batch_tail) us ($(pg_us batch) without);" \
            "trackd $(cpu_us track_tail trackd) us ($(cpu_us track trackd)) and" \
            "$(cpu_us batch_tail trackd) us ($(cpu_us batch trackd)); the tail itself" \
            "$(cpu_us track_tail tail) us and $(cpu_us batch_tail tail) us per event"
    fi
    printf '\ntrackd benchmark, %s, commit %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
        "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'machine: %s cores, %s, %s GB RAM, Linux %s, load average %s at start\n' "$(nproc)" \
        "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
        "$load_at_start"
    printf 'PostgreSQL %s beside trackd (fsync %s, synchronous_commit %s, shared_buffers %s)\n' \
        "$(sql -c 'SHOW server_version')" "$(sql -c 'SHOW fsync')" \
        "$(sql -c 'SHOW synchronous_commit')" "$(sql -c 'SHOW shared_buffers')"
    printf 'settings: %s per scenario; %s connections (batch %s), wrk 2 threads; COPY %s rows;' \
        "$duration" "$connections" "$batch_connections" "$copy_rows"
    printf ' fixed rate %s/s; %s events stored for "events stored"; %s deliveries\n\n' \
        "$(result_get fixed offered)" "$large_rows" "$deliveries"
    {
        table_header
        for row in "${report_rows[@]}"; do
            IFS='|' read -r id title reference label target <<<"$row"
            case $id in
            fixed) title="$title $(result_get fixed offered)/s" ;;
            large) title="$title: $large_rows" ;;
            esac
            table_row "$id" "$title" "$reference" "$label" "$target"
        done
    } | sed 's/ *$//'
    printf '\n'
    if [[ -f $work/notes ]]; then
        sed 's/^/- /' "$work/notes"
    fi
    for scenario in track batch track_v1 rules fixed large batch_pool batch_gzip track_tls \
        android; do
        value=$(result_get "$scenario" lost)
        if [[ -n $value && $value != 0 ]]; then
            printf -- '- LOST: %s: %s events answered 2xx are not in the events table\n' \
                "$scenario" "$value"
            lost=1
        fi
    done
    rss=$(for scenario in "$work"/results/*; do
        awk -F= '$1 == "rss_mb" { print $2 }' "$scenario"
    done | sort -n | tail -n 1)
    printf -- '- trackd peak resident memory: %s MB (target <= 128 MB)\n' "${rss:-?}"
    printf -- '- events/s counts events answered 2xx (calls for identify, rows for COPY,'
    printf ' deliveries sent); times in ms; ratio = events/s over that of "of"\n'
    if ((${#failed_scenarios[@]} > 0)); then
        printf '\nscenarios that could not run: %s\n' "${failed_scenarios[*]}"
    fi
    ((${#failed_scenarios[@]} == 0 && lost == 0))
}

main() {
    failed_scenarios=()
    check_settings
    load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
    build
    setup
    run_scenario healthz scenario_healthz
    # First on the (nearly) empty table: the reference of "rules" and "large".
    run_scenario track scenario_track
    run_scenario rules scenario_rules
    run_scenario batch scenario_batch
    # Right after batch, on the same table and trackd.
    run_scenario batch_pool scenario_batch_pool
    run_scenario batch_gzip scenario_batch_gzip
    run_scenario track_tail scenario_track_tail
    run_scenario batch_tail scenario_batch_tail
    # HTTPS: trackd restarted with a certificate, same database and port; then HTTP again. The
    # Android SDK's uploads first, closest to the batches they are compared with.
    stop_trackd
    trackd_tls=1
    if tls_certificate 2>"$work/https.err" && start_trackd 2>>"$work/https.err"; then
        run_scenario android scenario_android
        run_scenario track_tls scenario_track_tls
        run_scenario healthz_tls scenario_healthz_tls
        run_scenario tls_handshake scenario_tls_handshake
    else
        failed_scenarios+=(android track_tls healthz_tls tls_handshake)
        note "the HTTPS scenarios could not run: $(tail -n 4 "$work/https.err" | tr '\n' ' ')"
    fi
    stop_trackd
    trackd_tls=
    start_trackd || exit 1
    run_scenario copy scenario_copy
    run_scenario track_v1 scenario_track_v1
    run_scenario identify scenario_identify
    run_scenario fixed scenario_fixed
    run_scenario large scenario_large
    stop_trackd
    run_scenario deliveries scenario_deliveries
    run_scenario journeys scenario_journeys
    print_report
}

main "$@"
