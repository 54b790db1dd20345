"""Rollouts over the real binary, with the test playing the serving node: a
real webhook receiver on loopback gets the signed rollout.step commands,
the test reports the candidate loaded and logs predictions (and labels)
under each version as a node splitting traffic would. Covers validation,
one rollout per alias, the protected-alias refusal, holds (time, nodes,
predictions), abort on drift and on a performance drop with the chat
channel told, promotion by compare-and-swap with history kind `rollout`,
pause/resume/abort/promote by hand, inconclusive steps, subscription
events, and a SIGKILL in the middle of a step. The same scenarios with the
real demo node (examples/demo_node.py) splitting and shadowing traffic are
in test_rollouts_e2e.py."""
import hashlib
import json
import os
import random
import signal
import time

from mwtest import Server, expect, run, served
from test_delivery import Receiver, verify_signature, wait_for

FAST = ["--rate-limit", "0", "--access-log", "off", "--allow-private-webhooks",
        "--rollout-tick-ms", "200", "--alert-group-wait-seconds", "0"]
SCHEMA = {"features": [{"name": "x", "type": "numeric"},
                       {"name": "c", "type": "categorical"}],
          "prediction": {"type": "numeric"}}
M = "fraud"


def version(s, model=M):
    v = expect(s.post("/api/v1/models/%s/versions" % model, {"schema": SCHEMA}), 201)["version"]
    data = os.urandom(64)
    expect(s.request("PUT", "/api/v1/models/%s/versions/%d/artifact" % (model, v), raw=data,
                     headers={"X-Content-SHA256": hashlib.sha256(data).hexdigest()}), 200)
    return v


def rows(n, rng, shift=0.0, ids=None):
    out = []
    for i in range(n):
        x = rng.gauss(shift, 1.0)
        r = {"features": {"x": round(x, 4), "c": rng.choice("abc")},
             "prediction": round(1 / (1 + 2.718 ** -x), 4)}
        if ids:
            r["id"] = "%s-%d" % (ids, i)
        out.append(r)
    return out


def log(s, v, n, rng, shift=0.0, ids=None, model=M):
    expect(s.post("/api/v1/models/%s/versions/%d/predictions" % (model, v),
                  {"predictions": rows(n, rng, shift, ids)}), 200)


class Setup:
    """Model fraud with v1 (production) and v2, both with a reference set; a
    node whose URL is a receiver; a chat channel named by an alert rule of
    the model; a subscription to rollout events."""

    def __init__(self, s, nodes=1):
        self.s = s
        self.rec = Receiver()
        self.rng = random.Random(7)
        expect(s.post("/api/v1/models", {"name": M}), 201)
        self.v1, self.v2 = version(s), version(s)
        for v in (self.v1, self.v2):
            expect(s.put("/api/v1/models/%s/versions/%d/reference" % (M, v),
                         {"rows": rows(2000, self.rng)}), 200)
        expect(s.put("/api/v1/models/%s/aliases/production" % M, {"version": self.v1}), 200)
        self.nodes = {}
        for i in range(nodes):
            name = "edge-%d" % i
            self.nodes[name] = expect(s.post("/api/v1/nodes", {
                "name": name, "url": self.rec.url("/" + name),
                "models": [M]}), 201)["secret"]
        self.chat_secret = expect(s.post("/api/v1/channels", {
            "name": "ops", "type": "slack", "url": self.rec.url("/chat")}), 201)["secret"]
        expect(s.post("/api/v1/alert-rules", {
            "name": "fraud-volume", "model": M, "alias": "production",
            "metric": "prediction_count", "op": "<", "threshold": -1,
            "interval_seconds": 86400, "channels": ["ops"]}), 201)
        self.sub_secret = expect(s.post("/api/v1/subscriptions", {
            "name": "ci", "url": self.rec.url("/events"), "events": ["rollout.*"]}),
            201)["secret"]

    def start(self, body, status=201):
        b = {"alias": "production", "candidate_version": self.v2, "mode": "canary"}
        b.update(body)
        return expect(self.s.post("/api/v1/models/%s/rollouts" % M, b), status)

    def get(self, rid):
        return expect(self.s.get("/api/v1/models/%s/rollouts/%d" % (M, rid)), 200)

    def report(self, node, candidate, state="loaded", weight=None):
        expect(self.s.post("/api/v1/nodes/%s/status" % node, {"models": [{
            "name": M, "version": self.v1, "state": "loaded",
            "candidate_version": candidate, "candidate_state": state,
            "candidate_weight_percent": weight}]}), 200)

    def report_all(self, candidate=None):
        for n in self.nodes:
            self.report(n, candidate or self.v2)

    def commands(self, node="edge-0", kind="rollout.step"):
        out = []
        for c in self.rec.calls_to("/" + node):
            verify_signature(self.nodes[node], c)
            p = json.loads(c["body"])
            if p["type"] == kind:
                out.append(p)
        return out

    def wait_state(self, rid, states, timeout=30):
        return wait_for(lambda: (lambda r: r if r["state"] in states else None)(self.get(rid)),
                        timeout, "rollout %d in %s" % (rid, states))

    def close(self):
        self.rec.close()


def alias_history(s):
    return expect(s.get("/api/v1/models/%s/aliases/production/history" % M), 200)["history"]


STEPS = [{"weight_percent": 20, "hold_seconds": 1}, {"weight_percent": 100, "hold_seconds": 1}]


def test_validation_and_one_rollout_per_alias():
    with served(args=FAST) as s:
        st = Setup(s)
        try:
            for body in ({"steps": []},
                         {"steps": [{"weight_percent": 0, "hold_seconds": 1}]},
                         {"steps": STEPS, "mode": "blue"},
                         {"steps": STEPS, "analysis": {"max_drift_shar": 0.2}},
                         {"steps": STEPS, "candidate_version": 99},
                         {"steps": STEPS, "candidate_version": st.v1},
                         {"steps": STEPS, "alias": "staging"},
                         {"steps": STEPS, "mode": "shadow"}):
                r = st.start(body, 422)
                assert r["error"]["message"], body
            # A drift check against the reference needs one.
            v3 = version(s)
            msg = st.start({"candidate_version": v3, "steps": STEPS,
                            "analysis": {"max_drift_share": 0.5}}, 422)["error"]["message"]
            assert "reference" in msg, msg
            expect(s.post("/api/v1/models/nope/rollouts", {"alias": "production",
                          "candidate_version": 1, "steps": STEPS}), 404)
            slow = [{"weight_percent": 10, "hold_seconds": 3600}]
            r = st.start({"steps": slow})
            assert r["state"] == "running" and r["step"] == 0 and r["weight_percent"] == 10
            assert r["baseline_version"] == st.v1 and r["events"][0]["kind"] == "started"
            assert r["analysis"]["min_predictions"] == 100
            st.start({"steps": slow}, 409)
            # A read-only token reads but cannot start one.
            ro = s.token_with("viewer", ["read"])
            expect(s.get("/api/v1/models/%s/rollouts" % M, token=ro), 200)
            expect(s.post("/api/v1/models/%s/rollouts" % M, {}, token=ro), 403)
            lst = expect(s.get("/api/v1/models/%s/rollouts?state=running" % M), 200)
            assert [x["id"] for x in lst["rollouts"]] == [r["id"]]
            assert "events" not in lst["rollouts"][0]
            expect(s.get("/api/v1/models/%s/rollouts?state=weird" % M), 422)
            expect(s.get("/api/v1/models/%s/rollouts/999" % M), 404)
        finally:
            st.close()


def test_protected_alias_needs_an_approved_candidate():
    with served(args=FAST) as s:
        st = Setup(s, nodes=0)
        try:
            expect(s.put("/api/v1/models/%s/protected-aliases/production" % M, {}), 200)
            r = expect(s.post("/api/v1/models/%s/rollouts" % M, {
                "alias": "production", "candidate_version": st.v2,
                "steps": STEPS, "analysis": {"min_predictions": 0}}), 403, "not_approved")
            assert "approved" in r["error"]["message"]
            assert not expect(s.get("/api/v1/models/%s/rollouts" % M), 200)["rollouts"]
            reviewer = s.token_with("reviewer", ["read", "promote"])
            expect(s.post("/api/v1/models/%s/versions/%d/approval" % (M, st.v2),
                          {"decision": "approved"}, token=reviewer), 200)
            # Approved: it starts; then the candidate is rejected while it
            # runs, and the promotion the last step asks for is refused by
            # the protection: the rollout aborts, the alias stays.
            rid = st.start({"steps": [{"weight_percent": 50, "hold_seconds": 2}],
                            "analysis": {"min_predictions": 0}})["id"]
            expect(s.post("/api/v1/models/%s/versions/%d/approval" % (M, st.v2),
                          {"decision": "rejected"}, token=reviewer), 200)
            r = st.wait_state(rid, ("aborted", "promoted"))
            assert r["state"] == "aborted", r
            assert "promotion refused" in r["reason"] and "approved" in r["reason"], r
            assert alias_history(s)[0]["version"] == st.v1
            refused = expect(s.get("/api/v1/audit?action=alias.refused"), 200)["entries"]
            assert [e["actor"] for e in refused] == ["rollout-controller"], refused
        finally:
            st.close()


def test_promotion_after_every_step_passes():
    with served(args=FAST) as s:
        st = Setup(s, nodes=2)
        try:
            rid = st.start({"steps": STEPS, "analysis": {
                "max_drift_share": 0.5, "min_predictions": 50}})["id"]
            # The step holds until every node reports the candidate loaded.
            wait_for(lambda: len(st.commands("edge-0")) >= 1, what="first command")
            c = st.commands("edge-0")[0]
            assert (c["candidate_weight_percent"], c["state"], c["mode"]) == (20, "running", "canary")
            assert c["baseline_version"] == st.v1 and c["candidate_version"] == st.v2
            assert c["artifact"]["url"].endswith("/versions/%d/artifact" % st.v2)
            log(s, st.v1, 200, st.rng)
            log(s, st.v2, 200, st.rng)
            time.sleep(1.6)
            r = st.get(rid)
            assert r["step"] == 0 and r["state"] == "running", r
            st.report("edge-0", st.v2)
            time.sleep(0.8)
            assert st.get(rid)["step"] == 0  # edge-1 has not loaded it yet
            node = expect(s.get("/api/v1/nodes/edge-0"), 200)["models"][0]
            assert node["candidate"] == {"version": st.v2, "state": "loaded",
                                         "weight_percent": None}, node
            st.report("edge-1", st.v2)
            r = wait_for(lambda: (lambda r: r if r["step"] == 1 else None)(st.get(rid)),
                         what="step 1")
            assert r["steps"][0]["state"] == "passed"
            ck = r["steps"][0]["checks"]
            assert [x["name"] for x in ck] == ["candidate_drift_share"], ck
            assert ck[0]["passed"] and ck[0]["threshold"] == 0.5 and ck[0]["op"] == "<="
            log(s, st.v2, 200, st.rng)
            r = st.wait_state(rid, ("promoted", "aborted"))
            assert r["state"] == "promoted" and r["weight_percent"] == 100, r
            h = alias_history(s)[0]
            assert (h["kind"], h["version"], h["previous_version"]) == ("rollout", st.v2, st.v1)
            kinds = [e["kind"] for e in r["events"]]
            assert kinds == ["started", "step", "promoted"], kinds
            # Nodes heard every step, then the promotion and the alias move.
            wait_for(lambda: len(st.commands("edge-1")) >= 3, what="commands")
            seen = [(c["candidate_weight_percent"], c["state"]) for c in st.commands("edge-1")]
            assert seen == [(20, "running"), (100, "running"), (100, "promoted")], seen
            wait_for(lambda: st.commands("edge-1", "alias.moved"), what="alias.moved")
            # Subscribers heard the story.
            wait_for(lambda: len(st.rec.calls_to("/events")) >= 3, what="events")
            types = [json.loads(c["body"])["type"] for c in st.rec.calls_to("/events")]
            assert types == ["rollout.started", "rollout.step", "rollout.promoted"], types
            for c in st.rec.calls_to("/events"):
                verify_signature(st.sub_secret, c)
            audit = expect(s.get("/api/v1/audit?action=alias.rollout"), 200)["entries"]
            assert len(audit) == 1 and audit[0]["actor"] == "rollout-controller", audit
        finally:
            st.close()


def test_abort_on_drift_tells_nodes_and_chat():
    with served(args=FAST) as s:
        st = Setup(s)
        try:
            rid = st.start({"steps": STEPS, "analysis": {
                "max_drift_share": 0.3, "min_predictions": 100}})["id"]
            st.report_all()
            log(s, st.v1, 300, st.rng)
            log(s, st.v2, 300, st.rng, shift=3.0)  # the candidate's data drifts
            t_data = time.time()
            r = st.wait_state(rid, ("aborted", "promoted"))
            assert r["state"] == "aborted" and r["weight_percent"] == 0, r
            assert "candidate_drift_share failed" in r["reason"], r["reason"]
            ck = r["steps"][0]["checks"][0]
            assert ck["name"] == "candidate_drift_share" and not ck["passed"]
            assert ck["value"] > 0.3 and ck["threshold"] == 0.3
            assert r["steps"][0]["state"] == "failed" and r["steps"][1]["state"] == "skipped"
            cmd = wait_for(lambda: [c for c in st.commands() if c["state"] == "aborted"],
                           what="weight 0 command")[0]
            assert cmd["candidate_weight_percent"] == 0
            t_zero = [c["t"] for c in st.rec.calls_to("/edge-0")
                      if json.loads(c["body"])["state"] == "aborted"][0]
            print("  from the drifting data to the node's weight 0: %.2f s" % (t_zero - t_data))
            chat = wait_for(lambda: st.rec.calls_to("/chat"), what="chat notice")[0]
            verify_signature(st.chat_secret, chat)
            text = chat["body"].decode()
            assert "aborted" in text and "candidate_drift_share" in text, text
            assert alias_history(s)[0]["version"] == st.v1
            assert [e["kind"] for e in r["events"]] == ["started", "aborted"]
        finally:
            st.close()


def test_abort_on_a_performance_drop_waits_for_labels():
    with served(args=FAST) as s:
        st = Setup(s)
        try:
            rid = st.start({"steps": STEPS, "analysis": {
                "metric": {"name": "mae", "max_drop": 0.05}, "min_predictions": 50,
                "label_delay_seconds": 1}})["id"]
            st.report_all()
            base = rows(200, st.rng, ids="b")
            cand = rows(200, st.rng, ids="c")
            for v, rs in ((st.v1, base), (st.v2, cand)):
                expect(s.post("/api/v1/models/%s/versions/%d/predictions" % (M, v),
                              {"predictions": rs}), 200)
            time.sleep(2.5)
            r = st.get(rid)
            assert r["state"] == "running" and r["step"] == 0, r  # no labels yet
            # Labels: the baseline is right, the candidate is off by 0.3.
            expect(s.post("/api/v1/models/%s/versions/%d/labels" % (M, st.v1), {"labels": [
                {"id": x["id"], "label": x["prediction"]} for x in base]}), 200)
            expect(s.post("/api/v1/models/%s/versions/%d/labels" % (M, st.v2), {"labels": [
                {"id": x["id"], "label": x["prediction"] + 0.3} for x in cand]}), 200)
            r = st.wait_state(rid, ("aborted", "promoted"))
            assert r["state"] == "aborted", r
            ck = r["steps"][0]["checks"][0]
            assert ck["name"] == "mae_drop" and abs(ck["value"] - 0.3) < 1e-6, ck
            assert "mae_drop failed" in r["reason"]
        finally:
            st.close()


def test_pause_resume_abort_and_promote_by_hand():
    with served(args=FAST) as s:
        st = Setup(s, nodes=1)
        try:
            slow = [{"weight_percent": 10, "hold_seconds": 3600}]
            rid = st.start({"steps": slow})["id"]
            p = "/api/v1/models/%s/rollouts/%d/" % (M, rid)
            expect(s.post(p + "resume", {}), 409)
            r = expect(s.post(p + "pause", {"reason": "looking"}), 200)
            assert r["state"] == "paused" and r["steps"][0]["state"] == "paused"
            expect(s.post(p + "pause"), 409)
            time.sleep(0.3)
            r = expect(s.post(p + "resume"), 200)
            assert r["state"] == "running"
            assert r["step_started_at"] > r["events"][0]["at"]  # the step starts over
            r = expect(s.post(p + "abort", {"reason": "changed my mind"}), 200)
            assert r["state"] == "aborted" and "changed my mind" in r["reason"]
            assert [e["kind"] for e in r["events"]] == ["started", "paused", "resumed", "aborted"]
            for a in ("pause", "resume", "abort", "promote"):
                expect(s.post(p + a), 409)
            wait_for(lambda: [c for c in st.commands() if c["state"] == "aborted"],
                     what="abort command")
            states = [(c["state"], c["candidate_weight_percent"]) for c in st.commands()]
            assert states == [("running", 10), ("running", 10), ("aborted", 0)], states
            wait_for(lambda: st.rec.calls_to("/chat"), what="chat on abort by hand")
            # Promote by hand: the alias moves now, checks or not.
            rid = st.start({"steps": slow})["id"]
            r = expect(s.post("/api/v1/models/%s/rollouts/%d/promote" % (M, rid),
                              {"reason": "urgent fix"}), 200)
            assert r["state"] == "promoted" and "urgent fix" in r["reason"]
            h = alias_history(s)[0]
            assert (h["kind"], h["version"]) == ("rollout", st.v2)
            actions = [e["action"] for e in
                       expect(s.get("/api/v1/audit?limit=20"), 200)["entries"]]
            for a in ("rollout.start", "rollout.pause", "rollout.resume", "rollout.abort",
                      "rollout.promote", "alias.rollout"):
                assert a in actions, (a, actions)
            # The alias moved under a rollout (by hand here; an alert
            # rule's rollback does the same): a promotion by hand is refused
            # (compare-and-swap) and the controller ends the rollout.
            expect(s.put("/api/v1/models/%s/aliases/production" % M, {"version": st.v1}), 200)
            rid = st.start({"steps": slow})["id"]
            v3 = version(s)
            expect(s.put("/api/v1/models/%s/aliases/production" % M, {"version": v3}), 200)
            expect(s.post("/api/v1/models/%s/rollouts/%d/promote" % (M, rid)), 409)
            r = st.wait_state(rid, ("aborted",))
            assert "moved from v%d to v%d outside the rollout" % (st.v1, v3) in r["reason"], r
            assert alias_history(s)[0]["version"] == v3
        finally:
            st.close()


def test_inconclusive_step_pauses():
    with served(args=FAST) as s:
        st = Setup(s)
        try:
            rid = st.start({"steps": STEPS, "analysis": {
                "min_predictions": 10, "max_wait_seconds": 1}})["id"]
            r = st.wait_state(rid, ("paused",), timeout=20)
            assert "inconclusive" in r["reason"] and "nodes" in r["reason"], r["reason"]
        finally:
            st.close()


def test_sigkill_in_the_middle_of_a_step_resumes_and_promotes_once():
    s = Server(args=FAST).start()
    st = None
    try:
        st = Setup(s)
        rid = st.start({"steps": [{"weight_percent": 50, "hold_seconds": 3},
                                  {"weight_percent": 100, "hold_seconds": 1}],
                        "analysis": {"min_predictions": 20}})["id"]
        st.report_all()
        log(s, st.v2, 50, st.rng)
        time.sleep(1)
        s.stop(sig=signal.SIGKILL, check=False)
        s.start()
        r = st.get(rid)
        assert r["state"] == "running" and r["step"] == 0, r
        log(s, st.v2, 50, st.rng)
        wait_for(lambda: st.get(rid)["step"] == 1, what="step 1 after the restart")
        log(s, st.v2, 50, st.rng)
        r = st.wait_state(rid, ("promoted", "aborted"))
        assert r["state"] == "promoted", r
        time.sleep(1)  # the controller keeps ticking: nothing more happens
        rollout_moves = [h for h in alias_history(s) if h["kind"] == "rollout"]
        assert len(rollout_moves) == 1, rollout_moves
        kinds = [e["kind"] for e in st.get(rid)["events"]]
        assert kinds == ["started", "step", "promoted"], kinds
    finally:
        if st:
            st.close()
        s.stop(check=False)
        s.cleanup()


if __name__ == "__main__":
    run(globals())
