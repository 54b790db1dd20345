/* core/core.h - plumbing shared by every subsystem of modelwatch.
 *
 * What lives here: the error enum, logging, time, crypto helpers (sha256,
 * HMAC, base64, random tokens), a capped growable buffer, strict UTF-8
 * decoding and validation, the SQLite connection layer (per-thread
 * connections, cached prepared statements, transactions, migrations) and
 * the configuration struct.
 *
 * Nothing here knows about HTTP, models or drift. */
#ifndef MW_CORE_H
#define MW_CORE_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- errors */

/* One table of statuses: enum value, short code (used as the JSON error code
 * by web/) and a default message. */
#define MW_STATUS_MAP(X)                                                     \
  X(MW_OK, 0, "ok", "success")                                               \
  X(MW_EINVAL, -1, "invalid", "invalid argument")                            \
  X(MW_ENOTFOUND, -2, "not_found", "not found")                              \
  X(MW_ECONFLICT, -3, "conflict", "conflict with the current state")        \
  X(MW_ETOOBIG, -4, "too_large", "too large")                                \
  X(MW_EDB, -5, "database_error", "database error")                          \
  X(MW_EIO, -6, "io_error", "input/output error")                            \
  X(MW_ENOMEM, -7, "out_of_memory", "out of memory")                         \
  X(MW_EVALIDATION, -8, "validation_failed", "validation failed")            \
  X(MW_EUNAUTH, -9, "unauthenticated", "missing or invalid token")           \
  X(MW_EFORBIDDEN, -10, "forbidden", "insufficient scope")                   \
  X(MW_EBUSY, -11, "unavailable", "temporarily unavailable")                 \
  X(MW_ETOOMANY, -12, "rate_limited", "too many requests")                   \
  X(MW_ESCHEMA, -13, "schema_too_new",                                       \
    "database schema is newer than this binary")                             \
  X(MW_EINTERNAL, -14, "internal", "internal error")

typedef enum mw_status {
#define MW_X_ENUM(name, val, code, msg) name = (val),
  MW_STATUS_MAP(MW_X_ENUM)
#undef MW_X_ENUM
} mw_status;

/* A message (and optional JSON details) explaining a failed call, filled by
 * the layer that knows what went wrong and shown to the API client by web/. */
typedef struct mw_err {
  char msg[512];
  cJSON *details; /* owned; may be NULL; free with mw_err_clear */
} mw_err;

/* Sets e's message (printf-style) and returns st, so a failing path reads
 * `return mw_errf(err, MW_ECONFLICT, "model %s exists", name);`. e may be
 * NULL. */
mw_status mw_errf(mw_err *e, mw_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Frees e's details and clears its message. */
void mw_err_clear(mw_err *e);

/* Default human message for a status; never NULL, static storage. */
const char *mw_strerror(mw_status st);
/* Short machine code for a status ("not_found"); never NULL, static. */
const char *mw_status_code(mw_status st);

/* --------------------------------------------------------------- logging */

enum mw_log_level { MW_LOG_DEBUG, MW_LOG_INFO, MW_LOG_WARN, MW_LOG_ERROR };

/* Sets the minimum level written to stderr (thread-safe to call at start). */
void mw_log_set_level(enum mw_log_level lvl);
/* Parses "debug"/"info"/"warn"/"error"; returns MW_EINVAL for others. */
mw_status mw_log_parse_level(const char *s, enum mw_log_level *out);
/* Writes one line "<time> <LEVEL> <subsystem>: <message>" to stderr. */
void mw_log(enum mw_log_level lvl, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes one raw, already formatted line to stderr in a single write. */
void mw_log_raw(const char *line, size_t len);

/* ------------------------------------------------------------------ time */

/* Wall-clock milliseconds since the Unix epoch. */
int64_t mw_now_ms(void);
/* Monotonic clock in nanoseconds, for latencies. */
int64_t mw_mono_ns(void);
/* Formats ms since epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-27T08:00:00.123Z") into buf (at least 32 bytes). Returns buf. */
char *mw_time_format(int64_t ms, char *buf, size_t cap);
/* Parses RFC 3339 ("2026-11-27T08:00:00Z", optional fraction and numeric
 * offset) into ms since epoch. MW_EINVAL if malformed. */
mw_status mw_time_parse(const char *s, int64_t *out_ms);

/* ---------------------------------------------------------------- crypto */

/* sha256 of data as 64 lowercase hex chars plus NUL into hex[65]. */
void mw_sha256_hex(const void *data, size_t len, char hex[65]);
/* HMAC-SHA256 of msg with key into out[32]. */
void mw_hmac_sha256(const void *key, size_t keylen, const void *msg,
                    size_t msglen, unsigned char out[32]);
/* Standard base64 with padding; out must hold 4*ceil(len/3)+1 bytes.
 * Returns the encoded length. */
size_t mw_base64_encode(const unsigned char *in, size_t len, char *out);
/* Decodes standard base64 into out (cap bytes). Returns the decoded length
 * or -1 if the input is malformed or does not fit. */
long mw_base64_decode(const char *in, unsigned char *out, size_t cap);
/* Fills buf with cryptographically secure random bytes. */
mw_status mw_random_bytes(void *buf, size_t len);
/* Writes len random characters of [A-Za-z0-9] plus NUL into out. */
mw_status mw_random_token(char *out, size_t len);
/* A new Standard Webhooks signing secret: "whsec_" + base64 of 24 random
 * bytes, into out[48]. */
mw_status mw_webhook_secret_new(char out[48]);
/* Constant-time comparison of two equal-length buffers; 1 if equal. */
int mw_ct_equal(const void *a, const void *b, size_t len);
/* Standard Webhooks signature "v1,<base64>" for secret "whsec_<base64 key>"
 * over "<id>.<timestamp>.<body>". out must hold 64 bytes. */
mw_status mw_webhook_sign(const char *secret, const char *msg_id,
                          int64_t timestamp, const char *body, size_t bodylen,
                          char out[64]);

/* ------------------------------------------------------------------ URLs */

/* Webhook targets (core/url.c): where a webhook may connect, which URLs a
 * channel or node may have, and how they are shown below admin. */

/* What an address is to the egress policy. */
enum mw_addr_class {
  MW_ADDR_PUBLIC,   /* always allowed */
  MW_ADDR_PRIVATE,  /* loopback, RFC 1918, CGNAT, ULA: with
                       --allow-private-webhooks */
  MW_ADDR_FORBIDDEN /* link-local, cloud metadata, unspecified, multicast,
                       broadcast: never */
};

/* Classifies a socket address (IPv4-mapped and NAT64 IPv6 as the IPv4
 * address they reach); *why (may be NULL) receives a static description
 * such as "link-local (169.254.0.0/16)". Unknown families and truncated
 * addresses are forbidden. */
enum mw_addr_class mw_addr_classify(const struct sockaddr *sa, socklen_t len,
                                    const char **why);
/* 1 when url is an http:// or https:// URL of 8..1000 bytes without
 * spaces or control characters (webhook and node targets). */
int mw_url_valid(const char *url);
/* Checks the URL of a webhook target (channel, node) at creation:
 * mw_url_valid, one host (no second '@' or backslash in the authority),
 * a port of 1-65535 when one is given, and - when the host is an IP
 * literal as curl reads it (IPv4 in any form inet_aton takes: "127.1",
 * "0x7f.0.0.1", "2130706433"; a bracketed IPv6 address, zone ignored) -
 * an address the egress policy lets through: never MW_ADDR_FORBIDDEN,
 * MW_ADDR_PRIVATE only with allow_private. A host name passes: what it
 * resolves to is checked when the webhook connects. MW_EVALIDATION with
 * err saying why otherwise. */
mw_status mw_url_check_target(const char *url, int allow_private, mw_err *err);
/* Writes url's scheme, host and port ("https://hooks.example.com:8443")
 * into out (cap bytes, cap > 0): no userinfo, path, query or fragment.
 * "" when url has no "scheme://host" or the result does not fit. Returns
 * out. */
const char *mw_url_redact(const char *url, char *out, size_t cap);
/* Replaces the string obj[key] in place by its mw_url_redact form; does
 * nothing when obj[key] is absent or not a string. */
void mw_json_redact_url(cJSON *obj, const char *key);

/* ---------------------------------------------------------------- buffer */

/* A growable byte buffer with a hard cap fixed at creation: an append that
 * would pass the cap fails with MW_ETOOBIG and frees the contents, so an
 * oversized input can never grow memory without bound. */
typedef struct mw_buf {
  char *data; /* NUL-terminated when len > 0 */
  size_t len;
  size_t cap;   /* allocated bytes */
  size_t limit; /* hard cap on len */
} mw_buf;

/* Initialises an empty buffer with the given hard limit. */
void mw_buf_init(mw_buf *b, size_t limit);
/* Appends len bytes. MW_ETOOBIG (buffer freed) past the limit. */
mw_status mw_buf_append(mw_buf *b, const void *p, size_t len);
/* Appends a formatted string (length-checked). */
mw_status mw_buf_printf(mw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees the contents; the buffer can be reused after mw_buf_init. */
void mw_buf_free(mw_buf *b);

/* Copies src into dst (cap bytes, always NUL-terminated). Returns MW_ETOOBIG
 * if src was truncated. */
mw_status mw_strlcpy(char *dst, const char *src, size_t cap);
/* Parses a base-10 signed integer filling the whole string. */
mw_status mw_parse_i64(const char *s, int64_t *out);

/* ------------------------------------------------------------------ JSON */

/* Returns the string value of obj[key] or NULL if absent or not a string
 * (borrowed from obj). */
const char *mw_json_str(const cJSON *obj, const char *key);
/* 1 when it is a JSON number holding an integer that int64_t represents
 * exactly, stored in *out; 0 otherwise (fractions, NaN, and the
 * infinities and huge values cJSON reads from "1e999": converting those
 * to an integer type is undefined behaviour). */
int mw_json_int(const cJSON *it, int64_t *out);
/* Serialises and frees nothing; caller frees the result with free(). */
char *mw_json_print(const cJSON *obj);
/* Adds "key": RFC 3339 time, or null when ms < 0. */
void mw_json_add_time(cJSON *obj, const char *key, int64_t ms);

/* ----------------------------------------------------------------- UTF-8 */

/* Strict UTF-8 (RFC 3629, core/utf8.c): overlong forms, surrogates encoded
 * in UTF-8 (ED A0..BF ..), values past U+10FFFF, truncated sequences and
 * stray continuation bytes are all invalid. */

/* Decodes the sequence starting at s (n bytes available) into *cp and
 * returns its length (1-4); 0 when it is invalid or n is 0 (*cp is then
 * left alone). */
size_t mw_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encodes cp (a Unicode scalar value: at most U+10FFFF, not a surrogate)
 * into out; returns the bytes written (1-4). */
size_t mw_utf8_encode(uint32_t cp, char out[4]);
/* MW_OK when data[0..n) is valid UTF-8 (NUL bytes included: they are
 * valid characters); MW_EINVAL otherwise. *bad (may be NULL) receives the
 * offset of the first byte of the first invalid sequence, or n when there
 * is none. */
mw_status mw_utf8_check(const void *data, size_t n, size_t *bad);

/* -------------------------------------------------------------- database */

typedef struct mw_db mw_db;     /* a database: path and open options */
typedef struct mw_conn mw_conn; /* one connection, owned by one thread */

/* Opens (creating if needed) the SQLite database at path and checks that it
 * can be used. sync_full selects synchronous=FULL (every commit fsynced).
 * Caller frees with mw_db_close. */
mw_status mw_db_open(const char *path, int sync_full, mw_db **out);
/* Closes the calling thread's connection and frees db; NULL is fine.
 * Connections of other threads are closed when those threads exit. */
void mw_db_close(mw_db *db);
/* Path of the database file (borrowed). */
const char *mw_db_path(const mw_db *db);
/* Returns the calling thread's connection, opening it on first use
 * (WAL, foreign keys, busy timeout). Borrowed: valid until the thread exits
 * or mw_db_close. NULL on failure (logged). */
mw_conn *mw_db_conn(mw_db *db);
/* The raw handle, for subsystem store files. */
sqlite3 *mw_conn_handle(mw_conn *c);
/* Returns a prepared statement for sql, cached per connection (sql should be
 * a string literal: it is keyed by address). The statement is reset and its
 * bindings cleared; it stays owned by the connection. NULL on error. */
sqlite3_stmt *mw_stmt(mw_conn *c, const char *sql);
/* Runs sql (no results, may hold several statements). */
mw_status mw_exec(mw_conn *c, const char *sql);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Rollback is safe when no transaction
 * is open. */
mw_status mw_tx_begin(mw_conn *c);
mw_status mw_tx_commit(mw_conn *c);
void mw_tx_rollback(mw_conn *c);
/* Translates a SQLite result code: SQLITE_OK/DONE/ROW -> MW_OK, constraint
 * failures -> MW_ECONFLICT, busy -> MW_EBUSY, others -> MW_EDB (logged).
 * It cannot tell which success code a statement should have given: read
 * results through mw_step_done and mw_step_row, which map only the code
 * they expect, so a stale rc can never turn a failure into MW_OK. */
mw_status mw_db_status(mw_conn *c, int rc);

/* One step of a statement that must finish (INSERT, UPDATE, DELETE,
 * BEGIN...): MW_OK on SQLITE_DONE only. A row is MW_EINTERNAL (the SQL is
 * not what the caller thinks), other codes as mw_db_status. st may be the
 * NULL of a failed mw_stmt: MW_EDB, so `mw_step_done(c, mw_stmt(c, sql))`
 * after binding is one checked step. Resets st in every case. */
mw_status mw_step_done(mw_conn *c, sqlite3_stmt *st);
/* One step of a query: MW_OK with *row = 1 when it stands on a row (read
 * its columns, then step again or sqlite3_reset it), MW_OK with *row = 0
 * when it is done (st reset). Any other code: *row = 0, st reset and the
 * status of mw_db_status; a NULL st (failed mw_stmt) is MW_EDB. */
mw_status mw_step_row(mw_conn *c, sqlite3_stmt *st, int *row);
/* As mw_step_row for a query that must give a row: MW_OK standing on it,
 * MW_ENOTFOUND (st reset) when there is none. The caller fills err for
 * MW_ENOTFOUND, which says nothing on its own. */
mw_status mw_step_one(mw_conn *c, sqlite3_stmt *st);

#ifdef MW_FAULT_INJECTION
/* Test builds only (cmake -DMW_FAULT_INJECTION=ON, as `make build` and
 * `make build-asan` configure; the option is off by default): every
 * sqlite3_step of the code base goes through mw_fault_step, and mw_stmt
 * and mw_exec can fail too, so that a test can fail the k-th statement of
 * one request and check that nothing half done is kept. Inert unless the
 * server runs with MODELWATCH_FAULT_FILE; see core/db.c. */
int mw_fault_step(sqlite3_stmt *st);
#define sqlite3_step(st) mw_fault_step(st)
#endif
/* Size of the database file plus its WAL, in bytes (0 if unknown). */
int64_t mw_db_size(const mw_db *db);

/* Binds text, or NULL when s is NULL. */
int mw_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Column text or "" (borrowed until the next step/reset). */
const char *mw_col_text(sqlite3_stmt *st, int col);

/* Number of migrations embedded in this binary (the schema version it
 * expects). */
int mw_migrations_latest(void);
/* Applies pending migrations in order, one transaction each, and records
 * the schema version. MW_ESCHEMA if the database is newer than this binary.
 * *applied (may be NULL) receives how many ran. */
mw_status mw_migrate(mw_conn *c, int *applied);
/* Current schema version of the database (0 when fresh). */
mw_status mw_schema_version(mw_conn *c, int *out);

/* ------------------------------------------------------------------ auth */

/* Scopes as bits. admin implies every other scope, read implies metrics. */
enum mw_scope {
  MW_SCOPE_NONE = 0,
  MW_SCOPE_READ = 1,
  MW_SCOPE_INGEST = 2,
  MW_SCOPE_PROMOTE = 4,
  MW_SCOPE_ADMIN = 8,
  /* Routes only: any valid token or session, whatever its scopes. */
  MW_SCOPE_ANY = 16,
  /* Scraping /metrics and nothing else; read implies it. */
  MW_SCOPE_METRICS = 32
};

/* Parses one scope name; 0 if unknown. */
unsigned mw_scope_parse(const char *name);
/* True when a token holding `have` may do what needs `need`. */
int mw_scope_allows(unsigned have, unsigned need);
/* Adds the scope names of `scopes` to a JSON array. */
void mw_scope_to_json(unsigned scopes, cJSON *arr);

typedef struct mw_token_info {
  int64_t id;
  char name[129];
  unsigned scopes;
} mw_token_info;

/* Creates a token named name with scopes; writes the secret (shown once)
 * into secret (at least 64 bytes). MW_ECONFLICT when the name is taken,
 * MW_EINVAL for a bad name or no scope. Writes an audit row for actor. */
mw_status mw_token_create(mw_conn *c, const char *name, unsigned scopes,
                          const char *actor, char *secret, size_t cap);
/* Verifies a presented token; fills info. MW_EUNAUTH if unknown or wrong
 * (the comparison of digests is constant-time). */
mw_status mw_token_verify(mw_conn *c, const char *token, mw_token_info *info);
/* Deletes a token by name. MW_ENOTFOUND if absent. Audited. */
mw_status mw_token_delete(mw_conn *c, const char *name, const char *actor);
/* Lists tokens (no secrets) as a new JSON array; caller frees with
 * cJSON_Delete. */
mw_status mw_token_list(mw_conn *c, cJSON **out);
/* Number of tokens stored. */
mw_status mw_token_count(mw_conn *c, int64_t *out);

/* Starts a dashboard session for a verified token: writes a new session id
 * (the cookie value, 48 chars) and CSRF token (32 chars) into sid[64] and
 * csrf[64]. Sessions last ttl_ms and die with their token. */
mw_status mw_session_create(mw_conn *c, int64_t token_id, int64_t ttl_ms,
                            char sid[64], char csrf[64]);
/* Resolves a session cookie to its token and CSRF token (csrf[64]).
 * MW_EUNAUTH when unknown or expired. */
mw_status mw_session_verify(mw_conn *c, const char *sid, mw_token_info *info,
                            char csrf[64]);
/* Ends a session (sign out); unknown ids are fine. */
mw_status mw_session_delete(mw_conn *c, const char *sid);

/* Deletes one row by name in its own transaction with its audit row:
 * sql is a literal "DELETE FROM <table> WHERE name = ?", action the audit
 * action ("node.delete"), what the noun for the not-found message ("node").
 * MW_ENOTFOUND (err filled) when no row had that name. */
mw_status mw_delete_named(mw_conn *c, const char *sql, const char *name,
                          const char *actor, const char *action,
                          const char *what, mw_err *err);

/* Appends an audit row: who did what to which object. details may be NULL.
 * Call inside the transaction of the change it records. */
mw_status mw_audit(mw_conn *c, const char *actor, const char *action,
                   const char *target, const cJSON *details);

/* ---------------------------------------------------------------- outbox */

/* Queues one message for delivery (POST of payload to url) in the caller's
 * transaction, so it is sent if and only if the change that caused it
 * commits. kind: "alias.moved", "alert", ...; target_type/name say who
 * receives it ("node"/"edge-1", "channel"/"ops-slack"). The message id
 * (webhook-id) is generated here and stays stable across retries. */
mw_status mw_outbox_enqueue(mw_conn *c, const char *kind, const char *target_type,
                            const char *target_name, const char *url,
                            const cJSON *payload, int64_t *out_id);

/* {deliveries: [...], next_page_token}: outbox rows newest first, each with
 * its attempts; state filters (pending|delivered|failed|dead) when not
 * NULL; page_token is the id to continue below. Payload secrets never
 * appear (the payload is what receivers see anyway); channel URLs are
 * shown redacted (mw_url_redact), node URLs in full. */
mw_status mw_outbox_list(mw_conn *c, const char *state, int limit,
                         int64_t before_id, cJSON **out);

/* The outbox's depth, for /metrics. */
typedef struct mw_outbox_depth {
  int64_t pending, failed, delivered, dead; /* rows by state */
  int64_t oldest_queued_ms; /* when the oldest pending or failed row was
                               queued (or re-queued by hand); -1: none */
} mw_outbox_depth;

/* Fills *out from the outbox: one walk of the (state, next_attempt_at)
 * index for the counts, a lookup of the waiting rows for the oldest. */
mw_status mw_outbox_stats(mw_conn *c, mw_outbox_depth *out);

/* One bounded step of outbox retention, in its own IMMEDIATE transaction:
 * looks at up to max_rows rows (capped at 10000) in id order after
 * *cursor (0 starts a pass) and deletes, with their delivery_attempts,
 * those delivered or dead whose final time - delivered_at, or a dead
 * row's last attempt - is before cutoff_ms. Pending and failed rows are
 * never deleted, however old. The walk ends at the first row queued at or
 * after cutoff_ms (rows are queued in id order, so none behind it can
 * qualify); *cursor then receives 0, otherwise the id to continue after.
 * *n_delivered and *n_dead receive how many rows of each state went (0 on
 * failure, when nothing is deleted). */
mw_status mw_outbox_purge_step(mw_conn *c, int64_t cutoff_ms, int max_rows,
                               int64_t *cursor, int64_t *n_delivered,
                               int64_t *n_dead);

/* Validates a resource name: 1-128 of [A-Za-z0-9._-], not starting with '.'. */
int mw_name_valid(const char *name);

/* ---------------------------------------------------------------- backup */

/* Copies the database at src into a new file dest with SQLite's online
 * backup API: consistent even while a server writes (WAL readers never
 * block writers). dest must not exist. Then copies the artifact store
 * <src_dir>/artifacts/sha256 to <dest>.artifacts/ (files are immutable and
 * content-addressed, so a copy made after the database holds every
 * artifact the database names). Checks the copy with
 * PRAGMA integrity_check. */
mw_status mw_backup(const char *data_dir, const char *dest, char *err, size_t errcap);
/* Takes the data directory's lock (flock on <data_dir>/modelwatch.lock):
 * every server holds it shared while it runs (several may share one
 * database), and restore takes it exclusively, so a restore never replaces
 * the files under a running server. *fd receives the lock's descriptor
 * (release with mw_datadir_unlock; also released when the process exits).
 * MW_ECONFLICT when it is held the other way. */
mw_status mw_datadir_lock(const char *data_dir, int exclusive, int *fd, char *err,
                          size_t errcap);
void mw_datadir_unlock(int fd);
/* Restores a backup made by mw_backup into data_dir (created if missing),
 * which must not hold a database unless force is set, and must not be in
 * use by a server (mw_datadir_lock). */
mw_status mw_restore(const char *src, const char *data_dir, int force, char *err,
                     size_t errcap);

/* ---------------------------------------------------------------- config */

typedef struct mw_config {
  char listen[256];        /* host:port, "127.0.0.1:8080" */
  char data_dir[1024];     /* "./var" */
  int threads;             /* CivetWeb worker threads */
  size_t max_body;         /* JSON request bodies, bytes */
  int64_t max_artifact;    /* artifact uploads, bytes */
  int sync_full;           /* synchronous=FULL */
  int access_log;          /* one line per request on stderr */
  enum mw_log_level log_level;
  char external_url[512];  /* base URL used in links (dashboard, artifacts) */
  int retention_days;      /* raw predictions kept, 0 = forever */
  int eval_interval_seconds; /* scheduled drift evaluation, 0 = never */
  int eval_window_seconds;   /* window of a scheduled evaluation */
  int drift_memory_mb;       /* column data in flight during a drift report */
  int drift_cache_mb;        /* live-window cache of drift reports, 0 = off */
  char tls_cert[1024];
  char tls_key[1024];
  int allow_private_webhooks;
  int request_timeout_ms;   /* a body or reply making no progress (30000) */
  int header_timeout_ms;    /* receiving a request's headers (10000) */
  int metrics_public;       /* /metrics without a token */
  int rate_limit;              /* requests/s per token, 0 = off (1000) */
  int rate_burst;              /* bucket size per token (2000) */
  int alert_group_wait_s;      /* Alertmanager's group_wait (30) */
  int alert_group_interval_s;  /* group_interval (300) */
  int alert_repeat_interval_s; /* repeat_interval (14400) */
  int delivery_workers;          /* concurrent webhook transfers (8) */
  int delivery_max_attempts;     /* attempts before dead (8) */
  int delivery_max_age_seconds;  /* age before dead (259200, 3 days) */
  int delivery_timeout_ms;       /* one webhook request, in all (15000) */
  int delivery_retention_days;   /* delivered/dead rows kept, 0 = forever (7) */
} mw_config;

/* Fills defaults, then applies MODELWATCH_* environment variables. */
void mw_config_defaults(mw_config *cfg);
/* Applies flags from argv (after the subcommand). Unknown flags ->
 * MW_EINVAL with a message in err. */
mw_status mw_config_parse_args(mw_config *cfg, int argc, char **argv,
                               char *err, size_t errcap);
/* Prints the flags, their environment variables and defaults. */
void mw_config_usage(FILE *out);

#endif
