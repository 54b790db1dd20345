#!/usr/bin/env bash
# A drift report beyond the memory budget from merged block summaries
# (monitor/sketch.c) beside the exact path over the same window, same run
# (tests/bench/bench_sketch.c): populates ROWS rows in BLOCK-row blocks with
# their summaries, then reports the last hour with a 1 MB budget (every
# numeric column from summaries) and exactly (EXACT_MB budget, skipped when
# the window does not fit it), with each column's stated rank error and
# the summaries' KS distance from the exact D.
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
