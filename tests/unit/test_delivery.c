/* Unit tests of the delivery half of alerts/: Retry-After parsing, the
 * backoff schedule and its jitter, the retry/dead decisions, UTF-8
 * truncation, every channel's payload (valid JSON, required fields,
 * Discord's limits), and claiming outbox rows on a real SQLite file with
 * two connections. (The egress address policy is core's:
 * tests/unit/test_url.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/db_sqlite.h"
#include "alerts/internal.h"

/* 1994-11-06T08:49:37Z, the RFC's example date. */
#define RFC_DATE_MS 784111777000LL

/* ------------------------------------------------------- Retry-After */

static void test_retry_after_seconds(void **state) {
  (void)state;
  int64_t d = -1;
  assert_int_equal(alert__retry_after_parse("2", 0, &d), MW_OK);
  assert_int_equal(d, 2000);
  assert_int_equal(alert__retry_after_parse("  120 \r\n", 0, &d), MW_OK);
  assert_int_equal(d, 120000);
  assert_int_equal(alert__retry_after_parse("0", 0, &d), MW_OK);
  assert_int_equal(d, 0);
  /* Absurd values are capped at 30 days, not overflowed. */
  assert_int_equal(alert__retry_after_parse("99999999999999999999999", 0, &d),
                   MW_OK);
  assert_int_equal(d, 30LL * 86400 * 1000);
}

static void test_retry_after_http_date(void **state) {
  (void)state;
  int64_t d = -1;
  /* IMF-fixdate, 3 s ahead of now. */
  assert_int_equal(
      alert__retry_after_parse("Sun, 06 Nov 1994 08:49:40 GMT", RFC_DATE_MS, &d),
      MW_OK);
  assert_int_equal(d, 3000);
  /* RFC 850 and asctime forms of the same instant. */
  assert_int_equal(
      alert__retry_after_parse("Sunday, 06-Nov-94 08:49:47 GMT", RFC_DATE_MS, &d),
      MW_OK);
  assert_int_equal(d, 10000);
  assert_int_equal(
      alert__retry_after_parse("Sun Nov  6 08:50:37 1994", RFC_DATE_MS, &d), MW_OK);
  assert_int_equal(d, 60000);
  /* A date in the past means now. */
  assert_int_equal(
      alert__retry_after_parse("Sun, 06 Nov 1994 08:49:00 GMT", RFC_DATE_MS, &d),
      MW_OK);
  assert_int_equal(d, 0);
  /* Sub-second now: the delay is measured from it exactly. */
  assert_int_equal(alert__retry_after_parse("Sun, 06 Nov 1994 08:49:40 GMT",
                                            RFC_DATE_MS + 400, &d),
                   MW_OK);
  assert_int_equal(d, 2600);
}

static void test_retry_after_garbage(void **state) {
  (void)state;
  const char *bad[] = {
      "",
      "   ",
      "abc",
      "-1",
      "1.5",
      "2 s",
      "0x10",
      "+3",
      "Sun, 06 Nov 1994 08:49:37 UTC", /* must be GMT */
      "Sun, 32 Nov 1994 08:49:37 GMT", /* no such day */
      "Sun, 06 Foo 1994 08:49:37 GMT", /* no such month */
      "Sun, 06 Nov 1994 25:49:37 GMT", /* no such hour */
      "Sun, 6 Nov 1994 08:49:37 GMT",  /* two-digit day required */
      "Sun, 06 Nov 1994 08:49:37 GMT x",
      "06 Nov 1994 08:49:37 GMT",
      "Sun Nov 06 08:49:37",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t d = 77;
    if(alert__retry_after_parse(bad[i], RFC_DATE_MS, &d) != MW_EINVAL)
      fail_msg("accepted Retry-After '%s'", bad[i]);
    assert_int_equal(d, 77); /* untouched on failure */
  }
  int64_t d;
  assert_int_equal(alert__retry_after_parse(NULL, 0, &d), MW_EINVAL);
}

/* ------------------------------------------------------------ backoff */

static void test_backoff_schedule_and_jitter(void **state) {
  (void)state;
  /* Standard Webhooks: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
  const int64_t want[] = {5000,     300000,   1800000,  7200000, 18000000,
                          36000000, 36000000, 36000000, 36000000};
  for(int n = 1; n <= 9; n++)
    assert_int_equal(alert__backoff_base_ms(n), want[n - 1]);
  assert_int_equal(alert__backoff_base_ms(0), 5000);
  int64_t total = 0;
  for(int n = 1; n <= 7; n++)
    total += alert__backoff_base_ms(n);
  /* The 8 attempts of the default budget span about 27.6 hours. */
  assert_int_equal(total, 99305000);
  uint64_t x = 88172645463325252ULL;
  for(int n = 1; n <= 9; n++) {
    int64_t base = alert__backoff_base_ms(n), lo = base, hi = 0;
    assert_int_equal(alert__backoff_ms(n, 0), 1000);
    assert_true(alert__backoff_ms(n, UINT64_MAX) <= base);
    for(int i = 0; i < 2000; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      int64_t d = alert__backoff_ms(n, x);
      assert_true(d >= 1000 && d <= base);
      lo = d < lo ? d : lo;
      hi = d > hi ? d : hi;
    }
    /* Full jitter: the draws cover most of [1 s, base]. */
    assert_true(lo < 1000 + (base - 1000) / 10);
    assert_true(hi > base - (base - 1000) / 10);
  }
}

static void test_classify(void **state) {
  (void)state;
  long ok[] = {200, 201, 202, 204, 299};
  for(size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    assert_int_equal(alert__classify(ok[i], CURLE_OK, 0), ALERT__DELIVERED);
  long retry[] = {500, 502, 503, 504, 599, 408, 429};
  for(size_t i = 0; i < sizeof retry / sizeof retry[0]; i++)
    assert_int_equal(alert__classify(retry[i], CURLE_OK, 0), ALERT__RETRY);
  long perm[] = {400, 401, 403, 404, 409, 410, 413, 422, 301, 302, 307, 100};
  for(size_t i = 0; i < sizeof perm / sizeof perm[0]; i++)
    assert_int_equal(alert__classify(perm[i], CURLE_OK, 0), ALERT__PERMANENT);
  assert_int_equal(alert__classify(0, CURLE_COULDNT_CONNECT, 0), ALERT__RETRY);
  assert_int_equal(alert__classify(0, CURLE_OPERATION_TIMEDOUT, 0), ALERT__RETRY);
  assert_int_equal(alert__classify(0, CURLE_COULDNT_RESOLVE_HOST, 0), ALERT__RETRY);
  assert_int_equal(alert__classify(0, CURLE_RECV_ERROR, 0), ALERT__RETRY);
  assert_int_equal(alert__classify(0, CURLE_URL_MALFORMAT, 0), ALERT__PERMANENT);
  assert_int_equal(alert__classify(0, CURLE_UNSUPPORTED_PROTOCOL, 0),
                   ALERT__PERMANENT);
  /* Refused by the egress policy: never retried, whatever curl said. */
  assert_int_equal(alert__classify(0, CURLE_COULDNT_CONNECT, 1), ALERT__PERMANENT);
}

static void test_plan_next(void **state) {
  (void)state;
  struct alert_delivery_opts o = {
      .concurrency = 4, .max_attempts = 8, .max_age_ms = 3LL * 86400 * 1000};
  struct alert__plan p;
  int64_t t0 = 1000000000000LL, now = t0 + 10;
  alert__plan_next(&o, ALERT__DELIVERED, 1, t0, now, -1, 5, &p);
  assert_string_equal(p.state, "delivered");
  alert__plan_next(&o, ALERT__PERMANENT, 1, t0, now, -1, 5, &p);
  assert_string_equal(p.state, "dead");
  alert__plan_next(&o, ALERT__RETRY, 1, t0, now, -1, 123456, &p);
  assert_string_equal(p.state, "failed");
  assert_true(p.next_attempt_at >= now + 1000 && p.next_attempt_at <= now + 5000);
  alert__plan_next(&o, ALERT__RETRY, 3, t0, now, -1, 123456, &p);
  assert_true(p.next_attempt_at >= now + 1000 && p.next_attempt_at <= now + 1800000);
  /* Retry-After wins over the schedule, in both directions. */
  alert__plan_next(&o, ALERT__RETRY, 1, t0, now, 2000, 0, &p);
  assert_string_equal(p.state, "failed");
  assert_int_equal(p.next_attempt_at, now + 2000);
  alert__plan_next(&o, ALERT__RETRY, 1, t0, now, 60000, 0, &p);
  assert_int_equal(p.next_attempt_at, now + 60000);
  alert__plan_next(&o, ALERT__RETRY, 1, t0, now, 0, 0, &p);
  assert_int_equal(p.next_attempt_at, now + 1000);
  /* The 8th failed attempt is the last. */
  alert__plan_next(&o, ALERT__RETRY, 7, t0, now, -1, 1, &p);
  assert_string_equal(p.state, "failed");
  alert__plan_next(&o, ALERT__RETRY, 8, t0, now, -1, 1, &p);
  assert_string_equal(p.state, "dead");
  assert_non_null(strstr(p.why, "8 attempts"));
  /* Age: a Retry-After that lands past the maximum age ends it. */
  alert__plan_next(&o, ALERT__RETRY, 2, t0, t0 + 2LL * 86400 * 1000,
                   2LL * 86400 * 1000, 0, &p);
  assert_string_equal(p.state, "dead");
  assert_non_null(strstr(p.why, "maximum age"));
}

/* ------------------------------------------------------------- UTF-8 */

/* 1 if s is valid UTF-8 (no overlongs, surrogates or stray bytes). */
static int utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while(*p) {
    if(*p < 0x80) {
      p++;
      continue;
    }
    int n = (*p & 0xe0) == 0xc0   ? 2
            : (*p & 0xf0) == 0xe0 ? 3
            : (*p & 0xf8) == 0xf0 ? 4
                                  : 0;
    if(!n)
      return 0;
    uint32_t v = *p & (0x7f >> n);
    for(int i = 1; i < n; i++) {
      if((p[i] & 0xc0) != 0x80)
        return 0;
      v = v << 6 | (p[i] & 0x3f);
    }
    uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if(v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
      return 0;
    p += n;
  }
  return 1;
}

static void append_cut(const char *s, size_t max, char *out, size_t cap) {
  mw_buf b;
  mw_buf_init(&b, 1 << 20);
  assert_int_equal(alert__utf8_append(&b, s, max), MW_OK);
  mw_strlcpy(out, b.data ? b.data : "", cap);
  mw_buf_free(&b);
}

static void test_utf8_truncation(void **state) {
  (void)state;
  char out[256];
  append_cut("hello", 5, out, sizeof out);
  assert_string_equal(out, "hello");
  append_cut("hello!", 5, out, sizeof out);
  assert_string_equal(out, "hell\xe2\x80\xa6");
  append_cut("h\xc3\xa9llo", 3, out, sizeof out); /* héllo */
  assert_string_equal(out, "h\xc3\xa9\xe2\x80\xa6");
  /* An emoji is two UTF-16 units: it does not fit in one slot. */
  append_cut("a\xf0\x9f\x98\x80"
             "b",
             3, out, sizeof out);
  assert_string_equal(out, "a\xe2\x80\xa6");
  append_cut("a\xf0\x9f\x98\x80", 3, out, sizeof out);
  assert_string_equal(out, "a\xf0\x9f\x98\x80");
  assert_int_equal(alert__utf16_len("a\xf0\x9f\x98\x80\xc3\xa9"), 4);
  /* Invalid bytes become U+FFFD; overlong and surrogate forms too. */
  append_cut("a\xff"
             "b\xc0\xaf"
             "c\xed\xa0\x80",
             100, out, sizeof out);
  assert_true(utf8_valid(out));
  assert_non_null(strstr(out, "\xef\xbf\xbd"));
  assert_int_equal(out[0], 'a');
  /* A cut in the middle of a truncated multibyte sequence stays valid. */
  append_cut("abc\xe2\x82", 10, out, sizeof out);
  assert_true(utf8_valid(out));
  append_cut("anything", 0, out, sizeof out);
  assert_string_equal(out, "");
}

/* ---------------------------------------------------------- payloads */

struct sample {
  cJSON *labels[3];
  cJSON *ann[3];
  struct alert_notice a[3];
  struct alert_group_notice g;
};

static void sample_init(struct sample *s, size_t n, const char *long_label) {
  memset(s, 0, sizeof *s);
  for(size_t i = 0; i < n; i++) {
    s->labels[i] = cJSON_CreateObject();
    cJSON_AddStringToObject(s->labels[i], "alertname", "drift-high");
    cJSON_AddStringToObject(s->labels[i], "severity", "critical");
    cJSON_AddStringToObject(s->labels[i], "column", i ? "country" : "age");
    cJSON_AddStringToObject(s->labels[i], "team", "risk & <fraud>");
    if(long_label)
      cJSON_AddStringToObject(s->labels[i], "note", long_label);
    s->ann[i] = cJSON_CreateObject();
    cJSON_AddStringToObject(s->ann[i], "summary", "PSI of age went up");
    struct alert_notice *a = &s->a[i];
    a->status = i == 2 ? "resolved" : "firing";
    a->labels = s->labels[i];
    a->annotations = s->ann[i];
    a->starts_at_ms = 1795766400000LL;
    a->ends_at_ms = i == 2 ? 1795766460000LL : 0;
    a->rule = "drift-high";
    a->model = "fraud";
    a->version = 2;
    a->alias = "production";
    a->metric = i ? "country.psi" : "age.psi";
    a->op = ">";
    a->value = 0.3125;
    a->threshold = 0.2;
    a->state = a->status;
    a->dashboard_url = "http://mw.example/#/models/fraud";
  }
  s->g.external_url = "http://mw.example";
  s->g.alerts = s->a;
  s->g.nalerts = n;
}

static void sample_free(struct sample *s) {
  for(int i = 0; i < 3; i++) {
    cJSON_Delete(s->labels[i]);
    cJSON_Delete(s->ann[i]);
  }
}

/* Builds, prints and parses back: the payload is valid JSON and UTF-8. */
static cJSON *build(const char *type, const struct alert_group_notice *g,
                    char **text) {
  cJSON *p = NULL;
  assert_int_equal(alert_payload_build(type, "ops", g, &p), MW_OK);
  char *t = cJSON_PrintUnformatted(p);
  assert_non_null(t);
  if(!utf8_valid(t))
    fail_msg("%s payload is not valid UTF-8", type);
  cJSON *back = cJSON_Parse(t);
  assert_non_null(back);
  cJSON_Delete(p);
  if(text)
    *text = t;
  else
    free(t);
  return back;
}

static const char *str_at(const cJSON *o, const char *key) {
  const char *s = mw_json_str(o, key);
  if(!s)
    fail_msg("missing string %s", key);
  return s;
}

static void test_payload_webhook(void **state) {
  (void)state;
  struct sample s;
  sample_init(&s, 3, NULL);
  cJSON *w = build("webhook", &s.g, NULL);
  assert_string_equal(str_at(w, "version"), "4");
  assert_string_equal(str_at(w, "status"), "firing");
  assert_string_equal(str_at(w, "receiver"), "ops");
  assert_string_equal(str_at(w, "groupKey"), "{}:{}");
  assert_string_equal(str_at(w, "externalURL"), "http://mw.example");
  assert_true(cJSON_IsObject(cJSON_GetObjectItem(w, "groupLabels")));
  /* commonLabels: what every alert shares (column differs). */
  cJSON *cl = cJSON_GetObjectItem(w, "commonLabels");
  assert_string_equal(str_at(cl, "alertname"), "drift-high");
  assert_null(cJSON_GetObjectItem(cl, "column"));
  cJSON *ca = cJSON_GetObjectItem(w, "commonAnnotations");
  assert_string_equal(str_at(ca, "summary"), "PSI of age went up");
  cJSON *alerts = cJSON_GetObjectItem(w, "alerts");
  assert_int_equal(cJSON_GetArraySize(alerts), 3);
  cJSON *a0 = cJSON_GetArrayItem(alerts, 0), *a2 = cJSON_GetArrayItem(alerts, 2);
  assert_string_equal(str_at(a0, "status"), "firing");
  assert_string_equal(str_at(a0, "startsAt"), "2026-11-27T08:00:00.000Z");
  assert_string_equal(str_at(a0, "endsAt"), "0001-01-01T00:00:00Z");
  assert_string_equal(str_at(a2, "status"), "resolved");
  assert_string_equal(str_at(a2, "endsAt"), "2026-11-27T08:01:00.000Z");
  assert_int_equal(strlen(str_at(a0, "fingerprint")), 16);
  /* Same labels, same fingerprint; different labels, different one. */
  assert_string_not_equal(str_at(a0, "fingerprint"),
                          str_at(cJSON_GetArrayItem(alerts, 1), "fingerprint"));
  assert_non_null(cJSON_GetObjectItem(a0, "generatorURL"));
  assert_string_equal(str_at(cJSON_GetObjectItem(a0, "labels"), "team"),
                      "risk & <fraud>");
  cJSON *mw = cJSON_GetObjectItem(a0, "modelwatch");
  assert_string_equal(str_at(mw, "model"), "fraud");
  assert_int_equal(cJSON_GetObjectItem(mw, "version")->valueint, 2);
  assert_string_equal(str_at(mw, "metric"), "age.psi");
  assert_true(fabs(cJSON_GetObjectItem(mw, "value")->valuedouble - 0.3125) < 1e-12);
  assert_true(fabs(cJSON_GetObjectItem(mw, "threshold")->valuedouble - 0.2) < 1e-12);
  assert_string_equal(str_at(mw, "state"), "firing");
  assert_string_equal(str_at(mw, "dashboardURL"),
                      "http://mw.example/#/models/fraud");
  cJSON_Delete(w);
  /* All resolved -> group resolved; explicit group key and labels kept. */
  s.a[0].status = s.a[1].status = "resolved";
  cJSON *gl = cJSON_CreateObject();
  cJSON_AddStringToObject(gl, "model", "fraud");
  s.g.group_labels = gl;
  w = build("webhook", &s.g, NULL);
  assert_string_equal(str_at(w, "status"), "resolved");
  assert_string_equal(str_at(w, "groupKey"), "{}:{model=\"fraud\"}");
  cJSON_Delete(w);
  s.g.group_labels = NULL;
  cJSON_Delete(gl);
  /* NaN value (no data) is null, not an invalid number. */
  s.a[0].value = NAN;
  w = build("webhook", &s.g, NULL);
  cJSON *v = cJSON_GetObjectItem(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(w, "alerts"), 0),
                          "modelwatch"),
      "value");
  assert_true(cJSON_IsNull(v));
  cJSON_Delete(w);
  sample_free(&s);
}

/* Every chat payload names model, version, metric, value, threshold, state
 * and links the dashboard somewhere in its text. */
static void assert_names_facts(const char *text) {
  const char *needles[] = {"fraud",
                           "2",
                           "age.psi",
                           "0.3125",
                           "0.2",
                           "firing",
                           "http://mw.example/#/models/fraud"};
  for(size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
    if(!strstr(text, needles[i]))
      fail_msg("payload does not name '%s': %.300s", needles[i], text);
}

static void test_payload_slack_mattermost_teams(void **state) {
  (void)state;
  struct sample s;
  sample_init(&s, 2, NULL);
  char *text;
  cJSON *p = build("slack", &s.g, &text);
  assert_names_facts(text);
  free(text);
  assert_non_null(strstr(str_at(p, "text"), "[FIRING:2]"));
  cJSON *blocks = cJSON_GetObjectItem(p, "blocks");
  assert_true(cJSON_IsArray(blocks) && cJSON_GetArraySize(blocks) <= 50);
  cJSON *hdr = cJSON_GetArrayItem(blocks, 0);
  assert_string_equal(str_at(hdr, "type"), "header");
  assert_true(alert__utf16_len(str_at(cJSON_GetObjectItem(hdr, "text"), "text")) <=
              150);
  cJSON *sec = cJSON_GetArrayItem(blocks, 1);
  assert_string_equal(str_at(sec, "type"), "section");
  cJSON *fields = cJSON_GetObjectItem(sec, "fields");
  assert_true(cJSON_GetArraySize(fields) >= 6 && cJSON_GetArraySize(fields) <= 10);
  char *ft = cJSON_PrintUnformatted(fields);
  /* mrkdwn escapes user text. */
  assert_null(strstr(ft, "<fraud>"));
  free(ft);
  cJSON *last = cJSON_GetArrayItem(blocks, cJSON_GetArraySize(blocks) - 1);
  assert_string_equal(str_at(last, "type"), "actions");
  cJSON_Delete(p);

  p = build("mattermost", &s.g, &text);
  assert_names_facts(text);
  free(text);
  assert_true(strlen(str_at(p, "text")) > 0);
  cJSON *atts = cJSON_GetObjectItem(p, "attachments");
  assert_int_equal(cJSON_GetArraySize(atts), 2);
  cJSON *a0 = cJSON_GetArrayItem(atts, 0);
  assert_string_equal(str_at(a0, "color"), "#d00000");
  assert_string_equal(str_at(a0, "title_link"), "http://mw.example/#/models/fraud");
  assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(a0, "fields")) >= 6);
  cJSON_Delete(p);

  p = build("teams", &s.g, &text);
  assert_names_facts(text);
  free(text);
  assert_string_equal(str_at(p, "type"), "message");
  cJSON *att = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "attachments"), 0);
  assert_string_equal(str_at(att, "contentType"),
                      "application/vnd.microsoft.card.adaptive");
  cJSON *card = cJSON_GetObjectItem(att, "content");
  assert_string_equal(str_at(card, "type"), "AdaptiveCard");
  assert_non_null(mw_json_str(card, "version"));
  assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(card, "body")) >= 3);
  cJSON *act = cJSON_GetArrayItem(cJSON_GetObjectItem(card, "actions"), 0);
  assert_string_equal(str_at(act, "type"), "Action.OpenUrl");
  cJSON_Delete(p);

  /* Errors: unknown type, no alerts. */
  cJSON *out = (cJSON *)1;
  assert_int_equal(alert_payload_build("pager", "x", &s.g, &out), MW_EINVAL);
  assert_null(out);
  struct alert_group_notice empty = {0};
  assert_int_equal(alert_payload_build("slack", "x", &empty, &out), MW_EINVAL);
  assert_true(alert_channel_type_valid("discord"));
  assert_true(alert_channel_type_valid("email"));
  assert_false(alert_channel_type_valid("Discord"));
  assert_false(alert_channel_type_valid(NULL));
  sample_free(&s);
}

static void check_discord_limits(cJSON *p) {
  assert_true(alert__utf16_len(str_at(p, "content")) <= 2000);
  cJSON *embeds = cJSON_GetObjectItem(p, "embeds");
  assert_int_equal(cJSON_GetArraySize(embeds), 1);
  cJSON *e = cJSON_GetArrayItem(embeds, 0);
  size_t title = alert__utf16_len(str_at(e, "title"));
  size_t desc = alert__utf16_len(str_at(e, "description"));
  assert_true(title <= 256);
  assert_true(desc <= 4096);
  cJSON *fields = cJSON_GetObjectItem(e, "fields");
  assert_true(cJSON_GetArraySize(fields) <= 25);
  size_t total = title + desc +
                 alert__utf16_len(str_at(cJSON_GetObjectItem(e, "footer"), "text"));
  const cJSON *f;
  cJSON_ArrayForEach(f, fields) {
    size_t n = alert__utf16_len(str_at(f, "name"));
    size_t v = alert__utf16_len(str_at(f, "value"));
    assert_true(n >= 1 && n <= 256);
    assert_true(v >= 1 && v <= 1024);
    total += n + v;
  }
  assert_true(total <= 6000);
}

static void test_payload_discord_limits(void **state) {
  (void)state;
  struct sample s;
  sample_init(&s, 2, NULL);
  char *text;
  cJSON *p = build("discord", &s.g, &text);
  assert_names_facts(text);
  free(text);
  check_discord_limits(p);
  cJSON *am = cJSON_GetObjectItem(p, "allowed_mentions");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(am, "parse")), 0);
  cJSON_Delete(p);
  sample_free(&s);

  /* A very long multibyte label, 40 more labels and a long rule name. */
  size_t n = 20000;
  char *big = malloc(n * 4 + 1), *q = big;
  for(size_t i = 0; i < n; i++) {
    /* "é" and "😀" alternately: 2- and 4-byte sequences, 1 and 2 units. */
    if(i % 2) {
      memcpy(q, "\xf0\x9f\x98\x80", 4);
      q += 4;
    } else {
      memcpy(q, "\xc3\xa9", 2);
      q += 2;
    }
  }
  *q = 0;
  sample_init(&s, 3, big);
  for(int i = 0; i < 40; i++) {
    char k[16];
    snprintf(k, sizeof k, "l%02d", i);
    cJSON_AddStringToObject(s.labels[0], k, big);
  }
  s.a[0].rule = big;
  s.a[0].model = big;
  cJSON *gl = cJSON_CreateObject();
  cJSON_AddStringToObject(gl, "alertname", big);
  s.g.group_labels = gl;
  p = build("discord", &s.g, NULL);
  check_discord_limits(p);
  cJSON_Delete(p);
  /* The other types stay valid and bounded too. */
  const char *types[] = {"slack", "mattermost", "teams", "webhook"};
  for(size_t i = 0; i < 4; i++) {
    char *t;
    cJSON *x = build(types[i], &s.g, &t);
    if(strcmp(types[i], "webhook"))
      assert_true(strlen(t) < 200000);
    free(t);
    cJSON_Delete(x);
  }
  cJSON_Delete(gl);
  free(big);
  sample_free(&s);
}

/* ------------------------------------------------------------ story */

/* What a rule's action did, in one line (alert__action_text). */
static void test_action_text(void **state) {
  (void)state;
  char out[ALERT__ACTION_TEXT];
  alert__action_text("{\"action\":\"rollback\",\"alias\":\"production\",\"status\":"
                     "\"done\",\"result\":{\"alias\":\"production\",\"version\":1,"
                     "\"previous_version\":2}}",
                     out, sizeof out);
  assert_string_equal(out, "rolled production back v2 -> v1");
  /* Stored before the alias was kept at the top: taken from the result. */
  alert__action_text("{\"action\":\"rollback\",\"status\":\"done\",\"result\":"
                     "{\"alias\":\"prod\",\"version\":3}}",
                     out, sizeof out);
  assert_string_equal(out, "rolled prod back to v3");
  alert__action_text("{\"action\":\"rollback\",\"alias\":\"production\",\"status\":"
                     "\"skipped\",\"code\":\"not_approved\",\"message\":\"version 1 "
                     "is not approved\"}",
                     out, sizeof out);
  assert_string_equal(out, "did not roll production back: refused, not approved - "
                           "version 1 is not approved");
  alert__action_text("{\"action\":\"rollback\",\"alias\":\"production\",\"status\":"
                     "\"skipped\",\"code\":\"conflict\",\"message\":\"alias "
                     "'production' has no earlier version to roll back to\"}",
                     out, sizeof out);
  assert_string_equal(out, "did not roll production back: nothing older to roll "
                           "back to - alias 'production' has no earlier version "
                           "to roll back to");
  alert__action_text("{\"action\":\"rollback\",\"status\":\"skipped\",\"code\":"
                     "\"unavailable\",\"message\":\"database busy\"}",
                     out, sizeof out);
  assert_string_equal(out, "did not roll back: error - database busy");
  /* No action, or nothing readable: nothing to say. */
  alert__action_text(NULL, out, sizeof out);
  assert_string_equal(out, "");
  alert__action_text("not json", out, sizeof out);
  assert_string_equal(out, "");
  alert__action_text("{\"status\":\"done\"}", out, sizeof out);
  assert_string_equal(out, "");
  /* Cut to the room given. */
  char small[12];
  alert__action_text("{\"action\":\"rollback\",\"alias\":\"production\",\"status\":"
                     "\"done\",\"result\":{\"version\":1,\"previous_version\":2}}",
                     small, sizeof small);
  assert_string_equal(small, "rolled prod");
}

/* An episode of a group as the flush reads it. */
static void member(struct alert__member *m, int64_t id, int firing, int told_fired,
                   double fired_value, double latest) {
  memset(m, 0, sizeof *m);
  m->id = id;
  m->firing = firing;
  m->told_fired = told_fired;
  snprintf(m->rule, sizeof m->rule, "rule-%lld", (long long)id);
  mw_strlcpy(m->model, "fraud", sizeof m->model);
  mw_strlcpy(m->alias, "production", sizeof m->alias);
  mw_strlcpy(m->metric, "dataset_drift_share", sizeof m->metric);
  mw_strlcpy(m->op, ">=", sizeof m->op);
  mw_strlcpy(m->severity, "critical", sizeof m->severity);
  snprintf(m->fingerprint, sizeof m->fingerprint, "%016llx", (unsigned long long)id);
  m->version = 2;
  m->started = 1795766400000LL;
  m->fired = 1795766400000LL;
  m->resolved = firing ? 0 : 1795766401000LL;
  m->value = latest;
  m->threshold = 0.5;
  m->fired_value = fired_value;
  m->resolved_value = firing ? NAN : 0;
  m->resolved_version = firing ? 0 : 1;
}

/* Which notices a group tells (alert__group_notices): firing first, an
 * episode that fired and resolved before the channel heard of it as its
 * firing and then its resolution, each with the value it fired with. */
static void test_group_notices(void **state) {
  (void)state;
  struct alert__member m[4];
  member(&m[0], 1, 0, 1, 0.9, 0.1);  /* resolved, its firing was told */
  member(&m[1], 2, 1, 1, 0.8, 0.95); /* fires; latest value differs */
  member(&m[2], 3, 0, 0, 0.7, 0);    /* fired and resolved unheard of */
  member(&m[3], 4, 1, 0, NAN, 0.6);  /* fired before 0018: no fired value */
  mw_strlcpy(m[2].action, "rolled production back v2 -> v1", sizeof m[2].action);
  struct alert_notice n[8];
  size_t k = alert__group_notices(m, 4, "http://mw/#/models/fraud", n);
  assert_int_equal(k, 5);
  const char *want_rule[] = {"rule-2", "rule-3", "rule-4", "rule-1", "rule-3"};
  const char *want_status[] = {"firing", "firing", "firing", "resolved", "resolved"};
  const double want_value[] = {0.8, 0.7, 0.6, 0.9, 0.7};
  for(size_t i = 0; i < k; i++) {
    assert_string_equal(n[i].rule, want_rule[i]);
    assert_string_equal(n[i].status, want_status[i]);
    assert_string_equal(n[i].state, want_status[i]);
    assert_true(fabs(n[i].value - want_value[i]) < 1e-12);
    assert_string_equal(n[i].dashboard_url, "http://mw/#/models/fraud");
  }
  /* The firing told late knows it is over; the one still firing does not. */
  assert_int_equal(n[0].resolved_since_ms, 0);
  assert_int_equal(n[1].resolved_since_ms, 1795766401000LL);
  assert_int_equal(n[1].ends_at_ms, 0);
  assert_string_equal(n[1].action, "rolled production back v2 -> v1");
  assert_null(n[0].action);
  /* A resolution: what it resolved with, on which version, and when. */
  assert_true(n[4].has_resolved_value && n[4].resolved_value == 0);
  assert_int_equal(n[4].resolved_version, 1);
  assert_int_equal(n[4].ends_at_ms, 1795766401000LL);
  assert_string_equal(n[4].action, "rolled production back v2 -> v1");
  assert_int_equal(alert__group_notices(m, 0, "", n), 0);
}

/* Firing first, whatever order they come in (alert__notices_order). */
static void test_notices_order(void **state) {
  (void)state;
  struct alert_notice in[5], out[5];
  memset(in, 0, sizeof in);
  const char *st[] = {"resolved", "firing", "resolved", NULL, "firing"};
  const char *rules[] = {"a", "b", "c", "d", "e"};
  for(int i = 0; i < 5; i++) {
    in[i].status = st[i];
    in[i].rule = rules[i];
  }
  in[3].state = "firing"; /* no status: its state says */
  alert__notices_order(in, 5, out);
  const char *want[] = {"b", "d", "e", "a", "c"};
  for(int i = 0; i < 5; i++)
    assert_string_equal(out[i].rule, want[i]);
}

/* The group of make demo: a rule with its rollback fired at 0.8 and
 * resolved (on v1, at 0) within the group wait. Every channel kind tells
 * the firing with its value and what the rollback did, title first. */
static void test_payload_tells_the_story(void **state) {
  (void)state;
  struct alert__member m[1];
  member(&m[0], 7, 0, 0, 0.8, 0);
  mw_strlcpy(m[0].rule, "fraud-drift", sizeof m[0].rule);
  mw_strlcpy(m[0].action, "rolled production back v2 -> v1", sizeof m[0].action);
  struct alert_notice n[2];
  size_t k = alert__group_notices(m, 1, "http://mw.example/#/models/fraud", n);
  assert_int_equal(k, 2);
  /* Handed over resolution first: the payloads still put the firing first. */
  struct alert_notice swapped[2] = {n[1], n[0]};
  cJSON *gl = cJSON_CreateObject();
  cJSON_AddStringToObject(gl, "model", "fraud");
  struct alert_group_notice g = {0};
  g.group_labels = gl;
  g.external_url = "http://mw.example";
  g.alerts = swapped;
  g.nalerts = 2;

  cJSON *p = build("slack", &g, NULL);
  const char *text = str_at(p, "text");
  assert_string_equal(text,
                      "[FIRING:1] fraud - fraud-drift: fraud v2 (production) - "
                      "dataset_drift_share = 0.8 (threshold >= 0.5), firing; "
                      "rolled production back v2 -> v1; resolved since");
  char *all = cJSON_PrintUnformatted(p);
  assert_non_null(strstr(all, "*fraud-drift* - resolved (now 0 on v1)"));
  assert_non_null(strstr(all, "*Action*\\nrolled production back v2 -&gt; v1"));
  free(all);
  cJSON_Delete(p);

  p = build("mattermost", &g, NULL);
  assert_non_null(strstr(str_at(p, "text"), "[FIRING:1] fraud - fraud-drift"));
  assert_non_null(strstr(str_at(p, "text"), "v2 -> v1; resolved since"));
  cJSON_Delete(p);
  p = build("discord", &g, NULL);
  assert_non_null(strstr(str_at(p, "content"), "= 0.8 (threshold >= 0.5), firing; "
                                               "rolled production back v2 -> v1"));
  check_discord_limits(p);
  cJSON_Delete(p);
  p = build("teams", &g, &all);
  assert_non_null(strstr(str_at(p, "summary"), "[FIRING:1]"));
  assert_non_null(strstr(all, "rolled production back v2 -> v1"));
  free(all);
  cJSON_Delete(p);

  p = build("webhook", &g, NULL);
  assert_string_equal(str_at(p, "status"), "firing");
  cJSON *alerts = cJSON_GetObjectItem(p, "alerts");
  assert_int_equal(cJSON_GetArraySize(alerts), 2);
  cJSON *a0 = cJSON_GetArrayItem(alerts, 0), *a1 = cJSON_GetArrayItem(alerts, 1);
  assert_string_equal(str_at(a0, "status"), "firing");
  assert_string_equal(str_at(a1, "status"), "resolved");
  assert_string_equal(str_at(cJSON_GetObjectItem(a0, "annotations"), "action"),
                      "rolled production back v2 -> v1");
  cJSON *mw0 = cJSON_GetObjectItem(a0, "modelwatch");
  cJSON *mw1 = cJSON_GetObjectItem(a1, "modelwatch");
  assert_true(fabs(cJSON_GetObjectItem(mw0, "value")->valuedouble - 0.8) < 1e-12);
  assert_string_equal(str_at(mw0, "action"), "rolled production back v2 -> v1");
  assert_string_equal(str_at(mw0, "resolvedSince"), "2026-11-27T08:00:01.000Z");
  assert_true(fabs(cJSON_GetObjectItem(mw1, "value")->valuedouble - 0.8) < 1e-12);
  assert_true(cJSON_GetObjectItem(mw1, "resolvedValue")->valuedouble == 0);
  assert_int_equal(cJSON_GetObjectItem(mw1, "resolvedVersion")->valueint, 1);
  cJSON_Delete(p);

  /* Alertmanager: the episode once, as it stands, with the story in its
   * annotations. */
  p = build("alertmanager", &g, NULL);
  assert_int_equal(cJSON_GetArraySize(p), 1);
  cJSON *am = cJSON_GetArrayItem(p, 0);
  cJSON *ann = cJSON_GetObjectItem(am, "annotations");
  assert_string_equal(str_at(ann, "action"), "rolled production back v2 -> v1");
  assert_string_equal(str_at(ann, "value"), "0.8");
  assert_string_equal(str_at(ann, "resolved_value"), "0");
  assert_string_equal(str_at(am, "endsAt"), "2026-11-27T08:00:01.000Z");
  cJSON_Delete(p);

  /* Still firing: one alert, no "resolved since", the title counts it. */
  member(&m[0], 7, 1, 0, 0.8, 0.2);
  mw_strlcpy(m[0].rule, "fraud-drift", sizeof m[0].rule);
  g.nalerts = alert__group_notices(m, 1, "http://mw.example/#/models/fraud", n);
  g.alerts = n;
  assert_int_equal(g.nalerts, 1);
  p = build("slack", &g, NULL);
  assert_string_equal(str_at(p, "text"),
                      "[FIRING:1] fraud - fraud-drift: fraud v2 (production) - "
                      "dataset_drift_share = 0.8 (threshold >= 0.5), firing");
  cJSON_Delete(p);
  cJSON_Delete(gl);
}

/* ------------------------------------------------------------ email */

/* SMTP replies: 4xx retried, 5xx dead, no reply retried. */
static void test_classify_smtp(void **state) {
  (void)state;
  assert_int_equal(alert__classify_smtp(250, CURLE_OK, 0), ALERT__DELIVERED);
  assert_int_equal(alert__classify_smtp(221, CURLE_OK, 0), ALERT__DELIVERED);
  assert_int_equal(alert__classify_smtp(451, CURLE_SEND_ERROR, 0), ALERT__RETRY);
  assert_int_equal(alert__classify_smtp(421, CURLE_WEIRD_SERVER_REPLY, 0),
                   ALERT__RETRY);
  assert_int_equal(alert__classify_smtp(452, CURLE_SEND_ERROR, 0), ALERT__RETRY);
  assert_int_equal(alert__classify_smtp(550, CURLE_SEND_ERROR, 0), ALERT__PERMANENT);
  assert_int_equal(alert__classify_smtp(554, CURLE_WEIRD_SERVER_REPLY, 0),
                   ALERT__PERMANENT);
  assert_int_equal(alert__classify_smtp(535, CURLE_LOGIN_DENIED, 0),
                   ALERT__PERMANENT);
  /* No reply: the network, TLS, a timeout. */
  assert_int_equal(alert__classify_smtp(0, CURLE_COULDNT_CONNECT, 0), ALERT__RETRY);
  assert_int_equal(alert__classify_smtp(0, CURLE_OPERATION_TIMEDOUT, 0),
                   ALERT__RETRY);
  assert_int_equal(alert__classify_smtp(0, CURLE_USE_SSL_FAILED, 0), ALERT__RETRY);
  assert_int_equal(alert__classify_smtp(0, CURLE_UNSUPPORTED_PROTOCOL, 0),
                   ALERT__PERMANENT);
  /* The egress policy refused the address: dead, whatever else. */
  assert_int_equal(alert__classify_smtp(0, CURLE_COULDNT_CONNECT, 1),
                   ALERT__PERMANENT);
}

static void test_email_addresses(void **state) {
  (void)state;
  const char *ok[] = {"ops@example.com", "a.b+alerts@mail.example.co.uk",
                      "x@localhost", "o'brien@example.com", "1@2.3"};
  for(size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if(!alert__email_address_valid(ok[i]))
      fail_msg("%s refused", ok[i]);
  const char *bad[] = {NULL,
                       "",
                       "ops",
                       "@example.com",
                       "ops@",
                       "a@b@c",
                       ".a@example.com",
                       "a.@example.com",
                       "a..b@example.com",
                       "a b@example.com",
                       "a@exa mple.com",
                       "a@-example.com",
                       "a@example-.com",
                       "a@example..com",
                       "a@example.com.",
                       "Ops <ops@example.com>",
                       "a@example.com\r\nBcc: x@y.z",
                       "\"q\"@example.com",
                       "caf\xc3\xa9@example.com"};
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if(alert__email_address_valid(bad[i]))
      fail_msg("%s accepted", bad[i] ? bad[i] : "(null)");
  char longest[300];
  memset(longest, 'a', 64);
  snprintf(longest + 64, sizeof longest - 64, "@example.com");
  assert_true(alert__email_address_valid(longest));
  memset(longest, 'a', 65);
  snprintf(longest + 65, sizeof longest - 65, "@example.com");
  assert_false(alert__email_address_valid(longest));
}

/* The header block of a composed mail (up to the blank line), and the
 * body after it. */
static void split_mail(const mw_buf *b, char **head, char **body) {
  assert_non_null(b->data);
  const char *sep = strstr(b->data, "\r\n\r\n");
  assert_non_null(sep);
  *head = strndup(b->data, (size_t)(sep - b->data) + 2);
  *body = strdup(sep + 4);
}

static cJSON *mail_payload(const char *subject, const char *text) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "from", "modelwatch@example.com");
  cJSON *to = cJSON_AddArrayToObject(p, "to");
  cJSON_AddItemToArray(to, cJSON_CreateString("ops@example.com"));
  cJSON_AddItemToArray(to, cJSON_CreateString("oncall@example.org"));
  cJSON_AddStringToObject(p, "subject", subject);
  cJSON_AddStringToObject(p, "text", text);
  return p;
}

static void test_email_compose(void **state) {
  (void)state;
  cJSON *p = mail_payload("[FIRING:1] fraud - drift\r\nBcc: evil@example.com",
                          "Line one = 1\n.starts with a dot\ntrailing space \n");
  mw_buf b;
  mw_buf_init(&b, 1 << 20);
  /* 1994-11-06 08:49:37 UTC was a Sunday. */
  assert_int_equal(alert__email_compose(p, "msg_2abcDEF", RFC_DATE_MS, &b), MW_OK);
  char *head, *body;
  split_mail(&b, &head, &body);
  const char *want_head =
      "From: modelwatch@example.com\r\n"
      "To: ops@example.com,\r\n oncall@example.org\r\n"
      /* The line break of user text cannot start a header of its own. */
      "Subject: [FIRING:1] fraud - drift  Bcc: evil@example.com\r\n"
      "Date: Sun, 06 Nov 1994 08:49:37 +0000\r\n"
      "Message-ID: <msg_2abcDEF@example.com>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "Auto-Submitted: auto-generated\r\n";
  assert_string_equal(head, want_head);
  assert_string_equal(body, "Line one =3D 1\r\n=2Estarts with a dot\r\n"
                            "trailing space=20\r\n");
  free(head);
  free(body);
  cJSON_Delete(p);

  /* Non-ASCII subjects are encoded words of at most 75 characters, each on
   * its own folded line, never splitting a character; long body lines get
   * soft breaks at 76; 8-bit bytes are =XX. */
  char subject[400] = "", text[400] = "";
  size_t ns = 0, nt = 0;
  for(int i = 0; i < 40; i++)
    ns +=
        (size_t)snprintf(subject + ns, sizeof subject - ns, "d\xc3\xa9riv\xc3\xa9 ");
  for(int i = 0; i < 30; i++)
    nt += (size_t)snprintf(text + nt, sizeof text - nt, "caf\xc3\xa9 ");
  assert_true(ns < sizeof subject && nt < sizeof text);
  p = mail_payload(subject, text);
  mw_buf_free(&b);
  mw_buf_init(&b, 1 << 20);
  assert_int_equal(alert__email_compose(p, "msg_x", RFC_DATE_MS, &b), MW_OK);
  split_mail(&b, &head, &body);
  char *subj = strstr(head, "Subject: ");
  assert_non_null(subj);
  assert_non_null(strstr(subj, "Subject: =?utf-8?B?"));
  size_t nwords = 0;
  for(char *w = strstr(subj, "=?utf-8?B?"); w; w = strstr(w + 1, "=?utf-8?B?")) {
    char *end = strstr(w, "?=");
    assert_non_null(end);
    assert_true(end + 2 - w <= 75);
    nwords++;
  }
  assert_true(nwords >= 3);
  assert_non_null(strstr(body, "caf=C3=A9 "));
  for(char *line = body; *line;) {
    char *eol = strstr(line, "\r\n");
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    assert_true(len <= 76);
    for(size_t k = 0; k < len; k++)
      assert_true((unsigned char)line[k] < 0x80 && line[k] != '\n' &&
                  line[k] != '\r');
    line += len + (eol ? 2 : 0);
  }
  free(head);
  free(body);
  cJSON_Delete(p);

  /* Not an email payload: refused. */
  const char *bad[] = {"{}", "{\"from\":\"a@b.c\",\"to\":[],\"text\":\"x\"}",
                       "{\"from\":\"a@b.c\",\"to\":[\"x\"],\"text\":\"x\"}",
                       "{\"from\":\"nobody\",\"to\":[\"a@b.c\"],\"text\":\"x\"}",
                       "{\"from\":\"a@b.c\",\"to\":[\"a@b.c\"]}"};
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *j = cJSON_Parse(bad[i]);
    mw_buf_free(&b);
    mw_buf_init(&b, 1 << 20);
    assert_int_equal(alert__email_compose(j, "msg_x", 0, &b), MW_EINVAL);
    cJSON_Delete(j);
  }
  p = mail_payload("s", "t");
  assert_int_equal(alert__email_compose(p, "msg>x", 0, &b), MW_EINVAL);
  cJSON_Delete(p);
  mw_buf_free(&b);
}

/* The email payload: the line phones show as subject, every fact and the
 * link in the text. */
static void test_payload_email(void **state) {
  (void)state;
  struct sample s;
  sample_init(&s, 3, NULL);
  s.a[0].action = "rolled production back v2 -> v1";
  cJSON *p = build("email", &s.g, NULL);
  cJSON *slack = build("slack", &s.g, NULL);
  assert_string_equal(str_at(p, "subject"), str_at(slack, "text"));
  const char *text = str_at(p, "text");
  assert_names_facts(text);
  const char *needles[] = {
      "FIRING - drift-high: fraud v2 (production) - age.psi",
      "  Model:      fraud (production)\n",
      "  Threshold:  > 0.2\n",
      "  Action:     rolled production back v2 -> v1\n",
      "  Summary:    PSI of age went up\n",
      "  Labels:     alertname=drift-high, column=age",
      "  Dashboard:  http://mw.example/#/models/fraud\n",
      "RESOLVED - drift-high",
      "Open in the dashboard: http://mw.example/#/models/fraud"};
  for(size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
    if(!strstr(text, needles[i]))
      fail_msg("email text lacks '%s':\n%s", needles[i], text);
  /* Firing before resolved. */
  assert_true(strstr(text, "FIRING - ") < strstr(text, "RESOLVED - "));
  assert_null(cJSON_GetObjectItem(p, "from"));
  cJSON_Delete(slack);
  cJSON_Delete(p);
  sample_free(&s);
}

/* --------------------------------------------------- claims on SQLite */

struct dbfix {
  char dir[64];
  char path[128];
  mw_db *a, *b; /* two connections, as two workers would have */
};

/* A node (type "node") or a channel of type named name at
 * http://127.0.0.1:9/, its URL and secret encrypted as the API stores
 * them. */
static int put_target(mw_conn *c, const char *type, const char *name,
                      const char *secret) {
  int node = !strcmp(type, "node");
  char *u = NULL, *sec = NULL, sql[1024];
  if(mw_secret_put(c, node ? MW_SECRET_NODE_URL : MW_SECRET_CHANNEL_URL, name,
                   "http://127.0.0.1:9/", &u) ||
     mw_secret_put(c, node ? MW_SECRET_NODE_SECRET : MW_SECRET_CHANNEL_SECRET, name,
                   secret, &sec))
    return -1;
  if(node)
    snprintf(sql, sizeof sql,
             "INSERT INTO nodes(name, url, secret, created_at) "
             "VALUES('%s', '%s', '%s', 0)",
             name, u, sec);
  else
    snprintf(sql, sizeof sql,
             "INSERT INTO channels(name, type, url, secret, created_at) "
             "VALUES('%s', '%s', '%s', '%s', 0)",
             name, type, u, sec);
  free(u);
  free(sec);
  return mw_exec(c, sql) ? -1 : 0;
}

static int db_setup(void **state) {
  struct dbfix *f = calloc(1, sizeof *f);
  mw_strlcpy(f->dir, "/tmp/mwdelivXXXXXX", sizeof f->dir);
  if(!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
  mw_secret_key k;
  if(mw_db_open(f->path, 0, &f->a) || mw_migrate(mw_db_conn(f->a), NULL) ||
     mw_db_open(f->path, 0, &f->b) || mw_secret_key_new(&k) ||
     mw_secrets_attach(f->a, &k) || mw_secrets_attach(f->b, &k))
    return -1;
  mw_conn *c = mw_db_conn(f->a);
  if(put_target(c, "node", "n1", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") ||
     put_target(c, "node", "n2", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") ||
     put_target(c, "slack", "ops", "whsec_AAAA") ||
     put_target(c, "alertmanager", "am", "whsec_AAAA"))
    return -1;
  *state = f;
  return 0;
}

static int db_teardown(void **state) {
  struct dbfix *f = *state;
  mw_db_close(f->b);
  mw_db_close(f->a);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  if(system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static int64_t enqueue(mw_conn *c, const char *type, const char *target) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", "test");
  int64_t id = 0;
  /* The outbox is written inside the change that causes it. */
  int own = mw_tx_state(c) == 0;
  if(own)
    assert_int_equal(mw_tx_begin(c), MW_OK);
  assert_int_equal(
      mw_outbox_enqueue(c, "test", type, target, "http://127.0.0.1:9/", p, &id),
      MW_OK);
  if(own)
    assert_int_equal(mw_tx_commit(c), MW_OK);
  cJSON_Delete(p);
  return id;
}

static void clear_jobs(struct alert__job *j, int n) {
  for(int i = 0; i < n; i++)
    alert__job_clear(&j[i]);
}

static const char *state_of(mw_conn *c, int64_t id, int *attempts) {
  static char st[16];
  sqlite3_stmt *s = mw_stmt(c, "SELECT state, attempts FROM outbox WHERE id = ?");
  sqlite3_bind_int64(s, 1, id);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  mw_strlcpy(st, mw_col_text(s, 0), sizeof st);
  if(attempts)
    *attempts = sqlite3_column_int(s, 1);
  sqlite3_reset(s);
  return st;
}

static int has_id(const struct alert__job *j, int n, int64_t id) {
  for(int i = 0; i < n; i++)
    if(j[i].id == id)
      return 1;
  return 0;
}

/* Which queue heads a worker claims (alert__pick, no database): due and
 * unleased ones, oldest due first, at most max; the others say when to
 * look again. */
static void test_pick_heads(void **state) {
  (void)state;
  int64_t now = 1000000, ids[8], next = INT64_MAX;
  int n = -1;
  struct alert__head h[] = {
      {10, now - 5, 0},          /* due */
      {11, now + 700, 0},        /* a retry later */
      {12, now - 50, now + 300}, /* in flight: its lease ends first */
      {13, now - 50, 0},         /* due, older */
      {14, now, now - 1},        /* due; an expired lease */
      {15, now - 5, 0},          /* due, as old as 10: by id */
  };
  alert__pick(h, 6, now, 8, ids, &n, &next);
  assert_int_equal(n, 4);
  assert_int_equal(ids[0], 13);
  assert_int_equal(ids[1], 10);
  assert_int_equal(ids[2], 15);
  assert_int_equal(ids[3], 14);
  assert_int_equal(next, now + 300);
  /* Room for two: the two oldest due; heads left for lack of room do not
   * set the next look (a freed slot does). */
  struct alert__head h2[] = {{1, now - 1, 0}, {2, now - 3, 0}, {3, now - 2, 0}};
  next = INT64_MAX;
  alert__pick(h2, 3, now, 2, ids, &n, &next);
  assert_int_equal(n, 2);
  assert_int_equal(ids[0], 2);
  assert_int_equal(ids[1], 3);
  assert_int_equal(next, INT64_MAX);
  /* Nothing to take. */
  next = INT64_MAX;
  alert__pick(NULL, 0, now, 8, ids, &n, &next);
  assert_int_equal(n, 0);
  assert_int_equal(next, INT64_MAX);
}

static void test_claims_two_workers(void **state) {
  struct dbfix *f = *state;
  mw_conn *a = mw_db_conn(f->a), *b = mw_db_conn(f->b);
  int64_t n1a = enqueue(a, "node", "n1"), n1b = enqueue(a, "node", "n1");
  int64_t n2 = enqueue(a, "node", "n2"), n2b = enqueue(a, "node", "n2");
  int64_t ch = enqueue(a, "channel", "ops");
  int64_t gone = enqueue(a, "node", "deleted-node");
  int64_t now = mw_now_ms(), lease = 20000, due;
  struct alert__job ja[8], jb[8];
  int na = 0, nb = 0;
  assert_int_equal(alert__claim(a, "wA", now, lease, NULL, 0, 8, ja, &na, &due),
                   MW_OK);
  /* The head of each target's queue: n1a, n2, the channel, the orphan. */
  assert_int_equal(na, 4);
  assert_true(has_id(ja, na, n1a) && has_id(ja, na, n2) && has_id(ja, na, ch) &&
              has_id(ja, na, gone));
  assert_int_equal(due, INT64_MAX);
  for(int i = 0; i < na; i++) {
    if(ja[i].id == n1a) {
      assert_non_null(ja[i].secret);
      assert_string_equal(ja[i].target_type, "node");
      assert_string_equal(ja[i].target_name, "n1");
      assert_string_equal(ja[i].payload, "{\"type\":\"test\"}");
      assert_int_equal(ja[i].payload_len, strlen(ja[i].payload));
      assert_int_equal(strncmp(ja[i].msg_id, "msg_", 4), 0);
      assert_int_equal(ja[i].cycle_attempts, 0);
    }
    /* The target's URL and secret, decrypted; the outbox keeps neither. */
    if(ja[i].id == ch) {
      assert_string_equal(ja[i].secret, "whsec_AAAA");
      assert_string_equal(ja[i].url, "http://127.0.0.1:9/");
      assert_string_equal(ja[i].channel_type, "slack");
      assert_string_equal(ja[i].error, "");
    }
    if(ja[i].id == gone) {
      assert_null(ja[i].secret);
      assert_null(ja[i].url);
    }
  }
  /* The second worker gets nothing: every head is in flight, and the rows
   * behind them wait their turn. It learns when the leases end. */
  assert_int_equal(alert__claim(b, "wB", now, lease, NULL, 0, 8, jb, &nb, &due),
                   MW_OK);
  assert_int_equal(nb, 0);
  assert_int_equal(due, now + lease);
  /* Worker A dies (its claims are never released); after the lease, B
   * takes the same rows over - not the newer ones behind them. */
  assert_int_equal(
      alert__claim(b, "wB", now + lease, lease, NULL, 0, 8, jb, &nb, &due), MW_OK);
  assert_int_equal(nb, 4);
  assert_true(has_id(jb, nb, n1a) && !has_id(jb, nb, n1b) && !has_id(jb, nb, n2b));
  /* A's late result is logged as an attempt but does not change state. */
  struct alert__result r = {.id = n1a,
                            .at = now,
                            .status_code = 200,
                            .latency_ms = 3,
                            .state = "delivered",
                            .next_attempt_at = now};
  assert_int_equal(alert__record(a, "wA", &r, 1), MW_OK);
  int attempts;
  assert_string_equal(state_of(a, n1a, &attempts), "pending");
  assert_int_equal(attempts, 0);
  /* B's results count: n1a delivered, n2 failed until now + 60 s. */
  r.latency_ms = 4;
  struct alert__result rs[2] = {r,
                                {.id = n2,
                                 .at = now,
                                 .status_code = 503,
                                 .latency_ms = 5,
                                 .error = "HTTP 503",
                                 .state = "failed",
                                 .next_attempt_at = now + 60000}};
  assert_int_equal(alert__record(b, "wB", rs, 2), MW_OK);
  assert_string_equal(state_of(a, n1a, &attempts), "delivered");
  assert_int_equal(attempts, 1);
  assert_string_equal(state_of(a, n2, &attempts), "failed");
  assert_int_equal(attempts, 1);
  sqlite3_stmt *st =
      mw_stmt(a, "SELECT count(*) FROM delivery_attempts WHERE outbox_id = ?");
  sqlite3_bind_int64(st, 1, n1a);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 2); /* A's late one and B's */
  sqlite3_reset(st);
  clear_jobs(ja, na);
  /* n1's next message is its head now. n2's head waits for its retry, and
   * first in, first out holds n2b behind it; B still holds ch and gone. */
  assert_int_equal(
      alert__claim(a, "wA", now + lease, lease, NULL, 0, 8, ja, &na, &due), MW_OK);
  assert_int_equal(na, 1);
  assert_int_equal(ja[0].id, n1b);
  assert_int_equal(due, now + 2 * lease);
  clear_jobs(ja, na);
  /* Releasing gives rows back at once. */
  int64_t ids[] = {ch, gone};
  assert_int_equal(alert__release(b, "wB", ids, 2), MW_OK);
  assert_int_equal(
      alert__claim(a, "wA", now + lease, lease, NULL, 0, 8, ja, &na, &due), MW_OK);
  assert_int_equal(na, 2);
  assert_true(has_id(ja, na, ch) && has_id(ja, na, gone));
  assert_int_equal(due, now + 2 * lease); /* n1b, in flight with A */
  clear_jobs(ja, na);
  clear_jobs(jb, nb);
  /* Manual retry: only dead or failed rows, with a fresh budget. */
  mw_err err = {0};
  cJSON *out = NULL;
  assert_int_equal(alert_delivery_retry(a, n1a, "test", &out, &err), MW_ECONFLICT);
  assert_null(out);
  mw_err_clear(&err);
  assert_int_equal(alert_delivery_retry(a, 99999, "test", &out, &err), MW_ENOTFOUND);
  mw_err_clear(&err);
  assert_int_equal(alert_delivery_retry(a, n2, "test", &out, &err), MW_OK);
  assert_string_equal(mw_json_str(out, "state"), "pending");
  assert_int_equal(cJSON_GetObjectItem(out, "id")->valueint, (int)n2);
  cJSON_Delete(out);
  /* Recording and claiming in one transaction: n1b's result goes in, and
   * the re-queued n2 is claimed (n2b still behind it). */
  struct alert__result r1b = {.id = n1b,
                              .at = now,
                              .status_code = 204,
                              .latency_ms = 1,
                              .state = "delivered",
                              .next_attempt_at = now};
  assert_int_equal(
      alert__claim(a, "wA", now + lease, lease, &r1b, 1, 8, ja, &na, &due), MW_OK);
  assert_string_equal(state_of(a, n1b, NULL), "delivered");
  assert_int_equal(na, 1);
  assert_int_equal(ja[0].id, n2);
  assert_int_equal(ja[0].cycle_attempts, 0); /* fresh budget */
  clear_jobs(ja, na);
  int64_t dv1, dv2;
  assert_int_equal(mw_db_data_version(b, &dv1), MW_OK);
  enqueue(a, "node", "n3");
  assert_int_equal(mw_db_data_version(b, &dv2), MW_OK);
  assert_true(dv1 != dv2); /* B notices A's commit */
}

/* A claim reads each target's URL and secret from its row and decrypts
 * them; the outbox itself keeps the URL's scheme and host only. A value
 * that cannot be decrypted (here: a ciphertext copied from another row)
 * fails its delivery alone, with the reason, not the claim. */
static void test_claim_opens_targets(void **state) {
  struct dbfix *f = *state;
  mw_conn *a = mw_db_conn(f->a);
  int64_t am = enqueue(a, "channel", "am"), ops = enqueue(a, "channel", "ops");
  sqlite3_stmt *st = mw_stmt(a, "SELECT url FROM outbox WHERE id = ?");
  sqlite3_bind_int64(st, 1, am);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal(mw_col_text(st, 0), "http://127.0.0.1:9");
  sqlite3_reset(st);
  assert_int_equal(mw_exec(a, "UPDATE channels SET secret = (SELECT secret FROM "
                              "channels WHERE name = 'am') WHERE name = 'ops'"),
                   MW_OK);
  struct alert__job j[8];
  int n = 0;
  int64_t due;
  assert_int_equal(
      alert__claim(a, "wA", mw_now_ms(), 20000, NULL, 0, 8, j, &n, &due), MW_OK);
  assert_int_equal(n, 2);
  for(int i = 0; i < n; i++) {
    if(j[i].id == am) {
      assert_string_equal(j[i].url, "http://127.0.0.1:9/api/v2/alerts");
      assert_string_equal(j[i].secret, "whsec_AAAA");
      assert_string_equal(j[i].error, "");
    } else {
      assert_int_equal(j[i].id, ops);
      assert_null(j[i].url);
      assert_null(j[i].secret);
      assert_non_null(strstr(j[i].error, "channels.secret of 'ops'"));
      assert_non_null(strstr(j[i].error, "authentication failed"));
    }
  }
  clear_jobs(j, n);
}

/* The worker itself, against a URL nothing listens on: it claims, fails to
 * connect, records a failed attempt and stops cleanly. */
static void test_worker_start_stop(void **state) {
  struct dbfix *f = *state;
  mw_conn *a = mw_db_conn(f->a);
  int64_t id = enqueue(a, "node", "n1");
  struct alert_delivery_opts o = {.concurrency = 2,
                                  .max_attempts = 8,
                                  .max_age_ms = 86400000,
                                  .connect_timeout_ms = 1000,
                                  .timeout_ms = 2000,
                                  .allow_private = 1};
  alert_delivery *d = NULL;
  assert_int_equal(alert_delivery_start(f->a, &o, &d), MW_OK);
  alert_delivery_kick(d);
  int attempts = 0;
  for(int i = 0; i < 200 && attempts == 0; i++) {
    usleep(10000);
    state_of(a, id, &attempts);
  }
  alert_delivery_stop(d);
  assert_int_equal(attempts, 1);
  assert_string_equal(state_of(a, id, NULL), "failed");
  sqlite3_stmt *st = mw_stmt(a, "SELECT last_error FROM outbox WHERE id = ?");
  sqlite3_bind_int64(st, 1, id);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_non_null(strstr(mw_col_text(st, 0), "network error"));
  sqlite3_reset(st);
  alert_delivery_stop(NULL);
  alert_delivery_kick(NULL);
}

/* ------------------------------------------------------- retention */

/* Sets a row's state and times directly, as the worker would have left it
 * that long ago; adds one attempt at attempt_at (< 0: none). */
static void age_row(mw_conn *c, int64_t id, const char *state, int64_t created,
                    int64_t delivered, int64_t attempt_at) {
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE outbox SET state = ?, created_at = ?, "
                 "next_attempt_at = ?, delivered_at = ? WHERE id = ?");
  mw_bind_text(st, 1, state);
  sqlite3_bind_int64(st, 2, created);
  sqlite3_bind_int64(st, 3, created);
  if(delivered >= 0)
    sqlite3_bind_int64(st, 4, delivered);
  else
    sqlite3_bind_null(st, 4);
  sqlite3_bind_int64(st, 5, id);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_reset(st);
  if(attempt_at < 0)
    return;
  st = mw_stmt(c, "INSERT INTO delivery_attempts(outbox_id, at, status_code, "
                  "latency_ms) VALUES(?, ?, 200, 1)");
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, attempt_at);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_reset(st);
}

static int64_t count_sql(mw_conn *c, const char *sql) {
  sqlite3_stmt *st = mw_stmt(c, sql);
  assert_non_null(st);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return n;
}

static int row_exists(mw_conn *c, int64_t id) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT 1 FROM outbox WHERE id = ?");
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_ROW;
}

/* Finished rows older than the cutoff go, with their attempts, in steps of
 * the batch size; pending and failed ones stay however old, and so do
 * finished ones whose last attempt is recent or that were queued after
 * the cutoff. */
static void test_purge_steps(void **state) {
  struct dbfix *f = *state;
  mw_conn *a = mw_db_conn(f->a);
  const int64_t day = 86400000LL, now = mw_now_ms(), cutoff = now - 7 * day;
  assert_int_equal(mw_tx_begin(a), MW_OK);
  /* 2500 old delivered rows, each with an attempt. */
  for(int i = 0; i < 2500; i++) {
    int64_t id = enqueue(a, "node", "n1");
    age_row(a, id, "delivered", cutoff - 20 * day + i, cutoff - 20 * day + i + 5,
            cutoff - 20 * day + i);
  }
  /* Old rows that must stay: pending, failed, and a dead one whose last
   * attempt (its final time) came after the cutoff. An old dead one goes. */
  int64_t pend = enqueue(a, "node", "n2"), failed = enqueue(a, "node", "n2");
  age_row(a, pend, "pending", cutoff - 10 * day, -1, -1);
  age_row(a, failed, "failed", cutoff - 10 * day, -1, cutoff - 10 * day);
  int64_t dead_recent = enqueue(a, "channel", "ops");
  age_row(a, dead_recent, "dead", cutoff - 9 * day, -1, cutoff - 9 * day);
  age_row(a, dead_recent, "dead", cutoff - 9 * day, -1, now - day);
  int64_t dead_old = enqueue(a, "channel", "ops");
  age_row(a, dead_old, "dead", cutoff - 8 * day, -1, cutoff - 8 * day);
  /* Young rows: delivered a day ago, and one queued after the cutoff
   * with a (corrupt) old delivered_at - the walk stops before it. */
  int64_t young = enqueue(a, "node", "n1");
  age_row(a, young, "delivered", now - day, now - day, now - day);
  int64_t behind = enqueue(a, "node", "n1");
  age_row(a, behind, "delivered", cutoff + 1, cutoff - 30 * day, cutoff + 1);
  assert_int_equal(mw_tx_commit(a), MW_OK);
  assert_int_equal(count_sql(a, "SELECT count(*) FROM delivery_attempts"), 2506);

  /* Batches of 1000: three steps for the 2500 (and the old dead one),
   * then the pass ends. The steps of one pass continue from the cursor. */
  int64_t cursor = 0, nd = -1, nx = -1, total_d = 0, total_x = 0;
  int steps = 0;
  do {
    assert_int_equal(mw_outbox_purge_step(a, cutoff, 1000, &cursor, &nd, &nx),
                     MW_OK);
    assert_true(nd + nx <= 1000);
    total_d += nd;
    total_x += nx;
    steps++;
    if(steps == 1) {
      assert_int_equal(nd, 1000);
      assert_true(cursor > 0);
    }
  } while(cursor && steps < 10);
  assert_int_equal(steps, 3);
  assert_int_equal(total_d, 2500);
  assert_int_equal(total_x, 1);
  assert_int_equal(count_sql(a, "SELECT count(*) FROM outbox"), 5);
  assert_true(row_exists(a, pend) && row_exists(a, failed) &&
              row_exists(a, dead_recent) && row_exists(a, young) &&
              row_exists(a, behind));
  assert_false(row_exists(a, dead_old));
  /* The attempts went with their rows; the survivors keep theirs. */
  assert_int_equal(count_sql(a, "SELECT count(*) FROM delivery_attempts"), 5);
  assert_int_equal(count_sql(a, "SELECT count(*) FROM delivery_attempts WHERE "
                                "outbox_id NOT IN (SELECT id FROM outbox)"),
                   0);
  /* A second pass finds nothing; a later cutoff takes the young row but
   * never the waiting ones, nor the newest row (behind): outbox ids are
   * public, and SQLite would hand the highest one out again. */
  assert_int_equal(mw_outbox_purge_step(a, cutoff, 1000, &cursor, &nd, &nx), MW_OK);
  assert_true(nd == 0 && nx == 0 && cursor == 0);
  assert_int_equal(mw_outbox_purge_step(a, now, 1000, &cursor, &nd, &nx), MW_OK);
  assert_int_equal(nd, 1);
  assert_int_equal(nx, 1); /* dead_recent: its last attempt was a day ago */
  assert_int_equal(cursor, 0);
  assert_int_equal(count_sql(a, "SELECT count(*) FROM outbox"), 3);
  assert_true(row_exists(a, pend) && row_exists(a, failed) && row_exists(a, behind));
  int64_t next = enqueue(a, "node", "n1");
  assert_true(next > behind);
  /* A tiny batch walks on over rows it keeps. */
  assert_int_equal(mw_outbox_purge_step(a, now, 1, &cursor, &nd, &nx), MW_OK);
  assert_true(nd == 0 && nx == 0 && cursor == pend);
  assert_int_equal(mw_outbox_purge_step(a, now, 1, &cursor, &nd, &nx), MW_OK);
  assert_true(cursor == failed);
  assert_int_equal(mw_outbox_purge_step(a, now, 1, &cursor, &nd, &nx), MW_OK);
  assert_true(nd == 1 && cursor == behind); /* no longer the newest: it goes */
  /* The walk stops at next, queued after this cutoff. */
  assert_int_equal(mw_outbox_purge_step(a, now, 1, &cursor, &nd, &nx), MW_OK);
  assert_true(nd == 0 && cursor == 0);
  assert_int_equal(count_sql(a, "SELECT count(*) FROM outbox"), 3);
  assert_true(row_exists(a, pend) && row_exists(a, failed) && row_exists(a, next));
}

/* Outbox depth as /metrics shows it. */
static void test_outbox_metrics(void **state) {
  struct dbfix *f = *state;
  mw_conn *a = mw_db_conn(f->a);
  mw_buf out;
  mw_buf_init(&out, 1 << 20);
  assert_int_equal(alert_delivery_metrics_render(NULL, a, &out), MW_OK);
  assert_non_null(strstr(out.data, "# TYPE modelwatch_outbox_messages gauge\n"));
  assert_non_null(
      strstr(out.data, "modelwatch_outbox_messages{state=\"pending\"} 0\n"));
  assert_non_null(
      strstr(out.data, "modelwatch_outbox_oldest_pending_age_seconds 0.000\n"));
  assert_non_null(
      strstr(out.data, "# TYPE modelwatch_outbox_purged_total counter\n"));
  assert_non_null(
      strstr(out.data, "modelwatch_outbox_purged_total{state=\"dead\"} 0\n"));
  mw_buf_free(&out);
  const int64_t now = mw_now_ms();
  int64_t p1 = enqueue(a, "node", "n1"), p2 = enqueue(a, "node", "n1");
  int64_t fl = enqueue(a, "node", "n2"), dl = enqueue(a, "node", "n2");
  int64_t dd = enqueue(a, "channel", "ops");
  age_row(a, p1, "pending", now - 90000, -1, -1);
  age_row(a, p2, "pending", now - 1000, -1, -1);
  age_row(a, fl, "failed", now - 50000, -1, now - 40000);
  age_row(a, dl, "delivered", now - 500000, now - 400000, now - 400000);
  age_row(a, dd, "dead", now - 600000, -1, now - 500000);
  mw_outbox_depth q;
  assert_int_equal(mw_outbox_stats(a, &q), MW_OK);
  assert_int_equal(q.pending, 2);
  assert_int_equal(q.failed, 1);
  assert_int_equal(q.delivered, 1);
  assert_int_equal(q.dead, 1);
  assert_int_equal(q.oldest_queued_ms, now - 90000);
  /* A row re-queued by hand counts from then. */
  sqlite3_stmt *st =
      mw_stmt(a, "UPDATE outbox SET cycle_started_at = ? WHERE id = ?");
  sqlite3_bind_int64(st, 1, now - 2000);
  sqlite3_bind_int64(st, 2, p1);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_reset(st);
  assert_int_equal(mw_outbox_stats(a, &q), MW_OK);
  assert_int_equal(q.oldest_queued_ms, now - 50000);
  mw_buf_init(&out, 1 << 20);
  assert_int_equal(alert_delivery_metrics_render(NULL, a, &out), MW_OK);
  assert_non_null(
      strstr(out.data, "modelwatch_outbox_messages{state=\"pending\"} 2\n"));
  assert_non_null(
      strstr(out.data, "modelwatch_outbox_messages{state=\"failed\"} 1\n"));
  assert_non_null(
      strstr(out.data, "modelwatch_outbox_messages{state=\"delivered\"} 1\n"));
  assert_non_null(
      strstr(out.data, "modelwatch_outbox_messages{state=\"dead\"} 1\n"));
  const char *name = "\nmodelwatch_outbox_oldest_pending_age_seconds ";
  const char *age = strstr(out.data, name); /* the sample, not its HELP */
  assert_non_null(age);
  double secs = strtod(age + strlen(name), NULL);
  assert_true(secs >= 50.0 && secs < 60.0);
  mw_buf_free(&out);
}

/* The worker's first retention pass runs soon after it starts and is
 * counted for /metrics; 0 days keeps everything. */
static void test_worker_purges(void **state) {
  struct dbfix *f = *state;
  mw_conn *a = mw_db_conn(f->a);
  const int64_t day = 86400000LL, now = mw_now_ms();
  int64_t old = enqueue(a, "node", "n1"), dead = enqueue(a, "node", "n1");
  int64_t waiting = enqueue(a, "node", "n2");
  age_row(a, old, "delivered", now - 9 * day, now - 9 * day, now - 9 * day);
  age_row(a, dead, "dead", now - 9 * day, -1, now - 8 * day);
  age_row(a, waiting, "failed", now - 9 * day, -1, now - 9 * day);
  /* The failed row must not be sent during the test: due in an hour. */
  assert_int_equal(mw_exec(a, "UPDATE outbox SET next_attempt_at = "
                              "(strftime('%s','now') + 3600) * 1000 "
                              "WHERE state = 'failed'"),
                   MW_OK);
  mw_config cfg;
  mw_config_defaults(&cfg);
  cfg.allow_private_webhooks = 1;
  cfg.delivery_retention_days = 0;
  struct alert_delivery_opts o;
  alert_delivery_opts_from_config(&cfg, &o);
  assert_int_equal(o.retention_ms, 0);
  alert_delivery *d = NULL;
  assert_int_equal(alert_delivery_start(f->a, &o, &d), MW_OK);
  usleep(1500 * 1000);
  alert_delivery_stop(d);
  assert_true(row_exists(a, old) && row_exists(a, dead));
  cfg.delivery_retention_days = 7;
  alert_delivery_opts_from_config(&cfg, &o);
  assert_int_equal(o.retention_ms, 7 * day);
  assert_int_equal(alert_delivery_start(f->a, &o, &d), MW_OK);
  const char *want_d = "modelwatch_outbox_purged_total{state=\"delivered\"} 1\n";
  const char *want_x = "modelwatch_outbox_purged_total{state=\"dead\"} 1\n";
  int counted = 0;
  for(int i = 0; i < 500 && !counted; i++) {
    usleep(10000);
    mw_buf out;
    mw_buf_init(&out, 1 << 20);
    assert_int_equal(alert_delivery_metrics_render(d, a, &out), MW_OK);
    counted = strstr(out.data, want_d) && strstr(out.data, want_x);
    mw_buf_free(&out);
  }
  alert_delivery_stop(d);
  assert_true(counted);
  assert_false(row_exists(a, old) || row_exists(a, dead));
  assert_true(row_exists(a, waiting));
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  mw_log_set_level(MW_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_after_seconds),
      cmocka_unit_test(test_retry_after_http_date),
      cmocka_unit_test(test_retry_after_garbage),
      cmocka_unit_test(test_backoff_schedule_and_jitter),
      cmocka_unit_test(test_classify),
      cmocka_unit_test(test_plan_next),
      cmocka_unit_test(test_utf8_truncation),
      cmocka_unit_test(test_payload_webhook),
      cmocka_unit_test(test_payload_slack_mattermost_teams),
      cmocka_unit_test(test_payload_discord_limits),
      cmocka_unit_test(test_action_text),
      cmocka_unit_test(test_group_notices),
      cmocka_unit_test(test_notices_order),
      cmocka_unit_test(test_payload_tells_the_story),
      cmocka_unit_test(test_classify_smtp),
      cmocka_unit_test(test_email_addresses),
      cmocka_unit_test(test_email_compose),
      cmocka_unit_test(test_payload_email),
      cmocka_unit_test(test_pick_heads),
      cmocka_unit_test_setup_teardown(test_claims_two_workers, db_setup,
                                      db_teardown),
      cmocka_unit_test_setup_teardown(test_claim_opens_targets, db_setup,
                                      db_teardown),
      cmocka_unit_test_setup_teardown(test_worker_start_stop, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_purge_steps, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_metrics, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_worker_purges, db_setup, db_teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
