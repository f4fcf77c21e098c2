"""Reload under load: two new versions of a plugin while 2,000+ executions are in flight.

Plugin "rl" (tests/plugins/rl_common.h) comes in three builds, rl_v1/v2/v3.c, whose
functions put their version number in every result; a build's content hash is known in
advance (harness.plugin_hash), so each record's plugin.hash says which code it is pinned to.

v1 is installed as rl.so, then (4 connections at once):
  - rl_flow {"sleep": "1h"}                         workflows waiting on a timer;
  - rl_flow {"child_delay": "1h"}                   workflows waiting on a child that is
                                                    scheduled in an hour (the child never ran);
  - rl_flow {"child_ms": 20, "sleep": "1h", "after": true}
                                                    a child that runs now, then a timer, then
                                                    a child created after both reloads;
  - rl_leaf {"ms": 5}                               plain functions queued and running;
  - rl_leaf {"ms": 1} with delay 1h                 plain functions scheduled;
  - rl_leaf {"ms": 5000}                            long ones, running on workers when the
                                                    reload lands.
Then, with 2,000+ of them unfinished, v2 replaces rl.so and the host gets SIGHUP; a new
batch is triggered on v2 (long leaves running again); v3 replaces rl.so and `tarry reload`
loads it; a last batch on v3. Every timer and every scheduled execution is then moved to now
(PATCH .../schedule {}) until everything is final. Checks:
  - after each reload, new triggers run the new code (rl_version answers the new number);
  - while they are in flight, GET /v1/plugins lists the older versions as pinned;
  - every execution (children included) succeeded: none failed, none blocked;
  - every top-level execution runs the version current when it was triggered: its record's
    plugin.hash is that build's, and its result's version is that build's number, also
    for ones that were queued (not yet started) when the reload came, and for the long
    functions running during it;
  - every child's result version matches its own record's plugin.hash; a child runs the
    version current when it was created (never older than its parent's), and the children
    created after the last reload run v3.
"""

import concurrent.futures
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

CONNS = 4
LONG_MS = 5000  # long enough to be still running after the SIGHUP reload, whatever the load
# The rollback's functions: long enough that a reload which waited for them could not answer
# before they finish, whatever the machine's load.
BUSY_MS = 6000


def main():
    hashes = {v: harness.plugin_hash("rl_v%d" % v) for v in (1, 2, 3)}
    version_of = {h: v for v, h in hashes.items()}
    check_eq(len(version_of), 3, "the three builds of rl have different content hashes")

    with harness.Host(plugins=[("rl_v1", "rl.so")], workers=6) as h:
        local = threading.local()
        pool = concurrent.futures.ThreadPoolExecutor(CONNS)

        def client():
            if not hasattr(local, "c"):
                local.c = h.new_client()
            return local.c

        def trigger_one(job):
            function, body = job
            status, doc, _ = client().post("/v1/functions/%s/executions" % function, body)
            if status != 202:
                raise harness.CheckFailed("trigger %s %r: want 202, got %s %r" % (function, body, status, doc))
            return doc["id"]

        def trigger_many(jobs):
            return list(pool.map(trigger_one, jobs))

        triggered = {}  # id -> (version current at the trigger, what)

        def batch(version, spec):
            t0 = time.monotonic()
            n = 0
            for what, function, body, count in spec:
                for eid in trigger_many([(function, body)] * count):
                    triggered[eid] = (version, what)
                n += count
            print("   triggered %d executions on v%d in %.1fs" % (n, version, time.monotonic() - t0), flush=True)

        def serves(version, what):
            status, doc = h.trigger("rl_version", wait="10s")
            check(status == 200 and doc.get("result") == {"version": version} and doc["plugin"]["hash"] == hashes[version],
                  "%s: a new trigger runs v%d" % (what, version), (status, doc))

        def long_leaves(version, n=3, ms=LONG_MS):
            ids = trigger_many([("rl_leaf", {"args": {"ms": ms}})] * n)
            for eid in ids:
                triggered[eid] = (version, "long rl_leaf")
            for eid in ids:
                h.wait_state(eid, "running", timeout=10)
            return ids

        def unfinished():
            items, _ = h.list_all(limit=1000)
            return [e for e in items if e["state"] not in harness.FINAL_STATES]

        serves(1, "at start")
        batch(1, [
            ("flow sleeping", "rl_flow", {"args": {"sleep": "1h"}}, 600),
            ("flow awaiting a delayed child", "rl_flow", {"args": {"child_delay": "1h"}}, 500),
            ("flow child+sleep+child", "rl_flow", {"args": {"child_ms": 20, "sleep": "1h", "after": True}}, 200),
            ("leaf", "rl_leaf", {"args": {"ms": 5}}, 300),
            ("leaf delayed", "rl_leaf", {"args": {"ms": 1}, "delay": "1h"}, 300),
        ])
        long_v1 = long_leaves(1)
        in_flight = unfinished()
        states = {}
        for e in in_flight:
            states[e["state"]] = states.get(e["state"], 0) + 1
        print("   in flight before the first reload: %d %r" % (len(in_flight), states), flush=True)
        check(len(in_flight) >= 2000, "2,000+ executions are in flight when v2 arrives", len(in_flight))

        # ---- reload 1: SIGHUP -------------------------------------------------------------
        h.install("rl_v2", "rl.so")
        h.sighup()
        took = h.wait_current("rl", hashes[2], timeout=30)
        print("   SIGHUP: v2 current after %.0f ms" % (took * 1000))
        check_eq(h.current_hash("rl"), hashes[2], "SIGHUP: v2 is current")
        serves(2, "after SIGHUP")
        for eid in long_v1:
            rec = h.execution(eid)
            check(rec["state"] == "running" and rec["plugin"]["hash"] == hashes[1],
                  "a long rl_leaf started on v1 is still running through the reload", rec)
        batch(2, [
            ("flow sleeping", "rl_flow", {"args": {"sleep": "1h"}}, 100),
            ("flow awaiting a delayed child", "rl_flow", {"args": {"child_delay": "1h"}}, 100),
            ("leaf delayed", "rl_leaf", {"args": {"ms": 1}, "delay": "1h"}, 50),
        ])
        long_v2 = long_leaves(2)

        # ---- reload 2: tarry reload -------------------------------------------------------
        h.install("rl_v3", "rl.so")
        cli = h.cli("reload")
        print(cli.stdout, end="")
        check(cli.returncode == 0 and "loaded" in cli.stdout, "`tarry reload` loads v3 and exits 0",
              (cli.returncode, cli.stdout, cli.stderr))
        check_eq(h.current_hash("rl"), hashes[3], "v3 is current")
        serves(3, "after tarry reload")
        pinned = sorted(p["hash"] for p in h.plugins() if p.get("state") == "pinned" and p.get("name") == "rl")
        check_eq(pinned, sorted([hashes[1], hashes[2]]), "GET /v1/plugins lists v1 and v2 as pinned")
        batch(3, [
            ("flow child+sleep+child", "rl_flow", {"args": {"child_ms": 1, "sleep": "1h", "after": True}}, 50),
            ("leaf", "rl_leaf", {"args": {"ms": 1}}, 50),
        ])

        # ---- let everything finish ---------------------------------------------------------
        def wake(e):
            status, doc, _ = client().call("PATCH", "/v1/executions/%s/schedule" % e["id"], {})
            # A timer may fire or a run may start between the list and the PATCH: 409 is fine.
            if status not in (200, 409):
                raise harness.CheckFailed("PATCH schedule of %s: got %s %r" % (e["id"], status, doc))
            return status

        # Fails only when nothing became final for 60 s: how fast 3,000 wake-ups commit depends
        # on the store (PostgreSQL's commits are slower than LMDB's) and on the machine's load.
        deadline = time.monotonic() + 60
        woken, fewest = 0, None
        while True:
            left = unfinished()
            if not left:
                break
            if fewest is None or len(left) < fewest:
                fewest, deadline = len(left), time.monotonic() + 60
            elif time.monotonic() > deadline:
                raise harness.CheckFailed("FAILED: %d executions are not final, none became final in 60 s: %r"
                                          % (len(left), left[:3]))
            check(not [e for e in left if e["state"] == "blocked"], "no execution is blocked",
                  [e for e in left if e["state"] == "blocked"][:3])
            due = [e for e in left if e["state"] == "scheduled" or (e["state"] == "waiting" and e.get("wake_at"))]
            woken += sum(1 for s in pool.map(wake, due) if s == 200)
            time.sleep(0.2)
        print("   moved %d timers and schedules to now; everything is final" % woken, flush=True)

        # ---- every execution on its version -------------------------------------------------
        items, _ = h.list_all(limit=1000)
        by_id = {e["id"]: e for e in items}
        bad = [e for e in items if e["state"] != "succeeded"]
        check(not bad, "all %d executions (children included) succeeded" % len(items), bad[:3])
        check(set(triggered) <= set(by_id), "every triggered execution is listed")
        wrong = []
        for eid, (version, what) in triggered.items():
            e = by_id[eid]
            if e["plugin"]["hash"] != hashes[version] or e["result"]["version"] != version:
                wrong.append((what, version, e))
        check(not wrong, "every one of the %d triggered executions ran the version current at its trigger "
              "(record hash and result)" % len(triggered), wrong[:3])
        counts = {}
        for version, _ in triggered.values():
            counts[version] = counts.get(version, 0) + 1
        print("   triggered per version: %r" % counts)

        children = [e for e in items if e.get("parent_id")]
        wrong, child_versions = [], {}
        for c in children:
            parent = by_id[c["parent_id"]]
            v = version_of.get(c["plugin"]["hash"])
            child_versions[v] = child_versions.get(v, 0) + 1
            if v is None or c["result"]["version"] != v or v < version_of[parent["plugin"]["hash"]]:
                wrong.append((c, parent))
            pres = parent["result"]
            if c["result"] not in (pres.get("first"), pres.get("after")):
                wrong.append(("the parent's result does not hold the child's", c, parent))
        check(not wrong, "every one of the %d children ran the version its record names, never older than "
              "its parent's, and its parent's result holds it" % len(children), wrong[:3])
        print("   children per version: %r" % child_versions)
        after = [c for c in children if by_id[c["parent_id"]]["result"]["after"] == c["result"]]
        check(after and all(version_of[c["plugin"]["hash"]] == 3 for c in after),
              "the %d children created after the last reload ran v3" % len(after))

        # ---- a reload does not wait for long-running functions --------------------------------
        # Every worker is busy with a long function; rolling back to v1 (a version loaded
        # before) must answer while they still run (not after they finish) and serve the next
        # trigger, while the running ones finish on v3.
        busy = long_leaves(3, n=h.workers, ms=BUSY_MS)
        h.install("rl_v1", "rl.so")
        t0 = time.monotonic()
        status, doc = h.reload()
        took = time.monotonic() - t0
        states = [h.execution(eid)["state"] for eid in busy]
        rl = [e for e in doc["data"] if str(e.get("file", "")).endswith("/rl.so")]
        print("   rollback reload with all %d workers busy: %.0f ms, rl.so %r" % (h.workers, took * 1000, rl))
        check(status == 200 and doc.get("errors") == 0 and rl and rl[0]["hash"] == hashes[1],
              "rolling back to v1 by reinstalling its .so reloads without errors", (status, doc))
        check_eq(states, ["running"] * h.workers,
                 "the reload answered while every worker still ran its %d ms function" % BUSY_MS)
        check_eq(h.current_hash("rl"), hashes[1], "v1 is current again")
        for eid in busy:
            rec = h.wait_final(eid, timeout=30)
            check(rec["state"] == "succeeded" and rec["result"]["version"] == 3 and rec["plugin"]["hash"] == hashes[3],
                  "a function running during the rollback finishes on v3", rec)
        serves(1, "after the rollback")
        pool.shutdown()

        # ---- old versions are unloaded once nothing unfinished uses them ----------------------
        # Every execution pinned to v2 or v3 is final now: within the debounce (1 s) both are
        # closed, and only the current v1 is listed.
        deadline = time.monotonic() + 10
        while True:
            pinned = [e for e in h.plugins() if e.get("state") == "pinned"]
            if not pinned or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check_eq(pinned, [], "no old version stays loaded once its executions are final")
        check("no unfinished execution uses it any more; unloading it" in h.log_text(),
              "the host log says it unloaded them")


harness.run(main)
