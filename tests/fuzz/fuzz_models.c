/* tests/fuzz/fuzz_models.c - model bodies: POST /api/v1/models ({name,
 * description, tags}) through reg_model_create, and PATCH
 * /api/v1/models/{name} through reg_model_update on the seeded model, with
 * the handlers' own checks (description a string when given). */
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
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "description");
  if(!d || cJSON_IsNull(d) || cJSON_IsString(d)) {
    const char *desc = cJSON_IsString(d) ? d->valuestring : NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(body, "tags");
    mw_err err = {{0}, NULL};
    cJSON *out = NULL;
    mw_status st = reg_model_create(e->c, cJSON_IsString(name) ? name->valuestring : "",
                                    desc, tags, "fuzz", &out, &err);
    FUZZ_CHECK(st ? out == NULL : out != NULL);
    if(!st) {
      /* The new model is found by name and listed. */
      cJSON *got = NULL;
      FUZZ_CHECK(!reg_model_get(e->c, name->valuestring, &got, &err));
      cJSON_Delete(got);
    }
    cJSON_Delete(out);
    mw_err_clear(&err);
    fuzz_after(e);
    st = reg_model_update(e->c, "fraud", desc, tags, "fuzz", &out, &err);
    FUZZ_CHECK(st ? out == NULL : out != NULL);
    cJSON_Delete(out);
    mw_err_clear(&err);
    fuzz_after(e);
  }
  cJSON_Delete(body);
  return 0;
}
