/* tests/bench/bench_data.h - what the drift benchmarks (bench_scale,
 * bench_sketch) share: model "scale" version 1 (8 numeric + 2 categorical
 * features, a numeric prediction), a 100,000-row reference and rows
 * generated the same way (tests/bench/bench_data.c). Deterministic from
 * the seed given. */
#ifndef MW_TESTS_BENCH_DATA_H
#define MW_TESTS_BENCH_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "monitor/internal.h"

#define NNUM 8
#define NCAT 2
#define NCOLS (NNUM + NCAT + 1)

/* The version's schema (JSON). */
extern const char *const BENCH_SCHEMA;

/* A monotonic clock in seconds. */
double bench_now_s(void);
/* xorshift64*: uniform 64 bits, uniform (0, 1), standard normal. */
uint64_t bench_rnd(uint64_t *s);
double bench_unif(uint64_t *s);
double bench_normal(uint64_t *s);
/* Fills column-major values for n rows; shifted moves half the numeric
 * columns and one categorical column. */
void bench_gen(uint64_t *s, double *vals, size_t n, int shifted);
/* A batch of block rows of NCOLS columns without ids (free with
 * mon__batch_free). */
void bench_batch_init(mon_batch *b, size_t block);
/* Runs sql on whichever backend the database is. */
mw_status bench_exec_sql(mw_conn *c, const char *sql);
/* DIR/modelwatch.db, or the PostgreSQL database DIR names, migrated;
 * returns 0 or 1 (said on stderr). */
int bench_open_db(const char *dir, mw_db **db);
/* The registry's rows of model "scale" version 1, the category
 * dictionaries and the reference; returns 0 or 1. */
int bench_seed(mw_conn *c, const mon_schema *s, uint64_t *seedv);

#endif
