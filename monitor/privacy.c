/* monitor/privacy.c - privacy of logged data (migration 0019): a model's
 * own retention (monitor/monitor.h: mon_model_retention_get, _put; the
 * pass that uses it is monitor/retention.c), and the key of hashed columns
 * (monitor/privacy.h). Erasure is monitor/erasure.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/secrets.h"
#include "monitor/context.h"
#include "monitor/privacy.h"
#include "monitor/store.h"

mw_status mon_model_retention_get(mw_conn *c, const char *model, int64_t *days) {
  const struct mon_store *store = mon__store(c);
  int64_t model_id = 0;
  *days = 0;
  mw_status st = store->model_find(c, model, &model_id);
  return st ? st : store->retention_get(c, model_id, days);
}

static cJSON *retention_json(const char *model, int64_t days, int dflt) {
  cJSON *o = cJSON_CreateObject();
  if(!o)
    return NULL;
  cJSON_AddStringToObject(o, "model", model);
  if(days > 0)
    cJSON_AddNumberToObject(o, "retention_days", (double)days);
  else
    cJSON_AddNullToObject(o, "retention_days");
  cJSON_AddNumberToObject(o, "default_retention_days", dflt);
  return o;
}

mw_status mon_model_retention_put(mon_ctx *m, mw_conn *c, const char *model,
                                  const cJSON *body, const char *actor, cJSON **out,
                                  mw_err *err) {
  *out = NULL;
  const cJSON *k, *d = NULL;
  bool have = false;
  const cJSON *obj = cJSON_IsObject(body) ? body : NULL;
  cJSON_ArrayForEach(k, obj) {
    if(strcmp(k->string, "days"))
      return mw_errf(err, MW_EVALIDATION, "unknown field '%.64s' (expected days)",
                     k->string);
    d = k;
    have = true;
  }
  int64_t days = 0;
  if(!cJSON_IsObject(body) || !have)
    return mw_errf(err, MW_EVALIDATION,
                   "the body needs days: 1-%d, or null for the server's "
                   "--retention-days",
                   MON_RETENTION_MAX_DAYS);
  if(!cJSON_IsNull(d) &&
     (!mw_json_int(d, &days) || days < 1 || days > MON_RETENTION_MAX_DAYS))
    return mw_errf(err, MW_EVALIDATION,
                   "days must be an integer from 1 to %d, or null for the "
                   "server's --retention-days",
                   MON_RETENTION_MAX_DAYS);
  const struct mon_store *store = mon__store(c);
  int64_t model_id = 0;
  mw_status st = mw_tx_begin(c);
  if(st)
    return st;
  st = store->model_find(c, model, &model_id);
  if(st == MW_ENOTFOUND)
    mw_errf(err, st, "no model named '%s'", model);
  if(!st)
    st = store->retention_put(c, model_id, days, mw_now_ms());
  int dflt = m ? m->opt.retention_days : 0;
  cJSON *o = st ? NULL : retention_json(model, days, dflt);
  if(!st && !o)
    st = MW_ENOMEM;
  if(!st)
    st = mw_audit(c, actor, "model.retention", model, o);
  if(!st)
    st = mw_tx_commit(c);
  if(st) {
    mw_tx_rollback(c);
    cJSON_Delete(o);
    return st;
  }
  *out = o;
  return MW_OK;
}

/* ----------------------------------------------------------- hashing */

mw_status mon__privacy_hash(const mon_column *col, const char *value, char hex[65]) {
  if(!col->has_hkey)
    return MW_EINTERNAL;
  unsigned char md[32];
  mw_hmac_sha256(col->hkey, sizeof col->hkey, value, strlen(value), md);
  static const char digits[] = "0123456789abcdef";
  for(int i = 0; i < 32; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = 0;
  return MW_OK;
}

/* Decodes 64 hex digits into out[32]. */
static int unhex32(const char *hex, unsigned char out[32]) {
  if(strlen(hex) != 64)
    return 0;
  for(int i = 0; i < 64; i++) {
    char ch = hex[i];
    int v = ch >= '0' && ch <= '9'   ? ch - '0'
            : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                     : -1;
    if(v < 0)
      return 0;
    out[i / 2] = (unsigned char)(i % 2 ? (out[i / 2] | v) : v << 4);
  }
  return 1;
}

/* Reads the stored key into key (MW_ENOTFOUND: none yet). */
static mw_status key_read(mw_conn *c, unsigned char key[32]) {
  char *sealed = NULL, *plain = NULL;
  mw_err err = {0};
  mw_status st = mon__store(c)->privacy_key_get(c, &sealed);
  if(!st)
    st = mw_secret_get(c, MW_SECRET_PRIVACY_KEY, "privacy", sealed, &plain, &err);
  if(!st && !unhex32(plain, key)) {
    mw_log(MW_LOG_ERROR, "monitor", "the stored privacy key is malformed");
    st = MW_EINTERNAL;
  }
  mw_err_clear(&err);
  mw_secret_free(plain);
  free(sealed);
  return st;
}

/* Makes a key and stores it sealed, unless another process did first. */
static mw_status key_create(mw_conn *c) {
  unsigned char raw[32];
  char hex[65], *sealed = NULL;
  mw_status st = mw_random_bytes(raw, sizeof raw);
  static const char digits[] = "0123456789abcdef";
  for(int i = 0; !st && i < 32; i++) {
    hex[2 * i] = digits[raw[i] >> 4];
    hex[2 * i + 1] = digits[raw[i] & 15];
  }
  hex[64] = 0;
  if(!st)
    st = mw_secret_put(c, MW_SECRET_PRIVACY_KEY, "privacy", hex, &sealed);
  explicit_bzero(raw, sizeof raw);
  explicit_bzero(hex, sizeof hex);
  if(!st && !(st = mw_tx_begin(c))) {
    st = mon__store(c)->privacy_key_put(c, sealed, mw_now_ms());
    if(!st)
      st = mw_tx_commit(c);
    if(st)
      mw_tx_rollback(c);
  }
  free(sealed);
  if(!st)
    mw_log(MW_LOG_INFO, "monitor",
           "made the privacy key of hashed columns (kept sealed under the "
           "secret key)");
  return st;
}

static mw_status key_get(mon_ctx *m, mw_conn *c, unsigned char key[32]) {
  if(m) {
    pthread_mutex_lock(&m->pk_mu);
    bool have = m->pk_loaded;
    if(have)
      memcpy(key, m->pk, 32);
    pthread_mutex_unlock(&m->pk_mu);
    if(have)
      return MW_OK;
  }
  mw_status st = key_read(c, key);
  if(st == MW_ENOTFOUND && mw_tx_state(c) == 0 && !(st = key_create(c)))
    st = key_read(c, key);
  if(st == MW_ENOTFOUND)
    st = MW_EINTERNAL; /* inside a transaction with no key yet: a bug */
  if(!st && m) {
    pthread_mutex_lock(&m->pk_mu);
    memcpy(m->pk, key, 32);
    m->pk_loaded = true;
    pthread_mutex_unlock(&m->pk_mu);
  }
  return st;
}

mw_status mon__privacy_attach(mon_ctx *m, mw_conn *c, const char *model,
                              mon_schema *s) {
  bool any = false;
  for(size_t i = 0; i < s->ncols; i++)
    any |= s->cols[i].privacy == MON_PRIVACY_HASH;
  if(!any)
    return MW_OK;
  unsigned char key[32];
  mw_status st = key_get(m, c, key);
  if(st)
    return st;
  static const char domain[] = "modelwatch/privacy/v1";
  mw_buf info;
  mw_buf_init(&info, 4096);
  for(size_t i = 0; !st && i < s->ncols; i++) {
    mon_column *col = &s->cols[i];
    if(col->privacy != MON_PRIVACY_HASH)
      continue;
    info.len = 0;
    /* Each part with its NUL: no two (model, column) give the same text. */
    if(!(st = mw_buf_append(&info, domain, sizeof domain)) &&
       !(st = mw_buf_append(&info, model, strlen(model) + 1)))
      st = mw_buf_append(&info, col->name, strlen(col->name) + 1);
    if(!st) {
      mw_hmac_sha256(key, sizeof key, info.data, info.len, col->hkey);
      col->has_hkey = true;
    }
  }
  mw_buf_free(&info);
  explicit_bzero(key, sizeof key);
  return st;
}
