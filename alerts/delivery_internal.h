/* alerts/delivery_internal.h - what the delivery files of alerts/ share
 * with each other and with tests/unit/test_delivery.c: the retry policy,
 * UTF-8 truncation and the outbox store calls of the worker. Not for
 * other subsystems (they use alerts/alerts.h). */
#ifndef MW_ALERTS_DELIVERY_INTERNAL_H
#define MW_ALERTS_DELIVERY_INTERNAL_H

#include "alerts/alerts.h"

/* ---- retry policy (alerts/retry.c) ---- */

/* What one attempt's result means for the message. */
enum alert__outcome {
  ALERT__DELIVERED, /* 2xx */
  ALERT__RETRY,     /* network error, 5xx, 408, 429 */
  ALERT__PERMANENT  /* other 4xx, 3xx (redirects are not followed), refused */
};

/* Classifies an attempt: http_status is 0 when no response arrived,
 * curl_code is the transfer's CURLcode, refused is non-zero when the
 * egress policy blocked the address. */
enum alert__outcome alert__classify(long http_status, int curl_code,
                                    int refused);

/* Standard Webhooks' schedule: the delay before attempt n+1 after n failed
 * attempts (n >= 1): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then 10 h. */
int64_t alert__backoff_base_ms(int failed_attempts);
/* The jittered delay: uniform in [min(1 s, base), base] from rnd ("full
 * jitter", floored at one second so a failing receiver is never hammered). */
int64_t alert__backoff_ms(int failed_attempts, uint64_t rnd);

/* Parses a Retry-After value: delay-seconds ("120") or an HTTP-date
 * (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 or asctime form),
 * surrounding blanks allowed. *delay_ms receives the delay from now_ms
 * (0 when the date has passed; at most 30 days). MW_EINVAL for anything
 * else. */
mw_status alert__retry_after_parse(const char *value, int64_t now_ms,
                                   int64_t *delay_ms);

/* Reads one response header line as curl hands it over (len bytes, not
 * NUL-terminated, CRLF included): a status line forgets an earlier
 * Retry-After (*retry_after_ms = -1: a new header set starts), a valid
 * Retry-After sets *retry_after_ms to its delay from now_ms, anything else
 * leaves it alone. */
void alert__header_line(const char *p, size_t len, int64_t now_ms,
                        int64_t *retry_after_ms);

/* What to do after an attempt. */
struct alert__plan {
  const char *state;        /* "delivered", "failed" or "dead" (static) */
  int64_t next_attempt_at;  /* ms; unchanged meaning for delivered/dead */
  char why[160];            /* why dead, when dead by budget; else "" */
};

/* Plans the next step for a message whose attempt (number cycle_attempts
 * of its current budget, counting this one) ended with `outcome`;
 * retry_after_ms < 0 when the receiver sent none. */
void alert__plan_next(const struct alert_delivery_opts *o,
                      enum alert__outcome outcome, int cycle_attempts,
                      int64_t cycle_started_at, int64_t now,
                      int64_t retry_after_ms, uint64_t rnd,
                      struct alert__plan *out);

/* ---- text (alerts/channels.c) ---- */

/* Appends s to out cut to at most max_units UTF-16 code units (how chat
 * services count characters; never less strict than code points), ending
 * with "…" when cut; invalid UTF-8 bytes become U+FFFD so the result is
 * always valid UTF-8. */
mw_status alert__utf8_append(mw_buf *out, const char *s, size_t max_units);
/* Length of s in UTF-16 code units (invalid bytes count one each). */
size_t alert__utf16_len(const char *s);

/* ---- channels (alerts/channel_store.c) ---- */

/* alert_channel_enqueue with the outbox kind chosen ("alert",
 * "alert.test"). */
mw_status alert__channel_enqueue_kind(mw_conn *c, const char *channel,
                                      const char *kind,
                                      const struct alert_group_notice *g,
                                      int64_t *out_id, mw_err *err);

/* ---- the worker's outbox calls (alerts/delivery_store.c) ---- */

/* One claimed message, owned by the worker until its result is recorded. */
struct alert__job {
  int64_t id;
  char msg_id[64];
  char kind[64];
  char target_type[16];
  char target_name[136];
  char *url;            /* malloc'd */
  char *payload;        /* malloc'd, the exact body to send and sign */
  size_t payload_len;
  char *secret;         /* malloc'd; NULL when the target no longer exists */
  int cycle_attempts;   /* attempts already made in the current budget */
  int64_t cycle_started_at;
};

/* Frees the job's strings (the secret is wiped first); safe on a zeroed
 * job and twice. */
void alert__job_clear(struct alert__job *j);

/* The outcome of one attempt, as recorded. */
struct alert__result {
  int64_t id;
  int64_t at;            /* when the attempt started, ms */
  long status_code;      /* 0: no HTTP answer */
  int64_t latency_ms;
  const char *error;     /* NULL on success; never holds secrets */
  const char *state;     /* "delivered" | "failed" | "dead" */
  int64_t next_attempt_at;
};

/* Records results in one transaction: per result a delivery_attempts row
 * and the outbox row's attempts, state, next_attempt_at, last_status,
 * last_error, delivered_at, releasing the claim. The outbox row is only
 * updated while it still carries claim_token (a worker whose lease ran out
 * and was overtaken records its attempt but leaves the state alone). */
mw_status alert__record(mw_conn *c, const char *claim_token,
                        const struct alert__result *r, size_t n);

/* In one IMMEDIATE transaction: records `done` (as alert__record), then
 * claims up to max messages and fills jobs[0..*n) (caller clears each with
 * alert__job_clear). Each target's queue is strictly first in, first out:
 * only its head - the oldest row still pending or failed - is ever
 * claimed, when it is due (next_attempt_at <= now) and not claimed by a
 * live lease; so a target gets its messages one at a time, in order, and
 * a slow or failing target holds one slot, not all. A claim is
 * (claim_token, now + lease_ms); one writer at a time means concurrent
 * workers in any process never claim one row twice. *next_due receives
 * when a head not claimable now becomes claimable (retry time or lease
 * end; INT64_MAX if none); heads due now but left for lack of slots do not
 * count (the worker looks again when a slot frees). */
mw_status alert__claim(mw_conn *c, const char *claim_token, int64_t now,
                       int64_t lease_ms, const struct alert__result *done,
                       size_t ndone, int max, struct alert__job *jobs, int *n,
                       int64_t *next_due);

/* Releases the claims of ids (abandoned at shutdown) so they run again at
 * once. */
mw_status alert__release(mw_conn *c, const char *claim_token,
                         const int64_t *ids, size_t n);

/* PRAGMA data_version of c: changes when another connection commits. */
mw_status alert__data_version(mw_conn *c, int64_t *out);

#endif
