#!/usr/bin/python3
"""Registry benchmark: registers 10,000 versions across 100 models over HTTP,
then reports list/search latency (median, p99) and artifact upload/download
throughput next to `cp` of the same file in the same run.

Usage: /usr/bin/python3 tests/bench/bench_registry.py [build-dir]
Env: MODELS (100), VERSIONS (100 per model), ART_MB (256), SYNC (full);
MW_BACKEND=postgres runs it on a PostgreSQL the harness starts, and
MW_ARTIFACT_STORE=database keeps the artifact in the database
(tests/integration/mwtest.py). Prints figures; never fails on time.
"""
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
build = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BUILD", "build")
os.environ.setdefault("MODELWATCH_BIN", os.path.join(build, "modelwatch"))
import mwtest  # noqa: E402

MODELS = int(os.environ.get("MODELS", 100))
VERSIONS = int(os.environ.get("VERSIONS", 100))
ART_MB = int(os.environ.get("ART_MB", 256))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    # No per-token rate limit: the clients here are the load being measured.
    s = mwtest.Server(args=["--access-log", "off", "--rate-limit", "0",
                            "--sync", os.environ.get("SYNC", "full")]).start()
    print("backend %s, artifact store %s" % (mwtest.BACKEND, mwtest.ARTIFACT_STORE))
    try:
        hdr = {"Authorization": "Bearer " + s.token, "Content-Type": "application/json"}

        def register(models):
            c = s.connection()
            for m in models:
                c.request("POST", "/api/v1/models", json.dumps({"name": m}), hdr)
                c.getresponse().read()
                for v in range(VERSIONS):
                    body = json.dumps({"metrics": {"auc": v / VERSIONS}, "run_id": "r%d" % v})
                    c.request("POST", "/api/v1/models/%s/versions" % m, body, hdr)
                    r = c.getresponse()
                    r.read()
                    assert r.status == 201, r.status
            c.close()

        names = ["model-%03d" % i for i in range(MODELS)]
        t0 = time.time()
        threads = [threading.Thread(target=register, args=(names[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reg_s = time.time() - t0
        total = MODELS * VERSIONS
        print("registered %d versions across %d models in %.1f s (%.0f versions/s, 4 clients)"
              % (total, MODELS, reg_s, total / reg_s))

        c = s.connection()

        def timed(path, n):
            lat = []
            for i in range(n):
                t = time.perf_counter()
                c.request("GET", path(i), headers=hdr)
                r = c.getresponse()
                r.read()
                assert r.status == 200, (path(i), r.status)
                lat.append((time.perf_counter() - t) * 1000)
            return lat

        cases = [
            ("list models (limit=100)", lambda i: "/api/v1/models?limit=100", 200),
            ("search models (q=model-04)", lambda i: "/api/v1/models?q=model-04", 300),
            ("list versions (limit=100)", lambda i: "/api/v1/models/%s/versions?limit=100" % names[i % MODELS], 200),
            ("list versions (limit=10)", lambda i: "/api/v1/models/%s/versions?limit=10" % names[i % MODELS], 500),
            ("get version", lambda i: "/api/v1/models/%s/versions/%d" % (names[i % MODELS], 1 + i % VERSIONS), 1000),
        ]
        print("%-30s %10s %10s" % ("request", "median ms", "p99 ms"))
        for label, path, n in cases:
            lat = timed(path, n)
            print("%-30s %10.2f %10.2f" % (label, statistics.median(lat), pct(lat, 99)))

        # Artifact throughput against cp of the same file.
        tmp = tempfile.mkdtemp(prefix="mwbench-", dir=s.data_dir)
        src = os.path.join(tmp, "artifact.bin")
        with open(src, "wb") as f:
            for _ in range(ART_MB):
                f.write(os.urandom(1 << 20))
        size = os.path.getsize(src)
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        t = time.perf_counter()
        subprocess.run(["cp", src, src + ".copy"], check=True)
        subprocess.run(["sync", src + ".copy"], check=True)
        cp_s = time.perf_counter() - t
        os.unlink(src + ".copy")
        c.request("POST", "/api/v1/models/%s/versions" % names[0], "{}", hdr)
        v = json.loads(c.getresponse().read())["version"]
        url = "/api/v1/models/%s/versions/%d/artifact" % (names[0], v)
        t = time.perf_counter()
        with open(src, "rb") as f:
            c.request("PUT", url, body=f, headers={
                "Authorization": hdr["Authorization"], "X-Content-SHA256": digest,
                "Content-Length": str(size)})
            r = c.getresponse()
            r.read()
        up_s = time.perf_counter() - t
        assert r.status == 200, r.status
        t = time.perf_counter()
        c.request("GET", url, headers=hdr)
        r = c.getresponse()
        got = 0
        while True:
            block = r.read(1 << 20)
            if not block:
                break
            got += len(block)
        down_s = time.perf_counter() - t
        assert got == size
        mb = size / 1e6
        print("artifact %d MB: upload %.0f MB/s (sha256 + durable store), download %.0f MB/s, "
              "cp+sync %.0f MB/s; upload/cp = %.2f, download/cp = %.2f"
              % (size >> 20, mb / up_s, mb / down_s, mb / cp_s, cp_s / up_s, cp_s / down_s))
        c.close()
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        s.stop(check=False)
        s.cleanup()


if __name__ == "__main__":
    main()
