/* registry/blobs_dir.c - the directory artifact store (registry/blobs.h):
 * one file per artifact under <data-dir>/artifacts/sha256/<first two
 * hex>/<digest>. An upload streams into a temporary file in
 * <data-dir>/artifacts/tmp (mkostemp, mode 0600); sync fsyncs it before
 * the write lock is taken, and commit renames it under its digest and
 * fsyncs the directory, so a crash or a bad upload never leaves a partial
 * artifact under a real name. When the digest is there already the temporary file is dropped and
 * the stored file's time refreshed: content is kept once. Everything here
 * is private: directories 0700, files 0600; the collector's walk narrows
 * looser modes left by older binaries or copied in.
 *
 * Costs: write is a write(2) per call; sync one fsync of the file; commit
 * a stat, a rename and an fsync of one directory; read a read(2) per call;
 * list reads every directory of the store once. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/blobs.h"

struct reg_blob_writer {
  int fd;
  char tmp[1200]; /* "" once renamed or removed: the name may be reused */
  const char *data_dir;
};

struct reg_blob_reader {
  int fd;
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

/* Path of the artifact sha256 into buf. */
static mw_status blob_path(const char *data_dir, const char *sha256, char *buf,
                           size_t cap) {
  if(strlen(sha256) != 64)
    return MW_EINVAL;
  int n =
      snprintf(buf, cap, "%s/artifacts/sha256/%.2s/%s", data_dir, sha256, sha256);
  return n > 0 && (size_t)n < cap ? MW_OK : MW_EINVAL;
}

static int64_t mtime_ms(const struct stat *sb) {
  return (int64_t)sb->st_mtim.tv_sec * 1000 + sb->st_mtim.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ writing */

static mw_status dir_begin(mw_conn *c, const struct reg_env *env,
                           reg_blob_writer **out) {
  (void)c;
  *out = NULL;
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/artifacts/tmp", env->data_dir);
  if(mkdir_p(dir)) {
    mw_log(MW_LOG_ERROR, "registry", "cannot create %s: %s", dir, strerror(errno));
    return MW_EIO;
  }
  reg_blob_writer *w = calloc(1, sizeof *w);
  if(!w)
    return MW_ENOMEM;
  w->data_dir = env->data_dir;
  snprintf(w->tmp, sizeof w->tmp, "%s/upload-XXXXXX", dir);
  w->fd = mkostemp(w->tmp, O_CLOEXEC); /* mode 0600 */
  if(w->fd < 0) {
    mw_log(MW_LOG_ERROR, "registry", "cannot start upload in %s: %s", dir,
           strerror(errno));
    free(w);
    return MW_EIO;
  }
  *out = w;
  return MW_OK;
}

static mw_status dir_write(reg_blob_writer *w, const void *data, size_t len) {
  const char *p = data;
  while(len > 0) {
    ssize_t n = write(w->fd, p, len);
    if(n < 0) {
      if(errno == EINTR)
        continue;
      mw_log(MW_LOG_ERROR, "registry", "upload write failed: %s", strerror(errno));
      return MW_EIO;
    }
    p += n;
    len -= (size_t)n;
  }
  return MW_OK;
}

static mw_status dir_sync(reg_blob_writer *w) {
  if(fsync(w->fd) == 0)
    return MW_OK;
  mw_log(MW_LOG_ERROR, "registry", "upload fsync failed: %s", strerror(errno));
  return MW_EIO;
}

static mw_status dir_commit(reg_blob_writer *w, const char *sha256, int64_t size,
                            int *placed) {
  char final[1200], dir[1200];
  *placed = 0;
  assert(w->tmp[0]);
  if(blob_path(w->data_dir, sha256, final, sizeof final))
    return MW_EINVAL;
  snprintf(dir, sizeof dir, "%s/artifacts/sha256/%.2s", w->data_dir, sha256);
  if(mkdir_p(dir))
    return MW_EIO;
  struct stat sb;
  if(stat(final, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size) {
    /* Same content already stored: keep one copy. */
    unlink(w->tmp);
    w->tmp[0] = '\0';
    utimensat(AT_FDCWD, final, NULL, 0);
    return MW_OK;
  }
  if(rename(w->tmp, final) != 0) {
    mw_log(MW_LOG_ERROR, "registry", "cannot move the upload to %s: %s", final,
           strerror(errno));
    return MW_EIO;
  }
  w->tmp[0] = '\0';
  fsync_dir(dir);
  *placed = 1;
  return MW_OK;
}

static void dir_end(reg_blob_writer *w, int kept) {
  (void)kept; /* a placed file was renamed away: tmp is empty then */
  if(!w)
    return;
  close(w->fd);
  if(w->tmp[0])
    unlink(w->tmp);
  free(w);
}

/* ------------------------------------------------------------------ reading */

static mw_status dir_open(mw_conn *c, const struct reg_env *env, const char *sha256,
                          reg_blob_reader **out) {
  (void)c;
  *out = NULL;
  char path[1200];
  if(blob_path(env->data_dir, sha256, path, sizeof path))
    return MW_EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    if(errno == ENOENT)
      return MW_ENOTFOUND;
    mw_log(MW_LOG_ERROR, "registry", "cannot open %s: %s", path, strerror(errno));
    return MW_EIO;
  }
  reg_blob_reader *r = malloc(sizeof *r);
  if(!r) {
    close(fd);
    return MW_ENOMEM;
  }
  r->fd = fd;
  *out = r;
  return MW_OK;
}

static mw_status dir_read(reg_blob_reader *r, void *buf, size_t cap, size_t *n) {
  for(;;) {
    ssize_t k = read(r->fd, buf, cap);
    if(k >= 0) {
      *n = (size_t)k;
      return MW_OK;
    }
    if(errno != EINTR) {
      mw_log(MW_LOG_ERROR, "registry", "artifact read failed: %s", strerror(errno));
      return MW_EIO;
    }
  }
}

static void dir_close(reg_blob_reader *r) {
  if(!r)
    return;
  close(r->fd);
  free(r);
}

static mw_status dir_exists(mw_conn *c, const struct reg_env *env,
                            const char *sha256, int *yes) {
  (void)c;
  char path[1200];
  struct stat sb;
  if(blob_path(env->data_dir, sha256, path, sizeof path))
    return MW_EINVAL;
  *yes = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
  return MW_OK;
}

static mw_status dir_remove(mw_conn *c, const struct reg_env *env,
                            const char *sha256) {
  (void)c;
  char path[1200];
  if(blob_path(env->data_dir, sha256, path, sizeof path))
    return MW_EINVAL;
  if(unlink(path) == 0)
    return MW_OK;
  if(errno == ENOENT)
    return MW_ENOTFOUND;
  mw_log(MW_LOG_WARN, "registry", "cannot remove %s: %s", path, strerror(errno));
  return MW_EIO;
}

/* ---------------------------------------------------------------- collector */

/* Narrows a directory to 0700 or a file to 0600 when group or others may
 * use it (stores made by older binaries, or copied in). */
static void tighten(const char *path, const struct stat *sb) {
  mode_t want = S_ISDIR(sb->st_mode) ? 0700 : 0600;
  if((sb->st_mode & 077) && chmod(path, want) != 0)
    mw_log(MW_LOG_WARN, "registry", "cannot make %s private: %s", path,
           strerror(errno));
}

/* Every regular file of one <xx> directory, to fn. */
static mw_status list_dir(const char *dir,
                          mw_status (*fn)(void *, const char *, int64_t),
                          void *ctx) {
  DIR *d = opendir(dir);
  if(!d)
    return errno == ENOENT ? MW_OK : MW_EIO;
  mw_status s = MW_OK;
  struct dirent *e;
  while(!s && (e = readdir(d))) {
    char path[1600];
    struct stat sb;
    if(e->d_name[0] == '.' ||
       snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
       lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    tighten(path, &sb);
    /* Removing entries already returned while reading a directory is
     * safe: readdir neither repeats nor skips the others. */
    s = fn(ctx, e->d_name, mtime_ms(&sb));
  }
  closedir(d);
  return s;
}

static mw_status dir_list(mw_conn *c, const struct reg_env *env,
                          mw_status (*fn)(void *, const char *, int64_t),
                          void *ctx) {
  (void)c;
  char root[1100], dir[1200];
  struct stat sb;
  static const char *const own[] = {"artifacts", "artifacts/sha256",
                                    "artifacts/tmp"};
  for(size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
    snprintf(dir, sizeof dir, "%s/%s", env->data_dir, own[i]);
    if(lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
      tighten(dir, &sb);
  }
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
    s = list_dir(dir, fn, ctx);
  }
  closedir(d);
  return s;
}

static mw_status dir_purge_uploads(mw_conn *c, const struct reg_env *env,
                                   int64_t before_ms, int64_t *removed) {
  (void)c;
  *removed = 0;
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/artifacts/tmp", env->data_dir);
  DIR *d = opendir(dir);
  if(!d)
    return errno == ENOENT ? MW_OK : MW_EIO;
  struct dirent *e;
  while((e = readdir(d))) {
    char path[1600];
    struct stat sb;
    if(strncmp(e->d_name, "upload-", 7) != 0 ||
       snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
       lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    tighten(path, &sb);
    /* Older than the cutoff, nothing writes it any more. */
    if(mtime_ms(&sb) <= before_ms && unlink(path) == 0)
      (*removed)++;
  }
  closedir(d);
  return MW_OK;
}

const struct reg_blob_store reg_blobs_dir = {
    .name = "dir",
    .begin = dir_begin,
    .write = dir_write,
    .sync = dir_sync,
    .commit = dir_commit,
    .end = dir_end,
    .open = dir_open,
    .read = dir_read,
    .close = dir_close,
    .exists = dir_exists,
    .remove = dir_remove,
    .list = dir_list,
    .purge_uploads = dir_purge_uploads,
};
