#!/usr/bin/python3
"""What an erasure costs (POST /api/v1/models/{name}/erasure), next to a
same-run baseline, against one fresh server:

  baseline: POST of one 1000-row batch with ids (one transaction, one
            fsync), the cheapest write the model sees;
  erase 1:  one id (one block rewritten);
  erase K:  K ids spread over K blocks (K blocks rewritten);
  erase 0:  an id that is not there (the scan of every block's ids alone).

The answer time includes the transaction and the scrub (SQLite: secure
delete during it and a TRUNCATE checkpoint of the WAL after; PostgreSQL: a
VACUUM of the tables). The server logs the same time as "erasure on model
...". ROWS (200000) predictions of 12 columns in blocks of 1000 rows
(BLOCKS = ROWS / 1000), K (50). MW_BACKEND=postgres runs it on a
PostgreSQL the harness starts. Prints figures; never fails on time.

Usage: /usr/bin/python3 tests/bench/bench_erasure.py [build-dir]
"""
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
if len(sys.argv) > 1:
    os.environ["MODELWATCH_BIN"] = os.path.join(os.path.abspath(sys.argv[1]),
                                                "modelwatch")
import mwtest  # noqa: E402
from mwtest import Server, expect  # noqa: E402

ROWS = int(os.environ.get("ROWS", "200000"))
K = int(os.environ.get("K", "50"))
SCHEMA = {"features": [{"name": "f%d" % i, "type": "numeric"} for i in range(10)] +
          [{"name": "city", "type": "categorical"}],
          "prediction": {"type": "numeric"}}


def batch(start, n, ts):
    return {"predictions": [
        {"id": "id-%08d" % i, "timestamp": ts,
         "features": dict({"f%d" % k: (i * 7 + k) % 1000 / 10.0 for k in range(10)},
                          city="c%d" % (i % 20)),
         "prediction": (i % 100) / 100.0} for i in range(start, start + n)]}


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return (time.perf_counter() - t0) * 1000, r


def main():
    s = Server(args=["--eval-interval-seconds", "0", "--access-log", "off",
                     "--retention-days", "0"]).start()
    try:
        expect(s.post("/api/v1/models", {"name": "b"}), 201)
        expect(s.post("/api/v1/models/b/versions", {"schema": SCHEMA}), 201)
        path = "/api/v1/models/b/versions/1/predictions"
        base_ts = datetime.now(timezone.utc) - timedelta(hours=10)
        posts = []
        for k, start in enumerate(range(0, ROWS, 1000)):
            # each batch in its own 5-minute bucket: one block each
            ts = (base_ts + timedelta(minutes=5 * k % 590)).strftime(
                "%Y-%m-%dT%H:%M:%S.000Z")
            ms, r = timed(lambda: s.post(path, batch(start, 1000, ts)))
            expect(r, 200)
            posts.append(ms)
        nblocks = ROWS // 1000
        print("== bench_erasure: %s, %d rows in %d blocks of 1000, %d cores" % (
            "PostgreSQL" if mwtest.POSTGRES else "SQLite", ROWS, nblocks,
            os.cpu_count()))
        print("baseline  POST 1000-row batch      median %8.1f ms" %
              statistics.median(posts))
        er = "/api/v1/models/b/erasure"
        ms0, r = timed(lambda: s.post(er, {"ids": ["not-there"]}))
        expect(r, 200)
        print("erase 0   (scan of all ids chunks)        %8.1f ms" % ms0)
        ms1, r = timed(lambda: s.post(er, {"ids": ["id-%08d" % 500]}))
        assert expect(r, 200)["predictions"] == 1
        print("erase 1   (1 block rewritten)             %8.1f ms" % ms1)
        ids = ["id-%08d" % (b * 1000 + 7) for b in range(0, nblocks, max(1, nblocks // K))][:K]
        msk, r = timed(lambda: s.post(er, {"ids": ids}))
        assert expect(r, 200)["predictions"] == len(ids)
        print("erase %-3d (%d blocks rewritten)          %8.1f ms  (%.1f ms a block)" % (
            len(ids), len(ids), msk, msk / len(ids)))
        print("ratio erase 1 / baseline POST: %.1fx" % (ms1 / statistics.median(posts)))
    finally:
        s.stop()
        s.cleanup()


if __name__ == "__main__":
    main()
