/* tests/fuzz/fuzz_silences.c - silence bodies: POST /api/v1/silences
 * ({matchers, starts_at, ends_at, comment}) through alert_silence_create,
 * then the body's matchers against the body's "labels" (an object of
 * strings, as alerts carry) with alert_matchers_match, and the silence
 * list (which parses the stored matchers back). */
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
  mw_status st = alert_silence_create(e->c, body, "fuzz", &out, &err);
  FUZZ_CHECK(st ? out == NULL : out != NULL);
  cJSON_Delete(out);
  mw_err_clear(&err);
  const cJSON *matchers = cJSON_GetObjectItemCaseSensitive(body, "matchers");
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(body, "labels");
  (void)alert_matchers_match(matchers, labels);
  if(!st) {
    FUZZ_CHECK(!alert_silence_list(e->c, &out, &err));
    cJSON_Delete(out);
    (void)alert_silenced(e->c, labels, mw_now_ms() + 1000);
  }
  fuzz_after(e);
  cJSON_Delete(body);
  return 0;
}
