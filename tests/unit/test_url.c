/* Unit tests of core/url.c: the egress policy's address classes (the one
 * definition used at connect time and at creation), the URL check at
 * creation (IP literals in every form curl reads, the flag both ways,
 * malformed authorities) and the redaction shown below admin (userinfo,
 * ports, IPv6 hosts, a query without a path, fragments, odd inputs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core/core.h"

/* ---- address classes ---- */

static enum mw_addr_class v4(const char *ip) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
  return mw_addr_classify((struct sockaddr *)&a, sizeof a, NULL);
}

static enum mw_addr_class v6(const char *ip) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
  return mw_addr_classify((struct sockaddr *)&a, sizeof a, NULL);
}

static void test_egress_classes(void **state) {
  (void)state;
  const char *forbidden4[] = {"169.254.169.254", "169.254.0.1", "169.254.255.255",
                              "100.100.100.200", "168.63.129.16", "0.0.0.0",
                              "0.1.2.3", "224.0.0.1", "239.255.255.250",
                              "255.255.255.255", "240.0.0.1"};
  for(size_t i = 0; i < sizeof forbidden4 / sizeof forbidden4[0]; i++)
    if(v4(forbidden4[i]) != MW_ADDR_FORBIDDEN)
      fail_msg("%s not forbidden", forbidden4[i]);
  const char *private4[] = {"127.0.0.1", "127.255.0.9", "10.0.0.1", "172.16.0.1",
                            "172.31.255.254", "192.168.1.1", "100.64.0.1",
                            "100.127.255.255", "198.18.0.1"};
  for(size_t i = 0; i < sizeof private4 / sizeof private4[0]; i++)
    if(v4(private4[i]) != MW_ADDR_PRIVATE)
      fail_msg("%s not private", private4[i]);
  const char *public4[] = {"8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1",
                           "100.128.0.1", "169.253.255.255", "1.1.1.1",
                           "223.255.255.255"};
  for(size_t i = 0; i < sizeof public4 / sizeof public4[0]; i++)
    if(v4(public4[i]) != MW_ADDR_PUBLIC)
      fail_msg("%s not public", public4[i]);
  const char *forbidden6[] = {"fe80::1", "febf::1", "::", "ff02::1",
                              "fd00:ec2::254", "::ffff:169.254.169.254",
                              "64:ff9b::a9fe:a9fe", "::a9fe:a9fe"};
  for(size_t i = 0; i < sizeof forbidden6 / sizeof forbidden6[0]; i++)
    if(v6(forbidden6[i]) != MW_ADDR_FORBIDDEN)
      fail_msg("%s not forbidden", forbidden6[i]);
  const char *private6[] = {"::1", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.1",
                            "::ffff:10.1.2.3", "fec0::1"};
  for(size_t i = 0; i < sizeof private6 / sizeof private6[0]; i++)
    if(v6(private6[i]) != MW_ADDR_PRIVATE)
      fail_msg("%s not private", private6[i]);
  const char *public6[] = {"2001:4860:4860::8888", "2606:4700::1111",
                           "::ffff:8.8.8.8", "64:ff9b::808:808"};
  for(size_t i = 0; i < sizeof public6 / sizeof public6[0]; i++)
    if(v6(public6[i]) != MW_ADDR_PUBLIC)
      fail_msg("%s not public", public6[i]);
  const char *why = NULL;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "169.254.169.254", &a.sin_addr);
  mw_addr_classify((struct sockaddr *)&a, sizeof a, &why);
  assert_non_null(strstr(why, "metadata"));
  /* A truncated address or another family is never allowed. */
  assert_int_equal(mw_addr_classify((struct sockaddr *)&a, 4, NULL),
                   MW_ADDR_FORBIDDEN);
  struct sockaddr un = {.sa_family = AF_UNIX};
  assert_int_equal(mw_addr_classify(&un, sizeof un, NULL), MW_ADDR_FORBIDDEN);
}

/* ---- the check at creation ---- */

/* mw_url_check_target's status; the message must contain needle (when
 * given) on refusal. */
static mw_status check(const char *url, int allow_private, const char *needle) {
  mw_err err = {0};
  mw_status s = mw_url_check_target(url, allow_private, &err);
  if(s && needle && !strstr(err.msg, needle))
    fail_msg("%s: '%s' does not say '%s'", url, err.msg, needle);
  if(s && !err.msg[0])
    fail_msg("%s: refused without a reason", url);
  mw_err_clear(&err);
  return s;
}

static void test_check_literals(void **state) {
  (void)state;
  /* Loopback and private literals, in the forms curl and the resolver
   * read as IPv4 (inet_aton): refused without the flag, fine with it. */
  const char *private_urls[] = {
      "http://127.0.0.1/x",          "http://127.1/x",
      "http://0x7f.0.0.1/x",         "http://0x7f000001/x",
      "http://2130706433/x",         "http://017700000001/x",
      "http://0177.0.0.1:8080/x",    "http://127.000.000.001/",
      "http://127.0.0.1./x",         "http://%31%32%37.0.0.1/x",
      "http://[::1]/x",              "http://[::ffff:127.0.0.1]:9/x",
      "http://[0:0:0:0:0:ffff:7f00:1]/", "http://10.1.2.3/x",
      "http://172.16.5.4/",          "http://192.168.0.10:8443/hook",
      "http://100.64.0.1/",          "http://100.127.255.254/",
      "http://[fd00::1]/",           "https://user:pw@127.0.0.1:443/x?k=v",
      "http://10.0.0.1?key=x",       "http://192.168.1.1#frag",
  };
  for(size_t i = 0; i < sizeof private_urls / sizeof private_urls[0]; i++) {
    if(check(private_urls[i], 0, "--allow-private-webhooks") != MW_EVALIDATION)
      fail_msg("%s accepted without the flag", private_urls[i]);
    if(check(private_urls[i], 1, NULL) != MW_OK)
      fail_msg("%s refused with the flag", private_urls[i]);
  }
  /* Forbidden whatever the flag: link-local, metadata, unspecified,
   * multicast, broadcast. */
  const char *forbidden[] = {
      "http://169.254.169.254/latest/meta-data/", "http://169.254.10.1:80/x",
      "http://0xa9fea9fe/",                        "http://2852039166/",
      "http://0.0.0.0/",                           "http://0/",
      "http://[::]/",                              "http://[fe80::1]/",
      "http://[fe80::1%25eth0]:8080/",             "http://[::ffff:169.254.169.254]/",
      "http://[fd00:ec2::254]/",                   "http://224.0.0.1/",
      "http://255.255.255.255/",                   "http://100.100.100.200/",
      "http://168.63.129.16/",                     "http://[ff02::1]/",
  };
  for(size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
    if(check(forbidden[i], 0, "may not") != MW_EVALIDATION)
      fail_msg("%s accepted", forbidden[i]);
    if(check(forbidden[i], 1, "may not") != MW_EVALIDATION)
      fail_msg("%s accepted with the flag", forbidden[i]);
  }
  /* Public literals and names pass either way; a name is judged where it
   * resolves, at connect time. */
  const char *fine[] = {
      "https://hooks.slack.com/services/T0/B0/xyz", "http://8.8.8.8/",
      "http://[2001:4860:4860::8888]:443/x",        "https://localhost/x",
      "http://metadata.google.internal/",           "https://u:p@example.com:8443/p?q#f",
      "http://1e100.net/",                          "http://0x7f.example/",
      "https://example.com.",
  };
  for(size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
    if(check(fine[i], 0, NULL) != MW_OK)
      fail_msg("%s refused", fine[i]);
  }
}

static void test_check_malformed(void **state) {
  (void)state;
  const char *bad[] = {
      NULL,
      "",
      "ftp://example.com/x",
      "javascript:alert(1)",
      "file:///etc/passwd",
      "gopher://example.com/",
      "http://",
      "http:///x",
      "http://:80/x",
      "http://a b/",
      "http://example.com:0/",
      "http://example.com:65536/",
      "http://example.com:99999999/",
      "http://example.com:8o/",
      "http://example.com:/",
      "http://[::1/",
      "http://[127.0.0.1]/",
      "http://[v1.x]/",
      "http://[::1]x/",
      "http://a@b@example.com/",
      "http://example.com\\@evil.test/",
      "http://exa%zzmple.com/",
      "http://exa%2fmple.com/",
      "http://exa<mple.com/",
  };
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if(check(bad[i], 1, NULL) != MW_EVALIDATION)
      fail_msg("%s accepted", bad[i] ? bad[i] : "(null)");
  /* The scheme is http or https, lowercase, as mw_url_valid has it. */
  assert_int_equal(check("HTTP://example.com/", 1, "http"), MW_EVALIDATION);
}

/* ---- mail servers (email channels) ---- */

static mw_status check_smtp(const char *url, int allow_private, const char *needle) {
  mw_err err = {0};
  mw_status s = mw_url_check_smtp_target(url, allow_private, &err);
  if(s && needle && !strstr(err.msg, needle))
    fail_msg("%s: '%s' does not say '%s'", url, err.msg, needle);
  if(s && !err.msg[0])
    fail_msg("%s: refused without a reason", url);
  mw_err_clear(&err);
  return s;
}

static void test_check_smtp(void **state) {
  (void)state;
  /* smtp:// and smtps://, a host and perhaps a port. */
  const char *ok[] = {"smtp://mail.example.com", "smtp://mail.example.com:587",
                      "smtps://mail.example.com:465", "smtp://mail.example.com/",
                      "smtp://[2001:db8::1]:25"};
  for(size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if(check_smtp(ok[i], 0, NULL) != MW_OK)
      fail_msg("%s refused", ok[i]);
  assert_true(mw_url_valid_smtp("smtps://a.b"));
  assert_false(mw_url_valid_smtp("https://a.b"));
  /* The egress policy, as for webhooks. */
  assert_int_equal(check_smtp("smtp://127.0.0.1:2525", 0, "--allow-private-webhooks"),
                   MW_EVALIDATION);
  assert_int_equal(check_smtp("smtp://127.0.0.1:2525", 1, NULL), MW_OK);
  assert_int_equal(check_smtp("smtp://0x7f.0.0.1:2525", 0, "loopback"), MW_EVALIDATION);
  assert_int_equal(check_smtp("smtp://169.254.169.254:25", 1, "metadata"),
                   MW_EVALIDATION);
  assert_int_equal(check_smtp("smtps://[fe80::1]:465", 1, "link-local"),
                   MW_EVALIDATION);
  /* Other schemes, credentials in the URL, paths, bad ports. */
  assert_int_equal(check_smtp("http://mail.example.com", 0, "smtp://"),
                   MW_EVALIDATION);
  assert_int_equal(check_smtp("smtp://user:pw@mail.example.com", 0, "username"),
                   MW_EVALIDATION);
  assert_int_equal(check_smtp("smtp://mail.example.com/helo.example", 0, "path"),
                   MW_EVALIDATION);
  assert_int_equal(check_smtp("smtp://mail.example.com?x=1", 0, "path"),
                   MW_EVALIDATION);
  assert_int_equal(check_smtp("smtp://mail.example.com:0", 0, "port"),
                   MW_EVALIDATION);
  assert_int_equal(check_smtp("smtp://mail example.com", 0, NULL), MW_EVALIDATION);
  assert_int_equal(check_smtp(NULL, 0, NULL), MW_EVALIDATION);
  /* A webhook's check takes no SMTP URL. */
  assert_int_equal(check("smtp://mail.example.com", 1, "http"), MW_EVALIDATION);
  /* Redacted like any URL: scheme, host and port. */
  char out[64];
  assert_string_equal(mw_url_redact("smtp://mail.example.com:587/", out, sizeof out),
                      "smtp://mail.example.com:587");
}

/* ---- redaction ---- */

static void expect_redacted(const char *url, const char *want) {
  char out[1100];
  memset(out, 'X', sizeof out);
  mw_url_redact(url, out, sizeof out);
  if(strcmp(out, want))
    fail_msg("redact(%s) = '%s', want '%s'", url ? url : "(null)", out, want);
}

static void test_redact(void **state) {
  (void)state;
  expect_redacted("https://hooks.slack.com/services/T0/B0/secret",
                  "https://hooks.slack.com");
  expect_redacted("https://user:pass@hooks.example.com/x", "https://hooks.example.com");
  expect_redacted("https://user@hooks.example.com", "https://hooks.example.com");
  expect_redacted("http://user:p%40ss@host:8080/p?q=1#f", "http://host:8080");
  /* No path, the secret in the query or fragment. */
  expect_redacted("https://api.example.com?api_key=s3cret", "https://api.example.com");
  expect_redacted("https://api.example.com:8443?api_key=s3cret",
                  "https://api.example.com:8443");
  expect_redacted("https://api.example.com#token=s3cret", "https://api.example.com");
  expect_redacted("https://u:p@api.example.com?k=v", "https://api.example.com");
  /* IPv6 hosts keep their brackets; the zone is part of the host. */
  expect_redacted("http://[::1]:8080/hook", "http://[::1]:8080");
  expect_redacted("http://u:p@[2001:db8::1]/x", "http://[2001:db8::1]");
  expect_redacted("http://[fe80::1%25eth0]:9/x", "http://[fe80::1%25eth0]:9");
  /* The last '@' ends the userinfo, as browsers read it. */
  expect_redacted("http://a@b@host.example/x", "http://host.example");
  /* A password with ':' never shows as a port. */
  expect_redacted("http://user:secret@host.example", "http://host.example");
  /* What is not digits after ':' is not shown as a port. */
  expect_redacted("http://host.example:s3cret/x", "http://host.example");
  expect_redacted("http://host.example:/x", "http://host.example");
  expect_redacted("http://host.example:123456/x", "http://host.example");
  /* A backslash ends the authority. */
  expect_redacted("http://host.example\\@other/x", "http://host.example");
  /* Odd inputs: nothing, or nothing secret. */
  expect_redacted(NULL, "");
  expect_redacted("", "");
  expect_redacted("not a url", "");
  expect_redacted("://host/x", "");
  expect_redacted("http://", "");
  expect_redacted("http://@/x", "");
  expect_redacted("http://user:pw@/x", "");
  expect_redacted("1http://host/", "");
  expect_redacted("java script://host/", "");
  expect_redacted("mailto:user@example.com", "");
  expect_redacted("HTTPS://Host.Example/x", "HTTPS://Host.Example");
  /* A result that does not fit is "" rather than a cut host. */
  char small[12];
  mw_url_redact("https://hooks.example.com/x", small, sizeof small);
  assert_string_equal(small, "");
  mw_url_redact("http://a.b/x", small, sizeof small);
  assert_string_equal(small, "http://a.b");
}

static void test_json_redact(void **state) {
  (void)state;
  cJSON *o = cJSON_Parse("{\"url\":\"https://u:p@h.example/x?k=v\",\"n\":1}");
  mw_json_redact_url(o, "url");
  assert_string_equal(cJSON_GetObjectItem(o, "url")->valuestring, "https://h.example");
  /* Absent or not a string: untouched. */
  mw_json_redact_url(o, "nope");
  mw_json_redact_url(o, "n");
  assert_int_equal(cJSON_GetObjectItem(o, "n")->valueint, 1);
  mw_json_redact_url(NULL, "url");
  cJSON_Delete(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_egress_classes),
      cmocka_unit_test(test_check_literals),
      cmocka_unit_test(test_check_malformed),
      cmocka_unit_test(test_check_smtp),
      cmocka_unit_test(test_redact),
      cmocka_unit_test(test_json_redact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
