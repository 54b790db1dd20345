"""Hardening over the real binary: TLS, backup and restore (of the SQLite
database; PostgreSQL has its own tools, and the commands say so)."""
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import socket
import threading
import time

from mwtest import (BIN, Server, db_args, expect, free_port, only_postgres,
                    only_sqlite, run, served)


def test_tls_with_a_certificate_the_test_made():
    d = tempfile.mkdtemp(prefix="mwtls-")
    try:
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
        # Server.start polls plain HTTP; TLS needs its own start and wait.
        s = Server(args=["--tls-cert", cert, "--tls-key", key])
        s.port = free_port()
        log = open(s.log_path, "ab")
        s.proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:%d" % s.port,
                                   "--data-dir", s.data_dir] + db_args(s.data_dir) + s.args,
                                  stdout=log, stderr=subprocess.STDOUT)
        s.log = log
        url = "https://127.0.0.1:%d" % s.port
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        # libcurl (the curl tool) verifying against the test's certificate.
        p = subprocess.run(["curl", "-sS", "--cacert", cert, url + "/healthz"],
                           capture_output=True, text=True)
        assert p.returncode == 0 and '"ok"' in p.stdout, p
        token = open(os.path.join(s.data_dir, "admin.token")).read().strip()
        p = subprocess.run(["curl", "-sS", "--cacert", cert, "-H", "Authorization: Bearer " + token,
                            url + "/api/v1/tokens"], capture_output=True, text=True)
        assert p.returncode == 0 and '"admin"' in p.stdout, p
        # Without trusting the certificate, verification fails.
        p = subprocess.run(["curl", "-sS", url + "/healthz"], capture_output=True, text=True)
        assert p.returncode == 60, p
        # Plain HTTP on the TLS port gets no answer, and TLS 1.1 is refused.
        p = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/healthz" % s.port],
                           capture_output=True, text=True)
        assert p.returncode != 0
        p = subprocess.run(["curl", "-sS", "--cacert", cert, "--tls-max", "1.1", url + "/healthz"],
                           capture_output=True, text=True)
        assert p.returncode != 0
        s.stop()
        s.cleanup()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_backup_while_serving_and_restore():
    only_sqlite("backup and restore copy the SQLite database file")
    out = tempfile.mkdtemp(prefix="mwbak-")
    try:
        with served() as s:
            expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
            arts = []
            for i in range(3):
                v = expect(s.post("/api/v1/models/fraud/versions", {"metrics": {"auc": i}}), 201)
                data = os.urandom(10000 + i)
                arts.append(data)
                expect(s.request("PUT", "/api/v1/models/fraud/versions/%d/artifact" % v["version"],
                                 raw=data, headers={"X-Content-SHA256": hashlib.sha256(data).hexdigest()}), 200)
            expect(s.put("/api/v1/models/fraud/aliases/production", {"version": 2, "reason": "r"}), 200)
            ci = s.token_with("ci", ["promote"])
            # Writers keep going while the backup runs.
            stop = threading.Event()
            written = []

            def writer():
                i = 0
                while not stop.is_set():
                    r = s.post("/api/v1/models", {"name": "busy-%d" % i})
                    if r.status == 201:
                        written.append(i)
                    i += 1

            t = threading.Thread(target=writer)
            t.start()
            bak = os.path.join(out, "mw.bak")
            p = subprocess.run([BIN, "backup", bak, "--data-dir", s.data_dir],
                               capture_output=True, text=True)
            stop.set()
            t.join()
            assert p.returncode == 0, p
            assert written, "the writer made no progress during the backup"
            # The key is not in the backup, and the backup says so.
            assert "NOT in the backup" in p.stderr, p.stderr
            key = open(os.path.join(s.data_dir, "secret.key")).read()
            p2 = subprocess.run([BIN, "backup", bak, "--data-dir", s.data_dir],
                                capture_output=True, text=True)
            assert p2.returncode != 0 and "exists" in p2.stderr
        db = sqlite3.connect(bak)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
        target = os.path.join(out, "restored")
        p = subprocess.run([BIN, "restore", bak, "--data-dir", target], capture_output=True, text=True)
        assert p.returncode == 0, p
        assert "secret.key" in p.stderr, p.stderr  # where the key must go
        p = subprocess.run([BIN, "restore", bak, "--data-dir", target], capture_output=True, text=True)
        assert p.returncode != 0 and "--force" in p.stderr, p
        # Without the key the restored credentials cannot be read: the
        # server refuses to start and says where the key goes.
        rc = Server(data_dir=target).start(expect_fail=True)
        log = open(os.path.join(target, "server.log")).read()
        assert rc != 0 and "no key file at" in log, log[-2000:]
        keyfile = os.path.join(target, "secret.key")
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, key.encode())
        os.close(fd)
        # Not even --force replaces the database under a running server:
        # its files stay as they are and it keeps answering.
        s1 = Server(data_dir=target).start()
        db_before = os.stat(os.path.join(target, "modelwatch.db")).st_ino
        p = subprocess.run([BIN, "restore", bak, "--data-dir", target, "--force"],
                           capture_output=True, text=True)
        assert p.returncode != 0 and "running modelwatch server" in p.stderr, p
        assert os.stat(os.path.join(target, "modelwatch.db")).st_ino == db_before
        expect(s1.request("GET", "/healthz", token=None), 200)
        s1.stop()
        p = subprocess.run([BIN, "restore", bak, "--data-dir", target, "--force"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p
        # The restored tokens work (ci authenticates, and lacks read), and
        # since tokens exist no new admin token is minted.
        s2 = Server(data_dir=target).start()
        assert s2.token is None
        expect(s2.request("GET", "/api/v1/models/fraud", token=ci), 403)
        expect(s2.request("GET", "/api/v1/models/fraud", token="mw_AAAAAAAA_" + "A" * 40), 401)
        s2.stop()
        p = subprocess.run([BIN, "token", "create", "--name", "restorer", "--scopes", "admin",
                            "--data-dir", target], capture_output=True, text=True)
        assert p.returncode == 0, p
        s3 = Server(data_dir=target).start()
        s3.token = p.stdout.strip()
        m = expect(s3.get("/api/v1/models/fraud"), 200)
        assert m["aliases"] == {"production": 2} and m["version_count"] == 3
        hist = expect(s3.get("/api/v1/models/fraud/aliases/production/history"), 200)["history"]
        assert hist[0]["reason"] == "r"
        for i, data in enumerate(arts):
            r = s3.get("/api/v1/models/fraud/versions/%d/artifact" % (i + 1))
            assert r.status == 200 and r.header("X-Content-SHA256") == hashlib.sha256(data).hexdigest()
        s3.stop()
        s3.cleanup()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_backup_and_restore_refuse_postgresql():
    """With a PostgreSQL database, backup and restore change nothing, exit
    1 and name the tools that do the job (pg_dump, pg_restore)."""
    only_postgres("backup and restore of a PostgreSQL database")
    out = tempfile.mkdtemp(prefix="mwbak-")
    try:
        with served() as s:
            expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
            bak = os.path.join(out, "mw.bak")
            p = subprocess.run([BIN, "backup", bak, "--data-dir", s.data_dir] +
                               db_args(s.data_dir), capture_output=True, text=True)
            assert p.returncode == 1 and "pg_dump" in p.stderr, p
            assert os.listdir(out) == [], os.listdir(out)
            with open(bak, "wb") as f:
                f.write(b"not a backup")
            p = subprocess.run([BIN, "restore", bak, "--data-dir", s.data_dir, "--force"] +
                               db_args(s.data_dir), capture_output=True, text=True)
            assert p.returncode == 1 and "pg_restore" in p.stderr, p
            assert not os.path.exists(os.path.join(s.data_dir, "modelwatch.db"))
            assert [m["name"] for m in expect(s.get("/api/v1/models"), 200)["models"]] == \
                ["fraud"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_rate_limit_per_token():
    with served(args=["--rate-limit", "5", "--rate-burst", "5"]) as s:
        other = s.token_with("other", ["read"])
        codes = [s.get("/api/v1/tokens").status for _ in range(12)]
        assert codes[:4] == [200] * 4, codes
        assert 429 in codes, codes
        r = s.get("/api/v1/tokens")
        if r.status == 429:
            assert int(r.header("Retry-After")) >= 1
            assert r.json["error"]["code"] == "rate_limited"
        # Another token has its own bucket; unauthenticated ops are not limited.
        assert s.get("/api/v1/models", token=other).status == 200
        assert all(s.get("/healthz", token=None).status == 200 for _ in range(20))
        time.sleep(1.2)
        assert s.get("/api/v1/tokens").status == 200


def test_json_shape_limits():
    with served() as s:
        deep = {"name": "x", "scopes": ["read"]}
        node = deep
        for _ in range(40):
            node["n"] = {}
            node = node["n"]
        expect(s.post("/api/v1/tokens", deep), 422, "validation_failed")
        expect(s.post("/api/v1/models", {"name": "m", "description": "x" * 70000}), 422)
        expect(s.post("/api/v1/models", {"name": "m", "tags": {"k": "v"}, "pad": [0] * 100001}),
               413, "too_large")
        # Thousands of levels are refused before parsing (no deep recursion),
        # and the server stays up.
        for depth in (2000, 200000):
            r = s.request("POST", "/api/v1/models", raw=b"[" * depth + b"]" * depth)
            expect(r, 422)
        expect(s.get("/healthz", token=None), 200)
        names = [m["name"] for m in expect(s.get("/api/v1/models"), 200)["models"]]
        assert names == [], names


def test_slow_client_is_cut_off_and_others_are_served():
    with served(args=["--request-timeout-ms", "1000"]) as s:
        slow = socket.create_connection(("127.0.0.1", s.port))
        slow.sendall(b"POST /api/v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                     s.token.encode() + b"\r\nContent-Length: 100\r\n\r\n{")
        t0 = time.time()
        assert s.get("/healthz", token=None).status == 200
        slow.settimeout(10)
        try:
            data = slow.recv(4096)
        except OSError:
            data = b""
        waited = time.time() - t0
        slow.close()
        # The server gave up on the slow body (closed or answered an error)
        # within a few seconds rather than holding the connection.
        assert waited < 30, waited
        assert data == b"" or b" 400 " in data or b" 408 " in data, data[:100]
        assert s.get("/healthz", token=None).status == 200


run(globals())
