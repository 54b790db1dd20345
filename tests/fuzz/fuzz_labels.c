/* tests/fuzz/fuzz_labels.c - label batches: the body of POST
 * .../versions/{v}/labels (mon_doc_parse, as web/ does), then
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
  mon_doc *doc;
  char *text;
  const cJSON *body = fuzz_doc_body(data, size, &doc, &text);
  if(!body) {
    fuzz_doc_free(doc, text);
    return 0;
  }
  for(int v = 0; v < 2; v++) {
    mw_err err = {{0}, NULL};
    int64_t n = -1;
    mw_status st = mon_ingest_labels(e->mon, e->c, &e->mv[v], body, &n, &err);
    FUZZ_CHECK(st ? n == 0 : n > 0);
    mw_err_clear(&err);
    fuzz_after(e);
  }
  fuzz_doc_free(doc, text);
  return 0;
}
