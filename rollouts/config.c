/* rollouts/config.c - a rollout's configuration: the API body's mode,
 * steps and analysis, validated into struct rollout__config, and the JSON
 * it is stored and shown as. Unknown analysis keys are refused: a
 * misspelled threshold would otherwise be a check that silently never
 * runs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rollouts/internal.h"

static const char *const analysis_keys[] = {
    "max_drift_share",
    "max_candidate_vs_baseline_drift_share",
    "metric",
    "min_predictions",
    "label_delay_seconds",
    "min_agreement",
    "max_mean_abs_diff",
    "min_rank_correlation",
    "max_wait_seconds",
};

/* An optional number of o in [lo, hi] into *v (NAN when absent or null).
 * 0, or -1 with err filled. */
static int opt_number(const cJSON *o, const char *key, double lo, double hi,
                      double *v, mw_err *err) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
  *v = NAN;
  if(!j || cJSON_IsNull(j))
    return 0;
  if(!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < lo ||
     j->valuedouble > hi) {
    mw_errf(err, MW_EVALIDATION, "analysis.%s must be a number in [%g, %g]", key, lo,
            hi);
    return -1;
  }
  *v = j->valuedouble;
  return 0;
}

/* An optional integer of o in [lo, hi] into *v (dflt when absent). */
static int opt_int(const cJSON *o, const char *key, int64_t lo, int64_t hi,
                   int64_t dflt, int64_t *v, mw_err *err) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
  *v = dflt;
  if(!j || cJSON_IsNull(j))
    return 0;
  if(!mw_json_int(j, v) || *v < lo || *v > hi) {
    mw_errf(err, MW_EVALIDATION, "%s must be an integer in [%lld, %lld]", key,
            (long long)lo, (long long)hi);
    return -1;
  }
  return 0;
}

static mw_status parse_steps(const cJSON *steps, struct rollout__config *cfg,
                             mw_err *err) {
  int n = cJSON_GetArraySize(steps);
  if(!cJSON_IsArray(steps) || n < 1 || n > ROLLOUT__MAX_STEPS)
    return mw_errf(err, MW_EVALIDATION,
                   "steps must be an array of 1 to %d {weight_percent, "
                   "hold_seconds}",
                   ROLLOUT__MAX_STEPS);
  int i = 0;
  const cJSON *s;
  cJSON_ArrayForEach(s, steps) {
    int64_t w, h;
    if(!cJSON_IsObject(s) ||
       !mw_json_int(cJSON_GetObjectItemCaseSensitive(s, "weight_percent"), &w) ||
       w < 1 || w > 100 ||
       !mw_json_int(cJSON_GetObjectItemCaseSensitive(s, "hold_seconds"), &h) ||
       h < 0 || h > 7 * 86400)
      return mw_errf(err, MW_EVALIDATION,
                     "steps[%d] must be {weight_percent: 1..100, hold_seconds: "
                     "0..604800}",
                     i);
    if(i > 0 && w < cfg->steps[i - 1].weight_percent)
      return mw_errf(err, MW_EVALIDATION,
                     "steps[%d].weight_percent %lld is below the step before: "
                     "weights never go down in a rollout",
                     i, (long long)w);
    cfg->steps[i].weight_percent = (int)w;
    cfg->steps[i].hold_ms = h * 1000;
    i++;
  }
  cfg->nsteps = n;
  return MW_OK;
}

static mw_status parse_metric(const cJSON *m, struct rollout__analysis *a,
                              mw_err *err) {
  const char *name = mw_json_str(m, "name");
  const cJSON *drop = cJSON_GetObjectItemCaseSensitive(m, "max_drop");
  if(!cJSON_IsObject(m) || !name || !rollout__metric_valid(name) ||
     !cJSON_IsNumber(drop) || !isfinite(drop->valuedouble) || drop->valuedouble < 0)
    return mw_errf(err, MW_EVALIDATION,
                   "analysis.metric must be {name: accuracy|precision|recall|f1|"
                   "mae|rmse, max_drop: number >= 0}");
  mw_strlcpy(a->metric, name, sizeof a->metric);
  a->max_drop = drop->valuedouble;
  return MW_OK;
}

static mw_status parse_analysis(const cJSON *o, struct rollout__analysis *a,
                                mw_err *err) {
  memset(a, 0, sizeof *a);
  a->max_drop = NAN;
  if(o && !cJSON_IsNull(o) && !cJSON_IsObject(o))
    return mw_errf(err, MW_EVALIDATION, "analysis must be an object");
  const cJSON *k;
  cJSON_ArrayForEach(k, o) {
    int known = 0;
    for(size_t i = 0; i < sizeof analysis_keys / sizeof *analysis_keys; i++)
      known |= !strcmp(k->string, analysis_keys[i]);
    if(!known)
      return mw_errf(err, MW_EVALIDATION, "analysis has an unknown key '%s'",
                     k->string);
  }
  int64_t delay, wait;
  if(opt_number(o, "max_drift_share", 0, 1, &a->max_drift_share, err) ||
     opt_number(o, "max_candidate_vs_baseline_drift_share", 0, 1,
                &a->max_cvb_drift_share, err) ||
     opt_number(o, "min_agreement", 0, 1, &a->min_agreement, err) ||
     opt_number(o, "max_mean_abs_diff", 0, INFINITY, &a->max_mean_abs_diff, err) ||
     opt_number(o, "min_rank_correlation", -1, 1, &a->min_rank_correlation, err) ||
     opt_int(o, "min_predictions", 0, 1000000000, ROLLOUT__MIN_PREDICTIONS,
             &a->min_predictions, err) ||
     opt_int(o, "label_delay_seconds", 0, 30 * 86400, 0, &delay, err) ||
     opt_int(o, "max_wait_seconds", 1, 30 * 86400, ROLLOUT__MAX_WAIT_S, &wait, err))
    return MW_EVALIDATION;
  a->label_delay_ms = delay * 1000;
  a->max_wait_ms = wait * 1000;
  const cJSON *m = o ? cJSON_GetObjectItemCaseSensitive(o, "metric") : NULL;
  if(m && !cJSON_IsNull(m))
    return parse_metric(m, a, err);
  return MW_OK;
}

mw_status rollout__config_parse(const cJSON *body, struct rollout__config *cfg,
                                mw_err *err) {
  memset(cfg, 0, sizeof *cfg);
  const char *mode = mw_json_str(body, "mode");
  const cJSON *jm = cJSON_GetObjectItemCaseSensitive(body, "mode");
  if(jm && !cJSON_IsNull(jm) &&
     (!mode || (strcmp(mode, "canary") && strcmp(mode, "shadow"))))
    return mw_errf(err, MW_EVALIDATION, "mode must be \"canary\" or \"shadow\"");
  cfg->shadow = mode && !strcmp(mode, "shadow");
  mw_status s =
      parse_steps(cJSON_GetObjectItemCaseSensitive(body, "steps"), cfg, err);
  if(!s)
    s = parse_analysis(cJSON_GetObjectItemCaseSensitive(body, "analysis"), &cfg->a,
                       err);
  return s;
}

static void add_opt(cJSON *o, const char *key, double v) {
  if(isnan(v))
    cJSON_AddNullToObject(o, key);
  else
    cJSON_AddNumberToObject(o, key, v);
}

cJSON *rollout__config_json(const struct rollout__config *cfg) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "mode", cfg->shadow ? "shadow" : "canary");
  cJSON *steps = cJSON_AddArrayToObject(o, "steps");
  for(int i = 0; i < cfg->nsteps; i++) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "weight_percent", cfg->steps[i].weight_percent);
    cJSON_AddNumberToObject(s, "hold_seconds",
                            (double)(cfg->steps[i].hold_ms / 1000));
    cJSON_AddItemToArray(steps, s);
  }
  const struct rollout__analysis *a = &cfg->a;
  cJSON *ja = cJSON_AddObjectToObject(o, "analysis");
  add_opt(ja, "max_drift_share", a->max_drift_share);
  add_opt(ja, "max_candidate_vs_baseline_drift_share", a->max_cvb_drift_share);
  if(a->metric[0]) {
    cJSON *m = cJSON_AddObjectToObject(ja, "metric");
    cJSON_AddStringToObject(m, "name", a->metric);
    cJSON_AddNumberToObject(m, "max_drop", a->max_drop);
  } else {
    cJSON_AddNullToObject(ja, "metric");
  }
  cJSON_AddNumberToObject(ja, "min_predictions", (double)a->min_predictions);
  cJSON_AddNumberToObject(ja, "label_delay_seconds",
                          (double)(a->label_delay_ms / 1000));
  add_opt(ja, "min_agreement", a->min_agreement);
  add_opt(ja, "max_mean_abs_diff", a->max_mean_abs_diff);
  add_opt(ja, "min_rank_correlation", a->min_rank_correlation);
  cJSON_AddNumberToObject(ja, "max_wait_seconds", (double)(a->max_wait_ms / 1000));
  return o;
}
