/* tests/unit/test_correction.c - monitor/correction: Bonferroni and
 * Benjamini-Hochberg adjusted p-values. The BH answers were worked out by
 * hand from the step-up definition and agree with R's p.adjust(p, "BH");
 * tests/oracle checks the same function against a numpy implementation on
 * random p-values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "monitor/baseline.h"
#include "monitor/correction.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void assert_close(double got, double want) {
  if(!(fabs(got - want) <= 1e-12)) {
    print_error("got %.17g want %.17g\n", got, want);
    fail();
  }
}

static void t_bh_known(void **state) {
  (void)state;
  /* Sorted: .005 .01 .03 .04 .04 .5; p*6/rank: .03 .03 .06 .06 .048 .5;
   * running minimum from the top: .03 .03 .048 .048 .048 .5. */
  const double p[] = {0.01, 0.04, 0.03, 0.005, 0.5, 0.04};
  const double want[] = {0.03, 0.048, 0.048, 0.03, 0.5, 0.048};
  double out[N_OF(p)];
  assert_int_equal(mon_padjust(p, N_OF(p), MON_CORRECTION_BH, out), 0);
  for(size_t i = 0; i < N_OF(p); i++)
    assert_close(out[i], want[i]);
}

static void t_bh_caps_and_ties(void **state) {
  (void)state;
  const double p[] = {0.9, 0.9, 1.0};
  double out[N_OF(p)];
  assert_int_equal(mon_padjust(p, N_OF(p), MON_CORRECTION_BH, out), 0);
  /* .9*3/1 = 2.7, .9*3/2 = 1.35, 1*3/3 = 1: all capped at 1. */
  for(size_t i = 0; i < N_OF(p); i++)
    assert_close(out[i], 1.0);
  const double q[] = {0.02, 0.02};
  assert_int_equal(mon_padjust(q, 2, MON_CORRECTION_BH, out), 0);
  assert_close(out[0], 0.02);
  assert_close(out[1], 0.02);
}

static void t_bonferroni(void **state) {
  (void)state;
  const double p[] = {0.01, 0.2, 0.0};
  double out[N_OF(p)];
  assert_int_equal(mon_padjust(p, N_OF(p), MON_CORRECTION_BONFERRONI, out), 0);
  assert_close(out[0], 0.03);
  assert_close(out[1], 0.6);
  assert_close(out[2], 0.0);
  const double big[] = {0.5, 0.4};
  assert_int_equal(mon_padjust(big, 2, MON_CORRECTION_BONFERRONI, out), 0);
  assert_close(out[0], 1.0);
  assert_close(out[1], 0.8);
}

static void t_in_place_none_and_empty(void **state) {
  (void)state;
  double p[] = {0.04, 0.01};
  assert_int_equal(mon_padjust(p, 2, MON_CORRECTION_NONE, p), 0);
  assert_close(p[0], 0.04);
  assert_int_equal(mon_padjust(p, 2, MON_CORRECTION_BH, p), 0);
  assert_close(p[0], 0.04);
  assert_close(p[1], 0.02);
  assert_int_equal(mon_padjust(p, 0, MON_CORRECTION_BH, p), 0);
  /* One test: nothing to correct. */
  double one[] = {0.04};
  assert_int_equal(mon_padjust(one, 1, MON_CORRECTION_BONFERRONI, one), 0);
  assert_close(one[0], 0.04);
}

static void t_bad_pvalues(void **state) {
  (void)state;
  double out[2];
  const double nan2[] = {NAN, 0.1}, neg[] = {-0.1, 0.1}, over[] = {1.5, 0.1};
  assert_int_equal(mon_padjust(nan2, 2, MON_CORRECTION_BH, out), -1);
  assert_int_equal(mon_padjust(neg, 2, MON_CORRECTION_BONFERRONI, out), -1);
  assert_int_equal(mon_padjust(over, 2, MON_CORRECTION_NONE, out), -1);
}

static void t_names(void **state) {
  (void)state;
  mon_correction c = MON_CORRECTION_NONE;
  assert_true(mon__correction_parse("bh", &c));
  assert_int_equal(c, MON_CORRECTION_BH);
  assert_true(mon__correction_parse("bonferroni", &c));
  assert_int_equal(c, MON_CORRECTION_BONFERRONI);
  assert_false(mon__correction_parse("BH", &c));
  assert_false(mon__correction_parse("holm", &c));
  assert_false(mon__correction_parse(NULL, &c));
  assert_string_equal(mon__correction_name(MON_CORRECTION_BH), "bh");
  assert_string_equal(mon__correction_name(MON_CORRECTION_NONE), "none");
}

/* monitor/baseline: the previous window and the label-delayed window. */
static void t_windows(void **state) {
  (void)state;
  int64_t f = 0, t = 0;
  mon__previous_window(1000, 4000, &f, &t);
  assert_int_equal(f, -2000);
  assert_int_equal(t, 1000);
  /* A window that ended long enough ago is itself. */
  mon__label_window(1000, 4000, 500, 10000, &f, &t);
  assert_int_equal(f, 1000);
  assert_int_equal(t, 4000);
  /* Exactly delay ago: itself too. */
  mon__label_window(1000, 4000, 6000, 10000, &f, &t);
  assert_int_equal(t, 4000);
  /* A live window moves back until its end is delay ago, same length. */
  mon__label_window(7000, 10000, 2000, 10000, &f, &t);
  assert_int_equal(f, 5000);
  assert_int_equal(t, 8000);
  mon__label_window(7000, 10000, 0, 10000, &f, &t);
  assert_int_equal(f, 7000);
  assert_int_equal(t, 10000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_bh_known),    cmocka_unit_test(t_bh_caps_and_ties),
      cmocka_unit_test(t_bonferroni),  cmocka_unit_test(t_in_place_none_and_empty),
      cmocka_unit_test(t_bad_pvalues), cmocka_unit_test(t_names),
      cmocka_unit_test(t_windows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
