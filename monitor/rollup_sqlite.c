/* monitor/rollup_sqlite.c - the per-bucket rollups of monitor/store.h on
 * SQLite (migration 0022; monitor/rollup.c says what they are). Costs:
 * rollup_candidate scans the closed buckets' blocks (as
 * compaction_candidate does), rollup_put is a DELETE and one INSERT per
 * column, rollups_read one range of the primary key. */
#include <assert.h>

#include "core/db_sqlite.h"
#include "monitor/store_sqlite.h"

mw_status mon__sqlite_rollup_candidate(mw_conn *c, int64_t before_bucket,
                                       int64_t max_cols, int64_t *version_id,
                                       int64_t *bucket, int64_t *ncols, int *found) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT b.version_id, b.bucket, b.ncols FROM pred_blocks b WHERE "
         "b.bucket < ?1 AND b.ncols <= ?2 GROUP BY b.version_id, b.bucket, "
         "b.ncols HAVING count(*) > 1 AND max(b.id) > coalesce((SELECT r.id_max "
         "FROM pred_rollups r WHERE r.version_id = b.version_id AND r.ncols = "
         "b.ncols AND r.bucket = b.bucket AND r.col = 0), 0) ORDER BY b.bucket "
         "DESC LIMIT 1");
  if(st) {
    sqlite3_bind_int64(st, 1, before_bucket);
    sqlite3_bind_int64(st, 2, max_cols);
  }
  mw_status s = mw_step_row(c, st, found);
  if(s || !*found)
    return s;
  *version_id = sqlite3_column_int64(st, 0);
  *bucket = sqlite3_column_int64(st, 1);
  *ncols = sqlite3_column_int64(st, 2);
  sqlite3_reset(st);
  return MW_OK;
}

mw_status mon__sqlite_rollup_put(mw_conn *c, int64_t version_id, size_t ncols,
                                 const mon_rollup *r, const mon_chunk *cols,
                                 int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM pred_rollups WHERE version_id = ? AND "
                                "ncols = ? AND bucket = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, version_id);
    sqlite3_bind_int64(st, 2, (int64_t)ncols);
    sqlite3_bind_int64(st, 3, r->bucket);
  }
  mw_status s = mw_step_done(c, st);
  for(size_t k = 0; k < ncols && !s; k++) {
    st = mw_stmt(c, "INSERT INTO pred_rollups(version_id, bucket, ncols, col, "
                    "id_max, nblocks, nrows, created_at, data) VALUES(?, ?, ?, ?, "
                    "?, ?, ?, ?, ?)");
    if(st) {
      sqlite3_bind_int64(st, 1, version_id);
      sqlite3_bind_int64(st, 2, r->bucket);
      sqlite3_bind_int64(st, 3, (int64_t)ncols);
      sqlite3_bind_int64(st, 4, (int64_t)k);
      sqlite3_bind_int64(st, 5, r->id_max);
      sqlite3_bind_int64(st, 6, r->nblocks);
      sqlite3_bind_int64(st, 7, r->nrows);
      sqlite3_bind_int64(st, 8, now);
      sqlite3_bind_blob64(st, 9, cols[k].len ? cols[k].data : "", cols[k].len,
                          SQLITE_STATIC);
    }
    s = mw_step_done(c, st);
  }
  return s;
}

mw_status mon__sqlite_rollups_read(mw_conn *c, int64_t version_id, size_t ncols,
                                   size_t col, int64_t lo, int64_t hi,
                                   mw_status (*fn)(void *, const mon_rollup *),
                                   void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT bucket, id_max, nblocks, nrows, data FROM pred_rollups "
                 "WHERE version_id = ? AND ncols = ? AND bucket BETWEEN ? AND ? "
                 "AND col = ? ORDER BY bucket");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, (int64_t)ncols);
  sqlite3_bind_int64(st, 3, lo);
  sqlite3_bind_int64(st, 4, hi);
  sqlite3_bind_int64(st, 5, (int64_t)col);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1) {
    const void *data = sqlite3_column_blob(st, 4);
    mon_rollup r = {sqlite3_column_int64(st, 0),
                    sqlite3_column_int64(st, 1),
                    sqlite3_column_int64(st, 2),
                    sqlite3_column_int64(st, 3),
                    data ? data : "",
                    (size_t)sqlite3_column_bytes(st, 4)};
    if((s = fn(ctx, &r))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}
