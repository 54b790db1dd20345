"""Several replicas on one PostgreSQL behave as one service.

test_replicas_behind_haproxy: PostgreSQL, three modelwatch replicas and a
real haproxy (round robin, health checks on /readyz). Registry writes,
ingest, drift and an alert rule with the rollback action are driven
through haproxy while one replica is SIGKILLed (the leader in one run, a
follower in the other). Then: every acknowledged write is there; no
webhook-id reached a receiver twice, except one the killed replica had in
flight, sent again by another after its lease; one rollback per firing;
another replica took over leadership; scheduled evaluation went on.

test_database_outage: PostgreSQL stops for a few seconds under load. Writes
answer 503 with Retry-After (never a 2xx that is then lost), /readyz is 503,
and service resumes by itself when the database is back, without a restart.

PostgreSQL only (the replicas share its database); on SQLite they skip.
"""
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import mwtest
from mwtest import Server, expect, free_port, run

SCHEMA = {"features": [{"name": "x", "type": "numeric"},
                       {"name": "c", "type": "categorical"}],
          "prediction": {"type": "numeric"}}


class Receiver:
    """A webhook receiver: records every delivery's webhook-id and when it
    arrived."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []  # (webhook_id, path, time)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                with outer.lock:
                    outer.seen.append((self.headers.get("webhook-id"), self.path,
                                       time.time()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def deliveries(self):
        with self.lock:
            return list(self.seen)

    def close(self):
        self.httpd.shutdown()


class Haproxy:
    """A real haproxy in front of the replicas, round robin."""

    def __init__(self, ports):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mwha-")
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("""global
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout queue 10s
    retries 2
    retry-on conn-failure empty-response
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    timeout check 3s
    default-server check inter 500ms fall 3 rise 1
""" % self.port)
            for i, p in enumerate(ports):
                f.write("    server r%d 127.0.0.1:%d\n" % (i, p))
        self.log = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", cfg],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def logtext(self):
        with open(os.path.join(self.dir, "haproxy.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Front:
    """Requests through haproxy with the admin token (a Server-like face)."""

    def __init__(self, port, token):
        self.port = port
        self.token = token
        self.s = Server.__new__(Server)
        self.s.port = port
        self.s.token = token

    def __getattr__(self, name):
        return getattr(self.s, name)


def start_replicas(n, extra=()):
    first = Server(args=["--access-log", "off"])
    url = mwtest.database_url(first.data_dir)
    common = ["--database", url, "--artifact-store", "database",
              "--allow-private-webhooks", "--rate-limit", "0",
              "--eval-interval-seconds", "2", "--eval-window-seconds", "3600",
              "--alert-group-wait-seconds", "1", "--delivery-timeout-ms", "2000",
              "--access-log", "off"] + list(extra)
    first.args = common
    first.start()
    servers = [first]
    for _ in range(n - 1):
        s = Server(args=common)
        s.start()
        s.token = first.token
        servers.append(s)
    return servers


def cluster(front):
    return expect(front.get("/api/v1/cluster"), 200)["replicas"]


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = pred()
        except (OSError, AssertionError):
            v = None
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def rows(n, drift, seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        x = rnd.gauss(5.0 if drift else 0.0, 1.0)
        out.append({"features": {"x": x, "c": rnd.choice("ab" if not drift else "cd")},
                    "prediction": x / 10})
    return out


def setup_model(front, recv):
    expect(front.post("/api/v1/models", {"name": "fraud"}), 201)
    for v in (1, 2, 3):
        expect(front.post("/api/v1/models/fraud/versions", {"schema": SCHEMA}), 201)
        blob = os.urandom(50000)
        import hashlib
        expect(front.request("PUT", "/api/v1/models/fraud/versions/%d/artifact" % v,
                             raw=blob,
                             headers={"X-Content-SHA256":
                                      hashlib.sha256(blob).hexdigest()}), 200)
        expect(front.put("/api/v1/models/fraud/versions/%d/reference" % v,
                         {"rows": rows(400, False, v)}), 200)
    expect(front.post("/api/v1/nodes", {"name": "edge", "url": recv.url("/node"),
                                        "models": ["fraud"]}), 201)
    expect(front.post("/api/v1/channels", {"name": "chat", "type": "webhook",
                                           "url": recv.url("/chat")}), 201)
    for v in (1, 2, 3):
        expect(front.put("/api/v1/models/fraud/aliases/production",
                         {"version": v, "reason": "launch %d" % v}), 200)
    expect(front.post("/api/v1/alert-rules", {
        "name": "drift", "model": "fraud", "alias": "production",
        "metric": "dataset_drift_share", "op": ">", "threshold": 0.4,
        "for_seconds": 0, "window_seconds": 3600, "interval_seconds": 2,
        "severity": "critical", "channels": ["chat"], "action": "rollback"}), 201)


class Load:
    """Writes through haproxy from a few threads, remembering what was
    acknowledged (2xx) and what was refused."""

    def __init__(self, front):
        self.front = front
        self.stop = threading.Event()
        self.acked_models = []
        self.acked_rows = {2: 0, 3: 0}
        self.statuses = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.models, daemon=True),
                        threading.Thread(target=self.ingest, args=(2, False), daemon=True),
                        threading.Thread(target=self.ingest, args=(3, True), daemon=True)]

    def note(self, status):
        with self.lock:
            self.statuses.append(status)

    def models(self):
        i = 0
        while not self.stop.is_set():
            name = "m-%d-%d" % (os.getpid(), i)
            i += 1
            try:
                r = self.front.post("/api/v1/models", {"name": name})
            except OSError:
                continue
            self.note(r.status)
            if r.status == 201:
                with self.lock:
                    self.acked_models.append(name)

    def ingest(self, version, drift):
        seed = version * 1000
        while not self.stop.is_set():
            seed += 1
            batch = rows(50, drift, seed)
            try:
                r = self.front.post("/api/v1/models/fraud/versions/%d/predictions"
                                    % version, {"predictions": batch})
            except OSError:
                continue
            self.note(r.status)
            if r.status == 200:
                with self.lock:
                    self.acked_rows[version] += len(batch)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def since(seconds):
    """RFC 3339 time `seconds` ago, for ?from=."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))


def check_acknowledged(front, load):
    for name in load.acked_models:
        expect(front.get("/api/v1/models/" + name), 200)
    for v, n in load.acked_rows.items():
        d = expect(front.get("/api/v1/models/fraud/versions/%d/drift?from=%s"
                             % (v, since(3600))), 200)
        assert d["window"]["count"] >= n, (v, d["window"]["count"], n)


def check_webhooks(recv, killed_at, lease_s):
    firsts = {}
    for wid, path, at in recv.deliveries():
        assert wid, "a delivery without webhook-id"
        if wid in firsts:
            first = firsts[wid]
            # Sent twice: only a message the killed replica had in flight,
            # sent again by another replica once the lease ran out.
            assert killed_at is not None and first <= killed_at + 1 and \
                at >= killed_at + lease_s * 0.5, \
                "webhook %s delivered twice (%.2f, %.2f; kill at %s)" % (
                    wid, first, at, killed_at)
        else:
            firsts[wid] = at


def check_one_rollback_per_firing(front, servers):
    hist = expect(front.get("/api/v1/models/fraud/aliases/production/history"),
                  200)["history"]
    rollbacks = [h for h in hist if h.get("kind") == "rollback"]
    alerts = expect(front.get("/api/v1/alerts"), 200)["alerts"]
    fired = [a for a in alerts if a.get("fired_at") and
             a.get("labels", {}).get("alertname") == "drift"]
    assert rollbacks, "the rule never rolled production back: %r" % hist
    assert len(rollbacks) == len(fired), (len(rollbacks), len(fired), hist, fired)
    print("  %d firing(s), %d rollback(s)" % (len(fired), len(rollbacks)), flush=True)


def run_scenario(kill_leader):
    mwtest.only_postgres("replicas share one PostgreSQL database")
    recv = Receiver()
    servers = start_replicas(3)
    ha = Haproxy([s.port for s in servers])
    front = Front(ha.port, servers[0].token)
    try:
        wait_for(lambda: front.get("/healthz", token=None).status == 200, 30,
                 "haproxy")
        setup_model(front, recv)
        leader = wait_for(lambda: [r for r in cluster(front) if r["leader"]], 10,
                          "a leader")[0]
        load = Load(front)
        load.start()
        time.sleep(3)
        victim = next(s for s in servers
                      if ("127.0.0.1:%d" % s.port == leader["listen"]) == kill_leader)
        killed_at = time.time()
        victim.kill()
        # Leadership moves within two scheduler intervals (2 s each).
        if kill_leader:
            new = wait_for(lambda: [r for r in cluster(front) if r["leader"] and
                                    r["id"] != leader["id"]], 4.5, "a new leader")
            assert new[0]["listen"] != leader["listen"]
        time.sleep(6)  # the drifted version's rule fires, rolls back, resolves
        load.finish()
        # A request in flight on the killed replica gets 502 from haproxy:
        # not acknowledged, so not counted; at most one per writing thread.
        # Anything else above 499 but 503 (with Retry-After) is a bug.
        lost = [s for s in load.statuses if s == 502]
        assert len(lost) <= len(load.threads), lost
        refused = [s for s in load.statuses if s >= 500 and s not in (502, 503)]
        assert not refused, "errors other than 502/503: %r" % sorted(set(refused))
        check_acknowledged(front, load)
        # Scheduled evaluation went on after the kill (the new leader's).
        hist = expect(front.get("/api/v1/models/fraud/versions/3/drift/history"
                                "?metric=drift_share&from=" + since(3600)),
                      200)["points"]
        assert any(p["at"] > time.strftime("%Y-%m-%dT%H:%M:%S",
                                           time.gmtime(killed_at + 1)) for p in hist) or \
            expect(front.get("/api/v1/alert-rules/drift"), 200).get("last_eval_at")
        time.sleep(3)  # the last deliveries, and a killed replica's lease
        check_webhooks(recv, killed_at, 2 + 5)
        check_one_rollback_per_firing(front, servers)
        nodes = [d for d in recv.deliveries() if d[1] == "/node"]
        assert nodes, "the node heard of no alias move"
        ids = [d[0] for d in recv.deliveries()]
        print("  %d models and %d rows acknowledged, %d refused (503), %d lost "
              "in flight (502); %d webhooks received, %d sent again; "
              "leader %s" % (len(load.acked_models), sum(load.acked_rows.values()),
                             load.statuses.count(503), load.statuses.count(502),
                             len(ids), len(ids) - len(set(ids)),
                             "killed" if kill_leader else "kept"), flush=True)
    finally:
        ha.close()
        for s in servers:
            s.cleanup()
        recv.close()


def test_replicas_behind_haproxy_kill_leader():
    run_scenario(kill_leader=True)


def test_replicas_behind_haproxy_kill_follower():
    run_scenario(kill_leader=False)


def test_database_outage():
    mwtest.only_postgres("stops the PostgreSQL server under load")
    pg = mwtest.pg()
    s = Server(args=["--rate-limit", "0", "--access-log", "off"]).start()
    try:
        expect(s.post("/api/v1/models", {"name": "fraud"}), 201)
        expect(s.post("/api/v1/models/fraud/versions", {"schema": SCHEMA}), 201)
        acked, statuses, stop = [], [], threading.Event()

        def writer(k):
            i = 0
            while not stop.is_set():
                name = "w%d-%d" % (k, i)
                i += 1
                try:
                    r = s.post("/api/v1/models", {"name": name})
                except OSError:
                    continue
                statuses.append(r.status)
                if r.status == 201:
                    acked.append(name)
                elif r.status == 503:
                    assert r.header("Retry-After"), r
                time.sleep(0.01)

        threads = [threading.Thread(target=writer, args=(k,), daemon=True)
                   for k in range(3)]
        for t in threads:
            t.start()
        time.sleep(1)
        pg.stop("fast")
        time.sleep(1)
        ready = s.get("/readyz", token=None)
        assert ready.status == 503, ready
        assert s.get("/healthz", token=None).status == 200
        time.sleep(2)
        pg.start()
        wait_for(lambda: s.get("/readyz", token=None).status == 200, 20,
                 "readiness after the database came back")
        n = len(acked)
        wait_for(lambda: len(acked) > n + 5, 20, "writes after the outage")
        stop.set()
        for t in threads:
            t.join(30)
        assert 503 in statuses, "no write was refused during the outage"
        bad = [x for x in statuses if x not in (201, 503)]
        assert not bad, sorted(set(bad))
        for name in acked:
            expect(s.get("/api/v1/models/" + name), 200)
        s.stop()
    finally:
        if not pg.started:
            pg.start()
        s.cleanup()


def show_logs(data):
    """Prints the end of every log the demo wrote, so that a failure says
    which part did not come up."""
    for root, _, files in os.walk(data):
        for f in files:
            if f.endswith(".log"):
                with open(os.path.join(root, f), "rb") as fh:
                    tail = fh.read()[-3000:].decode("utf-8", "replace")
                print("--- %s\n%s" % (os.path.relpath(os.path.join(root, f), data), tail))


def test_demo_ha_starts():
    """examples/ha (make demo-ha): PostgreSQL, three replicas and haproxy
    come up, and the cluster lists three replicas, one leading."""
    mwtest.only_postgres("the example runs its own PostgreSQL")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    data = tempfile.mkdtemp(prefix="mwdemoha-")
    port = free_port()
    # Each port asked of the kernel: PORT+1.. may be the source port of one
    # of the many client connections the tests running beside this one make.
    env = dict(os.environ, BUILD=os.path.dirname(mwtest.BIN), PORT=str(port),
               PG_PORT=str(free_port()), DEMO_DATA_DIR=os.path.join(data, "ha"),
               REPLICA_PORTS=" ".join(str(free_port()) for _ in range(3)))
    log = open(os.path.join(data, "run.log"), "wb")
    p = subprocess.Popen(["bash", os.path.join(root, "examples", "ha", "run.sh")],
                         env=env, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        def listed():
            if p.poll() is not None:
                raise RuntimeError("examples/ha/run.sh exited with %d" % p.returncode)
            token = open(os.path.join(data, "ha", "r1", "admin.token")).read().strip() \
                if os.path.exists(os.path.join(data, "ha", "r1", "admin.token")) else None
            for i in (2, 3):
                f = os.path.join(data, "ha", "r%d" % i, "admin.token")
                if not token and os.path.exists(f):
                    token = open(f).read().strip()
            if not token:
                return None
            front = Front(port, token)
            reps = cluster(front)
            return reps if len(reps) == 3 else None
        try:
            reps = wait_for(listed, 90, "three replicas behind the demo's haproxy")
            assert sum(r["leader"] for r in reps) == 1, reps
        except BaseException:
            show_logs(data)
            raise
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(60)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
