"""Pinned plugin versions across hosts on one PostgreSQL: the version store lives in the database
too (plugin_versions: the .so bytes by hash), so a host replays an execution pinned to a version
its own folders never held.

Plugin "rl" (tests/plugins/rl_common.h; builds rl_v1/v2/v3.c answer {"version": N}).

1. Host A (its own data and plugins folders, rl v1) on a private cluster (pgcluster.py): at start
   v1's bytes are a row of plugin_versions (name, version, size, and the SHA-256 of the bytes
   the database holds is the file's). Two executions are pinned to v1: an rl_flow sleeping an
   hour and an rl_leaf delayed an hour. A stops, and its folders are deleted.
2. Host B on the same database, with other folders whose plugins folder holds only rl v2: at
   start it fetches v1 from the database into its own version store (the log says so; the copy
   is rl_v1's bytes), lists v1 as pinned beside v2 current, and keeps v2 in the database.
   Both executions, moved to now, finish with v1's code (result version 1, plugin hash v1); a
   new trigger runs v2.
3. A reload on B keeps a new version in the database before it serves: with a constraint that
   refuses rl's rows added to plugin_versions, installing v3 and reloading refuses v3 with the
   database's reason and v2 keeps serving; without it, the reload loads v3 and its row is there.
4. A version in no folder and not in the database (a row deleted, as in a database older than
   this): a host that lacks it says so at start (neither its version store nor the store has
   it), and the execution pinned to it is blocked when it wakes, not run with other code.
"""

import hashlib
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
import pgcluster
from harness import check, check_eq


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def wake_and_finish(h, eid, what):
    status, doc = h.reschedule(eid, {})
    check(status == 200, "PATCH .../schedule {} moves %s to now" % what, (status, doc))
    return h.wait_final(eid, timeout=60)


def pinned_on_a(pg, db, url, rl):
    """Host A: v1 kept in the database; two executions pinned to it. Returns their ids."""
    a = harness.Host(plugins=[("rl_v1", "rl.so")], store_url=url)
    try:
        got = pg.psql(db, "SELECT name, version, size, encode(sha256(so), 'hex') FROM plugin_versions "
                          "WHERE hash = '%s'" % rl[1])
        v1 = file_bytes(harness.plugin_path("rl_v1"))
        check_eq(got, [["rl", "1.0.0", str(len(v1)), hashlib.sha256(v1).hexdigest()]],
                 "host A keeps v1's bytes in plugin_versions at start")
        flow = a.trigger_ok("rl_flow", {"sleep": "1h"})
        leaf = a.trigger_ok("rl_leaf", {"ms": 1}, delay="1h")
        a.wait_state(flow, "waiting")
        check_eq(a.execution(flow)["plugin"]["hash"], rl[1], "the sleeping workflow is pinned to v1")
        check_eq(a.execution(leaf)["plugin"]["hash"], rl[1], "the delayed leaf is pinned to v1")
        check_eq(a.stop(), 0, "host A stops cleanly")
    finally:
        a.cleanup()  # its data folder (version store included) and plugins folder are gone
    check(not os.path.exists(a.dir), "host A's folders are deleted")
    return flow, leaf


def replayed_on_b(pg, db, url, rl, flow, leaf):
    with harness.Host(plugins=[("rl_v2", "rl.so")], store_url=url) as b:
        stored = os.path.join(b.data_dir, "plugins", rl[1] + ".so")
        log = b.log_text()
        check("plugin version %s fetched into the version store" % rl[1] in log,
              "host B says it fetched v1 from the database", b.log_tail())
        check(os.path.isfile(stored) and file_bytes(stored) == file_bytes(harness.plugin_path("rl_v1")),
              "host B's version store holds v1's bytes, written from the database", stored)
        listed = {p.get("hash"): p.get("state") for p in b.plugins()}
        check_eq((listed.get(rl[1]), listed.get(rl[2])), ("pinned", "loaded"),
                 "GET /v1/plugins on B: v1 pinned, v2 current")
        check_eq(pg.psql(db, "SELECT hash FROM plugin_versions ORDER BY added_at"), [[rl[1]], [rl[2]]],
                 "host B kept v2 in the database too")

        for eid, what in ((flow, "the sleeping rl_flow"), (leaf, "the delayed rl_leaf")):
            rec = wake_and_finish(b, eid, what)
            check_eq((rec["state"], rec["result"].get("version"), rec["plugin"]["hash"]), ("succeeded", 1, rl[1]),
                     "%s started on host A finishes on host B with v1's code" % what)
            print("   %s: %s" % (what, rec["result"]))
        status, doc = b.trigger("rl_version", wait="30s")
        check(status == 200 and doc.get("result") == {"version": 2}, "a new trigger on B runs v2", (status, doc))

        # 3. A reload keeps the new version in the database before it serves.
        pg.psql(db, "ALTER TABLE plugin_versions ADD CONSTRAINT test_no_more_rl CHECK (name <> 'rl') NOT VALID")
        b.install("rl_v3", "rl.so")
        status, doc = b.reload()
        rl_entry = [e for e in doc.get("data", []) if str(e.get("file", "")).endswith("/rl.so")]
        check(status == 200 and len(rl_entry) == 1 and rl_entry[0].get("state") == "error",
              "v3 that the database refuses to keep is refused by the reload", (status, doc))
        err = rl_entry[0].get("error") or ""
        check("cannot be kept in the postgres store" in err and "test_no_more_rl" in err,
              "naming the store and the database's reason", err)
        check_eq(b.current_hash("rl"), rl[2], "v2 keeps serving")
        check_eq(pg.psql(db, "SELECT count(*) FROM plugin_versions WHERE hash = '%s'" % rl[3]), [["0"]],
                 "v3 is not in the database")
        pg.psql(db, "ALTER TABLE plugin_versions DROP CONSTRAINT test_no_more_rl")
        status, doc = b.reload()
        check(status == 200 and doc.get("errors") == 0 and b.current_hash("rl") == rl[3],
              "with the database taking it, the reload loads v3", (status, doc))
        check_eq(pg.psql(db, "SELECT name, version FROM plugin_versions WHERE hash = '%s'" % rl[3]),
                 [["rl", "3.0.0"]], "and v3 is in the database")


def missing_everywhere(pg, rl):
    db = pg.create_database("older")
    url = pg.url(db)
    a = harness.Host(plugins=[("rl_v1", "rl.so")], store_url=url)
    try:
        flow = a.trigger_ok("rl_flow", {"sleep": "1h"})
        a.wait_state(flow, "waiting")
        check_eq(a.stop(), 0, "host A stops cleanly")
    finally:
        a.cleanup()
    pg.psql(db, "DELETE FROM plugin_versions WHERE hash = '%s'" % rl[1])
    with harness.Host(plugins=[("rl_v2", "rl.so")], store_url=url) as b:
        check("plugin version %s is missing from the version store %s/plugins; the postgres store has no "
              "copy of it either" % (rl[1], b.data_dir) in b.log_text(),
              "a version in neither place: the log says where it looked", b.log_tail())
        status, doc = b.reschedule(flow, {})
        check(status == 200, "the sleeper is moved to now", (status, doc))
        doc = b.wait_state(flow, ("blocked", "failed", "succeeded"), timeout=60)
        check_eq(doc["state"], "blocked", "its execution is blocked, not run with other code")
        check("not in the version store" in (doc.get("error") or ""), "saying its version is missing", doc)
        print("   blocked: %s" % doc.get("error"))


def main():
    rl = {v: harness.plugin_hash("rl_v%d" % v) for v in (1, 2, 3)}
    with pgcluster.PgCluster() as pg:
        db = pg.create_database("shared")
        url = pg.url(db)
        flow, leaf = pinned_on_a(pg, db, url, rl)
        replayed_on_b(pg, db, url, rl, flow, leaf)
        missing_everywhere(pg, rl)


if __name__ == "__main__":
    harness.run(main)
