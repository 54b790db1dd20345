/* rollouts/rollouts.c - rollouts as the API and the controller change
 * them: create, read, pause, resume, abort, promote, and the tick that
 * judges steps (the numbers come from analysis.c, the decisions from the
 * pure core in plan.c).
 *
 * Every change is one write transaction: the rollout row (compare-and-swap
 * on its revision), a timeline event, the rollout.step command to every
 * node of the model (outbox), the subscription event, and where it
 * applies the alias move (promotion), the chat notice (abort) and the
 * audit row. A tick computes its checks outside any transaction and
 * applies them only if the rollout still has the revision they were
 * computed for: a manual action, a restart or a second replica in between
 * makes the stale decision write nothing. So a SIGKILL at any point either
 * lost the whole change (the next tick decides again) or none of it, and
 * no rollout promotes or aborts twice.
 *
 * Operations and their cost: rollout_create one write transaction of
 * about 10 statements plus one outbox row per node; rollout_get 2 reads
 * (the row, its events); rollout_list 1; rollout_control one write
 * transaction; rollout_tick per running rollout one progress read (see
 * analysis.c) and, when a step ends, its checks and one write
 * transaction. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alerts.h"
#include "monitor/monitor.h"
#include "registry/registry.h"
#include "rollouts/internal.h"

/* A rollout row with its strings owned. */
struct ro {
  struct rollout__row r;
  char *strs[9];
};

static void ro_free(struct ro *o) {
  for(size_t i = 0; i < sizeof o->strs / sizeof *o->strs; i++)
    free(o->strs[i]);
  memset(o, 0, sizeof *o);
}

static const char *keep(struct ro *o, int i, const char *s) {
  o->strs[i] = s ? strdup(s) : NULL;
  return o->strs[i];
}

static mw_status got_row(void *ctx, const struct rollout__row *r) {
  struct ro *o = ctx;
  ro_free(o);
  o->r = *r;
  o->r.model = keep(o, 0, r->model);
  o->r.alias = keep(o, 1, r->alias);
  o->r.mode = keep(o, 2, r->mode);
  o->r.state = keep(o, 3, r->state);
  o->r.config = keep(o, 4, r->config);
  o->r.results = keep(o, 5, r->results);
  o->r.reason = keep(o, 6, r->reason);
  o->r.created_by = keep(o, 7, r->created_by);
  for(int i = 0; i < 8; i++)
    if(!o->strs[i] && i != 6)
      return MW_ENOMEM;
  return MW_OK;
}

/* Loads rollout id of model (MW_ENOTFOUND, err filled, when it is not
 * one of the model's) and parses its config. */
static mw_status ro_load(mw_conn *c, const char *model, int64_t id, struct ro *o,
                         struct rollout__config *cfg, mw_err *err) {
  memset(o, 0, sizeof *o);
  mw_status s = rollout__store(c)->get(c, id, got_row, o);
  if(!s && model && strcmp(o->r.model, model))
    s = MW_ENOTFOUND;
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "model '%s' has no rollout %lld", model ? model : "?",
                   (long long)id);
  if(s)
    return s;
  cJSON *j = cJSON_Parse(o->r.config);
  s = j ? rollout__config_parse(j, cfg, NULL) : MW_EINTERNAL;
  cJSON_Delete(j);
  return s ? MW_EINTERNAL : MW_OK;
}

static int is(const struct ro *o, const char *state) {
  return !strcmp(o->r.state, state);
}

/* ------------------------------------------------------------------ JSON */

static void add_num_or_null(cJSON *o, const char *key, double v) {
  if(isfinite(v))
    cJSON_AddNumberToObject(o, key, v);
  else
    cJSON_AddNullToObject(o, key);
}

static cJSON *checks_json(const struct rollout__check *ck, int n) {
  cJSON *a = cJSON_CreateArray();
  for(int i = 0; i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", ck[i].name);
    add_num_or_null(o, "value", ck[i].value);
    add_num_or_null(o, "threshold", ck[i].threshold);
    cJSON_AddStringToObject(o, "op", ck[i].upper ? "<=" : ">=");
    cJSON_AddBoolToObject(o, "passed", ck[i].passed);
    if(ck[i].detail[0])
      cJSON_AddStringToObject(o, "detail", ck[i].detail);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

/* The result of a step that ended: what the rollout keeps per step. */
static cJSON *step_result(const struct ro *o, const char *state, int64_t now,
                          const struct rollout__check *ck, int n) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddNumberToObject(s, "index", (double)o->r.step);
  cJSON_AddStringToObject(s, "state", state);
  cJSON_AddNumberToObject(s, "weight_percent", (double)o->r.weight_percent);
  mw_json_add_time(s, "started_at", o->r.step_started_at);
  mw_json_add_time(s, "ended_at", now);
  cJSON_AddItemToObject(s, "checks", checks_json(ck, n));
  return s;
}

/* The step of index i in the stored results (NULL: none). */
static const cJSON *result_of(const cJSON *results, int i) {
  const cJSON *s;
  cJSON_ArrayForEach(s, results) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(s, "index");
    if(cJSON_IsNumber(k) && (int)k->valuedouble == i)
      return s;
  }
  return NULL;
}

static cJSON *steps_json(const struct ro *o, const cJSON *cfgj,
                         const cJSON *results) {
  cJSON *out = cJSON_CreateArray();
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(cfgj, "steps");
  int i = 0;
  const cJSON *st;
  cJSON_ArrayForEach(st, steps) {
    const cJSON *res = result_of(results, i);
    cJSON *s = res ? cJSON_Duplicate(res, 1) : cJSON_CreateObject();
    if(!res) {
      cJSON_AddNumberToObject(s, "index", i);
      int ended = !is(o, "running") && !is(o, "paused");
      /* Steps after the current one never ran when the rollout ended (by
       * hand); the current one ended with the rollout. */
      const char *state =
          i > o->r.step ? (ended ? "skipped" : "pending") : o->r.state;
      cJSON_AddStringToObject(s, "state", state);
      if(i == o->r.step && (is(o, "running") || is(o, "paused")))
        mw_json_add_time(s, "started_at", o->r.step_started_at);
      cJSON_AddItemToObject(s, "checks", cJSON_CreateArray());
    }
    cJSON_DeleteItemFromObjectCaseSensitive(s, "weight_percent");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(st, "weight_percent");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(st, "hold_seconds");
    cJSON_AddNumberToObject(s, "weight_percent", w ? w->valuedouble : 0);
    cJSON_AddNumberToObject(s, "hold_seconds", h ? h->valuedouble : 0);
    cJSON_AddItemToArray(out, s);
    i++;
  }
  return out;
}

static mw_status add_event(void *ctx, const struct rollout__event_row *e) {
  cJSON *o = cJSON_CreateObject();
  mw_json_add_time(o, "at", e->at);
  cJSON_AddStringToObject(o, "kind", e->kind);
  cJSON_AddNumberToObject(o, "step", (double)e->step);
  cJSON_AddNumberToObject(o, "weight_percent", (double)e->weight_percent);
  cJSON_AddStringToObject(o, "actor", e->actor);
  cJSON *d = e->detail ? cJSON_Parse(e->detail) : NULL;
  if(d)
    cJSON_AddItemToObject(o, "detail", d);
  cJSON_AddItemToArray(ctx, o);
  return MW_OK;
}

static mw_status ro_json(mw_conn *c, const struct ro *o, int with_events,
                         cJSON **out) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "id", (double)o->r.id);
  cJSON_AddStringToObject(j, "model", o->r.model);
  cJSON_AddStringToObject(j, "alias", o->r.alias);
  cJSON_AddStringToObject(j, "mode", o->r.mode);
  cJSON_AddStringToObject(j, "state", o->r.state);
  cJSON_AddNumberToObject(j, "baseline_version", (double)o->r.baseline_version);
  cJSON_AddNumberToObject(j, "candidate_version", (double)o->r.candidate_version);
  cJSON_AddNumberToObject(j, "step", (double)o->r.step);
  cJSON_AddNumberToObject(j, "weight_percent", (double)o->r.weight_percent);
  mw_json_add_time(j, "step_started_at", o->r.step_started_at);
  if(o->r.reason)
    cJSON_AddStringToObject(j, "reason", o->r.reason);
  else
    cJSON_AddNullToObject(j, "reason");
  cJSON *cfgj = cJSON_Parse(o->r.config);
  cJSON *results = cJSON_Parse(o->r.results);
  cJSON_AddItemToObject(j, "steps", steps_json(o, cfgj, results));
  cJSON *an =
      cfgj ? cJSON_DetachItemFromObjectCaseSensitive(cfgj, "analysis") : NULL;
  cJSON_AddItemToObject(j, "analysis", an ? an : cJSON_CreateObject());
  cJSON_Delete(cfgj);
  cJSON_Delete(results);
  cJSON_AddStringToObject(j, "created_by", o->r.created_by);
  mw_json_add_time(j, "created_at", o->r.created_at);
  mw_json_add_time(j, "updated_at", o->r.updated_at);
  if(o->r.ended_at >= 0)
    mw_json_add_time(j, "ended_at", o->r.ended_at);
  else
    cJSON_AddNullToObject(j, "ended_at");
  mw_status s = MW_OK;
  if(with_events)
    s = rollout__store(c)->events(c, o->r.id, add_event,
                                  cJSON_AddArrayToObject(j, "events"));
  if(s) {
    cJSON_Delete(j);
    return s;
  }
  *out = j;
  return MW_OK;
}

/* The answer of a change: the rollout as GET shows it, read inside the
 * caller's transaction, before COMMIT (a failed read fails the change, so
 * an error never stands for a change that committed). */
static mw_status answer_tx(mw_conn *c, const char *model, int64_t id, cJSON **out,
                           mw_err *err) {
  assert(mw_tx_state(c) == 1);
  struct ro o;
  struct rollout__config cfg;
  mw_status s = ro_load(c, model, id, &o, &cfg, err);
  if(!s)
    s = ro_json(c, &o, 1, out);
  ro_free(&o);
  return s;
}

/* Commits after a change whose answer *out holds (dropped on failure). */
static mw_status commit_answer(mw_conn *c, mw_status s, cJSON **out) {
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    if(mw_tx_state(c) == 1)
      mw_tx_rollback(c);
    cJSON_Delete(*out);
    *out = NULL;
  }
  return s;
}

mw_status rollout_get(mw_conn *c, const char *model, int64_t id, cJSON **out,
                      mw_err *err) {
  *out = NULL;
  struct ro o;
  struct rollout__config cfg;
  mw_status s = mw_tx_read(c);
  if(s)
    return s;
  s = ro_load(c, model, id, &o, &cfg, err);
  if(!s)
    s = ro_json(c, &o, 1, out);
  mw_tx_rollback(c);
  ro_free(&o);
  return s;
}

struct list_ctx {
  mw_conn *c;
  cJSON *arr;
  int64_t last;
};

static mw_status listed(void *ctx, const struct rollout__row *r) {
  struct list_ctx *l = ctx;
  struct ro o;
  memset(&o, 0, sizeof o);
  mw_status s = got_row(&o, r);
  cJSON *j = NULL;
  if(!s)
    s = ro_json(l->c, &o, 0, &j);
  if(!s) {
    cJSON_AddItemToArray(l->arr, j);
    l->last = r->id;
  }
  ro_free(&o);
  return s;
}

mw_status rollout_list(mw_conn *c, const char *model, const char *state, int limit,
                       int64_t before, cJSON **out, mw_err *err) {
  *out = NULL;
  if(state && strcmp(state, "running") && strcmp(state, "paused") &&
     strcmp(state, "promoted") && strcmp(state, "aborted"))
    return mw_errf(err, MW_EVALIDATION,
                   "state must be running, paused, promoted or aborted");
  limit = limit < 1 ? 100 : limit > 1000 ? 1000 : limit;
  mw_status s = mw_tx_read(c);
  if(s)
    return s;
  cJSON *root = cJSON_CreateObject();
  struct list_ctx l = {c, cJSON_AddArrayToObject(root, "rollouts"), 0};
  cJSON *m = NULL;
  s = reg_model_get(c, model, &m, err); /* MW_ENOTFOUND for no such model */
  cJSON_Delete(m);
  if(!s)
    s = rollout__store(c)->list(c, model, state, before, limit + 1, listed, &l);
  mw_tx_rollback(c);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  if(cJSON_GetArraySize(l.arr) > limit) {
    cJSON_DeleteItemFromArray(l.arr, limit);
    cJSON *lastj = cJSON_GetArrayItem(l.arr, limit - 1);
    char tok[32];
    snprintf(tok, sizeof tok, "%lld",
             (long long)cJSON_GetObjectItemCaseSensitive(lastj, "id")->valuedouble);
    cJSON_AddStringToObject(root, "next_page_token", tok);
  } else {
    cJSON_AddNullToObject(root, "next_page_token");
  }
  *out = root;
  return MW_OK;
}

/* ----------------------------------------------------------- transitions */

/* One change of a rollout, applied in the caller's write transaction. */
struct change {
  const char *state;
  int64_t step, weight;
  int64_t step_started_at;
  const char *reason;
  cJSON *result;     /* a step result to append (apply takes it over and
                        sets it NULL); NULL: none */
  const char *event; /* timeline kind */
  cJSON *detail;     /* timeline detail (borrowed); NULL: none */
  const char *emit;  /* subscription event type; NULL: none */
  int tell_nodes;    /* send rollout.step to every node */
  const char *actor;
};

/* The rollout.step command nodes get after change ch of o, into *out. */
static mw_status step_command(mw_conn *c, const struct rollout_env *env,
                              const struct ro *o, const struct change *ch,
                              int64_t now, cJSON **out) {
  reg_version_info vi;
  mw_status s = reg_version_lookup(c, o->r.model, o->r.candidate_version, &vi, NULL);
  if(s) {
    reg_version_info_free(&vi);
    return s;
  }
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", "rollout.step");
  cJSON_AddStringToObject(p, "model", o->r.model);
  cJSON_AddStringToObject(p, "alias", o->r.alias);
  cJSON_AddNumberToObject(p, "rollout_id", (double)o->r.id);
  cJSON_AddNumberToObject(p, "baseline_version", (double)o->r.baseline_version);
  cJSON_AddNumberToObject(p, "candidate_version", (double)o->r.candidate_version);
  cJSON_AddNumberToObject(p, "candidate_weight_percent", (double)ch->weight);
  cJSON_AddStringToObject(p, "mode", o->r.mode);
  cJSON_AddStringToObject(p, "state", ch->state);
  cJSON_AddNumberToObject(p, "step", (double)ch->step);
  cJSON_AddItemToObject(p, "artifact", reg_artifact_json(env->reg, o->r.model, &vi));
  reg_version_info_free(&vi);
  if(ch->reason)
    cJSON_AddStringToObject(p, "reason", ch->reason);
  mw_json_add_time(p, "at", now);
  *out = p;
  return MW_OK;
}

static mw_status apply(mw_conn *c, const struct rollout_env *env, struct ro *o,
                       struct change *ch, int64_t now) {
  assert(mw_tx_state(c) == 1);
  cJSON *results = cJSON_Parse(o->r.results);
  if(!results)
    results = cJSON_CreateArray();
  if(ch->result)
    cJSON_AddItemToArray(results, ch->result);
  ch->result = NULL;
  char *rtext = cJSON_PrintUnformatted(results);
  cJSON_Delete(results);
  if(!rtext)
    return MW_ENOMEM;
  int ended = !strcmp(ch->state, "promoted") || !strcmp(ch->state, "aborted");
  struct rollout__row nr = o->r;
  nr.state = ch->state;
  nr.step = ch->step;
  nr.weight_percent = ch->weight;
  nr.step_started_at = ch->step_started_at;
  nr.results = rtext;
  nr.reason = ch->reason;
  nr.revision = o->r.revision + 1;
  nr.updated_at = now;
  nr.ended_at = ended ? now : -1;
  const struct rollout__store *st = rollout__store(c);
  mw_status s = st->update(c, &nr, o->r.revision);
  char *dtext = ch->detail ? cJSON_PrintUnformatted(ch->detail) : NULL;
  struct rollout__event_row ev = {now,        ch->event, ch->step,
                                  ch->weight, ch->actor, dtext};
  if(!s)
    s = st->event_insert(c, o->r.id, &ev);
  free(dtext);
  cJSON *cmd = NULL;
  if(!s && (ch->tell_nodes || ch->emit))
    s = step_command(c, env, o, ch, now, &cmd);
  if(!s && ch->tell_nodes)
    s = reg_nodes_enqueue(c, o->r.model, "rollout.step", cmd, NULL);
  if(!s && ch->emit) {
    cJSON *data = cJSON_Duplicate(cmd, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(data, "type");
    cJSON_DeleteItemFromObjectCaseSensitive(data, "at");
    if(cJSON_IsArray(ch->detail))
      cJSON_AddItemToObject(data, "checks", cJSON_Duplicate(ch->detail, 1));
    s = mw_event_emit(c, ch->emit, o->r.model, data);
    cJSON_Delete(data);
  }
  cJSON_Delete(cmd);
  if(!s) {
    /* The row now says what was written (for the caller's answer). */
    free(o->strs[3]);
    free(o->strs[5]);
    free(o->strs[6]);
    o->r = nr;
    o->r.state = keep(o, 3, ch->state);
    o->r.results = o->strs[5] = rtext;
    o->r.reason = keep(o, 6, ch->reason);
    rtext = NULL;
  }
  free(rtext);
  return s;
}

/* Tells the chat channels of the model's rules that o aborted (first
 * failing check ck, or NULL for an abort by hand). */
static mw_status announce_abort(mw_conn *c, const struct rollout_env *env,
                                const struct ro *o, const struct rollout__check *ck,
                                const char *reason, int64_t now) {
  char rule[64], url[1200];
  snprintf(rule, sizeof rule, "rollout-%lld", (long long)o->r.id);
  snprintf(url, sizeof url, "%s/#/models/%s/rollouts/%lld", env->external_url,
           o->r.model, (long long)o->r.id);
  cJSON *labels = cJSON_CreateObject();
  cJSON_AddStringToObject(labels, "alertname", "RolloutAborted");
  cJSON_AddStringToObject(labels, "model", o->r.model);
  cJSON_AddStringToObject(labels, "alias", o->r.alias);
  cJSON_AddStringToObject(labels, "rollout", rule);
  cJSON_AddStringToObject(labels, "severity", "warning");
  cJSON *ann = cJSON_CreateObject();
  char summary[700];
  snprintf(summary, sizeof summary,
           "rollout %lld of %s@%s aborted: candidate v%lld stays off, v%lld serves. "
           "%s",
           (long long)o->r.id, o->r.model, o->r.alias,
           (long long)o->r.candidate_version, (long long)o->r.baseline_version,
           reason);
  cJSON_AddStringToObject(ann, "summary", summary);
  struct alert_notice n = {
      .status = "firing",
      .labels = labels,
      .annotations = ann,
      .starts_at_ms = now,
      .generator_url = url,
      .rule = rule,
      .model = o->r.model,
      .version = o->r.candidate_version,
      .alias = o->r.alias,
      .metric = ck ? ck->name : "rollout",
      .op = ck && !ck->upper ? ">=" : "<=",
      .value = ck ? ck->value : NAN,
      .threshold = ck ? ck->threshold : NAN,
      .state = "firing",
      .severity = "warning",
      .dashboard_url = url,
  };
  struct alert_group_notice g = {.status = "firing",
                                 .external_url = env->external_url,
                                 .alerts = &n,
                                 .nalerts = 1};
  int sent = 0;
  mw_status s = alert_announce_model(c, o->r.model, &g, &sent);
  cJSON_Delete(labels);
  cJSON_Delete(ann);
  return s;
}

/* The change that aborts o now. */
static struct change abort_change(const struct ro *o, const char *reason,
                                  const char *actor) {
  struct change ch = {"aborted", o->r.step, 0,    o->r.step_started_at, reason,
                      NULL,      "aborted", NULL, "rollout.aborted",    1,
                      actor};
  return ch;
}

/* Promotes o: the alias moves from the baseline to the candidate (kind
 * "rollout"), then the rollout ends. */
static mw_status promote(mw_conn *c, const struct rollout_env *env, struct ro *o,
                         struct change *ch, int64_t now, mw_err *err) {
  cJSON *moved = NULL;
  char why[300];
  snprintf(why, sizeof why, "rollout %lld promoted", (long long)o->r.id);
  mw_status s =
      reg_alias_move_tx(c, env->reg, o->r.model, o->r.alias, o->r.candidate_version,
                        o->r.baseline_version, "rollout",
                        ch->reason ? ch->reason : why, ch->actor, &moved, err);
  cJSON_Delete(moved);
  if(s)
    return s;
  ch->state = "promoted";
  ch->weight = 100;
  ch->event = "promoted";
  ch->emit = "rollout.promoted";
  ch->tell_nodes = 1;
  return apply(c, env, o, ch, now);
}

/* ------------------------------------------------------------------ API */

/* The checks of rollout_create that read the database, in its
 * transaction: baseline, candidate, protection, reference. */
static mw_status check_start(mw_conn *c, const char *model, const char *alias,
                             int64_t cand, const struct rollout__config *cfg,
                             int64_t *base, reg_version_info *vi, mw_err *err) {
  cJSON *m = NULL;
  mw_status s = reg_model_get(c, model, &m, err); /* 404 for no such model */
  cJSON_Delete(m);
  if(!s)
    s = reg_alias_lookup(c, model, alias, base, err);
  if(s == MW_ENOTFOUND && !m)
    return s;
  if(s == MW_ENOTFOUND)
    return mw_errf(err, MW_EVALIDATION,
                   "model '%s' has no alias '%s': a rollout replaces the version "
                   "an alias points to (set it first)",
                   model, alias);
  if(!s)
    s = reg_version_lookup(c, model, cand, vi, err);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, MW_EVALIDATION, "model '%s' has no version %lld", model,
                   (long long)cand);
  if(s)
    return s;
  if(!vi->ready)
    return mw_errf(err, MW_EVALIDATION,
                   "version %lld is pending: upload its artifact first",
                   (long long)cand);
  if(!vi->schema_json)
    return mw_errf(err, MW_EVALIDATION,
                   "version %lld has no schema: a rollout judges the candidate on "
                   "the predictions it logs, and a version without a schema "
                   "cannot log any",
                   (long long)cand);
  if(cand == *base)
    return mw_errf(err, MW_EVALIDATION, "alias '%s' already points to version %lld",
                   alias, (long long)cand);
  cJSON *prot = NULL;
  s = reg_protect_list(c, model, alias, &prot, NULL);
  int require =
      s == MW_OK &&
      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(prot, "require_approval"));
  cJSON_Delete(prot);
  if(s && s != MW_ENOTFOUND)
    return s;
  s = MW_OK;
  if(require && strcmp(vi->approval, "approved"))
    return mw_errf(err, MW_ENOTAPPROVED,
                   "alias '%s' is protected: version %lld must be approved before "
                   "a rollout can bring it there (it is %s)",
                   alias, (long long)cand, vi->approval);
  if(!isnan(cfg->a.max_drift_share)) {
    mon_version mv = {vi->id, vi->model_id, model, cand, vi->schema_json};
    cJSON *ref = NULL;
    s = mon_reference_get(c, &mv, &ref, err);
    cJSON_Delete(ref);
    if(s == MW_ENOTFOUND)
      return mw_errf(err, MW_EVALIDATION,
                     "analysis.max_drift_share compares the candidate with its "
                     "reference set, and version %lld has none: PUT "
                     ".../versions/%lld/reference first",
                     (long long)cand, (long long)cand);
  }
  return s;
}

static mw_status create_tx(mw_conn *c, const struct rollout_env *env,
                           const char *model, const char *alias, int64_t cand,
                           const struct rollout__config *cfg, const char *actor,
                           int64_t *id, mw_err *err) {
  reg_version_info vi;
  memset(&vi, 0, sizeof vi);
  int64_t base = 0, now = mw_now_ms();
  mw_status s = check_start(c, model, alias, cand, cfg, &base, &vi, err);
  cJSON *cj = rollout__config_json(cfg);
  char *ctext = cJSON_PrintUnformatted(cj);
  cJSON_Delete(cj);
  struct rollout__row r = {
      .model_id = vi.model_id,
      .alias = alias,
      .mode = cfg->shadow ? "shadow" : "canary",
      .baseline_version = base,
      .candidate_version = cand,
      .state = "running",
      .step = 0,
      .weight_percent = cfg->steps[0].weight_percent,
      .step_started_at = now,
      .config = ctext,
      .results = "[]",
      .revision = 1,
      .created_by = actor,
      .created_at = now,
      .updated_at = now,
      .ended_at = -1,
  };
  if(!s && !ctext)
    s = MW_ENOMEM;
  if(!s && (s = rollout__store(c)->insert(c, &r, id)) == MW_ECONFLICT)
    mw_errf(err, s, "alias '%s' of model '%s' already has a running rollout", alias,
            model);
  free(ctext);
  reg_version_info_free(&vi);
  struct ro o;
  struct rollout__config cfg2;
  if(s)
    return s;
  if((s = ro_load(c, model, *id, &o, &cfg2, err))) {
    ro_free(&o);
    return s;
  }
  /* The first step, told like every other: timeline, nodes, subscribers. */
  struct change ch = {"running", 0,    cfg->steps[0].weight_percent,
                      now,       NULL, NULL,
                      "started", NULL, "rollout.started",
                      1,         actor};
  s = apply(c, env, &o, &ch, now);
  if(!s) {
    cJSON *det = cJSON_CreateObject();
    cJSON_AddNumberToObject(det, "id", (double)*id);
    cJSON_AddNumberToObject(det, "baseline_version", (double)base);
    cJSON_AddNumberToObject(det, "candidate_version", (double)cand);
    cJSON_AddStringToObject(det, "mode", o.r.mode);
    char target[300];
    snprintf(target, sizeof target, "%s@%s", model, alias);
    s = mw_audit(c, actor, "rollout.start", target, det);
    cJSON_Delete(det);
  }
  ro_free(&o);
  return s;
}

mw_status rollout_create(mw_conn *c, const struct rollout_env *env,
                         const char *model, const cJSON *body, const char *actor,
                         cJSON **out, mw_err *err) {
  *out = NULL;
  struct rollout__config cfg;
  const char *alias = mw_json_str(body, "alias");
  int64_t cand = 0;
  if(!cJSON_IsObject(body))
    return mw_errf(err, MW_EVALIDATION, "the body must be an object");
  if(!mw_name_valid(alias))
    return mw_errf(err, MW_EVALIDATION, "alias must name an alias of the model");
  if(!mw_json_int(cJSON_GetObjectItemCaseSensitive(body, "candidate_version"),
                  &cand) ||
     cand < 1)
    return mw_errf(err, MW_EVALIDATION,
                   "candidate_version must be a positive integer");
  mw_status s = rollout__config_parse(body, &cfg, err);
  if(s)
    return s;
  if(cfg.shadow && !cfg.a.metric[0] && isnan(cfg.a.max_drift_share) &&
     isnan(cfg.a.max_cvb_drift_share) && isnan(cfg.a.min_agreement) &&
     isnan(cfg.a.max_mean_abs_diff) && isnan(cfg.a.min_rank_correlation))
    return mw_errf(err, MW_EVALIDATION,
                   "a shadow rollout needs at least one threshold in analysis");
  if(!(s = mw_tx_begin(c))) {
    int64_t id = 0;
    s = create_tx(c, env, model, alias, cand, &cfg, actor, &id, err);
    if(!s)
      s = answer_tx(c, model, id, out, err);
    s = commit_answer(c, s, out);
  }
  return s;
}

/* What action does to o (in the caller's transaction). */
static mw_status control_tx(mw_conn *c, const struct rollout_env *env, struct ro *o,
                            const struct rollout__config *cfg, const char *action,
                            const char *reason, const char *actor, mw_err *err) {
  int64_t now = mw_now_ms();
  int live = is(o, "running") || is(o, "paused");
  if((!strcmp(action, "pause") && !is(o, "running")) ||
     (!strcmp(action, "resume") && !is(o, "paused")) || !live)
    return mw_errf(err, MW_ECONFLICT, "rollout %lld is %s: it cannot %s",
                   (long long)o->r.id, o->r.state, action);
  struct change ch = {o->r.state,
                      o->r.step,
                      o->r.weight_percent,
                      o->r.step_started_at,
                      reason,
                      NULL,
                      "paused",
                      NULL,
                      NULL,
                      0,
                      actor};
  /* The timeline keeps the reason of every hand on the rollout. */
  cJSON *det = NULL;
  if(reason) {
    det = cJSON_CreateObject();
    cJSON_AddStringToObject(det, "reason", reason);
  }
  ch.detail = det;
  char why[600];
  mw_status s;
  if(!strcmp(action, "pause")) {
    ch.state = "paused";
    s = apply(c, env, o, &ch, now);
  } else if(!strcmp(action, "resume")) {
    ch.event = "resumed";
    /* The step starts again: its window and hold begin now. */
    ch.state = "running";
    ch.step_started_at = now;
    ch.tell_nodes = 1;
    ch.emit = "rollout.step";
    ch.reason = NULL;
    s = apply(c, env, o, &ch, now);
  } else if(!strcmp(action, "abort")) {
    snprintf(why, sizeof why, "aborted by %s%s%s", actor, reason ? ": " : "",
             reason ? reason : "");
    ch = abort_change(o, why, actor);
    ch.detail = det;
    s = apply(c, env, o, &ch, now);
    if(!s)
      s = announce_abort(c, env, o, NULL, why, now);
  } else {
    assert(!strcmp(action, "promote"));
    snprintf(why, sizeof why, "promoted by %s%s%s", actor, reason ? ": " : "",
             reason ? reason : "");
    ch.reason = why;
    s = promote(c, env, o, &ch, now, err);
  }
  (void)cfg;
  cJSON_Delete(det);
  return s;
}

mw_status rollout_control(mw_conn *c, const struct rollout_env *env,
                          const char *model, int64_t id, const char *action,
                          const char *reason, const char *actor, cJSON **out,
                          mw_err *err) {
  *out = NULL;
  if(reason && strlen(reason) > 4096)
    return mw_errf(err, MW_EVALIDATION, "reason is longer than 4096 bytes");
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  struct ro o;
  struct rollout__config cfg;
  s = ro_load(c, model, id, &o, &cfg, err);
  if(!s)
    s = control_tx(c, env, &o, &cfg, action, reason, actor, err);
  if(!s) {
    char act[32], target[64];
    snprintf(act, sizeof act, "rollout.%s", action);
    snprintf(target, sizeof target, "rollout:%lld", (long long)id);
    cJSON *det = cJSON_CreateObject();
    cJSON_AddStringToObject(det, "model", model);
    if(reason)
      cJSON_AddStringToObject(det, "reason", reason);
    s = mw_audit(c, actor, act, target, det);
    cJSON_Delete(det);
  }
  char alias[200];
  mw_strlcpy(alias, o.r.alias ? o.r.alias : "", sizeof alias);
  ro_free(&o);
  if(!s)
    s = answer_tx(c, model, id, out, err);
  s = commit_answer(c, s, out);
  if(s == MW_ENOTAPPROVED && !mw_tx_begin(c)) {
    /* A promotion the protected alias refused: the refusal is audited in
     * a transaction of its own, as for any other move. */
    if(reg_alias_audit_refusal(c, actor, model, alias, err) || mw_tx_commit(c))
      mw_tx_rollback(c);
  }
  return s;
}

/* ------------------------------------------------------------ the tick */

/* Pauses o, whose step waited too long for `what` (inconclusive). */
static mw_status pause_inconclusive(mw_conn *c, const struct rollout_env *env,
                                    struct ro *o, const char *what, int64_t now) {
  char why[300];
  snprintf(why, sizeof why,
           "inconclusive: step %lld waited past its hold and max_wait_seconds for "
           "%s; resume to try the step again, or abort",
           (long long)o->r.step + 1, what);
  struct change ch = {"paused",
                      o->r.step,
                      o->r.weight_percent,
                      o->r.step_started_at,
                      why,
                      NULL,
                      "paused",
                      NULL,
                      NULL,
                      0,
                      "rollout-controller"};
  return apply(c, env, o, &ch, now);
}

/* Aborts o, whose alias moved to `now_at` (0: deleted) outside it. */
static mw_status abort_moved(mw_conn *c, const struct rollout_env *env, struct ro *o,
                             int64_t now_at, int64_t now) {
  char why[300];
  if(now_at > 0)
    snprintf(why, sizeof why,
             "alias '%s' moved from v%lld to v%lld outside the rollout", o->r.alias,
             (long long)o->r.baseline_version, (long long)now_at);
  else
    snprintf(why, sizeof why, "alias '%s' was deleted during the rollout",
             o->r.alias);
  struct change ab = abort_change(o, why, "rollout-controller");
  mw_status s = apply(c, env, o, &ab, now);
  return s ? s : announce_abort(c, env, o, NULL, why, now);
}

/* Ends o's current step with its checks (in the caller's transaction). */
static mw_status end_step(mw_conn *c, const struct rollout_env *env, struct ro *o,
                          const struct rollout__config *cfg,
                          const struct rollout__check *ck, int n, int64_t now) {
  int failed;
  enum rollout__verdict v = rollout__verdict(cfg, (int)o->r.step, ck, n, &failed);
  cJSON *checks = checks_json(ck, n);
  const char *actor = "rollout-controller";
  struct change ch = {
      "running",
      o->r.step,
      o->r.weight_percent,
      o->r.step_started_at,
      NULL,
      step_result(o, v == ROLLOUT__ABORT ? "failed" : "passed", now, ck, n),
      "step",
      checks,
      "rollout.step",
      1,
      actor};
  mw_status s;
  if(v == ROLLOUT__ABORT) {
    const struct rollout__check *f = &ck[failed];
    char why[600];
    snprintf(
        why, sizeof why, "step %lld check %s failed: %.6g %s threshold %.6g%s%s%s",
        (long long)o->r.step + 1, f->name, f->value, f->upper ? ">" : "<",
        f->threshold, f->detail[0] ? " (" : "", f->detail, f->detail[0] ? ")" : "");
    struct change ab = abort_change(o, why, actor);
    ab.result = ch.result;
    ab.detail = checks;
    ch.result = NULL;
    s = apply(c, env, o, &ab, now);
    if(!s)
      s = announce_abort(c, env, o, f, why, now);
  } else if(v == ROLLOUT__PROMOTE) {
    mw_err err = {0};
    ch.reason = "every step passed its checks";
    s = promote(c, env, o, &ch, now, &err);
    if(s == MW_ECONFLICT || s == MW_ENOTAPPROVED || s == MW_EVALIDATION) {
      /* The alias moved under the rollout, or the candidate lost its
       * approval: the rollout cannot promote and ends. The move was
       * refused by a check before any write, so the transaction is still
       * usable; a refusal of the protection is audited like any other. */
      char why[700];
      snprintf(why, sizeof why, "promotion refused: %s", err.msg);
      s = s == MW_ENOTAPPROVED
              ? reg_alias_audit_refusal(c, actor, o->r.model, o->r.alias, &err)
              : MW_OK;
      struct change ab = abort_change(o, why, actor);
      ab.result = ch.result; /* the move failed before apply: still ours */
      ch.result = NULL;
      if(!s)
        s = apply(c, env, o, &ab, now);
      cJSON_Delete(ab.result);
      if(!s)
        s = announce_abort(c, env, o, NULL, why, now);
    }
    mw_err_clear(&err);
  } else {
    ch.step = o->r.step + 1;
    ch.weight = cfg->steps[ch.step].weight_percent;
    ch.step_started_at = now;
    s = apply(c, env, o, &ch, now);
  }
  cJSON_Delete(ch.result); /* NULL once apply took it */
  cJSON_Delete(checks);
  return s;
}

/* Decides on rollout id at now; 1 when it changed. */
static int tick_one(mw_conn *c, const struct rollout_env *env, int64_t id,
                    int64_t now) {
  struct ro o;
  struct rollout__config cfg;
  struct rollout__progress p;
  struct rollout__check ck[8];
  int n = 0, changed = 0;
  mw_status s = ro_load(c, NULL, id, &o, &cfg, NULL);
  if(s || !is(&o, "running")) {
    ro_free(&o);
    return 0;
  }
  /* Waiting (or failing to read) past the step's hold and max_wait makes
   * the step inconclusive: the rollout pauses instead of waiting forever. */
  s = rollout__progress_read(c, env, &o.r, &cfg, now, &p);
  /* The alias moved outside the rollout (by hand, by an alert rule's
   * rollback): what it would replace is gone, so it ends now. */
  int moved = !s && p.alias_version != o.r.baseline_version;
  enum rollout__wait w =
      s ? ROLLOUT__WAIT_HOLD : rollout__step_wait(&cfg, (int)o.r.step, &p);
  if(moved)
    w = ROLLOUT__READY;
  else if(!s && w == ROLLOUT__READY)
    s = rollout__analyse(c, env, &o.r, &cfg, now, ck, &n);
  int timed_out =
      (s || w != ROLLOUT__READY) && rollout__step_timed_out(&cfg, (int)o.r.step, &p);
  char what[96];
  if(s) {
    mw_log(MW_LOG_WARN, "rollouts", "rollout %lld: its analysis failed: %s",
           (long long)id, mw_status_code(s));
    snprintf(what, sizeof what, "an analysis that kept failing (%s)",
             mw_status_code(s));
  } else {
    mw_strlcpy(what, w != ROLLOUT__READY ? rollout__wait_name(w) : "", sizeof what);
  }
  if((s || w != ROLLOUT__READY) && !timed_out) {
    ro_free(&o);
    return 0;
  }
  /* Decided outside any transaction: apply only if nothing changed it. */
  int64_t revision = o.r.revision;
  if(!(s = mw_tx_begin(c))) {
    struct ro cur;
    struct rollout__config cfg2;
    s = ro_load(c, NULL, id, &cur, &cfg2, NULL);
    if(!s && (cur.r.revision != revision || !is(&cur, "running")))
      s = MW_ECONFLICT; /* someone else decided first */
    if(!s)
      s = moved       ? abort_moved(c, env, &cur, p.alias_version, now)
          : timed_out ? pause_inconclusive(c, env, &cur, what, now)
                      : end_step(c, env, &cur, &cfg, ck, n, now);
    if(!s && !(s = mw_tx_commit(c)))
      changed = 1;
    else if(mw_tx_state(c) == 1)
      mw_tx_rollback(c);
    ro_free(&cur);
  }
  if(s && s != MW_ECONFLICT)
    mw_log(MW_LOG_WARN, "rollouts", "rollout %lld: deciding failed: %s",
           (long long)id, mw_status_code(s));
  ro_free(&o);
  return changed;
}

struct ids {
  int64_t v[64];
  int n;
};

static mw_status got_id(void *ctx, int64_t id) {
  struct ids *x = ctx;
  if(x->n < (int)(sizeof x->v / sizeof *x->v))
    x->v[x->n++] = id;
  return MW_OK;
}

int rollout_tick(mw_conn *c, const struct rollout_env *env, int64_t now) {
  struct ids x = {.n = 0};
  if(rollout__store(c)->active(c, 64, got_id, &x))
    return 0;
  int changed = 0;
  for(int i = 0; i < x.n; i++)
    changed += tick_one(c, env, x.v[i], now);
  return changed;
}
