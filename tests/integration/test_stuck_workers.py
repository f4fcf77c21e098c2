"""Functions that never return are visible as such (issue 8, item 3).

With --workers 2 and --stuck-after 2s (TARRY_STUCK_AFTER), two spinning
functions hold both workers:
  - /metrics says tarry_workers_busy 2, tarry_workers_stuck 2 and how long
    the oldest has run; the log says once that every worker is stuck (not
    once per check), and names each spinning execution once;
  - GET /v1/executions?state=running gives each its running_ms and
    stuck: true, and `tarry ls --state running` shows their run time;
  - other work waits queued, and the host still answers;
  - after a kill -9 and a restart the spinners hold the workers again and
    are reported again;
  - once they return, the log says a worker is free, the queued work runs,
    and the metrics go back to 0.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

STUCK_AFTER = "2s"






def log_lines(h, text):
    return [l for l in h.log_text().splitlines() if text in l]


def check_stuck(h, spinners, start_no):
    """Both spinners hold both workers past the threshold: metrics, log, list, CLI."""
    h.wait_metric("tarry_workers_stuck", 2)
    m = h.metrics()
    check_eq(m.get("tarry_workers_busy"), 2, "tarry_workers_busy")
    check(m.get("tarry_worker_oldest_run_seconds", 0) >= 2.0, "tarry_worker_oldest_run_seconds is past the threshold", m)
    check_eq(m.get("tarry_stuck_after_seconds"), 2.0, "tarry_stuck_after_seconds is the configured threshold")

    # The log says it as it happens: wait for the line, do not assume the timer ran.
    deadline = time.monotonic() + 30
    this_start = lambda: h.log_text().rsplit("=== harness: start #%d" % start_no, 1)[-1]
    while "every worker (2) is busy" not in this_start() and time.monotonic() < deadline:
        time.sleep(0.1)
    since = this_start()
    check(since.count("every worker (2) is busy") == 1, "the log says once that every worker is stuck", since)
    for x in spinners:
        check(since.count("execution %s (spin) has run for" % x) == 1, "the log names spinning execution %s once" % x, since)

    status, doc, _ = h.get("/v1/executions?state=running")
    check_eq(status, 200, "GET /v1/executions?state=running")
    running = {e["id"]: e for e in doc["data"]}
    check_eq(sorted(running), sorted(spinners), "the running executions are the two spinners")
    for x in spinners:
        e = running[x]
        check(isinstance(e.get("running_ms"), (int, float)) and e["running_ms"] >= 2000, "%s has running_ms past the threshold" % x, e)
        check(e.get("stuck") is True and e.get("started_at"), "%s is stuck: true, with its started_at" % x, e)

    p = h.cli("ls", "--state", "running")
    check_eq(p.returncode, 0, "tarry ls --state running exits 0")
    print(p.stdout.rstrip())
    check("RUN TIME" in p.stdout, "tarry ls has a RUN TIME column", p.stdout)
    for x in spinners:
        row = [l for l in p.stdout.splitlines() if l.startswith(x)]
        check(row and "(stuck)" in row[0] and re.search(r"\d+s", row[0].split("running", 1)[1]), "tarry ls shows %s's run time, stuck" % x, p.stdout)


def main():
    with harness.Host(plugins=["spin"], workers=2, extra_env={"TARRY_STUCK_AFTER": STUCK_AFTER}) as h:
        release = os.path.join(h.dir, "release")
        spinners = [h.trigger_ok("spin", {"until": release}) for _ in range(2)]
        for x in spinners:
            h.wait_state(x, "running")
        quick = h.trigger_ok("spin_quick", {})
        check_stuck(h, spinners, 1)

        # Other work waits; the host answers.
        check_eq(h.execution(quick)["state"], "queued", "work behind the spinners is queued")
        check(h.healthy(), "the host answers /healthz")
        status, doc, _ = h.get("/v1/functions")
        check(status == 200 and {f["name"] for f in doc["data"]} >= {"spin", "spin_quick"}, "the host answers GET /v1/functions")
        status, doc = h.trigger("spin_quick", {}, wait="0s")
        check(status in (200, 202) and doc.get("state") == "queued", "a trigger is still accepted, and queued", (status, doc))
        quick2 = doc["id"]

        # A restart puts them back on the workers: stuck again, said again.
        h.kill9()
        h.start()
        check_stuck(h, spinners, 2)

        with open(release, "w"):
            pass
        for x in spinners:
            check_eq(h.wait_final(x)["state"], "succeeded", "spinner %s returns once released" % x)
        for q in (quick, quick2):
            check_eq(h.wait_final(q)["state"], "succeeded", "the queued work runs once a worker is free (%s)" % q)
        check(log_lines(h, "a worker is free again"), "the log says a worker is free again", h.log_tail())
        h.wait_metric("tarry_workers_stuck", 0)
        status, doc, _ = h.get("/v1/executions?state=running")
        check_eq(doc["data"], [], "nothing is running any more")


harness.run(main)
