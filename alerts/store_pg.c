/* alerts/store_pg.c - the store interface of alerts/ (alerts/store.h) on
 * PostgreSQL. The statements mirror alerts/store_sqlite.c; where they
 * differ it is said why:
 *  - lists a client sees in name order sort with COLLATE "C", the byte
 *    order SQLite uses, whatever the database's own collation;
 *  - the queue's head lookup is a recursive CTE doing the skip-scan that
 *    SQLite's statements do one seek at a time (one round trip, one
 *    index probe per target);
 *  - a claim is one statement that locks the rows it takes with FOR UPDATE
 *    SKIP LOCKED and returns them with their target's URL, secret and
 *    type (as stored, encrypted): workers of
 *    several replicas claiming at once each get other rows, and none
 *    waits for another (the claiming transaction need not hold the
 *    database-wide write lock, see mw_tx_begin_rows);
 *  - the worker's connection commits without waiting for the WAL flush
 *    (synchronous_commit off), the counterpart of SQLite's
 *    synchronous=NORMAL there. */
#include <stdio.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_pg.h"
#include "alerts/store.h"

/* Column text, or NULL for SQL NULL (borrowed while res lives). */
static const char *col_opt(const PGresult *res, int r, int col) {
  return mw_pg_null(res, r, col) ? NULL : mw_pg_text(res, r, col);
}

/* mw_pg_do for a statement that must change a row: MW_ENOTFOUND if none. */
static mw_status do_one(mw_conn *c, const char *sql, const mw_pg_params *p) {
  int64_t n = 0;
  mw_status s = mw_pg_do(c, sql, p, &n);
  return s ? s : n ? MW_OK : MW_ENOTFOUND;
}

/* ----------------------------------------------------------------- rules */

static mw_status rule_insert(mw_conn *c, const struct alert__rule_new *r,
                             int64_t *id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, r->name);
  mw_pgp_text(&p, r->model);
  mw_pgp_text(&p, r->alias);
  mw_pgp_id(&p, r->version > 0 ? r->version : -1);
  mw_pgp_text(&p, r->metric);
  mw_pgp_text(&p, r->op);
  mw_pgp_double(&p, r->threshold);
  mw_pgp_i64(&p, r->for_s);
  mw_pgp_i64(&p, r->window_s);
  mw_pgp_i64(&p, r->interval_s);
  mw_pgp_text(&p, r->severity);
  mw_pgp_text(&p, r->labels);
  mw_pgp_text(&p, r->annotations);
  mw_pgp_text(&p, r->action);
  mw_pgp_i64(&p, r->created_at);
  mw_pgp_text(&p, r->created_by);
  mw_pgp_i64(&p, r->next_eval_at);
  mw_pgp_text(&p, r->segment);
  mw_status s;
  PGresult *res = mw_pg_run(
      c,
      "INSERT INTO alert_rules(name, model, alias, version, metric, op, threshold, "
      "for_seconds, window_seconds, interval_seconds, severity, labels, "
      "annotations, action, created_at, created_by, next_eval_at, segment) "
      "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
      "$16, $17, $18) "
      "RETURNING id",
      &p, &s);
  if(!res)
    return s;
  *id = mw_pg_i64(res, 0, 0, 0);
  PQclear(res);
  return MW_OK;
}

static mw_status rule_add_channel(mw_conn *c, int64_t rule_id, int pos,
                                  const char *channel) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, rule_id);
  mw_pgp_i64(&p, pos);
  mw_pgp_text(&p, channel);
  return mw_pg_do(c,
                  "INSERT INTO alert_rule_channels(rule_id, pos, channel) "
                  "VALUES($1, $2, $3)",
                  &p, NULL);
}

#define RULE_COLS                                                             \
  "id, name, model, alias, version, metric, op, threshold, for_seconds, "     \
  "window_seconds, interval_seconds, severity, labels, annotations, action, " \
  "created_at, created_by, state, active_since, last_eval_at, last_value, "   \
  "last_version, last_error, next_eval_at, segment"

static void rule_row(const PGresult *res, int i, struct alert__rule_row *r) {
  r->id = mw_pg_i64(res, i, 0, 0);
  r->name = mw_pg_text(res, i, 1);
  r->model = mw_pg_text(res, i, 2);
  r->alias = col_opt(res, i, 3);
  r->version = mw_pg_i64(res, i, 4, 0);
  r->metric = mw_pg_text(res, i, 5);
  r->op = mw_pg_text(res, i, 6);
  r->threshold = mw_pg_double(res, i, 7);
  r->for_s = mw_pg_i64(res, i, 8, 0);
  r->window_s = mw_pg_i64(res, i, 9, 0);
  r->interval_s = mw_pg_i64(res, i, 10, 0);
  r->severity = mw_pg_text(res, i, 11);
  r->labels = mw_pg_text(res, i, 12);
  r->annotations = mw_pg_text(res, i, 13);
  r->action = col_opt(res, i, 14);
  r->created_at = mw_pg_i64(res, i, 15, 0);
  r->created_by = mw_pg_text(res, i, 16);
  r->state = mw_pg_text(res, i, 17);
  r->active_since = mw_pg_i64(res, i, 18, -1);
  r->last_eval_at = mw_pg_i64(res, i, 19, -1);
  r->last_value = mw_pg_double(res, i, 20);
  r->last_version = mw_pg_i64(res, i, 21, -1);
  r->last_error = col_opt(res, i, 22);
  r->next_eval_at = mw_pg_i64(res, i, 23, 0);
  r->segment = col_opt(res, i, 24);
}

/* Hands every rule row of res to fn. */
static mw_status each_rule(PGresult *res, alert__rule_fn fn, void *ctx) {
  mw_status s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++) {
    struct alert__rule_row r;
    rule_row(res, i, &r);
    s = fn(ctx, &r);
  }
  PQclear(res);
  return s;
}

static mw_status rule_get(mw_conn *c, const char *name, alert__rule_fn fn,
                          void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_status s;
  PGresult *res =
      mw_pg_run(c, "SELECT " RULE_COLS " FROM alert_rules WHERE name = $1", &p, &s);
  if(!res)
    return s;
  if(!PQntuples(res)) {
    PQclear(res);
    return MW_ENOTFOUND;
  }
  return each_rule(res, fn, ctx);
}

static mw_status rule_list(mw_conn *c, alert__rule_fn fn, void *ctx) {
  mw_status s;
  PGresult *res = mw_pg_run(
      c, "SELECT " RULE_COLS " FROM alert_rules ORDER BY name COLLATE \"C\"", NULL,
      &s);
  return res ? each_rule(res, fn, ctx) : s;
}

/* Hands every (id, text) row of res to fn. */
static mw_status each_link(PGresult *res, alert__link_fn fn, void *ctx) {
  mw_status s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++)
    s = fn(ctx, mw_pg_i64(res, i, 0, 0), mw_pg_text(res, i, 1));
  PQclear(res);
  return s;
}

static mw_status rule_channels(mw_conn *c, int64_t rule_id, alert__link_fn fn,
                               void *ctx) {
  mw_status s;
  PGresult *res;
  if(rule_id <= 0) {
    res = mw_pg_run(c,
                    "SELECT rule_id, channel FROM alert_rule_channels "
                    "ORDER BY rule_id, pos",
                    NULL, &s);
  } else {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, rule_id);
    res = mw_pg_run(c,
                    "SELECT rule_id, channel FROM alert_rule_channels "
                    "WHERE rule_id = $1 ORDER BY pos",
                    &p, &s);
  }
  return res ? each_link(res, fn, ctx) : s;
}

static mw_status rule_delete(mw_conn *c, const char *name) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  return do_one(c, "DELETE FROM alert_rules WHERE name = $1", &p);
}

static mw_status rules_due(mw_conn *c, int64_t now, int max,
                           mw_status (*fn)(void *, const char *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_i64(&p, max);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT name FROM alert_rules WHERE next_eval_at <= $1 "
                            "ORDER BY next_eval_at, id LIMIT $2",
                            &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++)
    s = fn(ctx, mw_pg_text(res, i, 0));
  PQclear(res);
  return s;
}

static mw_status rule_state(mw_conn *c, int64_t id, struct alert__rule_state *out) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT state, active_since, current_alert_id, "
                            "last_eval_at FROM alert_rules WHERE id = $1",
                            &p, &s);
  if(!res)
    return s;
  s = PQntuples(res) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    mw_strlcpy(out->state, mw_pg_text(res, 0, 0), sizeof out->state);
    out->active_since = mw_pg_i64(res, 0, 1, 0);
    out->current_alert_id = mw_pg_i64(res, 0, 2, 0);
    out->last_eval_at = mw_pg_i64(res, 0, 3, 0);
  }
  PQclear(res);
  return s;
}

static mw_status rule_save(mw_conn *c, int64_t id,
                           const struct alert__rule_eval *w) {
  assert(id > 0 && w->state && mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, w->state);
  mw_pgp_id(&p, w->active_since);
  mw_pgp_id(&p, w->current_alert_id > 0 ? w->current_alert_id : -1);
  mw_pgp_i64(&p, w->last_eval_at);
  mw_pgp_double(&p, w->last_value);
  mw_pgp_id(&p, w->last_version > 0 ? w->last_version : -1);
  mw_pgp_text(&p, w->last_error);
  mw_pgp_i64(&p, w->next_eval_at);
  mw_pgp_i64(&p, id);
  return mw_pg_do(c,
                  "UPDATE alert_rules SET state = $1, active_since = $2, "
                  "current_alert_id = $3, last_eval_at = $4, last_value = $5, "
                  "last_version = $6, last_error = $7, next_eval_at = $8 "
                  "WHERE id = $9",
                  &p, NULL);
}

/* -------------------------------------------------------------- episodes */

static mw_status episode_insert(mw_conn *c, const struct alert__episode_new *e,
                                int64_t *id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, e->rule_id);
  mw_pgp_text(&p, e->fingerprint);
  mw_pgp_text(&p, e->state);
  mw_pgp_text(&p, e->labels);
  mw_pgp_text(&p, e->annotations);
  mw_pgp_i64(&p, e->version);
  mw_pgp_double(&p, e->value);
  mw_pgp_double(&p, e->threshold);
  mw_pgp_i64(&p, e->started_at);
  mw_pgp_id(&p, e->fired_at);
  mw_status s;
  PGresult *res =
      mw_pg_run(c,
                "INSERT INTO alerts(rule_id, fingerprint, state, labels, "
                "annotations, version, value, threshold, started_at, "
                "fired_at, fired_value) VALUES($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10, CASE WHEN $10::bigint IS NULL THEN NULL ELSE "
                "$7::double precision END) RETURNING id",
                &p, &s);
  if(!res)
    return s;
  *id = mw_pg_i64(res, 0, 0, 0);
  PQclear(res);
  return MW_OK;
}

static mw_status episode_fire(mw_conn *c, int64_t id, int64_t now, double value,
                              const char *annotations) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_double(&p, value);
  mw_pgp_text(&p, annotations);
  mw_pgp_i64(&p, id);
  return mw_pg_do(c,
                  "UPDATE alerts SET state = 'firing', fired_at = $1, value = $2, "
                  "fired_value = $2, annotations = $3 WHERE id = $4",
                  &p, NULL);
}

static mw_status episode_resolve(mw_conn *c, int64_t id, int64_t now, double value,
                                 int64_t version) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_double(&p, value);
  mw_pgp_id(&p, version > 0 ? version : -1);
  mw_pgp_i64(&p, id);
  return mw_pg_do(c,
                  "UPDATE alerts SET state = 'resolved', resolved_at = $1, value = "
                  "coalesce($2::double precision, value), resolved_value = $2, "
                  "resolved_version = $3 WHERE id = $4",
                  &p, NULL);
}

static mw_status episode_discard(mw_conn *c, int64_t id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  return mw_pg_do(c, "DELETE FROM alerts WHERE id = $1 AND state = 'pending'", &p,
                  NULL);
}

static mw_status episode_value(mw_conn *c, int64_t id, double value) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_double(&p, value);
  mw_pgp_i64(&p, id);
  return mw_pg_do(c, "UPDATE alerts SET value = $1 WHERE id = $2", &p, NULL);
}

static mw_status episode_action(mw_conn *c, int64_t id, const char *result) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, result);
  mw_pgp_i64(&p, id);
  return mw_pg_do(c, "UPDATE alerts SET action_result = $1 WHERE id = $2", &p, NULL);
}

static mw_status
episode_list(mw_conn *c, const char *state, int limit,
             mw_status (*fn)(void *, const struct alert__episode_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, state);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *res = mw_pg_run(
      c,
      "SELECT a.id, r.name, a.state, a.labels, a.annotations, a.version, a.value, "
      "a.threshold, a.started_at, a.fired_at, a.resolved_at, a.acked_at, "
      "a.acked_by, a.fingerprint, a.action_result, r.metric, r.op, r.model, "
      "a.fired_value, a.resolved_value, a.resolved_version "
      "FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
      "WHERE ($1::text IS NULL OR a.state = $1) ORDER BY a.id DESC LIMIT $2",
      &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++) {
    /* A NULL value reads as 0, as SQLite's column_double gives it. */
    double value = mw_pg_null(res, i, 6) ? 0 : mw_pg_double(res, i, 6);
    struct alert__episode_row e = {
        .id = mw_pg_i64(res, i, 0, 0),
        .rule = mw_pg_text(res, i, 1),
        .state = mw_pg_text(res, i, 2),
        .labels = mw_pg_text(res, i, 3),
        .annotations = mw_pg_text(res, i, 4),
        .version = mw_pg_i64(res, i, 5, 0),
        .value = value,
        .threshold = mw_pg_double(res, i, 7),
        .started_at = mw_pg_i64(res, i, 8, 0),
        .fired_at = mw_pg_i64(res, i, 9, -1),
        .resolved_at = mw_pg_i64(res, i, 10, -1),
        .acked_at = mw_pg_i64(res, i, 11, -1),
        .acked_by = col_opt(res, i, 12),
        .fingerprint = mw_pg_text(res, i, 13),
        .action_result = col_opt(res, i, 14),
        .metric = mw_pg_text(res, i, 15),
        .op = mw_pg_text(res, i, 16),
        .model = mw_pg_text(res, i, 17),
        .fired_value = mw_pg_double(res, i, 18),
        .resolved_value = mw_pg_double(res, i, 19),
        .resolved_version = mw_pg_i64(res, i, 20, 0),
    };
    s = fn(ctx, &e);
  }
  PQclear(res);
  return s;
}

static mw_status episode_ack(mw_conn *c, int64_t id, int64_t now,
                             const char *actor) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_text(&p, actor);
  mw_pgp_i64(&p, id);
  return do_one(c,
                "UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE id = $3 "
                "AND state != 'resolved'",
                &p);
}

/* --------------------------------------------------- notification groups */

static mw_status notify_pairs(mw_conn *c, int limit,
                              mw_status (*fn)(void *, const char *, const char *),
                              void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, limit);
  mw_status s;
  /* The union is wrapped: PostgreSQL orders a UNION only by its output
   * columns, and the order here is SQLite's (byte order). */
  PGresult *res = mw_pg_run(
      c,
      "SELECT channel, model FROM (SELECT rc.channel, r.model FROM alert_rules r "
      "JOIN alert_rule_channels rc ON rc.rule_id = r.id WHERE EXISTS (SELECT 1 "
      "FROM alerts a WHERE a.rule_id = r.id AND (a.state = 'firing' OR (a.state = "
      "'resolved' AND a.fired_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
      "alert_resolved_sent s WHERE s.alert_id = a.id AND s.channel = "
      "rc.channel)))) UNION SELECT channel, group_key FROM notify_groups) u "
      "ORDER BY channel COLLATE \"C\", model COLLATE \"C\" LIMIT $1",
      &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++)
    s = fn(ctx, mw_pg_text(res, i, 0), mw_pg_text(res, i, 1));
  PQclear(res);
  return s;
}

static mw_status
notify_members(mw_conn *c, const char *channel, const char *model, int limit,
               mw_status (*fn)(void *, const struct alert__member_row *),
               void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, channel);
  mw_pgp_text(&p, model);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *res = mw_pg_run(
      c,
      "SELECT a.id, a.state, a.labels, a.annotations, a.version, a.value, "
      "a.threshold, a.started_at, a.fired_at, a.resolved_at, a.acked_at IS NOT "
      "NULL, a.fingerprint, r.name, r.model, coalesce(r.alias, ''), r.metric, "
      "r.op, r.severity, a.fired_value, a.resolved_value, a.resolved_version, "
      "a.action_result, EXISTS (SELECT 1 FROM alert_fired_sent f WHERE "
      "f.alert_id = a.id AND f.channel = $1) FROM alerts a "
      "JOIN alert_rules r ON r.id = a.rule_id WHERE r.model = $2 AND EXISTS (SELECT "
      "1 FROM alert_rule_channels rc "
      "WHERE rc.rule_id = r.id AND rc.channel = $1) AND (a.state = 'firing' OR "
      "(a.state = 'resolved' AND a.fired_at IS NOT NULL AND NOT EXISTS (SELECT 1 "
      "FROM alert_resolved_sent s WHERE s.alert_id = a.id AND s.channel = $1))) "
      "ORDER BY a.id LIMIT $3",
      &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++) {
    struct alert__member_row m = {
        .id = mw_pg_i64(res, i, 0, 0),
        .firing = !strcmp(mw_pg_text(res, i, 1), "firing"),
        .labels = mw_pg_text(res, i, 2),
        .annotations = mw_pg_text(res, i, 3),
        .version = mw_pg_i64(res, i, 4, 0),
        .value = mw_pg_null(res, i, 5) ? 0 : mw_pg_double(res, i, 5),
        .threshold = mw_pg_double(res, i, 6),
        .started_at = mw_pg_i64(res, i, 7, 0),
        .fired_at = mw_pg_i64(res, i, 8, 0),
        .resolved_at = mw_pg_i64(res, i, 9, 0),
        .acked = !strcmp(mw_pg_text(res, i, 10), "t"),
        .fingerprint = mw_pg_text(res, i, 11),
        .rule = mw_pg_text(res, i, 12),
        .model = mw_pg_text(res, i, 13),
        .alias = mw_pg_text(res, i, 14),
        .metric = mw_pg_text(res, i, 15),
        .op = mw_pg_text(res, i, 16),
        .severity = mw_pg_text(res, i, 17),
        .fired_value = mw_pg_double(res, i, 18),
        .resolved_value = mw_pg_double(res, i, 19),
        .resolved_version = mw_pg_i64(res, i, 20, 0),
        .action_result = col_opt(res, i, 21),
        .told_fired = !strcmp(mw_pg_text(res, i, 22), "t"),
    };
    s = fn(ctx, &m);
  }
  PQclear(res);
  return s;
}

static mw_status group_touch(mw_conn *c, const char *channel, const char *key,
                             int64_t now) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, channel);
  mw_pgp_text(&p, key);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c,
                  "INSERT INTO notify_groups(channel, group_key, created_at) "
                  "VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
                  &p, NULL);
}

static mw_status group_get(mw_conn *c, const char *channel, const char *key,
                           struct alert__group_row *out) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, channel);
  mw_pgp_text(&p, key);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT created_at, last_sent_at, last_digest FROM "
                            "notify_groups WHERE channel = $1 AND group_key = $2",
                            &p, &s);
  if(!res)
    return s;
  s = PQntuples(res) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    out->created_at = mw_pg_i64(res, 0, 0, 0);
    out->last_sent_at = mw_pg_i64(res, 0, 1, -1);
    mw_strlcpy(out->digest, mw_pg_text(res, 0, 2), sizeof out->digest);
  }
  PQclear(res);
  return s;
}

static mw_status group_sent(mw_conn *c, const char *channel, const char *key,
                            int64_t now, const char *digest) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_text(&p, digest);
  mw_pgp_text(&p, channel);
  mw_pgp_text(&p, key);
  return mw_pg_do(c,
                  "UPDATE notify_groups SET last_sent_at = $1, last_digest = $2 "
                  "WHERE channel = $3 AND group_key = $4",
                  &p, NULL);
}

static mw_status group_forget(mw_conn *c, const char *channel, const char *key) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, channel);
  mw_pgp_text(&p, key);
  return mw_pg_do(c,
                  "DELETE FROM notify_groups WHERE channel = $1 AND group_key = $2",
                  &p, NULL);
}

static mw_status resolved_sent(mw_conn *c, int64_t alert_id, const char *channel) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, alert_id);
  mw_pgp_text(&p, channel);
  return mw_pg_do(c,
                  "INSERT INTO alert_resolved_sent(alert_id, channel) "
                  "VALUES($1, $2) ON CONFLICT DO NOTHING",
                  &p, NULL);
}

static mw_status fired_sent(mw_conn *c, int64_t alert_id, const char *channel) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, alert_id);
  mw_pgp_text(&p, channel);
  return mw_pg_do(c,
                  "INSERT INTO alert_fired_sent(alert_id, channel) "
                  "VALUES($1, $2) ON CONFLICT DO NOTHING",
                  &p, NULL);
}

/* -------------------------------------------------------------- silences */

static mw_status silence_insert(mw_conn *c, const char *matchers, int64_t starts_at,
                                int64_t ends_at, const char *comment,
                                const char *actor, int64_t now, int64_t *id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, matchers);
  mw_pgp_i64(&p, starts_at);
  mw_pgp_i64(&p, ends_at);
  mw_pgp_text(&p, comment);
  mw_pgp_text(&p, actor);
  mw_pgp_i64(&p, now);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "INSERT INTO silences(matchers, starts_at, ends_at, "
                            "comment, created_by, created_at) VALUES($1, $2, $3, "
                            "$4, $5, $6) RETURNING id",
                            &p, &s);
  if(!res)
    return s;
  *id = mw_pg_i64(res, 0, 0, 0);
  PQclear(res);
  return MW_OK;
}

static mw_status
silence_list(mw_conn *c, int64_t now, int limit,
             mw_status (*fn)(void *, const struct alert__silence_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT id, matchers, starts_at, ends_at, comment, "
                            "created_by FROM silences ORDER BY (ends_at > $1) DESC, "
                            "id DESC LIMIT $2",
                            &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++) {
    struct alert__silence_row r = {mw_pg_i64(res, i, 0, 0), mw_pg_text(res, i, 1),
                                   mw_pg_i64(res, i, 2, 0), mw_pg_i64(res, i, 3, 0),
                                   mw_pg_text(res, i, 4),   mw_pg_text(res, i, 5)};
    s = fn(ctx, &r);
  }
  PQclear(res);
  return s;
}

static mw_status silence_expire(mw_conn *c, int64_t id, int64_t now) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_i64(&p, id);
  return do_one(c, "UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1",
                &p);
}

static mw_status silences_active(mw_conn *c, int64_t now,
                                 mw_status (*fn)(void *, int64_t, const char *),
                                 void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_status s;
  PGresult *res =
      mw_pg_run(c,
                "SELECT id, matchers FROM silences WHERE starts_at <= $1 "
                "AND ends_at > $1 ORDER BY id",
                &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++)
    s = fn(ctx, mw_pg_i64(res, i, 0, 0), mw_pg_text(res, i, 1));
  PQclear(res);
  return s;
}

/* -------------------------------------------------------------- channels */

static mw_status channel_insert(mw_conn *c, const struct alert__channel_new *ch) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, ch->name);
  mw_pgp_text(&p, ch->type);
  mw_pgp_text(&p, ch->url);
  mw_pgp_text(&p, ch->secret);
  mw_pgp_i64(&p, ch->created_at);
  mw_pgp_text(&p, ch->settings);
  mw_pgp_text(&p, ch->username);
  mw_pgp_text(&p, ch->password);
  return mw_pg_do(c,
                  "INSERT INTO channels(name, type, url, secret, created_at, "
                  "settings, username, password) VALUES($1, $2, $3, $4, $5, $6, "
                  "$7, $8)",
                  &p, NULL);
}

/* Hands every channel row of res to fn. */
static mw_status
each_channel(PGresult *res,
             mw_status (*fn)(void *, const struct alert__channel_row *), void *ctx) {
  mw_status s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++) {
    struct alert__channel_row r = {mw_pg_text(res, i, 0), mw_pg_text(res, i, 1),
                                   mw_pg_text(res, i, 2), mw_pg_i64(res, i, 3, 0),
                                   col_opt(res, i, 4),    col_opt(res, i, 5)};
    s = fn(ctx, &r);
  }
  PQclear(res);
  return s;
}

static mw_status
channel_get(mw_conn *c, const char *name,
            mw_status (*fn)(void *, const struct alert__channel_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT name, type, url, created_at, settings, username "
                            "FROM channels WHERE name = $1",
                            &p, &s);
  if(!res)
    return s;
  if(!PQntuples(res)) {
    PQclear(res);
    return MW_ENOTFOUND;
  }
  return each_channel(res, fn, ctx);
}

static mw_status
channel_list(mw_conn *c, mw_status (*fn)(void *, const struct alert__channel_row *),
             void *ctx) {
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT name, type, url, created_at, settings, username "
                            "FROM channels ORDER BY name COLLATE \"C\"",
                            NULL, &s);
  return res ? each_channel(res, fn, ctx) : s;
}

static mw_status channel_delete(mw_conn *c, const char *name) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  return do_one(c, "DELETE FROM channels WHERE name = $1", &p);
}

static mw_status channel_rules(mw_conn *c, const char *channel, alert__link_fn fn,
                               void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, channel);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT r.id, r.name FROM alert_rules r WHERE EXISTS "
                            "(SELECT 1 FROM alert_rule_channels rc WHERE "
                            "rc.rule_id = r.id AND rc.channel = $1) "
                            "ORDER BY r.name COLLATE \"C\"",
                            &p, &s);
  return res ? each_link(res, fn, ctx) : s;
}

static mw_status channel_detach(mw_conn *c, const char *channel) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, channel);
  return mw_pg_do(c, "DELETE FROM alert_rule_channels WHERE channel = $1", &p, NULL);
}

/* ----------------------------------------------------------------- queue */

static mw_status queue_heads(mw_conn *c,
                             mw_status (*fn)(void *, const struct alert__head *),
                             void *ctx) {
  mw_status s;
  /* A skip-scan of outbox_queue: each step of the recursion seeks the next
   * target after the last one (a row comparison the index answers), then
   * each target's head is one more seek. The partial index's predicate is
   * repeated so the planner may use it. */
  PGresult *res = mw_pg_run(
      c,
      "WITH RECURSIVE t(tt, tn) AS ((SELECT target_type, target_name FROM outbox "
      "WHERE state IN ('pending', 'failed') ORDER BY target_type, target_name "
      "LIMIT 1) UNION ALL SELECT n.target_type, n.target_name FROM t CROSS JOIN "
      "LATERAL (SELECT target_type, target_name FROM outbox WHERE state IN "
      "('pending', 'failed') AND (target_type, target_name) > (t.tt, t.tn) "
      "ORDER BY target_type, target_name LIMIT 1) n) "
      "SELECT h.id, h.next_attempt_at, COALESCE(h.claim_until, 0) FROM t CROSS "
      "JOIN LATERAL (SELECT id, next_attempt_at, claim_until FROM outbox WHERE "
      "target_type = t.tt AND target_name = t.tn AND state IN ('pending', "
      "'failed') ORDER BY id LIMIT 1) h",
      NULL, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++) {
    struct alert__head h = {mw_pg_i64(res, i, 0, 0), mw_pg_i64(res, i, 1, 0),
                            mw_pg_i64(res, i, 2, 0)};
    s = fn(ctx, &h);
  }
  PQclear(res);
  return s;
}

static mw_status job_fill(const PGresult *res, int i, struct alert__job *j) {
  memset(j, 0, sizeof *j);
  j->id = mw_pg_i64(res, i, 0, 0);
  mw_strlcpy(j->msg_id, mw_pg_text(res, i, 1), sizeof j->msg_id);
  mw_strlcpy(j->kind, mw_pg_text(res, i, 2), sizeof j->kind);
  mw_strlcpy(j->target_type, mw_pg_text(res, i, 3), sizeof j->target_type);
  mw_strlcpy(j->target_name, mw_pg_text(res, i, 4), sizeof j->target_name);
  j->payload = strdup(mw_pg_text(res, i, 5));
  j->payload_len = (size_t)PQgetlength(res, i, 5);
  j->cycle_attempts = (int)mw_pg_i64(res, i, 6, 0);
  j->cycle_started_at = mw_pg_i64(res, i, 7, 0);
  /* The target's URL and secret as stored (NULL: the target is gone). */
  if(!mw_pg_null(res, i, 8) && !(j->url = strdup(mw_pg_text(res, i, 8))))
    return MW_ENOMEM;
  if(!mw_pg_null(res, i, 9) && !(j->secret = strdup(mw_pg_text(res, i, 9))))
    return MW_ENOMEM;
  mw_strlcpy(j->channel_type, mw_pg_text(res, i, 10), sizeof j->channel_type);
  if(!mw_pg_null(res, i, 11) && !(j->username = strdup(mw_pg_text(res, i, 11))))
    return MW_ENOMEM;
  if(!mw_pg_null(res, i, 12) && !(j->password = strdup(mw_pg_text(res, i, 12))))
    return MW_ENOMEM;
  return j->payload ? MW_OK : MW_ENOMEM;
}

static mw_status queue_claim(mw_conn *c, const int64_t *ids, int n, int max,
                             const char *claim_token, int64_t now, int64_t until,
                             struct alert__job *jobs, int *njobs) {
  assert(n >= 0 && max >= 0 && (n == 0 || ids) && claim_token);
  *njobs = 0;
  if(n <= 0 || max <= 0)
    return MW_OK;
  /* The candidates travel as one bigint[] literal: "{1,2,3}". */
  mw_buf arr;
  mw_buf_init(&arr, (size_t)n * 24 + 16);
  mw_status s = mw_buf_append(&arr, "{", 1);
  for(int i = 0; i < n && !s; i++)
    s = mw_buf_printf(&arr, "%s%lld", i ? "," : "", (long long)ids[i]);
  if(!s)
    s = mw_buf_append(&arr, "}", 1);
  if(s) {
    mw_buf_free(&arr);
    return s;
  }
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, claim_token);
  mw_pgp_i64(&p, until);
  mw_pgp_text(&p, arr.data);
  mw_pgp_i64(&p, now);
  mw_pgp_i64(&p, max);
  /* The conditions are checked again on the row as it is when locked: a
   * candidate another replica claimed, or delivered, since the heads were
   * read is left alone, and one it is claiming right now is skipped. */
  PGresult *res = mw_pg_run(
      c,
      "UPDATE outbox o SET claim_token = $1, claim_until = $2 FROM (SELECT id "
      "FROM outbox WHERE id = ANY($3::bigint[]) AND state IN ('pending', "
      "'failed') AND next_attempt_at <= $4 AND COALESCE(claim_until, 0) <= $4 "
      "ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) picked "
      "WHERE o.id = picked.id RETURNING o.id, o.msg_id, o.kind, o.target_type, "
      "o.target_name, o.payload, o.cycle_attempts, "
      "COALESCE(o.cycle_started_at, o.created_at), CASE o.target_type "
      "WHEN 'node' THEN (SELECT url FROM nodes WHERE name = o.target_name) "
      "WHEN 'channel' THEN (SELECT url FROM channels WHERE name = "
      "o.target_name) WHEN 'subscription' THEN (SELECT url FROM "
      "subscriptions WHERE name = o.target_name) END, CASE o.target_type "
      "WHEN 'node' THEN (SELECT secret FROM nodes WHERE name = o.target_name) "
      "WHEN 'channel' THEN (SELECT secret FROM channels WHERE name = "
      "o.target_name) WHEN 'subscription' THEN (SELECT secret FROM "
      "subscriptions WHERE name = o.target_name) END, CASE o.target_type "
      "WHEN 'channel' THEN (SELECT type FROM channels WHERE name = "
      "o.target_name) END, CASE o.target_type "
      "WHEN 'channel' THEN (SELECT username FROM channels WHERE name = "
      "o.target_name) END, CASE o.target_type WHEN 'channel' THEN (SELECT "
      "password FROM channels WHERE name = o.target_name) END",
      &p, &s);
  mw_buf_free(&arr);
  if(!res)
    return s;
  for(int i = 0; i < PQntuples(res) && *njobs < max && !s; i++)
    s = job_fill(res, i, &jobs[(*njobs)++]);
  PQclear(res);
  if(s) {
    for(int i = 0; i < *njobs; i++)
      alert__job_clear(&jobs[i]);
    *njobs = 0;
  }
  return s;
}

static mw_status queue_attempt(mw_conn *c, const char *claim_token,
                               const struct alert__result *r, int *kept) {
  assert(r->id > 0 && r->state && mw_tx_state(c) == 1);
  *kept = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, r->id);
  mw_pgp_i64(&p, r->at);
  mw_pgp_id(&p, r->status_code > 0 ? r->status_code : -1);
  mw_pgp_i64(&p, r->latency_ms);
  mw_pgp_text(&p, r->error);
  mw_status s = mw_pg_do(
      c,
      "INSERT INTO delivery_attempts(outbox_id, at, status_code, latency_ms, "
      "error) SELECT $1::bigint, $2::bigint, $3::int4, $4::bigint, $5::text "
      "WHERE EXISTS (SELECT 1 FROM outbox WHERE id = $1::bigint)",
      &p, NULL);
  if(s)
    return s;
  mw_pgp_init(&p);
  mw_pgp_text(&p, r->state);
  mw_pgp_i64(&p, r->next_attempt_at);
  mw_pgp_id(&p, r->status_code > 0 ? r->status_code : -1);
  mw_pgp_text(&p, r->error);
  mw_pgp_i64(&p, r->at + r->latency_ms);
  mw_pgp_i64(&p, r->id);
  mw_pgp_text(&p, claim_token);
  int64_t n = 0;
  s = mw_pg_do(c,
               "UPDATE outbox SET state = $1::text, attempts = attempts + 1, "
               "cycle_attempts = cycle_attempts + 1, next_attempt_at = CASE WHEN "
               "$1::text = 'failed' THEN $2::bigint ELSE next_attempt_at END, "
               "last_status = $3::int4, last_error = $4::text, delivered_at = "
               "CASE WHEN $1::text = 'delivered' THEN $5::bigint ELSE "
               "delivered_at END, claim_token = NULL, claim_until = NULL "
               "WHERE id = $6 AND claim_token = $7",
               &p, &n);
  if(!s)
    *kept = n > 0;
  return s;
}

static mw_status queue_release(mw_conn *c, const char *claim_token, int64_t id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_pgp_text(&p, claim_token);
  mw_status s = mw_pg_do(c,
                         "UPDATE outbox SET claim_token = NULL, claim_until = "
                         "NULL WHERE id = $1 AND claim_token = $2",
                         &p, NULL);
  /* The row may go at once: the other replicas' workers are told. */
  return s ? s : mw_pg_notify(c, "mw_change");
}

static mw_status queue_state(mw_conn *c, int64_t id, char state[16]) {
  state[0] = '\0';
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_status s;
  PGresult *res = mw_pg_run(c, "SELECT state FROM outbox WHERE id = $1", &p, &s);
  if(!res)
    return s;
  s = PQntuples(res) ? MW_OK : MW_ENOTFOUND;
  if(!s)
    mw_strlcpy(state, mw_pg_text(res, 0, 0), 16);
  PQclear(res);
  return s;
}

static mw_status queue_requeue(mw_conn *c, int64_t id, int64_t now) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_i64(&p, id);
  mw_status s = mw_pg_do(c,
                         "UPDATE outbox SET state = 'pending', next_attempt_at = "
                         "$1, cycle_attempts = 0, cycle_started_at = $1 WHERE "
                         "id = $2",
                         &p, NULL);
  /* Work for the workers, as a queued row is: they sleep on this channel
   * (SQLite's workers see any commit in the data version). */
  return s ? s : mw_pg_notify(c, "mw_change");
}

static mw_status worker_conn_tune(mw_conn *c) {
  /* Claims and attempt results lost in a crash of the database server mean
   * a webhook sent again (at-least-once); not waiting for the WAL flush at
   * each of them keeps the worker's commits cheap. The setting lives in
   * the session, and a reconnect forgets it: the worker then commits as
   * everyone else does, which is only slower. */
  return mw_pg_exec(c, "SET synchronous_commit = off");
}

const struct alert__store alert__store_pg = {
    .rule_insert = rule_insert,
    .rule_add_channel = rule_add_channel,
    .rule_get = rule_get,
    .rule_list = rule_list,
    .rule_channels = rule_channels,
    .rule_delete = rule_delete,
    .rules_due = rules_due,
    .rule_state = rule_state,
    .rule_save = rule_save,
    .episode_insert = episode_insert,
    .episode_fire = episode_fire,
    .episode_resolve = episode_resolve,
    .episode_discard = episode_discard,
    .episode_value = episode_value,
    .episode_action = episode_action,
    .episode_list = episode_list,
    .episode_ack = episode_ack,
    .notify_pairs = notify_pairs,
    .notify_members = notify_members,
    .group_touch = group_touch,
    .group_get = group_get,
    .group_sent = group_sent,
    .group_forget = group_forget,
    .resolved_sent = resolved_sent,
    .fired_sent = fired_sent,
    .silence_insert = silence_insert,
    .silence_list = silence_list,
    .silence_expire = silence_expire,
    .silences_active = silences_active,
    .channel_insert = channel_insert,
    .channel_get = channel_get,
    .channel_list = channel_list,
    .channel_delete = channel_delete,
    .channel_rules = channel_rules,
    .channel_detach = channel_detach,
    .queue_heads = queue_heads,
    .queue_claim = queue_claim,
    .queue_attempt = queue_attempt,
    .queue_release = queue_release,
    .queue_state = queue_state,
    .queue_requeue = queue_requeue,
    .worker_conn_tune = worker_conn_tune,
};
