/* monitor/sketch_report.c - a numeric column of a drift report from the
 * merged quantile summaries of its window's blocks (monitor/sketch.h),
 * for windows beyond the memory budget (monitor/report.c picks it; below
 * the budget every statistic is exact). The column's JSON is the exact
 * path's plus "approximate", which says what is approximate and by how
 * much (docs/drift.md, "Beyond the memory budget: merged summaries").
 *
 * With eps = err / count (the summary's tracked rank-error bound,
 * monitor/sketch.c proves it):
 *  - exact: count, missing, mean, std, min, max (each block's summary
 *    carries them exactly; blocks combine by Chan's formula);
 *  - KS D within eps of the exact D (the reference is exact); the true
 *    p-value lies between the p-values at D + eps and D - eps, since the
 *    p-value decreases as D grows for fixed sample sizes;
 *  - quantiles: the value returned has a rank within eps * count of the
 *    level's;
 *  - Wasserstein-1 within eps * (max - min) of the exact distance (over
 *    the reference's std for wasserstein_norm);
 *  - bin counts (histogram, PSI, Jensen-Shannon, chi-squared over bins)
 *    each within 2 * err of the exact count (a bin is the difference of
 *    two ranks); no closed bound is claimed for PSI and JS.
 * A column of at most 5 distinct values is summarised exactly (err 0), so
 * its value-count tests are exact.
 * Its "quality" is the exact path's: missing and invalid counts exact
 * (the summaries count missing values, the quarantine invalid rows), the
 * out-of-range count from the summary's ranks of the reference's min and
 * max, within quality.approximate.out_of_range_count_error (below).
 *
 * Cost: reading B block summaries (at most 3 KiB each) and one radix sort
 * of their items (at most MON_SKETCH_BLOCK_K per block), instead of every
 * row; a closed bucket the window covers whole is one rollup of at most
 * MON_SKETCH_ROLLUP_K items instead of its blocks' summaries
 * (monitor/rollup.c), its pruning counted in err. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/quality.h"
#include "monitor/settings.h"
#include "monitor/sketch_block.h"
#include "monitor/sketch_report.h"

static double pclamp(double d) { return d < 0 ? 0 : d > 1 ? 1 : d; }

/* Value counts of a column of few distinct values, aligned over the
 * distinct values of the reference and the summary (s exact). */
static int value_counts(const mon_sketch *s, const double *ref, size_t nref,
                        double *ra, double *ca, size_t cap) {
  size_t i = 0, j = 0, k = 0;
  while((i < nref || j < s->n) && k < cap) {
    double x = j >= s->n ? ref[i] : i >= nref || s->v[j] < ref[i] ? s->v[j] : ref[i];
    ra[k] = ca[k] = 0;
    while(i < nref && ref[i] <= x)
      ra[k]++, i++;
    while(j < s->n && s->v[j] <= x)
      ca[k] += (double)s->w[j++];
    k++;
  }
  return (int)k;
}

static void add_num(cJSON *o, const char *key, double v) {
  mon__json_add_number(o, key, v);
}

/* Everything about the column, computed from the summary s. */
struct approx {
  mon_drift_result r;
  double eps, w_err, wn_err, p_lo, p_hi;
  double cur_bins[MON_STATS_MAX_BINS];
  bool has_bins, certain;
};

static double ks_p(size_t nr, int64_t nc, double d) {
  return mon_stats_ks_pvalue(nr, (size_t)nc, pclamp(d), NULL, NULL);
}

/* The verdict's score and drifted from r's statistics. */
static void verdict(mon_drift_result *r) {
  bool ok = false;
  double s = 0;
  switch(r->method) {
  case MON_DRIFT_KS:
    ok = r->ks_pvalue_ok, s = r->ks.pvalue;
    break;
  case MON_DRIFT_WASSERSTEIN:
    ok = r->wasserstein_ok, s = r->wasserstein_norm;
    break;
  case MON_DRIFT_PSI:
    ok = r->psi_ok, s = r->psi;
    break;
  case MON_DRIFT_JENSENSHANNON:
    ok = r->jensenshannon_ok, s = r->jensenshannon;
    break;
  case MON_DRIFT_CHISQUARE:
    ok = r->chisquare.available, s = r->chisquare.pvalue;
    break;
  case MON_DRIFT_ZTEST:
    ok = r->ztest.available, s = r->ztest.pvalue;
    break;
  default:
    break;
  }
  r->status = ok && isfinite(s) ? MON_STATS_OK : MON_STATS_INSUFFICIENT;
  r->score = ok ? s : mon_stats_method_is_pvalue(r->method) ? 1.0 : 0.0;
  r->drifted = r->status == MON_STATS_OK &&
               mon_stats_is_drifted(r->method, r->score, r->threshold);
}

static int compute(const mon_job *jb, const mon_sketch *s, struct approx *a) {
  const mon_refcol *ref = jb->ref;
  mon_drift_result *r = &a->r;
  memset(a, 0, sizeof *a);
  int rc = mon_stats_summary_sorted(ref->sorted, ref->nsorted, &r->ref);
  if(rc < 0)
    return rc;
  r->cur.count = (size_t)s->count;
  r->cur.available = s->count > 0;
  r->cur.mean = s->mean;
  r->cur.std_available = s->count > 1;
  r->cur.std = s->count > 1 ? sqrt(s->m2 / (double)(s->count - 1)) : 0.0;
  r->cur.std_pop = s->count > 0 ? sqrt(s->m2 / (double)s->count) : 0.0;
  r->cur.min = s->min;
  r->cur.max = s->max;
  for(int k = 0; k < MON_STATS_NQUANTILES; k++)
    r->cur.q[k] = mon_sketch_quantile(s, mon_stats_quantile_levels[k]);
  if(s->count == 0 || ref->nsorted == 0)
    return MON_STATS_INSUFFICIENT;
  a->eps = (double)s->err / (double)s->count;
  const double *x = ref->sorted;
  size_t nr = ref->nsorted;
  enum { CAP = MON_STATS_MAX_CATEGORICAL_VALUES + 1 };
  r->n_values = mon_sketch_distinct(s, x, nr, CAP);
  r->as_categories = r->n_values < CAP && s->err == 0;
  r->method = jb->opt.method != MON_DRIFT_AUTO
                  ? jb->opt.method
                  : mon_stats_default_method(MON_COLUMN_NUMERIC, nr, r->n_values);
  r->threshold = jb->opt.threshold > 0 && isfinite(jb->opt.threshold)
                     ? jb->opt.threshold
                     : mon_stats_default_threshold(r->method);
  /* KS, with the p-values at both ends of the statistic's bound. */
  double d = mon_sketch_ks(s, x, nr);
  r->ks.statistic = d;
  r->ks_ok = true;
  r->ks.pvalue = ks_p(nr, s->count, d);
  r->ks.method = MON_KS_ASYMP;
  r->ks_pvalue_ok = true;
  a->p_lo = ks_p(nr, s->count, d + a->eps);
  a->p_hi = ks_p(nr, s->count, d - a->eps);
  /* Wasserstein-1 and its bound. */
  r->wasserstein = mon_sketch_wasserstein(s, x, nr);
  r->wasserstein_ok = isfinite(r->wasserstein);
  r->wasserstein_norm = mon_stats_wasserstein_normed(r->wasserstein, r->ref.std_pop);
  a->w_err = a->eps * (s->max - s->min);
  a->wn_err = mon_stats_wasserstein_normed(a->w_err, r->ref.std_pop);
  if(r->as_categories) {
    double ra[CAP], ca[CAP];
    int k = value_counts(s, x, nr, ra, ca, CAP);
    mon_drift_result cr;
    mon_drift_options o = jb->opt;
    o.method = r->method == MON_DRIFT_KS || r->method == MON_DRIFT_WASSERSTEIN
                   ? MON_DRIFT_AUTO
                   : r->method;
    rc = mon_stats_categorical_drift(ra, ca, (size_t)k, &o, &cr);
    if(rc < 0)
      return rc;
    r->psi = cr.psi, r->psi_ok = cr.psi_ok;
    r->jensenshannon = cr.jensenshannon, r->jensenshannon_ok = cr.jensenshannon_ok;
    r->chisquare = cr.chisquare;
    r->ztest = cr.ztest;
  } else if(ref->has_bins) {
    const mon_bins *b = &ref->bins;
    a->has_bins = true;
    for(size_t i = 0; i < s->n; i++)
      a->cur_bins[mon_stats_bins_index(b, s->v[i])] += (double)s->w[i];
    double v;
    if(mon_stats_psi(b->ref_counts, a->cur_bins, b->n_bins, &v) == MON_STATS_OK)
      r->psi = v, r->psi_ok = true;
    if(mon_stats_jensenshannon(b->ref_counts, a->cur_bins, b->n_bins, &v) ==
       MON_STATS_OK)
      r->jensenshannon = v, r->jensenshannon_ok = true;
    if(r->method == MON_DRIFT_CHISQUARE) {
      rc = jb->opt.two_sample
               ? mon_stats_chisquare_2sample(b->ref_counts, a->cur_bins, b->n_bins,
                                             &r->chisquare)
               : mon_stats_chisquare(b->ref_counts, a->cur_bins, b->n_bins,
                                     &r->chisquare);
      if(rc < 0)
        return rc;
    }
    if(r->method == MON_DRIFT_ZTEST && b->n_bins == 2 &&
       (rc = mon_stats_ztest_2prop(b->ref_counts[0], b->ref_total, a->cur_bins[0],
                                   (double)s->count, &r->ztest)) < 0)
      return rc;
  }
  verdict(r);
  /* Whether the bound could change the verdict. */
  if(r->method == MON_DRIFT_KS)
    a->certain = mon_stats_is_drifted(r->method, a->p_lo, r->threshold) ==
                 mon_stats_is_drifted(r->method, a->p_hi, r->threshold);
  else if(r->method == MON_DRIFT_WASSERSTEIN)
    a->certain = mon_stats_is_drifted(r->method, r->wasserstein_norm - a->wn_err,
                                      r->threshold) ==
                 mon_stats_is_drifted(r->method, r->wasserstein_norm + a->wn_err,
                                      r->threshold);
  else
    a->certain = s->err == 0;
  return r->status;
}

/* Values of s outside the reference's [lo, hi]: R^(< lo) + count -
 * R^(<= hi), each rank within s->err of the truth. A side the exact min or
 * max rules out (min >= lo, max <= hi) is exactly 0 and adds no error, so
 * *error is 0, err or 2 err (and 0 for an exact summary). A side not
 * ruled out holds at least one value (the min or max itself), so its
 * estimate is at least 1: still within err of the truth, and never 0 when
 * values are known to lie outside. s compressed and non-empty. */
static int64_t out_of_range(const mon_sketch *s, double lo, double hi,
                            int64_t *error) {
  int64_t n = 0;
  *error = 0;
  if(s->min < lo) {
    int64_t below = mon_sketch_rank(s, lo, true);
    n += below < 1 ? 1 : below; /* the exact min is one of them */
    *error += s->err;
  }
  if(s->max > hi) {
    int64_t above = s->count - mon_sketch_rank(s, hi, false);
    n += above < 1 ? 1 : above; /* the exact max is one of them */
    *error += s->err;
  }
  return n < 0 ? 0 : n > s->count ? s->count : n;
}

/* The column's "quality" (monitor/quality.h), as the exact path's, plus
 * "approximate": {"out_of_range_count_error"} when out_of_range_count is
 * estimated: the exact count is within that many values of it. */
static void add_quality(cJSON *j, const mon_job *jb, const mon_sketch *s) {
  const mon_refcol *ref = jb->ref;
  mon_quality q = {s->count, s->missing, -1, jb->invalid};
  int64_t error = 0;
  if(ref->nsorted > 0)
    q.flagged = s->count > 0 ? out_of_range(s, ref->min, ref->max, &error) : 0;
  mon__quality_json(j, MON_COLUMN_NUMERIC, &q);
  if(q.flagged >= 0) {
    cJSON *ap =
        cJSON_AddObjectToObject(cJSON_GetObjectItem(j, "quality"), "approximate");
    cJSON_AddNumberToObject(ap, "out_of_range_count_error", (double)error);
  }
}

static cJSON *column_json(mon_job *jb, const mon_sketch *s, struct approx *a, int rc,
                          const mon_sketch_info *info, size_t nblocks) {
  const mon_drift_result *r = &a->r;
  bool has_data = s->count > 0;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", jb->column->name);
  cJSON_AddStringToObject(j, "type", mon__kind_name(jb->column->kind));
  cJSON_AddStringToObject(j, "status",
                          !has_data            ? "no_data"
                          : rc == MON_STATS_OK ? "ok"
                                               : "insufficient_data");
  if(rc == MON_STATS_OK) {
    cJSON_AddStringToObject(j, "method", mon__method_name(r->method));
    add_num(j, "statistic", r->method == MON_DRIFT_KS ? r->ks.statistic : r->score);
    if(r->method == MON_DRIFT_KS)
      add_num(j, "statistic_error", a->eps);
    else if(r->method == MON_DRIFT_WASSERSTEIN)
      add_num(j, "statistic_error", a->wn_err);
    if(mon_stats_method_is_pvalue(r->method))
      add_num(j, "p_value", r->score);
    add_num(j, "threshold", r->threshold);
    cJSON_AddBoolToObject(j, "drifted", r->drifted);
    cJSON *ks = cJSON_AddObjectToObject(j, "ks");
    add_num(ks, "d", r->ks.statistic);
    add_num(ks, "d_error", a->eps);
    add_num(ks, "p_value", r->ks.pvalue);
    cJSON *pr = cJSON_AddArrayToObject(ks, "p_value_range");
    mon__json_append_number(pr, a->p_lo);
    mon__json_append_number(pr, a->p_hi);
    if(r->wasserstein_ok) {
      add_num(j, "wasserstein", r->wasserstein);
      add_num(j, "wasserstein_norm", r->wasserstein_norm);
    }
    if(r->psi_ok)
      add_num(j, "psi", r->psi);
    if(r->jensenshannon_ok)
      add_num(j, "jensen_shannon", r->jensenshannon);
    const mon_test_result *t[2] = {&r->chisquare, &r->ztest};
    const char *names[2] = {"chi2", "z"};
    for(int k = 0; k < 2; k++)
      if(t[k]->available) {
        cJSON *o = cJSON_AddObjectToObject(j, names[k]);
        add_num(o, "statistic", t[k]->statistic);
        add_num(o, "p_value", t[k]->pvalue);
        if(t[k]->dof > 0)
          add_num(o, "dof", t[k]->dof);
      }
    jb->evaluated = true;
    jb->drifted = r->drifted;
  } else {
    cJSON_AddBoolToObject(j, "drifted", false);
    if(has_data)
      cJSON_AddStringToObject(j, "reason",
                              jb->ref->nsorted == 0
                                  ? "the reference has no values in this column"
                                  : "not enough distinct values for the tests");
  }
  cJSON *stats = cJSON_AddObjectToObject(j, "stats");
  cJSON_AddNumberToObject(stats, "count", (double)s->count);
  cJSON_AddNumberToObject(stats, "missing", (double)s->missing);
  if(has_data) {
    add_num(stats, "mean", r->cur.mean);
    if(r->cur.std_available)
      add_num(stats, "std", r->cur.std);
    add_num(stats, "min", r->cur.min);
    add_num(stats, "max", r->cur.max);
    cJSON *q = cJSON_AddObjectToObject(stats, "quantiles");
    for(int k = 0; k < MON_STATS_NQUANTILES; k++) {
      char key[16];
      snprintf(key, sizeof key, "%g", mon_stats_quantile_levels[k]);
      add_num(q, key, r->cur.q[k]);
    }
  }
  if(a->has_bins && has_data) {
    const mon_bins *b = &jb->ref->bins;
    cJSON *h = cJSON_AddObjectToObject(j, "histogram");
    cJSON *e = cJSON_AddArrayToObject(h, "edges");
    cJSON *rcj = cJSON_AddArrayToObject(h, "reference");
    cJSON *cc = cJSON_AddArrayToObject(h, "current");
    for(size_t k = 0; k <= b->n_bins; k++)
      mon__json_append_number(e, b->edges[k]);
    for(size_t k = 0; k < b->n_bins; k++) {
      cJSON_AddItemToArray(rcj, cJSON_CreateNumber(b->ref_counts[k]));
      cJSON_AddItemToArray(cc, cJSON_CreateNumber(a->cur_bins[k]));
    }
  }
  if(has_data) {
    cJSON *ap = cJSON_AddObjectToObject(j, "approximate");
    cJSON_AddStringToObject(ap, "method", "merged_quantile_summaries");
    add_num(ap, "rank_error", s->count ? (double)s->err / (double)s->count : 0.0);
    if(rc == MON_STATS_OK) {
      add_num(ap, "wasserstein_error", a->w_err);
      add_num(ap, "wasserstein_norm_error", a->wn_err);
      cJSON_AddBoolToObject(ap, "verdict_certain", a->certain);
    }
    cJSON_AddNumberToObject(ap, "bin_count_error", 2.0 * (double)s->err);
    cJSON_AddNumberToObject(ap, "blocks", (double)nblocks);
    cJSON_AddNumberToObject(ap, "exact_rows", (double)info->exact_rows);
    cJSON_AddNumberToObject(ap, "rollups", (double)info->rollups);
  }
  add_quality(j, jb, s);
  return j;
}

mw_status mon__sketch_job(mw_conn *c, const mon_window *w, mon_job *jb) {
  assert(jb->column->kind == MON_COLUMN_NUMERIC && !jb->json);
  mon_sketch s;
  mon_sketch_info info;
  mw_status st = mon__sketch_window(c, w, jb->col, false, true, &s, &info);
  if(!st) {
    struct approx *a = malloc(sizeof *a);
    int rc = a ? compute(jb, &s, a) : MON_STATS_ENOMEM;
    if(rc < 0)
      st = rc == MON_STATS_ENOMEM ? MW_ENOMEM : MW_EINTERNAL;
    else if(!(jb->json = column_json(jb, &s, a, rc, &info, w->nblocks)))
      st = MW_ENOMEM;
    free(a);
  }
  mon_sketch_free(&s);
  jb->st = st;
  return st;
}
