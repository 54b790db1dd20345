#!/usr/bin/env bash
# Mixed load at 64 connections for 60 s (LOAD_SECONDS, LOAD_CONNECTIONS):
# ingest batches, registry reads, drift queries, promotions. Prepares a
# fresh server with model "load", then runs tests/bench/bench_load.c.
# LOAD_REQUESTS=1000000 runs until a million requests were answered instead
# (LOAD_SECONDS then only caps it) and prints the server's RSS every tenth.
# SERVER_ARGS adds flags to the server (e.g. --drift-cache-mb 0);
# BACKEND=postgres runs it on a PostgreSQL 15 cluster this script starts
# (tests/bench/pg_cluster.py).
# Usage: tests/bench/bench_load.sh [build-dir]
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
SECS=${LOAD_SECONDS:-60}
CONNS=${LOAD_CONNECTIONS:-64}
HERE=$(cd "$(dirname "$0")" && pwd)
data=$(mktemp -d)
port=18997
pg= db=()
if [ "${BACKEND:-sqlite}" = postgres ]; then
  pg=$(/usr/bin/python3 "$HERE/pg_cluster.py" start)
  db=(--database "$(/usr/bin/python3 "$HERE/pg_cluster.py" db $pg)")
fi
"$BUILD/modelwatch" serve --listen 127.0.0.1:$port --data-dir "$data" --access-log off \
  --rate-limit 0 --threads $((CONNS + 16)) "${db[@]}" ${SERVER_ARGS:-} >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"; [ -n "$pg" ] && /usr/bin/python3 "$HERE/pg_cluster.py" stop $pg' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
T=$(cat "$data/admin.token")
api() { curl -sf -H "Authorization: Bearer $T" -H 'Content-Type: application/json' "$@" >/dev/null; }
U=http://127.0.0.1:$port/api/v1
feats=$(for k in 0 1 2 3 4 5 6 7 8 9; do printf '{"name":"x%d","type":"numeric"},' $k; done)
api -X POST $U/models -d '{"name":"load"}'
for v in 1 2; do
  api -X POST $U/models/load/versions -d "{\"schema\":{\"features\":[${feats%,}],\"prediction\":{\"type\":\"numeric\"}}}"
  echo "v$v" >"$data/a$v"
  api -X PUT -H "X-Content-SHA256: $(sha256sum "$data/a$v" | cut -d' ' -f1)" --data-binary @"$data/a$v" \
    $U/models/load/versions/$v/artifact
done
/usr/bin/python3 - "$U" "$T" <<'PY'
import json, random, sys, urllib.request
u, t = sys.argv[1], sys.argv[2]
rows = [{"features": {"x%d" % k: random.gauss(5, 2) for k in range(10)},
         "prediction": random.random()} for _ in range(5000)]
req = urllib.request.Request(u + "/models/load/versions/1/reference", method="PUT",
                             data=json.dumps({"rows": rows}).encode(),
                             headers={"Authorization": "Bearer " + t,
                                      "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
REQS=${LOAD_REQUESTS:-0}
[ "$REQS" -gt 0 ] && [ -z "${LOAD_SECONDS:-}" ] && SECS=7200
"$BUILD/tests/bench/bench_load" $port "$T" $pid "$SECS" "$CONNS" "$REQS"
echo "server VmHWM (peak RSS): $(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status) MB;" \
  "data directory $(du -sm "$data" | cut -f1) MB"
