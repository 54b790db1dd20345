/* alerts/queue.c - the delivery queue over the outbox: which messages a
 * worker may take (each target's queue first in, first out, under a
 * lease), recording attempts, giving claims back, and re-queueing a
 * delivery by hand (POST /api/v1/deliveries/{id}/retry).
 *
 * Claims are rows, not memory: a row belongs to a worker while its
 * claim_until lies in the future, so a second thread, process or replica
 * never sends it concurrently, and a worker that dies (kill -9) only
 * delays its rows until the lease runs out; another then sends them, with
 * the same webhook-id.
 *
 * A claim turn is one transaction: record the last turn's results, read
 * every target's head, pick the due ones (alert__pick), claim them. On
 * PostgreSQL that transaction takes no database-wide write lock
 * (mw_tx_begin_rows): the claim locks its rows with SKIP LOCKED, so the
 * workers of several replicas claim side by side, and API writers never
 * queue behind a worker. Cost: on SQLite two index seeks per target and
 * one statement per claimed row; on PostgreSQL two statements in all,
 * plus two per result recorded. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "alerts/store.h"

void alert__job_clear(struct alert__job *j) {
  if(!j)
    return;
  mw_secret_free(j->url); /* a chat service's URL is its key */
  mw_secret_free(j->secret);
  free(j->payload);
  mw_secret_free(j->password);
  free(j->username);
  memset(j, 0, sizeof *j);
}

/* ------------------------------------------------------------ picking */

static int cmp_due(const void *a, const void *b) {
  const struct alert__head *x = a, *y = b;
  if(x->next_attempt_at != y->next_attempt_at)
    return x->next_attempt_at < y->next_attempt_at ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

void alert__pick(struct alert__head *heads, size_t n, int64_t now, int max,
                 int64_t *ids, int *nids, int64_t *next_due) {
  assert(max >= 0 && (max == 0 || ids));
  size_t k = 0;
  for(size_t i = 0; i < n; i++) {
    struct alert__head *h = &heads[i];
    if(h->claim_until > now) {
      /* In flight (or its worker died): look again when the lease ends. */
      if(h->claim_until < *next_due)
        *next_due = h->claim_until;
    } else if(h->next_attempt_at > now) {
      if(h->next_attempt_at < *next_due)
        *next_due = h->next_attempt_at;
    } else {
      heads[k++] = *h; /* a candidate: compacted to the front */
    }
  }
  if(k)
    qsort(heads, k, sizeof *heads, cmp_due);
  *nids = 0;
  for(size_t i = 0; i < k && *nids < max; i++)
    ids[(*nids)++] = heads[i].id;
}

struct heads {
  struct alert__head *v;
  size_t n, cap;
};

static mw_status add_head(void *ctx, const struct alert__head *h) {
  struct heads *hs = ctx;
  if(hs->n == hs->cap) {
    size_t ncap = hs->cap ? hs->cap * 2 : 64;
    struct alert__head *nv = realloc(hs->v, ncap * sizeof *nv);
    if(!nv)
      return MW_ENOMEM;
    hs->v = nv;
    hs->cap = ncap;
  }
  hs->v[hs->n++] = *h;
  return MW_OK;
}

/* --------------------------------------------------------- recording */

mw_status alert__record_in(mw_conn *c, const char *claim_token,
                           const struct alert__result *r, size_t n) {
  assert(mw_tx_state(c) == 1);
  const struct alert__store *st = alert__store(c);
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i++) {
    int kept = 0;
    s = st->queue_attempt(c, claim_token, &r[i], &kept);
    if(!s && !kept)
      mw_log(MW_LOG_WARN, "delivery",
             "delivery %lld: claim lost before its result was recorded "
             "(another worker took it over)",
             (long long)r[i].id);
  }
  return s;
}

mw_status alert__record(mw_conn *c, const char *claim_token,
                        const struct alert__result *r, size_t n) {
  if(!n)
    return MW_OK;
  mw_status s = mw_tx_begin_rows(c);
  if(s)
    return s;
  s = alert__record_in(c, claim_token, r, n);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

/* ----------------------------------------------------------- claiming */

/* Decrypts the URL, secret and (email channel) password the store read
 * from j's target (core/secrets.h). A value that cannot be decrypted fails this delivery alone
 * (j->error, recorded as its attempt), not the claim. */
static mw_status open_job(mw_conn *c, struct alert__job *j) {
  static const struct {
    const char *type;
    enum mw_secret_col url, secret;
  } cols[] = {
      {"node", MW_SECRET_NODE_URL, MW_SECRET_NODE_SECRET},
      {"channel", MW_SECRET_CHANNEL_URL, MW_SECRET_CHANNEL_SECRET},
      {"subscription", MW_SECRET_SUBSCRIPTION_URL, MW_SECRET_SUBSCRIPTION_SECRET},
  };
  size_t k = 0;
  while(k < sizeof cols / sizeof cols[0] && strcmp(cols[k].type, j->target_type))
    k++;
  if(k == sizeof cols / sizeof cols[0] || !j->url || !j->secret) {
    mw_secret_free(j->url); /* no such target (any more) */
    mw_secret_free(j->secret);
    j->url = j->secret = NULL;
    return MW_OK;
  }
  char *url = NULL, *secret = NULL, *post = NULL;
  mw_err err = {0};
  mw_status s = mw_secret_get(c, cols[k].url, j->target_name, j->url, &url, &err);
  if(!s)
    s = mw_secret_get(c, cols[k].secret, j->target_name, j->secret, &secret, &err);
  char *password = NULL;
  if(!s && j->password && !strcmp(j->target_type, "channel"))
    s = mw_secret_get(c, MW_SECRET_CHANNEL_PASSWORD, j->target_name, j->password,
                      &password, &err);
  mw_secret_free(j->password); /* as stored; the plain one replaces it */
  j->password = password;
  if(!s && j->channel_type[0])
    s = alert__channel_post_url(j->channel_type, url, &post);
  mw_secret_free(j->url);
  mw_secret_free(j->secret);
  j->url = j->secret = NULL;
  if(s) {
    snprintf(j->error, sizeof j->error, "%.199s",
             err.msg[0] ? err.msg : mw_strerror(s));
    mw_secret_free(url);
    mw_secret_free(secret);
    mw_err_clear(&err);
    return s == MW_ENOMEM ? s : MW_OK;
  }
  if(post)
    mw_secret_free(url);
  j->url = post ? post : url;
  j->secret = secret;
  return MW_OK;
}

/* Inside the claim transaction: the heads, the pick, the claim. */
static mw_status claim_in(mw_conn *c, const char *claim_token, int64_t now,
                          int64_t lease_ms, int max, struct alert__job *jobs, int *n,
                          int64_t *next_due) {
  const struct alert__store *st = alert__store(c);
  struct heads hs = {NULL, 0, 0};
  int64_t *ids = calloc((size_t)max, sizeof *ids);
  int nids = 0;
  mw_status s = ids ? st->queue_heads(c, add_head, &hs) : MW_ENOMEM;
  if(!s) {
    alert__pick(hs.v, hs.n, now, max, ids, &nids, next_due);
    s = st->queue_claim(c, ids, nids, max, claim_token, now, now + lease_ms, jobs,
                        n);
  }
  for(int i = 0; i < *n && !s; i++)
    s = open_job(c, &jobs[i]);
  free(hs.v);
  free(ids);
  return s;
}

mw_status alert__claim(mw_conn *c, const char *claim_token, int64_t now,
                       int64_t lease_ms, const struct alert__result *done,
                       size_t ndone, int max, struct alert__job *jobs, int *n,
                       int64_t *next_due) {
  assert(claim_token && lease_ms > 0);
  *n = 0;
  *next_due = INT64_MAX;
  if(max < 0)
    max = 0;
  mw_status s = mw_tx_begin_rows(c);
  if(s)
    return s;
  s = alert__record_in(c, claim_token, done, ndone);
  if(!s && max)
    s = claim_in(c, claim_token, now, lease_ms, max, jobs, n, next_due);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(s) {
    for(int i = 0; i < *n; i++)
      alert__job_clear(&jobs[i]);
    *n = 0;
    *next_due = INT64_MAX;
  }
  return s;
}

mw_status alert__release(mw_conn *c, const char *claim_token, const int64_t *ids,
                         size_t n) {
  if(!n)
    return MW_OK;
  mw_status s = mw_tx_begin_rows(c);
  if(s)
    return s;
  for(size_t i = 0; i < n && !s; i++)
    s = alert__store(c)->queue_release(c, claim_token, ids[i]);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

/* ------------------------------------------------------ retry by hand */

/* The delivery as GET /api/v1/deliveries shows it: the page "below id+1"
 * of size one is exactly this row. */
static mw_status delivery_json(mw_conn *c, int64_t id, cJSON **out) {
  cJSON *page = NULL;
  mw_status s = mw_outbox_list(c, NULL, 1, id + 1, &page);
  if(!s) {
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(page, "deliveries");
    *out = cJSON_DetachItemFromArray(arr, 0);
    if(!*out)
      s = MW_EINTERNAL;
  }
  cJSON_Delete(page);
  return s;
}

mw_status alert_delivery_retry(mw_conn *c, int64_t id, const char *actor,
                               cJSON **out, mw_err *err) {
  *out = NULL;
  const struct alert__store *st = alert__store(c);
  char state[16] = "";
  mw_status s = mw_tx_begin(c);
  if(!s) {
    s = st->queue_state(c, id, state);
    if(s == MW_ENOTFOUND)
      mw_errf(err, s, "no delivery %lld", (long long)id);
  }
  if(!s && strcmp(state, "dead") && strcmp(state, "failed"))
    s = mw_errf(err, MW_ECONFLICT,
                "delivery %lld is %s; only dead or failed deliveries can be "
                "retried",
                (long long)id, state);
  /* A fresh budget: attempts and age count again from now. The lifetime
   * attempt counter keeps growing, so the log stays truthful. */
  if(!s)
    s = st->queue_requeue(c, id, mw_now_ms());
  if(!s) {
    char target[48];
    snprintf(target, sizeof target, "delivery:%lld", (long long)id);
    cJSON *det = cJSON_CreateObject();
    cJSON_AddStringToObject(det, "previous_state", state);
    s = mw_audit(c, actor, "delivery.retry", target, det);
    cJSON_Delete(det);
  }
  /* Read before COMMIT: read after it, a failure answered an error for a
   * retry that was queued. */
  if(!s)
    s = delivery_json(c, id, out);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
  return s;
}
