/* rollouts/store.h - what rollouts keep in the database, behind one ops
 * struct per backend (store_sqlite.c, store_pg.c; store.c picks one for a
 * connection). Structs in, structs out; the JSON documents a rollout
 * keeps (its config and per-step results) are opaque text here.
 *
 * Operations and their cost:
 *  - insert O(log rollouts) (MW_ECONFLICT: the alias already has a running
 *    or paused rollout - a unique partial index decides, on either
 *    backend);
 *  - get O(log rollouts); list O(n log rollouts), newest first; active
 *    O(running rollouts);
 *  - update O(log rollouts), a compare-and-swap on the revision;
 *  - event_insert O(log events); events O(events of the rollout). */
#ifndef MW_ROLLOUTS_STORE_H
#define MW_ROLLOUTS_STORE_H

#include "rollouts/rollouts.h"

/* A rollout as stored. Strings are borrowed for the duration of the call
 * that passes the row (callbacks copy what they keep). */
struct rollout__row {
  int64_t id, model_id;
  const char *model; /* filled by reads (joined), ignored by writes */
  const char *alias, *mode;
  int64_t baseline_version, candidate_version;
  const char *state;
  int64_t step, weight_percent, step_started_at;
  const char *config;  /* JSON text */
  const char *results; /* JSON text */
  const char *reason;  /* NULL: none */
  int64_t revision;
  const char *created_by;
  int64_t created_at, updated_at, ended_at; /* ended_at -1: not ended */
};

struct rollout__event_row {
  int64_t at;
  const char *kind;
  int64_t step, weight_percent;
  const char *actor;
  const char *detail; /* JSON text or NULL */
};

typedef mw_status (*rollout__row_fn)(void *ctx, const struct rollout__row *r);
typedef mw_status (*rollout__event_fn)(void *ctx,
                                       const struct rollout__event_row *e);

struct rollout__store {
  /* Inserts r (id ignored); *id gets the new id. MW_ECONFLICT when the
   * alias has a running or paused rollout. */
  mw_status (*insert)(mw_conn *c, const struct rollout__row *r, int64_t *id);
  /* The rollout id: fn once, or MW_ENOTFOUND. */
  mw_status (*get)(mw_conn *c, int64_t id, rollout__row_fn fn, void *ctx);
  /* Rollouts of the model named model, newest first, with id < before
   * (before <= 0: no bound), state NULL for all, at most limit. */
  mw_status (*list)(mw_conn *c, const char *model, const char *state, int64_t before,
                    int limit, rollout__row_fn fn, void *ctx);
  /* Ids of the running rollouts, oldest first, at most max: fn(ctx, id). */
  mw_status (*active)(mw_conn *c, int max, mw_status (*fn)(void *ctx, int64_t id),
                      void *ctx);
  /* Writes r's state, step, weight_percent, step_started_at, results,
   * reason, updated_at and ended_at, and revision = r->revision, where
   * the row still has revision `expect`: MW_ECONFLICT when it has not. */
  mw_status (*update)(mw_conn *c, const struct rollout__row *r, int64_t expect);
  mw_status (*event_insert)(mw_conn *c, int64_t rollout_id,
                            const struct rollout__event_row *e);
  /* The rollout's events, oldest first. */
  mw_status (*events)(mw_conn *c, int64_t rollout_id, rollout__event_fn fn,
                      void *ctx);
};

extern const struct rollout__store rollout__store_sqlite;
extern const struct rollout__store rollout__store_pg;
const struct rollout__store *rollout__store(mw_conn *c);

#endif
