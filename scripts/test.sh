#!/usr/bin/env bash
# test.sh — what `make test` (and so CI) runs: install what is missing, install the compat tests'
# npm packages, start a throwaway PostgreSQL, then run these phases:
#
#   build/       Debug, warnings as errors: every suite through ctest. Arguments are passed to
#                this ctest run (e.g. `scripts/test.sh -R compat`).
#   build-asan/  the same sources with -DTRACKD_SANITIZE=ON (AddressSanitizer, LeakSanitizer,
#                UndefinedBehaviorSanitizer): the Criterion suites, unit_*, db_* and http_* (not
#                compat_sdks or the docker checks, which drive programs, not our code in-process);
#                any sanitizer report fails it (tests/CMakeLists.txt makes every report fatal).
#   valgrind     the unit_* suites of build/ again under valgrind's memcheck (the ctest label
#                "valgrind", tests/valgrind/run.sh); any report fails it.
#   build-fuzz/  clang with -DTRACKD_FUZZ=ON: each libFuzzer harness of tests/fuzz replays its
#                committed corpus, then fuzzes for TRACKD_FUZZ_SECONDS (default 20; 0 only
#                replays); a crash fails it.
#
# TRACKD_TEST_SANITIZE=0, TRACKD_TEST_VALGRIND=0 or TRACKD_TEST_FUZZ=0 skips that phase: they
# ignore the arguments, so set all three while iterating on one suite. Every phase runs even
# when an earlier one failed; exits 1 if any failed. The time of each phase is printed at the end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzz_seconds=${TRACKD_FUZZ_SECONDS:-20}
if [[ ! $fuzz_seconds =~ ^[0-9]+$ ]]; then
    echo "test.sh: TRACKD_FUZZ_SECONDS must be a whole number of seconds, not '$fuzz_seconds'" >&2
    exit 2
fi
export TRACKD_FUZZ_SECONDS=$fuzz_seconds
sanitize=${TRACKD_TEST_SANITIZE:-1}
valgrind=${TRACKD_TEST_VALGRIND:-1}
fuzz=${TRACKD_TEST_FUZZ:-1}
for switch in TRACKD_TEST_SANITIZE TRACKD_TEST_VALGRIND TRACKD_TEST_FUZZ; do
    if [[ ! ${!switch:-1} =~ ^[01]$ ]]; then
        echo "test.sh: $switch must be 0 or 1, not '${!switch}'" >&2
        exit 2
    fi
done

# How long each phase took, printed at the end (CI's budget is the sum).
timings=()
failed=()
phase_start=$SECONDS
phase_done() {
    local took=$((SECONDS - phase_start))
    echo "test.sh: $1: ${took}s"
    timings+=("$(printf '%-24s %5ds' "$1" "$took")")
    phase_start=$SECONDS
}
summary() {
    echo
    echo "test.sh: times"
    printf '    %s\n' "${timings[@]}"
    printf '    %-24s %5ds\n' total "$SECONDS"
}

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
phase_done "dependencies"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug -DTRACKD_WERROR=ON
cmake --build build -j2
phase_done "build/"

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
phase_done "PostgreSQL"

# --no-tests=error: a run that finds no test at all is a broken run, not a green one. The
# valgrind label is the valgrind phase's.
ctest --test-dir build --output-on-failure --no-tests=error -j2 -LE '^valgrind$' "$@" ||
    failed+=("build/ tests")
phase_done "build/ tests"

if ((sanitize)); then
    echo "test.sh: the Criterion suites under AddressSanitizer and UndefinedBehaviorSanitizer"
    if cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTRACKD_WERROR=ON -DTRACKD_SANITIZE=ON &&
        cmake --build build-asan -j2; then
        phase_done "build-asan/"
        # The tests' environment (ASAN_OPTIONS, UBSAN_OPTIONS) comes from tests/CMakeLists.txt.
        ctest --test-dir build-asan --output-on-failure --no-tests=error -j2 \
            -R '^(unit|db|http)_' ||
            failed+=("build-asan/ tests")
        phase_done "build-asan/ tests"
    else
        failed+=("build-asan/ build")
        phase_done "build-asan/"
    fi
fi

if ((valgrind)); then
    echo "test.sh: the unit suites under valgrind"
    # One test at a time per suite, two suites at a time: one valgrind per core.
    ctest --test-dir build --output-on-failure --no-tests=error -j2 -L '^valgrind$' ||
        failed+=("valgrind")
    phase_done "valgrind"
fi

if ((fuzz)); then
    echo "test.sh: the libFuzzer harnesses, ${fuzz_seconds}s each"
    # Only the harnesses and the libraries they link are built in this tree.
    if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACKD_WERROR=ON \
        -DTRACKD_FUZZ=ON && cmake --build build-fuzz -j2 --target fuzzers; then
        phase_done "build-fuzz/"
        # Two at a time, one per core; the timeout leaves room for the corpus replay.
        ctest --test-dir build-fuzz --output-on-failure --no-tests=error -j2 -L '^fuzz$' \
            --timeout $((fuzz_seconds + 300)) || failed+=("build-fuzz/ fuzzing")
        phase_done "build-fuzz/ fuzzing"
    else
        failed+=("build-fuzz/ build")
        phase_done "build-fuzz/"
    fi
fi

summary
if ((${#failed[@]} > 0)); then
    printf 'test.sh: FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "test.sh: all passed"
