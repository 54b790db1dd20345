/* tests/unit/test_sketch.c - monitor/sketch: the rank-error bound against
 * the exact ranks on adversarial orders (sorted, reversed, organ pipe,
 * alternating extremes, heavy ties, random), merge associativity, exact
 * summaries of few distinct values, serialisation round trips and the
 * rejection of malformed bytes, and KS / Wasserstein within their stated
 * bounds of monitor/stats' exact answers. Deterministic: a fixed
 * xorshift seed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "monitor/sketch.h"
#include "monitor/stats.h"

static uint64_t seed = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return seed * 2685821657736338717ULL;
}

static double unif(void) {
  return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Exact count of sorted[0..n) <= x (< x when strict). */
static int64_t exact_rank(const double *sorted, size_t n, double x, bool strict) {
  size_t lo = 0, hi = n;
  while(lo < hi) {
    size_t mid = (lo + hi) / 2;
    if(strict ? sorted[mid] < x : sorted[mid] <= x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (int64_t)lo;
}

/* |R^ - R| <= err at every value of x and between neighbours, both ways. */
static void check_bound(const mon_sketch *s, const double *x, size_t n) {
  double *sorted = malloc(n * sizeof *sorted);
  size_t m = 0;
  for(size_t i = 0; i < n; i++)
    if(isfinite(x[i]))
      sorted[m++] = x[i];
  qsort(sorted, m, sizeof *sorted, cmp_d);
  assert_int_equal(s->count, (int64_t)m);
  for(size_t i = 0; i < m; i += 1 + m / 4000) {
    double probes[3] = {sorted[i],
                        i + 1 < m ? (sorted[i] + sorted[i + 1]) / 2 : sorted[i] + 1,
                        nextafter(sorted[i], -INFINITY)};
    for(int p = 0; p < 3; p++)
      for(int strict = 0; strict < 2; strict++) {
        int64_t got = mon_sketch_rank(s, probes[p], strict);
        int64_t want = exact_rank(sorted, m, probes[p], strict);
        if(llabs(got - want) > s->err) {
          print_error("x=%.17g strict=%d got %lld want %lld err %lld\n", probes[p],
                      strict, (long long)got, (long long)want, (long long)s->err);
          fail();
        }
      }
  }
  free(sorted);
}

enum { N = 100000 };

/* Values test_bound_blocks summarises. Its cost is one radix sort per
 * block (N / 7 blocks of 7): 153 s of the ASan build's 199 s of unit tests
 * at N, 17 s in the normal build. The bound it checks holds at any size,
 * so the sanitized build (ASan: gcc's __SANITIZE_ADDRESS__, clang's
 * __has_feature) takes 20000 values, which still make several blocks of
 * each size past MON_SKETCH_BLOCK_K (20 of 1000, 3 of 8192, one of all);
 * the normal build keeps N. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define X__SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(X__SANITIZED)
enum { N_BLOCKS = 20000 };
#else
enum { N_BLOCKS = N };
#endif

static void build(mon_sketch *s, const double *x, size_t n, size_t k);

/* Adversarial orders and shapes of N values. */
static void fill(double *x, size_t n, int kind) {
  for(size_t i = 0; i < n; i++) {
    double u = unif();
    switch(kind) {
    case 0:
      x[i] = (double)i;
      break; /* sorted */
    case 1:
      x[i] = (double)(n - i);
      break; /* reversed */
    case 2:
      x[i] = (double)(i < n / 2 ? i : n - i);
      break; /* organ pipe */
    case 3:
      x[i] = i % 2 ? (double)i : -(double)i;
      break; /* alternating */
    case 4:
      x[i] = (double)(rnd() % 7);
      break; /* heavy ties */
    case 5:
      x[i] = pow(u, -1.0 / 1.1);
      break; /* Pareto */
    case 6:
      x[i] = tan(3.141592653589793 * (u - 0.5));
      break; /* Cauchy */
    default:
      x[i] = i % 97 == 0 ? NAN : u * 1000;
      break; /* random + NaN */
    }
  }
}

static void test_bound_blocks(void **state) {
  (void)state;
  double *x = malloc(N_BLOCKS * sizeof *x);
  const size_t blocks[] = {1, 7, 1000, 8192, N_BLOCKS};
  for(int kind = 0; kind < 8; kind++) {
    fill(x, N_BLOCKS, kind);
    for(size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
      mon_sketch u;
      mon_sketch_init(&u);
      size_t nb = 0;
      bool all_distinct = true;
      for(size_t lo = 0; lo < N_BLOCKS; lo += blocks[b], nb++) {
        size_t len = N_BLOCKS - lo < blocks[b] ? N_BLOCKS - lo : blocks[b];
        mon_sketch s;
        mon_sketch_init(&s);
        assert_int_equal(mon_sketch_update(&s, x + lo, len), 0);
        assert_int_equal(mon_sketch_compress(&s, MON_SKETCH_BLOCK_K), 0);
        assert_true(s.n <= MON_SKETCH_BLOCK_K);
        /* The proven size of a block's error: floor((floor(n/k)+1)/2)
         * for distinct values, floor(n/k) in every case. */
        int64_t t = (int64_t)(len / MON_SKETCH_BLOCK_K) + 1;
        mon_sketch e;
        build(&e, x + lo, len, 0);
        bool distinct = (int64_t)e.n == e.count;
        all_distinct &= distinct;
        mon_sketch_free(&e);
        assert_true(s.err <= (distinct ? t / 2 : t - 1));
        assert_int_equal(mon_sketch_merge(&u, &s), 0);
        mon_sketch_free(&s);
      }
      assert_int_equal(mon_sketch_compress(&u, 0), 0);
      check_bound(&u, x, N_BLOCKS);
      /* n / (2k) + B / 2 over the union (distinct values), n / k + B. */
      double dk = all_distinct ? 2.0 : 1.0;
      assert_true((double)u.err <=
                  (double)u.count / (dk * MON_SKETCH_BLOCK_K) + (double)nb / dk);
      if(kind == 4)
        assert_int_equal(u.err, 0); /* 7 distinct values: exact */
      /* Pruned further, the bound still holds. */
      assert_int_equal(mon_sketch_compress(&u, 100), 0);
      assert_true(u.n <= 100);
      check_bound(&u, x, N_BLOCKS);
      mon_sketch_free(&u);
    }
  }
  free(x);
}

/* A stream pruned after every small batch (error accumulating over many
 * prunes) stays within its tracked bound. */
static void test_bound_streaming(void **state) {
  (void)state;
  double *x = malloc(N * sizeof *x);
  for(int kind = 0; kind < 8; kind++) {
    fill(x, N, kind);
    mon_sketch s;
    mon_sketch_init(&s);
    for(size_t lo = 0; lo < N; lo += 333) {
      size_t len = N - lo < 333 ? N - lo : 333;
      assert_int_equal(mon_sketch_update(&s, x + lo, len), 0);
      assert_int_equal(mon_sketch_compress(&s, 256), 0);
    }
    check_bound(&s, x, N);
    mon_sketch_free(&s);
  }
  free(x);
}

static void build(mon_sketch *s, const double *x, size_t n, size_t k) {
  mon_sketch_init(s);
  assert_int_equal(mon_sketch_update(s, x, n), 0);
  assert_int_equal(mon_sketch_compress(s, k), 0);
}

static void assert_same(const mon_sketch *a, const mon_sketch *b) {
  assert_int_equal(a->n, b->n);
  assert_int_equal(a->count, b->count);
  assert_int_equal(a->missing, b->missing);
  assert_int_equal(a->err, b->err);
  assert_memory_equal(a->v, b->v, a->n * sizeof *a->v);
  assert_memory_equal(a->w, b->w, a->n * sizeof *a->w);
  assert_true(a->min == b->min && a->max == b->max);
  assert_true(fabs(a->mean - b->mean) <= 1e-9 * (1 + fabs(a->mean)));
  assert_true(fabs(a->m2 - b->m2) <= 1e-9 * (1 + fabs(a->m2)));
}

static void test_merge_associative(void **state) {
  (void)state;
  double *x = malloc(3 * 20000 * sizeof *x);
  fill(x, 3 * 20000, 7);
  mon_sketch a, b, c;
  build(&a, x, 20000, 512);
  build(&b, x + 20000, 20000, 300);
  build(&c, x + 40000, 20000, 1000);
  /* (a + b) + c */
  mon_sketch l, r, bc;
  mon_sketch_init(&l);
  assert_int_equal(mon_sketch_merge(&l, &a), 0);
  assert_int_equal(mon_sketch_merge(&l, &b), 0);
  assert_int_equal(mon_sketch_compress(&l, 0), 0);
  assert_int_equal(mon_sketch_merge(&l, &c), 0);
  assert_int_equal(mon_sketch_compress(&l, 0), 0);
  /* a + (b + c) */
  mon_sketch_init(&bc);
  assert_int_equal(mon_sketch_merge(&bc, &b), 0);
  assert_int_equal(mon_sketch_merge(&bc, &c), 0);
  assert_int_equal(mon_sketch_compress(&bc, 0), 0);
  mon_sketch_init(&r);
  assert_int_equal(mon_sketch_merge(&r, &a), 0);
  assert_int_equal(mon_sketch_merge(&r, &bc), 0);
  assert_int_equal(mon_sketch_compress(&r, 0), 0);
  assert_same(&l, &r);
  check_bound(&l, x, 3 * 20000);
  /* Commutative too: c + b + a. */
  mon_sketch z;
  mon_sketch_init(&z);
  assert_int_equal(mon_sketch_merge(&z, &c), 0);
  assert_int_equal(mon_sketch_merge(&z, &b), 0);
  assert_int_equal(mon_sketch_merge(&z, &a), 0);
  assert_int_equal(mon_sketch_compress(&z, 0), 0);
  assert_same(&l, &z);
  mon_sketch *all[] = {&a, &b, &c, &l, &r, &bc, &z};
  for(size_t i = 0; i < 7; i++)
    mon_sketch_free(all[i]);
  free(x);
}

static void test_exact_small(void **state) {
  (void)state;
  double x[] = {3, 1, 2, NAN, 2, -0.0, 0.0, INFINITY, 5, 1};
  mon_sketch s;
  build(&s, x, 10, 512);
  assert_int_equal(s.count, 8);
  assert_int_equal(s.missing, 2);
  assert_int_equal(s.err, 0);
  assert_int_equal(s.n, 5); /* 0 (both zeros), 1, 2, 3, 5 */
  assert_true(s.v[0] == 0.0 && s.w[0] == 2);
  assert_int_equal(mon_sketch_rank(&s, 2, false), 6);
  assert_int_equal(mon_sketch_rank(&s, 2, true), 4);
  assert_true(s.min == -0.0 && s.max == 5);
  double mean = (3 + 1 + 2 + 2 + 0 + 0 + 5 + 1) / 8.0;
  assert_true(fabs(s.mean - mean) < 1e-12);
  assert_true(mon_sketch_quantile(&s, 0.5) == 1);
  assert_true(mon_sketch_quantile(&s, 1.0) == 5);
  assert_true(mon_sketch_quantile(&s, 0.0) == 0);
  mon_sketch_free(&s);
  mon_sketch e;
  build(&e, x, 0, 512);
  assert_int_equal(e.n, 0);
  assert_true(mon_sketch_quantile(&e, 0.5) == 0.0);
  mon_sketch_free(&e);
}

static void test_quantile_rank(void **state) {
  (void)state;
  double *x = malloc(N * sizeof *x);
  fill(x, N, 6);
  mon_sketch s;
  build(&s, x, N, 200);
  qsort(x, N, sizeof *x, cmp_d);
  const double qs[] = {0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1};
  for(size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
    double v = mon_sketch_quantile(&s, qs[i]);
    double target = qs[i] * N;
    /* The target rank lies within err of [R(v-), R(v)]. */
    assert_true((double)exact_rank(x, N, v, true) - (double)s.err < target + 1e-9 ||
                qs[i] == 0);
    assert_true((double)exact_rank(x, N, v, false) + (double)s.err >= target - 1e-9);
  }
  mon_sketch_free(&s);
  free(x);
}

static void test_serialize(void **state) {
  (void)state;
  double *x = malloc(N * sizeof *x);
  fill(x, N, 7);
  /* unit weights, uniform (a block's distinct values pruned), u64, u32 */
  static const int want_flags[4] = {0, 3, 2, 1};
  for(int pass = 0; pass < 4; pass++) {
    mon_sketch s, t;
    build(&s, x, pass == 0 ? 300 : N, 512);
    if(pass == 2)
      s.w[0] += (int64_t)1 << 33, s.count += (int64_t)1 << 33;
    if(pass == 3)
      s.w[1] += 1, s.count += 1;
    size_t size = mon_sketch_size(&s);
    unsigned char *buf = malloc(size), *buf2 = malloc(size);
    assert_int_equal(mon_sketch_serialize(&s, buf, size), size);
    assert_int_equal(mon_sketch_serialize(&s, buf, size - 1), 0);
    assert_int_equal(buf[5], want_flags[pass]);
    assert_int_equal(mon_sketch_deserialize(&t, buf, size), 0);
    assert_same(&s, &t);
    assert_int_equal(mon_sketch_serialize(&t, buf2, size), size);
    assert_memory_equal(buf, buf2, size); /* deterministic bytes */
    mon_sketch_free(&t);
    /* Every truncation and every extension is refused. */
    for(size_t len = 0; len < size; len += 1 + (len > 200 ? 97 : 0))
      assert_int_equal(mon_sketch_deserialize(&t, buf, len), -1);
    unsigned char *big = calloc(size + 8, 1);
    memcpy(big, buf, size);
    assert_int_equal(mon_sketch_deserialize(&t, big, size + 8), -1);
    free(big);
    /* Corrupted fields. */
    struct {
      size_t at;
      unsigned char v;
    } bad[] = {{0, 'X'}, {4, 2},  {5, 0x13},  {5, 8},
               {6, 1},   {12, 1}, {39, 0x80}, {63, 0x7f}};
    for(size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      memcpy(buf2, buf, size);
      buf2[bad[i].at] = bad[i].v;
      assert_int_equal(mon_sketch_deserialize(&t, buf2, size), -1);
    }
    if(s.n >= 2) {
      /* Values out of order; a weight changed (sum no longer count); NaN. */
      memcpy(buf2, buf, size);
      memcpy(buf2 + 72, buf + 80, 8);
      memcpy(buf2 + 80, buf + 72, 8);
      assert_int_equal(mon_sketch_deserialize(&t, buf2, size), -1);
      double nan = NAN;
      memcpy(buf2, buf, size);
      memcpy(buf2 + 72, &nan, 8);
      assert_int_equal(mon_sketch_deserialize(&t, buf2, size), -1);
      /* err > count */
      memcpy(buf2, buf, size);
      memset(buf2 + 32, 0x7f, 8);
      assert_int_equal(mon_sketch_deserialize(&t, buf2, size), -1);
      /* More missing values than one summary may describe (2^41): merging
       * two such would overflow. 2^40 itself is taken. */
      memcpy(buf2, buf, size);
      memset(buf2 + 24, 0, 8);
      buf2[29] = 0x02;
      assert_int_equal(mon_sketch_deserialize(&t, buf2, size), -1);
      buf2[29] = 0x01;
      assert_int_equal(mon_sketch_deserialize(&t, buf2, size), 0);
      mon_sketch_free(&t);
      if(pass > 0) {
        memcpy(buf2, buf, size);
        buf2[72 + 8 * s.n] ^= 1;
        assert_int_equal(mon_sketch_deserialize(&t, buf2, size), -1);
      }
    }
    free(buf);
    free(buf2);
    mon_sketch_free(&s);
  }
  free(x);
}

static void test_ks_wasserstein_bounds(void **state) {
  (void)state;
  double *cur = malloc(N * sizeof *cur), *ref = malloc(20000 * sizeof *ref);
  for(int kind = 4; kind < 8; kind++) {
    fill(cur, N, kind);
    fill(ref, 20000, kind);
    for(size_t i = 0; i < N; i++)
      cur[i] = isfinite(cur[i]) ? cur[i] * 1.05 + 0.1 : cur[i];
    mon_sketch u;
    mon_sketch_init(&u);
    for(size_t lo = 0; lo < N; lo += 1000) {
      mon_sketch s;
      build(&s, cur + lo, 1000, 64); /* coarse, so the bound matters */
      assert_int_equal(mon_sketch_merge(&u, &s), 0);
      mon_sketch_free(&s);
    }
    assert_int_equal(mon_sketch_compress(&u, 0), 0);
    size_t nr = 0, nc = 0;
    mon_stats_filter_finite(ref, 20000, ref, &nr, NULL);
    mon_stats_filter_finite(cur, N, cur, &nc, NULL);
    mon_stats_sort(ref, nr);
    mon_stats_sort(cur, nc);
    mon_ks_result ks;
    mon_stats_ks_statistic(ref, nr, cur, nc, &ks);
    double eps = (double)u.err / (double)u.count;
    double d = mon_sketch_ks(&u, ref, nr);
    assert_true(fabs(d - ks.statistic) <= eps + 1e-12);
    double w, wh = mon_sketch_wasserstein(&u, ref, nr);
    mon_stats_wasserstein(ref, nr, cur, nc, &w);
    assert_true(fabs(wh - w) <= eps * (u.max - u.min) * (1 + 1e-9) + 1e-9 * fabs(w));
    if(kind == 4) /* exact: identical */
      assert_true(d == ks.statistic && eps == 0);
    mon_sketch_free(&u);
  }
  free(cur);
  free(ref);
}

/* Categorical counts: never pruned, exact, the flag survives a round
 * trip; a counts summary claiming an error is refused; a wider weight
 * encoding than the writer's is read all the same. */
static void test_counts_and_canonical(void **state) {
  (void)state;
  double *x = malloc(N * sizeof *x);
  for(size_t i = 0; i < N; i++)
    x[i] = (double)(rnd() % 3000);
  mon_sketch s, t;
  mon_sketch_init(&s);
  s.counts = true;
  assert_int_equal(mon_sketch_update(&s, x, N), 0);
  assert_int_equal(mon_sketch_compress(&s, 512), 0);
  assert_int_equal(s.n, 3000);
  assert_int_equal(s.err, 0);
  check_bound(&s, x, N);
  size_t size = mon_sketch_size(&s);
  unsigned char *buf = malloc(size);
  assert_int_equal(mon_sketch_serialize(&s, buf, size), size);
  assert_int_equal(buf[5], 4 | 1);
  assert_int_equal(mon_sketch_deserialize(&t, buf, size), 0);
  assert_true(t.counts);
  assert_same(&s, &t);
  mon_sketch_free(&t);
  buf[32] = 1; /* err 1 */
  assert_int_equal(mon_sketch_deserialize(&t, buf, size), -1);
  free(buf);
  mon_sketch_free(&s);
  /* Unit weights written as u32: read all the same (any encoding is
   * read; the writer picks the shortest). */
  for(size_t i = 0; i < 100; i++)
    x[i] = (double)i / 7;
  build(&s, x, 100, 512);
  assert_int_equal(s.err, 0);
  size = mon_sketch_size(&s);
  assert_int_equal(size, 72 + 8 * 100); /* unit weights: none written */
  buf = calloc(1, size + 4 * s.n);
  assert_int_equal(mon_sketch_serialize(&s, buf, size), size);
  buf[5] = 1;
  for(size_t i = 0; i < s.n; i++)
    buf[size + 4 * i] = (unsigned char)s.w[i];
  assert_int_equal(mon_sketch_deserialize(&t, buf, size + 4 * s.n), 0);
  assert_same(&s, &t);
  mon_sketch_free(&t);
  free(buf);
  mon_sketch_free(&s);
  free(x);
}

/* Per-bucket rollups (monitor/rollup.c): buckets of blocks whose
 * summaries are merged and pruned to MON_SKETCH_ROLLUP_K items (or fewer,
 * so that the rollup's prune matters), then a window made of the rollups
 * of the buckets it covers whole, the block summaries of a ragged first
 * bucket (its first blocks left out) and the exact rows of a last block
 * cut in the middle. The window's union is within its err of the exact
 * ranks of exactly those rows, and err is at most the composed bound
 * N / (2k) + B / 2 + sum of floor(W_r / K) (distinct values), N / k + B +
 * the same sum in every case; a rollup's err is its blocks' errors plus
 * at most floor(W / K). */
static void test_rollup_edges(void **state) {
  (void)state;
  enum { BLOCK = 1000, PER_BUCKET = 10, BUCKETS = 10, SKIP = 4, CUT = 700 };
  size_t n = (size_t)BLOCK * PER_BUCKET * BUCKETS;
  double *x = malloc(n * sizeof *x), *win = malloc(n * sizeof *win);
  const size_t ks[] = {MON_SKETCH_ROLLUP_K, 64};
  for(int kind = 0; kind < 8; kind++) {
    fill(x, n, kind);
    for(size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
      mon_sketch u;
      mon_sketch_init(&u);
      size_t nwin = 0, nb = 0;
      double rollup_err = 0;
      bool all_distinct = true;
      for(size_t b = 0; b < BUCKETS; b++) {
        mon_sketch r;
        mon_sketch_init(&r);
        int64_t block_err = 0;
        for(size_t j = 0; j < PER_BUCKET; j++) {
          const double *v = x + (b * PER_BUCKET + j) * BLOCK;
          mon_sketch s, e;
          build(&s, v, BLOCK, MON_SKETCH_BLOCK_K);
          build(&e, v, BLOCK, 0);
          all_distinct &= (int64_t)e.n == e.count;
          mon_sketch_free(&e);
          if(b == 0 && j >= SKIP) { /* ragged start: block summaries */
            assert_int_equal(mon_sketch_merge(&u, &s), 0);
            memcpy(win + nwin, v, BLOCK * sizeof *v);
            nwin += BLOCK;
            nb++;
          } else if(b == BUCKETS - 1 && j == PER_BUCKET - 1) {
            /* ragged end: a block cut at CUT rows, read exactly */
            assert_int_equal(mon_sketch_update(&u, v, CUT), 0);
            memcpy(win + nwin, v, CUT * sizeof *v);
            nwin += CUT;
          } else if(b == BUCKETS - 1) {
            assert_int_equal(mon_sketch_merge(&u, &s), 0);
            memcpy(win + nwin, v, BLOCK * sizeof *v);
            nwin += BLOCK;
            nb++;
          }
          block_err += s.err;
          assert_int_equal(mon_sketch_merge(&r, &s), 0);
          mon_sketch_free(&s);
        }
        int64_t w = r.count;
        assert_int_equal(mon_sketch_compress(&r, ks[ki]), 0);
        assert_true(r.n <= ks[ki]);
        assert_true(r.err - block_err <= w / (int64_t)ks[ki]);
        if(b == 1) /* one rollup on its own (the window checks them all) */
          check_bound(&r, x + b * PER_BUCKET * BLOCK, PER_BUCKET * BLOCK);
        if(b > 0 && b < BUCKETS - 1) { /* covered whole: the rollup */
          /* As stored and read back. */
          size_t size = mon_sketch_size(&r);
          unsigned char *bytes = malloc(size);
          assert_int_equal(mon_sketch_serialize(&r, bytes, size), size);
          mon_sketch back;
          assert_int_equal(mon_sketch_deserialize(&back, bytes, size), 0);
          free(bytes);
          assert_int_equal(mon_sketch_merge(&u, &back), 0);
          mon_sketch_free(&back);
          memcpy(win + nwin, x + b * PER_BUCKET * BLOCK,
                 PER_BUCKET * BLOCK * sizeof *x);
          nwin += PER_BUCKET * BLOCK;
          nb += PER_BUCKET;
          rollup_err += (double)(w / (int64_t)ks[ki]);
        }
        mon_sketch_free(&r);
      }
      assert_int_equal(mon_sketch_compress(&u, 0), 0);
      check_bound(&u, win, nwin);
      double dk = all_distinct ? 2.0 : 1.0;
      assert_true((double)u.err <= (double)u.count / (dk * MON_SKETCH_BLOCK_K) +
                                       (double)nb / dk + rollup_err);
      if(kind == 4)
        assert_int_equal(u.err, 0); /* 7 distinct values stay exact */
      mon_sketch_free(&u);
    }
  }
  free(x);
  free(win);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_small),
      cmocka_unit_test(test_bound_blocks),
      cmocka_unit_test(test_bound_streaming),
      cmocka_unit_test(test_merge_associative),
      cmocka_unit_test(test_quantile_rank),
      cmocka_unit_test(test_serialize),
      cmocka_unit_test(test_ks_wasserstein_bounds),
      cmocka_unit_test(test_counts_and_canonical),
      cmocka_unit_test(test_rollup_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
