"""A PostgreSQL 15 cluster for the benchmarks' BACKEND=postgres mode
(tests/integration/pgserver.py: initdb into a temporary directory, pg_ctl
on a loopback port, fsync on), kept running between the commands of a
shell script.

  pg_cluster.py start          prints ROOT PORT (the cluster keeps running)
  pg_cluster.py db ROOT PORT   creates a database, prints its URL
  pg_cluster.py stop ROOT PORT stops the cluster and removes ROOT
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import pgserver  # noqa: E402


def attach(root, port):
    pg = pgserver.PgServer.__new__(pgserver.PgServer)
    pgserver.PgServer.__init__(pg)
    os.rmdir(pg.root)  # the fresh directory __init__ made is not used
    pg.root, pg.data = root, os.path.join(root, "data")
    pg.log, pg.port, pg.started = os.path.join(root, "postgres.log"), int(port), True
    return pg


def main(argv):
    if argv[:1] == ["start"]:
        pg = pgserver.PgServer().start()
        print(pg.root, pg.port)
    elif argv[:1] == ["db"] and len(argv) == 3:
        pg = attach(argv[1], argv[2])
        print(pg.url(pg.create_database("bench")))
    elif argv[:1] == ["stop"] and len(argv) == 3:
        attach(argv[1], argv[2]).cleanup()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
