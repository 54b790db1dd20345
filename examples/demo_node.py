#!/usr/bin/python3
"""A demo serving node for modelwatch.

It receives modelwatch's signed commands, verifies their Standard Webhooks
signature with the node's secret and applies them:
- `alias.moved`: downloads the artifact the command names, checks its
  sha256, "loads" it (logs what a real server would load) and reports the
  version it now serves, so the dashboard shows desired vs reported versions.
- `rollout.step` (canary and shadow rollouts): loads the candidate the same
  way (download, sha256 check) and splits traffic between the baseline and
  the candidate. canary: candidate_weight_percent % of requests are served
  by the candidate, the rest by the baseline. shadow: the baseline serves
  every request and the candidate also predicts on a copy of that share of
  them (100 = all), logged under the candidate with the same prediction id.
  Weight 0 or state "aborted" ends the split (baseline only, candidate
  unloaded); "promoted" serves the candidate only; "paused" keeps the
  current split (a node that has no split of that rollout yet takes the
  command's). Then it reports to POST /api/v1/nodes/{name}/status the
  baseline it serves and candidate_version, candidate_state ("loaded" or
  null; "failed" when the artifact's digest did not match) and
  candidate_weight_percent.
A webhook-id already applied is answered "duplicate" and not applied again
(deliveries repeat). A rollout.step older than the newest applied step of
its rollout (by `step`, then `at`), or of a rollout older (lower id) than
one already applied, is answered "stale" and changes nothing.

With --traffic RATE the node is also a serving process: it synthesises
RATE requests a second (examples/fraud_sim.py, the rows traffic_gen.py
logs), gives each an ordered id (a UUIDv7), routes it by the current split
and logs the predictions through modelwatch.PredictionLogger
(clients/python), one per version: batches every 0.25 s or 200 rows to
POST /api/v1/models/{model}/versions/{v}/predictions from a background
thread behind a bounded queue. A full queue drops rows (counted); a batch
that did not arrive (modelwatch down, restarting, 5xx, 429) is sent again
until it does; rows modelwatch refuses are counted and printed; serving
never waits for modelwatch.
--drifting-versions and --bad-versions simulate broken models (see
fraud_sim.predict): a drifting version's predictions drift clearly, a bad
version's keep the good model's distribution but are unrelated to the
truth. With --labels, each logged prediction gets its ground truth (the
request's true score plus small noise) --label-delay seconds after
modelwatch stored it, through the same logger to .../versions/{v}/labels of
every version that logged the id (in shadow mode both).

GET /state on the node's port answers JSON for tests and humans: current
(the baseline), candidate, weight_percent, mode, rollout_id, rollout_state;
served (requests by the version that answered them), shadowed (copies the
candidate predicted), logged and labeled (rows modelwatch accepted), each
{version: count}; dropped (predictions lost to a full queue),
labels_dropped, unserved (requests before any version was loaded), failed
({predictions: {version: rows}, labels: {version: rows}} refused by
modelwatch), last_error, loggers ({version: PredictionLogger.stats()});
commands (the last 1000 verified commands: type,
at_ms = time.time() * 1000 when received, rollout_id, step, weight, state,
mode, to_version, result: "loaded", "applied", "duplicate", "stale: ...",
"ignored", "failed: ..."); shadow_pairs (shadowed ids whose two POSTs were
answered, by outcome: both_logged, candidate_refused, baseline_refused,
both_refused) and recent_shadow (the last 50 of them: {id, baseline,
candidate, logged: [versions], refused: [versions]}).

Usage:
  demo_node.py --modelwatch http://127.0.0.1:8080 --token TOKEN \
      --name edge-1 --model fraud [--alias production] [--port 9100] \
      [--secret whsec_...] [--traffic RATE] [--labels] [--label-delay 2] \
      [--drifting-versions 3,5] [--bad-versions 4] [--seed N]

On start it registers itself (POST /api/v1/nodes, needs a promote token)
unless --secret is given for an already registered node; then it serves
POST / (commands) and GET /state on 127.0.0.1:PORT. The token also needs
read (artifacts) and, with --traffic, ingest. examples/send_step.py signs
and sends a rollout.step by hand. Only Python's standard library and the
modelwatch package (clients/python, found there when not installed) are
used.
"""
import argparse
import collections
import datetime
import hashlib
import http.server
import json
import os
import random
import sys
import threading
import time
import urllib.request

import fraud_sim

try:
    import modelwatch as mw
except ImportError:  # not installed: the package of this tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "clients", "python"))
    import modelwatch as mw

TOLERANCE_S = 300  # Standard Webhooks: reject timestamps older/newer than 5 min
BATCH_ROWS = 200   # a version's predictions are POSTed at 200 rows ...
BATCH_S = 0.25     # ... or every 0.25 s, whichever comes first
QUEUE_ROWS = 20000  # rows waiting for a version's logger; more are dropped
LABEL_ROWS = 200000  # labels waiting for their delay; more are dropped


def parse_at(text):
    """RFC 3339 time -> ms since the epoch (0 when absent or unreadable)."""
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return 0.0


def version_list(text):
    """"3,5" -> {3, 5}."""
    try:
        return {int(v) for v in text.split(",") if v.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError("expected version numbers separated by commas")


class DigestMismatch(Exception):
    def __init__(self, version):
        super().__init__("artifact digest mismatch")
        self.version = version


class Node:
    def __init__(self, args):
        self.args = args
        self.base = args.modelwatch.rstrip("/")
        self.client = mw.Client(self.base, args.token, timeout=30)
        self.secret = args.secret
        self.seen = set()  # webhook-ids already applied (deliveries repeat)
        self.lock = threading.Lock()  # one command at a time
        # The split; serving reads it under `state` (short holds only: a
        # command downloads before it takes the lock to switch).
        self.state = threading.Lock()
        self.current = None    # the baseline: the version that serves
        self.candidate = None  # loaded candidate of a rollout, or None
        self.weight = 0        # candidate_weight_percent while a split runs
        self.mode = None       # "canary" | "shadow" while a split runs
        self.rollout_id = None
        self.rollout_state = None
        self.steps = {}        # rollout_id -> (step, at_ms) newest applied
        self.newest_rollout = 0
        self.loaded = {}       # version -> sha256 of its loaded artifact
        self.commands = collections.deque(maxlen=1000)
        # traffic
        self.served = collections.Counter()
        self.shadowed = collections.Counter()
        self.logged = collections.Counter()
        self.labeled = collections.Counter()
        self.failed = {"predictions": collections.Counter(), "labels": collections.Counter()}
        self.labels_dropped = 0
        self.unserved = 0
        self.last_error = None
        # Shadowed ids whose two predictions are being logged: id ->
        # {id, baseline, candidate, logged: [versions], refused: [versions]};
        # settled ones (both POSTs answered) move to recent_shadow.
        self.shadow_pending = collections.OrderedDict()
        self.recent_shadow = collections.deque(maxlen=50)
        self.shadow_pairs = collections.Counter()  # settled pairs by outcome
        # One PredictionLogger per version that served (they carry its
        # labels too); their threads report back through on_result.
        self.loggers = {}
        self.loggers_lock = threading.Lock()
        self.results = threading.Lock()  # counters and shadow pairs above
        self.truth = {}  # (version, id) -> label, until the prediction is stored
        self.pending_labels = collections.deque()  # (due, version, [(id, label)])
        self.pending_label_rows = 0
        self.label_lock = threading.Lock()
        self.err_printed = {}

    # ------------------------------------------------------------ plumbing
    def api(self, method, path, body=None):
        return self.client.request(method, path, body if body is not None else mw.UNSET) or {}

    def log(self, *a):
        print("[%s %s]" % (time.strftime("%H:%M:%S"), self.args.name), *a, flush=True)

    def register(self):
        url = "http://127.0.0.1:%d/" % self.args.port
        try:
            node = self.api("POST", "/api/v1/nodes", {
                "name": self.args.name, "url": url,
                "models": [{"name": self.args.model, "alias": self.args.alias}]})
            self.secret = node["secret"]
            self.log("registered at", url)
        except mw.ModelwatchError as e:
            sys.exit("cannot register node: %s (pass --secret for an existing node)" % e)

    def report(self, state="loaded", candidate=None):
        """Reports what the node serves; `candidate` overrides the
        candidate fields (a candidate that failed to load)."""
        with self.state:
            m = {"name": self.args.model, "version": self.current, "state": state,
                 "candidate_version": self.candidate,
                 "candidate_state": "loaded" if self.candidate is not None else None,
                 "candidate_weight_percent": self.weight}
        if candidate:
            m.update(candidate)
        self.api("POST", "/api/v1/nodes/%s/status" % self.args.name, {"models": [m]})

    def fetch(self, version, art):
        """Downloads a version's artifact and checks its sha256 (raises
        DigestMismatch); remembers it as loaded."""
        req = urllib.request.Request(art["url"], headers={
            "Authorization": "Bearer " + self.args.token})
        with urllib.request.urlopen(req, timeout=60) as r:
            data = r.read()
        if hashlib.sha256(data).hexdigest() != art["sha256"]:
            raise DigestMismatch(version)
        self.loaded[version] = art["sha256"]
        return data

    def artifact_of(self, version):
        """The artifact {url, sha256} of a version, asked of modelwatch."""
        v = self.client.get_version(self.args.model, version)
        return {"url": "%s/api/v1/models/%s/versions/%d/artifact" % (self.base, self.args.model, version),
                "sha256": v["sha256"]}

    # ------------------------------------------------------------ commands
    def apply(self, cmd):
        if cmd.get("model") != self.args.model or cmd.get("alias") != self.args.alias:
            return "ignored"
        if cmd.get("type") == "alias.moved":
            return self.apply_moved(cmd)
        if cmd.get("type") == "rollout.step":
            return self.apply_step(cmd)
        return "ignored"

    def apply_moved(self, cmd):
        art = cmd["artifact"]
        try:
            data = self.fetch(cmd["to_version"], art)
        except DigestMismatch as e:
            self.report("failed")
            return str(e)
        self.log("loading %s v%s (%d bytes, sha256 %s..., reason: %s)" % (
            cmd["model"], cmd["to_version"], len(data), art["sha256"][:12], cmd.get("reason")))
        with self.state:
            self.current = cmd["to_version"]
            if self.candidate == self.current:  # the rollout's promotion
                self.candidate, self.weight, self.mode = None, 0, None
        self.report("loaded")
        return "loaded"

    def ensure_baseline(self, version):
        """Makes `version` the serving baseline, loading it if needed."""
        if self.current == version:
            return
        if version not in self.loaded:
            data = self.fetch(version, self.artifact_of(version))
            self.log("loading baseline %s v%d (%d bytes)" % (self.args.model, version, len(data)))
        with self.state:
            self.current = version

    def apply_step(self, cmd):
        rid = int(cmd["rollout_id"])
        key = (int(cmd.get("step", 0)), parse_at(cmd.get("at")))
        if rid < self.newest_rollout:
            return "stale: rollout %d is newer" % self.newest_rollout
        if rid in self.steps and key < self.steps[rid]:
            return "stale: step %d of rollout %d is newer" % (self.steps[rid][0], rid)
        state = cmd["state"]
        base = int(cmd["baseline_version"])
        cand = cmd.get("candidate_version")
        cand = None if cand is None else int(cand)
        weight = max(0, min(100, int(cmd.get("candidate_weight_percent") or 0)))
        mode = cmd.get("mode") or "canary"
        try:
            if state == "promoted" and cand is not None:
                if cand not in self.loaded:
                    self.fetch(cand, cmd["artifact"])
                with self.state:
                    self.current, self.candidate, self.weight, self.mode = cand, None, 0, None
                self.log("rollout %d promoted: serving %s v%d only" % (rid, self.args.model, cand))
            elif state == "aborted" or weight == 0 or cand is None:
                self.ensure_baseline(base)
                with self.state:
                    dropped_cand, self.candidate, self.weight, self.mode = self.candidate, None, 0, None
                if dropped_cand is not None and dropped_cand != self.current:
                    self.loaded.pop(dropped_cand, None)
                self.log("rollout %d %s: serving v%d only%s" % (
                    rid, state, base, " (" + cmd["reason"] + ")" if cmd.get("reason") else ""))
            elif state == "paused" and self.rollout_id == rid and self.candidate == cand:
                self.log("rollout %d paused: keeping %d%% %s on v%d" % (
                    rid, self.weight, self.mode, cand))
            else:  # running, or a paused rollout this node had no split of yet
                self.ensure_baseline(base)
                if self.candidate != cand or cand not in self.loaded:
                    data = self.fetch(cand, cmd["artifact"])
                    self.log("loading candidate %s v%d (%d bytes, sha256 %s...)" % (
                        self.args.model, cand, len(data), cmd["artifact"]["sha256"][:12]))
                with self.state:
                    self.candidate, self.weight, self.mode = cand, weight, mode
                self.log("rollout %d step %d %s: %d%% %s on v%d, baseline v%d" % (
                    rid, key[0], state, weight, mode, cand, base))
        except DigestMismatch as e:
            self.log("rollout %d: v%d %s" % (rid, e.version, e))
            if e.version == cand:
                self.report("loaded", {"candidate_version": cand, "candidate_state": "failed",
                                       "candidate_weight_percent": 0})
            else:
                self.report("failed")
            return str(e)
        self.steps[rid] = key
        self.newest_rollout = rid
        with self.state:
            self.rollout_id, self.rollout_state = rid, state
        self.report("loaded")
        return "applied"

    def record(self, cmd, at_ms, result):
        """Keeps a received command for GET /state."""
        c = cmd if isinstance(cmd, dict) else {}
        self.commands.append({
            "type": c.get("type"), "at_ms": at_ms, "rollout_id": c.get("rollout_id"),
            "step": c.get("step"), "weight": c.get("candidate_weight_percent"),
            "state": c.get("state"), "mode": c.get("mode"), "to_version": c.get("to_version"),
            "result": result})

    # ------------------------------------------------------------ traffic
    def serve_loop(self):
        """Makes --traffic requests a second, routed by the current split."""
        rng = random.Random(self.args.seed)
        start, made = time.monotonic(), 0
        while True:
            due = int((time.monotonic() - start) * self.args.traffic)
            if due - made > self.args.traffic:  # stalled for over a second: skip ahead
                made = due - int(self.args.traffic)
            while made < due:
                made += 1
                self.serve_one(rng)
            time.sleep(0.005)

    def predict(self, rng, version, score):
        return fraud_sim.predict(rng, score, drifting=version in self.args.drifting_versions,
                                 bad=version in self.args.bad_versions)

    def serve_one(self, rng):
        features, score = fraud_sim.sample(rng)
        with self.state:
            cur, cand, weight, mode = self.current, self.candidate, self.weight, self.mode
        if cur is None:
            self.unserved += 1
            return
        split = cand is not None and weight > 0
        version = cand if split and mode == "canary" and rng.random() * 100 < weight else cur
        shadow = split and mode == "shadow" and rng.random() * 100 < weight
        rid = mw.uuid7()  # ordered; a shadow copy is logged under the same id
        truth = fraud_sim.label(rng, score) if self.args.labels else None
        self.served[version] += 1
        if shadow:
            self.shadowed[cand] += 1
            with self.results:
                self.shadow_pending[rid] = {"id": rid, "baseline": cur, "candidate": cand,
                                            "logged": [], "refused": []}
                while len(self.shadow_pending) > QUEUE_ROWS:  # dropped from a queue
                    self.shadow_pending.popitem(last=False)
        self.enqueue(version, rid, features, self.predict(rng, version, score), truth)
        if shadow:
            self.enqueue(cand, rid, features, self.predict(rng, cand, score), truth)

    def logger(self, version):
        lg = self.loggers.get(version)
        if lg is None:
            with self.loggers_lock:
                lg = self.loggers.get(version)
                if lg is None:
                    lg = self.loggers[version] = mw.PredictionLogger(
                        self.client, self.args.model, version, batch_size=BATCH_ROWS,
                        flush_interval=BATCH_S, queue_size=QUEUE_ROWS,
                        on_result=lambda *a: self.on_result(version, *a))
        return lg

    def enqueue(self, version, rid, features, prediction, truth):
        if truth is not None:
            with self.results:
                self.truth[(version, rid)] = truth
        if self.logger(version).log(features, prediction, id=rid) is None and truth is not None:
            with self.results:  # dropped: a full queue (counted by the logger)
                self.truth.pop((version, rid), None)

    def problem(self, kind, version, error):
        """Remembers rows modelwatch refused (kind: predictions or labels);
        prints at most one of each kind every 2 s."""
        self.last_error = "%s of v%d not logged: %s" % (kind, version, str(error)[:300])
        now = time.monotonic()
        if now - self.err_printed.get(kind, 0) >= 2:
            self.err_printed[kind] = now
            self.log("%s (failures so far: predictions %d, labels %d rows)" % (
                self.last_error, sum(self.failed["predictions"].values()),
                sum(self.failed["labels"].values())))

    def on_result(self, version, kind, outcome, rows, error):
        """A logger settled rows: "sent" or "duplicate" (stored by an
        earlier attempt) count as logged; "rejected" as failed."""
        ids = [r["id"] for r in rows]
        with self.results:
            if kind == "labels":
                if outcome == "rejected":
                    self.failed["labels"][version] += len(rows)
                else:
                    self.labeled[version] += len(rows)
            else:
                stored = outcome != "rejected"
                if stored:
                    self.logged[version] += len(rows)
                else:
                    self.failed["predictions"][version] += len(rows)
                self.settle_shadow(version, ids, "logged" if stored else "refused")
                truths = [(rid, self.truth.pop((version, rid), None)) for rid in ids]
        if outcome == "rejected":
            self.problem(kind, version, error)
            return
        if kind == "predictions" and self.args.labels:
            pairs = [(rid, t) for rid, t in truths if t is not None]
            with self.label_lock:
                if self.pending_label_rows + len(pairs) > LABEL_ROWS:
                    self.labels_dropped += len(pairs)
                    return
                self.pending_label_rows += len(pairs)
                self.pending_labels.append((time.monotonic() + self.args.label_delay,
                                            version, pairs))

    def settle_shadow(self, version, ids, outcome):
        """Notes which shadowed ids a version's POST logged or not."""
        for rid in ids:
            pair = self.shadow_pending.get(rid)
            if pair is None:
                continue
            pair[outcome].append(version)
            if len(pair["logged"]) + len(pair["refused"]) == 2:
                self.shadow_pending.pop(rid, None)
                self.recent_shadow.append(pair)
                self.shadow_pairs["both_logged" if len(pair["logged"]) == 2 else
                                  "candidate_refused" if pair["refused"] == [pair["candidate"]] else
                                  "baseline_refused" if pair["refused"] == [pair["baseline"]] else
                                  "both_refused"] += 1

    def label_loop(self):
        """Hands each stored prediction's label to its version's logger
        once the label delay is over."""
        while True:
            time.sleep(BATCH_S)
            now, due = time.monotonic(), []
            with self.label_lock:
                while self.pending_labels and self.pending_labels[0][0] <= now:
                    _, version, pairs = self.pending_labels.popleft()
                    self.pending_label_rows -= len(pairs)
                    due.append((version, pairs))
            for version, pairs in due:
                lg = self.logger(version)
                for rid, t in pairs:
                    if not lg.log_label(rid, t):
                        self.labels_dropped += 1

    def status_loop(self):
        while True:
            time.sleep(10)
            s = self.snapshot()
            self.log("served %s shadowed %s logged %s labeled %s dropped %d failed %s" % (
                s["served"], s["shadowed"], s["logged"], s["labeled"], s["dropped"],
                {k: sum(v.values()) for k, v in s["failed"].items()}))

    def snapshot(self):
        def by_version(c):
            return {str(k): v for k, v in sorted(dict(c).items())}
        loggers = {str(v): lg.stats() for v, lg in sorted(dict(self.loggers).items())}
        with self.state:
            s = {"current": self.current, "candidate": self.candidate,
                 "weight_percent": self.weight, "mode": self.mode,
                 "rollout_id": self.rollout_id, "rollout_state": self.rollout_state}
        with self.results:
            logged, labeled = by_version(self.logged), by_version(self.labeled)
            failed = {k: by_version(v) for k, v in self.failed.items()}
            shadow_pairs, recent = dict(self.shadow_pairs), list(self.recent_shadow)
        s.update({
            "served": by_version(self.served), "shadowed": by_version(self.shadowed),
            "logged": logged, "labeled": labeled,
            "dropped": sum(st["dropped_queue_full"] for st in loggers.values()),
            "labels_dropped": self.labels_dropped,
            "unserved": self.unserved,
            "failed": failed,
            "last_error": self.last_error,
            "commands": list(self.commands),
            "shadow_pairs": shadow_pairs,
            "recent_shadow": recent,
            "loggers": loggers})
        return s


def make_handler(node):
    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, code, obj=None):
            self.send_response(code)
            if obj is not None:
                body = json.dumps(obj).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if obj is not None:
                self.wfile.write(body)

        def do_GET(self):
            if self.path.split("?")[0] == "/state":
                self.reply(200, node.snapshot())
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self):
            at_ms = time.time() * 1000
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                cmd = mw.verify_webhook(node.secret, self.headers, body, tolerance=TOLERANCE_S)
            except mw.WebhookVerificationError as e:
                node.log("rejected:", e)
                self.reply(401)
                return
            except ValueError:  # signed, but not JSON
                cmd = None
            msg_id = self.headers["webhook-id"]
            with node.lock:
                if msg_id in node.seen:
                    result = "duplicate"
                else:
                    try:
                        if not isinstance(cmd, dict):
                            raise ValueError("the command is not a JSON object")
                        result = node.apply(cmd)
                        node.seen.add(msg_id)
                    except Exception as e:  # noqa: BLE001 - answer 500, modelwatch retries
                        node.log("failed:", e)
                        node.record(cmd, at_ms, "failed: %s" % e)
                        self.reply(500)
                        return
                node.record(cmd, at_ms, result)
            self.reply(200, {"result": result})

        def log_message(self, *a):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modelwatch", default="http://127.0.0.1:8080")
    p.add_argument("--token", required=True)
    p.add_argument("--name", default="demo-node")
    p.add_argument("--model", required=True)
    p.add_argument("--alias", default="production")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--secret", help="whsec_ secret of an already registered node")
    p.add_argument("--traffic", type=float, default=0, metavar="RATE",
                   help="requests served (predictions logged) per second; 0 = none")
    p.add_argument("--labels", action="store_true",
                   help="also log each prediction's ground truth, --label-delay s later")
    p.add_argument("--label-delay", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--drifting-versions", type=version_list, default=set(), metavar="V,V",
                   help="versions whose predictions drift clearly")
    p.add_argument("--bad-versions", type=version_list, default=set(), metavar="V,V",
                   help="versions whose predictions do not drift but ignore the truth")
    p.add_argument("--seed", type=int, help="seed of the synthetic requests (default: random)")
    args = p.parse_args()
    if args.traffic < 0 or args.label_delay < 0:
        p.error("--traffic and --label-delay cannot be negative")
    node = Node(args)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(node))
    if not node.secret:
        node.register()
    node.log("listening on 127.0.0.1:%d, following %s@%s" % (args.port, args.model, args.alias))
    if args.traffic > 0:
        loops = [node.serve_loop, node.status_loop]
        if args.labels:
            loops.append(node.label_loop)
        for fn in loops:
            threading.Thread(target=fn, daemon=True).start()
        node.log("serving %g requests/s%s" % (args.traffic, ", with labels after %g s"
                                              % args.label_delay if args.labels else ""))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
