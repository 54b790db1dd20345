"""Registry over HTTP: models, versions, artifacts, aliases, rollback, nodes."""
import hashlib
import http.client
import os
import threading

import mwtest
from mwtest import Server, expect, only_postgres, run, served

SCHEMA = {"features": [{"name": "age", "type": "numeric"},
                       {"name": "country", "type": "categorical"}],
          "prediction": {"type": "categorical"}}


def make_version(s, model, body=b"model-bytes", **meta):
    v = expect(s.post("/api/v1/models/%s/versions" % model, meta or {"schema": SCHEMA}), 201)
    digest = hashlib.sha256(body).hexdigest()
    r = s.request("PUT", "/api/v1/models/%s/versions/%d/artifact" % (model, v["version"]),
                  raw=body, headers={"X-Content-SHA256": digest})
    expect(r, 200)
    return v["version"]


def test_model_crud_and_names():
    with served() as s:
        m = expect(s.post("/api/v1/models", {"name": "fraud", "description": "card fraud",
                                             "tags": {"team": "risk"}}), 201)
        assert m["name"] == "fraud" and m["aliases"] == {} and m["latest_version"] is None
        assert m["tags"] == {"team": "risk"}
        expect(s.post("/api/v1/models", {"name": "fraud"}), 409, "conflict")
        for bad in ["../x", "", "a" * 129, "caf\u00e9", ".hidden", "a/b", "a b"]:
            expect(s.post("/api/v1/models", {"name": bad}), 422, "validation_failed")
        expect(s.post("/api/v1/models", {"name": 7}), 422)
        expect(s.post("/api/v1/models", {"name": "x", "tags": {"a": 1}}), 422)
        expect(s.post("/api/v1/models", {"name": "x", "description": 5}), 422)
        assert expect(s.post("/api/v1/models", {"name": "a" * 128}), 201)
        got = expect(s.get("/api/v1/models/fraud"), 200)
        assert got["description"] == "card fraud"
        expect(s.get("/api/v1/models/nope"), 404, "not_found")
        # %2F in a path segment stays inside the name, which no model has.
        expect(s.get("/api/v1/models/..%2Fx"), 404)
        upd = expect(s.patch("/api/v1/models/fraud", {"description": "new",
                                                      "tags": {"team": "ml"}}), 200)
        assert upd["description"] == "new" and upd["tags"] == {"team": "ml"}
        upd = expect(s.patch("/api/v1/models/fraud", {"tags": {"x": "y"}}), 200)
        assert upd["description"] == "new"
        expect(s.patch("/api/v1/models/nope", {"description": "x"}), 404)
        expect(s.delete("/api/v1/models/" + "a" * 128), 200)
        expect(s.get("/api/v1/models/" + "a" * 128), 404)


def test_list_pagination_and_search():
    with served() as s:
        names = ["m%02d" % i for i in range(25)] + ["Fraud-A", "fraud-b"]
        for n in names:
            expect(s.post("/api/v1/models", {"name": n}), 201)
        seen, tok = [], None
        while True:
            q = "/api/v1/models?limit=10" + ("&page_token=" + tok if tok else "")
            page = expect(s.get(q), 200)
            assert len(page["models"]) <= 10
            seen += [m["name"] for m in page["models"]]
            tok = page["next_page_token"]
            if not tok:
                break
        assert seen == sorted(names), seen
        found = [m["name"] for m in expect(s.get("/api/v1/models?q=FRAUD"), 200)["models"]]
        assert found == ["Fraud-A", "fraud-b"], found
        expect(s.get("/api/v1/models?page_token=zz"), 400)
        expect(s.get("/api/v1/models?limit=abc"), 400)


def test_versions_and_artifacts():
    with served(args=["--max-artifact", "100000"]) as s:
        expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
        v1 = expect(s.post("/api/v1/models/fraud/versions", {
            "description": "first", "source": "s3://b/k", "run_id": "run-1",
            "tags": {"git": "abc"}, "metrics": {"auc": 0.91}, "params": {"depth": 6},
            "schema": SCHEMA}), 201)
        assert v1["version"] == 1 and v1["status"] == "pending" and v1["sha256"] is None
        assert v1["metrics"] == {"auc": 0.91} and v1["schema"] == SCHEMA
        v2 = expect(s.post("/api/v1/models/fraud/versions", {}), 201)
        assert v2["version"] == 2
        expect(s.post("/api/v1/models/nope/versions", {}), 404)
        expect(s.post("/api/v1/models/fraud/versions", {"metrics": {"auc": "high"}}), 422)
        expect(s.post("/api/v1/models/fraud/versions", {"schema": {"features": [
            {"name": "a", "type": "numeric"}, {"name": "a", "type": "numeric"}],
            "prediction": {"type": "numeric"}}}), 422)
        expect(s.post("/api/v1/models/fraud/versions", {"schema": {"features": [
            {"name": "a", "type": "text"}], "prediction": {"type": "numeric"}}}), 422)
        expect(s.post("/api/v1/models/fraud/versions", {"schema": {"features": []}}), 422)
        art = os.urandom(50000)
        digest = hashlib.sha256(art).hexdigest()
        url = "/api/v1/models/fraud/versions/1/artifact"
        # Missing digest, malformed digest, wrong digest: refused, nothing kept.
        expect(s.request("PUT", url, raw=art), 400)
        expect(s.request("PUT", url, raw=art, headers={"X-Content-SHA256": "abc"}), 400)
        r = s.request("PUT", url, raw=art, headers={"X-Content-SHA256": "0" * 64})
        body = expect(r, 422, "validation_failed")
        assert body["error"]["details"]["actual"] == digest
        # Oversized, announced by Content-Length: refused before reading.
        big = b"x" * 100001
        expect(s.request("PUT", url, raw=big, headers={
            "X-Content-SHA256": hashlib.sha256(big).hexdigest()}), 413, "too_large")
        assert s.stored_artifacts() == []
        assert s.unfinished_uploads() == 0
        assert expect(s.get("/api/v1/models/fraud/versions/1"), 200)["status"] == "pending"
        expect(s.get(url), 404)
        # Upper-case hex is accepted; the version becomes ready.
        ok = expect(s.request("PUT", url, raw=art, headers={"X-Content-SHA256": digest.upper()}), 200)
        assert ok["status"] == "ready" and ok["sha256"] == digest and ok["size"] == 50000
        expect(s.request("PUT", url, raw=art, headers={"X-Content-SHA256": digest}), 409)
        # Identical content for version 2 is stored once.
        expect(s.request("PUT", "/api/v1/models/fraud/versions/2/artifact", raw=art,
                         headers={"X-Content-SHA256": digest}), 200)
        assert s.stored_artifacts() == [digest], s.stored_artifacts()
        # Download: bytes, ETag, digest header, conditional GET.
        c = http.client.HTTPConnection("127.0.0.1", s.port)
        c.request("GET", url, headers={"Authorization": "Bearer " + s.token})
        resp = c.getresponse()
        data = resp.read()
        assert resp.status == 200 and data == art
        assert resp.getheader("X-Content-SHA256") == digest
        assert resp.getheader("ETag") == '"%s"' % digest
        c.request("GET", url, headers={"Authorization": "Bearer " + s.token,
                                       "If-None-Match": '"%s"' % digest})
        resp = c.getresponse()
        resp.read()
        assert resp.status == 304
        c.close()
        lst = expect(s.get("/api/v1/models/fraud/versions?limit=1"), 200)
        assert [v["version"] for v in lst["versions"]] == [2] and lst["next_page_token"]
        lst2 = expect(s.get("/api/v1/models/fraud/versions?limit=1&page_token=" +
                            lst["next_page_token"]), 200)
        assert [v["version"] for v in lst2["versions"]] == [1]
        expect(s.get("/api/v1/models/fraud/versions/99"), 404)
        expect(s.get("/api/v1/models/fraud/versions/abc"), 404)
        expect(s.get("/api/v1/models/fraud/versions/-1"), 404)


def test_oversized_chunked_upload_leaves_nothing():
    with served(args=["--max-artifact", "1000"]) as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models/m/versions", {}), 201)
        c = http.client.HTTPConnection("127.0.0.1", s.port)
        chunks = [b"y" * 600, b"y" * 600]
        c.request("PUT", "/api/v1/models/m/versions/1/artifact", body=iter(chunks),
                  headers={"Authorization": "Bearer " + s.token,
                           "X-Content-SHA256": "1" * 64},
                  encode_chunked=True)
        resp = c.getresponse()
        assert resp.status == 413, resp.status
        resp.read()
        c.close()
        assert s.unfinished_uploads() == 0


def test_aliases_cas_history_rollback():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
        for i in range(3):
            make_version(s, "fraud", body=b"v%d" % i)
        expect(s.post("/api/v1/models/fraud/versions", {}), 201)  # v4 pending
        a = "/api/v1/models/fraud/aliases/production"
        expect(s.put(a, {"version": 4}), 422, "validation_failed")
        expect(s.put(a, {"version": 99}), 404)
        expect(s.put(a, {"version": "1"}), 422)
        expect(s.put("/api/v1/models/fraud/aliases/..bad", {"version": 1}), 422)
        r = expect(s.put(a, {"version": 1, "expected_version": None, "reason": "launch"}), 200)
        assert r == {"alias": "production", "version": 1, "previous_version": None}
        # CAS: must-not-exist fails now; a wrong expected version fails.
        e = expect(s.put(a, {"version": 2, "expected_version": None}), 409, "conflict")
        assert e["error"]["details"]["current_version"] == 1
        expect(s.put(a, {"version": 2, "expected_version": 3}), 409)
        r = expect(s.put(a, {"version": 2, "expected_version": 1}), 200)
        assert r["previous_version"] == 1
        # Same version again: idempotent, no new history row.
        expect(s.put(a, {"version": 2}), 200)
        expect(s.put(a, {"version": 3, "reason": "better auc"}), 200)
        assert expect(s.get("/api/v1/models/fraud"), 200)["aliases"] == {"production": 3}
        assert expect(s.get(a), 200)["version"] == 3
        hist = expect(s.get(a + "/history"), 200)["history"]
        assert [(h["version"], h["previous_version"]) for h in hist] == \
            [(3, 2), (2, 1), (1, None)], hist
        assert hist[0]["actor"] == "token:admin" and hist[0]["reason"] == "better auc"
        assert hist[2]["reason"] == "launch" and hist[0]["at"].endswith("Z")
        # Rollback walks back: 3 -> 2 -> 1, then nothing older.
        r = expect(s.post(a + "/rollback", {"reason": "drift"}), 200)
        assert r == {"alias": "production", "version": 2, "previous_version": 3}
        r = expect(s.request("POST", a + "/rollback"), 200)
        assert r["version"] == 1
        expect(s.post(a + "/rollback", {}), 409, "conflict")
        r = expect(s.post(a + "/rollback", {"to_version": 3, "reason": "fixed"}), 200)
        assert r == {"alias": "production", "version": 3, "previous_version": 1}
        expect(s.post(a + "/rollback", {"to_version": 3}), 409)
        expect(s.post(a + "/rollback", {"to_version": 4}), 422)
        hist = expect(s.get(a + "/history"), 200)["history"]
        assert [h["kind"] for h in hist[:3]] == ["rollback", "rollback", "rollback"]
        assert hist[0]["reason"] == "fixed"
        # Rollback of an alias with no history.
        expect(s.post("/api/v1/models/fraud/aliases/staging/rollback", {}), 404)
        expect(s.put("/api/v1/models/fraud/aliases/staging", {"version": 1}), 200)
        expect(s.post("/api/v1/models/fraud/aliases/staging/rollback", {}), 409)
        # Delete: refused while aliases exist, then alias delete, then model.
        expect(s.delete("/api/v1/models/fraud"), 409, "conflict")
        expect(s.delete("/api/v1/models/fraud/aliases/staging"), 200)
        expect(s.delete("/api/v1/models/fraud/aliases/staging"), 404)
        expect(s.delete(a + "?reason=retire"), 200)
        hist = expect(s.get(a + "/history"), 200)["history"]
        assert hist[0]["kind"] == "delete" and hist[0]["version"] is None \
            and hist[0]["reason"] == "retire"
        expect(s.delete("/api/v1/models/fraud"), 200)


def test_concurrent_cas_exactly_one_wins():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        for i in range(3):
            make_version(s, "m", body=b"%d" % i)
        a = "/api/v1/models/m/aliases/production"
        expect(s.put(a, {"version": 1}), 200)
        for round_ in range(5):
            cur = expect(s.get(a), 200)["version"]
            targets = [v for v in (1, 2, 3) if v != cur]
            results = [None] * 8
            barrier = threading.Barrier(8)

            def promote(i):
                barrier.wait()
                results[i] = s.put(a, {"version": targets[i % 2], "expected_version": cur}).status

            ts = [threading.Thread(target=promote, args=(i,)) for i in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert results.count(200) == 1, (round_, results)
            assert results.count(409) == 7, results
        hist = expect(s.get(a + "/history"), 200)["history"]
        assert len(hist) == 6  # the first set plus one winner per round


def test_cas_across_replicas_exactly_one_wins():
    """Two servers sharing one PostgreSQL database are one registry: of N
    compare-and-swap PUTs with the same expected_version, spread over both,
    exactly one wins, whichever replica it reached."""
    only_postgres("replicas share a PostgreSQL database")
    with served() as s1:
        s2 = Server(args=["--database", mwtest.database_url(s1.data_dir)])
        try:
            s2.start()
            s2.token = s1.token  # the database's admin token (s1 created it)
            expect(s1.post("/api/v1/models", {"name": "m"}), 201)
            for i in range(3):
                make_version(s1, "m", body=b"r%d" % i)
            a = "/api/v1/models/m/aliases/production"
            expect(s2.put(a, {"version": 1}), 200)
            n = 12
            for round_ in range(4):
                cur = expect(s2.get(a), 200)["version"]
                targets = [v for v in (1, 2, 3) if v != cur]
                results = [None] * n
                barrier = threading.Barrier(n)

                def promote(i):
                    srv = (s1, s2)[i % 2]
                    barrier.wait()
                    results[i] = srv.put(a, {"version": targets[i // 2 % 2],
                                             "expected_version": cur}).status

                ts = [threading.Thread(target=promote, args=(i,)) for i in range(n)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                assert results.count(200) == 1, (round_, results)
                assert results.count(409) == n - 1, (round_, results)
                # Both replicas read the winner's move.
                assert expect(s1.get(a), 200) == expect(s2.get(a), 200)
            hist = expect(s1.get(a + "/history"), 200)["history"]
            assert len(hist) == 5, hist  # the first set, one winner per round
            assert [h["previous_version"] for h in hist[:-1]] == \
                [h["version"] for h in hist[1:]], hist
        finally:
            s2.cleanup()


def test_scopes():
    with served() as s:
        reader = s.token_with("reader", ["read"])
        ci = s.token_with("ci", ["promote"])
        ingest = s.token_with("node", ["ingest"])
        expect(s.post("/api/v1/models", {"name": "m"}, token=reader), 403, "forbidden")
        expect(s.post("/api/v1/models", {"name": "m"}, token=ingest), 403)
        expect(s.post("/api/v1/models", {"name": "m"}, token=ci), 201)
        v = expect(s.post("/api/v1/models/m/versions", {}, token=ci), 201)["version"]
        r = s.request("PUT", "/api/v1/models/m/versions/%d/artifact" % v, raw=b"x",
                      token=ci, headers={"X-Content-SHA256": hashlib.sha256(b"x").hexdigest()})
        expect(r, 200)
        expect(s.put("/api/v1/models/m/aliases/prod", {"version": 1}, token=reader), 403)
        expect(s.put("/api/v1/models/m/aliases/prod", {"version": 1}, token=ci), 200)
        expect(s.post("/api/v1/models/m/aliases/prod/rollback", {}, token=reader), 403)
        expect(s.get("/api/v1/models/m", token=reader), 200)
        expect(s.get("/api/v1/models/m", token=ingest), 403)
        expect(s.get("/api/v1/models", token=None), 401)
        # Audit rows name the token that acted.
        rows = s.sql("SELECT actor, action FROM audit_log WHERE action LIKE 'alias%'")
        assert rows == [("token:ci", "alias.set")], rows


def test_nodes_and_outbox_events():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "m"}), 201)
        expect(s.post("/api/v1/models", {"name": "other"}), 201)
        for i in range(2):
            make_version(s, "m", body=b"m%d" % i)
        n1 = expect(s.post("/api/v1/nodes", {"name": "edge-1", "url": "http://localhost:9/a",
                                             "models": ["m"]}), 201)
        assert n1["secret"].startswith("whsec_")
        expect(s.post("/api/v1/nodes", {"name": "edge-2", "url": "http://localhost:9/b",
                                        "models": [{"name": "m", "alias": "staging"}, "other"]}), 201)
        expect(s.post("/api/v1/nodes", {"name": "edge-1", "url": "http://x/", "models": []}), 409)
        expect(s.post("/api/v1/nodes", {"name": "e3", "url": "ftp://x", "models": []}), 422)
        expect(s.post("/api/v1/nodes", {"name": "e3", "url": "http://x/", "models": ["nope"]}), 422)
        expect(s.get("/api/v1/nodes/nope"), 404)
        # The secret is never shown again.
        listed = expect(s.get("/api/v1/nodes"), 200)["nodes"]
        assert [n["name"] for n in listed] == ["edge-1", "edge-2"]
        assert all("secret" not in n for n in listed)
        assert "secret" not in expect(s.get("/api/v1/nodes/edge-1"), 200)
        expect(s.put("/api/v1/models/m/aliases/production", {"version": 1}), 200)
        expect(s.put("/api/v1/models/m/aliases/production", {"version": 2, "reason": "r"}), 200)
        deliveries = expect(s.get("/api/v1/deliveries"), 200)["deliveries"]
        # One event per node serving m, per move: 2 moves x 2 nodes.
        assert len(deliveries) == 4, deliveries
        newest = deliveries[0]["payload"]
        assert newest["type"] == "alias.moved" and newest["model"] == "m"
        assert newest["from_version"] == 1 and newest["to_version"] == 2
        assert newest["reason"] == "r"
        assert newest["artifact"]["sha256"] == hashlib.sha256(b"m1").hexdigest()
        assert newest["artifact"]["url"].endswith("/api/v1/models/m/versions/2/artifact")
        assert {d["target"] for d in deliveries} == {"edge-1", "edge-2"}
        assert len({d["webhook_id"] for d in deliveries}) == 4
        # Without --allow-private-webhooks the worker refuses targets that
        # resolve to loopback: the events are kept, never delivered.
        assert all(d["state"] in ("pending", "failed", "dead") for d in deliveries), deliveries
        expect(s.get("/api/v1/deliveries?state=bogus"), 400)
        assert len(expect(s.get("/api/v1/deliveries?state=delivered"), 200)["deliveries"]) == 0
        page = expect(s.get("/api/v1/deliveries?limit=3"), 200)
        assert len(page["deliveries"]) == 3 and page["next_page_token"]
        rest = expect(s.get("/api/v1/deliveries?limit=3&page_token=" + page["next_page_token"]), 200)
        assert len(rest["deliveries"]) == 1
        # A failed move (CAS conflict) writes no event.
        expect(s.put("/api/v1/models/m/aliases/production", {"version": 1, "expected_version": 1}), 409)
        assert len(expect(s.get("/api/v1/deliveries"), 200)["deliveries"]) == 4
        # Desired vs reported.
        node = expect(s.get("/api/v1/nodes/edge-1"), 200)
        assert node["models"][0]["desired_version"] == 2
        assert node["models"][0]["reported_version"] is None and not node["in_sync"]
        ingest = s.token_with("node", ["ingest"])
        rep = expect(s.post("/api/v1/nodes/edge-1/status",
                            {"models": [{"name": "m", "version": 2, "state": "loaded"}]},
                            token=ingest), 200)
        assert rep["models"][0]["reported_version"] == 2 and rep["in_sync"]
        assert rep["last_seen_at"] is not None
        expect(s.post("/api/v1/nodes/edge-1/status", {"models": [{"name": "m", "version": "x"}]},
                      token=ingest), 422)
        expect(s.post("/api/v1/nodes/nope/status", {"models": []}, token=ingest), 404)
        e2 = expect(s.get("/api/v1/nodes/edge-2"), 200)
        staging = [m for m in e2["models"] if m["name"] == "m"][0]
        assert staging["alias"] == "staging" and staging["desired_version"] is None
        expect(s.delete("/api/v1/nodes/edge-2"), 200)
        expect(s.delete("/api/v1/nodes/edge-2"), 404)


run(globals())
