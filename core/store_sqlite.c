/* core/store_sqlite.c - core's store interface (core/store.h) on SQLite:
 * tokens, sessions, the audit log, event subscriptions and the outbox. */
#include <assert.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_sqlite.h"
#include "core/store.h"

/* ---------------------------------------------------------------- tokens */

static mw_status token_insert(mw_conn *c, const char *name, const char *prefix,
                              const char *hash, unsigned scopes, const char *models,
                              int64_t now, const char *actor) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO tokens(name, prefix, hash, scopes, "
                                "created_at, created_by, models) "
                                "VALUES(?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    mw_bind_text(st, 1, name);
    mw_bind_text(st, 2, prefix);
    mw_bind_text(st, 3, hash);
    sqlite3_bind_int(st, 4, (int)scopes);
    sqlite3_bind_int64(st, 5, now);
    mw_bind_text(st, 6, actor);
    mw_bind_text(st, 7, models);
  }
  return mw_step_done(c, st);
}

static mw_status token_by_prefix(mw_conn *c, const char *prefix, mw_token_info *info,
                                 char hash[65]) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT id, name, hash, scopes, models FROM tokens WHERE prefix = ?");
  if(st)
    mw_bind_text(st, 1, prefix);
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(s || !found)
    return s ? s : MW_ENOTFOUND;
  info->id = sqlite3_column_int64(st, 0);
  mw_strlcpy(info->name, mw_col_text(st, 1), sizeof info->name);
  mw_strlcpy(hash, mw_col_text(st, 2), 65);
  info->scopes = (unsigned)sqlite3_column_int(st, 3);
  mw_strlcpy(info->models, mw_col_text(st, 4), sizeof info->models);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status token_delete(mw_conn *c, const char *name) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM tokens WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  mw_status s = mw_step_done(c, st);
  if(!s && mw_sqlite_changes(c) == 0)
    s = MW_ENOTFOUND;
  return s;
}

static mw_status token_list(mw_conn *c,
                            mw_status (*fn)(void *, const struct mw_token_row *),
                            void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, name, scopes, created_at, created_by, "
                                "models FROM tokens ORDER BY name");
  if(!st)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    struct mw_token_row t = {
        sqlite3_column_int64(st, 0),
        mw_col_text(st, 1),
        (unsigned)sqlite3_column_int(st, 2),
        sqlite3_column_int64(st, 3),
        mw_col_text(st, 4),
        sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : mw_col_text(st, 5)};
    s = fn(ctx, &t);
    if(s) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status token_count(mw_conn *c, int64_t *out) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT count(*) FROM tokens");
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(s || !found)
    return s ? s : MW_EDB;
  *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

/* -------------------------------------------------------------- sessions */

static mw_status session_insert(mw_conn *c, const char *hash, int64_t token_id,
                                const char *csrf, int64_t now, int64_t expires_at) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO sessions(hash, token_id, csrf, "
                                "created_at, expires_at) VALUES(?, ?, ?, ?, ?)");
  if(st) {
    mw_bind_text(st, 1, hash);
    sqlite3_bind_int64(st, 2, token_id);
    mw_bind_text(st, 3, csrf);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, expires_at);
  }
  return mw_step_done(c, st);
}

static mw_status session_purge(mw_conn *c, int64_t now) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM sessions WHERE expires_at <= ?");
  if(st)
    sqlite3_bind_int64(st, 1, now);
  return mw_step_done(c, st);
}

static mw_status session_get(mw_conn *c, const char *hash, int64_t now,
                             mw_token_info *info, char csrf[64]) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT t.id, t.name, t.scopes, s.csrf, t.models FROM sessions s JOIN "
         "tokens t ON t.id = s.token_id WHERE s.hash = ? AND s.expires_at > ?");
  if(st) {
    mw_bind_text(st, 1, hash);
    sqlite3_bind_int64(st, 2, now);
  }
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(s || !found)
    return s ? s : MW_ENOTFOUND;
  info->id = sqlite3_column_int64(st, 0);
  mw_strlcpy(info->name, mw_col_text(st, 1), sizeof info->name);
  info->scopes = (unsigned)sqlite3_column_int(st, 2);
  mw_strlcpy(csrf, mw_col_text(st, 3), 64);
  mw_strlcpy(info->models, mw_col_text(st, 4), sizeof info->models);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status session_delete(mw_conn *c, const char *hash) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM sessions WHERE hash = ?");
  if(st)
    mw_bind_text(st, 1, hash);
  return mw_step_done(c, st);
}

/* ----------------------------------------------------------------- audit */

static mw_status audit_insert(mw_conn *c, int64_t at, const char *actor,
                              const char *action, const char *target,
                              const char *details_json) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO audit_log(at, actor, action, "
                                "target, details) VALUES(?, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, at);
    mw_bind_text(st, 2, actor);
    mw_bind_text(st, 3, action);
    mw_bind_text(st, 4, target);
    mw_bind_text(st, 5, details_json);
  }
  return mw_step_done(c, st);
}

static mw_status audit_list(mw_conn *c, const mw_audit_query *q, int limit,
                            mw_status (*fn)(void *, const struct mw_audit_row *),
                            void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c,
      "SELECT id, at, actor, action, target, details FROM audit_log WHERE id < ?1 "
      "AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR target = ?3) AND "
      "(?4 IS NULL OR actor = ?4) AND (?5 < 0 OR at >= ?5) AND (?6 < 0 OR at < "
      "?6) ORDER BY id DESC LIMIT ?7");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, q->before);
  mw_bind_text(st, 2, q->action);
  mw_bind_text(st, 3, q->target);
  mw_bind_text(st, 4, q->actor);
  sqlite3_bind_int64(st, 5, q->from_ms);
  sqlite3_bind_int64(st, 6, q->to_ms);
  sqlite3_bind_int(st, 7, limit);
  mw_status s = MW_OK;
  while(!s && mw_step_next(c, st, &s) > 0) {
    struct mw_audit_row a = {
        sqlite3_column_int64(st, 0),
        sqlite3_column_int64(st, 1),
        mw_col_text(st, 2),
        mw_col_text(st, 3),
        sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : mw_col_text(st, 4),
        sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : mw_col_text(st, 5)};
    s = fn(ctx, &a);
    if(s)
      sqlite3_reset(st);
  }
  return s;
}

/* --------------------------------------------------------- subscriptions */

static mw_status outbox_kill_target(mw_conn *c, const char *target_type,
                                    const char *target_name, const char *error) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "UPDATE outbox SET state = 'dead', last_error = ?3 "
                                "WHERE target_type = ?1 AND target_name = ?2 AND "
                                "state IN ('pending', 'failed')");
  if(st) {
    mw_bind_text(st, 1, target_type);
    mw_bind_text(st, 2, target_name);
    mw_bind_text(st, 3, error);
  }
  return mw_step_done(c, st);
}

static mw_status subscription_insert(mw_conn *c, const struct mw_subscription_row *r,
                                     const char *secret) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO subscriptions(name, url, secret, events, "
                 "models, created_at, created_by) "
                 "VALUES(?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    mw_bind_text(st, 1, r->name);
    mw_bind_text(st, 2, r->url);
    mw_bind_text(st, 3, secret);
    mw_bind_text(st, 4, r->events);
    mw_bind_text(st, 5, r->models);
    sqlite3_bind_int64(st, 6, r->created_at);
    mw_bind_text(st, 7, r->created_by);
  }
  return mw_step_done(c, st);
}

static mw_status
subscription_list(mw_conn *c, const char *name,
                  mw_status (*fn)(void *, const struct mw_subscription_row *),
                  void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, name, url, events, models, created_at, "
                                "created_by FROM subscriptions WHERE ?1 IS NULL OR "
                                "name = ?1 ORDER BY name");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, name);
  mw_status s = MW_OK;
  int n = 0;
  while(!s && mw_step_next(c, st, &s) > 0) {
    struct mw_subscription_row r = {
        sqlite3_column_int64(st, 0),
        mw_col_text(st, 1),
        mw_col_text(st, 2),
        mw_col_text(st, 3),
        sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : mw_col_text(st, 4),
        sqlite3_column_int64(st, 5),
        mw_col_text(st, 6)};
    n++;
    s = fn(ctx, &r);
    if(s)
      sqlite3_reset(st);
  }
  return !s && name && !n ? MW_ENOTFOUND : s;
}

static mw_status subscription_delete(mw_conn *c, const char *name) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM subscriptions WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  mw_status s = mw_step_done(c, st);
  return !s && mw_sqlite_changes(c) == 0 ? MW_ENOTFOUND : s;
}

/* ---------------------------------------------------------------- outbox */

static mw_status outbox_insert(mw_conn *c, const char *msg_id, const char *kind,
                               const char *target_type, const char *target_name,
                               const char *url, const char *payload, int64_t now,
                               int64_t *out_id) {
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO outbox(msg_id, kind, target_type, target_name, url, "
         "payload, next_attempt_at, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    mw_bind_text(st, 1, msg_id);
    mw_bind_text(st, 2, kind);
    mw_bind_text(st, 3, target_type);
    mw_bind_text(st, 4, target_name);
    mw_bind_text(st, 5, url);
    mw_bind_text(st, 6, payload);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now);
  }
  mw_status s = mw_step_done(c, st);
  if(!s && out_id)
    *out_id = mw_sqlite_last_id(c);
  return s;
}

static mw_status
outbox_list(mw_conn *c, const char *state, int64_t before_id, int limit,
            mw_status (*row)(void *, const struct mw_outbox_row *),
            mw_status (*attempt)(void *, const struct mw_attempt_row *), void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT id, msg_id, kind, target_type, target_name, url, payload, "
                 "state, attempts, next_attempt_at, created_at, delivered_at, "
                 "last_status, last_error FROM outbox WHERE id < ?1 "
                 "AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3");
  sqlite3_stmt *at =
      mw_stmt(c, "SELECT at, status_code, latency_ms, error FROM delivery_attempts "
                 "WHERE outbox_id = ? ORDER BY id");
  if(!st || !at)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, before_id);
  mw_bind_text(st, 2, state);
  sqlite3_bind_int(st, 3, limit);
  mw_status s = MW_OK;
  while(!s && mw_step_next(c, st, &s) > 0) {
    struct mw_outbox_row r = {
        .id = sqlite3_column_int64(st, 0),
        .msg_id = mw_col_text(st, 1),
        .kind = mw_col_text(st, 2),
        .target_type = mw_col_text(st, 3),
        .target_name = mw_col_text(st, 4),
        .url = mw_col_text(st, 5),
        .payload = mw_col_text(st, 6),
        .state = mw_col_text(st, 7),
        .attempts = sqlite3_column_int(st, 8),
        .next_attempt_at = sqlite3_column_int64(st, 9),
        .created_at = sqlite3_column_int64(st, 10),
        .delivered_at = mw_col_i64(st, 11, -1),
        .last_status = (long)mw_col_i64(st, 12, -1),
        .last_error =
            sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL : mw_col_text(st, 13),
    };
    s = row(ctx, &r);
    if(s)
      break;
    sqlite3_reset(at);
    sqlite3_bind_int64(at, 1, r.id);
    while(!s && mw_step_next(c, at, &s) > 0) {
      struct mw_attempt_row a = {
          sqlite3_column_int64(at, 0), (long)mw_col_i64(at, 1, -1),
          sqlite3_column_int64(at, 2),
          sqlite3_column_type(at, 3) == SQLITE_NULL ? NULL : mw_col_text(at, 3)};
      s = attempt(ctx, &a);
    }
    sqlite3_reset(at);
  }
  sqlite3_reset(st);
  return s;
}

static mw_status outbox_depth(mw_conn *c, mw_outbox_depth *out) {
  memset(out, 0, sizeof *out);
  out->oldest_queued_ms = -1;
  /* Both read the outbox_due index (state, ...): the counts walk it once,
   * the oldest waiting row looks only at pending and failed entries. */
  sqlite3_stmt *st = mw_stmt(c, "SELECT state, COUNT(*) FROM outbox GROUP BY state");
  sqlite3_stmt *old =
      mw_stmt(c, "SELECT MIN(COALESCE(cycle_started_at, created_at)) FROM outbox "
                 "WHERE state IN ('pending', 'failed')");
  if(!st || !old)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    const char *state = mw_col_text(st, 0);
    int64_t n = sqlite3_column_int64(st, 1);
    if(!strcmp(state, "pending"))
      out->pending = n;
    else if(!strcmp(state, "failed"))
      out->failed = n;
    else if(!strcmp(state, "delivered"))
      out->delivered = n;
    else if(!strcmp(state, "dead"))
      out->dead = n;
  }
  if(s)
    return s;
  int found;
  s = mw_step_row(c, old, &found);
  if(!s && found) {
    out->oldest_queued_ms = mw_col_i64(old, 0, -1);
    sqlite3_reset(old);
  }
  return s;
}

static mw_status outbox_ages(mw_conn *c, int64_t after_id, int max,
                             struct mw_outbox_age *rows, int *n) {
  *n = 0;
  /* The final time of a delivered row is delivered_at; a dead row's is its
   * last attempt (every way to die records one). */
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT id, state, created_at, CASE state "
                 "WHEN 'delivered' THEN delivered_at "
                 "WHEN 'dead' THEN (SELECT MAX(at) FROM delivery_attempts "
                 "WHERE outbox_id = outbox.id) END "
                 "FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, after_id);
  sqlite3_bind_int(st, 2, max);
  mw_status s = MW_OK;
  while(*n < max && mw_step_next(c, st, &s) > 0) {
    struct mw_outbox_age *a = &rows[(*n)++];
    a->id = sqlite3_column_int64(st, 0);
    mw_strlcpy(a->state, mw_col_text(st, 1), sizeof a->state);
    a->created_at = sqlite3_column_int64(st, 2);
    a->final_at = mw_col_i64(st, 3, -1);
  }
  sqlite3_reset(st);
  return s;
}

static mw_status outbox_delete_finished(mw_conn *c, int64_t id,
                                        char deleted_state[16]) {
  deleted_state[0] = '\0';
  sqlite3_stmt *att =
      mw_stmt(c, "DELETE FROM delivery_attempts WHERE outbox_id = ? "
                 "AND EXISTS (SELECT 1 FROM outbox o WHERE o.id = ?1 "
                 "AND o.state IN ('delivered', 'dead') "
                 "AND o.id < (SELECT max(id) FROM outbox))");
  if(att)
    sqlite3_bind_int64(att, 1, id);
  mw_status s = mw_step_done(c, att);
  if(s)
    return s;
  /* SQLite hands the highest rowid out again once that row is gone. */
  sqlite3_stmt *del = mw_stmt(
      c, "DELETE FROM outbox WHERE id = ? AND state IN ('delivered', 'dead') "
         "AND id < (SELECT max(id) FROM outbox) RETURNING state");
  if(!del)
    return MW_EDB;
  sqlite3_bind_int64(del, 1, id);
  int found;
  s = mw_step_row(c, del, &found);
  if(s || !found)
    return s;
  mw_strlcpy(deleted_state, mw_col_text(del, 0), 16);
  /* RETURNING: the change is final once the statement runs to its end. */
  return mw_step_done(c, del);
}

/* -------------------------------------------------------------- replicas */

static mw_status replica_beat(mw_conn *c, const char *id, const char *listen,
                              int64_t started_at, int64_t now) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO replicas(id, listen, started_at, "
                                "last_seen) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(id) "
                                "DO UPDATE SET last_seen = ?4");
  if(st) {
    mw_bind_text(st, 1, id);
    mw_bind_text(st, 2, listen);
    sqlite3_bind_int64(st, 3, started_at);
    sqlite3_bind_int64(st, 4, now);
  }
  return mw_step_done(c, st);
}

static mw_status replica_lead(mw_conn *c, const char *id, int64_t now) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO cluster_leader(id, replica_id, since) "
                                "VALUES(1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET "
                                "replica_id = ?1, since = ?2");
  if(st) {
    mw_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
  }
  return mw_step_done(c, st);
}

static mw_status replica_delete(mw_conn *c, const char *id) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM replicas WHERE id = ?");
  if(st)
    mw_bind_text(st, 1, id);
  return mw_step_done(c, st);
}

static mw_status replica_purge(mw_conn *c, int64_t before) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM replicas WHERE last_seen < ?");
  if(st)
    sqlite3_bind_int64(st, 1, before);
  return mw_step_done(c, st);
}

static mw_status replica_list(mw_conn *c, int64_t since,
                              mw_status (*fn)(void *, const struct mw_replica_row *),
                              void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c,
      "SELECT r.id, r.listen, r.started_at, r.last_seen, "
      "l.replica_id IS NOT NULL FROM replicas r LEFT JOIN cluster_leader l "
      "ON l.replica_id = r.id WHERE r.last_seen >= ? ORDER BY r.started_at, r.id");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, since);
  mw_status s = MW_OK;
  while(!s && mw_step_next(c, st, &s) > 0) {
    struct mw_replica_row r = {
        mw_col_text(st, 0), mw_col_text(st, 1), sqlite3_column_int64(st, 2),
        sqlite3_column_int64(st, 3), sqlite3_column_int(st, 4)};
    s = fn(ctx, &r);
  }
  sqlite3_reset(st);
  return s;
}

/* ------------------------------------------------------ secrets at rest */

static mw_status secret_key_get(mw_conn *c, char id[16]) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT key_id FROM secret_key WHERE id = 1");
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  s = mw_strlcpy(id, mw_col_text(st, 0), 16) ? MW_EINVAL : MW_OK;
  sqlite3_reset(st);
  return s;
}

static mw_status secret_key_put(mw_conn *c, const char *key_id, int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO secret_key(id, key_id, since) VALUES(1, ?1, ?2) "
                 "ON CONFLICT(id) DO UPDATE SET key_id = excluded.key_id, since = "
                 "excluded.since");
  if(st) {
    mw_bind_text(st, 1, key_id);
    sqlite3_bind_int64(st, 2, now);
  }
  return mw_step_done(c, st);
}

/* The statements of each column the passes walk (MW__COLS of them, in the
 * order of enum mw_secret_col, then the outbox's url). */
static const char *const secret_page_sql[MW__COLS] = {
    "SELECT id, name, url FROM channels WHERE id > ?1 ORDER BY id LIMIT ?2",
    "SELECT id, name, secret FROM channels WHERE id > ?1 ORDER BY id LIMIT ?2",
    "SELECT id, name, url FROM nodes WHERE id > ?1 ORDER BY id LIMIT ?2",
    "SELECT id, name, secret FROM nodes WHERE id > ?1 ORDER BY id LIMIT ?2",
    "SELECT id, name, url FROM subscriptions WHERE id > ?1 ORDER BY id LIMIT ?2",
    ("SELECT id, name, secret FROM subscriptions WHERE id > ?1 ORDER BY id "
     "LIMIT ?2"),
    /* Only email channels log in: the others have no password. */
    ("SELECT id, name, password FROM channels WHERE id > ?1 AND password IS NOT "
     "NULL ORDER BY id LIMIT ?2"),
    "SELECT id, name, secret FROM privacy_key WHERE id > ?1 ORDER BY id LIMIT ?2",
    "SELECT id, msg_id, url FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
};
static const char *const secret_set_sql[MW__COLS] = {
    "UPDATE channels SET url = ?2 WHERE id = ?1",
    "UPDATE channels SET secret = ?2 WHERE id = ?1",
    "UPDATE nodes SET url = ?2 WHERE id = ?1",
    "UPDATE nodes SET secret = ?2 WHERE id = ?1",
    "UPDATE subscriptions SET url = ?2 WHERE id = ?1",
    "UPDATE subscriptions SET secret = ?2 WHERE id = ?1",
    "UPDATE channels SET password = ?2 WHERE id = ?1",
    "UPDATE privacy_key SET secret = ?2 WHERE id = ?1",
    "UPDATE outbox SET url = ?2 WHERE id = ?1",
};

static mw_status secret_page(mw_conn *c, int col, int64_t after_id, int max,
                             struct mw_secret_row *rows, int *n) {
  assert(col >= 0 && col < MW__COLS && max > 0);
  *n = 0;
  sqlite3_stmt *st = mw_stmt(c, secret_page_sql[col]);
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, after_id);
  sqlite3_bind_int(st, 2, max);
  mw_status s = MW_OK;
  while(!s && *n < max && mw_step_next(c, st, &s) > 0) {
    struct mw_secret_row *r = &rows[(*n)++];
    r->id = sqlite3_column_int64(st, 0);
    r->name = mw_col_dup(st, 1);
    r->value = mw_col_dup(st, 2);
    if(!r->name || !r->value)
      s = MW_ENOMEM;
  }
  sqlite3_reset(st);
  if(s) {
    mw__secret_rows_free(rows, *n);
    *n = 0;
  }
  return s;
}

static mw_status secret_set(mw_conn *c, int col, int64_t id, const char *value) {
  assert(col >= 0 && col < MW__COLS && mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, secret_set_sql[col]);
  if(st) {
    sqlite3_bind_int64(st, 1, id);
    mw_bind_text(st, 2, value);
  }
  mw_status s = mw_step_done(c, st);
  return !s && mw_sqlite_changes(c) != 1 ? MW_ENOTFOUND : s;
}

/* secure_delete zeroes what a statement frees (cells, pages), so a value
 * replaced by its ciphertext is not left in the database file; the
 * checkpoint then copies the new pages in and truncates the WAL, which
 * held the old ones. */
static mw_status secret_scrub(mw_conn *c, int stage) {
  assert(mw_tx_state(c) == 0);
  if(stage == 0)
    return mw_exec(c, "PRAGMA secure_delete = ON");
  mw_status s = mw_exec(c, "PRAGMA wal_checkpoint(TRUNCATE)");
  mw_status off = mw_exec(c, "PRAGMA secure_delete = OFF");
  return s ? s : off;
}

const struct mw_core_store mw_core_store_sqlite = {
    .token_insert = token_insert,
    .token_by_prefix = token_by_prefix,
    .token_delete = token_delete,
    .token_list = token_list,
    .token_count = token_count,
    .session_insert = session_insert,
    .session_purge = session_purge,
    .session_get = session_get,
    .session_delete = session_delete,
    .audit_insert = audit_insert,
    .audit_list = audit_list,
    .subscription_insert = subscription_insert,
    .subscription_list = subscription_list,
    .subscription_delete = subscription_delete,
    .outbox_kill_target = outbox_kill_target,
    .outbox_insert = outbox_insert,
    .outbox_list = outbox_list,
    .outbox_depth = outbox_depth,
    .outbox_ages = outbox_ages,
    .outbox_delete_finished = outbox_delete_finished,
    .replica_beat = replica_beat,
    .replica_lead = replica_lead,
    .replica_delete = replica_delete,
    .replica_purge = replica_purge,
    .replica_list = replica_list,
    .secret_key_get = secret_key_get,
    .secret_key_put = secret_key_put,
    .secret_page = secret_page,
    .secret_set = secret_set,
    .secret_scrub = secret_scrub,
};
