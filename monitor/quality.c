/* monitor/quality.c - a drift column's "quality" object
 * (monitor/quality.h). Shares are fractions of the window's non-missing
 * values, except missing_share, a fraction of all its rows; invalid
 * values never reached the window (their rows are in the quarantine), so
 * they are a count, not a share. */
#include <assert.h>

#include "monitor/quality.h"

void mon__quality_json(cJSON *col, mon_column_kind kind, const mon_quality *q) {
  assert(q->present >= 0 && q->missing >= 0);
  cJSON *j = cJSON_AddObjectToObject(col, "quality");
  int64_t rows = q->present + q->missing;
  if(rows > 0)
    mon__json_add_number(j, "missing_share", (double)q->missing / (double)rows);
  cJSON_AddNumberToObject(j, "missing_count", (double)q->missing);
  const char *share =
      kind == MON_COLUMN_NUMERIC ? "out_of_range_share" : "unseen_share";
  const char *count =
      kind == MON_COLUMN_NUMERIC ? "out_of_range_count" : "unseen_count";
  if(q->flagged >= 0) {
    assert(q->flagged <= q->present);
    if(q->present > 0)
      mon__json_add_number(j, share, (double)q->flagged / (double)q->present);
    cJSON_AddNumberToObject(j, count, (double)q->flagged);
  }
  if(q->invalid >= 0)
    cJSON_AddNumberToObject(j, "invalid_count", (double)q->invalid);
}
