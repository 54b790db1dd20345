"""Segments (issue 16 item 3) with the real binary, on SQLite and
PostgreSQL: GET .../drift?segment=<categorical column> (the top 20 values
by count in the window and "__other__", each compared with the same
segment of the reference: the numbers equal those of an ordinary report
of the segment's rows against the reference's rows of that value, and KS
equals scipy's), performance per segment (accuracy against numpy), with
?baseline=previous_window, errors for unknown and numeric columns, a
reference stored before segments existed; alert rules with a segment
(stored, validated, shown) firing on a drift that exists in one segment
only while the aggregate does not drift."""
import math
import time

import numpy as np
from scipy import stats

from mwtest import expect, run, served

SCHEMA = {"features": [{"name": "age", "type": "numeric"},
                       {"name": "region", "type": "categorical"},
                       {"name": "plan", "type": "categorical"}],
          "prediction": {"type": "categorical"}}
REGIONS = ["r%02d" % k for k in range(25)]
# Region weights: r00 heaviest, then falling; the last five are the rest.
WEIGHTS = np.array([30, 26, 24, 22, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
                    9.5, 9, 8.5, 8, 7.5, 3, 2.5, 2, 1.5, 1], float)
WEIGHTS /= WEIGHTS.sum()


def vpath(name, v):
    return "/api/v1/models/%s/versions/%s" % (name, v)


def iso(ms):
    ms = int(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def close(a, b, rel=1e-9, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def column(rep, name):
    return next(c for c in rep["columns"] if c["name"] == name)


def segment(rep, value):
    return next(s for s in rep["segments"] if s["value"] == value)


def rows(rng, n, shifted=None, shift=0.0, ts=None, ids=None):
    region = rng.choice(REGIONS, n, p=WEIGHTS)
    age = rng.normal(40, 10, n)
    plan = rng.choice(["basic", "pro"], n, p=[0.7, 0.3])
    out = []
    for i in range(n):
        a = float(age[i] + (shift if region[i] == shifted else 0.0))
        r = {"features": {"age": a, "region": str(region[i]), "plan": str(plan[i])},
             "prediction": "yes" if a > 40 else "no"}
        if ts is not None:
            r["timestamp"] = iso(ts + i)
        if ids is not None:
            r["id"] = ids[i]
        out.append(r)
    return out


def post(s, name, v, batch):
    for k in range(0, len(batch), 5000):
        expect(s.post(vpath(name, v) + "/predictions",
                      {"predictions": batch[k:k + 5000]}), 200)


def ref_rows(batch):
    return [{"features": r["features"], "prediction": r["prediction"]} for r in batch]


def same(a, b):
    """Equal JSON, numbers to 1e-12 relative (a sum in another category
    order may differ in the last bit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            close(a, b, 1e-12)
    return a == b


def strip(col):
    """A column without its histogram (categories are listed by value),
    with the Z statistic's sign dropped (which of two categories counts as
    the first follows each version's own dictionary order), and without
    the quality's invalid_count (a report's columns count quarantined rows,
    a segment's do not: they are not split by segment)."""
    col = dict(col)
    col.pop("histogram", None)
    if "quality" in col:
        col["quality"] = {k: v for k, v in col["quality"].items() if k != "invalid_count"}
    if "z" in col:
        col["z"] = dict(col["z"], statistic=abs(col["z"]["statistic"]))
        if col.get("method") == "z":
            col["statistic"] = abs(col["statistic"])
    return col


def test_segments_against_reports_and_scipy():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        for _ in range(2):
            expect(s.post("/api/v1/models/m/versions", {"schema": SCHEMA}), 201)
        rng = np.random.default_rng(7)
        ref = rows(rng, 3000)
        expect(s.put(vpath("m", 1) + "/reference", {"rows": ref_rows(ref)}), 200)
        ids = ["p%d" % i for i in range(1500)]
        win = rows(rng, 1500, shifted="r03", shift=15.0, ids=ids)
        post(s, "m", 1, win)
        # Labels for two thirds of the rows: wrong for r01, right elsewhere.
        labels = []
        for i, r in enumerate(win[:1000]):
            p = r["prediction"]
            wrong = r["features"]["region"] == "r01"
            labels.append({"id": ids[i], "label": ("no" if p == "yes" else "yes")
                           if wrong else p})
        expect(s.post(vpath("m", 1) + "/labels", {"labels": labels}), 200)
        now = time.time() * 1000
        q = "/drift?from=%s&to=%s" % (iso(now - 3600 * 1000), iso(now + 1000))
        agg = expect(s.get(vpath("m", 1) + q), 200)
        rep = expect(s.get(vpath("m", 1) + q + "&segment=region"), 200)
        assert rep["segment"] == {"column": "region", "top": 20,
                                  "baseline": "reference"}, rep["segment"]
        # The whole window's report is unchanged beside the segments.
        for x in (agg, rep):
            x.pop("elapsed_ms")
        whole = {k: v for k, v in rep.items() if k not in ("segment", "segments")}
        assert whole == agg, [(k, whole.get(k), agg.get(k)) for k in agg
                              if whole.get(k) != agg.get(k)]
        segs = rep["segments"]
        counts = {k: sum(r["features"]["region"] == k for r in win) for k in REGIONS}
        top = sorted((k for k in REGIONS if counts[k]),
                     key=lambda k: (-counts[k], REGIONS.index(k)))[:20]
        assert [g["value"] for g in segs] == top + ["__other__"], \
            [(g["value"], g["count"]) for g in segs]
        assert [g.get("other") for g in segs] == [None] * 20 + [True]
        assert [g["count"] for g in segs[:20]] == [counts[k] for k in top]
        assert segs[-1]["count"] == 1500 - sum(counts[k] for k in top)
        assert sum(g["count"] for g in segs) == 1500
        rcounts = {k: sum(r["features"]["region"] == k for r in ref) for k in REGIONS}
        for g in segs[:20]:
            assert g["reference"]["count"] == rcounts[g["value"]], g
            assert [c["name"] for c in g["columns"]] == ["age", "plan", "prediction"]
        other = [k for k in REGIONS if k not in top]
        assert segs[-1]["reference"]["count"] == sum(rcounts[k] for k in other)
        # The drift is in r03 only: the aggregate does not drift.
        r03 = segment(rep, "r03")
        assert column(r03, "age")["drifted"] and r03["dataset"]["drift_share"] > 0.3
        assert not column(agg, "age")["drifted"], column(agg, "age")
        # Age in r03 against scipy's two-sample KS of the same rows.
        ra = [r["features"]["age"] for r in ref if r["features"]["region"] == "r03"]
        ca = [r["features"]["age"] for r in win if r["features"]["region"] == "r03"]
        ks = stats.ks_2samp(ra, ca)
        age = column(r03, "age")
        assert close(age["ks"]["d"], ks.statistic) and \
            close(age["ks"]["p_value"], ks.pvalue), (age, ks)
        # Each segment is what a report of its rows against the reference's
        # rows of that value says (version 2 holds just those rows).
        for value in ("r03", "r10", "__other__"):
            keep = other if value == "__other__" else [value]
            sref = [r for r in ref if r["features"]["region"] in keep]
            swin = [r for r in win if r["features"]["region"] in keep]
            expect(s.put(vpath("m", 2) + "/reference", {"rows": ref_rows(sref)}), 200)
            post(s, "m", 2, [{"features": r["features"],
                              "prediction": r["prediction"]} for r in swin])
            one = expect(s.get(vpath("m", 2) + "/drift"), 200)
            g = segment(rep, value)
            for c in g["columns"]:
                want = column(one, c["name"])
                assert same(strip(c), strip(want)), (value, c, want)
                if c["type"] == "categorical":
                    # Histograms name categories by value; counts agree.
                    h, hw = c["histogram"], want["histogram"]
                    assert dict(zip(h["categories"], h["current"])) == \
                        dict(zip(hw["categories"], hw["current"])), (h, hw)
            # The segment leaves its own column out of its columns.
            cols = [c for c in one["columns"] if c["name"] != "region"]
            ev = sum(c["status"] == "ok" for c in cols)
            dr = sum(c["drifted"] for c in cols)
            assert g["dataset"] == {"drift_share": dr / ev if ev else 0,
                                    "drifted": ev > 0 and dr / ev >= 0.5,
                                    "threshold": 0.5, "drifted_columns": dr,
                                    "evaluated_columns": ev}, (value, g["dataset"])
            s.sql("DELETE FROM pred_blocks WHERE version_id = "
                  "(SELECT id FROM model_versions WHERE version = 2)")
        # Performance per segment: labels found through their ids.
        for g in segs:
            keep = other if g["value"] == "__other__" else [g["value"]]
            pairs = [(r["prediction"], lab["label"]) for r, lab in zip(win, labels)
                     if r["features"]["region"] in keep]
            if not pairs:
                assert "performance" not in g, g
                continue
            acc = np.mean([p == lab for p, lab in pairs])
            assert g["performance"]["count"] == len(pairs), g["performance"]
            assert close(g["performance"]["accuracy"], acc), (g["value"], acc)
        assert segment(rep, "r01")["performance"]["accuracy"] == 0
        # Errors: unknown and numeric columns, another version as baseline.
        r = expect(s.get(vpath("m", 1) + "/drift?segment=nope"), 422)
        assert "no column 'nope'" in r["error"]["message"], r
        r = expect(s.get(vpath("m", 1) + "/drift?segment=age"), 422)
        assert "numeric" in r["error"]["message"], r
        r = expect(s.get(vpath("m", 1) + "/drift?segment=region&baseline=2"), 400)
        assert "segment" in r["error"]["message"], r
        expect(s.get(vpath("m", 1) + "/drift?segment=" + "x" * 400), 400)
        # The prediction is a column too when it is categorical.
        p = expect(s.get(vpath("m", 1) + "/drift?segment=prediction"), 200)
        assert sorted(g["value"] for g in p["segments"]) == ["no", "yes"]
        # A reference stored before segments existed has no rows to split.
        s.sql("DELETE FROM reference_rows")
        r = expect(s.get(vpath("m", 1) + "/drift?segment=region"), 409)
        assert "PUT" in r["error"]["message"], r
        expect(s.get(vpath("m", 1) + "/drift"), 200)


def test_a_category_named_other():
    """A category really called "__other__" is a segment of its own, told
    from the rest of the values by the rest's `other: true`."""
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "o"}), 201)
        expect(s.post("/api/v1/models/o/versions", {"schema": SCHEMA}), 201)
        values = ["__other__"] * 30 + ["v%02d" % k for k in range(24) for _ in range(2)]

        def batch(n):
            return [{"features": {"age": 30.0 + i % 7, "region": values[i % len(values)],
                                  "plan": "basic"}, "prediction": "no"} for i in range(n)]
        expect(s.put(vpath("o", 1) + "/reference", {"rows": batch(156)}), 200)
        post(s, "o", 1, batch(78))
        rep = expect(s.get(vpath("o", 1) + "/drift?segment=region"), 200)
        segs = rep["segments"]
        assert len(segs) == 21 and sum(g["count"] for g in segs) == 78, segs
        real, rest = segs[0], segs[-1]
        assert (real["value"], real["count"], real["reference"]["count"]) == \
            ("__other__", 30, 60) and "other" not in real, real
        assert rest["value"] == "__other__" and rest["other"] is True, rest
        assert rest["count"] == 78 - 30 - 19 * 2, rest
        assert [g for g in segs if g.get("other")] == [rest]


def test_segments_previous_window_and_missing_values():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "p"}), 201)
        expect(s.post("/api/v1/models/p/versions", {"schema": SCHEMA}), 201)
        rng = np.random.default_rng(3)
        t = (int(time.time()) // 60) * 60 * 1000 - 3600 * 1000
        prev = rows(rng, 600, ts=t - 40 * 60 * 1000)
        cur = rows(rng, 600, shifted="r00", shift=12.0, ts=t + 5 * 60 * 1000)
        for r in cur[:30]:
            r["features"]["region"] = None
        post(s, "p", 1, prev + cur)
        q = "/drift?from=%s&to=%s&baseline=previous_window&segment=region" % (
            iso(t), iso(t + 3600 * 1000))
        rep = expect(s.get(vpath("p", 1) + q), 200)
        assert rep["segment"]["baseline"] == "previous_window"
        assert rep["baseline"]["count"] == 600, rep["baseline"]
        values = [g["value"] for g in rep["segments"]]
        assert None in values, values  # missing values are a segment of their own
        assert segment(rep, None)["count"] == 30
        r00 = segment(rep, "r00")
        pa = [r["features"]["age"] for r in prev if r["features"]["region"] == "r00"]
        ca = [r["features"]["age"] for r in cur if r["features"]["region"] == "r00"]
        assert r00["reference"]["count"] == len(pa) and r00["count"] == len(ca)
        ks = stats.ks_2samp(pa, ca)
        age = column(r00, "age")
        assert close(age["ks"]["d"], ks.statistic), (age, ks)
        assert age["drifted"], age
        # No reference set is needed with the previous window, but is
        # without it.
        expect(s.get(vpath("p", 1) + "/drift?segment=region"), 409)


def test_segment_rules_fire_on_one_segment_only():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "f"}), 201)
        expect(s.post("/api/v1/models/f/versions", {"schema": SCHEMA}), 201)
        rng = np.random.default_rng(21)
        expect(s.put(vpath("f", 1) + "/reference",
                     {"rows": ref_rows(rows(rng, 3000))}), 200)
        post(s, "f", 1, rows(rng, 1500, shifted="r03", shift=15.0))

        def rule(name, **kw):
            body = {"name": name, "model": "f", "version": 1,
                    "metric": "dataset_drift_share", "op": ">", "threshold": 0.3,
                    "for_seconds": 0, "window_seconds": 600, "interval_seconds": 3600}
            body.update(kw)
            return s.post("/api/v1/alert-rules", body)

        for bad in ({"region": 3}, {"region": "a", "plan": "b"}, [], "region",
                    {"region": "x" * 2000}):
            r = expect(rule("bad", segment=bad), 422, "validation_failed")
            assert "segment" in r["error"]["message"], r
        r = expect(rule("bad", segment={"nope": "x"}), 422)
        assert "no column 'nope'" in r["error"]["message"], r
        r = expect(rule("bad", segment={"age": "x"}), 422)
        assert "numeric" in r["error"]["message"], r
        made = expect(rule("r03-drift", segment={"region": "r03"}), 201)
        assert made["segment"] == {"region": "r03"}, made
        expect(rule("r04-drift", segment={"region": "r04"}), 201)
        expect(rule("all-drift"), 201)
        expect(rule("col-drift", metric="age.drifted", op="==", threshold=1,
                    segment={"region": "r03"}), 201)
        got = expect(s.get("/api/v1/alert-rules/r03-drift"), 200)
        assert got["segment"] == {"region": "r03"}, got
        assert "segment" not in expect(s.get("/api/v1/alert-rules/all-drift"), 200)
        listed = expect(s.get("/api/v1/alert-rules"), 200)["rules"]
        assert [r.get("segment") for r in listed if r["name"] == "r03-drift"] == \
            [{"region": "r03"}]

        def evaluate(name):
            return expect(s.post("/api/v1/alert-rules/%s/evaluate" % name), 200)

        ev = evaluate("r03-drift")
        assert ev["state"] == "firing" and ev["value"] > 0.3, ev
        ev = evaluate("col-drift")
        assert ev["state"] == "firing" and ev["value"] == 1, ev
        ev = evaluate("all-drift")
        assert ev["state"] != "firing" and ev["value"] < 0.3, ev
        ev = evaluate("r04-drift")
        assert ev["state"] != "firing", ev
        # The value the rule saw is the segment's drift share.
        rep = expect(s.get(vpath("f", 1) + "/drift?segment=region"), 200)
        assert close(segment(rep, "r03")["dataset"]["drift_share"],
                     evaluate("r03-drift")["value"])
        # A value the window does not have: no data, no firing.
        expect(rule("zz-drift", segment={"region": "zz"}), 201)
        ev = evaluate("zz-drift")
        assert ev["state"] != "firing" and ev["value"] is None, ev


if __name__ == "__main__":
    run(globals())
