"""A refused upgrade leaves nothing behind.

`POST /v1/executions/ID/upgrade` of an execution that cannot move (final: 409; the target
version lacks its function: 404) must not keep that execution in the engine's memory: an
execution in memory pins its plugin version, so a leaked one kept an old version loaded
forever. Here v1 of plugin rl is replaced by v2 and unloaded once nothing uses it; an upgrade
of a finished v1 execution to v1 (which loads v1 from the version store to look) is refused,
and after the next reload v1 is unloaded again.
"""

import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error


def pinned(h):
    return sorted(p["hash"] for p in h.plugins() if p.get("state") == "pinned")


def wait_unpinned(h, version_hash, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while version_hash in pinned(h):
        if time.monotonic() > deadline:
            check(False, what, h.plugins())
        time.sleep(0.1)
    check(True, what)


def main():
    v1, v2 = harness.plugin_hash("rl_v1"), harness.plugin_hash("rl_v2")
    with harness.Host(plugins=[("rl_v1", "rl.so")]) as h:
        status, done = h.trigger("rl_version", wait="10s")
        check(status == 200 and done["state"] == "succeeded", "an rl_version execution finishes on v1", done)
        h.install("rl_v2", "rl.so")
        check_eq(h.reload()[0], 200, "reload to v2")
        check_eq(h.current_hash("rl"), v2, "v2 is current")
        wait_unpinned(h, v1, "v1 is unloaded: no unfinished execution uses it")

        status, doc = h.upgrade(done["id"], to=v1)
        check_error(status, doc, 409, "not_upgradable", "upgrading a finished execution (to v1, loaded to look)")
        status, doc = h.upgrade(done["id"])
        check_error(status, doc, 409, "not_upgradable", "upgrading a finished execution to the current version")
        check_eq(h.reload()[0], 200, "another reload (it sweeps unused versions again)")
        wait_unpinned(h, v1, "after the refused upgrades v1 is unloaded again: nothing kept it")


harness.run(main)
