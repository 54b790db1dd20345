#!/bin/sh
# Runs the drift benchmark in C and with scipy on the same data and prints
# both times and their ratio. Usage: tests/bench/bench_drift.sh [BENCH_BIN]
# BENCH_BIN defaults to build/tests/bench/bench_stats. Never fails on time.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../build/tests/bench/bench_stats}
if [ ! -x "$bin" ]; then
  echo "bench_stats not found at $bin (build it, or pass its path)" >&2
  exit 2
fi
exec "$bin" --compare "$here/bench_stats_scipy.py"
