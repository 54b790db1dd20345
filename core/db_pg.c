/* core/db_pg.c - the PostgreSQL backend of the database seam (libpq), and
 * the statement helpers of core/db_pg.h that the `*_pg.c` store files use.
 *
 * Why each choice:
 *  - One connection per thread, as on SQLite: a handler thread never waits
 *    for a pool, and server-side prepared statements stay on the
 *    connection that prepared them (each statement is prepared on first
 *    use, keyed by the address of its SQL literal).
 *  - Writers are serialised across every replica by a transaction-scoped
 *    advisory lock taken right after BEGIN (READ COMMITTED). That gives a
 *    write transaction exactly SQLite's guarantee - no other writer between
 *    its reads and its writes - so the business rules above the seam
 *    (compare-and-swap of aliases, the rollback stack, one rollback per
 *    firing) hold unchanged across replicas, with no retry loops. Readers
 *    never take it. Its cost is that writes of all replicas queue on one
 *    lock, as they do on one SQLite file.
 *  - Read transactions are REPEATABLE READ READ ONLY: one snapshot for a
 *    whole drift report, like a deferred SQLite read transaction.
 *  - A lost connection is MW_EBUSY (503 with Retry-After for clients) and
 *    is re-established on the connection's next use outside a transaction,
 *    so service resumes by itself when the server is back.
 *  - Every connection LISTENs on "mw_change"; writers NOTIFY it in the
 *    transaction that queues work for others (the outbox), so
 *    mw_db_data_version moves when another replica commits such work, and
 *    a worker can sleep on the socket instead of polling. */
#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/db_backend.h"
#include "core/db_pg.h"
#include "core/fault.h"
#include "core/log.h"

#define PG_STMT_CACHE 160
/* Advisory lock keys (two int4s: a namespace and a purpose). */
#define PG_LOCK_NS 0x6d77 /* "mw" */
#define PG_LOCK_WRITE 1
#define PG_LOCK_MIGRATE 2
#define PG_LOCK_LEADER 3

struct pg_stmt {
  const char *sql;
  int bin; /* prepared for binary results */
  char name[16];
};

struct pg_conn {
  struct mw_conn base; /* first: a struct mw_conn * points here */
  PGconn *pg;
  int nstmt;
  unsigned next_name;
  struct pg_stmt cache[PG_STMT_CACHE];
  int64_t notifies; /* NOTIFYs received on mw_change */
};

static struct pg_conn *pq(mw_conn *c) {
  assert(c->be == &mw_db_backend_pg);
  return (struct pg_conn *)c;
}

PGconn *mw_pg(mw_conn *c) { return pq(c)->pg; }

static void quiet_notice(void *arg, const char *msg) {
  (void)arg;
  (void)msg;
}

/* Settings of a new or re-established session. */
static int session_setup(struct pg_conn *c) {
  PQsetNoticeProcessor(c->pg, quiet_notice, NULL);
  PGresult *r = PQexec(c->pg, "SET application_name = 'modelwatch'; "
                              "SET client_encoding = 'UTF8'; LISTEN mw_change");
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if(!ok)
    mw_log(MW_LOG_ERROR, "db", "PostgreSQL session setup failed: %s",
           PQerrorMessage(c->pg));
  PQclear(r);
  return ok;
}

/* Re-establishes a broken connection (outside a transaction only): the
 * server forgot its prepared statements and LISTEN. 0 when it is usable. */
static int ensure_connected(struct pg_conn *c) {
  if(PQstatus(c->pg) == CONNECTION_OK)
    return 0;
  if(c->base.tx != MW_TX_NONE)
    return -1;
  PQreset(c->pg);
  if(PQstatus(c->pg) != CONNECTION_OK)
    return -1;
  c->nstmt = 0;
  mw_log(MW_LOG_INFO, "db", "reconnected to PostgreSQL");
  return session_setup(c) ? 0 : -1;
}

static void pg_conn_close(mw_conn *mc) {
  if(!mc)
    return;
  struct pg_conn *c = pq(mc);
  PQfinish(c->pg);
  free(c);
}

static mw_conn *pg_conn_open(mw_db *d) {
  struct pg_conn *c = calloc(1, sizeof *c);
  if(!c)
    return NULL;
  c->base.be = &mw_db_backend_pg;
  c->pg = PQconnectdb(d->target);
  if(PQstatus(c->pg) != CONNECTION_OK) {
    mw_log(MW_LOG_ERROR, "db", "cannot connect to PostgreSQL: %s",
           PQerrorMessage(c->pg));
    pg_conn_close(&c->base);
    return NULL;
  }
  if(!session_setup(c)) {
    pg_conn_close(&c->base);
    return NULL;
  }
  return &c->base;
}

static mw_status pg_open(mw_db *d) {
  (void)d;
  return MW_OK;
}

static void pg_close(mw_db *d) { (void)d; }

/* ------------------------------------------------------------ statements */

void mw_pgp_init(mw_pg_params *p) { p->n = 0; }

static int pgp_slot(mw_pg_params *p) {
  assert(p->n < MW_PG_MAX_PARAMS);
  int i = p->n++;
  p->len[i] = 0;
  p->fmt[i] = 0;
  return i;
}

void mw_pgp_text(mw_pg_params *p, const char *s) {
  int i = pgp_slot(p);
  p->val[i] = s;
}

void mw_pgp_null(mw_pg_params *p) { mw_pgp_text(p, NULL); }

void mw_pgp_i64(mw_pg_params *p, int64_t v) {
  int i = pgp_slot(p);
  snprintf(p->num[i], sizeof p->num[i], "%" PRId64, v);
  p->val[i] = p->num[i];
}

void mw_pgp_id(mw_pg_params *p, int64_t v) {
  if(v < 0)
    mw_pgp_null(p);
  else
    mw_pgp_i64(p, v);
}

void mw_pgp_double(mw_pg_params *p, double v) {
  if(!isfinite(v)) {
    mw_pgp_null(p);
    return;
  }
  int i = pgp_slot(p);
  snprintf(p->num[i], sizeof p->num[i], "%.17g", v);
  p->val[i] = p->num[i];
}

void mw_pgp_bytes(mw_pg_params *p, const void *data, size_t len) {
  int i = pgp_slot(p);
  assert(len <= INT32_MAX);
  p->val[i] = data ? data : "";
  p->len[i] = (int)len;
  p->fmt[i] = 1;
}

/* The mw_status of a failed result (res may be NULL). */
static mw_status result_status(struct pg_conn *c, const PGresult *res,
                               const char *sql) {
  if(PQstatus(c->pg) != CONNECTION_OK) {
    mw_log(MW_LOG_WARN, "db", "PostgreSQL connection lost: %s",
           PQerrorMessage(c->pg));
    return MW_EBUSY;
  }
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if(state && !strncmp(state, "23", 2))
    return MW_ECONFLICT;
  if(state && (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
               !strcmp(state, "55P03") || !strncmp(state, "08", 2) ||
               !strncmp(state, "57P", 3))) {
    mw_log(MW_LOG_WARN, "db", "PostgreSQL busy (%s): %s", state,
           res ? PQresultErrorMessage(res) : "");
    return MW_EBUSY;
  }
  mw_log(MW_LOG_ERROR, "db", "PostgreSQL error %s: %s (%.80s)", state ? state : "?",
         res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg), sql);
  return MW_EDB;
}

/* The prepared statement for sql (binary results or not), preparing it
 * on first use. NULL with *s set on failure. */
static const struct pg_stmt *prepared(struct pg_conn *c, const char *sql, int bin,
                                      const mw_pg_params *p, mw_status *s) {
  for(int i = 0; i < c->nstmt; i++)
    if(c->cache[i].sql == sql && c->cache[i].bin == bin)
      return &c->cache[i];
  if(c->nstmt == PG_STMT_CACHE) {
    /* Full: forget the oldest (the least likely to be hot). */
    char dealloc[40];
    snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", c->cache[0].name);
    PQclear(PQexec(c->pg, dealloc));
    memmove(&c->cache[0], &c->cache[1], sizeof c->cache[0] * (PG_STMT_CACHE - 1));
    c->nstmt--;
  }
  struct pg_stmt *st = &c->cache[c->nstmt];
  st->sql = sql;
  st->bin = bin;
  snprintf(st->name, sizeof st->name, "mw%u", c->next_name++);
  /* Parameter types are left to the server: text literals coerce to the
   * column types the statement uses, bytea parameters travel binary. */
  (void)p;
  PGresult *r = PQprepare(c->pg, st->name, sql, 0, NULL);
  if(PQresultStatus(r) != PGRES_COMMAND_OK) {
    *s = result_status(c, r, sql);
    PQclear(r);
    return NULL;
  }
  PQclear(r);
  c->nstmt++;
  return st;
}

static PGresult *run(mw_conn *mc, const char *sql, const mw_pg_params *p, int bin,
                     mw_status *s) {
  struct pg_conn *c = pq(mc);
  *s = MW_OK;
  if(ensure_connected(c)) {
    *s = MW_EBUSY;
    return NULL;
  }
#ifdef MW_FAULT_INJECTION
  if(mw__fault_hit(MW_FAULT_PREPARE, sql) || mw__fault_hit(MW_FAULT_STEP, sql)) {
    *s = MW_EIO;
    return NULL;
  }
#endif
  const struct pg_stmt *st = prepared(c, sql, bin, p, s);
  if(!st)
    return NULL;
  PGresult *r = PQexecPrepared(c->pg, st->name, p ? p->n : 0, p ? p->val : NULL,
                               p ? p->len : NULL, p ? p->fmt : NULL, bin);
  ExecStatusType es = PQresultStatus(r);
  if(es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK)
    return r;
  *s = result_status(c, r, sql);
  PQclear(r);
  return NULL;
}

PGresult *mw_pg_run(mw_conn *c, const char *sql, const mw_pg_params *p,
                    mw_status *s) {
  return run(c, sql, p, 0, s);
}

PGresult *mw_pg_run_bin(mw_conn *c, const char *sql, const mw_pg_params *p,
                        mw_status *s) {
  return run(c, sql, p, 1, s);
}

mw_status mw_pg_do(mw_conn *c, const char *sql, const mw_pg_params *p,
                   int64_t *changed) {
  mw_status s;
  PGresult *r = run(c, sql, p, 0, &s);
  if(!r)
    return s;
  if(changed) {
    const char *n = PQcmdTuples(r);
    *changed = n && *n ? strtoll(n, NULL, 10) : 0;
  }
  PQclear(r);
  return MW_OK;
}

mw_status mw_pg_exec(mw_conn *mc, const char *sql) {
  struct pg_conn *c = pq(mc);
  if(ensure_connected(c))
    return MW_EBUSY;
#ifdef MW_FAULT_INJECTION
  if(mw__fault_hit(MW_FAULT_STEP, sql))
    return MW_EIO;
#endif
  PGresult *r = PQexec(c->pg, sql);
  ExecStatusType es = PQresultStatus(r);
  mw_status s = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK
                    ? MW_OK
                    : result_status(c, r, sql);
  PQclear(r);
  return s;
}

int mw_pg_null(const PGresult *res, int r, int col) {
  return PQgetisnull(res, r, col);
}

const char *mw_pg_text(const PGresult *res, int r, int col) {
  return PQgetisnull(res, r, col) ? "" : PQgetvalue(res, r, col);
}

char *mw_pg_dup(const PGresult *res, int r, int col) {
  return PQgetisnull(res, r, col) ? NULL : strdup(PQgetvalue(res, r, col));
}

int64_t mw_pg_i64(const PGresult *res, int r, int col, int64_t dflt) {
  if(PQgetisnull(res, r, col))
    return dflt;
  return strtoll(PQgetvalue(res, r, col), NULL, 10);
}

double mw_pg_double(const PGresult *res, int r, int col) {
  if(PQgetisnull(res, r, col))
    return NAN;
  return strtod(PQgetvalue(res, r, col), NULL);
}

unsigned char *mw_pg_bytes(const PGresult *res, int r, int col, size_t *len) {
  *len = 0;
  if(PQgetisnull(res, r, col))
    return NULL;
  size_t n = 0;
  unsigned char *tmp =
      PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, col), &n);
  if(!tmp)
    return NULL;
  unsigned char *out = malloc(n ? n : 1);
  if(out) {
    memcpy(out, tmp, n);
    *len = n;
  }
  PQfreemem(tmp);
  return out;
}

int64_t mw_pg_bin_i64(const PGresult *res, int r, int col, int64_t dflt) {
  if(PQgetisnull(res, r, col))
    return dflt;
  const unsigned char *b = (const unsigned char *)PQgetvalue(res, r, col);
  int n = PQgetlength(res, r, col);
  uint64_t v = 0;
  for(int i = 0; i < n; i++)
    v = (v << 8) | b[i];
  if(n == 4) /* int4: sign-extend */
    return (int32_t)(uint32_t)v;
  return (int64_t)v;
}

double mw_pg_bin_double(const PGresult *res, int r, int col) {
  if(PQgetisnull(res, r, col) || PQgetlength(res, r, col) != 8)
    return NAN;
  uint64_t bits = (uint64_t)mw_pg_bin_i64(res, r, col, 0);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

const void *mw_pg_bin_data(const PGresult *res, int r, int col, size_t *len) {
  *len = PQgetisnull(res, r, col) ? 0 : (size_t)PQgetlength(res, r, col);
  return PQgetisnull(res, r, col) ? NULL : PQgetvalue(res, r, col);
}

mw_status mw_pg_notify(mw_conn *c, const char *channel) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, channel);
  return mw_pg_do(c, "SELECT pg_notify($1, '')", &p, NULL);
}

/* ---------------------------------------------------------- transactions */

static mw_status pg_begin(mw_conn *mc, enum mw_tx kind) {
  struct pg_conn *c = pq(mc);
  if(PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
    if(PQstatus(c->pg) == CONNECTION_OK) {
      mw_log(MW_LOG_ERROR, "db", "PostgreSQL transaction already open");
      return MW_EINTERNAL;
    }
  }
  if(ensure_connected(c))
    return MW_EBUSY;
  if(kind == MW_TX_READ)
    return mw_pg_exec(mc, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  mw_status s = mw_pg_exec(mc, "BEGIN ISOLATION LEVEL READ COMMITTED");
  /* mw_tx_begin_rows: the statements lock the rows they change. */
  if(!s && kind != MW_TX_ROWS) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, PG_LOCK_NS);
    mw_pgp_i64(&p, PG_LOCK_WRITE);
    s = mw_pg_do(mc, "SELECT pg_advisory_xact_lock($1::int4, $2::int4)", &p, NULL);
    if(s)
      PQclear(PQexec(c->pg, "ROLLBACK"));
  }
  return s;
}

static mw_status pg_commit(mw_conn *mc) {
  struct pg_conn *c = pq(mc);
  PGresult *r = PQexec(c->pg, "COMMIT");
  mw_status s = MW_OK;
  if(PQresultStatus(r) != PGRES_COMMAND_OK)
    s = result_status(c, r, "COMMIT");
  else if(strcmp(PQcmdStatus(r), "COMMIT") != 0) /* an aborted transaction */
    s = MW_EDB;
  PQclear(r);
  return s;
}

static void pg_rollback(mw_conn *mc) {
  struct pg_conn *c = pq(mc);
  if(PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
    PQclear(PQexec(c->pg, "ROLLBACK"));
}

static mw_status pg_savepoint(mw_conn *c, enum mw_sp_op op) {
  switch(op) {
  case MW_SP_BEGIN:
    return mw_pg_exec(c, "SAVEPOINT mw_step");
  case MW_SP_RELEASE:
    return mw_pg_exec(c, "RELEASE SAVEPOINT mw_step");
  case MW_SP_ROLLBACK:
    return mw_pg_exec(c, "ROLLBACK TO SAVEPOINT mw_step");
  }
  return MW_EINTERNAL;
}

static mw_status pg_data_version(mw_conn *mc, int64_t *out) {
  struct pg_conn *c = pq(mc);
  if(ensure_connected(c))
    return MW_EBUSY;
  if(!PQconsumeInput(c->pg))
    return result_status(c, NULL, "LISTEN");
  PGnotify *n;
  while((n = PQnotifies(c->pg)) != NULL) {
    c->notifies++;
    PQfreemem(n);
  }
  *out = c->notifies;
  return MW_OK;
}

static mw_status pg_wait(mw_conn *mc, int timeout_ms) {
  struct pg_conn *c = pq(mc);
  if(ensure_connected(c))
    return MW_EBUSY;
  struct pollfd pfd = {PQsocket(c->pg), POLLIN, 0};
  if(pfd.fd < 0)
    return MW_EBUSY;
  poll(&pfd, 1, timeout_ms);
  return MW_OK;
}

static mw_status pg_ping(mw_conn *c) { return mw_pg_do(c, "SELECT 1", NULL, NULL); }

static int64_t pg_size(const mw_db *d) {
  (void)d;
  return 0; /* the server's business; pg_database_size needs a connection */
}

static mw_status pg_schema_version(mw_conn *c, int *out) {
  /* Two statements: a fresh database has no table to prepare against. */
  mw_status s;
  PGresult *r =
      run(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", NULL, 0, &s);
  if(!r)
    return s;
  int exists = !strcmp(mw_pg_text(r, 0, 0), "t");
  PQclear(r);
  *out = 0;
  if(!exists)
    return MW_OK;
  r = run(c, "SELECT COALESCE(max(version), 0) FROM schema_migrations", NULL, 0, &s);
  if(!r)
    return s;
  *out = (int)mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return MW_OK;
}

static mw_status pg_migrate_one(mw_conn *c, int version, const char *name,
                                const char *sql) {
  assert(mw_tx_state(c) == MW_TX_WRITE);
  mw_status s = mw_pg_exec(c, sql);
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, version);
    mw_pgp_text(&p, name);
    mw_pgp_i64(&p, mw_now_ms());
    s = mw_pg_do(c,
                 "INSERT INTO schema_migrations(version, name, applied_at) "
                 "VALUES($1, $2, $3)",
                 &p, NULL);
  }
  return s;
}

static mw_status pg_migrate_lock(mw_conn *c, int take) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, PG_LOCK_NS);
  mw_pgp_i64(&p, PG_LOCK_MIGRATE);
  return mw_pg_do(c,
                  take ? "SELECT pg_advisory_lock($1::int4, $2::int4)"
                       : "SELECT pg_advisory_unlock($1::int4, $2::int4)",
                  &p, NULL);
}

/* Leadership: a session-level advisory lock, released by the server when
 * the session ends (the process died or the connection broke). A
 * connection that was re-established has lost it: the check asks pg_locks
 * rather than trusting a flag. */
static mw_status pg_leader(mw_conn *c, int take, int *held) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, PG_LOCK_NS);
  mw_pgp_i64(&p, PG_LOCK_LEADER);
  mw_status s;
  PGresult *r;
  *held = 0;
  if(!take) {
    r = mw_pg_run(c, "SELECT pg_advisory_unlock_all()", NULL, &s);
    PQclear(r);
    return r ? MW_OK : s;
  }
  r = mw_pg_run(c,
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND classid = $1::int4::oid AND "
                "objid = $2::int4::oid AND granted) OR "
                "pg_try_advisory_lock($1::int4, $2::int4)",
                &p, &s);
  if(!r)
    return s;
  *held = !strcmp(mw_pg_text(r, 0, 0), "t");
  PQclear(r);
  return MW_OK;
}

const struct mw_db_backend mw_db_backend_pg = {
    .name = "postgresql",
    .kind = MW_DB_POSTGRES,
    .open = pg_open,
    .close = pg_close,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .row_locks = 1,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .data_version = pg_data_version,
    .wait = pg_wait,
    .ping = pg_ping,
    .size = pg_size,
    .schema_version = pg_schema_version,
    .migrate_one = pg_migrate_one,
    .migrate_lock = pg_migrate_lock,
    .leader = pg_leader,
};
