/* tests/unit/mon_fixture.h - the database fixture of the monitor's unit
 * tests (test_monitor.c, test_rollup.c): a SQLite file in a temporary
 * directory, or, when MW_TEST_PG_URL names a PostgreSQL cluster
 * (tests/unit/with_pg.py starts one), a fresh database in it per test;
 * migrated, with model 1 ('m') and its versions 7 (SCHEMA) and 8 seeded by
 * SQL, and a monitor context. Header-only: each test program includes it
 * once. Ownership: setup allocates the struct fix that teardown frees with
 * everything in it. */
#ifndef MW_TESTS_MON_FIXTURE_H
#define MW_TESTS_MON_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db_pg.h"
#include "core/db_sqlite.h"
#include "monitor/internal.h"

static const char *SCHEMA = "{\"features\":[{\"name\":\"age\",\"type\":\"numeric\"},"
                            "{\"name\":\"city\",\"type\":\"categorical\"}],"
                            "\"prediction\":{\"type\":\"numeric\"}}";

struct fix {
  char dir[64];
  char path[128];
  char pgdb[64]; /* PostgreSQL: the test's database ("" on SQLite) */
  mw_db *db;
  mw_conn *c;
  mon_ctx *m;
  mon_version v;
};

/* Runs sql (no result) on the test's database, whichever the backend. */
static mw_status exec_sql(struct fix *f, const char *sql) {
  if(mw_conn_kind(f->c) == MW_DB_SQLITE)
    return mw_exec(f->c, sql);
  return mw_pg_exec(f->c, sql);
}

/* The first column of the first row of sql as an integer (-1: no row). */
static int64_t count_rows(struct fix *f, const char *sql) {
  int64_t n = -1;
  if(mw_conn_kind(f->c) == MW_DB_SQLITE) {
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(mw_sqlite(f->c), sql, -1, &st, NULL);
    if(sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  }
  PGresult *r = PQexec(mw_pg(f->c), sql);
  if(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
    n = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  else
    fprintf(stderr, "count_rows: %s: %s\n", sql, PQerrorMessage(mw_pg(f->c)));
  PQclear(r);
  return n;
}

/* Runs sql on the cluster's maintenance database (CREATE/DROP DATABASE). */
static int pg_admin(const char *sql) {
  PGconn *pc = PQconnectdb(getenv("MW_TEST_PG_URL"));
  PGresult *r = PQexec(pc, sql);
  int ok = PQstatus(pc) == CONNECTION_OK && PQresultStatus(r) == PGRES_COMMAND_OK;
  if(!ok)
    fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(pc));
  PQclear(r);
  PQfinish(pc);
  return ok ? 0 : -1;
}

/* Opens the test's database: a SQLite file, or a new PostgreSQL database
 * next to MW_TEST_PG_URL's. */
static int open_db(struct fix *f) {
  const char *pg = getenv("MW_TEST_PG_URL");
  if(!pg || !*pg)
    return mw_db_open(f->path, 0, &f->db) ? -1 : 0;
  static int seq;
  char sql[160], url[600];
  snprintf(f->pgdb, sizeof f->pgdb, "mwunit_%d_%d", (int)getpid(), ++seq);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->pgdb);
  const char *slash = strrchr(pg, '/');
  if(pg_admin(sql) || !slash)
    return -1;
  snprintf(url, sizeof url, "%.*s/%s", (int)(slash - pg), pg, f->pgdb);
  return mw_db_open(url, 0, &f->db) ? -1 : 0;
}

static int setup(void **state) {
  struct fix *f = calloc(1, sizeof *f);
  mw_strlcpy(f->dir, "/tmp/mwmonXXXXXX", sizeof f->dir);
  if(!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
  if(open_db(f))
    return -1;
  f->c = mw_db_conn(f->db);
  if(mw_migrate(f->c, NULL))
    return -1;
  if(exec_sql(f, "INSERT INTO models(id, name, created_at, updated_at) "
                 "VALUES(1, 'm', 0, 0);"
                 "INSERT INTO model_versions(id, model_id, version, schema, "
                 "created_at, created_by) VALUES(7, 1, 1, "
                 "'{\"features\":[{\"name\":\"age\",\"type\":\"numeric\"},"
                 "{\"name\":\"city\",\"type\":\"categorical\"}],"
                 "\"prediction\":{\"type\":\"numeric\"}}', 0, 'test');"
                 "INSERT INTO model_versions(id, model_id, version, "
                 "created_at, created_by) VALUES(8, 1, 2, 0, 'test');"))
    return -1;
  mon_options o = {0, 3600, 30, 64, 2, 0, NULL};
  if(mon_ctx_new(f->db, &o, &f->m))
    return -1;
  f->v = (mon_version){7, 1, "m", 1, SCHEMA};
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fix *f = *state;
  mon_ctx_free(f->m);
  mw_db_close(f->db);
  if(f->pgdb[0]) {
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", f->pgdb);
    if(pg_admin(sql))
      return -1;
  }
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  if(system(cmd) != 0)
    return -1;
  free(f);
  return 0;

#endif
