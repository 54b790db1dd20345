"""The runnable examples work against the real server."""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from mwtest import BIN, expect, run, served

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
                   METRICS='{"auc":0.87}', SCHEMA=schema.name, RUN_ID="42",
                   MODELWATCH_BIN=BIN)
        script = os.path.join(ROOT, "examples", "ci_promote.sh")
        # It speaks through the CLI, whose exit codes it branches on.
        with open(script) as f:
            assert "curl" not in f.read()
        for expected in (1, 2):
            p = subprocess.run(["bash", script], env=env, capture_output=True, text=True)
            assert p.returncode == 0, p.stdout + p.stderr
            assert "production -> %d" % expected in p.stdout, p.stdout
        m = expect(s.get("/api/v1/models/churn"), 200)
        assert m["aliases"] == {"production": 2, "staging": 2}, m
        v = expect(s.get("/api/v1/models/churn/versions/2"), 200)
        assert v["status"] == "ready" and v["metrics"] == {"auc": 0.87} and v["run_id"] == "42"
        assert v["source"] == art.name and v["schema"]["features"][0]["name"] == "x", v
        with open(art.name, "rb") as f:
            assert v["sha256"] == hashlib.sha256(f.read()).hexdigest()
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
                   ARTIFACT=art.name, APPROVAL_POLL="0.2", APPROVAL_TIMEOUT="60",
                   MODELWATCH_BIN=BIN)
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
        # Nobody decides in time: 4. A server that cannot be reached: 1.
        p = subprocess.run(["bash", script], env=dict(env, APPROVAL_TIMEOUT="1"),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 4 and "in time" in p.stderr, (p.returncode, p.stderr)
        p = subprocess.run(["bash", script], env=dict(env, MODELWATCH_URL="http://127.0.0.1:1"),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "cannot reach the server" in p.stderr, p.stderr
        m = expect(s.get("/api/v1/models/fraud"), 200)
        assert m["aliases"] == {"production": 1, "staging": 3}, m
        v1 = expect(s.get("/api/v1/models/fraud/versions/1"), 200)["approval"]
        assert v1["by"] == "token:reviewer" and v1["comment"] == 'load test "green", p99 41 ms'
        hist = expect(s.get("/api/v1/models/fraud/aliases/production/history"), 200)["history"]
        assert [(h["version"], h["actor"], h["approved"]) for h in hist] == [
            (1, "token:ci", True)], hist
        os.unlink(art.name)


def ci_examples():
    """The shell of examples/ci/: {(file, step or job): script}; None when
    python3 has no yaml module."""
    try:
        import yaml
    except ImportError:
        return None
    out = {}
    with open(os.path.join(ROOT, "examples", "ci", "github-actions.yml")) as f:
        gh = yaml.safe_load(f)
    for job in gh["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                out[("github", step["name"])] = step["run"]
    with open(os.path.join(ROOT, "examples", "ci", "gitlab-ci.yml")) as f:
        gl = yaml.safe_load(f)
    for name, job in gl.items():
        if isinstance(job, dict):
            for key in ("before_script", "script"):
                if key in job:
                    out[("gitlab", name + "." + key)] = "\n".join(job[key])
    return out


def test_ci_examples():
    """examples/ci/: valid YAML whose shell is valid bash; the steps that
    register, upload and promote run against a real server (the rollout
    steps wait for hours of holds: checked for syntax only)."""
    blocks = ci_examples()
    if blocks is None:
        from mwtest import Skip
        raise Skip("python3 has no yaml module")
    for (where, name), script in blocks.items():
        text = re.sub(r"\$\{\{[^}]*\}\}", "X", script)
        p = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
        assert p.returncode == 0, (where, name, p.stderr)
    work = tempfile.mkdtemp(prefix="mwci-")
    try:
        with open(os.path.join(work, "model.bin"), "wb") as f:
            f.write(os.urandom(8192))
        with open(os.path.join(work, "metrics.json"), "w") as f:
            f.write('{"f1": 0.81}')
        with open(os.path.join(work, "schema.json"), "w") as f:
            f.write('{"features":[{"name":"x","type":"numeric"}],'
                    '"prediction":{"type":"numeric"}}')
        with served() as s:
            token = s.token_with("ci", ["read", "promote"])
            env = dict(os.environ, MODEL="fraud", MODELWATCH_TOKEN=token,
                       MODELWATCH_URL="http://127.0.0.1:%d" % s.port,
                       PATH=os.path.dirname(os.path.abspath(BIN)) + ":" + os.environ["PATH"])

            def step(where, name, extra, subst=None):
                script = blocks[(where, name)]
                for k, v in (subst or {}).items():
                    script = script.replace(k, v)
                p = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=work,
                                   env=dict(env, **extra), capture_output=True,
                                   text=True, timeout=120)
                assert p.returncode == 0, (name, p.stdout, p.stderr)
                return p

            out = os.path.join(work, "github_output")
            gh = dict(GITHUB_OUTPUT=out, GITHUB_RUN_ID="77", GITHUB_REPOSITORY="acme/fraud",
                      GITHUB_SERVER_URL="https://github.com", GITHUB_SHA="abc")
            for _ in range(2):  # the second run finds the model there (7)
                step("github", "Register and upload", gh)
            with open(out) as f:
                assert f.read() == "version=1\nversion=2\n"
            step("github", "Staging", gh, {"${{ steps.register.outputs.version }}": "2"})
            m = expect(s.get("/api/v1/models/fraud"), 200)
            assert m["aliases"] == {"staging": 2} and m["version_count"] == 2, m
            v = expect(s.get("/api/v1/models/fraud/versions/2"), 200)
            assert v["run_id"] == "77" and v["metrics"] == {"f1": 0.81}, v
            assert v["source"] == "https://github.com/acme/fraud/commit/abc", v

            gl = dict(CI_PIPELINE_ID="9", CI_PROJECT_PATH="acme/fraud", CI_COMMIT_TAG="",
                      CI_PROJECT_URL="https://gitlab.com/acme/fraud", CI_COMMIT_SHA="def")
            for want in (3, 4):
                step("gitlab", "register-and-promote.script", gl)
                with open(os.path.join(work, "release.env")) as f:
                    assert f.read() == "VERSION=%d\n" % want
                m = expect(s.get("/api/v1/models/fraud"), 200)
                assert m["aliases"] == {"staging": want, "production": want}, m
            hist = expect(s.get("/api/v1/models/fraud/aliases/production/history"), 200)
            assert [(h["version"], h["previous_version"]) for h in hist["history"]] == [
                (4, 3), (3, None)], hist
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
