/* alerts/alerts.h - the alerts subsystem: rules, evaluator, silences,
 * notification channels, and the delivery worker that sends everything in
 * the outbox (alert notifications and the registry's alias.moved commands)
 * as signed webhooks.
 *
 * Conventions as in registry.h: functions take the calling thread's
 * connection; on failure they return a negative mw_status, fill err (may be
 * NULL) with a message for the API client and leave *out NULL; JSON results
 * are new objects the caller frees with cJSON_Delete. */
#ifndef MW_ALERTS_H
#define MW_ALERTS_H

#include "core/core.h"

/* ==================================================================== */
/* Channels, payload formatting and delivery (alerts/channels.c,         */
/* alerts/channel_store.c, alerts/delivery.c, alerts/delivery_store.c,   */
/* alerts/retry.c).                                                      */
/* ==================================================================== */

/* ---- what a notification says ---- */

/* One alert inside a notification: Alertmanager's fields plus the
 * modelwatch facts that chat messages name. Every pointer is borrowed for
 * the duration of the call it is passed to; NULL means "absent" unless
 * noted. */
struct alert_notice {
  const char *status;        /* "firing" | "resolved"; NULL: from state */
  const cJSON *labels;       /* object of strings; NULL: {} */
  const cJSON *annotations;  /* object of strings; NULL: {} */
  int64_t starts_at_ms;      /* when it started firing */
  int64_t ends_at_ms;        /* <= 0: still firing (Alertmanager's zero time) */
  const char *fingerprint;   /* NULL: derived from the labels */
  const char *generator_url; /* link to the rule; NULL: "" */
  const char *rule;          /* rule name */
  const char *model;
  int64_t version;           /* <= 0: unknown */
  const char *alias;         /* alias the rule follows, if any */
  const char *metric;        /* "age.psi", "dataset_drift_share", ... */
  const char *op;            /* ">", ">=", "<", "<=", "==", "!=" */
  double value;              /* NAN when the window had no data */
  double threshold;
  const char *state;         /* "pending" | "firing" | "resolved" | "nodata" */
  const char *severity;      /* NULL: taken from labels.severity if present */
  const char *dashboard_url; /* NULL: the group's external_url */
};

/* A group of alerts notified together (Alertmanager's notification). */
struct alert_group_notice {
  const char *status;              /* NULL: "firing" if any alert fires */
  const char *receiver;            /* NULL: the channel name */
  const char *group_key;           /* NULL: built from the group labels */
  const cJSON *group_labels;       /* NULL: {} */
  const cJSON *common_labels;      /* NULL: labels shared by every alert */
  const cJSON *common_annotations; /* NULL: annotations shared by all */
  const char *external_url;        /* modelwatch's base URL */
  const struct alert_notice *alerts;
  size_t nalerts;
  int truncated_alerts;            /* alerts left out by the caller */
};

/* Channel types, as stored and as accepted by the API. */
#define ALERT_CHANNEL_TYPES "webhook, slack, mattermost, discord, teams"
/* 1 when type is one of ALERT_CHANNEL_TYPES. */
int alert_channel_type_valid(const char *type);

/* Builds the JSON body a channel of `type` receives for group g:
 *   webhook    Alertmanager v4 ({version: "4", groupKey, truncatedAlerts,
 *              status, receiver, groupLabels, commonLabels,
 *              commonAnnotations, externalURL, alerts[]}), each alert with
 *              an extra "modelwatch" object (model, version, metric,
 *              value, threshold, state, dashboardURL);
 *   slack      {text, blocks[]} (header, one section per alert, a button);
 *   mattermost {text, attachments[]} with fields;
 *   discord    {content, embeds: [one embed]} within Discord's limits
 *              (content 2000, title 256, description 4096, 25 fields of
 *              256/1024, 6000 in all), cut on UTF-8 boundaries;
 *   teams      {type: "message", attachments: [Adaptive Card]}.
 * Every variant names model, version, metric, value, threshold and state
 * and links the dashboard. `receiver` names the channel when g->receiver
 * is NULL. Caller frees *out with cJSON_Delete. MW_EINVAL for an unknown
 * type or a group without alerts. */
mw_status alert_payload_build(const char *type, const char *receiver,
                              const struct alert_group_notice *g, cJSON **out);

/* Queues the notification of group g for the channel named `channel`
 * (outbox kind "alert", target_type "channel") inside the caller's open
 * transaction: it is sent if and only if the caller commits. The payload
 * is formatted for the channel's type. MW_ENOTFOUND (err filled) when no
 * such channel. *out_id (may be NULL) receives the outbox id. */
mw_status alert_channel_enqueue(mw_conn *c, const char *channel,
                                const struct alert_group_notice *g,
                                int64_t *out_id, mw_err *err);

/* ---- channels (the API's /api/v1/channels) ---- */

/* Creates a channel from {name, type, url}; generates its signing secret
 * ("whsec_..."), returned once in the result's "secret". One transaction
 * with its audit row. MW_ECONFLICT when the name is taken,
 * MW_EVALIDATION for a bad name, type or URL: the URL must pass
 * mw_url_check_target (allow_private: the server runs with
 * --allow-private-webhooks). */
mw_status alert_channel_create(mw_conn *c, const cJSON *body, int allow_private,
                               const char *actor, cJSON **out, mw_err *err);
/* {channels: [{name, type, url, created_at}]}, ordered by name; never the
 * secret. */
mw_status alert_channel_list(mw_conn *c, cJSON **out, mw_err *err);
/* One channel (no secret); MW_ENOTFOUND when absent. */
mw_status alert_channel_get(mw_conn *c, const char *name, cJSON **out,
                            mw_err *err);
/* Deletes a channel (one transaction, audited). While alert rules name it:
 * without force, MW_ECONFLICT and nothing changes, err->details being
 * {rules: [the first 20 names, sorted], rule_count}; with force, the
 * channel is also taken out of those rules' channel lists. *detached (may
 * be NULL) receives the names of the rules changed so, a new array the
 * caller frees with cJSON_Delete (empty when none; NULL on failure). Its
 * queued deliveries go dead when their turn comes ("channel no longer
 * exists"). MW_ENOTFOUND when absent. */
mw_status alert_channel_delete(mw_conn *c, const char *name, int force,
                               const char *actor, cJSON **detached, mw_err *err);
/* Queues a test notification (kind "alert.test") for the channel, one
 * transaction; *out = {delivery_id, webhook_id}. */
mw_status alert_channel_test(mw_conn *c, const char *name,
                             const char *external_url, const char *actor,
                             cJSON **out, mw_err *err);

/* ---- deliveries ---- */

/* Delivery states (outbox.state):
 *   pending    queued, not yet attempted (or re-queued by hand);
 *   failed     the last attempt failed with a retryable error (network,
 *              5xx, 408, 429); next_attempt_at says when it runs again;
 *   delivered  a 2xx answer was received;
 *   dead       no further attempt: a non-retryable answer (other 4xx, 3xx),
 *              a refused URL, its target deleted, or the attempt/age
 *              budget spent. Only POST .../retry revives it. */

/* Re-queues delivery `id` (state dead or failed) to run now with a fresh
 * attempt budget; one transaction, audited. *out is the delivery as
 * GET /api/v1/deliveries shows it. MW_ENOTFOUND when no such id,
 * MW_ECONFLICT when it is pending or delivered. */
mw_status alert_delivery_retry(mw_conn *c, int64_t id, const char *actor,
                               cJSON **out, mw_err *err);

/* Options of the delivery worker (from mw_config). */
struct alert_delivery_opts {
  int concurrency;           /* parallel transfers, 1..64 (default 8) */
  int max_attempts;          /* attempts before dead (default 8) */
  int64_t max_age_ms;        /* age before dead (default 3 days) */
  long connect_timeout_ms;   /* default 5000 */
  long timeout_ms;           /* whole request, default 15000 */
  int allow_private;         /* loopback and private ranges allowed */
  int64_t retention_ms;      /* delivered and dead rows kept this long
                                after their last attempt; 0 = forever */
};

/* Fills opts from the configuration (clamping out-of-range values). */
void alert_delivery_opts_from_config(const mw_config *cfg,
                                     struct alert_delivery_opts *opts);

typedef struct alert_delivery alert_delivery;

/* Starts the delivery worker: one thread driving up to opts->concurrency
 * libcurl transfers. It claims due outbox rows (pending, or failed with
 * next_attempt_at <= now) under a lease, so that no two workers - threads
 * or processes - send one row at once and a row claimed by a process that
 * died is sent again once the lease (timeout + 5 s) ends. Each target
 * (node or channel) gets its messages one at a time, oldest first. Every
 * attempt is recorded. With opts->retention_ms set, it also removes
 * delivered and dead rows older than that, with their attempts, about
 * once a minute in transactions of at most 1000 rows. db must outlive the
 * worker; curl_global_init must have run. Caller stops and frees it with
 * alert_delivery_stop.
 * MW_EINTERNAL when the thread or curl cannot start. */
mw_status alert_delivery_start(mw_db *db, const struct alert_delivery_opts *opts,
                               alert_delivery **out);
/* Wakes the worker now, e.g. after committing a transaction that queued
 * messages (it also notices new rows by itself within ~10 ms). Thread-safe;
 * NULL is fine. */
void alert_delivery_kick(alert_delivery *d);
/* Stops the worker: no new transfers, in-flight ones get about a second to
 * finish, the rest are abandoned and their claims released so they run
 * again at once after a restart. Joins the thread and frees d; NULL is
 * fine. */
void alert_delivery_stop(alert_delivery *d);

/* Appends the outbox metrics in the Prometheus text format (HELP and TYPE
 * lines included): modelwatch_outbox_messages{state} (rows by state),
 * modelwatch_outbox_oldest_pending_age_seconds (the oldest pending or
 * failed row, 0 when none) and modelwatch_outbox_purged_total{state}
 * (delivered and dead rows removed by retention in this process, as
 * counted by worker d; d may be NULL: 0). */
mw_status alert_delivery_metrics_render(alert_delivery *d, mw_conn *c,
                                        mw_buf *out);

/* ==================================================================== */
/* Rules, evaluator, silences (owned by the lead; declarations below).   */
/* ==================================================================== */

#endif
