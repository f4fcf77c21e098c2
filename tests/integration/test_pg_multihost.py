"""Three hosts on one PostgreSQL under a steady load, killed and restarted, and the database
taken away once (issue 12): what was acknowledged finishes once, and the store stays whole.

Three `tarry serve` (TARRY_LEASE=2s: a host unheard for 2 s is declared stopped by the
others; each its own data folder, the "mh" test plugin) share a database on a private server
(pgcluster.py). Client threads trigger round-robin on the three hosts, each on its own
connections:
  mh_flow {"sleep": 200ms..1s}   step "a", a durable sleep, step "b" (workflows);
  mh_leaf {"ms": 20} with a delay (500ms..3s) or a run_at 1..3 s ahead (delayed and
                                 scheduled plain functions);
  mh_leaf {"ms": 50}             queued at once;
and one more thread sends idempotency keys, each to two hosts at the same moment (mh_leaf,
the same args); a 409 conflict (the other host took the key that instant) is sent again to
the same host until it answers with the one execution.

Meanwhile KILLS times (default 20, as the issue asks; TARRY_MULTIHOST_KILLS: about 130 s on two
busy cores, most of it the pauses between kills, the restarts and the outage), every 1.5-3 s, a
random host is killed with SIGKILL (supervisor and engine at once, as a power cut) and started
again: every other time at once (the new engine takes over what its folder's dead one held),
the others after 3.5 s (past the 2 s lease: another host declares it stopped and releases its
executions to be claimed again). After the tenth kill the database is stopped for 10 s and
started again. After each kill the test reads, with psql, every recorded step result and every
final execution's state and result.

Then the load stops, everything settles, and in the database (psql) and mh's trace file:
  - every acknowledged execution (every id a trigger answered 2xx for) is in the store, final;
    it succeeded, or failed as a poison pill after crashing 3 hosts (counted);
  - a final execution read during the run has the same state and result at the end;
  - each workflow's journal is exactly step a, sleep, step b, each position once (no
    position has two entries; none is added twice at another position), and its result is
    its steps' recorded results; a step result read during the run is never replaced, and
    each recorded result is one a real run of its body produced (the trace);
  - every due timer fired: nothing is scheduled or waiting any more (no due_at in the past);
    every plain function ran (a start line in the trace) at or after its due time, at most once
    per claim (lease_epoch), exactly once if claimed once, never on two engines at once (no
    other engine started it while a run that ended was under way); its result names a run that
    ended, and its attempts hold one successful attempt;
  - one idempotency key is one execution: every answer for it named one id, and the
    database holds one execution with that key;
  - both ways of taking over happened: killed engines declared stopped by the others, and
    taken over by their own restart.
Prints: kills, database outage, accepted (by kind), idempotency keys (with their 200s and
409s), finished, crashes counted (crashed attempts), engines (hosts rows) and how they left,
executions released, the highest lease_epoch, re-runs of step bodies and of plain functions.
"""

import collections
import contextlib
import http.client
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
import pgcluster
from harness import check, check_eq

KILLS = int(os.environ.get("TARRY_MULTIHOST_KILLS", "20"))
HOSTS = 3
CLIENTS = 3
WORKERS = 4
LEASE = "2s"
LEASE_WAIT_S = 3.5  # past the lease and the next heartbeat (every lease/5) of a host still alive
OUTAGE_S = 10.0
FINAL = ("succeeded", "failed", "cancelled", "discarded")


class Load:
    """The client threads and what they were told."""

    def __init__(self, hosts, effects, seed):
        self.hosts, self.effects = hosts, effects
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.acked = {}  # id -> kind
        self.keys = {}  # idempotency key -> [ids answered]
        self.key_409s = 0
        self.key_200s = 0
        self.unanswered = 0
        self.failures = []
        self.stop = threading.Event()
        self.threads = []

    def start(self):
        for i in range(CLIENTS):
            self.threads.append(threading.Thread(target=self._guard, args=(self._client, i), daemon=True))
        self.threads.append(threading.Thread(target=self._guard, args=(self._keys, CLIENTS), daemon=True))
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def _guard(self, fn, i):
        try:
            fn(i)
        except Exception as exc:  # noqa: BLE001 - the test fails on it after the load
            self.failures.append(repr(exc))

    def _post(self, clients, h, fn, body):
        """POST one trigger to host h on this thread's connection to it: (status, doc), or
        (None, None) when the host is unreachable (killed, restarting, the database away)."""
        c = clients.get(id(h))
        if c is None or c.port != h.port:
            c = clients[id(h)] = harness.Client("127.0.0.1", h.port, timeout=20)
        try:
            status, doc, _ = c.call("POST", "/v1/functions/%s/executions" % fn, body)
            return status, doc
        except (OSError, http.client.HTTPException):
            c.close()
            return None, None

    def _client(self, i):
        rnd = random.Random(self.rnd.random() + i)
        clients = {}
        n = i
        while not self.stop.is_set():
            h = self.hosts[n % HOSTS]
            n += 1
            roll = rnd.random()
            if roll < 0.45:
                kind, fn = "workflow", "mh_flow"
                body = {"args": {"effects": self.effects, "sleep": "%dms" % rnd.randrange(200, 1001)}}
            elif roll < 0.65:
                kind, fn = "delayed", "mh_leaf"
                body = {"args": {"effects": self.effects, "ms": 20}, "delay": "%dms" % rnd.randrange(500, 3001)}
            elif roll < 0.85:
                kind, fn = "scheduled", "mh_leaf"
                body = {"args": {"effects": self.effects, "ms": 20},
                        "run_at": harness.rfc3339(time.time() + rnd.uniform(1.0, 3.0))}
            else:
                kind, fn = "queued", "mh_leaf"
                body = {"args": {"effects": self.effects, "ms": 50}}
            status, doc = self._post(clients, h, fn, body)
            if status == 202 and isinstance(doc, dict) and "id" in doc:
                with self.lock:
                    self.acked[doc["id"]] = kind
                time.sleep(rnd.uniform(0.03, 0.08))  # a steady load the hosts keep up with
                continue
            if status is not None and status not in (503,):
                raise RuntimeError("trigger %s on port %d answered %s %r" % (fn, h.port, status, doc))
            with self.lock:
                self.unanswered += 1
            time.sleep(0.05)  # that host is down or restarting: do not spin

    def _keys(self, i):
        rnd = random.Random(self.rnd.random() + i)
        n = 0
        while not self.stop.is_set():
            key = "key-%d" % n
            n += 1
            pair = rnd.sample(self.hosts, 2)
            body = {"args": {"effects": self.effects, "ms": 10}, "idempotency_key": key}
            answers = [None, None]
            senders = [threading.Thread(target=self._send_key, args=(h, body, answers, j))
                       for j, h in enumerate(pair)]
            for t in senders:
                t.start()
            for t in senders:
                t.join(120)
            ids = [a for a in answers if a]
            if ids:
                with self.lock:
                    self.keys[key] = ids
                    for eid in ids:
                        self.acked[eid] = "keyed"
            time.sleep(rnd.uniform(0.1, 0.3))

    def _send_key(self, h, body, answers, j):
        clients = {}
        try:
            for _ in range(50):
                status, doc = self._post(clients, h, "mh_leaf", body)
                if status in (200, 202) and isinstance(doc, dict) and "id" in doc:
                    with self.lock:
                        self.key_200s += status == 200
                    answers[j] = doc["id"]
                    return
                if status == 409 and isinstance(doc, dict) and doc.get("error", {}).get("code") == "conflict":
                    # The other host took the key at that moment: sent again, it finds that execution.
                    with self.lock:
                        self.key_409s += 1
                    time.sleep(0.1)
                    continue
                if status is not None and status != 503:
                    raise RuntimeError("keyed trigger on port %d answered %s %r" % (h.port, status, doc))
                if self.stop.is_set():
                    return
                time.sleep(0.2)
        finally:
            for c in clients.values():
                c.close()


def snapshot(pg, db, steps, finals, replaced, changed):
    """Read every recorded step result and every final execution; note any that differs from what
    an earlier read saw. Skipped (False) while the database is away."""
    try:
        step_rows = pg.psql(db, "SELECT exec_id, seq, value FROM journal WHERE kind = 'step' AND status = 'succeeded'")
        final_rows = pg.psql(db, "SELECT id, state, coalesce(result, ''), coalesce(error, '') FROM executions "
                                 "WHERE state IN ('succeeded', 'failed', 'cancelled', 'discarded')")
    except RuntimeError:
        return False
    for eid, seq, value in step_rows:
        old = steps.setdefault((eid, seq), value)
        if old != value:
            replaced.append((eid, seq, old, value))
    for eid, state, result, error in final_rows:
        old = finals.setdefault(eid, (state, result, error))
        if old != (state, result, error):
            changed.append((eid, old, (state, result, error)))
    return True


def wait_healthy(hosts, timeout):
    deadline = time.monotonic() + timeout
    for h in hosts:
        while not h.healthy():
            if time.monotonic() > deadline:
                check(False, "host on port %d serves again within %.0f s" % (h.port, timeout), h.log_tail())
            time.sleep(0.1)


def main():
    started = time.monotonic()
    # The hosts leave before the database does (an ExitStack unwinds in reverse), each showing
    # its log when the test failed.
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(pgcluster.PgCluster(settings={"fsync": "off"}))
        db = pg.create_database("multi")
        env = {"TARRY_LEASE": LEASE}
        hosts = [stack.enter_context(harness.Host(plugins=["mh"], store_url=pg.url(db), extra_env=env,
                                                  workers=WORKERS, startup_timeout=60)) for _ in range(HOSTS)]
        run(pg, db, hosts, started)
        for h in hosts:
            check_eq(h.stop(), 0, "host on port %d stops cleanly" % h.port)


def run(pg, db, hosts, started):
    effects = os.path.join(hosts[0].dir, "effects.txt")
    load = Load(hosts, effects, random.random())
    load.start()
    steps, finals, replaced, changed = {}, {}, [], []
    kills, outage_done, snapshots = 0, False, 0
    while kills < KILLS:
        time.sleep(random.uniform(1.5, 3.0))
        if not outage_done and kills == KILLS // 2:
            pg.stop()
            t = time.monotonic()
            time.sleep(OUTAGE_S)
            pg.start()
            outage_done = True
            print("   database stopped for %.0f s and started again" % (time.monotonic() - t), flush=True)
            wait_healthy(hosts, 90)
            continue
        victim = random.randrange(HOSTS)
        h = hosts[victim]
        h.kill9()
        # Every other kill waits past the lease (the others declare the host stopped and release
        # its executions); the rest restart at once (the new engine takes over its folder's).
        pause = random.uniform(0.0, 0.5) if kills % 2 == 0 else LEASE_WAIT_S
        time.sleep(pause)
        h.start()
        kills += 1
        snapshots += snapshot(pg, db, steps, finals, replaced, changed)
        print("   kill %d: host %d (port %d) killed, started again %.1f s later; %d acknowledged so far"
              % (kills, victim, h.port, pause, len(load.acked)), flush=True)
    time.sleep(2.0)  # a last stretch of load on three live hosts
    load.finish()
    check(not load.failures, "clients saw only 2xx, 503, 409 conflict (keys) or an unreachable host",
          load.failures[:5])
    print("   load stopped at %.0f s; %d acknowledged, %d triggers not answered (a host down)"
          % (time.monotonic() - started, len(load.acked), load.unanswered), flush=True)

    # Blocked (a nondeterminism, a function not loaded or quarantined) is not final, but nothing
    # will change it: it ends the wait, and fails the checks below naming its error.
    deadline = time.monotonic() + 120
    while True:
        left = pg.psql(db, "SELECT count(*) FROM executions WHERE state NOT IN "
                           "('succeeded', 'failed', 'cancelled', 'discarded', 'blocked')")[0][0]
        if left == "0":
            break
        if time.monotonic() > deadline:
            check(False, "every execution is final within 120 s of the load's end",
                  pg.psql(db, "SELECT id, function, state, lease_owner, due_at, error FROM executions WHERE state "
                              "NOT IN ('succeeded', 'failed', 'cancelled', 'discarded') LIMIT 5"))
        time.sleep(0.5)
    print("   settled at %.0f s" % (time.monotonic() - started), flush=True)
    read = (len(steps), len(finals))  # what the reads during the run saw
    snapshot(pg, db, steps, finals, replaced, changed)
    verify(pg, db, load, effects, steps, read, replaced, changed, kills, snapshots, started)


def verify(pg, db, load, effects, steps, read, replaced, changed, kills, snapshots, started):
    rows = {r[0]: r for r in pg.psql(
        db, "SELECT id, function, state, coalesce(error, ''), crashes, attempts, lease_epoch, "
            "lease_owner IS NULL, coalesce(idempotency_key, ''), tarry_ms(scheduled_at), "
            "coalesce(result::json->>'pid', ''), coalesce(result, '') FROM executions")}
    acked = dict(load.acked)
    lost = [eid for eid in acked if eid not in rows]
    check(not lost, "every acknowledged execution is in the store (%d)" % len(acked), lost[:5])
    open_ = [rows[eid][:4] for eid in acked if rows[eid][2] not in FINAL]
    check(not open_, "every acknowledged execution is final", open_[:5])
    poison = [r for r in rows.values() if r[2] == "failed" and "crash" in r[3] and int(r[4]) >= 3]
    other = [r[:5] for r in rows.values() if r[2] != "succeeded" and r not in poison]
    check(not other, "every execution succeeded, or failed as a poison pill after crashing 3 hosts", other[:5])
    check(not changed, "a final execution read during the run is the same at the end (%d read)" % read[1],
          changed[:5])
    check_eq(pg.psql(db, "SELECT count(*) FROM executions WHERE lease_owner IS NOT NULL"), [["0"]],
             "no final execution is still leased")

    # Workflows: their journals, and their step results over time.
    journal = collections.defaultdict(list)
    for eid, seq, kind, status, name, value in pg.psql(
            db, "SELECT exec_id, seq, kind, status, coalesce(name, ''), coalesce(value, '') FROM journal "
                "ORDER BY exec_id, seq"):
        journal[eid].append((int(seq), kind, status, name, value))
    check_eq(pg.psql(db, "SELECT count(*) FROM (SELECT exec_id, seq FROM journal GROUP BY 1, 2 "
                         "HAVING count(*) > 1) d"), [["0"]], "no journal position has two entries")
    trace_steps = collections.defaultdict(set)
    leaf_runs = collections.defaultdict(list)  # id -> [(pid, start us)]
    leaf_ends = collections.defaultdict(dict)  # id -> {pid: end us}
    with open(effects) as f:
        for line in f:
            p = line.split()
            if p[0] == "step":
                trace_steps[(p[2], p[1])].add('{"pid":%s,"us":%s}' % (p[3], p[4]))
            elif p[0] == "start":
                leaf_runs[p[1]].append((int(p[3]), int(p[4])))
            else:
                leaf_ends[p[1]][int(p[3])] = int(p[4])
    bad_journal, bad_result, unreal = [], [], []
    flows = [r for r in rows.values() if r[1] == "mh_flow" and r[2] == "succeeded"]
    for r in flows:
        j = journal[r[0]]
        shape = [(seq, kind, status, name if kind == "step" else "") for seq, kind, status, name, _ in j]
        if shape != [(0, "step", "succeeded", "a"), (1, "sleep", "succeeded", ""), (2, "step", "succeeded", "b")]:
            bad_journal.append((r[0], shape))
            continue
        if r[11] != '{"a":%s,"b":%s}' % (j[0][4], j[2][4]):
            bad_result.append((r[0], r[11], j[0][4], j[2][4]))
        for (_, _, _, name, value) in (j[0], j[2]):
            if value not in trace_steps[(r[0], name)]:
                unreal.append((r[0], name, value))
    check(not bad_journal, "each workflow's journal is step a, sleep, step b (%d workflows)" % len(flows),
          bad_journal[:5])
    check(not bad_result, "each workflow's result is its recorded step results", bad_result[:5])
    check(not replaced, "no step result read during the run was replaced (%d read)" % read[0], replaced[:5])
    missing = [k for k in steps if k[0] in rows and not any(str(s[0]) == k[1] for s in journal[k[0]])]
    check(not missing, "no step result read during the run is gone", missing[:5])
    check(not unreal, "every recorded step result is one a run of its body produced", unreal[:5])
    step_reruns = sum(len(v) - 1 for v in trace_steps.values())

    # Timers and plain functions.
    check_eq(pg.psql(db, "SELECT count(*) FROM executions WHERE state IN ('scheduled', 'waiting') "
                         "OR due_at < now()"), [["0"]], "every due timer fired: nothing scheduled or waiting")
    successes = collections.Counter(eid for eid, in pg.psql(
        db, "SELECT exec_id FROM attempts WHERE outcome = 'succeeded' AND NOT crashed"))
    bad_leaf = collections.defaultdict(list)
    leaves = [r for r in rows.values() if r[1] == "mh_leaf" and r[2] == "succeeded"]
    leaf_reruns = 0
    for r in leaves:
        eid, epoch, due = r[0], int(r[6]), int(r[9])
        runs = leaf_runs.get(eid, [])
        if not runs:
            bad_leaf["never ran"].append(eid)
            continue
        if len(runs) > epoch:
            bad_leaf["ran more often than it was claimed"].append((eid, runs, epoch))
        if epoch == 1 and len(runs) != 1:
            bad_leaf["claimed once, not run once"].append((eid, runs))
        if any(start // 1000 < due for _, start in runs):
            bad_leaf["ran before its due time"].append((eid, runs, due))
        if not r[10] or int(r[10]) not in leaf_ends[eid]:
            bad_leaf["has a result from no run that ended"].append((eid, r[10], leaf_ends[eid]))
        if successes[eid] != 1:
            bad_leaf["has other than one successful attempt"].append((eid, successes[eid]))
        for pid, start in runs:  # a run that ended: no other engine started it meanwhile
            end = leaf_ends[eid].get(pid)
            if end is not None and any(p != pid and start <= s <= end for p, s in runs):
                bad_leaf["ran on two hosts at once"].append((eid, runs, leaf_ends[eid]))
                break
        leaf_reruns += len(runs) - 1
    for what in ("never ran", "ran more often than it was claimed", "claimed once, not run once",
                 "ran before its due time", "has a result from no run that ended",
                 "has other than one successful attempt", "ran on two hosts at once"):
        check(not bad_leaf[what], "no plain function %s (%d)" % (what, len(leaves)), bad_leaf[what][:5])
    stray = set(leaf_runs) - set(rows)
    check(not stray, "the trace names only stored executions", sorted(stray)[:5])

    # Idempotency keys.
    split = {k: ids for k, ids in load.keys.items() if len(set(ids)) != 1}
    check(not split, "every answer for one idempotency key named one execution (%d keys)" % len(load.keys),
          list(split.items())[:5])
    by_key = collections.defaultdict(list)
    for r in rows.values():
        if r[8]:
            by_key[r[8]].append(r[0])
    check(not [k for k, ids in by_key.items() if len(ids) != 1], "one idempotency key is one execution in the store",
          [(k, ids) for k, ids in by_key.items() if len(ids) != 1][:5])
    wrong = [k for k, ids in load.keys.items() if by_key.get(k) != ids[:1]]
    check(not wrong, "the execution each key's answers named is the stored one", wrong[:5])

    kinds = collections.Counter(acked.values())
    engines = pg.psql(db, "SELECT count(*), count(*) FILTER (WHERE left_reason LIKE 'its lease ran out%'), "
                          "count(*) FILTER (WHERE left_reason LIKE 'its engine stopped and started again%'), "
                          "coalesce(sum(released), 0) FROM hosts")[0]
    # A crash is counted as an attempt that crashed (executions.crashes, the poison pill's count
    # of crashes in a row, goes back to 0 once a pass ends). A crashed attempt names the host it
    # ran on (the execution's released_by), not the one that found the crash and wrote it: for a
    # plain function, the engine whose start line has no end line is the one it ran on.
    pid_of = {hid: int(pid) for hid, pid in pg.psql(db, "SELECT id, pid FROM hosts")}
    crashed = pg.psql(db, "SELECT a.exec_id, coalesce(a.host_id, '') FROM attempts a WHERE a.crashed")
    crashed_attempts = len(crashed)
    crashed_elsewhere = 0
    for eid, hid in crashed:
        cut_short = [pid for pid, _ in leaf_runs.get(eid, []) if pid not in leaf_ends[eid]]
        if cut_short and pid_of.get(hid) not in cut_short:
            crashed_elsewhere += 1
    max_epoch = pg.psql(db, "SELECT coalesce(max(lease_epoch), 0) FROM executions")[0][0]
    print("multihost: kills %d, database outage %.0f s; accepted %d (%s); idempotency keys %d (200s %d, 409 "
          "conflicts %d); finished %d (succeeded %d, poison pills %d); crashes counted (attempts) %d (of plain "
          "functions naming another host than the one they ran on: %d); "
          "engines %s (declared stopped by lease %s, taken over by their restart %s), executions released %s, "
          "highest lease_epoch %s; step bodies re-run %d, plain functions re-run %d; %d snapshots of %d step "
          "results and %d final executions"
          % (kills, OUTAGE_S, len(acked), ", ".join("%s %d" % kv for kv in sorted(kinds.items())), len(load.keys),
             load.key_200s, load.key_409s, sum(1 for r in rows.values() if r[2] in FINAL),
             sum(1 for r in rows.values() if r[2] == "succeeded"), len(poison), crashed_attempts, crashed_elsewhere,
             engines[0], engines[1], engines[2], engines[3], max_epoch, step_reruns, leaf_reruns, snapshots,
             read[0], read[1]), flush=True)
    check_eq(kills, KILLS, "kill -9s of a host under load")
    check_eq(crashed_elsewhere, 0, "every crashed attempt of a plain function names the host it ran on")
    check(int(engines[1]) > 0 and int(engines[2]) > 0,
          "killed engines were declared stopped by the others (lease) and taken over by their restart", engines)
    check(len(acked) > 20 * KILLS, "triggers were acknowledged throughout (%d)" % len(acked))
    print("summary: %d kills and a %.0f s database outage in %.0f s; every acknowledged execution finished once"
          % (kills, OUTAGE_S, time.monotonic() - started), flush=True)


if __name__ == "__main__":
    harness.run(main)
