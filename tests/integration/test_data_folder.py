"""One host per data folder: a second `tarry serve` on a folder in use exits
78 (EX_CONFIG) and names the other host, instead of re-running the first
host's running executions; once the first host is gone (even by kill -9),
the folder is free again.
"""

import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def main():
    with harness.Host(plugins=["testfns"]) as h:
        eid = h.trigger_ok("slow", {"ms": 300})
        argv = [harness.BIN, "serve", "--plugins", h.plugins_dir, "--data", h.data_dir,
                "--listen", "127.0.0.1:%d" % harness.free_port()]
        second = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        check_eq(second.returncode, 78, "a second host on the same data folder exits 78")
        check("in use by another tarry host" in second.stderr, "and says the folder is in use", second.stderr)
        check_eq(h.wait_final(eid)["attempts"], 1, "the first host's execution ran once")
        h.kill9()
        h.restart()
        check(h.healthy(), "after kill -9 the folder is free: the host restarts on it")


harness.run(main)
