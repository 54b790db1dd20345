/* monitor/privacy.c - a model's own retention (monitor/monitor.h:
 * mon_model_retention_get, mon_model_retention_put; migration 0019). The
 * retention pass that uses it is in monitor/retention.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "monitor/context.h"
#include "monitor/store.h"

mw_status mon_model_retention_get(mw_conn *c, const char *model, int64_t *days) {
  const struct mon_store *store = mon__store(c);
  int64_t model_id = 0;
  *days = 0;
  mw_status st = store->model_find(c, model, &model_id);
  return st ? st : store->retention_get(c, model_id, days);
}

static cJSON *retention_json(const char *model, int64_t days, int dflt) {
  cJSON *o = cJSON_CreateObject();
  if(!o)
    return NULL;
  cJSON_AddStringToObject(o, "model", model);
  if(days > 0)
    cJSON_AddNumberToObject(o, "retention_days", (double)days);
  else
    cJSON_AddNullToObject(o, "retention_days");
  cJSON_AddNumberToObject(o, "default_retention_days", dflt);
  return o;
}

mw_status mon_model_retention_put(mon_ctx *m, mw_conn *c, const char *model,
                                  const cJSON *body, const char *actor, cJSON **out,
                                  mw_err *err) {
  *out = NULL;
  const cJSON *k, *d = NULL;
  bool have = false;
  cJSON_ArrayForEach(k, body) {
    if(strcmp(k->string, "days"))
      return mw_errf(err, MW_EVALIDATION, "unknown field '%.64s' (expected days)",
                     k->string);
    d = k;
    have = true;
  }
  int64_t days = 0;
  if(!cJSON_IsObject(body) || !have)
    return mw_errf(err, MW_EVALIDATION,
                   "the body needs days: 1-%d, or null for the server's "
                   "--retention-days",
                   MON_RETENTION_MAX_DAYS);
  if(!cJSON_IsNull(d) &&
     (!mw_json_int(d, &days) || days < 1 || days > MON_RETENTION_MAX_DAYS))
    return mw_errf(err, MW_EVALIDATION,
                   "days must be an integer from 1 to %d, or null for the "
                   "server's --retention-days",
                   MON_RETENTION_MAX_DAYS);
  const struct mon_store *store = mon__store(c);
  int64_t model_id = 0;
  mw_status st = mw_tx_begin(c);
  if(st)
    return st;
  st = store->model_find(c, model, &model_id);
  if(st == MW_ENOTFOUND)
    mw_errf(err, st, "no model named '%s'", model);
  if(!st)
    st = store->retention_put(c, model_id, days, mw_now_ms());
  int dflt = m ? m->opt.retention_days : 0;
  cJSON *o = st ? NULL : retention_json(model, days, dflt);
  if(!st && !o)
    st = MW_ENOMEM;
  if(!st)
    st = mw_audit(c, actor, "model.retention", model, o);
  if(!st)
    st = mw_tx_commit(c);
  if(st) {
    mw_tx_rollback(c);
    cJSON_Delete(o);
    return st;
  }
  *out = o;
  return MW_OK;
}
