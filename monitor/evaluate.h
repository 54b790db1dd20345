/* monitor/evaluate.h - the passes of the scheduler thread: scheduled drift
 * evaluation (monitor/evaluate.c), retention and compaction
 * (monitor/retention.c). Each pass does a bounded amount of work in small
 * transactions and returns early when the thread is asked to stop. */
#ifndef MW_MONITOR_EVALUATE_H
#define MW_MONITOR_EVALUATE_H

#include "monitor/context.h"

/* Evaluates and stores the drift of every version whose schedule is due. */
void mon__evaluate_due(mon_ctx *m, mw_conn *c);
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

/* Whether the scheduler thread was asked to stop. */
static inline bool mon__stopping(mon_ctx *m) {
  pthread_mutex_lock(&m->mu);
  bool s = m->stop;
  pthread_mutex_unlock(&m->mu);
  return s;
}

#endif
