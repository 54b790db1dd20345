"""Governance over the real binary: decisions on versions (four eyes, an
append-only history, audited), protected aliases refusing every move to a
version that is not approved - by hand, by the rollback endpoint and by an
alert rule's rollback - with the emergency-rollback exception, the audit
log that records each refusal, and event subscriptions: registry and alert
events delivered to a real receiver, signed, filtered by event and model
pattern."""
import hashlib
import json

from mwtest import expect, run, served
from test_delivery import Receiver, verify_signature, wait_for

FAST = ["--rate-limit", "0", "--access-log", "off"]
SCHEMA = {"features": [{"name": "x", "type": "numeric"}],
          "prediction": {"type": "numeric"}}


def version(s, model, token, body=b"weights"):
    """A ready version of model created by token; its number."""
    v = expect(s.post("/api/v1/models/%s/versions" % model, {"schema": SCHEMA},
                      token=token), 201)["version"]
    expect(s.request("PUT", "/api/v1/models/%s/versions/%d/artifact" % (model, v),
                     raw=body + b"%d" % v, token=token,
                     headers={"X-Content-SHA256":
                              hashlib.sha256(body + b"%d" % v).hexdigest()}), 200)
    return v


def decide(s, model, v, decision, token, comment=None):
    body = {"decision": decision}
    if comment is not None:
        body["comment"] = comment
    return s.post("/api/v1/models/%s/versions/%d/approval" % (model, v), body, token=token)


def alias_of(s, model, alias):
    r = s.get("/api/v1/models/%s/aliases/%s" % (model, alias))
    return r.json["version"] if r.status == 200 else None


def audit(s, action=None, target=None):
    q = []
    if action:
        q.append("action=" + action)
    if target:
        q.append("target=" + target)
    return expect(s.get("/api/v1/audit" + ("?" + "&".join(q) if q else "")), 200)["entries"]


def team(s):
    """A CI token that registers and promotes, and a reviewer's."""
    return (s.token_with("ci", ["read", "promote"]),
            s.token_with("reviewer", ["read", "promote"]))


def test_decisions_on_versions():
    with served(args=FAST) as s:
        ci, reviewer = team(s)
        reader = s.token_with("viewer", ["read"])
        expect(s.post("/api/v1/models", {"name": "fraud"}, token=ci), 201)
        v1 = version(s, "fraud", ci)
        got = expect(s.get("/api/v1/models/fraud/versions/%d" % v1), 200)
        assert got["approval"] == {"state": "none", "by": None, "at": None,
                                   "comment": None}, got
        # Four eyes: the creator may not decide, a read token may not either.
        r = expect(decide(s, "fraud", v1, "approved", ci), 403, "self_approval")
        assert "token:ci" in r["error"]["message"], r
        expect(decide(s, "fraud", v1, "approved", reader), 403, "forbidden")
        assert expect(s.get("/api/v1/models/fraud/versions/%d" % v1),
                      200)["approval"]["state"] == "none"
        # Bad decisions, versions that are not there or not ready.
        expect(decide(s, "fraud", v1, "maybe", reviewer), 422, "validation_failed")
        expect(s.post("/api/v1/models/fraud/versions/%d/approval" % v1,
                      {"decision": "approved", "comment": 5}, token=reviewer), 422)
        expect(decide(s, "fraud", v1, "approved", reviewer, "x" * 5000), 422)
        expect(decide(s, "fraud", 99, "approved", reviewer), 404, "not_found")
        expect(decide(s, "nope", 1, "approved", reviewer), 404, "not_found")
        pending = expect(s.post("/api/v1/models/fraud/versions", {}, token=ci), 201)["version"]
        expect(decide(s, "fraud", pending, "approved", reviewer), 422, "validation_failed")
        # Whoever uploaded the artifact chose the bytes: refused too.
        body = b"bytes chosen by the reviewer"
        expect(s.request("PUT", "/api/v1/models/fraud/versions/%d/artifact" % pending,
                         raw=body, token=reviewer,
                         headers={"X-Content-SHA256": hashlib.sha256(body).hexdigest()}),
               200)
        r = expect(decide(s, "fraud", pending, "approved", reviewer), 403, "self_approval")
        assert "uploaded the artifact" in r["error"]["message"], r

        ok = expect(decide(s, "fraud", v1, "approved", reviewer, "looks good"), 200)
        assert ok["version"] == v1 and ok["approval"]["state"] == "approved", ok
        assert ok["approval"]["by"] == "token:reviewer", ok
        assert ok["approval"]["comment"] == "looks good" and ok["approval"]["at"], ok
        again = expect(decide(s, "fraud", v1, "rejected", reviewer, "AUC regressed"), 200)
        assert again["approval"]["state"] == "rejected", again
        listed = expect(s.get("/api/v1/models/fraud/versions"), 200)["versions"]
        assert [v["approval"]["state"] for v in listed if v["version"] == v1] == ["rejected"]
        hist = expect(s.get("/api/v1/models/fraud/versions/%d/approvals" % v1), 200)
        assert hist["state"] == "rejected", hist
        assert [(h["decision"], h["by"], h["comment"]) for h in hist["approvals"]] == [
            ("rejected", "token:reviewer", "AUC regressed"),
            ("approved", "token:reviewer", "looks good")], hist
        expect(s.get("/api/v1/models/fraud/versions/9/approvals"), 404)
        # Each decision is in the audit log, which only admin reads.
        rows = [a for a in audit(s, target="fraud/%d" % v1)
                if a["action"].startswith("version.")
                and a["action"] != "version.create"]
        assert [(a["action"], a["actor"]) for a in rows] == [
            ("version.reject", "token:reviewer"), ("version.approve", "token:reviewer")], rows
        assert rows[0]["details"] == {"comment": "AUC regressed"}, rows
        expect(s.get("/api/v1/audit", token=reviewer), 403, "forbidden")
        expect(s.get("/api/v1/audit", token=None), 401)
    # --allow-self-approval lets the creator decide.
    with served(args=FAST + ["--allow-self-approval"]) as s:
        ci, _ = team(s)
        expect(s.post("/api/v1/models", {"name": "m"}, token=ci), 201)
        v = version(s, "m", ci)
        assert expect(decide(s, "m", v, "approved", ci), 200)["approval"]["by"] == "token:ci"


def test_protected_alias_refuses_moves_by_hand():
    with served(args=FAST) as s:
        ci, reviewer = team(s)
        expect(s.post("/api/v1/models", {"name": "fraud"}, token=ci), 201)
        v1, v2 = version(s, "fraud", ci), version(s, "fraud", ci)
        # Only admin protects; the alias need not exist yet.
        expect(s.put("/api/v1/models/fraud/protected-aliases/production",
                      {"require_approval": True}, token=ci), 403, "forbidden")
        p = expect(s.put("/api/v1/models/fraud/protected-aliases/production",
                         {"require_approval": True}), 200)
        assert p["alias"] == "production" and p["require_approval"] is True, p
        assert p["by"] == "token:admin" and p["at"], p
        # A move to an undecided version: 403, nothing moved, no history,
        # one audit row.
        r = expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v1},
                         token=ci), 403, "not_approved")
        assert r["error"]["details"]["version"] == v1, r
        assert r["error"]["details"]["approval"] == "none", r
        assert alias_of(s, "fraud", "production") is None
        assert expect(s.get("/api/v1/models/fraud/aliases/production/history"),
                      200)["history"] == []
        refused = audit(s, "alias.refused", "fraud@production")
        assert len(refused) == 1 and refused[0]["actor"] == "token:ci", refused
        assert refused[0]["details"]["code"] == "not_approved", refused
        assert refused[0]["details"]["version"] == v1, refused
        # Also with compare-and-swap, and for a rejected version.
        expect(decide(s, "fraud", v1, "rejected", reviewer), 200)
        expect(s.put("/api/v1/models/fraud/aliases/production",
                     {"version": v1, "expected_version": None}, token=ci),
               403, "not_approved")
        # Approved: it moves, and its history row says it was approved.
        expect(decide(s, "fraud", v1, "approved", reviewer), 200)
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v1},
                     token=ci), 200)
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v2},
                     token=ci), 403, "not_approved")
        assert alias_of(s, "fraud", "production") == v1
        # Other aliases of the model are not protected.
        expect(s.put("/api/v1/models/fraud/aliases/staging", {"version": v2},
                     token=ci), 200)
        hist = expect(s.get("/api/v1/models/fraud/aliases/production/history"),
                      200)["history"]
        assert [(h["version"], h["approved"]) for h in hist] == [(v1, True)], hist
        assert len(audit(s, "alias.refused", "fraud@production")) == 3
        # require_approval false keeps the row but checks nothing; listing,
        # one, removal.
        expect(s.put("/api/v1/models/fraud/protected-aliases/staging",
                     {"require_approval": False}), 200)
        expect(s.put("/api/v1/models/fraud/aliases/staging", {"version": v1},
                     token=ci), 200)
        got = expect(s.get("/api/v1/models/fraud/protected-aliases", token=ci), 200)
        assert [(p["alias"], p["require_approval"])
                for p in got["protected_aliases"]] == [("production", True),
                                                       ("staging", False)], got
        one = expect(s.get("/api/v1/models/fraud/protected-aliases/production"), 200)
        assert one["require_approval"] is True, one
        expect(s.get("/api/v1/models/fraud/protected-aliases/canary"), 404, "not_found")
        expect(s.delete("/api/v1/models/fraud/protected-aliases/production",
                        token=ci), 403)
        expect(s.delete("/api/v1/models/fraud/protected-aliases/production"), 200)
        expect(s.delete("/api/v1/models/fraud/protected-aliases/production"), 404)
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v2},
                     token=ci), 200)
        # Bad input.
        expect(s.put("/api/v1/models/fraud/protected-aliases/production",
                     {"require_approval": "yes"}), 422, "validation_failed")
        expect(s.put("/api/v1/models/fraud/protected-aliases/123", {}), 422)
        expect(s.put("/api/v1/models/nope/protected-aliases/production", {}), 404)
        # An empty body protects with require_approval.
        assert expect(s.put("/api/v1/models/fraud/protected-aliases/canary", None),
                      200)["require_approval"] is True
        actions = [a["action"] for a in audit(s, target="fraud@production")]
        assert "alias.protect" in actions and "alias.unprotect" in actions, actions


def test_rollback_endpoint_and_the_emergency_exception():
    with served(args=FAST) as s:
        ci, reviewer = team(s)
        expect(s.post("/api/v1/models", {"name": "fraud"}, token=ci), 201)
        v1, v2, v3 = (version(s, "fraud", ci) for _ in range(3))
        # v1 approved while it held production; v2 never approved, set
        # before the alias was protected; v3 approved.
        expect(decide(s, "fraud", v1, "approved", reviewer), 200)
        for v in (v1, v2):
            expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v},
                         token=ci), 200)
        expect(decide(s, "fraud", v3, "approved", reviewer), 200)
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v3},
                     token=ci), 200)
        expect(s.put("/api/v1/models/fraud/protected-aliases/production", {}), 200)
        # Back to v2: it held the alias unapproved - refused, nothing moved.
        r = expect(s.post("/api/v1/models/fraud/aliases/production/rollback", {},
                          token=ci), 403, "not_approved")
        assert r["error"]["details"]["kind"] == "rollback", r
        assert alias_of(s, "fraud", "production") == v3
        # v1 was approved while it held production: an emergency rollback to
        # it stays allowed even after it was rejected since.
        expect(decide(s, "fraud", v1, "rejected", reviewer, "too slow"), 200)
        expect(s.post("/api/v1/models/fraud/aliases/production/rollback",
                      {"to_version": v1, "reason": "incident 42"}, token=ci), 200)
        assert alias_of(s, "fraud", "production") == v1
        # ... but a move by hand to the rejected v1 would not be.
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v3},
                     token=ci), 200)
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v1},
                     token=ci), 403, "not_approved")
        # "Rolling back" to a newer version rejected since is a promotion.
        v4 = version(s, "fraud", ci)
        expect(decide(s, "fraud", v4, "approved", reviewer), 200)
        expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v4},
                     token=ci), 200)
        expect(s.post("/api/v1/models/fraud/aliases/production/rollback", {},
                      token=ci), 200)
        assert alias_of(s, "fraud", "production") == v3
        expect(decide(s, "fraud", v4, "rejected", reviewer), 200)
        expect(s.post("/api/v1/models/fraud/aliases/production/rollback",
                      {"to_version": v4}, token=ci), 403, "not_approved")
        # A protected alias is not deleted until the protection is lifted.
        expect(s.delete("/api/v1/models/fraud/aliases/production", token=ci),
               409, "conflict")
        assert alias_of(s, "fraud", "production") == v3
        # Once v2 is approved, a rollback to it goes through.
        expect(s.post("/api/v1/models/fraud/aliases/production/rollback",
                      {"to_version": v2}, token=ci), 403, "not_approved")
        expect(decide(s, "fraud", v2, "approved", reviewer), 200)
        expect(s.post("/api/v1/models/fraud/aliases/production/rollback",
                      {"to_version": v2}, token=ci), 200)
        kinds = [a["details"]["kind"] for a in audit(s, "alias.refused",
                                                     "fraud@production")]
        assert kinds == ["rollback", "rollback", "set", "rollback"], kinds


def firing_rollback_rule(s, name, model):
    """A rule on model@production that fires at once (prediction_count >= 0
    holds on any window) and rolls back; evaluated once."""
    expect(s.post("/api/v1/alert-rules", {
        "name": name, "model": model, "alias": "production",
        "metric": "prediction_count", "op": ">=", "threshold": 0, "for_seconds": 0,
        "interval_seconds": 3600, "severity": "critical", "action": "rollback"}), 201)
    ev = expect(s.post("/api/v1/alert-rules/%s/evaluate" % name), 200)
    assert ev["state"] == "firing", ev
    return ev


def test_alert_rollback_respects_the_protection():
    with served(args=FAST) as s:
        ci, reviewer = team(s)
        for m in ("fraud", "churn"):
            expect(s.post("/api/v1/models", {"name": m}, token=ci), 201)
            v1, v2 = version(s, m, ci), version(s, m, ci)
            expect(decide(s, m, v2, "approved", reviewer), 200)
            if m == "churn":
                expect(decide(s, m, v1, "approved", reviewer), 200)
            for v in (v1, v2):
                expect(s.put("/api/v1/models/%s/aliases/production" % m,
                             {"version": v}, token=ci), 200)
            expect(s.put("/api/v1/models/%s/protected-aliases/production" % m, {}), 200)
        # fraud's v1 held production unapproved: the rule's rollback is
        # refused, recorded on the episode and in the audit log.
        firing_rollback_rule(s, "fraud-down", "fraud")
        assert alias_of(s, "fraud", "production") == 2
        refused = audit(s, "alias.refused", "fraud@production")
        assert [a["actor"] for a in refused] == ["rule:fraud-down"], refused
        alerts = expect(s.get("/api/v1/alerts"), 200)["alerts"]
        act = [a for a in alerts if a["rule"] == "fraud-down"][0]
        assert "not_approved" in str(act), act
        # churn's v1 was approved when it held production: the emergency
        # rollback goes through even though v1 was rejected since.
        expect(decide(s, "churn", 1, "rejected", reviewer), 200)
        firing_rollback_rule(s, "churn-down", "churn")
        assert alias_of(s, "churn", "production") == 1
        assert audit(s, "alias.refused", "churn@production") == []


def test_audit_pages():
    with served(args=FAST) as s:
        for i in range(5):
            expect(s.post("/api/v1/models", {"name": "m%d" % i}), 201)
        first = expect(s.get("/api/v1/audit?limit=2&action=model.create"), 200)
        assert [e["target"] for e in first["entries"]] == ["m4", "m3"], first
        nxt = expect(s.get("/api/v1/audit?limit=2&action=model.create&before=%d"
                           % first["next_before"]), 200)
        assert [e["target"] for e in nxt["entries"]] == ["m2", "m1"], nxt
        last = expect(s.get("/api/v1/audit?limit=2&action=model.create&before=%d"
                            % nxt["next_before"]), 200)
        assert [e["target"] for e in last["entries"]] == ["m0"], last
        assert last["next_before"] is None, last
        expect(s.get("/api/v1/audit?limit=x"), 400, "invalid")
        # By actor and time.
        ci = s.token_with("ci", ["read", "promote"])
        expect(s.post("/api/v1/models", {"name": "by-ci"}, token=ci), 201)
        mine = expect(s.get("/api/v1/audit?actor=token:ci"), 200)["entries"]
        assert [(e["action"], e["target"]) for e in mine] == [("model.create", "by-ci")], mine
        at = mine[0]["at"]
        assert [e["target"] for e in expect(s.get(
            "/api/v1/audit?action=model.create&from=" + at), 200)["entries"]] == ["by-ci"]
        before = expect(s.get("/api/v1/audit?action=model.create&to=" + at), 200)["entries"]
        assert "by-ci" not in [e["target"] for e in before] and len(before) == 5, before
        expect(s.get("/api/v1/audit?from=yesterday"), 400, "invalid")


def subscribe(s, name, url, events, models=None):
    body = {"name": name, "url": url, "events": events}
    if models is not None:
        body["models"] = models
    return expect(s.post("/api/v1/subscriptions", body), 201)


def received(rec, path):
    return [json.loads(c["body"]) for c in rec.calls_to(path)]


def test_events_of_a_register_approve_promote_rollback_story():
    rec = Receiver()
    try:
        with served(args=FAST + ["--allow-private-webhooks"]) as s:
            ci, reviewer = team(s)
            every = subscribe(s, "audit-bot", rec.url("/all"), ["*"])
            assert every["secret"].startswith("whsec_"), every
            assert every["events"] == ["*"] and every["models"] is None, every
            approvals = subscribe(s, "release-notes", rec.url("/approvals"),
                                  ["version.approved", "version.rejected", "alias.*"],
                                  ["fraud*"])
            subscribe(s, "other-team", rec.url("/churn"), ["*"], ["churn"])
            # register -> approve -> promote -> rollback (v1 then v2)
            expect(s.post("/api/v1/models", {"name": "fraud"}, token=ci), 201)
            v1 = version(s, "fraud", ci)
            expect(decide(s, "fraud", v1, "approved", reviewer, "baseline"), 200)
            expect(s.put("/api/v1/models/fraud/protected-aliases/production", {}), 200)
            expect(s.put("/api/v1/models/fraud/aliases/production",
                         {"version": v1, "reason": "launch"}, token=ci), 200)
            v2 = version(s, "fraud", ci)
            expect(decide(s, "fraud", v2, "approved", reviewer, "AUC +0.02"), 200)
            expect(s.put("/api/v1/models/fraud/aliases/production",
                         {"version": v2, "expected_version": v1}, token=ci), 200)
            expect(s.post("/api/v1/models/fraud/aliases/production/rollback",
                          {"reason": "latency"}, token=ci), 200)
            story = ["model.created", "version.created", "version.ready",
                     "version.approved", "alias.moved", "version.created",
                     "version.ready", "version.approved", "alias.moved", "alias.moved"]
            wait_for(lambda: len(rec.calls_to("/all")) >= len(story), what="the story")
            got = received(rec, "/all")
            # Deliveries to one URL keep their order.
            assert [e["type"] for e in got] == story, [e["type"] for e in got]
            print("events delivered for register -> approve -> promote -> rollback:")
            for e in got:
                d = e["data"]
                print("  %-17s %s" % (e["type"], json.dumps(
                    {k: d[k] for k in ("name", "model", "version", "alias", "from_version",
                                       "to_version", "kind", "actor", "reason")
                     if k in d} | ({"approval": d["approval"]["state"]}
                                   if "approval" in d else {}))))
            for c in rec.calls_to("/all"):
                verify_signature(every["secret"], c)
                assert c["headers"]["webhook-id"].startswith("msg_"), c["headers"]
            created = got[0]["data"]
            assert created["name"] == "fraud" and got[0]["at"], got[0]
            approved = got[3]["data"]
            assert approved["version"] == v1 and approved["approval"]["by"] == "token:reviewer"
            moves = [(e["data"]["from_version"], e["data"]["to_version"], e["data"]["kind"],
                      e["data"]["actor"]) for e in got if e["type"] == "alias.moved"]
            assert moves == [(None, v1, "set", "token:ci"), (v1, v2, "set", "token:ci"),
                             (v2, v1, "rollback", "token:ci")], moves
            assert got[4]["data"]["artifact"]["sha256"], got[4]
            # Patterns: only decisions and moves, only for fraud*.
            wait_for(lambda: len(rec.calls_to("/approvals")) >= 5, what="the filtered ones")
            assert [e["type"] for e in received(rec, "/approvals")] == [
                "version.approved", "alias.moved", "version.approved", "alias.moved",
                "alias.moved"]
            assert rec.calls_to("/churn") == []
            # Deliveries list them; a subscriber's URL is shown redacted.
            def delivered():
                dels = expect(s.get("/api/v1/deliveries?limit=100"), 200)["deliveries"]
                subs = [d for d in dels if d["target_type"] == "subscription"]
                return subs if all(d["state"] == "delivered" for d in subs) else None
            subs = wait_for(delivered, what="every delivery recorded as delivered")
            assert len(subs) == len(story) + 5, len(subs)
            assert {d["url"] for d in subs} == {"http://127.0.0.1:%d" % rec.port}, \
                {d["url"] for d in subs}
            # A refused move emits nothing.
            expect(s.put("/api/v1/models/fraud/protected-aliases/production", {}), 200)
            v3 = version(s, "fraud", ci)
            expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v3},
                         token=ci), 403, "not_approved")
            expect(decide(s, "fraud", v3, "rejected", reviewer, "no"), 200)
            wait_for(lambda: received(rec, "/all")[-1]["type"] == "version.rejected",
                     what="the rejection")
            assert [e["type"] for e in received(rec, "/all")][len(story):] == [
                "version.created", "version.ready", "version.rejected"]
    finally:
        rec.close()


def test_alert_events_and_subscription_admin():
    rec = Receiver()
    try:
        with served(args=FAST + ["--allow-private-webhooks"]) as s:
            ci, reviewer = team(s)
            sub = subscribe(s, "pager", rec.url("/alerts"), ["alert.*"], ["churn"])
            expect(s.post("/api/v1/models", {"name": "churn"}, token=ci), 201)
            v1 = version(s, "churn", ci)
            expect(s.post("/api/v1/alert-rules", {
                "name": "volume", "model": "churn", "version": v1,
                "metric": "prediction_count", "op": "<", "threshold": 5,
                "for_seconds": 0, "interval_seconds": 3600, "severity": "warning",
                "labels": {"team": "growth"}}), 201)
            expect(s.post("/api/v1/alert-rules/volume/evaluate"), 200)
            fired = wait_for(lambda: received(rec, "/alerts"), what="alert.firing")[0]
            verify_signature(sub["secret"], rec.calls_to("/alerts")[0])
            assert fired["type"] == "alert.firing", fired
            d = fired["data"]
            assert (d["rule"], d["model"], d["version"], d["metric"], d["value"],
                    d["severity"], d["labels"]) == ("volume", "churn", v1,
                                                    "prediction_count", 0, "warning",
                                                    {"team": "growth"}), d
            assert d["alert_id"] > 0, d
            # Enough predictions: it resolves.
            expect(s.post("/api/v1/models/churn/versions/%d/predictions" % v1,
                          {"predictions": [{"features": {"x": i}, "prediction": i}
                                           for i in range(10)]}), 200)
            ev = expect(s.post("/api/v1/alert-rules/volume/evaluate"), 200)
            assert ev["state"] == "inactive", ev
            wait_for(lambda: len(rec.calls_to("/alerts")) >= 2, what="alert.resolved")
            resolved = received(rec, "/alerts")[1]
            assert resolved["type"] == "alert.resolved", resolved
            assert resolved["data"]["alert_id"] == d["alert_id"], resolved
            assert resolved["data"]["value"] == 10, resolved
            # Admin: list, one, validation, delete; others may not.
            listed = expect(s.get("/api/v1/subscriptions"), 200)["subscriptions"]
            assert [x["name"] for x in listed] == ["pager"], listed
            assert "secret" not in listed[0], listed
            one = expect(s.get("/api/v1/subscriptions/pager"), 200)
            assert one["models"] == ["churn"] and one["events"] == ["alert.*"], one
            expect(s.get("/api/v1/subscriptions", token=ci), 403, "forbidden")
            expect(s.post("/api/v1/subscriptions", {"name": "x", "url": rec.url("/x"),
                                                    "events": ["*"]}, token=ci), 403)
            expect(s.post("/api/v1/subscriptions", {"name": "pager", "url": rec.url("/x"),
                                                    "events": ["*"]}), 409, "conflict")
            for bad in ({"name": "b", "url": rec.url("/x"), "events": []},
                        {"name": "b", "url": rec.url("/x"), "events": ["model.deleted"]},
                        {"name": "b", "url": rec.url("/x"), "events": ["roll*"]},
                        {"name": "b", "url": rec.url("/x"), "events": ["*"],
                         "models": ["a/b"]},
                        {"name": "b", "url": "ftp://127.0.0.1/x", "events": ["*"]},
                        {"name": "b b", "url": rec.url("/x"), "events": ["*"]}):
                expect(s.post("/api/v1/subscriptions", bad), 422, "validation_failed")
            # Deleting it kills what is still queued for it: a subscriber
            # that does not answer, an event waiting for its retry.
            down = "http://127.0.0.1:9/down"  # nothing listens
            subscribe(s, "flaky", down, ["*"])
            expect(s.post("/api/v1/models", {"name": "late"}), 201)
            def queued():
                d = expect(s.get("/api/v1/deliveries?limit=100"), 200)["deliveries"]
                return [x for x in d if x["target"] == "flaky"]
            wait_for(lambda: any(x["attempts"] >= 1 for x in queued()), what="a failed try")
            expect(s.delete("/api/v1/subscriptions/flaky"), 200)
            assert [(x["state"], x["last_error"]) for x in queued()] == [
                ("dead", "the subscription was deleted")], queued()
            expect(s.delete("/api/v1/subscriptions/pager"), 200)
            expect(s.delete("/api/v1/subscriptions/pager"), 404, "not_found")
            expect(s.get("/api/v1/subscriptions/pager"), 404)
            assert [a["action"] for a in audit(s, target="pager")] == [
                "subscription.delete", "subscription.create"]
            expect(s.get("/api/v1/subscriptions/flaky"), 404)
        # Without --allow-private-webhooks a loopback subscriber is refused.
        with served(args=FAST) as s:
            expect(s.post("/api/v1/subscriptions", {"name": "x", "url": rec.url("/x"),
                                                    "events": ["*"]}), 422)
    finally:
        rec.close()


def test_tokens_limited_to_models():
    with served(args=FAST + ["--allow-private-webhooks"]) as s:
        ci, _ = team(s)
        for m in ("fraud", "churn-eu", "churn-us", "secret-project"):
            expect(s.post("/api/v1/models", {"name": m}), 201)
            version(s, m, ci)
            expect(s.put("/api/v1/models/%s/aliases/production" % m, {"version": 1}), 200)
            expect(s.post("/api/v1/alert-rules", {
                "name": m + "-volume", "model": m, "alias": "production",
                "metric": "prediction_count", "op": ">=", "threshold": 0,
                "for_seconds": 0, "interval_seconds": 3600}), 201)
            expect(s.post("/api/v1/alert-rules/%s-volume/evaluate" % m), 200)
        r = expect(s.post("/api/v1/tokens", {"name": "team-a", "scopes": ["read", "promote"],
                                             "models": ["fraud", "churn-*"]}), 201)
        assert r["models"] == ["fraud", "churn-*"], r
        t = r["token"]
        listed = {x["name"]: x for x in expect(s.get("/api/v1/tokens"), 200)["tokens"]}
        assert listed["team-a"]["models"] == ["fraud", "churn-*"], listed["team-a"]
        assert listed["ci"]["models"] is None, listed["ci"]
        # Lists are filtered; another model answers 404 as a missing one.
        names = [m["name"] for m in expect(s.get("/api/v1/models", token=t), 200)["models"]]
        assert names == ["churn-eu", "churn-us", "fraud"], names
        # Page by page: every page full, and no page token names a hidden
        # model (a-secret-* sort first and in between).
        for i in range(30):
            expect(s.post("/api/v1/models", {"name": "a-secret-%02d" % i}), 201)
            expect(s.post("/api/v1/models", {"name": "churn-f%02d" % i}), 201)
        paged, tok = [], None
        while True:
            page = expect(s.get("/api/v1/models?limit=7" + ("&page_token=" + tok if tok else ""),
                                token=t), 200)
            paged += [m["name"] for m in page["models"]]
            tok = page["next_page_token"]
            if not tok:
                break
            assert len(page["models"]) == 7, page
            assert not bytes.fromhex(tok).decode().startswith(("a-secret", "secret")), tok
        assert paged == sorted(["churn-eu", "churn-us", "fraud"] +
                               ["churn-f%02d" % i for i in range(30)]), paged
        missing = expect(s.get("/api/v1/models/nope", token=t), 404, "not_found")
        hidden = expect(s.get("/api/v1/models/secret-project", token=t), 404, "not_found")
        assert hidden["error"]["message"] == missing["error"]["message"].replace(
            "nope", "secret-project"), (hidden, missing)
        for path in ("/versions", "/versions/1", "/versions/1/artifact",
                     "/aliases/production", "/aliases/production/history",
                     "/versions/production/drift", "/protected-aliases"):
            expect(s.get("/api/v1/models/secret-project" + path, token=t), 404)
        expect(s.put("/api/v1/models/secret-project/aliases/staging", {"version": 1},
                     token=t), 404)
        # Its own models work as with any token.
        expect(s.get("/api/v1/models/churn-eu/versions/1", token=t), 200)
        expect(s.put("/api/v1/models/fraud/aliases/staging", {"version": 1}, token=t), 200)
        expect(s.post("/api/v1/models", {"name": "churn-apac"}, token=t), 201)
        expect(s.post("/api/v1/models", {"name": "other"}, token=t), 403, "forbidden")
        rules = [x["name"] for x in expect(s.get("/api/v1/alert-rules", token=t),
                                           200)["rules"]]
        assert rules == ["churn-eu-volume", "churn-us-volume", "fraud-volume"], rules
        assert expect(s.get("/api/v1/alert-rules/fraud-volume", token=t),
                      200)["channels"] == []
        r = expect(s.get("/api/v1/alert-rules/secret-project-volume", token=t), 404)
        assert r["error"]["message"] == "no alert rule named 'secret-project-volume'", r
        alerts = {a["model"] for a in expect(s.get("/api/v1/alerts", token=t), 200)["alerts"]}
        assert alerts == {"fraud", "churn-eu", "churn-us"}, alerts
        # What every model shares: 403.
        expect(s.get("/api/v1/tokens", token=t), 403, "forbidden")  # admin anyway
        for path in ("/api/v1/nodes", "/api/v1/deliveries", "/api/v1/silences",
                     "/api/v1/cluster", "/metrics"):
            r = expect(s.get(path, token=t), 403, "forbidden")
            assert "limited to models" in r["error"]["message"], (path, r)
        expect(s.get("/api/v1/session", token=t), 200)
        assert expect(s.get("/api/v1/session", token=t), 200)["models"] == ["fraud", "churn-*"]
        # Bad requests.
        for bad in ({"name": "x", "scopes": ["read"], "models": []},
                    {"name": "x", "scopes": ["read"], "models": ["a b"]},
                    {"name": "x", "scopes": ["read"], "models": "fraud"},
                    {"name": "x", "scopes": ["admin"], "models": ["fraud"]}):
            expect(s.post("/api/v1/tokens", bad), 422, "validation_failed")


if __name__ == "__main__":
    run(globals())
