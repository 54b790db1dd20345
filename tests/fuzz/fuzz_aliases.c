/* tests/fuzz/fuzz_aliases.c - alias bodies: PUT
 * /api/v1/models/{name}/aliases/{alias} ({version, expected_version,
 * reason}) with the handler's checks, then reg_alias_set on the seeded
 * model. The alias name, a path parameter in the API, comes from the
 * body's "alias" (default "production"). */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_env();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fuzz_env *e = fuzz_env();
  cJSON *body = fuzz_body(data, size);
  if(!body)
    return 0;
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(body, "version");
  const cJSON *reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
  const char *alias = mw_json_str(body, "alias");
  int64_t v;
  if(mw_json_int(ver, &v) && v >= 1 &&
     (!reason || cJSON_IsNull(reason) || cJSON_IsString(reason))) {
    mw_err err = {{0}, NULL};
    cJSON *out = NULL;
    const cJSON *expected = cJSON_GetObjectItemCaseSensitive(body, "expected_version");
    mw_status st = reg_alias_set(e->c, &e->reg, "fraud", alias ? alias : "production",
                                 v, expected,
                                 cJSON_IsString(reason) ? reason->valuestring : NULL,
                                 "fuzz", &out, &err);
    FUZZ_CHECK(st ? out == NULL : out != NULL);
    if(!st) {
      int64_t now;
      FUZZ_CHECK(!reg_alias_lookup(e->c, "fraud", alias ? alias : "production", &now,
                                   &err));
      FUZZ_CHECK(now == v);
    }
    cJSON_Delete(out);
    mw_err_clear(&err);
    fuzz_after(e);
  }
  cJSON_Delete(body);
  return 0;
}
