"""The cluster view on one host (issue 12): GET /v1/cluster and `tarry cluster` (several hosts on
one database: test_pg_serve.py).

With --workers 2 and the spin plugin (a function that holds its worker until a
file exists):
  - an idle host lists itself: its store (lmdb, or postgres under TARRY_TEST_STORE), one host, self, a 16-hex-digit id,
    the engine's pid and the address it serves, 2 workers, none busy;
  - a spinning execution shows under running with its id, function and
    attempt, and busy counts it; `tarry cluster` prints the host row and exits
    0, `-v` names the execution, `--json` prints the answer;
  - once it has ended it is gone and busy is 0 again;
  - after a kill -9 of the engine (the supervisor starts a new one) the host
    has a new id and pid, and the execution it was running is running again on
    the new holder, as its second attempt; on PostgreSQL the old engine stays
    listed as a host that left, saying why, with the one execution it handed on;
  - a token-protected host refuses the view (and the CLI) without the token.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

TOKEN = "cluster-token-0123456789"


def cluster(h, headers=None):
    status, doc, _ = h.client.call("GET", "/v1/cluster", headers=headers)
    check_eq(status, 200, "GET /v1/cluster")
    check_eq(doc.get("store"), h.store, "the store is the one the host was given")
    hosts = doc.get("hosts")
    # On PostgreSQL an engine that was restarted stays listed for an hour as a host that left.
    live = [x for x in hosts if not x.get("left_at")] if isinstance(hosts, list) else []
    check(len(live) == 1 and live[0] is hosts[0], "one live host is listed, first", doc)
    return live[0]


def left_hosts(h):
    status, doc, _ = h.client.call("GET", "/v1/cluster")
    check_eq(status, 200, "GET /v1/cluster")
    return [x for x in doc["hosts"] if x.get("left_at")]


def wait_cluster(h, pred, what, timeout=30.0):
    """Poll GET /v1/cluster until pred(host) holds (a window for the engine to get there, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        host = cluster(h)
        if pred(host):
            return host
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %s within %.0fs: %r" % (what, timeout, host))
        time.sleep(0.05)


def running_ids(host):
    return [r["id"] for r in host["running"]]


def check_identity(h, host, what):
    check(re.fullmatch(r"[0-9a-f]{16}", host.get("id") or ""), "%s: the host id is 16 hex digits" % what, host)
    check_eq(host.get("pid"), h.engine_pid(), "%s: pid is the engine process's" % what)
    check_eq(host.get("address"), "127.0.0.1:%d" % h.port, "%s: address is the one served" % what)
    check(host.get("hostname"), "%s: the hostname is given" % what, host)
    check(host.get("self") is True, "%s: the host answering is self" % what, host)
    check_eq(host.get("workers"), 2, "%s: workers is --workers" % what)
    started, beat = harness.time_ms(host["started_at"]), harness.time_ms(host["heartbeat_at"])
    check(started <= beat, "%s: started_at is not after heartbeat_at" % what, host)


def check_cli(h, host, spinner):
    p = h.cli("cluster")
    print(p.stdout.rstrip())
    check_eq(p.returncode, 0, "tarry cluster exits 0")
    lines = p.stdout.splitlines()
    check(lines and lines[0].split() == ["HOST", "HOSTNAME", "PID", "ADDRESS", "UP", "FOR", "HEARTBEAT", "WORKERS", "BUSY", "HOLDS"],
          "tarry cluster prints the header", p.stdout)
    row = [l for l in lines if l.startswith(host["id"])]
    check(len(row) == 1, "tarry cluster prints the host's row", p.stdout)
    cells = row[0].split()
    check(str(host["pid"]) in cells and host["address"] in cells and host["hostname"] in cells,
          "the row has the host's pid, address and hostname", row[0])
    check_eq(cells[-3:-1], ["2", "1"], "the row ends with 2 workers, 1 busy")
    # HOLDS: what the host's lease covers on a shared store (the spinner); the one LMDB host: "-"
    check_eq(cells[-1], "-" if h.store == "lmdb" else "1", "then what it holds")

    p = h.cli("cluster", "-v")
    print(p.stdout.rstrip())
    check_eq(p.returncode, 0, "tarry cluster -v exits 0")
    run_rows = [l.split() for l in p.stdout.splitlines() if l.startswith(spinner)]
    check(len(run_rows) == 1 and run_rows[0][1:3] == ["spin", "1"], "tarry cluster -v lists the spinner: spin, attempt 1", p.stdout)

    p = h.cli("cluster", "--json")
    check_eq(p.returncode, 0, "tarry cluster --json exits 0")
    doc = json.loads(p.stdout)
    check_eq([x["id"] for x in doc["hosts"]], [host["id"]], "tarry cluster --json prints the answer")


def main():
    with harness.Host(plugins=["spin"], workers=2) as h:
        release = os.path.join(h.dir, "release")

        host = cluster(h)
        check_identity(h, host, "idle")
        check_eq((host["busy"], host["running_count"], host["running"]), (0, 0, []), "idle: nothing busy, nothing running")
        status, doc, _ = h.client.call("POST", "/v1/cluster", {})
        check_eq(status, 405, "POST /v1/cluster: 405")

        spinner = h.trigger_ok("spin", {"until": release})
        h.wait_state(spinner, "running")
        host = wait_cluster(h, lambda x: spinner in running_ids(x), "the spinner shows under running")
        check_identity(h, host, "busy")
        check_eq((host["busy"], host["running_count"]), (1, 1), "busy and running_count count the spinner")
        run = host["running"][0]
        check_eq((run["id"], run["function"], run["attempt"]), (spinner, "spin", 1), "running: its id, function and attempt")
        check(run.get("started_at") and isinstance(run.get("running_ms"), (int, float)) and run["running_ms"] >= 0,
              "running: its started_at and running_ms", run)
        check_cli(h, host, spinner)

        with open(release, "w"):
            pass
        check_eq(h.wait_final(spinner)["state"], "succeeded", "the spinner returns once released")
        # Its pass left the worker before its outcome was committed: no wait needed.
        host = cluster(h)
        check_eq((host["busy"], host["running_count"], host["running"]), (0, 0, []), "after it ended it is gone")
        os.unlink(release)

        # A new engine is a new holder of work: new id, new pid; what it runs again is on it.
        second = h.trigger_ok("spin", {"until": release})
        h.wait_state(second, "running")
        before = wait_cluster(h, lambda x: second in running_ids(x), "the second spinner shows under running")
        old_pid = h.engine_pid()
        os.kill(old_pid, signal.SIGKILL)
        print("   killed engine pid %d (host id %s); the supervisor restarts it" % (old_pid, before["id"]))
        deadline = time.monotonic() + 60
        while not (h.engine_pid() not in (None, old_pid) and h.healthy()):
            check(time.monotonic() < deadline, "the supervisor starts a new engine", h.log_tail())
            time.sleep(0.05)
        after = wait_cluster(h, lambda x: x["id"] != before["id"] and second in running_ids(x),
                             "the new engine lists the recovered spinner")
        print("   new engine pid %d, host id %s" % (after["pid"], after["id"]))
        check_identity(h, after, "after the restart")
        check(after["id"] != before["id"], "the host id changed with the engine", (before["id"], after["id"]))
        check(after["pid"] != old_pid, "the pid changed with the engine", after)
        check(harness.time_ms(after["started_at"]) >= harness.time_ms(before["started_at"]),
              "started_at is the new engine's", (before["started_at"], after["started_at"]))
        if h.store == "postgres":
            left = left_hosts(h)
            check_eq([(x["id"], x["left_reason"]) for x in left],
                     [(before["id"], "its engine stopped and started again as host " + after["id"])],
                     "the old engine is listed as a host that left, and why")
            check_eq(left[0]["released"], 1, "handing its spinner to the new one")
        run = [r for r in after["running"] if r["id"] == second][0]
        check_eq(run["attempt"], 2, "the recovered spinner runs as its second attempt")
        with open(release, "w"):
            pass
        check_eq(h.wait_final(second)["state"], "succeeded", "the recovered spinner returns once released")

    with harness.Host(plugins=["spin"], extra_env={"TARRY_TOKEN": TOKEN}) as h:
        status, doc, hdrs = h.client.call("GET", "/v1/cluster")
        check_eq(status, 401, "a token-protected host: GET /v1/cluster without the token is 401")
        check_eq(hdrs.get("www-authenticate"), "Bearer", "401 names the Bearer scheme")
        status, _, _ = h.client.call("GET", "/v1/cluster", headers={"Authorization": "Bearer wrong-token-0123456789"})
        check_eq(status, 401, "a wrong token: 401")
        host = cluster(h, headers={"Authorization": "Bearer " + TOKEN})
        check(host.get("self") is True, "with the token the host lists itself", host)
        env = {k: v for k, v in os.environ.items() if k != "TARRY_TOKEN"}
        argv = [harness.BIN, "--url", h.url, "cluster"]
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        check(p.returncode == 1 and "401" in p.stderr, "tarry cluster without the token reports the 401", (p.returncode, p.stderr))
        p = subprocess.run(argv, env=dict(env, TARRY_TOKEN=TOKEN), capture_output=True, text=True, timeout=60)
        check(p.returncode == 0 and host["id"] in p.stdout, "tarry cluster with TARRY_TOKEN prints the host", (p.returncode, p.stdout, p.stderr))


harness.run(main)
