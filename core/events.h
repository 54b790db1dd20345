/* core/events.h - event subscriptions: URLs outside modelwatch (CI, other
 * services) that receive what happens to models - created, versions
 * created, ready, approved or rejected, aliases moved, rollouts, alerts
 * firing and resolved - as signed webhooks through the outbox.
 *
 * A subscription names event patterns ("version.approved", "rollout.*",
 * "*") and optionally model patterns ("fraud", "churn-*"). An event is
 * queued, in the transaction of the change that causes it, once for every
 * subscription that wants it: POST <url> {"type", "at", "data"}, signed
 * per Standard Webhooks with the subscription's own secret, retried and
 * listed in /api/v1/deliveries like every other webhook. */
#ifndef MW_CORE_EVENTS_H
#define MW_CORE_EVENTS_H

#include "core/db.h"

/* The event types an emitter may send (see the list in events.c). */
int mw_event_type_known(const char *type);

/* Creates a subscription from {name, url, events: [...], models?: [...]}:
 * out is it with its secret (whsec_..., shown only here). The URL must
 * pass mw_url_check_target (allow_private: --allow-private-webhooks);
 * events are known types or family patterns. MW_EVALIDATION,
 * MW_ECONFLICT for a taken name. Audited. */
mw_status mw_subscription_create(mw_conn *c, const cJSON *body, int allow_private,
                                 const char *actor, cJSON **out, mw_err *err);
/* {subscriptions: [...]} by name, or (name non-NULL) that one object. */
mw_status mw_subscription_list(mw_conn *c, const char *name, cJSON **out,
                               mw_err *err);
/* Deletes it and marks its queued deliveries dead (never sent), in one
 * transaction. Audited. */
mw_status mw_subscription_delete(mw_conn *c, const char *name, const char *actor,
                                 mw_err *err);

/* Queues event type about model (data borrowed) for every subscription
 * that wants it, inside the caller's write transaction. O(subscriptions). */
mw_status mw_event_emit(mw_conn *c, const char *type, const char *model,
                        const cJSON *data);

#endif
