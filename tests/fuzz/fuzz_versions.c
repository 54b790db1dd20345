/* tests/fuzz/fuzz_versions.c - version bodies: POST
 * /api/v1/models/{name}/versions ({description, source, run_id, tags,
 * metrics, params, schema}) through reg_version_create (and so
 * reg_schema_validate). A schema the registry accepts must be one the
 * monitor can use: the new version then takes an ingest call, which
 * parses the stored schema. */
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
  mw_err err = {{0}, NULL};
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(body, "schema");
  if(schema)
    (void)reg_schema_validate(schema, &err);
  mw_err_clear(&err);
  cJSON *out = NULL;
  mw_status st = reg_version_create(e->c, "fraud", body, "fuzz", &out, &err);
  FUZZ_CHECK(st ? out == NULL : out != NULL);
  mw_err_clear(&err);
  if(!st) {
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(out, "version");
    FUZZ_CHECK(cJSON_IsNumber(num) && num->valuedouble == 4);
    reg_version_info vi;
    FUZZ_CHECK(!reg_version_lookup(e->c, "fraud", 4, &vi, &err));
    if(vi.schema_json) {
      mon_version mv = {vi.id, vi.model_id, "fraud", 4, vi.schema_json};
      cJSON *batch = cJSON_Parse("{\"predictions\":[{\"features\":{},"
                                 "\"prediction\":null}]}");
      int64_t n = 0;
      /* Validation errors are expected (features missing); what must
       * not happen is a schema the registry took and the monitor cannot
       * read. */
      mw_status ist = mon_ingest_predictions(e->mon, e->c, &mv, batch, &n, &err);
      FUZZ_CHECK(ist == MW_OK || ist == MW_EVALIDATION);
      if(ist == MW_EVALIDATION)
        FUZZ_CHECK(err.details != NULL);
      cJSON_Delete(batch);
      mw_err_clear(&err);
    }
    reg_version_info_free(&vi);
  }
  cJSON_Delete(out);
  fuzz_after(e);
  cJSON_Delete(body);
  return 0;
}
