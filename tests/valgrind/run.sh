#!/usr/bin/env bash
# run.sh SUITE [ARGS...] — runs one Criterion suite (a unit_* executable) under valgrind's memcheck,
# as ctest does for the tests labelled "valgrind" (scripts/test.sh: the valgrind phase).
#
# Fails when the suite fails, or when valgrind reports anything (invalid access, use of an
# uninitialised value, a definite or possible leak) in the runner or in any test. Criterion runs
# each test in a child that re-executes the suite, so --trace-children=yes is what puts the tests
# themselves under valgrind; and a child's errors, leaks especially (found at its exit, after the
# test reported success), never change the runner's exit status, so every process logs to its own
# file and this script reads them all. ARGS go to the suite (default: --jobs 1).
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,10s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi
suite=$1
shift
(($# > 0)) || set -- --jobs 1

logs=$(mktemp -d -t "trackd-valgrind-$(basename -- "$suite").XXXXXX")
trap 'rm -rf -- "$logs"' EXIT

status=0
valgrind --tool=memcheck --trace-children=yes --child-silent-after-fork=yes \
    --leak-check=full --errors-for-leak-kinds=definite,possible --error-exitcode=1 \
    --num-callers=30 --log-file="$logs/%p.log" -- "$suite" "$@" || status=$?

# Every process valgrind ran ends its log with "ERROR SUMMARY: N errors"; a log without one is a
# process that died before valgrind could finish (killed, say), which hides whatever it found.
reports=0
for log in "$logs"/*.log; do
    [[ -e $log ]] || continue
    if ! grep -q 'ERROR SUMMARY: 0 errors' -- "$log"; then
        reports=$((reports + 1))
        echo "run.sh: valgrind report for $(basename -- "$suite") (process ${log##*/}):"
        cat -- "$log"
    fi
done

if ((status != 0 || reports != 0)); then
    echo "run.sh: $(basename -- "$suite") failed under valgrind: exit $status, $reports process(es) with errors" >&2
    exit 1
fi
echo "run.sh: $(basename -- "$suite"): $(find "$logs" -name '*.log' | wc -l) processes, no valgrind errors"
