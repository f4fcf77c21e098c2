"""An engine killed after it joined the store but before it recovered does not break the takeover.

On a shared store a restarted engine takes over what the folder's previous engine held at once
(serve.c: <data>/host-id). Before, an engine wrote its id there only once it had recovered, so one
killed in between (the supervisor restarts at once; a crash loop kills at random) left the file
naming the engine before it, while the rows it had taken over were its own: the next engine took
over nothing, and what the killed one held stayed its until its lease ran out, then was claimed
as orphans, each running execution counted as a crash it did not cause (test_crash_loop's poison
pill failed with "its host stopped while it ran" instead of its own SIGSEGV).

One host on PostgreSQL with a lease of 60 s, two workers, 2 `slow` executions running and 3,000
queued (so that recovering takes a while). Its engine is killed; as soon as the next engine's log
says it joined (taking over the first), that one is killed too, before it logs that it serves (tried
again on the next engine if the kill came late). Once the third engine serves:
  - it says it took over the engine killed while recovering;
  - no execution is held by either killed engine (before: all 3,002 stayed with the second until
    its lease ran out);
  - none counts a crash: the running two were interrupted by kills from outside.
"""

import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

QUEUED = 3000
TRIES = 5
JOINED = re.compile(r"tarry\[(\d+)\] info: joined the hosts of the store as host ([0-9a-f]{16})")


def joined_line(text, after):
    """The engine's pid, its host id and the log offset of the first 'joined the hosts' line past
    offset `after`."""
    m = JOINED.search(text, after)
    return (m.group(1), m.group(2), m.end()) if m else (None, None, after)


def main():
    name, url = harness.new_pg_store()
    pg = harness.pg_cluster()
    with harness.Host(plugins=["testfns"], workers=2, store_url=url, crashes_expected=True,
                      extra_env={"TARRY_LEASE": "60s"}) as h:
        for _ in range(2 + QUEUED):
            h.trigger_ok("slow", {"ms": 30000})
        h.wait_metric("tarry_executions_running", 2, timeout=30)
        offset = len(h.log_text())
        killed_in_window = None
        for _ in range(TRIES):
            os.kill(h.engine_pid(), signal.SIGKILL)
            deadline = time.monotonic() + 30
            new_pid = host_id = None
            while time.monotonic() < deadline and host_id is None:
                new_pid, host_id, offset = joined_line(h.log_text(), offset)
                if host_id is None:
                    time.sleep(0.001)
            check(host_id is not None, "a new engine joined after the kill")
            os.kill(int(new_pid), signal.SIGKILL)
            time.sleep(0.5)
            text = h.log_text()
            if "tarry[%s] info: serving" % new_pid not in text and "tarry[%s] info: recovered" % new_pid not in text:
                killed_in_window = host_id
                break
            offset = len(text)
        check(killed_in_window is not None, "an engine was killed after it joined and before it recovered "
                                            "(in %d tries)" % TRIES)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (h.engine_pid() and h.healthy()):
            time.sleep(0.05)
        check(h.healthy(), "the next engine serves")
        text = h.log_text()
        check("taking over what host %s" % killed_in_window in text,
              "the next engine took over the engine killed while recovering (%s)" % killed_in_window)
        held = int(pg.psql(name, "SELECT count(*) FROM executions WHERE lease_owner = '%s'" % killed_in_window)[0][0])
        check_eq(held, 0, "nothing is held by the engine killed while recovering")
        crashed = int(pg.psql(name, "SELECT count(*) FROM executions WHERE crashes > 0")[0][0])
        check_eq(crashed, 0, "no execution counts a crash")


harness.run(main)
