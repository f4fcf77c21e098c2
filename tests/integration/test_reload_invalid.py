"""Reload with a broken new version, and with the plugin removed.

Plugin "rl" (tests/plugins/rl_common.h; rl_v1/v2/v3.c are three builds whose functions
answer {"version": N}) is installed as rl.so next to testfns.so. A few executions are
pinned to v1 first: rl_flow workflows sleeping an hour (one of them calls a child after
waking) and an rl_leaf delayed by an hour.

1. Broken builds replace rl.so, one after another: a descriptor for ABI 999
   (rl_bad_abi), a .so with an undefined symbol (the existing missing_symbol test plugin,
   installed under rl.so's name), a build exporting rl_version twice (rl_dup), and one
   exporting `noop`, which testfns already provides (rl_clash). For each:
   POST /v1/plugins/reload answers 200 with errors >= 1 and rl.so's entry in state
   "error" naming the problem; `tarry reload` exits non-zero and prints the problem;
   v1 keeps serving new triggers (result version 1, record pinned to v1's hash) and
   testfns keeps serving noop.
2. The good v2 replaces it: errors 0, rl.so "loaded" with v2's hash; new triggers run v2;
   `tarry reload` then exits 0 and says "unchanged"; the v1 executions are still pinned to v1.
3. rl.so is deleted: the reload reports rl "removed"; its functions answer 404
   function_not_found naming the function; GET /v1/functions lists none of them; v1 and v2
   stay loaded ("pinned" in GET /v1/plugins) and every pinned execution, once its timer is
   moved to now, runs to completion on its own version, from the version store.
4. v3 is installed: it loads and serves.
"""

import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

RL_FUNCTIONS = ("rl_version", "rl_leaf", "rl_flow")


def main():
    hashes = {v: harness.plugin_hash("rl_v%d" % v) for v in (1, 2, 3)}
    version_of = {h: v for v, h in hashes.items()}
    with harness.Host(plugins=[("rl_v1", "rl.so"), "testfns"], workers=2) as h:

        def serves(version, what):
            status, doc = h.trigger("rl_version", wait="10s")
            check(status == 200 and doc.get("state") == "succeeded" and doc.get("result") == {"version": version}
                  and doc["plugin"]["hash"] == hashes[version],
                  "%s: a new trigger of rl_version runs v%d (pinned to %s)" % (what, version, hashes[version]),
                  (status, doc))
            status, doc = h.trigger("noop", wait="10s")
            check(status == 200 and doc.get("state") == "succeeded" and doc["plugin"]["name"] == "testfns",
                  "%s: testfns still serves noop" % what, (status, doc))

        check_eq(h.current_hash("rl"), hashes[1], "rl v1 is current at start")
        serves(1, "at start")

        # ---- executions pinned to v1 ------------------------------------------------------
        pinned = {}  # id -> (version, has an after-child)
        for after in (False, True):
            eid = h.trigger_ok("rl_flow", {"sleep": "1h", "after": after})
            pinned[eid] = (1, after)
        leaf_v1 = h.trigger_ok("rl_leaf", {"ms": 1}, delay="1h")
        for eid in pinned:
            h.wait_state(eid, "waiting", timeout=10)
        check_eq(h.execution(leaf_v1)["state"], "scheduled", "a delayed rl_leaf waits its turn on v1")

        # ---- broken builds never replace the good one ------------------------------------------
        broken = [
            ("rl_bad_abi", ("ABI 999",)),
            ("missing_symbol", ("undefined symbol", "tarry_test_symbol_nobody_defines")),
            ("rl_dup", ("duplicate function name", "rl_version")),
            ("rl_clash", ("noop", "already provided", "testfns")),
        ]
        for build, words in broken:
            h.install(build, "rl.so")
            status, doc = h.reload()
            check(status == 200 and isinstance(doc, dict) and isinstance(doc.get("data"), list),
                  "%s: POST /v1/plugins/reload -> 200 {data, errors}" % build, (status, doc))
            print("   reload answer: %r" % (doc,))
            check(doc.get("errors", 0) >= 1, "%s: the reload counts an error" % build, doc)
            rl = [e for e in doc["data"] if str(e.get("file", "")).endswith("/rl.so")]
            check(len(rl) == 1 and rl[0].get("state") == "error", "%s: rl.so's entry is in state error" % build, doc)
            err = rl[0].get("error") or ""
            missing = [w for w in words if w.lower() not in err.lower()]
            check(not missing, "%s: the error names the problem (%s)" % (build, ", ".join(words)), err)
            tf = [e for e in doc["data"] if str(e.get("file", "")).endswith("/testfns.so")]
            check(len(tf) == 1 and tf[0].get("state") in ("unchanged", "loaded"),
                  "%s: testfns.so is untouched by rl's failure" % build, doc)
            removed = [e for e in doc["data"] if e.get("state") == "removed"]
            check_eq(removed, [], "%s: the reload removes nothing" % build)
            serves(1, "after the %s reload" % build)
            listed = h.plugins()
            check(any(p.get("hash") == hashes[1] for p in listed),
                  "%s: GET /v1/plugins still lists v1 (%s), the version serving rl" % (build, hashes[1]), listed)
            cli = h.cli("reload")
            print("   tarry reload (exit %d):\n%s%s" % (cli.returncode, cli.stdout, cli.stderr))
            check(cli.returncode != 0, "%s: `tarry reload` exits non-zero" % build, cli.returncode)
            check(words[0].lower() in (cli.stdout + cli.stderr).lower(), "%s: `tarry reload` prints the error" % build,
                  cli.stdout + cli.stderr)
            cli = h.cli("reload", "--json")
            check(cli.returncode != 0, "%s: `tarry reload --json` exits non-zero too" % build, cli.returncode)
            serves(1, "after `tarry reload` of %s" % build)

        # ---- a good version loads ----------------------------------------------------------
        h.install("rl_v2", "rl.so")
        status, doc = h.reload()
        rl = [e for e in doc["data"] if str(e.get("file", "")).endswith("/rl.so")]
        check(status == 200 and doc.get("errors") == 0 and len(rl) == 1 and rl[0].get("state") == "loaded"
              and rl[0].get("hash") == hashes[2] and rl[0].get("version") == "2.0.0"
              and sorted(rl[0].get("functions", [])) == sorted(RL_FUNCTIONS),
              "v2: the reload answers errors 0, rl.so loaded as 2.0.0 (%s) with rl's functions" % hashes[2], (status, doc))
        serves(2, "after v2 loaded")
        cli = h.cli("reload")
        check(cli.returncode == 0 and "unchanged" in cli.stdout, "`tarry reload` with nothing new exits 0, unchanged",
              (cli.returncode, cli.stdout, cli.stderr))
        for eid in pinned:
            rec = h.execution(eid)
            check_eq((rec["state"], rec["plugin"]["hash"]), ("waiting", hashes[1]), "%s still sleeps on v1" % eid)
        for after in (False, True):
            eid = h.trigger_ok("rl_flow", {"sleep": "1h", "after": after})
            pinned[eid] = (2, after)
            h.wait_state(eid, "waiting", timeout=10)
        leaf_v2 = h.trigger_ok("rl_leaf", {"ms": 1}, delay="1h")

        # ---- the plugin is removed ------------------------------------------------------------
        h.uninstall("rl.so")
        status, doc = h.reload()
        print("   reload answer: %r" % (doc,))
        check(status == 200 and doc.get("errors") == 0 and {"name": "rl", "state": "removed"} in doc["data"],
              "rl.so deleted: the reload reports rl removed, no errors", (status, doc))
        for fn in RL_FUNCTIONS:
            status, body = h.trigger(fn, {})
            err = harness.check_error(status, body, 404, "function_not_found", "trigger %s after rl was removed" % fn,
                                      message_has=(fn,))
            print("   %s: %s" % (fn, err["message"]))
        _, fns, _ = h.get("/v1/functions")
        check_eq([f["name"] for f in fns["data"] if f["name"].startswith("rl_")], [],
                 "GET /v1/functions lists none of rl's functions")
        listed = h.plugins()
        check_eq(sorted(p["hash"] for p in listed if p.get("state") == "pinned" and p.get("name") == "rl"),
                 sorted([hashes[1], hashes[2]]), "GET /v1/plugins lists v1 and v2 as pinned")
        expected = {}
        for eid in list(pinned) + [leaf_v1, leaf_v2]:
            rec = h.execution(eid)
            if rec["plugin"] and rec["plugin"]["hash"] and rec["state"] not in harness.FINAL_STATES:
                expected[rec["plugin"]["hash"]] = expected.get(rec["plugin"]["hash"], 0) + 1
        check_eq({p["hash"]: (p.get("pinned"), p.get("pinned_exact")) for p in listed if p.get("name") == "rl" and p.get("hash")},
                 {k: (v, True) for k, v in expected.items()},
                 "GET /v1/plugins counts the unfinished executions pinned to each version")

        # Every pinned execution runs to completion on its version.
        for eid in list(pinned) + [leaf_v1, leaf_v2]:
            status, doc = h.reschedule(eid, {})
            check(status == 200, "PATCH .../schedule {} wakes %s" % eid, (status, doc))
        for leaf, version in ((leaf_v1, 1), (leaf_v2, 2)):
            rec = h.wait_final(leaf, timeout=10)
            check(rec["state"] == "succeeded" and rec["result"]["version"] == version
                  and rec["plugin"]["hash"] == hashes[version],
                  "the delayed rl_leaf pinned to v%d runs on v%d after the removal" % (version, version), rec)
        for eid, (version, after) in pinned.items():
            rec = h.wait_final(eid, timeout=10)
            what = "rl_flow pinned to v%d%s" % (version, " (calls rl_leaf after waking)" if after else "")
            check(rec["state"] == "succeeded", "%s succeeds after rl was removed" % what, rec)
            check_eq((rec["result"]["version"], rec["plugin"]["hash"]), (version, hashes[version]),
                     "%s ran v%d's code" % (what, version))
            if after:
                child = h.execution(rec["children"][-1])
                check(child["state"] == "succeeded" and child["plugin"]["hash"] in (hashes[1], hashes[2])
                      and child["result"]["version"] == version_of[child["plugin"]["hash"]],
                      "%s: its child ran on a loaded version of rl (v%s)" % (what, child["result"]["version"]), child)

        # ---- and a new version can come back -----------------------------------------------------
        h.install("rl_v3", "rl.so")
        status, doc = h.reload()
        rl = [e for e in doc["data"] if str(e.get("file", "")).endswith("/rl.so")]
        check(status == 200 and doc.get("errors") == 0 and rl and rl[0].get("state") == "loaded"
              and rl[0].get("hash") == hashes[3], "v3 installed after the removal loads", (status, doc))
        serves(3, "after v3 loaded")


harness.run(main)
