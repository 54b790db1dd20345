/* tests/fuzz/fuzz_payload.c - notification payloads: an alert group built
 * from the input (labels, annotations, names and numbers as rules and
 * alerts carry them) through alert_payload_build for every channel type.
 * Checked: every string of every payload is valid UTF-8 (what receivers
 * need to parse it), and Discord's embed stays within Discord's limits.
 *
 * Every string is taken as it comes, invalid UTF-8 included: labels,
 * annotations, severity and column names are user text stored as sent.
 *
 * Input: {"alerts": [{status, labels, annotations, starts_at, ends_at,
 * fingerprint, generator_url, rule, model, version, alias, metric, op,
 * value, threshold, state, severity, dashboard_url}], receiver, status,
 * group_key, group_labels, common_labels, common_annotations,
 * external_url, truncated}. */
#include <math.h>
#include <string.h>

#include "alerts/internal.h"
#include "tests/fuzz/fuzz_common.h"

#define MAX_ALERTS 64

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

static double num(const cJSON *o, const char *key, double dflt) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(it) ? it->valuedouble : dflt;
}

static int64_t ms(const cJSON *o, const char *key, int64_t dflt) {
  int64_t v;
  /* Times come from the database: between 1970 and 9999. */
  return mw_json_int(cJSON_GetObjectItemCaseSensitive(o, key), &v) && v >= 0 &&
                 v < 253402300800000LL
             ? v
             : dflt;
}

/* Strict UTF-8: no overlong forms, surrogates or values past U+10FFFF. */
static int utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while(*p) {
    unsigned c = *p;
    size_t len;
    uint32_t v, min;
    if(c < 0x80) {
      p++;
      continue;
    } else if((c & 0xe0) == 0xc0) {
      len = 2, v = c & 0x1f, min = 0x80;
    } else if((c & 0xf0) == 0xe0) {
      len = 3, v = c & 0x0f, min = 0x800;
    } else if((c & 0xf8) == 0xf0) {
      len = 4, v = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    for(size_t i = 1; i < len; i++) {
      if((p[i] & 0xc0) != 0x80)
        return 0;
      v = v << 6 | (p[i] & 0x3f);
    }
    if(v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
      return 0;
    p += len;
  }
  return 1;
}

/* Every key and string of a payload is valid UTF-8; type names the
 * payload in the message of a failure. */
static void check_utf8(const char *type, const cJSON *j) {
  for(const cJSON *it = j; it; it = it->next) {
    const char *bad = it->string && !utf8_valid(it->string) ? it->string
                      : cJSON_IsString(it) && !utf8_valid(it->valuestring)
                          ? it->valuestring
                          : NULL;
    if(bad) {
      fprintf(stderr, "%s payload: invalid UTF-8 in \"%s\" (key %s)\n", type, bad,
              it->string ? it->string : "-");
      abort();
    }
    if(it->child)
      check_utf8(type, it->child);
  }
}

static size_t units(const cJSON *o, const char *key) {
  const char *s = mw_json_str(o, key);
  return s ? alert__utf16_len(s) : 0;
}

/* Discord's documented limits, in UTF-16 code units as Discord counts. */
static void check_discord(const cJSON *p) {
  FUZZ_CHECK(units(p, "content") <= 2000);
  const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "embeds"), 0);
  FUZZ_CHECK(cJSON_IsObject(e));
  size_t total = units(e, "title") + units(e, "description") +
                 units(cJSON_GetObjectItemCaseSensitive(e, "footer"), "text");
  FUZZ_CHECK(units(e, "title") <= 256 && units(e, "description") <= 4096);
  const cJSON *fields = cJSON_GetObjectItemCaseSensitive(e, "fields");
  FUZZ_CHECK(cJSON_GetArraySize(fields) <= 25);
  const cJSON *f;
  cJSON_ArrayForEach(f, fields) {
    FUZZ_CHECK(units(f, "name") >= 1 && units(f, "name") <= 256);
    FUZZ_CHECK(units(f, "value") >= 1 && units(f, "value") <= 1024);
    total += units(f, "name") + units(f, "value");
  }
  FUZZ_CHECK(total <= 6000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *in = fuzz_body(data, size);
  if(!in)
    return 0;
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(in, "alerts");
  struct alert_notice alerts[MAX_ALERTS];
  size_t n = 0;
  const cJSON *a;
  cJSON_ArrayForEach(a, arr) {
    if(n == MAX_ALERTS)
      break;
    struct alert_notice *x = &alerts[n++];
    memset(x, 0, sizeof *x);
    x->status = mw_json_str(a, "status");
    x->labels = cJSON_GetObjectItemCaseSensitive(a, "labels");
    x->annotations = cJSON_GetObjectItemCaseSensitive(a, "annotations");
    x->starts_at_ms = ms(a, "starts_at", 1764230400000LL);
    x->ends_at_ms = ms(a, "ends_at", 0);
    x->fingerprint = mw_json_str(a, "fingerprint");
    x->generator_url = mw_json_str(a, "generator_url");
    x->rule = mw_json_str(a, "rule");
    x->model = mw_json_str(a, "model");
    int64_t v;
    if(mw_json_int(cJSON_GetObjectItemCaseSensitive(a, "version"), &v))
      x->version = v;
    x->alias = mw_json_str(a, "alias");
    x->metric = mw_json_str(a, "metric");
    x->op = mw_json_str(a, "op");
    x->value = cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "value"))
                   ? NAN
                   : num(a, "value", 0.31);
    x->threshold = num(a, "threshold", 0.2);
    x->state = mw_json_str(a, "state");
    x->severity = mw_json_str(a, "severity");
    x->dashboard_url = mw_json_str(a, "dashboard_url");
  }
  struct alert_group_notice g;
  memset(&g, 0, sizeof g);
  g.status = mw_json_str(in, "status");
  g.receiver = mw_json_str(in, "receiver");
  g.group_key = mw_json_str(in, "group_key");
  g.group_labels = cJSON_GetObjectItemCaseSensitive(in, "group_labels");
  g.common_labels = cJSON_GetObjectItemCaseSensitive(in, "common_labels");
  g.common_annotations = cJSON_GetObjectItemCaseSensitive(in, "common_annotations");
  g.external_url = mw_json_str(in, "external_url");
  g.alerts = alerts;
  g.nalerts = n;
  int64_t trunc;
  if(mw_json_int(cJSON_GetObjectItemCaseSensitive(in, "truncated"), &trunc) &&
     trunc >= 0 && trunc < 1000000)
    g.truncated_alerts = (int)trunc;
  static const char *const types[] = {"webhook", "slack",        "mattermost",
                                      "discord", "teams",        "alertmanager",
                                      "email"};
  for(size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    cJSON *out = NULL;
    mw_status st = alert_payload_build(types[t], "ops", &g, &out);
    if(!n) {
      FUZZ_CHECK(st == MW_EINVAL && !out);
      continue;
    }
    FUZZ_CHECK(!st && out);
    check_utf8(types[t], out);
    if(!strcmp(types[t], "discord"))
      check_discord(out);
    char *text = cJSON_PrintUnformatted(out);
    FUZZ_CHECK(text);
    cJSON *back = cJSON_Parse(text);
    FUZZ_CHECK(back);
    cJSON_Delete(back);
    cJSON_free(text);
    cJSON_Delete(out);
  }
  cJSON_Delete(in);
  return 0;
}
