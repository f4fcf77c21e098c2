"""A real full data disk under trigger load: a 5xx means "not accepted", the
commit retry backs off instead of spinning, and the reason is named.

The data folder is a 4 MiB tmpfs holding 1 MiB of ballast. Client threads,
each on its own connection, trigger testfns `echo` with a unique number in
its args until the disk refuses (each sees several refusals). Then, with no
load, the engine sits for a while on a disk that is still full, with the
outcomes of accepted work unable to commit: the number of "commit" log lines
stays small (one per change of state, not one per retry) and the engine's
CPU time over the window stays far below a spinning core (a bound from
/proc, not a timing). Reads keep working throughout. Then the ballast is
deleted, room without a restart.

Checked at the end:
  - every answer was 202 or 503 (never 500, never a dropped connection), and
    every 503 says "no space left on the data disk" and carries Retry-After;
  - the store holds exactly the executions answered 202, each succeeded
    once: no trigger answered 503 exists or ran, ever (the bug was a 500
    "could not commit" trigger that ran once the disk had room);
  - the host log names the cause ("no space left on the data disk"), says
    once that commits fail and once that they work again;
  - the engine never restarted.
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import diskfault
import harness
from harness import check, check_eq

CLIENTS = 4
PAD = "p" * 3000
REFUSALS_PER_CLIENT = 5
IDLE_WINDOW_S = 3.0
FULL_MESSAGE = "no space left on the data disk"


def commit_lines(text):
    """Host log lines about commits failing, retrying or working again."""
    return [l for l in text.splitlines() if "commit" in l and ("fail" in l or "retry" in l or "again" in l)]


def main():
    if not diskfault.can_mount():
        print("SKIPPED: cannot mount a tmpfs here (not root)")
        return
    with harness.Host(plugins=["testfns"], lmdb_only=True, start=False) as h:
        with diskfault.tmpfs(h.data_dir, "4m"):
            ballast = os.path.join(h.data_dir, "ballast")
            with open(ballast, "wb") as f:
                f.write(b"\0" * (1 << 20))
            h.start()
            lock = threading.Lock()
            answers = []  # (n, status, doc, headers)
            counter = iter(range(10**9))

            def client():
                c = h.new_client()
                refused = 0
                deadline = time.monotonic() + 120
                while refused < REFUSALS_PER_CLIENT and time.monotonic() < deadline:
                    with lock:
                        n = next(counter)
                    try:
                        status, doc, headers = c.post("/v1/functions/echo/executions", {"args": {"n": n, "pad": PAD}})
                    except OSError as exc:
                        status, doc, headers = -1, {"exception": repr(exc)}, {}
                    with lock:
                        answers.append((n, status, doc, headers))
                    if status != 202:
                        refused += 1
                c.close()

            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            accepted = {n: doc["id"] for n, status, doc, _ in answers if status == 202}
            refused = [(n, status, doc, headers) for n, status, doc, headers in answers if status != 202]
            print("load: %d triggers, %d accepted, %d refused" % (len(answers), len(accepted), len(refused)))
            check(len(refused) >= CLIENTS * REFUSALS_PER_CLIENT, "the full disk refused triggers")
            bad = [(n, s, d) for n, s, d, hd in refused if s != 503 or d.get("error", {}).get("code") != "store_full"]
            check(not bad, "every refusal is 503 store_full (never 500, never a dropped connection)", bad[:5])
            check(all("retry-after" in hd for _, _, _, hd in refused), "every 503 carries Retry-After")
            check(all(FULL_MESSAGE in d["error"]["message"] for _, _, d, _ in refused),
                  "every 503 says %r" % FULL_MESSAGE, refused[0][2])

            # The disk stays full with the outcomes of accepted work waiting to commit.
            some_id = next(iter(accepted.values()))
            engine = diskfault.engine_pid(h)
            lines_before = len(commit_lines(h.log_text()))
            cpu_before = diskfault.cpu_seconds(engine)
            tries_before = diskfault.commit_failures(h)
            time.sleep(IDLE_WINDOW_S)
            cpu = diskfault.cpu_seconds(engine) - cpu_before
            tries = diskfault.commit_failures(h) - tries_before
            lines = len(commit_lines(h.log_text())) - lines_before
            print("idle on a full disk for %.1f s: %d commit tries, %.2f s of engine CPU, %d commit log lines" % (IDLE_WINDOW_S, tries, cpu, lines))
            check(tries <= 12, "the retries back off: %d commit tries in %.1f s (a pause doubling from 100 ms to 5 s)" % (tries, IDLE_WINDOW_S))
            check(cpu < IDLE_WINDOW_S * 0.05, "the engine does not spin retrying commits (CPU %.2f s in %.1f s)" % (cpu, IDLE_WINDOW_S))
            check(lines <= 2, "no log line per retry while the disk stays full", commit_lines(h.log_text())[-5:])
            check_eq(h.get("/healthz")[0], 200, "full disk: /healthz answers")
            check_eq(h.get("/v1/executions/" + some_id)[0], 200, "full disk: an execution can be read")
            check_eq(h.get("/v1/executions?limit=5")[0], 200, "full disk: executions can be listed")
            check(FULL_MESSAGE in h.log_text(), "the host log says %r" % FULL_MESSAGE, h.log_tail(10))

            os.remove(ballast)  # room, without a restart
            later = h.trigger_until_acked("echo", {"n": -1}, timeout=30)
            for eid in list(accepted.values()) + [later]:
                h.wait_final(eid)
            time.sleep(0.5)  # anything wrongly kept would have committed and started by now
            items, _ = h.list_all("function=echo", limit=1000)
            stored = {e["args"]["n"]: e for e in items}
            refused_ns = {n for n, _, _, _ in refused}
            check_eq(sorted(refused_ns & set(stored)), [], "no trigger answered 503 was stored")
            check_eq(sorted(stored), sorted(list(accepted) + [-1]), "the store holds exactly the triggers answered 202")
            check(all(e["state"] == "succeeded" and e["attempts"] == 1 for e in stored.values()),
                  "every accepted execution succeeded, once",
                  [(e["args"]["n"], e["state"], len(e["attempts"])) for e in stored.values() if e["state"] != "succeeded"][:5])
            log = h.log_text()
            failing = [l for l in log.splitlines() if "commits fail" in l]
            again = [l for l in log.splitlines() if "commits work again" in l]
            # Under load the disk may take a small batch between refusals: each change of state is one line.
            check(1 <= len(failing) <= 10, "the log says when commits start failing, not at every try (%d times)" % len(failing))
            check_eq(len(again), len(failing), "and each time when they work again")
            check_eq(log.count("serving http://"), 1, "the engine never restarted")
            h.stop()


harness.run(main)
