/* monitor/stats_padjust.h - adjusted p-values for multiple testing
 * (monitor/stats_padjust.c): part of the pure statistics library, checked
 * against numpy in tests/oracle. What a report does with them:
 * monitor/correction.h. */
#ifndef MW_MONITOR_STATS_PADJUST_H
#define MW_MONITOR_STATS_PADJUST_H

#include <stddef.h>

typedef enum mon_correction {
  MON_CORRECTION_NONE = 0,
  MON_CORRECTION_BONFERRONI,
  MON_CORRECTION_BH, /* Benjamini-Hochberg step-up (false discovery rate) */
} mon_correction;

/* Adjusted p-values of p[0..n) into out[0..n) (out may be p), in the same
 * order: none copies; Bonferroni min(1, p*n); BH the step-up adjustment
 * out_(i) = min over j >= i of p_(j) * n / j (ranks by ascending p,
 * 1-based), capped at 1, as scipy.stats.false_discovery_control(method="bh")
 * and R's p.adjust(method="BH"). A p-value that is not finite or outside
 * [0, 1] is an error. Returns 0, or -1 (bad p-value, or no memory for the
 * BH ordering; out is then unspecified). */
int mon_padjust(const double *p, size_t n, mon_correction kind, double *out);

#endif
