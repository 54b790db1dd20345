/* rollouts/store_pg.c - the rollouts' store on PostgreSQL (see
 * rollouts/store.h for the operations and their cost). */
#include <assert.h>

#include "core/db_pg.h"
#include "rollouts/store.h"

#define ROW_COLUMNS                                                       \
  "r.id, r.model_id, m.name, r.alias, r.mode, r.baseline_version, "       \
  "r.candidate_version, r.state, r.step, r.weight_percent, "              \
  "r.step_started_at, r.config, r.results, r.reason, r.revision, "        \
  "r.created_by, r.created_at, r.updated_at, r.ended_at FROM rollouts r " \
  "JOIN models m ON m.id = r.model_id "

/* Passes every row of res to fn; *n (may be NULL) gets the row count.
 * Clears res. */
static mw_status rows(PGresult *res, rollout__row_fn fn, void *ctx, int *n) {
  mw_status s = MW_OK;
  int k = PQntuples(res);
  for(int i = 0; i < k && !s; i++) {
    struct rollout__row r = {
        .id = mw_pg_i64(res, i, 0, 0),
        .model_id = mw_pg_i64(res, i, 1, 0),
        .model = mw_pg_text(res, i, 2),
        .alias = mw_pg_text(res, i, 3),
        .mode = mw_pg_text(res, i, 4),
        .baseline_version = mw_pg_i64(res, i, 5, 0),
        .candidate_version = mw_pg_i64(res, i, 6, 0),
        .state = mw_pg_text(res, i, 7),
        .step = mw_pg_i64(res, i, 8, 0),
        .weight_percent = mw_pg_i64(res, i, 9, 0),
        .step_started_at = mw_pg_i64(res, i, 10, 0),
        .config = mw_pg_text(res, i, 11),
        .results = mw_pg_text(res, i, 12),
        .reason = mw_pg_null(res, i, 13) ? NULL : mw_pg_text(res, i, 13),
        .revision = mw_pg_i64(res, i, 14, 0),
        .created_by = mw_pg_text(res, i, 15),
        .created_at = mw_pg_i64(res, i, 16, 0),
        .updated_at = mw_pg_i64(res, i, 17, 0),
        .ended_at = mw_pg_i64(res, i, 18, -1),
    };
    s = fn(ctx, &r);
  }
  if(n)
    *n = k;
  PQclear(res);
  return s;
}

static mw_status insert(mw_conn *c, const struct rollout__row *r, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, r->model_id);
  mw_pgp_text(&p, r->alias);
  mw_pgp_text(&p, r->mode);
  mw_pgp_i64(&p, r->baseline_version);
  mw_pgp_i64(&p, r->candidate_version);
  mw_pgp_text(&p, r->state);
  mw_pgp_i64(&p, r->step);
  mw_pgp_i64(&p, r->weight_percent);
  mw_pgp_i64(&p, r->step_started_at);
  mw_pgp_text(&p, r->config);
  mw_pgp_text(&p, r->results);
  mw_pgp_text(&p, r->reason);
  mw_pgp_i64(&p, r->revision);
  mw_pgp_text(&p, r->created_by);
  mw_pgp_i64(&p, r->created_at);
  mw_pgp_i64(&p, r->updated_at);
  mw_pgp_id(&p, r->ended_at);
  mw_status s;
  PGresult *res = mw_pg_run(
      c,
      "INSERT INTO rollouts(model_id, alias, mode, baseline_version, "
      "candidate_version, state, step, weight_percent, step_started_at, config, "
      "results, reason, revision, created_by, created_at, updated_at, ended_at) "
      "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
      "$16, $17) RETURNING id",
      &p, &s);
  if(!res)
    return s;
  *id = mw_pg_i64(res, 0, 0, 0);
  PQclear(res);
  return MW_OK;
}

static mw_status get(mw_conn *c, int64_t id, rollout__row_fn fn, void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_status s;
  PGresult *res = mw_pg_run(c, "SELECT " ROW_COLUMNS "WHERE r.id = $1", &p, &s);
  if(!res)
    return s;
  int n = 0;
  s = rows(res, fn, ctx, &n);
  return !s && !n ? MW_ENOTFOUND : s;
}

static mw_status list(mw_conn *c, const char *model, const char *state,
                      int64_t before, int limit, rollout__row_fn fn, void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, model);
  mw_pgp_text(&p, state);
  mw_pgp_i64(&p, before);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *res =
      mw_pg_run(c,
                "SELECT " ROW_COLUMNS "WHERE m.name = $1 AND ($2::text IS NULL OR "
                "r.state = $2) AND ($3 <= 0 OR r.id < $3) ORDER BY "
                "r.id DESC LIMIT $4",
                &p, &s);
  return res ? rows(res, fn, ctx, NULL) : s;
}

static mw_status active(mw_conn *c, int max, mw_status (*fn)(void *, int64_t),
                        void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, max);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT id FROM rollouts WHERE state = 'running' "
                            "ORDER BY id LIMIT $1",
                            &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++)
    s = fn(ctx, mw_pg_i64(res, i, 0, 0));
  PQclear(res);
  return s;
}

static mw_status update(mw_conn *c, const struct rollout__row *r, int64_t expect) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, r->state);
  mw_pgp_i64(&p, r->step);
  mw_pgp_i64(&p, r->weight_percent);
  mw_pgp_i64(&p, r->step_started_at);
  mw_pgp_text(&p, r->results);
  mw_pgp_text(&p, r->reason);
  mw_pgp_i64(&p, r->revision);
  mw_pgp_i64(&p, r->updated_at);
  mw_pgp_id(&p, r->ended_at);
  mw_pgp_i64(&p, r->id);
  mw_pgp_i64(&p, expect);
  int64_t n = 0;
  mw_status s = mw_pg_do(c,
                         "UPDATE rollouts SET state = $1, step = $2, "
                         "weight_percent = $3, step_started_at = $4, results = "
                         "$5, reason = $6, revision = $7, updated_at = $8, "
                         "ended_at = $9 WHERE id = $10 AND revision = $11",
                         &p, &n);
  return !s && n == 0 ? MW_ECONFLICT : s;
}

static mw_status event_insert(mw_conn *c, int64_t rollout_id,
                              const struct rollout__event_row *e) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, rollout_id);
  mw_pgp_i64(&p, e->at);
  mw_pgp_text(&p, e->kind);
  mw_pgp_i64(&p, e->step);
  mw_pgp_i64(&p, e->weight_percent);
  mw_pgp_text(&p, e->actor);
  mw_pgp_text(&p, e->detail);
  return mw_pg_do(c,
                  "INSERT INTO rollout_events(rollout_id, at, kind, step, "
                  "weight_percent, actor, detail) VALUES($1, $2, $3, $4, $5, $6, "
                  "$7)",
                  &p, NULL);
}

static mw_status events(mw_conn *c, int64_t rollout_id, rollout__event_fn fn,
                        void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, rollout_id);
  mw_status s;
  PGresult *res = mw_pg_run(c,
                            "SELECT at, kind, step, weight_percent, actor, detail "
                            "FROM rollout_events WHERE rollout_id = $1 ORDER BY id",
                            &p, &s);
  if(!res)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(res) && !s; i++) {
    struct rollout__event_row e = {
        mw_pg_i64(res, i, 0, 0),
        mw_pg_text(res, i, 1),
        mw_pg_i64(res, i, 2, 0),
        mw_pg_i64(res, i, 3, 0),
        mw_pg_text(res, i, 4),
        mw_pg_null(res, i, 5) ? NULL : mw_pg_text(res, i, 5)};
    s = fn(ctx, &e);
  }
  PQclear(res);
  return s;
}

const struct rollout__store rollout__store_pg = {
    .insert = insert,
    .get = get,
    .list = list,
    .active = active,
    .update = update,
    .event_insert = event_insert,
    .events = events,
};
