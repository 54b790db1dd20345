/* core/secrets_db.c - the data key and the database (core/secrets.h):
 * sealing and opening with the key attached to a database, the check at
 * start (with the one-time pass that encrypts what an older binary stored
 * in plain text), and key rotation.
 *
 * Both passes walk every credential column (core/store.h: secret_page,
 * secret_set) a page at a time inside one write transaction, so they are
 * all or nothing: a failure anywhere leaves every value as it was, under
 * the key the database records. Cost: O(channels + nodes +
 * subscriptions) values, plus on the first pass one read of every outbox
 * row (those written before 0017 kept whole URLs). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/store.h"
#include "core/url.h"

/* Rows per page of a pass. */
#define PAGE 256

void mw__secret_rows_free(struct mw_secret_row *rows, int n) {
  for(int i = 0; i < n; i++) {
    free(rows[i].name);
    mw_secret_free(rows[i].value); /* may be a plain credential */
    rows[i].name = rows[i].value = NULL;
  }
}

/* ------------------------------------------------- with the db's key */

static const mw_secret_key *key_of(mw_conn *c) {
  const mw_secret_key *k = mw_secrets_key(c);
  if(!k)
    mw_log(MW_LOG_ERROR, "secrets",
           "no secret key is attached to the database (a bug: serve attaches "
           "it at start)");
  return k;
}

mw_status mw_secret_put(mw_conn *c, enum mw_secret_col col, const char *row,
                        const char *plain, char **out) {
  *out = NULL;
  const mw_secret_key *k = key_of(c);
  return k ? mw_secret_seal(k, col, row, plain, out) : MW_EINTERNAL;
}

mw_status mw_secret_get(mw_conn *c, enum mw_secret_col col, const char *row,
                        const char *stored, char **out, mw_err *err) {
  *out = NULL;
  const mw_secret_key *k = key_of(c);
  if(!k)
    return MW_EINTERNAL;
  char why[256];
  mw_status s = mw_secret_open(k, col, row, stored, out, why, sizeof why);
  if(!s || s == MW_ENOMEM)
    return s;
  mw_log(MW_LOG_ERROR, "secrets", "cannot decrypt the %s of '%s': %s",
         mw_secret_col_name(col), row, why);
  return mw_errf(err, MW_ESECRET, "the stored %s of '%s' cannot be decrypted: %s",
                 mw_secret_col_name(col), row, why);
}

mw_status mw_secret_url_shown(mw_conn *c, enum mw_secret_col col, const char *row,
                              const char *stored, char *out, size_t cap) {
  assert(cap > 0);
  out[0] = 0;
  char *url = NULL;
  mw_status s = mw_secret_get(c, col, row, stored, &url, NULL);
  if(!s)
    mw_url_redact(url, out, cap);
  mw_secret_free(url);
  return s == MW_ENOMEM ? s : MW_OK;
}

mw_status mw_secrets_db_key_id(mw_conn *c, char id[16]) {
  id[0] = 0;
  mw_status s = mw__store(c)->secret_key_get(c, id);
  if(s == MW_ENOTFOUND) {
    id[0] = 0;
    return MW_OK;
  }
  return s;
}

/* ------------------------------------------------------------- passes */

/* What a pass does with one stored value: *out a value to store instead
 * (malloc'd, never plain text of a credential), or NULL to leave it. */
typedef mw_status (*pass_fn)(void *ctx, int col, const struct mw_secret_row *r,
                             char **out);

struct pass {
  const mw_secret_key *key, *new_key; /* new_key: rotation only */
  char *err;
  size_t cap;
  mw_secrets_stats *st;
};

/* Runs fn over every value of column col, a page at a time. */
static mw_status walk(mw_conn *c, int col, pass_fn fn, struct pass *p,
                      long *changed) {
  assert(mw_tx_state(c) == 1);
  const struct mw_core_store *store = mw__store(c);
  struct mw_secret_row rows[PAGE];
  int64_t after = 0;
  for(;;) {
    int n = 0;
    mw_status s = store->secret_page(c, col, after, PAGE, rows, &n);
    for(int i = 0; i < n && !s; i++) {
      char *v = NULL;
      s = fn(p, col, &rows[i], &v);
      if(!s && v && !(s = store->secret_set(c, col, rows[i].id, v)))
        (*changed)++;
      free(v);
      after = rows[i].id;
    }
    mw__secret_rows_free(rows, n);
    if(s || n < PAGE)
      return s;
  }
}

/* First start: a plain credential is sealed, one already sealed under the
 * key is left, one under another key stops the pass; an outbox URL is cut
 * down to scheme, host and port. */
static mw_status seal_one(void *ctx, int col, const struct mw_secret_row *r,
                          char **out) {
  struct pass *p = ctx;
  if(col == MW__COL_OUTBOX_URL) {
    char red[1100];
    mw_url_redact(r->value, red, sizeof red);
    if(!strcmp(red, r->value))
      return MW_OK;
    p->st->outbox++;
    return (*out = strdup(red)) ? MW_OK : MW_ENOMEM;
  }
  if(!mw_secret_is_sealed(r->value)) {
    p->st->sealed++;
    return mw_secret_seal(p->key, col, r->name, r->value, out);
  }
  char id[9];
  if(mw_secret_key_id_of(r->value, id)) {
    snprintf(p->err, p->cap,
             "the %s of '%s' is neither plain text nor a value this binary can "
             "read (enc:v1:...); was it written by a newer modelwatch?",
             mw_secret_col_name(col), r->name);
    return MW_ESECRET;
  }
  if(strcmp(id, p->key->id)) {
    snprintf(p->err, p->cap,
             "the database holds credentials encrypted with key %s (the %s of "
             "'%s'), and the key in use is %s",
             id, mw_secret_col_name(col), r->name, p->key->id);
    return MW_ECONFLICT;
  }
  return MW_OK;
}

/* Rotation: opens with the old key, seals with the new one. */
static mw_status reseal_one(void *ctx, int col, const struct mw_secret_row *r,
                            char **out) {
  struct pass *p = ctx;
  char *plain = NULL, why[256];
  mw_status s =
      mw_secret_open(p->key, col, r->name, r->value, &plain, why, sizeof why);
  if(s) {
    snprintf(p->err, p->cap, "the %s of '%s' cannot be decrypted with key %s: %s",
             mw_secret_col_name(col), r->name, p->key->id, why);
    return s == MW_ENOMEM ? s : MW_ESECRET;
  }
  s = mw_secret_seal(p->new_key, col, r->name, plain, out);
  mw_secret_free(plain);
  if(!s)
    p->st->resealed++;
  return s;
}

/* Inside the pass's write transaction: the recorded key id must be want
 * (NULL: none recorded yet; "" in *found lets the caller tell). */
static mw_status recorded(mw_conn *c, const char *want, char found[16],
                          struct pass *p) {
  mw_status s = mw_secrets_db_key_id(c, found);
  if(s) {
    snprintf(p->err, p->cap, "cannot read the database's key id: %s",
             mw_strerror(s));
    return s;
  }
  if(found[0] && want && strcmp(found, want)) {
    snprintf(p->err, p->cap,
             "the database's credentials are encrypted with key %s, and the key "
             "in use is %s",
             found, want);
    return MW_ECONFLICT;
  }
  return MW_OK;
}

/* One pass in one write transaction, with what it replaces scrubbed from
 * the files. fn runs over the columns [0, ncols); then new_id is recorded.
 * Nothing happens (and *done is 0) when the database already records
 * skip_if. */
static mw_status run_pass(mw_conn *c, pass_fn fn, int ncols, const char *want,
                          const char *skip_if, const char *new_id, struct pass *p,
                          int *done) {
  const struct mw_core_store *store = mw__store(c);
  char found[16];
  long changed = 0;
  *done = 0;
  mw_status s = store->secret_scrub(c, 0);
  if(!s)
    s = mw_tx_begin(c);
  if(!s)
    s = recorded(c, want, found, p);
  if(!s && skip_if && !strcmp(found, skip_if)) {
    mw_tx_rollback(c); /* another replica did it a moment ago */
    return store->secret_scrub(c, 1);
  }
  for(int col = 0; col < ncols && !s; col++)
    s = walk(c, col, fn, p, &changed);
  if(!s)
    s = store->secret_key_put(c, new_id, mw_now_ms());
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(!s)
    *done = 1;
  mw_status sc = store->secret_scrub(c, 1);
  if(sc && !s)
    mw_log(MW_LOG_WARN, "secrets",
           "could not truncate the WAL (%s): replaced values stay in it until "
           "the next checkpoint",
           mw_strerror(sc));
  if(s && !p->err[0])
    snprintf(p->err, p->cap, "the pass over the stored credentials failed: %s",
             mw_strerror(s));
  return s;
}

mw_status mw_secrets_check(mw_db *db, const mw_secret_key *k, mw_secrets_stats *st,
                           char *err, size_t cap) {
  mw_secrets_stats local = {0, 0, 0};
  struct pass p = {k, NULL, err, cap, st ? st : &local};
  *p.st = local;
  err[0] = 0;
  mw_conn *c = mw_db_conn(db);
  if(!c) {
    snprintf(err, cap, "cannot connect to the database");
    return MW_EDB;
  }
  char found[16];
  /* Every start but the first: one read, no write lock. */
  mw_status s = recorded(c, k->id, found, &p);
  if(!s && !found[0]) {
    int done;
    s = run_pass(c, seal_one, MW__COLS, k->id, k->id, k->id, &p, &done);
    if(!s && done && (p.st->sealed || p.st->outbox))
      mw_log(MW_LOG_INFO, "secrets",
             "first start with encryption at rest: %ld credential(s) encrypted "
             "with key %s, %ld outbox URL(s) cut down to scheme and host",
             p.st->sealed, k->id, p.st->outbox);
  }
  return s ? s : mw_secrets_attach(db, k);
}

mw_status mw_secrets_rotate(mw_db *db, const mw_secret_key *old_key,
                            const mw_secret_key *new_key, mw_secrets_stats *st,
                            char *err, size_t cap) {
  mw_secrets_stats local = {0, 0, 0};
  struct pass p = {old_key, new_key, err, cap, st ? st : &local};
  *p.st = local;
  if(!strcmp(old_key->id, new_key->id)) {
    snprintf(err, cap, "the new key is the key in use (%s)", old_key->id);
    return MW_EINVAL;
  }
  /* A database no server of this version has started on yet is sealed
   * under the old key first. */
  mw_status s = mw_secrets_check(db, old_key, NULL, err, cap);
  if(s)
    return s;
  mw_conn *c = mw_db_conn(db);
  int done;
  s = run_pass(c, reseal_one, MW_SECRET_COLS, old_key->id, NULL, new_key->id, &p,
               &done);
  return s ? s : mw_secrets_attach(db, new_key);
}

/* ------------------------------------------------------------ at start */

/* The key of a start: the file there is, or a new one when the database
 * holds nothing encrypted yet. */
static mw_status start_key(const char *path, int explicit_file, const char *db_id,
                           mw_secret_key *k, char *err, size_t cap) {
  struct stat sb;
  if(explicit_file || stat(path, &sb) == 0 || errno != ENOENT)
    return mw_secret_key_load(path, k, err, cap);
  if(db_id[0]) {
    snprintf(err, cap,
             "the database's credentials are encrypted with key %s, and there is "
             "no key file at %s: put that key file there (it is in neither the "
             "database nor its backups), or name it with --secret-key-file "
             "(MODELWATCH_SECRET_KEY_FILE)",
             db_id, path);
    return MW_ENOTFOUND;
  }
  mw_status s = mw_secret_key_create(path, k, err, cap);
  if(s == MW_ECONFLICT) /* another process made it a moment ago */
    return mw_secret_key_load(path, k, err, cap);
  if(!s)
    mw_log(MW_LOG_INFO, "secrets",
           "created the secret key %s (key %s): it encrypts the channel URLs and "
           "the webhook secrets in the database; keep a copy apart from the "
           "backups, and give the same file to every replica",
           path, k->id);
  return s;
}

mw_status mw_secrets_open(mw_db *db, const mw_config *cfg, char *path,
                          size_t pathcap, char *err, size_t cap) {
  int explicit_file = 0;
  err[0] = 0;
  if(mw_secret_key_path(cfg, path, pathcap, &explicit_file)) {
    snprintf(err, cap, "the secret key file's path is too long");
    return MW_EINVAL;
  }
  mw_conn *c = mw_db_conn(db);
  char db_id[16];
  mw_status s = c ? mw_secrets_db_key_id(c, db_id) : MW_EDB;
  if(s) {
    snprintf(err, cap, "cannot read the database's key id: %s", mw_strerror(s));
    return s;
  }
  mw_secret_key k;
  s = start_key(path, explicit_file, db_id, &k, err, cap);
  char why[512] = "";
  if(!s)
    s = mw_secrets_check(db, &k, NULL, why, sizeof why);
  if(s == MW_ECONFLICT)
    snprintf(err, cap,
             "%s (from %s). Every replica and every restart must use the key the "
             "database is encrypted with: name its file with --secret-key-file "
             "(MODELWATCH_SECRET_KEY_FILE) or put it at <data-dir>/secret.key; "
             "after `modelwatch rotate-key`, that is the new key file",
             why, path);
  else if(s && why[0])
    snprintf(err, cap, "%s", why);
  if(!s)
    mw_log(MW_LOG_INFO, "secrets", "credentials encrypted at rest with key %s (%s)",
           k.id, path);
  mw_secret_key_wipe(&k);
  return s;
}
