/* Unit tests of the OpenAPI description (web/static/openapi.json, embedded
 * into the binary and served at /api/v1/openapi.json) against the route
 * table: every route is described and every described operation is a
 * route, with the scope the route enforces; and the document holds
 * together (summaries, unique operationIds, response schemas, $refs that
 * resolve, components that are used). Its OpenAPI validity is checked by
 * the linter in ctest entry openapi.lint. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "web/web_internal.h"

/* The layout cmake/embed.cmake generates. */
struct mw_embedded_asset {
  const char *name;
  const unsigned char *data;
  size_t len;
};
extern const struct mw_embedded_asset web_assets[];
extern const size_t web_assets_count;

/* The methods an OpenAPI path item may hold, as the route table spells
 * them. */
static const char *const http_methods[] = {"GET",    "PUT",     "POST",
                                           "DELETE", "OPTIONS", "HEAD",
                                           "PATCH",  "TRACE"};
#define N_METHODS (sizeof http_methods / sizeof http_methods[0])

/* The 405 answer cannot be referenced by any operation: it is what a path
 * gives for a method the document does not list. */
static const char *const unreferenced_ok[] = {
    "#/components/responses/MethodNotAllowed"};

/* Lower-case copy of an upper-case method name ("GET" -> "get"). */
static void lower(const char *in, char *out, size_t cap) {
  size_t i = 0;
  for(; in[i] && i + 1 < cap; i++)
    out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
  out[i] = '\0';
}

static const char *scope_name(unsigned scope) {
  switch(scope) {
  case MW_SCOPE_NONE:
    return "none";
  case MW_SCOPE_READ:
    return "read";
  case MW_SCOPE_INGEST:
    return "ingest";
  case MW_SCOPE_PROMOTE:
    return "promote";
  case MW_SCOPE_ADMIN:
    return "admin";
  case MW_SCOPE_ANY:
    return "any";
  case MW_SCOPE_METRICS:
    return "metrics";
  default:
    return "?";
  }
}

static cJSON *obj(const cJSON *o, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* The embedded document, parsed; caller cJSON_Deletes. Fails the test when
 * the asset is missing or not JSON. */
static cJSON *load_document(void) {
  for(size_t i = 0; i < web_assets_count; i++) {
    if(strcmp(web_assets[i].name, "openapi.json"))
      continue;
    cJSON *doc = cJSON_ParseWithLength((const char *)web_assets[i].data,
                                       web_assets[i].len);
    if(!doc)
      fail_msg("the embedded openapi.json is not valid JSON");
    return doc;
  }
  fail_msg("no embedded asset named openapi.json (web/static/openapi.json)");
  return NULL;
}

/* Resolves a local JSON pointer reference ("#/a/b~1c") in doc; NULL when it
 * does not resolve or is not local. */
static const cJSON *resolve_ref(const cJSON *doc, const char *ref) {
  if(strncmp(ref, "#/", 2))
    return NULL;
  const cJSON *at = doc;
  const char *p = ref + 2;
  while(at && *p) {
    char tok[256];
    size_t n = 0;
    for(; *p && *p != '/'; p++) {
      char c = *p;
      if(c == '~' && (p[1] == '0' || p[1] == '1')) {
        c = p[1] == '0' ? '~' : '/';
        p++;
      }
      if(n + 1 >= sizeof tok)
        return NULL;
      tok[n++] = c;
    }
    tok[n] = '\0';
    if(*p == '/')
      p++;
    at = obj(at, tok);
  }
  return at;
}

/* Follows $ref (repeatedly) from a response, parameter or schema object. */
static const cJSON *deref(const cJSON *doc, const cJSON *o) {
  for(int hops = 0; o && hops < 16; hops++) {
    const cJSON *r = obj(o, "$ref");
    if(!cJSON_IsString(r))
      return o;
    o = resolve_ref(doc, r->valuestring);
  }
  return NULL;
}

/* Routes missing from the document, and operations of the document with no
 * route; each mismatch is printed. Returns their number. */
static int compare_routes(const struct web_route *routes, size_t n,
                          const cJSON *doc) {
  int bad = 0;
  const cJSON *paths = obj(doc, "paths");
  for(size_t i = 0; i < n; i++) {
    char m[16];
    lower(routes[i].method, m, sizeof m);
    const cJSON *op = obj(obj(paths, routes[i].pattern), m);
    if(!cJSON_IsObject(op)) {
      print_error("route %s %s is not in openapi.json\n", routes[i].method,
                  routes[i].pattern);
      bad++;
    }
  }
  const cJSON *item;
  cJSON_ArrayForEach(item, paths) {
    for(size_t k = 0; k < N_METHODS; k++) {
      char m[16];
      lower(http_methods[k], m, sizeof m);
      if(!obj(item, m))
        continue;
      size_t i = 0;
      while(i < n && (strcmp(routes[i].method, http_methods[k]) ||
                      strcmp(routes[i].pattern, item->string)))
        i++;
      if(i == n) {
        print_error("openapi.json describes %s %s, which is no route\n",
                    http_methods[k], item->string);
        bad++;
      }
    }
  }
  return bad;
}

/* Scope mismatches between routes and their operations: x-required-scope
 * must name the route's scope, and an operation needs security exactly
 * when its route needs a token. */
static int compare_scopes(const struct web_route *routes, size_t n,
                          const cJSON *doc) {
  int bad = 0;
  for(size_t i = 0; i < n; i++) {
    char m[16];
    lower(routes[i].method, m, sizeof m);
    const cJSON *op = obj(obj(obj(doc, "paths"), routes[i].pattern), m);
    if(!op)
      continue; /* reported by compare_routes */
    const char *want = scope_name(routes[i].scope);
    const cJSON *have = obj(op, "x-required-scope");
    if(!cJSON_IsString(have) || strcmp(have->valuestring, want)) {
      print_error("%s %s: x-required-scope should be \"%s\"\n", routes[i].method,
                  routes[i].pattern, want);
      bad++;
    }
    const cJSON *sec = obj(op, "security");
    int open = cJSON_IsArray(sec) && cJSON_GetArraySize(sec) == 0;
    if(!cJSON_IsArray(sec) || open != (routes[i].scope == MW_SCOPE_NONE)) {
      print_error("%s %s: security should %s\n", routes[i].method,
                  routes[i].pattern,
                  routes[i].scope == MW_SCOPE_NONE ? "be []" : "require a token");
      bad++;
    }
    /* The bearer requirement names the scope as its role (OpenAPI 3.1). */
    const cJSON *req;
    cJSON_ArrayForEach(req, sec) {
      const cJSON *roles = obj(req, "bearerAuth");
      if(roles && (cJSON_GetArraySize(roles) != 1 ||
                   !cJSON_IsString(cJSON_GetArrayItem(roles, 0)) ||
                   strcmp(cJSON_GetArrayItem(roles, 0)->valuestring, want))) {
        print_error("%s %s: bearerAuth should list the role \"%s\"\n",
                    routes[i].method, routes[i].pattern, want);
        bad++;
      }
    }
  }
  return bad;
}

/* Problems of one operation (summary, operationId unique among ids[0..*nids),
 * responses with schemas); ids grows. */
static int check_operation(const cJSON *doc, const char *where, const cJSON *op,
                           const char **ids, size_t *nids, size_t cap) {
  int bad = 0;
  const cJSON *summary = obj(op, "summary");
  if(!cJSON_IsString(summary) || !summary->valuestring[0]) {
    print_error("%s: no summary\n", where);
    bad++;
  }
  const cJSON *id = obj(op, "operationId");
  if(!cJSON_IsString(id) || !id->valuestring[0]) {
    print_error("%s: no operationId\n", where);
    bad++;
  } else {
    for(size_t i = 0; i < *nids; i++)
      if(!strcmp(ids[i], id->valuestring)) {
        print_error("%s: operationId %s is used twice\n", where, id->valuestring);
        bad++;
      }
    if(*nids < cap)
      ids[(*nids)++] = id->valuestring;
  }
  const cJSON *responses = obj(op, "responses");
  if(!cJSON_IsObject(responses) || !responses->child) {
    print_error("%s: no responses\n", where);
    return bad + 1;
  }
  int ok_with_schema = 0;
  const cJSON *r;
  cJSON_ArrayForEach(r, responses) {
    const cJSON *resp = deref(doc, r);
    if(!resp) {
      print_error("%s: response %s does not resolve\n", where, r->string);
      bad++;
      continue;
    }
    const cJSON *content = obj(resp, "content");
    const cJSON *media;
    int schemas = 0;
    cJSON_ArrayForEach(media, content) {
      if(!cJSON_IsObject(obj(media, "schema"))) {
        print_error("%s: response %s (%s) has no schema\n", where, r->string,
                    media->string);
        bad++;
      } else {
        schemas++;
      }
    }
    if(r->string[0] == '2' && schemas > 0)
      ok_with_schema = 1;
  }
  if(!ok_with_schema) {
    print_error("%s: no 2xx response with a schema\n", where);
    bad++;
  }
  return bad;
}

static int check_operations(const cJSON *doc) {
  int bad = 0;
  const char *ids[512];
  size_t nids = 0;
  /* Webhooks take part only in operationId uniqueness: what a node answers
   * to them has no body. */
  const cJSON *hook, *op;
  cJSON_ArrayForEach(hook, obj(doc, "webhooks")) {
    cJSON_ArrayForEach(op, hook) {
      const cJSON *id = obj(op, "operationId");
      if(cJSON_IsString(id) && nids < 512)
        ids[nids++] = id->valuestring;
    }
  }
  const cJSON *item;
  cJSON_ArrayForEach(item, obj(doc, "paths")) {
    for(size_t k = 0; k < N_METHODS; k++) {
      char m[16], where[300];
      lower(http_methods[k], m, sizeof m);
      op = obj(item, m);
      if(!op)
        continue;
      snprintf(where, sizeof where, "%s %s", http_methods[k], item->string);
      bad += check_operation(doc, where, op, ids, &nids, 512);
      /* Every answer may be 500 or 503 (errors before or inside the
       * handler); routes with a token also 401, 403 and 429. */
      const cJSON *resp = obj(op, "responses");
      const char *always[] = {"500", "503"};
      const char *scoped[] = {"401", "403", "429"};
      for(size_t j = 0; j < 2; j++)
        if(!obj(resp, always[j])) {
          print_error("%s: no %s response\n", where, always[j]);
          bad++;
        }
      const cJSON *sec = obj(op, "security");
      for(size_t j = 0; j < 3 && cJSON_GetArraySize(sec) > 0; j++)
        if(!obj(resp, scoped[j])) {
          print_error("%s: no %s response\n", where, scoped[j]);
          bad++;
        }
      /* Every 401 names the scheme it wants (web/http.c adds it). */
      const cJSON *unauth = obj(resp, "401") ? deref(doc, obj(resp, "401")) : NULL;
      if(unauth && !obj(obj(unauth, "headers"), "WWW-Authenticate")) {
        print_error("%s: 401 without a WWW-Authenticate header\n", where);
        bad++;
      }
    }
  }
  return bad;
}

/* Visits every $ref in the tree: counts those that do not resolve and
 * records each one seen in `seen` (a JSON object used as a set). */
static int check_refs(const cJSON *doc, const cJSON *node, cJSON *seen) {
  int bad = 0;
  if(node->string && !strcmp(node->string, "$ref") && cJSON_IsString(node)) {
    if(!resolve_ref(doc, node->valuestring)) {
      print_error("$ref %s does not resolve\n", node->valuestring);
      bad++;
    } else if(!obj(seen, node->valuestring)) {
      cJSON_AddTrueToObject(seen, node->valuestring);
    }
  }
  for(const cJSON *c = node->child; c; c = c->next)
    bad += check_refs(doc, c, seen);
  return bad;
}

static void test_document(void **state) {
  (void)state;
  cJSON *doc = load_document();
  const cJSON *v = obj(doc, "openapi");
  assert_true(cJSON_IsString(v));
  assert_int_equal(strncmp(v->valuestring, "3.1.", 4), 0);
  assert_true(cJSON_IsString(obj(obj(doc, "info"), "title")));
  assert_true(cJSON_IsObject(obj(doc, "paths")));
  /* The error format, as web_reply_error writes it. */
  const cJSON *err = obj(obj(obj(obj(obj(doc, "components"), "schemas"), "Error"),
                             "properties"),
                         "error");
  const cJSON *req = obj(err, "required");
  const char *fields[] = {"code", "message", "details"};
  for(size_t i = 0; i < 3; i++) {
    int found = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, req) {
      if(cJSON_IsString(f) && !strcmp(f->valuestring, fields[i]))
        found = 1;
    }
    assert_true(found);
  }
  /* One shared response per error status, each of that format. */
  const char *errs[] = {"BadRequest",           "Unauthorized",
                        "Forbidden",            "NotFound",
                        "MethodNotAllowed",     "Conflict",
                        "PayloadTooLarge",      "UnsupportedMediaType",
                        "UnprocessableEntity",  "TooManyRequests",
                        "InternalError",        "ServiceUnavailable"};
  const cJSON *responses = obj(obj(doc, "components"), "responses");
  for(size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    const cJSON *schema =
        obj(obj(obj(obj(responses, errs[i]), "content"), "application/json"), "schema");
    const cJSON *r = obj(schema, "$ref");
    assert_true(cJSON_IsString(r));
    assert_string_equal(r->valuestring, "#/components/schemas/Error");
  }
  /* Bearer tokens, and the dashboard's cookie with its CSRF header. */
  const cJSON *schemes = obj(obj(doc, "components"), "securitySchemes");
  assert_string_equal(obj(obj(schemes, "bearerAuth"), "scheme")->valuestring, "bearer");
  assert_string_equal(obj(obj(schemes, "sessionCookie"), "in")->valuestring, "cookie");
  assert_string_equal(obj(obj(schemes, "csrfToken"), "name")->valuestring,
                      "X-CSRF-Token");
  cJSON_Delete(doc);
}

static void test_every_route_described(void **state) {
  (void)state;
  cJSON *doc = load_document();
  size_t n;
  const struct web_route *routes = web_route_table(&n);
  assert_true(n > 0);
  int bad = compare_routes(routes, n, doc);
  cJSON_Delete(doc);
  assert_int_equal(bad, 0);
}

static void test_scopes_match_routes(void **state) {
  (void)state;
  cJSON *doc = load_document();
  size_t n;
  const struct web_route *routes = web_route_table(&n);
  int bad = compare_scopes(routes, n, doc);
  cJSON_Delete(doc);
  assert_int_equal(bad, 0);
}

static void test_operations_complete(void **state) {
  (void)state;
  cJSON *doc = load_document();
  int bad = check_operations(doc);
  cJSON_Delete(doc);
  assert_int_equal(bad, 0);
}

static void test_refs_resolve_and_components_used(void **state) {
  (void)state;
  cJSON *doc = load_document();
  cJSON *seen = cJSON_CreateObject();
  int bad = check_refs(doc, doc, seen);
  const char *kinds[] = {"schemas", "parameters", "responses"};
  for(size_t k = 0; k < 3; k++) {
    const cJSON *c;
    cJSON_ArrayForEach(c, obj(obj(doc, "components"), kinds[k])) {
      char ref[300];
      snprintf(ref, sizeof ref, "#/components/%s/%s", kinds[k], c->string);
      int exempt = 0;
      for(size_t i = 0; i < sizeof unreferenced_ok / sizeof unreferenced_ok[0]; i++)
        exempt |= !strcmp(ref, unreferenced_ok[i]);
      if(!exempt && !obj(seen, ref)) {
        print_error("%s is never used\n", ref);
        bad++;
      }
    }
  }
  cJSON_Delete(seen);
  cJSON_Delete(doc);
  assert_int_equal(bad, 0);
}

/* The checks themselves find what they are for: a route the document
 * lacks, an operation with no route, a wrong scope, a repeated
 * operationId, a response without schema and a dangling $ref. */
static void test_checks_catch_mismatches(void **state) {
  (void)state;
  static const struct web_route routes[] = {
      {"GET", "/a", MW_SCOPE_READ, NULL},
      {"POST", "/b/{id}", MW_SCOPE_NONE, NULL},
  };
  const char *text =
      "{\"openapi\": \"3.1.0\", \"paths\": {"
      " \"/a\": {\"get\": {\"summary\": \"a\", \"operationId\": \"x\","
      "  \"x-required-scope\": \"admin\", \"security\": [{\"bearerAuth\": [\"admin\"]}],"
      "  \"responses\": {\"200\": {\"description\": \"d\","
      "   \"content\": {\"application/json\": {}}}}},"
      "  \"put\": {\"summary\": \"p\", \"operationId\": \"x\", \"security\": [],"
      "   \"x-required-scope\": \"none\","
      "   \"responses\": {\"200\": {\"$ref\": \"#/components/responses/Gone\"}}}}}}";
  cJSON *doc = cJSON_Parse(text);
  assert_non_null(doc);
  /* POST /b/{id} is missing and PUT /a is no route. */
  assert_int_equal(compare_routes(routes, 2, doc), 2);
  /* GET /a claims admin while the route needs read: the extension and the
   * bearer role are both wrong. */
  assert_int_equal(compare_scopes(routes, 2, doc), 2);
  /* GET: a media type without schema (so no 2xx with one), no 500, 503,
   * 401, 403 or 429: 7. PUT: operationId x again, a response that does not
   * resolve (so no 2xx with a schema), no 500 or 503: 5. */
  assert_int_equal(check_operations(doc), 12);
  cJSON *seen = cJSON_CreateObject();
  assert_int_equal(check_refs(doc, doc, seen), 1);
  cJSON_Delete(seen);
  cJSON_Delete(doc);
}

/* Whether a path segment satisfies one branch of a parameter's schema, as
 * a validating gateway reads it: an integer branch takes a segment of
 * digits (the text coerced to a number) within minimum; a string branch
 * checks its lengths and pattern. The pattern is compiled as a POSIX
 * extended expression: one that needs lookahead or another engine's
 * extension fails the test, since not every gateway's engine has those. */
static int branch_matches(const cJSON *branch, const char *seg) {
  const char *type = mw_json_str(branch, "type");
  assert_non_null(type);
  size_t len = strlen(seg);
  if(!strcmp(type, "integer")) {
    if(len == 0 || strspn(seg, "0123456789") != len || len > 18)
      return 0;
    long long v = 0;
    for(const char *p = seg; *p; p++)
      v = v * 10 + (*p - '0');
    const cJSON *min = obj(branch, "minimum");
    return !cJSON_IsNumber(min) || (double)v >= min->valuedouble;
  }
  assert_string_equal(type, "string");
  const cJSON *minl = obj(branch, "minLength"), *maxl = obj(branch, "maxLength");
  if(cJSON_IsNumber(minl) && (double)len < minl->valuedouble)
    return 0;
  if(cJSON_IsNumber(maxl) && (double)len > maxl->valuedouble)
    return 0;
  const char *pattern = mw_json_str(branch, "pattern");
  if(!pattern)
    return 1;
  regex_t re;
  if(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
    fail_msg("pattern %s is not a POSIX extended regular expression", pattern);
  int ok = regexec(&re, seg, 0, NULL, 0) == 0;
  regfree(&re);
  return ok;
}

/* {v} of the monitor routes is a version number or an alias. A gateway
 * that validates requests (Prism with --errors) needs exactly one branch
 * of its oneOf to match; "2" matched both while aliases were any Name, and
 * every call with a numeric version was refused. */
static void test_version_param_unambiguous(void **state) {
  (void)state;
  cJSON *doc = load_document();
  const cJSON *param = obj(obj(obj(doc, "components"), "parameters"), "VersionOrAlias");
  const cJSON *oneof = obj(obj(param, "schema"), "oneOf");
  assert_true(cJSON_IsArray(oneof));
  /* What the server does with each: a number (all digits) is a version,
   * anything else a valid Name is an alias, the rest is refused. */
  static const struct {
    const char *seg;
    int branches; /* how many must match: 1, or 0 for a refused value */
  } cases[] = {
      {"1", 1},          {"2", 1},         {"10", 1},      {"007", 1},
      {"123456789", 1},  {"production", 1}, {"staging", 1}, {"v2", 1},
      {"2a", 1},         {"a2", 1},        {"1.5", 1},     {"12-rc1", 1},
      {"0x1", 1},        {"_", 1},         {"-", 1},       {"A.b_c-d", 1},
      {"9_", 1},         {"1.", 1},        {"0", 0},       {"", 0},
      {".hidden", 0},    {"a b", 0},       {"a/b", 0},     {"é", 0},
  };
  for(size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, oneof) {
      const cJSON *branch = deref(doc, b);
      assert_non_null(branch);
      n += branch_matches(branch, cases[i].seg);
    }
    if(n != cases[i].branches)
      fail_msg("{v} = \"%s\" matches %d branches of VersionOrAlias, not %d",
               cases[i].seg, n, cases[i].branches);
  }
  /* A 128-character alias is fine, 129 is not (as the server's names). */
  char longname[131];
  memset(longname, 'a', 130);
  longname[128] = '\0';
  const cJSON *alias = deref(doc, cJSON_GetArrayItem(oneof, 1));
  assert_true(branch_matches(alias, longname));
  longname[128] = 'a';
  longname[129] = '\0';
  assert_false(branch_matches(alias, longname));
  cJSON_Delete(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_param_unambiguous),
      cmocka_unit_test(test_document),
      cmocka_unit_test(test_every_route_described),
      cmocka_unit_test(test_scopes_match_routes),
      cmocka_unit_test(test_operations_complete),
      cmocka_unit_test(test_refs_resolve_and_components_used),
      cmocka_unit_test(test_checks_catch_mismatches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
