/* alerts/store_sqlite.c - the store interface of alerts/ (alerts/store.h)
 * on SQLite: rules and their channel lists, episodes, notification groups,
 * silences, channels and the delivery queue in the outbox.
 *
 * Every statement is a cached prepared statement (mw_stmt) run through the
 * step helpers of core/db_sqlite.h, which map each result code once. The
 * queue's head lookup is a skip-scan of the outbox_queue index (two index
 * seeks per target, whatever the backlog); claims need no row locks here:
 * SQLite has one writer at a time, so the heads read inside the claiming
 * transaction cannot change under it. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db_sqlite.h"
#include "alerts/store.h"

/* Column text, or NULL for SQL NULL (borrowed until the next step). */
static const char *col_opt(sqlite3_stmt *st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL : mw_col_text(st, col);
}

/* Runs st (already bound) as a one-row lookup and hands the row to fill;
 * MW_ENOTFOUND without a row. */
static mw_status one_row(mw_conn *c, sqlite3_stmt *st,
                         mw_status (*fill)(sqlite3_stmt *st, void *arg), void *arg) {
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(s || !found)
    return s ? s : MW_ENOTFOUND;
  s = fill(st, arg);
  sqlite3_reset(st);
  return s;
}

/* Done, and at least one row changed; MW_ENOTFOUND otherwise. */
static mw_status changed_one(mw_conn *c, sqlite3_stmt *st) {
  mw_status s = mw_step_done(c, st);
  if(!s && mw_sqlite_changes(c) == 0)
    s = MW_ENOTFOUND;
  return s;
}

/* ----------------------------------------------------------------- rules */

static mw_status rule_insert(mw_conn *c, const struct alert__rule_new *r,
                             int64_t *id) {
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO alert_rules(name, model, alias, version, metric, op, "
         "threshold, for_seconds, window_seconds, interval_seconds, severity, "
         "labels, annotations, action, created_at, created_by, next_eval_at, "
         "segment) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if(st) {
    mw_bind_text(st, 1, r->name);
    mw_bind_text(st, 2, r->model);
    mw_bind_text(st, 3, r->alias);
    mw_bind_id(st, 4, r->version > 0 ? r->version : -1);
    mw_bind_text(st, 5, r->metric);
    mw_bind_text(st, 6, r->op);
    sqlite3_bind_double(st, 7, r->threshold);
    sqlite3_bind_int64(st, 8, r->for_s);
    sqlite3_bind_int64(st, 9, r->window_s);
    sqlite3_bind_int64(st, 10, r->interval_s);
    mw_bind_text(st, 11, r->severity);
    mw_bind_text(st, 12, r->labels);
    mw_bind_text(st, 13, r->annotations);
    mw_bind_text(st, 14, r->action);
    sqlite3_bind_int64(st, 15, r->created_at);
    mw_bind_text(st, 16, r->created_by);
    sqlite3_bind_int64(st, 17, r->next_eval_at);
    mw_bind_text(st, 18, r->segment);
  }
  mw_status s = mw_step_done(c, st);
  if(!s)
    *id = mw_sqlite_last_id(c);
  return s;
}

static mw_status rule_add_channel(mw_conn *c, int64_t rule_id, int pos,
                                  const char *channel) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO alert_rule_channels(rule_id, pos, "
                                "channel) VALUES(?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, rule_id);
    sqlite3_bind_int(st, 2, pos);
    mw_bind_text(st, 3, channel);
  }
  return mw_step_done(c, st);
}

#define RULE_COLS                                                             \
  "id, name, model, alias, version, metric, op, threshold, for_seconds, "     \
  "window_seconds, interval_seconds, severity, labels, annotations, action, " \
  "created_at, created_by, state, active_since, last_eval_at, last_value, "   \
  "last_version, last_error, next_eval_at, segment"

static void rule_row(sqlite3_stmt *st, struct alert__rule_row *r) {
  r->id = sqlite3_column_int64(st, 0);
  r->name = mw_col_text(st, 1);
  r->model = mw_col_text(st, 2);
  r->alias = col_opt(st, 3);
  r->version = mw_col_i64(st, 4, 0);
  r->metric = mw_col_text(st, 5);
  r->op = mw_col_text(st, 6);
  r->threshold = sqlite3_column_double(st, 7);
  r->for_s = sqlite3_column_int64(st, 8);
  r->window_s = sqlite3_column_int64(st, 9);
  r->interval_s = sqlite3_column_int64(st, 10);
  r->severity = mw_col_text(st, 11);
  r->labels = mw_col_text(st, 12);
  r->annotations = mw_col_text(st, 13);
  r->action = col_opt(st, 14);
  r->created_at = sqlite3_column_int64(st, 15);
  r->created_by = mw_col_text(st, 16);
  r->state = mw_col_text(st, 17);
  r->active_since = mw_col_i64(st, 18, -1);
  r->last_eval_at = mw_col_i64(st, 19, -1);
  r->last_value = mw_col_double(st, 20);
  r->last_version = mw_col_i64(st, 21, -1);
  r->last_error = col_opt(st, 22);
  r->next_eval_at = sqlite3_column_int64(st, 23);
  r->segment = col_opt(st, 24);
}

struct rule_cb {
  alert__rule_fn fn;
  void *ctx;
};

static mw_status rule_fill(sqlite3_stmt *st, void *arg) {
  struct rule_cb *cb = arg;
  struct alert__rule_row r;
  rule_row(st, &r);
  return cb->fn(cb->ctx, &r);
}

static mw_status rule_get(mw_conn *c, const char *name, alert__rule_fn fn,
                          void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT " RULE_COLS " FROM alert_rules WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  struct rule_cb cb = {fn, ctx};
  return one_row(c, st, rule_fill, &cb);
}

static mw_status rule_list(mw_conn *c, alert__rule_fn fn, void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT " RULE_COLS " FROM alert_rules ORDER BY name");
  if(!st)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    struct alert__rule_row r;
    rule_row(st, &r);
    if((s = fn(ctx, &r)) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

/* Runs st (bound) and hands each (id, text) row to fn. */
static mw_status each_link(mw_conn *c, sqlite3_stmt *st, alert__link_fn fn,
                           void *ctx) {
  if(!st)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    if((s = fn(ctx, sqlite3_column_int64(st, 0), mw_col_text(st, 1))) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status rule_channels(mw_conn *c, int64_t rule_id, alert__link_fn fn,
                               void *ctx) {
  if(rule_id <= 0)
    return each_link(c,
                     mw_stmt(c, "SELECT rule_id, channel FROM alert_rule_channels "
                                "ORDER BY rule_id, pos"),
                     fn, ctx);
  sqlite3_stmt *st = mw_stmt(c, "SELECT rule_id, channel FROM alert_rule_channels "
                                "WHERE rule_id = ? ORDER BY pos");
  if(st)
    sqlite3_bind_int64(st, 1, rule_id);
  return each_link(c, st, fn, ctx);
}

static mw_status rule_delete(mw_conn *c, const char *name) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM alert_rules WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  return changed_one(c, st);
}

static mw_status rules_due(mw_conn *c, int64_t now, int max,
                           mw_status (*fn)(void *, const char *), void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT name FROM alert_rules WHERE next_eval_at "
                                "<= ? ORDER BY next_eval_at, id LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int(st, 2, max);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    if((s = fn(ctx, mw_col_text(st, 0))) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status state_fill(sqlite3_stmt *st, void *arg) {
  struct alert__rule_state *out = arg;
  mw_strlcpy(out->state, mw_col_text(st, 0), sizeof out->state);
  out->active_since = mw_col_i64(st, 1, 0);
  out->current_alert_id = mw_col_i64(st, 2, 0);
  out->last_eval_at = mw_col_i64(st, 3, 0);
  return MW_OK;
}

static mw_status rule_state(mw_conn *c, int64_t id, struct alert__rule_state *out) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT state, active_since, current_alert_id, "
                                "last_eval_at FROM alert_rules WHERE id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, id);
  return one_row(c, st, state_fill, out);
}

static mw_status rule_save(mw_conn *c, int64_t id,
                           const struct alert__rule_eval *w) {
  assert(id > 0 && w->state && mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE alert_rules SET state = ?, active_since = ?, "
                 "current_alert_id = ?, last_eval_at = ?, last_value = ?, "
                 "last_version = ?, last_error = ?, next_eval_at = ? WHERE id = ?");
  if(st) {
    mw_bind_text(st, 1, w->state);
    mw_bind_id(st, 2, w->active_since);
    mw_bind_id(st, 3, w->current_alert_id > 0 ? w->current_alert_id : -1);
    sqlite3_bind_int64(st, 4, w->last_eval_at);
    mw_bind_double(st, 5, w->last_value);
    mw_bind_id(st, 6, w->last_version > 0 ? w->last_version : -1);
    mw_bind_text(st, 7, w->last_error);
    sqlite3_bind_int64(st, 8, w->next_eval_at);
    sqlite3_bind_int64(st, 9, id);
  }
  return mw_step_done(c, st);
}

/* -------------------------------------------------------------- episodes */

static mw_status episode_insert(mw_conn *c, const struct alert__episode_new *e,
                                int64_t *id) {
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO alerts(rule_id, fingerprint, state, labels, annotations, "
         "version, value, threshold, started_at, fired_at, fired_value) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
         "CASE WHEN ?10 IS NULL THEN NULL ELSE ?7 END)");
  if(st) {
    sqlite3_bind_int64(st, 1, e->rule_id);
    mw_bind_text(st, 2, e->fingerprint);
    mw_bind_text(st, 3, e->state);
    mw_bind_text(st, 4, e->labels);
    mw_bind_text(st, 5, e->annotations);
    sqlite3_bind_int64(st, 6, e->version);
    sqlite3_bind_double(st, 7, e->value);
    sqlite3_bind_double(st, 8, e->threshold);
    sqlite3_bind_int64(st, 9, e->started_at);
    mw_bind_id(st, 10, e->fired_at);
  }
  mw_status s = mw_step_done(c, st);
  if(!s)
    *id = mw_sqlite_last_id(c);
  return s;
}

static mw_status episode_fire(mw_conn *c, int64_t id, int64_t now, double value,
                              const char *annotations) {
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE alerts SET state = 'firing', fired_at = ?1, value = ?2, "
                 "fired_value = ?2, annotations = ?3 WHERE id = ?4");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_double(st, 2, value);
    mw_bind_text(st, 3, annotations);
    sqlite3_bind_int64(st, 4, id);
  }
  return mw_step_done(c, st);
}

static mw_status episode_resolve(mw_conn *c, int64_t id, int64_t now, double value,
                                 int64_t version) {
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE alerts SET state = 'resolved', resolved_at = ?1, value = "
                 "coalesce(?2, value), resolved_value = ?2, resolved_version = ?3 "
                 "WHERE id = ?4");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    mw_bind_double(st, 2, value);
    mw_bind_id(st, 3, version > 0 ? version : -1);
    sqlite3_bind_int64(st, 4, id);
  }
  return mw_step_done(c, st);
}

static mw_status episode_discard(mw_conn *c, int64_t id) {
  sqlite3_stmt *st =
      mw_stmt(c, "DELETE FROM alerts WHERE id = ? AND state = 'pending'");
  if(st)
    sqlite3_bind_int64(st, 1, id);
  return mw_step_done(c, st);
}

static mw_status episode_value(mw_conn *c, int64_t id, double value) {
  sqlite3_stmt *st = mw_stmt(c, "UPDATE alerts SET value = ? WHERE id = ?");
  if(st) {
    sqlite3_bind_double(st, 1, value);
    sqlite3_bind_int64(st, 2, id);
  }
  return mw_step_done(c, st);
}

static mw_status episode_action(mw_conn *c, int64_t id, const char *result) {
  sqlite3_stmt *st = mw_stmt(c, "UPDATE alerts SET action_result = ? WHERE id = ?");
  if(st) {
    mw_bind_text(st, 1, result);
    sqlite3_bind_int64(st, 2, id);
  }
  return mw_step_done(c, st);
}

static mw_status
episode_list(mw_conn *c, const char *state, int limit,
             mw_status (*fn)(void *, const struct alert__episode_row *), void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT a.id, r.name, a.state, a.labels, a.annotations, a.version, "
         "a.value, a.threshold, a.started_at, a.fired_at, a.resolved_at, "
         "a.acked_at, a.acked_by, a.fingerprint, a.action_result, r.metric, "
         "r.op, r.model, a.fired_value, a.resolved_value, a.resolved_version "
         "FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
         "WHERE (?1 IS NULL OR a.state = ?1) ORDER BY a.id DESC LIMIT ?2");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, state);
  sqlite3_bind_int(st, 2, limit);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    struct alert__episode_row e = {
        .id = sqlite3_column_int64(st, 0),
        .rule = mw_col_text(st, 1),
        .state = mw_col_text(st, 2),
        .labels = mw_col_text(st, 3),
        .annotations = mw_col_text(st, 4),
        .version = mw_col_i64(st, 5, 0),
        .value = sqlite3_column_double(st, 6),
        .threshold = sqlite3_column_double(st, 7),
        .started_at = sqlite3_column_int64(st, 8),
        .fired_at = mw_col_i64(st, 9, -1),
        .resolved_at = mw_col_i64(st, 10, -1),
        .acked_at = mw_col_i64(st, 11, -1),
        .acked_by = col_opt(st, 12),
        .fingerprint = mw_col_text(st, 13),
        .action_result = col_opt(st, 14),
        .metric = mw_col_text(st, 15),
        .op = mw_col_text(st, 16),
        .model = mw_col_text(st, 17),
        .fired_value = mw_col_double(st, 18),
        .resolved_value = mw_col_double(st, 19),
        .resolved_version = mw_col_i64(st, 20, 0),
    };
    if((s = fn(ctx, &e)) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status episode_ack(mw_conn *c, int64_t id, int64_t now,
                             const char *actor) {
  sqlite3_stmt *st = mw_stmt(c, "UPDATE alerts SET acked_at = ?, acked_by = ? "
                                "WHERE id = ? AND state != 'resolved'");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    mw_bind_text(st, 2, actor);
    sqlite3_bind_int64(st, 3, id);
  }
  return changed_one(c, st);
}

/* --------------------------------------------------- notification groups */

static mw_status notify_pairs(mw_conn *c, int limit,
                              mw_status (*fn)(void *, const char *, const char *),
                              void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT DISTINCT rc.channel, r.model FROM alert_rules r "
         "JOIN alert_rule_channels rc ON rc.rule_id = r.id "
         "WHERE EXISTS (SELECT 1 FROM alerts a WHERE a.rule_id = r.id AND "
         "(a.state = 'firing' OR (a.state = 'resolved' AND a.fired_at IS NOT "
         "NULL AND NOT EXISTS (SELECT 1 FROM alert_resolved_sent s "
         "WHERE s.alert_id = a.id AND s.channel = rc.channel)))) "
         "UNION SELECT channel, group_key FROM notify_groups "
         "ORDER BY 1, 2 LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int(st, 1, limit);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    if((s = fn(ctx, mw_col_text(st, 0), mw_col_text(st, 1))) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status
notify_members(mw_conn *c, const char *channel, const char *model, int limit,
               mw_status (*fn)(void *, const struct alert__member_row *),
               void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT a.id, a.state, a.labels, a.annotations, a.version, a.value, "
         "a.threshold, a.started_at, a.fired_at, a.resolved_at, a.acked_at, "
         "a.fingerprint, r.name, r.model, coalesce(r.alias, ''), r.metric, r.op, "
         "r.severity, a.fired_value, a.resolved_value, a.resolved_version, "
         "a.action_result, EXISTS (SELECT 1 FROM alert_fired_sent f WHERE "
         "f.alert_id = a.id AND f.channel = ?1) FROM alerts a "
         "JOIN alert_rules r ON r.id = a.rule_id WHERE r.model = ?2 AND EXISTS "
         "(SELECT 1 FROM alert_rule_channels rc "
         "WHERE rc.rule_id = r.id AND rc.channel = ?1) AND (a.state = 'firing' "
         "OR (a.state = 'resolved' AND a.fired_at IS NOT NULL AND NOT EXISTS "
         "(SELECT 1 FROM alert_resolved_sent s WHERE s.alert_id = a.id AND "
         "s.channel = ?1))) ORDER BY a.id LIMIT ?3");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, channel);
  mw_bind_text(st, 2, model);
  sqlite3_bind_int(st, 3, limit);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    struct alert__member_row m = {
        .id = sqlite3_column_int64(st, 0),
        .firing = !strcmp(mw_col_text(st, 1), "firing"),
        .labels = mw_col_text(st, 2),
        .annotations = mw_col_text(st, 3),
        .version = mw_col_i64(st, 4, 0),
        .value = sqlite3_column_double(st, 5),
        .threshold = sqlite3_column_double(st, 6),
        .started_at = sqlite3_column_int64(st, 7),
        .fired_at = mw_col_i64(st, 8, 0),
        .resolved_at = mw_col_i64(st, 9, 0),
        .acked = sqlite3_column_type(st, 10) != SQLITE_NULL,
        .fingerprint = mw_col_text(st, 11),
        .rule = mw_col_text(st, 12),
        .model = mw_col_text(st, 13),
        .alias = mw_col_text(st, 14),
        .metric = mw_col_text(st, 15),
        .op = mw_col_text(st, 16),
        .severity = mw_col_text(st, 17),
        .fired_value = mw_col_double(st, 18),
        .resolved_value = mw_col_double(st, 19),
        .resolved_version = mw_col_i64(st, 20, 0),
        .action_result = col_opt(st, 21),
        .told_fired = sqlite3_column_int(st, 22) != 0,
    };
    if((s = fn(ctx, &m)) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status group_touch(mw_conn *c, const char *channel, const char *key,
                             int64_t now) {
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO notify_groups(channel, group_key, "
                 "created_at) VALUES(?, ?, ?) ON CONFLICT DO NOTHING");
  if(st) {
    mw_bind_text(st, 1, channel);
    mw_bind_text(st, 2, key);
    sqlite3_bind_int64(st, 3, now);
  }
  return mw_step_done(c, st);
}

static mw_status group_fill(sqlite3_stmt *st, void *arg) {
  struct alert__group_row *out = arg;
  out->created_at = sqlite3_column_int64(st, 0);
  out->last_sent_at = mw_col_i64(st, 1, -1);
  mw_strlcpy(out->digest, mw_col_text(st, 2), sizeof out->digest);
  return MW_OK;
}

static mw_status group_get(mw_conn *c, const char *channel, const char *key,
                           struct alert__group_row *out) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT created_at, last_sent_at, last_digest FROM "
                                "notify_groups WHERE channel = ? AND group_key = ?");
  if(st) {
    mw_bind_text(st, 1, channel);
    mw_bind_text(st, 2, key);
  }
  return one_row(c, st, group_fill, out);
}

static mw_status group_sent(mw_conn *c, const char *channel, const char *key,
                            int64_t now, const char *digest) {
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE notify_groups SET last_sent_at = ?, "
                 "last_digest = ? WHERE channel = ? AND group_key = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    mw_bind_text(st, 2, digest);
    mw_bind_text(st, 3, channel);
    mw_bind_text(st, 4, key);
  }
  return mw_step_done(c, st);
}

static mw_status group_forget(mw_conn *c, const char *channel, const char *key) {
  sqlite3_stmt *st =
      mw_stmt(c, "DELETE FROM notify_groups WHERE channel = ? AND group_key = ?");
  if(st) {
    mw_bind_text(st, 1, channel);
    mw_bind_text(st, 2, key);
  }
  return mw_step_done(c, st);
}

static mw_status resolved_sent(mw_conn *c, int64_t alert_id, const char *channel) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO alert_resolved_sent(alert_id, channel) "
                                "VALUES(?, ?) ON CONFLICT DO NOTHING");
  if(st) {
    sqlite3_bind_int64(st, 1, alert_id);
    mw_bind_text(st, 2, channel);
  }
  return mw_step_done(c, st);
}

static mw_status fired_sent(mw_conn *c, int64_t alert_id, const char *channel) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO alert_fired_sent(alert_id, channel) "
                                "VALUES(?, ?) ON CONFLICT DO NOTHING");
  if(st) {
    sqlite3_bind_int64(st, 1, alert_id);
    mw_bind_text(st, 2, channel);
  }
  return mw_step_done(c, st);
}

/* -------------------------------------------------------------- silences */

static mw_status silence_insert(mw_conn *c, const char *matchers, int64_t starts_at,
                                int64_t ends_at, const char *comment,
                                const char *actor, int64_t now, int64_t *id) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO silences(matchers, starts_at, ends_at, "
                                "comment, created_by, created_at) "
                                "VALUES(?, ?, ?, ?, ?, ?)");
  if(st) {
    mw_bind_text(st, 1, matchers);
    sqlite3_bind_int64(st, 2, starts_at);
    sqlite3_bind_int64(st, 3, ends_at);
    mw_bind_text(st, 4, comment);
    mw_bind_text(st, 5, actor);
    sqlite3_bind_int64(st, 6, now);
  }
  mw_status s = mw_step_done(c, st);
  if(!s)
    *id = mw_sqlite_last_id(c);
  return s;
}

static mw_status
silence_list(mw_conn *c, int64_t now, int limit,
             mw_status (*fn)(void *, const struct alert__silence_row *), void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, matchers, starts_at, ends_at, comment, "
                                "created_by FROM silences ORDER BY (ends_at > ?1) "
                                "DESC, id DESC LIMIT ?2");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int(st, 2, limit);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    struct alert__silence_row r = {
        sqlite3_column_int64(st, 0), mw_col_text(st, 1), sqlite3_column_int64(st, 2),
        sqlite3_column_int64(st, 3), mw_col_text(st, 4), mw_col_text(st, 5)};
    if((s = fn(ctx, &r)) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status silence_expire(mw_conn *c, int64_t id, int64_t now) {
  sqlite3_stmt *st = mw_stmt(c, "UPDATE silences SET ends_at = ?1 WHERE id = ?2 "
                                "AND ends_at > ?1");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
  }
  return changed_one(c, st);
}

static mw_status silences_active(mw_conn *c, int64_t now,
                                 mw_status (*fn)(void *, int64_t, const char *),
                                 void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, matchers FROM silences WHERE "
                                "starts_at <= ?1 AND ends_at > ?1 ORDER BY id");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, now);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    if((s = fn(ctx, sqlite3_column_int64(st, 0), mw_col_text(st, 1))) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

/* -------------------------------------------------------------- channels */

static mw_status channel_insert(mw_conn *c, const struct alert__channel_new *ch) {
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO channels(name, type, url, secret, "
                                "created_at, settings, username, password) "
                                "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    mw_bind_text(st, 1, ch->name);
    mw_bind_text(st, 2, ch->type);
    mw_bind_text(st, 3, ch->url);
    mw_bind_text(st, 4, ch->secret);
    sqlite3_bind_int64(st, 5, ch->created_at);
    mw_bind_text(st, 6, ch->settings);
    mw_bind_text(st, 7, ch->username);
    mw_bind_text(st, 8, ch->password);
  }
  return mw_step_done(c, st);
}

struct channel_cb {
  mw_status (*fn)(void *, const struct alert__channel_row *);
  void *ctx;
};

static mw_status channel_fill(sqlite3_stmt *st, void *arg) {
  struct channel_cb *cb = arg;
  struct alert__channel_row r = {mw_col_text(st, 0), mw_col_text(st, 1),
                                 mw_col_text(st, 2), sqlite3_column_int64(st, 3),
                                 col_opt(st, 4),     col_opt(st, 5)};
  return cb->fn(cb->ctx, &r);
}

static mw_status
channel_get(mw_conn *c, const char *name,
            mw_status (*fn)(void *, const struct alert__channel_row *), void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT name, type, url, created_at, settings, "
                                "username FROM channels WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  struct channel_cb cb = {fn, ctx};
  return one_row(c, st, channel_fill, &cb);
}

static mw_status
channel_list(mw_conn *c, mw_status (*fn)(void *, const struct alert__channel_row *),
             void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT name, type, url, created_at, settings, "
                                "username FROM channels ORDER BY name");
  if(!st)
    return MW_EDB;
  struct channel_cb cb = {fn, ctx};
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    if((s = channel_fill(st, &cb)) != MW_OK) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status channel_delete(mw_conn *c, const char *name) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM channels WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  return changed_one(c, st);
}

static mw_status channel_rules(mw_conn *c, const char *channel, alert__link_fn fn,
                               void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT r.id, r.name FROM alert_rules r WHERE EXISTS (SELECT 1 FROM "
         "alert_rule_channels rc WHERE rc.rule_id = r.id AND rc.channel = ?) "
         "ORDER BY r.name");
  if(st)
    mw_bind_text(st, 1, channel);
  return each_link(c, st, fn, ctx);
}

static mw_status channel_detach(mw_conn *c, const char *channel) {
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM alert_rule_channels WHERE channel = ?");
  if(st)
    mw_bind_text(st, 1, channel);
  return mw_step_done(c, st);
}

/* ----------------------------------------------------------------- queue */

/* Replaces *dst with a copy of column col; MW_ENOMEM on failure. */
static mw_status take_col(sqlite3_stmt *st, int col, char **dst) {
  char *v = mw_col_dup(st, col);
  if(!v)
    v = strdup("");
  if(!v)
    return MW_ENOMEM;
  free(*dst);
  *dst = v;
  return MW_OK;
}

/* The next target (type, name) after (*tt, *tn) with waiting rows: first
 * within the type, then the first of a later type. *more = 0 at the end. */
static mw_status next_target(mw_conn *c, char **tt, char **tn, int *more) {
  *more = 0;
  int found = 0;
  mw_status s;
  if(*tn) {
    /* INDEXED BY: without statistics SQLite would rather scan outbox_due. */
    sqlite3_stmt *st = mw_stmt(
        c, "SELECT target_type, target_name FROM outbox INDEXED BY outbox_queue "
           "WHERE state IN ('pending', 'failed') AND target_type = ?1 "
           "AND target_name > ?2 ORDER BY target_type, target_name LIMIT 1");
    if(st) {
      mw_bind_text(st, 1, *tt);
      mw_bind_text(st, 2, *tn);
    }
    if((s = mw_step_row(c, st, &found)) != MW_OK)
      return s;
    if(found) {
      s = take_col(st, 1, tn);
      sqlite3_reset(st);
      *more = !s;
      return s;
    }
  }
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT target_type, target_name FROM outbox INDEXED BY outbox_queue "
         "WHERE state IN ('pending', 'failed') AND target_type > ?1 "
         "ORDER BY target_type, target_name LIMIT 1");
  if(st)
    mw_bind_text(st, 1, *tt);
  if((s = mw_step_row(c, st, &found)) != MW_OK || !found)
    return s;
  s = take_col(st, 0, tt);
  if(!s)
    s = take_col(st, 1, tn);
  sqlite3_reset(st);
  *more = !s;
  return s;
}

static mw_status head_fill(sqlite3_stmt *st, void *arg) {
  struct alert__head *h = arg;
  h->id = sqlite3_column_int64(st, 0);
  h->next_attempt_at = sqlite3_column_int64(st, 1);
  h->claim_until = mw_col_i64(st, 2, 0);
  return MW_OK;
}

/* Walks the queue index one target at a time (a skip-scan: two index
 * seeks per target, whatever the backlog) and hands each target's head to
 * fn. */
static mw_status queue_heads(mw_conn *c,
                             mw_status (*fn)(void *, const struct alert__head *),
                             void *ctx) {
  char *tt = strdup(""), *tn = NULL;
  mw_status s = tt ? MW_OK : MW_ENOMEM;
  /* Bounded: names with an embedded NUL could otherwise repeat forever. */
  for(int iter = 0; !s && iter < 1000000; iter++) {
    int more;
    s = next_target(c, &tt, &tn, &more);
    if(s || !more)
      break;
    sqlite3_stmt *head = mw_stmt(
        c, "SELECT id, next_attempt_at, claim_until FROM outbox "
           "INDEXED BY outbox_queue WHERE target_type = ?1 AND target_name = ?2 "
           "AND state IN ('pending', 'failed') ORDER BY id LIMIT 1");
    if(head) {
      mw_bind_text(head, 1, tt);
      mw_bind_text(head, 2, tn);
    }
    struct alert__head h;
    s = one_row(c, head, head_fill, &h);
    if(s == MW_ENOTFOUND)
      s = MW_OK; /* cannot happen under the write lock; nothing to claim */
    else if(!s)
      s = fn(ctx, &h);
  }
  free(tt);
  free(tn);
  return s;
}

/* Copies column col into *dst unless it is NULL. */
static mw_status dup_opt(sqlite3_stmt *st, int col, char **dst) {
  if(sqlite3_column_type(st, col) == SQLITE_NULL)
    return MW_OK;
  *dst = mw_col_dup(st, col);
  return *dst ? MW_OK : MW_ENOMEM;
}

/* Reads the job's target: its URL, its signing secret (both as stored,
 * encrypted), a channel's type and login (username, password as stored) -
 * at claim time, so a message goes where its target points when it is
 * sent. NULL URL and secret when the target is gone. */
static mw_status load_target(mw_conn *c, struct alert__job *j) {
  sqlite3_stmt *st;
  if(!strcmp(j->target_type, "node"))
    st = mw_stmt(c, "SELECT url, secret, '', NULL, NULL FROM nodes WHERE name = ?");
  else if(!strcmp(j->target_type, "channel"))
    st = mw_stmt(c, "SELECT url, secret, type, username, password FROM channels "
                    "WHERE name = ?");
  else if(!strcmp(j->target_type, "subscription"))
    st = mw_stmt(c, "SELECT url, secret, '', NULL, NULL FROM subscriptions WHERE "
                    "name = ?");
  else
    return MW_OK;
  if(st)
    mw_bind_text(st, 1, j->target_name);
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(s || !found)
    return s;
  j->url = mw_col_dup(st, 0);
  j->secret = mw_col_dup(st, 1);
  mw_strlcpy(j->channel_type, mw_col_text(st, 2), sizeof j->channel_type);
  s = j->url && j->secret ? MW_OK : MW_ENOMEM;
  if(!s)
    s = dup_opt(st, 3, &j->username);
  if(!s)
    s = dup_opt(st, 4, &j->password);
  sqlite3_reset(st);
  return s;
}

static mw_status job_fill(sqlite3_stmt *st, struct alert__job *j) {
  memset(j, 0, sizeof *j);
  j->id = sqlite3_column_int64(st, 0);
  mw_strlcpy(j->msg_id, mw_col_text(st, 1), sizeof j->msg_id);
  mw_strlcpy(j->kind, mw_col_text(st, 2), sizeof j->kind);
  mw_strlcpy(j->target_type, mw_col_text(st, 3), sizeof j->target_type);
  mw_strlcpy(j->target_name, mw_col_text(st, 4), sizeof j->target_name);
  /* The payload is sent and signed byte for byte. */
  size_t n = (size_t)sqlite3_column_bytes(st, 5);
  const void *p = sqlite3_column_text(st, 5);
  j->payload = malloc(n + 1);
  if(j->payload) {
    if(n)
      memcpy(j->payload, p, n);
    j->payload[n] = 0;
    j->payload_len = n;
  }
  j->cycle_attempts = sqlite3_column_int(st, 6);
  j->cycle_started_at = sqlite3_column_int64(st, 7);
  return j->payload ? MW_OK : MW_ENOMEM;
}

static mw_status queue_claim(mw_conn *c, const int64_t *ids, int n, int max,
                             const char *claim_token, int64_t now, int64_t until,
                             struct alert__job *jobs, int *njobs) {
  assert(n >= 0 && max >= 0 && (n == 0 || ids) && claim_token);
  *njobs = 0;
  mw_status s = MW_OK;
  for(int i = 0; i < n && *njobs < max && !s; i++) {
    sqlite3_stmt *st = mw_stmt(
        c, "UPDATE outbox SET claim_token = ?1, claim_until = ?2 WHERE id = ?3 "
           "AND state IN ('pending', 'failed') AND next_attempt_at <= ?4 "
           "AND COALESCE(claim_until, 0) <= ?4 RETURNING id, msg_id, kind, "
           "target_type, target_name, payload, cycle_attempts, "
           "COALESCE(cycle_started_at, created_at)");
    if(st) {
      mw_bind_text(st, 1, claim_token);
      sqlite3_bind_int64(st, 2, until);
      sqlite3_bind_int64(st, 3, ids[i]);
      sqlite3_bind_int64(st, 4, now);
    }
    int found;
    if((s = mw_step_row(c, st, &found)) != MW_OK || !found)
      continue;
    struct alert__job *j = &jobs[(*njobs)++];
    s = job_fill(st, j);
    /* RETURNING runs to completion before the change is final. */
    int rc;
    while((rc = sqlite3_step(st)) == SQLITE_ROW)
      ;
    sqlite3_reset(st);
    if(!s && rc != SQLITE_DONE)
      s = mw_sqlite_error(c, rc);
    if(!s)
      s = load_target(c, j);
  }
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
  /* The attempt is history even if the row was deleted meanwhile; the
   * foreign key only lets it in while the row exists. */
  sqlite3_stmt *ins = mw_stmt(
      c, "INSERT INTO delivery_attempts(outbox_id, at, status_code, latency_ms, "
         "error) SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM outbox "
         "WHERE id = ?1)");
  if(ins) {
    sqlite3_bind_int64(ins, 1, r->id);
    sqlite3_bind_int64(ins, 2, r->at);
    mw_bind_id(ins, 3, r->status_code > 0 ? r->status_code : -1);
    sqlite3_bind_int64(ins, 4, r->latency_ms);
    mw_bind_text(ins, 5, r->error);
  }
  mw_status s = mw_step_done(c, ins);
  if(s)
    return s;
  sqlite3_stmt *up =
      mw_stmt(c, "UPDATE outbox SET state = ?1, attempts = attempts + 1, "
                 "cycle_attempts = cycle_attempts + 1, "
                 "next_attempt_at = CASE WHEN ?1 = 'failed' THEN ?2 "
                 "ELSE next_attempt_at END, last_status = ?3, last_error = ?4, "
                 "delivered_at = CASE WHEN ?1 = 'delivered' THEN ?5 "
                 "ELSE delivered_at END, claim_token = NULL, claim_until = NULL "
                 "WHERE id = ?6 AND claim_token = ?7");
  if(up) {
    mw_bind_text(up, 1, r->state);
    sqlite3_bind_int64(up, 2, r->next_attempt_at);
    mw_bind_id(up, 3, r->status_code > 0 ? r->status_code : -1);
    mw_bind_text(up, 4, r->error);
    sqlite3_bind_int64(up, 5, r->at + r->latency_ms);
    sqlite3_bind_int64(up, 6, r->id);
    mw_bind_text(up, 7, claim_token);
  }
  s = mw_step_done(c, up);
  if(!s)
    *kept = mw_sqlite_changes(c) > 0;
  return s;
}

static mw_status queue_release(mw_conn *c, const char *claim_token, int64_t id) {
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE outbox SET claim_token = NULL, "
                 "claim_until = NULL WHERE id = ? AND claim_token = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, id);
    mw_bind_text(st, 2, claim_token);
  }
  return mw_step_done(c, st);
}

static mw_status state_copy(sqlite3_stmt *st, void *arg) {
  mw_strlcpy(arg, mw_col_text(st, 0), 16);
  return MW_OK;
}

static mw_status queue_state(mw_conn *c, int64_t id, char state[16]) {
  state[0] = '\0';
  sqlite3_stmt *st = mw_stmt(c, "SELECT state FROM outbox WHERE id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, id);
  return one_row(c, st, state_copy, state);
}

static mw_status queue_requeue(mw_conn *c, int64_t id, int64_t now) {
  sqlite3_stmt *st = mw_stmt(c, "UPDATE outbox SET state = 'pending', "
                                "next_attempt_at = ?1, cycle_attempts = 0, "
                                "cycle_started_at = ?1 WHERE id = ?2");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
  }
  return mw_step_done(c, st);
}

/* SQLite's default busy handler sleeps 1, 2, 5, 10, 15, 20 ms... while a
 * request's transaction holds the write lock; a webhook queued by that very
 * transaction would wait out the whole ladder. Short, even sleeps keep the
 * enqueue -> send latency low; the 10 s budget matches the other
 * connections' busy timeout. */
static int on_busy(void *ud, int n) {
  (void)ud;
  if(n >= 10000)
    return 0;
  usleep(1000);
  return 1;
}

static mw_status worker_conn_tune(mw_conn *c) {
  sqlite3_busy_handler(mw_sqlite(c), on_busy, NULL);
  /* Without an fsync per commit a power cut can lose the last claims and
   * results, which means a webhook is sent again - what at-least-once
   * already promises - while a commit costs microseconds instead of
   * milliseconds. A process crash loses nothing (WAL). */
  return mw_exec(c, "PRAGMA synchronous=NORMAL");
}

const struct alert__store alert__store_sqlite = {
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
