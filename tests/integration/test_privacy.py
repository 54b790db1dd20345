"""Privacy of logged data (issue 19 items 2 and 3), over the real binary on
both backends.

Erasure: POST /api/v1/models/{name}/erasure {ids} (admin) removes the
predictions and labels with those ids from every version of the model -
rows of column blocks (rewritten), prediction ids, labels, and a
categorical value only erased rows used - answers with counts per version,
is audited without the ids, and drift reports no longer count the rows. On
SQLite a distinctive id, numeric value and category are then found in
neither the database file nor its WAL; on PostgreSQL in no pg_dump.

Retention per model: PUT /api/v1/models/{name}/retention {days} (admin),
shown on GET of the model; the retention pass keeps less for a model with
1 day and more for one with 60 days than the server's --retention-days."""
import os
import struct
import subprocess
import time
from datetime import datetime, timedelta, timezone

from mwtest import BIN, Server, db_args, expect, run, served
from test_secrets_at_rest import stored_bytes


def stored(data, needle):
    """needle (bytes) is in data as it is, or hex-encoded (a bytea or text
    column in a pg_dump)."""
    return needle in data or needle.hex().encode() in data

ARGS = ["--eval-interval-seconds", "0", "--access-log", "off"]
SCHEMA = {"features": [{"name": "age", "type": "numeric"},
                       {"name": "city", "type": "categorical"}],
          "prediction": {"type": "categorical"}}
NEEDLE_ID = "ERASEME-7f3c9a-person@example.org"
NEEDLE_CITY = "Zzyzx-Springs-ERASE-9931"
NEEDLE_AGE = 12345.678901234  # its 8 bytes are searched for


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def base(model, v):
    return "/api/v1/models/%s/versions/%d" % (model, v)


def make(s, model, versions=1, schema=SCHEMA):
    expect(s.post("/api/v1/models", {"name": model}), 201)
    ref = [{"features": {"age": 20 + i % 50, "city": "c%d" % (i % 4)},
            "prediction": "yes" if i % 3 else "no"} for i in range(200)]
    for v in range(1, versions + 1):
        expect(s.post("/api/v1/models/%s/versions" % model, {"schema": schema}), 201)
        expect(s.put(base(model, v) + "/reference", {"rows": ref}), 200)


def rows(n, prefix, ts=None, start=0):
    out = []
    for i in range(start, start + n):
        r = {"id": "%s%d" % (prefix, i),
             "features": {"age": 20 + i % 50, "city": "c%d" % (i % 4)},
             "prediction": "yes" if i % 3 else "no"}
        if ts:
            r["timestamp"] = ts
        out.append(r)
    return out


def window_count(s, model, v, hours=48):
    now = datetime.now(timezone.utc)
    q = "?from=%s&to=%s" % (iso(now - timedelta(hours=hours)),
                            iso(now + timedelta(minutes=5)))
    r = expect(s.get(base(model, v) + "/drift" + q), 200)
    return r["window"]["count"], r


# ------------------------------------------------------------------ erasure

def test_erasure_removes_rows_everywhere():
    with served(args=ARGS) as s:
        make(s, "fraud", versions=2)
        # Version 1: 300 rows, one of them the person's, with a label.
        batch = rows(300, "p")
        batch[150] = {"id": NEEDLE_ID, "features": {"age": NEEDLE_AGE,
                                                    "city": NEEDLE_CITY},
                      "prediction": "yes", "label": "no"}
        expect(s.post(base("fraud", 1) + "/predictions", {"predictions": batch}), 200)
        # Version 2 (a shadow candidate) logged the same id, and one more.
        b2 = rows(20, "p") + [{"id": NEEDLE_ID, "features": {"age": NEEDLE_AGE,
                                                             "city": NEEDLE_CITY},
                               "prediction": "no"}]
        expect(s.post(base("fraud", 2) + "/predictions", {"predictions": b2}), 200)
        expect(s.post(base("fraud", 2) + "/labels",
                      {"labels": [{"id": NEEDLE_ID, "label": "yes"},
                                  {"id": "p3", "label": "no"}]}), 200)
        before, rep = window_count(s, "fraud", 1)
        assert before == 300
        age = next(c for c in rep["columns"] if c["name"] == "age")
        assert age["stats"]["max"] == NEEDLE_AGE, age
        assert NEEDLE_CITY in str(rep)
        # A report that was cached (the live-window cache) must not keep it.
        window_count(s, "fraud", 1)

        # Bounded, validated input; admin only.
        expect(s.post("/api/v1/models/fraud/erasure", {"ids": []}), 422)
        expect(s.post("/api/v1/models/fraud/erasure", {"ids": [{"x": 1}]}), 422)
        expect(s.post("/api/v1/models/fraud/erasure", {"idz": ["a"]}), 422)
        expect(s.post("/api/v1/models/fraud/erasure", ["a"]), 400)
        expect(s.post("/api/v1/models/fraud/erasure", "a"), 400)
        expect(s.post("/api/v1/models/fraud/erasure", {"ids": "a"}), 422)
        expect(s.post("/api/v1/models/fraud/erasure", {"ids": ["x" * 257]}), 422)
        expect(s.post("/api/v1/models/fraud/erasure",
                      {"ids": ["x%d" % i for i in range(10001)]}), 422)
        expect(s.post("/api/v1/models/nope/erasure", {"ids": ["a"]}), 404)
        tok = s.token_with("promoter", ["read", "ingest", "promote"])
        expect(s.post("/api/v1/models/fraud/erasure", {"ids": ["a"]}, token=tok), 403)

        r = expect(s.post("/api/v1/models/fraud/erasure",
                          {"ids": [NEEDLE_ID, "p7", "p7", "never-logged"]}), 200)
        assert r["ids"] == 3, r
        per = {v["version"]: v for v in r["versions"]}
        assert per[1]["predictions"] == 2 and per[1]["labels"] == 1, r
        assert per[2]["predictions"] == 2 and per[2]["labels"] == 1, r
        assert r["predictions"] == 4 and r["labels"] == 2, r
        assert r["prediction_ids"] == 4, r
        assert r["categories"] >= 1, r  # the city only the person had
        assert r["files_scrubbed"] is True, r

        # Drift no longer counts them; the other rows are all there.
        after, rep = window_count(s, "fraud", 1)
        assert after == 298, after
        age = next(c for c in rep["columns"] if c["name"] == "age")
        assert age["stats"]["max"] < 1000, age
        assert NEEDLE_CITY not in str(rep)
        assert window_count(s, "fraud", 2)[0] == 19

        # Labels of erased ids are gone: a new label for it is refused
        # (its prediction is gone too); another id still takes one.
        expect(s.post(base("fraud", 1) + "/labels",
                      {"labels": [{"id": NEEDLE_ID, "label": "yes"}]}), 422)
        expect(s.post(base("fraud", 1) + "/labels",
                      {"labels": [{"id": "p8", "label": "yes"}]}), 200)
        # The id can be logged again (nothing of it is left).
        expect(s.post(base("fraud", 1) + "/predictions",
                      {"predictions": [{"id": "p7", "features": {"age": 1, "city": "c1"},
                                        "prediction": "no"}]}), 200)

        # Erasing again finds nothing: idempotent.
        r2 = expect(s.post("/api/v1/models/fraud/erasure", {"ids": [NEEDLE_ID]}), 200)
        assert r2["predictions"] == 0 and r2["labels"] == 0 and r2["versions"] == [], r2

        # Audited with the counts, never the ids.
        audit = expect(s.get("/api/v1/audit?action=model.erasure"), 200)
        items = audit.get("items", audit.get("entries", []))
        assert len(items) == 2, audit
        assert NEEDLE_ID not in str(audit)

        # Nowhere in the files (SQLite: the database and its WAL).
        data = stored_bytes(s)
        assert not stored(data, NEEDLE_ID.encode())
        assert not stored(data, NEEDLE_CITY.encode())
        assert not stored(data, struct.pack("<d", NEEDLE_AGE))
        assert stored(data, b"p151")  # the others are still there


def test_erasure_needle_found_without_erasure():
    """The search can fail: the same values are found while stored."""
    with served(args=ARGS) as s:
        make(s, "m")
        batch = rows(50, "q")
        batch[10] = {"id": NEEDLE_ID, "features": {"age": NEEDLE_AGE,
                                                   "city": NEEDLE_CITY},
                     "prediction": "yes"}
        expect(s.post(base("m", 1) + "/predictions", {"predictions": batch}), 200)
        data = stored_bytes(s)
        assert stored(data, NEEDLE_ID.encode())
        assert stored(data, NEEDLE_CITY.encode())
        assert stored(data, struct.pack("<d", NEEDLE_AGE))


def test_erasure_survives_restart_and_keeps_categories_in_use():
    with served(args=ARGS) as s:
        make(s, "m")
        batch = rows(40, "r")
        expect(s.post(base("m", 1) + "/predictions", {"predictions": batch}), 200)
        # r1's city c1 is used by other rows: the dictionary keeps it.
        r = expect(s.post("/api/v1/models/m/erasure", {"ids": ["r1", 5]}), 200)
        assert r["predictions"] == 1 and r["categories"] == 0, r
        s.stop()
        s.start()
        n, rep = window_count(s, "m", 1)
        assert n == 39
        cats = s.sql("SELECT value FROM mon_categories ORDER BY value")
        assert ["c1"] in [list(x) for x in cats], cats


# ---------------------------------------------------------------- retention

def test_retention_per_model():
    old = datetime.now(timezone.utc) - timedelta(days=3)
    older = datetime.now(timezone.utc) - timedelta(days=40)
    with served(args=ARGS + ["--retention-days", "30"]) as s:
        for m in ("short", "dflt", "long"):
            make(s, m)
        # Before any row is logged: a retention pass runs a second after
        # start, and would take long's 40-day-old rows at the default.
        expect(s.put("/api/v1/models/long/retention", {"days": 60}), 200)
        for m in ("short", "dflt", "long"):
            expect(s.post(base(m, 1) + "/predictions",
                          {"predictions": rows(10, "a", iso(old)) +
                           rows(5, "b", iso(older))}), 200)
        g = expect(s.get("/api/v1/models/short"), 200)
        assert g["retention_days"] is None, g
        expect(s.put("/api/v1/models/short/retention", {"days": 0}), 422)
        expect(s.put("/api/v1/models/short/retention", {"days": 1.5}), 422)
        expect(s.put("/api/v1/models/short/retention", {"days": "1"}), 422)
        expect(s.put("/api/v1/models/short/retention", {"dayz": 1}), 422)
        expect(s.put("/api/v1/models/short/retention", [1]), 400)
        expect(s.put("/api/v1/models/short/retention", {}), 422)
        expect(s.put("/api/v1/models/short/retention", {"days": 36501}), 422)
        expect(s.put("/api/v1/models/nope/retention", {"days": 1}), 404)
        tok = s.token_with("promoter", ["read", "ingest", "promote"])
        expect(s.put("/api/v1/models/short/retention", {"days": 1}, token=tok), 403)
        r = expect(s.put("/api/v1/models/short/retention", {"days": 1}), 200)
        assert r == {"model": "short", "retention_days": 1,
                     "default_retention_days": 30}, r
        # Set and cleared again: the default applies.
        expect(s.put("/api/v1/models/dflt/retention", {"days": 2}), 200)
        r = expect(s.put("/api/v1/models/dflt/retention", {"days": None}), 200)
        assert r["retention_days"] is None, r
        assert expect(s.get("/api/v1/models/short"), 200)["retention_days"] == 1
        assert expect(s.get("/api/v1/models/long"), 200)["retention_days"] == 60
        assert expect(s.get("/api/v1/models/dflt"), 200)["retention_days"] is None
        audit = expect(s.get("/api/v1/audit?action=model.retention"), 200)
        assert len(audit.get("items", audit.get("entries", []))) == 4, audit
        # The retention pass runs about a second after start.
        s.stop()
        s.start()
        want = {"short": 0, "dflt": 10, "long": 15}
        deadline = time.time() + 30
        while True:
            got = {m: window_count(s, m, 1, hours=24 * 50)[0] for m in want}
            if got == want or time.time() > deadline:
                break
            time.sleep(0.5)
        assert got == want, got


def test_retention_per_model_with_forever_default():
    """--retention-days 0 keeps everything, except where a model says."""
    old = datetime.now(timezone.utc) - timedelta(days=3)
    with served(args=ARGS + ["--retention-days", "0"]) as s:
        for m in ("short", "dflt"):
            make(s, m)
            expect(s.post(base(m, 1) + "/predictions",
                          {"predictions": rows(10, "a", iso(old))}), 200)
        expect(s.put("/api/v1/models/short/retention", {"days": 1}), 200)
        s.stop()
        s.start()
        deadline = time.time() + 30
        while window_count(s, "short", 1, hours=24 * 5)[0] and time.time() < deadline:
            time.sleep(0.5)
        assert window_count(s, "short", 1, hours=24 * 5)[0] == 0
        assert window_count(s, "dflt", 1, hours=24 * 5)[0] == 10


# ------------------------------------------------------- sensitive columns

PSCHEMA = {"features": [{"name": "email", "type": "categorical", "privacy": "hash"},
                        {"name": "zip", "type": "numeric", "privacy": "hash"},
                        {"name": "income", "type": "numeric", "privacy": "drop"},
                        {"name": "note", "type": "categorical", "privacy": "drop"},
                        {"name": "age", "type": "numeric", "privacy": "keep"}],
           "prediction": {"type": "categorical"}}
EMAILS = ["alice.SECRET1@example.org", "bob.SECRET2@example.org",
          "carol.SECRET3@example.org"]
NEW_EMAIL = "mallory.SECRET9@example.org"
INCOME = 987654.321
ZIP = 94110777


def prow(i, email=None):
    return {"features": {"email": email or EMAILS[i % 3], "zip": ZIP + i % 2,
                         "income": INCOME + i % 2, "note": "NOTE-SECRET-%d" % (i % 2),
                         "age": 30 + i % 7},
            "prediction": "yes" if i % 2 else "no"}


def is_hash(x):
    return isinstance(x, str) and len(x) == 64 and all(c in "0123456789abcdef" for c in x)


def hashes_of(s, model, v=1):
    """The dictionary of each hashed column, as the reference shows it."""
    ref = expect(s.get(base(model, v) + "/reference"), 200)
    return {c["name"]: c for c in ref["columns"]}


def test_sensitive_columns_hash_and_drop():
    with served(args=ARGS) as s:
        expect(s.post("/api/v1/models", {"name": "pii"}), 201)
        bad = {"features": [{"name": "a", "type": "numeric", "privacy": "encrypt"}],
               "prediction": {"type": "numeric"}}
        expect(s.post("/api/v1/models/pii/versions", {"schema": bad}), 422)
        bad = {"features": [{"name": "a", "type": "numeric"}],
               "prediction": {"type": "numeric", "privacy": "hash"}}
        expect(s.post("/api/v1/models/pii/versions", {"schema": bad}), 422)
        expect(s.post("/api/v1/models/pii/versions", {"schema": PSCHEMA}), 201)
        # No route changes a version's schema, so none changes its privacy.
        kept = dict(PSCHEMA, features=[dict(f, privacy="keep") for f in PSCHEMA["features"]])
        for method in ("PATCH", "PUT"):
            r = s.request(method, "/api/v1/models/pii/versions/1", {"schema": kept})
            assert r.status in (404, 405), r
        got = expect(s.get("/api/v1/models/pii/versions/1"), 200)["schema"]
        assert got == PSCHEMA, got
        ref = [prow(i) for i in range(300)]
        expect(s.put(base("pii", 1) + "/reference", {"rows": ref}), 200)
        # Validated as declared; the value never appears in the error.
        r = s.post(base("pii", 1) + "/predictions",
                   {"predictions": [dict(prow(0), features=dict(
                       prow(0)["features"], zip="ZIP-SECRET-TEXT",
                       income="INCOME-SECRET-TEXT"))]})
        expect(r, 422)
        fields = sorted(e["field"] for e in r.json["error"]["details"]["errors"])
        assert fields == ["features.income", "features.zip"], r.json
        assert "SECRET" not in r.raw, r.raw
        now = datetime.now(timezone.utc)
        batch = [dict(prow(i), timestamp=iso(now)) for i in range(200)]
        batch += [dict(prow(i, NEW_EMAIL), timestamp=iso(now)) for i in range(200)]
        expect(s.post(base("pii", 1) + "/predictions", {"predictions": batch}), 200)
        n, rep = window_count(s, "pii", 1)
        assert n == 400
        cols = {c["name"]: c for c in rep["columns"]}
        # Hashed: categorical, drift on the hashes - the new address shows up.
        assert cols["email"]["type"] == "categorical", cols["email"]
        assert cols["zip"]["type"] == "categorical", cols["zip"]
        assert cols["email"]["drifted"] is True, cols["email"]
        assert cols["zip"]["drifted"] is False, cols["zip"]
        cats = cols["email"]["histogram"]["categories"]
        assert len(cats) == 4 and all(is_hash(c) for c in cats), cats
        # Dropped: validated and counted as rows, stored as nothing.
        assert cols["income"]["stats"]["count"] == 0, cols["income"]
        assert cols["income"]["drifted"] is False, cols["income"]
        assert cols["income"]["status"] != "ok", cols["income"]
        assert cols["note"]["stats"]["count"] == 0, cols["note"]
        assert cols["age"]["stats"]["count"] == 400
        ref_cols = hashes_of(s, "pii")
        assert ref_cols["email"]["type"] == "categorical"
        # Nowhere in the files, the server's log or an answer.
        data = stored_bytes(s)
        for needle in [e.encode() for e in EMAILS + [NEW_EMAIL]] + [
                b"NOTE-SECRET", str(ZIP).encode(), struct.pack("<d", INCOME),
                struct.pack("<d", float(ZIP))]:
            assert not stored(data, needle), needle
        assert stored(data, struct.pack("<d", 30.0))  # age is kept
        assert "SECRET" not in s.logtext()
        assert "SECRET" not in str(rep) and str(ZIP) not in str(rep)


def test_segment_rule_on_private_column_keeps_no_raw_value():
    """An alert rule's segment value on a hashed column is matched against
    the dictionary, which holds hashes: a raw value would never match (the
    rule silently never fires) and would be stored, returned and audited in
    clear. On a dropped column no row has a value. Both are refused, the
    value named nowhere; a hash (as the drift page shows it) is accepted."""
    with served(args=ARGS) as s:
        expect(s.post("/api/v1/models", {"name": "pr"}), 201)
        expect(s.post("/api/v1/models/pr/versions", {"schema": PSCHEMA}), 201)
        expect(s.put(base("pr", 1) + "/reference",
                     {"rows": [prow(i) for i in range(60)]}), 200)

        def rule(name, seg):
            return s.post("/api/v1/alert-rules", {
                "name": name, "model": "pr", "version": 1,
                "metric": "dataset_drift_share", "op": ">", "threshold": 0.3,
                "for_seconds": 0, "window_seconds": 600, "interval_seconds": 3600,
                "segment": seg})

        r = rule("raw", {"email": EMAILS[0]})
        expect(r, 422, "validation_failed")
        assert "hash" in r.json["error"]["message"], r.json
        assert "SECRET" not in r.raw, r.raw
        r = rule("dropped", {"note": "NOTE-SECRET-0"})
        expect(r, 422, "validation_failed")
        assert "drop" in r.json["error"]["message"], r.json
        assert "SECRET" not in r.raw, r.raw
        h = sorted(hashes_of(s, "pr")["email"]["categories"])[0]
        assert is_hash(h), h
        made = expect(rule("hashed", {"email": h}), 201)
        assert made["segment"] == {"email": h}, made
        ev = expect(s.post("/api/v1/alert-rules/hashed/evaluate"), 200)
        assert ev["state"] != "firing", ev
        assert "SECRET" not in str(s.sql("SELECT segment FROM alert_rules"))
        assert "SECRET" not in str(s.sql("SELECT details FROM audit_log"))
        assert "SECRET" not in s.logtext()


def test_hashes_stable_across_rotate_key():
    with served(args=ARGS) as s:
        expect(s.post("/api/v1/models", {"name": "pii"}), 201)
        expect(s.post("/api/v1/models/pii/versions", {"schema": PSCHEMA}), 201)
        expect(s.put(base("pii", 1) + "/reference",
                     {"rows": [prow(i) for i in range(60)]}), 200)
        before = s.sql("SELECT col, code, value FROM mon_categories ORDER BY col, code")
        sealed = s.sql("SELECT secret FROM privacy_key")[0][0]
        assert sealed.startswith("enc:v1:"), sealed
        s.stop()
        new_key = os.path.join(s.data_dir, "new.key")
        p = subprocess.run([BIN, "rotate-key", "--new-key-file", new_key,
                            "--data-dir", s.data_dir] + db_args(s.data_dir),
                           capture_output=True, text=True)
        assert p.returncode == 0, p
        after_sealed = s.sql("SELECT secret FROM privacy_key")[0][0]
        assert after_sealed != sealed and after_sealed.startswith("enc:v1:")
        os.replace(new_key, os.path.join(s.data_dir, "secret.key"))
        s.start()
        now = datetime.now(timezone.utc)
        expect(s.post(base("pii", 1) + "/predictions",
                      {"predictions": [dict(prow(i), timestamp=iso(now))
                                       for i in range(60)]}), 200)
        after = s.sql("SELECT col, code, value FROM mon_categories ORDER BY col, code")
        # The same values gave the same hashes: no new dictionary entry.
        assert after == before, (before, after)
        n, rep = window_count(s, "pii", 1)
        email = next(c for c in rep["columns"] if c["name"] == "email")
        assert n == 60 and email["drifted"] is False, email


if __name__ == "__main__":
    run(globals())
