/* monitor/ingest.h - writing rows of a parsed batch as a block, the step
 * of ingest that compaction-free writers (tests, benchmarks) share
 * (monitor/ingest.c; the public ingest functions are in monitor.h). */
#ifndef MW_MONITOR_INGEST_H
#define MW_MONITOR_INGEST_H

#include "monitor/batch.h"

/* Writes rows[0..nrows) of b (rows NULL: all of them) as one block of
 * version_id, inside the caller's write transaction. The rows should share
 * a 5-minute bucket (the block is filed under its earliest row's). */
mw_status mon__block_write(mw_conn *c, int64_t version_id, const mon_batch *b,
                           const size_t *rows, size_t nrows, int64_t now_ms);
/* The same with the summaries of s's numeric columns (monitor/sketch.h),
 * as ingest writes blocks; mon__block_write writes none (s NULL). */
mw_status mon__block_write_s(mw_conn *c, int64_t version_id, const mon_schema *s,
                             const mon_batch *b, const size_t *rows, size_t nrows,
                             int64_t now_ms);

#endif
