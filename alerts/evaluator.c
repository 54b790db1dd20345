/* alerts/evaluator.c - evaluates rules against the monitor's statistics:
 *   alert_rule_evaluate  one rule: the metric is computed outside any
 *                        transaction (a large window must not hold up
 *                        writers), then one write transaction re-reads the
 *                        rule's state and its alias, takes the decision
 *                        (alerts/decision.c) and writes it - the episode,
 *                        the rollback action, the rule's state - or
 *                        nothing when the evaluation is stale;
 *   alert_tick           every due rule, then the notification flush
 *                        (alerts/notify.c); the scheduler's turn.
 *
 * One rollback per firing, across threads and replicas: two evaluations
 * computing at once both read the same last_eval_at; the first to apply
 * moves it on under the write lock (database-wide, so across replicas
 * too), and the second then finds its basis changed and writes nothing. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"
#include "registry/registry.h"

/* ---------------------------------------------------------- loading */

static mw_status copy_rule(void *ctx, const struct alert__rule_row *row) {
  struct alert__rule *r = ctx;
  r->id = row->id;
  mw_strlcpy(r->name, row->name, sizeof r->name);
  mw_strlcpy(r->model, row->model, sizeof r->model);
  mw_strlcpy(r->alias, row->alias ? row->alias : "", sizeof r->alias);
  r->version = row->version;
  mw_strlcpy(r->metric, row->metric, sizeof r->metric);
  mw_strlcpy(r->op, row->op, sizeof r->op);
  mw_strlcpy(r->severity, row->severity, sizeof r->severity);
  r->threshold = row->threshold;
  r->for_s = row->for_s;
  r->window_s = row->window_s;
  r->interval_s = row->interval_s;
  r->rollback = row->action && !strcmp(row->action, "rollback");
  r->last_eval_at = row->last_eval_at < 0 ? 0 : row->last_eval_at;
  r->labels = strdup(row->labels);
  r->annotations = strdup(row->annotations);
  r->segment = row->segment ? strdup(row->segment) : NULL;
  return r->labels && r->annotations && (r->segment || !row->segment) ? MW_OK
                                                                      : MW_ENOMEM;
}

static mw_status load_rule(mw_conn *c, const char *name, struct alert__rule *r,
                           mw_err *err) {
  memset(r, 0, sizeof *r);
  mw_status s = alert__store(c)->rule_get(c, name, copy_rule, r);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no alert rule named '%s'", name);
  if(s)
    alert__rule_clear(r);
  return s;
}

/* Computes the rule's metric now, outside any transaction, noting what it
 * rests on (obs->seen). Never fails: what goes wrong is the problem the
 * rule records (into problem[512], which obs->problem points to). */
static void observe(mw_conn *c, const struct alert_env *env,
                    const struct alert__rule *r, struct alert__observation *obs,
                    char *problem) {
  memset(obs, 0, sizeof *obs);
  problem[0] = '\0';
  obs->problem = problem;
  obs->now = mw_now_ms();
  obs->cond = ALERT_COND_NODATA;
  obs->version = r->version;
  obs->seen.last_eval_at = r->last_eval_at;
  obs->seen.version = r->version;
  if(r->alias[0]) {
    mw_err e = {0};
    if(reg_alias_lookup(c, r->model, r->alias, &obs->version, &e)) {
      snprintf(problem, 512, "%s", e.msg);
      obs->version = 0;
    }
    mw_err_clear(&e);
    obs->seen.version = obs->version;
  }
  if(problem[0])
    return;
  cJSON *report = NULL;
  mw_status rs =
      env->report
          ? env->report(env->report_ctx, c, r->model, obs->version, r->segment,
                        obs->now - r->window_s * 1000, obs->now, &report)
          : MW_EINTERNAL;
  if(rs) {
    snprintf(problem, 512, "cannot compute %s: %s", r->metric, mw_strerror(rs));
  } else if(alert_metric_value(report, r->metric, &obs->value) == MW_OK) {
    int holds = 0;
    alert_compare(r->op, obs->value, r->threshold, &holds);
    obs->cond = holds ? ALERT_COND_TRUE : ALERT_COND_FALSE;
    obs->has_value = 1;
  } else if(mw_json_str(report, "note")) {
    /* A partial report (no reference set) says why the metric is not
     * there: the rule shows it rather than a silent nodata. */
    snprintf(problem, 512, "cannot compute %s: %s", r->metric,
             mw_json_str(report, "note"));
  }
  cJSON_Delete(report);
  if(!obs->has_value)
    obs->value = 0;
}

/* ------------------------------------------------------- applying */

/* Records a rollback the protected alias refused (the refused move itself
 * was rolled back to the savepoint). In a savepoint of its own: a failed
 * write must not spoil the evaluation, which is stored either way. */
static void audit_refusal(mw_conn *c, const struct alert__rule *r, const char *actor,
                          const mw_err *err) {
  mw_status s = mw_savepoint(c);
  if(!s) {
    s = reg_alias_audit_refusal(c, actor, r->model, r->alias, err);
    if(s)
      mw_savepoint_rollback(c);
    else
      s = mw_savepoint_release(c);
  }
  if(s)
    mw_log(MW_LOG_WARN, "alerts",
           "rule %s: the refused rollback of %s@%s is not in "
           "the audit log: %s",
           r->name, r->model, r->alias, mw_strerror(s));
}

/* Runs the rollback action inside the evaluation's transaction. The result
 * (or the reason it could not run, e.g. nothing older to return to) is
 * stored on the episode; it never fails the evaluation. */
static cJSON *run_rollback(mw_conn *c, const struct alert_env *env,
                           const struct alert__rule *r, double value) {
  char reason[700], actor[160];
  snprintf(reason, sizeof reason, "alert rule %s fired: %s = %.6g (%s %.6g)",
           r->name, r->metric, value, r->op, r->threshold);
  snprintf(actor, sizeof actor, "rule:%s", r->name);
  cJSON *res = NULL;
  mw_err err = {0};
  /* A savepoint keeps a failed rollback from spoiling the evaluation. */
  mw_status sp = mw_savepoint(c);
  mw_status s = sp ? sp
                   : reg_alias_rollback_tx(c, env->reg, r->model, r->alias, 0,
                                           reason, actor, &res, &err);
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "action", "rollback");
  /* Named here too, so that a skipped rollback says which alias it left
   * (notifications tell it: alert__action_text). */
  cJSON_AddStringToObject(out, "alias", r->alias);
  if(s) {
    if(!sp)
      mw_savepoint_rollback(c);
    if(s == MW_ENOTAPPROVED)
      audit_refusal(c, r, actor, &err);
    cJSON_AddStringToObject(out, "status", "skipped");
    cJSON_AddStringToObject(out, "code", mw_status_code(s));
    cJSON_AddStringToObject(out, "message", err.msg[0] ? err.msg : mw_strerror(s));
    mw_log(MW_LOG_WARN, "alerts", "rule %s: rollback of %s@%s not done: %s", r->name,
           r->model, r->alias, err.msg);
  } else {
    cJSON_AddStringToObject(out, "status", "done");
    cJSON_AddItemToObject(out, "result", res);
    res = NULL;
    mw_log(MW_LOG_INFO, "alerts", "rule %s rolled %s@%s back", r->name, r->model,
           r->alias);
  }
  if(!s && mw_savepoint_release(c))
    mw_log(MW_LOG_ERROR, "alerts",
           "rule %s: cannot release the rollback's savepoint", r->name);
  cJSON_Delete(res);
  mw_err_clear(&err);
  return out;
}

/* Writes the decided change to the rule's episode; a new episode's id
 * becomes the rule's current one. */
static mw_status write_episode(mw_conn *c, const struct alert__rule *r,
                               const struct alert__observation *obs,
                               struct alert__decision *d) {
  const struct alert__store *st = alert__store(c);
  switch(d->op) {
  case ALERT__EP_INSERT: {
    struct alert__episode_new e = {r->id,
                                   d->fingerprint,
                                   d->episode_state,
                                   d->labels,
                                   d->annotations,
                                   obs->version,
                                   obs->value,
                                   r->threshold,
                                   d->sm.active_since,
                                   d->event == ALERT_EV_FIRED ? obs->now : -1};
    return st->episode_insert(c, &e, &d->save.current_alert_id);
  }
  case ALERT__EP_FIRE:
    return st->episode_fire(c, d->episode_id, obs->now, obs->value, d->annotations);
  case ALERT__EP_RESOLVE:
    /* The value it resolved with, measured on the version the rule watches
     * now: after its rollback, not the version that fired. */
    return st->episode_resolve(c, d->episode_id, obs->now,
                               obs->has_value ? obs->value : NAN, obs->version);
  case ALERT__EP_DISCARD:
    return st->episode_discard(c, d->episode_id);
  case ALERT__EP_VALUE:
    return st->episode_value(c, d->episode_id, obs->value);
  case ALERT__EP_KEEP:
    break;
  }
  return MW_OK;
}

/* Tells event subscribers (core/events.h) that the rule's alert fired or
 * resolved, in the transaction that records it; a firing carries what its
 * rollback action did. */
static mw_status emit_event(mw_conn *c, const struct alert__rule *r,
                            const struct alert__observation *obs,
                            const struct alert__decision *d, const cJSON *action) {
  if(d->event != ALERT_EV_FIRED && d->event != ALERT_EV_RESOLVED)
    return MW_OK;
  cJSON *data = cJSON_CreateObject();
  cJSON_AddStringToObject(data, "rule", r->name);
  cJSON_AddNumberToObject(data, "alert_id",
                          (double)(d->op == ALERT__EP_INSERT
                                       ? d->save.current_alert_id
                                       : d->episode_id));
  cJSON_AddStringToObject(data, "model", r->model);
  if(r->alias[0])
    cJSON_AddStringToObject(data, "alias", r->alias);
  else
    cJSON_AddNullToObject(data, "alias");
  if(obs->version > 0)
    cJSON_AddNumberToObject(data, "version", (double)obs->version);
  else
    cJSON_AddNullToObject(data, "version");
  cJSON_AddStringToObject(data, "metric", r->metric);
  cJSON_AddStringToObject(data, "op", r->op);
  cJSON_AddNumberToObject(data, "threshold", r->threshold);
  if(obs->has_value)
    cJSON_AddNumberToObject(data, "value", obs->value);
  else
    cJSON_AddNullToObject(data, "value");
  cJSON_AddStringToObject(data, "severity", r->severity);
  cJSON *labels = r->labels ? cJSON_Parse(r->labels) : NULL;
  cJSON_AddItemToObject(data, "labels", labels ? labels : cJSON_CreateObject());
  if(action)
    cJSON_AddItemToObject(data, "action", cJSON_Duplicate(action, 1));
  mw_status s = mw_event_emit(
      c, d->event == ALERT_EV_FIRED ? "alert.firing" : "alert.resolved", r->model,
      data);
  cJSON_Delete(data);
  return s;
}

/* Inside the write transaction: re-reads what the decision rests on,
 * decides, and writes it (unless it is stale). *action receives the
 * rollback's result when it ran. */
static mw_status apply(mw_conn *c, const struct alert_env *env,
                       const struct alert__rule *r,
                       const struct alert__observation *obs,
                       struct alert__decision *d, const char *actor, cJSON **action,
                       mw_err *err) {
  assert(mw_tx_state(c) == 1);
  const struct alert__store *st = alert__store(c);
  struct alert__rule_state stored;
  mw_status s = st->rule_state(c, r->id, &stored);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "rule '%s' was deleted", r->name);
  if(s)
    return s;
  int64_t alias_version = 0;
  if(r->alias[0]) {
    s = reg_alias_lookup(c, r->model, r->alias, &alias_version, NULL);
    if(s == MW_ENOTFOUND)
      alias_version = 0;
    else if(s)
      return s;
  }
  s = alert__decide(r, &stored, alias_version, obs, d);
  if(s || d->stale)
    return s;
  s = write_episode(c, r, obs, d);
  if(!s && d->rollback) {
    assert(d->save.current_alert_id > 0);
    *action = run_rollback(c, env, r, obs->value);
    char *txt = cJSON_PrintUnformatted(*action);
    s = txt ? st->episode_action(c, d->save.current_alert_id, txt) : MW_ENOMEM;
    cJSON_free(txt);
  }
  if(!s)
    s = emit_event(c, r, obs, d, *action);
  if(!s)
    s = st->rule_save(c, r->id, &d->save);
  if(!s && actor)
    s = mw_audit(c, actor, "alert_rule.evaluate", r->name, NULL);
  return s;
}

/* The answer of POST .../evaluate. A stale evaluation shows the rule as it
 * stands and says it was superseded. */
static cJSON *reply(const struct alert__rule *r,
                    const struct alert__observation *obs,
                    const struct alert__decision *d, cJSON *action) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "rule", r->name);
  cJSON_AddStringToObject(o, "state", alert_state_name(d->sm.state));
  cJSON_AddStringToObject(o, "event", alert__event_name(d->event));
  if(d->stale)
    cJSON_AddBoolToObject(o, "superseded", 1);
  if(obs->has_value)
    cJSON_AddNumberToObject(o, "value", obs->value);
  else
    cJSON_AddNullToObject(o, "value");
  cJSON_AddNumberToObject(o, "threshold", r->threshold);
  int64_t version = d->stale ? d->version_now : obs->version;
  if(version > 0)
    cJSON_AddNumberToObject(o, "version", (double)version);
  int64_t alert_id = d->stale ? d->episode_id : d->save.current_alert_id;
  if(alert_id)
    cJSON_AddNumberToObject(o, "alert_id", (double)alert_id);
  if(!d->stale && obs->problem[0])
    cJSON_AddStringToObject(o, "error", obs->problem);
  if(action)
    cJSON_AddItemToObject(o, "action", action);
  mw_json_add_time(o, "evaluated_at", d->stale ? obs->now : d->save.last_eval_at);
  return o;
}

mw_status alert_rule_evaluate(mw_conn *c, const struct alert_env *env,
                              const char *name, const char *actor, cJSON **out,
                              mw_err *err) {
  assert(c && env && name);
  if(out)
    *out = NULL;
  struct alert__rule r;
  mw_status s = load_rule(c, name, &r, err);
  if(s)
    return s;
  struct alert__observation obs;
  char problem[512];
  observe(c, env, &r, &obs, problem);
  struct alert__decision d;
  memset(&d, 0, sizeof d);
  cJSON *action = NULL;
  s = mw_tx_begin(c);
  if(!s)
    s = apply(c, env, &r, &obs, &d, actor, &action, err);
  /* A stale evaluation changes nothing; the caller sees the state as it
   * stands. */
  if(!s && !d.stale)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(!s && out) {
    *out = reply(&r, &obs, &d, action);
    action = NULL;
  }
  cJSON_Delete(action);
  alert__decision_clear(&d);
  alert__rule_clear(&r);
  return s;
}

/* ------------------------------------------------------------ tick */

#define TICK_MAX 64

struct due_names {
  char names[TICK_MAX][129];
  int n;
};

static mw_status add_due(void *ctx, const char *name) {
  struct due_names *d = ctx;
  if(d->n < TICK_MAX)
    mw_strlcpy(d->names[d->n++], name, sizeof d->names[0]);
  return MW_OK;
}

int alert_tick(mw_conn *c, const struct alert_env *env, int64_t now) {
  /* Names first, then evaluate: evaluation runs its own statements. */
  struct due_names *due = calloc(1, sizeof *due);
  if(!due)
    return 0;
  mw_status s = alert__store(c)->rules_due(c, now, TICK_MAX, add_due, due);
  if(s)
    mw_log(MW_LOG_WARN, "alerts", "cannot list the rules due: %s", mw_strerror(s));
  for(int i = 0; i < due->n; i++) {
    mw_err err = {0};
    s = alert_rule_evaluate(c, env, due->names[i], NULL, NULL, &err);
    if(s && s != MW_ENOTFOUND)
      mw_log(MW_LOG_WARN, "alerts", "evaluating rule %s failed: %s", due->names[i],
             err.msg[0] ? err.msg : mw_strerror(s));
    mw_err_clear(&err);
  }
  int n = due->n;
  free(due);
  alert__notify_flush(c, env, now);
  return n;
}
