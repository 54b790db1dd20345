"""Baselines and noise (issue 16 item 4) with the real binary, on SQLite
and PostgreSQL: GET .../drift?baseline=previous_window (the window of the
same length just before, checked against scipy's two-sample tests),
?baseline=reference as the default, the two keywords reserved as alias
names; PUT .../drift/config correction none|bonferroni|bh (adjusted
p-values checked against a numpy Benjamini-Hochberg, verdicts and
drift_share recounted, distance methods untouched); label_delay_seconds
(a performance rule does not fire on a window whose labels have not
arrived, and does once they have)."""
import math
import time

import numpy as np
from scipy import stats

from mwtest import expect, run, served

SCHEMA = {"features": [{"name": "age", "type": "numeric"},
                       {"name": "city", "type": "categorical"}],
          "prediction": {"type": "categorical"}}


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


def bh_numpy(p):
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def rows(rng, n, ts, shift=0.0, cities=("a", "b", "c"), p=None):
    age = rng.normal(40 + shift, 10, n)
    city = rng.choice(cities, n, p=p)
    return [{"timestamp": iso(ts + i), "features": {"age": float(age[i]),
                                                    "city": str(city[i])},
             "prediction": "yes" if age[i] > 40 else "no"} for i in range(n)]


def test_previous_window_against_scipy():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models/m/versions", {"schema": SCHEMA}), 201)
        rng = np.random.default_rng(5)
        t = (int(time.time()) // 60) * 60 * 1000 - 3600 * 1000
        prev = rows(rng, 300, t - 50 * 60 * 1000)
        cur = rows(rng, 200, t + 10 * 60 * 1000, shift=4, p=[0.2, 0.3, 0.5])
        older = rows(rng, 100, t - 90 * 60 * 1000, shift=-20)  # outside both
        for batch in (prev, cur, older):
            expect(s.post(vpath("m", 1) + "/predictions", {"predictions": batch}), 200)
        q = "/drift?from=%s&to=%s" % (iso(t), iso(t + 3600 * 1000))
        # No reference set: the default and ?baseline=reference need one,
        # the previous window does not.
        expect(s.get(vpath("m", 1) + q), 409, "conflict")
        expect(s.get(vpath("m", 1) + q + "&baseline=reference"), 409, "conflict")
        rep = expect(s.get(vpath("m", 1) + q + "&baseline=previous_window"), 200)
        b = rep["baseline"]
        assert b["type"] == "previous_window" and b["count"] == 300, b
        assert b["from"].startswith(iso(t - 3600 * 1000)[:19]), b
        assert b["to"].startswith(iso(t)[:19]), b
        assert rep["window"]["count"] == 200 and "reference" not in rep, rep
        pa = np.array([r["features"]["age"] for r in prev])
        ca = np.array([r["features"]["age"] for r in cur])
        age = column(rep, "age")
        ks = stats.ks_2samp(pa, ca)
        assert close(age["ks"]["d"], ks.statistic), (age, ks)
        assert close(age["ks"]["p_value"], ks.pvalue), (age, ks)
        w = stats.wasserstein_distance(pa, ca)
        assert close(age["wasserstein"], w), (age, w)
        cats = ["a", "b", "c"]
        pc = [sum(r["features"]["city"] == k for r in prev) for k in cats]
        cc = [sum(r["features"]["city"] == k for r in cur) for k in cats]
        chi = stats.chi2_contingency(np.array([pc, cc], float), correction=False)
        city = column(rep, "city")
        assert close(city["chi2"]["statistic"], chi[0]), (city, chi)
        assert close(city["chi2"]["p_value"], chi[1], 1e-9), (city, chi)
        assert age["drifted"] and rep["dataset"]["drifted_columns"] >= 1, rep
        # With a reference, ?baseline=reference is the default report.
        expect(s.put(vpath("m", 1) + "/reference", {"rows": [
            {"features": r["features"], "prediction": r["prediction"]}
            for r in prev]}), 200)
        a = expect(s.get(vpath("m", 1) + q), 200)
        b = expect(s.get(vpath("m", 1) + q + "&baseline=reference"), 200)
        for x in (a, b):
            x.pop("elapsed_ms")
        assert a == b and "reference" in a and "baseline" not in a
        # An empty previous window: every column no_data, nothing drifts.
        q2 = "/drift?from=%s&to=%s" % (iso(t - 150 * 60 * 1000), iso(t - 120 * 60 * 1000))
        e = expect(s.get(vpath("m", 1) + q2 + "&baseline=previous_window"), 200)
        assert e["baseline"]["count"] == 0 and e["dataset"]["drift_share"] == 0, e
        assert {c["status"] for c in e["columns"]} == {"no_data"}, e
        # The keywords are reserved alias names; other aliases still work.
        for alias in ("reference", "previous_window"):
            r = expect(s.put("/api/v1/models/m/aliases/" + alias, {"version": 1}),
                       422, "validation_failed")
            assert "reserved" in r["error"]["message"], r
        expect(s.request("PUT", vpath("m", 1) + "/artifact", raw=b"x", headers={
            "X-Content-SHA256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}),
            200)
        expect(s.put("/api/v1/models/m/aliases/production", {"version": 1}), 200)
        c = expect(s.get(vpath("m", 1) + q + "&baseline=production"), 200)
        assert c["baseline"]["version"] == 1 and "type" not in c["baseline"], c
        # A bad window is still refused.
        expect(s.get(vpath("m", 1) + "/drift?from=x&baseline=previous_window"), 400)


NCOLS = 12
WIDE = {"features": [{"name": "x%d" % k, "type": "numeric"} for k in range(NCOLS)] +
        [{"name": "city", "type": "categorical"}],
        "prediction": {"type": "numeric"}}


def wide_rows(rng, n, shifts):
    out = []
    cols = [rng.normal(shifts.get(k, 0.0), 1, n) for k in range(NCOLS)]
    city = rng.choice(["a", "b"], n)
    for i in range(n):
        f = {"x%d" % k: float(cols[k][i]) for k in range(NCOLS)}
        f["city"] = str(city[i])
        out.append({"features": f, "prediction": float(cols[0][i])})
    return out


def test_correction_bonferroni_and_bh():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "w"}), 201)
        expect(s.post("/api/v1/models/w/versions", {"schema": WIDE}), 201)
        cfg = vpath("w", 1) + "/drift/config"
        got = expect(s.get(cfg), 200)
        assert got["correction"] == "none" and got["label_delay_seconds"] == 0, got
        for bad in ("holm", "BH", 1, None):
            r = expect(s.put(cfg, {"correction": bad}), 422, "validation_failed")
            assert r["error"]["details"]["errors"][0]["field"] == "correction", r
        rng = np.random.default_rng(11)
        expect(s.put(vpath("w", 1) + "/reference",
                     {"rows": wide_rows(rng, 600, {})}), 200)
        # One column far off, three a little (raw p-values near 0.01), the
        # rest from the reference's distribution.
        expect(s.post(vpath("w", 1) + "/predictions", {"predictions": wide_rows(
            rng, 300, {1: 1.0, 2: 0.2, 3: 0.2, 4: 0.2})}), 200)
        # x11 is judged by a distance: outside the family.
        expect(s.put(cfg, {"columns": {"x11": {"method": "psi"}}}), 200)
        raw = expect(s.get(vpath("w", 1) + "/drift"), 200)
        assert "correction" not in raw["dataset"], raw["dataset"]
        assert all("p_value_adjusted" not in c for c in raw["columns"])
        fam = [c for c in raw["columns"] if c["status"] == "ok" and
               c["method"] in ("ks", "chi2", "z")]
        # x0..x10, city and the prediction.
        assert len(fam) == NCOLS + 1, [c["name"] for c in fam]
        p = np.array([c["p_value"] for c in fam])
        m = len(p)
        want = {"bonferroni": np.minimum(p * m, 1.0), "bh": bh_numpy(p)}
        results = {}
        for kind in ("bonferroni", "bh"):
            r = expect(s.put(cfg, {"columns": {"x11": {"method": "psi"}},
                                   "correction": kind}), 200)
            assert r["correction"] == kind, r
            rep = expect(s.get(vpath("w", 1) + "/drift"), 200)
            results[kind] = rep
            assert rep["dataset"]["correction"] == kind
            ndrift = 0
            for c in rep["columns"]:
                if c["status"] != "ok":
                    continue
                if c["method"] in ("ks", "chi2", "z"):
                    k = [f["name"] for f in fam].index(c["name"])
                    assert close(c["p_value"], p[k]), (c, p[k])
                    assert close(c["p_value_adjusted"], want[kind][k], 1e-9), \
                        (kind, c, want[kind][k])
                    assert c["correction"] == kind
                    thr = c["threshold"]
                    d = want[kind][k] <= thr if c["method"] == "ks" else \
                        want[kind][k] < thr
                    assert c["drifted"] == d, (kind, c)
                else:
                    assert "p_value_adjusted" not in c, c
                    assert c["drifted"] == column(raw, c["name"])["drifted"], c
                ndrift += c["drifted"]
            ds = rep["dataset"]
            assert ds["drifted_columns"] == ndrift, ds
            assert close(ds["drift_share"], ndrift / ds["evaluated_columns"]), ds
            assert ds["drifted"] == (ds["drift_share"] >= ds["threshold"]), ds
        # The data were chosen so that the correction matters: some column
        # drifts on its raw p-value only, and x1 drifts under both.
        nraw = raw["dataset"]["drifted_columns"]
        nbon = results["bonferroni"]["dataset"]["drifted_columns"]
        nbh = results["bh"]["dataset"]["drifted_columns"]
        assert nbon <= nbh <= nraw and nbon < nraw, (nraw, nbh, nbon, p)
        assert all(column(results[k], "x1")["drifted"] for k in results)
        # The stored settings keep only what differs: back to none.
        expect(s.put(cfg, {}), 200)
        assert expect(s.get(cfg), 200)["correction"] == "none"
        rows = s.sql("SELECT config FROM drift_config")
        assert all("correction" not in str(r[0]) for r in rows), rows


def test_label_delay_holds_performance_rules_until_labels_arrive():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "d"}), 201)
        for _ in range(2):
            expect(s.post("/api/v1/models/d/versions", {"schema": SCHEMA}), 201)
        r = expect(s.put(vpath("d", 1) + "/drift/config", {"label_delay_seconds": -1}),
                   422)
        assert r["error"]["details"]["errors"][0]["field"] == "label_delay_seconds"
        delay = 4
        expect(s.put(vpath("d", 1) + "/drift/config", {"label_delay_seconds": delay}),
               200)
        rng = np.random.default_rng(2)
        for v in (1, 2):
            batch = rows(rng, 40, int(time.time() * 1000))
            for i, x in enumerate(batch):
                x["id"] = "p%d" % i
                x.pop("timestamp")
            expect(s.post(vpath("d", v) + "/predictions", {"predictions": batch}), 200)
            # Every label wrong: accuracy 0 once they count.
            labels = [{"id": "p%d" % i, "label": "no" if x["prediction"] == "yes"
                       else "yes"} for i, x in enumerate(batch)]
            expect(s.post(vpath("d", v) + "/labels", {"labels": labels}), 200)
            expect(s.post("/api/v1/alert-rules", {
                "name": "acc-%d" % v, "model": "d", "version": v, "metric": "accuracy",
                "op": "<", "threshold": 0.5, "for_seconds": 0, "window_seconds": 600,
                "interval_seconds": 3600}), 201)
        t0 = time.time()
        # Version 2 has no delay: its rule fires at once.
        ev = expect(s.post("/api/v1/alert-rules/acc-2/evaluate"), 200)
        assert ev["state"] == "firing" and ev["value"] == 0, ev
        # Version 1's labels are not due yet: no value, no firing.
        ev = expect(s.post("/api/v1/alert-rules/acc-1/evaluate"), 200)
        assert time.time() - t0 < delay - 1, "too slow to test the delay"
        assert ev["state"] != "firing" and ev["value"] is None, ev
        summary = expect(s.get(vpath("d", 1) + "/drift/history?metric=accuracy"), 200)
        assert summary["points"] == [], summary
        # The report says which window the performance covers.
        now = time.time()
        expect(s.put(vpath("d", 1) + "/reference", {"rows": rows(rng, 50, 0)}), 200)
        rep = expect(s.get(vpath("d", 1) + "/drift"), 200)
        pw = rep["performance_window"]
        assert pw["label_delay_seconds"] == delay and "performance" not in rep, rep
        assert pw["to"] < iso((now - delay + 2) * 1000) and rep["window"]["count"] == 40
        # Once the delay has passed the same rule fires on those labels.
        time.sleep(max(0.0, t0 + delay + 0.5 - time.time()))
        ev = expect(s.post("/api/v1/alert-rules/acc-1/evaluate"), 200)
        assert ev["state"] == "firing" and ev["value"] == 0, ev
        rep = expect(s.get(vpath("d", 1) + "/drift"), 200)
        assert rep["performance"]["count"] == 40, rep
        # A window that ended long enough ago is judged as it is.
        old = expect(s.get(vpath("d", 1) + "/drift?from=%s&to=%s" % (
            iso((t0 - 60) * 1000), iso((t0 - 30) * 1000))), 200)
        assert old["performance_window"]["from"] == old["window"]["from"], old


if __name__ == "__main__":
    run(globals())
