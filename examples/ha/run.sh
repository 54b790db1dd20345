#!/usr/bin/env bash
# `make demo-ha`: PostgreSQL, three modelwatch replicas and haproxy on one
# machine - a starting point a deployment can copy (replace the temporary
# PostgreSQL by yours, the three local replicas by three hosts).
#
#   PostgreSQL  a throwaway cluster (initdb into a temporary directory that
#               the postgres user can reach), 127.0.0.1:$PG_PORT
#   replicas    modelwatch serve --database postgresql://... on ports
#               $REPLICA_PORTS (default $PORT+1..$PORT+3), data dirs
#               $DATA/r1..r3 (their own admin.token and logs; artifacts
#               live in the database), all with --secret-key-file
#               $DATA/secret.key: the one key that encrypts the channel
#               URLs and webhook secrets in the database (a real
#               deployment gives each host a copy from its secret store)
#   haproxy     examples/ha/haproxy.cfg on 127.0.0.1:$PORT, round robin,
#               health checks on /readyz
#
# It prints the address and the admin token, and GET /api/v1/cluster. Try
# killing a replica (the leader: see "leader": true) and watch another take
# over within a second or two while haproxy keeps serving. Ctrl-C stops
# everything; $DATA stays for a look at the logs (removed on the next run).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PORT=${PORT:-8080}
PG_PORT=${PG_PORT:-55432}
read -r -a RPORTS <<<"${REPLICA_PORTS:-$((PORT + 1)) $((PORT + 2)) $((PORT + 3))}"
[ "${#RPORTS[@]}" = 3 ] || { echo "REPLICA_PORTS needs three ports" >&2; exit 2; }
DATA=${DEMO_DATA_DIR:-$PWD/var-ha}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${PGDIR:-}" ] || return 0
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT INT TERM

# PostgreSQL refuses to run as root: as root it runs as `postgres`.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

rm -rf "$DATA"
mkdir -p "$DATA"
# Under /tmp: the postgres user may not reach a directory below root's home.
PGDIR=$(mktemp -d /tmp/modelwatch-ha-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; fi
echo "== PostgreSQL on 127.0.0.1:$PG_PORT"
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U mw -A trust -E UTF8 --locale=C >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGDIR" start >/dev/null
psql -h 127.0.0.1 -p "$PG_PORT" -U mw -d postgres -qc "CREATE DATABASE modelwatch"
DB="postgresql://mw@127.0.0.1:$PG_PORT/modelwatch"

# Every replica must use the same key: made once, before any starts (each
# would otherwise create its own, and all but the first would be refused).
(umask 077 && openssl rand -hex 32 >"$DATA/secret.key")

echo "== three replicas on ports ${RPORTS[*]}"
for i in 1 2 3; do
  mkdir -p "$DATA/r$i"
  "$BUILD/modelwatch" serve --listen "127.0.0.1:${RPORTS[i - 1]}" --data-dir "$DATA/r$i" \
    --database "$DB" --artifact-store database --secret-key-file "$DATA/secret.key" \
    --external-url "http://127.0.0.1:$PORT" >"$DATA/r$i/modelwatch.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  ok=
  for _ in $(seq 300); do
    if curl -sf "http://127.0.0.1:${RPORTS[i - 1]}/readyz" >/dev/null; then ok=1; break; fi
    kill -0 "${pids[i - 1]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    echo "replica $i did not become ready; the end of its log:" >&2
    tail -20 "$DATA/r$i/modelwatch.log" >&2
    exit 1
  fi
done

echo "== haproxy on 127.0.0.1:$PORT"
HA_PORT=$PORT REPLICA1_PORT=${RPORTS[0]} REPLICA2_PORT=${RPORTS[1]} \
  REPLICA3_PORT=${RPORTS[2]} haproxy -db -f examples/ha/haproxy.cfg \
  >"$DATA/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

TOKEN=$(cat "$DATA"/r*/admin.token 2>/dev/null | head -1)
echo
echo "dashboard and API: http://127.0.0.1:$PORT/  (admin token: $TOKEN)"
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/cluster"
echo
echo "(Ctrl-C stops PostgreSQL, the replicas and haproxy)"
wait
