"""A data disk that fails with EIO under a running host: the commit retry
backs off instead of spinning, new work is refused with 503 (not 500), reads
go on, and once the disk is back nothing refused exists and nothing accepted
is lost.

The data folder is an ext4 file system on a loop device. After some work is
accepted (some of it still running), the file system is shut down with
EXT4_IOC_SHUTDOWN: every write from then on fails with EIO, as a dying
disk's would (diskfault.py). Then:
  - triggers are answered 503 store_unavailable with Retry-After, never 202
    or 500;
  - for a few seconds with the outcomes of the running work unable to
    commit, the engine's CPU time stays far below a spinning core (a bound
    from /proc, not a timing) and the log says "commits fail" once, not once
    per retry (the bug: 28,000 "retrying in 100 ms" lines a second);
  - executions can still be read and listed.
Then the host is killed, the file system mounted again (the disk is "back"),
and the host restarted on it: every execution answered 202 exists and
succeeds, and no trigger answered 503 exists.

Needs root (mount, losetup); says SKIPPED and why otherwise.
"""

import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import diskfault
import harness
from harness import check, check_eq, check_error

IDLE_WINDOW_S = 3.0


def main():
    ok, why = diskfault.can_loop()
    if not ok:
        print("SKIPPED: no ext4 loop device to fail here (%s); test_disk_full covers the same path with ENOSPC" % why)
        return
    with harness.Host(plugins=["testfns"], lmdb_only=True, start=False) as h:
        with diskfault.ext4_loop(h.data_dir) as disk:
            h.start()
            done = [h.trigger_ok("echo", {"n": i}) for i in range(20)]
            for eid in done:
                h.wait_final(eid)
            running = [h.trigger_ok("slow", {"ms": 1500}) for _ in range(2)]
            for eid in running:
                h.wait_state(eid, "running")

            diskfault.shutdown(h.data_dir)
            refused = []
            for i in range(30):
                status, doc = h.trigger("echo", {"refused": i})
                check(status != 202, "a trigger after the disk failed is not accepted", (status, doc))
                check_error(status, doc, 503, "store_unavailable", "a trigger on a failed disk")
                refused.append(i)

            engine = diskfault.engine_pid(h)
            cpu_before = diskfault.cpu_seconds(engine)
            tries_before = diskfault.commit_failures(h)
            time.sleep(IDLE_WINDOW_S)
            cpu = diskfault.cpu_seconds(engine) - cpu_before
            tries = diskfault.commit_failures(h) - tries_before
            log = h.log_text()
            failing = [l for l in log.splitlines() if "commits fail" in l]
            retry_lines = [l for l in log.splitlines() if "retry" in l.lower()]
            print("failed disk for %.1f s: %d commit tries, %.2f s of engine CPU, %d 'commits fail' lines, %d lines saying retry"
                  % (IDLE_WINDOW_S, tries, cpu, len(failing), len(retry_lines)))
            check(tries <= 12, "the retries back off: %d commit tries in %.1f s (a pause doubling from 100 ms to 5 s)" % (tries, IDLE_WINDOW_S))
            check(cpu < IDLE_WINDOW_S * 0.05, "the engine does not spin retrying commits (CPU %.2f s in %.1f s)" % (cpu, IDLE_WINDOW_S))
            check_eq(len(failing), 1, "the log says once that commits fail")
            check(len(retry_lines) <= 2, "no log line per retry", retry_lines[:5])
            check("Input/output error" in failing[0], "and names the cause", failing[0])
            check_eq(h.get("/v1/executions/" + done[0])[0], 200, "failed disk: an execution can be read")
            check_eq(h.get("/v1/executions?limit=5")[0], 200, "failed disk: executions can be listed")
            check_eq(log.count("serving http://"), 1, "the engine never restarted")

            h.kill9()
            disk.remount()
            h.start()
            for eid in done + running:
                check_eq(h.wait_final(eid)["state"], "succeeded", "accepted execution %s succeeded" % eid)
            items, _ = h.list_all("function=echo", limit=1000)
            check_eq(sorted(e["id"] for e in items), sorted(done), "the store holds exactly the accepted echoes: none of the %d refused" % len(refused))
            h.stop()


harness.run(main)
