/* monitor/correction.h - multiple-testing corrections for the dataset
 * verdict of a drift report (monitor/correction.c): with many columns
 * tested at p < 0.05, some drift by chance, so drift_share over them
 * grows with the number of columns. A version's drift settings pick
 * none (the default), Bonferroni or Benjamini-Hochberg; the corrected
 * p-values then decide each p-value column's "drifted".
 *
 * Only columns decided by a p-value method (ks, chi2, z) are adjusted, as
 * one family of m tests (m = those columns that were evaluated). Columns
 * decided by a distance (wasserstein, psi, jensen_shannon) have no
 * p-value: they keep their verdict (distance against its threshold) and
 * count in drift_share as before, and do not count in m.
 *
 * Operations: mon_padjust (monitor/stats_padjust.h, O(m log m)),
 * mon__correction_apply (O(m log m) over a report's columns),
 * mon__correction_parse and mon__correction_name; no I/O. */
#ifndef MW_MONITOR_CORRECTION_H
#define MW_MONITOR_CORRECTION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"
#include "monitor/stats_padjust.h"

/* "none", "bonferroni", "bh". */
const char *mon__correction_name(mon_correction c);
/* Parses those names into *out; 0 when s is none of them. */
int mon__correction_parse(const char *s, mon_correction *out);

/* Applies correction c to the columns of one report: cols[i] is column
 * i's JSON as monitor/columns.c made it, evaluated[i] whether it counts
 * towards drift_share, drifted[i] its verdict (updated). The family is the
 * evaluated columns whose "method" is ks, chi2 or z; each of them gains
 * "p_value_adjusted" and "drifted" becomes the verdict of the adjusted
 * p-value against the column's threshold ("p_value" stays the raw one).
 * With c none nothing changes. MW_ENOMEM when memory runs out (nothing
 * changed then). */
mw_status mon__correction_apply(mon_correction c, cJSON *const *cols,
                                const bool *evaluated, bool *drifted, size_t n);

#endif
