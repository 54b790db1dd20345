/* alerts/silences.c - silences: label matchers (alerts/matchers.c) with a
 * start and an end. Create, list and expire them (the API), and load the
 * ones active at a time as a set that many alerts are matched against
 * (the alert list, a notification flush).
 *
 * Cost: loading the active set is one statement plus one compilation per
 * distinct regular expression (shared through the matchers' cache, so
 * usually none); matching is linear in the set. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"

mw_status alert_silence_create(mw_conn *c, const cJSON *body, const char *actor,
                               cJSON **out, mw_err *err) {
  *out = NULL;
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(body, "matchers");
  const char *ends = mw_json_str(body, "ends_at");
  const char *starts = mw_json_str(body, "starts_at");
  const char *comment = mw_json_str(body, "comment");
  /* Checking compiles the regular expressions, into the cache the
   * matching will use. */
  struct alert__matchers *compiled = NULL;
  mw_status s = alert__matchers_compile(ms, &compiled, err);
  alert__matchers_free(compiled);
  if(s)
    return s;
  int64_t now = mw_now_ms(), start = now, end = 0, id = 0;
  if(starts && mw_time_parse(starts, &start))
    return mw_errf(err, MW_EVALIDATION, "starts_at must be an RFC 3339 time");
  if(!ends || mw_time_parse(ends, &end))
    return mw_errf(err, MW_EVALIDATION, "ends_at must be an RFC 3339 time");
  if(end <= start || end <= now)
    return mw_errf(err, MW_EVALIDATION,
                   "ends_at must be in the future and after starts_at");
  if(comment && strlen(comment) > 4096)
    return mw_errf(err, MW_EVALIDATION, "comment is longer than 4096 bytes");
  char *mtxt = cJSON_PrintUnformatted(ms);
  s = mtxt ? mw_tx_begin(c) : MW_ENOMEM;
  if(!s)
    s = alert__store(c)->silence_insert(c, mtxt, start, end, comment ? comment : "",
                                        actor, now, &id);
  char target[32];
  snprintf(target, sizeof target, "%lld", (long long)id);
  if(!s)
    s = mw_audit(c, actor, "silence.create", target, ms);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  cJSON_free(mtxt);
  if(s)
    return s;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)id);
  cJSON_AddItemToObject(o, "matchers", cJSON_Duplicate(ms, 1));
  mw_json_add_time(o, "starts_at", start);
  mw_json_add_time(o, "ends_at", end);
  cJSON_AddStringToObject(o, "comment", comment ? comment : "");
  cJSON_AddStringToObject(o, "created_by", actor);
  *out = o;
  return MW_OK;
}

struct list_ctx {
  cJSON *arr;
  int64_t now;
};

static mw_status add_silence(void *ctx, const struct alert__silence_row *r) {
  struct list_ctx *x = ctx;
  cJSON *o = cJSON_CreateObject();
  if(!o || !cJSON_AddItemToArray(x->arr, o)) {
    cJSON_Delete(o);
    return MW_ENOMEM;
  }
  cJSON_AddNumberToObject(o, "id", (double)r->id);
  cJSON *m = cJSON_Parse(r->matchers);
  cJSON_AddItemToObject(o, "matchers", m ? m : cJSON_CreateArray());
  mw_json_add_time(o, "starts_at", r->starts_at);
  mw_json_add_time(o, "ends_at", r->ends_at);
  cJSON_AddStringToObject(o, "comment", r->comment);
  cJSON_AddStringToObject(o, "created_by", r->created_by);
  cJSON_AddStringToObject(o, "state",
                          r->ends_at <= x->now    ? "expired"
                          : r->starts_at > x->now ? "pending"
                                                  : "active");
  return MW_OK;
}

mw_status alert_silence_list(mw_conn *c, cJSON **out, mw_err *err) {
  (void)err;
  *out = NULL;
  cJSON *root = cJSON_CreateObject();
  struct list_ctx x = {cJSON_AddArrayToObject(root, "silences"), mw_now_ms()};
  mw_status s = x.arr
                    ? alert__store(c)->silence_list(c, x.now, 1000, add_silence, &x)
                    : MW_ENOMEM;
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

mw_status alert_silence_expire(mw_conn *c, int64_t id, const char *actor,
                               mw_err *err) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = alert__store(c)->silence_expire(c, id, mw_now_ms());
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no active silence %lld", (long long)id);
  char target[32];
  snprintf(target, sizeof target, "%lld", (long long)id);
  if(!s)
    s = mw_audit(c, actor, "silence.expire", target, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

/* ------------------------------------------------------ active sets */

void alert__silences_clear(struct alert__silence_set *set) {
  for(size_t i = 0; i < set->n; i++)
    alert__matchers_free(set->s[i]);
  free(set->s);
  set->s = NULL;
  set->n = 0;
}

struct load_ctx {
  struct alert__silence_set *set;
  size_t cap;
};

static mw_status add_active(void *ctx, int64_t id, const char *matchers) {
  struct load_ctx *x = ctx;
  cJSON *m = cJSON_Parse(matchers);
  struct alert__matchers *ms = NULL;
  mw_err err = {0};
  mw_status cs = alert__matchers_compile(m, &ms, &err);
  cJSON_Delete(m);
  if(cs == MW_ENOMEM)
    return cs;
  if(cs) {
    /* Stored before matchers were checked as they are now: it cannot
     * match anything. */
    mw_log(MW_LOG_WARN, "alerts", "silence %lld is ignored: %s", (long long)id,
           err.msg);
    mw_err_clear(&err);
    return MW_OK;
  }
  struct alert__silence_set *set = x->set;
  if(set->n == x->cap) {
    size_t ncap = x->cap ? x->cap * 2 : 8;
    struct alert__matchers **grown = realloc(set->s, ncap * sizeof *grown);
    if(!grown) {
      alert__matchers_free(ms);
      return MW_ENOMEM;
    }
    set->s = grown;
    x->cap = ncap;
  }
  set->s[set->n++] = ms;
  return MW_OK;
}

mw_status alert__silences_load(mw_conn *c, int64_t now,
                               struct alert__silence_set *out) {
  out->s = NULL;
  out->n = 0;
  struct load_ctx x = {out, 0};
  mw_status s = alert__store(c)->silences_active(c, now, add_active, &x);
  if(s)
    alert__silences_clear(out);
  return s;
}

int alert__silences_match(const struct alert__silence_set *set,
                          const cJSON *labels) {
  assert(set);
  for(size_t i = 0; i < set->n; i++)
    if(alert__matchers_eval(set->s[i], labels))
      return 1;
  return 0;
}

int alert_silenced(mw_conn *c, const cJSON *labels, int64_t now) {
  struct alert__silence_set set;
  int hit = 0;
  if(!alert__silences_load(c, now, &set))
    hit = alert__silences_match(&set, labels);
  alert__silences_clear(&set);
  return hit;
}
