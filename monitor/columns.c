/* monitor/columns.c - the statistics of one column of a drift report and
 * their JSON (monitor/columns.h), and the pool of threads that computes
 * numeric columns while the reading thread reads the next one. Sorting
 * dominates: each numeric column is sorted once (or, from the live-window
 * cache, merged in one pass) and every statistic reads the sorted array. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "monitor/columns.h"
#include "monitor/quality.h"
#include "monitor/settings.h"

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
  /* Against another version's window: a column it lacks says so whatever
   * the data (the reference is empty, so the tests did not run); an empty
   * baseline window leaves nothing to compare, as an empty window does. */
  if(jb->unmatched) {
    assert(rc != MON_STATS_OK);
    has_data = true;
    ref_empty = false;
    insufficient = jb->unmatched;
  } else if(jb->baseline_empty) {
    assert(rc != MON_STATS_OK);
    has_data = false;
  }
  const char *status = !has_data            ? "no_data"
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
      cJSON_AddStringToObject(
          j, "reason",
          !ref_empty     ? insufficient
          : jb->baseline ? "the baseline version's window has no values in this "
                           "column"
                         : "the reference has no values in this column");
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

/* The window's finite values of a numeric column, sorted: the cache
 * entry's column brought up to date, or the streamed values sorted in
 * place. Sets jb->st on failure. */
static bool numeric_values(mon_job *jb, const double **x, size_t *nf,
                           size_t *nmiss) {
  if(jb->w) {
    int rc = mon__wcol_apply(jb->w, jb->rem, jb->nrem, jb->add, jb->nadd);
    jb->rem = jb->add = NULL;
    if(rc) {
      jb->st = rc;
      if(rc == MW_EINTERNAL)
        mw_log(MW_LOG_ERROR, "monitor",
               "live-window cache of column '%s' "
               "lost track of its rows; the entry is dropped",
               jb->column->name);
      return false;
    }
    *x = jb->w->vals;
    *nf = jb->w->n;
    *nmiss = (size_t)jb->w->missing;
    return true;
  }
  if(mon_stats_filter_finite(jb->vals, jb->n, jb->vals, nf, nmiss) < 0 ||
     mon_stats_sort(jb->vals, *nf) < 0) {
    jb->st = MW_ENOMEM;
    return false;
  }
  *x = jb->vals;
  return true;
}

/* A sampled column: counts, moments and bin counts are exact over every
 * row; replace what the sample gave, and the bin-based distances with
 * them. */
static void apply_exact(const mon_job *jb, int rc, mon_drift_result *r) {
  const mon_refcol *ref = jb->ref;
  int64_t count = jb->agg.count;
  r->cur.count = (size_t)count;
  r->cur.mean = jb->agg.mean;
  r->cur.std = count > 1 ? sqrt(jb->agg.m2 / (double)(count - 1)) : 0.0;
  r->cur.std_available = count > 1;
  r->cur.min = jb->agg.min;
  r->cur.max = jb->agg.max;
  if(rc != MON_STATS_OK || !ref->has_bins || r->as_categories)
    return;
  double v;
  if(mon_stats_psi(ref->bins.ref_counts, jb->agg.bin_counts, ref->bins.n_bins, &v) ==
     MON_STATS_OK)
    r->psi = v;
  if(mon_stats_jensenshannon(ref->bins.ref_counts, jb->agg.bin_counts,
                             ref->bins.n_bins, &v) == MON_STATS_OK)
    r->jensenshannon = v;
  if(r->method == MON_DRIFT_PSI || r->method == MON_DRIFT_JENSENSHANNON) {
    r->score = r->method == MON_DRIFT_PSI ? r->psi : r->jensenshannon;
    r->drifted = mon_stats_is_drifted(r->method, r->score, r->threshold);
  }
}

/* "stats" of a numeric column: count, missing, moments, extremes and the
 * quantiles of the sorted values x[0..nf). */
static void numeric_stats(cJSON *j, const mon_drift_result *r, int64_t count,
                          int64_t missing, const double *x, size_t nf) {
  cJSON *stats = cJSON_AddObjectToObject(j, "stats");
  cJSON_AddNumberToObject(stats, "count", (double)count);
  cJSON_AddNumberToObject(stats, "missing", (double)missing);
  if(count <= 0)
    return;
  add_num(stats, "mean", r->cur.mean);
  if(r->cur.std_available)
    add_num(stats, "std", r->cur.std);
  add_num(stats, "min", r->cur.min);
  add_num(stats, "max", r->cur.max);
  if(nf == 0)
    return;
  cJSON *q = cJSON_AddObjectToObject(stats, "quantiles");
  for(int k = 0; k < MON_STATS_NQUANTILES; k++) {
    char key[16];
    snprintf(key, sizeof key, "%g", mon_stats_quantile_levels[k]);
    add_num(q, key, mon_stats_quantile_sorted(x, nf, mon_stats_quantile_levels[k]));
  }
}

/* The column's quality: values outside the reference's range are counted
 * over every row (exact also when sampled: the gather counts them). */
static void numeric_quality(cJSON *j, const mon_job *jb, int64_t count,
                            int64_t missing, const double *x, size_t nf) {
  const mon_refcol *ref = jb->ref;
  mon_quality q = {count, missing, -1, jb->invalid};
  if(ref->nsorted > 0)
    q.flagged = jb->sampled ? jb->agg.out_of_range
                            : (int64_t)mon_stats_out_of_range_sorted(x, nf, ref->min,
                                                                     ref->max);
  mon__quality_json(j, MON_COLUMN_NUMERIC, &q);
}

static void compute_numeric(mon_job *jb) {
  size_t nf = 0, nmiss = 0;
  const double *x = NULL;
  if(!numeric_values(jb, &x, &nf, &nmiss))
    return;
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
    apply_exact(jb, rc, &r);
    count = jb->agg.count;
    missing = jb->agg.missing;
  }
  cJSON *j = column_verdict(jb, count > 0, rc, &r, ref->nsorted == 0,
                            "not enough distinct values for the tests");
  numeric_stats(j, &r, count, missing, x, nf);
  if(jb->sampled)
    cJSON_AddNumberToObject(j, "sampled", (double)jb->sampled);
  if(ref->has_bins && count > 0)
    add_numeric_histogram(j, jb, x, nf);
  numeric_quality(j, jb, count, missing, x, nf);
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
  mon_quality q = {(int64_t)total, w->missing, -1, jb->invalid};
  if(ref->count > 0)
    q.flagged =
        (int64_t)mon_stats_unseen(ref->cat_counts, ref->ncat, w->counts, w->ncounts);
  mon__quality_json(j, MON_COLUMN_CATEGORICAL, &q);
  jb->json = j;
}

/* A column of a 10M-row window is 80 MB, allocated and touched once per
 * column of every report. From malloc (an mmap of its own at that size)
 * each 4 KiB page faults on first touch: measured, those faults took a
 * quarter of a 10M-row report's time on this VM. Large arrays come from
 * mmap with transparent huge pages asked for (one fault per 2 MiB where
 * the kernel has them; madvise is only a hint). A header before the
 * values records the mapping's length. */
#define VALS_MMAP_MIN ((size_t)4 << 20)
#define VALS_HEAD 64

double *mon__vals_alloc(size_t n) {
  size_t bytes = (n ? n : 1) * sizeof(double);
  if(bytes < VALS_MMAP_MIN) {
    unsigned char *p = malloc(VALS_HEAD + bytes);
    if(!p)
      return NULL;
    memset(p, 0, sizeof(size_t)); /* 0: from malloc */
    return (double *)(void *)(p + VALS_HEAD);
  }
  size_t len = VALS_HEAD + bytes;
  unsigned char *p =
      mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if(p == MAP_FAILED)
    return NULL;
#ifdef MADV_HUGEPAGE
  (void)madvise(p, len, MADV_HUGEPAGE);
#endif
  memcpy(p, &len, sizeof len);
  return (double *)(void *)(p + VALS_HEAD);
}

size_t mon__vals_cap(const double *v) {
  const unsigned char *p = (const unsigned char *)(const void *)v - VALS_HEAD;
  size_t len;
  memcpy(&len, p, sizeof len);
  return len ? (len - VALS_HEAD) / sizeof(double) : 0; /* malloc'd: not kept */
}

void mon__vals_free(double *v) {
  if(!v)
    return;
  unsigned char *p = (unsigned char *)(void *)v - VALS_HEAD;
  size_t len;
  memcpy(&len, p, sizeof len);
  if(len == 0)
    free(p);
  else
    munmap(p, len);
}

/* jb->vals from mon__vals_alloc (vals_mapped) or from malloc. */
static void job_vals_free(mon_job *jb) {
  if(jb->vals_mapped)
    mon__vals_free(jb->vals);
  else
    free(jb->vals);
}

void mon__column_compute(mon_job *jb) {
  assert(jb->column && jb->ref && !jb->json);
  if(jb->column->kind == MON_COLUMN_NUMERIC)
    compute_numeric(jb);
  else
    compute_categorical(jb);
  if(!jb->keep_vals) {
    job_vals_free(jb);
    jb->vals = NULL;
  }
  free(jb->own.counts);
  jb->own.counts = NULL;
}

void mon__column_free(mon_job *jb) {
  job_vals_free(jb);
  free(jb->own.counts);
  free(jb->rem);
  free(jb->add);
  cJSON_Delete(jb->json);
  memset(jb, 0, sizeof *jb);
}

/* Categories shown in a histogram, the heaviest (by both sides) first. */
#define MAX_HIST_CATEGORIES 50

cJSON *mon__column_histogram(const mon_job *jb, const mon_dict *d) {
  const mon_refcol *ref = jb->ref;
  const mon_wcol *w = jb->w;
  size_t k = d->n, picked = 0;
  size_t *order = malloc((k ? k : 1) * sizeof *order);
  double *weight = malloc((k ? k : 1) * sizeof *weight);
  cJSON *h = NULL;
  if(!order || !weight)
    goto out;
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
    cJSON_AddItemToArray(names, cJSON_CreateString(d->values[i]));
    cJSON_AddItemToArray(rc,
                         cJSON_CreateNumber(i < ref->ncat ? ref->cat_counts[i] : 0));
    cJSON_AddItemToArray(cc, cJSON_CreateNumber(i < w->ncounts ? w->counts[i] : 0));
  }
  if(picked > show)
    cJSON_AddNumberToObject(h, "omitted_categories", (double)(picked - show));
out:
  free(order);
  free(weight);
  return h;
}

/* ---------------------------------------------------------------- pool */

static void *worker(void *arg) {
  mon_pool *p = arg;
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
    jb->keep_vals = true;
    mon__column_compute(jb);
    pthread_mutex_lock(&p->mu);
    if(jb->vals && jb->vals_mapped && p->nspare < MON_POOL_SPARES) {
      p->spare[p->nspare++] = jb->vals; /* the next column's array */
      jb->vals = NULL;
    }
    p->inflight -= jb->reserve;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int mon__pool_start(mon_pool *p, int n, size_t budget) {
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
void mon__pool_reserve(mon_pool *p, size_t reserve) {
  pthread_mutex_lock(&p->mu);
  while(p->inflight > 0 && p->inflight + reserve > p->budget)
    pthread_cond_wait(&p->cv, &p->mu);
  p->inflight += reserve;
  pthread_mutex_unlock(&p->mu);
}

/* Every array handed out was in flight when it was made (a spare is
 * taken first), so spares never add to the peak the budget bounds. */
double *mon__pool_vals(mon_pool *p, size_t n) {
  pthread_mutex_lock(&p->mu);
  double *v = NULL;
  for(int i = 0; i < p->nspare && !v; i++)
    if(mon__vals_cap(p->spare[i]) >= n) {
      v = p->spare[i];
      p->spare[i] = p->spare[--p->nspare];
    }
  pthread_mutex_unlock(&p->mu);
  return v ? v : mon__vals_alloc(n);
}

void mon__pool_submit(mon_pool *p, mon_job *jb) {
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
void mon__pool_finish(mon_pool *p) {
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for(int i = 0; i < p->nthreads; i++)
    pthread_join(p->th[i], NULL);
  for(int i = 0; i < p->nspare; i++)
    mon__vals_free(p->spare[i]);
  p->nspare = 0;
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
}
