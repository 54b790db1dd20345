/* monitor/privacy_sqlite.c - the operations of monitor/store.h for
 * privacy on SQLite (migration 0019): a model's own retention, and what
 * an erasure by id deletes besides blocks (ids, labels, dictionary
 * values) with the scrub that takes the deleted bytes out of the files. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/db_sqlite.h"
#include "monitor/store_sqlite.h"

mw_status mon__sqlite_model_find(mw_conn *c, const char *name, int64_t *model_id) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id FROM models WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *model_id = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

mw_status mon__sqlite_retention_get(mw_conn *c, int64_t model_id, int64_t *days) {
  *days = 0;
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT days FROM model_retention WHERE model_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, model_id);
  int found = 0;
  mw_status s = mw_step_row(c, st, &found);
  if(s || !found)
    return s;
  *days = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

mw_status mon__sqlite_retention_put(mw_conn *c, int64_t model_id, int64_t days,
                                    int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st;
  if(days <= 0) {
    st = mw_stmt(c, "DELETE FROM model_retention WHERE model_id = ?");
    if(st)
      sqlite3_bind_int64(st, 1, model_id);
    return mw_step_done(c, st);
  }
  st = mw_stmt(c, "INSERT INTO model_retention(model_id, days, updated_at) "
                  "VALUES(?1, ?2, ?3) ON CONFLICT(model_id) DO UPDATE SET "
                  "days = excluded.days, updated_at = excluded.updated_at");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    sqlite3_bind_int64(st, 2, days);
    sqlite3_bind_int64(st, 3, now);
  }
  return mw_step_done(c, st);
}

mw_status mon__sqlite_retention_list(mw_conn *c,
                                     mw_status (*fn)(void *, int64_t, int64_t),
                                     void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT model_id, days FROM model_retention ORDER BY model_id");
  if(!st)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1)
    if((s = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)))) {
      sqlite3_reset(st);
      break;
    }
  return s;
}

mw_status mon__sqlite_model_versions(mw_conn *c, int64_t model_id,
                                     mw_status (*fn)(void *, int64_t, int64_t),
                                     void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, version FROM model_versions WHERE "
                                "model_id = ? ORDER BY version");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, model_id);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1)
    if((s = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)))) {
      sqlite3_reset(st);
      break;
    }
  return s;
}

/* One DELETE ... RETURNING version_id per id: fn(ctx, version_id) for each
 * row deleted. */
static mw_status erase_by_id(mw_conn *c, const char *sql, int64_t model_id,
                             const char *const *ext_ids, size_t n,
                             void (*fn)(void *, int64_t), void *ctx) {
  assert(mw_tx_state(c) == 1);
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    sqlite3_stmt *st = mw_stmt(c, sql);
    if(!st)
      return MW_EDB;
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, ext_ids[i]);
    while(mw_step_next(c, st, &s) == 1)
      fn(ctx, sqlite3_column_int64(st, 0));
  }
  return s;
}

mw_status mon__sqlite_ids_erase(mw_conn *c, int64_t model_id,
                                const char *const *ext_ids, size_t n,
                                void (*fn)(void *, int64_t), void *ctx) {
  return erase_by_id(c,
                     "DELETE FROM pred_ids WHERE model_id = ? AND ext_id = ? "
                     "RETURNING version_id",
                     model_id, ext_ids, n, fn, ctx);
}

mw_status mon__sqlite_labels_erase(mw_conn *c, int64_t model_id,
                                   const char *const *ext_ids, size_t n,
                                   void (*fn)(void *, int64_t), void *ctx) {
  return erase_by_id(c,
                     "DELETE FROM labels WHERE model_id = ? AND ext_id = ? "
                     "RETURNING version_id",
                     model_id, ext_ids, n, fn, ctx);
}

mw_status mon__sqlite_category_replace(mw_conn *c, int64_t version_id, size_t col,
                                       int64_t code, const char *value) {
  sqlite3_stmt *st = mw_stmt(c, "UPDATE mon_categories SET value = ? WHERE "
                                "version_id = ? AND col = ? AND code = ?");
  if(st) {
    mw_bind_text(st, 1, value);
    sqlite3_bind_int64(st, 2, version_id);
    sqlite3_bind_int64(st, 3, (int64_t)col);
    sqlite3_bind_int64(st, 4, code);
  }
  return mw_step_done(c, st);
}

/* secure_delete zeroes what the erasure's statements free (cells, pages,
 * overflow pages of chunks) in the pages they write; the TRUNCATE
 * checkpoint then copies those pages over the old ones in the database file
 * and empties the WAL, which held both. A checkpoint blocked by a reader
 * (busy = 1: a report reading an older snapshot) is retried for a while. */
mw_status mon__sqlite_erase_scrub(mw_conn *c, int stage) {
  assert(mw_tx_state(c) == 0);
  if(stage == 0)
    return mw_exec(c, "PRAGMA secure_delete = ON");
  mw_status s = MW_OK;
  for(int attempt = 0; attempt < 50; attempt++) {
    sqlite3_stmt *st = mw_stmt(c, "PRAGMA wal_checkpoint(TRUNCATE)");
    int found = 0;
    if((s = mw_step_row(c, st, &found)))
      break;
    int busy = found ? sqlite3_column_int(st, 0) : 0;
    if(found)
      sqlite3_reset(st);
    if(!busy)
      break;
    s = MW_EBUSY;
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
  }
  mw_status off = mw_exec(c, "PRAGMA secure_delete = OFF");
  return s ? s : off;
}

mw_status mon__sqlite_privacy_key_get(mw_conn *c, char **sealed) {
  *sealed = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT secret FROM privacy_key WHERE id = 1");
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *sealed = strdup(mw_col_text(st, 0));
  sqlite3_reset(st);
  return *sealed ? MW_OK : MW_ENOMEM;
}

mw_status mon__sqlite_privacy_key_put(mw_conn *c, const char *sealed, int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO privacy_key(id, name, secret, created_at) VALUES(1, "
                 "'privacy', ?, ?) ON CONFLICT(id) DO NOTHING");
  if(st) {
    mw_bind_text(st, 1, sealed);
    sqlite3_bind_int64(st, 2, now);
  }
  return mw_step_done(c, st);
}
