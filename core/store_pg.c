/* core/store_pg.c - core's store interface (core/store.h) on PostgreSQL:
 * tokens, sessions, the audit log, event subscriptions and the outbox.
 * The statements mirror
 * core/store_sqlite.c; where they differ it is said why. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_pg.h"
#include "core/store.h"

/* ---------------------------------------------------------------- tokens */

static mw_status token_insert(mw_conn *c, const char *name, const char *prefix,
                              const char *hash, unsigned scopes, const char *models,
                              int64_t now, const char *actor) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_pgp_text(&p, prefix);
  mw_pgp_text(&p, hash);
  mw_pgp_i64(&p, scopes);
  mw_pgp_i64(&p, now);
  mw_pgp_text(&p, actor);
  mw_pgp_text(&p, models);
  return mw_pg_do(c,
                  "INSERT INTO tokens(name, prefix, hash, scopes, created_at, "
                  "created_by, models) VALUES($1, $2, $3, $4, $5, $6, $7)",
                  &p, NULL);
}

static mw_status token_by_prefix(mw_conn *c, const char *prefix, mw_token_info *info,
                                 char hash[65]) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, prefix);
  mw_status s;
  PGresult *r = mw_pg_run(
      c, "SELECT id, name, hash, scopes, models FROM tokens WHERE prefix = $1", &p,
      &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    info->id = mw_pg_i64(r, 0, 0, 0);
    mw_strlcpy(info->name, mw_pg_text(r, 0, 1), sizeof info->name);
    mw_strlcpy(hash, mw_pg_text(r, 0, 2), 65);
    info->scopes = (unsigned)mw_pg_i64(r, 0, 3, 0);
    mw_strlcpy(info->models, mw_pg_text(r, 0, 4), sizeof info->models);
  }
  PQclear(r);
  return s;
}

static mw_status token_delete(mw_conn *c, const char *name) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  int64_t n = 0;
  mw_status s = mw_pg_do(c, "DELETE FROM tokens WHERE name = $1", &p, &n);
  return s ? s : n ? MW_OK : MW_ENOTFOUND;
}

static mw_status token_list(mw_conn *c,
                            mw_status (*fn)(void *, const struct mw_token_row *),
                            void *ctx) {
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT id, name, scopes, created_at, created_by, "
                          "models FROM tokens ORDER BY name",
                          NULL, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct mw_token_row t = {mw_pg_i64(r, i, 0, 0),
                             mw_pg_text(r, i, 1),
                             (unsigned)mw_pg_i64(r, i, 2, 0),
                             mw_pg_i64(r, i, 3, 0),
                             mw_pg_text(r, i, 4),
                             mw_pg_null(r, i, 5) ? NULL : mw_pg_text(r, i, 5)};
    s = fn(ctx, &t);
  }
  PQclear(r);
  return s;
}

static mw_status token_count(mw_conn *c, int64_t *out) {
  mw_status s;
  PGresult *r = mw_pg_run(c, "SELECT count(*) FROM tokens", NULL, &s);
  if(!r)
    return s;
  *out = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return MW_OK;
}

/* -------------------------------------------------------------- sessions */

static mw_status session_insert(mw_conn *c, const char *hash, int64_t token_id,
                                const char *csrf, int64_t now, int64_t expires_at) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, hash);
  mw_pgp_i64(&p, token_id);
  mw_pgp_text(&p, csrf);
  mw_pgp_i64(&p, now);
  mw_pgp_i64(&p, expires_at);
  return mw_pg_do(c,
                  "INSERT INTO sessions(hash, token_id, csrf, created_at, "
                  "expires_at) VALUES($1, $2, $3, $4, $5)",
                  &p, NULL);
}

static mw_status session_purge(mw_conn *c, int64_t now) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c, "DELETE FROM sessions WHERE expires_at <= $1", &p, NULL);
}

static mw_status session_get(mw_conn *c, const char *hash, int64_t now,
                             mw_token_info *info, char csrf[64]) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, hash);
  mw_pgp_i64(&p, now);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT t.id, t.name, t.scopes, s.csrf, t.models FROM "
                          "sessions s "
                          "JOIN tokens t ON t.id = s.token_id WHERE s.hash = $1 "
                          "AND s.expires_at > $2",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    info->id = mw_pg_i64(r, 0, 0, 0);
    mw_strlcpy(info->name, mw_pg_text(r, 0, 1), sizeof info->name);
    info->scopes = (unsigned)mw_pg_i64(r, 0, 2, 0);
    mw_strlcpy(csrf, mw_pg_text(r, 0, 3), 64);
    mw_strlcpy(info->models, mw_pg_text(r, 0, 4), sizeof info->models);
  }
  PQclear(r);
  return s;
}

static mw_status session_delete(mw_conn *c, const char *hash) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, hash);
  return mw_pg_do(c, "DELETE FROM sessions WHERE hash = $1", &p, NULL);
}

/* ----------------------------------------------------------------- audit */

static mw_status audit_insert(mw_conn *c, int64_t at, const char *actor,
                              const char *action, const char *target,
                              const char *details_json) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, at);
  mw_pgp_text(&p, actor);
  mw_pgp_text(&p, action);
  mw_pgp_text(&p, target);
  mw_pgp_text(&p, details_json);
  return mw_pg_do(c,
                  "INSERT INTO audit_log(at, actor, action, target, details) "
                  "VALUES($1, $2, $3, $4, $5)",
                  &p, NULL);
}

static mw_status audit_list(mw_conn *c, const mw_audit_query *q, int limit,
                            mw_status (*fn)(void *, const struct mw_audit_row *),
                            void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, q->before);
  mw_pgp_text(&p, q->action);
  mw_pgp_text(&p, q->target);
  mw_pgp_text(&p, q->actor);
  mw_pgp_i64(&p, q->from_ms);
  mw_pgp_i64(&p, q->to_ms);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT id, at, actor, action, target, details FROM audit_log WHERE id < $1 "
      "AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR target = $3) "
      "AND ($4::text IS NULL OR actor = $4) AND ($5::bigint < 0 OR at >= $5) AND "
      "($6::bigint < 0 OR at < $6) ORDER BY id DESC LIMIT $7",
      &p, &s);
  if(!r)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct mw_audit_row a = {mw_pg_i64(r, i, 0, 0),
                             mw_pg_i64(r, i, 1, 0),
                             mw_pg_text(r, i, 2),
                             mw_pg_text(r, i, 3),
                             mw_pg_null(r, i, 4) ? NULL : mw_pg_text(r, i, 4),
                             mw_pg_null(r, i, 5) ? NULL : mw_pg_text(r, i, 5)};
    s = fn(ctx, &a);
  }
  PQclear(r);
  return s;
}

/* --------------------------------------------------------- subscriptions */

static mw_status outbox_kill_target(mw_conn *c, const char *target_type,
                                    const char *target_name, const char *error) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, target_type);
  mw_pgp_text(&p, target_name);
  mw_pgp_text(&p, error);
  return mw_pg_do(c,
                  "UPDATE outbox SET state = 'dead', last_error = $3 WHERE "
                  "target_type = $1 AND target_name = $2 AND state IN ('pending', "
                  "'failed')",
                  &p, NULL);
}

static mw_status subscription_insert(mw_conn *c, const struct mw_subscription_row *r,
                                     const char *secret) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, r->name);
  mw_pgp_text(&p, r->url);
  mw_pgp_text(&p, secret);
  mw_pgp_text(&p, r->events);
  mw_pgp_text(&p, r->models);
  mw_pgp_i64(&p, r->created_at);
  mw_pgp_text(&p, r->created_by);
  return mw_pg_do(c,
                  "INSERT INTO subscriptions(name, url, secret, events, models, "
                  "created_at, created_by) VALUES($1, $2, $3, $4, $5, $6, $7)",
                  &p, NULL);
}

static mw_status
subscription_list(mw_conn *c, const char *name,
                  mw_status (*fn)(void *, const struct mw_subscription_row *),
                  void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT id, name, url, events, models, created_at, "
                          "created_by FROM subscriptions WHERE $1::text IS NULL OR "
                          "name = $1 ORDER BY name COLLATE \"C\"",
                          &p, &s);
  if(!r)
    return s;
  s = name && !PQntuples(r) ? MW_ENOTFOUND : MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct mw_subscription_row row = {mw_pg_i64(r, i, 0, 0),
                                      mw_pg_text(r, i, 1),
                                      mw_pg_text(r, i, 2),
                                      mw_pg_text(r, i, 3),
                                      mw_pg_null(r, i, 4) ? NULL
                                                          : mw_pg_text(r, i, 4),
                                      mw_pg_i64(r, i, 5, 0),
                                      mw_pg_text(r, i, 6)};
    s = fn(ctx, &row);
  }
  PQclear(r);
  return s;
}

static mw_status subscription_delete(mw_conn *c, const char *name) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  int64_t n = 0;
  mw_status s = mw_pg_do(c, "DELETE FROM subscriptions WHERE name = $1", &p, &n);
  return !s && n == 0 ? MW_ENOTFOUND : s;
}

/* ---------------------------------------------------------------- outbox */

static mw_status outbox_insert(mw_conn *c, const char *msg_id, const char *kind,
                               const char *target_type, const char *target_name,
                               const char *url, const char *payload, int64_t now,
                               int64_t *out_id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, msg_id);
  mw_pgp_text(&p, kind);
  mw_pgp_text(&p, target_type);
  mw_pgp_text(&p, target_name);
  mw_pgp_text(&p, url);
  mw_pgp_text(&p, payload);
  mw_pgp_i64(&p, now);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "INSERT INTO outbox(msg_id, kind, target_type, "
                          "target_name, url, payload, next_attempt_at, created_at) "
                          "VALUES($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                          &p, &s);
  if(!r)
    return s;
  if(out_id)
    *out_id = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  /* Delivery workers of every replica sleep on this channel. */
  return mw_pg_notify(c, "mw_change");
}

static mw_status
outbox_list(mw_conn *c, const char *state, int64_t before_id, int limit,
            mw_status (*row)(void *, const struct mw_outbox_row *),
            mw_status (*attempt)(void *, const struct mw_attempt_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, before_id);
  mw_pgp_text(&p, state);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT id, msg_id, kind, target_type, target_name, url, payload, state, "
      "attempts, next_attempt_at, created_at, delivered_at, last_status, "
      "last_error FROM outbox WHERE id < $1 AND ($2::text IS NULL OR state = $2) "
      "ORDER BY id DESC LIMIT $3",
      &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct mw_outbox_row o = {
        .id = mw_pg_i64(r, i, 0, 0),
        .msg_id = mw_pg_text(r, i, 1),
        .kind = mw_pg_text(r, i, 2),
        .target_type = mw_pg_text(r, i, 3),
        .target_name = mw_pg_text(r, i, 4),
        .url = mw_pg_text(r, i, 5),
        .payload = mw_pg_text(r, i, 6),
        .state = mw_pg_text(r, i, 7),
        .attempts = (int)mw_pg_i64(r, i, 8, 0),
        .next_attempt_at = mw_pg_i64(r, i, 9, 0),
        .created_at = mw_pg_i64(r, i, 10, 0),
        .delivered_at = mw_pg_i64(r, i, 11, -1),
        .last_status = (long)mw_pg_i64(r, i, 12, -1),
        .last_error = mw_pg_null(r, i, 13) ? NULL : mw_pg_text(r, i, 13),
    };
    s = row(ctx, &o);
    if(s)
      break;
    mw_pg_params q;
    mw_pgp_init(&q);
    mw_pgp_i64(&q, o.id);
    PGresult *a = mw_pg_run(c,
                            "SELECT at, status_code, latency_ms, error FROM "
                            "delivery_attempts WHERE outbox_id = $1 ORDER BY id",
                            &q, &s);
    if(!a)
      break;
    for(int k = 0; k < PQntuples(a) && !s; k++) {
      struct mw_attempt_row at = {
          mw_pg_i64(a, k, 0, 0), (long)mw_pg_i64(a, k, 1, -1), mw_pg_i64(a, k, 2, 0),
          mw_pg_null(a, k, 3) ? NULL : mw_pg_text(a, k, 3)};
      s = attempt(ctx, &at);
    }
    PQclear(a);
  }
  PQclear(r);
  return s;
}

static mw_status outbox_depth(mw_conn *c, mw_outbox_depth *out) {
  memset(out, 0, sizeof *out);
  out->oldest_queued_ms = -1;
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT state, COUNT(*) FROM outbox GROUP BY state", NULL, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r); i++) {
    const char *state = mw_pg_text(r, i, 0);
    int64_t n = mw_pg_i64(r, i, 1, 0);
    if(!strcmp(state, "pending"))
      out->pending = n;
    else if(!strcmp(state, "failed"))
      out->failed = n;
    else if(!strcmp(state, "delivered"))
      out->delivered = n;
    else if(!strcmp(state, "dead"))
      out->dead = n;
  }
  PQclear(r);
  r = mw_pg_run(c,
                "SELECT MIN(COALESCE(cycle_started_at, created_at)) FROM outbox "
                "WHERE state IN ('pending', 'failed')",
                NULL, &s);
  if(!r)
    return s;
  out->oldest_queued_ms = mw_pg_i64(r, 0, 0, -1);
  PQclear(r);
  return MW_OK;
}

static mw_status outbox_ages(mw_conn *c, int64_t after_id, int max,
                             struct mw_outbox_age *rows, int *n) {
  *n = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, after_id);
  mw_pgp_i64(&p, max);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT id, state, created_at, CASE state WHEN 'delivered' THEN delivered_at "
      "WHEN 'dead' THEN (SELECT MAX(at) FROM delivery_attempts "
      "WHERE outbox_id = outbox.id) END FROM outbox WHERE id > $1 ORDER BY id "
      "LIMIT $2",
      &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && *n < max; i++) {
    struct mw_outbox_age *a = &rows[(*n)++];
    a->id = mw_pg_i64(r, i, 0, 0);
    mw_strlcpy(a->state, mw_pg_text(r, i, 1), sizeof a->state);
    a->created_at = mw_pg_i64(r, i, 2, 0);
    a->final_at = mw_pg_i64(r, i, 3, -1);
  }
  PQclear(r);
  return MW_OK;
}

static mw_status outbox_delete_finished(mw_conn *c, int64_t id,
                                        char deleted_state[16]) {
  deleted_state[0] = '\0';
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_status s;
  /* Identity values are never handed out twice here, but the newest row is
   * kept all the same so both backends answer alike. Attempts go with
   * their row (ON DELETE CASCADE). */
  PGresult *r = mw_pg_run(c,
                          "DELETE FROM outbox WHERE id = $1 AND state IN "
                          "('delivered', 'dead') AND id < (SELECT max(id) FROM "
                          "outbox) RETURNING state",
                          &p, &s);
  if(!r)
    return s;
  if(PQntuples(r))
    mw_strlcpy(deleted_state, mw_pg_text(r, 0, 0), 16);
  PQclear(r);
  return MW_OK;
}

/* -------------------------------------------------------------- replicas */

static mw_status replica_beat(mw_conn *c, const char *id, const char *listen,
                              int64_t started_at, int64_t now) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, id);
  mw_pgp_text(&p, listen);
  mw_pgp_i64(&p, started_at);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c,
                  "INSERT INTO replicas(id, listen, started_at, last_seen) "
                  "VALUES($1, $2, $3, $4) ON CONFLICT(id) DO UPDATE SET "
                  "last_seen = EXCLUDED.last_seen",
                  &p, NULL);
}

static mw_status replica_lead(mw_conn *c, const char *id, int64_t now) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, id);
  mw_pgp_i64(&p, now);
  return mw_pg_do(
      c,
      "INSERT INTO cluster_leader(id, replica_id, since) VALUES(1, $1, "
      "$2) ON CONFLICT(id) DO UPDATE SET replica_id = EXCLUDED.replica_id, "
      "since = EXCLUDED.since",
      &p, NULL);
}

static mw_status replica_delete(mw_conn *c, const char *id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, id);
  return mw_pg_do(c, "DELETE FROM replicas WHERE id = $1", &p, NULL);
}

static mw_status replica_purge(mw_conn *c, int64_t before) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, before);
  return mw_pg_do(c, "DELETE FROM replicas WHERE last_seen < $1", &p, NULL);
}

static mw_status replica_list(mw_conn *c, int64_t since,
                              mw_status (*fn)(void *, const struct mw_replica_row *),
                              void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, since);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT r.id, r.listen, r.started_at, r.last_seen, "
                          "l.replica_id IS NOT NULL FROM replicas r LEFT JOIN "
                          "cluster_leader l ON l.replica_id = r.id WHERE "
                          "r.last_seen >= $1 ORDER BY r.started_at, r.id",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct mw_replica_row row = {mw_pg_text(r, i, 0), mw_pg_text(r, i, 1),
                                 mw_pg_i64(r, i, 2, 0), mw_pg_i64(r, i, 3, 0),
                                 !strcmp(mw_pg_text(r, i, 4), "t")};
    s = fn(ctx, &row);
  }
  PQclear(r);
  return s;
}

/* ------------------------------------------------------ secrets at rest */

static mw_status secret_key_get(mw_conn *c, char id[16]) {
  mw_status s;
  PGresult *r = mw_pg_run(c, "SELECT key_id FROM secret_key WHERE id = 1", NULL, &s);
  if(!r)
    return s;
  s = PQntuples(r) != 1                         ? MW_ENOTFOUND
      : mw_strlcpy(id, mw_pg_text(r, 0, 0), 16) ? MW_EINVAL
                                                : MW_OK;
  PQclear(r);
  return s;
}

static mw_status secret_key_put(mw_conn *c, const char *key_id, int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, key_id);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c,
                  "INSERT INTO secret_key(id, key_id, since) VALUES(1, $1, $2) "
                  "ON CONFLICT(id) DO UPDATE SET key_id = EXCLUDED.key_id, "
                  "since = EXCLUDED.since",
                  &p, NULL);
}

/* The statements of each column the passes walk (MW__COLS of them, in the
 * order of enum mw_secret_col, then the outbox's url). */
static const char *const secret_page_sql[MW__COLS] = {
    "SELECT id, name, url FROM channels WHERE id > $1 ORDER BY id LIMIT $2",
    "SELECT id, name, secret FROM channels WHERE id > $1 ORDER BY id LIMIT $2",
    "SELECT id, name, url FROM nodes WHERE id > $1 ORDER BY id LIMIT $2",
    "SELECT id, name, secret FROM nodes WHERE id > $1 ORDER BY id LIMIT $2",
    "SELECT id, name, url FROM subscriptions WHERE id > $1 ORDER BY id LIMIT $2",
    ("SELECT id, name, secret FROM subscriptions WHERE id > $1 ORDER BY id "
     "LIMIT $2"),
    /* Only email channels log in: the others have no password. */
    ("SELECT id, name, password FROM channels WHERE id > $1 AND password IS NOT "
     "NULL ORDER BY id LIMIT $2"),
    "SELECT id, name, secret FROM privacy_key WHERE id > $1 ORDER BY id LIMIT $2",
    "SELECT id, msg_id, url FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
};
static const char *const secret_set_sql[MW__COLS] = {
    "UPDATE channels SET url = $2 WHERE id = $1",
    "UPDATE channels SET secret = $2 WHERE id = $1",
    "UPDATE nodes SET url = $2 WHERE id = $1",
    "UPDATE nodes SET secret = $2 WHERE id = $1",
    "UPDATE subscriptions SET url = $2 WHERE id = $1",
    "UPDATE subscriptions SET secret = $2 WHERE id = $1",
    "UPDATE channels SET password = $2 WHERE id = $1",
    "UPDATE privacy_key SET secret = $2 WHERE id = $1",
    "UPDATE outbox SET url = $2 WHERE id = $1",
};

static mw_status secret_page(mw_conn *c, int col, int64_t after_id, int max,
                             struct mw_secret_row *rows, int *n) {
  assert(col >= 0 && col < MW__COLS && max > 0);
  *n = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, after_id);
  mw_pgp_i64(&p, max);
  mw_status s;
  PGresult *r = mw_pg_run(c, secret_page_sql[col], &p, &s);
  if(!r)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(r) && i < max && !s; i++) {
    struct mw_secret_row *row = &rows[(*n)++];
    row->id = mw_pg_i64(r, i, 0, 0);
    row->name = mw_pg_dup(r, i, 1);
    row->value = mw_pg_dup(r, i, 2);
    if(!row->name || !row->value)
      s = MW_ENOMEM;
  }
  PQclear(r);
  if(s) {
    mw__secret_rows_free(rows, *n);
    *n = 0;
  }
  return s;
}

static mw_status secret_set(mw_conn *c, int col, int64_t id, const char *value) {
  assert(col >= 0 && col < MW__COLS && mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_pgp_text(&p, value);
  int64_t n = 0;
  mw_status s = mw_pg_do(c, secret_set_sql[col], &p, &n);
  return !s && n != 1 ? MW_ENOTFOUND : s;
}

/* Old row versions stay in the table's files until VACUUM reuses their
 * space, and in the WAL archive: nothing a transaction can clear (the
 * README says what an operator does). */
static mw_status secret_scrub(mw_conn *c, int stage) {
  (void)c, (void)stage;
  return MW_OK;
}

const struct mw_core_store mw_core_store_pg = {
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
