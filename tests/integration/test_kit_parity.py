"""The test kit and the host agree: one corpus of workflows, run through both.

The corpus is plugin "jd" (tests/plugins/jd_common.h, built as jd_v1.so and
jd_v2.so). Each case runs
  - through the kit: build/test-tools/kit_parity (tests/kit/kit_parity.c), the
    same .so loaded with tarry_test_load and driven on a virtual clock;
  - through the host: the real `tarry serve` over HTTP, every durable sleep
    and delayed child moved to now with PATCH .../schedule;
and both must record the same thing: the root's state, result and error,
its journal (kind, name, status, result, error of each entry) and its log
lines (level, message), byte for byte once execution ids are named by their
place (the child of the call at seq N, anything else) and the times `now`
read are blanked. Nothing here says what either side should produce: only
that they produce the same.

Upgrade cases start on v1 until the workflow waits in its sleep; the host
then reloads v2 and upgrades the execution (POST .../upgrade), the kit moves
it with tarry_test_upgrade_fn; both then run on.

"""

import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

KIT = os.path.join(harness.BUILD, "test-tools", "kit_parity")

# name, function, args, first version, version to upgrade to (None: run on the first)
CASES = [
    ("flow", "jd_flow", {"user": 7}, "jd_v1", None),
    ("pass_on_child", "jd_pass_on_child", {"who": "child"}, "jd_v1", None),
    ("pass_on_step", "jd_pass_on_step", None, "jd_v1", None),
    ("step_status", "jd_step_status", None, "jd_v1", None),
    ("misuse", "jd_misuse", None, "jd_v1", None),
    ("pass_on_misuse", "jd_pass_on_misuse", None, "jd_v1", None),
    ("bad_result", "jd_bad_result", None, "jd_v1", None),
    ("bad_json", "jd_bad_json", None, "jd_v1", None),
    ("ignore_suspend", "jd_ignore_suspend", [1, 2], "jd_v1", None),
    ("suspend_nowhere", "jd_suspend_nowhere", None, "jd_v1", None),
    ("strange_status", "jd_strange_status", None, "jd_v1", None),
    ("many_steps", "jd_many_steps", None, "jd_v1", None),
    ("step_logs", "jd_step_logs", None, "jd_v1", None),
    ("patched_old_journal", "jd_patched", None, "jd_v1", "jd_v2"),
    ("nondeterminism", "jd_nd", None, "jd_v1", "jd_v2"),
    ("patched_new", "jd_patched", None, "jd_v2", None),
]

FINAL_OR_BLOCKED = ("succeeded", "failed", "cancelled", "blocked")
ID = re.compile(r"test-exec-\d{16}|\b[0-9A-HJKMNP-TV-Z]{26}\b")


def normalise(doc):
    """The comparable part of a root execution, ids named by their place, now's time blanked."""
    journal = doc.get("journal") or []
    names = {}
    for e in journal:
        if e.get("child_id"):
            names[e["child_id"]] = "<child of #%d>" % e["seq"]

    def ids(text):
        return ID.sub(lambda m: names.get(m.group(0), "<id>"), text) if isinstance(text, str) else text

    def value(v):
        return None if v is None else json.loads(ids(json.dumps(v, sort_keys=True)))

    return {
        "state": doc["state"],
        "result": value(doc.get("result")),
        "error": ids(doc.get("error")),
        "journal": [
            {
                "kind": e["kind"],
                "name": e["name"],
                "status": e["status"],
                "result": "<time>" if e["kind"] == "now" else value(e.get("result")),
                "error": ids(e.get("error")),
            }
            for e in journal
        ],
        "logs": [{"level": l["level"], "message": ids(l["message"])} for l in doc.get("logs", [])],
    }


def args_text(args):
    return json.dumps(args, separators=(",", ":"))


def trigger(h, fn, args):
    """Trigger fn with exactly args_text(args) as its args."""
    body = '{"args":%s}' % args_text(args)
    status, doc, _ = h.call("POST", "/v1/functions/%s/executions" % fn, headers={"Content-Type": "application/json"}, raw_body=body)
    check(status == 202, "%s triggered" % fn, (status, doc))
    return doc["id"]


def run_kit(function, args, first, upgrade):
    # The host stores a trigger's args byte for byte as sent; both get the same text.
    argv = [KIT, harness.plugin_path(first), function, args_text(args)]
    if upgrade:
        argv.append(harness.plugin_path(upgrade))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise harness.CheckFailed("FAILED: kit_parity %s: exit %d\n%s" % (function, proc.returncode, proc.stderr))
    return json.loads(proc.stdout)


def tree(h, exec_id):
    """The execution and every execution below it."""
    out, todo = [], [exec_id]
    while todo:
        doc = h.execution(todo.pop())
        out.append(doc)
        todo.extend(doc.get("children") or [])
    return out


def drive(h, exec_id, until_sleeping=False, timeout=60.0):
    """Move every pending timer of the tree to now until nothing is left to do.
    until_sleeping: stop once the root itself waits in a durable sleep."""
    deadline = time.monotonic() + timeout
    while True:
        docs = tree(h, exec_id)
        root = docs[0]
        if until_sleeping and root["state"] == "waiting" and root.get("wake_at"):
            return root
        moved = False
        for doc in docs:
            if doc["state"] == "scheduled" or (doc["state"] == "waiting" and doc.get("wake_at")):
                status, _ = h.reschedule(doc["id"])
                check(status in (200, 409), "PATCH schedule of %s answers 200 (or 409: it just woke)" % doc["id"], status)
                moved = True
        if not moved and all(d["state"] in FINAL_OR_BLOCKED for d in docs):
            return root
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %s did not settle within %.0fs: %r" % (exec_id, timeout, docs))
        time.sleep(0.02)


def host_view(h, exec_id):
    doc = h.execution(exec_id)
    doc["logs"] = h.logs(exec_id)
    return doc


def compare(name, kit, host):
    k, o = normalise(kit), normalise(host)
    for part in ("state", "result", "error", "journal"):
        check(k[part] == o[part], "%s: the kit and the host agree on the %s" % (name, part),
              "kit:  %s\nhost: %s" % (json.dumps(k[part], indent=1), json.dumps(o[part], indent=1)))
    check(k["logs"] == o["logs"], "%s: the kit and the host agree on the log lines" % name,
          "kit:  %s\nhost: %s" % (json.dumps(k["logs"], indent=1), json.dumps(o["logs"], indent=1)))


def main():
    check(os.access(KIT, os.X_OK), "the kit's side is built (%s)" % KIT)
    kit = {name: run_kit(fn, args, first, up) for name, fn, args, first, up in CASES}

    host = {}
    with harness.Host(plugins=[("jd_v1", "jd.so")], workers=2) as h:
        ids = {}
        for name, fn, args, first, up in CASES:
            if first != "jd_v1":
                continue
            ids[name] = trigger(h, fn, args)
            if up:
                drive(h, ids[name], until_sleeping=True)
            else:
                drive(h, ids[name])
                host[name] = host_view(h, ids[name])

        h.install("jd_v2", "jd.so")
        status, _ = h.reload()
        check_eq(status, 200, "reload with jd_v2 in place of jd_v1")
        h.wait_current("jd", harness.plugin_hash("jd_v2"))
        for name, fn, args, first, up in CASES:
            if up:
                # Forced, as the kit's tarry_test_upgrade_fn moves it: unchecked (a case may block).
                status, doc = h.upgrade(ids[name], force=True)
                check(status == 200, "%s: the waiting execution is upgraded to v2" % name, (status, doc))
                drive(h, ids[name])
                host[name] = host_view(h, ids[name])
            elif first == "jd_v2":
                ids[name] = trigger(h, fn, args)
                drive(h, ids[name])
                host[name] = host_view(h, ids[name])

    for name, *_ in CASES:
        compare(name, kit[name], host[name])
    print("%d workflows: the kit and the host recorded the same" % len(CASES))


if __name__ == "__main__":
    harness.run(main)
