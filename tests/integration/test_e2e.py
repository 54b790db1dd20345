"""The whole loop with the runnable examples: promote v1 then v2, traffic
drifts on v2, the rule fires, chat gets the alert, production rolls back to
v1, the demo node receives the signed command and reports v1. Prints the
delays from firing to chat and from firing to the node's command."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import random
import subprocess
import sys
import threading
import time

from mwtest import expect, free_port, run, served

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "examples"))
import traffic_gen  # noqa: E402


def parse_ms(ts):
    from datetime import datetime
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000 + 0.0


class Receiver:
    """A chat endpoint: keeps every request with its arrival time."""

    def __init__(self):
        self.got = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((time.time() * 1000, dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def signature_ok(secret, headers, body):
    key = base64.b64decode(secret.split("_", 1)[1])
    msg = b"%s.%s.%s" % (headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body)
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    return want in headers["webhook-signature"].split()


def test_drift_fires_alerts_chat_and_rolls_back_the_node():
    chat = Receiver()
    args = ["--alert-group-wait-seconds", "0", "--allow-private-webhooks",
            "--rate-limit", "0", "--access-log", "off"]
    node_proc = None
    try:
        with served(args=args) as s:
            rng = random.Random(3)
            expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
            for v in (1, 2):
                expect(s.post("/api/v1/models/fraud/versions", {"schema": traffic_gen.SCHEMA}), 201)
                blob = b"weights-of-v%d" % v
                expect(s.request("PUT", "/api/v1/models/fraud/versions/%d/artifact" % v, raw=blob,
                                 headers={"X-Content-SHA256": hashlib.sha256(blob).hexdigest()}), 200)
                rows = [traffic_gen.row(rng, False) for _ in range(2000)]
                expect(s.put("/api/v1/models/fraud/versions/%d/reference" % v, {"rows": rows}), 200)
            node_token = s.token_with("edge", ["read", "ingest", "promote"])
            node_port = free_port()
            node_log = open(os.path.join(s.data_dir, "node.log"), "w")
            node_proc = subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "examples", "demo_node.py"),
                 "--modelwatch", "http://127.0.0.1:%d" % s.port, "--token", node_token,
                 "--name", "edge-1", "--model", "fraud", "--port", str(node_port)],
                stdout=node_log, stderr=subprocess.STDOUT)
            wait_for("node registration", lambda: s.get("/api/v1/nodes/edge-1").status == 200)

            def reported():
                n = s.get("/api/v1/nodes/edge-1").json
                return n["models"][0]["reported_version"]

            expect(s.put("/api/v1/models/fraud/aliases/production", {"version": 1}), 200)
            wait_for("node on v1", lambda: reported() == 1)
            expect(s.put("/api/v1/models/fraud/aliases/production",
                         {"version": 2, "expected_version": 1, "reason": "new model"}), 200)
            wait_for("node on v2", lambda: reported() == 2)

            ch = expect(s.post("/api/v1/channels", {"name": "ops", "type": "slack",
                                                    "url": "http://127.0.0.1:%d/hook" % chat.port}), 201)
            expect(s.post("/api/v1/alert-rules", {
                "name": "fraud-drift", "model": "fraud", "alias": "production",
                "metric": "dataset_drift_share", "op": ">=", "threshold": 0.5,
                "for_seconds": 0, "window_seconds": 600, "interval_seconds": 1,
                "severity": "critical", "labels": {"team": "risk"}, "channels": ["ops"],
                "action": "rollback"}), 201)
            # Healthy traffic first: the rule evaluates and stays quiet.
            p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "traffic_gen.py"),
                                "--modelwatch", "http://127.0.0.1:%d" % s.port, "--token", s.token,
                                "--model", "fraud", "--version", "2", "--rate", "300",
                                "--drift-after", "-1", "--duration", "1.5", "--seed", "11"],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stderr
            ev = expect(s.post("/api/v1/alert-rules/fraud-drift/evaluate"), 200)
            assert ev["state"] == "inactive" and ev["value"] < 0.5, ev
            # Then drift: the traffic generator shifts amount, age and country.
            p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "traffic_gen.py"),
                                "--modelwatch", "http://127.0.0.1:%d" % s.port, "--token", s.token,
                                "--model", "fraud", "--version", "2", "--rate", "1500",
                                "--drift-after", "0", "--duration", "2.5", "--seed", "12"],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stderr
            alerts = wait_for("the rule to fire", lambda: s.get("/api/v1/alerts?state=firing").json["alerts"])
            alert = alerts[0]
            fired_ms = parse_ms(alert["fired_at"])
            assert alert["rule"] == "fraud-drift" and alert["version"] == 2
            assert alert["action"]["status"] == "done", alert
            # Chat gets the message, signed with the channel's secret.
            wait_for("chat message", lambda: chat.got)
            t_chat, headers, body = chat.got[0]
            assert signature_ok(ch["secret"], headers, body)
            msg = json.loads(body)
            text = json.dumps(msg)
            for needle in ("fraud", "dataset_drift_share", "firing", "0.5"):
                assert needle in text, (needle, text[:500])
            assert "text" in msg and "blocks" in msg
            # Production is back on v1, by the rule, with its reason.
            assert expect(s.get("/api/v1/models/fraud/aliases/production"), 200)["version"] == 1
            hist = expect(s.get("/api/v1/models/fraud/aliases/production/history"), 200)["history"]
            assert hist[0]["actor"] == "rule:fraud-drift" and hist[0]["kind"] == "rollback"
            assert "fraud-drift" in hist[0]["reason"]
            # The node received the signed command and reports v1.
            wait_for("node back on v1", lambda: reported() == 1)
            deliveries = s.get("/api/v1/deliveries?state=delivered").json["deliveries"]
            cmd = [d for d in deliveries if d["kind"] == "alias.moved" and d["payload"]["to_version"] == 1
                   and d["payload"]["from_version"] == 2][0]
            t_node = parse_ms(cmd["delivered_at"])
            node_log.flush()
            print("delay firing -> chat: %.0f ms; firing -> node command delivered: %.0f ms"
                  % (t_chat - fired_ms, t_node - fired_ms))
            # One firing, one rollback: evaluating again changes nothing.
            time.sleep(1.5)
            expect(s.post("/api/v1/alert-rules/fraud-drift/evaluate"), 200)
            assert expect(s.get("/api/v1/models/fraud/aliases/production"), 200)["version"] == 1
            hist2 = expect(s.get("/api/v1/models/fraud/aliases/production/history"), 200)["history"]
            assert len(hist2) == len(hist)
    finally:
        if node_proc:
            node_proc.terminate()
            node_proc.wait()
        chat.close()


run(globals())
