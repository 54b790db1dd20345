#!/usr/bin/python3
"""Oracle for monitor/sketch: merged block summaries against exact answers.

Usage: oracle_sketch.py <path to oracle_sketch_driver>

For several distributions - normal, lognormal, Pareto (alpha 1.1), Cauchy,
many ties (Poisson, and 3 values), a sorted and a reversed stream, and
missing values - the C driver summarises a 200,000-row window in blocks
(1000 or 8192 rows, pruned to 256 items as ingest does, or to 32 items so
that the bound is large enough to matter) and merges them as a report does.
Checked against numpy / scipy on the same data:

  - the rank-error bound: every estimated rank (values <= x and < x) at
    probes spread over the data (every distinct value of a sample, midpoints,
    extremes) is within err of numpy's exact count;
  - the bound is as small as proven: err <= N / (2k) + B / 2 for distinct
    values, N / k + B otherwise;
  - KS: |D_sketch - scipy.stats.ks_2samp(ref, cur).statistic| <= eps, and
    scipy's p-value lies in [p(D + eps), p(D - eps)];
  - Wasserstein: |W_sketch - scipy.stats.wasserstein_distance| <=
    eps * (max - min);
  - quantiles: the returned value's exact rank brackets q * N within err.

The same checks hold for a window merged as a report merges it with
per-bucket rollups (monitor/rollup.c): buckets of 20 blocks whose
summaries are merged and pruned again (to 2048 items as compaction does,
or 64), the window starting 7 blocks into the first bucket (its other
blocks as summaries) and ending 300 rows into the last block (exact rows),
the 8 buckets between as rollups; the bound then adds floor(W / rk) per
rollup of W rows: err <= N / (2k) + B / 2 + N / rk (distinct values),
N / k + B + N / rk otherwise.

Exits 1 on any violation. Must run with /usr/bin/python3 (Debian's
python3-scipy / python3-numpy).
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import stats

SEED = 20261203
N = 200000
NREF = 20000
LEVELS = [0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1]


def cases(rng):
    def shift(x):
        return x * 1.02 + 0.05
    yield "normal", rng.normal(0, 1, NREF), shift(rng.normal(0, 1, N))
    yield "lognormal", rng.lognormal(0, 1, NREF), shift(rng.lognormal(0, 1, N))
    yield "pareto", rng.pareto(1.1, NREF) + 1, rng.pareto(1.1, N) + 1
    yield "cauchy", rng.standard_cauchy(NREF), rng.standard_cauchy(N) + 0.02
    yield "ties_poisson", rng.poisson(20, NREF).astype(float), \
        rng.poisson(20.3, N).astype(float)
    yield "ties_3", rng.integers(0, 3, NREF).astype(float), \
        rng.choice([0.0, 1.0, 2.0], N, p=[0.3, 0.3, 0.4])
    yield "sorted", rng.normal(0, 1, NREF), np.sort(rng.normal(0.01, 1, N))
    yield "reversed", rng.normal(0, 1, NREF), np.sort(rng.normal(0, 1, N))[::-1]
    cur = rng.normal(0, 1, N)
    cur[rng.random(N) < 0.05] = np.nan
    yield "missing", rng.normal(0, 1, NREF), cur


def probes_for(cur, rng):
    f = np.sort(cur[np.isfinite(cur)])
    pick = f[rng.integers(0, len(f), 3000)]
    mid = (f[:-1] + f[1:])[rng.integers(0, len(f) - 1, 1000)] / 2
    ext = np.array([f[0], f[-1], f[0] - 1, f[-1] + 1])
    return np.concatenate([pick, mid, ext, np.unique(f)[:200]])


def run_driver(driver, commands):
    out = subprocess.run([driver], input="\n".join(commands) + "\n",
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
    blocks, cur = {}, None
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[0] == "begin":
            cur = blocks[parts[1]] = {}
        elif parts[0] == "end":
            cur = None
        elif cur is not None:
            cur[parts[0]] = float(parts[1])
    return blocks, out.returncode


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: oracle_sketch.py <oracle_sketch_driver>")
    driver = sys.argv[1]
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    failures = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        commands, data = [], {}
        for name, ref, cur in cases(rng):
            ref = np.sort(ref[np.isfinite(ref)])
            pr = probes_for(cur, rng)
            paths = []
            for tag, arr in (("ref", ref), ("cur", cur), ("probes", pr)):
                p = os.path.join(tmp, f"{name}.{tag}.f64")
                np.asarray(arr, dtype="<f8").tofile(p)
                paths.append(p)
            for block, k in ((1000, 256), (8192, 256), (1000, 32), (8192, 32)):
                cid = f"{name}/b{block}/k{k}"
                commands.append(f"sketch {cid} {' '.join(paths)} {block} {k}")
                data[cid] = (ref, cur, pr, block, k, 0, None)
            per, skip, cut = 20, 7, 300
            for k, rk in ((256, 2048), (32, 64)):
                cid = f"{name}/rollup/k{k}/rk{rk}"
                commands.append(f"rollup {cid} {' '.join(paths)} 1000 {k} {per} "
                                f"{rk} {skip} {cut}")
                win = cur[skip * 1000:len(cur) - 1000 + cut]
                data[cid] = (ref, win, pr, 1000, k, rk, len(cur) // 1000 // per - 2)
        blocks, rc = run_driver(driver, commands)
        if rc != 0:
            failures.append(f"driver exited with {rc}")
        for cid, (ref, cur, pr, block, k, rk, rollups) in data.items():
            b = blocks.get(cid)
            if b is None:
                failures.append(f"{cid}: no output")
                continue
            f = np.sort(cur[np.isfinite(cur)])
            n = len(f)
            err, eps = b["err"], b["eps"]
            nblocks = -(-len(cur) // block) + (1 if rk else 0)
            # A rollup's prune adds at most floor(W / rk), W its rows.
            extra = n / rk if rk else 0

            def fail(msg):
                failures.append(f"{cid}: {msg}")
            if b["count"] != n:
                fail(f"count {b['count']} != {n}")
            distinct = len(np.unique(f)) == n
            if err > (n / (2 * k) + nblocks / 2 if distinct else n / k + nblocks) + extra:
                fail(f"err {err} above the proven bound")
            if rollups is not None and b.get("rollups") != rollups:
                fail(f"rollups {b.get('rollups')} != {rollups}")
            le = np.searchsorted(f, pr, side="right")
            lt = np.searchsorted(f, pr, side="left")
            got_le = np.array([b[f"le{i}"] for i in range(len(pr))])
            got_lt = np.array([b[f"lt{i}"] for i in range(len(pr))])
            worst = max(np.max(np.abs(got_le - le)), np.max(np.abs(got_lt - lt)))
            if worst > err:
                fail(f"rank error {worst} > err {err}")
            ks = stats.ks_2samp(ref, f)
            dks = abs(b["ks_d"] - ks.statistic)
            if dks > eps + 1e-12:
                fail(f"KS |{b['ks_d']} - {ks.statistic}| > eps {eps}")
            if not (b["ks_p_lo"] * (1 - 1e-9) - 1e-300 <= ks.pvalue
                    <= b["ks_p_hi"] * (1 + 1e-9) + 1e-300):
                fail(f"scipy p {ks.pvalue} outside [{b['ks_p_lo']}, {b['ks_p_hi']}]")
            w = stats.wasserstein_distance(ref, f)
            dw = abs(b["w1"] - w)
            if dw > b["w1_err"] * (1 + 1e-9) + 1e-9 * abs(w):
                fail(f"W1 |{b['w1']} - {w}| > {b['w1_err']}")
            for i, q in enumerate(LEVELS):
                v = b[f"q{i}"]
                r_lt = np.searchsorted(f, v, side="left")
                r_le = np.searchsorted(f, v, side="right")
                if not (r_lt - err <= q * n + 1e-9 and q * n <= r_le + err + 1e-9):
                    fail(f"quantile {q}: value {v} has ranks [{r_lt}, {r_le}], "
                         f"target {q * n}, err {err}")
            rows.append((cid, b["items"], eps, worst / n if n else 0, dks, dw,
                         b["w1_err"]))
    print(f"{'case':28} {'items':>8} {'eps':>9} {'rank err':>9} "
          f"{'|dD|':>9} {'|dW|':>10} {'W bound':>10}")
    for r in rows:
        print(f"{r[0]:28} {r[1]:8.0f} {r[2]:9.2e} {r[3]:9.2e} {r[4]:9.2e} "
              f"{r[5]:10.3e} {r[6]:10.3e}")
    print(f"total {time.time() - t0:.2f} s")
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
