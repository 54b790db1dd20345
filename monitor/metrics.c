/* monitor/metrics.c - the monitor's part of /metrics in Prometheus text
 * format: ingest and evaluation counters, the live-window cache, and from
 * each version's latest stored evaluation the dataset drift share and, per
 * column, drift in one direction per family - modelwatch_column_drifted
 * (0/1), modelwatch_column_p_value (low = drift), modelwatch_column_distance
 * (high = drift) - so that a PromQL rule needs one threshold, beside the
 * older modelwatch_drift_score. One pass over the latest evaluations; each
 * family is written whole, as the text format wants. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/context.h"
#include "monitor/series.h"
#include "monitor/settings.h"
#include "monitor/stats.h"
#include "monitor/store.h"

static const cJSON *get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

static mw_status append(mw_buf *out, const char *s) {
  return mw_buf_append(out, s, strlen(s));
}

/* The families drawn from each version's latest evaluation, each built in
 * its own buffer during one pass and then written whole, as the text
 * format wants families. */
enum family { F_SHARE, F_SCORE, F_DRIFTED, F_P_VALUE, F_DISTANCE, N_FAMILIES };

static const char *const family_head[N_FAMILIES] = {
    "# HELP modelwatch_dataset_drift_share Share of drifted columns in the "
    "latest stored evaluation.\n# TYPE modelwatch_dataset_drift_share gauge\n",
    "# HELP modelwatch_drift_score Drift score of a column in the latest stored "
    "evaluation (p-value for ks, chi2 and z; distance otherwise: prefer the "
    "three families below, which have one direction each).\n"
    "# TYPE modelwatch_drift_score gauge\n",
    "# HELP modelwatch_column_drifted 1 when the column drifted in the latest "
    "stored evaluation, else 0: one threshold (== 1) for every method.\n"
    "# TYPE modelwatch_column_drifted gauge\n",
    "# HELP modelwatch_column_p_value The column's p-value (ks, chi2, z) in the "
    "latest stored evaluation: low means drift.\n"
    "# TYPE modelwatch_column_p_value gauge\n",
    "# HELP modelwatch_column_distance The column's distance (wasserstein, psi, "
    "jensenshannon, ...) in the latest stored evaluation: high means drift.\n"
    "# TYPE modelwatch_column_distance gauge\n",
};

/* Column series per family at most: a scrape stays bounded however many
 * versions and columns there are; what is left out is counted. */
#define MAX_COLUMN_SERIES 20000

struct render {
  mw_buf fam[N_FAMILIES];
  size_t columns; /* column series written per family so far */
  uint64_t dropped;
};

/* Appends `name{model="..",version="..",column=".."[,method=".."]} v`. */
static mw_status series(mw_buf *out, const char *name, const char *model,
                        const char *version, const char *column, const char *method,
                        double v) {
  mw_status st;
  if((st = append(out, name)) || (st = append(out, "{model=\"")) ||
     (st = mw_buf_label(out, model)) ||
     (st = mw_buf_printf(out, "\",version=\"%s\"", version)))
    return st;
  if(column && ((st = append(out, ",column=\"")) ||
                (st = mw_buf_label(out, column)) || (st = append(out, "\""))))
    return st;
  if(method && ((st = append(out, ",method=\"")) ||
                (st = mw_buf_label(out, method)) || (st = append(out, "\""))))
    return st;
  return mw_buf_printf(out, "} %.17g\n", v);
}

static mw_status render_column(struct render *r, const char *model,
                               const char *version, const cJSON *col) {
  const char *name = mw_json_str(col, "name");
  const char *method = mw_json_str(col, "method");
  const cJSON *score = mon__column_score(col);
  if(!name || !method || !cJSON_IsNumber(score) || !isfinite(score->valuedouble))
    return MW_OK;
  if(r->columns >= MAX_COLUMN_SERIES) {
    r->dropped++;
    return MW_OK;
  }
  r->columns++;
  const cJSON *drifted = get(col, "drifted");
  mon_drift_method dm;
  int pvalue = mon__method_parse(method, &dm) && mon_stats_method_is_pvalue(dm);
  double v = score->valuedouble;
  mw_status st = series(&r->fam[F_SCORE], "modelwatch_drift_score", model, version,
                        name, method, v);
  if(!st && cJSON_IsBool(drifted))
    st = series(&r->fam[F_DRIFTED], "modelwatch_column_drifted", model, version,
                name, NULL, cJSON_IsTrue(drifted) ? 1 : 0);
  if(!st)
    st = series(&r->fam[pvalue ? F_P_VALUE : F_DISTANCE],
                pvalue ? "modelwatch_column_p_value" : "modelwatch_column_distance",
                model, version, name, method, v);
  return st;
}

static mw_status render_one(void *ctx, const char *model, int64_t version,
                            const char *report) {
  struct render *r = ctx;
  cJSON *doc = cJSON_Parse(report);
  if(!doc)
    return MW_OK; /* a report that does not parse is skipped, not fatal */
  mw_status st = MW_OK;
  char vbuf[32];
  snprintf(vbuf, sizeof vbuf, "%lld", (long long)version);
  const cJSON *share = get(get(doc, "dataset"), "drift_share");
  if(cJSON_IsNumber(share) && isfinite(share->valuedouble))
    st = series(&r->fam[F_SHARE], "modelwatch_dataset_drift_share", model, vbuf,
                NULL, NULL, share->valuedouble);
  const cJSON *col;
  cJSON_ArrayForEach(col, get(doc, "columns")) {
    if(st)
      break;
    st = render_column(r, model, vbuf, col);
  }
  cJSON_Delete(doc);
  return st;
}

void mon__vcount_add(mon_ctx *m, const mon_version *v, uint64_t predictions,
                     uint64_t labels) {
  pthread_mutex_lock(&m->vc_mu);
  /* Few versions log at once: a linear look from the most recent. */
  struct mon_vcount *e = NULL;
  for(size_t i = m->vc_n; i-- > 0 && !e;)
    if(m->vc[i].version_id == v->id)
      e = &m->vc[i];
  if(!e && m->vc_n == m->vc_cap && m->vc_cap < MON_VCOUNT_MAX) {
    size_t cap = m->vc_cap ? 2 * m->vc_cap : 16;
    struct mon_vcount *nv =
        realloc(m->vc, (cap < MON_VCOUNT_MAX ? cap : MON_VCOUNT_MAX) * sizeof *nv);
    if(nv) {
      m->vc = nv;
      m->vc_cap = cap < MON_VCOUNT_MAX ? cap : MON_VCOUNT_MAX;
    }
  }
  if(!e && m->vc_n < m->vc_cap) {
    e = &m->vc[m->vc_n++];
    memset(e, 0, sizeof *e);
    e->version_id = v->id;
    e->version = v->version;
    mw_strlcpy(e->model, v->model ? v->model : "", sizeof e->model);
  }
  if(e) {
    e->predictions += predictions;
    e->labels += labels;
  } else {
    m->vc_dropped += predictions + labels;
  }
  pthread_mutex_unlock(&m->vc_mu);
}

/* modelwatch_predictions_total and modelwatch_labels_total by model and
 * version, as this process counted them. */
static mw_status render_vcounts(mon_ctx *m, mw_buf *out) {
  if(!m)
    return MW_OK;
  static const char *const head[2] = {
      "# HELP modelwatch_predictions_total Predictions accepted by this process, "
      "by model and version.\n# TYPE modelwatch_predictions_total counter\n",
      "# HELP modelwatch_labels_total Labels accepted by this process, by model "
      "and version.\n# TYPE modelwatch_labels_total counter\n"};
  mw_status st = MW_OK;
  pthread_mutex_lock(&m->vc_mu);
  for(int k = 0; k < 2 && !st; k++) {
    st = append(out, head[k]);
    for(size_t i = 0; i < m->vc_n && !st; i++) {
      char vbuf[32];
      snprintf(vbuf, sizeof vbuf, "%lld", (long long)m->vc[i].version);
      st =
          series(out, k ? "modelwatch_labels_total" : "modelwatch_predictions_total",
                 m->vc[i].model, vbuf, NULL, NULL,
                 (double)(k ? m->vc[i].labels : m->vc[i].predictions));
    }
  }
  if(!st)
    st = mw_buf_printf(out,
                       "# HELP modelwatch_ingest_uncounted_total Predictions and "
                       "labels of versions past the first %d, not counted by "
                       "version.\n# TYPE modelwatch_ingest_uncounted_total counter\n"
                       "modelwatch_ingest_uncounted_total %llu\n",
                       MON_VCOUNT_MAX, (unsigned long long)m->vc_dropped);
  pthread_mutex_unlock(&m->vc_mu);
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
      "# HELP modelwatch_predictions_quarantined_total Invalid prediction "
      "rows kept in a quarantine (?on_invalid=quarantine) since the process "
      "started.\n"
      "# TYPE modelwatch_predictions_quarantined_total counter\n"
      "modelwatch_predictions_quarantined_total %llu\n"
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
      (unsigned long long)__atomic_load_n(&m->n_quarantined, __ATOMIC_RELAXED),
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
  mw_status st = mw_buf_printf(
      out,
      "# HELP modelwatch_drift_cache_bytes Memory held by the live-window "
      "cache of drift reports, its windows and references (bounded by "
      "--drift-cache-mb).\n"
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
  if(st)
    return st;
  return mw_buf_printf(
      out,
      "# HELP modelwatch_drift_reference_cache_bytes Memory held by the "
      "references kept for drift reports (part of "
      "modelwatch_drift_cache_bytes).\n"
      "# TYPE modelwatch_drift_reference_cache_bytes gauge\n"
      "modelwatch_drift_reference_cache_bytes %zu\n"
      "# HELP modelwatch_drift_reference_cache_entries References held, one "
      "per version.\n"
      "# TYPE modelwatch_drift_reference_cache_entries gauge\n"
      "modelwatch_drift_reference_cache_entries %zu\n"
      "# HELP modelwatch_drift_reference_cache_lookups_total Drift reports "
      "that used a reference held in memory (hit) or loaded it from the "
      "database (miss).\n"
      "# TYPE modelwatch_drift_reference_cache_lookups_total counter\n"
      "modelwatch_drift_reference_cache_lookups_total{result=\"hit\"} %llu\n"
      "modelwatch_drift_reference_cache_lookups_total{result=\"miss\"} "
      "%llu\n"
      "# HELP modelwatch_drift_reference_cache_evictions_total References "
      "evicted to stay within the budget or idle.\n"
      "# TYPE modelwatch_drift_reference_cache_evictions_total counter\n"
      "modelwatch_drift_reference_cache_evictions_total %llu\n",
      w.ref_bytes, w.ref_entries, (unsigned long long)w.ref_hits,
      (unsigned long long)w.ref_misses, (unsigned long long)w.ref_evictions);
}

mw_status mon_metrics_render(mon_ctx *m, mw_conn *c, mw_buf *out) {
  mw_status st;
  if((st = render_counters(m, out)) || (st = render_cache(m, out)) ||
     (st = render_vcounts(m, out)))
    return st;
  /* One pass over the latest evaluations fills every family's buffer
   * (each as capped as the whole answer); then the families, one by one. */
  struct render r;
  memset(&r, 0, sizeof r);
  for(int f = 0; f < N_FAMILIES; f++)
    mw_buf_init(&r.fam[f], out->limit);
  st = mon__store(c)->evals_latest(c, render_one, &r);
  for(int f = 0; f < N_FAMILIES && !st; f++) {
    st = append(out, family_head[f]);
    if(!st && r.fam[f].len)
      st = mw_buf_append(out, r.fam[f].data, r.fam[f].len);
  }
  if(!st)
    st = mw_buf_printf(out,
                       "# HELP modelwatch_metrics_series_dropped Column series "
                       "left out of this scrape (more than %d per family).\n"
                       "# TYPE modelwatch_metrics_series_dropped gauge\n"
                       "modelwatch_metrics_series_dropped %llu\n",
                       MAX_COLUMN_SERIES, (unsigned long long)r.dropped);
  for(int f = 0; f < N_FAMILIES; f++)
    mw_buf_free(&r.fam[f]);
  return st;
}
