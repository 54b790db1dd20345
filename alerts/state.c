/* alerts/state.c - the pure parts of alerting: the rule state machine,
 * whether an evaluation is still current when it is applied, comparisons,
 * metric names and their values in a drift report. No I/O, so every
 * transition is unit-tested directly. (Label matchers are
 * alerts/matchers.c.) */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/internal.h"

static const char *state_names[] = {"inactive", "pending", "firing", "nodata"};

const char *alert_state_name(enum alert_state s) {
  return (unsigned)s < 4 ? state_names[s] : "inactive";
}

int alert_state_parse(const char *s) {
  for(int i = 0; i < 4; i++)
    if(s && !strcmp(s, state_names[i]))
      return i;
  return -1;
}

enum alert_event alert_sm_step(struct alert_sm *sm, enum alert_cond cond,
                               int64_t now, int64_t for_ms) {
  assert(sm && for_ms >= 0);
  switch(cond) {
  case ALERT_COND_TRUE:
    if(sm->state == ALERT_FIRING)
      return ALERT_EV_NONE;
    if(sm->state != ALERT_PENDING) {
      sm->active_since = now;
      if(for_ms > 0) {
        sm->state = ALERT_PENDING;
        return ALERT_EV_PENDING;
      }
      sm->state = ALERT_FIRING;
      return ALERT_EV_FIRED;
    }
    if(now - sm->active_since >= for_ms) {
      sm->state = ALERT_FIRING;
      return ALERT_EV_FIRED;
    }
    return ALERT_EV_NONE;
  case ALERT_COND_FALSE:
    if(sm->state == ALERT_PENDING) {
      sm->state = ALERT_INACTIVE;
      return ALERT_EV_DISCARDED;
    }
    if(sm->state == ALERT_FIRING) {
      sm->state = ALERT_INACTIVE;
      return ALERT_EV_RESOLVED;
    }
    sm->state = ALERT_INACTIVE;
    return ALERT_EV_NONE;
  case ALERT_COND_NODATA:
    if(sm->state == ALERT_FIRING)
      return ALERT_EV_NONE; /* no data is no evidence of recovery */
    if(sm->state == ALERT_PENDING) {
      sm->state = ALERT_NODATA;
      return ALERT_EV_DISCARDED;
    }
    sm->state = ALERT_NODATA;
    return ALERT_EV_NONE;
  }
  return ALERT_EV_NONE;
}

int alert_eval_current(const struct alert_eval_basis *seen,
                       const struct alert_eval_basis *now) {
  /* Another evaluation committed since: its decision (perhaps a firing
   * and its rollback) already accounts for the condition this one saw. */
  if(now->last_eval_at != seen->last_eval_at)
    return 0;
  /* The alias moved: the metric was computed for a version that no longer
   * serves, so it says nothing about what the rule watches now. */
  if(now->version != seen->version)
    return 0;
  return 1;
}

int64_t alert_eval_stamp(int64_t prev_last_eval_at, int64_t now) {
  return now > prev_last_eval_at ? now : prev_last_eval_at + 1;
}

int alert_compare(const char *op, double v, double t, int *holds) {
  if(!op)
    return 0;
  if(!strcmp(op, ">") || !strcmp(op, "gt"))
    *holds = v > t;
  else if(!strcmp(op, ">=") || !strcmp(op, "ge"))
    *holds = v >= t;
  else if(!strcmp(op, "<") || !strcmp(op, "lt"))
    *holds = v < t;
  else if(!strcmp(op, "<=") || !strcmp(op, "le"))
    *holds = v <= t;
  else if(!strcmp(op, "==") || !strcmp(op, "eq"))
    *holds = v == t;
  else if(!strcmp(op, "!=") || !strcmp(op, "ne"))
    *holds = v != t;
  else
    return 0;
  return 1;
}

static const char *perf_metrics[] = {"accuracy", "precision", "recall", "f1",
                                     "mae",      "rmse",      NULL};

/* Column statistics: the name in a rule, and where it is in a report's
 * column object (object key, then optional sub-key). */
static const struct {
  const char *name, *key, *sub;
} col_stats[] = {
    {"statistic", "statistic", NULL},
    {"p_value", "p_value", NULL},
    {"drifted", "drifted", NULL},
    {"ks", "ks", "d"},
    {"ks_statistic", "ks", "d"},
    {"ks_p_value", "ks", "p_value"},
    {"wasserstein", "wasserstein", NULL},
    {"wasserstein_norm", "wasserstein_norm", NULL},
    {"psi", "psi", NULL},
    {"jensen_shannon", "jensen_shannon", NULL},
    {"chi2", "chi2", "statistic"},
    {"chi2_statistic", "chi2", "statistic"},
    {"chi2_p_value", "chi2", "p_value"},
    {"z", "z", "statistic"},
    {"z_p_value", "z", "p_value"},
    {"count", "stats", "count"},
    {"missing", "stats", "missing"},
    {"mean", "stats", "mean"},
    {"std", "stats", "std"},
    {"min", "stats", "min"},
    {"max", "stats", "max"},
    {"missing_share", "quality", "missing_share"},
    {"out_of_range_share", "quality", "out_of_range_share"},
    {"unseen_share", "quality", "unseen_share"},
    {"invalid_count", "quality", "invalid_count"},
};
#define NCOLSTATS (sizeof col_stats / sizeof col_stats[0])

static int is_perf(const char *m) {
  for(int i = 0; perf_metrics[i]; i++)
    if(!strcmp(m, perf_metrics[i]))
      return 1;
  return 0;
}

mw_status alert_metric_check(const char *metric, char **column, mw_err *err) {
  *column = NULL;
  if(!metric || !*metric || strlen(metric) > 300)
    return mw_errf(err, MW_EVALIDATION, "metric must be a non-empty string");
  if(!strcmp(metric, "dataset_drift_share") || !strcmp(metric, "prediction_count") ||
     is_perf(metric))
    return MW_OK;
  const char *dot = strrchr(metric, '.');
  if(!dot || dot == metric)
    return mw_errf(err, MW_EVALIDATION,
                   "unknown metric '%s': use dataset_drift_share, "
                   "prediction_count, accuracy, precision, recall, f1, mae, "
                   "rmse or <column>.<statistic>",
                   metric);
  for(size_t i = 0; i < NCOLSTATS; i++) {
    if(!strcmp(dot + 1, col_stats[i].name)) {
      *column = strndup(metric, (size_t)(dot - metric));
      return *column ? MW_OK : MW_ENOMEM;
    }
  }
  return mw_errf(err, MW_EVALIDATION,
                 "unknown statistic '%s' (psi, jensen_shannon, wasserstein, "
                 "wasserstein_norm, ks, ks_p_value, chi2, chi2_p_value, z, "
                 "z_p_value, statistic, p_value, drifted, count, missing, "
                 "mean, std, min, max, missing_share, out_of_range_share, "
                 "unseen_share, invalid_count)",
                 dot + 1);
}

static int number_of(const cJSON *it, double *v) {
  if(cJSON_IsNumber(it)) {
    *v = it->valuedouble;
    return 1;
  }
  if(cJSON_IsBool(it)) {
    *v = cJSON_IsTrue(it) ? 1 : 0;
    return 1;
  }
  return 0;
}

mw_status alert_metric_value(const cJSON *report, const char *metric,
                             double *value) {
  const cJSON *window = cJSON_GetObjectItemCaseSensitive(report, "window");
  const cJSON *count = cJSON_GetObjectItemCaseSensitive(window, "count");
  if(!strcmp(metric, "prediction_count"))
    return number_of(count, value) ? MW_OK : MW_ENOTFOUND;
  /* Invalid values are counted in the quarantine, not the window: a
   * window whose every row was invalid has a count for them. */
  const char *dot0 = strrchr(metric, '.');
  int invalid = dot0 && !strcmp(dot0 + 1, "invalid_count");
  if(!invalid && (!cJSON_IsNumber(count) || count->valuedouble <= 0))
    return MW_ENOTFOUND;
  if(!strcmp(metric, "dataset_drift_share")) {
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(report, "dataset");
    return number_of(cJSON_GetObjectItemCaseSensitive(ds, "drift_share"), value)
               ? MW_OK
               : MW_ENOTFOUND;
  }
  if(is_perf(metric)) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(report, "performance");
    return number_of(cJSON_GetObjectItemCaseSensitive(p, metric), value)
               ? MW_OK
               : MW_ENOTFOUND;
  }
  const char *dot = strrchr(metric, '.');
  if(!dot)
    return MW_ENOTFOUND;
  size_t clen = (size_t)(dot - metric);
  const cJSON *cols = cJSON_GetObjectItemCaseSensitive(report, "columns");
  const cJSON *col;
  cJSON_ArrayForEach(col, cols) {
    const char *name = mw_json_str(col, "name");
    if(!name || strlen(name) != clen || strncmp(name, metric, clen))
      continue;
    for(size_t i = 0; i < NCOLSTATS; i++) {
      if(strcmp(dot + 1, col_stats[i].name))
        continue;
      const cJSON *it = cJSON_GetObjectItemCaseSensitive(col, col_stats[i].key);
      if(col_stats[i].sub)
        it = cJSON_GetObjectItemCaseSensitive(it, col_stats[i].sub);
      return number_of(it, value) ? MW_OK : MW_ENOTFOUND;
    }
  }
  return MW_ENOTFOUND;
}
