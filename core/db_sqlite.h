/* core/db_sqlite.h - what the SQLite store files (`*_sqlite.c`) use to run
 * statements on a connection of the SQLite backend: a per-connection cache
 * of prepared statements, binding and column helpers, and the steps that
 * map SQLite's result codes to mw_status exactly once.
 *
 * Only core/db_sqlite.c, core/backup.c and files named `*_sqlite.c`
 * include this header (a check in `make test` fails otherwise), so the
 * rest of modelwatch never sees a SQLite type.
 *
 * The step helpers are the only way a store file should run a statement:
 * each expects one outcome (a row, no row, done) and turns anything else
 * into an error, so a stale result code from an earlier statement can
 * never pass for success. */
#ifndef MW_CORE_DB_SQLITE_H
#define MW_CORE_DB_SQLITE_H

#include <sqlite3.h>

#include "core/db.h"

/* The raw handle of a SQLite connection (c must be of MW_DB_SQLITE). */
sqlite3 *mw_sqlite(mw_conn *c);

/* A prepared statement for sql, cached per connection (sql should be a
 * string literal: it is keyed by address). The statement is reset and its
 * bindings cleared; it stays owned by the connection. NULL on error
 * (logged); callers treat that as MW_EDB. */
sqlite3_stmt *mw_stmt(mw_conn *c, const char *sql);
/* Runs sql (no results, may hold several statements). */
mw_status mw_exec(mw_conn *c, const char *sql);

/* Translates a SQLite result code that is an error: constraint failures
 * -> MW_ECONFLICT, busy -> MW_EBUSY, I/O -> MW_EIO, others -> MW_EDB
 * (each logged). SQLITE_OK, SQLITE_ROW and SQLITE_DONE are not errors and
 * must not be passed here: they map to MW_EINTERNAL (a bug). */
mw_status mw_sqlite_error(mw_conn *c, int rc);

/* Steps st once, expecting it to finish (an INSERT, UPDATE, DELETE):
 * MW_OK on SQLITE_DONE, else the error. Resets st. A NULL st (a failed
 * mw_stmt) is MW_EDB. */
mw_status mw_step_done(mw_conn *c, sqlite3_stmt *st);
/* Steps st once, expecting a row or none: MW_OK with *found = 1 on a row
 * (st NOT reset: read the columns, then sqlite3_reset), MW_OK with
 * *found = 0 when done (st reset), else the error (st reset). A NULL st
 * is MW_EDB. */
mw_status mw_step_row(mw_conn *c, sqlite3_stmt *st, int *found);
/* Steps st for the next row of a loop: 1 on a row, 0 when done (st reset),
 * -1 on an error, with *s set (st reset). */
int mw_step_next(mw_conn *c, sqlite3_stmt *st, mw_status *s);

/* As mw_step_row for a query that must give a row: MW_OK standing on it,
 * MW_ENOTFOUND (st reset) when there is none. The caller fills err for
 * MW_ENOTFOUND, which says nothing on its own. */
mw_status mw_step_one(mw_conn *c, sqlite3_stmt *st);

#ifdef MW_FAULT_INJECTION
/* Test builds only (core/fault.c): every sqlite3_step of the store files
 * goes through mw_fault_step, so a test can fail the k-th statement of
 * one request. */
int mw_fault_step(sqlite3_stmt *st);
#define sqlite3_step(st) mw_fault_step(st)
#endif

/* Rows the last finished statement changed, and the rowid it inserted. */
int64_t mw_sqlite_changes(mw_conn *c);
int64_t mw_sqlite_last_id(mw_conn *c);

/* Binds text, or NULL when s is NULL. */
int mw_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Binds an integer, or NULL when v < 0 (ids, versions and times are never
 * negative where this is used). */
int mw_bind_id(sqlite3_stmt *st, int idx, int64_t v);
/* Binds a double, or NULL when v is not finite. */
int mw_bind_double(sqlite3_stmt *st, int idx, double v);
/* Column text or "" (borrowed until the next step/reset). */
const char *mw_col_text(sqlite3_stmt *st, int col);
/* Column text copied with malloc (NULL for SQL NULL or no memory). */
char *mw_col_dup(sqlite3_stmt *st, int col);
/* Column integer, or dflt when the column is NULL. */
int64_t mw_col_i64(sqlite3_stmt *st, int col, int64_t dflt);
/* Column double, or NAN when the column is NULL. */
double mw_col_double(sqlite3_stmt *st, int col);

#endif
