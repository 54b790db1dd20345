/* core/auth.c - API tokens (stored as sha256, compared in constant time),
 * scopes and the audit log. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

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

mw_status mw_token_create(mw_conn *c, const char *name, unsigned scopes,
                          const char *actor, char *secret, size_t cap) {
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
  sqlite3_stmt *ins = mw_stmt(
      c, "INSERT INTO tokens(name, prefix, hash, scopes, created_at, created_by)"
         " VALUES(?, ?, ?, ?, ?, ?)");
  if(!ins) {
    st = MW_EDB;
    goto out;
  }
  mw_bind_text(ins, 1, name);
  mw_bind_text(ins, 2, prefix);
  mw_bind_text(ins, 3, hash);
  sqlite3_bind_int(ins, 4, (int)scopes);
  sqlite3_bind_int64(ins, 5, mw_now_ms());
  mw_bind_text(ins, 6, actor);
  int rc = sqlite3_step(ins);
  st = mw_db_status(c, rc);
  if(st)
    goto out;
  cJSON *det = cJSON_CreateArray();
  mw_scope_to_json(scopes, det);
  cJSON *wrap = cJSON_CreateObject();
  cJSON_AddItemToObject(wrap, "scopes", det);
  st = mw_audit(c, actor, "token.create", name, wrap);
  cJSON_Delete(wrap);
  if(st)
    goto out;
  st = mw_tx_commit(c);
  if(st)
    secret[0] = '\0';
  return st;
out:
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
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT id, name, hash, scopes FROM tokens WHERE prefix = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, prefix);
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MW_EUNAUTH : mw_db_status(c, rc);
  }
  char want[65];
  mw_sha256_hex(token, n, want);
  const char *stored = mw_col_text(st, 2);
  int ok = strlen(stored) == 64 && mw_ct_equal(stored, want, 64);
  if(ok) {
    info->id = sqlite3_column_int64(st, 0);
    mw_strlcpy(info->name, mw_col_text(st, 1), sizeof info->name);
    info->scopes = (unsigned)sqlite3_column_int(st, 3);
  }
  sqlite3_reset(st);
  return ok ? MW_OK : MW_EUNAUTH;
}

mw_status mw_token_delete(mw_conn *c, const char *name, const char *actor) {
  return mw_delete_named(c, "DELETE FROM tokens WHERE name = ?", name, actor,
                         "token.delete", "token", NULL);
}

mw_status mw_delete_named(mw_conn *c, const char *sql, const char *name,
                          const char *actor, const char *action,
                          const char *what, mw_err *err) {
  mw_status st = mw_tx_begin(c);
  if(st)
    return st;
  sqlite3_stmt *del = mw_stmt(c, sql);
  if(!del) {
    st = MW_EDB;
    goto out;
  }
  mw_bind_text(del, 1, name);
  st = mw_db_status(c, sqlite3_step(del));
  sqlite3_reset(del);
  if(!st && sqlite3_changes(mw_conn_handle(c)) == 0)
    st = mw_errf(err, MW_ENOTFOUND, "no %s named '%s'", what, name);
  if(!st)
    st = mw_audit(c, actor, action, name, NULL);
  if(!st)
    return mw_tx_commit(c);
out:
  mw_tx_rollback(c);
  return st;
}

mw_status mw_token_list(mw_conn *c, cJSON **out) {
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT name, scopes, created_at, created_by FROM tokens ORDER BY name");
  if(!st)
    return MW_EDB;
  cJSON *arr = cJSON_CreateArray();
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", mw_col_text(st, 0));
    cJSON *sc = cJSON_AddArrayToObject(t, "scopes");
    mw_scope_to_json((unsigned)sqlite3_column_int(st, 1), sc);
    mw_json_add_time(t, "created_at", sqlite3_column_int64(st, 2));
    cJSON_AddStringToObject(t, "created_by", mw_col_text(st, 3));
    cJSON_AddItemToArray(arr, t);
  }
  sqlite3_reset(st);
  if(rc != SQLITE_DONE) {
    cJSON_Delete(arr);
    return mw_db_status(c, rc);
  }
  *out = arr;
  return MW_OK;
}

mw_status mw_token_count(mw_conn *c, int64_t *out) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT count(*) FROM tokens");
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW)
    return mw_db_status(c, rc);
  *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

mw_status mw_audit(mw_conn *c, const char *actor, const char *action,
                   const char *target, const cJSON *details) {
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO audit_log(at, actor, action, target, details) "
         "VALUES(?, ?, ?, ?, ?)");
  if(!st)
    return MW_EDB;
  char *det = details ? cJSON_PrintUnformatted(details) : NULL;
  sqlite3_bind_int64(st, 1, mw_now_ms());
  mw_bind_text(st, 2, actor ? actor : "system");
  mw_bind_text(st, 3, action);
  mw_bind_text(st, 4, target);
  mw_bind_text(st, 5, det);
  int rc = sqlite3_step(st);
  cJSON_free(det);
  sqlite3_reset(st);
  return mw_db_status(c, rc);
}

mw_status mw_session_create(mw_conn *c, int64_t token_id, int64_t ttl_ms,
                            char sid[64], char csrf[64]) {
  if(mw_random_token(sid, 48) || mw_random_token(csrf, 32))
    return MW_EINTERNAL;
  char hash[65];
  mw_sha256_hex(sid, strlen(sid), hash);
  int64_t now = mw_now_ms();
  mw_status st = mw_tx_begin(c);
  if(st)
    return st;
  /* Expired sessions are swept whenever a new one starts. */
  sqlite3_stmt *del = mw_stmt(c, "DELETE FROM sessions WHERE expires_at <= ?");
  sqlite3_stmt *ins = mw_stmt(c, "INSERT INTO sessions(hash, token_id, csrf, "
                                 "created_at, expires_at) VALUES(?, ?, ?, ?, ?)");
  if(!del || !ins) {
    mw_tx_rollback(c);
    return MW_EDB;
  }
  sqlite3_bind_int64(del, 1, now);
  st = mw_db_status(c, sqlite3_step(del));
  sqlite3_reset(del);
  if(!st) {
    mw_bind_text(ins, 1, hash);
    sqlite3_bind_int64(ins, 2, token_id);
    mw_bind_text(ins, 3, csrf);
    sqlite3_bind_int64(ins, 4, now);
    sqlite3_bind_int64(ins, 5, now + ttl_ms);
    st = mw_db_status(c, sqlite3_step(ins));
    sqlite3_reset(ins);
  }
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
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT t.id, t.name, t.scopes, s.csrf FROM sessions s JOIN tokens t "
         "ON t.id = s.token_id WHERE s.hash = ? AND s.expires_at > ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, hash);
  sqlite3_bind_int64(st, 2, mw_now_ms());
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW) {
    info->id = sqlite3_column_int64(st, 0);
    mw_strlcpy(info->name, mw_col_text(st, 1), sizeof info->name);
    info->scopes = (unsigned)sqlite3_column_int(st, 2);
    mw_strlcpy(csrf, mw_col_text(st, 3), 64);
  }
  sqlite3_reset(st);
  if(rc == SQLITE_ROW)
    return MW_OK;
  return rc == SQLITE_DONE ? MW_EUNAUTH : mw_db_status(c, rc);
}

mw_status mw_session_delete(mw_conn *c, const char *sid) {
  if(!sid || strlen(sid) != 48)
    return MW_OK;
  char hash[65];
  mw_sha256_hex(sid, 48, hash);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM sessions WHERE hash = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, hash);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return mw_db_status(c, rc);
}
