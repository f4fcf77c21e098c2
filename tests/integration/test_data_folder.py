"""The data folder.

One host per data folder: a second `tarry serve` on a folder in use exits
78 (EX_CONFIG) and names the other host, instead of re-running the first
host's running executions; once the first host is gone (even by kill -9),
the folder is free again.

A store is never silently replaced by a new, empty one:
  - the folder deleted under a running host, under load: no trigger sent
    after the deletion is answered 202 (they get 503 store_lost until the
    host stops), the host logs it loudly and exits 78 without restarting
    the engine, and leaves a marker saying what happened; a start there
    then refuses (78, naming --init) until `--init` creates a new store;
  - the folder deleted while the host is idle: it notices by itself within
    seconds and exits 78 the same way;
  - the folder deleted and the engine killed at once, before it noticed:
    the engine the supervisor restarts does not create a new store either
    (an earlier engine of this host had it open), exits 78 and stops the host;
  - data.mdb gone while the host was stopped: the next start refuses (78)
    because the marker says a store lived there; `--init` starts anew;
  - a first start in a folder that does not exist needs no flag (README's
    quick start), and --init never replaces a store that exists.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error


def serve_argv(h, *extra):
    return [harness.BIN, "serve", "--plugins", h.plugins_dir, "--data", h.data_dir,
            "--listen", "127.0.0.1:%d" % harness.free_port()] + list(extra)


def refused_start(h, what):
    """A start on h's data folder without --init: it must exit 78 and name --init."""
    p = subprocess.run(serve_argv(h), capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 78, "%s: a start without --init exits 78" % what)
    check("--init" in p.stderr and "lost" in p.stderr, "%s: and says the store was lost and to pass --init" % what, p.stderr)


def init_start(h, what, want_ids):
    """`tarry serve --init` on h's data folder: it serves, holding executions want_ids (exactly)."""
    proc = subprocess.Popen(serve_argv(h, "--init"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        addr = os.path.join(h.data_dir, harness.ADDR_FILE)
        deadline = time.monotonic() + 30
        while not os.path.exists(addr) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        check(proc.poll() is None and os.path.exists(addr), "%s: `tarry serve --init` starts" % what)
        time.sleep(0.1)  # the address file is written whole before the host serves; read it once more
        with open(addr) as f:
            url = "http://" + f.read().strip()
        with urllib.request.urlopen(url + "/v1/executions?limit=1000", timeout=10) as r:
            ids = sorted(e["id"] for e in json.load(r)["data"])
        check_eq(ids, sorted(want_ids), "%s: the store holds what it should" % what)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    return out


def deleted_under_load():
    with harness.Host(plugins=["testfns"], lmdb_only=True) as h:
        before = [h.trigger_ok("echo", {"n": i}) for i in range(20)]
        for eid in before:
            h.wait_final(eid)
        shutil.rmtree(h.data_dir)
        after = []
        for i in range(200):
            try:
                status, doc = h.trigger("echo", {"after": i})
            except OSError:
                break  # the host is gone
            after.append((status, doc))
            if status == 202:
                break
            check_error(status, doc, 503, "store_lost", "a trigger after the data folder was deleted")
        check(after and all(s != 202 for s, _ in after), "no trigger after the deletion was answered 202 (%d sent)" % len(after))
        code = h.proc.wait(timeout=30)
        check_eq(code, 78, "the host exits 78 (EX_CONFIG): no engine restart into an empty store")
        log = h.log_text()
        check("THE STORE IS GONE" in log and "was deleted under the running host" in log, "the log says it loudly",
              h.log_tail(5))
        check_eq(log.count("serving http://"), 1, "the engine was not restarted")
        with open(os.path.join(h.data_dir, "tarry.store")) as f:
            check("was lost" in f.read(), "a marker in the folder says the store was lost")
        refused_start(h, "after the loss")
        init_start(h, "--init after the loss", [])
        # The new store is a store like any other: a plain start opens it.
        h.start()
        check_eq(h.list_all()[0], [], "a plain start opens the new store")


def deleted_while_idle():
    with harness.Host(plugins=["testfns"], lmdb_only=True) as h:
        h.wait_final(h.trigger_ok("echo", {"n": 1}))
        shutil.rmtree(h.data_dir)
        code = h.proc.wait(timeout=30)
        check_eq(code, 78, "an idle host notices its deleted data folder by itself and exits 78")
        refused_start(h, "after an idle loss")


def deleted_then_engine_killed():
    with harness.Host(plugins=["testfns"], lmdb_only=True) as h:
        h.wait_final(h.trigger_ok("echo", {"n": 1}))
        engine = [p for p in h.pids() if p != h.proc.pid]
        check(len(engine) >= 1, "the engine runs in its own process", h.pids())
        # No commit and no idle check can come between these two.
        shutil.rmtree(h.data_dir)
        for p in engine:
            os.kill(p, signal.SIGKILL)
        code = h.proc.wait(timeout=30)
        check_eq(code, 78, "the restarted engine finds the store gone, exits 78, and the host stops")
        check(not os.path.exists(os.path.join(h.data_dir, "data.mdb")), "no new, empty store was created")
        check("THE STORE IS GONE" in h.log_text(), "the log says so", h.log_tail())
        refused_start(h, "after a loss the engine did not live to notice")


def data_file_gone_while_stopped():
    with harness.Host(plugins=["testfns"], lmdb_only=True) as h:
        kept = h.trigger_ok("echo", {"n": 1})
        h.wait_final(kept)
        check(os.path.exists(os.path.join(h.data_dir, "tarry.store")), "the first start leaves its marker")
        check_eq(h.stop(), 0, "a clean stop")
        # --init never replaces a store that exists.
        init_start(h, "--init on a folder with a store", [kept])
        os.rename(os.path.join(h.data_dir, "data.mdb"), os.path.join(h.dir, "data.mdb.saved"))
        refused_start(h, "data.mdb gone while stopped")
        os.rename(os.path.join(h.dir, "data.mdb.saved"), os.path.join(h.data_dir, "data.mdb"))
        h.start()
        check_eq(h.execution(kept)["state"], "succeeded", "restored, the store opens with its executions")


def first_start_needs_no_flag():
    with harness.Host(plugins=["testfns"], lmdb_only=True, start=False) as h:
        check(not os.path.exists(h.data_dir), "the data folder does not exist yet")
        h.start()
        h.wait_final(h.trigger_ok("echo", {"n": 1}))


def main():
    first_start_needs_no_flag()
    one_host_per_folder()
    deleted_under_load()
    deleted_while_idle()
    deleted_then_engine_killed()
    data_file_gone_while_stopped()


def one_host_per_folder():
    with harness.Host(plugins=["testfns"], lmdb_only=True) as h:
        eid = h.trigger_ok("slow", {"ms": 300})
        argv = [harness.BIN, "serve", "--plugins", h.plugins_dir, "--data", h.data_dir,
                "--listen", "127.0.0.1:%d" % harness.free_port()]
        second = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        check_eq(second.returncode, 78, "a second host on the same data folder exits 78")
        check("in use by another tarry host" in second.stderr, "and says the folder is in use", second.stderr)
        check_eq(h.wait_final(eid)["attempts"], 1, "the first host's execution ran once")
        h.kill9()
        h.restart()
        check(h.healthy(), "after kill -9 the folder is free: the host restarts on it")


harness.run(main)
