/* web/api_rollouts.c - canary and shadow rollouts of a model
 * (rollouts/rollouts.h). Handlers parse HTTP and map statuses; the
 * controller that advances rollouts runs in its own thread (cli/main.c). */
#include <stdio.h>
#include <string.h>

#include "registry/registry.h"
#include "rollouts/rollouts.h"
#include "web/web_internal.h"

static void env_of(struct web_req *r, struct reg_env *reg, struct rollout_env *env) {
  web_reg_env(r, reg);
  env->reg = reg;
  env->mon = r->app->monitor;
  env->cluster = r->app->cluster;
  env->external_url = r->app->cfg.external_url;
}

/* Path parameter {id} as a positive rollout id; 0 after a 404 reply. */
static int id_param(struct web_req *r, int64_t *id) {
  if(mw_parse_i64(web_param(r, "id"), id) || *id <= 0) {
    web_reply_error(r, 404, "not_found", "rollout ids are positive integers", NULL);
    return 0;
  }
  return 1;
}

static void h_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  struct reg_env reg;
  struct rollout_env env;
  env_of(r, &reg, &env);
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s =
      rollout_create(r->db, &env, web_param(r, "name"), body, r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 201, out, &err);
}

static void h_list(struct web_req *r) {
  int64_t limit, before;
  char state[32];
  if(web_query_int(r, "limit", 100, &limit) ||
     web_query_int(r, "page_token", 0, &before))
    return;
  int has = web_query(r, "state", state, sizeof state);
  if(has < 0)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = rollout_list(r->db, web_param(r, "name"), has ? state : NULL,
                             (int)(limit > 1000 ? 1000 : limit), before, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_get(struct web_req *r) {
  int64_t id;
  if(!id_param(r, &id))
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = rollout_get(r->db, web_param(r, "name"), id, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

/* POST .../rollouts/{id}/{pause|resume|abort|promote} {reason?} */
static void control(struct web_req *r, const char *action) {
  int64_t id;
  if(!id_param(r, &id))
    return;
  cJSON *body = NULL;
  if(web_read_json_opt(r, &body))
    return;
  const cJSON *reason =
      body ? cJSON_GetObjectItemCaseSensitive(body, "reason") : NULL;
  if(body && !cJSON_IsObject(body)) {
    web_reply_error(r, 422, "validation_failed", "the body must be an object", NULL);
  } else if(reason && !cJSON_IsNull(reason) && !cJSON_IsString(reason)) {
    web_reply_error(r, 422, "validation_failed", "reason must be a string", NULL);
  } else {
    struct reg_env reg;
    struct rollout_env env;
    env_of(r, &reg, &env);
    mw_err err = {0};
    cJSON *out = NULL;
    mw_status s = rollout_control(
        r->db, &env, web_param(r, "name"), id, action,
        cJSON_IsString(reason) ? reason->valuestring : NULL, r->actor, &out, &err);
    web_reply_result(r, s, 200, out, &err);
  }
  cJSON_Delete(body);
}

static void h_pause(struct web_req *r) { control(r, "pause"); }
static void h_resume(struct web_req *r) { control(r, "resume"); }
static void h_abort(struct web_req *r) { control(r, "abort"); }
static void h_promote(struct web_req *r) { control(r, "promote"); }

#define R "/api/v1/models/{name}/rollouts"
const struct web_route web_routes_rollouts[] = {
    {"POST", R, MW_SCOPE_PROMOTE, h_create},
    {"GET", R, MW_SCOPE_READ, h_list},
    {"GET", R "/{id}", MW_SCOPE_READ, h_get},
    {"POST", R "/{id}/pause", MW_SCOPE_PROMOTE, h_pause},
    {"POST", R "/{id}/resume", MW_SCOPE_PROMOTE, h_resume},
    {"POST", R "/{id}/abort", MW_SCOPE_PROMOTE, h_abort},
    {"POST", R "/{id}/promote", MW_SCOPE_PROMOTE, h_promote},
};
#undef R
const size_t web_routes_rollouts_count =
    sizeof web_routes_rollouts / sizeof web_routes_rollouts[0];
