#!/usr/bin/env bash
# run.sh BINARY CORPUS WORK — runs one libFuzzer harness of tests/fuzz, as ctest does in the
# TRACKD_FUZZ build (scripts/test.sh: build-fuzz/).
#
# It first replays every input of the committed corpus CORPUS (seeds and past crashers), then
# fuzzes for TRACKD_FUZZ_SECONDS seconds (default 20; 0 only replays). New inputs go to
# WORK/corpus, never into CORPUS; a crash, leak, sanitizer report, timeout or broken invariant
# leaves its input as WORK/crash-* (or leak-*, timeout-*, oom-*) and fails with the report.
# To keep a crasher as a regression input, copy it into CORPUS once it is fixed.
set -euo pipefail

if [[ $# -ne 3 ]]; then
    sed -n '2,9s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi
binary=$1
corpus=$2
work=$3
name=$(basename -- "$binary")
seconds=${TRACKD_FUZZ_SECONDS:-20}
if [[ ! $seconds =~ ^[0-9]+$ ]]; then
    echo "run.sh: TRACKD_FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2
    exit 2
fi

rm -rf -- "$work"
mkdir -p -- "$work/corpus"

args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "-artifact_prefix=$work/")
if ((seconds > 0)); then
    args+=("-max_total_time=$seconds")
else
    args+=(-runs=0)
fi
dict=$(dirname -- "${BASH_SOURCE[0]}")/$name.dict
[[ -f $dict ]] && args+=("-dict=$dict")

# Leaks are reported per input; any UBSan report is fatal (the build also says so).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

log=$work/fuzz.log
status=0
"$binary" "${args[@]}" "$work/corpus" "$corpus" >"$log" 2>&1 || status=$?
if ((status != 0)); then
    # The report is at the end; the lines before it are libFuzzer's progress.
    tail -n 80 -- "$log"
    echo "run.sh: $name failed (exit $status); input(s) kept in $work:" >&2
    for input in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
        [[ -e $input ]] && echo "    $input" >&2
    done
    exit 1
fi
# For the record: the coverage the corpus reached, then how much fuzzing added, and the runs.
grep -aE '^#[0-9]+.*(INITED|DONE)' -- "$log" | tail -n 2 || true
grep -aE '^Done [0-9]+ runs' -- "$log" || true
