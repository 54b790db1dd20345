/* monitor/sketch_block.h - the quantile summaries (monitor/sketch.h) of a
 * block's numeric columns as chunks (monitor/sketch_block.c): built at
 * ingest from the block's values while they are in memory, rebuilt by
 * compaction for a merged block, and gathered by a report over a window
 * larger than its memory budget (monitor/sketch_report.c). */
#ifndef MW_MONITOR_SKETCH_BLOCK_H
#define MW_MONITOR_SKETCH_BLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "monitor/schema.h"
#include "monitor/sketch.h"
#include "monitor/store.h"
#include "monitor/wcache.h"
#include "monitor/window.h"

/* What a block keeps of a column: nothing, a quantile summary pruned to
 * MON_SKETCH_BLOCK_K items (numeric), or exact counts by code
 * (categorical; at most MON_MAX_CATEGORIES items). */
enum { MON_SKETCH_NONE = 0, MON_SKETCH_QUANTILES, MON_SKETCH_COUNTS };

/* Serialises into buf (replacing its contents) the summary of every
 * column col < ncols of kind(ctx, col) other than MON_SKETCH_NONE, of the
 * block's values column(ctx, col, scratch) (nrows values; the function
 * may fill scratch[0..nrows) and return it), and points chunks[ncols + 2
 * + col] at them (an empty chunk for other columns; chunks[ncols + 1],
 * the ids slot, empty when !has_ids). *nchunks receives the chunks to
 * write: ncols + 2 + the last summarised column + 1, or ncols + 1 (+1
 * with ids) when there is none (schemas wider than MON_SKETCH_MAX_COLS
 * and blocks of at most MON_SKETCH_BLOCK_K rows get none). chunks has
 * room for 2 * ncols + 2. */
typedef const double *(*mon_sketch_col_fn)(void *ctx, size_t col, double *scratch);
mw_status mon__sketch_chunks(size_t ncols, size_t nrows, bool has_ids,
                             int (*kind)(void *ctx, size_t col),
                             mon_sketch_col_fn column, void *ctx, mw_buf *buf,
                             mon_chunk *chunks, size_t *nchunks);

/* The kind of a stored summary chunk (MON_SKETCH_NONE for an empty or
 * malformed one), read from its header. */
int mon__sketch_chunk_kind(const void *data, size_t len);

/* Where a window's summary came from. */
typedef struct mon_sketch_info {
  int64_t exact_rows; /* rows read row by row */
  int64_t rollups;    /* closed buckets' rollups merged (monitor/rollup.c) */
} mon_sketch_info;

/* The summary of column col over the window w: with rollups, the rollups
 * of the closed buckets w covers whole (monitor/rollup.h), then the other
 * blocks' summaries merged, and the rows of blocks that straddle the
 * window's ends or have no summary of col added exactly; compressed (not
 * pruned, unless the union passes 4 M items) into out (initialised here,
 * out->counts set to counts; caller frees, also after a failure).
 * MW_EINTERNAL (logged) for a damaged chunk. */
mw_status mon__sketch_window(mw_conn *c, const mon_window *w, size_t col,
                             bool counts, bool rollups, mon_sketch *out,
                             mon_sketch_info *info);

/* Prunes a union that passed 4 M items to 1 M (the pruning's error is
 * tracked like any other), so that merging is bounded in memory. */
mw_status mon__sketch_bound(mon_sketch *s);

/* A categorical column's rows by code over w, exact, from the blocks'
 * counts (mon__sketch_window) into out, as mon__wcol_count counts them. */
mw_status mon__sketch_counts(mw_conn *c, const mon_window *w, size_t col,
                             mon_wcol *out);

#endif
