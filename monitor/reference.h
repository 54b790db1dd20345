/* monitor/reference.h - building a reference column once, for every test
 * to come (monitor/reference.c). */
#ifndef MW_MONITOR_REFERENCE_H
#define MW_MONITOR_REFERENCE_H

#include <stddef.h>

#include "monitor/store.h"

/* Builds column data from n values (NaN = missing; categorical: codes);
 * vals is reordered. out is freed with the reference it belongs to
 * (mon__ref_free). */
mw_status mon__refcol_build(mon_column_kind kind, double *vals, size_t n,
                            mon_refcol *out);
/* Logs that version_id's stored reference does not match its schema (what
 * ref_load's MW_EINTERNAL means). */
void mon__ref_mismatch(mw_conn *c, int64_t version_id);

#endif
