"""One private PostgreSQL server for the unit tests that need one (CTest fixture `pg_unit`).

    pg_fixture.py start DIR    # before the first test that needs it (FIXTURES_SETUP)
    pg_fixture.py stop DIR     # after the last one (FIXTURES_CLEANUP)

`start` makes the server with tests/integration/pgcluster.py (a fresh initdb in a temporary
folder, listening on a unix socket in it only), lets the test role `tarry` create databases, and
makes the database `tarry_template` with the store's schema (`tarry migrate`, TARRY_BIN), marked
as a template. It writes DIR/url: the libpq URL of the maintenance database `postgres` as `tarry`.
A test (tests/unit/pg_testdb.c) clones the template into a database of its own per test case
(CREATE DATABASE ... TEMPLATE: a file copy, much faster than migrating) and drops it after, so
every case starts from an empty store and the test programs can run in parallel.

The server outlives this script, so pgcluster's guardian (which stops the server when the
starting process ends) is replaced by one that waits for CTest itself (this script's parent):
if CTest is killed before `stop` runs, the server is stopped and its folder removed all the same.

fsync is off: these tests check what the store returns, not what survives a power cut (the
crash and disk tests do that on servers of their own), and a clone per test case would
otherwise wait for the disk each time.
"""

import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import pgcluster  # noqa: E402

TEMPLATE = "tarry_template"

# Run detached: wait until the process `pid` (CTest) ends, then stop the server if it still runs
# and remove its folder (a `stop` that ran has done both: then nothing is left to do).
_GUARDIAN = r"""
import os, select, shutil, subprocess, sys, time
pid, folder, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
prefix = sys.argv[4:]
if os.fork():
    os._exit(0)
os.setsid()
try:
    fd = os.pidfd_open(pid)
    select.select([fd], [], [])
except (AttributeError, OSError):
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(1)
if os.path.isfile(os.path.join(data, "postmaster.pid")):
    subprocess.run(prefix + ["stop", "-D", data, "-m", "immediate", "-w"], cwd=folder,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(folder, ignore_errors=True)
"""


class FixtureCluster(pgcluster.PgCluster):
    """A PgCluster whose guardian waits for CTest, not for this script."""

    def _guard(self):
        subprocess.run(
            [sys.executable, "-c", _GUARDIAN, str(os.getppid()), self.dir, self.data] + self._server_cmd("pg_ctl"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
            timeout=30,
        )


def state_path(state_dir):
    return os.path.join(state_dir, "cluster.json")


def stop(state_dir):
    """Stop the server named in state_dir and remove its folder and state_dir's files; none: nothing."""
    try:
        with open(state_path(state_dir)) as f:
            st = json.load(f)
    except FileNotFoundError:
        return
    if os.path.isfile(os.path.join(st["data"], "postmaster.pid")):
        p = subprocess.run(st["as_server"] + [os.path.join(st["bindir"], "pg_ctl"), "stop", "-D", st["data"], "-m",
                                              "immediate", "-w", "-t", "60"],
                           cwd=st["dir"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        if p.returncode != 0:
            print("pg_fixture: pg_ctl stop failed (exit %d): %s%s" % (p.returncode, p.stdout, p.stderr))
    shutil.rmtree(st["dir"], ignore_errors=True)
    for name in ("url", "cluster.json"):
        try:
            os.remove(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass


def start(state_dir):
    tarry = os.environ.get("TARRY_BIN")
    if not tarry or not os.access(tarry, os.X_OK):
        raise RuntimeError("TARRY_BIN must name the built tarry binary (it migrates the template), got %r" % tarry)
    os.makedirs(state_dir, exist_ok=True)
    stop(state_dir)  # a server left by an interrupted run
    pg = FixtureCluster(settings={"fsync": "off", "full_page_writes": "off", "max_connections": 200})
    try:
        pg.psql("postgres", 'ALTER ROLE "%s" CREATEDB' % pgcluster.ROLE, user=pgcluster.ADMIN)
        pg.create_database(TEMPLATE)
        url = pg.url(TEMPLATE)
        p = subprocess.run([tarry, "migrate", "--store", url], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("tarry migrate --store %s failed (exit %d):\n%s%s" % (url, p.returncode, p.stdout,
                                                                                   p.stderr))
        # No connection may stay on a template while it is cloned: nobody may connect to it.
        pg.psql("postgres", 'ALTER DATABASE "%s" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false' % TEMPLATE,
                user=pgcluster.ADMIN)
        with open(state_path(state_dir), "w") as f:
            json.dump({"dir": pg.dir, "data": pg.data, "bindir": pg.bindir, "as_server": pg.as_server}, f)
        with open(os.path.join(state_dir, "url"), "w") as f:
            f.write(pg.url("postgres") + "\n")
    except BaseException:
        print("--- PostgreSQL server log (%s) ---\n%s" % (pg.dir, pg.log_tail()), flush=True)
        pg.cleanup()
        raise
    # From here on the server belongs to `stop` (or to the guardian): not to this process.
    pg.running = False
    if pg in pgcluster.harness._live_hosts:
        pgcluster.harness._live_hosts.remove(pg)
    print("pg_fixture: PostgreSQL in %s, template %s, URL in %s" % (pg.dir, TEMPLATE, os.path.join(state_dir, "url")))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: pg_fixture.py start|stop DIR")
    if sys.argv[1] == "start":
        start(sys.argv[2])
    else:
        stop(sys.argv[2])


if __name__ == "__main__":
    main()
