"""Crash matrix: 500 onboarding workflows while the host is killed with SIGKILL at random
points (at least 24 times), restarted after each kill.

Client threads trigger user_onboarding (plugins/onboarding) at a steady pace, each with a
fresh user id (a trigger that got no answer may still have made a workflow: it has its own
user id, and is checked like the others) and children that take 0-80 ms. Every side effect
is one line of one shared effects file. Meanwhile the main thread kills the whole host after
a random 0.15-0.9 s of uptime and restarts it at once; right after each kill (nothing runs)
it notes how many lines the effects file has: the kill's boundary.

After the last restart, the delayed children (1 day out) are moved to now with
PATCH .../schedule {}. Then:

- every execution in the store is final; every workflow succeeded; every acknowledged one
  exists;
- no child was created twice for one journal position: for each workflow P, the executions
  whose parent_id is P are exactly the child_ids of P's journal (three, the functions the
  journal names), and no execution names a parent that does not exist;
- each workflow's journal reads call, call, step, call; its one committed step entry has
  at least one mark_onboarded line, and two lines of one step (or one child) always have a
  kill boundary between them: a step runs again only when a kill struck between its side
  effect and its checkpoint, so never more than once per kill; per kill, only a few steps
  are re-run: those on a worker, and those of passes that ended while the commit of their
  outcome was still to come (a worker takes its next execution at once, so a slow commit on
  a loaded machine lets a worker end a second pass meanwhile: at most 2 x `workers` here,
  where a pass is a few milliseconds); and a re-run step's committed entry finished after
  that kill;
- each tutorials child ran exactly once (no kill after the reschedule).
"""

import collections
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, time_ms

WORKFLOWS = 500
MIN_KILLS = 24
WORKERS = 4
CLIENTS = 4
TRIGGER_SPAN_S = 22.0  # the triggers are spread over this long, so the kills land among them
CHILDREN = ("send_welcome_email", "import_contacts_from_hubspot")
LATER = "send_tutorials_email_if_no_actions"
CHILD_KIND = {"welcome_email": CHILDREN[0], "contacts_imported": CHILDREN[1], "tutorials_email": LATER}


def read_effects(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    raise harness.CheckFailed("FAILED: a torn effect line: %r" % line)
                parts = line.split()
                out.append((parts[0], dict(p.split("=", 1) for p in parts[1:])))
    except FileNotFoundError:
        pass
    return out


def line_count(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_all_final(h, query, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        items, _ = h.list_all(query, limit=1000)
        open_ = [e for e in items if e["state"] not in harness.FINAL_STATES]
        if not open_:
            return items
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %s: %d not final after %.0fs, e.g. %r"
                                      % (what, len(open_), timeout, [(e["id"], e["function"], e["state"]) for e in open_[:5]]))
        time.sleep(0.2)


def main():
    started = time.monotonic()
    with harness.Host(plugins=["onboarding"], workers=WORKERS) as h:
        fx = os.path.join(h.dir, "effects.log")
        lock = threading.Lock()
        counts = {"next_uid": 1, "slot": 0, "inflight": 0, "attempts": 0, "errors": 0}
        acked = {}  # user id -> workflow id
        failures = []
        t0 = time.monotonic()
        interval = TRIGGER_SPAN_S / WORKFLOWS

        def client():
            c = harness.Client("127.0.0.1", h.port, timeout=30)
            while True:
                with lock:
                    if len(acked) + counts["inflight"] >= WORKFLOWS:
                        break
                    counts["inflight"] += 1
                    counts["attempts"] += 1
                    uid = counts["next_uid"]
                    counts["next_uid"] += 1
                    slot = counts["slot"]
                    counts["slot"] += 1
                    rnd = random.Random(uid)
                wait = t0 + slot * interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                args = {"user_id": uid, "email": "u%d@example.com" % uid, "effects": fx,
                        "email_ms": rnd.choice((0, rnd.randint(0, 80))), "contacts_ms": rnd.choice((0, rnd.randint(0, 80)))}
                try:
                    status, doc, _ = c.call("POST", "/v1/functions/user_onboarding/executions", {"args": args})
                except Exception:
                    status, doc = None, None
                with lock:
                    counts["inflight"] -= 1
                    if status == 202 and isinstance(doc, dict) and "id" in doc:
                        acked[uid] = doc["id"]
                        continue
                    counts["errors"] += 1
                if status is not None and status not in (202, 503):
                    raise RuntimeError("trigger answered %s %r" % (status, doc))
                time.sleep(0.02)  # the host is down: do not spin
            c.close()

        def guarded():
            try:
                client()
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=guarded, daemon=True) for _ in range(CLIENTS)]
        for t in threads:
            t.start()

        # ---- the kills ---------------------------------------------------------------------
        kills = []  # {"at": wall time just before the kill, "boundary": effect lines at the kill, "acked": n}
        down_ms = []
        while len(kills) < MIN_KILLS or any(t.is_alive() for t in threads):
            time.sleep(random.uniform(0.15, 0.9))
            at = time.time()
            h.kill9()
            kills.append({"at": at, "boundary": line_count(fx), "acked": len(acked)})
            t_down = time.monotonic()
            h.restart()
            down_ms.append((time.monotonic() - t_down) * 1000)
            if len(kills) > 200:
                raise harness.CheckFailed("FAILED: the triggers never finished (%d acked)" % len(acked))
        for t in threads:
            t.join(60)
        burst_s = time.monotonic() - started
        check(not failures, "clients saw only 202s or connection errors", failures)
        check_eq(len(acked), WORKFLOWS, "acknowledged workflows")
        print("   %d kills at acks %s; restart took %.0f-%.0f ms" % (len(kills), [k["acked"] for k in kills], min(down_ms), max(down_ms)))
        in_burst = sum(1 for k in kills if k["acked"] < WORKFLOWS)
        check(len(kills) >= 20 and in_burst >= 15, "at least 20 kills (%d), %d of them while triggers still came in" % (len(kills), in_burst), kills)

        # ---- settle: workflows, then the day-later children moved to now ---------------------
        parents = wait_all_final(h, "function=user_onboarding", 120, "workflows after the last restart")
        later_items, _ = h.list_all("function=" + LATER, limit=1000)
        moved = 0
        for e in later_items:
            if e["state"] == "scheduled":
                status, doc = h.reschedule(e["id"], {})
                if status != 200:
                    raise harness.CheckFailed("FAILED: PATCH .../schedule {} on %s: %s %r" % (e["id"], status, doc))
                moved += 1
        everything = wait_all_final(h, "", 120, "every execution after the reschedules")
        settle_s = time.monotonic() - started - burst_s

        # ---- the store ------------------------------------------------------------------------
        by_id = {e["id"]: e for e in everything}
        parents = {e["id"]: e for e in everything if e["function"] == "user_onboarding"}
        by_uid = {}
        for p in parents.values():
            by_uid.setdefault(p["args"]["user_id"], []).append(p["id"])
        lost = [uid for uid, pid in acked.items() if pid not in parents]
        check(not lost, "every acknowledged workflow exists (%d stored for %d acked)" % (len(parents), len(acked)), lost[:10])
        check(all(len(v) == 1 for v in by_uid.values()), "one workflow per user id", [v for v in by_uid.values() if len(v) > 1][:5])
        not_ok = [(p["id"], p["state"], p.get("error")) for p in parents.values() if p["state"] != "succeeded"]
        check(not not_ok, "every workflow (%d) succeeded" % len(parents), not_ok[:10])
        check_eq(moved, len(parents), "one delayed child per workflow was waiting its day, and was moved to now")

        named = collections.defaultdict(set)
        orphans = []
        for e in everything:
            if e.get("parent_id"):
                named[e["parent_id"]].add(e["id"])
                if e["parent_id"] not in parents:
                    orphans.append(e["id"])
        check(not orphans, "no execution names a parent that does not exist", orphans[:10])
        check_eq(len(everything), 4 * len(parents), "the store holds 4 executions per workflow (itself and three children)")

        journals = {}
        bad_journal, twice = [], []
        for pid in parents:
            doc = h.execution(pid)
            j = doc["journal"]
            journals[pid] = j
            shape = [(e["kind"], e["name"]) for e in j]
            if shape != [("call", CHILDREN[0]), ("call", CHILDREN[1]), ("step", "mark_onboarded"), ("call", LATER)] or \
                    [e["status"] for e in j[:3]] != ["succeeded"] * 3:
                bad_journal.append((pid, [(e["kind"], e["name"], e["status"]) for e in j]))
                continue
            kids = [e["child_id"] for e in j if e["kind"] == "call"]
            if len(set(kids)) != 3 or set(kids) != named[pid] or set(doc["children"]) != set(kids) or \
                    any(by_id[c]["function"] != e["name"] for c, e in zip(kids, (x for x in j if x["kind"] == "call"))):
                twice.append((pid, kids, sorted(named[pid])))
        check(not bad_journal, "every journal reads call, call, step, call, the first three succeeded", bad_journal[:5])
        check(not twice, "no child created twice: each workflow's children are exactly its journal's three calls", twice[:5])
        not_ok = [(e["id"], e["function"], e["state"], e.get("error")) for e in everything if e["state"] != "succeeded"]
        check(not not_ok, "every child succeeded too", not_ok[:10])

        # ---- the side effects -------------------------------------------------------------------
        lines = read_effects(fx)
        boundaries = [k["boundary"] for k in kills]

        def kill_between(i, j):
            """The first kill whose boundary lies in (i, j]: line i was written before it, line j after."""
            for n, b in enumerate(boundaries):
                if i < b <= j:
                    return n
            return None

        groups = collections.defaultdict(list)  # (kind, execution id) -> line indices
        phantoms = []
        for idx, (kind, kv) in enumerate(lines):
            eid = kv.get("execution")
            if eid not in by_id:
                phantoms.append((idx, kind, kv))
            groups[(kind, eid)].append(idx)
        check(not phantoms, "every effect line names an execution in the store", phantoms[:5])

        step_dups_per_kill = collections.Counter()
        child_dups_per_kill = collections.Counter()
        unexplained, late_commit = [], []
        for (kind, eid), idxs in groups.items():
            for a, b in zip(idxs, idxs[1:]):
                k = kill_between(a, b)
                if k is None:
                    unexplained.append((kind, eid, a, b))
                    continue
                if kind == "mark_onboarded":
                    step_dups_per_kill[k] += 1
                    fin = time_ms(journals[eid][2]["finished_at"]) / 1000.0
                    if fin <= kills[k]["at"]:
                        late_commit.append((eid, kills[k]["at"], journals[eid][2]))
                else:
                    child_dups_per_kill[k] += 1
        check(not unexplained, "no side effect ran twice without a kill between the two runs", unexplained[:10])
        missing = [pid for pid in parents if not groups.get(("mark_onboarded", pid))]
        check(not missing, "every committed step has its side effect", missing[:10])
        wrong_user = [(kind, kv) for kind, kv in lines if kind == "mark_onboarded" and
                      str(parents[kv["execution"]]["args"]["user_id"]) != kv["user"]]
        check(not wrong_user, "each mark names its workflow's user", wrong_user[:5])
        too_many = {k: n for k, n in step_dups_per_kill.items() if n > 2 * WORKERS}
        check(not too_many, "per kill, at most 2 x workers = %d steps ran again" % (2 * WORKERS), too_many)
        check(not late_commit, "a re-run step's entry was committed after the kill that caused the re-run", late_commit[:5])
        for kind, fn in CHILD_KIND.items():
            kids = [e["id"] for e in everything if e["function"] == fn]
            no_effect = [c for c in kids if not groups.get((kind, c))]
            check(not no_effect, "every %s child recorded %s" % (fn, kind), no_effect[:10])
        tut = collections.Counter(kv["execution"] for kind, kv in lines if kind == "tutorials_email")
        check(all(n == 1 for n in tut.values()) and len(tut) == len(parents), "each tutorials child ran exactly once", tut.most_common(3))

        step_dups = sum(step_dups_per_kill.values())
        child_dups = sum(child_dups_per_kill.values())
        totals = collections.Counter(kind for kind, _ in lines)
        print("summary: %d workflows (%d trigger attempts, %d failed while down), %d kills (%d while triggering); "
              "effects %s; step re-runs %d (at kills %s), child re-runs %d (at kills %s); "
              "burst %.1fs, settle %.1fs, total %.1fs"
              % (len(parents), counts["attempts"], counts["errors"], len(kills), in_burst, dict(totals),
                 step_dups, dict(step_dups_per_kill), child_dups, dict(child_dups_per_kill),
                 burst_s, settle_s, time.monotonic() - started), flush=True)


harness.run(main)
