"""SIGTERM drains: running executions finish and commit, then the host exits 0.

Four `slow` executions (600 ms each) are running on four workers and four
more are queued when the host gets SIGTERM. The host must stop accepting
connections, let the running ones finish, commit them, and exit with status
0 having drained (not stopped by the 30 s drain limit); after a restart those
four are `succeeded` with attempts 1 (they were not run again), and the queued
ones run then.
"""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def main():
    with harness.Host(plugins=["testfns"], workers=4) as h:
        ids = [h.trigger_ok("slow", {"ms": 600}) for _ in range(8)]
        deadline = time.monotonic() + 10
        running = []
        while time.monotonic() < deadline:
            running = [i for i in ids if h.execution(i)["state"] == "running"]
            if len(running) == 4:
                break
            time.sleep(0.02)
        check_eq(len(running), 4, "four executions are running (one per worker) before SIGTERM")

        h.proc.send_signal(15)
        # The listener closes at once; the running ones keep the host up for up to 600 ms more.
        refused_while_up = False
        deadline = time.monotonic() + 10
        while h.proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", h.port), timeout=1).close()
            except OSError:
                refused_while_up = h.proc.poll() is None
                break
            time.sleep(0.01)
        check(refused_while_up, "a draining host accepts no new connections while it drains")
        h.proc.wait(60)
        check_eq(h.proc.returncode, 0, "the host exits with status 0 after draining")
        log = h.log_text()
        check("drained: every running execution finished and is committed" in log, "the log says it drained")
        check("drain timed out" not in log, "it drained before the drain limit, not stopped by it")

        h.restart()
        for i in running:
            rec = h.execution(i)
            check_eq((rec["state"], rec["attempts"]), ("succeeded", 1), "%s finished before the stop and did not run again" % i)
        for i in ids:
            check_eq(h.wait_final(i)["state"], "succeeded", "%s succeeds (queued ones after the restart)" % i)


harness.run(main)
