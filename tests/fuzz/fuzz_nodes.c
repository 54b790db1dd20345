/* tests/fuzz/fuzz_nodes.c - serving-node bodies: POST /api/v1/nodes
 * ({name, url, models}) through reg_node_create, and the status report of
 * POST /api/v1/nodes/{name}/status ({models: [{name, version, state}]})
 * through reg_node_report for the seeded node. */
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
  cJSON *out = NULL;
  mw_status st = reg_node_create(e->c, body, 0, "fuzz", &out, &err);
  FUZZ_CHECK(st ? out == NULL : out != NULL);
  cJSON_Delete(out);
  mw_err_clear(&err);
  fuzz_after(e);
  st = reg_node_report(e->c, "edge-1", body, &out, &err);
  FUZZ_CHECK(st ? out == NULL : out != NULL);
  cJSON_Delete(out);
  mw_err_clear(&err);
  fuzz_after(e);
  cJSON_Delete(body);
  return 0;
}
