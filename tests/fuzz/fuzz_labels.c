/* tests/fuzz/fuzz_labels.c - label batches: the body of POST
 * .../versions/{v}/labels (NaN tokens taken, as web/ does), then
 * mon_ingest_labels on both seeded versions, whose stored predictions
 * carry the ids p1..p20 and n1..n20. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_env();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fuzz_env *e = fuzz_env();
  cJSON *body = fuzz_body(data, size, 1);
  if(!body)
    return 0;
  for(int v = 0; v < 2; v++) {
    mw_err err = {{0}, NULL};
    int64_t n = -1;
    mw_status st = mon_ingest_labels(e->mon, e->c, &e->mv[v], body, &n, &err);
    FUZZ_CHECK(st ? n == 0 : n > 0);
    mw_err_clear(&err);
    fuzz_after(e);
  }
  cJSON_Delete(body);
  return 0;
}
