/* monitor/stats_ks.c - two-sample Kolmogorov-Smirnov statistic and p-value.
 *
 * The p-value reproduces scipy 1.10.1's ks_2samp(method='auto'): the exact
 * lattice-path computation for max(n1, n2) <= 10000 and kstwo.sf otherwise,
 * where kstwo.sf is scipy's kolmogn (Simard & L'Ecuyer 2011). Wherever scipy
 * evaluates a formula in a fixed order with doubles, the same operations are
 * done here in the same order, so results usually agree to the last bit;
 * where scipy relies on BLAS or numpy.convolve (matrix power, Pomeranz) or on
 * double-double arithmetic (cephes smirnov), the same mathematics is computed
 * to at least double accuracy and agreement is to ~1e-14 relative.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* lgammal_r (the build passes -D_GNU_SOURCE anyway) */
#endif
#include "monitor/stats.h"

#include <assert.h>
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/stats_internal.h"

/* scipy's MAX_AUTO_N: above this, 'auto' uses the asymptotic kstwo path. */
#define KS_MAX_AUTO_N 10000

/* ---------------------------------------------------------------------- */
/* Statistic                                                               */
/* ---------------------------------------------------------------------- */

static void ks_result_init(mon_ks_result *out) {
  out->statistic = 0.0;
  out->pvalue = 1.0;
  out->location = 0.0;
  out->sign = 1;
  out->method = MON_KS_NONE;
}

/* The merge of pass_runs, a chunk at a time: the merged values v[0..m),
 * after each the CDF difference d and how many values of a and of b were
 * taken (ci, cj); v[m] is the next merged value (INFINITY past the end). */
#define TS_CHUNK 256
struct ts_merge {
  const double *a, *b;
  size_t na, nb, i, j;
  double x, y;   /* heads: a[i], b[j], INFINITY past the end */
  double fa, fb; /* na, nb */
  double qa, qb; /* i / fa and j / fb */
};

/* One sample much larger than the other: long runs come from one side,
 * copied by a loop whose loads do not wait for the comparisons (the
 * branch that ends a run is mispredicted once per run, not per value),
 * with the CDF difference after each value: within a run of a's values
 * only a's CDF moves (count / n, the same division as pass_fused), b's
 * keeps its value, and the other way round. The order is pass_fused's: a
 * on ties, b's value only when strictly below a's head. */
static size_t ts_merge_runs(struct ts_merge *mg, size_t m, double *v, double *d,
                            size_t *ci, size_t *cj) {
  const double *a = mg->a, *b = mg->b;
  const size_t na = mg->na, nb = mg->nb;
  const double fa = mg->fa, fb = mg->fb;
  size_t i = mg->i, j = mg->j, t = 0;
  double x = mg->x, y = mg->y, qa = mg->qa, qb = mg->qb;
  while(t < m) {
    if(x <= y) {
      /* Counts are below 2^53: the signed conversion is exact. */
      while(t < m && i < na && a[i] <= y) {
        v[t] = a[i++];
        d[t] = (double)(int64_t)i / fa - qb;
        ci[t] = i;
        cj[t++] = j;
      }
      qa = (double)(int64_t)i / fa;
      x = i < na ? a[i] : INFINITY;
    } else {
      while(t < m && j < nb && b[j] < x) {
        v[t] = b[j++];
        d[t] = qa - (double)(int64_t)j / fb;
        ci[t] = i;
        cj[t++] = j;
      }
      qb = (double)(int64_t)j / fb;
      y = j < nb ? b[j] : INFINITY;
    }
    if(i == na && j == nb)
      break;
  }
  mg->i = i, mg->j = j, mg->x = x, mg->y = y, mg->qa = qa, mg->qb = qb;
  return t;
}

/* The KS statistic from the extremes of F_a - F_b over values present in
 * a and in b (scipy's argmax/argmin: the first index attaining it, a value
 * of a before one only in b). */
static void ks_extremes(mon_ks_result *ks, double max_a, double lmax_a, double min_a,
                        double lmin_a, double max_b, double lmax_b, double min_b,
                        double lmin_b) {
  const double max_s = max_a >= max_b ? max_a : max_b;
  const double loc_max = max_a >= max_b ? lmax_a : lmax_b;
  const double min_d = min_a <= min_b ? min_a : min_b;
  const double loc_min = min_a <= min_b ? lmin_a : lmin_b;
  const double min_s = mon__clip01(-min_d);
  ks_result_init(ks);
  if(min_s > max_s) {
    ks->statistic = min_s;
    ks->location = loc_min;
    ks->sign = -1;
  } else {
    ks->statistic = max_s;
    ks->location = loc_max;
    ks->sign = 1;
  }
}

/* Not inlined into mon__two_sample_pass (nor is pass_runs): inlined
 * together, the fused loop ran 1.2x slower here (GCC 12 -O2). */
__attribute__((noinline)) static void
pass_fused(const double *a, size_t na, const double *b, size_t nb, mon_ks_result *ks,
           mon__np_stream *w, size_t *n_distinct, double *vals, double *ca,
           double *cb, size_t cap) {
  /* scipy evaluates cdf_a - cdf_b at every element of concat(a, b) and takes
   * argmax/argmin, i.e. the first index attaining the extremum: a value from
   * `a` wins over one only in `b`, and within a part the smallest value wins.
   * We track the extremes separately over values present in a and in b.
   *
   * The loop has no data-dependent branch in its common path (a branchy
   * merge of two interleaved samples mispredicts about every other step):
   * each step takes the smaller head (a on ties), then looks at the new
   * heads to know whether a run of equal values ends here. (Running two
   * merge-path halves in lock-step was measured: only ~20% faster, not
   * worth the bookkeeping.) */
  const double fa = (double)na, fb = (double)nb;
  const size_t n = na + nb;
  double max_a = -INFINITY, max_b = -INFINITY, min_a = INFINITY, min_b = INFINITY;
  double lmax_a = 0, lmax_b = 0, lmin_a = 0, lmin_b = 0;
  size_t i = 0, j = 0, i0 = 0, j0 = 0, nd = 0;
  int has_a = 0, has_b = 0;
  double x = a[0], y = b[0];
  double qa = 0.0, qb = 0.0; /* i / fa and j / fb */
  if(w != NULL)
    mon__np_stream_init(w, n - 1);
  for(size_t k = 0; k < n; k++) {
    const int ta = x <= y;
    const double v = ta ? x : y;
    i += (size_t)ta;
    j += (size_t)!ta;
    has_a |= ta;
    has_b |= !ta;
    x = i < na ? a[i] : INFINITY; /* inputs are finite: inf is a sentinel */
    y = j < nb ? b[j] : INFINITY;
    const double next = x <= y ? x : y;
    /* Same rounding as scipy: each CDF is count / n, then the difference.
     * Only the count that moved is divided again: one division a step
     * instead of two (the division bounded the loop). */
    const double q = (double)(ta ? i : j) / (ta ? fa : fb);
    qa = ta ? q : qa;
    qb = ta ? qb : q;
    const double diff = qa - qb;
    /* Wasserstein: scipy's term k is |F_a - F_b|(all[k]) * (all[k+1] -
     * all[k]); inside a run of ties the width is 0, so the partial counts
     * used there do not matter, but the zero terms are kept: they shape
     * numpy's pairwise summation. */
    if(w != NULL && k + 1 < n)
      mon__np_stream_add(w, fabs(diff) * (next - v));
    if(next != v) { /* end of a run of values equal to v */
      /* Whether the run holds a or b values is a coin flip for interleaved
       * samples; a new extreme is rare. Test the rare condition with & so
       * the only branch is a well-predicted one. */
      if((diff > max_a) & has_a)
        max_a = diff, lmax_a = v;
      if((diff < min_a) & has_a)
        min_a = diff, lmin_a = v;
      if((diff > max_b) & has_b)
        max_b = diff, lmax_b = v;
      if((diff < min_b) & has_b)
        min_b = diff, lmin_b = v;
      if(nd < cap) {
        vals[nd] = v;
        ca[nd] = (double)(i - i0);
        cb[nd] = (double)(j - j0);
      }
      nd++;
      i0 = i;
      j0 = j;
      has_a = has_b = 0;
    }
  }
  if(n_distinct != NULL)
    *n_distinct = nd;
  ks_extremes(ks, max_a, lmax_a, min_a, lmin_a, max_b, lmax_b, min_b, lmin_b);
}

__attribute__((noinline)) static void pass_runs(const double *a, size_t na,
                                                const double *b, size_t nb,
                                                mon_ks_result *ks, mon__np_stream *w,
                                                size_t *n_distinct, double *vals,
                                                double *ca, double *cb, size_t cap) {
  /* As pass_fused, two passes a chunk of TS_CHUNK merged values at a
   * time: the merge by runs with the CDF differences (ts_merge_runs), then
   * the Wasserstein terms and the ends of runs of equal values over the
   * chunk, in loops without the merge's dependency chain. Every value is
   * computed by the same operations in the same order as pass_fused does:
   * count / n for the CDF that moved (the other keeps its value), then the
   * difference, then the term; terms reach numpy's pairwise sum in merge
   * order. */
  const size_t n = na + nb;
  double max_a = -INFINITY, max_b = -INFINITY, min_a = INFINITY, min_b = INFINITY;
  double lmax_a = 0, lmax_b = 0, lmin_a = 0, lmin_b = 0;
  size_t i0 = 0, j0 = 0, nd = 0;
  if(w != NULL)
    mon__np_stream_init(w, n - 1);
  struct ts_merge mg = {a,    b,    na,         nb,         0,   0,
                        a[0], b[0], (double)na, (double)nb, 0.0, 0.0};
  double v[TS_CHUNK + 1], d[TS_CHUNK], term[TS_CHUNK];
  size_t ci[TS_CHUNK], cj[TS_CHUNK];
  for(size_t k0 = 0; k0 < n;) {
    size_t m = n - k0 < TS_CHUNK ? n - k0 : TS_CHUNK;
    m = ts_merge_runs(&mg, m, v, d, ci, cj);
    assert(m > 0);
    v[m] = mg.x <= mg.y ? mg.x : mg.y; /* the next value (inf at the end) */
    if(w != NULL) {
      /* Wasserstein: scipy's term k is |F_a - F_b|(all[k]) * (all[k+1] -
       * all[k]); inside a run of ties the width is 0, so the partial
       * counts used there do not matter, but the zero terms are kept: they
       * shape numpy's pairwise summation. No term after the last value. */
      size_t mt = k0 + m == n ? m - 1 : m;
      for(size_t t = 0; t < mt; t++)
        term[t] = fabs(d[t]) * (v[t + 1] - v[t]);
      mon__np_stream_add_n(w, term, mt);
    }
    /* The ends of runs of equal values: the KS extremes there, the
     * distinct values and their counts. A chunk whose differences all lie
     * within the extremes so far (the usual case once they are found)
     * changes none of them: then only the run ends are counted, in a loop
     * the compiler vectorises. */
    double dmax = d[0], dmin = d[0];
    for(size_t t = 1; t < m; t++) {
      dmax = d[t] > dmax ? d[t] : dmax;
      dmin = d[t] < dmin ? d[t] : dmin;
    }
    if(nd >= cap && dmax <= max_a && dmax <= max_b && dmin >= min_a &&
       dmin >= min_b) {
      size_t ends = 0;
      for(size_t t = 0; t < m; t++)
        ends += v[t + 1] != v[t];
      nd += ends;
      for(size_t t = m; ends > 0 && t-- > 0;)
        if(v[t + 1] != v[t]) {
          i0 = ci[t];
          j0 = cj[t];
          break;
        }
      k0 += m;
      continue;
    }
    for(size_t t = 0; t < m; t++) {
      if(v[t + 1] == v[t])
        continue; /* inside a run of values equal to v[t] */
      const double diff = d[t], x = v[t];
      const int has_a = ci[t] != i0, has_b = cj[t] != j0;
      /* A new extreme is rare: test it with & so the only branch is a
       * well-predicted one. */
      if((diff > max_a) & has_a)
        max_a = diff, lmax_a = x;
      if((diff < min_a) & has_a)
        min_a = diff, lmin_a = x;
      if((diff > max_b) & has_b)
        max_b = diff, lmax_b = x;
      if((diff < min_b) & has_b)
        min_b = diff, lmin_b = x;
      if(nd < cap) {
        vals[nd] = x;
        ca[nd] = (double)(ci[t] - i0);
        cb[nd] = (double)(cj[t] - j0);
      }
      nd++;
      i0 = ci[t];
      j0 = cj[t];
    }
    k0 += m;
  }
  if(n_distinct != NULL)
    *n_distinct = nd;
  ks_extremes(ks, max_a, lmax_a, min_a, lmin_a, max_b, lmax_b, min_b, lmin_b);
}

int mon__two_sample_pass(const double *a, size_t na, const double *b, size_t nb,
                         mon_ks_result *ks, mon__np_stream *w, size_t *n_distinct,
                         double *vals, double *ca, double *cb, size_t cap) {
  /* One sample much larger than the other (a report's window against a
   * small reference, or the reverse): its long runs are merged without
   * the per-value dependency chain (measured on 5,000 + 1,400,000 values:
   * 1.3x for the whole pass, 2x without Wasserstein). Samples of similar
   * size interleave: there the fused loop is faster (by 1.25x at 100,000 +
   * 100,000). Both give the same bits. */
  if(na > 8 * nb || nb > 8 * na)
    pass_runs(a, na, b, nb, ks, w, n_distinct, vals, ca, cb, cap);
  else
    pass_fused(a, na, b, nb, ks, w, n_distinct, vals, ca, cb, cap);
  return MON_STATS_OK;
}

int mon_stats_ks_statistic(const double *a, size_t na, const double *b, size_t nb,
                           mon_ks_result *out) {
  if(out == NULL)
    return MON_STATS_EINVAL;
  ks_result_init(out);
  if((na > 0 && a == NULL) || (nb > 0 && b == NULL))
    return MON_STATS_EINVAL;
  if(na == 0 || nb == 0)
    return MON_STATS_INSUFFICIENT;
  return mon__two_sample_pass(a, na, b, nb, out, NULL, NULL, NULL, NULL, NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* Exact two-sample p-value                                                */
/* ---------------------------------------------------------------------- */

static long ks_gcd(long a, long b) {
  while(b != 0) {
    long t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Python's // for a positive divisor. */
static long ks_floor_div(long x, long d) {
  long q = x / d;
  if(x % d != 0 && x < 0)
    q--;
  return q;
}

static long ks_ceil_div(long x, long d) { return -ks_floor_div(-x, d); }

/* Pr(D_{n,n} >= h/n): scipy's _compute_prob_outside_square, a Horner-like
 * alternating sum of binomial ratios. Same operation order as scipy. */
static double ks_prob_outside_square(long n, long h) {
  double P = 0.0;
  long k = n / h; /* np.floor(n / h) for positive ints */
  for(; k >= 0; k--) {
    double p1 = 1.0;
    for(long j = 0; j < h; j++) {
      p1 = (double)(n - k * h - j) * p1 / (double)(n + k * h + j + 1);
      /* Once a factor is zero the product stays (signed) zero, and a signed
       * zero gives the same P below. */
      if(p1 == 0.0)
        break;
    }
    P = p1 * (1.0 - P);
  }
  return 2 * P;
}

/* One column of the recursion below. */
typedef struct ks_col {
  long i;    /* column index, 1..m */
  long minj; /* window [minj, maxj) of rows kept */
  long len;  /* maxj - minj */
  long off;  /* minj - previous column's minj (>= 0) */
  long prevlen;
  double val; /* running value along the column */
} ks_col;

/* Window of column i; false when it is empty (scipy then returns 1.0). */
static bool ks_col_init(ks_col *c, const ks_col *prev, long i, long n, long ng,
                        long mg, long h) {
  long minj = ks_floor_div(ng * i - h, mg) + 1;
  if(minj < 0)
    minj = 0;
  if(minj > n)
    minj = n;
  long maxj = ks_ceil_div(ng * i + h, mg);
  if(maxj > n + 1)
    maxj = n + 1;
  if(maxj <= minj)
    return false;
  c->i = i;
  c->minj = minj;
  c->len = maxj - minj;
  c->off = minj - prev->minj;
  c->prevlen = prev->len;
  c->val = minj == 0 ? 0.0 : 1.0;
  return true;
}

/* Element jj of column c: reads the previous column at jj + off (or the
 * carried-over 1.0 past the buffer, which scipy never reaches). */
static inline void ks_col_step(ks_col *c, double *A, long lenA, long jj) {
  const long j = jj + c->minj;
  const long src = jj + c->off;
  const double prev = src < lenA ? A[src] : 1.0;
  c->val = (prev * (double)c->i + c->val * (double)j) / (double)(c->i + j);
  A[jj] = c->val;
}

/* After a column: rows that left the window carry 1.0 (scipy's fill). */
static void ks_col_finish(const ks_col *c, double *A, long lenA) {
  if(c->prevlen > c->len) {
    long end = c->prevlen;
    if(end > lenA)
      end = lenA;
    for(long k = c->len; k < end; k++)
      A[k] = 1.0;
  }
}

/* Proportion of lattice paths from (0,0) to (m,n) that leave the band
 * |x/m - y/n| < h/lcm(m,n): scipy's _compute_outer_prob_inside_method
 * (Hodges 1958 with Viehmann's 2021 recursion for 1 - p). Every value is
 * computed with the same operations in the same order as scipy, so the
 * result is bit-identical; for speed two columns are computed at once (a
 * wavefront: column i+1 trails column i by its window shift), which hides
 * the latency of the division chain without changing any value.
 * Returns MON_STATS_ENOMEM if the column buffer cannot be allocated. */
static int ks_outer_prob_inside(long m, long n, long g, long h, double *out) {
  if(m < n) {
    long t = m;
    m = n;
    n = t;
  }
  const long mg = m / g, ng = n / g;
  long maxj0 = ks_ceil_div(h, mg);
  if(maxj0 > n + 1)
    maxj0 = n + 1;
  long lenA = 2 * maxj0 + 2;
  if(lenA > n + 1)
    lenA = n + 1;
  double *A = malloc((size_t)lenA * sizeof *A);
  if(A == NULL)
    return MON_STATS_ENOMEM;
  for(long k = 0; k < lenA; k++)
    A[k] = k < maxj0 ? 0.0 : 1.0;

  ks_col prev = {.i = 0, .minj = 0, .len = maxj0};
  ks_col c1, c2;
  long i = 1;
  while(i <= m) {
    if(!ks_col_init(&c1, &prev, i, n, ng, mg, h))
      goto band_left;
    if(i == m) { /* last, unpaired column */
      for(long jj = 0; jj < c1.len; jj++)
        ks_col_step(&c1, A, lenA, jj);
      ks_col_finish(&c1, A, lenA);
      prev = c1;
      break;
    }
    if(!ks_col_init(&c2, &c1, i + 1, n, ng, mg, h))
      goto band_left;
    /* Wavefront: after c1 writes row t, c2 can do row t - c2.off, which
     * reads exactly that value; c2 only writes rows c1 has finished with. */
    const long lag = c2.off;
    const long both = c1.len < c2.len + lag ? c1.len : c2.len + lag;
    long t = 0;
    for(; t < lag && t < c1.len; t++)
      ks_col_step(&c1, A, lenA, t);
    for(; t < both; t++) {
      ks_col_step(&c1, A, lenA, t);
      ks_col_step(&c2, A, lenA, t - lag);
    }
    for(; t < c1.len; t++)
      ks_col_step(&c1, A, lenA, t);
    ks_col_finish(&c1, A, lenA);
    for(long jj = both - lag > 0 ? both - lag : 0; jj < c2.len; jj++)
      ks_col_step(&c2, A, lenA, jj);
    ks_col_finish(&c2, A, lenA);
    prev = c2;
    i += 2;
  }
  *out = A[prev.len - 1];
  free(A);
  return MON_STATS_OK;
band_left:
  free(A);
  *out = 1.0;
  return MON_STATS_OK;
}

/* ---------------------------------------------------------------------- */
/* Smirnov one-sided sf (scipy.special.smirnov)                            */
/* ---------------------------------------------------------------------- */

/* cephes MINLOG = log(2^-1075): below it exp() is 0. */
#define KS_MINLOG (-7.451332191019412076235E2)
#define KS_SMIRNOV_MAX_COMPUTE_N 1000000L

/* log(k!) - log(sqrt(2 pi k) (k/e)^k), Stirling's error, for k >= 1:
 * Loader's series above 15, extended-precision lgamma below. */
static double ks_stirlerr(long k) {
  if(k <= 15) {
    int sign;
    const long double lk = (long double)k;
    return (double)(lgammal_r(lk + 1.0L, &sign) - (lk + 0.5L) * logl(lk) + lk -
                    0.91893853320467274178032973640561764L);
  }
  const double S0 = 1.0 / 12, S1 = 1.0 / 360, S2 = 1.0 / 1260, S3 = 1.0 / 1680,
               S4 = 1.0 / 1188;
  const double kk = (double)k, nn = kk * kk;
  if(k > 500)
    return (S0 - S1 / nn) / kk;
  if(k > 80)
    return (S0 - (S1 - S2 / nn) / nn) / kk;
  if(k > 35)
    return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / kk;
  return (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / kk;
}

/* Loader's deviance term x log(x/np) + np - x, given d = x - np exactly. */
static double ks_bd0(double x, double np, double d) {
  if(fabs(d) < 0.1 * (x + np)) {
    double v = d / (x + np);
    double s = d * v, ej = 2 * x * v;
    v *= v;
    for(int j = 1; j < 1000; j++) {
      ej *= v;
      const double s1 = s + ej / (2 * j + 1);
      if(s1 == s)
        return s1;
      s = s1;
    }
    return s;
  }
  return -x * log1p(-d / x) - d;
}

/* The Smirnov sum's setting: n, x and n*x = nxfl + alpha exactly. */
typedef struct ks_smirnov {
  long n, nxfl;
  double x, alpha, nx, stirl_n;
} ks_smirnov;

/* log A_v, A_v = C(n,v) p^(v-1) q^(n-v) with p = x + v/n, q = 1 - p, for
 * 1 <= v <= n - 1. Written as Binomial(v; n, p) / p and evaluated with
 * Loader's saddle-point form (the one R's dbinom uses), in which every piece
 * has magnitude O(n x) rather than O(n): double precision then keeps each
 * term to ~1e-13 relative even for n = 1e6, where a direct
 * lgamma + (v-1) log p + ... loses everything to cancellation. */
static double ks_smirnov_logterm(const ks_smirnov *s, long v) {
  const double np = (double)(s->nxfl + v) + s->alpha;        /* n p */
  const double nq = (double)(s->n - s->nxfl - v) - s->alpha; /* n q */
  const double fv = (double)v, fw = (double)(s->n - v), fn = (double)s->n;
  const double p = np / fn;
  const double lc = s->stirl_n - ks_stirlerr(v) - ks_stirlerr(s->n - v) -
                    ks_bd0(fv, np, -s->nx) - ks_bd0(fw, nq, s->nx);
  return lc - 0.5 * log(2 * M_PI * fv * (fw / fn) * p * p);
}

/* sum_{v=1}^{last} A_v / A_top, with A_top the largest term, returned with
 * log A_top in *logtop.
 *
 * The terms A_v form one smooth hump (log A_v is ~ -n x^2 / (2 p (1 - p))
 * plus slowly varying parts) that is negligible at both ends whenever
 * n x >~ 15, which holds on every path that calls this with many terms. A
 * sum of samples of such a hump at spacing h equals its integral up to an
 * aliasing error that falls like exp(-c / h), so once the sums at spacings
 * h and h/2 agree to 1e-13 (and the previous pair to 1e-8), the h/2 sum -
 * and a fortiori the unit-spacing sum we want - is within rounding of the
 * integral. We locate the hump (ternary search for its top, bisection for
 * where it drops below 1e-22 of the top), then halve h from about width/32
 * until that happens, ending at worst with the plain unit-step sum. Typical
 * cost is a few hundred terms instead of ~n; the oracle checks the result
 * against scipy over n = 141..300000 and n x^2 = 2.2..370 (max 2.3e-13). */
static double ks_smirnov_hump(const ks_smirnov *s, long last, double *logtop) {
  long lo = 1, hi = last;
  while(hi - lo > 2) {
    const long m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3;
    if(ks_smirnov_logterm(s, m1) < ks_smirnov_logterm(s, m2))
      lo = m1 + 1;
    else
      hi = m2 - 1;
  }
  long top = lo;
  double ftop = ks_smirnov_logterm(s, lo);
  for(long v = lo + 1; v <= hi; v++) {
    const double f = ks_smirnov_logterm(s, v);
    if(f > ftop)
      ftop = f, top = v;
  }
  *logtop = ftop;
  const double cut = ftop - 50.7; /* e^-50.7 ~ 1e-22 */

  /* First v >= 1 and last v <= `last` with log A_v >= cut. */
  long vlo = 1, vhi = last;
  if(ks_smirnov_logterm(s, 1) < cut) {
    long a = 1, b = top; /* f(a) < cut <= f(b) */
    while(b - a > 1) {
      const long m = a + (b - a) / 2;
      if(ks_smirnov_logterm(s, m) < cut)
        a = m;
      else
        b = m;
    }
    vlo = b;
  }
  if(ks_smirnov_logterm(s, last) < cut) {
    long a = top, b = last; /* f(a) >= cut > f(b) */
    while(b - a > 1) {
      const long m = a + (b - a) / 2;
      if(ks_smirnov_logterm(s, m) < cut)
        b = m;
      else
        a = m;
    }
    vhi = a;
  }

  const long width = vhi - vlo + 1;
  long h = 1;
  while(h * 32 <= width)
    h *= 2;
  /* Grid v = top + k h inside [vlo, vhi]. */
  double sum = 0.0, prev = -1.0;
  for(long v = top - ((top - vlo) / h) * h; v <= vhi; v += h)
    sum += exp(ks_smirnov_logterm(s, v) - ftop);
  double est = sum * (double)h;
  while(h > 1) {
    const long h2 = h / 2;
    /* Add the midpoints top + h2 + k h. */
    long v0 = top + h2 - ((top + h2 - vlo) / h) * h;
    for(long v = v0; v <= vhi; v += h)
      sum += exp(ks_smirnov_logterm(s, v) - ftop);
    h = h2;
    const double next = sum * (double)h;
    if(prev >= 0.0 && fabs(next - est) <= 1e-13 * next &&
       fabs(est - prev) <= 1e-8 * next)
      return next;
    prev = est;
    est = next;
  }
  return est; /* h == 1: the exact sum over [vlo, vhi] */
}

/* Pr(D+_n >= x), scipy.special.smirnov (cephes' _smirnov): the
 * Birnbaum-Tingey/Smirnov sum  x * sum_{v=0}^{floor(n(1-x))} A_v  with
 * cephes' special cases (x <= 1/n, x >= 1 - 1/n, exp underflow, and its
 * e^(-(6nx+1)^2/18n) approximation above n = 1e6). cephes sums from v = 0 in
 * double-double until the rest is below DBL_EPSILON/4 of the sum; we sum
 * Loader-form terms (each good to ~1e-13) directly for up to 4096 terms and
 * with ks_smirnov_hump beyond. kolmogn only calls this with x >= 0.5,
 * n x^2 > 4 (n <= 140) or n x^2 >= 2.2 (n > 140), where cephes never takes
 * its "upper sum" branch, so that branch is not reproduced. */
static double ks_smirnov_sf(long n, double x) {
  if(!(n > 0 && x >= 0.0 && x <= 1.0))
    return NAN;
  if(n == 1)
    return 1.0 - x;
  if(x == 0.0)
    return 1.0;
  if(x == 1.0)
    return 0.0;

  /* floor(n*x) and the remainder alpha exactly (cephes uses double-double):
   * p + e == n*x exactly. */
  const double p = (double)n * x;
  const double e = fma((double)n, x, -p);
  double fl = floor(p);
  double alpha = (p - fl) + e;
  if(alpha < 0.0) {
    fl -= 1.0;
    alpha += 1.0;
  }
  if(alpha >= 1.0) {
    fl += 1.0;
    alpha = 0.0;
  }
  const long nxfl = (long)fl;
  long n1mxfl = n - nxfl - (alpha == 0.0 ? 0 : 1);
  if(alpha == 0.0)
    n1mxfl -= 1;

  if(nxfl == 0 || (nxfl == 1 && alpha == 0.0)) { /* x <= 1/n */
    long double t = expl((long double)(n - 1) * log1pl((long double)x));
    return mon__clip01((double)(1.0L - (long double)x * t));
  }
  if(-2 * n * x * x < KS_MINLOG)
    return 0.0;
  if(nxfl >= n - 1) /* x >= 1 - 1/n */
    return mon__clip01((double)expl((long double)n * log1pl(-(long double)x)));
  if(n > KS_SMIRNOV_MAX_COMPUTE_N) {
    /* cephes: p ~ e^(-(6nx+1)^2 / 18n) */
    const double logp = -pow(6.0 * n * x + 1, 2) / 18.0 / n;
    const double sf = logp < -M_LN2 ? exp(logp) : 1 - (-expm1(logp));
    return mon__clip01(sf);
  }

  const ks_smirnov s = {.n = n,
                        .nxfl = nxfl,
                        .x = x,
                        .alpha = alpha,
                        .nx = (double)nxfl + alpha,
                        .stirl_n = ks_stirlerr(n)};
  /* v = 0: A_0 = (1-x)^n / x. */
  const long double a0 =
      expl((long double)n * log1pl(-(long double)x) - logl((long double)x));
  long double sum = a0;
  const long last = n1mxfl;       /* terms v = 1..last, all with 1 <= v <= n-1 */
  if(last >= 1 && last <= 4096) { /* few terms: the plain sum */
    for(long v = 1; v <= last; v++)
      sum += expl((long double)ks_smirnov_logterm(&s, v));
  } else if(last > 4096) {
    double logtop;
    const double rel = ks_smirnov_hump(&s, last, &logtop);
    sum += expl((long double)logtop) * (long double)rel;
  }
  return mon__clip01((double)((long double)x * sum));
}

/* ---------------------------------------------------------------------- */
/* Kolmogorov two-sided one-sample distribution (scipy _ksstats.py)        */
/* ---------------------------------------------------------------------- */

#define KS_E128 128
#define KS_EP128 0x1p128
#define KS_EM128 0x1p-128
#define KS_MIN_LOG (-708)

/* log(n! / n^n) by Stirling, as scipy's _log_nfactorial_div_n_pow_n. */
static double ks_log_nfact_div_npown(long n) {
  static const double stirling[8] = {
      -2.955065359477124183e-2,  6.4102564102564102564e-3, -1.9175269175269175269e-3,
      8.4175084175084175084e-4,  -5.952380952380952381e-4, 7.9365079365079365079e-4,
      -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / (double)n, z = rn / (double)n;
  double y = 0.0;
  for(int i = 0; i < 8; i++)
    y = y * z + stirling[i];
  return log((double)n) / 2 - (double)n + log(2 * M_PI) / 2 + rn * y;
}

/* A value that scipy may have promoted to numpy.longdouble: once a scaling
 * step multiplies a float64 scalar by the longdouble 2^128, numpy carries on
 * in extended precision. Tracking that keeps our rounding identical. */
typedef struct ks_num {
  long double v;
  bool wide;
} ks_num;

static ks_num ks_num_mul_div(ks_num p, long i, long n) {
  if(p.wide) {
    p.v = (long double)i * p.v / (long double)n;
  } else {
    p.v = (long double)((double)i * (double)p.v / (double)n);
  }
  return p;
}

/* T = A * B for m x m row-major matrices, in i-k-j order (scipy's BLAS
 * sums in another order, which only moves the last bits). */
static void ks_matmul(double *T, const double *A, const double *B, long m) {
  memset(T, 0, (size_t)m * (size_t)m * sizeof *T);
  for(long r = 0; r < m; r++)
    for(long q = 0; q < m; q++) {
      const double arq = A[r * m + q];
      if(arq == 0.0)
        continue;
      for(long c = 0; c < m; c++)
        T[r * m + c] += arq * B[q * m + c];
    }
}

/* The Durbin matrix H (m x m, m = 2k - 1, h = k - nd) of
 * Marsaglia-Tsang-Wang, and P = identity. v and w are m scratch values. */
static void ks_dmtw_matrix(double *H, double *P, double *v, double *w, long m,
                           double h) {
  double fac = 1.0;
  for(long j = 1; j <= m; j++) {
    v[j - 1] = 1.0 - pow(h, (double)j);
    w[j - 1] = fac;
    fac /= (double)j;
    v[j - 1] *= fac;
  }
  const double base = 2 * h - 1.0 > 0 ? 2 * h - 1.0 : 0.0;
  const double tt = pow(base, (double)m) - 2 * pow(h, (double)m);
  v[m - 1] = (1.0 + tt) * fac;
  for(long c = 1; c < m; c++)
    for(long r = c - 1; r < m; r++)
      H[r * m + c] = w[r - (c - 1)];
  for(long r = 0; r < m; r++)
    H[r * m] = v[r];
  for(long c = 0; c < m; c++)
    H[(m - 1) * m + c] = v[m - 1 - c];
  for(long r = 0; r < m; r++)
    P[r * m + r] = 1.0;
}

/* P = H^n by binary powering as scipy does, rescaling H by 2^-128 when its
 * centre element passes 2^128; returns the power of two P is off by. */
static long ks_dmtw_power(double *H, double *P, double *T, long m, long k, long n) {
  const size_t mm = (size_t)m * (size_t)m;
  long expnt = 0, hexpnt = 0, nn = n;
  while(nn > 0) {
    if(nn % 2) {
      ks_matmul(T, P, H, m);
      memcpy(P, T, mm * sizeof *T);
      expnt += hexpnt;
    }
    nn /= 2;
    if(nn == 0)
      break; /* scipy squares once more; the result is unused */
    ks_matmul(T, H, H, m);
    memcpy(H, T, mm * sizeof *T);
    hexpnt *= 2;
    if(fabs(H[(k - 1) * m + (k - 1)]) > KS_EP128) {
      for(size_t t = 0; t < mm; t++)
        H[t] /= KS_EP128;
      hexpnt += KS_E128;
    }
  }
  return expnt;
}

/* Scales a result back by 2^expnt (in the precision it ended in) and clips
 * it to [0, 1]; *ok is false for NaN. */
static ks_num ks_finish(ks_num p, long expnt, bool *ok) {
  if(expnt != 0) {
    p.v = p.wide ? ldexpl(p.v, (int)expnt)
                 : (long double)ldexp((double)p.v, (int)expnt);
  }
  if(isnan(p.v))
    *ok = false;
  if(p.v < 0)
    p.v = 0;
  if(p.v > 1)
    p.v = 1;
  return p;
}

/* scipy's _kolmogn_DMTW: Pr(D_n <= d) by the Durbin matrix H^n computed as
 * in Marsaglia-Tsang-Wang with 2^128 rescaling. Returns the CDF (clipped);
 * *ok is false if the scratch allocation failed or the result is NaN. */
static ks_num ks_kolmogn_dmtw(long n, double d, bool *ok) {
  ks_num res = {0.0L, false};
  *ok = true;
  if(d >= 1.0) {
    res.v = 1.0L;
    return res;
  }
  const double nd = (double)n * d;
  if(nd <= 0.5)
    return res;
  const long k = (long)ceil(nd);
  const double h = (double)k - nd;
  const long m = 2 * k - 1;
  const size_t mm = (size_t)m * (size_t)m;

  double *buf = calloc(3 * mm + 2 * (size_t)m, sizeof *buf);
  if(buf == NULL) {
    *ok = false;
    return res;
  }
  double *H = buf, *P = buf + mm, *T = buf + 2 * mm;
  ks_dmtw_matrix(H, P, buf + 3 * mm, buf + 3 * mm + m, m, h);
  long expnt = ks_dmtw_power(H, P, T, m, k, n);
  ks_num p = {(long double)P[(k - 1) * m + (k - 1)], false};
  free(buf);
  for(long i = 1; i <= n; i++) {
    p = ks_num_mul_div(p, i, n);
    if(fabsl(p.v) < KS_EM128) {
      p.v *= (long double)KS_EP128;
      p.wide = true;
      expnt -= KS_E128;
    }
  }
  return ks_finish(p, expnt, ok);
}

static void ks_pomeranz_j1j2(long i, long n, long ll, long ceilf, long roundf,
                             long *j1o, long *j2o) {
  long j1, j2;
  if(i == 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const long ip1div2 = (i + 1) / 2, ip1mod2 = (i + 1) % 2;
    if(ip1mod2 == 0) { /* i is odd */
      if(ip1div2 == n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  *j1o = j1 + 2 > 0 ? j1 + 2 : 0;
  *j2o = j2 < n ? j2 : n;
}

/* Python slice bounds [start:stop) of a sequence of length len. */
static void ks_py_slice(long len, long start, long stop, long *s, long *e) {
  if(start < 0)
    start += len;
  if(start < 0)
    start = 0;
  if(start > len)
    start = len;
  if(stop < 0)
    stop += len;
  if(stop < 0)
    stop = 0;
  if(stop > len)
    stop = len;
  *s = start;
  *e = stop > start ? stop : start;
}

/* One step of Pomeranz's recursion: V1 (npwrs values, zeroed) from V0
 * (offset V0s) convolved with the powers pw, as numpy.convolve and the
 * slices of scipy; rescaled by 2^128 when its largest value falls below
 * 2^-128 (*expnt follows). Returns false where numpy would raise. */
static bool ks_pomeranz_step(const double *V0, long V0s, double *V1,
                             const double *pw, double *conv, long npwrs, long k1,
                             long j1, long j2, long *expnt) {
  const long ln2 = j2 - k1 + 1;
  long as, ae, ps, pe;
  ks_py_slice(npwrs, k1 - V0s, k1 - V0s + ln2, &as, &ae);
  ks_py_slice(npwrs, 0, ln2, &ps, &pe);
  const long la = ae - as, lp = pe - ps;
  if(la <= 0 || lp <= 0)
    return false; /* numpy.convolve would raise */
  const long lc = la + lp - 1;
  for(long c = 0; c < lc; c++) {
    double s = 0.0;
    long lo = c - (lp - 1) > 0 ? c - (lp - 1) : 0;
    long hi = c < la - 1 ? c : la - 1;
    for(long q = lo; q <= hi; q++)
      s += V0[as + q] * pw[c - q];
    conv[c] = s;
  }
  const long cstart = j1 - k1, clen = j2 - j1 + 1;
  double vmax = 0.0;
  for(long c = 0; c < clen; c++) {
    const long src = cstart + c;
    V1[c] = (src >= 0 && src < lc) ? conv[src] : 0.0;
  }
  for(long c = 0; c < npwrs; c++)
    if(V1[c] > vmax)
      vmax = V1[c];
  if(0 < vmax && vmax < KS_EM128) {
    for(long c = 0; c < npwrs; c++)
      V1[c] *= KS_EP128;
    *expnt -= KS_E128;
  }
  return true;
}

/* scipy's _kolmogn_Pomeranz: Pr(D_n <= x) by Pomeranz's recursion
 * (n <= 140 only). Returns the clipped CDF. */
static ks_num ks_kolmogn_pomeranz(long n, double x, bool *ok) {
  ks_num res = {0.0L, false};
  *ok = true;
  const double t = (double)n * x;
  const long ll = (long)floor(t);
  const double f = 1.0 * (t - (double)ll);
  const double g = f < 1.0 - f ? f : 1.0 - f;
  const long ceilf = f > 0 ? 1 : 0, roundf = f > 0.5 ? 1 : 0;
  const long npwrs = 2 * (ll + 1);

  double *buf = calloc(5 * (size_t)npwrs + 2 * (size_t)npwrs, sizeof *buf);
  if(buf == NULL) {
    *ok = false;
    return res;
  }
  double *gp = buf, *tgp = buf + npwrs, *omp = buf + 2 * npwrs;
  double *V0 = buf + 3 * npwrs, *V1 = buf + 4 * npwrs;
  double *conv = buf + 5 * npwrs; /* 2 * npwrs: enough for a full conv */

  gp[0] = tgp[0] = omp[0] = 1.0;
  long expnt = 0;
  const double g_n = g / n, tg_n = 2 * g / n, om_n = (1 - 2 * g) / n;
  for(long mi = 1; mi < npwrs; mi++) {
    gp[mi] = gp[mi - 1] * g_n / (double)mi;
    tgp[mi] = tgp[mi - 1] * tg_n / (double)mi;
    omp[mi] = omp[mi - 1] * om_n / (double)mi;
  }
  V1[0] = 1;
  long V0s = 0, V1s = 0, j1, j2;
  ks_pomeranz_j1j2(0, n, ll, ceilf, roundf, &j1, &j2);
  for(long i = 1; i < 2 * n + 2; i++) {
    const long k1 = j1;
    double *tmp = V0;
    V0 = V1;
    V1 = tmp;
    long ts = V0s;
    V0s = V1s;
    V1s = ts;
    memset(V1, 0, (size_t)npwrs * sizeof *V1);
    ks_pomeranz_j1j2(i, n, ll, ceilf, roundf, &j1, &j2);
    const double *pw = (i == 1 || i == 2 * n + 1) ? gp : ((i % 2) ? tgp : omp);
    if(j2 - k1 + 1 <= 0)
      continue;
    if(!ks_pomeranz_step(V0, V0s, V1, pw, conv, npwrs, k1, j1, j2, &expnt)) {
      *ok = false;
      free(buf);
      return res;
    }
    V1s = V0s + j1 - k1;
  }
  const long idx = n - V1s;
  ks_num ans = {(idx >= 0 && idx < npwrs) ? (long double)V1[idx] : 0.0L, false};
  free(buf);
  for(long mi = 1; mi <= n; mi++) {
    if(fabsl(ans.v) > (long double)KS_EP128) {
      ans.v *= (long double)KS_EM128;
      ans.wide = true;
      expnt += KS_E128;
    }
    ans.v = ans.wide ? ans.v * (long double)mi
                     : (long double)((double)ans.v * (double)mi);
  }
  return ks_finish(ans, expnt, ok);
}

/* scipy's _kolmogn_PelzGood: Pr(D_n <= x) by the Pelz-Good series (Li-Chien
 * and Korolyuk's expansion transformed with Jacobi theta identities). */
static double ks_kolmogn_pelzgood(long n, double x) {
  if(x <= 0.0)
    return 0.0;
  if(x >= 1.0)
    return 1.0;
  const double PI2 = pow(M_PI, 2), PI4 = pow(M_PI, 4), PI6 = pow(M_PI, 6);
  const double SQRT2PI = sqrt(2 * M_PI), SQRT3 = sqrt(3.0);

  const double z = sqrt((double)n) * x;
  const double z2 = pow(z, 2), z3 = pow(z, 3), z4 = pow(z, 4), z6 = pow(z, 6);
  const double qlog = -PI2 / 8 / z2;
  if(qlog < KS_MIN_LOG)
    return 0.0;
  double q = exp(qlog);

  const double k1a = -z2, k1b = PI2 / 4;
  const double k2a = 6 * z6 + 2 * z4;
  const double k2b = (2 * z4 - 5 * z2) * PI2 / 4;
  const double k2c = PI4 * (1 - 2 * z2) / 16;
  const double k3d = PI6 * (5 - 30 * z2) / 64;
  const double k3c = PI4 * (-60 * z2 + 212 * z4) / 16;
  const double k3b = PI2 * (135 * z4 - 96 * z6) / 4;
  const double k3a = -30 * z6 - 90 * pow(z, 8);

  double K[4] = {0, 0, 0, 0};
  const long maxk = (long)ceil(16 * z / M_PI);
  for(long k = maxk; k > 0; k--) {
    const double m = (double)(2 * k - 1);
    const double m2 = m * m, m4 = m2 * m2, m6 = m4 * m2; /* exact ints */
    const double qpower = pow(q, (double)(8 * k));
    const double coeffs[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                              k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for(int c = 0; c < 4; c++) {
      K[c] *= qpower;
      K[c] += coeffs[c];
    }
  }
  const double div[4] = {z, 6 * z4, 72 * pow(z, 7), 6480 * pow(z, 10)};
  for(int c = 0; c < 4; c++) {
    K[c] *= q;
    K[c] *= SQRT2PI;
    K[c] /= div[c];
  }

  q = exp(-PI2 / 2 / z2);
  const double sqrt3z = SQRT3 * z;
  double t2[64], t3[64]; /* maxk <= ceil(16 * 1.49 / pi) = 8 here */
  long nk = 0;
  for(long k = maxk; k > 0 && nk < 64; k--, nk++) {
    const double ks2 = (double)(k * k);
    const double kspi = M_PI * (double)k;
    const double qp = pow(q, ks2);
    t2[nk] = ks2 * qp;
    t3[nk] = (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
  }
  double k2extra = mon__np_sum(t2, (size_t)nk);
  k2extra *= PI2 * SQRT2PI / (-36 * z3);
  K[2] += k2extra;
  double k3extra = mon__np_sum(t3, (size_t)nk);
  k3extra *= PI2 * SQRT2PI / (216 * z6);
  K[3] += k3extra;
  for(int c = 0; c < 4; c++)
    K[c] /= pow((double)n * 1.0, c / 2.0);
  return K[0] + K[1] + K[2] + K[3];
}

/* scipy's _kolmogn(n, x, cdf=False). NaN only if a helper failed. */
static double ks_kolmogn_sf(long n, double x) {
  if(x >= 1.0)
    return 0.0;
  if(x <= 0.0)
    return 1.0;
  const double t = (double)n * x;
  if(t <= 1.0) { /* Ruben-Gambino: 1/2n <= x <= 1/n */
    if(t <= 0.5)
      return 1.0;
    double prob;
    if(n <= 140) {
      prob = 1.0;
      for(long i = 1; i <= n; i++)
        prob *= (double)i * (1.0 / (double)n) * (2 * t - 1);
    } else {
      prob = exp(ks_log_nfact_div_npown(n) + (double)n * log(2 * t - 1));
    }
    return mon__clip01(1.0 - prob);
  }
  if(t >= (double)(n - 1)) /* Ruben-Gambino */
    return mon__clip01(2 * pow(1.0 - x, (double)n));
  if(x >= 0.5)
    return mon__clip01(2 * ks_smirnov_sf(n, x));

  const double nxsq = t * x;
  bool ok = true;
  ks_num cdf;
  if(n <= 140) {
    if(nxsq <= 0.754693) {
      cdf = ks_kolmogn_dmtw(n, x, &ok);
    } else if(nxsq <= 4) {
      cdf = ks_kolmogn_pomeranz(n, x, &ok);
    } else {
      return mon__clip01(2 * ks_smirnov_sf(n, x));
    }
  } else {
    if(nxsq >= 370.0)
      return 0.0;
    if(nxsq >= 2.2)
      return mon__clip01(2 * ks_smirnov_sf(n, x));
    if(nxsq >= 18.0) {
      cdf.v = 1.0L;
      cdf.wide = false;
    } else if(n <= 100000 && (double)n * pow(x, 1.5) <= 1.4) {
      cdf = ks_kolmogn_dmtw(n, x, &ok);
    } else {
      cdf.v = ks_kolmogn_pelzgood(n, x);
      cdf.wide = false;
    }
  }
  if(!ok) {
    /* Allocation failure or overflow in the matrix power: scipy would give
     * NaN; Pelz-Good is the asymptotic stand-in. */
    cdf.v = ks_kolmogn_pelzgood(n, x);
    cdf.wide = false;
  }
  double sf = cdf.wide ? (double)(1.0L - cdf.v) : 1.0 - (double)cdf.v;
  return mon__clip01(sf);
}

double mon_stats_kstwo_sf(double d, long n) {
  if(n < 1 || isnan(d))
    return 1.0;
  /* rv_continuous.sf: support is [0.5/n, 1]; at or below the lower end the
   * sf is 1, at or above the upper end 0. */
  if(d <= 0.5 / (double)n)
    return 1.0;
  if(d >= 1.0)
    return 0.0;
  const double p = ks_kolmogn_sf(n, d);
  return isnan(p) ? 1.0 : mon__clip01(p);
}

/* ---------------------------------------------------------------------- */
/* ks_2samp p-value                                                        */
/* ---------------------------------------------------------------------- */

static double ks_asymp_pvalue(size_t n1, size_t n2, double d) {
  const double m = n1 > n2 ? (double)n1 : (double)n2;
  const double n = n1 > n2 ? (double)n2 : (double)n1;
  const double en = m * n / (m + n);
  /* np.round is round-half-to-even, as rint in the default mode. */
  return mon__clip01(mon_stats_kstwo_sf(d, (long)rint(en)));
}

double mon_stats_ks_pvalue(size_t n1, size_t n2, double d, double *d_reported,
                           mon_ks_method *method) {
  if(d_reported)
    *d_reported = d;
  if(method)
    *method = MON_KS_NONE;
  if(n1 == 0 || n2 == 0 || !(d >= 0.0 && d <= 1.0))
    return 1.0;

  if((n1 > n2 ? n1 : n2) > KS_MAX_AUTO_N) {
    if(method)
      *method = MON_KS_ASYMP;
    return ks_asymp_pvalue(n1, n2, d);
  }

  /* scipy's _attempt_exact_2kssamp. */
  const long a = (long)n1, b = (long)n2;
  const long g = ks_gcd(a, b);
  const long lcm = (a / g) * b;
  const long h = (long)rint(d * (double)lcm);
  d = (double)h * 1.0 / (double)lcm;
  if(d_reported)
    *d_reported = d;
  if(h == 0) {
    if(method)
      *method = MON_KS_EXACT;
    return 1.0;
  }
  double prob;
  if(a == b) {
    prob = ks_prob_outside_square(a, h);
  } else if(ks_outer_prob_inside(a, b, g, h, &prob) != MON_STATS_OK) {
    return 1.0; /* out of memory: method stays NONE */
  }
  if(prob >= 0.0 && prob <= 1.0) {
    if(method)
      *method = MON_KS_EXACT;
    return prob;
  }
  /* scipy warns "Exact calculation unsuccessful" and uses kstwo with the
   * already rounded d. */
  if(method)
    *method = MON_KS_EXACT_FALLBACK;
  return ks_asymp_pvalue(n1, n2, d);
}

int mon_stats_ks_2samp(const double *a, size_t na, const double *b, size_t nb,
                       mon_ks_result *out) {
  int rc = mon_stats_ks_statistic(a, na, b, nb, out);
  if(rc != MON_STATS_OK)
    return rc;
  mon_ks_method method;
  double d = out->statistic;
  const double p = mon_stats_ks_pvalue(na, nb, out->statistic, &d, &method);
  if(method == MON_KS_NONE) {
    ks_result_init(out);
    return MON_STATS_ENOMEM;
  }
  out->statistic = d;
  out->pvalue = p;
  out->method = method;
  return MON_STATS_OK;
}
