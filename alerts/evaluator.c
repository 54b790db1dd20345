/* alerts/evaluator.c - evaluates rules against the monitor's statistics,
 * applies the state machine and records its effects (episodes, the rollback
 * action, notifications) in one transaction per evaluation; the scheduler
 * thread runs it for every due rule each second. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db_sqlite.h"
#include "alerts/alerts_internal.h"
#include "registry/registry.h"

struct rule_row {
  int64_t id;
  char name[129], model[129], alias[129], metric[301], op[8], severity[33];
  int64_t version; /* fixed version, or 0 when the rule follows alias */
  double threshold;
  int64_t for_s, window_s, interval_s;
  int rollback;
  int64_t last_eval_at; /* when loaded: what this evaluation builds on */
  char *labels; /* malloc'd JSON */
  char *annotations;
};

static void rule_row_free(struct rule_row *r) {
  free(r->labels);
  free(r->annotations);
  r->labels = r->annotations = NULL;
}

static mw_status load_rule(mw_conn *c, const char *name, struct rule_row *r,
                           mw_err *err) {
  memset(r, 0, sizeof *r);
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT id, name, model, alias, version, metric, op, threshold, "
         "for_seconds, window_seconds, interval_seconds, severity, action, "
         "labels, annotations, coalesce(last_eval_at, 0) FROM alert_rules "
         "WHERE name = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, name);
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? mw_errf(err, MW_ENOTFOUND, "no alert rule named '%s'", name)
                             : mw_db_status(c, rc);
  }
  r->id = sqlite3_column_int64(st, 0);
  mw_strlcpy(r->name, mw_col_text(st, 1), sizeof r->name);
  mw_strlcpy(r->model, mw_col_text(st, 2), sizeof r->model);
  mw_strlcpy(r->alias, mw_col_text(st, 3), sizeof r->alias);
  r->version = sqlite3_column_int64(st, 4);
  mw_strlcpy(r->metric, mw_col_text(st, 5), sizeof r->metric);
  mw_strlcpy(r->op, mw_col_text(st, 6), sizeof r->op);
  r->threshold = sqlite3_column_double(st, 7);
  r->for_s = sqlite3_column_int64(st, 8);
  r->window_s = sqlite3_column_int64(st, 9);
  r->interval_s = sqlite3_column_int64(st, 10);
  mw_strlcpy(r->severity, mw_col_text(st, 11), sizeof r->severity);
  r->rollback = !strcmp(mw_col_text(st, 12), "rollback");
  r->labels = strdup(mw_col_text(st, 13));
  r->annotations = strdup(mw_col_text(st, 14));
  r->last_eval_at = sqlite3_column_int64(st, 15);
  sqlite3_reset(st);
  if(!r->labels || !r->annotations) {
    rule_row_free(r);
    return MW_ENOMEM;
  }
  return MW_OK;
}

static const char *event_name(enum alert_event ev) {
  static const char *n[] = {"none", "pending", "fired", "resolved", "discarded"};
  return (unsigned)ev < 5 ? n[ev] : "none";
}

/* Labels of an episode: the rule's labels plus the identifying ones. */
static cJSON *episode_labels(const struct rule_row *r, int64_t version) {
  cJSON *l = cJSON_Parse(r->labels);
  if(!l)
    l = cJSON_CreateObject();
  char vbuf[32];
  snprintf(vbuf, sizeof vbuf, "%lld", (long long)version);
  const char *keys[] = {"alertname", "model", "version", "metric", "severity", "alias"};
  const char *vals[] = {r->name, r->model, vbuf, r->metric, r->severity, r->alias};
  for(int i = 0; i < 6; i++) {
    if(!vals[i][0])
      continue;
    cJSON_DeleteItemFromObjectCaseSensitive(l, keys[i]);
    cJSON_AddStringToObject(l, keys[i], vals[i]);
  }
  return l;
}

static cJSON *episode_annotations(const struct rule_row *r, int64_t version,
                                  double value, int has_value) {
  cJSON *a = cJSON_Parse(r->annotations);
  if(!a)
    a = cJSON_CreateObject();
  if(!cJSON_GetObjectItemCaseSensitive(a, "summary")) {
    char buf[600];
    if(has_value)
      snprintf(buf, sizeof buf, "%s of %s v%lld is %.6g (threshold %s %.6g)",
               r->metric, r->model, (long long)version, value, r->op, r->threshold);
    else
      snprintf(buf, sizeof buf, "%s of %s v%lld has no data", r->metric, r->model,
               (long long)version);
    cJSON_AddStringToObject(a, "summary", buf);
  }
  return a;
}

/* Runs the rollback action inside the evaluation's transaction. The result
 * (or the reason it could not run, e.g. nothing older to return to) is
 * stored on the episode; it never fails the evaluation. */
static cJSON *run_rollback(mw_conn *c, const struct alert_env *env,
                           const struct rule_row *r, double value) {
  char reason[700], actor[160];
  snprintf(reason, sizeof reason, "alert rule %s fired: %s = %.6g (%s %.6g)",
           r->name, r->metric, value, r->op, r->threshold);
  snprintf(actor, sizeof actor, "rule:%s", r->name);
  cJSON *res = NULL;
  mw_err err = {0};
  /* A savepoint keeps a failed rollback from spoiling the evaluation. */
  mw_status sp = mw_savepoint(c);
  mw_status s = sp ? sp : reg_alias_rollback_tx(c, env->reg, r->model, r->alias,
                                                0, reason, actor, &res, &err);
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "action", "rollback");
  if(s) {
    if(!sp)
      mw_savepoint_rollback(c);
    cJSON_AddStringToObject(out, "status", "skipped");
    cJSON_AddStringToObject(out, "message", err.msg[0] ? err.msg : mw_strerror(s));
    mw_log(MW_LOG_WARN, "alerts", "rule %s: rollback of %s@%s not done: %s",
           r->name, r->model, r->alias, err.msg);
  } else {
    cJSON_AddStringToObject(out, "status", "done");
    cJSON_AddItemToObject(out, "result", res);
    res = NULL;
    mw_log(MW_LOG_INFO, "alerts", "rule %s rolled %s@%s back", r->name, r->model,
           r->alias);
  }
  if(!s && mw_savepoint_release(c))
    mw_log(MW_LOG_ERROR, "alerts", "rule %s: cannot release the rollback's savepoint",
           r->name);
  cJSON_Delete(res);
  mw_err_clear(&err);
  return out;
}

mw_status alert_rule_evaluate(mw_conn *c, const struct alert_env *env,
                              const char *name, cJSON **out, mw_err *err) {
  if(out)
    *out = NULL;
  struct rule_row r;
  mw_status s = load_rule(c, name, &r, err);
  if(s)
    return s;
  int64_t now = mw_now_ms();
  int64_t version = r.version;
  enum alert_cond cond = ALERT_COND_NODATA;
  double value = 0;
  int has_value = 0;
  char problem[512] = "";
  cJSON *action = NULL;
  /* The statistics are computed outside the write transaction: a large
   * window must not hold up ingest. What they were computed on is noted,
   * and checked again inside the transaction (alert_eval_current). */
  struct alert_eval_basis seen = {r.last_eval_at, r.version};
  if(r.alias[0]) {
    mw_err e2 = {0};
    if(reg_alias_lookup(c, r.model, r.alias, &version, &e2)) {
      snprintf(problem, sizeof problem, "%s", e2.msg);
      version = 0;
    }
    mw_err_clear(&e2);
    seen.version = version;
  }
  if(!problem[0]) {
    cJSON *report = NULL;
    mw_err e2 = {0};
    mw_status rs = env->report ? env->report(env->report_ctx, c, r.model, version,
                                             now - r.window_s * 1000, now, &report)
                               : MW_EINTERNAL;
    if(rs) {
      snprintf(problem, sizeof problem, "cannot compute %s: %s", r.metric,
               mw_strerror(rs));
    } else if(alert_metric_value(report, r.metric, &value) == MW_OK) {
      int holds = 0;
      alert_compare(r.op, value, r.threshold, &holds);
      cond = holds ? ALERT_COND_TRUE : ALERT_COND_FALSE;
      has_value = 1;
    } else if(mw_json_str(report, "note")) {
      /* A partial report (no reference set) says why the metric is not
       * there: the rule shows it rather than a silent nodata. */
      snprintf(problem, sizeof problem, "cannot compute %s: %s", r.metric,
               mw_json_str(report, "note"));
    }
    cJSON_Delete(report);
    mw_err_clear(&e2);
  }

  s = mw_tx_begin(c);
  if(s) {
    rule_row_free(&r);
    return s;
  }
  sqlite3_stmt *st = mw_stmt(c, "SELECT state, active_since, current_alert_id, "
                                "coalesce(last_eval_at, 0) FROM alert_rules "
                                "WHERE id = ?");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, r.id);
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    s = rc == SQLITE_DONE ? mw_errf(err, MW_ENOTFOUND, "rule '%s' was deleted", name)
                          : mw_db_status(c, rc);
    goto out;
  }
  struct alert_sm sm;
  int st_parsed = alert_state_parse(mw_col_text(st, 0));
  sm.state = st_parsed < 0 ? ALERT_INACTIVE : (enum alert_state)st_parsed;
  sm.active_since = sqlite3_column_int64(st, 1);
  int64_t alert_id = sqlite3_column_int64(st, 2);
  struct alert_eval_basis cur = {sqlite3_column_int64(st, 3), r.version};
  sqlite3_reset(st);
  if(r.alias[0]) {
    mw_status ls = reg_alias_lookup(c, r.model, r.alias, &cur.version, NULL);
    if(ls == MW_ENOTFOUND) {
      cur.version = 0;
    } else if(ls) {
      s = ls;
      goto out;
    }
  }
  if(!alert_eval_current(&seen, &cur)) {
    /* Stale: another evaluation was applied, or the alias moved, while
     * this one computed. Applying it could fire again an episode that was
     * already resolved - and roll back a second time. It changes nothing;
     * the caller sees the state as it stands. */
    mw_tx_rollback(c);
    if(out) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "rule", r.name);
      cJSON_AddStringToObject(o, "state", alert_state_name(sm.state));
      cJSON_AddStringToObject(o, "event", "none");
      cJSON_AddBoolToObject(o, "superseded", 1);
      if(has_value)
        cJSON_AddNumberToObject(o, "value", value);
      else
        cJSON_AddNullToObject(o, "value");
      cJSON_AddNumberToObject(o, "threshold", r.threshold);
      if(cur.version > 0)
        cJSON_AddNumberToObject(o, "version", (double)cur.version);
      if(alert_id)
        cJSON_AddNumberToObject(o, "alert_id", (double)alert_id);
      mw_json_add_time(o, "evaluated_at", now);
      *out = o;
    }
    goto out;
  }
  /* Every applied evaluation moves last_eval_at on, so the evaluations
   * computing meanwhile see that they are stale. */
  int64_t stamp = alert_eval_stamp(cur.last_eval_at, now);

  enum alert_event ev = alert_sm_step(&sm, cond, now, r.for_s * 1000);
  if(ev == ALERT_EV_PENDING || (ev == ALERT_EV_FIRED && !alert_id)) {
    cJSON *labels = episode_labels(&r, version);
    cJSON *ann = episode_annotations(&r, version, value, has_value);
    char *ltxt = cJSON_PrintUnformatted(labels);
    char *atxt = cJSON_PrintUnformatted(ann);
    char fp[65], key[400];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", r.name, r.model,
             r.alias[0] ? r.alias : "");
    mw_sha256_hex(key, strlen(key), fp);
    fp[16] = '\0';
    st = mw_stmt(c, "INSERT INTO alerts(rule_id, fingerprint, state, labels, "
                    "annotations, version, value, threshold, started_at, fired_at) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if(st) {
      sqlite3_bind_int64(st, 1, r.id);
      mw_bind_text(st, 2, fp);
      mw_bind_text(st, 3, ev == ALERT_EV_FIRED ? "firing" : "pending");
      mw_bind_text(st, 4, ltxt);
      mw_bind_text(st, 5, atxt);
      sqlite3_bind_int64(st, 6, version);
      sqlite3_bind_double(st, 7, value);
      sqlite3_bind_double(st, 8, r.threshold);
      sqlite3_bind_int64(st, 9, sm.active_since);
      if(ev == ALERT_EV_FIRED)
        sqlite3_bind_int64(st, 10, now);
      else
        sqlite3_bind_null(st, 10);
      s = mw_db_status(c, sqlite3_step(st));
      sqlite3_reset(st);
      alert_id = sqlite3_last_insert_rowid(mw_conn_handle(c));
    } else {
      s = MW_EDB;
    }
    cJSON_free(ltxt);
    cJSON_free(atxt);
    cJSON_Delete(labels);
    cJSON_Delete(ann);
    if(s)
      goto out;
  } else if(ev == ALERT_EV_FIRED) {
    cJSON *ann = episode_annotations(&r, version, value, has_value);
    char *atxt = cJSON_PrintUnformatted(ann);
    st = mw_stmt(c, "UPDATE alerts SET state = 'firing', fired_at = ?, value = ?, "
                    "annotations = ? WHERE id = ?");
    s = st ? MW_OK : MW_EDB;
    if(st) {
      sqlite3_bind_int64(st, 1, now);
      sqlite3_bind_double(st, 2, value);
      mw_bind_text(st, 3, atxt);
      sqlite3_bind_int64(st, 4, alert_id);
      s = mw_db_status(c, sqlite3_step(st));
      sqlite3_reset(st);
    }
    cJSON_free(atxt);
    cJSON_Delete(ann);
    if(s)
      goto out;
  } else if(ev == ALERT_EV_RESOLVED) {
    st = mw_stmt(c, "UPDATE alerts SET state = 'resolved', resolved_at = ?, "
                    "value = ? WHERE id = ?");
    if(!st) {
      s = MW_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_double(st, 2, value);
    sqlite3_bind_int64(st, 3, alert_id);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
    alert_id = 0;
  } else if(ev == ALERT_EV_DISCARDED) {
    st = mw_stmt(c, "DELETE FROM alerts WHERE id = ? AND state = 'pending'");
    if(!st) {
      s = MW_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, alert_id);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
    alert_id = 0;
  } else if(alert_id && has_value) {
    st = mw_stmt(c, "UPDATE alerts SET value = ? WHERE id = ?");
    if(!st) {
      s = MW_EDB;
      goto out;
    }
    sqlite3_bind_double(st, 1, value);
    sqlite3_bind_int64(st, 2, alert_id);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
  }
  if(s)
    goto out;
  if(ev == ALERT_EV_FIRED && r.rollback) {
    action = run_rollback(c, env, &r, value);
    char *txt = cJSON_PrintUnformatted(action);
    st = mw_stmt(c, "UPDATE alerts SET action_result = ? WHERE id = ?");
    if(st) {
      mw_bind_text(st, 1, txt);
      sqlite3_bind_int64(st, 2, alert_id);
      s = mw_db_status(c, sqlite3_step(st));
      sqlite3_reset(st);
    } else {
      s = MW_EDB;
    }
    cJSON_free(txt);
    if(s)
      goto out;
  }
  st = mw_stmt(c, "UPDATE alert_rules SET state = ?, active_since = ?, "
                  "current_alert_id = ?, last_eval_at = ?, last_value = ?, "
                  "last_version = ?, last_error = ?, next_eval_at = ? WHERE id = ?");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  mw_bind_text(st, 1, alert_state_name(sm.state));
  if(sm.state == ALERT_PENDING || sm.state == ALERT_FIRING)
    sqlite3_bind_int64(st, 2, sm.active_since);
  else
    sqlite3_bind_null(st, 2);
  if(alert_id)
    sqlite3_bind_int64(st, 3, alert_id);
  else
    sqlite3_bind_null(st, 3);
  sqlite3_bind_int64(st, 4, stamp);
  if(has_value)
    sqlite3_bind_double(st, 5, value);
  else
    sqlite3_bind_null(st, 5);
  if(version > 0)
    sqlite3_bind_int64(st, 6, version);
  else
    sqlite3_bind_null(st, 6);
  mw_bind_text(st, 7, problem[0] ? problem : NULL);
  sqlite3_bind_int64(st, 8, stamp + r.interval_s * 1000);
  sqlite3_bind_int64(st, 9, r.id);
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(!s)
    s = mw_tx_commit(c);
  if(!s && out) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "rule", r.name);
    cJSON_AddStringToObject(o, "state", alert_state_name(sm.state));
    cJSON_AddStringToObject(o, "event", event_name(ev));
    if(has_value)
      cJSON_AddNumberToObject(o, "value", value);
    else
      cJSON_AddNullToObject(o, "value");
    cJSON_AddNumberToObject(o, "threshold", r.threshold);
    if(version > 0)
      cJSON_AddNumberToObject(o, "version", (double)version);
    if(alert_id)
      cJSON_AddNumberToObject(o, "alert_id", (double)alert_id);
    if(problem[0])
      cJSON_AddStringToObject(o, "error", problem);
    if(action)
      cJSON_AddItemToObject(o, "action", action);
    action = NULL;
    mw_json_add_time(o, "evaluated_at", stamp);
    *out = o;
  }
out:
  cJSON_Delete(action);
  mw_tx_rollback(c);
  rule_row_free(&r);
  return s;
}

int alert_tick(mw_conn *c, const struct alert_env *env, int64_t now) {
  /* Names first, then evaluate: evaluation runs its own statements. */
  char names[64][129];
  int n = 0;
  sqlite3_stmt *st = mw_stmt(c, "SELECT name FROM alert_rules WHERE next_eval_at <= ? "
                                "ORDER BY next_eval_at LIMIT 64");
  if(!st)
    return 0;
  sqlite3_bind_int64(st, 1, now);
  while(n < 64 && sqlite3_step(st) == SQLITE_ROW)
    mw_strlcpy(names[n++], mw_col_text(st, 0), sizeof names[0]);
  sqlite3_reset(st);
  for(int i = 0; i < n; i++) {
    mw_err err = {0};
    mw_status s = alert_rule_evaluate(c, env, names[i], NULL, &err);
    if(s && s != MW_ENOTFOUND)
      mw_log(MW_LOG_WARN, "alerts", "evaluating rule %s failed: %s", names[i],
             err.msg[0] ? err.msg : mw_strerror(s));
    mw_err_clear(&err);
  }
  alert__notify_flush(c, env, now);
  return n;
}

struct alert_scheduler {
  pthread_t thread;
  mw_db *db;
  struct alert_env env;
  volatile int stop;
};

static void *scheduler_main(void *arg) {
  struct alert_scheduler *s = arg;
  while(!s->stop) {
    mw_conn *c = mw_db_conn(s->db);
    if(c)
      alert_tick(c, &s->env, mw_now_ms());
    for(int i = 0; i < 10 && !s->stop; i++)
      usleep(100 * 1000);
  }
  return NULL;
}

mw_status alert_scheduler_start(mw_db *db, const struct alert_env *env,
                                alert_scheduler **out) {
  *out = NULL;
  struct alert_scheduler *s = calloc(1, sizeof *s);
  if(!s)
    return MW_ENOMEM;
  s->db = db;
  s->env = *env;
  if(pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
    free(s);
    return MW_EINTERNAL;
  }
  *out = s;
  return MW_OK;
}

void alert_scheduler_stop(alert_scheduler *s) {
  if(!s)
    return;
  s->stop = 1;
  pthread_join(s->thread, NULL);
  free(s);
}
