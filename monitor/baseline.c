/* monitor/baseline.c - the previous window and the label-delayed
 * performance window (monitor/baseline.h). */
#include <assert.h>

#include "monitor/baseline.h"

void mon__previous_window(int64_t from, int64_t to, int64_t *pfrom, int64_t *pto) {
  assert(from < to);
  *pto = from;
  *pfrom = from - (to - from);
}

void mon__label_window(int64_t from, int64_t to, int64_t delay_ms, int64_t now_ms,
                       int64_t *pfrom, int64_t *pto) {
  assert(delay_ms >= 0);
  int64_t end = now_ms - delay_ms;
  int64_t shift = to > end ? to - end : 0;
  *pfrom = from - shift;
  *pto = to - shift;
}
