/* registry/versions.c - model versions: numbered per model from 1, with
 * metadata and the feature schema the monitor validates predictions by.
 *
 * Operations and their cost (store calls; each version comes with its
 * aliases, see registry/store.h):
 *  - reg_version_get: 1; reg_version_list: 2 (the model, then the page);
 *    reg_version_lookup: 1 (the monitor calls it per request, so it reads
 *    only what other subsystems use);
 *  - reg_version_create: one write transaction (model id, insert, audit,
 *    answer). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/internal.h"

mw_status reg_schema_validate(const cJSON *schema, mw_err *err) {
  if(!cJSON_IsObject(schema))
    return mw_errf(err, MW_EVALIDATION, "schema must be an object");
  const cJSON *feats = cJSON_GetObjectItemCaseSensitive(schema, "features");
  if(!cJSON_IsArray(feats))
    return mw_errf(err, MW_EVALIDATION, "schema.features must be an array");
  int n = cJSON_GetArraySize(feats);
  if(n > 1000)
    return mw_errf(err, MW_EVALIDATION,
                   "schema.features has more than 1000 columns");
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
    /* What is stored of the values (monitor/privacy.h); a version's schema
     * never changes, so neither does a column's privacy. */
    const cJSON *priv = cJSON_GetObjectItemCaseSensitive(f, "privacy");
    if(priv && !cJSON_IsNull(priv) &&
       (!cJSON_IsString(priv) ||
        (strcmp(priv->valuestring, "keep") && strcmp(priv->valuestring, "hash") &&
         strcmp(priv->valuestring, "drop"))))
      return mw_errf(err, MW_EVALIDATION,
                     "schema.features[%d].privacy must be keep, hash or drop", i);
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
  /* The prediction is kept as it is: labels, performance and shadow
   * comparisons need its values. */
  const cJSON *ppriv = cJSON_GetObjectItemCaseSensitive(pred, "privacy");
  if(ppriv && !cJSON_IsNull(ppriv) &&
     !(cJSON_IsString(ppriv) && !strcmp(ppriv->valuestring, "keep")))
    return mw_errf(err, MW_EVALIDATION,
                   "schema.prediction.privacy can only be keep (privacy applies "
                   "to features)");
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

/* Builds the JSON of version v with the aliases pointing at it. */
static cJSON *version_json(const struct reg_version_row *v) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "model", v->model);
  cJSON_AddNumberToObject(j, "version", (double)v->version);
  cJSON_AddStringToObject(j, "description", v->description);
  reg__add_opt_string(j, "source", v->source);
  reg__add_opt_string(j, "run_id", v->run_id);
  cJSON_AddItemToObject(j, "tags", reg__json_text(v->tags));
  cJSON_AddItemToObject(j, "metrics", reg__json_text(v->metrics));
  cJSON_AddItemToObject(j, "params", reg__json_text(v->params));
  if(v->schema)
    cJSON_AddItemToObject(j, "schema", reg__json_text(v->schema));
  else
    cJSON_AddNullToObject(j, "schema");
  cJSON_AddStringToObject(j, "status", v->status);
  reg__add_opt_string(j, "sha256", v->sha256);
  reg__add_opt_number(j, "size", v->sha256 ? v->size : -1);
  mw_json_add_time(j, "created_at", v->created_at);
  cJSON_AddStringToObject(j, "created_by", v->created_by);
  cJSON *aliases = cJSON_AddArrayToObject(j, "aliases");
  for(int i = 0; i < v->n_aliases; i++)
    cJSON_AddItemToArray(aliases, cJSON_CreateString(v->aliases[i]));
  cJSON *ap = cJSON_AddObjectToObject(j, "approval");
  cJSON_AddStringToObject(ap, "state",
                          v->approval_state ? v->approval_state : "none");
  reg__add_opt_string(ap, "by", v->approval_by);
  if(v->approval_at >= 0)
    mw_json_add_time(ap, "at", v->approval_at);
  else
    cJSON_AddNullToObject(ap, "at");
  reg__add_opt_string(ap, "comment", v->approval_comment);
  return j;
}

static mw_status got_version(void *ctx, const struct reg_version_row *v) {
  *(cJSON **)ctx = version_json(v);
  return MW_OK;
}

mw_status reg_version_get(mw_conn *c, const char *model, int64_t version,
                          cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *j = NULL;
  mw_status s = reg__store(c)->version_get(c, model, version, got_version, &j);
  if(s == MW_ENOTFOUND)
    return version_missing(c, model, version, err);
  if(!s)
    *out = j;
  else
    cJSON_Delete(j);
  return s;
}

static char *print_opt(const cJSON *body, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
  return v && !cJSON_IsNull(v) ? cJSON_PrintUnformatted(v) : NULL;
}

/* Checks a version's request body: strings, maps and schema. */
static mw_status check_body(const cJSON *body, mw_err *err) {
  static const char *const strs[] = {"description", "source", "run_id"};
  for(size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, strs[i]);
    if(f && !cJSON_IsNull(f) &&
       (!cJSON_IsString(f) || strlen(f->valuestring) > 65536))
      return mw_errf(err, MW_EVALIDATION,
                     "%s must be a string of at most 65536 bytes", strs[i]);
  }
  mw_status s = reg__check_map(cJSON_GetObjectItemCaseSensitive(body, "tags"),
                               "tags", REG_MAP_STRINGS, err);
  if(!s)
    s = reg__check_map(cJSON_GetObjectItemCaseSensitive(body, "metrics"), "metrics",
                       REG_MAP_NUMBERS, err);
  if(!s)
    s = reg__check_map(cJSON_GetObjectItemCaseSensitive(body, "params"), "params",
                       REG_MAP_SCALARS, err);
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(body, "schema");
  if(!s && schema && !cJSON_IsNull(schema))
    s = reg_schema_validate(schema, err);
  return s;
}

/* Inserts the version, its audit row and reads the answer, inside the
 * caller's write transaction. */
static mw_status insert_version(mw_conn *c, const char *model,
                                const struct reg_version_fields *f, cJSON **out,
                                mw_err *err) {
  assert(mw_tx_state(c) == 1);
  int64_t mid = 0, version = 0;
  mw_status s = reg__model_id(c, model, &mid, err);
  if(!s)
    s = reg__store(c)->version_insert(c, mid, f, &version);
  if(s)
    return s;
  assert(version > 0);
  char target[300];
  snprintf(target, sizeof target, "%s/%lld", model, (long long)version);
  s = mw_audit(c, f->created_by, "version.create", target, NULL);
  if(!s)
    s = reg_version_get(c, model, version, out, err);
  return s ? s : mw_event_emit(c, "version.created", model, *out);
}

mw_status reg_version_create(mw_conn *c, const char *model, const cJSON *body,
                             const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status s = check_body(body, err);
  if(s)
    return s;
  const char *desc = mw_json_str(body, "description");
  char *tags = print_opt(body, "tags"), *metrics = print_opt(body, "metrics");
  char *params = print_opt(body, "params"), *schema = print_opt(body, "schema");
  struct reg_version_fields f = {
      .description = desc ? desc : "",
      .source = mw_json_str(body, "source"),
      .run_id = mw_json_str(body, "run_id"),
      .tags = tags ? tags : "{}",
      .metrics = metrics ? metrics : "{}",
      .params = params ? params : "{}",
      .schema = schema,
      .created_by = actor,
  };
  s = mw_tx_begin(c);
  if(!s) {
    /* Taken under the write lock: times follow version numbers. */
    f.created_at = mw_now_ms();
    s = insert_version(c, model, &f, out, err);
    s = reg__commit_answer(c, s, out);
  }
  cJSON_free(tags);
  cJSON_free(metrics);
  cJSON_free(params);
  cJSON_free(schema);
  return s;
}

struct list_ctx {
  cJSON *arr;
  int limit, n, more;
  int64_t last;
};

static mw_status listed_version(void *ctx, const struct reg_version_row *v) {
  struct list_ctx *l = ctx;
  if(l->n == l->limit) {
    l->more = 1; /* the row past the page: there is a next one */
    return MW_OK;
  }
  l->last = v->version;
  cJSON_AddItemToArray(l->arr, version_json(v));
  l->n++;
  return MW_OK;
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
  cJSON *root = cJSON_CreateObject();
  struct list_ctx l = {cJSON_AddArrayToObject(root, "versions"), limit, 0, 0, 0};
  s = reg__store(c)->version_list(c, mid, before, limit + 1, listed_version, &l);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  if(l.more) {
    char num[32], enc[80];
    snprintf(num, sizeof num, "%lld", (long long)l.last);
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
  mw_status s = reg__store(c)->version_find(c, model, version, out);
  if(s == MW_ENOTFOUND)
    return version_missing(c, model, version, err);
  return s;
}
