/* core/audit.h - the append-only audit log. */
#ifndef MW_CORE_AUDIT_H
#define MW_CORE_AUDIT_H

#include "core/db.h"

/* Appends an audit row: who did what to which object. details may be NULL.
 * Call inside the transaction of the change it records. */
mw_status mw_audit(mw_conn *c, const char *actor, const char *action,
                   const char *target, const cJSON *details);
/* What a page of the audit log holds: rows with id < before (<= 0: from
 * the newest) and at in [from_ms, to_ms) (-1: unbounded), of actor, action
 * and target when not NULL. */
typedef struct mw_audit_query {
  int64_t before, from_ms, to_ms;
  const char *actor, *action, *target;
} mw_audit_query;

/* {entries: [{id, at, actor, action, target, details}], next_before}: the
 * rows q asks for, newest first, at most limit (1..1000). next_before is
 * the id to pass for the next page, null after the last. */
mw_status mw_audit_list(mw_conn *c, const mw_audit_query *q, int limit, cJSON **out);

#endif
