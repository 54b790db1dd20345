/* core/outbox.h - the transactional outbox: webhooks written in the
 * transaction that causes them, delivered later by alerts/delivery.c. */
#ifndef MW_CORE_OUTBOX_H
#define MW_CORE_OUTBOX_H

#include <stdint.h>

#include "core/db.h"

/* Queues one message for delivery (POST of payload to url) in the caller's
 * transaction, so it is sent if and only if the change that caused it
 * commits. kind: "alias.moved", "alert", ...; target_type/name say who
 * receives it ("node"/"edge-1", "channel"/"ops-slack"). The message id
 * (webhook-id) is generated here and stays stable across retries. Only
 * url's scheme, host and port are kept (for the delivery log): the
 * delivery worker sends to the URL the target holds when it sends, with
 * the target's secret (so a credential lives in one row, encrypted). */
mw_status mw_outbox_enqueue(mw_conn *c, const char *kind, const char *target_type,
                            const char *target_name, const char *url,
                            const cJSON *payload, int64_t *out_id);

/* {deliveries: [...], next_page_token}: outbox rows newest first, each with
 * its attempts; state filters (pending|delivered|failed|dead) when not
 * NULL; page_token is the id to continue below. Payload secrets never
 * appear (the payload is what receivers see anyway); every URL is its
 * scheme, host and port (mw_url_redact). */
mw_status mw_outbox_list(mw_conn *c, const char *state, int limit, int64_t before_id,
                         cJSON **out);

/* The outbox's depth, for /metrics. */
typedef struct mw_outbox_depth {
  int64_t pending, failed, delivered, dead; /* rows by state */
  int64_t oldest_queued_ms; /* when the oldest pending or failed row was
                               queued (or re-queued by hand); -1: none */
} mw_outbox_depth;

/* Fills *out from the outbox: one walk of the (state, next_attempt_at)
 * index for the counts, a lookup of the waiting rows for the oldest. */
mw_status mw_outbox_stats(mw_conn *c, mw_outbox_depth *out);

/* One bounded step of outbox retention, in its own IMMEDIATE transaction:
 * looks at up to max_rows rows (capped at 10000) in id order after
 * *cursor (0 starts a pass) and deletes, with their delivery_attempts,
 * those delivered or dead whose final time - delivered_at, or a dead
 * row's last attempt - is before cutoff_ms. Pending and failed rows are
 * never deleted, however old. The walk ends at the first row queued at or
 * after cutoff_ms (rows are queued in id order, so none behind it can
 * qualify); *cursor then receives 0, otherwise the id to continue after.
 * *n_delivered and *n_dead receive how many rows of each state went (0 on
 * failure, when nothing is deleted). */
mw_status mw_outbox_purge_step(mw_conn *c, int64_t cutoff_ms, int max_rows,
                               int64_t *cursor, int64_t *n_delivered,
                               int64_t *n_dead);

#endif
