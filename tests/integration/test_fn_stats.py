"""GET /v1/functions/{name}/stats (issue 10): a function's counts, success rate and run-time
percentiles over the last hour or day, from the engine's counters.

Through the real binary and the compiled testfns and retry plugins:
  - slow runs with {"ms": 1, 5, 20, 50, 100} (5 succeeded), plus one slow scheduled an hour
    ahead and cancelled (cancelled, never started): totals started 5, succeeded 5,
    cancelled 1, success_rate 5/6; p50 <= p95 <= p99, with lower bounds the sleeps give
    (a run lasts at least as long as it sleeps: p99 counts the 100 ms one, p50 the 20 ms);
  - flaky_now with {"fail": 2} (succeeds on attempt 3) and {"fail": 9} (5 attempts, fails):
    started 2, succeeded 1, failed 1, retries 2 + 4 = 6, success_rate 0.5;
  - window=1h: 60 buckets of 60 s, window=24h: 96 of 900 s, both oldest first and
    contiguous, from == the first bucket's start, the counts of the buckets add up to the
    totals; the default window is 1h;
  - a loaded function that never ran: 200 with zero totals, null success_rate and duration;
  - 404 not_found for an unknown function, 400 invalid_query for window=7d.
"""

import sys
import time

sys.dont_write_bytecode = True
import harness
from harness import check, check_eq, check_error

COUNTS = ("started", "succeeded", "failed", "cancelled", "discarded", "blocked", "retries")


def stats(h, name, query=""):
    status, doc, _ = h.get("/v1/functions/%s/stats%s" % (name, query))
    check_eq(status, 200, "GET /v1/functions/%s/stats%s" % (name, query))
    return doc


def check_shape(doc, name, window, n, width):
    check_eq(doc["function"], name, "function")
    check_eq(doc["window"], window, "window")
    check_eq(doc["bucket_seconds"], width, "bucket_seconds")
    b = doc["buckets"]
    check_eq(len(b), n, "%s: %d buckets" % (window, n))
    at = [harness.time_ms(x["at"]) for x in b]
    check_eq(at[0], harness.time_ms(doc["from"]), "from is the first bucket's start")
    check(all(at[i + 1] - at[i] == width * 1000 for i in range(n - 1)), "buckets are contiguous, oldest first", at[:3])
    check(at[-1] <= harness.time_ms(doc["to"]) < at[-1] + width * 1000, "the last bucket holds `to` (now)",
          (doc["to"], b[-1]["at"]))
    for c in COUNTS:
        if c != "retries":
            check_eq(sum(x[c] for x in b), doc["totals"][c], "%s: buckets add up to totals.%s" % (window, c))
    for x in b:
        ps = [x["p50_ms"], x["p95_ms"], x["p99_ms"]]
        if x["p50_ms"] is None:
            check(ps == [None] * 3, "a bucket's percentiles are all null or none", x)
        else:
            check(ps == sorted(ps), "a bucket's p50 <= p95 <= p99", x)


def main():
    with harness.Host(plugins=["testfns", "retry"]) as h:
        ids = [h.trigger_ok("slow", {"ms": ms}) for ms in (1, 5, 20, 50, 100)]
        ids += [h.trigger_ok("flaky_now", {"fail": 2}), h.trigger_ok("flaky_now", {"fail": 9})]
        later = h.trigger_ok("slow", {"ms": 1}, delay="1h")
        status, _, _ = h.call("POST", "/v1/executions/%s/cancel" % later, {})
        check(status in (200, 202), "cancel the scheduled slow", status)
        for i in ids + [later]:
            h.wait_final(i)
        print("ran slow x5 (1..100 ms), 1 slow cancelled, flaky_now fail=2 and fail=9")

        deadline = time.monotonic() + 30
        while stats(h, "slow")["totals"]["succeeded"] + stats(h, "flaky_now")["totals"]["failed"] < 6:
            check(time.monotonic() < deadline, "the ends are counted once durable")
            time.sleep(0.05)

        for window, n, width in (("1h", 60, 60), ("24h", 96, 900)):
            doc = stats(h, "slow", "?window=" + window)
            check_shape(doc, "slow", window, n, width)
            t = doc["totals"]
            check_eq([t[c] for c in COUNTS], [5, 5, 0, 1, 0, 0, 0], "slow (%s): %s" % (window, ",".join(COUNTS)))
            check(abs(doc["success_rate"] - 5 / 6) < 1e-9, "slow: success rate 5/6", doc["success_rate"])
            d = doc["duration_ms"]
            check(d["p50"] <= d["p95"] <= d["p99"], "slow: p50 <= p95 <= p99", d)
            check(d["p99"] >= 100 / 1.42, "slow: p99 counts the 100 ms run", d)
            check(d["p50"] >= 20 / 1.42, "slow: p50 is the 20 ms run's", d)

            doc = stats(h, "flaky_now", "?window=" + window)
            check_shape(doc, "flaky_now", window, n, width)
            t = doc["totals"]
            check_eq([t[c] for c in COUNTS], [2, 1, 1, 0, 0, 0, 6], "flaky_now (%s)" % window)
            check_eq(doc["success_rate"], 0.5, "flaky_now: success rate")
            check(doc["duration_ms"] is not None, "flaky_now: durations", doc["duration_ms"])

        check_eq(stats(h, "slow")["window"], "1h", "the default window is 1h")

        doc = stats(h, "echo")
        check_shape(doc, "echo", "1h", 60, 60)
        check_eq([doc["totals"][c] for c in COUNTS], [0] * 7, "echo never ran: zeros")
        check(doc["success_rate"] is None and doc["duration_ms"] is None, "echo: null rate and duration", doc)

        status, doc, _ = h.get("/v1/functions/no_such_fn/stats")
        check_error(status, doc, 404, "not_found", "an unknown function")
        status, doc, _ = h.get("/v1/functions/slow/stats?window=7d")
        check_error(status, doc, 400, "invalid_query", "window=7d")
        status, _, headers = h.call("POST", "/v1/functions/slow/stats", {})
        check(status == 405 and headers.get("allow") == "GET", "POST .../stats -> 405 with Allow: GET", status)
        print("1h and 24h windows, zero counts, 404, 400 and 405 checked")


harness.run(main)
