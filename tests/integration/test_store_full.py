"""A full store refuses new work with 503 and keeps serving; nothing it refused is
ever stored, and nothing it accepted is lost.

Two ways to fill it, both through the real binary:
  1. the map: `--map-size 4MiB` (LMDB's MDB_MAP_FULL);
  2. the disk: the data folder on a 6 MiB tmpfs with the default 1 TiB map
     (ENOSPC), then room is made without a restart (needs root to mount; the
     test says so and skips this half otherwise).

For each: triggers until the store refuses; every answer is 202 or 503
store_full (never 500, never a dropped connection), with Retry-After; reads,
lists and /healthz keep answering 200; the engine never restarts. Then, with
room again (a larger map after a restart, or a file deleted from the full
disk), every accepted execution finishes, new triggers are accepted, and the
store holds exactly the executions that were answered 202.
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error

ARGS = {"pad": "x" * 20000}  # 20 KB of args: a few hundred fill 4 MiB


def fill(h, what, limit=5000):
    """Trigger until the store refuses; returns the accepted ids."""
    accepted, refused = [], 0
    for i in range(limit):
        status, doc, headers = h.client.post("/v1/functions/echo/executions", {"args": ARGS})
        if status == 202:
            accepted.append(doc["id"])
            continue
        check_error(status, doc, 503, "store_full", "%s: the trigger after %d accepted ones" % (what, i))
        check("retry-after" in headers, "%s: the 503 carries Retry-After" % what, headers)
        refused += 1
        if refused == 3:
            break
    check(refused == 3, "%s: the store refused new work after %d triggers" % (what, len(accepted)))
    return accepted


def still_serving(h, what, some_id):
    check_eq(h.get("/healthz")[0], 200, "%s: /healthz answers" % what)
    check_eq(h.get("/v1/executions/" + some_id)[0], 200, "%s: an execution can be read" % what)
    check_eq(h.get("/v1/executions?limit=5")[0], 200, "%s: executions can be listed" % what)
    check_eq(h.get("/metrics")[0], 200, "%s: /metrics answers" % what)


def engine_starts(h):
    return h.log_text().count("serving http://")


def all_stored(h):
    items, _ = h.list_all("function=echo", limit=1000)
    return {e["id"]: e for e in items}


def map_full():
    with harness.Host(plugins=["testfns"], lmdb_only=True, extra_env={"TARRY_MAP_SIZE": "4MiB"}) as h:
        accepted = fill(h, "map full")
        still_serving(h, "map full", accepted[0])
        time.sleep(1.2)  # past the refusal window: the store is tried again, and refuses again
        status, doc, _ = h.client.post("/v1/functions/echo/executions", {"args": ARGS})
        check_error(status, doc, 503, "store_full", "map full, a second later: still full, still refused")
        check_eq(engine_starts(h), 1, "map full: the engine never restarted")
        check("map is full" in h.log_text(), "map full: the host log says why", h.log_tail(5))

        # More room: the same data folder with a larger map.
        h.kill9()  # a drain would wait for outcomes that cannot be written yet
        h.extra_env["TARRY_MAP_SIZE"] = "64MiB"
        h.restart()
        for eid in accepted:
            h.wait_final(eid)
        stored = all_stored(h)
        check(sorted(stored) == sorted(accepted), "map full: the store holds exactly the %d accepted executions" % len(accepted),
              "stored %d, accepted %d" % (len(stored), len(accepted)))
        check(all(e["state"] == "succeeded" for e in stored.values()), "map full: every accepted execution succeeded")
        h.wait_final(h.trigger_ok("echo", {"after": "room"}))
        print("map full: %d accepted, 503 after that, all %d finished on a larger map" % (len(accepted), len(accepted)))


def can_mount():
    probe = os.path.join(os.environ.get("TMPDIR", "/tmp"), "tarry-mount-probe-%d" % os.getpid())
    os.makedirs(probe, exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", probe], check=True)
        return ok
    finally:
        os.rmdir(probe)


def disk_full():
    if not can_mount():
        print("disk full: SKIPPED (cannot mount a tmpfs here: not root)")
        return
    with harness.Host(plugins=["testfns"], lmdb_only=True, start=False) as h:
        os.makedirs(h.data_dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", h.data_dir], check=True)
        try:
            ballast = os.path.join(h.data_dir, "ballast")
            with open(ballast, "wb") as f:
                f.write(b"\0" * (2 << 20))
            h.start()
            accepted = fill(h, "disk full")
            still_serving(h, "disk full", accepted[0])
            check("no space left on the data disk" in h.log_text(), "disk full: the host log says why", h.log_tail(5))
            os.remove(ballast)  # room, without a restart
            time.sleep(1.2)
            later = h.trigger_until_acked("echo", {"after": "room"}, timeout=30)
            for eid in accepted + [later]:
                h.wait_final(eid)
            stored = all_stored(h)
            check(sorted(stored) == sorted(accepted + [later]), "disk full: the store holds exactly the %d accepted executions" % (len(accepted) + 1),
                  "stored %d, accepted %d" % (len(stored), len(accepted) + 1))
            check_eq(engine_starts(h), 1, "disk full: the engine never restarted")
            print("disk full: %d accepted, 503 after that; room made, all finished, new work accepted" % len(accepted))
            h.stop()
        finally:
            subprocess.run(["umount", "-l", h.data_dir])


def main():
    map_full()
    disk_full()


harness.run(main)
