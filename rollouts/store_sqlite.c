/* rollouts/store_sqlite.c - the rollouts' store on SQLite (see
 * rollouts/store.h for the operations and their cost). */
#include <assert.h>

#include "core/db_sqlite.h"
#include "rollouts/store.h"

#define ROW_COLUMNS                                                       \
  "r.id, r.model_id, m.name, r.alias, r.mode, r.baseline_version, "       \
  "r.candidate_version, r.state, r.step, r.weight_percent, "              \
  "r.step_started_at, r.config, r.results, r.reason, r.revision, "        \
  "r.created_by, r.created_at, r.updated_at, r.ended_at FROM rollouts r " \
  "JOIN models m ON m.id = r.model_id "

static mw_status row_call(mw_conn *c, sqlite3_stmt *st, rollout__row_fn fn,
                          void *ctx) {
  if(!st)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    struct rollout__row r = {
        .id = mw_col_i64(st, 0, 0),
        .model_id = mw_col_i64(st, 1, 0),
        .model = mw_col_text(st, 2),
        .alias = mw_col_text(st, 3),
        .mode = mw_col_text(st, 4),
        .baseline_version = mw_col_i64(st, 5, 0),
        .candidate_version = mw_col_i64(st, 6, 0),
        .state = mw_col_text(st, 7),
        .step = mw_col_i64(st, 8, 0),
        .weight_percent = mw_col_i64(st, 9, 0),
        .step_started_at = mw_col_i64(st, 10, 0),
        .config = mw_col_text(st, 11),
        .results = mw_col_text(st, 12),
        .reason =
            sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL : mw_col_text(st, 13),
        .revision = mw_col_i64(st, 14, 0),
        .created_by = mw_col_text(st, 15),
        .created_at = mw_col_i64(st, 16, 0),
        .updated_at = mw_col_i64(st, 17, 0),
        .ended_at = mw_col_i64(st, 18, -1),
    };
    if((s = fn(ctx, &r))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status insert(mw_conn *c, const struct rollout__row *r, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO rollouts(model_id, alias, mode, baseline_version, "
         "candidate_version, state, step, weight_percent, step_started_at, "
         "config, results, reason, revision, created_by, created_at, "
         "updated_at, ended_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
         "?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, r->model_id);
    mw_bind_text(st, 2, r->alias);
    mw_bind_text(st, 3, r->mode);
    sqlite3_bind_int64(st, 4, r->baseline_version);
    sqlite3_bind_int64(st, 5, r->candidate_version);
    mw_bind_text(st, 6, r->state);
    sqlite3_bind_int64(st, 7, r->step);
    sqlite3_bind_int64(st, 8, r->weight_percent);
    sqlite3_bind_int64(st, 9, r->step_started_at);
    mw_bind_text(st, 10, r->config);
    mw_bind_text(st, 11, r->results);
    mw_bind_text(st, 12, r->reason);
    sqlite3_bind_int64(st, 13, r->revision);
    mw_bind_text(st, 14, r->created_by);
    sqlite3_bind_int64(st, 15, r->created_at);
    sqlite3_bind_int64(st, 16, r->updated_at);
    mw_bind_id(st, 17, r->ended_at);
  }
  mw_status s = mw_step_done(c, st);
  if(!s)
    *id = mw_sqlite_last_id(c);
  return s;
}

/* Counts the rows a reader passes on (for get's MW_ENOTFOUND). */
struct counted {
  rollout__row_fn fn;
  void *ctx;
  int n;
};

static mw_status counted_fn(void *ctx, const struct rollout__row *r) {
  struct counted *k = ctx;
  k->n++;
  return k->fn(k->ctx, r);
}

static mw_status get(mw_conn *c, int64_t id, rollout__row_fn fn, void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT " ROW_COLUMNS "WHERE r.id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, id);
  struct counted k = {fn, ctx, 0};
  mw_status s = row_call(c, st, counted_fn, &k);
  return !s && !k.n ? MW_ENOTFOUND : s;
}

static mw_status list(mw_conn *c, const char *model, const char *state,
                      int64_t before, int limit, rollout__row_fn fn, void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT " ROW_COLUMNS "WHERE m.name = ?1 AND (?2 IS NULL OR "
                 "r.state = ?2) AND (?3 <= 0 OR r.id < ?3) ORDER BY r.id DESC "
                 "LIMIT ?4");
  if(st) {
    mw_bind_text(st, 1, model);
    mw_bind_text(st, 2, state);
    sqlite3_bind_int64(st, 3, before);
    sqlite3_bind_int(st, 4, limit);
  }
  return row_call(c, st, fn, ctx);
}

static mw_status active(mw_conn *c, int max, mw_status (*fn)(void *, int64_t),
                        void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id FROM rollouts WHERE state = 'running' "
                                "ORDER BY id LIMIT ?");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int(st, 1, max);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    if((s = fn(ctx, sqlite3_column_int64(st, 0)))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

static mw_status update(mw_conn *c, const struct rollout__row *r, int64_t expect) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE rollouts SET state = ?, step = ?, weight_percent = ?, "
                 "step_started_at = ?, results = ?, reason = ?, revision = ?, "
                 "updated_at = ?, ended_at = ? WHERE id = ? AND revision = ?");
  if(st) {
    mw_bind_text(st, 1, r->state);
    sqlite3_bind_int64(st, 2, r->step);
    sqlite3_bind_int64(st, 3, r->weight_percent);
    sqlite3_bind_int64(st, 4, r->step_started_at);
    mw_bind_text(st, 5, r->results);
    mw_bind_text(st, 6, r->reason);
    sqlite3_bind_int64(st, 7, r->revision);
    sqlite3_bind_int64(st, 8, r->updated_at);
    mw_bind_id(st, 9, r->ended_at);
    sqlite3_bind_int64(st, 10, r->id);
    sqlite3_bind_int64(st, 11, expect);
  }
  mw_status s = mw_step_done(c, st);
  return !s && mw_sqlite_changes(c) == 0 ? MW_ECONFLICT : s;
}

static mw_status event_insert(mw_conn *c, int64_t rollout_id,
                              const struct rollout__event_row *e) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO rollout_events(rollout_id, at, kind, step, "
                 "weight_percent, actor, detail) VALUES(?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, rollout_id);
    sqlite3_bind_int64(st, 2, e->at);
    mw_bind_text(st, 3, e->kind);
    sqlite3_bind_int64(st, 4, e->step);
    sqlite3_bind_int64(st, 5, e->weight_percent);
    mw_bind_text(st, 6, e->actor);
    mw_bind_text(st, 7, e->detail);
  }
  return mw_step_done(c, st);
}

static mw_status events(mw_conn *c, int64_t rollout_id, rollout__event_fn fn,
                        void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT at, kind, step, weight_percent, actor, detail FROM "
                 "rollout_events WHERE rollout_id = ? ORDER BY id");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, rollout_id);
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    struct rollout__event_row e = {
        mw_col_i64(st, 0, 0),
        mw_col_text(st, 1),
        mw_col_i64(st, 2, 0),
        mw_col_i64(st, 3, 0),
        mw_col_text(st, 4),
        sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : mw_col_text(st, 5)};
    if((s = fn(ctx, &e))) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

const struct rollout__store rollout__store_sqlite = {
    .insert = insert,
    .get = get,
    .list = list,
    .active = active,
    .update = update,
    .event_insert = event_insert,
    .events = events,
};
