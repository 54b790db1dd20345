/* registry/aliases.c - aliases (staging, production, ...) with an
 * append-only history, compare-and-swap moves and rollback. Each move is one
 * transaction with its history row, audit row and the alias.moved events
 * for every serving node of the model (written to the outbox). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "registry/internal.h"

mw_status reg_alias_lookup(mw_conn *c, const char *model, const char *alias,
                           int64_t *version, mw_err *err) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT v.version FROM aliases a JOIN models m ON m.id = a.model_id "
         "JOIN model_versions v ON v.id = a.version_id "
         "WHERE m.name = ? AND a.alias = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, model);
  mw_bind_text(st, 2, alias);
  mw_status s = mw_step_one(c, st);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "model '%s' has no alias '%s'", model, alias);
  if(s)
    return s;
  *version = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

/* Current version of an alias inside a transaction; 0 when unset. */
static mw_status current_version(mw_conn *c, int64_t mid, const char *alias,
                                 int64_t *out) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT v.version FROM aliases a JOIN model_versions v "
         "ON v.id = a.version_id WHERE a.model_id = ? AND a.alias = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, mid);
  mw_bind_text(st, 2, alias);
  int row = 0;
  mw_status s = mw_step_row(c, st, &row);
  *out = row ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  return s;
}

/* One alias.moved event per node serving the model. */
static mw_status enqueue_moves(mw_conn *c, const struct reg_env *env, int64_t mid,
                               const char *model, const char *alias,
                               int64_t from, int64_t to, const char *sha256,
                               int64_t size, const char *reason, int64_t at) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT n.name, n.url FROM nodes n JOIN node_models nm "
         "ON nm.node_id = n.id WHERE nm.model_id = ? ORDER BY n.name");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, mid);
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", "alias.moved");
  cJSON_AddStringToObject(p, "model", model);
  cJSON_AddStringToObject(p, "alias", alias);
  if(from > 0)
    cJSON_AddNumberToObject(p, "from_version", (double)from);
  else
    cJSON_AddNullToObject(p, "from_version");
  cJSON_AddNumberToObject(p, "to_version", (double)to);
  cJSON *art = cJSON_AddObjectToObject(p, "artifact");
  char url[1400];
  snprintf(url, sizeof url, "%s/api/v1/models/%s/versions/%lld/artifact",
           env->external_url, model, (long long)to);
  cJSON_AddStringToObject(art, "url", url);
  cJSON_AddStringToObject(art, "sha256", sha256);
  cJSON_AddNumberToObject(art, "size", (double)size);
  if(reason)
    cJSON_AddStringToObject(p, "reason", reason);
  else
    cJSON_AddNullToObject(p, "reason");
  mw_json_add_time(p, "at", at);
  mw_status s;
  int row = 0;
  /* Writing the outbox while this SELECT over nodes is open is fine: the
   * two touch different tables on one connection. */
  while(!(s = mw_step_row(c, st, &row)) && row &&
        !(s = mw_outbox_enqueue(c, "alias.moved", "node", mw_col_text(st, 0),
                                mw_col_text(st, 1), p, NULL)))
    ;
  sqlite3_reset(st);
  cJSON_Delete(p);
  return s;
}

/* Moves alias (inside an open transaction) to version `to`; kind is 'set' or
 * 'rollback'. Fills out. */
static mw_status move_alias(mw_conn *c, const struct reg_env *env, int64_t mid,
                            const char *model, const char *alias, int64_t from,
                            int64_t to, const char *kind, const char *reason,
                            const char *actor, cJSON **out, mw_err *err) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT id, status, sha256, size FROM model_versions "
         "WHERE model_id = ? AND version = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, mid);
  sqlite3_bind_int64(st, 2, to);
  mw_status s = mw_step_one(c, st);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "model '%s' has no version %lld", model, (long long)to);
  if(s)
    return s;
  int64_t vid = sqlite3_column_int64(st, 0);
  int ready = !strcmp(mw_col_text(st, 1), "ready");
  char sha[65];
  mw_strlcpy(sha, mw_col_text(st, 2), sizeof sha);
  int64_t size = sqlite3_column_int64(st, 3);
  sqlite3_reset(st);
  if(!ready)
    return mw_errf(err, MW_EVALIDATION,
                   "version %lld is pending: upload its artifact before aliasing it",
                   (long long)to);
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "alias", alias);
  cJSON_AddNumberToObject(res, "version", (double)to);
  if(from > 0)
    cJSON_AddNumberToObject(res, "previous_version", (double)from);
  else
    cJSON_AddNullToObject(res, "previous_version");
  if(from == to) {
    /* Already there: an idempotent retry changes nothing and notifies
     * nobody. */
    *out = res;
    return MW_OK;
  }
  int64_t now = mw_now_ms();
  /* Each statement is prepared and stepped by one call whose status is
   * the only thing carried on: no result code outlives its statement. */
  st = mw_stmt(c, "INSERT INTO aliases(model_id, alias, version_id, updated_at) "
                  "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(model_id, alias) DO UPDATE "
                  "SET version_id = ?3, updated_at = ?4");
  if(st) {
    sqlite3_bind_int64(st, 1, mid);
    mw_bind_text(st, 2, alias);
    sqlite3_bind_int64(st, 3, vid);
    sqlite3_bind_int64(st, 4, now);
  }
  if((s = mw_step_done(c, st)))
    goto fail;
  st = mw_stmt(c, "INSERT INTO alias_history(model_id, alias, kind, version, "
                  "previous_version, actor, reason, at) "
                  "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, mid);
    mw_bind_text(st, 2, alias);
    mw_bind_text(st, 3, kind);
    sqlite3_bind_int64(st, 4, to);
    if(from > 0)
      sqlite3_bind_int64(st, 5, from);
    else
      sqlite3_bind_null(st, 5);
    mw_bind_text(st, 6, actor);
    mw_bind_text(st, 7, reason);
    sqlite3_bind_int64(st, 8, now);
  }
  if((s = mw_step_done(c, st)))
    goto fail;
  char target[300];
  snprintf(target, sizeof target, "%s@%s", model, alias);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddNumberToObject(det, "version", (double)to);
  if(from > 0)
    cJSON_AddNumberToObject(det, "previous_version", (double)from);
  if(reason)
    cJSON_AddStringToObject(det, "reason", reason);
  s = mw_audit(c, actor, !strcmp(kind, "rollback") ? "alias.rollback" : "alias.set",
               target, det);
  cJSON_Delete(det);
  if(!s)
    s = enqueue_moves(c, env, mid, model, alias, from, to, sha, size, reason, now);
  if(s)
    goto fail;
  *out = res;
  return MW_OK;
fail:
  assert(s != MW_OK);
  cJSON_Delete(res);
  return s;
}

static mw_status check_reason(const char *reason, mw_err *err) {
  if(reason && strlen(reason) > 4096)
    return mw_errf(err, MW_EVALIDATION, "reason is longer than 4096 bytes");
  return MW_OK;
}

mw_status reg_alias_set(mw_conn *c, const struct reg_env *env, const char *model,
                        const char *alias, int64_t version, const cJSON *expected,
                        const char *reason, const char *actor, cJSON **out,
                        mw_err *err) {
  *out = NULL;
  if(!mw_name_valid(alias))
    return mw_errf(err, MW_EVALIDATION,
                   "alias must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  if(strspn(alias, "0123456789") == strlen(alias))
    return mw_errf(err, MW_EVALIDATION,
                   "alias '%s' is all digits: in .../versions/{v} a number is a "
                   "version, so such an alias could never be named there",
                   alias);
  if(version <= 0)
    return mw_errf(err, MW_EVALIDATION, "version must be a positive integer");
  int64_t want = 0;
  if(expected && !cJSON_IsNull(expected) && !mw_json_int(expected, &want))
    return mw_errf(err, MW_EVALIDATION, "expected_version must be an integer or null");
  mw_status s = check_reason(reason, err);
  if(s)
    return s;
  s = mw_tx_begin(c);
  if(s)
    return s;
  int64_t mid = 0, cur = 0;
  s = reg__model_id(c, model, &mid, err);
  if(!s)
    s = current_version(c, mid, alias, &cur);
  if(s)
    goto out;
  if(expected) {
    if(want != cur) {
      cJSON *det = cJSON_CreateObject();
      if(cur > 0)
        cJSON_AddNumberToObject(det, "current_version", (double)cur);
      else
        cJSON_AddNullToObject(det, "current_version");
      if(err)
        err->details = det;
      else
        cJSON_Delete(det);
      s = cur > 0 ? mw_errf(err, MW_ECONFLICT,
                            "alias '%s' points to version %lld, not the expected one",
                            alias, (long long)cur)
                  : mw_errf(err, MW_ECONFLICT,
                            "alias '%s' does not exist, not the expected version",
                            alias);
      goto out;
    }
  }
  s = move_alias(c, env, mid, model, alias, cur, version, "set", reason, actor, out,
                 err);
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
out:
  mw_tx_rollback(c);
  return s;
}

mw_status reg_alias_delete(mw_conn *c, const char *model, const char *alias,
                           const char *reason, const char *actor, mw_err *err) {
  mw_status s = check_reason(reason, err);
  if(s)
    return s;
  s = mw_tx_begin(c);
  if(s)
    return s;
  int64_t mid = 0, cur = 0;
  s = reg__model_id(c, model, &mid, err);
  if(!s)
    s = current_version(c, mid, alias, &cur);
  if(!s && cur == 0)
    s = mw_errf(err, MW_ENOTFOUND, "model '%s' has no alias '%s'", model, alias);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM aliases WHERE model_id = ? AND alias = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, mid);
    mw_bind_text(st, 2, alias);
  }
  if((s = mw_step_done(c, st)))
    goto out;
  st = mw_stmt(c, "INSERT INTO alias_history(model_id, alias, kind, version, "
                  "previous_version, actor, reason, at) "
                  "VALUES(?, ?, 'delete', NULL, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, mid);
    mw_bind_text(st, 2, alias);
    sqlite3_bind_int64(st, 3, cur);
    mw_bind_text(st, 4, actor);
    mw_bind_text(st, 5, reason);
    sqlite3_bind_int64(st, 6, mw_now_ms());
  }
  s = mw_step_done(c, st);
  char target[300];
  snprintf(target, sizeof target, "%s@%s", model, alias);
  if(!s)
    s = mw_audit(c, actor, "alias.delete", target, NULL);
  if(!s)
    return mw_tx_commit(c);
out:
  mw_tx_rollback(c);
  return s;
}

mw_status reg_alias_history(mw_conn *c, const char *model, const char *alias,
                            int limit, cJSON **out, mw_err *err) {
  *out = NULL;
  int64_t mid;
  mw_status s = reg__model_id(c, model, &mid, err);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT version, previous_version, kind, actor, reason, at "
         "FROM alias_history WHERE model_id = ? AND alias = ? "
         "ORDER BY id DESC LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, mid);
  mw_bind_text(st, 2, alias);
  sqlite3_bind_int(st, 3, reg__limit(limit));
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "alias", alias);
  cJSON *arr = cJSON_AddArrayToObject(root, "history");
  int row = 0;
  while(!(s = mw_step_row(c, st, &row)) && row) {
    cJSON *h = cJSON_CreateObject();
    for(int col = 0; col < 2; col++) {
      const char *key = col == 0 ? "version" : "previous_version";
      if(sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(h, key);
      else
        cJSON_AddNumberToObject(h, key, (double)sqlite3_column_int64(st, col));
    }
    cJSON_AddStringToObject(h, "kind", mw_col_text(st, 2));
    cJSON_AddStringToObject(h, "actor", mw_col_text(st, 3));
    if(sqlite3_column_type(st, 4) == SQLITE_NULL)
      cJSON_AddNullToObject(h, "reason");
    else
      cJSON_AddStringToObject(h, "reason", mw_col_text(st, 4));
    mw_json_add_time(h, "at", sqlite3_column_int64(st, 5));
    cJSON_AddItemToArray(arr, h);
  }
  sqlite3_reset(st);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

/* Replays the alias's history as a stack: a set pushes its version, a
 * rollback pops back to the version it moved to, a delete empties it. The
 * entry below the top is where a rollback goes. */
static mw_status rollback_target(mw_conn *c, int64_t mid, const char *alias,
                                 int64_t *target) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT kind, version FROM alias_history WHERE model_id = ? "
         "AND alias = ? ORDER BY id");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, mid);
  mw_bind_text(st, 2, alias);
  size_t n = 0, cap = 64;
  int64_t *stack = malloc(cap * sizeof *stack);
  if(!stack) {
    sqlite3_reset(st);
    return MW_ENOMEM;
  }
  int row = 0;
  mw_status s;
  while(!(s = mw_step_row(c, st, &row)) && row) {
    const char *kind = mw_col_text(st, 0);
    int64_t v = sqlite3_column_int64(st, 1);
    if(!strcmp(kind, "delete")) {
      n = 0;
    } else if(!strcmp(kind, "rollback")) {
      while(n > 0 && stack[n - 1] != v)
        n--;
      if(n == 0)
        stack[n++] = v; /* rolled to a version not on the stack */
    } else {
      if(n == cap) {
        int64_t *ns = realloc(stack, 2 * cap * sizeof *stack);
        if(!ns) {
          free(stack);
          sqlite3_reset(st);
          return MW_ENOMEM;
        }
        stack = ns;
        cap *= 2;
      }
      stack[n++] = v;
    }
  }
  sqlite3_reset(st);
  *target = !s && n >= 2 ? stack[n - 2] : 0;
  free(stack);
  return s;
}

mw_status reg_alias_rollback_tx(mw_conn *c, const struct reg_env *env,
                                const char *model, const char *alias,
                                int64_t to_version, const char *reason,
                                const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status s = check_reason(reason, err);
  if(s)
    return s;
  int64_t mid = 0, cur = 0, target = to_version;
  s = reg__model_id(c, model, &mid, err);
  if(!s)
    s = current_version(c, mid, alias, &cur);
  if(!s && cur == 0)
    s = mw_errf(err, MW_ENOTFOUND, "model '%s' has no alias '%s'", model, alias);
  if(!s && target <= 0) {
    s = rollback_target(c, mid, alias, &target);
    if(!s && target <= 0)
      s = mw_errf(err, MW_ECONFLICT,
                  "alias '%s' has no earlier version to roll back to", alias);
  }
  if(!s && target == cur)
    s = mw_errf(err, MW_ECONFLICT, "alias '%s' already points to version %lld",
                alias, (long long)cur);
  if(!s)
    s = move_alias(c, env, mid, model, alias, cur, target, "rollback", reason,
                   actor, out, err);
  return s;
}

mw_status reg_alias_rollback(mw_conn *c, const struct reg_env *env,
                             const char *model, const char *alias,
                             int64_t to_version, const char *reason,
                             const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = reg_alias_rollback_tx(c, env, model, alias, to_version, reason, actor, out,
                            err);
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    mw_tx_rollback(c);
    cJSON_Delete(*out);
    *out = NULL;
  }
  return s;
}
