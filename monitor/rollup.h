/* monitor/rollup.h - per-bucket rollups of the block summaries
 * (monitor/rollup.c): written by the scheduler's leader after compaction,
 * merged by a report beyond the memory budget in place of the summaries of
 * every block of a closed bucket its window covers whole. */
#ifndef MW_MONITOR_ROLLUP_H
#define MW_MONITOR_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>

#include "monitor/context.h"
#include "monitor/sketch.h"
#include "monitor/window.h"

/* Writes the rollups of buckets closed for a minute that need one, a
 * bucket per step, at most a few dozen per pass (after compaction). */
void mon__rollup_pass(mon_ctx *m, mw_conn *c);

/* One rollup (tests and the bench call it directly): the most recent
 * (version, bucket, ncols) below before_bucket with several blocks and no
 * rollup covering them all gets one, built in a read snapshot and written
 * in a short write transaction when no block was deleted in between.
 * *built: 1 when one was written, 0 when none was needed, -1 when a
 * delete came in between (try again later). */
mw_status mon__rollup_step(mon_ctx *m, mw_conn *c, int64_t before_bucket,
                           int *built);

/* A step's two halves (tests put a delete between them): the rollups of
 * the candidate built in a read snapshot (*out NULL when there is none),
 * then written (*built as mon__rollup_step's; frees b). */
typedef struct mon_rollup_built mon_rollup_built;
mw_status mon__rollup_build(mw_conn *c, int64_t before_bucket,
                            mon_rollup_built **out);
mw_status mon__rollup_write(mw_conn *c, mon_rollup_built *b, int *built);

/* The rollups of column col that cover blocks of w: each rollup of a
 * bucket whose blocks up to the rollup's id_max are exactly the blocks of
 * w in that bucket up to it, all of them whole in the window, is merged
 * into out (counts: a categorical column's) and those blocks are marked
 * in covered[0..w->nblocks). *used receives the rollups merged. A rollup
 * that does not check out is left for the blocks' own summaries (logged
 * when its bytes are damaged). */
mw_status mon__rollup_window(mw_conn *c, const mon_window *w, size_t col,
                             bool counts, mon_sketch *out, uint8_t *covered,
                             int64_t *used);

#endif
