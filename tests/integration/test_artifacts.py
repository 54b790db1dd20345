"""Artifacts in both stores (--artifact-store dir and database), on whichever
backend the run uses: byte-exact round trips across chunk boundaries, the
sha256 checked again on the way out, uploads that lose, the collector of
the database store, bounded memory for a large artifact, and replicas that
serve each other's artifacts."""
import hashlib
import http.client
import os
import subprocess
import tempfile
import threading
import time

import mwtest
from mwtest import Server, Skip, expect, only_postgres, run, served

STORES = ("dir", "database")
MB = 1 << 20


def sha(data):
    return hashlib.sha256(data).hexdigest()


def new_version(s, model):
    if s.get("/api/v1/models/" + model).status == 404:
        expect(s.post("/api/v1/models", {"name": model}), 201)
    return expect(s.post("/api/v1/models/%s/versions" % model, {}), 201)["version"]


def put_artifact(s, model, version, data):
    return s.request("PUT", "/api/v1/models/%s/versions/%d/artifact" % (model, version),
                     raw=data, headers={"X-Content-SHA256": sha(data),
                                        "Content-Type": "application/octet-stream"})


def download(s, model, version, method="GET"):
    """(response, body, complete): the body as far as it came, and whether
    it came whole (as long as Content-Length said)."""
    c = s.connection()
    try:
        c.request(method, "/api/v1/models/%s/versions/%d/artifact" % (model, version),
                  headers={"Authorization": "Bearer " + s.token})
        r = c.getresponse()
        try:
            body, complete = r.read(), True
        except http.client.IncompleteRead as e:
            body, complete = e.partial, False
        return r, body, complete
    finally:
        c.close()


def damage(s, digest):
    """Changes the stored bytes of the artifact digest (its last chunk, or
    the last byte of its file), keeping their length."""
    if s.artifact_store() == "dir":
        path = os.path.join(s.data_dir, "artifacts", "sha256", digest[:2], digest)
        with open(path, "r+b") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
            f.seek(-1, os.SEEK_END)
            f.write(bytes([last[0] ^ 1]))
        return
    last = ("(SELECT max(seq) FROM artifact_chunks WHERE blob_id = "
            "(SELECT id FROM artifact_blobs WHERE sha256 = ?))")
    blob = "(SELECT id FROM artifact_blobs WHERE sha256 = ?)"
    if mwtest.POSTGRES:
        s.sql("UPDATE artifact_chunks SET data = set_byte(data, 0, "
              "255 - get_byte(data, 0)) WHERE blob_id = " + blob + " AND seq = " + last,
              (digest, digest))
    else:
        s.sql("UPDATE artifact_chunks SET data = zeroblob(length(data)) "
              "WHERE blob_id = " + blob + " AND seq = " + last, (digest, digest))


def test_round_trip_in_both_stores():
    sizes = [0, 1, MB - 1, MB, MB + 1, 3 * MB + MB // 2]
    for store in STORES:
        with served(args=["--artifact-store", store]) as s:
            kept = set()
            for n in sizes:
                data = os.urandom(n)
                v = new_version(s, "m")
                got = expect(put_artifact(s, "m", v, data), 200)
                assert got["sha256"] == sha(data) and got["size"] == n, got
                kept.add(sha(data))
                r, body, complete = download(s, "m", v)
                assert r.status == 200 and complete and body == data, (store, n)
                assert r.getheader("X-Content-SHA256") == sha(data)
                assert r.getheader("ETag") == '"%s"' % sha(data)
                r, body, _ = download(s, "m", v, "HEAD")
                assert r.status == 200 and body == b""
                assert r.getheader("Content-Length") == str(n), (store, n)
            # The same content for another version is stored once.
            v = new_version(s, "other")
            expect(put_artifact(s, "other", v, data), 200)
            assert s.stored_artifacts() == sorted(kept), (store, s.stored_artifacts())
            assert s.unfinished_uploads() == 0
            r, body, complete = download(s, "other", v)
            assert complete and body == data


def test_damaged_artifact_is_not_served():
    """A download verifies the stored bytes against their sha256: a small
    artifact (read whole before the headers) answers 500; a large one is cut
    short before its last piece, never served whole."""
    for store in STORES:
        with served(args=["--artifact-store", store]) as s:
            small, large = os.urandom(100000), os.urandom(3 * MB + 10)
            vs = new_version(s, "m")
            expect(put_artifact(s, "m", vs, small), 200)
            vl = new_version(s, "m")
            expect(put_artifact(s, "m", vl, large), 200)
            damage(s, sha(small))
            damage(s, sha(large))
            r, body, _ = download(s, "m", vs)
            assert r.status == 500, (store, r.status, body[:200])
            assert b'"io_error"' in body, body
            r, body, complete = download(s, "m", vl)
            assert r.status == 200 and not complete, (store, r.status, complete)
            assert len(body) < len(large) and body == large[:len(body)], len(body)
            assert "not served" in s.logtext()
            # The server goes on serving what is intact.
            vo = new_version(s, "m")
            expect(put_artifact(s, "m", vo, b"fine"), 200)
            r, body, complete = download(s, "m", vo)
            assert r.status == 200 and complete and body == b"fine"


def test_losing_concurrent_upload_leaves_nothing_in_the_database():
    with served(args=["--artifact-store", "database"]) as s:
        v = new_version(s, "race")
        bodies = [os.urandom(3 * MB), os.urandom(3 * MB)]
        conns = [s.connection() for _ in bodies]
        for c, body in zip(conns, bodies):
            c.putrequest("PUT", "/api/v1/models/race/versions/%d/artifact" % v)
            c.putheader("Authorization", "Bearer " + s.token)
            c.putheader("Content-Type", "application/octet-stream")
            c.putheader("Content-Length", str(len(body)))
            c.putheader("X-Content-SHA256", sha(body))
            c.endheaders()
            c.send(body[:MB + MB // 2])
        # Both handlers have written a chunk of their upload.
        deadline = time.time() + 30
        while time.time() < deadline and s.unfinished_uploads() < 2:
            time.sleep(0.05)
        assert s.unfinished_uploads() == 2
        results = [None, None]

        def finish(i):
            conns[i].send(bodies[i][MB + MB // 2:])
            resp = conns[i].getresponse()
            results[i] = (resp.status, resp.read())

        threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(r[0] for r in results) == [200, 409], results
        win = [i for i in range(2) if results[i][0] == 200][0]
        assert s.stored_artifacts() == [sha(bodies[win])]
        assert s.unfinished_uploads() == 0
        chunks = int(s.sql("SELECT count(*) FROM artifact_chunks")[0][0])
        assert chunks == 3, chunks
        r, body, complete = download(s, "race", v)
        assert complete and body == bodies[win]


def test_database_store_collector():
    data_dir = tempfile.mkdtemp(prefix="mwtest-artgc-")
    s = Server(data_dir=data_dir, args=["--artifact-store", "database"])
    try:
        s.start()
        shared, alone = os.urandom(5000), os.urandom(2 * MB + 5)
        for model, data in (("a", shared), ("b", shared), ("c", alone)):
            expect(put_artifact(s, model, new_version(s, model), data), 200)
        expect(s.delete("/api/v1/models/a"), 200)
        expect(s.delete("/api/v1/models/c"), 200)
        now = int(time.time() * 1000)
        # What an upload that never ended left, just now: within the grace
        # period nothing goes.
        s.sql("INSERT INTO artifact_blobs(touched_at) VALUES(?)", (now,))
        s.stop()
        s.start()
        assert s.stored_artifacts() == sorted([sha(shared), sha(alone)])
        assert s.unfinished_uploads() == 1
        # Two hours later (as far as the rows say), and another upload that
        # never ended, long ago.
        s.sql("UPDATE artifact_blobs SET touched_at = ? WHERE sha256 IS NOT NULL",
              (now - 7200 * 1000,))
        s.sql("INSERT INTO artifact_blobs(touched_at) VALUES(?)", (now - 7200 * 1000,))
        s.stop()
        s.start()
        assert s.stored_artifacts() == [sha(shared)], "b's artifact went, or c's stayed"
        assert s.unfinished_uploads() == 1  # the fresh one stays
        assert "1 of 2 blobs no version names, 1 stale upload files removed" in \
            s.logtext(), s.logtext()[-2000:]
        # The chunks went with their blobs.
        assert int(s.sql("SELECT count(*) FROM artifact_chunks")[0][0]) == 1
        r, body, complete = download(s, "b", 1)
        assert complete and body == shared
        # Re-uploading content whose artifact was collected stores it again.
        expect(put_artifact(s, "d", new_version(s, "d"), alone), 200)
        r, body, complete = download(s, "d", 1)
        assert complete and body == alone
    finally:
        s.cleanup()
        subprocess.run(["rm", "-rf", data_dir])


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_artifact_keeps_memory_bounded():
    """64 MB up and down through either store: the server holds a chunk at
    a time, so its peak RSS grows by far less than the artifact."""
    if mwtest.SANITIZED:
        raise Skip("ASan's allocator keeps freed memory in quarantine")
    size = 64 * MB
    data = os.urandom(size)
    for store in STORES:
        with served(args=["--artifact-store", store, "--max-artifact",
                          str(2 * size)]) as s:
            v = new_version(s, "big")
            expect(put_artifact(s, "big", v, b"warm-up"), 200)
            download(s, "big", v)
            base = peak_rss_kb(s.proc.pid)
            v = new_version(s, "big")
            expect(put_artifact(s, "big", v, data), 200)
            c = s.connection()
            c.request("GET", "/api/v1/models/big/versions/%d/artifact" % v,
                      headers={"Authorization": "Bearer " + s.token})
            r = c.getresponse()
            h = hashlib.sha256()
            got = 0
            while True:
                block = r.read(MB)
                if not block:
                    break
                h.update(block)
                got += len(block)
            c.close()
            assert got == size and h.hexdigest() == sha(data), store
            grew = peak_rss_kb(s.proc.pid) - base
            print("  %s store: peak RSS grew by %.1f MB for a %d MB artifact"
                  % (store, grew / 1024.0, size // MB))
            assert grew < 16 * 1024, (store, grew)


def test_replicas_serve_each_others_artifacts():
    only_postgres("replicas share a PostgreSQL database")
    with served(args=["--artifact-store", "database"]) as s1:
        s2 = Server(args=["--database", mwtest.database_url(s1.data_dir),
                          "--artifact-store", "database"])
        try:
            s2.start()
            s2.token = s1.token
            one, two = os.urandom(2 * MB + 3), os.urandom(70000)
            v1 = new_version(s1, "m")
            expect(put_artifact(s1, "m", v1, one), 200)
            v2 = new_version(s2, "m")
            expect(put_artifact(s2, "m", v2, two), 200)
            for srv in (s1, s2):
                for v, data in ((v1, one), (v2, two)):
                    r, body, complete = download(srv, "m", v)
                    assert r.status == 200 and complete and body == data
        finally:
            s2.cleanup()


run(globals())
