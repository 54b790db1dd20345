/* registry/models.c - models: create, get, list with keyset pagination and
 * search, update, delete; plus helpers the other registry files share. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "registry/internal.h"

mw_status reg__model_id(mw_conn *c, const char *name, int64_t *id, mw_err *err) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id FROM models WHERE name = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, name);
  mw_status s = mw_step_one(c, st);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "no model named '%s'", name);
  if(s)
    return s;
  *id = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

cJSON *reg__json_col(sqlite3_stmt *st, int col) {
  const char *t = (const char *)sqlite3_column_text(st, col);
  cJSON *j = t ? cJSON_Parse(t) : NULL;
  return j ? j : cJSON_CreateObject();
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
      return mw_errf(err, MW_EVALIDATION, "%s.%.64s must be a %s", field,
                     it->string,
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

/* Builds the JSON of the model in the current row of st (id, name,
 * description, tags, created_at, updated_at) with its aliases and latest
 * version. */
static mw_status model_json(mw_conn *c, sqlite3_stmt *st, cJSON **out) {
  int64_t id = sqlite3_column_int64(st, 0);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "name", mw_col_text(st, 1));
  cJSON_AddStringToObject(m, "description", mw_col_text(st, 2));
  cJSON_AddItemToObject(m, "tags", reg__json_col(st, 3));
  mw_json_add_time(m, "created_at", sqlite3_column_int64(st, 4));
  mw_json_add_time(m, "updated_at", sqlite3_column_int64(st, 5));
  cJSON *aliases = cJSON_AddObjectToObject(m, "aliases");
  sqlite3_stmt *a = mw_stmt(c, "SELECT a.alias, v.version FROM aliases a "
                               "JOIN model_versions v ON v.id = a.version_id "
                               "WHERE a.model_id = ? ORDER BY a.alias");
  sqlite3_stmt *v = NULL;
  mw_status s = MW_EDB;
  int row = 0;
  if(!a)
    goto fail;
  sqlite3_bind_int64(a, 1, id);
  while(!(s = mw_step_row(c, a, &row)) && row)
    cJSON_AddNumberToObject(aliases, mw_col_text(a, 0),
                            (double)sqlite3_column_int64(a, 1));
  sqlite3_reset(a);
  if(s)
    goto fail;
  v = mw_stmt(c, "SELECT max(version), count(*) FROM model_versions "
                 "WHERE model_id = ?");
  if(v)
    sqlite3_bind_int64(v, 1, id);
  /* An aggregate without GROUP BY always gives its row. */
  if((s = mw_step_one(c, v)) == MW_ENOTFOUND)
    s = MW_EINTERNAL;
  if(s)
    goto fail;
  if(sqlite3_column_type(v, 0) == SQLITE_NULL)
    cJSON_AddNullToObject(m, "latest_version");
  else
    cJSON_AddNumberToObject(m, "latest_version", (double)sqlite3_column_int64(v, 0));
  cJSON_AddNumberToObject(m, "version_count", (double)sqlite3_column_int64(v, 1));
  sqlite3_reset(v);
  *out = m;
  return MW_OK;
fail:
  assert(s != MW_OK);
  cJSON_Delete(m);
  return s;
}

#define MODEL_COLS "id, name, description, tags, created_at, updated_at"

mw_status reg_model_get(mw_conn *c, const char *name, cJSON **out, mw_err *err) {
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT " MODEL_COLS " FROM models WHERE name = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, name);
  mw_status s = mw_step_one(c, st);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "no model named '%s'", name);
  if(s)
    return s;
  s = model_json(c, st, out);
  sqlite3_reset(st);
  return s;
}

/* The end of a change to model name: its answer is read inside the open
 * transaction, then COMMIT. Read after COMMIT, a failure would report an
 * error for a change that was made (and a retry would make it twice). */
static mw_status answer_then_commit(mw_conn *c, const char *name, cJSON **out,
                                    mw_err *err) {
  mw_status s = reg_model_get(c, name, out, err);
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
  return s;
}

mw_status reg_model_create(mw_conn *c, const char *name, const char *description,
                           const cJSON *tags, const char *actor, cJSON **out,
                           mw_err *err) {
  *out = NULL;
  if(!mw_name_valid(name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and "
                   "not start with '.'");
  if(description && strlen(description) > 65536)
    return mw_errf(err, MW_EVALIDATION, "description is longer than 65536 bytes");
  mw_status s = reg__check_map(tags, "tags", REG_MAP_STRINGS, err);
  if(s)
    return s;
  char *tagtxt = tags && !cJSON_IsNull(tags) ? cJSON_PrintUnformatted(tags) : NULL;
  s = mw_tx_begin(c);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO models(name, description, tags, "
                                "created_at, updated_at) VALUES(?, ?, ?, ?, ?)");
  int64_t now = mw_now_ms();
  if(st) {
    mw_bind_text(st, 1, name);
    mw_bind_text(st, 2, description ? description : "");
    mw_bind_text(st, 3, tagtxt ? tagtxt : "{}");
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, now);
  }
  s = mw_step_done(c, st);
  if(s == MW_ECONFLICT) {
    mw_errf(err, s, "a model named '%s' already exists", name);
    goto out;
  }
  if(!s)
    s = mw_audit(c, actor, "model.create", name, NULL);
  if(!s)
    s = answer_then_commit(c, name, out, err);
out:
  mw_tx_rollback(c);
  cJSON_free(tagtxt);
  return s;
}

mw_status reg_model_list(mw_conn *c, const char *q, int limit,
                         const char *page_token, cJSON **out, mw_err *err) {
  *out = NULL;
  limit = reg__limit(limit);
  char after[300] = "";
  if(page_token && *page_token && !reg__page_decode(page_token, after, sizeof after))
    return mw_errf(err, MW_EINVAL, "page_token is not one this server issued");
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT " MODEL_COLS " FROM models WHERE name > ?1 "
         "AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0) "
         "ORDER BY name LIMIT ?3");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, after);
  mw_bind_text(st, 2, q && *q ? q : NULL);
  sqlite3_bind_int(st, 3, limit + 1);
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "models");
  int n = 0, row = 0;
  char last[300] = "";
  int more = 0;
  mw_status s;
  while(!(s = mw_step_row(c, st, &row)) && row) {
    if(n == limit) {
      more = 1;
      break;
    }
    cJSON *m = NULL;
    s = model_json(c, st, &m);
    if(s)
      break;
    mw_strlcpy(last, mw_col_text(st, 1), sizeof last);
    cJSON_AddItemToArray(arr, m);
    n++;
  }
  sqlite3_reset(st);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  if(more) {
    char tok[600];
    reg__page_token(last, tok, sizeof tok);
    cJSON_AddStringToObject(root, "next_page_token", tok);
  } else {
    cJSON_AddNullToObject(root, "next_page_token");
  }
  *out = root;
  return MW_OK;
}

mw_status reg_model_update(mw_conn *c, const char *name, const char *description,
                           const cJSON *tags, const char *actor, cJSON **out,
                           mw_err *err) {
  *out = NULL;
  if(description && strlen(description) > 65536)
    return mw_errf(err, MW_EVALIDATION, "description is longer than 65536 bytes");
  mw_status s = reg__check_map(tags, "tags", REG_MAP_STRINGS, err);
  if(s)
    return s;
  char *tagtxt = tags && !cJSON_IsNull(tags) ? cJSON_PrintUnformatted(tags) : NULL;
  s = mw_tx_begin(c);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(
      c, "UPDATE models SET description = coalesce(?1, description), "
         "tags = coalesce(?2, tags), updated_at = ?3 WHERE name = ?4");
  if(st) {
    mw_bind_text(st, 1, description);
    mw_bind_text(st, 2, tagtxt);
    sqlite3_bind_int64(st, 3, mw_now_ms());
    mw_bind_text(st, 4, name);
  }
  s = mw_step_done(c, st);
  if(!s && sqlite3_changes(mw_conn_handle(c)) == 0)
    s = mw_errf(err, MW_ENOTFOUND, "no model named '%s'", name);
  if(!s)
    s = mw_audit(c, actor, "model.update", name, NULL);
  if(!s)
    s = answer_then_commit(c, name, out, err);
out:
  mw_tx_rollback(c);
  cJSON_free(tagtxt);
  return s;
}

mw_status reg_model_delete(mw_conn *c, const char *name, const char *actor,
                           mw_err *err) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  int64_t id = 0;
  s = reg__model_id(c, name, &id, err);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(c, "SELECT group_concat(alias, ', ') FROM aliases "
                                "WHERE model_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, id);
  /* A failed step used to read as "no aliases" and went on to delete. */
  if((s = mw_step_one(c, st)) == MW_ENOTFOUND)
    s = MW_EINTERNAL; /* an aggregate always gives its row */
  if(s)
    goto out;
  if(sqlite3_column_type(st, 0) != SQLITE_NULL) {
    s = mw_errf(err, MW_ECONFLICT,
                "model '%s' still has aliases (%s); delete them first", name,
                mw_col_text(st, 0));
    sqlite3_reset(st);
    goto out;
  }
  sqlite3_reset(st);
  st = mw_stmt(c, "DELETE FROM models WHERE id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, id);
  s = mw_step_done(c, st);
  if(!s)
    s = mw_audit(c, actor, "model.delete", name, NULL);
  if(!s)
    return mw_tx_commit(c);
out:
  mw_tx_rollback(c);
  return s;
}
