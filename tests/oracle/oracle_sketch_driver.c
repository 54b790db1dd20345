/* tests/oracle/oracle_sketch_driver.c - runs monitor/sketch on data written
 * by oracle_sketch.py and prints the results as "key value" lines.
 *
 * Commands, one per line on stdin (paths are raw little-endian float64):
 *   sketch <id> <ref.f64> <cur.f64> <probes.f64> <block> <k>
 *     summarises cur in blocks of <block> rows, each pruned to <k> items,
 *     merges them as a report does, and prints count, err, eps, the KS
 *     distance to ref with the p-value at D and at D -/+ eps, the
 *     Wasserstein distance and its bound, the quantiles at levels 0, 0.01,
 *     0.05, 0.25, 0.5, 0.75, 0.95, 0.99 and 1 (q0..q8), and the estimated
 *     rank (values <= x, and < x) of every probe x (le<i>, lt<i>).
 *   rollup <id> <ref.f64> <cur.f64> <probes.f64> <block> <k> <per> <rk> <skip>
 *          <cut>
 *     as a report beyond the budget with per-bucket rollups
 *     (monitor/rollup.c): cur in blocks of <block> rows pruned to <k>
 *     items, <per> blocks a bucket, each bucket's summaries merged and
 *     pruned to <rk> items; the window starts at block <skip> of the first
 *     bucket (that bucket's remaining blocks merged as summaries) and ends
 *     <cut> rows into the last block (the last bucket's other blocks as
 *     summaries, the cut block's rows exactly); every bucket between is
 *     merged as its rollup (serialised and read back). Prints as sketch,
 *     for the window's rows, plus rollups (how many were merged).
 * ref must be finite and sorted. Each command's output starts with
 * "begin <id>" and ends with "end <id>". Doubles are printed with %.17g. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/sketch.h"
#include "monitor/stats.h"

static double *read_f64(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if(!f)
    return NULL;
  if(fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return NULL;
  }
  long len = ftell(f);
  rewind(f);
  if(len < 0 || len % 8 != 0) {
    fclose(f);
    return NULL;
  }
  size_t cnt = (size_t)len / 8;
  double *x = malloc((cnt ? cnt : 1) * sizeof *x);
  if(x && fread(x, sizeof *x, cnt, f) != cnt) {
    free(x);
    x = NULL;
  }
  fclose(f);
  if(x)
    *n = cnt;
  return x;
}

static void put(const char *key, double v) { printf("%s %.17g\n", key, v); }

/* Prints u's answers against ref and the probes. */
static void emit(const char *id, const mon_sketch *u, const double *ref, size_t nr,
                 const double *pr, size_t np) {
  printf("begin %s\n", id);
  double eps = (double)u->err / (double)u->count;
  put("count", (double)u->count);
  put("err", (double)u->err);
  put("eps", eps);
  put("items", (double)u->n);
  double d = mon_sketch_ks(u, ref, nr);
  put("ks_d", d);
  put("ks_p", mon_stats_ks_pvalue(nr, (size_t)u->count, d, NULL, NULL));
  put("ks_p_lo",
      mon_stats_ks_pvalue(nr, (size_t)u->count, fmin(1, d + eps), NULL, NULL));
  put("ks_p_hi",
      mon_stats_ks_pvalue(nr, (size_t)u->count, fmax(0, d - eps), NULL, NULL));
  put("w1", mon_sketch_wasserstein(u, ref, nr));
  put("w1_err", eps * (u->max - u->min));
  const double qs[] = {0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1};
  for(int i = 0; i < 9; i++) {
    char key[16];
    snprintf(key, sizeof key, "q%d", i);
    put(key, mon_sketch_quantile(u, qs[i]));
  }
  for(size_t i = 0; i < np; i++) {
    char key[32];
    snprintf(key, sizeof key, "le%zu", i);
    put(key, (double)mon_sketch_rank(u, pr[i], false));
    snprintf(key, sizeof key, "lt%zu", i);
    put(key, (double)mon_sketch_rank(u, pr[i], true));
  }
}

/* A block's summary of x[0..len) merged into dst. */
static int add_block(mon_sketch *dst, const double *x, size_t len, size_t k) {
  mon_sketch s;
  mon_sketch_init(&s);
  int rc = mon_sketch_update(&s, x, len) || mon_sketch_compress(&s, k) ||
           mon_sketch_merge(dst, &s);
  mon_sketch_free(&s);
  return rc;
}

static int run(const char *id, const char *rp, const char *cp, const char *pp,
               size_t block, size_t k) {
  size_t nr, nc, np;
  double *ref = read_f64(rp, &nr), *cur = read_f64(cp, &nc), *pr = read_f64(pp, &np);
  int rc = 1;
  mon_sketch u;
  mon_sketch_init(&u);
  if(!ref || !cur || !pr || nr == 0 || block == 0)
    goto out;
  for(size_t lo = 0; lo < nc; lo += block)
    if(add_block(&u, cur + lo, nc - lo < block ? nc - lo : block, k))
      goto out;
  if(mon_sketch_compress(&u, 0) || u.count == 0)
    goto out;
  emit(id, &u, ref, nr, pr, np);
  printf("end %s\n", id);
  rc = 0;
out:
  mon_sketch_free(&u);
  free(ref);
  free(cur);
  free(pr);
  return rc;
}

static int run_rollup(const char *id, const char *rp, const char *cp, const char *pp,
                      size_t block, size_t k, size_t per, size_t rk, size_t skip,
                      size_t cut) {
  size_t nr, nc, np;
  double *ref = read_f64(rp, &nr), *cur = read_f64(cp, &nc), *pr = read_f64(pp, &np);
  int rc = 1, rollups = 0;
  mon_sketch u;
  mon_sketch_init(&u);
  size_t nblocks = block ? nc / block : 0, nbuckets = per ? nblocks / per : 0;
  if(!ref || !cur || !pr || nr == 0 || block == 0 || per == 0 || nbuckets < 3 ||
     nc % (block * per) || skip >= per || cut == 0 || cut > block)
    goto out;
  for(size_t b = 0; b < nbuckets; b++) {
    const double *x = cur + b * per * block;
    if(b == 0 || b + 1 == nbuckets) { /* the ragged ends, by block */
      for(size_t j = b == 0 ? skip : 0; j < per; j++) {
        bool last = b + 1 == nbuckets && j + 1 == per;
        if(last ? mon_sketch_update(&u, x + j * block, cut)
                : add_block(&u, x + j * block, block, k))
          goto out;
      }
      continue;
    }
    mon_sketch r, back;
    mon_sketch_init(&r);
    mon_sketch_init(&back);
    bool ok = true;
    for(size_t j = 0; j < per && ok; j++)
      ok = !add_block(&r, x + j * block, block, k);
    ok = ok && !mon_sketch_compress(&r, rk);
    size_t size = ok ? mon_sketch_size(&r) : 0;
    unsigned char *bytes = ok ? malloc(size) : NULL;
    ok = bytes && mon_sketch_serialize(&r, bytes, size) == size &&
         !mon_sketch_deserialize(&back, bytes, size) && !mon_sketch_merge(&u, &back);
    free(bytes);
    mon_sketch_free(&r);
    mon_sketch_free(&back);
    if(!ok)
      goto out;
    rollups++;
  }
  if(mon_sketch_compress(&u, 0) || u.count == 0)
    goto out;
  emit(id, &u, ref, nr, pr, np);
  put("rollups", rollups);
  printf("end %s\n", id);
  rc = 0;
out:
  mon_sketch_free(&u);
  free(ref);
  free(cur);
  free(pr);
  return rc;
}

int main(void) {
  char line[4096];
  int rc = 0;
  while(fgets(line, sizeof line, stdin)) {
    char id[256], rp[1024], cp[1024], pp[1024];
    size_t block, k, per, rk, skip, cut;
    if(sscanf(line, "sketch %255s %1023s %1023s %1023s %zu %zu", id, rp, cp, pp,
              &block, &k) == 6) {
      if(run(id, rp, cp, pp, block, k)) {
        fprintf(stderr, "%s: failed\n", id);
        rc = 1;
      }
    } else if(sscanf(line,
                     "rollup %255s %1023s %1023s %1023s %zu %zu %zu %zu %zu %zu", id,
                     rp, cp, pp, &block, &k, &per, &rk, &skip, &cut) == 10) {
      if(run_rollup(id, rp, cp, pp, block, k, per, rk, skip, cut)) {
        fprintf(stderr, "%s: failed\n", id);
        rc = 1;
      }
    } else if(line[0] != '\n') {
      fprintf(stderr, "bad command: %s", line);
      rc = 1;
    }
  }
  fflush(stdout);
  return rc;
}
