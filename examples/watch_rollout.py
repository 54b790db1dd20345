#!/usr/bin/python3
"""Follows one modelwatch rollout until it ends and prints its timeline:
each step with the weight the nodes were told, each check's value against
its threshold, and the outcome. Exit code 0 when promoted, 3 when aborted,
4 when paused (inconclusive or by hand), 5 on timeout.

Usage:
  watch_rollout.py --modelwatch http://127.0.0.1:8080 --token TOKEN \
      --model fraud --id 1 [--timeout 300]

Only Python's standard library is used.
"""
import argparse
import json
import sys
import time
import urllib.request


def get(base, token, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def ms(ts):
    """RFC 3339 (as modelwatch writes it) to epoch milliseconds."""
    t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    frac = ts[19:].rstrip("Z")
    return int((time.mktime(t) - time.timezone) * 1000 + (float(frac) * 1000 if frac else 0))


def show_checks(checks, out):
    for c in checks:
        thr = "-" if c["threshold"] is None else "%.4g" % c["threshold"]
        val = "n/a" if c["value"] is None else "%.4g" % c["value"]
        out.write("        %-4s %-36s %10s %s %-8s %s\n" % (
            "ok" if c["passed"] else "FAIL", c["name"], val, c["op"], thr,
            c.get("detail", "")))


def timeline(r, out=sys.stdout):
    t0 = ms(r["created_at"])
    out.write("rollout %d of %s@%s: v%d -> v%d (%s), %s\n" % (
        r["id"], r["model"], r["alias"], r["baseline_version"], r["candidate_version"],
        r["mode"], r["state"]))
    for e in r.get("events", []):
        out.write("  +%6.2f s  %-9s step %d  weight %3d%%  by %s\n" % (
            (ms(e["at"]) - t0) / 1000, e["kind"], e["step"], e["weight_percent"], e["actor"]))
        if isinstance(e.get("detail"), list) and e["detail"]:
            show_checks(e["detail"], out)
    if r.get("reason"):
        out.write("  reason: %s\n" % r["reason"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--modelwatch", default="http://127.0.0.1:8080")
    p.add_argument("--token", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    base = a.modelwatch.rstrip("/")
    path = "/api/v1/models/%s/rollouts/%d" % (a.model, a.id)
    deadline = time.time() + a.timeout
    while True:
        r = get(base, a.token, path)
        if r["state"] != "running" or time.time() > deadline:
            break
        time.sleep(0.5)
    timeline(r)
    sys.exit({"promoted": 0, "aborted": 3, "paused": 4}.get(r["state"], 5))


if __name__ == "__main__":
    main()
