/* monitor/rollup_pg.c - the per-bucket rollups of monitor/store.h on
 * PostgreSQL (migration 0022; monitor/rollup.c says what they are). Costs:
 * rollup_candidate scans the closed buckets' blocks (as
 * compaction_candidate does), rollup_put is two statements (a DELETE, and
 * one INSERT of every column through unnest() of a bytea[]), rollups_read
 * one range of the primary key, binary results. */
#include <assert.h>

#include "core/db_pg.h"
#include "monitor/store_pg.h"

mw_status mon__pg_rollup_candidate(mw_conn *c, int64_t before_bucket,
                                   int64_t max_cols, int64_t *version_id,
                                   int64_t *bucket, int64_t *ncols, int *found) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, before_bucket);
  mw_pgp_i64(&p, max_cols);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT b.version_id, b.bucket, b.ncols FROM pred_blocks b WHERE "
      "b.bucket < $1 AND b.ncols <= $2 GROUP BY b.version_id, b.bucket, b.ncols "
      "HAVING count(*) > 1 AND max(b.id) > coalesce((SELECT r.id_max FROM "
      "pred_rollups r WHERE r.version_id = b.version_id AND r.ncols = b.ncols "
      "AND r.bucket = b.bucket AND r.col = 0), 0) ORDER BY b.bucket DESC LIMIT 1",
      &p, &s);
  if(!r)
    return s;
  *found = PQntuples(r) > 0;
  if(*found) {
    *version_id = mw_pg_i64(r, 0, 0, 0);
    *bucket = mw_pg_i64(r, 0, 1, 0);
    *ncols = mw_pg_i64(r, 0, 2, 0);
  }
  PQclear(r);
  return MW_OK;
}

mw_status mon__pg_rollup_put(mw_conn *c, int64_t version_id, size_t ncols,
                             const mon_rollup *r, const mon_chunk *cols,
                             int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)ncols);
  mw_pgp_i64(&p, r->bucket);
  mw_status s = mw_pg_do(c,
                         "DELETE FROM pred_rollups WHERE version_id = $1 AND "
                         "ncols = $2 AND bucket = $3",
                         &p, NULL);
  if(s)
    return s;
  pgarr a;
  mon__pgarr_init(&a, OID_BYTEA, (size_t)1 << 30);
  for(size_t k = 0; k < ncols; k++)
    mon__pgarr_add(&a, cols[k].len ? cols[k].data : "", cols[k].len);
  if((s = a.st)) {
    mw_buf_free(&a.b);
    return s;
  }
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, r->bucket);
  mw_pgp_i64(&p, (int64_t)ncols);
  mw_pgp_i64(&p, r->id_max);
  mw_pgp_i64(&p, r->nblocks);
  mw_pgp_i64(&p, r->nrows);
  mw_pgp_i64(&p, now);
  mon__pgarr_finish(&a, &p);
  s = mw_pg_do(c,
               "INSERT INTO pred_rollups(version_id, bucket, ncols, col, id_max, "
               "nblocks, nrows, created_at, data) SELECT $1::int8, $2::int8, "
               "$3::int4, (u.ord - 1)::int4, $4::int8, $5::int8, $6::int8, "
               "$7::int8, u.d FROM unnest($8::bytea[]) WITH ORDINALITY AS u(d, "
               "ord)",
               &p, NULL);
  mw_buf_free(&a.b);
  return s;
}

mw_status mon__pg_rollups_read(mw_conn *c, int64_t version_id, size_t ncols,
                               size_t col, int64_t lo, int64_t hi,
                               mw_status (*fn)(void *, const mon_rollup *),
                               void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)ncols);
  mw_pgp_i64(&p, lo);
  mw_pgp_i64(&p, hi);
  mw_pgp_i64(&p, (int64_t)col);
  mw_status s;
  PGresult *r = mw_pg_run_bin(c,
                              "SELECT bucket, id_max, nblocks, nrows, data FROM "
                              "pred_rollups WHERE version_id = $1::int8 AND ncols "
                              "= $2::int4 AND bucket BETWEEN $3::int8 AND $4::int8 "
                              "AND col = $5::int4 ORDER BY bucket",
                              &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    size_t len = 0;
    const void *data = mw_pg_bin_data(r, i, 4, &len);
    mon_rollup x = {mw_pg_bin_i64(r, i, 0, 0), mw_pg_bin_i64(r, i, 1, 0),
                    mw_pg_bin_i64(r, i, 2, 0), mw_pg_bin_i64(r, i, 3, 0),
                    data ? data : "",          data ? len : 0};
    s = fn(ctx, &x);
  }
  PQclear(r);
  return s;
}
