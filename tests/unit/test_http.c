/* Unit tests of web/http.c's request readers that need no connection:
 * query parameters (web_query_get), the pre-parse scan of JSON bodies
 * (web_json_scan), one value and unique keys (web_json_parse,
 * web_json_unique_keys), and the body caps of web/routes.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web/web_internal.h"

static void test_query_found_absent(void **state) {
  (void)state;
  char buf[16];
  assert_int_equal(web_query_get("a=1&b=x%20y+z", "b", buf, sizeof buf),
                   WEB_QUERY_FOUND);
  assert_string_equal(buf, "x y z");
  assert_int_equal(web_query_get("a=1&b=2", "A", buf, sizeof buf), WEB_QUERY_FOUND);
  assert_string_equal(buf, "1");
  assert_int_equal(web_query_get("ab=1&b", "b", buf, sizeof buf), WEB_QUERY_FOUND);
  assert_string_equal(buf, "");
  assert_int_equal(web_query_get("ab=1", "b", buf, sizeof buf), WEB_QUERY_ABSENT);
  assert_string_equal(buf, "");
  assert_int_equal(web_query_get(NULL, "b", buf, sizeof buf), WEB_QUERY_ABSENT);
  assert_int_equal(web_query_get("", "b", buf, sizeof buf), WEB_QUERY_ABSENT);
  /* '+' is a space here; web_query_time puts it back in offsets. */
  char t[64];
  assert_int_equal(web_query_get("to=2026-11-27T08:00:00+01:00", "to", t, sizeof t),
                   WEB_QUERY_FOUND);
  assert_string_equal(t, "2026-11-27T08:00:00 01:00");
}

static void test_query_never_cut_or_guessed(void **state) {
  (void)state;
  char buf[8];
  /* Seven bytes fit a buffer of eight; eight do not, and nothing of them
   * is kept. */
  assert_int_equal(web_query_get("q=1234567", "q", buf, sizeof buf), WEB_QUERY_FOUND);
  assert_int_equal(web_query_get("q=12345678", "q", buf, sizeof buf),
                   WEB_QUERY_TOO_LONG);
  assert_string_equal(buf, "");
  /* Length is counted decoded: %41 is one byte. */
  assert_int_equal(web_query_get("q=%41%41%41%41%41%41%41", "q", buf, sizeof buf),
                   WEB_QUERY_FOUND);
  assert_string_equal(buf, "AAAAAAA");
  const char *bad[] = {"q=%", "q=%4", "q=%zz", "q=a%0", "q=%00", "q=a%00b"};
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(web_query_get(bad[i], "q", buf, sizeof buf),
                     WEB_QUERY_MALFORMED);
  /* A bad escape in another parameter is not this one's business. */
  assert_int_equal(web_query_get("x=%zz&q=1", "q", buf, sizeof buf), WEB_QUERY_FOUND);
  assert_int_equal(web_query_get("q=1&q=1", "q", buf, sizeof buf), WEB_QUERY_REPEATED);
  assert_int_equal(web_query_get("q=1&Q=2", "q", buf, sizeof buf), WEB_QUERY_REPEATED);
  assert_string_equal(buf, "");
}

/* web_json_scan's status for text with a value cap. */
static int scan(const char *text, size_t max_values) {
  const char *code = NULL;
  char msg[160];
  cJSON *det = NULL;
  int status = web_json_scan(text, strlen(text), max_values, &code, msg, sizeof msg,
                             &det);
  cJSON_Delete(det);
  return status;
}

static void test_scan_counts_values(void **state) {
  (void)state;
  /* {"a":[1,2,3],"b":{}}: the object, a, b, 1, 2, 3 (and one for the
   * empty object, counted as if it held an item). */
  assert_int_equal(scan("{\"a\":[1,2,3],\"b\":{}}", 7), 0);
  assert_int_equal(scan("{\"a\":[1,2,3],\"b\":{}}", 6), 413);
  /* Commas and brackets inside strings are not structure. */
  assert_int_equal(scan("{\"a\":\"[,,,,,,,,]\"}", 2), 0);
  assert_int_equal(scan("{\"a\\\",[\":1}", 2), 0);
  /* What issue 11 sent: a flat array of zeros, counted before parsing. */
  size_t n = 200000;
  char *big = malloc(n * 2 + 16);
  assert_non_null(big);
  size_t o = (size_t)snprintf(big, 16, "{\"token\":[");
  for(size_t i = 0; i < n; i++) {
    big[o++] = '0';
    big[o++] = i + 1 < n ? ',' : ']';
  }
  big[o++] = '}';
  big[o] = '\0';
  assert_int_equal(scan(big, 16), 413);
  /* Past 100000 items in one array even with no value cap. */
  assert_int_equal(scan(big, SIZE_MAX), 413);
  free(big);
}

static void test_scan_depth_and_characters(void **state) {
  (void)state;
  char deep[80];
  memset(deep, '[', 33);
  deep[33] = '\0';
  assert_int_equal(scan(deep, SIZE_MAX), 422);
  deep[32] = '\0';
  assert_int_equal(scan(deep, SIZE_MAX), 0);
  assert_int_equal(scan("{\"a\":\"x\ty\"}", SIZE_MAX), 400);
  assert_int_equal(scan("{\"a\":\"x\\u0000\"}", SIZE_MAX), 400);
  assert_int_equal(scan("{\"a\":\"x\\\\u0000\"}", SIZE_MAX), 0);
}

/* web_json_parse's status and code for text. */
static int parse(const char *text, const char **code) {
  cJSON *out = NULL, *det = NULL;
  char msg[160];
  int status = web_json_parse(text, strlen(text), 65536, &out, code, msg, sizeof msg,
                              &det);
  cJSON_Delete(out);
  cJSON_Delete(det);
  return status;
}

static void test_parse_one_value(void **state) {
  (void)state;
  const char *code;
  assert_int_equal(parse("{\"name\":\"a\"}", &code), 0);
  assert_int_equal(parse("{\"name\":\"a\"} \r\n\t", &code), 0);
  const char *bad[] = {"{\"name\":\"a\"} xyz", "{\"a\":1}{\"b\":2}", "{\"a\":1}]",
                       "{\"a\":1} 1", "{\"a\":1},"};
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(parse(bad[i], &code), 400);
    assert_string_equal(code, "invalid_json");
  }
}

static void test_parse_unique_keys(void **state) {
  (void)state;
  const char *code;
  assert_int_equal(parse("{\"a\":1,\"a\":2}", &code), 400);
  assert_string_equal(code, "invalid_json");
  assert_int_equal(parse("{\"a\":1,\"\\u0061\":2}", &code), 400);
  assert_int_equal(parse("{\"x\":[{\"b\":1},{\"b\":1,\"c\":2,\"b\":3}]}", &code), 400);
  /* The same key in different objects is fine, and keys are compared
   * case-sensitively. */
  assert_int_equal(parse("{\"x\":[{\"b\":1},{\"b\":1}],\"B\":1,\"b\":2}", &code), 0);
  /* A large object (sorted, not compared pairwise), with and without a
   * repeat at its two ends. */
  size_t n = 50000;
  char *big = malloc(n * 16 + 32);
  assert_non_null(big);
  size_t cap = n * 16 + 32, o = 1;
  big[0] = '{';
  for(size_t i = 0; i < n; i++)
    o += (size_t)snprintf(big + o, cap - o, "%s\"k%zu\":1", i ? "," : "", i);
  snprintf(big + o, cap - o, "}");
  assert_int_equal(parse(big, &code), 0);
  snprintf(big + o, cap - o, ",\"k0\":2}");
  assert_int_equal(parse(big, &code), 400);
  cJSON *out = NULL, *det = NULL;
  char msg[160];
  assert_int_equal(web_json_parse(big, strlen(big), 65536, &out, &code, msg,
                                  sizeof msg, &det),
                   400);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(det, "key")->valuestring, "k0");
  cJSON_Delete(det);
  free(big);
}

static void test_body_caps(void **state) {
  (void)state;
  mw_config cfg;
  mw_config_defaults(&cfg);
  size_t bytes, values;
  web_body_limits(WEB_BODY_TINY, &cfg, &bytes, &values);
  assert_int_equal(bytes, 4096);
  web_body_limits(WEB_BODY_SMALL, &cfg, &bytes, &values);
  assert_int_equal(bytes, 1 << 20);
  web_body_limits(WEB_BODY_BULK, &cfg, &bytes, &values);
  assert_int_equal(bytes, cfg.max_body);
  assert_int_equal(values, cfg.max_body / 8);
  web_body_limits(WEB_BODY_ARTIFACT, &cfg, &bytes, &values);
  assert_int_equal(bytes, (size_t)cfg.max_artifact);
  assert_int_equal(values, 0);
  /* --max-body caps every JSON body, not artifacts. */
  cfg.max_body = 2048;
  web_body_limits(WEB_BODY_METADATA, &cfg, &bytes, &values);
  assert_int_equal(bytes, 2048);
  web_body_limits(WEB_BODY_ARTIFACT, &cfg, &bytes, &values);
  assert_int_equal(bytes, (size_t)cfg.max_artifact);

  /* The table: sign-in is the one body read without a token, and tiny;
   * only ingest, reference and artifact routes are large. */
  size_t n;
  const struct web_route *routes = web_route_table(&n);
  int tiny = 0, large = 0;
  for(size_t i = 0; i < n; i++) {
    enum web_body b = web_route_body(i);
    if(routes[i].scope == MW_SCOPE_NONE && strcmp(routes[i].method, "GET"))
      assert_int_equal(b, WEB_BODY_TINY);
    tiny += b == WEB_BODY_TINY;
    large += b == WEB_BODY_BULK || b == WEB_BODY_ARTIFACT;
  }
  assert_int_equal(tiny, 1);
  assert_int_equal(large, 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_found_absent),
      cmocka_unit_test(test_query_never_cut_or_guessed),
      cmocka_unit_test(test_scan_counts_values),
      cmocka_unit_test(test_scan_depth_and_characters),
      cmocka_unit_test(test_parse_one_value),
      cmocka_unit_test(test_parse_unique_keys),
      cmocka_unit_test(test_body_caps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
