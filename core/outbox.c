/* core/outbox.c - the one queue of everything that leaves the process.
 * Writers (registry, alerts) enqueue inside their own transaction; the
 * delivery worker in alerts/ sends and retries, and removes what is
 * finished once it is older than the retention. Rows live behind
 * core/store.h. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/store.h"
#include "core/url.h"

mw_status mw_outbox_enqueue(mw_conn *c, const char *kind, const char *target_type,
                            const char *target_name, const char *url,
                            const cJSON *payload, int64_t *out_id) {
  assert(mw_tx_state(c) == 1); /* sent if and only if the change commits */
  char rnd[25], msg_id[32];
  if(mw_random_token(rnd, 24))
    return MW_EINTERNAL;
  snprintf(msg_id, sizeof msg_id, "msg_%s", rnd);
  /* Where it goes, for the delivery log: scheme, host and port. The rest
   * of a URL may be a credential (a chat service's key in its path, a
   * password before the host), which lives only in the target's row,
   * encrypted; the delivery worker reads it from there when it sends. */
  char shown[1100];
  mw_url_redact(url, shown, sizeof shown);
  char *body = cJSON_PrintUnformatted(payload);
  if(!body)
    return MW_ENOMEM;
  mw_status s = mw__store(c)->outbox_insert(
      c, msg_id, kind, target_type, target_name, shown, body, mw_now_ms(), out_id);
  cJSON_free(body);
  return s;
}

struct list_ctx {
  cJSON *arr;
  cJSON *attempts; /* attempt_log of the row being filled */
  int n, limit;
  int64_t last;
  int more;
};

static mw_status list_row(void *p, const struct mw_outbox_row *r) {
  struct list_ctx *x = p;
  if(x->n == x->limit) {
    x->more = 1;
    x->attempts = NULL;
    return MW_OK;
  }
  x->n++;
  x->last = r->id;
  cJSON *d = cJSON_CreateObject();
  cJSON_AddNumberToObject(d, "id", (double)r->id);
  cJSON_AddStringToObject(d, "webhook_id", r->msg_id);
  cJSON_AddStringToObject(d, "kind", r->kind);
  cJSON_AddStringToObject(d, "target_type", r->target_type);
  cJSON_AddStringToObject(d, "target", r->target_name);
  /* Scheme, host and port, as kept (mw_outbox_enqueue): to admins too,
   * who read the whole URL at /api/v1/channels, /api/v1/nodes and
   * /api/v1/subscriptions. Rows queued before migration 0017 were cut
   * down at the first start after it. */
  cJSON_AddStringToObject(d, "url", r->url);
  cJSON *payload = cJSON_Parse(r->payload);
  cJSON_AddItemToObject(d, "payload", payload ? payload : cJSON_CreateNull());
  cJSON_AddStringToObject(d, "state", r->state);
  cJSON_AddNumberToObject(d, "attempts", r->attempts);
  mw_json_add_time(d, "next_attempt_at", r->next_attempt_at);
  mw_json_add_time(d, "created_at", r->created_at);
  mw_json_add_time(d, "delivered_at", r->delivered_at);
  if(r->last_status < 0)
    cJSON_AddNullToObject(d, "last_status");
  else
    cJSON_AddNumberToObject(d, "last_status", (double)r->last_status);
  if(!r->last_error)
    cJSON_AddNullToObject(d, "last_error");
  else
    cJSON_AddStringToObject(d, "last_error", r->last_error);
  x->attempts = cJSON_AddArrayToObject(d, "attempt_log");
  cJSON_AddItemToArray(x->arr, d);
  return MW_OK;
}

static mw_status list_attempt(void *p, const struct mw_attempt_row *at) {
  struct list_ctx *x = p;
  if(!x->attempts)
    return MW_OK;
  cJSON *a = cJSON_CreateObject();
  mw_json_add_time(a, "at", at->at);
  if(at->status < 0)
    cJSON_AddNullToObject(a, "status");
  else
    cJSON_AddNumberToObject(a, "status", (double)at->status);
  cJSON_AddNumberToObject(a, "latency_ms", (double)at->latency_ms);
  if(!at->error)
    cJSON_AddNullToObject(a, "error");
  else
    cJSON_AddStringToObject(a, "error", at->error);
  cJSON_AddItemToArray(x->attempts, a);
  return MW_OK;
}

mw_status mw_outbox_list(mw_conn *c, const char *state, int limit, int64_t before_id,
                         cJSON **out) {
  *out = NULL;
  if(limit <= 0)
    limit = 100;
  else if(limit > 1000)
    limit = 1000;
  if(before_id <= 0)
    before_id = INT64_MAX;
  cJSON *root = cJSON_CreateObject();
  struct list_ctx x = {
      cJSON_AddArrayToObject(root, "deliveries"), NULL, 0, limit, 0, 0};
  /* One row past the page tells whether there is a next one. */
  mw_status s = mw__store(c)->outbox_list(c, state, before_id, limit + 1, list_row,
                                          list_attempt, &x);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  if(x.more) {
    char tok[32];
    snprintf(tok, sizeof tok, "%lld", (long long)x.last);
    cJSON_AddStringToObject(root, "next_page_token", tok);
  } else {
    cJSON_AddNullToObject(root, "next_page_token");
  }
  *out = root;
  return MW_OK;
}

mw_status mw_outbox_stats(mw_conn *c, mw_outbox_depth *out) {
  return mw__store(c)->outbox_depth(c, out);
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
  struct mw_outbox_age *rows = malloc((size_t)max_rows * sizeof *rows);
  if(!rows)
    return MW_ENOMEM;
  const struct mw_core_store *store = mw__store(c);
  int n = 0, seen = 0, young = 0;
  int64_t last = *cursor;
  mw_status s = mw_tx_begin(c);
  if(!s)
    s = store->outbox_ages(c, *cursor, max_rows, rows, &n);
  for(int i = 0; i < n && !s; i++) {
    if(rows[i].created_at >= cutoff_ms) {
      young = 1;
      break;
    }
    seen++;
    last = rows[i].id;
    if(strcmp(rows[i].state, "delivered") && strcmp(rows[i].state, "dead"))
      continue; /* pending or failed: never purged */
    int64_t final = rows[i].final_at < 0 ? rows[i].created_at : rows[i].final_at;
    if(final >= cutoff_ms)
      continue;
    char gone[16];
    s = store->outbox_delete_finished(c, rows[i].id, gone);
    if(!strcmp(gone, "delivered"))
      (*n_delivered)++;
    else if(!strcmp(gone, "dead"))
      (*n_dead)++;
  }
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  free(rows);
  if(s) {
    *n_delivered = *n_dead = 0;
    return s;
  }
  /* Done when a row queued after the cutoff was reached (rows are queued in
   * id order, so none behind it can qualify) or the table ended. */
  *cursor = young || seen < max_rows ? 0 : last;
  return MW_OK;
}
