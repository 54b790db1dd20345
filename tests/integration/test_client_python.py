"""The Python client (clients/python, package `modelwatch`) against the real
server: typed errors (409 stale compare-and-swap, 404, 422 with per-row
details, 403 not_approved, 401), the artifact upload streamed with its
sha256, rollouts driven and waited on through the client, webhook
verification (the Standard Webhooks specification's test vector and a real
signed delivery), and PredictionLogger when the server is down, killed
with SIGKILL mid-stream, stalled (SIGSTOP), rate limited (429), behind a
proxy that loses answers, and when its queue is full."""
import hashlib
import http.client
import http.server
import io
import os
import random
import re
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc

from mwtest import Server, only_sqlite, run, served
from test_delivery import Receiver, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
# The package of this tree, even where another one is installed.
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import fraud_sim  # noqa: E402
import modelwatch as mw  # noqa: E402

FAST = ["--rate-limit", "0", "--access-log", "off"]
M = "fraud"


def client(s, token=None, **kw):
    return mw.Client("http://127.0.0.1:%d" % s.port, token or s.token, **kw)


def fraud_model(c, versions=1, reference=True):
    """Model fraud with `versions` ready versions of the examples' schema,
    each with a reference set (so GET .../drift counts the window)."""
    c.create_model(M)
    rng = random.Random(1)
    for v in range(1, versions + 1):
        c.create_version(M, schema=fraud_sim.SCHEMA)
        c.upload_artifact(M, v, io.BytesIO(b"weights of v%d" % v))
        if reference:
            c.set_reference(M, v, rows=[fraud_sim.row(rng, False) for _ in range(200)])


def stored_ids(s, version=1):
    return int(s.sql("SELECT count(*) FROM pred_ids p JOIN model_versions v ON "
                     "v.id = p.version_id WHERE v.version = ?", (version,))[0][0])


def window_count(c, version=1):
    """Predictions stored in the version's window (the drift report's)."""
    now = time.time()
    return c.drift(M, version, from_=now - 3600, to=now + 60)["window"]["count"]


def sample_rows(n, seed=3):
    rng = random.Random(seed)
    return [fraud_sim.sample(rng)[0] for _ in range(n)]


def timed_logs(lg, rows, pace=None):
    """log() of every row; returns the ids and each call's seconds."""
    ids, took = [], []
    pc = time.perf_counter
    for i, f in enumerate(rows):
        t = pc()
        ids.append(lg.log(f, 0.25))
        took.append(pc() - t)
        if pace and i % 100 == 99:
            time.sleep(pace)
    return ids, took


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


# ---------------------------------------------------------------- webhooks

SPEC = {  # the Standard Webhooks specification's published test vector
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def refused(fn):
    try:
        fn()
    except mw.WebhookVerificationError as e:
        return str(e)
    raise AssertionError("verified what it should not have")


def test_webhook_spec_vector():
    v = SPEC
    assert mw.sign_webhook(v["secret"], v["id"], v["timestamp"], v["body"]) == v["signature"]
    headers = {"webhook-id": v["id"], "webhook-timestamp": str(v["timestamp"]),
               "webhook-signature": v["signature"]}
    at = v["timestamp"] + 10
    assert mw.verify_webhook(v["secret"], headers, v["body"], now=at) == {"test": 2432232314}
    # The secret without its prefix, header names in any case, a str body.
    assert mw.verify_webhook(v["secret"][6:], {k.title(): x for k, x in headers.items()},
                             v["body"].decode(), now=at)["test"] == 2432232314
    # Several signatures (key rotation): one valid among others passes.
    many = dict(headers, **{"webhook-signature": "v1,Zm9v v2,%s %s v1,YmFy" % (
        v["signature"][3:], v["signature"])})
    assert mw.verify_webhook(v["secret"], many, v["body"], now=at)["test"] == 2432232314
    # A changed byte, another secret, an unknown scheme, a stale or future
    # timestamp, a missing header: refused.
    refused(lambda: mw.verify_webhook(v["secret"], headers, v["body"] + b" ", now=at))
    refused(lambda: mw.verify_webhook("whsec_" + "QUJD" * 8, headers, v["body"], now=at))
    refused(lambda: mw.verify_webhook(v["secret"], dict(
        headers, **{"webhook-signature": "v2," + v["signature"][3:]}), v["body"], now=at))
    assert "old" in refused(lambda: mw.verify_webhook(v["secret"], headers, v["body"]))
    assert "future" in refused(lambda: mw.verify_webhook(
        v["secret"], headers, v["body"], now=v["timestamp"] - 301))
    mw.verify_webhook(v["secret"], headers, v["body"], now=v["timestamp"] + 300)
    for h in headers:
        refused(lambda: mw.verify_webhook(v["secret"], {k: x for k, x in headers.items()
                                                        if k != h}, v["body"], now=at))
    refused(lambda: mw.verify_webhook(v["secret"], dict(
        headers, **{"webhook-timestamp": "16142653e0"}), v["body"], now=at))


def test_webhook_real_delivery():
    """A node's signed alias.moved and a subscription's event, as the
    server sends them, verify with their secrets and nothing else."""
    rec = Receiver()
    try:
        with served(args=FAST + ["--allow-private-webhooks"]) as s:
            c = client(s)
            fraud_model(c, reference=False)
            node = c.request("POST", "/api/v1/nodes", {
                "name": "edge-1", "url": rec.url("/node"), "models": [M]})
            sub = c.request("POST", "/api/v1/subscriptions", {
                "name": "ci", "url": rec.url("/sub"), "events": ["alias.*"]})
            c.promote(M, "production", 1, expected_version=None, reason="launch")
            for path, secret in (("/node", node["secret"]), ("/sub", sub["secret"])):
                call = wait_for(lambda: rec.calls_to(path), what=path)[0]
                doc = mw.verify_webhook(secret, call["headers"], call["body"])
                kind = doc.get("type")
                assert kind == "alias.moved", doc
                data = doc if path == "/node" else doc["data"]
                assert data["to_version"] == 1 and data["reason"] == "launch", doc
                other = sub["secret"] if path == "/node" else node["secret"]
                refused(lambda: mw.verify_webhook(other, call["headers"], call["body"]))
                refused(lambda: mw.verify_webhook(secret, call["headers"],
                                                  call["body"].replace(b"launch", b"lunch")))
    finally:
        rec.close()


# ---------------------------------------------------------------- registry

def test_typed_errors_and_registry_calls():
    with served(args=FAST) as s:
        c = client(s)
        c.create_model(M, description="card fraud", tags={"team": "risk"})
        try:
            c.create_model(M)
            raise AssertionError("no conflict")
        except mw.Conflict as e:
            assert e.status == 409 and e.code == "conflict" and e.message, e
        try:
            c.get_model("nope")
            raise AssertionError("no 404")
        except mw.NotFound as e:
            assert e.status == 404 and e.code == "not_found" and isinstance(e.details, dict)
            assert isinstance(e, mw.ModelwatchError)
        v = c.create_version(M, schema=fraud_sim.SCHEMA, metrics={"auc": 0.91},
                             params={"depth": 6}, run_id="r1")
        assert v["version"] == 1 and v["status"] == "pending" and v["metrics"] == {"auc": 0.91}
        # 422 with per-row details, nothing stored.
        good = fraud_sim.row(random.Random(2), False)
        bad = {"features": dict(good["features"], age="old"), "prediction": 0.5}
        try:
            c.log_predictions(M, 1, [good, bad, good])
            raise AssertionError("no 422")
        except mw.ValidationError as e:
            assert e.status == 422 and e.code == "validation_failed", e
            assert [(x["index"], x["field"]) for x in e.errors] == [(1, "features.age")], e.errors
            assert e.details["error_count"] == 1
        assert stored_ids(s) == 0
        assert c.log_predictions(M, 1, [dict(good, id="a"), dict(good, id="b")]) == {
            "accepted": 2}
        assert c.log_labels(M, 1, [("a", 0.1), {"id": "b", "label": 0.9}]) == {"accepted": 2}
        # The quarantine: the valid row stored, the bad one kept.
        assert c.log_predictions(M, 1, [dict(good, id="c"), bad], on_invalid="quarantine") == {
            "accepted": 1, "quarantined": 1}
        q = c.list_quarantine(M, 1)
        assert [(x["index"], x["errors"][0]["field"]) for x in q] == [(1, "features.age")], q
        # Privacy: retention of the model's own, erasure by id (admin).
        r = c.set_retention(M, 7)
        assert r["retention_days"] == 7 and c.get_model(M)["retention_days"] == 7, r
        assert c.set_retention(M, None)["retention_days"] is None
        e = c.erase(M, ["a", "c", "never-sent"])
        assert (e["predictions"], e["labels"], e["ids"]) == (2, 1, 3), e
        assert stored_ids(s) == 1  # b is left
        try:
            c.erase(M, [])
            raise AssertionError("no 422")
        except mw.ValidationError as e:
            assert e.status == 422, e
        # 401 and 403 (scope).
        try:
            client(s, token="mw_not_a_token").get_model(M)
            raise AssertionError("no 401")
        except mw.Unauthorized as e:
            assert e.status == 401
        try:
            client(s, token=s.token_with("ro", ["read"])).create_version(M)
            raise AssertionError("no 403")
        except mw.Forbidden as e:
            assert e.code == "forbidden" and "promote" in e.details["required_scopes"], e
        # Unreachable: nothing listens there.
        dead = Server()
        dead.port = 1
        try:
            client(dead, token="x", timeout=2).get_model(M)
            raise AssertionError("reached port 1")
        except mw.Unreachable as e:
            assert e.status is None and isinstance(e, mw.ModelwatchError)
        dead.cleanup()


def test_artifact_upload_streams_with_its_sha256():
    with served(args=FAST) as s:
        c = client(s)
        c.create_model(M)
        for _ in range(3):
            c.create_version(M)
        path = os.path.join(s.data_dir, "model.bin")
        block = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for _ in range(24):
                f.write(block)
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        # From a path: hashed, then sent from the file in chunks; the
        # Python heap never holds more than a few chunks of the 24 MiB.
        tracemalloc.start()
        v = c.upload_artifact(M, 1, path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert v["status"] == "ready" and v["sha256"] == digest and v["size"] == 24 << 20, v
        assert peak < 6 << 20, "upload peaked at %.1f MiB of Python memory" % (peak / 2**20)
        print("  24 MiB upload: Python heap peak %.1f MiB" % (peak / 2**20))
        # Immutable: a second upload is a 409.
        try:
            c.upload_artifact(M, 1, path)
            raise AssertionError("no 409")
        except mw.Conflict:
            pass
        # From an open file positioned past a header: only the rest is sent.
        with open(path, "rb") as f:
            f.seek(1000)
            v = c.upload_artifact(M, 2, f)
        with open(path, "rb") as f:
            f.seek(1000)
            assert v["sha256"] == hashlib.sha256(f.read()).hexdigest() and \
                v["size"] == (24 << 20) - 1000
        # From a pipe (cannot seek): spooled to a temporary file first.
        r, w = os.pipe()
        payload = os.urandom(300000)
        threading.Thread(target=lambda: (os.write(w, payload), os.close(w)), daemon=True).start()
        with os.fdopen(r, "rb") as pipe:
            v = c.upload_artifact(M, 3, pipe)
        assert v["sha256"] == hashlib.sha256(payload).hexdigest(), v
        # Downloaded back and checked.
        out = io.BytesIO()
        assert c.download_artifact(M, 3, out) == v["sha256"] and out.getvalue() == payload
        assert s.unfinished_uploads() == 0


def test_promote_compare_and_swap_and_protected_alias():
    with served(args=FAST) as s:
        c = client(s)
        fraud_model(c, versions=3, reference=False)
        # expected_version=None: "the alias must not exist yet".
        assert c.promote(M, "production", 1, expected_version=None)["previous_version"] is None
        try:
            c.promote(M, "production", 2, expected_version=None)
            raise AssertionError("CAS on an existing alias passed")
        except mw.Conflict as e:
            assert e.current_version == 1, e.details
        assert c.promote(M, "production", 2, expected_version=1, reason="better")["version"] == 2
        try:
            c.promote(M, "production", 3, expected_version=1)  # stale
            raise AssertionError("stale CAS passed")
        except mw.Conflict as e:
            assert e.status == 409 and e.current_version == 2, e
        # Left out: unconditional.
        assert c.promote(M, "production", 3)["previous_version"] == 2
        assert c.rollback(M, "production", reason="oops")["version"] == 2
        assert [h["version"] for h in c.alias_history(M, "production")][:2] == [2, 3]
        # A protected alias refuses an unapproved version: 403 not_approved.
        c.protect_alias(M, "production")
        ci = client(s, token=s.token_with("ci", ["read", "promote"]))
        reviewer = client(s, token=s.token_with("reviewer", ["read", "promote"]))
        v4 = ci.create_version(M, schema=fraud_sim.SCHEMA)["version"]
        ci.upload_artifact(M, v4, io.BytesIO(b"v4"))
        try:
            ci.promote(M, "production", v4)
            raise AssertionError("unapproved promote passed")
        except mw.Forbidden as e:
            assert e.status == 403 and e.code == "not_approved", e
        try:
            ci.approve(M, v4)
            raise AssertionError("self approval passed")
        except mw.Forbidden as e:
            assert e.code == "self_approval", e
        assert reviewer.approve(M, v4, comment="looks good")["approval"]["state"] == "approved"
        assert ci.promote(M, "production", v4, expected_version=2)["version"] == v4


def test_rollouts_through_the_client():
    with served(args=FAST + ["--rollout-tick-ms", "100"]) as s:
        c = client(s)
        fraud_model(c, versions=3, reference=False)
        c.promote(M, "production", 1)
        r = c.start_rollout(M, "production", 2, [(50, 1), {"weight_percent": 100,
                                                           "hold_seconds": 1}],
                            analysis={"min_predictions": 0})
        assert r["state"] == "running" and r["mode"] == "canary", r
        try:
            c.start_rollout(M, "production", 3, [(10, 1)])
            raise AssertionError("second rollout on one alias")
        except mw.Conflict:
            pass
        first = r["id"]
        done = c.wait_rollout(M, first, timeout=30, poll=0.1)
        assert done["state"] == "promoted" and done["events"], done
        assert c.get_alias(M, "production")["version"] == 2
        # Pause, resume, abort by hand; wait_rollout returns the aborted one.
        r = c.start_rollout(M, "production", 3, [(10, 600)],
                            analysis={"min_predictions": 0, "max_mean_abs_diff": 0.5},
                            mode="shadow")
        assert c.pause_rollout(M, r["id"], reason="a look first")["state"] == "paused"
        assert c.resume_rollout(M, r["id"])["state"] == "running"
        try:
            c.wait_rollout(M, r["id"], timeout=0.3, poll=0.1)
            raise AssertionError("a 600 s step ended")
        except mw.RolloutTimeout as e:
            assert isinstance(e, TimeoutError) and e.rollout["state"] == "running"
        c.abort_rollout(M, r["id"], reason="not today")
        done = c.wait_rollout(M, r["id"], timeout=10, poll=0.1)
        assert done["state"] == "aborted" and "not today" in (done["reason"] or ""), done
        assert [x["id"] for x in c.list_rollouts(M)] == [r["id"], first]
        assert [x["id"] for x in c.list_rollouts(M, state="aborted")] == [r["id"]]
        assert c.get_alias(M, "production")["version"] == 2


# ---------------------------------------------------------------- the logger

def test_logger_batches_ids_labels_and_refusals():
    with served(args=FAST) as s:
        c = client(s)
        fraud_model(c)
        seen = []
        lg = mw.PredictionLogger(c, M, 1, batch_size=100, flush_interval=0.5,
                                 on_result=lambda *a: seen.append(a[:2] + (len(a[2]),)))
        rows = sample_rows(250)
        ids = [lg.log(f, 0.5) for f in rows]
        # Ordered ids: UUIDv7, increasing.
        assert ids == sorted(ids) and len(set(ids)) == 250, ids[:3]
        assert all(i[14] == "7" and i[19] in "89ab" for i in ids)
        # 200 go at once (two full batches); the last 50 within the interval.
        wait_for(lambda: lg.stats()["sent"] == 250, 5, "time-based batch")
        assert lg.stats()["batches"] == 3 and ("predictions", "sent", 100) in seen, seen
        # A trickle: each row leaves within the interval, alone.
        for k in range(3):
            t0 = time.time()
            lg.log(rows[k], 0.5)
            wait_for(lambda: lg.stats()["sent"] == 251 + k, 5, "a lone row")
            assert time.time() - t0 < 1.5
        assert lg.stats()["batches"] == 6
        for i in ids[:20]:
            lg.log_label(i, 0.3)
        lg.log_label("never-logged", 0.3)
        # Rows the server refuses are counted, the rest of their batch
        # stored; a caller's id already stored is refused, not taken for
        # a retry's duplicate.
        lg.log(dict(rows[0], age="old"), 0.5)
        lg.log(rows[1], 0.5, id=ids[0])
        lg.log(rows[2], float("nan"), id="given-id", timestamp=time.time() - 60)
        assert lg.flush(10)
        st = lg.stats()
        assert st["sent"] == 254 and st["rejected"] == 2 and st["duplicates_on_retry"] == 0, st
        assert st["labels_sent"] == 20 and st["labels_rejected"] == 1, st
        assert st["last_error"], st
        assert stored_ids(s) == 254 == window_count(c)
        assert int(s.sql("SELECT count(*) FROM labels")[0][0]) == 20
        assert lg.close(5) and lg.log(rows[0], 0.5) is None
        assert lg.stats()["dropped_closed"] == 1
        # A LabelLogger of its own: labels only.
        ll = mw.LabelLogger(c, M, 1, flush_interval=0.05)
        assert ll.log(ids[30], 0.7) and ll.flush(5) and ll.stats()["sent"] == 1
        ll.close()


def test_logger_while_the_server_is_down():
    s = Server(args=FAST).start()
    try:
        c = client(s)
        fraud_model(c)
        s.stop()
        lg = mw.PredictionLogger(c, M, 1, batch_size=200, flush_interval=0.1,
                                 max_backoff=0.5)
        ids, took = timed_logs(lg, sample_rows(2000))
        time.sleep(0.5)
        st = lg.stats()
        assert all(ids) and st["queued"] == 2000 and st["sent"] == 0, st
        assert st["retries"] >= 1 and "refused" in st["last_error"].lower(), st
        print("  server down: log() median %.1f us, max %.2f ms; retries %d" % (
            pct(took, 0.5) * 1e6, max(took) * 1e3, st["retries"]))
        s.start(same_port=True)
        assert lg.flush(30), lg.stats()
        st = lg.stats()
        assert st["sent"] == 2000 and st["queued"] == 0 and st["rejected"] == 0, st
        assert stored_ids(s) == 2000 == window_count(client(s))
        lg.close()
    finally:
        s.stop(check=False)
        s.cleanup()


def test_logger_across_a_sigkill_mid_stream():
    """Logging goes on while the server is killed and restarted: every row
    is stored exactly once (a batch whose answer was lost is re-sent; ids
    the server already has count as duplicates_on_retry)."""
    s = Server(args=FAST).start()
    try:
        c = client(s)
        fraud_model(c)
        lg = mw.PredictionLogger(c, M, 1, batch_size=100, flush_interval=0.05,
                                 max_backoff=0.3)
        rows = sample_rows(12000)
        out = {}
        t = threading.Thread(target=lambda: out.update(r=timed_logs(lg, rows, pace=0.01)))
        t.start()
        wait_for(lambda: lg.stats()["sent"] >= 2000, 20, "traffic flowing")
        s.kill()
        killed_at = lg.stats()["sent"]
        time.sleep(0.7)
        s.start(same_port=True)
        t.join(60)
        ids, took = out["r"]
        assert lg.flush(30), lg.stats()
        st = lg.stats()
        assert all(ids) and st["rejected"] == 0 and st["dropped_queue_full"] == 0, st
        delivered = st["sent"] + st["duplicates_on_retry"]
        assert delivered == 12000 and st["retries"] >= 1, st
        assert stored_ids(s) == 12000 == window_count(client(s)), (stored_ids(s), st)
        print("  SIGKILL after %d rows: %d retries, %d rows were already stored on retry, "
              "log() max %.2f ms" % (killed_at, st["retries"], st["duplicates_on_retry"],
                                     max(took) * 1e3))
        lg.close()
    finally:
        s.stop(check=False)
        s.cleanup()


class LossyProxy:
    """Forwards HTTP to a server; the first `lose` answers to POSTs of
    predictions are dropped (the connection closed after the server
    handled the request), as when a network fails at the worst moment."""

    def __init__(self, upstream_port, lose):
        self.lose = lose
        self.forwarded = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                up = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                up.request(self.command, self.path, body=body, headers=hdrs)
                resp = up.getresponse()
                data = resp.read()
                up.close()
                outer.forwarded += 1
                if self.command == "POST" and self.path.endswith("/predictions") \
                        and outer.lose > 0:
                    outer.lose -= 1
                    self.close_connection = True
                    return  # stored upstream; the client never hears it
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = relay

        class Srv(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.httpd = Srv(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_logger_resends_a_batch_whose_answer_was_lost():
    with served(args=FAST) as s:
        fraud_model(client(s))
        proxy = LossyProxy(s.port, lose=2)
        try:
            c = mw.Client("http://127.0.0.1:%d" % proxy.port, s.token)
            seen = []
            # Full batches only (the interval is longer than the test).
            lg = mw.PredictionLogger(c, M, 1, batch_size=250, flush_interval=30,
                                     max_backoff=0.2, on_result=lambda *a: seen.append(
                                         (a[1], len(a[2]))))
            ids = [lg.log(f, 0.5) for f in sample_rows(1000)]
            assert lg.flush(20), lg.stats()
            st = lg.stats()
            # The first batch was stored twice over the wire, refused the
            # second time as already stored: delivered once.
            assert st["duplicates_on_retry"] == 250 and st["sent"] == 750, st
            assert st["retries"] == 2 and st["rejected"] == 0, st
            assert ("duplicate", 250) in seen, seen
            assert stored_ids(s) == 1000 and all(ids)
            lg.close()
        finally:
            proxy.close()


def test_logger_when_the_server_stalls():
    """A stopped server (SIGSTOP) answers nothing: log() still returns in
    microseconds, the requests time out and are re-sent, and after SIGCONT
    every row is stored once."""
    with served(args=FAST) as s:
        c = client(s)
        fraud_model(c)
        lg = mw.PredictionLogger(c, M, 1, batch_size=100, flush_interval=0.05,
                                 request_timeout=0.5, max_backoff=0.3)
        rows = sample_rows(6000)
        ids, before = timed_logs(lg, rows[:1000])
        assert lg.flush(10)
        s.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            ids2, took = timed_logs(lg, rows[1000:], pace=0.005)
            stalled = time.time() - t0
            time.sleep(max(0.0, 1.5 - stalled))
            assert lg.stats()["retries"] >= 1, lg.stats()
        finally:
            s.proc.send_signal(signal.SIGCONT)
        assert lg.flush(30), lg.stats()
        st = lg.stats()
        assert st["sent"] + st["duplicates_on_retry"] == 6000 and st["rejected"] == 0, st
        assert stored_ids(s) == 6000
        med, p99, worst = pct(took, 0.5), pct(took, 0.99), max(took)
        print("  while stopped for %.1f s: log() median %.1f us, p99 %.1f us, max %.2f ms; "
              "%d retries, %d duplicates on retry" % (
                  max(stalled, 1.5), med * 1e6, p99 * 1e6, worst * 1e3, st["retries"],
                  st["duplicates_on_retry"]))
        # Microseconds, not the stall: generous bounds for a loaded machine.
        assert med < 200e-6 and worst < 0.5, (med, worst)
        lg.close()


def test_logger_honours_retry_after():
    """--rate-limit 5 --rate-burst 5: the server answers 429 with
    Retry-After: 1; the logger waits that long (a handful of 429s, not
    one per 0.1 s backoff) and everything arrives."""
    with served(args=["--access-log", "off", "--rate-limit", "5", "--rate-burst", "5"]) as s:
        fraud_model(client(s), reference=False)
        c = client(s, token=s.token_with("edge", ["ingest", "read"]))
        lg = mw.PredictionLogger(c, M, 1, batch_size=50, flush_interval=0.02)
        t0 = time.time()
        for f in sample_rows(1000):  # 20 batches
            lg.log(f, 0.5)
        assert lg.flush(40), lg.stats()
        took = time.time() - t0
        st = lg.stats()
        assert st["sent"] == 1000 and st["batches"] == 20 and st["rejected"] == 0, st
        assert "rate_limited" in (st["last_error"] or ""), st
        # 5 at once, then 5 a second: 3 s; each 429 is followed by a 1 s wait.
        assert 2.0 < took < 15 and 1 <= st["retries"] <= 8, (took, st)
        print("  rate limited: 20 batches in %.1f s with %d 429s" % (took, st["retries"]))
        assert stored_ids(s) == 1000
        lg.close()


def test_logger_splits_a_batch_over_the_body_cap():
    """--max-body 20000: a 500-row batch (about 90 KB) is refused with 413
    on its Content-Length; the logger halves it until the parts fit."""
    with served(args=FAST + ["--max-body", "20000"]) as s:
        c = client(s)
        fraud_model(c, reference=False)
        try:
            c.log_predictions(M, 1, [fraud_sim.row(random.Random(4), False)] * 500)
            raise AssertionError("no 413")
        except mw.PayloadTooLarge as e:
            assert e.status == 413 and e.code == "too_large", e
        lg = mw.PredictionLogger(c, M, 1, batch_size=500, flush_interval=0.05)
        for f in sample_rows(1000):
            lg.log(f, 0.5)
        assert lg.flush(20), lg.stats()
        st = lg.stats()
        assert st["sent"] == 1000 and st["rejected"] == 0 and st["batches"] >= 8, st
        assert stored_ids(s) == 1000
        lg.close()


def test_logger_queue_full_drops_and_counts():
    with served(args=FAST) as s:
        c = client(s)
        fraud_model(c, reference=False)
        s.proc.send_signal(signal.SIGSTOP)  # nothing drains
        try:
            lg = mw.PredictionLogger(c, M, 1, batch_size=50, queue_size=100,
                                     flush_interval=0.01, request_timeout=5)
            ids, took = timed_logs(lg, sample_rows(1000))
            st = lg.stats()
            kept = [i for i in ids if i]
            # The queue's 100, plus at most three batches of 50: in flight,
            # built and waiting, being built.
            assert st["dropped_queue_full"] == 1000 - len(kept) >= 750, st
            assert st["queued"] == len(kept), (st, len(kept))
            assert max(took) < 0.5
        finally:
            s.proc.send_signal(signal.SIGCONT)
        assert lg.flush(30)
        assert stored_ids(s) == len(kept) == lg.stats()["sent"] + \
            lg.stats()["duplicates_on_retry"]
        lg.close()


def test_installs_offline_and_its_readme_compiles():
    """pip builds and installs the package with no index (Debian's
    setuptools, no build isolation); the README's Python blocks compile."""
    only_sqlite("packaging does not depend on the backend")
    tmp = tempfile.mkdtemp(prefix="mwpip-")
    try:
        src = os.path.join(tmp, "src")  # a copy: pip writes build/ next to it
        shutil.copytree(os.path.join(ROOT, "clients", "python"), src,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        target = os.path.join(tmp, "site")
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                            "--no-index", "--quiet", src, "--target", target],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        p = subprocess.run([sys.executable, "-I", "-c",
                            "import sys; sys.path.insert(0, %r); import modelwatch; "
                            "print(modelwatch.__file__, modelwatch.__version__)" % target],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stdout.startswith(target), p.stdout + p.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(ROOT, "clients", "python", "README.md")) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) >= 2
    for b in blocks:
        compile(b, "clients/python/README.md", "exec")


if __name__ == "__main__":
    run(globals())
