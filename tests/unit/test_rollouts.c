/* Unit tests of the pure core of rollouts (rollouts/plan.c) and of the
 * configuration parser (rollouts/config.c): what a step waits for and in
 * which order, when it is inconclusive, what a check's numbers mean,
 * what ends a step, which bodies are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "rollouts/internal.h"

static struct rollout__config two_steps(void) {
  struct rollout__config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.nsteps = 2;
  cfg.steps[0] = (struct rollout__step){10, 60000};
  cfg.steps[1] = (struct rollout__step){100, 30000};
  cfg.a.max_drift_share = NAN;
  cfg.a.max_cvb_drift_share = NAN;
  cfg.a.max_drop = NAN;
  cfg.a.min_agreement = cfg.a.max_mean_abs_diff = cfg.a.min_rank_correlation = NAN;
  cfg.a.min_predictions = 100;
  cfg.a.max_wait_ms = 600000;
  return cfg;
}

static void test_wait_order(void **state) {
  (void)state;
  struct rollout__config cfg = two_steps();
  struct rollout__progress p = {.now = 1000 + 59999,
                                .started = 1000,
                                .nodes = 2,
                                .loaded = 1,
                                .predictions = 0};
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__WAIT_HOLD);
  assert_false(rollout__hold_over(&cfg, 0, p.started, p.now));
  p.now = 1000 + 60000; /* the hold is over at its last millisecond */
  assert_true(rollout__hold_over(&cfg, 0, p.started, p.now));
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__WAIT_NODES);
  p.loaded = 2;
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__WAIT_PREDICTIONS);
  p.predictions = 100;
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__READY);
  /* No node at all: nothing to wait for on that side. */
  p.nodes = p.loaded = 0;
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__READY);
  assert_null(rollout__wait_name(ROLLOUT__READY));
  assert_string_equal(rollout__wait_name(ROLLOUT__WAIT_NODES), "nodes");
}

static void test_labels_and_delay(void **state) {
  (void)state;
  struct rollout__config cfg = two_steps();
  mw_strlcpy(cfg.a.metric, "accuracy", sizeof cfg.a.metric);
  cfg.a.max_drop = 0.05;
  cfg.a.label_delay_ms = 20000;
  struct rollout__progress p = {.now = 60000,
                                .started = 0,
                                .nodes = 1,
                                .loaded = 1,
                                .predictions = 500,
                                .labels_ready = 0};
  /* The hold is extended by the label delay when a metric is compared. */
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__WAIT_HOLD);
  p.now = 80000;
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__WAIT_LABELS);
  p.labels_ready = 1;
  assert_int_equal(rollout__step_wait(&cfg, 0, &p), ROLLOUT__READY);
  assert_int_equal(rollout__label_cutoff(&cfg, 80000), 60000);
  /* Inconclusive only past hold + delay + max_wait. */
  p.labels_ready = 0;
  p.now = 80000 + 600000 - 1;
  assert_false(rollout__step_timed_out(&cfg, 0, &p));
  p.now++;
  assert_true(rollout__step_timed_out(&cfg, 0, &p));
}

static void test_checks(void **state) {
  (void)state;
  struct rollout__check ck = {.value = 0.3, .threshold = 0.3, .upper = 1};
  assert_true(rollout__check_judge(&ck)); /* at the threshold passes */
  ck.value = 0.31;
  assert_false(rollout__check_judge(&ck));
  ck.upper = 0; /* a floor: agreement, rank correlation */
  assert_true(rollout__check_judge(&ck));
  ck.value = NAN; /* could not be computed: fails, never passes silently */
  assert_false(rollout__check_judge(&ck));
  ck.threshold = NAN; /* informational */
  assert_true(rollout__check_judge(&ck));
}

static void test_metric_drop(void **state) {
  (void)state;
  assert_true(rollout__metric_valid("f1"));
  assert_true(rollout__metric_valid("rmse"));
  assert_false(rollout__metric_valid("auc"));
  assert_float_equal(rollout__metric_drop("accuracy", 0.9, 0.8), 0.1, 1e-12);
  assert_float_equal(rollout__metric_drop("mae", 0.1, 0.25), 0.15, 1e-12);
  assert_float_equal(rollout__metric_drop("rmse", 0.3, 0.2), -0.1, 1e-12);
}

static void test_verdict(void **state) {
  (void)state;
  struct rollout__config cfg = two_steps();
  struct rollout__check ck[2] = {{.passed = 1}, {.passed = 1}};
  int failed;
  assert_int_equal(rollout__verdict(&cfg, 0, ck, 2, &failed), ROLLOUT__NEXT);
  assert_int_equal(failed, -1);
  assert_int_equal(rollout__verdict(&cfg, 1, ck, 2, &failed), ROLLOUT__PROMOTE);
  assert_int_equal(rollout__verdict(&cfg, 1, ck, 0, &failed), ROLLOUT__PROMOTE);
  ck[1].passed = 0;
  assert_int_equal(rollout__verdict(&cfg, 0, ck, 2, &failed), ROLLOUT__ABORT);
  assert_int_equal(failed, 1);
  /* A failed check on the last step aborts rather than promotes. */
  assert_int_equal(rollout__verdict(&cfg, 1, ck, 2, &failed), ROLLOUT__ABORT);
}

static mw_status parse(const char *text, struct rollout__config *cfg, mw_err *err) {
  cJSON *j = cJSON_Parse(text);
  assert_non_null(j);
  mw_status s = rollout__config_parse(j, cfg, err);
  cJSON_Delete(j);
  return s;
}

static void test_config(void **state) {
  (void)state;
  struct rollout__config cfg;
  mw_err err = {0};
  assert_int_equal(
      parse("{\"mode\":\"shadow\",\"steps\":[{\"weight_percent\":50,"
            "\"hold_seconds\":5},{\"weight_percent\":100,\"hold_seconds\":0}],"
            "\"analysis\":{\"metric\":{\"name\":\"mae\",\"max_drop\":0.02},"
            "\"label_delay_seconds\":30,\"max_mean_abs_diff\":0.1}}",
            &cfg, &err),
      MW_OK);
  assert_true(cfg.shadow);
  assert_int_equal(cfg.nsteps, 2);
  assert_int_equal(cfg.steps[0].hold_ms, 5000);
  assert_string_equal(cfg.a.metric, "mae");
  assert_int_equal(cfg.a.label_delay_ms, 30000);
  assert_int_equal(cfg.a.min_predictions, ROLLOUT__MIN_PREDICTIONS);
  assert_true(isnan(cfg.a.max_drift_share));
  /* What is stored reads back the same. */
  cJSON *j = rollout__config_json(&cfg);
  struct rollout__config back;
  assert_int_equal(rollout__config_parse(j, &back, &err), MW_OK);
  cJSON_Delete(j);
  assert_int_equal(back.nsteps, 2);
  assert_true(back.shadow);
  assert_float_equal(back.a.max_mean_abs_diff, 0.1, 0);
  assert_true(isnan(back.a.min_agreement));

  static const char *const bad[] = {
      "{\"steps\":[]}",
      "{\"steps\":[{\"weight_percent\":0,\"hold_seconds\":1}]}",
      "{\"steps\":[{\"weight_percent\":101,\"hold_seconds\":1}]}",
      "{\"steps\":[{\"weight_percent\":50,\"hold_seconds\":-1}]}",
      "{\"steps\":[{\"weight_percent\":50,\"hold_seconds\":1},"
      "{\"weight_percent\":20,\"hold_seconds\":1}]}",
      "{\"mode\":\"blue-green\",\"steps\":[{\"weight_percent\":5,\"hold_seconds\":1}"
      "]}",
      "{\"steps\":[{\"weight_percent\":5,\"hold_seconds\":1}],\"analysis\":"
      "{\"max_drift_shar\":0.3}}",
      "{\"steps\":[{\"weight_percent\":5,\"hold_seconds\":1}],\"analysis\":"
      "{\"max_drift_share\":1.5}}",
      "{\"steps\":[{\"weight_percent\":5,\"hold_seconds\":1}],\"analysis\":"
      "{\"metric\":{\"name\":\"auc\",\"max_drop\":0.1}}}",
      "{\"steps\":[{\"weight_percent\":5,\"hold_seconds\":1}],\"analysis\":"
      "{\"metric\":{\"name\":\"f1\",\"max_drop\":-0.1}}}",
  };
  for(size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    mw_err e = {0};
    assert_int_equal(parse(bad[i], &cfg, &e), MW_EVALIDATION);
    assert_true(e.msg[0] != 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wait_order), cmocka_unit_test(test_labels_and_delay),
      cmocka_unit_test(test_checks),     cmocka_unit_test(test_metric_drop),
      cmocka_unit_test(test_verdict),    cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
