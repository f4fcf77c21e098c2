"""Retries (issue 9): attempts, backoff waits in an LMDB timer, permanent failures,
a workflow's retry that does not redo earlier steps, and the attempts list.

Through the real binary and the compiled "retry" test plugin (tests/plugins/retry.c):
  - flaky {"fail": 1} (5 attempts, 2 s apart): attempt 1 fails, the execution waits
    `scheduled` with next_attempt_at (and its error kept); the host is killed -9 during
    the wait and started again; attempt 2 succeeds. GET .../attempts lists both.
  - a reschedule of a waiting retry moves next_attempt_at with it.
  - flaky_now {"fail": 2} (zero intervals): succeeds on attempt 3.
  - exhaust: 3 attempts, all failed: final `failed` with the last error.
  - doomed (tarry_fail_permanent): one attempt, permanent, never retried.
  - flaky_plain (no policy): one attempt, failed.
  - wf_retry: step one, a child, step two failing on attempt 1: the retry runs step
    two again but neither step one nor the child (counted in an effects file); the
    child is settled once, with one attempt of its own.
  - `tarry show` lists the attempts; an older-revision plugin (rev3) still runs and
    has its one attempt listed.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True
import harness
from harness import check, check_eq


def attempts(h, x):
    status, doc, _ = h.get("/v1/executions/%s/attempts" % x)
    check_eq(status, 200, "GET /v1/executions/%s/attempts" % x)
    return doc["data"]


def check_attempt(a, number, outcome, **flags):
    check_eq(a["number"], number, "attempt number")
    check_eq(a["outcome"], outcome, "attempt %d's outcome" % number)
    check(a["started_at"] and a["finished_at"], "attempt %d has its start and end" % number, a)
    check(harness.time_ms(a["finished_at"]) >= harness.time_ms(a["started_at"]), "attempt %d ends after it starts" % number, a)
    for k in ("crashed", "timed_out", "permanent"):
        check_eq(a[k], flags.get(k, False), "attempt %d's %s" % (number, k))


def main():
    with harness.Host(plugins=["retry", "rev3"], workers=2) as h:
        # ---- a retry waits in the store, across kill -9 ----
        x = h.trigger_ok("flaky", {"fail": 1})
        doc = h.wait_for(x, lambda d: d["state"] == "scheduled" and d["attempts"] == 1, "flaky waits for its retry")
        check(doc["next_attempt_at"] is not None, "a waiting retry has next_attempt_at", doc)
        check_eq(doc["next_attempt_at"], doc["scheduled_at"], "next_attempt_at is its scheduled_at")
        check_eq(doc["error"], "attempt 1 fails on purpose", "the failed attempt's error is kept while it waits")
        check(harness.time_ms(doc["next_attempt_at"]) - harness.time_ms(doc["started_at"]) >= 1500,
              "the retry waits the policy's 2 s", doc)
        a = attempts(h, x)
        check_eq(len(a), 1, "one attempt so far")
        check_attempt(a[0], 1, "failed")
        check_eq(a[0]["error"], "attempt 1 fails on purpose", "attempt 1's error")

        # The wait is durable: kill -9 during it, and it still waits, for the same time.
        waiting = doc
        h.kill9()
        h.start()
        doc = h.execution(x)
        check_eq((doc["state"], doc["next_attempt_at"], doc["error"]),
                 ("scheduled", waiting["next_attempt_at"], waiting["error"]), "after kill -9 the retry still waits, unchanged")
        doc = h.wait_final(x)
        check_eq(doc["state"], "succeeded", "flaky succeeds on its retry after a kill -9")
        check_eq(doc["result"], {"attempt": 2}, "the result is attempt 2's")
        check_eq(doc["attempts"], 2, "two attempts")
        check_eq(doc["error"], None, "no error once an attempt succeeded")
        check_eq(doc["next_attempt_at"], None, "no next attempt once final")
        a = attempts(h, x)
        check_eq([t["outcome"] for t in a], ["failed", "succeeded"], "both attempts are listed, in order")
        check_attempt(a[1], 2, "succeeded")

        # ---- a reschedule of a waiting retry moves its next attempt too ----
        x = h.trigger_ok("flaky", {"fail": 1})
        h.wait_for(x, lambda d: d["state"] == "scheduled" and d["attempts"] == 1, "flaky waits for its retry")
        later = harness.rfc3339(time.time() + 3600)
        status, resp = h.reschedule(x, {"at": later})
        check(status in (200, 202), "reschedule a waiting retry", (status, resp))
        doc = h.execution(x)
        check_eq(doc["state"], "scheduled", "still waiting")
        check_eq(harness.time_ms(doc["next_attempt_at"]) // 1000, harness.time_ms(later) // 1000,
                 "next_attempt_at follows the reschedule")
        check_eq(doc["next_attempt_at"], doc["scheduled_at"], "and stays its scheduled_at")
        status, resp = h.reschedule(x, {})
        check(status in (200, 202), "reschedule to now", (status, resp))
        doc = h.wait_final(x)
        check_eq((doc["state"], doc["attempts"]), ("succeeded", 2), "the rescheduled retry ran at once")

        # ---- zero intervals: straight back to the queue ----
        x = h.trigger_ok("flaky_now", {"fail": 2})
        doc = h.wait_final(x)
        check_eq((doc["state"], doc["attempts"], doc["result"]), ("succeeded", 3, {"attempt": 3}), "flaky_now succeeds on attempt 3")
        check_eq([t["outcome"] for t in attempts(h, x)], ["failed", "failed", "succeeded"], "flaky_now's attempts")

        # ---- attempts run out ----
        x = h.trigger_ok("exhaust", {})
        doc = h.wait_final(x)
        check_eq((doc["state"], doc["attempts"]), ("failed", 3), "exhaust fails after its 3 attempts")
        check_eq(doc["error"], "still broken (attempt 3)", "the last attempt's error")
        a = attempts(h, x)
        check_eq([t["error"] for t in a], ["still broken (attempt %d)" % n for n in (1, 2, 3)], "every attempt's error is kept")

        # ---- permanent failure ----
        x = h.trigger_ok("doomed", {})
        doc = h.wait_final(x)
        check_eq((doc["state"], doc["attempts"]), ("failed", 1), "tarry_fail_permanent is not retried")
        check_eq(doc["error"], "card declined (attempt 1)", "the permanent error")
        a = attempts(h, x)
        check_eq(len(a), 1, "one attempt")
        check_attempt(a[0], 1, "failed", permanent=True)

        # ---- no policy ----
        x = h.trigger_ok("flaky_plain", {"fail": 1})
        doc = h.wait_final(x)
        check_eq((doc["state"], doc["attempts"]), ("failed", 1), "without a policy a failure is final")

        # ---- a workflow's retry replays its journal ----
        effects = os.path.join(h.dir, "effects")
        x = h.trigger_ok("wf_retry", {"effects": effects})
        doc = h.wait_final(x)
        check_eq((doc["state"], doc["result"]), ("succeeded", {"attempt": 2}), "wf_retry succeeds on attempt 2")
        with open(effects) as f:
            lines = f.read().splitlines()
        print("effects:", lines)
        check_eq(lines, ["one", "child", "two 1", "two 2"],
                 "the retry ran step two again, but neither step one nor the child")
        status, full, _ = h.get("/v1/executions/%s" % x)
        steps = [j for j in full["journal"] if j["kind"] == "step"]
        check_eq([(j["name"], j["status"]) for j in steps], [("one", "succeeded"), ("two", "succeeded")],
                 "the journal holds step one and step two's successful run")
        child = full["children"][0] if isinstance(full["children"][0], str) else full["children"][0]["id"]
        cdoc = h.execution(child)
        check_eq((cdoc["state"], cdoc["attempts"]), ("succeeded", 1), "the child ran once")
        check_eq([t["outcome"] for t in attempts(h, x)], ["failed", "succeeded"], "wf_retry's attempts")

        # ---- tarry show ----
        p = h.cli("show", x)
        check_eq(p.returncode, 0, "tarry show exits 0")
        print(p.stdout.rstrip())
        check(re.search(r"attempt 1 +failed", p.stdout) and re.search(r"attempt 2 +succeeded", p.stdout),
              "tarry show lists the attempts", p.stdout)
        check("step two fails on attempt 1" in p.stdout, "tarry show gives a failed attempt's error", p.stdout)

        # ---- an older-revision plugin ----
        x = h.trigger_ok("rev3_parent", {"n": 1})
        doc = h.wait_final(x)
        check_eq(doc["state"], "succeeded", "a revision-3 plugin still runs")
        a = attempts(h, x)
        check_eq(len(a), 1, "its one attempt is listed")
        check_attempt(a[0], 1, "succeeded")
        check_eq((doc["next_attempt_at"], doc["timeouts"]), (None, 0), "the new record fields, empty")


harness.run(main)
