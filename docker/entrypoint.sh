#!/usr/bin/env bash
# entrypoint.sh — the image's entry point: what scripts/run.sh does after building, for a
# container.
#
#   serve [--no-workers] | worker   wait for the database (bounded retries of `trackd migrate`),
#                                   migrate, make sure workspace "default" exists (its keys are
#                                   printed once, by the container that creates it), load
#                                   $TRACKD_RULES_DIR/*.json into it, then exec trackd
#   anything else                   exec trackd with those arguments (`workspace list`, ...)
#
# Safe when several containers start at once: `trackd migrate` serializes on an advisory lock,
# and workspace names are unique, so the container that loses the race to create "default" sees
# it exists and goes on. Rules are loaded by every container, in one transaction each: the same
# files give the same rules.
#
# An empty TRACKD_* variable is dropped before trackd runs (any command): trackd refuses empty
# values, and docker-compose.yml passes settings without a default as they are set where
# `docker compose` runs, so that TRACKD_PUBLIC_URL= in an .env file means "unset", as it reads.
#
# Environment (besides trackd's own, e.g. DATABASE_URL):
#   TRACKD_DB_WAIT_ATTEMPTS  tries of `trackd migrate` before giving up (default 30)
#   TRACKD_DB_WAIT_SECONDS   pause between tries (default 2)
#   TRACKD_RULES_DIR         directory of rule files (default /rules)
#   TRACKD_BIN               the trackd binary (default trackd, from PATH)
set -euo pipefail

trackd=${TRACKD_BIN:-trackd}
rules_dir=${TRACKD_RULES_DIR:-/rules}
attempts=${TRACKD_DB_WAIT_ATTEMPTS:-30}
pause=${TRACKD_DB_WAIT_SECONDS:-2}
workspace=default

say() {
    printf 'entrypoint: %s\n' "$*"
}

die() {
    printf 'entrypoint: %s\n' "$*" >&2
    exit 1
}

for name in "${!TRACKD_@}"; do
    [[ -n ${!name} ]] || unset "$name"
done

if (($# == 0)); then
    set -- serve
fi
case $1 in
serve | worker) ;;
*) exec "$trackd" "$@" ;;
esac

[[ $attempts =~ ^[1-9][0-9]*$ ]] ||
    die "TRACKD_DB_WAIT_ATTEMPTS must be a positive integer, not '$attempts'"
[[ $pause =~ ^[0-9]+$ ]] || die "TRACKD_DB_WAIT_SECONDS must be a whole number, not '$pause'"

# The database may still be starting (or restarting): `trackd migrate` exits 1 while it cannot
# connect, and 2 on a configuration error, which no wait will fix.
attempt=1
while :; do
    status=0
    output=$("$trackd" migrate 2>&1) || status=$?
    if ((status == 0)); then
        printf '%s\n' "$output"
        break
    fi
    if ((status == 2)); then
        printf '%s\n' "$output" >&2
        echo "entrypoint: trackd migrate refused its configuration (exit 2); not retrying" >&2
        exit 2
    fi
    if ((attempt >= attempts)); then
        printf '%s\n' "$output" >&2
        die "the database could not be migrated after $attempts attempts; giving up"
    fi
    say "waiting for the database (attempt $attempt of $attempts): $(head -n 1 <<<"$output")"
    attempt=$((attempt + 1))
    sleep "$pause"
done

has_workspace() {
    local list
    list=$("$trackd" workspace list) || die "trackd workspace list failed"
    awk -v name="$workspace" '$1 == name { found = 1 } END { exit !found }' <<<"$list"
}

if has_workspace; then
    say "workspace '$workspace' already exists; its keys were printed once, in the log of the" \
        "container that created it. Lost them? New ones (the old ones keep working for a grace" \
        "period): docker compose run --rm trackd workspace rotate-keys $workspace"
else
    # Its error, if any, goes straight to the log; only the keys are captured.
    created_status=0
    created=$("$trackd" workspace create "$workspace") || created_status=$?
    if ((created_status == 0)); then
        echo
        echo "Created workspace '$workspace'. Its credentials (shown only this once):"
        echo
        printf '    %s\n' "$created"
        echo
    elif has_workspace; then
        # Another container created it between our list and our create.
        say "workspace '$workspace' was just created by another container; its keys are in that" \
            "container's log (or: docker compose run --rm trackd workspace rotate-keys $workspace)"
    else
        die "could not create workspace '$workspace' (see above)"
    fi
fi

shopt -s nullglob
rule_files=("$rules_dir"/*.json)
shopt -u nullglob
if ((${#rule_files[@]} > 0)); then
    # All or nothing: a rule that does not validate is named with its field, and none is
    # loaded. As with `make run`, trackd then serves with the rules already stored.
    if "$trackd" rules load --workspace "$workspace" "$rules_dir"; then
        say "loaded ${#rule_files[@]} rule file(s) from $rules_dir"
    else
        say "$rules_dir was not loaded (see above); serving with the rules already stored"
    fi
else
    say "no *.json in $rules_dir; no rules loaded"
fi

# trackd becomes PID 1: SIGTERM from `docker stop` reaches it directly, and it answers the
# requests it accepted before exiting.
exec "$trackd" "$@"
