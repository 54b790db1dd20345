/* Unit tests of the pure parts of monitor/privacy.h: a schema's privacy
 * (parsed, hashed columns categorical, refused values), the hash of a
 * value (deterministic, the canonical text of numbers, different per
 * column key), and batch parsing of hashed and dropped columns (only the
 * hash, or nothing, reaches the batch; the value is in no error). The key
 * is attached by hand: monitor/privacy.c's attach and the key's storage
 * are covered by tests/integration/test_privacy.py on both backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "monitor/batch.h"
#include "monitor/privacy.h"
#include "monitor/schema.h"

static const char *SCHEMA =
    "{\"features\":[{\"name\":\"email\",\"type\":\"categorical\",\"privacy\":"
    "\"hash\"},{\"name\":\"zip\",\"type\":\"numeric\",\"privacy\":\"hash\"},"
    "{\"name\":\"income\",\"type\":\"numeric\",\"privacy\":\"drop\"},"
    "{\"name\":\"age\",\"type\":\"numeric\",\"privacy\":\"keep\"}],"
    "\"prediction\":{\"type\":\"numeric\"}}";

static void keys(mon_schema *s) {
  for(size_t i = 0; i < s->ncols; i++) {
    memset(s->cols[i].hkey, (int)(i + 1), sizeof s->cols[i].hkey);
    s->cols[i].has_hkey = s->cols[i].privacy == MON_PRIVACY_HASH;
  }
}

static void test_schema_privacy(void **state) {
  (void)state;
  mon_version v = {1, 1, "m", 1, SCHEMA};
  mon_schema s;
  assert_int_equal(mon__schema_parse(SCHEMA, &v, &s, NULL), MW_OK);
  assert_int_equal(s.ncols, 5);
  assert_int_equal(s.cols[0].privacy, MON_PRIVACY_HASH);
  assert_int_equal(s.cols[0].kind, MON_COLUMN_CATEGORICAL);
  assert_int_equal(s.cols[1].privacy, MON_PRIVACY_HASH);
  assert_int_equal(s.cols[1].kind, MON_COLUMN_CATEGORICAL); /* hashed number */
  assert_int_equal(s.cols[1].declared, MON_COLUMN_NUMERIC);
  assert_int_equal(s.cols[2].privacy, MON_PRIVACY_DROP);
  assert_int_equal(s.cols[2].kind, MON_COLUMN_NUMERIC);
  assert_int_equal(s.cols[3].privacy, MON_PRIVACY_KEEP);
  assert_int_equal(s.cols[4].privacy, MON_PRIVACY_KEEP);
  mon__schema_free(&s);
  const char *bad =
      "{\"features\":[{\"name\":\"a\",\"type\":\"numeric\",\"privacy\":"
      "\"encrypt\"}],\"prediction\":{\"type\":\"numeric\"}}";
  assert_int_equal(mon__schema_parse(bad, &v, &s, NULL), MW_EVALIDATION);
  bad = "{\"features\":[{\"name\":\"a\",\"type\":\"numeric\",\"privacy\":1}],"
        "\"prediction\":{\"type\":\"numeric\"}}";
  assert_int_equal(mon__schema_parse(bad, &v, &s, NULL), MW_EVALIDATION);
}

static void test_hash(void **state) {
  (void)state;
  mon_column a = {0}, b = {0};
  char h1[65], h2[65], h3[65];
  assert_int_equal(mon__privacy_hash(&a, "x", h1), MW_EINTERNAL); /* no key */
  memset(a.hkey, 1, sizeof a.hkey);
  memset(b.hkey, 2, sizeof b.hkey);
  a.has_hkey = b.has_hkey = true;
  assert_int_equal(mon__privacy_hash(&a, "alice@example.org", h1), MW_OK);
  assert_int_equal(mon__privacy_hash(&a, "alice@example.org", h2), MW_OK);
  assert_int_equal(mon__privacy_hash(&b, "alice@example.org", h3), MW_OK);
  assert_int_equal(strlen(h1), 64);
  assert_string_equal(h1, h2);
  assert_string_not_equal(h1, h3);
  assert_int_equal(mon__privacy_hash(&a, "alice@example.org ", h2), MW_OK);
  assert_string_not_equal(h1, h2);
  /* HMAC-SHA256 with key 32 x 0x01 (python: hmac.new(b"\x01" * 32,
   * b"alice@example.org", "sha256").hexdigest()). */
  assert_string_equal(
      h1, "83eb21aa646d11a58283bf3551464b3f06570d07a7d01c50b9e81ac4b85a4700");
}

static void test_batch_hashed_and_dropped(void **state) {
  (void)state;
  mon_version v = {1, 1, "m", 1, SCHEMA};
  mon_schema s;
  assert_int_equal(mon__schema_parse(SCHEMA, &v, &s, NULL), MW_OK);
  keys(&s);
  cJSON *rows = cJSON_Parse(
      "[{\"features\":{\"email\":\"a@x.org\",\"zip\":94110,\"income\":1234.5,"
      "\"age\":30},\"prediction\":1},"
      "{\"features\":{\"email\":null,\"zip\":\"NaN\",\"income\":null,\"age\":31},"
      "\"prediction\":0},"
      "{\"features\":{\"email\":\"a@x.org\",\"zip\":94110.0,\"income\":7,"
      "\"age\":32},\"prediction\":0}]");
  mon_batch b;
  mon_errors e;
  mon__errors_init(&e);
  assert_int_equal(mon__batch_parse(&s, rows, true, 0, &b, &e), MW_OK);
  assert_int_equal(e.count, 0);
  char want[65];
  assert_int_equal(mon__privacy_hash(&s.cols[0], "a@x.org", want), MW_OK);
  assert_string_equal(b.cats[0 * b.n + 0], want);
  assert_string_equal(b.cats[0 * b.n + 2], want);
  assert_null(b.cats[0 * b.n + 1]); /* missing stays missing */
  /* A number hashes its canonical text: 94110 and 94110.0 alike. */
  assert_int_equal(mon__privacy_hash(&s.cols[1], "94110", want), MW_OK);
  assert_string_equal(b.cats[1 * b.n + 0], want);
  assert_string_equal(b.cats[1 * b.n + 2], want);
  assert_null(b.cats[1 * b.n + 1]);
  for(size_t i = 0; i < b.n; i++)
    assert_true(isnan(b.vals[2 * b.n + i])); /* dropped: nothing */
  assert_true(b.vals[3 * b.n + 1] == 31.0);  /* kept */
  mon__batch_free(&b);
  cJSON_Delete(rows);
  /* Validated as declared; the value is in no message. */
  rows = cJSON_Parse("[{\"features\":{\"email\":{},\"zip\":\"SECRET-ZIP\","
                     "\"income\":\"SECRET-INCOME\",\"age\":1},\"prediction\":1}]");
  mon__errors_init(&e);
  assert_int_equal(mon__batch_parse(&s, rows, true, 0, &b, &e), MW_OK);
  assert_int_equal(e.count, 3);
  char *txt = cJSON_PrintUnformatted(e.list);
  assert_null(strstr(txt, "SECRET"));
  assert_non_null(strstr(txt, "features.zip"));
  assert_non_null(strstr(txt, "features.income"));
  cJSON_free(txt);
  mon__errors_free(&e);
  mon__batch_free(&b);
  cJSON_Delete(rows);
  mon__schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schema_privacy),
      cmocka_unit_test(test_hash),
      cmocka_unit_test(test_batch_hashed_and_dropped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
