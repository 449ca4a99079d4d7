#!/usr/bin/env bash
# run.sh — what `make run` does: install what is missing, build, start a private PostgreSQL under
# .trackd/ (unless DATABASE_URL is set), apply migrations, make sure workspace "default" exists,
# load rules/ into it, then serve in the foreground. Ctrl-C stops trackd, then the PostgreSQL this script
# started (never one it did not start).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

pg_dir=.trackd
credentials=$pg_dir/default-workspace.json
trackd=build/trackd
stop_pg=0
trackd_pid=

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    if [[ -n $trackd_pid ]] && kill -0 "$trackd_pid" 2>/dev/null; then
        kill -TERM "$trackd_pid" 2>/dev/null || true
        wait "$trackd_pid" 2>/dev/null || true
    fi
    if ((stop_pg)); then
        scripts/pg.sh stop "$pg_dir" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/deps.sh

# TRACKD_WERROR is reset because `make test` leaves it ON in the shared build/ cache, and a new
# compiler warning should not keep anyone from running the server.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACKD_WERROR=OFF
cmake --build build -j2

if [[ -z ${DATABASE_URL:-} ]]; then
    # Stop it on exit only if it was not already running (say, for a `make run` in another
    # terminal).
    if ! scripts/pg.sh status "$pg_dir" >/dev/null; then
        stop_pg=1
    fi
    scripts/pg.sh start "$pg_dir"
    DATABASE_URL=$(scripts/pg.sh url "$pg_dir")
    export DATABASE_URL
fi

"$trackd" migrate

workspaces=$("$trackd" workspace list)
if awk '$1 == "default" { found = 1 } END { exit !found }' <<<"$workspaces"; then
    echo
    echo "Workspace 'default' already exists. Its keys were shown once, when it was created."
    if [[ -f $credentials ]]; then
        echo "A copy was saved in $credentials."
    else
        echo "There is no saved copy in $credentials (it was created elsewhere)."
    fi
    echo "Lost them? With the DATABASE_URL printed below, this prints new ones (the old ones"
    echo "keep working for 24 hours):  $trackd workspace rotate-keys default"
else
    created=$("$trackd" workspace create default)
    mkdir -p "$pg_dir"
    (
        umask 077
        printf '%s\n' "$created" >"$credentials"
    )
    chmod 600 "$credentials"
    echo
    echo "Created workspace 'default'. Its credentials (shown only this once):"
    echo
    printf '    %s\n' "$created"
    echo
    echo "A copy is saved in $credentials (mode 600)."
fi
echo

shopt -s nullglob
rule_files=(rules/*.json)
shopt -u nullglob
if ((${#rule_files[@]} > 0)); then
    # All or nothing: a rule that does not validate is named with its field, and none is loaded.
    "$trackd" rules load --workspace default rules/ ||
        echo "rules/ was not loaded (see above); serving with the rules already stored."
fi

echo "DATABASE_URL=$DATABASE_URL"
echo "Serving on ${TRACKD_LISTEN:-127.0.0.1:8080}; Ctrl-C stops."
# trackd runs as a child rather than with exec so that the traps above still stop PostgreSQL when
# it exits. On Ctrl-C or SIGTERM, cleanup sends trackd SIGTERM: a script's background child starts
# with SIGINT ignored, so unless trackd installs its own SIGINT handler, that SIGTERM is what stops
# it (and if it does install one, it gets both and must shut down once).
"$trackd" serve &
trackd_pid=$!
status=0
wait "$trackd_pid" || status=$?
trackd_pid=
exit "$status"
