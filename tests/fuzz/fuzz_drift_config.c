/* tests/fuzz/fuzz_drift_config.c - drift settings: the body of PUT
 * .../versions/{v}/drift/config through mon_drift_config_put on both
 * seeded versions, and the stored settings read back. */
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
  for(int v = 0; v < 2; v++) {
    mw_err err = {{0}, NULL};
    cJSON *out = NULL;
    mw_status st = mon_drift_config_put(e->mon, e->c, &e->mv[v], body, "fuzz", &out,
                                        &err);
    FUZZ_CHECK(st ? out == NULL : out != NULL);
    cJSON_Delete(out);
    mw_err_clear(&err);
    if(!st) {
      /* What was stored reads back, and is accepted again as it is. */
      FUZZ_CHECK(!mon_drift_config_get(e->mon, e->c, &e->mv[v], &out, &err));
      cJSON *again = NULL;
      FUZZ_CHECK(!mon_drift_config_put(e->mon, e->c, &e->mv[v], out, "fuzz", &again,
                                       &err));
      cJSON_Delete(again);
      cJSON_Delete(out);
      mw_err_clear(&err);
    }
    fuzz_after(e);
  }
  cJSON_Delete(body);
  return 0;
}
