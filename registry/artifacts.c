/* registry/artifacts.c - the content-addressed artifact store. An upload
 * streams into a temporary file while it is hashed; only a body whose digest
 * matches the one the client announced is fsynced and renamed into
 * artifacts/sha256/<first two hex>/<digest>, so a crash or a bad upload
 * never leaves a partial artifact under a real name.
 *
 * Collection. A blob is renamed into place inside the write transaction
 * that marks its version ready, after the UPDATE that proves the version
 * was still pending, and the collector deletes a blob only inside a write
 * transaction that found no version naming it. Both hold SQLite's write
 * lock (across processes too), so the collector can never fall between
 * "blob in place" and "row committed": it sees the row, or the blob is not
 * there yet. An upload that loses (another won the version, or its
 * transaction failed) never leaves its blob: it was not placed, or it is
 * taken back when nothing names it. The sweep (reg_artifact_sweep, at
 * start-up and hourly) removes blobs no version names - those of deleted
 * models - and temporary files of interrupted uploads, only when older
 * than a grace period: a safety margin for writers that do not follow
 * this protocol (an older binary during an upgrade, a restore copying
 * files in). Everything here is private: directories 0700, files 0600. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/db_sqlite.h"
#include "registry/internal.h"

struct reg_upload {
  int fd;
  char tmp[1200];
  EVP_MD_CTX *md;
  int64_t size;
};

static mw_status mkdir_p(const char *path) {
  char buf[1200];
  if(mw_strlcpy(buf, path, sizeof buf))
    return MW_EINVAL;
  for(char *p = buf + 1; *p; p++) {
    if(*p != '/')
      continue;
    *p = '\0';
    if(mkdir(buf, 0700) != 0 && errno != EEXIST)
      return MW_EIO;
    *p = '/';
  }
  if(mkdir(buf, 0700) != 0 && errno != EEXIST)
    return MW_EIO;
  return MW_OK;
}

static void fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

mw_status reg_artifact_path(const struct reg_env *env, const char *sha256,
                            char *buf, size_t cap) {
  if(strlen(sha256) != 64)
    return MW_EINVAL;
  int n = snprintf(buf, cap, "%s/artifacts/sha256/%.2s/%s", env->data_dir, sha256,
                   sha256);
  return n > 0 && (size_t)n < cap ? MW_OK : MW_EINVAL;
}

mw_status reg_upload_begin(const struct reg_env *env, reg_upload **out,
                           mw_err *err) {
  *out = NULL;
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/artifacts/tmp", env->data_dir);
  if(mkdir_p(dir))
    return mw_errf(err, MW_EIO, "cannot create the artifact directory");
  reg_upload *u = calloc(1, sizeof *u);
  if(!u)
    return MW_ENOMEM;
  snprintf(u->tmp, sizeof u->tmp, "%s/upload-XXXXXX", dir);
  u->fd = mkostemp(u->tmp, O_CLOEXEC); /* mode 0600 */
  u->md = EVP_MD_CTX_new();
  if(u->fd < 0 || !u->md || !EVP_DigestInit_ex(u->md, EVP_sha256(), NULL)) {
    mw_log(MW_LOG_ERROR, "registry", "cannot start upload in %s: %s", dir,
           strerror(errno));
    if(u->fd >= 0) {
      close(u->fd);
      unlink(u->tmp);
    }
    EVP_MD_CTX_free(u->md);
    free(u);
    return mw_errf(err, MW_EIO, "cannot store the upload");
  }
  *out = u;
  return MW_OK;
}

mw_status reg_upload_write(reg_upload *u, const void *data, size_t len,
                           int64_t limit, mw_err *err) {
  if(u->size + (int64_t)len > limit)
    return mw_errf(err, MW_ETOOBIG, "artifact exceeds the limit of %lld bytes",
                   (long long)limit);
  const char *p = data;
  size_t left = len;
  while(left > 0) {
    ssize_t n = write(u->fd, p, left);
    if(n < 0) {
      if(errno == EINTR)
        continue;
      mw_log(MW_LOG_ERROR, "registry", "upload write failed: %s", strerror(errno));
      return mw_errf(err, MW_EIO, "cannot store the upload");
    }
    p += n;
    left -= (size_t)n;
  }
  EVP_DigestUpdate(u->md, data, len);
  u->size += (int64_t)len;
  return MW_OK;
}

void reg_upload_abort(reg_upload *u) {
  if(!u)
    return;
  close(u->fd);
  if(u->tmp[0])
    unlink(u->tmp);
  EVP_MD_CTX_free(u->md);
  free(u);
}

/* 1 when some version names the blob sha256 (inside the caller's
 * transaction); 0 when none; -1 on a database error (*st filled). */
static int referenced(mw_conn *c, const char *sha256, mw_status *st) {
  sqlite3_stmt *q = mw_stmt(c, "SELECT 1 FROM model_versions WHERE sha256 = ? "
                               "LIMIT 1");
  if(q)
    mw_bind_text(q, 1, sha256);
  int row = 0;
  *st = mw_step_row(c, q, &row);
  if(*st)
    return -1;
  sqlite3_reset(q);
  return row;
}

/* Removes the blob sha256 when no version names it, in a write transaction
 * of its own: the end of an upload that placed its blob and then failed. */
static void drop_if_unreferenced(mw_conn *c, const struct reg_env *env,
                                 const char *sha256) {
  char path[1200];
  if(reg_artifact_path(env, sha256, path, sizeof path))
    return;
  mw_status st = mw_tx_begin(c);
  int ref = st ? -1 : referenced(c, sha256, &st);
  if(ref == 0 && unlink(path) != 0 && errno != ENOENT)
    mw_log(MW_LOG_WARN, "registry", "cannot remove %s: %s", path, strerror(errno));
  mw_tx_rollback(c); /* nothing was written */
  if(ref < 0)
    mw_log(MW_LOG_WARN, "registry",
           "could not check artifact %.12s after a failed upload; the sweep will",
           sha256);
}

/* Puts the verified temporary file of u under its content address (inside
 * the caller's write transaction). *placed: 1 when this upload created the
 * blob, 0 when the same content was there already (then the temporary
 * file is dropped and the blob's time refreshed). Either way u->tmp is
 * emptied: its name is free again and may be another upload's by now. */
static mw_status place_blob(const struct reg_env *env, reg_upload *u,
                            const char *hex, int64_t size, int *placed) {
  char final[1200], dir[1200];
  *placed = 0;
  if(reg_artifact_path(env, hex, final, sizeof final))
    return MW_EINVAL;
  snprintf(dir, sizeof dir, "%s/artifacts/sha256/%.2s", env->data_dir, hex);
  if(mkdir_p(dir))
    return MW_EIO;
  struct stat sb;
  if(stat(final, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size) {
    /* Same content already stored: keep one copy. */
    unlink(u->tmp);
    u->tmp[0] = '\0';
    utimensat(AT_FDCWD, final, NULL, 0);
    return MW_OK;
  }
  if(rename(u->tmp, final) != 0) {
    mw_log(MW_LOG_ERROR, "registry", "cannot move the upload to %s: %s", final,
           strerror(errno));
    return MW_EIO;
  }
  u->tmp[0] = '\0';
  fsync_dir(dir);
  *placed = 1;
  return MW_OK;
}

mw_status reg_upload_commit(mw_conn *c, const struct reg_env *env, reg_upload *u,
                            const char *model, int64_t version,
                            const char *expected_sha256, const char *actor,
                            cJSON **out, mw_err *err) {
  *out = NULL;
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex(u->md, md, &mdlen);
  char hex[65];
  for(int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  if(strcmp(hex, expected_sha256) != 0) {
    cJSON *det = cJSON_CreateObject();
    cJSON_AddStringToObject(det, "expected", expected_sha256);
    cJSON_AddStringToObject(det, "actual", hex);
    cJSON_AddNumberToObject(det, "size", (double)u->size);
    reg_upload_abort(u);
    if(err)
      err->details = det;
    else
      cJSON_Delete(det);
    return mw_errf(err, MW_EVALIDATION,
                   "the body's sha256 differs from X-Content-SHA256; nothing kept");
  }
  /* The slow part (the data reaching the disk) before the write lock. */
  if(fsync(u->fd) != 0) {
    reg_upload_abort(u);
    return mw_errf(err, MW_EIO, "cannot store the artifact");
  }
  int64_t size = u->size;
  int placed = 0;
  mw_status s = mw_tx_begin(c);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(
      c, "UPDATE model_versions SET status = 'ready', sha256 = ?1, size = ?2 "
         "WHERE version = ?3 AND status = 'pending' AND model_id = "
         "(SELECT id FROM models WHERE name = ?4)");
  if(st) {
    mw_bind_text(st, 1, hex);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, version);
    mw_bind_text(st, 4, model);
  }
  if((s = mw_step_done(c, st)))
    goto out;
  if(sqlite3_changes(mw_conn_handle(c)) == 0) {
    /* Either gone or already ready (a concurrent upload won): this upload
     * never reaches the store. */
    reg_version_info vi;
    s = reg_version_lookup(c, model, version, &vi, err);
    reg_version_info_free(&vi);
    if(!s)
      s = mw_errf(err, MW_ECONFLICT, "version %lld already has its artifact",
                  (long long)version);
    goto out;
  }
  if((s = place_blob(env, u, hex, size, &placed))) {
    mw_errf(err, s, "cannot store the artifact");
    goto out;
  }
  char target[300];
  snprintf(target, sizeof target, "%s/%lld", model, (long long)version);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "sha256", hex);
  cJSON_AddNumberToObject(det, "size", (double)size);
  s = mw_audit(c, actor, "artifact.upload", target, det);
  cJSON_Delete(det);
  /* The answer is read before COMMIT, so that an error always means
   * nothing was stored. */
  if(!s)
    s = reg_version_get(c, model, version, out, err);
  if(!s)
    s = mw_tx_commit(c);
  if(!s)
    placed = 0; /* named by its version now */
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
out:
  mw_tx_rollback(c);
  if(placed)
    drop_if_unreferenced(c, env, hex);
  reg_upload_abort(u); /* the temporary file, when it was not placed */
  return s;
}

/* ------------------------------------------------------------- sweep */

static int is_hex64(const char *s) {
  size_t n = strspn(s, "0123456789abcdef");
  return n == 64 && s[64] == '\0';
}

/* Narrows a directory to 0700 or a file to 0600 when group or others may
 * use it (stores made by older binaries, or copied in). */
static void tighten(const char *path, const struct stat *sb) {
  mode_t want = S_ISDIR(sb->st_mode) ? 0700 : 0600;
  if((sb->st_mode & 077) && chmod(path, want) != 0)
    mw_log(MW_LOG_WARN, "registry", "cannot make %s private: %s", path,
           strerror(errno));
}

/* Deletes, in one write transaction, the blobs of names[0..n) that no
 * version names. */
static mw_status collect_batch(mw_conn *c, const char *dir, char (*names)[65],
                               size_t n, reg_sweep_stats *stats) {
  mw_status s = mw_tx_begin(c);
  for(size_t i = 0; !s && i < n; i++) {
    int ref = referenced(c, names[i], &s);
    if(ref != 0)
      continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if(unlink(path) == 0) {
      stats->blobs_removed++;
      mw_log(MW_LOG_INFO, "registry", "removed artifact %s: no version names it",
             names[i]);
    } else if(errno != ENOENT) {
      mw_log(MW_LOG_WARN, "registry", "cannot remove %s: %s", path, strerror(errno));
    }
  }
  mw_tx_rollback(c); /* read only: the lock was the point */
  return s;
}

/* One <xx> directory of the store: candidates are files named by a digest
 * and older than cutoff_s. */
static mw_status sweep_dir(mw_conn *c, const char *dir, int64_t cutoff_s,
                           reg_sweep_stats *stats) {
  enum { BATCH = 64 };
  char names[BATCH][65];
  size_t n = 0;
  mw_status s = MW_OK;
  DIR *d = opendir(dir);
  if(!d)
    return errno == ENOENT ? MW_OK : MW_EIO;
  struct dirent *e;
  while(!s && (e = readdir(d))) {
    if(e->d_name[0] == '.')
      continue;
    char path[1600];
    struct stat sb;
    if(snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
      continue;
    if(lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    tighten(path, &sb);
    stats->blobs_seen++;
    if(!is_hex64(e->d_name) || (int64_t)sb.st_mtime > cutoff_s)
      continue;
    memcpy(names[n++], e->d_name, 65);
    if(n == BATCH) {
      s = collect_batch(c, dir, names, n, stats);
      n = 0;
    }
  }
  closedir(d);
  if(!s && n)
    s = collect_batch(c, dir, names, n, stats);
  return s;
}

/* Temporary files of uploads that never finished (a crash, a dropped
 * connection whose handler died): older than cutoff_s, nothing writes them. */
static void sweep_tmp(const char *dir, int64_t cutoff_s, reg_sweep_stats *stats) {
  DIR *d = opendir(dir);
  if(!d)
    return;
  struct dirent *e;
  while((e = readdir(d))) {
    if(strncmp(e->d_name, "upload-", 7) != 0)
      continue;
    char path[1600];
    struct stat sb;
    if(snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
      continue;
    if(lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    tighten(path, &sb);
    if((int64_t)sb.st_mtime > cutoff_s)
      continue;
    if(unlink(path) == 0)
      stats->temps_removed++;
  }
  closedir(d);
}

mw_status reg_artifact_sweep(mw_conn *c, const struct reg_env *env,
                             int64_t grace_ms, reg_sweep_stats *stats) {
  assert(grace_ms >= 0);
  memset(stats, 0, sizeof *stats);
  int64_t cutoff_s = (mw_now_ms() - grace_ms) / 1000;
  char root[1100], dir[1200];
  struct stat sb;
  static const char *const own[] = {"artifacts", "artifacts/sha256",
                                    "artifacts/tmp"};
  for(size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
    snprintf(dir, sizeof dir, "%s/%s", env->data_dir, own[i]);
    if(lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
      tighten(dir, &sb);
  }
  snprintf(dir, sizeof dir, "%s/artifacts/tmp", env->data_dir);
  sweep_tmp(dir, cutoff_s, stats);
  snprintf(root, sizeof root, "%s/artifacts/sha256", env->data_dir);
  DIR *d = opendir(root);
  if(!d)
    return errno == ENOENT ? MW_OK : MW_EIO;
  mw_status s = MW_OK;
  struct dirent *e;
  while(!s && (e = readdir(d))) {
    if(e->d_name[0] == '.' || strlen(e->d_name) != 2)
      continue;
    if(snprintf(dir, sizeof dir, "%s/%s", root, e->d_name) >= (int)sizeof dir ||
       lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
      continue;
    tighten(dir, &sb);
    s = sweep_dir(c, dir, cutoff_s, stats);
  }
  closedir(d);
  return s;
}
