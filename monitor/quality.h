/* monitor/quality.h - the data quality of one column of a drift window
 * (monitor/quality.c): how many values are missing, how many of the rest
 * fall outside the reference's range (numeric) or are categories the
 * reference never saw (categorical), and how many rows of the window were
 * quarantined for an invalid value in the column (monitor/quarantine.c).
 * Pure: the counts come from monitor/columns.c and the quarantine. */
#ifndef MW_MONITOR_QUALITY_H
#define MW_MONITOR_QUALITY_H

#include <stdint.h>

#include "monitor/schema.h"

typedef struct mon_quality {
  int64_t present; /* non-missing values of the window */
  int64_t missing; /* null or NaN */
  /* numeric: present values outside the reference's min..max;
   * categorical: present values of categories the reference lacks; -1 when
   * the reference has no values in the column (nothing to compare with) */
  int64_t flagged;
  /* quarantined rows of the window invalid in the column; -1 when not
   * known (a segment: quarantined rows are not split by segment) */
  int64_t invalid;
} mon_quality;

/* Adds "quality": {missing_share, missing_count, out_of_range_share and
 * out_of_range_count (numeric) or unseen_share and unseen_count
 * (categorical), invalid_count (unless q->invalid < 0)} to the column
 * object col. A share whose
 * denominator is 0 (no rows; no present values) or that has nothing to
 * compare with (flagged -1) is left out, so an alert rule on it sees no
 * data rather than a made-up 0. */
void mon__quality_json(cJSON *col, mon_column_kind kind, const mon_quality *q);

#endif
