/* rollouts/internal.h - what the files of rollouts/ share: the parsed
 * configuration of a rollout, the pure core that decides what a step
 * waits for and what its checks mean (plan.c, no I/O, pinned down by
 * tests/unit/test_rollouts.c), the analysis (analysis.c) and the
 * transitions (rollouts.c). */
#ifndef MW_ROLLOUTS_INTERNAL_H
#define MW_ROLLOUTS_INTERNAL_H

#include "rollouts/store.h"

#define ROLLOUT__MAX_STEPS 20
/* Default minimum of predictions on the candidate before a step ends. */
#define ROLLOUT__MIN_PREDICTIONS 100
/* How long past its hold (and label delay) a step may wait for nodes,
 * predictions or labels before the rollout pauses as inconclusive. */
#define ROLLOUT__MAX_WAIT_S 3600

struct rollout__step {
  int weight_percent; /* 1..100 */
  int64_t hold_ms;
};

/* Thresholds; NAN (or "" for metric) where a check is not asked for. */
struct rollout__analysis {
  double max_drift_share;     /* candidate against its reference */
  double max_cvb_drift_share; /* candidate's live data against baseline's */
  char metric[16];            /* accuracy, precision, recall, f1, mae, rmse */
  double max_drop;            /* of metric, candidate against baseline */
  int64_t min_predictions;
  int64_t label_delay_ms;
  double min_agreement;        /* shadow, categorical prediction */
  double max_mean_abs_diff;    /* shadow, numeric prediction */
  double min_rank_correlation; /* shadow, numeric prediction */
  int64_t max_wait_ms;
};

struct rollout__config {
  int shadow;
  int nsteps;
  struct rollout__step steps[ROLLOUT__MAX_STEPS];
  struct rollout__analysis a;
};

/* Parses and validates body's mode, steps and analysis into *cfg
 * (MW_EVALIDATION with err naming the first problem). */
mw_status rollout__config_parse(const cJSON *body, struct rollout__config *cfg,
                                mw_err *err);
/* {steps, analysis} as stored and shown: what rollout__config_parse reads
 * back (defaults filled in). */
cJSON *rollout__config_json(const struct rollout__config *cfg);

/* ---- the pure core (plan.c) ---- */

/* What a running step waits for, in the order it is checked. */
enum rollout__wait {
  ROLLOUT__READY,
  ROLLOUT__WAIT_HOLD,        /* hold_seconds (+ label delay) not over */
  ROLLOUT__WAIT_NODES,       /* a node has not reported the candidate loaded */
  ROLLOUT__WAIT_PREDICTIONS, /* fewer than min_predictions on the candidate */
  ROLLOUT__WAIT_LABELS,      /* no labels yet for one of the versions */
};

/* What the controller observed of a running step. */
struct rollout__progress {
  int64_t now, started;  /* ms */
  int64_t nodes, loaded; /* nodes serving the model; those with the candidate */
  int64_t predictions;   /* on the candidate since the step started */
  int labels_ready;      /* both versions have labels in the window */
  int64_t alias_version; /* where the alias points now (0: nowhere) */
};

/* The first thing step `step` of cfg still waits for, given p. */
enum rollout__wait rollout__step_wait(const struct rollout__config *cfg, int step,
                                      const struct rollout__progress *p);
/* 1 when step `step`, started at `started`, has held long enough at now
 * (its hold, plus the label delay when a metric is compared). */
int rollout__hold_over(const struct rollout__config *cfg, int step, int64_t started,
                       int64_t now);
/* 1 when a step that still waits has waited past its hold, its label
 * delay and max_wait: the rollout pauses as inconclusive. */
int rollout__step_timed_out(const struct rollout__config *cfg, int step,
                            const struct rollout__progress *p);
/* "hold", "nodes", "predictions", "labels" (NULL for READY). */
const char *rollout__wait_name(enum rollout__wait w);
/* When the performance window of a step that started at `started` ends,
 * judged at now: labels are awaited for predictions older than the delay. */
int64_t rollout__label_cutoff(const struct rollout__config *cfg, int64_t now);

/* One check of a step. */
struct rollout__check {
  char name[48];
  double value;     /* NAN: could not be computed */
  double threshold; /* NAN: none (informational) */
  int upper;        /* 1: passes when value <= threshold; 0: >= */
  int passed;
  char detail[200];
};

/* Sets ck->passed: no threshold passes; a value that could not be
 * computed fails; else the comparison. Returns ck->passed. */
int rollout__check_judge(struct rollout__check *ck);
/* 1 when metric is one rollout__metric_drop knows. */
int rollout__metric_valid(const char *metric);
/* How much worse the candidate is: baseline - candidate for metrics where
 * higher is better (accuracy, precision, recall, f1), candidate -
 * baseline for errors (mae, rmse). */
double rollout__metric_drop(const char *metric, double baseline, double candidate);

/* What ends a step once its checks ran. */
enum rollout__verdict { ROLLOUT__NEXT, ROLLOUT__PROMOTE, ROLLOUT__ABORT };
/* ABORT when a check failed (*failed: the first failing index), PROMOTE
 * after the last step, NEXT otherwise. */
enum rollout__verdict rollout__verdict(const struct rollout__config *cfg, int step,
                                       const struct rollout__check *checks, int n,
                                       int *failed);

/* ---- analysis (analysis.c) ---- */

/* What the controller reads of a running rollout r at now (cheap: node
 * reports, a count, and the labels once the hold is over). */
mw_status rollout__progress_read(mw_conn *c, const struct rollout_env *env,
                                 const struct rollout__row *r,
                                 const struct rollout__config *cfg, int64_t now,
                                 struct rollout__progress *p);
/* Runs every check cfg asks for over [r->step_started_at, now) (the
 * performance window ends at the label cutoff): fills checks[0..*n) (at
 * most 8). Reads only; no transaction may be open on c. */
mw_status rollout__analyse(mw_conn *c, const struct rollout_env *env,
                           const struct rollout__row *r,
                           const struct rollout__config *cfg, int64_t now,
                           struct rollout__check *checks, int *n);

#endif
