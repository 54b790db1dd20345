/* web/api_channels.c - notification channels (/api/v1/channels) and
 * re-queueing a delivery (POST /api/v1/deliveries/{id}/retry). */
#include <string.h>

#include "alerts/alerts.h"
#include "web/web_internal.h"

static void h_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_channel_create(r->db, body, r->app->cfg.allow_private_webhooks,
                                     r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 201, out, &err);
}

static void h_list(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_channel_list(r->db, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_get(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_channel_get(r->db, web_param(r, "name"), &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

/* A channel that alert rules still name is not deleted (409, naming the
 * rules) unless ?force=true, which takes it out of those rules too: either
 * way no rule is left pointing at a channel that does not exist. */
static void h_delete(struct web_req *r) {
  char fv[16];
  int force = 0;
  int has = web_query(r, "force", fv, sizeof fv);
  if(has < 0)
    return;
  if(has) {
    if(!strcmp(fv, "true") || !strcmp(fv, "1")) {
      force = 1;
    } else if(strcmp(fv, "false") && strcmp(fv, "0")) {
      web_reply_error(r, 400, "invalid",
                      "query parameter force must be true or false", NULL);
      return;
    }
  }
  mw_err err = {0};
  cJSON *detached = NULL;
  mw_status s = alert_channel_delete(r->db, web_param(r, "name"), force, r->actor,
                                     &detached, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deleted", web_param(r, "name"));
    cJSON_AddItemToObject(out, "detached_from_rules",
                          detached ? detached : cJSON_CreateArray());
  }
  web_reply_result(r, s, 200, out, &err);
}

/* Queues a sample notification: checks URL, secret and formatting end to
 * end without waiting for a rule to fire. */
static void h_test(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_channel_test(r->db, web_param(r, "name"),
                                   r->app->cfg.external_url, r->actor, &out, &err);
  web_reply_result(r, s, 202, out, &err);
}

static void h_retry(struct web_req *r) {
  int64_t id = 0;
  if(mw_parse_i64(web_param(r, "id"), &id) || id <= 0) {
    web_reply_error(r, 404, "not_found", "no such delivery", NULL);
    return;
  }
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_delivery_retry(r->db, id, r->actor, &out, &err);
  /* The delivery as GET /api/v1/deliveries shows it to this token: below
   * admin, a node's URL is scheme and host only (web/api_nodes.c). */
  if(!s && !mw_scope_allows(r->token.scopes, MW_SCOPE_ADMIN))
    mw_json_redact_url(out, "url");
  web_reply_result(r, s, 200, out, &err);
}

/* Channel URLs are credentials (a Slack webhook URL is its own secret), so
 * even reading them needs admin. Retrying a delivery is an operator's
 * recovery step, as a promotion is: promote (admin implies it). */
const struct web_route web_routes_channels[] = {
    {"POST", "/api/v1/channels", MW_SCOPE_ADMIN, h_create},
    {"GET", "/api/v1/channels", MW_SCOPE_ADMIN, h_list},
    {"GET", "/api/v1/channels/{name}", MW_SCOPE_ADMIN, h_get},
    {"DELETE", "/api/v1/channels/{name}", MW_SCOPE_ADMIN, h_delete},
    {"POST", "/api/v1/channels/{name}/test", MW_SCOPE_ADMIN, h_test},
    {"POST", "/api/v1/deliveries/{id}/retry", MW_SCOPE_PROMOTE, h_retry},
};
const size_t web_routes_channels_count =
    sizeof web_routes_channels / sizeof web_routes_channels[0];
