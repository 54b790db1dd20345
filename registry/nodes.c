/* registry/nodes.c - serving nodes: what they serve, the version each
 * should run (from the alias it follows) and the version it reports. */
#include <stdio.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "registry/internal.h"

mw_status reg_node_create(mw_conn *c, const cJSON *body, int allow_private,
                          const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  const char *name = mw_json_str(body, "name");
  const char *url = mw_json_str(body, "url");
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(body, "models");
  if(!mw_name_valid(name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  mw_status s = mw_url_check_target(url, allow_private, err);
  if(s)
    return s;
  if(!cJSON_IsArray(models))
    return mw_errf(err, MW_EVALIDATION, "models must be an array of model names");
  char secret[48];
  if(mw_webhook_secret_new(secret))
    return MW_EINTERNAL;

  s = mw_tx_begin(c);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO nodes(name, url, secret, created_at) "
                                "VALUES(?, ?, ?, ?)");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  mw_bind_text(st, 1, name);
  mw_bind_text(st, 2, url);
  mw_bind_text(st, 3, secret);
  sqlite3_bind_int64(st, 4, mw_now_ms());
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(s == MW_ECONFLICT)
    mw_errf(err, s, "a node named '%s' already exists", name);
  if(s)
    goto out;
  int64_t nid = sqlite3_last_insert_rowid(mw_conn_handle(c));
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    const char *mname = cJSON_IsString(m) ? m->valuestring : mw_json_str(m, "name");
    const char *alias = cJSON_IsObject(m) ? mw_json_str(m, "alias") : NULL;
    if(!alias)
      alias = "production";
    int64_t mid;
    if(!mname || !mw_name_valid(alias)) {
      s = mw_errf(err, MW_EVALIDATION,
                  "models[%d] must be a model name or {name, alias}", i);
      goto out;
    }
    s = reg__model_id(c, mname, &mid, err);
    if(s == MW_ENOTFOUND)
      s = mw_errf(err, MW_EVALIDATION, "models[%d]: no model named '%s'", i, mname);
    if(s)
      goto out;
    st = mw_stmt(c, "INSERT OR REPLACE INTO node_models(node_id, model_id, alias) "
                    "VALUES(?, ?, ?)");
    if(!st) {
      s = MW_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, nid);
    sqlite3_bind_int64(st, 2, mid);
    mw_bind_text(st, 3, alias);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
    if(s)
      goto out;
    i++;
  }
  s = mw_audit(c, actor, "node.create", name, NULL);
  if(!s)
    s = mw_tx_commit(c);
  if(!s)
    s = reg_node_get(c, name, out, err);
  if(!s)
    cJSON_AddStringToObject(*out, "secret", secret);
out:
  mw_tx_rollback(c);
  return s;
}

/* JSON of the node in the current row of st (id, name, url, created_at,
 * last_seen_at). */
static mw_status node_json(mw_conn *c, sqlite3_stmt *st, cJSON **out) {
  int64_t nid = sqlite3_column_int64(st, 0);
  cJSON *n = cJSON_CreateObject();
  cJSON_AddStringToObject(n, "name", mw_col_text(st, 1));
  cJSON_AddStringToObject(n, "url", mw_col_text(st, 2));
  mw_json_add_time(n, "created_at", sqlite3_column_int64(st, 3));
  mw_json_add_time(n, "last_seen_at", sqlite3_column_type(st, 4) == SQLITE_NULL
                                          ? -1
                                          : sqlite3_column_int64(st, 4));
  cJSON *arr = cJSON_AddArrayToObject(n, "models");
  sqlite3_stmt *m = mw_stmt(
      c, "SELECT m.name, nm.alias, v.version, ns.version, ns.state, "
         "ns.reported_at FROM node_models nm JOIN models m ON m.id = nm.model_id "
         "LEFT JOIN aliases a ON a.model_id = nm.model_id AND a.alias = nm.alias "
         "LEFT JOIN model_versions v ON v.id = a.version_id "
         "LEFT JOIN node_status ns ON ns.node_id = nm.node_id "
         "AND ns.model_name = m.name WHERE nm.node_id = ? ORDER BY m.name");
  if(!m) {
    cJSON_Delete(n);
    return MW_EDB;
  }
  sqlite3_bind_int64(m, 1, nid);
  int rc, all_in_sync = 1;
  while((rc = sqlite3_step(m)) == SQLITE_ROW) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", mw_col_text(m, 0));
    cJSON_AddStringToObject(e, "alias", mw_col_text(m, 1));
    int has_desired = sqlite3_column_type(m, 2) != SQLITE_NULL;
    int has_reported = sqlite3_column_type(m, 3) != SQLITE_NULL;
    if(has_desired)
      cJSON_AddNumberToObject(e, "desired_version", (double)sqlite3_column_int64(m, 2));
    else
      cJSON_AddNullToObject(e, "desired_version");
    if(has_reported)
      cJSON_AddNumberToObject(e, "reported_version",
                              (double)sqlite3_column_int64(m, 3));
    else
      cJSON_AddNullToObject(e, "reported_version");
    if(sqlite3_column_type(m, 4) != SQLITE_NULL) {
      cJSON_AddStringToObject(e, "state", mw_col_text(m, 4));
      mw_json_add_time(e, "reported_at", sqlite3_column_int64(m, 5));
    } else {
      cJSON_AddNullToObject(e, "state");
      cJSON_AddNullToObject(e, "reported_at");
    }
    int in_sync = has_desired && has_reported &&
                  sqlite3_column_int64(m, 2) == sqlite3_column_int64(m, 3);
    if(!in_sync)
      all_in_sync = 0;
    cJSON_AddBoolToObject(e, "in_sync", in_sync);
    cJSON_AddItemToArray(arr, e);
  }
  sqlite3_reset(m);
  if(rc != SQLITE_DONE) {
    cJSON_Delete(n);
    return mw_db_status(c, rc);
  }
  cJSON_AddBoolToObject(n, "in_sync", all_in_sync);
  *out = n;
  return MW_OK;
}

mw_status reg_node_get(mw_conn *c, const char *name, cJSON **out, mw_err *err) {
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, name, url, created_at, last_seen_at "
                                "FROM nodes WHERE name = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, name);
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? mw_errf(err, MW_ENOTFOUND, "no node named '%s'", name)
                             : mw_db_status(c, rc);
  }
  mw_status s = node_json(c, st, out);
  sqlite3_reset(st);
  return s;
}

mw_status reg_node_list(mw_conn *c, cJSON **out, mw_err *err) {
  (void)err;
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, name, url, created_at, last_seen_at "
                                "FROM nodes ORDER BY name");
  if(!st)
    return MW_EDB;
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "nodes");
  int rc;
  mw_status s = MW_OK;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *n = NULL;
    s = node_json(c, st, &n);
    if(s)
      break;
    cJSON_AddItemToArray(arr, n);
  }
  sqlite3_reset(st);
  if(!s && rc != SQLITE_DONE)
    s = mw_db_status(c, rc);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

mw_status reg_node_report(mw_conn *c, const char *name, const cJSON *body,
                          cJSON **out, mw_err *err) {
  *out = NULL;
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(body, "models");
  if(!cJSON_IsArray(models))
    return mw_errf(err, MW_EVALIDATION, "models must be an array of "
                                        "{name, version, state}");
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "version");
    const char *state = mw_json_str(m, "state");
    int64_t ver;
    if(!mw_name_valid(mw_json_str(m, "name")) ||
       !(cJSON_IsNull(v) || (mw_json_int(v, &ver) && ver >= 1)) ||
       (state && strlen(state) > 64))
      return mw_errf(err, MW_EVALIDATION,
                     "models[%d] must be {name, version: integer >= 1 or null, "
                     "state?: string}", i);
    i++;
  }
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(c, "UPDATE nodes SET last_seen_at = ? WHERE name = ? "
                                "RETURNING id");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  int64_t now = mw_now_ms();
  sqlite3_bind_int64(st, 1, now);
  mw_bind_text(st, 2, name);
  int rc = sqlite3_step(st);
  int64_t nid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  if(rc == SQLITE_ROW)
    rc = sqlite3_step(st);
  sqlite3_reset(st);
  if(rc != SQLITE_DONE) {
    s = mw_db_status(c, rc);
    goto out;
  }
  if(!nid) {
    s = mw_errf(err, MW_ENOTFOUND, "no node named '%s'", name);
    goto out;
  }
  cJSON_ArrayForEach(m, models) {
    st = mw_stmt(c, "INSERT INTO node_status(node_id, model_name, version, state, "
                    "reported_at) VALUES(?1, ?2, ?3, ?4, ?5) "
                    "ON CONFLICT(node_id, model_name) DO UPDATE SET "
                    "version = ?3, state = ?4, reported_at = ?5");
    if(!st) {
      s = MW_EDB;
      goto out;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "version");
    const char *state = mw_json_str(m, "state");
    sqlite3_bind_int64(st, 1, nid);
    mw_bind_text(st, 2, mw_json_str(m, "name"));
    int64_t ver;
    if(mw_json_int(v, &ver))
      sqlite3_bind_int64(st, 3, ver);
    else
      sqlite3_bind_null(st, 3);
    mw_bind_text(st, 4, state ? state : "loaded");
    sqlite3_bind_int64(st, 5, now);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
    if(s)
      goto out;
  }
  s = mw_tx_commit(c);
  if(!s)
    s = reg_node_get(c, name, out, err);
out:
  mw_tx_rollback(c);
  return s;
}

mw_status reg_node_delete(mw_conn *c, const char *name, const char *actor,
                          mw_err *err) {
  return mw_delete_named(c, "DELETE FROM nodes WHERE name = ?", name, actor,
                         "node.delete", "node", err);
}
