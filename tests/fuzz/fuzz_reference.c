/* tests/fuzz/fuzz_reference.c - reference sets: the body of PUT
 * .../versions/{v}/reference ({rows} or {from, to}) through
 * mon_reference_put on both seeded versions; when it is taken, the drift
 * report over the seeded predictions runs against it, so the statistics
 * see whatever values the input brought. */
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
    cJSON *out = NULL;
    mw_status st = mon_reference_put(e->mon, e->c, &e->mv[v], body, "fuzz", &out,
                                     &err);
    FUZZ_CHECK(st ? out == NULL : out != NULL);
    cJSON_Delete(out);
    mw_err_clear(&err);
    if(!st) {
      int64_t now = mw_now_ms();
      st = mon_drift_report(e->mon, e->c, &e->mv[v], now - 3600000, now + 60000,
                            &out, &err);
      FUZZ_CHECK(st ? out == NULL : out != NULL);
      if(out) {
        char *text = cJSON_PrintUnformatted(out);
        FUZZ_CHECK(text);
        cJSON_free(text);
      }
      cJSON_Delete(out);
      mw_err_clear(&err);
    }
    fuzz_after(e);
  }
  fuzz_doc_free(doc, text);
  return 0;
}
