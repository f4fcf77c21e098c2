"""Upgrades are checked before they bite.

wfnd v1 (tests/plugins/wf_nd_v1.c: step "a", sleep "1h", step "b") runs six executions of nd
until they sleep: three of variant "same", two "kind", one "name". v2 (wf_nd_v2.c) issues v1's
commands for "same", step "b" where the journal has the sleep for "kind" (position 1), and step
"x" where the journal has step "a" for "name" (position 0). v2 is deployed (reload).

- `tarry plugins` shows each version's hash and how many executions are pinned to it.
- `tarry upgrade --function nd --dry-run` (GET /v1/functions/nd/upgrade-check) reports
  "6 checked: 3 fit, 3 would block", grouped by position and message, with the right ids,
  and moves nothing.
- `tarry upgrade KIND` is refused at once (exit 1, 409 would_block naming the position and both
  commands); the execution stays waiting on v1 and, woken, completes there.
- `tarry upgrade SAME` moves it; woken, it completes on v2.
- A forced upgrade of NAME blocks when it replays; `tarry result` and `tarry show` say why and
  that the fix is a deploy and `tarry upgrade`, never to wait longer; the upgrade back to v1 fits
  and it completes.
"""

import re
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error


def plugins_rows(h):
    p = h.cli("plugins")
    check_eq(p.returncode, 0, "tarry plugins exits 0")
    lines = p.stdout.splitlines()
    check(lines and lines[0].split()[:6] == ["FILE", "NAME", "VERSION", "HASH", "STATE", "PINNED"],
          "the plugins table has HASH and PINNED columns", p.stdout)
    return [line.split() for line in lines[1:]]


def row_of(rows, version_hash):
    found = [r for r in rows if version_hash in r]
    check(len(found) == 1, "the plugins table has one row for version %s" % version_hash, rows)
    return found[0]


def main():
    v1, v2 = harness.plugin_hash("wf_nd_v1"), harness.plugin_hash("wf_nd_v2")
    with harness.Host(plugins=[("wf_nd_v1", "wfnd.so")], workers=2) as h:
        ids = {"same": [], "kind": [], "name": []}
        for variant, n in (("same", 3), ("kind", 2), ("name", 1)):
            for _ in range(n):
                ids[variant].append(h.trigger_ok("nd", {"variant": variant}))
        every = [i for group in ids.values() for i in group]
        for eid in every:
            h.wait_state(eid, "waiting", timeout=15)
        journals = {eid: h.execution(eid)["journal"] for eid in every}

        row = row_of(plugins_rows(h), v1)
        check_eq(row[4:6], ["loaded", "6"], "v1 is current, with 6 executions pinned to it")

        h.install("wf_nd_v2", "wfnd.so")
        check_eq(h.reload()[0], 200, "reload deploys v2")
        rows = plugins_rows(h)
        check_eq(row_of(rows, v2)[4:6], ["loaded", "0"], "v2 is current, nothing pinned to it yet")
        check_eq(row_of(rows, v1)[4:6], ["pinned", "6"], "v1 stays loaded for its 6 pinned executions")

        # ---- the dry run: grouped, exact, nothing moves -------------------------------------
        status, rep, _ = h.call("GET", "/v1/functions/nd/upgrade-check")
        check_eq(status, 200, "GET /v1/functions/nd/upgrade-check answers 200")
        check_eq((rep["hash"], rep["checked"], rep["fit"], rep["would_block"], rep["would_fail"], rep["more"]),
                 (v2, 6, 3, 3, 0, False), "the check: 6 checked against v2, 3 fit, 3 would block")
        groups = {g["reason"]: g for g in rep["groups"]}
        check_eq(len(groups), 2, "two groups: one per position and message")
        by_pos = {}
        for reason, g in groups.items():
            m = re.search(r"step (\d+)", reason)
            check(m is not None and g["verdict"] == "would_block", "a group names its position", g)
            by_pos[int(m.group(1))] = g
        check(re.search(r"journal has\W+sleep\b.*code issued\W+step\W+b\b", by_pos[1]["reason"]) is not None,
              "position 1: journal has the sleep, code issues step b", by_pos[1])
        check(re.search(r"journal has\W+step\W+a\b.*code issued\W+step\W+x\b", by_pos[0]["reason"]) is not None,
              "position 0: journal has step a, code issues step x", by_pos[0])
        check_eq((by_pos[1]["count"], sorted(by_pos[1]["examples"])), (2, sorted(ids["kind"])),
                 "2 would block at position 1: the kind executions")
        check_eq((by_pos[0]["count"], by_pos[0]["examples"]), (1, ids["name"]),
                 "1 would block at position 0: the name execution")

        p = h.cli("upgrade", "--function", "nd", "--dry-run")
        print(p.stdout, end="")
        check_eq(p.returncode, 1, "the dry run exits 1 when some would block")
        check("6 checked: 3 fit, 3 would block" in p.stdout, "the dry run prints the counts", p.stdout)
        check(re.search(r"^\s+2 would block: nondeterminism at step 1", p.stdout, re.M) is not None,
              "the dry run prints the group at step 1 with its count", p.stdout)
        check(all(i in p.stdout for i in ids["kind"] + ids["name"]), "with the example ids", p.stdout)
        for eid in every:
            rec = h.execution(eid)
            check_eq((rec["state"], rec["plugin"]["hash"]), ("waiting", v1), "the dry run moved nothing")
            check_eq(rec["journal"], journals[eid], "and wrote nothing to the journal (no step ran, nothing new)")
        status, doc, _ = h.call("GET", "/v1/functions/nope/upgrade-check")
        check_error(status, doc, 404, "not_found", "a check of an unknown function")

        # ---- a journal that does not fit: refused at once, nothing changes -------------------
        kind = ids["kind"][0]
        p = h.cli("upgrade", kind)
        print(p.stderr, end="")
        check_eq(p.returncode, 1, "tarry upgrade of a non-fitting execution exits 1")
        check("would_block" in p.stderr and "step 1" in p.stderr and re.search(r"journal has\W+sleep", p.stderr)
              and re.search(r"code issued\W+step\W+b", p.stderr),
              "it names the position and both commands", p.stderr)
        status, doc, _ = h.call("POST", "/v1/executions/%s/upgrade" % kind, {})
        err = check_error(status, doc, 409, "would_block", "the API refuses it too", ("step 1", kind))
        check_eq((err["check"]["checked"], err["check"]["would_block"]), (1, 1), "with the check's report")
        rec = h.execution(kind)
        check_eq((rec["state"], rec["plugin"]["hash"], len(rec["journal"])), ("waiting", v1, 2),
                 "refused, it still sleeps on v1 with its journal as it was")
        check_eq(h.reschedule(kind, {})[0], 200, "wake it")
        rec = h.wait_final(kind, timeout=15)
        check_eq((rec["state"], rec["result"]["version"]), ("succeeded", 1), "it completes on its old version")

        # ---- a journal that fits: moved, and it runs on ----------------------------------------
        same = ids["same"][0]
        p = h.cli("upgrade", same)
        check_eq(p.returncode, 0, "tarry upgrade of a fitting execution exits 0")
        check(v2 in p.stdout, "it prints the new version's hash", p.stdout)
        check_eq(h.execution(same)["plugin"]["hash"], v2, "it is on v2")
        check_eq(h.reschedule(same, {})[0], 200, "wake it")
        rec = h.wait_final(same, timeout=15)
        check_eq(rec["result"], {"version": 2, "variant": "same"}, "it completes on v2")

        # ---- blocked: result and show say why and what to do ----------------------------------
        name = ids["name"][0]
        p = h.cli("upgrade", name, "--force")
        check_eq(p.returncode, 0, "--force moves it unchecked")
        check_eq(h.reschedule(name, {})[0], 200, "wake it")
        h.wait_state(name, "blocked", timeout=15)
        for args in (("result", name), ("result", name, "--wait", "10m")):
            p = h.cli(*args)
            print(p.stderr, end="")
            check_eq(p.returncode, 1, "`tarry %s` of a blocked execution exits 1 at once" % " ".join(args))
            check("is blocked: nondeterminism at step 0" in p.stderr, "it says why", p.stderr)
            check("tarry upgrade %s" % name in p.stderr and "deploy a fix" in p.stderr, "and what to do", p.stderr)
            check("wait longer" not in p.stderr and "--wait" not in p.stderr, "never to wait longer", p.stderr)
        p = h.cli("show", name)
        check_eq(p.returncode, 0, "tarry show of a blocked execution")
        check(re.search(r"^error:\s+nondeterminism at step 0", p.stdout, re.M) is not None, "show says why", p.stdout)
        check(re.search(r"^to do:\s+deploy a fix, then `tarry upgrade %s`" % name, p.stdout, re.M) is not None,
              "show says what to do", p.stdout)
        check("wait longer" not in p.stdout, "show never says to wait longer", p.stdout)

        p = h.cli("upgrade", name, "--to", v1)
        check_eq(p.returncode, 0, "the upgrade back to v1 fits")
        rec = h.wait_final(name, timeout=15)
        check_eq((rec["state"], rec["result"]["version"]), ("succeeded", 1), "it completes on v1")


harness.run(main)
