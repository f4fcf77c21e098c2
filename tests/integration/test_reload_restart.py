"""Restarts across plugin versions, and tarry_patched.

Plugin "rl" (tests/plugins/rl_common.h; builds rl_v1/v2/v3.c answer {"version": N}) and
plugin "rlp" (tests/plugins/rlp_common.h; rlp_v1.c, and rlp_v2.c which adds
`if (tarry_patched(ctx, "extra")) call rlp_extra` between step "a" and the sleep).

1. On v1: rl_flow workflows sleep an hour (one calls a child after waking), one awaits a child
   scheduled in an hour (that child never ran), an rl_leaf is scheduled in an hour, and two
   rlp_flow workflows sleep after step "a".
2. The host is killed (kill -9), rl.so is replaced by v2 and rlp.so by rlp v2, and it restarts.
   GET /v1/plugins: v2 current, v1 pinned (loaded again from <data>/plugins/<hash>.so, which
   exists). New triggers run v2. Every v1 execution is still pinned to v1; moved to now, each
   finishes with v1's result (the code that ran is the old one); the child created after the
   restart runs v2.
3. tarry_patched: one old rlp_flow is upgraded to rlp v2 (POST .../upgrade) and woken: its
   journal has the sleep where v2 asks tarry_patched("extra"), so it takes the old path (no
   marker, no call) and succeeds with v2's result and "extra": null. The other stays on v1 and
   succeeds with v1's. A new rlp_flow on v2 takes the new path: its journal has a "patch" entry
   named "extra", then the call of rlp_extra.
4. With rl v2 executions sleeping, the host is stopped (SIGTERM), rl.so is deleted and it
   restarts: rl's functions answer 404, v2 is listed as pinned (v1 is not: nothing is pinned
   to it any more), the new rlp_flow replays through its marker after the restart, and every
   pinned execution finishes on its version.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def main():
    rl = {v: harness.plugin_hash("rl_v%d" % v) for v in (1, 2)}
    rlp = {v: harness.plugin_hash("rlp_v%d" % v) for v in (1, 2)}
    with harness.Host(plugins=[("rl_v1", "rl.so"), ("rlp_v1", "rlp.so")], workers=2) as h:

        def serves(version, what):
            status, doc = h.trigger("rl_version", wait="10s")
            check(status == 200 and doc.get("result") == {"version": version} and doc["plugin"]["hash"] == rl[version],
                  "%s: a new trigger runs rl v%d" % (what, version), (status, doc))

        def kinds(rec):
            return [(e["kind"], e["name"]) for e in rec["journal"]]

        def wake_and_finish(eid, what):
            status, doc = h.reschedule(eid, {})
            check(status == 200, "PATCH .../schedule {} wakes %s" % what, (status, doc))
            rec = h.wait_final(eid, timeout=10)
            check_eq(rec["state"], "succeeded", "%s succeeds" % what)
            return rec

        # ---- 1. work pinned to v1 -------------------------------------------------------------
        serves(1, "at start")
        flow = h.trigger_ok("rl_flow", {"sleep": "1h"})
        flow_after = h.trigger_ok("rl_flow", {"sleep": "1h", "after": True})
        flow_child = h.trigger_ok("rl_flow", {"child_delay": "1h"})
        leaf = h.trigger_ok("rl_leaf", {"ms": 1}, delay="1h")
        p_upgraded = h.trigger_ok("rlp_flow")
        p_stays = h.trigger_ok("rlp_flow")
        for eid in (flow, flow_after, flow_child, p_upgraded, p_stays):
            h.wait_state(eid, "waiting", timeout=10)
        child = h.execution(flow_child)["children"][0]
        check_eq(h.execution(child)["state"], "scheduled", "rl_flow's delayed child is scheduled (never ran)")
        for eid in (p_upgraded, p_stays):
            check_eq(kinds(h.execution(eid)), [("step", "a"), ("sleep", "1h")], "rlp v1 journal: step a, sleep")

        # ---- 2. replaced while down: kill -9, new .so files, restart ----------------------------
        h.kill9()
        h.install("rl_v2", "rl.so")
        h.install("rlp_v2", "rlp.so")
        h.restart()
        listed = h.plugins()
        print("   GET /v1/plugins: %r" % [(p.get("name"), p.get("hash"), p.get("state")) for p in listed])
        check_eq(h.current_hash("rl"), rl[2], "after the restart rl v2 (the folder's) is current")
        check_eq(h.current_hash("rlp"), rlp[2], "and rlp v2")
        pinned = sorted(p["hash"] for p in listed if p.get("state") == "pinned")
        check_eq(pinned, sorted([rl[1], rlp[1]]), "rl v1 and rlp v1 are loaded again for their pinned executions")
        for version_hash in (rl[1], rl[2], rlp[1], rlp[2]):
            path = os.path.join(h.data_dir, "plugins", version_hash + ".so")
            check(os.path.isfile(path), "the version store holds %s" % path)
        check("loaded from the version store" in h.log_text(), "the log says v1 came from the version store")
        serves(2, "after the restart")
        for eid in (flow, flow_after, flow_child, child, leaf):
            rec = h.execution(eid)
            check(rec["state"] in ("waiting", "scheduled") and rec["plugin"]["hash"] == rl[1],
                  "%s (%s) is still pinned to v1" % (eid, rec["function"]), rec)
        v2_flow = h.trigger_ok("rl_flow", {"sleep": "1h"})
        v2_leaf = h.trigger_ok("rl_leaf", {"ms": 1}, delay="1h")
        h.wait_state(v2_flow, "waiting", timeout=10)

        for eid, what in ((flow, "rl_flow (sleep)"), (leaf, "the delayed rl_leaf")):
            rec = wake_and_finish(eid, "v1 " + what)
            check_eq((rec["result"]["version"], rec["plugin"]["hash"]), (1, rl[1]), "v1 %s ran v1's code" % what)
        rec = wake_and_finish(child, "the v1 child that never ran before the restart")
        check_eq((rec["result"]["version"], rec["plugin"]["hash"]), (1, rl[1]), "the v1 child ran v1's code")
        rec = h.wait_final(flow_child, timeout=10)
        check(rec["state"] == "succeeded" and rec["result"]["version"] == 1 and rec["result"]["first"]["version"] == 1,
              "its parent resumes on v1 and succeeds with v1's result", rec)
        rec = wake_and_finish(flow_after, "v1 rl_flow with a child after waking")
        after_child = h.execution(rec["children"][-1])
        check(rec["result"]["version"] == 1 and after_child["plugin"]["hash"] == rl[2]
              and rec["result"]["after"] == {"version": 2, "ms": 0},
              "it ran v1's code; its child, created after the restart, ran the current v2", (rec, after_child))

        # ---- 3. tarry_patched ----------------------------------------------------------------------
        p_new = h.trigger_ok("rlp_flow")
        # It waits twice: first for its child, then in its sleep; the second is the one checked.
        rec = h.wait_for(p_new, lambda d: d.get("state") == "waiting" and any(e["kind"] == "sleep" for e in d.get("journal", [])),
                         "%s sleeps after its patched call" % p_new, timeout=10)
        check_eq(rec["plugin"]["hash"], rlp[2], "a new rlp_flow starts on rlp v2")
        check_eq(kinds(rec), [("step", "a"), ("patch", "extra"), ("call", "rlp_extra"), ("sleep", "1h")],
                 "its journal: step a, the patch marker \"extra\", the call, the sleep")
        check_eq(rec["journal"][1]["status"], "succeeded", "the marker is a succeeded entry")

        status, doc = h.upgrade(p_upgraded)
        check(status == 200 and doc["plugin"]["hash"] == rlp[2], "upgrade moves an old rlp_flow to rlp v2", (status, doc))
        rec = wake_and_finish(p_upgraded, "the upgraded old rlp_flow")
        check_eq(rec["result"], {"version": 2, "extra": None}, "it ran v2's code, taking the old path (no extra)")
        check_eq(kinds(rec), [("step", "a"), ("sleep", "1h"), ("step", "b")], "no marker, no call in its journal")
        rec = wake_and_finish(p_stays, "the old rlp_flow left on v1")
        check_eq((rec["result"], rec["plugin"]["hash"]), ({"version": 1, "extra": None}, rlp[1]),
                 "it ran v1's code")

        # ---- 4. deleted while down: SIGTERM, no rl.so, restart ------------------------------------
        h.stop()
        h.uninstall("rl.so")
        h.restart()
        listed = h.plugins()
        print("   GET /v1/plugins: %r" % [(p.get("name"), p.get("hash"), p.get("state")) for p in listed])
        check_eq(h.current_hash("rl"), None, "after the restart without rl.so no rl version is current")
        pinned = sorted(p["hash"] for p in listed if p.get("state") == "pinned")
        check_eq(pinned, [rl[2]], "only rl v2 is loaded again: v1 has nothing pinned to it any more")
        status, body = h.trigger("rl_version", {})
        harness.check_error(status, body, 404, "function_not_found", "rl_version without rl.so",
                            message_has=("rl_version",))
        for eid, what in ((v2_flow, "rl_flow"), (v2_leaf, "the delayed rl_leaf")):
            rec = wake_and_finish(eid, "v2 %s after rl.so was deleted" % what)
            check_eq((rec["result"]["version"], rec["plugin"]["hash"]), (2, rl[2]),
                     "v2 %s ran v2's code from the version store" % what)
        rec = wake_and_finish(p_new, "the new rlp_flow after two restarts")
        check_eq(rec["result"], {"version": 2, "extra": {"extra": True, "version": 2}},
                 "it took the new path (rlp_extra's result)")
        check_eq(kinds(rec), [("step", "a"), ("patch", "extra"), ("call", "rlp_extra"), ("sleep", "1h"), ("step", "b")],
                 "its journal: step a, patch extra, call, sleep, step b")


harness.run(main)
