/* registry/artifacts.c - artifacts above their seam (registry/blobs.h):
 * uploads verified by sha256 and committed with their version, downloads
 * verified again while they are read, and the collector of artifacts no
 * version names. The bytes live in the store --artifact-store picks (a
 * directory, or the database); everything here holds for both.
 *
 * Uploads. The body streams into the store while it is hashed; only a
 * body whose digest matches the one the client announced is synced and
 * committed under its digest, inside the write transaction that marks its
 * version ready, after the UPDATE that proves the version was still
 * pending. An upload that loses (another won the version, or its
 * transaction failed) leaves nothing no version names: its bytes were not
 * placed, or they are taken back when nothing names them.
 *
 * Downloads are verified on the way out: the digest of the bytes read is
 * compared with the artifact's name before the piece that completes them
 * is handed out (reg_artifact_read). The first piece holds up to 1 MiB:
 * an artifact of at most that is verified before its caller sends a
 * header, and the caller answers an error; a larger one whose stored bytes
 * no longer match is cut short before its last piece, so the client sees a
 * transfer shorter than its Content-Length, never a complete body of
 * corrupt bytes. Verifying costs one pass of SHA-256 over the bytes (about
 * 0.6 ms of CPU per MB with the SHA extensions), measured against a plain
 * copy in tests/bench/bench_registry.py.
 *
 * Collection. The collector removes an artifact only inside a write
 * transaction that found no version naming it, and uploads place theirs
 * inside the write transaction that commits their version: both hold the
 * database's write lock (across processes and replicas too), so the
 * collector can never fall between "artifact in place" and "version
 * committed". The sweep (reg_artifact_sweep, at start-up and hourly)
 * removes artifacts no version names - those of deleted models - and
 * uploads that never ended, only when older than a grace period: a safety
 * margin for writers that do not follow this protocol (an older binary
 * during an upgrade, a restore copying files in).
 *
 * Costs: an upload hashes each byte once and costs what its store's
 * writes cost, plus one write transaction of 4-6 statements; a download
 * hashes each byte once; the sweep lists the store once and runs one write
 * transaction per 64 candidates, one indexless lookup of model_versions
 * per candidate. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "registry/blobs.h"
#include "registry/internal.h"

const struct reg_blob_store *reg__blobs(const struct reg_env *env) {
  return env->artifacts == MW_ARTIFACTS_DATABASE ? &reg_blobs_db : &reg_blobs_dir;
}

static void hex_digest(EVP_MD_CTX *md, char hex[65]) {
  unsigned char d[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md, d, &len);
  assert(len == 32);
  for(int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* ------------------------------------------------------------------ uploads */

struct reg_upload {
  mw_conn *c;
  struct reg_env env;
  const struct reg_blob_store *bs;
  reg_blob_writer *w;
  EVP_MD_CTX *md;
  int64_t size;
};

mw_status reg_upload_begin(mw_conn *c, const struct reg_env *env, reg_upload **out,
                           mw_err *err) {
  *out = NULL;
  reg_upload *u = calloc(1, sizeof *u);
  if(!u)
    return MW_ENOMEM;
  u->c = c;
  u->env = *env;
  u->bs = reg__blobs(env);
  u->md = EVP_MD_CTX_new();
  mw_status s = u->md && EVP_DigestInit_ex(u->md, EVP_sha256(), NULL)
                    ? u->bs->begin(c, env, &u->w)
                    : MW_ENOMEM;
  if(s) {
    EVP_MD_CTX_free(u->md);
    free(u);
    return mw_errf(err, s, "cannot store the upload");
  }
  *out = u;
  return MW_OK;
}

mw_status reg_upload_write(reg_upload *u, const void *data, size_t len,
                           int64_t limit, mw_err *err) {
  if(u->size + (int64_t)len > limit)
    return mw_errf(err, MW_ETOOBIG, "artifact exceeds the limit of %lld bytes",
                   (long long)limit);
  mw_status s = u->bs->write(u->w, data, len);
  if(s)
    return mw_errf(err, s, "cannot store the upload");
  EVP_DigestUpdate(u->md, data, len);
  u->size += (int64_t)len;
  return MW_OK;
}

/* Ends u: kept = 1 when a committed transaction named its bytes. */
static void upload_end(reg_upload *u, int kept) {
  if(!u)
    return;
  u->bs->end(u->w, kept);
  EVP_MD_CTX_free(u->md);
  free(u);
}

void reg_upload_abort(reg_upload *u) { upload_end(u, 0); }

/* Removes the artifact sha256 when no version names it, in a write
 * transaction of its own: the end of an upload that placed it and then
 * failed. */
static void drop_if_unreferenced(mw_conn *c, const struct reg_env *env,
                                 const char *sha256) {
  mw_status s = mw_tx_begin(c);
  int ref = 1;
  if(!s)
    s = reg__store(c)->sha_referenced(c, sha256, &ref);
  if(!s && !ref && (s = reg__blobs(env)->remove(c, env, sha256)) == MW_ENOTFOUND)
    s = MW_OK;
  if(!s)
    s = mw_tx_commit(c);
  else
    mw_tx_rollback(c);
  if(s)
    mw_log(MW_LOG_WARN, "registry",
           "could not check artifact %.12s after a failed upload; the sweep will",
           sha256);
}

/* The refusal of a body whose digest hex is not the announced one. */
static mw_status digest_refused(const reg_upload *u, const char *expected,
                                const char *hex, mw_err *err) {
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "expected", expected);
  cJSON_AddStringToObject(det, "actual", hex);
  cJSON_AddNumberToObject(det, "size", (double)u->size);
  if(err)
    err->details = det;
  else
    cJSON_Delete(det);
  return mw_errf(err, MW_EVALIDATION,
                 "the body's sha256 differs from X-Content-SHA256; nothing kept");
}

/* Inside the caller's write transaction: marks the version ready with the
 * artifact hex, places the bytes (*placed), writes the audit row and reads
 * the answer. */
static mw_status commit_version(mw_conn *c, reg_upload *u, const char *model,
                                int64_t version, const char *hex, const char *actor,
                                cJSON **out, int *placed, mw_err *err) {
  assert(mw_tx_state(c) == 1);
  int changed = 0;
  mw_status s = reg__store(c)->version_set_ready(c, model, version, actor, hex,
                                                 u->size, &changed);
  if(!s && !changed) {
    /* Either gone or already ready (a concurrent upload won): this upload
     * never reaches the store. */
    reg_version_info vi;
    s = reg_version_lookup(c, model, version, &vi, err);
    reg_version_info_free(&vi);
    return s ? s
             : mw_errf(err, MW_ECONFLICT, "version %lld already has its artifact",
                       (long long)version);
  }
  if(!s && (s = u->bs->commit(u->w, hex, u->size, placed)))
    return mw_errf(err, s, "cannot store the artifact");
  if(s)
    return s;
  char target[300];
  snprintf(target, sizeof target, "%s/%lld", model, (long long)version);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "sha256", hex);
  cJSON_AddNumberToObject(det, "size", (double)u->size);
  s = mw_audit(c, actor, "artifact.upload", target, det);
  cJSON_Delete(det);
  /* The answer is read before COMMIT, so that an error always means
   * nothing was stored. */
  if(!s)
    s = reg_version_get(c, model, version, out, err);
  return s ? s : mw_event_emit(c, "version.ready", model, *out);
}

mw_status reg_upload_commit(mw_conn *c, const struct reg_env *env, reg_upload *u,
                            const char *model, int64_t version,
                            const char *expected_sha256, const char *actor,
                            cJSON **out, mw_err *err) {
  *out = NULL;
  assert(c == u->c && env->artifacts == u->env.artifacts);
  char hex[65];
  hex_digest(u->md, hex);
  if(strcmp(hex, expected_sha256) != 0) {
    mw_status s = digest_refused(u, expected_sha256, hex, err);
    upload_end(u, 0);
    return s;
  }
  /* The slow part (the bytes reaching the disk) before the write lock. */
  mw_status s = u->bs->sync(u->w);
  if(s) {
    upload_end(u, 0);
    return mw_errf(err, s, "cannot store the artifact");
  }
  int placed = 0;
  s = mw_tx_begin(c);
  if(!s) {
    s = commit_version(c, u, model, version, hex, actor, out, &placed, err);
    s = reg__commit_answer(c, s, out);
  }
  if(s && placed)
    drop_if_unreferenced(c, env, hex);
  upload_end(u, !s && placed);
  return s;
}

/* ---------------------------------------------------------------- downloads */

/* The first piece of a download holds up to a chunk, so that an artifact
 * of at most that is verified whole before its caller sends anything;
 * later pieces are smaller, to stay in the CPU's cache between the digest
 * and the caller's write. */
#define FIRST_PIECE REG_BLOB_CHUNK
#define PIECE ((size_t)256 << 10)

struct reg_artifact_reader {
  const struct reg_blob_store *bs;
  reg_blob_reader *r;
  EVP_MD_CTX *md;
  char sha256[65];
  int64_t size, done;
  int verified; /* the whole artifact was read and matched its name */
  unsigned char buf[FIRST_PIECE];
};

mw_status reg_artifact_open(mw_conn *c, const struct reg_env *env,
                            const char *sha256, int64_t size,
                            reg_artifact_reader **out, mw_err *err) {
  *out = NULL;
  assert(size >= 0);
  reg_artifact_reader *rd = calloc(1, sizeof *rd);
  if(!rd)
    return MW_ENOMEM;
  rd->bs = reg__blobs(env);
  rd->size = size;
  mw_strlcpy(rd->sha256, sha256, sizeof rd->sha256);
  rd->md = EVP_MD_CTX_new();
  mw_status s = rd->md && EVP_DigestInit_ex(rd->md, EVP_sha256(), NULL)
                    ? rd->bs->open(c, env, sha256, &rd->r)
                    : MW_ENOMEM;
  if(s) {
    EVP_MD_CTX_free(rd->md);
    free(rd);
    if(s != MW_ENOTFOUND)
      return mw_errf(err, s, "cannot read the stored artifact");
    mw_log(MW_LOG_ERROR, "registry", "artifact %s is missing from the %s store",
           sha256, reg__blobs(env)->name);
    return mw_errf(err, MW_EIO, "the stored artifact is missing");
  }
  *out = rd;
  return MW_OK;
}

/* Fills rd->buf with want bytes from the store; MW_EIO when it ends
 * first. */
static mw_status read_full(reg_artifact_reader *rd, size_t want) {
  size_t got = 0;
  while(got < want) {
    size_t k = 0;
    mw_status s = rd->bs->read(rd->r, rd->buf + got, want - got, &k);
    if(s)
      return s;
    if(k == 0) {
      mw_log(MW_LOG_ERROR, "registry",
             "artifact %s: the store holds %lld of its %lld bytes", rd->sha256,
             (long long)(rd->done + (int64_t)got), (long long)rd->size);
      return MW_EIO;
    }
    got += k;
  }
  return MW_OK;
}

/* The end of a download: the digest of everything read against the
 * artifact's name. */
static mw_status verify(reg_artifact_reader *rd) {
  char hex[65];
  hex_digest(rd->md, hex);
  if(strcmp(hex, rd->sha256) == 0) {
    rd->verified = 1;
    return MW_OK;
  }
  mw_log(MW_LOG_ERROR, "registry",
         "artifact %s: the stored bytes hash to %s; not served", rd->sha256, hex);
  return MW_EIO;
}

mw_status reg_artifact_read(reg_artifact_reader *rd, const void **data, size_t *n) {
  *data = rd->buf;
  *n = 0;
  assert(rd->done <= rd->size);
  if(rd->verified)
    return MW_OK;
  int64_t left = rd->size - rd->done;
  size_t cap = rd->done ? PIECE : FIRST_PIECE;
  size_t want = left < (int64_t)cap ? (size_t)left : cap;
  mw_status s = read_full(rd, want);
  if(s)
    return s;
  EVP_DigestUpdate(rd->md, rd->buf, want);
  if(rd->done + (int64_t)want == rd->size && (s = verify(rd)))
    return s;
  rd->done += (int64_t)want;
  *n = want;
  return MW_OK;
}

void reg_artifact_close(reg_artifact_reader *rd) {
  if(!rd)
    return;
  rd->bs->close(rd->r);
  EVP_MD_CTX_free(rd->md);
  free(rd);
}

/* ---------------------------------------------------------------- collector */

static int is_hex64(const char *s) {
  return strspn(s, "0123456789abcdef") == 64 && s[64] == '\0';
}

enum { SWEEP_BATCH = 64 };

struct sweep {
  mw_conn *c;
  const struct reg_env *env;
  int64_t cutoff_ms;
  reg_sweep_stats *stats;
  size_t n;
  char names[SWEEP_BATCH][65];
};

/* Removes, in one write transaction, the candidates no version names. */
static mw_status collect_batch(struct sweep *sw) {
  mw_conn *c = sw->c;
  mw_status s = mw_tx_begin(c);
  for(size_t i = 0; !s && i < sw->n; i++) {
    int ref = 1;
    s = reg__store(c)->sha_referenced(c, sw->names[i], &ref);
    if(s || ref)
      continue;
    mw_status r = reg__blobs(sw->env)->remove(c, sw->env, sw->names[i]);
    if(r == MW_OK) {
      sw->stats->blobs_removed++;
      mw_log(MW_LOG_INFO, "registry", "removed artifact %s: no version names it",
             sw->names[i]);
    }
  }
  sw->n = 0;
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

static mw_status sweep_one(void *ctx, const char *name, int64_t mtime_ms) {
  struct sweep *sw = ctx;
  sw->stats->blobs_seen++;
  if(!is_hex64(name) || mtime_ms > sw->cutoff_ms)
    return MW_OK;
  memcpy(sw->names[sw->n++], name, 65);
  return sw->n == SWEEP_BATCH ? collect_batch(sw) : MW_OK;
}

mw_status reg_artifact_sweep(mw_conn *c, const struct reg_env *env, int64_t grace_ms,
                             reg_sweep_stats *stats) {
  assert(grace_ms >= 0 && mw_tx_state(c) == 0);
  memset(stats, 0, sizeof *stats);
  const struct reg_blob_store *bs = reg__blobs(env);
  struct sweep *sw = calloc(1, sizeof *sw);
  if(!sw)
    return MW_ENOMEM;
  *sw = (struct sweep){c, env, mw_now_ms() - grace_ms, stats, 0, {{0}}};
  mw_status s = bs->purge_uploads(c, env, sw->cutoff_ms, &stats->temps_removed);
  if(!s)
    s = bs->list(c, env, sweep_one, sw);
  if(!s && sw->n)
    s = collect_batch(sw);
  free(sw);
  return s;
}
