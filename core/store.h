/* core/store.h - the store interface of core: tokens, sessions, the audit
 * log and the outbox, in core's own terms. Rules (token format, hashing,
 * session lifetime, JSON) live in core/auth.c and core/outbox.c above it;
 * core/store_sqlite.c implements it on SQLite. Internal to core.
 *
 * Conventions shared by every store interface of modelwatch:
 *  - every operation takes the calling thread's connection and runs inside
 *    the caller's transaction when there is one (writes need one: the
 *    callers open it with mw_tx_begin, so several operations commit
 *    together);
 *  - strings handed to a callback are borrowed for the duration of the
 *    call; out-structs with fixed arrays are filled in place;
 *  - MW_ENOTFOUND when the thing looked for is absent, MW_ECONFLICT when a
 *    uniqueness rule refused a write; no message is set (err is the
 *    business layer's job). */
#ifndef MW_CORE_STORE_H
#define MW_CORE_STORE_H

#include "core/audit.h"
#include "core/auth.h"
#include "core/outbox.h"
#include "core/secrets.h"

/* A token as stored: its secret only as a digest. */
struct mw_token_row {
  int64_t id;
  const char *name;
  unsigned scopes;
  int64_t created_at;
  const char *created_by;
  const char *models; /* one per line; NULL: every model */
};

/* A row of the audit log (details: JSON text or NULL). */
struct mw_audit_row {
  int64_t id, at;
  const char *actor, *action, *target, *details;
};

/* An event subscription (its secret stays in the store). events and
 * models are JSON arrays of patterns; models NULL: every model. */
struct mw_subscription_row {
  int64_t id;
  const char *name, *url, *events, *models;
  int64_t created_at;
  const char *created_by;
};

/* An outbox row as the delivery list shows it (strings borrowed). */
struct mw_outbox_row {
  int64_t id;
  const char *msg_id, *kind, *target_type, *target_name, *url, *payload;
  const char *state;
  int attempts;
  int64_t next_attempt_at, created_at;
  int64_t delivered_at;   /* -1: not delivered */
  long last_status;       /* -1: no HTTP answer yet */
  const char *last_error; /* NULL: none */
};

/* One recorded delivery attempt. */
struct mw_attempt_row {
  int64_t at;
  long status; /* -1: no HTTP answer */
  int64_t latency_ms;
  const char *error; /* NULL on success */
};

/* A row the outbox retention looks at: its state and final time (when it
 * was delivered, or its last attempt when dead; -1 when unknown). */
struct mw_outbox_age {
  int64_t id, created_at, final_at;
  char state[16];
};

/* A stored credential as the passes of core/secrets_db.c read it:
 * copies, freed by mw__secret_rows_free. */
struct mw_secret_row {
  int64_t id;
  char *name;  /* the row's name (in the outbox: its msg_id) */
  char *value; /* what the column holds */
};

/* The columns those passes walk: every credential (enum mw_secret_col),
 * then the outbox's url, which keeps no credential (scheme, host, port). */
#define MW__COL_OUTBOX_URL MW_SECRET_COLS
#define MW__COLS (MW_SECRET_COLS + 1)

/* Frees rows[0..n) of a secret_page. */
void mw__secret_rows_free(struct mw_secret_row *rows, int n);

/* A replica as listed (strings borrowed). */
struct mw_replica_row {
  const char *id, *listen;
  int64_t started_at, last_seen;
  int leader;
};

struct mw_core_store {
  /* ---- tokens ---- */
  /* models: the patterns one per line, NULL for every model. */
  mw_status (*token_insert)(mw_conn *c, const char *name, const char *prefix,
                            const char *hash, unsigned scopes, const char *models,
                            int64_t now, const char *actor);
  /* The token whose prefix is prefix, with its stored digest (hash[65]). */
  mw_status (*token_by_prefix)(mw_conn *c, const char *prefix, mw_token_info *info,
                               char hash[65]);
  mw_status (*token_delete)(mw_conn *c, const char *name);
  /* Every token by name; stops at fn's first non-zero status. */
  mw_status (*token_list)(mw_conn *c,
                          mw_status (*fn)(void *ctx, const struct mw_token_row *t),
                          void *ctx);
  mw_status (*token_count)(mw_conn *c, int64_t *out);

  /* ---- sessions (keyed by the digest of the cookie) ---- */
  mw_status (*session_insert)(mw_conn *c, const char *hash, int64_t token_id,
                              const char *csrf, int64_t now, int64_t expires_at);
  /* Deletes sessions that expired at or before now. */
  mw_status (*session_purge)(mw_conn *c, int64_t now);
  /* The live session's token and CSRF token (csrf[64]). */
  mw_status (*session_get)(mw_conn *c, const char *hash, int64_t now,
                           mw_token_info *info, char csrf[64]);
  mw_status (*session_delete)(mw_conn *c, const char *hash);

  /* ---- audit ---- */
  mw_status (*audit_insert)(mw_conn *c, int64_t at, const char *actor,
                            const char *action, const char *target,
                            const char *details_json);
  /* The rows q asks for (q->before > 0), newest first, at most limit.
   * O(limit) unfiltered (by id); a filter scans back until limit rows
   * match, from q->to_ms on by the index on at. */
  mw_status (*audit_list)(mw_conn *c, const mw_audit_query *q, int limit,
                          mw_status (*fn)(void *ctx, const struct mw_audit_row *a),
                          void *ctx);

  /* ---- event subscriptions ---- */
  /* MW_ECONFLICT when the name is taken. */
  mw_status (*subscription_insert)(mw_conn *c, const struct mw_subscription_row *s,
                                   const char *secret);
  /* Every subscription by name (name NULL), or the one named name
   * (MW_ENOTFOUND when absent). O(subscriptions). */
  mw_status (*subscription_list)(
      mw_conn *c, const char *name,
      mw_status (*fn)(void *ctx, const struct mw_subscription_row *s), void *ctx);
  /* MW_ENOTFOUND when absent. */
  mw_status (*subscription_delete)(mw_conn *c, const char *name);

  /* ---- outbox ---- */
  mw_status (*outbox_insert)(mw_conn *c, const char *msg_id, const char *kind,
                             const char *target_type, const char *target_name,
                             const char *url, const char *payload, int64_t now,
                             int64_t *out_id);
  /* Rows with id < before_id (and state, when not NULL), newest first, at
   * most limit: row(ctx, r) for each, then attempt(ctx, a) for each of its
   * attempts oldest first. Stops at a callback's first non-zero status. */
  mw_status (*outbox_list)(
      mw_conn *c, const char *state, int64_t before_id, int limit,
      mw_status (*row)(void *ctx, const struct mw_outbox_row *r),
      mw_status (*attempt)(void *ctx, const struct mw_attempt_row *a), void *ctx);
  /* Rows per state and the oldest queued time of a waiting row. */
  mw_status (*outbox_depth)(mw_conn *c, mw_outbox_depth *out);
  /* Up to max rows with id > after_id in id order, into rows[] (*n). */
  mw_status (*outbox_ages)(mw_conn *c, int64_t after_id, int max,
                           struct mw_outbox_age *rows, int *n);
  /* Deletes a delivered or dead row with its attempts, unless it is the
   * newest row of the outbox (ids are public and must never be handed out
   * twice). *deleted_state receives the state it had ("" when nothing was
   * deleted; 16 bytes). */
  mw_status (*outbox_delete_finished)(mw_conn *c, int64_t id,
                                      char deleted_state[16]);
  /* Marks the target's waiting rows (pending, failed) dead with error, so
   * that nothing queued for it is sent. O(rows of the target). */
  mw_status (*outbox_kill_target)(mw_conn *c, const char *target_type,
                                  const char *target_name, const char *error);

  /* ---- secrets at rest (core/secrets_db.c) ---- */
  /* The id of the key the credentials are encrypted with (id[16]);
   * MW_ENOTFOUND when none is recorded. */
  mw_status (*secret_key_get)(mw_conn *c, char id[16]);
  /* Records key_id as that key since now (replacing any). */
  mw_status (*secret_key_put)(mw_conn *c, const char *key_id, int64_t now);
  /* Up to max rows of column col (< MW__COLS) with id > after_id, in id
   * order, into rows[0..*n). On failure *n is 0 and nothing is held.
   * O(max log rows). */
  mw_status (*secret_page)(mw_conn *c, int col, int64_t after_id, int max,
                           struct mw_secret_row *rows, int *n);
  /* Writes value into column col (< MW__COLS) of row id. */
  mw_status (*secret_set)(mw_conn *c, int col, int64_t id, const char *value);
  /* Making sure what a pass replaced leaves the files: stage 0, before
   * its transaction, has freed space overwritten from then on; stage 1,
   * after it, empties the log of old page images and stops overwriting.
   * SQLite: secure_delete, then a TRUNCATE checkpoint. PostgreSQL:
   * nothing can be done from here (old row versions stay until VACUUM). */
  mw_status (*secret_scrub)(mw_conn *c, int stage);

  /* ---- replicas (core/cluster.c) ---- */
  /* Inserts or refreshes a replica's row. */
  mw_status (*replica_beat)(mw_conn *c, const char *id, const char *listen,
                            int64_t started_at, int64_t now);
  /* Records id as the leader since now. */
  mw_status (*replica_lead)(mw_conn *c, const char *id, int64_t now);
  mw_status (*replica_delete)(mw_conn *c, const char *id);
  /* Deletes rows not seen since before. */
  mw_status (*replica_purge)(mw_conn *c, int64_t before);
  /* Replicas seen since since, oldest first, with the leader marked. */
  mw_status (*replica_list)(mw_conn *c, int64_t since,
                            mw_status (*fn)(void *ctx,
                                            const struct mw_replica_row *r),
                            void *ctx);
};

extern const struct mw_core_store mw_core_store_sqlite;
extern const struct mw_core_store mw_core_store_pg;

/* The implementation for c's backend. */
const struct mw_core_store *mw__store(mw_conn *c);

#endif
