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
the country mix changes, which every drift test notices. Rows are logged
through modelwatch.PredictionLogger (clients/python, found there when not
installed): ordered ids, batches of up to 500, re-sent while modelwatch is
unreachable; a refused batch ends the run (exit 1). Logs --rate rows once
a second; --duration 0 runs until interrupted, otherwise it waits (up to
60 s) for everything to be stored before exiting. Standard library and the
modelwatch package only.
"""
import argparse
import os
import random
import sys
import time

from fraud_sim import SCHEMA, row  # noqa: F401 - SCHEMA is used by the tests

try:
    import modelwatch as mw
except ImportError:  # not installed: the package of this tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "clients", "python"))
    import modelwatch as mw


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
    client = mw.Client(args.modelwatch, args.token, timeout=60)
    if args.reference > 0:
        rows = [row(rng, False) for _ in range(args.reference)]
        try:
            client.set_reference(args.model, args.version, rows=rows)
        except mw.ModelwatchError as e:
            sys.exit("reference set refused: %s" % e)
        print("[traffic] reference set of %d rows uploaded" % args.reference, flush=True)
        return
    refused = []
    logger = mw.PredictionLogger(
        client, args.model, args.version, batch_size=500, flush_interval=0.5,
        on_result=lambda kind, outcome, rows, error:
            refused.append(error) if outcome == "rejected" else None)
    start = time.time()
    seconds, retries = 0, 0
    while args.duration <= 0 or time.time() - start < args.duration:
        if refused:
            sys.exit("ingest refused: %s" % refused[0])
        drifted = 0 <= args.drift_after <= time.time() - start
        for _ in range(args.rate):
            r = row(rng, drifted)
            logger.log(r["features"], r["prediction"])
        seconds += 1
        st = logger.stats()
        if st["retries"] > retries:
            print("modelwatch unreachable (%s); retrying" % st["last_error"], flush=True)
            retries = st["retries"]
        if seconds % 10 == 0:
            print("[traffic] %d predictions sent%s" % (st["sent"], " (drifted)" if drifted
                                                       else ""), flush=True)
        time.sleep(max(0.0, 1.0 - (time.time() - start) % 1.0))
    done = logger.close(timeout=60)
    if refused:
        sys.exit("ingest refused: %s" % refused[0])
    if not done:
        sys.exit("modelwatch unreachable: %d predictions not sent" % logger.stats()["abandoned"])


if __name__ == "__main__":
    main()
