/* monitor/series.c - what a stored evaluation contributes to the time
 * series (monitor/series.h): the metrics of a report, stored as points
 * next to the report itself, and read back by GET .../drift/history,
 * alert rules (mon_metric_latest) and /metrics (monitor/metrics.c). The
 * points are inserted in the evaluation's transaction: one row per
 * (column, metric). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/schema.h"
#include "monitor/series.h"
#include "monitor/settings.h"
#include "monitor/store.h"

static const cJSON *get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void emit(void (*fn)(void *, const char *, const char *, double), void *ctx,
                 const char *col, const char *metric, const cJSON *it) {
  if(cJSON_IsNumber(it))
    fn(ctx, col, metric, it->valuedouble);
  else if(cJSON_IsBool(it))
    fn(ctx, col, metric, cJSON_IsTrue(it) ? 1.0 : 0.0);
}

const cJSON *mon__column_score(const cJSON *col) {
  const char *m = mw_json_str(col, "method");
  mon_drift_method dm;
  if(m && mon__method_parse(m, &dm) && mon_stats_method_is_pvalue(dm))
    return get(col, "p_value");
  return get(col, "statistic");
}

/* The column's data quality (monitor/quality.h): whatever the column's
 * status, a missing share is worth a point of its own. */
static void quality_metrics(const cJSON *col, const char *name,
                            void (*fn)(void *, const char *, const char *, double),
                            void *ctx) {
  const cJSON *q = get(col, "quality");
  emit(fn, ctx, name, "missing_share", get(q, "missing_share"));
  emit(fn, ctx, name, "out_of_range_share", get(q, "out_of_range_share"));
  emit(fn, ctx, name, "unseen_share", get(q, "unseen_share"));
  emit(fn, ctx, name, "invalid_count", get(q, "invalid_count"));
}

/* Calls fn(ctx, column, metric, value) for every metric of a report
 * (column "" for dataset metrics); the names of mon_drift_history. */
static void report_metrics(const cJSON *report,
                           void (*fn)(void *, const char *, const char *, double),
                           void *ctx) {
  const cJSON *ds = get(report, "dataset");
  emit(fn, ctx, "", "drift_share", get(ds, "drift_share"));
  emit(fn, ctx, "", "dataset_drifted", get(ds, "drifted"));
  emit(fn, ctx, "", "drifted_columns", get(ds, "drifted_columns"));
  emit(fn, ctx, "", "prediction_count", get(get(report, "window"), "count"));
  emit(fn, ctx, "", "quarantined_count", get(get(report, "window"), "quarantined"));
  const cJSON *perf = get(report, "performance");
  if(perf) {
    emit(fn, ctx, "", "labelled_count", get(perf, "count"));
    static const char *const pm[] = {"accuracy", "precision", "recall",
                                     "f1",       "mae",       "rmse"};
    for(size_t i = 0; i < sizeof pm / sizeof pm[0]; i++)
      emit(fn, ctx, "", pm[i], get(perf, pm[i]));
  }
  const cJSON *col;
  cJSON_ArrayForEach(col, get(report, "columns")) {
    const char *name = mw_json_str(col, "name");
    if(!name)
      continue;
    const cJSON *stats = get(col, "stats");
    emit(fn, ctx, name, "count", get(stats, "count"));
    emit(fn, ctx, name, "missing", get(stats, "missing"));
    emit(fn, ctx, name, "mean", get(stats, "mean"));
    emit(fn, ctx, name, "std", get(stats, "std"));
    emit(fn, ctx, name, "min", get(stats, "min"));
    emit(fn, ctx, name, "max", get(stats, "max"));
    emit(fn, ctx, name, "drifted", get(col, "drifted"));
    quality_metrics(col, name, fn, ctx);
    if(strcmp(mw_json_str(col, "status") ? mw_json_str(col, "status") : "", "ok"))
      continue;
    emit(fn, ctx, name, "score", mon__column_score(col));
    emit(fn, ctx, name, "statistic", get(col, "statistic"));
    emit(fn, ctx, name, "p_value", get(col, "p_value"));
    emit(fn, ctx, name, "ks_d", get(get(col, "ks"), "d"));
    emit(fn, ctx, name, "ks_p_value", get(get(col, "ks"), "p_value"));
    emit(fn, ctx, name, "wasserstein", get(col, "wasserstein"));
    emit(fn, ctx, name, "wasserstein_norm", get(col, "wasserstein_norm"));
    emit(fn, ctx, name, "psi", get(col, "psi"));
    emit(fn, ctx, name, "jensen_shannon", get(col, "jensen_shannon"));
    emit(fn, ctx, name, "chi2_statistic", get(get(col, "chi2"), "statistic"));
    emit(fn, ctx, name, "chi2_p_value", get(get(col, "chi2"), "p_value"));
    emit(fn, ctx, name, "z", get(get(col, "z"), "statistic"));
    emit(fn, ctx, name, "z_p_value", get(get(col, "z"), "p_value"));
  }
}

static const char *const column_metrics[] = {"score",
                                             "statistic",
                                             "p_value",
                                             "drifted",
                                             "ks_d",
                                             "ks_p_value",
                                             "wasserstein",
                                             "wasserstein_norm",
                                             "psi",
                                             "jensen_shannon",
                                             "chi2_statistic",
                                             "chi2_p_value",
                                             "z",
                                             "z_p_value",
                                             "count",
                                             "missing",
                                             "mean",
                                             "std",
                                             "min",
                                             "max",
                                             "missing_share",
                                             "out_of_range_share",
                                             "unseen_share",
                                             "invalid_count"};
static const char *const dataset_metrics[] = {"drift_share",
                                              "dataset_drifted",
                                              "drifted_columns",
                                              "prediction_count",
                                              "quarantined_count",
                                              "labelled_count",
                                              "accuracy",
                                              "precision",
                                              "recall",
                                              "f1",
                                              "mae",
                                              "rmse"};

const char *mon__metric_name(const char *column, const char *metric) {
  bool dataset = !column || !*column;
  if(!metric)
    return NULL;
  /* Alert rules call the dataset share dataset_drift_share. */
  if(dataset && !strcmp(metric, "dataset_drift_share"))
    return "drift_share";
  const char *const *list = dataset ? dataset_metrics : column_metrics;
  size_t n = dataset ? sizeof dataset_metrics / sizeof dataset_metrics[0]
                     : sizeof column_metrics / sizeof column_metrics[0];
  for(size_t i = 0; i < n; i++)
    if(!strcmp(list[i], metric))
      return list[i];
  return NULL;
}

/* ---------------------------------------------------------- storage */

struct points {
  mon_point *p;
  size_t n, cap;
  bool oom;
};

static void add_point(void *ctx, const char *col, const char *metric, double v) {
  struct points *x = ctx;
  if(x->oom || !isfinite(v))
    return;
  if(x->n == x->cap) {
    size_t ncap = x->cap ? x->cap * 2 : 64;
    mon_point *np = realloc(x->p, ncap * sizeof *np);
    if(!np) {
      x->oom = true;
      return;
    }
    x->p = np;
    x->cap = ncap;
  }
  x->p[x->n++] = (mon_point){col, metric, v};
}

mw_status mon__eval_store(mw_conn *c, int64_t version_id, int64_t at,
                          const cJSON *report, const char *trigger) {
  assert(mw_tx_state(c) == 1);
  const cJSON *win = get(report, "window");
  const cJSON *ds = get(report, "dataset");
  const cJSON *cnt = get(win, "count");
  const cJSON *share = get(ds, "drift_share");
  mon_eval e = {version_id, at,  0, 0, 0, 0.0, cJSON_IsTrue(get(ds, "drifted")),
                trigger,    NULL};
  mw_time_parse(mw_json_str(win, "from"), &e.window_from);
  mw_time_parse(mw_json_str(win, "to"), &e.window_to);
  e.row_count = cJSON_IsNumber(cnt) ? (int64_t)cnt->valuedouble : 0;
  e.drift_share = cJSON_IsNumber(share) ? share->valuedouble : 0.0;
  char *text = cJSON_PrintUnformatted(report);
  struct points pts = {NULL, 0, 0, false};
  report_metrics(report, add_point, &pts);
  mw_status st = text && !pts.oom ? MW_OK : MW_ENOMEM;
  e.report = text;
  if(!st)
    st = mon__store(c)->eval_insert(c, &e, pts.p, pts.n);
  cJSON_free(text);
  free(pts.p);
  return st;
}

/* ---------------------------------------------------------- reading */

struct history {
  cJSON *points;
};

static mw_status add_history(void *ctx, const mon_series_row *r) {
  struct history *h = ctx;
  cJSON *p = cJSON_CreateObject();
  if(!p)
    return MW_ENOMEM;
  mw_json_add_time(p, "at", r->at);
  mon__json_add_number(p, "value", r->value);
  cJSON *w = cJSON_AddObjectToObject(p, "window");
  mw_json_add_time(w, "from", r->window_from);
  mw_json_add_time(w, "to", r->window_to);
  cJSON_AddItemToArray(h->points, p);
  return MW_OK;
}

mw_status mon_drift_history(mw_conn *c, const mon_version *v, const char *column,
                            const char *metric, int64_t from_ms, int64_t to_ms,
                            int limit, cJSON **out, mw_err *err) {
  *out = NULL;
  if(limit < 1 || limit > 10000)
    return mw_errf(err, MW_EINVAL, "limit must be 1-10000");
  const char *stored = mon__metric_name(column, metric);
  if(!stored)
    return mw_errf(err, MW_EVALIDATION,
                   "unknown metric '%.64s' for %s (see the drift history "
                   "documentation for the names)",
                   metric ? metric : "",
                   column && *column ? "a column" : "the dataset");
  cJSON *o = cJSON_CreateObject();
  if(column && *column)
    cJSON_AddStringToObject(o, "column", column);
  else
    cJSON_AddNullToObject(o, "column");
  cJSON_AddStringToObject(o, "metric", metric);
  mw_json_add_time(o, "from", from_ms);
  mw_json_add_time(o, "to", to_ms);
  struct history h = {cJSON_AddArrayToObject(o, "points")};
  mw_status st = mon__store(c)->series_visit(c, v->id, column ? column : "", stored,
                                             from_ms, to_ms, limit, add_history, &h);
  if(st) {
    cJSON_Delete(o);
    return st;
  }
  *out = o;
  return MW_OK;
}

mw_status mon_metric_latest(mw_conn *c, int64_t version_id, const char *column,
                            const char *metric, double *value, int64_t *at_ms) {
  const char *stored = mon__metric_name(column, metric);
  if(!stored)
    return MW_ENOTFOUND;
  int64_t at = 0;
  mw_status st = mon__store(c)->series_latest(c, version_id, column ? column : "",
                                              stored, value, &at);
  if(!st && at_ms)
    *at_ms = at;
  return st;
}
