"""The client commands of the modelwatch binary (`model create`, `version
create|upload`, `promote`, `rollback`, `approve`, `reject`, `rollout
start|status|wait|pause|resume|abort|promote`, `get`) against a real
server: what each prints (a short line, or the server's JSON with --json),
every documented exit code (0 done, 2 usage, 3 unreachable, 4 unauthorized,
5 refused, 6 not found, 7 conflict, 8 invalid, 10 aborted, 11 paused, 12
timed out, 1 an answer that does not confirm the upload), a multi-MB
artifact streamed with its sha256 and checked, rollouts followed to their
end, and the retries: 429 with Retry-After from the server's rate limit,
and - from a scripted fake server - 503s, answers lost after the server
acted (a compare-and-swap move and an artifact upload that had succeeded),
and calls that must not be repeated."""
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from mwtest import BIN, Server, db_args, expect, free_port, run, served

SCHEMA = {"features": [{"name": "x", "type": "numeric"}],
          "prediction": {"type": "numeric"}}
FAST = ["--rollout-tick-ms", "200", "--rate-limit", "0"]


def cli(s, *args, token="admin", url=None, timeout=120):
    """Runs `modelwatch ARGS` against server s (or url) with the token in
    MODELWATCH_TOKEN; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWATCH_")}
    env["MODELWATCH_URL"] = url or "http://127.0.0.1:%d" % s.port
    tok = s.token if token == "admin" else token
    if tok is not None:
        env["MODELWATCH_TOKEN"] = tok
    return subprocess.run([BIN] + [str(a) for a in args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def ok(p, code=0):
    assert p.returncode == code, "exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
        p.returncode, code, p.stdout, p.stderr)
    return p


class Files:
    """Temporary files: an artifact of n bytes, JSON documents."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mwcli-")

    def artifact(self, n, name="model.bin"):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            left = n
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                f.write(chunk)
                left -= len(chunk)
        with open(path, "rb") as f:
            return path, hashlib.sha256(f.read()).hexdigest()

    def json(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def register(s, files, model="fraud", versions=2):
    """A model with `versions` ready versions (schema, small artifacts),
    made with the CLI."""
    ok(cli(s, "model", "create", model))
    schema = files.json("schema.json", SCHEMA)
    for i in range(versions):
        art, _ = files.artifact(256, "v%d.bin" % i)
        p = ok(cli(s, "version", "create", model, "--artifact", art, "--schema", schema))
        assert p.stdout == "%d\n" % (i + 1), p.stdout


# ---------------------------------------------------------------- registry


def test_model_and_version_create():
    f = Files()
    with served() as s:
        p = ok(cli(s, "model", "create", "fraud", "--description", "fraud model",
                   "--tag", "team=risk", "--tag", "tier=1"))
        assert p.stdout == "created model fraud\n", p.stdout
        p = ok(cli(s, "model", "create", "churn", "--json"))
        m = json.loads(p.stdout)
        assert m["name"] == "churn" and m["version_count"] == 0, m
        m = expect(s.get("/api/v1/models/fraud"), 200)
        assert m["description"] == "fraud model" and m["tags"] == {"team": "risk", "tier": "1"}
        # Taken: 409, conflict.
        p = ok(cli(s, "model", "create", "fraud"), 7)
        assert "409 conflict" in p.stderr and p.stdout == "", p.stderr

        # A multi-MB artifact, streamed with its sha256; the number alone.
        art, digest = f.artifact(6 * 1024 * 1024 + 123)
        schema = f.json("schema.json", SCHEMA)
        p = ok(cli(s, "version", "create", "fraud", "--artifact", art, "--schema", schema,
                   "--metrics", "auc=0.91", "--metrics", "f1=0.8", "--run-id", "ci-42",
                   "--description", "nightly", "--source", "s3://b/model.bin",
                   "--tag", "git=abc123"))
        assert p.stdout == "1\n", p.stdout
        assert digest in p.stderr and "ready" in p.stderr, p.stderr
        v = expect(s.get("/api/v1/models/fraud/versions/1"), 200)
        assert v["status"] == "ready" and v["sha256"] == digest, v
        assert v["size"] == 6 * 1024 * 1024 + 123, v
        assert v["metrics"] == {"auc": 0.91, "f1": 0.8} and v["run_id"] == "ci-42", v
        assert v["schema"] == SCHEMA and v["description"] == "nightly", v
        assert v["source"] == "s3://b/model.bin" and v["tags"] == {"git": "abc123"}, v
        got = s.get("/api/v1/models/fraud/versions/1/artifact")
        assert got.status == 200 and hashlib.sha256(got.raw).hexdigest() == digest

        # --json: the server's version, ready; --metrics-file.
        metrics = f.json("metrics.json", {"auc": 0.93})
        p = ok(cli(s, "version", "create", "fraud", "--artifact", art, "--metrics-file",
                   metrics, "--json"))
        v = json.loads(p.stdout)
        assert v["version"] == 2 and v["status"] == "ready" and v["sha256"] == digest, v
        assert v["metrics"] == {"auc": 0.93}, v

        # Without an artifact it stays pending; version upload finishes it,
        # once (then 409).
        p = ok(cli(s, "version", "create", "fraud"))
        assert p.stdout == "3\n"
        assert expect(s.get("/api/v1/models/fraud/versions/3"), 200)["status"] == "pending"
        small, sdigest = f.artifact(1000, "small.bin")
        p = ok(cli(s, "version", "upload", "fraud", "3", small))
        assert p.stdout == "3\n"
        v = expect(s.get("/api/v1/models/fraud/versions/3"), 200)
        assert v["status"] == "ready" and v["sha256"] == sdigest and v["size"] == 1000, v
        p = ok(cli(s, "version", "upload", "fraud", "3", small), 7)
        assert "409" in p.stderr, p.stderr

        # Nothing is created when the artifact cannot be read (usage), or
        # the model does not exist (404).
        p = ok(cli(s, "version", "create", "fraud", "--artifact", "/nonexistent/m.bin"), 2)
        assert "/nonexistent/m.bin" in p.stderr, p.stderr
        p = ok(cli(s, "version", "create", "nope", "--artifact", small), 6)
        assert "404 not_found" in p.stderr, p.stderr
        assert expect(s.get("/api/v1/models/fraud"), 200)["version_count"] == 3
        # A bad schema: 422 with the server's message; nothing uploaded.
        bad = f.json("bad.json", {"features": 3})
        p = ok(cli(s, "version", "create", "fraud", "--artifact", small, "--schema", bad), 8)
        assert "422 validation_failed" in p.stderr and "schema.features" in p.stderr
        # A schema file that is not JSON: usage, nothing sent.
        p = ok(cli(s, "version", "create", "fraud", "--schema",
                   f.json("broken.json", "{")), 2)
        assert "not a JSON object" in p.stderr
        assert expect(s.get("/api/v1/models/fraud"), 200)["version_count"] == 3
    f.close()


def test_promote_rollback_and_conflicts():
    f = Files()
    with served() as s:
        register(s, f, versions=3)
        p = ok(cli(s, "promote", "fraud", "production", 1, "--expect", "none",
                   "--reason", "launch"))
        assert p.stdout == "fraud@production -> 1 (was unset)\n", p.stdout
        # Compare-and-swap lost: 409 with the current version shown.
        p = ok(cli(s, "promote", "fraud", "production", 2, "--expect", "none"), 7)
        assert "409 conflict" in p.stderr and '"current_version":1' in p.stderr, p.stderr
        p = ok(cli(s, "promote", "fraud", "production", 2, "--expect", 3), 7)
        assert '"current_version":1' in p.stderr, p.stderr
        p = ok(cli(s, "promote", "fraud", "production", 2, "--expect", 1, "--json"))
        assert json.loads(p.stdout) == {"alias": "production", "version": 2,
                                        "previous_version": 1}, p.stdout
        # --json with an error: the server's error on stdout too.
        p = ok(cli(s, "promote", "fraud", "production", 3, "--expect", 1, "--json"), 7)
        assert json.loads(p.stdout)["error"]["details"] == {"current_version": 2}
        ok(cli(s, "promote", "fraud", "production", 3))
        hist = expect(s.get("/api/v1/models/fraud/aliases/production/history"), 200)
        assert hist["history"][-1]["reason"] == "launch", hist

        p = ok(cli(s, "rollback", "fraud", "production", "--reason", "drift"))
        assert p.stdout == "fraud@production -> 2 (was 3)\n", p.stdout
        p = ok(cli(s, "rollback", "fraud", "production", "--to", 1, "--json"))
        assert json.loads(p.stdout)["version"] == 1
        assert expect(s.get("/api/v1/models/fraud"), 200)["aliases"] == {"production": 1}
        h = expect(s.get("/api/v1/models/fraud/aliases/production/history"), 200)["history"]
        assert h[1]["kind"] == "rollback" and h[1]["reason"] == "drift", h
        # Nothing to roll back to: 409.
        ok(cli(s, "promote", "fraud", "staging", 1))
        p = ok(cli(s, "rollback", "fraud", "staging"), 7)
        assert "409" in p.stderr, p.stderr

        # Invalid: a pending version, an all-digit alias (422, message shown).
        ok(cli(s, "version", "create", "fraud"))
        p = ok(cli(s, "promote", "fraud", "production", 4), 8)
        assert "422 validation_failed" in p.stderr and "pending" in p.stderr, p.stderr
        p = ok(cli(s, "promote", "fraud", "123", 1), 8)
        assert "all digits" in p.stderr, p.stderr
        # Not found.
        p = ok(cli(s, "promote", "fraud", "production", 99), 6)
        assert "404 not_found" in p.stderr
        ok(cli(s, "promote", "nope", "production", 1), 6)
        ok(cli(s, "rollback", "nope", "production"), 6)
        p = ok(cli(s, "get", "models/nope"), 6)
        assert p.stdout == "" and "404" in p.stderr
        # get prints the server's JSON.
        p = ok(cli(s, "get", "models/fraud"))
        assert json.loads(p.stdout)["aliases"] == {"production": 1, "staging": 1}
        p = ok(cli(s, "get", "/api/v1/models/fraud/aliases/production"))
        assert json.loads(p.stdout) == {"alias": "production", "version": 1}
    f.close()


def test_approvals_and_refusals():
    f = Files()
    with served() as s:
        ci = s.token_with("ci", ["read", "promote"])
        reviewer = s.token_with("reviewer", ["read", "promote"])
        reader = s.token_with("reader", ["read"])
        ok(cli(s, "model", "create", "fraud", token=ci))
        art, _ = f.artifact(2048)
        for _ in range(2):
            ok(cli(s, "version", "create", "fraud", "--artifact", art, token=ci))
        expect(s.put("/api/v1/models/fraud/protected-aliases/production",
                     {"require_approval": True}), 200)
        # 403 not_approved, with the server's details.
        p = ok(cli(s, "promote", "fraud", "production", 1, token=ci), 5)
        assert "403 not_approved" in p.stderr and '"approval":"none"' in p.stderr, p.stderr
        # The creator may not decide: 403 self_approval.
        p = ok(cli(s, "approve", "fraud", 1, token=ci), 5)
        assert "self_approval" in p.stderr, p.stderr
        p = ok(cli(s, "approve", "fraud", 1, "--comment", "load test passed",
                   token=reviewer))
        assert p.stdout == "fraud version 1 approved\n", p.stdout
        p = ok(cli(s, "reject", "fraud", 2, "--comment", "AUC down", "--json",
                   token=reviewer))
        assert json.loads(p.stdout)["approval"]["state"] == "rejected"
        a = expect(s.get("/api/v1/models/fraud/versions/1"), 200)["approval"]
        assert a["by"] == "token:reviewer" and a["comment"] == "load test passed", a
        ok(cli(s, "promote", "fraud", "production", 1, "--expect", "none", token=ci))
        ok(cli(s, "promote", "fraud", "production", 2, token=ci), 5)
        ok(cli(s, "approve", "fraud", 9, token=reviewer), 6)
        # A token without the promote scope: 403 forbidden.
        p = ok(cli(s, "promote", "fraud", "staging", 1, token=reader), 5)
        assert "403 forbidden" in p.stderr and "required_scopes" in p.stderr, p.stderr
        ok(cli(s, "model", "create", "other", token=reader), 5)
        # The reader may read.
        ok(cli(s, "get", "models/fraud", token=reader))
    f.close()


def test_unauthorized_and_usage():
    with served() as s:
        secret = "mw_not_a_real_token_0123456789"
        p = ok(cli(s, "model", "create", "fraud", token=secret), 4)
        assert "401 unauthenticated" in p.stderr, p.stderr
        assert secret not in p.stderr and secret not in p.stdout
        p = ok(cli(s, "get", "models", "--token", secret), 4)
        assert secret not in p.stderr + p.stdout
        # No token at all: nothing sent.
        p = ok(cli(s, "get", "models", token=None), 4)
        assert "MODELWATCH_TOKEN" in p.stderr
        # --token over MODELWATCH_TOKEN, --url over MODELWATCH_URL.
        ok(cli(s, "get", "models", "--token", s.token, token=secret))
        ok(cli(s, "get", "models", "--url", "http://127.0.0.1:%d/" % s.port,
               url="http://127.0.0.1:1"))
        # Usage: nothing sent, 2.
        for args in (["promote", "fraud"], ["promote", "fraud", "p", "x"],
                     ["rollout", "start", "fraud", "p", "2"],
                     ["rollout", "start", "fraud", "p", "2", "--step", "10"],
                     ["rollout", "frob"], ["model", "create", "a", "--bogus"],
                     ["get", "models", "--url", "ftp://x"]):
            p = ok(cli(s, *args), 2)
            assert "see modelwatch --help" in p.stderr, (args, p.stderr)
        assert expect(s.get("/api/v1/models"), 200)["models"] == []
        # --help lists every exit code; the other commands are as they were.
        p = ok(subprocess.run([BIN, "--help"], capture_output=True, text=True))
        for code, word in ((0, "ok"), (1, "error"), (2, "usage"), (3, "unreachable"),
                           (4, "unauthorized"), (5, "refused"), (6, "not_found"),
                           (7, "conflict"), (8, "invalid"), (10, "aborted"),
                           (11, "paused"), (12, "timeout")):
            assert re.search(r"^\s+%d %s\s" % (code, word), p.stdout, re.M), (code, word)
        assert "--data-dir" in p.stdout and "modelwatch serve" in p.stdout
        p = ok(subprocess.run([BIN, "version"], capture_output=True, text=True))
        assert p.stdout.startswith("modelwatch "), p.stdout
        p = ok(subprocess.run([BIN, "rollout", "wait", "--help"], capture_output=True,
                              text=True))
        assert "rollout wait MODEL ID" in p.stdout


def test_unreachable():
    with served() as s:
        port = free_port()  # nothing listens there
        url = "http://127.0.0.1:%d" % port
        t0 = time.time()
        p = ok(cli(s, "get", "models", "--retries", "2", url=url), 3)
        assert p.stderr.count("retry ") == 2 and "cannot reach the server" in p.stderr
        assert url in p.stderr and time.time() - t0 < 10
        # A call that is not idempotent is retried too: nothing was sent.
        p = ok(cli(s, "model", "create", "fraud", "--retries", "1", url=url), 3)
        assert p.stderr.count("retry ") == 1, p.stderr
        # DNS (.invalid never resolves).
        p = ok(cli(s, "get", "models", "--retries", "0",
                   url="http://modelwatch.invalid:8080"), 3)
        # TLS verification is on: a plain-HTTP server spoken to over https
        # fails, and is not taken for an answer.
        p = ok(cli(s, "get", "models", "--retries", "0",
                   url="https://127.0.0.1:%d" % s.port), 3)
        # rollout wait gives up on a server that is gone too (after its
        # retries, once the outage outlasts --timeout).
        p = ok(cli(s, "rollout", "wait", "fraud", 1, "--timeout", "1", "--interval",
                   "0.2", "--retries", "0", url=url), 3)


def test_tls_is_verified():
    """Against an https server with a certificate the test made: refused
    (3, not retried) until the CLI is told to trust it (--cacert or
    MODELWATCH_CACERT)."""
    d = tempfile.mkdtemp(prefix="mwclitls-")
    s = None
    try:
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
        s = Server(args=["--tls-cert", cert, "--tls-key", key])
        s.port = free_port()
        s.log = open(s.log_path, "ab")
        s.proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:%d" % s.port,
                                   "--data-dir", s.data_dir] + db_args(s.data_dir) + s.args,
                                  stdout=s.log, stderr=subprocess.STDOUT)
        token_file = os.path.join(s.data_dir, "admin.token")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
                if os.path.exists(token_file):
                    break
            except OSError:
                pass
            time.sleep(0.05)
        s.token = open(token_file).read().strip()
        url = "https://127.0.0.1:%d" % s.port
        p = ok(cli(s, "get", "models", url=url), 3)
        assert "TLS verification failed" in p.stderr and "retry" not in p.stderr, p.stderr
        p = ok(cli(s, "model", "create", "fraud", "--cacert", cert, url=url))
        assert p.stdout == "created model fraud\n"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWATCH_")}
        env.update(MODELWATCH_URL=url, MODELWATCH_TOKEN=s.token, MODELWATCH_CACERT=cert)
        p = subprocess.run([BIN, "get", "models/fraud"], env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0 and json.loads(p.stdout)["name"] == "fraud", p
        s.stop()
    finally:
        if s:
            s.cleanup()
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- retries


def test_rate_limited_calls_are_retried():
    """--rate-limit 1 --rate-burst 1: back-to-back commands meet 429 with
    Retry-After, wait for it and succeed; a POST refused with 429 is sent
    again exactly once (the server did nothing the first time)."""
    f = Files()
    with served(args=["--rate-limit", "1", "--rate-burst", "1"]) as s:
        ci = s.token_with("ci", ["read", "promote"])  # a bucket of its own
        art, digest = f.artifact(3 * 1024 * 1024)
        t0 = time.time()
        said = ""
        for args in (["model", "create", "fraud"],
                     ["version", "create", "fraud", "--artifact", art],
                     ["promote", "fraud", "production", 1],
                     ["get", "models/fraud"]):
            p = ok(cli(s, *args, token=ci))
            said += p.stderr
        assert json.loads(p.stdout)["aliases"] == {"production": 1}
        # POST version, PUT artifact: 5 calls at 1 a second, each refused
        # one waited for its Retry-After and went through.
        assert re.search(r"429, Retry-After \d+; retry 1 of 3 in [1-9]", said), said
        assert time.time() - t0 >= 3, time.time() - t0
        time.sleep(1.1)
        v = expect(s.get("/api/v1/models/fraud/versions/1"), 200)
        assert v["sha256"] == digest and v["status"] == "ready", v
        time.sleep(1.1)
        assert expect(s.get("/api/v1/models/fraud"), 200)["version_count"] == 1
        # With no retries left, 429 is "unreachable" (3).
        time.sleep(1.1)
        ok(cli(s, "get", "models", "--retries", "0", token=ci))
        p = ok(cli(s, "get", "models", "--retries", "0", token=ci), 3)
        assert "429 rate_limited" in p.stderr, p.stderr
    f.close()


class Fake:
    """A scripted HTTP server: `script` maps (method, path) to a list of
    answers used in order (the last one repeats): (status, headers, body),
    "drop" (read the request, close without an answer: the answer was
    lost) or ("sleep", seconds, answer)."""

    def __init__(self, script):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls = []
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n) if n else b""
                key = (self.command, self.path)
                fake.calls.append((self.command, self.path, dict(self.headers), body))
                todo = fake.script.get(key)
                a = todo.pop(0) if todo and len(todo) > 1 else (todo[0] if todo else (
                    404, {}, {"error": {"code": "not_found", "message": "no such route",
                                        "details": {}}}))
                if a == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if a[0] == "sleep":
                    time.sleep(a[1])
                    a = a[2]
                status, headers, doc = a
                out = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:  # the client gave up (its timeout)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = answer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, method, path):
        return sum(1 for c in self.calls if c[0] == method and c[1] == path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def err(code, message, details=None):
    return {"error": {"code": code, "message": message, "details": details or {}}}


def fake_cli(fake, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWATCH_")}
    env.update(MODELWATCH_URL=fake.url, MODELWATCH_TOKEN="t")
    return subprocess.run([BIN] + [str(a) for a in args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_retries_against_a_scripted_server():
    f = Files()
    art, digest = f.artifact(5000)
    alias = "/api/v1/models/m/aliases/prod"
    unavailable = (503, {"Retry-After": "0"}, err("unavailable", "database unavailable"))
    fake = Fake({
        # An idempotent GET rides out 503s.
        ("GET", "/api/v1/models/m"): [unavailable, unavailable, (200, {}, {"name": "m"})],
        # A POST that may have been acted on is not repeated.
        ("POST", "/api/v1/models"): [unavailable, (201, {}, {"name": "x"})],
        # The move of the first attempt went through but its answer was
        # lost: the retry meets 409 with the alias already there.
        ("PUT", alias): ["drop", (409, {}, err("conflict", "alias 'prod' points to "
                                                "version 3, not the expected one",
                                                {"current_version": 3}))],
        # Same for an upload: the retry's 409 is checked against the
        # version, which holds this artifact.
        ("POST", "/api/v1/models/m/versions"): [(201, {}, {"version": 3})],
        ("PUT", "/api/v1/models/m/versions/3/artifact"): [
            "drop", (409, {}, err("conflict", "version 3 already has an artifact"))],
        ("GET", "/api/v1/models/m/versions/3"): [
            (200, {}, {"version": 3, "status": "ready", "sha256": digest, "size": 5000})],
        # An answer that does not confirm what was sent: exit 1.
        ("POST", "/api/v1/models/w/versions"): [(201, {}, {"version": 1})],
        ("PUT", "/api/v1/models/w/versions/1/artifact"): [
            (200, {}, {"version": 1, "status": "ready", "sha256": "0" * 64, "size": 5000})],
        # 422 with details: printed.
        ("POST", "/api/v1/models/m/rollouts"): [
            (422, {}, err("validation_failed", "2 problems",
                          {"errors": ["steps[1] goes down", "analysis.x unknown"]}))],
        # Answers slower than --request-timeout.
        ("GET", "/api/v1/models/late"): [("sleep", 1.5, (200, {}, {"name": "late"}))],
        ("POST", "/api/v1/models/late/versions/1/approval"): [
            ("sleep", 1.5, (200, {}, {"version": 1}))],
        # A long Retry-After is not waited for.
        ("GET", "/api/v1/models/slow"): [(429, {"Retry-After": "3600"},
                                          err("rate_limited", "too many requests"))],
    })
    try:
        p = ok(fake_cli(fake, "get", "models/m"))
        assert fake.count("GET", "/api/v1/models/m") == 3, p.stderr
        assert p.stderr.count("503") == 2 and json.loads(p.stdout) == {"name": "m"}
        p = ok(fake_cli(fake, "model", "create", "x"), 3)
        assert fake.count("POST", "/api/v1/models") == 1 and "503" in p.stderr, p.stderr

        p = ok(fake_cli(fake, "promote", "m", "prod", 3, "--expect", 2))
        assert fake.count("PUT", alias) == 2, fake.calls
        assert p.stdout == "m@prod -> 3\n" and "earlier attempt" in p.stderr, p.stderr
        sent = [json.loads(c[3]) for c in fake.calls if c[1] == alias]
        assert sent == [{"version": 3, "expected_version": 2}] * 2, sent
        # Without --expect the same lost answer is a plain failure: a
        # 409 to an unconditional move is not one of ours.
        fake.script[("PUT", alias)] = ["drop", (409, {}, err("conflict", "x",
                                                          {"current_version": 3}))]
        ok(fake_cli(fake, "promote", "m", "prod", 3), 7)

        p = ok(fake_cli(fake, "version", "create", "m", "--artifact", art))
        assert p.stdout == "3\n" and "earlier attempt stored the artifact" in p.stderr
        puts = [c for c in fake.calls if c[1].endswith("/artifact")]
        assert len(puts) == 2 and all(c[2]["X-Content-SHA256"] == digest for c in puts)
        assert all(c[2]["Content-Length"] == "5000" for c in puts), puts[0][2]

        p = ok(fake_cli(fake, "version", "create", "w", "--artifact", art), 1)
        assert "does not match" in p.stderr, p.stderr

        p = ok(fake_cli(fake, "rollout", "start", "m", "prod", 2, "--step", "10:1"), 8)
        assert "422 validation_failed: 2 problems" in p.stderr
        assert 'details: {"errors":["steps[1] goes down","analysis.x unknown"]}' in p.stderr

        # Timeouts: an idempotent call is tried again, a decision is not.
        p = ok(fake_cli(fake, "get", "models/late", "--request-timeout", "0.3",
                        "--retries", "1"), 3)
        assert fake.count("GET", "/api/v1/models/late") == 2, p.stderr
        assert "Timeout was reached" in p.stderr or "timed out" in p.stderr, p.stderr
        p = ok(fake_cli(fake, "approve", "late", 1, "--request-timeout", "0.3"), 3)
        assert fake.count("POST", "/api/v1/models/late/versions/1/approval") == 1, p.stderr
        t0 = time.time()
        p = ok(fake_cli(fake, "get", "models/slow"), 3)
        assert time.time() - t0 < 5 and fake.count("GET", "/api/v1/models/slow") == 1
        # Every call carried the token and the JSON bodies their type.
        assert all(c[2]["Authorization"] == "Bearer t" for c in fake.calls)
        assert all(c[2]["Content-Type"] == "application/json"
                   for c in fake.calls if c[0] == "POST")
    finally:
        fake.close()
        f.close()


# ---------------------------------------------------------------- rollouts


def test_rollout_start_and_wait_promoted():
    f = Files()
    with served(args=FAST) as s:
        register(s, f)
        ok(cli(s, "promote", "fraud", "production", 1))
        # Step 1 holds 4 s: `rollout wait` must start while it runs to
        # report it (with a 1 s hold, the 409 call below outlasted it under
        # ASan on a loaded machine, and wait saw step 2 first).
        p = ok(cli(s, "rollout", "start", "fraud", "production", 2, "--mode", "canary",
                   "--step", "10:4", "--step", "100:1", "--min-predictions", 0))
        rid = int(p.stdout)
        r = expect(s.get("/api/v1/models/fraud/rollouts/%d" % rid), 200)
        assert [(x["weight_percent"], x["hold_seconds"]) for x in r["steps"]] == [
            (10, 4), (100, 1)], r
        assert r["analysis"]["min_predictions"] == 0 and r["mode"] == "canary", r
        # One rollout per alias: 409.
        ok(cli(s, "rollout", "start", "fraud", "production", 2, "--step", "100:1"), 7)
        p = ok(cli(s, "rollout", "wait", "fraud", rid, "--timeout", 60, "--interval", 0.2))
        assert p.stdout.startswith("rollout %d of fraud@production: v1 -> v2 (canary), "
                                   "promoted\n" % rid), p.stdout
        assert re.search(r"started\s+step 1\s+weight\s+10%\s+by token:admin", p.stdout)
        assert re.search(r"promoted\s+step 2\s+weight 100%", p.stdout), p.stdout
        assert "step 1 of 2" in p.stderr, p.stderr
        assert expect(s.get("/api/v1/models/fraud"), 200)["aliases"]["production"] == 2
        p = ok(cli(s, "rollout", "status", "fraud", rid, "--json"))
        assert json.loads(p.stdout)["state"] == "promoted"
        p = ok(cli(s, "rollout", "status", "fraud", rid))
        assert "promoted" in p.stdout.splitlines()[0]
        ok(cli(s, "rollout", "status", "fraud", 99), 6)
        ok(cli(s, "rollout", "pause", "fraud", rid), 7)
        # Analysis from a file, a flag over it: the server refuses an
        # unknown key with its message (422).
        an = f.json("analysis.json", {"max_drift_share": 0.3, "bogus": 1})
        p = ok(cli(s, "rollout", "start", "fraud", "production", 1, "--step", "100:1",
                   "--analysis-file", an), 8)
        assert "unknown key 'bogus'" in p.stderr, p.stderr
    f.close()


def test_rollout_wait_aborted_paused_timeout():
    f = Files()
    with served(args=FAST) as s:
        register(s, f, versions=3)
        ok(cli(s, "promote", "fraud", "production", 1))
        rid = int(ok(cli(s, "rollout", "start", "fraud", "production", 2, "--step",
                         "10:3600", "--step", "100:3600", "--min-predictions", 0,
                         "--max-candidate-vs-baseline-drift-share", 0.5,
                         "--metric", "mae:0.05", "--label-delay", 0)).stdout)
        r = expect(s.get("/api/v1/models/fraud/rollouts/%d" % rid), 200)
        assert r["analysis"]["max_candidate_vs_baseline_drift_share"] == 0.5
        assert r["analysis"]["metric"] == {"name": "mae", "max_drop": 0.05}, r
        # Still running at --timeout: 12, with where it is.
        p = ok(cli(s, "rollout", "wait", "fraud", rid, "--timeout", 1, "--interval", 0.2), 12)
        assert "still running" in p.stderr and "now: step 1 of 2" in p.stdout, p.stdout
        # Aborted by hand while a wait runs: 10 with the reason.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWATCH_")}
        env.update(MODELWATCH_URL="http://127.0.0.1:%d" % s.port, MODELWATCH_TOKEN=s.token)
        waiter = subprocess.Popen([BIN, "rollout", "wait", "fraud", str(rid), "--timeout",
                                   "60", "--interval", "0.2"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        expect(s.post("/api/v1/models/fraud/rollouts/%d/abort" % rid,
                      {"reason": "bad canary"}), 200)
        out, errs = waiter.communicate(timeout=60)
        assert waiter.returncode == 10, (waiter.returncode, out, errs)
        assert "aborted" in out.splitlines()[0] and "bad canary" in out, out
        assert expect(s.get("/api/v1/models/fraud"), 200)["aliases"]["production"] == 1

        # Paused by hand: 11; resumed and promoted by hand: 0.
        rid = int(ok(cli(s, "rollout", "start", "fraud", "production", 3, "--step",
                         "50:3600", "--min-predictions", 0)).stdout)
        p = ok(cli(s, "rollout", "pause", "fraud", rid, "--reason", "looking"))
        assert p.stdout == "rollout %d of fraud@production: paused\n" % rid, p.stdout
        p = ok(cli(s, "rollout", "wait", "fraud", rid, "--timeout", 30), 11)
        assert "paused" in p.stdout.splitlines()[0] and "looking" in p.stdout
        ok(cli(s, "rollout", "pause", "fraud", rid), 7)
        p = ok(cli(s, "rollout", "resume", "fraud", rid, "--json"))
        assert json.loads(p.stdout)["state"] == "running"
        p = ok(cli(s, "rollout", "promote", "fraud", rid, "--reason", "enough"))
        assert p.stdout == "rollout %d of fraud@production: promoted\n" % rid
        ok(cli(s, "rollout", "wait", "fraud", rid))
        assert expect(s.get("/api/v1/models/fraud"), 200)["aliases"]["production"] == 3
        # Aborted with the CLI: the hand's reason is kept.
        expect(s.put("/api/v1/models/fraud/aliases/staging", {"version": 1}), 200)
        rid = int(ok(cli(s, "rollout", "start", "fraud", "staging", 2, "--step",
                         "50:3600", "--min-predictions", 0)).stdout)
        p = ok(cli(s, "rollout", "abort", "fraud", rid, "--reason", "not today"))
        assert p.stdout.endswith(": aborted\n"), p.stdout
        p = ok(cli(s, "rollout", "wait", "fraud", rid, "--json"), 10)
        assert json.loads(p.stdout)["state"] == "aborted"
    f.close()


if __name__ == "__main__":
    run(globals())
