/* tests/fuzz/fuzz_channels.c - channel bodies: POST /api/v1/channels
 * ({name, type, url}) through alert_channel_create; a channel it takes is
 * found again and takes a test notification. */
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
  mw_status st = alert_channel_create(e->c, body, 0, "fuzz", &out, &err);
  FUZZ_CHECK(st ? out == NULL : out != NULL);
  cJSON_Delete(out);
  mw_err_clear(&err);
  if(!st) {
    const char *name = mw_json_str(body, "name");
    FUZZ_CHECK(!alert_channel_get(e->c, name, &out, &err));
    cJSON_Delete(out);
    FUZZ_CHECK(!alert_channel_test(e->c, name, "http://modelwatch.test", "fuzz", &out,
                                   &err));
    cJSON_Delete(out);
    mw_err_clear(&err);
  }
  fuzz_after(e);
  cJSON_Delete(body);
  return 0;
}
