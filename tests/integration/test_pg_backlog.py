"""A host's backlog past its queue window is shared: hosts with room run it.

Two hosts on one PostgreSQL store. The first has one worker and a queue window of 4 (the least:
4 x workers); the second two workers and the default window. 24 executions of testfns `slow`
(200 ms each) are triggered on the first alone, as fast as it acknowledges them:
  - every one succeeds, each in exactly one attempt (none ran on both hosts);
  - the second host ran some of them (attempts.host_id): the first released what it could not
    keep in memory and told the others, and the second claimed it;
  - it takes well under the 4.8 s the first host alone would need (printed, not asserted);
  - once all are done the first host counts nothing queued (tarry_executions_queued 0): what the
    other host took is not counted as its backlog.
"""

import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

N = 24
SLOW_MS = 200


def main():
    name, url = harness.new_pg_store()
    pg = harness.pg_cluster()
    with harness.Host(plugins=["testfns"], workers=1, store_url=url,
                      extra_env={"TARRY_QUEUE_WINDOW": "4"}) as busy, \
            harness.Host(plugins=["testfns"], workers=2, store_url=url) as idle:
        ids = {"busy": busy.host_id(), "idle": idle.host_id()}
        started = time.monotonic()
        execs = [busy.trigger_ok("slow", {"ms": SLOW_MS}) for _ in range(N)]
        for x in execs:
            doc = busy.wait_final(x, timeout=60)
            check_eq(doc.get("state"), "succeeded", "execution %s succeeded" % x)
        took = time.monotonic() - started
        print("%d executions of %d ms: %.2f s (the busy host alone: %.1f s at least)"
              % (N, SLOW_MS, took, N * SLOW_MS / 1000.0), flush=True)

        rows = pg.psql(name, "SELECT exec_id, count(*), min(host_id) FROM attempts GROUP BY exec_id")
        attempts = {r[0]: (int(r[1]), r[2]) for r in rows}
        check_eq(sorted(attempts), sorted(execs), "every execution has its attempts recorded")
        check(all(n == 1 for n, _ in attempts.values()), "each ran in exactly one attempt",
              {x: n for x, (n, _) in attempts.items() if n != 1})
        ran = {who: sum(1 for _, h in attempts.values() if h == hid) for who, hid in ids.items()}
        print("ran on the busy host: %d, on the idle one: %d" % (ran["busy"], ran["idle"]), flush=True)
        check(ran["idle"] > 0, "the idle host ran some of the busy host's backlog", ran)
        check_eq(ran["busy"] + ran["idle"], N, "each ran on one of the two hosts")
        busy.wait_metric("tarry_executions_queued", 0, timeout=10)
        check(True, "the busy host counts nothing queued once all are done")


harness.run(main)
