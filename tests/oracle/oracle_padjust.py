"""Oracle for monitor/stats_padjust.c: Bonferroni and Benjamini-Hochberg
adjusted p-values against numpy (and scipy.stats.false_discovery_control
when the installed scipy has it, 1.11 and later), on random p-value sets
of many sizes, with ties, zeros and ones, to 1e-12 absolute.

Usage: oracle_padjust.py <path to oracle_padjust>"""
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    from scipy.stats import false_discovery_control
except ImportError:  # scipy < 1.11 (Debian 12 ships 1.10)
    false_discovery_control = None


def bh_numpy(p):
    """Benjamini-Hochberg step-up, as R's p.adjust(p, "BH")."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def bonferroni_numpy(p):
    p = np.asarray(p, dtype=float)
    return np.minimum(p * len(p), 1.0)


def cases(rng):
    for m in (1, 2, 3, 5, 10, 37, 100, 1000):
        yield "uniform_%d" % m, rng.uniform(0, 1, m)
        yield "small_%d" % m, rng.uniform(0, 0.05, m) ** 2
        mixed = np.concatenate([rng.uniform(0, 1e-4, m // 3 + 1),
                                rng.uniform(0, 1, m)])
        yield "mixed_%d" % m, rng.permutation(mixed)
        ties = np.round(rng.uniform(0, 0.2, m), 2)
        yield "ties_%d" % m, ties
    yield "edges", np.array([0.0, 1.0, 0.0, 0.5, 1.0])
    yield "empty", np.array([])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: oracle_padjust.py <oracle_padjust>")
    rng = np.random.default_rng(20261203)
    tmp = tempfile.mkdtemp(prefix="mw-padjust-")
    commands, want = [], {}
    for name, p in cases(rng):
        path = os.path.join(tmp, name + ".f64")
        p.astype("<f8").tofile(path)
        for kind, fn in (("bh", bh_numpy), ("bonferroni", bonferroni_numpy),
                         ("none", lambda x: x)):
            cid = "%s.%s" % (name, kind)
            commands.append("%s %s %s" % (cid, kind, path))
            want[cid] = np.asarray(fn(p), dtype=float)
            if kind == "bh" and false_discovery_control is not None and len(p):
                sp = false_discovery_control(p, method="bh")
                assert np.allclose(sp, want[cid], rtol=0, atol=1e-12), (cid, sp)
    out = subprocess.run([sys.argv[1]], input="\n".join(commands) + "\n",
                         capture_output=True, text=True, check=True).stdout
    got, cur, failures = {}, None, []
    for line in out.splitlines():
        if line.startswith("begin "):
            cur = line.split()[1]
            got[cur] = []
        elif line.startswith("end "):
            cur = None
        elif line.startswith("fail "):
            failures.append(line.split()[1])
        elif cur is not None:
            got[cur].append(float(line))
    bad = list(failures)
    for cid, w in want.items():
        g = np.array(got.get(cid, []))
        if g.shape != w.shape or not np.allclose(g, w, rtol=0, atol=1e-12):
            bad.append(cid)
    print("padjust: %d cases, scipy false_discovery_control %s" %
          (len(want), "also checked" if false_discovery_control else
           "not available (numpy implementation only)"))
    if bad:
        print("FAILED:", ", ".join(bad[:20]))
        sys.exit(1)
    print("all adjusted p-values within 1e-12")


if __name__ == "__main__":
    main()
