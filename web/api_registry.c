/* web/api_registry.c - models, versions, artifacts and aliases. Handlers
 * parse HTTP, call registry/ and map its status to a reply; no SQL here. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "registry/registry.h"
#include "web/web_internal.h"

/* Optional string field: absent/null -> NULL; a non-string -> 422 reply. */
static int opt_string(struct web_req *r, const cJSON *body, const char *key,
                      const char **out) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(body, key);
  *out = NULL;
  if(!it || cJSON_IsNull(it))
    return 1;
  if(!cJSON_IsString(it)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a string", key);
    web_reply_error(r, 422, "validation_failed", msg, NULL);
    return 0;
  }
  *out = it->valuestring;
  return 1;
}

static void h_models_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  const char *desc;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
  if(cJSON_IsString(name) && !mw_token_sees(&r->token, name->valuestring)) {
    /* A token limited to models (web/model_access.c) creates only those. */
    web_reply_error(r, 403, "forbidden",
                    "this token is limited to models: the name is not among them",
                    NULL);
  } else if(opt_string(r, body, "description", &desc)) {
    mw_err err = {0};
    cJSON *out = NULL;
    mw_status s = reg_model_create(
        r->db, cJSON_IsString(name) ? name->valuestring : "", desc,
        cJSON_GetObjectItemCaseSensitive(body, "tags"), r->actor, &out, &err);
    web_reply_result(r, s, 201, out, &err);
  }
  cJSON_Delete(body);
}

static int sees(void *token, const char *model) {
  return mw_token_sees(token, model);
}

static void h_models_list(struct web_req *r) {
  int64_t limit;
  if(web_query_int(r, "limit", 100, &limit))
    return;
  char q[256], tok[600];
  int has_q = web_query(r, "q", q, sizeof q);
  int has_tok = has_q < 0 ? -1 : web_query(r, "page_token", tok, sizeof tok);
  if(has_tok < 0)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  /* A token limited to models lists only those (web/model_access.c). */
  mw_status s =
      reg_model_list(r->db, has_q ? q : NULL, (int)limit, has_tok ? tok : NULL,
                     r->token.models[0] ? sees : NULL, &r->token, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_model_get(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_model_get(r->db, web_param(r, "name"), &out, &err);
  int64_t days = 0;
  /* The model's own retention (PUT .../retention); null: the server's. */
  if(!s)
    s = mon_model_retention_get(r->db, web_param(r, "name"), &days);
  if(!s && days > 0)
    cJSON_AddNumberToObject(out, "retention_days", (double)days);
  else if(!s)
    cJSON_AddNullToObject(out, "retention_days");
  web_reply_result(r, s, 200, out, &err);
}

static void h_model_patch(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  const char *desc;
  if(opt_string(r, body, "description", &desc)) {
    mw_err err = {0};
    cJSON *out = NULL;
    mw_status s = reg_model_update(r->db, web_param(r, "name"), desc,
                                   cJSON_GetObjectItemCaseSensitive(body, "tags"),
                                   r->actor, &out, &err);
    web_reply_result(r, s, 200, out, &err);
  }
  cJSON_Delete(body);
}

static void h_model_delete(struct web_req *r) {
  mw_err err = {0};
  mw_status s = reg_model_delete(r->db, web_param(r, "name"), r->actor, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deleted", web_param(r, "name"));
  }
  web_reply_result(r, s, 200, out, &err);
}

static void h_versions_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s =
      reg_version_create(r->db, web_param(r, "name"), body, r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 201, out, &err);
}

static void h_versions_list(struct web_req *r) {
  int64_t limit;
  if(web_query_int(r, "limit", 100, &limit))
    return;
  char tok[600];
  int has_tok = web_query(r, "page_token", tok, sizeof tok);
  if(has_tok < 0)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_version_list(r->db, web_param(r, "name"), (int)limit,
                                 has_tok ? tok : NULL, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_version_get(struct web_req *r) {
  int64_t v;
  if(!web_version_param(r, &v))
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_version_get(r->db, web_param(r, "name"), v, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

/* Header X-Content-SHA256 as 64 lowercase hex digits into want, or a 400
 * reply. */
static int want_sha256(struct web_req *r, char want[65]) {
  const char *hdr = web_header(r, "X-Content-SHA256");
  size_t hl = hdr ? strlen(hdr) : 0;
  int ok = hl == 64;
  for(size_t i = 0; ok && i < 64; i++) {
    if(!isxdigit((unsigned char)hdr[i]))
      ok = 0;
    else
      want[i] = (char)tolower((unsigned char)hdr[i]);
  }
  if(!ok) {
    web_reply_error(r, 400, "invalid",
                    "header X-Content-SHA256 must carry the body's sha256 as 64 "
                    "hex digits",
                    NULL);
    return 0;
  }
  want[64] = '\0';
  return 1;
}

/* Streams the request body into u; MW_OK when all of it arrived. */
static mw_status upload_body(struct web_req *r, reg_upload *u, int64_t limit,
                             mw_err *err) {
  static const size_t chunk = 256 * 1024;
  char *buf = malloc(chunk);
  int64_t got = 0;
  mw_status s = buf ? MW_OK : MW_ENOMEM;
  while(!s) {
    int n = web_read_some(r, buf, chunk);
    if(n < 0) {
      s = mw_errf(err, MW_EINVAL, "could not read the request body");
      break;
    }
    if(n == 0)
      break;
    got += n;
    s = reg_upload_write(u, buf, (size_t)n, limit, err);
  }
  free(buf);
  if(!s && r->ri->content_length >= 0 && got != r->ri->content_length)
    s = mw_errf(err, MW_EINVAL, "request body shorter than Content-Length");
  return s;
}

static void h_artifact_put(struct web_req *r) {
  int64_t v;
  if(!web_version_param(r, &v))
    return;
  const char *model = web_param(r, "name");
  mw_err err = {0};
  reg_version_info vi;
  mw_status s = reg_version_lookup(r->db, model, v, &vi, &err);
  int ready = vi.ready;
  reg_version_info_free(&vi);
  if(s) {
    web_reply_err(r, s, &err);
    return;
  }
  if(ready) {
    web_reply_error(r, 409, "conflict",
                    "this version already has its artifact; artifacts are "
                    "immutable, create a new version",
                    NULL);
    return;
  }
  char want[65];
  if(!want_sha256(r, want))
    return;
  int64_t limit = r->app->cfg.max_artifact;
  if(r->ri->content_length > limit) {
    char msg[160];
    snprintf(msg, sizeof msg, "artifact of %lld bytes exceeds the limit of %lld",
             r->ri->content_length, (long long)limit);
    web_reply_error(r, 413, "too_large", msg, NULL);
    return;
  }
  struct reg_env env;
  web_reg_env(r, &env);
  reg_upload *u = NULL;
  s = reg_upload_begin(r->db, &env, &u, &err);
  if(!s && (s = upload_body(r, u, limit, &err)))
    reg_upload_abort(u);
  if(s) {
    web_reply_err(r, s, &err);
    return;
  }
  cJSON *out = NULL;
  s = reg_upload_commit(r->db, &env, u, model, v, want, r->actor, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static mw_status artifact_read(void *ctx, const void **data, size_t *n) {
  return reg_artifact_read(ctx, data, n);
}

static void h_artifact_get(struct web_req *r) {
  int64_t v;
  if(!web_version_param(r, &v))
    return;
  mw_err err = {0};
  reg_version_info vi;
  mw_status s = reg_version_lookup(r->db, web_param(r, "name"), v, &vi, &err);
  if(s) {
    reg_version_info_free(&vi);
    web_reply_err(r, s, &err);
    return;
  }
  if(!vi.ready) {
    reg_version_info_free(&vi);
    web_reply_error(r, 404, "not_found", "this version has no artifact yet", NULL);
    return;
  }
  char etag[80], extra[300];
  snprintf(etag, sizeof etag, "\"%s\"", vi.sha256);
  const char *inm = web_header(r, "If-None-Match");
  if(inm && strstr(inm, vi.sha256)) {
    snprintf(extra, sizeof extra, "ETag: %s\r\n", etag);
    reg_version_info_free(&vi);
    web_reply_raw(r, 304, "application/octet-stream", "", 0, extra);
    return;
  }
  snprintf(extra, sizeof extra,
           "ETag: %s\r\nX-Content-SHA256: %s\r\n"
           "Content-Disposition: attachment; filename=\"%s-v%lld.bin\"\r\n",
           etag, vi.sha256, web_param(r, "name"), (long long)v);
  struct reg_env env;
  web_reg_env(r, &env);
  /* Read from whichever store holds it, verified against its sha256 on
   * the way (see web_reply_stream for what a client sees when it does not
   * match). */
  reg_artifact_reader *rd = NULL;
  s = reg_artifact_open(r->db, &env, vi.sha256, vi.size, &rd, &err);
  if(s)
    web_reply_err(r, s, &err);
  else
    web_reply_stream(r, vi.size, "application/octet-stream", extra, artifact_read,
                     rd);
  reg_artifact_close(rd);
  reg_version_info_free(&vi);
}

static void h_alias_put(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(body, "version");
  const char *reason;
  int64_t v = 0;
  if(!mw_json_int(ver, &v) || v < 1) {
    web_reply_error(r, 422, "validation_failed",
                    "version must be a positive integer", NULL);
  } else if(opt_string(r, body, "reason", &reason)) {
    struct reg_env env;
    web_reg_env(r, &env);
    mw_err err = {0};
    cJSON *out = NULL;
    mw_status s =
        reg_alias_set(r->db, &env, web_param(r, "name"), web_param(r, "alias"), v,
                      cJSON_GetObjectItemCaseSensitive(body, "expected_version"),
                      reason, r->actor, &out, &err);
    web_reply_result(r, s, 200, out, &err);
  }
  cJSON_Delete(body);
}

static void h_alias_get(struct web_req *r) {
  int64_t v = 0;
  mw_err err = {0};
  mw_status s =
      reg_alias_lookup(r->db, web_param(r, "name"), web_param(r, "alias"), &v, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "alias", web_param(r, "alias"));
    cJSON_AddNumberToObject(out, "version", (double)v);
  }
  web_reply_result(r, s, 200, out, &err);
}

static void h_alias_delete(struct web_req *r) {
  char reason[1024];
  int has = web_query(r, "reason", reason, sizeof reason);
  if(has < 0)
    return;
  mw_err err = {0};
  mw_status s = reg_alias_delete(r->db, web_param(r, "name"), web_param(r, "alias"),
                                 has ? reason : NULL, r->actor, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deleted", web_param(r, "alias"));
  }
  web_reply_result(r, s, 200, out, &err);
}

static void h_alias_history(struct web_req *r) {
  int64_t limit;
  if(web_query_int(r, "limit", 100, &limit))
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = reg_alias_history(r->db, web_param(r, "name"), web_param(r, "alias"),
                                  (int)limit, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_alias_rollback(struct web_req *r) {
  /* An empty body is fine: roll back to the previous version. */
  cJSON *body = NULL;
  if(web_read_json_opt(r, &body))
    return;
  const cJSON *to =
      body ? cJSON_GetObjectItemCaseSensitive(body, "to_version") : NULL;
  const char *reason = NULL;
  int64_t to_version = 0;
  if(to && !cJSON_IsNull(to) && (!mw_json_int(to, &to_version) || to_version < 1)) {
    web_reply_error(r, 422, "validation_failed",
                    "to_version must be a positive integer", NULL);
  } else if(!body || opt_string(r, body, "reason", &reason)) {
    struct reg_env env;
    web_reg_env(r, &env);
    mw_err err = {0};
    cJSON *out = NULL;
    mw_status s =
        reg_alias_rollback(r->db, &env, web_param(r, "name"), web_param(r, "alias"),
                           to_version, reason, r->actor, &out, &err);
    web_reply_result(r, s, 200, out, &err);
  }
  cJSON_Delete(body);
}

#define M "/api/v1/models/{name}"
const struct web_route web_routes_registry[] = {
    {"POST", "/api/v1/models", MW_SCOPE_PROMOTE, h_models_create},
    {"GET", "/api/v1/models", MW_SCOPE_READ, h_models_list},
    {"GET", M, MW_SCOPE_READ, h_model_get},
    {"PATCH", M, MW_SCOPE_PROMOTE, h_model_patch},
    {"DELETE", M, MW_SCOPE_ADMIN, h_model_delete},
    {"POST", M "/versions", MW_SCOPE_PROMOTE, h_versions_create},
    {"GET", M "/versions", MW_SCOPE_READ, h_versions_list},
    {"GET", M "/versions/{v}", MW_SCOPE_READ, h_version_get},
    {"PUT", M "/versions/{v}/artifact", MW_SCOPE_PROMOTE, h_artifact_put},
    {"GET", M "/versions/{v}/artifact", MW_SCOPE_READ, h_artifact_get},
    {"GET", M "/aliases/{alias}", MW_SCOPE_READ, h_alias_get},
    {"PUT", M "/aliases/{alias}", MW_SCOPE_PROMOTE, h_alias_put},
    {"DELETE", M "/aliases/{alias}", MW_SCOPE_PROMOTE, h_alias_delete},
    {"GET", M "/aliases/{alias}/history", MW_SCOPE_READ, h_alias_history},
    {"POST", M "/aliases/{alias}/rollback", MW_SCOPE_PROMOTE, h_alias_rollback},
};
#undef M
const size_t web_routes_registry_count =
    sizeof web_routes_registry / sizeof web_routes_registry[0];
