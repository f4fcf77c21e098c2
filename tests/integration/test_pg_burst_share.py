"""A burst triggered on one host runs on every host's workers, not only past the queue window.

Two hosts on one PostgreSQL store, two workers each, the default queue window (10,000). Once each
host counts the other live (tarry_hosts_live 2), 120 executions of testfns `slow` (100 ms each)
are triggered on host A alone, as fast as it acknowledges them. With another host live, A keeps
in memory only what its workers start soon and releases the rest (NOTIFY q); B claims it as its
queue has room:
  - every execution succeeds, in exactly one attempt (none ran on both hosts);
  - each host ran at least a quarter of them (before, A kept all 120 in its queue window and B
    ran none);
  - once all are done A counts nothing queued;
  - the time from the first trigger to the last end is printed (120 x 100 ms on four workers:
    3 s at least; on A's two alone: 6 s), not asserted.
"""

import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

N = 120
SLOW_MS = 100


def main():
    name, url = harness.new_pg_store()
    pg = harness.pg_cluster()
    with harness.Host(plugins=["testfns"], workers=2, store_url=url) as a, \
            harness.Host(plugins=["testfns"], workers=2, store_url=url) as b:
        ids = {"A": a.host_id(), "B": b.host_id()}
        # each host learns of the other at its next heartbeat (a fifth of the lease)
        a.wait_metric("tarry_hosts_live", 2.0, timeout=30)
        b.wait_metric("tarry_hosts_live", 2.0, timeout=30)
        started = time.time()
        execs = [a.trigger_ok("slow", {"ms": SLOW_MS}) for _ in range(N)]
        for x in execs:
            check_eq(a.wait_final(x, timeout=60).get("state"), "succeeded", "execution %s succeeded" % x)
        rows = pg.psql(name, "SELECT exec_id, count(*), min(host_id), tarry_ms(max(finished_at)) FROM attempts "
                             "GROUP BY exec_id")
        check_eq(sorted(r[0] for r in rows), sorted(execs), "every execution has its attempt recorded")
        check(all(r[1] == "1" for r in rows), "each ran in exactly one attempt", [r for r in rows if r[1] != "1"])
        ran = {who: sum(1 for r in rows if r[2] == hid) for who, hid in ids.items()}
        last = max(int(r[3]) for r in rows) / 1000.0
        print("ran on A: %d, on B: %d; %.2f s from the first trigger to the last end (%d x %d ms: %.2f s on "
              "four workers, %.2f s on A's two)" % (ran["A"], ran["B"], last - started, N, SLOW_MS,
                                                    N * SLOW_MS / 4000.0, N * SLOW_MS / 2000.0), flush=True)
        check_eq(ran["A"] + ran["B"], N, "each ran on one of the two hosts")
        check(min(ran.values()) >= N // 4, "each host ran at least a quarter of the burst", ran)
        a.wait_metric("tarry_executions_queued", 0, timeout=10)
        check(True, "host A counts nothing queued once all are done")


harness.run(main)
