"""Cancelling a workflow cancels what it started, also on the other hosts.

Two hosts on one PostgreSQL store. Host A (two workers, a queue window of 8) runs cancel_fanout,
which starts 24 children (cancel_loop: each runs until it sees tarry_is_cancelled(), or 120 s)
and awaits them all. A keeps 8 of the children in memory and releases the rest, which host B
(four workers) claims: some run there, the rest wait queued there. Then the parent is cancelled
on A, which holds it:
  - the cancel is answered 200, the parent is cancelled;
  - every child ends cancelled (one left running would end succeeded after its 120 s; the time
    is printed, not asserted): the ones A holds are cancelled by A, and
    for the ones B holds A's write is refused and B is asked to cancel them (the row's
    cancel_requested, NOTIFY), which it does: running ones see tarry_is_cancelled(), queued
    ones never start;
  - some of the children were B's (they ran there, or were queued there and never ran);
  - no child ran twice.
"""

import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

N = 24


def main():
    name, url = harness.new_pg_store()
    pg = harness.pg_cluster()
    with harness.Host(plugins=["cancel"], workers=2, store_url=url, extra_env={"TARRY_QUEUE_WINDOW": "8"}) as a, \
            harness.Host(plugins=["cancel"], workers=4, store_url=url) as b:
        ida, idb = a.host_id(), b.host_id()
        parent = a.trigger_ok("cancel_fanout", {"n": N, "child": "cancel_loop", "child_args": {"max_s": 120}})
        deadline = time.monotonic() + 30
        while True:
            held = dict(pg.psql(name, "SELECT lease_owner, count(*) FROM executions WHERE parent_id = '%s' "
                                      "AND lease_owner IS NOT NULL GROUP BY lease_owner" % parent))
            if int(held.get(idb, 0)) >= 4 and sum(int(v) for v in held.values()) == N:
                break
            check(time.monotonic() < deadline, "host B holds some of the children within 30 s", held)
            time.sleep(0.05)
        print("children held: A %s, B %s" % (held.get(ida, 0), held.get(idb, 0)), flush=True)
        children = [r[0] for r in pg.psql(name, "SELECT id FROM executions WHERE parent_id = '%s'" % parent)]
        check_eq(len(children), N, "the parent started its children")

        started = time.monotonic()
        status, doc, _ = a.client.call("POST", "/v1/executions/%s/cancel" % parent, {})
        check_eq((status, (doc or {}).get("state")), (200, "cancelled"), "the parent's cancel on A")
        states = {}
        for x in children:
            states[x] = b.wait_final(x, timeout=60).get("state")
        took = time.monotonic() - started
        print("all %d children final %.2f s after the cancel" % (N, took), flush=True)
        # a child B was not asked to cancel would run its 120 s and end succeeded
        check_eq(sorted(set(states.values())), ["cancelled"], "every child ends cancelled")

        rows = pg.psql(name, "SELECT e.id, count(a.exec_id), coalesce(min(a.host_id), ''), e.lease_owner IS NULL "
                             "FROM executions e LEFT JOIN attempts a ON a.exec_id = e.id WHERE e.parent_id = '%s' "
                             "GROUP BY e.id, e.lease_owner" % parent)
        ran_on_b = sum(1 for r in rows if r[2] == idb)
        print("children that ran on B: %d; that ran nowhere: %d" % (ran_on_b, sum(1 for r in rows if r[1] == "0")),
              flush=True)
        check(ran_on_b > 0, "some of the cancelled children were running on B", rows)
        check(all(int(r[1]) <= 1 for r in rows), "no child ran twice", rows)
        check(all(r[3] == "t" for r in rows), "no host holds a child any more", rows)


harness.run(main)
