"""The JSON helpers of tarry.h through the host binary (issue 11).

The jsonh test plugin links no JSON library (its undefined symbols show no
cJSON): it reads its args and a child's result with tarry_json_* and builds
every result with tarry_json. Through `tarry serve` the readers return the
values, a missing field or a wrong type fails the execution with a reason
naming args and the path, a step that passes a misuse code on fails with
"step \"outer\" returned TARRY_EINVAL: ...", and a tarry_call with args
that are not JSON fails the workflow with the byte, not a bare -30700.
"""

import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def main():
    undefined = subprocess.run(["nm", "-D", "--undefined-only", harness.plugin_path("jsonh")],
                               capture_output=True, text=True, check=True).stdout
    check("cJSON" not in undefined, "the plugin needs no JSON library", undefined)

    with harness.Host(plugins=["jsonh"], workers=2) as h:
        status, doc = h.trigger("jsonh_user", {"user": {"id": 42, "email": "ann \"the\" <a@x>"}, "note": "é"}, wait="10s")
        check_eq(doc.get("result"), {"id": 42, "to": "ann \"the\" <a@x>", "note": "é"}, "readers and builder round-trip")

        status, doc = h.trigger("jsonh_user", {"user": {"id": "42", "email": "a"}}, wait="10s")
        check_eq(doc.get("state"), "failed", "a wrong type fails the execution")
        check_eq(doc.get("error"), "args: user.id: is a string, not a number", "the reason names args and the path")

        status, doc = h.trigger("jsonh_user", {"user": {"id": 1}}, wait="10s")
        check_eq(doc.get("error"), "args: user.email: missing", "a missing field, passed to tarry_fail_permanent")

        status, doc = h.trigger("jsonh_flow", {"user": {"id": 5, "email": "w@x"}}, wait="10s")
        check_eq(doc.get("result"), {"to": "w@x", "step": True}, "a workflow reads its child's result by path")
        status, logs, _ = h.get("/v1/executions/%s/logs" % doc["id"])
        check(any("child reason: result of child jsonh_user: absent: missing" in l["message"] for l in logs["data"]),
              "a reason about a child's result names the child", logs)

        status, doc = h.trigger("jsonh_flow", {"user": {"id": 5, "email": "w@x"}, "bad_step": True}, wait="10s")
        check_eq(doc.get("state"), "failed", "a step that passes a misuse code on fails")
        check_eq(doc.get("error"), 'step "outer" failed: step "outer" returned TARRY_EINVAL: args: missing: missing',
                 "the step's failure says which code and why")

        status, doc = h.trigger("jsonh_bad_call", None, wait="10s")
        check(doc.get("state") == "failed" and "tarry_call args: invalid JSON" in doc.get("error", "")
              and "(byte 1)" in doc.get("error", ""), "a misuse's reason is the error, with the byte", doc)

        status, doc = h.trigger("jsonh_build", {"mode": "raw"}, wait="10s")
        check("tarry_json: argument 1 (%j) is not valid JSON" in (doc.get("result") or {}).get("error", ""),
              "tarry_last_error returns the builder's reason", doc)
        status, logs, _ = h.get("/v1/executions/%s/logs" % doc["id"])
        check(any("tarry_json: argument 1" in l["message"] for l in logs["data"]), "a builder misuse is logged", logs)


harness.run(main)
