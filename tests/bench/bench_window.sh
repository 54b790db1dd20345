#!/usr/bin/env bash
# Sliding-window drift reports with and without the live-window cache
# (monitor/wcache.c), in one process on one database: populates ROWS
# (600,000) predictions over the last 50 minutes (tests/bench/bench_scale.c),
# then STEPS (30) times appends 1000 rows, moves the window's start 3 s on
# and reports the window both ways. Prints both medians and their ratio;
# exits non-zero only if the two reports ever differ. Never fails on time.
# Usage: tests/bench/bench_window.sh [build-dir]
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
ROWS=${ROWS:-600000}
STEPS=${STEPS:-30}
BENCH="$BUILD/tests/bench/bench_scale"
[ -x "$BENCH" ] || { echo "bench_scale not built ($BENCH)"; exit 2; }
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
echo "== bench_window: $ROWS rows, $STEPS steps, $(nproc) cores"
"$BENCH" populate "$data" "$ROWS" 2>&1 | grep -v ' INFO '
"$BENCH" slide "$data" "$STEPS" 1000 2>&1 | grep -v ' INFO '
