"""max_duration (issue 9): an attempt running past it times out, is retried by the
policy, and a spinning function does not stop other functions from running.

Through the real binary and the compiled "retry" test plugin, with --workers 1:
  - patient {"spin": 1} (max_duration 1s, 2 attempts): attempt 1 spins until
    tarry_is_cancelled, times out ("timed out after 1s"), and what it returns then is
    discarded (logged); attempt 2 succeeds. Its attempts say timed_out; the record
    counts timeouts: 1.
  - stubborn (max_duration 1s, no retry) ignores tarry_is_cancelled and holds its
    thread: it fails "timed out after 1s" at once, while the one worker goes on
    running quick functions (the abandoned pass holds a spare thread, not the
    worker), /metrics shows tarry_workers_abandoned 1; once released, its late
    return is discarded and logged, and the metric goes back to 0.
  - a second stubborn while the first is still held: the spare threads are used
    up (--workers 1 leaves one), so the worker is held until one returns, and the
    host says every worker is stuck in its log and /metrics.
  - a stubborn cancelled while it runs, which then times out before returning,
    ends cancelled (the cancel came first), not failed.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
import harness
from harness import check, check_eq








def attempts(h, x):
    status, doc, _ = h.get("/v1/executions/%s/attempts" % x)
    check_eq(status, 200, "GET .../attempts")
    return doc["data"]


def main():
    with harness.Host(plugins=["retry"], workers=1, extra_env={"TARRY_STUCK_AFTER": "3s"}) as h:
        # ---- a cooperative spinner: timed out, retried ----
        x = h.trigger_ok("patient", {"spin": 1})
        doc = h.wait_final(x)
        check_eq((doc["state"], doc["attempts"], doc["result"]), ("succeeded", 2, {"attempt": 2}),
                 "patient times out on attempt 1 and succeeds on attempt 2")
        check_eq(doc["timeouts"], 1, "the record counts one timeout")
        a = attempts(h, x)
        check_eq([(t["outcome"], t["timed_out"], t["error"]) for t in a],
                 [("failed", True, "timed out after 1s"), ("succeeded", False, None)], "patient's attempts")
        h.wait_log("attempt 1, which timed out, returned")
        check("is discarded" in h.log_text(), "the late return is said to be discarded", h.log_tail())

        # ---- a spinner that ignores tarry_is_cancelled: other work still runs ----
        release = os.path.join(h.dir, "release")
        s1 = h.trigger_ok("stubborn", {"until": release})
        doc = h.wait_final(s1)
        check_eq((doc["state"], doc["error"], doc["attempts"]), ("failed", "timed out after 1s", 1),
                 "stubborn fails with a timeout (no retry policy)")
        check_eq(h.metrics().get("tarry_workers_abandoned"), 1, "its thread is still held: tarry_workers_abandoned 1")
        quick = [h.trigger_ok("quick", {}) for _ in range(5)]
        for q in quick:
            check_eq(h.wait_final(q)["state"], "succeeded", "quick runs on the worker while stubborn spins (%s)" % q)
        check(h.metrics().get("tarry_workers_busy") == 1, "the abandoned pass still counts as busy", h.metrics())

        # ---- a second one uses the last spare thread: now everything waits ----
        s2 = h.trigger_ok("stubborn", {"until": release})
        check_eq(h.wait_final(s2)["state"], "failed", "the second stubborn times out too")
        q = h.trigger_ok("quick", {})
        time.sleep(0.5)
        check_eq(h.execution(q)["state"], "queued", "with every thread held, new work waits in the queue")
        h.wait_metric("tarry_workers_abandoned", 2)
        h.wait_log("or with an attempt that timed out and has not returned")
        check(h.healthy(), "the host still answers")

        with open(release, "w"):
            pass
        check_eq(h.wait_final(q)["state"], "succeeded", "the queued work runs once a thread returns")
        h.wait_metric("tarry_workers_abandoned", 0)
        h.wait_log("a worker is free again")
        log = h.log_text()
        check(log.count("which timed out, returned") >= 3, "each late return is logged", h.log_tail())
        doc = h.execution(s1)
        check_eq((doc["state"], doc["result"]), ("failed", None), "stubborn's late result was discarded")

        # ---- cancelled, then timed out before it returned: cancelled, not failed or retried ----
        release2 = os.path.join(h.dir, "release2")
        s3 = h.trigger_ok("stubborn", {"until": release2})
        h.wait_state(s3, "running", timeout=30)
        status, doc, _ = h.call("POST", "/v1/executions/%s/cancel" % s3, {})
        check_eq((status, doc.get("cancel_requested")), (202, True), "a running stubborn: cancel requested")
        doc = h.wait_final(s3)
        check_eq(doc["state"], "cancelled", "its timeout ends it as cancelled (the cancel came first)")
        check_eq([(t["outcome"], t["timed_out"]) for t in attempts(h, s3)], [("cancelled", True)],
                 "one attempt: cancelled, and it timed out")
        with open(release2, "w"):
            pass
        h.wait_metric("tarry_workers_abandoned", 0)
        check_eq(h.execution(s3)["state"], "cancelled", "its late return changes nothing")


harness.run(main)
