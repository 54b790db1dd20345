/* alerts/internal.h - what the files of alerts/ share with each other and
 * with their unit tests, fuzzers and benchmarks; not for other subsystems
 * (they use alerts/alerts.h). The database is behind alerts/store.h.
 *
 * Sections: the rule as the evaluator holds it and the pure decision of
 * one evaluation (alerts/decision.c); notification grouping
 * (alerts/notify.c); what a notification tells (alerts/story.c); the
 * mail of an email channel (alerts/email.c); regular expressions, label
 * matchers and silences (alerts/re2_shim.cc, alerts/matchers.c,
 * alerts/silences.c); the retry
 * policy (alerts/retry.c); text for chat services (alerts/payloads.c);
 * channels (alerts/channels.c); the delivery queue (alerts/queue.c). */
#ifndef MW_ALERTS_INTERNAL_H
#define MW_ALERTS_INTERNAL_H

#include "alerts/alerts.h"

/* ---- one evaluation (alerts/decision.c, pure) ---- */

/* A rule as the evaluator holds it while it computes: its definition and
 * the last_eval_at its evaluation builds on. Caller frees with
 * alert__rule_clear. */
struct alert__rule {
  int64_t id;
  char name[129], model[129];
  char alias[129]; /* "" when the rule watches a fixed version */
  int64_t version; /* the fixed version, or 0 with an alias */
  char metric[301], op[8], severity[33];
  double threshold;
  int64_t for_s, window_s, interval_s;
  int rollback;         /* the action is "rollback" */
  int64_t last_eval_at; /* when loaded; 0: never evaluated */
  char *labels;         /* JSON object text, malloc'd */
  char *annotations;    /* JSON object text, malloc'd */
  char *segment;        /* {"column": "value"} JSON text, malloc'd; NULL: none */
};
void alert__rule_clear(struct alert__rule *r);

/* The rule's evaluation state as stored (read inside the transaction that
 * applies an evaluation). */
struct alert__rule_state {
  char state[16];
  int64_t active_since;     /* 0: none */
  int64_t current_alert_id; /* 0: no open episode */
  int64_t last_eval_at;     /* 0: never */
};

/* The rule's evaluation state to store. */
struct alert__rule_eval {
  const char *state;        /* static */
  int64_t active_since;     /* < 0: none */
  int64_t current_alert_id; /* 0: none */
  int64_t last_eval_at;
  double last_value;      /* NAN: none */
  int64_t last_version;   /* <= 0: none */
  const char *last_error; /* NULL: none */
  int64_t next_eval_at;
};

/* What an evaluation computed outside the write transaction. */
struct alert__observation {
  struct alert_eval_basis seen; /* what the computation rested on */
  /* The version the metric is for; 0 when the alias was missing. */
  int64_t version;
  enum alert_cond cond;
  double value; /* meaningful when has_value */
  int has_value;
  const char *problem; /* why there is no value ("" or NULL: none) */
  int64_t now;
};

/* What happens to the rule's episode (alerts table). */
enum alert__episode_op {
  ALERT__EP_KEEP,    /* nothing */
  ALERT__EP_INSERT,  /* a new episode, pending or (for = 0) firing */
  ALERT__EP_FIRE,    /* the pending episode fires */
  ALERT__EP_RESOLVE, /* the firing episode resolves */
  ALERT__EP_DISCARD, /* the pending episode is forgotten */
  ALERT__EP_VALUE    /* the open episode's value is updated */
};

/* The decision of one evaluation: the event, and what to write. */
struct alert__decision {
  int stale; /* 1: superseded; write nothing at all */
  /* The version the rule watches, as read inside the transaction (0:
   * none). */
  int64_t version_now;
  enum alert_event event;
  struct alert_sm sm; /* the rule's state machine after the step */
  enum alert__episode_op op;
  int64_t episode_id; /* the episode op changes (not for INSERT) */
  /* For INSERT: the new episode's state, fingerprint, labels and
   * annotations; for FIRE: its new annotations (NULL otherwise). */
  const char *episode_state;
  char fingerprint[17];
  char *labels, *annotations; /* free with cJSON_free */
  int rollback;               /* run the rule's rollback action */
  /* The rule's state to store; current_alert_id is 0 here when op is
   * INSERT (the caller sets it to the new episode's id). */
  struct alert__rule_eval save;
};

/* Decides one evaluation of rule r: stored is the rule's state and
 * alias_version the version its alias points to (0: none), both as read
 * inside the write transaction; obs is what was computed before it. A
 * stale observation (alert_eval_current) yields stale = 1 and nothing to
 * write. No I/O. Caller frees out with alert__decision_clear (also on
 * failure). MW_ENOMEM. */
mw_status alert__decide(const struct alert__rule *r,
                        const struct alert__rule_state *stored,
                        int64_t alias_version, const struct alert__observation *obs,
                        struct alert__decision *out);
void alert__decision_clear(struct alert__decision *d);
/* "none", "pending", "fired", "resolved", "discarded". */
const char *alert__event_name(enum alert_event ev);

/* ---- notification groups (alerts/notify.c) ---- */

/* Sends the grouped notifications that are due at `now` (Alertmanager's
 * group wait, group interval and repeat interval), as outbox rows. */
void alert__notify_flush(mw_conn *c, const struct alert_env *env, int64_t now);

/* An Alertmanager channel's firing group is re-sent at least this often,
 * well within Alertmanager's default resolve_timeout (5 min), after which
 * it would take an alert nobody re-sent as resolved. */
#define ALERT__KEEPALIVE_MS 60000
/* Whether a group sent before (last_sent_at >= 0) in which an alert fires
 * (acknowledged or not) is due for its keep-alive at now. */
int alert__keepalive_due(int64_t now, int64_t last_sent_at, int any_firing);

/* Whether a group is due at now: never sent (last_sent_at < 0) after
 * group_wait from created_at; changed (its firing set or an unsent
 * resolved episode) after group_interval; else, while an unacknowledged
 * episode fires, after repeat_interval. */
int alert__group_due(const struct alert_env *env, int64_t now, int64_t created_at,
                     int64_t last_sent_at, int changed, int unacked_firing);

/* ---- what a notification tells (alerts/story.c, pure) ---- */

/* Room for one line of action text. */
#define ALERT__ACTION_TEXT 600

/* One episode of a notification group, as the flush read it. labels and
 * annotations are owned by whoever filled it (notify.c frees them). */
struct alert__member {
  int64_t id;
  int firing;     /* else resolved, not yet told to this channel */
  int acked;      /* acknowledged (no repeats) */
  int told_fired; /* the channel was told that it fires */
  cJSON *labels, *annotations;
  char rule[129], model[129], alias[129], metric[301], op[8], severity[33];
  char fingerprint[17];
  int64_t version;                  /* the version that fired */
  int64_t started, fired, resolved; /* ms; 0: not yet */
  double value;                     /* the latest value */
  double threshold;
  double fired_value;              /* NAN: unknown (value stands in) */
  double resolved_value;           /* NAN: none */
  int64_t resolved_version;        /* 0: unknown */
  char action[ALERT__ACTION_TEXT]; /* alert__action_text; "": none ran */
};

/* One line telling what a rule's action did, from the JSON text the
 * evaluator stored on the episode ({action, alias, status, result | code,
 * message}): "rolled production back v2 -> v1", "did not roll production
 * back: refused, not approved - <why>", "... nothing older to roll back
 * to - <why>", "... error - <why>". "" when json is NULL or says no
 * action. Cut to cap bytes (cap > 0), possibly inside a UTF-8 character:
 * the payload builders replace what is invalid. */
void alert__action_text(const char *json, char *out, size_t cap);

/* What a group of members tells, into out[0..2n) (strings borrowed from m
 * and dash; dash is the dashboard link): first a firing notice for each
 * member that fires, and for each resolved member the channel was never
 * told fired (resolved_since_ms set: it fired and resolved before the
 * group was sent); then a resolved notice for each resolved member. Each
 * carries the value its episode fired with, the action text, and a
 * resolved one its resolved value and version. Returns the count. */
size_t alert__group_notices(const struct alert__member *m, size_t n,
                            const char *dash, struct alert_notice *out);

/* Copies in[0..n) to out (distinct, n entries): firing notices first,
 * then resolved ones, each in their order (a stable partition). Every
 * payload is built from alerts so ordered. */
void alert__notices_order(const struct alert_notice *in, size_t n,
                          struct alert_notice *out);

/* ---- regular expressions (alerts/re2_shim.cc, C++ over RE2) ---- */

/* A compiled RE2 expression. Matching one from several threads at once is
 * safe (RE2 objects are const after compilation). */
typedef struct alert__re alert__re;

/* What a pattern may cost. */
struct alert__re_limits {
  size_t max_len;  /* bytes of the pattern */
  int64_t max_mem; /* RE2's budget: program plus its DFA caches, bytes */
  int max_program; /* instructions of the compiled program */
};

/* Compiles pattern (RE2 syntax, which is Alertmanager's) within lim. On
 * success *out is the expression, the caller frees it with
 * alert__re_free. MW_EVALIDATION when the pattern is invalid or past a
 * limit: err's message then completes "matchers[i].value ..." (e.g. "is
 * not a valid regular expression: missing ): (a"). MW_ENOMEM. */
mw_status alert__re_compile(const char *pattern, const struct alert__re_limits *lim,
                            alert__re **out, mw_err *err);
/* 1 when re matches the whole of text[0..len) (anchored at both ends, as
 * Alertmanager's "^(?:value)$"), else 0. Linear in len times the program
 * size at worst. */
int alert__re_full_match(const alert__re *re, const char *text, size_t len);
/* Instructions in re's program (0 for NULL). */
int alert__re_program_size(const alert__re *re);
/* NULL is fine. */
void alert__re_free(alert__re *re);

/* ---- label matchers (alerts/matchers.c) ---- */

/* The limits matchers' regular expressions are compiled with. */
extern const struct alert__re_limits alert__matcher_limits;
/* Distinct compiled patterns kept (least recently used dropped first). */
#define ALERT__RX_CACHE_MAX 128

/* A silence's matchers, checked and with their regular expressions
 * compiled (through a process-wide cache: each distinct pattern is
 * compiled once and shared by every thread). Immutable once built, so it
 * may be matched from several threads. */
struct alert__matchers;

/* Checks a JSON matcher array as the API takes it ([{name, value,
 * is_regex?}], 1-32 of them, names of 1-128 bytes, values of at most
 * 1024) and compiles its regular expressions. MW_EVALIDATION with err
 * naming the matcher ("matchers[2].value is not a valid regular
 * expression: ...", details {index, field}); MW_ENOMEM. Caller frees *out
 * with alert__matchers_free. */
mw_status alert__matchers_compile(const cJSON *arr, struct alert__matchers **out,
                                  mw_err *err);
/* 1 when every matcher matches labels (an object of strings; a missing
 * label is the empty string, as in Alertmanager). */
int alert__matchers_eval(const struct alert__matchers *m, const cJSON *labels);
/* NULL is fine. */
void alert__matchers_free(struct alert__matchers *m);

/* Counters of the compiled-expression cache, for tests and benchmarks. */
struct alert__rx_stats {
  uint64_t compiles; /* patterns compiled (misses) */
  uint64_t hits;     /* lookups answered from the cache */
  size_t entries;    /* patterns cached now */
};
void alert__rx_stats(struct alert__rx_stats *out);

/* ---- silences (alerts/silences.c) ---- */

/* The silences active at one time, loaded once and matched against many
 * alerts (GET /api/v1/alerts, a notification flush). */
struct alert__silence_set {
  struct alert__matchers **s;
  size_t n;
};

/* Loads the silences active at now into *out (emptied first). A stored
 * silence whose matchers no longer compile never matches (and is logged).
 * Caller clears *out with alert__silences_clear, also on failure. */
mw_status alert__silences_load(mw_conn *c, int64_t now,
                               struct alert__silence_set *out);
/* 1 when a silence of set matches labels. */
int alert__silences_match(const struct alert__silence_set *set, const cJSON *labels);
void alert__silences_clear(struct alert__silence_set *set);

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
enum alert__outcome alert__classify(long http_status, int curl_code, int refused);

/* Classifies an attempt of an email channel (SMTP): smtp_code is the last
 * reply code the server sent (CURLINFO_RESPONSE_CODE; 0: none), curl_code
 * the transfer's CURLcode, refused as for alert__classify. 2xx with no
 * error is delivered; a 4xx reply is transient (retry), a 5xx reply
 * permanent (dead: a refused recipient, sender or login); an error with
 * no reply - the connection, TLS, a timeout - is retried, except a URL
 * curl cannot speak. */
enum alert__outcome alert__classify_smtp(long smtp_code, int curl_code, int refused);

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
  const char *state;       /* "delivered", "failed" or "dead" (static) */
  int64_t next_attempt_at; /* ms; unchanged meaning for delivered/dead */
  char why[160];           /* why dead, when dead by budget; else "" */
};

/* Plans the next step for a message whose attempt (number cycle_attempts
 * of its current budget, counting this one) ended with `outcome`;
 * retry_after_ms < 0 when the receiver sent none. */
void alert__plan_next(const struct alert_delivery_opts *o,
                      enum alert__outcome outcome, int cycle_attempts,
                      int64_t cycle_started_at, int64_t now, int64_t retry_after_ms,
                      uint64_t rnd, struct alert__plan *out);

/* ---- text for chat services (alerts/payloads.c) ---- */

/* Appends s to out cut to at most max_units UTF-16 code units (how chat
 * services count characters; never less strict than code points), ending
 * with "…" when cut; invalid UTF-8 bytes become U+FFFD so the result is
 * always valid UTF-8. */
mw_status alert__utf8_append(mw_buf *out, const char *s, size_t max_units);
/* Length of s in UTF-16 code units (invalid bytes count one each). */
size_t alert__utf16_len(const char *s);

/* ---- email (alerts/email.c, pure) ---- */

/* 1 when addr is an address an email channel may name: local@domain, an
 * ASCII local part of 1-64 bytes of RFC 5322 atext and single dots, a
 * domain of letters, digits, '-' and dots, at most 254 bytes in all (no
 * display name, no quoting, no comments). */
int alert__email_address_valid(const char *addr);

/* Appends to out the message an email channel sends for payload {from,
 * to: [...], subject, text} (what alert_payload_build("email") wrote,
 * with the channel's sender and recipients): RFC 5322 headers From, To,
 * Subject (RFC 2047 when not ASCII), Date (now_ms), Message-ID
 * (<msg_id@the sender's domain>), MIME-Version, Content-Type text/plain
 * charset utf-8, Content-Transfer-Encoding quoted-printable,
 * Auto-Submitted; then the text, quoted-printable, with CRLF line ends.
 * MW_EINVAL when the payload is not such an object (an address invalid,
 * no recipient) or msg_id is not made of atext; MW_ENOMEM. */
mw_status alert__email_compose(const cJSON *payload, const char *msg_id,
                               int64_t now_ms, mw_buf *out);

/* ---- channels (alerts/channels.c) ---- */

/* alert_channel_enqueue with the outbox kind chosen ("alert",
 * "alert.test"). */
mw_status alert__channel_enqueue_kind(mw_conn *c, const char *channel,
                                      const char *kind,
                                      const struct alert_group_notice *g,
                                      int64_t *out_id, mw_err *err);
/* Where a channel of type with URL url (plain) is POSTed: the URL itself,
 * or an Alertmanager's alerts API under it. Caller frees *out. */
mw_status alert__channel_post_url(const char *type, const char *url, char **out);

/* ---- the delivery queue (alerts/queue.c) ---- */

/* One claimed message, owned by the worker until its result is recorded. */
struct alert__job {
  int64_t id;
  char msg_id[64];
  char kind[64];
  char target_type[16];
  char target_name[136];
  /* The target's URL and signing secret, read from its row when claimed
   * (the outbox keeps neither): as stored (encrypted) when the store
   * fills the job, in plain text once alert__claim has opened them.
   * malloc'd; NULL when the target no longer exists. */
  char *url;
  char *secret;
  char channel_type[16]; /* a channel's type; "" for other targets */
  char error[200];       /* "" or why url and secret cannot be used */
  char *payload;         /* malloc'd, the exact body to send and sign */
  size_t payload_len;
  char *username;     /* malloc'd; a channel's login (email), else NULL */
  char *password;     /* malloc'd secret, in plain text once claimed; NULL:
                         none */
  int cycle_attempts; /* attempts already made in the current budget */
  int64_t cycle_started_at;
};

/* Frees the job's strings (the secret and password are wiped first); safe
 * on a zeroed job and twice. */
void alert__job_clear(struct alert__job *j);

/* The outcome of one attempt, as recorded. */
struct alert__result {
  int64_t id;
  int64_t at;       /* when the attempt started, ms */
  long status_code; /* 0: no HTTP answer */
  int64_t latency_ms;
  const char *error; /* NULL on success; never holds secrets */
  const char *state; /* "delivered" | "failed" | "dead" */
  int64_t next_attempt_at;
};

/* The head of one target's queue: its oldest pending or failed row. Which
 * heads to claim (alert__pick, pure): of the n heads, those due at now (next_attempt_at <= now)
 * and under no live lease (claim_until <= now) are candidates, oldest due
 * first (then by id); at most max of them go to ids[0..*nids). *next_due
 * receives when a head not claimable now becomes claimable (its retry time
 * or lease end; INT64_MAX if none); heads due now but left for lack of
 * room do not count (the worker looks again when a slot frees). Sorts
 * heads in place. */
struct alert__head {
  int64_t id;
  int64_t next_attempt_at;
  int64_t claim_until; /* 0: not claimed */
};
void alert__pick(struct alert__head *heads, size_t n, int64_t now, int max,
                 int64_t *ids, int *nids, int64_t *next_due);

/* Records results: per result a delivery_attempts row and the outbox row's
 * attempts, state, next_attempt_at, last_status, last_error, delivered_at,
 * releasing the claim. The outbox row is only updated while it still
 * carries claim_token (a worker whose lease ran out and was overtaken
 * records its attempt but leaves the state alone). Inside the caller's
 * write transaction. */
mw_status alert__record_in(mw_conn *c, const char *claim_token,
                           const struct alert__result *r, size_t n);
/* alert__record_in in a transaction of its own. */
mw_status alert__record(mw_conn *c, const char *claim_token,
                        const struct alert__result *r, size_t n);

/* In one transaction: records `done` (as alert__record_in), then claims
 * up to max messages and fills jobs[0..*n) (caller clears each with
 * alert__job_clear). Each target's queue is strictly first in, first out:
 * only its head - the oldest row still pending or failed - is ever
 * claimed, when it is due and not claimed by a live lease; so a target
 * gets its messages one at a time, in order, and a slow or failing target
 * holds one slot, not all. A claim is (claim_token, now + lease_ms); a row
 * is claimed by one worker in any process or replica (SQLite: one writer
 * at a time; PostgreSQL: row locks, SKIP LOCKED). *next_due as
 * alert__pick's. */
mw_status alert__claim(mw_conn *c, const char *claim_token, int64_t now,
                       int64_t lease_ms, const struct alert__result *done,
                       size_t ndone, int max, struct alert__job *jobs, int *n,
                       int64_t *next_due);

/* Releases the claims of ids (abandoned at shutdown) so they run again at
 * once. */
mw_status alert__release(mw_conn *c, const char *claim_token, const int64_t *ids,
                         size_t n);

#endif
