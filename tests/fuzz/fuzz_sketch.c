/* tests/fuzz/fuzz_sketch.c - a block summary chunk as read back from the
 * store (mon_sketch_deserialize): any bytes are either refused or give a
 * summary whose invariants hold (items ascending and finite inside
 * [min, max], weights summing to count, err within [0, count]); an
 * accepted summary written back reads as the same summary, merges with
 * itself, prunes, and answers rank, quantile, KS and Wasserstein queries
 * without reading past its arrays. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/sketch.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* In a buffer of its own size, so ASan sees any read past it. */
  uint8_t *copy = malloc(size ? size : 1);
  FUZZ_CHECK(copy);
  memcpy(copy, data, size);
  mon_sketch s;
  if(mon_sketch_deserialize(&s, copy, size)) {
    mon_sketch_free(&s);
    free(copy);
    return 0;
  }
  int64_t total = 0;
  for(size_t i = 0; i < s.n; i++) {
    FUZZ_CHECK(isfinite(s.v[i]) && s.w[i] >= 1);
    FUZZ_CHECK(i == 0 || s.v[i] > s.v[i - 1]);
    FUZZ_CHECK(s.v[i] >= s.min && s.v[i] <= s.max);
    total += s.w[i];
  }
  FUZZ_CHECK(total == s.count && s.err >= 0 && s.err <= s.count);
  /* Written back (in the writer's encoding) it reads as the same
   * summary, and writes the same bytes again. */
  size_t len = mon_sketch_size(&s);
  FUZZ_CHECK(len <= size);
  uint8_t *again = malloc(len), *third = malloc(len);
  FUZZ_CHECK(again && third && mon_sketch_serialize(&s, again, len) == len);
  mon_sketch r;
  FUZZ_CHECK(!mon_sketch_deserialize(&r, again, len));
  FUZZ_CHECK(r.n == s.n && r.count == s.count && r.err == s.err &&
             r.missing == s.missing && r.counts == s.counts);
  /* An empty summary has no arrays (NULL): memcmp must not see them. */
  FUZZ_CHECK(s.n == 0 || (!memcmp(r.v, s.v, s.n * sizeof *s.v) &&
                          !memcmp(r.w, s.w, s.n * sizeof *s.w)));
  FUZZ_CHECK(mon_sketch_serialize(&r, third, len) == len &&
             !memcmp(again, third, len));
  mon_sketch_free(&r);
  free(again);
  free(third);
  if(s.count > 0) {
    double ref[3] = {s.min, (s.min + s.max) / 2, s.max};
    double d = mon_sketch_ks(&s, ref, 3);
    FUZZ_CHECK(d >= 0 && d <= 1);
    (void)mon_sketch_wasserstein(&s, ref, 3);
    double q = mon_sketch_quantile(&s, 0.5);
    FUZZ_CHECK(q >= s.min && q <= s.max);
    FUZZ_CHECK(mon_sketch_rank(&s, s.max, false) == s.count);
    /* Merged with itself and pruned (counts can overflow int64 only past
     * 2^62 rows: skip such inputs). */
    if(s.count < ((int64_t)1 << 40)) {
      mon_sketch u;
      mon_sketch_init(&u);
      FUZZ_CHECK(!mon_sketch_merge(&u, &s) && !mon_sketch_merge(&u, &s));
      FUZZ_CHECK(!mon_sketch_compress(&u, 8));
      FUZZ_CHECK(u.count == 2 * s.count && u.n <= 8);
      mon_sketch_free(&u);
    }
  }
  mon_sketch_free(&s);
  free(copy);
  return 0;
}
