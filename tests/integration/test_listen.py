"""The listening socket: `--listen 127.0.0.1:0`, the address file, and a port that outlives engines.

1. A host started with port 0 (as every harness host is) binds a free port, logs
   `serving http://127.0.0.1:PORT` and writes `127.0.0.1:PORT` to <data>/tarry.addr.
2. The supervisor holds the socket: the engine is killed with -9 while the
   supervisor is stopped (SIGSTOP), so no engine runs; a request sent then waits in
   the backlog and, once the supervisor goes on (SIGCONT) and restarts the engine,
   is answered by the new engine on the same port (it is not refused).
3. A second host on a port in use exits 78 and says which address and why.
4. A clean stop (SIGTERM) removes the address file; --no-supervisor binds port 0
   itself, writes the file, serves, and removes it when it stops.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def engine_pids(h):
    return [p for p in harness.descendants(h.proc.pid)]


def proc_state(pid):
    """The state letter of process pid ("R", "S", "Z"...), or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def read_addr(data_dir):
    with open(os.path.join(data_dir, harness.ADDR_FILE)) as f:
        return f.read()


def wait_for(pred, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %s within %.0fs" % (what, timeout))
        time.sleep(0.02)


def main():
    with harness.Host(plugins=["testfns"]) as h:
        # ---- 1. port 0, the log line, the address file --------------------------------------
        port = h.port
        check(port and port > 0, "the host bound a port of its own choosing (%s)" % port)
        check_eq(read_addr(h.data_dir), "127.0.0.1:%d\n" % port, "<data>/tarry.addr holds the address and a newline")
        check("serving http://127.0.0.1:%d " % port in h.log_text(), "the log says which address it serves")

        # ---- 2. the engine dies; the port and the backlog stay ------------------------------
        before = engine_pids(h)
        check_eq(len(before), 1, "one engine process under the supervisor")
        eid = h.trigger_ok("noop")
        # Hold the supervisor still, so the engine stays dead (a zombie nobody reaps) until the
        # request below is in the kernel's queue on the supervisor's socket.
        h.proc.send_signal(signal.SIGSTOP)
        try:
            os.kill(before[0], signal.SIGKILL)
            wait_for(lambda: proc_state(before[0]) in ("Z", None), "the engine is dead")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/v1/executions/" + eid)  # a refused connection would raise here
        finally:
            h.proc.send_signal(signal.SIGCONT)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        check_eq(resp.status, 200, "a request sent while no engine ran waited in the backlog and is answered")
        check('"id":"%s"' % eid in body.decode(), "with the execution", body)
        after = engine_pids(h)
        check(len(after) == 1 and after[0] != before[0], "by a new engine process", (before, after))
        check_eq(read_addr(h.data_dir), "127.0.0.1:%d\n" % port, "the new engine serves the same port")

        # ---- 3. a port in use ----------------------------------------------------------------
        with tempfile.TemporaryDirectory(prefix="tarry-it-") as other:
            second = subprocess.run(
                [harness.BIN, "serve", "--plugins", h.plugins_dir, "--data", os.path.join(other, "data"),
                 "--listen", "127.0.0.1:%d" % port],
                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            check_eq(second.returncode, 78, "a second host on a port in use exits 78 (EX_CONFIG)")
            check("cannot listen on 127.0.0.1:%d: Address already in use" % port in second.stderr
                  and "--listen" in second.stderr, "and says which address, why, and what to do", second.stderr)
            check(not os.path.exists(os.path.join(other, "data", harness.ADDR_FILE)), "it wrote no address file")
        check(h.healthy(), "the first host is unharmed")

        # ---- 4. a clean stop removes the file ---------------------------------------------------
        check_eq(h.stop(), 0, "SIGTERM stops the host with status 0")
        check(not os.path.exists(os.path.join(h.data_dir, harness.ADDR_FILE)), "a clean stop removes tarry.addr")
        refused = False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            refused = True
        check(refused, "and nothing listens on its port any more")

    # ---- --no-supervisor binds port 0 itself ------------------------------------------------------
    with tempfile.TemporaryDirectory(prefix="tarry-it-") as top:
        data = os.path.join(top, "data")
        plugins = os.path.join(top, "plugins")
        os.makedirs(plugins)
        shutil.copyfile(harness.plugin_path("testfns"), os.path.join(plugins, "testfns.so"))
        log = open(os.path.join(top, "host.log"), "w+")
        proc = subprocess.Popen([harness.BIN, "serve", "--no-supervisor", "--plugins", plugins, "--data", data,
                                 "--listen", "127.0.0.1:0"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                preexec_fn=harness._die_with_parent)
        try:
            addr_path = os.path.join(data, harness.ADDR_FILE)
            wait_for(lambda: os.path.exists(addr_path) or proc.poll() is not None,
                     "the engine without a supervisor writes tarry.addr")
            log.seek(0)
            check(proc.poll() is None, "--no-supervisor with port 0 is up", log.read())
            text = read_addr(data)
            m = re.fullmatch(r"127\.0\.0\.1:(\d+)\n", text)
            check(m is not None and int(m.group(1)) > 0, "--no-supervisor with port 0 writes its port", text)
            c = harness.Client("127.0.0.1", int(m.group(1)))
            status, doc, _ = c.get("/healthz")
            c.close()
            check_eq((status, doc), (200, {"ok": True}), "and serves on it")
            proc.send_signal(signal.SIGTERM)
            check_eq(proc.wait(30), 0, "SIGTERM stops it with status 0")
            check(not os.path.exists(addr_path), "and removes tarry.addr")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()


harness.run(main)
