/* alerts/store.h - the store interface of alerts/: what the rules, the
 * evaluator, the notification groups, silences, channels and the delivery
 * queue keep in the database, in their own terms. Internal to alerts/.
 *
 * Implementations: alerts/store_sqlite.c and alerts/store_pg.c, picked by
 * alert__store() from the connection's backend (alerts/store.c). Every
 * rule that decides something - validation, the state machine, whether an
 * evaluation is stale, when a group is due, which queue heads are claimed,
 * the retry policy, JSON - lives above this interface and is written once.
 *
 * Conventions: those of core/store.h. Every operation takes the calling
 * thread's connection and runs in the caller's transaction when there is
 * one; writes need one (the caller opens it with mw_tx_begin and commits,
 * so several operations commit together). A row handed to a callback is
 * borrowed for the duration of the call; a callback's non-zero status
 * stops the walk and is returned; a callback runs no store operation
 * itself (on SQLite the statement feeding it is still stepping).
 * MW_ENOTFOUND when the thing looked for is absent, MW_ECONFLICT when a
 * uniqueness rule refused a write; no message is set.
 *
 * Operations (cost: one statement each unless said otherwise):
 *   rules     rule_insert, rule_add_channel, rule_get, rule_list,
 *             rule_channels, rule_delete, rules_due, rule_state, rule_save
 *   episodes  episode_insert, episode_fire, episode_resolve,
 *             episode_discard, episode_value, episode_action,
 *             episode_list, episode_ack
 *   groups    notify_pairs, notify_members, group_touch, group_get,
 *             group_sent, group_forget, resolved_sent, fired_sent
 *   silences  silence_insert, silence_list, silence_expire, silences_active
 *   channels  channel_insert, channel_get, channel_list, channel_delete,
 *             channel_rules, channel_detach
 *   queue     queue_heads (one statement on PostgreSQL, two index seeks
 *             per target on SQLite), queue_claim (one statement on
 *             PostgreSQL, one or two per row on SQLite), queue_attempt
 *             (two), queue_release, queue_state, queue_requeue,
 *             worker_conn_tune */
#ifndef MW_ALERTS_STORE_H
#define MW_ALERTS_STORE_H

#include "alerts/internal.h"

/* ---- rules ---- */

/* A new rule (strings borrowed). */
struct alert__rule_new {
  const char *name, *model;
  const char *alias; /* NULL: the rule watches version */
  int64_t version;   /* > 0 with no alias */
  const char *metric, *op;
  double threshold;
  int64_t for_s, window_s, interval_s;
  const char *severity, *labels, *annotations; /* JSON objects as text */
  const char *action;                          /* NULL or "rollback" */
  int64_t created_at;
  const char *created_by;
  int64_t next_eval_at;
  const char *segment; /* {"column": "value"} as JSON text; NULL: none */
};

/* A rule as stored, with its evaluation state (strings borrowed). */
struct alert__rule_row {
  int64_t id;
  const char *name, *model;
  const char *alias; /* NULL: a fixed version */
  int64_t version;   /* the fixed version; 0 with an alias */
  const char *metric, *op;
  double threshold;
  int64_t for_s, window_s, interval_s;
  const char *severity, *labels, *annotations;
  const char *action; /* NULL or "rollback" */
  int64_t created_at;
  const char *created_by;
  const char *state;
  int64_t active_since;   /* -1: none */
  int64_t last_eval_at;   /* -1: never evaluated */
  double last_value;      /* NAN: none */
  int64_t last_version;   /* -1: none */
  const char *last_error; /* NULL: none */
  int64_t next_eval_at;
  const char *segment; /* {"column": "value"} as JSON text; NULL: none */
};

typedef mw_status (*alert__rule_fn)(void *ctx, const struct alert__rule_row *r);
typedef mw_status (*alert__link_fn)(void *ctx, int64_t rule_id, const char *name);

/* ---- episodes ---- */

/* A new episode (strings borrowed). */
struct alert__episode_new {
  int64_t rule_id;
  const char *fingerprint, *state, *labels, *annotations;
  int64_t version;
  double value; /* also the value it fired with when fired_at >= 0 */
  double threshold;
  int64_t started_at;
  int64_t fired_at; /* < 0: not fired */
};

/* An episode as GET /api/v1/alerts lists it (strings borrowed). */
struct alert__episode_row {
  int64_t id;
  const char *rule, *state, *labels, *annotations, *model, *metric, *op;
  int64_t version; /* 0 when unknown */
  double value;    /* the latest value */
  double threshold;
  double fired_value;       /* NAN: not fired */
  double resolved_value;    /* NAN: not resolved (or no data then) */
  int64_t resolved_version; /* 0: not resolved, or unknown */
  int64_t started_at;
  int64_t fired_at, resolved_at, acked_at; /* -1: not yet */
  const char *acked_by;                    /* NULL: not acknowledged */
  const char *fingerprint;
  const char *action_result; /* JSON text; NULL: no action ran */
};

/* An episode a notification group holds (strings borrowed). */
struct alert__member_row {
  int64_t id;
  int firing; /* else resolved, not yet told to this channel */
  int acked;
  int told_fired; /* the channel was told that it fires (fired_sent) */
  const char *labels, *annotations;
  int64_t version;
  double value; /* the latest value */
  double threshold;
  double fired_value;                        /* NAN: unknown (fired before 0018) */
  double resolved_value;                     /* NAN: not resolved, or no data then */
  int64_t resolved_version;                  /* 0: not resolved, or unknown */
  int64_t started_at, fired_at, resolved_at; /* 0: not yet */
  const char *fingerprint, *rule, *model, *alias /* "" */, *metric, *op, *severity;
  const char *action_result; /* JSON text; NULL: no action ran */
};

/* A notification group's timers. */
struct alert__group_row {
  int64_t created_at;
  int64_t last_sent_at; /* -1: never sent */
  char digest[65];      /* "" when never sent */
};

/* ---- silences, channels ---- */

struct alert__silence_row {
  int64_t id;
  const char *matchers; /* JSON array text */
  int64_t starts_at, ends_at;
  const char *comment, *created_by;
};

/* A new channel (strings borrowed). */
struct alert__channel_new {
  const char *name, *type, *url;
  const char *secret;              /* signing secret */
  const char *settings;            /* JSON object text of the type's settings (email:
                           {to, from}); NULL: none */
  const char *username, *password; /* NULL: none; password is a secret */
  int64_t created_at;
};

/* A channel as the API shows it (strings borrowed): never its secret or
 * password. */
struct alert__channel_row {
  const char *name, *type, *url;
  int64_t created_at;
  const char *settings; /* NULL: none */
  const char *username; /* NULL: none */
};

struct alert__store {
  /* ---- rules ---- */
  /* Inserts a rule in the inactive state; *id receives its id.
   * MW_ECONFLICT when the name is taken. */
  mw_status (*rule_insert)(mw_conn *c, const struct alert__rule_new *r, int64_t *id);
  /* Appends channel at position pos of rule_id's channel list. */
  mw_status (*rule_add_channel)(mw_conn *c, int64_t rule_id, int pos,
                                const char *channel);
  mw_status (*rule_get)(mw_conn *c, const char *name, alert__rule_fn fn, void *ctx);
  /* Every rule, by name. */
  mw_status (*rule_list)(mw_conn *c, alert__rule_fn fn, void *ctx);
  /* The channel lists of rule_id (every rule when rule_id <= 0): fn(ctx,
   * rule id, channel) by rule id, each list in its order. */
  mw_status (*rule_channels)(mw_conn *c, int64_t rule_id, alert__link_fn fn,
                             void *ctx);
  /* Deletes a rule with its episodes and channel list. */
  mw_status (*rule_delete)(mw_conn *c, const char *name);
  /* Names of the rules due at now (next_eval_at <= now), the most overdue
   * first, at most max. */
  mw_status (*rules_due)(mw_conn *c, int64_t now, int max,
                         mw_status (*fn)(void *ctx, const char *name), void *ctx);
  /* The evaluation state of rule id as it stands (read it inside the
   * write transaction that will change it). */
  mw_status (*rule_state)(mw_conn *c, int64_t id, struct alert__rule_state *out);
  /* Writes the evaluation state of rule id. */
  mw_status (*rule_save)(mw_conn *c, int64_t id, const struct alert__rule_eval *w);

  /* ---- episodes ---- */
  mw_status (*episode_insert)(mw_conn *c, const struct alert__episode_new *e,
                              int64_t *id);
  /* A pending episode fires at now with value (its value and the value
   * it fired with) and new annotations. */
  mw_status (*episode_fire)(mw_conn *c, int64_t id, int64_t now, double value,
                            const char *annotations);
  /* A firing episode resolves at now with value (NAN: none), measured on
   * version (<= 0: unknown): its value and its resolved value. */
  mw_status (*episode_resolve)(mw_conn *c, int64_t id, int64_t now, double value,
                               int64_t version);
  /* Deletes episode id if it is still pending. */
  mw_status (*episode_discard)(mw_conn *c, int64_t id);
  mw_status (*episode_value)(mw_conn *c, int64_t id, double value);
  /* Records what the rule's action did (JSON text). */
  mw_status (*episode_action)(mw_conn *c, int64_t id, const char *result);
  /* Episodes newest first, in state when not NULL, at most limit. */
  mw_status (*episode_list)(mw_conn *c, const char *state, int limit,
                            mw_status (*fn)(void *ctx,
                                            const struct alert__episode_row *e),
                            void *ctx);
  /* Acknowledges episode id unless it is resolved; MW_ENOTFOUND when there
   * is no such pending or firing episode. */
  mw_status (*episode_ack)(mw_conn *c, int64_t id, int64_t now, const char *actor);

  /* ---- notification groups (channel, group key = model) ---- */
  /* Every (channel, model) with something to say - a firing episode, or a
   * resolved one the channel was not told about - and every group with a
   * row, ordered, at most limit. */
  mw_status (*notify_pairs)(mw_conn *c, int limit,
                            mw_status (*fn)(void *ctx, const char *channel,
                                            const char *group_key),
                            void *ctx);
  /* The episodes of rules of model that notify channel: firing ones and
   * resolved ones (that fired) channel was not told about; by id, at most
   * limit. Each says whether channel was told that it fires. */
  mw_status (*notify_members)(
      mw_conn *c, const char *channel, const char *model, int limit,
      mw_status (*fn)(void *ctx, const struct alert__member_row *m), void *ctx);
  /* Creates the group row (created at now) unless it exists. */
  mw_status (*group_touch)(mw_conn *c, const char *channel, const char *key,
                           int64_t now);
  mw_status (*group_get)(mw_conn *c, const char *channel, const char *key,
                         struct alert__group_row *out);
  mw_status (*group_sent)(mw_conn *c, const char *channel, const char *key,
                          int64_t now, const char *digest);
  mw_status (*group_forget)(mw_conn *c, const char *channel, const char *key);
  /* Notes that channel was told episode alert_id resolved (idempotent). */
  mw_status (*resolved_sent)(mw_conn *c, int64_t alert_id, const char *channel);
  /* Notes that channel was told episode alert_id fires (idempotent). */
  mw_status (*fired_sent)(mw_conn *c, int64_t alert_id, const char *channel);

  /* ---- silences ---- */
  mw_status (*silence_insert)(mw_conn *c, const char *matchers, int64_t starts_at,
                              int64_t ends_at, const char *comment,
                              const char *actor, int64_t now, int64_t *id);
  /* Silences not expired at now first, then newest first; at most limit. */
  mw_status (*silence_list)(mw_conn *c, int64_t now, int limit,
                            mw_status (*fn)(void *ctx,
                                            const struct alert__silence_row *s),
                            void *ctx);
  /* Ends silence id at now; MW_ENOTFOUND unless it was still running. */
  mw_status (*silence_expire)(mw_conn *c, int64_t id, int64_t now);
  /* The silences active at now: fn(ctx, id, matchers JSON text). */
  mw_status (*silences_active)(mw_conn *c, int64_t now,
                               mw_status (*fn)(void *ctx, int64_t id,
                                               const char *matchers),
                               void *ctx);

  /* ---- channels ---- */
  /* MW_ECONFLICT when the name is taken. */
  mw_status (*channel_insert)(mw_conn *c, const struct alert__channel_new *ch);
  mw_status (*channel_get)(mw_conn *c, const char *name,
                           mw_status (*fn)(void *ctx,
                                           const struct alert__channel_row *ch),
                           void *ctx);
  /* Every channel, by name. */
  mw_status (*channel_list)(mw_conn *c,
                            mw_status (*fn)(void *ctx,
                                            const struct alert__channel_row *ch),
                            void *ctx);
  mw_status (*channel_delete)(mw_conn *c, const char *name);
  /* The rules whose channel list names channel, by rule name. */
  mw_status (*channel_rules)(mw_conn *c, const char *channel, alert__link_fn fn,
                             void *ctx);
  /* Takes channel out of every rule's channel list. */
  mw_status (*channel_detach)(mw_conn *c, const char *channel);

  /* ---- the delivery queue (outbox rows) ---- */
  /* The head of every target's queue (any order). */
  mw_status (*queue_heads)(mw_conn *c,
                           mw_status (*fn)(void *ctx, const struct alert__head *h),
                           void *ctx);
  /* Claims for claim_token until `until` up to max of ids[0..n) - those
   * still pending or failed, due at now and under no live lease - oldest
   * due first, and fills jobs[0..*njobs) with them and their target's URL,
   * signing secret (both as stored: encrypted; NULL when the target no
   * longer exists), channel type and, for a channel, the username and
   * password it logs in with (the password as stored). A row another
   * transaction is claiming at the same moment is skipped (PostgreSQL:
   * SKIP LOCKED), never waited for. On failure the jobs filled so far are
   * cleared and *njobs is 0. */
  mw_status (*queue_claim)(mw_conn *c, const int64_t *ids, int n, int max,
                           const char *claim_token, int64_t now, int64_t until,
                           struct alert__job *jobs, int *njobs);
  /* Records one attempt: a delivery_attempts row while the message exists,
   * and the message's new state, attempts, times and last answer, releasing
   * the claim, if it still carries claim_token. *kept receives 0 when it no
   * longer did (the lease ran out and another worker took it over). */
  mw_status (*queue_attempt)(mw_conn *c, const char *claim_token,
                             const struct alert__result *r, int *kept);
  /* Releases claim_token's claim on id; the workers of other processes
   * learn of it (mw_db_data_version moves when the caller commits). */
  mw_status (*queue_release)(mw_conn *c, const char *claim_token, int64_t id);
  /* The state of message id (16 bytes). */
  mw_status (*queue_state)(mw_conn *c, int64_t id, char state[16]);
  /* Makes message id pending at now with a fresh attempt budget; the
   * workers learn of it as of a queued row (mw_db_data_version). */
  mw_status (*queue_requeue)(mw_conn *c, int64_t id, int64_t now);
  /* Readies the delivery worker's own connection: its writes are claims
   * and attempt results, which may be lost in a power cut (the webhook is
   * then sent again, as at-least-once allows) but must not wait long. */
  mw_status (*worker_conn_tune)(mw_conn *c);
};

extern const struct alert__store alert__store_sqlite;
extern const struct alert__store alert__store_pg;

/* The implementation for c's backend. */
const struct alert__store *alert__store(mw_conn *c);

#endif
