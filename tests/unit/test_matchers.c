/* Unit tests of alerts/matchers.c: matching semantics (full-anchored like
 * Alertmanager's "^(?:value)$", RE2 syntax, a missing label is ""), the
 * checks at creation naming the matcher, the limits on hostile patterns
 * (each answered quickly, accepted or refused), and the compiled-pattern
 * cache: one compilation per distinct pattern, shared by threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/internal.h"

/* alert_matchers_match on one matcher {name: "v", value, is_regex} and
 * labels {"v": text}. */
static int re_match(const char *value, const char *text) {
  cJSON *m = cJSON_CreateArray();
  cJSON *one = cJSON_CreateObject();
  cJSON_AddStringToObject(one, "name", "v");
  cJSON_AddStringToObject(one, "value", value);
  cJSON_AddBoolToObject(one, "is_regex", 1);
  cJSON_AddItemToArray(m, one);
  cJSON *labels = cJSON_CreateObject();
  if(text)
    cJSON_AddStringToObject(labels, "v", text);
  int hit = alert_matchers_match(m, labels);
  cJSON_Delete(m);
  cJSON_Delete(labels);
  return hit;
}

static void test_semantics(void **state) {
  (void)state;
  cJSON *labels = cJSON_Parse("{\"model\":\"fraud\",\"severity\":\"critical\"}");
  cJSON *m = cJSON_Parse("[{\"name\":\"model\",\"value\":\"fraud\"}]");
  assert_true(alert_matchers_match(m, labels));
  cJSON_Delete(m);
  m = cJSON_Parse("[{\"name\":\"model\",\"value\":\"fr\"}]");
  assert_false(alert_matchers_match(m, labels));
  cJSON_Delete(m);
  /* Every matcher must match. */
  m = cJSON_Parse("[{\"name\":\"model\",\"value\":\"fr.*\",\"is_regex\":true},"
                  "{\"name\":\"severity\",\"value\":\"crit|warn\",\"is_regex\":true}]");
  assert_false(alert_matchers_match(m, labels));
  cJSON_Delete(m);
  m = cJSON_Parse("[{\"name\":\"model\",\"value\":\"fr.*\",\"is_regex\":true},"
                  "{\"name\":\"severity\",\"value\":\"critical|warning\","
                  "\"is_regex\":true}]");
  assert_true(alert_matchers_match(m, labels));
  cJSON_Delete(m);
  m = cJSON_Parse("[]");
  assert_false(alert_matchers_match(m, labels));
  cJSON_Delete(m);
  cJSON_Delete(labels);

  /* Anchored at both ends, over the whole alternation: "^(?:a|b)$", not
   * "^a|b$". */
  assert_true(re_match("team-(a|b)", "team-a"));
  assert_true(re_match("team-(a|b)", "team-b"));
  assert_false(re_match("team-(a|b)", "team-ab"));
  assert_false(re_match("team-(a|b)", "xteam-a"));
  assert_true(re_match("prod.*", "prod"));
  assert_true(re_match("prod.*", "production-eu"));
  assert_false(re_match("prod.*", "preprod"));
  assert_true(re_match("a|b", "b"));
  assert_false(re_match("a|b", "ab"));
  assert_false(re_match("a|bc", "abc"));
  assert_false(re_match("fr", "fraud"));
  assert_false(re_match("raud", "fraud"));
  /* A missing label is the empty string, as in Alertmanager. */
  assert_true(re_match(".*", NULL));
  assert_true(re_match("", NULL));
  assert_false(re_match(".+", NULL));
  /* RE2 (Go's, Alertmanager's) syntax: Perl classes, flags, non-capturing
   * groups, bounded repetition; '.' does not cross a newline. */
  assert_true(re_match("\\d{3}-\\w+", "123-abc_9"));
  assert_true(re_match("(?i)CRITICAL", "critical"));
  assert_true(re_match("(?:eu|us)-[[:alpha:]]+-[0-9]{1,3}", "eu-west-12"));
  assert_false(re_match("(?:eu|us)-[[:alpha:]]+-[0-9]{1,3}", "eu-west-1234"));
  assert_false(re_match("a.b", "a\nb"));
  /* UTF-8 is matched by character. */
  assert_true(re_match("caf.", "caf\xc3\xa9"));
  /* The (.*){1,288} of the report: means ".*", matches anything. */
  assert_true(re_match("(.*){1,90}", "anything at all"));
}

/* The check at creation names the matcher and the field. */
static void expect_refused(const char *json, int index, const char *needle) {
  cJSON *m = cJSON_Parse(json);
  assert_non_null(m);
  struct alert__matchers *ms = (struct alert__matchers *)1;
  mw_err err = {0};
  mw_status s = alert__matchers_compile(m, &ms, &err);
  if(s != MW_EVALIDATION)
    fail_msg("%s: status %d, want validation_failed", json, s);
  assert_null(ms);
  char want[32];
  snprintf(want, sizeof want, "matchers[%d]", index);
  if(index >= 0 && !strstr(err.msg, want))
    fail_msg("%s: '%s' does not name %s", json, err.msg, want);
  if(needle && !strstr(err.msg, needle))
    fail_msg("%s: '%s' does not say '%s'", json, err.msg, needle);
  if(index >= 0) {
    const cJSON *idx = cJSON_GetObjectItem(err.details, "index");
    assert_true(cJSON_IsNumber(idx) && idx->valueint == index);
  }
  mw_err_clear(&err);
  cJSON_Delete(m);
}

static void test_checks(void **state) {
  (void)state;
  expect_refused("[]", -1, "1-32");
  expect_refused("{}", -1, "1-32");
  expect_refused("[{\"name\":\"a\",\"value\":\"b\"},{\"value\":\"x\"}]", 1, NULL);
  expect_refused("[{\"name\":\"a\",\"value\":\"b\",\"is_regex\":\"yes\"}]", 0, NULL);
  expect_refused("[{\"name\":\"a\",\"value\":\"b\"},"
                 "{\"name\":\"a\",\"value\":\"(b\",\"is_regex\":true}]",
                 1, "not a valid regular expression");
  /* Unbalanced in a way that "^(?:" + value + ")$" would hide. */
  expect_refused("[{\"name\":\"a\",\"value\":\"a)|(b\",\"is_regex\":true}]", 0,
                 "not a valid");
  /* No back-references, no look-around (RE2, like Alertmanager). */
  expect_refused("[{\"name\":\"a\",\"value\":\"(a)\\\\1\",\"is_regex\":true}]", 0, NULL);
  expect_refused("[{\"name\":\"a\",\"value\":\"(?=a)\",\"is_regex\":true}]", 0, NULL);
  /* Past RE2's repetition limit, or past our program budget. */
  expect_refused("[{\"name\":\"a\",\"value\":\"a{1001}\",\"is_regex\":true}]", 0, NULL);
  expect_refused("[{\"name\":\"a\",\"value\":\"((a{255}){255})\",\"is_regex\":true}]", 0,
                 NULL);
  expect_refused("[{\"name\":\"a\",\"value\":\"(.*){1,1000}\",\"is_regex\":true}]", 0,
                 "too large");
  /* 33 matchers. */
  cJSON *many = cJSON_CreateArray();
  for(int i = 0; i < 33; i++)
    cJSON_AddItemToArray(many, cJSON_Parse("{\"name\":\"a\",\"value\":\"b\"}"));
  char *many_txt = cJSON_PrintUnformatted(many);
  expect_refused(many_txt, -1, "1-32");
  cJSON_free(many_txt);
  cJSON_Delete(many);
  /* A value longer than 1024 bytes. */
  char *big = malloc(1200);
  memset(big, 'a', 1100);
  big[1100] = 0;
  cJSON *m = cJSON_CreateArray();
  cJSON *one = cJSON_CreateObject();
  cJSON_AddStringToObject(one, "name", "a");
  cJSON_AddStringToObject(one, "value", big);
  cJSON_AddItemToArray(m, one);
  char *txt = cJSON_PrintUnformatted(m);
  expect_refused(txt, 0, "1024");
  cJSON_free(txt);
  cJSON_Delete(m);
  free(big);
}

/* The patterns of the report, and their cousins: each is accepted or
 * refused, none takes long; an accepted one matches correctly. */
static void test_hostile_patterns(void **state) {
  (void)state;
  const char *hostile[] = {"(.*){1,1000}", "(a?){1,1000}", "(a*){1,400}",
                           "(x|y*){1,600}", "(.*){1,288}", "(a|aa){1,160}b",
                           "(x|y*){1,142}", "(a?){1,199}", "((((a+)+)+)+)+",
                           "a++", "(.*a){1,90}", "[a-z]{1,1000}[0-9]{1,1000}"};
  char text[1100];
  for(size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    cJSON *m = cJSON_CreateArray();
    cJSON *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, "name", "v");
    cJSON_AddStringToObject(one, "value", hostile[i]);
    cJSON_AddBoolToObject(one, "is_regex", 1);
    cJSON_AddItemToArray(m, one);
    struct alert__matchers *ms = NULL;
    mw_err err = {0};
    mw_status s = alert__matchers_compile(m, &ms, &err);
    assert_true(s == MW_OK || s == MW_EVALIDATION);
    if(!s) {
      /* Long label values that make a backtracking engine explode. */
      for(int k = 0; k < 3; k++) {
        memset(text, "axy"[k], 1023);
        text[1023] = k == 0 ? '!' : 'z';
        text[1024] = 0;
        cJSON *labels = cJSON_CreateObject();
        cJSON_AddStringToObject(labels, "v", text);
        (void)alert__matchers_eval(ms, labels);
        cJSON_Delete(labels);
      }
    }
    alert__matchers_free(ms);
    mw_err_clear(&err);
    cJSON_Delete(m);
  }
  /* Accepted ones still mean what they say. */
  assert_true(re_match("(a|aa){1,160}b", "aaaab"));
  assert_false(re_match("(a|aa){1,160}b", "aaaa"));
  assert_true(re_match("(x|y*){1,142}", "xyyyx"));
  assert_false(re_match("(x|y*){1,142}", "xyzx"));
}

/* ---- the cache ---- */

static void test_cache_compiles_once(void **state) {
  (void)state;
  struct alert__rx_stats a, b;
  cJSON *labels = cJSON_Parse("{\"team\":\"ml-platform\"}");
  cJSON *m = cJSON_Parse("[{\"name\":\"team\",\"value\":\"ml-(platform|infra)-cache\","
                         "\"is_regex\":true}]");
  alert__rx_stats(&a);
  for(int i = 0; i < 1000; i++)
    assert_false(alert_matchers_match(m, labels));
  alert__rx_stats(&b);
  assert_int_equal(b.compiles - a.compiles, 1);
  assert_int_equal(b.hits - a.hits, 999);
  assert_true(b.entries >= 1);
  cJSON_Delete(m);
  cJSON_Delete(labels);
}

/* More distinct patterns than the cache keeps: the oldest go, memory
 * stays bounded, and handles held across an eviction stay valid. */
static void test_cache_eviction(void **state) {
  (void)state;
  cJSON *held_json = cJSON_Parse("[{\"name\":\"v\",\"value\":\"held-[0-9]+\","
                                 "\"is_regex\":true}]");
  struct alert__matchers *held = NULL;
  assert_int_equal(alert__matchers_compile(held_json, &held, NULL), MW_OK);
  for(int i = 0; i < 600; i++) {
    char pat[64];
    snprintf(pat, sizeof pat, "evict-%d-[a-z]+", i);
    char text[64];
    snprintf(text, sizeof text, "evict-%d-abc", i);
    assert_true(re_match(pat, text));
  }
  struct alert__rx_stats st;
  alert__rx_stats(&st);
  assert_true(st.entries <= ALERT__RX_CACHE_MAX);
  cJSON *labels = cJSON_Parse("{\"v\":\"held-42\"}");
  assert_true(alert__matchers_eval(held, labels));
  cJSON_Delete(labels);
  alert__matchers_free(held);
  cJSON_Delete(held_json);
}

struct worker {
  int id;
  int hits;
};

static void *match_many(void *arg) {
  struct worker *w = arg;
  char pat[64], text[64];
  for(int i = 0; i < 400; i++) {
    /* 40 patterns shared by every thread, and some of its own. */
    snprintf(pat, sizeof pat, "shared-%d-(x|y)+", i % 40);
    snprintf(text, sizeof text, "shared-%d-xyx", i % 40);
    w->hits += re_match(pat, text);
    snprintf(pat, sizeof pat, "own-%d-%d", w->id, i % 300);
    w->hits += re_match(pat, pat);
  }
  return NULL;
}

static void test_cache_threads(void **state) {
  (void)state;
  pthread_t t[8];
  struct worker w[8];
  for(int i = 0; i < 8; i++) {
    w[i].id = i;
    w[i].hits = 0;
    assert_int_equal(pthread_create(&t[i], NULL, match_many, &w[i]), 0);
  }
  for(int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].hits, 800);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_semantics),
      cmocka_unit_test(test_checks),
      cmocka_unit_test(test_hostile_patterns),
      cmocka_unit_test(test_cache_compiles_once),
      cmocka_unit_test(test_cache_eviction),
      cmocka_unit_test(test_cache_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
