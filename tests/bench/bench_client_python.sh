#!/usr/bin/env bash
# The Python client's PredictionLogger: its throughput next to raw HTTP
# ingest of the same rows, and what one log() call costs a serving thread
# (tests/bench/bench_client_python.py). Prints figures, never fails on time.
# Usage: tests/bench/bench_client_python.sh [build-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-${BUILD:-build}}
exec /usr/bin/python3 "$here/bench_client_python.py" "$(cd "$BUILD" && pwd)"
