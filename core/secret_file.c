/* core/secret_file.c - the key file (core/secrets.h): 64 hex digits and a
 * newline, mode 0600, refused when group or others may read it. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/secrets.h"

mw_status mw_secret_key_path(const mw_config *cfg, char *out, size_t cap,
                             int *explicit_file) {
  *explicit_file = cfg->secret_key_file[0] != 0;
  if(*explicit_file)
    return mw_strlcpy(out, cfg->secret_key_file, cap);
  int n = snprintf(out, cap, "%s/secret.key", cfg->data_dir);
  return n < 0 || (size_t)n >= cap ? MW_ETOOBIG : MW_OK;
}

mw_status mw_secret_key_load(const char *path, mw_secret_key *out, char *err,
                             size_t cap) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    int e = errno;
    snprintf(err, cap, "cannot open the secret key file %s: %s", path, strerror(e));
    return e == ENOENT ? MW_ENOTFOUND : MW_EIO;
  }
  struct stat sb;
  if(fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    snprintf(err, cap, "the secret key file %s is not a regular file", path);
    return MW_EINVAL;
  }
  if(sb.st_mode & 077) {
    close(fd);
    snprintf(err, cap,
             "the secret key file %s may be read or written by group or others "
             "(mode %04o): it decrypts every credential in the database; run "
             "chmod 600 %s",
             path, (unsigned)(sb.st_mode & 07777), path);
    return MW_EINVAL;
  }
  char text[256];
  ssize_t n = read(fd, text, sizeof text);
  close(fd);
  mw_status s = n < 0 ? MW_EIO : mw_secret_key_parse(text, (size_t)n, out);
  OPENSSL_cleanse(text, sizeof text);
  if(s)
    snprintf(err, cap,
             "the secret key file %s holds no key (64 hex digits, e.g. from "
             "`openssl rand -hex 32`, or the base64 of 32 bytes)",
             path);
  return s;
}

/* Writes a new key into the new file fd (0600 whatever the umask). */
static mw_status write_key(int fd, mw_secret_key *k) {
  char hex[66];
  if(fchmod(fd, 0600) != 0 || mw_secret_key_new(k))
    return MW_EIO;
  mw_secret_key_hex(k, hex);
  hex[64] = '\n';
  mw_status s = write(fd, hex, 65) == 65 && fsync(fd) == 0 ? MW_OK : MW_EIO;
  OPENSSL_cleanse(hex, sizeof hex);
  return s;
}

/* Makes the directory entry of path durable. */
static void sync_dir(const char *path) {
  char dir[2048];
  if(mw_strlcpy(dir, path, sizeof dir))
    return;
  int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

mw_status mw_secret_key_create(const char *path, mw_secret_key *out, char *err,
                               size_t cap) {
  memset(out, 0, sizeof *out);
  char tmp[2100], rnd[13];
  if(mw_random_token(rnd, 12))
    return MW_EINTERNAL;
  int n = snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, rnd);
  if(n < 0 || (size_t)n >= sizeof tmp) {
    snprintf(err, cap, "the secret key file's path is too long");
    return MW_EINVAL;
  }
  /* Written aside, then linked into place: link() never replaces a file,
   * so two processes creating the key at once end with one key, and a
   * crash never leaves a half-written key at path. */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if(fd < 0) {
    snprintf(err, cap, "cannot create %s: %s", tmp, strerror(errno));
    return MW_EIO;
  }
  mw_status s = write_key(fd, out);
  close(fd);
  if(!s && link(tmp, path) != 0)
    s = errno == EEXIST ? MW_ECONFLICT : MW_EIO;
  int e = errno;
  unlink(tmp);
  if(s) {
    mw_secret_key_wipe(out);
    if(s != MW_ECONFLICT)
      snprintf(err, cap, "cannot create the secret key file %s: %s", path,
               strerror(e));
    else
      snprintf(err, cap, "%s exists", path);
    return s;
  }
  sync_dir(path);
  return MW_OK;
}
