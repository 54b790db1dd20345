"""A throwaway PostgreSQL server for the tests: initdb into a temporary
directory, pg_ctl start on a free loopback port, removed afterwards.

PostgreSQL refuses to run as root, and CI runs as root: the server then
runs as the unprivileged `postgres` user that Debian's package creates
(through runuser), in a directory handed over to it. As any other user it
runs as that user. Trust authentication on 127.0.0.1 only: the server
never listens elsewhere and lives as long as the test process.

Durability: by default the cluster syncs like a real one (fsync on), as
the benchmarks (tests/bench) need. ctest runs the tests with MW_PG_FSYNC=off
(tests/CMakeLists.txt): fsync, synchronous_commit and full_page_writes
off. The tests kill and restart modelwatch, never PostgreSQL nor the
machine: a killed client or server process loses nothing PostgreSQL has
written to the page cache, so what they check (2xx means committed, state
after a SIGKILL of modelwatch) is the same either way, and syncing buys
nothing but time (CREATE/DROP DATABASE checkpoints and every commit wait on
the disk: about 13% of integration_pg.test_monitor here). Never set it for
a cluster whose data must survive a crash of the machine.

Only the standard library and the PostgreSQL binaries (Debian's
`postgresql` package) are used.
"""
import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid


def _bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    raise RuntimeError("PostgreSQL server binaries not found "
                       "(install Debian's postgresql: `make deps`)")


def available():
    try:
        _bindir()
        return True
    except RuntimeError:
        return False


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def durable():
    """False when MW_PG_FSYNC=off asks for a cluster that never syncs."""
    return os.environ.get("MW_PG_FSYNC", "on") != "off"


class PgServer:
    """One PostgreSQL cluster. `url(db)` names a database in it."""

    USER = "mw"

    def __init__(self):
        self.bindir = _bindir()
        self.root = tempfile.mkdtemp(prefix="mwpg-")
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "postgres.log")
        self.port = None
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = "postgres"
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o700)
        self.started = False

    def _cmd(self, argv, check=True, timeout=120):
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--"] + argv
        return subprocess.run(argv, check=check, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def start(self):
        if not os.path.exists(self.data):
            self._cmd([self._bin("initdb"), "-D", self.data, "-U", self.USER,
                       "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        self.port = self.port or _free_port()
        opts = ("-c listen_addresses=127.0.0.1 -p %d -k %s "
                "-c max_connections=300 -c shared_buffers=64MB "
                "-c log_min_messages=warning " % (self.port, self.root))
        opts += ("-c fsync=on" if durable() else
                 "-c fsync=off -c synchronous_commit=off "
                 "-c full_page_writes=off")
        r = self._cmd([self._bin("pg_ctl"), "-D", self.data, "-l", self.log,
                       "-w", "-t", "60", "-o", opts, "start"], check=False)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed: %s\n%s" %
                               (r.stdout.decode(errors="replace"),
                                self.logtext()))
        self.started = True
        return self

    def stop(self, mode="fast"):
        if self.started:
            self._cmd([self._bin("pg_ctl"), "-D", self.data, "-m", mode, "-w",
                       "stop"], check=False)
            self.started = False

    def cleanup(self):
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def logtext(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def url(self, db):
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.USER, self.port, db)

    def psql(self, db, sql):
        """Runs sql in db; returns stdout (tuples only, unaligned, '|')."""
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U",
                            self.USER, "-d", db, "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr.decode(errors="replace"))
        return r.stdout.decode()

    def create_database(self, prefix="mw"):
        name = "%s_%s" % (prefix, uuid.uuid4().hex[:12])
        self.psql("postgres", "CREATE DATABASE %s" % name)
        return name

    def drop_database(self, name):
        try:
            self.psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        except RuntimeError:
            pass


_shared = None


def shared():
    """The test process's cluster, started on first use and removed when the
    process exits."""
    global _shared
    if _shared is None:
        _shared = PgServer().start()
        atexit.register(_shared.cleanup)
    return _shared


if __name__ == "__main__":
    # Smoke check: start, create a database, query it, remove everything.
    pg = PgServer().start()
    try:
        db = pg.create_database()
        t0 = time.time()
        print(pg.psql(db, "SELECT version()").strip())
        print("database %s at %s (%.0f ms)" % (db, pg.url(db),
                                               (time.time() - t0) * 1000))
    finally:
        pg.cleanup()
