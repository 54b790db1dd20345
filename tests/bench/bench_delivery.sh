#!/usr/bin/env bash
# Webhook delivery: throughput to a local receiver (2000 queued alias.moved
# events) and enqueue->receive latency (median/p99). Prints figures, never
# fails on time. Usage: tests/bench/bench_delivery.sh [build-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-${BUILD:-build}}
exec /usr/bin/python3 "$here/bench_delivery.py" "$(cd "$BUILD" && pwd)"
