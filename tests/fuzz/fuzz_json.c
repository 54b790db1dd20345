/* tests/fuzz/fuzz_json.c - the first parser of every request body but
 * the ingest ones (web_json_parse, under web_read_json): the nesting scan
 * before cJSON runs and the caps walk after. What it accepts is an object within the caps, and the
 * error answers are the documented ones. */
#include <string.h>

#include "tests/fuzz/fuzz_common.h"
#include "web/web_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

/* Depth of j counted as json_shape does (the top level is 1). */
static int depth_of(const cJSON *j) {
  int max = 0;
  for(const cJSON *c = j->child; c; c = c->next) {
    int d = depth_of(c);
    if(d > max)
      max = d;
  }
  return max + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  {
    cJSON *out = NULL, *det = NULL;
    const char *code = NULL;
    char msg[160] = "";
    /* 65536 values: WEB_BODY_SMALL's cap, that of most routes. */
    int status = web_json_parse((const char *)data, size, 65536, &out, &code, msg,
                                sizeof msg, &det);
    if(status) {
      FUZZ_CHECK(!out);
      FUZZ_CHECK(status == 400 || status == 413 || status == 422);
      FUZZ_CHECK(code && msg[0]);
      cJSON_Delete(det);
      return 0;
    }
    FUZZ_CHECK(cJSON_IsObject(out) && !det);
    FUZZ_CHECK(depth_of(out) <= WEB_JSON_MAX_DEPTH);
    char *text = cJSON_PrintUnformatted(out);
    FUZZ_CHECK(text);
    /* What was accepted prints to JSON that is accepted again and prints
     * the same. */
    cJSON *again = NULL;
    status = web_json_parse(text, strlen(text), 65536, &again, &code, msg, sizeof msg,
                            &det);
    FUZZ_CHECK(status == 0);
    char *text2 = cJSON_PrintUnformatted(again);
    FUZZ_CHECK(text2 && !strcmp(text, text2));
    cJSON_free(text2);
    cJSON_Delete(again);
    cJSON_free(text);
    cJSON_Delete(out);
  }
  return 0;
}
