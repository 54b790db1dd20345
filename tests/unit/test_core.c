/* Unit tests of core/: statuses, time, crypto, buffers, names, migrations,
 * tokens and scopes, on real SQLite files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/db_sqlite.h"
#include "core/core.h"

static void test_status_table(void **state) {
  (void)state;
  assert_string_equal(mw_status_code(MW_OK), "ok");
  assert_string_equal(mw_status_code(MW_ENOTFOUND), "not_found");
  assert_string_equal(mw_status_code(MW_ECONFLICT), "conflict");
  assert_string_equal(mw_status_code(MW_EVALIDATION), "validation_failed");
  assert_string_equal(mw_strerror(MW_ESCHEMA),
                      "database schema is newer than this binary");
  /* Every status has a distinct code. */
  mw_status all[] = {
      MW_OK,           MW_EINVAL,        MW_ENOTFOUND, MW_ECONFLICT,   MW_ETOOBIG,
      MW_EDB,          MW_EIO,           MW_ENOMEM,    MW_EVALIDATION, MW_EUNAUTH,
      MW_EFORBIDDEN,   MW_EBUSY,         MW_ETOOMANY,  MW_ESCHEMA,     MW_EINTERNAL,
      MW_ENOTAPPROVED, MW_ESELFAPPROVAL, MW_ESECRET};
  size_t n = sizeof all / sizeof all[0];
  for(size_t i = 0; i < n; i++)
    for(size_t j = i + 1; j < n; j++)
      assert_string_not_equal(mw_status_code(all[i]), mw_status_code(all[j]));
  assert_string_equal(mw_strerror((mw_status)-999), "unknown error");
}

static void test_time_roundtrip(void **state) {
  (void)state;
  int64_t ms = 0;
  assert_int_equal(mw_time_parse("2026-11-27T08:00:00Z", &ms), MW_OK);
  assert_int_equal(ms, 1795766400000LL);
  char buf[40];
  assert_string_equal(mw_time_format(ms + 123, buf, sizeof buf),
                      "2026-11-27T08:00:00.123Z");
  assert_int_equal(mw_time_parse("2026-11-27T09:30:00.5+01:30", &ms), MW_OK);
  assert_int_equal(ms, 1795766400500LL);
  assert_int_equal(mw_time_parse("1970-01-01T00:00:00Z", &ms), MW_OK);
  assert_int_equal(ms, 0);
  assert_int_equal(mw_time_parse("2026-13-01T00:00:00Z", &ms), MW_EINVAL);
  assert_int_equal(mw_time_parse("2026-11-27 08:00", &ms), MW_EINVAL);
  assert_int_equal(mw_time_parse("2026-11-27T08:00:00", &ms), MW_EINVAL);
  assert_int_equal(mw_time_parse("2026-11-27T08:00:00Zjunk", &ms), MW_EINVAL);
  assert_int_equal(mw_time_parse(NULL, &ms), MW_EINVAL);
}

static void test_crypto_vectors(void **state) {
  (void)state;
  char hex[65];
  mw_sha256_hex("abc", 3, hex);
  assert_string_equal(
      hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  char b64[64];
  mw_base64_encode((const unsigned char *)"hello", 5, b64);
  assert_string_equal(b64, "aGVsbG8=");
  unsigned char dec[16];
  assert_int_equal(mw_base64_decode("aGVsbG8=", dec, sizeof dec), 5);
  assert_memory_equal(dec, "hello", 5);
  assert_int_equal(mw_base64_decode("a$==", dec, sizeof dec), -1);
  /* The Standard Webhooks specification's own test vector. */
  char sig[64];
  const char *body = "{\"test\": 2432232314}";
  assert_int_equal(mw_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                   "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                   strlen(body), sig),
                   MW_OK);
  assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  assert_int_equal(mw_webhook_sign("whsec_!!!", "m", 1, "x", 1, sig), MW_EINVAL);
  char tok[41];
  assert_int_equal(mw_random_token(tok, 40), MW_OK);
  assert_int_equal(strlen(tok), 40);
  assert_true(mw_ct_equal("abcd", "abcd", 4));
  assert_false(mw_ct_equal("abcd", "abce", 4));
}

static void test_buf_cap(void **state) {
  (void)state;
  mw_buf b;
  mw_buf_init(&b, 10);
  assert_int_equal(mw_buf_append(&b, "12345", 5), MW_OK);
  assert_int_equal(mw_buf_printf(&b, "%d", 6789), MW_OK);
  assert_string_equal(b.data, "123456789");
  assert_int_equal(mw_buf_append(&b, "ab", 2), MW_ETOOBIG);
  assert_null(b.data); /* freed on overflow */
  assert_int_equal(b.len, 0);
  mw_buf_free(&b);
  char small[4];
  assert_int_equal(mw_strlcpy(small, "abcdef", sizeof small), MW_ETOOBIG);
  assert_string_equal(small, "abc");
  int64_t v;
  assert_int_equal(mw_parse_i64("-42", &v), MW_OK);
  assert_int_equal(v, -42);
  assert_int_equal(mw_parse_i64("4x", &v), MW_EINVAL);
  assert_int_equal(mw_parse_i64("", &v), MW_EINVAL);
}

/* Integers out of JSON numbers, without the undefined conversions of
 * huge values and infinities (cJSON reads "1e999" as inf). */
static void test_json_int(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int ok;
    int64_t want;
  } cases[] = {{"3", 1, 3},
               {"-42", 1, -42},
               {"1e3", 1, 1000},
               {"1.5", 0, 0},
               {"1e300", 0, 0},
               {"1e999", 0, 0},
               {"-1e999", 0, 0},
               {"9223372036854775808", 0, 0},
               {"-9223372036854775808", 1, INT64_MIN},
               {"\"3\"", 0, 0},
               {"null", 0, 0}};
  for(size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cJSON *j = cJSON_Parse(cases[i].text);
    int64_t v = 7;
    assert_int_equal(mw_json_int(j, &v), cases[i].ok);
    assert_true(v == (cases[i].ok ? cases[i].want : 7));
    cJSON_Delete(j);
  }
}

static void test_names(void **state) {
  (void)state;
  assert_true(mw_name_valid("fraud-model_v2.1"));
  assert_false(mw_name_valid(""));
  assert_false(mw_name_valid(".hidden"));
  assert_false(mw_name_valid("../x"));
  assert_false(mw_name_valid("a b"));
  assert_false(mw_name_valid("caf\xc3\xa9"));
  char longname[130];
  memset(longname, 'a', 129);
  longname[129] = '\0';
  assert_false(mw_name_valid(longname));
  longname[128] = '\0';
  assert_true(mw_name_valid(longname));
}

struct dbfix {
  char dir[64];
  char path[128];
  mw_db *db;
};

static int db_setup(void **state) {
  struct dbfix *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/mwunitXXXXXX");
  if(!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
  if(mw_db_open(f->path, 0, &f->db))
    return -1;
  *state = f;
  return 0;
}

static int db_teardown(void **state) {
  struct dbfix *f = *state;
  mw_db_close(f->db);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  if(system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static void test_migrations_fresh_and_existing(void **state) {
  struct dbfix *f = *state;
  mw_conn *c = mw_db_conn(f->db);
  int v = -1, applied = -1;
  assert_int_equal(mw_schema_version(c, &v), MW_OK);
  assert_int_equal(v, 0);
  assert_int_equal(mw_migrate(c, &applied), MW_OK);
  assert_int_equal(applied, mw_migrations_latest());
  assert_int_equal(mw_schema_version(c, &v), MW_OK);
  assert_int_equal(v, mw_migrations_latest());
  /* Running again on the existing database applies nothing. */
  assert_int_equal(mw_migrate(c, &applied), MW_OK);
  assert_int_equal(applied, 0);
  sqlite3_stmt *st = mw_stmt(c, "SELECT count(*) FROM schema_migrations");
  assert_non_null(st);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), mw_migrations_latest());
  sqlite3_reset(st);
  /* A database newer than the binary is refused. */
  assert_int_equal(mw_exec(c, "PRAGMA user_version=10000"), MW_OK);
  assert_int_equal(mw_migrate(c, &applied), MW_ESCHEMA);
}

static void test_transactions(void **state) {
  struct dbfix *f = *state;
  mw_conn *c = mw_db_conn(f->db);
  assert_int_equal(mw_exec(c, "CREATE TABLE t(x INTEGER UNIQUE)"), MW_OK);
  assert_int_equal(mw_tx_begin(c), MW_OK);
  assert_int_equal(mw_exec(c, "INSERT INTO t VALUES(1)"), MW_OK);
  mw_tx_rollback(c);
  assert_int_equal(mw_tx_begin(c), MW_OK);
  assert_int_equal(mw_exec(c, "INSERT INTO t VALUES(2)"), MW_OK);
  assert_int_equal(mw_tx_commit(c), MW_OK);
  mw_tx_rollback(c); /* harmless without a transaction */
  assert_int_equal(mw_exec(c, "INSERT INTO t VALUES(2)"), MW_ECONFLICT);
  sqlite3_stmt *st = mw_stmt(c, "SELECT group_concat(x) FROM t");
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal(mw_col_text(st, 0), "2");
  /* The cached statement comes back reset. */
  st = mw_stmt(c, "SELECT group_concat(x) FROM t");
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  sqlite3_reset(st);
}

/* The step helpers map only the code a caller expects to MW_OK: no stale
 * or unexpected code of one statement can pass for the success of another
 * (registry/aliases.c once answered 200 after a failed prepare because rc
 * still held SQLITE_ROW from the SELECT before it). */
static void test_step_helpers(void **state) {
  struct dbfix *f = *state;
  mw_conn *c = mw_db_conn(f->db);
  assert_int_equal(mw_exec(c, "CREATE TABLE s(x INTEGER UNIQUE)"), MW_OK);
  sqlite3_stmt *ins = mw_stmt(c, "INSERT INTO s VALUES(?)");
  sqlite3_bind_int(ins, 1, 1);
  assert_int_equal(mw_step_done(c, ins), MW_OK);
  sqlite3_bind_int(ins, 1, 1);
  assert_int_equal(mw_step_done(c, ins), MW_ECONFLICT);
  sqlite3_bind_int(ins, 1, 2);
  assert_int_equal(mw_step_done(c, ins), MW_OK); /* reset after the failure */
  /* A failed prepare (NULL) is an error, whatever came before. */
  assert_int_equal(mw_step_done(c, NULL), MW_EDB);
  int row = 1;
  assert_int_equal(mw_step_row(c, NULL, &row), MW_EDB);
  assert_int_equal(row, 0);
  assert_int_equal(mw_step_one(c, NULL), MW_EDB);
  /* A statement that gives a row where none was expected is not done. */
  assert_int_equal(mw_step_done(c, mw_stmt(c, "SELECT x FROM s")), MW_EINTERNAL);
  sqlite3_stmt *q = mw_stmt(c, "SELECT x FROM s ORDER BY x");
  int n = 0, sum = 0;
  mw_status st;
  while(!(st = mw_step_row(c, q, &row)) && row) {
    n++;
    sum += sqlite3_column_int(q, 0);
  }
  assert_int_equal(st, MW_OK);
  assert_int_equal(n, 2);
  assert_int_equal(sum, 3);
  assert_false(sqlite3_stmt_busy(q)); /* reset at its end */
  sqlite3_stmt *one = mw_stmt(c, "SELECT x FROM s WHERE x = ?");
  sqlite3_bind_int(one, 1, 2);
  assert_int_equal(mw_step_one(c, one), MW_OK);
  assert_int_equal(sqlite3_column_int(one, 0), 2);
  sqlite3_reset(one);
  sqlite3_bind_int(one, 1, 7);
  assert_int_equal(mw_step_one(c, one), MW_ENOTFOUND);
}

/* The statement cache holds fewer statements than the code base has. When
 * it evicts, a query still standing on a row is never the victim: it used
 * to evict the oldest entry, which could be exactly the SELECT whose rows
 * a loop was still reading (a use after free). */
static void test_stmt_cache_keeps_open_queries(void **state) {
  struct dbfix *f = *state;
  mw_conn *c = mw_db_conn(f->db);
  assert_int_equal(mw_exec(c, "CREATE TABLE r(x INTEGER);"
                              "INSERT INTO r VALUES(1), (2), (3)"),
                   MW_OK);
  static const char outer[] = "SELECT x FROM r ORDER BY x";
  sqlite3_stmt *q = mw_stmt(c, outer);
  int row = 0;
  assert_int_equal(mw_step_row(c, q, &row), MW_OK);
  assert_int_equal(row, 1);
  assert_int_equal(sqlite3_column_int(q, 0), 1);
  /* 200 other statements while q is open: the cache is keyed by the SQL's
   * address, so the same text at 200 addresses is 200 statements; the
   * number goes in as a parameter. */
  static char sql[200][40];
  for(int i = 0; i < 200; i++) {
    mw_strlcpy(sql[i], "SELECT ?1 + x FROM r LIMIT 1", sizeof sql[i]);
    sqlite3_stmt *o = mw_stmt(c, sql[i]);
    assert_non_null(o);
    sqlite3_bind_int(o, 1, i);
    assert_int_equal(mw_step_one(c, o), MW_OK);
    assert_int_equal(sqlite3_column_int(o, 0), i + 1);
    sqlite3_reset(o);
  }
  assert_int_equal(mw_step_row(c, q, &row), MW_OK);
  assert_int_equal(row, 1);
  assert_int_equal(sqlite3_column_int(q, 0), 2);
  sqlite3_reset(q);
  /* The same SQL gives the same (still cached) statement back. */
  assert_ptr_equal(mw_stmt(c, outer), q);
}

/* The database and its -wal and -shm are 0600 whatever the umask, and an
 * existing database open to others is narrowed when opened. */
static void test_db_files_private(void **state) {
  struct dbfix *f = *state;
  mode_t old = umask(022);
  char path[200], side[220];
  snprintf(path, sizeof path, "%s/p.db", f->dir);
  mw_db *db = NULL;
  assert_int_equal(mw_db_open(path, 0, &db), MW_OK);
  mw_conn *c = mw_db_conn(db);
  assert_int_equal(mw_exec(c, "CREATE TABLE t(x); INSERT INTO t VALUES(1)"), MW_OK);
  struct stat sb;
  static const char *const suffix[] = {"", "-wal", "-shm"};
  for(int i = 0; i < 3; i++) {
    snprintf(side, sizeof side, "%s%s", path, suffix[i]);
    assert_int_equal(stat(side, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
  }
  mw_db_close(db);
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(mw_db_open(path, 0, &db), MW_OK);
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  mw_db_close(db);
  umask(old);
}

static void test_tokens_and_scopes(void **state) {
  struct dbfix *f = *state;
  mw_conn *c = mw_db_conn(f->db);
  assert_int_equal(mw_migrate(c, NULL), MW_OK);
  char secret[128];
  assert_int_equal(mw_token_create(c, "ci", MW_SCOPE_READ | MW_SCOPE_PROMOTE, "test",
                                   secret, sizeof secret),
                   MW_OK);
  assert_int_equal(strncmp(secret, "mw_", 3), 0);
  char again[128];
  assert_int_equal(
      mw_token_create(c, "ci", MW_SCOPE_READ, "test", again, sizeof again),
      MW_ECONFLICT);
  assert_int_equal(
      mw_token_create(c, "bad name", MW_SCOPE_READ, "test", again, sizeof again),
      MW_EINVAL);
  assert_int_equal(mw_token_create(c, "none", 0, "test", again, sizeof again),
                   MW_EINVAL);
  mw_token_info info;
  assert_int_equal(mw_token_verify(c, secret, &info), MW_OK);
  assert_string_equal(info.name, "ci");
  assert_int_equal(info.scopes, MW_SCOPE_READ | MW_SCOPE_PROMOTE);
  /* The stored value is the sha256 of the token, never the token. */
  sqlite3_stmt *st = mw_stmt(c, "SELECT hash FROM tokens WHERE name='ci'");
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char want[65];
  mw_sha256_hex(secret, strlen(secret), want);
  assert_string_equal(mw_col_text(st, 0), want);
  sqlite3_reset(st);
  char wrong[128];
  snprintf(wrong, sizeof wrong, "%s", secret);
  wrong[strlen(wrong) - 1] ^= 1;
  assert_int_equal(mw_token_verify(c, wrong, &info), MW_EUNAUTH);
  assert_int_equal(mw_token_verify(c, "", &info), MW_EUNAUTH);
  assert_int_equal(mw_token_verify(c, NULL, &info), MW_EUNAUTH);

  assert_true(mw_scope_allows(MW_SCOPE_READ | MW_SCOPE_PROMOTE, MW_SCOPE_PROMOTE));
  assert_false(mw_scope_allows(MW_SCOPE_READ, MW_SCOPE_PROMOTE));
  assert_false(mw_scope_allows(MW_SCOPE_INGEST, MW_SCOPE_READ));
  assert_true(mw_scope_allows(MW_SCOPE_ADMIN, MW_SCOPE_INGEST));
  assert_true(mw_scope_allows(MW_SCOPE_READ, MW_SCOPE_NONE));
  assert_int_equal(mw_scope_parse("promote"), MW_SCOPE_PROMOTE);
  assert_int_equal(mw_scope_parse("root"), 0);
  /* metrics: /metrics alone; read and admin imply it, it implies nothing. */
  assert_int_equal(mw_scope_parse("metrics"), MW_SCOPE_METRICS);
  assert_true(mw_scope_allows(MW_SCOPE_METRICS, MW_SCOPE_METRICS));
  assert_true(mw_scope_allows(MW_SCOPE_READ, MW_SCOPE_METRICS));
  assert_true(mw_scope_allows(MW_SCOPE_ADMIN, MW_SCOPE_METRICS));
  assert_false(
      mw_scope_allows(MW_SCOPE_INGEST | MW_SCOPE_PROMOTE, MW_SCOPE_METRICS));
  assert_false(mw_scope_allows(MW_SCOPE_METRICS, MW_SCOPE_READ));

  assert_int_equal(mw_token_delete(c, "ci", "test"), MW_OK);
  assert_int_equal(mw_token_delete(c, "ci", "test"), MW_ENOTFOUND);
  assert_int_equal(mw_token_verify(c, secret, &info), MW_EUNAUTH);
  st = mw_stmt(c, "SELECT count(*) FROM audit_log");
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 2); /* create + delete */
  sqlite3_reset(st);
}

static void test_config(void **state) {
  (void)state;
  setenv("MODELWATCH_LISTEN", "127.0.0.1:9999", 1);
  mw_config cfg;
  mw_config_defaults(&cfg);
  unsetenv("MODELWATCH_LISTEN");
  assert_string_equal(cfg.listen, "127.0.0.1:9999");
  char *argv[] = {"--listen", "127.0.0.1:1234", "--max-body=99",
                  "--sync",   "normal",         "--allow-private-webhooks"};
  char err[128];
  assert_int_equal(mw_config_parse_args(&cfg, 6, argv, err, sizeof err), MW_OK);
  assert_string_equal(cfg.listen, "127.0.0.1:1234");
  assert_int_equal(cfg.max_body, 99);
  assert_int_equal(cfg.sync_full, 0);
  assert_int_equal(cfg.allow_private_webhooks, 1);
  /* The header timeout is its own flag, short by default; --metrics-public
   * is off unless asked for. */
  mw_config_defaults(&cfg);
  assert_int_equal(cfg.header_timeout_ms, 10000);
  assert_int_equal(cfg.request_timeout_ms, 30000);
  assert_int_equal(cfg.metrics_public, 0);
  char *timeouts[] = {"--header-timeout-ms", "2500", "--metrics-public"};
  assert_int_equal(mw_config_parse_args(&cfg, 3, timeouts, err, sizeof err), MW_OK);
  assert_int_equal(cfg.header_timeout_ms, 2500);
  assert_int_equal(cfg.request_timeout_ms, 30000);
  assert_int_equal(cfg.metrics_public, 1);
  setenv("MODELWATCH_METRICS_PUBLIC", "off", 1);
  mw_config_defaults(&cfg);
  unsetenv("MODELWATCH_METRICS_PUBLIC");
  assert_int_equal(cfg.metrics_public, 0);
  char *bad[] = {"--nope"};
  assert_int_equal(mw_config_parse_args(&cfg, 1, bad, err, sizeof err), MW_EINVAL);
  char *badval[] = {"--threads", "many"};
  assert_int_equal(mw_config_parse_args(&cfg, 2, badval, err, sizeof err),
                   MW_EINVAL);
  /* Outbox retention: 7 days unless the environment or a flag says else;
   * 0 keeps everything, a negative or fractional count is refused. */
  mw_config_defaults(&cfg);
  assert_int_equal(cfg.delivery_retention_days, 7);
  setenv("MODELWATCH_DELIVERY_RETENTION_DAYS", "30", 1);
  mw_config_defaults(&cfg);
  unsetenv("MODELWATCH_DELIVERY_RETENTION_DAYS");
  assert_int_equal(cfg.delivery_retention_days, 30);
  char *keep[] = {"--delivery-retention-days", "0"};
  assert_int_equal(mw_config_parse_args(&cfg, 2, keep, err, sizeof err), MW_OK);
  assert_int_equal(cfg.delivery_retention_days, 0);
  char *neg[] = {"--delivery-retention-days=-1"};
  assert_int_equal(mw_config_parse_args(&cfg, 1, neg, err, sizeof err), MW_EINVAL);
  char *frac[] = {"--delivery-retention-days=0.5"};
  assert_int_equal(mw_config_parse_args(&cfg, 1, frac, err, sizeof err), MW_EINVAL);
  assert_int_equal(cfg.delivery_retention_days, 0);
}

/* Name patterns (tokens limited to models, event subscriptions) and what a
 * limited token sees. */
static void test_name_patterns(void **state) {
  (void)state;
  assert_true(mw_name_pattern_valid("fraud"));
  assert_true(mw_name_pattern_valid("churn-*"));
  assert_true(mw_name_pattern_valid("*"));
  assert_false(mw_name_pattern_valid(""));
  assert_false(mw_name_pattern_valid("a*b"));
  assert_false(mw_name_pattern_valid("a b*"));
  assert_false(mw_name_pattern_valid(".x*"));
  assert_true(mw_pattern_match("churn-*", "churn-eu"));
  assert_true(mw_pattern_match("churn-*", "churn-"));
  assert_false(mw_pattern_match("churn-*", "churn"));
  assert_true(mw_pattern_match("fraud", "fraud"));
  assert_false(mw_pattern_match("fraud", "fraud2"));
  assert_true(mw_pattern_match("*", "anything"));
  mw_token_info t = {0};
  assert_true(mw_token_sees(&t, "anything")); /* not limited */
  mw_strlcpy(t.models, "fraud\nchurn-*", sizeof t.models);
  assert_true(mw_token_sees(&t, "fraud"));
  assert_true(mw_token_sees(&t, "churn-us"));
  assert_false(mw_token_sees(&t, "fraud2"));
  assert_false(mw_token_sees(&t, "churn"));
  cJSON *o = cJSON_CreateObject();
  mw_token_models_json(t.models, o);
  char *txt = cJSON_PrintUnformatted(o);
  assert_string_equal(txt, "{\"models\":[\"fraud\",\"churn-*\"]}");
  cJSON_free(txt);
  cJSON_Delete(o);
}

/* ------------------------------------------------- secrets at rest */

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define SLACK_URL "https://hooks.slack.com/services/T0SECRET/B0SECRET/xyzSECRET"

static void key_of(const char *text, mw_secret_key *k) {
  assert_int_equal(mw_secret_key_parse(text, strlen(text), k), MW_OK);
}

/* Keys: 64 hex digits or the base64 of 32 bytes; the id is the first 8
 * hex digits of the sha256 of the key's bytes. */
static void test_secret_keys(void **state) {
  (void)state;
  mw_secret_key a, b, c;
  key_of(KEY_HEX, &a);
  assert_string_equal(a.id, "630dcd29");
  key_of("  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", &b);
  assert_memory_equal(a.bytes, b.bytes, 32);
  assert_string_equal(b.id, "630dcd29");
  char hex[65];
  mw_secret_key_hex(&a, hex);
  assert_string_equal(hex, KEY_HEX);
  const char *bad[] = {
      "", "00", KEY_HEX "00",
      "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="};
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mw_secret_key_parse(bad[i], strlen(bad[i]), &c), MW_EINVAL);
  assert_int_equal(mw_secret_key_new(&c), MW_OK);
  assert_int_equal(strlen(c.id), 8);
  assert_string_not_equal(c.id, a.id);
}

/* Round trip; the stored text says its format and key, never the value. */
static void test_secret_round_trip(void **state) {
  (void)state;
  mw_secret_key k;
  key_of(KEY_HEX, &k);
  const char *values[] = {SLACK_URL, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "",
                          "\xc3\xa9t\xc3\xa9"};
  for(size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char *sealed = NULL, *plain = NULL, id[9];
    assert_int_equal(
        mw_secret_seal(&k, MW_SECRET_CHANNEL_URL, "ops", values[i], &sealed), MW_OK);
    assert_int_equal(strncmp(sealed, "enc:v1:630dcd29:", 16), 0);
    assert_true(mw_secret_is_sealed(sealed));
    assert_int_equal(mw_secret_key_id_of(sealed, id), MW_OK);
    assert_string_equal(id, "630dcd29");
    if(values[i][0])
      assert_null(strstr(sealed, values[i]));
    assert_int_equal(
        mw_secret_open(&k, MW_SECRET_CHANNEL_URL, "ops", sealed, &plain, NULL, 0),
        MW_OK);
    assert_string_equal(plain, values[i]);
    mw_secret_free(plain);
    free(sealed);
  }
  assert_false(mw_secret_is_sealed(SLACK_URL));
}

/* Another key is told apart from a tampered value: the key ids differ, and
 * the message names both. */
static void test_secret_wrong_key(void **state) {
  (void)state;
  mw_secret_key k, other;
  key_of(KEY_HEX, &k);
  assert_int_equal(mw_secret_key_new(&other), MW_OK);
  char *sealed = NULL, *plain = (char *)1, why[256];
  assert_int_equal(
      mw_secret_seal(&k, MW_SECRET_NODE_SECRET, "edge", "whsec_AAAA", &sealed),
      MW_OK);
  assert_int_equal(mw_secret_open(&other, MW_SECRET_NODE_SECRET, "edge", sealed,
                                  &plain, why, sizeof why),
                   MW_ECONFLICT);
  assert_null(plain);
  assert_non_null(strstr(why, "630dcd29"));
  assert_non_null(strstr(why, other.id));
  /* Plain text and garbage are not sealed values. */
  assert_int_equal(mw_secret_open(&k, MW_SECRET_NODE_SECRET, "edge", "whsec_AAAA",
                                  &plain, why, sizeof why),
                   MW_EINVAL);
  assert_int_equal(mw_secret_open(&k, MW_SECRET_NODE_SECRET, "edge",
                                  "enc:v1:630dcd29:AAAA", &plain, why, sizeof why),
                   MW_EINVAL);
  free(sealed);
}

/* A changed byte, or a value moved to another row or column, fails
 * authentication. */
static void test_secret_tampered(void **state) {
  (void)state;
  mw_secret_key k;
  key_of(KEY_HEX, &k);
  char *sealed = NULL, *plain = NULL, why[256];
  assert_int_equal(
      mw_secret_seal(&k, MW_SECRET_CHANNEL_URL, "ops", SLACK_URL, &sealed), MW_OK);
  /* Moved: another row, another column, another table. */
  assert_int_equal(mw_secret_open(&k, MW_SECRET_CHANNEL_URL, "ops2", sealed, &plain,
                                  why, sizeof why),
                   MW_ESECRET);
  assert_non_null(strstr(why, "authentication failed"));
  assert_int_equal(mw_secret_open(&k, MW_SECRET_CHANNEL_SECRET, "ops", sealed,
                                  &plain, why, sizeof why),
                   MW_ESECRET);
  assert_int_equal(mw_secret_open(&k, MW_SECRET_SUBSCRIPTION_URL, "ops", sealed,
                                  &plain, why, sizeof why),
                   MW_ESECRET);
  /* Every byte of nonce, ciphertext and tag counts: one changed base64
   * digit at each position (but the last group's, where a digit may
   * carry padding bits the decoder drops). */
  size_t n = strlen(sealed);
  for(size_t i = 16; i + 4 < n; i++) {
    char saved = sealed[i];
    sealed[i] = saved == 'A' ? 'B' : 'A';
    assert_int_not_equal(
        mw_secret_open(&k, MW_SECRET_CHANNEL_URL, "ops", sealed, &plain, NULL, 0),
        MW_OK);
    assert_null(plain);
    sealed[i] = saved;
  }
  /* Cut short: no tag. */
  sealed[20] = 0;
  assert_int_equal(mw_secret_open(&k, MW_SECRET_CHANNEL_URL, "ops", sealed, &plain,
                                  why, sizeof why),
                   MW_EINVAL);
  free(sealed);
}

/* A fresh nonce per value: the same value sealed again never repeats its
 * nonce or its text. */
static void test_secret_nonces(void **state) {
  (void)state;
  mw_secret_key k;
  key_of(KEY_HEX, &k);
  enum { N = 2000 };
  static char nonces[N][17];
  for(int i = 0; i < N; i++) {
    char *sealed = NULL;
    assert_int_equal(
        mw_secret_seal(&k, MW_SECRET_NODE_URL, "edge", "https://e/x", &sealed),
        MW_OK);
    /* The first 16 base64 digits are the 12 bytes of the nonce. */
    memcpy(nonces[i], sealed + 16, 16);
    nonces[i][16] = 0;
    free(sealed);
  }
  qsort(nonces, N, sizeof nonces[0], (int (*)(const void *, const void *))strcmp);
  for(int i = 1; i < N; i++)
    assert_string_not_equal(nonces[i - 1], nonces[i]);
}

/* Key files: created 0600 and whole; never replaced; refused when group or
 * others may read them. */
static void test_secret_key_file(void **state) {
  (void)state;
  char dir[64], path[128], err[512];
  snprintf(dir, sizeof dir, "/tmp/mwkeyXXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/secret.key", dir);
  mw_secret_key made, again, loaded;
  assert_int_equal(mw_secret_key_load(path, &loaded, err, sizeof err), MW_ENOTFOUND);
  assert_int_equal(mw_secret_key_create(path, &made, err, sizeof err), MW_OK);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  assert_int_equal(sb.st_size, 65);
  assert_int_equal(mw_secret_key_create(path, &again, err, sizeof err),
                   MW_ECONFLICT);
  assert_int_equal(mw_secret_key_load(path, &loaded, err, sizeof err), MW_OK);
  assert_string_equal(loaded.id, made.id);
  assert_int_equal(chmod(path, 0640), 0);
  assert_int_equal(mw_secret_key_load(path, &loaded, err, sizeof err), MW_EINVAL);
  assert_non_null(strstr(err, "chmod 600"));
  assert_int_equal(chmod(path, 0600), 0);
  FILE *f = fopen(path, "w");
  fputs("not a key\n", f);
  fclose(f);
  assert_int_equal(mw_secret_key_load(path, &loaded, err, sizeof err), MW_EINVAL);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static char *column(mw_conn *c, const char *sql) {
  sqlite3_stmt *st = mw_stmt(c, sql);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char *v = mw_col_dup(st, 0);
  sqlite3_reset(st);
  return v;
}

/* The first start encrypts what an older binary stored in plain text and
 * cuts outbox URLs down; another key is refused; rotation re-encrypts
 * everything, after which only the new key is accepted. */
static void test_secrets_first_start_and_rotation(void **state) {
  struct dbfix *f = *state;
  mw_conn *c = mw_db_conn(f->db);
  assert_int_equal(mw_migrate(c, NULL), MW_OK);
  assert_int_equal(
      mw_exec(c, "INSERT INTO channels(name, type, url, secret, created_at) "
                 "VALUES('ops', 'slack', '" SLACK_URL "', 'whsec_AAAA', 0);"
                 "INSERT INTO outbox(msg_id, kind, target_type, target_name, url, "
                 "payload, next_attempt_at, created_at) VALUES('m1', 'alert', "
                 "'channel', 'ops', '" SLACK_URL "', '{}', 0, 0)"),
      MW_OK);
  mw_secret_key k1, k2;
  key_of(KEY_HEX, &k1);
  assert_int_equal(mw_secret_key_new(&k2), MW_OK);
  mw_secrets_stats st;
  char err[512], id[16];
  assert_int_equal(mw_secrets_check(f->db, &k1, &st, err, sizeof err), MW_OK);
  assert_int_equal(st.sealed, 2);
  assert_int_equal(st.outbox, 1);
  assert_int_equal(mw_secrets_db_key_id(c, id), MW_OK);
  assert_string_equal(id, k1.id);
  char *url = column(c, "SELECT url FROM channels"), *plain = NULL;
  assert_int_equal(strncmp(url, "enc:v1:630dcd29:", 16), 0);
  assert_int_equal(mw_secret_get(c, MW_SECRET_CHANNEL_URL, "ops", url, &plain, NULL),
                   MW_OK);
  assert_string_equal(plain, SLACK_URL);
  mw_secret_free(plain);
  free(url);
  url = column(c, "SELECT url FROM outbox");
  assert_string_equal(url, "https://hooks.slack.com");
  free(url);
  /* Again with the same key: nothing to do. With another: refused. */
  assert_int_equal(mw_secrets_check(f->db, &k1, &st, err, sizeof err), MW_OK);
  assert_int_equal(st.sealed, 0);
  assert_int_equal(mw_secrets_check(f->db, &k2, &st, err, sizeof err), MW_ECONFLICT);
  assert_non_null(strstr(err, k1.id));
  /* Rotation: refused from a key not in use, then done. */
  assert_int_equal(mw_secrets_rotate(f->db, &k2, &k1, &st, err, sizeof err),
                   MW_ECONFLICT);
  assert_int_equal(mw_secrets_rotate(f->db, &k1, &k2, &st, err, sizeof err), MW_OK);
  assert_int_equal(st.resealed, 2);
  assert_int_equal(mw_secrets_db_key_id(c, id), MW_OK);
  assert_string_equal(id, k2.id);
  char *sec = column(c, "SELECT secret FROM channels");
  assert_int_equal(strncmp(sec + 7, k2.id, 8), 0);
  assert_int_equal(
      mw_secret_get(c, MW_SECRET_CHANNEL_SECRET, "ops", sec, &plain, NULL), MW_OK);
  assert_string_equal(plain, "whsec_AAAA");
  mw_secret_free(plain);
  free(sec);
  assert_int_equal(mw_secrets_check(f->db, &k1, &st, err, sizeof err), MW_ECONFLICT);
  assert_int_equal(mw_secrets_check(f->db, &k2, &st, err, sizeof err), MW_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_patterns),
      cmocka_unit_test(test_status_table),
      cmocka_unit_test(test_time_roundtrip),
      cmocka_unit_test(test_crypto_vectors),
      cmocka_unit_test(test_buf_cap),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_json_int),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_secret_keys),
      cmocka_unit_test(test_secret_round_trip),
      cmocka_unit_test(test_secret_wrong_key),
      cmocka_unit_test(test_secret_tampered),
      cmocka_unit_test(test_secret_nonces),
      cmocka_unit_test(test_secret_key_file),
      cmocka_unit_test_setup_teardown(test_secrets_first_start_and_rotation,
                                      db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_migrations_fresh_and_existing, db_setup,
                                      db_teardown),
      cmocka_unit_test_setup_teardown(test_transactions, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_step_helpers, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_stmt_cache_keeps_open_queries, db_setup,
                                      db_teardown),
      cmocka_unit_test_setup_teardown(test_db_files_private, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_tokens_and_scopes, db_setup, db_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
