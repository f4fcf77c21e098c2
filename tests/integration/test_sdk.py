"""The SDK calls (ABI 1) as a plugin sees them, through the real host and testfns.

tarry_set_result round-trips any JSON and refuses invalid JSON (invalid
UTF-8 too) with TARRY_EINVAL, failing the attempt with the reason; tarry_set_error's message becomes the
execution's error; tarry_log lines are stored in order with their levels;
tarry_execution_id and tarry_attempt are the execution's; functions run on
the worker pool in parallel, not one at a time, and the host answers while
every worker is busy.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, time_ms


def main():
    with harness.Host(plugins=["testfns"], workers=4) as h:
        for args in ({"a": [1, 2.5, None, True, "ü"]}, [], "text", 0, -1.5e300, None, {"deep": {"er": {"est": []}}}):
            status, doc = h.trigger("echo", args, wait="5s")
            check(status == 200 and doc.get("state") == "succeeded" and doc.get("result") == args, "echo round-trips %r" % (args,), doc)

        status, doc = h.trigger("fail", None, wait="5s")
        check(status == 200 and doc.get("state") == "failed", "fail -> failed", doc)
        check_eq(doc.get("error"), "deliberate failure", "tarry_set_error's message is the error")
        check_eq(doc.get("result"), None, "a failure has no result")

        status, doc = h.trigger("bad_result", None, wait="5s")
        check(status == 200 and doc.get("state") == "failed", "bad_result saw TARRY_EINVAL from set_result and failed", doc)
        check_eq(doc.get("result"), None, "an invalid result is not stored")
        check("tarry_set_result: invalid JSON" in (doc.get("error") or ""), "the attempt fails with the reason", doc)
        status, logs, _ = h.get("/v1/executions/%s/logs" % doc["id"])
        check(any("json" in l["message"].lower() for l in logs.get("data", [])), "the refused result's reason is logged with the execution", logs)

        # A result with invalid UTF-8 that the function ignores being refused: failed, not stored
        # and served (a strict client could not parse the answer, nor a list page holding it).
        status, doc = h.trigger("bad_utf8_result", None, wait="5s")
        check(status == 200 and doc.get("state") == "failed", "an invalid UTF-8 result fails the attempt", doc)
        check_eq(doc.get("error"), "tarry_set_result: invalid JSON: user.name: invalid UTF-8 (byte 0xE9) in a string (byte 22)", "the error names the value")
        check_eq(doc.get("result"), None, "the invalid result is not stored")

        # An error with invalid UTF-8 is kept as text with '?' for the bad bytes (one stored byte
        # that is not UTF-8 would break every JSON answer holding it, and a PostgreSQL commit).
        status, doc = h.trigger("bad_utf8_error", None, wait="5s")
        check_eq((status, doc.get("state")), (200, "failed"), "bad_utf8_error fails")
        check_eq(doc.get("error"), "no user Ren? (??)", "the error keeps its text, each bad byte a '?'")

        status, doc = h.trigger("log_lines", None, wait="5s")
        check_eq(doc.get("state"), "succeeded", "log_lines succeeds")
        status, logs, _ = h.get("/v1/executions/%s/logs" % doc["id"])
        got = [(l["level"], l["message"]) for l in logs["data"]]
        check_eq(
            got,
            [("info", "log line 1 (info)"), ("warn", "log line 2 (warn)"), ("error", "log line 3 (error)")],
            "log lines stored in order with their levels",
        )
        times = [time_ms(l["time"]) for l in logs["data"]]
        check(times == sorted(times), "log times do not go backwards", times)

        rec_file = os.path.join(h.dir, "record.txt")
        status, doc = h.trigger("record", {"file": rec_file}, wait="5s")
        check_eq(doc.get("result"), {"ok": True}, "record result")
        with open(rec_file) as f:
            check_eq(f.read(), "%s 1\n" % doc["id"], "tarry_execution_id and tarry_attempt are the execution's")

        # Four workers run four functions at once: all four are `running` together, the host
        # answers while they are, and their [started_at, finished_at] spans share an instant.
        # (How fast they run is scripts/bench's business, not this test's.)
        ids = [h.trigger_ok("slow", {"ms": 2000}) for _ in range(4)]
        busy = []
        for i in ids:
            busy.append(h.wait_state(i, ("running",) + harness.FINAL_STATES, timeout=10))
        check(all(r["state"] == "running" for r in busy), "all four are running at once on four workers",
              [r["state"] for r in busy])
        check(h.healthy(), "GET /healthz answers while every worker is busy")
        still = [h.execution(i)["state"] for i in ids]
        check_eq(still, ["running"] * 4, "every worker was still busy when /healthz answered")
        recs = [h.wait_final(i, timeout=20) for i in ids]
        check(all(r["result"] == {"slept_ms": 2000} for r in recs), "slow returns slept_ms", recs)
        starts = [time_ms(r["started_at"]) for r in recs]
        ends = [time_ms(r["finished_at"]) for r in recs]
        check(max(starts) < min(ends), "the four ran in parallel: the last start is before the first finish",
              (starts, ends))

harness.run(main)
