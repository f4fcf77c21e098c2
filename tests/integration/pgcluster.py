"""A private PostgreSQL server for a test, made as a user of the project would make one.

    with pgcluster.PgCluster() as pg:
        url = pg.url(pg.create_database("t1"))   # postgresql://tarry@/t1?host=/tmp/tarry-pg-.../sock&port=N
        subprocess.run([harness.BIN, "migrate", "--store", url])
        pg.psql("t1", "SELECT count(*) FROM tarry_schema")
        pg.stop(); ...; pg.start()               # the database away for a while (issue 12's tests)

`initdb` makes a cluster in a fresh temporary folder (the newest PostgreSQL under
/usr/lib/postgresql/*/bin, Debian's layout, else the one on PATH); `pg_ctl` runs it. The server
listens on a unix socket inside that folder only (listen_addresses = ''), so no other test and
no other program can reach it; its port only names the socket file (.s.PGSQL.PORT) in that
private folder, so any number is free there and none is raced for. Local connections are
trusted; tests connect as the role `tarry` (LOGIN, not a superuser, owner of the databases
made by create_database), the cluster's superuser is `postgres`.

CI runs as root and initdb refuses root: when the euid is 0, the server's programs run as the
`postgres` system user (Debian's package creates it) through `runuser -u postgres --`, with the
folder given to that user. Clients (psql, tarry) keep running as the test's user.

Everything is removed after, also when the test fails (the context manager, and harness.run()'s
cleanup of everything it started: the cluster registers there like a Host). If the test process
dies without cleaning up (CTest's timeout kills it), a small guardian process, detached from the
test and woken when the test's end of a pipe closes, stops the server and removes the folder.
TARRY_KEEP=1 keeps the folder (stopped) for a post-mortem.
"""

import fcntl
import glob
import os
import pwd
import random
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness

ADMIN = "postgres"  # the cluster's superuser
ROLE = "tarry"  # the role tests connect as
SERVER_USER = "postgres"  # the system user that runs the server when the test runs as root
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the NUL
INITDB_ARGS = ["-U", ADMIN, "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C", "--no-sync"]


def server_bindir():
    """The folder holding the newest installed initdb, pg_ctl and postgres; a clear error if none."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = os.path.basename(os.path.dirname(os.path.dirname(initdb)))
        if re.fullmatch(r"\d+(\.\d+)?", version):
            found.append((tuple(int(p) for p in version.split(".")), os.path.dirname(initdb)))
    if found:
        return max(found)[1]
    on_path = shutil.which("initdb")
    if on_path:
        return os.path.dirname(on_path)
    raise RuntimeError(
        "PostgreSQL's initdb is not installed (looked in /usr/lib/postgresql/*/bin and on PATH): "
        "scripts/deps installs it (Debian's postgresql package)"
    )


# Run by the guardian (below) in a process of its own: wait until the test's end of the pipe
# closes, then stop the server (if it still runs) and remove the folder (unless the test did).
_GUARDIAN = r"""
import os, shutil, subprocess, sys
fd, folder, data, keep = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
prefix = sys.argv[5:]
if os.fork():
    os._exit(0)  # detached: a kill of the test's process tree does not reach the guardian
os.setsid()
while os.read(fd, 1):
    pass
if os.path.isfile(os.path.join(data, "postmaster.pid")):
    subprocess.run(prefix + ["stop", "-D", data, "-m", "immediate", "-w"], cwd=folder,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if not keep:
    shutil.rmtree(folder, ignore_errors=True)
"""


class PgCluster:
    """One private PostgreSQL server: initdb, started on construction (start=False: not yet)."""

    def __init__(self, start=True, settings=None):
        self.bindir = server_bindir()
        self.settings = dict(settings or {})
        self.as_server = []  # the command prefix that runs a server program as SERVER_USER
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(
                    "running as root, and initdb refuses root: the server must run as the %r system "
                    "user, which does not exist (Debian's postgresql package creates it)" % SERVER_USER
                )
            self.as_server = ["runuser", "-u", SERVER_USER, "--"]
        self.dir = tempfile.mkdtemp(prefix="tarry-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log_path = os.path.join(self.dir, "server.log")
        self.port = random.randrange(20000, 60000)  # names the socket file only (see the module's text)
        self.running = False
        self.databases = []
        self._guard_fd = None
        harness._live_hosts.append(self)  # harness.run() cleans up and shows the log on failure
        try:
            if len(os.path.join(self.sock, ".s.PGSQL.%d" % self.port)) > SOCKET_PATH_MAX:
                raise RuntimeError(
                    "the socket path under %s is longer than %d bytes: set TMPDIR to a shorter folder"
                    % (self.dir, SOCKET_PATH_MAX)
                )
            os.mkdir(self.sock)
            if self.as_server:
                for path in (self.dir, self.sock):
                    shutil.chown(path, SERVER_USER, SERVER_USER)
            self._guard()
            self._initdb()
            if start:
                self.start()
        except BaseException:
            self.cleanup()
            raise

    # ---- the server ------------------------------------------------------
    def _server_cmd(self, program, *args):
        return self.as_server + [os.path.join(self.bindir, program)] + list(args)

    def _run_server(self, program, *args, what):
        p = subprocess.run(self._server_cmd(program, *args), cwd=self.dir, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("%s failed (exit %d):\n%s%s\n--- server log ---\n%s"
                               % (what, p.returncode, p.stdout, p.stderr, self.log_tail()))
        return p

    def _guard(self):
        read_fd, self._guard_fd = os.pipe()
        try:
            subprocess.run(
                [sys.executable, "-c", _GUARDIAN, str(read_fd), self.dir, self.data,
                 "1" if os.environ.get("TARRY_KEEP") else "0"] + self._server_cmd("pg_ctl"),
                pass_fds=(read_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, check=True, timeout=30,
            )
        finally:
            os.close(read_fd)

    def _initdb(self):
        if not self._copy_initdb_cache():
            self._run_server("initdb", "-D", self.data, *INITDB_ARGS, what="initdb")
        settings = {"listen_addresses": "", "unix_socket_directories": self.sock, "port": self.port}
        settings.update(self.settings)
        lines = ["\n# tarry's test cluster (tests/integration/pgcluster.py)\n"]
        for key, value in settings.items():
            if isinstance(value, str):
                value = "'%s'" % value.replace("'", "''")
            lines.append("%s = %s\n" % (key, value))
        conf = os.path.join(self.data, "postgresql.conf")
        with open(conf, "a") as f:
            f.writelines(lines)

    def _copy_initdb_cache(self):
        """Copy the build's initdb'd folder (made once per build folder and PostgreSQL, under
        TARRY_BUILD/pg-initdb/) into self.data; False (initdb it is) without a build folder. Under
        load initdb takes seconds, most of a test's PostgreSQL start, and a copy a fraction of it;
        what it makes depends only on the server's programs and INITDB_ARGS."""
        if not harness.BUILD or not os.path.isdir(harness.BUILD):
            return False
        top = os.path.join(harness.BUILD, "pg-initdb")
        cache = os.path.join(top, re.sub(r"[^A-Za-z0-9]+", "_", self.bindir).strip("_"))
        os.makedirs(top, exist_ok=True)
        if self.as_server:
            shutil.chown(top, SERVER_USER, SERVER_USER)
        with open(cache + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one test makes it; the others wait, then copy
            if not os.path.isdir(cache):
                tmp = "%s.tmp%d" % (cache, os.getpid())
                shutil.rmtree(tmp, ignore_errors=True)
                self._run_server("initdb", "-D", tmp, *INITDB_ARGS, what="initdb (the build's copy)")
                os.rename(tmp, cache)
        p = subprocess.run(self.as_server + ["cp", "-a", cache, self.data], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("copying %s to %s failed: %s" % (cache, self.data, p.stderr.strip()))
        return True

    def start(self):
        """Start the server and wait until it accepts connections; the first start makes the role."""
        self._run_server("pg_ctl", "start", "-D", self.data, "-l", self.log_path, "-w", "-t", "60",
                         what="pg_ctl start")
        self.running = True
        if not self.psql("postgres", "SELECT 1 FROM pg_roles WHERE rolname = '%s'" % ROLE, user=ADMIN):
            self.psql("postgres", 'CREATE ROLE "%s" LOGIN' % ROLE, user=ADMIN)

    def stop(self, mode="fast"):
        """Stop the server (pg_ctl stop -m MODE): connections fail until start()."""
        self._run_server("pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", "60", what="pg_ctl stop")
        self.running = False

    # ---- databases -------------------------------------------------------
    def create_database(self, name):
        """A new database owned by ROLE, encoded UTF8; returns its name."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError("a test database name is [a-z_][a-z0-9_]*: %r" % (name,))
        self.psql("postgres", 'CREATE DATABASE "%s" OWNER "%s" ENCODING \'UTF8\'' % (name, ROLE), user=ADMIN)
        self.databases.append(name)
        return name

    def url(self, dbname, user=ROLE, password=None):
        """The libpq URI of database `dbname` on this server (a password is sent, never needed)."""
        userinfo = urllib.parse.quote(user, safe="")
        if password is not None:
            userinfo += ":" + urllib.parse.quote(password, safe="")
        return "postgresql://%s@/%s?host=%s&port=%d" % (
            userinfo, urllib.parse.quote(dbname, safe=""), urllib.parse.quote(self.sock, safe="/"), self.port)

    def psql(self, dbname, sql, user=ROLE, check=True):
        """Run sql with psql; the rows as lists of fields ('|' separated, unaligned). check=False returns
        the CompletedProcess instead of raising on an error."""
        p = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", self.sock, "-p",
             str(self.port), "-U", user, "-d", dbname, "-c", sql],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
        )
        if not check:
            return p
        if p.returncode != 0:
            raise RuntimeError("psql on %s as %s failed (exit %d): %s\nSQL: %s"
                               % (dbname, user, p.returncode, p.stderr.strip(), sql))
        return [line.split("|") for line in p.stdout.splitlines() if line]

    # ---- cleanup ---------------------------------------------------------
    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def cleanup(self):
        if self.running:
            try:
                self.stop(mode="immediate")
            except Exception as exc:  # the folder goes all the same; the guardian tries again
                print("pgcluster: stopping the server failed: %s" % exc, flush=True)
            self.running = False
        if os.environ.get("TARRY_KEEP"):
            print("pgcluster: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self._guard_fd is not None:
            os.close(self._guard_fd)  # the guardian wakes, finds nothing to do, and ends
            self._guard_fd = None
        if self in harness._live_hosts:
            harness._live_hosts.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            print("--- PostgreSQL server log (%s) ---\n%s" % (self.dir, self.log_tail()), flush=True)
        self.cleanup()
        return False
