/* alerts/alerts_internal.h - shared by the files of alerts/ only. */
#ifndef MW_ALERTS_INTERNAL_H
#define MW_ALERTS_INTERNAL_H

#include "alerts/rules.h"

/* Sends the grouped notifications that are due at `now` (Alertmanager's
 * group wait, group interval and repeat interval), as outbox rows. */
void alert__notify_flush(mw_conn *c, const struct alert_env *env, int64_t now);

#endif
