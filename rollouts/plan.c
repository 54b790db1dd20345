/* rollouts/plan.c - the pure core of a rollout: what a running step still
 * waits for, what a check's numbers mean, and what ends a step. No I/O,
 * no clock: the controller passes what it observed and the time, and
 * tests/unit/test_rollouts.c pins every rule down.
 *
 * Order of the waits: the hold (plus the label delay when a metric is
 * compared, so the performance window covers a whole hold of predictions
 * whose labels had time to arrive), then the nodes (a step that sends
 * traffic to the candidate is not judged before every node runs it), then
 * min_predictions, then labels. A step that still waits max_wait past its
 * hold is inconclusive: the controller pauses the rollout, as Argo
 * Rollouts does, rather than guess. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "rollouts/internal.h"

static int64_t hold_end(const struct rollout__config *cfg, int step,
                        int64_t started) {
  assert(step >= 0 && step < cfg->nsteps);
  int64_t end = started + cfg->steps[step].hold_ms;
  if(cfg->a.metric[0])
    end += cfg->a.label_delay_ms;
  return end;
}

int rollout__hold_over(const struct rollout__config *cfg, int step, int64_t started,
                       int64_t now) {
  return now >= hold_end(cfg, step, started);
}

enum rollout__wait rollout__step_wait(const struct rollout__config *cfg, int step,
                                      const struct rollout__progress *p) {
  if(p->now < hold_end(cfg, step, p->started))
    return ROLLOUT__WAIT_HOLD;
  if(cfg->steps[step].weight_percent > 0 && p->loaded < p->nodes)
    return ROLLOUT__WAIT_NODES;
  if(p->predictions < cfg->a.min_predictions)
    return ROLLOUT__WAIT_PREDICTIONS;
  if(cfg->a.metric[0] && !p->labels_ready)
    return ROLLOUT__WAIT_LABELS;
  return ROLLOUT__READY;
}

int rollout__step_timed_out(const struct rollout__config *cfg, int step,
                            const struct rollout__progress *p) {
  return p->now >= hold_end(cfg, step, p->started) + cfg->a.max_wait_ms;
}

const char *rollout__wait_name(enum rollout__wait w) {
  switch(w) {
  case ROLLOUT__WAIT_HOLD:
    return "hold";
  case ROLLOUT__WAIT_NODES:
    return "nodes";
  case ROLLOUT__WAIT_PREDICTIONS:
    return "predictions";
  case ROLLOUT__WAIT_LABELS:
    return "labels";
  case ROLLOUT__READY:
  default:
    return NULL;
  }
}

int64_t rollout__label_cutoff(const struct rollout__config *cfg, int64_t now) {
  return now - cfg->a.label_delay_ms;
}

int rollout__check_judge(struct rollout__check *ck) {
  if(isnan(ck->threshold))
    ck->passed = 1;
  else if(isnan(ck->value))
    ck->passed = 0;
  else
    ck->passed = ck->upper ? ck->value <= ck->threshold : ck->value >= ck->threshold;
  return ck->passed;
}

static const char *const higher_better[] = {"accuracy", "precision", "recall", "f1"};
static const char *const lower_better[] = {"mae", "rmse"};

int rollout__metric_valid(const char *metric) {
  for(size_t i = 0; i < sizeof higher_better / sizeof *higher_better; i++)
    if(!strcmp(metric, higher_better[i]))
      return 1;
  for(size_t i = 0; i < sizeof lower_better / sizeof *lower_better; i++)
    if(!strcmp(metric, lower_better[i]))
      return 1;
  return 0;
}

double rollout__metric_drop(const char *metric, double baseline, double candidate) {
  assert(rollout__metric_valid(metric));
  for(size_t i = 0; i < sizeof lower_better / sizeof *lower_better; i++)
    if(!strcmp(metric, lower_better[i]))
      return candidate - baseline;
  return baseline - candidate;
}

enum rollout__verdict rollout__verdict(const struct rollout__config *cfg, int step,
                                       const struct rollout__check *checks, int n,
                                       int *failed) {
  assert(step >= 0 && step < cfg->nsteps);
  *failed = -1;
  for(int i = 0; i < n; i++)
    if(!checks[i].passed) {
      *failed = i;
      return ROLLOUT__ABORT;
    }
  return step + 1 >= cfg->nsteps ? ROLLOUT__PROMOTE : ROLLOUT__NEXT;
}
