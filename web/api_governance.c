/* web/api_governance.c - decisions on versions and protected aliases.
 * Handlers parse HTTP, call registry/governance.c and map its status to a
 * reply; no SQL here. */
#include <stdio.h>
#include <string.h>

#include "registry/registry.h"
#include "web/web_internal.h"

/* POST .../versions/{v}/approval {decision, comment?} */
static void h_approval_post(struct web_req *r) {
  int64_t v;
  if(!web_version_param(r, &v))
    return;
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  const cJSON *decision = cJSON_GetObjectItemCaseSensitive(body, "decision");
  const cJSON *comment = cJSON_GetObjectItemCaseSensitive(body, "comment");
  if(comment && !cJSON_IsNull(comment) && !cJSON_IsString(comment)) {
    web_reply_error(r, 422, "validation_failed", "comment must be a string", NULL);
  } else {
    struct reg_env env;
    web_reg_env(r, &env);
    mw_err err = {0};
    cJSON *out = NULL;
    mw_status s = reg_version_decide(
        r->db, &env, web_param(r, "name"), v,
        cJSON_IsString(decision) ? decision->valuestring : NULL,
        cJSON_IsString(comment) ? comment->valuestring : NULL, r->actor, &out, &err);
    web_reply_result(r, s, 200, out, &err);
  }
  cJSON_Delete(body);
}

static void h_approvals_get(struct web_req *r) {
  int64_t v;
  if(!web_version_param(r, &v))
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_version_approvals(r->db, web_param(r, "name"), v, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_protected_list(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_protect_list(r->db, web_param(r, "name"), NULL, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_protected_get(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_protect_list(r->db, web_param(r, "name"), web_param(r, "alias"),
                                 &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

/* PUT .../protected-aliases/{alias} {require_approval?: bool (true)} */
static void h_protected_put(struct web_req *r) {
  cJSON *body = NULL;
  if(web_read_json_opt(r, &body))
    return;
  const cJSON *req =
      body ? cJSON_GetObjectItemCaseSensitive(body, "require_approval") : NULL;
  if(body && !cJSON_IsObject(body)) {
    web_reply_error(r, 422, "validation_failed", "the body must be an object", NULL);
  } else if(req && !cJSON_IsBool(req)) {
    web_reply_error(r, 422, "validation_failed",
                    "require_approval must be a boolean", NULL);
  } else {
    mw_err err = {0};
    cJSON *out = NULL;
    mw_status s = reg_protect_set(r->db, web_param(r, "name"), web_param(r, "alias"),
                                  !req || cJSON_IsTrue(req), r->actor, &out, &err);
    web_reply_result(r, s, 200, out, &err);
  }
  cJSON_Delete(body);
}

static void h_protected_delete(struct web_req *r) {
  mw_err err = {0};
  mw_status s = reg_protect_delete(r->db, web_param(r, "name"),
                                   web_param(r, "alias"), r->actor, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deleted", web_param(r, "alias"));
  }
  web_reply_result(r, s, 200, out, &err);
}

/* Query parameter name as an RFC 3339 time into *ms (-1 when absent); 0
 * on success, otherwise a 400 reply has been sent. */
static int query_time(struct web_req *r, const char *name, int64_t *ms) {
  char buf[64];
  *ms = -1;
  int has = web_query(r, name, buf, sizeof buf);
  if(has <= 0)
    return has;
  if(web_query_time(buf, ms)) {
    char msg[128];
    snprintf(msg, sizeof msg, "query parameter %s must be an RFC 3339 time", name);
    web_reply_error(r, 400, "invalid", msg, NULL);
    return -1;
  }
  return 0;
}

/* GET /api/v1/audit?limit&before&actor&action&target&from&to (admin) */
static void h_audit_list(struct web_req *r) {
  int64_t limit;
  mw_audit_query q = {0};
  if(web_query_int(r, "limit", 100, &limit) ||
     web_query_int(r, "before", 0, &q.before) || query_time(r, "from", &q.from_ms) ||
     query_time(r, "to", &q.to_ms))
    return;
  char actor[200], action[128], target[600];
  int has_actor = web_query(r, "actor", actor, sizeof actor);
  int has_action =
      has_actor < 0 ? -1 : web_query(r, "action", action, sizeof action);
  int has_target =
      has_action < 0 ? -1 : web_query(r, "target", target, sizeof target);
  if(has_target < 0)
    return;
  q.actor = has_actor ? actor : NULL;
  q.action = has_action ? action : NULL;
  q.target = has_target ? target : NULL;
  limit = limit < 1 ? 1 : limit > 1000 ? 1000 : limit; /* as every list */
  cJSON *out = NULL;
  mw_status s = mw_audit_list(r->db, &q, (int)limit, &out);
  web_reply_result(r, s, 200, out, NULL);
}

#define M "/api/v1/models/{name}"
const struct web_route web_routes_governance[] = {
    {"POST", M "/versions/{v}/approval", MW_SCOPE_PROMOTE, h_approval_post},
    {"GET", M "/versions/{v}/approvals", MW_SCOPE_READ, h_approvals_get},
    {"GET", M "/protected-aliases", MW_SCOPE_READ, h_protected_list},
    {"GET", M "/protected-aliases/{alias}", MW_SCOPE_READ, h_protected_get},
    {"PUT", M "/protected-aliases/{alias}", MW_SCOPE_ADMIN, h_protected_put},
    {"DELETE", M "/protected-aliases/{alias}", MW_SCOPE_ADMIN, h_protected_delete},
    {"GET", "/api/v1/audit", MW_SCOPE_ADMIN, h_audit_list},
};
#undef M
const size_t web_routes_governance_count =
    sizeof web_routes_governance / sizeof web_routes_governance[0];
