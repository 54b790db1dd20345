/* alerts/notify.c - Alertmanager's grouping and repeat model over the
 * persisted episodes. For each (channel, model) group:
 *   - the first notification waits group_wait after the group appears, so
 *     alerts that fire together arrive together;
 *   - later changes (an alert fires or resolves) are sent at most every
 *     group_interval;
 *   - an unchanged group that still fires is re-sent every repeat_interval,
 *     unless every firing alert in it is acknowledged;
 *   - silenced alerts are left out; resolved alerts are sent once.
 * Everything (group timers, digests, resolved-sent marks) is in the
 * database, and each group's send is one transaction with its outbox rows,
 * so a restart neither loses nor repeats a notification. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "alerts/alerts.h"
#include "alerts/alerts_internal.h"

#define MAX_MEMBERS 256

struct member {
  int64_t id;
  int firing; /* else resolved, not yet sent to this channel */
  int acked;
  cJSON *labels, *annotations;
  char rule[129], model[129], alias[129], metric[301], op[8], severity[33];
  char fingerprint[17];
  int64_t version, started, fired, resolved;
  double value, threshold;
};

static void members_free(struct member *m, int n) {
  for(int i = 0; i < n; i++) {
    cJSON_Delete(m[i].labels);
    cJSON_Delete(m[i].annotations);
  }
}

/* Loads the members of channel's group `model`: firing, not silenced
 * episodes and resolved ones this channel has not been told about. */
static int load_members(mw_conn *c, const char *channel, const char *model,
                        int64_t now, struct member *m) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT a.id, a.state, a.labels, a.annotations, a.version, a.value, "
         "a.threshold, a.started_at, a.fired_at, a.resolved_at, a.acked_at, "
         "a.fingerprint, r.name, r.model, coalesce(r.alias, ''), r.metric, r.op, "
         "r.severity FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
         "WHERE r.model = ?2 AND EXISTS (SELECT 1 FROM json_each(r.channels) "
         "WHERE value = ?1) AND (a.state = 'firing' OR (a.state = 'resolved' "
         "AND a.fired_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
         "alert_resolved_sent s WHERE s.alert_id = a.id AND s.channel = ?1))) "
         "ORDER BY a.id LIMIT 256");
  if(!st)
    return 0;
  mw_bind_text(st, 1, channel);
  mw_bind_text(st, 2, model);
  int n = 0;
  while(n < MAX_MEMBERS && sqlite3_step(st) == SQLITE_ROW) {
    struct member *x = &m[n];
    memset(x, 0, sizeof *x);
    x->id = sqlite3_column_int64(st, 0);
    x->firing = !strcmp(mw_col_text(st, 1), "firing");
    x->labels = cJSON_Parse(mw_col_text(st, 2));
    x->annotations = cJSON_Parse(mw_col_text(st, 3));
    x->version = sqlite3_column_int64(st, 4);
    x->value = sqlite3_column_double(st, 5);
    x->threshold = sqlite3_column_double(st, 6);
    x->started = sqlite3_column_int64(st, 7);
    x->fired = sqlite3_column_int64(st, 8);
    x->resolved = sqlite3_column_int64(st, 9);
    x->acked = sqlite3_column_type(st, 10) != SQLITE_NULL;
    mw_strlcpy(x->fingerprint, mw_col_text(st, 11), sizeof x->fingerprint);
    mw_strlcpy(x->rule, mw_col_text(st, 12), sizeof x->rule);
    mw_strlcpy(x->model, mw_col_text(st, 13), sizeof x->model);
    mw_strlcpy(x->alias, mw_col_text(st, 14), sizeof x->alias);
    mw_strlcpy(x->metric, mw_col_text(st, 15), sizeof x->metric);
    mw_strlcpy(x->op, mw_col_text(st, 16), sizeof x->op);
    mw_strlcpy(x->severity, mw_col_text(st, 17), sizeof x->severity);
    if(!x->labels)
      x->labels = cJSON_CreateObject();
    if(!x->annotations)
      x->annotations = cJSON_CreateObject();
    /* A silenced firing alert is not part of what the group says. */
    if(x->firing && alert_silenced(c, x->labels, now)) {
      cJSON_Delete(x->labels);
      cJSON_Delete(x->annotations);
      continue;
    }
    n++;
  }
  sqlite3_reset(st);
  return n;
}

/* Sends (queues) one notification for the group and records it. */
static mw_status send_group(mw_conn *c, const struct alert_env *env,
                            const char *channel, const char *model,
                            struct member *m, int n, const char *digest,
                            int64_t now) {
  struct alert_notice *notes = calloc((size_t)n, sizeof *notes);
  if(!notes)
    return MW_ENOMEM;
  int any_firing = 0;
  char dash[1400];
  snprintf(dash, sizeof dash, "%s/#/models/%s", env->external_url, model);
  for(int i = 0; i < n; i++) {
    struct alert_notice *a = &notes[i];
    a->status = m[i].firing ? "firing" : "resolved";
    a->labels = m[i].labels;
    a->annotations = m[i].annotations;
    a->starts_at_ms = m[i].fired ? m[i].fired : m[i].started;
    a->ends_at_ms = m[i].firing ? 0 : m[i].resolved;
    a->fingerprint = m[i].fingerprint;
    a->generator_url = dash;
    a->rule = m[i].rule;
    a->model = m[i].model;
    a->version = m[i].version;
    a->alias = m[i].alias[0] ? m[i].alias : NULL;
    a->metric = m[i].metric;
    a->op = m[i].op;
    a->value = m[i].value;
    a->threshold = m[i].threshold;
    a->state = a->status;
    a->severity = m[i].severity;
    a->dashboard_url = dash;
    any_firing |= m[i].firing;
  }
  cJSON *gl = cJSON_CreateObject();
  cJSON_AddStringToObject(gl, "model", model);
  char key[400];
  snprintf(key, sizeof key, "{}:{model=\"%s\"}", model);
  struct alert_group_notice g = {0};
  g.status = any_firing ? "firing" : "resolved";
  g.receiver = channel;
  g.group_key = key;
  g.group_labels = gl;
  g.external_url = env->external_url;
  g.alerts = notes;
  g.nalerts = (size_t)n;
  mw_err err = {0};
  mw_status s = mw_tx_begin(c);
  if(!s)
    s = alert_channel_enqueue(c, channel, &g, NULL, &err);
  for(int i = 0; i < n && !s; i++) {
    if(m[i].firing)
      continue;
    sqlite3_stmt *st = mw_stmt(c, "INSERT OR IGNORE INTO alert_resolved_sent"
                                  "(alert_id, channel) VALUES(?, ?)");
    if(!st) {
      s = MW_EDB;
      break;
    }
    sqlite3_bind_int64(st, 1, m[i].id);
    mw_bind_text(st, 2, channel);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
  }
  if(!s) {
    sqlite3_stmt *st = mw_stmt(c, "UPDATE notify_groups SET last_sent_at = ?, "
                                  "last_digest = ? WHERE channel = ? AND group_key = ?");
    if(!st) {
      s = MW_EDB;
    } else {
      sqlite3_bind_int64(st, 1, now);
      mw_bind_text(st, 2, digest);
      mw_bind_text(st, 3, channel);
      mw_bind_text(st, 4, model);
      s = mw_db_status(c, sqlite3_step(st));
      sqlite3_reset(st);
    }
  }
  if(!s)
    s = mw_tx_commit(c);
  else
    mw_tx_rollback(c);
  if(s)
    mw_log(MW_LOG_WARN, "alerts", "notifying %s failed: %s", channel,
           err.msg[0] ? err.msg : mw_strerror(s));
  mw_err_clear(&err);
  cJSON_Delete(gl);
  free(notes);
  return s;
}

/* Decides whether the group is due and sends it. */
static void flush_group(mw_conn *c, const struct alert_env *env,
                        const char *channel, const char *model, int64_t now) {
  struct member *m = calloc(MAX_MEMBERS, sizeof *m);
  if(!m)
    return;
  int n = load_members(c, channel, model, now, m);
  sqlite3_stmt *st;
  if(n == 0) {
    /* An empty group is forgotten: the next alert waits group_wait again. */
    st = mw_stmt(c, "DELETE FROM notify_groups WHERE channel = ? AND group_key = ?");
    if(st) {
      mw_bind_text(st, 1, channel);
      mw_bind_text(st, 2, model);
      sqlite3_step(st);
      sqlite3_reset(st);
    }
    free(m);
    return;
  }
  /* The digest names the firing alerts: a change in it is news. */
  mw_buf ids;
  mw_buf_init(&ids, 1 << 16);
  int unsent_resolved = 0, unacked_firing = 0;
  for(int i = 0; i < n; i++) {
    if(m[i].firing) {
      mw_buf_printf(&ids, "%lld,", (long long)m[i].id);
      unacked_firing |= !m[i].acked;
    } else {
      unsent_resolved = 1;
    }
  }
  char digest[65];
  mw_sha256_hex(ids.data ? ids.data : "", ids.len, digest);
  mw_buf_free(&ids);
  st = mw_stmt(c, "INSERT INTO notify_groups(channel, group_key, created_at) "
                  "VALUES(?, ?, ?) ON CONFLICT DO NOTHING");
  if(st) {
    mw_bind_text(st, 1, channel);
    mw_bind_text(st, 2, model);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  st = mw_stmt(c, "SELECT created_at, last_sent_at, coalesce(last_digest, '') "
                  "FROM notify_groups WHERE channel = ? AND group_key = ?");
  int due = 0;
  if(st) {
    mw_bind_text(st, 1, channel);
    mw_bind_text(st, 2, model);
    if(sqlite3_step(st) == SQLITE_ROW) {
      int64_t created = sqlite3_column_int64(st, 0);
      int never = sqlite3_column_type(st, 1) == SQLITE_NULL;
      int64_t last = sqlite3_column_int64(st, 1);
      int changed = strcmp(mw_col_text(st, 2), digest) != 0 || unsent_resolved;
      if(never)
        due = now - created >= env->group_wait_ms;
      else if(changed)
        due = now - last >= env->group_interval_ms;
      else
        due = unacked_firing && now - last >= env->repeat_interval_ms;
    }
    sqlite3_reset(st);
  }
  if(due)
    send_group(c, env, channel, model, m, n, digest, now);
  members_free(m, n);
  free(m);
}

void alert__notify_flush(mw_conn *c, const struct alert_env *env, int64_t now) {
  /* Every (channel, model) pair that has something to say or a group row. */
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT DISTINCT j.value, r.model FROM alert_rules r, "
         "json_each(r.channels) j WHERE EXISTS (SELECT 1 FROM alerts a "
         "WHERE a.rule_id = r.id AND (a.state = 'firing' OR "
         "(a.state = 'resolved' AND a.fired_at IS NOT NULL AND NOT EXISTS "
         "(SELECT 1 FROM alert_resolved_sent s WHERE s.alert_id = a.id "
         "AND s.channel = j.value)))) "
         "UNION SELECT channel, group_key FROM notify_groups LIMIT 512");
  if(!st)
    return;
  char (*pairs)[2][129] = malloc(512 * sizeof *pairs);
  int n = 0;
  while(pairs && n < 512 && sqlite3_step(st) == SQLITE_ROW) {
    mw_strlcpy(pairs[n][0], mw_col_text(st, 0), 129);
    mw_strlcpy(pairs[n][1], mw_col_text(st, 1), 129);
    n++;
  }
  sqlite3_reset(st);
  for(int i = 0; i < n; i++)
    flush_group(c, env, pairs[i][0], pairs[i][1], now);
  free(pairs);
}
