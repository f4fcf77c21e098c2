"""A real run, exported with `tarry export`, replayed in the test kit against new builds.

Plugin "wfnd": wf_nd_v1 (step "a", sleep "1h", step "b") runs on the real host
until it waits in its sleep; `tarry export ID > run.json` writes it with its
journal. The kit (build/test-tools/kit_replay_file, tests/kit/kit_replay_file.c)
then replays the file, as a CI job would before deploying:
  - against v1 itself and against wf_nd_v2 with args.variant "same": it fits;
  - against wf_nd_v2 with variant "kind" (step "b" where the journal has the
    sleep): it differs at position 1, naming both commands;
  - against wf_nd_v2 with variant "name" (step "x" where the journal has
    step "a"): it differs at position 0.
The export itself is checked for the fields the kit and a reader rely on.
"""

import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

KIT = os.path.join(harness.BUILD, "test-tools", "kit_replay_file")


def export(h, exec_id, path):
    proc = subprocess.run([harness.BIN, "--url", h.url, "export", exec_id], capture_output=True, text=True, timeout=60)
    check(proc.returncode == 0, "tarry export %s exits 0" % exec_id, proc.stderr)
    with open(path, "w") as f:
        f.write(proc.stdout)
    return json.loads(proc.stdout)


def replay(path, plugin):
    proc = subprocess.run([KIT, path, harness.plugin_path(plugin)], capture_output=True, text=True, timeout=60)
    check(proc.returncode == 0, "kit_replay_file %s %s answers" % (os.path.basename(path), plugin), proc.stderr)
    return json.loads(proc.stdout)


def main():
    check(os.access(KIT, os.X_OK), "the kit's side is built (%s)" % KIT)
    tmp = tempfile.mkdtemp(prefix="tarry-kit-replay-")
    files = {}
    with harness.Host(plugins=[("wf_nd_v1", "wfnd.so")], workers=2) as h:
        for variant in ("same", "kind", "name"):
            exec_id = h.trigger_ok("nd", {"variant": variant})
            h.wait_for(exec_id, lambda d: d["state"] == "waiting" and d.get("wake_at"), "nd waits in its sleep")
            files[variant] = os.path.join(tmp, variant + ".json")
            doc = export(h, exec_id, files[variant])
            check_eq(doc["format"], "tarry-export", "the export names its format")
            check_eq(doc["version"], 1, "the export names its version")
            x = doc["execution"]
            check_eq((x["id"], x["function"], x["state"], x["attempts"]), (exec_id, "nd", "waiting", 1),
                     "the export carries the execution's id, function, state and attempts")
            check_eq(x["args"], {"variant": variant}, "the export carries the args")
            check_eq(x["plugin"]["name"], "wfnd", "the export names the plugin")
            check_eq(x["plugin"]["hash"], harness.plugin_hash("wf_nd_v1"), "the export carries the version's hash")
            check_eq([(e["seq"], e["kind"], e["name"], e["status"]) for e in x["journal"]],
                     [(0, "step", "a", "succeeded"), (1, "sleep", "1h", "pending")],
                     "the export carries the journal")
            check_eq(x["journal"][0]["result"], {"step": "a"}, "the export carries the step's result")
        missing = subprocess.run([harness.BIN, "--url", h.url, "export", "0" * 26], capture_output=True, text=True)
        check_eq(missing.returncode, 1, "tarry export of an unknown id exits 1")

    for variant, plugin in (("same", "wf_nd_v1"), ("kind", "wf_nd_v1"), ("same", "wf_nd_v2")):
        v = replay(files[variant], plugin)
        check(v["fits"] and v["state"] == "waiting" and v["position"] == 2,
              "%s fits the exported %s run (waits in the recorded sleep)" % (plugin, variant), v)
    v = replay(files["kind"], "wf_nd_v2")
    check_eq((v["state"], v["fits"], v["position"], v["journal_has"], v["code_issued"]),
             ("blocked", False, 1, 'sleep "1h"', 'step "b"'), "wf_nd_v2 differs from the kind run at position 1")
    v = replay(files["name"], "wf_nd_v2")
    check_eq((v["state"], v["fits"], v["position"], v["journal_has"], v["code_issued"]),
             ("blocked", False, 0, 'step "a"', 'step "x"'), "wf_nd_v2 differs from the name run at position 0")
    print("exported runs replayed in the kit: 3 fit, 2 differ where expected")


if __name__ == "__main__":
    harness.run(main)
