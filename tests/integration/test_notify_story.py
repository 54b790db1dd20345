"""Notifications that tell the story, in the sequence of `make demo`: a
rule with for_seconds 0, evaluated every second by the scheduler, with the
rollback action and a 5 s group wait, on traffic that drifts on v2 and is
healthy on v1. The rule fires, rolls production back v2 -> v1 and resolves
on v1 a second later - all within the group wait. The first message the
chat receiver gets still says FIRING, with the value the rule fired with
and the rollback; the webhook channel gets the firing and its resolution,
firing first, each with its value."""
import hashlib
import json
import random
import time

from mwtest import expect, run, served
from test_delivery import Receiver, wait_for

SCHEMA = {"features": [{"name": "x", "type": "numeric"}],
          "prediction": {"type": "numeric"}}


def rows(rng, shift, n):
    return [{"features": {"x": rng.gauss(shift, 1.0)}, "prediction": rng.random()}
            for _ in range(n)]


def two_versions(s, rng):
    """fraud v1 and v2 with the same reference; production on v1 then v2;
    healthy traffic logged on v1, drifted traffic on v2."""
    expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
    reference = rows(rng, 0.0, 1000)
    for v in (1, 2):
        expect(s.post("/api/v1/models/fraud/versions", {"schema": SCHEMA}), 201)
        blob = b"weights-%d" % v
        expect(s.request("PUT", "/api/v1/models/fraud/versions/%d/artifact" % v,
                         raw=blob,
                         headers={"X-Content-SHA256": hashlib.sha256(blob).hexdigest()}),
               200)
        expect(s.put("/api/v1/models/fraud/versions/%d/reference" % v,
                     {"rows": reference}), 200)
    expect(s.put("/api/v1/models/fraud/aliases/production", {"version": 1}), 200)
    expect(s.put("/api/v1/models/fraud/aliases/production", {"version": 2}), 200)
    expect(s.post("/api/v1/models/fraud/versions/1/predictions",
                  {"predictions": rows(rng, 0.0, 500)}), 200)
    expect(s.post("/api/v1/models/fraud/versions/2/predictions",
                  {"predictions": rows(rng, 4.0, 500)}), 200)


def test_fired_and_resolved_within_the_group_wait_is_told_as_fired():
    rec = Receiver()
    try:
        with served(args=["--allow-private-webhooks", "--alert-group-wait-seconds", "5",
                          "--rate-limit", "0"]) as s:
            two_versions(s, random.Random(5))
            expect(s.post("/api/v1/channels", {"name": "ops", "type": "slack",
                                               "url": rec.url("/slack")}), 201)
            expect(s.post("/api/v1/channels", {"name": "hook", "type": "webhook",
                                               "url": rec.url("/hook")}), 201)
            t0 = time.time()
            expect(s.post("/api/v1/alert-rules", {
                "name": "fraud-drift", "model": "fraud", "alias": "production",
                "metric": "dataset_drift_share", "op": ">=", "threshold": 0.5,
                "for_seconds": 0, "window_seconds": 600, "interval_seconds": 1,
                "severity": "critical", "channels": ["ops", "hook"],
                "action": "rollback"}), 201)
            # The scheduler fires it, rolls back, and resolves it on v1.
            resolved = wait_for(
                lambda: s.get("/api/v1/alerts?state=resolved").json["alerts"],
                timeout=20, what="the alert to fire and resolve")[0]
            assert time.time() - t0 < 5, "resolved after the group wait: no story"
            assert not rec.calls, "a message went out before the group wait"
            assert resolved["version"] == 2 and resolved["resolved_version"] == 1, resolved
            fired = resolved["fired_value"]
            assert fired >= 0.5 and resolved["resolved_value"] < 0.5, resolved
            assert resolved["action"]["status"] == "done", resolved
            assert expect(s.get("/api/v1/models/fraud/aliases/production"),
                          200)["version"] == 1

            # The first chat message: FIRING, the value it fired with, the
            # rollback - in the line phones show.
            first = wait_for(lambda: rec.calls_to("/slack"), timeout=15,
                             what="the chat message")[0]
            msg = json.loads(first["body"])
            text = msg["text"]
            want = ("[FIRING:1] fraud - fraud-drift: fraud v2 (production) - "
                    "dataset_drift_share = %.6g (threshold >= 0.5), firing; "
                    "rolled production back v2 -> v1; resolved since" % fired)
            assert text == want, (text, want)
            blocks = json.dumps(msg["blocks"])
            assert "*fraud-drift* - firing" in blocks, blocks
            assert "*fraud-drift* - resolved (now %.6g on v1)" % \
                resolved["resolved_value"] in blocks, blocks
            assert blocks.index("- firing") < blocks.index("- resolved"), blocks

            # The webhook: the firing, then its resolution, both with the
            # value it fired with; the action on each.
            hook = json.loads(wait_for(lambda: rec.calls_to("/hook"),
                                       what="the webhook")[0]["body"])
            assert hook["status"] == "firing", hook
            st = [(a["status"], a["modelwatch"]["value"]) for a in hook["alerts"]]
            assert st == [("firing", fired), ("resolved", fired)], st
            for a in hook["alerts"]:
                assert a["modelwatch"]["action"] == "rolled production back v2 -> v1", a
                assert a["annotations"]["action"] == "rolled production back v2 -> v1"
            assert hook["alerts"][0]["modelwatch"]["resolvedSince"], hook
            assert hook["alerts"][1]["modelwatch"]["resolvedValue"] == \
                resolved["resolved_value"]
            assert hook["alerts"][1]["modelwatch"]["resolvedVersion"] == 1

            # Told once: nothing more for this episode.
            time.sleep(2)
            assert len(rec.calls_to("/slack")) == 1, rec.calls_to("/slack")
            assert len(rec.calls_to("/hook")) == 1
    finally:
        rec.close()


def test_firing_told_with_the_value_it_fired_with():
    """An episode told while it fires: its value, nothing resolved."""
    rec = Receiver()
    try:
        with served(args=["--allow-private-webhooks", "--alert-group-wait-seconds", "0",
                          "--alert-group-interval-seconds", "1",
                          "--rate-limit", "0"]) as s:
            two_versions(s, random.Random(6))
            expect(s.post("/api/v1/channels", {"name": "ops", "type": "slack",
                                               "url": rec.url("/slack")}), 201)
            expect(s.post("/api/v1/alert-rules", {
                "name": "v2-drift", "model": "fraud", "version": 2,
                "metric": "dataset_drift_share", "op": ">=", "threshold": 0.5,
                "for_seconds": 0, "window_seconds": 600, "interval_seconds": 3600,
                "channels": ["ops"]}), 201)
            ev = expect(s.post("/api/v1/alert-rules/v2-drift/evaluate"), 200)
            assert ev["state"] == "firing", ev
            first = json.loads(wait_for(lambda: rec.calls_to("/slack"),
                                        what="the firing")[0]["body"])
            assert first["text"].startswith("[FIRING:1] fraud - v2-drift: fraud v2 - "
                                             "dataset_drift_share = %.6g" % ev["value"]), first
            assert "resolved since" not in first["text"]
    finally:
        rec.close()


if __name__ == "__main__":
    run(globals())
