#!/usr/bin/env bash
# Silence matchers: compile time, heap and worst-case match time of RE2 (as
# alerts/matchers.c configures it, and with RE2's defaults) and PCRE2 (with
# match, depth and heap limits) on the hostile patterns of issue 11 and on
# realistic matchers. Prints figures, never fails on time.
# Usage: tests/bench/bench_regex.sh [build-dir]
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
BENCH="$BUILD/tests/bench/bench_regex"
[ -x "$BENCH" ] || { echo "bench_regex not built ($BENCH; needs libpcre2-dev)"; exit 2; }
"$BENCH" "${REPS:-3}"
