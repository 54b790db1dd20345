/* monitor/predictions_sqlite.c - the logged predictions part of the
 * monitor's store on SQLite (monitor/store.h, picked through
 * monitor/store_sqlite.c's table): blocks and their chunks, prediction
 * ids, labels and category dictionaries.
 *
 * Layout (migrations/sqlite/0003_monitor.sql says why): a chunk's rowid is
 * block_id * SLOTS + slot, so reading a column of a window is one rowid
 * lookup per block and a block's chunks go with it through a trigger. Ids
 * of deleted blocks may be handed out again by SQLite (the highest rowid
 * plus one); migration 0007's epoch row tells the live-window cache.
 *
 * Costs: block_insert is one INSERT per chunk; chunks_read one rowid
 * lookup per block; ids_insert, ids_get and labels_put one statement per
 * row (SQLite runs in-process: a statement is a function call, not a round
 * trip); ids_pairs one stepped statement. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "monitor/store_sqlite.h"

/* Slots per block in the rowid (see the top of the file). */
#define SLOTS 4096LL
#define CHUNK_ROWID(block, slot) ((block)*SLOTS + (slot))

/* ------------------------------------------------------------- blocks */

mw_status mon__sqlite_block_insert(mw_conn *c, mon_block *b, const mon_chunk *chunks,
                                   size_t nchunks) {
  assert(mw_tx_state(c) == 1 && nchunks >= 1 && (int64_t)nchunks <= SLOTS);
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO pred_blocks(version_id, bucket, ts_min, ts_max, n, ncols, "
         "has_ids, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, b->version_id);
    sqlite3_bind_int64(st, 2, b->bucket);
    sqlite3_bind_int64(st, 3, b->ts_min);
    sqlite3_bind_int64(st, 4, b->ts_max);
    sqlite3_bind_int64(st, 5, b->n);
    sqlite3_bind_int64(st, 6, b->ncols);
    sqlite3_bind_int(st, 7, b->has_ids);
    sqlite3_bind_int64(st, 8, b->created_at);
  }
  mw_status s = mw_step_done(c, st);
  if(s)
    return s;
  b->id = mw_sqlite_last_id(c);
  for(size_t slot = 0; slot < nchunks && !s; slot++) {
    sqlite3_stmt *ins = mw_stmt(c, "INSERT INTO pred_chunks(id, data) VALUES(?, ?)");
    if(ins) {
      sqlite3_bind_int64(ins, 1, CHUNK_ROWID(b->id, (int64_t)slot));
      sqlite3_bind_blob64(ins, 2, chunks[slot].len ? chunks[slot].data : "",
                          chunks[slot].len, SQLITE_STATIC);
    }
    s = mw_step_done(c, ins);
  }
  return s;
}

static void read_block(sqlite3_stmt *st, mon_block *b) {
  memset(b, 0, sizeof *b);
  b->id = sqlite3_column_int64(st, 0);
  b->version_id = sqlite3_column_int64(st, 1);
  b->bucket = sqlite3_column_int64(st, 2);
  b->ts_min = sqlite3_column_int64(st, 3);
  b->ts_max = sqlite3_column_int64(st, 4);
  b->n = sqlite3_column_int64(st, 5);
  b->ncols = sqlite3_column_int64(st, 6);
  b->has_ids = sqlite3_column_int64(st, 7) != 0;
  b->created_at = sqlite3_column_int64(st, 8);
}

#define BLOCK_COLS \
  "id, version_id, bucket, ts_min, ts_max, n, ncols, has_ids, created_at"

mw_status mon__sqlite_blocks_list(mw_conn *c, int64_t version_id, int64_t from,
                                  int64_t to, int64_t id_lo, int64_t id_hi,
                                  mw_status (*fn)(void *, const mon_block *),
                                  void *ctx) {
  assert(from < to);
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT " BLOCK_COLS " FROM pred_blocks WHERE version_id = ? AND "
         "bucket BETWEEN ? AND ? AND ts_max >= ? AND ts_min < ? AND id BETWEEN "
         "? AND ? ORDER BY id");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, from / MON_BUCKET_MS);
  sqlite3_bind_int64(st, 3, (to - 1) / MON_BUCKET_MS);
  sqlite3_bind_int64(st, 4, from);
  sqlite3_bind_int64(st, 5, to);
  sqlite3_bind_int64(st, 6, id_lo);
  sqlite3_bind_int64(st, 7, id_hi);
  mw_status s = MW_OK;
  int r;
  while((r = mw_step_next(c, st, &s)) == 1) {
    mon_block b;
    read_block(st, &b);
    if((s = fn(ctx, &b))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

mw_status mon__sqlite_chunks_read(mw_conn *c, int slot, const int64_t *ids, size_t n,
                                  mw_status (*fn)(void *, size_t, const void *,
                                                  size_t),
                                  void *ctx) {
  assert(slot >= 0 && slot < SLOTS);
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    assert(i == 0 || ids[i - 1] < ids[i]);
    sqlite3_stmt *st = mw_stmt(c, "SELECT data FROM pred_chunks WHERE id = ?");
    if(st)
      sqlite3_bind_int64(st, 1, CHUNK_ROWID(ids[i], (int64_t)slot));
    int found = 0;
    if((s = mw_step_row(c, st, &found)))
      break;
    if(!found) {
      s = fn(ctx, i, NULL, 0);
      continue;
    }
    /* The blob is valid until the statement is reset: fn reads it now. An
     * empty one comes back as NULL, which would say "absent". */
    const void *data = sqlite3_column_blob(st, 0);
    s = fn(ctx, i, data ? data : "", (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_reset(st);
  }
  return s;
}

mw_status mon__sqlite_blocks_delete(mw_conn *c, const int64_t *ids, size_t n) {
  assert(mw_tx_state(c) == 1);
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    sqlite3_stmt *st = mw_stmt(c, "DELETE FROM pred_blocks WHERE id = ?");
    if(st)
      sqlite3_bind_int64(st, 1, ids[i]);
    s = mw_step_done(c, st);
  }
  return s;
}

mw_status mon__sqlite_block_epoch(mw_conn *c, mon_epoch *e) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT gen, n, ts_max, id_max, (SELECT coalesce(max(id), 0) FROM "
                 "pred_blocks) FROM pred_block_epoch WHERE id = 1");
  mw_status s = mw_step_one(c, st);
  if(s)
    return s == MW_ENOTFOUND ? MW_EINTERNAL : s; /* migration 0007 inserts it */
  e->gen = sqlite3_column_int64(st, 0);
  e->n = sqlite3_column_int64(st, 1);
  e->del_ts_max = sqlite3_column_int64(st, 2);
  e->del_id_max = sqlite3_column_int64(st, 3);
  e->max_block = sqlite3_column_int64(st, 4);
  sqlite3_reset(st);
  return MW_OK;
}

mw_status mon__sqlite_blocks_expired(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                                     size_t max, mon_expired *out, size_t *n) {
  *n = 0;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT b.id, b.version_id, b.bucket, b.ts_min, b.ts_max, b.n, "
         "b.ncols, b.has_ids, b.created_at, v.model_id FROM pred_blocks b "
         "JOIN model_versions v ON v.id = b.version_id WHERE b.bucket < ?1 AND "
         "b.ts_max < ?2 AND CASE WHEN ?4 = 0 THEN v.model_id NOT IN (SELECT "
         "model_id FROM model_retention) ELSE v.model_id = ?4 END ORDER BY "
         "b.bucket LIMIT ?3");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, cutoff_ms / MON_BUCKET_MS);
  sqlite3_bind_int64(st, 2, cutoff_ms);
  sqlite3_bind_int64(st, 3, (int64_t)max);
  sqlite3_bind_int64(st, 4, model_id);
  mw_status s = MW_OK;
  while(*n < max && mw_step_next(c, st, &s) == 1) {
    read_block(st, &out[*n].b);
    out[*n].model_id = sqlite3_column_int64(st, 9);
    (*n)++;
  }
  sqlite3_reset(st);
  return s;
}

mw_status mon__sqlite_compaction_candidate(mw_conn *c, int64_t before_bucket,
                                           int64_t small, int64_t *version_id,
                                           int64_t *bucket, int64_t *ncols,
                                           int *found) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT version_id, bucket, ncols FROM pred_blocks WHERE bucket < ? AND "
         "n < ? GROUP BY version_id, bucket, ncols HAVING count(*) > 1 LIMIT 1");
  if(st) {
    sqlite3_bind_int64(st, 1, before_bucket);
    sqlite3_bind_int64(st, 2, small);
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

mw_status mon__sqlite_compaction_blocks(mw_conn *c, int64_t version_id,
                                        int64_t bucket, int64_t ncols, int64_t small,
                                        size_t max, mon_block *out, size_t *n) {
  *n = 0;
  sqlite3_stmt *st = mw_stmt(c, "SELECT " BLOCK_COLS " FROM pred_blocks WHERE "
                                "version_id = ? AND bucket = ? AND ncols = ? AND "
                                "n < ? ORDER BY id LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, bucket);
  sqlite3_bind_int64(st, 3, ncols);
  sqlite3_bind_int64(st, 4, small);
  sqlite3_bind_int64(st, 5, (int64_t)max);
  mw_status s = MW_OK;
  while(*n < max && mw_step_next(c, st, &s) == 1)
    read_block(st, &out[(*n)++]);
  sqlite3_reset(st);
  return s;
}

/* ---------------------------------------------------------------- ids */

mw_status mon__sqlite_ids_insert(mw_conn *c, int64_t model_id, int64_t version_id,
                                 const mon_id_row *rows, size_t n, uint8_t *conflict,
                                 size_t *nconflict) {
  assert(mw_tx_state(c) == 1);
  *nconflict = 0;
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    conflict[i] = 0;
    if(!rows[i].ext_id)
      continue;
    /* DO NOTHING rather than a constraint error: a conflict is a
     * validation error of the batch, listed with the others. */
    sqlite3_stmt *st = mw_stmt(c, "INSERT INTO pred_ids(model_id, ext_id, "
                                  "version_id, ts, prediction) VALUES(?, ?, ?, "
                                  "?, ?) ON CONFLICT DO NOTHING");
    if(st) {
      sqlite3_bind_int64(st, 1, model_id);
      mw_bind_text(st, 2, rows[i].ext_id);
      sqlite3_bind_int64(st, 3, version_id);
      sqlite3_bind_int64(st, 4, rows[i].ts);
      mw_bind_double(st, 5, rows[i].prediction);
    }
    if(!(s = mw_step_done(c, st)) && mw_sqlite_changes(c) == 0) {
      conflict[i] = 1;
      (*nconflict)++;
    }
  }
  return s;
}

mw_status mon__sqlite_ids_get(mw_conn *c, int64_t model_id, int64_t version_id,
                              const char *const *ext_ids, size_t n,
                              mon_id_found *found) {
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    found[i].version_id = -1;
    if(!ext_ids[i] || !ext_ids[i][0])
      continue;
    /* The id's rows of every version are one range of the primary key
     * (model_id, ext_id, version_id): the asked version's row sorts
     * first, else any other. */
    sqlite3_stmt *st =
        mw_stmt(c, "SELECT version_id, ts, prediction FROM pred_ids WHERE "
                   "model_id = ? AND ext_id = ? ORDER BY version_id = ? DESC "
                   "LIMIT 1");
    if(st) {
      sqlite3_bind_int64(st, 1, model_id);
      mw_bind_text(st, 2, ext_ids[i]);
      sqlite3_bind_int64(st, 3, version_id);
    }
    int row = 0;
    if((s = mw_step_row(c, st, &row)) || !row)
      continue;
    found[i].version_id = sqlite3_column_int64(st, 0);
    found[i].ts = sqlite3_column_int64(st, 1);
    found[i].prediction = mw_col_double(st, 2);
    sqlite3_reset(st);
  }
  return s;
}

mw_status mon__sqlite_ids_delete(mw_conn *c, int64_t model_id, int64_t version_id,
                                 const char *const *ext_ids, size_t n) {
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    if(!ext_ids[i] || !ext_ids[i][0])
      continue;
    sqlite3_stmt *st = mw_stmt(c, "DELETE FROM pred_ids WHERE model_id = ? AND "
                                  "ext_id = ? AND version_id = ?");
    if(st) {
      sqlite3_bind_int64(st, 1, model_id);
      mw_bind_text(st, 2, ext_ids[i]);
      sqlite3_bind_int64(st, 3, version_id);
    }
    s = mw_step_done(c, st);
  }
  return s;
}

mw_status mon__sqlite_ids_pairs(mw_conn *c, int64_t cand_model, int64_t cand_version,
                                int64_t base_model, int64_t base_version,
                                int64_t from, int64_t to,
                                mw_status (*fn)(void *, double, double), void *ctx) {
  /* The candidate's window through pred_ids_by_version, the baseline's row
   * of each id through the primary key; stepped, so a large window is
   * never held in memory. */
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT p.prediction, b.prediction FROM pred_ids p JOIN pred_ids b ON "
         "b.model_id = ? AND b.ext_id = p.ext_id AND b.version_id = ? WHERE "
         "p.version_id = ? AND p.ts >= ? AND p.ts < ? AND p.model_id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, base_model);
  sqlite3_bind_int64(st, 2, base_version);
  sqlite3_bind_int64(st, 3, cand_version);
  sqlite3_bind_int64(st, 4, from);
  sqlite3_bind_int64(st, 5, to);
  sqlite3_bind_int64(st, 6, cand_model);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1)
    if((s = fn(ctx, mw_col_double(st, 0), mw_col_double(st, 1)))) {
      sqlite3_reset(st);
      break;
    }
  return s;
}

/* ------------------------------------------------------------- labels */

mw_status mon__sqlite_labels_put(mw_conn *c, int64_t model_id, int64_t version_id,
                                 const mon_label_row *rows, size_t n, int64_t at) {
  assert(mw_tx_state(c) == 1);
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    sqlite3_stmt *st = mw_stmt(
        c, "INSERT INTO labels(model_id, ext_id, version_id, ts, prediction, "
           "label, at) VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(model_id, ext_id, "
           "version_id) DO UPDATE SET label = excluded.label, at = excluded.at, "
           "prediction = excluded.prediction, ts = excluded.ts");
    if(st) {
      sqlite3_bind_int64(st, 1, model_id);
      mw_bind_text(st, 2, rows[i].ext_id);
      sqlite3_bind_int64(st, 3, version_id);
      sqlite3_bind_int64(st, 4, rows[i].ts);
      mw_bind_double(st, 5, rows[i].prediction);
      sqlite3_bind_double(st, 6, rows[i].label);
      sqlite3_bind_int64(st, 7, at);
    }
    s = mw_step_done(c, st);
  }
  return s;
}

mw_status mon__sqlite_labels_visit(mw_conn *c, int64_t version_id, int64_t from,
                                   int64_t to, bool with_ids,
                                   void (*fn)(void *, const char *, double, double),
                                   void *ctx) {
  /* Column 0 is the id or NULL, so one loop serves both. */
  sqlite3_stmt *st =
      mw_stmt(c, with_ids ? "SELECT ext_id, prediction, label FROM labels WHERE "
                            "version_id = ? AND ts >= ? AND ts < ?"
                          : "SELECT NULL, prediction, label FROM labels WHERE "
                            "version_id = ? AND ts >= ? AND ts < ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1)
    fn(ctx, (const char *)sqlite3_column_text(st, 0), mw_col_double(st, 1),
       sqlite3_column_double(st, 2));
  return s;
}

/* -------------------------------------------------------- dictionaries */

mw_status mon__sqlite_categories_list(mw_conn *c, int64_t version_id, size_t col,
                                      mw_status (*fn)(void *, int64_t, const char *),
                                      void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT code, value FROM mon_categories WHERE "
                                "version_id = ? AND col = ? ORDER BY code");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, (int64_t)col);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1)
    if((s = fn(ctx, sqlite3_column_int64(st, 0), mw_col_text(st, 1)))) {
      sqlite3_reset(st);
      break;
    }
  return s;
}

mw_status mon__sqlite_categories_add(mw_conn *c, int64_t version_id, size_t col,
                                     int64_t first_code, const char *const *values,
                                     size_t n) {
  assert(mw_tx_state(c) == 1);
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    sqlite3_stmt *st = mw_stmt(c, "INSERT INTO mon_categories(version_id, col, "
                                  "code, value) VALUES(?, ?, ?, ?)");
    if(st) {
      sqlite3_bind_int64(st, 1, version_id);
      sqlite3_bind_int64(st, 2, (int64_t)col);
      sqlite3_bind_int64(st, 3, first_code + (int64_t)i);
      mw_bind_text(st, 4, values[i]);
    }
    s = mw_step_done(c, st);
  }
  return s;
}
