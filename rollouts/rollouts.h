/* rollouts/rollouts.h - the one public header of the rollouts subsystem:
 * canary and shadow rollouts of a candidate version onto an alias, judged
 * step by step on the candidate's own drift and performance against the
 * version it would replace, promoted or aborted by themselves.
 *
 * A rollout moves through `running` (and `paused`) to `promoted` or
 * `aborted`. Each step tells every serving node of the model (a signed
 * rollout.step webhook through the outbox) what share of the traffic goes
 * to the candidate (canary) or is copied to it (shadow); the step holds
 * for hold_seconds, until the nodes report the candidate loaded and until
 * min_predictions were logged under it; then the analysis checks run over
 * the step's window for both versions. A failed check aborts (nodes get
 * weight 0, chat channels of the model's rules are told); after the last
 * step the alias moves to the candidate by compare-and-swap (history kind
 * "rollout"). Every change is one write transaction that applies only if
 * the rollout is still at the revision it was decided on, so a restart, a
 * second replica or a manual action racing the controller can never
 * promote or abort a rollout twice.
 *
 * Conventions as in registry.h: functions take the calling thread's
 * connection; on failure they return a negative mw_status, fill err (may
 * be NULL) with a message for the API client and leave *out NULL; JSON
 * results are new objects the caller frees with cJSON_Delete. */
#ifndef MW_ROLLOUTS_H
#define MW_ROLLOUTS_H

#include "core/core.h"

struct reg_env;
typedef struct mon_ctx mon_ctx;

/* What rollouts need of the rest of the process. Borrowed. */
struct rollout_env {
  const struct reg_env *reg; /* artifact URLs, the alias move */
  mon_ctx *mon;              /* reports for the analysis; NULL: defaults */
  const mw_cluster *cluster; /* the controller runs while this replica leads */
  const char *external_url;  /* links in chat notices */
};

/* Starts a rollout from the API body {alias, candidate_version, mode:
 * "canary"|"shadow", steps: [{weight_percent, hold_seconds}], analysis:
 * {...}} (web/static/openapi.json has every key). The alias must point to
 * a version (the baseline); the candidate must be ready, another version,
 * and approved when the alias is protected with require_approval
 * (MW_ENOTAPPROVED). MW_ECONFLICT when the alias has a running or paused
 * rollout. One transaction: the rollout, its first step's commands to the
 * nodes, the rollout.started event, the audit row. */
mw_status rollout_create(mw_conn *c, const struct rollout_env *env,
                         const char *model, const cJSON *body, const char *actor,
                         cJSON **out, mw_err *err);
/* The rollout with its steps, checks and timeline. */
mw_status rollout_get(mw_conn *c, const char *model, int64_t id, cJSON **out,
                      mw_err *err);
/* {rollouts: [...], next_page_token}: newest first, state NULL for all,
 * limit 1..1000, before: an id to continue below (0: first page). */
mw_status rollout_list(mw_conn *c, const char *model, const char *state, int limit,
                       int64_t before, cJSON **out, mw_err *err);
/* A hand on a rollout: action "pause" (running), "resume" (paused: the
 * current step starts again), "abort" (running or paused: nodes get
 * weight 0) or "promote" (running or paused: the alias moves to the
 * candidate now, checks or not). MW_ECONFLICT when the state does not
 * allow it. Audited. */
mw_status rollout_control(mw_conn *c, const struct rollout_env *env,
                          const char *model, int64_t id, const char *action,
                          const char *reason, const char *actor, cJSON **out,
                          mw_err *err);
/* Advances every running rollout that is due at now: judges steps whose
 * hold is over, starts the next step, promotes or aborts. Returns the
 * number of rollouts that changed. */
int rollout_tick(mw_conn *c, const struct rollout_env *env, int64_t now);

typedef struct rollout_controller rollout_controller;

/* Starts the thread that runs rollout_tick every tick_ms (<= 0: 1000)
 * while this replica leads. db and env must outlive it. */
mw_status rollout_controller_start(mw_db *db, const struct rollout_env *env,
                                   int tick_ms, rollout_controller **out);
/* Stops and joins the thread (waits for a running tick); NULL is fine. */
void rollout_controller_stop(rollout_controller *rc);

#endif
