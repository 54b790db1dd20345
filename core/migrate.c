/* core/migrate.c - applies the migrations embedded at build time
 * (migrations/<dialect>/NNNN_name.sql), each in its own write transaction,
 * through the backend's migrate_one; the backend keeps the schema version
 * (SQLite: PRAGMA user_version) plus a history table. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_backend.h"
#include "core/log.h"

struct mw_embedded_migration {
  const char *name;
  const unsigned char *data;
  size_t len;
};
extern const struct mw_embedded_migration mw_migrations_sqlite[];
extern const size_t mw_migrations_sqlite_count;
extern const struct mw_embedded_migration mw_migrations_postgres[];
extern const size_t mw_migrations_postgres_count;

/* The migrations of a backend, by kind. */
static const struct mw_embedded_migration *migrations(enum mw_db_kind kind,
                                                      size_t *n) {
  switch(kind) {
  case MW_DB_POSTGRES:
    *n = mw_migrations_postgres_count;
    return mw_migrations_postgres;
  case MW_DB_SQLITE:
  default:
    *n = mw_migrations_sqlite_count;
    return mw_migrations_sqlite;
  }
}

int mw_migrations_latest(void) {
  size_t n;
  migrations(MW_DB_SQLITE, &n);
  return (int)n;
}

mw_status mw_schema_version(mw_conn *c, int *out) {
  return c->be->schema_version(c, out);
}

/* The version a migration's file name brings the database to (its four
 * leading digits), or -1. */
static int migration_number(const char *name) {
  int num = 0;
  for(int i = 0; i < 4; i++) {
    if(name[i] < '0' || name[i] > '9')
      return -1;
    num = num * 10 + (name[i] - '0');
  }
  return num;
}

static mw_status migrate_locked(mw_conn *c, int *applied);

mw_status mw_migrate(mw_conn *c, int *applied) {
  if(applied)
    *applied = 0;
  /* Replicas that start together migrate once: the first takes the lock
   * and migrates, the others wait, then find nothing left to do. */
  if(c->be->migrate_lock) {
    mw_status st = c->be->migrate_lock(c, 1);
    if(st)
      return st;
  }
  mw_status st = migrate_locked(c, applied);
  if(c->be->migrate_lock && c->be->migrate_lock(c, 0))
    mw_log(MW_LOG_WARN, "db", "could not release the migration lock");
  return st;
}

static mw_status migrate_locked(mw_conn *c, int *applied) {
  int done = 0;
  int have = 0;
  mw_status st = mw_schema_version(c, &have);
  if(st)
    return st;
  size_t n;
  const struct mw_embedded_migration *list = migrations(mw_conn_kind(c), &n);
  int latest = (int)n;
  if(have > latest) {
    mw_log(MW_LOG_ERROR, "db",
           "database schema version %d is newer than this binary's %d; "
           "upgrade modelwatch or use a matching data directory",
           have, latest);
    return MW_ESCHEMA;
  }
  for(int i = have; i < latest; i++) {
    const struct mw_embedded_migration *m = &list[i];
    /* Migration numbers must be 1..N without gaps: the file name is the
     * version it brings the database to. */
    if(migration_number(m->name) != i + 1) {
      mw_log(MW_LOG_ERROR, "db", "migration %s is out of sequence (expected %04d)",
             m->name, i + 1);
      return MW_EINTERNAL;
    }
    st = mw_tx_begin(c);
    if(st)
      return st;
    st = c->be->migrate_one(c, i + 1, m->name, (const char *)m->data);
    if(st) {
      mw_log(MW_LOG_ERROR, "db", "migration %s failed", m->name);
      mw_tx_rollback(c);
      return st;
    }
    st = mw_tx_commit(c);
    if(st)
      return st;
    mw_log(MW_LOG_INFO, "db", "applied migration %s", m->name);
    done++;
  }
  if(applied)
    *applied = done;
  return MW_OK;
}
