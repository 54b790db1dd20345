/* alerts/alerts_internal.h - shared by the files of alerts/ only. */
#ifndef MW_ALERTS_INTERNAL_H
#define MW_ALERTS_INTERNAL_H

#include "alerts/rules.h"

/* Sends the grouped notifications that are due at `now` (Alertmanager's
 * group wait, group interval and repeat interval), as outbox rows. */
void alert__notify_flush(mw_conn *c, const struct alert_env *env, int64_t now);

/* 1 when a matcher's regular expression (POSIX ERE) may be given to
 * regcomp: glibc copies a repeated subexpression once per repetition
 * ('+' twice, {n,m} m times) at compile time, so stacked or nested
 * repetitions grow exponentially ("a+++...+" with a few dozen '+' takes
 * gigabytes) and adjacent ones ("a**+*", undefined in POSIX) compile in
 * exponential time. Refused: adjacent repetitions, an estimated expansion
 * past a few thousand nodes, groups nested deeper than 32, and
 * back-references (Alertmanager's RE2 has none; they also make matching
 * exponential). */
int alert__regex_ok(const char *re);

#endif
