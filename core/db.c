/* core/db.c - SQLite connections: one per thread (WAL, foreign keys, busy
 * timeout), each with a small cache of prepared statements keyed by the
 * address of their SQL literal, transaction helpers, the checked step
 * helpers, and (test builds) fault injection.
 *
 * The database and its -wal and -shm files are private (0600) whatever
 * the umask and the mode of the directory: they hold token digests,
 * webhook secrets and node URLs. SQLite gives -wal and -shm the mode of
 * the database file, so creating that one 0600 is enough for new files;
 * an existing database, or a -wal/-shm left by an older binary, open to
 * group or others is narrowed to 0600 when it is opened (logged).
 *
 * Fault injection (compiled with MW_FAULT_INJECTION only, see core.h):
 * with MODELWATCH_FAULT_FILE=<path> in the environment, a request starts
 * when a CivetWeb worker thread asks for its connection (the first thing
 * web/server.c does with a request). If <path> exists then, that request
 * claims it (renamed away first, so exactly one request takes it), reads
 * one line - "count", "prepare N" or "step N" - and counts its own
 * statements: each mw_stmt is a prepare, each sqlite3_step or mw_exec a
 * step. "prepare N" makes the N-th mw_stmt return NULL as a failed
 * prepare would; "step N" makes the N-th step return SQLITE_IOERR without
 * running. ROLLBACK is neither counted nor failed: it is how failures are
 * undone. After every counted statement <path>.result holds "prepares P
 * steps S fired F". Background threads (scheduler, evaluator, delivery)
 * are never armed, so they cannot take a fault meant for a request. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

#define MW_STMT_CACHE 96

struct mw_conn {
  sqlite3 *db;
  struct mw_db *owner;
  int writing; /* holds owner->write_lock (inside mw_tx_begin..commit) */
  int nstmt;
  uint64_t tick; /* counts mw_stmt calls, for least-recently-used eviction */
  struct {
    const char *sql;
    sqlite3_stmt *st;
    uint64_t used; /* tick of its last mw_stmt */
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
#ifdef MW_FAULT_INJECTION
  char *fault_path; /* MODELWATCH_FAULT_FILE, or NULL */
#endif
};

/* ------------------------------------------------------ fault injection */

#ifdef MW_FAULT_INJECTION
enum fault_mode { FAULT_OFF, FAULT_COUNT, FAULT_PREPARE, FAULT_STEP };

/* The calling thread's armed request, if any. Thread-local: a request
 * runs on one worker thread from its first statement to its reply. */
static _Thread_local struct {
  enum fault_mode mode;
  long target; /* the prepare or step to fail, counted from 1 */
  long prepares, steps;
  int fired;
  char result[1200]; /* <path>.result */
} fault;

static void fault_report(void) {
  int fd = open(fault.result, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if(fd < 0)
    return;
  char line[128];
  int n = snprintf(line, sizeof line, "prepares %ld steps %ld fired %d\n",
                   fault.prepares, fault.steps, fault.fired);
  if(n > 0 && write(fd, line, (size_t)n) != n)
    mw_log(MW_LOG_WARN, "db", "fault: cannot write %s", fault.result);
  close(fd);
}

/* A request starts on this thread: disarm, then arm from the control file
 * when one waits. Only CivetWeb's workers serve requests. */
static void fault_request_start(const mw_db *d) {
  fault.mode = FAULT_OFF;
  if(!d->fault_path)
    return;
  char name[32] = "";
  if(pthread_getname_np(pthread_self(), name, sizeof name) != 0 ||
     strncmp(name, "civetweb-worker", 15) != 0)
    return;
  char claimed[1200], line[64] = "";
  snprintf(claimed, sizeof claimed, "%s.%lu", d->fault_path,
           (unsigned long)pthread_self());
  if(rename(d->fault_path, claimed) != 0)
    return; /* nothing armed (or another request took it) */
  int fd = open(claimed, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
  if(fd >= 0)
    close(fd);
  unlink(claimed);
  line[n > 0 ? n : 0] = '\0';
  char *end = NULL;
  if(!strncmp(line, "count", 5)) {
    fault.mode = FAULT_COUNT;
    fault.target = 0;
  } else if(!strncmp(line, "prepare ", 8)) {
    fault.mode = FAULT_PREPARE;
    fault.target = strtol(line + 8, &end, 10);
  } else if(!strncmp(line, "step ", 5)) {
    fault.mode = FAULT_STEP;
    fault.target = strtol(line + 5, &end, 10);
  } else {
    mw_log(MW_LOG_WARN, "db", "fault: ignoring control line '%.40s'", line);
    return;
  }
  fault.prepares = fault.steps = 0;
  fault.fired = 0;
  snprintf(fault.result, sizeof fault.result, "%s.result", d->fault_path);
  fault_report();
}

/* Counts one prepare or step of the armed request; 1 when it must fail. */
static int fault_hit(enum fault_mode kind, const char *sql) {
  if(fault.mode == FAULT_OFF)
    return 0;
  long k = kind == FAULT_PREPARE ? ++fault.prepares : ++fault.steps;
  int fire = fault.mode == kind && k == fault.target;
  if(fire) {
    fault.fired = 1;
    mw_log(MW_LOG_WARN, "db", "fault: failing %s %ld (%.60s)",
           kind == FAULT_PREPARE ? "prepare" : "step", k, sql ? sql : "?");
  }
  fault_report();
  return fire;
}

int mw_fault_step(sqlite3_stmt *st) {
  if(fault.mode != FAULT_OFF && st) {
    const char *sql = sqlite3_sql(st);
    if(strcmp(sql, "ROLLBACK") && fault_hit(FAULT_STEP, sql))
      return SQLITE_IOERR;
  }
  return (sqlite3_step)(st);
}
#endif

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

/* Narrows an existing file to 0600 when group or others may use it. */
static void make_private(const char *path) {
  struct stat sb;
  if(stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || !(sb.st_mode & 077))
    return;
  if(chmod(path, 0600) == 0)
    mw_log(MW_LOG_INFO, "db", "%s was mode %04o; now 0600", path,
           (unsigned)(sb.st_mode & 07777));
  else
    mw_log(MW_LOG_WARN, "db", "cannot make %s private: %s", path, strerror(errno));
}

/* Creates the database file 0600 when missing (SQLite would create it
 * 0644 less the umask, and its -wal and -shm with the same mode) and
 * narrows the files of an existing one. Paths SQLite treats specially
 * (":memory:", "", URIs) are left alone. */
static mw_status private_files(const char *path) {
  if(!path[0] || path[0] == ':' || !strncmp(path, "file:", 5))
    return MW_OK;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if(fd < 0) {
    mw_log(MW_LOG_ERROR, "db", "cannot open %s: %s", path, strerror(errno));
    return MW_EIO;
  }
  close(fd);
  static const char *const sides[] = {"", "-wal", "-shm", "-journal"};
  for(size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
    char side[4200];
    int n = snprintf(side, sizeof side, "%s%s", path, sides[i]);
    if(n > 0 && (size_t)n < sizeof side)
      make_private(side);
  }
  return MW_OK;
}

mw_status mw_db_open(const char *path, int sync_full, mw_db **out) {
  *out = NULL;
  mw_status st = private_files(path);
  if(st)
    return st;
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
#ifdef MW_FAULT_INJECTION
  const char *fp = getenv("MODELWATCH_FAULT_FILE");
  if(fp && *fp) {
    d->fault_path = strdup(fp);
    mw_log(MW_LOG_WARN, "db", "fault injection armed by %s (test builds only)", fp);
  }
#endif
  /* Open the caller's connection now so that a bad path fails here. */
  if(!mw_db_conn(d)) {
    pthread_key_delete(d->key);
#ifdef MW_FAULT_INJECTION
    free(d->fault_path);
#endif
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
#ifdef MW_FAULT_INJECTION
  free(d->fault_path);
#endif
  free(d->path);
  free(d);
}

const char *mw_db_path(const mw_db *d) { return d->path; }

mw_conn *mw_db_conn(mw_db *d) {
#ifdef MW_FAULT_INJECTION
  fault_request_start(d);
#endif
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
#ifdef MW_FAULT_INJECTION
  if(fault.mode != FAULT_OFF && strcmp(sql, "ROLLBACK") &&
     fault_hit(FAULT_PREPARE, sql))
    return NULL;
#endif
  c->tick++;
  for(int i = 0; i < c->nstmt; i++) {
    if(c->cache[i].sql == sql) {
      sqlite3_stmt *st = c->cache[i].st;
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      c->cache[i].used = c->tick;
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
  int slot = c->nstmt;
  if(slot < MW_STMT_CACHE) {
    c->nstmt++;
  } else {
    /* Cache full (the code base has more statements than it holds): evict
     * the least recently used one that is not in the middle of a query.
     * Callers hold a statement across a few other mw_stmt calls at most
     * (a loop over rows that writes as it goes), so the victim is never
     * one in use; the oldest-inserted entry could be exactly that. */
    slot = -1;
    for(int i = 0; i < MW_STMT_CACHE; i++)
      if(!sqlite3_stmt_busy(c->cache[i].st) &&
         (slot < 0 || c->cache[i].used < c->cache[slot].used))
        slot = i;
    if(slot < 0) {
      /* Every entry mid-query: leave them, keep this one uncached. */
      mw_log(MW_LOG_ERROR, "db", "statement cache full of open queries");
      sqlite3_finalize(st);
      return NULL;
    }
    sqlite3_finalize(c->cache[slot].st);
  }
  c->cache[slot].sql = sql;
  c->cache[slot].st = st;
  c->cache[slot].used = c->tick;
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

/* The status of a step that gave neither the row nor the end its caller
 * expects: never MW_OK. */
static mw_status step_error(mw_conn *c, sqlite3_stmt *st, int rc) {
  if(rc == SQLITE_ROW || rc == SQLITE_DONE) {
    mw_log(MW_LOG_ERROR, "db", "unexpected %s from: %.80s",
           rc == SQLITE_ROW ? "row" : "end", sqlite3_sql(st));
    return MW_EINTERNAL;
  }
  mw_status s = mw_db_status(c, rc);
  return s ? s : MW_EDB;
}

mw_status mw_step_done(mw_conn *c, sqlite3_stmt *st) {
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? MW_OK : step_error(c, st, rc);
}

mw_status mw_step_row(mw_conn *c, sqlite3_stmt *st, int *row) {
  *row = 0;
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW) {
    *row = 1;
    return MW_OK;
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? MW_OK : step_error(c, st, rc);
}

mw_status mw_step_one(mw_conn *c, sqlite3_stmt *st) {
  int row = 0;
  mw_status s = mw_step_row(c, st, &row);
  if(!s && !row)
    return MW_ENOTFOUND;
  return s;
}

mw_status mw_exec(mw_conn *c, const char *sql) {
#ifdef MW_FAULT_INJECTION
  if(fault_hit(FAULT_STEP, sql))
    return MW_EIO;
#endif
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
  return mw_step_done(c, mw_stmt(c, sql));
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
