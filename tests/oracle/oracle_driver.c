/* tests/oracle/oracle_driver.c - runs monitor/stats on data written by
 * oracle_stats.py and prints every result as "key value" lines.
 *
 * Commands, one per line on stdin (paths are raw little-endian float64):
 *   numeric <id> <ref.f64> <cur.f64>   every numeric-column statistic
 *   counts <id> <ref.f64> <cur.f64>    statistics on aligned counts
 *   kstwo <id> <n> <d>                 mon_stats_kstwo_sf(d, n)
 *   kspval <id> <n1> <n2> <d>          mon_stats_ks_pvalue(n1, n2, d)
 *   spearman <id> <x.f64> <y.f64>      mon_stats_spearman of the pairs
 *   sort <id> <in.f64> <out.f64>       mon_stats_sort of in, written to out
 * numeric and counts also print the quality shares of a drift column
 * (missing, outside the reference's range, categories unseen in it).
 * Each command's output starts with "begin <id>" and ends with "end <id>".
 * Doubles are printed with %.17g so they round-trip exactly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/stats.h"

static double *read_f64(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return NULL;
  }
  long len = ftell(f);
  rewind(f);
  if (len < 0 || len % 8 != 0) {
    fclose(f);
    return NULL;
  }
  size_t cnt = (size_t)len / 8;
  double *x = malloc((cnt ? cnt : 1) * sizeof *x);
  if (x != NULL && fread(x, sizeof *x, cnt, f) != cnt) {
    free(x);
    x = NULL;
  }
  fclose(f);
  if (x != NULL) *n = cnt;
  return x;
}

static void put(const char *key, double v) { printf("%s %.17g\n", key, v); }

static void put_summary(const char *side, const mon_summary *s) {
  char key[64];
  static const char *names[] = {"mean", "std", "std_pop", "min", "max"};
  const double vals[] = {s->mean, s->std, s->std_pop, s->min, s->max};
  for (int i = 0; i < 5; i++) {
    snprintf(key, sizeof key, "%s_%s", side, names[i]);
    put(key, vals[i]);
  }
  for (int i = 0; i < MON_STATS_NQUANTILES; i++) {
    snprintf(key, sizeof key, "%s_q%d", side, i);
    put(key, s->q[i]);
  }
  snprintf(key, sizeof key, "%s_count", side);
  put(key, (double)s->count);
}

static int cmd_numeric(const char *ref_path, const char *cur_path) {
  size_t nr_raw, nc_raw, nr, nc, mr, mc;
  double *ref = read_f64(ref_path, &nr_raw);
  double *cur = read_f64(cur_path, &nc_raw);
  if (ref == NULL || cur == NULL) {
    free(ref);
    free(cur);
    return -1;
  }
  mon_stats_filter_finite(ref, nr_raw, ref, &nr, &mr);
  mon_stats_filter_finite(cur, nc_raw, cur, &nc, &mc);
  put("ref_missing", (double)mr);
  put("cur_missing", (double)mc);
  if (mon_stats_sort(ref, nr) != MON_STATS_OK ||
      mon_stats_sort(cur, nc) != MON_STATS_OK) {
    free(ref);
    free(cur);
    return -1;
  }

  mon_ks_result ks;
  int rc = mon_stats_ks_2samp(ref, nr, cur, nc, &ks);
  put("ks_rc", rc);
  put("ks_d", ks.statistic);
  put("ks_p", ks.pvalue);
  put("ks_location", ks.location);
  put("ks_sign", ks.sign);
  put("ks_method", ks.method);

  double w = 0;
  rc = mon_stats_wasserstein(ref, nr, cur, nc, &w);
  put("w_rc", rc);
  put("wasserstein", w);

  mon_summary sr, sc;
  mon_stats_summary_sorted(ref, nr, &sr);
  mon_stats_summary_sorted(cur, nc, &sc);
  put_summary("ref", &sr);
  put_summary("cur", &sc);
  put("wasserstein_norm", mon_stats_wasserstein_normed(w, sr.std_pop));
  /* Quality as a drift report computes it: missing among all rows, out of
   * range among the non-missing ones. */
  put("q_missing_share", nc_raw ? (double)mc / (double)nc_raw : 0.0);
  if (nr > 0 && nc > 0)
    put("q_out_of_range_share",
        (double)mon_stats_out_of_range_sorted(cur, nc, ref[0], ref[nr - 1]) /
            (double)nc);

  mon_bins bins;
  rc = mon_stats_bins_from_sorted(ref, nr, 10, &bins);
  put("bins_rc", rc);
  put("n_bins", (double)bins.n_bins);
  if (rc == MON_STATS_OK) {
    char key[32];
    double cc[MON_STATS_MAX_BINS] = {0}, cu[MON_STATS_MAX_BINS] = {0};
    mon_stats_bins_count_sorted(&bins, cur, nc, cc);
    mon_stats_bins_count(&bins, cur, nc, cu); /* must agree with cc */
    for (size_t i = 0; i <= bins.n_bins; i++) {
      snprintf(key, sizeof key, "edge%zu", i);
      put(key, bins.edges[i]);
    }
    for (size_t i = 0; i < bins.n_bins; i++) {
      snprintf(key, sizeof key, "refc%zu", i);
      put(key, bins.ref_counts[i]);
      snprintf(key, sizeof key, "curc%zu", i);
      put(key, cc[i]);
      snprintf(key, sizeof key, "curu%zu", i);
      put(key, cu[i]);
    }
    double psi = 0, js = 0;
    put("psi_rc", mon_stats_psi(bins.ref_counts, cc, bins.n_bins, &psi));
    put("psi", psi);
    put("js_rc", mon_stats_jensenshannon(bins.ref_counts, cc, bins.n_bins, &js));
    put("js", js);
  }

  mon_drift_options opt = {.all_pvalues = true};
  mon_drift_result dr;
  rc = mon_stats_numeric_drift(ref, nr, cur, nc, NULL, &opt, &dr);
  put("drift_rc", rc);
  put("drift_method", dr.method);
  put("drift_score", dr.score);
  put("drift_drifted", dr.drifted);
  put("drift_n_values", (double)dr.n_values);
  put("drift_as_categories", dr.as_categories);
  put("drift_ks_p", dr.ks.pvalue);
  put("drift_w", dr.wasserstein);
  put("drift_wnorm", dr.wasserstein_norm);
  put("drift_psi", dr.psi);
  put("drift_psi_ok", dr.psi_ok);
  put("drift_js", dr.jensenshannon);
  put("drift_chi_stat", dr.chisquare.statistic);
  put("drift_chi_p", dr.chisquare.pvalue);
  put("drift_chi_ok", dr.chisquare.available);
  put("drift_z", dr.ztest.statistic);
  put("drift_z_p", dr.ztest.pvalue);
  put("drift_z_ok", dr.ztest.available);
  free(ref);
  free(cur);
  return 0;
}

static int cmd_counts(const char *ref_path, const char *cur_path) {
  size_t k1, k2;
  double *ref = read_f64(ref_path, &k1);
  double *cur = read_f64(cur_path, &k2);
  if (ref == NULL || cur == NULL || k1 != k2) {
    free(ref);
    free(cur);
    return -1;
  }
  double psi = 0, js = 0;
  put("psi_rc", mon_stats_psi(ref, cur, k1, &psi));
  put("psi", psi);
  put("js_rc", mon_stats_jensenshannon(ref, cur, k1, &js));
  put("js", js);
  mon_test_result chi;
  put("chi_rc", mon_stats_chisquare(ref, cur, k1, &chi));
  put("chi_stat", chi.statistic);
  put("chi_p", chi.pvalue);
  put("chi_dof", chi.dof);
  put("chi_pseudo", chi.pseudo_counts);
  mon_test_result chi2s;
  put("chi2s_rc", mon_stats_chisquare_2sample(ref, cur, k1, &chi2s));
  put("chi2s_stat", chi2s.statistic);
  put("chi2s_p", chi2s.pvalue);
  put("chi2s_dof", chi2s.dof);
  double total = 0;
  for (size_t i = 0; i < k2; i++) total += cur[i];
  if (total > 0) {
    put("q_unseen_share", mon_stats_unseen(ref, k1, cur, k2) / total);
    /* A reference dictionary shorter than the window's: codes past it
     * are unseen. */
    put("q_unseen_short", mon_stats_unseen(ref, k1 - 1, cur, k2) / total);
  }
  mon_drift_result dr;
  int rc = mon_stats_categorical_drift(ref, cur, k1, NULL, &dr);
  put("drift_rc", rc);
  put("drift_method", dr.method);
  put("drift_score", dr.score);
  put("drift_drifted", dr.drifted);
  put("drift_n_values", (double)dr.n_values);
  put("z_ok", dr.ztest.available);
  put("z", dr.ztest.statistic);
  put("z_p", dr.ztest.pvalue);
  free(ref);
  free(cur);
  return 0;
}

static int cmd_spearman(const char *x_path, const char *y_path) {
  size_t nx, ny;
  double *x = read_f64(x_path, &nx);
  double *y = read_f64(y_path, &ny);
  if (x == NULL || y == NULL || nx != ny) {
    free(x);
    free(y);
    return -1;
  }
  double rho = 0;
  put("rc", mon_stats_spearman(x, y, nx, &rho));
  put("rho", rho);
  free(x);
  free(y);
  return 0;
}

static int cmd_sort(const char *in_path, const char *out_path) {
  size_t n;
  double *x = read_f64(in_path, &n);
  if (x == NULL) return -1;
  int rc = mon_stats_sort(x, n);
  put("rc", rc);
  FILE *f = fopen(out_path, "wb");
  int ok = f != NULL && fwrite(x, sizeof *x, n, f) == n;
  if (f != NULL && fclose(f) != 0) ok = 0;
  free(x);
  return ok ? 0 : -1;
}

int main(void) {
  char line[4096];
  int failures = 0;
  while (fgets(line, sizeof line, stdin) != NULL) {
    char cmd[32], id[256], a[1024], b[1024], c[64];
    int nf = sscanf(line, "%31s %255s %1023s %1023s %63s", cmd, id, a, b, c);
    if (nf < 2) continue;
    printf("begin %s\n", id);
    int rc = -1;
    if (strcmp(cmd, "numeric") == 0 && nf >= 4) {
      rc = cmd_numeric(a, b);
    } else if (strcmp(cmd, "spearman") == 0 && nf >= 4) {
      rc = cmd_spearman(a, b);
    } else if (strcmp(cmd, "sort") == 0 && nf >= 4) {
      rc = cmd_sort(a, b);
    } else if (strcmp(cmd, "counts") == 0 && nf >= 4) {
      rc = cmd_counts(a, b);
    } else if (strcmp(cmd, "kstwo") == 0 && nf >= 4) {
      char *end;
      errno = 0;
      long n = strtol(a, &end, 10);
      double d = strtod(b, NULL);
      if (errno == 0) {
        put("sf", mon_stats_kstwo_sf(d, n));
        rc = 0;
      }
    } else if (strcmp(cmd, "kspval") == 0 && nf >= 5) {
      long n1 = strtol(a, NULL, 10), n2 = strtol(b, NULL, 10);
      double d = strtod(c, NULL), dr = 0;
      mon_ks_method m;
      double p = mon_stats_ks_pvalue((size_t)n1, (size_t)n2, d, &dr, &m);
      put("p", p);
      put("d", dr);
      put("method", m);
      rc = 0;
    }
    if (rc != 0) {
      printf("error 1\n");
      failures++;
    }
    printf("end %s\n", id);
    fflush(stdout);
  }
  return failures ? 1 : 0;
}
