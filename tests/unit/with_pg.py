"""Runs a unit test program against a throwaway PostgreSQL 15 cluster
(tests/integration/pgserver.py): MW_TEST_PG_URL names the cluster's
maintenance database, in which the program creates a database per test.

Usage: with_pg.py PROGRAM [ARGS...]; exits with the program's status.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import pgserver  # noqa: E402


def main():
    pg = pgserver.PgServer().start()
    try:
        env = dict(os.environ, MW_TEST_PG_URL=pg.url("postgres"))
        return subprocess.call(sys.argv[1:], env=env)
    finally:
        pg.cleanup()


if __name__ == "__main__":
    sys.exit(main())
