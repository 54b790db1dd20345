"""Every ```sh block of README.md runs, in order, against a real server, so
the README's commands cannot rot.

Each block runs under bash with `set -euo pipefail` and a `curl` that fails
on any HTTP status of 400 or more (--fail-with-body), from a directory that
holds what the README assumes: var/admin.token (as `make run` leaves it),
model.bin, T, a token, and `modelwatch` on PATH (the binary under test,
for the CLI blocks). localhost:8080 is the server the test started.
A block right after an HTML comment starting with `not-run` is skipped
(`make run` would start a second server); keep that rare.
"""
import os
import re
import shutil
import subprocess
import tempfile

from mwtest import BIN, expect, run, served

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(text):
    """[(language, code, skipped, line)] of the fenced blocks of text."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        skipped = prev.strip().startswith("<!-- not-run")
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        out.append((lang, "\n".join(body) + "\n", skipped, start + 1))
    return out


PRELUDE = """set -euo pipefail
curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }
"""


def test_readme_blocks_run():
    with open(os.path.join(ROOT, "README.md")) as f:
        found = blocks(f.read())
    sh = [b for b in found if b[0] in ("sh", "bash", "shell")]
    runnable = [b for b in sh if not b[2]]
    assert runnable, "no sh block to run"
    assert len(runnable) >= len(sh) - 1, "most blocks are marked not-run: %s" % sh
    work = tempfile.mkdtemp(prefix="mwreadme-")
    try:
        with served(args=["--eval-interval-seconds", "0"]) as s:
            os.makedirs(os.path.join(work, "var"))
            shutil.copy(os.path.join(s.data_dir, "admin.token"),
                        os.path.join(work, "var", "admin.token"))
            with open(os.path.join(work, "model.bin"), "wb") as f:
                f.write(os.urandom(4096))
            token = s.token_with("readme", ["promote", "ingest", "read"])
            env = dict(os.environ, T=token,
                       PATH=os.path.dirname(os.path.abspath(BIN)) + ":" + os.environ["PATH"])
            for k in ("MODELWATCH_URL", "MODELWATCH_TOKEN", "MODELWATCH_CACERT"):
                env.pop(k, None)
            ran = ""
            for lang, code, _, line in runnable:
                script = PRELUDE + code.replace("localhost:8080", "127.0.0.1:%d" % s.port)
                p = subprocess.run(["bash", "-c", script], cwd=work, env=env,
                                   capture_output=True, text=True, timeout=120)
                print("README.md:%d (%s block): exit %d\n%s%s" % (
                    line, lang, p.returncode, p.stdout[-1500:], p.stderr[-1500:]))
                assert p.returncode == 0, "README.md:%d failed:\n%s\n%s" % (
                    line, p.stdout[-3000:], p.stderr[-3000:])
                ran += code
            # The CI and serving-node snippets are among what ran, and did
            # what they say.
            for needle in ("/artifact", "/reference", "/aliases/production",
                           "/predictions", "/drift", "/api/v1/tokens"):
                assert needle in ran, needle
            # The approval block: production protected, version 2 approved
            # by the reviewer and promoted over version 1.
            m = expect(s.get("/api/v1/models/fraud"), 200)
            assert m["aliases"]["production"] == 2, m
            # The rollout block: a canary of version 3 onto staging, running.
            ro = expect(s.get("/api/v1/models/fraud/rollouts"), 200)["rollouts"]
            assert [(r["alias"], r["candidate_version"], r["state"]) for r in ro] == [
                ("staging", 3, "running")], ro
            v = expect(s.get("/api/v1/models/fraud/versions/1"), 200)
            assert v["status"] == "ready" and v["metrics"] == {"auc": 0.91}, v
            v2 = expect(s.get("/api/v1/models/fraud/versions/2"), 200)["approval"]
            assert v2["state"] == "approved" and v2["by"] == "token:reviewer", v2
            expect(s.get("/api/v1/models/fraud/protected-aliases/production"), 200)
            # The CLI block: churn registered, rolled out to version 2, and
            # the stale compare-and-swap refused.
            m = expect(s.get("/api/v1/models/churn"), 200)
            assert m["aliases"] == {"production": 2} and m["tags"] == {"team": "growth"}, m
            ro = expect(s.get("/api/v1/models/churn/rollouts"), 200)["rollouts"]
            assert [(r["candidate_version"], r["state"]) for r in ro] == [(2, "promoted")], ro
            assert "modelwatch rollout wait" in ran
            drift = expect(s.get("/api/v1/models/fraud/versions/1/drift"), 200)
            # p1, then p2 of the quarantine block (its amount missing);
            # p3 ("n/a") is in the quarantine.
            assert drift["window"]["count"] == 2 and drift["reference"]["count"] == 3, drift
            amount = drift["columns"][0]
            assert amount["quality"]["missing_share"] == 0.5, amount
            assert amount["quality"]["invalid_count"] == 1, amount
            q = expect(s.get("/api/v1/models/fraud/versions/1/quarantine"), 200)
            assert [r["row"]["id"] for r in q["rows"]] == ["p3"], q
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_block_parser():
    text = ("x\n<!-- not-run: starts a server -->\n```sh\nmake run\n```\n\n"
            "```sh\necho a\necho b\n```\n```yaml\nk: v\n```\n")
    got = blocks(text)
    assert got == [("sh", "make run\n", True, 3), ("sh", "echo a\necho b\n", False, 7),
                   ("yaml", "k: v\n", False, 11)], got


run(globals())
