/* registry/versions.c - model versions: numbered per model from 1, with
 * metadata and the feature schema the monitor validates predictions by. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "registry/internal.h"

mw_status reg_schema_validate(const cJSON *schema, mw_err *err) {
  if(!cJSON_IsObject(schema))
    return mw_errf(err, MW_EVALIDATION, "schema must be an object");
  const cJSON *feats = cJSON_GetObjectItemCaseSensitive(schema, "features");
  if(!cJSON_IsArray(feats))
    return mw_errf(err, MW_EVALIDATION, "schema.features must be an array");
  int n = cJSON_GetArraySize(feats);
  if(n > 1000)
    return mw_errf(err, MW_EVALIDATION, "schema.features has more than 1000 columns");
  /* Walked by pointer: cJSON_GetArrayItem walks the list from its head
   * each time, which made this check cubic (0.26 s for 1000 columns). */
  int i = 0;
  for(const cJSON *f = feats->child; f; f = f->next, i++) {
    const char *name = mw_json_str(f, "name");
    const char *type = mw_json_str(f, "type");
    if(!name || !*name || strlen(name) > 128)
      return mw_errf(err, MW_EVALIDATION,
                     "schema.features[%d].name must be a string of 1-128 bytes", i);
    for(const char *p = name; *p; p++)
      if((unsigned char)*p < 0x20 || *p == 0x7f)
        return mw_errf(err, MW_EVALIDATION,
                       "schema.features[%d].name has a control character", i);
    if(!strcmp(name, "prediction"))
      return mw_errf(err, MW_EVALIDATION,
                     "schema.features[%d]: 'prediction' names the model output", i);
    if(!type || (strcmp(type, "numeric") && strcmp(type, "categorical")))
      return mw_errf(err, MW_EVALIDATION,
                     "schema.features[%d].type must be numeric or categorical", i);
    for(const cJSON *g = feats->child; g != f; g = g->next)
      if(!strcmp(mw_json_str(g, "name"), name))
        return mw_errf(err, MW_EVALIDATION,
                       "schema.features[%d].name '%s' is repeated", i, name);
  }
  const cJSON *pred = cJSON_GetObjectItemCaseSensitive(schema, "prediction");
  const char *ptype = pred ? mw_json_str(pred, "type") : NULL;
  if(!ptype || (strcmp(ptype, "numeric") && strcmp(ptype, "categorical")))
    return mw_errf(err, MW_EVALIDATION,
                   "schema.prediction.type must be numeric or categorical");
  return MW_OK;
}

/* The answer for a version that is not there: the model's own 404 when it
 * is missing too. */
static mw_status version_missing(mw_conn *c, const char *model, int64_t version,
                                 mw_err *err) {
  int64_t mid;
  mw_status s = reg__model_id(c, model, &mid, err);
  return s ? s
           : mw_errf(err, MW_ENOTFOUND, "model '%s' has no version %lld", model,
                     (long long)version);
}

#define VERSION_COLS                                                          \
  "v.version, v.description, v.source, v.run_id, v.tags, v.metrics, "        \
  "v.params, v.schema, v.status, v.sha256, v.size, v.created_at, "           \
  "v.created_by, v.id, m.name"

static mw_status version_json(mw_conn *c, sqlite3_stmt *st, cJSON **out) {
  cJSON *v = cJSON_CreateObject();
  cJSON_AddStringToObject(v, "model", mw_col_text(st, 14));
  cJSON_AddNumberToObject(v, "version", (double)sqlite3_column_int64(st, 0));
  cJSON_AddStringToObject(v, "description", mw_col_text(st, 1));
  if(sqlite3_column_type(st, 2) == SQLITE_NULL)
    cJSON_AddNullToObject(v, "source");
  else
    cJSON_AddStringToObject(v, "source", mw_col_text(st, 2));
  if(sqlite3_column_type(st, 3) == SQLITE_NULL)
    cJSON_AddNullToObject(v, "run_id");
  else
    cJSON_AddStringToObject(v, "run_id", mw_col_text(st, 3));
  cJSON_AddItemToObject(v, "tags", reg__json_col(st, 4));
  cJSON_AddItemToObject(v, "metrics", reg__json_col(st, 5));
  cJSON_AddItemToObject(v, "params", reg__json_col(st, 6));
  if(sqlite3_column_type(st, 7) == SQLITE_NULL)
    cJSON_AddNullToObject(v, "schema");
  else
    cJSON_AddItemToObject(v, "schema", reg__json_col(st, 7));
  cJSON_AddStringToObject(v, "status", mw_col_text(st, 8));
  if(sqlite3_column_type(st, 9) == SQLITE_NULL) {
    cJSON_AddNullToObject(v, "sha256");
    cJSON_AddNullToObject(v, "size");
  } else {
    cJSON_AddStringToObject(v, "sha256", mw_col_text(st, 9));
    cJSON_AddNumberToObject(v, "size", (double)sqlite3_column_int64(st, 10));
  }
  mw_json_add_time(v, "created_at", sqlite3_column_int64(st, 11));
  cJSON_AddStringToObject(v, "created_by", mw_col_text(st, 12));
  cJSON *aliases = cJSON_AddArrayToObject(v, "aliases");
  sqlite3_stmt *a = mw_stmt(c, "SELECT alias FROM aliases WHERE version_id = ? "
                               "ORDER BY alias");
  if(a)
    sqlite3_bind_int64(a, 1, sqlite3_column_int64(st, 13));
  int row = 0;
  mw_status s;
  while(!(s = mw_step_row(c, a, &row)) && row)
    cJSON_AddItemToArray(aliases, cJSON_CreateString(mw_col_text(a, 0)));
  if(a)
    sqlite3_reset(a);
  if(s) {
    cJSON_Delete(v);
    return s;
  }
  *out = v;
  return MW_OK;
}

mw_status reg_version_get(mw_conn *c, const char *model, int64_t version,
                          cJSON **out, mw_err *err) {
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT " VERSION_COLS " FROM model_versions v "
                                "JOIN models m ON m.id = v.model_id "
                                "WHERE m.name = ? AND v.version = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, model);
  sqlite3_bind_int64(st, 2, version);
  mw_status s = mw_step_one(c, st);
  if(s == MW_ENOTFOUND)
    return version_missing(c, model, version, err);
  if(s)
    return s;
  s = version_json(c, st, out);
  sqlite3_reset(st);
  return s;
}

static char *print_opt(const cJSON *body, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
  return v && !cJSON_IsNull(v) ? cJSON_PrintUnformatted(v) : NULL;
}

mw_status reg_version_create(mw_conn *c, const char *model, const cJSON *body,
                             const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  const cJSON *f;
  static const char *strs[] = {"description", "source", "run_id"};
  for(size_t i = 0; i < 3; i++) {
    f = cJSON_GetObjectItemCaseSensitive(body, strs[i]);
    if(f && !cJSON_IsNull(f) &&
       (!cJSON_IsString(f) || strlen(f->valuestring) > 65536))
      return mw_errf(err, MW_EVALIDATION, "%s must be a string of at most 65536 bytes",
                     strs[i]);
  }
  mw_status s = reg__check_map(cJSON_GetObjectItemCaseSensitive(body, "tags"),
                               "tags", REG_MAP_STRINGS, err);
  if(!s)
    s = reg__check_map(cJSON_GetObjectItemCaseSensitive(body, "metrics"),
                       "metrics", REG_MAP_NUMBERS, err);
  if(!s)
    s = reg__check_map(cJSON_GetObjectItemCaseSensitive(body, "params"), "params",
                       REG_MAP_SCALARS, err);
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(body, "schema");
  if(!s && schema && !cJSON_IsNull(schema))
    s = reg_schema_validate(schema, err);
  if(s)
    return s;
  char *tags = print_opt(body, "tags"), *metrics = print_opt(body, "metrics");
  char *params = print_opt(body, "params"), *schem = print_opt(body, "schema");
  int64_t mid = 0, version = 0;
  s = mw_tx_begin(c);
  if(s)
    goto out;
  s = reg__model_id(c, model, &mid, err);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO model_versions(model_id, version, description, source, "
         "run_id, tags, metrics, params, schema, created_at, created_by) "
         "SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
         "?9, ?10 FROM model_versions WHERE model_id = ?1 RETURNING version");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  assert(mid > 0);
  sqlite3_bind_int64(st, 1, mid);
  const char *desc = mw_json_str(body, "description");
  mw_bind_text(st, 2, desc ? desc : "");
  mw_bind_text(st, 3, mw_json_str(body, "source"));
  mw_bind_text(st, 4, mw_json_str(body, "run_id"));
  mw_bind_text(st, 5, tags ? tags : "{}");
  mw_bind_text(st, 6, metrics ? metrics : "{}");
  mw_bind_text(st, 7, params ? params : "{}");
  mw_bind_text(st, 8, schem);
  sqlite3_bind_int64(st, 9, mw_now_ms());
  mw_bind_text(st, 10, actor);
  /* INSERT ... RETURNING: its row, then its end (the insert is done only
   * when the statement has run to completion). */
  s = mw_step_one(c, st);
  if(s == MW_ENOTFOUND)
    s = MW_EINTERNAL;
  if(!s) {
    version = sqlite3_column_int64(st, 0);
    s = mw_step_done(c, st);
  }
  if(s)
    goto out;
  char target[300];
  snprintf(target, sizeof target, "%s/%lld", model, (long long)version);
  s = mw_audit(c, actor, "version.create", target, NULL);
  /* Answer read before COMMIT: after it, a failure would report an error
   * for a version that exists (and a retry would create another). */
  if(!s)
    s = reg_version_get(c, model, version, out, err);
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
out:
  mw_tx_rollback(c);
  cJSON_free(tags);
  cJSON_free(metrics);
  cJSON_free(params);
  cJSON_free(schem);
  return s;
}

mw_status reg_version_list(mw_conn *c, const char *model, int limit,
                           const char *page_token, cJSON **out, mw_err *err) {
  *out = NULL;
  limit = reg__limit(limit);
  int64_t before = INT64_MAX;
  char tok[64];
  if(page_token && *page_token) {
    if(!reg__page_decode(page_token, tok, sizeof tok) || mw_parse_i64(tok, &before))
      return mw_errf(err, MW_EINVAL, "page_token is not one this server issued");
  }
  int64_t mid;
  mw_status s = reg__model_id(c, model, &mid, err);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(c, "SELECT " VERSION_COLS " FROM model_versions v "
                                "JOIN models m ON m.id = v.model_id "
                                "WHERE v.model_id = ? AND v.version < ? "
                                "ORDER BY v.version DESC LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, mid);
  sqlite3_bind_int64(st, 2, before);
  sqlite3_bind_int(st, 3, limit + 1);
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "versions");
  int n = 0, row = 0, more = 0;
  int64_t last = 0;
  while(!(s = mw_step_row(c, st, &row)) && row) {
    if(n == limit) {
      more = 1;
      break;
    }
    cJSON *v = NULL;
    s = version_json(c, st, &v);
    if(s)
      break;
    last = sqlite3_column_int64(st, 0);
    cJSON_AddItemToArray(arr, v);
    n++;
  }
  sqlite3_reset(st);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  if(more) {
    char num[32], enc[80];
    snprintf(num, sizeof num, "%lld", (long long)last);
    reg__page_token(num, enc, sizeof enc);
    cJSON_AddStringToObject(root, "next_page_token", enc);
  } else {
    cJSON_AddNullToObject(root, "next_page_token");
  }
  *out = root;
  return MW_OK;
}

void reg_version_info_free(reg_version_info *vi) {
  if(!vi)
    return;
  free(vi->schema_json);
  vi->schema_json = NULL;
}

mw_status reg_version_lookup(mw_conn *c, const char *model, int64_t version,
                             reg_version_info *out, mw_err *err) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT v.id, v.model_id, v.status, v.sha256, v.size, v.schema "
         "FROM model_versions v JOIN models m ON m.id = v.model_id "
         "WHERE m.name = ? AND v.version = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, model);
  sqlite3_bind_int64(st, 2, version);
  mw_status s = mw_step_one(c, st);
  if(s == MW_ENOTFOUND)
    return version_missing(c, model, version, err);
  if(s)
    return s;
  out->id = sqlite3_column_int64(st, 0);
  out->model_id = sqlite3_column_int64(st, 1);
  out->version = version;
  out->ready = !strcmp(mw_col_text(st, 2), "ready");
  mw_strlcpy(out->sha256, mw_col_text(st, 3), sizeof out->sha256);
  out->size = sqlite3_column_int64(st, 4);
  if(sqlite3_column_type(st, 5) != SQLITE_NULL) {
    out->schema_json = strdup(mw_col_text(st, 5));
    if(!out->schema_json) {
      sqlite3_reset(st);
      return MW_ENOMEM;
    }
  }
  sqlite3_reset(st);
  return MW_OK;
}
