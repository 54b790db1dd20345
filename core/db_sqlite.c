/* core/db_sqlite.c - the SQLite backend of the database seam: one
 * connection per thread (WAL, foreign keys, busy timeout, extended result
 * codes), each with a small cache of prepared statements keyed by the
 * address of their SQL literal; BEGIN IMMEDIATE for writers, a deferred
 * BEGIN for readers; migrations versioned in PRAGMA user_version. Also the
 * statement helpers of core/db_sqlite.h that the `*_sqlite.c` store files
 * use. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/db_backend.h"
#include "core/db_sqlite.h"
#include "core/fault.h"
#include "core/log.h"

#define MW_STMT_CACHE 96

struct sq_conn {
  struct mw_conn base; /* first: a struct mw_conn * points here */
  sqlite3 *db;
  int leader_fd; /* flock held on <database>.leader; -1: none */
  int nstmt;
  uint64_t tick; /* counts mw_stmt calls, for least-recently-used eviction */
  struct {
    const char *sql;
    sqlite3_stmt *st;
    uint64_t used; /* tick of its last mw_stmt */
  } cache[MW_STMT_CACHE];
};

#ifdef MW_FAULT_INJECTION
int mw_fault_step(sqlite3_stmt *st) {
  if(st && mw__fault_hit(MW_FAULT_STEP, sqlite3_sql(st)))
    return SQLITE_IOERR;
  return (sqlite3_step)(st);
}
#endif

static struct sq_conn *sq(mw_conn *c) {
  assert(c->be == &mw_db_backend_sqlite);
  return (struct sq_conn *)c;
}

sqlite3 *mw_sqlite(mw_conn *c) { return sq(c)->db; }

static void sq_conn_close(mw_conn *mc) {
  if(!mc)
    return;
  struct sq_conn *c = sq(mc);
  if(c->leader_fd >= 0)
    close(c->leader_fd);
  for(int i = 0; i < c->nstmt; i++)
    sqlite3_finalize(c->cache[i].st);
  sqlite3_close_v2(c->db);
  free(c);
}

static mw_conn *sq_conn_open(mw_db *d) {
  struct sq_conn *c = calloc(1, sizeof *c);
  if(!c)
    return NULL;
  c->base.be = &mw_db_backend_sqlite;
  c->leader_fd = -1;
  int rc = sqlite3_open_v2(
      d->target, &c->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if(rc != SQLITE_OK) {
    mw_log(MW_LOG_ERROR, "db", "cannot open %s: %s", d->target,
           c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    sq_conn_close(&c->base);
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
    mw_log(MW_LOG_ERROR, "db", "cannot configure %s: %s", d->target,
           err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    sq_conn_close(&c->base);
    return NULL;
  }
  return &c->base;
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

/* The database and its -wal and -shm files are private (0600) whatever
 * the umask and the mode of the directory: they hold token digests,
 * webhook secrets and node URLs. SQLite gives -wal and -shm the mode of
 * the database file, so creating that one 0600 is enough for new files;
 * an existing database, or a -wal/-shm left by an older binary, open to
 * group or others is narrowed to 0600 (logged). Paths SQLite treats
 * specially (":memory:", "", URIs) are left alone. */
static mw_status sq_open(mw_db *d) {
  const char *path = d->target;
#ifdef MW_FAULT_INJECTION
  mw__fault_init();
#endif
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

static void sq_close(mw_db *d) { (void)d; }

sqlite3_stmt *mw_stmt(mw_conn *mc, const char *sql) {
  struct sq_conn *c = sq(mc);
#ifdef MW_FAULT_INJECTION
  if(mw__fault_hit(MW_FAULT_PREPARE, sql))
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
  int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if(rc != SQLITE_OK) {
    mw_log(MW_LOG_ERROR, "db", "prepare failed: %s (%.80s)", sqlite3_errmsg(c->db),
           sql);
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

mw_status mw_sqlite_error(mw_conn *mc, int rc) {
  sqlite3 *db = sq(mc)->db;
  switch(rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    mw_log(MW_LOG_ERROR, "db", "result code %d taken for an error", rc);
    return MW_EINTERNAL;
  case SQLITE_CONSTRAINT:
    return MW_ECONFLICT;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    mw_log(MW_LOG_WARN, "db", "busy: %s", sqlite3_errmsg(db));
    return MW_EBUSY;
  case SQLITE_FULL:
  case SQLITE_IOERR:
    mw_log(MW_LOG_ERROR, "db", "I/O error: %s", sqlite3_errmsg(db));
    return MW_EIO;
  default:
    mw_log(MW_LOG_ERROR, "db", "error %d: %s", rc, sqlite3_errmsg(db));
    return MW_EDB;
  }
}

mw_status mw_step_done(mw_conn *c, sqlite3_stmt *st) {
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? MW_OK : mw_sqlite_error(c, rc);
}

mw_status mw_step_row(mw_conn *c, sqlite3_stmt *st, int *found) {
  *found = 0;
  if(!st)
    return MW_EDB;
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW) {
    *found = 1;
    return MW_OK;
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? MW_OK : mw_sqlite_error(c, rc);
}

mw_status mw_step_one(mw_conn *c, sqlite3_stmt *st) {
  int row = 0;
  mw_status s = mw_step_row(c, st, &row);
  if(!s && !row)
    return MW_ENOTFOUND;
  return s;
}

int mw_step_next(mw_conn *c, sqlite3_stmt *st, mw_status *s) {
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW)
    return 1;
  sqlite3_reset(st);
  if(rc == SQLITE_DONE)
    return 0;
  *s = mw_sqlite_error(c, rc);
  return -1;
}

int64_t mw_sqlite_changes(mw_conn *c) { return sqlite3_changes64(sq(c)->db); }
int64_t mw_sqlite_last_id(mw_conn *c) {
  return sqlite3_last_insert_rowid(sq(c)->db);
}

mw_status mw_exec(mw_conn *c, const char *sql) {
#ifdef MW_FAULT_INJECTION
  if(mw__fault_hit(MW_FAULT_STEP, sql))
    return MW_EIO;
#endif
  char *err = NULL;
  int rc = sqlite3_exec(sq(c)->db, sql, NULL, NULL, &err);
  if(rc != SQLITE_OK) {
    mw_log(MW_LOG_ERROR, "db", "exec failed: %s", err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return mw_sqlite_error(c, rc);
  }
  return MW_OK;
}

static mw_status step_once(mw_conn *c, const char *sql) {
  return mw_step_done(c, mw_stmt(c, sql));
}

static mw_status sq_begin(mw_conn *c, enum mw_tx kind) {
  if(!sqlite3_get_autocommit(sq(c)->db)) {
    mw_log(MW_LOG_ERROR, "db", "SQLite transaction already open");
    return MW_EINTERNAL;
  }
  return step_once(c, kind == MW_TX_WRITE ? "BEGIN IMMEDIATE" : "BEGIN");
}

static mw_status sq_commit(mw_conn *c) { return step_once(c, "COMMIT"); }

static void sq_rollback(mw_conn *c) {
  if(!sqlite3_get_autocommit(sq(c)->db))
    step_once(c, "ROLLBACK");
}

static mw_status sq_savepoint(mw_conn *c, enum mw_sp_op op) {
  switch(op) {
  case MW_SP_BEGIN:
    return step_once(c, "SAVEPOINT mw_step");
  case MW_SP_RELEASE:
    return step_once(c, "RELEASE mw_step");
  case MW_SP_ROLLBACK:
    return step_once(c, "ROLLBACK TO mw_step");
  }
  return MW_EINTERNAL;
}

static mw_status sq_data_version(mw_conn *c, int64_t *out) {
  sqlite3_stmt *st = mw_stmt(c, "PRAGMA data_version");
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(s)
    return s;
  if(!found)
    return MW_EDB;
  *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status sq_wait(mw_conn *c, int timeout_ms) {
  (void)c;
  if(timeout_ms > 0)
    usleep((useconds_t)timeout_ms * 1000);
  return MW_OK;
}

static mw_status sq_ping(mw_conn *c) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT 1");
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(!s && found)
    sqlite3_reset(st);
  return s ? s : found ? MW_OK : MW_EDB;
}

/* Processes sharing a SQLite file are on one machine: an exclusive flock
 * on a file beside the database, which the kernel releases with the
 * process. */
static mw_status sq_leader(mw_conn *mc, int take, int *held) {
  struct sq_conn *c = sq(mc);
  if(!take) {
    if(c->leader_fd >= 0)
      close(c->leader_fd);
    c->leader_fd = -1;
    *held = 0;
    return MW_OK;
  }
  if(c->leader_fd >= 0) {
    *held = 1;
    return MW_OK;
  }
  char path[4200];
  int n = snprintf(path, sizeof path, "%s.leader", mc->db->target);
  if(n < 0 || (size_t)n >= sizeof path)
    return MW_EINVAL;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if(fd < 0)
    return MW_EIO;
  if(flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    *held = 0;
    return MW_OK;
  }
  c->leader_fd = fd;
  *held = 1;
  return MW_OK;
}

static int64_t sq_size(const mw_db *d) {
  struct stat sb;
  int64_t total = 0;
  if(stat(d->target, &sb) == 0)
    total += sb.st_size;
  char wal[4096];
  int n = snprintf(wal, sizeof wal, "%s-wal", d->target);
  if(n > 0 && (size_t)n < sizeof wal && stat(wal, &sb) == 0)
    total += sb.st_size;
  return total;
}

static mw_status sq_schema_version(mw_conn *c, int *out) {
  sqlite3_stmt *st = mw_stmt(c, "PRAGMA user_version");
  int found;
  mw_status s = mw_step_row(c, st, &found);
  if(s)
    return s;
  if(!found)
    return MW_EDB;
  *out = sqlite3_column_int(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status sq_migrate_one(mw_conn *c, int version, const char *name,
                                const char *sql) {
  assert(mw_tx_state(c) == MW_TX_WRITE);
  mw_status s = mw_exec(c, sql);
  if(!s) {
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", version);
    s = mw_exec(c, pragma);
  }
  if(!s) {
    sqlite3_stmt *ins = mw_stmt(c, "INSERT INTO schema_migrations(version, name, "
                                   "applied_at) VALUES(?, ?, ?)");
    if(ins) {
      sqlite3_bind_int(ins, 1, version);
      mw_bind_text(ins, 2, name);
      sqlite3_bind_int64(ins, 3, mw_now_ms());
    }
    s = mw_step_done(c, ins);
  }
  return s;
}

const struct mw_db_backend mw_db_backend_sqlite = {
    .name = "sqlite",
    .kind = MW_DB_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .data_version = sq_data_version,
    .wait = sq_wait,
    .ping = sq_ping,
    .size = sq_size,
    .schema_version = sq_schema_version,
    .migrate_one = sq_migrate_one,
    .migrate_lock = NULL,
    .leader = sq_leader,
};

int mw_bind_text(sqlite3_stmt *st, int idx, const char *s) {
  if(!s)
    return sqlite3_bind_null(st, idx);
  return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

int mw_bind_id(sqlite3_stmt *st, int idx, int64_t v) {
  return v < 0 ? sqlite3_bind_null(st, idx) : sqlite3_bind_int64(st, idx, v);
}

int mw_bind_double(sqlite3_stmt *st, int idx, double v) {
  return isfinite(v) ? sqlite3_bind_double(st, idx, v) : sqlite3_bind_null(st, idx);
}

const char *mw_col_text(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? (const char *)t : "";
}

char *mw_col_dup(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? strdup((const char *)t) : NULL;
}

int64_t mw_col_i64(sqlite3_stmt *st, int col, int64_t dflt) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? dflt
                                                     : sqlite3_column_int64(st, col);
}

double mw_col_double(sqlite3_stmt *st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL
             ? NAN
             : sqlite3_column_double(st, col);
}
