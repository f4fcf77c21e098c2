"""Cron schedules (a function's `cron` option), through the real binary and the compiled
plugins tests/plugins/cron_v1.c, cron_v2.c and cron_bad.c.

The host runs with the test-only TARRY_TEST_CRON_SCALE=60: a minute of schedule lasts a
second, counted from 2026-01-01T00:00:00Z, so "* * * * *" is due on every whole second and
"*/5 * * * *" on every fifth one. Everything else (the marks in the store, the timer, the
catch-up at boot) is the code a real schedule runs. A host without the setting shows that a
real "* * * * *" is next due on the next whole minute.

- executions start on the schedule, one per due time (distinct scheduled_at, on the grid),
  and the function can still be triggered by hand;
- GET /v1/functions and `tarry functions` show next_fire_at;
- kill -9 with due times passing while the host is down: exactly one execution for all the
  missed ones, at boot; never two for one due time;
- a reload that changes the expression: the new one from then on, with no catch-up;
- an invalid expression refuses the plugin, naming the function and the field.
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, time_ms

SCALE = {"TARRY_TEST_CRON_SCALE": "60"}


BY_HAND = set()  # ids of tick executions triggered by hand, not by the schedule


def tick_runs(h):
    items, _ = h.list_all("function=tick")
    return [it for it in items if it["id"] not in BY_HAND]


def scheduled(runs):
    return sorted(time_ms(r["scheduled_at"]) for r in runs)


def functions(h):
    status, doc, _ = h.get("/v1/functions")
    check_eq(status, 200, "GET /v1/functions")
    return {f["name"]: f for f in doc["data"]}


def wait_runs(h, pred, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        runs = tick_runs(h)
        if pred(runs):
            return runs
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %s within %.0fs: %r" % (what, timeout, scheduled(runs)))
        time.sleep(0.1)


def check_once_per_due_time(runs, grid_ms, what):
    due = scheduled(runs)
    check_eq(len(due), len(set(due)), "%s: never two executions for one due time" % what)
    check(all(d % grid_ms == 0 for d in due), "%s: every scheduled_at is on the schedule's grid" % what, due)


def main():
    # ---- an invalid expression refuses the plugin ------------------------------------------
    with harness.Host(plugins=["cron_bad", "cron_v1"], workers=2) as h:
        bad = [p for p in h.plugins() if p.get("name") == "cron_bad" or "cron_bad" in p.get("file", "")]
        check(bad and bad[0]["state"] == "error", "the plugin with an invalid cron is refused", h.plugins())
        check_eq(bad[0]["error"], 'function "bad_tick": cron "61 * * * *": minute: 61 is out of range 0-59',
                 "the refusal names the function and the field")
        check("bad_tick" not in functions(h), "its function is not loaded", functions(h))
        # Without the test scale, "* * * * *" is next due on the next whole minute.
        # (Bounds from the schedule, not from how fast the host is: at most one period after the read;
        # before it only by however late a loaded host's timer is.)
        before = time.time() * 1000
        fn = functions(h)["tick"]
        after = time.time() * 1000
        nxt = time_ms(fn["next_fire_at"])
        check(nxt % 60000 == 0 and before - 60000 < nxt <= after + 60000,
              "a real every-minute cron: the next whole minute", fn["next_fire_at"])
        check_eq(functions(h)["manual"]["next_fire_at"], None, "a function without a cron has no next_fire_at")

    with harness.Host(plugins=[("cron_v1", "cron.so")], workers=2, extra_env=SCALE) as h:
        # ---- it fires on its schedule, and by hand ------------------------------------------
        before = time.time() * 1000
        fn = functions(h)["tick"]
        after = time.time() * 1000
        check_eq(fn["options"]["cron"], "* * * * *", "GET /v1/functions shows the expression")
        nxt = time_ms(fn["next_fire_at"])
        check(nxt % 1000 == 0 and before - 60000 < nxt <= after + 1000, "next_fire_at is the next (scaled) due time",
              fn["next_fire_at"])
        out = subprocess.run([harness.BIN, "functions", "--url", h.url], capture_output=True, text=True)
        check(out.returncode == 0 and "NEXT CRON" in out.stdout and
              any(l.split()[0] == "tick" and any(w.endswith(".000Z") for w in l.split()) for l in out.stdout.splitlines()[1:]),
              "`tarry functions` shows when tick fires next", out.stdout + out.stderr)
        runs = wait_runs(h, lambda r: len(r) >= 3, "three scheduled executions")
        check_once_per_due_time(runs, 1000, "every second")
        for r in runs:
            check_eq(h.wait_final(r["id"])["state"], "succeeded", "a scheduled execution succeeds")
        status, doc = h.trigger("tick", {"by": "hand"}, wait="10s")
        check(status == 200 and doc.get("state") == "succeeded" and doc.get("result") == {"by": "hand"},
              "tick triggered by hand runs with its args", (status, doc))
        BY_HAND.add(doc["id"])
        print("   fired %d times on the schedule, and once by hand" % len(runs))

        # ---- kill -9 across due times: the missed ones fire once ---------------------------
        h.kill9()
        down_at = time.time() * 1000
        time.sleep(3.5)  # three or four due times pass while the host is down
        restart_at = time.time() * 1000
        h.start()
        runs = wait_runs(h, lambda r: any(time_ms(x["scheduled_at"]) > restart_at for x in r),
                         "a regular execution after the restart")
        before = [d for d in scheduled(runs) if d < down_at]
        last = max(before)
        missed = [d for d in scheduled(runs) if last < d < restart_at]
        check_eq(len(missed), 1, "the due times missed while down fired once, not once each (%r)" % missed)
        check_eq(missed[0], last + 1000, "its scheduled_at is the first due time missed")
        check_once_per_due_time(runs, 1000, "across a kill -9")
        print("   down %.1f s: %d due times missed, 1 execution at boot" % ((restart_at - down_at) / 1000.0,
                                                                            int((restart_at - last) // 1000)))

        # ---- a reload that changes the expression -----------------------------------------
        h.install("cron_v2", "cron.so")
        status, doc = h.reload()
        check_eq(status, 200, "reload")
        reloaded_at = time.time() * 1000
        fn = functions(h)["tick"]
        check_eq(fn["options"]["cron"], "*/5 * * * *", "the new expression is current")
        check(time_ms(fn["next_fire_at"]) % 5000 == 0, "next_fire_at follows the new expression", fn)
        runs = wait_runs(h, lambda r: len([d for d in scheduled(r) if d > reloaded_at + 500]) >= 2,
                         "two executions on the new schedule", timeout=30)
        after = [d for d in scheduled(runs) if d > reloaded_at + 500]
        check(all(d % 5000 == 0 for d in after), "after the reload, every fire is on the new grid", after)
        check_once_per_due_time(runs, 1000, "across the reload")
        check_eq([r["state"] for r in runs if r["state"] == "failed"], [], "no scheduled execution failed")

        # ---- a restart keeps the new expression's mark: nothing fires twice ------------------
        h.stop()
        h.start()
        time.sleep(1.5)
        runs = tick_runs(h)
        check_once_per_due_time(runs, 1000, "after a clean restart")


harness.run(main)
