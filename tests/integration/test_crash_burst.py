"""kill -9 during a burst of triggers, three times: nothing acknowledged is lost,
nothing finished runs again.

Client threads, each on its own keep-alive connection, trigger testfns
`record` until 2,000 triggers have been acknowledged with 202; `record`
appends "<id> <attempt>" to a file with one write(2). At three random points
in the burst the whole host (supervisor and engine) is killed with SIGKILL and
restarted on the same data folder while the clients keep firing (their
requests fail until it is back; a failed request is not an acknowledgement).

Then: every acknowledged id exists and is `succeeded`; every acknowledged id
ran (is in the file); and an id ran more than once only if it was in flight
when a kill struck: on a worker (at most `workers` of them) or finished with
its outcome not yet committed. Group commit holds an outcome for up to the
commit in flight plus the next one (and a 1 ms linger); an execution runs
only after the commit that acknowledged its trigger, and each client has one
trigger outstanding, so at most a few commits' worth of triggers (clients
each) can have run without their outcome being durable. So each id runs at
most 1 + kills times, and the extra runs are at most
kills x (2 x workers + 4 x clients). Every
execution in the store (acknowledged or not) reaches a final state, and every
id in the file exists in the store.
"""

import collections
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

TARGET_ACKS = 2000
CLIENTS = 8
WORKERS = 4
KILLS = 3


def kill_points():
    while True:
        points = sorted(random.sample(range(150, TARGET_ACKS - 150), KILLS))
        if all(b - a >= 300 for a, b in zip(points, points[1:])):
            return points


def main():
    started = time.monotonic()
    with harness.Host(plugins=["testfns"], workers=WORKERS) as h:
        rec_file = os.path.join(h.dir, "record.txt")
        lock = threading.Lock()
        acked = []
        counts = {"inflight": 0, "errors": 0, "attempts": 0}
        body = {"args": {"file": rec_file}}

        def client():
            c = harness.Client("127.0.0.1", h.port, timeout=30)
            while True:
                with lock:
                    if len(acked) + counts["inflight"] >= TARGET_ACKS:
                        break
                    counts["inflight"] += 1
                    counts["attempts"] += 1
                try:
                    status, doc, _ = c.call("POST", "/v1/functions/record/executions", body)
                except Exception:
                    status, doc = None, None
                with lock:
                    counts["inflight"] -= 1
                    if status == 202 and isinstance(doc, dict) and "id" in doc:
                        acked.append(doc["id"])
                        continue
                    counts["errors"] += 1
                if status is not None and status not in (202, 503):
                    raise RuntimeError("trigger answered %s %r" % (status, doc))
                time.sleep(0.01)  # the host is down: do not spin
            c.close()

        failures = []

        def guarded():
            try:
                client()
            except Exception as exc:  # surfaced after join
                failures.append(exc)

        points = kill_points()
        threads = [threading.Thread(target=guarded, daemon=True) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        kill_log = []
        for point in points:
            while len(acked) < point and any(t.is_alive() for t in threads):
                time.sleep(0.0005)
            at = len(acked)
            t0 = time.monotonic()
            h.kill9()
            h.restart()
            kill_log.append((at, time.monotonic() - t0))
            print("   kill -9 #%d after %d acks; healthy again in %.0f ms" % (len(kill_log), at, kill_log[-1][1] * 1000), flush=True)
        for t in threads:
            t.join(300)
        check(not failures, "clients saw only 202s or connection errors", failures)
        check(not any(t.is_alive() for t in threads), "the burst finished")
        burst_s = time.monotonic() - started
        check_eq(len(acked), TARGET_ACKS, "acknowledged triggers")
        check_eq(len(set(acked)), TARGET_ACKS, "acknowledged ids are distinct")
        check(all(at < TARGET_ACKS for at, _ in kill_log) and len(kill_log) == KILLS, "all %d kills struck mid-burst" % KILLS, kill_log)

        # ---- every acknowledged id is final and succeeded -------------------
        # One listing instead of 2,000 GETs; long-poll only what is not final yet.
        everything, _ = h.list_all("function=record", limit=1000)
        by_id = {e["id"]: e for e in everything}
        for eid in acked:
            if eid in by_id and by_id[eid]["state"] not in harness.FINAL_STATES:
                by_id[eid] = h.wait_final(eid, timeout=60)
        lost = [eid for eid in acked if eid not in by_id]
        check(not lost, "every acknowledged execution exists (%d stored for %d acked)" % (len(by_id), len(acked)), lost[:10])
        not_ok = [(eid, by_id[eid]["state"], by_id[eid].get("error")) for eid in acked if by_id[eid]["state"] != "succeeded"]
        check(not not_ok, "every acknowledged execution succeeded", not_ok[:10])

        ran = collections.Counter()
        attempts_seen = collections.Counter()
        torn = []
        with open(rec_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2 or not line.endswith("\n"):
                    torn.append(line)
                    continue
                ran[parts[0]] += 1
                attempts_seen[parts[1]] += 1
        check(not torn, "record lines are whole (%d lines)" % sum(ran.values()), torn[:5])
        never_ran = [eid for eid in acked if ran[eid] == 0]
        check(not never_ran, "every acknowledged execution ran", never_ran[:10])
        extra_runs = sum(n - 1 for n in ran.values() if n > 1)
        dup_ids = sorted(eid for eid, n in ran.items() if n > 1)
        too_many = sorted(eid for eid, n in ran.items() if n > 1 + KILLS)
        check(not too_many, "no id ran more than 1 + kills = %d times" % (1 + KILLS), too_many[:10])
        bound = KILLS * (2 * WORKERS + 4 * CLIENTS)
        check(
            extra_runs <= bound,
            "runs beyond the first: %d <= kills x (2 x workers + 4 x clients) = %d" % (extra_runs, bound),
            dup_ids[:20],
        )

        # ---- the store as a whole: nothing stuck, nothing from nowhere ---------
        stuck = [eid for eid, e in by_id.items() if e["state"] not in harness.FINAL_STATES]
        deadline = time.monotonic() + 30
        while stuck and time.monotonic() < deadline:
            time.sleep(0.2)
            stuck = [eid for eid in stuck if h.execution(eid)["state"] not in harness.FINAL_STATES]
        check(not stuck, "every stored execution, acknowledged or not, reaches a final state", stuck[:10])
        phantoms = [eid for eid in ran if eid not in by_id]
        check(not phantoms, "every id that ran is in the store", phantoms[:10])
        for eid in dup_ids:
            rec = by_id[eid]
            print("   ran %d times: %s (attempts %s, state %s)" % (ran[eid], eid, rec["attempts"], rec["state"]))

        print(
            "summary: %d kills at acks %s; %d acked of %d attempts (%d failed while down); "
            "%d stored; %d runs beyond the first (bound %d); attempt numbers seen %s; burst %.1fs, total %.1fs"
            % (
                len(kill_log), [at for at, _ in kill_log], len(acked), counts["attempts"], counts["errors"],
                len(by_id), extra_runs, bound, dict(attempts_seen), burst_s, time.monotonic() - started,
            ),
            flush=True,
        )


harness.run(main)
