/* Unit tests of registry/ on an in-memory SQLite database: the functions the
 * HTTP handlers call, without HTTP. The artifact tests run once per
 * artifact store (directory and database). */
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
#include "registry/blobs.h"
#include "registry/registry.h"
#include "registry/store.h"

struct fix {
  mw_db *db;
  mw_conn *c;
  char dir[64];
  struct reg_env env;
};

static int setup_store(void **state, enum mw_artifact_store store) {
  struct fix *f = calloc(1, sizeof *f);
  if(mw_db_open(":memory:", 0, &f->db))
    return -1;
  f->c = mw_db_conn(f->db);
  mw_secret_key k; /* node URLs and secrets are stored encrypted */
  if(mw_migrate(f->c, NULL) || mw_secret_key_new(&k) || mw_secrets_attach(f->db, &k))
    return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/mwregXXXXXX");
  if(!mkdtemp(f->dir))
    return -1;
  f->env.data_dir = f->dir;
  f->env.external_url = "http://mw.test";
  f->env.artifacts = store;
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_store(state, MW_ARTIFACTS_DIR); }
static int setup_db(void **state) {
  return setup_store(state, MW_ARTIFACTS_DATABASE);
}

static int teardown(void **state) {
  struct fix *f = *state;
  mw_db_close(f->db);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  int rc = system(cmd);
  free(f);
  return rc;
}

static int64_t count(mw_conn *c, const char *sql) {
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(mw_sqlite(c), sql, -1, &st, NULL);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

/* Creates model `name` with n ready versions (artifact "<name>-<i>"). */
static void model_with_versions(struct fix *f, const char *name, int n) {
  cJSON *out = NULL;
  mw_err err = {0};
  assert_int_equal(reg_model_create(f->c, name, "d", NULL, "t", &out, &err), MW_OK);
  cJSON_Delete(out);
  for(int i = 1; i <= n; i++) {
    cJSON *body = cJSON_CreateObject();
    assert_int_equal(reg_version_create(f->c, name, body, "t", &out, &err), MW_OK);
    assert_int_equal((int)cJSON_GetObjectItem(out, "version")->valuedouble, i);
    cJSON_Delete(out);
    cJSON_Delete(body);
    char data[64], hex[65];
    snprintf(data, sizeof data, "%s-%d", name, i);
    mw_sha256_hex(data, strlen(data), hex);
    reg_upload *u = NULL;
    assert_int_equal(reg_upload_begin(f->c, &f->env, &u, &err), MW_OK);
    assert_int_equal(reg_upload_write(u, data, strlen(data), 1 << 20, &err), MW_OK);
    assert_int_equal(
        reg_upload_commit(f->c, &f->env, u, name, i, hex, "t", &out, &err), MW_OK);
    assert_string_equal(cJSON_GetObjectItem(out, "status")->valuestring, "ready");
    cJSON_Delete(out);
  }
}

static void test_models(void **state) {
  struct fix *f = *state;
  cJSON *out = NULL;
  mw_err err = {0};
  assert_int_equal(reg_model_create(f->c, "m", NULL, NULL, "t", &out, &err), MW_OK);
  cJSON_Delete(out);
  assert_int_equal(reg_model_create(f->c, "m", NULL, NULL, "t", &out, &err),
                   MW_ECONFLICT);
  assert_null(out);
  assert_non_null(strstr(err.msg, "already exists"));
  assert_int_equal(reg_model_create(f->c, "../x", NULL, NULL, "t", &out, &err),
                   MW_EVALIDATION);
  cJSON *tags = cJSON_Parse("{\"a\": 1}");
  assert_int_equal(reg_model_create(f->c, "t", NULL, tags, "t", &out, &err),
                   MW_EVALIDATION);
  cJSON_Delete(tags);
  assert_int_equal(reg_model_get(f->c, "nope", &out, &err), MW_ENOTFOUND);
  assert_int_equal(reg_model_list(f->c, "M", 10, NULL, NULL, NULL, &out, &err),
                   MW_OK);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "models")), 1);
  cJSON_Delete(out);
  assert_int_equal(reg_model_delete(f->c, "m", "t", &err), MW_OK);
  assert_int_equal(reg_model_delete(f->c, "m", "t", &err), MW_ENOTFOUND);
  assert_int_equal(count(f->c, "SELECT count(*) FROM audit_log"), 2);
}

/* Uploads data as the artifact of a new version of model; returns the
 * result of reg_upload_commit. */
static mw_status upload_version(struct fix *f, const char *model, const char *data,
                                char hex[65]) {
  cJSON *out = NULL, *body = cJSON_CreateObject();
  mw_err err = {0};
  assert_int_equal(reg_version_create(f->c, model, body, "t", &out, &err), MW_OK);
  int64_t v = (int64_t)cJSON_GetObjectItem(out, "version")->valuedouble;
  cJSON_Delete(out);
  cJSON_Delete(body);
  mw_sha256_hex(data, strlen(data), hex);
  reg_upload *u = NULL;
  assert_int_equal(reg_upload_begin(f->c, &f->env, &u, &err), MW_OK);
  assert_int_equal(reg_upload_write(u, data, strlen(data), 1 << 20, &err), MW_OK);
  mw_status s = reg_upload_commit(f->c, &f->env, u, model, v, hex, "t", &out, &err);
  cJSON_Delete(out);
  mw_err_clear(&err);
  return s;
}

static int exists(struct fix *f, const char *hex) {
  int yes = -1;
  assert_int_equal(reg__blobs(&f->env)->exists(f->c, &f->env, hex, &yes), MW_OK);
  return yes;
}

/* Leaves what an upload that crashed leaves, written now; stale_upload_gone
 * tells whether the sweep removed it. */
static void stale_upload(struct fix *f) {
  if(f->env.artifacts == MW_ARTIFACTS_DIR) {
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s/artifacts/tmp/upload-crashed", f->dir);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fclose(fp);
    return;
  }
  int64_t id = 0;
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  int64_t now = mw_now_ms();
  assert_int_equal(reg__store(f->c)->blob_create(f->c, now, &id), MW_OK);
  assert_int_equal(reg__store(f->c)->blob_chunk_put(f->c, id, 0, "xy", 2, now),
                   MW_OK);
  assert_int_equal(mw_tx_commit(f->c), MW_OK);
}

static int stale_upload_gone(struct fix *f) {
  if(f->env.artifacts == MW_ARTIFACTS_DIR) {
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s/artifacts/tmp/upload-crashed", f->dir);
    return access(tmp, F_OK) == -1;
  }
  return count(f->c, "SELECT count(*) FROM artifact_blobs WHERE sha256 IS NULL") ==
             0 &&
         count(f->c, "SELECT count(*) FROM artifact_chunks c WHERE NOT EXISTS "
                     "(SELECT 1 FROM artifact_blobs b WHERE b.id = c.blob_id)") == 0;
}

/* Nothing of an upload that did not commit is left in the store. */
static int no_upload_left(struct fix *f) {
  if(f->env.artifacts == MW_ARTIFACTS_DATABASE)
    return count(f->c, "SELECT count(*) FROM artifact_blobs WHERE sha256 IS NULL") ==
           0;
  char cmd[200];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/artifacts/tmp)\"", f->dir);
  return system(cmd) == 0;
}

/* The sweep takes only blobs no version names, and only past the grace
 * period; a blob two versions share outlives the first one's deletion. */
static void test_artifact_sweep(void **state) {
  struct fix *f = *state;
  cJSON *out = NULL;
  mw_err err = {0};
  char shared[65], alone[65], hex[65];
  for(int i = 0; i < 3; i++) {
    const char *names[] = {"a", "b", "c"};
    assert_int_equal(reg_model_create(f->c, names[i], NULL, NULL, "t", &out, &err),
                     MW_OK);
    cJSON_Delete(out);
  }
  assert_int_equal(upload_version(f, "a", "shared bytes", shared), MW_OK);
  assert_int_equal(upload_version(f, "b", "shared bytes", hex), MW_OK);
  assert_int_equal(upload_version(f, "c", "only c", alone), MW_OK);
  /* A loser: a version that already has its artifact refuses the upload,
   * and its different content never reaches the store. */
  reg_upload *u = NULL;
  char lose[65];
  mw_sha256_hex("late", 4, lose);
  assert_int_equal(reg_upload_begin(f->c, &f->env, &u, &err), MW_OK);
  assert_int_equal(reg_upload_write(u, "late", 4, 100, &err), MW_OK);
  assert_int_equal(
      reg_upload_commit(f->c, &f->env, u, "c", 1, lose, "t", &out, &err),
      MW_ECONFLICT);
  mw_err_clear(&err);
  assert_false(exists(f, lose));
  /* What an interrupted upload left. */
  stale_upload(f);
  assert_int_equal(reg_model_delete(f->c, "a", "t", &err), MW_OK);
  assert_int_equal(reg_model_delete(f->c, "c", "t", &err), MW_OK);
  reg_sweep_stats st;
  /* Within the grace period nothing goes. */
  assert_int_equal(reg_artifact_sweep(f->c, &f->env, REG_ARTIFACT_GRACE_MS, &st),
                   MW_OK);
  assert_int_equal(st.blobs_seen, 2);
  assert_int_equal(st.blobs_removed + st.temps_removed, 0);
  assert_true(exists(f, alone));
  assert_int_equal(reg_artifact_sweep(f->c, &f->env, 0, &st), MW_OK);
  assert_int_equal(st.blobs_removed, 1);
  assert_int_equal(st.temps_removed, 1);
  assert_true(exists(f, shared)); /* b still names it */
  assert_false(exists(f, alone));
  assert_true(stale_upload_gone(f));
  assert_int_equal(reg_model_delete(f->c, "b", "t", &err), MW_OK);
  assert_int_equal(reg_artifact_sweep(f->c, &f->env, 0, &st), MW_OK);
  assert_int_equal(st.blobs_removed, 1);
  assert_false(exists(f, shared));
}

/* Aliases are Names that are not all digits: in monitor routes {v} is a
 * version when numeric. */
static void test_alias_names_not_numbers(void **state) {
  struct fix *f = *state;
  model_with_versions(f, "m", 1);
  cJSON *out = NULL;
  mw_err err = {0};
  const char *refused[] = {"2", "007", "1234567890123", ".x", ""};
  for(size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    assert_int_equal(reg_alias_set(f->c, &f->env, "m", refused[i], 1, NULL, NULL,
                                   "t", &out, &err),
                     MW_EVALIDATION);
    assert_null(out);
  }
  const char *fine[] = {"v2", "2a", "1.5", "-1", "prod"};
  for(size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
    assert_int_equal(
        reg_alias_set(f->c, &f->env, "m", fine[i], 1, NULL, NULL, "t", &out, &err),
        MW_OK);
    cJSON_Delete(out);
  }
}

static void test_schema_validation(void **state) {
  (void)state;
  mw_err err = {0};
  const char *good = "{\"features\":[{\"name\":\"a b\",\"type\":\"numeric\"}],"
                     "\"prediction\":{\"type\":\"categorical\"}}";
  const char *bad[] = {
      "[]",
      "{\"features\":{}}",
      "{\"features\":[],\"prediction\":{}}",
      "{\"features\":[{\"name\":\"prediction\",\"type\":\"numeric\"}],"
      "\"prediction\":{\"type\":\"numeric\"}}",
      "{\"features\":[{\"name\":\"\",\"type\":\"numeric\"}],"
      "\"prediction\":{\"type\":\"numeric\"}}",
      "{\"features\":[{\"name\":\"x\",\"type\":\"float\"}],"
      "\"prediction\":{\"type\":\"numeric\"}}"};
  cJSON *j = cJSON_Parse(good);
  assert_int_equal(reg_schema_validate(j, &err), MW_OK);
  cJSON_Delete(j);
  for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    j = cJSON_Parse(bad[i]);
    assert_int_equal(reg_schema_validate(j, &err), MW_EVALIDATION);
    cJSON_Delete(j);
  }
}

static void test_upload_digest_mismatch(void **state) {
  struct fix *f = *state;
  model_with_versions(f, "m", 0);
  cJSON *out = NULL, *body = cJSON_CreateObject();
  mw_err err = {0};
  assert_int_equal(reg_version_create(f->c, "m", body, "t", &out, &err), MW_OK);
  cJSON_Delete(out);
  cJSON_Delete(body);
  reg_upload *u = NULL;
  assert_int_equal(reg_upload_begin(f->c, &f->env, &u, &err), MW_OK);
  assert_int_equal(reg_upload_write(u, "abc", 3, 2, &err), MW_ETOOBIG);
  reg_upload_abort(u);
  assert_int_equal(reg_upload_begin(f->c, &f->env, &u, &err), MW_OK);
  assert_int_equal(reg_upload_write(u, "abc", 3, 100, &err), MW_OK);
  char zero[65];
  memset(zero, '0', 64);
  zero[64] = '\0';
  assert_int_equal(
      reg_upload_commit(f->c, &f->env, u, "m", 1, zero, "t", &out, &err),
      MW_EVALIDATION);
  assert_non_null(err.details);
  mw_err_clear(&err);
  reg_version_info vi;
  assert_int_equal(reg_version_lookup(f->c, "m", 1, &vi, &err), MW_OK);
  assert_false(vi.ready);
  reg_version_info_free(&vi);
  assert_true(no_upload_left(f));
}

static void test_alias_cas_and_rollback_stack(void **state) {
  struct fix *f = *state;
  model_with_versions(f, "m", 3);
  cJSON *out = NULL;
  mw_err err = {0};
  cJSON *null_expected = cJSON_CreateNull();
  cJSON *two = cJSON_CreateNumber(2);
  assert_int_equal(reg_alias_set(f->c, &f->env, "m", "prod", 1, null_expected, "go",
                                 "t", &out, &err),
                   MW_OK);
  cJSON_Delete(out);
  assert_int_equal(reg_alias_set(f->c, &f->env, "m", "prod", 2, null_expected, NULL,
                                 "t", &out, &err),
                   MW_ECONFLICT);
  mw_err_clear(&err);
  assert_int_equal(
      reg_alias_set(f->c, &f->env, "m", "prod", 2, two, NULL, "t", &out, &err),
      MW_ECONFLICT);
  mw_err_clear(&err);
  assert_int_equal(
      reg_alias_set(f->c, &f->env, "m", "prod", 2, NULL, NULL, "t", &out, &err),
      MW_OK);
  cJSON_Delete(out);
  assert_int_equal(
      reg_alias_set(f->c, &f->env, "m", "prod", 3, two, NULL, "t", &out, &err),
      MW_OK);
  cJSON_Delete(out);
  int64_t v = 0;
  int64_t expect_back[] = {2, 1};
  for(int i = 0; i < 2; i++) {
    assert_int_equal(
        reg_alias_rollback(f->c, &f->env, "m", "prod", 0, "r", "rule:x", &out, &err),
        MW_OK);
    assert_int_equal((int64_t)cJSON_GetObjectItem(out, "version")->valuedouble,
                     expect_back[i]);
    cJSON_Delete(out);
  }
  assert_int_equal(
      reg_alias_rollback(f->c, &f->env, "m", "prod", 0, "r", "t", &out, &err),
      MW_ECONFLICT);
  assert_int_equal(reg_alias_lookup(f->c, "m", "prod", &v, &err), MW_OK);
  assert_int_equal(v, 1);
  /* After a new set, rollback returns to the version before it. */
  assert_int_equal(
      reg_alias_set(f->c, &f->env, "m", "prod", 3, NULL, NULL, "t", &out, &err),
      MW_OK);
  cJSON_Delete(out);
  assert_int_equal(
      reg_alias_rollback(f->c, &f->env, "m", "prod", 0, NULL, "t", &out, &err),
      MW_OK);
  assert_int_equal((int64_t)cJSON_GetObjectItem(out, "version")->valuedouble, 1);
  cJSON_Delete(out);
  assert_int_equal(reg_alias_history(f->c, "m", "prod", 0, &out, &err), MW_OK);
  cJSON *h = cJSON_GetObjectItem(out, "history");
  assert_int_equal(cJSON_GetArraySize(h), 7);
  assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "kind")->valuestring,
      "rollback");
  cJSON_Delete(out);
  /* No node serves m: no events. */
  assert_int_equal(count(f->c, "SELECT count(*) FROM outbox"), 0);
  cJSON_Delete(null_expected);
  cJSON_Delete(two);
}

static void test_nodes_get_events(void **state) {
  struct fix *f = *state;
  model_with_versions(f, "m", 2);
  cJSON *out = NULL;
  mw_err err = {0};
  const char *nodes[] = {
      "{\"name\":\"a\",\"url\":\"http://127.0.0.1:1/a\",\"models\":[\"m\"]}",
      "{\"name\":\"b\",\"url\":\"http://127.0.0.1:1/b\",\"models\":"
      "[{\"name\":\"m\",\"alias\":\"staging\"}]}"};
  for(int i = 0; i < 2; i++) {
    cJSON *b = cJSON_Parse(nodes[i]);
    assert_int_equal(reg_node_create(f->c, b, 1, "t", &out, &err), MW_OK);
    assert_int_equal(
        strncmp(cJSON_GetObjectItem(out, "secret")->valuestring, "whsec_", 6), 0);
    cJSON_Delete(out);
    cJSON_Delete(b);
  }
  assert_int_equal(reg_alias_set(f->c, &f->env, "m", "production", 1, NULL, NULL,
                                 "t", &out, &err),
                   MW_OK);
  cJSON_Delete(out);
  assert_int_equal(reg_alias_set(f->c, &f->env, "m", "production", 2, NULL, NULL,
                                 "t", &out, &err),
                   MW_OK);
  cJSON_Delete(out);
  assert_int_equal(
      count(f->c, "SELECT count(*) FROM outbox WHERE kind='alias.moved'"), 4);
  assert_int_equal(count(f->c, "SELECT count(DISTINCT msg_id) FROM outbox"), 4);
  cJSON *rep = cJSON_Parse("{\"models\":[{\"name\":\"m\",\"version\":2}]}");
  assert_int_equal(reg_node_report(f->c, "a", rep, &out, &err), MW_OK);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "in_sync")));
  cJSON_Delete(out);
  cJSON_Delete(rep);
  assert_int_equal(reg_node_get(f->c, "b", &out, &err), MW_OK);
  cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "models"), 0);
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(m0, "desired_version")));
  cJSON_Delete(out);
}

/* Reads the artifact of model m version v whole through the reader into
 * out (*len); the status of the first failure. */
static mw_status read_back(struct fix *f, const char *m, int64_t v,
                           unsigned char *out, size_t outcap, size_t *len) {
  reg_version_info vi;
  mw_err err = {0};
  assert_int_equal(reg_version_lookup(f->c, m, v, &vi, &err), MW_OK);
  reg_artifact_reader *rd = NULL;
  mw_status s = reg_artifact_open(f->c, &f->env, vi.sha256, vi.size, &rd, &err);
  *len = 0;
  while(!s) {
    size_t n = 0;
    const void *data = NULL;
    s = reg_artifact_read(rd, &data, &n);
    if(!s && n == 0)
      break;
    assert_true(*len + n <= outcap);
    memcpy(out + *len, data, n);
    *len += n;
  }
  reg_artifact_close(rd);
  reg_version_info_free(&vi);
  mw_err_clear(&err);
  return s;
}

/* Uploads bytes of any size (in pieces, as the web layer does) as the
 * artifact of the next version of m. */
static void upload_bytes(struct fix *f, const char *m, const unsigned char *data,
                         size_t len) {
  cJSON *out = NULL, *body = cJSON_CreateObject();
  mw_err err = {0};
  assert_int_equal(reg_version_create(f->c, m, body, "t", &out, &err), MW_OK);
  int64_t v = (int64_t)cJSON_GetObjectItem(out, "version")->valuedouble;
  cJSON_Delete(out);
  cJSON_Delete(body);
  char hex[65];
  mw_sha256_hex(data, len, hex);
  reg_upload *u = NULL;
  assert_int_equal(reg_upload_begin(f->c, &f->env, &u, &err), MW_OK);
  for(size_t off = 0; off < len; off += 300000) {
    size_t n = len - off < 300000 ? len - off : 300000;
    assert_int_equal(reg_upload_write(u, data + off, n, 1 << 30, &err), MW_OK);
  }
  assert_int_equal(reg_upload_commit(f->c, &f->env, u, m, v, hex, "t", &out, &err),
                   MW_OK);
  cJSON_Delete(out);
}

/* Artifacts across chunk boundaries (0 bytes, one chunk exactly, three and
 * a half) come back as they went in. */
static void test_artifact_round_trip(void **state) {
  struct fix *f = *state;
  model_with_versions(f, "m", 0);
  size_t sizes[] = {0, REG_BLOB_CHUNK, 3 * REG_BLOB_CHUNK + REG_BLOB_CHUNK / 2};
  size_t big = sizes[2];
  unsigned char *data = malloc(big + 8), *back = malloc(big + REG_BLOB_CHUNK);
  for(size_t i = 0; i < big + 8; i++)
    data[i] = (unsigned char)(i * 2654435761u >> 13);
  for(int k = 0; k < 3; k++) {
    upload_bytes(f, "m", data + k, sizes[k]);
    size_t len = 0;
    assert_int_equal(read_back(f, "m", k + 1, back, big, &len), MW_OK);
    assert_int_equal(len, sizes[k]);
    if(sizes[k])
      assert_memory_equal(back, data + k, sizes[k]);
  }
  assert_true(no_upload_left(f));
  free(data);
  free(back);
}

/* Stored bytes that no longer hash to their name are never handed out
 * whole: the read that would complete them fails. */
static void test_artifact_read_verifies(void **state) {
  struct fix *f = *state;
  model_with_versions(f, "m", 0);
  size_t len = 2 * REG_BLOB_CHUNK + 10;
  unsigned char *data = calloc(1, len), *back = malloc(len + REG_BLOB_CHUNK);
  upload_bytes(f, "m", data, len);
  char hex[65];
  mw_sha256_hex(data, len, hex);
  /* One byte of the last chunk flips. */
  if(f->env.artifacts == MW_ARTIFACTS_DIR) {
    char path[1200];
    snprintf(path, sizeof path, "%s/artifacts/sha256/%.2s/%s", f->dir, hex, hex);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, (long)len - 1, SEEK_SET);
    fputc(1, fp);
    fclose(fp);
  } else {
    assert_int_equal(mw_exec(f->c, "UPDATE artifact_chunks SET data = "
                                   "zeroblob(9) || x'01' WHERE seq = 2"),
                     MW_OK);
  }
  size_t got = 0;
  assert_int_equal(read_back(f, "m", 1, back, len, &got), MW_EIO);
  /* Everything but the last piece went out; the last is held back. */
  assert_true(got < len && got >= len - REG_BLOB_CHUNK);
  assert_memory_equal(back, data, got);
  free(data);
  free(back);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_models, setup, teardown),
      cmocka_unit_test(test_schema_validation),
      cmocka_unit_test_setup_teardown(test_upload_digest_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_artifact_sweep, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alias_names_not_numbers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alias_cas_and_rollback_stack, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_nodes_get_events, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upload_digest_mismatch, setup_db,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_artifact_sweep, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_artifact_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_artifact_round_trip, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_artifact_read_verifies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_artifact_read_verifies, setup_db,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
