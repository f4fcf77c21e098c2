"""Delayed executions: `delay` and `run_at` wait in durable timers and start on time,
also when the host was down across the due time (they start at boot), and a
timer that is not yet due does not fire early after a restart.

The 10 ms start-on-time goal is measured by the benchmark; this test asserts
a 200 ms bound so that it holds on a busy CI machine.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, rfc3339, time_ms

LATE_BOUND_MS = 200


def records(path):
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def main():
    with harness.Host(plugins=["testfns"], workers=2) as h:
        rec_file = os.path.join(h.dir, "record.txt")

        # ---- delay "1s" ---------------------------------------------------
        status, doc = h.trigger("record", {"file": rec_file}, delay="1s")
        check(status == 202 and doc.get("state") == "scheduled", "delay 1s -> 202 state scheduled", (status, doc))
        one_s = doc["id"]
        rec = h.execution(one_s)
        check_eq(rec["state"], "scheduled", "GET right after: still scheduled")
        due_after = time_ms(rec["scheduled_at"]) - time_ms(rec["created_at"])
        check(abs(due_after - 1000) <= 5, "scheduled_at = created_at + 1s (got %+.0f ms)" % due_after, rec)
        check_eq(rec["started_at"], None, "a scheduled execution has not started")
        time.sleep(0.5)
        check_eq(h.execution(one_s)["state"], "scheduled", "0.5 s in: still scheduled, not early")
        check_eq(records(rec_file), [], "0.5 s in: the function has not run")
        rec = h.wait_final(one_s, timeout=10)
        check_eq(rec["state"], "succeeded", "the delayed execution succeeds")
        late = time_ms(rec["started_at"]) - time_ms(rec["scheduled_at"])
        print("   delay 1s: started %.1f ms after due" % late)
        check(-2 <= late < LATE_BOUND_MS, "started within %d ms of due (%.1f ms)" % (LATE_BOUND_MS, late), rec)
        check_eq(records(rec_file), [[one_s, "1"]], "it ran exactly once")

        # ---- run_at in the future, in the past ----------------------------
        due = time.time() + 1.2
        status, doc = h.trigger("noop", None, run_at=rfc3339(due))
        check(status == 202 and doc.get("state") == "scheduled", "run_at +1.2s -> scheduled", (status, doc))
        at_id = doc["id"]
        rec = h.execution(at_id)
        check(abs(time_ms(rec["scheduled_at"]) - round(due * 1000)) <= 1, "scheduled_at is the run_at given", (rfc3339(due), rec))
        rec = h.wait_final(at_id, timeout=10)
        late = time_ms(rec["started_at"]) - time_ms(rec["scheduled_at"])
        print("   run_at: started %.1f ms after due" % late)
        check(-2 <= late < LATE_BOUND_MS, "run_at started within %d ms of due (%.1f ms)" % (LATE_BOUND_MS, late), rec)

        status, doc = h.trigger("noop", None, run_at="2001-01-01T00:00:00Z")
        check(status == 202 and doc.get("state") in ("queued", "running"), "run_at in the past -> queued now", (status, doc))
        t0 = time.monotonic()
        rec = h.wait_final(doc["id"], timeout=5)
        check(rec["state"] == "succeeded" and time.monotonic() - t0 < 1.0, "run_at in the past runs at once", rec)

        # Durations in Defer's forms land exactly where they say.
        for text, ms in (("500ms", 500), ("90s", 90000), ("1h 30m", 5400000), ("2 hours", 7200000), ("1 day", 86400000), ("1 week", 604800000)):
            eid = h.trigger_ok("noop", None, delay=text)
            rec = h.execution(eid)
            got = time_ms(rec["scheduled_at"]) - time_ms(rec["created_at"])
            check(abs(got - ms) <= 5, "delay %r -> scheduled %d ms after creation" % (text, ms), rec)
        far = h.trigger_ok("noop", None, delay="1h 30m")
        scheduled, _ = h.list_all("state=scheduled")
        check(far in {e["id"] for e in scheduled}, "state=scheduled lists the waiting execution")

        # ---- due while the host is down -------------------------------------
        boot_id = h.trigger_ok("record", {"file": rec_file}, delay="1s")
        h.kill9()
        killed_at = time.time()
        time.sleep(1.8)
        h.restart()
        restarted_at = time.time()
        rec = h.wait_final(boot_id, timeout=10)
        check_eq(rec["state"], "succeeded", "an execution due while the host was down succeeds after restart")
        started = time_ms(rec["started_at"]) / 1000.0
        check(started >= killed_at + 0.5, "it ran after the restart, not before the kill", (killed_at, rec))
        check(started - restarted_at < 1.0, "it started at boot (%.0f ms after healthy)" % ((started - restarted_at) * 1000), rec)
        check_eq([r for r in records(rec_file) if r[0] == boot_id], [[boot_id, "1"]], "it ran exactly once")
        rec = h.execution(far)
        check(rec["state"] == "scheduled" and rec["started_at"] is None, "a timer not yet due does not fire at boot", rec)


harness.run(main)
