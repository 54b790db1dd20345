"""Delivery benchmark: webhook throughput to a local receiver and the
enqueue -> receive latency. Prints figures; never fails on time.

  /usr/bin/python3 tests/bench/bench_delivery.py [build-dir]

Throughput: N alias.moved messages (default 2000) are queued at once (rows
written straight into the outbox of a running server, all due at the same
instant T0), spread over T webhook channels (8, then 1); the figure is N /
(time the last one arrived - T0). With SERVERS=2 two servers share the
database and both drain the outbox; every webhook-id received more than
once is counted. With WRITERS=k, k clients create silences through the
API (one write transaction each) while the outbox drains, and the
latency of those writes is printed: what delivery costs the API's writers.
Latency: alias moves through the API, one at a time, to
one node; latency = arrival at the receiver - the event's `at` (stamped
inside the transaction that queued it).

Backend: SQLite by default; MW_BACKEND=postgres runs the same on a
PostgreSQL cluster the benchmark starts (tests/integration/pgserver.py),
the rows queued with one INSERT ... SELECT and the NOTIFY a queued row's
transaction sends.
"""
import datetime
import hashlib
import http.server
import json
import os
import sqlite3
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BUILD", "build")
os.environ.setdefault("MODELWATCH_BIN", os.path.join(BUILD, "modelwatch"))
N = int(os.environ.get("N", "2000"))
MOVES = int(os.environ.get("MOVES", "200"))
SERVERS = int(os.environ.get("SERVERS", "1"))
WRITERS = int(os.environ.get("WRITERS", "0"))

import mwtest  # noqa: E402  (after the path and binary are set)


class Receiver:
    def __init__(self):
        self.arrivals = {}  # webhook-id -> (time, body)
        self.duplicates = 0  # arrivals of a webhook-id already received
        self.lock = threading.Lock()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                t = time.time()
                with rec.lock:
                    wid = self.headers.get("webhook-id")
                    if wid in rec.arrivals:
                        rec.duplicates += 1
                    rec.arrivals.setdefault(wid, (t, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return len(self.arrivals)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_count(rec, n, timeout):
    deadline = time.time() + timeout
    while rec.count() < n and time.time() < deadline:
        time.sleep(0.005)
    return rec.count()


def setup(s, rec, targets):
    mwtest.expect(s.post("/api/v1/models", {"name": "m"}), 201)
    for i in range(2):
        body = b"artifact-%d" % i
        v = mwtest.expect(s.post("/api/v1/models/m/versions", {}), 201)["version"]
        digest = hashlib.sha256(body).hexdigest()
        mwtest.expect(s.request("PUT", "/api/v1/models/m/versions/%d/artifact" % v,
                                raw=body, headers={"X-Content-SHA256": digest}), 200)
    for i in range(targets):
        mwtest.expect(s.post("/api/v1/nodes", {
            "name": "n%d" % i, "url": "http://127.0.0.1:%d/n%d" % (rec.port, i),
            "models": ["m"]}), 201)


def proc_cpu(pid):
    """CPU seconds (user + system) used so far by process pid."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def channels(s, rec, targets):
    for i in range(targets):
        mwtest.expect(s.post("/api/v1/channels", {
            "name": "c%d" % i, "type": "webhook",
            "url": "http://127.0.0.1:%d/c%d" % (rec.port, i)}), 201)


def queue_rows(s, rec, targets, payload, t0_ms):
    """N rows due at t0_ms, committed at once."""
    if mwtest.POSTGRES:
        lit = "'" + payload.replace("'", "''") + "'"
        s.sql("INSERT INTO outbox(msg_id, kind, target_type, target_name, url, "
              "payload, next_attempt_at, created_at) SELECT 'msg_bench' || "
              "lpad(i::text, 6, '0'), 'alias.moved', 'channel', 'c' || (i %% %d), "
              "'http://127.0.0.1:%d/c' || (i %% %d), %s, %d, %d FROM "
              "generate_series(0, %d) i; NOTIFY mw_change"
              % (targets, rec.port, targets, lit, t0_ms, t0_ms, N - 1))
        return
    db = sqlite3.connect(os.path.join(s.data_dir, "modelwatch.db"), timeout=30)
    rows = [("msg_bench%06d" % i, "alias.moved", "channel", "c%d" % (i % targets),
             "http://127.0.0.1:%d/c%d" % (rec.port, i % targets), payload, t0_ms, t0_ms)
            for i in range(N)]
    db.executemany("INSERT INTO outbox(msg_id, kind, target_type, target_name, url, "
                   "payload, next_attempt_at, created_at) VALUES(?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()


class Writers:
    """k threads creating silences on server s until stopped; latencies in ms."""

    def __init__(self, s, k):
        self.s, self.lat, self.errors = s, [], 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(k)]
        for t in self.threads:
            t.start()

    def run(self):
        conn = self.s.connection()
        body = {"matchers": [{"name": "team", "value": "bench"}],
                "ends_at": "2999-01-01T00:00:00Z", "comment": "bench"}
        while not self.stop.is_set():
            t = time.time()
            r = self.s.post("/api/v1/silences", body, conn=conn)
            if r.status != 201:
                self.errors += 1
            self.lat.append((time.time() - t) * 1e3)
        conn.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        lat = sorted(self.lat) or [float("nan")]
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        return ("; %d API writes meanwhile (%d failed): median %.1f ms, p99 %.1f ms"
                % (len(self.lat), self.errors, statistics.median(lat), p(0.99)))


def throughput(targets):
    rec = Receiver()
    args = ["--allow-private-webhooks", "--access-log", "off", "--log-level", "warn"]
    s = mwtest.Server(args=args)
    more = []
    try:
        s.start()
        channels(s, rec, targets)
        # Further servers on the same database (PostgreSQL: its URL; SQLite:
        # the same data directory).
        for _ in range(SERVERS - 1):
            if mwtest.POSTGRES:
                x = mwtest.Server(args=args + ["--database",
                                               mwtest.database_url(s.data_dir)])
            else:
                x = mwtest.Server(data_dir=s.data_dir, args=args)
                x.own_dir = False
            more.append(x.start())
        payload = json.dumps({"type": "alias.moved", "model": "m", "alias": "production",
                              "from_version": 1, "to_version": 2,
                              "artifact": {"url": "http://x/a", "sha256": "0" * 64,
                                           "size": 10},
                              "reason": "bench", "at": "2026-01-01T00:00:00.000Z"})
        t0_ms = int(time.time() * 1000) + 1500
        queue_rows(s, rec, targets, payload, t0_ms)
        procs = [s] + more
        cpu0 = [proc_cpu(x.proc.pid) for x in procs]
        writers = None
        if WRITERS:
            time.sleep(max(0, t0_ms / 1000.0 - time.time()))
            writers = Writers(s, WRITERS)
        got = wait_count(rec, N, 300)
        cpu = sum(proc_cpu(x.proc.pid) - c0 for x, c0 in zip(procs, cpu0))
        wtext = writers.finish() if writers else ""
        t0 = t0_ms / 1000.0
        times = sorted(t for t, _ in rec.arrivals.values())
        last = times[-1] if times else t0
        first = times[0] if times else t0
        rate = got / (last - t0) if last > t0 else float("nan")
        print("  %d queued, %d target(s), %d server(s): %d received in %.2f s from "
              "due time (first after %.1f ms) -> %.0f webhooks/s; server CPU %.0f "
              "us/webhook; %d received twice%s"
              % (N, targets, len(procs), got, last - t0, (first - t0) * 1e3, rate,
                 cpu / max(got, 1) * 1e6, rec.duplicates, wtext))
        for x in more:
            x.stop()
        s.stop()
    finally:
        for x in more:
            x.cleanup()
        s.cleanup()
        rec.close()


def parse_at(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def latency():
    rec = Receiver()
    s = mwtest.Server(args=["--allow-private-webhooks", "--access-log", "off",
                            "--log-level", "warn"])
    try:
        s.start()
        setup(s, rec, 1)
        lat = []
        for i in range(MOVES):
            before = rec.count()
            mwtest.expect(s.put("/api/v1/models/m/aliases/production",
                                {"version": 1 + i % 2}), 200)
            wait_count(rec, before + 1, 10)
            time.sleep(0.01)
        with rec.lock:
            for t, body in rec.arrivals.values():
                lat.append((t - parse_at(json.loads(body)["at"])) * 1e3)
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        print("  %d alias moves through the API, one node: enqueue->receive "
              "median %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms"
              % (len(lat), statistics.median(lat), p(0.90), p(0.99), lat[-1]))
        s.stop()
    finally:
        s.cleanup()
        rec.close()


def main():
    print("bench_delivery (%s, %s, receiver: Python http.server on loopback, "
          "synchronous=FULL)" % (os.environ["MODELWATCH_BIN"], mwtest.BACKEND))
    throughput(8)
    throughput(1)
    try:
        latency()
    except AssertionError as e:
        # The alias moves need the registry on this backend.
        print("  latency: not measured (%s)" % str(e)[:120])


main()
