/* alerts/notify.c - Alertmanager's grouping and repeat model over the
 * persisted episodes. For each (channel, model) group:
 *   - the first notification waits group_wait after the group appears, so
 *     alerts that fire together arrive together;
 *   - later changes (an alert fires or resolves) are sent at most every
 *     group_interval;
 *   - an unchanged group that still fires is re-sent every repeat_interval,
 *     unless every firing alert in it is acknowledged;
 *   - silenced alerts are left out; resolved alerts are sent once, and an
 *     alert that fired and resolved before the channel heard of it is told
 *     as a firing, then its resolution (alerts/story.c says what a
 *     notification tells);
 *   - to an Alertmanager channel a group that fires is re-sent every
 *     ALERT__KEEPALIVE_MS whatever else holds, acknowledged or not:
 *     Alertmanager resolves an alert nobody re-sends, and it keeps its own
 *     grouping and repeats.
 * Everything (group timers, digests, fired-sent and resolved-sent marks)
 * is in the database. The group's members are read first; then one write
 * transaction creates the group's row if needed, decides from it whether
 * the group is due (alert__group_due) and, if so, queues the notification
 * and records it, so a restart - or a second replica flushing at the same
 * moment - neither loses nor repeats a notification.
 *
 * Cost per flush: one statement for the groups, then per group one read of
 * its members and one short write transaction. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"

#define MAX_MEMBERS 256
#define MAX_GROUPS 512

struct members {
  struct alert__member *m;
  int n;
  const struct alert__silence_set *silences;
};

static void members_free(struct members *ms) {
  for(int i = 0; i < ms->n; i++) {
    cJSON_Delete(ms->m[i].labels);
    cJSON_Delete(ms->m[i].annotations);
  }
  ms->n = 0;
}

static mw_status add_member(void *ctx, const struct alert__member_row *r) {
  struct members *ms = ctx;
  if(ms->n == MAX_MEMBERS)
    return MW_OK;
  struct alert__member *x = &ms->m[ms->n];
  memset(x, 0, sizeof *x);
  x->labels = cJSON_Parse(r->labels);
  if(!x->labels)
    x->labels = cJSON_CreateObject();
  int silenced = alert__silences_match(ms->silences, x->labels);
  /* A silenced firing alert is not part of what the group says. */
  if(r->firing && silenced) {
    cJSON_Delete(x->labels);
    return MW_OK;
  }
  x->annotations = cJSON_Parse(r->annotations);
  if(!x->annotations)
    x->annotations = cJSON_CreateObject();
  x->id = r->id;
  x->firing = r->firing;
  x->acked = r->acked;
  /* A firing nobody heard of because it was silenced stays unheard of: its
   * resolution is told alone. */
  x->told_fired = r->told_fired || (!r->firing && silenced);
  x->version = r->version;
  x->value = r->value;
  x->threshold = r->threshold;
  x->fired_value = r->fired_value;
  x->resolved_value = r->resolved_value;
  x->resolved_version = r->resolved_version;
  x->started = r->started_at;
  x->fired = r->fired_at;
  x->resolved = r->resolved_at;
  mw_strlcpy(x->fingerprint, r->fingerprint, sizeof x->fingerprint);
  mw_strlcpy(x->rule, r->rule, sizeof x->rule);
  mw_strlcpy(x->model, r->model, sizeof x->model);
  mw_strlcpy(x->alias, r->alias, sizeof x->alias);
  mw_strlcpy(x->metric, r->metric, sizeof x->metric);
  mw_strlcpy(x->op, r->op, sizeof x->op);
  mw_strlcpy(x->severity, r->severity, sizeof x->severity);
  alert__action_text(r->action_result, x->action, sizeof x->action);
  ms->n++;
  return MW_OK;
}

int alert__keepalive_due(int64_t now, int64_t last_sent_at, int any_firing) {
  return any_firing && last_sent_at >= 0 &&
         now - last_sent_at >= ALERT__KEEPALIVE_MS;
}

int alert__group_due(const struct alert_env *env, int64_t now, int64_t created_at,
                     int64_t last_sent_at, int changed, int unacked_firing) {
  if(last_sent_at < 0)
    return now - created_at >= env->group_wait_ms;
  if(changed)
    return now - last_sent_at >= env->group_interval_ms;
  return unacked_firing && now - last_sent_at >= env->repeat_interval_ms;
}

/* Inside the flush's transaction: queues one notification for the group
 * (alert__group_notices: what it tells) and records it - the firing and
 * resolved episodes told, the group's timer and digest. */
static mw_status send_group(mw_conn *c, const struct alert_env *env,
                            const char *channel, const char *model,
                            const struct members *ms, const char *digest,
                            int64_t now, mw_err *err) {
  assert(mw_tx_state(c) == 1);
  const struct alert__store *st = alert__store(c);
  struct alert_notice *notes = calloc(2 * (size_t)ms->n, sizeof *notes);
  cJSON *gl = cJSON_CreateObject();
  mw_status s = notes && gl ? MW_OK : MW_ENOMEM;
  char dash[1400], key[400];
  snprintf(dash, sizeof dash, "%s/#/models/%s", env->external_url, model);
  snprintf(key, sizeof key, "{}:{model=\"%s\"}", model);
  if(!s) {
    cJSON_AddStringToObject(gl, "model", model);
    struct alert_group_notice g = {0};
    g.receiver = channel;
    g.group_key = key;
    g.group_labels = gl;
    g.external_url = env->external_url;
    g.alerts = notes;
    g.nalerts = alert__group_notices(ms->m, (size_t)ms->n, dash, notes);
    s = alert_channel_enqueue(c, channel, &g, NULL, err);
  }
  for(int i = 0; i < ms->n && !s; i++)
    s = ms->m[i].firing ? st->fired_sent(c, ms->m[i].id, channel)
                        : st->resolved_sent(c, ms->m[i].id, channel);
  if(!s)
    s = st->group_sent(c, channel, model, now, digest);
  cJSON_Delete(gl);
  free(notes);
  return s;
}

/* The digest names the firing alerts: a change in it is news. Also says
 * whether a resolved episode waits to be told and whether an
 * unacknowledged one fires. */
static void digest_of(const struct members *ms, char digest[65],
                      int *unsent_resolved, int *unacked_firing, int *any_firing) {
  mw_buf ids;
  mw_buf_init(&ids, 1 << 16);
  *unsent_resolved = *unacked_firing = *any_firing = 0;
  for(int i = 0; i < ms->n; i++) {
    if(ms->m[i].firing) {
      mw_buf_printf(&ids, "%lld,", (long long)ms->m[i].id);
      *unacked_firing |= !ms->m[i].acked;
      *any_firing = 1;
    } else {
      *unsent_resolved = 1;
    }
  }
  mw_sha256_hex(ids.data ? ids.data : "", ids.len, digest);
  mw_buf_free(&ids);
}

/* In one transaction: makes sure the group has its row, decides from it
 * whether the group is due, and sends it if so. */
static mw_status flush_due(mw_conn *c, const struct alert_env *env,
                           const char *channel, int keepalive, const char *model,
                           const struct members *ms, int64_t now, mw_err *err) {
  const struct alert__store *st = alert__store(c);
  char digest[65];
  int unsent_resolved, unacked_firing, any_firing;
  digest_of(ms, digest, &unsent_resolved, &unacked_firing, &any_firing);
  struct alert__group_row g;
  mw_status s = mw_tx_begin(c);
  if(!s)
    s = st->group_touch(c, channel, model, now);
  if(!s)
    s = st->group_get(c, channel, model, &g);
  if(s)
    goto out;
  int changed = strcmp(g.digest, digest) != 0 || unsent_resolved;
  if(!alert__group_due(env, now, g.created_at, g.last_sent_at, changed,
                       unacked_firing) &&
     !(keepalive && alert__keepalive_due(now, g.last_sent_at, any_firing)))
    goto out; /* nothing written but the new row, if any */
  s = send_group(c, env, channel, model, ms, digest, now, err);
out:
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

static mw_status take_type(void *ctx, const struct alert__channel_row *ch) {
  mw_strlcpy(ctx, ch->type, 16);
  return MW_OK;
}

/* Decides whether the group (channel, model) is due and sends it. */
static void flush_group(mw_conn *c, const struct alert_env *env,
                        const struct alert__silence_set *silences,
                        const char *channel, const char *model, int64_t now) {
  const struct alert__store *st = alert__store(c);
  struct members ms = {calloc(MAX_MEMBERS, sizeof(struct alert__member)), 0,
                       silences};
  mw_err err = {0};
  mw_status s =
      ms.m ? st->notify_members(c, channel, model, MAX_MEMBERS, add_member, &ms)
           : MW_ENOMEM;
  if(!s && ms.n == 0) {
    /* An empty group is forgotten: the next alert waits group_wait again. */
    s = mw_tx_begin(c);
    if(!s)
      s = st->group_forget(c, channel, model);
    if(!s)
      s = mw_tx_commit(c);
    mw_tx_rollback(c);
  } else if(!s) {
    char type[16] = "";
    s = st->channel_get(c, channel, take_type, type);
    if(s == MW_ENOTFOUND)
      s = MW_OK; /* a channel deleted meanwhile: its rows say so when sent */
    if(!s)
      s = flush_due(c, env, channel, !strcmp(type, "alertmanager"), model, &ms, now,
                    &err);
  }
  if(s)
    mw_log(MW_LOG_WARN, "alerts", "notifying %s failed: %s", channel,
           err.msg[0] ? err.msg : mw_strerror(s));
  mw_err_clear(&err);
  members_free(&ms);
  free(ms.m);
}

struct pairs {
  char (*v)[2][129];
  int n;
};

static mw_status add_pair(void *ctx, const char *channel, const char *key) {
  struct pairs *p = ctx;
  if(p->n < MAX_GROUPS) {
    mw_strlcpy(p->v[p->n][0], channel, 129);
    mw_strlcpy(p->v[p->n][1], key, 129);
    p->n++;
  }
  return MW_OK;
}

void alert__notify_flush(mw_conn *c, const struct alert_env *env, int64_t now) {
  /* Every (channel, model) pair that has something to say or a group row;
   * names first, then the groups, which run statements of their own. */
  struct pairs p = {malloc(MAX_GROUPS * sizeof *p.v), 0};
  struct alert__silence_set silences = {NULL, 0};
  mw_status s =
      p.v ? alert__store(c)->notify_pairs(c, MAX_GROUPS, add_pair, &p) : MW_ENOMEM;
  /* The silences active now, loaded once for every group. */
  if(!s && p.n)
    s = alert__silences_load(c, now, &silences);
  if(s)
    mw_log(MW_LOG_WARN, "alerts", "cannot read the notification groups: %s",
           mw_strerror(s));
  for(int i = 0; !s && i < p.n; i++)
    flush_group(c, env, &silences, p.v[i][0], p.v[i][1], now);
  alert__silences_clear(&silences);
  free(p.v);
}
