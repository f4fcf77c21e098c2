"""Retention: final executions (with journal, attempts, logs, children) are deleted after the host's
--retention (TARRY_RETENTION) or their function's `retention` option, through the real binary and
tests/plugins/retain.c.

- a short retention (3s): parents, their children and retried executions become 404, with their
  logs; lists by function, state and metadata no longer show them and the stats counts drop;
  nothing of them is left in any database of the store (read with mdb_dump);
- an unfinished (waiting) execution is never deleted, nor one of a function with retention "0";
  a function's "7d" outlives the host's 3s, and its "2s" goes before the host's 30d;
- the list answer says what was deleted ("retention": {"default", "purged_before"}), `tarry ls`
  prints the note, GET /v1/functions shows each function's retention, /metrics counts deletions;
- kill -9 in the middle of deleting a few thousand: the store is consistent (every row of every
  per-execution database belongs to a record that exists, and every index row too), and after the
  restart everything expired is deleted;
- bounded size: executions in two waves, each deleted after the retention; the store's used pages
  (mdb_stat -e) after the second wave stay within the first wave's (reported; the 100,000-execution
  run is the bench workload `retention` in scripts/bench).
"""

import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, time_ms

PER_ID_DBS = ("journal", "attempts", "logs", "reruns", "callers")
INDEX_DBS = {"by_state": 1, "by_fn": None, "by_fn_state": None, "by_meta": None, "pins": 16, "timers": 8,
             "retention": 8}


def dump(data_dir, db):
    """{key_hex: value_hex} of one named database, read with mdb_dump (the host may be running)."""
    out = subprocess.run(["mdb_dump", "-s", db, data_dir], capture_output=True, text=True, timeout=120)
    check_eq(out.returncode, 0, "mdb_dump -s %s: %s" % (db, out.stderr))
    lines = out.stdout.split("\n")
    rows, i = {}, lines.index("HEADER=END") + 1
    while i < len(lines) and lines[i] != "DATA=END":
        rows[lines[i].strip()] = lines[i + 1].strip()
        i += 2
    return rows


def store_ids(data_dir):
    return set(dump(data_dir, "exec").keys())


def check_consistent(data_dir, what):
    """Every row of every per-execution and index database belongs to a record in `exec`."""
    ids = store_ids(data_dir)
    for db in PER_ID_DBS:
        for k in dump(data_dir, db):
            check(k[:32] in ids or db in ("reruns", "callers") and k[32:64] in ids,
                  "%s: %s row %s belongs to an execution that exists" % (what, db, k[:32]))
    for db, _ in INDEX_DBS.items():
        for k in dump(data_dir, db):
            if db == "retention" and len(k) != 48:
                continue  # its meta row
            check(k[-32:] in ids, "%s: %s row %s names an execution that exists" % (what, db, k))
    return ids


def used_pages(data_dir):
    out = subprocess.run(["mdb_stat", "-e", data_dir], capture_output=True, text=True, timeout=60)
    check_eq(out.returncode, 0, "mdb_stat -e: %s" % out.stderr)
    used = int(re.search(r"Number of pages used: (\d+)", out.stdout).group(1))
    free = subprocess.run(["mdb_stat", "-f", data_dir], capture_output=True, text=True, timeout=60)
    m = re.search(r"Free pages: (\d+)", free.stdout)
    return used, int(m.group(1)) if m else 0


def deleted_total(h):
    got = h.metrics().get("tarry_retention_deleted_total")
    check(got is not None, "/metrics has tarry_retention_deleted_total")
    return int(got)


def wait_deleted(h, want, timeout=90.0):
    deadline = time.monotonic() + timeout
    while True:
        got = deleted_total(h)
        if got >= want:
            return got
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %d executions deleted within %.0fs (got %d)" % (want, timeout, got))
        time.sleep(0.2)


def gone(h, exec_id):
    status, _, _ = h.get("/v1/executions/" + exec_id)
    return status == 404


def counts(h, fn):
    status, doc, _ = h.get("/v1/executions/stats?function=" + fn)
    check_eq(status, 200, "stats of " + fn)
    return doc["counts"]


def main():
    env = {"TARRY_RETENTION": "3s"}
    with harness.Host(plugins=["retain"], workers=4, lmdb_only=True, extra_env=env) as h:
        status, doc, _ = h.get("/v1/functions")
        check_eq(status, 200, "GET /v1/functions")
        ret = {f["name"]: f["options"]["retention"] for f in doc["data"]}
        check_eq((ret["ret_parent"], ret["ret_keep"], ret["ret_week"], ret["ret_quick"]), ("3s", "0", "7d", "2s"),
                 "each function's retention: the host's, or its own")
        out = h.cli("functions")
        check(out.returncode == 0 and "RETENTION" in out.stdout and "7d" in out.stdout,
              "`tarry functions` shows the retention", out.stdout)

        # ---- what expires, and what must stay -------------------------------------------------
        parents = [h.trigger_ok("ret_parent", {"n": i}, metadata={"team": "ret"}) for i in range(3)]
        flaky = [h.trigger_ok("ret_flaky", {"n": i}) for i in range(2)]
        keep = h.trigger_ok("ret_keep", {})
        week = h.trigger_ok("ret_week", {})
        nap = h.trigger_ok("ret_nap", "1h")
        for x in parents + flaky + [keep, week]:
            h.wait_final(x)
        h.wait_state(nap, ["waiting"])
        children = [c["id"] for c in h.list_all("function=ret_child")[0]]
        check_eq(len(children), 3, "each parent made its child")
        doomed = parents + children + flaky
        for x in flaky:
            check_eq(h.execution(x)["attempts"], 2, "a retried one has two attempts")
        check(len(h.logs(parents[0])) >= 3, "a parent has its log lines before", h.logs(parents[0]))
        check_eq(len(h.list_all("metadata=team=ret")[0]), 3, "listed by metadata before")
        before = counts(h, "ret_parent")
        check_eq(before.get("succeeded"), 3, "stats count the parents before")
        status, doc, _ = h.get("/v1/executions?limit=1")
        check_eq(doc["retention"], {"default": "3s", "purged_before": None}, "nothing deleted yet")

        wait_deleted(h, len(doomed))
        for x in doomed:
            check(gone(h, x), "an expired execution is 404: " + x)
            for part in ("logs", "attempts"):
                status, _, _ = h.get("/v1/executions/%s/%s" % (x, part))
                check_eq(status, 404, "its %s are gone too" % part)
        for x in (keep, week, nap):
            check(not gone(h, x), "kept: " + x)
        check_eq(h.execution(nap)["state"], "waiting", "an unfinished execution is never deleted")
        check_eq(h.list_all("function=ret_parent")[0], [], "no longer listed by function")
        check_eq(h.list_all("metadata=team=ret")[0], [], "no longer listed by metadata")
        listed = {x["id"] for x in h.list_all("state=succeeded")[0]}
        check(not listed & set(doomed), "no longer listed by state")
        check_eq(listed, {keep, week}, "the kept ones are listed")
        check_eq(counts(h, "ret_parent").get("succeeded", 0), 0, "stats counts drop")
        status, doc, _ = h.get("/v1/executions?limit=1")
        purged = doc["retention"]["purged_before"]
        check(purged is not None and time_ms(purged) <= time_ms(h.execution(week)["finished_at"]),
              "purged_before is the latest finished_at deleted", doc["retention"])
        out = h.cli("ls")
        check(out.returncode == 0 and "executions that finished before %s were deleted (retention 3s)" % purged
              in out.stdout, "`tarry ls` says what was deleted", out.stdout)
        h.stop()
        ids = check_consistent(h.data_dir, "after deleting")
        check_eq(len(ids), 3, "only the kept executions remain in `exec`")
        # The per-execution rows of the kept ones are there (the check is not vacuous).
        check(dump(h.data_dir, "retention"), "the retention index has rows")

        # ---- a function's short retention wins over the host's default ------------------------
        h.extra_env = {}
        h.start()
        quick = h.trigger_ok("ret_quick", {})
        plain = h.trigger_ok("ret_child", {})
        h.wait_final(quick)
        h.wait_final(plain)
        deadline = time.monotonic() + 60
        while not gone(h, quick):
            check(time.monotonic() < deadline, "ret_quick (2s) deleted under the host's 30d")
            time.sleep(0.2)
        check(not gone(h, plain), "a function without its own keeps the host's 30d")
        status, doc, _ = h.get("/v1/executions?limit=1")
        check_eq(doc["retention"]["default"], "30d", "the host's default retention")

    # ---- kill -9 while deleting: whole or gone, never half ---------------------------------------
    n = int(os.environ.get("TARRY_TEST_RETENTION_KILL_N", "3000"))
    with harness.Host(plugins=["retain"], workers=4, lmdb_only=True, extra_env={"TARRY_RETENTION": "2s"}) as h:
        ids = [h.trigger_ok("ret_parent", {"i": i}) for i in range(n // 2)]
        h.all_when_final(120)
        total = n // 2 * 2  # each parent has a child
        deadline = time.monotonic() + 120
        while deleted_total(h) < 50:
            check(time.monotonic() < deadline, "deleting starts")
            time.sleep(0.05)
        h.kill9()
        left = check_consistent(h.data_dir, "after kill -9 in the middle of deleting")
        check(0 < len(left) < total, "killed in the middle (%d of %d left)" % (len(left), total))
        h.start()
        deadline = time.monotonic() + 120
        while not all(gone(h, x) for x in ids[-5:]) or h.list_all("function=ret_child", limit=10)[0]:
            check(time.monotonic() < deadline, "everything expired is deleted after the restart")
            time.sleep(0.5)
        h.stop()
        check_eq(check_consistent(h.data_dir, "after the restart"), set(), "nothing is left")

    # ---- bounded size: two waves, each deleted -------------------------------------------------
    wave = int(os.environ.get("TARRY_TEST_RETENTION_WAVE", "2500"))
    with harness.Host(plugins=["retain"], workers=4, lmdb_only=True, extra_env={"TARRY_RETENTION": "1s"}) as h:
        sizes = []
        for w in range(3):
            for i in range(wave):
                h.trigger_ok("ret_child", {"w": w, "i": i})
            h.all_when_final(120)
            wait_deleted(h, wave * (w + 1), timeout=180)
            sizes.append(used_pages(h.data_dir))
        print("retention: used/free pages after each wave of %d: %s" % (wave, sizes))
        # Live pages (used minus free): what the store holds. The file itself may keep a few
        # more free pages (LMDB frees a page only once no reader's snapshot holds it).
        live = [u - f for u, f in sizes]
        check(live[2] <= live[0] * 1.1 + 16, "the store's live pages stay flat after the first wave (%s)" % sizes)
        check(sizes[2][0] <= sizes[0][0] * 2 + 256, "the file stays within twice the first window's (%s)" % sizes)

if __name__ == "__main__":
    harness.run(main)
