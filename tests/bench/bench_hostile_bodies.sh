#!/usr/bin/env bash
# Peak RSS (VmHWM) of a fresh server before and after the hostile bodies of
# issue 11: 32 MB of {"token":[0,...]} to the unauthenticated sign-in, four
# of 16 MB at once, large arrays to small routes, and an ingest body past
# its value cap. Prints figures, never fails on them (the bounds are
# asserted by tests/integration/test_hardening2_http.py).
# Usage: tests/bench/bench_hostile_bodies.sh [build-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-${BUILD:-build}}
exec /usr/bin/python3 "$here/bench_hostile_bodies.py" "$(cd "$BUILD" && pwd)/modelwatch"
