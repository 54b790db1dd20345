"""Rollouts end to end with the real demo serving node (examples/
demo_node.py) on loopback: it registers itself, serves its own synthetic
traffic, follows the signed rollout.step commands (canary: a share of the
requests to the candidate; shadow: the baseline serves, the candidate runs
on a copy and logs under the same ids), posts labels after a delay, and
reports the candidate loaded. Scenarios: promotion, abort on drift, abort
on a performance drop, shadow agreement, pause/resume, and a SIGKILL of
the server in the middle of a step. Prints how long the node waited from
the step's end (the data that fails it) to its weight 0."""
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

from mwtest import Server, expect, free_port, run
from test_delivery import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")
sys.path.insert(0, EXAMPLES)
import fraud_sim  # noqa: E402

PY = "/usr/bin/python3"
ARGS = ["--rate-limit", "0", "--access-log", "off", "--allow-private-webhooks",
        "--rollout-tick-ms", "200", "--eval-interval-seconds", "0"]
M = "fraud"
GOOD, DRIFTING, BAD = 2, 3, 4
# Per column, a drift flag at p < 0.001: with five columns and thousands of
# rows a 0.05 level flags a healthy candidate about one time in four (the
# multiple-testing problem); what drifts here drifts with p ~ 0.
STRICT = {"columns": dict(
    [(c, {"method": "ks", "threshold": 0.001}) for c in ("amount", "age", "prediction")] +
    [(c, {"method": "chi2", "threshold": 0.001}) for c in ("country", "channel")])}


class World:
    """A server with model fraud v1..v4 (references from the simulated
    traffic, strict drift settings), production -> v1, and one demo node
    serving 400 requests/s with labels one second late."""

    def __init__(self):
        self.s = Server(args=ARGS).start()
        s = self.s
        rng = random.Random(11)
        expect(s.post("/api/v1/models", {"name": M}), 201)
        for v in range(1, 5):
            expect(s.post("/api/v1/models/%s/versions" % M, {"schema": fraud_sim.SCHEMA}), 201)
            data = b"weights of v%d" % v
            import hashlib
            expect(s.request("PUT", "/api/v1/models/%s/versions/%d/artifact" % (M, v), raw=data,
                             headers={"X-Content-SHA256": hashlib.sha256(data).hexdigest()}), 200)
            expect(s.put("/api/v1/models/%s/versions/%d/reference" % (M, v),
                         {"rows": [fraud_sim.row(rng, False) for _ in range(3000)]}), 200)
            expect(s.put("/api/v1/models/%s/versions/%d/drift/config" % (M, v), STRICT), 200)
        token = s.token_with("edge", ["read", "ingest", "promote"])
        self.node_port = free_port()
        self.node_log = open(os.path.join(s.data_dir, "node.log"), "w")
        self.node = subprocess.Popen(
            [PY, os.path.join(EXAMPLES, "demo_node.py"), "--modelwatch",
             "http://127.0.0.1:%d" % s.port, "--token", token, "--name", "edge-1",
             "--model", M, "--port", str(self.node_port), "--traffic", "400",
             "--labels", "--label-delay", "1", "--seed", "5",
             "--drifting-versions", str(DRIFTING), "--bad-versions", str(BAD)],
            stdout=self.node_log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.node_state_or_none(), 20, "the demo node")
        wait_for(lambda: s.get("/api/v1/nodes/edge-1").status == 200, 20, "registration")
        # The node registered itself: it hears the alias it follows move.
        expect(s.put("/api/v1/models/%s/aliases/production" % M, {"version": 1}), 200)
        wait_for(lambda: self.state()["current"] == 1, 20, "the node serving v1")

    def node_state_or_none(self):
        try:
            return self.state()
        except OSError:
            return None

    def state(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/state" % self.node_port,
                                    timeout=5) as r:
            return json.loads(r.read())

    def start(self, candidate, steps, analysis, mode="canary"):
        return expect(self.s.post("/api/v1/models/%s/rollouts" % M, {
            "alias": "production", "candidate_version": candidate, "mode": mode,
            "steps": steps, "analysis": analysis}), 201)["id"]

    def get(self, rid):
        return expect(self.s.get("/api/v1/models/%s/rollouts/%d" % (M, rid)), 200)

    def ended(self, rid, timeout=60):
        return wait_for(lambda: (lambda r: r if r["state"] in ("promoted", "aborted")
                                 else None)(self.get(rid)), timeout, "rollout %d ends" % rid)

    def close(self):
        self.node.terminate()
        try:
            self.node.wait(10)
        except subprocess.TimeoutExpired:
            self.node.kill()
        self.node_log.close()
        self.s.stop(check=False)
        self.s.cleanup()


def world(fn):
    def wrapped():
        w = World()
        try:
            fn(w)
        except Exception:
            print(open(os.path.join(w.s.data_dir, "node.log")).read()[-3000:])
            raise
        finally:
            w.close()
    wrapped.__name__ = fn.__name__
    return wrapped


CANARY = [{"weight_percent": 25, "hold_seconds": 2}, {"weight_percent": 100, "hold_seconds": 2}]
CHECKS = {"max_drift_share": 0.1, "max_candidate_vs_baseline_drift_share": 0.1,
          "min_predictions": 200}


@world
def test_canary_promotes_a_healthy_candidate(w):
    # One column of five may drift by chance (each tested at p < 0.001, 2
    # steps x 2 checks): the healthy candidate is allowed that one, the
    # drifting one below is not (no multiple-testing correction yet).
    rid = w.start(GOOD, CANARY, dict(CHECKS, max_drift_share=0.2,
                                     max_candidate_vs_baseline_drift_share=0.2))
    r = w.ended(rid)
    assert r["state"] == "promoted", r
    for st in r["steps"]:
        assert st["state"] == "passed" and st["checks"], st
        assert {c["name"] for c in st["checks"]} == {
            "candidate_drift_share", "candidate_vs_baseline_drift_share"}, st
    wait_for(lambda: w.state()["current"] == GOOD, 20, "the node serving v2")
    st = w.state()
    # The node really split the traffic: both versions served in the rollout.
    assert st["served"].get("1", 0) > 0 and st["served"].get(str(GOOD), 0) > 0, st
    steps = lambda: [(c.get("weight"), c.get("state")) for c in w.state()["commands"]
                     if c["type"] == "rollout.step"]
    weights = wait_for(lambda: (lambda x: x if len(x) >= 3 else None)(steps()), 20,
                       "the promotion command")
    assert weights[:3] == [(25, "running"), (100, "running"), (100, "promoted")], weights


@world
def test_canary_aborts_a_drifting_candidate(w):
    rid = w.start(DRIFTING, CANARY, CHECKS)
    r = w.ended(rid)
    assert r["state"] == "aborted", r
    failed = [c for c in r["steps"][0]["checks"] if not c["passed"]]
    assert failed and failed[0]["value"] > 0.1, r["steps"][0]
    assert expect(w.s.get("/api/v1/models/%s/aliases/production" % M), 200)["version"] == 1
    wait_for(lambda: w.state()["weight_percent"] == 0, 20, "the node at weight 0")
    # The node records a command after applying it (and reporting its state
    # over HTTP): wait for the record, as the promotion test does.
    steps = lambda: [c for c in w.state()["commands"] if c["type"] == "rollout.step"]
    cmds = wait_for(lambda: (lambda x: x if any(c.get("weight") == 0 for c in x)
                             else None)(steps()), 20, "the abort command recorded")
    zero = [c for c in cmds if c.get("weight") == 0][0]
    first = cmds[0]
    hold_end = first["at_ms"] + 2000
    print("  step 0 could end at +2.00 s; the node got weight 0 at +%.2f s "
          "(%.2f s after the hold)" % ((zero["at_ms"] - first["at_ms"]) / 1000,
                                        (zero["at_ms"] - hold_end) / 1000))


@world
def test_canary_aborts_on_a_performance_drop(w):
    rid = w.start(BAD, CANARY, {"metric": {"name": "mae", "max_drop": 0.02},
                                "label_delay_seconds": 1, "min_predictions": 200})
    r = w.ended(rid)
    assert r["state"] == "aborted", r
    ck = r["steps"][0]["checks"][0]
    assert ck["name"] == "mae_drop" and ck["value"] > 0.02, ck
    # The bad version does not drift: only its labels give it away.
    rep = expect(w.s.get("/api/v1/models/%s/versions/%d/drift?from=%s" % (
        M, BAD, r["created_at"])), 200)
    assert rep["dataset"]["drift_share"] <= 0.2, rep["dataset"]


@world
def test_shadow_pairs_predictions_by_id(w):
    rid = w.start(GOOD, [{"weight_percent": 100, "hold_seconds": 2}],
                  {"max_mean_abs_diff": 0.02, "min_rank_correlation": 0.95,
                   "min_predictions": 200}, mode="shadow")
    r = w.ended(rid)
    assert r["state"] == "promoted", r
    ck = {c["name"]: c for c in r["steps"][0]["checks"]}
    assert ck["mean_abs_diff"]["value"] < 0.02 and ck["rank_correlation"]["value"] > 0.95, ck
    assert "paired" in ck["mean_abs_diff"]["detail"]
    # A drifting candidate in shadow: its predictions disagree with the
    # baseline's on the same requests.
    rid = w.start(DRIFTING, [{"weight_percent": 100, "hold_seconds": 2}],
                  {"max_mean_abs_diff": 0.02, "min_predictions": 200}, mode="shadow")
    r = w.ended(rid)
    assert r["state"] == "aborted" and "mean_abs_diff" in r["reason"], r


@world
def test_pause_and_resume(w):
    rid = w.start(GOOD, [{"weight_percent": 50, "hold_seconds": 3}], {"min_predictions": 100})
    wait_for(lambda: w.state()["weight_percent"] == 50, 20, "the split")
    p = "/api/v1/models/%s/rollouts/%d/" % (M, rid)
    expect(w.s.post(p + "pause", {"reason": "a look first"}), 200)
    time.sleep(4)  # longer than the hold: a paused rollout is not judged
    r = w.get(rid)
    assert r["state"] == "paused" and r["steps"][0]["state"] == "paused", r
    assert w.state()["weight_percent"] == 50  # the nodes keep their split
    expect(w.s.post(p + "resume"), 200)
    r = w.ended(rid)
    assert r["state"] == "promoted", r
    assert [e["kind"] for e in r["events"]] == ["started", "paused", "resumed", "promoted"]


@world
def test_sigkill_in_the_middle_of_a_step(w):
    rid = w.start(GOOD, [{"weight_percent": 30, "hold_seconds": 3},
                         {"weight_percent": 100, "hold_seconds": 1}], {"min_predictions": 100})
    wait_for(lambda: w.state()["weight_percent"] == 30, 20, "the split")
    time.sleep(1)
    w.s.stop(sig=signal.SIGKILL, check=False)
    time.sleep(1)  # the node keeps serving; its logging fails and retries
    w.s.start(same_port=True)
    r = w.ended(rid)
    assert r["state"] == "promoted", r
    time.sleep(1)
    moves = [h for h in expect(w.s.get("/api/v1/models/%s/aliases/production/history" % M),
                               200)["history"] if h["kind"] == "rollout"]
    assert len(moves) == 1, moves
    assert [e["kind"] for e in w.get(rid)["events"]] == ["started", "step", "promoted"]
    wait_for(lambda: w.state()["current"] == GOOD, 20, "the node serving v2")


if __name__ == "__main__":
    run(globals())
