/* alerts/episodes.c - alert episodes as the API shows them: the list
 * (GET /api/v1/alerts, each marked silenced or not) and acknowledgement.
 * Episodes are created and moved by the evaluator (alerts/evaluator.c).
 *
 * Cost: a list is one statement plus one load of the active silences
 * (their matchers compiled once for the whole list, not once per alert). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"

struct list_ctx {
  cJSON *arr;
  const struct alert__silence_set *silences;
};

/* o[key] = v, or null when v is not a number (NAN: none). */
static void add_opt_number(cJSON *o, const char *key, double v) {
  if(isfinite(v))
    cJSON_AddNumberToObject(o, key, v);
  else
    cJSON_AddNullToObject(o, key);
}

static mw_status add_episode(void *ctx, const struct alert__episode_row *e) {
  struct list_ctx *x = ctx;
  cJSON *o = cJSON_CreateObject();
  if(!o || !cJSON_AddItemToArray(x->arr, o)) {
    cJSON_Delete(o);
    return MW_ENOMEM;
  }
  cJSON_AddNumberToObject(o, "id", (double)e->id);
  cJSON_AddStringToObject(o, "rule", e->rule);
  cJSON_AddStringToObject(o, "state", e->state);
  cJSON *labels = cJSON_Parse(e->labels);
  if(!labels)
    labels = cJSON_CreateObject();
  cJSON *ann = cJSON_Parse(e->annotations);
  cJSON_AddItemToObject(o, "labels", labels);
  cJSON_AddItemToObject(o, "annotations", ann ? ann : cJSON_CreateObject());
  cJSON_AddStringToObject(o, "model", e->model);
  cJSON_AddNumberToObject(o, "version", (double)e->version);
  cJSON_AddStringToObject(o, "metric", e->metric);
  cJSON_AddStringToObject(o, "op", e->op);
  cJSON_AddNumberToObject(o, "value", e->value);
  cJSON_AddNumberToObject(o, "threshold", e->threshold);
  add_opt_number(o, "fired_value", e->fired_value);
  add_opt_number(o, "resolved_value", e->resolved_value);
  if(e->resolved_version > 0)
    cJSON_AddNumberToObject(o, "resolved_version", (double)e->resolved_version);
  else
    cJSON_AddNullToObject(o, "resolved_version");
  mw_json_add_time(o, "started_at", e->started_at);
  mw_json_add_time(o, "fired_at", e->fired_at);
  mw_json_add_time(o, "resolved_at", e->resolved_at);
  mw_json_add_time(o, "acked_at", e->acked_at);
  if(e->acked_by)
    cJSON_AddStringToObject(o, "acked_by", e->acked_by);
  else
    cJSON_AddNullToObject(o, "acked_by");
  cJSON_AddStringToObject(o, "fingerprint", e->fingerprint);
  cJSON *act = e->action_result ? cJSON_Parse(e->action_result) : NULL;
  cJSON_AddItemToObject(o, "action", act ? act : cJSON_CreateNull());
  cJSON_AddBoolToObject(o, "silenced", alert__silences_match(x->silences, labels));
  return MW_OK;
}

mw_status alert_list(mw_conn *c, const char *state, int limit, cJSON **out,
                     mw_err *err) {
  *out = NULL;
  if(state && strcmp(state, "pending") && strcmp(state, "firing") &&
     strcmp(state, "resolved"))
    return mw_errf(err, MW_EINVAL, "state must be pending, firing or resolved");
  if(limit <= 0)
    limit = 100;
  else if(limit > 1000)
    limit = 1000;
  struct alert__silence_set silences;
  mw_status s = alert__silences_load(c, mw_now_ms(), &silences);
  cJSON *root = s ? NULL : cJSON_CreateObject();
  struct list_ctx x = {cJSON_AddArrayToObject(root, "alerts"), &silences};
  if(!s && !x.arr)
    s = MW_ENOMEM;
  if(!s)
    s = alert__store(c)->episode_list(c, state, limit, add_episode, &x);
  alert__silences_clear(&silences);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

mw_status alert_ack(mw_conn *c, int64_t id, const char *actor, cJSON **out,
                    mw_err *err) {
  assert(actor);
  *out = NULL;
  int64_t now = mw_now_ms();
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = alert__store(c)->episode_ack(c, id, now, actor);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no pending or firing alert %lld", (long long)id);
  char target[32];
  snprintf(target, sizeof target, "%lld", (long long)id);
  if(!s)
    s = mw_audit(c, actor, "alert.ack", target, NULL);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(!s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    mw_json_add_time(o, "acked_at", now);
    cJSON_AddStringToObject(o, "acked_by", actor);
    *out = o;
  }
  return s;
}
