"""The crash limits are settings (README, Limits): --poison-crashes, --quarantine-crashes and
--quarantine-window (or TARRY_POISON_CRASHES, TARRY_QUARANTINE_CRASHES, TARRY_QUARANTINE_WINDOW).

- Values out of range are refused at start (exit 2) with the setting named.
- TARRY_POISON_CRASHES=1: an execution that crashes the host once is failed as a poison pill,
  where the default (3) would have run it again.
- TARRY_QUARANTINE_CRASHES=1 with a 10 s window: one crashing ?wait trigger quarantines the
  function, and the 503 says so with the window it was given.
"""

import http.client
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

PLUGIN = [("crash_v1", "crash.so")]


def refused_values():
    for flag, value in (("--poison-crashes", "0"), ("--quarantine-crashes", "17"), ("--quarantine-window", "10ms")):
        p = subprocess.run([harness.BIN, "serve", flag, value], capture_output=True, text=True, timeout=30)
        check_eq(p.returncode, 2, "%s %s is refused at start" % (flag, value))
        check(flag in p.stderr, "and the message names %s" % flag, p.stderr)


def poison_after_one():
    with harness.Host(plugins=PLUGIN, workers=2, crashes_expected=True,
                      extra_env={"TARRY_POISON_CRASHES": "1"}) as h:
        bad = h.trigger_ok("crash_segv", None)
        check(h.wait_healthy(60), "the host serves again after the crash")
        rec = h.wait_final(bad, timeout=60)
        check_eq(rec["state"], "failed", "with TARRY_POISON_CRASHES=1, one crash fails the execution")
        check("crashed the host 1 times" in (rec["error"] or ""), "as a poison pill: %r" % rec["error"])
        check_eq(h.log_text().count("died: "), 1, "the engine died once, not three times")


def quarantine_after_one():
    with harness.Host(plugins=PLUGIN, workers=2, crashes_expected=True,
                      extra_env={"TARRY_QUARANTINE_CRASHES": "1", "TARRY_QUARANTINE_WINDOW": "10s"}) as h:
        try:
            status, _ = h.trigger("crash_segv", {"i": 0}, wait="5s")
        except (OSError, http.client.HTTPException):
            status = None
        check(status is None or status >= 500, "the ?wait trigger crashes the engine")
        check(h.wait_healthy(60), "the host serves again")
        deadline = time.monotonic() + 30
        while True:
            status, doc = h.trigger("crash_segv", {"i": 1})
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check_eq(status, 503, "with TARRY_QUARANTINE_CRASHES=1, one crash quarantines the function")
        msg = doc["error"]["message"]
        check_eq(doc["error"]["code"], "function_quarantined", "the error code")
        check("1 different executions" in msg and "within 10 s" in msg, "the message gives the limit: %r" % msg)
        status, _ = h.trigger("crash_ok", None)
        check_eq(status, 202, "another function of the plugin is still served")


def main():
    refused_values()
    poison_after_one()
    quarantine_after_one()


harness.run(main)
