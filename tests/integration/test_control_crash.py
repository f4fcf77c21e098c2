"""Execution control under the crash loop (issue 9's durability promises, guarded the way
test_crash_loop.py guards the core's): the engine is killed with SIGKILL at random moments
while client threads trigger retried, keyed, limited and cancellable work and a canceller
cancels acknowledged executions, and afterwards every promise still holds.

KILLS (default 12; TARRY_CONTROLCRASH_KILLS) times, after a random 0.2-0.8 s, the main
thread kills the engine process (not the supervisor, which restarts it). Meanwhile CLIENTS
threads trigger, each on its own connection:

  ctl_flaky {"fail": N, "ms": M}  (ctlcrash) retried at once, up to 5 attempts: attempts 1..N
                                   (N in 0..3) fail on purpose after M ms (0-150), the next
                                   returns {"attempt": K};
  idem_slow {"ms": 100, "key": K} (idem_children) with idempotency_key K and metadata
                                   {"ikey": K}; a new set of KEYS keys every two kills, so keys
                                   are made and sent again around kills, from several threads;
  ctl_one {"ms": 60}               (ctlcrash) concurrency 1, ignores cancels; a third of them
                                   are cancelled (queued: at once; running: when they return);
  ctl_stubborn {"ms": 200}         (ctlcrash) runs until tarry_is_cancelled, then takes 200 ms
                                   more to return: always cancelled, often with a kill between
                                   the 202 and the return;
  cancel_echo, delay 1s            (cancel) scheduled; half of them cancelled;
  cancel_fanout of 3 cancel_sleeper (1h)  a waiting workflow with sleeping children: always
                                   cancelled;
  cancel_await of one cancel_loop  a waiting workflow with a running child: always cancelled.
The ctlcrash functions append "start|end <id> <attempt> <engine pid>" lines to one file.

A canceller thread POSTs /v1/executions/ID/cancel for the chosen acknowledged executions a
random 0-0.8 s after their trigger was answered, again after a connection error or a 503
(the engine restarting), and records every answer with the engine that was up right after it.
Once the kills are over, the top-level long-running executions whose trigger was never
answered (the kill cut the answer) are cancelled too (leftovers: nothing else would end them).

Afterwards, once every execution is final:
- lost: acknowledged ids not in the store (must be 0);
- cancel: every execution whose cancel was answered 200 or 202 is `cancelled` (not succeeded,
  not failed), and so is every execution below it; nothing we did not cancel is cancelled; and
  none started an attempt past the one its cancel answer showed, in the engine that answered
  or a later one (a kill after a durable cancel must not run it again);
- idempotency: every answer for a key (202 or 200) names the same id, and the function's list
  and the metadata filter show exactly one execution with that key;
- retries: every ctl_flaky succeeded; its attempts (GET .../attempts) are numbered 1..n with no
  gap, the last one succeeded and only that one; attempts up to N failed (on purpose, or crashed
  by a kill), later ones before the last were crashed by a kill; the result names the last;
  no attempt number ran twice in one engine;
- concurrency 1: no two ctl_one runs overlapped in one engine process (a run cut by a kill has
  a start without an end: the kill is its end, and that engine is not seen again);
- innocent failed: no execution failed at all (none of this work fails for good).
Prints: kills, acknowledged, lost, cancels acknowledged (and how many a kill cut between the 202
and the attempt's return, and how many the next engine cancelled instead of running), executions
run after a cancel, keys, retried (crashed attempts), ctl_one runs and overlaps, innocent failed.
"""

import collections
import heapq
import http.client
import os
import random
import signal
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

KILLS = int(os.environ.get("TARRY_CONTROLCRASH_KILLS", "12"))
WORKERS = 8
CLIENTS = 4
KEYS = 4  # per generation of keys (two kills)
PLUGINS = ["ctlcrash", "idem_children", "cancel"]
LONG_RUNNING = ("ctl_stubborn", "cancel_loop", "cancel_fanout", "cancel_await")  # never end unless cancelled






class Canceller:
    """Cancels the executions it is given once they are due, retrying what got no answer.

    answers: id -> list of (status, state and attempts in the answer, the engine up right after a
    200/202); requested: every id a cancel was sent for."""

    def __init__(self, h, engines):
        self.h = h
        self.engines = engines
        self.lock = threading.Lock()
        self.due = []  # heap of (monotonic due time, seq, id)
        self.seq = 0
        self.answers = collections.defaultdict(list)
        self.requested = set()
        self.errors = []
        self.draining = threading.Event()
        self.thread = threading.Thread(target=self._guarded, daemon=True)

    def add(self, eid, after_s):
        with self.lock:
            self.seq += 1
            heapq.heappush(self.due, (time.monotonic() + after_s, self.seq, eid))

    def pending(self):
        with self.lock:
            return len(self.due)

    def cancel_now(self, client, eid):
        """One cancel; returns True when it has an answer that settles it (200, 202, 409)."""
        with self.lock:
            self.requested.add(eid)
        try:
            status, doc, _ = client.call("POST", "/v1/executions/%s/cancel" % eid, {})
        except (OSError, http.client.HTTPException):
            client.close()
            return False
        state, attempts, after = None, None, None
        if isinstance(doc, dict):
            state = doc.get("state") or (doc.get("error") or {}).get("code")
            attempts = doc.get("attempts")
        if status in (200, 202):
            # The engine that answered, or (a kill since) a later one; none up (it was just killed):
            # the one the main thread has yet to add (a later one, maybe the one after that).
            after = self.h.engine_pid() or -len(self.engines)
        with self.lock:
            self.answers[eid].append((status, state, attempts, after))
        if status in (200, 202, 409):
            return True
        if status != 503:
            self.errors.append("cancel %s answered %s %r" % (eid, status, doc))
            return True
        return False

    def _run(self):
        c = harness.Client("127.0.0.1", self.h.port, timeout=30)
        while True:
            with self.lock:
                item = self.due[0] if self.due else None
                if item and item[0] <= time.monotonic():
                    heapq.heappop(self.due)
                else:
                    item = None
                empty = not self.due
            if item is None:
                if empty and self.draining.is_set():
                    break
                time.sleep(0.01)
                continue
            if not self.cancel_now(c, item[2]):
                self.add(item[2], 0.05)  # the engine is restarting: again in a moment
        c.close()

    def _guarded(self):
        try:
            self._run()
        except Exception as exc:
            self.errors.append(exc)


def read_runs(path):
    """The ctlcrash lines: [(what, id, attempt, pid)] in file order, and how many were torn."""
    runs, torn = [], 0
    if not os.path.exists(path):
        return runs, torn
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4 or not line.endswith("\n") or parts[0] not in ("start", "end"):
                torn += 1
                continue
            runs.append((parts[0], parts[1], int(parts[2]), int(parts[3])))
    return runs, torn


def check_attempts(e, atts, fail_n):
    """Why ctl_flaky execution e's attempts break the retry promises, or None."""
    nums = [a["number"] for a in atts]
    if e["state"] != "succeeded":
        return "state %s: %s" % (e["state"], e["error"])
    if nums != list(range(1, len(atts) + 1)):
        return "attempt numbers %r are not 1..%d" % (nums, len(atts))
    if e["attempts"] != len(atts):
        return "attempts %d but %d listed" % (e["attempts"], len(atts))
    if atts[-1]["outcome"] != "succeeded" or e["result"] != {"attempt": len(atts)}:
        return "the last attempt %r, result %r" % (atts[-1], e["result"])
    if any(a["outcome"] != "failed" for a in atts[:-1]):
        return "an attempt before the last did not fail"
    if len(atts) <= fail_n:
        return "succeeded in attempt %d though attempts 1..%d fail" % (len(atts), fail_n)
    if any(a["number"] > fail_n and not a["crashed"] for a in atts[:-1]):
        return "an attempt past %d failed without a crash" % fail_n
    if any(not a["crashed"] and "fails on purpose" not in (a["error"] or "") for a in atts[:-1]):
        return "a failed attempt says neither that it failed on purpose nor that it crashed"
    return None


def main():
    started = time.monotonic()
    with harness.Host(plugins=PLUGINS, workers=WORKERS, crashes_expected=True) as h:
        runs_file = os.path.join(h.dir, "runs.txt")
        lock = threading.Lock()
        acked = {}  # id -> function
        key_answers = collections.defaultdict(set)  # key -> ids answered (202 or 200)
        flaky_fail = {}  # ctl_flaky id -> N (attempts that fail on purpose)
        counter = [0]
        kills = [0]
        engines = [h.engine_pid()]  # every engine process, in order (only our kills end one)
        stop = threading.Event()
        failures = []
        canceller = Canceller(h, engines)

        def next_n():
            with lock:
                counter[0] += 1
                return counter[0]

        # (weight, kind): what a client triggers next.
        mix = [(4, "flaky"), (4, "keyed"), (3, "one"), (1, "stubborn"), (1, "echo"), (1, "fanout"), (1, "await")]
        kinds = [k for w, k in mix for _ in range(w)]

        def make(kind, rnd):
            """(function, body, cancel after s or None) for one trigger of `kind`."""
            n = next_n()
            if kind == "flaky":
                return "ctl_flaky", {"args": {"file": runs_file, "fail": rnd.randrange(4), "ms": rnd.randrange(150),
                                              "n": n}}, None
            if kind == "keyed":
                # A new set of keys every two kills: keys are made, and sent again, around kills.
                key = "g%d-k%d" % (kills[0] // 2, rnd.randrange(KEYS))
                return "idem_slow", {"args": {"ms": 100, "key": key}, "idempotency_key": key,
                                     "metadata": {"ikey": key}}, None
            if kind == "one":
                after = rnd.uniform(0, 0.8) if rnd.random() < 0.33 else None
                return "ctl_one", {"args": {"file": runs_file, "ms": 60, "n": n}}, after
            if kind == "stubborn":
                return "ctl_stubborn", {"args": {"file": runs_file, "ms": 200, "n": n}}, rnd.uniform(0, 0.8)
            if kind == "echo":
                after = rnd.uniform(0, 0.8) if rnd.random() < 0.5 else None
                return "cancel_echo", {"args": {"n": n}, "delay": "1s"}, after
            if kind == "fanout":
                return "cancel_fanout", {"args": {"n": 3, "child": "cancel_sleeper",
                                                  "child_args": {"duration": "1h"}}}, rnd.uniform(0, 0.8)
            return "cancel_await", {"args": {"child": "cancel_loop", "child_args": {"max_s": 300}}}, rnd.uniform(0, 0.8)

        def client(seed):
            rnd = random.Random(seed)
            c = harness.Client("127.0.0.1", h.port, timeout=30)
            while not stop.is_set():
                fn, body, cancel_after = make(rnd.choice(kinds), rnd)
                try:
                    status, doc, _ = c.call("POST", "/v1/functions/%s/executions" % fn, body)
                except (OSError, http.client.HTTPException):
                    status, doc = None, None
                    c.close()
                ok = status == 202 or (status == 200 and "idempotency_key" in body)
                if ok and isinstance(doc, dict) and "id" in doc:
                    eid = doc["id"]
                    with lock:
                        acked[eid] = fn
                        if fn == "ctl_flaky":
                            flaky_fail[eid] = body["args"]["fail"]
                        if "idempotency_key" in body:
                            key_answers[body["idempotency_key"]].add(eid)
                    if cancel_after is not None:
                        canceller.add(eid, cancel_after)
                    time.sleep(rnd.uniform(0.05, 0.1))  # a steady load the workers keep up with
                    continue
                if status is not None and status != 503:
                    raise RuntimeError("trigger %s %r answered %s %r" % (fn, body, status, doc))
                time.sleep(0.02)  # the engine is restarting: do not spin
            c.close()

        def guarded(seed):
            try:
                client(seed)
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=guarded, args=(random.randrange(1 << 30),), daemon=True)
                   for _ in range(CLIENTS)]
        canceller.thread.start()
        for t in threads:
            t.start()
        while kills[0] < KILLS:
            time.sleep(random.uniform(0.2, 0.8))
            pid = h.engine_pid()
            if not pid:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            kills[0] += 1
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (h.engine_pid() not in (None, pid) and h.healthy()):
                time.sleep(0.02)
            engines.append(h.engine_pid())
        stop.set()
        for t in threads:
            t.join(60)
        canceller.draining.set()
        canceller.thread.join(120)
        check(not failures, "clients saw only 202s (200s for a key), 503s or connection errors", failures)
        check(not canceller.thread.is_alive() and not canceller.errors,
              "every cancel was answered 200, 202, 409 or 503 (then sent again)", canceller.errors[:5])
        check(h.proc.poll() is None, "the supervisor kept running through %d kills" % kills[0])

        # Leftovers: long-running executions whose trigger answer the kill cut (never acknowledged,
        # so the canceller never had them). Only top-level ones: a child must go with its parent.
        h.client.close()
        leftovers = set()
        items, _ = h.list_all("function=%s" % ",".join(LONG_RUNNING), limit=1000)
        for e in items:
            if e["state"] not in harness.FINAL_STATES and e["parent_id"] is None and e["id"] not in canceller.requested:
                leftovers.add(e["id"])
                while not canceller.cancel_now(h.client, e["id"]):
                    time.sleep(0.05)
        check(not (leftovers & set(acked)), "every acknowledged long-running execution was cancelled in the run",
              sorted(leftovers & set(acked))[:10])

        everything, unfinished = h.all_when_final(180)
        check(h.engine_pid() == engines[-1], "no engine died but those the test killed")
        by_id = {e["id"]: e for e in everything}
        kids = collections.defaultdict(list)
        for e in everything:
            if e.get("parent_id"):
                kids[e["parent_id"]].append(e["id"])
        runs, torn = read_runs(runs_file)
        order = {pid: i for i, pid in enumerate(engines)}

        lost = [eid for eid in acked if eid not in by_id]

        # ---- cancel ---------------------------------------------------------------------------------
        durable = {}  # id -> (attempts shown, engine index) of its first 200/202 answer
        for eid, answers in canceller.answers.items():
            for status, _, attempts, after in answers:
                if status in (200, 202) and eid not in durable:
                    durable[eid] = (attempts, -after if after < 0 else order.get(after))
        below = set()
        frontier = list(durable)
        while frontier:
            for k in kids[frontier.pop()]:
                if k not in below:
                    below.add(k)
                    frontier.append(k)
        not_cancelled = [(eid, by_id[eid]["function"], by_id[eid]["state"], canceller.answers[eid])
                         for eid in sorted(durable) if eid in by_id and by_id[eid]["state"] != "cancelled"]
        kids_not_cancelled = [(eid, by_id[eid]["function"], by_id[eid]["state"], by_id[eid]["parent_id"])
                              for eid in sorted(below) if by_id[eid]["state"] != "cancelled"]
        # Below any execution a cancel was sent for and that ended cancelled: a cancel whose answer a
        # kill cut may have been committed (its resend then gets 409), so it is not in `durable`.
        asked_below = set()
        frontier = [eid for eid in canceller.requested if by_id.get(eid, {}).get("state") == "cancelled"]
        while frontier:
            for k in kids[frontier.pop()]:
                if k not in asked_below:
                    asked_below.add(k)
                    frontier.append(k)
        stray_cancelled = [(e["id"], e["function"], e["error"]) for e in everything
                           if e["state"] == "cancelled" and e["id"] not in canceller.requested
                           and e["id"] not in asked_below]
        # Ran after its cancel was durable: an attempt past the one the answer showed, started by the
        # engine that answered or a later one (an earlier engine may have started it before its
        # running state was committed: the answer does not count that one).
        ran_after_cancel = []
        unknown_engine = []
        for what, eid, attempt, pid in runs:
            if what != "start" or eid not in durable:
                continue
            attempts, after = durable[eid]
            if after is None or pid not in order:
                unknown_engine.append((eid, attempt, pid, durable[eid], engines))
                continue
            if attempt > attempts and order[pid] >= after:
                ran_after_cancel.append((eid, by_id.get(eid, {}).get("function"), "attempt %d in engine #%d" % (
                    attempt, order[pid]), "cancel answered with attempts %d in engine #%d" % (attempts, after)))

        # How often a kill fell between a 202 and the attempt's return (the case the next start must
        # cancel instead of running again): said, not asserted (it is up to the kills' timing).
        ended = {(eid, attempt) for what, eid, attempt, pid in runs if what == "end"}
        cut_after_202 = sum(1 for eid, answers in canceller.answers.items()
                            if any(s == 202 for s, _, _, _ in answers) and by_id.get(eid, {}).get("function")
                            == "ctl_stubborn" and (eid, durable[eid][0]) not in ended)

        restart_cancelled = sum(1 for e in everything if "the host stopped before the attempt returned" in (e["error"] or ""))

        # ---- idempotency ----------------------------------------------------------------------------
        two_ids = {k: sorted(ids) for k, ids in key_answers.items() if len(ids) != 1}
        keyed, _ = h.list_all("function=idem_slow", limit=1000)
        listed = collections.Counter(e["idempotency_key"] for e in keyed)
        # A key only ever sent by triggers the kill cut may have made its one execution, unanswered.
        not_one_listed = {k: listed[k] for k in set(key_answers) | set(listed)
                          if listed[k] != 1 and (k in key_answers or listed[k] > 1)}
        by_meta_wrong = {}
        for k, ids in sorted(key_answers.items()):
            found, _ = h.list_all("metadata=%s" % urllib.parse.quote("ikey=" + k, safe=""), limit=1000)
            if [e["id"] for e in found] != sorted(ids):
                by_meta_wrong[k] = ([e["id"] for e in found], sorted(ids))
        generations = len({k.split("-")[0] for k in key_answers})

        # ---- retries --------------------------------------------------------------------------------
        bad_retries = []
        retried = crashed_attempts = 0
        for e in everything:
            if e["function"] != "ctl_flaky":
                continue
            status, doc, _ = h.client.get("/v1/executions/%s/attempts" % e["id"])
            if status != 200:
                bad_retries.append((e["id"], "attempts answered %s %r" % (status, doc)))
                continue
            atts = doc["data"]
            retried += len(atts) > 1
            crashed_attempts += sum(1 for a in atts if a["crashed"])
            why = check_attempts(e, atts, e["args"]["fail"])
            if why:
                bad_retries.append((e["id"], e["args"]["fail"], why, atts))
        started_twice = [k for k, n in collections.Counter(
            (eid, attempt, pid) for what, eid, attempt, pid in runs if what == "start").items() if n > 1]

        # ---- concurrency 1 --------------------------------------------------------------------------
        one_ids = {e["id"] for e in everything if e["function"] == "ctl_one"}
        open_runs = collections.defaultdict(set)  # engine pid -> ctl_one runs started, not ended
        overlaps, strays = [], []
        one_runs = 0
        for what, eid, attempt, pid in runs:
            if eid not in one_ids:
                continue
            if what == "start":
                one_runs += 1
                if open_runs[pid]:
                    overlaps.append((eid, attempt, pid, sorted(open_runs[pid])))
                open_runs[pid].add((eid, attempt))
            elif (eid, attempt) in open_runs[pid]:
                open_runs[pid].discard((eid, attempt))
            else:
                strays.append((what, eid, attempt, pid))

        innocent_failed = [(e["id"], e["function"], e["error"]) for e in everything if e["state"] == "failed"]

        print("controlcrash: kills %d, acknowledged %d, lost %d, cancels acknowledged %d (%d below them, %d "
              "leftovers; %d answered 202 then cut by a kill, %d cancelled at the next start), not cancelled %d, ran after a cancel %d, keys %d in %d generations (ids per key max %d), "
              "retried %d (%d crashed attempts, bad %d), ctl_one runs %d (overlaps %d), innocent failed %d"
              % (kills[0], len(acked), len(lost), len(durable), len(below), len(leftovers), cut_after_202, restart_cancelled,
                 len(not_cancelled) + len(kids_not_cancelled), len(ran_after_cancel), len(key_answers), generations,
                 max((len(v) for v in key_answers.values()), default=0), retried, crashed_attempts,
                 len(bad_retries), one_runs, len(overlaps), len(innocent_failed)), flush=True)
        check_eq(kills[0], KILLS, "kill -9s of the engine under load")
        check(not unknown_engine, "every run and cancel answer is from an engine the test saw", unknown_engine[:3])
        check(not ran_after_cancel, "no attempt started after its cancel was durable", ran_after_cancel[:10])
        check(not unfinished, "every execution is final after the run",
              [(e["id"], e["function"], e["state"], e["parent_id"]) for e in unfinished[:10]])
        check(len(acked) > 10 * KILLS / 4, "triggers were acknowledged throughout (%d)" % len(acked))
        check(not lost, "lost: every acknowledged execution exists", lost[:10])
        check(len(durable) >= KILLS, "cancels were acknowledged throughout (%d)" % len(durable))
        check(not not_cancelled, "every execution whose cancel was answered 200/202 is cancelled", not_cancelled[:10])
        check(not kids_not_cancelled, "every execution below a cancelled one is cancelled (%d)" % len(below),
              kids_not_cancelled[:10])
        check(not stray_cancelled, "nothing was cancelled that was not asked to be (or below one that was)",
              stray_cancelled[:10])
        check_eq(torn, 0, "ctlcrash lines are whole")
        check(generations >= KILLS // 2, "keys of every generation were answered (%d generations)" % generations)
        check(not two_ids, "one execution per key: every answer for a key names the same id", two_ids)
        check(not not_one_listed, "listing idem_slow shows exactly one execution per key", not_one_listed)
        check(not by_meta_wrong, "the metadata filter finds that one execution per key", by_meta_wrong)
        check(not bad_retries, "every retried execution succeeded, its attempts numbered 1..n, the last succeeded",
              bad_retries[:5])
        check(retried > 0, "executions were retried (%d)" % retried)
        check(not started_twice, "no attempt started twice in one engine", started_twice[:10])
        check(not strays, "every ctl_one end follows its start in the same engine", strays[:5])
        check(one_runs > 0, "ctl_one ran (%d runs)" % one_runs)
        check(not overlaps, "concurrency 1: no two ctl_one runs overlapped in one engine process", overlaps[:5])
        check(not innocent_failed, "innocent failed: no execution failed", innocent_failed[:10])
        print("summary: %d kills in %.0fs; %d acknowledged, %d executions stored; %d cancels acknowledged, all "
              "cancelled with the %d executions below them, none run again; %d keys, one execution each; %d "
              "retried executions succeeded with consecutive attempts (%d crashed); %d ctl_one runs, none "
              "overlapping; lost 0, innocent failed 0"
              % (kills[0], time.monotonic() - started, len(acked), len(everything), len(durable), len(below),
                 len(key_answers), retried, crashed_attempts, one_runs))


harness.run(main)
