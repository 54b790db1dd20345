/* monitor/metrics.c - the monitor's part of /metrics in Prometheus text
 * format: ingest and evaluation counters, the live-window cache, and from
 * each version's latest stored evaluation modelwatch_dataset_drift_share
 * and modelwatch_drift_score (two passes over the latest evaluations, one
 * per metric family, as the text format wants families whole). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "monitor/context.h"
#include "monitor/series.h"
#include "monitor/store.h"

static const cJSON *get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

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
      const cJSON *score = mon__column_score(col);
      if(!name || !method || !cJSON_IsNumber(score) || !isfinite(score->valuedouble))
        continue;
      if((st = append(r->out, "modelwatch_drift_score{model=\"")) ||
         (st = label_value(r->out, model)) ||
         (st = mw_buf_printf(r->out, "\",version=\"%s\",column=\"", vbuf)) ||
         (st = label_value(r->out, name)) || (st = append(r->out, "\",method=\"")) ||
         (st = label_value(r->out, method)) ||
         (st = mw_buf_printf(r->out, "\"} %.17g\n", score->valuedouble)))
        break;
    }
  }
  cJSON_Delete(doc);
  return st;
}

/* The process's counters (m may be NULL: none). */
static mw_status render_counters(mon_ctx *m, mw_buf *out) {
  if(!m)
    return MW_OK;
  mw_db_stats ds;
  mw_db_stats_get(m->db, &ds);
  return mw_buf_printf(
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
      "# HELP modelwatch_monitor_write_lock_held_seconds_total Time write "
      "transactions of this process held the database write lock (one lock "
      "for every subsystem).\n"
      "# TYPE modelwatch_monitor_write_lock_held_seconds_total counter\n"
      "modelwatch_monitor_write_lock_held_seconds_total %.6f\n"
      "# HELP modelwatch_monitor_write_lock_wait_seconds_total Time spent "
      "waiting for the database write lock.\n"
      "# TYPE modelwatch_monitor_write_lock_wait_seconds_total counter\n"
      "modelwatch_monitor_write_lock_wait_seconds_total %.6f\n",
      (unsigned long long)__atomic_load_n(&m->n_predictions, __ATOMIC_RELAXED),
      (unsigned long long)__atomic_load_n(&m->n_labels, __ATOMIC_RELAXED),
      (unsigned long long)__atomic_load_n(&m->n_rejected, __ATOMIC_RELAXED),
      (unsigned long long)__atomic_load_n(&m->n_evaluations, __ATOMIC_RELAXED),
      (unsigned long long)__atomic_load_n(&m->n_batches, __ATOMIC_RELAXED),
      (unsigned long long)__atomic_load_n(&m->n_commits, __ATOMIC_RELAXED),
      (double)ds.held_ns / 1e9, (double)ds.wait_ns / 1e9);
}

/* The live-window cache's gauges and counters. */
static mw_status render_cache(mon_ctx *m, mw_buf *out) {
  if(!m)
    return MW_OK;
  mon_wcache_stats w;
  mon__wcache_stats(&m->wc, &w);
  return mw_buf_printf(
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
      w.bytes, w.entries, (unsigned long long)w.hits, (unsigned long long)w.misses,
      (unsigned long long)w.evictions);
}

mw_status mon_metrics_render(mon_ctx *m, mw_conn *c, mw_buf *out) {
  mw_status st;
  if((st = render_counters(m, out)) || (st = render_cache(m, out)))
    return st;
  /* Each metric family is written as one block, as the text format wants:
   * one pass over the latest evaluations per family. */
  const struct mon_store *store = mon__store(c);
  struct render r = {out, true};
  if((st = mw_buf_printf(out, "# HELP modelwatch_dataset_drift_share Share of "
                              "drifted columns in the latest stored evaluation.\n"
                              "# TYPE modelwatch_dataset_drift_share gauge\n")) ||
     (st = store->evals_latest(c, render_one, &r)))
    return st;
  r.share = false;
  if((st = mw_buf_printf(out, "# HELP modelwatch_drift_score Drift score of a "
                              "column in the latest stored evaluation (p-value "
                              "for ks, chi2 and z; distance otherwise).\n"
                              "# TYPE modelwatch_drift_score gauge\n")))
    return st;
  return store->evals_latest(c, render_one, &r);
}
