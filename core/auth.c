/* core/auth.c - API tokens (stored as sha256, compared in constant time),
 * scopes, dashboard sessions and the audit log, over core/store.h. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/audit.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/store.h"
#include "core/valid.h"

static const struct {
  const char *name;
  unsigned bit;
} scope_names[] = {{"read", MW_SCOPE_READ},
                   {"ingest", MW_SCOPE_INGEST},
                   {"promote", MW_SCOPE_PROMOTE},
                   {"admin", MW_SCOPE_ADMIN},
                   {"metrics", MW_SCOPE_METRICS}};

unsigned mw_scope_parse(const char *name) {
  for(size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
    if(strcmp(name, scope_names[i].name) == 0)
      return scope_names[i].bit;
  return 0;
}

int mw_scope_allows(unsigned have, unsigned need) {
  need &= ~(unsigned)MW_SCOPE_ANY;
  if(have & MW_SCOPE_ADMIN)
    return 1;
  /* /metrics holds per-model drift and feature names: what read shows. */
  if(have & MW_SCOPE_READ)
    have |= MW_SCOPE_METRICS;
  return (have & need) == need;
}

void mw_scope_to_json(unsigned scopes, cJSON *arr) {
  for(size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
    if(scopes & scope_names[i].bit)
      cJSON_AddItemToArray(arr, cJSON_CreateString(scope_names[i].name));
}

#define PREFIX_LEN 8
#define SECRET_LEN 40

/* The patterns of models (a JSON array) one per line into out[cap];
 * MW_EINVAL with err when they are not 1..MW_TOKEN_MAX_MODELS patterns. */
static mw_status models_text(const cJSON *models, char *out, size_t cap,
                             mw_err *err) {
  int n = cJSON_GetArraySize(models);
  if(!cJSON_IsArray(models) || n < 1 || n > MW_TOKEN_MAX_MODELS)
    return mw_errf(err, MW_EINVAL, "models must be an array of 1 to %d model names",
                   MW_TOKEN_MAX_MODELS);
  mw_buf b;
  mw_buf_init(&b, cap - 1);
  int i = 0;
  const cJSON *it;
  mw_status s = MW_OK;
  cJSON_ArrayForEach(it, models) {
    if(!cJSON_IsString(it) || !mw_name_pattern_valid(it->valuestring)) {
      s = mw_errf(err, MW_EINVAL,
                  "models[%d] is not a model name or a name prefix followed by '*'",
                  i);
      break;
    }
    if((i && (s = mw_buf_append(&b, "\n", 1))) ||
       (s = mw_buf_append(&b, it->valuestring, strlen(it->valuestring))))
      break;
    i++;
  }
  if(!s)
    mw_strlcpy(out, b.data ? b.data : "", cap);
  mw_buf_free(&b);
  return s;
}

/* The next pattern of a list kept one per line (*p advances past it) into
 * pat; 0 at the end. */
static int next_pattern(const char **p, char pat[130]) {
  while(**p) {
    const char *end = strchr(*p, '\n');
    size_t n = end ? (size_t)(end - *p) : strlen(*p);
    const char *at = *p;
    *p += n + (end != NULL);
    if(n < 130) { /* longer lines are never stored (mw_name_pattern_valid) */
      memcpy(pat, at, n);
      pat[n] = 0;
      return 1;
    }
  }
  return 0;
}

int mw_token_sees(const mw_token_info *t, const char *model) {
  if(!t->models[0])
    return 1;
  char pat[130];
  for(const char *p = t->models; next_pattern(&p, pat);)
    if(mw_pattern_match(pat, model))
      return 1;
  return 0;
}

mw_status mw_token_create(mw_conn *c, const char *name, unsigned scopes,
                          const char *actor, char *secret, size_t cap) {
  return mw_token_create_limited(c, name, scopes, NULL, actor, secret, cap, NULL);
}

mw_status mw_token_create_limited(mw_conn *c, const char *name, unsigned scopes,
                                  const cJSON *models, const char *actor,
                                  char *secret, size_t cap, mw_err *err) {
  char mtext[sizeof((mw_token_info *)0)->models];
  mtext[0] = 0;
  if(models) {
    mw_status ms = models_text(models, mtext, sizeof mtext, err);
    if(ms)
      return ms;
    if(scopes & MW_SCOPE_ADMIN)
      return mw_errf(err, MW_EINVAL,
                     "a token limited to models cannot hold the admin scope");
  }
  if(!mw_name_valid(name) || scopes == 0 ||
     (scopes & ~(unsigned)(MW_SCOPE_READ | MW_SCOPE_INGEST | MW_SCOPE_PROMOTE |
                           MW_SCOPE_ADMIN | MW_SCOPE_METRICS)))
    return MW_EINVAL;
  if(cap < 3 + PREFIX_LEN + 1 + SECRET_LEN + 1)
    return MW_EINVAL;
  char prefix[PREFIX_LEN + 1];
  char rnd[SECRET_LEN + 1];
  if(mw_random_token(prefix, PREFIX_LEN) || mw_random_token(rnd, SECRET_LEN))
    return MW_EINTERNAL;
  snprintf(secret, cap, "mw_%s_%s", prefix, rnd);
  char hash[65];
  mw_sha256_hex(secret, strlen(secret), hash);

  mw_status st = mw_tx_begin(c);
  if(st)
    return st;
  st = mw__store(c)->token_insert(c, name, prefix, hash, scopes,
                                  models ? mtext : NULL, mw_now_ms(), actor);
  if(!st) {
    cJSON *wrap = cJSON_CreateObject();
    mw_scope_to_json(scopes, cJSON_AddArrayToObject(wrap, "scopes"));
    if(models)
      cJSON_AddItemToObject(wrap, "models", cJSON_Duplicate(models, 1));
    st = mw_audit(c, actor, "token.create", name, wrap);
    cJSON_Delete(wrap);
  }
  if(!st)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  secret[0] = '\0';
  return st;
}

mw_status mw_token_verify(mw_conn *c, const char *token, mw_token_info *info) {
  size_t n = token ? strlen(token) : 0;
  if(n != 3 + PREFIX_LEN + 1 + SECRET_LEN || strncmp(token, "mw_", 3) != 0 ||
     token[3 + PREFIX_LEN] != '_')
    return MW_EUNAUTH;
  char prefix[PREFIX_LEN + 1];
  memcpy(prefix, token + 3, PREFIX_LEN);
  prefix[PREFIX_LEN] = '\0';
  mw_token_info found;
  char stored[65];
  mw_status s = mw__store(c)->token_by_prefix(c, prefix, &found, stored);
  if(s)
    return s == MW_ENOTFOUND ? MW_EUNAUTH : s;
  char want[65];
  mw_sha256_hex(token, n, want);
  if(strlen(stored) != 64 || !mw_ct_equal(stored, want, 64))
    return MW_EUNAUTH;
  *info = found;
  return MW_OK;
}

mw_status mw_token_delete(mw_conn *c, const char *name, const char *actor) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = mw__store(c)->token_delete(c, name);
  if(!s)
    s = mw_audit(c, actor, "token.delete", name, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

void mw_token_models_json(const char *models, cJSON *obj) {
  if(!models || !*models) {
    cJSON_AddNullToObject(obj, "models");
    return;
  }
  cJSON *arr = cJSON_AddArrayToObject(obj, "models");
  char pat[130];
  for(const char *p = models; next_pattern(&p, pat);)
    cJSON_AddItemToArray(arr, cJSON_CreateString(pat));
}

static mw_status token_json(void *ctx, const struct mw_token_row *r) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "name", r->name);
  mw_scope_to_json(r->scopes, cJSON_AddArrayToObject(t, "scopes"));
  mw_json_add_time(t, "created_at", r->created_at);
  cJSON_AddStringToObject(t, "created_by", r->created_by);
  mw_token_models_json(r->models, t);
  cJSON_AddItemToArray(ctx, t);
  return MW_OK;
}

mw_status mw_token_list(mw_conn *c, cJSON **out) {
  cJSON *arr = cJSON_CreateArray();
  mw_status s = mw__store(c)->token_list(c, token_json, arr);
  if(s) {
    cJSON_Delete(arr);
    arr = NULL;
  }
  *out = arr;
  return s;
}

mw_status mw_token_count(mw_conn *c, int64_t *out) {
  return mw__store(c)->token_count(c, out);
}

mw_status mw_audit(mw_conn *c, const char *actor, const char *action,
                   const char *target, const cJSON *details) {
  assert(mw_tx_state(c) == 1); /* inside the change it records */
  char *det = details ? cJSON_PrintUnformatted(details) : NULL;
  if(details && !det)
    return MW_ENOMEM;
  mw_status s = mw__store(c)->audit_insert(c, mw_now_ms(), actor ? actor : "system",
                                           action, target, det);
  cJSON_free(det);
  return s;
}

struct audit_page {
  cJSON *arr;
  int64_t last_id;
  int n;
};

static mw_status add_audit(void *ctx, const struct mw_audit_row *a) {
  struct audit_page *pg = ctx;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "id", (double)a->id);
  mw_json_add_time(j, "at", a->at);
  cJSON_AddStringToObject(j, "actor", a->actor);
  cJSON_AddStringToObject(j, "action", a->action);
  if(a->target)
    cJSON_AddStringToObject(j, "target", a->target);
  else
    cJSON_AddNullToObject(j, "target");
  cJSON *det = a->details ? cJSON_Parse(a->details) : NULL;
  cJSON_AddItemToObject(j, "details", det ? det : cJSON_CreateNull());
  cJSON_AddItemToArray(pg->arr, j);
  pg->last_id = a->id;
  pg->n++;
  return MW_OK;
}

mw_status mw_audit_list(mw_conn *c, const mw_audit_query *q, int limit,
                        cJSON **out) {
  assert(limit >= 1 && limit <= 1000);
  *out = cJSON_CreateObject();
  struct audit_page pg = {cJSON_AddArrayToObject(*out, "entries"), 0, 0};
  mw_audit_query qq = *q;
  if(qq.before <= 0)
    qq.before = INT64_MAX;
  mw_status s = mw__store(c)->audit_list(c, &qq, limit, add_audit, &pg);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
    return s;
  }
  if(pg.n == limit && pg.last_id > 1)
    cJSON_AddNumberToObject(*out, "next_before", (double)pg.last_id);
  else
    cJSON_AddNullToObject(*out, "next_before");
  return MW_OK;
}

mw_status mw_session_create(mw_conn *c, int64_t token_id, const char *actor,
                            int64_t ttl_ms, char sid[64], char csrf[64]) {
  if(mw_random_token(sid, 48) || mw_random_token(csrf, 32))
    return MW_EINTERNAL;
  char hash[65];
  mw_sha256_hex(sid, strlen(sid), hash);
  int64_t now = mw_now_ms();
  mw_status st = mw_tx_begin(c);
  if(st)
    return st;
  /* Expired sessions are swept whenever a new one starts. */
  const struct mw_core_store *store = mw__store(c);
  st = store->session_purge(c, now);
  if(!st)
    st = store->session_insert(c, hash, token_id, csrf, now, now + ttl_ms);
  if(!st)
    st = mw_audit(c, actor, "session.create", NULL, NULL);
  if(!st)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return st;
}

mw_status mw_session_verify(mw_conn *c, const char *sid, mw_token_info *info,
                            char csrf[64]) {
  if(!sid || strlen(sid) != 48)
    return MW_EUNAUTH;
  char hash[65];
  mw_sha256_hex(sid, 48, hash);
  mw_status s = mw__store(c)->session_get(c, hash, mw_now_ms(), info, csrf);
  return s == MW_ENOTFOUND ? MW_EUNAUTH : s;
}

mw_status mw_session_delete(mw_conn *c, const char *sid, const char *actor) {
  if(!sid || strlen(sid) != 48)
    return MW_OK;
  char hash[65];
  mw_sha256_hex(sid, 48, hash);
  mw_status st = mw_tx_begin(c);
  if(!st)
    st = mw__store(c)->session_delete(c, hash);
  if(!st)
    st = mw_audit(c, actor, "session.delete", NULL, NULL);
  if(!st)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return st;
}
