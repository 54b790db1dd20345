/* monitor/evaluate.c - drift evaluations: a report stored with its time
 * series (mon_drift_evaluate, for the API and the scheduler), and the
 * scheduled pass over the versions whose interval has passed. The report
 * is computed outside any write transaction (monitor/report.c); only its
 * storage takes the write lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/evaluate.h"
#include "monitor/report.h"
#include "monitor/series.h"
#include "monitor/settings.h"
#include "monitor/store.h"

/* The report of [from_ms, to_ms), stored as an evaluation. expect_last
 * >= -1 stores it only while the version's latest evaluation is still the
 * one taken at expect_last (-1: none), decided under the write lock: a
 * scheduled evaluation that another replica (a leader for the second it
 * took to notice it lost) stored meanwhile is not stored twice
 * (MW_ECONFLICT, nothing stored). */
static mw_status evaluate(mon_ctx *m, mw_conn *c, const mon_version *v,
                          int64_t from_ms, int64_t to_ms, const char *trigger,
                          const char *actor, int64_t expect_last, cJSON **out,
                          mw_err *err) {
  *out = NULL;
  cJSON *rep = NULL;
  mw_status st = mon__report(m, c, v, from_ms, to_ms, &rep, err);
  if(st)
    return st;
  int64_t last = expect_last;
  st = mw_tx_begin(c);
  if(!st && expect_last >= -1)
    st = mon__store(c)->eval_last_at(c, v->id, &last);
  if(!st && last != expect_last)
    st = MW_ECONFLICT;
  if(!st)
    st = mon__eval_store(c, v->id, mw_now_ms(), rep, trigger);
  if(!st && actor) {
    char target[300];
    snprintf(target, sizeof target, "%s/%lld", v->model, (long long)v->version);
    st = mw_audit(c, actor, "drift.evaluate", target, NULL);
  }
  if(!st)
    st = mw_tx_commit(c);
  if(st) {
    mw_tx_rollback(c);
    cJSON_Delete(rep);
    return st;
  }
  if(m)
    __atomic_add_fetch(&m->n_evaluations, 1, __ATOMIC_RELAXED);
  *out = rep;
  return MW_OK;
}

mw_status mon_drift_evaluate(mon_ctx *m, mw_conn *c, const mon_version *v,
                             int64_t from_ms, int64_t to_ms, const char *trigger,
                             const char *actor, cJSON **out, mw_err *err) {
  return evaluate(m, c, v, from_ms, to_ms, trigger, actor, -2, out, err);
}

/* Evaluates d when its schedule is due (settings from the listed text). */
static void evaluate_one(mon_ctx *m, mw_conn *c, const mon_due *d) {
  mon_version v = {d->version_id, d->model_id, d->model, d->version, d->schema};
  mon_schema s;
  mon_dcfg cfg;
  if(mon__schema_parse(d->schema, &v, &s, NULL))
    return;
  mw_status st = mon__dcfg_from_text(&m->opt, d->config, &v, &s, &cfg);
  mon__schema_free(&s);
  if(st)
    return;
  int64_t now = mw_now_ms();
  bool due =
      cfg.schedule && cfg.interval_seconds > 0 &&
      (d->last_at < 0 || now - d->last_at >= (int64_t)cfg.interval_seconds * 1000);
  int64_t window = (int64_t)cfg.window_seconds * 1000;
  mon__dcfg_free(&cfg);
  if(!due)
    return;
  cJSON *rep = NULL;
  mw_err err = {{0}, NULL};
  st = evaluate(m, c, &v, now - window, now, "schedule", NULL, d->last_at, &rep,
                &err);
  if(st == MW_ECONFLICT && !err.msg[0])
    mw_log(MW_LOG_INFO, "monitor",
           "%s/%lld was evaluated meanwhile by another "
           "replica; not stored twice",
           d->model, (long long)d->version);
  else if(st)
    mw_log(MW_LOG_WARN, "monitor", "scheduled evaluation of %s/%lld failed: %s",
           d->model, (long long)d->version, err.msg[0] ? err.msg : mw_strerror(st));
  mw_err_clear(&err);
  cJSON_Delete(rep);
}

void mon__evaluate_due(mon_ctx *m, mw_conn *c) {
  mon_due *due = NULL;
  size_t n = 0;
  if(mon__store(c)->due_list(c, &due, &n)) {
    mw_log(MW_LOG_WARN, "monitor", "cannot list versions to evaluate");
    return;
  }
  for(size_t i = 0; i < n && !mon__stopping(m); i++)
    evaluate_one(m, c, &due[i]);
  mon__due_free(due, n);
}
