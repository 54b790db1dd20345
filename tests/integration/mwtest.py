"""Integration-test harness: starts the real modelwatch binary on a free
loopback port with a fresh data directory and talks HTTP to it.

Only Python's standard library is used, so the tests run with the system
/usr/bin/python3. Each test file calls `run(globals())`, which runs every
function named test_* and ends with the line "N passed, M failed".

Backends: with MW_BACKEND=postgres every Server keeps its state in a fresh
database of a PostgreSQL cluster the test process starts (pgserver.py), so
the same tests run against both backends (ctest registers each file twice:
integration.* and integration_pg.*). A test that is about one backend only
says so with `only_sqlite()` / `only_postgres()`.

Artifact stores: with MW_ARTIFACT_STORE=database every Server keeps
artifacts in the database (--artifact-store database) instead of its data
directory; Server.stored_artifacts() and unfinished_uploads() look into
whichever store a server uses.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("MODELWATCH_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "modelwatch")
SANITIZED = os.environ.get("MW_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE")
BACKEND = os.environ.get("MW_BACKEND", "sqlite")
POSTGRES = BACKEND == "postgres"
# Where servers keep artifacts (--artifact-store): "dir" (the default) or
# "database"; ctest runs test_registry.py once more with the latter.
ARTIFACT_STORE = os.environ.get("MW_ARTIFACT_STORE", "dir")

# The database of each data directory, so that a server restarted on the
# same data directory finds its state again (PostgreSQL only).
_databases = {}


class Skip(Exception):
    """Raised by a test that does not apply to this backend."""


def only_sqlite(why="the embedded SQLite database"):
    if POSTGRES:
        raise Skip("SQLite only: " + why)


def only_postgres(why="PostgreSQL"):
    if not POSTGRES:
        raise Skip("PostgreSQL only: " + why)


def pg():
    """The PostgreSQL cluster of this test process (started on first use)."""
    import pgserver
    return pgserver.shared()


def database_url(data_dir):
    """The --database value of a data directory: a fresh PostgreSQL database
    the first time, the same one afterwards."""
    if data_dir not in _databases:
        _databases[data_dir] = pg().create_database()
    return pg().url(_databases[data_dir])


def db_args(data_dir):
    """The arguments that name the database of data_dir for a command
    (serve, migrate, token create, backup): ["--database", URL] on
    PostgreSQL, none on SQLite (the file in --data-dir)."""
    return ["--database", database_url(data_dir)] if POSTGRES else []


def sql_for(data_dir, query, params=()):
    """Runs query (with ? placeholders) on the database of data_dir,
    whichever the backend, and returns the rows as tuples of strings
    (PostgreSQL: psql's unaligned output, NULL as "") or Python values
    (SQLite). Needs no running server: for a stopped or killed one too."""
    if not POSTGRES:
        import sqlite3
        db = sqlite3.connect(os.path.join(data_dir, "modelwatch.db"))
        try:
            rows = db.execute(query, params).fetchall()
            db.commit()
            return rows
        finally:
            db.close()
    assert data_dir in _databases, "no database made for %s yet" % data_dir
    parts = query.split("?")
    assert len(parts) == len(params) + 1, "placeholders and params differ"
    text = parts[0]
    for v, rest in zip(params, parts[1:]):
        text += _sql_literal(v) + rest
    out = pg().psql(_databases[data_dir], text)
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.raw[:300])


def shared_key_file(args, data_dir):
    """The key file a server must be given when args name the database of
    another data directory (replicas sharing one PostgreSQL database): the
    secret.key its first server created. Every replica must use the key the
    database is encrypted with; None when args name no such database."""
    url = None
    for i, a in enumerate(args):
        if a.startswith("--database="):
            url = a.split("=", 1)[1]
        elif a == "--database" and i + 1 < len(args):
            url = args[i + 1]
    if url is None or not POSTGRES:
        return None
    for d, db in _databases.items():
        if d != data_dir and pg().url(db) == url:
            path = os.path.join(d, "secret.key")
            return path if os.path.exists(path) else None
    return None


class Server:
    """A modelwatch process. `data_dir` survives stop() for restart tests."""

    def __init__(self, data_dir=None, args=(), env=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mwtest-")
        self.args = list(args)
        self.env = env or {}
        self.proc = None
        self.port = None
        self.token = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self, expect_fail=False, same_port=False):
        """same_port: listen where the previous start did (clients that
        hold the URL, like a demo node, find the restarted server)."""
        if not (same_port and self.port):
            self.port = free_port()
        env = dict(os.environ)
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        backend = []
        if POSTGRES and not any(a.startswith("--database") for a in self.args):
            backend = ["--database", database_url(self.data_dir)]
        if ARTIFACT_STORE != "dir" and \
                not any(a.startswith("--artifact-store") for a in self.args):
            backend += ["--artifact-store", ARTIFACT_STORE]
        key = shared_key_file(self.args, self.data_dir)
        if key and not any(a.startswith("--secret-key-file") for a in self.args):
            backend += ["--secret-key-file", key]
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:%d" % self.port,
             "--data-dir", self.data_dir] + backend + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if expect_fail:
            return self.proc.wait(timeout=30)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("modelwatch exited with %s:\n%s" %
                                   (self.proc.returncode, self.logtext()))
            try:
                if self.request("GET", "/healthz", token=None).status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("modelwatch did not become healthy")
        path = os.path.join(self.data_dir, "admin.token")
        if os.path.exists(path):
            with open(path) as f:
                self.token = f.read().strip()
        return self

    def logtext(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, check=True):
        """Stops the process; with SIGTERM it must exit 0 (graceful, and
        under ASan: no leak reports)."""
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        if check and sig == signal.SIGTERM and rc != 0:
            raise AssertionError("modelwatch exited %s on SIGTERM:\n%s" %
                                 (rc, self.logtext()[-4000:]))
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL, check=False)

    def cleanup(self):
        if self.proc:
            self.stop(check=False)
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            # mkdtemp may hand the same path out again: it must then get a
            # fresh database, not this one with its tokens (a server on it
            # would mint no admin token, and the test would send none).
            _databases.pop(self.data_dir, None)

    def sql(self, query, params=()):
        """Runs query (with ? placeholders) on this server's database,
        whichever the backend, and returns the rows as tuples of strings
        (PostgreSQL) or Python values (SQLite). For assertions on stored
        state; the server may be running."""
        return sql_for(self.data_dir, query, params)

    def artifact_store(self):
        """The --artifact-store this server runs with."""
        for i, a in enumerate(self.args):
            if a.startswith("--artifact-store="):
                return a.split("=", 1)[1]
            if a == "--artifact-store" and i + 1 < len(self.args):
                return self.args[i + 1]
        return ARTIFACT_STORE

    def stored_artifacts(self):
        """Digests of the artifacts in the store, sorted."""
        if self.artifact_store() == "database":
            return sorted(r[0] for r in self.sql(
                "SELECT sha256 FROM artifact_blobs WHERE sha256 IS NOT NULL"))
        root = os.path.join(self.data_dir, "artifacts", "sha256")
        return sorted(f for _, _, fs in os.walk(root) for f in fs)

    def unfinished_uploads(self):
        """How many uploads left something in the store that no artifact
        name covers (in progress, or lost)."""
        if self.artifact_store() == "database":
            return int(self.sql("SELECT count(*) FROM artifact_blobs "
                                "WHERE sha256 IS NULL")[0][0])
        tmp = os.path.join(self.data_dir, "artifacts", "tmp")
        return len(os.listdir(tmp)) if os.path.isdir(tmp) else 0

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method, path, body=None, token="admin", headers=None,
                raw=None, conn=None):
        """Sends one request. token="admin" uses the admin token, None sends
        none, any other string is sent as the bearer token."""
        h = dict(headers or {})
        if token == "admin":
            token = self.token
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        own = conn is None
        c = conn or self.connection()
        try:
            try:
                c.request(method, path, body=data, headers=h)
            except (BrokenPipeError, ConnectionResetError):
                # The server answered early (a body over the route's cap
                # is refused on its Content-Length, before it is read) and
                # closed: its answer is already here, read it as curl does.
                pass
            resp = c.getresponse()
            payload = resp.read()
            return Response(resp.status, resp.getheaders(),
                            payload.decode("utf-8", "replace") if
                            not resp.getheader("Content-Type", "").startswith(
                                "application/octet-stream") else payload)
        finally:
            if own:
                c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def token_with(self, name, scopes):
        r = self.post("/api/v1/tokens", {"name": name, "scopes": scopes})
        assert r.status == 201, r
        return r.json["token"]


def expect(resp, status, code=None):
    """Asserts the status (and for errors the JSON error code); returns the
    parsed body."""
    if resp.status != status:
        raise AssertionError("expected %d, got %r" % (status, resp))
    if code is not None:
        assert resp.json and resp.json["error"]["code"] == code, resp
    if status >= 400:
        err = resp.json and resp.json.get("error")
        assert err and "message" in err and "code" in err, resp
    return resp.json


def run(namespace):
    tests = [(n, f) for n, f in sorted(namespace.items())
             if n.startswith("test_") and callable(f)]
    only = sys.argv[1:]
    passed = failed = 0
    for name, fn in tests:
        if only and name not in only:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("PASS %s (%.2fs)" % (name, time.time() - t0), flush=True)
        except Skip as why:
            passed += 1
            print("SKIP %s (%s)" % (name, why), flush=True)
        except Exception:  # noqa: BLE001 - report every failure, go on
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


class served:
    """Context manager: `with served() as s:` starts a fresh server and
    removes its data directory afterwards."""

    def __init__(self, **kw):
        self.kw = kw
        self.s = None

    def __enter__(self):
        self.s = Server(**self.kw).start()
        return self.s

    def __exit__(self, *exc):
        try:
            if self.s.proc and exc[0] is None:
                self.s.stop()
        finally:
            self.s.cleanup()
        return False
