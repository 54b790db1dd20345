/* monitor/sketch.c - mergeable quantile summaries with a proven,
 * deterministic rank-error bound (monitor/sketch.h).
 *
 * The method is "merge and prune" (Greenwald and Khanna, "Power-conserving
 * computation of order-statistics over sensor networks", PODS 2004;
 * Agarwal, Cormode, Huang, Phillips, Wei and Yi, "Mergeable summaries",
 * PODS 2012, section 3): summaries are unions of weighted items, and a
 * prune replaces runs of neighbouring items by one. The bound below is
 * proven here for exactly the operations this file implements; the
 * summary carries the bound (err) it has earned rather than a worst case,
 * so a report states the error of the very data it used.
 *
 * Invariant. For every real x, with R(x) the number of summarised finite
 * values <= x and R^(x) the total weight of the items <= x (and likewise
 * for < x): |R^(x) - R(x)| <= err.
 *
 *  - update adds each value as an item of weight 1: R and R^ grow alike.
 *  - merge: R = R1 + R2 and R^ = R^1 + R^2, so the error is at most
 *    err1 + err2, which is what merge stores.
 *  - collapsing items of equal value changes no R^(x): equal values are
 *    all <= x (< x) or none is.
 *  - prune: the items, sorted and distinct, are cut into runs of
 *    consecutive items; a run of weight W_r becomes one item of weight W_r
 *    at the value x_j of its weighted median, with L_r the weight of the
 *    run's items before x_j and R_r of those after. For a query x, a run
 *    whose items are all <= x (or all > x) contributes the same weight
 *    before and after. At most one run straddles x, since runs are
 *    intervals of the sorted order. If x_j <= x the run now contributes
 *    W_r where it contributed at least L_r + w_j: a change of at most R_r;
 *    otherwise it contributes 0 where it contributed at most L_r. So R^
 *    moves by at most max_r max(L_r, R_r), which prune adds to err; the
 *    triangle inequality keeps the invariant.
 *
 * Size of the error. Prune closes a run once its weight reaches t =
 * floor(W / k) + 1 (W the total weight), so at most floor(W / t) + 1 <= k
 * runs are formed (floor(W / t) <= k - 1 as t > W / k). Every item of a
 * run but its last weighs less than t together. The weighted median x_j
 * is the first item with 2 (L_r + w_j) >= W_r, so L_r < W_r / 2 and R_r <=
 * W_r / 2; if x_j is the run's last item, R_r = 0 and L_r <= t - 1,
 * otherwise W_r / 2 <= L_r + w_j <= t - 1, so both are below t: a prune
 * adds at most t - 1. When every item weighs 1 (a block's distinct
 * values) a run weighs exactly t (the last may weigh less) and the prune
 * adds at most floor(t / 2). So a block of n rows pruned to k items has
 * err <= floor((floor(n / k) + 1) / 2), about n / (2k), when its values
 * are distinct, and err <= floor(n / k) whatever they are; a window's
 * union of B block summaries over N rows, err <= N / (2k) + B / 2
 * (distinct values) and <= N / k + B in every case: a relative rank error
 * of about 1 / (2k) = 0.2 % (at most 1 / k = 0.4 %) with k = 256 and
 * blocks of 1000 rows or more. Repeated values are collapsed before any
 * prune and cost nothing, so a block of at most k distinct values is
 * summarised exactly (err 0).
 *
 * What follows for the statistics (monitor/sketch_report.c): with
 * eps = err / count, F^ = R^ / count is within eps of the empirical CDF
 * everywhere, so the KS distance to an exact reference is within eps, a
 * quantile's rank within eps, and, since every item is one of the
 * summarised values (so F^ and F agree below the minimum and from the
 * maximum on), Wasserstein-1 = integral |F_ref - F| dx is within
 * eps * (max - min).
 *
 * Serialised form (little-endian, MON_SKETCH_VERSION 1):
 *   0  "MWSK"            4  u8 version    5  u8 flags    6  u16 0
 *   8  u32 items         12 u32 0
 *   16 i64 count         24 i64 missing   32 i64 err
 *   40 f64 mean          48 f64 m2        56 f64 min     64 f64 max
 *   72 f64 values[items], then the weights: none when every weight is 1
 *      (flags 0), u32 each (flags 1), u64 each (flags 2), or one u64 t
 *      (flags 3: every item weighs t but the last, which weighs count -
 *      t (items - 1), in [1, t]: a block's distinct values pruned);
 *      the writer picks the shortest that fits, the reader takes any;
 *   flags | 4: counts by value (a categorical column), err 0. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/sketch.h"
#include "monitor/stats.h"

#define HEADER 72
#define FLAG_W32 1
#define FLAG_W64 2
#define FLAG_UNIFORM 3
#define FLAG_COUNTS 4

static int x__reserve(mon_sketch *s, size_t more);

void mon_sketch_init(mon_sketch *s) {
  memset(s, 0, sizeof *s);
  s->compressed = true;
  s->min = INFINITY;
  s->max = -INFINITY;
}

void mon_sketch_free(mon_sketch *s) {
  if(!s)
    return;
  free(s->v);
  free(s->w);
  mon_sketch_init(s);
}

int mon_sketch_reserve(mon_sketch *s, size_t more) { return x__reserve(s, more); }

static int x__reserve(mon_sketch *s, size_t more) {
  if(more > SIZE_MAX / 16 - s->n)
    return -1;
  if(s->n + more <= s->cap)
    return 0;
  size_t ncap = s->cap ? s->cap : 64;
  while(ncap < s->n + more)
    ncap = ncap > SIZE_MAX / 32 ? s->n + more : ncap * 2;
  double *v = realloc(s->v, ncap * sizeof *v);
  if(!v)
    return -1;
  s->v = v;
  int64_t *w = realloc(s->w, ncap * sizeof *w);
  if(!w)
    return -1;
  s->w = w;
  s->cap = ncap;
  return 0;
}

/* Chan et al.'s pairwise combination of (count, mean, m2). */
static void x__moments(mon_sketch *s, int64_t nb, double mb, double m2b) {
  if(nb <= 0)
    return;
  if(s->count <= 0) {
    s->mean = mb;
    s->m2 = m2b;
    return;
  }
  double na = (double)s->count, nbd = (double)nb, n = na + nbd;
  double d = mb - s->mean;
  s->mean += d * nbd / n;
  s->m2 += m2b + d * d * na * nbd / n;
}

int mon_sketch_update(mon_sketch *s, const double *x, size_t n) {
  if(x__reserve(s, n))
    return -1;
  /* Welford over this batch, then combined: one pass, stable. */
  int64_t c = 0;
  double mean = 0, m2 = 0;
  for(size_t i = 0; i < n; i++) {
    double y = x[i];
    if(!isfinite(y)) {
      s->missing++;
      continue;
    }
    s->v[s->n] = y;
    s->w[s->n++] = 1;
    c++;
    double d = y - mean;
    mean += d / (double)c;
    m2 += d * (y - mean);
    if(y < s->min)
      s->min = y;
    if(y > s->max)
      s->max = y;
  }
  x__moments(s, c, mean, m2);
  s->count += c;
  if(c)
    s->compressed = false;
  return 0;
}

int mon_sketch_merge(mon_sketch *dst, const mon_sketch *src) {
  assert(dst != src);
  if(x__reserve(dst, src->n))
    return -1;
  if(src->n) {
    memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    memcpy(dst->w + dst->n, src->w, src->n * sizeof *src->w);
    dst->n += src->n;
  }
  x__moments(dst, src->count, src->mean, src->m2);
  dst->count += src->count;
  dst->missing += src->missing;
  dst->err += src->err;
  if(src->min < dst->min)
    dst->min = src->min;
  if(src->max > dst->max)
    dst->max = src->max;
  if(src->n)
    dst->compressed = false;
  return 0;
}

/* ------------------------------------------------------------ compress */

struct x__item {
  uint64_t key; /* mon_stats_sort_key of the value */
  int64_t w;
};

/* LSD radix sort of items by key: 11-bit digits, six passes, the
 * histograms of all six counted in one pass first; digits every key
 * shares are skipped. A report sorts a window's union of block summaries
 * with it (millions of items). */
#define RADIX_BITS 11
#define RADIX_PASSES 6
#define RADIX_SIZE (1 << RADIX_BITS)

static int x__radix(struct x__item *a, size_t n) {
  if(n < 2)
    return 0;
  struct x__item *tmp = malloc(n * sizeof *tmp);
  size_t *cnt = calloc(RADIX_PASSES * RADIX_SIZE, sizeof *cnt);
  if(!tmp || !cnt) {
    free(tmp);
    free(cnt);
    return -1;
  }
  for(size_t i = 0; i < n; i++)
    for(int p = 0; p < RADIX_PASSES; p++)
      cnt[p * RADIX_SIZE + ((a[i].key >> (p * RADIX_BITS)) & (RADIX_SIZE - 1))]++;
  struct x__item *src = a, *dst = tmp;
  for(int p = 0; p < RADIX_PASSES; p++) {
    size_t *c = cnt + p * RADIX_SIZE;
    int shift = p * RADIX_BITS;
    if(c[(src[0].key >> shift) & (RADIX_SIZE - 1)] == n)
      continue;
    size_t pos = 0;
    for(int d = 0; d < RADIX_SIZE; d++) {
      size_t k = c[d];
      c[d] = pos;
      pos += k;
    }
    for(size_t i = 0; i < n; i++)
      dst[c[(src[i].key >> shift) & (RADIX_SIZE - 1)]++] = src[i];
    struct x__item *t = src;
    src = dst;
    dst = t;
  }
  if(src != a)
    memcpy(a, src, n * sizeof *a);
  free(tmp);
  free(cnt);
  return 0;
}

/* The same for bare keys (every weight 1: a block's column at ingest),
 * half the bytes moved. */
static int x__radix_keys(uint64_t *a, size_t n) {
  if(n < 2)
    return 0;
  uint64_t *tmp = malloc(n * sizeof *tmp);
  if(!tmp)
    return -1;
  uint64_t *src = a, *dst = tmp;
  for(int shift = 0; shift < 64; shift += 8) {
    size_t cnt[256] = {0};
    for(size_t i = 0; i < n; i++)
      cnt[(src[i] >> shift) & 255]++;
    if(cnt[(src[0] >> shift) & 255] == n)
      continue;
    size_t pos = 0;
    for(int d = 0; d < 256; d++) {
      size_t c = cnt[d];
      cnt[d] = pos;
      pos += c;
    }
    for(size_t i = 0; i < n; i++)
      dst[cnt[(src[i] >> shift) & 255]++] = src[i];
    uint64_t *t = src;
    src = dst;
    dst = t;
  }
  if(src != a)
    memcpy(a, src, n * sizeof *a);
  free(tmp);
  return 0;
}

static double x__value(uint64_t key) {
  uint64_t u = (key >> 63) ? key & ~UINT64_C(0x8000000000000000) : ~key;
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

int mon_sketch_compress(mon_sketch *s, size_t k) {
  bool unit = !s->compressed;
  for(size_t i = 0; unit && i < s->n; i++)
    unit = s->w[i] == 1;
  if(unit) {
    uint64_t *key = malloc((s->n ? s->n : 1) * sizeof *key);
    if(!key)
      return -1;
    for(size_t i = 0; i < s->n; i++)
      key[i] = mon_stats_sort_key(s->v[i] == 0.0 ? 0.0 : s->v[i]);
    if(x__radix_keys(key, s->n)) {
      free(key);
      return -1;
    }
    size_t m = 0;
    for(size_t i = 0; i < s->n; i++) {
      if(m > 0 && key[i] == key[i - 1]) {
        s->w[m - 1]++;
      } else {
        s->v[m] = x__value(key[i]);
        s->w[m++] = 1;
      }
    }
    s->n = m;
    s->compressed = true;
    free(key);
  }
  if(!s->compressed) {
    struct x__item *it = malloc((s->n ? s->n : 1) * sizeof *it);
    if(!it)
      return -1;
    for(size_t i = 0; i < s->n; i++) {
      /* -0.0 and +0.0 are one value: keyed as +0.0. */
      it[i].key = mon_stats_sort_key(s->v[i] == 0.0 ? 0.0 : s->v[i]);
      it[i].w = s->w[i];
    }
    if(x__radix(it, s->n)) {
      free(it);
      return -1;
    }
    size_t m = 0;
    for(size_t i = 0; i < s->n; i++) {
      if(m > 0 && it[m - 1].key == it[i].key)
        it[m - 1].w += it[i].w;
      else
        it[m++] = it[i];
    }
    for(size_t i = 0; i < m; i++) {
      s->v[i] = x__value(it[i].key);
      s->w[i] = it[i].w;
    }
    s->n = m;
    s->compressed = true;
    free(it);
  }
  if(k < 2 || s->n <= k || s->counts)
    return 0;
  /* Prune (see the top of the file): runs closed at weight t, each kept
   * as its weighted median. */
  int64_t t = s->count / (int64_t)k + 1, added = 0;
  size_t out = 0;
  for(size_t lo = 0; lo < s->n;) {
    size_t hi = lo;
    int64_t wr = 0;
    while(hi < s->n && wr < t)
      wr += s->w[hi++];
    size_t j = lo;
    int64_t before = 0;
    while(2 * (before + s->w[j]) < wr)
      before += s->w[j++];
    int64_t after = wr - before - s->w[j];
    int64_t e = before > after ? before : after;
    if(e > added)
      added = e;
    s->v[out] = s->v[j];
    s->w[out++] = wr;
    lo = hi;
  }
  assert(out <= k);
  s->n = out;
  s->err += added;
  return 0;
}

/* ----------------------------------------------------------- serialize */

static void x__put64(unsigned char *p, uint64_t u) {
  for(int i = 0; i < 8; i++)
    p[i] = (unsigned char)(u >> (8 * i));
}

static uint64_t x__get64(const unsigned char *p) {
  uint64_t u = 0;
  for(int i = 0; i < 8; i++)
    u |= (uint64_t)p[i] << (8 * i);
  return u;
}

static void x__put32(unsigned char *p, uint32_t u) {
  for(int i = 0; i < 4; i++)
    p[i] = (unsigned char)(u >> (8 * i));
}

static uint32_t x__get32(const unsigned char *p) {
  uint32_t u = 0;
  for(int i = 0; i < 4; i++)
    u |= (uint32_t)p[i] << (8 * i);
  return u;
}

static void x__putd(unsigned char *p, double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  x__put64(p, u);
}

static double x__getd(const unsigned char *p) {
  uint64_t u = x__get64(p);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

static int x__flags(const mon_sketch *s) {
  int64_t wmax = 0;
  bool uniform = s->n >= 2 && s->w[0] >= 2 && s->w[s->n - 1] <= s->w[0];
  for(size_t i = 0; i < s->n; i++) {
    wmax = s->w[i] > wmax ? s->w[i] : wmax;
    uniform &= i + 1 == s->n || s->w[i] == s->w[0];
  }
  return wmax <= 1                     ? 0
         : uniform                     ? FLAG_UNIFORM
         : wmax <= (int64_t)UINT32_MAX ? FLAG_W32
                                       : FLAG_W64;
}

/* Bytes of the weights of n items under flags. */
static size_t x__wbytes(int flags, size_t n) {
  return flags == FLAG_W32 ? 4 * n : flags == FLAG_W64 ? 8 * n : flags ? 8 : 0;
}

size_t mon_sketch_size(const mon_sketch *s) {
  return HEADER + 8 * s->n + x__wbytes(x__flags(s), s->n);
}

size_t mon_sketch_serialize(const mon_sketch *s, void *out, size_t cap) {
  if(!s->compressed || s->n > UINT32_MAX)
    return 0;
  int flags = x__flags(s);
  size_t size = HEADER + 8 * s->n + x__wbytes(flags, s->n);
  if(cap < size)
    return 0;
  unsigned char *p = out;
  memset(p, 0, HEADER);
  memcpy(p, "MWSK", 4);
  p[4] = MON_SKETCH_VERSION;
  p[5] = (unsigned char)(flags | (s->counts ? FLAG_COUNTS : 0));
  x__put32(p + 8, (uint32_t)s->n);
  x__put64(p + 16, (uint64_t)s->count);
  x__put64(p + 24, (uint64_t)s->missing);
  x__put64(p + 32, (uint64_t)s->err);
  bool any = s->count > 0;
  x__putd(p + 40, any ? s->mean : 0.0);
  x__putd(p + 48, any ? s->m2 : 0.0);
  x__putd(p + 56, any ? s->min : 0.0);
  x__putd(p + 64, any ? s->max : 0.0);
  unsigned char *q = p + HEADER, *qw = q + 8 * s->n;
  for(size_t i = 0; i < s->n; i++) {
    x__putd(q + 8 * i, s->v[i]);
    if(flags == FLAG_W32)
      x__put32(qw + 4 * i, (uint32_t)s->w[i]);
    else if(flags == FLAG_W64)
      x__put64(qw + 8 * i, (uint64_t)s->w[i]);
  }
  if(flags == FLAG_UNIFORM)
    x__put64(qw, (uint64_t)s->w[0]);
  return size;
}

/* The most rows (and missing values) one stored summary may describe. */
#define X__MAX_ROWS ((int64_t)1 << 40)

int mon_sketch_deserialize(mon_sketch *s, const void *data, size_t len) {
  mon_sketch_init(s);
  const unsigned char *p = data;
  if(!data || len < HEADER || memcmp(p, "MWSK", 4) || p[4] != MON_SKETCH_VERSION ||
     p[6] || p[7] || x__get32(p + 12))
    return -1;
  int flags = p[5] & ~FLAG_COUNTS;
  bool counts = p[5] & FLAG_COUNTS;
  size_t n = x__get32(p + 8);
  if(flags > FLAG_UNIFORM || n > (len - HEADER) / 8 ||
     len != HEADER + 8 * n + x__wbytes(flags, n))
    return -1;
  int64_t count = (int64_t)x__get64(p + 16), missing = (int64_t)x__get64(p + 24),
          err = (int64_t)x__get64(p + 32);
  double mean = x__getd(p + 40), m2 = x__getd(p + 48), mn = x__getd(p + 56),
         mx = x__getd(p + 64);
  /* A block holds far fewer rows than X__MAX_ROWS; refusing more keeps
   * the sums of merges (count, missing, err over up to 2^22 blocks) inside
   * int64 whatever the stored bytes say (found by fuzz_sketch). */
  if(count < 0 || missing < 0 || err < 0 || err > count || count > X__MAX_ROWS ||
     missing > X__MAX_ROWS || (count == 0) != (n == 0) || (counts && err))
    return -1;
  if(count > 0 && !(isfinite(mean) && isfinite(m2) && m2 >= 0 && isfinite(mn) &&
                    isfinite(mx) && mn <= mx))
    return -1;
  const unsigned char *q = p + HEADER, *qw = q + 8 * n;
  int64_t total = 0, t = flags == FLAG_UNIFORM ? (int64_t)x__get64(qw) : 0;
  if(flags == FLAG_UNIFORM && (n < 2 || t < 1 || t > count / (int64_t)(n - 1)))
    return -1;
  if(x__reserve(s, n)) {
    mon_sketch_free(s);
    return -1;
  }
  for(size_t i = 0; i < n; i++) {
    double v = x__getd(q + 8 * i);
    int64_t w = flags == FLAG_W32   ? (int64_t)x__get32(qw + 4 * i)
                : flags == FLAG_W64 ? (int64_t)x__get64(qw + 8 * i)
                : flags == 0        ? 1
                : i + 1 < n         ? t
                                    : count - total;
    /* Items are distinct and ascending, inside [min, max] (every item is
     * a summarised value); -0.0 is written as +0.0. */
    if(!isfinite(v) || w < 1 || (i > 0 && !(v > s->v[i - 1])) || v < mn || v > mx ||
       w > count - total || (flags == FLAG_UNIFORM && w > t)) {
      mon_sketch_free(s);
      return -1;
    }
    total += w;
    s->v[i] = v;
    s->w[i] = w;
  }
  /* Any of the weight encodings is read (the writer picks the shortest,
   * but data written under another choice stays readable); an empty
   * summary has zero statistics. */
  s->n = n;
  bool zeros = count > 0 || (x__get64(p + 40) == 0 && x__get64(p + 48) == 0 &&
                             x__get64(p + 56) == 0 && x__get64(p + 64) == 0);
  if(total != count || !zeros) {
    mon_sketch_free(s);
    return -1;
  }
  s->n = n;
  s->count = count;
  s->missing = missing;
  s->err = err;
  s->counts = counts;
  s->compressed = true;
  if(count > 0) {
    s->mean = mean;
    s->m2 = m2;
    s->min = mn;
    s->max = mx;
  }
  return 0;
}

/* ------------------------------------------------------------- queries */

int64_t mon_sketch_rank(const mon_sketch *s, double x, bool strict) {
  assert(s->compressed);
  int64_t r = 0;
  for(size_t i = 0; i < s->n && (strict ? s->v[i] < x : s->v[i] <= x); i++)
    r += s->w[i];
  return r;
}

double mon_sketch_quantile(const mon_sketch *s, double q) {
  assert(s->compressed);
  if(s->n == 0)
    return 0.0;
  q = q < 0 ? 0 : q > 1 ? 1 : q;
  double target = q * (double)s->count;
  int64_t c = 0;
  for(size_t i = 0; i < s->n; i++) {
    c += s->w[i];
    if((double)c >= target)
      return s->v[i];
  }
  return s->v[s->n - 1];
}

/* One pass over the distinct values of ref and s together: at each value
 * x (ascending), fn receives x and both CDFs after x. */
typedef void (*x__step_fn)(void *ctx, double x, double fr, double fs);

static void x__walk(const mon_sketch *s, const double *ref, size_t nref,
                    x__step_fn fn, void *ctx) {
  assert(s->compressed && s->count > 0 && nref > 0);
  size_t i = 0, j = 0;
  int64_t cs = 0;
  double nr = (double)nref, ns = (double)s->count;
  while(i < nref || j < s->n) {
    double x = j >= s->n ? ref[i] : i >= nref || s->v[j] < ref[i] ? s->v[j] : ref[i];
    while(i < nref && ref[i] <= x)
      i++;
    while(j < s->n && s->v[j] <= x)
      cs += s->w[j++];
    fn(ctx, x, (double)i / nr, (double)cs / ns);
  }
}

static void x__ks_step(void *ctx, double x, double fr, double fs) {
  (void)x;
  double *d = ctx, g = fabs(fr - fs);
  if(g > *d)
    *d = g;
}

double mon_sketch_ks(const mon_sketch *s, const double *ref, size_t nref) {
  double d = 0;
  x__walk(s, ref, nref, x__ks_step, &d);
  return d;
}

struct x__w1 {
  double acc, x, gap;
  bool started;
};

static void x__w1_step(void *ctx, double x, double fr, double fs) {
  struct x__w1 *a = ctx;
  if(a->started)
    a->acc += a->gap * (x - a->x);
  a->started = true;
  a->x = x;
  a->gap = fabs(fr - fs);
}

double mon_sketch_wasserstein(const mon_sketch *s, const double *ref, size_t nref) {
  struct x__w1 a = {0, 0, 0, false};
  x__walk(s, ref, nref, x__w1_step, &a);
  return a.acc;
}

size_t mon_sketch_distinct(const mon_sketch *s, const double *ref, size_t nref,
                           size_t cap) {
  assert(s->compressed);
  size_t i = 0, j = 0, d = 0;
  while((i < nref || j < s->n) && d < cap) {
    double x = j >= s->n ? ref[i] : i >= nref || s->v[j] < ref[i] ? s->v[j] : ref[i];
    while(i < nref && ref[i] <= x)
      i++;
    while(j < s->n && s->v[j] <= x)
      j++;
    d++;
  }
  return d;
}
