/* monitor/series.c - what a stored evaluation contributes to the time
 * series (metric names shared with GET .../drift/history and alert rules),
 * and the monitor's part of /metrics. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "monitor/internal.h"

static const cJSON *get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void emit(void (*fn)(void *, const char *, const char *, double),
                 void *ctx, const char *col, const char *metric,
                 const cJSON *it) {
  if(cJSON_IsNumber(it))
    fn(ctx, col, metric, it->valuedouble);
  else if(cJSON_IsBool(it))
    fn(ctx, col, metric, cJSON_IsTrue(it) ? 1.0 : 0.0);
}

/* The score that decides a column's verdict: the p-value for the tests
 * (ks, chi2, z), the distance otherwise. */
static const cJSON *score_of(const cJSON *col) {
  const char *m = mw_json_str(col, "method");
  mon_drift_method dm;
  if(m && mon__method_parse(m, &dm) && mon_stats_method_is_pvalue(dm))
    return get(col, "p_value");
  return get(col, "statistic");
}

void mon__report_metrics(const cJSON *report,
                         void (*fn)(void *, const char *, const char *, double),
                         void *ctx) {
  const cJSON *ds = get(report, "dataset");
  emit(fn, ctx, "", "drift_share", get(ds, "drift_share"));
  emit(fn, ctx, "", "dataset_drifted", get(ds, "drifted"));
  emit(fn, ctx, "", "drifted_columns", get(ds, "drifted_columns"));
  emit(fn, ctx, "", "prediction_count", get(get(report, "window"), "count"));
  const cJSON *perf = get(report, "performance");
  if(perf) {
    emit(fn, ctx, "", "labelled_count", get(perf, "count"));
    static const char *const pm[] = {"accuracy", "precision", "recall",
                                     "f1", "mae", "rmse"};
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
    if(strcmp(mw_json_str(col, "status") ? mw_json_str(col, "status") : "", "ok"))
      continue;
    emit(fn, ctx, name, "score", score_of(col));
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

static const char *const column_metrics[] = {
    "score", "statistic", "p_value", "drifted", "ks_d", "ks_p_value",
    "wasserstein", "wasserstein_norm", "psi", "jensen_shannon",
    "chi2_statistic", "chi2_p_value", "z", "z_p_value", "count", "missing",
    "mean", "std", "min", "max"};
static const char *const dataset_metrics[] = {
    "drift_share", "dataset_drifted", "drifted_columns", "prediction_count",
    "labelled_count", "accuracy", "precision", "recall", "f1", "mae", "rmse"};

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

/* ------------------------------------------------------------- /metrics */

/* Appends s as a Prometheus label value (backslash, quote and newline
 * escaped). */
static mw_status label_value(mw_buf *out, const char *s) {
  mw_status st = MW_OK;
  for(; *s && !st; s++) {
    if(*s == '\\')
      st = mw_buf_append(out, "\\\\", 2);
    else if(*s == '"')
      st = mw_buf_append(out, "\\\"", 2);
    else if(*s == '\n')
      st = mw_buf_append(out, "\\n", 2);
    else
      st = mw_buf_append(out, s, 1);
  }
  return st;
}

static mw_status append(mw_buf *out, const char *s) {
  return mw_buf_append(out, s, strlen(s));
}

struct render {
  mw_buf *out;
  bool share; /* pass 1: dataset share; pass 2: column scores */
};

static mw_status render_one(void *ctx, const char *model, int64_t version,
                            const char *report) {
  struct render *r = ctx;
  cJSON *doc = cJSON_Parse(report);
  if(!doc)
    return MW_OK; /* a report that does not parse is skipped, not fatal */
  mw_status st = MW_OK;
  char vbuf[32];
  snprintf(vbuf, sizeof vbuf, "%lld", (long long)version);
  if(r->share) {
    const cJSON *share = get(get(doc, "dataset"), "drift_share");
    if(cJSON_IsNumber(share) && isfinite(share->valuedouble)) {
      st = append(r->out, "modelwatch_dataset_drift_share{model=\"");
      if(!st)
        st = label_value(r->out, model);
      if(!st)
        st = mw_buf_printf(r->out, "\",version=\"%s\"} %.17g\n", vbuf,
                           share->valuedouble);
    }
  } else {
    const cJSON *col;
    cJSON_ArrayForEach(col, get(doc, "columns")) {
      const char *name = mw_json_str(col, "name");
      const char *method = mw_json_str(col, "method");
      const cJSON *score = score_of(col);
      if(!name || !method || !cJSON_IsNumber(score) ||
         !isfinite(score->valuedouble))
        continue;
      if((st = append(r->out, "modelwatch_drift_score{model=\"")) ||
         (st = label_value(r->out, model)) ||
         (st = mw_buf_printf(r->out, "\",version=\"%s\",column=\"", vbuf)) ||
         (st = label_value(r->out, name)) ||
         (st = append(r->out, "\",method=\"")) ||
         (st = label_value(r->out, method)) ||
         (st = mw_buf_printf(r->out, "\"} %.17g\n", score->valuedouble)))
        break;
    }
  }
  cJSON_Delete(doc);
  return st;
}

mw_status mon_metrics_render(mon_ctx *m, mw_conn *c, mw_buf *out) {
  mw_status st = MW_OK;
  if(m)
    st = mw_buf_printf(
        out,
        "# HELP modelwatch_predictions_ingested_total Predictions accepted "
        "since the process started.\n"
        "# TYPE modelwatch_predictions_ingested_total counter\n"
        "modelwatch_predictions_ingested_total %llu\n"
        "# HELP modelwatch_labels_ingested_total Labels accepted since the "
        "process started.\n"
        "# TYPE modelwatch_labels_ingested_total counter\n"
        "modelwatch_labels_ingested_total %llu\n"
        "# HELP modelwatch_ingest_rejected_total Prediction or label batches "
        "refused by validation.\n"
        "# TYPE modelwatch_ingest_rejected_total counter\n"
        "modelwatch_ingest_rejected_total %llu\n"
        "# HELP modelwatch_drift_evaluations_total Drift evaluations stored.\n"
        "# TYPE modelwatch_drift_evaluations_total counter\n"
        "modelwatch_drift_evaluations_total %llu\n"
        "# HELP modelwatch_ingest_batches_total Prediction batches written "
        "(committed, valid or not).\n"
        "# TYPE modelwatch_ingest_batches_total counter\n"
        "modelwatch_ingest_batches_total %llu\n"
        "# HELP modelwatch_ingest_commits_total Transactions that wrote them "
        "(group commit: several batches per fsync under load).\n"
        "# TYPE modelwatch_ingest_commits_total counter\n"
        "modelwatch_ingest_commits_total %llu\n"
        "# HELP modelwatch_monitor_write_lock_held_seconds_total Time the "
        "monitor's write transactions held its write lock.\n"
        "# TYPE modelwatch_monitor_write_lock_held_seconds_total counter\n"
        "modelwatch_monitor_write_lock_held_seconds_total %.6f\n"
        "# HELP modelwatch_monitor_write_lock_wait_seconds_total Time spent "
        "waiting for the monitor's write lock.\n"
        "# TYPE modelwatch_monitor_write_lock_wait_seconds_total counter\n"
        "modelwatch_monitor_write_lock_wait_seconds_total %.6f\n",
        (unsigned long long)__atomic_load_n(&m->n_predictions, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->n_labels, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->n_rejected, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->n_evaluations, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->n_batches, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->n_commits, __ATOMIC_RELAXED),
        (double)__atomic_load_n(&m->lock_held_ns, __ATOMIC_RELAXED) / 1e9,
        (double)__atomic_load_n(&m->lock_wait_ns, __ATOMIC_RELAXED) / 1e9);
  if(!st && m) {
    pthread_mutex_lock(&m->wc_mu);
    size_t entries = 0;
    for(const mon_wentry *e = m->wc_head; e; e = e->next)
      entries++;
    uint64_t hits = m->wc_hits, misses = m->wc_misses, ev = m->wc_evictions;
    size_t bytes = m->wc_bytes;
    pthread_mutex_unlock(&m->wc_mu);
    st = mw_buf_printf(
        out,
        "# HELP modelwatch_drift_cache_bytes Memory held by the live-window "
        "cache of drift reports (bounded by --drift-cache-mb).\n"
        "# TYPE modelwatch_drift_cache_bytes gauge\n"
        "modelwatch_drift_cache_bytes %zu\n"
        "# HELP modelwatch_drift_cache_entries Windows held by the cache.\n"
        "# TYPE modelwatch_drift_cache_entries gauge\n"
        "modelwatch_drift_cache_entries %zu\n"
        "# HELP modelwatch_drift_cache_lookups_total Drift reports that "
        "continued from a cached window (hit) or read the whole window "
        "(miss).\n"
        "# TYPE modelwatch_drift_cache_lookups_total counter\n"
        "modelwatch_drift_cache_lookups_total{result=\"hit\"} %llu\n"
        "modelwatch_drift_cache_lookups_total{result=\"miss\"} %llu\n"
        "# HELP modelwatch_drift_cache_evictions_total Cached windows evicted "
        "to stay within the budget.\n"
        "# TYPE modelwatch_drift_cache_evictions_total counter\n"
        "modelwatch_drift_cache_evictions_total %llu\n",
        bytes, entries, (unsigned long long)hits, (unsigned long long)misses,
        (unsigned long long)ev);
  }
  if(st)
    return st;
  /* Each metric family is written as one block, as the text format wants:
   * one pass over the latest evaluations per family. */
  struct render r = {out, true};
  if((st = mw_buf_printf(out, "# HELP modelwatch_dataset_drift_share Share of "
                              "drifted columns in the latest stored evaluation.\n"
                              "# TYPE modelwatch_dataset_drift_share gauge\n")) ||
     (st = mon__store_latest_evals(c, render_one, &r)))
    return st;
  r.share = false;
  if((st = mw_buf_printf(out, "# HELP modelwatch_drift_score Drift score of a "
                              "column in the latest stored evaluation (p-value "
                              "for ks, chi2 and z; distance otherwise).\n"
                              "# TYPE modelwatch_drift_score gauge\n")))
    return st;
  return mon__store_latest_evals(c, render_one, &r);
}
