/* Unit tests of the alert rules: the state machine (every transition,
 * `for`, flapping, nodata), whether an evaluation is still current,
 * metric extraction, the decision of one evaluation without a database
 * (alert__decide: episodes, rollback, stale bases), when a notification
 * group is due, and the evaluator on a real SQLite file with a report
 * function the test controls (restart mid-pending, rollback action once
 * per firing, a stale evaluation changing nothing, silence, ack,
 * grouping). Matchers are tests/unit/test_matchers.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/db_sqlite.h"
#include "alerts/internal.h"
#include "registry/registry.h"

/* ---- state machine ---- */

static void test_sm_transitions(void **state) {
  (void)state;
  struct alert_sm sm = {ALERT_INACTIVE, 0};
  /* for = 0: inactive -> firing at once, resolves when false. */
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 1000, 0), ALERT_EV_FIRED);
  assert_int_equal(sm.state, ALERT_FIRING);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 2000, 0), ALERT_EV_NONE);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_FALSE, 3000, 0), ALERT_EV_RESOLVED);
  assert_int_equal(sm.state, ALERT_INACTIVE);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_FALSE, 4000, 0), ALERT_EV_NONE);
  /* for = 10 s: pending until it has held 10 s, counted from the start. */
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 10000, 10000),
                   ALERT_EV_PENDING);
  assert_int_equal(sm.state, ALERT_PENDING);
  assert_int_equal(sm.active_since, 10000);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 19999, 10000), ALERT_EV_NONE);
  assert_int_equal(sm.state, ALERT_PENDING);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 20000, 10000),
                   ALERT_EV_FIRED);
  assert_int_equal(sm.state, ALERT_FIRING);
  assert_int_equal(sm.active_since, 10000);
  /* pending -> inactive when the condition stops before `for`. */
  sm.state = ALERT_INACTIVE;
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 30000, 10000),
                   ALERT_EV_PENDING);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_FALSE, 35000, 10000),
                   ALERT_EV_DISCARDED);
  assert_int_equal(sm.state, ALERT_INACTIVE);
}

static void test_sm_nodata(void **state) {
  (void)state;
  struct alert_sm sm = {ALERT_INACTIVE, 0};
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_NODATA, 1, 0), ALERT_EV_NONE);
  assert_int_equal(sm.state, ALERT_NODATA);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 2, 5), ALERT_EV_PENDING);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_NODATA, 3, 5), ALERT_EV_DISCARDED);
  assert_int_equal(sm.state, ALERT_NODATA);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_FALSE, 4, 5), ALERT_EV_NONE);
  assert_int_equal(sm.state, ALERT_INACTIVE);
  /* An empty window does not resolve a firing alert. */
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_TRUE, 5, 0), ALERT_EV_FIRED);
  assert_int_equal(alert_sm_step(&sm, ALERT_COND_NODATA, 6, 0), ALERT_EV_NONE);
  assert_int_equal(sm.state, ALERT_FIRING);
}

static void test_sm_flapping_never_fires_with_for(void **state) {
  (void)state;
  struct alert_sm sm = {ALERT_INACTIVE, 0};
  int fired = 0;
  for(int i = 0; i < 100; i++) {
    enum alert_event ev = alert_sm_step(
        &sm, i % 2 ? ALERT_COND_FALSE : ALERT_COND_TRUE, i * 1000LL, 5000);
    fired += ev == ALERT_EV_FIRED;
  }
  assert_int_equal(fired, 0);
  /* Without `for`, each flap fires and resolves. */
  int resolved = 0;
  sm.state = ALERT_INACTIVE;
  for(int i = 0; i < 10; i++) {
    enum alert_event ev = alert_sm_step(
        &sm, i % 2 ? ALERT_COND_FALSE : ALERT_COND_TRUE, i * 1000LL, 0);
    fired += ev == ALERT_EV_FIRED;
    resolved += ev == ALERT_EV_RESOLVED;
  }
  assert_int_equal(fired, 5);
  assert_int_equal(resolved, 5);
}

static void test_compare_and_metrics(void **state) {
  (void)state;
  int h;
  assert_true(alert_compare(">", 2, 1, &h) && h);
  assert_true(alert_compare(">=", 1, 1, &h) && h);
  assert_true(alert_compare("<", 1, 1, &h) && !h);
  assert_true(alert_compare("!=", 1, 2, &h) && h);
  assert_false(alert_compare("~", 1, 2, &h));
  char *col = NULL;
  mw_err err = {0};
  assert_int_equal(alert_metric_check("age.psi", &col, &err), MW_OK);
  assert_string_equal(col, "age");
  free(col);
  assert_int_equal(alert_metric_check("petal.width.ks_p_value", &col, &err), MW_OK);
  assert_string_equal(col, "petal.width");
  free(col);
  assert_int_equal(alert_metric_check("dataset_drift_share", &col, &err), MW_OK);
  assert_null(col);
  assert_int_equal(alert_metric_check("f1", &col, &err), MW_OK);
  assert_int_equal(alert_metric_check("age.bogus", &col, &err), MW_EVALIDATION);
  assert_int_equal(alert_metric_check("bogus", &col, &err), MW_EVALIDATION);
  cJSON *rep =
      cJSON_Parse("{\"window\":{\"count\":10},\"dataset\":{\"drift_share\":0.5},"
                  "\"columns\":[{\"name\":\"age\",\"psi\":0.3,\"drifted\":true,"
                  "\"ks\":{\"d\":0.2,\"p_value\":0.01},\"stats\":{\"mean\":3}}],"
                  "\"performance\":{\"accuracy\":0.9}}");
  double v;
  assert_int_equal(alert_metric_value(rep, "age.psi", &v), MW_OK);
  assert_true(v == 0.3);
  assert_int_equal(alert_metric_value(rep, "age.ks_p_value", &v), MW_OK);
  assert_true(v == 0.01);
  assert_int_equal(alert_metric_value(rep, "age.drifted", &v), MW_OK);
  assert_true(v == 1);
  assert_int_equal(alert_metric_value(rep, "age.mean", &v), MW_OK);
  assert_true(v == 3);
  assert_int_equal(alert_metric_value(rep, "dataset_drift_share", &v), MW_OK);
  assert_true(v == 0.5);
  assert_int_equal(alert_metric_value(rep, "accuracy", &v), MW_OK);
  assert_int_equal(alert_metric_value(rep, "age.chi2", &v), MW_ENOTFOUND);
  assert_int_equal(alert_metric_value(rep, "other.psi", &v), MW_ENOTFOUND);
  cJSON_Delete(rep);
  rep = cJSON_Parse("{\"window\":{\"count\":0},\"columns\":[]}");
  assert_int_equal(alert_metric_value(rep, "age.psi", &v), MW_ENOTFOUND);
  assert_int_equal(alert_metric_value(rep, "prediction_count", &v), MW_OK);
  assert_true(v == 0);
  cJSON_Delete(rep);
  /* Data quality: shares like any column statistic; invalid values also
   * in a window without a valid row (they are in the quarantine). */
  assert_int_equal(alert_metric_check("age.missing_share", &col, &err), MW_OK);
  free(col);
  assert_int_equal(alert_metric_check("city.unseen_share", &col, &err), MW_OK);
  free(col);
  assert_int_equal(alert_metric_check("age.out_of_range_share", &col, &err), MW_OK);
  free(col);
  assert_int_equal(alert_metric_check("age.invalid_count", &col, &err), MW_OK);
  free(col);
  rep = cJSON_Parse("{\"window\":{\"count\":4},\"columns\":[{\"name\":\"age\","
                    "\"quality\":{\"missing_share\":0.25,\"invalid_count\":2}}]}");
  assert_int_equal(alert_metric_value(rep, "age.missing_share", &v), MW_OK);
  assert_true(v == 0.25);
  assert_int_equal(alert_metric_value(rep, "age.out_of_range_share", &v),
                   MW_ENOTFOUND);
  cJSON_Delete(rep);
  rep = cJSON_Parse("{\"window\":{\"count\":0},\"columns\":[{\"name\":\"age\","
                    "\"quality\":{\"missing_count\":0,\"invalid_count\":7}}]}");
  assert_int_equal(alert_metric_value(rep, "age.invalid_count", &v), MW_OK);
  assert_true(v == 7);
  assert_int_equal(alert_metric_value(rep, "age.missing_share", &v), MW_ENOTFOUND);
  cJSON_Delete(rep);
}

/* Whether an evaluation computed outside the transaction may still be
 * applied inside it. */
static void test_eval_current(void **state) {
  (void)state;
  struct alert_eval_basis seen = {1000, 14};
  struct alert_eval_basis now = seen;
  assert_true(alert_eval_current(&seen, &now));
  /* Another evaluation was applied meanwhile (it may have fired and
   * rolled back, then resolved on the older version). */
  now.last_eval_at = 1001;
  assert_false(alert_eval_current(&seen, &now));
  /* The alias moved while the metric was computed for v14. */
  now = seen;
  now.version = 1;
  assert_false(alert_eval_current(&seen, &now));
  /* The alias vanished (0) or appeared. */
  now.version = 0;
  assert_false(alert_eval_current(&seen, &now));
  seen.version = 0;
  assert_true(alert_eval_current(&seen, &now));
  /* Never evaluated before, still never evaluated: current. */
  struct alert_eval_basis a = {0, 3}, b = {0, 3};
  assert_true(alert_eval_current(&a, &b));
  /* Every applied evaluation moves last_eval_at on, even within one
   * millisecond or when the clock steps back. */
  assert_int_equal(alert_eval_stamp(1000, 2000), 2000);
  assert_int_equal(alert_eval_stamp(2000, 2000), 2001);
  assert_int_equal(alert_eval_stamp(2000, 1500), 2001);
  assert_int_equal(alert_eval_stamp(0, 5), 5);
}

/* ---- the decision of one evaluation (alert__decide, no database) ---- */

/* A rollback rule on m@production: fires at >= 0.5 after for_s. */
static void rule_fixture(struct alert__rule *r, int64_t for_s) {
  memset(r, 0, sizeof *r);
  r->id = 7;
  mw_strlcpy(r->name, "drift", sizeof r->name);
  mw_strlcpy(r->model, "m", sizeof r->model);
  mw_strlcpy(r->alias, "production", sizeof r->alias);
  mw_strlcpy(r->metric, "dataset_drift_share", sizeof r->metric);
  mw_strlcpy(r->op, ">=", sizeof r->op);
  mw_strlcpy(r->severity, "critical", sizeof r->severity);
  r->threshold = 0.5;
  r->for_s = for_s;
  r->window_s = 3600;
  r->interval_s = 60;
  r->rollback = 1;
  r->last_eval_at = 1000;
  r->labels = strdup("{\"team\":\"risk\",\"model\":\"spoofed\"}");
  r->annotations = strdup("{}");
}

/* What was computed on v3 at now with value (has_value < 0: nodata). */
static struct alert__observation observed(int64_t now, double value, int cond) {
  struct alert__observation o = {
      {1000, 3}, 3,  (enum alert_cond)cond, value, cond != ALERT_COND_NODATA,
      "",        now};
  return o;
}

static void test_decide_fire_with_rollback(void **state) {
  (void)state;
  struct alert__rule r;
  rule_fixture(&r, 0);
  struct alert__rule_state st = {"inactive", 0, 0, 1000};
  struct alert__observation obs = observed(5000, 0.7, ALERT_COND_TRUE);
  struct alert__decision d;
  assert_int_equal(alert__decide(&r, &st, 3, &obs, &d), MW_OK);
  assert_false(d.stale);
  assert_int_equal(d.event, ALERT_EV_FIRED);
  assert_int_equal(d.op, ALERT__EP_INSERT);
  assert_string_equal(d.episode_state, "firing");
  assert_true(d.rollback);
  assert_int_equal(strlen(d.fingerprint), 16);
  /* The identifying labels win over the rule's own. */
  cJSON *l = cJSON_Parse(d.labels);
  assert_string_equal(mw_json_str(l, "model"), "m");
  assert_string_equal(mw_json_str(l, "team"), "risk");
  assert_string_equal(mw_json_str(l, "version"), "3");
  assert_string_equal(mw_json_str(l, "alias"), "production");
  cJSON_Delete(l);
  cJSON *a = cJSON_Parse(d.annotations);
  assert_non_null(strstr(mw_json_str(a, "summary"), "is 0.7 (threshold >= 0.5)"));
  cJSON_Delete(a);
  assert_string_equal(d.save.state, "firing");
  assert_int_equal(d.save.active_since, 5000);
  assert_int_equal(d.save.current_alert_id, 0); /* the store gives it */
  assert_int_equal(d.save.last_eval_at, 5000);
  assert_int_equal(d.save.next_eval_at, 65000);
  assert_true(d.save.last_value == 0.7);
  assert_int_equal(d.save.last_version, 3);
  assert_null(d.save.last_error);
  alert__decision_clear(&d);
  /* Without the action: the same firing, no rollback. */
  r.rollback = 0;
  assert_int_equal(alert__decide(&r, &st, 3, &obs, &d), MW_OK);
  assert_false(d.rollback);
  alert__decision_clear(&d);
  alert__rule_clear(&r);
}

static void test_decide_pending_then_fire_existing(void **state) {
  (void)state;
  struct alert__rule r;
  rule_fixture(&r, 10);
  struct alert__rule_state st = {"inactive", 0, 0, 1000};
  struct alert__observation obs = observed(5000, 0.7, ALERT_COND_TRUE);
  struct alert__decision d;
  assert_int_equal(alert__decide(&r, &st, 3, &obs, &d), MW_OK);
  assert_int_equal(d.event, ALERT_EV_PENDING);
  assert_int_equal(d.op, ALERT__EP_INSERT);
  assert_string_equal(d.episode_state, "pending");
  assert_false(d.rollback);
  alert__decision_clear(&d);
  /* Pending since 5000 with episode 42; held 10 s at 15000: it fires, the
   * episode is updated (new annotations), and the rollback runs. */
  struct alert__rule_state pend = {"pending", 5000, 42, 5000};
  obs = observed(15000, 0.8, ALERT_COND_TRUE);
  obs.seen.last_eval_at = 5000;
  assert_int_equal(alert__decide(&r, &pend, 3, &obs, &d), MW_OK);
  assert_int_equal(d.event, ALERT_EV_FIRED);
  assert_int_equal(d.op, ALERT__EP_FIRE);
  assert_int_equal(d.episode_id, 42);
  assert_null(d.labels);
  assert_non_null(d.annotations);
  assert_true(d.rollback);
  assert_int_equal(d.save.current_alert_id, 42);
  assert_int_equal(d.save.active_since, 5000);
  alert__decision_clear(&d);
  alert__rule_clear(&r);
}

static void test_decide_resolve_discard_value_nodata(void **state) {
  (void)state;
  struct alert__rule r;
  rule_fixture(&r, 10);
  struct alert__decision d;
  /* Firing, condition false: resolved, no open episode after. */
  struct alert__rule_state firing = {"firing", 100, 42, 1000};
  struct alert__observation obs = observed(5000, 0.1, ALERT_COND_FALSE);
  assert_int_equal(alert__decide(&r, &firing, 3, &obs, &d), MW_OK);
  assert_int_equal(d.event, ALERT_EV_RESOLVED);
  assert_int_equal(d.op, ALERT__EP_RESOLVE);
  assert_int_equal(d.episode_id, 42);
  assert_int_equal(d.save.current_alert_id, 0);
  assert_int_equal(d.save.active_since, -1);
  assert_string_equal(d.save.state, "inactive");
  assert_false(d.rollback);
  alert__decision_clear(&d);
  /* Firing and still true: only the value moves. */
  obs = observed(5000, 0.9, ALERT_COND_TRUE);
  assert_int_equal(alert__decide(&r, &firing, 3, &obs, &d), MW_OK);
  assert_int_equal(d.event, ALERT_EV_NONE);
  assert_int_equal(d.op, ALERT__EP_VALUE);
  assert_int_equal(d.save.current_alert_id, 42);
  alert__decision_clear(&d);
  /* Firing with an empty window: still firing, nothing to update, and the
   * problem is recorded. */
  obs = observed(5000, 0, ALERT_COND_NODATA);
  obs.problem = "cannot compute dataset_drift_share: no reference";
  assert_int_equal(alert__decide(&r, &firing, 3, &obs, &d), MW_OK);
  assert_int_equal(d.op, ALERT__EP_KEEP);
  assert_string_equal(d.save.state, "firing");
  assert_true(isnan(d.save.last_value));
  assert_string_equal(d.save.last_error, obs.problem);
  alert__decision_clear(&d);
  /* Pending, then nodata: the pending episode is discarded. */
  struct alert__rule_state pend = {"pending", 100, 43, 1000};
  assert_int_equal(alert__decide(&r, &pend, 3, &obs, &d), MW_OK);
  assert_int_equal(d.event, ALERT_EV_DISCARDED);
  assert_int_equal(d.op, ALERT__EP_DISCARD);
  assert_int_equal(d.episode_id, 43);
  assert_string_equal(d.save.state, "nodata");
  assert_int_equal(d.save.current_alert_id, 0);
  alert__decision_clear(&d);
  alert__rule_clear(&r);
}

/* What makes one firing roll back once: a decision on a stale basis
 * writes nothing. */
static void test_decide_stale(void **state) {
  (void)state;
  struct alert__rule r;
  rule_fixture(&r, 0);
  struct alert__decision d;
  struct alert__observation obs = observed(5000, 0.9, ALERT_COND_TRUE);
  /* Another evaluation was applied meanwhile (it fired and rolled back). */
  struct alert__rule_state after = {"firing", 4000, 42, 4000};
  assert_int_equal(alert__decide(&r, &after, 1, &obs, &d), MW_OK);
  assert_true(d.stale);
  assert_int_equal(d.event, ALERT_EV_NONE);
  assert_int_equal(d.op, ALERT__EP_KEEP);
  assert_false(d.rollback);
  assert_int_equal(d.sm.state, ALERT_FIRING); /* as it stands */
  assert_int_equal(d.episode_id, 42);
  assert_int_equal(d.version_now, 1);
  alert__decision_clear(&d);
  /* Same basis, but the alias moved to v1 by hand. */
  struct alert__rule_state same = {"inactive", 0, 0, 1000};
  assert_int_equal(alert__decide(&r, &same, 1, &obs, &d), MW_OK);
  assert_true(d.stale);
  alert__decision_clear(&d);
  /* The alias vanished. */
  assert_int_equal(alert__decide(&r, &same, 0, &obs, &d), MW_OK);
  assert_true(d.stale);
  alert__decision_clear(&d);
  /* A rule on a fixed version ignores the alias argument. */
  r.alias[0] = '\0';
  r.version = 3;
  r.rollback = 0;
  assert_int_equal(alert__decide(&r, &same, 0, &obs, &d), MW_OK);
  assert_false(d.stale);
  assert_int_equal(d.event, ALERT_EV_FIRED);
  alert__decision_clear(&d);
  alert__rule_clear(&r);
}

static void test_group_due(void **state) {
  (void)state;
  struct alert_env env = {0};
  env.group_wait_ms = 30000;
  env.group_interval_ms = 300000;
  env.repeat_interval_ms = 4 * 3600000LL;
  /* Never sent: after group_wait from the group's creation. */
  assert_false(alert__group_due(&env, 29999, 0, -1, 1, 1));
  assert_true(alert__group_due(&env, 30000, 0, -1, 1, 1));
  /* Changed: after group_interval from the last send. */
  assert_false(alert__group_due(&env, 299999, 0, 0, 1, 0));
  assert_true(alert__group_due(&env, 300000, 0, 0, 1, 0));
  /* Unchanged: repeated while an unacknowledged alert fires. */
  assert_false(alert__group_due(&env, 4 * 3600000LL, 0, 0, 0, 0));
  assert_true(alert__group_due(&env, 4 * 3600000LL, 0, 0, 0, 1));
  assert_false(alert__group_due(&env, 4 * 3600000LL - 1, 0, 0, 0, 1));
  /* An Alertmanager channel's firing group: every minute, acked or not. */
  assert_false(alert__keepalive_due(59999, 0, 1));
  assert_true(alert__keepalive_due(60000, 0, 1));
  assert_false(alert__keepalive_due(600000, 0, 0));  /* nothing fires */
  assert_false(alert__keepalive_due(600000, -1, 1)); /* never sent: group_wait */
}

/* ---- evaluator on a real database ---- */

struct fix {
  char dir[64], path[128];
  mw_db *db;
  mw_conn *c;
  struct reg_env reg;
  struct alert_env env;
  double value;  /* what the fake report says */
  int64_t count; /* rows in the window */
  /* Runs once while the next report is computed: what other evaluators do
   * meanwhile. */
  void (*during_report)(struct fix *f);
};

static mw_status fake_report(void *ctx, mw_conn *c, const char *model,
                             int64_t version, const char *segment, int64_t from,
                             int64_t to, cJSON **report) {
  (void)c, (void)model, (void)version, (void)segment, (void)from, (void)to;
  struct fix *f = ctx;
  void (*during)(struct fix *) = f->during_report;
  double value = f->value;
  if(during) {
    f->during_report = NULL;
    during(f);
  }
  f->value = value;
  cJSON *r = cJSON_CreateObject();
  cJSON *w = cJSON_AddObjectToObject(r, "window");
  cJSON_AddNumberToObject(w, "count", (double)f->count);
  cJSON *d = cJSON_AddObjectToObject(r, "dataset");
  cJSON_AddNumberToObject(d, "drift_share", f->value);
  cJSON_AddArrayToObject(r, "columns");
  *report = r;
  return MW_OK;
}

static int64_t q(mw_conn *c, const char *sql) {
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(mw_sqlite(c), sql, -1, &st, NULL);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

static void run(mw_conn *c, const char *sql) {
  assert_int_equal(mw_exec(c, sql), MW_OK);
}

static void open_db(struct fix *f) {
  assert_int_equal(mw_db_open(f->path, 0, &f->db), MW_OK);
  f->c = mw_db_conn(f->db);
  assert_int_equal(mw_migrate(f->c, NULL), MW_OK);
  /* Node and channel URLs and secrets are stored encrypted: one key
   * across restarts, as a server's key file gives it. The plain values
   * setup() inserts are encrypted by the pass a first start runs. */
  static const char key_hex[] =
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  mw_secret_key k;
  char err[512];
  assert_int_equal(mw_secret_key_parse(key_hex, sizeof key_hex - 1, &k), MW_OK);
  assert_int_equal(mw_secrets_check(f->db, &k, NULL, err, sizeof err), MW_OK);
}

static int setup(void **state) {
  struct fix *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/mwalertXXXXXX");
  if(!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
  open_db(f);
  f->reg.data_dir = f->dir;
  f->reg.external_url = "http://mw.test";
  f->env.reg = &f->reg;
  f->env.external_url = "http://mw.test";
  f->env.report = fake_report;
  f->env.report_ctx = f;
  f->count = 100;
  /* A model with three ready versions, production on v3, a node, a rule
   * with rollback and a webhook channel. */
  run(f->c,
      "INSERT INTO models(id, name, created_at, updated_at) VALUES(1, 'm', 0, 0);"
      "INSERT INTO model_versions(id, model_id, version, status, sha256, size,"
      " created_at, created_by) VALUES"
      " (1, 1, 1, 'ready', 'aa', 1, 0, 't'), (2, 1, 2, 'ready', 'bb', 1, 0, 't'),"
      " (3, 1, 3, 'ready', 'cc', 1, 0, 't');"
      "INSERT INTO nodes(id, name, url, secret, created_at) VALUES"
      " (1, 'edge', 'http://127.0.0.1:1/', "
      "'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 0);"
      "INSERT INTO node_models(node_id, model_id) VALUES(1, 1);"
      "INSERT INTO channels(name, type, url, secret, created_at) VALUES"
      " ('hook', 'webhook', 'http://127.0.0.1:1/hook', "
      "'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 0);"
      "DELETE FROM secret_key;");
  mw_db_close(f->db); /* a first start on what an older binary left */
  open_db(f);
  mw_err err = {0};
  cJSON *out = NULL;
  assert_int_equal(reg_alias_set(f->c, &f->reg, "m", "production", 1, NULL, NULL,
                                 "t", &out, &err),
                   MW_OK);
  cJSON_Delete(out);
  assert_int_equal(reg_alias_set(f->c, &f->reg, "m", "production", 3, NULL, NULL,
                                 "t", &out, &err),
                   MW_OK);
  cJSON_Delete(out);
  cJSON *rule = cJSON_Parse(
      "{\"name\":\"drift\",\"model\":\"m\",\"alias\":\"production\","
      "\"metric\":\"dataset_drift_share\",\"op\":\">=\",\"threshold\":0.5,"
      "\"for_seconds\":2,\"interval_seconds\":1,\"severity\":\"critical\","
      "\"labels\":{\"team\":\"risk\"},\"channels\":[\"hook\"],\"action\":"
      "\"rollback\"}");
  assert_int_equal(alert_rule_create(f->c, rule, "t", &out, &err), MW_OK);
  cJSON_Delete(out);
  cJSON_Delete(rule);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fix *f = *state;
  mw_db_close(f->db);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  int rc = system(cmd);
  free(f);
  return rc;
}

static const char *eval(struct fix *f, char *buf, size_t cap) {
  cJSON *out = NULL;
  mw_err err = {0};
  assert_int_equal(alert_rule_evaluate(f->c, &f->env, "drift", NULL, &out, &err),
                   MW_OK);
  snprintf(buf, cap, "%s/%s", cJSON_GetObjectItem(out, "state")->valuestring,
           cJSON_GetObjectItem(out, "event")->valuestring);
  cJSON_Delete(out);
  return buf;
}

static void test_rule_validation(void **state) {
  struct fix *f = *state;
  const char *bad[] = {
      "{\"name\":\"x\",\"model\":\"nope\",\"alias\":\"production\","
      "\"metric\":\"f1\",\"op\":\">\",\"threshold\":1}",
      "{\"name\":\"x\",\"model\":\"m\",\"alias\":\"production\","
      "\"metric\":\"nocol.psi\",\"op\":\">\",\"threshold\":1}",
      "{\"name\":\"x\",\"model\":\"m\",\"alias\":\"production\","
      "\"metric\":\"bogus\",\"op\":\">\",\"threshold\":1}",
      "{\"name\":\"x\",\"model\":\"m\",\"alias\":\"production\","
      "\"metric\":\"f1\",\"op\":\">\",\"threshold\":1,\"for_seconds\":-1}",
      "{\"name\":\"x\",\"model\":\"m\",\"version\":1,\"alias\":\"production\","
      "\"metric\":\"f1\",\"op\":\">\",\"threshold\":1}",
      "{\"name\":\"x\",\"model\":\"m\",\"version\":1,"
      "\"metric\":\"f1\",\"op\":\">\",\"threshold\":1,\"action\":\"rollback\"}",
      "{\"name\":\"x\",\"model\":\"m\",\"version\":1,"
      "\"metric\":\"f1\",\"op\":\">\",\"threshold\":1,\"channels\":[\"nochan\"]}",
      "{\"name\":\"x\",\"model\":\"m\",\"version\":1,"
      "\"metric\":\"f1\",\"op\":\"~\",\"threshold\":1}",
      "{\"name\":\"x\",\"model\":\"m\",\"version\":1,"
      "\"metric\":\"f1\",\"op\":\">\",\"threshold\":\"1\"}",
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *b = cJSON_Parse(bad[i]);
    cJSON *out = NULL;
    mw_err err = {0};
    mw_status s = alert_rule_create(f->c, b, "t", &out, &err);
    if(s != MW_EVALIDATION)
      fail_msg("case %zu: status %d (%s)", i, s, err.msg);
    cJSON_Delete(b);
  }
}

static void test_pending_survives_restart_then_fires_once(void **state) {
  struct fix *f = *state;
  char buf[64];
  f->value = 0.7;
  assert_string_equal(eval(f, buf, sizeof buf), "pending/pending");
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts WHERE state='pending'"), 1);
  /* Restart: close and reopen the database; the pending timer keeps its
   * start, so `for` is not reset. */
  mw_db_close(f->db);
  open_db(f);
  run(f->c, "UPDATE alert_rules SET active_since = active_since - 3000");
  assert_string_equal(eval(f, buf, sizeof buf), "firing/fired");
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts"), 1);
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts WHERE state='firing'"), 1);
  /* The rollback ran once, as rule:drift, and notified the node. */
  int64_t v = 0;
  mw_err err = {0};
  assert_int_equal(reg_alias_lookup(f->c, "m", "production", &v, &err), MW_OK);
  assert_int_equal(v, 1);
  assert_int_equal(q(f->c,
                     "SELECT count(*) FROM alias_history WHERE actor='rule:drift'"
                     " AND kind='rollback'"),
                   1);
  assert_int_equal(q(f->c, "SELECT count(*) FROM outbox WHERE kind='alias.moved'"),
                   3);
  /* Still firing, evaluated again (and after a restart): no second rollback. */
  assert_string_equal(eval(f, buf, sizeof buf), "firing/none");
  mw_db_close(f->db);
  open_db(f);
  assert_string_equal(eval(f, buf, sizeof buf), "firing/none");
  assert_int_equal(
      q(f->c, "SELECT count(*) FROM alias_history WHERE actor='rule:drift'"), 1);
  /* Resolve, fire again: the second firing rolls back once more... but v1
   * is the oldest, so the action is skipped and says why. */
  f->value = 0.1;
  assert_string_equal(eval(f, buf, sizeof buf), "inactive/resolved");
  f->value = 0.9;
  assert_string_equal(eval(f, buf, sizeof buf), "pending/pending");
  run(f->c, "UPDATE alert_rules SET active_since = active_since - 3000");
  assert_string_equal(eval(f, buf, sizeof buf), "firing/fired");
  assert_int_equal(
      q(f->c, "SELECT count(*) FROM alias_history WHERE actor='rule:drift'"), 1);
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts WHERE action_result LIKE "
                           "'%skipped%'"),
                   1);
  assert_int_equal(reg_alias_lookup(f->c, "m", "production", &v, &err), MW_OK);
  assert_int_equal(v, 1);
}

/* While one evaluation computes on v3 (drifting), others fire, roll back to
 * v1 and resolve there. */
static void fire_rollback_resolve(struct fix *f) {
  char buf[64];
  f->value = 0.9;
  assert_string_equal(eval(f, buf, sizeof buf), "firing/fired");
  f->value = 0.1;
  assert_string_equal(eval(f, buf, sizeof buf), "inactive/resolved");
}

static void move_to_v3(struct fix *f) {
  cJSON *out = NULL;
  mw_err err = {0};
  assert_int_equal(reg_alias_set(f->c, &f->reg, "m", "production", 3, NULL, NULL,
                                 "t", &out, &err),
                   MW_OK);
  cJSON_Delete(out);
}

/* The stale evaluation, applied, would fire that episode again and roll
 * back a second time (1 -> 3, the version it held before). */
static void test_stale_evaluation_changes_nothing(void **state) {
  struct fix *f = *state;
  run(f->c, "UPDATE alert_rules SET for_seconds = 0");
  f->value = 0.9;
  f->during_report = fire_rollback_resolve;
  cJSON *out = NULL;
  mw_err err = {0};
  assert_int_equal(alert_rule_evaluate(f->c, &f->env, "drift", NULL, &out, &err),
                   MW_OK);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "superseded")));
  assert_string_equal(cJSON_GetObjectItem(out, "state")->valuestring, "inactive");
  assert_string_equal(cJSON_GetObjectItem(out, "event")->valuestring, "none");
  cJSON_Delete(out);
  int64_t v = 0;
  assert_int_equal(reg_alias_lookup(f->c, "m", "production", &v, &err), MW_OK);
  assert_int_equal(v, 1);
  assert_int_equal(
      q(f->c, "SELECT count(*) FROM alias_history WHERE actor='rule:drift'"), 1);
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts"), 1);
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts WHERE state='resolved'"), 1);
  /* A moved alias alone makes it stale too: computed for v1, applied
   * after a move to v3 by hand, it changes nothing; the next evaluation,
   * on v3, fires and rolls back (a new episode). */
  f->value = 0.9;
  f->during_report = move_to_v3;
  assert_int_equal(alert_rule_evaluate(f->c, &f->env, "drift", NULL, &out, &err),
                   MW_OK);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "superseded")));
  cJSON_Delete(out);
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts"), 1);
  char buf[64];
  assert_string_equal(eval(f, buf, sizeof buf), "firing/fired");
  assert_int_equal(
      q(f->c, "SELECT count(*) FROM alias_history WHERE actor='rule:drift'"), 2);
  assert_int_equal(reg_alias_lookup(f->c, "m", "production", &v, &err), MW_OK);
  assert_int_equal(v, 1);
}

static void test_nodata_and_discard(void **state) {
  struct fix *f = *state;
  char buf[64];
  f->count = 0;
  assert_string_equal(eval(f, buf, sizeof buf), "nodata/none");
  f->count = 10;
  f->value = 0.6;
  assert_string_equal(eval(f, buf, sizeof buf), "pending/pending");
  f->value = 0.2;
  assert_string_equal(eval(f, buf, sizeof buf), "inactive/discarded");
  assert_int_equal(q(f->c, "SELECT count(*) FROM alerts"), 0);
}

static int64_t alert_outbox(struct fix *f) {
  return q(f->c, "SELECT count(*) FROM outbox WHERE kind='alert'");
}

static void test_grouping_silence_ack_repeat(void **state) {
  struct fix *f = *state;
  char buf[64];
  f->env.group_wait_ms = 30000;
  f->env.group_interval_ms = 300000;
  f->env.repeat_interval_ms = 4 * 3600000LL;
  run(f->c, "UPDATE alert_rules SET for_seconds = 0, action = NULL");
  f->value = 0.9;
  assert_string_equal(eval(f, buf, sizeof buf), "firing/fired");
  int64_t t = mw_now_ms();
  alert_tick(f->c, &f->env, t);
  assert_int_equal(alert_outbox(f), 0); /* group wait */
  alert_tick(f->c, &f->env, t + 31000);
  assert_int_equal(alert_outbox(f), 1);
  alert_tick(f->c, &f->env, t + 60000);
  assert_int_equal(alert_outbox(f), 1); /* nothing new */
  /* Repeat after the repeat interval while firing and unacknowledged. */
  alert_tick(f->c, &f->env, t + 31000 + 4 * 3600000LL);
  assert_int_equal(alert_outbox(f), 2);
  /* Acknowledged: no more repeats. */
  cJSON *out = NULL;
  mw_err err = {0};
  int64_t id = q(f->c, "SELECT id FROM alerts");
  assert_int_equal(alert_ack(f->c, id, "t", &out, &err), MW_OK);
  cJSON_Delete(out);
  alert_tick(f->c, &f->env, t + 31000 + 9 * 3600000LL);
  assert_int_equal(alert_outbox(f), 2);
  /* Resolved: one resolved notification after the group interval. */
  f->value = 0.1;
  assert_string_equal(eval(f, buf, sizeof buf), "inactive/resolved");
  alert_tick(f->c, &f->env, t + 31000 + 9 * 3600000LL + 1000);
  assert_int_equal(alert_outbox(f), 3);
  alert_tick(f->c, &f->env, t + 31000 + 10 * 3600000LL);
  assert_int_equal(alert_outbox(f), 3);
  /* A silence matching the labels keeps a new firing quiet. */
  cJSON *sil =
      cJSON_Parse("{\"matchers\":[{\"name\":\"team\",\"value\":\"risk\"}],"
                  "\"ends_at\":\"2999-01-01T00:00:00Z\",\"comment\":\"x\"}");
  assert_int_equal(alert_silence_create(f->c, sil, "t", &out, &err), MW_OK);
  cJSON_Delete(out);
  cJSON_Delete(sil);
  f->value = 0.9;
  assert_string_equal(eval(f, buf, sizeof buf), "firing/fired");
  int64_t t2 = mw_now_ms() + 20 * 3600000LL;
  alert_tick(f->c, &f->env, t2);
  alert_tick(f->c, &f->env, t2 + 40000);
  assert_int_equal(alert_outbox(f), 3);
  assert_int_equal(alert_silence_expire(f->c, 1, "t", &err), MW_OK);
  alert_tick(f->c, &f->env, t2 + 80000);
  alert_tick(f->c, &f->env, t2 + 120000);
  assert_int_equal(alert_outbox(f), 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sm_transitions),
      cmocka_unit_test(test_sm_nodata),
      cmocka_unit_test(test_sm_flapping_never_fires_with_for),
      cmocka_unit_test(test_compare_and_metrics),
      cmocka_unit_test(test_eval_current),
      cmocka_unit_test(test_decide_fire_with_rollback),
      cmocka_unit_test(test_decide_pending_then_fire_existing),
      cmocka_unit_test(test_decide_resolve_discard_value_nodata),
      cmocka_unit_test(test_decide_stale),
      cmocka_unit_test(test_group_due),
      cmocka_unit_test_setup_teardown(test_rule_validation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pending_survives_restart_then_fires_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_evaluation_changes_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_nodata_and_discard, setup, teardown),
      cmocka_unit_test_setup_teardown(test_grouping_silence_ack_repeat, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
