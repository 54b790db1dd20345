#!/usr/bin/env bash
# Prediction ingest over HTTP (tests/bench/bench_ingest.c: 10 numeric
# features, batches of 1000, 4 concurrent keep-alive clients) next to a
# straight SQLite insert of the same rows in the same run, with
# synchronous=FULL (the default) and NORMAL, and ids that grow, no ids, and
# random UUIDv4 ids. Usage: tests/bench/bench_ingest.sh [build-dir]
# Env: SECS (per run, default 10), CLIENTS (4), BACKEND (sqlite, or
# postgres: the server on a PostgreSQL 15 cluster this script starts
# (tests/bench/pg_cluster.py), next to a binary COPY of the same rows into
# the same cluster; ids that grow, none, UUIDv4). Never fails on time.
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
SECS=${SECS:-10}
CLIENTS=${CLIENTS:-4}
BACKEND=${BACKEND:-sqlite}
BIN="$BUILD/modelwatch"
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH="$BUILD/tests/bench/bench_ingest"
[ -x "$BENCH" ] || { echo "bench_ingest not built ($BENCH)"; exit 2; }
extra=()
"$BIN" serve --help | grep -q -- '--rate-limit' && extra+=(--rate-limit 0)
schema='{"schema":{"features":[{"name":"f0","type":"numeric"},{"name":"f1","type":"numeric"},{"name":"f2","type":"numeric"},{"name":"f3","type":"numeric"},{"name":"f4","type":"numeric"},{"name":"f5","type":"numeric"},{"name":"f6","type":"numeric"},{"name":"f7","type":"numeric"},{"name":"f8","type":"numeric"},{"name":"f9","type":"numeric"}],"prediction":{"type":"numeric"}}}'
pid=
data=
pg=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "$data" ] && rm -rf "$data"; pid=; data=; }
trap 'cleanup; [ -n "$pg" ] && /usr/bin/python3 "$HERE/pg_cluster.py" stop $pg' EXIT
if [ "$BACKEND" = postgres ]; then
  pg=$(/usr/bin/python3 "$HERE/pg_cluster.py" start)
fi
run() { # sync ids seconds
  data=$(mktemp -d)
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  db=() straight=(--sqlite-dir "$data")
  if [ -n "$pg" ]; then
    db=(--database "$(/usr/bin/python3 "$HERE/pg_cluster.py" db $pg)")
    straight=(--pg-url "$(/usr/bin/python3 "$HERE/pg_cluster.py" db $pg)")
  fi
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" --access-log off \
    --sync "$1" --eval-interval-seconds 0 "${db[@]}" "${extra[@]}" >"$data/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
  tok=$(cat "$data/admin.token")
  curl -sf -H "Authorization: Bearer $tok" -d '{"name":"m"}' "http://127.0.0.1:$port/api/v1/models" >/dev/null
  curl -sf -H "Authorization: Bearer $tok" -d "$schema" "http://127.0.0.1:$port/api/v1/models/m/versions" >/dev/null
  "$BENCH" --port "$port" --token "$tok" --clients "$CLIENTS" --seconds "$3" \
    --ids "$2" --sync "$1" "${straight[@]}"
  echo
  cleanup
}
echo "== bench_ingest: $BACKEND, $(nproc) cores, ${SECS}s per run"
if [ -n "$pg" ]; then
  run full seq "$SECS"
  run full none "$SECS"
  run full uuid "$SECS"
  exit 0
fi
run full seq "$SECS"
run full none "$SECS"
run normal seq "$SECS"
run normal none "$SECS"
run full uuid "$SECS"
