/* core/migrate.c - applies the migrations embedded at build time
 * (migrations/NNNN_name.sql), each in its own transaction, and keeps the
 * schema version in PRAGMA user_version plus a history table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

struct mw_embedded_migration {
  const char *name;
  const unsigned char *data;
  size_t len;
};
extern const struct mw_embedded_migration mw_migrations[];
extern const size_t mw_migrations_count;

int mw_migrations_latest(void) { return (int)mw_migrations_count; }

mw_status mw_schema_version(mw_conn *c, int *out) {
  sqlite3_stmt *st = mw_stmt(c, "PRAGMA user_version");
  mw_status s = mw_step_one(c, st);
  if(s)
    return s == MW_ENOTFOUND ? MW_EINTERNAL : s; /* the pragma has its row */
  *out = sqlite3_column_int(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

mw_status mw_migrate(mw_conn *c, int *applied) {
  int done = 0;
  if(applied)
    *applied = 0;
  int have = 0;
  mw_status st = mw_schema_version(c, &have);
  if(st)
    return st;
  int latest = mw_migrations_latest();
  if(have > latest) {
    mw_log(MW_LOG_ERROR, "db",
           "database schema version %d is newer than this binary's %d; "
           "upgrade modelwatch or use a matching data directory",
           have, latest);
    return MW_ESCHEMA;
  }
  for(int i = have; i < latest; i++) {
    const struct mw_embedded_migration *m = &mw_migrations[i];
    /* Migration numbers must be 1..N without gaps: the file name is the
     * version it brings the database to. */
    int num = (m->name[0] - '0') * 1000 + (m->name[1] - '0') * 100 +
              (m->name[2] - '0') * 10 + (m->name[3] - '0');
    if(num != i + 1) {
      mw_log(MW_LOG_ERROR, "db", "migration %s is out of sequence (expected %04d)",
             m->name, i + 1);
      return MW_EINTERNAL;
    }
    st = mw_tx_begin(c);
    if(st)
      return st;
    st = mw_exec(c, (const char *)m->data);
    if(!st) {
      char pragma[64];
      snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", i + 1);
      st = mw_exec(c, pragma);
    }
    if(!st) {
      sqlite3_stmt *ins = mw_stmt(
          c, "INSERT INTO schema_migrations(version, name, applied_at) "
             "VALUES(?, ?, ?)");
      if(ins) {
        sqlite3_bind_int(ins, 1, i + 1);
        sqlite3_bind_text(ins, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, mw_now_ms());
      }
      st = mw_step_done(c, ins);
    }
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
