/* monitor/baseline.h - which rows a report compares and which labels it
 * judges (monitor/baseline.c): the previous window of the same length
 * (GET .../drift?baseline=previous_window) and the performance window
 * moved back by a version's label delay. Pure arithmetic on times in ms;
 * no I/O. */
#ifndef MW_MONITOR_BASELINE_H
#define MW_MONITOR_BASELINE_H

#include <stdint.h>

/* The window of the same length just before [from, to): [2 from - to,
 * from). from < to. */
void mon__previous_window(int64_t from, int64_t to, int64_t *pfrom, int64_t *pto);

/* The window whose performance a report of [from, to) shows when labels
 * arrive delay_ms after their predictions: the window of the same length
 * ending at min(to, now_ms - delay_ms), so a window that ended long
 * enough ago is itself, a live one is moved back until its labels are in.
 * delay_ms >= 0. */
void mon__label_window(int64_t from, int64_t to, int64_t delay_ms, int64_t now_ms,
                       int64_t *pfrom, int64_t *pto);

#endif
