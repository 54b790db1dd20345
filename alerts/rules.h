/* alerts/rules.h - alert rules, their evaluator and state machine,
 * silences and acknowledgements (the delivery half of alerts/ is declared
 * in alerts/alerts.h).
 *
 * Semantics follow Prometheus and Alertmanager, which operators know:
 * a rule is inactive until its condition holds, pending while it has held
 * for less than for_seconds, then firing; it resolves when the condition no
 * longer holds. `nodata` is the state of a rule whose window is empty: a
 * pending alert is dropped, but a firing one stays firing (an empty window
 * is no evidence of recovery). Everything is persisted, so a restart neither
 * loses a firing alert nor fires it twice. */
#ifndef MW_ALERTS_RULES_H
#define MW_ALERTS_RULES_H

#include "core/core.h"

struct reg_env;

/* ---- the state machine (pure, no I/O) ---- */

enum alert_state { ALERT_INACTIVE, ALERT_PENDING, ALERT_FIRING, ALERT_NODATA };
enum alert_cond { ALERT_COND_FALSE, ALERT_COND_TRUE, ALERT_COND_NODATA };
enum alert_event {
  ALERT_EV_NONE,      /* nothing to record beyond the evaluation */
  ALERT_EV_PENDING,   /* a new alert starts pending */
  ALERT_EV_FIRED,     /* the alert fires (notify; run the action) */
  ALERT_EV_RESOLVED,  /* a firing alert resolved */
  ALERT_EV_DISCARDED  /* a pending alert ended before firing */
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
mw_status alert_metric_value(const cJSON *report, const char *metric,
                             double *value);

/* ---- wiring ---- */

/* Computes the drift report of model/version over [from_ms, to_ms) — the
 * JSON of GET .../drift — for the evaluator. Supplied by the caller (the
 * monitor), so alerts/ does not depend on monitor/. */
typedef mw_status (*alert_report_fn)(void *ctx, mw_conn *c, const char *model,
                                     int64_t version, int64_t from_ms,
                                     int64_t to_ms, cJSON **report);

struct alert_env {
  const struct reg_env *reg; /* for the rollback action */
  const char *external_url;  /* links in notifications */
  alert_report_fn report;
  void *report_ctx;
  int64_t group_wait_ms;     /* Alertmanager defaults: 30 s */
  int64_t group_interval_ms; /* 5 min */
  int64_t repeat_interval_ms; /* 4 h */
};

/* ---- rules ---- */

/* Creates a rule from the API body (see API.md). Validates model, alias or
 * version, metric (the column must exist in the version's schema),
 * comparison, durations and channels. 201 JSON of the rule in *out. */
mw_status alert_rule_create(mw_conn *c, const cJSON *body, const char *actor,
                            cJSON **out, mw_err *err);
mw_status alert_rule_get(mw_conn *c, const char *name, cJSON **out, mw_err *err);
/* {rules: [...]} */
mw_status alert_rule_list(mw_conn *c, cJSON **out, mw_err *err);
mw_status alert_rule_delete(mw_conn *c, const char *name, const char *actor,
                            mw_err *err);

/* Evaluates one rule now, as the scheduler would; *out (may be NULL)
 * receives {rule, state, value, event, ...}. */
mw_status alert_rule_evaluate(mw_conn *c, const struct alert_env *env,
                              const char *name, cJSON **out, mw_err *err);
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

/* Starts a thread that calls alert_tick every second. Caller stops it with
 * alert_scheduler_stop (NULL is fine). */
mw_status alert_scheduler_start(mw_db *db, const struct alert_env *env,
                                alert_scheduler **out);
void alert_scheduler_stop(alert_scheduler *s);

#endif
