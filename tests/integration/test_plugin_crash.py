"""A plugin that segfaults kills the engine, not the host.

`tarry serve` is a supervisor; the engine is its child. testfns `crash`
raises SIGSEGV in the engine. The supervisor must restart the engine each
time, the host must keep serving, and after the engine died three times with
that execution running, the execution is `failed` (poison pill) with an error
that says it crashed. Executions that finished before stay as they were, and
ones triggered around the crash still run to success.
"""

import http.client
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

CRASH_WORDS = re.compile(r"crash|died|signal|sigsegv|segmentation|killed|poison", re.I)


def engine_pids(h):
    return sorted(h.pids()[1:])


def main():
    with harness.Host(plugins=["testfns"], workers=2, crashes_expected=True) as h:
        supervisor = h.proc.pid
        engines_before = engine_pids(h)
        print("   supervisor pid %d, engine pids %s" % (supervisor, engines_before))
        check(engines_before, "tarry serve runs the engine as a child process")

        done_before = []
        for i in range(5):
            status, doc = h.trigger("echo", {"i": i}, wait="5s")
            check(status == 200 and doc.get("state") == "succeeded", "echo %d before the crash" % i, (status, doc))
            done_before.append(doc["id"])

        rec_file = os.path.join(h.dir, "record.txt")
        # Delayed, so that the 202 is surely on the wire before the engine dies.
        crash_id = h.trigger_ok("crash", None, delay="300ms")
        # The engine may already be down: keep trying until each is acknowledged.
        around = [h.trigger_until_acked("record", {"file": rec_file}) for _ in range(5)]

        # The host may be briefly unreachable while the engine restarts.
        deadline = time.monotonic() + 60
        rec = None
        while time.monotonic() < deadline:
            if h.wait_healthy(timeout=10):
                try:
                    rec = h.execution(crash_id)
                    if rec["state"] in harness.FINAL_STATES:
                        break
                except (OSError, http.client.HTTPException, harness.CheckFailed):
                    pass
            time.sleep(0.1)
        check(rec is not None and rec["state"] in harness.FINAL_STATES, "the crashing execution reaches a final state", rec)
        check_eq(rec["state"], "failed", "the crashing execution ends failed (poison pill)")
        check(CRASH_WORDS.search(rec["error"] or "") is not None, "its error says it crashed: %r" % rec["error"], rec)
        check_eq(rec["attempts"], 3, "it was tried 3 times (the engine died 3 times with it running)")
        check(h.proc.poll() is None and h.proc.pid == supervisor, "the supervisor itself never died")
        engines_after = engine_pids(h)
        print("   engine pids after: %s" % engines_after)
        check(engines_after and not set(engines_after) & set(engines_before), "the engine was restarted (new pid)")
        check(h.healthy(), "the host serves after the crashes")

        for eid in done_before:
            r = h.execution(eid)
            check(r["state"] == "succeeded" and r["attempts"] == 1, "execution %s from before the crash is untouched" % eid, r)
        for eid in around:
            r = h.wait_final(eid, timeout=30)
            check_eq(r["state"], "succeeded", "record %s triggered with the crash succeeds" % eid)
        status, doc = h.trigger("echo", {"after": True}, wait="5s")
        check(status == 200 and doc.get("result") == {"after": True}, "a new execution runs after the crashes", (status, doc))
        status, doc = h.trigger("fail", None, wait="5s")
        check(status == 200 and doc.get("error") == "deliberate failure", "an ordinary failure is still an ordinary failure", (status, doc))
        print("summary: engine died 3 times on %s; supervisor %d kept serving; %d other executions unaffected"
              % (crash_id, supervisor, len(done_before) + len(around)))


harness.run(main)
