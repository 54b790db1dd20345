/* tests/bench/bench_stats.c - drift report benchmark for monitor/stats.
 *
 * Builds a 20-column dataset (16 numeric, 4 categorical; 100k reference and
 * 100k current rows), then times the full per-column report: NaN/inf
 * filtering, sorting, summaries of both sides, KS statistic and p-value,
 * Wasserstein (raw and normalised), reference quantile bins, PSI,
 * Jensen-Shannon, and for categorical columns category counts, chi-squared
 * and the Z test. Columns are spread over worker threads.
 *
 * Two figures, each beside scipy's time for the whole report:
 *  - cold: both sides from raw values on every report (what scipy does,
 *    and what the service did when the reference was read per report);
 *  - steady: the reference prepared once (finite values sorted, quantile
 *    bins, counts by category), as the service keeps it in memory
 *    (monitor/rcache.c); a report filters and sorts the current side only,
 *    counts its categories, and runs every test on the prepared
 *    reference. scipy has no such state: its figure is the same.
 * Both figures must give the same results (checked: the program fails if
 * they differ).
 *
 * Usage: bench_stats [--rows N] [--threads T] [--repeat R] [--dump DIR]
 *                    [--compare [SCRIPT]]
 *   --dump DIR   also write the dataset to DIR (colNN_{ref,cur}.f64 and
 *                manifest.txt) for bench_stats_scipy.py
 *   --compare    dump to a temporary directory, run the scipy script on the
 *                same data with /usr/bin/python3 and print the speed ratio
 *                (SCRIPT defaults to the path compiled in by CMake).
 * This is a benchmark, not a test: it never fails on time.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, popen (the build passes -D_GNU_SOURCE) */
#endif
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "monitor/stats.h"

#ifndef MW_BENCH_SCIPY_SCRIPT
#define MW_BENCH_SCIPY_SCRIPT "tests/bench/bench_stats_scipy.py"
#endif

#define N_COLS 20
#define N_NUMERIC 16
#define MAX_CATS 64

typedef struct column {
  int numeric;
  double *ref, *cur; /* raw values (numeric) or category codes 0..k-1 */
  size_t nr, nc;
  int n_cats;
  mon_drift_result result;
  size_t ref_missing, cur_missing;
  int rc;
  /* The prepared reference (steady state): sorted finite values and
   * bins, or counts by category. */
  double *ref_sorted;
  size_t ref_n;
  mon_bins bins;
  int has_bins;
  double ref_counts[64];
} column;

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double rng_unif(rng *r) { /* (0, 1) */
  return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_norm(rng *r) {
  return sqrt(-2.0 * log(rng_unif(r))) * cos(2 * M_PI * rng_unif(r));
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Column c, side 0 = reference, 1 = current: a mix of stable, shifted,
 * heavy-tailed, skewed, tied and partly missing columns. */
static double gen_value(int c, int side, rng *r) {
  const double shift = side ? 1.0 : 0.0;
  switch (c) {
  case 0: case 1: case 2: case 3: return rng_norm(r) * (1 + c);
  case 4: return rng_norm(r) + 0.02 * shift;
  case 5: return rng_norm(r) + 0.05 * shift;
  case 6: return rng_norm(r) * (1 + 0.1 * shift);
  case 7: return 10 + rng_norm(r) + 0.3 * shift;
  case 8: return tan(M_PI * (rng_unif(r) - 0.5));
  case 9: return tan(M_PI * (rng_unif(r) - 0.5)) + 0.1 * shift;
  case 10: return exp(rng_norm(r));
  case 11: return exp(rng_norm(r) + 0.05 * shift);
  case 12: return round(rng_norm(r) * 100) / 100;
  case 13: return round((rng_norm(r) + 0.03 * shift) * 10) / 10;
  case 14: return rng_norm(r) / sqrt(-2 * log(rng_unif(r)) + 1e-3);
  default: { /* 15: uniform with 1% NaN and a few infinities */
    const double u = rng_unif(r);
    if (u < 0.01) return NAN;
    if (u < 0.0105) return INFINITY;
    return rng_unif(r) * 100;
  }
  }
}

static void make_dataset(column *cols, size_t rows) {
  static const int cats[4] = {2, 3, 8, 50};
  for (int c = 0; c < N_COLS; c++) {
    column *col = &cols[c];
    memset(col, 0, sizeof *col);
    col->numeric = c < N_NUMERIC;
    col->nr = col->nc = rows;
    col->ref = malloc(rows * sizeof *col->ref);
    col->cur = malloc(rows * sizeof *col->cur);
    if (col->ref == NULL || col->cur == NULL) {
      fprintf(stderr, "out of memory\n");
      exit(2);
    }
    rng r = {0x1234ABCDULL * (uint64_t)(c + 1)};
    for (int side = 0; side < 2; side++) {
      double *x = side ? col->cur : col->ref;
      for (size_t i = 0; i < rows; i++) {
        if (col->numeric) {
          x[i] = gen_value(c, side, &r);
        } else {
          const int k = cats[c - N_NUMERIC];
          col->n_cats = k;
          /* Skewed category frequencies; the current side tilts a little. */
          double u = rng_unif(&r);
          if (side && c % 2 == 0) u = pow(u, 1.05);
          x[i] = floor(pow(u, 1.5) * k);
        }
      }
    }
  }
}

/* The whole report for one column. Works on copies so repeats start from
 * the same unsorted data. */
static void report_column(column *col, double *ra, double *ca) {
  if (col->numeric) {
    size_t nr, nc;
    mon_stats_filter_finite(col->ref, col->nr, ra, &nr, &col->ref_missing);
    mon_stats_filter_finite(col->cur, col->nc, ca, &nc, &col->cur_missing);
    if (mon_stats_sort(ra, nr) != MON_STATS_OK ||
        mon_stats_sort(ca, nc) != MON_STATS_OK) {
      col->rc = MON_STATS_ENOMEM;
      return;
    }
    mon_drift_options opt = {.all_pvalues = true};
    col->rc = mon_stats_numeric_drift(ra, nr, ca, nc, NULL, &opt, &col->result);
  } else {
    double rc[MAX_CATS] = {0}, cc[MAX_CATS] = {0};
    for (size_t i = 0; i < col->nr; i++) rc[(int)col->ref[i]] += 1;
    for (size_t i = 0; i < col->nc; i++) cc[(int)col->cur[i]] += 1;
    mon_drift_options opt = {.all_pvalues = true};
    col->rc = mon_stats_categorical_drift(rc, cc, (size_t)col->n_cats, &opt,
                                          &col->result);
  }
}

/* The reference prepared once, as the service stores and caches it. */
static int prepare_reference(column *col) {
  if (col->numeric) {
    col->ref_sorted = malloc((col->nr ? col->nr : 1) * sizeof *col->ref_sorted);
    if (col->ref_sorted == NULL) return -1;
    mon_stats_filter_finite(col->ref, col->nr, col->ref_sorted, &col->ref_n,
                            &col->ref_missing);
    if (mon_stats_sort(col->ref_sorted, col->ref_n) != MON_STATS_OK) return -1;
    col->has_bins =
        mon_stats_bins_from_sorted(col->ref_sorted, col->ref_n, 0, &col->bins) ==
        MON_STATS_OK;
  } else {
    memset(col->ref_counts, 0, sizeof col->ref_counts);
    for (size_t i = 0; i < col->nr; i++) col->ref_counts[(int)col->ref[i]] += 1;
  }
  return 0;
}

/* The report for one column against its prepared reference: only the
 * current side is filtered, sorted and counted. */
static void report_column_steady(column *col, double *ca) {
  mon_drift_options opt = {.all_pvalues = true};
  if (col->numeric) {
    size_t nc;
    mon_stats_filter_finite(col->cur, col->nc, ca, &nc, &col->cur_missing);
    if (mon_stats_sort(ca, nc) != MON_STATS_OK) {
      col->rc = MON_STATS_ENOMEM;
      return;
    }
    col->rc = mon_stats_numeric_drift(col->ref_sorted, col->ref_n, ca, nc,
                                      col->has_bins ? &col->bins : NULL, &opt,
                                      &col->result);
  } else {
    double cc[MAX_CATS] = {0};
    for (size_t i = 0; i < col->nc; i++) cc[(int)col->cur[i]] += 1;
    col->rc = mon_stats_categorical_drift(col->ref_counts, cc, (size_t)col->n_cats,
                                          &opt, &col->result);
  }
}

typedef struct worker {
  column *cols;
  int first, step;
  size_t rows;
  int steady;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  double *ra = malloc(w->rows * sizeof *ra), *ca = malloc(w->rows * sizeof *ca);
  if (ra == NULL || ca == NULL) {
    free(ra);
    free(ca);
    return (void *)1;
  }
  for (int c = w->first; c < N_COLS; c += w->step) {
    if (w->steady)
      report_column_steady(&w->cols[c], ca);
    else
      report_column(&w->cols[c], ra, ca);
  }
  free(ra);
  free(ca);
  return NULL;
}

static double run_report(column *cols, size_t rows, int threads, int steady) {
  pthread_t tid[16];
  worker w[16];
  const double t0 = now_s();
  for (int t = 0; t < threads; t++) {
    w[t] = (worker){cols, t, threads, rows, steady};
    if (t > 0 && pthread_create(&tid[t], NULL, worker_main, &w[t]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(2);
    }
  }
  worker_main(&w[0]);
  for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
  return now_s() - t0;
}

static int dump_dataset(const column *cols, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.txt", dir);
  FILE *m = fopen(path, "w");
  if (m == NULL) return -1;
  for (int c = 0; c < N_COLS; c++) {
    fprintf(m, "%02d %s %d\n", c, cols[c].numeric ? "numeric" : "categorical",
            cols[c].n_cats);
    for (int side = 0; side < 2; side++) {
      snprintf(path, sizeof path, "%s/col%02d_%s.f64", dir, c, side ? "cur" : "ref");
      FILE *f = fopen(path, "wb");
      if (f == NULL) {
        fclose(m);
        return -1;
      }
      const size_t n = side ? cols[c].nc : cols[c].nr;
      size_t w = fwrite(side ? cols[c].cur : cols[c].ref, sizeof(double), n, f);
      if (fclose(f) != 0 || w != n) {
        fclose(m);
        return -1;
      }
    }
  }
  return fclose(m) == 0 ? 0 : -1;
}

/* Runs the scipy script on dir; returns its reported seconds or -1. */
static double run_scipy(const char *script, const char *dir) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, dir);
  FILE *p = popen(cmd, "r");
  if (p == NULL) return -1;
  char line[512];
  double secs = -1;
  while (fgets(line, sizeof line, p) != NULL) {
    double v;
    if (sscanf(line, "scipy_seconds %lf", &v) == 1)
      secs = v;
    else
      fputs(line, stdout);
  }
  if (pclose(p) != 0) return -1;
  return secs;
}

int main(int argc, char **argv) {
  size_t rows = 100000;
  int threads = 2, repeat = 5, compare = 0;
  const char *dump = NULL, *script = MW_BENCH_SCIPY_SCRIPT;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      rows = strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = (int)strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = (int)strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
      dump = argv[++i];
    } else if (strcmp(argv[i], "--compare") == 0) {
      compare = 1;
      if (i + 1 < argc && argv[i + 1][0] != '-') script = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--rows N] [--threads T] [--repeat R] "
                      "[--dump DIR] [--compare [SCRIPT]]\n", argv[0]);
      return 2;
    }
  }
  if (rows < 1) rows = 1;
  if (threads < 1) threads = 1;
  if (threads > 16) threads = 16;
  if (repeat < 1) repeat = 1;

  static column cols[N_COLS];
  make_dataset(cols, rows);

  /* Steady state first: its results are kept to compare with the cold
   * run's, which the table below prints. */
  double prep = now_s();
  for (int c = 0; c < N_COLS; c++)
    if (prepare_reference(&cols[c]) != 0) {
      fprintf(stderr, "out of memory\n");
      return 2;
    }
  prep = now_s() - prep;
  double sbest1 = INFINITY, sbestn = INFINITY;
  for (int r = 0; r < repeat; r++) {
    const double t1 = run_report(cols, rows, 1, 1);
    if (t1 < sbest1) sbest1 = t1;
    if (threads > 1) {
      const double tn = run_report(cols, rows, threads, 1);
      if (tn < sbestn) sbestn = tn;
    }
  }
  if (threads == 1) sbestn = sbest1;
  static mon_drift_result steady[N_COLS];
  for (int c = 0; c < N_COLS; c++) steady[c] = cols[c].result;

  double best1 = INFINITY, bestn = INFINITY;
  for (int r = 0; r < repeat; r++) {
    const double t1 = run_report(cols, rows, 1, 0);
    if (t1 < best1) best1 = t1;
    if (threads > 1) {
      const double tn = run_report(cols, rows, threads, 0);
      if (tn < bestn) bestn = tn;
    }
  }
  if (threads == 1) bestn = best1;
  for (int c = 0; c < N_COLS; c++) {
    const mon_drift_result *a = &steady[c], *b = &cols[c].result;
    if (a->score != b->score || a->ks.statistic != b->ks.statistic ||
        a->ks.pvalue != b->ks.pvalue || a->psi != b->psi ||
        a->wasserstein != b->wasserstein || a->drifted != b->drifted ||
        a->jensenshannon != b->jensenshannon) {
      fprintf(stderr, "column %d: the steady-state report differs from the cold one\n",
              c);
      return 1;
    }
  }

  int drifted = 0;
  printf("%-4s %-13s %-9s %12s %9s %s\n", "col", "method", "score", "ks_p",
         "psi", "drifted");
  for (int c = 0; c < N_COLS; c++) {
    const mon_drift_result *d = &cols[c].result;
    drifted += d->drifted;
    printf("%-4d %-13s %-9.4g %12.4g %9.4g %s%s\n", c,
           mon_stats_method_name(d->method), d->score,
           d->ks_pvalue_ok ? d->ks.pvalue : NAN, d->psi,
           d->drifted ? "yes" : "no", cols[c].rc < 0 ? " (error)" : "");
  }
  printf("dataset drift: %d/%d columns -> %s\n", drifted, N_COLS,
         mon_stats_dataset_drifted((size_t)drifted, N_COLS, 0.5) ? "yes" : "no");
  printf("columns %d, rows %zu + %zu, best of %d\n", N_COLS, rows, rows, repeat);
  printf("c_seconds_1thread %.4f\n", best1);
  printf("c_seconds %.4f (threads %d)\n", bestn, threads);
  printf("steady_prepare_seconds %.4f (the reference, once, 1 thread)\n", prep);
  printf("steady_seconds_1thread %.4f\n", sbest1);
  printf("steady_seconds %.4f (threads %d)\n", sbestn, threads);

  char tmpdir[] = "/tmp/mw_bench_XXXXXX";
  if (compare && dump == NULL) {
    if (mkdtemp(tmpdir) == NULL) {
      perror("mkdtemp");
      return 2;
    }
    dump = tmpdir;
  }
  if (dump != NULL && dump_dataset(cols, dump) != 0) {
    fprintf(stderr, "cannot write dataset to %s: %s\n", dump, strerror(errno));
    return 2;
  }
  if (compare) {
    const double secs = run_scipy(script, dump);
    if (dump == tmpdir) {
      for (int c = 0; c < N_COLS; c++)
        for (int side = 0; side < 2; side++) {
          char p[4096];
          snprintf(p, sizeof p, "%s/col%02d_%s.f64", dump, c, side ? "cur" : "ref");
          unlink(p);
        }
      char p[4096];
      snprintf(p, sizeof p, "%s/manifest.txt", dump);
      unlink(p);
      rmdir(dump);
    }
    if (secs <= 0) {
      fprintf(stderr, "scipy run failed (script %s)\n", script);
      return 2;
    }
    printf("scipy_seconds %.4f\n", secs);
    printf("ratio cold %.1fx (%d threads), %.1fx (1 thread): both sides from raw "
           "values\n",
           secs / bestn, threads, secs / best1);
    printf("ratio steady %.1fx (%d threads), %.1fx (1 thread): reference "
           "prepared once, as the service keeps it\n",
           secs / sbestn, threads, secs / sbest1);
  }
  for (int c = 0; c < N_COLS; c++) {
    free(cols[c].ref);
    free(cols[c].cur);
    free(cols[c].ref_sorted);
  }
  return 0;
}
