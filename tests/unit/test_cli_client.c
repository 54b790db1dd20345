/* Unit tests of the pure half of the client commands (cli/client.c):
 * arguments into requests (paths, bodies, methods, which calls may be
 * retried), the connection settings (flags over the environment), usage
 * errors, the exit codes of answers and transport failures, the retry
 * policy and Retry-After, and what is printed (error lines with details,
 * result lines, a rollout's timeline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/client.h"

/* Parses the words of line (split on spaces; "_" inside a word stands
 * for a space) with the given environment. */
static mw_status parse_env(const char *line, const char *env_url,
                           const char *env_token, cli_request *r, mw_err *err) {
  static char buf[4096];
  static char *argv[64];
  int argc = 0;
  snprintf(buf, sizeof buf, "%s", line);
  for(char *save = NULL, *w = strtok_r(buf, " ", &save); w && argc < 64;
      w = strtok_r(NULL, " ", &save)) {
    for(char *p = w; *p; p++)
      if(*p == '_' && p[1] == '_')
        *p = ' ', memmove(p + 1, p + 2, strlen(p + 2) + 1);
    argv[argc++] = w;
  }
  return cli_parse(argc, argv, env_url, env_token, NULL, r, err);
}

static mw_status parse(const char *line, cli_request *r, mw_err *err) {
  return parse_env(line, NULL, "tok", r, err);
}

/* The request's body as compact JSON (static buffer). */
static const char *body(const cli_request *r) {
  static char out[4096];
  char *s = r->body ? cJSON_PrintUnformatted(r->body) : NULL;
  snprintf(out, sizeof out, "%s", s ? s : "(none)");
  cJSON_free(s);
  return out;
}

static void ok(const char *line, cli_request *r) {
  mw_err err = {0};
  if(parse(line, r, &err))
    fail_msg("%s: %s", line, err.msg);
}

/* Expects a usage error whose message holds needle. */
static void bad(const char *line, const char *needle) {
  cli_request r;
  mw_err err = {0};
  if(parse(line, &r, &err) != MW_EINVAL)
    fail_msg("%s: parsed", line);
  if(!strstr(err.msg, needle))
    fail_msg("%s: '%s' lacks '%s'", line, err.msg, needle);
  cli_request_free(&r);
}

static char *write_tmp(const char *text) {
  static char names[4][64];
  static int next;
  char *name = names[next++ % 4];
  snprintf(name, 64, "/tmp/mw-cli-unit-XXXXXX");
  int fd = mkstemp(name);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return name;
}

/* ---- requests ---- */

static void test_model_create(void **state) {
  (void)state;
  cli_request r;
  ok("model create fraud --description fraud__model --tag team=risk --tag "
     "tier=a=b",
     &r);
  assert_int_equal(r.cmd, CLI_MODEL_CREATE);
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.path, "/api/v1/models");
  assert_string_equal(body(&r),
                      "{\"name\":\"fraud\",\"description\":\"fraud "
                      "model\",\"tags\":{\"team\":\"risk\",\"tier\":\"a=b\"}}");
  assert_false(r.idempotent);
  assert_false(r.json);
  cli_request_free(&r);
  bad("model create fraud --tag team", "key=value");
  bad("model create fraud --tag =x", "key=value");
  bad("model create fraud --tag a=1 --tag a=2", "given twice");
  bad("model create", "takes NAME (missing)");
  bad("model create a b", "too many");
  bad("model", "model takes create");
  bad("model create a --expect 3", "does not apply");
}

static void test_version_create(void **state) {
  (void)state;
  char *schema = write_tmp("{\"features\":[{\"name\":\"x\",\"type\":\"numeric\"}],"
                           "\"prediction\":{\"type\":\"numeric\"}}");
  char *metrics = write_tmp("{\"auc\": 0.87}");
  char line[1024];
  snprintf(line, sizeof line,
           "version create fraud --artifact model.bin --schema %s --metrics "
           "auc=0.91 --metrics f1=1e-1 --run-id 42 --description d --source s3 "
           "--tag k=v --json",
           schema);
  cli_request r;
  ok(line, &r);
  assert_int_equal(r.cmd, CLI_VERSION_CREATE);
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.path, "/api/v1/models/fraud/versions");
  assert_string_equal(r.artifact, "model.bin");
  assert_true(r.json);
  assert_false(r.idempotent);
  assert_string_equal(
      body(&r),
      "{\"description\":\"d\",\"run_id\":\"42\",\"source\":\"s3\",\"tags\":"
      "{\"k\":\"v\"},\"metrics\":{\"auc\":0.91,\"f1\":0.1},\"schema\":{"
      "\"features\":[{\"name\":\"x\",\"type\":\"numeric\"}],"
      "\"prediction\":{\"type\":\"numeric\"}}}");
  cli_request_free(&r);
  snprintf(line, sizeof line, "version create fraud --metrics-file=%s", metrics);
  ok(line, &r);
  assert_string_equal(body(&r), "{\"metrics\":{\"auc\":0.87}}");
  assert_string_equal(r.artifact, "");
  cli_request_free(&r);
  snprintf(line, sizeof line, "version create fraud --metrics a=1 --metrics-file %s",
           metrics);
  bad(line, "not both");
  bad("version create fraud --metrics auc=high", "must be a number");
  bad("version create fraud --metrics auc=inf", "must be a number");
  bad("version create fraud --schema /nonexistent/s.json", "/nonexistent/s.json");
  bad("version create fraud --artifact", "needs a value");
  char *notobj = write_tmp("[1,2]");
  snprintf(line, sizeof line, "version create fraud --schema %s", notobj);
  bad(line, "not a JSON object");
  char *broken = write_tmp("{\"features\":");
  snprintf(line, sizeof line, "version create fraud --schema %s", broken);
  bad(line, "not a JSON object");
  bad("version create fraud --schema a --schema b", "given twice");
  bad("version frob fraud", "version takes create or upload");
  unlink(schema);
  unlink(metrics);
  unlink(notobj);
  unlink(broken);

  ok("version upload fraud 3 model.bin", &r);
  assert_int_equal(r.cmd, CLI_VERSION_UPLOAD);
  assert_string_equal(r.method, "PUT");
  assert_string_equal(r.path, "/api/v1/models/fraud/versions/3/artifact");
  assert_int_equal(r.version, 3);
  assert_true(r.idempotent);
  assert_null(r.body);
  cli_request_free(&r);
  bad("version upload fraud 0 model.bin", "positive integer");
}

static void test_promote_rollback(void **state) {
  (void)state;
  cli_request r;
  ok("promote fraud production 3 --expect none --reason better__AUC", &r);
  assert_string_equal(r.method, "PUT");
  assert_string_equal(r.path, "/api/v1/models/fraud/aliases/production");
  assert_string_equal(
      body(&r),
      "{\"version\":3,\"expected_version\":null,\"reason\":\"better AUC\"}");
  assert_true(r.idempotent);
  assert_true(r.cas);
  assert_int_equal(r.version, 3);
  cli_request_free(&r);
  ok("promote fraud production 3 --expect=2", &r);
  assert_string_equal(body(&r), "{\"version\":3,\"expected_version\":2}");
  cli_request_free(&r);
  ok("promote fraud production 3", &r);
  assert_string_equal(body(&r), "{\"version\":3}");
  assert_false(r.cas);
  assert_true(r.idempotent);
  cli_request_free(&r);
  /* Names are percent-encoded into the path. */
  ok("promote fr/aud pro__d?x 1", &r);
  assert_string_equal(r.path, "/api/v1/models/fr%2Faud/aliases/pro%20d%3Fx");
  cli_request_free(&r);
  bad("promote fraud .. 1", "not a name");
  bad("promote fraud production 3 --expect two", "--expect takes");
  bad("promote fraud production 0", "positive integer");
  bad("promote fraud production -3", "unknown option -3");
  bad("promote fraud production", "takes MODEL ALIAS VERSION");

  ok("rollback fraud production --to 2 --reason drift", &r);
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.path, "/api/v1/models/fraud/aliases/production/rollback");
  assert_string_equal(body(&r), "{\"to_version\":2,\"reason\":\"drift\"}");
  assert_false(r.idempotent);
  cli_request_free(&r);
  ok("rollback fraud production", &r);
  assert_string_equal(body(&r), "{}");
  cli_request_free(&r);
}

static void test_approve_reject(void **state) {
  (void)state;
  cli_request r;
  ok("approve fraud 2 --comment load__test__passed", &r);
  assert_string_equal(r.path, "/api/v1/models/fraud/versions/2/approval");
  assert_string_equal(
      body(&r), "{\"decision\":\"approved\",\"comment\":\"load test passed\"}");
  assert_false(r.idempotent);
  cli_request_free(&r);
  ok("reject fraud 2", &r);
  assert_string_equal(body(&r), "{\"decision\":\"rejected\"}");
  cli_request_free(&r);
  bad("approve fraud two", "positive integer");
  bad("approve fraud 2 --reason x", "does not apply");
}

static void test_rollouts(void **state) {
  (void)state;
  char *an = write_tmp("{\"min_agreement\":0.9,\"max_drift_share\":0.5,"
                       "\"metric\":{\"name\":\"f1\",\"max_drop\":1}}");
  char line[1024];
  snprintf(line, sizeof line,
           "rollout start fraud production 4 --mode shadow --step 10:300 --step "
           "100:600 --analysis-file %s --max-drift-share 0.2 "
           "--max-candidate-vs-baseline-drift-share 0.1 --metric accuracy:0.02 "
           "--min-predictions 0 --label-delay 60 --max-wait 120",
           an);
  cli_request r;
  ok(line, &r);
  assert_int_equal(r.cmd, CLI_ROLLOUT_START);
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.path, "/api/v1/models/fraud/rollouts");
  assert_false(r.idempotent);
  /* The file's keys, the flags over them. */
  assert_string_equal(
      body(&r),
      "{\"steps\":[{\"weight_percent\":10,\"hold_seconds\":300},{\"weight_percent\":"
      "100,\"hold_seconds\":600}],\"analysis\":{\"min_agreement\":0.9,\"max_drift_"
      "share\":0.2,\"max_candidate_vs_baseline_drift_share\":0.1,\"min_"
      "predictions\":0,\"label_delay_seconds\":60,\"max_wait_seconds\":120,"
      "\"metric\":{\"name\":\"accuracy\",\"max_drop\":0.02}},\"alias\":"
      "\"production\",\"candidate_version\":4,\"mode\":\"shadow\"}");
  cli_request_free(&r);
  unlink(an);
  ok("rollout start fraud staging 2 --step 100:0", &r);
  assert_string_equal(body(&r),
                      "{\"steps\":[{\"weight_percent\":100,\"hold_"
                      "seconds\":0}],\"analysis\":{},\"alias\":\"staging\","
                      "\"candidate_version\":2}");
  cli_request_free(&r);
  bad("rollout start fraud staging 2", "at least one --step");
  bad("rollout start fraud staging 2 --step 10", "WEIGHT:HOLD_SECONDS");
  bad("rollout start fraud staging 2 --step 0:10", "--step weight");
  bad("rollout start fraud staging 2 --step 101:10", "--step weight");
  bad("rollout start fraud staging 2 --step 10:-1", "--step hold");
  bad("rollout start fraud staging 2 --step 10:1 --metric f1", "NAME:MAX_DROP");
  bad("rollout start fraud staging 2 --step 10:1 --metric f1:x", "MAX_DROP");
  bad("rollout start fraud staging 2 --step 10:1 --min-predictions 1.5",
      "--min-predictions");
  bad("rollout start fraud staging 2 --step 10:1 --analysis-file /nonexistent",
      "/nonexistent");

  ok("rollout wait fraud 7 --timeout 30 --interval 0.2", &r);
  assert_int_equal(r.cmd, CLI_ROLLOUT_WAIT);
  assert_string_equal(r.method, "GET");
  assert_string_equal(r.path, "/api/v1/models/fraud/rollouts/7");
  assert_true(r.idempotent);
  assert_int_equal(r.rollout_id, 7);
  assert_true(r.wait_timeout_s == 30 && r.wait_interval_s == 0.2);
  assert_null(r.body);
  cli_request_free(&r);
  ok("rollout wait fraud 7", &r);
  assert_true(r.wait_timeout_s == 0 && r.wait_interval_s == 1);
  cli_request_free(&r);
  bad("rollout wait fraud 7 --timeout -1", "negative");
  bad("rollout wait fraud 7 --interval 0", "--interval");
  bad("rollout status fraud 7 --timeout 3", "does not apply");
  ok("rollout status fraud 7", &r);
  assert_string_equal(r.path, "/api/v1/models/fraud/rollouts/7");
  cli_request_free(&r);
  const char *hands[] = {"pause", "resume", "abort", "promote"};
  for(int i = 0; i < 4; i++) {
    snprintf(line, sizeof line, "rollout %s fraud 7 --reason why", hands[i]);
    ok(line, &r);
    assert_int_equal(r.cmd, CLI_ROLLOUT_PAUSE + i);
    char want[128];
    snprintf(want, sizeof want, "/api/v1/models/fraud/rollouts/7/%s", hands[i]);
    assert_string_equal(r.path, want);
    assert_string_equal(r.method, "POST");
    assert_string_equal(body(&r), "{\"reason\":\"why\"}");
    assert_false(r.idempotent);
    cli_request_free(&r);
  }
  bad("rollout abort fraud x", "ID must be a positive integer");
  bad("rollout", "rollout takes start");
}

static void test_get(void **state) {
  (void)state;
  cli_request r;
  ok("get models/fraud/versions/2", &r);
  assert_string_equal(r.method, "GET");
  assert_string_equal(r.path, "/api/v1/models/fraud/versions/2");
  assert_true(r.idempotent);
  cli_request_free(&r);
  ok("get /api/v1/audit?target=fraud@production", &r);
  assert_string_equal(r.path, "/api/v1/audit?target=fraud@production");
  cli_request_free(&r);
  bad("get models/a__b", "space");
  bad("get", "takes PATH");
}

static void test_conn(void **state) {
  (void)state;
  cli_request r;
  mw_err err = {0};
  /* Defaults. */
  assert_int_equal(parse_env("get x", NULL, NULL, &r, &err), MW_OK);
  assert_string_equal(r.conn.url, CLI_DEFAULT_URL);
  assert_string_equal(r.conn.token, "");
  assert_int_equal(r.conn.retries, CLI_DEFAULT_RETRIES);
  assert_int_equal(r.conn.timeout_ms, CLI_DEFAULT_TIMEOUT_MS);
  cli_request_free(&r);
  /* The environment, trailing slashes trimmed. */
  assert_int_equal(
      parse_env("get x", "https://mw.example.com:8443/", "envtok", &r, &err), MW_OK);
  assert_string_equal(r.conn.url, "https://mw.example.com:8443");
  assert_string_equal(r.conn.token, "envtok");
  cli_request_free(&r);
  /* Flags win. */
  assert_int_equal(parse_env("get x --url http://h:1// --token flagtok --retries 0 "
                             "--request-timeout 2.5 --cacert /ca.pem",
                             "https://env", "envtok", &r, &err),
                   MW_OK);
  assert_string_equal(r.conn.url, "http://h:1");
  assert_string_equal(r.conn.token, "flagtok");
  assert_string_equal(r.conn.cacert, "/ca.pem");
  assert_int_equal(r.conn.retries, 0);
  assert_int_equal(r.conn.timeout_ms, 2500);
  cli_request_free(&r);
  bad("get x --url ftp://h", "http:// or https://");
  bad("get x --url h:8080", "http:// or https://");
  bad("get x --retries 11", "--retries");
  bad("get x --request-timeout 0", "--request-timeout");
  bad("get x --json=1", "takes no value");
  bad("get x --frobnicate", "unknown option --frobnicate");
  bad("deploy x", "unknown command deploy");
  /* A token that would break the header. */
  char *argv[] = {"get", "x", "--token", "a\r\nX-Evil: 1"};
  assert_int_equal(cli_parse(4, argv, NULL, NULL, NULL, &r, &err), MW_EINVAL);
  assert_non_null(strstr(err.msg, "control character"));
  cli_request_free(&r);
  /* --help anywhere. */
  ok("rollout start --help", &r);
  assert_int_equal(r.cmd, CLI_HELP);
  cli_request_free(&r);
  /* "--" ends the options. */
  ok("model create -- -odd", &r);
  assert_string_equal(r.model, "-odd");
  cli_request_free(&r);
}

static void test_is_command(void **state) {
  (void)state;
  char *v1[] = {"version"};
  char *v2[] = {"version", "create"};
  char *v3[] = {"version", "--json"};
  char *s[] = {"serve"};
  char *t[] = {"token", "create"};
  char *p[] = {"promote"};
  char *ro[] = {"rollout", "wait"};
  assert_false(cli_is_command(1, v1));
  assert_true(cli_is_command(2, v2));
  assert_false(cli_is_command(2, v3));
  assert_false(cli_is_command(1, s));
  assert_false(cli_is_command(2, t));
  assert_true(cli_is_command(1, p));
  assert_true(cli_is_command(2, ro));
  assert_false(cli_is_command(0, p));
}

/* ---- exit codes and retries ---- */

static void test_exit_codes(void **state) {
  (void)state;
  struct {
    cli_net net;
    long status;
    int want;
  } T[] = {
      {CLI_NET_OK, 200, CLI_EXIT_OK},
      {CLI_NET_OK, 201, CLI_EXIT_OK},
      {CLI_NET_OK, 400, CLI_EXIT_INVALID},
      {CLI_NET_OK, 401, CLI_EXIT_UNAUTHORIZED},
      {CLI_NET_OK, 403, CLI_EXIT_REFUSED},
      {CLI_NET_OK, 404, CLI_EXIT_NOT_FOUND},
      {CLI_NET_OK, 405, CLI_EXIT_ERROR},
      {CLI_NET_OK, 409, CLI_EXIT_CONFLICT},
      {CLI_NET_OK, 413, CLI_EXIT_INVALID},
      {CLI_NET_OK, 415, CLI_EXIT_ERROR},
      {CLI_NET_OK, 422, CLI_EXIT_INVALID},
      {CLI_NET_OK, 429, CLI_EXIT_UNREACHABLE},
      {CLI_NET_OK, 500, CLI_EXIT_UNREACHABLE},
      {CLI_NET_OK, 503, CLI_EXIT_UNREACHABLE},
      {CLI_NET_OK, 302, CLI_EXIT_ERROR},
      {CLI_NET_NOT_SENT, 0, CLI_EXIT_UNREACHABLE},
      {CLI_NET_FAILED, 0, CLI_EXIT_UNREACHABLE},
      {CLI_NET_TLS, 0, CLI_EXIT_UNREACHABLE},
      {CLI_NET_LOCAL, 0, CLI_EXIT_ERROR},
  };
  for(size_t i = 0; i < sizeof T / sizeof T[0]; i++)
    if(cli_exit_for(T[i].net, T[i].status) != T[i].want)
      fail_msg("net %d status %ld: %d, want %d", T[i].net, T[i].status,
               cli_exit_for(T[i].net, T[i].status), T[i].want);
  /* Distinct codes, as documented. */
  int codes[] = {CLI_EXIT_OK,          CLI_EXIT_ERROR,        CLI_EXIT_USAGE,
                 CLI_EXIT_UNREACHABLE, CLI_EXIT_UNAUTHORIZED, CLI_EXIT_REFUSED,
                 CLI_EXIT_NOT_FOUND,   CLI_EXIT_CONFLICT,     CLI_EXIT_INVALID,
                 CLI_EXIT_ABORTED,     CLI_EXIT_PAUSED,       CLI_EXIT_TIMEOUT};
  for(size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    for(size_t j = i + 1; j < sizeof codes / sizeof codes[0]; j++)
      assert_int_not_equal(codes[i], codes[j]);
  assert_int_equal(CLI_EXIT_CONFLICT, 7);
  assert_int_equal(CLI_EXIT_ABORTED, 10);

  cJSON *r = cJSON_Parse("{\"state\":\"promoted\"}");
  assert_int_equal(cli_wait_exit(r), CLI_EXIT_OK);
  cJSON_ReplaceItemInObject(r, "state", cJSON_CreateString("aborted"));
  assert_int_equal(cli_wait_exit(r), CLI_EXIT_ABORTED);
  cJSON_ReplaceItemInObject(r, "state", cJSON_CreateString("paused"));
  assert_int_equal(cli_wait_exit(r), CLI_EXIT_PAUSED);
  cJSON_ReplaceItemInObject(r, "state", cJSON_CreateString("running"));
  assert_int_equal(cli_wait_exit(r), -1);
  cJSON_Delete(r);
  assert_int_equal(cli_wait_exit(NULL), -1);
}

static void test_retry_after(void **state) {
  (void)state;
  int64_t now = INT64_C(784111777000); /* Sun, 06 Nov 1994 08:49:37 GMT */
  assert_int_equal(cli_retry_after_ms("1", now), 1000);
  assert_int_equal(cli_retry_after_ms(" 120 ", now), 120000);
  assert_int_equal(cli_retry_after_ms("0", now), 0);
  assert_int_equal(cli_retry_after_ms("99999999999999999999", now), 86400L * 1000);
  assert_int_equal(cli_retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT", now), 3000);
  assert_int_equal(cli_retry_after_ms("Sun, 06 Nov 1994 08:49:00 GMT", now), 0);
  assert_int_equal(cli_retry_after_ms("soon", now), -1);
  assert_int_equal(cli_retry_after_ms("1.5", now), -1);
  assert_int_equal(cli_retry_after_ms("-1", now), -1);
  assert_int_equal(cli_retry_after_ms("", now), -1);
  assert_int_equal(cli_retry_after_ms(NULL, now), -1);
  assert_int_equal(cli_retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT junk", now),
                   -1);
}

static void test_retry_policy(void **state) {
  (void)state;
  /* Connection refused: any call, with backoff 250, 500, 1000 ms. */
  assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_NOT_SENT, 0, NULL, 0, 0),
                   250);
  assert_int_equal(cli_retry_delay_ms(3, 2, 0, CLI_NET_NOT_SENT, 0, NULL, 0, 0),
                   500);
  assert_int_equal(cli_retry_delay_ms(3, 3, 1, CLI_NET_NOT_SENT, 0, NULL, 0, 0),
                   1000);
  /* Spent. */
  assert_int_equal(cli_retry_delay_ms(3, 4, 1, CLI_NET_NOT_SENT, 0, NULL, 0, 0), -1);
  assert_int_equal(cli_retry_delay_ms(0, 1, 1, CLI_NET_NOT_SENT, 0, NULL, 0, 0), -1);
  /* Capped at 4 s, jitter adds up to half. */
  assert_int_equal(cli_retry_delay_ms(10, 9, 1, CLI_NET_NOT_SENT, 0, NULL, 0, 0),
                   4000);
  assert_int_equal(cli_retry_delay_ms(3, 1, 1, CLI_NET_NOT_SENT, 0, NULL, 0, 0.5),
                   312);
  assert_int_equal(cli_retry_delay_ms(3, 1, 1, CLI_NET_NOT_SENT, 0, NULL, 0, 7),
                   250);
  /* An answer lost: only an idempotent call. */
  assert_int_equal(cli_retry_delay_ms(3, 1, 1, CLI_NET_FAILED, 0, NULL, 0, 0), 250);
  assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_FAILED, 0, NULL, 0, 0), -1);
  /* Never: TLS, local. */
  assert_int_equal(cli_retry_delay_ms(3, 1, 1, CLI_NET_TLS, 0, NULL, 0, 0), -1);
  assert_int_equal(cli_retry_delay_ms(3, 1, 1, CLI_NET_LOCAL, 0, NULL, 0, 0), -1);
  /* 429: any call, after Retry-After. */
  assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_OK, 429, "2", 0, 0.9), 2000);
  assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_OK, 429, NULL, 0, 0), 250);
  assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_OK, 429, "bogus", 0, 0), 250);
  /* ... unless it asks for more than the cap. */
  assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_OK, 429, "61", 0, 0), -1);
  assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_OK, 429, "60", 0, 0), 60000);
  /* 502/503/504: idempotent calls only. */
  for(long s = 502; s <= 504; s++) {
    assert_int_equal(cli_retry_delay_ms(3, 1, 1, CLI_NET_OK, s, "1", 0, 0), 1000);
    assert_int_equal(cli_retry_delay_ms(3, 1, 0, CLI_NET_OK, s, "1", 0, 0), -1);
  }
  /* Everything else is an answer. */
  long final[] = {200, 201, 400, 401, 403, 404, 409, 422, 500, 501};
  for(size_t i = 0; i < sizeof final / sizeof final[0]; i++)
    assert_int_equal(cli_retry_delay_ms(3, 1, 1, CLI_NET_OK, final[i], "1", 0, 0),
                     -1);
}

/* ---- output ---- */

static const char *described(const char *method, const char *path, long status,
                             const char *b) {
  static char out[2048];
  mw_buf m;
  mw_buf_init(&m, 1 << 16);
  assert_int_equal(
      cli_describe_error(method, path, status, b, b ? strlen(b) : 0, &m), MW_OK);
  snprintf(out, sizeof out, "%s", m.data ? m.data : "");
  mw_buf_free(&m);
  return out;
}

static void test_describe_error(void **state) {
  (void)state;
  assert_string_equal(
      described("PUT", "/api/v1/models/f/aliases/p", 409,
                "{\"error\":{\"code\":\"conflict\",\"message\":\"alias 'p' points "
                "to version 1, not the expected one\",\"details\":{\"current_"
                "version\":1}}}"),
      "modelwatch: PUT /api/v1/models/f/aliases/p: 409 conflict: alias 'p' points "
      "to version 1, not the expected one\n  details: {\"current_version\":1}\n");
  /* Empty details are not shown. */
  assert_string_equal(described("GET", "/x", 404,
                                "{\"error\":{\"code\":\"not_found\",\"message\":"
                                "\"no model named 'a'\",\"details\":{}}}"),
                      "modelwatch: GET /x: 404 not_found: no model named 'a'\n");
  /* Validation details, as the server sent them. */
  assert_string_equal(
      described(
          "POST", "/p", 422,
          "{\"error\":{\"code\":\"validation_failed\",\"message\":\"2 rows "
          "failed\",\"details\":{\"errors\":[{\"index\":0,\"field\":\"x\"}]}}}"),
      "modelwatch: POST /p: 422 validation_failed: 2 rows failed\n  details: "
      "{\"errors\":[{\"index\":0,\"field\":\"x\"}]}\n");
  /* 401 says where the token comes from (never what it is). */
  const char *s = described("GET", "/x", 401,
                            "{\"error\":{\"code\":\"unauthenticated\",\"message\":"
                            "\"invalid token\",\"details\":{}}}");
  assert_non_null(strstr(s, "401 unauthenticated: invalid token\n"));
  assert_non_null(strstr(s, "MODELWATCH_TOKEN"));
  /* Not JSON (a proxy's page): its first bytes, control characters out. */
  assert_string_equal(described("GET", "/x", 502, "<html>\r\nBad gateway</html>"),
                      "modelwatch: GET /x: 502: <html>??Bad gateway</html>\n");
  assert_string_equal(described("GET", "/x", 503, NULL),
                      "modelwatch: GET /x: 503\n");
}

static const char *result(const char *line, const char *answer) {
  static char out[1024];
  cli_request r;
  ok(line, &r);
  cJSON *a = cJSON_Parse(answer);
  mw_buf m;
  mw_buf_init(&m, 1 << 16);
  assert_int_equal(cli_describe_result(&r, a, &m), MW_OK);
  snprintf(out, sizeof out, "%s", m.data);
  mw_buf_free(&m);
  cJSON_Delete(a);
  cli_request_free(&r);
  return out;
}

static void test_describe_result(void **state) {
  (void)state;
  assert_string_equal(result("model create fraud", "{\"name\":\"fraud\"}"),
                      "created model fraud\n");
  assert_string_equal(result("version create fraud", "{\"version\":3}"), "3\n");
  assert_string_equal(result("version upload fraud 3 f", "{\"version\":3}"), "3\n");
  assert_string_equal(result("promote fraud production 3",
                             "{\"alias\":\"production\",\"version\":3,\"previous_"
                             "version\":2}"),
                      "fraud@production -> 3 (was 2)\n");
  assert_string_equal(result("promote fraud production 3 --expect none",
                             "{\"alias\":\"production\",\"version\":3,\"previous_"
                             "version\":null}"),
                      "fraud@production -> 3 (was unset)\n");
  assert_string_equal(result("rollback fraud production",
                             "{\"alias\":\"production\",\"version\":1,\"previous_"
                             "version\":2}"),
                      "fraud@production -> 1 (was 2)\n");
  assert_string_equal(result("approve fraud 2", "{\"version\":2,\"approval\":{"
                                                "\"state\":\"approved\"}}"),
                      "fraud version 2 approved\n");
  assert_string_equal(result("reject fraud 2", "{\"version\":2,\"approval\":{"
                                               "\"state\":\"rejected\"}}"),
                      "fraud version 2 rejected\n");
  assert_string_equal(
      result("rollout start fraud production 2 --step 100:0", "{\"id\":5}"), "5\n");
  assert_string_equal(
      result("rollout pause fraud 5",
             "{\"id\":5,\"alias\":\"production\",\"state\":\"paused\"}"),
      "rollout 5 of fraud@production: paused\n");
  /* Commands that print otherwise have no line. */
  cli_request r;
  ok("get models", &r);
  mw_buf m;
  mw_buf_init(&m, 1024);
  assert_int_equal(cli_describe_result(&r, NULL, &m), MW_EINVAL);
  mw_buf_free(&m);
  cli_request_free(&r);
}

static void test_timeline(void **state) {
  (void)state;
  cJSON *r = cJSON_Parse(
      "{\"id\":2,\"model\":\"fraud\",\"alias\":\"production\",\"mode\":\"canary\","
      "\"state\":\"aborted\",\"baseline_version\":1,\"candidate_version\":2,"
      "\"step\":1,\"weight_percent\":0,\"steps\":[{},{}],"
      "\"created_at\":\"2026-01-01T00:00:00.000Z\","
      "\"reason\":\"step 2: candidate_drift_share 0.6 > 0.2\",\"events\":["
      "{\"at\":\"2026-01-01T00:00:00.000Z\",\"kind\":\"started\",\"step\":0,"
      "\"weight_percent\":10,\"actor\":\"token:ci\"},"
      "{\"at\":\"2026-01-01T00:00:01.500Z\",\"kind\":\"step\",\"step\":1,"
      "\"weight_percent\":50,\"actor\":\"rollout-controller\",\"detail\":[]},"
      "{\"at\":\"2026-01-01T00:00:03.250Z\",\"kind\":\"aborted\",\"step\":1,"
      "\"weight_percent\":0,\"actor\":\"rollout-controller\",\"detail\":["
      "{\"name\":\"candidate_drift_share\",\"value\":0.6,\"threshold\":0.2,"
      "\"op\":\"<=\",\"passed\":false,\"detail\":\"3 of 5 columns\"},"
      "{\"name\":\"f1_drop\",\"value\":null,\"threshold\":null,\"op\":\"<=\","
      "\"passed\":true}]}]}");
  mw_buf m;
  mw_buf_init(&m, 1 << 16);
  assert_int_equal(cli_timeline(r, &m), MW_OK);
  assert_string_equal(
      m.data,
      "rollout 2 of fraud@production: v1 -> v2 (canary), aborted\n"
      "  +   0.00 s  started   step 1  weight  10%  by token:ci\n"
      "  +   1.50 s  step      step 2  weight  50%  by rollout-controller\n"
      "  +   3.25 s  aborted   step 2  weight   0%  by rollout-controller\n"
      "        FAIL candidate_drift_share                       0.6 <= 0.2      "
      "3 of 5 columns\n"
      "        ok   f1_drop                                     n/a <= -        \n"
      "  reason: step 2: candidate_drift_share 0.6 > 0.2\n");
  mw_buf_free(&m);
  /* A running rollout says where it is. */
  cJSON_ReplaceItemInObject(r, "state", cJSON_CreateString("running"));
  cJSON_DeleteItemFromObject(r, "events");
  cJSON_DeleteItemFromObject(r, "reason");
  cJSON_ReplaceItemInObject(r, "weight_percent", cJSON_CreateNumber(50));
  mw_buf_init(&m, 1 << 16);
  assert_int_equal(cli_timeline(r, &m), MW_OK);
  assert_string_equal(m.data,
                      "rollout 2 of fraud@production: v1 -> v2 (canary), running\n"
                      "  now: step 2 of 2, weight 50%\n");
  mw_buf_free(&m);
  cJSON_Delete(r);
}

static void test_usage_lists_exit_codes(void **state) {
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  cli_usage(f);
  fclose(f);
#define CLI_X_CHECK(name, val, word, desc)                  \
  do {                                                      \
    char line[64];                                          \
    snprintf(line, sizeof line, "  %3d %-12s ", val, word); \
    if(!strstr(text, line))                                 \
      fail_msg("--help lacks exit code %d", val);           \
  } while(0);
  CLI_EXIT_MAP(CLI_X_CHECK)
#undef CLI_X_CHECK
  assert_non_null(strstr(text, "MODELWATCH_TOKEN"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_create),
      cmocka_unit_test(test_version_create),
      cmocka_unit_test(test_promote_rollback),
      cmocka_unit_test(test_approve_reject),
      cmocka_unit_test(test_rollouts),
      cmocka_unit_test(test_get),
      cmocka_unit_test(test_conn),
      cmocka_unit_test(test_is_command),
      cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_retry_after),
      cmocka_unit_test(test_retry_policy),
      cmocka_unit_test(test_describe_error),
      cmocka_unit_test(test_describe_result),
      cmocka_unit_test(test_timeline),
      cmocka_unit_test(test_usage_lists_exit_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
