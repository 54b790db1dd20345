/* monitor/window.h - the rows of a version in a time window [from, to),
 * found through the store's blocks and read column by column
 * (monitor/window.c), and the gathering of a column's values. A window is
 * opened inside a read transaction and read in that same snapshot. */
#ifndef MW_MONITOR_WINDOW_H
#define MW_MONITOR_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor/stats.h"
#include "monitor/store.h"

typedef struct mon_wblock {
  int64_t id, ts_min, ts_max, n;
  uint8_t *mask; /* NULL: every row is in the window; else 1 per row */
  int64_t nsel;  /* rows in the window */
} mon_wblock;

typedef struct mon_window {
  int64_t version_id;
  int64_t from, to;
  size_t ncols;
  size_t nblocks;
  mon_wblock *blocks; /* in id order */
  int64_t count;      /* rows in the window */
} mon_window;

/* Starts / ends the read transaction of a window (one snapshot for every
 * read until mon__read_end). */
mw_status mon__read_begin(mw_conn *c);
void mon__read_end(mw_conn *c);
/* Lists the blocks of version_id overlapping [from, to) that were written
 * under a schema of ncols columns, and builds masks for those that
 * straddle a boundary (reading their timestamps). Caller frees with
 * mon__window_free (also after a failure). */
mw_status mon__window_open(mw_conn *c, int64_t version_id, size_t ncols,
                           int64_t from, int64_t to, mon_window *w);
/* The same, only blocks with id_lo <= id <= id_hi (the live-window cache
 * reads what changed since it last looked). */
mw_status mon__window_open_ids(mw_conn *c, int64_t version_id, size_t ncols,
                               int64_t from, int64_t to, int64_t id_lo,
                               int64_t id_hi, mon_window *w);
void mon__window_free(mon_window *w);

/* Visits column col (0-based schema column) of the window block by block:
 * fn(ctx, values, nvalues) receives the selected rows' values of one block
 * in row order (borrowed for the call). Returns fn's first non-zero
 * status; MW_EINTERNAL (logged) when a chunk is missing or damaged. */
typedef mw_status (*mon_visit_fn)(void *ctx, const double *v, size_t n);
mw_status mon__window_visit(mw_conn *c, const mon_window *w, size_t col,
                            mon_visit_fn fn, void *ctx);

/* Collects a column's values from mon__window_visit: every stride-th row
 * into vals (at most cap), and, with aggregate, exact streaming counts,
 * moments, extremes and reference-bin counts over every row. */
typedef struct mon_gather {
  double *vals;
  size_t n, cap, stride, seen;
  bool aggregate;
  const mon_bins *bins; /* may be NULL */
  double bin_counts[MON_STATS_MAX_BINS];
  int64_t count, missing; /* finite / non-finite values seen */
  double mean, m2, min, max;
  /* With mon__gather_range: finite values outside [lo, hi] (the
   * reference's range), for the column's quality. */
  bool has_range;
  double lo, hi;
  int64_t out_of_range;
} mon_gather;

void mon__gather_init(mon_gather *g, double *vals, size_t cap, size_t stride,
                      bool aggregate, const mon_bins *bins);
/* Also counts (when aggregating) the values outside [lo, hi]. */
void mon__gather_range(mon_gather *g, double lo, double hi);
/* mon_visit_fn of a mon_gather. */
mw_status mon__gather_visit(void *ctx, const double *v, size_t n);

#endif
