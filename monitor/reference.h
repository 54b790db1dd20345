/* monitor/reference.h - building a reference column once, for every test
 * to come (monitor/reference.c). */
#ifndef MW_MONITOR_REFERENCE_H
#define MW_MONITOR_REFERENCE_H

#include <stddef.h>

#include "monitor/store.h"
#include "monitor/window.h"

/* A reference taken from a window keeps at most this many rows (an evenly
 * strided sample beyond): 2 M sorted float64 per column is 16 MB, and the
 * tests' resolution does not improve past it. */
#define MON_MAX_REF_ROWS 2000000

/* Builds column data from n values (NaN = missing; categorical: codes);
 * vals is reordered. out is freed with the reference it belongs to
 * (mon__ref_free). */
mw_status mon__refcol_build(mon_column_kind kind, double *vals, size_t n,
                            mon_refcol *out);
/* Builds reference column out from column col of the window w (opened by
 * the caller, read in its transaction), for mon_drift_compare, which takes
 * another version's window as the reference. Numeric: at most max_rows
 * values (>= 1), an evenly strided sample beyond (*sampled receives the
 * rows read then, else 0), through mon__refcol_build. Categorical: every
 * row counted (exact, memory by category), each code c of w counted as
 * map[c] (c < nmap; the caller's mapping of one version's dictionary onto
 * another's). out as for mon__refcol_build (zeroed first, also on
 * failure's way out: free with the reference). */
mw_status mon__refcol_from_window(mw_conn *c, const mon_window *w, size_t col,
                                  mon_column_kind kind, size_t max_rows,
                                  const long *map, size_t nmap, mon_refcol *out,
                                  size_t *sampled);
/* Logs that version_id's stored reference does not match its schema (what
 * ref_load's MW_EINTERNAL means). */
void mon__ref_mismatch(mw_conn *c, int64_t version_id);

#endif
