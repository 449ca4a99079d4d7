#!/usr/bin/env bash
# test.sh — what `make test` (and so CI) runs: install what is missing, install the compat tests'
# npm packages, build with warnings as errors, start a throwaway PostgreSQL, run every suite through
# ctest. Arguments are passed to ctest (e.g. `scripts/test.sh -R compat`). Exits with ctest's status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/deps.sh --with-node

# npm writes node_modules/.package-lock.json on every install: older than package-lock.json (or
# missing) means the installed packages are not the locked ones.
compat=tests/compat
if [[ -f $compat/package-lock.json ]] &&
    [[ ! -f $compat/node_modules/.package-lock.json ||
        $compat/package-lock.json -nt $compat/node_modules/.package-lock.json ]]; then
    echo "test.sh: installing $compat's npm packages"
    (cd "$compat" && npm ci --no-audit --no-fund --loglevel=error)
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug -DTRACKD_WERROR=ON
cmake --build build -j2

pg_dir=$(mktemp -d -t trackd-test-pg.XXXXXX)
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    scripts/pg.sh destroy "$pg_dir" >/dev/null || echo "test.sh: could not remove the cluster in $pg_dir" >&2
    rm -rf -- "$pg_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# mktemp makes the directory 700; the postgres user must reach it to keep the data inside it.
chmod 711 "$pg_dir"

TRACKD_PG_FAST=1 scripts/pg.sh start "$pg_dir"
TRACKD_TEST_DATABASE_URL=$(scripts/pg.sh url "$pg_dir")
export TRACKD_TEST_DATABASE_URL

# --no-tests=error: a run that finds no test at all is a broken run, not a green one.
status=0
ctest --test-dir build --output-on-failure --no-tests=error -j2 "$@" || status=$?
exit "$status"
