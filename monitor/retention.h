/* monitor/retention.h - retention and compaction, the scheduler thread's
 * other passes (monitor/retention.c; mon_retention_step is in monitor.h).
 * Each does a bounded amount of work in small transactions and returns
 * early when the thread is stopping. */
#ifndef MW_MONITOR_RETENTION_H
#define MW_MONITOR_RETENTION_H

#include "monitor/context.h"

/* Deletes what is older than the retention, a few blocks a transaction. */
void mon__retention_pass(mon_ctx *m, mw_conn *c);
/* Merges the small blocks of buckets closed for a minute, a bucket a
 * transaction, at most a few hundred per pass. */
void mon__compaction_pass(mon_ctx *m, mw_conn *c);
/* One compaction transaction (tests call it directly): merges the small
 * blocks (< 1024 rows) of one (version, bucket) below before_bucket into
 * one block; *merged: blocks merged (0 when nothing is left to do). */
mw_status mon__compact_step(mon_ctx *m, mw_conn *c, int64_t before_bucket,
                            int64_t *merged);

#endif
