#!/usr/bin/env bash
# entrypoint_test.sh — docker/entrypoint.sh and docker/healthcheck.sh, run outside Docker against
# the test cluster with the built trackd (no Docker engine needed):
#
#   - three containers' entry points started at once on a new database: the schema is migrated
#     once, exactly one creates workspace "default" and prints its keys, the others say it
#     exists, the rules of rules/ are stored, and each execs trackd;
#   - the health check answers 0 while trackd serves and 1 once it is gone;
#   - an unreachable database: bounded retries, then exit 1; a configuration error: exit 2 at once;
#   - other commands pass straight to trackd; invalid rules do not keep trackd from starting;
#   - a restart says how to get working keys again; empty TRACKD_* variables count as unset.
#
# Environment: TRACKD_TEST_DATABASE_URL (a cluster where databases may be created; set by
# scripts/test.sh) and TRACKD_BIN (the built trackd).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
entrypoint=$root/docker/entrypoint.sh
healthcheck=$root/docker/healthcheck.sh

: "${TRACKD_TEST_DATABASE_URL:?set TRACKD_TEST_DATABASE_URL (scripts/test.sh does)}"
: "${TRACKD_BIN:?set TRACKD_BIN to the built trackd}"
export TRACKD_BIN

# A libpq connection string for database $1 of the test cluster (a later dbname wins).
url_for() {
    local url=$TRACKD_TEST_DATABASE_URL
    if [[ $url == postgres://* || $url == postgresql://* ]]; then
        [[ $url == *\?* ]] && echo "$url&dbname=$1" || echo "$url?dbname=$1"
    else
        echo "$url dbname=$1"
    fi
}

database=trackd_entrypoint_$$
scratch=$(mktemp -d -t trackd-entrypoint-test.XXXXXX)
pids=()
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    psql "$TRACKD_TEST_DATABASE_URL" -X -q -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
    rm -rf -- "$scratch"
}
trap cleanup EXIT
psql "$TRACKD_TEST_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $database"
export DATABASE_URL
DATABASE_URL=$(url_for "$database")

passed=0
failed=0
check() {
    local message=$1
    shift
    if "$@"; then
        echo "ok   $message"
        passed=$((passed + 1))
    else
        echo "FAIL $message" >&2
        failed=$((failed + 1))
    fi
}
# wait_for FILE PATTERN SECONDS PID: until FILE has a line matching PATTERN; fails after SECONDS,
# or as soon as process PID has exited without writing it.
wait_for() {
    local deadline=$((SECONDS + $3))
    until grep -qE -- "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        kill -0 "$4" 2>/dev/null || grep -qE -- "$2" "$1" || return 1
        sleep 0.2
    done
}
sql() {
    psql "$DATABASE_URL" -X -A -t -v ON_ERROR_STOP=1 -c "$1"
}
fails() {
    ! "$@" 2>/dev/null
}
says_version() {
    [[ $(bash "$entrypoint" version) == "trackd "* ]]
}
lists_default() {
    bash "$entrypoint" workspace list | grep -q '^default'
}
lists_default_with_empty_settings() {
    TRACKD_PUBLIC_URL='' TRACKD_LOG_LEVEL='' TRACKD_FCM_CREDENTIALS='' bash "$entrypoint" workspace list |
        grep -q '^default'
}

# --- Three at once on an empty database: two workers, one server --------------------------------
export TRACKD_RULES_DIR=$root/rules
for i in 1 2; do
    bash "$entrypoint" worker >"$scratch/start$i.log" 2>&1 &
    pids+=($!)
done
TRACKD_LISTEN=127.0.0.1:0 bash "$entrypoint" serve >"$scratch/start3.log" 2>&1 &
pids+=($!)
for i in 1 2; do
    check "entry point $i execs trackd worker" \
        wait_for "$scratch/start$i.log" 'worker running' 60 "${pids[i - 1]}"
done
check "entry point 3 execs trackd serve" \
    wait_for "$scratch/start3.log" 'serving on 127\.0\.0\.1:[0-9]+' 60 "${pids[2]}"

migrations=$(find "$root/migrations" -name '*.sql' | wc -l)
check "every migration applied once" [ "$(sql 'SELECT count(*) FROM schema_migrations')" = "$migrations" ]
check "one workspace 'default'" [ "$(sql "SELECT count(*) FROM workspaces WHERE name = 'default'")" = 1 ]
created=$(grep -l "^Created workspace 'default'" "$scratch"/start*.log | wc -l)
check "exactly one entry point created it (found $created)" [ "$created" = 1 ]
check "its keys are printed as JSON" \
    grep -qE '^    \{"name":"default","site_id":"[^"]+","api_key":"[0-9a-f]+","write_key":"[0-9a-f]+"\}$' \
    "$scratch"/start*.log
others=$(grep -lE "workspace 'default' (already exists|was just created by another container)" \
    "$scratch"/start*.log | wc -l)
check "the other two say it exists" [ "$others" = 2 ]
rule_files=$(find "$root/rules" -maxdepth 1 -name '*.json' | wc -l)
check "the $rule_files rules of rules/ are stored" \
    [ "$(sql "SELECT count(*) FROM rules r JOIN workspaces w ON w.id = r.workspace_id WHERE w.name = 'default'")" = "$rule_files" ]

port=$(sed -nE 's/.*serving on 127\.0\.0\.1:([0-9]+).*/\1/p' "$scratch/start3.log" | head -n 1)
check "the health check passes while trackd serves" \
    env TRACKD_LISTEN="0.0.0.0:${port:-1}" bash "$healthcheck"
kill -TERM "${pids[2]}" 2>/dev/null || true
wait "${pids[2]}" || true
check "the health check fails once trackd is gone" \
    fails env TRACKD_LISTEN="127.0.0.1:${port:-1}" bash "$healthcheck"
for pid in "${pids[@]:0:2}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
done
pids=()

# --- A restart: nothing to create, keys not printed again ------------------------------------
bash "$entrypoint" worker >"$scratch/restart.log" 2>&1 &
pids+=($!)
check "a restart execs trackd" wait_for "$scratch/restart.log" 'worker running' 60 "${pids[0]}"
check "a restart says the workspace exists" grep -q "workspace 'default' already exists" "$scratch/restart.log"
check "a restart prints no keys" fails grep -q api_key "$scratch/restart.log"
check "a restart says how to get keys again" \
    grep -qF "docker compose run --rm trackd workspace rotate-keys default" "$scratch/restart.log"
kill -TERM "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" || true
pids=()

# --- Rules that do not validate: trackd starts anyway, with the rules already stored -------------
mkdir -p "$scratch/bad-rules"
echo '{"name": "broken"}' >"$scratch/bad-rules/broken.json"
TRACKD_RULES_DIR=$scratch/bad-rules bash "$entrypoint" worker >"$scratch/bad-rules.log" 2>&1 &
pids+=($!)
check "invalid rules: trackd still starts" \
    wait_for "$scratch/bad-rules.log" 'worker running' 60 "${pids[0]}"
check "invalid rules: the log says they were not loaded" grep -q "was not loaded" "$scratch/bad-rules.log"
kill -TERM "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" || true
pids=()

# --- No database, bad configuration, other commands --------------------------------------------
status=0
SECONDS=0
DATABASE_URL="postgresql://nobody@/nothing?host=$scratch/no-socket" TRACKD_DB_WAIT_ATTEMPTS=3 \
    TRACKD_DB_WAIT_SECONDS=0 bash "$entrypoint" serve >"$scratch/nodb.log" 2>&1 || status=$?
check "unreachable database: exit 1 (got $status)" [ "$status" = 1 ]
check "unreachable database: gives up after 3 attempts" grep -q "after 3 attempts; giving up" "$scratch/nodb.log"
check "unreachable database: within 30 s" [ "$SECONDS" -lt 30 ]
status=0
TRACKD_LOG_LEVEL=loud bash "$entrypoint" serve >"$scratch/badconf.log" 2>&1 || status=$?
check "configuration error: exit 2 without retrying (got $status)" [ "$status" = 2 ]
check "other commands go straight to trackd" says_version
check "trackd workspace list through the entry point" lists_default
# docker-compose.yml passes a setting without a default as it is set where compose runs: an empty
# one (TRACKD_PUBLIC_URL= in .env) is dropped by the entry point, which trackd itself would refuse.
check "trackd alone refuses an empty setting" fails env TRACKD_LOG_LEVEL= "$TRACKD_BIN" workspace list
check "the entry point drops empty TRACKD_* settings, as if unset" lists_default_with_empty_settings

if ((failed > 0)); then
    for log in "$scratch"/*.log; do
        echo "--- $(basename "$log")" >&2
        tail -n 20 "$log" >&2
    done
fi
echo "entrypoint_test: $passed passed, $failed failed"
((failed == 0))
