"""Data quality and quarantine over HTTP with the real binary: the quality
of every drift column (missing, out of the reference's range, categories
the reference never saw, invalid values) against numpy on the same data,
as rule metrics and stored series; the current window's category counts;
POST .../predictions?on_invalid=quarantine keeping invalid rows with their
errors (listed, paginated, counted per column, bounded, aged out by
retention), and the default all-or-nothing 422 unchanged."""
import math
import time

import numpy as np

from mwtest import Server, expect, run, served

SCHEMA = {"features": [{"name": "age", "type": "numeric"},
                       {"name": "city", "type": "categorical"}],
          "prediction": {"type": "numeric"}}


def base(name="q", v=1):
    return "/api/v1/models/%s/versions/%s" % (name, v)


def make_model(s, name="q"):
    expect(s.post("/api/v1/models", {"name": name}), 201)
    return expect(s.post("/api/v1/models/%s/versions" % name, {"schema": SCHEMA}),
                  201)["version"]


def column(report, name):
    return next(c for c in report["columns"] if c["name"] == name)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def row(age, city, pred=0.5, **kw):
    r = {"features": {"age": age, "city": city}, "prediction": pred}
    r.update(kw)
    return r


def test_quality_matches_numpy_and_is_a_rule_metric():
    rng = np.random.default_rng(7)
    with served() as s:
        make_model(s)
        ref_age = rng.normal(40, 8, 600)
        ref_city = rng.choice(["a", "b", "c"], 600)
        expect(s.put(base() + "/reference", {"rows": [
            row(float(a), str(c), float(a) / 100) for a, c in zip(ref_age, ref_city)]}), 200)
        # The window: missing ages (null and "NaN"), ages outside the
        # reference's range, cities it never saw, missing cities.
        n = 900
        age = rng.normal(44, 12, n)
        age[rng.random(n) < 0.07] = np.nan
        city = rng.choice(["a", "b", "c", "d", "e"], n, p=[0.3, 0.3, 0.25, 0.1, 0.05]).astype(object)
        city[rng.random(n) < 0.04] = None
        rows = []
        for i in range(n):
            a = None if np.isnan(age[i]) else float(age[i])
            if a is None and i % 2:
                a = "NaN"
            rows.append(row(a, city[i], float(rng.normal())))
        r = expect(s.post(base() + "/predictions", {"predictions": rows}), 200)
        assert r == {"accepted": n}, r  # no quarantined key without the parameter
        rep = expect(s.get(base() + "/drift"), 200)

        # numpy on the same data
        qa = column(rep, "age")["quality"]
        present = age[np.isfinite(age)]
        lo, hi = ref_age.min(), ref_age.max()
        assert close(qa["missing_share"], np.count_nonzero(np.isnan(age)) / n), qa
        assert qa["missing_count"] == np.count_nonzero(np.isnan(age))
        oor = np.count_nonzero((present < lo) | (present > hi))
        assert oor > 0
        assert qa["out_of_range_count"] == oor, qa
        assert close(qa["out_of_range_share"], oor / len(present)), qa
        assert "unseen_share" not in qa and qa["invalid_count"] == 0
        qc = column(rep, "city")["quality"]
        have = np.array([c is not None for c in city])
        unseen = np.count_nonzero([c in ("d", "e") for c in city])
        assert close(qc["missing_share"], np.count_nonzero(~have) / n), qc
        assert qc["unseen_count"] == unseen, qc
        assert close(qc["unseen_share"], unseen / np.count_nonzero(have)), qc
        assert "out_of_range_share" not in qc
        # The window's category counts are in the report, next to the
        # reference's, for the page to draw both sides.
        h = column(rep, "city")["histogram"]
        cur = dict(zip(h["categories"], h["current"]))
        refc = dict(zip(h["categories"], h["reference"]))
        for c in "abcde":
            assert cur[c] == sum(1 for x in city if x == c), (c, cur)
        assert refc["d"] == 0 and refc["a"] == np.count_nonzero(ref_city == "a")

        # A segment's columns carry quality against the same segment of
        # the reference; quarantined rows are not split by segment.
        seg = expect(s.get(base() + "/drift?segment=city"), 200)
        sa = next(g for g in seg["segments"] if g["value"] == "a")
        qs = column(sa, "age")["quality"]
        in_a = np.array([c == "a" for c in city])
        assert close(qs["missing_share"], np.count_nonzero(np.isnan(age[in_a])) / in_a.sum()), qs
        ref_a = ref_age[ref_city == "a"]
        pa = age[in_a & np.isfinite(age)]
        assert qs["out_of_range_count"] == np.count_nonzero((pa < ref_a.min()) | (pa > ref_a.max())), qs
        assert "invalid_count" not in qs

        # Stored series and alert rules know the names.
        expect(s.post(base() + "/drift/evaluate"), 200)
        hist = expect(s.get(base() + "/drift/history?column=age&metric=missing_share"), 200)
        assert close(hist["points"][-1]["value"], qa["missing_share"]), hist
        hist = expect(s.get(base() + "/drift/history?column=city&metric=unseen_share"), 200)
        assert close(hist["points"][-1]["value"], qc["unseen_share"]), hist
        for metric, threshold, fires in (("city.unseen_share", 0.1, True),
                                         ("age.out_of_range_share", 0.5, False),
                                         ("age.missing_share", 0.05, True)):
            name = metric.replace(".", "-")
            expect(s.post("/api/v1/alert-rules", {
                "name": name, "model": "q", "version": 1, "metric": metric, "op": ">",
                "threshold": threshold, "for_seconds": 0, "window_seconds": 3600,
                "interval_seconds": 60, "severity": "warning", "channels": []}), 201)
            ev = expect(s.post("/api/v1/alert-rules/%s/evaluate" % name), 200)
            assert (ev["state"] == "firing") == fires, (metric, ev)
        bad = s.post("/api/v1/alert-rules", {
            "name": "nope", "model": "q", "version": 1, "metric": "age.missingshare",
            "op": ">", "threshold": 0, "for_seconds": 0, "window_seconds": 60,
            "interval_seconds": 60, "severity": "warning", "channels": []})
        assert bad.status == 422 and "missing_share" in bad.json["error"]["message"]


def test_quarantine_keeps_invalid_rows_with_their_errors():
    with served() as s:
        make_model(s)
        expect(s.put(base() + "/reference", {"rows": [
            row(float(a), "a") for a in range(20, 60)]}), 200)
        expect(s.post(base() + "/predictions", {"predictions": [row(30, "a", id="p0")]}), 200)
        batch = [row(31, "a", id="p1"),
                 row("old", "b", id="p2"),                  # 1: type of age
                 row(33, {"x": 1}),                         # 2: type of city
                 row(34, "b", id="p0"),                     # 3: id already stored
                 row(35, "c", timestamp="27/11/2026"),      # 4: timestamp
                 {"features": {"age": 36}, "prediction": 1},  # 5: city missing
                 "not a row",                               # 6
                 row(37, "b", id="p1"),                     # 7: duplicate in the batch
                 row(None, "c", pred="high")]               # 8: prediction type
        # The default is unchanged: all or nothing.
        r = expect(s.post(base() + "/predictions", {"predictions": batch}), 422,
                   "validation_failed")
        assert {e["index"] for e in r["error"]["details"]["errors"]} == {1, 2, 3, 4, 5, 6, 7, 8}
        r = expect(s.post(base() + "/predictions?on_invalid=reject",
                          {"predictions": batch}), 422, "validation_failed")
        assert expect(s.get(base() + "/quarantine"), 200)["count"] == 0
        r = s.post(base() + "/predictions?on_invalid=keep", {"predictions": batch})
        assert r.status == 400 and "on_invalid" in r.json["error"]["message"], r.json

        r = expect(s.post(base() + "/predictions?on_invalid=quarantine",
                          {"predictions": batch}), 200)
        assert r == {"accepted": 1, "quarantined": 8}, r
        q = expect(s.get(base() + "/quarantine"), 200)
        assert q["count"] == 8 and q["next_page_token"] is None and q["limit"] == 10000
        rows = {x["index"]: x for x in q["rows"]}
        assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7, 8]
        assert rows[1]["row"] == batch[1] and rows[1]["row_kept"]
        assert rows[6]["row"] == "not a row"
        assert [e["field"] for e in rows[1]["errors"]] == ["features.age"]
        assert rows[3]["errors"][0]["field"] == "id" and "already" in rows[3]["errors"][0]["message"]
        assert rows[7]["errors"][0]["field"] == "id" and "duplicate" in rows[7]["errors"][0]["message"]
        assert rows[4]["errors"][0]["field"] == "timestamp"
        assert rows[5]["errors"][0]["field"] == "features.city"
        assert all(x["error_count"] == len(x["errors"]) for x in q["rows"])
        # Pages by id.
        seen, tok = [], None
        while True:
            page = expect(s.get(base() + "/quarantine?limit=3" +
                                ("&page_token=" + tok if tok else "")), 200)
            seen += [x["id"] for x in page["rows"]]
            tok = page["next_page_token"]
            if not tok:
                break
        assert seen == [x["id"] for x in q["rows"]]
        for bad in ("limit=0", "limit=1001", "page_token=x", "from=yesterday"):
            r = s.get(base() + "/quarantine?" + bad)
            assert r.status == 400 and bad.split("=")[0] in r.json["error"]["message"], (bad, r.json)

        # The valid row is stored once; the invalid ones count per column.
        rep = expect(s.get(base() + "/drift"), 200)
        assert rep["window"]["count"] == 2 and rep["window"]["quarantined"] == 8
        assert column(rep, "age")["quality"]["invalid_count"] == 1
        assert column(rep, "city")["quality"]["invalid_count"] == 2
        assert column(rep, "prediction")["quality"]["invalid_count"] == 1
        # A rule on invalid values fires also when no valid row came in.
        r = expect(s.post(base() + "/predictions?on_invalid=quarantine",
                          {"predictions": [row("x", "a")]}), 200)
        assert r == {"accepted": 0, "quarantined": 1}
        expect(s.post("/api/v1/alert-rules", {
            "name": "bad-age", "model": "q", "version": 1, "metric": "age.invalid_count",
            "op": ">=", "threshold": 2, "for_seconds": 0, "window_seconds": 3600,
            "interval_seconds": 60, "severity": "warning", "channels": []}), 201)
        assert expect(s.post("/api/v1/alert-rules/bad-age/evaluate"), 200)["state"] == "firing"
        m = s.get("/metrics").raw
        assert "modelwatch_predictions_quarantined_total 9" in m, m
        # A row whose only fault is an id stored before goes alone.
        r = expect(s.post(base() + "/predictions?on_invalid=quarantine",
                          {"predictions": [row(40, "a", id="p1"), row(41, "a", id="p9")]}), 200)
        assert r == {"accepted": 1, "quarantined": 1}, r
        # A batch that is invalid as a whole is refused in any mode.
        expect(s.post(base() + "/predictions?on_invalid=quarantine",
                      {"predictions": "x"}), 422)


def test_quarantine_is_bounded_and_nothing_is_dropped():
    with served() as s:
        make_model(s)
        bad = [row("x", "a") for _ in range(10001)]
        r = expect(s.post(base() + "/predictions?on_invalid=quarantine",
                          {"predictions": bad + [row(1, "a")]}), 422)
        assert "10001 rows are invalid" in r["error"]["message"], r
        assert expect(s.get(base() + "/quarantine"), 200)["count"] == 0
        r = expect(s.post(base() + "/predictions?on_invalid=quarantine",
                          {"predictions": bad[:9999] + [row(1, "a")]}), 200)
        assert r == {"accepted": 1, "quarantined": 9999}
        # Two more do not fit: the batch is refused whole, the valid row
        # with it, and the errors say which rows were invalid.
        r = expect(s.post(base() + "/predictions?on_invalid=quarantine",
                          {"predictions": [row(2, "a"), row("y", "a"), row("z", "b")]}), 422)
        assert "holds 9999 rows" in r["error"]["message"], r
        assert [e["index"] for e in r["error"]["details"]["errors"]] == [1, 2]
        rep = expect(s.get(base() + "/drift"), 409)  # no reference: still nothing new stored
        r = expect(s.post(base() + "/predictions?on_invalid=quarantine",
                          {"predictions": [row(2, "a"), row("y", "a")]}), 200)
        assert r == {"accepted": 1, "quarantined": 1}
        assert expect(s.get(base() + "/quarantine?limit=1"), 200)["count"] == 10000
        # Rows too large to keep keep their errors and size.
        expect(s.post("/api/v1/models/q/versions", {"schema": SCHEMA}), 201)
        big = row(1, "a", label=[123456.5] * 10000)
        r = expect(s.post(base("q", 2) + "/predictions?on_invalid=quarantine",
                          {"predictions": [big]}), 200)
        assert r == {"accepted": 0, "quarantined": 1}
        x = expect(s.get(base("q", 2) + "/quarantine"), 200)["rows"][0]
        assert not x["row_kept"] and "row" not in x and x["row_bytes"] > 65536
        assert x["errors"][0]["field"] == "label"


def test_quarantine_ages_out_with_retention():
    with served() as s:
        make_model(s)
        old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * 86400))
        r = expect(s.post(base() + "/predictions?on_invalid=quarantine", {"predictions": [
            row("x", "a", timestamp=old), row("y", "a")]}), 200)
        assert r == {"accepted": 0, "quarantined": 2}
        s.stop()
        later = Server(data_dir=s.data_dir, args=["--retention-days", "30"])
        later.token = s.token
        later.start()
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                q = expect(later.get(base() + "/quarantine"), 200)
                if q["count"] == 1:
                    break
                time.sleep(0.2)
            assert q["count"] == 1 and q["rows"][0]["row"]["features"]["age"] == "y", q
        finally:
            later.stop()


def test_quarantine_keeps_hashed_and_dropped_columns_private_and_erases_by_id():
    """A hashed column is stored hashed and a dropped one not at all in the
    quarantine too; erasure by id deletes the quarantined rows that carried
    the id."""
    schema = {"features": [{"name": "age", "type": "numeric"},
                           {"name": "email", "type": "categorical", "privacy": "hash"},
                           {"name": "ssn", "type": "numeric", "privacy": "drop"}],
              "prediction": {"type": "numeric"}}
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "pq"}), 201)
        expect(s.post("/api/v1/models/pq/versions", {"schema": schema}), 201)
        r = expect(s.post(base("pq") + "/predictions?on_invalid=quarantine", {"predictions": [
            {"id": "p1", "features": {"age": 30, "email": "bob@example.com", "ssn": 111},
             "prediction": 1},
            {"id": "p2", "features": {"age": "x", "email": "alice@example.com", "ssn": 222},
             "prediction": 1},
            {"id": "p3", "features": {"age": "y", "email": {"no": 1}, "ssn": 333},
             "prediction": 1}]}), 200)
        assert r == {"accepted": 1, "quarantined": 2}, r
        q = expect(s.get(base("pq") + "/quarantine"), 200)
        rows = {x["row"]["id"]: x["row"]["features"] for x in q["rows"]}
        h = rows["p2"]["email"]
        assert len(h) == 64 and all(c in "0123456789abcdef" for c in h), rows
        assert rows["p2"]["ssn"] is None and rows["p2"]["age"] == "x", rows
        assert rows["p3"]["email"] is None and rows["p3"]["ssn"] is None, rows
        assert "alice" not in q.__repr__() and "alice" not in str(
            s.sql("SELECT row_json FROM mon_quarantine")), "plain value stored"
        # The same hash the column blocks hold for that value.
        expect(s.post(base("pq") + "/predictions", {"predictions": [
            {"id": "p4", "features": {"age": 1, "email": "alice@example.com", "ssn": 1},
             "prediction": 1}]}), 200)
        cats = [v for (v,) in s.sql("SELECT value FROM mon_categories")]
        assert h in cats, (h, cats)
        e = expect(s.post("/api/v1/models/pq/erasure", {"ids": ["p2", "p9"]}), 200)
        assert e["quarantined"] == 1, e
        q = expect(s.get(base("pq") + "/quarantine"), 200)
        assert [x["row"]["id"] for x in q["rows"]] == ["p3"], q


if __name__ == "__main__":
    run(globals())
