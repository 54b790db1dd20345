"""Comparing two versions of a model over HTTP with the real binary, as
canary and shadow rollouts will: prediction ids unique per version (a
shadow candidate logs the baseline's ids; each version labels its own),
GET .../drift?baseline=<version> (drift of the candidate's window against
the baseline's window of the same time, checked against scipy, categories
matched by value across dictionaries in different orders) and GET
.../shadow?baseline=<version> (the two versions' predictions paired by id:
agreement, mean absolute difference and Spearman's rank correlation checked
against numpy and scipy)."""
import hashlib
import math
import time

import numpy as np
from scipy import stats

from mwtest import expect, run, served

SCHEMA = {"features": [{"name": "age", "type": "numeric"},
                       {"name": "income", "type": "numeric"},
                       {"name": "city", "type": "categorical"}],
          "prediction": {"type": "categorical"}}

NUMERIC = {"features": [{"name": "x", "type": "numeric"}],
           "prediction": {"type": "numeric"}}


def vpath(name, v):
    return "/api/v1/models/%s/versions/%s" % (name, v)


def make_versions(s, name, schemas):
    expect(s.post("/api/v1/models", {"name": name}), 201)
    for schema in schemas:
        expect(s.post("/api/v1/models/%s/versions" % name, {"schema": schema}), 201)


def iso(ms):
    ms = int(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def now_ms():
    return int(time.time() * 1000)


def rows_of(rng, n, shift=0.0, cities=("a", "b", "c"), ids=None, ts=None):
    out = []
    age = rng.normal(40 + shift, 10, n)
    income = rng.lognormal(10 + shift / 10, 0.5, n)
    for i in range(n):
        r = {"features": {"age": float(age[i]), "income": float(income[i]),
                          "city": str(rng.choice(cities))},
             "prediction": "yes" if age[i] > 40 else "no"}
        if ids is not None:
            r["id"] = ids[i]
        if ts is not None:
            r["timestamp"] = iso(ts)
        out.append(r)
    return out


def post(s, name, v, rows, status=200):
    for k in range(0, len(rows), 5000):
        r = expect(s.post(vpath(name, v) + "/predictions",
                          {"predictions": rows[k:k + 5000]}), status)
    return r


def column(rep, name):
    return next(c for c in rep["columns"] if c["name"] == name)


def close(a, b, rel=1e-9, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def db_count(s, sql):
    return int(s.sql(sql)[0][0])


def test_same_ids_under_two_versions_and_labels_per_version():
    with served() as s:
        make_versions(s, "m", [SCHEMA, SCHEMA])
        rng = np.random.default_rng(1)
        ids = ["p%d" % i for i in range(100)]
        base_rows = rows_of(rng, 100, ids=ids)
        cand_rows = rows_of(rng, 100, shift=3, ids=ids)
        # The candidate logs the baseline's ids: accepted, both kept.
        post(s, "m", 1, base_rows)
        post(s, "m", 2, cand_rows)
        assert db_count(s, "SELECT count(*) FROM pred_ids") == 200
        # Within one version an id is still unique.
        r = expect(s.post(vpath("m", 2) + "/predictions", {"predictions": [
            dict(cand_rows[0], id="new1"), dict(cand_rows[1], id="p7")]}), 422,
            "validation_failed")
        errs = r["error"]["details"]["errors"]
        assert [(e["index"], e["field"]) for e in errs] == [(1, "id")], errs
        assert "this version" in errs[0]["message"], errs
        assert db_count(s, "SELECT count(*) FROM pred_ids") == 200
        # Labels per version: each labels its own prediction of an id.
        lab1 = [{"id": "p%d" % i, "label": "yes" if i % 2 else "no"} for i in range(50)]
        lab2 = [{"id": "p%d" % i, "label": "yes" if i % 3 else "no"} for i in range(50)]
        assert expect(s.post(vpath("m", 1) + "/labels", {"labels": lab1}), 200) == \
            {"accepted": 50}
        assert expect(s.post(vpath("m", 2) + "/labels", {"labels": lab2}), 200) == \
            {"accepted": 50}
        # A label replaces the earlier one of its version only.
        expect(s.post(vpath("m", 2) + "/labels",
                      {"labels": [{"id": "p0", "label": "yes"}]}), 200)
        lab2[0]["label"] = "yes"
        assert db_count(s, "SELECT count(*) FROM labels") == 100
        # An id only version 1 logged: its label is sent to version 1.
        post(s, "m", 1, [dict(base_rows[0], id="only1")])
        r = expect(s.post(vpath("m", 2) + "/labels",
                          {"labels": [{"id": "only1", "label": "yes"}]}), 422)
        msg = r["error"]["details"]["errors"][0]["message"]
        assert "logged by version 1" in msg, msg
        # Each version's performance counts its own labels.
        for v, rows, lab in ((1, base_rows, lab1), (2, cand_rows, lab2)):
            expect(s.put(vpath("m", v) + "/reference", {"rows": rows_of(rng, 50)}), 200)
            perf = expect(s.get(vpath("m", v) + "/drift"), 200)["performance"]
            y_pred = [r["prediction"] for r in rows[:50]]
            y_true = [x["label"] for x in lab]
            assert perf["count"] == 50, perf
            acc = sum(a == b for a, b in zip(y_true, y_pred)) / 50
            assert close(perf["accuracy"], acc), (v, perf, acc)


def check_against_scipy(rep, base_rows, cand_rows):
    """The compare's numbers are scipy's on the two windows' rows."""
    for name in ("age", "income"):
        b = np.array([r["features"][name] for r in base_rows])
        c = np.array([r["features"][name] for r in cand_rows])
        col = column(rep, name)
        assert col["status"] == "ok", col
        ks = stats.ks_2samp(b, c)
        assert close(col["ks"]["d"], ks.statistic), (name, col["ks"], ks)
        assert close(col["ks"]["p_value"], ks.pvalue), (name, col["ks"], ks)
        w = stats.wasserstein_distance(b, c)
        assert close(col["wasserstein"], w), (name, col["wasserstein"], w)
        assert close(col["wasserstein_norm"], w / max(np.std(b), 0.001))
        assert close(col["stats"]["mean"], float(np.mean(c)), 1e-12)
    # Categories by value, whatever codes each version gave them.
    cats = sorted({r["features"]["city"] for r in base_rows + cand_rows})
    bc = np.array([sum(r["features"]["city"] == k for r in base_rows) for k in cats],
                  float)
    cc = np.array([sum(r["features"]["city"] == k for r in cand_rows) for k in cats],
                  float)
    city = column(rep, "city")
    # Two live windows: the test of homogeneity, not goodness of fit
    # against the baseline's proportions (docs/drift.md).
    keep = (bc + cc) > 0
    chi = stats.chi2_contingency(np.vstack([bc[keep], cc[keep]]), correction=False)
    assert close(city["chi2"]["statistic"], chi[0]), (city, chi)
    assert close(city["chi2"]["p_value"], chi[1], 1e-9), (city, chi)
    hist = city["histogram"]
    for k, ref, cur in zip(hist["categories"], hist["reference"], hist["current"]):
        assert ref == bc[cats.index(k)] and cur == cc[cats.index(k)], (k, hist)


def test_drift_compare_identical_same_distribution_and_shifted():
    with served() as s:
        make_versions(s, "c", [SCHEMA, SCHEMA])
        rng = np.random.default_rng(7)
        t0 = now_ms()
        # Version 2 meets the cities in another order (two hours ago,
        # outside every window below): its dictionary codes them otherwise.
        post(s, "c", 2, rows_of(rng, 4, cities=("c",), ts=t0 - 7_200_000) +
             rows_of(rng, 4, cities=("b",), ts=t0 - 7_200_000))
        win = lambda a, b: "from=%s&to=%s" % (iso(a), iso(b))  # noqa: E731
        # Window A: the same rows logged by both versions.
        same = rows_of(rng, 500, ts=t0 - 3_000_000)
        post(s, "c", 1, same)
        post(s, "c", 2, same)
        qa = win(t0 - 3_100_000, t0 - 2_900_000)
        rep = expect(s.get(vpath("c", 2) + "/drift?baseline=1&" + qa), 200)
        assert rep["version"] == 2 and rep["baseline"] == {"version": 1, "count": 500}, \
            rep["baseline"]
        assert "reference" not in rep and "performance" not in rep
        assert rep["window"]["count"] == 500
        assert rep["dataset"]["drift_share"] == 0 and not rep["dataset"]["drifted"]
        assert rep["dataset"]["evaluated_columns"] == 4, rep["dataset"]
        assert all(c["status"] == "ok" and not c["drifted"] for c in rep["columns"])
        assert column(rep, "age")["ks"]["d"] == 0
        assert column(rep, "city")["chi2"]["statistic"] == 0
        check_against_scipy(rep, same, same)
        # Window B: two samples of one distribution, another sample size.
        b_rows = rows_of(rng, 700, ts=t0 - 2_000_000)
        c_rows = rows_of(rng, 450, ts=t0 - 2_000_000)
        post(s, "c", 1, b_rows)
        post(s, "c", 2, c_rows)
        qb = win(t0 - 2_100_000, t0 - 1_900_000)
        rep = expect(s.get(vpath("c", 2) + "/drift?baseline=1&" + qb), 200)
        assert rep["baseline"]["count"] == 700 and rep["window"]["count"] == 450
        assert not column(rep, "age")["drifted"], column(rep, "age")
        check_against_scipy(rep, b_rows, c_rows)
        # Window C: the candidate shifted, with a city the baseline never saw.
        b_rows = rows_of(rng, 600, ts=t0 - 1_000_000)
        c_rows = rows_of(rng, 600, shift=8, cities=("a", "b", "c", "d"),
                         ts=t0 - 1_000_000)
        post(s, "c", 1, b_rows)
        post(s, "c", 2, c_rows)
        qc = win(t0 - 1_100_000, t0 - 900_000)
        rep = expect(s.get(vpath("c", 2) + "/drift?baseline=1&" + qc), 200)
        assert rep["dataset"]["drifted"], rep["dataset"]
        assert column(rep, "age")["drifted"] and column(rep, "city")["drifted"]
        check_against_scipy(rep, b_rows, c_rows)
        # The other way round: the baseline's values only the other version
        # has ("d") still count.
        rep = expect(s.get(vpath("c", 1) + "/drift?baseline=2&" + qc), 200)
        check_against_scipy(rep, c_rows, b_rows)
        # The candidate's drift settings decide: PSI with a high threshold.
        expect(s.put(vpath("c", 2) + "/drift/config",
                     {"columns": {"age": {"method": "psi", "threshold": 100}}}), 200)
        rep = expect(s.get(vpath("c", 2) + "/drift?baseline=1&" + qc), 200)
        assert column(rep, "age")["method"] == "psi"
        assert not column(rep, "age")["drifted"]
        # An empty window on either side: no_data, drift_share 0.
        qe = win(t0 - 7_300_000, t0 - 7_100_000)
        rep = expect(s.get(vpath("c", 2) + "/drift?baseline=1&" + qe), 200)
        assert rep["window"]["count"] == 8 and rep["baseline"]["count"] == 0
        assert all(c["status"] == "no_data" for c in rep["columns"]), rep["columns"]
        assert rep["dataset"]["drift_share"] == 0
        rep = expect(s.get(vpath("c", 1) + "/drift?baseline=2&" + qe), 200)
        assert rep["window"]["count"] == 0
        assert all(c["status"] == "no_data" for c in rep["columns"])
        # Without baseline the route is the ordinary report (no reference
        # set here: 409).
        expect(s.get(vpath("c", 2) + "/drift?" + qc), 409)
        # A baseline that does not exist, or a bad window.
        r = expect(s.get(vpath("c", 2) + "/drift?baseline=9"), 404)
        assert "baseline" in r["error"]["message"], r
        expect(s.get(vpath("c", 2) + "/drift?baseline=1&from=yesterday"), 400)


def test_drift_compare_columns_by_name_and_kind_and_alias():
    with served() as s:
        other = {"features": [{"name": "age", "type": "numeric"},
                              {"name": "income", "type": "categorical"},
                              {"name": "zip", "type": "numeric"}],
                 "prediction": {"type": "categorical"}}
        make_versions(s, "k", [SCHEMA, other])
        rng = np.random.default_rng(3)
        post(s, "k", 1, rows_of(rng, 200))
        cand = [{"features": {"age": float(a), "income": "high" if a > 40 else "low",
                              "zip": float(i)}, "prediction": "yes"}
                for i, a in enumerate(rng.normal(40, 10, 150))]
        post(s, "k", 2, cand)
        # The baseline as an alias of the model.
        art = b"weights"
        expect(s.request("PUT", vpath("k", 1) + "/artifact", raw=art,
                         headers={"X-Content-SHA256": hashlib.sha256(art).hexdigest()}),
               200)
        expect(s.put("/api/v1/models/k/aliases/production", {"version": 1}), 200)
        rep = expect(s.get(vpath("k", 2) + "/drift?baseline=production"), 200)
        assert rep["baseline"]["version"] == 1
        assert [c["name"] for c in rep["columns"]] == ["age", "income", "zip",
                                                        "prediction"]
        inc, zp = column(rep, "income"), column(rep, "zip")
        assert inc["status"] == "insufficient_data" and not inc["drifted"], inc
        assert "numeric in version 1" in inc["reason"], inc
        assert zp["status"] == "insufficient_data" and "no column" in zp["reason"], zp
        assert column(rep, "age")["status"] == "ok"
        assert rep["dataset"]["evaluated_columns"] == 2, rep["dataset"]
        # Read scope is enough; ingest alone is not.
        reader = s.token_with("reader", ["read"])
        expect(s.get(vpath("k", 2) + "/drift?baseline=1", token=reader), 200)
        expect(s.get(vpath("k", 2) + "/shadow?baseline=1", token=reader), 200)
        ingest = s.token_with("ingester", ["ingest"])
        expect(s.get(vpath("k", 2) + "/drift?baseline=1", token=ingest), 403)
        expect(s.get(vpath("k", 2) + "/shadow?baseline=1", token=ingest), 403)


def test_shadow_numeric_against_numpy_and_scipy():
    with served() as s:
        make_versions(s, "n", [NUMERIC, NUMERIC])
        rng = np.random.default_rng(11)
        t0 = now_ms()
        n = 400
        base = np.round(rng.normal(0, 1, n), 1)  # ties
        cand = np.round(0.8 * base + rng.normal(0, 0.5, n), 1)
        base_rows, cand_rows = [], []
        for i in range(n):
            base_rows.append({"id": "r%d" % i, "features": {"x": 1.0},
                              "prediction": None if i % 37 == 0 else float(base[i]),
                              "timestamp": iso(t0 - 600_000 + i)})
        for i in range(50, n + 60):
            p = float(cand[i]) if i < n else 1.0
            cand_rows.append({"id": "r%d" % i, "features": {"x": 2.0},
                              "prediction": None if i % 41 == 0 else p,
                              "timestamp": iso(t0 - 300_000 + i)})
        post(s, "n", 1, base_rows)
        post(s, "n", 2, cand_rows)
        rep = expect(s.get(vpath("n", 2) + "/shadow?baseline=1&from=%s&to=%s" % (
            iso(t0 - 400_000), iso(t0))), 200)
        pairs = [(cand[i], base[i]) for i in range(50, n) if i % 37 and i % 41]
        missing = sum(1 for i in range(50, n) if not (i % 37 and i % 41))
        c = np.array([p[0] for p in pairs])
        b = np.array([p[1] for p in pairs])
        assert rep["kind"] == "numeric" and rep["baseline"]["version"] == 1, rep
        assert rep["pairs"] == len(pairs) and rep["missing"] == missing, rep
        assert close(rep["mean_abs_diff"], float(np.mean(np.abs(c - b)))), rep
        rho = stats.spearmanr(c, b).statistic
        assert close(rep["rank_correlation"], rho), (rep, rho)
        assert "agreement" not in rep and "sampled" not in rep
        # The window is the candidate's: its ids logged in [from, to) only.
        frm, to = t0 - 300_000 + 100, t0 - 300_000 + 200
        rep = expect(s.get(vpath("n", 2) + "/shadow?baseline=1&from=%s&to=%s" % (
            iso(frm), iso(to))), 200)
        sub = [(cand[i], base[i]) for i in range(100, 200) if i % 37 and i % 41]
        assert rep["pairs"] == len(sub), rep
        rho = stats.spearmanr([p[0] for p in sub], [p[1] for p in sub]).statistic
        assert close(rep["rank_correlation"], rho), (rep, rho)
        # Fewer than two pairs, or a constant side: no correlation.
        rep = expect(s.get(vpath("n", 2) + "/shadow?baseline=1&from=%s&to=%s" % (
            iso(t0 - 300_000 + 60), iso(t0 - 300_000 + 61))), 200)
        assert rep["pairs"] == 1 and rep["rank_correlation"] is None, rep
        rep = expect(s.get(vpath("n", 1) + "/shadow?baseline=1&from=%s&to=%s" % (
            iso(t0 - 700_000), iso(t0))), 200)
        assert close(rep["rank_correlation"], 1.0) and rep["mean_abs_diff"] == 0, rep
        rep = expect(s.get(vpath("n", 2) + "/shadow?baseline=1&from=%s&to=%s" % (
            iso(t0 - 900_000), iso(t0 - 800_000))), 200)
        assert rep["pairs"] == 0 and rep["mean_abs_diff"] is None and \
            rep["rank_correlation"] is None, rep
        # baseline is required and must exist.
        expect(s.get(vpath("n", 2) + "/shadow"), 400)
        r = expect(s.get(vpath("n", 2) + "/shadow?baseline=7"), 404)
        assert "baseline" in r["error"]["message"]
        expect(s.get(vpath("n", 9) + "/shadow?baseline=1"), 404)


def test_shadow_categorical_codes_mapped_by_value():
    cat = {"features": [{"name": "x", "type": "numeric"}],
           "prediction": {"type": "categorical"}}
    with served() as s:
        make_versions(s, "g", [cat, cat, NUMERIC])
        rng = np.random.default_rng(5)
        labels = ["yes", "no", "maybe"]
        n = 300
        base = [labels[k] for k in rng.integers(0, 3, n)]
        # The candidate predicts mostly the same; its first predictions
        # are "maybe" and "unsure", so its codes differ from the baseline's.
        cand = [b if rng.random() < 0.7 else str(rng.choice(labels + ["unsure"]))
                for b in base]
        cand[0], cand[1] = "maybe", "unsure"
        post(s, "g", 1, [{"id": i, "features": {"x": 0}, "prediction": p}
                         for i, p in enumerate(base)])
        post(s, "g", 2, [{"id": i, "features": {"x": 0},
                          "prediction": None if i == 5 else p}
                         for i, p in enumerate(cand)])
        rep = expect(s.get(vpath("g", 2) + "/shadow?baseline=1"), 200)
        kept = [i for i in range(n) if i != 5]
        agree = sum(cand[i] == base[i] for i in kept) / len(kept)
        assert rep["kind"] == "categorical" and rep["pairs"] == len(kept), rep
        assert rep["missing"] == 1
        assert close(rep["agreement"], agree), (rep, agree)
        assert "rank_correlation" not in rep and "mean_abs_diff" not in rep
        # Categorical against numeric predictions cannot be paired.
        expect(s.get(vpath("g", 3) + "/shadow?baseline=1"), 409, "conflict")
        # No pairs: agreement null.
        rep = expect(s.get(vpath("g", 2) + "/shadow?baseline=1&from=%s&to=%s" % (
            iso(now_ms() - 7_200_000), iso(now_ms() - 3_600_000))), 200)
        assert rep["pairs"] == 0 and rep["agreement"] is None, rep


if __name__ == "__main__":
    run(globals())
