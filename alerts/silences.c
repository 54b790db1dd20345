/* alerts/silences.c - silences (label matchers with an expiry), the list
 * of alert episodes and acknowledgements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "alerts/alerts_internal.h"

mw_status alert_silence_create(mw_conn *c, const cJSON *body, const char *actor,
                               cJSON **out, mw_err *err) {
  *out = NULL;
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(body, "matchers");
  const char *ends = mw_json_str(body, "ends_at");
  const char *starts = mw_json_str(body, "starts_at");
  const char *comment = mw_json_str(body, "comment");
  /* Checking compiles the regular expressions, into the cache the
   * matching will use. */
  struct alert__matchers *compiled = NULL;
  mw_status s = alert__matchers_compile(ms, &compiled, err);
  alert__matchers_free(compiled);
  if(s)
    return s;
  int64_t now = mw_now_ms(), start = now, end = 0;
  if(starts && mw_time_parse(starts, &start))
    return mw_errf(err, MW_EVALIDATION, "starts_at must be an RFC 3339 time");
  if(!ends || mw_time_parse(ends, &end))
    return mw_errf(err, MW_EVALIDATION, "ends_at must be an RFC 3339 time");
  if(end <= start || end <= now)
    return mw_errf(err, MW_EVALIDATION, "ends_at must be in the future and after "
                                        "starts_at");
  if(comment && strlen(comment) > 4096)
    return mw_errf(err, MW_EVALIDATION, "comment is longer than 4096 bytes");
  char *mtxt = cJSON_PrintUnformatted(ms);
  s = mw_tx_begin(c);
  if(s) {
    cJSON_free(mtxt);
    return s;
  }
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO silences(matchers, starts_at, ends_at, "
                                "comment, created_by, created_at) "
                                "VALUES(?, ?, ?, ?, ?, ?)");
  int64_t id = 0;
  if(!st) {
    s = MW_EDB;
  } else {
    mw_bind_text(st, 1, mtxt);
    sqlite3_bind_int64(st, 2, start);
    sqlite3_bind_int64(st, 3, end);
    mw_bind_text(st, 4, comment ? comment : "");
    mw_bind_text(st, 5, actor);
    sqlite3_bind_int64(st, 6, now);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
    id = sqlite3_last_insert_rowid(mw_conn_handle(c));
  }
  char target[32];
  snprintf(target, sizeof target, "%lld", (long long)id);
  if(!s)
    s = mw_audit(c, actor, "silence.create", target, ms);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(!s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddItemToObject(o, "matchers", cJSON_Duplicate(ms, 1));
    mw_json_add_time(o, "starts_at", start);
    mw_json_add_time(o, "ends_at", end);
    cJSON_AddStringToObject(o, "comment", comment ? comment : "");
    cJSON_AddStringToObject(o, "created_by", actor);
    *out = o;
  }
  cJSON_free(mtxt);
  return s;
}

mw_status alert_silence_list(mw_conn *c, cJSON **out, mw_err *err) {
  (void)err;
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, matchers, starts_at, ends_at, comment, "
                                "created_by FROM silences ORDER BY (ends_at > ?1) "
                                "DESC, id DESC LIMIT 1000");
  if(!st)
    return MW_EDB;
  int64_t now = mw_now_ms();
  sqlite3_bind_int64(st, 1, now);
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "silences");
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON *m = cJSON_Parse(mw_col_text(st, 1));
    cJSON_AddItemToObject(o, "matchers", m ? m : cJSON_CreateArray());
    int64_t start = sqlite3_column_int64(st, 2), end = sqlite3_column_int64(st, 3);
    mw_json_add_time(o, "starts_at", start);
    mw_json_add_time(o, "ends_at", end);
    cJSON_AddStringToObject(o, "comment", mw_col_text(st, 4));
    cJSON_AddStringToObject(o, "created_by", mw_col_text(st, 5));
    cJSON_AddStringToObject(o, "state", end <= now ? "expired"
                                        : start > now ? "pending" : "active");
    cJSON_AddItemToArray(arr, o);
  }
  sqlite3_reset(st);
  if(rc != SQLITE_DONE) {
    cJSON_Delete(root);
    return mw_db_status(c, rc);
  }
  *out = root;
  return MW_OK;
}

mw_status alert_silence_expire(mw_conn *c, int64_t id, const char *actor,
                               mw_err *err) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(c, "UPDATE silences SET ends_at = ?1 WHERE id = ?2 "
                                "AND ends_at > ?1");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, mw_now_ms());
  sqlite3_bind_int64(st, 2, id);
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(!s && sqlite3_changes(mw_conn_handle(c)) == 0)
    s = mw_errf(err, MW_ENOTFOUND, "no active silence %lld", (long long)id);
  char target[32];
  snprintf(target, sizeof target, "%lld", (long long)id);
  if(!s)
    s = mw_audit(c, actor, "silence.expire", target, NULL);
  if(!s)
    return mw_tx_commit(c);
out:
  mw_tx_rollback(c);
  return s;
}

void alert__silences_clear(struct alert__silence_set *set) {
  for(size_t i = 0; i < set->n; i++)
    alert__matchers_free(set->s[i]);
  free(set->s);
  set->s = NULL;
  set->n = 0;
}

mw_status alert__silences_load(mw_conn *c, int64_t now,
                               struct alert__silence_set *out) {
  out->s = NULL;
  out->n = 0;
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, matchers FROM silences WHERE starts_at <= ?1 "
                                "AND ends_at > ?1");
  if(!st)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, now);
  size_t cap = 0;
  mw_status s = MW_OK;
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *m = cJSON_Parse(mw_col_text(st, 1));
    struct alert__matchers *ms = NULL;
    mw_err err = {0};
    mw_status cs = alert__matchers_compile(m, &ms, &err);
    cJSON_Delete(m);
    if(cs == MW_ENOMEM) {
      s = cs;
      break;
    }
    if(cs) {
      /* Stored before matchers were checked as they are now: it cannot
       * match anything. */
      mw_log(MW_LOG_WARN, "alerts", "silence %lld is ignored: %s",
             (long long)sqlite3_column_int64(st, 0), err.msg);
      mw_err_clear(&err);
      continue;
    }
    if(out->n == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      struct alert__matchers **grown = realloc(out->s, ncap * sizeof *grown);
      if(!grown) {
        alert__matchers_free(ms);
        s = MW_ENOMEM;
        break;
      }
      out->s = grown;
      cap = ncap;
    }
    out->s[out->n++] = ms;
  }
  sqlite3_reset(st);
  if(!s && rc != SQLITE_DONE)
    s = mw_db_status(c, rc);
  if(s)
    alert__silences_clear(out);
  return s;
}

int alert__silences_match(const struct alert__silence_set *set, const cJSON *labels) {
  for(size_t i = 0; i < set->n; i++)
    if(alert__matchers_eval(set->s[i], labels))
      return 1;
  return 0;
}

int alert_silenced(mw_conn *c, const cJSON *labels, int64_t now) {
  struct alert__silence_set set;
  int hit = 0;
  if(!alert__silences_load(c, now, &set))
    hit = alert__silences_match(&set, labels);
  alert__silences_clear(&set);
  return hit;
}

mw_status alert_list(mw_conn *c, const char *state, int limit, cJSON **out,
                     mw_err *err) {
  *out = NULL;
  if(state && strcmp(state, "pending") && strcmp(state, "firing") &&
     strcmp(state, "resolved"))
    return mw_errf(err, MW_EINVAL, "state must be pending, firing or resolved");
  if(limit <= 0)
    limit = 100;
  else if(limit > 1000)
    limit = 1000;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT a.id, r.name, a.state, a.labels, a.annotations, a.version, a.value, "
         "a.threshold, a.started_at, a.fired_at, a.resolved_at, a.acked_at, "
         "a.acked_by, a.fingerprint, a.action_result, r.metric, r.op, r.model "
         "FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
         "WHERE (?1 IS NULL OR a.state = ?1) ORDER BY a.id DESC LIMIT ?2");
  if(!st)
    return MW_EDB;
  /* The active silences are loaded (and their matchers compiled) once for
   * the whole list, not once per alert. */
  struct alert__silence_set silences;
  mw_status s = alert__silences_load(c, mw_now_ms(), &silences);
  if(s) {
    alert__silences_clear(&silences);
    return s;
  }
  mw_bind_text(st, 1, state);
  sqlite3_bind_int(st, 2, limit);
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "alerts");
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(o, "rule", mw_col_text(st, 1));
    cJSON_AddStringToObject(o, "state", mw_col_text(st, 2));
    cJSON *labels = cJSON_Parse(mw_col_text(st, 3));
    if(!labels)
      labels = cJSON_CreateObject();
    cJSON *ann = cJSON_Parse(mw_col_text(st, 4));
    cJSON_AddItemToObject(o, "labels", labels);
    cJSON_AddItemToObject(o, "annotations", ann ? ann : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "model", mw_col_text(st, 17));
    cJSON_AddNumberToObject(o, "version", (double)sqlite3_column_int64(st, 5));
    cJSON_AddStringToObject(o, "metric", mw_col_text(st, 15));
    cJSON_AddStringToObject(o, "op", mw_col_text(st, 16));
    cJSON_AddNumberToObject(o, "value", sqlite3_column_double(st, 6));
    cJSON_AddNumberToObject(o, "threshold", sqlite3_column_double(st, 7));
    mw_json_add_time(o, "started_at", sqlite3_column_int64(st, 8));
    for(int col = 9; col <= 11; col++) {
      static const char *keys[] = {"fired_at", "resolved_at", "acked_at"};
      mw_json_add_time(o, keys[col - 9], sqlite3_column_type(st, col) == SQLITE_NULL
                                             ? -1 : sqlite3_column_int64(st, col));
    }
    if(sqlite3_column_type(st, 12) != SQLITE_NULL)
      cJSON_AddStringToObject(o, "acked_by", mw_col_text(st, 12));
    else
      cJSON_AddNullToObject(o, "acked_by");
    cJSON_AddStringToObject(o, "fingerprint", mw_col_text(st, 13));
    cJSON *act = cJSON_Parse(mw_col_text(st, 14));
    cJSON_AddItemToObject(o, "action", act ? act : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "silenced", alert__silences_match(&silences, labels));
    cJSON_AddItemToArray(arr, o);
  }
  sqlite3_reset(st);
  alert__silences_clear(&silences);
  if(rc != SQLITE_DONE) {
    cJSON_Delete(root);
    return mw_db_status(c, rc);
  }
  *out = root;
  return MW_OK;
}

mw_status alert_ack(mw_conn *c, int64_t id, const char *actor, cJSON **out,
                    mw_err *err) {
  *out = NULL;
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(c, "UPDATE alerts SET acked_at = ?, acked_by = ? "
                                "WHERE id = ? AND state != 'resolved'");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  int64_t now = mw_now_ms();
  sqlite3_bind_int64(st, 1, now);
  mw_bind_text(st, 2, actor);
  sqlite3_bind_int64(st, 3, id);
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(!s && sqlite3_changes(mw_conn_handle(c)) == 0)
    s = mw_errf(err, MW_ENOTFOUND, "no pending or firing alert %lld", (long long)id);
  char target[32];
  snprintf(target, sizeof target, "%lld", (long long)id);
  if(!s)
    s = mw_audit(c, actor, "alert.ack", target, NULL);
  if(!s)
    s = mw_tx_commit(c);
  if(!s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    mw_json_add_time(o, "acked_at", now);
    cJSON_AddStringToObject(o, "acked_by", actor);
    *out = o;
  }
out:
  mw_tx_rollback(c);
  return s;
}
