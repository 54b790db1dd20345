/* core/db.c - SQLite connections: one per thread (WAL, foreign keys, busy
 * timeout), each with a small cache of prepared statements keyed by the
 * address of their SQL literal, and transaction helpers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"

#define MW_STMT_CACHE 96

struct mw_conn {
  sqlite3 *db;
  struct mw_db *owner;
  int writing; /* holds owner->write_lock (inside mw_tx_begin..commit) */
  int nstmt;
  struct {
    const char *sql;
    sqlite3_stmt *st;
  } cache[MW_STMT_CACHE];
};

struct mw_db {
  char *path;
  int sync_full;
  pthread_key_t key;
  /* Writers of this process queue here before BEGIN IMMEDIATE. SQLite
   * allows one writer anyway; its busy handler makes the others sleep and
   * poll (up to 100 ms a nap), which under load turns into long tails and
   * timeouts. A mutex hands the write lock over at once, in arrival order.
   * Other processes (backup, a second server) still meet SQLite's own lock
   * and busy timeout. */
  pthread_mutex_t write_lock;
};

static void conn_close(mw_conn *c) {
  if(!c)
    return;
  for(int i = 0; i < c->nstmt; i++)
    sqlite3_finalize(c->cache[i].st);
  sqlite3_close_v2(c->db);
  free(c);
}

static void conn_destructor(void *p) { conn_close(p); }

static mw_conn *conn_open(mw_db *d) {
  mw_conn *c = calloc(1, sizeof *c);
  if(!c)
    return NULL;
  c->owner = d;
  int rc = sqlite3_open_v2(d->path, &c->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_NOMUTEX,
                           NULL);
  if(rc != SQLITE_OK) {
    mw_log(MW_LOG_ERROR, "db", "cannot open %s: %s", d->path,
           c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    conn_close(c);
    return NULL;
  }
  sqlite3_busy_timeout(c->db, 10000);
  sqlite3_extended_result_codes(c->db, 1);
  const char *pragmas = d->sync_full
                            ? "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
                              "PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"
                            : "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
                              "PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;";
  char *err = NULL;
  rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &err);
  if(rc != SQLITE_OK) {
    mw_log(MW_LOG_ERROR, "db", "cannot configure %s: %s", d->path,
           err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    conn_close(c);
    return NULL;
  }
  return c;
}

mw_status mw_db_open(const char *path, int sync_full, mw_db **out) {
  *out = NULL;
  mw_db *d = calloc(1, sizeof *d);
  if(!d)
    return MW_ENOMEM;
  d->path = strdup(path);
  d->sync_full = sync_full;
  pthread_mutex_init(&d->write_lock, NULL);
  if(!d->path || pthread_key_create(&d->key, conn_destructor) != 0) {
    free(d->path);
    free(d);
    return MW_ENOMEM;
  }
  /* Open the caller's connection now so that a bad path fails here. */
  if(!mw_db_conn(d)) {
    pthread_key_delete(d->key);
    free(d->path);
    free(d);
    return MW_EDB;
  }
  *out = d;
  return MW_OK;
}

void mw_db_close(mw_db *d) {
  if(!d)
    return;
  conn_close(pthread_getspecific(d->key));
  pthread_setspecific(d->key, NULL);
  pthread_key_delete(d->key);
  pthread_mutex_destroy(&d->write_lock);
  free(d->path);
  free(d);
}

const char *mw_db_path(const mw_db *d) { return d->path; }

mw_conn *mw_db_conn(mw_db *d) {
  mw_conn *c = pthread_getspecific(d->key);
  if(c)
    return c;
  c = conn_open(d);
  if(c && pthread_setspecific(d->key, c) != 0) {
    conn_close(c);
    return NULL;
  }
  return c;
}

sqlite3 *mw_conn_handle(mw_conn *c) { return c->db; }

sqlite3_stmt *mw_stmt(mw_conn *c, const char *sql) {
  for(int i = 0; i < c->nstmt; i++) {
    if(c->cache[i].sql == sql) {
      sqlite3_stmt *st = c->cache[i].st;
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return st;
    }
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                              NULL);
  if(rc != SQLITE_OK) {
    mw_log(MW_LOG_ERROR, "db", "prepare failed: %s (%.80s)",
           sqlite3_errmsg(c->db), sql);
    return NULL;
  }
  if(c->nstmt < MW_STMT_CACHE) {
    c->cache[c->nstmt].sql = sql;
    c->cache[c->nstmt].st = st;
    c->nstmt++;
  } else {
    /* Cache full: evict the oldest entry, which is the least likely to be
     * hot in a handler that just started. */
    sqlite3_finalize(c->cache[0].st);
    memmove(&c->cache[0], &c->cache[1], sizeof c->cache[0] * (MW_STMT_CACHE - 1));
    c->cache[MW_STMT_CACHE - 1].sql = sql;
    c->cache[MW_STMT_CACHE - 1].st = st;
  }
  return st;
}

mw_status mw_db_status(mw_conn *c, int rc) {
  switch(rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    return MW_OK;
  case SQLITE_CONSTRAINT:
    return MW_ECONFLICT;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    mw_log(MW_LOG_WARN, "db", "busy: %s", sqlite3_errmsg(c->db));
    return MW_EBUSY;
  case SQLITE_FULL:
  case SQLITE_IOERR:
    mw_log(MW_LOG_ERROR, "db", "I/O error: %s", sqlite3_errmsg(c->db));
    return MW_EIO;
  default:
    mw_log(MW_LOG_ERROR, "db", "error %d: %s", rc, sqlite3_errmsg(c->db));
    return MW_EDB;
  }
}

mw_status mw_exec(mw_conn *c, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
  if(rc != SQLITE_OK) {
    mw_log(MW_LOG_ERROR, "db", "exec failed: %s", err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return mw_db_status(c, rc);
  }
  return MW_OK;
}

static mw_status step_once(mw_conn *c, const char *sql) {
  sqlite3_stmt *st = mw_stmt(c, sql);
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? MW_OK : mw_db_status(c, rc);
}

static void release_write(mw_conn *c) {
  if(c->writing) {
    c->writing = 0;
    pthread_mutex_unlock(&c->owner->write_lock);
  }
}

mw_status mw_tx_begin(mw_conn *c) {
  if(c->writing || !sqlite3_get_autocommit(c->db)) {
    mw_log(MW_LOG_ERROR, "db", "transaction already open on this connection");
    return MW_EINTERNAL;
  }
  pthread_mutex_lock(&c->owner->write_lock);
  c->writing = 1;
  mw_status st = step_once(c, "BEGIN IMMEDIATE");
  if(st)
    release_write(c);
  return st;
}

mw_status mw_tx_commit(mw_conn *c) {
  mw_status st = step_once(c, "COMMIT");
  if(st)
    mw_tx_rollback(c);
  release_write(c);
  return st;
}

void mw_tx_rollback(mw_conn *c) {
  if(!sqlite3_get_autocommit(c->db))
    step_once(c, "ROLLBACK");
  release_write(c);
}

int64_t mw_db_size(const mw_db *d) {
  struct stat sb;
  int64_t total = 0;
  if(stat(d->path, &sb) == 0)
    total += sb.st_size;
  char wal[4096];
  int n = snprintf(wal, sizeof wal, "%s-wal", d->path);
  if(n > 0 && (size_t)n < sizeof wal && stat(wal, &sb) == 0)
    total += sb.st_size;
  return total;
}

int mw_bind_text(sqlite3_stmt *st, int idx, const char *s) {
  if(!s)
    return sqlite3_bind_null(st, idx);
  return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

const char *mw_col_text(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? (const char *)t : "";
}
