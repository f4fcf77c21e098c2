"""Workflow semantics through the real host and the `wf` test plugin (tests/plugins/wf.c):

- await_all is allSettled: a failing child is reported with its status and error while
  the sibling's value is intact; tarry_await of a failed child gives TARRY_FAILED and its
  error; two 1-second children awaited together run at the same time (their spans overlap).
- misuse: every bad call returns TARRY_EINVAL (-30700), logs its reason with the
  execution, and leaves the journal alone.
- a function that returns TARRY_OK after a TARRY_SUSPEND fails with a clear error.
- a function (or a step) that sets no result gets JSON null.
- tarry_now_ms is journaled: the run after the child settles sees the first time again.
- durable sleep: `waiting` with wake_at; PATCH .../schedule {} wakes it now, {"in"} and
  {"at"} move it; a running or finished execution is 409 not_reschedulable; unknown 404.
- a step runs once across kill -9 while its workflow sleeps.
- fanout: 50 children all succeed, each exactly once and each a child of the fan-out.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, rfc3339, time_ms

TARRY_OK, TARRY_FAILED, TARRY_EINVAL = 0, 2, -30700
MS = 0.001  # the host's times are whole milliseconds: one may read up to 1 ms before ours
# Timers run on libuv's monotonic clock, due times are wall-clock: their rounding may show a
# wake a millisecond or two "before" its due time.
CLOCK_ROUNDING_S = 0.002
MISUSES = ("unknown_function", "null_function", "bad_args_json", "bad_delay", "bad_sleep", "null_sleep",
           "null_step_fn", "null_step_name", "forged_id", "seq_out_of_range", "null_handle", "null_handles")


def journal_shape(doc):
    return [(e["kind"], e["name"], e["status"]) for e in doc["journal"]]


def log_text(h, exec_id):
    return "\n".join(line["message"] for line in h.logs(exec_id))


def test_parallel(h):
    eid = h.trigger_ok("parallel", {"ms": 1000})
    rec = h.wait_final(eid, timeout=20)
    check_eq(rec["state"], "succeeded", "parallel succeeded")
    check_eq(rec["result"], {"a": {"slept": 1000}, "b": {"slept": 1000}}, "parallel's result holds both children's")
    spans = [(time_ms(c["started_at"]), time_ms(c["finished_at"])) for c in map(h.execution, rec["children"])]
    overlap = min(e for _, e in spans) - max(s for s, _ in spans)
    took = time_ms(rec["finished_at"]) - time_ms(rec["created_at"])
    check(overlap > 0, "two 1 s children ran together: overlap %.0f ms (workflow %.0f ms)" % (overlap, took), spans)


def test_failures(h):
    eid = h.trigger_ok("fail_child")
    rec = h.wait_final(eid, timeout=20)
    check_eq(rec["state"], "succeeded", "fail_child succeeded (allSettled: a failed child does not fail the awaiter)")
    r = rec["result"]
    check_eq(r["statuses"], [TARRY_FAILED, TARRY_OK], "await_all reports each child's own status")
    check_eq(r["ok_value"], {"ok": True, "args": {"value": 7}}, "the sibling's value is intact")
    check(isinstance(r["fail_error"], str) and "wf_fail: deliberate failure" in r["fail_error"],
          "the failed child's error is reported", r)
    check_eq((r["fail_value"], r["ok_error"]), (None, None), "no value for the failure, no error for the success")
    check_eq(journal_shape(rec), [("call", "wf_fail", "failed"), ("call", "wf_ok", "succeeded")],
             "the journal records a failed and a succeeded call")
    check("deliberate failure" in (rec["journal"][0].get("error") or ""), "the failed entry carries the child's error", rec["journal"][0])
    kids = [h.execution(c) for c in rec["children"]]
    check_eq(sorted((k["function"], k["state"]) for k in kids), [("wf_fail", "failed"), ("wf_ok", "succeeded")],
             "the children: wf_fail failed, wf_ok succeeded")

    eid = h.trigger_ok("await_failed")
    rec = h.wait_final(eid, timeout=20)
    check_eq(rec["state"], "succeeded", "await_failed succeeded")
    r = rec["result"]
    check_eq((r["status"], r["result_status"]), (TARRY_FAILED, TARRY_FAILED), "tarry_await of a failed child gives TARRY_FAILED")
    check("wf_fail: deliberate failure" in (r["error"] or ""), "... with the child's error", r)
    check_eq(r["value"], None, "... and no value")


def test_misuse(h):
    stranger = h.trigger_ok("wf_ok", {"x": 1})
    h.wait_final(stranger)
    for other in (None, stranger):
        eid = h.trigger_ok("misuse", {"other_id": other} if other else {})
        rec = h.wait_final(eid, timeout=20)
        what = "misuse (%s)" % ("forged id: an unrelated execution" if other else "forged id: its own")
        check_eq(rec["state"], "succeeded", what + " returns OK after its misuses")
        r = rec["result"]
        bad = {k: r.get(k) for k in MISUSES if r.get(k) != TARRY_EINVAL}
        check(not bad, what + ": each of the %d misuses returned TARRY_EINVAL" % len(MISUSES), bad)
        check_eq(r.get("valid_call"), TARRY_OK, what + ": the one good call returned TARRY_OK")
        # The good child is never awaited: it may finish after its parent, and then settles the entry.
        h.wait_final(r["valid_id"])
        rec = h.execution(eid)
        check_eq(journal_shape(rec), [("call", "wf_ok", "succeeded")],
                 what + ": the journal holds only the good call (settled once the child finished)")
        check_eq(rec["children"], [r["valid_id"]], what + ": one child, the good call's")
        lines = h.logs(eid)
        text = "\n".join(line["message"] for line in lines)
        for word in ("no_such_function", "1 dy", "soon", "NULL"):
            check(word.lower() in text.lower(), what + ": the logs name %r" % word, text)
        check(len(lines) >= len(MISUSES), what + ": a log line per misuse (%d lines)" % len(lines), text)
        check(any(line["level"] in ("warn", "error") for line in lines), what + ": logged as warnings or errors", lines)
        print("   %s logs:\n      %s" % (what, text.replace("\n", "\n      ")))


def test_suspend_then_ok(h):
    eid = h.trigger_ok("suspend_then_ok")
    rec = h.wait_final(eid, timeout=20)
    check_eq(rec["state"], "failed", "returning TARRY_OK after TARRY_SUSPEND fails the execution")
    err = rec.get("error") or ""
    check("suspend" in err.lower(), "with an error that says it ignored TARRY_SUSPEND: %r" % err, rec)
    check_eq(rec["result"], None, "and no result")


def test_null_results(h):
    rec = h.wait_final(h.trigger_ok("noop"))
    check(rec["state"] == "succeeded" and "result" in rec and rec["result"] is None,
          "a function that sets no result gets JSON null", rec)
    status, body, _ = h.client.get("/v1/executions/%s/result" % rec["id"])
    check(status == 200, "GET .../result of it -> 200", (status, body))
    eid = h.trigger_ok("steps", {"n": 2, "sleep": "0s"})
    rec = h.wait_final(eid, timeout=20)
    check_eq(rec["state"], "succeeded", "steps n=2 succeeded")
    steps = [e for e in rec["journal"] if e["kind"] == "step"]
    check(len(steps) == 2 and all(e["status"] == "succeeded" and e["result"] is None for e in steps),
          "a step that sets no result records null", rec["journal"])


def test_now_twice(h):
    eid = h.trigger_ok("now_twice")
    rec = h.wait_final(eid, timeout=20)
    check_eq(rec["state"], "succeeded", "now_twice succeeded")
    r = rec["result"]
    nows = [e for e in rec["journal"] if e["kind"] == "now"]
    check_eq([e["kind"] for e in rec["journal"]], ["now", "call", "now"], "the journal: now, call, now")
    check(r["second"] - r["first"] >= 50, "the second now is >= 50 ms after the first (%d ms)" % (r["second"] - r["first"]), r)
    created = time_ms(rec["created_at"])
    child = h.execution(rec["children"][0])
    check(created - 5 <= r["first"] <= time_ms(child["created_at"]),
          "the first now is the first run's time (before the child it then called), not a later run's",
          (created, r, child["created_at"]))
    check_eq([e["result"] for e in nows], [r["first"], r["second"]], "each now's journal entry holds the time the function saw")
    check_eq(r["child"], {"slept": 50}, "the awaited child's value")


def test_sleeper(h):
    t0 = time.time()
    eid = h.trigger_ok("sleeper", {"duration": "1h"})
    rec = h.wait_state(eid, "waiting", timeout=10)
    t1 = time.time()
    wake = time_ms(rec["wake_at"]) / 1000.0 if rec.get("wake_at") else None
    check(wake is not None and t0 + 3600 - MS <= wake <= t1 + 3600,
          "a 1h sleeper is waiting with wake_at 1 h after its run (between the trigger and the GET, + 1 h)", rec)
    check_eq(journal_shape(rec), [("sleep", "1h", "pending")], "its journal: one pending sleep")
    check(rec["journal"][0].get("wake_at") == rec["wake_at"], "the sleep entry has the same wake_at", rec)

    # Not reschedulable: running, finished, unknown.
    busy = h.trigger_ok("wf_sleep", {"ms": 2000})
    h.wait_state(busy, "running", timeout=5)
    status, doc = h.reschedule(busy, {})
    harness.check_error(status, doc, 409, "not_reschedulable", "reschedule of a running execution")
    done = h.wait_final(h.trigger_ok("wf_ok"))
    status, doc = h.reschedule(done["id"], {})
    harness.check_error(status, doc, 409, "not_reschedulable", "reschedule of a finished execution")
    status, doc = h.reschedule("0" * 26, {})
    check(status == 404, "reschedule of an unknown id -> 404", (status, doc))

    # {} -> now.
    t_patch = time.time()
    status, doc = h.reschedule(eid, {})
    check(status == 200, "PATCH .../schedule {} on the sleeper -> 200", (status, doc))
    rec = h.wait_final(eid, timeout=30)
    t_done = time.time()
    check_eq(rec["state"], "succeeded", "the sleeper woke and succeeded")
    woke = rec["result"]["woke_at"] / 1000.0
    check(t_patch - MS <= woke <= t_done, "it woke after the PATCH, an hour early (%.0f ms after the PATCH)"
          % ((woke - t_patch) * 1000), rec)
    check_eq(journal_shape(rec)[0], ("sleep", "1h", "succeeded"), "its sleep entry is succeeded")
    status, doc = h.reschedule(eid, {})
    harness.check_error(status, doc, 409, "not_reschedulable", "reschedule of the woken (finished) sleeper")

    # {"in": "1s"} and {"at": ...} move the timer without firing it.
    a = h.trigger_ok("sleeper", {"duration": "1h"})
    b = h.trigger_ok("sleeper", {"duration": "1h"})
    h.wait_state(a, "waiting")
    h.wait_state(b, "waiting")
    t_patch = time.time()
    status, doc = h.reschedule(a, {"in": "1s"})
    t_in = time.time()
    check(status == 200, "PATCH {\"in\": \"1s\"} -> 200", (status, doc))
    at = rfc3339(t_patch + 1.5)
    status, doc = h.reschedule(b, {"at": at})
    check(status == 200, "PATCH {\"at\": +1.5s} -> 200", (status, doc))
    ra, rb = h.execution(a), h.execution(b)
    due_a, due_b = time_ms(ra["wake_at"]) / 1000.0, time_ms(rb["wake_at"]) / 1000.0
    check(t_patch + 1.0 - MS <= due_a <= t_in + 1.0, "wake_at moved to 1 s after the PATCH", ra)
    check_eq(time_ms(rb["wake_at"]), time_ms(at), "wake_at moved to the time given")
    if time.time() < due_a:  # observed before the earlier one is due (not on a stalled machine)
        check_eq((ra["state"], rb["state"]), ("waiting", "waiting"), "both still wait")
    ra, rb = h.wait_final(a, timeout=30), h.wait_final(b, timeout=30)
    for rec, due in ((ra, due_a), (rb, due_b)):
        woke = rec["result"]["woke_at"] / 1000.0
        check(rec["state"] == "succeeded" and woke >= due - CLOCK_ROUNDING_S,
              "a moved sleep woke when moved to, not before (%+.0f ms)" % ((woke - due) * 1000), rec)

    # A delayed start is reschedulable too.
    late = h.trigger_ok("wf_ok", {"late": True}, delay="1 day")
    check_eq(h.execution(late)["state"], "scheduled", "a delayed start is scheduled")
    status, doc = h.reschedule(late, {})
    check(status == 200, "PATCH .../schedule {} on a delayed start -> 200", (status, doc))
    check_eq(h.wait_final(late, timeout=10)["state"], "succeeded", "it ran at once")


def test_step_once_across_kill(h):
    fx = os.path.join(h.dir, "steps.log")
    eid = h.trigger_ok("step_once", {"effects": fx, "sleep": "1h"})
    rec = h.wait_state(eid, "waiting", timeout=10)
    check_eq(journal_shape(rec), [("step", "once", "succeeded"), ("sleep", "1h", "pending")],
             "step_once: the step is committed, the sleep pending")
    h.kill9()
    h.restart()
    check_eq(h.execution(eid)["state"], "waiting", "after kill -9 and restart it still sleeps")
    status, doc = h.reschedule(eid, {})
    check(status == 200, "wake it with PATCH .../schedule {}", (status, doc))
    rec = h.wait_final(eid, timeout=10)
    check_eq((rec["state"], rec["result"]), ("succeeded", {"n": 1}), "it succeeds with the step's recorded result")
    with open(fx) as f:
        lines = f.read().splitlines()
    check_eq(lines, ["step " + eid], "the step's side effect happened once")


def test_fanout(h):
    eid = h.trigger_ok("fanout", {"n": 50})
    rec = h.wait_final(eid, timeout=60)
    check_eq(rec["state"], "succeeded", "fanout of 50 succeeded")
    check_eq(rec["result"], {"count": 50, "succeeded": 50}, "all 50 children succeeded")
    j = rec["journal"]
    check(len(j) == 50 and all(e["kind"] == "call" and e["name"] == "wf_ok" and e["status"] == "succeeded" for e in j),
          "the journal: 50 succeeded calls of wf_ok", [(e["kind"], e["name"], e["status"]) for e in j][:5])
    ids = [e["child_id"] for e in j]
    check_eq(len(set(ids)), 50, "50 distinct children")
    check_eq(sorted(rec["children"]), sorted(ids), "the children list is the journal's")
    everything, _ = h.list_all("function=wf_ok", limit=1000)
    mine = [e for e in everything if e.get("parent_id") == eid]
    check_eq(sorted(e["id"] for e in mine), sorted(ids), "exactly those 50 executions name the fan-out as parent")
    check_eq(sorted(e["args"]["i"] for e in mine), list(range(50)), "each i from 0 to 49 once")
    check(all(e["state"] == "succeeded" for e in mine), "every child succeeded", [e["state"] for e in mine])
    spans = [(time_ms(e["started_at"]), time_ms(e["finished_at"])) for e in mine]
    print("   fanout 50: workflow %.0f ms; children ran over %.0f ms"
          % (time_ms(rec["finished_at"]) - time_ms(rec["created_at"]), max(x for _, x in spans) - min(s for s, _ in spans)))


def main():
    with harness.Host(plugins=["wf", "testfns", "wfbench"], workers=4) as h:
        test_parallel(h)
        test_failures(h)
        test_misuse(h)
        test_suspend_then_ok(h)
        test_null_results(h)
        test_now_twice(h)
        test_sleeper(h)
        test_fanout(h)
        test_step_once_across_kill(h)


harness.run(main)
