"""Hardening II, registry and data: private files whatever the directory,
alias names that are not numbers, collection of unreferenced artifacts,
and configuration that GET shows and PUT takes back."""
import hashlib
import json
import os
import stat
import subprocess
import tempfile
import threading
import time

from mwtest import BIN, Server, expect, only_sqlite, run, served

SCHEMA = {"features": [{"name": "amount", "type": "numeric"},
                       {"name": "country", "type": "categorical"}],
          "prediction": {"type": "numeric"}}


def upload(s, model, version, data, conn=None):
    digest = hashlib.sha256(data).hexdigest()
    return s.request("PUT", "/api/v1/models/%s/versions/%d/artifact" % (model, version),
                     raw=data, headers={"X-Content-SHA256": digest,
                                        "Content-Type": "application/octet-stream"},
                     conn=conn)


def ready_version(s, model, data, schema=None):
    """Creates model (if needed) and a version with data as its artifact;
    returns the version number."""
    if s.get("/api/v1/models/" + model).status == 404:
        expect(s.post("/api/v1/models", {"name": model}), 201)
    v = expect(s.post("/api/v1/models/%s/versions" % model,
                      {"schema": schema} if schema else {}), 201)["version"]
    expect(upload(s, model, v, data), 200)
    return v


def blob_path(s, data):
    h = hashlib.sha256(data).hexdigest()
    return os.path.join(s.data_dir, "artifacts", "sha256", h[:2], h)


def age(path, seconds=7200):
    t = time.time() - seconds
    os.utime(path, (t, t))


def loose_files(root, skip=("server.log",)):
    """Every file or directory under root (root itself excluded) that group
    or others may read, write or enter: [(path, mode)]."""
    bad = []
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            if d == root and name in skip:
                continue  # the test harness's own log
            p = os.path.join(d, name)
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            if mode & 0o077:
                bad.append((os.path.relpath(p, root), oct(mode)))
    return bad


# ---------------------------------------------------------------- item 7

def test_data_files_private_in_a_world_readable_directory():
    only_sqlite("the modes of modelwatch.db and of a backup of it")
    data_dir = tempfile.mkdtemp(prefix="mwtest-perm-")
    os.chmod(data_dir, 0o755)
    old = os.umask(0o022)
    s = Server(data_dir=data_dir)
    try:
        s.start()
        ready_version(s, "perm", os.urandom(3000))
        # A backup into the same directory: the copy and its artifacts.
        p = subprocess.run([BIN, "backup", os.path.join(data_dir, "backup.db"),
                            "--data-dir", data_dir], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        names = set(os.listdir(data_dir))
        for f in ("modelwatch.db", "modelwatch.db-wal", "modelwatch.db-shm",
                  "admin.token", "artifacts", "backup.db", "backup.db.artifacts"):
            assert f in names, (f, names)
        assert loose_files(data_dir) == [], loose_files(data_dir)
        # The directory itself is the operator's: left as it was.
        assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o755
        s.stop()
        # Files an older binary left open are narrowed at the next start.
        blob = next(os.path.join(d, f) for d, _, fs in
                    os.walk(os.path.join(data_dir, "artifacts", "sha256")) for f in fs)
        for f in (os.path.join(data_dir, "modelwatch.db"), blob):
            os.chmod(f, 0o644)
        os.chmod(os.path.join(data_dir, "artifacts"), 0o755)
        s.start()
        assert loose_files(data_dir) == [], loose_files(data_dir)
        assert "now 0600" in s.logtext()
    finally:
        os.umask(old)
        s.cleanup()
        subprocess.run(["rm", "-rf", data_dir])


# --------------------------------------------------------------- item 11

def test_all_digit_alias_names_refused():
    with served() as s:
        ready_version(s, "digits", b"one", SCHEMA)
        ready_version(s, "digits", b"two", SCHEMA)
        for name in ("2", "007", "1234567890"):
            r = s.put("/api/v1/models/digits/aliases/" + name, {"version": 1})
            expect(r, 422, "validation_failed")
            assert "digits" in r.json["error"]["message"], r
        assert expect(s.get("/api/v1/models/digits"), 200)["aliases"] == {}
        # Names with a non-digit are aliases as before, and in monitor
        # routes a number is always the version.
        for name in ("v2", "2a", "1.5", "production"):
            expect(s.put("/api/v1/models/digits/aliases/" + name, {"version": 1}), 200)
        cfg = "/api/v1/models/digits/versions/%s/drift/config"
        expect(s.put(cfg % "2", {"drift_share": 0.3}), 200)
        assert expect(s.get(cfg % "2"), 200)["drift_share"] == 0.3
        assert expect(s.get(cfg % "production"), 200)["drift_share"] == 0.5
        assert expect(s.get(cfg % "1.5"), 200)["drift_share"] == 0.5


# --------------------------------------------------------------- item 13

def test_losing_concurrent_upload_leaves_no_blob():
    with served() as s:
        expect(s.post("/api/v1/models", {"name": "race"}), 201)
        expect(s.post("/api/v1/models/race/versions", {}), 201)
        bodies = [os.urandom(200000), os.urandom(200000)]
        tmp = os.path.join(s.data_dir, "artifacts", "tmp")
        conns = [s.connection() for _ in bodies]
        for c, body in zip(conns, bodies):
            c.putrequest("PUT", "/api/v1/models/race/versions/1/artifact")
            c.putheader("Authorization", "Bearer " + s.token)
            c.putheader("Content-Type", "application/octet-stream")
            c.putheader("Content-Length", str(len(body)))
            c.putheader("X-Content-SHA256", hashlib.sha256(body).hexdigest())
            c.endheaders()
            c.send(body[:1000])
        # Both handlers are streaming into their temporary files, past the
        # check that the version still lacks its artifact.
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.isdir(tmp) and len(os.listdir(tmp)) == 2:
                break
            time.sleep(0.02)
        assert len(os.listdir(tmp)) == 2, os.listdir(tmp)
        results = [None, None]

        def finish(i):
            conns[i].send(bodies[i][1000:])
            resp = conns[i].getresponse()
            results[i] = (resp.status, resp.read())

        threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = sorted(r[0] for r in results)
        assert statuses == [200, 409], results
        win = [i for i in range(2) if results[i][0] == 200][0]
        v = expect(s.get("/api/v1/models/race/versions/1"), 200)
        assert v["sha256"] == hashlib.sha256(bodies[win]).hexdigest()
        assert os.path.exists(blob_path(s, bodies[win]))
        assert not os.path.exists(blob_path(s, bodies[1 - win]))
        assert os.listdir(tmp) == [], os.listdir(tmp)
        art = s.get("/api/v1/models/race/versions/1/artifact")
        assert art.status == 200 and art.raw == bodies[win]


def test_sweep_collects_unreferenced_blobs_and_stale_uploads():
    data_dir = tempfile.mkdtemp(prefix="mwtest-sweep-")
    s = Server(data_dir=data_dir)
    try:
        s.start()
        shared, alone = os.urandom(5000), os.urandom(6000)
        ready_version(s, "a", shared)
        ready_version(s, "b", shared)
        ready_version(s, "c", alone)
        expect(s.delete("/api/v1/models/a"), 200)
        expect(s.delete("/api/v1/models/c"), 200)
        tmp = os.path.join(data_dir, "artifacts", "tmp")
        stale, fresh = os.path.join(tmp, "upload-stale1"), os.path.join(tmp, "upload-fresh1")
        for f in (stale, fresh):
            with open(f, "wb") as out:
                out.write(b"partial")
        # An unreferenced blob younger than the grace period stays: it may
        # be an upload of another process between its steps.
        young = os.urandom(100)
        yp = blob_path(s, young)
        os.makedirs(os.path.dirname(yp), exist_ok=True)
        with open(yp, "wb") as out:
            out.write(young)
        for p in (blob_path(s, shared), blob_path(s, alone), stale):
            age(p)
        s.stop()
        s.start()  # the start-up sweep
        assert os.path.exists(blob_path(s, shared)), "a blob model b names went"
        assert not os.path.exists(blob_path(s, alone)), "c's blob stayed"
        assert not os.path.exists(stale) and os.path.exists(fresh)
        assert os.path.exists(yp)
        art = s.get("/api/v1/models/b/versions/1/artifact")
        assert art.status == 200 and art.raw == shared
        assert "1 of 3 blobs no version names, 1 stale upload files removed" in \
            s.logtext(), s.logtext()[-2000:]
        # The last version naming it goes: so does the blob, once old.
        expect(s.delete("/api/v1/models/b"), 200)
        age(blob_path(s, shared))
        age(yp)
        s.stop()
        s.start()
        assert not os.path.exists(blob_path(s, shared))
        assert not os.path.exists(yp)
        # Re-uploading content whose blob was collected stores it again.
        ready_version(s, "d", shared)
        assert os.path.exists(blob_path(s, shared))
    finally:
        s.cleanup()
        subprocess.run(["rm", "-rf", data_dir])


# --------------------------------------------------------------- item 14

def config_objects(s):
    """(GET path, write method, path) of every resource whose GET answer a
    PUT or PATCH takes back, after creating one of each."""
    ready_version(s, "cfg", b"artifact", SCHEMA)
    expect(s.put("/api/v1/models/cfg/aliases/production", {"version": 1}), 200)
    return [("/api/v1/models/cfg", "PATCH"),
            ("/api/v1/models/cfg/aliases/production", "PUT"),
            ("/api/v1/models/cfg/versions/1/drift/config", "PUT"),
            ("/api/v1/models/cfg/versions/production/drift/config", "PUT")]


def strip_volatile(doc):
    return {k: v for k, v in doc.items() if k not in ("updated_at",)}


def round_trips(s):
    for path, method in config_objects(s):
        before = expect(s.get(path), 200)
        after = s.request(method, path, body=before)
        assert 200 <= after.status < 300, (method, path, before, after)
        again = expect(s.get(path), 200)
        assert strip_volatile(again) == strip_volatile(before), (path, before, again)
    # A partial PUT, then its GET back: the case that broke with
    # --eval-interval-seconds 0 (interval_seconds 0 stored, then refused).
    cfgp = "/api/v1/models/cfg/versions/1/drift/config"
    expect(s.put(cfgp, {"drift_share": 0.4}), 200)
    got = expect(s.get(cfgp), 200)
    assert got["drift_share"] == 0.4
    expect(s.put(cfgp, got), 200)
    # And a config with every kind of setting.
    full = {"columns": {"amount": {"method": "wasserstein", "threshold": 0.2},
                        "country": {"method": "chi2"}},
            "drift_share": 0.25, "interval_seconds": 60, "window_seconds": 600,
            "schedule": False, "correction": "bh", "label_delay_seconds": 120}
    expect(s.put(cfgp, full), 200)
    got = expect(s.get(cfgp), 200)
    assert got == full, got
    expect(s.put(cfgp, got), 200)
    assert expect(s.get(cfgp), 200) == full
    return got


def test_get_put_round_trip_default_flags():
    with served() as s:
        round_trips(s)
        got = expect(s.get("/api/v1/models/cfg/versions/1/drift/config"), 200)
        expect(s.put("/api/v1/models/cfg/versions/1/drift/config", {}), 200)
        dflt = expect(s.get("/api/v1/models/cfg/versions/1/drift/config"), 200)
        assert dflt["interval_seconds"] == 300 and dflt["window_seconds"] == 3600, dflt
        assert got != dflt


def test_get_put_round_trip_without_scheduled_evaluation():
    with served(args=["--eval-interval-seconds", "0"]) as s:
        cfgp = "/api/v1/models/cfg/versions/1/drift/config"
        round_trips(s)
        expect(s.put(cfgp, {"drift_share": 0.4}), 200)
        got = expect(s.get(cfgp), 200)
        assert got["interval_seconds"] == 0, got
        expect(s.put(cfgp, got), 200)
        # 0 is "never" for a version too; negative is not a value.
        expect(s.put(cfgp, {"interval_seconds": 0}), 200)
        expect(s.put(cfgp, {"interval_seconds": -1}), 422, "validation_failed")
        # The scheduler reads the stored settings every second: they are
        # valid, so nothing is logged about them.
        time.sleep(2.5)
        assert "drift settings" not in s.logtext(), s.logtext()[-3000:]


def test_server_defaults_outside_put_ranges_round_trip():
    # Flags may go past what a version may set (7 days, 366 days): GET shows
    # the server's values and PUT must take them back; they are not pinned
    # into the stored row, so a restart with other flags finds it valid.
    data_dir = tempfile.mkdtemp(prefix="mwtest-dflt-")
    s = Server(data_dir=data_dir, args=["--eval-interval-seconds", "864000",
                                         "--eval-window-seconds", "40000000"])
    try:
        s.start()
        ready_version(s, "big", b"x", SCHEMA)
        cfgp = "/api/v1/models/big/versions/1/drift/config"
        got = expect(s.get(cfgp), 200)
        assert got["interval_seconds"] == 864000 and got["window_seconds"] == 40000000
        got["drift_share"] = 0.3
        expect(s.put(cfgp, got), 200)
        expect(s.put(cfgp, {"interval_seconds": 864001}), 422, "validation_failed")
        s.stop()
        s.args = []
        s.start()
        after = expect(s.get(cfgp), 200)
        assert after["drift_share"] == 0.3 and after["interval_seconds"] == 300, after
        time.sleep(1.5)
        assert "drift settings" not in s.logtext(), s.logtext()[-3000:]
    finally:
        s.cleanup()
        subprocess.run(["rm", "-rf", data_dir])


def test_logs_name_model_and_version_not_row_ids():
    with served() as s:
        # Several versions first, so that row ids and numbers differ.
        for _ in range(3):
            ready_version(s, "first", os.urandom(10), SCHEMA)
        ready_version(s, "named", b"n", SCHEMA)
        row = int(s.sql("SELECT v.id FROM model_versions v JOIN models m ON "
                        "m.id = v.model_id WHERE m.name = 'named'")[0][0])
        assert row == 4
        # A row only a damaged or foreign database holds.
        s.sql("INSERT INTO drift_config(version_id, config, updated_at, updated_by) "
              "VALUES(?, ?, 0, 'test')",
              (row, json.dumps({"columns": {"gone": {"method": "ks"}}})))
        expect(s.get("/api/v1/models/named/versions/1/drift/config"), 200)
        log = s.logtext()
        assert "stored drift settings of model 'named' version 1 are not valid" \
            " (columns.gone: no such column in the schema)" in log, log[-2000:]
        assert "version 4" not in log


run(globals())
