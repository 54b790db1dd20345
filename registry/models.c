/* registry/models.c - models: create, get, list with keyset pagination and
 * search, update, delete; plus the helpers the other registry files share
 * (registry/internal.h).
 *
 * Operations and their cost (store calls; each model comes with its
 * aliases and latest version, see registry/store.h):
 *  - reg_model_get: 1; reg_model_list: 1 per page;
 *  - reg_model_create, reg_model_update: one write transaction with the
 *    change, its audit row and the answer;
 *  - reg_model_delete: one write transaction; refused while an alias
 *    points into the model. */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "registry/internal.h"

mw_status reg__model_id(mw_conn *c, const char *name, int64_t *id, mw_err *err) {
  mw_status s = reg__store(c)->model_id(c, name, id);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "no model named '%s'", name);
  return s;
}

cJSON *reg__json_text(const char *text) {
  cJSON *j = text && *text ? cJSON_Parse(text) : NULL;
  return j ? j : cJSON_CreateObject();
}

void reg__add_opt_string(cJSON *obj, const char *key, const char *s) {
  if(s)
    cJSON_AddStringToObject(obj, key, s);
  else
    cJSON_AddNullToObject(obj, key);
}

void reg__add_opt_number(cJSON *obj, const char *key, int64_t v) {
  if(v >= 0)
    cJSON_AddNumberToObject(obj, key, (double)v);
  else
    cJSON_AddNullToObject(obj, key);
}

mw_status reg__check_map(const cJSON *v, const char *field, enum reg_map_kind k,
                         mw_err *err) {
  if(!v || cJSON_IsNull(v))
    return MW_OK;
  if(!cJSON_IsObject(v))
    return mw_errf(err, MW_EVALIDATION, "%s must be an object", field);
  const cJSON *it;
  cJSON_ArrayForEach(it, v) {
    int ok = 0;
    if(k == REG_MAP_STRINGS)
      ok = cJSON_IsString(it) && strlen(it->valuestring) <= 4096;
    else if(k == REG_MAP_NUMBERS)
      ok = cJSON_IsNumber(it);
    else
      ok = (cJSON_IsString(it) && strlen(it->valuestring) <= 4096) ||
           cJSON_IsNumber(it) || cJSON_IsBool(it);
    if(!ok || strlen(it->string) == 0 || strlen(it->string) > 256)
      return mw_errf(err, MW_EVALIDATION, "%s.%.64s must be a %s", field, it->string,
                     k == REG_MAP_STRINGS   ? "string"
                     : k == REG_MAP_NUMBERS ? "number"
                                            : "string, number or boolean");
  }
  if(cJSON_GetArraySize(v) > 1000)
    return mw_errf(err, MW_EVALIDATION, "%s has more than 1000 keys", field);
  return MW_OK;
}

static const char hexd[] = "0123456789abcdef";

void reg__page_token(const char *key, char *buf, size_t cap) {
  size_t o = 0;
  for(const unsigned char *p = (const unsigned char *)key; *p && o + 3 < cap; p++) {
    buf[o++] = hexd[*p >> 4];
    buf[o++] = hexd[*p & 15];
  }
  buf[o] = '\0';
}

int reg__page_decode(const char *tok, char *buf, size_t cap) {
  size_t n = strlen(tok);
  if(n % 2 || n / 2 + 1 > cap)
    return 0;
  for(size_t i = 0; i < n; i += 2) {
    const char *a = strchr(hexd, tok[i]);
    const char *b = strchr(hexd, tok[i + 1]);
    if(!a || !b || !tok[i] || !tok[i + 1])
      return 0;
    buf[i / 2] = (char)(((a - hexd) << 4) | (b - hexd));
  }
  buf[n / 2] = '\0';
  return 1;
}

int reg__limit(int limit) {
  if(limit <= 0)
    return 100;
  return limit > 1000 ? 1000 : limit;
}

mw_status reg__commit_answer(mw_conn *c, mw_status s, cJSON **out) {
  assert(mw_tx_state(c) == 1 || s != MW_OK);
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    mw_tx_rollback(c);
    cJSON_Delete(*out);
    *out = NULL;
  }
  return s;
}

/* ---------------------------------------------------------------- answers */

/* Builds the JSON of model m with its aliases and latest version. */
static cJSON *model_json(const struct reg_model_row *m) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", m->name);
  cJSON_AddStringToObject(j, "description", m->description);
  cJSON_AddItemToObject(j, "tags", reg__json_text(m->tags));
  mw_json_add_time(j, "created_at", m->created_at);
  mw_json_add_time(j, "updated_at", m->updated_at);
  cJSON *aliases = cJSON_AddObjectToObject(j, "aliases");
  for(int i = 0; i < m->n_aliases; i++)
    cJSON_AddNumberToObject(aliases, m->aliases[i].alias,
                            (double)m->aliases[i].version);
  reg__add_opt_number(j, "latest_version", m->latest_version);
  cJSON_AddNumberToObject(j, "version_count", (double)m->version_count);
  return j;
}

static mw_status got_model(void *ctx, const struct reg_model_row *m) {
  *(cJSON **)ctx = model_json(m);
  return MW_OK;
}

mw_status reg_model_get(mw_conn *c, const char *name, cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *j = NULL;
  mw_status s = reg__store(c)->model_get(c, name, got_model, &j);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "no model named '%s'", name);
  if(!s)
    *out = j;
  else
    cJSON_Delete(j);
  return s;
}

/* ------------------------------------------------------------------ writes */

static mw_status check_description(const char *description, mw_err *err) {
  if(description && strlen(description) > 65536)
    return mw_errf(err, MW_EVALIDATION, "description is longer than 65536 bytes");
  return MW_OK;
}

mw_status reg_model_create(mw_conn *c, const char *name, const char *description,
                           const cJSON *tags, const char *actor, cJSON **out,
                           mw_err *err) {
  *out = NULL;
  if(!mw_name_valid(name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and "
                   "not start with '.'");
  mw_status s = check_description(description, err);
  if(!s)
    s = reg__check_map(tags, "tags", REG_MAP_STRINGS, err);
  if(s)
    return s;
  char *tagtxt = tags && !cJSON_IsNull(tags) ? cJSON_PrintUnformatted(tags) : NULL;
  s = mw_tx_begin(c);
  if(s) {
    cJSON_free(tagtxt);
    return s;
  }
  s = reg__store(c)->model_insert(c, name, description ? description : "",
                                  tagtxt ? tagtxt : "{}", mw_now_ms());
  cJSON_free(tagtxt);
  if(s == MW_ECONFLICT)
    mw_errf(err, s, "a model named '%s' already exists", name);
  if(!s)
    s = mw_audit(c, actor, "model.create", name, NULL);
  if(!s)
    s = reg_model_get(c, name, out, err);
  if(!s)
    s = mw_event_emit(c, "model.created", name, *out);
  return reg__commit_answer(c, s, out);
}

mw_status reg_model_update(mw_conn *c, const char *name, const char *description,
                           const cJSON *tags, const char *actor, cJSON **out,
                           mw_err *err) {
  *out = NULL;
  mw_status s = check_description(description, err);
  if(!s)
    s = reg__check_map(tags, "tags", REG_MAP_STRINGS, err);
  if(s)
    return s;
  char *tagtxt = tags && !cJSON_IsNull(tags) ? cJSON_PrintUnformatted(tags) : NULL;
  s = mw_tx_begin(c);
  if(s) {
    cJSON_free(tagtxt);
    return s;
  }
  s = reg__store(c)->model_update(c, name, description, tagtxt, mw_now_ms());
  cJSON_free(tagtxt);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no model named '%s'", name);
  if(!s)
    s = mw_audit(c, actor, "model.update", name, NULL);
  if(!s)
    s = reg_model_get(c, name, out, err);
  return reg__commit_answer(c, s, out);
}

/* Appends an alias name to the list in ctx (a mw_buf). */
static mw_status list_alias(void *ctx, const char *alias, int64_t version) {
  (void)version;
  mw_buf *b = ctx;
  if(b->len && mw_buf_append(b, ", ", 2))
    return MW_ENOMEM;
  return mw_buf_append(b, alias, strlen(alias)) ? MW_ENOMEM : MW_OK;
}

mw_status reg_model_delete(mw_conn *c, const char *name, const char *actor,
                           mw_err *err) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  int64_t id = 0;
  mw_buf names;
  mw_buf_init(&names, 64 * 1024);
  s = reg__model_id(c, name, &id, err);
  /* A failed read of the aliases must not pass for "none". */
  if(!s)
    s = reg__store(c)->model_aliases(c, id, list_alias, &names);
  if(!s && names.len)
    s = mw_errf(err, MW_ECONFLICT,
                "model '%s' still has aliases (%s); delete them first", name,
                names.data);
  mw_buf_free(&names);
  if(!s)
    s = reg__store(c)->model_delete(c, id);
  if(!s)
    s = mw_audit(c, actor, "model.delete", name, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

/* ---------------------------------------------------------------- listing */

struct list_ctx {
  cJSON *arr;
  int limit, n, more;
  char last[300]; /* the last model of the page */
  int (*keep)(void *ctx, const char *name);
  void *keep_ctx;
  int seen;          /* rows the store handed over in this batch */
  char scanned[300]; /* the last of them, kept or not */
};

static mw_status listed_model(void *ctx, const struct reg_model_row *m) {
  struct list_ctx *l = ctx;
  l->seen++;
  mw_strlcpy(l->scanned, m->name, sizeof l->scanned);
  if(l->more || (l->keep && !l->keep(l->keep_ctx, m->name)))
    return MW_OK;
  if(l->n == l->limit) {
    l->more = 1; /* the row past the page: there is a next one */
    return MW_OK;
  }
  mw_strlcpy(l->last, m->name, sizeof l->last);
  cJSON_AddItemToArray(l->arr, model_json(m));
  l->n++;
  return MW_OK;
}

mw_status reg_model_list(mw_conn *c, const char *q, int limit,
                         const char *page_token,
                         int (*keep)(void *ctx, const char *name), void *keep_ctx,
                         cJSON **out, mw_err *err) {
  *out = NULL;
  limit = reg__limit(limit);
  char after[300] = "", qlow[256];
  if(page_token && *page_token && !reg__page_decode(page_token, after, sizeof after))
    return mw_errf(err, MW_EINVAL, "page_token is not one this server issued");
  /* Names are ASCII: the search folds ASCII case only, the same on every
   * backend. */
  size_t i = 0;
  for(; q && q[i] && i + 1 < sizeof qlow; i++)
    qlow[i] = (char)tolower((unsigned char)q[i]);
  qlow[i] = '\0';
  cJSON *root = cJSON_CreateObject();
  struct list_ctx l = {cJSON_AddArrayToObject(root, "models"),
                       limit,
                       0,
                       0,
                       "",
                       keep,
                       keep_ctx,
                       0,
                       ""};
  mw_status s;
  /* Skipped models do not fill the page: read on until it is full (and one
   * more model is kept) or the store has no more. */
  do {
    l.seen = 0;
    s = reg__store(c)->model_list(c, after, i ? qlow : NULL, limit + 1, listed_model,
                                  &l);
    mw_strlcpy(after, l.scanned, sizeof after);
  } while(!s && keep && !l.more && l.seen == limit + 1);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  if(l.more) {
    char tok[600];
    reg__page_token(l.last, tok, sizeof tok);
    cJSON_AddStringToObject(root, "next_page_token", tok);
  } else {
    cJSON_AddNullToObject(root, "next_page_token");
  }
  *out = root;
  return MW_OK;
}
