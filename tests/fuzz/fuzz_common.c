/* tests/fuzz/fuzz_common.c - the harnesses' shared fixture: one seeded
 * in-memory database, restored from a serialized snapshot after any input
 * that wrote to it (the functions under test run their own BEGIN
 * IMMEDIATE transactions, so an outer transaction cannot undo them). */
#include <string.h>

#include <gsl/gsl_errno.h>

#include "core/db_sqlite.h"
#include "tests/fuzz/fuzz_common.h"
#include "web/web_internal.h"

static struct fuzz_env env;
static int ready;
static unsigned char *snapshot;
static sqlite3_int64 snapshot_len;
static sqlite3_int64 changes_at_snapshot;

#define SEED_FAIL(what)                                               \
  do {                                                                \
    fprintf(stderr, "fuzz fixture: %s failed (%s)\n", what, err.msg); \
    abort();                                                          \
  } while(0)

void fuzz_quiet(void) {
  gsl_set_error_handler_off();
  mw_log_set_level(MW_LOG_ERROR);
}

static void exec_or_die(mw_conn *c, const char *sql) {
  if(mw_exec(c, sql)) {
    fprintf(stderr, "fuzz fixture: %s failed\n", sql);
    abort();
  }
}

static cJSON *parse_or_die(const char *text) {
  cJSON *j = cJSON_Parse(text);
  if(!j) {
    fprintf(stderr, "fuzz fixture: bad JSON %s\n", text);
    abort();
  }
  return j;
}

static void seed(struct fuzz_env *e) {
  mw_err err = {{0}, NULL};
  cJSON *out = NULL;
  static const char *const schemas[] = {
      "{\"features\":[{\"name\":\"age\",\"type\":\"numeric\"},"
      "{\"name\":\"country\",\"type\":\"categorical\"},"
      "{\"name\":\"amount\",\"type\":\"numeric\"}],"
      "\"prediction\":{\"type\":\"categorical\"}}",
      "{\"features\":[{\"name\":\"age\",\"type\":\"numeric\"},"
      "{\"name\":\"segment\",\"type\":\"categorical\"}],"
      "\"prediction\":{\"type\":\"numeric\"}}",
      NULL};
  if(reg_model_create(e->c, "fraud", "card fraud", NULL, "fuzz", &out, &err))
    SEED_FAIL("model fraud");
  cJSON_Delete(out);
  if(reg_model_create(e->c, "churn", "", NULL, "fuzz", &out, &err))
    SEED_FAIL("model churn");
  cJSON_Delete(out);
  for(int i = 0; i < 3; i++) {
    cJSON *body = cJSON_CreateObject();
    if(schemas[i])
      cJSON_AddItemToObject(body, "schema", parse_or_die(schemas[i]));
    if(reg_version_create(e->c, "fraud", body, "fuzz", &out, &err))
      SEED_FAIL("version");
    cJSON_Delete(body);
    cJSON_Delete(out);
  }
  /* Ready without an artifact upload: the fixture needs the state, not the
   * file. */
  exec_or_die(e->c,
              "UPDATE model_versions SET status = 'ready', size = 3, sha256 = "
              "'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'");
  cJSON *node =
      parse_or_die("{\"name\":\"edge-1\",\"url\":\"http://127.0.0.1:9/hook\","
                   "\"models\":[\"fraud\"]}");
  if(reg_node_create(e->c, node, 1, "fuzz", &out, &err))
    SEED_FAIL("node");
  cJSON_Delete(node);
  cJSON_Delete(out);
  if(reg_alias_set(e->c, &e->reg, "fraud", "production", 1, NULL, "seed", "fuzz",
                   &out, &err))
    SEED_FAIL("alias production");
  cJSON_Delete(out);
  if(reg_alias_set(e->c, &e->reg, "fraud", "staging", 2, NULL, NULL, "fuzz", &out,
                   &err))
    SEED_FAIL("alias staging");
  cJSON_Delete(out);
  cJSON *ch = parse_or_die("{\"name\":\"ops\",\"type\":\"webhook\","
                           "\"url\":\"http://127.0.0.1:9/ops\"}");
  if(alert_channel_create(e->c, ch, 1, "fuzz", &out, &err))
    SEED_FAIL("channel");
  cJSON_Delete(ch);
  cJSON_Delete(out);
  cJSON *rule = parse_or_die(
      "{\"name\":\"drift-high\",\"model\":\"fraud\",\"alias\":\"production\","
      "\"metric\":\"age.psi\",\"op\":\">\",\"threshold\":0.2,"
      "\"channels\":[\"ops\"],\"labels\":{\"team\":\"risk\"}}");
  if(alert_rule_create(e->c, rule, "fuzz", &out, &err))
    SEED_FAIL("rule");
  cJSON_Delete(rule);
  cJSON_Delete(out);

  for(int i = 0; i < 3; i++) {
    if(reg_version_lookup(e->c, "fraud", i + 1, &e->vi[i], &err))
      SEED_FAIL("version lookup");
    e->mv[i].id = e->vi[i].id;
    e->mv[i].model_id = e->vi[i].model_id;
    e->mv[i].model = "fraud";
    e->mv[i].version = i + 1;
    e->mv[i].schema_json = e->vi[i].schema_json;
  }
  /* Predictions (with ids the label harness can name) and references. */
  static const char *const countries[] = {"DE", "FR", "US", "BR"};
  for(int v = 0; v < 2; v++) {
    cJSON *preds = cJSON_CreateObject();
    cJSON *rows = cJSON_AddArrayToObject(preds, "predictions");
    cJSON *ref = cJSON_CreateObject();
    cJSON *rrows = cJSON_AddArrayToObject(ref, "rows");
    for(int i = 0; i < 20; i++) {
      for(int k = 0; k < 2; k++) {
        cJSON *row = cJSON_CreateObject();
        char id[16];
        snprintf(id, sizeof id, "%c%d", v ? 'n' : 'p', i + 1);
        if(!k)
          cJSON_AddStringToObject(row, "id", id);
        cJSON *f = cJSON_AddObjectToObject(row, "features");
        cJSON_AddNumberToObject(f, "age", 20 + (i * 7 + k * 3) % 50);
        if(v == 0) {
          cJSON_AddStringToObject(f, "country", countries[(i + k) % 4]);
          cJSON_AddNumberToObject(f, "amount", 10.5 * (i + 1) + k);
          cJSON_AddStringToObject(row, "prediction", (i + k) % 3 ? "ok" : "fraud");
        } else {
          cJSON_AddStringToObject(f, "segment", (i + k) % 2 ? "a" : "b");
          cJSON_AddNumberToObject(row, "prediction", 0.05 * i + 0.01 * k);
        }
        cJSON_AddItemToArray(k ? rrows : rows, row);
      }
    }
    int64_t n = 0;
    if(mon_ingest_predictions(e->mon, e->c, &e->mv[v], preds, &n, &err))
      SEED_FAIL("predictions");
    if(mon_reference_put(e->mon, e->c, &e->mv[v], ref, "fuzz", &out, &err))
      SEED_FAIL("reference");
    cJSON_Delete(out);
    cJSON_Delete(preds);
    cJSON_Delete(ref);
  }
  mw_err_clear(&err);
}

struct fuzz_env *fuzz_env(void) {
  if(ready)
    return &env;
  fuzz_quiet();
  env.reg.data_dir = "/nonexistent/modelwatch-fuzz";
  env.reg.external_url = "http://modelwatch.test";
  mw_secret_key key; /* channel and node credentials are stored encrypted */
  if(mw_db_open(":memory:", 0, &env.db) || !(env.c = mw_db_conn(env.db)) ||
     mw_migrate(env.c, NULL) || mw_secret_key_new(&key) ||
     mw_secrets_attach(env.db, &key) || mon_ctx_new(env.db, NULL, &env.mon)) {
    fprintf(stderr, "fuzz fixture: cannot open the database\n");
    abort();
  }
  seed(&env);
  sqlite3 *h = mw_sqlite(env.c);
  snapshot = sqlite3_serialize(h, "main", &snapshot_len, 0);
  if(!snapshot) {
    fprintf(stderr, "fuzz fixture: cannot serialize the database\n");
    abort();
  }
  changes_at_snapshot = sqlite3_total_changes64(h);
  ready = 1;
  return &env;
}

void fuzz_after(struct fuzz_env *e) {
  sqlite3 *h = mw_sqlite(e->c);
  /* Every public function ends its own transaction, failing or not. */
  FUZZ_CHECK(sqlite3_get_autocommit(h));
  if(sqlite3_total_changes64(h) == changes_at_snapshot)
    return;
  unsigned char *copy = sqlite3_malloc64((sqlite3_uint64)snapshot_len);
  FUZZ_CHECK(copy);
  memcpy(copy, snapshot, (size_t)snapshot_len);
  int rc = sqlite3_deserialize(h, "main", copy, snapshot_len, snapshot_len,
                               SQLITE_DESERIALIZE_FREEONCLOSE |
                                   SQLITE_DESERIALIZE_RESIZEABLE);
  if(rc != SQLITE_OK) {
    fprintf(stderr, "fuzz fixture: restore failed: %s\n", sqlite3_errmsg(h));
    abort();
  }
  changes_at_snapshot = sqlite3_total_changes64(h);
}

cJSON *fuzz_body(const uint8_t *data, size_t size) {
  cJSON *out = NULL, *det = NULL;
  const char *code;
  char msg[160];
  /* 65536 values: WEB_BODY_SMALL's cap, that of most routes. */
  int status = web_json_parse((const char *)data, size, 65536, &out, &code, msg,
                              sizeof msg, &det);
  cJSON_Delete(det);
  FUZZ_CHECK(status ? out == NULL : cJSON_IsObject(out));
  return out;
}

const cJSON *fuzz_doc_body(const uint8_t *data, size_t size, mon_doc **doc,
                           char **text) {
  *doc = NULL;
  *text = fuzz_str(data, size);
  if(!size)
    return NULL;
  mon_doc_limits lim = {WEB_JSON_MAX_DEPTH, WEB_JSON_MAX_STRING, WEB_JSON_MAX_ARRAY};
  if(mon_doc_parse(*text, size, &lim, doc, NULL, NULL))
    return NULL;
  const cJSON *root = mon_doc_root(*doc);
  return cJSON_IsObject(root) ? root : NULL;
}

void fuzz_doc_free(mon_doc *doc, char *text) {
  mon_doc_free(doc);
  free(text);
}

char *fuzz_str(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  FUZZ_CHECK(s);
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}
