/* alerts/story.c - what a notification group tells, as pure functions of
 * the episodes the flush read (alerts/notify.c does the I/O):
 *   - each episode is told with the value it fired with, not the latest
 *     one; a resolved episode also with the value it resolved with and the
 *     version that was measured on (after a rollback, not the one that
 *     fired);
 *   - an episode the channel was never told fired - it fired and resolved
 *     within the group wait (or the group interval) - is told as a firing,
 *     then as its resolution: something was done about it;
 *   - firing alerts come first, then resolved ones, each in episode order;
 *   - what the rule's action did is one line of text
 *     (alert__action_text), the same in every channel kind.
 *
 * Cost: linear in the episodes of the group; one small JSON parse per
 * episode with an action. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alerts/internal.h"

/* ------------------------------------------------------- action text */

/* The alias a stored action result names ("" when none). */
static const char *action_alias(const cJSON *j) {
  const char *a = mw_json_str(j, "alias");
  if(!a)
    a = mw_json_str(cJSON_GetObjectItemCaseSensitive(j, "result"), "alias");
  return a ? a : "";
}

/* "rolled production back v2 -> v1" */
static void rollback_done(const cJSON *j, char *out, size_t cap) {
  const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "result");
  int64_t to = 0, from = 0;
  mw_json_int(cJSON_GetObjectItemCaseSensitive(res, "version"), &to);
  mw_json_int(cJSON_GetObjectItemCaseSensitive(res, "previous_version"), &from);
  const char *alias = action_alias(j);
  if(from > 0 && to > 0)
    snprintf(out, cap, "rolled %s back v%lld -> v%lld", alias, (long long)from,
             (long long)to);
  else if(to > 0)
    snprintf(out, cap, "rolled %s back to v%lld", alias, (long long)to);
  else
    snprintf(out, cap, "rolled %s back", alias);
}

/* "did not roll production back: refused, not approved - <message>" */
static void rollback_skipped(const cJSON *j, char *out, size_t cap) {
  const char *code = mw_json_str(j, "code");
  const char *msg = mw_json_str(j, "message");
  const char *why = "error";
  if(code && !strcmp(code, "not_approved"))
    why = "refused, not approved";
  else if(code && !strcmp(code, "conflict"))
    why = "nothing older to roll back to";
  const char *alias = action_alias(j);
  snprintf(out, cap, "did not roll %s%sback: %s%s%s", alias, *alias ? " " : "", why,
           msg && *msg ? " - " : "", msg ? msg : "");
}

void alert__action_text(const char *json, char *out, size_t cap) {
  assert(out && cap > 0);
  out[0] = '\0';
  cJSON *j = json ? cJSON_Parse(json) : NULL;
  const char *action = mw_json_str(j, "action");
  const char *status = mw_json_str(j, "status");
  if(action && status) {
    if(strcmp(action, "rollback"))
      snprintf(out, cap, "%s: %s", action, status);
    else if(!strcmp(status, "done"))
      rollback_done(j, out, cap);
    else
      rollback_skipped(j, out, cap);
  }
  cJSON_Delete(j);
}

/* ----------------------------------------------------------- notices */

static int notice_firing(const struct alert_notice *a) {
  if(a->status)
    return !strcmp(a->status, "firing");
  return !(a->state && !strcmp(a->state, "resolved"));
}

void alert__notices_order(const struct alert_notice *in, size_t n,
                          struct alert_notice *out) {
  assert(n == 0 || (in && out && in != out));
  size_t k = 0;
  for(size_t i = 0; i < n; i++)
    if(notice_firing(&in[i]))
      out[k++] = in[i];
  for(size_t i = 0; i < n; i++)
    if(!notice_firing(&in[i]))
      out[k++] = in[i];
  assert(k == n);
}

/* What every notice of member m says (its strings borrowed from m and
 * dash). */
static void notice_base(const struct alert__member *m, const char *dash,
                        struct alert_notice *a) {
  memset(a, 0, sizeof *a);
  a->labels = m->labels;
  a->annotations = m->annotations;
  a->starts_at_ms = m->fired ? m->fired : m->started;
  a->fingerprint = m->fingerprint;
  a->generator_url = dash;
  a->rule = m->rule;
  a->model = m->model;
  a->version = m->version;
  a->alias = m->alias[0] ? m->alias : NULL;
  a->metric = m->metric;
  a->op = m->op;
  /* The value it fired with; an episode that fired before the value was
   * kept apart (migration 0018) shows its latest. */
  a->value = isfinite(m->fired_value) ? m->fired_value : m->value;
  a->threshold = m->threshold;
  a->severity = m->severity;
  a->dashboard_url = dash;
  a->action = m->action[0] ? m->action : NULL;
}

static void notice_firing_of(const struct alert__member *m, const char *dash,
                             struct alert_notice *a) {
  notice_base(m, dash, a);
  a->status = a->state = "firing";
  /* A firing the channel hears of only now that it is over. */
  if(!m->firing)
    a->resolved_since_ms = m->resolved > 0 ? m->resolved : 1;
}

static void notice_resolved_of(const struct alert__member *m, const char *dash,
                               struct alert_notice *a) {
  notice_base(m, dash, a);
  a->status = a->state = "resolved";
  a->ends_at_ms = m->resolved;
  a->has_resolved_value = isfinite(m->resolved_value);
  a->resolved_value = m->resolved_value;
  a->resolved_version = m->resolved_version;
}

size_t alert__group_notices(const struct alert__member *m, size_t n,
                            const char *dash, struct alert_notice *out) {
  assert(n == 0 || (m && out));
  size_t k = 0;
  /* Firing first: what fires now, and what fired unheard of. */
  for(size_t i = 0; i < n; i++)
    if(m[i].firing || !m[i].told_fired)
      notice_firing_of(&m[i], dash, &out[k++]);
  for(size_t i = 0; i < n; i++)
    if(!m[i].firing)
      notice_resolved_of(&m[i], dash, &out[k++]);
  assert(k <= 2 * n);
  return k;
}
