/* monitor/stats_padjust.c - Bonferroni and Benjamini-Hochberg adjusted
 * p-values (monitor/stats_padjust.h). Pure: no I/O, pinned by unit tests
 * and checked against numpy in tests/oracle. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/stats_padjust.h"

/* Sorts indices by ascending p; ties keep index order (qsort is not
 * stable, so the index breaks them), which makes the result independent
 * of the sort: tied p-values get the same adjusted value anyway. */
struct x__ranked {
  double p;
  size_t i;
};

static int x__by_p(const void *a, const void *b) {
  const struct x__ranked *x = a, *y = b;
  if(x->p != y->p)
    return x->p < y->p ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

int mon_padjust(const double *p, size_t n, mon_correction kind, double *out) {
  for(size_t i = 0; i < n; i++)
    if(!isfinite(p[i]) || p[i] < 0.0 || p[i] > 1.0)
      return -1;
  if(kind == MON_CORRECTION_NONE) {
    if(out != p)
      memmove(out, p, n * sizeof *out);
    return 0;
  }
  if(kind == MON_CORRECTION_BONFERRONI) {
    for(size_t i = 0; i < n; i++) {
      double q = p[i] * (double)n;
      out[i] = q < 1.0 ? q : 1.0;
    }
    return 0;
  }
  assert(kind == MON_CORRECTION_BH);
  if(n == 0)
    return 0;
  struct x__ranked *r = malloc(n * sizeof *r);
  if(!r)
    return -1;
  for(size_t i = 0; i < n; i++)
    r[i] = (struct x__ranked){p[i], i};
  qsort(r, n, sizeof *r, x__by_p);
  /* Step-up: from the largest p down, the running minimum of p * n / rank
   * (monotone in rank, as the adjusted values must be). */
  double run = 1.0;
  for(size_t k = n; k-- > 0;) {
    double q = r[k].p * (double)n / (double)(k + 1);
    if(q < run)
      run = q;
    r[k].p = run;
  }
  for(size_t k = 0; k < n; k++)
    out[r[k].i] = r[k].p;
  free(r);
  return 0;
}
