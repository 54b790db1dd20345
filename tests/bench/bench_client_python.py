#!/usr/bin/python3
"""The Python client's PredictionLogger next to raw HTTP ingest, in one run
against one fresh server:

1. raw: one keep-alive http.client connection POSTing pre-built 500-row
   JSON batches of the examples' fraud schema (examples/fraud_sim.py) with
   UUIDv7 ids and timestamps, as the logger sends them - the rate a single
   sequential sender gets from this server;
2. logger: ROWS log() calls of the same rows as fast as one Python thread
   makes them, timed until flush() returns (rows stored);
3. log() cost: CALLS log() calls, each timed (median, p99, p99.9, max), while
   the logger's thread sends them - what a serving thread pays per call.

Usage: /usr/bin/python3 tests/bench/bench_client_python.py [build-dir]
Env: ROWS (200000), CALLS (200000), BATCH (500); MW_BACKEND=postgres runs it
on a PostgreSQL the harness starts (tests/integration/mwtest.py). Prints
figures; never fails on time.
"""
import gc
import http.client
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, os.path.join(ROOT, "examples"))
build = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BUILD", "build")
os.environ.setdefault("MODELWATCH_BIN", os.path.join(build, "modelwatch"))
import fraud_sim  # noqa: E402
import modelwatch as mw  # noqa: E402
import mwtest  # noqa: E402

ROWS = int(os.environ.get("ROWS", 200000))
CALLS = int(os.environ.get("CALLS", 200000))
BATCH = int(os.environ.get("BATCH", 500))
M = "fraud"


def sample(n, seed):
    rng = random.Random(seed)
    return [fraud_sim.row(rng, False) for _ in range(n)]


def raw_ingest(s, rows):
    """rows/s of pre-built batches over one keep-alive connection."""
    path = "/api/v1/models/%s/versions/1/predictions" % M
    ids = mw.Uuid7()
    now = time.time()
    stamp = mw.format_time(now)
    bodies = []
    for i in range(0, len(rows), BATCH):
        chunk = [{"id": ids.next(), "timestamp": stamp, "features": r["features"],
                  "prediction": r["prediction"]} for r in rows[i:i + BATCH]]
        bodies.append(json.dumps({"predictions": chunk}, separators=(",", ":")).encode())
    hdr = {"Authorization": "Bearer " + s.token, "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    t0 = time.perf_counter()
    for b in bodies:
        conn.request("POST", path, body=b, headers=hdr)
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
    took = time.perf_counter() - t0
    conn.close()
    return len(rows) / took, sum(len(b) for b in bodies) / len(rows)


def logger_throughput(c, rows):
    lg = mw.PredictionLogger(c, M, 2, batch_size=BATCH, queue_size=len(rows) + 1,
                             flush_at_exit=False)
    log = lg.log
    t0 = time.perf_counter()
    for r in rows:
        log(r["features"], r["prediction"])
    t_logged = time.perf_counter() - t0
    assert lg.flush(600), lg.stats()
    took = time.perf_counter() - t0
    st = lg.stats()
    lg.close()
    assert st["sent"] == len(rows) and st["dropped_queue_full"] == 0, st
    return len(rows) / took, len(rows) / t_logged, st


def log_cost(c, rows):
    lg = mw.PredictionLogger(c, M, 3, batch_size=BATCH, queue_size=len(rows) + 1,
                             flush_at_exit=False)
    log = lg.log
    pc = time.perf_counter_ns
    took = [0] * len(rows)
    gc.disable()  # the collector's pauses are the caller's, not log()'s
    try:
        for i, r in enumerate(rows):
            f, p = r["features"], r["prediction"]
            t = pc()
            log(f, p)
            took[i] = pc() - t
    finally:
        gc.enable()
    assert lg.flush(600), lg.stats()
    st = lg.stats()
    lg.close()
    assert st["sent"] == len(rows), st
    took.sort()
    n = len(took)
    return {q: took[min(n - 1, int(n * q))] / 1000 for q in (0.5, 0.99, 0.999)}, took[-1] / 1000


def main():
    s = mwtest.Server(args=["--access-log", "off", "--rate-limit", "0",
                            "--eval-interval-seconds", "0"]).start()
    try:
        c = mw.Client("http://127.0.0.1:%d" % s.port, s.token)
        c.create_model(M)
        for v in (1, 2, 3):
            c.create_version(M, schema=fraud_sim.SCHEMA)
        print("== bench_client_python: backend %s, %d cores, Python %s, batches of %d" % (
            mwtest.BACKEND, os.cpu_count(), sys.version.split()[0], BATCH))
        rows = sample(ROWS, 1)
        raw, per_row = raw_ingest(s, rows)
        print("raw HTTP ingest (1 connection, pre-built JSON, %.0f bytes/row): %8.0f rows/s"
              % (per_row, raw))
        thr, logged, st = logger_throughput(c, sample(ROWS, 2))
        print("PredictionLogger, %d rows logged -> stored:            %8.0f rows/s "
              "(%.2fx raw; log() loop alone %.0f/s; %d batches, %d retries)" % (
                  ROWS, thr, thr / raw, logged, st["batches"], st["retries"]))
        q, worst = log_cost(c, sample(CALLS, 3))
        print("log() cost over %d calls while the logger sends: median %.2f us, p99 %.2f us, "
              "p99.9 %.1f us, max %.1f ms" % (CALLS, q[0.5], q[0.99], q[0.999], worst / 1000))
    finally:
        s.stop(check=False)
        s.cleanup()


if __name__ == "__main__":
    main()
