/* monitor/stats_internal.h - helpers shared by the monitor/stats*.c files.
 * Not part of the monitor API: include only from monitor/stats*.c. */
#ifndef MW_MONITOR_STATS_INTERNAL_H
#define MW_MONITOR_STATS_INTERNAL_H

#include <stddef.h>
#include <string.h>

#include "monitor/stats.h"

/* numpy's np.sum of a contiguous float64 array: the reduction runs over
 * 8192-element buffers, added in order, and each buffer is summed with
 * numpy's pairwise algorithm (8 accumulators below 128 elements). Matching it
 * exactly lets results agree with scipy bit for bit. */
double mon__np_sum(const double *a, size_t n);

/* np.sum((a - mean) ** 2) computed the same way, without a temporary. */
double mon__np_sum_sqdev(const double *a, size_t n, double mean);

#define MON__NP_PW_BLOCKSIZE 128
#define MON__NP_BUFSIZE 8192

/* mon__np_sum of a sequence produced one term at a time, with O(1) memory:
 * the same pairwise tree is evaluated as the terms arrive. Usage:
 *   mon__np_stream st; mon__np_stream_init(&st, n);
 *   for each of the n terms: mon__np_stream_add(&st, t);
 *   sum = st.acc;   (valid once exactly n terms were added) */
typedef struct mon__np_stream {
  double leaf[MON__NP_PW_BLOCKSIZE];
  double stack[64];
  double acc;
  size_t remaining; /* terms not yet summed into acc */
  int ops[512];     /* post-order plan of the current buffer */
  int nops, op, fill, sp;
} mon__np_stream;

void mon__np_stream_init(mon__np_stream *st, size_t n_total);
void mon__np_stream_leaf(mon__np_stream *st); /* internal: a leaf is full */

static inline void mon__np_stream_add(mon__np_stream *st, double t) {
  st->leaf[st->fill++] = t;
  if(st->fill == st->ops[st->op])
    mon__np_stream_leaf(st);
}

/* mon__np_stream_add of t[0..n), in order. */
static inline void mon__np_stream_add_n(mon__np_stream *st, const double *t,
                                        size_t n) {
  while(n > 0) {
    size_t room = (size_t)(st->ops[st->op] - st->fill);
    size_t k = n < room ? n : room;
    memcpy(st->leaf + st->fill, t, k * sizeof *t);
    st->fill += (int)k;
    t += k;
    n -= k;
    if(st->fill == st->ops[st->op])
      mon__np_stream_leaf(st);
  }
}

/* np.clip(p, 0, 1): NaN passes through (callers decide what NaN means). */
static inline double mon__clip01(double p) {
  return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

/* One merge pass over two sorted, non-empty samples. Always fills *ks with
 * the KS statistic (scipy's D, location and sign; pvalue 1). Optionally:
 * w (NULL, or a mon__np_stream it initialises) receives in w->acc the
 * numpy sum of scipy's Wasserstein terms;
 * *n_distinct the number of distinct values in the union; the first `cap`
 * distinct values go to vals[] with their multiplicities in a (ca[]) and
 * b (cb[]). */
int mon__two_sample_pass(const double *a, size_t na, const double *b, size_t nb,
                         mon_ks_result *ks, mon__np_stream *w, size_t *n_distinct,
                         double *vals, double *ca, double *cb, size_t cap);

#endif /* MW_MONITOR_STATS_INTERNAL_H */
