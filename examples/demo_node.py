#!/usr/bin/python3
"""A demo serving node for modelwatch.

It receives modelwatch's signed `alias.moved` commands, verifies their
Standard Webhooks signature with the node's secret, downloads the artifact
the command names and checks its sha256, "loads" it (logs what a real
server would load), and reports the version it now serves back to
modelwatch, so the dashboard shows desired vs reported versions.

Usage:
  demo_node.py --modelwatch http://127.0.0.1:8080 --token TOKEN \
      --name edge-1 --model fraud [--alias production] [--port 9100]

On start it registers itself (POST /api/v1/nodes, needs a promote token)
unless --secret is given for an already registered node; then it serves
POST / on 127.0.0.1:PORT. Only Python's standard library is used.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.request

TOLERANCE_S = 300  # Standard Webhooks: reject timestamps older/newer than 5 min


def verify(secret, headers, body):
    """Returns None when the signature is valid, else the reason."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return "missing webhook headers"
    try:
        if abs(time.time() - int(ts)) > TOLERANCE_S:
            return "timestamp outside tolerance"
    except ValueError:
        return "bad timestamp"
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = b"%s.%s.%s" % (msg_id.encode(), ts.encode(), body)
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for sig in sigs.split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return None
    return "signature mismatch"


class Node:
    def __init__(self, args):
        self.args = args
        self.base = args.modelwatch.rstrip("/")
        self.secret = args.secret
        self.current = None
        self.seen = set()  # webhook-ids already applied (deliveries repeat)
        self.lock = threading.Lock()

    def api(self, method, path, body=None, raw=False):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + self.args.token,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            return data if raw else json.loads(data or b"{}")

    def log(self, *a):
        print("[%s %s]" % (time.strftime("%H:%M:%S"), self.args.name), *a, flush=True)

    def register(self):
        url = "http://127.0.0.1:%d/" % self.args.port
        try:
            node = self.api("POST", "/api/v1/nodes", {
                "name": self.args.name, "url": url,
                "models": [{"name": self.args.model, "alias": self.args.alias}]})
            self.secret = node["secret"]
            self.log("registered at", url)
        except urllib.error.HTTPError as e:
            sys.exit("cannot register node: %s %s (pass --secret for an existing node)"
                     % (e.code, e.read().decode()))

    def report(self, version, state):
        self.api("POST", "/api/v1/nodes/%s/status" % self.args.name,
                 {"models": [{"name": self.args.model, "version": version, "state": state}]})

    def apply(self, cmd):
        if cmd.get("type") != "alias.moved" or cmd.get("model") != self.args.model \
                or cmd.get("alias") != self.args.alias:
            return "ignored"
        art = cmd["artifact"]
        req = urllib.request.Request(art["url"], headers={
            "Authorization": "Bearer " + self.args.token})
        with urllib.request.urlopen(req, timeout=60) as r:
            data = r.read()
        if hashlib.sha256(data).hexdigest() != art["sha256"]:
            self.report(self.current, "failed")
            return "artifact digest mismatch"
        self.log("loading %s v%s (%d bytes, sha256 %s..., reason: %s)" % (
            cmd["model"], cmd["to_version"], len(data), art["sha256"][:12], cmd.get("reason")))
        self.current = cmd["to_version"]
        self.report(self.current, "loaded")
        return "loaded"


def make_handler(node):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            problem = verify(node.secret, self.headers, body)
            if problem:
                node.log("rejected:", problem)
                self.send_response(401)
                self.end_headers()
                return
            msg_id = self.headers["webhook-id"]
            with node.lock:
                if msg_id in node.seen:
                    result = "duplicate"
                else:
                    try:
                        result = node.apply(json.loads(body))
                        node.seen.add(msg_id)
                    except Exception as e:  # noqa: BLE001 - answer 500, modelwatch retries
                        node.log("failed:", e)
                        self.send_response(500)
                        self.end_headers()
                        return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"result": result}).encode())

        def log_message(self, *a):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--modelwatch", default="http://127.0.0.1:8080")
    p.add_argument("--token", required=True)
    p.add_argument("--name", default="demo-node")
    p.add_argument("--model", required=True)
    p.add_argument("--alias", default="production")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--secret", help="whsec_ secret of an already registered node")
    args = p.parse_args()
    node = Node(args)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(node))
    if not node.secret:
        node.register()
    node.log("listening on 127.0.0.1:%d, following %s@%s" % (args.port, args.model, args.alias))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
