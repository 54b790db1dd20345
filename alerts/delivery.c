/* alerts/delivery.c - the delivery worker: one thread that claims due
 * outbox rows and POSTs them with libcurl's multi interface, several at a
 * time, each signed per Standard Webhooks - or, for an email channel
 * (smtp:// or smtps://), sends them as a mail over SMTP, another easy
 * handle of the same multi - then records every attempt and plans the
 * next one (alerts/retry.c).
 *
 * Why one thread with curl multi rather than a thread per transfer: the
 * transfers are I/O-bound, one database connection carries the claims and
 * results anyway, and stopping is a single wake-up.
 *
 * New rows are noticed without help from their writers, through the
 * database's data version (mw_db_data_version), which moves when another
 * connection - thread, process or replica - commits queued work; only then
 * does the worker ask the queue for due rows. On SQLite it is read every
 * 10 ms (a PRAGMA, no I/O). On PostgreSQL it counts the NOTIFYs that every
 * queued row's transaction sends: an idle worker sleeps on the
 * connection's socket (mw_db_wait) and wakes when one arrives, and a busy
 * one sees them between transfers without a round trip.
 * alert_delivery_kick() wakes it at once (an idle worker on PostgreSQL at
 * the end of its nap, at most IDLE_NAP_MS). */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alerts/store.h"

#define POLL_MS 10
/* Longest an idle worker sleeps on PostgreSQL's socket before it looks at
 * its stop and kick flags (a NOTIFY ends the nap at once). */
#define IDLE_NAP_MS 100
/* Longest a stopping worker waits for transfers in flight. */
#define STOP_GRACE_MS 1000
/* The largest mail composed (quoted-printable of a payload's text). */
#define MAIL_MAX (4u << 20)
/* Response bytes kept for the error text of a failed attempt. */
#define RESP_KEEP 512
/* A claim outlives the longest transfer by this much. */
#define LEASE_MARGIN_MS 5000
/* Retention: a pass about once a minute (the first soon after start), in
 * steps of at most this many rows, one transaction each, so the write
 * lock is never held for long; steps of a pass are a poll apart. */
#define PURGE_PERIOD_MS 60000
#define PURGE_FIRST_MS 1000
#define PURGE_BATCH 1000

struct xfer {
  struct alert_delivery *d;
  CURL *easy;
  int busy;
  struct alert__job job;
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  char resp[RESP_KEEP + 1];
  size_t resp_len;
  int64_t retry_after_ms; /* -1: none */
  int refused;
  char refused_why[200];
  int64_t started_ms;
  int64_t started_ns;
  /* An email channel's mail (smtp): the message, how much curl read, the
   * envelope. */
  int smtp;
  mw_buf mail;
  size_t mail_off;
  char mail_from[300];
  struct curl_slist *rcpt;
};

struct alert_delivery {
  mw_db *db;
  struct alert_delivery_opts o;
  pthread_t thread;
  CURLM *multi;
  atomic_int stop;
  atomic_int kicked;
  char claim_token[40];
  int64_t lease_ms;
  struct xfer *slots;
  int inflight;
  char user_agent[64];
  /* Retention (worker thread only, but the counters are read by /metrics). */
  int64_t purge_at;     /* wall ms of the next step */
  int64_t purge_cursor; /* where the pass continues; 0: a new pass */
  int64_t purge_pass;   /* rows removed by the pass so far */
  _Atomic uint64_t purged_delivered;
  _Atomic uint64_t purged_dead;
};

void alert_delivery_opts_from_config(const mw_config *cfg,
                                     struct alert_delivery_opts *o) {
  memset(o, 0, sizeof *o);
  o->concurrency = cfg->delivery_workers > 0 ? cfg->delivery_workers : 8;
  if(o->concurrency > 64)
    o->concurrency = 64;
  o->max_attempts = cfg->delivery_max_attempts > 0 ? cfg->delivery_max_attempts : 8;
  o->max_age_ms = (cfg->delivery_max_age_seconds > 0 ? cfg->delivery_max_age_seconds
                                                     : 3 * 86400) *
                  1000LL;
  o->connect_timeout_ms = 5000;
  o->timeout_ms = cfg->delivery_timeout_ms > 0 ? cfg->delivery_timeout_ms : 15000;
  if(o->connect_timeout_ms > o->timeout_ms)
    o->connect_timeout_ms = o->timeout_ms;
  o->allow_private = cfg->allow_private_webhooks;
  o->retention_ms = cfg->delivery_retention_days > 0
                        ? (int64_t)cfg->delivery_retention_days * 86400000LL
                        : 0;
}

/* ------------------------------------------------------- curl callbacks */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  struct xfer *x = ud;
  size_t len = size * n;
  size_t room = RESP_KEEP - x->resp_len;
  size_t k = len < room ? len : room;
  memcpy(x->resp + x->resp_len, p, k);
  x->resp_len += k;
  x->resp[x->resp_len] = 0;
  return len; /* the rest is read and dropped */
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  struct xfer *x = ud;
  size_t len = size * n;
  alert__header_line(p, len, mw_now_ms(), &x->retry_after_ms);
  return len;
}

/* Called by curl for every address it is about to connect to - after DNS,
 * so a name that resolves (or is rebound) to a forbidden address is caught
 * on the address actually used. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose,
                                    struct curl_sockaddr *a) {
  struct xfer *x = ud;
  (void)purpose;
  const char *why = "";
  enum mw_addr_class cls = mw_addr_classify(&a->addr, (socklen_t)a->addrlen, &why);
  if(cls == MW_ADDR_FORBIDDEN ||
     (cls == MW_ADDR_PRIVATE && !x->d->o.allow_private)) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if(a->family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, ip, sizeof ip);
    else if(a->family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, ip,
                sizeof ip);
    x->refused = 1;
    snprintf(x->refused_why, sizeof x->refused_why,
             "refused by egress policy: the URL resolves to %s, %s%s", ip, why,
             cls == MW_ADDR_PRIVATE ? " (allowed only with --allow-private-webhooks)"
                                    : "");
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ------------------------------------------------------------ transfers */

static uint64_t rnd64(void) {
  uint64_t r = 0;
  if(mw_random_bytes(&r, sizeof r))
    r = (uint64_t)mw_mono_ns() * 6364136223846793005ULL;
  return r;
}

/* Error text for a result: never the URL (its path or query may hold a
 * chat service's credential), never the secret. */
static void describe(const struct xfer *x, CURLcode cc, long code, char *out,
                     size_t cap) {
  if(x->refused) {
    mw_strlcpy(out, x->refused_why, cap);
  } else if(x->smtp && (cc != CURLE_OK || code < 200 || code > 299)) {
    /* curl's message names the step that failed ("RCPT failed: 550"). */
    const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
    if(code >= 400)
      snprintf(out, cap, "SMTP %ld: %.200s", code, why);
    else if(cc != CURLE_OK)
      snprintf(out, cap, "mail not sent: %.200s", why);
    else
      snprintf(out, cap, "SMTP %ld: unexpected reply", code);
  } else if(cc != CURLE_OK) {
    snprintf(out, cap, "network error: %.200s",
             x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
  } else if(code < 200 || code > 299) {
    /* A short, printable excerpt of the answer helps whoever debugs it. */
    char ex[161];
    size_t k = 0;
    for(size_t i = 0; i < x->resp_len && k < sizeof ex - 1; i++) {
      unsigned char ch = (unsigned char)x->resp[i];
      ex[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
    }
    ex[k] = 0;
    if(code >= 300 && code < 400)
      snprintf(out, cap, "HTTP %ld: redirects are not followed%s%s", code,
               k ? ": " : "", ex);
    else
      snprintf(out, cap, "HTTP %ld%s%s", code, k ? ": " : "", ex);
  } else {
    out[0] = 0;
  }
}

/* The options every transfer shares: where (never through a proxy: the
 * egress check judges the address we connect to, through a proxy that
 * would be the proxy's), how long, and the egress check itself. */
static void common_opts(struct alert_delivery *d, struct xfer *x) {
  CURL *e = x->easy;
  curl_easy_reset(e);
  curl_easy_setopt(e, CURLOPT_URL, x->job.url);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, d->o.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, d->o.timeout_ms);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
}

/* A signed POST of the job's payload. */
static int setup_webhook(struct alert_delivery *d, struct xfer *x, char *err,
                         size_t cap) {
  struct alert__job *j = &x->job;
  char sig[64], hdr[160];
  int64_t ts = x->started_ms / 1000;
  if(mw_webhook_sign(j->secret, j->msg_id, ts, j->payload, j->payload_len, sig)) {
    snprintf(err, cap, "cannot sign: the %s's secret is malformed", j->target_type);
    return 1;
  }
  struct curl_slist *h = NULL, *t;
#define ADD_HEADER(text)              \
  do {                                \
    t = curl_slist_append(h, (text)); \
    if(!t)                            \
      goto nomem;                     \
    h = t;                            \
  } while(0)
  ADD_HEADER("Content-Type: application/json");
  /* curl would wait up to a second for "100 Continue" on larger bodies. */
  ADD_HEADER("Expect:");
  snprintf(hdr, sizeof hdr, "webhook-id: %s", j->msg_id);
  ADD_HEADER(hdr);
  snprintf(hdr, sizeof hdr, "webhook-timestamp: %lld", (long long)ts);
  ADD_HEADER(hdr);
  snprintf(hdr, sizeof hdr, "webhook-signature: %s", sig);
  ADD_HEADER(hdr);
#undef ADD_HEADER
  x->headers = h;
  CURL *e = x->easy;
  common_opts(d, x);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->payload);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->payload_len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, d->user_agent);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  return 0;
nomem:
  curl_slist_free_all(h);
  snprintf(err, cap, "internal error: out of memory");
  return 1;
}

/* Hands curl the composed mail, a piece at a time. */
static size_t on_read_mail(char *buf, size_t size, size_t n, void *ud) {
  struct xfer *x = ud;
  size_t left = x->mail.len - x->mail_off, room = size * n;
  size_t k = left < room ? left : room;
  if(k)
    memcpy(buf, x->mail.data + x->mail_off, k);
  x->mail_off += k;
  return k;
}

/* Composes the mail of an email channel (alerts/email.c) and its
 * envelope: MAIL FROM the sender, RCPT TO each recipient. */
static int compose_mail(struct xfer *x, char *err, size_t cap) {
  struct alert__job *j = &x->job;
  cJSON *p = cJSON_ParseWithLength(j->payload, j->payload_len);
  mw_buf_init(&x->mail, MAIL_MAX);
  x->mail_off = 0;
  mw_status s =
      p ? alert__email_compose(p, j->msg_id, x->started_ms, &x->mail) : MW_EINVAL;
  /* Composing checked every address. */
  const cJSON *it;
  const cJSON *to = s ? NULL : cJSON_GetObjectItemCaseSensitive(p, "to");
  cJSON_ArrayForEach(it, to) {
    char rcpt[300];
    snprintf(rcpt, sizeof rcpt, "<%s>", it->valuestring);
    struct curl_slist *t = curl_slist_append(x->rcpt, rcpt);
    if(!t) {
      s = MW_ENOMEM;
      break;
    }
    x->rcpt = t;
  }
  if(!s)
    snprintf(x->mail_from, sizeof x->mail_from, "<%s>", mw_json_str(p, "from"));
  cJSON_Delete(p);
  if(s)
    snprintf(err, cap, "%s",
             s == MW_ENOMEM ? "internal error: out of memory"
                            : "cannot compose the mail: the payload is not an "
                              "email channel's {from, to, subject, text}");
  return s != MW_OK;
}

/* The mail over SMTP: STARTTLS when the server offers it (smtp://), TLS
 * from the start (smtps://). A channel that logs in never sends its
 * password in clear: over smtp:// it requires STARTTLS. */
static int setup_mail(struct alert_delivery *d, struct xfer *x, char *err,
                      size_t cap) {
  struct alert__job *j = &x->job;
  if(compose_mail(x, err, cap))
    return 1;
  CURL *e = x->easy;
  common_opts(d, x);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if(!strncmp(j->url, "smtp://", 7))
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     (long)(j->password ? CURLUSESSL_ALL : CURLUSESSL_TRY));
  if(j->username && j->password) {
    curl_easy_setopt(e, CURLOPT_USERNAME, j->username);
    curl_easy_setopt(e, CURLOPT_PASSWORD, j->password);
  }
  curl_easy_setopt(e, CURLOPT_MAIL_FROM, x->mail_from);
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read_mail);
  curl_easy_setopt(e, CURLOPT_READDATA, x);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->mail.len);
  return 0;
}

/* Prepares and adds the transfer of x->job: a webhook, or a mail when the
 * target's URL is smtp:// or smtps:// (an email channel). On failure fills
 * err and returns non-zero (the caller records a dead attempt). */
static int start_xfer(struct alert_delivery *d, struct xfer *x, char *err,
                      size_t cap) {
  struct alert__job *j = &x->job;
  assert(!x->busy && j->id > 0);
  x->errbuf[0] = 0;
  x->resp_len = 0;
  x->resp[0] = 0;
  x->retry_after_ms = -1;
  x->refused = 0;
  x->refused_why[0] = 0;
  x->started_ms = mw_now_ms();
  x->started_ns = mw_mono_ns();
  if(j->error[0]) {
    snprintf(err, cap, "cannot send: %s", j->error);
    return 1;
  }
  if(!j->secret || !j->url) {
    snprintf(err, cap, "%s '%s' no longer exists", j->target_type, j->target_name);
    return 1;
  }
  x->smtp = !strncmp(j->url, "smtp://", 7) || !strncmp(j->url, "smtps://", 8);
  if(x->smtp ? setup_mail(d, x, err, cap) : setup_webhook(d, x, err, cap))
    return 1;
  if(curl_multi_add_handle(d->multi, x->easy) != CURLM_OK) {
    snprintf(err, cap, "internal error: cannot start the transfer");
    return 1;
  }
  x->busy = 1;
  d->inflight++;
  return 0;
}

/* Releases x after its transfer (or its failed start). */
static void finish_xfer(struct alert_delivery *d, struct xfer *x) {
  if(x->busy) {
    curl_multi_remove_handle(d->multi, x->easy);
    x->busy = 0;
    d->inflight--;
  }
  curl_slist_free_all(x->headers);
  x->headers = NULL;
  curl_slist_free_all(x->rcpt);
  x->rcpt = NULL;
  mw_buf_free(&x->mail);
  x->mail_off = 0;
  alert__job_clear(&x->job);
}

/* Results waiting to be recorded; they go into the database together with
 * the next claim, one transaction (one commit) per turn of the loop. */
#define BATCH_MAX 128
struct batch {
  struct alert__result r[BATCH_MAX];
  char err[BATCH_MAX][256];
  size_t n;
};

/* Plans the next step for job j and appends the result to b. */
static void add_result(struct alert_delivery *d, mw_conn *c, struct batch *b,
                       const struct alert__job *j, int64_t at, long code,
                       int64_t latency_ms, enum alert__outcome oc,
                       int64_t retry_after_ms, const char *error) {
  if(b->n == BATCH_MAX) {
    /* Cannot happen while each turn records what the last one produced;
     * if the database keeps failing, the oldest results are dropped and
     * their rows sent again when the claims expire. */
    if(alert__record(c, d->claim_token, b->r, b->n))
      mw_log(MW_LOG_ERROR, "delivery", "dropping %zu unrecorded attempt(s)", b->n);
    b->n = 0;
  }
  struct alert__plan plan;
  alert__plan_next(&d->o, oc, j->cycle_attempts + 1, j->cycle_started_at,
                   mw_now_ms(), retry_after_ms, rnd64(), &plan);
  assert(b->n < BATCH_MAX);
  size_t i = b->n++;
  struct alert__result *r = &b->r[i];
  memset(r, 0, sizeof *r);
  r->id = j->id;
  r->at = at;
  r->status_code = code;
  r->latency_ms = latency_ms;
  r->state = plan.state;
  r->next_attempt_at = plan.next_attempt_at;
  if(error && *error) {
    if(plan.why[0])
      snprintf(b->err[i], sizeof b->err[i], "%.90s; %s", error, plan.why);
    else
      mw_strlcpy(b->err[i], error, sizeof b->err[i]);
    r->error = b->err[i];
  }
  if(!strcmp(plan.state, "dead"))
    mw_log(MW_LOG_WARN, "delivery", "%s %s to %s '%s' is dead: %s", j->kind,
           j->msg_id, j->target_type, j->target_name, r->error ? r->error : "");
  else
    mw_log(MW_LOG_DEBUG, "delivery", "%s %s to %s '%s': %s (HTTP %ld, %lld ms)",
           j->kind, j->msg_id, j->target_type, j->target_name, plan.state, code,
           (long long)latency_ms);
}

/* One turn: records b and, when claim is set, claims rows for the free
 * slots and starts them - all in one transaction. Returns non-zero when
 * the database failed (b is kept for the next turn). */
static int turn(struct alert_delivery *d, mw_conn *c, struct batch *b, int claim,
                int64_t now, int64_t *next_due) {
  int free_slots = claim ? d->o.concurrency - d->inflight : 0;
  /* Never more in flight than slots, and a claim fits in jobs[]. */
  assert(free_slots >= 0 && free_slots <= 64);
  struct alert__job jobs[64];
  int n = 0;
  int64_t nd = INT64_MAX;
  mw_status s = alert__claim(c, d->claim_token, now, d->lease_ms, b->r, b->n,
                             free_slots, jobs, &n, &nd);
  if(s) {
    mw_log(MW_LOG_WARN, "delivery", "cannot record or claim deliveries: %s",
           mw_strerror(s));
    return 1;
  }
  b->n = 0;
  if(claim)
    *next_due = nd;
  for(int i = 0; i < n; i++) {
    /* A lease of ours that ran out while its transfer still runs (a stalled
     * database) comes back: keep the transfer already going. */
    int dup = 0;
    struct xfer *x = NULL;
    for(int k = 0; k < d->o.concurrency; k++) {
      if(d->slots[k].busy && d->slots[k].job.id == jobs[i].id)
        dup = 1;
      else if(!d->slots[k].busy && !x)
        x = &d->slots[k];
    }
    if(dup || !x) {
      alert__job_clear(&jobs[i]);
      continue;
    }
    x->job = jobs[i];
    memset(&jobs[i], 0, sizeof jobs[i]);
    char err[256];
    if(start_xfer(d, x, err, sizeof err)) {
      add_result(d, c, b, &x->job, x->started_ms, 0, 0, ALERT__PERMANENT, -1, err);
      finish_xfer(d, x);
    }
  }
  return 0;
}

/* Collects finished transfers into b. Returns how many finished. */
static int collect(struct alert_delivery *d, mw_conn *c, struct batch *b) {
  int done = 0, left;
  CURLMsg *m;
  while((m = curl_multi_info_read(d->multi, &left))) {
    if(m->msg != CURLMSG_DONE)
      continue;
    struct xfer *x = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    if(!x)
      continue;
    CURLcode cc = m->data.result;
    long code = 0;
    /* A mail server's reply matters most when the transfer failed. */
    if(cc == CURLE_OK || x->smtp)
      curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    int64_t latency = (mw_mono_ns() - x->started_ns) / 1000000;
    enum alert__outcome oc = x->smtp ? alert__classify_smtp(code, cc, x->refused)
                                     : alert__classify(code, cc, x->refused);
    char err[256];
    describe(x, cc, code, err, sizeof err);
    add_result(d, c, b, &x->job, x->started_ms, code, latency, oc,
               oc == ALERT__RETRY ? x->retry_after_ms : -1, err);
    finish_xfer(d, x);
    done++;
  }
  return done;
}

/* Stopping: abandoned transfers give their rows back at once. */
static void abandon_all(struct alert_delivery *d, mw_conn *c) {
  int64_t ids[64];
  size_t n = 0;
  for(int k = 0; k < d->o.concurrency; k++) {
    struct xfer *x = &d->slots[k];
    if(!x->busy)
      continue;
    if(n < sizeof ids / sizeof ids[0])
      ids[n++] = x->job.id;
    finish_xfer(d, x);
  }
  if(n) {
    mw_log(MW_LOG_INFO, "delivery",
           "abandoning %zu transfer(s) in flight; they "
           "run again after restart",
           n);
    if(c && alert__release(c, d->claim_token, ids, n))
      mw_log(MW_LOG_WARN, "delivery", "cannot release claims; they expire in %lld s",
             (long long)(d->lease_ms / 1000));
  }
}

static mw_conn *open_conn(struct alert_delivery *d) {
  mw_conn *c = mw_db_conn(d->db);
  /* This connection writes only claims and attempt results: see
   * worker_conn_tune in alerts/store.h. */
  if(c && alert__store(c)->worker_conn_tune(c))
    mw_log(MW_LOG_WARN, "delivery",
           "cannot tune the worker's connection; its commits will wait for the "
           "disk");
  return c;
}

/* One retention step: removes up to PURGE_BATCH finished rows older than
 * the retention and plans the next step (at once while the pass goes on,
 * in a minute when it is done or the database failed). */
static void purge_step(struct alert_delivery *d, mw_conn *c, int64_t now) {
  int64_t nd = 0, nx = 0;
  mw_status s = mw_outbox_purge_step(c, now - d->o.retention_ms, PURGE_BATCH,
                                     &d->purge_cursor, &nd, &nx);
  if(s) {
    mw_log(MW_LOG_WARN, "delivery", "retention step failed (%s); retrying later",
           mw_strerror(s));
    d->purge_cursor = 0;
    d->purge_pass = 0;
    d->purge_at = now + PURGE_PERIOD_MS;
    return;
  }
  atomic_fetch_add(&d->purged_delivered, (uint64_t)nd);
  atomic_fetch_add(&d->purged_dead, (uint64_t)nx);
  d->purge_pass += nd + nx;
  if(d->purge_cursor)
    return; /* more to look at: the next turn of the loop goes on */
  if(d->purge_pass)
    mw_log(MW_LOG_INFO, "delivery",
           "retention removed %lld delivered or dead webhook(s) older than %lld "
           "day(s)",
           (long long)d->purge_pass, (long long)(d->o.retention_ms / 86400000LL));
  d->purge_pass = 0;
  d->purge_at = now + PURGE_PERIOD_MS;
}

/* The worker loop's own state. */
struct loop {
  struct batch *b;
  mw_conn *c;
  int64_t next_due;      /* when a head becomes claimable (ms) */
  int64_t last_dv;       /* the data version last seen */
  int64_t stop_deadline; /* monotonic ms: in-flight transfers abandoned */
  int64_t hold_until;    /* the database failed: no turn before this */
  int need_scan;         /* the queue may have work for free slots */
};

/* Whether there may be new work: another connection committed queued
 * work (the data version moved), a kick, or a retry time or a lease end
 * came. */
static void notice_work(struct alert_delivery *d, struct loop *l, int64_t now) {
  int64_t dv;
  if(!mw_db_data_version(l->c, &dv) && dv != l->last_dv) {
    l->last_dv = dv;
    l->need_scan = 1;
  }
  if(atomic_exchange(&d->kicked, 0) || now >= l->next_due)
    l->need_scan = 1;
}

/* Sleeps until something may have changed: a transfer progressed, a kick,
 * POLL_MS (the data version is looked at again), or the next due time. On
 * PostgreSQL an idle worker sleeps on the database connection instead,
 * which a NOTIFY of newly queued work ends at once. */
static void wait_for_work(struct alert_delivery *d, struct loop *l, int stopping) {
  int64_t now = mw_now_ms();
  int64_t wait = POLL_MS;
  if(!stopping && l->next_due - now < wait)
    wait = l->next_due > now ? l->next_due - now : 0;
  if(l->b->n || (l->need_scan && !stopping && d->inflight < d->o.concurrency))
    wait = 0;
  if(l->hold_until > now && wait < l->hold_until - now)
    wait = l->hold_until - now < POLL_MS ? l->hold_until - now : POLL_MS;
  int idle = !stopping && !d->inflight && !l->b->n && l->hold_until <= now;
  if(wait > 0 && idle && mw_conn_kind(l->c) == MW_DB_POSTGRES) {
    int64_t nap = l->next_due - now < IDLE_NAP_MS ? l->next_due - now : IDLE_NAP_MS;
    if(!mw_db_wait(l->c, (int)(nap > 0 ? nap : 0)))
      return;
  }
  curl_multi_poll(d->multi, NULL, 0, (int)wait, NULL);
}

static void *worker_main(void *arg) {
  struct alert_delivery *d = arg;
  struct loop l = {calloc(1, sizeof *l.b), NULL, 0, -1, 0, 0, 1};
  if(!l.b) {
    mw_log(MW_LOG_ERROR, "delivery", "out of memory; worker not running");
    return NULL;
  }
  for(;;) {
    int stopping = atomic_load(&d->stop);
    if(stopping) {
      if(!l.stop_deadline)
        l.stop_deadline = mw_mono_ns() / 1000000 + STOP_GRACE_MS;
      if(!d->inflight || mw_mono_ns() / 1000000 >= l.stop_deadline)
        break;
    }
    if(!l.c && !(l.c = open_conn(d))) {
      /* Logged by mw_db_conn; try again shortly. */
      curl_multi_poll(d->multi, NULL, 0, 1000, NULL);
      continue;
    }
    int64_t now = mw_now_ms();
    if(!stopping)
      notice_work(d, &l, now);
    int claim = !stopping && l.need_scan && d->inflight < d->o.concurrency;
    if((claim || l.b->n) && now >= l.hold_until) {
      if(turn(d, l.c, l.b, claim, now, &l.next_due))
        l.hold_until = now + 1000; /* the database is unwell: back off */
      else if(claim)
        l.need_scan = 0;
    }
    if(!stopping && d->o.retention_ms > 0 && now >= d->purge_at &&
       now >= l.hold_until)
      purge_step(d, l.c, now);
    int running = 0;
    curl_multi_perform(d->multi, &running);
    if(collect(d, l.c, l.b))
      l.need_scan = 1; /* slots and targets are free again */
    wait_for_work(d, &l, stopping);
  }
  abandon_all(d, l.c);
  if(l.c && l.b->n && alert__record(l.c, d->claim_token, l.b->r, l.b->n))
    mw_log(MW_LOG_WARN, "delivery", "could not record %zu attempt(s) at shutdown",
           l.b->n);
  free(l.b);
  return NULL;
}

mw_status alert_delivery_start(mw_db *db, const struct alert_delivery_opts *opts,
                               alert_delivery **out) {
  *out = NULL;
  struct alert_delivery *d = calloc(1, sizeof *d);
  if(!d)
    return MW_ENOMEM;
  d->db = db;
  d->o = *opts;
  if(d->o.concurrency < 1)
    d->o.concurrency = 1;
  if(d->o.concurrency > 64)
    d->o.concurrency = 64;
  if(d->o.max_attempts < 1)
    d->o.max_attempts = 1;
  d->lease_ms = d->o.timeout_ms + LEASE_MARGIN_MS;
  atomic_init(&d->stop, 0);
  atomic_init(&d->kicked, 0);
  atomic_init(&d->purged_delivered, 0);
  atomic_init(&d->purged_dead, 0);
  d->purge_at = mw_now_ms() + PURGE_FIRST_MS;
  snprintf(d->user_agent, sizeof d->user_agent, "modelwatch/%s", MW_VERSION);
  /* The claim token names this worker; random so that two processes (or a
   * restarted one) never share it. */
  char rnd[25];
  if(mw_random_token(rnd, 24)) {
    free(d);
    return MW_EINTERNAL;
  }
  snprintf(d->claim_token, sizeof d->claim_token, "w_%s", rnd);
  d->multi = curl_multi_init();
  d->slots = calloc((size_t)d->o.concurrency, sizeof *d->slots);
  if(!d->multi || !d->slots)
    goto fail;
  for(int i = 0; i < d->o.concurrency; i++) {
    d->slots[i].d = d;
    d->slots[i].easy = curl_easy_init();
    if(!d->slots[i].easy)
      goto fail;
  }
  if(pthread_create(&d->thread, NULL, worker_main, d) != 0)
    goto fail;
  mw_log(MW_LOG_INFO, "delivery",
         "worker started: %d concurrent transfer(s), %d attempts, max age %lld s, "
         "timeout %ld ms, finished rows kept %lld s%s%s",
         d->o.concurrency, d->o.max_attempts, (long long)(d->o.max_age_ms / 1000),
         d->o.timeout_ms, (long long)(d->o.retention_ms / 1000),
         d->o.retention_ms > 0 ? "" : " (forever)",
         d->o.allow_private ? ", private addresses allowed" : "");
  *out = d;
  return MW_OK;
fail:
  if(d->slots)
    for(int i = 0; i < d->o.concurrency; i++)
      if(d->slots[i].easy)
        curl_easy_cleanup(d->slots[i].easy);
  free(d->slots);
  if(d->multi)
    curl_multi_cleanup(d->multi);
  free(d);
  return MW_EINTERNAL;
}

void alert_delivery_kick(alert_delivery *d) {
  if(!d)
    return;
  atomic_store(&d->kicked, 1);
  curl_multi_wakeup(d->multi);
}

void alert_delivery_stop(alert_delivery *d) {
  if(!d)
    return;
  atomic_store(&d->stop, 1);
  curl_multi_wakeup(d->multi);
  pthread_join(d->thread, NULL);
  for(int i = 0; i < d->o.concurrency; i++)
    curl_easy_cleanup(d->slots[i].easy);
  free(d->slots);
  curl_multi_cleanup(d->multi);
  free(d);
  mw_log(MW_LOG_INFO, "delivery", "worker stopped");
}

mw_status alert_delivery_metrics_render(alert_delivery *d, mw_conn *c, mw_buf *out) {
  /* The purge counters first: they grow after the purge commits, so the
   * counts read next already miss what they count (read the other way
   * round, a scrape could count a purged row twice: gone from the total,
   * still in its state - seen once by integration_pg.test_delivery). */
  uint64_t pd = d ? atomic_load(&d->purged_delivered) : 0;
  uint64_t px = d ? atomic_load(&d->purged_dead) : 0;
  mw_outbox_depth q;
  mw_status st = mw_outbox_stats(c, &q);
  if(st)
    return st;
  double age = 0;
  if(q.oldest_queued_ms >= 0) {
    int64_t ms = mw_now_ms() - q.oldest_queued_ms;
    age = ms > 0 ? (double)ms / 1000.0 : 0;
  }
  return mw_buf_printf(
      out,
      "# HELP modelwatch_outbox_messages Webhooks in the outbox by delivery "
      "state (failed: waiting for a retry).\n"
      "# TYPE modelwatch_outbox_messages gauge\n"
      "modelwatch_outbox_messages{state=\"pending\"} %lld\n"
      "modelwatch_outbox_messages{state=\"failed\"} %lld\n"
      "modelwatch_outbox_messages{state=\"delivered\"} %lld\n"
      "modelwatch_outbox_messages{state=\"dead\"} %lld\n"
      "# HELP modelwatch_outbox_oldest_pending_age_seconds Age of the oldest "
      "webhook not yet delivered or dead (pending or failed), since it was "
      "queued or re-queued by hand; 0 when there is none.\n"
      "# TYPE modelwatch_outbox_oldest_pending_age_seconds gauge\n"
      "modelwatch_outbox_oldest_pending_age_seconds %.3f\n"
      "# HELP modelwatch_outbox_purged_total Delivered and dead webhooks "
      "removed with their attempts by --delivery-retention-days since the "
      "process started.\n"
      "# TYPE modelwatch_outbox_purged_total counter\n"
      "modelwatch_outbox_purged_total{state=\"delivered\"} %llu\n"
      "modelwatch_outbox_purged_total{state=\"dead\"} %llu\n",
      (long long)q.pending, (long long)q.failed, (long long)q.delivered,
      (long long)q.dead, age, (unsigned long long)pd, (unsigned long long)px);
}
