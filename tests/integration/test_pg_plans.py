"""A host's writes reach their rows by key with a plan made once, from the first batch on.

PostgreSQL plans a prepared statement for good after its fifth run, from what it knows of the
tables then; on a new database nothing has analyzed them yet, so a connection's first batches saw
tables of a few rows, and the plan they kept (read the table whole, join by hash) stayed while the
tables grew: every batch read every execution. And where a batch's values made a plan cheaper
than that one (a batch of one execution), it planned the statement again at every run, 1 to 2.5
ms each (store_pg.c: pgs_steer_sql says why and what a batch does about both).

One host on a fresh database, on a PostgreSQL of this test's own that counts plans
(pg_stat_statements with track_planning); 100 `noop` executions triggered and awaited one after
another (batches of one), then 600 `noop` executions and 150 `wf2` workflows (each starts three
children and keeps a journal) over four connections at once, all run to the end; the host stops,
its sessions' counts reach the statistics, and:
  - every execution succeeded;
  - the rows read by whole-table scans of `executions`, `journal` and `attempts` are at most a few
    whole reads of each (at start, by a sweep); one read per batch is hundreds (the build before
    this test: 709 scans of `executions` read 261,949 rows);
  - the executions' write (the statement that starts "WITH v AS") and the attempts' write were
    planned at most once per ten runs (the build before: at every run of the sequential part);
  - the counts are printed.
"""

import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
import pgcluster
from harness import check, check_eq

SEQUENTIAL = 100
NOOPS = 600
WORKFLOWS = 150
CLIENTS = 4
TABLES = ("executions", "journal", "attempts")


def trigger_share(host, jobs, ids, errors):
    client = host.new_client()
    try:
        for function in jobs:
            status, doc, _ = client.post("/v1/functions/%s/executions" % function, {})
            if status != 202:
                errors.append((function, status, doc))
                return
            ids.append(doc["id"])
    finally:
        client.close()


def main():
    pg = pgcluster.PgCluster(settings={"fsync": "off", "shared_preload_libraries": "pg_stat_statements",
                                       "pg_stat_statements.track_planning": "on"})
    name = pg.create_database("plans")
    pg.psql(name, "CREATE EXTENSION pg_stat_statements", user=pgcluster.ADMIN)
    jobs = ["noop"] * NOOPS + ["wf2"] * WORKFLOWS
    with harness.Host(plugins=["testfns", "wfbench"], store_url=pg.url(name)) as h:
        awaited = [h.trigger("noop", wait="30s") for _ in range(SEQUENTIAL)]
        check_eq([a for a in awaited if a[0] != 200 or a[1].get("state") != "succeeded"], [],
                 "each trigger-and-wait answered its execution succeeded")
        ids, errors = [], []
        threads = [threading.Thread(target=trigger_share, args=(h, jobs[i::CLIENTS], ids, errors))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check_eq(errors, [], "every trigger was acknowledged")
        states = [h.wait_final(x, timeout=120).get("state") for x in ids]
        check_eq(states.count("succeeded"), len(jobs), "every execution succeeded")
        h.wait_metric("tarry_executions_queued", 0, timeout=30)
    # A session's counts reach the statistics when it ends: wait until the host's have ended.
    deadline = time.monotonic() + 30
    while pg.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'" % name)[0][0] != "0":
        if time.monotonic() > deadline:
            check(False, "the host's sessions ended")
        time.sleep(0.1)
    rows = pg.psql(name, "SELECT relname, n_live_tup, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables "
                         "WHERE relname IN (%s) ORDER BY relname" % ", ".join("'%s'" % t for t in TABLES))
    total = int(pg.psql(name, "SELECT count(*) FROM executions")[0][0])
    check_eq(total, SEQUENTIAL + NOOPS + 4 * WORKFLOWS, "every execution and child is stored")
    for rel, live, scans, read, probes in rows:
        print("%s: %s rows; %s whole-table scans read %s rows; %s index scans" % (rel, live, scans, read, probes),
              flush=True)
        check(int(read) <= 4 * max(int(live), total), "%s was not read whole by each batch" % rel,
              "%s rows read by %s scans" % (read, scans))
    check_eq(sorted(r[0] for r in rows), sorted(TABLES), "each table's counts were read")
    plans = pg.psql(name, "SELECT left(query, 30), sum(calls), sum(plans) FROM pg_stat_statements "
                          "WHERE query LIKE 'WITH v AS (SELECT u.id%%' OR query LIKE 'INSERT INTO attempts %%' "
                          "GROUP BY 1 ORDER BY 1", user=pgcluster.ADMIN)
    check_eq(len(plans), 2, "both writes were counted")
    for text, calls, planned in plans:
        print("%r...: %s runs, planned %s times" % (text, calls, planned), flush=True)
        check(int(planned) * 10 <= int(calls), "%r... was not planned again at each run" % text,
              "%s runs, planned %s times" % (calls, planned))


harness.run(main)
