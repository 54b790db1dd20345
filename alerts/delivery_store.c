/* alerts/delivery_store.c - the delivery worker's SQL: claiming due outbox
 * rows under a lease, recording attempts, releasing claims, and re-queueing
 * a delivery by hand.
 *
 * Claims are rows, not memory: a row belongs to a worker while its
 * claim_until lies in the future, so a second thread or process never sends
 * it concurrently, and a worker that dies (kill -9) only delays its rows
 * until the lease runs out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/db_sqlite.h"
#include "alerts/delivery_internal.h"

void alert__job_clear(struct alert__job *j) {
  if(!j)
    return;
  free(j->url);
  free(j->payload);
  if(j->secret) {
    OPENSSL_cleanse(j->secret, strlen(j->secret));
    free(j->secret);
  }
  memset(j, 0, sizeof *j);
}

static char *dup_col(sqlite3_stmt *st, int col, size_t *len) {
  const void *p = sqlite3_column_text(st, col);
  size_t n = (size_t)sqlite3_column_bytes(st, col);
  char *s = malloc(n + 1);
  if(!s)
    return NULL;
  if(n)
    memcpy(s, p, n);
  s[n] = 0;
  if(len)
    *len = n;
  return s;
}

/* Looks up the signing secret of the job's target, at send time so that a
 * rotated secret is used at once. NULL secret when the target is gone. */
static mw_status load_secret(mw_conn *c, struct alert__job *j) {
  sqlite3_stmt *st;
  if(!strcmp(j->target_type, "node"))
    st = mw_stmt(c, "SELECT secret FROM nodes WHERE name = ?");
  else if(!strcmp(j->target_type, "channel"))
    st = mw_stmt(c, "SELECT secret FROM channels WHERE name = ?");
  else
    return MW_OK;
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, j->target_name);
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW) {
    j->secret = dup_col(st, 0, NULL);
    if(!j->secret)
      rc = SQLITE_NOMEM;
  }
  sqlite3_reset(st);
  if(rc == SQLITE_ROW || rc == SQLITE_DONE)
    return MW_OK;
  return rc == SQLITE_NOMEM ? MW_ENOMEM : mw_db_status(c, rc);
}

/* Records results inside the caller's transaction. */
static mw_status record_results(mw_conn *c, const char *claim_token,
                                const struct alert__result *r, size_t n) {
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    /* The attempt is history even if the row was deleted meanwhile; the
     * foreign key only lets it in while the row exists. */
    sqlite3_stmt *ins = mw_stmt(
        c, "INSERT INTO delivery_attempts(outbox_id, at, status_code, "
           "latency_ms, error) SELECT ?1, ?2, ?3, ?4, ?5 "
           "WHERE EXISTS (SELECT 1 FROM outbox WHERE id = ?1)");
    if(!ins)
      return MW_EDB;
    sqlite3_bind_int64(ins, 1, r[i].id);
    sqlite3_bind_int64(ins, 2, r[i].at);
    if(r[i].status_code > 0)
      sqlite3_bind_int64(ins, 3, r[i].status_code);
    else
      sqlite3_bind_null(ins, 3);
    sqlite3_bind_int64(ins, 4, r[i].latency_ms);
    mw_bind_text(ins, 5, r[i].error);
    s = mw_db_status(c, sqlite3_step(ins));
    sqlite3_reset(ins);
    if(s)
      break;
    sqlite3_stmt *up = mw_stmt(
        c, "UPDATE outbox SET state = ?1, attempts = attempts + 1, "
           "cycle_attempts = cycle_attempts + 1, "
           "next_attempt_at = CASE WHEN ?1 = 'failed' THEN ?2 "
           "ELSE next_attempt_at END, last_status = ?3, last_error = ?4, "
           "delivered_at = CASE WHEN ?1 = 'delivered' THEN ?5 "
           "ELSE delivered_at END, claim_token = NULL, claim_until = NULL "
           "WHERE id = ?6 AND claim_token = ?7");
    if(!up)
      return MW_EDB;
    mw_bind_text(up, 1, r[i].state);
    sqlite3_bind_int64(up, 2, r[i].next_attempt_at);
    if(r[i].status_code > 0)
      sqlite3_bind_int64(up, 3, r[i].status_code);
    else
      sqlite3_bind_null(up, 3);
    mw_bind_text(up, 4, r[i].error);
    sqlite3_bind_int64(up, 5, r[i].at + r[i].latency_ms);
    sqlite3_bind_int64(up, 6, r[i].id);
    mw_bind_text(up, 7, claim_token);
    s = mw_db_status(c, sqlite3_step(up));
    sqlite3_reset(up);
    if(!s && sqlite3_changes(mw_conn_handle(c)) == 0)
      mw_log(MW_LOG_WARN, "delivery",
             "delivery %lld: claim lost before its result was recorded "
             "(another worker took it over)",
             (long long)r[i].id);
  }
  return s;
}

struct cand {
  int64_t id;
  int64_t due;
};

static int cmp_cand(const void *a, const void *b) {
  const struct cand *x = a, *y = b;
  if(x->due != y->due)
    return x->due < y->due ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Replaces *dst with a copy of column col; MW_ENOMEM on failure. */
static mw_status take_col(sqlite3_stmt *st, int col, char **dst) {
  char *v = dup_col(st, col, NULL);
  if(!v)
    return MW_ENOMEM;
  free(*dst);
  *dst = v;
  return MW_OK;
}

/* Walks the queue index one target at a time (a skip-scan: two index
 * seeks per target, whatever the backlog) and looks at each target's head,
 * its oldest undelivered row. Heads that are due and unclaimed become
 * candidates, the oldest first; the rest say when to look again. */
static mw_status pick(mw_conn *c, int64_t now, int max, int64_t *ids, int *nids,
                      int64_t *next_due) {
  /* INDEXED BY: without statistics SQLite would rather scan outbox_due. */
  sqlite3_stmt *next_name = mw_stmt(
      c, "SELECT target_type, target_name FROM outbox INDEXED BY outbox_queue "
         "WHERE state IN ('pending', 'failed') AND target_type = ?1 "
         "AND target_name > ?2 ORDER BY target_type, target_name LIMIT 1");
  sqlite3_stmt *next_type = mw_stmt(
      c, "SELECT target_type, target_name FROM outbox INDEXED BY outbox_queue "
         "WHERE state IN ('pending', 'failed') AND target_type > ?1 "
         "ORDER BY target_type, target_name LIMIT 1");
  sqlite3_stmt *head = mw_stmt(
      c, "SELECT id, next_attempt_at, COALESCE(claim_until, 0) FROM outbox "
         "INDEXED BY outbox_queue WHERE target_type = ?1 AND target_name = ?2 "
         "AND state IN ('pending', 'failed') ORDER BY id LIMIT 1");
  if(!next_name || !next_type || !head)
    return MW_EDB;
  char *tt = strdup(""), *tn = NULL;
  struct cand *cands = NULL;
  size_t ncand = 0, capc = 0;
  mw_status s = tt ? MW_OK : MW_ENOMEM;
  int rc = SQLITE_DONE;
  /* Bounded: names with an embedded NUL could otherwise repeat forever. */
  for(int iter = 0; !s && iter < 1000000; iter++) {
    int found = 0;
    if(tn) {
      sqlite3_reset(next_name);
      mw_bind_text(next_name, 1, tt);
      mw_bind_text(next_name, 2, tn);
      rc = sqlite3_step(next_name);
      if(rc == SQLITE_ROW) {
        s = take_col(next_name, 1, &tn);
        found = 1;
      }
      sqlite3_reset(next_name);
      if(rc != SQLITE_ROW && rc != SQLITE_DONE)
        break;
    }
    if(!s && !found) {
      sqlite3_reset(next_type);
      mw_bind_text(next_type, 1, tt);
      rc = sqlite3_step(next_type);
      if(rc == SQLITE_ROW) {
        s = take_col(next_type, 0, &tt);
        if(!s)
          s = take_col(next_type, 1, &tn);
      }
      sqlite3_reset(next_type);
      if(rc != SQLITE_ROW)
        break;
    }
    if(s)
      break;
    sqlite3_reset(head);
    mw_bind_text(head, 1, tt);
    mw_bind_text(head, 2, tn);
    rc = sqlite3_step(head);
    if(rc == SQLITE_ROW) {
      int64_t id = sqlite3_column_int64(head, 0);
      int64_t due = sqlite3_column_int64(head, 1);
      int64_t claim = sqlite3_column_int64(head, 2);
      if(claim > now) {
        /* In flight (or its worker died): look again when the lease ends. */
        if(claim < *next_due)
          *next_due = claim;
      } else if(due > now) {
        if(due < *next_due)
          *next_due = due;
      } else {
        if(ncand == capc) {
          size_t nc = capc ? capc * 2 : 16;
          struct cand *nv = realloc(cands, nc * sizeof *nv);
          if(!nv) {
            s = MW_ENOMEM;
            break;
          }
          cands = nv;
          capc = nc;
        }
        cands[ncand].id = id;
        cands[ncand].due = due;
        ncand++;
      }
    }
    sqlite3_reset(head);
    if(rc != SQLITE_ROW && rc != SQLITE_DONE)
      break;
    rc = SQLITE_DONE;
  }
  if(!s && rc != SQLITE_DONE && rc != SQLITE_ROW)
    s = mw_db_status(c, rc);
  free(tt);
  free(tn);
  if(!s) {
    if(ncand)
      qsort(cands, ncand, sizeof *cands, cmp_cand);
    *nids = 0;
    for(size_t i = 0; i < ncand && *nids < max; i++)
      ids[(*nids)++] = cands[i].id;
  }
  free(cands);
  return s;
}

mw_status alert__claim(mw_conn *c, const char *claim_token, int64_t now,
                       int64_t lease_ms, const struct alert__result *done,
                       size_t ndone, int max, struct alert__job *jobs, int *n,
                       int64_t *next_due) {
  *n = 0;
  *next_due = INT64_MAX;
  if(max < 0)
    max = 0;
  int64_t *ids = max ? calloc((size_t)max, sizeof *ids) : NULL;
  int nids = 0;
  if(max && !ids)
    return MW_ENOMEM;
  mw_status s = mw_tx_begin(c);
  if(s) {
    free(ids);
    return s;
  }
  s = record_results(c, claim_token, done, ndone);
  if(!s && max)
    s = pick(c, now, max, ids, &nids, next_due);
  for(int i = 0; !s && i < nids; i++) {
    sqlite3_stmt *st = mw_stmt(
        c, "UPDATE outbox SET claim_token = ?1, claim_until = ?2 WHERE id = ?3 "
           "RETURNING id, msg_id, kind, target_type, target_name, url, payload, "
           "cycle_attempts, COALESCE(cycle_started_at, created_at)");
    if(!st) {
      s = MW_EDB;
      break;
    }
    mw_bind_text(st, 1, claim_token);
    sqlite3_bind_int64(st, 2, now + lease_ms);
    sqlite3_bind_int64(st, 3, ids[i]);
    int rc = sqlite3_step(st);
    if(rc == SQLITE_ROW) {
      struct alert__job *j = &jobs[*n];
      memset(j, 0, sizeof *j);
      j->id = sqlite3_column_int64(st, 0);
      mw_strlcpy(j->msg_id, mw_col_text(st, 1), sizeof j->msg_id);
      mw_strlcpy(j->kind, mw_col_text(st, 2), sizeof j->kind);
      mw_strlcpy(j->target_type, mw_col_text(st, 3), sizeof j->target_type);
      mw_strlcpy(j->target_name, mw_col_text(st, 4), sizeof j->target_name);
      j->url = dup_col(st, 5, NULL);
      j->payload = dup_col(st, 6, &j->payload_len);
      j->cycle_attempts = sqlite3_column_int(st, 7);
      j->cycle_started_at = sqlite3_column_int64(st, 8);
      (*n)++;
      if(!j->url || !j->payload)
        s = MW_ENOMEM;
      /* RETURNING runs to completion before the change is final. */
      while(rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if(!s && rc != SQLITE_DONE)
      s = mw_db_status(c, rc);
    if(!s)
      s = load_secret(c, &jobs[*n - 1]);
  }
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  free(ids);
  if(s) {
    for(int i = 0; i < *n; i++)
      alert__job_clear(&jobs[i]);
    *n = 0;
    *next_due = INT64_MAX;
  }
  return s;
}

mw_status alert__record(mw_conn *c, const char *claim_token,
                        const struct alert__result *r, size_t n) {
  if(!n)
    return MW_OK;
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = record_results(c, claim_token, r, n);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

mw_status alert__release(mw_conn *c, const char *claim_token,
                         const int64_t *ids, size_t n) {
  if(!n)
    return MW_OK;
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  for(size_t i = 0; i < n && !s; i++) {
    sqlite3_stmt *st = mw_stmt(c, "UPDATE outbox SET claim_token = NULL, "
                                  "claim_until = NULL WHERE id = ? AND "
                                  "claim_token = ?");
    if(!st) {
      s = MW_EDB;
      break;
    }
    sqlite3_bind_int64(st, 1, ids[i]);
    mw_bind_text(st, 2, claim_token);
    s = mw_db_status(c, sqlite3_step(st));
    sqlite3_reset(st);
  }
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

mw_status alert__data_version(mw_conn *c, int64_t *out) {
  sqlite3_stmt *st = mw_stmt(c, "PRAGMA data_version");
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? MW_OK : mw_db_status(c, rc);
}

mw_status alert_delivery_retry(mw_conn *c, int64_t id, const char *actor,
                               cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(c, "SELECT state FROM outbox WHERE id = ?");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  char state[16] = "";
  if(rc == SQLITE_ROW)
    mw_strlcpy(state, mw_col_text(st, 0), sizeof state);
  sqlite3_reset(st);
  if(rc == SQLITE_DONE) {
    s = mw_errf(err, MW_ENOTFOUND, "no delivery %lld", (long long)id);
    goto out;
  }
  if(rc != SQLITE_ROW) {
    s = mw_db_status(c, rc);
    goto out;
  }
  if(strcmp(state, "dead") && strcmp(state, "failed")) {
    s = mw_errf(err, MW_ECONFLICT,
                "delivery %lld is %s; only dead or failed deliveries can be "
                "retried",
                (long long)id, state);
    goto out;
  }
  /* A fresh budget: attempts and age count again from now. The lifetime
   * attempt counter keeps growing, so the log stays truthful. */
  int64_t now = mw_now_ms();
  st = mw_stmt(c, "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, "
                  "cycle_attempts = 0, cycle_started_at = ?1 WHERE id = ?2");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int64(st, 2, id);
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(s)
    goto out;
  char target[48];
  snprintf(target, sizeof target, "delivery:%lld", (long long)id);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "previous_state", state);
  s = mw_audit(c, actor, "delivery.retry", target, det);
  cJSON_Delete(det);
  if(s)
    goto out;
  /* Answer with the delivery as the list shows it: the page "below id+1"
   * of size one is exactly this row. Read before COMMIT: read after it, a
   * failure answered an error for a retry that was queued. */
  cJSON *page = NULL;
  s = mw_outbox_list(c, NULL, 1, id + 1, &page);
  if(!s) {
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(page, "deliveries");
    cJSON *d = cJSON_DetachItemFromArray(arr, 0);
    if(d)
      *out = d;
    else
      s = MW_EINTERNAL;
  }
  cJSON_Delete(page);
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
out:
  mw_tx_rollback(c);
  return s;
}
