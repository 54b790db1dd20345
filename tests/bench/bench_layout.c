/* bench_layout - the measurement behind the prediction storage layout
 * (migrations/0003_monitor.sql): insert rate and the rate of scanning one
 * column over a window, for
 *   1. one row per prediction with 12 REAL columns (rowid order),
 *   2. one packed BLOB row per prediction, indexed by (version, ts),
 *   3. per-window column blocks (one BLOB per column per 1000 rows),
 * and the cost of the one per-row index the monitor keeps (prediction ids,
 * unique per model) with ids that grow and with random UUIDv4 ids.
 *
 *   bench_layout [--batches 200] [--sync full|normal] [--dir /tmp]
 *
 * Batches of 1000 rows, one transaction each, WAL. Prints figures only. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NC 11 /* 10 features + prediction */
#define B 1000

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void ex(sqlite3 *db, const char *s) {
  char *e = NULL;
  if(sqlite3_exec(db, s, NULL, NULL, &e) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", s, e);
    exit(1);
  }
}

static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

static sqlite3 *fresh(const char *dir, const char *sync) {
  char path[1100], p2[1200];
  snprintf(path, sizeof path, "%s/layout.db", dir);
  unlink(path);
  snprintf(p2, sizeof p2, "%s-wal", path);
  unlink(p2);
  snprintf(p2, sizeof p2, "%s-shm", path);
  unlink(p2);
  sqlite3 *db;
  sqlite3_open(path, &db);
  char pr[128];
  snprintf(pr, sizeof pr, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", sync);
  ex(db, pr);
  return db;
}

static void prep(sqlite3 *db, const char *sql, sqlite3_stmt **st) {
  if(sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    exit(1);
  }
}

int main(int argc, char **argv) {
  int nb = 200;
  const char *sync = "FULL", *dir = "/tmp";
  for(int i = 1; i + 1 < argc; i += 2) {
    if(!strcmp(argv[i], "--batches"))
      nb = (int)strtol(argv[i + 1], NULL, 10);
    else if(!strcmp(argv[i], "--sync"))
      sync = !strcmp(argv[i + 1], "normal") ? "NORMAL" : "FULL";
    else if(!strcmp(argv[i], "--dir"))
      dir = argv[i + 1];
  }
  double *vals = malloc(sizeof(double) * B * NC);
  uint64_t seed = 1;
  printf("bench_layout: %d batches of %d rows (10 features + prediction), WAL, "
         "synchronous=%s\n", nb, B, sync);
  static const char *const names[] = {
      "one row per prediction, 12 REAL columns",
      "packed BLOB row per prediction + (version, ts) index",
      "per-window column blocks (this layout)",
  };
  for(int mode = 0; mode < 3; mode++) {
    sqlite3 *db = fresh(dir, sync);
    ex(db, "CREATE TABLE cols(id INTEGER PRIMARY KEY, v INTEGER, ts INTEGER, "
           "f0 REAL, f1 REAL, f2 REAL, f3 REAL, f4 REAL, f5 REAL, f6 REAL, "
           "f7 REAL, f8 REAL, f9 REAL, p REAL);"
           "CREATE TABLE packed(id INTEGER PRIMARY KEY, v INTEGER, ts INTEGER, "
           "row BLOB); CREATE INDEX packed_ts ON packed(v, ts);"
           "CREATE TABLE blocks(id INTEGER PRIMARY KEY, v INTEGER, bucket "
           "INTEGER, n INTEGER); CREATE INDEX blocks_w ON blocks(v, bucket);"
           "CREATE TABLE chunks(id INTEGER PRIMARY KEY, data BLOB);");
    sqlite3_stmt *s_cols, *s_packed, *s_block, *s_chunk;
    prep(db, "INSERT INTO cols(v, ts, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, p) "
             "VALUES(1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &s_cols);
    prep(db, "INSERT INTO packed(v, ts, row) VALUES(1, ?, ?)", &s_packed);
    prep(db, "INSERT INTO blocks(v, bucket, n) VALUES(1, ?, ?)", &s_block);
    prep(db, "INSERT INTO chunks(id, data) VALUES(?, ?)", &s_chunk);
    double t0 = now_s();
    long long ts = 1795766400000LL;
    for(int b = 0; b < nb; b++) {
      for(int i = 0; i < B * NC; i++)
        vals[i] = (double)(rnd(&seed) >> 11) / 9007199254740992.0;
      ex(db, "BEGIN IMMEDIATE");
      if(mode == 0)
        for(int i = 0; i < B; i++) {
          sqlite3_bind_int64(s_cols, 1, ts + i);
          for(int c = 0; c < NC; c++)
            sqlite3_bind_double(s_cols, 2 + c, vals[i * NC + c]);
          sqlite3_step(s_cols);
          sqlite3_reset(s_cols);
        }
      if(mode == 1)
        for(int i = 0; i < B; i++) {
          sqlite3_bind_int64(s_packed, 1, ts + i);
          sqlite3_bind_blob(s_packed, 2, vals + i * NC, NC * 8, SQLITE_STATIC);
          sqlite3_step(s_packed);
          sqlite3_reset(s_packed);
        }
      if(mode == 2) {
        sqlite3_bind_int64(s_block, 1, ts / 300000);
        sqlite3_bind_int(s_block, 2, B);
        sqlite3_step(s_block);
        sqlite3_reset(s_block);
        long long bid = sqlite3_last_insert_rowid(db);
        /* timestamps + 11 columns (column-major in a real block) */
        for(int c = 0; c <= NC; c++) {
          sqlite3_bind_int64(s_chunk, 1, bid * 4096 + c);
          sqlite3_bind_blob(s_chunk, 2, vals + (size_t)(c % NC) * B, B * 8,
                            SQLITE_STATIC);
          sqlite3_step(s_chunk);
          sqlite3_reset(s_chunk);
        }
      }
      ex(db, "COMMIT");
      ts += B;
    }
    double ins = (double)nb * B / (now_s() - t0);
    /* Scan column 3 over the whole window. */
    t0 = now_s();
    double sum = 0;
    long cnt = 0;
    sqlite3_stmt *q;
    if(mode == 0) {
      prep(db, "SELECT f3 FROM cols WHERE id >= 1", &q);
      while(sqlite3_step(q) == SQLITE_ROW) {
        sum += sqlite3_column_double(q, 0);
        cnt++;
      }
    } else if(mode == 1) {
      prep(db, "SELECT row FROM packed WHERE v = 1 AND ts >= 0", &q);
      while(sqlite3_step(q) == SQLITE_ROW) {
        double x;
        memcpy(&x, (const char *)sqlite3_column_blob(q, 0) + 3 * 8, 8);
        sum += x;
        cnt++;
      }
    } else {
      prep(db, "SELECT c.data FROM blocks b JOIN chunks c ON c.id = b.id * 4096 + 4 "
               "WHERE b.v = 1 AND b.bucket >= 0", &q);
      while(sqlite3_step(q) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(q, 0) / 8;
        const char *d = sqlite3_column_blob(q, 0);
        for(int i = 0; i < n; i++) {
          double x;
          memcpy(&x, d + i * 8, 8);
          sum += x;
        }
        cnt += n;
      }
    }
    double scan = (double)cnt / (now_s() - t0);
    sqlite3_finalize(q);
    printf("  %-55s insert %9.0f rows/s   scan one column %6.1f M values/s%s\n",
           names[mode], ins, scan / 1e6, sum < 0 ? "!" : "");
    sqlite3_finalize(s_cols);
    sqlite3_finalize(s_packed);
    sqlite3_finalize(s_block);
    sqlite3_finalize(s_chunk);
    sqlite3_close(db);
  }
  /* The id index, alone, over 10x more rows (it grows past the cache). */
  for(int mode = 0; mode < 2; mode++) {
    sqlite3 *db = fresh(dir, sync);
    ex(db, "CREATE TABLE ids(m INTEGER, ext TEXT, v INTEGER, ts INTEGER, "
           "p REAL, PRIMARY KEY(m, ext)) WITHOUT ROWID");
    sqlite3_stmt *st;
    prep(db, "INSERT INTO ids VALUES(1, ?, 1, ?, 0.5)", &st);
    char id[64];
    double t0 = now_s(), tq = t0;
    int total = nb * 10;
    double last = 0;
    for(int b = 0; b < total; b++) {
      ex(db, "BEGIN IMMEDIATE");
      for(int i = 0; i < B; i++) {
        if(mode == 0)
          snprintf(id, sizeof id, "client3-%012d", b * B + i);
        else
          snprintf(id, sizeof id, "%016llx%016llx", (unsigned long long)rnd(&seed),
                   (unsigned long long)rnd(&seed));
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, b);
        sqlite3_step(st);
        sqlite3_reset(st);
      }
      ex(db, "COMMIT");
      if(b == total - total / 4) {
        tq = now_s();
      }
    }
    last = (double)(total / 4) * B / (now_s() - tq);
    printf("  id index, %-45s %9.0f ids/s overall, %9.0f ids/s in the last "
           "quarter (%d M ids)\n",
           mode ? "random UUIDv4 ids" : "ids that grow (counter, UUIDv7)",
           (double)total * B / (now_s() - t0), last, total * B / 1000000);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/layout.db", dir);
  unlink(path);
  free(vals);
  return 0;
}
