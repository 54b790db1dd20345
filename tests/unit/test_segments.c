/* tests/unit/test_segments.c - monitor/segments: ranking the values of a
 * segment column (the top values by count, ties by value, the missing
 * value as a value of its own, everything else as one other segment). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "monitor/segments.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void t_top_and_other(void **state) {
  (void)state;
  /* Codes 0..5; code 4 only in the reference (0 rows in the window). */
  const double counts[] = {5, 9, 9, 1, 0, 3};
  const char *names[] = {"e", "b", "a", "d", "z", "c"};
  mon_segment_group g[3 + 1];
  long of[N_OF(counts)], miss = 7;
  long n = mon__segments_rank(counts, names, N_OF(counts), 2, 3, g, of, &miss);
  assert_int_equal(n, 4);
  /* 9 "a" (code 2) before 9 "b" (code 1): ties by value. */
  assert_int_equal(g[0].code, 2);
  assert_int_equal(g[1].code, 1);
  assert_int_equal(g[2].code, 0);
  assert_int_equal(g[3].code, MON_SEGMENT_OTHER);
  /* The rest: "d" 1 + "c" 3 + 2 missing. */
  assert_true(g[3].count == 6);
  assert_int_equal(of[2], 0);
  assert_int_equal(of[1], 1);
  assert_int_equal(of[0], 2);
  assert_int_equal(of[3], 3);
  assert_int_equal(of[5], 3);
  /* A value only the reference has belongs to the other segment. */
  assert_int_equal(of[4], 3);
  assert_int_equal(miss, 3);
}

static void t_missing_is_a_value(void **state) {
  (void)state;
  const double counts[] = {4, 2};
  mon_segment_group g[20 + 1];
  long of[2], miss = -5;
  long n = mon__segments_rank(counts, NULL, 2, 3, 20, g, of, &miss);
  /* Everything fits: no other segment; missing ranks by its count. */
  assert_int_equal(n, 3);
  assert_int_equal(g[0].code, 0);
  assert_int_equal(g[1].code, MON_SEGMENT_MISSING);
  assert_true(g[1].count == 3);
  assert_int_equal(g[2].code, 1);
  assert_int_equal(miss, 1);
  assert_int_equal(of[1], 2);
  /* A tie with the missing value: the value first. */
  const double tie[] = {3};
  n = mon__segments_rank(tie, NULL, 1, 3, 20, g, of, &miss);
  assert_int_equal(n, 2);
  assert_int_equal(g[0].code, 0);
  assert_int_equal(g[1].code, MON_SEGMENT_MISSING);
}

static void t_exactly_top_and_empty(void **state) {
  (void)state;
  double counts[25];
  for(size_t k = 0; k < 25; k++)
    counts[k] = k < 20 ? (double)(100 - k) : 0;
  mon_segment_group g[20 + 1];
  long of[25], miss = 0;
  /* Twenty values with rows, five only in the reference: twenty
   * segments, no other one, and the reference-only values in none. */
  long n = mon__segments_rank(counts, NULL, 25, 0, 20, g, of, &miss);
  assert_int_equal(n, 20);
  for(size_t k = 0; k < 20; k++)
    assert_int_equal(of[k], (long)k);
  for(size_t k = 20; k < 25; k++)
    assert_int_equal(of[k], -1);
  assert_int_equal(miss, -1);
  /* One more value with a row: the 21st is the other segment. */
  counts[24] = 1;
  n = mon__segments_rank(counts, NULL, 25, 0, 20, g, of, &miss);
  assert_int_equal(n, 21);
  assert_int_equal(g[20].code, MON_SEGMENT_OTHER);
  assert_true(g[20].count == 1);
  assert_int_equal(of[24], 20);
  assert_int_equal(of[21], 20);
  /* An empty window: no group. */
  const double none[] = {0, 0};
  n = mon__segments_rank(none, NULL, 2, 0, 20, g, of, &miss);
  assert_int_equal(n, 0);
  assert_int_equal(of[0], -1);
  assert_int_equal(of[1], -1);
  assert_int_equal(miss, -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_top_and_other),
      cmocka_unit_test(t_missing_is_a_value),
      cmocka_unit_test(t_exactly_top_and_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
