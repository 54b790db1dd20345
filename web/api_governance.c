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

/* GET /api/v1/audit?limit&before&action&target (admin) */
static void h_audit_list(struct web_req *r) {
  int64_t limit, before;
  if(web_query_int(r, "limit", 100, &limit) ||
     web_query_int(r, "before", 0, &before))
    return;
  char action[128], target[600];
  int has_action = web_query(r, "action", action, sizeof action);
  int has_target =
      has_action < 0 ? -1 : web_query(r, "target", target, sizeof target);
  if(has_target < 0)
    return;
  limit = limit < 1 ? 1 : limit > 1000 ? 1000 : limit; /* as every list */
  cJSON *out = NULL;
  mw_status s = mw_audit_list(r->db, before, has_action ? action : NULL,
                              has_target ? target : NULL, (int)limit, &out);
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
