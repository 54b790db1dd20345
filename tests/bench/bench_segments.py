#!/usr/bin/python3
"""Segments benchmark: a window of ROWS (100,000) predictions of 6 columns
(4 numeric, a region column of 25 values, a categorical prediction) over
HTTP against a reference of 20,000 rows, then the median of REPEAT (7)
GET .../drift of the same window: plain (the same-run baseline),
?segment=region (21 segments), ?baseline=previous_window, and both, with
correction bh. Prints the medians and each one's ratio to the plain
report; never fails on time.

Usage: /usr/bin/python3 tests/bench/bench_segments.py [build-dir]
Env: ROWS, REPEAT; MW_BACKEND=postgres runs it on a PostgreSQL the harness
starts (tests/integration/mwtest.py)."""
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
build = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BUILD", "build")
os.environ.setdefault("MODELWATCH_BIN", os.path.join(build, "modelwatch"))
import mwtest  # noqa: E402

ROWS = int(os.environ.get("ROWS", 100000))
REPEAT = int(os.environ.get("REPEAT", 7))
SCHEMA = {"features": [{"name": "x%d" % k, "type": "numeric"} for k in range(4)] +
          [{"name": "region", "type": "categorical"}],
          "prediction": {"type": "categorical"}}


def rows(rng, n, ts0):
    xs = rng.normal(0, 1, (4, n))
    region = rng.choice(["r%02d" % k for k in range(25)], n)
    return [{"timestamp": "%sZ" % time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((ts0 + i * 10) / 1000.0)),
             "features": dict({"x%d" % k: float(xs[k][i]) for k in range(4)},
                              region=str(region[i])),
             "prediction": "yes" if xs[0][i] > 0 else "no"} for i in range(n)]


def main():
    rng = np.random.default_rng(1)
    with mwtest.served() as s:
        mwtest.expect(s.post("/api/v1/models", {"name": "b"}), 201)
        mwtest.expect(s.post("/api/v1/models/b/versions", {"schema": SCHEMA}), 201)
        base = "/api/v1/models/b/versions/1"
        ref = [{"features": r["features"], "prediction": r["prediction"]}
               for r in rows(rng, 20000, 0)]
        mwtest.expect(s.put(base + "/reference", {"rows": ref}), 200)
        t1 = (int(time.time()) // 60) * 60 * 1000 - 60000
        span = ROWS * 10
        t0 = t1 - span
        # The window and the previous one, ROWS rows each.
        for start in (t0 - span, t0):
            batch = rows(rng, ROWS, start)
            for k in range(0, ROWS, 5000):
                mwtest.expect(s.post(base + "/predictions",
                                     {"predictions": batch[k:k + 5000]}), 200)
        mwtest.expect(s.put(base + "/drift/config", {"correction": "bh"}), 200)
        q = "/drift?from=%s&to=%s" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1000)),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t1 / 1000)))
        cases = [("plain", ""), ("segment=region", "&segment=region"),
                 ("previous_window", "&baseline=previous_window"),
                 ("previous_window+segment", "&baseline=previous_window&segment=region")]
        med = {}
        for name, extra in cases:
            times = []
            for _ in range(REPEAT):
                a = time.perf_counter()
                rep = mwtest.expect(s.get(base + q + extra), 200)
                times.append(time.perf_counter() - a)
            assert rep["window"]["count"] == ROWS, rep["window"]
            med[name] = statistics.median(times)
        print("== bench_segments: %d rows per window, 6 columns, 25 regions, %d cores, %s"
              % (ROWS, os.cpu_count(), os.environ.get("MW_BACKEND", "sqlite")))
        for name, _ in cases:
            print("  %-26s median %7.1f ms  (%.2fx plain)" %
                  (name, med[name] * 1000, med[name] / med["plain"]))


if __name__ == "__main__":
    main()
