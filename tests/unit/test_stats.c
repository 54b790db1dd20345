/* tests/unit/test_stats.c - known answers and degenerate cases for
 * monitor/stats. Expected values were computed with scipy 1.10.1 / numpy
 * 1.24.2 (/usr/bin/python3); the generating call is next to each literal.
 * The GSL error handler is deliberately left at its default (abort) here:
 * the library must never reach it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "monitor/stats.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* |got - want| <= rtol * |want| (or <= 1e-300 when want is 0). */
#define assert_rel(got, want, rtol) assert_rel_impl((got), (want), (rtol), __LINE__)
static void assert_rel_impl(double got, double want, double rtol, int line) {
  const double diff = fabs(got - want);
  if (!(diff <= rtol * fabs(want) || diff <= 1e-300)) {
    print_error("line %d: got %.17g want %.17g (rel %.3g)\n", line, got, want,
                want != 0 ? diff / fabs(want) : diff);
    fail();
  }
}

static void assert_all_finite_result(const mon_drift_result *r) {
  const double v[] = {r->score, r->threshold, r->ks.statistic, r->ks.pvalue,
                      r->ks.location, r->wasserstein, r->wasserstein_norm,
                      r->psi, r->jensenshannon, r->chisquare.statistic,
                      r->chisquare.pvalue, r->ztest.statistic, r->ztest.pvalue,
                      r->ref.mean, r->ref.std, r->ref.std_pop, r->cur.mean,
                      r->cur.std, r->cur.q[2]};
  for (size_t i = 0; i < N_OF(v); i++) assert_true(isfinite(v[i]));
}

/* ---------------------------------------------------------------------- */
/* KS                                                                      */
/* ---------------------------------------------------------------------- */

static void test_ks_small_exact(void **state) {
  (void)state;
  const double a[] = {0.1, 0.5, 0.9, 1.3, 2.0};
  const double b[] = {0.2, 0.4, 1.1, 1.5, 2.5, 3.0};
  mon_ks_result r;
  /* stats.ks_2samp([0.1,0.5,0.9,1.3,2.0], [0.2,0.4,1.1,1.5,2.5,3.0]) */
  assert_int_equal(mon_stats_ks_2samp(a, N_OF(a), b, N_OF(b), &r), MON_STATS_OK);
  assert_rel(r.statistic, 0.3333333333333333, 1e-15);
  assert_rel(r.pvalue, 0.8181818181818182, 1e-14);
  assert_rel(r.location, 2.0, 0);
  assert_int_equal(r.sign, 1);
  assert_int_equal(r.method, MON_KS_EXACT);
}

static void test_ks_ties(void **state) {
  (void)state;
  /* stats.ks_2samp([1,1,2,2,3], [1,2,2,3,3,3,4]): CDFs are taken after all
   * equal values. */
  const double a[] = {1, 1, 2, 2, 3};
  const double b[] = {1, 2, 2, 3, 3, 3, 4};
  mon_ks_result r;
  assert_int_equal(mon_stats_ks_2samp(a, N_OF(a), b, N_OF(b), &r), MON_STATS_OK);
  assert_rel(r.statistic, 0.37142857142857144, 1e-15);
  assert_rel(r.pvalue, 0.7373737373737375, 1e-14);
  assert_rel(r.location, 2.0, 0);
  assert_int_equal(r.sign, 1);
}

static void test_ks_equal_sizes(void **state) {
  (void)state;
  /* stats.ks_2samp(range(1, 9), range(5, 13)): the n1 == n2 formula. */
  double a[8], b[8];
  for (int i = 0; i < 8; i++) a[i] = i + 1, b[i] = i + 5;
  mon_ks_result r;
  assert_int_equal(mon_stats_ks_2samp(a, 8, b, 8, &r), MON_STATS_OK);
  assert_rel(r.statistic, 0.5, 0);
  assert_rel(r.pvalue, 0.2826728826728826, 1e-14);
  assert_rel(r.location, 4.0, 0);
}

static void test_ks_tiny_and_degenerate(void **state) {
  (void)state;
  mon_ks_result r;
  const double one[] = {5.0}, three[] = {1, 2, 3}, same[] = {1.0};
  /* stats.ks_2samp([5.0], [1.0, 2.0, 3.0]).pvalue == 0.5 */
  assert_int_equal(mon_stats_ks_2samp(one, 1, three, 3, &r), MON_STATS_OK);
  assert_rel(r.statistic, 1.0, 0);
  assert_rel(r.pvalue, 0.5, 1e-15);
  assert_int_equal(r.sign, -1);
  /* stats.ks_2samp([1.0], [1.0]).pvalue == 1.0 */
  assert_int_equal(mon_stats_ks_2samp(same, 1, same, 1, &r), MON_STATS_OK);
  assert_rel(r.statistic, 0.0, 0);
  assert_rel(r.pvalue, 1.0, 0);
  /* Empty input: not an error, but nothing to test. */
  assert_int_equal(mon_stats_ks_2samp(one, 1, NULL, 0, &r), MON_STATS_INSUFFICIENT);
  assert_rel(r.pvalue, 1.0, 0);
  assert_int_equal(mon_stats_ks_2samp(NULL, 3, one, 1, &r), MON_STATS_EINVAL);
  assert_int_equal(mon_stats_ks_statistic(one, 1, three, 3, NULL), MON_STATS_EINVAL);
}

static void test_ks_asymptotic_path(void **state) {
  (void)state;
  /* 12000 vs 400: max(n) > 10000, so kstwo.sf(D, round(n1 n2/(n1+n2))). */
  const size_t na = 12000, nb = 400;
  double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  for (size_t i = 0; i < na; i++) a[i] = (double)i / (double)na;
  for (size_t i = 0; i < nb; i++) b[i] = 0.05 + (double)i / (double)nb * 0.9;
  mon_ks_result r;
  assert_int_equal(mon_stats_ks_2samp(a, na, b, nb, &r), MON_STATS_OK);
  assert_int_equal(r.method, MON_KS_ASYMP);
  /* a = np.arange(12000)/12000; b = 0.05 + np.arange(400)/400*0.9;
   * stats.ks_2samp(a, b) -> D 0.052166666666666694, p 0.23465245002898127 */
  assert_rel(r.statistic, 0.052166666666666694, 1e-15);
  assert_rel(r.pvalue, 0.23465245002898127, 1e-12);
  free(a);
  free(b);
}

static void test_kstwo_branches(void **state) {
  (void)state;
  /* stats.kstwo.sf(d, n) for one (n, d) on each of kolmogn's paths. */
  assert_rel(mon_stats_kstwo_sf(0.0067, 50000), 0.02236306937721667, 1e-12);  /* 2*smirnov */
  assert_rel(mon_stats_kstwo_sf(0.05, 100), 0.9532159710635725, 1e-13);       /* DMTW */
  assert_rel(mon_stats_kstwo_sf(0.15, 100), 0.019839242125643017, 1e-12);     /* Pomeranz */
  assert_rel(mon_stats_kstwo_sf(0.7, 10), 1.9544800000000034e-05, 1e-12);     /* x >= 0.5 */
  assert_rel(mon_stats_kstwo_sf(0.01, 1000), 0.9999496745370611, 1e-13);      /* DMTW, n > 140 */
  assert_rel(mon_stats_kstwo_sf(0.01, 5000), 0.6954557253913853, 1e-13);      /* Pelz-Good */
  assert_rel(mon_stats_kstwo_sf(0.002, 2000000), 2.247704493692889e-07, 1e-12); /* n > 1e6 */
  assert_rel(mon_stats_kstwo_sf(0.3, 3), 0.8862222222222222, 1e-14);          /* Ruben-Gambino */
  assert_rel(mon_stats_kstwo_sf(0.012, 300), 0.9999999999574838, 1e-14);
  assert_rel(mon_stats_kstwo_sf(0.0025, 200), 1.0, 0); /* at the support's lower end */
  assert_rel(mon_stats_kstwo_sf(1.0, 200), 0.0, 0);
  assert_rel(mon_stats_kstwo_sf(0.5, 0), 1.0, 0); /* bad n */
  assert_rel(mon_stats_kstwo_sf(NAN, 10), 1.0, 0);
}

static void test_ks_pvalue_paths(void **state) {
  (void)state;
  mon_ks_method m;
  double d;
  /* Exact, rounded to h/lcm: D 0.3 with n = 5, 6 -> h = round(9) = 9. */
  double p = mon_stats_ks_pvalue(5, 6, 0.3000000001, &d, &m);
  assert_int_equal(m, MON_KS_EXACT);
  assert_rel(d, 0.3, 1e-15);
  assert_true(p > 0 && p <= 1);
  /* n1 == n2 == 1 with D 1: 2 * P == 1 exactly. */
  p = mon_stats_ks_pvalue(1, 1, 1.0, &d, &m);
  assert_rel(p, 1.0, 0);
  assert_int_equal(m, MON_KS_EXACT);
  p = mon_stats_ks_pvalue(20000, 20000, 0.02, NULL, &m);
  assert_int_equal(m, MON_KS_ASYMP);
  assert_true(p > 0 && p < 1);
  p = mon_stats_ks_pvalue(0, 5, 0.5, NULL, &m);
  assert_int_equal(m, MON_KS_NONE);
  assert_rel(p, 1.0, 0);
}

/* ---------------------------------------------------------------------- */
/* Wasserstein, summaries, quantiles, sorting, filtering                   */
/* ---------------------------------------------------------------------- */

static void test_wasserstein(void **state) {
  (void)state;
  const double a[] = {0.1, 0.5, 0.9, 1.3, 2.0};
  const double b[] = {0.2, 0.4, 1.1, 1.5, 2.5, 3.0};
  double w;
  /* stats.wasserstein_distance(a, b) */
  assert_int_equal(mon_stats_wasserstein(a, N_OF(a), b, N_OF(b), &w), MON_STATS_OK);
  assert_rel(w, 0.5166666666666667, 1e-15);
  const double c[] = {1, 1, 2, 2, 3}, e[] = {1, 2, 2, 3, 3, 3, 4};
  /* stats.wasserstein_distance([1,1,2,2,3], [1,2,2,3,3,3,4]) */
  assert_int_equal(mon_stats_wasserstein(c, N_OF(c), e, N_OF(e), &w), MON_STATS_OK);
  assert_rel(w, 0.7714285714285716, 1e-15);
  assert_int_equal(mon_stats_wasserstein(c, 0, e, N_OF(e), &w), MON_STATS_INSUFFICIENT);
  assert_rel(w, 0.0, 0);
  /* Normalised by max(std, 0.001): a constant reference divides by 0.001. */
  assert_rel(mon_stats_wasserstein_normed(0.5, 0.0), 500.0, 1e-15);
  assert_rel(mon_stats_wasserstein_normed(0.5, 2.0), 0.25, 0);
}

static void test_summary(void **state) {
  (void)state;
  const double x[] = {1, 2, 3, 4, 10};
  mon_summary s;
  assert_int_equal(mon_stats_summary_sorted(x, 5, &s), MON_STATS_OK);
  /* np.mean, np.std(ddof=1), np.std(), np.quantile(x, [.05,.25,.5,.75,.95]) */
  assert_rel(s.mean, 4.0, 0);
  assert_rel(s.std, 3.5355339059327378, 1e-15);
  assert_rel(s.std_pop, 3.1622776601683795, 1e-15);
  const double q[] = {1.2, 2.0, 3.0, 4.0, 8.799999999999999};
  for (int i = 0; i < 5; i++) assert_rel(s.q[i], q[i], 1e-15);
  assert_rel(s.min, 1, 0);
  assert_rel(s.max, 10, 0);
  assert_true(s.std_available);

  const double one[] = {7.5};
  assert_int_equal(mon_stats_summary_sorted(one, 1, &s), MON_STATS_OK);
  assert_false(s.std_available);
  assert_rel(s.std, 0.0, 0);
  assert_rel(s.q[0], 7.5, 0);
  assert_int_equal(mon_stats_summary_sorted(NULL, 0, &s), MON_STATS_INSUFFICIENT);
  assert_false(s.available);
}

static void test_quantile_ties_exact(void **state) {
  (void)state;
  /* np.quantile([0.1,0.3,0.3,0.3,0.9], 0.3) == 0.3 and at 0.55 == 0.3:
   * numpy's lerp returns a tied value exactly ((1-d)*a + d*a may not). */
  const double x[] = {0.1, 0.3, 0.3, 0.3, 0.9};
  assert_true(mon_stats_quantile_sorted(x, 5, 0.3) == 0.3);
  assert_true(mon_stats_quantile_sorted(x, 5, 0.55) == 0.3);
  assert_true(mon_stats_quantile_sorted(x, 5, 1.0) == 0.9);
  assert_true(mon_stats_quantile_sorted(x, 5, 0.0) == 0.1);
  assert_true(mon_stats_quantile_sorted(x, 5, -3.0) == 0.1);
  assert_true(mon_stats_quantile_sorted(NULL, 0, 0.5) == 0.0);
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void test_sort_matches_qsort(void **state) {
  (void)state;
  const size_t n = 50000;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  assert_non_null(x);
  assert_non_null(y);
  uint64_t s = 88172645463325252ULL;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double v = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * 1e6;
    if (i % 7 == 0) v = -v * 1e-300;   /* subnormals and tiny values */
    if (i % 11 == 0) v = (double)(i % 5); /* ties */
    if (i % 13 == 0) v = -0.0;
    x[i] = y[i] = v;
  }
  assert_int_equal(mon_stats_sort(x, n), MON_STATS_OK);
  qsort(y, n, sizeof *y, cmp_double);
  for (size_t i = 0; i < n; i++) assert_true(x[i] == y[i]);
  for (size_t i = 1; i < n; i++) assert_true(x[i - 1] <= x[i]);
  /* Keys that differ in one radix digit only (one pass), and all equal. */
  for (size_t i = 0; i < 1000; i++) x[i] = 1.0 + (double)((i * 7919) % 1000) * 0x1p-52;
  assert_int_equal(mon_stats_sort(x, 1000), MON_STATS_OK);
  for (size_t i = 0; i < 1000; i++) assert_true(x[i] == 1.0 + (double)i * 0x1p-52);
  for (size_t i = 0; i < 100; i++) x[i] = 2.5;
  assert_int_equal(mon_stats_sort(x, 100), MON_STATS_OK);
  assert_true(x[0] == 2.5 && x[99] == 2.5);
  assert_int_equal(mon_stats_sort(NULL, 0), MON_STATS_OK);
  assert_int_equal(mon_stats_sort(NULL, 3), MON_STATS_EINVAL);
  free(x);
  free(y);
}

/* Above MON_STATS_SORT_LSD_MAX: the in-place MSD passes, then buckets
 * handed to the LSD sort. Most values sit in [10, 11) so that buckets stay
 * larger than the LSD threshold for more than one in-place level; the rest
 * are spread over signs and exponents, with ties and signed zeros. */
static void test_sort_large_matches_qsort(void **state) {
  (void)state;
  const size_t n = MON_STATS_SORT_LSD_MAX + 123457;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  assert_non_null(x);
  assert_non_null(y);
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    const double u = (double)(s >> 11) / 9007199254740992.0;
    double v = 10.0 + u;
    if (i % 5 == 0) v = (u - 0.5) * 1e9;
    if (i % 17 == 0) v = (double)(i % 3) - 1.0; /* ties: -1, 0, 1 */
    if (i % 19 == 0) v = -0.0;
    if (i % 23 == 0) v = u * 1e-310; /* subnormals */
    x[i] = y[i] = v;
  }
  assert_int_equal(mon_stats_sort(x, n), MON_STATS_OK);
  qsort(y, n, sizeof *y, cmp_double);
  for (size_t i = 0; i < n; i++) assert_true(x[i] == y[i]);
  assert_true(mon_stats_sort_scratch(n) > 0 && mon_stats_sort_scratch(n) < n);
  free(x);
  free(y);
}

static void test_filter_finite(void **state) {
  (void)state;
  double x[] = {1.0, NAN, 2.0, INFINITY, -INFINITY, 3.0, NAN};
  size_t n, missing;
  assert_int_equal(mon_stats_filter_finite(x, N_OF(x), x, &n, &missing), MON_STATS_OK);
  assert_int_equal(n, 3);
  assert_int_equal(missing, 4);
  assert_rel(x[0], 1.0, 0);
  assert_rel(x[1], 2.0, 0);
  assert_rel(x[2], 3.0, 0);
  assert_int_equal(mon_stats_filter_finite(x, 2, x, NULL, NULL), MON_STATS_EINVAL);
}

/* ---------------------------------------------------------------------- */
/* Bins, PSI, JS, chi-squared, Z                                           */
/* ---------------------------------------------------------------------- */

static void test_bins(void **state) {
  (void)state;
  double ref[100];
  for (int i = 0; i < 100; i++) ref[i] = i;
  mon_bins b;
  assert_int_equal(mon_stats_bins_from_sorted(ref, 100, 0, &b), MON_STATS_OK);
  assert_int_equal(b.n_bins, 10);
  /* np.unique(np.quantile(np.arange(100.), np.linspace(0, 1, 11))) */
  const double edges[] = {0.0,  9.9,  19.8, 29.700000000000003, 39.6, 49.5,
                          59.400000000000006, 69.30000000000001, 79.2,
                          89.10000000000001, 99.0};
  for (int i = 0; i <= 10; i++) assert_true(b.edges[i] == edges[i]);
  for (int i = 0; i < 10; i++) assert_rel(b.ref_counts[i], 10, 0);
  assert_int_equal(mon_stats_bins_index(&b, -5.0), 0);  /* below min: first */
  assert_int_equal(mon_stats_bins_index(&b, 9.9), 1);   /* edge: right bin */
  assert_int_equal(mon_stats_bins_index(&b, 99.0), 9);  /* max: last bin */
  assert_int_equal(mon_stats_bins_index(&b, 1e9), 9);   /* above max */
  const double cur[] = {-1, 0, 5, 9.9, 50, 99, 1000};
  double c1[10] = {0}, c2[10] = {0};
  assert_int_equal(mon_stats_bins_count(&b, cur, N_OF(cur), c1), MON_STATS_OK);
  assert_int_equal(mon_stats_bins_count_sorted(&b, cur, N_OF(cur), c2), MON_STATS_OK);
  const double want[10] = {3, 1, 0, 0, 0, 1, 0, 0, 0, 2};
  for (int i = 0; i < 10; i++) {
    assert_rel(c1[i], want[i], 0);
    assert_rel(c2[i], want[i], 0);
  }
  /* Counts accumulate: a second window adds to the first. */
  assert_int_equal(mon_stats_bins_count(&b, cur, 1, c1), MON_STATS_OK);
  assert_rel(c1[0], 4, 0);

  const double flat[] = {2, 2, 2, 2};
  assert_int_equal(mon_stats_bins_from_sorted(flat, 4, 10, &b), MON_STATS_INSUFFICIENT);
  assert_int_equal(b.n_bins, 0);
  assert_int_equal(mon_stats_bins_from_sorted(ref, 100, MON_STATS_MAX_BINS + 1, &b),
                   MON_STATS_EINVAL);
}

static void test_psi(void **state) {
  (void)state;
  double psi;
  /* Evidently's formula: see tests/oracle/oracle_stats.py evidently_psi(). */
  const double r1[] = {10, 20, 30, 40}, c1[] = {15, 25, 25, 35};
  assert_int_equal(mon_stats_psi(r1, c1, 4, &psi), MON_STATS_OK);
  assert_rel(psi, 0.04722308044204257, 1e-14);
  /* Empty reference bin -> 1e-4. */
  const double r2[] = {10, 20, 30, 0};
  assert_int_equal(mon_stats_psi(r2, c1, 4, &psi), MON_STATS_OK);
  assert_rel(psi, 3.054381644564311, 1e-14);
  /* Smallest non-zero proportion <= 1e-4 -> min / 1e6. */
  const double r3[] = {1000000, 1, 3, 0}, c3[] = {999990, 0, 8, 2};
  assert_int_equal(mon_stats_psi(r3, c3, 4, &psi), MON_STATS_OK);
  assert_rel(psi, 4.7043803647309334e-05, 1e-12);
  assert_int_equal(mon_stats_psi(r1, r1, 4, &psi), MON_STATS_OK);
  assert_rel(psi, 0.0, 0);
  const double zero[] = {0, 0, 0, 0};
  assert_int_equal(mon_stats_psi(zero, c1, 4, &psi), MON_STATS_INSUFFICIENT);
  const double neg[] = {1, -1, 0, 0};
  assert_int_equal(mon_stats_psi(neg, c1, 4, &psi), MON_STATS_EINVAL);
}

static void test_jensenshannon(void **state) {
  (void)state;
  double js;
  const double p[] = {1, 2, 3, 4}, q[] = {4, 3, 2, 1};
  /* distance.jensenshannon([1,2,3,4], [4,3,2,1]) */
  assert_int_equal(mon_stats_jensenshannon(p, q, 4, &js), MON_STATS_OK);
  assert_rel(js, 0.32625164411267443, 1e-15);
  /* distance.jensenshannon([5,0,5], [0,10,0]) = sqrt(ln 2) */
  const double a[] = {5, 0, 5}, b[] = {0, 10, 0};
  assert_int_equal(mon_stats_jensenshannon(a, b, 3, &js), MON_STATS_OK);
  assert_rel(js, 0.8325546111576977, 1e-15);
  assert_int_equal(mon_stats_jensenshannon(p, p, 4, &js), MON_STATS_OK);
  assert_rel(js, 0.0, 0);
  assert_int_equal(mon_stats_jensenshannon(p, q, 0, &js), MON_STATS_INSUFFICIENT);
}

static void test_chisquare(void **state) {
  (void)state;
  mon_test_result r;
  const double ref[] = {100, 100, 100, 100}, cur[] = {90, 110, 95, 105};
  /* stats.chisquare([90,110,95,105], [100,100,100,100]) */
  assert_int_equal(mon_stats_chisquare(ref, cur, 4, &r), MON_STATS_OK);
  assert_rel(r.statistic, 2.5, 1e-15);
  assert_rel(r.pvalue, 0.4752910833430205, 1e-13);
  assert_rel(r.dof, 3, 0);
  assert_false(r.pseudo_counts);
  /* Unseen category: ref + 0.5 each; stats.chisquare(cur, (ref + 0.5) *
   * (cur.sum() / (ref + 0.5).sum())) with ref [50,30,0], cur [40,30,10]. */
  const double r2[] = {50, 30, 0}, c2[] = {40, 30, 10};
  assert_int_equal(mon_stats_chisquare(r2, c2, 3, &r), MON_STATS_OK);
  assert_true(r.pseudo_counts);
  assert_rel(r.statistic, 186.08870313260832, 1e-14);
  assert_rel(r.pvalue, 3.9025775553258926e-41, 1e-10);
  /* A p-value that underflows must not reach GSL's abort handler. */
  const double r3[] = {500005, 500005}, c3[] = {1000000, 10};
  assert_int_equal(mon_stats_chisquare(r3, c3, 2, &r), MON_STATS_OK);
  assert_rel(r.pvalue, 0.0, 0);
  assert_true(isfinite(r.statistic));
  /* Two live samples (a canary's and its baseline's, measured): goodness
   * of fit takes the baseline's proportions as exact and gives 5.21 (p
   * 0.074); the test of homogeneity, stats.chi2_contingency([[710, 650,
   * 692], [716, 643, 620]], correction=False), half of it. */
  const double rb[] = {710, 650, 692}, cb[] = {716, 643, 620};
  assert_int_equal(mon_stats_chisquare(rb, cb, 3, &r), MON_STATS_OK);
  assert_rel(r.statistic, 5.20563031514771, 1e-12);
  assert_int_equal(mon_stats_chisquare_2sample(rb, cb, 3, &r), MON_STATS_OK);
  assert_rel(r.statistic, 2.693240127138682, 1e-13);
  assert_rel(r.pvalue, 0.2601179586933787, 1e-12);
  assert_rel(r.dof, 2, 0);
  /* A category only one side has needs no pseudo-count there. */
  const double ru[] = {50, 30, 0}, cu[] = {40, 30, 10};
  assert_int_equal(mon_stats_chisquare_2sample(ru, cu, 3, &r), MON_STATS_OK);
  assert_false(r.pseudo_counts);
  assert_true(isfinite(r.statistic));
  /* One category only: nothing to test. */
  const double r4[] = {10, 0}, c4[] = {5, 0};
  assert_int_equal(mon_stats_chisquare_2sample(r4, c4, 2, &r), MON_STATS_INSUFFICIENT);
  assert_int_equal(mon_stats_chisquare(r4, c4, 2, &r), MON_STATS_INSUFFICIENT);
  assert_false(r.available);
  assert_rel(r.pvalue, 1.0, 0);
}

static void test_ztest(void **state) {
  (void)state;
  mon_test_result r;
  /* p1 = .6, p2 = .45, P = .525, z = (p1-p2)/sqrt(P(1-P)(1/100+1/100)),
   * p = 2 * stats.norm.sf(|z|) */
  assert_int_equal(mon_stats_ztest_2prop(60, 100, 45, 100, &r), MON_STATS_OK);
  assert_rel(r.statistic, 2.1239769762143657, 1e-14);
  assert_rel(r.pvalue, 0.033672068856345855, 1e-13);
  assert_int_equal(mon_stats_ztest_2prop(100, 100, 50, 50, &r), MON_STATS_INSUFFICIENT);
  assert_rel(r.pvalue, 1.0, 0);
  assert_int_equal(mon_stats_ztest_2prop(10, 0, 5, 10, &r), MON_STATS_EINVAL);
}

/* ---------------------------------------------------------------------- */
/* Methods, verdicts, whole columns                                        */
/* ---------------------------------------------------------------------- */

static void test_method_table(void **state) {
  (void)state;
  assert_int_equal(mon_stats_default_method(MON_COLUMN_NUMERIC, 1000, 6), MON_DRIFT_KS);
  assert_int_equal(mon_stats_default_method(MON_COLUMN_NUMERIC, 1001, 6), MON_DRIFT_WASSERSTEIN);
  assert_int_equal(mon_stats_default_method(MON_COLUMN_NUMERIC, 1000, 5), MON_DRIFT_CHISQUARE);
  assert_int_equal(mon_stats_default_method(MON_COLUMN_NUMERIC, 10, 2), MON_DRIFT_ZTEST);
  assert_int_equal(mon_stats_default_method(MON_COLUMN_NUMERIC, 5000, 3), MON_DRIFT_JENSENSHANNON);
  assert_int_equal(mon_stats_default_method(MON_COLUMN_CATEGORICAL, 500, 40), MON_DRIFT_CHISQUARE);
  assert_int_equal(mon_stats_default_method(MON_COLUMN_CATEGORICAL, 500, 2), MON_DRIFT_ZTEST);
  assert_int_equal(mon_stats_default_method(MON_COLUMN_CATEGORICAL, 1001, 2), MON_DRIFT_JENSENSHANNON);

  assert_true(mon_stats_is_drifted(MON_DRIFT_KS, 0.05, 0.05));
  assert_false(mon_stats_is_drifted(MON_DRIFT_CHISQUARE, 0.05, 0.05));
  assert_true(mon_stats_is_drifted(MON_DRIFT_ZTEST, 0.049, 0.05));
  assert_true(mon_stats_is_drifted(MON_DRIFT_WASSERSTEIN, 0.1, 0.1));
  assert_false(mon_stats_is_drifted(MON_DRIFT_JENSENSHANNON, 0.0999, 0.1));
  assert_true(mon_stats_is_drifted(MON_DRIFT_PSI, 0.25, 0.1));
  assert_false(mon_stats_is_drifted(MON_DRIFT_PSI, NAN, 0.1));
  assert_rel(mon_stats_default_threshold(MON_DRIFT_KS), 0.05, 0);
  assert_rel(mon_stats_default_threshold(MON_DRIFT_PSI), 0.1, 0);

  assert_true(mon_stats_dataset_drifted(10, 20, 0));
  assert_false(mon_stats_dataset_drifted(9, 20, 0.5));
  assert_false(mon_stats_dataset_drifted(0, 0, 0.5));

  mon_drift_method m;
  for (int i = MON_DRIFT_AUTO; i <= MON_DRIFT_PSI; i++) {
    assert_int_equal(mon_stats_method_from_name(mon_stats_method_name(i), &m), MON_STATS_OK);
    assert_int_equal(m, i);
  }
  assert_int_equal(mon_stats_method_from_name("bogus", &m), MON_STATS_EINVAL);
  assert_string_equal(mon_stats_strerror(MON_STATS_ENOMEM), "out of memory");
  assert_string_equal(mon_stats_strerror(12345), "unknown status");
}

static void test_numeric_drift_default_and_override(void **state) {
  (void)state;
  enum { N = 800 };
  double ref[N], cur[N];
  for (int i = 0; i < N; i++) {
    ref[i] = (double)i / N;
    cur[i] = (double)i / N + 0.2; /* shifted by 0.2 */
  }
  mon_drift_result r;
  assert_int_equal(mon_stats_numeric_drift(ref, N, cur, N, NULL, NULL, &r), MON_STATS_OK);
  assert_int_equal(r.method, MON_DRIFT_KS); /* 800 reference rows */
  assert_true(r.ks_pvalue_ok);
  /* a = np.arange(800)/800; stats.ks_2samp(a, a + 0.2) and
   * stats.wasserstein_distance(a, a + 0.2) */
  assert_rel(r.ks.statistic, 0.20125, 1e-15);
  assert_rel(r.ks.pvalue, 1.3859875048471406e-14, 1e-12);
  assert_true(r.drifted);
  assert_rel(r.wasserstein, 0.19999999999999998, 1e-15);
  assert_true(r.psi_ok);
  assert_true(r.psi > 0.25);
  assert_all_finite_result(&r);

  /* Per-column override: Wasserstein with a huge threshold never drifts. */
  mon_drift_options opt = {.method = MON_DRIFT_WASSERSTEIN, .threshold = 100.0};
  assert_int_equal(mon_stats_numeric_drift(ref, N, cur, N, NULL, &opt, &r), MON_STATS_OK);
  assert_int_equal(r.method, MON_DRIFT_WASSERSTEIN);
  assert_rel(r.threshold, 100.0, 0);
  assert_false(r.drifted);
  assert_false(r.ks_pvalue_ok); /* not needed, not computed */
  /* Stored bins are used as given. */
  mon_bins b;
  assert_int_equal(mon_stats_bins_from_sorted(ref, N, 4, &b), MON_STATS_OK);
  opt = (mon_drift_options){.method = MON_DRIFT_PSI};
  assert_int_equal(mon_stats_numeric_drift(ref, N, cur, N, &b, &opt, &r), MON_STATS_OK);
  assert_rel(r.score, r.psi, 0);
  assert_true(r.drifted);
}

static void test_numeric_drift_degenerate(void **state) {
  (void)state;
  const double c3[] = {3, 3, 3, 3, 3}, c4[] = {4, 4, 4};
  mon_drift_result r;
  /* Constant columns (reference std 0): finite everything. */
  assert_int_equal(mon_stats_numeric_drift(c3, 5, c4, 3, NULL, NULL, &r), MON_STATS_OK);
  assert_int_equal(r.n_values, 2);
  assert_true(r.as_categories);
  assert_int_equal(r.method, MON_DRIFT_ZTEST);
  assert_true(r.ztest.available);
  assert_rel(r.wasserstein, 1.0, 0);
  assert_rel(r.wasserstein_norm, 1000.0, 1e-15);
  assert_all_finite_result(&r);
  /* Same constant on both sides: one value, no test possible. */
  assert_int_equal(mon_stats_numeric_drift(c3, 5, c3, 2, NULL, NULL, &r),
                   MON_STATS_INSUFFICIENT);
  assert_false(r.drifted);
  assert_all_finite_result(&r);
  /* Empty sides. */
  assert_int_equal(mon_stats_numeric_drift(c3, 5, NULL, 0, NULL, NULL, &r),
                   MON_STATS_INSUFFICIENT);
  assert_false(r.drifted);
  assert_all_finite_result(&r);
  assert_int_equal(mon_stats_numeric_drift(NULL, 0, NULL, 0, NULL, NULL, &r),
                   MON_STATS_INSUFFICIENT);
  /* n = 1 on each side, distinct values. */
  const double one[] = {1.0}, two[] = {2.0};
  assert_int_equal(mon_stats_numeric_drift(one, 1, two, 1, NULL, NULL, &r), MON_STATS_OK);
  assert_all_finite_result(&r);
  /* Constant reference, spread current (> 5 values): KS still works, PSI
   * bins are unavailable. */
  double spread[10];
  for (int i = 0; i < 10; i++) spread[i] = i;
  assert_int_equal(mon_stats_numeric_drift(c3, 5, spread, 10, NULL, NULL, &r), MON_STATS_OK);
  assert_int_equal(r.method, MON_DRIFT_KS);
  assert_false(r.psi_ok);
  assert_all_finite_result(&r);
  /* Values near DBL_MAX: differences overflow; still no inf out. */
  const double big1[] = {-1.7e308, 1.7e308}, big2[] = {-1.0e308, 1.6e308};
  assert_int_equal(mon_stats_numeric_drift(big1, 2, big2, 2, NULL, NULL, &r), MON_STATS_OK);
  assert_all_finite_result(&r);
}

static void test_categorical_drift(void **state) {
  (void)state;
  mon_drift_result r;
  const double ref[] = {100, 200, 0, 300}, cur[] = {90, 210, 0, 310};
  assert_int_equal(mon_stats_categorical_drift(ref, cur, 4, NULL, &r), MON_STATS_OK);
  assert_int_equal(r.n_values, 3);
  assert_int_equal(r.method, MON_DRIFT_CHISQUARE);
  assert_false(r.drifted);
  assert_rel(r.score, r.chisquare.pvalue, 0);
  assert_all_finite_result(&r);

  const double big_r[] = {6000, 4000}, big_c[] = {4000, 6000};
  assert_int_equal(mon_stats_categorical_drift(big_r, big_c, 2, NULL, &r), MON_STATS_OK);
  assert_int_equal(r.method, MON_DRIFT_JENSENSHANNON);
  assert_true(r.drifted);
  assert_true(r.ztest.available);

  const double unseen_r[] = {50, 50, 0}, unseen_c[] = {30, 30, 40};
  assert_int_equal(mon_stats_categorical_drift(unseen_r, unseen_c, 3, NULL, &r), MON_STATS_OK);
  assert_true(r.chisquare.pseudo_counts);
  assert_true(r.drifted);
  assert_all_finite_result(&r);

  const double empty[] = {0, 0};
  assert_int_equal(mon_stats_categorical_drift(empty, big_c, 2, NULL, &r),
                   MON_STATS_INSUFFICIENT);
  assert_false(r.drifted);
}

static void test_spearman(void **state) {
  (void)state;
  double rho = 0;
  /* stats.spearmanr([1,2,2,3,5,4], [2,1,4,4,6,3]).statistic: ties on both
   * sides get average ranks. */
  const double x1[] = {1, 2, 2, 3, 5, 4}, y1[] = {2, 1, 4, 4, 6, 3};
  assert_int_equal(mon_stats_spearman(x1, y1, 6, &rho), MON_STATS_OK);
  assert_rel(rho, 0.6617647058823529, 1e-15);
  /* stats.spearmanr([3.5,-1,0,-0.0,2,2,2,7], [1,1,1,2,2,3,3,3]).statistic:
   * -0.0 ties with 0.0, runs of three. */
  const double x2[] = {3.5, -1, 0, -0.0, 2, 2, 2, 7}, y2[] = {1, 1, 1, 2, 2, 3, 3, 3};
  assert_int_equal(mon_stats_spearman(x2, y2, 8, &rho), MON_STATS_OK);
  assert_rel(rho, 0.4871773518462232, 1e-15);
  /* A monotone decreasing relation is exactly -1, an increasing one 1
   * (scipy: 0.9999999999999999 for the second; the ranks are exact here). */
  const double x3[] = {1, 2, 3, 4}, y3[] = {8, 6, 4, 2};
  assert_int_equal(mon_stats_spearman(x3, y3, 4, &rho), MON_STATS_OK);
  assert_true(rho == -1.0);
  const double x4[] = {0.1, 0.4, 0.2, 0.9, 0.5}, y4[] = {10, 30, 20, 50, 40};
  assert_int_equal(mon_stats_spearman(x4, y4, 5, &rho), MON_STATS_OK);
  assert_rel(rho, 1.0, 1e-15);
  /* Undefined: fewer than two pairs, a constant side. */
  assert_int_equal(mon_stats_spearman(x1, y1, 1, &rho), MON_STATS_INSUFFICIENT);
  assert_true(rho == 0.0);
  assert_int_equal(mon_stats_spearman(NULL, NULL, 0, &rho), MON_STATS_INSUFFICIENT);
  const double c[] = {2, 2, 2, 2};
  assert_int_equal(mon_stats_spearman(x3, c, 4, &rho), MON_STATS_INSUFFICIENT);
  assert_int_equal(mon_stats_spearman(c, x3, 4, &rho), MON_STATS_INSUFFICIENT);
  assert_true(rho == 0.0);
  /* Bad arguments: missing values are the caller's to leave out. */
  const double bad[] = {1, NAN, 3, 4};
  assert_int_equal(mon_stats_spearman(x3, bad, 4, &rho), MON_STATS_EINVAL);
  const double inf[] = {1, INFINITY, 3, 4};
  assert_int_equal(mon_stats_spearman(inf, x3, 4, &rho), MON_STATS_EINVAL);
  assert_int_equal(mon_stats_spearman(NULL, x3, 4, &rho), MON_STATS_EINVAL);
  assert_int_equal(mon_stats_spearman(x3, x3, 4, NULL), MON_STATS_EINVAL);
}

/* Data quality counts: values outside [lo, hi] of a sorted array (the
 * edges themselves inside, -0.0 equal to 0.0), categories a reference
 * lacks (zero count or past its dictionary). */
static void test_quality_counts(void **state) {
  (void)state;
  const double x[] = {-3, -0.0, 0.0, 1, 2, 2, 5, 9};
  assert_int_equal(mon_stats_out_of_range_sorted(x, 8, 0.0, 2), 3);
  assert_int_equal(mon_stats_out_of_range_sorted(x, 8, -0.0, 2), 3);
  assert_int_equal(mon_stats_out_of_range_sorted(x, 8, -3, 9), 0);
  assert_int_equal(mon_stats_out_of_range_sorted(x, 8, 10, 11), 8);
  assert_int_equal(mon_stats_out_of_range_sorted(x, 8, 2, 2), 6);
  assert_int_equal(mon_stats_out_of_range_sorted(NULL, 0, 0, 1), 0);
  const double ref[] = {5, 0, 3};
  const double cur[] = {1, 4, 2, 7, 0};
  assert_true(mon_stats_unseen(ref, 3, cur, 5) == 4 + 7);
  assert_true(mon_stats_unseen(ref, 1, cur, 5) == 4 + 2 + 7);
  assert_true(mon_stats_unseen(NULL, 0, cur, 5) == 14);
  assert_true(mon_stats_unseen(ref, 3, cur, 1) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ks_small_exact),
      cmocka_unit_test(test_ks_ties),
      cmocka_unit_test(test_ks_equal_sizes),
      cmocka_unit_test(test_ks_tiny_and_degenerate),
      cmocka_unit_test(test_ks_asymptotic_path),
      cmocka_unit_test(test_kstwo_branches),
      cmocka_unit_test(test_ks_pvalue_paths),
      cmocka_unit_test(test_wasserstein),
      cmocka_unit_test(test_summary),
      cmocka_unit_test(test_quantile_ties_exact),
      cmocka_unit_test(test_sort_matches_qsort),
      cmocka_unit_test(test_sort_large_matches_qsort),
      cmocka_unit_test(test_filter_finite),
      cmocka_unit_test(test_bins),
      cmocka_unit_test(test_psi),
      cmocka_unit_test(test_jensenshannon),
      cmocka_unit_test(test_chisquare),
      cmocka_unit_test(test_ztest),
      cmocka_unit_test(test_method_table),
      cmocka_unit_test(test_numeric_drift_default_and_override),
      cmocka_unit_test(test_numeric_drift_degenerate),
      cmocka_unit_test(test_categorical_drift),
      cmocka_unit_test(test_spearman),
      cmocka_unit_test(test_quality_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
