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


run(globals())
