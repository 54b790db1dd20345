/* monitor/stats.h - drift statistics for the monitor subsystem.
 *
 * A pure computational library: no I/O, no allocation that outlives a call
 * (except where a function says so), no global state, safe to call from many
 * threads at once. Every statistic is checked against scipy 1.10.1 / numpy
 * 1.24 by tests/oracle/ (docs/drift.md has the method table).
 *
 * Conventions used by every function below:
 *  - "sorted" arrays are ascending and hold finite values only (no NaN or
 *    +-inf); use mon_stats_filter_finite() and mon_stats_sort() first.
 *  - Input arrays are borrowed: read during the call, never kept.
 *  - Return value: MON_STATS_OK (0), MON_STATS_INSUFFICIENT (> 0: not an
 *    error, the statistic is not available for this data and the outputs are
 *    set to neutral finite values with their `available` flag false), or a
 *    negative error (MON_STATS_EINVAL, MON_STATS_ENOMEM) in which case the
 *    outputs are zeroed.
 *  - Outputs are never NaN or +-inf.
 *  - GSL is only used through its error-returning (_e) entry points, so the
 *    GSL error handler is never invoked from here.
 */
#ifndef MW_MONITOR_STATS_H
#define MW_MONITOR_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Status codes                                                            */
/* ---------------------------------------------------------------------- */

enum mon_stats_status {
  MON_STATS_OK = 0,
  /* Not enough data for this statistic (empty input, a single category,
   * constant reference for quantile bins...). Not an error. */
  MON_STATS_INSUFFICIENT = 1,
  /* Bad arguments: NULL pointer with a non-zero length, NaN/inf in a
   * "finite" array, negative counts, zero bins... */
  MON_STATS_EINVAL = -1,
  /* A scratch allocation failed. */
  MON_STATS_ENOMEM = -2,
};

/* Returns a static, human-readable description of a status code above
 * (unknown codes get "unknown status"). Never NULL. */
const char *mon_stats_strerror(int status);

/* ---------------------------------------------------------------------- */
/* Preparing columns                                                       */
/* ---------------------------------------------------------------------- */

/* Copies the finite values of in[0..n) to out (order kept) and counts the
 * rest. `out` must hold n doubles and may alias `in` (in-place compaction).
 * *n_out receives the number of finite values; *n_missing (may be NULL) the
 * number of NaN and +-inf values, which count as missing (docs/drift.md).
 * Returns MON_STATS_EINVAL if in/out/n_out is NULL (with n > 0). */
int mon_stats_filter_finite(const double *in, size_t n, double *out, size_t *n_out,
                            size_t *n_missing);

/* Sorts x[0..n) ascending in place, by the IEEE-754 bit pattern (-0.0
 * before +0.0, which every function here treats as equal; digits shared
 * by all values are skipped). x must be finite. Up to
 * MON_STATS_SORT_LSD_MAX values: an LSD radix sort with a scratch of n
 * values (mon_stats_sort_scratch), ~15-25 ns per value at 100k; above,
 * or when that scratch cannot be had: an in-place MSD radix sort whose
 * buckets of up to 2^19 values are finished by the LSD sort in a 4 MiB
 * scratch, ~20 ns per value (10M: ~0.2 s of CPU). Returns MON_STATS_EINVAL if x is NULL with n > 0; never
 * fails otherwise. */
#define MON_STATS_SORT_LSD_MAX ((size_t)1 << 21)
/* The doubles of scratch mon_stats_sort(x, n) allocates (and frees). */
size_t mon_stats_sort_scratch(size_t n);
int mon_stats_sort(double *x, size_t n);

/* The key mon_stats_sort orders by (the IEEE-754 bit pattern made
 * monotone): a < b as keys exactly when a sorts before b, so code that
 * merges sorted arrays keeps the very order a full sort gives, down to
 * -0.0 before +0.0. */
static inline uint64_t mon_stats_sort_key(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return (u >> 63) ? ~u : (u | UINT64_C(0x8000000000000000));
}

/* ---------------------------------------------------------------------- */
/* Summary statistics                                                      */
/* ---------------------------------------------------------------------- */

#define MON_STATS_NQUANTILES 5
/* The quantile levels reported in mon_summary.q: 0.05 0.25 0.5 0.75 0.95. */
extern const double mon_stats_quantile_levels[MON_STATS_NQUANTILES];

typedef struct mon_summary {
  size_t count;
  double mean;
  double std;     /* sample standard deviation (ddof = 1), as pandas describe */
  double std_pop; /* population standard deviation (ddof = 0), as numpy std */
  double min;
  double max;
  double q[MON_STATS_NQUANTILES]; /* numpy 'linear' quantiles at the levels */
  bool available;                 /* count >= 1 */
  bool std_available;             /* count >= 2 (std is 0 otherwise) */
} mon_summary;

/* Summarises a sorted column. mean and std follow numpy bit for bit
 * (pairwise summation, two-pass variance). n == 0 returns
 * MON_STATS_INSUFFICIENT with everything zero. */
int mon_stats_summary_sorted(const double *x, size_t n, mon_summary *out);

/* numpy.quantile(x, p) (method 'linear') of a sorted array, p in [0, 1]
 * (clamped). Same virtual index and lerp as numpy, so a quantile that falls
 * between two equal values returns that value exactly (GSL's
 * gsl_stats_quantile_from_sorted_data computes (1-d)*a + d*a there, which can
 * be off by an ulp and move a PSI bin edge). Returns 0.0 when n == 0. */
double mon_stats_quantile_sorted(const double *x, size_t n, double p);

/* ---------------------------------------------------------------------- */
/* Two-sample Kolmogorov-Smirnov                                           */
/* ---------------------------------------------------------------------- */

typedef enum mon_ks_method {
  MON_KS_NONE = 0,       /* p-value not computed */
  MON_KS_EXACT,          /* lattice-path counting, max(n1, n2) <= 10000 */
  MON_KS_ASYMP,          /* kstwo.sf(D, round(n1*n2/(n1+n2))) */
  MON_KS_EXACT_FALLBACK, /* exact path gave a value outside [0, 1]; scipy
                              then falls back to kstwo, so do we */
} mon_ks_method;

typedef struct mon_ks_result {
  /* D as scipy.stats.ks_2samp reports it. When the exact p-value is
   * computed scipy replaces D by round(D*lcm)/lcm; so does
   * mon_stats_ks_2samp (mon_stats_ks_statistic returns the raw D). */
  double statistic;
  double pvalue;   /* two-sided; 1.0 when not computed */
  double location; /* scipy's statistic_location */
  int sign;        /* scipy's statistic_sign: +1 if F_a - F_b is the max */
  mon_ks_method method;
} mon_ks_result;

/* The KS statistic of two sorted samples in one merge pass: CDFs are
 * evaluated after all values equal to x (scipy's searchsorted 'right'), and
 * location/sign follow scipy's argmax rule. pvalue = 1, method = NONE.
 * Returns MON_STATS_INSUFFICIENT (D = 0) if either sample is empty. */
int mon_stats_ks_statistic(const double *a, size_t na, const double *b, size_t nb,
                           mon_ks_result *out);

/* scipy.stats.ks_2samp(a, b) (two-sided, method='auto') on sorted samples:
 * the statistic above plus its p-value from mon_stats_ks_pvalue().
 * Returns MON_STATS_ENOMEM if the exact path's scratch allocation fails. */
int mon_stats_ks_2samp(const double *a, size_t na, const double *b, size_t nb,
                       mon_ks_result *out);

/* The two-sided p-value of ks_2samp for a raw statistic d in [0, 1] and
 * sample sizes n1, n2 >= 1: exact (Hodges' lattice paths, scipy's
 * _compute_prob_outside_square for n1 == n2 and Viehmann's recursion as in
 * scipy's _compute_outer_prob_inside_method otherwise) when
 * max(n1, n2) <= 10000, else kstwo.sf(d, round(n1*n2/(n1+n2))).
 * *d_reported (may be NULL) receives the statistic scipy reports (rounded to
 * h/lcm on the exact path); *method (may be NULL) the path taken.
 * On bad arguments or allocation failure returns 1.0 and sets *method to
 * MON_KS_NONE. Cost of the exact path: O(n) when n1 == n2, else
 * O(max(n1,n2) * d * min(n1,n2)) (10000 x 9999: ~6 ms at d = 0.01, ~0.1 s
 * at d = 0.2, about twice as fast as scipy's compiled kernel); the kstwo
 * path takes microseconds. */
double mon_stats_ks_pvalue(size_t n1, size_t n2, double d, double *d_reported,
                           mon_ks_method *method);

/* scipy.stats.kstwo.sf(d, n): survival function of the two-sided one-sample
 * Kolmogorov statistic D_n, computed as scipy's kolmogn does (Simard &
 * L'Ecuyer 2011: Ruben-Gambino tails, Marsaglia-Tsang-Wang matrix power,
 * Pomeranz recursion, Pelz-Good series, 2 * Smirnov one-sided). n >= 1.
 * Returns a value in [0, 1]; 1.0 on bad arguments. */
double mon_stats_kstwo_sf(double d, long n);

/* ---------------------------------------------------------------------- */
/* Wasserstein-1                                                           */
/* ---------------------------------------------------------------------- */

/* scipy.stats.wasserstein_distance(a, b) of two sorted samples:
 * sum over the pooled sorted values of |F_a - F_b| * dx, in one merge pass,
 * summed in numpy's pairwise order as the terms are produced (no buffer), so
 * it matches scipy bit for bit. No allocation. Returns
 * MON_STATS_INSUFFICIENT (0.0) if either sample is empty, or if values near
 * +-DBL_MAX make the distance overflow. */
int mon_stats_wasserstein(const double *a, size_t na, const double *b, size_t nb,
                          double *out);

/* w / max(ref_std_pop, 0.001): Evidently's normalised Wasserstein, where
 * ref_std_pop is the reference's population std (ddof = 0). */
double mon_stats_wasserstein_normed(double w, double ref_std_pop);

/* ---------------------------------------------------------------------- */
/* Reference bins (stored with a reference) and per-bin counts             */
/* ---------------------------------------------------------------------- */

#define MON_STATS_MAX_BINS 100
#define MON_STATS_DEFAULT_BINS 10

/* Quantile bins of a numeric reference. Plain data (no pointers): it can be
 * copied, stored as a blob and reloaded. Bin i is [edges[i], edges[i+1]);
 * the last bin is closed and also takes values above the reference max, the
 * first bin takes values below the reference min. */
typedef struct mon_bins {
  size_t n_bins;                         /* >= 1 when usable */
  double edges[MON_STATS_MAX_BINS + 1];  /* strictly increasing */
  double ref_counts[MON_STATS_MAX_BINS]; /* reference values per bin */
  double ref_total;                      /* sum of ref_counts */
} mon_bins;

/* Builds bins from a sorted reference: edges =
 * numpy.unique(numpy.quantile(ref, numpy.linspace(0, 1, n_bins + 1))), then
 * counts the reference into them. n_bins in [1, MON_STATS_MAX_BINS] (0 means
 * MON_STATS_DEFAULT_BINS). Returns MON_STATS_INSUFFICIENT (n_bins = 0) when
 * the reference is empty or constant (a single distinct edge): such a column
 * has <= 5 distinct values and is compared by category counts instead. */
int mon_stats_bins_from_sorted(const double *ref, size_t n, size_t n_bins,
                               mon_bins *out);

/* Index of the bin that holds x (x finite): values below edges[0] go to bin
 * 0, values >= edges[n_bins-1] (including x == max and above) to the last
 * bin. Returns 0 for an unusable mon_bins. */
size_t mon_stats_bins_index(const mon_bins *bins, double x);

/* Adds the bin counts of x[0..n) (finite, any order) to counts[0..n_bins):
 * counts accumulate, so windows can be merged by calling again or by adding
 * count arrays. O(n log n_bins). */
int mon_stats_bins_count(const mon_bins *bins, const double *x, size_t n,
                         double *counts);

/* Same as mon_stats_bins_count for a sorted x, in O(n_bins log n). */
int mon_stats_bins_count_sorted(const mon_bins *bins, const double *x, size_t n,
                                double *counts);

/* ---------------------------------------------------------------------- */
/* Statistics on counts (bins or categories)                               */
/* ---------------------------------------------------------------------- */
/* The count arrays below are aligned: entry i of ref and cur is the same bin
 * or category. Counts are doubles >= 0 (integers as doubles are exact up to
 * 2^53) so merged or weighted windows can be passed directly. */

/* Population Stability Index, Evidently's formula:
 *   r_i = ref_i / sum(ref), c_i = cur_i / sum(cur),
 *   a zero r_i (resp. c_i) is replaced by eps_ref (resp. eps_cur) where
 *   eps = min(nonzero proportions of that side) / 1e6 if that minimum is
 *   <= 1e-4, else 1e-4 (no renormalisation afterwards),
 *   psi = sum_i (r_i - c_i) * ln(r_i / c_i).
 * Returns MON_STATS_INSUFFICIENT (0.0) if k == 0 or a side sums to 0. */
int mon_stats_psi(const double *ref, const double *cur, size_t k, double *out);

/* scipy.spatial.distance.jensenshannon(ref, cur) (natural log): both sides
 * normalised to sum 1, m = (p + q) / 2,
 * sqrt((KL(p || m) + KL(q || m)) / 2). A tiny negative rounding residue under
 * the square root gives 0 (scipy would return NaN). Result in [0, sqrt(ln 2)].
 * Returns MON_STATS_INSUFFICIENT (0.0) if k == 0 or a side sums to 0. */
int mon_stats_jensenshannon(const double *ref, const double *cur, size_t k,
                            double *out);

typedef struct mon_test_result {
  double statistic; /* finite; 0 when not available */
  double pvalue;    /* in [0, 1]; 1 when not available */
  double dof;       /* degrees of freedom (chi-squared); 0 otherwise */
  bool available;
  bool pseudo_counts; /* chi-squared: reference pseudo-counts were added */
} mon_test_result;

/* Pearson chi-squared goodness of fit of cur against ref, as
 *   scipy.stats.chisquare(f_obs=cur, f_exp=ref * (sum(cur) / sum(ref)))
 * over the union of categories (entries where ref_i == cur_i == 0 are not
 * categories and are skipped); p = gsl_cdf_chisq_Q(stat, k - 1) (via the
 * non-aborting gsl_sf_gamma_inc_*_e). Unseen-category rule: if some category
 * has ref_i == 0, every reference count gets a pseudo-count of 0.5 before
 * scaling (ref'_i = ref_i + 0.5, f_exp = ref' * (sum(cur) / sum(ref'))),
 * and out->pseudo_counts is set; the oracle checks against scipy with the
 * same adjusted expectations. Fewer than 2 categories or an empty side:
 * MON_STATS_INSUFFICIENT. */
int mon_stats_chisquare(const double *ref, const double *cur, size_t k,
                        mon_test_result *out);

/* Pearson chi-squared test of homogeneity of the 2 x k table [ref; cur],
 *   scipy.stats.chi2_contingency([ref, cur], correction=False)
 * over the union of categories: expectations row total * column total /
 * n, dof k - 1. For two samples of which neither is exact - two versions'
 * live windows - where goodness of fit against the reference's
 * proportions (mon_stats_chisquare) would take them as exact and, with
 * samples of equal size, double the statistic (measured: healthy canaries
 * flagged with p < 0.001 several times as often as the level says). No
 * pseudo-counts are needed: every column total is positive. Fewer than 2
 * categories or an empty side: MON_STATS_INSUFFICIENT. */
int mon_stats_chisquare_2sample(const double *ref, const double *cur, size_t k,
                                mon_test_result *out);

/* Two-proportion Z test (Evidently's, for a two-category column):
 *   p1 = ref_a / ref_n, p2 = cur_a / cur_n, P = (p1*ref_n + p2*cur_n) /
 *   (ref_n + cur_n), z = (p1 - p2) / sqrt(P (1 - P) (1/ref_n + 1/cur_n)),
 *   p = 2 * gsl_cdf_ugaussian_Q(|z|).
 * ref_a / cur_a count the first category, ref_n / cur_n all rows.
 * Returns MON_STATS_INSUFFICIENT (z = 0, p = 1) if a side is empty or
 * P (1 - P) == 0 (only one category seen at all). */
int mon_stats_ztest_2prop(double ref_a, double ref_n, double cur_a, double cur_n,
                          mon_test_result *out);

/* ---------------------------------------------------------------------- */
/* Method choice (Evidently defaults) and verdicts                         */
/* ---------------------------------------------------------------------- */

typedef enum mon_drift_method {
  MON_DRIFT_AUTO = 0,      /* choose with mon_stats_default_method() */
  MON_DRIFT_KS,            /* p-value, drift when p <= threshold (0.05) */
  MON_DRIFT_WASSERSTEIN,   /* normalised W1, drift when >= threshold (0.1) */
  MON_DRIFT_CHISQUARE,     /* p-value, drift when p < threshold (0.05) */
  MON_DRIFT_ZTEST,         /* p-value, drift when p < threshold (0.05) */
  MON_DRIFT_JENSENSHANNON, /* distance, drift when >= threshold (0.1) */
  MON_DRIFT_PSI,           /* index, drift when >= threshold (0.1) */
} mon_drift_method;

typedef enum mon_column_kind {
  MON_COLUMN_NUMERIC = 0,
  MON_COLUMN_CATEGORICAL,
} mon_column_kind;

/* Stable lower-case name ("ks", "wasserstein", "chisquare", "ztest",
 * "jensenshannon", "psi", "auto"); "unknown" for other values. */
const char *mon_stats_method_name(mon_drift_method method);

/* Parses a name from mon_stats_method_name(). Returns MON_STATS_EINVAL for
 * an unknown name or NULL arguments. */
int mon_stats_method_from_name(const char *name, mon_drift_method *out);

/* docs/drift.md's table: n_values = distinct values in reference and current
 * together. Numeric with > 5 distinct values: KS if n_ref <= 1000 else
 * Wasserstein; categorical or <= 5 distinct: chi-squared (> 2 values) or Z
 * (<= 2 values) if n_ref <= 1000, else Jensen-Shannon. Never returns AUTO. */
mon_drift_method mon_stats_default_method(mon_column_kind kind, size_t n_ref,
                                          size_t n_values);

/* Default threshold of a method (0.05 for p-values, 0.1 for distances and
 * PSI); 0.05 for AUTO/unknown. */
double mon_stats_default_threshold(mon_drift_method method);

/* True for KS, chi-squared and Z (score is a p-value, small = drift). */
bool mon_stats_method_is_pvalue(mon_drift_method method);

/* The per-column verdict for a method's score (see the comparison in the
 * enum above). A non-finite score or threshold never drifts. */
bool mon_stats_is_drifted(mon_drift_method method, double score, double threshold);

/* Dataset drift: n_drifted / n_columns >= share (share <= 0 or NaN means
 * 0.5). False when n_columns == 0. */
bool mon_stats_dataset_drifted(size_t n_drifted, size_t n_columns, double share);

/* ---------------------------------------------------------------------- */
/* One column, all statistics                                              */
/* ---------------------------------------------------------------------- */

/* Per-column choices; zero-initialise for the defaults. */
typedef struct mon_drift_options {
  mon_drift_method method; /* MON_DRIFT_AUTO: docs/drift.md's default */
  double threshold;        /* <= 0 or NaN: the method's default */
  size_t psi_bins;         /* 0: MON_STATS_DEFAULT_BINS (ignored if bins given) */
  /* Also compute the p-values that the chosen method does not need (KS for
   * numeric columns, chi-squared / Z for categorical ones). The KS p-value
   * is the only statistic here that can cost more than a pass over the data
   * (exact path, see mon_stats_ks_pvalue). */
  bool all_pvalues;
  /* The reference is itself a sample (another version's live window):
   * chi-squared over counts is the two-sample test of homogeneity
   * (mon_stats_chisquare_2sample). KS and Z are two-sample tests anyway. */
  bool two_sample;
} mon_drift_options;

#define MON_STATS_MAX_CATEGORICAL_VALUES 5

typedef struct mon_drift_result {
  int status;              /* MON_STATS_OK or MON_STATS_INSUFFICIENT */
  mon_drift_method method; /* method used for the verdict (never AUTO) */
  double threshold;        /* threshold used */
  double score;            /* that method's p-value or distance */
  bool drifted;
  size_t n_values;    /* distinct values (numeric: counted up to the union) */
  bool as_categories; /* numeric column with <= 5 distinct values, compared
                         by value counts (chi2/Z/JS/PSI on those counts) */

  mon_summary ref; /* numeric columns only */
  mon_summary cur;

  mon_ks_result ks; /* statistic always (numeric; scipy's rounded D once the
                       exact p-value ran); pvalue if ks_pvalue_ok */
  bool ks_ok;
  bool ks_pvalue_ok;
  double wasserstein;      /* raw W1 */
  double wasserstein_norm; /* W1 / max(ref std_pop, 0.001) */
  bool wasserstein_ok;
  double psi;
  bool psi_ok;
  double jensenshannon;
  bool jensenshannon_ok;
  mon_test_result chisquare;
  mon_test_result ztest;
} mon_drift_result;

/* All statistics of a numeric column from its two sorted, finite samples.
 * bins: the reference's stored bins (for PSI and Jensen-Shannon), or NULL to
 * build them from ref here. Computes summaries, KS statistic, Wasserstein
 * (raw and normalised), PSI, JS, the distinct count and, when the column
 * has <= 5 distinct values, chi-squared/Z over value counts (PSI and JS are
 * then over value counts too); the KS p-value when the chosen method is KS
 * or opt->all_pvalues. A chi-squared or Z override on a column with more
 * values uses the bin counts. opt may be NULL.
 * Empty ref or cur: MON_STATS_INSUFFICIENT, drifted = false. */
int mon_stats_numeric_drift(const double *ref, size_t nr, const double *cur,
                            size_t nc, const mon_bins *bins,
                            const mon_drift_options *opt, mon_drift_result *out);

/* All statistics of a categorical column from aligned category counts
 * (category i of ref and cur is the same; the caller keeps the dictionary):
 * PSI, Jensen-Shannon, chi-squared, and Z when there are exactly two
 * categories. opt may be NULL. */
int mon_stats_categorical_drift(const double *ref, const double *cur, size_t k,
                                const mon_drift_options *opt, mon_drift_result *out);

/* ---------------------------------------------------------------------- */
/* Data quality (monitor/stats_quality.c)                                  */
/* ---------------------------------------------------------------------- */

/* Values of the sorted array x[0..n) outside the closed range [lo, hi]
 * (a reference's min..max): x < lo or x > hi, found by two binary
 * searches, O(log n). lo <= hi, both finite; 0 when n == 0. As
 * numpy.count_nonzero((x < lo) | (x > hi)). */
size_t mon_stats_out_of_range_sorted(const double *x, size_t n, double lo,
                                     double hi);

/* The weight of categories seen in cur but never in ref: the sum of cur[i]
 * over the codes i < ncur with i >= nref or ref[i] <= 0 (counts by
 * category code, as a drift report keeps them). */
double mon_stats_unseen(const double *ref, size_t nref, const double *cur,
                        size_t ncur);

/* ---------------------------------------------------------------------- */
/* Rank correlation                                                        */
/* ---------------------------------------------------------------------- */

/* scipy.stats.spearmanr(x, y).statistic of n pairs (x[i], y[i]), all finite:
 * the Pearson correlation of the two samples' average ranks (ties share
 * the mean of the ranks they span, as scipy.stats.rankdata's 'average';
 * -0.0 ties with +0.0). *rho in [-1, 1]. Returns MON_STATS_INSUFFICIENT
 * (*rho = 0) when n < 2 or a side is constant (scipy: NaN), MON_STATS_EINVAL
 * for a non-finite value or NULL arrays with n > 0, MON_STATS_ENOMEM when
 * its scratch (32 bytes per pair, freed before return) cannot be had.
 * O(n log n) (monitor/stats_rank.c). */
int mon_stats_spearman(const double *x, const double *y, size_t n, double *rho);

#endif /* MW_MONITOR_STATS_H */
