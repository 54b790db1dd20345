/* tests/unit/test_rollup.c - per-bucket rollups (monitor/rollup.c) on a
 * real store: a report beyond the memory budget merges the rollups of the
 * buckets its window covers whole and the blocks of its ragged ends, with
 * the exact path's counts and moments and KS within the stated bound; a
 * late block, a deleted block (the trigger of migration 0022) and a
 * rollup that does not match its blocks leave the answer as exact as
 * before. On SQLite, or on PostgreSQL when MW_TEST_PG_URL names a
 * database to connect to (tests/unit/with_pg.py), as test_monitor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "core/db_pg.h"
#include "core/db_sqlite.h"
#include "monitor/internal.h"

#include "mon_fixture.h"
}

static cJSON *parse(const char *s) {
  cJSON *j = cJSON_Parse(s);
  assert_non_null(j);
  return j;
}

static const cJSON *column(const cJSON *rep, const char *name) {
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(rep, "columns")) {
    if(!strcmp(mw_json_str(c, "name"), name))
      return c;
  }
  return NULL;
}

static double num(const cJSON *o, const char *a, const char *b) {
  const cJSON *x = cJSON_GetObjectItem(o, a);
  if(x && b)
    x = cJSON_GetObjectItem(x, b);
  assert_true(cJSON_IsNumber(x));
  return x->valuedouble;
}

/* 08:00, a bucket boundary, long closed. */
#define BASE 1795766400000LL
#define B MON_BUCKET_MS
enum { BUCKETS = 4, PER_BUCKET = 5, ROWS = 5000 };

static unsigned lcg = 7;

/* One block of ROWS rows of bucket b at ts0 + i (i < ROWS), with its
 * summaries, in its own transaction. */
static void write_block(struct fix *f, int64_t ts0) {
  mon_schema sc;
  mw_err err = {{0}, NULL};
  assert_int_equal(mon__schema_parse(f->v.schema_json, &f->v, &sc, &err), MW_OK);
  mon_batch b;
  memset(&b, 0, sizeof b);
  b.ncols = 3;
  b.n = ROWS;
  b.ts = malloc(ROWS * sizeof *b.ts);
  b.vals = malloc(3 * ROWS * sizeof *b.vals);
  b.ids = calloc(ROWS, sizeof *b.ids);
  for(size_t i = 0; i < ROWS; i++) {
    lcg = lcg * 1103515245u + 12345u;
    double u = (lcg >> 8) / 16777216.0;
    b.ts[i] = ts0 + (int64_t)i;
    b.vals[i] = i == 17 ? NAN : u * 10 + (double)(ts0 - BASE) / (double)B;
    b.vals[ROWS + i] = (double)((lcg >> 4) % 3);
    b.vals[2 * ROWS + i] = u * u;
  }
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  assert_int_equal(mon__block_write_s(f->c, 7, &sc, &b, NULL, ROWS, BASE), MW_OK);
  assert_int_equal(mw_tx_commit(f->c), MW_OK);
  mon__batch_free(&b);
  mon__schema_free(&sc);
}

/* BUCKETS buckets of PER_BUCKET blocks each, and a small reference. */
static void populate(struct fix *f) {
  for(int b = 0; b < BUCKETS; b++)
    for(int k = 0; k < PER_BUCKET; k++)
      write_block(f, BASE + b * B + k * ROWS);
  cJSON *body = parse("{\"rows\":[{\"features\":{\"age\":1,\"city\":\"0\"},"
                      "\"prediction\":0.5},{\"features\":{\"age\":5,\"city\":\"1\"},"
                      "\"prediction\":0.1},{\"features\":{\"age\":9,\"city\":\"2\"},"
                      "\"prediction\":0.9},{\"features\":{\"age\":3,\"city\":\"0\"},"
                      "\"prediction\":0.3},{\"features\":{\"age\":7,\"city\":\"1\"},"
                      "\"prediction\":0.7},{\"features\":{\"age\":4,\"city\":\"1\"},"
                      "\"prediction\":0.2}]}");
  mw_err err = {{0}, NULL};
  cJSON *out = NULL;
  /* The categories' dictionary: codes 0, 1, 2 are "0", "1", "2". */
  assert_int_equal(mon_reference_put(f->m, f->c, &f->v, body, "t", &out, &err),
                   MW_OK);
  cJSON_Delete(body);
  cJSON_Delete(out);
}

/* Rolls up every bucket that needs it; returns how many were written. */
static int roll_all(struct fix *f) {
  int n = 0, built = 0;
  do {
    assert_int_equal(mon__rollup_step(f->m, f->c, BASE / B + BUCKETS, &built),
                     MW_OK);
    assert_true(built >= 0);
    n += built;
  } while(built);
  return n;
}

/* The report of [from, to) beyond the memory budget beside the exact one:
 * the counts, missing values and moments equal, KS d within the stated
 * error, the stated error within the composed bound, the categorical
 * column's statistic identical; returns the rollups the numeric columns
 * merged (both the same). */
static int compare(struct fix *f, int64_t from, int64_t to) {
  mon_options small = {0, 3600, 0, 1, 2, -1, NULL},
              big = {0, 3600, 0, 1024, 2, -1, NULL};
  mon_ctx *ms, *mb;
  assert_int_equal(mon_ctx_new(f->db, &small, &ms), MW_OK);
  assert_int_equal(mon_ctx_new(f->db, &big, &mb), MW_OK);
  /* A budget of 1 MB holds 65,536 rows: the windows are larger. */
  cJSON *rs = NULL, *rb = NULL;
  mw_err err = {{0}, NULL};
  assert_int_equal(mon_drift_report(ms, f->c, &f->v, from, to, &rs, &err), MW_OK);
  assert_int_equal(mon_drift_report(mb, f->c, &f->v, from, to, &rb, &err), MW_OK);
  int rollups = -1;
  static const char *const numeric[] = {"age", "prediction"};
  for(int k = 0; k < 2; k++) {
    const cJSON *cs = column(rs, numeric[k]), *cb = column(rb, numeric[k]);
    assert_non_null(cJSON_GetObjectItem(cs, "approximate"));
    double eps = num(cs, "approximate", "rank_error");
    double count = num(cs, "stats", "count");
    assert_true(count == num(cb, "stats", "count"));
    assert_true(num(cs, "stats", "missing") == num(cb, "stats", "missing"));
    double mean = num(cb, "stats", "mean");
    assert_true(fabs(num(cs, "stats", "mean") - mean) <= 1e-9 * (1 + fabs(mean)));
    assert_true(num(cs, "stats", "min") == num(cb, "stats", "min"));
    assert_true(num(cs, "stats", "max") == num(cb, "stats", "max"));
    assert_true(fabs(num(cs, "ks", "d") - num(cb, "ks", "d")) <= eps + 1e-12);
    /* N / k + B + N / K: every block's and every rollup's prune. */
    double nblocks = num(cs, "approximate", "blocks");
    assert_true(eps * count <=
                count / MON_SKETCH_BLOCK_K + nblocks + count / MON_SKETCH_ROLLUP_K);
    int r = (int)num(cs, "approximate", "rollups");
    assert_true(rollups < 0 || rollups == r);
    rollups = r;
  }
  /* Categorical: exact counts either way. */
  const cJSON *cs = column(rs, "city"), *cb = column(rb, "city");
  assert_true(num(cs, "stats", "count") == num(cb, "stats", "count"));
  assert_true(num(cs, "statistic", NULL) == num(cb, "statistic", NULL));
  cJSON_Delete(rs);
  cJSON_Delete(rb);
  mon_ctx_free(ms);
  mon_ctx_free(mb);
  return rollups;
}

/* Rollups per bucket and column, as count_rows counts them. */
static int64_t rollup_rows(struct fix *f, int bucket) {
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pred_rollups WHERE bucket = %lld",
           (long long)(BASE / B + bucket));
  return count_rows(f, sql);
}

static void test_rollup_report(void **state) {
  struct fix *f = *state;
  populate(f);
  int64_t all_from = BASE, all_to = BASE + BUCKETS * B;
  /* None yet: the blocks' summaries, as before. */
  assert_int_equal(compare(f, all_from, all_to), 0);
  /* An open bucket (the last one here) is left alone. */
  int built = 0;
  assert_int_equal(mon__rollup_step(f->m, f->c, BASE / B, &built), MW_OK);
  assert_int_equal(built, 0);
  assert_int_equal(roll_all(f), BUCKETS);
  assert_int_equal(roll_all(f), 0);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_rollups"), BUCKETS * 3);
  assert_int_equal(compare(f, all_from, all_to), BUCKETS);
  /* Ragged ends: from inside bucket 0's third block, to inside bucket 3's
   * fourth: the two buckets between are rolled up, the ends read by
   * block (summaries, and the rows of the blocks cut in two). */
  assert_int_equal(
      compare(f, BASE + 2 * ROWS + ROWS / 2, BASE + 3 * B + 3 * ROWS + ROWS / 2), 2);
}

static void test_rollup_validity(void **state) {
  struct fix *f = *state;
  populate(f);
  assert_int_equal(roll_all(f), BUCKETS);
  int64_t from = BASE, to = BASE + BUCKETS * B;
  /* A late block in bucket 1: the rollup still covers the others and the
   * late one is read from its own summary; the next pass rolls the bucket
   * up again. */
  write_block(f, BASE + B + 200000);
  assert_int_equal(compare(f, from, to), BUCKETS);
  assert_int_equal(roll_all(f), 1);
  assert_int_equal(count_rows(f, "SELECT max(nblocks) FROM pred_rollups"),
                   PER_BUCKET + 1);
  assert_int_equal(compare(f, from, to), BUCKETS);
  /* A deleted block (retention, compaction, erasure) takes its bucket's
   * rollups with it, in the same transaction. */
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT min(id) FROM pred_blocks WHERE bucket = %lld",
           (long long)(BASE / B + 2));
  int64_t id = count_rows(f, sql);
  assert_int_equal(rollup_rows(f, 2), 3);
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  assert_int_equal(mon__store(f->c)->blocks_delete(f->c, &id, 1), MW_OK);
  assert_int_equal(mw_tx_commit(f->c), MW_OK);
  assert_int_equal(rollup_rows(f, 2), 0);
  assert_int_equal(compare(f, from, to), BUCKETS - 1);
  assert_int_equal(roll_all(f), 1);
  assert_int_equal(compare(f, from, to), BUCKETS);
  /* A delete between a step's read snapshot and its write (here: a block
   * of another bucket) drops the rollup it built; the next step builds it
   * again. */
  write_block(f, BASE + B + 250000);
  mon_rollup_built *rb = NULL;
  assert_int_equal(mon__rollup_build(f->c, BASE / B + BUCKETS, &rb), MW_OK);
  assert_non_null(rb);
  snprintf(sql, sizeof sql, "SELECT max(id) FROM pred_blocks WHERE bucket = %lld",
           (long long)(BASE / B + 3));
  id = count_rows(f, sql);
  assert_int_equal(mw_tx_begin(f->c), MW_OK);
  assert_int_equal(mon__store(f->c)->blocks_delete(f->c, &id, 1), MW_OK);
  assert_int_equal(mw_tx_commit(f->c), MW_OK);
  int built = 0;
  assert_int_equal(mon__rollup_write(f->c, rb, &built), MW_OK);
  assert_int_equal(built, -1);
  assert_int_equal(count_rows(f, "SELECT max(nblocks) FROM pred_rollups"),
                   PER_BUCKET + 1);
  assert_int_equal(compare(f, from, to), BUCKETS - 1); /* bucket 3: none */
  assert_int_equal(roll_all(f), 2);                    /* buckets 1 and 3 */
  assert_int_equal(count_rows(f, "SELECT max(nblocks) FROM pred_rollups"),
                   PER_BUCKET + 2);
  assert_int_equal(compare(f, from, to), BUCKETS);
  /* A rollup that does not match the blocks listed is not used. */
  snprintf(sql, sizeof sql,
           "UPDATE pred_rollups SET nrows = nrows + 1 WHERE bucket "
           "= %lld",
           (long long)(BASE / B + 3));
  assert_int_equal(exec_sql(f, sql), MW_OK);
  assert_int_equal(compare(f, from, to), BUCKETS - 1);
  /* Nor one whose bytes are not a summary of its rows. */
  snprintf(sql, sizeof sql,
           "UPDATE pred_rollups SET data = (SELECT data FROM "
           "pred_rollups r WHERE r.bucket = %lld AND r.col = "
           "pred_rollups.col) WHERE bucket = %lld",
           (long long)(BASE / B + 0), (long long)(BASE / B + 1));
  assert_int_equal(exec_sql(f, sql), MW_OK);
  snprintf(sql, sizeof sql,
           "UPDATE pred_rollups SET nrows = nrows + 1 WHERE bucket "
           "= %lld",
           (long long)(BASE / B + 0));
  assert_int_equal(exec_sql(f, sql), MW_OK);
  /* Bucket 0's and 3's do not match their blocks, bucket 1's bytes
   * summarise 5 blocks where it covers 6 (the late one): only bucket 2's
   * is merged. */
  assert_int_equal(compare(f, from, to), 1);
  /* A version's delete takes its rollups. */
  assert_int_equal(exec_sql(f, "DELETE FROM model_versions WHERE id = 7"), MW_OK);
  assert_int_equal(count_rows(f, "SELECT count(*) FROM pred_rollups"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rollup_report, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rollup_validity, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
