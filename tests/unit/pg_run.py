"""Run a unit test program against a private PostgreSQL server.

    python3 tests/unit/pg_run.py PROGRAM [ARGS...]

Starts one server (tests/integration/pgcluster.py), makes a database for the program, runs it
with TARRY_TEST_PG_URL set to that database's URL, and stops and removes the server whatever
happens; the program's exit status is this script's. A program that finds TARRY_TEST_PG_URL
unset runs itself through this script, so `ctest -R NAME` needs nothing else.
"""

import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import pgcluster  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: pg_run.py PROGRAM [ARGS...]")
    with pgcluster.PgCluster() as pg:
        env = dict(os.environ, TARRY_TEST_PG_URL=pg.url(pg.create_database("unit")))
        status = subprocess.call(sys.argv[1:], env=env)
        if status != 0:
            print("--- PostgreSQL server log (%s) ---\n%s" % (pg.dir, pg.log_tail()), flush=True)
    sys.exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
