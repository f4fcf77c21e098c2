"""The reference workflow (DESIGN.md, top; plugins/onboarding) end to end, through kill -9.

1. A parallel run: user_onboarding with email_ms = contacts_ms = 1000. The two children run
   in parallel (their [started_at, finished_at] spans overlap: neither waited for the
   other; how long the workflow takes is scripts/bench's W2, not this test's), the step runs once
   (one mark_onboarded line), the delayed child is `scheduled` 1 day out, the parent
   `succeeded` with its result, and its journal reads call, call, step, call.
2. The same through crashes: email_ms 1000, contacts_ms 3000. kill -9 while the parent
   waits and both children run; restart; kill -9 again while the parent waits with one
   child settled and one running; restart; the workflow finishes once: one mark_onboarded,
   three children (no child made twice), the same journal.
3. kill -9 during the day of waiting: the delayed children keep their due time; then
   PATCH .../schedule {} moves each to now: it runs once (one tutorials_email line), and a
   second reschedule of a finished child is 409 not_reschedulable.
"""

import collections
import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, time_ms

DAY_S = 86400
# A child's created_at and its due time are read from the clock in the same pass of its parent.
SAME_PASS_MS = 100
CHILDREN = ("send_welcome_email", "import_contacts_from_hubspot")
LATER = "send_tutorials_email_if_no_actions"


def effects(path):
    """The effects file as (kind, {key: value}) per line."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    raise harness.CheckFailed("FAILED: a torn effect line: %r" % line)
                parts = line.split()
                out.append((parts[0], dict(p.split("=", 1) for p in parts[1:])))
    except FileNotFoundError:
        pass
    return out


def count(path, kind, user_id):
    return sum(1 for k, kv in effects(path) if k == kind and kv.get("user") == str(user_id))


def children_by_function(h, parent):
    kids = {}
    for cid in parent["children"]:
        c = h.execution(cid)
        kids.setdefault(c["function"], []).append(c)
    return kids


def check_children_listing(h, parent):
    """No child made twice: the executions naming this parent are exactly its journal's children."""
    everything, _ = h.list_all("", limit=1000)
    named = sorted(e["id"] for e in everything if e.get("parent_id") == parent["id"])
    in_journal = sorted(e["child_id"] for e in parent["journal"] if e["kind"] == "call")
    check_eq(named, in_journal, "the executions whose parent_id is %s are its journal's children" % parent["id"])
    check_eq(sorted(parent["children"]), in_journal, "its children list is its journal's children")
    check_eq(len(set(in_journal)), 3, "three distinct children")


def check_journal(parent, user_id, later_statuses):
    j = parent["journal"]
    check_eq([(e["kind"], e["name"]) for e in j],
             [("call", CHILDREN[0]), ("call", CHILDREN[1]), ("step", "mark_onboarded"), ("call", LATER)],
             "the journal reads call, call, step, call")
    check_eq([e["seq"] for e in j], [0, 1, 2, 3], "journal seqs")
    check_eq([e["status"] for e in j[:3]], ["succeeded"] * 3, "both calls and the step succeeded")
    check(j[3]["status"] in later_statuses, "the delayed call's entry is %s" % "|".join(later_statuses), j[3])
    check_eq(j[2]["result"], {"marked": True, "user_id": user_id}, "the step's recorded result")
    for e in j:
        check(e["started_at"] is not None, "journal entry %d has started_at" % e["seq"], e)


def check_result(parent, user_id, email):
    r = parent["result"]
    check(isinstance(r, dict) and r.get("onboarded") is True and r.get("user_id") == user_id,
          "the parent's result says onboarded for user %d" % user_id, r)
    check_eq(r.get("welcome_email"), {"status": "succeeded", "result": {"sent": True, "to": email}},
             "the result reports the welcome email")
    check_eq(r.get("contacts"), {"status": "succeeded", "result": {"imported": user_id % 20 + 1}},
             "the result reports the contacts import")


def check_later(h, parent, due_ms=None):
    """The delayed child is scheduled 1 day after the parent issued it; returns it."""
    later = children_by_function(h, parent)[LATER]
    check_eq(len(later), 1, "one delayed child")
    later = later[0]
    check_eq(later["state"], "scheduled", "the delayed child is scheduled")
    check_eq(later["parent_id"], parent["id"], "the delayed child names its parent")
    # Due 1 day after the parent's pass issued it: after its creation, and before the parent
    # finished (that pass ended before the parent's finish) plus a day.
    due = time_ms(later["scheduled_at"])
    check(time_ms(later["created_at"]) + DAY_S * 1000 - SAME_PASS_MS <= due <= time_ms(parent["finished_at"]) + DAY_S * 1000,
          "it is due 1 day after the parent issued it (%+.0f ms after its creation)"
          % (due - time_ms(later["created_at"]) - DAY_S * 1000), (later, parent["finished_at"]))
    if due_ms is not None:
        check_eq(time_ms(later["scheduled_at"]), due_ms, "its due time did not move across the kill")
    return later


def main():
    with harness.Host(plugins=["onboarding"], workers=4) as h:
        fx = os.path.join(h.dir, "effects.log")

        # ---- 1. fast and parallel ---------------------------------------------------------
        args1 = {"user_id": 1, "email": "ann@example.com", "effects": fx, "email_ms": 1000, "contacts_ms": 1000}
        p1 = h.trigger_ok("user_onboarding", args1)
        rec = h.wait_final(p1, timeout=60)
        check_eq(rec["state"], "succeeded", "workflow 1 succeeded")
        check_result(rec, 1, "ann@example.com")
        kids = children_by_function(h, rec)
        spans = []
        for fn in CHILDREN:
            check_eq(len(kids.get(fn, [])), 1, "one %s child" % fn)
            c = kids[fn][0]
            check_eq((c["state"], c["parent_id"]), ("succeeded", p1), "%s succeeded, child of the workflow" % fn)
            spans.append((time_ms(c["started_at"]), time_ms(c["finished_at"])))
        first_start = min(s for s, _ in spans)
        last_end = max(e for _, e in spans)
        overlap = min(e for _, e in spans) - max(s for s, _ in spans)
        print("   children: started %.0f ms apart, overlap %.0f ms, both done %.0f ms after the first start"
              % (abs(spans[0][0] - spans[1][0]), overlap, last_end - first_start))
        check(overlap > 0, "the two 1-second children ran at the same time (overlap %.0f ms)" % overlap, spans)
        print("   workflow 1 took %.0f ms (created -> finished)" % (time_ms(rec["finished_at"]) - time_ms(rec["created_at"])))
        check_journal(rec, 1, ("pending",))
        check_children_listing(h, rec)
        check_eq([count(fx, k, 1) for k in ("welcome_email", "contacts_imported", "mark_onboarded", "tutorials_email")],
                 [1, 1, 1, 0], "effects of user 1: one email, one import, one mark, no tutorial yet")
        later1 = check_later(h, rec)

        # ---- 2. the same through kill -9 ------------------------------------------------
        args2 = {"user_id": 2, "email": "bob@example.com", "effects": fx, "email_ms": 1000, "contacts_ms": 3000}
        p2 = h.trigger_ok("user_onboarding", args2)

        def both_running(d):
            if d["state"] != "waiting" or len(d.get("children") or []) != 2:
                return False
            return all(h.execution(c)["state"] == "running" for c in d["children"])

        rec = h.wait_for(p2, both_running, "workflow 2 waits while both children run", timeout=10)
        check(len(rec["journal"]) == 2 and all(e["status"] == "pending" for e in rec["journal"]),
              "the journal holds two pending calls while it waits", rec["journal"])
        kids2 = list(rec["children"])
        h.kill9()
        print("   kill -9 #1: workflow waiting, both children running")
        h.restart()
        rec = h.execution(p2)
        check_eq(rec["state"], "waiting", "after the restart the workflow still waits")
        check_eq(sorted(rec["children"]), sorted(kids2), "the restart made no new child")

        # The child's outcome lands in the parent's call entry in the commit that finishes the child.
        def one_settled(d):
            return d["state"] == "waiting" and [e["status"] for e in d["journal"]] == ["succeeded", "pending"]

        rec = h.wait_for(p2, one_settled, "the welcome email settles (in the journal) while the import runs", timeout=10)
        kid_states = {h.execution(c)["function"]: h.execution(c)["state"] for c in rec["children"]}
        check_eq(kid_states, {CHILDREN[0]: "succeeded", CHILDREN[1]: "running"},
                 "the journal has the settled child and the pending one")
        h.kill9()
        print("   kill -9 #2: workflow waiting with one child settled, one running")
        h.restart()
        rec = h.wait_final(p2, timeout=30)
        check_eq(rec["state"], "succeeded", "workflow 2 succeeded after two kills")
        check_result(rec, 2, "bob@example.com")
        check_journal(rec, 2, ("pending",))
        check_children_listing(h, rec)
        check_eq(count(fx, "mark_onboarded", 2), 1, "the step ran once for user 2")
        for kind in ("welcome_email", "contacts_imported"):
            n = count(fx, kind, 2)
            check(1 <= n <= 3, "%s for user 2 recorded %d time(s): at least once, at most once per run (kills + 1)" % (kind, n))
        contacts = children_by_function(h, rec)[CHILDREN[1]][0]
        print("   the import child: attempts %s" % contacts["attempts"])
        later2 = check_later(h, rec)

        # ---- 3. kill -9 during the day of waiting; reschedule to now --------------------------
        due = {c["id"]: time_ms(c["scheduled_at"]) for c in (later1, later2)}
        h.kill9()
        print("   kill -9 #3: during the day of waiting")
        h.restart()
        for pid in (p1, p2):
            parent = h.execution(pid)
            check_eq(parent["state"], "succeeded", "after the restart, %s is still succeeded" % pid)
            later = check_later(h, parent)
            check_eq(time_ms(later["scheduled_at"]), due[later["id"]], "the delayed child's due time survived the kill")
        check_eq(sum(1 for k, _ in effects(fx) if k == "tutorials_email"), 0, "no tutorial email before its day")

        for uid, later in ((1, later1), (2, later2)):
            t_patch = time.time()
            status, doc = h.reschedule(later["id"], {})
            check(status == 200, "PATCH .../schedule {} on the delayed child -> 200", (status, doc))
            c = h.wait_final(later["id"], timeout=30)
            check_eq(c["state"], "succeeded", "the delayed child ran after the reschedule, a day early")
            started = time_ms(c["started_at"]) / 1000.0
            check(started >= t_patch - 0.001, "it started after the PATCH, not before (%+.0f ms)" % ((started - t_patch) * 1000), c)
            check_eq(c["result"], {"sent": True, "to": args1["email"] if uid == 1 else args2["email"]},
                     "the tutorial email went out")
            check_eq(count(fx, "tutorials_email", uid), 1, "one tutorials_email line for user %d" % uid)
            status, doc = h.reschedule(later["id"], {})
            harness.check_error(status, doc, 409, "not_reschedulable", "a second reschedule of the finished child")

        time.sleep(0.3)  # nothing may run twice after the fact
        totals = collections.Counter(k for k, _ in effects(fx))
        check_eq(totals["tutorials_email"], 2, "two tutorial emails in all")
        check_eq(totals["mark_onboarded"], 2, "two marks in all: each workflow's step ran once")
        for pid, uid, email in ((p1, 1, args1["email"]), (p2, 2, args2["email"])):
            parent = h.execution(pid)
            check_eq(parent["state"], "succeeded", "workflow %d is succeeded" % uid)
            check_result(parent, uid, email)
            check_journal(parent, uid, ("succeeded",))
            check_children_listing(h, parent)
        print("summary: 2 workflows, 3 kills, effects %s" % dict(totals))


harness.run(main)
