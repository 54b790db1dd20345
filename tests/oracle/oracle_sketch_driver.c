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
 * ref must be finite and sorted. Each command's output starts with
 * "begin <id>" and ends with "end <id>". Doubles are printed with %.17g. */
#include <math.h>
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

static int run(const char *id, const char *rp, const char *cp, const char *pp,
               size_t block, size_t k) {
  size_t nr, nc, np;
  double *ref = read_f64(rp, &nr), *cur = read_f64(cp, &nc), *pr = read_f64(pp, &np);
  int rc = 1;
  mon_sketch u;
  mon_sketch_init(&u);
  if(!ref || !cur || !pr || nr == 0 || block == 0)
    goto out;
  for(size_t lo = 0; lo < nc; lo += block) {
    mon_sketch s;
    mon_sketch_init(&s);
    size_t len = nc - lo < block ? nc - lo : block;
    if(mon_sketch_update(&s, cur + lo, len) || mon_sketch_compress(&s, k) ||
       mon_sketch_merge(&u, &s)) {
      mon_sketch_free(&s);
      goto out;
    }
    mon_sketch_free(&s);
  }
  if(mon_sketch_compress(&u, 0) || u.count == 0)
    goto out;
  printf("begin %s\n", id);
  double eps = (double)u.err / (double)u.count;
  put("count", (double)u.count);
  put("err", (double)u.err);
  put("eps", eps);
  put("items", (double)u.n);
  double d = mon_sketch_ks(&u, ref, nr);
  put("ks_d", d);
  put("ks_p", mon_stats_ks_pvalue(nr, (size_t)u.count, d, NULL, NULL));
  put("ks_p_lo",
      mon_stats_ks_pvalue(nr, (size_t)u.count, fmin(1, d + eps), NULL, NULL));
  put("ks_p_hi",
      mon_stats_ks_pvalue(nr, (size_t)u.count, fmax(0, d - eps), NULL, NULL));
  put("w1", mon_sketch_wasserstein(&u, ref, nr));
  put("w1_err", eps * (u.max - u.min));
  const double qs[] = {0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1};
  for(int i = 0; i < 9; i++) {
    char key[16];
    snprintf(key, sizeof key, "q%d", i);
    put(key, mon_sketch_quantile(&u, qs[i]));
  }
  for(size_t i = 0; i < np; i++) {
    char key[32];
    snprintf(key, sizeof key, "le%zu", i);
    put(key, (double)mon_sketch_rank(&u, pr[i], false));
    snprintf(key, sizeof key, "lt%zu", i);
    put(key, (double)mon_sketch_rank(&u, pr[i], true));
  }
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
    size_t block, k;
    if(sscanf(line, "sketch %255s %1023s %1023s %1023s %zu %zu", id, rp, cp, pp,
              &block, &k) == 6) {
      if(run(id, rp, cp, pp, block, k)) {
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
