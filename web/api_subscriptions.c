/* web/api_subscriptions.c - event subscriptions (/api/v1/subscriptions,
 * admin): URLs that receive registry and alert events (core/events.h). */
#include "core/events.h"
#include "web/web_internal.h"

static void h_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = mw_subscription_create(
      r->db, body, r->app->cfg.allow_private_webhooks, r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 201, out, &err);
}

static void h_list(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = mw_subscription_list(r->db, NULL, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_get(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = mw_subscription_list(r->db, web_param(r, "name"), &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_delete(struct web_req *r) {
  mw_err err = {0};
  mw_status s = mw_subscription_delete(r->db, web_param(r, "name"), r->actor, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deleted", web_param(r, "name"));
  }
  web_reply_result(r, s, 200, out, &err);
}

const struct web_route web_routes_subscriptions[] = {
    {"POST", "/api/v1/subscriptions", MW_SCOPE_ADMIN, h_create},
    {"GET", "/api/v1/subscriptions", MW_SCOPE_ADMIN, h_list},
    {"GET", "/api/v1/subscriptions/{name}", MW_SCOPE_ADMIN, h_get},
    {"DELETE", "/api/v1/subscriptions/{name}", MW_SCOPE_ADMIN, h_delete},
};
const size_t web_routes_subscriptions_count =
    sizeof web_routes_subscriptions / sizeof web_routes_subscriptions[0];
