#!/usr/bin/python3
"""Traffic generator for modelwatch: logs predictions for a model version,
optionally with labels, and after a while injects drift.

Usage:
  traffic_gen.py --modelwatch http://127.0.0.1:8080 --token TOKEN \
      --model fraud --version 2 [--rate 200] [--drift-after 20] [--duration 0]
  traffic_gen.py ... --reference 5000     (upload a reference set and exit)

Features: amount (numeric, log-normal), age (numeric), country
(categorical), channel (categorical); prediction: fraud score (numeric);
the rows come from fraud_sim.py, which demo_node.py's traffic shares.
After --drift-after seconds, amounts grow 3x, ages shift by 15 years and
the country mix changes, which every drift test notices. Sends batches
once a second; --duration 0 runs until interrupted. Standard library only.
"""
import argparse
import json
import random
import sys
import time
import urllib.error
import urllib.request

from fraud_sim import SCHEMA, row  # noqa: F401 - SCHEMA is used by the tests


def post(base, token, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--modelwatch", default="http://127.0.0.1:8080")
    p.add_argument("--token", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--rate", type=int, default=200, help="predictions per second")
    p.add_argument("--drift-after", type=float, default=20, help="seconds; <0 never")
    p.add_argument("--duration", type=float, default=0, help="seconds; 0 = forever")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reference", type=int, default=0,
                   help="upload this many undrifted rows as the version's reference set, then exit")
    args = p.parse_args()
    rng = random.Random(args.seed)
    base = args.modelwatch.rstrip("/")
    if args.reference > 0:
        rows = [row(rng, False) for _ in range(args.reference)]
        req = urllib.request.Request(
            base + "/api/v1/models/%s/versions/%d/reference" % (args.model, args.version),
            data=json.dumps({"rows": rows}).encode(), method="PUT",
            headers={"Authorization": "Bearer " + args.token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
        print("[traffic] reference set of %d rows uploaded" % args.reference, flush=True)
        return
    path = "/api/v1/models/%s/versions/%d/predictions" % (args.model, args.version)
    start = time.time()
    sent = 0
    while args.duration <= 0 or time.time() - start < args.duration:
        drifted = 0 <= args.drift_after <= time.time() - start
        batch = [row(rng, drifted) for _ in range(args.rate)]
        try:
            post(base, args.token, path, {"predictions": batch})
            sent += len(batch)
        except urllib.error.HTTPError as e:
            sys.exit("ingest refused: %s %s" % (e.code, e.read().decode()[:500]))
        except OSError as e:
            print("modelwatch unreachable (%s); retrying" % e, flush=True)
        if sent % (args.rate * 10) == 0:
            print("[traffic] %d predictions sent%s" % (sent, " (drifted)" if drifted else ""),
                  flush=True)
        time.sleep(max(0.0, 1.0 - (time.time() - start) % 1.0))


if __name__ == "__main__":
    main()
