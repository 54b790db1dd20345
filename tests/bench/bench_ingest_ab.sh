#!/usr/bin/env bash
# Ingest cost of a change: bench_ingest's HTTP run (10 numeric features,
# batches of 1000, ids that grow, sync=full, SQLite) against two server
# binaries in alternation, ROUNDS rounds of SECS seconds each, and per
# binary the median throughput and the median server CPU time (user +
# system, from /proc) per 1000 predictions, which a busy shared machine
# disturbs less than throughput. Prints B/A ratios.
# Usage: tests/bench/bench_ingest_ab.sh A_BINARY B_BINARY [build-dir]
# Env: SECS (5), ROUNDS (5), CLIENTS (4). Never fails on time.
set -euo pipefail
A=$1 B=$2 BUILD=${3:-build}
SECS=${SECS:-5} ROUNDS=${ROUNDS:-5} CLIENTS=${CLIENTS:-4}
BENCH="$BUILD/tests/bench/bench_ingest"
[ -x "$BENCH" ] || { echo "bench_ingest not built ($BENCH)"; exit 2; }
schema='{"schema":{"features":[{"name":"f0","type":"numeric"},{"name":"f1","type":"numeric"},{"name":"f2","type":"numeric"},{"name":"f3","type":"numeric"},{"name":"f4","type":"numeric"},{"name":"f5","type":"numeric"},{"name":"f6","type":"numeric"},{"name":"f7","type":"numeric"},{"name":"f8","type":"numeric"},{"name":"f9","type":"numeric"}],"prediction":{"type":"numeric"}}}'
tck=$(getconf CLK_TCK)
pid= data=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "$data" ] && rm -rf "$data"; pid= data=; }
trap cleanup EXIT
one() { # binary -> "predictions/s cpu_ms_per_1000"
  data=$(mktemp -d)
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  extra=()
  "$1" serve --help | grep -q -- '--rate-limit' && extra+=(--rate-limit 0)
  "$1" serve --listen "127.0.0.1:$port" --data-dir "$data" --access-log off \
    --eval-interval-seconds 0 "${extra[@]}" >"$data/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
  tok=$(cat "$data/admin.token")
  curl -sf -H "Authorization: Bearer $tok" -d '{"name":"m"}' "http://127.0.0.1:$port/api/v1/models" >/dev/null
  curl -sf -H "Authorization: Bearer $tok" -d "$schema" "http://127.0.0.1:$port/api/v1/models/m/versions" >/dev/null
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$("$BENCH" --port "$port" --token "$tok" --clients "$CLIENTS" --seconds "$SECS" \
    --ids seq --sync full --sqlite-dir "$data" 2>&1 || true)
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  rate=$(echo "$out" | sed -n 's/.* \([0-9]*\) predictions\/s.*/\1/p' | head -1)
  batches=$(echo "$out" | sed -n 's/^ *\([0-9]*\) batches in.*/\1/p' | head -1)
  cleanup
  awk -v r="$rate" -v b="$batches" -v c=$((c1 - c0)) -v t="$tck" \
    'BEGIN { printf "%s %.3f\n", r, (c / t * 1000) / b }'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ra=() rb=() ca=() cb=()
echo "== bench_ingest A/B: $ROUNDS rounds of ${SECS}s, $(nproc) cores"
echo "   A=$A"
echo "   B=$B"
for r in $(seq "$ROUNDS"); do
  read -r x y < <(one "$A"); ra+=("$x"); ca+=("$y")
  read -r x y < <(one "$B"); rb+=("$x"); cb+=("$y")
  echo "  round $r: A ${ra[-1]} pred/s, ${ca[-1]} CPU ms/1000   B ${rb[-1]} pred/s, ${cb[-1]} CPU ms/1000"
done
mra=$(printf '%s\n' "${ra[@]}" | median) mrb=$(printf '%s\n' "${rb[@]}" | median)
mca=$(printf '%s\n' "${ca[@]}" | median) mcb=$(printf '%s\n' "${cb[@]}" | median)
echo "median: A $mra pred/s, $mca server CPU ms per 1000 predictions"
echo "        B $mrb pred/s, $mcb server CPU ms per 1000 predictions"
awk -v a="$mra" -v b="$mrb" -v x="$mca" -v y="$mcb" \
  'BEGIN { printf "B/A: throughput %.3f, CPU per prediction %.3f\n", b / a, y / x }'
