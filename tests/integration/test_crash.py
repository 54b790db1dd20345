"""Crash durability: concurrent writes against the real server, SIGKILL at
random moments (CRASH_CYCLES, default 20), restart, and check that every
request that got a 2xx is there, that alias history and outbox events are
neither lost nor duplicated, and (SQLite) that PRAGMA integrity_check says
ok. On PostgreSQL the database outlives the killed server: the same checks
then say that nothing is acknowledged before its transaction commits."""
import hashlib
import http.client
import json
import os
import random
import shutil
import tempfile
import threading
import time

import mwtest
from mwtest import Server, expect, run, sql_for

CYCLES = int(os.environ.get("CRASH_CYCLES", "20"))
SCHEMA = {"features": [{"name": "x", "type": "numeric"}], "prediction": {"type": "numeric"}}


class Workload:
    """Writers that record exactly what the server acknowledged."""

    def __init__(self, s, cycle):
        self.s = s
        self.cycle = cycle
        self.stop = threading.Event()
        self.models = []        # names created with 201
        self.moves = []         # (version, previous) acknowledged with 200
        self.predictions = []   # ids acknowledged with 200
        self.lock = threading.Lock()

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=5)

    def call(self, c, method, path, body):
        c.request(method, path, json.dumps(body),
                  {"Authorization": "Bearer " + self.s.token, "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()

    def create_models(self, k):
        c = self.conn()
        i = 0
        try:
            while not self.stop.is_set():
                name = "m-%d-%d-%d" % (self.cycle, k, i)
                i += 1
                st, _ = self.call(c, "POST", "/api/v1/models", {"name": name})
                if st == 201:
                    with self.lock:
                        self.models.append(name)
        except (OSError, http.client.HTTPException):
            pass

    def promote(self):
        c = self.conn()
        try:
            while not self.stop.is_set():
                st, body = self.call(c, "GET", "/api/v1/models/p/aliases/production", None)
                cur = json.loads(body)["version"] if st == 200 else None
                target = random.choice([v for v in (1, 2, 3) if v != cur])
                st, body = self.call(c, "PUT", "/api/v1/models/p/aliases/production",
                                     {"version": target, "expected_version": cur})
                if st == 200:
                    b = json.loads(body)
                    with self.lock:
                        self.moves.append((b["version"], b["previous_version"]))
        except (OSError, http.client.HTTPException, ValueError):
            pass

    def ingest(self, k):
        c = self.conn()
        i = 0
        try:
            while not self.stop.is_set():
                ids = ["c%d-w%d-b%d-%d" % (self.cycle, k, i, j) for j in range(50)]
                i += 1
                batch = {"predictions": [{"id": pid, "features": {"x": random.random()},
                                          "prediction": 1.0} for pid in ids]}
                st, _ = self.call(c, "POST", "/api/v1/models/p/versions/1/predictions", batch)
                if st == 200:
                    with self.lock:
                        self.predictions.extend(ids)
        except (OSError, http.client.HTTPException):
            pass


def monitor_available(s):
    r = s.post("/api/v1/models/p/versions/1/predictions",
               {"predictions": [{"id": "probe", "features": {"x": 1}, "prediction": 1}]})
    return r.status == 200


def num(v):
    """A stored integer from either backend's rows (PostgreSQL's come as
    text, NULL as ""); None for NULL."""
    return None if v is None or v == "" else int(v)


def check_history_chain(data):
    rows = [(num(v), num(p), kind) for v, p, kind in sql_for(
        data, "SELECT version, previous_version, kind FROM alias_history h "
        "JOIN models m ON m.id = h.model_id WHERE m.name = 'p' "
        "AND alias = 'production' ORDER BY h.id")]
    prev = None
    for v, p, kind in rows:
        assert p == prev, "history chain broken: %r after %r" % ((v, p, kind), prev)
        prev = v
    return rows


def test_sigkill_loses_no_acknowledged_write():
    data = tempfile.mkdtemp(prefix="mwcrash-")
    try:
        s = Server(data_dir=data, args=["--access-log", "off", "--rate-limit", "0"]).start()
        token = s.token
        expect(s.post("/api/v1/models", {"name": "p"}), 201)
        for i in range(3):
            expect(s.post("/api/v1/models/p/versions", {"schema": SCHEMA}), 201)
            blob = b"artifact-%d" % i
            expect(s.request("PUT", "/api/v1/models/p/versions/%d/artifact" % (i + 1), raw=blob,
                             headers={"X-Content-SHA256": hashlib.sha256(blob).hexdigest()}), 200)
        expect(s.post("/api/v1/nodes", {"name": "n1", "url": "http://localhost:9/a", "models": ["p"]}), 201)
        expect(s.post("/api/v1/nodes", {"name": "n2", "url": "http://localhost:9/b", "models": ["p"]}), 201)
        ingest = monitor_available(s)
        all_models, all_moves, all_preds = [], [], ["probe"] if ingest else []
        rng = random.Random(1234)
        for cycle in range(CYCLES):
            w = Workload(s, cycle)
            threads = [threading.Thread(target=w.create_models, args=(k,)) for k in range(2)]
            threads += [threading.Thread(target=w.promote) for _ in range(2)]
            if ingest:
                threads += [threading.Thread(target=w.ingest, args=(k,)) for k in range(2)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.2))
            s.kill()                      # SIGKILL mid-flight
            w.stop.set()
            for t in threads:
                t.join()
            all_models += w.models
            all_moves += w.moves
            all_preds += w.predictions
            if not mwtest.POSTGRES:
                assert sql_for(data, "PRAGMA integrity_check")[0][0] == "ok"
            stored = {n for (n,) in sql_for(data, "SELECT name FROM models")}
            missing = [m for m in all_models if m not in stored]
            assert not missing, "acknowledged models lost: %r" % missing[:5]
            rows = check_history_chain(data)
            # Every acknowledged move is in the history; the history holds no
            # move twice beyond what the chain allows (checked above).
            hist = [(v, p) for v, p, _ in rows]
            for mv in set(all_moves):
                assert hist.count(mv) >= all_moves.count(mv), ("lost move", mv)
            events = [int(n) for n in sql_for(
                data, "SELECT count(*), count(DISTINCT msg_id) FROM outbox "
                "WHERE kind = 'alias.moved'")[0]]
            assert events[0] == events[1] == 2 * len(rows), (events, len(rows))
            if ingest:
                n_stored = int(sql_for(
                    data, "SELECT coalesce(sum(n), 0) FROM pred_blocks")[0][0])
                assert n_stored >= len(all_preds), (n_stored, len(all_preds))
            s = Server(data_dir=data, args=["--access-log", "off", "--rate-limit", "0"])
            s.start()
            s.token = token
        # After the last restart, the API agrees with the database.
        hist = expect(s.get("/api/v1/models/p/aliases/production/history?limit=1000"), 200)["history"]
        assert len(rows) >= len(all_moves) > 0, (len(rows), len(all_moves))
        assert len(hist) == min(1000, len(rows))
        assert (hist[-1]["version"], hist[-1]["previous_version"]) == \
            tuple(rows[len(rows) - len(hist)][:2])
        if ingest and all_preds:
            # Labels find acknowledged predictions by id: all of them exist.
            sample = random.sample(all_preds, min(200, len(all_preds)))
            r = s.post("/api/v1/models/p/versions/1/labels",
                       {"labels": [{"id": pid, "label": 1.0} for pid in sample]})
            expect(r, 200)
        print("cycles=%d models=%d moves=%d predictions=%d history=%d" %
              (CYCLES, len(all_models), len(all_moves), len(all_preds), len(rows)))
        s.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


run(globals())
