"""Function options in the descriptor (tarry.h header revision 4).

GET /v1/functions (and `tarry functions`) shows each function's options with the defaults filled
in (Defer's retry defaults when retry is only switched on); a plugin built
against header revision 3 (tests/plugins/rev3.c: shorter function entries
and call options) still loads, gets the defaults and runs a workflow whose
call options end before the fields revision 4 added; and a plugin with an
invalid option is refused with a message naming the function and the field,
while the other plugins are served.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

DEFAULTS = {"retry": None, "max_duration": "30m", "concurrency": None, "max_concurrency_action": "queue",
            "cron": None, "retention": "30d"}


def main():
    with harness.Host(plugins=["opts", "opts_bad", "opts_bad_action", "rev3"], workers=2) as h:
        status, doc, _ = h.get("/v1/functions")
        check_eq(status, 200, "GET /v1/functions")
        fns = {f["name"]: f for f in doc["data"]}
        check_eq(fns["opt_plain"]["options"], DEFAULTS, "no options: the defaults")
        check_eq(fns["opt_defaults"]["options"]["retry"],
                 {"max_attempts": 13, "initial_interval": "30s", "multiplier": 1.5, "randomization_factor": 0.5,
                  "max_interval": "10m"}, "retry on with no numbers: Defer's defaults")
        check_eq(fns["opt_custom"]["options"],
                 {"retry": {"max_attempts": 5, "initial_interval": "1s", "multiplier": 2, "randomization_factor": 0,
                            "max_interval": "1m"},
                  "max_duration": None, "concurrency": 2, "max_concurrency_action": "cancel", "cron": None,
                  "retention": "30d"},
                 "every option as declared (no jitter, no max_duration)")

        # tarry functions shows them in a few words.
        p = h.cli("functions")
        check(p.returncode == 0, "tarry functions", p.stderr)
        rows = {line.split()[0]: line for line in p.stdout.splitlines()[1:] if line.strip()}
        check("5 x 1s..1m" in rows.get("opt_custom", "") and "2 (cancel)" in rows.get("opt_custom", "")
              and " none " in rows.get("opt_custom", ""), "opt_custom's retry, limit and no max duration", p.stdout)
        check("13 x 30s..10m" in rows.get("opt_defaults", "") and " 30m " in rows.get("opt_defaults", ""),
              "opt_defaults: Defer's retry and the default max duration", p.stdout)

        # Header revision 3: loaded, defaults, and its shorter call options read safely.
        check_eq(fns["rev3_parent"]["options"], DEFAULTS, "a revision-3 function gets the defaults")
        exec_id = h.trigger_ok("rev3_parent", {"n": 1})
        doc = h.wait_final(exec_id, timeout=30)
        check_eq(doc["state"], "succeeded", "the revision-3 workflow ran")
        check_eq(doc["result"], {"child": {"rev": 3}}, "its child's result came back")

        # Invalid options refuse the plugin, naming the function and the field.
        status, doc, _ = h.get("/v1/plugins")
        plugins = {os.path.basename(x["file"]): x for x in doc["data"]}
        bad = plugins["opts_bad.so"]
        check(bad["state"] != "loaded", "opts_bad.so is refused", bad)
        check('function "bad_mult": retry.multiplier' in (bad.get("error") or ""),
              "the error names the function and the field", bad)
        check("bad_ok" not in fns, "none of a refused plugin's functions is served", sorted(fns))
        act = plugins["opts_bad_action.so"]
        check('function "bad_action": max_concurrency_action' in (act.get("error") or ""),
              "a bad max_concurrency_action is refused by name", act)
        check_eq(plugins["opts.so"]["state"], "loaded", "the valid plugin is served beside them")


if __name__ == "__main__":
    harness.run(main)
