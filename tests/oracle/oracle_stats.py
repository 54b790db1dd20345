#!/usr/bin/python3
"""Oracle for monitor/stats: compares the C library with scipy/numpy.

Usage: oracle_stats.py <path to oracle_driver>

Generates datasets with numpy, writes them to a temporary directory, runs the
C driver once (all commands on its stdin) and compares every statistic with
scipy 1.10 / numpy 1.24 to 1e-9 relative (1e-12 absolute near zero). Prints a
table of the largest error per statistic and exits 1 on any mismatch.
Must run with /usr/bin/python3 (Debian's python3-scipy / python3-numpy).
"""
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance
from scipy.stats._stats_py import _attempt_exact_2kssamp

RTOL = 1e-9
ATOL = 1e-12
SEED = 20240601
PSI_BINS = 10

KS_METHOD = {1: "exact", 2: "asymp", 3: "exact_fallback"}


class Checker:
    def __init__(self):
        self.worst = {}  # stat -> (rel err, case)
        self.count = {}
        self.failures = []

    def check(self, stat, case, got, want, rtol=RTOL, atol=ATOL):
        got = float(got)
        want = float(want)
        self.count[stat] = self.count.get(stat, 0) + 1
        if not math.isfinite(got):
            self.failures.append(f"{case}: {stat} = {got} is not finite (scipy {want})")
            return
        if not math.isfinite(want):
            self.failures.append(f"{case}: {stat}: scipy gives {want}, C gives {got}")
            return
        diff = abs(got - want)
        rel = diff / abs(want) if want != 0 else (0.0 if diff == 0 else math.inf)
        ok = diff <= atol or diff <= rtol * abs(want)
        # The table reports relative errors of values that are not tiny;
        # |value| < atol is judged by the absolute tolerance only.
        shown = rel if abs(want) >= atol else 0.0
        if stat not in self.worst or shown > self.worst[stat][0]:
            self.worst[stat] = (shown, case)
        if not ok:
            self.failures.append(
                f"{case}: {stat}: C {got!r} scipy {want!r} (rel {rel:.3g})")

    def equal(self, stat, case, got, want):
        self.count[stat] = self.count.get(stat, 0) + 1
        self.worst.setdefault(stat, (0.0, case))
        if got != want:
            self.failures.append(f"{case}: {stat}: C {got!r} expected {want!r}")

    def fail(self, msg):
        self.failures.append(msg)


# ---------------------------------------------------------------------------
# Reference computations (what the C code must match)
# ---------------------------------------------------------------------------

def ref_quantiles(x, qs):
    return np.quantile(x, qs)  # numpy default method='linear'


def ref_bins(ref, cur, nbins=PSI_BINS):
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, nbins + 1)))
    if len(edges) < 2:
        return None
    rc = np.histogram(np.clip(ref, edges[0], edges[-1]), edges)[0].astype(float)
    cc = np.histogram(np.clip(cur, edges[0], edges[-1]), edges)[0].astype(float)
    return edges, rc, cc


def evidently_psi(ref_counts, cur_counts):
    """Evidently's PSI on proportions with its empty-bin epsilon."""
    r = np.asarray(ref_counts, float) / np.sum(ref_counts)
    c = np.asarray(cur_counts, float) / np.sum(cur_counts)
    for p in (r, c):
        nz = p[p != 0]
        if len(nz):
            m = min(nz)
            np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return float(np.sum((r - c) * np.log(r / c)))


def chisq_with_rule(ref_counts, cur_counts):
    """scipy.stats.chisquare with the C library's unseen-category rule."""
    ref = np.asarray(ref_counts, float)
    cur = np.asarray(cur_counts, float)
    keep = ~((ref == 0) & (cur == 0))
    ref, cur = ref[keep], cur[keep]
    pseudo = bool(np.any(ref == 0))
    if pseudo:
        ref = ref + 0.5
    f_exp = ref * (np.sum(cur) / np.sum(ref))
    res = stats.chisquare(f_obs=cur, f_exp=f_exp)
    return float(res.statistic), float(res.pvalue), len(ref) - 1, pseudo


def ztest(ref_a, ref_n, cur_a, cur_n):
    p1 = ref_a / ref_n
    p2 = cur_a / cur_n
    P = (p1 * ref_n + p2 * cur_n) / (ref_n + cur_n)
    z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / ref_n + 1.0 / cur_n))
    return float(z), float(2 * stats.norm.sf(abs(z)))


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------

def numeric_cases(rng):
    n = rng.normal
    cases = [
        ("normal_500_600", n(0, 1, 500), n(0, 1, 600)),
        ("shift_1000_1000", n(0, 1, 1000), n(0.3, 1, 1000)),
        ("scale_800_1200", n(5, 2, 800), n(5, 2.4, 1200)),
        ("cauchy_2000_1500", rng.standard_cauchy(2000), rng.standard_cauchy(1500)),
        ("t2_800_3000", rng.standard_t(2, 800), rng.standard_t(2, 3000) + 0.1),
        ("ties_r1_700_900", np.round(n(0, 1, 700), 1), np.round(n(0.1, 1, 900), 1)),
        ("ties_r0_300_350", np.round(n(0, 3, 300), 0), np.round(n(0, 3, 350), 0)),
        ("ties_same_values", np.repeat([1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 50),
         np.repeat([1.5, 2.5, 3.5, 4.5, 5.5, 6.5], [40, 45, 50, 55, 60, 70])),
        ("few_values_3", rng.integers(0, 3, 400).astype(float),
         rng.integers(0, 3, 500).astype(float)),
        ("few_values_2", rng.integers(0, 2, 900).astype(float),
         (rng.random(700) < 0.6).astype(float)),
        ("few_values_5_big", rng.integers(0, 5, 3000).astype(float),
         rng.integers(1, 6, 2000).astype(float)),
        ("exact_10000_9999", n(0, 1, 10000), n(0.02, 1, 9999)),
        ("exact_10000_10000", n(0, 1, 10000), n(0.05, 1, 10000)),
        ("exact_3000_7", n(0, 1, 3000), n(1, 1, 7)),
        ("exact_gcd_6000_4000", n(0, 1, 6000), n(0.1, 1, 4000)),
        ("asymp_20000_15000", n(0, 1, 20000), n(0, 1, 15000)),
        ("asymp_20000_15000_shift", n(0, 1, 20000), n(0.06, 1, 15000)),
        ("asymp_50000_300", n(0, 1, 50000), n(0.1, 1, 300)),
        ("asymp_12000_5", n(0, 1, 12000), n(0, 1, 5)),
        ("asymp_12000_40", n(0, 1, 12000), n(0.2, 1, 40)),
        ("asymp_11000_150", n(0, 1, 11000), n(0.0, 1.1, 150)),
        ("asymp_100k_100k_shift", n(0, 1, 100000), n(0.03, 1, 100000)),
        ("asymp_100k_100k_same", n(0, 1, 100000), n(0, 1, 100000)),
        ("asymp_ties_30000_20000", np.round(n(0, 1, 30000), 2), np.round(n(0, 1, 20000), 2)),
        ("exp_lognormal_5000_5000", rng.lognormal(0, 1, 5000), rng.lognormal(0.05, 1, 5000)),
        ("with_nan_inf", np.concatenate([n(0, 1, 400), [np.nan, np.inf, -np.inf]]),
         np.concatenate([n(0.2, 1, 300), [np.nan] * 7])),
        ("constant_ref", np.full(200, 3.0), n(3, 1, 300)),
        ("constant_both_equal", np.full(50, 1.0), np.full(60, 1.0)),
        ("constant_both_diff", np.full(50, 1.0), np.full(60, 2.0)),
        ("huge_scale", n(0, 1e12, 600), n(1e11, 1e12, 500)),
        ("tiny_scale", n(0, 1e-9, 600), n(0, 1e-9, 500)),
        ("quality_out_of_range", n(0, 1, 1000),
         np.concatenate([n(0.5, 1.5, 800), [np.nan] * 30, [np.inf, -np.inf]])),
        ("quality_at_edges", np.array([1.0, 2.0, 3.0, 4.0]),
         np.array([1.0, 4.0, 0.999, 4.001, 2.5, -0.0, np.nan])),
        ("negzero", np.array([-0.0, 0.0, 1.0, -1.0, 2.0, 0.0, 3.0]), np.array([0.0, -0.0, 5.0, 6.0])),
    ]
    # Large enough for several levels of the in-place MSD radix sort
    # (monitor/stats.c: 8-bit digits, insertion sort below 48 keys), with
    # many ties, both signs, zeros of both signs, subnormals, and values that
    # differ only in their lowest mantissa bits.
    lowbits = 1.0 + np.arange(5000) * np.finfo(float).eps
    cases += [
        ("radix_ties_200k_150k", np.round(n(0, 1, 200000), 1),
         np.round(n(0.05, 1, 150000), 1)),
        ("radix_heavy_ties_120k", rng.integers(-40, 40, 120000) * 0.25,
         rng.integers(-38, 42, 90000) * 0.25),
        ("radix_lowbits", rng.permutation(np.repeat(lowbits, 3)),
         rng.permutation(lowbits[::2] + 2 * np.finfo(float).eps)),
        ("radix_mixed_range", np.concatenate([n(0, 1, 30000), rng.lognormal(0, 8, 30000),
                                              -rng.lognormal(0, 8, 30000),
                                              np.full(500, -0.0), np.full(500, 0.0),
                                              np.full(200, 5e-324)]),
         np.concatenate([n(0.1, 1, 20000), rng.lognormal(0, 8, 20000)])),
    ]
    # One sample much larger than the other (monitor/stats_ks.c merges
    # those by runs): ties within and across the samples, zeros of both
    # signs, runs longer than a chunk of the merge (256 values).
    cases += [
        ("runs_400_60000_ties", np.round(n(0, 1, 400), 1), np.round(n(0.1, 1, 60000), 1)),
        ("runs_negzero", np.concatenate([np.full(30, -0.0), np.full(30, 0.0), n(0, 1, 40)]),
         np.concatenate([np.full(3000, 0.0), np.full(3000, -0.0), n(0, 1, 4000)])),
        ("runs_70000_3", rng.integers(0, 50, 70000) * 0.5, np.array([1.0, 1.0, 7.5])),
        ("runs_disjoint", n(0, 1, 50), n(100, 1, 5000)),
    ]
    # Tiny samples, every size pair 1..5 (exact path, including the n1 == n2
    # square formula).
    for a in range(1, 6):
        for b in range(1, 6):
            cases.append((f"tiny_{a}_{b}", np.round(n(0, 1, a), 1), np.round(n(0.3, 1, b), 1)))
    # Shifted pairs of assorted sizes for the exact recursion.
    for a, b, s in [(37, 53, 0.4), (100, 101, 0.2), (250, 125, 0.3), (999, 1000, 0.1),
                    (64, 48, 0.0), (1, 200, 0.0), (2, 9000, 0.5), (3, 3, 5.0)]:
        cases.append((f"exact_{a}_{b}_{s}", n(0, 1, a), n(s, 1, b)))
    return cases


def count_cases(rng):
    return [
        ("cat_basic", [120, 340, 55, 20, 465], [100, 300, 90, 10, 500]),
        ("cat_unseen", [500, 300, 200, 0], [450, 320, 180, 50]),
        ("cat_unseen_two", [0, 800, 200, 0, 5], [3, 700, 250, 40, 7]),
        ("cat_missing_in_cur", [100, 200, 300, 400], [0, 250, 350, 400]),
        ("cat_both_zero_entry", [100, 0, 300, 400], [80, 0, 320, 390]),
        ("cat_two", [600, 400], [550, 450]),
        ("cat_two_strong", [900, 100], [500, 500]),
        ("cat_two_unseen", [1000, 0], [990, 10]),
        ("cat_many", list(rng.integers(0, 1000, 40)), list(rng.integers(0, 1000, 40))),
        ("cat_identical", [10, 20, 30], [10, 20, 30]),
        ("cat_big_counts", [5_000_000, 3_000_000, 2_000_000], [4_900_000, 3_100_000, 2_050_000]),
        ("cat_tiny_props", [1_000_000, 1, 3, 0], [999_990, 0, 8, 2]),
        ("cat_huge_shift", [1000, 1000, 1000], [2900, 50, 50]),
    ]


def sort_cases(rng):
    """Arrays for mon_stats_sort alone: the result must be numpy's order of
    the IEEE-754 keys (so -0.0 before +0.0), bit for bit."""
    n = rng.normal
    return [
        ("sort_normal_300k", n(0, 1, 300000)),
        ("sort_ties_300k", np.round(n(0, 3, 300000), 0)),
        ("sort_one_value", np.full(100000, 2.5)),
        ("sort_two_values_zeros", rng.permutation(np.concatenate(
            [np.full(70000, -0.0), np.full(50000, 0.0)]))),
        ("sort_subnormal", rng.integers(1, 1000, 50000) * 5e-324),
        ("sort_wide", np.concatenate([rng.lognormal(0, 30, 60000), -rng.lognormal(0, 30, 60000),
                                      rng.integers(-3, 3, 60000).astype(float)])),
        ("sort_sorted_desc", -np.arange(200000, dtype=float)),
        ("sort_small_47", n(0, 1, 47)),
        ("sort_small_49", np.round(n(0, 1, 49))),
        ("sort_empty", np.array([], dtype=float)),
    ]


def key_sorted(x):
    """x sorted by mon_stats_sort_key: the sign-flipped IEEE-754 bits."""
    u = np.asarray(x, dtype="<f8").view("<u8")
    neg = (u >> np.uint64(63)) == 1
    k = np.where(neg, ~u, u | np.uint64(1 << 63))
    return np.asarray(x, dtype="<f8")[np.argsort(k, kind="stable")]


def spearman_cases(rng):
    """Pairs for mon_stats_spearman: continuous, ties on one or both sides
    (rankdata's average ranks), -0.0 next to 0.0, monotone, constant sides
    and fewer than two pairs (scipy: NaN, the C library: insufficient)."""
    n = rng.normal
    x = n(0, 1, 2000)
    cases = [
        ("sp_normal_500", n(0, 1, 500), n(0, 1, 500)),
        ("sp_linear_noise_2000", x, 0.5 * x + n(0, 1, 2000)),
        ("sp_negative_1500", x[:1500], -np.exp(x[:1500]) + n(0, 0.1, 1500)),
        ("sp_ties_x_800", np.round(n(0, 1, 800), 1), n(0, 1, 800)),
        ("sp_ties_both_1200", rng.integers(0, 5, 1200).astype(float),
         rng.integers(0, 3, 1200).astype(float)),
        ("sp_ties_related_1000", np.round(x[:1000] * 2) / 2,
         np.round(x[:1000] + n(0, 0.5, 1000))),
        ("sp_binary_400", rng.integers(0, 2, 400).astype(float),
         (rng.random(400) < 0.3).astype(float)),
        ("sp_negzero", np.array([-0.0, 0.0, 1.0, -1.0, 0.0, 2.0, -0.0]),
         np.array([3.0, 1.0, 2.0, 0.0, 1.0, 5.0, 4.0])),
        ("sp_monotone", np.arange(50.0), np.arange(50.0) ** 3),
        ("sp_two", np.array([1.0, 2.0]), np.array([5.0, 3.0])),
        ("sp_huge_scale", n(0, 1e300, 300), n(0, 1e-300, 300)),
        ("sp_big_100k", n(0, 1, 100000), n(0, 1, 100000)),
        ("sp_big_ties_200k", rng.integers(0, 100, 200000).astype(float),
         rng.integers(0, 7, 200000).astype(float)),
        ("sp_constant_x", np.full(30, 2.0), n(0, 1, 30)),
        ("sp_constant_y", n(0, 1, 30), np.full(30, -1.0)),
        ("sp_one", np.array([1.0]), np.array([2.0])),
    ]
    return cases


def kstwo_grid():
    grid = []
    ns = [1, 2, 3, 4, 5, 7, 10, 25, 60, 100, 139, 140, 141, 200, 500, 1000,
          3000, 10000, 50000, 99999, 100000, 100001, 250000, 1000000, 1500000]
    for n in ns:
        ds = set()
        # scipy's own smirnov costs ~1.5 s per call at n = 1e6: keep the
        # largest sizes to a few points so the oracle stays well under 60 s.
        cs = [0.05, 0.2, 0.5, 0.754, 0.76, 1.0, 1.5, 2.1, 2.3, 3.9, 4.1, 10.0,
              50.0, 200.0, 360.0, 369.0]
        if n >= 200000:
            cs = [0.5, 2.3, 50.0] if n < 1000000 else [2.3]
        for c in cs:
            d = math.sqrt(c / n)
            if d < 1:
                ds.add(d)
        for t in [0.4, 0.5, 0.51, 0.75, 0.99, 1.0, 1.01, 1.5, 2.5]:
            ds.add(t / n)
        for d in [0.5, 0.6, 0.9, 1 - 1.0 / n, 1 - 0.5 / n, 0.999999]:
            if 0 < d < 1:
                ds.add(d)
        for d in [(1.4 / n) ** (2.0 / 3.0) * f for f in (0.5, 0.99, 1.01)]:
            if d < 1:
                ds.add(d)
        for d in sorted(ds):
            grid.append((n, d))
    return grid


def kspval_grid(rng):
    grid = []
    for _ in range(250):
        n1 = int(rng.integers(1, 400))
        n2 = int(rng.integers(1, 400))
        if rng.random() < 0.2:
            n2 = n1
        g = math.gcd(n1, n2)
        lcm = n1 // g * n2
        h = int(rng.integers(0, lcm + 1))
        d = h / lcm * (1 + rng.normal(0, 1e-13))
        grid.append((n1, n2, min(max(d, 0.0), 1.0)))
    for n1, n2 in [(10000, 9999), (10000, 10000), (7000, 3000), (9973, 10000)]:
        for d in [0.002, 0.01, 0.03, 0.2]:
            grid.append((n1, n2, d))
    for n1, n2 in [(1, 1), (2, 2), (50, 50), (400, 400), (10, 20)]:
        lcm = n1 * n2 // math.gcd(n1, n2)
        for h in range(1, min(lcm, 5) + 1):  # h small: 2P may round above 1
            grid.append((n1, n2, h / lcm))
    return grid


def scipy_ks_pvalue(n1, n2, d):
    """ks_2samp's p-value for a given raw statistic (method='auto')."""
    if max(n1, n2) <= 10000:
        g = math.gcd(n1, n2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok, d2, p = _attempt_exact_2kssamp(n1, n2, g, d, "two-sided")
        if ok:
            return float(np.clip(p, 0, 1)), d2, 1
        d = d2
        mode = 3
    else:
        mode = 2
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = stats.kstwo.sf(d, np.round(en))
    return float(np.clip(p, 0, 1)), d, mode


# ---------------------------------------------------------------------------
# Driver I/O
# ---------------------------------------------------------------------------

def run_driver(driver, commands):
    out = subprocess.run([driver], input="\n".join(commands) + "\n",
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
    blocks = {}
    cur = None
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[0] == "begin":
            cur = {}
            blocks[parts[1]] = cur
        elif parts[0] == "end":
            cur = None
        elif cur is not None:
            cur[parts[0]] = float(parts[1])
    return blocks, out.returncode


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: oracle_stats.py <oracle_driver>")
    driver = sys.argv[1]
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    chk = Checker()
    print(f"scipy {scipy.__version__}, numpy {np.__version__}")

    with tempfile.TemporaryDirectory(prefix="mw_oracle_") as tmp:
        commands = []
        num = numeric_cases(rng)
        for name, ref, cur in num:
            rp = os.path.join(tmp, name + "_ref.f64")
            cp = os.path.join(tmp, name + "_cur.f64")
            np.asarray(ref, dtype="<f8").tofile(rp)
            np.asarray(cur, dtype="<f8").tofile(cp)
            commands.append(f"numeric {name} {rp} {cp}")
        cnt = count_cases(rng)
        for name, ref, cur in cnt:
            rp = os.path.join(tmp, name + "_ref.f64")
            cp = os.path.join(tmp, name + "_cur.f64")
            np.asarray(ref, dtype="<f8").tofile(rp)
            np.asarray(cur, dtype="<f8").tofile(cp)
            commands.append(f"counts {name} {rp} {cp}")
        kg = kstwo_grid()
        for i, (n, d) in enumerate(kg):
            commands.append(f"kstwo kstwo_{i} {n} {d!r}")
        pg = kspval_grid(rng)
        for i, (n1, n2, d) in enumerate(pg):
            commands.append(f"kspval kspval_{i} {n1} {n2} {d!r}")
        sp = spearman_cases(rng)
        for name, x, y in sp:
            xp = os.path.join(tmp, name + "_x.f64")
            yp = os.path.join(tmp, name + "_y.f64")
            np.asarray(x, dtype="<f8").tofile(xp)
            np.asarray(y, dtype="<f8").tofile(yp)
            commands.append(f"spearman {name} {xp} {yp}")
        so = sort_cases(rng)
        for name, x in so:
            xp = os.path.join(tmp, name + "_in.f64")
            np.asarray(x, dtype="<f8").tofile(xp)
            commands.append(f"sort {name} {xp} {os.path.join(tmp, name + '_out.f64')}")
        tc = time.time()
        blocks, rc = run_driver(driver, commands)
        t_c = time.time() - tc
        if rc != 0:
            chk.fail(f"driver exited with {rc}")

        for name, ref, cur in num:
            check_numeric(chk, name, np.asarray(ref, float), np.asarray(cur, float),
                          blocks.get(name))
        for name, ref, cur in cnt:
            check_counts(chk, name, ref, cur, blocks.get(name))
        for name, x, y in sp:
            check_spearman(chk, name, np.asarray(x, float), np.asarray(y, float),
                           blocks.get(name))
        for name, x in so:
            b = blocks.get(name)
            if b is None or "error" in b:
                chk.fail(f"{name}: driver failed")
                continue
            got = np.fromfile(os.path.join(tmp, name + "_out.f64"), dtype="<f8")
            want = key_sorted(x)
            chk.equal("sort (bits)", name, got.tobytes() == want.tobytes(), True)
            chk.equal("sort (numpy order)", name, bool(np.array_equal(got, np.sort(x))), True)
        for i, (n, d) in enumerate(kg):
            b = blocks.get(f"kstwo_{i}")
            if b is None:
                chk.fail(f"kstwo_{i}: no output")
                continue
            want = float(stats.kstwo.sf(d, n))
            chk.check("kstwo.sf", f"kstwo(n={n}, d={d:.6g})", b["sf"], want)
        for i, (n1, n2, d) in enumerate(pg):
            b = blocks.get(f"kspval_{i}")
            if b is None:
                chk.fail(f"kspval_{i}: no output")
                continue
            p, d2, mode = scipy_ks_pvalue(n1, n2, d)
            case = f"kspval({n1},{n2},{d:.6g})"
            chk.check("ks p (grid)", case, b["p"], p)
            chk.check("ks D rounded (grid)", case, b["d"], d2, rtol=0, atol=0)
            chk.equal("ks path (grid)", case, int(b["method"]), mode)

    print(f"{'statistic':<24} {'checks':>6} {'max rel err':>12}  worst case")
    for stat in sorted(chk.worst):
        rel, case = chk.worst[stat]
        print(f"{stat:<24} {chk.count[stat]:>6} {rel:>12.3g}  {case}")
    print(f"C driver time {t_c:.2f} s, total {time.time() - t0:.2f} s")
    if chk.failures:
        print(f"\n{len(chk.failures)} MISMATCHES:")
        for f in chk.failures[:60]:
            print("  " + f)
        sys.exit(1)
    print("all statistics match scipy")


def check_numeric(chk, name, ref_raw, cur_raw, b):
    if b is None or "error" in b:
        chk.fail(f"{name}: driver failed")
        return
    ref = np.sort(ref_raw[np.isfinite(ref_raw)])
    cur = np.sort(cur_raw[np.isfinite(cur_raw)])
    chk.equal("missing count", name, (b["ref_missing"], b["cur_missing"]),
              (float(len(ref_raw) - len(ref)), float(len(cur_raw) - len(cur))))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ks = stats.ks_2samp(ref, cur)
    mode = 2 if max(len(ref), len(cur)) > 10000 else 1
    chk.check("ks D", name, b["ks_d"], ks.statistic)
    chk.check("ks p", name, b["ks_p"], ks.pvalue)
    chk.check("ks location", name, b["ks_location"], ks.statistic_location, rtol=0, atol=0)
    chk.equal("ks sign", name, int(b["ks_sign"]), int(ks.statistic_sign))
    if int(b["ks_method"]) not in (mode, 3):
        chk.fail(f"{name}: ks path {KS_METHOD.get(int(b['ks_method']))} expected {mode}")

    w = stats.wasserstein_distance(ref, cur)
    chk.check("wasserstein", name, b["wasserstein"], w)
    std_pop = float(np.std(ref))
    chk.check("wasserstein norm", name, b["wasserstein_norm"], w / max(std_pop, 0.001))

    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    for side, x in (("ref", ref), ("cur", cur)):
        chk.check("mean", f"{name}/{side}", b[f"{side}_mean"], np.mean(x))
        chk.check("std ddof=1", f"{name}/{side}", b[f"{side}_std"],
                  np.std(x, ddof=1) if len(x) > 1 else 0.0)
        chk.check("std ddof=0", f"{name}/{side}", b[f"{side}_std_pop"], np.std(x))
        chk.check("min/max", f"{name}/{side}", b[f"{side}_min"], x[0], rtol=0, atol=0)
        chk.check("min/max", f"{name}/{side}", b[f"{side}_max"], x[-1], rtol=0, atol=0)
        for i, q in enumerate(ref_quantiles(x, qs)):
            chk.check("quantile", f"{name}/{side}/q{qs[i]}", b[f"{side}_q{i}"], q)

    # Quality: missing among all rows; outside the reference's min..max
    # among the non-missing ones (numpy on the same data).
    chk.check("quality missing_share", name, b["q_missing_share"],
              np.count_nonzero(~np.isfinite(cur_raw)) / len(cur_raw) if len(cur_raw) else 0.0)
    if len(ref) and len(cur):
        oor = np.count_nonzero((cur < ref.min()) | (cur > ref.max()))
        chk.check("quality out_of_range_share", name, b["q_out_of_range_share"],
                  oor / len(cur))

    rb = ref_bins(ref, cur)
    if rb is None:
        chk.equal("psi bins available", name, b["bins_rc"], 1.0)
    else:
        edges, rc, cc = rb
        chk.equal("psi bin count", name, int(b["n_bins"]), len(edges) - 1)
        if int(b["n_bins"]) == len(edges) - 1:
            for i, e in enumerate(edges):
                chk.check("psi bin edges", f"{name}/e{i}", b[f"edge{i}"], e, rtol=0, atol=0)
            for i in range(len(rc)):
                chk.equal("bin counts", f"{name}/ref{i}", b[f"refc{i}"], rc[i])
                chk.equal("bin counts", f"{name}/cur{i}", b[f"curc{i}"], cc[i])
                chk.equal("bin counts", f"{name}/cur_unsorted{i}", b[f"curu{i}"], cc[i])
            chk.check("psi (bins)", name, b["psi"], evidently_psi(rc, cc))
            chk.check("jensenshannon (bins)", name, b["js"], distance.jensenshannon(rc, cc))

    # The all-in-one column function must agree with the pieces.
    values = np.union1d(ref, cur)
    chk.equal("n_values", name, int(b["drift_n_values"]), len(values))
    chk.check("drift W", name, b["drift_w"], w)
    if len(values) <= 5:
        rcnt = np.array([np.sum(ref == v) for v in values], float)
        ccnt = np.array([np.sum(cur == v) for v in values], float)
        chk.equal("as_categories", name, b["drift_as_categories"], 1.0)
        chk.check("psi (values)", name, b["drift_psi"], evidently_psi(rcnt, ccnt))
        chk.check("jensenshannon (values)", name, b["drift_js"],
                  distance.jensenshannon(rcnt, ccnt))
        if len(values) >= 2:
            st, p, _, _ = chisq_with_rule(rcnt, ccnt)
            chk.check("chisquare stat", name, b["drift_chi_stat"], st)
            chk.check("chisquare p", name, b["drift_chi_p"], p)
        if len(values) == 2:
            z, p = ztest(rcnt[0], rcnt.sum(), ccnt[0], ccnt.sum())
            chk.check("ztest z", name, b["drift_z"], z)
            chk.check("ztest p", name, b["drift_z_p"], p)
    else:
        chk.check("drift KS p", name, b["drift_ks_p"], ks.pvalue)
    for key in ("drift_score", "drift_psi", "drift_js", "drift_wnorm"):
        if not math.isfinite(b[key]):
            chk.fail(f"{name}: {key} not finite")


def check_spearman(chk, name, x, y, b):
    if b is None or "error" in b:
        chk.fail(f"{name}: driver failed")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns, NaN
        want = float(stats.spearmanr(x, y).statistic) if len(x) > 1 else math.nan
    if math.isnan(want):
        chk.equal("spearman undefined", name, int(b["rc"]), 1)
        chk.equal("spearman undefined", name, b["rho"], 0.0)
        return
    chk.equal("spearman rc", name, int(b["rc"]), 0)
    chk.check("spearman rho", name, b["rho"], want)


def check_counts(chk, name, ref, cur, b):
    if b is None or "error" in b:
        chk.fail(f"{name}: driver failed")
        return
    ref = np.asarray(ref, float)
    cur = np.asarray(cur, float)
    chk.check("psi (counts)", name, b["psi"], evidently_psi(ref, cur))
    chk.check("jensenshannon (counts)", name, b["js"], distance.jensenshannon(ref, cur))
    if cur.sum() > 0:
        chk.check("quality unseen_share", name, b["q_unseen_share"],
                  cur[ref <= 0].sum() / cur.sum())
        short = ref.copy()
        short[-1] = 0  # the last code unknown to the reference
        chk.check("quality unseen_share", name + "/short", b["q_unseen_short"],
                  cur[short <= 0].sum() / cur.sum())
    st, p, dof, pseudo = chisq_with_rule(ref, cur)
    chk.check("chisquare stat", name, b["chi_stat"], st)
    chk.check("chisquare p", name, b["chi_p"], p)
    chk.equal("chisquare dof", name, int(b["chi_dof"]), dof)
    chk.equal("chisquare pseudo", name, bool(b["chi_pseudo"]), pseudo)
    # Two samples (a rollout's candidate against the baseline's live
    # window): the test of homogeneity of the 2 x k table.
    keep2 = ~((ref == 0) & (cur == 0))
    if keep2.sum() >= 2 and ref.sum() > 0 and cur.sum() > 0:
        res2 = stats.chi2_contingency(np.vstack([ref[keep2], cur[keep2]]), correction=False)
        chk.check("chisquare 2-sample stat", name, b["chi2s_stat"], res2[0])
        chk.check("chisquare 2-sample p", name, b["chi2s_p"], res2[1])
        chk.equal("chisquare 2-sample dof", name, int(b["chi2s_dof"]), int(res2[2]))
    keep = ~((ref == 0) & (cur == 0))
    if keep.sum() == 2:
        r2, c2 = ref[keep], cur[keep]
        z, p = ztest(r2[0], r2.sum(), c2[0], c2.sum())
        chk.check("ztest z", name, b["z"], z)
        chk.check("ztest p", name, b["z_p"], p)


if __name__ == "__main__":
    main()
