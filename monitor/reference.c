/* monitor/reference.c - reference sets: uploaded rows (parsed as ingest
 * parses them, monitor/batch.c) or a logged window (monitor/window.c),
 * reduced once to what every test needs (sorted finite values, moments and
 * PSI quantile bins for numeric columns; counts per category otherwise), so
 * that an evaluation never sorts the reference again. Stored and loaded
 * through the store's ref_save / ref_load; or, for mon_drift_compare,
 * built column by column from another version's window and never
 * stored. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/batch.h"
#include "monitor/dict.h"
#include "monitor/pack.h"
#include "monitor/privacy.h"
#include "monitor/reference.h"
#include "monitor/store.h"
#include "monitor/window.h"

mw_status mon__refcol_build(mon_column_kind kind, double *vals, size_t n,
                            mon_refcol *out) {
  memset(out, 0, sizeof *out);
  out->kind = kind;
  if(kind == MON_COLUMN_CATEGORICAL) {
    size_t maxc = 0;
    for(size_t i = 0; i < n; i++)
      if(!isnan(vals[i]) && (size_t)vals[i] + 1 > maxc)
        maxc = (size_t)vals[i] + 1;
    out->cat_counts = calloc(maxc ? maxc : 1, sizeof *out->cat_counts);
    if(!out->cat_counts)
      return MW_ENOMEM;
    out->ncat = maxc;
    for(size_t i = 0; i < n; i++) {
      if(isnan(vals[i]))
        out->missing++;
      else
        out->cat_counts[(size_t)vals[i]] += 1.0;
    }
    out->count = (int64_t)n - out->missing;
    return MW_OK;
  }
  size_t nf = 0, nmiss = 0;
  if(mon_stats_filter_finite(vals, n, vals, &nf, &nmiss) < 0 ||
     mon_stats_sort(vals, nf) < 0)
    return MW_ENOMEM;
  out->count = (int64_t)nf;
  out->missing = (int64_t)nmiss;
  out->sorted = malloc((nf ? nf : 1) * sizeof *out->sorted);
  if(!out->sorted)
    return MW_ENOMEM;
  memcpy(out->sorted, vals, nf * sizeof *vals);
  out->nsorted = nf;
  mon_summary sum;
  if(mon_stats_summary_sorted(vals, nf, &sum) == MON_STATS_OK) {
    out->mean = sum.mean;
    out->std = sum.std;
    out->min = sum.min;
    out->max = sum.max;
  }
  out->has_bins =
      mon_stats_bins_from_sorted(vals, nf, 0, &out->bins) == MON_STATS_OK;
  return MW_OK;
}

/* mon_visit_fn counting a categorical column's codes through a map. */
struct mapped_count {
  mon_refcol *rc;
  const long *map;
  size_t nmap;
};

static mw_status count_mapped(void *ctx, const double *v, size_t n) {
  struct mapped_count *mc = ctx;
  mon_refcol *rc = mc->rc;
  for(size_t i = 0; i < n; i++) {
    if(isnan(v[i])) {
      rc->missing++;
      continue;
    }
    /* Every code of a window is in its version's dictionary, read in the
     * same snapshot: anything else is damage. */
    if(!(v[i] >= 0) || v[i] >= (double)mc->nmap || mc->map[(size_t)v[i]] < 0)
      return MW_EINTERNAL;
    size_t code = (size_t)mc->map[(size_t)v[i]];
    if(code >= rc->ncat) {
      size_t nc = rc->ncat ? rc->ncat : 16;
      while(nc <= code)
        nc *= 2;
      double *cc = realloc(rc->cat_counts, nc * sizeof *cc);
      if(!cc)
        return MW_ENOMEM;
      memset(cc + rc->ncat, 0, (nc - rc->ncat) * sizeof *cc);
      rc->cat_counts = cc;
      rc->ncat = nc;
    }
    rc->cat_counts[code] += 1.0;
    rc->count++;
  }
  return MW_OK;
}

mw_status mon__refcol_from_window(mw_conn *c, const mon_window *w, size_t col,
                                  mon_column_kind kind, size_t max_rows,
                                  const long *map, size_t nmap, mon_refcol *out,
                                  size_t *sampled) {
  assert(max_rows >= 1 && (kind == MON_COLUMN_NUMERIC || map || !nmap));
  memset(out, 0, sizeof *out);
  out->kind = kind;
  if(sampled)
    *sampled = 0;
  if(kind == MON_COLUMN_CATEGORICAL) {
    /* Counts only: exact whatever the window's size, as a report's
     * categorical columns are. */
    struct mapped_count mc = {out, map, nmap};
    return mon__window_visit(c, w, col, count_mapped, &mc);
  }
  size_t stride = 1, rows = (size_t)w->count;
  if(rows > max_rows) {
    stride = (rows + max_rows - 1) / max_rows;
    rows = (rows + stride - 1) / stride;
  }
  double *vals = malloc((rows ? rows : 1) * sizeof *vals);
  if(!vals)
    return MW_ENOMEM;
  mon_gather g;
  mon__gather_init(&g, vals, rows, stride, false, NULL);
  mw_status st = mon__window_visit(c, w, col, mon__gather_visit, &g);
  if(!st && g.n != rows)
    st = MW_EINTERNAL;
  if(!st)
    st = mon__refcol_build(kind, vals, g.n, out);
  if(!st && sampled && stride > 1)
    *sampled = g.n;
  free(vals);
  return st;
}

/* Fills r's columns from column-major values (NaN = missing), and raw[c]
 * (one mw_buf per column, initialised by the caller) with column c packed
 * in row order before building it reorders the values: the reference's
 * rows, which segments split (monitor/segments.c). */
static mw_status build_columns(const mon_schema *s, double *vals, size_t n,
                               mon_ref *r, mw_buf *raw) {
  r->cols = calloc(s->ncols, sizeof *r->cols);
  if(!r->cols)
    return MW_ENOMEM;
  r->ncols = s->ncols;
  for(size_t c = 0; c < s->ncols; c++) {
    mw_status st = mon__pack_doubles(&raw[c], vals + c * n, NULL, n);
    if(!st)
      st = mon__refcol_build(s->cols[c].kind, vals + c * n, n, &r->cols[c]);
    if(st)
      return st;
  }
  return MW_OK;
}

void mon__ref_mismatch(mw_conn *c, int64_t version_id) {
  char who[400];
  mon__version_label(c, version_id, who, sizeof who);
  mw_log(MW_LOG_ERROR, "monitor", "reference of %s does not match its schema", who);
}

/* Reads every column of the window [from, to) into column-major values. */
static mw_status read_window(mw_conn *c, const mon_version *v, const mon_schema *s,
                             int64_t from, int64_t to, double **vals, size_t *n,
                             int64_t *window_count) {
  *vals = NULL;
  *n = 0;
  mon_window w;
  mw_status st = mon__read_begin(c);
  if(st)
    return st;
  if((st = mon__window_open(c, v->id, s->ncols, from, to, &w)))
    goto out;
  *window_count = w.count;
  size_t stride = 1;
  if(w.count > MON_MAX_REF_ROWS)
    stride = (size_t)((w.count + MON_MAX_REF_ROWS - 1) / MON_MAX_REF_ROWS);
  size_t rows = (size_t)((w.count + (int64_t)stride - 1) / (int64_t)stride);
  *vals = malloc((rows ? rows : 1) * s->ncols * sizeof **vals);
  if(!*vals) {
    st = MW_ENOMEM;
    goto out;
  }
  for(size_t col = 0; col < s->ncols && !st; col++) {
    mon_gather g;
    mon__gather_init(&g, *vals + col * rows, rows, stride, false, NULL);
    st = mon__window_visit(c, &w, col, mon__gather_visit, &g);
    if(!st && g.n != rows)
      st = MW_EINTERNAL;
  }
  *n = rows;
out:
  mon__window_free(&w);
  mon__read_end(c);
  if(st) {
    free(*vals);
    *vals = NULL;
  }
  return st;
}

/* Builds r from uploaded rows {features, prediction}, inside the write
 * transaction that stores it (new categories are stored with it). */
static mw_status ref_from_rows(mw_conn *c, const mon_version *v, const mon_schema *s,
                               const cJSON *rows, int64_t now, mon_ref *r,
                               mw_buf *raw, mon_errors *errs, mw_err *err) {
  if(!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) == 0 ||
     cJSON_GetArraySize(rows) > MON_MAX_BATCH)
    return mw_errf(err, MW_EVALIDATION,
                   "rows must be a non-empty array (at most %d) of {features, "
                   "prediction}",
                   MON_MAX_BATCH);
  mon_batch b;
  mw_status st = mon__batch_parse(s, rows, true, now, &b, errs);
  if(st)
    return st;
  if(!errs->count && !(st = mw_tx_begin(c)) &&
     !(st = mon__batch_encode(c, v->id, s, &b, errs)) && !errs->count)
    st = build_columns(s, b.vals, b.n, r, raw);
  if(!st && errs->count)
    st = mon__errors_fail(errs, err,
                          "the reference has invalid rows; nothing was stored");
  mw_strlcpy(r->source, "rows", sizeof r->source);
  r->rows = (int64_t)b.n;
  mon__batch_free(&b);
  return st;
}

/* Builds r from the predictions logged in [from, to) (body {from, to}),
 * then opens the write transaction that stores it. */
static mw_status ref_from_window(mw_conn *c, const mon_version *v,
                                 const mon_schema *s, const cJSON *jfrom,
                                 const cJSON *jto, mon_ref *r, mw_buf *raw,
                                 mw_err *err) {
  if(!cJSON_IsString(jfrom) || !cJSON_IsString(jto) ||
     mw_time_parse(jfrom->valuestring, &r->from) ||
     mw_time_parse(jto->valuestring, &r->to) || r->from >= r->to)
    return mw_errf(err, MW_EVALIDATION,
                   "the body needs rows: [{features, prediction}] or from and to "
                   "(RFC 3339, from before to)");
  double *vals = NULL;
  size_t n = 0;
  int64_t count = 0;
  mw_status st = read_window(c, v, s, r->from, r->to, &vals, &n, &count);
  if(!st && n == 0)
    st = mw_errf(err, MW_EVALIDATION,
                 "no predictions were logged for version %lld between %s and %s",
                 (long long)v->version, jfrom->valuestring, jto->valuestring);
  mw_strlcpy(r->source, "window", sizeof r->source);
  r->rows = (int64_t)n;
  if(!st)
    st = build_columns(s, vals, n, r, raw);
  free(vals);
  if(!st)
    st = mw_tx_begin(c);
  return st;
}

mw_status mon_reference_put(mon_ctx *m, mw_conn *c, const mon_version *v,
                            const cJSON *body, const char *actor, cJSON **out,
                            mw_err *err) {
  *out = NULL;
  mon_schema s;
  mon_ref r;
  mon_errors errs;
  memset(&r, 0, sizeof r);
  mon__errors_init(&errs);
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(!st && (st = mon__privacy_attach(m, c, v->model, &s)))
    mon__schema_free(&s);
  if(st)
    return st;
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(body, "rows");
  const cJSON *jfrom = cJSON_GetObjectItemCaseSensitive(body, "from");
  const cJSON *jto = cJSON_GetObjectItemCaseSensitive(body, "to");
  int64_t now = mw_now_ms();
  r.created_at = now;
  mw_strlcpy(r.created_by, actor ? actor : "", sizeof r.created_by);
  /* 8 bytes per value: 2 M rows of a column are 16 MB, within the cap. */
  mw_buf *raw = calloc(s.ncols ? s.ncols : 1, sizeof *raw);
  for(size_t k = 0; raw && k < s.ncols; k++)
    mw_buf_init(&raw[k], (size_t)1 << 30);
  if(!raw)
    st = MW_ENOMEM;
  else if(rows && (jfrom || jto))
    st = mw_errf(err, MW_EVALIDATION,
                 "give either rows or a time range {from, to}, not both");
  else if(rows)
    st = ref_from_rows(c, v, &s, rows, now, &r, raw, &errs, err);
  else
    st = ref_from_window(c, v, &s, jfrom, jto, &r, raw, err);
  /* Now inside the write transaction (unless st). */
  const char **names = st ? NULL : malloc(s.ncols * sizeof *names);
  if(!st && !names)
    st = MW_ENOMEM;
  for(size_t k = 0; !st && k < s.ncols; k++)
    names[k] = s.cols[k].name;
  if(!st)
    st = mon__store(c)->ref_save(c, v->id, &r, names);
  free(names);
  for(size_t k = 0; !st && k < s.ncols; k++)
    st = mon__store(c)->refrows_put(c, v->id, k, raw[k].data, raw[k].len);
  for(size_t k = 0; raw && k < s.ncols; k++)
    mw_buf_free(&raw[k]);
  free(raw);
  char target[200];
  snprintf(target, sizeof target, "%s/%lld", v->model, (long long)v->version);
  if(!st)
    st = mw_audit(c, actor ? actor : "", "reference.put", target, NULL);
  /* The answer is read inside the transaction: a failure to read it back
   * after COMMIT would report an error for a change that was made. */
  if(!st && !(st = mon_reference_get(c, v, out, err)))
    st = mw_tx_commit(c);
  if(st) {
    cJSON_Delete(*out);
    *out = NULL;
    mw_tx_rollback(c);
  }
  mon__errors_free(&errs);
  mon__ref_free(&r);
  mon__schema_free(&s);
  return st;
}

mw_status mon_reference_get(mw_conn *c, const mon_version *v, cJSON **out,
                            mw_err *err) {
  *out = NULL;
  mon_schema s;
  mon_ref r;
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  st = mon__store(c)->ref_load(c, v->id, s.ncols, true, &r);
  if(st == MW_EINTERNAL)
    mon__ref_mismatch(c, v->id);
  if(st == MW_ENOTFOUND) {
    mon__schema_free(&s);
    return mw_errf(err, MW_ENOTFOUND,
                   "version %lld of model '%s' has no reference set",
                   (long long)v->version, v->model);
  }
  if(st) {
    mon__schema_free(&s);
    return st;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", v->model);
  cJSON_AddNumberToObject(o, "version", (double)v->version);
  cJSON_AddStringToObject(o, "source", r.source);
  if(!strcmp(r.source, "window")) {
    mw_json_add_time(o, "from", r.from);
    mw_json_add_time(o, "to", r.to);
  }
  cJSON_AddNumberToObject(o, "count", (double)r.rows);
  mw_json_add_time(o, "created_at", r.created_at);
  cJSON_AddStringToObject(o, "created_by", r.created_by);
  cJSON *cols = cJSON_AddArrayToObject(o, "columns");
  for(size_t i = 0; i < s.ncols && !st; i++) {
    const mon_refcol *rc = &r.cols[i];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToArray(cols, j);
    cJSON_AddStringToObject(j, "name", s.cols[i].name);
    cJSON_AddStringToObject(j, "type", mon__kind_name(s.cols[i].kind));
    cJSON_AddNumberToObject(j, "count", (double)rc->count);
    cJSON_AddNumberToObject(j, "missing", (double)rc->missing);
    if(rc->kind == MON_COLUMN_NUMERIC) {
      if(rc->count > 0) {
        mon__json_add_number(j, "mean", rc->mean);
        if(rc->count > 1)
          mon__json_add_number(j, "std", rc->std);
        mon__json_add_number(j, "min", rc->min);
        mon__json_add_number(j, "max", rc->max);
      }
      if(rc->has_bins) {
        cJSON *e = cJSON_AddArrayToObject(j, "bin_edges");
        for(size_t k = 0; k <= rc->bins.n_bins; k++)
          mon__json_append_number(e, rc->bins.edges[k]);
      }
    } else {
      mon_dict d;
      if((st = mon__dict_load(c, v->id, i, &d)))
        break;
      cJSON *cats = cJSON_AddObjectToObject(j, "categories");
      for(size_t k = 0; k < rc->ncat && k < d.n; k++)
        if(rc->cat_counts[k] > 0)
          cJSON_AddNumberToObject(cats, d.values[k], rc->cat_counts[k]);
      mon__dict_free(&d);
    }
  }
  mon__ref_free(&r);
  mon__schema_free(&s);
  if(st) {
    cJSON_Delete(o);
    return st;
  }
  *out = o;
  return MW_OK;
}
