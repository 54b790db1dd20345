/* alerts/decision.c - what one evaluation of a rule decides, as a pure
 * function (alert__decide) of the rule, its state and alias as they stand
 * inside the write transaction, and the metric computed before it: stale
 * or not, the state machine's event, what happens to the episode (its
 * labels, annotations and fingerprint when it is new), whether the
 * rollback action runs, and the rule's state to store. alerts/evaluator.c
 * reads the inputs and writes the outputs through the store; everything
 * in between is here, so every case is unit-tested without a database.
 *
 * Cost: two small JSON documents built when an episode starts or fires;
 * nothing otherwise. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/internal.h"

void alert__rule_clear(struct alert__rule *r) {
  if(!r)
    return;
  free(r->labels);
  free(r->annotations);
  free(r->segment);
  r->labels = r->annotations = r->segment = NULL;
}

void alert__decision_clear(struct alert__decision *d) {
  if(!d)
    return;
  cJSON_free(d->labels);
  cJSON_free(d->annotations);
  d->labels = d->annotations = NULL;
}

const char *alert__event_name(enum alert_event ev) {
  static const char *const n[] = {"none", "pending", "fired", "resolved",
                                  "discarded"};
  return (unsigned)ev < 5 ? n[ev] : "none";
}

/* Labels of an episode: the rule's labels plus the identifying ones, as
 * JSON text (cJSON_free). */
static char *episode_labels(const struct alert__rule *r, int64_t version) {
  cJSON *l = cJSON_Parse(r->labels ? r->labels : "{}");
  if(!l)
    l = cJSON_CreateObject();
  if(!l)
    return NULL;
  char vbuf[32];
  snprintf(vbuf, sizeof vbuf, "%lld", (long long)version);
  const char *keys[] = {"alertname", "model",    "version",
                        "metric",    "severity", "alias"};
  const char *vals[] = {r->name, r->model, vbuf, r->metric, r->severity, r->alias};
  for(int i = 0; i < 6; i++) {
    if(!vals[i][0])
      continue;
    cJSON_DeleteItemFromObjectCaseSensitive(l, keys[i]);
    cJSON_AddStringToObject(l, keys[i], vals[i]);
  }
  char *text = cJSON_PrintUnformatted(l);
  cJSON_Delete(l);
  return text;
}

/* Annotations of an episode: the rule's, with a summary unless it has
 * one, as JSON text (cJSON_free). */
static char *episode_annotations(const struct alert__rule *r, int64_t version,
                                 const struct alert__observation *obs) {
  cJSON *a = cJSON_Parse(r->annotations ? r->annotations : "{}");
  if(!a)
    a = cJSON_CreateObject();
  if(!a)
    return NULL;
  if(!cJSON_GetObjectItemCaseSensitive(a, "summary")) {
    char buf[600];
    if(obs->has_value)
      snprintf(buf, sizeof buf, "%s of %s v%lld is %.6g (threshold %s %.6g)",
               r->metric, r->model, (long long)version, obs->value, r->op,
               r->threshold);
    else
      snprintf(buf, sizeof buf, "%s of %s v%lld has no data", r->metric, r->model,
               (long long)version);
    cJSON_AddStringToObject(a, "summary", buf);
  }
  char *text = cJSON_PrintUnformatted(a);
  cJSON_Delete(a);
  return text;
}

/* The episode's fingerprint: the first 16 hex digits of the SHA-256 of
 * rule, model and alias, so one rule's episodes group together. */
static void fingerprint(const struct alert__rule *r, char out[17]) {
  char key[400], fp[65];
  snprintf(key, sizeof key, "%s\x1f%s\x1f%s", r->name, r->model, r->alias);
  mw_sha256_hex(key, strlen(key), fp);
  memcpy(out, fp, 16);
  out[16] = '\0';
}

/* Sets d->op (and what the episode needs) for the event of a step taken
 * with the rule's open episode alert_id; returns the open episode after
 * the step (0: none; -1: the new one, whose id the store gives). */
static int64_t episode_change(const struct alert__rule *r,
                              const struct alert__observation *obs, int64_t alert_id,
                              struct alert__decision *d) {
  switch(d->event) {
  case ALERT_EV_PENDING:
  case ALERT_EV_FIRED:
    if(d->event == ALERT_EV_PENDING || !alert_id) {
      d->op = ALERT__EP_INSERT;
      d->episode_state = d->event == ALERT_EV_FIRED ? "firing" : "pending";
      fingerprint(r, d->fingerprint);
      d->labels = episode_labels(r, obs->version);
      d->annotations = episode_annotations(r, obs->version, obs);
      return -1;
    }
    d->op = ALERT__EP_FIRE;
    d->annotations = episode_annotations(r, obs->version, obs);
    return alert_id;
  case ALERT_EV_RESOLVED:
    d->op = ALERT__EP_RESOLVE;
    return 0;
  case ALERT_EV_DISCARDED:
    d->op = ALERT__EP_DISCARD;
    return 0;
  case ALERT_EV_NONE:
    break;
  }
  d->op = alert_id && obs->has_value ? ALERT__EP_VALUE : ALERT__EP_KEEP;
  return alert_id;
}

mw_status alert__decide(const struct alert__rule *r,
                        const struct alert__rule_state *stored,
                        int64_t alias_version, const struct alert__observation *obs,
                        struct alert__decision *out) {
  assert(r && stored && obs && out);
  assert(r->alias[0] || r->version > 0); /* one of them, as the schema says */
  memset(out, 0, sizeof *out);
  int parsed = alert_state_parse(stored->state);
  out->sm.state = parsed < 0 ? ALERT_INACTIVE : (enum alert_state)parsed;
  out->sm.active_since = stored->active_since;
  out->episode_id = stored->current_alert_id;
  struct alert_eval_basis cur = {stored->last_eval_at,
                                 r->alias[0] ? alias_version : r->version};
  out->version_now = cur.version;
  if(!alert_eval_current(&obs->seen, &cur)) {
    /* Stale: another evaluation was applied, or the alias moved, while
     * this one computed. Applying it could fire again an episode that was
     * already resolved - and roll back a second time. */
    out->stale = 1;
    out->event = ALERT_EV_NONE;
    return MW_OK;
  }
  /* Every applied evaluation moves last_eval_at on, so the evaluations
   * computing meanwhile see that they are stale. */
  int64_t stamp = alert_eval_stamp(cur.last_eval_at, obs->now);
  out->event = alert_sm_step(&out->sm, obs->cond, obs->now, r->for_s * 1000);
  int64_t open = episode_change(r, obs, stored->current_alert_id, out);
  if(out->op == ALERT__EP_FIRE || out->op == ALERT__EP_RESOLVE ||
     out->op == ALERT__EP_DISCARD || out->op == ALERT__EP_VALUE)
    out->episode_id = stored->current_alert_id;
  else
    out->episode_id = 0;
  if((out->op == ALERT__EP_INSERT && (!out->labels || !out->annotations)) ||
     (out->op == ALERT__EP_FIRE && !out->annotations)) {
    alert__decision_clear(out);
    return MW_ENOMEM;
  }
  out->rollback = out->event == ALERT_EV_FIRED && r->rollback;
  assert(!out->rollback || r->alias[0]); /* rollback rules follow an alias */
  struct alert__rule_eval *w = &out->save;
  w->state = alert_state_name(out->sm.state);
  w->active_since = out->sm.state == ALERT_PENDING || out->sm.state == ALERT_FIRING
                        ? out->sm.active_since
                        : -1;
  w->current_alert_id = open > 0 ? open : 0;
  w->last_eval_at = stamp;
  w->last_value = obs->has_value ? obs->value : NAN;
  w->last_version = obs->version;
  w->last_error = obs->problem && obs->problem[0] ? obs->problem : NULL;
  w->next_eval_at = stamp + r->interval_s * 1000;
  return MW_OK;
}
