#!/usr/bin/env bash
# A drift report beyond the memory budget from per-bucket rollups
# (monitor/rollup.c) beside the merged block summaries (monitor/sketch.c)
# and the exact path over the same windows, same run
# (tests/bench/bench_sketch.c): populates ROWS rows over 50 minutes in
# BLOCK-row blocks with their summaries, rolls the buckets up, then reports
# all the data and the data less 2.5 minutes at each end with a 1 MB
# budget (every numeric column approximate) from the rollups, from the
# block summaries alone, and exactly (EXACT_MB budget, skipped when the
# window does not fit it), with each column's stated rank error and the
# KS distance from the exact D. ROWS=100000000 needs about 10 GB of disk
# and 5 minutes to populate here; the exact path about 80 s and 2.6 GB.
# Usage: tests/bench/bench_sketch.sh [build-dir]
# Env: ROWS (10000000), BLOCK (8192), EXACT_MB (4096), KEEP=1 keeps the
# data, BACKEND (sqlite, or postgres: tests/bench/pg_cluster.py starts a
# cluster). Never fails on time.
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
ROWS=${ROWS:-10000000}
BLOCK=${BLOCK:-8192}
EXACT_MB=${EXACT_MB:-4096}
BACKEND=${BACKEND:-sqlite}
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH="$BUILD/tests/bench/bench_sketch"
[ -x "$BENCH" ] || { echo "bench_sketch not built ($BENCH)"; exit 2; }
data=$(mktemp -d)
pg=
cleanup() {
  [ -z "${KEEP:-}" ] && rm -rf "$data"
  [ -n "$pg" ] && /usr/bin/python3 "$HERE/pg_cluster.py" stop $pg
  true
}
trap cleanup EXIT
target=$data
if [ "$BACKEND" = postgres ]; then
  pg=$(/usr/bin/python3 "$HERE/pg_cluster.py" start)
  target=$(/usr/bin/python3 "$HERE/pg_cluster.py" db $pg)
fi
echo "== bench_sketch: $BACKEND, $ROWS rows in $BLOCK-row blocks, $(nproc) cores"
"$BENCH" populate "$target" "$ROWS" "$BLOCK" 2>&1 | grep -v ' INFO '
"$BENCH" report "$target" "$EXACT_MB" 2>&1 | grep -v ' INFO '
