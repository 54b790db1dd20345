/* Unit tests of web/router.c: path pattern matching and the route table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "web/web_internal.h"

static int match(const char *pat, const char *path, char vals[][256],
                 int *np) {
  const char *names[WEB_MAX_PARAMS];
  size_t nl[WEB_MAX_PARAMS];
  return web_route_match(pat, path, vals, names, nl, np);
}

static void test_literal(void **state) {
  (void)state;
  char v[WEB_MAX_PARAMS][256];
  int np = -1;
  assert_true(match("/healthz", "/healthz", v, &np));
  assert_int_equal(np, 0);
  assert_false(match("/healthz", "/healthz/", v, &np));
  assert_false(match("/healthz", "/health", v, &np));
  assert_false(match("/api/v1/models", "/api/v1/model", v, &np));
  assert_false(match("/api/v1/models", "/api/v1/models/x", v, &np));
  assert_false(match("/api/v1/models/{name}", "/api/v1/models", v, &np));
}

static void test_params(void **state) {
  (void)state;
  char v[WEB_MAX_PARAMS][256];
  const char *names[WEB_MAX_PARAMS];
  size_t nl[WEB_MAX_PARAMS];
  int np = 0;
  assert_true(web_route_match("/api/v1/models/{name}/versions/{v}",
                              "/api/v1/models/fraud/versions/12", v, names, nl,
                              &np));
  assert_int_equal(np, 2);
  assert_string_equal(v[0], "fraud");
  assert_string_equal(v[1], "12");
  assert_int_equal(nl[0], 4);
  assert_memory_equal(names[0], "name", 4);
  assert_memory_equal(names[1], "v", 1);
  /* Empty segments never match a parameter. */
  assert_false(web_route_match("/api/v1/models/{name}", "/api/v1/models/", v,
                               names, nl, &np));
  /* Percent-decoding happens per segment, after splitting: an encoded slash
   * stays inside the value (and name validation then refuses it). */
  assert_true(web_route_match("/a/{x}", "/a/b%2Fc", v, names, nl, &np));
  assert_string_equal(v[0], "b/c");
  assert_true(web_route_match("/a/{x}", "/a/%41%zz", v, names, nl, &np));
  assert_string_equal(v[0], "A%zz");
  /* A NUL byte cannot be smuggled in. */
  assert_false(web_route_match("/a/{x}", "/a/b%00c", v, names, nl, &np));
  /* Values longer than the buffer do not match. */
  char longp[400] = "/a/";
  memset(longp + 3, 'x', 300);
  longp[303] = '\0';
  assert_false(web_route_match("/a/{x}", longp, v, names, nl, &np));
}

static void test_table_is_sane(void **state) {
  (void)state;
  size_t web_routes_count;
  const struct web_route *web_routes = web_route_table(&web_routes_count);
  assert_true(web_routes_count >= 6);
  /* No two routes share method and pattern, and each pattern starts with /. */
  for(size_t i = 0; i < web_routes_count; i++) {
    assert_int_equal(web_routes[i].pattern[0], '/');
    assert_non_null(web_routes[i].handler);
    for(size_t j = i + 1; j < web_routes_count; j++)
      assert_false(!strcmp(web_routes[i].method, web_routes[j].method) &&
                   !strcmp(web_routes[i].pattern, web_routes[j].pattern));
  }
  /* Everything under /api/v1 needs a token. */
  for(size_t i = 0; i < web_routes_count; i++)
    if(!strncmp(web_routes[i].pattern, "/api/v1/", 8) &&
       strcmp(web_routes[i].pattern, "/api/v1/openapi.json") != 0 &&
       strcmp(web_routes[i].pattern, "/api/v1/session") != 0)
      assert_int_not_equal(web_routes[i].scope, MW_SCOPE_NONE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_literal),
      cmocka_unit_test(test_params),
      cmocka_unit_test(test_table_is_sane),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
