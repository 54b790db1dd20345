/* alerts/channel_store.c - notification channels in the database: create,
 * list, get, delete, and queueing a notification for one (formatted for
 * its type by alerts/channels.c) into the outbox. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "alerts/delivery_internal.h"

/* JSON of the channel row in st (name, type, url, created_at). */
static cJSON *channel_json(sqlite3_stmt *st) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", mw_col_text(st, 0));
  cJSON_AddStringToObject(o, "type", mw_col_text(st, 1));
  cJSON_AddStringToObject(o, "url", mw_col_text(st, 2));
  mw_json_add_time(o, "created_at", sqlite3_column_int64(st, 3));
  return o;
}

mw_status alert_channel_get(mw_conn *c, const char *name, cJSON **out,
                            mw_err *err) {
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT name, type, url, created_at FROM channels WHERE name = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, name);
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW)
    *out = channel_json(st);
  sqlite3_reset(st);
  if(rc == SQLITE_ROW)
    return *out ? MW_OK : MW_ENOMEM;
  if(rc != SQLITE_DONE)
    return mw_db_status(c, rc);
  return mw_errf(err, MW_ENOTFOUND, "no channel named '%s'", name);
}

mw_status alert_channel_list(mw_conn *c, cJSON **out, mw_err *err) {
  (void)err;
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT name, type, url, created_at FROM channels ORDER BY name");
  if(!st)
    return MW_EDB;
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "channels");
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW)
    cJSON_AddItemToArray(arr, channel_json(st));
  sqlite3_reset(st);
  if(rc != SQLITE_DONE) {
    cJSON_Delete(root);
    return mw_db_status(c, rc);
  }
  *out = root;
  return MW_OK;
}

mw_status alert_channel_create(mw_conn *c, const cJSON *body, int allow_private,
                               const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  const char *name = mw_json_str(body, "name");
  const char *type = mw_json_str(body, "type");
  const char *url = mw_json_str(body, "url");
  if(!mw_name_valid(name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  if(!alert_channel_type_valid(type))
    return mw_errf(err, MW_EVALIDATION, "type must be one of " ALERT_CHANNEL_TYPES);
  mw_status s = mw_url_check_target(url, allow_private, err);
  if(s)
    return s;
  char secret[48];
  if(mw_webhook_secret_new(secret))
    return MW_EINTERNAL;
  s = mw_tx_begin(c);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO channels(name, type, url, secret, "
                                "created_at) VALUES(?, ?, ?, ?, ?)");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  mw_bind_text(st, 1, name);
  mw_bind_text(st, 2, type);
  mw_bind_text(st, 3, url);
  mw_bind_text(st, 4, secret);
  sqlite3_bind_int64(st, 5, mw_now_ms());
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(s == MW_ECONFLICT)
    mw_errf(err, s, "a channel named '%s' already exists", name);
  if(s)
    goto out;
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "type", type);
  s = mw_audit(c, actor, "channel.create", name, det);
  cJSON_Delete(det);
  if(!s)
    s = mw_tx_commit(c);
  if(!s)
    s = alert_channel_get(c, name, out, err);
  if(!s)
    cJSON_AddStringToObject(*out, "secret", secret);
out:
  mw_tx_rollback(c);
  memset(secret, 0, sizeof secret);
  return s;
}

/* Rule names listed in a conflict's details; the count says how many. */
#define DELETE_CONFLICT_NAMES 20

/* Removes every occurrence of channel from the channels list of rule id,
 * in the caller's transaction. */
static mw_status detach_rule(mw_conn *c, int64_t id, const char *channel) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT channels FROM alert_rules WHERE id = ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  cJSON *arr = rc == SQLITE_ROW ? cJSON_Parse(mw_col_text(st, 0)) : NULL;
  sqlite3_reset(st);
  if(rc != SQLITE_ROW) {
    cJSON_Delete(arr);
    return rc == SQLITE_DONE ? MW_OK : mw_db_status(c, rc);
  }
  cJSON *keep = cJSON_CreateArray();
  mw_status s = MW_OK;
  if(!keep) {
    s = MW_ENOMEM;
    goto out;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if(cJSON_IsString(it) && !strcmp(it->valuestring, channel))
      continue;
    cJSON *dup = cJSON_Duplicate(it, 1);
    if(!dup || !cJSON_AddItemToArray(keep, dup)) {
      cJSON_Delete(dup);
      s = MW_ENOMEM;
      goto out;
    }
  }
  char *text = cJSON_PrintUnformatted(keep);
  if(!text) {
    s = MW_ENOMEM;
    goto out;
  }
  st = mw_stmt(c, "UPDATE alert_rules SET channels = ? WHERE id = ?");
  if(!st) {
    s = MW_EDB;
  } else {
    mw_bind_text(st, 1, text);
    sqlite3_bind_int64(st, 2, id);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
  }
  cJSON_free(text);
out:
  cJSON_Delete(arr);
  cJSON_Delete(keep);
  return s;
}

mw_status alert_channel_delete(mw_conn *c, const char *name, int force,
                               const char *actor, cJSON **detached, mw_err *err) {
  if(detached)
    *detached = NULL;
  cJSON *rules = cJSON_CreateArray();
  if(!rules)
    return MW_ENOMEM;
  int64_t nrules = 0;
  int64_t *ids = NULL;
  size_t nids = 0, capids = 0;
  /* One transaction: a rule created meanwhile checks its channels inside
   * its own, so it either sees this channel gone or is seen here. */
  mw_status s = mw_tx_begin(c);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(c, "SELECT 1 FROM channels WHERE name = ?");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  mw_bind_text(st, 1, name);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if(rc == SQLITE_DONE) {
    s = mw_errf(err, MW_ENOTFOUND, "no channel named '%s'", name);
    goto out;
  }
  if(rc != SQLITE_ROW) {
    s = mw_db_status(c, rc);
    goto out;
  }
  st = mw_stmt(c, "SELECT r.id, r.name, r.channels FROM alert_rules r WHERE "
                  "EXISTS (SELECT 1 FROM json_each(r.channels) j "
                  "WHERE j.type = 'text' AND j.value = ?1) ORDER BY r.name");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  mw_bind_text(st, 1, name);
  /* The rules are read to the end before any is changed: a statement
   * should not watch its own table change under it. */
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    nrules++;
    if(force && nids == capids) {
      size_t nc = capids ? capids * 2 : 16;
      int64_t *nv = realloc(ids, nc * sizeof *nv);
      if(!nv) {
        s = MW_ENOMEM;
        break;
      }
      ids = nv;
      capids = nc;
    }
    if(force)
      ids[nids++] = sqlite3_column_int64(st, 0);
    if(force || nrules <= DELETE_CONFLICT_NAMES)
      cJSON_AddItemToArray(rules, cJSON_CreateString(mw_col_text(st, 1)));
  }
  sqlite3_reset(st);
  if(!s && rc != SQLITE_DONE)
    s = mw_db_status(c, rc);
  for(size_t i = 0; i < nids && !s; i++)
    s = detach_rule(c, ids[i], name);
  if(s)
    goto out;
  if(nrules && !force) {
    s = mw_errf(err, MW_ECONFLICT,
                "channel '%s' is used by %lld alert rule(s); delete them first, "
                "or delete with ?force=true to remove the channel from them",
                name, (long long)nrules);
    cJSON *det = cJSON_CreateObject();
    if(det) {
      cJSON_AddItemToObject(det, "rules", rules);
      rules = NULL;
      cJSON_AddNumberToObject(det, "rule_count", (double)nrules);
      if(err) {
        cJSON_Delete(err->details);
        err->details = det;
      } else {
        cJSON_Delete(det);
      }
    }
    goto out;
  }
  st = mw_stmt(c, "DELETE FROM channels WHERE name = ?");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  mw_bind_text(st, 1, name);
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(s)
    goto out;
  cJSON *det = NULL;
  if(nrules) {
    det = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(det, "detached_from_rules", rules);
  }
  s = mw_audit(c, actor, "channel.delete", name, det);
  cJSON_Delete(det);
  if(!s)
    s = mw_tx_commit(c);
  if(!s && detached) {
    *detached = rules;
    rules = NULL;
  }
out:
  mw_tx_rollback(c);
  cJSON_Delete(rules);
  free(ids);
  return s;
}

mw_status alert_channel_enqueue(mw_conn *c, const char *channel,
                                const struct alert_group_notice *g,
                                int64_t *out_id, mw_err *err) {
  return alert__channel_enqueue_kind(c, channel, "alert", g, out_id, err);
}

mw_status alert__channel_enqueue_kind(mw_conn *c, const char *channel,
                                      const char *kind,
                                      const struct alert_group_notice *g,
                                      int64_t *out_id, mw_err *err) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT type, url FROM channels WHERE name = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, channel);
  int rc = sqlite3_step(st);
  if(rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE
               ? mw_errf(err, MW_ENOTFOUND, "no channel named '%s'", channel)
               : mw_db_status(c, rc);
  }
  char type[16], url[1024];
  mw_strlcpy(type, mw_col_text(st, 0), sizeof type);
  mw_strlcpy(url, mw_col_text(st, 1), sizeof url);
  sqlite3_reset(st);
  cJSON *payload = NULL;
  mw_status s = alert_payload_build(type, channel, g, &payload);
  if(s)
    return mw_errf(err, s, "cannot format the notification for channel '%s'",
                   channel);
  s = mw_outbox_enqueue(c, kind, "channel", channel, url, payload, out_id);
  cJSON_Delete(payload);
  return s;
}

mw_status alert_channel_test(mw_conn *c, const char *name,
                             const char *external_url, const char *actor,
                             cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *labels = cJSON_CreateObject();
  cJSON_AddStringToObject(labels, "alertname", "modelwatch-test");
  cJSON_AddStringToObject(labels, "severity", "info");
  cJSON *ann = cJSON_CreateObject();
  cJSON_AddStringToObject(ann, "summary",
                          "A test notification from modelwatch: this channel works.");
  struct alert_notice a;
  memset(&a, 0, sizeof a);
  a.status = "firing";
  a.labels = labels;
  a.annotations = ann;
  a.starts_at_ms = mw_now_ms();
  a.rule = "modelwatch-test";
  a.model = "example-model";
  a.version = 1;
  a.metric = "dataset_drift_share";
  a.op = ">";
  a.value = 0.5;
  a.threshold = 0.3;
  a.state = "firing";
  struct alert_group_notice g;
  memset(&g, 0, sizeof g);
  g.external_url = external_url;
  g.alerts = &a;
  g.nalerts = 1;
  int64_t id = 0;
  mw_status s = mw_tx_begin(c);
  if(s)
    goto out;
  s = alert__channel_enqueue_kind(c, name, "alert.test", &g, &id, err);
  if(!s)
    s = mw_audit(c, actor, "channel.test", name, NULL);
  if(!s)
    s = mw_tx_commit(c);
  if(!s) {
    sqlite3_stmt *st = mw_stmt(c, "SELECT msg_id FROM outbox WHERE id = ?");
    *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(*out, "delivery_id", (double)id);
    if(st) {
      sqlite3_bind_int64(st, 1, id);
      if(sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddStringToObject(*out, "webhook_id", mw_col_text(st, 0));
      sqlite3_reset(st);
    }
  }
out:
  mw_tx_rollback(c);
  cJSON_Delete(labels);
  cJSON_Delete(ann);
  return s;
}
