/* core/db.h - the database seam: a database, one connection per thread,
 * transactions and migrations, whatever the backend.
 *
 * Like SQLite's VFS, a backend is a small table of operations
 * (struct mw_db_backend in core/db_backend.h) chosen when the database is
 * opened: SQLite (core/db_sqlite.c) for a path, PostgreSQL for a
 * postgresql:// URL. Nothing in this header names a backend's types, so
 * business code (validation, compare-and-swap, state machines, JSON) is
 * written once. Each subsystem keeps its statements behind a store
 * interface of its own (registry/store.h, monitor/store.h, alerts/store.h,
 * core/store.h) whose implementations live in files named for their
 * backend (`*_sqlite.c`); they pick their implementation with
 * mw_conn_kind().
 *
 * Operations and their cost:
 *  - mw_db_conn: a pointer lookup after the thread's first call, which
 *    opens the connection.
 *  - mw_tx_begin: waits for this process's write lock (a mutex handed over
 *    in arrival order), then the backend's own write lock (SQLite: BEGIN
 *    IMMEDIATE). One writer at a time per database: a write transaction
 *    sees no concurrent change between its reads and its writes.
 *  - mw_tx_read: a consistent snapshot for several reads (SQLite: a
 *    deferred BEGIN whose first read fixes the snapshot); never blocks
 *    writers.
 *  - mw_tx_commit: durable on return (SQLite: fsync with synchronous=FULL).
 *
 * Every function takes the calling thread's connection; a connection is
 * never shared between threads. */
#ifndef MW_CORE_DB_H
#define MW_CORE_DB_H

#include <stdint.h>

#include "core/status.h"

typedef struct mw_db mw_db;     /* a database: backend and open options */
typedef struct mw_conn mw_conn; /* one connection, owned by one thread */

/* The backends. A store interface keeps one implementation per kind. */
enum mw_db_kind { MW_DB_SQLITE = 0, MW_DB_POSTGRES = 1, MW_DB_KIND_COUNT };

/* 1 when target names a PostgreSQL database (a postgresql:// or
 * postgres:// URL, or libpq key=value settings with host=, dbname= or
 * service=); otherwise it is a SQLite file path. */
int mw_db_target_is_postgres(const char *target);
/* Opens (creating if needed) the database target names (SQLite: a file
 * path; PostgreSQL: see mw_db_target_is_postgres) and checks that it can be used: the calling thread's connection is
 * opened here, so a bad target fails now. sync_full selects SQLite's
 * synchronous=FULL (every commit fsynced). Caller frees with mw_db_close. */
mw_status mw_db_open(const char *target, int sync_full, mw_db **out);
/* Closes the calling thread's connection and frees db; NULL is fine.
 * Connections of other threads are closed when those threads exit. */
void mw_db_close(mw_db *db);
/* The backend of db and of c. */
enum mw_db_kind mw_db_kind(const mw_db *db);
enum mw_db_kind mw_conn_kind(const mw_conn *c);
/* What db was opened with (a path or URL, which may hold a password: not
 * for messages). Borrowed. */
const char *mw_db_name(const mw_db *db);
/* The calling thread's connection, opened on first use. Borrowed: valid
 * until the thread exits or mw_db_close. NULL on failure (logged). */
mw_conn *mw_db_conn(mw_db *db);
/* The database of a connection. */
mw_db *mw_conn_db(mw_conn *c);

/* Starts a write transaction (see the cost above). MW_EINTERNAL when c
 * already has one open; MW_EBUSY when the backend's lock cannot be had. */
mw_status mw_tx_begin(mw_conn *c);
/* Starts a write transaction that relies on row locks alone: on a backend
 * that locks rows (PostgreSQL) it takes neither this process's write lock
 * nor the database-wide one, so it runs alongside mw_tx_begin's writers
 * and those of other replicas; elsewhere (SQLite, one writer per file) it
 * is mw_tx_begin. Only for work that locks every row it changes itself
 * and that no other writer's decision reads: the delivery workers'
 * claims of outbox rows (SELECT ... FOR UPDATE SKIP LOCKED, then their
 * attempt results). Ends like any transaction; mw_tx_state says 1. */
mw_status mw_tx_begin_rows(mw_conn *c);
/* Starts a read-only transaction: one snapshot for every read until
 * mw_tx_rollback (or mw_tx_commit). */
mw_status mw_tx_read(mw_conn *c);
/* Commits; on failure the transaction is rolled back. Either way c has no
 * transaction afterwards. */
mw_status mw_tx_commit(mw_conn *c);
/* Rolls back; safe when no transaction is open. */
void mw_tx_rollback(mw_conn *c);
/* 1 inside a write transaction, 2 inside a read one, 0 outside (for
 * assert()s of callers that need one). */
int mw_tx_state(const mw_conn *c);

/* One nested level inside a write transaction, so that a step may fail
 * without spoiling the transaction (the alert evaluator's rollback action):
 * mw_savepoint, then mw_savepoint_release to keep the step's changes or
 * mw_savepoint_rollback to drop them. */
mw_status mw_savepoint(mw_conn *c);
mw_status mw_savepoint_release(mw_conn *c);
void mw_savepoint_rollback(mw_conn *c);

/* A number that changes when another connection (of any process) commits
 * to the database, for workers that sleep until there is something new.
 * Cheap enough to poll every few hundred milliseconds. */
mw_status mw_db_data_version(mw_conn *c, int64_t *out);
/* Waits at most timeout_ms for another connection's commit of queued work
 * (PostgreSQL: a NOTIFY on the connection; SQLite: simply sleeps), outside
 * a transaction. Returns early when one may have happened: callers check
 * mw_db_data_version. */
mw_status mw_db_wait(mw_conn *c, int timeout_ms);
/* Leadership among the processes sharing the database, held by c (see
 * core/cluster.h, its only user): take = 1 tries to win it or checks it is
 * still held and sets *held; take = 0 gives it up. */
mw_status mw_db_leader(mw_conn *c, int take, int *held);
/* Answers whether the database can be used now (/readyz). */
mw_status mw_db_ping(mw_conn *c);
/* Bytes the database takes (SQLite: the file plus its WAL; 0 if unknown). */
int64_t mw_db_size(const mw_db *db);

/* How long this process's writers waited for and held the write lock, in
 * nanoseconds, and how many write transactions ran (for /metrics). */
typedef struct mw_db_stats {
  uint64_t tx_count, wait_ns, held_ns;
} mw_db_stats;
void mw_db_stats_get(mw_db *db, mw_db_stats *out);

/* ---- migrations (core/migrate.c) ---- */

/* Number of migrations embedded in this binary: the schema version it
 * expects. Migration N exists once per SQL dialect (migrations/<dialect>/)
 * and brings every backend to the same schema N. */
int mw_migrations_latest(void);
/* Applies pending migrations in order, one transaction each, and records
 * the schema version. MW_ESCHEMA if the database is newer than this binary.
 * *applied (may be NULL) receives how many ran. */
mw_status mw_migrate(mw_conn *c, int *applied);
/* Current schema version of the database (0 when fresh). */
mw_status mw_schema_version(mw_conn *c, int *out);

#endif
