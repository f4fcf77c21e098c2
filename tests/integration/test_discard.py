"""discard_after: an execution not started by then becomes `discarded`, with the reason.

- a delayed execution (delay 1h) with discard_after 1s: its timer fires at the discard
  time, not the delay, so it is discarded long before its scheduled_at, never started;
- a queued execution behind two busy workers with discard_after 1s: discarded while both
  workers are still busy (its timer, not a free worker, decides), and it does not run
  when they free up;
- an execution that starts in time runs (discard_after 1h);
- a delayed execution whose discard time passes while the host is down is discarded at
  the restart, not run;
- an invalid discard_after is a 400 naming the field.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, time_ms


def check_discarded(rec, what):
    check_eq(rec["state"], "discarded", "%s: discarded" % what)
    check(rec["error"].startswith("not started by ") and rec["error"].endswith(": discard_after"),
          "%s: the reason names the time and discard_after" % what, rec["error"])
    check(rec["started_at"] is None and rec["attempts"] == 0 and rec["finished_at"] is not None,
          "%s: it never started" % what, rec)
    check(rec["error"][len("not started by "):-len(": discard_after")] == rec["discard_at"],
          "%s: the reason's time is its discard_at" % what, rec)


def main():
    with harness.Host(plugins=["cancel"], workers=2) as h:
        # ---- delayed past its discard time ---------------------------------------------
        delayed = h.trigger_ok("cancel_echo", {"n": 1}, delay="1h", discard_after="1s")
        rec = h.execution(delayed)
        check(rec["state"] == "scheduled" and rec["discard_at"] is not None, "delayed: scheduled, with discard_at", rec)
        rec = h.wait_state(delayed, "discarded", timeout=60)
        check_discarded(rec, "delayed")
        check(time_ms(rec["finished_at"]) < time_ms(rec["scheduled_at"]),
              "delayed: discarded at its discard time, before its start time", rec)

        # ---- queued behind busy workers ------------------------------------------------------
        release = os.path.join(h.dir, "release")
        holds = [h.trigger_ok("cancel_hold", {"until": release}) for _ in range(2)]
        for hid in holds:
            h.wait_state(hid, "running")
        queued = h.trigger_ok("cancel_echo", {"n": 2}, discard_after="1s")
        check_eq(h.execution(queued)["state"], "queued", "queued: waits for a worker")
        rec = h.wait_state(queued, "discarded", timeout=60)
        check_discarded(rec, "queued")
        check_eq([h.execution(x)["state"] for x in holds], ["running", "running"],
                 "queued: discarded while both workers were still busy")
        with open(release, "w"):
            pass
        for hid in holds:
            h.wait_final(hid)
        check_eq(h.wait_final(h.trigger_ok("cancel_echo", {"n": 3}))["state"], "succeeded", "later work runs")
        check_eq(h.execution(queued)["state"], "discarded", "queued: it did not run once workers were free")

        # ---- in time -------------------------------------------------------------------------------
        on_time = h.trigger_ok("cancel_echo", {"n": 4}, discard_after="1h")
        check_eq(h.wait_final(on_time)["state"], "succeeded", "started in time: it runs")

        # ---- across a restart ------------------------------------------------------------------------
        down = h.trigger_ok("cancel_echo", {"n": 5}, delay="1h", discard_after="2s")
        h.kill9()
        time.sleep(2.2)
        h.start()
        check_discarded(h.wait_state(down, "discarded", timeout=60), "across a restart")

        # ---- invalid ------------------------------------------------------------------------------------
        status, doc = h.trigger("cancel_echo", {"n": 6}, discard_after="soonish")
        check(status == 400 and "discard_after" in doc["error"]["message"], "an invalid discard_after: 400", (status, doc))


harness.run(main)
