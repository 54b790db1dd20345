/* monitor/sketch_report.h - a numeric column of a drift report from its
 * window's merged block summaries (monitor/sketch_report.c), for windows
 * beyond the report's memory budget. */
#ifndef MW_MONITOR_SKETCH_REPORT_H
#define MW_MONITOR_SKETCH_REPORT_H

#include "monitor/columns.h"
#include "monitor/window.h"

/* Reads column jb->col of w as merged summaries and fills jb->json,
 * evaluated, drifted and st (returned), on the calling thread. */
mw_status mon__sketch_job(mw_conn *c, const mon_window *w, mon_job *jb);

#endif
