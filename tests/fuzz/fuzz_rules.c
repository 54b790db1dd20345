/* tests/fuzz/fuzz_rules.c - alert rule bodies: POST /api/v1/alerts/rules
 * through alert_rule_create (which checks the metric with
 * alert_metric_check, the model, alias or version, the column against the
 * schema and the channels), and the metric string on its own. */
#include <string.h>

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
  const char *metric = mw_json_str(body, "metric");
  char *column = NULL;
  if(!alert_metric_check(metric, &column, &err) && column) {
    /* <column>.<statistic>: the column is what precedes the last dot. */
    FUZZ_CHECK(strlen(column) < strlen(metric) && !strncmp(column, metric, strlen(column)));
    FUZZ_CHECK(metric[strlen(column)] == '.');
  }
  free(column);
  mw_err_clear(&err);
  cJSON *out = NULL;
  mw_status st = alert_rule_create(e->c, body, "fuzz", &out, &err);
  FUZZ_CHECK(st ? out == NULL : out != NULL);
  if(!st) {
    cJSON *got = NULL;
    FUZZ_CHECK(!alert_rule_get(e->c, mw_json_str(body, "name"), &got, &err));
    cJSON_Delete(got);
  }
  cJSON_Delete(out);
  mw_err_clear(&err);
  fuzz_after(e);
  cJSON_Delete(body);
  return 0;
}
