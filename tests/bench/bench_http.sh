#!/usr/bin/env bash
# HTTP overhead of modelwatch: wrk against /healthz of modelwatch and of a
# minimal CivetWeb program (tests/bench/civetweb_min.c) in the same run.
# Usage: tests/bench/bench_http.sh [build-dir]   (needs wrk)
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
DUR=${DUR:-10s}
command -v wrk >/dev/null || { echo "wrk missing (apt-get install wrk)"; exit 1; }
data=$(mktemp -d)
trap 'kill $mw $min 2>/dev/null || true; wait 2>/dev/null; rm -rf "$data"' EXIT
"$BUILD/modelwatch" serve --listen 127.0.0.1:18998 --data-dir "$data" \
  --access-log off >/dev/null 2>&1 &
mw=$!
"$BUILD/tests/bench/bench_civetweb_min" 127.0.0.1:18999 &
min=$!
sleep 1
rate() { wrk -t2 -c32 -d"$DUR" "$1" | awk '/Requests\/sec/ {print $2}'; }
r_min=$(rate http://127.0.0.1:18999/healthz)
r_mw=$(rate http://127.0.0.1:18998/healthz)
kill $mw; wait $mw 2>/dev/null || true
"$BUILD/modelwatch" serve --listen 127.0.0.1:18998 --data-dir "$data" \
  --access-log on >/dev/null 2>&1 &
mw=$!
sleep 1
r_log=$(rate http://127.0.0.1:18998/healthz)
printf 'wrk -t2 -c32 -d%s /healthz\n' "$DUR"
printf '  minimal civetweb        %12s req/s\n' "$r_min"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '  modelwatch (no log)     %12s req/s  (%s of minimal)\n' "$r_mw" "$(ratio "$r_mw" "$r_min")"
printf '  modelwatch (access log) %12s req/s  (%s of minimal)\n' "$r_log" "$(ratio "$r_log" "$r_min")"
