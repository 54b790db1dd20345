"""Secrets at rest (issue 19 item 4): channel, node and subscription URLs
and signing secrets are stored encrypted (AES-256-GCM, core/secrets.h)
under a key kept outside the database, and the outbox keeps only the
scheme and host of where a delivery goes.

Over the real binary, on both backends: deliveries still arrive at the
right URL, correctly signed; neither a distinctive URL nor any whsec_
secret appears in the SQLite file and its WAL (PostgreSQL: in a pg_dump of
the database); a restart with the same key works, another key is refused
with a clear message, and so is a key file others may read; rotate-key
re-encrypts everything under a new key (refused while a server runs), after
which only the new key opens the database; a database with plain values
(as an older binary left it) ends with none after the first start."""
import os
import stat
import subprocess
import time

import mwtest
from mwtest import BIN, Server, db_args, expect, only_postgres, run
from test_delivery import (Receiver, model_with_versions, node, promote,
                           verify_signature, wait_for)

ARGS = ["--allow-private-webhooks", "--eval-interval-seconds", "0",
        "--access-log", "off"]
CHAN_PATH = "/hooks/T0SECRETURL/B0SECRETURL/xyzSECRETURLpath"
NODE_PATH = "/node/N0SECRETNODE?token=N0SECRETQUERY"
SUB_PATH = "/events/S0SECRETSUB"
NEEDLES = [b"T0SECRETURL", b"N0SECRETNODE", b"N0SECRETQUERY", b"S0SECRETSUB"]


# ----------------------------------------------------------------- helpers

def stored_bytes(s):
    """Everything the database holds, as bytes: the SQLite file and its WAL
    as they are on disk, or a pg_dump of the PostgreSQL database."""
    if mwtest.POSTGRES:
        pg = mwtest.pg()
        dbname = mwtest._databases[s.data_dir]
        r = subprocess.run([os.path.join(pg.bindir, "pg_dump"), "--data-only",
                            "-h", "127.0.0.1", "-p", str(pg.port), "-U", pg.USER,
                            dbname], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert b"COPY public.channels" in r.stdout, r.stdout[:500]
        return r.stdout
    out = b""
    for name in ("modelwatch.db", "modelwatch.db-wal"):
        path = os.path.join(s.data_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                out += f.read()
    return out


def assert_nothing_in_clear(s, secrets):
    data = stored_bytes(s)
    for needle in NEEDLES + [x.encode() for x in secrets]:
        assert needle not in data, "%r is stored in plain text" % needle
    # The base64 part of each secret, too (what signs the webhooks).
    for x in secrets:
        if x.startswith("whsec_"):
            assert x[len("whsec_"):].encode() not in data, x
    return data


def key_id_of(s):
    return s.sql("SELECT key_id FROM secret_key")[0][0]


def write_key(path, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(fd, os.urandom(32).hex().encode() + b"\n")
    os.close(fd)
    os.chmod(path, mode)
    return path


def start_fails(data_dir, args):
    """Starts a server that must refuse; returns the end of its log."""
    s = Server(data_dir=data_dir, args=args)
    mark = os.path.getsize(s.log_path) if os.path.exists(s.log_path) else 0
    rc = s.start(expect_fail=True)
    s.log.close()
    assert rc != 0, rc
    with open(s.log_path, "rb") as f:
        f.seek(mark)
        return f.read().decode("utf-8", "replace")


def targets(s, rec):
    """A Slack channel, a node of model m and a subscription to alias
    moves, at distinctive URLs of rec; returns their secrets."""
    model_with_versions(s, "m", 2)
    chan = expect(s.post("/api/v1/channels", {"name": "ops", "type": "slack",
                                              "url": rec.url(CHAN_PATH)}), 201)
    node_secret = node(s, "edge", rec.url(NODE_PATH))
    sub = expect(s.post("/api/v1/subscriptions", {
        "name": "audit", "url": rec.url(SUB_PATH), "events": ["alias.*"]}), 201)
    return {"ops": chan["secret"], "edge": node_secret, "audit": sub["secret"]}


def deliver_all(s, rec, secrets, version):
    """A test notification, a node command and an event: each arrives at
    its full URL, signed with its target's secret."""
    before = {p: len(rec.calls_to(p)) for p in (CHAN_PATH, NODE_PATH, SUB_PATH)}
    expect(s.post("/api/v1/channels/ops/test"), 202)
    promote(s, version)
    for path, name in ((CHAN_PATH, "ops"), (NODE_PATH, "edge"), (SUB_PATH, "audit")):
        calls = wait_for(lambda: rec.calls_to(path)[before[path]:], what=path)
        verify_signature(secrets[name], calls[0])
    # The delivery log says where (scheme, host, port), never the rest.
    for d in expect(s.get("/api/v1/deliveries?limit=1000"), 200)["deliveries"]:
        assert d["url"] == "http://127.0.0.1:%d" % rec.port, d


# ------------------------------------------------------------------- tests

def test_stored_encrypted_delivered_in_clear():
    rec = Receiver()
    s = Server(args=ARGS)
    try:
        s.start()
        secrets = targets(s, rec)
        deliver_all(s, rec, secrets, 1)
        # The API still answers with the URLs, to admin.
        assert expect(s.get("/api/v1/channels/ops"), 200)["url"] == rec.url(CHAN_PATH)
        assert expect(s.get("/api/v1/nodes/edge"), 200)["url"] == rec.url(NODE_PATH)
        assert expect(s.get("/api/v1/subscriptions/audit"), 200)["url"] == \
            rec.url(SUB_PATH)
        # An email channel's SMTP password is a credential too.
        password = "Sm7pPassw0rd-kept-secret"
        expect(s.post("/api/v1/channels", {
            "name": "mail", "type": "email", "url": "smtp://127.0.0.1:2525",
            "to": ["ops@example.com"], "from": "modelwatch@example.com",
            "username": "modelwatch", "password": password}), 201)
        data = assert_nothing_in_clear(s, list(secrets.values()) + [password])
        kid = key_id_of(s)
        (stored,), = s.sql("SELECT password FROM channels WHERE name = 'mail'")
        assert stored.startswith("enc:v1:%s:" % kid), stored
        assert data.count(b"enc:v1:" + kid.encode() + b":") >= 6
        for table in ("channels", "nodes", "subscriptions"):
            for url, secret in s.sql("SELECT url, secret FROM %s" % table):
                assert url.startswith("enc:v1:%s:" % kid), url
                assert secret.startswith("enc:v1:%s:" % kid), secret
        # The key: 0600, 64 hex digits, its id the start of its sha256.
        key = os.path.join(s.data_dir, "secret.key")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        import hashlib
        raw = bytes.fromhex(open(key).read().strip())
        assert hashlib.sha256(raw).hexdigest()[:8] == kid
        s.stop()
        if not mwtest.POSTGRES:  # the file as left after a clean stop
            assert_nothing_in_clear(s, secrets.values())

        # The same key again: everything works as before.
        s.start()
        deliver_all(s, rec, secrets, 2)
        s.stop()

        # Another key: refused, saying which key the database wants.
        other = write_key(os.path.join(s.data_dir, "other.key"))
        log = start_fails(s.data_dir, ARGS + ["--secret-key-file", other])
        assert "encrypted with key %s" % kid in log and "--secret-key-file" in log, log
        # A key file group or others may read: refused.
        os.chmod(os.path.join(s.data_dir, "secret.key"), 0o644)
        log = start_fails(s.data_dir, ARGS)
        assert "chmod 600" in log, log
        os.chmod(os.path.join(s.data_dir, "secret.key"), 0o600)
        # No key file where the database needs one: refused, nothing made.
        os.rename(os.path.join(s.data_dir, "secret.key"), key + ".away")
        log = start_fails(s.data_dir, ARGS)
        assert "no key file at" in log and kid in log, log
        assert not os.path.exists(key)
        os.rename(key + ".away", key)
        s.start()
        expect(s.get("/api/v1/channels/ops"), 200)
    finally:
        s.cleanup()
        rec.close()


def test_tampered_value_fails_its_delivery_only():
    """A ciphertext moved into another row is refused (the associated data
    names the row): the alias still moves - a rollback must never be
    blocked by a node's stored URL - and that node's delivery dies saying
    why, while the others are sent."""
    rec = Receiver()
    s = Server(args=ARGS)
    try:
        s.start()
        secrets = targets(s, rec)
        node(s, "edge2", rec.url("/node2"))
        s.sql("UPDATE nodes SET url = (SELECT url FROM nodes WHERE name = 'edge') "
              "WHERE name = 'edge2'")
        promote(s, 1)
        calls = wait_for(lambda: rec.calls_to(NODE_PATH), what="edge's command")
        verify_signature(secrets["edge"], calls[0])

        def dead():
            return [d for d in expect(s.get("/api/v1/deliveries?state=dead"),
                                      200)["deliveries"] if d["target"] == "edge2"]
        d = wait_for(dead, what="edge2's delivery to die")[0]
        assert "nodes.url of 'edge2' cannot be decrypted" in d["last_error"], d
        assert "authentication failed" in d["last_error"], d
        assert d["url"] == "", d
        assert not rec.calls_to("/node2")
        # Reading it is refused the same way, naming the row, not the value.
        r = s.get("/api/v1/nodes/edge2")
        expect(r, 500, "secret_unreadable")
        assert "nodes.url of 'edge2'" in r.json["error"]["message"], r.json
    finally:
        s.cleanup()
        rec.close()


def test_rotate_key():
    rec = Receiver()
    s = Server(args=ARGS)
    try:
        s.start()
        secrets = targets(s, rec)
        old = key_id_of(s)
        new_key = os.path.join(s.data_dir, "new.key")
        cmd = [BIN, "rotate-key", "--new-key-file", new_key, "--data-dir",
               s.data_dir] + db_args(s.data_dir)
        # Not while a server runs on the database.
        p = subprocess.run(cmd, capture_output=True, text=True)
        assert p.returncode != 0 and "running" in p.stderr, p
        assert not os.path.exists(new_key)
        assert key_id_of(s) == old
        s.stop()
        p = subprocess.run(cmd, capture_output=True, text=True)
        assert p.returncode == 0, p
        assert stat.S_IMODE(os.stat(new_key).st_mode) == 0o600
        new = key_id_of(s)
        assert new != old and new in p.stdout and "6 credential" in p.stdout, p.stdout
        for table in ("channels", "nodes", "subscriptions"):
            for url, secret in s.sql("SELECT url, secret FROM %s" % table):
                assert url.startswith("enc:v1:%s:" % new), url
                assert secret.startswith("enc:v1:%s:" % new), secret
        assert_nothing_in_clear(s, secrets.values())
        # The old key (still secret.key) opens nothing any more.
        log = start_fails(s.data_dir, ARGS)
        assert "encrypted with key %s" % new in log, log
        # The operator swaps the key files; then everything works.
        os.replace(new_key, os.path.join(s.data_dir, "secret.key"))
        s.start()
        deliver_all(s, rec, secrets, 1)
        s.stop()
        # rotate-key refuses a key that is not the one in use.
        other = write_key(os.path.join(s.data_dir, "other.key"))
        p = subprocess.run([BIN, "rotate-key", "--new-key-file", new_key,
                            "--secret-key-file", other, "--data-dir", s.data_dir] +
                           db_args(s.data_dir), capture_output=True, text=True)
        assert p.returncode != 0 and "nothing changed" in p.stderr, p
        assert key_id_of(s) == new
    finally:
        s.cleanup()
        rec.close()


def test_upgrade_encrypts_plain_values():
    """A database as an older binary left it: plain URLs and secrets in the
    target rows, whole URLs in the outbox, no key recorded (and no key file
    in the data directory). The first start encrypts them all."""
    rec = Receiver()
    s = Server(args=ARGS)
    try:
        s.start()
        model_with_versions(s, "m", 2)
        s.stop()
        os.unlink(os.path.join(s.data_dir, "secret.key"))
        now = int(time.time() * 1000)
        chan_secret = "whsec_Q0hBTlNFQ1JFVEtFWUJZVEVTMTIzNDU2"
        node_secret = "whsec_Tk9ERVNFQ1JFVEtFWUJZVEVTMTIzNDU2"
        sub_secret = "whsec_U1VCU0VDUkVUS0VZQllURVMxMjM0NTY3"
        s.sql("DELETE FROM secret_key")
        s.sql("INSERT INTO channels(name, type, url, secret, created_at) "
              "VALUES('ops', 'slack', ?, ?, ?)", (rec.url(CHAN_PATH), chan_secret, now))
        s.sql("INSERT INTO nodes(name, url, secret, created_at) VALUES('edge', ?, ?, ?)",
              (rec.url(NODE_PATH), node_secret, now))
        nid = s.sql("SELECT id FROM nodes WHERE name = 'edge'")[0][0]
        mid = s.sql("SELECT id FROM models WHERE name = 'm'")[0][0]
        s.sql("INSERT INTO node_models(node_id, model_id, alias) "
              "VALUES(?, ?, 'production')", (int(nid), int(mid)))
        s.sql("INSERT INTO subscriptions(name, url, secret, events, created_at, "
              "created_by) VALUES('audit', ?, ?, '[\"alias.*\"]', ?, 'old')",
              (rec.url(SUB_PATH), sub_secret, now))
        s.sql("INSERT INTO outbox(msg_id, kind, target_type, target_name, url, "
              "payload, state, next_attempt_at, created_at) VALUES('msg_old', "
              "'alert', 'channel', 'ops', ?, '{}', 'delivered', ?, ?)",
              (rec.url(CHAN_PATH), now, now))
        secrets = {"ops": chan_secret, "edge": node_secret, "audit": sub_secret}
        assert b"T0SECRETURL" in stored_bytes(s)

        s.start()
        # A URL and a secret for each of the three.
        assert "6 credential(s) encrypted" in s.logtext(), s.logtext()[-3000:]
        assert "1 outbox URL(s) cut down" in s.logtext()
        assert os.path.exists(os.path.join(s.data_dir, "secret.key"))
        assert_nothing_in_clear(s, secrets.values())
        old = [r for r in expect(s.get("/api/v1/deliveries"), 200)["deliveries"]
               if r["webhook_id"] == "msg_old"]
        assert old[0]["url"] == "http://127.0.0.1:%d" % rec.port, old
        # The values decrypt to what they were: deliveries arrive, signed
        # with the secrets stored before the upgrade.
        deliver_all(s, rec, secrets, 1)
        s.stop()
        if not mwtest.POSTGRES:
            assert_nothing_in_clear(s, secrets.values())
    finally:
        s.cleanup()
        rec.close()


def test_replicas_need_the_same_key():
    only_postgres("replicas sharing one database")
    a = Server(args=ARGS)
    b = None
    try:
        a.start()
        expect(a.post("/api/v1/channels", {"name": "ops", "type": "slack",
                                           "url": "http://127.0.0.1:9" + CHAN_PATH}), 201)
        kid = key_id_of(a)
        url = mwtest.database_url(a.data_dir)
        bdir = os.path.join(a.data_dir, "replica-b")
        os.mkdir(bdir, 0o700)
        # A replica given a key file that is not there, or another key:
        # refused, told which key the database wants.
        log = start_fails(bdir, ARGS + ["--database", url, "--secret-key-file",
                                        os.path.join(bdir, "missing.key")])
        assert "cannot open the secret key file" in log, log
        log = start_fails(bdir, ARGS + ["--database", url, "--secret-key-file",
                                        write_key(os.path.join(bdir, "own.key"))])
        assert "encrypted with key %s" % kid in log and "every replica" in log.lower(), log
        # With the first replica's key file (what mwtest passes a replica),
        # it serves the same channel.
        b = Server(data_dir=bdir, args=ARGS + ["--database", url])
        b.own_dir = False
        b.start()
        b.token = a.token
        assert expect(b.get("/api/v1/channels/ops"), 200)["url"].endswith(CHAN_PATH)
        b.stop()
    finally:
        if b:
            b.cleanup()
        a.cleanup()


if __name__ == "__main__":
    run(globals())
