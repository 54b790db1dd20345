"""Drift reports beyond the memory budget over HTTP with the real binary:
with --drift-memory-mb 1 (65,536 rows per numeric column) a 90,000-row
window is computed from the blocks' merged summaries (monitor/sketch.c).
Checked against scipy/numpy on the very rows sent: counts, missing, mean,
min and max exact; KS D within the stated d_error of scipy's ks_2samp, whose
p-value lies in the stated p_value_range; Wasserstein within its stated
error; quantiles within the rank error; quality's missing and invalid
counts exact and its out-of-range count within the stated error;
categorical counts exact. A window
that fits the budget is exact (no "approximate"). Once the leader's
compaction pass has rolled the closed buckets up (monitor/rollup.c), the
same checks hold for a report that merges the rollups, with ragged ends,
and after an erasure rewrote a block of a rolled-up bucket."""
import time

import numpy as np
from scipy import stats

from mwtest import expect, run, served

SCHEMA = {"features": [{"name": "x", "type": "numeric"},
                       {"name": "heavy", "type": "numeric"},
                       {"name": "city", "type": "categorical"}],
          "prediction": {"type": "numeric"}}


def vpath(v=1):
    return "/api/v1/models/m/versions/%d" % v


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def column(rep, name):
    return next(c for c in rep["columns"] if c["name"] == name)


def rows_of(rng, n, shift, t0=None):
    x = rng.normal(shift, 1, n)
    heavy = rng.pareto(1.2, n) + 1
    city = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    out = []
    for i in range(n):
        r = {"features": {"x": float(x[i]) if i % 101 else None,
                          "heavy": float(heavy[i]), "city": str(city[i])},
             "prediction": float(x[i] * 0.5)}
        if t0 is not None:
            r["timestamp"] = iso(t0 + i % 1000)
        out.append(r)
    return out


def check(rep, sent, ref_rows, approximate):
    for name in ("x", "heavy", "prediction"):
        col = column(rep, name)

        def vals(rows):
            v = [r["prediction"] if name == "prediction" else r["features"][name]
                 for r in rows]
            return np.array([np.nan if a is None else a for a in v], float)
        cur, ref = vals(sent), vals(ref_rows)
        missing = int(np.isnan(cur).sum())
        cur, ref = np.sort(cur[~np.isnan(cur)]), ref[~np.isnan(ref)]
        st = col["stats"]
        assert st["count"] == len(cur) and st["missing"] == missing, (name, st)
        assert abs(st["mean"] - cur.mean()) <= 1e-9 * (1 + abs(cur.mean())), st
        assert st["min"] == cur[0] and st["max"] == cur[-1], st
        ks = stats.ks_2samp(ref, cur)
        w = stats.wasserstein_distance(ref, cur)
        # Quality: missing and invalid exact, out-of-range within its error.
        q = col["quality"]
        assert q["missing_count"] == missing and q["invalid_count"] == 0, (name, q)
        assert abs(q["missing_share"] - missing / (missing + len(cur))) <= 1e-12, q
        oor = int(((cur < ref.min()) | (cur > ref.max())).sum())
        oerr = q["approximate"]["out_of_range_count_error"] if approximate else 0
        if not approximate:
            assert "approximate" not in q, q
        assert abs(q["out_of_range_count"] - oor) <= oerr, (name, q, oor)
        assert abs(q["out_of_range_share"] - oor / len(cur)) <= \
            oerr / len(cur) + 1e-12, (name, q, oor)
        if not approximate:
            assert "approximate" not in col, col
            assert abs(col["ks"]["d"] - ks.statistic) <= 1e-12, (col["ks"], ks)
            continue
        assert oerr <= 2 * col["approximate"]["rank_error"] * len(cur) + 0.5, (q, col)
        ap = col["approximate"]
        assert ap["method"] == "merged_quantile_summaries", ap
        eps = ap["rank_error"]
        assert 0 < eps <= 0.005, ap
        assert col["ks"]["d_error"] == eps
        assert abs(col["ks"]["d"] - ks.statistic) <= eps + 1e-12, (name, col["ks"], ks)
        lo, hi = col["ks"]["p_value_range"]
        assert lo * (1 - 1e-9) <= ks.pvalue <= hi * (1 + 1e-9) + 1e-300, \
            (name, col["ks"], ks.pvalue)
        assert abs(col["wasserstein"] - w) <= ap["wasserstein_error"] * (1 + 1e-9), \
            (name, col["wasserstein"], w, ap)
        n = len(cur)
        for level, v in col["stats"]["quantiles"].items():
            q = float(level)
            r_lt = np.searchsorted(cur, v, side="left")
            r_le = np.searchsorted(cur, v, side="right")
            assert r_lt - eps * n <= q * n + 1e-6 and q * n <= r_le + eps * n + 1e-6, \
                (name, level, v, r_lt, r_le, eps)
        if col.get("method") == "ks":
            assert col["statistic_error"] == eps
    # Categorical counts exact either way.
    city = column(rep, "city")
    assert "approximate" not in city
    assert city["quality"]["missing_count"] == 0, city["quality"]
    assert city["quality"]["unseen_count"] == 0, city["quality"]
    h = city["histogram"]
    for k, c in zip(h["categories"], h["current"]):
        assert c == sum(r["features"]["city"] == k for r in sent), (k, h)


def test_beyond_budget():
    rng = np.random.default_rng(17)
    with served(args=["--drift-memory-mb", "1", "--eval-interval-seconds", "0"]) as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models/m/versions", {"schema": SCHEMA}), 201)
        ref_rows = rows_of(rng, 5000, 0.0)
        expect(s.put(vpath() + "/reference", {"rows": ref_rows}), 200)
        # 90 requests of 1000 rows a few minutes back: 90 blocks.
        t0 = int(time.time() * 1000) - 20 * 60 * 1000
        sent = []
        for k in range(90):
            rows = rows_of(rng, 1000, 0.05, t0 + k * 1000)
            expect(s.post(vpath() + "/predictions", {"predictions": rows}), 200)
            sent += rows
        frm, to = iso(t0 - 60000), iso(t0 + 10 * 60 * 1000)
        rep = expect(s.get(vpath() + "/drift?from=%s&to=%s" % (frm, to)), 200)
        assert rep["window"]["count"] == 90000, rep["window"]
        check(rep, sent, ref_rows, True)
        # A window that fits the budget (the first 60 requests) is exact.
        small = iso(t0 + 60 * 1000)
        rep = expect(s.get(vpath() + "/drift?from=%s&to=%s" % (frm, small)), 200)
        assert rep["window"]["count"] == 60000, rep["window"]
        check(rep, sent[:60000], ref_rows, False)


BUCKET = 300000


def rollups_of(rep):
    return {column(rep, n)["approximate"]["rollups"] for n in ("x", "heavy", "prediction")}


def test_rollups_beyond_budget():
    rng = np.random.default_rng(23)
    with served(args=["--drift-memory-mb", "1", "--eval-interval-seconds", "0"]) as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models/m/versions", {"schema": SCHEMA}), 201)
        ref_rows = rows_of(rng, 5000, 0.0)
        expect(s.put(vpath() + "/reference", {"rows": ref_rows}), 200)
        # Three closed buckets of 20 requests of 1500 rows (blocks too big
        # for compaction to merge), half an hour back; the rows of one
        # request of the middle bucket carry ids (erased below).
        t0 = (int(time.time() * 1000) - 30 * 60 * 1000) // BUCKET * BUCKET
        sent = []  # (ts, row)
        for b in range(3):
            for k in range(20):
                ts0 = t0 + b * BUCKET + k * 2000
                rows = rows_of(rng, 1500, 0.05)
                for i, r in enumerate(rows):
                    r["timestamp"] = iso(ts0 + i)
                    if b == 1 and k == 7:
                        r["id"] = "e%d" % i
                expect(s.post(vpath() + "/predictions", {"predictions": rows}), 200)
                sent += [(ts0 + i, r) for i, r in enumerate(rows)]
        # The leader's first pass after a start (1 s in) compacts and rolls
        # the closed buckets up.
        s.stop()
        s.start()
        frm, to = t0, t0 + 3 * BUCKET
        url = vpath() + "/drift?from=%s&to=%s" % (iso(frm), iso(to))
        deadline = time.time() + 60
        while True:
            rep = expect(s.get(url), 200)
            if rollups_of(rep) == {3} or time.time() > deadline:
                break
            time.sleep(0.5)
        assert rollups_of(rep) == {3}, rep
        assert int(s.sql("SELECT count(*) FROM pred_rollups")[0][0]) == 3 * 4
        assert rep["window"]["count"] == 90000, rep["window"]
        check(rep, [r for _, r in sent], ref_rows, True)
        # Ragged ends: from inside bucket 0, to inside bucket 2: only the
        # middle bucket's rollup, the ends by block.
        frm2, to2 = t0 + 10 * 2000 + 700, t0 + 2 * BUCKET + 15 * 2000 + 300
        rep = expect(s.get(vpath() + "/drift?from=%s&to=%s" % (iso(frm2), iso(to2))),
                     200)
        inside = [r for ts, r in sent if frm2 <= ts < to2]
        assert rep["window"]["count"] == len(inside) > 65536, rep["window"]
        assert rollups_of(rep) == {1}, rep
        check(rep, inside, ref_rows, True)
        # Erasure rewrites the middle bucket's block with ids: its rollups go
        # with the old block (migration 0022's trigger), the report reads
        # that bucket by block and stays exact about what is left.
        erased = {"e%d" % i for i in range(0, 1500, 3)}
        r = expect(s.post("/api/v1/models/m/erasure", {"ids": sorted(erased)}), 200)
        assert r["predictions"] == len(erased), r
        assert int(s.sql("SELECT count(*) FROM pred_rollups WHERE bucket = ?",
                         (t0 // BUCKET + 1,))[0][0]) == 0
        left = [r for _, r in sent if r.get("id") not in erased]
        rep = expect(s.get(url), 200)
        assert rep["window"]["count"] == len(left), rep["window"]
        assert rollups_of(rep) == {2}, rep
        check(rep, left, ref_rows, True)


if __name__ == "__main__":
    run(globals())
