/* Unit tests of monitor/: schema and value parsing, dictionaries, chunk
 * packing, batch validation, ingest and labels, windows across block and
 * bucket boundaries, reference precomputation, drift reports, settings,
 * stored evaluations, /metrics text and retention - on a real database with
 * the registry's tables seeded by SQL: a SQLite file in a temporary
 * directory, or, when MW_TEST_PG_URL names a PostgreSQL database to connect
 * to (tests/unit/with_pg.py starts one), a fresh PostgreSQL database per
 * test, so both store implementations pass the same tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "core/db_pg.h"
#include "core/db_sqlite.h"
#include "monitor/internal.h"
#include "monitor/rcache.h"

#include "mon_fixture.h"
}

/* Finds an error {index, field} in err->details.errors. */
static int has_error(const mw_err *err, long index, const char *field) {
  const cJSON *list = cJSON_GetObjectItem(err->details, "errors");
  const cJSON *e;
  cJSON_ArrayForEach(e, list) {
    const cJSON *i = cJSON_GetObjectItem(e, "index");
    const char *fl = mw_json_str(e, "field");
    if(i && (long)i->valuedouble == index && fl && !strcmp(fl, field))
      return 1;
  }
  return 0;
}

static cJSON *parse(const char *s) {
  cJSON *j = cJSON_Parse(s);
  assert_non_null(j);
  return j;
}

/* ------------------------------------------------------------------ */

static void test_schema(void **state) {
  (void)state;
  mon_version v = {1, 1, "m", 3, NULL};
  mon_schema s;
  mw_err err = {{0}, NULL};
  assert_int_equal(mon__schema_parse(NULL, &v, &s, &err), MW_EVALIDATION);
  assert_non_null(strstr(err.msg, "no schema"));
  assert_int_equal(mon__schema_parse(SCHEMA, &v, &s, &err), MW_OK);
  assert_int_equal(s.ncols, 3);
  assert_string_equal(s.cols[2].name, "prediction");
  assert_int_equal(s.cols[1].kind, MON_COLUMN_CATEGORICAL);
  assert_int_equal(mon__schema_find(&s, "city", 4), 1);
  assert_int_equal(mon__schema_find(&s, "cit", 3), -1);
  mon__schema_free(&s);
  assert_int_equal(mon__schema_parse("{\"features\":[{\"name\":\"prediction\","
                                     "\"type\":\"numeric\"}],\"prediction\":"
                                     "{\"type\":\"numeric\"}}",
                                     &v, &s, &err),
                   MW_EVALIDATION);
  assert_int_equal(mon__schema_parse("{\"features\":[{\"name\":\"a\","
                                     "\"type\":\"text\"}],\"prediction\":"
                                     "{\"type\":\"numeric\"}}",
                                     &v, &s, &err),
                   MW_EVALIDATION);
  assert_int_equal(mon__schema_parse("[]", &v, &s, &err), MW_EVALIDATION);
}

static void test_json_values(void **state) {
  (void)state;
  cJSON *a = parse("[1.5, null, \"NaN\", \"-Infinity\", \"inf\", \"x\", true]");
  double d;
  assert_true(mon__json_number(cJSON_GetArrayItem(a, 0), &d));
  assert_true(d == 1.5);
  for(int i = 1; i <= 4; i++) {
    assert_true(mon__json_number(cJSON_GetArrayItem(a, i), &d));
    assert_true(isnan(d));
  }
  assert_false(mon__json_number(cJSON_GetArrayItem(a, 5), &d));
  assert_false(mon__json_number(cJSON_GetArrayItem(a, 6), &d));
  cJSON_Delete(a);
  a = parse("[\"red\", 3, 2.5, false, null, {}]");
  char buf[64];
  bool missing;
  assert_string_equal(
      mon__json_category(cJSON_GetArrayItem(a, 0), buf, 64, &missing), "red");
  assert_string_equal(
      mon__json_category(cJSON_GetArrayItem(a, 1), buf, 64, &missing), "3");
  assert_string_equal(
      mon__json_category(cJSON_GetArrayItem(a, 2), buf, 64, &missing), "2.5");
  assert_string_equal(
      mon__json_category(cJSON_GetArrayItem(a, 3), buf, 64, &missing), "false");
  assert_non_null(mon__json_category(cJSON_GetArrayItem(a, 4), buf, 64, &missing));
  assert_true(missing);
  assert_null(mon__json_category(cJSON_GetArrayItem(a, 5), buf, 64, &missing));
  cJSON_Delete(a);
}

static mon_doc *doc_of(const char *text, char *buf, size_t cap) {
  mw_strlcpy(buf, text, cap);
  mon_doc *d = NULL;
  size_t off;
  if(mon_doc_parse(buf, strlen(buf), NULL, &d, NULL, &off))
    return NULL;
  return d;
}

static void test_json_parser(void **state) {
  (void)state;
  char buf[512];
  mon_doc *d =
      doc_of(" {\"a\": [1, -2.5e3, true, false, null, NaN, -Infinity],"
             " \"b\\u00e9\\n\": \"x\\\"y\\u20ac\\ud83d\\ude00\", \"c\": {}} ",
             buf, sizeof buf);
  assert_non_null(d);
  const cJSON *root = mon_doc_root(d);
  assert_true(cJSON_IsObject(root));
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "a");
  assert_int_equal(cJSON_GetArraySize(a), 7);
  assert_true(cJSON_GetArrayItem(a, 1)->valuedouble == -2500);
  assert_true(cJSON_IsTrue(cJSON_GetArrayItem(a, 2)));
  assert_true(cJSON_IsNull(cJSON_GetArrayItem(a, 5)));
  assert_true(cJSON_IsNull(cJSON_GetArrayItem(a, 6)));
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "b\xc3\xa9\n");
  assert_non_null(b);
  assert_string_equal(b->valuestring, "x\"y\xe2\x82\xac\xf0\x9f\x98\x80");
  assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "c")));
  mon_doc_free(d);
  static const char *const bad[] = {"",
                                    "{",
                                    "[1,]",
                                    "{\"a\":1,}",
                                    "{\"a\" 1}",
                                    "[01]",
                                    "[1.]",
                                    "[.5]",
                                    "[1e]",
                                    "[-]",
                                    "[\"\\x\"]",
                                    "[\"a\tb\"]",
                                    "[\"\\ud800\"]",
                                    "[1] x",
                                    "[tru]",
                                    "{\"a\":nul}",
                                    "[\"\\u0000\"]",
                                    "[+1]"};
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mw_strlcpy(buf, bad[i], sizeof buf);
    size_t off = 99;
    int why = 0;
    assert_int_equal(mon_doc_parse(buf, strlen(buf), NULL, &d, &why, &off),
                     MW_EINVAL);
    assert_int_equal(why, MON_DOC_SYNTAX);
    assert_null(d);
    assert_true(off <= strlen(bad[i]));
  }
  /* Nesting is bounded. */
  char deep[1200];
  memset(deep, '[', 600);
  memset(deep + 600, ']', 600);
  deep[1199] = '\0';
  deep[1198] = ']';
  int why = 0;
  assert_int_equal(mon_doc_parse(deep, 1200 - 1, NULL, &d, &why, NULL),
                   MW_EVALIDATION);
  assert_int_equal(why, MON_DOC_DEPTH);
  /* The caps of an HTTP body. */
  mon_doc_limits lim = {4, 8, 3};
  mw_strlcpy(buf, "[[[[[1]]]]]", sizeof buf);
  assert_int_equal(mon_doc_parse(buf, strlen(buf), &lim, &d, &why, NULL),
                   MW_EVALIDATION);
  assert_int_equal(why, MON_DOC_DEPTH);
  mw_strlcpy(buf, "[[[[1]]]]", sizeof buf);
  assert_int_equal(mon_doc_parse(buf, strlen(buf), &lim, &d, &why, NULL), MW_OK);
  mon_doc_free(d);
  mw_strlcpy(buf, "[\"123456789\"]", sizeof buf);
  assert_int_equal(mon_doc_parse(buf, strlen(buf), &lim, &d, &why, NULL),
                   MW_EVALIDATION);
  assert_int_equal(why, MON_DOC_STRING);
  mw_strlcpy(buf, "{\"123456789\":1}", sizeof buf);
  assert_int_equal(mon_doc_parse(buf, strlen(buf), &lim, &d, &why, NULL),
                   MW_EVALIDATION);
  assert_int_equal(why, MON_DOC_KEY);
  mw_strlcpy(buf, "{\"a\":[1,2,3,4]}", sizeof buf);
  assert_int_equal(mon_doc_parse(buf, strlen(buf), &lim, &d, &why, NULL),
                   MW_ETOOBIG);
  assert_int_equal(why, MON_DOC_ITEMS);
  /* Every number is the double strtod gives (correctly rounded), on
   * random doubles printed with 15-17 digits, random digit strings with
   * exponents, and halfway cases. */
  uint64_t s = 88172645463325252ULL;
  mw_buf text;
  mw_buf_init(&text, 64 << 20);
  mw_buf_append(&text, "[", 1);
  int count = 0;
  for(int i = 0; i < 60000; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    char num[64];
    double x;
    memcpy(&x, &s, sizeof x);
    switch(i % 4) {
    case 0:
      if(!isfinite(x))
        continue;
      snprintf(num, sizeof num, "%.17g", x);
      break;
    case 1:
      snprintf(num, sizeof num, "%.*g", 15 + (int)(s % 3),
               (double)(s >> 11) / 9007199254740992.0 * 100 - 50);
      break;
    case 2:
      snprintf(num, sizeof num, "%llue%d",
               (unsigned long long)(s % 10000000000000000000ULL),
               (int)(s >> 40) % 60 - 30);
      break;
    default: {
      /* 19 digits right at, just below and just above the halfway point
       * between two doubles: where rounding twice (to 64 bits, then 53)
       * goes wrong unless the parser notices. */
      double base =
          ldexp(1.0 + (double)(s >> 12) / 4503599627370496.0, (int)(s % 170) - 30);
      long double h =
          (long double)base +
          ((long double)nextafter(base, INFINITY) - (long double)base) / 2;
      char t[64];
      snprintf(t, sizeof t, "%.18Le", h);
      char digits19[20];
      digits19[0] = t[0];
      memcpy(digits19 + 1, t + 2, 18);
      digits19[19] = '\0';
      long long x = strtoll(strchr(t, 'e') + 1, NULL, 10);
      unsigned long long mm =
          strtoull(digits19, NULL, 10) + (unsigned long long)(i % 3) - 1;
      snprintf(num, sizeof num, "%llue%lld", mm, x - 18);
    }
    }
    if(count++)
      mw_buf_append(&text, ",", 1);
    mw_buf_append(&text, num, strlen(num));
  }
  mw_buf_append(&text, "]", 1);
  char *copy = strdup(text.data);
  assert_int_equal(mon_doc_parse(copy, text.len, NULL, &d, NULL, NULL), MW_OK);
  const char *p = text.data + 1;
  const cJSON *it;
  int checked = 0;
  cJSON_ArrayForEach(it, mon_doc_root(d)) {
    char *end;
    double want = strtod(p, &end);
    if(memcmp(&want, &it->valuedouble, sizeof want) != 0)
      fail_msg("%.*s parsed as %.17g, strtod gives %.17g", (int)(end - p), p,
               it->valuedouble, want);
    p = end + 1;
    checked++;
  }
  assert_int_equal(checked, count);
  mon_doc_free(d);
  free(copy);
  mw_buf_free(&text);
}

static void test_dict(void **state) {
  (void)state;
  mon_dict d;
  mon__dict_init(&d);
  long code;
  char key[32];
  for(int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "v%d", i);
    assert_int_equal(mon__dict_intern(&d, key, &code), MW_OK);
    assert_int_equal(code, i);
  }
  assert_int_equal(mon__dict_intern(&d, "v17", &code), MW_OK);
  assert_int_equal(code, 17);
  assert_int_equal(mon__dict_find(&d, "v999"), 999);
  assert_int_equal(mon__dict_find(&d, "nope"), -1);
  for(int i = 1000; i < MON_MAX_CATEGORIES; i++) {
    snprintf(key, sizeof key, "v%d", i);
    assert_int_equal(mon__dict_intern(&d, key, &code), MW_OK);
  }
  assert_int_equal(mon__dict_intern(&d, "one-too-many", &code), MW_ETOOBIG);
  mon__dict_free(&d);
}

static void test_packing(void **state) {
  (void)state;
  mw_buf b;
  mw_buf_init(&b, 1 << 20);
  double v[5] = {1.25, -0.0, NAN, 1e300, -7};
  size_t rows[3] = {4, 0, 2};
  assert_int_equal(mon__pack_doubles(&b, v, rows, 3), MW_OK);
  assert_int_equal(b.len, 24);
  assert_true(mon__chunk_double(b.data, 0) == -7);
  assert_true(mon__chunk_double(b.data, 1) == 1.25);
  assert_true(isnan(mon__chunk_double(b.data, 2)));
  int64_t t[2] = {1795766400123LL, -5};
  assert_int_equal(mon__pack_i64(&b, t, NULL, 2), MW_OK);
  assert_int_equal(mon__chunk_i64(b.data, 0), 1795766400123LL);
  assert_int_equal(mon__chunk_i64(b.data, 1), -5);
  const char *ids[3] = {"a", NULL, "ccc"};
  assert_int_equal(mon__pack_ids(&b, ids, NULL, 3), MW_OK);
  assert_int_equal(b.len, 2 + 1 + 4);
  const char *out[3];
  assert_true(mon__unpack_ids(b.data, b.len, 3, out));
  assert_string_equal(out[0], "a");
  assert_string_equal(out[1], "");
  assert_string_equal(out[2], "ccc");
  assert_false(mon__unpack_ids(b.data, b.len, 4, out));
  assert_false(mon__unpack_ids(b.data, b.len - 1, 3, out));
  /* The buffer's hard limit holds. */
  mw_buf small;
  mw_buf_init(&small, 16);
  assert_int_equal(mon__pack_doubles(&small, v, NULL, 5), MW_ETOOBIG);
  mw_buf_free(&small);
  mw_buf_free(&b);
}

static void test_batch_validation(void **state) {
  (void)state;
  mon_version v = {1, 1, "m", 1, SCHEMA};
  mon_schema s;
  assert_int_equal(mon__schema_parse(SCHEMA, &v, &s, NULL), MW_OK);
  cJSON *rows = parse(
      "[{\"id\":\"a\",\"timestamp\":\"2026-11-27T08:00:00Z\","
      "\"features\":{\"age\":30,\"city\":\"x\"},\"prediction\":0.5},"
      /* 1: wrong type, unknown column */
      "{\"features\":{\"age\":\"old\",\"city\":\"x\",\"zip\":1},\"prediction\":1},"
      /* 2: missing column, missing prediction, bad timestamp */
      "{\"timestamp\":\"yesterday\",\"features\":{\"age\":1}},"
      /* 3: duplicate id of row 0, NaN and null are fine */
      "{\"id\":\"a\",\"features\":{\"age\":\"NaN\",\"city\":null},\"prediction\":"
      "null},"
      /* 4: not an object; 5: far future, unknown field, features array */
      "7,{\"timestamp\":\"2999-01-01T00:00:00Z\",\"extra\":1,\"features\":[],"
      "\"prediction\":2},"
      /* 6: categorical given an object, integer id, a label */
      "{\"id\":42,\"features\":{\"city\":{},\"age\":2},\"prediction\":3,\"label\":4}"
      "]");
  mon_batch b;
  mon_errors e;
  mon__errors_init(&e);
  int64_t now = 1795766400000LL;
  assert_int_equal(mon__batch_parse(&s, rows, false, now, &b, &e), MW_OK);
  assert_int_equal(b.n, 7);
  mw_err err = {{0}, NULL};
  size_t nerr = e.count;
  assert_int_equal(mon__errors_fail(&e, &err, "bad"), MW_EVALIDATION);
  assert_false(has_error(&err, 0, "features.age"));
  assert_true(has_error(&err, 1, "features.age"));
  assert_true(has_error(&err, 1, "features.zip"));
  assert_true(has_error(&err, 2, "features.city"));
  assert_true(has_error(&err, 2, "prediction"));
  assert_true(has_error(&err, 2, "timestamp"));
  assert_true(has_error(&err, 3, "id"));
  assert_false(has_error(&err, 3, "features.age"));
  assert_true(has_error(&err, 4, ""));
  assert_true(has_error(&err, 5, "timestamp"));
  assert_true(has_error(&err, 5, "extra"));
  assert_true(has_error(&err, 5, "features"));
  assert_true(has_error(&err, 6, "features.city"));
  assert_int_equal(nerr, 11);
  /* Listed in row order. */
  const cJSON *list = cJSON_GetObjectItem(err.details, "errors");
  double last = -1;
  const cJSON *it;
  cJSON_ArrayForEach(it, list) {
    double idx = cJSON_GetObjectItem(it, "index")->valuedouble;
    assert_true(idx >= last);
    last = idx;
  }
  /* Values that parsed are staged column-major. */
  assert_true(b.vals[0 * b.n + 0] == 30);
  assert_true(isnan(b.vals[0 * b.n + 3]));
  assert_string_equal(b.cats[1 * b.n + 0], "x");
  assert_null(b.cats[1 * b.n + 3]);
  assert_int_equal(b.ts[0], 1795766400000LL);
  assert_int_equal(b.ts[3], now);
  assert_string_equal(b.ids[6], "42");
  assert_true(b.has_label[6] && b.labels[6] == 4);
  mw_err_clear(&err);
  mon__batch_free(&b);
  cJSON_Delete(rows);
  mon__schema_free(&s);
}

static mw_status ingest(struct fix *f, const char *json, int64_t *n, mw_err *err) {
  cJSON *body = parse(json);
  mw_status st = mon_ingest_predictions(f->m, f->c, &f->v, body, n, err);
  cJSON_Delete(body);
  return st;
}

static void test_ingest_and_labels(void **state) {
  struct fix *f = *state;
  int64_t n = 0;
  mw_err err = {{0}, NULL};
  assert_int_equal(ingest(f,
                          "{\"predictions\":[{\"id\":\"p1\",\"features\":"
                          "{\"age\":1,\"city\":\"a\"},\"prediction\":0.1},"
                          "{\"id\":\"p2\",\"features\":{\"age\":2,\"city\":"
                          "\"b\"},\"prediction\":0.2,\"label\":1}]}",
                          &n, &err),
                   MW_OK);
  assert_int_equal(n, 2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_blocks"), 1);
  /* ts, 3 columns, ids (a block of at most 256 rows has no summaries,
   * monitor/sketch_block.h). */
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_chunks"), 5);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels"), 1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_categories"), 2);
  /* A stored id and a type error: both listed, nothing stored. */
  assert_int_equal(ingest(f,
                          "{\"predictions\":[{\"id\":\"p3\",\"features\":"
                          "{\"age\":1,\"city\":\"c\"},\"prediction\":0.1},"
                          "{\"id\":\"p1\",\"features\":{\"age\":true,\"city\":"
                          "\"b\"},\"prediction\":0.2}]}",
                          &n, &err),
                   MW_EVALIDATION);
  assert_true(has_error(&err, 1, "id"));
  assert_true(has_error(&err, 1, "features.age"));
  mw_err_clear(&err);
  /* Only a stored id: caught inside the transaction, rolled back. */
  assert_int_equal(ingest(f,
                          "{\"predictions\":[{\"id\":\"p4\",\"features\":"
                          "{\"age\":1,\"city\":\"new\"},\"prediction\":0.1},"
                          "{\"id\":\"p2\",\"features\":{\"age\":3,\"city\":"
                          "\"b\"},\"prediction\":0.2}]}",
                          &n, &err),
                   MW_EVALIDATION);
  assert_true(has_error(&err, 1, "id"));
  assert_false(has_error(&err, 0, "id"));
  mw_err_clear(&err);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_blocks"), 1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_categories"), 2);
  /* Body shape. */
  assert_int_equal(ingest(f, "{\"predictions\":[]}", &n, &err), MW_EVALIDATION);
  mw_err_clear(&err);
  assert_int_equal(ingest(f, "{\"rows\":[]}", &n, &err), MW_EVALIDATION);
  mw_err_clear(&err);
  /* A version without schema is refused with a message saying so. */
  mon_version nos = {8, 1, "m", 2, NULL};
  cJSON *body = parse("{\"predictions\":[{\"features\":{},\"prediction\":1}]}");
  assert_int_equal(mon_ingest_predictions(f->m, f->c, &nos, body, &n, &err),
                   MW_EVALIDATION);
  assert_non_null(strstr(err.msg, "no schema"));
  mw_err_clear(&err);
  cJSON_Delete(body);

  /* Labels by id: unknown ids are listed, nothing is stored. */
  body = parse("{\"labels\":[{\"id\":\"p1\",\"label\":0.5},{\"id\":\"zz\","
               "\"label\":1},{\"id\":\"p2\",\"label\":\"x\"}]}");
  assert_int_equal(mon_ingest_labels(f->m, f->c, &f->v, body, &n, &err),
                   MW_EVALIDATION);
  assert_true(has_error(&err, 1, "id"));
  assert_true(has_error(&err, 2, "label"));
  mw_err_clear(&err);
  cJSON_Delete(body);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels"), 1);
  body = parse("{\"labels\":[{\"id\":\"p1\",\"label\":0.5},{\"id\":\"p2\","
               "\"label\":0.25}]}");
  assert_int_equal(mon_ingest_labels(f->m, f->c, &f->v, body, &n, &err), MW_OK);
  assert_int_equal(n, 2);
  cJSON_Delete(body);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels"), 2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels WHERE "
                                 "ext_id = 'p2' AND label = 0.25"),
                   1);
}

static void test_windows(void **state) {
  struct fix *f = *state;
  /* 20 rows a minute apart from 08:00 (bucket boundary every 5 minutes):
   * one batch becomes 4 blocks. */
  int64_t base = 1795766400000LL; /* 2026-11-27T08:00:00Z */
  mw_buf body;
  mw_buf_init(&body, 1 << 20);
  mw_buf_printf(&body, "{\"predictions\":[");
  for(int i = 0; i < 20; i++) {
    char ts[40];
    mw_time_format(base + i * 60000LL, ts, sizeof ts);
    mw_buf_printf(&body,
                  "%s{\"timestamp\":\"%s\",\"features\":{\"age\":%d,"
                  "\"city\":\"c%d\"},\"prediction\":%d}",
                  i ? "," : "", ts, i, i % 3, i * 10);
  }
  mw_buf_printf(&body, "]}");
  int64_t n;
  mw_err err = {{0}, NULL};
  assert_int_equal(ingest(f, body.data, &n, &err), MW_OK);
  mw_buf_free(&body);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_blocks"), 4);
  /* [08:03, 08:12) holds rows 3..11, cutting two blocks. */
  mon_window w;
  assert_int_equal(mon__read_begin(f->c), MW_OK);
  assert_int_equal(
      mon__window_open(f->c, 7, 3, base + 3 * 60000, base + 12 * 60000, &w), MW_OK);
  assert_int_equal(w.count, 9);
  assert_int_equal(w.nblocks, 3);
  double vals[32];
  mon_gather g;
  mon__gather_init(&g, vals, 32, 1, false, NULL);
  assert_int_equal(mon__window_visit(f->c, &w, 0, mon__gather_visit, &g), MW_OK);
  assert_int_equal(g.n, 9);
  for(int i = 0; i < 9; i++)
    assert_true(vals[i] == 3 + i);
  /* The prediction column, strided with exact aggregates. */
  mon__gather_init(&g, vals, 32, 2, true, NULL);
  assert_int_equal(mon__window_visit(f->c, &w, 2, mon__gather_visit, &g), MW_OK);
  assert_int_equal(g.n, 5);
  assert_true(vals[1] == 50);
  assert_int_equal(g.count, 9);
  assert_true(fabs(g.mean - 70) < 1e-12);
  assert_true(g.min == 30 && g.max == 110);
  mon__window_free(&w);
  /* An empty window and one outside every block. */
  assert_int_equal(mon__window_open(f->c, 7, 3, base, base, &w), MW_OK);
  assert_int_equal(w.count, 0);
  mon__window_free(&w);
  assert_int_equal(mon__window_open(f->c, 7, 3, base - 86400000, base - 1, &w),
                   MW_OK);
  assert_int_equal(w.count, 0);
  mon__window_free(&w);
  mon__read_end(f->c);
}

static void test_refcol_build(void **state) {
  (void)state;
  double v[8] = {5, NAN, 1, 3, INFINITY, 2, 4, 1};
  mon_refcol r;
  assert_int_equal(mon__refcol_build(MON_COLUMN_NUMERIC, v, 8, &r), MW_OK);
  assert_int_equal(r.count, 6);
  assert_int_equal(r.missing, 2);
  assert_int_equal(r.nsorted, 6);
  double want[6] = {1, 1, 2, 3, 4, 5};
  for(int i = 0; i < 6; i++)
    assert_true(r.sorted[i] == want[i]);
  assert_true(r.min == 1 && r.max == 5);
  assert_true(fabs(r.mean - 16.0 / 6) < 1e-12);
  assert_true(r.has_bins);
  free(r.sorted);
  double cats[6] = {0, 2, 2, NAN, 2, 0};
  assert_int_equal(mon__refcol_build(MON_COLUMN_CATEGORICAL, cats, 6, &r), MW_OK);
  assert_int_equal(r.ncat, 3);
  assert_true(r.cat_counts[0] == 2 && r.cat_counts[1] == 0 && r.cat_counts[2] == 3);
  assert_int_equal(r.missing, 1);
  free(r.cat_counts);
  /* A constant column has no PSI bins (it is compared by value counts). */
  double k[4] = {7, 7, 7, 7};
  assert_int_equal(mon__refcol_build(MON_COLUMN_NUMERIC, k, 4, &r), MW_OK);
  assert_false(r.has_bins);
  free(r.sorted);
}

/* Logs n rows: age ~ N(mu, 1) by a fixed pseudo-random sequence, cities by
 * weight, at times spread over the last 30 minutes. */
/* Logs n rows for version v over the last half hour: age ~ N(mu, 1), city
 * "a" or "b", prediction 2 mu + the same noise; ids "s<seed>-<i>" when
 * ids. The same seed gives the same values. */
static void log_rows_to(struct fix *f, const mon_version *v, int n, double mu,
                        int seed, bool ids) {
  mw_buf body;
  mw_buf_init(&body, 64 << 20);
  mw_buf_printf(&body, "{\"predictions\":[");
  unsigned s = (unsigned)seed;
  int64_t now = mw_now_ms();
  for(int i = 0; i < n; i++) {
    double u1, u2;
    s = s * 1103515245u + 12345u;
    u1 = ((s >> 8) + 1) / 16777218.0;
    s = s * 1103515245u + 12345u;
    u2 = (s >> 8) / 16777216.0;
    double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
    char ts[40];
    mw_time_format(now - 1800000 + (int64_t)i * 1800000 / n, ts, sizeof ts);
    char id[32] = "";
    if(ids)
      snprintf(id, sizeof id, "\"id\":\"s%d-%d\",", seed, i);
    mw_buf_printf(&body,
                  "%s{%s\"timestamp\":\"%s\",\"features\":{\"age\":%.17g,"
                  "\"city\":\"%s\"},\"prediction\":%.17g}",
                  i ? "," : "", id, ts, mu + z, (s >> 4) % 4 ? "a" : "b",
                  mu * 2 + z);
  }
  mw_buf_printf(&body, "]}");
  int64_t got;
  mw_err err = {{0}, NULL};
  cJSON *b = parse(body.data);
  assert_int_equal(mon_ingest_predictions(f->m, f->c, v, b, &got, &err), MW_OK);
  cJSON_Delete(b);
  assert_int_equal(got, n);
  mw_buf_free(&body);
}

static void log_rows(struct fix *f, int n, double mu, int seed, bool ids) {
  log_rows_to(f, &f->v, n, mu, seed, ids);
}

static const cJSON *column(const cJSON *rep, const char *name) {
  const cJSON *c;
  cJSON_ArrayForEach(
      c, cJSON_GetObjectItem(rep, "columns")) if(!strcmp(mw_json_str(c, "name"),
                                                         name)) return c;
  return NULL;
}

static void test_reference_and_drift(void **state) {
  struct fix *f = *state;
  mw_err err = {{0}, NULL};
  cJSON *out = NULL;
  int64_t now = mw_now_ms();
  /* No reference yet: a conflict with a clear message. */
  assert_int_equal(
      mon_drift_report(f->m, f->c, &f->v, now - 3600000, now, &out, &err),
      MW_ECONFLICT);
  assert_non_null(strstr(err.msg, "reference"));
  mw_err_clear(&err);
  log_rows(f, 400, 0.0, 1, true);
  /* The reference is the logged window; every column precomputed. */
  char from[40], to[40], buf[200];
  mw_time_format(now - 3600000, from, sizeof from);
  mw_time_format(now + 60000, to, sizeof to);
  snprintf(buf, sizeof buf, "{\"from\":\"%s\",\"to\":\"%s\"}", from, to);
  cJSON *body = parse(buf);
  assert_int_equal(mon_reference_put(f->m, f->c, &f->v, body, "test", &out, &err),
                   MW_OK);
  cJSON_Delete(body);
  assert_int_equal((int)cJSON_GetObjectItem(out, "count")->valuedouble, 400);
  cJSON_Delete(out);
  mon_ref ref;
  assert_int_equal(mon__store(f->c)->ref_load(f->c, 7, 3, true, &ref), MW_OK);
  assert_int_equal(ref.cols[0].nsorted, 400);
  for(size_t i = 1; i < ref.cols[0].nsorted; i++)
    assert_true(ref.cols[0].sorted[i - 1] <= ref.cols[0].sorted[i]);
  assert_true(ref.cols[0].has_bins);
  assert_int_equal(ref.cols[1].kind, MON_COLUMN_CATEGORICAL);
  assert_true(ref.cols[1].cat_counts[0] + ref.cols[1].cat_counts[1] == 400);
  mon__ref_free(&ref);

  /* The same window: nothing drifts. */
  assert_int_equal(
      mon_drift_report(f->m, f->c, &f->v, now - 3600000, now + 60000, &out, &err),
      MW_OK);
  const cJSON *age = column(out, "age");
  assert_string_equal(mw_json_str(age, "method"), "ks");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(age, "drifted")));
  assert_true(
      cJSON_GetObjectItem(cJSON_GetObjectItem(age, "ks"), "d")->valuedouble == 0);
  assert_false(cJSON_IsTrue(
      cJSON_GetObjectItem(cJSON_GetObjectItem(out, "dataset"), "drifted")));
  assert_non_null(cJSON_GetObjectItem(column(out, "city"), "chi2"));
  assert_null(cJSON_GetObjectItem(column(out, "city"), "ks"));
  assert_null(cJSON_GetObjectItem(age, "chi2"));
  cJSON_Delete(out);

  /* Shifted data in a later window drifts. */
  mon_version v = f->v;
  log_rows(f, 400, 1.0, 2, false);
  /* Only the new rows: they were logged after 'now'. */
  int64_t t1 = mw_now_ms() + 1;
  (void)t1;
  assert_int_equal(
      mon_drift_report(f->m, f->c, &v, now - 3600000, now + 60000, &out, &err),
      MW_OK);
  assert_int_equal(
      (int)cJSON_GetObjectItem(cJSON_GetObjectItem(out, "window"), "count")
          ->valuedouble,
      800);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(column(out, "age"), "drifted")));
  assert_true(
      cJSON_IsTrue(cJSON_GetObjectItem(column(out, "prediction"), "drifted")));
  cJSON_Delete(out);

  /* Settings: a bad document is refused with every problem; a good one
   * changes the method. */
  body = parse("{\"columns\":{\"age\":{\"method\":\"chi2\"},\"nope\":{},"
               "\"city\":{\"method\":\"psi\",\"threshold\":-1}},"
               "\"drift_share\":2,\"colour\":1}");
  assert_int_equal(mon_drift_config_put(f->m, f->c, &f->v, body, "t", &out, &err),
                   MW_EVALIDATION);
  assert_int_equal((int)cJSON_GetObjectItem(err.details, "error_count")->valuedouble,
                   5);
  mw_err_clear(&err);
  cJSON_Delete(body);
  body = parse("{\"columns\":{\"age\":{\"method\":\"psi\",\"threshold\":0.2}},"
               "\"drift_share\":0.9,\"interval_seconds\":60}");
  assert_int_equal(mon_drift_config_put(f->m, f->c, &f->v, body, "t", &out, &err),
                   MW_OK);
  cJSON_Delete(body);
  cJSON_Delete(out);
  assert_int_equal(mon_drift_config_get(f->m, f->c, &f->v, &out, &err), MW_OK);
  assert_true(cJSON_GetObjectItem(out, "drift_share")->valuedouble == 0.9);
  assert_int_equal((int)cJSON_GetObjectItem(out, "window_seconds")->valuedouble,
                   3600);
  cJSON_Delete(out);
  assert_int_equal(mon_drift_evaluate(f->m, f->c, &f->v, now - 3600000, now + 60000,
                                      "api", NULL, &out, &err),
                   MW_OK);
  age = column(out, "age");
  assert_string_equal(mw_json_str(age, "method"), "psi");
  assert_true(cJSON_GetObjectItem(age, "threshold")->valuedouble == 0.2);
  double psi = cJSON_GetObjectItem(age, "psi")->valuedouble;
  assert_true(cJSON_GetObjectItem(age, "statistic")->valuedouble == psi);
  assert_null(cJSON_GetObjectItem(age, "p_value"));
  cJSON_Delete(out);

  /* The stored evaluation is a point of the series and of /metrics. */
  double val;
  int64_t at;
  assert_int_equal(mon_metric_latest(f->c, 7, "age", "psi", &val, &at), MW_OK);
  assert_true(val == psi);
  assert_int_equal(mon_metric_latest(f->c, 7, "age", "ks_p_value", &val, &at),
                   MW_OK);
  assert_int_equal(mon_metric_latest(f->c, 7, "", "prediction_count", &val, &at),
                   MW_OK);
  assert_true(val == 800);
  assert_int_equal(mon_metric_latest(f->c, 7, "age", "nonsense", &val, &at),
                   MW_ENOTFOUND);
  assert_int_equal(mon_drift_history(f->c, &f->v, "age", "score", now - 60000,
                                     now + 3600000, 100, &out, &err),
                   MW_OK);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "points")), 1);
  cJSON_Delete(out);
  mw_buf m;
  mw_buf_init(&m, 1 << 20);
  assert_int_equal(mon_metrics_render(f->m, f->c, &m), MW_OK);
  assert_non_null(strstr(m.data, "modelwatch_drift_score{model=\"m\",version=\"1\","
                                 "column=\"age\",method=\"psi\"}"));
  assert_non_null(strstr(m.data, "modelwatch_dataset_drift_share{model=\"m\","
                                 "version=\"1\"}"));
  assert_non_null(strstr(m.data, "modelwatch_predictions_ingested_total 800"));
  mw_buf_free(&m);
}

static void test_degenerate_columns(void **state) {
  struct fix *f = *state;
  /* Reference rows: age all missing, city constant. */
  mw_buf body;
  mw_buf_init(&body, 1 << 20);
  mw_buf_printf(&body, "{\"rows\":[");
  for(int i = 0; i < 30; i++)
    mw_buf_printf(&body,
                  "%s{\"features\":{\"age\":null,\"city\":\"k\"},"
                  "\"prediction\":5}",
                  i ? "," : "");
  mw_buf_printf(&body, "]}");
  cJSON *b = parse(body.data);
  mw_buf_free(&body);
  mw_err err = {{0}, NULL};
  cJSON *out = NULL;
  assert_int_equal(mon_reference_put(f->m, f->c, &f->v, b, "t", &out, &err), MW_OK);
  cJSON_Delete(b);
  cJSON_Delete(out);
  int64_t now = mw_now_ms();
  /* Empty window: 200-style report, columns marked no_data. */
  assert_int_equal(
      mon_drift_report(f->m, f->c, &f->v, now - 3600000, now, &out, &err), MW_OK);
  assert_int_equal(
      (int)cJSON_GetObjectItem(cJSON_GetObjectItem(out, "window"), "count")
          ->valuedouble,
      0);
  assert_string_equal(mw_json_str(column(out, "age"), "status"), "no_data");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(column(out, "age"), "drifted")));
  cJSON_Delete(out);
  /* One row, constant columns. */
  int64_t n;
  assert_int_equal(ingest(f,
                          "{\"predictions\":[{\"features\":{\"age\":1,\"city\":"
                          "\"k\"},\"prediction\":5}]}",
                          &n, &err),
                   MW_OK);
  assert_int_equal(
      mon_drift_report(f->m, f->c, &f->v, now - 3600000, now + 60000, &out, &err),
      MW_OK);
  assert_string_equal(mw_json_str(column(out, "age"), "status"),
                      "insufficient_data");
  char *text = cJSON_PrintUnformatted(out);
  assert_null(strstr(text, "nan"));
  assert_null(strstr(text, "inf"));
  assert_null(strstr(text, "null"));
  cJSON_free(text);
  cJSON_Delete(out);
}

static void test_retention(void **state) {
  struct fix *f = *state;
  int64_t base = 1795766400000LL; /* fixed times far in the past of 'now' */
  mw_buf body;
  mw_buf_init(&body, 1 << 20);
  mw_buf_printf(&body, "{\"predictions\":[");
  for(int i = 0; i < 10; i++) {
    char ts[40];
    mw_time_format(base - 40LL * 86400000 + i * 600000LL, ts, sizeof ts);
    mw_buf_printf(&body,
                  "%s{\"id\":\"old%d\",\"timestamp\":\"%s\",\"features\":"
                  "{\"age\":%d,\"city\":\"c\"},\"prediction\":1,\"label\":2}",
                  i ? "," : "", i, ts, i);
  }
  mw_buf_printf(&body, "]}");
  int64_t n;
  mw_err err = {{0}, NULL};
  assert_int_equal(ingest(f, body.data, &n, &err), MW_OK);
  mw_buf_free(&body);
  log_rows(f, 5, 0, 3, true);
  int64_t blocks = count_rows(f, "SELECT count(*) FROM pred_blocks");
  assert_true(blocks > 2);
  int64_t deleted = 0, total = 0;
  do {
    assert_int_equal(
        mon_retention_step(f->m, f->c, base - 30LL * 86400000, 2, &deleted), MW_OK);
    total += deleted;
  } while(deleted > 0);
  assert_true(total >= 2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids WHERE ext_id "
                                 "LIKE 'old%'"),
                   0);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 5);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels"), 0);
  /* No chunk outlived its block (SQLite keys them by rowid, PostgreSQL by a
   * foreign key). */
  assert_int_equal(count_rows(f, mw_conn_kind(f->c) == MW_DB_SQLITE
                                     ? "SELECT count(*) FROM pred_chunks WHERE "
                                       "id / 4096 NOT IN (SELECT id FROM "
                                       "pred_blocks)"
                                     : "SELECT count(*) FROM pred_chunks WHERE "
                                       "block_id NOT IN (SELECT id FROM "
                                       "pred_blocks)"),
                   0);
  /* The same id may now be logged again. */
  assert_int_equal(ingest(f,
                          "{\"predictions\":[{\"id\":\"old1\",\"features\":"
                          "{\"age\":1,\"city\":\"k\"},\"prediction\":5}]}",
                          &n, &err),
                   MW_OK);
}

/* ?on_invalid=quarantine: the valid rows stored (and only their
 * categories and ids), the invalid ones kept with their errors and
 * columns, counted in the report's quality, aged out by retention. */
static void test_quarantine(void **state) {
  struct fix *f = *state;
  int64_t n = 0, nq = 0;
  mw_err err = {{0}, NULL};
  assert_int_equal(ingest(f, "{\"predictions\":[{\"id\":\"p0\",\"features\":"
                             "{\"age\":1,\"city\":\"a\"},\"prediction\":0.1}]}",
                          &n, &err),
                   MW_OK);
  cJSON *body = parse(
      "{\"predictions\":["
      "{\"id\":\"p1\",\"features\":{\"age\":2,\"city\":\"b\"},\"prediction\":1},"
      "{\"id\":\"p2\",\"features\":{\"age\":\"x\",\"city\":\"new\"},"
      "\"prediction\":2},"
      "{\"id\":\"p0\",\"features\":{\"age\":3,\"city\":\"a\"},\"prediction\":3},"
      "{\"features\":{\"age\":4,\"city\":\"c\"},\"prediction\":4,\"label\":5},"
      "{\"features\":{\"age\":5},\"prediction\":true}]}");
  assert_int_equal(mon_ingest_predictions_ex(f->m, f->c, &f->v, body,
                                             MON_INVALID_QUARANTINE, &n, &nq, &err),
                   MW_OK);
  assert_int_equal(n, 2);
  assert_int_equal(nq, 3);
  cJSON_Delete(body);
  /* Only the valid rows' ids and categories ("new" was in a bad row). */
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_categories WHERE "
                                 "value = 'new'"),
                   0);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels"), 1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_quarantine"), 3);
  /* Columns invalid per row: age (col 0); none (a stored id); city (1)
   * and prediction (2). */
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_quarantine WHERE "
                                 "cols = ',0,' AND idx = 1"),
                   1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_quarantine WHERE "
                                 "cols = ',' AND idx = 2"),
                   1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_quarantine WHERE "
                                 "cols = ',1,2,' AND idx = 4 AND error_count = 2"),
                   1);
  cJSON *out = NULL;
  assert_int_equal(mon_quarantine_list(f->c, &f->v, 0, INT64_MAX / 2, 2, 0, &out,
                                       &err),
                   MW_OK);
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(out, "rows");
  assert_int_equal(cJSON_GetArraySize(rows), 2);
  assert_true(cJSON_GetObjectItemCaseSensitive(out, "count")->valuedouble == 3);
  const char *tok = mw_json_str(out, "next_page_token");
  assert_non_null(tok);
  const cJSON *r0 = cJSON_GetArrayItem(rows, 0);
  assert_string_equal(mw_json_str(cJSON_GetObjectItemCaseSensitive(r0, "row"), "id"),
                      "p2");
  int64_t after = 0;
  assert_int_equal(mw_parse_i64(tok, &after), MW_OK);
  cJSON_Delete(out);
  assert_int_equal(mon_quarantine_list(f->c, &f->v, 0, INT64_MAX / 2, 2, after,
                                       &out, &err),
                   MW_OK);
  rows = cJSON_GetObjectItemCaseSensitive(out, "rows");
  assert_int_equal(cJSON_GetArraySize(rows), 1);
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(out, "next_page_token")));
  cJSON_Delete(out);
  /* The rejecting default is unchanged: nothing more is stored. */
  body = parse("{\"predictions\":[{\"features\":{\"age\":\"y\",\"city\":\"a\"},"
               "\"prediction\":1},{\"features\":{\"age\":1,\"city\":\"a\"},"
               "\"prediction\":1}]}");
  assert_int_equal(mon_ingest_predictions_ex(f->m, f->c, &f->v, body,
                                             MON_INVALID_REJECT, &n, &nq, &err),
                   MW_EVALIDATION);
  mw_err_clear(&err);
  cJSON_Delete(body);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_quarantine"), 3);
  /* Retention takes quarantined rows by their time. */
  int64_t deleted = 0;
  assert_int_equal(mon_retention_step(f->m, f->c, mw_now_ms() + 60000, 8, &deleted),
                   MW_OK);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_quarantine"), 0);
}

/* ---------------------------------------------- comparing two versions */

/* Adds version row id (number version of model 1) with schema. */
static void add_version(struct fix *f, int64_t id, int64_t version,
                        const char *schema) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "INSERT INTO model_versions(id, model_id, version, schema, created_at, "
           "created_by) VALUES(%lld, 1, %lld, '%s', 0, 'test')",
           (long long)id, (long long)version, schema);
  assert_int_equal(exec_sql(f, sql), MW_OK);
}

static mw_status ingest_to(struct fix *f, const mon_version *v, const char *json,
                           int64_t *n, mw_err *err) {
  cJSON *body = parse(json);
  mw_status st = mon_ingest_predictions(f->m, f->c, v, body, n, err);
  cJSON_Delete(body);
  return st;
}

static mw_status labels_to(struct fix *f, const mon_version *v, const char *json,
                           mw_err *err) {
  cJSON *body = parse(json);
  int64_t n = 0;
  mw_status st = mon_ingest_labels(f->m, f->c, v, body, &n, err);
  cJSON_Delete(body);
  return st;
}

/* The message of error {index, field} in err->details.errors, or NULL. */
static const char *error_message(const mw_err *err, long index, const char *field) {
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(err->details, "errors")) {
    const cJSON *i = cJSON_GetObjectItem(e, "index");
    const char *fl = mw_json_str(e, "field");
    if(i && (long)i->valuedouble == index && fl && !strcmp(fl, field))
      return mw_json_str(e, "message");
  }
  return NULL;
}

/* Ids are unique per version (migration 0015): a shadow candidate logs the
 * baseline's ids; each version labels its own; retention deletes a
 * version's ids and leaves the other's. */
static void test_ids_per_version(void **state) {
  struct fix *f = *state;
  add_version(f, 9, 3, SCHEMA);
  mon_version v3 = {9, 1, "m", 3, SCHEMA};
  int64_t n = 0;
  mw_err err = {{0}, NULL};
  const char *two = "{\"predictions\":[{\"id\":\"p1\",\"features\":{\"age\":1,"
                    "\"city\":\"a\"},\"prediction\":0.1},{\"id\":\"p2\","
                    "\"features\":{\"age\":2,\"city\":\"b\"},\"prediction\":0.2}]}";
  assert_int_equal(ingest_to(f, &f->v, two, &n, &err), MW_OK);
  assert_int_equal(ingest_to(f, &v3, two, &n, &err), MW_OK);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 4);
  /* Within one version an id is still unique: inside the transaction... */
  assert_int_equal(ingest_to(f, &v3,
                             "{\"predictions\":[{\"id\":\"p3\",\"features\":{"
                             "\"age\":1,\"city\":\"a\"},\"prediction\":1},{\"id\":"
                             "\"p2\",\"features\":{\"age\":1,\"city\":\"a\"},"
                             "\"prediction\":1}]}",
                             &n, &err),
                   MW_EVALIDATION);
  assert_true(has_error(&err, 1, "id"));
  assert_false(has_error(&err, 0, "id"));
  assert_non_null(strstr(error_message(&err, 1, "id"), "this version"));
  mw_err_clear(&err);
  /* ...and next to type errors. */
  assert_int_equal(ingest_to(f, &v3,
                             "{\"predictions\":[{\"id\":\"p1\",\"features\":{"
                             "\"age\":true,\"city\":\"a\"},\"prediction\":1}]}",
                             &n, &err),
                   MW_EVALIDATION);
  assert_true(has_error(&err, 0, "id"));
  assert_true(has_error(&err, 0, "features.age"));
  mw_err_clear(&err);
  /* An id only another version logged is no conflict there either. */
  assert_int_equal(ingest_to(f, &f->v,
                             "{\"predictions\":[{\"id\":\"p9\",\"features\":{"
                             "\"age\":true,\"city\":\"a\"},\"prediction\":1}]}",
                             &n, &err),
                   MW_EVALIDATION);
  assert_false(has_error(&err, 0, "id"));
  mw_err_clear(&err);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 4);

  /* Labels per version: the same id labelled under both. */
  assert_int_equal(
      labels_to(f, &f->v, "{\"labels\":[{\"id\":\"p1\",\"label\":1}]}", &err),
      MW_OK);
  assert_int_equal(
      labels_to(f, &v3, "{\"labels\":[{\"id\":\"p1\",\"label\":2}]}", &err), MW_OK);
  assert_int_equal(
      labels_to(f, &v3, "{\"labels\":[{\"id\":\"p1\",\"label\":3}]}", &err), MW_OK);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels WHERE ext_id = 'p1'"),
                   2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels WHERE ext_id = 'p1' "
                                 "AND version_id = 7 AND label = 1"),
                   1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM labels WHERE ext_id = 'p1' "
                                 "AND version_id = 9 AND label = 3"),
                   1);
  /* A label for an id only version 1 logged names version 1. */
  assert_int_equal(ingest_to(f, &f->v,
                             "{\"predictions\":[{\"id\":\"p7\",\"features\":{"
                             "\"age\":1,\"city\":\"a\"},\"prediction\":1}]}",
                             &n, &err),
                   MW_OK);
  assert_int_equal(
      labels_to(f, &v3, "{\"labels\":[{\"id\":\"p7\",\"label\":2}]}", &err),
      MW_EVALIDATION);
  assert_non_null(strstr(error_message(&err, 0, "id"), "logged by version 1"));
  mw_err_clear(&err);

  /* Retention: version 1's old rows go with their ids; version 3's rows of
   * the same ids, logged now, stay. */
  int64_t old = mw_now_ms() - 40LL * 86400000;
  char ts[40], body[512];
  mw_time_format(old, ts, sizeof ts);
  snprintf(body, sizeof body,
           "{\"predictions\":[{\"id\":\"r1\",\"timestamp\":\"%s\",\"features\":{"
           "\"age\":1,\"city\":\"a\"},\"prediction\":1}]}",
           ts);
  assert_int_equal(ingest_to(f, &f->v, body, &n, &err), MW_OK);
  assert_int_equal(ingest_to(f, &v3,
                             "{\"predictions\":[{\"id\":\"r1\",\"features\":{"
                             "\"age\":1,\"city\":\"a\"},\"prediction\":1}]}",
                             &n, &err),
                   MW_OK);
  int64_t deleted = 0;
  do
    assert_int_equal(mon_retention_step(f->m, f->c, old + 86400000, 8, &deleted),
                     MW_OK);
  while(deleted > 0);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids WHERE ext_id = 'r1' "
                                 "AND version_id = 7"),
                   0);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids WHERE ext_id = 'r1' "
                                 "AND version_id = 9"),
                   1);
  /* Version 1 may log r1 again. */
  assert_int_equal(ingest_to(f, &f->v,
                             "{\"predictions\":[{\"id\":\"r1\",\"features\":{"
                             "\"age\":1,\"city\":\"a\"},\"prediction\":1}]}",
                             &n, &err),
                   MW_OK);
}

static const cJSON *jget(const cJSON *o, const char *a, const char *b) {
  const cJSON *x = cJSON_GetObjectItem(o, a);
  return b ? cJSON_GetObjectItem(x, b) : x;
}

/* mon_drift_compare: the report's code against another version's window;
 * identical data against a stored reference of the same data gives the
 * same columns, dictionaries in another order included. */
static void test_drift_compare(void **state) {
  struct fix *f = *state;
  add_version(f, 9, 3, SCHEMA);
  mon_version v3 = {9, 1, "m", 3, SCHEMA};
  static const char *OTHER =
      "{\"features\":[{\"name\":\"age\",\"type\":\"numeric\"},"
      "{\"name\":\"city\",\"type\":\"numeric\"},{\"name\":\"x\",\"type\":"
      "\"numeric\"}],\"prediction\":{\"type\":\"numeric\"}}";
  add_version(f, 10, 4, OTHER);
  mon_version v4 = {10, 1, "m", 4, OTHER};
  int64_t now = mw_now_ms(), n = 0;
  mw_err err = {{0}, NULL};
  cJSON *out = NULL, *rep = NULL;
  /* Version 3 sees "b" first (2 hours ago, outside the window): its codes
   * of a and b are the other way round from version 1's. */
  char ts[40], body[512];
  mw_time_format(now - 7200000, ts, sizeof ts);
  snprintf(body, sizeof body,
           "{\"predictions\":[{\"timestamp\":\"%s\",\"features\":{\"age\":1,"
           "\"city\":\"b\"},\"prediction\":1}]}",
           ts);
  assert_int_equal(ingest_to(f, &v3, body, &n, &err), MW_OK);
  log_rows_to(f, &f->v, 400, 0.0, 1, true);
  log_rows_to(f, &v3, 400, 0.0, 1, true);
  int64_t from = now - 3600000, to = mw_now_ms() + 60000;

  assert_int_equal(mon_drift_compare(f->m, f->c, &f->v, &v3, from, to, &out, &err),
                   MW_OK);
  assert_int_equal((int)jget(out, "version", NULL)->valuedouble, 3);
  assert_int_equal((int)jget(out, "baseline", "version")->valuedouble, 1);
  assert_int_equal((int)jget(out, "baseline", "count")->valuedouble, 400);
  assert_null(jget(out, "baseline", "sampled"));
  assert_null(jget(out, "reference", NULL));
  assert_int_equal((int)jget(out, "window", "count")->valuedouble, 400);
  assert_true(jget(out, "dataset", "drift_share")->valuedouble == 0);
  assert_int_equal((int)jget(out, "dataset", "evaluated_columns")->valuedouble, 3);
  assert_true(
      cJSON_GetObjectItem(jget(column(out, "age"), "ks", NULL), "d")->valuedouble ==
      0);
  assert_string_equal(mw_json_str(column(out, "city"), "status"), "ok");
  assert_true(jget(column(out, "city"), "chi2", "statistic")->valuedouble == 0);

  /* The ordinary report of version 3 against its own window, as a stored
   * reference, holds the same data: the same columns, to the bit. */
  char fr[40], tr[40];
  mw_time_format(from, fr, sizeof fr);
  mw_time_format(to, tr, sizeof tr);
  snprintf(body, sizeof body, "{\"from\":\"%s\",\"to\":\"%s\"}", fr, tr);
  cJSON *rb = parse(body);
  cJSON *refout = NULL;
  assert_int_equal(mon_reference_put(f->m, f->c, &v3, rb, "test", &refout, &err),
                   MW_OK);
  cJSON_Delete(rb);
  cJSON_Delete(refout);
  assert_int_equal(mon_drift_report(f->m, f->c, &v3, from, to, &rep, &err), MW_OK);
  const cJSON *rc, *cc;
  cJSON_ArrayForEach(rc, cJSON_GetObjectItem(rep, "columns")) {
    cc = column(out, mw_json_str(rc, "name"));
    assert_non_null(cc);
    char *a = cJSON_PrintUnformatted(rc), *b = cJSON_PrintUnformatted(cc);
    if(strcmp(a, b))
      print_error("report %s\ncompare %s\n", a, b);
    assert_string_equal(a, b);
    free(a);
    free(b);
  }
  cJSON_Delete(rep);
  cJSON_Delete(out);

  /* Shifted rows in the candidate's window drift. */
  log_rows_to(f, &v3, 400, 1.0, 2, false);
  to = mw_now_ms() + 60000;
  assert_int_equal(mon_drift_compare(f->m, f->c, &f->v, &v3, from, to, &out, &err),
                   MW_OK);
  assert_true(cJSON_IsTrue(jget(column(out, "age"), "drifted", NULL)));
  assert_true(jget(out, "dataset", "drift_share")->valuedouble > 0);
  cJSON_Delete(out);

  /* Columns matched by name and kind: version 4's city is numeric and x
   * is its own. */
  assert_int_equal(ingest_to(f, &v4,
                             "{\"predictions\":[{\"features\":{\"age\":1,\"city\":"
                             "2,\"x\":3},\"prediction\":1},{\"features\":{\"age\":"
                             "2,\"city\":3,\"x\":4},\"prediction\":2}]}",
                             &n, &err),
                   MW_OK);
  to = mw_now_ms() + 60000;
  assert_int_equal(mon_drift_compare(f->m, f->c, &f->v, &v4, from, to, &out, &err),
                   MW_OK);
  const cJSON *city = column(out, "city"), *x = column(out, "x");
  assert_string_equal(mw_json_str(city, "status"), "insufficient_data");
  assert_non_null(strstr(mw_json_str(city, "reason"), "categorical in version 1"));
  assert_string_equal(mw_json_str(x, "status"), "insufficient_data");
  assert_non_null(strstr(mw_json_str(x, "reason"), "no column"));
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(x, "drifted")));
  assert_string_equal(mw_json_str(column(out, "age"), "status"), "ok");
  assert_int_equal((int)jget(out, "dataset", "evaluated_columns")->valuedouble, 2);
  cJSON_Delete(out);

  /* An empty baseline window: no_data columns, no error. */
  assert_int_equal(mon_drift_compare(f->m, f->c, &f->v, &v3, now - 3 * 3600000LL,
                                     now - 5400000, &out, &err),
                   MW_OK);
  assert_int_equal((int)jget(out, "window", "count")->valuedouble, 1);
  assert_int_equal((int)jget(out, "baseline", "count")->valuedouble, 0);
  assert_string_equal(mw_json_str(column(out, "age"), "status"), "no_data");
  assert_string_equal(mw_json_str(column(out, "city"), "status"), "no_data");
  assert_true(jget(out, "dataset", "drift_share")->valuedouble == 0);
  cJSON_Delete(out);
  /* A baseline without a schema is refused as a version without one is. */
  mon_version nos = {8, 1, "m", 2, NULL};
  assert_int_equal(mon_drift_compare(f->m, f->c, &nos, &v3, from, to, &out, &err),
                   MW_EVALIDATION);
  assert_null(out);
  mw_err_clear(&err);
}

/* A small budget samples the baseline's numeric columns and says so. */
static void test_drift_compare_sampled(void **state) {
  struct fix *f = *state;
  add_version(f, 9, 3, SCHEMA);
  mon_version v3 = {9, 1, "m", 3, SCHEMA};
  mon_ctx *small = NULL;
  /* 1 MB: 131072 doubles, a quarter of them for 2 numeric columns is
   * 16384 rows each. */
  mon_options o = {0, 3600, 30, 1, 2, -1, NULL};
  assert_int_equal(mon_ctx_new(f->db, &o, &small), MW_OK);
  log_rows_to(f, &f->v, 20000, 0.0, 1, false);
  log_rows_to(f, &v3, 300, 0.0, 2, false);
  int64_t now = mw_now_ms();
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  assert_int_equal(mon_drift_compare(small, f->c, &f->v, &v3, now - 3600000,
                                     now + 60000, &out, &err),
                   MW_OK);
  assert_int_equal((int)jget(out, "baseline", "count")->valuedouble, 20000);
  assert_int_equal((int)jget(out, "baseline", "sampled")->valuedouble, 10000);
  assert_string_equal(mw_json_str(column(out, "age"), "status"), "ok");
  cJSON_Delete(out);
  mon_ctx_free(small);
}

/* mon_shadow_compare: pairs by id, missing predictions left out, codes
 * mapped by value. */
static void test_shadow_compare(void **state) {
  struct fix *f = *state;
  add_version(f, 9, 3, SCHEMA);
  mon_version v3 = {9, 1, "m", 3, SCHEMA};
  int64_t n = 0, now = mw_now_ms();
  mw_err err = {{0}, NULL};
  cJSON *out = NULL;
  /* Baseline b_i = i, candidate 2 i + 1: monotone, rank correlation 1; q4
   * is missing in the baseline, q5 only the candidate logged. */
  assert_int_equal(
      ingest_to(
          f, &f->v,
          "{\"predictions\":[{\"id\":\"q0\",\"features\":{\"age\":1,\"city\":"
          "\"a\"},\"prediction\":0},{\"id\":\"q1\",\"features\":{\"age\":1,"
          "\"city\":\"a\"},\"prediction\":1},{\"id\":\"q2\",\"features\":{"
          "\"age\":1,\"city\":\"a\"},\"prediction\":2},{\"id\":\"q3\","
          "\"features\":{\"age\":1,\"city\":\"a\"},\"prediction\":3},{\"id\":"
          "\"q4\",\"features\":{\"age\":1,\"city\":\"a\"},\"prediction\":null}]}",
          &n, &err),
      MW_OK);
  assert_int_equal(
      ingest_to(f, &v3,
                "{\"predictions\":[{\"id\":\"q0\",\"features\":{\"age\":1,\"city\":"
                "\"a\"},\"prediction\":1},{\"id\":\"q1\",\"features\":{\"age\":1,"
                "\"city\":\"a\"},\"prediction\":3},{\"id\":\"q2\",\"features\":{"
                "\"age\":1,\"city\":\"a\"},\"prediction\":5},{\"id\":\"q3\","
                "\"features\":{\"age\":1,\"city\":\"a\"},\"prediction\":7},{\"id\":"
                "\"q4\",\"features\":{\"age\":1,\"city\":\"a\"},\"prediction\":9},"
                "{\"id\":\"q5\",\"features\":{\"age\":1,\"city\":\"a\"},"
                "\"prediction\":11}]}",
                &n, &err),
      MW_OK);
  int64_t from = now - 60000, to = mw_now_ms() + 60000;
  assert_int_equal(mon_shadow_compare(f->c, &f->v, &v3, from, to, &out, &err),
                   MW_OK);
  assert_string_equal(mw_json_str(out, "kind"), "numeric");
  assert_int_equal((int)jget(out, "pairs", NULL)->valuedouble, 4);
  assert_int_equal((int)jget(out, "missing", NULL)->valuedouble, 1);
  /* |1-0| + |3-1| + |5-2| + |7-3| = 10 over 4 pairs. */
  assert_true(jget(out, "mean_abs_diff", NULL)->valuedouble == 2.5);
  assert_true(jget(out, "rank_correlation", NULL)->valuedouble == 1.0);
  assert_null(jget(out, "agreement", NULL));
  assert_null(jget(out, "sampled", NULL));
  assert_int_equal((int)jget(out, "baseline", "version")->valuedouble, 1);
  cJSON_Delete(out);
  /* The other way round: the baseline's ids the candidate logged. */
  assert_int_equal(mon_shadow_compare(f->c, &v3, &f->v, from, to, &out, &err),
                   MW_OK);
  assert_int_equal((int)jget(out, "pairs", NULL)->valuedouble, 4);
  cJSON_Delete(out);
  /* No pairs in an empty window: nulls. */
  assert_int_equal(
      mon_shadow_compare(f->c, &f->v, &v3, now - 7200000, now - 3600000, &out, &err),
      MW_OK);
  assert_int_equal((int)jget(out, "pairs", NULL)->valuedouble, 0);
  assert_true(cJSON_IsNull(jget(out, "mean_abs_diff", NULL)));
  assert_true(cJSON_IsNull(jget(out, "rank_correlation", NULL)));
  cJSON_Delete(out);

  /* Categorical predictions, dictionaries in another order. */
  static const char *CAT = "{\"features\":[{\"name\":\"x\",\"type\":\"numeric\"}],"
                           "\"prediction\":{\"type\":\"categorical\"}}";
  add_version(f, 11, 5, CAT);
  add_version(f, 12, 6, CAT);
  mon_version c5 = {11, 1, "m", 5, CAT}, c6 = {12, 1, "m", 6, CAT};
  assert_int_equal(
      ingest_to(f, &c5,
                "{\"predictions\":[{\"id\":\"k0\",\"features\":{\"x\":"
                "1},\"prediction\":\"yes\"},{\"id\":\"k1\",\"features\":"
                "{\"x\":1},\"prediction\":\"no\"},{\"id\":\"k2\","
                "\"features\":{\"x\":1},\"prediction\":\"no\"},{\"id\":"
                "\"k3\",\"features\":{\"x\":1},\"prediction\":\"maybe\"}"
                "]}",
                &n, &err),
      MW_OK);
  assert_int_equal(
      ingest_to(f, &c6,
                "{\"predictions\":[{\"id\":\"k0\",\"features\":{\"x\":"
                "1},\"prediction\":\"no\"},{\"id\":\"k1\",\"features\":"
                "{\"x\":1},\"prediction\":\"no\"},{\"id\":\"k2\","
                "\"features\":{\"x\":1},\"prediction\":\"yes\"},{\"id\":"
                "\"k3\",\"features\":{\"x\":1},\"prediction\":\"other\"}"
                "]}",
                &n, &err),
      MW_OK);
  to = mw_now_ms() + 60000;
  assert_int_equal(mon_shadow_compare(f->c, &c5, &c6, from, to, &out, &err), MW_OK);
  assert_string_equal(mw_json_str(out, "kind"), "categorical");
  assert_int_equal((int)jget(out, "pairs", NULL)->valuedouble, 4);
  /* Only k1 agrees ("no"): codes differ (yes=0 in 5, no=0 in 6). */
  assert_true(jget(out, "agreement", NULL)->valuedouble == 0.25);
  assert_null(jget(out, "mean_abs_diff", NULL));
  cJSON_Delete(out);
  /* Kinds that differ cannot be paired. */
  assert_int_equal(mon_shadow_compare(f->c, &c5, &v3, from, to, &out, &err),
                   MW_ECONFLICT);
  assert_null(out);
  assert_non_null(strstr(err.msg, "cannot be paired"));
  mw_err_clear(&err);
}

/* More pairs than PostgreSQL's store reads a statement (50,000), all at
 * one time: its pages continue by id after equal timestamps. */
static void test_shadow_compare_pages(void **state) {
  struct fix *f = *state;
  add_version(f, 9, 3, SCHEMA);
  mon_version v3 = {9, 1, "m", 3, SCHEMA};
  enum { N = 60000 };
  int64_t now = mw_now_ms();
  char ts[40];
  mw_time_format(now - 1000, ts, sizeof ts);
  for(int side = 0; side < 2; side++) {
    mw_buf body;
    mw_buf_init(&body, 64 << 20);
    mw_buf_printf(&body, "{\"predictions\":[");
    for(int i = 0; i < N; i++)
      mw_buf_printf(&body,
                    "%s{\"id\":\"t%d\",\"timestamp\":\"%s\",\"features\":"
                    "{\"age\":1,\"city\":\"a\"},\"prediction\":%d}",
                    i ? "," : "", i, ts, side ? 2 * i : i);
    mw_buf_printf(&body, "]}");
    int64_t n = 0;
    mw_err err = {{0}, NULL};
    assert_int_equal(ingest_to(f, side ? &v3 : &f->v, body.data, &n, &err), MW_OK);
    mw_buf_free(&body);
  }
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  assert_int_equal(
      mon_shadow_compare(f->c, &f->v, &v3, now - 60000, now + 60000, &out, &err),
      MW_OK);
  assert_int_equal((int)jget(out, "pairs", NULL)->valuedouble, N);
  /* mean of |2i - i| over i < N */
  assert_true(jget(out, "mean_abs_diff", NULL)->valuedouble == (N - 1) / 2.0);
  assert_true(jget(out, "rank_correlation", NULL)->valuedouble == 1.0);
  cJSON_Delete(out);
}

struct worker_arg {
  struct fix *f;
  int k;
  int ok, rejected;
};

static void *ingest_worker(void *p) {
  struct worker_arg *a = p;
  mw_conn *c = mw_db_conn(a->f->db); /* each thread its own connection */
  for(int j = 0; j < 10; j++) {
    mw_buf body;
    mw_buf_init(&body, 1 << 20);
    mw_buf_printf(&body, "{\"predictions\":[");
    for(int i = 0; i < 50; i++)
      /* Thread 0's batch 5 repeats the ids of its batch 0. */
      mw_buf_printf(&body,
                    "%s{\"id\":\"t%d-b%d-r%d\",\"features\":{\"age\":%d,"
                    "\"city\":\"c%d\"},\"prediction\":1}",
                    i ? "," : "", a->k, a->k == 0 && j == 5 ? 0 : j, i, i,
                    (i + j) % 7);
    mw_buf_printf(&body, "]}");
    cJSON *b = cJSON_Parse(body.data);
    mw_buf_free(&body);
    int64_t n = 0;
    mw_err err = {{0}, NULL};
    mw_status st = mon_ingest_predictions(a->f->m, c, &a->f->v, b, &n, &err);
    if(st == MW_OK && n == 50)
      a->ok++;
    else if(st == MW_EVALIDATION)
      a->rejected++;
    mw_err_clear(&err);
    cJSON_Delete(b);
  }
  return NULL;
}

/* Concurrent writers share transactions (group commit): a batch that fails
 * is refused alone, every other batch is stored once. */
static void test_concurrent_ingest(void **state) {
  struct fix *f = *state;
  pthread_t th[4];
  struct worker_arg args[4];
  for(int k = 0; k < 4; k++) {
    args[k] = (struct worker_arg){f, k, 0, 0};
    pthread_create(&th[k], NULL, ingest_worker, &args[k]);
  }
  int ok = 0, rejected = 0;
  for(int k = 0; k < 4; k++) {
    pthread_join(th[k], NULL);
    ok += args[k].ok;
    rejected += args[k].rejected;
  }
  assert_int_equal(ok, 39);
  assert_int_equal(rejected, 1);
  assert_int_equal(args[0].rejected, 1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 39 * 50);
  assert_int_equal(count_rows(f, "SELECT sum(n) FROM pred_blocks"), 39 * 50);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_categories"), 7);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_chunks"),
                   count_rows(f, "SELECT count(*) * 5 FROM pred_blocks"));
}

struct one_arg {
  struct fix *f;
  const char *json;
  mw_status st;
};

static void *ingest_one(void *p) {
  struct one_arg *a = p;
  cJSON *b = cJSON_Parse(a->json);
  int64_t n;
  mw_err err = {{0}, NULL};
  a->st =
      mon_ingest_predictions(a->f->m, mw_db_conn(a->f->db), &a->f->v, b, &n, &err);
  mw_err_clear(&err);
  cJSON_Delete(b);
  return NULL;
}

/* Batches that queue while the write lock is busy are written together in
 * one transaction; the one with a stored id is rolled back alone. */
static void test_group_commit(void **state) {
  struct fix *f = *state;
  int64_t n;
  mw_err err = {{0}, NULL};
  assert_int_equal(ingest(f,
                          "{\"predictions\":[{\"id\":\"x\",\"features\":"
                          "{\"age\":1,\"city\":\"a\"},\"prediction\":1}]}",
                          &n, &err),
                   MW_OK);
  uint64_t commits0 = f->m->n_commits;
  static const char *bodies[3] = {
      "{\"predictions\":[{\"id\":\"g1\",\"features\":{\"age\":1,\"city\":"
      "\"b\"},\"prediction\":1}]}",
      "{\"predictions\":[{\"id\":\"x\",\"features\":{\"age\":2,\"city\":"
      "\"c\"},\"prediction\":1}]}",
      "{\"predictions\":[{\"id\":\"g3\",\"features\":{\"age\":3,\"city\":"
      "\"d\"},\"prediction\":1}]}"};
  struct one_arg a[3];
  pthread_t th[3];
  /* Holding core's write lock (the only one) makes the three queue. */
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  for(int k = 0; k < 3; k++) {
    a[k] = (struct one_arg){f, bodies[k], MW_EINTERNAL};
    pthread_create(&th[k], NULL, ingest_one, &a[k]);
    usleep(100000); /* the first becomes the leader, the others queue */
  }
  mw_tx_rollback(f->c);
  for(int k = 0; k < 3; k++)
    pthread_join(th[k], NULL);
  assert_int_equal(a[0].st, MW_OK);
  assert_int_equal(a[1].st, MW_EVALIDATION);
  assert_int_equal(a[2].st, MW_OK);
  /* Two transactions for three batches: the last two shared one. */
  assert_int_equal(f->m->n_commits - commits0, 2);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 3);
  /* The rolled-back batch's new category is gone, the others' stay. */
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_categories WHERE "
                                 "value = 'c'"),
                   0);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM mon_categories WHERE "
                                 "value IN ('b', 'd')"),
                   2);
}

/* Single-row requests leave a block per row; compaction merges a closed
 * bucket's small blocks into one without changing what a window reads. */
struct summary_check {
  int ok;
  int64_t rows;
  int kind;
};

/* chunks_read callback: a summary of the expected kind over rows rows. */
static mw_status summary_ok(void *ctx, size_t i, const void *data, size_t len) {
  struct summary_check *x = ctx;
  (void)i;
  mon_sketch s;
  mon_sketch_init(&s);
  x->ok = data && mon__sketch_chunk_kind(data, len) == x->kind &&
          !mon_sketch_deserialize(&s, data, len) && s.count + s.missing == x->rows &&
          (x->kind == MON_SKETCH_QUANTILES || s.err == 0);
  mon_sketch_free(&s);
  return MW_OK;
}

/* Compaction gives the merged block the summaries its small blocks had
 * none of (at most 256 rows each): of each column's kind, as the schema
 * says, over all its rows. */
static void test_compaction_summaries(void **state) {
  struct fix *f = *state;
  int64_t base = 1795766400000LL; /* 08:00, a bucket boundary */
  mon_batch b;
  memset(&b, 0, sizeof b);
  b.ncols = 3;
  b.n = 200;
  b.ts = malloc(200 * sizeof *b.ts);
  b.vals = malloc(600 * sizeof *b.vals);
  b.ids = calloc(200, sizeof *b.ids);
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  for(int k = 0; k < 4; k++) {
    for(int i = 0; i < 200; i++) {
      b.ts[i] = base + k * 1000 + i;
      b.vals[i] = k * 200 + i;
      b.vals[200 + i] = i % 3;
      b.vals[400 + i] = i == 7 ? NAN : 0.5 * i;
    }
    assert_int_equal(mon__block_write(f->c, 7, &b, NULL, 200, base), MW_OK);
  }
  assert_int_equal(mw_tx_commit(f->c), MW_OK);
  mon__batch_free(&b);
  int64_t merged = 0;
  assert_int_equal(mon__compact_step(f->m, f->c, base / MON_BUCKET_MS + 1, &merged),
                   MW_OK);
  assert_int_equal(merged, 4);
  /* ts, 3 columns, the empty ids slot, 3 summaries. */
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_chunks"), 8);
  int64_t bid = count_rows(f, "SELECT id FROM pred_blocks");
  struct summary_check sc[3] = {{0, 800, MON_SKETCH_QUANTILES},
                                {0, 800, MON_SKETCH_COUNTS},
                                {0, 800, MON_SKETCH_QUANTILES}};
  assert_int_equal(mw_tx_read(f->c), MW_OK);
  for(size_t col = 0; col < 3; col++)
    assert_int_equal(mon__store(f->c)->chunks_read(f->c, mon__slot_sketch(3, col),
                                                   &bid, 1, summary_ok, &sc[col]),
                     MW_OK);
  mw_tx_rollback(f->c);
  for(size_t col = 0; col < 3; col++)
    assert_true(sc[col].ok);
}

static void test_compaction(void **state) {
  struct fix *f = *state;
  int64_t base = 1795766400000LL; /* 08:00, a bucket boundary */
  mw_err err = {{0}, NULL};
  int64_t n;
  for(int i = 0; i < 30; i++) {
    char body[400], ts[40];
    mw_time_format(base + i * 1000, ts, sizeof ts);
    if(i % 2)
      snprintf(body, sizeof body,
               "{\"predictions\":[{\"id\":\"r%d\",\"timestamp\":"
               "\"%s\",\"features\":{\"age\":%d,\"city\":\"c%d\"},"
               "\"prediction\":%d}]}",
               i, ts, i, i % 3, i);
    else
      snprintf(body, sizeof body,
               "{\"predictions\":[{\"timestamp\":\"%s\","
               "\"features\":{\"age\":%d,\"city\":\"c%d\"},"
               "\"prediction\":%d}]}",
               ts, i, i % 3, i);
    assert_int_equal(ingest(f, body, &n, &err), MW_OK);
  }
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_blocks"), 30);
  int64_t merged = 0;
  /* The bucket is not closed yet for this cut-off: nothing happens. */
  assert_int_equal(mon__compact_step(f->m, f->c, base / MON_BUCKET_MS, &merged),
                   MW_OK);
  assert_int_equal(merged, 0);
  assert_int_equal(mon__compact_step(f->m, f->c, base / MON_BUCKET_MS + 1, &merged),
                   MW_OK);
  assert_int_equal(merged, 30);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_blocks"), 1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_chunks"), 5);
  assert_int_equal(mon__compact_step(f->m, f->c, base / MON_BUCKET_MS + 1, &merged),
                   MW_OK);
  assert_int_equal(merged, 0);
  /* The window reads the same rows in the same order. */
  mon_window w;
  assert_int_equal(mon__read_begin(f->c), MW_OK);
  assert_int_equal(mon__window_open(f->c, 7, 3, base + 5000, base + 25000, &w),
                   MW_OK);
  assert_int_equal(w.count, 20);
  double vals[32];
  mon_gather g;
  mon__gather_init(&g, vals, 32, 1, false, NULL);
  assert_int_equal(mon__window_visit(f->c, &w, 2, mon__gather_visit, &g), MW_OK);
  for(int i = 0; i < 20; i++)
    assert_true(vals[i] == 5 + i);
  mon__window_free(&w);
  mon__read_end(f->c);
  /* Ids survive the merge: labels find them, retention removes them. */
  cJSON *body = parse("{\"labels\":[{\"id\":\"r7\",\"label\":1}]}");
  assert_int_equal(mon_ingest_labels(f->m, f->c, &f->v, body, &n, &err), MW_OK);
  cJSON_Delete(body);
  int64_t deleted;
  assert_int_equal(mon_retention_step(f->m, f->c, base + 3600000, 10, &deleted),
                   MW_OK);
  assert_int_equal(deleted, 1);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_ids"), 0);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_chunks"), 0);
}

/* A six-row reference (cities "0".."2") for version 7. */
static void put_small_reference(struct fix *f) {
  cJSON *body = parse("{\"rows\":[{\"features\":{\"age\":1,\"city\":\"0\"},"
                      "\"prediction\":0.5},{\"features\":{\"age\":5,\"city\":\"1\"},"
                      "\"prediction\":0.1},{\"features\":{\"age\":9,\"city\":\"2\"},"
                      "\"prediction\":0.9},{\"features\":{\"age\":3,\"city\":\"0\"},"
                      "\"prediction\":0.3},{\"features\":{\"age\":7,\"city\":\"1\"},"
                      "\"prediction\":0.7},{\"features\":{\"age\":4,\"city\":\"1\"},"
                      "\"prediction\":0.2}]}");
  mw_err err = {{0}, NULL};
  cJSON *out = NULL;
  assert_int_equal(mon_reference_put(f->m, f->c, &f->v, body, "t", &out, &err),
                   MW_OK);
  cJSON_Delete(body);
  cJSON_Delete(out);
}

/* Past the memory budget a numeric column comes from the blocks' merged
 * quantile summaries (monitor/sketch_report.c): counts, moments and
 * extremes exact, KS, Wasserstein and bin counts within the bounds the
 * column states, compared with an unbounded (exact) report. Blocks
 * written without summaries are read row by row: then everything is
 * exact (rank_error 0). */
static void beyond_budget(struct fix *f, bool summaries) {
  int64_t now = mw_now_ms();
  size_t total = 150000;
  mon_schema sc;
  mw_err err = {{0}, NULL};
  assert_int_equal(mon__schema_parse(f->v.schema_json, &f->v, &sc, &err), MW_OK);
  mon_batch b;
  memset(&b, 0, sizeof b);
  b.ncols = 3;
  b.n = 1000;
  b.ts = malloc(1000 * sizeof *b.ts);
  b.vals = malloc(3000 * sizeof *b.vals);
  b.ids = calloc(1000, sizeof *b.ids);
  unsigned s = 7;
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  for(size_t k = 0; k < total / 1000; k++) {
    for(size_t i = 0; i < 1000; i++) {
      s = s * 1103515245u + 12345u;
      double u = (s >> 8) / 16777216.0;
      b.ts[i] = now - 600000 + (int64_t)k;
      b.vals[i] = k % 7 == 3 && i == 5 ? NAN : u * 10 + (double)k / 100.0;
      b.vals[1000 + i] = (double)((s >> 4) % 3);
      b.vals[2000 + i] = u;
    }
    assert_int_equal(
        mon__block_write_s(f->c, 7, summaries ? &sc : NULL, &b, NULL, 1000, now),
        MW_OK);
  }
  assert_int_equal(mw_tx_commit(f->c), MW_OK);
  mon__batch_free(&b);
  mon__schema_free(&sc);
  /* Reference: the first rows' distribution. */
  put_small_reference(f);
  mon_options small = {0, 3600, 0, 1, 2, 0, NULL},
              big = {0, 3600, 0, 1024, 2, 0, NULL};
  mon_ctx *ms, *mb;
  assert_int_equal(mon_ctx_new(f->db, &small, &ms), MW_OK);
  assert_int_equal(mon_ctx_new(f->db, &big, &mb), MW_OK);
  cJSON *rs = NULL, *rb = NULL;
  assert_int_equal(mon_drift_report(ms, f->c, &f->v, now - 3600000, now, &rs, &err),
                   MW_OK);
  assert_int_equal(mon_drift_report(mb, f->c, &f->v, now - 3600000, now, &rb, &err),
                   MW_OK);
  const cJSON *cs = column(rs, "age"), *cb = column(rb, "age");
  const cJSON *ap = cJSON_GetObjectItem(cs, "approximate");
  assert_non_null(ap);
  assert_null(cJSON_GetObjectItem(cb, "approximate"));
  assert_null(cJSON_GetObjectItem(cs, "sampled"));
  assert_string_equal(cJSON_GetObjectItem(ap, "method")->valuestring,
                      "merged_quantile_summaries");
  double eps = cJSON_GetObjectItem(ap, "rank_error")->valuedouble;
  if(summaries)
    assert_true(eps > 0 && eps <= 0.0025);
  else
    assert_true(eps == 0 &&
                cJSON_GetObjectItem(ap, "exact_rows")->valuedouble == 150000);
  const cJSON *ss = cJSON_GetObjectItem(cs, "stats"),
              *sb = cJSON_GetObjectItem(cb, "stats");
  assert_true(cJSON_GetObjectItem(ss, "count")->valuedouble ==
              total - total / 1000 / 7);
  assert_true(cJSON_GetObjectItem(ss, "count")->valuedouble ==
              cJSON_GetObjectItem(sb, "count")->valuedouble);
  assert_true(cJSON_GetObjectItem(ss, "missing")->valuedouble ==
              cJSON_GetObjectItem(sb, "missing")->valuedouble);
  static const char *const exact[] = {"min", "max"};
  for(int k = 0; k < 2; k++)
    assert_true(cJSON_GetObjectItem(ss, exact[k])->valuedouble ==
                cJSON_GetObjectItem(sb, exact[k])->valuedouble);
  double ms_ = cJSON_GetObjectItem(ss, "mean")->valuedouble;
  double mb_ = cJSON_GetObjectItem(sb, "mean")->valuedouble;
  assert_true(fabs(ms_ - mb_) <= 1e-12 * fabs(mb_));
  double sds = cJSON_GetObjectItem(ss, "std")->valuedouble;
  double sdb = cJSON_GetObjectItem(sb, "std")->valuedouble;
  assert_true(fabs(sds - sdb) <= 1e-9 * sdb);
  const cJSON *ks = cJSON_GetObjectItem(cs, "ks");
  double ds = cJSON_GetObjectItem(ks, "d")->valuedouble;
  double db = cJSON_GetObjectItem(cJSON_GetObjectItem(cb, "ks"), "d")->valuedouble;
  assert_true(cJSON_GetObjectItem(ks, "d_error")->valuedouble == eps);
  assert_true(fabs(ds - db) <= eps + 1e-12);
  /* The exact p-value lies in the stated range. */
  const cJSON *pr = cJSON_GetObjectItem(ks, "p_value_range");
  double pb =
      cJSON_GetObjectItem(cJSON_GetObjectItem(cb, "ks"), "p_value")->valuedouble;
  assert_true(cJSON_GetArrayItem(pr, 0)->valuedouble <= pb * (1 + 1e-9) + 1e-300);
  assert_true(pb <= cJSON_GetArrayItem(pr, 1)->valuedouble * (1 + 1e-9) + 1e-300);
  double ws = cJSON_GetObjectItem(cs, "wasserstein")->valuedouble;
  double wb = cJSON_GetObjectItem(cb, "wasserstein")->valuedouble;
  assert_true(fabs(ws - wb) <=
              cJSON_GetObjectItem(ap, "wasserstein_error")->valuedouble + 1e-9 * wb);
  /* Bin counts within 2 err of the exact ones. */
  const cJSON *hs =
      cJSON_GetObjectItem(cJSON_GetObjectItem(cs, "histogram"), "current");
  const cJSON *hb =
      cJSON_GetObjectItem(cJSON_GetObjectItem(cb, "histogram"), "current");
  double berr = cJSON_GetObjectItem(ap, "bin_count_error")->valuedouble;
  assert_int_equal(cJSON_GetArraySize(hs), cJSON_GetArraySize(hb));
  for(int k = 0; k < cJSON_GetArraySize(hs); k++)
    assert_true(fabs(cJSON_GetArrayItem(hs, k)->valuedouble -
                     cJSON_GetArrayItem(hb, k)->valuedouble) <= berr);
  if(!summaries)
    assert_true(fabs(cJSON_GetObjectItem(cs, "psi")->valuedouble -
                     cJSON_GetObjectItem(cb, "psi")->valuedouble) <= 1e-12);
  /* Quality as the exact path's: missing and invalid counts exact, the
   * out-of-range count within the error it states. */
  const cJSON *qs = cJSON_GetObjectItem(cs, "quality"),
              *qb = cJSON_GetObjectItem(cb, "quality");
  assert_non_null(qs);
  assert_non_null(qb);
  static const char *const qexact[] = {"missing_count", "missing_share",
                                       "invalid_count"};
  for(int k = 0; k < 3; k++) {
    assert_non_null(cJSON_GetObjectItem(qs, qexact[k]));
    assert_true(cJSON_GetObjectItem(qs, qexact[k])->valuedouble ==
                cJSON_GetObjectItem(qb, qexact[k])->valuedouble);
  }
  assert_true(cJSON_GetObjectItem(qs, "missing_count")->valuedouble ==
              total / 1000 / 7);
  const cJSON *qa = cJSON_GetObjectItem(qs, "approximate");
  assert_non_null(qa);
  double oerr = cJSON_GetObjectItem(qa, "out_of_range_count_error")->valuedouble;
  assert_true(oerr <= 2 * eps * cJSON_GetObjectItem(ss, "count")->valuedouble + 0.5);
  double os = cJSON_GetObjectItem(qs, "out_of_range_count")->valuedouble;
  double ob = cJSON_GetObjectItem(qb, "out_of_range_count")->valuedouble;
  assert_true(ob > 1000); /* the window drifts past the reference's max */
  assert_true(fabs(os - ob) <= oerr);
  if(!summaries)
    assert_true(os == ob && oerr == 0);
  assert_true(fabs(cJSON_GetObjectItem(qs, "out_of_range_share")->valuedouble -
                   ob / cJSON_GetObjectItem(sb, "count")->valuedouble) <=
              oerr / cJSON_GetObjectItem(sb, "count")->valuedouble + 1e-12);
  /* Categorical columns are exact whatever the budget, quality too. */
  char *qcs =
      cJSON_PrintUnformatted(cJSON_GetObjectItem(column(rs, "city"), "quality"));
  char *qcb =
      cJSON_PrintUnformatted(cJSON_GetObjectItem(column(rb, "city"), "quality"));
  assert_non_null(qcs);
  assert_non_null(qcb);
  assert_string_equal(qcs, qcb);
  assert_non_null(strstr(qcs, "unseen_count"));
  free(qcs);
  free(qcb);
  assert_null(cJSON_GetObjectItem(column(rs, "city"), "approximate"));
  assert_true(cJSON_GetObjectItem(column(rs, "city"), "psi")->valuedouble ==
              cJSON_GetObjectItem(column(rb, "city"), "psi")->valuedouble);
  cJSON_Delete(rs);
  cJSON_Delete(rb);
  mon_ctx_free(ms);
  mon_ctx_free(mb);
}

static void test_beyond_budget_summaries(void **state) {
  beyond_budget(*state, true);
}

static void test_beyond_budget_rows(void **state) { beyond_budget(*state, false); }

/* Writes n rows with timestamps ts[] (one block per 5-minute bucket, as
 * ingest does): age ~ U(0,10) drifting with t, city code 0..2, prediction
 * U(0,1); some values missing. */
static void put_rows(struct fix *f, const int64_t *ts, size_t n, unsigned *seed) {
  mon_batch b;
  memset(&b, 0, sizeof b);
  b.ncols = 3;
  b.n = n;
  b.ts = malloc(n * sizeof *b.ts);
  b.vals = malloc(3 * n * sizeof *b.vals);
  b.ids = calloc(n, sizeof *b.ids);
  size_t *rows = malloc(n * sizeof *rows);
  bool *done = calloc(n, sizeof *done);
  assert_true(b.ts && b.vals && b.ids && rows && done);
  for(size_t i = 0; i < n; i++) {
    *seed = *seed * 1103515245u + 12345u;
    double u = (*seed >> 8) / 16777216.0;
    b.ts[i] = ts[i];
    b.vals[i] =
        i % 17 == 3 ? NAN : floor(u * 40) / 4 + (double)(ts[i] % 600000) / 1e5;
    b.vals[n + i] = i % 23 == 5 ? NAN : (double)((*seed >> 4) % 3);
    /* Zeros of both signs: a full sort puts -0.0 first, and the JSON shows
     * the sign (min, quantiles), so the cache must keep that order. */
    b.vals[2 * n + i] = i % 31 == 7  ? INFINITY
                        : i % 5 == 1 ? -0.0
                        : i % 5 == 2 ? 0.0
                                     : u;
  }
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  for(size_t i = 0; i < n; i++) {
    if(done[i])
      continue;
    size_t k = 0;
    for(size_t j = i; j < n; j++)
      if(!done[j] && b.ts[j] / MON_BUCKET_MS == b.ts[i] / MON_BUCKET_MS) {
        rows[k++] = j;
        done[j] = true;
      }
    assert_int_equal(mon__block_write(f->c, 7, &b, rows, k, mw_now_ms()), MW_OK);
  }
  assert_int_equal(mw_tx_commit(f->c), MW_OK);
  free(rows);
  free(done);
  free(b.ids);
  b.ids = NULL;
  mon__batch_free(&b);
}

/* A report as text without its timing. */
static char *report_text(mon_ctx *m, struct fix *f, int64_t from, int64_t to) {
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  assert_int_equal(mon_drift_report(m, f->c, &f->v, from, to, &out, &err), MW_OK);
  cJSON_DeleteItemFromObject(out, "elapsed_ms");
  char *t = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return t;
}

/* The live-window cache gives the very report an uncached context gives,
 * through sliding windows, late rows, identical repeats, windows that
 * start or end earlier than the cached one, compaction and retention (which delete blocks), and reuses its entries. */
static void test_window_cache(void **state) {
  struct fix *f = *state;
  put_small_reference(f);
  mon_options off = {0, 3600, 0, 64, 2, -1, NULL};
  mon_ctx *mo;
  assert_int_equal(mon_ctx_new(f->db, &off, &mo), MW_OK);
  unsigned seed = 11;
  int64_t t = (mw_now_ms() / MON_BUCKET_MS - 6) * MON_BUCKET_MS + 1234;
  int64_t ts[400];
  int compared = 0;
  for(int step = 0; step < 120; step++) {
    seed = seed * 1103515245u + 12345u;
    t += 1000 + (int64_t)(seed >> 8) % 20000;
    size_t n = 1 + (seed >> 4) % 300;
    for(size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      int64_t back = (int64_t)(seed >> 8) % 20000;
      if(i % 13 == 0)
        back += (int64_t)(seed >> 4) % 400000; /* late: minutes back */
      ts[i] = t - back;
    }
    if(step == 50) {
      /* The newest block, of rows an hour old (outside every window), is
       * seen by the cache and then deleted: its id is handed out again to
       * the next block, whose rows are in the window. */
      int64_t old_ts[3] = {t - 3600000, t - 3600000, t - 3599000};
      put_rows(f, old_ts, 3, &seed);
      char *a = report_text(f->m, f, t - 60000, t + 1);
      free(a);
      assert_int_equal(exec_sql(f, "DELETE FROM pred_blocks WHERE id = "
                                   "(SELECT max(id) FROM pred_blocks)"),
                       MW_OK);
    }
    put_rows(f, ts, n, &seed);
    if(step % 37 == 36) {
      int64_t merged = 0;
      assert_int_equal(mon__compact_step(f->m, f->c, t / MON_BUCKET_MS, &merged),
                       MW_OK);
    }
    if(step == 90) {
      int64_t deleted = 0;
      assert_int_equal(mon_retention_step(f->m, f->c, t - 600000, 1000, &deleted),
                       MW_OK);
      assert_true(deleted > 0);
    }
    int64_t len = step % 3 == 0 ? 60000 : step % 3 == 1 ? 180000 : 900000;
    int64_t to = t + 1, from = to - len;
    if(step % 11 == 10)
      from -= 300000; /* a longer window than before */
    if(step % 5 == 4)
      to -= 15000; /* ends earlier than the last one (a request that waited) */
    for(int rep = 0; rep < (step % 7 == 0 ? 2 : 1); rep++) {
      char *a = report_text(f->m, f, from, to);
      char *b = report_text(mo, f, from, to);
      assert_string_equal(a, b);
      compared++;
      free(a);
      free(b);
    }
  }
  assert_true(compared > 120);
  /* The cache was used, and not only rebuilt. */
  assert_true(f->m->wc.hits > 60);
  assert_true(f->m->wc.misses > 3);
  assert_int_equal(mo->wc.hits + mo->wc.misses, 0);
  assert_true(f->m->wc.bytes > 0 && f->m->wc.bytes <= (size_t)256 << 20);
  /* Entries idle for 15 minutes go: age them all, then one report. */
  uint64_t ev = f->m->wc.evictions;
  size_t entries = 0;
  for(mon_wentry *e = f->m->wc.head; e; e = e->next, entries++)
    e->used_ms -= 16LL * 60 * 1000;
  assert_true(entries > 0);
  free(report_text(f->m, f, t - 10000, t + 1));
  assert_int_equal(f->m->wc.evictions, ev + entries);
  assert_non_null(f->m->wc.head);
  assert_null(f->m->wc.head->next); /* only the new report's entry */
  mon_ctx_free(mo);
}

/* The reference cache (monitor/rcache.c) gives the very report a context
 * without cache gives, and loads the reference again after every write to
 * it, whoever makes it: a replacement through the API, and changes made
 * straight in the database as another process would (the set's row, a
 * column, the rows segments use, the set deleted). */
static void test_reference_cache(void **state) {
  struct fix *f = *state;
  put_small_reference(f);
  mon_options off = {0, 3600, 0, 64, 2, -1, NULL};
  mon_ctx *mo;
  assert_int_equal(mon_ctx_new(f->db, &off, &mo), MW_OK);
  unsigned seed = 5;
  int64_t t = mw_now_ms();
  int64_t ts[200];
  for(size_t i = 0; i < 200; i++)
    ts[i] = t - 1000 - (int64_t)i * 250;
  put_rows(f, ts, 200, &seed);
  int64_t from = t - 120000, to = t + 1;
  mon_wcache *wc = &f->m->wc;
  /* Reports against the same reference share one entry. */
  char *first = report_text(f->m, f, from, to);
  for(int k = 0; k < 3; k++) {
    char *a = report_text(f->m, f, from, to - k);
    char *b = report_text(mo, f, from, to - k);
    assert_string_equal(a, b);
    free(a);
    free(b);
  }
  assert_int_equal(wc->rmisses, 1);
  assert_int_equal(wc->rhits, 3);
  assert_non_null(wc->rhead);
  assert_null(wc->rhead->next);
  assert_int_equal(wc->rhead->users, 0);
  assert_true(wc->rbytes > 0 && wc->rbytes <= wc->bytes);
  assert_int_equal(mo->wc.rhits + mo->wc.rmisses, 0);
  assert_null(mo->wc.rhead);
  /* Replaced through the API: the next report reads the new one. */
  cJSON *body = parse("{\"rows\":[{\"features\":{\"age\":100,\"city\":\"1\"},"
                      "\"prediction\":0.5},{\"features\":{\"age\":200,\"city\":"
                      "\"1\"},\"prediction\":0.4}]}");
  mw_err err = {{0}, NULL};
  cJSON *out = NULL;
  assert_int_equal(mon_reference_put(f->m, f->c, &f->v, body, "t", &out, &err),
                   MW_OK);
  cJSON_Delete(body);
  cJSON_Delete(out);
  uint64_t misses = wc->rmisses;
  char *a = report_text(f->m, f, from, to), *b = report_text(mo, f, from, to);
  assert_string_equal(a, b);
  assert_string_not_equal(a, first);
  assert_true(strstr(a, "\"reference\":{\"count\":2,"));
  assert_int_equal(wc->rmisses, misses + 1);
  assert_null(wc->rhead->next); /* the older generation went */
  free(a);
  free(b);
  free(first);
  /* Written in place, as another replica or a later erasure might: each
   * change is a new generation, and the report follows it. */
  const char *changes[] = {
      "UPDATE reference_sets SET created_at = 86400000 WHERE version_id = 7",
      "UPDATE reference_columns SET max = max WHERE version_id = 7 AND col = 0",
      "UPDATE reference_rows SET data = data WHERE version_id = 7 AND col = 1",
      "DELETE FROM reference_rows WHERE version_id = 7 AND col = 2",
  };
  for(size_t k = 0; k < sizeof changes / sizeof *changes; k++) {
    misses = wc->rmisses;
    uint64_t hits = wc->rhits;
    assert_int_equal(exec_sql(f, changes[k]), MW_OK);
    a = report_text(f->m, f, from, to);
    b = report_text(mo, f, from, to);
    assert_string_equal(a, b);
    if(k == 0)
      assert_true(strstr(a, "\"created_at\":\"1970-01-02T00:00:00"));
    assert_int_equal(wc->rmisses, misses + 1);
    free(a);
    free(b);
    a = report_text(f->m, f, from, to); /* and then from memory again */
    free(a);
    assert_int_equal(wc->rhits, hits + 1);
  }
  /* Deleted (its version's delete cascades the same way): no reference,
   * not a cached one. */
  assert_int_equal(exec_sql(f, "DELETE FROM reference_sets WHERE version_id = 7"),
                   MW_OK);
  cJSON *rep = NULL;
  err = (mw_err){{0}, NULL};
  assert_int_equal(mon_drift_report(f->m, f->c, &f->v, from, to, &rep, &err),
                   MW_ECONFLICT);
  assert_null(rep);
  put_small_reference(f);
  a = report_text(f->m, f, from, to);
  b = report_text(mo, f, from, to);
  assert_string_equal(a, b);
  free(a);
  free(b);
  /* The budget is shared with the windows: none left, nothing is kept,
   * and the report is still the same. */
  int budget = wc->budget_mb;
  wc->budget_mb = 0;
  assert_int_equal(exec_sql(f, "UPDATE reference_sets SET created_by = 'x' "
                               "WHERE version_id = 7"),
                   MW_OK);
  a = report_text(f->m, f, from, to);
  b = report_text(mo, f, from, to);
  assert_string_equal(a, b);
  free(a);
  free(b);
  assert_null(wc->rhead);
  assert_int_equal(wc->rbytes, 0);
  wc->budget_mb = budget;
  /* Idle for 15 minutes: dropped with the windows. */
  free(report_text(f->m, f, from, to));
  assert_non_null(wc->rhead);
  wc->rhead->used_ms -= 16LL * 60 * 1000;
  uint64_t ev = wc->revictions;
  misses = wc->rmisses;
  free(report_text(f->m, f, from, to));
  assert_int_equal(wc->revictions, ev + 1);
  assert_int_equal(wc->rmisses, misses + 1);
  mon_ctx_free(mo);
}

/* The cache's column merge: removals must be present, both sides may hold
 * non-finite values (counted as missing), duplicates are kept. */
static void test_wcol_apply(void **state) {
  (void)state;
  mon_wcol w;
  memset(&w, 0, sizeof w);
  double *add = malloc(6 * sizeof *add), *rem = malloc(sizeof *rem);
  memcpy(add, (double[]){3, 1, NAN, 2, 2, INFINITY}, 6 * sizeof *add);
  assert_int_equal(mon__wcol_apply(&w, rem, 0, add, 6), MW_OK);
  assert_int_equal(w.n, 4);
  assert_int_equal(w.missing, 2);
  assert_true(w.vals[0] == 1 && w.vals[1] == 2 && w.vals[2] == 2 && w.vals[3] == 3);
  rem = malloc(3 * sizeof *rem);
  memcpy(rem, (double[]){2, NAN, 3}, 3 * sizeof *rem);
  add = malloc(2 * sizeof *add);
  memcpy(add, (double[]){2.5, 0}, 2 * sizeof *add);
  assert_int_equal(mon__wcol_apply(&w, rem, 3, add, 2), MW_OK);
  assert_int_equal(w.n, 4);
  assert_int_equal(w.missing, 1);
  assert_true(w.vals[0] == 0 && w.vals[1] == 1 && w.vals[2] == 2 &&
              w.vals[3] == 2.5);
  /* A value the column does not hold: the entry cannot be trusted. */
  rem = malloc(sizeof *rem);
  rem[0] = 7;
  add = malloc(sizeof *add);
  assert_int_equal(mon__wcol_apply(&w, rem, 1, add, 0), MW_EINTERNAL);
  free(w.vals);
  /* Random rounds (ties, zeros of both signs, removals anywhere, in runs
   * and alone): the column is bit for bit the full sort of what it holds. */
  unsigned seed = 3;
  size_t cap = 6000, n = 0;
  double *all = malloc(cap * sizeof *all), *want = malloc(cap * sizeof *want);
  memset(&w, 0, sizeof w);
  for(int round = 0; round < 60; round++) {
    size_t nr = 0, na = 0;
    rem = malloc((n ? n : 1) * sizeof *rem);
    add = malloc(200 * sizeof *add);
    for(size_t i = 0; i < n;) { /* remove some, in runs of the array */
      seed = seed * 1103515245u + 12345u;
      size_t run = (seed >> 8) % 40;
      bool out = (seed >> 20) % 4 == 0;
      for(size_t k = 0; k < run && i < n; k++, i++)
        if(out)
          rem[nr++] = all[i];
        else
          all[i - nr] = all[i];
    }
    n -= nr;
    for(; na < 1 + (size_t)round % 7 * 25; na++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = seed >> 8;
      add[na] = r % 5 == 0 ? (r % 2 ? -0.0 : 0.0) : (double)(r % 300) / 4 - 30;
      all[n++] = add[na];
    }
    assert_int_equal(mon__wcol_apply(&w, rem, nr, add, na), MW_OK);
    memcpy(want, all, n * sizeof *all);
    mon_stats_sort(want, n);
    assert_int_equal(w.n, n);
    assert_memory_equal(w.vals, want, n * sizeof *want);
  }
  free(w.vals);
  free(all);
  free(want);
}

/* ----------------------------------------------------------- single-flight */

struct flight_env {
  mon_flights *f;
  int computations; /* atomic */
  int wait_joiners; /* the leader waits until this many joined */
  mw_status fail;   /* what the computation returns */
};

static mw_status flight_compute(void *ctx, cJSON **out, mw_err *err) {
  struct flight_env *e = ctx;
  int k = __atomic_add_fetch(&e->computations, 1, __ATOMIC_SEQ_CST);
  /* Hold the flight open until the others have joined (bounded: 10 s). */
  for(int i = 0; i < 10000; i++) {
    pthread_mutex_lock(&e->f->mu);
    uint64_t j = e->f->joined;
    pthread_mutex_unlock(&e->f->mu);
    if(j >= (uint64_t)e->wait_joiners)
      break;
    usleep(1000);
  }
  if(e->fail)
    return mw_errf(err, e->fail, "computation %d failed", k);
  *out = cJSON_CreateObject();
  cJSON_AddNumberToObject(*out, "computation", k);
  return MW_OK;
}

struct flight_call {
  struct flight_env *e;
  int64_t to, now;
  mw_status st;
  cJSON *out;
  mw_err err;
};

static void *flight_thread(void *arg) {
  struct flight_call *c = arg;
  c->st = mon__flight_do(c->e->f, 7, 1000, c->to, c->now, flight_compute, c->e,
                         &c->out, &c->err);
  return NULL;
}

/* N requests for one window while its computation runs: one computation,
 * every request gets its own copy of the result. */
static void test_flight_shared(void **state) {
  (void)state;
  enum { N = 8 };
  mon_flights f;
  mon__flights_init(&f);
  struct flight_env e = {&f, 0, N - 1, MW_OK};
  struct flight_call calls[N];
  pthread_t th[N];
  memset(calls, 0, sizeof calls);
  for(int i = 0; i < N; i++) {
    calls[i].e = &e;
    calls[i].to = 5000;
    calls[i].now = 100000; /* a window in the past: only the same end joins */
    assert_int_equal(pthread_create(&th[i], NULL, flight_thread, &calls[i]), 0);
  }
  for(int i = 0; i < N; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(e.computations, 1);
  assert_int_equal(f.led, 1);
  assert_int_equal(f.joined, N - 1);
  for(int i = 0; i < N; i++) {
    assert_int_equal(calls[i].st, MW_OK);
    assert_non_null(calls[i].out);
    for(int j = 0; j < i; j++)
      assert_ptr_not_equal(calls[i].out, calls[j].out); /* own copies */
    assert_int_equal(cJSON_GetObjectItem(calls[i].out, "computation")->valueint, 1);
    cJSON_Delete(calls[i].out);
  }
  assert_null(f.head); /* nothing kept */
  /* The next request computes again: a result is not cached. */
  e.wait_joiners = 0;
  struct flight_call one = {&e, 5000, 100000, MW_OK, NULL, {{0}, NULL}};
  flight_thread(&one);
  assert_int_equal(one.st, MW_OK);
  assert_int_equal(cJSON_GetObjectItem(one.out, "computation")->valueint, 2);
  cJSON_Delete(one.out);
  mon__flights_destroy(&f);
}

/* An error reaches every request that joined, with its message, and is not
 * kept: the next request computes again (and succeeds). */
static void test_flight_error(void **state) {
  (void)state;
  enum { N = 5 };
  mon_flights f;
  mon__flights_init(&f);
  struct flight_env e = {&f, 0, N - 1, MW_ECONFLICT};
  struct flight_call calls[N];
  pthread_t th[N];
  memset(calls, 0, sizeof calls);
  for(int i = 0; i < N; i++) {
    calls[i].e = &e;
    calls[i].to = 5000;
    calls[i].now = 100000;
    assert_int_equal(pthread_create(&th[i], NULL, flight_thread, &calls[i]), 0);
  }
  for(int i = 0; i < N; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(e.computations, 1);
  for(int i = 0; i < N; i++) {
    assert_int_equal(calls[i].st, MW_ECONFLICT);
    assert_null(calls[i].out);
    assert_string_equal(calls[i].err.msg, "computation 1 failed");
    mw_err_clear(&calls[i].err);
  }
  assert_null(f.head);
  e.fail = MW_OK;
  e.wait_joiners = 0;
  struct flight_call one = {&e, 5000, 100000, MW_OK, NULL, {{0}, NULL}};
  flight_thread(&one);
  assert_int_equal(one.st, MW_OK);
  assert_int_equal(e.computations, 2);
  cJSON_Delete(one.out);
  mon__flights_destroy(&f);
}

/* Which requests may join: a window ending "now" joins one that ends up to
 * MON_FLIGHT_SLACK_MS earlier; a past window only the very same one; other
 * starts or versions never; and none after the flight's snapshot (seal). */
struct seal_env {
  mon_flights *f;
  int computations;
  int stage; /* 0 open, 1 sealed, 2 release */
};

static mw_status seal_compute(void *ctx, cJSON **out, mw_err *err) {
  (void)err;
  struct seal_env *e = ctx;
  int k = __atomic_add_fetch(&e->computations, 1, __ATOMIC_SEQ_CST);
  if(k == 1) { /* the first flight: seal, then wait for release */
    mon__flight_seal();
    __atomic_store_n(&e->stage, 1, __ATOMIC_SEQ_CST);
    for(int i = 0; i < 10000 && __atomic_load_n(&e->stage, __ATOMIC_SEQ_CST) < 2;
        i++)
      usleep(1000);
  }
  *out = cJSON_CreateNumber(k);
  return MW_OK;
}

static void *seal_thread(void *arg) {
  struct seal_env *e = arg;
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  mw_status st =
      mon__flight_do(e->f, 7, 1000, 5000, 5000, seal_compute, e, &out, &err);
  assert_int_equal(st, MW_OK);
  cJSON_Delete(out);
  return NULL;
}

static mw_status no_compute(void *ctx, cJSON **out, mw_err *err) {
  (void)ctx, (void)err;
  *out = cJSON_CreateNumber(-1);
  return MW_OK;
}

static void test_flight_rules(void **state) {
  (void)state;
  mon_flights f;
  mon__flights_init(&f);
  struct seal_env e = {&f, 0, 0};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, seal_thread, &e), 0);
  for(int i = 0; i < 10000 && __atomic_load_n(&e.stage, __ATOMIC_SEQ_CST) < 1; i++)
    usleep(1000);
  assert_int_equal(e.stage, 1);
  /* Sealed: the same window computes on its own. */
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  assert_int_equal(
      mon__flight_do(&f, 7, 1000, 5000, 5000, seal_compute, &e, &out, &err), MW_OK);
  assert_int_equal((int)out->valuedouble, 2);
  cJSON_Delete(out);
  __atomic_store_n(&e.stage, 2, __ATOMIC_SEQ_CST);
  pthread_join(th, NULL);
  assert_int_equal(f.joined, 0);
  mon__flights_destroy(&f);

  /* Matching, on a table with one open flight put there by hand through a
   * computation that asks the table again (nested calls compute directly,
   * so the questions go from another thread). */
  struct {
    int64_t version, from, to, now;
    bool joins;
  } cases[] = {
      {7, 1000, 5000, 100000, true},  /* the same past window */
      {7, 1000, 5001, 100000, false}, /* a past window ending later */
      {7, 1000, 5500, 5500, true},    /* "now", 500 ms after the flight's end */
      {7, 1500, 5500, 5500, true},    /* "now", both ends 500 ms later */
      {7, 900, 5500, 5500, false},    /* "now", but starting earlier */
      {7, 2001, 5500, 5500, false},   /* "now", starting > the slack later */
      {7, 1000, 6001, 6001, false},   /* "now", more than the slack after */
      {7, 1000, 4999, 4999, false},   /* ending before the flight */
      {7, 1001, 5000, 100000, false}, /* another start */
      {8, 1000, 5000, 100000, false}, /* another version */
  };
  for(size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    mon__flights_init(&f);
    struct flight_env fe = {&f, 0, 1, MW_OK};
    struct flight_call lead = {&fe, 5000, 5000, MW_OK, NULL, {{0}, NULL}};
    pthread_t lt;
    assert_int_equal(pthread_create(&lt, NULL, flight_thread, &lead), 0);
    for(int i = 0; i < 10000; i++) { /* until the flight is in the air */
      pthread_mutex_lock(&f.mu);
      bool up = f.head != NULL;
      pthread_mutex_unlock(&f.mu);
      if(up)
        break;
      usleep(1000);
    }
    cJSON *o = NULL;
    mw_err e2 = {{0}, NULL};
    assert_int_equal(mon__flight_do(&f, cases[k].version, cases[k].from, cases[k].to,
                                    cases[k].now, no_compute, NULL, &o, &e2),
                     MW_OK);
    /* Joined: the flight's result (computation 1); else our own (-1). */
    if(cases[k].joins)
      assert_int_equal(cJSON_GetObjectItem(o, "computation")->valueint, 1);
    else
      assert_true(cJSON_IsNumber(o) && o->valuedouble == -1);
    cJSON_Delete(o);
    if(!cases[k].joins) { /* let the leader go: it waits for one joiner */
      pthread_mutex_lock(&f.mu);
      f.joined++;
      pthread_mutex_unlock(&f.mu);
    }
    pthread_join(lt, NULL);
    assert_int_equal(lead.st, MW_OK);
    cJSON_Delete(lead.out);
    mon__flights_destroy(&f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schema),
      cmocka_unit_test(test_json_values),
      cmocka_unit_test(test_json_parser),
      cmocka_unit_test(test_dict),
      cmocka_unit_test(test_packing),
      cmocka_unit_test(test_batch_validation),
      cmocka_unit_test(test_refcol_build),
      cmocka_unit_test_setup_teardown(test_ingest_and_labels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reference_and_drift, setup, teardown),
      cmocka_unit_test_setup_teardown(test_degenerate_columns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_ingest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_beyond_budget_summaries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_beyond_budget_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_summaries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reference_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ids_per_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drift_compare, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drift_compare_sampled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shadow_compare, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shadow_compare_pages, setup, teardown),
      cmocka_unit_test(test_wcol_apply),
      cmocka_unit_test(test_flight_shared),
      cmocka_unit_test(test_flight_error),
      cmocka_unit_test(test_flight_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
