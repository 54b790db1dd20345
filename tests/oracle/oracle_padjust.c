/* tests/oracle/oracle_padjust.c - runs mon_padjust on p-values written by
 * oracle_padjust.py. Commands, one per line on stdin:
 *   <id> <none|bonferroni|bh> <p.f64>   (raw little-endian float64)
 * Output per command: "begin <id>", one adjusted p-value per line (%.17g),
 * "end <id>" (or "fail <id>" when mon_padjust refused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/stats_padjust.h"

static double *read_f64(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if(!f)
    return NULL;
  double *x = NULL;
  size_t cap = 0;
  double v;
  while(fread(&v, sizeof v, 1, f) == 1) {
    if(*n == cap) {
      cap = cap ? 2 * cap : 64;
      double *y = realloc(x, cap * sizeof *y);
      if(!y) {
        free(x);
        fclose(f);
        return NULL;
      }
      x = y;
    }
    x[(*n)++] = v;
  }
  fclose(f);
  return x ? x : calloc(1, sizeof *x);
}

int main(void) {
  char line[4096], id[256], kind[32], path[3000];
  while(fgets(line, sizeof line, stdin)) {
    if(sscanf(line, "%255s %31s %2999s", id, kind, path) != 3)
      continue;
    mon_correction c = !strcmp(kind, "bh")           ? MON_CORRECTION_BH
                       : !strcmp(kind, "bonferroni") ? MON_CORRECTION_BONFERRONI
                                                     : MON_CORRECTION_NONE;
    size_t n = 0;
    double *p = read_f64(path, &n);
    double *out = malloc((n ? n : 1) * sizeof *out);
    if(!p || !out || mon_padjust(p, n, c, out) < 0) {
      printf("fail %s\n", id);
    } else {
      printf("begin %s\n", id);
      for(size_t i = 0; i < n; i++)
        printf("%.17g\n", out[i]);
      printf("end %s\n", id);
    }
    free(p);
    free(out);
  }
  return 0;
}
