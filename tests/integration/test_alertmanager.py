"""An Alertmanager channel against a real Alertmanager (Debian's
prometheus-alertmanager, started here): a firing rule's alert appears in
Alertmanager's API with the rule's labels and modelwatch's facts, and
resolves there when the rule resolves."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

from mwtest import expect, free_port, run, served

SCHEMA = {"features": [{"name": "x", "type": "numeric"}],
          "prediction": {"type": "numeric"}}
BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


class Alertmanager:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mwam-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "alertmanager.yml")
        with open(cfg, "w") as f:
            f.write("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
        self.log = open(os.path.join(self.dir, "am.log"), "wb")
        self.proc = subprocess.Popen(
            [BIN, "--config.file=" + cfg, "--storage.path=" + self.dir,
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.url("/-/ready"), timeout=2).status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("alertmanager did not start: " + self.logtext())

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def logtext(self):
        with open(os.path.join(self.dir, "am.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alerts(self, alertname):
        """The alerts Alertmanager holds by that name (active, silenced or
        inhibited - resolved ones are gone)."""
        q = urllib.request.quote('alertname="%s"' % alertname)
        with urllib.request.urlopen(self.url("/api/v2/alerts?filter=" + q), timeout=5) as r:
            return json.loads(r.read())

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(fn, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def test_alert_appears_in_alertmanager_then_resolves():
    if not BIN:
        raise AssertionError("prometheus-alertmanager is missing: make deps installs it")
    am = Alertmanager()
    try:
        with served(args=["--allow-private-webhooks", "--alert-group-wait-seconds", "0",
                          "--alert-group-interval-seconds", "1", "--rate-limit", "0"]) as s:
            expect(s.post("/api/v1/channels", {"name": "am", "type": "alertmanager",
                                               "url": am.url("/")}), 201)
            expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
            expect(s.post("/api/v1/models/fraud/versions", {"schema": SCHEMA}), 201)
            blob = b"weights"
            expect(s.request("PUT", "/api/v1/models/fraud/versions/1/artifact", raw=blob,
                             headers={"X-Content-SHA256": hashlib.sha256(blob).hexdigest()}),
                   200)
            expect(s.put("/api/v1/models/fraud/aliases/production", {"version": 1}), 200)
            expect(s.post("/api/v1/alert-rules", {
                "name": "fraud-volume", "model": "fraud", "alias": "production",
                "metric": "prediction_count", "op": "<", "threshold": 5,
                "for_seconds": 0, "interval_seconds": 3600, "severity": "critical",
                "labels": {"team-name": "risk"}, "channels": ["am"]}), 201)
            ev = expect(s.post("/api/v1/alert-rules/fraud-volume/evaluate"), 200)
            assert ev["state"] == "firing", ev
            got = wait_for(lambda: am.alerts("fraud-volume"), "the alert in Alertmanager")
            assert len(got) == 1, got
            a = got[0]
            assert a["status"]["state"] == "active", a
            labels = a["labels"]
            assert {k: labels.get(k) for k in ("alertname", "model", "version", "alias",
                                               "metric", "severity", "team_name")} == {
                "alertname": "fraud-volume", "model": "fraud", "version": "1",
                "alias": "production", "metric": "prediction_count",
                "severity": "critical", "team_name": "risk"}, labels
            assert a["annotations"]["value"] == "0", a["annotations"]
            assert "prediction_count" in a["annotations"]["summary"], a["annotations"]
            assert "prediction_count" in a["annotations"]["description"], a["annotations"]
            assert a["generatorURL"].endswith("/#/models/fraud"), a
            dels = expect(s.get("/api/v1/deliveries?limit=10"), 200)["deliveries"]
            sent = [d for d in dels if d["target"] == "am"]
            assert sent and sent[0]["url"] == am.url() and sent[0]["state"] == "delivered", sent
            # Resolved in modelwatch: resolved in Alertmanager.
            expect(s.post("/api/v1/models/fraud/versions/1/predictions", {
                "predictions": [{"features": {"x": i}, "prediction": i}
                                for i in range(10)]}), 200)
            ev = expect(s.post("/api/v1/alert-rules/fraud-volume/evaluate"), 200)
            assert ev["state"] == "inactive", ev
            wait_for(lambda: not am.alerts("fraud-volume"), "the alert to resolve")
    finally:
        am.close()


def test_rollback_action_is_an_annotation():
    """A rule whose rollback ran: Alertmanager's alert says what it did,
    with the value the rule fired with."""
    if not BIN:
        raise AssertionError("prometheus-alertmanager is missing: make deps installs it")
    am = Alertmanager()
    try:
        with served(args=["--allow-private-webhooks", "--alert-group-wait-seconds", "0",
                          "--alert-group-interval-seconds", "1", "--rate-limit", "0"]) as s:
            expect(s.post("/api/v1/channels", {"name": "am", "type": "alertmanager",
                                               "url": am.url("/")}), 201)
            expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
            for v in (1, 2):
                expect(s.post("/api/v1/models/fraud/versions", {"schema": SCHEMA}), 201)
                blob = b"weights-%d" % v
                expect(s.request("PUT", "/api/v1/models/fraud/versions/%d/artifact" % v,
                                 raw=blob, headers={
                                     "X-Content-SHA256": hashlib.sha256(blob).hexdigest()}),
                       200)
                expect(s.put("/api/v1/models/fraud/aliases/production", {"version": v}),
                       200)
            expect(s.post("/api/v1/alert-rules", {
                "name": "fraud-quiet", "model": "fraud", "alias": "production",
                "metric": "prediction_count", "op": "<", "threshold": 5,
                "for_seconds": 0, "interval_seconds": 3600, "action": "rollback",
                "channels": ["am"]}), 201)
            ev = expect(s.post("/api/v1/alert-rules/fraud-quiet/evaluate"), 200)
            assert ev["state"] == "firing" and ev["action"]["status"] == "done", ev
            got = wait_for(lambda: am.alerts("fraud-quiet"), "the alert in Alertmanager")
            ann = got[0]["annotations"]
            assert ann["action"] == "rolled production back v2 -> v1", ann
            assert ann["value"] == "0", ann
            assert got[0]["labels"]["version"] == "2", got[0]["labels"]
    finally:
        am.close()


if __name__ == "__main__":
    run(globals())
