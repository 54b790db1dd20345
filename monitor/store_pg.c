/* monitor/store_pg.c - the monitor's store interface (monitor/store.h) on
 * PostgreSQL (libpq through core/db_pg.h): its table of operations, and
 * reference sets, drift settings, evaluations with their series, and the
 * registry rows the monitor reads. The logged predictions (blocks, chunks,
 * ids, labels, categories) are in monitor/predictions_pg.c. The schema is
 * SQLite's (migrations/postgres/0003_monitor.sql) except that a chunk is
 * keyed by (block_id, slot) and goes with its block through a foreign key.
 *
 * Where both PostgreSQL files differ from monitor/store_sqlite.c, and why:
 *  - Round trips, not statements, are the cost here, so every operation
 *    on many rows is one statement: a block and all its chunks are one
 *    INSERT (a data-modifying WITH over unnest() of a bytea[]); ids,
 *    labels, categories and series points go in as arrays through
 *    unnest(); a window's chunks are read many blocks a statement.
 *  - Arrays and chunks travel in binary (array_recv's format, built by
 *    mon__pgarr_*, monitor/store_pg.h): bytes as they are, no escaping, no hex that would
 *    double 880 MB of a 10 M-row window. Results with chunks or reference
 *    arrays are asked for in binary too (mw_pg_run_bin).
 *  - An error aborts the PostgreSQL transaction it happens in (the group
 *    commit's other batches with it): a batch's ids go in under a
 *    savepoint of their own, and a duplicate is rolled back to it and
 *    listed (ids_insert says why not ON CONFLICT).
 *  - DELETE has no LIMIT: bounded deletes select their keys in a subquery.
 *  - Block ids come from an identity sequence and are never reused; the
 *    live-window cache relies on them being drawn under core's write lock
 *    (monitor/wcache.c says why that makes them visible in id order). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_pg.h"
#include "monitor/pack.h"
#include "monitor/store_pg.h"

static const char *kind_text(mon_column_kind k) {
  return k == MON_COLUMN_CATEGORICAL ? "categorical" : "numeric";
}

/* Reads a binary float8 column as SQLite reads a REAL one: 0 for NULL. */
static double bin_double0(const PGresult *r, int row, int col) {
  return mw_pg_null(r, row, col) ? 0.0 : mw_pg_bin_double(r, row, col);
}

/* ---------------------------------------------------------- references */

static mw_status refcol_insert(mw_conn *c, int64_t version_id, size_t col,
                               const char *name, const mon_refcol *r, mw_buf *blob) {
  bool numeric = r->kind == MON_COLUMN_NUMERIC;
  mw_status s = numeric ? mon__pack_doubles(blob, r->sorted, NULL, r->nsorted)
                        : mon__pack_doubles(blob, r->cat_counts, NULL, r->ncat);
  if(s)
    return s;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)col);
  mw_pgp_text(&p, name);
  mw_pgp_text(&p, kind_text(r->kind));
  mw_pgp_i64(&p, r->count);
  mw_pgp_i64(&p, r->missing);
  bool moments = numeric && r->count > 0;
  mw_pgp_double(&p, moments ? r->mean : NAN);
  mw_pgp_double(&p, moments ? r->std : NAN);
  mw_pgp_double(&p, moments ? r->min : NAN);
  mw_pgp_double(&p, moments ? r->max : NAN);
  if(numeric) {
    mw_pgp_bytes(&p, blob->len ? blob->data : "", blob->len);
    if(r->has_bins)
      mw_pgp_bytes(&p, &r->bins, sizeof r->bins);
    else
      mw_pgp_null(&p);
    mw_pgp_null(&p);
  } else {
    mw_pgp_null(&p);
    mw_pgp_null(&p);
    mw_pgp_bytes(&p, blob->len ? blob->data : "", blob->len);
  }
  return mw_pg_do(c,
                  "INSERT INTO reference_columns(version_id, col, name, kind, "
                  "count, missing, mean, std, min, max, sorted, bins, "
                  "categories) VALUES($1, $2::int4, $3, $4, $5, $6, "
                  "$7::float8, $8::float8, $9::float8, $10::float8, "
                  "$11::bytea, $12::bytea, $13::bytea)",
                  &p, NULL);
}

static mw_status ref_save(mw_conn *c, int64_t version_id, const mon_ref *r,
                          const char *const *names) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s =
      mw_pg_do(c, "DELETE FROM reference_sets WHERE version_id = $1", &p, NULL);
  if(s)
    return s;
  bool window = !strcmp(r->source, "window");
  mw_pgp_text(&p, r->source);
  mw_pgp_id(&p, window ? r->from : -1);
  mw_pgp_id(&p, window ? r->to : -1);
  mw_pgp_i64(&p, r->rows);
  mw_pgp_i64(&p, r->created_at);
  mw_pgp_text(&p, r->created_by);
  if((s = mw_pg_do(c,
                   "INSERT INTO reference_sets(version_id, source, window_from, "
                   "window_to, row_count, created_at, created_by) "
                   "VALUES($1, $2, $3::int8, $4::int8, $5, $6, $7)",
                   &p, NULL)))
    return s;
  mw_buf blob;
  mw_buf_init(&blob, (size_t)1 << 30);
  for(size_t col = 0; col < r->ncols && !s; col++)
    s = refcol_insert(c, version_id, col, names[col], &r->cols[col], &blob);
  mw_buf_free(&blob);
  return s;
}

static mw_status ref_head(mw_conn *c, int64_t version_id, mon_ref *out) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT source, window_from, window_to, row_count, "
                          "created_at, created_by FROM reference_sets WHERE "
                          "version_id = $1",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    mw_strlcpy(out->source, mw_pg_text(r, 0, 0), sizeof out->source);
    out->from = mw_pg_i64(r, 0, 1, 0);
    out->to = mw_pg_i64(r, 0, 2, 0);
    out->rows = mw_pg_i64(r, 0, 3, 0);
    out->created_at = mw_pg_i64(r, 0, 4, 0);
    mw_strlcpy(out->created_by, mw_pg_text(r, 0, 5), sizeof out->created_by);
  }
  PQclear(r);
  return s;
}

/* A packed float64 bytea (binary result) into a new array. */
static mw_status bin_doubles(const PGresult *r, int row, int col, double **out,
                             size_t *n) {
  *out = NULL;
  *n = 0;
  size_t len;
  const unsigned char *data = mw_pg_bin_data(r, row, col, &len);
  if(len % 8)
    return MW_EINTERNAL;
  *n = len / 8;
  if(!(*out = malloc((*n ? *n : 1) * sizeof **out)))
    return MW_ENOMEM;
  mon__unpack_doubles(data, *n, *out);
  return MW_OK;
}

/* Row i of reference_columns (binary results) into out->cols. */
static mw_status ref_column(const PGresult *r, int i, bool with_data, mon_ref *out) {
  int64_t col = mw_pg_bin_i64(r, i, 0, -1);
  if(col < 0 || (size_t)col >= out->ncols)
    return MW_EINTERNAL;
  mon_refcol *rc = &out->cols[col];
  rc->kind = !strcmp(PQgetvalue(r, i, 1), "categorical") ? MON_COLUMN_CATEGORICAL
                                                         : MON_COLUMN_NUMERIC;
  rc->count = mw_pg_bin_i64(r, i, 2, 0);
  rc->missing = mw_pg_bin_i64(r, i, 3, 0);
  rc->mean = bin_double0(r, i, 4);
  rc->std = bin_double0(r, i, 5);
  rc->min = bin_double0(r, i, 6);
  rc->max = bin_double0(r, i, 7);
  if(!with_data)
    return MW_OK;
  if(rc->kind != MON_COLUMN_NUMERIC)
    return bin_doubles(r, i, 10, &rc->cat_counts, &rc->ncat);
  mw_status s = bin_doubles(r, i, 8, &rc->sorted, &rc->nsorted);
  size_t len;
  const void *bins = mw_pg_bin_data(r, i, 9, &len);
  if(!s && bins && len == sizeof rc->bins) {
    memcpy(&rc->bins, bins, sizeof rc->bins);
    rc->has_bins = rc->bins.n_bins >= 1 && rc->bins.n_bins <= MON_STATS_MAX_BINS;
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
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  PGresult *r =
      with_data
          ? mw_pg_run_bin(c,
                          "SELECT col::int8, kind, count, missing, mean, std, min, "
                          "max, sorted, bins, categories FROM reference_columns "
                          "WHERE version_id = $1 ORDER BY col",
                          &p, &s)
          : mw_pg_run_bin(c,
                          "SELECT col::int8, kind, count, missing, mean, std, min, "
                          "max FROM reference_columns WHERE version_id = $1 "
                          "ORDER BY col",
                          &p, &s);
  if(r) {
    for(int i = 0; i < PQntuples(r) && !s; i++)
      s = ref_column(r, i, with_data, out);
    if(!s && (size_t)PQntuples(r) != ncols)
      s = MW_EINTERNAL; /* the reference was stored under another schema */
    PQclear(r);
  }
  if(s)
    mon__ref_free(out);
  return s;
}

static mw_status ref_gen(mw_conn *c, int64_t version_id, int64_t *gen) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r = mw_pg_run_bin(
      c, "SELECT gen FROM reference_sets WHERE version_id = $1", &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s)
    *gen = mw_pg_bin_i64(r, 0, 0, 0);
  PQclear(r);
  return s;
}

static mw_status refrows_put(mw_conn *c, int64_t version_id, size_t col,
                             const void *data, size_t len) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)col);
  mw_pgp_bytes(&p, len ? data : "", len);
  return mw_pg_do(c,
                  "INSERT INTO reference_rows(version_id, col, data) "
                  "VALUES($1, $2::int4, $3::bytea)",
                  &p, NULL);
}

static mw_status refrows_get(mw_conn *c, int64_t version_id, size_t col,
                             double **vals, size_t *n) {
  *vals = NULL;
  *n = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)col);
  mw_status s;
  PGresult *r =
      mw_pg_run_bin(c,
                    "SELECT data FROM reference_rows WHERE version_id = $1 "
                    "AND col = $2::int4",
                    &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? bin_doubles(r, 0, 0, vals, n) : MW_ENOTFOUND;
  PQclear(r);
  return s;
}

/* ------------------------------------------------------ drift settings */

static mw_status dcfg_get(mw_conn *c, int64_t version_id, char **json) {
  *json = NULL;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT config FROM drift_config WHERE version_id = $1", &p, &s);
  if(!r)
    return s;
  if(PQntuples(r) && !(*json = mw_pg_dup(r, 0, 0)))
    s = MW_ENOMEM;
  PQclear(r);
  return s;
}

static mw_status dcfg_put(mw_conn *c, int64_t version_id, const char *json,
                          const char *actor, int64_t now_ms) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_text(&p, json);
  mw_pgp_i64(&p, now_ms);
  mw_pgp_text(&p, actor ? actor : "");
  return mw_pg_do(c,
                  "INSERT INTO drift_config(version_id, config, updated_at, "
                  "updated_by) VALUES($1, $2, $3, $4) ON CONFLICT(version_id) DO "
                  "UPDATE SET config = excluded.config, updated_at = "
                  "excluded.updated_at, updated_by = excluded.updated_by",
                  &p, NULL);
}

/* --------------------------------------------------------- evaluations */

static mw_status series_insert(mw_conn *c, const mon_eval *e, int64_t eval_id,
                               const mon_point *pts, size_t n) {
  pgarr cols, metrics, vals;
  mon__pgarr_init(&cols, OID_TEXT, (size_t)1 << 30);
  mon__pgarr_init(&metrics, OID_TEXT, (size_t)1 << 30);
  mon__pgarr_init(&vals, OID_FLOAT8, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++)
    if(isfinite(pts[i].value)) {
      mon__pgarr_text(&cols, pts[i].col);
      mon__pgarr_text(&metrics, pts[i].metric);
      mon__pgarr_f8(&vals, pts[i].value);
    }
  mw_status s = cols.st ? cols.st : metrics.st ? metrics.st : vals.st;
  if(!s && vals.n) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, e->version_id);
    mw_pgp_i64(&p, e->at);
    mw_pgp_i64(&p, eval_id);
    mon__pgarr_finish(&cols, &p);
    mon__pgarr_finish(&metrics, &p);
    mon__pgarr_finish(&vals, &p);
    s = mw_pg_do(c,
                 "INSERT INTO drift_series(version_id, col, metric, at, eval_id, "
                 "value) SELECT $1, u.c, u.m, $2, $3, u.v FROM "
                 "unnest($4::text[], $5::text[], $6::float8[]) AS u(c, m, v)",
                 &p, NULL);
  }
  mw_buf_free(&cols.b);
  mw_buf_free(&metrics.b);
  mw_buf_free(&vals.b);
  return s;
}

static mw_status eval_insert(mw_conn *c, const mon_eval *e, const mon_point *pts,
                             size_t n) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, e->version_id);
  mw_pgp_i64(&p, e->at);
  mw_pgp_i64(&p, e->window_from);
  mw_pgp_i64(&p, e->window_to);
  mw_pgp_i64(&p, e->row_count);
  mw_pgp_double(&p, e->drift_share);
  mw_pgp_i64(&p, e->drifted);
  mw_pgp_text(&p, e->trigger);
  mw_pgp_text(&p, e->report);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "INSERT INTO drift_evals(version_id, at, window_from, "
                          "window_to, row_count, drift_share, drifted, "
                          "trigger_kind, report) VALUES($1, $2, $3, $4, $5, "
                          "$6::float8, $7, $8, $9) RETURNING id",
                          &p, &s);
  if(!r)
    return s;
  int64_t eval_id = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return series_insert(c, e, eval_id, pts, n);
}

static mw_status eval_last_at(mw_conn *c, int64_t version_id, int64_t *at) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT max(at) FROM drift_evals WHERE version_id = $1", &p, &s);
  if(!r)
    return s;
  *at = mw_pg_i64(r, 0, 0, -1);
  PQclear(r);
  return MW_OK;
}

static mw_status series_visit(mw_conn *c, int64_t version_id, const char *col,
                              const char *metric, int64_t from, int64_t to,
                              int limit,
                              mw_status (*fn)(void *, const mon_series_row *),
                              void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_text(&p, col);
  mw_pgp_text(&p, metric);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *r = mw_pg_run_bin(
      c,
      "SELECT s.at, s.value, e.window_from, e.window_to FROM drift_series s "
      "JOIN drift_evals e ON e.id = s.eval_id WHERE s.version_id = $1 AND "
      "s.col = $2 AND s.metric = $3 AND s.at BETWEEN $4 AND $5 ORDER BY s.at "
      "LIMIT $6",
      &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    mon_series_row row = {mw_pg_bin_i64(r, i, 0, 0), mw_pg_bin_double(r, i, 1),
                          mw_pg_bin_i64(r, i, 2, 0), mw_pg_bin_i64(r, i, 3, 0)};
    s = fn(ctx, &row);
  }
  PQclear(r);
  return s;
}

static mw_status series_latest(mw_conn *c, int64_t version_id, const char *col,
                               const char *metric, double *value, int64_t *at) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_text(&p, col);
  mw_pgp_text(&p, metric);
  mw_status s;
  PGresult *r = mw_pg_run_bin(
      c,
      "SELECT value, at FROM drift_series WHERE version_id = $1 AND col = $2 "
      "AND metric = $3 AND eval_id = (SELECT max(id) FROM drift_evals WHERE "
      "version_id = $1)",
      &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    *value = mw_pg_bin_double(r, 0, 0);
    *at = mw_pg_bin_i64(r, 0, 1, 0);
  }
  PQclear(r);
  return s;
}

static mw_status evals_latest(mw_conn *c,
                              mw_status (*fn)(void *, const char *, int64_t,
                                              const char *),
                              void *ctx) {
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT m.name, v.version, e.report FROM drift_evals e "
                          "JOIN model_versions v ON v.id = e.version_id "
                          "JOIN models m ON m.id = v.model_id WHERE e.id IN "
                          "(SELECT max(id) FROM drift_evals GROUP BY version_id) "
                          "ORDER BY m.name, v.version",
                          NULL, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_text(r, i, 0), mw_pg_i64(r, i, 1, 0), mw_pg_text(r, i, 2));
  PQclear(r);
  return s;
}

static mw_status aged_delete(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                             int *more) {
  assert(mw_tx_state(c) == 1);
  /* model_id 0: every model without a retention of its own (0019). */
#define VERSION_OF_MODEL                                                      \
  "CASE WHEN $2::int8 = 0 THEN version_id NOT IN (SELECT v.id FROM "          \
  "model_versions v JOIN model_retention r ON r.model_id = v.model_id) ELSE " \
  "version_id IN (SELECT id FROM model_versions WHERE model_id = $2::int8) END"
  static const char *const sql[] = {
      ("DELETE FROM labels WHERE id IN (SELECT id FROM labels WHERE ts < $1 "
       "AND CASE WHEN $2::int8 = 0 THEN model_id NOT IN (SELECT model_id FROM "
       "model_retention) ELSE model_id = $2::int8 END LIMIT 5000)"),
      ("DELETE FROM drift_series WHERE (version_id, col, metric, at, eval_id) IN "
       "(SELECT version_id, col, metric, at, eval_id FROM drift_series WHERE "
       "at < $1 AND " VERSION_OF_MODEL " LIMIT 5000)"),
      ("DELETE FROM drift_evals WHERE id IN (SELECT id FROM drift_evals WHERE "
       "at < $1 AND " VERSION_OF_MODEL " LIMIT 500)"),
      ("DELETE FROM mon_quarantine WHERE id IN (SELECT id FROM mon_quarantine "
       "WHERE ts < $1 AND " VERSION_OF_MODEL " LIMIT 5000)"),
  };
#undef VERSION_OF_MODEL
  *more = 0;
  mw_status s = MW_OK;
  for(size_t k = 0; k < sizeof sql / sizeof sql[0] && !s; k++) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, cutoff_ms);
    mw_pgp_i64(&p, model_id);
    int64_t changed = 0;
    if(!(s = mw_pg_do(c, sql[k], &p, &changed)) && changed > 0)
      *more = 1;
  }
  return s;
}

/* ---------------------------------------------------------- quarantine */

/* One statement: the rows as arrays through unnest(), as labels go in. */
static mw_status quarantine_insert(mw_conn *c, int64_t version_id,
                                   const mon_qrow *rows, size_t n) {
  assert(mw_tx_state(c) == 1);
  if(n == 0)
    return MW_OK;
  enum { TS, AT, IDX, BYTES, COUNT, ROW, ERRS, COLS, EXT, NARR };
  static const uint32_t oid[NARR] = {OID_INT8, OID_INT8, OID_INT8,
                                     OID_INT8, OID_INT8, OID_TEXT,
                                     OID_TEXT, OID_TEXT, OID_TEXT};
  pgarr a[NARR];
  for(int k = 0; k < NARR; k++)
    mon__pgarr_init(&a[k], oid[k], (size_t)1 << 30);
  for(size_t i = 0; i < n; i++) {
    const mon_qrow *r = &rows[i];
    mon__pgarr_i64(&a[TS], r->ts);
    mon__pgarr_i64(&a[AT], r->received_at);
    mon__pgarr_i64(&a[IDX], r->index);
    mon__pgarr_i64(&a[BYTES], r->row_bytes);
    mon__pgarr_i64(&a[COUNT], r->error_count);
    mon__pgarr_text(&a[ROW], r->row);
    mon__pgarr_text(&a[ERRS], r->errors);
    mon__pgarr_text(&a[COLS], r->cols);
    mon__pgarr_text(&a[EXT], r->ext_id);
  }
  mw_status s = MW_OK;
  for(int k = 0; k < NARR && !s; k++)
    s = a[k].st;
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, version_id);
    for(int k = 0; k < NARR; k++)
      mon__pgarr_finish(&a[k], &p);
    s = mw_pg_do(c,
                 "INSERT INTO mon_quarantine(version_id, ts, received_at, idx, "
                 "row_bytes, error_count, row_json, errors, cols, ext_id) SELECT "
                 "$1, u.t, u.a, u.i, u.b, u.n, u.r, u.e, u.c, u.x FROM "
                 "unnest($2::int8[], $3::int8[], $4::int8[], $5::int8[], "
                 "$6::int8[], $7::text[], $8::text[], $9::text[], $10::text[]) "
                 "AS u(t, a, i, b, n, r, e, c, x)",
                 &p, NULL);
  }
  for(int k = 0; k < NARR; k++)
    mw_buf_free(&a[k].b);
  return s;
}

static mw_status quarantine_count(mw_conn *c, int64_t version_id, int64_t *n) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r = mw_pg_run(
      c, "SELECT count(*) FROM mon_quarantine WHERE version_id = $1", &p, &s);
  if(!r)
    return s;
  *n = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return MW_OK;
}

static mw_status quarantine_list(mw_conn *c, int64_t version_id, int64_t from,
                                 int64_t to, int64_t after_id, int limit,
                                 mw_status (*fn)(void *, const mon_qrow *),
                                 void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_pgp_i64(&p, after_id);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *r =
      mw_pg_run(c,
                "SELECT id, ts, received_at, idx, row_json, row_bytes, errors, "
                "error_count, cols FROM mon_quarantine WHERE version_id = $1 AND "
                "ts >= $2 AND ts < $3 AND id > $4 ORDER BY id LIMIT $5",
                &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    mon_qrow q = {mw_pg_i64(r, i, 0, 0),
                  mw_pg_i64(r, i, 1, 0),
                  mw_pg_i64(r, i, 2, 0),
                  mw_pg_i64(r, i, 3, 0),
                  NULL, /* the id stays inside: erasure's only */
                  mw_pg_null(r, i, 4) ? NULL : mw_pg_text(r, i, 4),
                  mw_pg_i64(r, i, 5, 0),
                  mw_pg_text(r, i, 6),
                  mw_pg_i64(r, i, 7, 0),
                  mw_pg_text(r, i, 8)};
    s = fn(ctx, &q);
  }
  PQclear(r);
  return s;
}

static mw_status quarantine_erase(mw_conn *c, int64_t model_id,
                                  const char *const *ext_ids, size_t n,
                                  int64_t *deleted) {
  assert(mw_tx_state(c) == 1);
  *deleted = 0;
  pgarr a;
  mon__pgarr_init(&a, OID_TEXT, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++)
    if(ext_ids[i] && *ext_ids[i])
      mon__pgarr_text(&a, ext_ids[i]);
  mw_status s = a.st;
  if(!s && a.n > 0) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mon__pgarr_finish(&a, &p);
    s = mw_pg_do(c,
                 "DELETE FROM mon_quarantine WHERE ext_id = ANY($2::text[]) AND "
                 "version_id IN (SELECT id FROM model_versions WHERE model_id = "
                 "$1)",
                 &p, deleted);
  }
  mw_buf_free(&a.b);
  return s;
}

static mw_status quarantine_cols(mw_conn *c, int64_t version_id, int64_t from,
                                 int64_t to, mw_status (*fn)(void *, const char *),
                                 void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT cols FROM mon_quarantine WHERE version_id = $1 "
                          "AND ts >= $2 AND ts < $3",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_text(r, i, 0));
  PQclear(r);
  return s;
}

/* ------------------------------------------------------------ registry */

static mw_status version_find(mw_conn *c, const char *model, int64_t version,
                              int64_t *id, int64_t *model_id, char **schema) {
  *schema = NULL;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, model);
  mw_pgp_i64(&p, version);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT v.id, v.model_id, v.schema FROM model_versions "
                          "v JOIN models m ON m.id = v.model_id WHERE m.name = $1 "
                          "AND v.version = $2",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    *id = mw_pg_i64(r, 0, 0, 0);
    *model_id = mw_pg_i64(r, 0, 1, 0);
    if(!mw_pg_null(r, 0, 2) && !(*schema = mw_pg_dup(r, 0, 2)))
      s = MW_ENOMEM;
  }
  PQclear(r);
  return s;
}

static mw_status version_name(mw_conn *c, int64_t version_id, char *model,
                              size_t cap, int64_t *version) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT m.name, v.version FROM model_versions v JOIN "
                          "models m ON m.id = v.model_id WHERE v.id = $1",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    mw_strlcpy(model, mw_pg_text(r, 0, 0), cap);
    *version = mw_pg_i64(r, 0, 1, 0);
  }
  PQclear(r);
  return s;
}

static mw_status due_list(mw_conn *c, mon_due **out, size_t *n) {
  *out = NULL;
  *n = 0;
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT r.version_id, v.model_id, v.version, m.name, v.schema, c.config, "
      "(SELECT max(at) FROM drift_evals e WHERE e.version_id = r.version_id) "
      "FROM reference_sets r JOIN model_versions v ON v.id = r.version_id "
      "JOIN models m ON m.id = v.model_id LEFT JOIN drift_config c ON "
      "c.version_id = r.version_id ORDER BY r.version_id",
      NULL, &s);
  if(!r)
    return s;
  int rows = PQntuples(r);
  if(rows && !(*out = calloc((size_t)rows, sizeof **out)))
    s = MW_ENOMEM;
  for(int i = 0; i < rows && !s; i++) {
    mon_due *d = &(*out)[(*n)++];
    d->version_id = mw_pg_i64(r, i, 0, 0);
    d->model_id = mw_pg_i64(r, i, 1, 0);
    d->version = mw_pg_i64(r, i, 2, 0);
    d->model = mw_pg_dup(r, i, 3);
    d->schema = mw_pg_dup(r, i, 4);
    d->config = mw_pg_dup(r, i, 5);
    d->last_at = mw_pg_i64(r, i, 6, -1);
    if(!d->model)
      s = MW_ENOMEM;
  }
  PQclear(r);
  if(s) {
    mon__due_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return s;
}

const struct mon_store mon__store_pg = {
    .block_insert = mon__pg_block_insert,
    .blocks_list = mon__pg_blocks_list,
    .chunks_read = mon__pg_chunks_read,
    .blocks_delete = mon__pg_blocks_delete,
    .block_epoch = mon__pg_block_epoch,
    .blocks_expired = mon__pg_blocks_expired,
    .compaction_candidate = mon__pg_compaction_candidate,
    .compaction_blocks = mon__pg_compaction_blocks,
    .ids_insert = mon__pg_ids_insert,
    .ids_get = mon__pg_ids_get,
    .ids_delete = mon__pg_ids_delete,
    .ids_pairs = mon__pg_ids_pairs,
    .labels_put = mon__pg_labels_put,
    .labels_visit = mon__pg_labels_visit,
    .categories_list = mon__pg_categories_list,
    .categories_add = mon__pg_categories_add,
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
    .model_find = mon__pg_model_find,
    .retention_get = mon__pg_retention_get,
    .retention_put = mon__pg_retention_put,
    .retention_list = mon__pg_retention_list,
    .model_versions = mon__pg_model_versions,
    .ids_erase = mon__pg_ids_erase,
    .labels_erase = mon__pg_labels_erase,
    .category_replace = mon__pg_category_replace,
    .erase_scrub = mon__pg_erase_scrub,
    .privacy_key_get = mon__pg_privacy_key_get,
    .privacy_key_put = mon__pg_privacy_key_put,
    .rollup_candidate = mon__pg_rollup_candidate,
    .rollup_put = mon__pg_rollup_put,
    .rollups_read = mon__pg_rollups_read,
};
