/* registry/artifacts.c - the content-addressed artifact store. An upload
 * streams into a temporary file while it is hashed; only a body whose digest
 * matches the one the client announced is fsynced and renamed into
 * artifacts/sha256/<first two hex>/<digest>, so a crash or a bad upload
 * never leaves a partial artifact under a real name. */
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
  u->fd = mkostemp(u->tmp, O_CLOEXEC);
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
  unlink(u->tmp);
  EVP_MD_CTX_free(u->md);
  free(u);
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
  char final[1200], dir[1200];
  reg_artifact_path(env, hex, final, sizeof final);
  snprintf(dir, sizeof dir, "%s/artifacts/sha256/%.2s", env->data_dir, hex);
  mw_status s = MW_OK;
  if(fsync(u->fd) != 0 || mkdir_p(dir)) {
    reg_upload_abort(u);
    return mw_errf(err, MW_EIO, "cannot store the artifact");
  }
  int64_t size = u->size;
  struct stat sb;
  if(stat(final, &sb) == 0 && sb.st_size == size) {
    /* Same content already stored: keep one copy. */
    unlink(u->tmp);
  } else if(rename(u->tmp, final) != 0) {
    reg_upload_abort(u);
    return mw_errf(err, MW_EIO, "cannot store the artifact");
  } else {
    fsync_dir(dir);
  }
  close(u->fd);
  EVP_MD_CTX_free(u->md);
  free(u);

  s = mw_tx_begin(c);
  if(s)
    return s;
  sqlite3_stmt *st = mw_stmt(
      c, "UPDATE model_versions SET status = 'ready', sha256 = ?1, size = ?2 "
         "WHERE version = ?3 AND status = 'pending' AND model_id = "
         "(SELECT id FROM models WHERE name = ?4)");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  mw_bind_text(st, 1, hex);
  sqlite3_bind_int64(st, 2, size);
  sqlite3_bind_int64(st, 3, version);
  mw_bind_text(st, 4, model);
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(!s && sqlite3_changes(mw_conn_handle(c)) == 0) {
    /* Either gone or already ready (a concurrent upload won). */
    reg_version_info vi;
    s = reg_version_lookup(c, model, version, &vi, err);
    reg_version_info_free(&vi);
    if(!s)
      s = mw_errf(err, MW_ECONFLICT, "version %lld already has its artifact",
                  (long long)version);
    goto out;
  }
  char target[300];
  snprintf(target, sizeof target, "%s/%lld", model, (long long)version);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "sha256", hex);
  cJSON_AddNumberToObject(det, "size", (double)size);
  if(!s)
    s = mw_audit(c, actor, "artifact.upload", target, det);
  cJSON_Delete(det);
  if(!s)
    s = mw_tx_commit(c);
  if(!s)
    s = reg_version_get(c, model, version, out, err);
out:
  mw_tx_rollback(c);
  return s;
}
