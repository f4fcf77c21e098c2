"""Two hosts on one PostgreSQL race to start the same executions, 10,000 times (issue 12).

Hosts A and B (TARRY_LEASE=2s, their own data folders, the "mh" test plugin) share a
database on a private server (pgcluster.py). RACES executions of mh_leaf {"ms": 0} are
triggered in WAVES waves, alternately on A and on B, each wave's executions given one run_at,
so at that moment both hosts find the same due timers and both try to claim them (tarry_claim:
FOR UPDATE SKIP LOCKED, lease_epoch + 1). mh_leaf appends a start and an end line with its
engine's pid to a file outside the store, so what really ran is counted apart from what the
store says ran. The triggers of later waves go on while earlier waves are due.

Then, in the database (psql) and the trace file, for every execution:
  - it succeeded, with one attempt (executions.attempts and one attempts row, not crashed) on
    one host, the one whose engine pid the trace shows and the result names;
  - lease_epoch is at least 1: it was claimed by the winner (and again by a host that took it
    after the winner released it: a host keeps in memory what its workers start soon and
    releases the rest while another host is live; how many were is printed);
  - the trace has exactly one start and one end line: it ran once, never on both hosts;
  - it started at or after its run_at;
and both hosts won some of the races (the race was real: each wave had both hosts claiming).
Prints: executions, races won by each host, waves won by both, executions started by a
host other than the one that accepted the trigger, conflicts in the hosts' logs.

Then work released and claimed again: A's engine is frozen (SIGSTOP) while it holds 20
executions of mh_leaf {"ms": 1500}, four of them running on its workers; once its lease ran out
B declares it stopped and runs all 20 (their epoch 2, the four running ones with a crashed
attempt); A, let go (SIGCONT), finishes the four runs it had started, hears it was declared
stopped and starts its engine again under a new id. Each of the 20 succeeded once, with B's
result and B's successful attempt (A's late outcomes were fenced), and its trace shows at most
one run per claim (the four: one on A, one on B).

RACES (default 10,000; TARRY_RACE_N) and WAVES (default 10) keep it under ~60 s on two busy
cores (about 45 s here): triggering is most of it (8 client threads, one connection each).
"""

import collections
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
import pgcluster
from harness import check, check_eq

RACES = int(os.environ.get("TARRY_RACE_N", "10000"))
WAVES = 10
CLIENTS = 8
LEASE = "2s"


def trigger_wave(hosts, effects, n, due, spread, wave, acked, failures):
    """Trigger n mh_leaf, the j-th due at due + spread * j / n (spread 0: all at one instant):
    CLIENTS threads, client i on host i % 2, each on its own connection."""

    def client(i):
        h = hosts[i % 2]
        c = h.new_client()
        try:
            for j in range(i, n, CLIENTS):
                run_at = harness.rfc3339(due + spread * j / n)
                status, doc, _ = c.call("POST", "/v1/functions/mh_leaf/executions",
                                        {"args": {"effects": effects, "ms": 0}, "run_at": run_at})
                if status != 202 or not isinstance(doc, dict) or "id" not in doc:
                    failures.append((status, doc))
                    return
                acked.append((doc["id"], i % 2, wave))
        except Exception as exc:  # noqa: BLE001 - reported as a failure by the caller
            failures.append(repr(exc))
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def main():
    started = time.monotonic()
    with pgcluster.PgCluster(settings={"fsync": "off"}) as pg:
        db = pg.create_database("race")
        env = {"TARRY_LEASE": LEASE}
        with harness.Host(plugins=["mh"], store_url=pg.url(db), extra_env=env, workers=4) as a, \
                harness.Host(plugins=["mh"], store_url=pg.url(db), extra_env=env, workers=4) as b:
            race(pg, db, a, b, started)


def race(pg, db, a, b, started):
    if True:
        hosts = [a, b]
        effects = os.path.join(a.dir, "effects.txt")

        # Each wave is due a little after its triggers are expected to be in: the first wave
        # after a lead, then one every gap. Even waves are due at one instant (both hosts wake
        # for the same timers); odd ones spread over a second (the hosts wake again and again
        # and claim the few due each time, interleaved). A wave whose triggers are late only
        # races later.
        acked, failures = [], []
        lead, gap = 4.0, 2.5
        t0 = time.time()
        per_wave = [RACES // WAVES + (1 if w < RACES % WAVES else 0) for w in range(WAVES)]
        for w, n in enumerate(per_wave):
            due = t0 + lead + w * gap
            trigger_wave(hosts, effects, n, due, 0.0 if w % 2 == 0 else 1.0, w, acked, failures)
            check(not failures, "wave %d: every trigger answered 202" % w, failures[:3])
            print("   wave %d: %d triggers due %s %s%s" % (w, n, "at" if w % 2 == 0 else "over a second from",
                  harness.rfc3339(due), " (in after it was due)" if time.time() > due else ""), flush=True)
        check_eq(len(acked), RACES, "executions acknowledged")
        print("   triggered in %.1fs" % (time.monotonic() - started), flush=True)
        accepted_by = {eid: h for eid, h, _ in acked}
        wave_of = {eid: w for eid, _, w in acked}

        # Every execution final; read straight from the database.
        deadline = time.monotonic() + 120
        while True:
            left = int(pg.psql(db, "SELECT count(*) FROM executions WHERE state NOT IN "
                                   "('succeeded', 'failed', 'cancelled', 'discarded')")[0][0])
            if left == 0:
                break
            check(time.monotonic() < deadline, "every execution is final within 120 s", "%d left" % left)
            print("   %.1fs: %d not final" % (time.monotonic() - started, left), flush=True)
            time.sleep(0.5)
        print("   all final at %.1fs" % (time.monotonic() - started), flush=True)

        host_pid = {hid: int(pid) for hid, pid in pg.psql(db, "SELECT id, pid FROM hosts")}
        engine_pids = [h.engine_pid() for h in hosts]  # (each a walk over /proc: read once)
        check_eq(sorted(host_pid.values()), sorted(engine_pids),
                 "the hosts table holds the two engines (none restarted)")
        rows = pg.psql(db, "SELECT e.id, e.state, e.attempts, e.lease_epoch, e.lease_owner IS NULL, "
                           "(e.result::json->>'pid'), tarry_ms(e.started_at) >= tarry_ms(e.scheduled_at), "
                           "count(t.number), count(t.number) FILTER (WHERE t.crashed), min(t.host_id), "
                           "max(t.host_id) FROM executions e LEFT JOIN attempts t ON t.exec_id = e.id "
                           "GROUP BY e.id")
        check_eq(len(rows), RACES, "the database holds one row per acknowledged execution")
        starts, ends = collections.defaultdict(list), collections.defaultdict(list)
        with open(effects) as f:
            for line in f:
                kind, eid, _attempt, pid, _us = line.split()
                (starts if kind == "start" else ends)[eid].append(int(pid))

        bad = collections.defaultdict(list)
        won = collections.Counter()
        waves_won = collections.defaultdict(set)
        moved = reclaims = 0
        for eid, state, attempts, epoch, free, rpid, on_time, n_att, n_crashed, h1, h2 in rows:
            if eid not in accepted_by:
                bad["not acknowledged"].append(eid)
                continue
            if state != "succeeded" or attempts != "1":
                bad["not succeeded once"].append((eid, state, attempts))
            if int(epoch) < 1:
                bad["never claimed"].append((eid, epoch))
            reclaims += int(epoch) - 1
            if free != "t":
                bad["still leased when final"].append(eid)
            if n_att != "1" or n_crashed != "0" or h1 != h2:
                bad["not one attempt row"].append((eid, n_att, n_crashed))
            if on_time != "t":
                bad["started before its run_at"].append(eid)
            if len(starts[eid]) != 1 or ends[eid] != starts[eid]:
                bad["did not run exactly once"].append((eid, starts[eid], ends[eid]))
                continue
            pid = starts[eid][0]
            if host_pid.get(h1) != pid or rpid != str(pid):
                bad["the attempt's host is not the one that ran it"].append((eid, h1, pid, rpid))
            won[pid] += 1
            waves_won[wave_of[eid]].add(pid)
            if pid != engine_pids[accepted_by[eid]]:
                moved += 1
        stray = set(starts) - set(accepted_by)
        conflicts = sum(h.log_text().count("held by another host") for h in hosts)
        print("race: %d executions, won by A %d, by B %d; waves won by both: %d of %d at one instant, %d of %d "
              "spread; started on the other host than the trigger's %d; claims after a release %d; conflict lines "
              "in the logs %d"
              % (len(rows), won[engine_pids[0]], won[engine_pids[1]],
                 sum(1 for w, p in waves_won.items() if len(p) == 2 and w % 2 == 0), (WAVES + 1) // 2,
                 sum(1 for w, p in waves_won.items() if len(p) == 2 and w % 2 == 1), WAVES // 2, moved, reclaims,
                 conflicts),
              flush=True)
        check(not stray, "the trace names only acknowledged executions", sorted(stray)[:5])
        for what in ("not succeeded once", "never claimed", "still leased when final", "not one attempt row",
                     "started before its run_at", "did not run exactly once",
                     "the attempt's host is not the one that ran it", "not acknowledged"):
            check(not bad[what], "no execution %s" % what, bad[what][:5])
        check(won[engine_pids[0]] > 0 and won[engine_pids[1]] > 0, "both hosts won races", dict(won))
        print("summary: %d races in %.0fs: each execution run once, on one host"
              % (RACES, time.monotonic() - started), flush=True)
        reclaimed(pg, db, a, b)
        for h in hosts:
            check_eq(h.stop(), 0, "host on port %d stops cleanly" % h.port)


RECLAIMED = 20
FROZEN_MS = 1500


def reclaimed(pg, db, a, b):
    """Released and claimed again: A's engine is frozen (SIGSTOP) while it holds RECLAIMED
    executions, some of them running on its workers; B declares it stopped once its lease ran out
    and runs them all (epoch 2); A, let go (SIGCONT), finishes the runs it had started, and their
    outcomes are fenced: each execution has one outcome, B's, and ran at most once per epoch."""
    effects = os.path.join(a.dir, "reclaimed.txt")
    ids = [a.trigger_ok("mh_leaf", {"effects": effects, "ms": FROZEN_MS}) for _ in range(RECLAIMED)]
    a_pid, b_pid = a.engine_pid(), b.engine_pid()

    def runs():
        found = collections.defaultdict(list)
        try:
            with open(effects) as f:
                for line in f:
                    kind, eid, _attempt, pid, _us = line.split()
                    found[eid].append((kind, int(pid)))
        except FileNotFoundError:
            pass
        return found

    deadline = time.monotonic() + 30
    while sum(1 for r in runs().values() if ("start", a_pid) in r) < a.workers:
        if time.monotonic() > deadline:
            check(False, "host A runs %d of them at once" % a.workers, runs())
        time.sleep(0.02)
    os.kill(a_pid, signal.SIGSTOP)
    try:
        frozen = {eid for eid, r in runs().items() if ("start", a_pid) in r and ("end", a_pid) not in r}
        deadline = time.monotonic() + 60
        while True:
            done = pg.psql(db, "SELECT count(*) FROM executions WHERE id IN (%s) AND state = 'succeeded'"
                               % ",".join("'%s'" % i for i in ids))[0][0]
            if done == str(RECLAIMED):
                break
            if time.monotonic() > deadline:
                check(False, "host B finishes all %d while A is frozen" % RECLAIMED,
                      pg.psql(db, "SELECT id, state, lease_owner, lease_epoch FROM executions WHERE id IN (%s)"
                                  % ",".join("'%s'" % i for i in ids)))
            time.sleep(0.2)
    finally:
        os.kill(a_pid, signal.SIGCONT)
    a.wait_log("was declared stopped by another", timeout=30)
    deadline = time.monotonic() + 60
    while a.log_text().count("joined the hosts of the store as host") < 2 or not a.healthy():
        if time.monotonic() > deadline:
            check(False, "host A starts its engine again within 60 s", a.log_tail())
        time.sleep(0.1)
    check(True, "host A, let go, hears it was declared stopped and starts its engine again under a new id")
    deadline = time.monotonic() + 30
    while sum(1 for eid in frozen if ("end", a_pid) in runs()[eid]) < len(frozen):
        if time.monotonic() > deadline:
            check(False, "the runs A had started finish after it is let go", runs())
        time.sleep(0.05)
    time.sleep(0.5)  # a late write of A's, had it not been fenced, would have landed by now
    b_id = pg.psql(db, "SELECT id FROM hosts WHERE pid = %d" % b_pid)[0][0]
    rows = pg.psql(db, "SELECT e.id, e.state, e.lease_epoch, e.result::json->>'pid', count(t.number) FILTER "
                       "(WHERE t.outcome = 'succeeded' AND NOT t.crashed), min(t.host_id) FILTER (WHERE "
                       "t.outcome = 'succeeded') FROM executions e LEFT JOIN attempts t ON t.exec_id = e.id "
                       "WHERE e.id IN (%s) GROUP BY e.id" % ",".join("'%s'" % i for i in ids))
    traced = runs()
    bad = [(r, traced[r[0]]) for r in rows
           if r[1:] != ["succeeded", "2", str(b_pid), "1", b_id]
           or len([k for k, _ in traced[r[0]] if k == "start"]) > int(r[2])
           or ("end", b_pid) not in traced[r[0]]]
    print("reclaimed: %d executions held by A (%d running on its workers when it froze), all run by B "
          "after A's lease ran out; A's %d late outcomes fenced" % (RECLAIMED, len(frozen), len(frozen)), flush=True)
    check(not bad, "each of them: succeeded once, with B's outcome and attempt, claimed twice (epoch 2), run "
          "at most once per claim", bad[:5])


if __name__ == "__main__":
    harness.run(main)
