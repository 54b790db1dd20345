#!/usr/bin/env bash
# Retention of a large window: populates ROWS predictions (default
# 10,000,000) as ingest writes them (tests/bench/bench_scale.c populate),
# then deletes them all the way the leader's retention does (bench_scale
# retention: row deletes, 32 blocks a transaction). With BACKEND=postgres
# (a PostgreSQL 15 cluster this script starts, tests/bench/pg_cluster.py)
# it also measures what row deletes leave to do (VACUUM, WAL written) and the
# alternative of declarative partitioning: the same rows copied into tables
# partitioned by bucket range (a day a partition), then that day dropped.
# Usage: tests/bench/bench_retention.sh [build-dir]; env ROWS, BACKEND.
# Never fails on time.
set -euo pipefail
BUILD=${1:-${BUILD:-build}}
ROWS=${ROWS:-10000000}
BACKEND=${BACKEND:-sqlite}
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH="$BUILD/tests/bench/bench_scale"
[ -x "$BENCH" ] || { echo "bench_scale not built ($BENCH)"; exit 2; }
data=$(mktemp -d)
pg=
trap 'rm -rf "$data"; [ -n "$pg" ] && /usr/bin/python3 "$HERE/pg_cluster.py" stop $pg' EXIT
target=$data
if [ "$BACKEND" = postgres ]; then
  pg=$(/usr/bin/python3 "$HERE/pg_cluster.py" start)
  target=$(/usr/bin/python3 "$HERE/pg_cluster.py" db $pg)
fi
echo "== bench_retention: $BACKEND, $ROWS rows, $(nproc) cores"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$target" -c "$1"; }
[ -n "$pg" ] && wal0=$(q "SELECT pg_current_wal_lsn()")
"$BENCH" populate "$target" "$ROWS" 2>&1 | grep -v ' INFO '
if [ -z "$pg" ]; then
  "$BENCH" retention "$target" 2>&1 | grep -v ' INFO '
  exit 0
fi
echo "WAL written by populating (ingest's own writes): $(q "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0'))")"
timed() { # label sql: prints the label and the milliseconds the sql took
  local t0 t1
  t0=$(date +%s%N)
  q "$2" >/dev/null
  t1=$(date +%s%N)
  printf '  %-58s %8.1f ms\n' "$1" "$(( (t1 - t0) / 1000 ))e-3"
}
echo "size of the populated tables: $(q "SELECT pg_size_pretty(pg_total_relation_size('pred_blocks') + pg_total_relation_size('pred_chunks'))")"
# The alternative: the same rows in tables partitioned by bucket, a day
# (288 buckets) a partition, the chunks carrying their block's bucket.
lo=$(q "SELECT min(bucket) / 288 * 288 FROM pred_blocks")
hi=$(q "SELECT max(bucket) / 288 * 288 + 288 FROM pred_blocks")
q "CREATE TABLE pb (LIKE pred_blocks) PARTITION BY RANGE (bucket);
   CREATE TABLE pc (block_id bigint NOT NULL, slot int NOT NULL, bucket bigint NOT NULL,
                    data bytea NOT NULL) PARTITION BY RANGE (bucket);
   CREATE TABLE pb_day PARTITION OF pb FOR VALUES FROM ($lo) TO ($hi);
   CREATE TABLE pc_day PARTITION OF pc FOR VALUES FROM ($lo) TO ($hi);
   ALTER TABLE pc_day ALTER COLUMN data SET STORAGE EXTERNAL;
   ALTER TABLE pc_day ADD PRIMARY KEY (block_id, slot);"
echo "partitioned copy (not timed as retention):"
timed "copy the rows into the partitioned tables" \
  "INSERT INTO pb SELECT * FROM pred_blocks;
   INSERT INTO pc SELECT c.block_id, c.slot, b.bucket, c.data FROM pred_chunks c
     JOIN pred_blocks b ON b.id = c.block_id"
q "CHECKPOINT"
echo "retention by dropping the day's partitions:"
timed "DROP TABLE pb_day, pc_day" "DROP TABLE pb_day, pc_day"
q "CHECKPOINT"
echo "retention by row deletes (what modelwatch does):"
wal0=$(q "SELECT pg_current_wal_lsn()")
"$BENCH" retention "$target" 2>&1 | grep -v ' INFO ' | sed 's/^/  /'
echo "  WAL written by the deletes: $(q "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0'))")"
timed "VACUUM pred_blocks, pred_chunks (afterwards, autovacuum's job)" \
  "VACUUM pred_blocks, pred_chunks"
