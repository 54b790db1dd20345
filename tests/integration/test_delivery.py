"""Webhook delivery over real HTTP: receivers on loopback started here check
the Standard Webhooks signature, retries with backoff and Retry-After, dead
letters and manual retry, durability across kill -9, two workers on one
database, the egress policy, and every channel's payload."""
import base64
import hashlib
import hmac
import http.server
import json
import shutil
import signal
import socket
import subprocess
import threading
import time

from mwtest import Server, expect, free_port, run, served

PRIVATE = ["--allow-private-webhooks"]


class Receiver:
    """A webhook receiver on 127.0.0.1. `script` maps a path to a list of
    (status, headers) answers used in order (then 200). While `gate` is
    cleared, requests to paths in `slow` wait for it."""

    def __init__(self, script=None, port=0):
        self.calls = []
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.slow = set()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                t = time.time()
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                with rec.lock:
                    answers = rec.script.get(self.path)
                    status, extra = answers.pop(0) if answers else (200, {})
                    rec.calls.append({"t": t, "path": self.path, "headers": hdrs,
                                      "body": body, "status": status})
                if self.path in rec.slow:
                    rec.gate.wait(30)
                try:
                    out = b'{"ok": true}' if status < 300 else b'{"error": "nope"}'
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def calls_to(self, path):
        with self.lock:
            return [c for c in self.calls if c["path"] == path]

    def close(self):
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(fn, timeout=15.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def verify_signature(secret, call):
    """Standard Webhooks verification, as a receiver would do it."""
    h = call["headers"]
    key = base64.b64decode(secret[len("whsec_"):])
    signed = ("%s.%s." % (h["webhook-id"], h["webhook-timestamp"])).encode() + call["body"]
    want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    got = h["webhook-signature"].split(" ")
    assert any(hmac.compare_digest(want, g) for g in got), (want, got)
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 300


def make_version(s, model, body):
    v = expect(s.post("/api/v1/models/%s/versions" % model, {}), 201)
    r = s.request("PUT", "/api/v1/models/%s/versions/%d/artifact" % (model, v["version"]),
                  raw=body, headers={"X-Content-SHA256": hashlib.sha256(body).hexdigest()})
    expect(r, 200)
    return v["version"]


def model_with_versions(s, model="m", n=2):
    expect(s.post("/api/v1/models", {"name": model}), 201)
    for i in range(n):
        make_version(s, model, b"%s-%d" % (model.encode(), i))


def node(s, name, url, model="m"):
    return expect(s.post("/api/v1/nodes", {"name": name, "url": url, "models": [model]}),
                  201)["secret"]


def promote(s, version, model="m", alias="production"):
    expect(s.put("/api/v1/models/%s/aliases/%s" % (model, alias), {"version": version}), 200)


def deliveries(s, state=None):
    q = "/api/v1/deliveries?limit=1000" + ("&state=" + state if state else "")
    return expect(s.get(q), 200)["deliveries"]


def delivery_for(s, target):
    ds = [d for d in deliveries(s) if d["target"] == target]
    return ds[0] if ds else None


def test_signed_alias_moved_reaches_node():
    rec = Receiver()
    try:
        with served(args=PRIVATE) as s:
            model_with_versions(s)
            secret = node(s, "edge-1", rec.url("/edge-1"))
            t0 = time.time()
            promote(s, 1)
            call = wait_for(lambda: rec.calls_to("/edge-1"), what="alias.moved")[0]
            latency = call["t"] - t0
            verify_signature(secret, call)
            h = call["headers"]
            assert h["content-type"] == "application/json"
            assert h["user-agent"].startswith("modelwatch/"), h
            assert h["webhook-id"].startswith("msg_")
            p = json.loads(call["body"])
            assert p["type"] == "alias.moved" and p["model"] == "m"
            assert p["to_version"] == 1 and p["from_version"] is None
            # A tampered body or another secret fails verification.
            bad = dict(call, body=call["body"] + b" ")
            try:
                verify_signature(secret, bad)
                raise RuntimeError("tampered body verified")
            except AssertionError:
                pass
            d = wait_for(lambda: [x for x in deliveries(s, "delivered")
                                  if x["target"] == "edge-1"], what="delivered")[0]
            assert d["webhook_id"] == h["webhook-id"]
            assert d["attempts"] == 1 and d["last_status"] == 200
            assert d["delivered_at"] is not None and d["last_error"] is None
            assert [a["status"] for a in d["attempt_log"]] == [200]
            assert d["attempt_log"][0]["latency_ms"] >= 0
            print("  enqueue->receive latency (PUT alias to node): %.1f ms" % (latency * 1e3))
            # A second move: a new message id, still exactly one call each.
            promote(s, 2)
            wait_for(lambda: len(rec.calls_to("/edge-1")) == 2, what="second move")
            ids = {c["headers"]["webhook-id"] for c in rec.calls_to("/edge-1")}
            assert len(ids) == 2
            time.sleep(0.3)
            assert len(rec.calls_to("/edge-1")) == 2
    finally:
        rec.close()


def test_503_then_200_delivered_once_after_retry():
    rec = Receiver({"/flaky": [(503, {})]})
    try:
        with served(args=PRIVATE) as s:
            model_with_versions(s)
            node(s, "flaky", rec.url("/flaky"))
            promote(s, 1)
            d = wait_for(lambda: [x for x in deliveries(s, "failed") + deliveries(s, "delivered")
                                  if x["target"] == "flaky"], what="first attempt")[0]
            if d["state"] == "failed":
                assert d["last_status"] == 503 and "HTTP 503" in d["last_error"], d
            d = wait_for(lambda: [x for x in deliveries(s, "delivered")
                                  if x["target"] == "flaky"], timeout=12, what="retry")[0]
            calls = rec.calls_to("/flaky")
            assert [c["status"] for c in calls] == [503, 200], calls
            assert len({c["headers"]["webhook-id"] for c in calls}) == 1
            assert d["attempts"] == 2
            assert [a["status"] for a in d["attempt_log"]] == [503, 200]
            # The backoff after the first failure: at least the 1 s floor,
            # at most the 5 s of the schedule (plus polling slack).
            gap = calls[1]["t"] - calls[0]["t"]
            assert 0.9 <= gap <= 6.0, gap
            time.sleep(0.5)
            assert len(rec.calls_to("/flaky")) == 2
    finally:
        rec.close()


def test_429_retry_after_is_honoured():
    rec = Receiver({"/busy": [(429, {"Retry-After": "2"})]})
    try:
        with served(args=PRIVATE) as s:
            model_with_versions(s)
            node(s, "busy", rec.url("/busy"))
            promote(s, 1)
            wait_for(lambda: rec.calls_to("/busy"), what="first call")
            time.sleep(1.8)
            assert len(rec.calls_to("/busy")) == 1, "called again before Retry-After"
            d = delivery_for(s, "busy")
            assert d["state"] == "failed" and d["last_status"] == 429, d
            wait_for(lambda: len(rec.calls_to("/busy")) == 2, timeout=6, what="retry")
            calls = rec.calls_to("/busy")
            gap = calls[1]["t"] - calls[0]["t"]
            assert gap >= 2.0, gap
            d = wait_for(lambda: [x for x in deliveries(s, "delivered")
                                  if x["target"] == "busy"], what="delivered")[0]
            assert d["attempts"] == 2
            print("  429 Retry-After: 2 -> called again after %.2f s" % gap)
    finally:
        rec.close()


def test_400_is_dead_and_manual_retry_requeues():
    rec = Receiver({"/strict": [(400, {}), (422, {})]})
    try:
        with served(args=PRIVATE) as s:
            model_with_versions(s)
            node(s, "strict", rec.url("/strict"))
            promote(s, 1)
            d = wait_for(lambda: [x for x in deliveries(s, "dead")
                                  if x["target"] == "strict"], what="dead")[0]
            assert d["attempts"] == 1 and d["last_status"] == 400, d
            assert d["last_error"].startswith("HTTP 400"), d
            time.sleep(1.5)
            assert len(rec.calls_to("/strict")) == 1, "a 400 was retried"
            did = d["id"]
            reader = s.token_with("reader", ["read"])
            ci = s.token_with("ci", ["promote"])
            retry = "/api/v1/deliveries/%d/retry" % did
            expect(s.post(retry, token=reader), 403, "forbidden")
            expect(s.post(retry, token=None), 401)
            expect(s.post("/api/v1/deliveries/999999/retry"), 404, "not_found")
            expect(s.post("/api/v1/deliveries/abc/retry"), 404)
            r = expect(s.post(retry, token=ci), 200)
            assert r["id"] == did and r["state"] == "pending", r
            # The receiver still refuses once (422): dead again, one attempt
            # of the new budget; then a second retry succeeds.
            wait_for(lambda: delivery_for(s, "strict")["state"] == "dead" and
                     delivery_for(s, "strict")["attempts"] == 2, what="dead again")
            expect(s.post(retry), 200)
            d = wait_for(lambda: [x for x in deliveries(s, "delivered")
                                  if x["target"] == "strict"], what="delivered")[0]
            assert d["attempts"] == 3
            assert [a["status"] for a in d["attempt_log"]] == [400, 422, 200]
            assert [c["status"] for c in rec.calls_to("/strict")] == [400, 422, 200]
            e = expect(s.post(retry), 409, "conflict")
            assert "delivered" in e["error"]["message"]
            audit = s.sql("SELECT actor, action, target FROM audit_log "
                          "WHERE action = 'delivery.retry'")
            assert audit[0] == ("token:ci", "delivery.retry", "delivery:%d" % did), audit
    finally:
        rec.close()


def test_pending_deliveries_survive_kill9():
    slow = Receiver()
    slow.slow.add("/slow")
    slow.gate.clear()
    down_port = free_port()  # nothing listens here until after the crash
    s = Server(args=PRIVATE + ["--delivery-timeout-ms", "3000"])
    up = None
    try:
        s.start()
        model_with_versions(s, n=3)
        node(s, "down", "http://127.0.0.1:%d/down" % down_port)
        node(s, "slow", slow.url("/slow"))
        for v in (1, 2, 3):
            promote(s, v)
        all_ids = {d["webhook_id"] for d in deliveries(s)}
        assert len(all_ids) == 6
        # The slow node holds its first message in flight; the down node's
        # first attempt failed with a connection error.
        wait_for(lambda: slow.calls_to("/slow"), what="slow call in flight")
        wait_for(lambda: any(x["attempts"] >= 1 for x in deliveries(s)
                             if x["target"] == "down"), what="down attempt")
        d = [x for x in deliveries(s) if x["target"] == "down"]
        assert any(x["state"] == "failed" and "network error" in (x["last_error"] or "")
                   for x in d), d
        s.kill()
        # Everything comes back up: the down node listens, the slow one is fast.
        up = Receiver(port=down_port)
        slow.gate.set()
        slow.slow.clear()
        t_restart = time.time()
        s.start()
        wait_for(lambda: len(deliveries(s, "delivered")) == 6, timeout=30,
                 what="all delivered after restart")
        took = time.time() - t_restart
        got = [c["headers"]["webhook-id"] for c in up.calls_to("/down") + slow.calls_to("/slow")]
        assert set(got) == all_ids, (set(got), all_ids)
        dups = len(got) - len(set(got))
        # Only the message in flight at the crash may arrive twice.
        assert dups <= 1, got
        print("  after kill -9: %d/%d webhook-ids received, %d duplicate(s) by "
              "webhook-id (at-least-once), all delivered %.1f s after restart"
              % (len(set(got)), len(all_ids), dups, took))
        # The slow node's messages arrived in the order they were queued.
        order = [json.loads(c["body"])["to_version"] for c in slow.calls_to("/slow")]
        dedup = [v for i, v in enumerate(order) if v not in order[:i]]
        assert dedup == [1, 2, 3], order
        s.stop()
    finally:
        s.cleanup()
        slow.close()
        if up:
            up.close()


def test_two_processes_never_send_a_row_twice():
    rec = Receiver()
    a = Server(args=PRIVATE)
    b = None
    try:
        a.start()
        model_with_versions(a, n=2)
        for i in range(6):
            node(a, "n%d" % i, rec.url("/n%d" % i))
        a.stop()
        # Two servers on one database: both workers claim from one outbox.
        a.start()
        b = Server(data_dir=a.data_dir, args=PRIVATE).start()
        b.token = a.token
        for i in range(10):
            promote(a if i % 2 else b, 1 + i % 2)
        total = 60
        wait_for(lambda: len(rec.calls) >= total, timeout=30, what="60 webhooks")
        time.sleep(0.5)
        ids = [c["headers"]["webhook-id"] for c in rec.calls]
        assert len(ids) == total and len(set(ids)) == total, (len(ids), len(set(ids)))
        wait_for(lambda: len(deliveries(a, "delivered")) == total, what="all recorded")
        b.stop()
        a.stop()
    finally:
        if b:
            b.own_dir = False
            b.cleanup()
        a.cleanup()
        rec.close()


def test_egress_policy_without_flag():
    rec = Receiver()
    try:
        with served() as s:
            model_with_versions(s)
            # Literal forbidden or private hosts are refused at creation
            # (tests/integration/test_hardening2_alerts.py has every form);
            # a name is judged at connect time, on what it resolves to.
            for name, url in [("metadata", "http://169.254.169.254/latest/meta-data/"),
                              ("linklocal", "http://169.254.10.1:%d/x" % rec.port),
                              ("v6-linklocal", "http://[fe80::1]:%d/x" % rec.port),
                              ("loopback", rec.url("/loop"))]:
                err = expect(s.post("/api/v1/nodes", {"name": name, "url": url,
                                                      "models": ["m"]}), 422)["error"]
                assert "url" in err["message"], err
            node(s, "by-name", "http://localhost:%d/name" % rec.port)
            promote(s, 1)
            wait_for(lambda: len(deliveries(s, "dead")) == 1, what="1 dead")
            by = {d["target"]: d for d in deliveries(s, "dead")}
            assert "refused by egress policy" in by["by-name"]["last_error"], by
            assert "--allow-private-webhooks" in by["by-name"]["last_error"], by
            assert "loopback" in by["by-name"]["last_error"], by
            assert all(d["attempts"] == 1 and d["last_status"] is None for d in by.values())
            time.sleep(0.3)
            assert rec.calls == [], rec.calls
        # With the flag, loopback is fine, by name or literally; link-local
        # is still refused at creation.
        with served(args=PRIVATE) as s:
            model_with_versions(s)
            node(s, "loopback", rec.url("/loop"))
            node(s, "by-name", "http://localhost:%d/name" % rec.port)
            expect(s.post("/api/v1/nodes", {"name": "metadata", "models": ["m"],
                                            "url": "http://169.254.169.254/latest/"}), 422)
            promote(s, 1)
            wait_for(lambda: rec.calls_to("/loop"), what="loopback with the flag")
            wait_for(lambda: rec.calls_to("/name"), what="localhost with the flag")
    finally:
        rec.close()


def test_channels_crud_and_every_payload():
    rec = Receiver()
    try:
        with served(args=PRIVATE) as s:
            secrets = {}
            for t in ("webhook", "slack", "mattermost", "discord", "teams"):
                c = expect(s.post("/api/v1/channels", {"name": "c-" + t, "type": t,
                                                       "url": rec.url("/" + t)}), 201)
                assert c["secret"].startswith("whsec_") and c["type"] == t
                assert c["url"] == rec.url("/" + t) and c["created_at"].endswith("Z")
                secrets[t] = c["secret"]
            expect(s.post("/api/v1/channels", {"name": "c-slack", "type": "slack",
                                               "url": rec.url("/x")}), 409, "conflict")
            for bad in [{"name": "x", "type": "pager", "url": rec.url("/x")},
                        # An email channel needs an smtp:// URL, to and from.
                        {"name": "x", "type": "email", "url": rec.url("/x"),
                         "to": ["ops@example.com"], "from": "mw@example.com"},
                        {"name": "x", "type": "slack", "url": "ftp://x/y"},
                        {"name": "x", "type": "slack"},
                        {"name": "../x", "type": "slack", "url": rec.url("/x")},
                        {"name": 5, "type": "slack", "url": rec.url("/x")}]:
                expect(s.post("/api/v1/channels", bad), 422, "validation_failed")
            expect(s.request("POST", "/api/v1/channels", raw=b"{nope",
                             headers={"Content-Type": "application/json"}), 400)
            reader = s.token_with("reader", ["read"])
            expect(s.post("/api/v1/channels", {"name": "y", "type": "slack",
                                               "url": rec.url("/y")}, token=reader), 403)
            expect(s.get("/api/v1/channels", token=reader), 403)
            lst = expect(s.get("/api/v1/channels"), 200)["channels"]
            assert [c["name"] for c in lst] == sorted("c-" + t for t in secrets)
            assert all("secret" not in c for c in lst)
            assert "secret" not in expect(s.get("/api/v1/channels/c-slack"), 200)
            expect(s.get("/api/v1/channels/nope"), 404, "not_found")
            expect(s.post("/api/v1/channels/nope/test"), 404)
            for t in secrets:
                r = expect(s.post("/api/v1/channels/c-%s/test" % t), 202)
                assert r["webhook_id"].startswith("msg_") and r["delivery_id"] > 0
            wait_for(lambda: len(rec.calls) == 5, what="5 test notifications")
            got = {c["path"][1:]: c for c in rec.calls}
            for t, secret in secrets.items():
                verify_signature(secret, got[t])
            p = {t: json.loads(got[t]["body"]) for t in got}
            w = p["webhook"]
            assert w["version"] == "4" and w["status"] == "firing"
            assert w["receiver"] == "c-webhook"
            for k in ("groupKey", "groupLabels", "commonLabels", "commonAnnotations",
                      "externalURL", "alerts", "truncatedAlerts"):
                assert k in w, k
            a = w["alerts"][0]
            for k in ("status", "labels", "annotations", "startsAt", "endsAt",
                      "generatorURL", "fingerprint"):
                assert k in a, k
            assert a["endsAt"] == "0001-01-01T00:00:00Z"
            assert w["commonLabels"]["alertname"] == "modelwatch-test"
            assert a["modelwatch"]["model"] == "example-model"
            sl = p["slack"]
            assert "example-model" in sl["text"] and "dataset_drift_share" in sl["text"]
            assert sl["blocks"][0]["type"] == "header"
            flat = json.dumps(sl["blocks"])
            for word in ("Model", "Version", "Metric", "Value", "Threshold", "State",
                         "0.5", "0.3", "firing"):
                assert word in flat, word
            assert any(b["type"] == "actions" for b in sl["blocks"])
            mm = p["mattermost"]
            assert mm["text"] and mm["attachments"][0]["fields"]
            titles = [f["title"] for f in mm["attachments"][0]["fields"]]
            assert {"Model", "Version", "Metric", "Value", "Threshold", "State"} <= set(titles)
            dc = p["discord"]
            assert len(dc["content"]) <= 2000 and len(dc["embeds"]) == 1
            assert len(dc["embeds"][0]["fields"]) <= 25
            tm = p["teams"]
            assert tm["type"] == "message"
            att = tm["attachments"][0]
            assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
            assert att["content"]["type"] == "AdaptiveCard"
            assert "example-model" in json.dumps(att["content"]["body"])
            # The test deliveries are listed with kind alert.test.
            ds = wait_for(lambda: [d for d in deliveries(s, "delivered")
                                   if d["target_type"] == "channel"] if
                          len(deliveries(s, "delivered")) == 5 else None,
                          what="5 delivered")
            assert all(d["kind"] == "alert.test" for d in ds), ds
            # Deleting a channel: queued messages for it go dead.
            rec.script["/slack"] = [(503, {})]
            expect(s.post("/api/v1/channels/c-slack/test"), 202)
            wait_for(lambda: len(rec.calls_to("/slack")) == 2, what="503 for slack")
            expect(s.delete("/api/v1/channels/c-slack"), 200)
            expect(s.delete("/api/v1/channels/c-slack"), 404)
            d = wait_for(lambda: [x for x in deliveries(s, "dead")
                                  if x["target"] == "c-slack"], timeout=10,
                         what="dead after delete")[0]
            assert "no longer exists" in d["last_error"], d
    finally:
        rec.close()



def metric_samples(s):
    """/metrics as {sample name with labels: value}, checked by promtool."""
    r = s.get("/metrics")
    assert r.status == 200, r
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing (Debian package prometheus)"
    p = subprocess.run([promtool, "check", "metrics"], input=r.raw.encode(),
                       capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr
    out = {}
    for line in r.raw.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def outbox_gauges(s):
    m = metric_samples(s)
    g = {st: m['modelwatch_outbox_messages{state="%s"}' % st]
         for st in ("pending", "failed", "delivered", "dead")}
    g["age"] = m["modelwatch_outbox_oldest_pending_age_seconds"]
    g["purged_delivered"] = m['modelwatch_outbox_purged_total{state="delivered"}']
    g["purged_dead"] = m['modelwatch_outbox_purged_total{state="dead"}']
    return g


DAY_MS = 86400 * 1000


def test_outbox_metrics_and_retention():
    rec = Receiver({"/strict": [(400, {})] * 10})
    down = "http://127.0.0.1:%d/down" % free_port()  # nothing listens there
    s = Server(args=PRIVATE)
    keep = later = None
    try:
        s.start()
        g = outbox_gauges(s)
        assert g == {"pending": 0, "failed": 0, "delivered": 0, "dead": 0, "age": 0,
                     "purged_delivered": 0, "purged_dead": 0}, g
        model_with_versions(s)
        node(s, "ok", rec.url("/ok"))
        node(s, "strict", rec.url("/strict"))
        node(s, "down", down)
        promote(s, 1)
        # One message each: delivered, dead (400), failed (no listener).
        wait_for(lambda: {d["target"]: d["state"] for d in deliveries(s)} ==
                 {"ok": "delivered", "strict": "dead", "down": "failed"},
                 what="delivered, dead, failed")
        g = outbox_gauges(s)
        assert (g["pending"], g["failed"], g["delivered"], g["dead"]) == (0, 1, 1, 1), g
        assert 0 < g["age"] < 60, g
        # A second round: the down node's message waits behind its first.
        promote(s, 2)
        wait_for(lambda: len(deliveries(s, "delivered")) == 2 and
                 len(deliveries(s, "dead")) == 2, what="second round")
        g = outbox_gauges(s)
        assert (g["pending"], g["failed"], g["delivered"], g["dead"]) == (1, 1, 2, 2), g
        first = {d["target"]: d["id"] for d in deliveries(s)
                 if d["payload"]["to_version"] == 1}
        second = {d["target"]: d["id"] for d in deliveries(s)
                  if d["payload"]["to_version"] == 2}
        s.stop()

        # Age the first round by 8 days (queued, finished, every attempt),
        # the down node's waiting message too (waiting rows are never purged),
        # and only the queueing time of the second round's dead message:
        # its last attempt, its final time, stays recent.
        ids = tuple(first.values())
        q = ",".join("?" * len(ids))
        s.sql("UPDATE outbox SET created_at = created_at - ?, "
              "next_attempt_at = next_attempt_at - ?, "
              "delivered_at = delivered_at - ? WHERE id IN (%s)" % q,
              (8 * DAY_MS,) * 3 + ids)
        s.sql("UPDATE delivery_attempts SET at = at - ? WHERE outbox_id IN (%s)" % q,
              (8 * DAY_MS,) + ids)
        s.sql("UPDATE outbox SET created_at = created_at - ? WHERE id = ?",
              (8 * DAY_MS, second["strict"]))
        # The down node's first message, 8 days old, is not retried
        # during the test (past the age budget it would go dead).
        s.sql("UPDATE outbox SET next_attempt_at = ? WHERE id = ?",
              (int(time.time() * 1000) + DAY_MS, first["down"]))
        n_att = {int(k): int(v) for k, v in s.sql(
            "SELECT outbox_id, count(*) FROM delivery_attempts GROUP BY outbox_id")}
        assert n_att[first["ok"]] == 1 and n_att[first["strict"]] == 1, n_att

        # Kept forever with 0 days: nothing goes.
        keep = Server(data_dir=s.data_dir, args=PRIVATE + ["--delivery-retention-days", "0"])
        keep.start()
        keep.token = s.token
        time.sleep(2.5)  # the first pass would run a second after start
        g = outbox_gauges(keep)
        assert g["purged_delivered"] == 0 and g["purged_dead"] == 0, g
        assert g["delivered"] == 2 and g["dead"] == 2, g
        # The down node's oldest message has waited 8 days.
        assert 8 * 86400 <= g["age"] < 8 * 86400 + 600, g
        keep.stop()
        keep = None

        # The default (7 days): the first round's delivered and dead rows go
        # with their attempts; the down node's 8-day-old failed message and
        # everything recent stay.
        later = Server(data_dir=s.data_dir, args=PRIVATE)
        later.start()
        later.token = s.token
        g = wait_for(lambda: (lambda g: g if g["purged_delivered"] == 1 and
                              g["purged_dead"] == 1 else None)(outbox_gauges(later)),
                     timeout=15, what="the retention pass")
        assert g["delivered"] == 1 and g["dead"] == 1, g
        assert g["pending"] == 1 and g["failed"] == 1, g
        assert g["age"] >= 8 * 86400, g
        left = {d["id"] for d in deliveries(later)}
        assert left == {first["down"], second["ok"], second["strict"], second["down"]}, left
        orphans = int(s.sql("SELECT count(*) FROM delivery_attempts WHERE outbox_id "
                            "NOT IN (SELECT id FROM outbox)")[0][0])
        gone = int(s.sql("SELECT count(*) FROM delivery_attempts WHERE outbox_id IN "
                         "(?, ?)", (first["ok"], first["strict"]))[0][0])
        assert orphans == 0 and gone == 0, (orphans, gone)
        assert "retention removed 2 delivered or dead webhook(s)" in later.logtext()
        later.stop()
        later = None
    finally:
        for other in (keep, later):
            if other:
                other.cleanup()  # stops it; the directory is s's
        s.cleanup()
        rec.close()


def make_rule(s, name, channels, model="m"):
    return expect(s.post("/api/v1/alert-rules", {
        "name": name, "model": model, "version": 1, "metric": "prediction_count",
        "op": "<", "threshold": 1, "for_seconds": 0, "window_seconds": 600,
        "interval_seconds": 3600, "severity": "warning", "labels": {},
        "channels": channels}), 201)


def test_channel_delete_refused_while_rules_name_it():
    with served(args=PRIVATE) as s:
        model_with_versions(s, n=1)
        for c in ("c1", "c2", "lonely"):
            expect(s.post("/api/v1/channels", {"name": c, "type": "webhook",
                                               "url": "http://127.0.0.1:9/" + c}), 201)
        make_rule(s, "r1", ["c1", "c2"])
        make_rule(s, "r2", ["c1"])
        make_rule(s, "r3", ["c2"])
        # Named by r1 and r2: 409 with their names, and nothing changes.
        e = expect(s.delete("/api/v1/channels/c1"), 409, "conflict")
        assert e["error"]["details"] == {"rules": ["r1", "r2"], "rule_count": 2}, e
        assert "2 alert rule(s)" in e["error"]["message"], e
        assert "force=true" in e["error"]["message"], e
        expect(s.get("/api/v1/channels/c1"), 200)
        expect(s.delete("/api/v1/channels/c1?force=false"), 409, "conflict")
        expect(s.delete("/api/v1/channels/c1?force=yes"), 400, "invalid")
        reader = s.token_with("reader", ["read"])
        expect(s.delete("/api/v1/channels/c1", token=reader), 403, "forbidden")
        expect(s.delete("/api/v1/channels/nope"), 404, "not_found")
        expect(s.delete("/api/v1/channels/nope?force=true"), 404, "not_found")
        # A channel no rule names goes as before.
        r = expect(s.delete("/api/v1/channels/lonely"), 200)
        assert r == {"deleted": "lonely", "detached_from_rules": []}, r
        # Once r2 is gone only r1 holds c1 back.
        expect(s.delete("/api/v1/alert-rules/r2"), 200)
        e = expect(s.delete("/api/v1/channels/c1"), 409, "conflict")
        assert e["error"]["details"] == {"rules": ["r1"], "rule_count": 1}, e
        # force=true deletes it and takes it out of r1, keeping r1's others.
        r = expect(s.delete("/api/v1/channels/c1?force=true"), 200)
        assert r == {"deleted": "c1", "detached_from_rules": ["r1"]}, r
        expect(s.get("/api/v1/channels/c1"), 404)
        assert expect(s.get("/api/v1/alert-rules/r1"), 200)["channels"] == ["c2"]
        # A rule cannot name a channel that is gone.
        expect(s.post("/api/v1/alert-rules", {
            "name": "r4", "model": "m", "version": 1, "metric": "prediction_count",
            "op": "<", "threshold": 1, "channels": ["c1"]}), 422, "validation_failed")
        # c2: refused while r1 and r3 name it, deleted once they are gone.
        e = expect(s.delete("/api/v1/channels/c2"), 409, "conflict")
        assert e["error"]["details"]["rules"] == ["r1", "r3"], e
        expect(s.delete("/api/v1/alert-rules/r1"), 200)
        expect(s.delete("/api/v1/alert-rules/r3"), 200)
        r = expect(s.delete("/api/v1/channels/c2"), 200)
        assert r == {"deleted": "c2", "detached_from_rules": []}, r
        audit = s.sql("SELECT target, details FROM audit_log WHERE action = "
                      "'channel.delete' ORDER BY id")
        assert [a[0] for a in audit] == ["lonely", "c1", "c2"], audit
        assert json.loads(audit[1][1]) == {"detached_from_rules": ["r1"]}, audit


def test_channel_delete_lists_at_most_20_rules():
    with served(args=PRIVATE) as s:
        model_with_versions(s, n=1)
        expect(s.post("/api/v1/channels", {"name": "busy", "type": "slack",
                                           "url": "http://127.0.0.1:9/busy"}), 201)
        names = ["rule-%02d" % i for i in range(25)]
        for n in names:
            make_rule(s, n, ["busy", "busy"])
        e = expect(s.delete("/api/v1/channels/busy"), 409, "conflict")
        assert e["error"]["details"] == {"rules": names[:20], "rule_count": 25}, e
        r = expect(s.delete("/api/v1/channels/busy?force=1"), 200)
        assert r["detached_from_rules"] == names, r
        rules = expect(s.get("/api/v1/alert-rules"), 200)["rules"]
        assert len(rules) == 25 and all(x["channels"] == [] for x in rules), rules


if __name__ == "__main__":
    run(globals())
