"""Request bodies must be UTF-8 (RFC 8259): over the real binary, a JSON
body with invalid UTF-8 anywhere (overlong forms, UTF-8-encoded
surrogates, code points past U+10FFFF, truncated sequences, stray
continuation bytes), or with a \\u escape of a lone surrogate, is refused
with 400 invalid_json and stores nothing, on the cJSON routes (models,
versions, alert rules) and the ingest routes with their own parser
(predictions, labels). Valid multi-byte text round-trips byte for byte."""
import hashlib
import json
import os
import sqlite3

from mwtest import expect, run, served

SCHEMA = {"features": [{"name": "city", "type": "categorical"},
                       {"name": "age", "type": "numeric"}],
          "prediction": {"type": "categorical"}}

# (name, bytes): each is invalid wherever it stands in a JSON string.
BAD = [
    ("latin-1 e-acute", b"\xe9"),
    ("overlong slash", b"\xc0\xaf"),
    ("overlong 3-byte", b"\xe0\x80\xaf"),
    ("overlong 4-byte", b"\xf0\x80\x80\xaf"),
    ("surrogate U+D800 in UTF-8", b"\xed\xa0\x80"),
    ("surrogate U+DFFF in UTF-8", b"\xed\xbf\xbf"),
    ("past U+10FFFF", b"\xf4\x90\x80\x80"),
    ("lead byte F5", b"\xf5\x80\x80\x80"),
    ("truncated emoji", b"\xf0\x9f\x98"),
    ("truncated 2-byte", b"\xc3"),
    ("stray continuation", b"\x80"),
    ("byte FF", b"\xff"),
]

# \u escapes standing for a lone surrogate (ASCII bytes, so valid UTF-8):
# refused as invalid JSON by both parsers.
LONE = [b"\\ud800", b"\\udbff x", b"\\ud800\\u0041", b"\\udc00", b"\\udfff\\ud800"]

HOLE = "@@HOLE@@"
CAFE = "caf\u00e9 \U0001F600 \u65e5\u672c"  # café 😀 日本


def body_with(obj, fill):
    """obj as JSON bytes with the placeholder HOLE replaced by raw bytes;
    returns (body, offset of the fill)."""
    text = json.dumps(obj, ensure_ascii=False).encode()
    at = text.index(HOLE.encode())
    return text.replace(HOLE.encode(), fill), at


def db_digest(s):
    """A digest of every row of every table but those the server writes on
    its own (the replicas' heartbeat): equal digests mean no request wrote
    anything."""
    con = sqlite3.connect(os.path.join(s.data_dir, "modelwatch.db"))
    try:
        h = hashlib.sha256()
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
            "('replicas', 'cluster_leader') ORDER BY name")]
        for t in tables:
            rows = con.execute('SELECT * FROM "%s"' % t.replace('"', '""')).fetchall()
            h.update(t.encode())
            h.update(repr(sorted(rows, key=repr)).encode())
        return h.hexdigest()
    finally:
        con.close()


def refused_everywhere(s, method, path, template):
    """Sends template (a JSON object holding HOLE once) with every BAD byte
    sequence and every LONE escape in the hole; each must be a 400
    invalid_json that changes nothing in the database."""
    before = db_digest(s)
    for name, bad in BAD:
        body, at = body_with(template, bad)
        r = expect(s.request(method, path, raw=body), 400, "invalid_json")
        err = r["error"]
        assert "UTF-8" in err["message"], (path, name, r)
        assert err["details"]["offset"] == at, (path, name, at, r)
        assert "offset %d" % at in err["message"], (path, name, r)
    for esc in LONE:
        body, _ = body_with(template, esc)
        expect(s.request(method, path, raw=body), 400, "invalid_json")
    # The same bytes in a key are refused too.
    key_body, at = body_with({HOLE: 1, **{k: v for k, v in template.items()}}, b"\xed\xa0\x80")
    r = expect(s.request(method, path, raw=key_body), 400, "invalid_json")
    assert r["error"]["details"]["offset"] == at, r
    assert db_digest(s) == before, "a refused request changed the database: " + path


def test_registry_routes_refuse_invalid_utf8():
    with served() as s:
        refused_everywhere(s, "POST", "/api/v1/models",
                           {"name": "m", "description": HOLE})
        refused_everywhere(s, "POST", "/api/v1/models",
                           {"name": "m", "tags": {"team": HOLE}})
        assert expect(s.get("/api/v1/models"), 200)["models"] == []
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        refused_everywhere(s, "POST", "/api/v1/models/m/versions",
                           {"description": HOLE, "schema": SCHEMA})
        refused_everywhere(s, "POST", "/api/v1/models/m/versions",
                           {"metrics": {"auc": 0.5}, "params": {"solver": HOLE}})
        assert expect(s.get("/api/v1/models/m/versions"), 200)["versions"] == []


def test_ingest_routes_refuse_invalid_utf8():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models/m/versions", {"schema": SCHEMA}), 201)
        base = "/api/v1/models/m/versions/1"
        row = {"id": "p1", "features": {"city": HOLE, "age": 3}, "prediction": "yes"}
        refused_everywhere(s, "POST", base + "/predictions", {"predictions": [row]})
        row = {"id": HOLE, "features": {"city": "a", "age": 3}, "prediction": "yes"}
        refused_everywhere(s, "POST", base + "/predictions", {"predictions": [row]})
        refused_everywhere(s, "POST", base + "/predictions",
                           {"predictions": [{"features": {"city": "a", "age": 1},
                                             "prediction": HOLE}]})
        # Labels for a stored prediction: refused ones leave it unlabelled.
        expect(s.post(base + "/predictions", {"predictions": [
            {"id": "p1", "features": {"city": "a", "age": 3}, "prediction": "yes"}]}), 200)
        refused_everywhere(s, "POST", base + "/labels",
                           {"labels": [{"id": "p1", "label": HOLE}]})
        refused_everywhere(s, "POST", base + "/labels",
                           {"labels": [{"id": HOLE, "label": "yes"}]})
        # The reference set uses the same reader.
        refused_everywhere(s, "PUT", base + "/reference",
                           {"rows": [{"features": {"city": HOLE, "age": 1},
                                      "prediction": "yes"}]})


def test_alert_rule_create_refuses_invalid_utf8():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models/m/versions", {"schema": SCHEMA}), 201)
        rule = {"name": "r", "model": "m", "version": 1, "metric": "dataset_drift_share",
                "op": ">", "threshold": 0.5}
        refused_everywhere(s, "POST", "/api/v1/alert-rules", dict(rule, labels={"team": HOLE}))
        refused_everywhere(s, "POST", "/api/v1/alert-rules",
                           dict(rule, annotations={"summary": HOLE}))
        refused_everywhere(s, "POST", "/api/v1/alert-rules", dict(rule, severity=HOLE))
        assert expect(s.get("/api/v1/alert-rules"), 200)["rules"] == []
        # The other cJSON routes answer the same (one reader for all).
        refused_everywhere(s, "POST", "/api/v1/tokens", {"name": "t", "scopes": [HOLE]})
        refused_everywhere(s, "POST", "/api/v1/silences",
                           {"matchers": [{"name": "team", "value": HOLE}],
                            "ends_at": "2099-01-01T00:00:00Z", "comment": "c"})


def test_valid_multibyte_text_round_trips():
    with served() as s:
        m = expect(s.post("/api/v1/models", {"name": "m", "description": CAFE,
                                             "tags": {CAFE: CAFE}}), 201)
        assert m["description"] == CAFE and m["tags"] == {CAFE: CAFE}, m
        m = expect(s.get("/api/v1/models/m"), 200)
        assert m["description"] == CAFE and m["tags"] == {CAFE: CAFE}, m
        # Sent raw (not \u-escaped) and escaped: the same text either way.
        raw = json.dumps({"description": CAFE, "schema": SCHEMA, "params": {"k": CAFE}},
                         ensure_ascii=False).encode()
        assert b"\xc3\xa9" in raw
        v = expect(s.request("POST", "/api/v1/models/m/versions", raw=raw), 201)["version"]
        got = expect(s.get("/api/v1/models/m/versions/%d" % v), 200)
        assert got["description"] == CAFE and got["params"] == {"k": CAFE}, got
        # A valid surrogate pair escape is an ordinary character.
        r = expect(s.request("POST", "/api/v1/models", raw=b'{"name": "e", '
                             b'"description": "\\ud83d\\ude00\\u00e9"}'), 201)
        assert r["description"] == "\U0001F600\u00e9", r

        base = "/api/v1/models/m/versions/%d" % v
        rows = [{"id": "%s-%d" % (CAFE, i), "features": {"city": CAFE if i % 2 else "b",
                                                         "age": i},
                 "prediction": "\U0001F600" if i % 2 else "no"} for i in range(6)]
        raw = json.dumps({"predictions": rows}, ensure_ascii=False).encode()
        assert expect(s.request("POST", base + "/predictions", raw=raw), 200) == \
            {"accepted": 6}
        # Labels find the predictions by their multi-byte ids (byte-exact).
        labels = [{"id": r["id"], "label": r["prediction"]} for r in rows]
        raw = json.dumps({"labels": labels}, ensure_ascii=False).encode()
        assert expect(s.request("POST", base + "/labels", raw=raw), 200) == {"accepted": 6}
        # The reference set comes back with its categories intact.
        ref = [{"features": {"city": CAFE, "age": 1}, "prediction": "\U0001F600"},
               {"features": {"city": "b", "age": 2}, "prediction": "no"}]
        raw = json.dumps({"rows": ref}, ensure_ascii=False).encode()
        expect(s.request("PUT", base + "/reference", raw=raw), 200)
        back = expect(s.get(base + "/reference"), 200)
        assert CAFE in json.dumps(back, ensure_ascii=False), back

        rule = expect(s.post("/api/v1/alert-rules", {
            "name": "r", "model": "m", "version": v, "metric": "dataset_drift_share",
            "op": ">", "threshold": 0.5, "labels": {"team": CAFE},
            "annotations": {"summary": CAFE}}), 201)
        got = expect(s.get("/api/v1/alert-rules/r"), 200)
        for x in (rule, got):
            assert x["labels"] == {"team": CAFE} and x["annotations"] == {"summary": CAFE}, x


def test_control_characters_and_nul_escapes_refused():
    """RFC 8259 wants control characters in strings escaped, and a \\u0000
    would cut a stored string short (cJSON ends it there): both are 400
    invalid_json naming the offset, on the cJSON routes and on ingest, and
    nothing is stored. Escaped forms of other control characters are fine."""
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models/m/versions", {"schema": SCHEMA}), 201)
        base = "/api/v1/models/m/versions/1"
        before = db_digest(s)
        for fill in (b"a\x01b", b"tab\there", b"nl\nx", b"\\u0000", b"x\\u0000y"):
            body, at = body_with({"name": "m2", "description": HOLE}, fill)
            r = expect(s.request("POST", "/api/v1/models", raw=body), 400, "invalid_json")
            off = r["error"]["details"]["offset"]
            assert at <= off < at + len(fill), (fill, at, r)
            body, at2 = body_with({"predictions": [{"features": {"city": HOLE, "age": 1},
                                                    "prediction": "yes"}]}, fill)
            r2 = expect(s.request("POST", base + "/predictions", raw=body), 400,
                        "invalid_json")
            # Both readers name the same byte of the fill.
            assert r2["error"]["details"]["offset"] - at2 == off - at, (fill, r, r2)
        assert db_digest(s) == before
        # Escaped, they are ordinary text; an escaped backslash before
        # "u0000" is not a NUL.
        r = expect(s.request("POST", "/api/v1/models", raw=b'{"name": "ok", '
                             b'"description": "a\\u0001\\tb\\\\u0000"}'), 201)
        assert r["description"] == "a\u0001\tb\\u0000", r


run(globals())
