"""A plugin whose descriptor has the first layout of ABI 1 (tests/plugins/old_layout.c).

tarry.h promises that structs only grow at the end and that the host reads a
plugin built against an older header. The first ABI-1 descriptor ended
before `header_revision`: the host must load it (not refuse it as "too
small"), serve its functions, and run them as header revision 1, where
tarry_call_opts has no `delay` yet: old_later's call with opts.delay "1 day"
starts its child at once, so the workflow finishes now instead of in a day.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def main():
    with harness.Host(plugins=["old_layout"], workers=2) as h:
        status, doc, _ = h.get("/v1/plugins")
        check_eq(status, 200, "GET /v1/plugins")
        p = {os.path.basename(x["file"]): x for x in doc["data"]}.get("old_layout.so", {})
        check(p.get("state") == "loaded" and p.get("error") is None,
              "old_layout.so (the first descriptor layout) is loaded, not refused", p)
        check_eq(sorted(p.get("functions", [])), ["old_child", "old_later"], "old_layout serves its functions")

        exec_id = h.trigger_ok("old_later", {"n": 1})
        doc = h.wait_final(exec_id, timeout=30)
        check_eq(doc["state"], "succeeded", "old_later succeeded")
        check_eq(doc["result"], {"child": True}, "old_later returned its child's result")
        journal = doc.get("journal") or []
        check_eq([(e["kind"], e["name"], e["status"]) for e in journal], [("call", "old_child", "succeeded")],
                 "its journal: one call of old_child, settled")
        check(journal[0].get("wake_at") is None,
              "revision 1: opts.delay is not read, so the call has no delay (wake_at null)", journal[0])
        child = h.execution(journal[0]["child_id"])
        check_eq(child["state"], "succeeded", "the child ran at once, not a day later")


if __name__ == "__main__":
    harness.run(main)
