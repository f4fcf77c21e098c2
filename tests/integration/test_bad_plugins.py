"""A plugins folder with one good plugin and every kind of bad one.

The host must serve the good one, refuse each bad one without running any of
its code, report each in GET /v1/plugins with state "error" and a reason that
names the problem, and log one line per bad file naming the file.

conflict.so is installed as zz_conflict.so so that it sorts after testfns.so:
the second plugin to claim `noop` is the one refused.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

# installed file -> words the reason must contain (case-insensitive)
BAD = {
    "bad_abi.so": ("999",),
    "no_descriptor.so": ("tarry_plugin",),
    "dup_names.so": ("duplicate", "twice"),
    "missing_symbol.so": ("undefined symbol", "tarry_test_symbol_nobody_defines"),
    "zz_conflict.so": ("noop", "testfns.so"),
    "bad_name.so": ("has space",),
    "bad_version.so": ("bad_version", "invalid version"),
}
REFUSED_FUNCTIONS = ("future_fn", "orphan_fn", "twice", "needs_symbol", "has space", "bad_version_fn")


def main():
    plugins = ["testfns", "bad_abi", "no_descriptor", "dup_names", "missing_symbol", ("conflict", "zz_conflict.so"), "bad_name", "bad_version"]
    with harness.Host(plugins=plugins, workers=2) as h:
        status, doc, _ = h.get("/v1/plugins")
        check_eq(status, 200, "GET /v1/plugins")
        by_file = {os.path.basename(p["file"]): p for p in doc["data"]}
        check_eq(sorted(by_file), sorted(["testfns.so"] + list(BAD)), "every file in the folder is reported")

        good = by_file["testfns.so"]
        check(good["state"] == "loaded" and good.get("error") is None, "testfns.so is loaded", good)
        check_eq((good.get("name"), good.get("version")), ("testfns", "1.0.0"), "testfns name and version")
        check("noop" in good.get("functions", []) and "record" in good.get("functions", []), "testfns lists its functions", good)

        for file_name, words in BAD.items():
            p = by_file[file_name]
            reason = p.get("error") or ""
            check(p.get("state") == "error", "%s has state error" % file_name, p)
            missing = [w for w in words if w.lower() not in reason.lower()]
            check(not missing, "%s: the reason names %s" % (file_name, ", ".join(words)), "reason %r lacks %r" % (reason, missing))
            check(not p.get("functions"), "%s serves no functions" % file_name, p)
        check("abi" in by_file["bad_abi.so"]["error"].lower(), "bad_abi.so: the reason says ABI")
        check("invalid" in by_file["bad_name.so"]["error"].lower(), "bad_name.so: the reason says invalid")

        status, doc, _ = h.get("/v1/functions")
        served = {f["name"]: f for f in doc["data"]}
        check_eq(served.get("noop", {}).get("plugin", {}).get("name"), "testfns", "noop is testfns's, not the conflicting plugin's")
        for name in REFUSED_FUNCTIONS:
            check(name not in served, "a refused plugin's %r is not served" % name)
        status, doc = h.trigger("echo", {"still": "serving"}, wait="5s")
        check(status == 200 and doc.get("result") == {"still": "serving"}, "testfns runs next to the bad plugins", (status, doc))
        status, doc = h.trigger("twice", None)
        check_eq(status, 404, "triggering a refused plugin's function -> 404")

        log_lines = h.log_text().splitlines()
        for file_name, words in BAD.items():
            naming = [l for l in log_lines if file_name in l]
            check(naming, "the host log has a line naming %s" % file_name, h.log_tail())
            check(any(words[0].lower() in l.lower() for l in naming), "%s's log line gives the reason" % file_name, naming)
            print("   %s: %s" % (file_name, naming[-1].strip()))
            check(len(naming) == 1, "exactly one log line names %s" % file_name, naming)

        p = h.cli("plugins")
        check(p.returncode == 0 and all(f in p.stdout for f in BAD) and "testfns" in p.stdout, "tarry plugins lists every file", p.stdout + p.stderr)


harness.run(main)
