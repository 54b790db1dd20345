/* monitor/evaluate.h - scheduled drift evaluation, the scheduler thread's
 * first pass (monitor/evaluate.c; mon_drift_evaluate is in monitor.h). */
#ifndef MW_MONITOR_EVALUATE_H
#define MW_MONITOR_EVALUATE_H

#include "monitor/context.h"

/* Evaluates and stores the drift of every version whose schedule is due,
 * a version a transaction; returns early when the thread is stopping. */
void mon__evaluate_due(mon_ctx *m, mw_conn *c);

#endif
