/* monitor/stats.c - column preparation, summaries, Wasserstein, bins, PSI,
 * Jensen-Shannon, chi-squared, Z test, method choice and per-column drift.
 * The KS statistic and p-value live in monitor/stats_ks.c. */
#include "monitor/stats.h"

#include <float.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/stats_internal.h"

const double mon_stats_quantile_levels[MON_STATS_NQUANTILES] = {0.05, 0.25, 0.5,
                                                                0.75, 0.95};

const char *mon_stats_strerror(int status) {
  switch(status) {
  case MON_STATS_OK:
    return "ok";
  case MON_STATS_INSUFFICIENT:
    return "insufficient data";
  case MON_STATS_EINVAL:
    return "invalid argument";
  case MON_STATS_ENOMEM:
    return "out of memory";
  default:
    return "unknown status";
  }
}

/* ---------------------------------------------------------------------- */
/* Preparing columns                                                       */
/* ---------------------------------------------------------------------- */

int mon_stats_filter_finite(const double *in, size_t n, double *out, size_t *n_out,
                            size_t *n_missing) {
  if(n_out == NULL || (n > 0 && (in == NULL || out == NULL)))
    return MON_STATS_EINVAL;
  size_t k = 0;
  for(size_t i = 0; i < n; i++) {
    const double v = in[i];
    out[k] = v; /* written unconditionally: branch-free compaction */
    k += isfinite(v) ? 1 : 0;
  }
  *n_out = k;
  if(n_missing)
    *n_missing = n - k;
  return MON_STATS_OK;
}

/* The inverse of mon_stats_sort_key (monitor/stats.h). */
static inline double sort_unkey(uint64_t k) {
  uint64_t u = (k >> 63) ? (k & ~UINT64_C(0x8000000000000000)) : ~k;
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/* In-place MSD radix sort ("American flag sort") of keys, 8-bit digits
 * from bit shift down. Each level counts the digit, then moves every key
 * into its bucket by following cycles of swaps (no scratch buffer), then
 * sorts each bucket by the next digit. A digit shared by every key of a
 * bucket costs one counting pass and no moves. Buckets of at most
 * SORT_SMALL keys are finished by insertion sort, and buckets of at most
 * SORT_BUCKET keys by the LSD sort below (sort__keys) in a scratch of
 * SORT_BUCKET keys (4 MiB) when the caller has one: the in-place passes
 * move each key through cache misses at every level, the LSD sort of a
 * bucket that fits the last-level cache streams it. Measured on 10M doubles
 * (CPU time, best of 3, a sort-only microbenchmark on a loaded 2-core VM):
 * normal 0.36-0.42 s in place to the last level, 0.19-0.25 s with buckets
 * of 2^19 handed to the LSD sort; 10+2N (the scale benchmark's columns)
 * 0.28-0.32 s -> 0.18-0.22 s; 2^16..2^20 were tried, 2^19 was best or
 * tied on normal, log-normal, uniform, rounded and 7-valued data.
 * Recursion depth is at most 8. */
#define SORT_SMALL 48
#define SORT_BUCKET ((size_t)1 << 19)

static void sort__insertion(uint64_t *k, size_t n) {
  for(size_t i = 1; i < n; i++) {
    const uint64_t v = k[i];
    size_t j = i;
    for(; j > 0 && k[j - 1] > v; j--)
      k[j] = k[j - 1];
    k[j] = v;
  }
}

static void sort__keys(uint64_t *k, uint64_t *tmp, size_t n);

static void sort__msd(uint64_t *k, size_t n, unsigned shift, uint64_t *scratch) {
  size_t cnt[256];
  for(;;) {
    if(n <= SORT_SMALL) {
      sort__insertion(k, n);
      return;
    }
    if(scratch && n <= SORT_BUCKET) {
      sort__keys(k, scratch, n);
      return;
    }
    memset(cnt, 0, sizeof cnt);
    for(size_t i = 0; i < n; i++)
      cnt[(k[i] >> shift) & 255]++;
    if(cnt[(k[0] >> shift) & 255] < n)
      break;
    if(shift == 0) /* every key equal */
      return;
    shift = shift >= 8 ? shift - 8 : 0;
  }
  size_t next[256], end[256], sum = 0;
  for(unsigned d = 0; d < 256; d++) {
    next[d] = sum;
    sum += cnt[d];
    end[d] = sum;
  }
  for(unsigned b = 0; b < 256; b++) {
    while(next[b] < end[b]) {
      uint64_t v = k[next[b]];
      unsigned d = (unsigned)(v >> shift) & 255;
      while(d != b) { /* put v in its bucket, pick up what was there */
        const uint64_t t = k[next[d]];
        k[next[d]++] = v;
        v = t;
        d = (unsigned)(v >> shift) & 255;
      }
      k[next[b]++] = v;
    }
  }
  if(shift == 0)
    return;
  const unsigned ns = shift >= 8 ? shift - 8 : 0;
  size_t lo = 0;
  for(unsigned d = 0; d < 256; d++) {
    if(cnt[d] > 1)
      sort__msd(k + lo, cnt[d], ns, scratch);
    lo += cnt[d];
  }
}

/* LSD radix sort of keys with an n-key scratch, for columns that fit
 * MON_STATS_SORT_LSD_MAX: 11-bit digits at bits 0, 11, ..., 55, counted
 * in one pass. Only the three highest digits that vary are sorted by
 * (three scatters instead of six); what is left below them is the fix-up:
 * runs of keys equal down to there are few and short for continuous data
 * (and sorted already for ties), and each unsorted one is sorted by
 * sort__keys again (its keys share every bit sorted so far, so that
 * recursion handles lower digits only). Measured on 100k normal doubles
 * on a shared 2-core VM: 15-25 ns per value, within noise of the six-scatter
 * LSD sort it replaced and about half the in-place MSD sort's 28 (whose
 * per-bucket overhead dominates small buckets). The result is in k. */
#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_DIGITS 6 /* 6 * 11 >= 64 */
#define RADIX_SCATTERS 3

static void sort__keys(uint64_t *k, uint64_t *tmp, size_t n) {
  if(n <= SORT_SMALL) {
    sort__insertion(k, n);
    return;
  }
  uint32_t(*hist)[RADIX_SIZE] = calloc(RADIX_DIGITS, sizeof *hist);
  if(!hist) { /* no memory for 48 KiB: the in-place sort needs none */
    sort__msd(k, n, 56, NULL);
    return;
  }
  for(size_t i = 0; i < n; i++) {
    const uint64_t v = k[i];
    for(int p = 0; p < RADIX_DIGITS; p++)
      hist[p][(v >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
  }
  int todo[RADIX_SCATTERS], ntodo = 0, p = RADIX_DIGITS - 1;
  for(; p >= 0 && ntodo < RADIX_SCATTERS; p--)
    if(hist[p][(k[0] >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)] != n)
      todo[ntodo++] = p;
  /* Digits below p + 1 are not sorted by: do any of them vary? */
  bool rest = false;
  for(int q = p; q >= 0 && !rest; q--)
    rest = hist[q][(k[0] >> (q * RADIX_BITS)) & (RADIX_SIZE - 1)] != n;
  const unsigned low = (unsigned)((p + 1) * RADIX_BITS);
  uint64_t *src = k, *dst = tmp;
  for(int t = ntodo - 1; t >= 0; t--) { /* least significant first */
    const unsigned shift = (unsigned)(todo[t] * RADIX_BITS);
    uint32_t pos[RADIX_SIZE], sum = 0;
    for(unsigned d = 0; d < RADIX_SIZE; d++) {
      pos[d] = sum;
      sum += hist[todo[t]][d];
    }
    for(size_t i = 0; i < n; i++) {
      const uint64_t v = src[i];
      dst[pos[(v >> shift) & (RADIX_SIZE - 1)]++] = v;
    }
    uint64_t *sw = src;
    src = dst;
    dst = sw;
  }
  free(hist);
  if(src != k)
    memcpy(k, src, n * sizeof *k);
  if(!rest)
    return;
  /* Runs of keys equal above bit low, sorted by their low bits. */
  for(size_t a = 0; a < n;) {
    size_t b = a + 1;
    bool sorted = true;
    while(b < n && (k[b] >> low) == (k[a] >> low)) {
      sorted &= k[b - 1] <= k[b];
      b++;
    }
    if(!sorted)
      sort__keys(k + a, tmp, b - a);
    a = b;
  }
}

size_t mon_stats_sort_scratch(size_t n) {
  if(n <= SORT_SMALL)
    return 0;
  return n <= MON_STATS_SORT_LSD_MAX ? n : SORT_BUCKET;
}

int mon_stats_sort(double *x, size_t n) {
  if(n > 0 && x == NULL)
    return MON_STATS_EINVAL;
  if(n < 2)
    return MON_STATS_OK;
  /* The keys replace the doubles in the same memory (same size; accessed
   * through memcpy, so no aliasing of a double as an integer). */
  uint64_t kmin = UINT64_MAX, kmax = 0;
  for(size_t i = 0; i < n; i++) {
    const uint64_t k = mon_stats_sort_key(x[i]);
    memcpy(&x[i], &k, sizeof k);
    kmin = k < kmin ? k : kmin;
    kmax = k > kmax ? k : kmax;
  }
  uint64_t *keys = (uint64_t *)(void *)x;
  uint64_t *tmp =
      n > SORT_SMALL && n <= MON_STATS_SORT_LSD_MAX ? malloc(n * sizeof *tmp) : NULL;
  if(kmin == kmax) {
    /* all equal */
  } else if(tmp) {
    sort__keys(keys, tmp, n);
  } else {
    /* Bits above the highest one where min and max differ are shared by
     * every key: start the first digit just below them. */
    const int top = 63 - __builtin_clzll(kmin ^ kmax);
    /* Without the scratch (no memory), the in-place sort goes to the last
     * digit: slower, same order. */
    uint64_t *scratch = malloc(SORT_BUCKET * sizeof *scratch);
    sort__msd(keys, n, top >= 7 ? (unsigned)(top - 7) : 0, scratch);
    free(scratch);
  }
  free(tmp);
  for(size_t i = 0; i < n; i++) {
    uint64_t k;
    memcpy(&k, &x[i], sizeof k);
    const double d = sort_unkey(k);
    memcpy(&x[i], &d, sizeof d);
  }
  return MON_STATS_OK;
}

/* ---------------------------------------------------------------------- */
/* Summaries and quantiles                                                 */
/* ---------------------------------------------------------------------- */

double mon_stats_quantile_sorted(const double *x, size_t n, double p) {
  if(n == 0 || x == NULL)
    return 0.0;
  if(!(p > 0.0))
    p = 0.0;
  if(p > 1.0)
    p = 1.0;
  /* numpy 'linear': virtual index (n - 1) * p, neighbours floor and +1,
   * and numpy's _lerp, which interpolates from the nearer end. */
  const double vi = (double)(n - 1) * p;
  if(vi >= (double)(n - 1))
    return x[n - 1];
  const double prev = floor(vi);
  const size_t i = (size_t)prev;
  const double gamma = vi - prev;
  const double a = x[i], b = x[i + 1];
  const double diff = b - a;
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

int mon_stats_summary_sorted(const double *x, size_t n, mon_summary *out) {
  if(out == NULL || (n > 0 && x == NULL))
    return MON_STATS_EINVAL;
  memset(out, 0, sizeof *out);
  if(n == 0)
    return MON_STATS_INSUFFICIENT;
  out->count = n;
  out->available = true;
  out->min = x[0];
  out->max = x[n - 1];
  /* numpy: mean = sum / n; var = sum((x - mean)^2) / (n - ddof). */
  const double mean = mon__np_sum(x, n) / (double)n;
  const double ss = mon__np_sum_sqdev(x, n, mean);
  out->mean = isfinite(mean) ? mean : 0.0;
  const double sp = sqrt(ss / (double)n);
  out->std_pop = isfinite(sp) ? sp : 0.0;
  if(n >= 2) {
    const double s = sqrt(ss / (double)(n - 1));
    out->std = isfinite(s) ? s : 0.0;
    out->std_available = isfinite(s) && isfinite(mean);
  }
  for(int k = 0; k < MON_STATS_NQUANTILES; k++) {
    const double q = mon_stats_quantile_sorted(x, n, mon_stats_quantile_levels[k]);
    out->q[k] = isfinite(q) ? q : 0.0;
  }
  return MON_STATS_OK;
}

/* ---------------------------------------------------------------------- */
/* Wasserstein                                                             */
/* ---------------------------------------------------------------------- */

int mon_stats_wasserstein(const double *a, size_t na, const double *b, size_t nb,
                          double *out) {
  if(out == NULL)
    return MON_STATS_EINVAL;
  *out = 0.0;
  if((na > 0 && a == NULL) || (nb > 0 && b == NULL))
    return MON_STATS_EINVAL;
  if(na == 0 || nb == 0)
    return MON_STATS_INSUFFICIENT;
  mon__np_stream st;
  mon_ks_result ks;
  mon__two_sample_pass(a, na, b, nb, &ks, &st, NULL, NULL, NULL, NULL, 0);
  const double w = st.acc;
  /* Only values near +-DBL_MAX can overflow the differences. */
  if(!isfinite(w))
    return MON_STATS_INSUFFICIENT;
  *out = w;
  return MON_STATS_OK;
}

double mon_stats_wasserstein_normed(double w, double ref_std_pop) {
  const double s = ref_std_pop > 0.001 ? ref_std_pop : 0.001;
  const double r = w / s;
  return isfinite(r) ? r : 0.0;
}

/* ---------------------------------------------------------------------- */
/* Bins                                                                    */
/* ---------------------------------------------------------------------- */

/* Number of elements of sorted x[0..n) strictly below v. */
static size_t lower_bound(const double *x, size_t n, double v) {
  size_t lo = 0, hi = n;
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(x[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static bool bins_usable(const mon_bins *b) {
  return b != NULL && b->n_bins >= 1 && b->n_bins <= MON_STATS_MAX_BINS;
}

int mon_stats_bins_count_sorted(const mon_bins *bins, const double *x, size_t n,
                                double *counts) {
  if(!bins_usable(bins) || counts == NULL || (n > 0 && x == NULL))
    return MON_STATS_EINVAL;
  /* Bin k holds [e_k, e_k+1); the first also takes x < e_0, the last
   * x >= e_last. So bin k spans [#(x < e_k), #(x < e_k+1)) for the inner
   * edges only. */
  const size_t nb = bins->n_bins;
  size_t prev = 0;
  for(size_t k = 0; k + 1 < nb; k++) {
    const size_t pos = lower_bound(x, n, bins->edges[k + 1]);
    counts[k] += (double)(pos - prev);
    prev = pos;
  }
  counts[nb - 1] += (double)(n - prev);
  return MON_STATS_OK;
}

size_t mon_stats_bins_index(const mon_bins *bins, double x) {
  if(!bins_usable(bins))
    return 0;
  /* Number of inner edges e_1..e_{nb-1} that are <= x. */
  size_t lo = 1, hi = bins->n_bins;
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(bins->edges[mid] <= x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

int mon_stats_bins_count(const mon_bins *bins, const double *x, size_t n,
                         double *counts) {
  if(!bins_usable(bins) || counts == NULL || (n > 0 && x == NULL))
    return MON_STATS_EINVAL;
  for(size_t i = 0; i < n; i++)
    counts[mon_stats_bins_index(bins, x[i])] += 1.0;
  return MON_STATS_OK;
}

int mon_stats_bins_from_sorted(const double *ref, size_t n, size_t n_bins,
                               mon_bins *out) {
  if(out == NULL)
    return MON_STATS_EINVAL;
  memset(out, 0, sizeof *out);
  if(n > 0 && ref == NULL)
    return MON_STATS_EINVAL;
  if(n_bins == 0)
    n_bins = MON_STATS_DEFAULT_BINS;
  if(n_bins > MON_STATS_MAX_BINS)
    return MON_STATS_EINVAL;
  if(n == 0)
    return MON_STATS_INSUFFICIENT;
  /* numpy.linspace(0, 1, n_bins + 1) is k * (1 / n_bins) with the last
   * point set to exactly 1. Quantiles of increasing levels are
   * non-decreasing, so numpy.unique reduces to dropping repeats. */
  const double step = 1.0 / (double)n_bins;
  size_t ne = 0;
  for(size_t k = 0; k <= n_bins; k++) {
    const double q = k == n_bins ? 1.0 : (double)k * step;
    const double e = mon_stats_quantile_sorted(ref, n, q);
    if(ne == 0 || e > out->edges[ne - 1])
      out->edges[ne++] = e;
  }
  if(ne < 2) {
    memset(out, 0, sizeof *out);
    return MON_STATS_INSUFFICIENT;
  }
  out->n_bins = ne - 1;
  mon_stats_bins_count_sorted(out, ref, n, out->ref_counts);
  out->ref_total = (double)n;
  return MON_STATS_OK;
}

/* ---------------------------------------------------------------------- */
/* Statistics on counts                                                    */
/* ---------------------------------------------------------------------- */

static bool counts_valid(const double *c, size_t k) {
  for(size_t i = 0; i < k; i++)
    if(!(c[i] >= 0.0) || !isfinite(c[i]))
      return false;
  return true;
}

/* Evidently's replacement for empty bins of one side (proportions p). */
static void psi_fill_zeroes(double *p, size_t k) {
  double min_nz = INFINITY;
  for(size_t i = 0; i < k; i++)
    if(p[i] != 0.0 && p[i] < min_nz)
      min_nz = p[i];
  if(!isfinite(min_nz))
    return;
  const double eps = min_nz <= 0.0001 ? min_nz / 1e6 : 0.0001;
  for(size_t i = 0; i < k; i++)
    if(p[i] == 0.0)
      p[i] = eps;
}

int mon_stats_psi(const double *ref, const double *cur, size_t k, double *out) {
  if(out == NULL)
    return MON_STATS_EINVAL;
  *out = 0.0;
  if(k > 0 && (ref == NULL || cur == NULL))
    return MON_STATS_EINVAL;
  if(!counts_valid(ref, k) || !counts_valid(cur, k))
    return MON_STATS_EINVAL;
  if(k == 0)
    return MON_STATS_INSUFFICIENT;
  const double sr = mon__np_sum(ref, k), sc = mon__np_sum(cur, k);
  if(!(sr > 0.0) || !(sc > 0.0))
    return MON_STATS_INSUFFICIENT;
  double *buf = malloc(3 * k * sizeof *buf);
  if(buf == NULL)
    return MON_STATS_ENOMEM;
  double *r = buf, *c = buf + k, *t = buf + 2 * k;
  for(size_t i = 0; i < k; i++) {
    r[i] = ref[i] / sr;
    c[i] = cur[i] / sc;
  }
  psi_fill_zeroes(r, k);
  psi_fill_zeroes(c, k);
  for(size_t i = 0; i < k; i++)
    t[i] = (r[i] - c[i]) * log(r[i] / c[i]);
  const double psi = mon__np_sum(t, k);
  free(buf);
  *out = isfinite(psi) && psi > 0.0 ? psi : 0.0;
  return MON_STATS_OK;
}

/* scipy.special.rel_entr for x, y >= 0. */
static double rel_entr(double x, double y) {
  if(x > 0 && y > 0)
    return x * log(x / y);
  return 0.0; /* x == 0 (y >= 0 always here) */
}

int mon_stats_jensenshannon(const double *ref, const double *cur, size_t k,
                            double *out) {
  if(out == NULL)
    return MON_STATS_EINVAL;
  *out = 0.0;
  if(k > 0 && (ref == NULL || cur == NULL))
    return MON_STATS_EINVAL;
  if(!counts_valid(ref, k) || !counts_valid(cur, k))
    return MON_STATS_EINVAL;
  if(k == 0)
    return MON_STATS_INSUFFICIENT;
  const double sp = mon__np_sum(ref, k), sq = mon__np_sum(cur, k);
  if(!(sp > 0.0) || !(sq > 0.0))
    return MON_STATS_INSUFFICIENT;
  double *buf = malloc(2 * k * sizeof *buf);
  if(buf == NULL)
    return MON_STATS_ENOMEM;
  double *left = buf, *right = buf + k;
  for(size_t i = 0; i < k; i++) {
    const double p = ref[i] / sp, q = cur[i] / sq;
    const double m = (p + q) / 2.0;
    left[i] = rel_entr(p, m);
    right[i] = rel_entr(q, m);
  }
  const double js = mon__np_sum(left, k) + mon__np_sum(right, k);
  free(buf);
  const double d = sqrt(js / 2.0);
  *out = isfinite(d) ? d : 0.0; /* sqrt of a -1e-17 residue is NaN */
  return MON_STATS_OK;
}

/* gsl_cdf_chisq_Q(x, dof) through the _e functions, so that an underflow or
 * a domain problem returns a status instead of calling the GSL handler. */
static double chisq_q(double x, double dof) {
  if(!(x > 0.0))
    return 1.0;
  const double a = dof / 2.0, y = x / 2.0;
  gsl_sf_result r;
  int st;
  double q;
  if(y < a) {
    st = gsl_sf_gamma_inc_P_e(a, y, &r);
    q = 1 - r.val;
  } else {
    st = gsl_sf_gamma_inc_Q_e(a, y, &r);
    q = r.val;
  }
  if(st != GSL_SUCCESS && st != GSL_EUNDRFLW)
    return y > a ? 0.0 : 1.0;
  if(!isfinite(q))
    return y > a ? 0.0 : 1.0;
  return mon__clip01(q);
}

static void test_result_init(mon_test_result *r) {
  r->statistic = 0.0;
  r->pvalue = 1.0;
  r->dof = 0.0;
  r->available = false;
  r->pseudo_counts = false;
}

/* What both chi-squared tests check first: out reset, valid counts. */
static int chisq_begin(const double *ref, const double *cur, size_t k,
                       mon_test_result *out) {
  if(out == NULL)
    return MON_STATS_EINVAL;
  test_result_init(out);
  if(k > 0 && (ref == NULL || cur == NULL))
    return MON_STATS_EINVAL;
  if(!counts_valid(ref, k) || !counts_valid(cur, k))
    return MON_STATS_EINVAL;
  return MON_STATS_OK;
}

/* Records statistic stat over kk categories (dof kk - 1) and its p-value. */
static int chisq_end(mon_test_result *out, double stat, size_t kk) {
  if(!isfinite(stat))
    return MON_STATS_INSUFFICIENT;
  out->statistic = stat;
  out->dof = (double)(kk - 1);
  out->pvalue = chisq_q(stat, out->dof);
  out->available = true;
  return MON_STATS_OK;
}

int mon_stats_chisquare(const double *ref, const double *cur, size_t k,
                        mon_test_result *out) {
  int rc = chisq_begin(ref, cur, k, out);
  if(rc != MON_STATS_OK)
    return rc;
  double *buf = malloc((3 * k + 1) * sizeof *buf);
  if(buf == NULL)
    return MON_STATS_ENOMEM;
  double *r = buf, *c = buf + k, *t = buf + 2 * k;
  size_t kk = 0;
  bool unseen = false;
  for(size_t i = 0; i < k; i++) {
    if(ref[i] == 0.0 && cur[i] == 0.0)
      continue; /* not in the union */
    r[kk] = ref[i];
    c[kk] = cur[i];
    if(ref[i] == 0.0)
      unseen = true;
    kk++;
  }
  if(kk < 2 || !(mon__np_sum(c, kk) > 0.0) || !(mon__np_sum(r, kk) > 0.0)) {
    free(buf);
    return MON_STATS_INSUFFICIENT;
  }
  if(unseen) {
    /* A category never seen in the reference would have expectation 0 and
     * an infinite statistic: smooth the reference with 0.5 per category. */
    for(size_t i = 0; i < kk; i++)
      r[i] += 0.5;
    out->pseudo_counts = true;
  }
  const double n_cur = mon__np_sum(c, kk), n_ref = mon__np_sum(r, kk);
  const double k_norm = n_cur / n_ref;
  for(size_t i = 0; i < kk; i++) {
    const double e = r[i] * k_norm;
    const double d = c[i] - e;
    t[i] = d * d / e;
  }
  const double stat = mon__np_sum(t, kk);
  free(buf);
  return chisq_end(out, stat, kk);
}

int mon_stats_chisquare_2sample(const double *ref, const double *cur, size_t k,
                                mon_test_result *out) {
  int rc = chisq_begin(ref, cur, k, out);
  if(rc != MON_STATS_OK)
    return rc;
  double *t = malloc((2 * k + 1) * sizeof *t);
  if(t == NULL)
    return MON_STATS_ENOMEM;
  size_t kk = 0;
  double n_ref = 0, n_cur = 0;
  for(size_t i = 0; i < k; i++) {
    if(ref[i] == 0.0 && cur[i] == 0.0)
      continue; /* not in the union */
    kk++;
    n_ref += ref[i];
    n_cur += cur[i];
  }
  if(kk < 2 || !(n_ref > 0.0) || !(n_cur > 0.0)) {
    free(t);
    return MON_STATS_INSUFFICIENT;
  }
  const double n = n_ref + n_cur;
  size_t j = 0;
  for(size_t i = 0; i < k; i++) {
    const double col = ref[i] + cur[i];
    if(col == 0.0)
      continue;
    const double er = n_ref * col / n, ec = n_cur * col / n;
    t[j++] = (ref[i] - er) * (ref[i] - er) / er;
    t[j++] = (cur[i] - ec) * (cur[i] - ec) / ec;
  }
  assert(j == 2 * kk);
  const double stat = mon__np_sum(t, j);
  free(t);
  return chisq_end(out, stat, kk);
}

int mon_stats_ztest_2prop(double ref_a, double ref_n, double cur_a, double cur_n,
                          mon_test_result *out) {
  if(out == NULL)
    return MON_STATS_EINVAL;
  test_result_init(out);
  if(!(ref_a >= 0 && cur_a >= 0 && ref_n >= ref_a && cur_n >= cur_a) ||
     !isfinite(ref_n) || !isfinite(cur_n))
    return MON_STATS_EINVAL;
  if(!(ref_n > 0) || !(cur_n > 0))
    return MON_STATS_INSUFFICIENT;
  const double p1 = ref_a / ref_n, p2 = cur_a / cur_n;
  const double P = (p1 * ref_n + p2 * cur_n) / (ref_n + cur_n);
  const double var = P * (1 - P) * (1.0 / ref_n + 1.0 / cur_n);
  if(!(var > 0.0))
    return MON_STATS_INSUFFICIENT;
  const double z = (p1 - p2) / sqrt(var);
  if(!isfinite(z))
    return MON_STATS_INSUFFICIENT;
  out->statistic = z;
  out->pvalue = mon__clip01(2 * gsl_cdf_ugaussian_Q(fabs(z)));
  out->available = true;
  return MON_STATS_OK;
}

/* ---------------------------------------------------------------------- */
/* Methods and verdicts                                                    */
/* ---------------------------------------------------------------------- */

static const struct {
  mon_drift_method method;
  const char *name;
} method_names[] = {
    {MON_DRIFT_AUTO, "auto"},
    {MON_DRIFT_KS, "ks"},
    {MON_DRIFT_WASSERSTEIN, "wasserstein"},
    {MON_DRIFT_CHISQUARE, "chisquare"},
    {MON_DRIFT_ZTEST, "ztest"},
    {MON_DRIFT_JENSENSHANNON, "jensenshannon"},
    {MON_DRIFT_PSI, "psi"},
};

const char *mon_stats_method_name(mon_drift_method method) {
  for(size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
    if(method_names[i].method == method)
      return method_names[i].name;
  return "unknown";
}

int mon_stats_method_from_name(const char *name, mon_drift_method *out) {
  if(name == NULL || out == NULL)
    return MON_STATS_EINVAL;
  for(size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
    if(strcmp(method_names[i].name, name) == 0) {
      *out = method_names[i].method;
      return MON_STATS_OK;
    }
  return MON_STATS_EINVAL;
}

mon_drift_method mon_stats_default_method(mon_column_kind kind, size_t n_ref,
                                          size_t n_values) {
  const bool small = n_ref <= 1000;
  if(kind == MON_COLUMN_NUMERIC && n_values > MON_STATS_MAX_CATEGORICAL_VALUES)
    return small ? MON_DRIFT_KS : MON_DRIFT_WASSERSTEIN;
  if(!small)
    return MON_DRIFT_JENSENSHANNON;
  return n_values > 2 ? MON_DRIFT_CHISQUARE : MON_DRIFT_ZTEST;
}

double mon_stats_default_threshold(mon_drift_method method) {
  switch(method) {
  case MON_DRIFT_WASSERSTEIN:
  case MON_DRIFT_JENSENSHANNON:
  case MON_DRIFT_PSI:
    return 0.1;
  default:
    return 0.05;
  }
}

bool mon_stats_method_is_pvalue(mon_drift_method method) {
  return method == MON_DRIFT_KS || method == MON_DRIFT_CHISQUARE ||
         method == MON_DRIFT_ZTEST;
}

bool mon_stats_is_drifted(mon_drift_method method, double score, double threshold) {
  if(!isfinite(score) || !isfinite(threshold))
    return false;
  switch(method) {
  case MON_DRIFT_KS:
    return score <= threshold; /* docs/drift.md: p <= 0.05 */
  case MON_DRIFT_CHISQUARE:
  case MON_DRIFT_ZTEST:
    return score < threshold; /* docs/drift.md: p < 0.05 */
  case MON_DRIFT_WASSERSTEIN:
  case MON_DRIFT_JENSENSHANNON:
  case MON_DRIFT_PSI:
    return score >= threshold;
  default:
    return false;
  }
}

bool mon_stats_dataset_drifted(size_t n_drifted, size_t n_columns, double share) {
  if(n_columns == 0)
    return false;
  if(!(share > 0.0))
    share = 0.5;
  return (double)n_drifted / (double)n_columns >= share;
}

/* ---------------------------------------------------------------------- */
/* Per-column drift                                                        */
/* ---------------------------------------------------------------------- */

static void drift_result_init(mon_drift_result *out) {
  memset(out, 0, sizeof *out);
  out->status = MON_STATS_INSUFFICIENT;
  out->ks.pvalue = 1.0;
  out->ks.sign = 1;
  test_result_init(&out->chisquare);
  test_result_init(&out->ztest);
}

static void drift_choose(mon_drift_result *out, const mon_drift_options *opt,
                         mon_column_kind kind, size_t n_ref) {
  out->method = opt->method != MON_DRIFT_AUTO
                    ? opt->method
                    : mon_stats_default_method(kind, n_ref, out->n_values);
  out->threshold = opt->threshold > 0.0 && isfinite(opt->threshold)
                       ? opt->threshold
                       : mon_stats_default_threshold(out->method);
  out->score = mon_stats_method_is_pvalue(out->method) ? 1.0 : 0.0;
}

/* Picks the chosen method's score and the verdict. */
static int drift_verdict(mon_drift_result *out) {
  bool ok = false;
  double s = 0.0;
  switch(out->method) {
  case MON_DRIFT_KS:
    ok = out->ks_pvalue_ok, s = out->ks.pvalue;
    break;
  case MON_DRIFT_WASSERSTEIN:
    ok = out->wasserstein_ok, s = out->wasserstein_norm;
    break;
  case MON_DRIFT_CHISQUARE:
    ok = out->chisquare.available, s = out->chisquare.pvalue;
    break;
  case MON_DRIFT_ZTEST:
    ok = out->ztest.available, s = out->ztest.pvalue;
    break;
  case MON_DRIFT_JENSENSHANNON:
    ok = out->jensenshannon_ok, s = out->jensenshannon;
    break;
  case MON_DRIFT_PSI:
    ok = out->psi_ok, s = out->psi;
    break;
  default:
    break;
  }
  if(!ok || !isfinite(s)) {
    out->score = mon_stats_method_is_pvalue(out->method) ? 1.0 : 0.0;
    out->drifted = false;
    out->status = MON_STATS_INSUFFICIENT;
    return MON_STATS_INSUFFICIENT;
  }
  out->score = s;
  out->drifted = mon_stats_is_drifted(out->method, s, out->threshold);
  out->status = MON_STATS_OK;
  return MON_STATS_OK;
}

/* PSI, JS and (when wanted) chi-squared / Z over aligned counts. */
static int drift_on_counts(mon_drift_result *out, const double *ref,
                           const double *cur, size_t k, bool want_chi, bool want_z,
                           bool two_sample) {
  int rc = mon_stats_psi(ref, cur, k, &out->psi);
  if(rc < 0)
    return rc;
  out->psi_ok = rc == MON_STATS_OK;
  rc = mon_stats_jensenshannon(ref, cur, k, &out->jensenshannon);
  if(rc < 0)
    return rc;
  out->jensenshannon_ok = rc == MON_STATS_OK;
  if(want_chi) {
    rc = two_sample ? mon_stats_chisquare_2sample(ref, cur, k, &out->chisquare)
                    : mon_stats_chisquare(ref, cur, k, &out->chisquare);
    if(rc < 0)
      return rc;
  }
  if(want_z) {
    /* Two categories of the union: the first one is "a". */
    size_t first = k, n_cat = 0;
    double rn = 0, cn = 0;
    for(size_t i = 0; i < k; i++) {
      if(ref[i] == 0.0 && cur[i] == 0.0)
        continue;
      if(first == k)
        first = i;
      n_cat++;
      rn += ref[i];
      cn += cur[i];
    }
    if(n_cat == 2) {
      rc = mon_stats_ztest_2prop(ref[first], rn, cur[first], cn, &out->ztest);
      if(rc < 0)
        return rc;
    }
  }
  return MON_STATS_OK;
}

int mon_stats_numeric_drift(const double *ref, size_t nr, const double *cur,
                            size_t nc, const mon_bins *bins,
                            const mon_drift_options *opt, mon_drift_result *out) {
  static const mon_drift_options defaults = {0};
  if(out == NULL)
    return MON_STATS_EINVAL;
  drift_result_init(out);
  if((nr > 0 && ref == NULL) || (nc > 0 && cur == NULL))
    return MON_STATS_EINVAL;
  if(bins != NULL && !bins_usable(bins))
    bins = NULL;
  if(opt == NULL)
    opt = &defaults;
  int rc = mon_stats_summary_sorted(ref, nr, &out->ref);
  if(rc < 0)
    return rc;
  rc = mon_stats_summary_sorted(cur, nc, &out->cur);
  if(rc < 0)
    return rc;
  if(nr == 0 || nc == 0) {
    drift_choose(out, opt, MON_COLUMN_NUMERIC, nr);
    return MON_STATS_INSUFFICIENT;
  }

  /* One merge pass: KS statistic, Wasserstein terms, distinct values. */
  enum { CAP = MON_STATS_MAX_CATEGORICAL_VALUES + 1 };
  double vals[CAP], vca[CAP], vcb[CAP];
  mon__np_stream st;
  mon__two_sample_pass(ref, nr, cur, nc, &out->ks, &st, &out->n_values, vals, vca,
                       vcb, CAP);
  out->ks_ok = true;
  out->wasserstein = st.acc;
  out->wasserstein_ok = isfinite(out->wasserstein);
  if(!out->wasserstein_ok)
    out->wasserstein = 0.0;
  out->wasserstein_norm =
      mon_stats_wasserstein_normed(out->wasserstein, out->ref.std_pop);

  out->as_categories = out->n_values <= MON_STATS_MAX_CATEGORICAL_VALUES;
  drift_choose(out, opt, MON_COLUMN_NUMERIC, nr);
  if(out->as_categories) {
    /* Few distinct values: compare value counts, as for a categorical
     * column (both tests are cheap on <= 5 counts). */
    rc = drift_on_counts(out, vca, vcb, out->n_values, true, out->n_values == 2,
                         opt->two_sample);
  } else {
    /* Chi-squared or Z over the reference bins only when asked for. */
    const bool want_chi = out->method == MON_DRIFT_CHISQUARE;
    const bool want_z = out->method == MON_DRIFT_ZTEST;
    mon_bins local;
    if(bins == NULL) {
      rc = mon_stats_bins_from_sorted(ref, nr, opt->psi_bins, &local);
      if(rc < 0)
        return rc;
      bins = rc == MON_STATS_OK ? &local : NULL;
    }
    if(bins != NULL) {
      double cur_counts[MON_STATS_MAX_BINS] = {0};
      mon_stats_bins_count_sorted(bins, cur, nc, cur_counts);
      rc = drift_on_counts(out, bins->ref_counts, cur_counts, bins->n_bins, want_chi,
                           want_z, opt->two_sample);
    }
  }
  if(rc < 0)
    return rc;

  if(out->method == MON_DRIFT_KS || opt->all_pvalues) {
    mon_ks_method m;
    double d = out->ks.statistic;
    const double p = mon_stats_ks_pvalue(nr, nc, out->ks.statistic, &d, &m);
    if(m == MON_KS_NONE)
      return MON_STATS_ENOMEM;
    out->ks.statistic = d;
    out->ks.pvalue = p;
    out->ks.method = m;
    out->ks_pvalue_ok = true;
  }
  return drift_verdict(out);
}

int mon_stats_categorical_drift(const double *ref, const double *cur, size_t k,
                                const mon_drift_options *opt,
                                mon_drift_result *out) {
  static const mon_drift_options defaults = {0};
  if(out == NULL)
    return MON_STATS_EINVAL;
  drift_result_init(out);
  if(k > 0 && (ref == NULL || cur == NULL))
    return MON_STATS_EINVAL;
  if(!counts_valid(ref, k) || !counts_valid(cur, k))
    return MON_STATS_EINVAL;
  if(opt == NULL)
    opt = &defaults;
  out->as_categories = true;
  double n_ref = 0, n_cur = 0;
  for(size_t i = 0; i < k; i++) {
    if(ref[i] == 0.0 && cur[i] == 0.0)
      continue;
    out->n_values++;
    n_ref += ref[i];
    n_cur += cur[i];
  }
  drift_choose(out, opt, MON_COLUMN_CATEGORICAL, (size_t)n_ref);
  if(!(n_ref > 0) || !(n_cur > 0))
    return MON_STATS_INSUFFICIENT;
  int rc =
      drift_on_counts(out, ref, cur, k, true, out->n_values == 2, opt->two_sample);
  if(rc < 0)
    return rc;
  return drift_verdict(out);
}
