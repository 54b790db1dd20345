/* Unit tests of strict UTF-8 (core/utf8.c) and of its use on request
 * bodies: web_json_parse (every cJSON route) and mon_doc_parse (the
 * ingest parser) refuse text that is not UTF-8 and lone surrogate
 * escapes, and keep valid multi-byte text byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "monitor/monitor.h"
#include "web/web_internal.h"

/* Offset of the first bad sequence of s[0..n), or n when valid; checks
 * that the status agrees with the offset. */
static size_t bad_at(const char *s, size_t n) {
  size_t bad = (size_t)-1;
  mw_status st = mw_utf8_check(s, n, &bad);
  assert_true(bad <= n);
  assert_int_equal(st, bad == n ? MW_OK : MW_EINVAL);
  return bad;
}

static void test_valid(void **state) {
  (void)state;
  static const char *ok[] = {
      "",
      "plain ascii",
      "caf\xc3\xa9",                  /* café */
      "\xf0\x9f\x98\x80 emoji",       /* U+1F600 */
      "\xc2\x80",                     /* U+0080, smallest 2-byte */
      "\xdf\xbf",                     /* U+07FF */
      "\xe0\xa0\x80",                 /* U+0800, smallest 3-byte */
      "\xed\x9f\xbf",                 /* U+D7FF, just below the surrogates */
      "\xee\x80\x80",                 /* U+E000, just above them */
      "\xef\xbf\xbd",                 /* U+FFFD itself */
      "\xef\xbf\xbf",                 /* U+FFFF */
      "\xf0\x90\x80\x80",             /* U+10000, smallest 4-byte */
      "\xf4\x8f\xbf\xbf",             /* U+10FFFF, the last code point */
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", /* 日本語 */
  };
  for(size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    size_t n = strlen(ok[i]);
    if(bad_at(ok[i], n) != n)
      fail_msg("case %zu should be valid", i);
  }
  /* A NUL byte is a character like any other (length, not strlen). */
  assert_int_equal(bad_at("a\0b", 3), 3);
  assert_int_equal(mw_utf8_check("x", 1, NULL), MW_OK);
}

static void test_invalid_offsets(void **state) {
  (void)state;
  static const struct {
    const char *bytes;
    const char *why;
  } bad[] = {
      {"\xc0\xaf", "overlong '/' in 2 bytes"},
      {"\xc1\xbf", "overlong U+007F"},
      {"\xe0\x80\xaf", "overlong '/' in 3 bytes"},
      {"\xe0\x9f\xbf", "overlong U+07FF"},
      {"\xf0\x80\x80\xaf", "overlong '/' in 4 bytes"},
      {"\xf0\x8f\xbf\xbf", "overlong U+FFFF"},
      {"\xed\xa0\x80", "U+D800 encoded"},
      {"\xed\xaf\xbf", "U+DBFF encoded"},
      {"\xed\xb0\x80", "U+DC00 encoded"},
      {"\xed\xbf\xbf", "U+DFFF encoded"},
      {"\xed\xa0\xbd\xed\xb8\x80", "CESU-8 surrogate pair"},
      {"\xf4\x90\x80\x80", "U+110000"},
      {"\xf5\x80\x80\x80", "lead byte F5"},
      {"\xf7\xbf\xbf\xbf", "U+1FFFFF"},
      {"\xf8\x88\x80\x80\x80", "5-byte form"},
      {"\xfc\x84\x80\x80\x80\x80", "6-byte form"},
      {"\xfe", "byte FE"},
      {"\xff", "byte FF"},
      {"\x80", "stray continuation 80"},
      {"\xbf", "stray continuation BF"},
      {"\xc3", "truncated 2-byte at the end"},
      {"\xe2\x82", "truncated 3-byte at the end"},
      {"\xf0\x9f\x98", "truncated 4-byte at the end"},
      {"\xe2\x82z", "3-byte cut by ASCII"},
      {"\xc3\xc3\xa9", "lead byte followed by a lead byte"},
      {"\xf0\x9f\x98\x80\x80", "emoji with one continuation too many"},
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    /* Prefixed by valid text: the offset is where the bad sequence starts
     * (the extra continuation byte of the last case comes after a valid
     * emoji). */
    char buf[64];
    int n = snprintf(buf, sizeof buf, "ab\xc3\xa9%s", bad[i].bytes);
    size_t want = strstr(bad[i].why, "one continuation too many") ? 8 : 4;
    size_t got = bad_at(buf, (size_t)n);
    if(got != want)
      fail_msg("%s: offset %zu, want %zu", bad[i].why, got, want);
  }
}

/* The eight-bytes-at-a-time ASCII skip must not step over a bad byte, nor
 * cut a valid sequence that straddles a word. */
static void test_fast_path_boundaries(void **state) {
  (void)state;
  char buf[48];
  for(size_t pos = 0; pos < 40; pos++) {
    memset(buf, 'a', sizeof buf);
    buf[pos] = (char)0xff;
    assert_int_equal(bad_at(buf, 40), pos);
    assert_int_equal(bad_at(buf, pos), pos); /* the bad byte just outside */
    memset(buf, 'a', sizeof buf);
    memcpy(buf + pos, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(bad_at(buf, 44), 44);
    assert_int_equal(bad_at(buf, pos + 3), pos); /* cut short */
  }
}

/* Every scalar value encodes and decodes back; every surrogate and every
 * value past U+10FFFF, written in the UTF-8 pattern, is refused. */
static void test_decode_encode_all(void **state) {
  (void)state;
  for(uint32_t cp = 0; cp <= 0x10ffff; cp++) {
    if(cp >= 0xd800 && cp <= 0xdfff)
      continue;
    char enc[4];
    size_t n = mw_utf8_encode(cp, enc);
    size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    uint32_t back = 0xffffffff;
    if(n != want || mw_utf8_decode((const unsigned char *)enc, n, &back) != n ||
       back != cp)
      fail_msg("U+%04X does not round-trip", (unsigned)cp);
    /* One byte short is truncated. */
    if(n > 1 && mw_utf8_decode((const unsigned char *)enc, n - 1, &back) != 0)
      fail_msg("U+%04X cut short was accepted", (unsigned)cp);
  }
  for(uint32_t cp = 0xd800; cp <= 0xdfff; cp++) {
    unsigned char s[3] = {(unsigned char)(0xe0 | cp >> 12),
                          (unsigned char)(0x80 | (cp >> 6 & 0x3f)),
                          (unsigned char)(0x80 | (cp & 0x3f))};
    uint32_t back = 7;
    assert_int_equal(mw_utf8_decode(s, 3, &back), 0);
    assert_int_equal(back, 7); /* left alone */
  }
  for(uint32_t cp = 0x110000; cp <= 0x1fffff; cp += 0x1001) {
    unsigned char s[4] = {(unsigned char)(0xf0 | cp >> 18),
                          (unsigned char)(0x80 | (cp >> 12 & 0x3f)),
                          (unsigned char)(0x80 | (cp >> 6 & 0x3f)),
                          (unsigned char)(0x80 | (cp & 0x3f))};
    uint32_t back;
    assert_int_equal(mw_utf8_decode(s, 4, &back), 0);
  }
  uint32_t cp;
  assert_int_equal(mw_utf8_decode((const unsigned char *)"a", 0, &cp), 0);
}

/* ------------------------------------------------- web_json_parse (cJSON) */

/* Parses text as a request body; returns the status and the code, message
 * and details.offset (-1 when absent) of a failure; *out as given. */
static int web_parse(const char *text, size_t len, cJSON **out, const char **code,
                     char *msg, size_t cap, double *offset) {
  cJSON *det = NULL;
  *code = NULL;
  msg[0] = '\0';
  int status = web_json_parse(text, len, 65536, out, code, msg, cap, &det);
  *offset = -1;
  const cJSON *o = det ? cJSON_GetObjectItemCaseSensitive(det, "offset") : NULL;
  if(cJSON_IsNumber(o))
    *offset = o->valuedouble;
  cJSON_Delete(det);
  return status;
}

static void test_web_refuses_invalid_utf8(void **state) {
  (void)state;
  static const char *bodies[] = {
      "{\"name\":\"caf\xe9\"}",          /* Latin-1 é */
      "{\"name\":\"\xc0\xaf\"}",         /* overlong */
      "{\"name\":\"\xed\xa0\x80\"}",     /* surrogate in UTF-8 */
      "{\"name\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
      "{\"name\":\"\xf0\x9f\x98\"}",     /* truncated */
      "{\"name\":\"\x80\"}",             /* stray continuation */
  };
  for(size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    cJSON *out = (cJSON *)1;
    const char *code;
    char msg[160];
    double off;
    int st = web_parse(bodies[i], strlen(bodies[i]), &out, &code, msg, sizeof msg, &off);
    assert_int_equal(st, 400);
    assert_null(out);
    assert_string_equal(code, "invalid_json");
    assert_non_null(strstr(msg, "UTF-8"));
    /* Every bad sequence starts right after {"name":" (or after "caf"). */
    double want = i == 0 ? 12 : 9;
    if(off != want)
      fail_msg("body %zu: offset %g, want %g", i, off, want);
    char at[40];
    snprintf(at, sizeof at, "offset %g", want);
    assert_non_null(strstr(msg, at));
  }
  /* In a key too, and before the nesting check: a body both too deep and
   * not UTF-8 is answered as not UTF-8. */
  cJSON *out;
  const char *code;
  char msg[160];
  double off;
  assert_int_equal(web_parse("{\"\xff\":1}", 7, &out, &code, msg, sizeof msg, &off), 400);
  assert_true(off == 2);
  char deep[200];
  memset(deep, '[', 100);
  deep[100] = (char)0xc3;
  assert_int_equal(web_parse(deep, 101, &out, &code, msg, sizeof msg, &off), 400);
  assert_string_equal(code, "invalid_json");
  assert_true(off == 100);
  /* web_json_utf8 alone: 0 and no details for valid text. */
  cJSON *det = (cJSON *)1;
  assert_int_equal(web_json_utf8("{}", 2, &code, msg, sizeof msg, &det), 0);
  assert_null(det);
}

static void test_web_keeps_valid_utf8(void **state) {
  (void)state;
  const char *body = "{\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80 \xe6\x97\xa5\","
                     "\"esc\":\"\\u00e9\\ud83d\\ude00\"}";
  cJSON *out = NULL;
  const char *code;
  char msg[160];
  double off;
  assert_int_equal(web_parse(body, strlen(body), &out, &code, msg, sizeof msg, &off), 0);
  assert_string_equal(mw_json_str(out, "caf\xc3\xa9"), "\xf0\x9f\x98\x80 \xe6\x97\xa5");
  assert_string_equal(mw_json_str(out, "esc"), "\xc3\xa9\xf0\x9f\x98\x80");
  cJSON_Delete(out);
}

/* Escapes that stand for a lone surrogate are refused (400 invalid_json,
 * as any syntax error): they name no character, and would turn into
 * CESU-8 bytes that the UTF-8 check refuses when written raw. */
static const char *lone_surrogates[] = {
    "{\"a\":\"\\ud800\"}",          /* high, then the end of the string */
    "{\"a\":\"\\udbff x\"}",        /* high, then text */
    "{\"a\":\"\\ud800\\u0041\"}",   /* high, then a non-surrogate escape */
    "{\"a\":\"\\ud800\\ud800\"}",   /* two highs */
    "{\"a\":\"\\udc00\"}",          /* low alone */
    "{\"a\":\"\\udfff\\ud800\"}",   /* a pair in the wrong order */
};

static void test_web_refuses_lone_surrogates(void **state) {
  (void)state;
  for(size_t i = 0; i < sizeof lone_surrogates / sizeof lone_surrogates[0]; i++) {
    cJSON *out = NULL;
    const char *code;
    char msg[160];
    double off;
    int st = web_parse(lone_surrogates[i], strlen(lone_surrogates[i]), &out, &code, msg,
                       sizeof msg, &off);
    if(st != 400 || out || strcmp(code, "invalid_json"))
      fail_msg("%s: status %d", lone_surrogates[i], st);
  }
}

/* -------------------------------------------------- mon_doc_parse (ingest) */

/* Runs mon_doc_parse on a copy of text (it decodes in place). Returns the
 * status; *off the error offset. On success the string at key "a" of the
 * root is copied to got (cap bytes). */
static mw_status doc_parse(const char *text, size_t len, size_t *off, char *got,
                           size_t cap) {
  char *copy = malloc(len + 1);
  assert_non_null(copy);
  memcpy(copy, text, len);
  copy[len] = '\0';
  mon_doc *doc = NULL;
  int why = -1;
  mw_status st = mon_doc_parse(copy, len, NULL, &doc, &why, off);
  if(st) {
    assert_null(doc);
    assert_int_equal(why, MON_DOC_SYNTAX);
  } else if(got) {
    const char *a = mw_json_str(mon_doc_root(doc), "a");
    mw_strlcpy(got, a ? a : "(none)", cap);
  }
  mon_doc_free(doc);
  free(copy);
  return st;
}

static void test_doc_refuses_invalid_utf8(void **state) {
  (void)state;
  static const char *bad[] = {"\xe9", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                              "\xf0\x9f\x98", "\x80", "\xff"};
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    /* In a value after valid text, in a key, and after an escape (the
     * string is decoded in place, so the offset is of the source). */
    char text[64];
    size_t off = 0;
    int n = snprintf(text, sizeof text, "{\"a\":\"ok \xc3\xa9%s\"}", bad[i]);
    assert_int_equal(doc_parse(text, (size_t)n, &off, NULL, 0), MW_EINVAL);
    if(off != 11)
      fail_msg("value %zu: offset %zu, want 11", i, off);
    n = snprintf(text, sizeof text, "{\"k%s\":1}", bad[i]);
    assert_int_equal(doc_parse(text, (size_t)n, &off, NULL, 0), MW_EINVAL);
    assert_int_equal(off, 3);
    n = snprintf(text, sizeof text, "{\"a\":\"\\n\\u00e9%s\"}", bad[i]);
    assert_int_equal(doc_parse(text, (size_t)n, &off, NULL, 0), MW_EINVAL);
    assert_int_equal(off, 14);
  }
  /* Outside strings a non-ASCII byte is a syntax error anyway. */
  size_t off;
  assert_int_equal(doc_parse("{\"a\":\xc3\xa9}", 8, &off, NULL, 0), MW_EINVAL);
}

static void test_doc_keeps_valid_utf8_and_refuses_lone_surrogates(void **state) {
  (void)state;
  char got[64];
  size_t off;
  const char *t = "{\"a\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\\u00e9\\ud83d\\ude00\\uDBFF\\uDFFF\"}";
  assert_int_equal(doc_parse(t, strlen(t), &off, got, sizeof got), MW_OK);
  assert_string_equal(got,
                      "caf\xc3\xa9 \xf0\x9f\x98\x80\xc3\xa9\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
  for(size_t i = 0; i < sizeof lone_surrogates / sizeof lone_surrogates[0]; i++)
    if(doc_parse(lone_surrogates[i], strlen(lone_surrogates[i]), &off, NULL, 0) !=
       MW_EINVAL)
      fail_msg("%s was accepted", lone_surrogates[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),
      cmocka_unit_test(test_invalid_offsets),
      cmocka_unit_test(test_fast_path_boundaries),
      cmocka_unit_test(test_decode_encode_all),
      cmocka_unit_test(test_web_refuses_invalid_utf8),
      cmocka_unit_test(test_web_keeps_valid_utf8),
      cmocka_unit_test(test_web_refuses_lone_surrogates),
      cmocka_unit_test(test_doc_refuses_invalid_utf8),
      cmocka_unit_test(test_doc_keeps_valid_utf8_and_refuses_lone_surrogates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
