#!/usr/bin/env bash
# Mixed load at 64 connections for 60 s (LOAD_SECONDS, LOAD_CONNECTIONS):
# ingest batches, registry reads, drift queries, promotions. Prepares a
# fresh server with model "load", then runs tests/bench/bench_load.c.
# LOAD_REQUESTS=1000000 runs until a million requests were answered instead
# (LOAD_SECONDS then only caps it) and prints the server's RSS every tenth.
# SERVER_ARGS adds flags to the server (e.g. --drift-cache-mb 0);
# BACKEND=postgres runs it on a PostgreSQL 15 cluster this script starts
# (tests/bench/pg_cluster.py). REPLICAS=n (with BACKEND=postgres) starts n
# servers on that database behind a real haproxy (round robin) and sends
# the load through it; the RSS printed is the first replica's.
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
REPLICAS=${REPLICAS:-1}
if [ "$REPLICAS" -gt 1 ] && [ -z "$pg" ]; then
  echo "REPLICAS > 1 needs BACKEND=postgres" >&2; exit 2
fi
pids=()
for i in $(seq "$REPLICAS"); do
  rport=$port; rdata="$data"
  if [ "$REPLICAS" -gt 1 ]; then rport=$((port + i)); rdata="$data/r$i"; mkdir -p "$rdata"; fi
  "$BUILD/modelwatch" serve --listen 127.0.0.1:$rport --data-dir "$rdata" --access-log off \
    --rate-limit 0 --threads $((CONNS + 16)) "${db[@]}" ${SERVER_ARGS:-} >"$rdata/log" 2>&1 &
  pids+=($!)
  # The first replica migrates and makes the admin token; then the others.
  [ "$i" = 1 ] && for _ in $(seq 100); do curl -sf http://127.0.0.1:$rport/readyz >/dev/null && break; sleep 0.1; done
done
pid=${pids[0]}
if [ "$REPLICAS" -gt 1 ]; then
  cp "$data/r1/admin.token" "$data/admin.token"
  { printf 'defaults\n mode http\n timeout connect 2s\n timeout client 120s\n timeout server 120s\n'
    printf 'frontend fe\n bind 127.0.0.1:%d\n default_backend be\nbackend be\n balance roundrobin\n' $port
    for i in $(seq "$REPLICAS"); do printf ' server r%d 127.0.0.1:%d maxconn %d\n' $i $((port + i)) $((CONNS + 8)); done
  } >"$data/haproxy.cfg"
  haproxy -db -f "$data/haproxy.cfg" >"$data/haproxy.log" 2>&1 &
  pids+=($!)
fi
trap 'kill ${pids[*]} 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; [ -n "$pg" ] && /usr/bin/python3 "$HERE/pg_cluster.py" stop $pg' EXIT
echo "replicas: $REPLICAS ($([ -n "$pg" ] && echo postgresql || echo sqlite))"
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
