"""The runnable examples work against the real server."""
import os
import subprocess
import tempfile

from mwtest import expect, run, served

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_ci_promote_script():
    with served() as s:
        ci = s.token_with("ci", ["read", "promote"])
        with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as art:
            art.write(os.urandom(4096))
        schema = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        schema.write('{"features":[{"name":"x","type":"numeric"}],"prediction":{"type":"numeric"}}')
        schema.close()
        env = dict(os.environ, MODELWATCH_URL="http://127.0.0.1:%d" % s.port,
                   MODELWATCH_TOKEN=ci, MODEL="churn", ARTIFACT=art.name,
                   METRICS='{"auc":0.87}', SCHEMA=schema.name, RUN_ID="42")
        script = os.path.join(ROOT, "examples", "ci_promote.sh")
        for expected in (1, 2):
            p = subprocess.run(["bash", script], env=env, capture_output=True, text=True)
            assert p.returncode == 0, p.stdout + p.stderr
            assert "production -> %d" % expected in p.stdout, p.stdout
        m = expect(s.get("/api/v1/models/churn"), 200)
        assert m["aliases"] == {"production": 2, "staging": 2}, m
        v = expect(s.get("/api/v1/models/churn/versions/2"), 200)
        assert v["status"] == "ready" and v["metrics"] == {"auc": 0.87} and v["run_id"] == "42"
        hist = expect(s.get("/api/v1/models/churn/aliases/production/history"), 200)["history"]
        assert [(h["version"], h["previous_version"]) for h in hist] == [(2, 1), (1, None)]
        # A read-only token makes the script fail loudly, not half-succeed.
        env["MODELWATCH_TOKEN"] = s.token_with("ro", ["read"])
        p = subprocess.run(["bash", script], env=env, capture_output=True, text=True)
        assert p.returncode != 0 and "403" in p.stderr, p.stderr
        os.unlink(art.name)
        os.unlink(schema.name)


def test_two_person_promotion():
    """CI registers and waits; a reviewer approves; CI promotes the
    protected alias. A rejection fails the job (exit 3)."""
    with served() as s:
        ci = s.token_with("ci", ["read", "promote"])
        reviewer = s.token_with("reviewer", ["read", "promote"])
        expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
        expect(s.put("/api/v1/models/fraud/protected-aliases/production",
                     {"require_approval": True}), 200)
        with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as art:
            art.write(os.urandom(1024))
        url = "http://127.0.0.1:%d" % s.port
        env = dict(os.environ, MODELWATCH_URL=url, MODELWATCH_TOKEN=ci, MODEL="fraud",
                   ARTIFACT=art.name, APPROVAL_POLL="0.2", APPROVAL_TIMEOUT="60")
        script = os.path.join(ROOT, "examples", "ci_promote.sh")
        approve = os.path.join(ROOT, "examples", "approve.sh")
        for version, decision, code in ((1, "approved", 0), (2, "rejected", 3)):
            job = subprocess.Popen(["bash", script], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            line = ""
            while "waiting for someone to approve version %d" % version not in line:
                line = job.stdout.readline()
                assert line, "the job ended without waiting: " + job.stderr.read()
            # CI's own token may not approve what it created.
            p = subprocess.run(["bash", approve, "fraud", str(version)],
                               env=dict(env, MODELWATCH_TOKEN=ci),
                               capture_output=True, text=True)
            assert p.returncode == 1 and "self_approval" in p.stderr, p.stderr
            p = subprocess.run(["bash", approve, "fraud", str(version), decision,
                                'load test "green", p99 41 ms'],
                               env=dict(env, MODELWATCH_TOKEN=reviewer),
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            out, err = job.communicate(timeout=60)
            assert job.returncode == code, (job.returncode, out, err)
        m = expect(s.get("/api/v1/models/fraud"), 200)
        assert m["aliases"] == {"production": 1, "staging": 2}, m
        v1 = expect(s.get("/api/v1/models/fraud/versions/1"), 200)["approval"]
        assert v1["by"] == "token:reviewer" and v1["comment"] == 'load test "green", p99 41 ms'
        hist = expect(s.get("/api/v1/models/fraud/aliases/production/history"), 200)["history"]
        assert [(h["version"], h["actor"], h["approved"]) for h in hist] == [
            (1, "token:ci", True)], hist
        os.unlink(art.name)


if __name__ == "__main__":
    run(globals())
