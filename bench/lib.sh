# shellcheck shell=bash disable=SC2154 # $root, $work, $port, $duration: set by run.sh
# bench/lib.sh — the helpers of bench/run.sh: processes, SQL, wrk, the results store and the
# report. Sourced by run.sh, which sets $root, $work, $port and $duration first.
#
# Results: each scenario records named values in $work/results/<scenario> (one key=value a
# line; the last one of a key wins). Scenarios run in subshells (see run_scenario), so files,
# not variables, carry what they measured to the report.

# Progress and failure messages go to fd 3, the terminal's stderr, even while a scenario's own
# stderr is captured.
exec 3>&2

log() {
    printf 'bench: %s\n' "$*" >&3
}

# fail MESSAGE: ends the current scenario (or the script) with MESSAGE.
fail() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

# sql ARGS...: psql on the benchmark database; unaligned, quiet, stops at the first error.
sql() {
    psql -X -q -At -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"
}

now() {
    date +%s.%N
}

# calc EXPRESSION [NAME=VALUE...]: prints the awk expression's value, e.g.
# calc 'a / b' a=3 b=4. Division by zero prints nothing.
calc() {
    local expression=$1 args=()
    shift
    for assignment in "$@"; do
        args+=(-v "$assignment")
    done
    awk "${args[@]}" "BEGIN { v = $expression; print v }" 2>/dev/null || true
}

# calc_int EXPRESSION [NAME=VALUE...]: the same, rounded to an integer (mawk would print large
# values as 1.5e+07).
calc_int() {
    local expression=$1
    shift
    calc "sprintf(\"%.0f\", $expression)" "$@"
}

# seconds_of DURATION: wrk's duration syntax (10s, 2m, 1h, or plain seconds) in seconds.
seconds_of() {
    local value=${1%[smh]} unit=${1##*[0-9.]}
    [[ $value =~ ^[0-9]+([.][0-9]+)?$ ]] || fail "not a duration: '$1' (use 10s, 2m, 1h)"
    case $unit in
    m) calc 'v * 60' v="$value" ;;
    h) calc 'v * 3600' v="$value" ;;
    *) echo "$value" ;;
    esac
}

# --- results ---------------------------------------------------------------------------------

# result_set SCENARIO KEY VALUE
result_set() {
    mkdir -p "$work/results"
    printf '%s=%s\n' "$2" "$3" >>"$work/results/$1"
}

# result_get SCENARIO KEY: the value, or nothing.
result_get() {
    [[ -f $work/results/$1 ]] || return 0
    awk -v key="$2" 'index($0, key "=") == 1 { value = substr($0, length(key) + 2) }
                     END { if (value != "") print value }' "$work/results/$1"
}

# note TEXT: a line for the notes under the table, in the order scenarios add them.
note() {
    printf '%s\n' "$*" >>"$work/notes"
}

# --- processes -------------------------------------------------------------------------------

# Every process the benchmark starts in the background is listed in $work/pids, so that the
# cleanup on exit stops exactly those, whichever subshell started them. All are programs of
# build-bench/.
track_pid() {
    echo "$1" >>"$work/pids"
}

# ours PID: true while PID runs one of the benchmark's programs. A recorded pid whose process
# has ended may since have been given to someone else's process: never signal that one.
ours() {
    local state command
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]] || return 1
    command=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    [[ $command == *build-bench/* ]]
}

# stop_pid PID: TERM, then wait until it is gone (KILL after 10 s); forgets PID.
stop_pid() {
    local pid=$1
    sed -i "/^$pid\$/d" "$work/pids" 2>/dev/null || true
    if ours "$pid"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            ours "$pid" || break
            sleep 0.1
        done
        ours "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true # reaps it if it is our child
}

# cleanup: stops every process listed in $work/pids and removes the cluster and $work (the
# scripts' EXIT trap).
cleanup() {
    local pid
    if [[ -f $work/pids ]]; then
        while read -r pid; do
            stop_pid "$pid"
        done <"$work/pids"
    fi
    scripts/pg.sh destroy "$work" >/dev/null 2>&1 || true
    rm -rf "$work"
}

# wait_http URL: true once URL answers 2xx, within 10 s. HTTPS certificates are not checked
# (the benchmark's own is self-signed).
wait_http() {
    for _ in $(seq 100); do
        curl -skf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    return 1
}

# start_trackd: trackd serve (HTTP, evaluator and delivery workers) on $port; sets trackd_pid
# and trackd_url. When $trackd_tls is set, trackd serves HTTPS instead, with the certificate
# and key in $work/tls/ (run.sh's tls_certificate). False, saying why on stderr, when trackd
# does not answer /healthz within 10 s (it may still run: stop_trackd).
start_trackd() {
    local tls=()
    trackd_url=http://127.0.0.1:$port
    if [[ -n ${trackd_tls:-} ]]; then
        tls=(TRACKD_TLS_CERT="$work/tls/cert.pem" TRACKD_TLS_KEY="$work/tls/key.pem")
        trackd_url=https://127.0.0.1:$port
    fi
    # Every load generator connects from 127.0.0.1: no caps per client address.
    env "${tls[@]}" TRACKD_LOG_LEVEL=warn TRACKD_LISTEN="127.0.0.1:$port" \
        TRACKD_MAX_CONNECTIONS_PER_ADDRESS=0 TRACKD_MAX_UPLOADS_PER_ADDRESS=0 \
        "$root/build-bench/trackd" serve 2>>"$work/trackd.log" &
    trackd_pid=$!
    track_pid "$trackd_pid"
    wait_http "$trackd_url/healthz" && return 0
    printf 'bench: trackd did not answer %s/healthz within 10 s; its log: %s\n' "$trackd_url" \
        "$(tail -n 5 "$work/trackd.log")" >&2
    return 1
}

stop_trackd() {
    [[ -n ${trackd_pid:-} ]] && stop_pid "$trackd_pid"
    trackd_pid=
}

# rss_reset PID: restarts the kernel's peak resident size (VmHWM) of PID from its current size
# (Linux: writing 5 to clear_refs), so that each scenario reports its own peak.
rss_reset() {
    echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true
}

# rss_peak_mb PID: PID's peak resident size since start or the last rss_reset, in MB.
rss_peak_mb() {
    awk '/^VmHWM:/ { printf "%.0f\n", $2 / 1024 }' "/proc/$1/status"
}

# cpu_seconds PID: the CPU time (user and system, all threads) PID has used so far.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

# postgres_cpu_seconds: the CPU time the bench's PostgreSQL cluster has used so far: its
# postmaster and live backends, plus what its exited backends used (which the kernel adds to
# their parent's counters).
postgres_cpu_seconds() {
    local postmaster
    postmaster=$(head -n 1 "$work/data/postmaster.pid")
    {
        awk '{ print $14 + $15 + $16 + $17 }' "/proc/$postmaster/stat"
        for child in $(pgrep -P "$postmaster"); do
            awk '{ print $14 + $15 }' "/proc/$child/stat" 2>/dev/null || true
        done
    } | awk -v hz="$(getconf CLK_TCK)" '{ s += $1 } END { printf "%.2f\n", s / hz }'
}

# write_groups: "SUM COUNT" of trackd's trackd_write_batch_size histogram (calls committed,
# write transactions), from /metrics.
write_groups() {
    curl -sk "$trackd_url/metrics" | awk '
        /^trackd_write_batch_size_sum / { sum = $2 }
        /^trackd_write_batch_size_count / { count = $2 }
        END { printf "%d %d\n", sum, count }'
}

# --- measurements ----------------------------------------------------------------------------

# wrk's threads; bench/common.lua reads BENCH_THREADS to share a body pool between them.
export BENCH_THREADS=2

# run_wrk SCENARIO SCRIPT CONNECTIONS: runs bench/SCRIPT against trackd ($trackd_url: HTTP or
# HTTPS) for $duration and records the totals of its result line (bench/common.lua's done()):
# requests, seconds, non2xx, errors, p50_ms, p99_ms, p999_ms, max_ms, and any pairs the script
# adds (a body pool's use); and wrk_cpu_s, the CPU time wrk itself used, less what its script
# says it spent before the load (load_cpu_s).
run_wrk() {
    local scenario=$1 script=$2 connections=$3 line pair TIMEFORMAT='%U %S'
    { time wrk -t"$BENCH_THREADS" -c"$connections" -d"$duration" -s "$root/bench/$script" \
        "$trackd_url" >"$work/$scenario.wrk" 2>&1; } 2>"$work/$scenario.time"
    line=$(grep '^BENCH ' "$work/$scenario.wrk") ||
        fail "wrk printed no result line: $(tail -n 3 "$work/$scenario.wrk")"
    for pair in ${line#BENCH }; do
        result_set "$scenario" "${pair%%=*}" "${pair#*=}"
    done
    result_set "$scenario" wrk_cpu_s "$(awk -v load="$(result_get "$scenario" load_cpu_s)" \
        '{ print $1 + $2 - load }' "$work/$scenario.time")"
}

events_max_id() {
    sql -c 'SELECT coalesce(max(id), 0) FROM events'
}

# ingest_scenario SCENARIO SCRIPT CONNECTIONS EVENTS_PER_REQUEST: a wrk run against trackd
# serve, recording besides run_wrk's totals: events (answered 2xx; calls when
# EVENTS_PER_REQUEST is 0) and rate (the same per second), rss_mb, trackd_cpu_s and pg_cpu_s
# (the CPU time trackd and PostgreSQL used meanwhile), group_calls (calls per write
# transaction), first_id and last_id (the events it stored), and lost (events answered 2xx but
# not in the events table; every 2xx means committed).
ingest_scenario() {
    local scenario=$1 script=$2 connections=$3 per_request=$4 first last ok cpu pg_cpu groups
    sql -c CHECKPOINT # what earlier scenarios left dirty is not written during this one
    first=$(events_max_id)
    rss_reset "$trackd_pid"
    groups=$(write_groups)
    cpu=$(cpu_seconds "$trackd_pid")
    pg_cpu=$(postgres_cpu_seconds)
    result_set "$scenario" started "$(now)"
    run_wrk "$scenario" "$script" "$connections"
    result_set "$scenario" ended "$(now)"
    result_set "$scenario" trackd_cpu_s "$(calc 'b - a' a="$cpu" b="$(cpu_seconds "$trackd_pid")")"
    result_set "$scenario" pg_cpu_s "$(calc 'b - a' a="$pg_cpu" b="$(postgres_cpu_seconds)")"
    result_set "$scenario" group_calls "$(write_groups | awk -v s="${groups% *}" \
        -v c="${groups#* }" '{ printf "%.1f\n", ($2 > c ? ($1 - s) / ($2 - c) : 0) }')"
    result_set "$scenario" rss_mb "$(rss_peak_mb "$trackd_pid")"
    last=$(events_max_id)
    result_set "$scenario" first_id "$first"
    result_set "$scenario" last_id "$last"
    ok=$(calc_int 'r - n' r="$(result_get "$scenario" requests)" \
        n="$(result_get "$scenario" non2xx)")
    result_set "$scenario" ok "$ok"
    result_set "$scenario" events "$((ok * (per_request > 0 ? per_request : 1)))"
    result_set "$scenario" rate "$(calc_int 'ok * k / s' ok="$ok" \
        k="$((per_request > 0 ? per_request : 1))" s="$(result_get "$scenario" seconds)")"
    if ((per_request > 0)); then
        check_stored "$scenario" "$first" "$last" "$((ok * per_request))"
    fi
    ((ok > 0)) || fail "no request was answered 2xx ($(result_get "$scenario" non2xx) non-2xx)"
}

# check_stored SCENARIO FIRST_ID LAST_ID ANSWERED: records stored (events with ids in
# (FIRST_ID, LAST_ID]) and lost (ANSWERED events that are not there). Requests still in flight
# when the load stopped may have been stored too, so stored may exceed ANSWERED, never the
# reverse: every 2xx means committed.
check_stored() {
    local scenario=$1 first=$2 last=$3 answered=$4 stored
    stored=$(sql -c "SELECT count(*) FROM events WHERE id > $first AND id <= $last")
    result_set "$scenario" stored "$stored"
    result_set "$scenario" lost "$((answered > stored ? answered - stored : 0))"
}

# --- the report ------------------------------------------------------------------------------

# format_number VALUE [DECIMALS]: "-" for nothing.
format_number() {
    if [[ -z ${1:-} ]]; then
        echo "-"
    else
        calc "sprintf(\"%.${2:-0}f\", v)" v="$1"
    fi
}

# format_ms VALUE: milliseconds with the decimals that matter (2 below 10, 1 below 1000).
format_ms() {
    if [[ -z ${1:-} ]]; then
        echo "-"
    else
        calc 'sprintf(v < 10 ? "%.2f" : v < 1000 ? "%.1f" : "%.0f", v)' v="$1"
    fi
}

# verdict TARGET RATIO P99 RATE: "met" or "MISSED" for a target of the scenario list (see
# run.sh), nothing when there is no target or nothing to compare.
verdict() {
    local target=$1 ratio=$2 p99=$3 rate=$4 value bound
    case $target in
    ratio\>=*) value=$ratio bound=${target#ratio>=} ;;
    p99\<=*) value=$p99 bound=${target#p99<=} ;;
    rate\>=*) value=$rate bound=${target#rate>=} ;;
    *) return 0 ;;
    esac
    [[ -n $value ]] || return 0
    if [[ $target == p99* ]]; then
        calc 'v <= b ? "met" : "MISSED"' v="$value" b="$bound"
    else
        calc 'v >= b ? "met" : "MISSED"' v="$value" b="$bound"
    fi
}

# target_text TARGET: how the report shows it.
target_text() {
    case $1 in
    ratio\>=*) echo ">= ${1#ratio>=}" ;;
    p99\<=*) echo "p99 <= ${1#p99<=} ms" ;;
    rate\>=*) echo ">= ${1#rate>=}/s" ;;
    *) echo "-" ;;
    esac
}

table_format='%-36s %9s %7s %7s %7s %7s %7s %6s %6s %6s %-8s %-13s %s\n'

table_header() {
    # shellcheck disable=SC2059 # the format is ours
    printf "$table_format" scenario events/s p50_ms p99_ms p999_ms max_ms non2xx errors rss_MB \
        ratio of target ""
}

# table_row ID TITLE REFERENCE REFERENCE_LABEL TARGET: one line of the table from the results
# of scenario ID; its ratio is its rate over REFERENCE's rate (REFERENCE "-": none; "self": a
# ceiling, 1.00; "offered": over the rate it was offered).
table_row() {
    local id=$1 title=$2 reference=$3 label=$4 target=$5 rate ratio="" reference_rate="" of=-
    if [[ -f $work/results/$id.skipped ]]; then
        printf '%-36s skipped: %s\n' "$title" "$(cat "$work/results/$id.skipped")"
        return
    fi
    rate=$(result_get "$id" rate)
    if [[ -z $rate ]]; then
        printf '%-36s could not run (see the notes)\n' "$title"
        return
    fi
    case $reference in
    -) ;;
    self) ratio=1 ;;
    offered) reference_rate=$(result_get "$id" offered) ;;
    *) reference_rate=$(result_get "$reference" rate) ;;
    esac
    if [[ -n $reference_rate ]]; then
        ratio=$(calc 'b > 0 ? a / b : ""' a="$rate" b="$reference_rate")
    fi
    [[ -n $ratio ]] && of=$label
    # shellcheck disable=SC2059 # the format is ours
    printf "$table_format" "$title" "$rate" \
        "$(format_ms "$(result_get "$id" p50_ms)")" \
        "$(format_ms "$(result_get "$id" p99_ms)")" \
        "$(format_ms "$(result_get "$id" p999_ms)")" \
        "$(format_ms "$(result_get "$id" max_ms)")" \
        "$(format_number "$(result_get "$id" non2xx)")" \
        "$(format_number "$(result_get "$id" errors)")" \
        "$(format_number "$(result_get "$id" rss_mb)")" \
        "$(format_number "$ratio" 2)" "$of" \
        "$(target_text "$target")" \
        "$(verdict "$target" "$ratio" "$(result_get "$id" p99_ms)" "$rate")"
}

# --- body pools ------------------------------------------------------------------------------

# body_pool NAME BODIES ENCODING [WRITE_KEY]: writes $work/pool-NAME.bin and
# $work/pool-NAME.idx (the pool format of bench/common.lua): BODIES bodies of 100 track events
# each. The events are bench/events/track.json filled by bench/common.lua's rules: message ids
# of the same shape with a prefix of their own, people drawn at random, the time of writing as
# their timestamp. A body is {"batch":[...]} as cdp-analytics-node sends it; with WRITE_KEY,
# "sentAt" and "writeKey" follow, as analytics-kotlin sends it. ENCODING "gzip" compresses
# each body with gzip -6, the default level of gzip and of Java's GZIPOutputStream; "identity"
# leaves them as they are. Records, for scenario NAME: pool_json_bytes and pool_sent_bytes (the
# bodies' total sizes before and after ENCODING).
body_pool() {
    local name=$1 bodies=$2 encoding=$3 write_key=${4:-} dir=$work/pool-$1 first last
    rm -rf "$dir" "$dir.bin" "$dir.idx"
    mkdir -p "$dir"
    : >"$dir.bin"
    # 500 bodies at a time, so that the uncompressed ones never take much disk.
    for ((first = 0; first < bodies; first += 500)); do
        last=$((first + 500 < bodies ? first + 499 : bodies - 1))
        awk -v template="$root/bench/events/track.json" -v dir="$dir" -v first="$first" \
            -v last="$last" -v events=100 -v people=5000 -v write_key="$write_key" \
            -v seed="$(od -An -N4 -tu4 /dev/urandom)" \
            -v prefix="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
            -v ms="$(date +%s)000" -v iso="$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" '
            BEGIN {
                srand(seed)
                # The template as common.lua reads it: a newline and the blanks after it go.
                while ((getline line < template) > 0) {
                    if (text != "")
                        sub(/^[ \t]+/, "", line)
                    text = text line
                }
                parts = 0
                while (match(text, /[{][{][a-z_]+[}][}]/)) {
                    literal[++parts] = substr(text, 1, RSTART - 1)
                    key[parts] = substr(text, RSTART + 2, RLENGTH - 4)
                    text = substr(text, RSTART + RLENGTH)
                }
                for (b = first; b <= last; b++) {
                    file = sprintf("%s/%08d.json", dir, b)
                    printf "{\"batch\":[" >file
                    for (e = 0; e < events; e++) {
                        n = b * events + e
                        value["timestamp"] = iso
                        value["user_id"] = "user-" int(rand() * people)
                        value["message_id"] = "node-next-" ms "-" prefix "-" n
                        value["n"] = n
                        printf "%s", e ? "," : "" >file
                        for (p = 1; p <= parts; p++)
                            printf "%s%s", literal[p], value[key[p]] >file
                        printf "%s", text >file
                    }
                    printf "]" >file
                    if (write_key != "")
                        printf ",\"sentAt\":\"%s\",\"writeKey\":\"%s\"", iso, write_key >file
                    printf "}" >file
                    close(file)
                }
            }'
        stat -c %s "$dir"/*.json >>"$dir/json-sizes"
        if [[ $encoding == gzip ]]; then
            gzip -n -6 "$dir"/*.json
        fi
        stat -c %s "$dir"/*.json* >>"$dir/sent-sizes"
        cat "$dir"/*.json* >>"$dir.bin"
        rm "$dir"/*.json*
    done
    awk '{ printf "%.0f %.0f\n", offset, $1; offset += $1 }' "$dir/sent-sizes" >"$dir.idx"
    result_set "$name" pool_json_bytes "$(awk '{ s += $1 } END { printf "%.0f", s }' \
        "$dir/json-sizes")"
    result_set "$name" pool_sent_bytes "$(stat -c %s "$dir.bin")"
    rm -r "$dir"
}
