/* core/db_pg.h - what the PostgreSQL store files (`*_pg.c`) use to run
 * statements on a connection of the PostgreSQL backend: parameters built
 * in place, statements prepared once per connection (keyed by the address
 * of their SQL literal, as on SQLite), results read by column, and
 * SQLSTATEs mapped to mw_status in one place.
 *
 * Only core/db_pg.c and files named `*_pg.c` include this header (the
 * layout check fails otherwise).
 *
 * Parameters travel as text (numbers printed exactly: %lld, and %.17g for
 * doubles) except byte arrays, which travel binary. Results come back as
 * text; mw_pg_i64/mw_pg_double/mw_pg_bytes convert. */
#ifndef MW_CORE_DB_PG_H
#define MW_CORE_DB_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db.h"

#define MW_PG_MAX_PARAMS 24

/* Up to MW_PG_MAX_PARAMS parameters of one statement. Strings are borrowed
 * until the statement ran; numbers are printed into the struct. */
typedef struct mw_pg_params {
  int n;
  const char *val[MW_PG_MAX_PARAMS];
  int len[MW_PG_MAX_PARAMS];
  int fmt[MW_PG_MAX_PARAMS];
  char num[MW_PG_MAX_PARAMS][32];
} mw_pg_params;

void mw_pgp_init(mw_pg_params *p);
void mw_pgp_text(mw_pg_params *p, const char *s); /* NULL -> SQL NULL */
void mw_pgp_i64(mw_pg_params *p, int64_t v);
void mw_pgp_id(mw_pg_params *p, int64_t v);    /* v < 0 -> SQL NULL */
void mw_pgp_double(mw_pg_params *p, double v); /* not finite -> NULL */
void mw_pgp_bytes(mw_pg_params *p, const void *data, size_t len);
void mw_pgp_null(mw_pg_params *p);

/* The raw handle of a PostgreSQL connection. */
PGconn *mw_pg(mw_conn *c);

/* Runs sql (prepared once per connection; sql must be a string literal)
 * with p (may be NULL). Returns the result (caller PQclears) when it is
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK; otherwise NULL with *s set:
 * MW_ECONFLICT for integrity violations (SQLSTATE class 23), MW_EBUSY for
 * serialization failures, deadlocks and a lost connection (the next call
 * reconnects), MW_EDB otherwise (logged). */
PGresult *mw_pg_run(mw_conn *c, const char *sql, const mw_pg_params *p,
                    mw_status *s);
/* mw_pg_run for statements whose rows are not needed: MW_OK or the error;
 * *changed (may be NULL) receives the rows affected. */
mw_status mw_pg_do(mw_conn *c, const char *sql, const mw_pg_params *p,
                   int64_t *changed);
/* Runs one or more statements without parameters (no preparation). */
mw_status mw_pg_exec(mw_conn *c, const char *sql);

/* Column helpers for row r, column col of res. */
int mw_pg_null(const PGresult *res, int r, int col);
const char *mw_pg_text(const PGresult *res, int r, int col); /* "" for NULL */
char *mw_pg_dup(const PGresult *res, int r, int col); /* malloc; NULL if NULL */
int64_t mw_pg_i64(const PGresult *res, int r, int col, int64_t dflt);
double mw_pg_double(const PGresult *res, int r, int col); /* NAN for NULL */
/* A bytea column (text form "\x..."), decoded into a new buffer (caller
 * frees with free(); *len receives its size). NULL for SQL NULL (with *len
 * 0) or when memory runs out. */
unsigned char *mw_pg_bytes(const PGresult *res, int r, int col, size_t *len);

/* As mw_pg_run, with every result column in binary format (bytea as raw
 * bytes, int8 as 8 bytes big-endian, float8 as IEEE 754 big-endian): for
 * the monitor's column blocks, which would double in size as hex text. */
PGresult *mw_pg_run_bin(mw_conn *c, const char *sql, const mw_pg_params *p,
                        mw_status *s);
/* Readers of binary columns (res from mw_pg_run_bin). */
int64_t mw_pg_bin_i64(const PGresult *res, int r, int col, int64_t dflt);
double mw_pg_bin_double(const PGresult *res, int r, int col); /* NAN: NULL */
const void *mw_pg_bin_data(const PGresult *res, int r, int col, size_t *len);

/* Wakes other replicas: NOTIFY channel (delivered when the caller's
 * transaction commits). */
mw_status mw_pg_notify(mw_conn *c, const char *channel);

#endif
