/* web/api_tokens.c - POST/GET /api/v1/tokens, DELETE /api/v1/tokens/{name}. */
#include <string.h>

#include "web/web_internal.h"

static void h_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  const char *name = mw_json_str(body, "name");
  const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(body, "scopes");
  cJSON *errs = cJSON_CreateArray();
  if(!name || !mw_name_valid(name))
    cJSON_AddItemToArray(
        errs,
        cJSON_CreateString(
            "name: 1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.'"));
  unsigned bits = 0;
  if(!cJSON_IsArray(scopes) || cJSON_GetArraySize(scopes) == 0) {
    cJSON_AddItemToArray(
        errs,
        cJSON_CreateString(
            "scopes: a non-empty array of read, ingest, promote, admin, metrics"));
  } else {
    const cJSON *it;
    cJSON_ArrayForEach(it, scopes) {
      unsigned b = cJSON_IsString(it) ? mw_scope_parse(it->valuestring) : 0;
      if(!b) {
        cJSON_AddItemToArray(
            errs,
            cJSON_CreateString(
                "scopes: unknown scope (read, ingest, promote, admin, metrics)"));
        break;
      }
      bits |= b;
    }
  }
  if(cJSON_GetArraySize(errs) > 0) {
    cJSON *det = cJSON_CreateObject();
    cJSON_AddItemToObject(det, "errors", errs);
    cJSON_Delete(body);
    web_reply_error(r, 422, "validation_failed", "invalid token request", det);
    return;
  }
  cJSON_Delete(errs);
  char secret[128];
  mw_err err = {0};
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(body, "models");
  if(cJSON_IsNull(models))
    models = NULL;
  mw_status st = mw_token_create_limited(r->db, name, bits, models, r->actor, secret,
                                         sizeof secret, &err);
  if(st == MW_EINVAL && err.msg[0]) {
    cJSON_Delete(body);
    web_reply_error(r, 422, "validation_failed", err.msg, NULL);
    return;
  }
  if(st) {
    cJSON_Delete(body);
    web_reply_status(r, st,
                     st == MW_ECONFLICT ? "a token with this name exists" : NULL);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "token", secret);
  cJSON_AddStringToObject(o, "name", name);
  mw_scope_to_json(bits, cJSON_AddArrayToObject(o, "scopes"));
  cJSON_AddItemToObject(o, "models",
                        models ? cJSON_Duplicate(models, 1) : cJSON_CreateNull());
  memset(secret, 0, sizeof secret);
  cJSON_Delete(body);
  web_reply_json(r, 201, o);
}

static void h_list(struct web_req *r) {
  cJSON *arr = NULL;
  mw_status st = mw_token_list(r->db, &arr);
  if(st) {
    web_reply_status(r, st, NULL);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "tokens", arr);
  web_reply_json(r, 200, o);
}

static void h_delete(struct web_req *r) {
  const char *name = web_param(r, "name");
  if(!strcmp(name, r->token.name)) {
    web_reply_error(r, 409, "conflict",
                    "a token cannot delete itself; use another admin token", NULL);
    return;
  }
  mw_status st = mw_token_delete(r->db, name, r->actor);
  if(st) {
    web_reply_status(r, st, st == MW_ENOTFOUND ? "no such token" : NULL);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "deleted", name);
  web_reply_json(r, 200, o);
}

const struct web_route web_routes_tokens[] = {
    {"POST", "/api/v1/tokens", MW_SCOPE_ADMIN, h_create},
    {"GET", "/api/v1/tokens", MW_SCOPE_ADMIN, h_list},
    {"DELETE", "/api/v1/tokens/{name}", MW_SCOPE_ADMIN, h_delete},
};
const size_t web_routes_tokens_count =
    sizeof web_routes_tokens / sizeof web_routes_tokens[0];
