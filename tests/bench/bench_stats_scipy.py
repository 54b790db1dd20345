#!/usr/bin/python3
"""The drift report of bench_stats.c, computed with numpy/scipy.

Usage: bench_stats_scipy.py DIR   (DIR written by bench_stats --dump DIR)

Per numeric column: drop NaN/inf (count them), ks_2samp, wasserstein_distance
and its normalisation, mean/std (ddof 1 and 0)/min/max/5 quantiles of both
sides, 10 reference quantile bins with np.histogram counts, Evidently's PSI,
jensenshannon and the distinct-value count. Per categorical column: category
counts, PSI, jensenshannon, chisquare and the two-proportion Z test when there
are two categories. Prints "scipy_seconds S" (best of 3, data loading
excluded). Run it with /usr/bin/python3 (Debian's scipy).
"""
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial import distance

QS = [0.05, 0.25, 0.5, 0.75, 0.95]


def summary(x):
    return (len(x), np.mean(x), np.std(x, ddof=1), np.std(x), x.min(), x.max(),
            np.quantile(x, QS))


def psi(r, c):
    r = r / np.sum(r)
    c = c / np.sum(c)
    for p in (r, c):
        nz = p[p != 0]
        m = nz.min()
        np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return float(np.sum((r - c) * np.log(r / c)))


def numeric(ref, cur):
    ok_r = np.isfinite(ref)
    ok_c = np.isfinite(cur)
    missing = (len(ref) - ok_r.sum(), len(cur) - ok_c.sum())
    ref = ref[ok_r]
    cur = cur[ok_c]
    out = {"missing": missing, "ref": summary(ref), "cur": summary(cur)}
    out["ks"] = stats.ks_2samp(ref, cur)
    w = stats.wasserstein_distance(ref, cur)
    out["w"] = (w, w / max(np.std(ref), 0.001))
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
    rc = np.histogram(np.clip(ref, edges[0], edges[-1]), edges)[0].astype(float)
    cc = np.histogram(np.clip(cur, edges[0], edges[-1]), edges)[0].astype(float)
    out["psi"] = psi(rc, cc)
    out["js"] = distance.jensenshannon(rc, cc)
    out["n_values"] = len(np.unique(np.concatenate([ref, cur])))
    return out


def categorical(ref, cur):
    keys = np.union1d(ref, cur)
    rc = np.array([np.sum(ref == k) for k in keys], float)
    cc = np.array([np.sum(cur == k) for k in keys], float)
    out = {"psi": psi(rc, cc), "js": distance.jensenshannon(rc, cc)}
    r = rc + 0.5 if np.any(rc == 0) else rc
    out["chi"] = stats.chisquare(cc, r * (cc.sum() / r.sum()))
    if len(keys) == 2:
        n1, n2 = rc.sum(), cc.sum()
        p1, p2 = rc[0] / n1, cc[0] / n2
        P = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
        out["z"] = (z, 2 * stats.norm.sf(abs(z)))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench_stats_scipy.py DIR")
    d = sys.argv[1]
    cols = []
    with open(f"{d}/manifest.txt") as f:
        for line in f:
            idx, kind, _ = line.split()
            ref = np.fromfile(f"{d}/col{idx}_ref.f64", dtype=np.float64)
            cur = np.fromfile(f"{d}/col{idx}_cur.f64", dtype=np.float64)
            cols.append((kind, ref, cur))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for kind, ref, cur in cols:
            if kind == "numeric":
                numeric(ref, cur)
            else:
                categorical(ref, cur)
        best = min(best, time.perf_counter() - t0)
    print(f"scipy_seconds {best:.4f}")


if __name__ == "__main__":
    main()
