"""Cancel in every state, through POST /v1/executions/ID/cancel and `tarry cancel`.

- scheduled (a delay of 1h): cancelled at once (200), never runs, its timer is gone
  (a reschedule finds no pending timer);
- queued behind two busy workers: cancelled at once, and it never runs when they free up;
- waiting in a durable sleep: cancelled, its wake time cleared, no timer left;
- blocked (nondeterminism after an upgrade): cancelled;
- running (cancel_loop polls tarry_is_cancelled): 202 with cancel_requested, then
  cancelled once the function sees the cancel and returns; what it returned is discarded
  (no result, the host log says so). The function would otherwise loop for 10 minutes,
  so the execution ending at all proves tarry_is_cancelled turned true;
- a ?wait trigger's execution (deferred: never written while it runs): cancelled by the
  id it wrote down; the waiting trigger is answered with the cancelled execution;
- final: 409 "final" naming the state (succeeded, and cancelled for a second cancel);
  an unknown id is 404;
- the CLI: `tarry cancel` prints "ID FUNCTION cancelled" (exit 0), --json the execution,
  and a final one is exit 1 naming the state.
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def cancel(h, eid):
    status, doc, _ = h.call("POST", "/v1/executions/%s/cancel" % eid, {})
    return status, doc


def wait_file(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %s was not written within %.0fs" % (path, timeout))
        time.sleep(0.02)
    with open(path) as f:
        return f.read().strip()


def check_cancelled_now(h, eid, what):
    status, doc = cancel(h, eid)
    check(status == 200 and doc.get("state") == "cancelled", "%s: cancel -> 200 cancelled" % what, (status, doc))
    rec = h.execution(eid)
    check_eq(rec["state"], "cancelled", "%s: GET says cancelled" % what)
    check_eq(rec["error"], "cancelled by request", "%s: the error says why" % what)
    check(rec["finished_at"] is not None and rec["result"] is None, "%s: finished, no result" % what, rec)
    return rec


def main():
    with harness.Host(plugins=["cancel", ("wf_nd_v1", "wfnd.so")], workers=2) as h:
        # ---- scheduled -------------------------------------------------------------
        eid = h.trigger_ok("cancel_echo", {"n": 1}, delay="1h")
        rec = check_cancelled_now(h, eid, "scheduled")
        check(rec["started_at"] is None and rec["attempts"] == 0, "scheduled: it never started", rec)
        status, doc = h.reschedule(eid)
        check_eq(status, 409, "scheduled: its timer is gone (reschedule finds none)")

        # ---- queued behind busy workers ---------------------------------------------
        release = os.path.join(h.dir, "release")
        holds = [h.trigger_ok("cancel_hold", {"until": release}) for _ in range(2)]
        for hid in holds:
            h.wait_state(hid, "running")
        eid = h.trigger_ok("cancel_echo", {"n": 2})
        check_eq(h.execution(eid)["state"], "queued", "queued: both workers are busy")
        check_cancelled_now(h, eid, "queued")
        with open(release, "w"):
            pass
        for hid in holds:
            check_eq(h.wait_final(hid)["state"], "succeeded", "the holds finish once released")
        # Work queued after it runs, so the queue moved past the cancelled one.
        check_eq(h.wait_final(h.trigger_ok("cancel_echo", {"n": 3}))["state"], "succeeded", "later work runs")
        rec = h.execution(eid)
        check(rec["state"] == "cancelled" and rec["started_at"] is None and rec["attempts"] == 0,
              "queued: the cancelled one never ran once workers were free", rec)

        # ---- waiting in a durable sleep ------------------------------------------------
        eid = h.trigger_ok("cancel_sleeper", {"duration": "1h"})
        rec = h.wait_state(eid, "waiting")
        check(rec["wake_at"] is not None, "waiting: it sleeps until a wake time", rec)
        rec = check_cancelled_now(h, eid, "waiting")
        check_eq(rec["wake_at"], None, "waiting: the wake time is cleared")
        status, doc = h.reschedule(eid)
        check_eq(status, 409, "waiting: its timer is gone (reschedule finds none)")

        # ---- blocked ------------------------------------------------------------------
        eid = h.trigger_ok("nd", {"variant": "name"})
        h.wait_state(eid, "waiting")
        h.install("wf_nd_v2", "wfnd.so")
        status, doc = h.reload()
        check_eq(status, 200, "v2 of wfnd loads")
        status, doc = h.upgrade(eid, force=True)  # unchecked: it is meant to block
        check_eq(status, 200, "the sleeping nd moves to v2")
        status, doc = h.reschedule(eid)
        check_eq(status, 200, "its sleep ends now")
        h.wait_state(eid, "blocked")
        check_cancelled_now(h, eid, "blocked")

        # ---- running --------------------------------------------------------------------
        started = os.path.join(h.dir, "started-running")
        eid = h.trigger_ok("cancel_loop", {"started": started, "max_s": 600})
        wait_file(started)
        status, doc = cancel(h, eid)
        check(status == 202 and doc.get("state") == "running" and doc.get("cancel_requested") is True,
              "running: cancel -> 202 running with cancel_requested", (status, doc))
        rec = h.wait_final(eid, timeout=60)
        check_eq(rec["state"], "cancelled", "running: cancelled once the function returned")
        check_eq(rec["result"], None, "running: what it returned is discarded")
        check("discarded" in (rec["error"] or ""), "running: the error says its return was discarded", rec)
        check(rec["attempts"] == 1 and rec["started_at"] is not None, "running: it had started", rec)
        check(("execution %s" % eid) in h.log_text() and "is discarded" in h.log_text(),
              "running: the host log says the outcome was discarded")
        status, doc, _ = h.get("/v1/executions/%s/attempts" % eid)
        check(status == 200 and [a["outcome"] for a in doc["data"]] == ["cancelled"],
              "running: its attempt is kept as cancelled", (status, doc))

        # ---- a ?wait trigger's execution (deferred) ------------------------------------------
        started = os.path.join(h.dir, "started-deferred")
        answer = {}

        def waiting_trigger():
            c = h.new_client()
            answer["status"], answer["doc"], _ = c.post(
                "/v1/functions/cancel_loop/executions?wait=60s", {"args": {"started": started, "max_s": 600}})
            c.close()

        t = threading.Thread(target=waiting_trigger)
        t.start()
        eid = wait_file(started)
        status, doc = cancel(h, eid)
        check(status == 202 and doc.get("cancel_requested") is True,
              "deferred: the running ?wait execution is written with cancel_requested (202)", (status, doc))
        t.join(90)
        check(not t.is_alive(), "deferred: the ?wait trigger is answered")
        check(answer.get("status") == 200 and answer["doc"].get("state") == "cancelled" and answer["doc"].get("id") == eid,
              "deferred: the ?wait trigger answers 200 with the cancelled execution", answer)

        # ---- final --------------------------------------------------------------------------
        eid = h.trigger_ok("cancel_echo", {"n": 4})
        check_eq(h.wait_final(eid)["state"], "succeeded", "final: it succeeds")
        status, doc = cancel(h, eid)
        err = (doc or {}).get("error", {})
        check(status == 409 and err.get("code") == "final" and "is succeeded" in err.get("message", ""),
              "final: 409 final naming the state", (status, doc))
        check_eq(h.execution(eid)["state"], "succeeded", "final: it stays succeeded")
        sched = h.trigger_ok("cancel_echo", {"n": 5}, delay="1h")
        cancel(h, sched)
        status, doc = cancel(h, sched)
        check(status == 409 and "is cancelled" in doc["error"]["message"], "a second cancel: 409 is cancelled", (status, doc))
        status, doc = cancel(h, "01JDXN5Z8B3M8Q2W4T6Y8A0C2E")
        check_eq(status, 404, "an unknown id: 404")

        # ---- the CLI --------------------------------------------------------------------------
        sched = h.trigger_ok("cancel_echo", {"n": 6}, delay="1h")
        p = h.cli("cancel", sched)
        check(p.returncode == 0 and p.stdout.strip() == "%s cancel_echo cancelled" % sched,
              "tarry cancel prints ID FUNCTION cancelled", (p.returncode, p.stdout, p.stderr))
        p = h.cli("cancel", eid)
        check(p.returncode == 1 and "is succeeded" in p.stderr, "tarry cancel of a final one: exit 1 naming the state",
              (p.returncode, p.stdout, p.stderr))
        sched = h.trigger_ok("cancel_echo", {"n": 7}, delay="1h")
        p = h.cli("cancel", sched, "--json")
        import json
        doc = json.loads(p.stdout)
        check(p.returncode == 0 and doc["state"] == "cancelled" and doc["id"] == sched, "tarry cancel --json", p.stdout)
        p = h.cli("cancel", "--help")
        check(p.returncode == 0 and "tarry_is_cancelled" in p.stdout, "tarry cancel --help explains running ones", p.stdout)


harness.run(main)
