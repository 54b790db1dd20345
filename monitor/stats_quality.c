/* monitor/stats_quality.c - the counts behind a drift column's quality
 * (monitor/stats.h): values outside the reference's range and categories
 * the reference never saw. Pure functions, checked against numpy by
 * tests/oracle. */
#include <assert.h>

#include "monitor/stats.h"

/* The first index of sorted x[0..n) whose value is not below v (strict:
 * the first not <= v). */
static size_t lower(const double *x, size_t n, double v, int strict) {
  size_t lo = 0, hi = n;
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(strict ? x[mid] <= v : x[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

size_t mon_stats_out_of_range_sorted(const double *x, size_t n, double lo,
                                     double hi) {
  assert(x || n == 0);
  assert(lo <= hi);
  if(n == 0)
    return 0;
  size_t below = lower(x, n, lo, 0);     /* x < lo */
  size_t above = n - lower(x, n, hi, 1); /* x > hi */
  return below + above;
}

double mon_stats_unseen(const double *ref, size_t nref, const double *cur,
                        size_t ncur) {
  assert((ref || nref == 0) && (cur || ncur == 0));
  double unseen = 0;
  for(size_t i = 0; i < ncur; i++)
    if(cur[i] > 0 && (i >= nref || ref[i] <= 0))
      unseen += cur[i];
  return unseen;
}
