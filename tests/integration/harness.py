"""Shared helpers for the integration tests: run a real `tarry serve` and talk to it.

Each Host gets a free port, its own temporary data folder and its own plugins
folder holding copies of exactly the .so files the test asked for, so tests can
run in parallel and never see each other's state. The host runs in its own
session (process group): kill9() takes down the supervisor and the engine
together, as a power cut would. Everything is removed on exit, also when the
test fails (set TARRY_KEEP=1 to keep the folder for a post-mortem).

Environment (set by CTest): TARRY_BIN (the tarry binary), TARRY_BUILD (the
build folder, for plugins), TARRY_SRC (the source tree), and TARRY_TEST_STORE:
"lmdb" (the default) or "postgres". With postgres, every Host keeps its
executions in PostgreSQL: one private server per test process (pgcluster.py,
started with the first such Host), a fresh database per Host, passed as
`--store URL`; a restarted Host keeps its database as it keeps its data
folder. A Host made with lmdb_only=True (a test about LMDB's files, the data
folder, a full disk) keeps LMDB either way.

Function names are global in a host, and examples and testfns both export
`noop`: never load those two into one host.
"""

import datetime
import fcntl
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

BIN = os.environ.get("TARRY_BIN", "")
BUILD = os.environ.get("TARRY_BUILD", "")
SRC = os.environ.get("TARRY_SRC", "")

FINAL_STATES = ("succeeded", "failed", "cancelled", "discarded")

STORE = os.environ.get("TARRY_TEST_STORE") or "lmdb"
if STORE not in ("lmdb", "postgres"):
    raise RuntimeError("TARRY_TEST_STORE is lmdb or postgres, not %r" % STORE)

_pg = None  # this test process's PostgreSQL (pg_cluster()), started by the first Host that needs it
_pg_databases = 0


def pg_cluster():
    """The test process's private PostgreSQL server (pgcluster.PgCluster), started on first use;
    harness.run()'s cleanup stops it and removes its folder."""
    global _pg
    if _pg is None:
        import pgcluster  # here, not at the top: pgcluster imports this module

        # fsync off: a commit reaches the server's kernel, not its disk. No test crashes the
        # machine, and a killed host (or server) loses nothing the kernel has, so what the tests
        # check holds; they just do not queue behind a shared disk's flushes. scripts/bench and
        # users keep PostgreSQL's defaults.
        _pg = pgcluster.PgCluster(settings={"fsync": "off"})
    return _pg


def new_pg_store():
    """A fresh database on the test's PostgreSQL server: (its name, its URL for --store)."""
    global _pg_databases
    pg = pg_cluster()
    _pg_databases += 1
    name = pg.create_database("host%d" % _pg_databases)
    return name, pg.url(name)


class CheckFailed(AssertionError):
    pass


def check(cond, what, detail=None):
    """Assert `cond`; print what was checked so a passing run documents itself."""
    if not cond:
        msg = "FAILED: " + what
        if detail is not None:
            msg += "\n  detail: " + (detail if isinstance(detail, str) else repr(detail))
        raise CheckFailed(msg)
    print("ok: " + what, flush=True)


def check_eq(got, want, what):
    check(got == want, "%s (= %r)" % (what, want), "got %r, want %r" % (got, want))


def parse_time(text):
    """RFC 3339 text -> aware datetime; raises on anything else."""
    if not isinstance(text, str) or not re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text
    ):
        raise ValueError("not an RFC 3339 time: %r" % (text,))
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def time_ms(text):
    return parse_time(text).timestamp() * 1000.0


def rfc3339(epoch_s):
    dt = datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def free_port():
    """The port to pass to `tarry serve --listen 127.0.0.1:PORT` when any will do: 0, so the host
    binds a free one itself and says which (ADDR_FILE). Choosing a number here (bind port 0,
    close, hand it over) would let two tests race for the same port."""
    return 0


# Where `tarry serve` writes the address it serves, in its data folder (docs/API.md).
ADDR_FILE = "tarry.addr"


def plugin_path(name):
    """A built plugin by name: test plugins first, then the example plugins."""
    for path in (
        os.path.join(BUILD, "test-plugins", name, name + ".so"),
        os.path.join(BUILD, "plugins", name + ".so"),
    ):
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("no built plugin %r under %s (test-plugins/ or plugins/)" % (name, BUILD))


def plugin_hash(name):
    """The version hash the host gives built plugin `name`: the first 16 hex digits of its SHA-256."""
    with open(plugin_path(name), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def group_members(pgid):
    """Every live process in process group `pgid` (found through /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2 :].split()
        except (OSError, ValueError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def descendants(pid):
    """Every live process below `pid`, found through /proc (children first-level and deeper)."""
    parent_of = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            # The command name may hold spaces and parentheses: split after the last ')'.
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parent_of[int(entry)] = ppid
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        for child, ppid in parent_of.items():
            if ppid == p and child not in found:
                found.append(child)
                frontier.append(child)
    return found


class Client:
    """A keep-alive HTTP/1.1 JSON client for one host (one connection; not thread-safe)."""

    # Servers close idle keep-alive connections (h2o after 10 s); a request
    # sent on such a connection may be lost or answered by a reset, and a
    # retried POST could trigger twice. So reconnect before going stale.
    IDLE_RECONNECT_S = 2.0

    def __init__(self, host, port, timeout=60.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None
        self.last_used = 0.0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connection(self):
        if self.conn is not None and time.monotonic() - self.last_used > self.IDLE_RECONNECT_S:
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def raw(self, method, path, body=None, headers=None, retry_get=True):
        """Send one request. Returns (status, headers dict lower-cased, body bytes)."""
        hdrs = dict(headers or {})
        if isinstance(body, str):
            body = body.encode()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                self.last_used = time.monotonic()
                rh = {k.lower(): v for k, v in resp.getheaders()}
                if rh.get("connection", "").lower() == "close":
                    self.close()
                return resp.status, rh, data
            except (http.client.HTTPException, OSError):
                self.close()
                # Only a GET is safe to send twice.
                if attempt == 2 or method != "GET" or not retry_get:
                    raise

    def call(self, method, path, payload=None, headers=None, raw_body=None):
        """A JSON request. Returns (status, decoded JSON or None, headers)."""
        hdrs = dict(headers or {})
        body = raw_body
        if payload is not None:
            body = json.dumps(payload)
            hdrs.setdefault("Content-Type", "application/json")
        status, rh, data = self.raw(method, path, body, hdrs)
        doc = None
        if data:
            try:
                doc = json.loads(data)
            except ValueError:
                doc = {"_unparsed": data[:500].decode("utf-8", "replace")}
        return status, doc, rh

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, payload=None, **kw):
        return self.call("POST", path, payload, **kw)


class Host:
    """One `tarry serve` with its own port, data folder and plugins folder.

    plugins: names (e.g. "examples", "testfns") or (name, installed_file_name)
    pairs, copied into the host's plugins folder before it starts.
    lmdb_only: the test is about LMDB's files (it reads or breaks the data
    folder's store): the host keeps LMDB also when TARRY_TEST_STORE=postgres.
    store_url: a PostgreSQL store of the test's own (tests of --store itself), passed as
    --store, or as TARRY_STORE when store_env is true.
    """

    def __init__(self, plugins=(), workers=2, start=True, startup_timeout=15.0, extra_env=None, crashes_expected=False,
                 lmdb_only=False, store_url=None, store_env=False):
        if not BIN or not os.access(BIN, os.X_OK):
            raise RuntimeError("TARRY_BIN is not an executable: %r" % (BIN,))
        self.workers = workers
        # A test that crashes the engine on purpose makes ASan report that
        # SEGV; only those reports are excused.
        self.crashes_expected = crashes_expected
        self.startup_timeout = startup_timeout
        self.extra_env = dict(extra_env or {})
        self.proc = None
        self.client = None
        self.dir = tempfile.mkdtemp(prefix="tarry-it-")
        _live_hosts.append(self)  # from here on, cleanup() must remove the folder
        self.data_dir = os.path.join(self.dir, "data")
        self.plugins_dir = os.path.join(self.dir, "plugins")
        self.log_path = os.path.join(self.dir, "host.log")
        os.makedirs(self.plugins_dir)
        self.installed = {}
        for p in plugins:
            name, file_name = (p, p + ".so") if isinstance(p, str) else p
            dest = os.path.join(self.plugins_dir, file_name)
            shutil.copyfile(plugin_path(name), dest)
            self.installed[file_name] = dest
        self.port = None
        self.log_file = None
        self.starts = 0
        self.kills = 0
        # The store: LMDB in data_dir, or a database of its own for this Host's life (restarts too).
        self.store = "lmdb" if lmdb_only else "postgres" if store_url else STORE
        self.store_db, self.store_url, self.store_env = None, store_url, store_env
        if self.store == "postgres" and not store_url:
            self.store_db, self.store_url = new_pg_store()
        if start:
            self.start()

    # ---- lifecycle -------------------------------------------------------
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        """Start the host and wait for /healthz. The first start asks for port 0, so the host
        binds a free port itself (nothing to race for) and writes it to <data>/tarry.addr; a
        restart asks for the same port again, so clients that kept it reconnect, and only if
        something else took it meanwhile does the host get a new one."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("host already running")
        for port in ((self.port, 0) if self.port else (0,)):
            if self._spawn_and_wait(port):
                self.starts += 1
                return
            if "cannot listen on" not in self.log_text().rsplit("=== harness: start", 1)[-1]:
                break
        raise RuntimeError(
            "the host did not become healthy on port %s within %.0fs\n--- host log ---\n%s"
            % (self.port or "(none yet)", self.startup_timeout, self.log_tail())
        )

    def _read_addr(self):
        """The port in <data>/tarry.addr once the host has written it whole, else None."""
        try:
            with open(os.path.join(self.data_dir, ADDR_FILE)) as f:
                text = f.read()
        except OSError:
            return None
        m = re.fullmatch(r"127\.0\.0\.1:(\d+)\n", text)
        return int(m.group(1)) if m else None

    def _spawn_and_wait(self, port):
        env = dict(os.environ)
        env.update(self.extra_env)
        # A host killed with -9 leaves its address file behind: only a new one counts.
        try:
            os.unlink(os.path.join(self.data_dir, ADDR_FILE))
        except OSError:
            pass
        self.log_file = open(self.log_path, "ab")
        self.log_file.write(b"=== harness: start #%d on port %d ===\n" % (self.starts + 1, port))
        self.log_file.flush()
        argv = [
            BIN, "serve",
            "--plugins", self.plugins_dir,
            "--data", self.data_dir,
            "--listen", "127.0.0.1:%d" % port,
            "--workers", str(self.workers),
        ]
        if self.store_url and self.store_env:
            env["TARRY_STORE"] = self.store_url
        elif self.store_url:
            argv += ["--store", self.store_url]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file,
            env=env, start_new_session=True, preexec_fn=_die_with_parent,
        )
        self.log_file.close()  # the host has its own descriptor
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            got = self._read_addr()
            if got is not None and (port == 0 or got == port):
                self.port = got
                self.client = Client("127.0.0.1", self.port)
                if self.healthy():
                    return True
            time.sleep(0.02)
        self.kill9()
        return False

    def healthy(self):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            return resp.status == 200 and json.loads(body).get("ok") is True
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            return False

    def wait_healthy(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(0.02)
        return False

    def pids(self):
        """The supervisor and everything below it."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid] + descendants(self.proc.pid)

    def engine_pid(self):
        """The engine process (the supervisor's child), or None while the supervisor restarts it."""
        kids = self.pids()[1:]
        return kids[0] if kids else None

    def kill9(self):
        """SIGKILL the supervisor, the engine and anything else they started, at once."""
        if self.proc is None:
            return
        victims = self.pids()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # Also anything that left the process group (setsid in the host).
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        # An engine the supervisor forked just before the kill is in the
        # process group but was in no list: wait for the whole group, or a
        # restart can find the port and the data folder still held.
        self._wait_gone(sorted(set(victims) | set(group_members(self.proc.pid))))
        self._wait_lock_free()
        self.kills += 1
        self._after_exit()

    def stop(self, timeout=15.0):
        """SIGTERM (graceful drain); SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            self._after_exit()
            return self.proc.returncode if self.proc else None
        victims = self.pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        self._wait_gone(victims)
        self._after_exit()
        return self.proc.returncode

    def _wait_gone(self, pids, timeout=10.0):
        # The engine is the supervisor's child, not ours: wait until the
        # kernel has reaped it so its LMDB lock and port are really free.
        deadline = time.monotonic() + timeout
        for pid in pids:
            while time.monotonic() < deadline:
                try:
                    with open("/proc/%d/stat" % pid) as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                    if state == "Z":
                        break
                except (OSError, IndexError):
                    break
                time.sleep(0.01)

    def _wait_lock_free(self, timeout=10.0):
        """Wait until no process holds the data folder's lock (a dying engine may still, for a
        moment); say who does if it lasts, since a restart would then be refused."""
        path = os.path.join(self.data_dir, "tarry.lock")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except OSError:
                if time.monotonic() > deadline:
                    holders = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,args"], capture_output=True, text=True)
                    print("harness: %s is still locked %.0fs after the kill:\n%s" % (path, timeout, holders.stdout), flush=True)
                    return
            finally:
                os.close(fd)
            time.sleep(0.01)

    def _after_exit(self):
        if self.client is not None:
            self.client.close()

    def restart(self):
        self.start()

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill9()
        self._after_exit()
        if os.environ.get("TARRY_KEEP"):
            print("harness: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self in _live_hosts:
            _live_hosts.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Under a sanitizer a report kills the engine (ASan aborts, UBSan and
        # TSan halt on the first error) and the supervisor restarts it, which
        # a test might survive: the report fails it here. A test that failed
        # for another reason still names the reports: they are often the cause.
        marks = self.sanitizer_reports()
        report = "the host log has sanitizer reports: %s" % "; ".join(marks[:3]) if marks else None
        if exc_type is not None or report:
            print("--- host log (%s, port %s) ---\n%s" % (self.dir, self.port, self.log_tail()), flush=True)
            for block in self.sanitizer_report_blocks()[:3]:
                print("--- sanitizer report in the host log ---\n%s" % block, flush=True)
        self.cleanup()
        if report and exc_type is None:
            raise CheckFailed("FAILED: " + report)
        return False

    # ---- observation -----------------------------------------------------
    # The first line of a report of each sanitizer the tests build with (scripts/test):
    # ASan and LSan say ERROR, TSan says WARNING for a race or a lock-order inversion and
    # ERROR for a deadly signal, UBSan says "runtime error:".
    _SANITIZER_HEAD = re.compile(
        r"(ERROR|WARNING): (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error:|FATAL: ThreadSanitizer"
    )

    def sanitizer_reports(self):
        """The first line of every ASan/UBSan/LSan/TSan report in the host log
        (a deliberate SEGV excused when the test crashes the engine on purpose)."""
        found = []
        for line in self.log_text().splitlines():
            if not self._SANITIZER_HEAD.search(line):
                continue
            if self.crashes_expected and "SEGV on unknown address" in line:
                continue
            found.append(line.strip())
        return found

    def sanitizer_report_blocks(self, max_lines=60):
        """Each report's text from its first line to its summary (or max_lines), for a failure's output."""
        blocks, cur = [], None
        for line in self.log_text().splitlines():
            if cur is None:
                if self._SANITIZER_HEAD.search(line) and not (
                    self.crashes_expected and "SEGV on unknown address" in line
                ):
                    cur = [line]
                continue
            cur.append(line)
            if line.startswith("SUMMARY:") or len(cur) >= max_lines:
                blocks.append("\n".join(cur))
                cur = None
        if cur:
            blocks.append("\n".join(cur))
        return blocks

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, text, timeout=30.0):
        """Wait until the host's log holds `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                raise CheckFailed("FAILED: the log never said %r:\n%s" % (text, self.log_tail()))
            time.sleep(0.05)

    def metrics(self):
        """GET /metrics: {name: value} of its unlabelled tarry_* samples."""
        status, _, body = self.client.raw("GET", "/metrics")
        check_eq(status, 200, "GET /metrics")
        values = {}
        for line in body.decode().splitlines():
            m = re.fullmatch(r"(tarry_[a-z_]+) ([0-9.e+-]+)", line)
            if m:
                values[m.group(1)] = float(m.group(2))
        return values

    def wait_metric(self, name, want, timeout=60.0):
        """Wait until metric `name` is `want`."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.metrics().get(name)
            if got == want:
                return
            if time.monotonic() > deadline:
                raise CheckFailed("FAILED: %s never became %r (last %r)" % (name, want, got))
            time.sleep(0.05)

    def all_when_final(self, timeout):
        """Every execution once all are final, or (when time is up first) as they are: (items, the
        unfinished ones). Reads through engine restarts (a refused connection is read again)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                items, _ = self.list_all("", limit=1000)
            except (OSError, http.client.HTTPException):
                self.client.close()
                time.sleep(0.2)
                continue
            open_ = [e for e in items if e["state"] not in FINAL_STATES]
            if not open_ or time.monotonic() > deadline:
                return items, open_
            time.sleep(0.2)

    # ---- HTTP ------------------------------------------------------------
    def new_client(self):
        return Client("127.0.0.1", self.port)

    def call(self, method, path, payload=None, **kw):
        return self.client.call(method, path, payload, **kw)

    def get(self, path):
        return self.client.get(path)

    def trigger(self, function, args=None, wait=None, **fields):
        """POST a trigger. Returns (status, body). Pass args=..., delay=..., run_at=..., metadata=..."""
        body = dict(fields)
        if args is not None:
            body["args"] = args
        path = "/v1/functions/%s/executions" % urllib.parse.quote(function, safe="")
        if wait is not None:
            path += "?wait=" + urllib.parse.quote(wait)
        status, doc, _ = self.client.post(path, body)
        return status, doc

    def trigger_ok(self, function, args=None, **fields):
        status, doc = self.trigger(function, args, **fields)
        if status != 202 or not isinstance(doc, dict) or "id" not in doc:
            raise CheckFailed("trigger %s(%r) %r: want 202 {id,state}, got %s %r" % (function, args, fields, status, doc))
        return doc["id"]

    def trigger_until_acked(self, function, args=None, timeout=30.0, **fields):
        """Trigger, retrying on a fresh connection while the host is unreachable
        (e.g. its engine is restarting). A failed try may still have created an
        execution; only the acknowledged id is returned."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, doc = self.trigger(function, args, **fields)
                if status == 202:
                    return doc["id"]
                if status < 500:
                    raise CheckFailed("trigger %s: want 202, got %s %r" % (function, status, doc))
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise CheckFailed("trigger %s: no 202 within %.0fs" % (function, timeout))
            time.sleep(0.05)

    def host_id(self):
        """This engine's id among the hosts of its store (GET /v1/cluster lists the answering host first)."""
        status, doc, _ = self.client.get("/v1/cluster")
        if status != 200:
            raise CheckFailed("GET /v1/cluster: want 200, got %s %r" % (status, doc))
        return doc["hosts"][0]["id"]

    def execution(self, exec_id):
        status, doc, _ = self.client.get("/v1/executions/" + exec_id)
        if status != 200:
            raise CheckFailed("GET /v1/executions/%s: want 200, got %s %r" % (exec_id, status, doc))
        return doc

    def wait_final(self, exec_id, timeout=30.0):
        """Long-poll the result until the execution is final; returns the full execution."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                doc = self.execution(exec_id)
                raise CheckFailed("execution %s not final after %.0fs: %r" % (exec_id, timeout, doc))
            wait_s = max(1, min(10, int(left)))
            status, doc, _ = self.client.get("/v1/executions/%s/result?wait=%ds" % (exec_id, wait_s))
            if status == 200:
                return self.execution(exec_id)
            if status != 202:
                raise CheckFailed("GET result of %s: want 200/202, got %s %r" % (exec_id, status, doc))

    def list_all(self, query="", limit=100):
        """Follow next_cursor over GET /v1/executions; returns (items, pages)."""
        items, pages, cursor = [], 0, None
        while True:
            q = query + ("&" if query else "") + "limit=%d" % limit
            if cursor:
                q += "&cursor=" + urllib.parse.quote(cursor, safe="")
            status, doc, _ = self.client.get("/v1/executions?" + q)
            if status != 200:
                raise CheckFailed("GET /v1/executions?%s: want 200, got %s %r" % (q, status, doc))
            items.extend(doc["data"])
            pages += 1
            cursor = doc.get("next_cursor")
            if not cursor:
                return items, pages
            if pages > 100000:
                raise CheckFailed("list paging never ends")

    # ---- workflows -------------------------------------------------------
    def reschedule(self, exec_id, body=None):
        """PATCH /v1/executions/ID/schedule (body {} fires the pending timer now). Returns (status, doc)."""
        status, doc, _ = self.client.call("PATCH", "/v1/executions/%s/schedule" % exec_id, body if body is not None else {})
        return status, doc

    def logs(self, exec_id):
        """The execution's log lines as [{time, level, message}]."""
        status, doc, _ = self.client.get("/v1/executions/%s/logs" % exec_id)
        if status != 200:
            raise CheckFailed("GET /v1/executions/%s/logs: want 200, got %s %r" % (exec_id, status, doc))
        return doc["data"]

    def wait_for(self, exec_id, pred, what, timeout=30.0, interval=0.02):
        """Poll GET /v1/executions/ID until pred(doc) holds; returns the doc, or fails naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.execution(exec_id)
            if pred(doc):
                return doc
            if time.monotonic() > deadline:
                raise CheckFailed("FAILED: %s within %.0fs: execution %s is %r" % (what, timeout, exec_id, doc))
            time.sleep(interval)

    def wait_state(self, exec_id, states, timeout=30.0):
        """Poll until the execution's state is one of `states` (a string or a tuple); returns the doc."""
        states = (states,) if isinstance(states, str) else tuple(states)
        return self.wait_for(exec_id, lambda d: d.get("state") in states, "%s reaches %s" % (exec_id, "|".join(states)), timeout)

    # ---- plugin versions ---------------------------------------------------
    def install(self, name, file_name=None):
        """Copy built plugin `name` into the plugins folder as `file_name` (default NAME.so),
        replacing what is there atomically (temp file + rename), as a deploy should."""
        file_name = file_name or name + ".so"
        dest = os.path.join(self.plugins_dir, file_name)
        tmp = os.path.join(self.plugins_dir, ".%s.tmp" % file_name)  # not *.so: a scan skips it
        shutil.copyfile(plugin_path(name), tmp)
        os.rename(tmp, dest)
        self.installed[file_name] = dest
        return dest

    def uninstall(self, file_name):
        """Delete `file_name` from the plugins folder."""
        os.unlink(os.path.join(self.plugins_dir, file_name))
        self.installed.pop(file_name, None)

    def reload(self):
        """POST /v1/plugins/reload; returns (status, doc)."""
        status, doc, _ = self.client.post("/v1/plugins/reload", {})
        return status, doc

    def sighup(self):
        """Send SIGHUP to the supervisor (it forwards it to the engine): a reload with no answer."""
        self.proc.send_signal(signal.SIGHUP)

    def plugins(self):
        """GET /v1/plugins' data: current versions (loaded/error/removed) and older ones (pinned)."""
        status, doc, _ = self.client.get("/v1/plugins")
        if status != 200:
            raise CheckFailed("GET /v1/plugins: want 200, got %s %r" % (status, doc))
        return doc["data"]

    def current_hash(self, plugin_name):
        """The hash of the version of `plugin_name` serving new triggers, or None."""
        for p in self.plugins():
            if p.get("name") == plugin_name and p.get("state") == "loaded":
                return p.get("hash")
        return None

    def wait_current(self, plugin_name, hash_, timeout=10.0):
        """Poll GET /v1/plugins until version `hash_` of `plugin_name` serves new triggers
        (after a SIGHUP, which answers nothing). Returns the seconds it took."""
        start = time.monotonic()
        while self.current_hash(plugin_name) != hash_:
            if time.monotonic() - start > timeout:
                raise CheckFailed("FAILED: version %s of %s is not current within %.0fs: %r"
                                  % (hash_, plugin_name, timeout, self.plugins()))
            time.sleep(0.01)
        return time.monotonic() - start

    def upgrade(self, exec_id, to=None, force=False):
        """POST /v1/executions/ID/upgrade {"to": HASH?, "force": true?}; returns (status, doc).
        force skips the check that refuses a journal the target code would block on."""
        body = {"to": to} if to else {}
        if force:
            body["force"] = True
        status, doc, _ = self.client.post("/v1/executions/%s/upgrade" % exec_id, body)
        return status, doc

    # ---- CLI -------------------------------------------------------------
    def cli(self, *args, timeout=60):
        """Run `tarry --url URL ARGS...`; returns the CompletedProcess (text)."""
        argv = [BIN, "--url", self.url] + [str(a) for a in args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        # The CLI is built with the same sanitizers as the host: its reports fail the test too.
        if self._SANITIZER_HEAD.search(p.stderr):
            raise CheckFailed("FAILED: `tarry %s` wrote a sanitizer report:\n%s" % (" ".join(map(str, args)), p.stderr))
        return p


_live_hosts = []


try:
    import ctypes

    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (ImportError, OSError, AttributeError):
    _prctl = None


def _die_with_parent():
    # A test killed by CTest's timeout must not leave a host behind holding
    # its port: PR_SET_PDEATHSIG sends the supervisor SIGKILL when we die.
    # Runs between fork and exec, next to client threads: no imports, no locks.
    if _prctl is not None:
        _prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG


def _cleanup_all():
    # Hosts first, then what they use (the PostgreSQL server), so no host sees its database go.
    for h in sorted(_live_hosts, key=lambda h: not isinstance(h, Host)):
        try:
            h.cleanup()
        except Exception:
            pass


def run(main):
    """Run a test's main(); print the verdict; exit non-zero on failure, with the host logs."""
    started = time.monotonic()
    name = os.path.basename(sys.argv[0])
    seed = int(os.environ.get("TARRY_TEST_SEED", random.randrange(1 << 30)))
    random.seed(seed)
    print("%s: seed %d (TARRY_TEST_SEED to repeat)" % (name, seed), flush=True)
    # SIGTERM (a timeout, ^C from a wrapper) still runs the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    code = 0
    try:
        main()
        print("PASS %s in %.1fs" % (name, time.monotonic() - started), flush=True)
    except BaseException as exc:
        code = 1
        if isinstance(exc, CheckFailed):
            print(str(exc), flush=True)
        else:
            traceback.print_exc()
        for h in _live_hosts:
            print("--- host log (%s, port %s) ---\n%s" % (h.dir, h.port, h.log_tail()), flush=True)
        print("FAIL %s in %.1fs" % (name, time.monotonic() - started), flush=True)
    finally:
        _cleanup_all()
    sys.exit(code)


def check_error(status, doc, want_status, want_code, what, message_has=()):
    """Check an API error: status, {"error": {"code", "message"}}, and words the message must name."""
    ok = status == want_status
    err = doc.get("error") if isinstance(doc, dict) else None
    ok = ok and isinstance(err, dict) and isinstance(err.get("message"), str)
    codes = want_code if isinstance(want_code, tuple) else (want_code,)
    ok = ok and err.get("code") in codes
    missing = [w for w in message_has if ok and w.lower() not in err["message"].lower()]
    check(
        ok and not missing,
        "%s -> %d %s%s" % (what, want_status, "|".join(codes), (" naming " + ", ".join(message_has)) if message_has else ""),
        "got %s %r%s" % (status, doc, (" (message lacks %r)" % missing) if missing else ""),
    )
    return err
