"""A wave of timers due together runs on every host, not on the first to wake.

Two hosts on one PostgreSQL store, two workers each. 120 executions of testfns `slow` (100 ms
each) are triggered on host A alone, all with one run_at a few seconds ahead (a delayed start
any host may fire). Host B is told of the new timers (NOTIFY t) and arms its own timer for
them; at the run_at each host claims its part of the wave (ceil(due / live hosts)), and what a
host leaves is the other's for a moment:
  - every execution succeeds, in one attempt, at or after its run_at;
  - each host ran at least a quarter of them (before, host A claimed the whole wave and B ran
    none);
  - the time from the run_at to the last end is printed (the wave on two hosts' four workers),
    not asserted.
"""

import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

N = 120
SLOW_MS = 100
AHEAD_S = 5


def main():
    name, url = harness.new_pg_store()
    pg = harness.pg_cluster()
    with harness.Host(plugins=["testfns"], workers=2, store_url=url) as a, \
            harness.Host(plugins=["testfns"], workers=2, store_url=url) as b:
        ids = {"A": a.host_id(), "B": b.host_id()}
        due_ms = int((time.time() + AHEAD_S) * 1000)
        due = due_ms / 1000.0
        run_at = harness.rfc3339(due)
        execs = [a.trigger_ok("slow", {"ms": SLOW_MS}, run_at=run_at) for _ in range(N)]
        print("all %d triggered %.2f s before their run_at" % (N, due - time.time()), flush=True)
        for x in execs:
            check_eq(a.wait_final(x, timeout=60).get("state"), "succeeded", "execution %s succeeded" % x)
        rows = pg.psql(name, "SELECT e.id, count(a.exec_id), min(a.host_id), tarry_ms(min(a.started_at)), "
                             "tarry_ms(max(a.finished_at)) FROM executions e JOIN attempts a ON a.exec_id = e.id "
                             "GROUP BY e.id")
        check_eq(sorted(r[0] for r in rows), sorted(execs), "every execution has its attempt recorded")
        check(all(r[1] == "1" for r in rows), "each ran in one attempt", [r for r in rows if r[1] != "1"])
        check(all(int(r[3]) >= due_ms for r in rows), "none started before its run_at")
        ran = {who: sum(1 for r in rows if r[2] == hid) for who, hid in ids.items()}
        last = max(int(r[4]) for r in rows) / 1000.0
        print("ran on A: %d, on B: %d; the wave took %.2f s from its run_at (%d x %d ms on 4 workers: %.2f s at "
              "least)" % (ran["A"], ran["B"], last - due, N, SLOW_MS, N * SLOW_MS / 4000.0), flush=True)
        check(min(ran.values()) >= N // 4, "each host ran at least a quarter of the wave", ran)


harness.run(main)
