/* web/api_privacy.c - privacy of a model's logged data: its own retention
 * and erasure by id (monitor/monitor.h: mon_model_retention_put,
 * mon_erase). Both admin: they delete data for good. No SQL here. */
#include <stdlib.h>

#include "monitor/monitor.h"
#include "web/web_internal.h"

static void h_retention_put(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = mon_model_retention_put(r->app->monitor, r->db, web_param(r, "name"),
                                        body, r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 200, out, &err);
}

static void h_erasure(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = mon_erase(r->app->monitor, r->db, web_param(r, "name"), body,
                          r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 200, out, &err);
}

const struct web_route web_routes_privacy[] = {
    {"PUT", "/api/v1/models/{name}/retention", MW_SCOPE_ADMIN, h_retention_put},
    {"POST", "/api/v1/models/{name}/erasure", MW_SCOPE_ADMIN, h_erasure},
};
const size_t web_routes_privacy_count =
    sizeof web_routes_privacy / sizeof web_routes_privacy[0];
