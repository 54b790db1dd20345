/* core/backup.c - online backup and restore of a data directory: the
 * SQLite database through the backup API, artifacts by copy. Everything
 * written is private: files 0600, directories 0700. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/db_sqlite.h"
#include "core/core.h"

static mw_status fail(char *err, size_t cap, mw_status st, const char *what,
                      const char *detail) {
  snprintf(err, cap, "%s: %s", what, detail);
  return st;
}

/* Copies the whole database src into dest (a new file) page by page. */
static mw_status copy_db(const char *src, const char *dest, char *err, size_t cap) {
  sqlite3 *from = NULL, *to = NULL;
  mw_status st = MW_OK;
  if(sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    st = fail(err, cap, MW_EIO, src, from ? sqlite3_errmsg(from) : "cannot open");
    goto out;
  }
  sqlite3_busy_timeout(from, 10000);
  /* The copy holds what the database holds (token digests, webhook
   * secrets): created 0600 here, since SQLite would make it 0644 less the
   * umask, and its journal takes the mode of the file. */
  int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if(fd < 0) {
    st = fail(err, cap, MW_EIO, dest, strerror(errno));
    goto out;
  }
  close(fd);
  if(sqlite3_open_v2(dest, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
     SQLITE_OK) {
    st = fail(err, cap, MW_EIO, dest, to ? sqlite3_errmsg(to) : "cannot create");
    goto out;
  }
  sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
  if(!b) {
    st = fail(err, cap, MW_EDB, "backup", sqlite3_errmsg(to));
    goto out;
  }
  int rc;
  /* All pages in one step: a single read transaction gives one consistent
   * snapshot; in WAL mode the server keeps writing meanwhile. */
  while((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED)
    sqlite3_sleep(50);
  sqlite3_backup_finish(b);
  if(rc != SQLITE_DONE) {
    st = fail(err, cap, MW_EDB, "backup", sqlite3_errstr(rc));
    goto out;
  }
  sqlite3_stmt *chk = NULL;
  if(sqlite3_prepare_v2(to, "PRAGMA integrity_check", -1, &chk, NULL) != SQLITE_OK ||
     sqlite3_step(chk) != SQLITE_ROW ||
     strcmp((const char *)sqlite3_column_text(chk, 0), "ok") != 0)
    st = fail(err, cap, MW_EDB, dest, "integrity check failed");
  sqlite3_finalize(chk);
out:
  sqlite3_close(from);
  sqlite3_close(to);
  return st;
}

static int copy_file(const char *src, const char *dest) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if(in < 0)
    return -1;
  int out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if(out < 0) {
    close(in);
    return errno == EEXIST ? 0 : -1; /* content-addressed: same name, same bytes */
  }
  char buf[1 << 16];
  ssize_t n;
  int rc = 0;
  while((n = read(in, buf, sizeof buf)) > 0)
    if(write(out, buf, (size_t)n) != n) {
      rc = -1;
      break;
    }
  if(n < 0 || fsync(out) != 0)
    rc = -1;
  close(in);
  close(out);
  return rc;
}

/* Copies directory trees of regular files (two levels: sha256/ab/<file>). */
static int copy_tree(const char *src, const char *dest, int depth) {
  DIR *d = opendir(src);
  if(!d)
    return errno == ENOENT ? 0 : -1;
  if(mkdir(dest, 0700) != 0 && errno != EEXIST) {
    closedir(d);
    return -1;
  }
  int rc = 0;
  struct dirent *e;
  while(!rc && (e = readdir(d))) {
    if(e->d_name[0] == '.')
      continue;
    char s[2048], t[2048];
    snprintf(s, sizeof s, "%s/%s", src, e->d_name);
    snprintf(t, sizeof t, "%s/%s", dest, e->d_name);
    struct stat sb;
    if(stat(s, &sb) != 0)
      rc = -1;
    else if(S_ISDIR(sb.st_mode) && depth < 4)
      rc = copy_tree(s, t, depth + 1);
    else if(S_ISREG(sb.st_mode))
      rc = copy_file(s, t);
  }
  closedir(d);
  return rc;
}

mw_status mw_backup(const char *data_dir, const char *dest, char *err, size_t cap) {
  char src[2048], art[2048], dart[2048];
  struct stat sb;
  snprintf(src, sizeof src, "%s/modelwatch.db", data_dir);
  if(stat(src, &sb) != 0)
    return fail(err, cap, MW_ENOTFOUND, src, "no database here");
  if(stat(dest, &sb) == 0)
    return fail(err, cap, MW_ECONFLICT, dest, "exists; choose a new file");
  mw_status st = copy_db(src, dest, err, cap);
  if(st) {
    unlink(dest);
    return st;
  }
  snprintf(art, sizeof art, "%s/artifacts/sha256", data_dir);
  snprintf(dart, sizeof dart, "%s.artifacts", dest);
  if(copy_tree(art, dart, 0) != 0)
    return fail(err, cap, MW_EIO, dart, strerror(errno));
  return MW_OK;
}

mw_status mw_datadir_lock(const char *data_dir, int exclusive, int *fd, char *err,
                          size_t cap) {
  char path[2048];
  *fd = -1;
  snprintf(path, sizeof path, "%s/modelwatch.lock", data_dir);
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if(f < 0)
    return fail(err, cap, MW_EIO, path, strerror(errno));
  if(flock(f, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    int e = errno;
    close(f);
    if(e != EWOULDBLOCK)
      return fail(err, cap, MW_EIO, path, strerror(e));
    snprintf(err, cap,
             exclusive ? "%s is in use by a running modelwatch server; stop it first"
                       : "%s is being restored; start the server when it is done",
             data_dir);
    return MW_ECONFLICT;
  }
  *fd = f;
  return MW_OK;
}

void mw_datadir_unlock(int fd) {
  if(fd >= 0)
    close(fd); /* closing the descriptor releases the flock */
}

static mw_status restore_locked(const char *src, const char *data_dir, int force,
                                char *err, size_t cap);

mw_status mw_restore(const char *src, const char *data_dir, int force, char *err,
                     size_t cap) {
  struct stat sb;
  if(stat(src, &sb) != 0)
    return fail(err, cap, MW_ENOTFOUND, src, "no such backup");
  if(mkdir(data_dir, 0700) != 0 && errno != EEXIST)
    return fail(err, cap, MW_EIO, data_dir, strerror(errno));
  int lock;
  mw_status st = mw_datadir_lock(data_dir, 1, &lock, err, cap);
  if(st)
    return st;
  st = restore_locked(src, data_dir, force, err, cap);
  mw_datadir_unlock(lock);
  return st;
}

static mw_status restore_locked(const char *src, const char *data_dir, int force,
                                char *err, size_t cap) {
  char dest[2048], art[2048], sart[2048];
  struct stat sb;
  snprintf(dest, sizeof dest, "%s/modelwatch.db", data_dir);
  if(stat(dest, &sb) == 0) {
    if(!force)
      return fail(
          err, cap, MW_ECONFLICT, dest,
          "a database exists; stop the server and pass --force to replace it");
    char side[2100];
    unlink(dest);
    snprintf(side, sizeof side, "%s-wal", dest);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", dest);
    unlink(side);
  }
  mw_status st = copy_db(src, dest, err, cap);
  if(st)
    return st;
  snprintf(art, sizeof art, "%s/artifacts", data_dir);
  mkdir(art, 0700);
  snprintf(art, sizeof art, "%s/artifacts/sha256", data_dir);
  snprintf(sart, sizeof sart, "%s.artifacts", src);
  if(copy_tree(sart, art, 0) != 0)
    return fail(err, cap, MW_EIO, art, strerror(errno));
  return MW_OK;
}

mw_status mw_backup_key_id(const char *db_file, char id[16]) {
  id[0] = 0;
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  mw_status s = MW_OK;
  if(sqlite3_open_v2(db_file, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    s = MW_EIO;
  sqlite3_busy_timeout(db, 10000);
  /* No such table: a database from before migration 0017, in plain text. */
  if(!s &&
     sqlite3_prepare_v2(db, "SELECT key_id FROM secret_key WHERE id = 1", -1, &st,
                        NULL) == SQLITE_OK &&
     sqlite3_step(st) == SQLITE_ROW)
    mw_strlcpy(id, (const char *)sqlite3_column_text(st, 0), 16);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return s;
}
