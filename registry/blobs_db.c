/* registry/blobs_db.c - the database artifact store (registry/blobs.h):
 * artifacts as chunks of REG_BLOB_CHUNK bytes in the database, so that
 * every replica sharing it serves every artifact, with nothing shared on
 * disk. The statements are the registry store's (blob_* in
 * registry/store.h, tables artifact_blobs and artifact_chunks).
 *
 * Writing. The writer fills one chunk in memory; each full chunk goes to
 * the database in a short write transaction of its own, under a blob row
 * that has no name yet, so an upload of any size holds at most one chunk in
 * memory and the write lock for one chunk at a time (other writers run in
 * between). The last, partial chunk is written by commit inside the
 * transaction that marks the version ready, which also names the blob by
 * its sha256: a small artifact costs that one transaction. A blob whose
 * upload failed or lost is deleted by end; one whose process died first is
 * left without a name, and the collector's purge_uploads deletes it once
 * older than its grace period.
 *
 * Reading fetches one chunk per read of an empty buffer (one indexed
 * query; on PostgreSQL a binary result of at most one chunk), so a
 * download also holds one chunk in memory.
 *
 * Costs: write: one write transaction per REG_BLOB_CHUNK bytes (an INSERT
 * and an UPDATE of the blob's time); commit: 2-3 statements; read: one
 * query per chunk; list: one query per 64 names; remove and end: one
 * DELETE (chunks go with their blob: ON DELETE CASCADE). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "registry/blobs.h"
#include "registry/store.h"

struct reg_blob_writer {
  mw_conn *c;
  int64_t id;       /* the blob row; 0 until the first chunk is written */
  int64_t seq;      /* next chunk number */
  int id_in_commit; /* the blob row was created inside commit's transaction */
  unsigned char *buf;
  size_t len; /* bytes waiting in buf */
};

struct reg_blob_reader {
  mw_conn *c;
  int64_t id, seq;
  unsigned char *buf;
  size_t len, pos;
};

static mw_status db_begin(mw_conn *c, const struct reg_env *env,
                          reg_blob_writer **out) {
  (void)env;
  *out = NULL;
  reg_blob_writer *w = calloc(1, sizeof *w);
  if(!w || !(w->buf = malloc(REG_BLOB_CHUNK))) {
    free(w);
    return MW_ENOMEM;
  }
  w->c = c;
  *out = w;
  return MW_OK;
}

/* Writes the waiting bytes as the next chunk (creating the blob row on
 * the first), inside the caller's write transaction. */
static mw_status put_chunk(reg_blob_writer *w) {
  assert(mw_tx_state(w->c) == 1 && w->len > 0);
  const struct reg_store *st = reg__store(w->c);
  int64_t now = mw_now_ms();
  mw_status s = w->id ? MW_OK : st->blob_create(w->c, now, &w->id);
  if(!s)
    s = st->blob_chunk_put(w->c, w->id, w->seq, w->buf, w->len, now);
  if(!s) {
    w->seq++;
    w->len = 0;
  }
  return s;
}

/* A full chunk, in a write transaction of its own. */
static mw_status flush_chunk(reg_blob_writer *w) {
  mw_status s = mw_tx_begin(w->c);
  if(s)
    return s;
  s = put_chunk(w);
  if(!s)
    return mw_tx_commit(w->c);
  mw_tx_rollback(w->c);
  return s;
}

static mw_status db_write(reg_blob_writer *w, const void *data, size_t len) {
  const unsigned char *p = data;
  while(len > 0) {
    size_t n = REG_BLOB_CHUNK - w->len;
    if(n > len)
      n = len;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    p += n;
    len -= n;
    mw_status s = w->len == REG_BLOB_CHUNK ? flush_chunk(w) : MW_OK;
    if(s)
      return s;
  }
  return MW_OK;
}

static mw_status db_sync(reg_blob_writer *w) {
  /* Full chunks are committed already; the tail goes with commit. */
  (void)w;
  return MW_OK;
}

static mw_status db_commit(reg_blob_writer *w, const char *sha256, int64_t size,
                           int *placed) {
  assert(mw_tx_state(w->c) == 1);
  const struct reg_store *st = reg__store(w->c);
  *placed = 0;
  int64_t id = 0, have = 0;
  mw_status s = st->blob_find(w->c, sha256, &id, &have);
  if(!s && have == size)
    return MW_OK; /* same content already stored: keep one copy */
  /* A blob of another size under this name was damaged: this one
   * replaces it. */
  if(!s)
    s = st->blob_delete(w->c, id, 0);
  else if(s == MW_ENOTFOUND)
    s = MW_OK;
  w->id_in_commit = !w->id;
  if(!s && (w->len > 0 || !w->id))
    s = w->len > 0 ? put_chunk(w) : st->blob_create(w->c, mw_now_ms(), &w->id);
  if(!s)
    s = st->blob_name(w->c, w->id, sha256, size, mw_now_ms());
  if(!s)
    *placed = 1;
  return s;
}

static void db_end(reg_blob_writer *w, int kept) {
  if(!w)
    return;
  /* Deletes the blob only while it has no name: a name this writer gave
   * in a transaction that then failed was rolled back with it. A row
   * created in that transaction went with it too, and its id may be
   * another upload's by now (SQLite hands the highest rowid out again). */
  if(!kept && w->id && !w->id_in_commit) {
    mw_status s = mw_tx_begin(w->c);
    if(!s)
      s = reg__store(w->c)->blob_delete(w->c, w->id, 1);
    if(!s)
      s = mw_tx_commit(w->c);
    else
      mw_tx_rollback(w->c);
    if(s)
      mw_log(MW_LOG_WARN, "registry",
             "could not drop the chunks of a failed upload (%s); the collector "
             "will",
             mw_strerror(s));
  }
  free(w->buf);
  free(w);
}

static mw_status db_open(mw_conn *c, const struct reg_env *env, const char *sha256,
                         reg_blob_reader **out) {
  (void)env;
  *out = NULL;
  int64_t id = 0, size = 0;
  mw_status s = reg__store(c)->blob_find(c, sha256, &id, &size);
  if(s)
    return s;
  reg_blob_reader *r = calloc(1, sizeof *r);
  if(!r || !(r->buf = malloc(REG_BLOB_CHUNK))) {
    free(r);
    return MW_ENOMEM;
  }
  r->c = c;
  r->id = id;
  *out = r;
  return MW_OK;
}

static mw_status db_read(reg_blob_reader *r, void *buf, size_t cap, size_t *n) {
  *n = 0;
  if(r->pos == r->len) {
    size_t got = 0;
    mw_status s = reg__store(r->c)->blob_chunk_get(r->c, r->id, r->seq, r->buf,
                                                   REG_BLOB_CHUNK, &got);
    if(s == MW_ENOTFOUND)
      return MW_OK; /* past the last chunk: the end */
    if(s)
      return s;
    r->seq++;
    r->len = got;
    r->pos = 0;
  }
  size_t k = r->len - r->pos < cap ? r->len - r->pos : cap;
  memcpy(buf, r->buf + r->pos, k);
  r->pos += k;
  *n = k;
  return MW_OK;
}

static void db_close(reg_blob_reader *r) {
  if(!r)
    return;
  free(r->buf);
  free(r);
}

static mw_status db_exists(mw_conn *c, const struct reg_env *env, const char *sha256,
                           int *yes) {
  (void)env;
  int64_t id, size;
  mw_status s = reg__store(c)->blob_find(c, sha256, &id, &size);
  *yes = s == MW_OK;
  return s == MW_ENOTFOUND ? MW_OK : s;
}

static mw_status db_remove(mw_conn *c, const struct reg_env *env,
                           const char *sha256) {
  (void)env;
  assert(mw_tx_state(c) == 1);
  int64_t id, size;
  mw_status s = reg__store(c)->blob_find(c, sha256, &id, &size);
  return s ? s : reg__store(c)->blob_delete(c, id, 0);
}

static mw_status db_list(mw_conn *c, const struct reg_env *env,
                         mw_status (*fn)(void *, const char *, int64_t), void *ctx) {
  (void)env;
  enum { PAGE = 64 };
  struct reg_blob_row rows[PAGE];
  char after[65] = "";
  int n = 0;
  mw_status s;
  /* A page at a time, read to its end before fn runs: fn may delete. */
  do {
    s = reg__store(c)->blob_list(c, after, PAGE, rows, &n);
    for(int i = 0; !s && i < n; i++)
      s = fn(ctx, rows[i].sha256, rows[i].touched_at);
    if(n > 0)
      memcpy(after, rows[n - 1].sha256, sizeof after);
  } while(!s && n == PAGE);
  return s;
}

static mw_status db_purge_uploads(mw_conn *c, const struct reg_env *env,
                                  int64_t before_ms, int64_t *removed) {
  (void)env;
  *removed = 0;
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = reg__store(c)->blob_purge_unnamed(c, before_ms, removed);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

const struct reg_blob_store reg_blobs_db = {
    .name = "database",
    .begin = db_begin,
    .write = db_write,
    .sync = db_sync,
    .commit = db_commit,
    .end = db_end,
    .open = db_open,
    .read = db_read,
    .close = db_close,
    .exists = db_exists,
    .remove = db_remove,
    .list = db_list,
    .purge_uploads = db_purge_uploads,
};
