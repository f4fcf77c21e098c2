"""GET /metrics read by the real Prometheus parser (issue 10), and the counts it gives.

The host runs the testfns and retry plugins plus bad_abi (a file it refuses). The test:
  - runs 4 noop (succeed), 2 fail (fail, no retry policy), 2 fail_twice (attempts 1 and 2
    fail, retried at once, attempt 3 succeeds) and 1 exhaust (3 attempts, all fail);
  - schedules one noop an hour ahead (a pending timer) and cancels another scheduled one
    (cancelled without an attempt);
  - reloads the plugins once (bad_abi is refused again).
Then it parses /metrics with prometheus_client.parser.text_string_to_metric_families
(Debian's python3-prometheus-client) and checks:
  - every family the docs name is there, with HELP and TYPE;
  - every histogram's buckets are cumulative, end in le="+Inf" equal to _count;
  - the counters say what the test did: created and finished in all (tarry_executions_*) and
    per function and state (tarry_function_executions_*),
    attempts per outcome, retries, started, run-time histogram counts, one reload, two
    load errors (start + reload), at least one pending timer, commits counted in the
    commit histograms, the store's size, and notifications at zero.
Re-runs itself under /usr/bin/python3 when the python3 on PATH lacks the parser.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import time

import harness
from harness import check, check_eq

# family name (as the parser names it: a counter without its _total) -> type
FAMILIES = {
    "tarry_executions_created": "counter",
    "tarry_executions_finished": "counter",
    "tarry_function_executions_created": "counter",
    "tarry_function_executions_finished": "counter",
    "tarry_executions_started": "counter",
    "tarry_executions_blocked": "counter",
    "tarry_attempts": "counter",
    "tarry_retries": "counter",
    "tarry_execution_duration_seconds": "histogram",
    "tarry_attempt_duration_seconds": "histogram",
    "tarry_executions_running": "gauge",
    "tarry_executions_queued": "gauge",
    "tarry_timers_pending": "gauge",
    "tarry_workers": "gauge",
    "tarry_workers_busy": "gauge",
    "tarry_workers_stuck": "gauge",
    "tarry_workers_abandoned": "gauge",
    "tarry_commits": "counter",
    "tarry_commit_failures": "counter",
    "tarry_commit_seconds": "histogram",
    "tarry_commit_batch_size": "histogram",
    "tarry_store_bytes": "gauge",
    "tarry_plugin_reloads": "counter",
    "tarry_plugin_load_errors": "counter",
    "tarry_notifications": "counter",
    "tarry_notifications_pending": "gauge",
    "tarry_retention_deleted": "counter",
    "tarry_log_followers": "gauge",
    "tarry_hosts_live": "gauge",
}


def scrape(h):
    status, headers, body = h.client.raw("GET", "/metrics")
    check_eq(status, 200, "GET /metrics")
    check_eq(headers.get("content-type"), "text/plain; version=0.0.4", "Prometheus text 0.0.4")
    text = body.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return text, families


def value(fam, sample_name, **labels):
    """The value of the one sample called sample_name with exactly these labels (None: absent)."""
    got = [s.value for s in fam.samples if s.name == sample_name and s.labels == labels]
    check(len(got) <= 1, "one sample %s%r" % (sample_name, labels), got)
    return got[0] if got else None


def check_histograms(families):
    for name, fam in families.items():
        if fam.type != "histogram":
            continue
        series = {}
        for s in fam.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None})
            if s.name == name + "_bucket":
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name == name + "_count":
                series[key]["count"] = s.value
        check(series, "%s has samples" % name)
        for key, got in series.items():
            b = got["buckets"]
            check(b and b[-1][0] == float("inf"), "%s%r ends in le=+Inf" % (name, key), b)
            check([le for le, _ in b] == sorted(le for le, _ in b), "%s%r: le ascending" % (name, key), b)
            counts = [c for _, c in b]
            check(counts == sorted(counts), "%s%r: buckets are cumulative" % (name, key), b)
            check_eq(b[-1][1], got["count"], "%s%r: +Inf == _count" % (name, key))


def main():
    with harness.Host(plugins=["testfns", "retry", "bad_abi"]) as h:
        ids = [h.trigger_ok("noop") for _ in range(4)]
        ids += [h.trigger_ok("fail") for _ in range(2)]
        ids += [h.trigger_ok("fail_twice") for _ in range(2)]
        ids += [h.trigger_ok("exhaust")]
        later = h.trigger_ok("noop", delay="1h")
        doomed = h.trigger_ok("noop", delay="1h")
        status, _, _ = h.call("POST", "/v1/executions/%s/cancel" % doomed, {})
        check(status in (200, 202), "cancel the scheduled one", status)
        ids.append(doomed)
        for i in ids:
            h.wait_final(i)
        h.reload()
        print("ran 4 noop, 2 fail, 2 fail_twice, 1 exhaust; scheduled 1, cancelled 1; reloaded once")

        # Finals are counted once durable (engine_final_committed): wait for the last one.
        deadline = time.monotonic() + 30
        while True:
            text, fams = scrape(h)
            fin = fams.get("tarry_function_executions_finished")
            if fin and value(fin, "tarry_function_executions_finished_total", function="exhaust", state="failed") == 1:
                break
            check(time.monotonic() < deadline, "exhaust's failure is counted", text[-2000:])
            time.sleep(0.05)

        check(text.endswith("\n"), "the text ends in a newline (nothing cut off)")
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                continue
            check(not line.startswith("#"), "no comment other than HELP and TYPE", line)
        helped = {l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")}
        typed = {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}
        for name, kind in FAMILIES.items():
            check(name in fams, "family %s is there" % name, sorted(fams))
            check_eq(fams[name].type, kind, "%s's TYPE" % name)
            exposed = name + "_total" if kind == "counter" else name
            check(exposed in helped and exposed in typed, "%s has # HELP and # TYPE" % exposed)
        check_histograms(fams)

        check_eq(value(fams["tarry_executions_created"], "tarry_executions_created_total"), 11, "11 created in all")
        for state, n in (("succeeded", 6), ("failed", 3), ("cancelled", 1), ("discarded", 0)):
            check_eq(value(fams["tarry_executions_finished"], "tarry_executions_finished_total", state=state), n,
                     "%d %s in all" % (n, state))
        fin, created = fams["tarry_function_executions_finished"], fams["tarry_function_executions_created"]
        for fn, n in (("noop", 6), ("fail", 2), ("fail_twice", 2), ("exhaust", 1)):
            check_eq(value(created, "tarry_function_executions_created_total", function=fn), n, "%s: created" % fn)
        for fn, state, n in (("noop", "succeeded", 4), ("noop", "cancelled", 1), ("noop", "failed", 0),
                             ("fail", "failed", 2), ("fail", "succeeded", 0), ("fail_twice", "succeeded", 2),
                             ("fail_twice", "failed", 0), ("exhaust", "failed", 1)):
            check_eq(value(fin, "tarry_function_executions_finished_total", function=fn, state=state), n,
                     "%s: finished %s" % (fn, state))
        att = fams["tarry_attempts"]
        for fn, outcome, n in (("noop", "succeeded", 4), ("fail", "failed", 2), ("fail_twice", "failed", 4),
                               ("fail_twice", "succeeded", 2), ("exhaust", "failed", 3), ("exhaust", "succeeded", 0),
                               ("noop", "crashed", 0), ("noop", "timed_out", 0)):
            check_eq(value(att, "tarry_attempts_total", function=fn, outcome=outcome), n,
                     "%s: attempts %s" % (fn, outcome))
        retries = fams["tarry_retries"]
        for fn, n in (("noop", 0), ("fail", 0), ("fail_twice", 4), ("exhaust", 2)):
            check_eq(value(retries, "tarry_retries_total", function=fn), n, "%s: retries" % fn)
        started = fams["tarry_executions_started"]
        for fn, n in (("noop", 4), ("fail_twice", 2), ("exhaust", 1)):
            check_eq(value(started, "tarry_executions_started_total", function=fn), n, "%s: started" % fn)
        dur = fams["tarry_execution_duration_seconds"]
        # The cancelled one never ran: it has an outcome but no run time.
        for fn, n in (("noop", 4), ("fail", 2), ("fail_twice", 2), ("exhaust", 1)):
            check_eq(value(dur, "tarry_execution_duration_seconds_count", function=fn), n, "%s: run times" % fn)
        adur = fams["tarry_attempt_duration_seconds"]
        check_eq(value(adur, "tarry_attempt_duration_seconds_count", function="fail_twice"), 6, "fail_twice: attempt times")

        check_eq(value(fams["tarry_plugin_reloads"], "tarry_plugin_reloads_total"), 1, "one reload")
        check_eq(value(fams["tarry_plugin_load_errors"], "tarry_plugin_load_errors_total"), 2,
                 "bad_abi refused at start and at the reload")
        check(value(fams["tarry_timers_pending"], "tarry_timers_pending") >= 1, "the scheduled noop is a timer")
        check_eq(value(fams["tarry_executions_queued"], "tarry_executions_queued"), 0, "nothing queued")
        commits = value(fams["tarry_commits"], "tarry_commits_total")
        check(commits >= 1, "commits are counted", commits)
        check(value(fams["tarry_commit_seconds"], "tarry_commit_seconds_count") >= commits,
              "every commit is timed")
        batches = fams["tarry_commit_batch_size"]
        check(value(batches, "tarry_commit_batch_size_sum") >= 11, "every execution was in some batch")
        used = value(fams["tarry_store_bytes"], "tarry_store_bytes", kind="used")
        mapped = value(fams["tarry_store_bytes"], "tarry_store_bytes", kind="map")
        if h.store == "lmdb":
            check(0 < used <= mapped, "store used <= map", (used, mapped))
        else:
            check(0 < used and mapped == 0, "store used, and no map (PostgreSQL)", (used, mapped))
        notes = fams["tarry_notifications"]
        for outcome in ("delivered", "failed", "retried"):
            check_eq(value(notes, "tarry_notifications_total", outcome=outcome), 0, "notifications %s" % outcome)
        check_eq(value(fams["tarry_notifications_pending"], "tarry_notifications_pending"), 0, "none pending")
        print("parsed %d families, %d samples" % (len(fams), sum(len(f.samples) for f in fams.values())))


harness.run(main)
