"""A workflow's log lines: every line of every pass is kept, committed with the pass that
wrote it (so it can be read while the workflow waits), and a line logged again while a pass
replays what earlier passes did is not stored twice (as Temporal's replay-aware logger).

1. logged_sleep: "start", a step whose body logs "in step body", "before sleep", then a
   one-hour sleep. While it waits, `GET .../logs` and `tarry logs` show the three lines.
   After `tarry reschedule` it replays the step and the sleep and logs "after sleep": the
   log is the four lines, each once, in order, with their levels. The same after kill -9
   in the middle of the wait (the lines were durable with the pass).
2. logged_child: a pass that suspends on an await (not on a durable command) replays
   "calling" in the next pass: stored once.
"""

import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def lines(h, eid):
    return [(l["level"], l["message"]) for l in h.logs(eid)]


BEFORE = [("info", "start"), ("warn", "in step body"), ("info", "before sleep")]


def main():
    with harness.Host(plugins=["wflog"]) as h:
        eid = h.trigger_ok("logged_sleep", {"sleep": "1h"})
        h.wait_state(eid, "waiting", timeout=10)
        check_eq(lines(h, eid), BEFORE, "while it waits, its lines are there")
        cli = h.cli("logs", eid)
        check(cli.returncode == 0 and "in step body" in cli.stdout and "before sleep" in cli.stdout,
              "tarry logs shows them while it waits", cli.stdout + cli.stderr)
        status, _ = h.reschedule(eid, {})
        check_eq(status, 200, "reschedule ends the sleep")
        check_eq(h.wait_final(eid)["state"], "succeeded", "it finishes")
        check_eq(lines(h, eid), BEFORE + [("error", "after sleep")], "every line once, in order, after the replay")

        again = h.trigger_ok("logged_sleep", {"sleep": "1h"})
        h.wait_state(again, "waiting", timeout=10)
        h.kill9()
        h.restart()
        check_eq(lines(h, again), BEFORE, "after kill -9 in the wait, the lines are still there")
        h.reschedule(again, {})
        h.wait_final(again)
        check_eq(lines(h, again), BEFORE + [("error", "after sleep")], "and the replay after the restart adds only its new line")

        parent = h.trigger_ok("logged_child")
        check_eq(h.wait_final(parent)["state"], "succeeded", "logged_child finishes")
        check_eq(lines(h, parent), [("info", "calling"), ("info", "child done")],
                 "a line before an await is stored once, though the next pass logs it again")
        child = h.execution(parent)["children"][0]
        check_eq(lines(h, child), [("info", "leaf")], "the child has its own line")


harness.run(main)
