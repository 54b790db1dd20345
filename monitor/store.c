/* monitor/store.c - every SQL statement of the monitor: blocks and chunks,
 * ids, labels, dictionaries, windows, reference sets, drift settings,
 * evaluations and their series, retention. Prepared statements only
 * (cached per connection by mw_stmt), bound parameters only. The monitor
 * reads the registry's models/model_versions tables here, read-only, for
 * names and schemas of scheduled versions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "monitor/internal.h"

/* "model 'fraud' version 3" for a model_versions row id, for log lines
 * (operators know versions by model and number; row ids mean nothing to
 * them). Falls back to the row id when the lookup fails. */
static void version_label(mw_conn *c, int64_t version_id, char *buf, size_t cap) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT m.name, v.version FROM model_versions v "
                                "JOIN models m ON m.id = v.model_id WHERE v.id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  if(mw_step_one(c, st) == MW_OK) {
    snprintf(buf, cap, "model '%s' version %lld", mw_col_text(st, 0),
             (long long)sqlite3_column_int64(st, 1));
    sqlite3_reset(st);
  } else {
    snprintf(buf, cap, "version row %lld", (long long)version_id);
  }
}

static void bind_double_or_null(sqlite3_stmt *st, int idx, double v) {
  if(isfinite(v))
    sqlite3_bind_double(st, idx, v);
  else
    sqlite3_bind_null(st, idx);
}

/* ------------------------------------------------------------- blocks */

mw_status mon__store_block(mw_conn *c, int64_t version_id, const mon_batch *b,
                           const size_t *rows, size_t nrows, int64_t now_ms,
                           mw_buf *scratch) {
  int64_t tmin = INT64_MAX, tmax = INT64_MIN;
  bool has_ids = false;
  for(size_t k = 0; k < nrows; k++) {
    size_t i = rows ? rows[k] : k;
    if(b->ts[i] < tmin)
      tmin = b->ts[i];
    if(b->ts[i] > tmax)
      tmax = b->ts[i];
    if(b->ids[i])
      has_ids = true;
  }
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO pred_blocks(version_id, bucket, ts_min, ts_max, n, ncols, "
         "has_ids, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, tmin / MON_BUCKET_MS);
  sqlite3_bind_int64(st, 3, tmin);
  sqlite3_bind_int64(st, 4, tmax);
  sqlite3_bind_int64(st, 5, (int64_t)nrows);
  sqlite3_bind_int64(st, 6, (int64_t)b->ncols);
  sqlite3_bind_int(st, 7, has_ids);
  sqlite3_bind_int64(st, 8, now_ms);
  mw_status s = mw_step_done(c, st);
  if(s)
    return s;
  int64_t bid = sqlite3_last_insert_rowid(mw_conn_handle(c));
  sqlite3_stmt *ins = mw_stmt(c, "INSERT INTO pred_chunks(id, data) VALUES(?, ?)");
  if(!ins)
    return MW_EDB;
  for(size_t slot = 0; slot <= b->ncols + (has_ids ? 1 : 0); slot++) {
    if(slot == 0)
      s = mon__pack_i64(scratch, b->ts, rows, nrows);
    else if(slot <= b->ncols)
      s = mon__pack_doubles(scratch, b->vals + (slot - 1) * b->n, rows, nrows);
    else
      s = mon__pack_ids(scratch, b->ids, rows, nrows);
    if(s)
      return s;
    sqlite3_bind_int64(ins, 1, MON_CHUNK_ROWID(bid, (int64_t)slot));
    sqlite3_bind_blob(ins, 2, scratch->len ? scratch->data : "", (int)scratch->len,
                      SQLITE_STATIC);
    if((s = mw_step_done(c, ins)))
      return s;
  }
  return MW_OK;
}

/* ---------------------------------------------------------------- ids */

mw_status mon__store_id(mw_conn *c, int64_t model_id, const char *ext_id,
                        int64_t version_id, int64_t ts, double prediction) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO pred_ids(model_id, ext_id, "
                                "version_id, ts, prediction) VALUES(?, ?, ?, ?, ?)");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, model_id);
  sqlite3_bind_text(st, 2, ext_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, version_id);
  sqlite3_bind_int64(st, 4, ts);
  bind_double_or_null(st, 5, prediction);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if(rc == SQLITE_DONE)
    return MW_OK;
  if((rc & 0xff) == SQLITE_CONSTRAINT)
    return MW_ECONFLICT; /* expected: reported to the client, not logged */
  return mw_db_status(c, rc);
}

mw_status mon__store_id_exists(mw_conn *c, int64_t model_id, const char *ext_id,
                               int *exists) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT 1 FROM pred_ids WHERE model_id = ? AND ext_id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, model_id);
  sqlite3_bind_text(st, 2, ext_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *exists = rc == SQLITE_ROW;
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? MW_OK : mw_db_status(c, rc);
}

mw_status mon__store_id_get(mw_conn *c, int64_t model_id, const char *ext_id,
                            int64_t *version_id, int64_t *ts, double *prediction) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT version_id, ts, prediction FROM pred_ids "
                                "WHERE model_id = ? AND ext_id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, model_id);
  sqlite3_bind_text(st, 2, ext_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW) {
    *version_id = sqlite3_column_int64(st, 0);
    *ts = sqlite3_column_int64(st, 1);
    *prediction = sqlite3_column_type(st, 2) == SQLITE_NULL
                      ? NAN
                      : sqlite3_column_double(st, 2);
  }
  sqlite3_reset(st);
  if(rc == SQLITE_DONE)
    return MW_ENOTFOUND;
  return rc == SQLITE_ROW ? MW_OK : mw_db_status(c, rc);
}

mw_status mon__store_label(mw_conn *c, int64_t model_id, const char *ext_id,
                           int64_t version_id, int64_t ts, double prediction,
                           double label, int64_t now_ms) {
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO labels(model_id, ext_id, version_id, ts, prediction, label, "
         "at) VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(model_id, ext_id) DO UPDATE "
         "SET label = excluded.label, at = excluded.at, "
         "prediction = excluded.prediction, ts = excluded.ts");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, model_id);
  mw_bind_text(st, 2, ext_id);
  sqlite3_bind_int64(st, 3, version_id);
  sqlite3_bind_int64(st, 4, ts);
  bind_double_or_null(st, 5, prediction);
  sqlite3_bind_double(st, 6, label);
  sqlite3_bind_int64(st, 7, now_ms);
  return mw_step_done(c, st);
}

/* -------------------------------------------------------- dictionaries */

mw_status mon__store_dict_load(mw_conn *c, int64_t version_id, size_t col,
                               mon_dict *d) {
  mon__dict_init(d);
  sqlite3_stmt *st = mw_stmt(c, "SELECT code, value FROM mon_categories WHERE "
                                "version_id = ? AND col = ? ORDER BY code");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, (int64_t)col);
  int rc;
  mw_status s = MW_OK;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    long code;
    /* Codes are dense from 0 in insertion order, so interning in code
     * order gives every value its stored code back. */
    if((s = mon__dict_intern(d, mw_col_text(st, 1), &code)))
      break;
    if(code != sqlite3_column_int64(st, 0)) {
      s = MW_EINTERNAL;
      break;
    }
  }
  sqlite3_reset(st);
  if(s == MW_EINTERNAL) {
    char who[400];
    version_label(c, version_id, who, sizeof who);
    mw_log(MW_LOG_ERROR, "monitor", "category codes of %s column %zu are not dense",
           who, col);
  }
  if(!s && rc != SQLITE_DONE && rc != SQLITE_ROW)
    s = mw_db_status(c, rc);
  if(s)
    mon__dict_free(d);
  else
    d->nloaded = d->n;
  return s;
}

mw_status mon__store_dict_save(mw_conn *c, int64_t version_id, size_t col,
                               mon_dict *d) {
  for(size_t code = d->nloaded; code < d->n; code++) {
    sqlite3_stmt *st = mw_stmt(c, "INSERT INTO mon_categories(version_id, col, "
                                  "code, value) VALUES(?, ?, ?, ?)");
    if(!st)
      return MW_EDB;
    sqlite3_bind_int64(st, 1, version_id);
    sqlite3_bind_int64(st, 2, (int64_t)col);
    sqlite3_bind_int64(st, 3, (int64_t)code);
    sqlite3_bind_text(st, 4, d->values[code], -1, SQLITE_STATIC);
    mw_status s = mw_step_done(c, st);
    if(s)
      return s;
  }
  d->nloaded = d->n;
  return MW_OK;
}

/* ------------------------------------------------------------- windows */

mw_status mon__read_begin(mw_conn *c) { return mw_tx_read(c); }

void mon__read_end(mw_conn *c) { mw_tx_rollback(c); }

void mon__window_free(mon_window *w) {
  if(!w)
    return;
  for(size_t i = 0; i < w->nblocks; i++)
    free(w->blocks[i].mask);
  free(w->blocks);
  memset(w, 0, sizeof *w);
}

/* Reads the timestamps of a block that straddles the window and marks the
 * rows inside it. */
static mw_status block_mask(mw_conn *c, const mon_window *w, mon_wblock *b) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT data FROM pred_chunks WHERE id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, MON_CHUNK_ROWID(b->id, MON_SLOT_TS));
  int rc = sqlite3_step(st);
  mw_status s = MW_OK;
  if(rc != SQLITE_ROW) {
    s = rc == SQLITE_DONE ? MW_EINTERNAL : mw_db_status(c, rc);
    goto out;
  }
  const void *data = sqlite3_column_blob(st, 0);
  if((int64_t)sqlite3_column_bytes(st, 0) != b->n * 8 ||
     !(b->mask = malloc((size_t)b->n))) {
    s = b->mask ? MW_EINTERNAL : MW_ENOMEM;
    goto out;
  }
  b->nsel = 0;
  for(int64_t i = 0; i < b->n; i++) {
    int64_t t = mon__chunk_i64(data, (size_t)i);
    b->mask[i] = t >= w->from && t < w->to;
    b->nsel += b->mask[i];
  }
out:
  sqlite3_reset(st);
  if(s == MW_EINTERNAL)
    mw_log(MW_LOG_ERROR, "monitor", "block %lld has no valid timestamp chunk",
           (long long)b->id);
  return s;
}

mw_status mon__window_open(mw_conn *c, int64_t version_id, size_t ncols,
                           int64_t from, int64_t to, mon_window *w) {
  return mon__window_open_ids(c, version_id, ncols, from, to, INT64_MIN,
                              INT64_MAX, w);
}

mw_status mon__window_open_ids(mw_conn *c, int64_t version_id, size_t ncols,
                               int64_t from, int64_t to, int64_t id_lo,
                               int64_t id_hi, mon_window *w) {
  memset(w, 0, sizeof *w);
  w->from = from;
  w->to = to;
  w->ncols = ncols;
  if(to <= from || id_hi < id_lo)
    return MW_OK;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT id, ts_min, ts_max, n, ncols FROM pred_blocks WHERE "
         "version_id = ? AND bucket BETWEEN ? AND ? AND ts_max >= ? AND "
         "ts_min < ? AND id BETWEEN ? AND ? ORDER BY id");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, from / MON_BUCKET_MS);
  sqlite3_bind_int64(st, 3, (to - 1) / MON_BUCKET_MS);
  sqlite3_bind_int64(st, 4, from);
  sqlite3_bind_int64(st, 5, to);
  sqlite3_bind_int64(st, 6, id_lo);
  sqlite3_bind_int64(st, 7, id_hi);
  size_t cap = 0;
  int rc;
  mw_status s = MW_OK;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if(sqlite3_column_int64(st, 4) != (int64_t)ncols)
      continue; /* written under another schema; cannot be read as this one */
    if(w->nblocks == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      mon_wblock *nb = realloc(w->blocks, ncap * sizeof *nb);
      if(!nb) {
        s = MW_ENOMEM;
        break;
      }
      w->blocks = nb;
      cap = ncap;
    }
    mon_wblock *b = &w->blocks[w->nblocks++];
    memset(b, 0, sizeof *b);
    b->id = sqlite3_column_int64(st, 0);
    b->ts_min = sqlite3_column_int64(st, 1);
    b->ts_max = sqlite3_column_int64(st, 2);
    b->n = sqlite3_column_int64(st, 3);
    b->nsel = b->n;
  }
  sqlite3_reset(st);
  if(!s && rc != SQLITE_DONE)
    s = mw_db_status(c, rc);
  for(size_t i = 0; i < w->nblocks && !s; i++) {
    mon_wblock *b = &w->blocks[i];
    if(b->ts_min < from || b->ts_max >= to)
      s = block_mask(c, w, b);
    w->count += b->nsel;
  }
  if(s)
    mon__window_free(w);
  return s;
}

mw_status mon__window_visit(mw_conn *c, const mon_window *w, size_t col,
                            mon_visit_fn fn, void *ctx) {
  int64_t maxn = 0;
  for(size_t i = 0; i < w->nblocks; i++)
    if(w->blocks[i].n > maxn)
      maxn = w->blocks[i].n;
  double *tmp = malloc((size_t)(maxn ? maxn : 1) * sizeof *tmp);
  if(!tmp)
    return MW_ENOMEM;
  mw_status s = MW_OK;
  for(size_t i = 0; i < w->nblocks && !s; i++) {
    const mon_wblock *b = &w->blocks[i];
    if(b->nsel == 0)
      continue;
    sqlite3_stmt *st = mw_stmt(c, "SELECT data FROM pred_chunks WHERE id = ?");
    if(!st) {
      s = MW_EDB;
      break;
    }
    sqlite3_bind_int64(st, 1, MON_CHUNK_ROWID(b->id, (int64_t)col + 1));
    int rc = sqlite3_step(st);
    if(rc != SQLITE_ROW) {
      s = rc == SQLITE_DONE ? MW_EINTERNAL : mw_db_status(c, rc);
      sqlite3_reset(st);
      break;
    }
    const void *data = sqlite3_column_blob(st, 0);
    if((int64_t)sqlite3_column_bytes(st, 0) != b->n * 8) {
      sqlite3_reset(st);
      s = MW_EINTERNAL;
      break;
    }
    size_t k = 0;
    if(!b->mask) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      memcpy(tmp, data, (size_t)b->n * 8);
      k = (size_t)b->n;
#else
      for(int64_t r = 0; r < b->n; r++)
        tmp[k++] = mon__chunk_double(data, (size_t)r);
#endif
    } else {
      for(int64_t r = 0; r < b->n; r++)
        if(b->mask[r])
          tmp[k++] = mon__chunk_double(data, (size_t)r);
    }
    sqlite3_reset(st);
    s = fn(ctx, tmp, k);
  }
  if(s == MW_EINTERNAL)
    mw_log(MW_LOG_ERROR, "monitor", "a block of the window has a damaged chunk "
           "for column %zu", col);
  free(tmp);
  return s;
}

mw_status mon__store_block_epoch(mw_conn *c, mon_epoch *e) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT gen, n, ts_max, id_max, (SELECT coalesce(max(id), 0) FROM "
         "pred_blocks) FROM pred_block_epoch WHERE id = 1");
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  mw_status s = MW_OK;
  if(rc == SQLITE_ROW) {
    e->gen = sqlite3_column_int64(st, 0);
    e->n = sqlite3_column_int64(st, 1);
    e->del_ts_max = sqlite3_column_int64(st, 2);
    e->del_id_max = sqlite3_column_int64(st, 3);
    e->max_block = sqlite3_column_int64(st, 4);
  } else {
    s = rc == SQLITE_DONE ? MW_EINTERNAL : mw_db_status(c, rc);
  }
  sqlite3_reset(st);
  return s;
}

/* ---------------------------------------------------------- references */

mw_status mon__store_ref_save(mw_conn *c, int64_t version_id,
                              const mon_schema *s, const mon_ref *r) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM reference_sets WHERE version_id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  mw_status rc = mw_step_done(c, st);
  if(rc)
    return rc;
  st = mw_stmt(c, "INSERT INTO reference_sets(version_id, source, window_from, "
                  "window_to, row_count, created_at, created_by) "
                  "VALUES(?, ?, ?, ?, ?, ?, ?)");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_text(st, 2, r->source, -1, SQLITE_STATIC);
  if(!strcmp(r->source, "window")) {
    sqlite3_bind_int64(st, 3, r->from);
    sqlite3_bind_int64(st, 4, r->to);
  }
  sqlite3_bind_int64(st, 5, r->rows);
  sqlite3_bind_int64(st, 6, r->created_at);
  sqlite3_bind_text(st, 7, r->created_by, -1, SQLITE_STATIC);
  if((rc = mw_step_done(c, st)))
    return rc;
  mw_buf blob;
  mw_buf_init(&blob, (size_t)1 << 30);
  for(size_t col = 0; col < s->ncols && !rc; col++) {
    const mon_refcol *rc_ = &r->cols[col];
    st = mw_stmt(c, "INSERT INTO reference_columns(version_id, col, name, kind, "
                    "count, missing, mean, std, min, max, sorted, bins, "
                    "categories) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if(!st) {
      rc = MW_EDB;
      break;
    }
    sqlite3_bind_int64(st, 1, version_id);
    sqlite3_bind_int64(st, 2, (int64_t)col);
    sqlite3_bind_text(st, 3, s->cols[col].name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, mon__kind_name(rc_->kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, rc_->count);
    sqlite3_bind_int64(st, 6, rc_->missing);
    if(rc_->kind == MON_COLUMN_NUMERIC && rc_->count > 0) {
      bind_double_or_null(st, 7, rc_->mean);
      bind_double_or_null(st, 8, rc_->std);
      bind_double_or_null(st, 9, rc_->min);
      bind_double_or_null(st, 10, rc_->max);
    }
    if(rc_->kind == MON_COLUMN_NUMERIC) {
      if((rc = mon__pack_doubles(&blob, rc_->sorted, NULL, rc_->nsorted)))
        break;
      sqlite3_bind_blob64(st, 11, blob.len ? blob.data : "", blob.len,
                          SQLITE_TRANSIENT);
      if(rc_->has_bins)
        sqlite3_bind_blob(st, 12, &rc_->bins, (int)sizeof rc_->bins,
                          SQLITE_TRANSIENT);
    } else {
      if((rc = mon__pack_doubles(&blob, rc_->cat_counts, NULL, rc_->ncat)))
        break;
      sqlite3_bind_blob64(st, 13, blob.len ? blob.data : "", blob.len,
                          SQLITE_TRANSIENT);
    }
    rc = mw_step_done(c, st);
  }
  mw_buf_free(&blob);
  return rc;
}

void mon__ref_free(mon_ref *r) {
  if(!r)
    return;
  for(size_t i = 0; i < r->ncols; i++) {
    free(r->cols[i].sorted);
    free(r->cols[i].cat_counts);
  }
  free(r->cols);
  memset(r, 0, sizeof *r);
}

/* Copies a packed float64 blob into a new array. */
static mw_status blob_doubles(sqlite3_stmt *st, int col, double **out, size_t *n) {
  *out = NULL;
  *n = 0;
  size_t len = (size_t)sqlite3_column_bytes(st, col);
  const void *data = sqlite3_column_blob(st, col);
  if(len % 8)
    return MW_EINTERNAL;
  *n = len / 8;
  *out = malloc((*n ? *n : 1) * sizeof **out);
  if(!*out)
    return MW_ENOMEM;
  for(size_t i = 0; i < *n; i++)
    (*out)[i] = mon__chunk_double(data, i);
  return MW_OK;
}

mw_status mon__store_ref_load(mw_conn *c, int64_t version_id, size_t ncols,
                              bool with_data, mon_ref *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = mw_stmt(c, "SELECT source, window_from, window_to, row_count, "
                                "created_at, created_by FROM reference_sets "
                                "WHERE version_id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MW_ENOTFOUND : mw_db_status(c, rc);
  }
  mw_strlcpy(out->source, mw_col_text(st, 0), sizeof out->source);
  out->from = sqlite3_column_int64(st, 1);
  out->to = sqlite3_column_int64(st, 2);
  out->rows = sqlite3_column_int64(st, 3);
  out->created_at = sqlite3_column_int64(st, 4);
  mw_strlcpy(out->created_by, mw_col_text(st, 5), sizeof out->created_by);
  sqlite3_reset(st);
  out->cols = calloc(ncols ? ncols : 1, sizeof *out->cols);
  if(!out->cols)
    return MW_ENOMEM;
  out->ncols = ncols;
  st = with_data
           ? mw_stmt(c, "SELECT col, kind, count, missing, mean, std, min, max, "
                        "sorted, bins, categories FROM reference_columns WHERE "
                        "version_id = ? ORDER BY col")
           : mw_stmt(c, "SELECT col, kind, count, missing, mean, std, min, max "
                        "FROM reference_columns WHERE version_id = ? ORDER BY col");
  if(!st) {
    mon__ref_free(out);
    return MW_EDB;
  }
  sqlite3_bind_int64(st, 1, version_id);
  mw_status s = MW_OK;
  size_t seen = 0;
  while(!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t col = sqlite3_column_int64(st, 0);
    if(col < 0 || (size_t)col >= ncols) {
      s = MW_EINTERNAL;
      break;
    }
    mon_refcol *r = &out->cols[col];
    r->kind = !strcmp(mw_col_text(st, 1), "categorical") ? MON_COLUMN_CATEGORICAL
                                                         : MON_COLUMN_NUMERIC;
    r->count = sqlite3_column_int64(st, 2);
    r->missing = sqlite3_column_int64(st, 3);
    r->mean = sqlite3_column_double(st, 4);
    r->std = sqlite3_column_double(st, 5);
    r->min = sqlite3_column_double(st, 6);
    r->max = sqlite3_column_double(st, 7);
    seen++;
    if(!with_data)
      continue;
    if(r->kind == MON_COLUMN_NUMERIC) {
      s = blob_doubles(st, 8, &r->sorted, &r->nsorted);
      if(!s && sqlite3_column_bytes(st, 9) == (int)sizeof r->bins) {
        memcpy(&r->bins, sqlite3_column_blob(st, 9), sizeof r->bins);
        r->has_bins = r->bins.n_bins >= 1 && r->bins.n_bins <= MON_STATS_MAX_BINS;
      }
    } else {
      s = blob_doubles(st, 10, &r->cat_counts, &r->ncat);
    }
  }
  sqlite3_reset(st);
  if(!s && rc != SQLITE_DONE)
    s = mw_db_status(c, rc);
  if(!s && seen != ncols)
    s = MW_EINTERNAL; /* the reference was stored under another schema */
  if(s == MW_EINTERNAL) {
    char who[400];
    version_label(c, version_id, who, sizeof who);
    mw_log(MW_LOG_ERROR, "monitor", "reference of %s does not match its schema", who);
  }
  if(s)
    mon__ref_free(out);
  return s;
}

/* ------------------------------------------------------ drift settings */

mw_status mon__store_dcfg_get(mw_conn *c, int64_t version_id, char **json) {
  *json = NULL;
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT config FROM drift_config WHERE version_id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  int rc = sqlite3_step(st);
  mw_status s = MW_OK;
  if(rc == SQLITE_ROW) {
    if(!(*json = strdup(mw_col_text(st, 0))))
      s = MW_ENOMEM;
  } else if(rc != SQLITE_DONE) {
    s = mw_db_status(c, rc);
  }
  sqlite3_reset(st);
  return s;
}

mw_status mon__store_dcfg_put(mw_conn *c, int64_t version_id, const char *json,
                              const char *actor, int64_t now_ms) {
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO drift_config(version_id, config, updated_at, updated_by) "
         "VALUES(?, ?, ?, ?) ON CONFLICT(version_id) DO UPDATE SET "
         "config = excluded.config, updated_at = excluded.updated_at, "
         "updated_by = excluded.updated_by");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, now_ms);
  mw_bind_text(st, 4, actor ? actor : "");
  return mw_step_done(c, st);
}

/* --------------------------------------------------------- evaluations */

struct series_ctx {
  mw_conn *c;
  int64_t version_id, at, eval_id;
  mw_status st;
};

static void put_point(void *p, const char *col, const char *metric, double v) {
  struct series_ctx *x = p;
  if(x->st || !isfinite(v))
    return;
  sqlite3_stmt *st = mw_stmt(x->c, "INSERT INTO drift_series(version_id, col, "
                                   "metric, at, eval_id, value) "
                                   "VALUES(?, ?, ?, ?, ?, ?)");
  if(!st) {
    x->st = MW_EDB;
    return;
  }
  sqlite3_bind_int64(st, 1, x->version_id);
  sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, metric, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, x->at);
  sqlite3_bind_int64(st, 5, x->eval_id);
  sqlite3_bind_double(st, 6, v);
  x->st = mw_step_done(x->c, st);
}

mw_status mon__store_eval(mw_conn *c, int64_t version_id, int64_t at,
                          const cJSON *report, const char *trigger) {
  const cJSON *win = cJSON_GetObjectItemCaseSensitive(report, "window");
  const cJSON *ds = cJSON_GetObjectItemCaseSensitive(report, "dataset");
  int64_t wf = 0, wt = 0;
  mw_time_parse(mw_json_str(win, "from"), &wf);
  mw_time_parse(mw_json_str(win, "to"), &wt);
  const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(win, "count");
  const cJSON *share = cJSON_GetObjectItemCaseSensitive(ds, "drift_share");
  char *text = cJSON_PrintUnformatted(report);
  if(!text)
    return MW_ENOMEM;
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO drift_evals(version_id, at, window_from, window_to, "
         "row_count, drift_share, drifted, trigger_kind, report) "
         "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if(!st) {
    cJSON_free(text);
    return MW_EDB;
  }
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, at);
  sqlite3_bind_int64(st, 3, wf);
  sqlite3_bind_int64(st, 4, wt);
  sqlite3_bind_int64(st, 5, cJSON_IsNumber(cnt) ? (int64_t)cnt->valuedouble : 0);
  sqlite3_bind_double(st, 6, cJSON_IsNumber(share) ? share->valuedouble : 0.0);
  sqlite3_bind_int(st, 7,
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ds, "drifted")));
  sqlite3_bind_text(st, 8, trigger, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, text, -1, SQLITE_STATIC);
  mw_status s = mw_step_done(c, st);
  cJSON_free(text);
  if(s)
    return s;
  struct series_ctx x = {c, version_id, at,
                         sqlite3_last_insert_rowid(mw_conn_handle(c)), MW_OK};
  mon__report_metrics(report, put_point, &x);
  return x.st;
}

mw_status mon_drift_history(mw_conn *c, const mon_version *v,
                            const char *column, const char *metric,
                            int64_t from_ms, int64_t to_ms, int limit,
                            cJSON **out, mw_err *err) {
  *out = NULL;
  if(limit < 1 || limit > 10000)
    return mw_errf(err, MW_EINVAL, "limit must be 1-10000");
  const char *stored = mon__metric_name(column, metric);
  if(!stored)
    return mw_errf(err, MW_EVALIDATION,
                   "unknown metric '%.64s' for %s (see the drift history "
                   "documentation for the names)",
                   metric ? metric : "", column && *column ? "a column" : "the dataset");
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT s.at, s.value, e.window_from, e.window_to FROM drift_series s "
         "JOIN drift_evals e ON e.id = s.eval_id WHERE s.version_id = ? AND "
         "s.col = ? AND s.metric = ? AND s.at BETWEEN ? AND ? ORDER BY s.at "
         "LIMIT ?");
  if(!st)
    return MW_EDB;
  cJSON *o = cJSON_CreateObject();
  if(column && *column)
    cJSON_AddStringToObject(o, "column", column);
  else
    cJSON_AddNullToObject(o, "column");
  cJSON_AddStringToObject(o, "metric", metric);
  mw_json_add_time(o, "from", from_ms);
  mw_json_add_time(o, "to", to_ms);
  cJSON *pts = cJSON_AddArrayToObject(o, "points");
  sqlite3_bind_int64(st, 1, v->id);
  sqlite3_bind_text(st, 2, column ? column : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, stored, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, from_ms);
  sqlite3_bind_int64(st, 5, to_ms);
  sqlite3_bind_int(st, 6, limit);
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *p = cJSON_CreateObject();
    mw_json_add_time(p, "at", sqlite3_column_int64(st, 0));
    mon__json_add_number(p, "value", sqlite3_column_double(st, 1));
    cJSON *w = cJSON_AddObjectToObject(p, "window");
    mw_json_add_time(w, "from", sqlite3_column_int64(st, 2));
    mw_json_add_time(w, "to", sqlite3_column_int64(st, 3));
    cJSON_AddItemToArray(pts, p);
  }
  sqlite3_reset(st);
  if(rc != SQLITE_DONE) {
    cJSON_Delete(o);
    return mw_db_status(c, rc);
  }
  *out = o;
  return MW_OK;
}

mw_status mon_metric_latest(mw_conn *c, int64_t version_id, const char *column,
                            const char *metric, double *value, int64_t *at_ms) {
  const char *stored = mon__metric_name(column, metric);
  if(!stored)
    return MW_ENOTFOUND;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT value, at FROM drift_series WHERE version_id = ? AND col = ? "
         "AND metric = ? AND eval_id = (SELECT max(id) FROM drift_evals WHERE "
         "version_id = ?)");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_text(st, 2, column ? column : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, stored, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, version_id);
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW) {
    *value = sqlite3_column_double(st, 0);
    if(at_ms)
      *at_ms = sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  if(rc == SQLITE_DONE)
    return MW_ENOTFOUND;
  return rc == SQLITE_ROW ? MW_OK : mw_db_status(c, rc);
}

mw_status mon__store_latest_evals(mw_conn *c,
                                  mw_status (*fn)(void *, const char *, int64_t,
                                                  const char *),
                                  void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT m.name, v.version, e.report FROM drift_evals e "
         "JOIN model_versions v ON v.id = e.version_id "
         "JOIN models m ON m.id = v.model_id WHERE e.id IN "
         "(SELECT max(id) FROM drift_evals GROUP BY version_id) "
         "ORDER BY m.name, v.version");
  if(!st)
    return MW_EDB;
  int rc;
  mw_status s = MW_OK;
  while(!s && (rc = sqlite3_step(st)) == SQLITE_ROW)
    s = fn(ctx, mw_col_text(st, 0), sqlite3_column_int64(st, 1),
           mw_col_text(st, 2));
  sqlite3_reset(st);
  if(!s && rc != SQLITE_DONE && rc != SQLITE_ROW)
    s = mw_db_status(c, rc);
  return s;
}

/* ---------------------------------------------------------- performance */

mw_status mon__store_labels_visit(mw_conn *c, int64_t version_id, int64_t from,
                                  int64_t to,
                                  void (*fn)(void *, double, double), void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT prediction, label FROM labels WHERE "
                                "version_id = ? AND ts >= ? AND ts < ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW)
    fn(ctx,
       sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN
                                                 : sqlite3_column_double(st, 0),
       sqlite3_column_double(st, 1));
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? MW_OK : mw_db_status(c, rc);
}

/* ------------------------------------------------------------ versions */

mw_status mon__store_version(mw_conn *c, const char *model, int64_t version,
                             int64_t *id, int64_t *model_id, char **schema) {
  *schema = NULL;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT v.id, v.model_id, v.schema FROM model_versions v "
         "JOIN models m ON m.id = v.model_id WHERE m.name = ? AND v.version = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, version);
  int rc = sqlite3_step(st);
  mw_status s = MW_OK;
  if(rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    *model_id = sqlite3_column_int64(st, 1);
    if(sqlite3_column_type(st, 2) != SQLITE_NULL &&
       !(*schema = strdup(mw_col_text(st, 2))))
      s = MW_ENOMEM;
  } else {
    s = rc == SQLITE_DONE ? MW_ENOTFOUND : mw_db_status(c, rc);
  }
  sqlite3_reset(st);
  return s;
}

/* ----------------------------------------------------------- schedule */

void mon__due_free(mon_due *d, size_t n) {
  if(!d)
    return;
  for(size_t i = 0; i < n; i++) {
    free(d[i].model);
    free(d[i].schema);
    free(d[i].config);
  }
  free(d);
}

static char *dup_col(sqlite3_stmt *st, int col) {
  if(sqlite3_column_type(st, col) == SQLITE_NULL)
    return NULL;
  return strdup(mw_col_text(st, col));
}

mw_status mon__store_due(mw_conn *c, mon_due **out, size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT r.version_id, v.model_id, v.version, m.name, v.schema, "
         "c.config, (SELECT max(at) FROM drift_evals e WHERE "
         "e.version_id = r.version_id) FROM reference_sets r "
         "JOIN model_versions v ON v.id = r.version_id "
         "JOIN models m ON m.id = v.model_id "
         "LEFT JOIN drift_config c ON c.version_id = r.version_id "
         "ORDER BY r.version_id");
  if(!st)
    return MW_EDB;
  size_t cap = 0;
  int rc;
  mw_status s = MW_OK;
  while(!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if(*n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      mon_due *nd = realloc(*out, ncap * sizeof *nd);
      if(!nd) {
        s = MW_ENOMEM;
        break;
      }
      *out = nd;
      cap = ncap;
    }
    mon_due *d = &(*out)[(*n)++];
    memset(d, 0, sizeof *d);
    d->version_id = sqlite3_column_int64(st, 0);
    d->model_id = sqlite3_column_int64(st, 1);
    d->version = sqlite3_column_int64(st, 2);
    d->model = dup_col(st, 3);
    d->schema = dup_col(st, 4);
    d->config = dup_col(st, 5);
    d->last_at = sqlite3_column_type(st, 6) == SQLITE_NULL
                     ? -1
                     : sqlite3_column_int64(st, 6);
    if(!d->model)
      s = MW_ENOMEM;
  }
  sqlite3_reset(st);
  if(!s && rc != SQLITE_DONE)
    s = mw_db_status(c, rc);
  if(s) {
    mon__due_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return s;
}

/* ----------------------------------------------------------- retention */

/* Removes the ids (and their labels) of one expiring block. */
static mw_status drop_block_ids(mw_conn *c, int64_t block, int64_t ncols,
                                int64_t n, int64_t model_id, int64_t version_id) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT data FROM pred_chunks WHERE id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, MON_CHUNK_ROWID(block, ncols + 1));
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MW_OK : mw_db_status(c, rc);
  }
  size_t len = (size_t)sqlite3_column_bytes(st, 0);
  char *copy = malloc(len + 1);
  const char **ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
  mw_status s = MW_OK;
  if(!copy || !ids) {
    s = MW_ENOMEM;
  } else {
    memcpy(copy, sqlite3_column_blob(st, 0), len);
    if(!mon__unpack_ids(copy, len, (size_t)n, ids))
      n = 0; /* damaged: leave the ids to the model's lifetime */
  }
  sqlite3_reset(st);
  for(int64_t i = 0; i < n && !s; i++) {
    if(!ids[i][0])
      continue;
    sqlite3_stmt *del = mw_stmt(c, "DELETE FROM pred_ids WHERE model_id = ? AND "
                                   "ext_id = ? AND version_id = ?");
    if(!del) {
      s = MW_EDB;
      break;
    }
    sqlite3_bind_int64(del, 1, model_id);
    sqlite3_bind_text(del, 2, ids[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(del, 3, version_id);
    s = mw_step_done(c, del);
  }
  free(copy);
  free(ids);
  return s;
}

mw_status mon__store_retention(mw_conn *c, int64_t cutoff_ms, int max_blocks,
                               int64_t *deleted) {
  *deleted = 0;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT b.id, b.ncols, b.n, b.has_ids, v.model_id, b.version_id "
         "FROM pred_blocks b JOIN model_versions v ON v.id = b.version_id "
         "WHERE b.bucket < ? AND b.ts_max < ? ORDER BY b.bucket LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, cutoff_ms / MON_BUCKET_MS);
  sqlite3_bind_int64(st, 2, cutoff_ms);
  sqlite3_bind_int(st, 3, max_blocks < 1 ? 1 : max_blocks > 256 ? 256 : max_blocks);
  int64_t rows[256][6];
  int nrows = 0, rc;
  while(nrows < 256 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    for(int k = 0; k < 6; k++)
      rows[nrows][k] = sqlite3_column_int64(st, k);
    nrows++;
  }
  sqlite3_reset(st);
  mw_status s = MW_OK;
  for(int i = 0; i < nrows && !s; i++) {
    if(rows[i][3])
      s = drop_block_ids(c, rows[i][0], rows[i][1], rows[i][2], rows[i][4],
                         rows[i][5]);
    if(s)
      break;
    sqlite3_stmt *del = mw_stmt(c, "DELETE FROM pred_blocks WHERE id = ?");
    if(!del)
      return MW_EDB;
    sqlite3_bind_int64(del, 1, rows[i][0]);
    s = mw_step_done(c, del);
  }
  *deleted = nrows;
  if(s)
    return s;
  /* Labels, evaluations and their series age out with the same cutoff, a
   * bounded number per step. */
  static const char *const sql[] = {
      "DELETE FROM labels WHERE id IN (SELECT id FROM labels WHERE ts < ? "
      "LIMIT 5000)",
      "DELETE FROM drift_series WHERE (version_id, col, metric, at, eval_id) IN "
      "(SELECT version_id, col, metric, at, eval_id FROM drift_series WHERE "
      "at < ? LIMIT 5000)",
      "DELETE FROM drift_evals WHERE id IN (SELECT id FROM drift_evals WHERE "
      "at < ? LIMIT 500)",
  };
  for(size_t k = 0; k < sizeof sql / sizeof sql[0] && !s; k++) {
    sqlite3_stmt *del = mw_stmt(c, sql[k]);
    if(!del)
      return MW_EDB;
    sqlite3_bind_int64(del, 1, cutoff_ms);
    s = mw_step_done(c, del);
    if(!s && sqlite3_changes(mw_conn_handle(c)) > 0 && *deleted == 0)
      *deleted = 1; /* more may be left: ask the caller to come again */
  }
  return s;
}

/* ---------------------------------------------------------- compaction */

/* Blocks smaller than this are merged once their bucket is closed. */
#define MON_SMALL_BLOCK 1024
/* Merged blocks hold at most this many rows. */
#define MON_MERGED_BLOCK 8192

/* Reads one chunk of a block into dst (n 8-byte values). */
static mw_status read_chunk(mw_conn *c, int64_t block, int64_t slot, size_t n,
                            void *dst) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT data FROM pred_chunks WHERE id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, MON_CHUNK_ROWID(block, slot));
  int rc = sqlite3_step(st);
  mw_status s = MW_OK;
  if(rc != SQLITE_ROW)
    s = rc == SQLITE_DONE ? MW_EINTERNAL : mw_db_status(c, rc);
  else if((size_t)sqlite3_column_bytes(st, 0) != n * 8)
    s = MW_EINTERNAL;
  else
    memcpy(dst, sqlite3_column_blob(st, 0), n * 8);
  sqlite3_reset(st);
  return s;
}

mw_status mon__store_compact(mw_conn *c, int64_t before_bucket, int64_t *merged) {
  *merged = 0;
  /* One (version, bucket) with several small blocks per call. */
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT version_id, bucket, ncols FROM pred_blocks WHERE bucket < ? AND "
         "n < ? GROUP BY version_id, bucket, ncols HAVING count(*) > 1 LIMIT 1");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, before_bucket);
  sqlite3_bind_int(st, 2, MON_SMALL_BLOCK);
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MW_OK : mw_db_status(c, rc);
  }
  int64_t version_id = sqlite3_column_int64(st, 0);
  int64_t bucket = sqlite3_column_int64(st, 1);
  int64_t ncols = sqlite3_column_int64(st, 2);
  sqlite3_reset(st);
  st = mw_stmt(c, "SELECT id, n, has_ids FROM pred_blocks WHERE version_id = ? "
                  "AND bucket = ? AND ncols = ? AND n < ? ORDER BY id LIMIT 4096");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, bucket);
  sqlite3_bind_int64(st, 3, ncols);
  sqlite3_bind_int(st, 4, MON_SMALL_BLOCK);
  int64_t (*blk)[3] = NULL;
  size_t nblk = 0, cap = 0, total = 0;
  mw_status s = MW_OK;
  while((rc = sqlite3_step(st)) == SQLITE_ROW && total < MON_MERGED_BLOCK) {
    if(nblk == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      void *nb = realloc(blk, ncap * sizeof *blk);
      if(!nb) {
        s = MW_ENOMEM;
        break;
      }
      blk = nb;
      cap = ncap;
    }
    for(int k = 0; k < 3; k++)
      blk[nblk][k] = sqlite3_column_int64(st, k);
    total += (size_t)blk[nblk][1];
    nblk++;
  }
  sqlite3_reset(st);
  if(s || nblk < 2) {
    free(blk);
    return s;
  }
  /* Gather the blocks into one staging batch, then write it as one block. */
  mon_batch b;
  memset(&b, 0, sizeof b);
  b.n = total;
  b.ncols = (size_t)ncols;
  b.ts = malloc(total * sizeof *b.ts);
  b.vals = malloc(total * (size_t)ncols * sizeof *b.vals);
  b.ids = calloc(total, sizeof *b.ids);
  char **idcopies = calloc(nblk, sizeof *idcopies);
  mw_buf scratch;
  mw_buf_init(&scratch, (size_t)1 << 28);
  if(!b.ts || !b.vals || !b.ids || !idcopies)
    s = MW_ENOMEM;
  size_t off = 0;
  double *tmp = NULL;
  for(size_t k = 0; k < nblk && !s; k++) {
    size_t n = (size_t)blk[k][1];
    int64_t id = blk[k][0];
    if((s = read_chunk(c, id, MON_SLOT_TS, n, b.ts + off)))
      break;
    for(size_t i = 0; i < n; i++) /* stored little-endian */
      b.ts[off + i] = mon__chunk_i64(b.ts + off, i);
    free(tmp);
    if(!(tmp = malloc(n * 8 + 8))) {
      s = MW_ENOMEM;
      break;
    }
    for(int64_t col = 0; col < ncols && !s; col++) {
      if((s = read_chunk(c, id, col + 1, n, tmp)))
        break;
      for(size_t i = 0; i < n; i++)
        b.vals[(size_t)col * total + off + i] = mon__chunk_double(tmp, i);
    }
    if(!s && blk[k][2]) {
      sqlite3_stmt *q = mw_stmt(c, "SELECT data FROM pred_chunks WHERE id = ?");
      if(!q) {
        s = MW_EDB;
        break;
      }
      sqlite3_bind_int64(q, 1, MON_CHUNK_ROWID(id, ncols + 1));
      if(sqlite3_step(q) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(q, 0);
        if((idcopies[k] = malloc(len + 1))) {
          memcpy(idcopies[k], sqlite3_column_blob(q, 0), len);
          if(!mon__unpack_ids(idcopies[k], len, n, b.ids + off))
            s = MW_EINTERNAL;
          for(size_t i = 0; !s && i < n; i++)
            if(!b.ids[off + i][0])
              b.ids[off + i] = NULL;
        } else {
          s = MW_ENOMEM;
        }
      }
      sqlite3_reset(q);
    }
    off += n;
  }
  free(tmp);
  if(!s)
    s = mon__store_block(c, version_id, &b, NULL, total, mw_now_ms(), &scratch);
  for(size_t k = 0; k < nblk && !s; k++) {
    sqlite3_stmt *del = mw_stmt(c, "DELETE FROM pred_blocks WHERE id = ?");
    if(!del) {
      s = MW_EDB;
      break;
    }
    sqlite3_bind_int64(del, 1, blk[k][0]);
    s = mw_step_done(c, del);
  }
  if(!s)
    *merged = (int64_t)nblk;
  for(size_t k = 0; idcopies && k < nblk; k++)
    free(idcopies[k]);
  free(idcopies);
  mw_buf_free(&scratch);
  free(b.ts);
  free(b.vals);
  free(b.ids);
  free(blk);
  return s;
}
