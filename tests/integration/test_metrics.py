"""GET /metrics: Prometheus text that is whole, well formed and counts what happened.

After 5 `noop` and 3 `fail` executions: the answer is 200 text/plain; version=0.0.4,
its Content-Length is its size, it ends in a newline, every line is a comment or a
`name{labels} value` sample, every sample's family has a # TYPE (a histogram's _bucket,
_sum and _count samples belong to its family), the expected families are all there, and
the counters say 8 created, 5 succeeded and 3 failed, and per function 5 noop and 3 fail
created, 5 noop succeeded and 3 fail failed. (test_metrics_prom.py reads the same text with the real Prometheus parser.) Only GET and
HEAD are allowed (405 with Allow: GET).
"""

import re
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.eE+-]+)$')
FAMILIES = (
    "tarry_executions_created_total", "tarry_executions_finished_total", "tarry_executions_running",
    "tarry_executions_queued", "tarry_workers", "tarry_commits_total", "tarry_commit_seconds_total",
    "tarry_commit_seconds_max",
)


def main():
    with harness.Host(plugins=["testfns"]) as h:
        ids = [h.trigger_ok("noop") for _ in range(5)] + [h.trigger_ok("fail") for _ in range(3)]
        for i in ids:
            h.wait_final(i)
        status, headers, body = h.client.raw("GET", "/metrics")
        check_eq(status, 200, "GET /metrics")
        check_eq(headers.get("content-type"), "text/plain; version=0.0.4", "Prometheus text")
        check_eq(int(headers.get("content-length", -1)), len(body), "Content-Length is the body's size")
        text = body.decode()
        check(text.endswith("\n"), "the text ends in a newline (nothing cut off)", text[-80:])
        typed, samples, bad = set(), {}, []
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                typed.add(line.split()[2])
            elif line.startswith("#"):
                continue
            else:
                m = SAMPLE.match(line)
                if not m:
                    bad.append(line)
                else:
                    samples[m.group(1) + (m.group(2) or "")] = float(m.group(4))
        check(not bad, "every line is a comment or a sample", bad)
        missing = [f for f in FAMILIES if f not in typed]
        check(not missing, "every family has a # TYPE line", missing)
        def family(sample):
            name = sample.split("{")[0]
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and name[: -len(suffix)] in typed:
                    return name[: -len(suffix)]
            return name

        untyped = [k for k in samples if family(k) not in typed]
        check(not untyped, "every sample belongs to a typed family", untyped)
        check_eq(samples.get("tarry_executions_created_total"), 8.0, "8 executions created")
        check_eq(samples.get('tarry_executions_finished_total{state="succeeded"}'), 5.0, "5 succeeded")
        check_eq(samples.get('tarry_executions_finished_total{state="failed"}'), 3.0, "3 failed")
        check_eq(samples.get('tarry_function_executions_created_total{function="noop"}'), 5.0, "5 noop created")
        check_eq(samples.get('tarry_function_executions_created_total{function="fail"}'), 3.0, "3 fail created")
        check_eq(samples.get('tarry_function_executions_finished_total{function="noop",state="succeeded"}'), 5.0,
                 "5 noop succeeded")
        check_eq(samples.get('tarry_function_executions_finished_total{function="fail",state="failed"}'), 3.0,
                 "3 fail failed")
        check(samples.get("tarry_commits_total", 0) >= 1, "commits are counted", samples)
        status, headers, _ = h.client.raw("HEAD", "/metrics")
        check_eq(status, 200, "HEAD /metrics")
        status, headers, _ = h.client.raw("POST", "/metrics", b"")
        check(status == 405 and headers.get("allow") == "GET", "POST /metrics -> 405 with Allow: GET", (status, headers))


harness.run(main)
