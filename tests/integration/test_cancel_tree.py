"""Cancelling workflows: what an execution started goes with it, and a parent sees a
cancelled child as TARRY_CANCELLED.

- a parent with running children (cancel_fanout of 2 cancel_loop): cancelling the waiting
  parent cancels it at once (200) and asks each running child to stop; each child then
  sees tarry_is_cancelled, returns, and is cancelled (its return discarded), naming the
  parent; the parent's journal settles each call as cancelled;
- a running child alone (cancel_await of one cancel_loop): cancelling the child (202) ends
  it; its parent, which is not cancelled, is woken and sees status 3 (TARRY_CANCELLED)
  with the child's error, and succeeds;
- a tree three levels deep, all asleep (cancel_fanout of 2 cancel_fanout of 3
  cancel_sleeper): cancelling the root cancels all 9 executions in one request, none
  of them left waiting, and nothing wakes later.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

TARRY_CANCELLED = 3


def cancel(h, eid):
    status, doc, _ = h.call("POST", "/v1/executions/%s/cancel" % eid, {})
    return status, doc


def descendants(h, eid):
    """Every execution below eid, by the children lists of single GETs."""
    found, frontier = [], [eid]
    while frontier:
        for child in h.execution(frontier.pop())["children"]:
            found.append(child)
            frontier.append(child)
    return found


def main():
    with harness.Host(plugins=["cancel"], workers=4) as h:
        # ---- a parent with running children --------------------------------------------
        parent = h.trigger_ok("cancel_fanout", {"n": 2, "child": "cancel_loop", "child_args": {"max_s": 600}})
        h.wait_state(parent, "waiting")
        kids = h.execution(parent)["children"]
        check_eq(len(kids), 2, "the parent started two children")
        for k in kids:
            h.wait_state(k, "running")
        status, doc = cancel(h, parent)
        check(status == 200 and doc["state"] == "cancelled", "the waiting parent: 200 cancelled", (status, doc))
        for k in kids:
            rec = h.wait_final(k, timeout=60)
            check_eq(rec["state"], "cancelled", "running child %s: cancelled once it returned" % k)
            check(rec["cancel_requested"] is True and rec["result"] is None and "discarded" in rec["error"],
                  "running child: its return was discarded", rec)
        rec = h.execution(parent)
        check_eq([j["status"] for j in rec["journal"] if j["kind"] == "call"], ["cancelled", "cancelled"],
                 "the parent's journal settles both calls as cancelled")
        check_eq(rec["state"], "cancelled", "the parent stays cancelled (nothing woke it)")

        # ---- a running child alone -------------------------------------------------------
        started = os.path.join(h.dir, "child-started")
        parent = h.trigger_ok("cancel_await", {"child": "cancel_loop", "child_args": {"started": started, "max_s": 600}})
        h.wait_state(parent, "waiting")
        child = h.execution(parent)["children"][0]
        h.wait_state(child, "running")
        status, doc = cancel(h, child)
        check(status == 202 and doc["cancel_requested"] is True, "the running child: 202 cancel requested", (status, doc))
        rec = h.wait_final(child, timeout=60)
        check_eq(rec["state"], "cancelled", "the child is cancelled")
        rec = h.wait_final(parent, timeout=60)
        check_eq(rec["state"], "succeeded", "its parent is woken and finishes")
        check_eq(rec["result"]["status"], TARRY_CANCELLED, "the parent's await saw TARRY_CANCELLED")
        check("discarded" in (rec["result"]["error"] or ""), "... with the child's error", rec["result"])

        # ---- a tree of sleepers ---------------------------------------------------------------
        root = h.trigger_ok("cancel_fanout", {"n": 2, "child": "cancel_fanout",
                                              "child_args": {"n": 3, "child": "cancel_sleeper"}})
        deadline = time.monotonic() + 60
        while True:
            below = descendants(h, root)
            states = [h.execution(x)["state"] for x in below]
            if len(below) == 8 and all(s == "waiting" for s in states):
                break
            check(time.monotonic() < deadline, "the tree of 9 is all waiting", list(zip(below, states)))
            time.sleep(0.05)
        status, doc = cancel(h, root)
        check(status == 200 and doc["state"] == "cancelled", "the root: 200 cancelled", (status, doc))
        # The root's answer came once its cancel was durable; its descendants commit in the same batch.
        states = [h.execution(x)["state"] for x in below]
        check_eq(states, ["cancelled"] * 8, "all 8 descendants are cancelled by the same request")
        for x in below:
            rec = h.execution(x)
            check(rec["error"].startswith("cancelled with ") and rec["wake_at"] is None,
                  "descendant %s: cancelled with its ancestor, no wake time" % x, rec)
        status, doc, _ = h.get("/v1/executions?state=waiting")
        check_eq(doc["data"], [], "nothing is left waiting")


harness.run(main)
