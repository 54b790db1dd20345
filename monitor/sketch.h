/* monitor/sketch.h - a mergeable quantile summary of a numeric column with
 * a deterministic, tracked rank-error bound (monitor/sketch.c). One is
 * written with every block at ingest (a chunk slot per numeric column, see
 * mon__slot_sketch in monitor/store.h); a report over a window larger than
 * its memory budget merges the blocks' summaries instead of re-reading and
 * sorting every row (monitor/sketch_report.c).
 *
 * A summary is a sorted list of distinct values with integer weights, the
 * exact count, missing count, mean, sum of squared deviations, minimum and
 * maximum of the values it summarises, and err: a bound on the rank error.
 * For every x, with R(x) the number of summarised values <= x (or < x) and
 * R^(x) the weight of the items <= x (or < x):
 *
 *     |R^(x) - R(x)| <= err.
 *
 * The bound is proven in monitor/sketch.c (invariant kept by each
 * operation); nothing is random, so the same input gives the same bytes.
 *
 * Operations and their cost (n items):
 *  mon_sketch_init / free
 *  mon_sketch_update     appends values (weight 1, exact): O(count)
 *  mon_sketch_merge      appends another summary's items: O(n_src);
 *                        err adds up, moments combine exactly
 *  mon_sketch_compress   sorts (radix, O(n)), collapses equal values (no
 *                        error) and, above k items, prunes to at most k
 *                        (err grows by at most about count / (2k))
 *  mon_sketch_serialize / deserialize   versioned little-endian bytes,
 *                        every field checked on the way in
 *  mon_sketch_rank, mon_sketch_quantile (after compress): O(log n)
 *  mon_sketch_ks, mon_sketch_wasserstein against an exact sorted sample:
 *                        one merge pass, O(n + n_ref)
 *
 * Ownership: a mon_sketch owns its arrays; mon_sketch_free releases them.
 * Not thread-safe; distinct sketches may be used from distinct threads. */
#ifndef MW_MONITOR_SKETCH_H
#define MW_MONITOR_SKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Items a block's summary keeps (ingest and compaction): rank error at
 * most floor((floor(n / k) + 1) / 2) rows of a block of n rows, i.e. a
 * relative error of about 1 / (2k) = 0.2 %, at most 3 KiB per column. */
#define MON_SKETCH_BLOCK_K 256

/* Items a closed bucket's rollup keeps (monitor/rollup.c): the merged
 * summaries of its blocks pruned once more, adding at most floor(W / k)
 * to the rank error of a bucket of W rows (about 0.05 %), at most 24 KiB
 * per column. */
#define MON_SKETCH_ROLLUP_K 2048

/* Format version written by mon_sketch_serialize. */
#define MON_SKETCH_VERSION 1

typedef struct mon_sketch {
  double *v;  /* item values; after compress ascending and distinct */
  int64_t *w; /* item weights, >= 1 */
  size_t n, cap;
  bool compressed; /* v sorted and distinct since the last change */
  /* Counts by value, never pruned (err stays 0): a categorical column's
   * rows by category code. Set by the caller after init. */
  bool counts;
  int64_t count;             /* finite values summarised (= sum of w) */
  int64_t missing;           /* non-finite values seen */
  int64_t err;               /* rank-error bound, in values */
  double mean, m2, min, max; /* of the finite values; exact */
} mon_sketch;

void mon_sketch_init(mon_sketch *s);
void mon_sketch_free(mon_sketch *s);

/* Makes room for more items (so that merging many summaries does not
 * grow the arrays step by step). Returns 0 or -1 (no memory). */
int mon_sketch_reserve(mon_sketch *s, size_t more);

/* Adds x[0..n): finite values as items of weight 1, the others counted as
 * missing. Returns 0, or -1 when memory runs out (s unchanged then). */
int mon_sketch_update(mon_sketch *s, const double *x, size_t n);

/* Adds src's items and statistics to dst (src unchanged). The union's
 * rank error is at most the sum of the two errors. Returns 0 or -1 (no
 * memory; dst unchanged). */
int mon_sketch_merge(mon_sketch *dst, const mon_sketch *src);

/* Sorts the items, merges equal values and, when more than k (>= 2)
 * remain, prunes them to at most k, adding the pruning's error to err.
 * k 0 or s->counts: never prune. Returns 0 or -1 (no memory; s unchanged). */
int mon_sketch_compress(mon_sketch *s, size_t k);

/* The serialised size of a compressed s, and s into out[0..cap) (returns
 * the bytes written, 0 when cap is too small or s is not compressed). */
size_t mon_sketch_size(const mon_sketch *s);
size_t mon_sketch_serialize(const mon_sketch *s, void *out, size_t cap);

/* Reads a summary written by mon_sketch_serialize into s (initialised by
 * the call; empty, owning nothing, after a failure). Returns 0, or -1 when the
 * bytes are not a well-formed summary of a known version: wrong length,
 * unknown version or flags, values unsorted or not finite, weights not
 * summing to count, err outside [0, count], inconsistent statistics. */
int mon_sketch_deserialize(mon_sketch *s, const void *data, size_t len);

/* Estimated number of values <= x (strict: < x), within err of the truth.
 * s must be compressed. */
int64_t mon_sketch_rank(const mon_sketch *s, double x, bool strict);

/* An item value v whose estimated rank brackets q * count: R^(v-) < q *
 * count <= R^(v) (so the true rank of v is within err of it), q in [0, 1]
 * clamped. 0.0 when s is empty. s must be compressed. */
double mon_sketch_quantile(const mon_sketch *s, double q);

/* KS distance sup_x |F_ref(x) - F^(x)| between the exact sorted finite
 * sample ref[0..nref) and the summary (CDFs taken after all values equal
 * to x, as mon_stats_ks_statistic). The true distance is within
 * err / count of it. Both must be non-empty; s compressed. */
double mon_sketch_ks(const mon_sketch *s, const double *ref, size_t nref);

/* Wasserstein-1 distance integral |F_ref - F^| dx. The true distance is
 * within (err / count) * (max - min of both samples together) of it. */
double mon_sketch_wasserstein(const mon_sketch *s, const double *ref, size_t nref);

/* Number of distinct values in the summary and ref together, counted up
 * to cap (returns cap when there are at least that many). Exact when
 * s->err == 0. */
size_t mon_sketch_distinct(const mon_sketch *s, const double *ref, size_t nref,
                           size_t cap);

#endif
