/* monitor/store_sqlite.c - the monitor's store interface (monitor/store.h)
 * on SQLite: its table of operations, and reference sets, drift settings,
 * evaluations with their series, and the registry rows the monitor reads.
 * The logged predictions (blocks, chunks, ids, labels, categories) are in
 * monitor/predictions_sqlite.c. Prepared statements cached per connection
 * (mw_stmt), bound parameters only, every step through core's step
 * helpers; one statement per row written (in-process: a function call). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_sqlite.h"
#include "monitor/pack.h"
#include "monitor/store_sqlite.h"

/* version_id belongs to model ?2, or with ?2 = 0 to a model without a
 * retention of its own. */
#define MON__VERSION_OF_MODEL                                                 \
  "CASE WHEN ?2 = 0 THEN version_id NOT IN (SELECT v.id FROM model_versions " \
  "v JOIN model_retention r ON r.model_id = v.model_id) ELSE version_id IN "  \
  "(SELECT id FROM model_versions WHERE model_id = ?2) END"

static const char *kind_text(mon_column_kind k) {
  return k == MON_COLUMN_CATEGORICAL ? "categorical" : "numeric";
}

/* Runs a statement whose single row has a single integer; *v = dflt when
 * it has no row. */
static mw_status one_i64(mw_conn *c, sqlite3_stmt *st, int64_t dflt, int64_t *v) {
  int found = 0;
  mw_status s = mw_step_row(c, st, &found);
  if(s)
    return s;
  *v = found ? mw_col_i64(st, 0, dflt) : dflt;
  if(found)
    sqlite3_reset(st);
  return MW_OK;
}

/* ---------------------------------------------------------- references */

/* Binds a column's data: sorted values and bins, or category counts. */
static mw_status bind_refcol_data(sqlite3_stmt *st, const mon_refcol *r,
                                  mw_buf *blob) {
  mw_status s;
  if(r->kind == MON_COLUMN_NUMERIC) {
    if((s = mon__pack_doubles(blob, r->sorted, NULL, r->nsorted)))
      return s;
    sqlite3_bind_blob64(st, 11, blob->len ? blob->data : "", blob->len,
                        SQLITE_TRANSIENT);
    if(r->has_bins)
      sqlite3_bind_blob(st, 12, &r->bins, (int)sizeof r->bins, SQLITE_TRANSIENT);
    return MW_OK;
  }
  if((s = mon__pack_doubles(blob, r->cat_counts, NULL, r->ncat)))
    return s;
  sqlite3_bind_blob64(st, 13, blob->len ? blob->data : "", blob->len,
                      SQLITE_TRANSIENT);
  return MW_OK;
}

static mw_status refcol_insert(mw_conn *c, int64_t version_id, size_t col,
                               const char *name, const mon_refcol *r, mw_buf *blob) {
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO reference_columns(version_id, col, name, kind, "
                 "count, missing, mean, std, min, max, sorted, bins, "
                 "categories) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, (int64_t)col);
  mw_bind_text(st, 3, name);
  mw_bind_text(st, 4, kind_text(r->kind));
  sqlite3_bind_int64(st, 5, r->count);
  sqlite3_bind_int64(st, 6, r->missing);
  if(r->kind == MON_COLUMN_NUMERIC && r->count > 0) {
    mw_bind_double(st, 7, r->mean);
    mw_bind_double(st, 8, r->std);
    mw_bind_double(st, 9, r->min);
    mw_bind_double(st, 10, r->max);
  }
  mw_status s = bind_refcol_data(st, r, blob);
  if(s) {
    sqlite3_reset(st);
    return s;
  }
  return mw_step_done(c, st);
}

static mw_status ref_save(mw_conn *c, int64_t version_id, const mon_ref *r,
                          const char *const *names) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM reference_sets WHERE version_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  mw_status s = mw_step_done(c, st);
  if(s)
    return s;
  st = mw_stmt(c, "INSERT INTO reference_sets(version_id, source, window_from, "
                  "window_to, row_count, created_at, created_by) "
                  "VALUES(?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    bool window = !strcmp(r->source, "window");
    sqlite3_bind_int64(st, 1, version_id);
    mw_bind_text(st, 2, r->source);
    mw_bind_id(st, 3, window ? r->from : -1);
    mw_bind_id(st, 4, window ? r->to : -1);
    sqlite3_bind_int64(st, 5, r->rows);
    sqlite3_bind_int64(st, 6, r->created_at);
    mw_bind_text(st, 7, r->created_by);
  }
  if((s = mw_step_done(c, st)))
    return s;
  mw_buf blob;
  mw_buf_init(&blob, (size_t)1 << 30);
  for(size_t col = 0; col < r->ncols && !s; col++)
    s = refcol_insert(c, version_id, col, names[col], &r->cols[col], &blob);
  mw_buf_free(&blob);
  return s;
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
  mon__unpack_doubles(data, *n, *out);
  return MW_OK;
}

static mw_status ref_head(mw_conn *c, int64_t version_id, mon_ref *out) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT source, window_from, window_to, row_count, "
                                "created_at, created_by FROM reference_sets "
                                "WHERE version_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  mw_strlcpy(out->source, mw_col_text(st, 0), sizeof out->source);
  out->from = mw_col_i64(st, 1, 0);
  out->to = mw_col_i64(st, 2, 0);
  out->rows = sqlite3_column_int64(st, 3);
  out->created_at = sqlite3_column_int64(st, 4);
  mw_strlcpy(out->created_by, mw_col_text(st, 5), sizeof out->created_by);
  sqlite3_reset(st);
  return MW_OK;
}

/* One row of reference_columns into out->cols (columns as selected by
 * ref_load). */
static mw_status ref_column(sqlite3_stmt *st, bool with_data, mon_ref *out) {
  int64_t col = sqlite3_column_int64(st, 0);
  if(col < 0 || (size_t)col >= out->ncols)
    return MW_EINTERNAL;
  mon_refcol *r = &out->cols[col];
  r->kind = !strcmp(mw_col_text(st, 1), "categorical") ? MON_COLUMN_CATEGORICAL
                                                       : MON_COLUMN_NUMERIC;
  r->count = sqlite3_column_int64(st, 2);
  r->missing = sqlite3_column_int64(st, 3);
  r->mean = sqlite3_column_double(st, 4);
  r->std = sqlite3_column_double(st, 5);
  r->min = sqlite3_column_double(st, 6);
  r->max = sqlite3_column_double(st, 7);
  if(!with_data)
    return MW_OK;
  if(r->kind != MON_COLUMN_NUMERIC)
    return blob_doubles(st, 10, &r->cat_counts, &r->ncat);
  mw_status s = blob_doubles(st, 8, &r->sorted, &r->nsorted);
  if(!s && sqlite3_column_bytes(st, 9) == (int)sizeof r->bins) {
    memcpy(&r->bins, sqlite3_column_blob(st, 9), sizeof r->bins);
    r->has_bins = r->bins.n_bins >= 1 && r->bins.n_bins <= MON_STATS_MAX_BINS;
  }
  return s;
}

static mw_status ref_load(mw_conn *c, int64_t version_id, size_t ncols,
                          bool with_data, mon_ref *out) {
  memset(out, 0, sizeof *out);
  mw_status s = ref_head(c, version_id, out);
  if(s)
    return s;
  if(!(out->cols = calloc(ncols ? ncols : 1, sizeof *out->cols)))
    return MW_ENOMEM;
  out->ncols = ncols;
  sqlite3_stmt *st =
      with_data
          ? mw_stmt(c, "SELECT col, kind, count, missing, mean, std, min, max, "
                       "sorted, bins, categories FROM reference_columns WHERE "
                       "version_id = ? ORDER BY col")
          : mw_stmt(c, "SELECT col, kind, count, missing, mean, std, min, max "
                       "FROM reference_columns WHERE version_id = ? ORDER BY col");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  else
    s = MW_EDB;
  size_t seen = 0;
  while(!s && mw_step_next(c, st, &s) == 1) {
    if((s = ref_column(st, with_data, out)))
      sqlite3_reset(st);
    seen++;
  }
  if(!s && seen != ncols)
    s = MW_EINTERNAL; /* the reference was stored under another schema */
  if(s)
    mon__ref_free(out);
  return s;
}

static mw_status ref_gen(mw_conn *c, int64_t version_id, int64_t *gen) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT gen FROM reference_sets WHERE version_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *gen = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status refrows_put(mw_conn *c, int64_t version_id, size_t col,
                             const void *data, size_t len) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO reference_rows(version_id, col, data) "
                                "VALUES(?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, version_id);
    sqlite3_bind_int64(st, 2, (int64_t)col);
    sqlite3_bind_blob64(st, 3, len ? data : "", len, SQLITE_STATIC);
  }
  return mw_step_done(c, st);
}

static mw_status refrows_get(mw_conn *c, int64_t version_id, size_t col,
                             double **vals, size_t *n) {
  *vals = NULL;
  *n = 0;
  sqlite3_stmt *st = mw_stmt(c, "SELECT data FROM reference_rows WHERE "
                                "version_id = ? AND col = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, version_id);
    sqlite3_bind_int64(st, 2, (int64_t)col);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  s = blob_doubles(st, 0, vals, n);
  sqlite3_reset(st);
  return s;
}

/* ------------------------------------------------------ drift settings */

static mw_status dcfg_get(mw_conn *c, int64_t version_id, char **json) {
  *json = NULL;
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT config FROM drift_config WHERE version_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  int found = 0;
  mw_status s = mw_step_row(c, st, &found);
  if(s || !found)
    return s;
  if(!(*json = mw_col_dup(st, 0)))
    s = MW_ENOMEM;
  sqlite3_reset(st);
  return s;
}

static mw_status dcfg_put(mw_conn *c, int64_t version_id, const char *json,
                          const char *actor, int64_t now_ms) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO drift_config(version_id, config, updated_at, updated_by) "
         "VALUES(?, ?, ?, ?) ON CONFLICT(version_id) DO UPDATE SET "
         "config = excluded.config, updated_at = excluded.updated_at, "
         "updated_by = excluded.updated_by");
  if(st) {
    sqlite3_bind_int64(st, 1, version_id);
    mw_bind_text(st, 2, json);
    sqlite3_bind_int64(st, 3, now_ms);
    mw_bind_text(st, 4, actor ? actor : "");
  }
  return mw_step_done(c, st);
}

/* --------------------------------------------------------- evaluations */

static mw_status eval_insert(mw_conn *c, const mon_eval *e, const mon_point *pts,
                             size_t n) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO drift_evals(version_id, at, window_from, window_to, "
                 "row_count, drift_share, drifted, trigger_kind, report) "
                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, e->version_id);
    sqlite3_bind_int64(st, 2, e->at);
    sqlite3_bind_int64(st, 3, e->window_from);
    sqlite3_bind_int64(st, 4, e->window_to);
    sqlite3_bind_int64(st, 5, e->row_count);
    sqlite3_bind_double(st, 6, e->drift_share);
    sqlite3_bind_int(st, 7, e->drifted);
    mw_bind_text(st, 8, e->trigger);
    mw_bind_text(st, 9, e->report);
  }
  mw_status s = mw_step_done(c, st);
  int64_t eval_id = s ? 0 : mw_sqlite_last_id(c);
  for(size_t i = 0; i < n && !s; i++) {
    if(!isfinite(pts[i].value))
      continue;
    st = mw_stmt(c, "INSERT INTO drift_series(version_id, col, metric, at, "
                    "eval_id, value) VALUES(?, ?, ?, ?, ?, ?)");
    if(st) {
      sqlite3_bind_int64(st, 1, e->version_id);
      mw_bind_text(st, 2, pts[i].col);
      mw_bind_text(st, 3, pts[i].metric);
      sqlite3_bind_int64(st, 4, e->at);
      sqlite3_bind_int64(st, 5, eval_id);
      sqlite3_bind_double(st, 6, pts[i].value);
    }
    s = mw_step_done(c, st);
  }
  return s;
}

static mw_status eval_last_at(mw_conn *c, int64_t version_id, int64_t *at) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT max(at) FROM drift_evals WHERE version_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  return one_i64(c, st, -1, at);
}

static mw_status series_visit(mw_conn *c, int64_t version_id, const char *col,
                              const char *metric, int64_t from, int64_t to,
                              int limit,
                              mw_status (*fn)(void *, const mon_series_row *),
                              void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT s.at, s.value, e.window_from, e.window_to FROM drift_series s "
         "JOIN drift_evals e ON e.id = s.eval_id WHERE s.version_id = ? AND "
         "s.col = ? AND s.metric = ? AND s.at BETWEEN ? AND ? ORDER BY s.at "
         "LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  mw_bind_text(st, 2, col);
  mw_bind_text(st, 3, metric);
  sqlite3_bind_int64(st, 4, from);
  sqlite3_bind_int64(st, 5, to);
  sqlite3_bind_int(st, 6, limit);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1) {
    mon_series_row r = {sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                        sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
    if((s = fn(ctx, &r))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status series_latest(mw_conn *c, int64_t version_id, const char *col,
                               const char *metric, double *value, int64_t *at) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT value, at FROM drift_series WHERE version_id = ? AND col = ? "
         "AND metric = ? AND eval_id = (SELECT max(id) FROM drift_evals WHERE "
         "version_id = ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, version_id);
    mw_bind_text(st, 2, col);
    mw_bind_text(st, 3, metric);
    sqlite3_bind_int64(st, 4, version_id);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *value = sqlite3_column_double(st, 0);
  *at = sqlite3_column_int64(st, 1);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status evals_latest(mw_conn *c,
                              mw_status (*fn)(void *, const char *, int64_t,
                                              const char *),
                              void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT m.name, v.version, e.report FROM drift_evals e "
                 "JOIN model_versions v ON v.id = e.version_id "
                 "JOIN models m ON m.id = v.model_id WHERE e.id IN "
                 "(SELECT max(id) FROM drift_evals GROUP BY version_id) "
                 "ORDER BY m.name, v.version");
  if(!st)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1)
    if((s = fn(ctx, mw_col_text(st, 0), sqlite3_column_int64(st, 1),
               mw_col_text(st, 2)))) {
      sqlite3_reset(st);
      break;
    }
  return s;
}

static mw_status aged_delete(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                             int *more) {
  assert(mw_tx_state(c) == 1);
  /* Labels, evaluations and their series age out with the cutoff of the
   * raw rows, a bounded number per transaction; model_id 0 means every
   * model without a retention of its own (migration 0019). */
  static const char *const sql[] = {
      ("DELETE FROM labels WHERE id IN (SELECT id FROM labels WHERE ts < ?1 "
       "AND CASE WHEN ?2 = 0 THEN model_id NOT IN (SELECT model_id FROM "
       "model_retention) ELSE model_id = ?2 END LIMIT 5000)"),
      ("DELETE FROM drift_series WHERE (version_id, col, metric, at, eval_id) IN "
       "(SELECT version_id, col, metric, at, eval_id FROM drift_series WHERE "
       "at < ?1 AND " MON__VERSION_OF_MODEL " LIMIT 5000)"),
      ("DELETE FROM drift_evals WHERE id IN (SELECT id FROM drift_evals WHERE "
       "at < ?1 AND " MON__VERSION_OF_MODEL " LIMIT 500)"),
      ("DELETE FROM mon_quarantine WHERE id IN (SELECT id FROM mon_quarantine "
       "WHERE ts < ?1 AND " MON__VERSION_OF_MODEL " LIMIT 5000)"),
  };
  *more = 0;
  mw_status s = MW_OK;
  for(size_t k = 0; k < sizeof sql / sizeof sql[0] && !s; k++) {
    sqlite3_stmt *st = mw_stmt(c, sql[k]);
    if(st) {
      sqlite3_bind_int64(st, 1, cutoff_ms);
      sqlite3_bind_int64(st, 2, model_id);
    }
    if(!(s = mw_step_done(c, st)) && mw_sqlite_changes(c) > 0)
      *more = 1;
  }
  return s;
}

/* ---------------------------------------------------------- quarantine */

static mw_status quarantine_insert(mw_conn *c, int64_t version_id,
                                   const mon_qrow *rows, size_t n) {
  assert(mw_tx_state(c) == 1);
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    sqlite3_stmt *st =
        mw_stmt(c, "INSERT INTO mon_quarantine(version_id, ts, received_at, idx, "
                   "row_json, row_bytes, errors, error_count, cols, ext_id) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if(st) {
      const mon_qrow *r = &rows[i];
      sqlite3_bind_int64(st, 1, version_id);
      sqlite3_bind_int64(st, 2, r->ts);
      sqlite3_bind_int64(st, 3, r->received_at);
      sqlite3_bind_int64(st, 4, r->index);
      mw_bind_text(st, 5, r->row);
      sqlite3_bind_int64(st, 6, r->row_bytes);
      mw_bind_text(st, 7, r->errors);
      sqlite3_bind_int64(st, 8, r->error_count);
      mw_bind_text(st, 9, r->cols);
      mw_bind_text(st, 10, r->ext_id);
    }
    s = mw_step_done(c, st);
  }
  return s;
}

static mw_status quarantine_count(mw_conn *c, int64_t version_id, int64_t *n) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT count(*) FROM mon_quarantine WHERE version_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *n = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status quarantine_list(mw_conn *c, int64_t version_id, int64_t from,
                                 int64_t to, int64_t after_id, int limit,
                                 mw_status (*fn)(void *, const mon_qrow *),
                                 void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT id, ts, received_at, idx, row_json, row_bytes, errors, "
                 "error_count, cols FROM mon_quarantine WHERE version_id = ? AND "
                 "ts >= ? AND ts < ? AND id > ? ORDER BY id LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  sqlite3_bind_int64(st, 4, after_id);
  sqlite3_bind_int(st, 5, limit);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1) {
    mon_qrow r = {sqlite3_column_int64(st, 0),
                  sqlite3_column_int64(st, 1),
                  sqlite3_column_int64(st, 2),
                  sqlite3_column_int64(st, 3),
                  NULL, /* the id stays inside: erasure's only */
                  sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL
                                                            : mw_col_text(st, 4),
                  sqlite3_column_int64(st, 5),
                  mw_col_text(st, 6),
                  sqlite3_column_int64(st, 7),
                  mw_col_text(st, 8)};
    if((s = fn(ctx, &r))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status quarantine_erase(mw_conn *c, int64_t model_id,
                                  const char *const *ext_ids, size_t n,
                                  int64_t *deleted) {
  assert(mw_tx_state(c) == 1);
  *deleted = 0;
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    if(!ext_ids[i] || !*ext_ids[i])
      continue;
    sqlite3_stmt *st =
        mw_stmt(c, "DELETE FROM mon_quarantine WHERE ext_id = ? AND version_id IN "
                   "(SELECT id FROM model_versions WHERE model_id = ?)");
    if(st) {
      mw_bind_text(st, 1, ext_ids[i]);
      sqlite3_bind_int64(st, 2, model_id);
    }
    if(!(s = mw_step_done(c, st)))
      *deleted += mw_sqlite_changes(c);
  }
  return s;
}

static mw_status quarantine_cols(mw_conn *c, int64_t version_id, int64_t from,
                                 int64_t to, mw_status (*fn)(void *, const char *),
                                 void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT cols FROM mon_quarantine WHERE "
                                "version_id = ? AND ts >= ? AND ts < ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, version_id);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1) {
    if((s = fn(ctx, mw_col_text(st, 0)))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

/* ------------------------------------------------------------ registry */

static mw_status version_find(mw_conn *c, const char *model, int64_t version,
                              int64_t *id, int64_t *model_id, char **schema) {
  *schema = NULL;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT v.id, v.model_id, v.schema FROM model_versions v "
         "JOIN models m ON m.id = v.model_id WHERE m.name = ? AND v.version = ?");
  if(st) {
    mw_bind_text(st, 1, model);
    sqlite3_bind_int64(st, 2, version);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *id = sqlite3_column_int64(st, 0);
  *model_id = sqlite3_column_int64(st, 1);
  if(sqlite3_column_type(st, 2) != SQLITE_NULL && !(*schema = mw_col_dup(st, 2)))
    s = MW_ENOMEM;
  sqlite3_reset(st);
  return s;
}

static mw_status version_name(mw_conn *c, int64_t version_id, char *model,
                              size_t cap, int64_t *version) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT m.name, v.version FROM model_versions v "
                                "JOIN models m ON m.id = v.model_id WHERE v.id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  mw_strlcpy(model, mw_col_text(st, 0), cap);
  *version = sqlite3_column_int64(st, 1);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status due_list(mw_conn *c, mon_due **out, size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT r.version_id, v.model_id, v.version, m.name, v.schema, "
                 "c.config, (SELECT max(at) FROM drift_evals e WHERE "
                 "e.version_id = r.version_id) FROM reference_sets r "
                 "JOIN model_versions v ON v.id = r.version_id "
                 "JOIN models m ON m.id = v.model_id "
                 "LEFT JOIN drift_config c ON c.version_id = r.version_id "
                 "ORDER BY r.version_id");
  if(!st)
    return MW_EDB;
  size_t cap = 0;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) == 1) {
    if(*n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      mon_due *nd = realloc(*out, ncap * sizeof *nd);
      if(!nd) {
        s = MW_ENOMEM;
        sqlite3_reset(st);
        break;
      }
      *out = nd;
      cap = ncap;
    }
    mon_due *d = &(*out)[(*n)++];
    d->version_id = sqlite3_column_int64(st, 0);
    d->model_id = sqlite3_column_int64(st, 1);
    d->version = sqlite3_column_int64(st, 2);
    d->model = mw_col_dup(st, 3);
    d->schema = mw_col_dup(st, 4);
    d->config = mw_col_dup(st, 5);
    d->last_at = mw_col_i64(st, 6, -1);
    if(!d->model) {
      s = MW_ENOMEM;
      sqlite3_reset(st);
      break;
    }
  }
  if(s) {
    mon__due_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return s;
}

const struct mon_store mon__store_sqlite = {
    .block_insert = mon__sqlite_block_insert,
    .blocks_list = mon__sqlite_blocks_list,
    .chunks_read = mon__sqlite_chunks_read,
    .blocks_delete = mon__sqlite_blocks_delete,
    .block_epoch = mon__sqlite_block_epoch,
    .blocks_expired = mon__sqlite_blocks_expired,
    .compaction_candidate = mon__sqlite_compaction_candidate,
    .compaction_blocks = mon__sqlite_compaction_blocks,
    .ids_insert = mon__sqlite_ids_insert,
    .ids_get = mon__sqlite_ids_get,
    .ids_delete = mon__sqlite_ids_delete,
    .ids_pairs = mon__sqlite_ids_pairs,
    .labels_put = mon__sqlite_labels_put,
    .labels_visit = mon__sqlite_labels_visit,
    .categories_list = mon__sqlite_categories_list,
    .categories_add = mon__sqlite_categories_add,
    .ref_save = ref_save,
    .ref_load = ref_load,
    .ref_gen = ref_gen,
    .refrows_put = refrows_put,
    .refrows_get = refrows_get,
    .dcfg_get = dcfg_get,
    .dcfg_put = dcfg_put,
    .eval_insert = eval_insert,
    .eval_last_at = eval_last_at,
    .series_visit = series_visit,
    .series_latest = series_latest,
    .evals_latest = evals_latest,
    .aged_delete = aged_delete,
    .quarantine_insert = quarantine_insert,
    .quarantine_count = quarantine_count,
    .quarantine_list = quarantine_list,
    .quarantine_cols = quarantine_cols,
    .quarantine_erase = quarantine_erase,
    .version_find = version_find,
    .version_name = version_name,
    .due_list = due_list,
    .model_find = mon__sqlite_model_find,
    .retention_get = mon__sqlite_retention_get,
    .retention_put = mon__sqlite_retention_put,
    .retention_list = mon__sqlite_retention_list,
    .model_versions = mon__sqlite_model_versions,
    .ids_erase = mon__sqlite_ids_erase,
    .labels_erase = mon__sqlite_labels_erase,
    .category_replace = mon__sqlite_category_replace,
    .erase_scrub = mon__sqlite_erase_scrub,
    .privacy_key_get = mon__sqlite_privacy_key_get,
    .privacy_key_put = mon__sqlite_privacy_key_put,
    .rollup_candidate = mon__sqlite_rollup_candidate,
    .rollup_put = mon__sqlite_rollup_put,
    .rollups_read = mon__sqlite_rollups_read,
};
