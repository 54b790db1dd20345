/* tests/bench/bench_data.c - the data of the drift benchmarks
 * (tests/bench/bench_data.h): model "scale" version 1, its reference and
 * generated rows, shared by bench_scale and bench_sketch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/db_pg.h"
#include "core/db_sqlite.h"
#include "tests/bench/bench_data.h"

const char *const BENCH_SCHEMA =
    "{\"features\":[{\"name\":\"n0\",\"type\":\"numeric\"},{\"name\":\"n1\","
    "\"type\":\"numeric\"},{\"name\":\"n2\",\"type\":\"numeric\"},{\"name\":"
    "\"n3\",\"type\":\"numeric\"},{\"name\":\"n4\",\"type\":\"numeric\"},"
    "{\"name\":\"n5\",\"type\":\"numeric\"},{\"name\":\"n6\",\"type\":"
    "\"numeric\"},{\"name\":\"n7\",\"type\":\"numeric\"},{\"name\":\"c0\","
    "\"type\":\"categorical\"},{\"name\":\"c1\",\"type\":\"categorical\"}],"
    "\"prediction\":{\"type\":\"numeric\"}}";

double bench_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

uint64_t bench_rnd(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

double bench_unif(uint64_t *s) {
  return ((double)(bench_rnd(s) >> 11) + 0.5) / 9007199254740992.0;
}

double bench_normal(uint64_t *s) {
  return sqrt(-2 * log(bench_unif(s))) * cos(6.283185307179586 * bench_unif(s));
}

/* Fills column-major values for n rows; shifted moves half the numeric
 * columns and one categorical column. */
void bench_gen(uint64_t *s, double *vals, size_t n, int shifted) {
  for(size_t i = 0; i < n; i++) {
    for(int c = 0; c < NNUM; c++)
      vals[c * n + i] = 10 * c + bench_normal(s) * (1 + c) +
                        (shifted && c % 2 ? 0.3 * (1 + c) : 0);
    for(int c = 0; c < NCAT; c++) {
      double u = bench_unif(s);
      double p0 = shifted && c == 1 ? 0.4 : 0.2;
      vals[(NNUM + c) * n + i] = u < p0     ? 0
                                 : u < 0.6  ? 1
                                 : u < 0.8  ? 2
                                 : u < 0.95 ? 3
                                            : 4;
    }
    vals[(NCOLS - 1) * n + i] = vals[0 * n + i] * 0.5 + bench_normal(s);
  }
}

/* A batch of block rows of NCOLS columns without ids. */
void bench_batch_init(mon_batch *b, size_t block) {
  memset(b, 0, sizeof *b);
  b->n = block;
  b->ncols = NCOLS;
  b->ts = malloc(block * sizeof *b->ts);
  b->vals = malloc(block * NCOLS * sizeof *b->vals);
  b->ids = calloc(block, sizeof *b->ids);
}

/* Runs sql on whichever backend the database is. */
mw_status bench_exec_sql(mw_conn *c, const char *sql) {
  return mw_conn_kind(c) == MW_DB_SQLITE ? mw_exec(c, sql) : mw_pg_exec(c, sql);
}

/* DIR/modelwatch.db, or the PostgreSQL database DIR names. */
int bench_open_db(const char *dir, mw_db **db) {
  char path[1024];
  if(mw_db_target_is_postgres(dir))
    snprintf(path, sizeof path, "%s", dir);
  else
    snprintf(path, sizeof path, "%s/modelwatch.db", dir);
  if(mw_db_open(path, 0, db) || mw_migrate(mw_db_conn(*db), NULL)) {
    fprintf(stderr, "cannot open %s\n",
            mw_db_target_is_postgres(dir) ? "the "
                                            "PostgreSQL database"
                                          : path);
    return 1;
  }
  return 0;
}

/* The registry's rows of model "scale" version 1, the category
 * dictionaries and a 100,000-row reference, precomputed once. */
int bench_seed(mw_conn *c, const mon_schema *s, uint64_t *seedv) {
  char sql[2048];
  snprintf(sql, sizeof sql,
           "INSERT INTO models(id, name, created_at, updated_at) VALUES(1, "
           "'scale', 0, 0); INSERT INTO model_versions(id, model_id, version, "
           "schema, created_at, created_by) VALUES(1, 1, 1, '%s', 0, 'bench')",
           BENCH_SCHEMA);
  if(bench_exec_sql(c, sql) || mw_tx_begin(c))
    return 1;
  /* Category dictionaries: codes 0..4 are "k0".."k4". */
  for(int k = 0; k < NCAT; k++) {
    mon_dict d;
    mon__dict_init(&d);
    long code;
    char name[8];
    for(int j = 0; j < 5; j++) {
      snprintf(name, sizeof name, "k%d", j);
      mon__dict_intern(&d, name, &code);
    }
    mon__dict_save(c, 1, (size_t)(NNUM + k), &d);
    mon__dict_free(&d);
  }
  size_t nref = 100000;
  double *rv = malloc(nref * NCOLS * sizeof *rv);
  bench_gen(seedv, rv, nref, 0);
  mon_ref ref;
  memset(&ref, 0, sizeof ref);
  mw_strlcpy(ref.source, "rows", sizeof ref.source);
  ref.rows = (int64_t)nref;
  ref.created_at = mw_now_ms();
  mw_strlcpy(ref.created_by, "bench", sizeof ref.created_by);
  ref.ncols = NCOLS;
  ref.cols = calloc(NCOLS, sizeof *ref.cols);
  const char *names[NCOLS];
  for(int k = 0; k < NCOLS; k++) {
    names[k] = s->cols[k].name;
    mon__refcol_build(s->cols[k].kind, rv + (size_t)k * nref, nref, &ref.cols[k]);
  }
  int rc = mon__store(c)->ref_save(c, 1, &ref, names) || mw_tx_commit(c);
  mon__ref_free(&ref);
  free(rv);
  return rc;
}
