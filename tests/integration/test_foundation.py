"""Foundation over HTTP: health, readiness, metrics, errors, tokens, restart."""
import os
import shutil
import stat
import subprocess
import tempfile
import time

import mwtest
from mwtest import BIN, Server, db_args, expect, run, served, sql_for


def test_health_and_ready():
    with served() as s:
        r = s.get("/healthz", token=None)
        assert expect(r, 200)["status"] == "ok"
        assert r.header("Content-Type") == "application/json"
        body = expect(s.get("/readyz", token=None), 200)
        assert body["status"] == "ready" and body["schema_version"] >= 1


def test_metrics_pass_promtool():
    with served() as s:
        expect(s.get("/api/v1/tokens"), 200)
        expect(s.get("/nope", token=None), 404)
        scraper = s.token_with("prometheus", ["metrics"])
        # A request is counted just after its reply is sent: allow a moment.
        for _ in range(50):
            r = s.get("/metrics", token=scraper)
            if 'route="unmatched"' in r.raw:
                break
            time.sleep(0.05)
        assert r.status == 200 and r.header("Content-Type").startswith("text/plain")
        text = r.raw
        assert 'modelwatch_http_requests_total{route="/api/v1/tokens",method="GET",code="200"} 1' in text, text
        assert 'route="unmatched"' in text
        assert "modelwatch_process_start_time_seconds" in text
        assert "modelwatch_database_size_bytes" in text
        assert "modelwatch_http_request_duration_seconds_bucket" in text
        promtool = shutil.which("promtool")
        assert promtool, "promtool missing (Debian package prometheus)"
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True)
        assert p.returncode == 0, p.stdout + p.stderr


def test_auth_errors():
    with served() as s:
        expect(s.get("/api/v1/tokens", token=None), 401, "unauthenticated")
        expect(s.get("/api/v1/tokens", token="mw_AAAAAAAA_" + "B" * 40), 401)
        expect(s.get("/api/v1/tokens", token="garbage"), 401)
        # A valid prefix with a wrong secret is refused too.
        good = s.token
        expect(s.get("/api/v1/tokens", token=good[:-1] + ("A" if good[-1] != "A" else "B")), 401)
        reader = s.token_with("reader", ["read"])
        r = expect(s.get("/api/v1/tokens", token=reader), 403, "forbidden")
        assert r["error"]["details"]["required_scopes"] == ["admin"]
        expect(s.post("/api/v1/tokens", {"name": "x", "scopes": ["read"]},
                      token=reader), 403)


def test_session_of_a_token_without_read():
    """A dashboard session of a token that lacks read (an ingest-only token)
    can still ask who it is after a reload, and sign out; its other
    requests keep their scope checks."""
    with served() as s:
        tok = s.token_with("node", ["ingest"])
        resp = s.post("/api/v1/session", {"token": tok}, token=None)
        created = expect(resp, 201)
        assert created["scopes"] == ["ingest"], created
        cookie = {"Cookie": resp.header("Set-Cookie").split(";")[0]}
        me = expect(s.get("/api/v1/session", token=None, headers=cookie), 200)
        assert me["name"] == "node" and me["scopes"] == ["ingest"], me
        assert me["csrf_token"] == created["csrf_token"], me
        me = expect(s.get("/api/v1/session", token=tok), 200)
        assert me["name"] == "node" and "csrf_token" not in me, me
        expect(s.get("/api/v1/models", token=None, headers=cookie), 403, "forbidden")
        expect(s.get("/api/v1/session", token=None), 401, "unauthenticated")
        expect(s.get("/api/v1/session", token="mw_nope_nope"), 401, "unauthenticated")
        expect(s.delete("/api/v1/session", token=None,
                        headers=dict(cookie, **{"X-CSRF-Token": created["csrf_token"]})),
               200)
        expect(s.get("/api/v1/session", token=None, headers=cookie), 401)


def test_unknown_route_and_method():
    with served() as s:
        expect(s.get("/api/v1/nothing-here"), 404, "not_found")
        expect(s.get("/nothing", token=None), 404)
        r = s.request("PUT", "/api/v1/tokens")
        expect(r, 405, "method_not_allowed")
        assert "GET" in r.header("Allow") and "POST" in r.header("Allow")
        expect(s.request("PATCH", "/healthz", token=None), 405)


def test_body_limits_and_malformed_json():
    with served(args=["--max-body", "1024"]) as s:
        big = {"name": "big", "scopes": ["read"], "pad": "x" * 4096}
        expect(s.post("/api/v1/tokens", big), 413, "too_large")
        # The server is still healthy and stored nothing.
        names = [t["name"] for t in expect(s.get("/api/v1/tokens"), 200)["tokens"]]
        assert names == ["admin"], names
        r = s.request("POST", "/api/v1/tokens", raw=b'{"name": "x", "scopes": [',
                      headers={"Content-Type": "application/json"})
        expect(r, 400, "invalid_json")
        expect(s.request("POST", "/api/v1/tokens", raw=b"[1,2]"), 400, "invalid")
        expect(s.request("POST", "/api/v1/tokens", raw=b""), 400)
        expect(s.post("/api/v1/tokens", {"name": 5, "scopes": "read"}), 422,
               "validation_failed")
        expect(s.post("/api/v1/tokens", {"name": "ok", "scopes": ["root"]}), 422)
        expect(s.post("/api/v1/tokens", {"name": "../x", "scopes": ["read"]}), 422)
        expect(s.post("/api/v1/tokens", {"name": "a" * 129, "scopes": ["read"]}), 422)


def test_token_lifecycle_and_restart():
    data = tempfile.mkdtemp(prefix="mwtest-")
    try:
        s = Server(data_dir=data).start()
        mode = stat.S_IMODE(os.stat(os.path.join(data, "admin.token")).st_mode)
        assert mode == 0o600, oct(mode)
        assert "created the admin token" in s.logtext()
        body = expect(s.post("/api/v1/tokens", {"name": "ci", "scopes": ["read", "promote"]}), 201)
        ci = body["token"]
        assert body["scopes"] == ["read", "promote"] and ci.startswith("mw_")
        expect(s.post("/api/v1/tokens", {"name": "ci", "scopes": ["read"]}), 409, "conflict")
        listed = expect(s.get("/api/v1/tokens"), 200)["tokens"]
        assert sorted(t["name"] for t in listed) == ["admin", "ci"]
        assert all("token" not in t and "hash" not in t for t in listed)
        expect(s.get("/api/v1/tokens", token=ci), 403)
        admin = s.token
        s.stop()

        # Restart on the same data directory: tokens survive, no new admin.
        s2 = Server(data_dir=data).start()
        assert s2.token == admin
        assert s2.logtext().count("created the admin token") == 1
        expect(s2.get("/healthz", token=ci), 200)
        names = sorted(t["name"] for t in expect(s2.get("/api/v1/tokens"), 200)["tokens"])
        assert names == ["admin", "ci"]
        expect(s2.delete("/api/v1/tokens/ci"), 200)
        expect(s2.delete("/api/v1/tokens/ci"), 404)
        expect(s2.delete("/api/v1/tokens/admin"), 409)
        expect(s2.get("/api/v1/tokens", token=ci), 401)
        s2.stop()

        # Tokens are stored hashed and every mutation is audited.
        hashes = [h for (h,) in sql_for(data, "SELECT hash FROM tokens")]
        assert len(hashes) == 1, hashes  # the admin's: ci's was deleted
        assert all(len(h) == 64 and h != admin for h in hashes)
        actions = [a for (a,) in sql_for(data, "SELECT action FROM audit_log ORDER BY id")]
        assert actions == ["token.create", "token.create", "token.delete"], actions
        actors = [a for (a,) in sql_for(data, "SELECT actor FROM audit_log ORDER BY id")]
        assert actors == ["system", "token:admin", "token:admin"], actors
        if not mwtest.POSTGRES:
            assert sql_for(data, "PRAGMA journal_mode")[0][0] == "wal"
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_cli_migrate_token_and_newer_schema():
    data = tempfile.mkdtemp(prefix="mwtest-")
    try:
        db = ["--data-dir", data] + db_args(data)
        p = subprocess.run([BIN, "migrate"] + db, capture_output=True, text=True)
        assert p.returncode == 0 and "applied" in p.stdout, p
        p = subprocess.run([BIN, "migrate"] + db, capture_output=True, text=True)
        assert p.returncode == 0 and "applied 0 migration" in p.stdout, p
        p = subprocess.run([BIN, "token", "create", "--name", "bot", "--scopes", "ingest,read"] + db,
                           capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.startswith("mw_"), p
        bot = p.stdout.strip()
        p = subprocess.run([BIN, "token", "create", "--name", "bot", "--scopes", "read"] + db,
                           capture_output=True, text=True)
        assert p.returncode != 0 and "taken" in p.stderr, p
        p = subprocess.run([BIN, "token", "create", "--name", "x", "--scopes", "god"] + db,
                           capture_output=True, text=True)
        assert p.returncode != 0 and "unknown scope" in p.stderr, p
        p = subprocess.run([BIN, "token", "create", "--name", "risk", "--scopes", "read",
                            "--models", "fraud,churn-*"] + db, capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.startswith("mw_"), p
        risk = p.stdout.strip()
        p = subprocess.run([BIN, "token", "create", "--name", "x", "--scopes", "admin",
                            "--models", "fraud"] + db, capture_output=True, text=True)
        assert p.returncode != 0 and "admin" in p.stderr, p

        # The CLI-made token works, and (tokens existing) no admin is minted.
        s2 = Server(data_dir=data).start()
        assert s2.token is None, "an admin token was minted though tokens exist"
        expect(s2.get("/healthz", token=bot), 200)
        expect(s2.get("/api/v1/tokens", token=bot), 403)
        assert expect(s2.get("/api/v1/session", token=risk), 200)["models"] == [
            "fraud", "churn-*"]
        expect(s2.get("/api/v1/models/other", token=risk), 404)
        s2.stop()

        # A database from a newer binary is refused with a clear message.
        # Its schema version: SQLite's user_version, PostgreSQL's highest
        # version in schema_migrations.
        if mwtest.POSTGRES:
            sql_for(data, "INSERT INTO schema_migrations(version, name, applied_at) "
                    "VALUES (9999, '9999_from_a_newer_binary.sql', 0)")
        else:
            sql_for(data, "PRAGMA user_version=9999")
        s3 = Server(data_dir=data)
        rc = s3.start(expect_fail=True)
        assert rc != 0
        assert "newer than this binary" in s3.logtext(), s3.logtext()
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_help_lists_flags_and_env():
    p = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for word in ("serve", "migrate", "token create", "--listen", "MODELWATCH_LISTEN",
                 "--data-dir", "MODELWATCH_DATA_DIR", "--max-body"):
        assert word in p.stdout, word
    p = subprocess.run([BIN, "serve", "--bogus"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown option" in p.stderr


def test_env_config_and_keepalive():
    port_env = {"MODELWATCH_ACCESS_LOG": "off"}
    with served(env=port_env) as s:
        c = s.connection()
        for _ in range(50):
            expect(s.request("GET", "/healthz", token=None, conn=c), 200)
        c.close()
        assert "ACCESS" not in s.logtext()
    with served() as s:
        s.get("/healthz", token=None)
        assert "ACCESS 127.0.0.1 GET /healthz 200" in s.logtext()


run(globals())
