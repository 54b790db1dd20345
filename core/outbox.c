/* core/outbox.c - the one queue of everything that leaves the process.
 * Writers (registry, alerts) enqueue inside their own transaction; the
 * delivery worker in alerts/ sends and retries, and removes what is
 * finished once it is older than the retention. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

mw_status mw_outbox_enqueue(mw_conn *c, const char *kind, const char *target_type,
                            const char *target_name, const char *url,
                            const cJSON *payload, int64_t *out_id) {
  char rnd[25], msg_id[32];
  if(mw_random_token(rnd, 24))
    return MW_EINTERNAL;
  snprintf(msg_id, sizeof msg_id, "msg_%s", rnd);
  char *body = cJSON_PrintUnformatted(payload);
  if(!body)
    return MW_ENOMEM;
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO outbox(msg_id, kind, target_type, target_name, url, "
         "payload, next_attempt_at, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  int64_t now = mw_now_ms();
  if(st) {
    mw_bind_text(st, 1, msg_id);
    mw_bind_text(st, 2, kind);
    mw_bind_text(st, 3, target_type);
    mw_bind_text(st, 4, target_name);
    mw_bind_text(st, 5, url);
    mw_bind_text(st, 6, body);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now);
  }
  mw_status s = mw_step_done(c, st);
  cJSON_free(body);
  if(!s && out_id)
    *out_id = sqlite3_last_insert_rowid(mw_conn_handle(c));
  return s;
}

mw_status mw_outbox_list(mw_conn *c, const char *state, int limit,
                         int64_t before_id, cJSON **out) {
  *out = NULL;
  if(limit <= 0)
    limit = 100;
  else if(limit > 1000)
    limit = 1000;
  if(before_id <= 0)
    before_id = INT64_MAX;
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT id, msg_id, kind, target_type, target_name, url, payload, "
         "state, attempts, next_attempt_at, created_at, delivered_at, "
         "last_status, last_error FROM outbox WHERE id < ?1 "
         "AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3");
  sqlite3_stmt *at = mw_stmt(
      c, "SELECT at, status_code, latency_ms, error FROM delivery_attempts "
         "WHERE outbox_id = ? ORDER BY id");
  if(!st || !at)
    return MW_EDB;
  sqlite3_bind_int64(st, 1, before_id);
  mw_bind_text(st, 2, state);
  sqlite3_bind_int(st, 3, limit + 1);
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "deliveries");
  int n = 0, row = 0, arow = 0;
  int64_t last = 0;
  int more = 0;
  mw_status s;
  while(!(s = mw_step_row(c, st, &row)) && row) {
    if(n == limit) {
      more = 1;
      break;
    }
    cJSON *d = cJSON_CreateObject();
    last = sqlite3_column_int64(st, 0);
    cJSON_AddNumberToObject(d, "id", (double)last);
    cJSON_AddStringToObject(d, "webhook_id", mw_col_text(st, 1));
    cJSON_AddStringToObject(d, "kind", mw_col_text(st, 2));
    cJSON_AddStringToObject(d, "target_type", mw_col_text(st, 3));
    cJSON_AddStringToObject(d, "target", mw_col_text(st, 4));
    /* Chat webhook URLs are credentials (Slack, Discord): show only where
     * they point (scheme and host), never the userinfo, path or query that
     * carry the key - to admins too, who read them at /api/v1/channels. */
    if(!strcmp(mw_col_text(st, 3), "channel")) {
      char red[1100];
      cJSON_AddStringToObject(d, "url", mw_url_redact(mw_col_text(st, 5), red,
                                                      sizeof red));
    } else {
      cJSON_AddStringToObject(d, "url", mw_col_text(st, 5));
    }
    cJSON *payload = cJSON_Parse(mw_col_text(st, 6));
    cJSON_AddItemToObject(d, "payload", payload ? payload : cJSON_CreateNull());
    cJSON_AddStringToObject(d, "state", mw_col_text(st, 7));
    cJSON_AddNumberToObject(d, "attempts", sqlite3_column_int(st, 8));
    mw_json_add_time(d, "next_attempt_at", sqlite3_column_int64(st, 9));
    mw_json_add_time(d, "created_at", sqlite3_column_int64(st, 10));
    mw_json_add_time(d, "delivered_at", sqlite3_column_type(st, 11) == SQLITE_NULL
                                            ? -1
                                            : sqlite3_column_int64(st, 11));
    if(sqlite3_column_type(st, 12) == SQLITE_NULL)
      cJSON_AddNullToObject(d, "last_status");
    else
      cJSON_AddNumberToObject(d, "last_status", sqlite3_column_int(st, 12));
    if(sqlite3_column_type(st, 13) == SQLITE_NULL)
      cJSON_AddNullToObject(d, "last_error");
    else
      cJSON_AddStringToObject(d, "last_error", mw_col_text(st, 13));
    cJSON *atts = cJSON_AddArrayToObject(d, "attempt_log");
    sqlite3_reset(at);
    sqlite3_bind_int64(at, 1, last);
    while(!(s = mw_step_row(c, at, &arow)) && arow) {
      cJSON *a = cJSON_CreateObject();
      mw_json_add_time(a, "at", sqlite3_column_int64(at, 0));
      if(sqlite3_column_type(at, 1) == SQLITE_NULL)
        cJSON_AddNullToObject(a, "status");
      else
        cJSON_AddNumberToObject(a, "status", sqlite3_column_int(at, 1));
      cJSON_AddNumberToObject(a, "latency_ms", sqlite3_column_int(at, 2));
      if(sqlite3_column_type(at, 3) == SQLITE_NULL)
        cJSON_AddNullToObject(a, "error");
      else
        cJSON_AddStringToObject(a, "error", mw_col_text(at, 3));
      cJSON_AddItemToArray(atts, a);
    }
    sqlite3_reset(at);
    cJSON_AddItemToArray(arr, d);
    n++;
    if(s)
      break;
  }
  sqlite3_reset(st);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  if(more) {
    char tok[32];
    snprintf(tok, sizeof tok, "%lld", (long long)last);
    cJSON_AddStringToObject(root, "next_page_token", tok);
  } else {
    cJSON_AddNullToObject(root, "next_page_token");
  }
  *out = root;
  return MW_OK;
}

mw_status mw_outbox_stats(mw_conn *c, mw_outbox_depth *out) {
  memset(out, 0, sizeof *out);
  out->oldest_queued_ms = -1;
  /* Both read the outbox_due index (state, ...): the counts walk it once,
   * the oldest waiting row looks only at pending and failed entries. */
  sqlite3_stmt *st = mw_stmt(c, "SELECT state, COUNT(*) FROM outbox GROUP BY state");
  sqlite3_stmt *old = mw_stmt(
      c, "SELECT MIN(COALESCE(cycle_started_at, created_at)) FROM outbox "
         "WHERE state IN ('pending', 'failed')");
  if(!st || !old)
    return MW_EDB;
  int row = 0;
  mw_status s;
  while(!(s = mw_step_row(c, st, &row)) && row) {
    const char *state = mw_col_text(st, 0);
    int64_t n = sqlite3_column_int64(st, 1);
    if(!strcmp(state, "pending"))
      out->pending = n;
    else if(!strcmp(state, "failed"))
      out->failed = n;
    else if(!strcmp(state, "delivered"))
      out->delivered = n;
    else if(!strcmp(state, "dead"))
      out->dead = n;
  }
  sqlite3_reset(st);
  if(s)
    return s;
  /* An aggregate without GROUP BY always gives its row. */
  if((s = mw_step_one(c, old)))
    return s == MW_ENOTFOUND ? MW_EINTERNAL : s;
  if(sqlite3_column_type(old, 0) != SQLITE_NULL)
    out->oldest_queued_ms = sqlite3_column_int64(old, 0);
  sqlite3_reset(old);
  return MW_OK;
}

/* Most rows one purge step looks at (and so deletes). */
#define PURGE_MAX_ROWS 10000

mw_status mw_outbox_purge_step(mw_conn *c, int64_t cutoff_ms, int max_rows,
                               int64_t *cursor, int64_t *n_delivered,
                               int64_t *n_dead) {
  *n_delivered = *n_dead = 0;
  if(max_rows < 1)
    max_rows = 1;
  if(max_rows > PURGE_MAX_ROWS)
    max_rows = PURGE_MAX_ROWS;
  int64_t *ids = malloc((size_t)max_rows * sizeof *ids);
  if(!ids)
    return MW_ENOMEM;
  int nids = 0, seen = 0, young = 0;
  int64_t last = *cursor;
  /* The newest row always stays: outbox ids are public (GET /deliveries,
   * retry, audit targets), and SQLite hands the highest id out again once
   * that row is gone. */
  /* The final time of a delivered row is delivered_at; a dead row's is its
   * last attempt (every way to die records one; created_at is only a
   * fallback for rows from before attempts were kept). */
  sqlite3_stmt *sel = mw_stmt(
      c, "SELECT id, state, created_at, CASE state "
         "WHEN 'delivered' THEN delivered_at "
         "WHEN 'dead' THEN (SELECT MAX(at) FROM delivery_attempts "
         "WHERE outbox_id = outbox.id) END "
         "FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2");
  sqlite3_stmt *del_att = mw_stmt(c, "DELETE FROM delivery_attempts WHERE outbox_id = ?");
  sqlite3_stmt *del = mw_stmt(
      c, "DELETE FROM outbox WHERE id = ? AND state IN ('delivered', 'dead') "
         "AND id < (SELECT max(id) FROM outbox) RETURNING state");
  mw_status s = !sel || !del_att || !del ? MW_EDB : mw_tx_begin(c);
  if(s) {
    free(ids);
    return s;
  }
  sqlite3_bind_int64(sel, 1, *cursor);
  sqlite3_bind_int(sel, 2, max_rows);
  int row = 0;
  while(!(s = mw_step_row(c, sel, &row)) && row) {
    int64_t created = sqlite3_column_int64(sel, 2);
    if(created >= cutoff_ms) {
      young = 1;
      break;
    }
    seen++;
    last = sqlite3_column_int64(sel, 0);
    const char *state = mw_col_text(sel, 1);
    if(strcmp(state, "delivered") && strcmp(state, "dead"))
      continue; /* pending or failed: never purged */
    int64_t final = sqlite3_column_type(sel, 3) == SQLITE_NULL
                        ? created
                        : sqlite3_column_int64(sel, 3);
    if(final < cutoff_ms)
      ids[nids++] = last;
  }
  sqlite3_reset(sel);
  for(int i = 0; i < nids && !s; i++) {
    sqlite3_bind_int64(del_att, 1, ids[i]);
    if((s = mw_step_done(c, del_att)))
      break;
    /* DELETE ... RETURNING: a row when it deleted, then its end. */
    sqlite3_bind_int64(del, 1, ids[i]);
    s = mw_step_row(c, del, &row);
    if(!s && row) {
      if(!strcmp(mw_col_text(del, 0), "delivered"))
        (*n_delivered)++;
      else
        (*n_dead)++;
      s = mw_step_done(c, del);
    }
  }
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  free(ids);
  if(s) {
    *n_delivered = *n_dead = 0;
    return s;
  }
  /* Done when a row queued after the cutoff was reached (rows are queued in
   * id order, so none behind it can qualify) or the table ended. */
  *cursor = young || seen < max_rows ? 0 : last;
  return MW_OK;
}
