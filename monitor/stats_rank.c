/* monitor/stats_rank.c - rank correlation (monitor/stats.h): Spearman's rho
 * as scipy.stats.spearmanr computes it, the Pearson correlation of the two
 * samples' average ranks (scipy.stats.rankdata, method 'average'). Used by
 * the shadow comparison of two versions' predictions (monitor/shadow.c).
 *
 * Cost: two sorts of n (value, position) pairs (qsort, O(n log n): ~0.3 s
 * for 2 M pairs) and 32 bytes of scratch per pair, freed before return. */
#include <math.h>
#include <stdlib.h>

#include "monitor/stats.h"

/* A value and where it was, so that its rank can be put back there. */
typedef struct ranked {
  double v;
  size_t at;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  /* By value only: -0.0 and +0.0 compare equal and so share a rank, as
   * rankdata's != comparison of neighbours makes them. */
  return x->v < y->v ? -1 : x->v > y->v;
}

/* The average ranks (1-based) of x[0..n) into ranks[0..n), with tmp as
 * scratch: tied values all get the mean of the ranks they span. */
static void average_ranks(const double *x, size_t n, ranked *tmp, double *ranks) {
  for(size_t i = 0; i < n; i++)
    tmp[i] = (ranked){x[i], i};
  qsort(tmp, n, sizeof *tmp, cmp_ranked);
  for(size_t lo = 0; lo < n;) {
    size_t hi = lo + 1;
    while(hi < n && tmp[hi].v == tmp[lo].v)
      hi++;
    /* Ranks lo+1 .. hi; their mean is a multiple of 0.5, exact. */
    double r = ((double)(lo + 1) + (double)hi) / 2.0;
    for(size_t k = lo; k < hi; k++)
      ranks[tmp[k].at] = r;
    lo = hi;
  }
}

/* Neumaier's compensated sum: the rank products are exact multiples of 0.25,
 * but their sum outgrows 2^53 for a few million pairs. */
typedef struct ksum {
  double s, c;
} ksum;

static void ksum_add(ksum *k, double x) {
  double t = k->s + x;
  if(fabs(k->s) >= fabs(x))
    k->c += (k->s - t) + x;
  else
    k->c += (x - t) + k->s;
  k->s = t;
}

int mon_stats_spearman(const double *x, const double *y, size_t n, double *rho) {
  if(!rho)
    return MON_STATS_EINVAL;
  *rho = 0.0;
  if(n > 0 && (!x || !y))
    return MON_STATS_EINVAL;
  for(size_t i = 0; i < n; i++)
    if(!isfinite(x[i]) || !isfinite(y[i]))
      return MON_STATS_EINVAL;
  if(n < 2)
    return MON_STATS_INSUFFICIENT;
  ranked *tmp = malloc(n * sizeof *tmp);
  double *rx = malloc(n * sizeof *rx);
  double *ry = malloc(n * sizeof *ry);
  if(!tmp || !rx || !ry) {
    free(tmp);
    free(rx);
    free(ry);
    return MON_STATS_ENOMEM;
  }
  average_ranks(x, n, tmp, rx);
  average_ranks(y, n, tmp, ry);
  free(tmp);
  /* Average ranks always sum to n (n + 1) / 2, so their mean is exactly
   * (n + 1) / 2 on both sides: np.mean gets the same, the sum being exact. */
  double mean = ((double)n + 1.0) / 2.0;
  ksum sxy = {0, 0}, sxx = {0, 0}, syy = {0, 0};
  for(size_t i = 0; i < n; i++) {
    double dx = rx[i] - mean, dy = ry[i] - mean;
    ksum_add(&sxy, dx * dy);
    ksum_add(&sxx, dx * dx);
    ksum_add(&syy, dy * dy);
  }
  free(rx);
  free(ry);
  double vxy = sxy.s + sxy.c, vxx = sxx.s + sxx.c, vyy = syy.s + syy.c;
  /* A constant side has every rank equal: no correlation is defined (scipy
   * answers NaN with a warning). */
  if(vxx <= 0 || vyy <= 0)
    return MON_STATS_INSUFFICIENT;
  double r = vxy / sqrt(vxx * vyy);
  *rho = r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
  return MON_STATS_OK;
}
