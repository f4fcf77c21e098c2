"""A backlog larger than the engine's queue window waits in the store, and is paged in,
in order, through restarts.

The host keeps at most TARRY_QUEUE_WINDOW queued executions in memory (here 10, with one
worker); the rest wait in the store's queued index. With the worker held by a slow
execution, 300 `record` executions are triggered: /metrics counts all of them as queued;
once the worker is free they run exactly once each, in trigger order (one worker: the
record file's line order is the run order). Then a second backlog is left behind by
kill -9 and the restarted host says how many wait in the store, and runs them all, once,
in order. Last, workflows through a full window: 150 `parallel` workflows (two children each,
await_all) on 2 workers with a window of 10, so parents and children are paged out and in
while their siblings settle; every one of them finishes (none waits forever for a child
that settled while it sat in the store).
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def queued_metric(h):
    _, _, body = h.client.raw("GET", "/metrics")
    m = re.search(rb"^tarry_executions_queued (\d+)$", body, re.M)
    return int(m.group(1)) if m else -1


def ran(path):
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def backlog(h, record_file, n):
    # The worker is held until the test cancels the blocker (release), however slow the machine.
    blocker = h.trigger_ok("slow", {"ms": 600000})
    h.wait_state(blocker, "running", timeout=10)
    ids = [h.trigger_ok("record", {"file": record_file}) for _ in range(n)]
    return blocker, ids


def release(h, blocker):
    status, doc, _ = h.call("POST", "/v1/executions/%s/cancel" % blocker, {})
    check(status in (200, 202), "the blocker is cancelled", (status, doc))
    h.wait_final(blocker, timeout=30)


def workflows_through_the_window():
    with harness.Host(plugins=["wf"], workers=2, extra_env={"TARRY_QUEUE_WINDOW": "10"}) as h:
        ids = [h.trigger_ok("parallel", {"ms": 1}) for _ in range(150)]
        results = [h.wait_final(eid, timeout=120) for eid in ids]
        bad = [r for r in results if r["state"] != "succeeded"]
        check(not bad, "all 150 workflows succeeded through a window of 10 (450 executions)", bad[:3])


def main():
    workflows_through_the_window()
    with harness.Host(plugins=["testfns"], workers=1, extra_env={"TARRY_QUEUE_WINDOW": "10"}) as h:
        record_file = os.path.join(h.dir, "ran.txt")

        # ---- a live backlog -----------------------------------------------------------
        blocker, ids = backlog(h, record_file, 300)
        queued = queued_metric(h)
        check(queued >= 290, "/metrics counts the backlog in the store as queued (%d of 300 waiting)" % queued)
        release(h, blocker)
        for eid in ids:
            h.wait_final(eid, timeout=60)
        got = ran(record_file)
        check(got == ids, "all 300 ran exactly once, in trigger order, paged in 10 at a time",
              "%d lines, first difference at %s" % (len(got), next((i for i, (a, b) in enumerate(zip(got, ids)) if a != b), "the end")))
        check_eq(queued_metric(h), 0, "nothing is left queued")

        # ---- a backlog across kill -9 ---------------------------------------------------
        os.unlink(record_file)
        blocker, ids = backlog(h, record_file, 200)
        h.kill9()
        h.restart()
        m = re.findall(r"recovered: .* (\d+) queued \((\d+) more wait in the store\)", h.log_text())
        check(m and int(m[-1][0]) + int(m[-1][1]) >= 200,
              "the restarted host loads a window and leaves the rest in the store", m)
        release(h, blocker)
        for eid in ids:
            h.wait_final(eid, timeout=60)
        got = ran(record_file)
        check(got == ids, "after kill -9, all 200 ran exactly once, in trigger order",
              "%d lines, first difference at %s" % (len(got), next((i for i, (a, b) in enumerate(zip(got, ids)) if a != b), "the end")))


harness.run(main)
