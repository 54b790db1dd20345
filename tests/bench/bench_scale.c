/* bench_scale - a drift report over a window of 10 million predictions.
 *
 * DIR is a data directory (SQLite: DIR/modelwatch.db) or a PostgreSQL URL
 * (postgresql://...), the database the server is then started with.
 *
 *   bench_scale populate DIR [ROWS]   builds the database: model
 *       "scale" version 1 (8 numeric + 2 categorical features, a numeric
 *       prediction), a 100,000-row reference and ROWS (default 10,000,000)
 *       predictions over the last 50 minutes, written as the ingest path
 *       writes them (1000-row column blocks), half the columns shifted.
 *   bench_scale report DIR [MEMORY_MB]   computes the report of the last
 *       hour in this process and prints its time and this process's peak
 *       RSS (getrusage), which populate never touched.
 *
 *   bench_scale slide DIR [STEPS] [NEW_ROWS]   a sliding window over a
 *       populated DIR: each step appends NEW_ROWS (1000) rows, moves the
 *       window's start 3 s on and reports it twice, with the live-window
 *       cache (monitor/wcache.c) and without; prints both medians, their
 *       ratio, and checks that the two reports are identical.
 *
 *   bench_scale retention DIR   deletes every populated row the way the
 *       leader's retention does (mon_retention_step: 32 blocks a
 *       transaction) and prints the time, rows per second and the longest
 *       transaction (the longest ingest waits behind it).
 *
 * tests/bench/bench_scale.sh runs populate and report, then the same report
 * over HTTP from the real server with its peak RSS (VmHWM); bench_window.sh
 * runs slide. Never fails on time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/db_pg.h"
#include "core/db_sqlite.h"
#include "monitor/internal.h"
#include "tests/bench/bench_data.h"

/* Rows per block, as ingest writes a 1000-row request. */
#define BLOCK 1000

static int populate(const char *dir, size_t rows) {
  mw_db *db;
  if(bench_open_db(dir, &db))
    return 1;
  mw_conn *c = mw_db_conn(db);
  mon_version v = {1, 1, "scale", 1, BENCH_SCHEMA};
  mon_schema s;
  uint64_t seedv = 42;
  if(mon__schema_parse(BENCH_SCHEMA, &v, &s, NULL) || bench_seed(c, &s, &seedv)) {
    fprintf(stderr, "cannot seed the database\n");
    return 1;
  }
  /* The window: rows spread over the last 50 minutes, in 1000-row blocks,
   * 100 blocks per transaction. */
  double t0 = bench_now_s();
  int64_t now = mw_now_ms(), span = 50LL * 60 * 1000;
  mon_batch b;
  bench_batch_init(&b, BLOCK);
  size_t nblocks = (rows + BLOCK - 1) / BLOCK;
  for(size_t k = 0; k < nblocks; k++) {
    if(k % 100 == 0)
      mw_tx_begin(c);
    size_t n = rows - k * BLOCK < BLOCK ? rows - k * BLOCK : BLOCK;
    b.n = n;
    bench_gen(&seedv, b.vals, n, 1);
    int64_t t = now - span + (int64_t)((double)k / (double)nblocks * (double)span);
    for(size_t i = 0; i < n; i++)
      b.ts[i] = t;
    if(mon__block_write(c, 1, &b, NULL, n, now)) {
      fprintf(stderr, "store failed\n");
      return 1;
    }
    if(k % 100 == 99 || k + 1 == nblocks)
      mw_tx_commit(c);
  }
  mon__batch_free(&b);
  mon__schema_free(&s);
  if(mw_conn_kind(c) == MW_DB_SQLITE)
    mw_exec(c, "PRAGMA wal_checkpoint(TRUNCATE)");
  printf("populated %zu rows in %zu blocks in %.1f s (%.0f rows/s; database %.0f "
         "MB)\n",
         rows, nblocks, bench_now_s() - t0, (double)rows / (bench_now_s() - t0),
         (double)mw_db_size(db) / 1e6);
  mw_db_close(db);
  return 0;
}

static int report(const char *dir, int memory_mb) {
  mw_db *db;
  if(bench_open_db(dir, &db))
    return 1;
  mon_options o = {0, 3600, 0, memory_mb, 2, 0, NULL};
  mon_ctx *m;
  mon_ctx_new(db, &o, &m);
  mon_version v = {1, 1, "scale", 1, BENCH_SCHEMA};
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  int64_t now = mw_now_ms();
  double t0 = bench_now_s();
  mw_status st = mon_drift_report(m, mw_db_conn(db), &v, now - 3600000, now + 1,
                                  &out, &err);
  double dt = bench_now_s() - t0;
  if(st) {
    fprintf(stderr, "report failed: %s\n", err.msg[0] ? err.msg : mw_strerror(st));
    return 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const cJSON *w = cJSON_GetObjectItem(out, "window");
  const cJSON *ds = cJSON_GetObjectItem(out, "dataset");
  printf("drift report in-process: %.0f rows x %d columns in %.2f s, peak RSS "
         "%.0f MB (memory budget %d MB, 2 workers)\n",
         cJSON_GetObjectItem(w, "count")->valuedouble, NCOLS, dt,
         (double)ru.ru_maxrss / 1024.0, memory_mb);
  printf("  dataset drift share %.3f (%s); per column: method score\n",
         cJSON_GetObjectItem(ds, "drift_share")->valuedouble,
         cJSON_IsTrue(cJSON_GetObjectItem(ds, "drifted")) ? "drifted" : "no drift");
  const cJSON *col;
  cJSON_ArrayForEach(col, cJSON_GetObjectItem(out, "columns")) {
    const cJSON *sampled = cJSON_GetObjectItem(col, "sampled");
    const cJSON *stat = cJSON_GetObjectItem(col, "statistic");
    const cJSON *p = cJSON_GetObjectItem(col, "p_value");
    printf("    %-10s %-14s %-6s statistic %-12.6g", mw_json_str(col, "name"),
           mw_json_str(col, "method"),
           cJSON_IsTrue(cJSON_GetObjectItem(col, "drifted")) ? "drift" : "-",
           stat ? stat->valuedouble : 0.0);
    if(p)
      printf(" p %-10.3g", p->valuedouble);
    if(sampled)
      printf(" (KS/W on a %.0f-row sample)", sampled->valuedouble);
    printf("\n");
  }
  cJSON_Delete(out);
  mon_ctx_free(m);
  mw_db_close(db);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static char *report_text(mon_ctx *m, mw_conn *c, const mon_version *v,
                         int64_t from, int64_t to, double *secs) {
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  double t0 = bench_now_s();
  mw_status st = mon_drift_report(m, c, v, from, to, &out, &err);
  *secs = bench_now_s() - t0;
  if(st) {
    fprintf(stderr, "report failed: %s\n", err.msg[0] ? err.msg : mw_strerror(st));
    return NULL;
  }
  cJSON_DeleteItemFromObject(out, "elapsed_ms");
  char *t = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return t;
}

static int slide(const char *dir, int steps, size_t new_rows) {
  mw_db *db;
  if(bench_open_db(dir, &db))
    return 1;
  mw_conn *c = mw_db_conn(db);
  mon_options on = {0, 3600, 0, 256, 2, 0, NULL}, off = {0, 3600, 0, 256, 2, -1, NULL};
  mon_ctx *mc, *mu;
  mon_ctx_new(db, &on, &mc);
  mon_ctx_new(db, &off, &mu);
  mon_version v = {1, 1, "scale", 1, BENCH_SCHEMA};
  mon_batch b;
  bench_batch_init(&b, BLOCK);
  uint64_t seed = 7;
  int64_t start = mw_now_ms() - 50LL * 60 * 1000;
  double *tc = calloc((size_t)steps, sizeof *tc), *tu = calloc((size_t)steps, sizeof *tu);
  double first = 0, rows = 0;
  int same = 0;
  for(int k = 0; k < steps; k++) {
    mw_tx_begin(c);
    for(size_t done = 0; done < new_rows; done += BLOCK) {
      b.n = new_rows - done < BLOCK ? new_rows - done : BLOCK;
      bench_gen(&seed, b.vals, b.n, 1);
      int64_t now = mw_now_ms();
      for(size_t i = 0; i < b.n; i++)
        b.ts[i] = now;
      mon__block_write(c, 1, &b, NULL, b.n, now);
    }
    mw_tx_commit(c);
    int64_t from = start + (int64_t)k * 3000, to = mw_now_ms() + 1;
    char *a, *u;
    if(k % 2) {
      a = report_text(mc, c, &v, from, to, &tc[k]);
      u = report_text(mu, c, &v, from, to, &tu[k]);
    } else {
      u = report_text(mu, c, &v, from, to, &tu[k]);
      a = report_text(mc, c, &v, from, to, &tc[k]);
    }
    if(!a || !u)
      return 1;
    same += !strcmp(a, u);
    if(k == 0) {
      first = tc[0];
      cJSON *j = cJSON_Parse(a);
      rows = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "window"), "count")->valuedouble;
      cJSON_Delete(j);
    }
    free(a);
    free(u);
  }
  /* Step 0 builds the entry: medians over the rest. */
  qsort(tc + 1, (size_t)steps - 1, sizeof *tc, cmp_double);
  qsort(tu + 1, (size_t)steps - 1, sizeof *tu, cmp_double);
  double mc_ = tc[1 + (steps - 1) / 2], mu_ = tu[1 + (steps - 1) / 2];
  printf("sliding window of ~%.0f rows x %d columns, %d steps of +%zu rows / -3 s:\n",
         rows, NCOLS, steps, new_rows);
  printf("  uncached report median %.1f ms (p max %.1f)\n", mu_ * 1e3, tu[steps - 1] * 1e3);
  printf("  cached   report median %.1f ms (p max %.1f; first, building the entry, "
         "%.1f ms)\n", mc_ * 1e3, tc[steps - 1] * 1e3, first * 1e3);
  printf("  ratio uncached/cached %.1fx; identical reports %d/%d; cache %llu hits, "
         "%llu misses, %.1f MB\n", mu_ / mc_, same, steps,
         (unsigned long long)mc->wc.hits, (unsigned long long)mc->wc.misses,
         (double)mc->wc.bytes / 1048576.0);
  free(tc);
  free(tu);
  mon__batch_free(&b);
  mon_ctx_free(mc);
  mon_ctx_free(mu);
  mw_db_close(db);
  return same == steps ? 0 : 1;
}

static int retention(const char *dir) {
  mw_db *db;
  if(bench_open_db(dir, &db))
    return 1;
  mw_conn *c = mw_db_conn(db);
  mon_ctx *m;
  mon_ctx_new(db, NULL, &m);
  int64_t cutoff = mw_now_ms() + 3600000, deleted = 0, blocks = 0, steps = 0;
  double t0 = bench_now_s(), longest = 0;
  do {
    double s0 = bench_now_s();
    if(mon_retention_step(m, c, cutoff, 32, &deleted)) {
      fprintf(stderr, "retention step failed\n");
      return 1;
    }
    double dt = bench_now_s() - s0;
    longest = dt > longest ? dt : longest;
    blocks += deleted;
    steps++;
  } while(deleted > 0);
  double dt = bench_now_s() - t0;
  printf("retention by row deletes: %lld blocks (~%lld rows) in %.2f s, %lld "
         "transactions of 32 blocks; %.0f rows/s; longest transaction %.1f ms\n",
         (long long)blocks, (long long)blocks * BLOCK, dt, (long long)steps,
         (double)blocks * BLOCK / dt, longest * 1e3);
  mon_ctx_free(m);
  mw_db_close(db);
  return 0;
}

int main(int argc, char **argv) {
  if(argc >= 3 && !strcmp(argv[1], "populate"))
    return populate(argv[2], argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 10000000);
  if(argc >= 3 && !strcmp(argv[1], "report"))
    return report(argv[2], argc > 3 ? (int)strtol(argv[3], NULL, 10) : 256);
  if(argc >= 3 && !strcmp(argv[1], "slide"))
    return slide(argv[2], argc > 3 ? (int)strtol(argv[3], NULL, 10) : 30,
                 argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : 1000);
  if(argc >= 3 && !strcmp(argv[1], "retention"))
    return retention(argv[2]);
  fprintf(stderr, "usage: bench_scale populate DIR [ROWS] | report DIR [MB] | "
                  "slide DIR [STEPS] [NEW_ROWS] | retention DIR\n");
  return 2;
}
