/* web/api_nodes.c - serving nodes and the delivery log (the outbox). */
#include <string.h>

#include "registry/registry.h"
#include "web/web_internal.h"

/* A node's URL may carry credentials (userinfo, a key in the path or
 * query): below admin it is shown as scheme and host only. */
static int redacts(const struct web_req *r) {
  return !mw_scope_allows(r->token.scopes, MW_SCOPE_ADMIN);
}

/* Redacts the url of one node, or of each node of {nodes: [...]}, or of
 * each delivery of {deliveries: [...]}, for callers below admin. */
static void redact(const struct web_req *r, cJSON *out, const char *list) {
  if(!out || !redacts(r))
    return;
  if(!list) {
    mw_json_redact_url(out, "url");
    return;
  }
  cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(out, list))
      mw_json_redact_url(it, "url");
}

static void h_nodes_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_node_create(r->db, body, r->app->cfg.allow_private_webhooks,
                                r->actor, &out, &err);
  cJSON_Delete(body);
  redact(r, out, NULL);
  web_reply_result(r, s, 201, out, &err);
}

static void h_nodes_list(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_node_list(r->db, &out, &err);
  redact(r, out, "nodes");
  web_reply_result(r, s, 200, out, &err);
}

static void h_node_get(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_node_get(r->db, web_param(r, "name"), &out, &err);
  redact(r, out, NULL);
  web_reply_result(r, s, 200, out, &err);
}

static void h_node_delete(struct web_req *r) {
  mw_err err = {0};
  mw_status s = reg_node_delete(r->db, web_param(r, "name"), r->actor, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deleted", web_param(r, "name"));
  }
  web_reply_result(r, s, 200, out, &err);
}

static void h_node_status(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_node_report(r->db, web_param(r, "name"), body, &out, &err);
  cJSON_Delete(body);
  redact(r, out, NULL);
  web_reply_result(r, s, 200, out, &err);
}

static void h_deliveries_list(struct web_req *r) {
  char state[32];
  int has_state = web_query(r, "state", state, sizeof state);
  if(has_state < 0)
    return;
  if(has_state && strcmp(state, "pending") && strcmp(state, "delivered") &&
     strcmp(state, "failed") && strcmp(state, "dead")) {
    web_reply_error(r, 400, "invalid",
                    "state must be pending, delivered, failed or dead", NULL);
    return;
  }
  int64_t limit, before;
  if(web_query_int(r, "limit", 100, &limit) ||
     web_query_int(r, "page_token", 0, &before))
    return;
  cJSON *out = NULL;
  mw_status s =
      mw_outbox_list(r->db, has_state ? state : NULL, (int)limit, before, &out);
  if(s) {
    web_reply_status(r, s, NULL);
    return;
  }
  redact(r, out, "deliveries");
  web_reply_json(r, 200, out);
}

const struct web_route web_routes_nodes[] = {
    {"POST", "/api/v1/nodes", MW_SCOPE_PROMOTE, h_nodes_create},
    {"GET", "/api/v1/nodes", MW_SCOPE_READ, h_nodes_list},
    {"GET", "/api/v1/nodes/{name}", MW_SCOPE_READ, h_node_get},
    {"DELETE", "/api/v1/nodes/{name}", MW_SCOPE_ADMIN, h_node_delete},
    {"POST", "/api/v1/nodes/{name}/status", MW_SCOPE_INGEST, h_node_status},
    {"GET", "/api/v1/deliveries", MW_SCOPE_READ, h_deliveries_list},
};
const size_t web_routes_nodes_count =
    sizeof web_routes_nodes / sizeof web_routes_nodes[0];
