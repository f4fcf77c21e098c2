"""--watch (TARRY_WATCH=1): a new .so copied into the plugins folder is loaded
without SIGHUP or `tarry reload`, once the folder settles; other files do not
trigger a reload.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def version_served(h):
    status, doc = h.trigger("rl_version", None, wait="5s")
    check(status == 200 and doc["state"] == "succeeded", "rl_version runs", (status, doc))
    return doc["result"]["version"]


def main():
    with harness.Host(plugins=[("rl_v1", "rl.so")], extra_env={"TARRY_WATCH": "1"}) as h:
        check("watching" in h.log_text(), "the host says it watches its plugins folder")
        check_eq(version_served(h), 1, "v1 serves at start")

        with open(os.path.join(h.plugins_dir, "notes.txt"), "w") as f:
            f.write("not a plugin\n")
        time.sleep(0.8)
        check("plugins folder changed" not in h.log_text(), "a file that is not a .so reloads nothing")

        h.install("rl_v2", "rl.so")
        deadline = time.monotonic() + 10
        while version_served(h) != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        check_eq(version_served(h), 2, "v2 serves after it was copied in, with no reload command")
        check_eq(h.log_text().count("plugins folder changed: reloading"), 1,
                 "one reload for the whole copy (the events are debounced)")


harness.run(main)
