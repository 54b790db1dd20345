/* bench_sketch - a drift report over a window beyond the memory budget
 * from merged block summaries (monitor/sketch.h), beside the exact path
 * over the same window in the same run.
 *
 * DIR is a data directory (SQLite: DIR/modelwatch.db) or a PostgreSQL URL.
 *
 *   bench_sketch populate DIR ROWS [BLOCK]   model "scale" version 1 (8
 *       numeric + 2 categorical features, a numeric prediction, as
 *       bench_scale), a 100,000-row reference, and ROWS predictions over
 *       the last 50 minutes in BLOCK-row blocks (default 8192, the size
 *       compaction merges small blocks into), written as ingest writes
 *       them: with their summaries. Prints the time spent building the
 *       summaries beside the time of the whole populate.
 *   bench_sketch report DIR [EXACT_MB]   rolls every bucket up
 *       (monitor/rollup.c, as the leader's compaction pass does; timed),
 *       then reports two windows - all the data, and the data less 2.5
 *       minutes at each end (ragged ends, read by block) - three ways: with
 *       a 1 MB budget from the rollups and the blocks at the ends, with a
 *       1 MB budget from the blocks' summaries alone (the rollups hidden),
 *       and, when EXACT_MB (default 4096) holds the window, exactly;
 *       prints the three times, each numeric column's stated rank error
 *       and, for KS, each path's distance from the exact D beside the
 *       stated bound.
 *
 * tests/bench/bench_sketch.sh runs both. Never fails on time. */
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

static int populate(const char *dir, size_t rows, size_t block) {
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
  double t0 = bench_now_s(), tsk = 0;
  int64_t now = mw_now_ms(), span = 50LL * 60 * 1000;
  mon_batch b;
  bench_batch_init(&b, block);
  size_t nblocks = (rows + block - 1) / block, sbytes = 0;
  size_t per_tx = 1 + 800000 / block;
  for(size_t k = 0; k < nblocks; k++) {
    if(k % per_tx == 0)
      mw_tx_begin(c);
    size_t n = rows - k * block < block ? rows - k * block : block;
    b.n = n;
    bench_gen(&seedv, b.vals, n, 1);
    int64_t t = now - span + (int64_t)((double)k / (double)nblocks * (double)span);
    for(size_t i = 0; i < n; i++)
      b.ts[i] = t;
    /* The summaries alone, timed apart (ingest builds them the same way). */
    double t1 = bench_now_s();
    for(int col = 0; col < NCOLS; col++) {
      mon_sketch sk;
      mon_sketch_init(&sk);
      sk.counts = s.cols[col].kind == MON_COLUMN_CATEGORICAL;
      mon_sketch_update(&sk, b.vals + (size_t)col * n, n);
      mon_sketch_compress(&sk, MON_SKETCH_BLOCK_K);
      sbytes += mon_sketch_size(&sk);
      mon_sketch_free(&sk);
    }
    tsk += bench_now_s() - t1;
    if(mon__block_write_s(c, 1, &s, &b, NULL, n, now)) {
      fprintf(stderr, "store failed\n");
      return 1;
    }
    if(k % per_tx == per_tx - 1 || k + 1 == nblocks)
      mw_tx_commit(c);
  }
  mon__batch_free(&b);
  mon__schema_free(&s);
  if(mw_conn_kind(c) == MW_DB_SQLITE)
    mw_exec(c, "PRAGMA wal_checkpoint(TRUNCATE)");
  double dt = bench_now_s() - t0;
  printf("populated %zu rows in %zu blocks of %zu in %.1f s (database %.0f MB)\n",
         rows, nblocks, block, dt, (double)mw_db_size(db) / 1e6);
  printf("  summaries: %.2f s to build (%.1f%% of populate, which builds them "
         "once more inside the block write), %.1f MB (%.1f%% of the %.0f MB of "
         "column values)\n",
         tsk, 100 * tsk / dt, (double)sbytes / 1e6,
         100.0 * (double)sbytes / ((double)rows * NCOLS * 8),
         (double)rows * NCOLS * 8 / 1e6);
  mw_db_close(db);
  return 0;
}

static cJSON *run_report(mw_db *db, int memory_mb, int64_t from, int64_t to,
                         double *secs) {
  mon_options o = {0, 3600, 0, memory_mb, 2, 0, NULL};
  mon_ctx *m;
  if(mon_ctx_new(db, &o, &m))
    return NULL;
  mon_version v = {1, 1, "scale", 1, BENCH_SCHEMA};
  cJSON *out = NULL;
  mw_err err = {{0}, NULL};
  double t0 = bench_now_s();
  mw_status st = mon_drift_report(m, mw_db_conn(db), &v, from, to, &out, &err);
  *secs = bench_now_s() - t0;
  mon_ctx_free(m);
  if(st)
    fprintf(stderr, "report failed: %s\n", err.msg[0] ? err.msg : mw_strerror(st));
  return st ? NULL : out;
}

static double num(const cJSON *o, const char *a, const char *b) {
  const cJSON *x = cJSON_GetObjectItem(o, a);
  if(x && b)
    x = cJSON_GetObjectItem(x, b);
  return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* The first and last row times of the data (bench-only SQL: the store has
 * no such operation). */
static int data_span(mw_conn *c, int64_t *lo, int64_t *hi) {
  if(mw_conn_kind(c) == MW_DB_SQLITE) {
    sqlite3_stmt *st =
        mw_stmt(c, "SELECT min(ts_min), max(ts_max) FROM pred_blocks");
    int found = 0;
    if(mw_step_row(c, st, &found) || !found)
      return 1;
    *lo = sqlite3_column_int64(st, 0);
    *hi = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    return 0;
  }
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT min(ts_min), max(ts_max) FROM pred_blocks", NULL, &s);
  if(!r)
    return 1;
  *lo = mw_pg_i64(r, 0, 0, 0);
  *hi = mw_pg_i64(r, 0, 1, 0);
  PQclear(r);
  return 0;
}

/* One column's line: the stated rank error, KS d, its distance from the
 * exact D; a "!" when that distance is outside the stated bound. */
static void column_line(const cJSON *col, const cJSON *ec, const char *path) {
  double eps = num(col, "approximate", "rank_error");
  double d = num(col, "ks", "d"), de = ec ? num(ec, "ks", "d") : NAN;
  bool out = ec && isfinite(eps) && fabs(d - de) > eps + 1e-12;
  printf("  %-10s %-8s %-9s %-11.2e %-11.6f %-11.2e %-8.0f %s (%s)%s\n",
         mw_json_str(col, "name"), path, mw_json_str(col, "method"), eps, d,
         fabs(d - de), num(col, "approximate", "rollups"),
         cJSON_IsTrue(cJSON_GetObjectItem(col, "drifted")) ? "drift" : "-",
         !ec                                                ? "?"
         : cJSON_IsTrue(cJSON_GetObjectItem(ec, "drifted")) ? "drift"
                                                            : "-",
         out ? "  ! outside the stated bound" : "");
}

/* One window's three reports. */
struct win {
  const char *what;
  int64_t from, to;
  cJSON *sk, *ro, *ex;
  double ts, ts_cold, tr, tr_cold, te;
};

static void print_window(const struct win *w, int exact_mb) {
  double rows = num(w->ro, "window", "count");
  printf("window of %.0f rows x %d columns: %s\n", rows, NCOLS, w->what);
  printf("  rollup path (1 MB budget):        %.3f s (first run %.3f s)\n", w->tr,
         w->tr_cold);
  printf("  block-summary path (1 MB budget): %.3f s (first run %.3f s)   "
         "%.1fx the rollup path\n",
         w->ts, w->ts_cold, w->ts / w->tr);
  if(w->ex)
    printf("  exact path (%d MB budget):      %.3f s   %.1fx the rollup path\n",
           exact_mb, w->te, w->te / w->tr);
  else
    printf("  exact path: not run (the window needs a budget above %d MB)\n",
           exact_mb);
  printf("  %-10s %-8s %-11s %-11s %-11s %-11s %-7s %s\n", "column", "path",
         "method", "rank_error", "ks d", "|d - exact|", "rollups",
         "verdict (exact)");
  const cJSON *col;
  int i = 0;
  cJSON_ArrayForEach(col, cJSON_GetObjectItem(w->sk, "columns")) {
    const cJSON *ec =
        w->ex ? cJSON_GetArrayItem(cJSON_GetObjectItem(w->ex, "columns"), i) : NULL;
    const cJSON *rc = cJSON_GetArrayItem(cJSON_GetObjectItem(w->ro, "columns"), i++);
    if(!strcmp(mw_json_str(col, "type"), "numeric")) {
      column_line(rc, ec, "rollup");
      column_line(col, ec, "blocks");
    }
  }
}

static int report(const char *dir, int exact_mb) {
  mw_db *db;
  if(bench_open_db(dir, &db))
    return 1;
  mw_conn *c = mw_db_conn(db);
  int64_t lo, hi;
  if(data_span(c, &lo, &hi)) {
    fprintf(stderr, "no data: run populate first\n");
    return 1;
  }
  /* Every row, and ragged ends: 2.5 minutes cut at each end, so that the
   * first and last buckets are read by block. */
  struct win ws[2] = {{"all the data", lo, hi + 1, NULL, NULL, NULL, 0, 0, 0, 0, 0},
                      {"2.5 minutes cut at each end", lo + 150000, hi - 150000 + 1,
                       NULL, NULL, NULL, 0, 0, 0, 0, 0}};
  /* The block-summary path first, without rollups (a kept database may
   * hold some from an earlier run: bench-only SQL drops them), cold then
   * warm, so that no other path warms the page cache for it. */
  if(bench_exec_sql(c, "DELETE FROM pred_rollups")) {
    fprintf(stderr, "cannot drop the rollups\n");
    return 1;
  }
  for(int k = 0; k < 2; k++) {
    cJSON_Delete(run_report(db, 1, ws[k].from, ws[k].to, &ws[k].ts_cold));
    if(!(ws[k].sk = run_report(db, 1, ws[k].from, ws[k].to, &ws[k].ts)))
      return 1;
  }
  /* Every bucket of the data is closed here: roll them all up, as the
   * leader's compaction pass does. */
  double t0 = bench_now_s();
  int nroll = 0, built = 0;
  do {
    if(mon__rollup_step(NULL, c, hi / MON_BUCKET_MS + 1, &built)) {
      fprintf(stderr, "rollup failed\n");
      return 1;
    }
    nroll += built == 1;
  } while(built != 0);
  double tbuild = bench_now_s() - t0;
  for(int k = 0; k < 2; k++) {
    cJSON_Delete(run_report(db, 1, ws[k].from, ws[k].to, &ws[k].tr_cold));
    if(!(ws[k].ro = run_report(db, 1, ws[k].from, ws[k].to, &ws[k].tr)))
      return 1;
  }
  size_t exact_cap = (size_t)exact_mb * ((size_t)1 << 20) / 16;
  for(int k = 0; k < 2; k++)
    if(num(ws[k].ro, "window", "count") <= (double)exact_cap)
      ws[k].ex = run_report(db, exact_mb, ws[k].from, ws[k].to, &ws[k].te);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("rollups: %d buckets rolled up in %.2f s (as the leader's compaction pass "
         "does)\n",
         nroll, tbuild);
  for(int k = 0; k < 2; k++) {
    print_window(&ws[k], exact_mb);
    cJSON_Delete(ws[k].sk);
    cJSON_Delete(ws[k].ro);
    cJSON_Delete(ws[k].ex);
  }
  printf("peak RSS of this process %.0f MB (the exact path)\n",
         (double)ru.ru_maxrss / 1024.0);
  mw_db_close(db);
  return 0;
}

int main(int argc, char **argv) {
  if(argc >= 4 && !strcmp(argv[1], "populate"))
    return populate(argv[2], strtoull(argv[3], NULL, 10),
                    argc >= 5 ? strtoull(argv[4], NULL, 10) : 8192);
  if(argc >= 3 && !strcmp(argv[1], "report"))
    return report(argv[2], argc >= 4 ? (int)strtol(argv[3], NULL, 10) : 4096);
  fprintf(stderr, "usage: bench_sketch populate DIR ROWS [BLOCK] | report DIR "
                  "[EXACT_MB]\n");
  return 2;
}
