#!/usr/bin/env bash
# Drift over a 10,000,000-row window: populates a database the way ingest
# writes it (tests/bench/bench_scale.c), computes the report in-process
# (time, peak RSS), then asks the real server for the same report over HTTP
# and reads the server's peak RSS (VmHWM). Target: peak RSS under 500 MB.
# Usage: tests/bench/bench_scale.sh [build-dir]
# Env: ROWS (10000000), MEMORY_MB (256), KEEP=1 keeps the data directory,
# BASE_BUILD (a build directory of an older commit: its in-process report is
# run RUNS (3) times alternated with this one's, for a same-run baseline),
# BACKEND (sqlite, or postgres: a PostgreSQL 15 cluster this script starts,
# tests/bench/pg_cluster.py).
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
ROWS=${ROWS:-10000000}
MEMORY_MB=${MEMORY_MB:-256}
BACKEND=${BACKEND:-sqlite}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="$BUILD/modelwatch"
BENCH="$BUILD/tests/bench/bench_scale"
[ -x "$BENCH" ] || { echo "bench_scale not built ($BENCH)"; exit 2; }
data=$(mktemp -d)
pid=
pg=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -z "${KEEP:-}" ] && rm -rf "$data"
  [ -n "$pg" ] && /usr/bin/python3 "$HERE/pg_cluster.py" stop $pg
  true
}
trap cleanup EXIT
target=$data db=()
if [ "$BACKEND" = postgres ]; then
  pg=$(/usr/bin/python3 "$HERE/pg_cluster.py" start)
  target=$(/usr/bin/python3 "$HERE/pg_cluster.py" db $pg)
  db=(--database "$target")
fi
echo "== bench_scale: $BACKEND, $ROWS rows, $(nproc) cores, data in $data"
"$BENCH" populate "$target" "$ROWS" 2>&1 | grep -v ' INFO '
if [ -n "${BASE_BUILD:-}" ]; then
  # Same-run baseline: RUNS (3) reports with the base build's bench_scale
  # and with this one, alternated, on the same database; medians, ratio
  # and the load average (the machine may be shared).
  base="$BASE_BUILD/tests/bench/bench_scale"
  [ -x "$base" ] || { echo "no $base"; exit 2; }
  tb=() tn=()
  for i in $(seq "${RUNS:-3}"); do
    for which in base new; do
      b=$BENCH; [ $which = base ] && b=$base
      line=$("$b" report "$target" "$MEMORY_MB" 2>&1 | grep 'in-process')
      echo "  $which: $line"
      s=$(echo "$line" | sed -E 's/.* in ([0-9.]+) s.*/\1/')
      if [ $which = base ]; then tb+=("$s"); else tn+=("$s"); fi
    done
  done
  med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  mb=$(med "${tb[@]}") mn=$(med "${tn[@]}")
  echo "median in-process report: base $mb s, this build $mn s ($(awk -v a="$mb" -v b="$mn" 'BEGIN {printf "%.2fx", a / b}') faster); load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
"$BENCH" report "$target" "$MEMORY_MB" 2>&1 | grep -v ' INFO '
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" --access-log off "${db[@]}" \
  --eval-interval-seconds 0 --drift-memory-mb "$MEMORY_MB" >"$data/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
tok=$(cat "$data/admin.token" 2>/dev/null || true)
[ -n "$tok" ] || { echo "no admin token: the server did not start:"; tail -5 "$data/server.log"; exit 1; }
before=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
t=$(curl -s -o "$data/report.json" -w '%{time_total}' -H "Authorization: Bearer $tok" \
  "http://127.0.0.1:$port/api/v1/models/scale/versions/1/drift")
after=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
count=$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["window"]["count"], r["dataset"]["drift_share"], r["elapsed_ms"])' "$data/report.json")
echo "drift report over HTTP (GET .../drift, last hour): window count, drift share, server ms = $count"
printf '  curl total %.2f s; server peak RSS %d MB before the request, %d MB after (VmHWM)\n' \
  "$t" $((before / 1024)) $((after / 1024))
