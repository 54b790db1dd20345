/* core/audit.h - the append-only audit log. */
#ifndef MW_CORE_AUDIT_H
#define MW_CORE_AUDIT_H

#include "core/db.h"

/* Appends an audit row: who did what to which object. details may be NULL.
 * Call inside the transaction of the change it records. */
mw_status mw_audit(mw_conn *c, const char *actor, const char *action,
                   const char *target, const cJSON *details);

#endif
