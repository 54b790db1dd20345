/* core/secrets.h - credentials encrypted at rest.
 *
 * What the database keeps of a credential - the url and the signing
 * secret of a channel, a node and a subscription - is
 *
 *     enc:v1:<key id>:<base64 of nonce (12) | ciphertext | tag (16)>
 *
 * AES-256-GCM (OpenSSL EVP) under a 32-byte key kept outside the database,
 * with a fresh random 96-bit nonce per value. The associated data is
 * "enc:v1:<key id>:<table>.<column>:<row name>", so a value copied into
 * another row or column, or whose key id was edited, fails authentication
 * like a tampered one. The key id is the first 8 hex digits of the sha256
 * of the key's bytes (`xxd -r -p secret.key | sha256sum`): enough to tell
 * a wrong key from a tampered value, nothing about the key.
 *
 * Who encrypts: the business code of each subsystem, above its store
 * (structs in, structs out, the store keeps the text it is given), with
 * mw_secret_put and mw_secret_get on the key attached to the database.
 * The key itself comes from a file (mw_secret_key_load, ..._create), is
 * checked against the database and attached once at start
 * (mw_secrets_open), and is replaced by mw_secrets_rotate.
 *
 * Cost: one AES-GCM pass over a value of at most a few hundred bytes (a
 * microsecond or so) per seal or open; nothing is cached in plain text. */
#ifndef MW_CORE_SECRETS_H
#define MW_CORE_SECRETS_H

#include <stddef.h>

#include "core/config.h"
#include "core/db.h"

#define MW_SECRET_KEY_BYTES 32
/* Longest value sealed (the longest URL accepted is 1000 bytes). */
#define MW_SECRET_MAX_PLAIN 8192

/* A data key and its id. Wipe with mw_secret_key_wipe when done. */
typedef struct mw_secret_key {
  unsigned char bytes[MW_SECRET_KEY_BYTES];
  char id[9]; /* 8 lowercase hex digits */
} mw_secret_key;

/* Every column that holds a credential. */
enum mw_secret_col {
  MW_SECRET_CHANNEL_URL,
  MW_SECRET_CHANNEL_SECRET,
  MW_SECRET_NODE_URL,
  MW_SECRET_NODE_SECRET,
  MW_SECRET_SUBSCRIPTION_URL,
  MW_SECRET_SUBSCRIPTION_SECRET,
  MW_SECRET_CHANNEL_PASSWORD, /* an email channel's SMTP login */
  MW_SECRET_PRIVACY_KEY,      /* the key of hashed columns (monitor/privacy.c) */
  MW_SECRET_COLS
};

/* "channels.url", ...: the column as the associated data names it. */
const char *mw_secret_col_name(enum mw_secret_col col);

/* ---- keys (core/secrets.c) ---- */

/* A new random key. */
mw_status mw_secret_key_new(mw_secret_key *out);
/* A key from its text: 64 hex digits, or the base64 of 32 bytes, with
 * surrounding white space. MW_EINVAL otherwise. */
mw_status mw_secret_key_parse(const char *text, size_t len, mw_secret_key *out);
/* The key as 64 lowercase hex digits plus NUL (what a key file holds). */
void mw_secret_key_hex(const mw_secret_key *k, char out[65]);
void mw_secret_key_wipe(mw_secret_key *k);

/* ---- values (core/secrets.c; pure) ---- */

/* 1 when stored has the sealed form's prefix ("enc:"). */
int mw_secret_is_sealed(const char *stored);
/* The key id of a sealed value into id[9]; MW_EINVAL when stored is not
 * one. */
mw_status mw_secret_key_id_of(const char *stored, char id[9]);
/* Seals plain (at most MW_SECRET_MAX_PLAIN bytes) for column col of the
 * row named row. *out receives the text to store; caller frees with
 * free(). */
mw_status mw_secret_seal(const mw_secret_key *k, enum mw_secret_col col,
                         const char *row, const char *plain, char **out);
/* Opens what mw_secret_seal made for the same column and row. *out
 * receives the plain text; caller frees with mw_secret_free. On failure
 * *out is NULL and why (cap bytes, may be NULL) says what is wrong:
 *  - MW_EINVAL: not a sealed value (plain text, or malformed);
 *  - MW_ECONFLICT: sealed under another key (both ids in why);
 *  - MW_ESECRET: authentication failed: the value was altered, or moved
 *    from another row or column. */
mw_status mw_secret_open(const mw_secret_key *k, enum mw_secret_col col,
                         const char *row, const char *stored, char **out, char *why,
                         size_t cap);
/* Wipes and frees a plain text from mw_secret_open or mw_secret_get; NULL
 * is fine. */
void mw_secret_free(char *plain);

/* ---- with the database's key (core/secrets_db.c) ---- */

/* Attaches a copy of k to db (wiped by mw_db_close): the key
 * mw_secret_put and mw_secret_get use on every connection of db. Call
 * before other threads use db; mw_secrets_check does, after its checks.
 * (core/db.c, like the next one.) */
mw_status mw_secrets_attach(mw_db *db, const mw_secret_key *k);
/* The key attached to c's database (borrowed); NULL when none. */
const mw_secret_key *mw_secrets_key(mw_conn *c);
/* mw_secret_seal with c's key. MW_EINTERNAL (logged) when none is
 * attached. */
mw_status mw_secret_put(mw_conn *c, enum mw_secret_col col, const char *row,
                        const char *plain, char **out);
/* mw_secret_open with c's key; on failure logs and sets err to a message
 * naming the column and the row (never the value). */
mw_status mw_secret_get(mw_conn *c, enum mw_secret_col col, const char *row,
                        const char *stored, char **out, mw_err *err);

/* Where the stored (encrypted) URL of a target points, as the outbox keeps
 * it (scheme, host and port: mw_url_redact), into out (cap bytes); "" when
 * it cannot be decrypted (logged), so that the change queueing a delivery
 * (an alert's rollback, say) still happens and the delivery fails with the
 * reason when it is sent. MW_ENOMEM is the only failure. */
mw_status mw_secret_url_shown(mw_conn *c, enum mw_secret_col col, const char *row,
                              const char *stored, char *out, size_t cap);

/* The id of the key the database's credentials are encrypted with, into
 * id[16] ("" when none is recorded yet: a fresh database, or one an older
 * binary wrote). */
mw_status mw_secrets_db_key_id(mw_conn *c, char id[16]);

/* What a pass over the stored credentials did. */
typedef struct mw_secrets_stats {
  long sealed;   /* plain values encrypted (first start) */
  long resealed; /* values re-encrypted under a new key (rotation) */
  long outbox;   /* outbox URLs cut down to scheme, host and port */
} mw_secrets_stats;

/* At start, with the key k of the configuration: refuses (MW_ECONFLICT,
 * err says which key the database wants and where to put it) when the
 * database records another key; on the first start of this binary on a
 * database (no key recorded), encrypts every plain credential, cuts the
 * outbox's URLs down and records k's id, in one write transaction (on
 * SQLite with freed space overwritten and the WAL truncated after, so the
 * plain text leaves the files). Then attaches k. *st (may be NULL)
 * receives what was done. */
mw_status mw_secrets_check(mw_db *db, const mw_secret_key *k, mw_secrets_stats *st,
                           char *err, size_t cap);
/* Loads (or on a fresh database creates) the key cfg names and runs
 * mw_secrets_check: what `serve` does. *path receives the key file's
 * path (cap bytes). */
mw_status mw_secrets_open(mw_db *db, const mw_config *cfg, char *path,
                          size_t pathcap, char *err, size_t cap);
/* Re-encrypts every stored credential from old_key to new_key and records
 * new_key's id, in one write transaction: all or nothing. Refuses when
 * the database records a key other than old_key, or new_key is the same.
 * No server may use the database meanwhile (the caller checks: cli/). */
mw_status mw_secrets_rotate(mw_db *db, const mw_secret_key *old_key,
                            const mw_secret_key *new_key, mw_secrets_stats *st,
                            char *err, size_t cap);

/* ---- key files (core/secret_file.c) ---- */

/* The key file cfg names: --secret-key-file, else <data-dir>/secret.key,
 * into out (cap bytes). *explicit_file receives 1 for the former. */
mw_status mw_secret_key_path(const mw_config *cfg, char *out, size_t cap,
                             int *explicit_file);
/* Reads the key at path. Refuses a file group or others may read or
 * write (MW_EINVAL, "chmod 600"), a missing one (MW_ENOTFOUND) and one
 * that holds no key (MW_EINVAL); err says which. */
mw_status mw_secret_key_load(const char *path, mw_secret_key *out, char *err,
                             size_t cap);
/* Creates path with a new key, mode 0600, atomically: the complete file
 * appears at once or not at all (written aside, then linked into place).
 * MW_ECONFLICT when path exists. */
mw_status mw_secret_key_create(const char *path, mw_secret_key *out, char *err,
                               size_t cap);

#endif
