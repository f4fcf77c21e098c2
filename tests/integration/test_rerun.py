"""Re-run: POST /v1/executions/ID/rerun and `tarry rerun` start a new execution of the same
function with the same args and metadata (or new args), linked both ways.

- a succeeded execution re-run with no body: 202 with a new id; the new one gets the
  same args and metadata, succeeds, and says "rerun_of": the original; the original's
  single GET lists it in "reruns";
- re-run again with {"args": ...}: the new args are used; the original lists both
  re-runs, oldest first; a list shows rerun_of too;
- a cancelled execution can be re-run (the usual reason to re-run);
- `tarry rerun ID --args JSON` prints the new id; invalid --args is refused before
  sending (exit 2);
- the links survive a restart (the reruns index is in the store);
- an unknown id is 404, an unknown body field 400.
"""

import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def rerun(h, eid, body=None):
    status, doc, _ = h.call("POST", "/v1/executions/%s/rerun" % eid, body if body is not None else {})
    return status, doc


def main():
    with harness.Host(plugins=["cancel"], workers=2) as h:
        orig = h.trigger_ok("cancel_echo", {"a": 1}, metadata={"team": "growth"})
        check_eq(h.wait_final(orig)["state"], "succeeded", "the original succeeds")

        status, doc = rerun(h, orig)
        check(status == 202 and doc.get("id") and doc["id"] != orig, "rerun -> 202 with a new id", (status, doc))
        first = doc["id"]
        rec = h.wait_final(first)
        check_eq(rec["state"], "succeeded", "the re-run succeeds")
        check_eq(rec["function"], "cancel_echo", "same function")
        check_eq(rec["args"], {"a": 1}, "same args")
        check_eq(rec["result"], {"args": {"a": 1}}, "it ran with them")
        check_eq(rec["metadata"], {"team": "growth"}, "same metadata")
        check_eq(rec["rerun_of"], orig, "the re-run says rerun_of: the original")
        check_eq(rec["reruns"], [], "the re-run has no re-runs of its own")
        check_eq(h.execution(orig)["reruns"], [first], "the original lists its re-run")

        status, doc = rerun(h, orig, {"args": {"b": 2}})
        check_eq(status, 202, "rerun with new args -> 202")
        second = doc["id"]
        rec = h.wait_final(second)
        check_eq(rec["args"], {"b": 2}, "the new args are used")
        check_eq(rec["result"], {"args": {"b": 2}}, "it ran with them")
        check_eq(rec["rerun_of"], orig, "it is linked to the original")
        check_eq(h.execution(orig)["reruns"], [first, second], "the original lists both, oldest first")
        status, doc, _ = h.get("/v1/executions?function=cancel_echo")
        by_id = {d["id"]: d for d in doc["data"]}
        check(by_id[second]["rerun_of"] == orig and by_id[orig]["rerun_of"] is None, "a list shows rerun_of", by_id)

        cancelled = h.trigger_ok("cancel_echo", {"c": 3}, delay="1h")
        status, doc, _ = h.call("POST", "/v1/executions/%s/cancel" % cancelled, {})
        check_eq(status, 200, "an execution is cancelled")
        status, doc = rerun(h, cancelled)
        check_eq(status, 202, "a cancelled execution can be re-run")
        rec = h.wait_final(doc["id"])
        check(rec["state"] == "succeeded" and rec["args"] == {"c": 3} and rec["scheduled_at"] == rec["created_at"],
              "its re-run runs now with the same args (the delay is not carried over)", rec)

        p = h.cli("rerun", orig, "--args", '{"d": 4}')
        new_id = p.stdout.strip()
        check(p.returncode == 0 and len(new_id) == 26, "tarry rerun prints the new id", (p.returncode, p.stdout, p.stderr))
        rec = h.wait_final(new_id)
        check(rec["args"] == {"d": 4} and rec["rerun_of"] == orig, "tarry rerun --args: new args, linked", rec)
        p = h.cli("rerun", orig, "--args", '{"d": ')
        check(p.returncode == 2 and "--args" in p.stderr, "tarry rerun with invalid --args: exit 2", (p.returncode, p.stderr))

        h.stop()
        h.start()
        check_eq(h.execution(orig)["reruns"], [first, second, new_id], "after a restart the original lists its re-runs")
        check_eq(h.execution(first)["rerun_of"], orig, "and the re-run its original")

        status, doc = rerun(h, "01JDXN5Z8B3M8Q2W4T6Y8A0C2E")
        check_eq(status, 404, "rerun of an unknown id: 404")
        status, doc = rerun(h, orig, {"argz": 1})
        check(status == 400 and doc["error"]["code"] == "invalid_field", "an unknown body field: 400", (status, doc))


harness.run(main)
