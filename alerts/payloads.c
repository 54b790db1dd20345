/* alerts/payloads.c - what each kind of channel receives: the Alertmanager
 * v4 webhook payload, Slack blocks, Mattermost attachments, a Discord
 * embed, a Teams Adaptive Card, Alertmanager's postable alerts and an
 * email's subject and text, built with cJSON from one alert group. Every
 * kind lists firing alerts first (alert__notices_order) and says of each
 * the value it fired with and what its rule's action did; the line phones
 * show (sb_headline) is the title and the first firing alert.
 *
 * Chat services reject (or silently cut) messages past their length
 * limits, so every user-supplied string (labels, annotations, names) is
 * cut here, on a UTF-8 boundary, to the limit of the field it lands in.
 * Invalid UTF-8 is replaced, never copied, so the JSON stays valid. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/internal.h"

/* Alerts detailed one by one in chat messages; the rest are counted. */
#define CHAT_MAX_ALERTS 10
/* Large enough for any message we build, small enough to refuse nonsense. */
#define TEXT_LIMIT (1u << 20)

/* ------------------------------------------------------------ UTF-8 */

/* Decodes one code point of s (n > 0 bytes left) with core's strict
 * decoder. Returns the bytes it used: 1 for an invalid byte, with
 * *cp = U+FFFD, so each bad byte is replaced on its own. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  size_t k = mw_utf8_decode(s, n, cp);
  if(k)
    return k;
  *cp = 0xfffd;
  return 1;
}

size_t alert__utf16_len(const char *s) {
  size_t n = strlen(s), units = 0;
  const unsigned char *p = (const unsigned char *)s;
  while(n) {
    uint32_t cp;
    size_t k = utf8_next(p, n, &cp);
    units += cp >= 0x10000 ? 2 : 1;
    p += k;
    n -= k;
  }
  return units;
}

mw_status alert__utf8_append(mw_buf *out, const char *s, size_t max_units) {
  if(!s || !max_units)
    return MW_OK;
  /* Room for the ellipsis when the text does not fit. */
  size_t budget = alert__utf16_len(s) <= max_units ? max_units : max_units - 1;
  size_t n = strlen(s), units = 0;
  const unsigned char *p = (const unsigned char *)s;
  mw_status st = MW_OK;
  while(n && !st) {
    uint32_t cp;
    size_t k = utf8_next(p, n, &cp);
    size_t u = cp >= 0x10000 ? 2 : 1;
    if(units + u > budget)
      break;
    if(cp == 0xfffd && k == 1) {
      char enc[4];
      st = mw_buf_append(out, enc, mw_utf8_encode(cp, enc));
    } else {
      st = mw_buf_append(out, p, k);
    }
    units += u;
    p += k;
    n -= k;
  }
  if(!st && n)
    st = mw_buf_append(out, "\xe2\x80\xa6", 3); /* U+2026 … */
  return st;
}

/* ------------------------------------------------ a sticky text builder */

/* Appends keep going after a failure without effect; the first error is
 * reported once, at the end, by sb_take. */
struct sb {
  mw_buf b;
  mw_status err;
};

static void sb_init(struct sb *s) {
  mw_buf_init(&s->b, TEXT_LIMIT);
  s->err = MW_OK;
}

/* Appends text cut to max_units (0: no cut). */
static void sb_text(struct sb *s, const char *text, size_t max_units) {
  if(s->err || !text)
    return;
  s->err = alert__utf8_append(&s->b, text, max_units ? max_units : TEXT_LIMIT);
}

static void sb_add(struct sb *s, const char *text) { sb_text(s, text, 0); }

static void sb_fmt(struct sb *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sb *s, const char *fmt, ...) {
  if(s->err)
    return;
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if(n < 0) {
    s->err = MW_EINVAL;
    return;
  }
  sb_add(s, tmp);
}

/* Slack's mrkdwn needs &, < and > escaped in user text. */
static void sb_mrkdwn(struct sb *s, const char *text, size_t max_units) {
  if(s->err || !text)
    return;
  struct sb tmp;
  sb_init(&tmp);
  for(const char *p = text; *p; p++) {
    if(*p == '&')
      sb_add(&tmp, "&amp;");
    else if(*p == '<')
      sb_add(&tmp, "&lt;");
    else if(*p == '>')
      sb_add(&tmp, "&gt;");
    else if(!tmp.err)
      tmp.err = mw_buf_append(&tmp.b, p, 1);
  }
  if(tmp.err)
    s->err = tmp.err;
  else
    sb_text(s, tmp.b.data ? tmp.b.data : "", max_units);
  mw_buf_free(&tmp.b);
}

static const char *sb_str(const struct sb *s) { return s->b.data ? s->b.data : ""; }

static void sb_reset(struct sb *s) {
  mw_buf_free(&s->b);
  mw_buf_init(&s->b, TEXT_LIMIT);
}

static void sb_free(struct sb *s) { mw_buf_free(&s->b); }

/* Adds obj[key] = the builder's text cut to max_units; a failure sticks in
 * s. */
static void add_text(cJSON *obj, const char *key, const char *text, size_t max_units,
                     mw_status *err) {
  struct sb s;
  sb_init(&s);
  sb_text(&s, text ? text : "", max_units);
  if(s.err) {
    if(!*err)
      *err = s.err;
  } else if(!cJSON_AddStringToObject(obj, key, sb_str(&s)) && !*err) {
    *err = MW_ENOMEM;
  }
  sb_free(&s);
}

/* ------------------------------------------------------- group facts */

int alert_channel_type_valid(const char *type) {
  static const char *const types[] = {
      "webhook", "slack", "mattermost", "discord", "teams", "alertmanager", "email"};
  if(!type)
    return 0;
  for(size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if(!strcmp(type, types[i]))
      return 1;
  return 0;
}

static const char *notice_status(const struct alert_notice *a) {
  if(a->status)
    return a->status;
  return a->state && !strcmp(a->state, "resolved") ? "resolved" : "firing";
}

static int is_firing(const struct alert_notice *a) {
  return !strcmp(notice_status(a), "firing");
}

static const char *group_status(const struct alert_group_notice *g) {
  if(g->status)
    return g->status;
  for(size_t i = 0; i < g->nalerts; i++)
    if(is_firing(&g->alerts[i]))
      return "firing";
  return "resolved";
}

static size_t firing_count(const struct alert_group_notice *g) {
  size_t n = 0;
  for(size_t i = 0; i < g->nalerts; i++)
    n += is_firing(&g->alerts[i]);
  return n;
}

static int cmp_item_names(const void *a, const void *b) {
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string, y->string);
}

/* The members of obj sorted by key, in a new array the caller frees; *n
 * receives the count. NULL with *n = 0 for an empty or absent object. */
static const cJSON **sorted_members(const cJSON *obj, size_t *n) {
  *n = 0;
  if(!cJSON_IsObject(obj))
    return NULL;
  size_t count = (size_t)cJSON_GetArraySize(obj);
  if(!count)
    return NULL;
  const cJSON **v = calloc(count, sizeof *v);
  if(!v)
    return NULL;
  const cJSON *it;
  cJSON_ArrayForEach(it, obj) {
    if(it->string)
      v[(*n)++] = it;
  }
  qsort(v, *n, sizeof *v, cmp_item_names);
  return v;
}

/* String value of a member, or "" for non-strings. */
static const char *member_str(const cJSON *it) {
  return cJSON_IsString(it) ? it->valuestring : "";
}

/* A copy of obj (an object of strings), or {} when absent. */
static cJSON *dup_object(const cJSON *obj) {
  return cJSON_IsObject(obj) ? cJSON_Duplicate(obj, 1) : cJSON_CreateObject();
}

/* Labels (or annotations, by field) shared with the same value by every
 * alert, as Alertmanager computes commonLabels. */
static cJSON *common_of(const struct alert_group_notice *g, int annotations) {
  cJSON *out = cJSON_CreateObject();
  if(!out || !g->nalerts)
    return out;
  const cJSON *first = annotations ? g->alerts[0].annotations : g->alerts[0].labels;
  const cJSON *it;
  cJSON_ArrayForEach(it, first) {
    if(!it->string || !cJSON_IsString(it))
      continue;
    int shared = 1;
    for(size_t i = 1; i < g->nalerts && shared; i++) {
      const cJSON *o = annotations ? g->alerts[i].annotations : g->alerts[i].labels;
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, it->string);
      shared = cJSON_IsString(v) && !strcmp(v->valuestring, it->valuestring);
    }
    if(shared)
      cJSON_AddStringToObject(out, it->string, it->valuestring);
  }
  return out;
}

/* Alertmanager's fingerprint is a hash of the sorted label set; ours is the
 * first 16 hex digits of sha256 over "name\xffvalue\xff" pairs. */
static void fingerprint_of(const struct alert_notice *a, char out[17]) {
  if(a->fingerprint) {
    mw_strlcpy(out, a->fingerprint, 17);
    return;
  }
  size_t n;
  const cJSON **m = sorted_members(a->labels, &n);
  mw_buf b;
  mw_buf_init(&b, TEXT_LIMIT);
  for(size_t i = 0; i < n; i++) {
    mw_buf_append(&b, m[i]->string, strlen(m[i]->string));
    mw_buf_append(&b, "\xff", 1);
    mw_buf_append(&b, member_str(m[i]), strlen(member_str(m[i])));
    mw_buf_append(&b, "\xff", 1);
  }
  free(m);
  char hex[65];
  mw_sha256_hex(b.data ? b.data : "", b.len, hex);
  mw_buf_free(&b);
  memcpy(out, hex, 16);
  out[16] = 0;
}

/* "{}:{name=\"value\", ...}" over the group labels, as Alertmanager keys a
 * group routed from its root. */
static void group_key_of(const struct alert_group_notice *g, struct sb *s) {
  if(g->group_key) {
    sb_add(s, g->group_key);
    return;
  }
  size_t n;
  const cJSON **m = sorted_members(g->group_labels, &n);
  sb_add(s, "{}:{");
  for(size_t i = 0; i < n; i++) {
    sb_fmt(s, "%s", i ? ", " : "");
    sb_add(s, m[i]->string);
    sb_add(s, "=\"");
    sb_add(s, member_str(m[i]));
    sb_add(s, "\"");
  }
  sb_add(s, "}");
  free(m);
}

static void fmt_number(double v, char *buf, size_t cap) {
  if(!isfinite(v))
    snprintf(buf, cap, "n/a");
  else
    snprintf(buf, cap, "%.6g", v);
}

static const char *severity_of(const struct alert_notice *a) {
  if(a->severity)
    return a->severity;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a->labels, "severity");
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

static const char *dashboard_of(const struct alert_group_notice *g,
                                const struct alert_notice *a) {
  if(a && a->dashboard_url && *a->dashboard_url)
    return a->dashboard_url;
  return g->external_url ? g->external_url : "";
}

static const char *rule_of(const struct alert_notice *a) {
  if(a->rule)
    return a->rule;
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(a->labels, "alertname");
  return cJSON_IsString(n) ? n->valuestring : "alert";
}

/* "fraud v2 (production)" */
static void sb_model(struct sb *s, const struct alert_notice *a) {
  sb_add(s, a->model ? a->model : "(no model)");
  if(a->version > 0)
    sb_fmt(s, " v%lld", (long long)a->version);
  if(a->alias) {
    sb_add(s, " (");
    sb_add(s, a->alias);
    sb_add(s, ")");
  }
}

/* "> 0.2" */
static void sb_threshold(struct sb *s, const struct alert_notice *a) {
  char num[64];
  fmt_number(a->threshold, num, sizeof num);
  if(a->op) {
    sb_add(s, a->op);
    sb_add(s, " ");
  }
  sb_add(s, num);
}

/* "now 0 on v1": what a resolved alert resolved with ("" when unknown). */
static void sb_resolved_with(struct sb *s, const struct alert_notice *a) {
  char num[64];
  if(a->has_resolved_value) {
    fmt_number(a->resolved_value, num, sizeof num);
    sb_fmt(s, "now %s", num);
  }
  if(a->resolved_version > 0 && a->resolved_version != a->version)
    sb_fmt(s, "%son v%lld", a->has_resolved_value ? " " : "",
           (long long)a->resolved_version);
}

/* One line naming everything, with the value it fired with and what its
 * action did: "drift-high: fraud v2 (production) - age.psi = 0.31
 * (threshold > 0.2), firing; rolled production back v2 -> v1"; a resolved
 * one adds what it resolved with: "..., resolved (now 0.01 on v1); ...". */
static void sb_summary(struct sb *s, const struct alert_notice *a) {
  char num[64];
  fmt_number(a->value, num, sizeof num);
  sb_add(s, rule_of(a));
  sb_add(s, ": ");
  sb_model(s, a);
  sb_add(s, " - ");
  sb_add(s, a->metric ? a->metric : "(no metric)");
  sb_fmt(s, " = %s (threshold ", num);
  sb_threshold(s, a);
  sb_add(s, "), ");
  sb_add(s, a->state ? a->state : notice_status(a));
  if(!is_firing(a) && (a->has_resolved_value || a->resolved_version > 0)) {
    sb_add(s, " (");
    sb_resolved_with(s, a);
    sb_add(s, ")");
  }
  if(a->action) {
    sb_add(s, "; ");
    sb_add(s, a->action);
  }
}

/* "[FIRING:2] drift-high fraud": Alertmanager's default title, falling back
 * to the first alert's rule and model when the group has no labels. */
static void sb_title(struct sb *s, const struct alert_group_notice *g) {
  const char *st = group_status(g);
  if(!strcmp(st, "firing"))
    sb_fmt(s, "[FIRING:%zu]", firing_count(g));
  else
    sb_add(s, "[RESOLVED]");
  size_t n;
  const cJSON **m = sorted_members(g->group_labels, &n);
  for(size_t i = 0; i < n; i++) {
    sb_add(s, " ");
    sb_add(s, member_str(m[i]));
  }
  free(m);
  if(!n) {
    sb_add(s, " ");
    sb_add(s, rule_of(&g->alerts[0]));
    sb_add(s, " ");
    sb_add(s, g->alerts[0].model ? g->alerts[0].model : "");
  }
}

/* The resolution of the firing notice `first` in g, if g holds it: it is
 * told together with its firing and not counted as another alert. */
static int resolution_of(const struct alert_group_notice *g,
                         const struct alert_notice *first, size_t i) {
  if(!first->resolved_since_ms || is_firing(&g->alerts[i]))
    return 0;
  char a[17], b[17];
  fingerprint_of(first, a);
  fingerprint_of(&g->alerts[i], b);
  return !strcmp(a, b);
}

/* The line phones show, on the firing first: "[FIRING:1] fraud - <the
 * first alert's summary>; resolved since (+2 more)". */
static void sb_headline(struct sb *s, const struct alert_group_notice *g) {
  const struct alert_notice *first = &g->alerts[0];
  sb_title(s, g);
  sb_add(s, " - ");
  sb_summary(s, first);
  size_t more = 0;
  for(size_t i = 1; i < g->nalerts; i++)
    more += !resolution_of(g, first, i);
  if(first->resolved_since_ms)
    sb_add(s, "; resolved since");
  if(more)
    sb_fmt(s, " (+%zu more)", more);
}

/* The facts each chat message names, as (title, value) pairs. */
struct fact {
  const char *title;
  char value[256];
};

/* A UTF-16 unit takes at most 3 bytes of UTF-8 (an astral character is 4
 * bytes for 2 units), so 80 units and the ellipsis always fit in value. */
#define FACT_UNITS 80

/* Sets f's value to the builder's text cut on a character boundary. */
static void fact_set(struct fact *f, const char *title, const char *text) {
  mw_buf b;
  mw_buf_init(&b, sizeof f->value - 1);
  f->title = title;
  if(alert__utf8_append(&b, text, FACT_UNITS) || !b.data)
    mw_strlcpy(f->value, "-", sizeof f->value);
  else
    mw_strlcpy(f->value, b.data, sizeof f->value);
  mw_buf_free(&b);
}

/* The most facts an alert has. */
#define MAX_FACTS 9

static size_t facts_of(const struct alert_notice *a, struct fact f[MAX_FACTS]) {
  size_t n = 0;
  char num[64];
  struct sb s;
  sb_init(&s);
  sb_add(&s, a->model ? a->model : "(none)");
  if(a->alias) {
    sb_add(&s, " (");
    sb_add(&s, a->alias);
    sb_add(&s, ")");
  }
  fact_set(&f[n++], "Model", sb_str(&s));
  sb_reset(&s);
  if(a->version > 0)
    snprintf(num, sizeof num, "%lld", (long long)a->version);
  else
    snprintf(num, sizeof num, "unknown");
  fact_set(&f[n++], "Version", num);
  fact_set(&f[n++], "Metric", a->metric ? a->metric : "(none)");
  fmt_number(a->value, num, sizeof num);
  fact_set(&f[n++], "Value", num);
  sb_threshold(&s, a);
  fact_set(&f[n++], "Threshold", sb_str(&s));
  sb_reset(&s);
  fact_set(&f[n++], "State", a->state ? a->state : notice_status(a));
  if(!is_firing(a) && (a->has_resolved_value || a->resolved_version > 0)) {
    sb_resolved_with(&s, a);
    fact_set(&f[n++], "Resolved", sb_str(&s));
    sb_reset(&s);
  }
  const char *sev = severity_of(a);
  if(sev)
    fact_set(&f[n++], "Severity", sev);
  if(a->action)
    fact_set(&f[n++], "Action", a->action);
  sb_free(&s);
  assert(n <= MAX_FACTS);
  return n;
}

/* An annotation worth showing under an alert: summary, else description. */
static const char *blurb_of(const struct alert_notice *a) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->annotations, "summary");
  if(!cJSON_IsString(v))
    v = cJSON_GetObjectItemCaseSensitive(a->annotations, "description");
  return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* Ends a payload builder: the first error (of the builder or of its
 * string buffer) frees the payload; otherwise *out takes it. */
static mw_status payload_done(struct sb *s, mw_status err, cJSON *root,
                              cJSON **out) {
  if(s->err && !err)
    err = s->err;
  sb_free(s);
  if(err) {
    cJSON_Delete(root);
    return err;
  }
  *out = root;
  return MW_OK;
}

/* ------------------------------------------------ webhook (Alertmanager) */

/* The alert's annotations, with `action` (what its rule's action did)
 * when one ran: Alertmanager receivers' templates read annotations. */
static cJSON *annotations_with_action(const struct alert_notice *a) {
  cJSON *ann = dup_object(a->annotations);
  if(ann && a->action) {
    cJSON_DeleteItemFromObjectCaseSensitive(ann, "action");
    cJSON_AddStringToObject(ann, "action", a->action);
  }
  return ann;
}

/* The modelwatch object's story: what it resolved with (resolvedValue,
 * resolvedVersion), resolvedSince on a firing told after it resolved, and
 * action (null when none ran). `value` is the value it fired with. */
static void webhook_story(cJSON *mw, const struct alert_notice *a) {
  char t[40];
  if(!is_firing(a)) {
    if(a->has_resolved_value && isfinite(a->resolved_value))
      cJSON_AddNumberToObject(mw, "resolvedValue", a->resolved_value);
    else
      cJSON_AddNullToObject(mw, "resolvedValue");
    if(a->resolved_version > 0)
      cJSON_AddNumberToObject(mw, "resolvedVersion", (double)a->resolved_version);
    else
      cJSON_AddNullToObject(mw, "resolvedVersion");
  } else if(a->resolved_since_ms > 0) {
    cJSON_AddStringToObject(mw, "resolvedSince",
                            mw_time_format(a->resolved_since_ms, t, sizeof t));
  }
  if(a->action)
    cJSON_AddStringToObject(mw, "action", a->action);
  else
    cJSON_AddNullToObject(mw, "action");
}

static mw_status build_webhook(const char *receiver,
                               const struct alert_group_notice *g, cJSON **out) {
  mw_status err = MW_OK;
  cJSON *root = cJSON_CreateObject();
  struct sb s;
  sb_init(&s);
  group_key_of(g, &s);
  cJSON_AddStringToObject(root, "version", "4");
  cJSON_AddStringToObject(root, "groupKey", sb_str(&s));
  cJSON_AddNumberToObject(root, "truncatedAlerts", g->truncated_alerts);
  cJSON_AddStringToObject(root, "status", group_status(g));
  cJSON_AddStringToObject(root, "receiver", receiver);
  cJSON_AddItemToObject(root, "groupLabels", dup_object(g->group_labels));
  cJSON_AddItemToObject(root, "commonLabels",
                        g->common_labels ? dup_object(g->common_labels)
                                         : common_of(g, 0));
  cJSON_AddItemToObject(root, "commonAnnotations",
                        g->common_annotations ? dup_object(g->common_annotations)
                                              : common_of(g, 1));
  cJSON_AddStringToObject(root, "externalURL",
                          g->external_url ? g->external_url : "");
  cJSON *arr = cJSON_AddArrayToObject(root, "alerts");
  for(size_t i = 0; i < g->nalerts; i++) {
    const struct alert_notice *a = &g->alerts[i];
    cJSON *o = cJSON_CreateObject();
    char t[40], fp[17];
    cJSON_AddStringToObject(o, "status", notice_status(a));
    cJSON_AddItemToObject(o, "labels", dup_object(a->labels));
    cJSON_AddItemToObject(o, "annotations", annotations_with_action(a));
    cJSON_AddStringToObject(o, "startsAt",
                            mw_time_format(a->starts_at_ms, t, sizeof t));
    /* Alertmanager's zero time marks an alert that has not ended. */
    cJSON_AddStringToObject(o, "endsAt",
                            a->ends_at_ms > 0
                                ? mw_time_format(a->ends_at_ms, t, sizeof t)
                                : "0001-01-01T00:00:00Z");
    cJSON_AddStringToObject(o, "generatorURL",
                            a->generator_url ? a->generator_url : "");
    fingerprint_of(a, fp);
    cJSON_AddStringToObject(o, "fingerprint", fp);
    /* Extra facts in their own object: Alertmanager receivers ignore
     * unknown fields, ours can read them without parsing labels. */
    cJSON *mw = cJSON_AddObjectToObject(o, "modelwatch");
    cJSON_AddStringToObject(mw, "rule", rule_of(a));
    if(a->model)
      cJSON_AddStringToObject(mw, "model", a->model);
    else
      cJSON_AddNullToObject(mw, "model");
    if(a->version > 0)
      cJSON_AddNumberToObject(mw, "version", (double)a->version);
    else
      cJSON_AddNullToObject(mw, "version");
    if(a->alias)
      cJSON_AddStringToObject(mw, "alias", a->alias);
    cJSON_AddStringToObject(mw, "metric", a->metric ? a->metric : "");
    if(a->op)
      cJSON_AddStringToObject(mw, "op", a->op);
    if(isfinite(a->value))
      cJSON_AddNumberToObject(mw, "value", a->value);
    else
      cJSON_AddNullToObject(mw, "value");
    if(isfinite(a->threshold))
      cJSON_AddNumberToObject(mw, "threshold", a->threshold);
    else
      cJSON_AddNullToObject(mw, "threshold");
    cJSON_AddStringToObject(mw, "state", a->state ? a->state : notice_status(a));
    webhook_story(mw, a);
    cJSON_AddStringToObject(mw, "dashboardURL", dashboard_of(g, a));
    cJSON_AddItemToArray(arr, o);
  }
  if(s.err)
    err = s.err;
  sb_free(&s);
  if(err) {
    cJSON_Delete(root);
    return err;
  }
  *out = root;
  return MW_OK;
}

/* ------------------------------------------------------------- slack */

/* Slack limits: header 150, section text 3000, field 2000, 50 blocks,
 * button text 75, URL 3000. */
static cJSON *slack_text(const char *type, const char *text) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "type", type);
  cJSON_AddStringToObject(t, "text", text);
  return t;
}

/* One alert's section: "*rule* - state (what it resolved with)", its
 * summary, the dashboard link, and its facts as fields. A failure sticks
 * in *err. */
static cJSON *slack_section(const struct alert_group_notice *g,
                            const struct alert_notice *a, mw_status *err) {
  struct sb s;
  sb_init(&s);
  cJSON *sec = cJSON_CreateObject();
  cJSON_AddStringToObject(sec, "type", "section");
  sb_add(&s, "*");
  sb_mrkdwn(&s, rule_of(a), 500);
  sb_add(&s, "* - ");
  sb_mrkdwn(&s, a->state ? a->state : notice_status(a), 50);
  if(!is_firing(a) && (a->has_resolved_value || a->resolved_version > 0)) {
    struct sb r;
    sb_init(&r);
    sb_resolved_with(&r, a);
    sb_add(&s, " (");
    sb_mrkdwn(&s, sb_str(&r), 200);
    sb_add(&s, ")");
    if(r.err && !s.err)
      s.err = r.err;
    sb_free(&r);
  }
  const char *blurb = blurb_of(a);
  if(blurb) {
    sb_add(&s, "\n");
    sb_mrkdwn(&s, blurb, 2000);
  }
  sb_add(&s, "\n<");
  sb_add(&s, dashboard_of(g, a));
  sb_add(&s, "|Open in the dashboard>");
  cJSON *st = cJSON_CreateObject();
  cJSON_AddStringToObject(st, "type", "mrkdwn");
  add_text(st, "text", sb_str(&s), 3000, err);
  cJSON_AddItemToObject(sec, "text", st);
  cJSON *fields = cJSON_AddArrayToObject(sec, "fields");
  struct fact f[MAX_FACTS];
  size_t nf = facts_of(a, f);
  for(size_t k = 0; k < nf; k++) {
    sb_reset(&s);
    sb_fmt(&s, "*%s*\n", f[k].title);
    sb_mrkdwn(&s, f[k].value, 1900);
    cJSON_AddItemToArray(fields, slack_text("mrkdwn", sb_str(&s)));
  }
  if(s.err && !*err)
    *err = s.err;
  sb_free(&s);
  return sec;
}

static mw_status build_slack(const struct alert_group_notice *g, cJSON **out) {
  mw_status err = MW_OK;
  cJSON *root = cJSON_CreateObject();
  struct sb s;
  sb_init(&s);
  /* `text` is the notification and fallback: title plus the first alert. */
  sb_headline(&s, g);
  add_text(root, "text", sb_str(&s), 3000, &err);
  cJSON *blocks = cJSON_AddArrayToObject(root, "blocks");
  sb_reset(&s);
  sb_title(&s, g);
  cJSON *h = cJSON_CreateObject();
  cJSON_AddStringToObject(h, "type", "header");
  cJSON *ht = cJSON_AddObjectToObject(h, "text");
  cJSON_AddStringToObject(ht, "type", "plain_text");
  add_text(ht, "text", sb_str(&s), 150, &err);
  cJSON_AddItemToArray(blocks, h);
  size_t shown = g->nalerts < CHAT_MAX_ALERTS ? g->nalerts : CHAT_MAX_ALERTS;
  for(size_t i = 0; i < shown; i++)
    cJSON_AddItemToArray(blocks, slack_section(g, &g->alerts[i], &err));
  if(g->nalerts > shown || g->truncated_alerts > 0) {
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "type", "context");
    cJSON *els = cJSON_AddArrayToObject(ctx, "elements");
    sb_reset(&s);
    sb_fmt(&s, "and %zu more alert(s)",
           g->nalerts - shown +
               (size_t)(g->truncated_alerts > 0 ? g->truncated_alerts : 0));
    cJSON_AddItemToArray(els, slack_text("mrkdwn", sb_str(&s)));
    cJSON_AddItemToArray(blocks, ctx);
  }
  const char *dash = dashboard_of(g, &g->alerts[0]);
  if(!strncmp(dash, "http", 4) && strlen(dash) <= 3000) {
    cJSON *act = cJSON_CreateObject();
    cJSON_AddStringToObject(act, "type", "actions");
    cJSON *els = cJSON_AddArrayToObject(act, "elements");
    cJSON *btn = cJSON_CreateObject();
    cJSON_AddStringToObject(btn, "type", "button");
    cJSON_AddItemToObject(btn, "text", slack_text("plain_text", "Open dashboard"));
    cJSON_AddStringToObject(btn, "url", dash);
    cJSON_AddItemToArray(els, btn);
    cJSON_AddItemToArray(blocks, act);
  }
  return payload_done(&s, err, root, out);
}

/* -------------------------------------------------------- mattermost */

static mw_status build_mattermost(const struct alert_group_notice *g, cJSON **out) {
  mw_status err = MW_OK;
  cJSON *root = cJSON_CreateObject();
  struct sb s;
  sb_init(&s);
  sb_add(&s, "#### ");
  sb_headline(&s, g);
  /* Mattermost posts hold 16383 characters. */
  add_text(root, "text", sb_str(&s), 4000, &err);
  cJSON *atts = cJSON_AddArrayToObject(root, "attachments");
  size_t shown = g->nalerts < CHAT_MAX_ALERTS ? g->nalerts : CHAT_MAX_ALERTS;
  for(size_t i = 0; i < shown; i++) {
    const struct alert_notice *a = &g->alerts[i];
    cJSON *at = cJSON_CreateObject();
    sb_reset(&s);
    sb_summary(&s, a);
    add_text(at, "fallback", sb_str(&s), 1000, &err);
    cJSON_AddStringToObject(at, "color", is_firing(a) ? "#d00000" : "#2eb886");
    sb_reset(&s);
    sb_add(&s, rule_of(a));
    sb_add(&s, ": ");
    sb_model(&s, a);
    add_text(at, "title", sb_str(&s), 500, &err);
    const char *dash = dashboard_of(g, a);
    if(!strncmp(dash, "http", 4))
      cJSON_AddStringToObject(at, "title_link", dash);
    const char *blurb = blurb_of(a);
    add_text(at, "text", blurb ? blurb : "", 2000, &err);
    cJSON *fields = cJSON_AddArrayToObject(at, "fields");
    struct fact f[MAX_FACTS];
    size_t nf = facts_of(a, f);
    for(size_t k = 0; k < nf; k++) {
      cJSON *fo = cJSON_CreateObject();
      cJSON_AddBoolToObject(fo, "short", 1);
      cJSON_AddStringToObject(fo, "title", f[k].title);
      cJSON_AddStringToObject(fo, "value", f[k].value);
      cJSON_AddItemToArray(fields, fo);
    }
    cJSON *link = cJSON_CreateObject();
    cJSON_AddBoolToObject(link, "short", 0);
    cJSON_AddStringToObject(link, "title", "Dashboard");
    sb_reset(&s);
    sb_add(&s, "[Open in modelwatch](");
    sb_add(&s, dash);
    sb_add(&s, ")");
    add_text(link, "value", sb_str(&s), 3000, &err);
    cJSON_AddItemToArray(fields, link);
    cJSON_AddItemToArray(atts, at);
  }
  return payload_done(&s, err, root, out);
}

/* ----------------------------------------------------------- discord */

#define DISCORD_CONTENT 2000
#define DISCORD_TITLE 256
#define DISCORD_DESCRIPTION 4096
#define DISCORD_FIELDS 25
#define DISCORD_FIELD_NAME 256
#define DISCORD_FIELD_VALUE 1024
#define DISCORD_FOOTER 2048
#define DISCORD_EMBED_TOTAL 6000

/* The embed's fields: the first alert's facts, then its labels, up to 25,
 * leaving room for a useful description in the embed's 6000 (of which
 * `used` are spent). *units receives the fields' length. */
static cJSON *discord_fields(const struct alert_notice *a, size_t used,
                             size_t *units, mw_status *err) {
  cJSON *fields = cJSON_CreateArray();
  size_t nfields = 0;
  *units = 0;
  struct fact f[MAX_FACTS];
  size_t nf = facts_of(a, f);
  for(size_t k = 0; k < nf && nfields < DISCORD_FIELDS; k++) {
    cJSON *fo = cJSON_CreateObject();
    add_text(fo, "name", f[k].title, DISCORD_FIELD_NAME, err);
    add_text(fo, "value", f[k].value[0] ? f[k].value : "-", DISCORD_FIELD_VALUE,
             err);
    cJSON_AddBoolToObject(fo, "inline", 1);
    const char *fv = mw_json_str(fo, "value");
    *units += alert__utf16_len(f[k].title) + alert__utf16_len(fv ? fv : "");
    cJSON_AddItemToArray(fields, fo);
    nfields++;
  }
  size_t nl;
  const cJSON **labels = sorted_members(a->labels, &nl);
  for(size_t k = 0; k < nl && nfields < DISCORD_FIELDS; k++) {
    const char *v = member_str(labels[k]);
    cJSON *fo = cJSON_CreateObject();
    add_text(fo, "name", labels[k]->string[0] ? labels[k]->string : "-",
             DISCORD_FIELD_NAME, err);
    add_text(fo, "value", *v ? v : "-", DISCORD_FIELD_VALUE, err);
    cJSON_AddBoolToObject(fo, "inline", 1);
    const char *fn = mw_json_str(fo, "name"), *fv = mw_json_str(fo, "value");
    size_t n = alert__utf16_len(fn ? fn : "") + alert__utf16_len(fv ? fv : "");
    /* Keep room for a useful description inside the 6000 total. */
    if(used + *units + n > DISCORD_EMBED_TOTAL - 1000) {
      cJSON_Delete(fo);
      break;
    }
    *units += n;
    cJSON_AddItemToArray(fields, fo);
    nfields++;
  }
  free(labels);
  assert(nfields <= DISCORD_FIELDS);
  return fields;
}

/* The embed's description: one line per alert (at most CHAT_MAX_ALERTS),
 * then the dashboard link. */
static void discord_description(const struct alert_group_notice *g, const char *dash,
                                struct sb *s) {
  size_t shown = g->nalerts < CHAT_MAX_ALERTS ? g->nalerts : CHAT_MAX_ALERTS;
  for(size_t i = 0; i < shown; i++) {
    const struct alert_notice *a = &g->alerts[i];
    sb_add(s, "- ");
    sb_summary(s, a);
    const char *blurb = blurb_of(a);
    if(blurb) {
      sb_add(s, "\n  ");
      sb_text(s, blurb, 500);
    }
    sb_add(s, "\n");
  }
  if(g->nalerts > shown)
    sb_fmt(s, "and %zu more\n", g->nalerts - shown);
  sb_add(s, "[Open in the dashboard](");
  sb_add(s, dash);
  sb_add(s, ")");
}

static mw_status build_discord(const struct alert_group_notice *g, cJSON **out) {
  mw_status err = MW_OK;
  cJSON *root = cJSON_CreateObject();
  struct sb s;
  sb_init(&s);
  int firing = !strcmp(group_status(g), "firing");
  sb_headline(&s, g);
  add_text(root, "content", sb_str(&s), DISCORD_CONTENT, &err);
  /* Label values are user text: they must not ping @everyone. */
  cJSON *am = cJSON_AddObjectToObject(root, "allowed_mentions");
  cJSON_AddArrayToObject(am, "parse");
  cJSON *embeds = cJSON_AddArrayToObject(root, "embeds");
  cJSON *e = cJSON_CreateObject();
  cJSON_AddItemToArray(embeds, e);

  size_t total = 0;
  sb_reset(&s);
  sb_title(&s, g);
  add_text(e, "title", sb_str(&s), DISCORD_TITLE, &err);
  total += alert__utf16_len(mw_json_str(e, "title") ? mw_json_str(e, "title") : "");
  const char *dash = dashboard_of(g, &g->alerts[0]);
  if(!strncmp(dash, "http", 4) && strlen(dash) <= 2000)
    cJSON_AddStringToObject(e, "url", dash);
  cJSON_AddNumberToObject(e, "color", firing ? 0xd00000 : 0x2eb886);
  cJSON *footer = cJSON_AddObjectToObject(e, "footer");
  cJSON_AddStringToObject(footer, "text", "modelwatch");
  total += strlen("modelwatch");
  char ts[40];
  cJSON_AddStringToObject(e, "timestamp",
                          mw_time_format(g->alerts[0].starts_at_ms, ts, sizeof ts));
  size_t fields_units;
  cJSON *fields = discord_fields(&g->alerts[0], total, &fields_units, &err);
  total += fields_units;
  /* The description gets what is left of the total. */
  sb_reset(&s);
  discord_description(g, dash, &s);
  size_t room = DISCORD_EMBED_TOTAL > total ? DISCORD_EMBED_TOTAL - total : 0;
  if(room > DISCORD_DESCRIPTION)
    room = DISCORD_DESCRIPTION;
  add_text(e, "description", sb_str(&s), room, &err);
  cJSON_AddItemToObject(e, "fields", fields);
  return payload_done(&s, err, root, out);
}

/* ------------------------------------------------------------- teams */

static cJSON *text_block(const char *text, const char *size, const char *weight,
                         const char *color, mw_status *err) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "type", "TextBlock");
  add_text(t, "text", text, 2000, err);
  cJSON_AddBoolToObject(t, "wrap", 1);
  if(size)
    cJSON_AddStringToObject(t, "size", size);
  if(weight)
    cJSON_AddStringToObject(t, "weight", weight);
  if(color)
    cJSON_AddStringToObject(t, "color", color);
  return t;
}

static mw_status build_teams(const struct alert_group_notice *g, cJSON **out) {
  mw_status err = MW_OK;
  cJSON *root = cJSON_CreateObject();
  struct sb s;
  sb_init(&s);
  int firing = !strcmp(group_status(g), "firing");
  cJSON_AddStringToObject(root, "type", "message");
  /* Some Teams connectors show `summary` in notifications. */
  sb_headline(&s, g);
  add_text(root, "summary", sb_str(&s), 200, &err);
  sb_reset(&s);
  sb_title(&s, g);
  cJSON *atts = cJSON_AddArrayToObject(root, "attachments");
  cJSON *att = cJSON_CreateObject();
  cJSON_AddItemToArray(atts, att);
  cJSON_AddStringToObject(att, "contentType",
                          "application/vnd.microsoft.card.adaptive");
  cJSON_AddNullToObject(att, "contentUrl");
  cJSON *card = cJSON_AddObjectToObject(att, "content");
  cJSON_AddStringToObject(card, "$schema",
                          "http://adaptivecards.io/schemas/adaptive-card.json");
  cJSON_AddStringToObject(card, "type", "AdaptiveCard");
  cJSON_AddStringToObject(card, "version", "1.4");
  cJSON *ms = cJSON_AddObjectToObject(card, "msteams");
  cJSON_AddStringToObject(ms, "width", "Full");
  cJSON *body = cJSON_AddArrayToObject(card, "body");
  cJSON_AddItemToArray(body, text_block(sb_str(&s), "Large", "Bolder",
                                        firing ? "Attention" : "Good", &err));
  size_t shown = g->nalerts < CHAT_MAX_ALERTS ? g->nalerts : CHAT_MAX_ALERTS;
  for(size_t i = 0; i < shown; i++) {
    const struct alert_notice *a = &g->alerts[i];
    sb_reset(&s);
    sb_summary(&s, a);
    cJSON *tb = text_block(sb_str(&s), "Medium", "Bolder", NULL, &err);
    cJSON_AddBoolToObject(tb, "separator", 1);
    cJSON_AddItemToArray(body, tb);
    const char *blurb = blurb_of(a);
    if(blurb)
      cJSON_AddItemToArray(body, text_block(blurb, NULL, NULL, NULL, &err));
    cJSON *fs = cJSON_CreateObject();
    cJSON_AddStringToObject(fs, "type", "FactSet");
    cJSON *facts = cJSON_AddArrayToObject(fs, "facts");
    struct fact f[MAX_FACTS];
    size_t nf = facts_of(a, f);
    for(size_t k = 0; k < nf; k++) {
      cJSON *fo = cJSON_CreateObject();
      cJSON_AddStringToObject(fo, "title", f[k].title);
      cJSON_AddStringToObject(fo, "value", f[k].value);
      cJSON_AddItemToArray(facts, fo);
    }
    cJSON_AddItemToArray(body, fs);
  }
  if(g->nalerts > shown) {
    sb_reset(&s);
    sb_fmt(&s, "and %zu more alert(s)", g->nalerts - shown);
    cJSON_AddItemToArray(body, text_block(sb_str(&s), NULL, NULL, NULL, &err));
  }
  const char *dash = dashboard_of(g, &g->alerts[0]);
  if(!strncmp(dash, "http", 4)) {
    cJSON *actions = cJSON_AddArrayToObject(card, "actions");
    cJSON *act = cJSON_CreateObject();
    cJSON_AddStringToObject(act, "type", "Action.OpenUrl");
    cJSON_AddStringToObject(act, "title", "Open dashboard");
    cJSON_AddStringToObject(act, "url", dash);
    cJSON_AddItemToArray(actions, act);
  }
  return payload_done(&s, err, root, out);
}

/* ------------------------------------------------------------- email */

/* One alert in a mail: its summary line, its facts one per line (the
 * action in full), its summary annotation, its labels and its dashboard
 * link. */
static void email_alert(struct sb *s, const struct alert_group_notice *g,
                        const struct alert_notice *a) {
  sb_add(s, is_firing(a) ? "FIRING - " : "RESOLVED - ");
  sb_summary(s, a);
  sb_add(s, "\n");
  struct fact f[MAX_FACTS];
  size_t nf = facts_of(a, f);
  for(size_t k = 0; k < nf; k++) {
    int action = !strcmp(f[k].title, "Action");
    sb_fmt(s, "  %s:%*s", f[k].title, (int)(11 - strlen(f[k].title)), "");
    sb_add(s, action ? a->action : f[k].value);
    sb_add(s, "\n");
  }
  const char *blurb = blurb_of(a);
  if(blurb) {
    sb_add(s, "  Summary:    ");
    sb_text(s, blurb, 2000);
    sb_add(s, "\n");
  }
  size_t nl;
  const cJSON **labels = sorted_members(a->labels, &nl);
  for(size_t k = 0; k < nl; k++) {
    sb_add(s, k ? ", " : "  Labels:     ");
    sb_text(s, labels[k]->string, 200);
    sb_add(s, "=");
    sb_text(s, member_str(labels[k]), 500);
  }
  free(labels);
  if(nl)
    sb_add(s, "\n");
  sb_add(s, "  Dashboard:  ");
  sb_add(s, dashboard_of(g, a));
  sb_add(s, "\n\n");
}

/* {subject, text}: the subject is the line phones show, the text names
 * every fact of each alert (at most CHAT_MAX_ALERTS) and links the
 * dashboard. The channel adds {from, to} (alerts/channels.c); the worker
 * composes the mail (alerts/email.c). */
static mw_status build_email(const struct alert_group_notice *g, cJSON **out) {
  mw_status err = MW_OK;
  cJSON *root = cJSON_CreateObject();
  struct sb s;
  sb_init(&s);
  sb_headline(&s, g);
  add_text(root, "subject", sb_str(&s), 200, &err);
  sb_reset(&s);
  sb_title(&s, g);
  sb_add(&s, "\n\n");
  size_t shown = g->nalerts < CHAT_MAX_ALERTS ? g->nalerts : CHAT_MAX_ALERTS;
  for(size_t i = 0; i < shown; i++)
    email_alert(&s, g, &g->alerts[i]);
  size_t more = g->nalerts - shown +
                (size_t)(g->truncated_alerts > 0 ? g->truncated_alerts : 0);
  if(more)
    sb_fmt(&s, "and %zu more alert(s)\n\n", more);
  sb_add(&s, "Open in the dashboard: ");
  sb_add(&s, dashboard_of(g, &g->alerts[0]));
  sb_add(&s, "\n\n-- \nmodelwatch\n");
  add_text(root, "text", sb_str(&s), 100000, &err);
  return payload_done(&s, err, root, out);
}

/* 1 when s is valid UTF-8. */
static int utf8_ok(const char *s) {
  return mw_utf8_check(s, strlen(s), NULL) == MW_OK;
}

/* A copy of s with every invalid byte replaced by U+FFFD, allocated with
 * cJSON's allocator (it replaces a key or value of a cJSON item). */
static char *utf8_clean_copy(const char *s) {
  mw_buf b;
  mw_buf_init(&b, TEXT_LIMIT);
  if(alert__utf8_append(&b, s, SIZE_MAX) || !b.data) {
    mw_buf_free(&b);
    return NULL;
  }
  char *out = cJSON_malloc(b.len + 1);
  if(out)
    memcpy(out, b.data, b.len + 1);
  mw_buf_free(&b);
  return out;
}

/* Makes every key and string of j valid UTF-8. Chat payloads are built
 * from text that alert__utf8_append already cleaned, but the webhook
 * payload copies labels, annotations and names as they were stored, and
 * receivers refuse a body that is not UTF-8. */
static mw_status utf8_clean(cJSON *j) {
  for(cJSON *it = j; it; it = it->next) {
    if(it->string && !(it->type & cJSON_StringIsConst) && !utf8_ok(it->string)) {
      char *k = utf8_clean_copy(it->string);
      if(!k)
        return MW_ENOMEM;
      cJSON_free(it->string);
      it->string = k;
    }
    if(cJSON_IsString(it) && it->valuestring && !utf8_ok(it->valuestring)) {
      char *v = utf8_clean_copy(it->valuestring);
      if(!v)
        return MW_ENOMEM;
      cJSON_free(it->valuestring);
      it->valuestring = v;
    }
    if(it->child) {
      mw_status st = utf8_clean(it->child);
      if(st)
        return st;
    }
  }
  return MW_OK;
}

/* A label name as Alertmanager takes it ([a-zA-Z_][a-zA-Z0-9_]*): other
 * bytes become '_' (a rule's label "team-name" is sent as "team_name"). */
static void am_label_name(const char *in, char *out, size_t cap) {
  size_t i = 0;
  for(; in[i] && i + 1 < cap; i++) {
    char ch = in[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
             (i > 0 && ch >= '0' && ch <= '9');
    out[i] = ok ? ch : '_';
  }
  out[i] = 0;
  if(!i && cap > 1) {
    out[0] = '_';
    out[1] = 0;
  }
}

static void am_label(cJSON *labels, const char *name, const char *value) {
  char k[130];
  am_label_name(name, k, sizeof k);
  cJSON_DeleteItemFromObjectCaseSensitive(labels, k);
  cJSON_AddStringToObject(labels, k, value);
}

/* One postable alert of Alertmanager's API v2 (POST /api/v2/alerts): the
 * rule's labels plus alertname, model, version, alias, metric and
 * severity; summary, description, value (the value it fired with),
 * resolved_value (once resolved) and action (what the rule's action did)
 * as annotations. A firing alert has no endsAt: Alertmanager keeps it
 * active for its resolve_timeout, and the notifier re-sends it well within
 * that (ALERT__KEEPALIVE_MS). */
static cJSON *am_alert(const struct alert_notice *a, const char *dash) {
  cJSON *o = cJSON_CreateObject();
  cJSON *labels = cJSON_AddObjectToObject(o, "labels");
  const cJSON *it;
  cJSON_ArrayForEach(it, a->labels) {
    if(cJSON_IsString(it) && it->string)
      am_label(labels, it->string, it->valuestring);
  }
  char num[64];
  am_label(labels, "alertname", rule_of(a));
  am_label(labels, "model", a->model ? a->model : "");
  snprintf(num, sizeof num, "%lld", (long long)(a->version > 0 ? a->version : 0));
  if(a->version > 0)
    am_label(labels, "version", num);
  if(a->alias)
    am_label(labels, "alias", a->alias);
  am_label(labels, "metric", a->metric ? a->metric : "");
  const char *sev = severity_of(a);
  if(sev)
    am_label(labels, "severity", sev);
  cJSON *ann = cJSON_AddObjectToObject(o, "annotations");
  cJSON_ArrayForEach(it, a->annotations) {
    if(cJSON_IsString(it) && it->string)
      cJSON_AddStringToObject(ann, it->string, it->valuestring);
  }
  if(a->action) {
    cJSON_DeleteItemFromObjectCaseSensitive(ann, "action");
    cJSON_AddStringToObject(ann, "action", a->action);
  }
  struct sb s;
  sb_init(&s);
  sb_summary(&s, a);
  if(!cJSON_GetObjectItemCaseSensitive(ann, "summary"))
    cJSON_AddStringToObject(ann, "summary", sb_str(&s));
  sb_reset(&s);
  sb_model(&s, a);
  sb_add(&s, ": ");
  sb_add(&s, a->metric ? a->metric : "(no metric)");
  fmt_number(a->value, num, sizeof num);
  sb_fmt(&s, " = %s, threshold ", num);
  sb_threshold(&s, a);
  if(!cJSON_GetObjectItemCaseSensitive(ann, "description"))
    cJSON_AddStringToObject(ann, "description", sb_str(&s));
  cJSON_DeleteItemFromObjectCaseSensitive(ann, "value");
  cJSON_AddStringToObject(ann, "value", num);
  if(!is_firing(a) && a->has_resolved_value) {
    fmt_number(a->resolved_value, num, sizeof num);
    cJSON_DeleteItemFromObjectCaseSensitive(ann, "resolved_value");
    cJSON_AddStringToObject(ann, "resolved_value", num);
  }
  sb_free(&s);
  char t[40];
  cJSON_AddStringToObject(o, "startsAt",
                          mw_time_format(a->starts_at_ms, t, sizeof t));
  if(a->ends_at_ms > 0)
    cJSON_AddStringToObject(o, "endsAt", mw_time_format(a->ends_at_ms, t, sizeof t));
  cJSON_AddStringToObject(o, "generatorURL",
                          a->generator_url ? a->generator_url
                          : dash           ? dash
                                           : "");
  return o;
}

static mw_status build_alertmanager(const struct alert_group_notice *g,
                                    cJSON **out) {
  cJSON *arr = cJSON_CreateArray();
  /* A firing that has resolved since goes as its resolution only: in one
   * request Alertmanager would merge the two into the latter anyway. */
  for(size_t i = 0; arr && i < g->nalerts; i++)
    if(!g->alerts[i].resolved_since_ms)
      cJSON_AddItemToArray(arr,
                           am_alert(&g->alerts[i], dashboard_of(g, &g->alerts[i])));
  *out = arr;
  return arr ? MW_OK : MW_ENOMEM;
}

static mw_status build(const char *type, const char *receiver,
                       const struct alert_group_notice *g, cJSON **out) {
  if(!strcmp(type, "webhook"))
    return build_webhook(receiver, g, out);
  if(!strcmp(type, "slack"))
    return build_slack(g, out);
  if(!strcmp(type, "mattermost"))
    return build_mattermost(g, out);
  if(!strcmp(type, "discord"))
    return build_discord(g, out);
  if(!strcmp(type, "teams"))
    return build_teams(g, out);
  if(!strcmp(type, "alertmanager"))
    return build_alertmanager(g, out);
  if(!strcmp(type, "email"))
    return build_email(g, out);
  return MW_EINVAL;
}

mw_status alert_payload_build(const char *type, const char *receiver,
                              const struct alert_group_notice *g, cJSON **out) {
  *out = NULL;
  if(!g || !g->nalerts || !g->alerts)
    return MW_EINVAL;
  if(g->receiver)
    receiver = g->receiver;
  if(!receiver)
    receiver = "";
  if(!type)
    return MW_EINVAL;
  /* Firing alerts first, in every payload and in the line phones show. */
  struct alert_notice *ordered = malloc(g->nalerts * sizeof *ordered);
  if(!ordered)
    return MW_ENOMEM;
  alert__notices_order(g->alerts, g->nalerts, ordered);
  struct alert_group_notice og = *g;
  og.alerts = ordered;
  mw_status st = build(type, receiver, &og, out);
  if(!st && (st = utf8_clean(*out))) {
    cJSON_Delete(*out);
    *out = NULL;
  }
  free(ordered);
  return st;
}
