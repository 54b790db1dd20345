/* monitor/drift.c - the drift report of a window against the version's
 * reference: columns are read one at a time from their column blocks (in
 * one read transaction, so every column sees the same rows), handed to a
 * small pool of threads that sort them and run every statistic of
 * monitor/stats.h, under a memory budget that bounds the values in flight.
 * See monitor/monitor.h for what is exact and what is sampled. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/internal.h"

/* Windows smaller than this (rows x columns) are computed on the calling
 * thread: starting threads would cost more than it saves. */
#define MON_PARALLEL_MIN_VALUES 200000

/* --------------------------------------------------------------- gather */

void mon__gather_init(mon_gather *g, double *vals, size_t cap, size_t stride,
                      bool aggregate, const mon_bins *bins) {
  memset(g, 0, sizeof *g);
  g->vals = vals;
  g->cap = cap;
  g->stride = stride ? stride : 1;
  g->aggregate = aggregate;
  g->bins = bins;
  g->min = INFINITY;
  g->max = -INFINITY;
}

mw_status mon__gather_visit(void *ctx, const double *v, size_t n) {
  mon_gather *g = ctx;
  if(g->stride == 1 && !g->aggregate) {
    size_t k = n < g->cap - g->n ? n : g->cap - g->n;
    memcpy(g->vals + g->n, v, k * sizeof *v);
    g->n += k;
    g->seen += n;
    return MW_OK;
  }
  for(size_t i = 0; i < n; i++, g->seen++) {
    double x = v[i];
    if(g->seen % g->stride == 0 && g->n < g->cap)
      g->vals[g->n++] = x;
    if(!g->aggregate)
      continue;
    if(!isfinite(x)) {
      g->missing++;
      continue;
    }
    /* Welford's update: one pass, no catastrophic cancellation. */
    g->count++;
    double d = x - g->mean;
    g->mean += d / (double)g->count;
    g->m2 += d * (x - g->mean);
    if(x < g->min)
      g->min = x;
    if(x > g->max)
      g->max = x;
    if(g->bins)
      g->bin_counts[mon_stats_bins_index(g->bins, x)] += 1.0;
  }
  return MW_OK;
}

/* ------------------------------------------------------------- columns */

typedef struct mon_job {
  struct mon_job *next;
  size_t col;
  const mon_column *column;
  const mon_refcol *ref;
  mon_drift_options opt;
  double *vals; /* numeric, streamed: window values (sampled when sampled > 0) */
  size_t n;
  size_t reserve;   /* doubles charged to the budget */
  size_t sampled;   /* 0: exact; else rows used for the sorted statistics */
  mon_gather agg;   /* exact aggregates when sampled */
  /* The column's sorted values or counts by code: a live-window cache
   * entry's column, or (categorical, streamed) own. */
  mon_wcol *w;
  mon_wcol own;
  double *rem, *add; /* numeric, cached: values leaving and entering */
  size_t nrem, nadd;
  cJSON *json;      /* the column's result */
  bool evaluated, drifted;
  mw_status st;
} mon_job;

static void add_num(cJSON *o, const char *key, double v) {
  /* The statistics never produce NaN or infinities; mon__json_add_number is
   * the last guard that keeps them out of the JSON whatever happens. */
  mon__json_add_number(o, key, v);
}

static void add_test(cJSON *o, const char *key, const mon_test_result *t) {
  if(!t->available)
    return;
  cJSON *j = cJSON_AddObjectToObject(o, key);
  add_num(j, "statistic", t->statistic);
  add_num(j, "p_value", t->pvalue);
  if(t->dof > 0)
    add_num(j, "dof", t->dof);
}

/* The verdict part shared by both kinds: method, statistic, p_value,
 * threshold, drifted. */
static void add_verdict(cJSON *j, const mon_drift_result *r) {
  cJSON_AddStringToObject(j, "method", mon__method_name(r->method));
  switch(r->method) {
  case MON_DRIFT_KS:
    add_num(j, "statistic", r->ks.statistic);
    add_num(j, "p_value", r->ks.pvalue);
    break;
  case MON_DRIFT_WASSERSTEIN:
    add_num(j, "statistic", r->wasserstein_norm);
    break;
  case MON_DRIFT_PSI:
    add_num(j, "statistic", r->psi);
    break;
  case MON_DRIFT_JENSENSHANNON:
    add_num(j, "statistic", r->jensenshannon);
    break;
  case MON_DRIFT_CHISQUARE:
    add_num(j, "statistic", r->chisquare.statistic);
    add_num(j, "p_value", r->chisquare.pvalue);
    break;
  case MON_DRIFT_ZTEST:
    add_num(j, "statistic", r->ztest.statistic);
    add_num(j, "p_value", r->ztest.pvalue);
    break;
  default:
    break;
  }
  add_num(j, "threshold", r->threshold);
  cJSON_AddBoolToObject(j, "drifted", r->drifted);
}

static void add_distances(cJSON *j, const mon_drift_result *r) {
  if(r->ks_ok) {
    cJSON *ks = cJSON_AddObjectToObject(j, "ks");
    add_num(ks, "d", r->ks.statistic);
    if(r->ks_pvalue_ok)
      add_num(ks, "p_value", r->ks.pvalue);
  }
  if(r->wasserstein_ok) {
    add_num(j, "wasserstein", r->wasserstein);
    add_num(j, "wasserstein_norm", r->wasserstein_norm);
  }
  if(r->psi_ok)
    add_num(j, "psi", r->psi);
  if(r->jensenshannon_ok)
    add_num(j, "jensen_shannon", r->jensenshannon);
  add_test(j, "chi2", &r->chisquare);
  if(r->ztest.available)
    add_test(j, "z", &r->ztest);
}

static cJSON *column_head(const mon_job *jb, const char *status) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", jb->column->name);
  cJSON_AddStringToObject(j, "type", mon__kind_name(jb->column->kind));
  cJSON_AddStringToObject(j, "status", status);
  return j;
}

/* A column's result up to its stats: status, and the verdict and distances
 * when the tests ran (rc MON_STATS_OK), else drifted false with the reason
 * when the window had data. Records the verdict in jb. */
static cJSON *column_verdict(mon_job *jb, bool has_data, int rc,
                             const mon_drift_result *r, bool ref_empty,
                             const char *insufficient) {
  const char *status = !has_data              ? "no_data"
                       : rc == MON_STATS_OK ? "ok"
                                            : "insufficient_data";
  cJSON *j = column_head(jb, status);
  if(rc == MON_STATS_OK) {
    add_verdict(j, r);
    add_distances(j, r);
    jb->evaluated = true;
    jb->drifted = r->drifted;
  } else {
    cJSON_AddBoolToObject(j, "drifted", false);
    if(has_data)
      cJSON_AddStringToObject(j, "reason",
                              ref_empty ? "the reference has no values in this column"
                                        : insufficient);
  }
  return j;
}

/* "histogram": the reference's quantile bins with the reference and the
 * current counts per bin (exact over every row, also when sampled), so a
 * dashboard can draw the two distributions side by side. */
static void add_numeric_histogram(cJSON *j, const mon_job *jb, const double *x,
                                  size_t nf) {
  const mon_bins *b = &jb->ref->bins;
  double cur[MON_STATS_MAX_BINS] = {0}; /* bins_count_sorted adds to it */
  if(jb->sampled)
    memcpy(cur, jb->agg.bin_counts, b->n_bins * sizeof *cur);
  else if(mon_stats_bins_count_sorted(b, x, nf, cur) != MON_STATS_OK)
    return;
  cJSON *h = cJSON_AddObjectToObject(j, "histogram");
  cJSON *e = cJSON_AddArrayToObject(h, "edges");
  cJSON *rc = cJSON_AddArrayToObject(h, "reference");
  cJSON *cc = cJSON_AddArrayToObject(h, "current");
  for(size_t k = 0; k <= b->n_bins; k++)
    mon__json_append_number(e, b->edges[k]);
  for(size_t k = 0; k < b->n_bins; k++) {
    cJSON_AddItemToArray(rc, cJSON_CreateNumber(b->ref_counts[k]));
    cJSON_AddItemToArray(cc, cJSON_CreateNumber(cur[k]));
  }
}

/* The categorical "histogram": counts per category name in the reference
 * and the window, the most frequent MAX_HIST_CATEGORIES (by both sides)
 * first. Built on the reading thread, which can look the names up. */
#define MAX_HIST_CATEGORIES 50
static mw_status categorical_histogram(mw_conn *c, int64_t version_id, size_t col,
                                       const mon_job *jb, cJSON **out) {
  mon_dict d;
  *out = NULL;
  /* The names come from the database: a failed read fails the report
   * (it used to leave the histogram out and store the evaluation). */
  mw_status st = mon__store_dict_load(c, version_id, col, &d);
  if(st)
    return st;
  const mon_refcol *ref = jb->ref;
  size_t k = d.n, picked = 0;
  size_t *order = malloc((k ? k : 1) * sizeof *order);
  double *weight = malloc((k ? k : 1) * sizeof *weight);
  cJSON *h = NULL;
  if(!order || !weight)
    goto out;
  const mon_wcol *w = jb->w;
  for(size_t i = 0; i < k; i++) {
    double rv = i < ref->ncat ? ref->cat_counts[i] : 0;
    double cv = i < w->ncounts ? w->counts[i] : 0;
    weight[i] = rv / (ref->count > 0 ? (double)ref->count : 1) + cv;
    if(rv > 0 || cv > 0)
      order[picked++] = i;
  }
  /* Selection of the heaviest categories; k is at most 10,000. */
  size_t show = picked < MAX_HIST_CATEGORIES ? picked : MAX_HIST_CATEGORIES;
  for(size_t a = 0; a < show; a++)
    for(size_t b = a + 1; b < picked; b++)
      if(weight[order[b]] > weight[order[a]]) {
        size_t t = order[a];
        order[a] = order[b];
        order[b] = t;
      }
  h = cJSON_CreateObject();
  cJSON *names = cJSON_AddArrayToObject(h, "categories");
  cJSON *rc = cJSON_AddArrayToObject(h, "reference");
  cJSON *cc = cJSON_AddArrayToObject(h, "current");
  for(size_t a = 0; a < show; a++) {
    size_t i = order[a];
    cJSON_AddItemToArray(names, cJSON_CreateString(d.values[i]));
    cJSON_AddItemToArray(rc, cJSON_CreateNumber(i < ref->ncat ? ref->cat_counts[i] : 0));
    cJSON_AddItemToArray(cc, cJSON_CreateNumber(i < w->ncounts ? w->counts[i] : 0));
  }
  if(picked > show)
    cJSON_AddNumberToObject(h, "omitted_categories", (double)(picked - show));
out:
  free(order);
  free(weight);
  mon__dict_free(&d);
  *out = h;
  return h ? MW_OK : MW_ENOMEM;
}

static void compute_numeric(mon_job *jb) {
  size_t nf = 0, nmiss = 0;
  const double *x;
  if(jb->w) {
    /* Cached: bring the entry's sorted column up to date. */
    int rc = mon__wcol_apply(jb->w, jb->rem, jb->nrem, jb->add, jb->nadd);
    jb->rem = jb->add = NULL;
    if(rc) {
      jb->st = rc;
      if(rc == MW_EINTERNAL)
        mw_log(MW_LOG_ERROR, "monitor", "live-window cache of column '%s' "
               "lost track of its rows; the entry is dropped", jb->column->name);
      return;
    }
    x = jb->w->vals;
    nf = jb->w->n;
    nmiss = (size_t)jb->w->missing;
  } else {
    if(mon_stats_filter_finite(jb->vals, jb->n, jb->vals, &nf, &nmiss) < 0 ||
       mon_stats_sort(jb->vals, nf) < 0) {
      jb->st = MW_ENOMEM;
      return;
    }
    x = jb->vals;
  }
  const mon_refcol *ref = jb->ref;
  mon_drift_result r;
  memset(&r, 0, sizeof r);
  int rc = MON_STATS_INSUFFICIENT;
  if(nf > 0 && ref->nsorted > 0) {
    rc = mon_stats_numeric_drift(ref->sorted, ref->nsorted, x, nf,
                                 ref->has_bins ? &ref->bins : NULL, &jb->opt, &r);
    if(rc < 0) {
      jb->st = rc == MON_STATS_ENOMEM ? MW_ENOMEM : MW_EINTERNAL;
      return;
    }
  } else if(nf > 0) {
    mon_stats_summary_sorted(x, nf, &r.cur);
  }
  int64_t count = (int64_t)nf, missing = (int64_t)nmiss;
  if(jb->sampled) {
    /* Counts, moments and bin counts are exact over every row; replace
     * what the sample gave. */
    count = jb->agg.count;
    missing = jb->agg.missing;
    r.cur.count = (size_t)count;
    r.cur.mean = jb->agg.mean;
    r.cur.std = count > 1 ? sqrt(jb->agg.m2 / (double)(count - 1)) : 0.0;
    r.cur.std_available = count > 1;
    r.cur.min = jb->agg.min;
    r.cur.max = jb->agg.max;
    if(rc == MON_STATS_OK && ref->has_bins && !r.as_categories) {
      double v;
      if(mon_stats_psi(ref->bins.ref_counts, jb->agg.bin_counts,
                       ref->bins.n_bins, &v) == MON_STATS_OK)
        r.psi = v;
      if(mon_stats_jensenshannon(ref->bins.ref_counts, jb->agg.bin_counts,
                                 ref->bins.n_bins, &v) == MON_STATS_OK)
        r.jensenshannon = v;
      if(r.method == MON_DRIFT_PSI || r.method == MON_DRIFT_JENSENSHANNON) {
        r.score = r.method == MON_DRIFT_PSI ? r.psi : r.jensenshannon;
        r.drifted = mon_stats_is_drifted(r.method, r.score, r.threshold);
      }
    }
  }
  cJSON *j = column_verdict(jb, count > 0, rc, &r, ref->nsorted == 0,
                            "not enough distinct values for the tests");
  cJSON *stats = cJSON_AddObjectToObject(j, "stats");
  cJSON_AddNumberToObject(stats, "count", (double)count);
  cJSON_AddNumberToObject(stats, "missing", (double)missing);
  if(count > 0) {
    add_num(stats, "mean", r.cur.mean);
    if(r.cur.std_available)
      add_num(stats, "std", r.cur.std);
    add_num(stats, "min", r.cur.min);
    add_num(stats, "max", r.cur.max);
    if(nf > 0) {
      cJSON *q = cJSON_AddObjectToObject(stats, "quantiles");
      for(int k = 0; k < MON_STATS_NQUANTILES; k++) {
        char key[16];
        snprintf(key, sizeof key, "%g", mon_stats_quantile_levels[k]);
        add_num(q, key, mon_stats_quantile_sorted(x, nf,
                                                  mon_stats_quantile_levels[k]));
      }
    }
  }
  if(jb->sampled)
    cJSON_AddNumberToObject(j, "sampled", (double)jb->sampled);
  if(ref->has_bins && count > 0)
    add_numeric_histogram(j, jb, x, nf);
  jb->json = j;
}

static void compute_categorical(mon_job *jb) {
  const mon_refcol *ref = jb->ref;
  const mon_wcol *w = jb->w;
  size_t k = ref->ncat > w->ncounts ? ref->ncat : w->ncounts;
  double *ra = malloc((k ? k : 1) * sizeof *ra);
  double *ca = malloc((k ? k : 1) * sizeof *ca);
  if(!ra || !ca) {
    free(ra);
    free(ca);
    jb->st = MW_ENOMEM;
    return;
  }
  size_t m = 0, unique = 0;
  double total = 0;
  for(size_t c = 0; c < k; c++) {
    double rv = c < ref->ncat ? ref->cat_counts[c] : 0;
    double cv = c < w->ncounts ? w->counts[c] : 0;
    if(rv <= 0 && cv <= 0)
      continue;
    ra[m] = rv;
    ca[m] = cv;
    m++;
    unique += cv > 0;
    total += cv;
  }
  mon_drift_result r;
  memset(&r, 0, sizeof r);
  int rc = MON_STATS_INSUFFICIENT;
  if(total > 0 && ref->count > 0) {
    rc = mon_stats_categorical_drift(ra, ca, m, &jb->opt, &r);
    if(rc < 0) {
      free(ra);
      free(ca);
      jb->st = rc == MON_STATS_ENOMEM ? MW_ENOMEM : MW_EINTERNAL;
      return;
    }
  }
  free(ra);
  free(ca);
  cJSON *j = column_verdict(jb, total > 0, rc, &r, ref->count == 0,
                            "not enough categories for the tests");
  cJSON *stats = cJSON_AddObjectToObject(j, "stats");
  cJSON_AddNumberToObject(stats, "count", total);
  cJSON_AddNumberToObject(stats, "missing", (double)w->missing);
  cJSON_AddNumberToObject(stats, "unique", (double)unique);
  jb->json = j;
}

static void compute(mon_job *jb) {
  if(jb->column->kind == MON_COLUMN_NUMERIC)
    compute_numeric(jb);
  else
    compute_categorical(jb);
  free(jb->vals);
  jb->vals = NULL;
  free(jb->own.counts);
  jb->own.counts = NULL;
}

/* ---------------------------------------------------------------- pool */

struct pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  mon_job *head, *tail;
  size_t inflight, budget;
  int stop;
  int nthreads;
  pthread_t th[16];
};

static void *worker(void *arg) {
  struct pool *p = arg;
  pthread_mutex_lock(&p->mu);
  for(;;) {
    while(!p->head && !p->stop)
      pthread_cond_wait(&p->cv, &p->mu);
    if(!p->head)
      break;
    mon_job *jb = p->head;
    p->head = jb->next;
    if(!p->head)
      p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    compute(jb);
    pthread_mutex_lock(&p->mu);
    p->inflight -= jb->reserve;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static int pool_start(struct pool *p, int n, size_t budget) {
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->budget = budget;
  for(int i = 0; i < n && i < 16; i++)
    if(pthread_create(&p->th[p->nthreads], NULL, worker, p) == 0)
      p->nthreads++;
  return p->nthreads;
}

/* Waits until reserve more doubles fit the budget (or nothing is in
 * flight), then charges them. */
static void pool_reserve(struct pool *p, size_t reserve) {
  pthread_mutex_lock(&p->mu);
  while(p->inflight > 0 && p->inflight + reserve > p->budget)
    pthread_cond_wait(&p->cv, &p->mu);
  p->inflight += reserve;
  pthread_mutex_unlock(&p->mu);
}

static void pool_submit(struct pool *p, mon_job *jb) {
  pthread_mutex_lock(&p->mu);
  jb->next = NULL;
  if(p->tail)
    p->tail->next = jb;
  else
    p->head = jb;
  p->tail = jb;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* Lets the workers finish the queue, then joins them. */
static void pool_finish(struct pool *p) {
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for(int i = 0; i < p->nthreads; i++)
    pthread_join(p->th[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
}

/* --------------------------------------------------------- performance */

struct perf {
  bool categorical;
  int64_t n;
  double abs_sum, sq_sum;
  int64_t correct;
  int64_t *tp, *fp, *fn; /* by class code */
  size_t nclasses;
  bool oom;
};

static void perf_add(void *ctx, double pred, double label) {
  struct perf *p = ctx;
  if(!isfinite(pred) || !isfinite(label))
    return;
  if(!p->categorical) {
    p->n++;
    p->abs_sum += fabs(pred - label);
    p->sq_sum += (pred - label) * (pred - label);
    return;
  }
  if(pred < 0 || label < 0 || pred >= MON_MAX_CATEGORIES ||
     label >= MON_MAX_CATEGORIES)
    return;
  if(!p->tp) {
    p->nclasses = MON_MAX_CATEGORIES;
    p->tp = calloc(p->nclasses, sizeof *p->tp);
    p->fp = calloc(p->nclasses, sizeof *p->fp);
    p->fn = calloc(p->nclasses, sizeof *p->fn);
    if(!p->tp || !p->fp || !p->fn) {
      p->oom = true;
      return;
    }
  }
  if(p->oom)
    return;
  size_t pc = (size_t)pred, lc = (size_t)label;
  p->n++;
  if(pc == lc) {
    p->correct++;
    p->tp[pc]++;
  } else {
    p->fp[pc]++;
    p->fn[lc]++;
  }
}

/* {count, accuracy, precision, recall, f1, average: "macro"} or {count,
 * mae, rmse}; NULL when no label falls in the window. */
static mw_status performance(mw_conn *c, int64_t version_id,
                             const mon_column *pcol, int64_t from, int64_t to,
                             cJSON **out) {
  *out = NULL;
  struct perf p;
  memset(&p, 0, sizeof p);
  p.categorical = pcol->kind == MON_COLUMN_CATEGORICAL;
  mw_status st = mon__store_labels_visit(c, version_id, from, to, perf_add, &p);
  if(!st && p.oom)
    st = MW_ENOMEM;
  if(!st && p.n > 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)p.n);
    if(!p.categorical) {
      add_num(o, "mae", p.abs_sum / (double)p.n);
      add_num(o, "rmse", sqrt(p.sq_sum / (double)p.n));
    } else {
      /* Macro averages over the classes seen in labels or predictions, as
       * scikit-learn's average="macro" (a class with no predicted or no
       * true rows scores 0 there). */
      double ps = 0, rs = 0, fs = 0;
      size_t k = 0;
      for(size_t cl = 0; cl < p.nclasses; cl++) {
        int64_t tp = p.tp[cl], fp = p.fp[cl], fn = p.fn[cl];
        if(tp + fp + fn == 0)
          continue;
        k++;
        ps += tp + fp ? (double)tp / (double)(tp + fp) : 0;
        rs += tp + fn ? (double)tp / (double)(tp + fn) : 0;
        fs += (double)(2 * tp) / (double)(2 * tp + fp + fn);
      }
      add_num(o, "accuracy", (double)p.correct / (double)p.n);
      add_num(o, "precision", k ? ps / (double)k : 0);
      add_num(o, "recall", k ? rs / (double)k : 0);
      add_num(o, "f1", k ? fs / (double)k : 0);
      cJSON_AddStringToObject(o, "average", "macro");
      cJSON_AddNumberToObject(o, "classes", (double)k);
    }
    *out = o;
  }
  free(p.tp);
  free(p.fp);
  free(p.fn);
  return st;
}

/* -------------------------------------------------------------- report */

static mw_status report_run(mon_ctx *m, mw_conn *c, const mon_version *v,
                            int64_t from, int64_t to, bool use_cache,
                            bool *cached, cJSON **out, mw_err *err);

/* Admits at most opt.workers reports at once: each may hold up to
 * drift_memory_mb of window values, and under load (a dashboard per
 * operator, alert rules, the scheduler) unbounded concurrency multiplied
 * that (measured: 870 MB RSS at 64 connections with 2% drift queries).
 * Waiting reports queue on a condition variable. A report takes its slot
 * after its live-window cache entry, so one waiting for an entry holds no
 * slot (the holder of an entry never waits for another entry). */
static void admit(mon_ctx *m) {
  if(!m)
    return;
  int limit = m->opt.workers > 0 ? m->opt.workers : 1;
  pthread_mutex_lock(&m->report_mu);
  while(m->reports_running >= limit)
    pthread_cond_wait(&m->report_cv, &m->report_mu);
  m->reports_running++;
  pthread_mutex_unlock(&m->report_mu);
}

static void leave(mon_ctx *m) {
  if(!m)
    return;
  pthread_mutex_lock(&m->report_mu);
  m->reports_running--;
  pthread_cond_signal(&m->report_cv);
  pthread_mutex_unlock(&m->report_mu);
}

mw_status mon__report(mon_ctx *m, mw_conn *c, const mon_version *v,
                      int64_t from, int64_t to, cJSON **out, mw_err *err) {
  bool cached = false;
  mw_status st = report_run(m, c, v, from, to, true, &cached, out, err);
  if(st == MW_EINTERNAL && cached) {
    /* The cache lost track of its rows (a bug, logged): the entry is gone;
     * the client still gets the report, read afresh. */
    st = report_run(m, c, v, from, to, false, &cached, out, err);
  }
  return st;
}

/* {model, version, window: {from, to, count}}: how every report starts. */
static cJSON *report_head(const mon_version *v, int64_t from, int64_t to,
                          int64_t count) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", v->model);
  cJSON_AddNumberToObject(o, "version", (double)v->version);
  cJSON *jw = cJSON_AddObjectToObject(o, "window");
  mw_json_add_time(jw, "from", from);
  mw_json_add_time(jw, "to", to);
  cJSON_AddNumberToObject(jw, "count", (double)count);
  return o;
}

/* Reads column col of the window for a cached entry: the rows leaving go
 * out of a categorical column's counts at once, a numeric column gets them
 * (and the rows entering) as arrays that compute_numeric merges. */
static mw_status read_cached(mw_conn *c, mon_wplan *wp, mon_job *jb) {
  mw_status st = MW_OK;
  if(jb->column->kind == MON_COLUMN_CATEGORICAL) {
    mon_wcount out = {jb->w, -1}, in = {jb->w, 1};
    for(int k = 0; k < MON_WPLAN_REM && !st; k++)
      st = mon__window_visit(c, &wp->rem[k], jb->col, mon__wcol_count, &out);
    for(int k = 0; k < MON_WPLAN_ADD && !st; k++)
      st = mon__window_visit(c, &wp->add[k], jb->col, mon__wcol_count, &in);
    return st;
  }
  size_t nrem = (size_t)wp->nrem, nadd = (size_t)wp->nadd;
  jb->rem = malloc((nrem ? nrem : 1) * sizeof *jb->rem);
  jb->add = malloc((nadd ? nadd : 1) * sizeof *jb->add);
  if(!jb->rem || !jb->add)
    return MW_ENOMEM;
  mon_gather g;
  mon__gather_init(&g, jb->rem, nrem, 1, false, NULL);
  for(int k = 0; k < MON_WPLAN_REM && !st; k++)
    st = mon__window_visit(c, &wp->rem[k], jb->col, mon__gather_visit, &g);
  jb->nrem = g.n;
  mon__gather_init(&g, jb->add, nadd, 1, false, NULL);
  for(int k = 0; k < MON_WPLAN_ADD && !st; k++)
    st = mon__window_visit(c, &wp->add[k], jb->col, mon__gather_visit, &g);
  jb->nadd = g.n;
  if(st)
    return st;
  /* The merge touches the whole column once. */
  jb->reserve = jb->nrem + jb->nadd + jb->w->n;
  return MW_OK;
}

static mw_status report_run(mon_ctx *m, mw_conn *c, const mon_version *v,
                            int64_t from, int64_t to, bool use_cache,
                            bool *cached, cJSON **out, mw_err *err) {
  *out = NULL;
  *cached = false;
  int64_t t0 = mw_mono_ns();
  mon_schema s;
  mon_ref ref;
  mon_dcfg cfg;
  mon_window w;
  mon_wplan wp;
  memset(&ref, 0, sizeof ref);
  memset(&cfg, 0, sizeof cfg);
  memset(&w, 0, sizeof w);
  memset(&wp, 0, sizeof wp);
  mon_job *jobs = NULL;
  struct pool pool;
  int threads = 0, reading = 0;
  bool admitted = false;
  size_t nnumeric = 0;
  cJSON *perf = NULL;
  mon_options opt;
  memset(&opt, 0, sizeof opt);
  if(m)
    opt = m->opt;
  mon__options_fill(&opt);
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  for(size_t col = 0; col < s.ncols; col++)
    nnumeric += s.cols[col].kind == MON_COLUMN_NUMERIC;
  size_t budget = (size_t)opt.drift_memory_mb * ((size_t)1 << 20) / sizeof(double);
  size_t cap_rows = budget / 2;
  /* Taken before the snapshot, so an entry another report is updating is
   * waited for and continued from rather than read again. */
  if(use_cache)
    wp.e = mon__wcache_acquire(m, v->id, s.ncols, from, to);
  admit(m);
  admitted = true;
  if((st = mon__read_begin(c)))
    goto out;
  reading = 1;
  /* The reference first: without one nothing is read or cached (alert
   * rules on such versions ask every evaluation). One snapshot for all. */
  st = mon__store_ref_load(c, v->id, s.ncols, true, &ref);
  if(st == MW_ENOTFOUND) {
    st = mw_errf(err, MW_ECONFLICT,
                 "version %lld of model '%s' has no reference set: PUT "
                 ".../versions/%lld/reference first",
                 (long long)v->version, v->model, (long long)v->version);
    goto out;
  }
  if(st || (st = mon__dcfg_load(m, c, v, &s, &cfg)))
    goto out;
  if(use_cache) {
    mon_wentry *we = wp.e;
    wp.e = NULL;
    if((st = mon__wcache_plan(m, c, we, v->id, s.ncols, nnumeric, from, to,
                              (int64_t)cap_rows, &wp)))
      goto out;
    *cached = wp.e != NULL;
  }
  if(!wp.e && (st = mon__window_open(c, v->id, s.ncols, from, to, &w)))
    goto out;
  int64_t count = wp.e ? wp.count : w.count;
  if(!(jobs = calloc(s.ncols, sizeof *jobs))) {
    st = MW_ENOMEM;
    goto out;
  }
  if((double)count * (double)s.ncols >= MON_PARALLEL_MIN_VALUES &&
     opt.workers > 0)
    threads = pool_start(&pool, opt.workers, budget);
  for(size_t col = 0; col < s.ncols && !st; col++) {
    mon_job *jb = &jobs[col];
    jb->col = col;
    jb->column = &s.cols[col];
    jb->ref = &ref.cols[col];
    jb->opt.method = cfg.cols[col].method;
    jb->opt.threshold = cfg.cols[col].threshold;
    jb->opt.all_pvalues = true;
    jb->w = wp.e ? &wp.e->cols[col] : &jb->own;
    bool categorical = jb->column->kind == MON_COLUMN_CATEGORICAL;
    if(wp.e) {
      if((st = read_cached(c, &wp, jb)))
        break;
    } else if(categorical) {
      mon_wcount in = {jb->w, 1};
      if((st = mon__window_visit(c, &w, col, mon__wcol_count, &in)))
        break;
    }
    if(categorical) {
      cJSON *hist = NULL;
      if((st = categorical_histogram(c, v->id, col, jb, &hist)))
        break;
      compute(jb); /* counts are tiny: no need for a worker */
      st = jb->st;
      if(jb->json && hist)
        cJSON_AddItemToObject(jb->json, "histogram", hist);
      else
        cJSON_Delete(hist);
      continue;
    }
    if(!wp.e) {
      jb->w = NULL;
      size_t stride = 1;
      size_t rows = (size_t)w.count;
      if(rows > cap_rows) {
        stride = (rows + cap_rows - 1) / cap_rows;
        rows = (rows + stride - 1) / stride;
        jb->sampled = rows;
      }
      jb->reserve = 2 * (rows ? rows : 1); /* values + the sort's scratch */
      if(threads)
        pool_reserve(&pool, jb->reserve);
      jb->vals = malloc((rows ? rows : 1) * sizeof *jb->vals);
      if(!jb->vals) {
        st = MW_ENOMEM;
        break;
      }
      mon__gather_init(&jb->agg, jb->vals, rows, stride, jb->sampled > 0,
                       jb->ref->has_bins ? &jb->ref->bins : NULL);
      if((st = mon__window_visit(c, &w, col, mon__gather_visit, &jb->agg)))
        break;
      jb->n = jb->agg.n;
      if(jb->sampled)
        jb->sampled = jb->n;
    } else if(threads) {
      pool_reserve(&pool, jb->reserve);
    }
    if(threads) {
      pool_submit(&pool, jb);
    } else {
      compute(jb);
      st = jb->st;
    }
  }
  if(!st)
    st = performance(c, v->id, &s.cols[s.ncols - 1], from, to, &perf);
  mon__read_end(c);
  reading = 0;
  if(threads) {
    pool_finish(&pool);
    threads = 0;
  }
  for(size_t col = 0; col < s.ncols && !st; col++)
    if(jobs[col].st)
      st = jobs[col].st;
  if(st)
    goto out;
  if(wp.e)
    mon__wcache_done(m, &wp, true, nnumeric);

  cJSON *o = report_head(v, from, to, count);
  cJSON *jr = cJSON_AddObjectToObject(o, "reference");
  cJSON_AddNumberToObject(jr, "count", (double)ref.rows);
  cJSON_AddStringToObject(jr, "source", ref.source);
  mw_json_add_time(jr, "created_at", ref.created_at);
  size_t nevaluated = 0, ndrifted = 0;
  for(size_t col = 0; col < s.ncols; col++) {
    nevaluated += jobs[col].evaluated;
    ndrifted += jobs[col].drifted;
  }
  cJSON *jd = cJSON_AddObjectToObject(o, "dataset");
  cJSON_AddNumberToObject(jd, "drift_share",
                          nevaluated ? (double)ndrifted / (double)nevaluated : 0.0);
  cJSON_AddBoolToObject(jd, "drifted",
                        mon_stats_dataset_drifted(ndrifted, nevaluated,
                                                  cfg.drift_share));
  cJSON_AddNumberToObject(jd, "threshold", cfg.drift_share);
  cJSON_AddNumberToObject(jd, "drifted_columns", (double)ndrifted);
  cJSON_AddNumberToObject(jd, "evaluated_columns", (double)nevaluated);
  cJSON *jc = cJSON_AddArrayToObject(o, "columns");
  for(size_t col = 0; col < s.ncols; col++) {
    cJSON_AddItemToArray(jc, jobs[col].json);
    jobs[col].json = NULL;
  }
  if(perf) {
    cJSON_AddItemToObject(o, "performance", perf);
    perf = NULL;
  }
  cJSON_AddNumberToObject(o, "elapsed_ms",
                          (double)((mw_mono_ns() - t0) / 1000) / 1000.0);
  *out = o;
out:
  if(reading)
    mon__read_end(c);
  if(threads)
    pool_finish(&pool);
  mon__wcache_done(m, &wp, false, nnumeric);
  if(admitted)
    leave(m);
  for(size_t col = 0; jobs && col < s.ncols; col++) {
    free(jobs[col].vals);
    free(jobs[col].own.counts);
    free(jobs[col].rem);
    free(jobs[col].add);
    cJSON_Delete(jobs[col].json);
  }
  free(jobs);
  cJSON_Delete(perf);
  mon__window_free(&w);
  mon__dcfg_free(&cfg);
  mon__ref_free(&ref);
  mon__schema_free(&s);
  return st;
}

mw_status mon_drift_report(mon_ctx *m, mw_conn *c, const mon_version *v,
                           int64_t from_ms, int64_t to_ms, cJSON **out,
                           mw_err *err) {
  return mon__report(m, c, v, from_ms, to_ms, out, err);
}

mw_status mon_window_summary(mon_ctx *m, mw_conn *c, const mon_version *v,
                             int64_t from_ms, int64_t to_ms, cJSON **out,
                             mw_err *err) {
  (void)m;
  *out = NULL;
  mon_schema s;
  mon_window w;
  cJSON *perf = NULL;
  memset(&w, 0, sizeof w);
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  if((st = mon__read_begin(c))) {
    mon__schema_free(&s);
    return st;
  }
  st = mon__window_open(c, v->id, s.ncols, from_ms, to_ms, &w);
  if(!st)
    st = performance(c, v->id, &s.cols[s.ncols - 1], from_ms, to_ms, &perf);
  mon__read_end(c);
  if(!st) {
    cJSON *o = report_head(v, from_ms, to_ms, w.count);
    cJSON_AddStringToObject(o, "note", "no reference set: drift needs one "
                                       "(PUT .../reference)");
    if(perf) {
      cJSON_AddItemToObject(o, "performance", perf);
      perf = NULL;
    }
    *out = o;
  }
  cJSON_Delete(perf);
  mon__window_free(&w);
  mon__schema_free(&s);
  return st;
}

mw_status mon_drift_report_for(mon_ctx *m, mw_conn *c, const char *model,
                               int64_t version, int64_t from_ms, int64_t to_ms,
                               cJSON **out, mw_err *err) {
  *out = NULL;
  mon_version v = {0, 0, model, version, NULL};
  char *schema = NULL;
  mw_status st = mon__store_version(c, model, version, &v.id, &v.model_id, &schema);
  if(st == MW_ENOTFOUND)
    return mw_errf(err, st, "model '%s' has no version %lld", model,
                   (long long)version);
  if(st)
    return st;
  v.schema_json = schema;
  st = mon__report(m, c, &v, from_ms, to_ms, out, err);
  free(schema);
  return st;
}

mw_status mon_drift_evaluate(mon_ctx *m, mw_conn *c, const mon_version *v,
                             int64_t from_ms, int64_t to_ms,
                             const char *trigger, cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *rep = NULL;
  mw_status st = mon__report(m, c, v, from_ms, to_ms, &rep, err);
  if(st)
    return st;
  mon__lock(m);
  st = mw_tx_begin(c);
  if(!st)
    st = mon__store_eval(c, v->id, mw_now_ms(), rep, trigger);
  if(!st)
    st = mw_tx_commit(c);
  if(st)
    mw_tx_rollback(c);
  mon__unlock(m);
  if(st) {
    cJSON_Delete(rep);
    return st;
  }
  if(m)
    __atomic_add_fetch(&m->n_evaluations, 1, __ATOMIC_RELAXED);
  *out = rep;
  return MW_OK;
}
