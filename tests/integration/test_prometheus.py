"""Metrics that PromQL can use, checked by a real Prometheus (Debian's
prometheus, started here) scraping modelwatch with a token and evaluating
examples/prometheus/modelwatch-rules.yml: per-version ingest counters, each
rule's state, and drift split by direction, so that one threshold per
family fires the example alert on a drifting column and not on a steady
one."""
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from mwtest import expect, free_port, run, served

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RULES = os.path.join(ROOT, "examples", "prometheus", "modelwatch-rules.yml")
PROM = shutil.which("prometheus")
SCHEMA = {"features": [{"name": "steady", "type": "numeric"},
                       {"name": "shifted", "type": "numeric"},
                       {"name": "plan", "type": "categorical"}],
          "prediction": {"type": "numeric"}}


def rows(n, shift, seed):
    rng = random.Random(seed)
    return [{"features": {"steady": rng.gauss(0, 1), "shifted": rng.gauss(shift, 1),
                          "plan": rng.choice(["a", "b", "c"])},
             "prediction": rng.random()} for _ in range(n)]


def query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]


def wait_for(fn, what, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.5)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def test_promql_alerts_on_drift_volume_and_rule_state():
    if not PROM:
        raise AssertionError("prometheus is missing: make deps installs it")
    p = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    with served(args=["--rate-limit", "0"]) as s:
        expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
        expect(s.post("/api/v1/models/fraud/versions", {"schema": SCHEMA}), 201)
        blob = b"weights"
        expect(s.request("PUT", "/api/v1/models/fraud/versions/1/artifact", raw=blob,
                         headers={"X-Content-SHA256": hashlib.sha256(blob).hexdigest()}),
               200)
        expect(s.put("/api/v1/models/fraud/versions/1/reference",
                      {"rows": rows(600, 0.0, 1)}), 200)
        expect(s.post("/api/v1/models/fraud/versions/1/predictions",
                      {"predictions": rows(600, 3.0, 2)}), 200)
        expect(s.post("/api/v1/models/fraud/versions/1/drift/evaluate"), 200)
        expect(s.post("/api/v1/alert-rules", {
            "name": "fraud-volume", "model": "fraud", "version": 1,
            "metric": "prediction_count", "op": ">=", "threshold": 0, "for_seconds": 0,
            "interval_seconds": 3600, "severity": "warning"}), 201)
        expect(s.post("/api/v1/alert-rules/fraud-volume/evaluate"), 200)
        d = tempfile.mkdtemp(prefix="mwprom-")
        proc = None
        try:
            cred = os.path.join(d, "modelwatch.token")
            with open(cred, "w") as f:
                f.write(s.token_with("prometheus", ["metrics"]) + "\n")
            os.chmod(cred, 0o600)
            cfg = os.path.join(d, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        "rule_files:\n  - %s\nscrape_configs:\n  - job_name: modelwatch\n"
                        "    authorization:\n      credentials_file: %s\n"
                        "    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                        % (RULES, cred, s.port))
            port = free_port()
            proc = subprocess.Popen(
                [PROM, "--config.file=" + cfg, "--storage.tsdb.path=" + d + "/data",
                 "--web.listen-address=127.0.0.1:%d" % port],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # One threshold per family: the shifted column drifted, the
            # steady one did not, whatever their methods' directions.
            got = wait_for(lambda: query(port, "modelwatch_column_drifted == 1"),
                           "a drifted column")
            assert {r["metric"]["column"] for r in got} == {"shifted"}, got
            steady = query(port, 'modelwatch_column_drifted{column="steady"}')
            assert [r["value"][1] for r in steady] == ["0"], steady
            pv = query(port, "modelwatch_column_p_value")
            assert {r["metric"]["method"] for r in pv} <= {"ks", "chi2", "z"}, pv
            assert query(port, 'modelwatch_column_p_value{column="shifted"} < 0.05'), pv
            counts = query(port, 'modelwatch_predictions_total{model="fraud",version="1"}')
            assert [r["value"][1] for r in counts] == ["600"], counts
            firing = query(port, 'modelwatch_alerts{rule="fraud-volume",state="firing"}')
            assert len(firing) == 1 and firing[0]["metric"]["severity"] == "warning", firing
            # The example rules fire on these series in Prometheus itself.
            def alerts():
                url = "http://127.0.0.1:%d/api/v1/alerts" % port
                with urllib.request.urlopen(url, timeout=5) as r:
                    return [a for a in json.load(r)["data"]["alerts"]
                            if a["state"] == "firing"]
            fired = wait_for(lambda: {a["labels"]["alertname"] for a in alerts()} >=
                             {"ModelwatchColumnDrift", "ModelwatchRuleFiring"} and alerts(),
                             "the example alerts to fire")
            drift = [a for a in fired if a["labels"]["alertname"] == "ModelwatchColumnDrift"]
            assert [a["labels"]["column"] for a in drift] == ["shifted"], drift
        finally:
            if proc:
                proc.terminate()
                proc.wait(timeout=30)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
