/* monitor/report.h - a drift report: the window's columns against the
 * version's reference, assembled into the JSON of GET .../drift
 * (monitor/report.c), with the window's performance where labels arrived
 * (monitor/performance.c). */
#ifndef MW_MONITOR_REPORT_H
#define MW_MONITOR_REPORT_H

#include "monitor/schema.h"

/* Computes the report of [from, to) for v into *out (caller frees with
 * cJSON_Delete). m may be NULL (defaults, no cache, no admission).
 * MW_ECONFLICT (err set) when v has no reference set. */
mw_status mon__report(mon_ctx *m, mw_conn *c, const mon_version *v, int64_t from,
                      int64_t to, cJSON **out, mw_err *err);

/* {count, accuracy, precision, recall, f1, average: "macro", classes} for a
 * categorical prediction, {count, mae, rmse} for a numeric one, over the
 * labels whose prediction falls in [from, to) (read in the caller's
 * transaction); *out NULL when none does. */
mw_status mon__performance(mw_conn *c, int64_t version_id, const mon_column *pcol,
                           int64_t from, int64_t to, cJSON **out);

/* The same metrics accumulated pair by pair (segments pair labels with
 * rows themselves): new (NULL when memory runs out), add each (prediction,
 * label) pair (missing ones are skipped), json (*out NULL when no pair
 * counted; MW_ENOMEM when the accumulator ran out of memory), free. */
typedef struct mon_perf mon_perf;
mon_perf *mon__perf_new(const mon_column *pcol);
void mon__perf_add(mon_perf *p, double pred, double label);
mw_status mon__perf_json(const mon_perf *p, cJSON **out);
void mon__perf_free(mon_perf *p);
#endif
