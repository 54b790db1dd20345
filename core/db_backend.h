/* core/db_backend.h - what a database backend implements, and the parts of
 * a database and a connection every backend shares. For core/db.c (which
 * dispatches) and the backends (core/db_sqlite.c); nothing else includes
 * it.
 *
 * Adding a backend: a kind in enum mw_db_kind (core/db.h), a struct
 * mw_db_backend here, a case in mw_db_open's choice of backend, and one
 * implementation of each store interface (see docs/architecture.md). */
#ifndef MW_CORE_DB_BACKEND_H
#define MW_CORE_DB_BACKEND_H

#include <pthread.h>

#include "core/db.h"

/* What mw_savepoint* asks of the backend. */
enum mw_sp_op { MW_SP_BEGIN, MW_SP_RELEASE, MW_SP_ROLLBACK };

/* Transaction states of a connection (mw_tx_state). MW_TX_ROWS is only
 * what mw_tx_begin_rows asks the backend's begin for: a write transaction
 * without the database-wide write lock (the connection then says
 * MW_TX_WRITE, with rows_only set). */
enum mw_tx { MW_TX_NONE = 0, MW_TX_WRITE = 1, MW_TX_READ = 2, MW_TX_ROWS = 3 };

struct mw_db_backend {
  const char *name;
  enum mw_db_kind kind;
  /* Opens the backend's side of db (db->target checked); db->impl may be
   * set. Called once, before any connection. */
  mw_status (*open)(mw_db *db);
  /* Frees what open made. */
  void (*close)(mw_db *db);
  /* A new connection of this backend: a struct that begins with struct
   * mw_conn (whose fields the caller fills). NULL on failure (logged). */
  mw_conn *(*conn_open)(mw_db *db);
  void (*conn_close)(mw_conn *c);
  /* 1 when the backend locks rows, so that mw_tx_begin_rows may do
   * without the write locks (begin is then called with MW_TX_ROWS). */
  int row_locks;
  /* Transaction control; write begins after the process's write lock is
   * held. */
  mw_status (*begin)(mw_conn *c, enum mw_tx kind);
  mw_status (*commit)(mw_conn *c);
  void (*rollback)(mw_conn *c);
  mw_status (*savepoint)(mw_conn *c, enum mw_sp_op op);
  mw_status (*data_version)(mw_conn *c, int64_t *out);
  mw_status (*wait)(mw_conn *c, int timeout_ms);
  mw_status (*ping)(mw_conn *c);
  int64_t (*size)(const mw_db *db);
  /* Migrations: the schema version stored in the database, and applying
   * one migration's text inside the caller's write transaction, recording
   * version and name. */
  mw_status (*schema_version)(mw_conn *c, int *out);
  mw_status (*migrate_one)(mw_conn *c, int version, const char *name,
                           const char *sql);
  /* Takes (take = 1) or releases the lock that makes replicas starting
   * together migrate once; NULL when the backend needs none. */
  mw_status (*migrate_lock)(mw_conn *c, int take);
  /* Leadership among the processes sharing the database (core/cluster.c):
   * with take, tries to hold (or checks it still holds) a lock that dies
   * with c's process or session, and sets *held; without take, lets it go. */
  mw_status (*leader)(mw_conn *c, int take, int *held);
};

/* The backends linked into this binary. */
extern const struct mw_db_backend mw_db_backend_sqlite;
extern const struct mw_db_backend mw_db_backend_pg;

struct mw_db {
  const struct mw_db_backend *be;
  char *target; /* as opened (a path or a PostgreSQL URL); owned */
  int sync_full;
  pthread_key_t key; /* the thread's connection */
  /* Writers of this process queue here before the backend's write lock.
   * SQLite allows one writer anyway; its busy handler makes the others
   * sleep and poll (up to 100 ms a nap), which under load turns into long
   * tails and timeouts. A mutex hands the write lock over at once, in
   * arrival order. Other processes still meet the backend's own lock. */
  pthread_mutex_t write_lock;
  /* Counters of mw_db_stats (atomic builtins). */
  uint64_t tx_count, wait_ns, held_ns;
  void *impl; /* the backend's own state */
  /* The key of the credentials stored in it (core/secrets.h); owned,
   * wiped on close; NULL until mw_secrets_attach. */
  struct mw_secret_key *secret_key;
};

/* The head of every backend's connection struct. */
struct mw_conn {
  const struct mw_db_backend *be;
  mw_db *db;
  enum mw_tx tx;
  int in_savepoint;
  int rows_only;    /* the write transaction holds no write lock */
  int64_t write_t0; /* monotonic ns when the write lock was taken */
};

#endif
