"""Concurrency limits (a function's `concurrency` and `max_concurrency_action`), through the
real binary and the compiled plugin tests/plugins/limits.c, whose functions append
"start N PID T" and "end N PID T" lines to a file with one O_APPEND write each: the file's
line order is the order runs started and ended, so overlap and order are read from it, not
from timings.

- concurrency 1 runs one at a time, in trigger order, under a burst of triggers (also ?wait
  ones) mixed with an unlimited function;
- a limited function's queue does not hold up other functions;
- concurrency 2 never has three running;
- retries that come back (interval 0s) wait for a slot too;
- the limit and the order hold across a kill -9 in the middle of the queue;
- max_concurrency_action "cancel": a trigger while one runs is cancelled at once, with the
  reason; once the function is free again, a trigger runs.
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def events(path):
    """[(kind, n, pid)] in file order."""
    try:
        with open(path) as f:
            return [(w[0], int(w[1]), int(w[2])) for w in (line.split() for line in f) if w]
    except FileNotFoundError:
        return []


def max_overlap(evs):
    """The most runs that were started and not yet ended at once (runs of a dead engine end with it)."""
    running, most, last_pid = set(), 0, None
    for kind, n, pid in evs:
        if pid != last_pid:
            running = {r for r in running if r[1] == pid}  # a killed engine's runs are gone
            last_pid = pid
        if kind == "start":
            running.add((n, pid))
            most = max(most, len(running))
        else:
            running.discard((n, pid))
    return most


def check_one_at_a_time_in_order(evs, count, what):
    """Every run starts after the one before it ended; first starts are 0..count-1 in order."""
    check(max_overlap(evs) <= 1, "%s: never two running at once" % what, evs)
    first_starts = []
    for kind, n, _ in evs:
        if kind == "start" and n not in first_starts:
            first_starts.append(n)
    check_eq(first_starts, list(range(count)), "%s: runs start in trigger order" % what)
    ended = sorted({n for kind, n, _ in evs if kind == "end"})
    check_eq(ended, list(range(count)), "%s: every run ended" % what)


def main():
    with harness.Host(plugins=["limits"], workers=4) as h:
        # ---- the options as the API shows them -------------------------------------------
        status, doc, _ = h.get("/v1/functions")
        opts = {f["name"]: f["options"] for f in doc["data"]}
        check_eq((opts["lim_one"]["concurrency"], opts["lim_one"]["max_concurrency_action"]), (1, "queue"),
                 "lim_one: concurrency 1, queue")
        check_eq((opts["lim_cancel"]["concurrency"], opts["lim_cancel"]["max_concurrency_action"]), (1, "cancel"),
                 "lim_cancel: concurrency 1, cancel")
        check_eq(opts["unlimited"]["concurrency"], None, "unlimited: no limit")

        # ---- concurrency 1: one at a time, in trigger order, under a burst -----------------
        f1 = os.path.join(h.dir, "one.txt")
        ids = []
        for i in range(30):
            ids.append(h.trigger_ok("lim_one", {"file": f1, "n": i, "ms": 20}))
            h.trigger_ok("unlimited", {"n": i})
        for i in ids:
            check_eq(h.wait_final(i, timeout=120)["state"], "succeeded", "lim_one run succeeds")
        evs = events(f1)
        check_one_at_a_time_in_order(evs, 30, "concurrency 1, 30 triggers")
        print("   concurrency 1: 30 runs, one at a time, in trigger order")

        # ?wait triggers from 4 connections at once queue behind each other too (their order is
        # the order the host accepted them, so only the overlap is checked)
        f1w = os.path.join(h.dir, "one_wait.txt")
        answers = []

        def waiter(n):
            c = h.new_client()
            try:
                status, doc, _ = c.post("/v1/functions/lim_one/executions?wait=60s",
                                        {"args": {"file": f1w, "n": n, "ms": 50}})
                answers.append((status, doc.get("state") if isinstance(doc, dict) else doc))
            finally:
                c.close()

        threads = [threading.Thread(target=waiter, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check_eq(sorted(answers), [(200, "succeeded")] * 4, "4 ?wait triggers all succeed")
        check(max_overlap(events(f1w)) == 1, "4 ?wait triggers ran one at a time", events(f1w))

        # ---- a limited function's queue does not hold up the others ------------------------
        f2 = os.path.join(h.dir, "slow.txt")
        gate = os.path.join(h.dir, "gate")
        slow = [h.trigger_ok("lim_one", {"file": f2, "n": i, "gate": gate}) for i in range(8)]
        h.wait_state(slow[0], "running", timeout=30)
        status, doc = h.trigger("unlimited", {"n": 99}, wait="30s")
        check(status == 200 and doc.get("state") == "succeeded", "an unlimited function runs meanwhile", (status, doc))
        states = [h.execution(i)["state"] for i in slow]
        check(states[-1] == "queued",
              "the unlimited function finished while lim_one still had executions queued", states)
        # One waiting for the limit past its discard_after is discarded there, not run later.
        late = h.trigger_ok("lim_one", {"n": 100, "gate": gate}, discard_after="1s")
        doc = h.wait_final(late, timeout=30)
        check(doc["state"] == "discarded" and doc["attempts"] == 0 and "discard_after" in (doc["error"] or ""),
              "an execution held by the limit past its discard_after is discarded, never started", doc)
        open(gate, "w").close()
        for i in slow:
            h.wait_final(i, timeout=60)
        check_one_at_a_time_in_order(events(f2), 8, "concurrency 1 beside other work")

        # ---- concurrency 2 ---------------------------------------------------------------
        f3 = os.path.join(h.dir, "two.txt")
        two = [h.trigger_ok("lim_two", {"file": f3, "n": i, "ms": 100}) for i in range(10)]
        for i in two:
            check_eq(h.wait_final(i, timeout=60)["state"], "succeeded", "lim_two run succeeds")
        most = max_overlap(events(f3))
        check(most <= 2, "concurrency 2: never three running (most at once: %d)" % most, events(f3))
        print("   concurrency 2: at most %d at once" % most)

        # ---- retries that come back queue for a slot ----------------------------------------
        # Each first attempt fails and is retried at once (interval 0s): the retries come back
        # while the others run, and still never run beside them.
        f6 = os.path.join(h.dir, "flaky.txt")
        flaky = [h.trigger_ok("lim_flaky", {"file": f6, "n": i, "ms": 30}) for i in range(6)]
        for i in flaky:
            rec = h.wait_final(i, timeout=60)
            check(rec["state"] == "succeeded" and rec["attempts"] == 2, "lim_flaky succeeds at its 2nd attempt", rec)
        evs = events(f6)
        check_eq(len([e for e in evs if e[0] == "start"]), 12, "two attempts each ran")
        check(max_overlap(evs) <= 1, "retries respect concurrency 1: never two attempts at once", evs)

        # ---- across a kill -9 -------------------------------------------------------------
        f4 = os.path.join(h.dir, "restart.txt")
        queued = [h.trigger_ok("lim_one", {"file": f4, "n": i, "ms": 100}) for i in range(15)]
        deadline = time.monotonic() + 30
        while sum(1 for e in events(f4) if e[0] == "end") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        h.kill9()
        ran_before = sum(1 for e in events(f4) if e[0] == "end")
        h.start()
        for i in queued:
            check_eq(h.wait_final(i, timeout=120)["state"], "succeeded", "lim_one run succeeds after the restart")
        evs = events(f4)
        pids = []
        for _, _, pid in evs:
            if pid not in pids:
                pids.append(pid)
        check(len(pids) == 2, "runs happened in two engines (before and after the kill)", evs)
        check_one_at_a_time_in_order(evs, 15, "concurrency 1 across a kill -9")
        print("   kill -9 after %d of 15 runs: the rest ran one at a time, in order" % ran_before)

        # ---- max_concurrency_action "cancel" -------------------------------------------------
        f5 = os.path.join(h.dir, "cancel.txt")
        first = h.trigger_ok("lim_cancel", {"file": f5, "n": 0, "ms": 1500})
        h.wait_state(first, "running", timeout=30)
        status, doc = h.trigger("lim_cancel", {"file": f5, "n": 1})
        check(status == 202 and doc.get("state") == "cancelled",
              "a trigger at the limit is answered 202 with state cancelled", (status, doc))
        rec = h.execution(doc["id"])
        check(rec["state"] == "cancelled" and "concurrency 1" in (rec.get("error") or "")
              and "cancel" in rec["error"], "its error says why", rec)
        check(rec["started_at"] is None and rec["finished_at"] is not None, "it never started", rec)
        status, doc = h.trigger("lim_cancel", {"file": f5, "n": 2}, wait="5s")
        check(status == 200 and doc.get("state") == "cancelled", "a ?wait trigger at the limit: cancelled at once",
              (status, doc))
        check_eq(h.wait_final(first, timeout=30)["state"], "succeeded", "the running one succeeds")
        status, doc = h.trigger("lim_cancel", {"file": f5, "n": 3}, wait="30s")
        check(status == 200 and doc.get("state") == "succeeded", "once free, a trigger runs", (status, doc))
        check_eq([(k, n) for k, n, _ in events(f5)], [("start", 0), ("end", 0), ("start", 3), ("end", 3)],
                 "the cancelled ones never ran")


harness.run(main)
