"""Nondeterminism: a plugin's code changes under a sleeping workflow.

wfnd v1 (tests/plugins/wf_nd_v1.c) is installed as wfnd.so; three executions of nd
(step "a", sleep "1h", step "b") are triggered and reach `waiting`. The host is killed
(kill -9), wfnd.so is replaced by the v2 build (same plugin name and version) and the host
restarts. Each execution is pinned to the version it started on: after the restart they
still run v1, loaded from the version store. Each is then moved to v2 explicitly (POST
.../upgrade) and every sleep is moved to now (PATCH .../schedule {}). The
upgrade of "name" and "kind" is first refused at once (409 would_block, the position named:
their journals do not fit v2), then forced (`"force": true`), so the engine's own check is
what blocks them here. Then:

- variant "name" (v2 issues step "x" where the journal has step "a") is `blocked` with
  "nondeterminism at step 0: journal has step a..., code issued step x...";
- variant "kind" (v2 issues step "b" where the journal has the sleep) is `blocked` with
  "nondeterminism at step 1", naming the sleep and step "b";
- variant "same" (v2 issues v1's commands) replays cleanly and succeeds with v2's result.

Blocked is not failed: no finished_at, the journal is as v1 left it, and the execution
stays blocked (it is not retried in a loop) also across another restart. An upgrade back
to v1 unblocks them: they replay on v1 and succeed.
"""

import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error


def main():
    with harness.Host(plugins=[("wf_nd_v1", "wfnd.so")], workers=2) as h:
        ids = {}
        for variant in ("name", "kind", "same"):
            ids[variant] = h.trigger_ok("nd", {"variant": variant})
        for variant, eid in ids.items():
            rec = h.wait_state(eid, "waiting", timeout=10)
            check_eq([(e["kind"], e["name"], e["status"]) for e in rec["journal"]],
                     [("step", "a", "succeeded"), ("sleep", "1h", "pending")],
                     "v1 nd (%s) sleeps with step a recorded" % variant)
        before = {v: h.execution(eid)["journal"] for v, eid in ids.items()}

        v1 = h.execution(ids["name"])["plugin"]["hash"]
        h.kill9()
        shutil.copyfile(harness.plugin_path("wf_nd_v2"), os.path.join(h.plugins_dir, "wfnd.so"))
        h.restart()
        _, plugins, _ = h.client.call("GET", "/v1/plugins")
        current = [p["hash"] for p in plugins["data"] if p.get("state") == "loaded"]
        pinned = [p["hash"] for p in plugins["data"] if p.get("state") == "pinned"]
        check(current and current[0] != v1, "the folder's v2 is the current version", plugins)
        check_eq(pinned, [v1], "v1 is loaded again from the version store for the pinned executions")
        for variant, eid in ids.items():
            rec = h.execution(eid)
            check_eq((rec["state"], rec["plugin"]["hash"]), ("waiting", v1),
                     "after the swap and restart, %s still sleeps, pinned to v1" % variant)
            if variant != "same":
                # Checked at once: the journal does not fit v2, so the upgrade is refused and nothing moves.
                status, doc, _ = h.client.call("POST", "/v1/executions/%s/upgrade" % eid, {})
                check_error(status, doc, 409, "would_block", "a plain upgrade of %s to v2 is refused" % variant,
                            ("step %d" % (0 if variant == "name" else 1), "journal has"))
                check_eq(h.execution(eid)["plugin"]["hash"], v1, "refused, %s stays on v1" % variant)
            # Forced, it moves unchecked: the engine's own determinism check blocks it when it replays.
            status, doc, _ = h.client.call("POST", "/v1/executions/%s/upgrade" % eid,
                                           {"force": True} if variant != "same" else {})
            check(status == 200 and doc["plugin"]["hash"] == current[0], "upgrade moves %s to v2" % variant,
                  (status, doc))
            status, doc = h.reschedule(eid, {})
            check(status == 200, "PATCH .../schedule {} wakes %s" % variant, (status, doc))

        # ---- the two changed variants are blocked, with the message ------------------
        expect = {
            "name": (0, r"journal has\W+step\W+a\b", r"code issued\W+step\W+x\b"),
            "kind": (1, r"journal has\W+sleep\b", r"code issued\W+step\W+b\b"),
        }
        for variant, (seq, has, issued) in expect.items():
            eid = ids[variant]
            rec = h.wait_for(eid, lambda d: d["state"] not in ("waiting", "queued", "running"),
                             "%s leaves waiting after the reschedule" % variant, timeout=10)
            check_eq(rec["state"], "blocked", "variant %s is blocked, not failed" % variant)
            err = rec.get("error") or ""
            print("   %s: %s" % (variant, err))
            check("nondeterminism at step %d" % seq in err, "the error says nondeterminism at step %d" % seq, err)
            check(re.search(has, err) and re.search(issued, err), "the error names both commands", err)
            check_eq(rec["finished_at"], None, "a blocked execution is not finished")
            check_eq(rec["journal"][:1], before[variant][:1], "the journal's recorded step is untouched")
            check_eq(len(rec["journal"]), 2, "no command of the new code was recorded")

        # ---- the compatible change replays cleanly --------------------------------------
        rec = h.wait_final(ids["same"], timeout=10)
        check_eq(rec["state"], "succeeded", "variant same (v1's commands) replays cleanly on v2")
        check_eq(rec["result"], {"version": 2, "variant": "same"}, "and finishes with v2's result")
        check_eq([(e["kind"], e["name"], e["status"]) for e in rec["journal"]],
                 [("step", "a", "succeeded"), ("sleep", "1h", "succeeded"), ("step", "b", "succeeded")],
                 "its journal: step a, sleep, step b")

        # ---- blocked stays blocked: not retried in a loop, also across a restart -----------
        attempts = {v: h.execution(ids[v])["attempts"] for v in expect}
        time.sleep(1.0)
        for variant in expect:
            rec = h.execution(ids[variant])
            check(rec["state"] == "blocked" and rec["attempts"] == attempts[variant],
                  "%s stays blocked without new attempts" % variant, rec)
        h.kill9()
        h.restart()
        time.sleep(0.5)
        for variant in expect:
            rec = h.execution(ids[variant])
            check_eq(rec["state"], "blocked", "%s is still blocked after another restart" % variant)
        listed, _ = h.list_all("state=blocked")
        check_eq(sorted(e["id"] for e in listed), sorted(ids[v] for v in expect), "state=blocked lists exactly the two")

        # ---- an upgrade back to the version that wrote the journal unblocks them --------
        for variant in expect:
            status, doc, _ = h.client.call("POST", "/v1/executions/%s/upgrade" % ids[variant], {"to": v1})
            check(status == 200, "upgrade %s back to v1" % variant, (status, doc))
            rec = h.wait_final(ids[variant], timeout=10)
            check_eq((rec["state"], rec["result"]["version"]), ("succeeded", 1), "%s replays on v1 and succeeds" % variant)


harness.run(main)
