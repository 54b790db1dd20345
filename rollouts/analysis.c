/* rollouts/analysis.c - what the controller reads of a running rollout:
 * its progress (node reports, predictions on the candidate, labels) and,
 * once a step may end, its checks. Every number comes from the monitor's
 * public functions, so a check says exactly what GET .../drift,
 * .../drift?baseline= and .../shadow say for the same window:
 *  - candidate_drift_share: the candidate's window against its reference;
 *  - candidate_vs_baseline_drift_share: the candidate's live window
 *    against the baseline's, same time range (mon_drift_compare);
 *  - <metric>_drop: label-based performance of both over the step's
 *    window cut at now - label_delay, compared;
 *  - shadow: agreement (categorical) or mean_abs_diff and rank_correlation
 *    (numeric) of the predictions paired by id (mon_shadow_compare).
 * Reads only, outside any transaction: a large window holds up no writer.
 *
 * Cost per tick of a waiting step: one node count and one window summary;
 * per judged step: one report per drift check, two summaries per metric,
 * one pairing for shadow. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "monitor/monitor.h"
#include "registry/registry.h"
#include "rollouts/internal.h"

/* A version as both the registry and the monitor name it. */
struct ver {
  reg_version_info vi;
  mon_version mv;
};

static mw_status ver_load(mw_conn *c, const char *model, int64_t version,
                          struct ver *v) {
  memset(v, 0, sizeof *v);
  mw_status s = reg_version_lookup(c, model, version, &v->vi, NULL);
  v->mv = (mon_version){v->vi.id, v->vi.model_id, model, version, v->vi.schema_json};
  return s;
}

static double num_at(const cJSON *o, const char *obj, const char *key) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, obj);
  j = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
  return cJSON_IsNumber(j) ? j->valuedouble : NAN;
}

/* Window count and performance of v over [from, to): *count, and *perf
 * the metric (NAN without labels), *labelled the labels counted. */
static mw_status summary(mw_conn *c, const struct rollout_env *env,
                         const struct ver *v, int64_t from, int64_t to,
                         const char *metric, int64_t *count, double *perf,
                         int64_t *labelled) {
  cJSON *o = NULL;
  mw_status s = mon_window_summary(env->mon, c, &v->mv, from, to, &o, NULL);
  if(s)
    return s;
  double n = num_at(o, "window", "count");
  *count = isnan(n) ? 0 : (int64_t)n;
  if(perf) {
    double l = num_at(o, "performance", "count");
    *labelled = isnan(l) ? 0 : (int64_t)l;
    *perf = metric && metric[0] ? num_at(o, "performance", metric) : NAN;
  }
  cJSON_Delete(o);
  return MW_OK;
}

/* Where the comparisons with the baseline start. The step's window,
 * unless the baseline served too little of it to compare with (a canary
 * step at 100 % sends it nothing): then the whole rollout so far, for both
 * versions alike. *widened says which. */
static mw_status compare_from(mw_conn *c, const struct rollout_env *env,
                              const struct rollout__row *r,
                              const struct rollout__config *cfg,
                              const struct ver *base, int64_t now, int64_t *from,
                              int *widened) {
  int64_t n = 0, least = cfg->a.min_predictions > 0 ? cfg->a.min_predictions : 1;
  mw_status s = summary(c, env, base, r->step_started_at, now, NULL, &n, NULL, NULL);
  *widened = !s && n < least && r->created_at < r->step_started_at;
  *from = *widened ? r->created_at : r->step_started_at;
  return s;
}

mw_status rollout__progress_read(mw_conn *c, const struct rollout_env *env,
                                 const struct rollout__row *r,
                                 const struct rollout__config *cfg, int64_t now,
                                 struct rollout__progress *p) {
  memset(p, 0, sizeof *p);
  p->now = now;
  p->started = r->step_started_at;
  struct ver base, cand;
  memset(&cand, 0, sizeof cand);
  mw_status s = reg_alias_lookup(c, r->model, r->alias, &p->alias_version, NULL);
  if(s == MW_ENOTFOUND) {
    p->alias_version = 0;
    s = MW_OK;
  }
  /* While the step holds, nothing else decides anything: the counts below
   * (a window summary reads the window) wait for its end. */
  if(!s && !rollout__hold_over(cfg, (int)r->step, r->step_started_at, now))
    return MW_OK;
  if(!s)
    s = reg_nodes_candidate(c, r->model, r->candidate_version, &p->nodes, &p->loaded,
                            NULL);
  if(!s)
    s = ver_load(c, r->model, r->candidate_version, &cand);
  if(!s)
    s = summary(c, env, &cand, r->step_started_at, now, NULL, &p->predictions, NULL,
                NULL);
  if(!s && cfg->a.metric[0] &&
     rollout__step_wait(cfg, (int)r->step, p) == ROLLOUT__WAIT_LABELS) {
    int64_t cut = rollout__label_cutoff(cfg, now), n, lb = 0, lc = 0;
    double pb, pc;
    int64_t from = r->step_started_at;
    int wide;
    s = ver_load(c, r->model, r->baseline_version, &base);
    if(!s)
      s = compare_from(c, env, r, cfg, &base, now, &from, &wide);
    if(!s)
      s = summary(c, env, &base, from, cut, cfg->a.metric, &n, &pb, &lb);
    if(!s)
      s = summary(c, env, &cand, from, cut, cfg->a.metric, &n, &pc, &lc);
    p->labels_ready = !s && lb > 0 && lc > 0 && !isnan(pb) && !isnan(pc);
    reg_version_info_free(&base.vi);
  }
  reg_version_info_free(&cand.vi);
  return s;
}

static struct rollout__check *add_check(struct rollout__check *checks, int *n,
                                        const char *name, double value,
                                        double threshold, int upper) {
  struct rollout__check *ck = &checks[(*n)++];
  memset(ck, 0, sizeof *ck);
  mw_strlcpy(ck->name, name, sizeof ck->name);
  ck->value = value;
  ck->threshold = threshold;
  ck->upper = upper;
  return ck;
}

/* The dataset drift share of a report, and "k of n columns drifted". */
static double drift_share(const cJSON *rep, char *detail, size_t cap) {
  double share = num_at(rep, "dataset", "drift_share");
  double k = num_at(rep, "dataset", "drifted_columns");
  double cnt = num_at(rep, "window", "count");
  if(isnan(cnt) || cnt < 1) {
    /* No rows is no evidence either way: the check cannot pass on it. */
    snprintf(detail, cap, "no candidate predictions in the step's window");
    return NAN;
  }
  snprintf(detail, cap, "%.0f columns drifted; %.0f candidate rows",
           isnan(k) ? 0 : k, cnt);
  return share;
}

/* Adds check `name` from a drift report's outcome (s, rep, err; rep and
 * err are freed here). A report refused as a conflict (no reference set
 * any more, versions whose columns cannot be compared) is a failed check
 * with the refusal as its detail, not an error of the analysis. */
static mw_status drift_result(struct rollout__check *checks, int *n,
                              const char *name, double threshold, mw_status s,
                              cJSON *rep, mw_err *err) {
  struct rollout__check *ck = add_check(checks, n, name, NAN, threshold, 1);
  if(!s)
    ck->value = drift_share(rep, ck->detail, sizeof ck->detail);
  else
    mw_strlcpy(ck->detail, err->msg, sizeof ck->detail);
  mw_err_clear(err);
  cJSON_Delete(rep);
  return s == MW_ECONFLICT ? MW_OK : s;
}

static mw_status drift_checks(mw_conn *c, const struct rollout_env *env,
                              const struct rollout__row *r,
                              const struct rollout__config *cfg,
                              const struct ver *base, const struct ver *cand,
                              int64_t from, int64_t now,
                              struct rollout__check *checks, int *n) {
  mw_status s = MW_OK;
  if(!isnan(cfg->a.max_drift_share)) {
    mw_err err = {0};
    cJSON *rep = NULL;
    s = mon_drift_report(env->mon, c, &cand->mv, r->step_started_at, now, &rep,
                         &err);
    s = drift_result(checks, n, "candidate_drift_share", cfg->a.max_drift_share, s,
                     rep, &err);
  }
  if(!s && !isnan(cfg->a.max_cvb_drift_share)) {
    mw_err err = {0};
    cJSON *rep = NULL;
    s = mon_drift_compare(env->mon, c, &base->mv, &cand->mv, from, now, &rep, &err);
    s = drift_result(checks, n, "candidate_vs_baseline_drift_share",
                     cfg->a.max_cvb_drift_share, s, rep, &err);
  }
  return s;
}

static mw_status metric_check(mw_conn *c, const struct rollout_env *env,
                              const struct rollout__config *cfg,
                              const struct ver *base, const struct ver *cand,
                              int64_t from, int64_t now,
                              struct rollout__check *checks, int *n) {
  int64_t cut = rollout__label_cutoff(cfg, now), cb, cc, lb = 0, lc = 0;
  double pb = NAN, pc = NAN;
  mw_status s = summary(c, env, base, from, cut, cfg->a.metric, &cb, &pb, &lb);
  if(!s)
    s = summary(c, env, cand, from, cut, cfg->a.metric, &cc, &pc, &lc);
  if(s)
    return s;
  char name[48];
  snprintf(name, sizeof name, "%s_drop", cfg->a.metric);
  double drop =
      isnan(pb) || isnan(pc) ? NAN : rollout__metric_drop(cfg->a.metric, pb, pc);
  struct rollout__check *ck = add_check(checks, n, name, drop, cfg->a.max_drop, 1);
  snprintf(ck->detail, sizeof ck->detail,
           "%s: baseline %.4g (%lld labels), candidate %.4g (%lld labels)",
           cfg->a.metric, pb, (long long)lb, pc, (long long)lc);
  return MW_OK;
}

static mw_status shadow_checks(mw_conn *c, const struct rollout__config *cfg,
                               const struct ver *base, const struct ver *cand,
                               int64_t from, int64_t now,
                               struct rollout__check *checks, int *n) {
  cJSON *o = NULL;
  mw_status s = mon_shadow_compare(c, &base->mv, &cand->mv, from, now, &o, NULL);
  if(s)
    return s;
  const cJSON *jp = cJSON_GetObjectItemCaseSensitive(o, "pairs");
  double pairs = cJSON_IsNumber(jp) ? jp->valuedouble : 0;
  const char *kind = mw_json_str(o, "kind");
  struct rollout__check *ck;
  if(kind && !strcmp(kind, "categorical")) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "agreement");
    ck = add_check(checks, n, "agreement", cJSON_IsNumber(a) ? a->valuedouble : NAN,
                   cfg->a.min_agreement, 0);
    snprintf(ck->detail, sizeof ck->detail, "%.0f predictions paired by id", pairs);
  } else {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "mean_abs_diff");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(o, "rank_correlation");
    ck = add_check(checks, n, "mean_abs_diff",
                   cJSON_IsNumber(d) ? d->valuedouble : NAN,
                   cfg->a.max_mean_abs_diff, 1);
    snprintf(ck->detail, sizeof ck->detail, "%.0f predictions paired by id", pairs);
    ck = add_check(checks, n, "rank_correlation",
                   cJSON_IsNumber(rc) ? rc->valuedouble : NAN,
                   cfg->a.min_rank_correlation, 0);
    snprintf(ck->detail, sizeof ck->detail, "Spearman over %.0f pairs", pairs);
  }
  cJSON_Delete(o);
  return MW_OK;
}

mw_status rollout__analyse(mw_conn *c, const struct rollout_env *env,
                           const struct rollout__row *r,
                           const struct rollout__config *cfg, int64_t now,
                           struct rollout__check *checks, int *n) {
  *n = 0;
  struct ver base, cand;
  memset(&base, 0, sizeof base);
  memset(&cand, 0, sizeof cand);
  int64_t from = r->step_started_at;
  int wide = 0;
  mw_status s = ver_load(c, r->model, r->baseline_version, &base);
  if(!s)
    s = ver_load(c, r->model, r->candidate_version, &cand);
  if(!s)
    s = compare_from(c, env, r, cfg, &base, now, &from, &wide);
  if(!s)
    s = drift_checks(c, env, r, cfg, &base, &cand, from, now, checks, n);
  if(!s && cfg->a.metric[0])
    s = metric_check(c, env, cfg, &base, &cand, from, now, checks, n);
  if(!s && cfg->shadow)
    s = shadow_checks(c, cfg, &base, &cand, from, now, checks, n);
  for(int i = 0; i < *n && wide; i++)
    if(strcmp(checks[i].name, "candidate_drift_share")) {
      size_t len = strlen(checks[i].detail);
      snprintf(checks[i].detail + len, sizeof checks[i].detail - len, "%s%s",
               len ? "; " : "",
               "over the whole rollout: the baseline served too little of this "
               "step to compare with");
    }
  for(int i = 0; i < *n; i++)
    rollout__check_judge(&checks[i]);
  reg_version_info_free(&base.vi);
  reg_version_info_free(&cand.vi);
  return s;
}
