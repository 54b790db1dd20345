/* monitor/series.h - what a stored evaluation contributes to the time
 * series: the metrics read out of a report (names shared with GET
 * .../drift/history, alert rules and /metrics), and their storage
 * (monitor/series.c). */
#ifndef MW_MONITOR_SERIES_H
#define MW_MONITOR_SERIES_H

#include <stdint.h>

#include "monitor/monitor.h"

/* The stored name of a series metric (names of mon_drift_history; the
 * alias dataset_drift_share for drift_share), or NULL when unknown. */
const char *mon__metric_name(const char *column, const char *metric);
/* The score that decides a column's verdict in a report's JSON: its
 * p-value for the tests (ks, chi2, z), its statistic otherwise (borrowed;
 * NULL when absent). */
const cJSON *mon__column_score(const cJSON *col);
/* Stores report as an evaluation of version_id taken at at, with its
 * series points (inside the caller's write transaction). */
mw_status mon__eval_store(mw_conn *c, int64_t version_id, int64_t at,
                          const cJSON *report, const char *trigger);

#endif
