"""A cancel is durable before it is acknowledged: kill -9 right after each answer, restart,
and the cancel holds.

- a waiting sleeper cancelled (200), then kill -9: after the restart it is cancelled;
- a delayed execution (due in 1 s) cancelled, then kill -9, the host down past its due
  time: after the restart it is cancelled and never ran;
- a running function that never looks at tarry_is_cancelled (cancel_hold) cancelled
  (202, cancel_requested), then kill -9 while it still runs: after the restart recovery
  finds it `running` with cancel_requested and cancels it instead of running it again
  (it would hold its worker for good: its release file never appears).
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def cancel(h, eid):
    status, doc, _ = h.call("POST", "/v1/executions/%s/cancel" % eid, {})
    return status, doc


def main():
    with harness.Host(plugins=["cancel"], workers=2) as h:
        sleeper = h.trigger_ok("cancel_sleeper", {"duration": "1h"})
        h.wait_state(sleeper, "waiting")
        delayed = h.trigger_ok("cancel_echo", {"n": 1}, delay="1s")
        hold = h.trigger_ok("cancel_hold", {"until": os.path.join(h.dir, "never")})
        h.wait_state(hold, "running")

        status, doc = cancel(h, sleeper)
        check_eq(status, 200, "the sleeper: cancelled")
        status, doc = cancel(h, delayed)
        check_eq(status, 200, "the delayed one: cancelled")
        status, doc = cancel(h, hold)
        check(status == 202 and doc["cancel_requested"] is True, "the running hold: 202 cancel requested", (status, doc))
        h.kill9()
        print("killed the host with SIGKILL right after the three answers")
        time.sleep(1.2)  # past the delayed one's due time while the host is down
        h.start()

        rec = h.execution(sleeper)
        check(rec["state"] == "cancelled" and rec["wake_at"] is None, "after the restart the sleeper is cancelled", rec)
        rec = h.execution(delayed)
        check(rec["state"] == "cancelled" and rec["started_at"] is None, "the delayed one is cancelled and never ran", rec)
        rec = h.wait_final(hold, timeout=60)
        check_eq(rec["state"], "cancelled", "the hold, running at the kill with cancel_requested, is cancelled at restart")
        check_eq(rec["attempts"], 1, "it was not started again")
        check("host stopped" in rec["error"], "its error says the host stopped before its attempt returned", rec)
        # The workers are free: new work runs (the hold did not take a worker again).
        check_eq(h.wait_final(h.trigger_ok("cancel_echo", {"n": 2}))["state"], "succeeded", "new work runs")
        check_eq(h.wait_final(h.trigger_ok("cancel_echo", {"n": 3}))["state"], "succeeded", "and more")


harness.run(main)
