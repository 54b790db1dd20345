/* alerts/alerts.h - the one public header of the alerts subsystem: rules,
 * their evaluation and state machine, alert episodes, silences,
 * notification channels, and the delivery worker that sends everything in
 * the outbox (alert notifications and the registry's alias.moved commands)
 * as signed webhooks. web/ and cli/ include this header only; what the
 * files of alerts/ share among themselves is alerts/internal.h, what they
 * keep in the database goes through alerts/store.h.
 *
 * Semantics follow Prometheus and Alertmanager, which operators know: a
 * rule is inactive until its condition holds, pending while it has held
 * for less than for_seconds, then firing; it resolves when the condition
 * no longer holds. `nodata` is the state of a rule whose window is empty:
 * a pending alert is dropped, but a firing one stays firing (an empty
 * window is no evidence of recovery). Everything is persisted, so a
 * restart neither loses a firing alert nor fires it twice.
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
/* alerts/payloads.c, alerts/queue.c, alerts/delivery.c,                 */
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
  int64_t version;    /* <= 0: unknown */
  const char *alias;  /* alias the rule follows, if any */
  const char *metric; /* "age.psi", "dataset_drift_share", ... */
  const char *op;     /* ">", ">=", "<", "<=", "==", "!=" */
  double value;       /* the value it fired with (not the latest); NAN when
                         the window had no data */
  double threshold;
  const char *state;         /* "pending" | "firing" | "resolved" | "nodata" */
  const char *severity;      /* NULL: taken from labels.severity if present */
  const char *dashboard_url; /* NULL: the group's external_url */
  /* A resolved alert: the value it resolved with (when has_resolved_value)
   * and the version that was measured on (<= 0: unknown; after a rollback
   * it is not the version that fired). */
  int has_resolved_value;
  double resolved_value;
  int64_t resolved_version;
  /* What the rule's action did, one line ("rolled production back v2 ->
   * v1", or why it did not); NULL: no action ran. */
  const char *action;
  /* > 0 on the firing of an alert that already resolved (ms) before this
   * channel was told it fired: the group tells the firing, then its
   * resolution (another notice). The Alertmanager channel sends only the
   * resolution. */
  int64_t resolved_since_ms;
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
  int truncated_alerts; /* alerts left out by the caller */
};

/* Channel types, as stored and as accepted by the API. */
#define ALERT_CHANNEL_TYPES \
  "webhook, slack, mattermost, discord, teams, alertmanager, email"
/* 1 when type is one of ALERT_CHANNEL_TYPES. */
int alert_channel_type_valid(const char *type);

/* Builds the JSON body a channel of `type` receives for group g:
 *   webhook    Alertmanager v4 ({version: "4", groupKey, truncatedAlerts,
 *              status, receiver, groupLabels, commonLabels,
 *              commonAnnotations, externalURL, alerts[]}), each alert with
 *              an extra "modelwatch" object (rule, model, version, alias,
 *              metric, op, value, threshold, state, action, dashboardURL;
 *              resolvedValue and resolvedVersion once resolved,
 *              resolvedSince on a firing told after it resolved) and the
 *              annotation "action" when its rule's action ran;
 *   slack      {text, blocks[]} (header, one section per alert, a button);
 *   mattermost {text, attachments[]} with fields;
 *   discord    {content, embeds: [one embed]} within Discord's limits
 *              (content 2000, title 256, description 4096, 25 fields of
 *              256/1024, 6000 in all), cut on UTF-8 boundaries;
 *   teams      {type: "message", attachments: [Adaptive Card]};
 *   alertmanager  [postable alerts] for Alertmanager's /api/v2/alerts;
 *   email      {subject, text}: the line phones show, and plain text
 *              naming every fact of each alert (the channel adds from and
 *              to; the delivery worker composes the mail).
 * Every variant names model, version, metric, value (the value it fired
 * with), threshold, state and what the rule's action did, and links the
 * dashboard; firing alerts come first, whatever order g lists them in
 * (so the line phones show - Slack's text, Discord's content - is about a
 * firing one). `receiver` names the channel when g->receiver is NULL.
 * Caller frees *out with cJSON_Delete. MW_EINVAL for an unknown type or a
 * group without alerts. */
mw_status alert_payload_build(const char *type, const char *receiver,
                              const struct alert_group_notice *g, cJSON **out);

/* Queues the notification of group g for the channel named `channel`
 * (outbox kind "alert", target_type "channel") inside the caller's open
 * transaction: it is sent if and only if the caller commits. The payload
 * is formatted for the channel's type. MW_ENOTFOUND (err filled) when no
 * such channel. *out_id (may be NULL) receives the outbox id. */
mw_status alert_channel_enqueue(mw_conn *c, const char *channel,
                                const struct alert_group_notice *g, int64_t *out_id,
                                mw_err *err);

/* Queues notice g, formatted for each channel's type, for every channel
 * that a rule of model names (each once), in the caller's open write
 * transaction. For events that are not alerts but concern the people
 * watching the model (a rollout aborted). *sent receives how many
 * channels it was queued for. */
mw_status alert_announce_model(mw_conn *c, const char *model,
                               const struct alert_group_notice *g, int *sent);

/* ---- channels (the API's /api/v1/channels) ---- */

/* Creates a channel from {name, type, url} - for type email also {to: [1-20
 * addresses], from, username?, password?}, which no other type takes;
 * generates its signing secret ("whsec_..."), returned once in the
 * result's "secret" (not for email: mail is not signed). The password is
 * stored and never returned. One transaction with its audit row.
 * MW_ECONFLICT when the name is taken, MW_EVALIDATION for a bad name,
 * type, URL or email field: the URL must pass mw_url_check_target
 * (mw_url_check_smtp_target for email; allow_private: the server runs
 * with --allow-private-webhooks). */
mw_status alert_channel_create(mw_conn *c, const cJSON *body, int allow_private,
                               const char *actor, cJSON **out, mw_err *err);
/* {channels: [{name, type, url, created_at}]} (an email channel's also
 * with to, from and username), ordered by name; never the secret, never
 * the password. */
mw_status alert_channel_list(mw_conn *c, cJSON **out, mw_err *err);
/* One channel (no secret); MW_ENOTFOUND when absent. */
mw_status alert_channel_get(mw_conn *c, const char *name, cJSON **out, mw_err *err);
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
mw_status alert_channel_test(mw_conn *c, const char *name, const char *external_url,
                             const char *actor, cJSON **out, mw_err *err);

/* ---- deliveries ---- */

/* Delivery states (outbox.state):
 *   pending    queued, not yet attempted (or re-queued by hand);
 *   failed     the last attempt failed with a retryable error (network,
 *              5xx, 408, 429; for mail, a 4xx SMTP reply);
 *              next_attempt_at says when it runs again;
 *   delivered  a 2xx answer was received (for mail: the server took it);
 *   dead       no further attempt: a non-retryable answer (other 4xx, 3xx;
 *              for mail, a 5xx SMTP reply),
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
  int concurrency;         /* parallel transfers, 1..64 (default 8) */
  int max_attempts;        /* attempts before dead (default 8) */
  int64_t max_age_ms;      /* age before dead (default 3 days) */
  long connect_timeout_ms; /* default 5000 */
  long timeout_ms;         /* whole request, default 15000 */
  int allow_private;       /* loopback and private ranges allowed */
  int64_t retention_ms;    /* delivered and dead rows kept this long
                                after their last attempt; 0 = forever */
};

/* Fills opts from the configuration (clamping out-of-range values). */
void alert_delivery_opts_from_config(const mw_config *cfg,
                                     struct alert_delivery_opts *opts);

typedef struct alert_delivery alert_delivery;

/* Starts the delivery worker: one thread driving up to opts->concurrency
 * libcurl transfers (signed POSTs; a mail over SMTP for an email
 * channel, its Message-ID made of the webhook-id). It claims due outbox rows (pending, or failed with
 * next_attempt_at <= now) under a lease, so that no two workers - threads,
 * processes or replicas on one PostgreSQL database - send one row at once
 * and a row claimed by a process that died is sent again, with the same
 * webhook-id, once the lease (timeout + 5 s) ends. Each target (node or
 * channel) gets its messages one at a time, oldest first. Every attempt
 * is recorded. New rows wake it at once: on PostgreSQL through the NOTIFY
 * their transaction sends, on SQLite by a cheap look at the database's
 * data version every 10 ms. With opts->retention_ms set, it also removes
 * delivered and dead rows older than that, with their attempts, about
 * once a minute in transactions of at most 1000 rows. db must outlive the
 * worker; curl_global_init must have run. Caller stops and frees it with
 * alert_delivery_stop.
 * MW_EINTERNAL when the thread or curl cannot start. */
mw_status alert_delivery_start(mw_db *db, const struct alert_delivery_opts *opts,
                               alert_delivery **out);
/* Wakes the worker now, e.g. after committing a transaction that queued
 * messages (it also notices new rows by itself: within ~10 ms on SQLite,
 * at once on PostgreSQL; an idle worker on PostgreSQL notices a kick within
 * 100 ms). Thread-safe; NULL is fine. */
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
mw_status alert_delivery_metrics_render(alert_delivery *d, mw_conn *c, mw_buf *out);

/* ==================================================================== */
/* Rules, their evaluation, alerts and silences (alerts/rules.c,         */
/* alerts/state.c, alerts/evaluator.c, alerts/scheduler.c,               */
/* alerts/episodes.c, alerts/silences.c, alerts/matchers.c).             */
/* ==================================================================== */

struct reg_env;

/* ---- the state machine (pure, no I/O) ---- */

enum alert_state { ALERT_INACTIVE, ALERT_PENDING, ALERT_FIRING, ALERT_NODATA };
enum alert_cond { ALERT_COND_FALSE, ALERT_COND_TRUE, ALERT_COND_NODATA };
enum alert_event {
  ALERT_EV_NONE,     /* nothing to record beyond the evaluation */
  ALERT_EV_PENDING,  /* a new alert starts pending */
  ALERT_EV_FIRED,    /* the alert fires (notify; run the action) */
  ALERT_EV_RESOLVED, /* a firing alert resolved */
  ALERT_EV_DISCARDED /* a pending alert ended before firing */
};

struct alert_sm {
  enum alert_state state;
  int64_t active_since; /* ms; when the condition started holding */
};

/* Advances sm with one evaluation result at time now (ms) for a rule whose
 * `for` is for_ms. Returns what happened. */
enum alert_event alert_sm_step(struct alert_sm *sm, enum alert_cond cond,
                               int64_t now, int64_t for_ms);
const char *alert_state_name(enum alert_state s);

/* What an evaluation's decision rests on: read before the metric is
 * computed (outside the write transaction, so a large window does not
 * hold up writers) and again inside the transaction that applies it. */
struct alert_eval_basis {
  int64_t last_eval_at; /* the rule's last applied evaluation, ms (0: none);
                           strictly increasing, see alert_eval_stamp */
  int64_t version;      /* the version the metric is for: the alias's
                           target (0 when it has none) or the rule's
                           fixed version */
};

/* 1 when an evaluation computed on `seen` may still step the state
 * machine given `now`, read inside the transaction: no other evaluation
 * of the rule was applied meanwhile and the version is the same. 0 means
 * it is stale and must change nothing: a concurrent evaluation (scheduler,
 * POST .../evaluate, another replica) already decided on newer facts -
 * this is what makes one firing roll back once. */
int alert_eval_current(const struct alert_eval_basis *seen,
                       const struct alert_eval_basis *now);
/* The last_eval_at an applied evaluation records: now, or one past the
 * previous one when the clock has not moved on (or went back), so every
 * applied evaluation changes it. */
int64_t alert_eval_stamp(int64_t prev_last_eval_at, int64_t now);
/* Parses a state name; -1 if unknown. */
int alert_state_parse(const char *s);

/* Comparison of a rule: ">", ">=", "<", "<=", "==", "!=". 1 if known and
 * sets *holds to (value op threshold). */
int alert_compare(const char *op, double value, double threshold, int *holds);

/* Checks a metric name: dataset_drift_share, prediction_count, a
 * performance metric (accuracy, precision, recall, f1, mae, rmse) or
 * <column>.<statistic>. On success *column receives a malloc'd column name
 * for the last form (NULL otherwise). */
mw_status alert_metric_check(const char *metric, char **column, mw_err *err);
/* Reads the metric out of a drift report as GET .../drift returns it.
 * MW_ENOTFOUND when the window has no data for it (nodata). */
mw_status alert_metric_value(const cJSON *report, const char *metric, double *value);

/* ---- wiring ---- */

/* Computes the drift report of model/version over [from_ms, to_ms) — the
 * JSON of GET .../drift — for the evaluator; with segment (a rule's
 * {"column": "value"} as JSON text; NULL: none) the report of that segment
 * only (its window count, dataset, columns and performance). Supplied by
 * the caller (the monitor), so alerts/ does not depend on monitor/. */
typedef mw_status (*alert_report_fn)(void *ctx, mw_conn *c, const char *model,
                                     int64_t version, const char *segment,
                                     int64_t from_ms, int64_t to_ms, cJSON **report);

struct alert_env {
  const struct reg_env *reg; /* for the rollback action */
  /* The replicas sharing the database: the scheduler evaluates only while
   * this replica leads (NULL: always, as with one process). */
  const mw_cluster *cluster;
  const char *external_url; /* links in notifications */
  alert_report_fn report;
  void *report_ctx;
  int64_t group_wait_ms;      /* Alertmanager defaults: 30 s */
  int64_t group_interval_ms;  /* 5 min */
  int64_t repeat_interval_ms; /* 4 h */
};

/* ---- rules ---- */

/* Creates a rule from the API body {name, model, alias | version, metric,
 * op, threshold, for_seconds?, window_seconds?, interval_seconds?,
 * severity?, labels?, annotations?, channels?, action?}. Validates model,
 * alias or version, metric (the column must exist in the version's
 * schema), comparison, durations and channels; one transaction with its
 * audit row. *out is the rule as GET returns it. */
mw_status alert_rule_create(mw_conn *c, const cJSON *body, const char *actor,
                            cJSON **out, mw_err *err);
mw_status alert_rule_get(mw_conn *c, const char *name, cJSON **out, mw_err *err);
/* {rules: [...]} */
mw_status alert_rule_list(mw_conn *c, cJSON **out, mw_err *err);
mw_status alert_rule_delete(mw_conn *c, const char *name, const char *actor,
                            mw_err *err);

/* Evaluates one rule now, as the scheduler would; *out (may be NULL)
 * receives {rule, state, value, event, ...}. Safe to call from any thread
 * of any replica at any time: the metric is computed outside the write
 * transaction, and the transaction that applies it re-reads the rule's
 * state and its alias and changes nothing when another evaluation got
 * there first ("superseded": true), so a firing rolls back once. actor
 * (NULL for the scheduler) is who asked: the applied evaluation then also
 * writes an audit row (alert_rule.evaluate). */
mw_status alert_rule_evaluate(mw_conn *c, const struct alert_env *env,
                              const char *name, const char *actor, cJSON **out,
                              mw_err *err);
/* Evaluates every rule that is due and sends the grouped notifications
 * that are due. Returns the number of rules evaluated. */
int alert_tick(mw_conn *c, const struct alert_env *env, int64_t now);

/* ---- alerts, acknowledgements, silences ---- */

/* {alerts: [...]} newest first; state NULL for all. */
mw_status alert_list(mw_conn *c, const char *state, int limit, cJSON **out,
                     mw_err *err);
/* Acknowledges an alert: no more repeat notifications for it. */
mw_status alert_ack(mw_conn *c, int64_t id, const char *actor, cJSON **out,
                    mw_err *err);
/* Creates a silence {matchers: [{name, value, is_regex}], starts_at?,
 * ends_at, comment}. */
mw_status alert_silence_create(mw_conn *c, const cJSON *body, const char *actor,
                               cJSON **out, mw_err *err);
/* {silences: [...]}, with active ones first. */
mw_status alert_silence_list(mw_conn *c, cJSON **out, mw_err *err);
/* Expires a silence now. */
mw_status alert_silence_expire(mw_conn *c, int64_t id, const char *actor,
                               mw_err *err);
/* 1 if an active silence at `now` matches every one of its matchers against
 * labels (a JSON object of strings). */
int alert_silenced(mw_conn *c, const cJSON *labels, int64_t now);
/* 1 if all matchers (JSON array) match labels; regexes are anchored like
 * Alertmanager's. */
int alert_matchers_match(const cJSON *matchers, const cJSON *labels);

/* ---- the scheduler ---- */

typedef struct alert_scheduler alert_scheduler;

/* Starts a thread that calls alert_tick every second while env->cluster
 * says this replica leads, so rules are evaluated once per interval across
 * the replicas. env is copied. Caller stops it with alert_scheduler_stop
 * (NULL is fine). */
mw_status alert_scheduler_start(mw_db *db, const struct alert_env *env,
                                alert_scheduler **out);
void alert_scheduler_stop(alert_scheduler *s);

#endif
