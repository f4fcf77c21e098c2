"""`tarry serve --store`: a host on a PostgreSQL store (a private cluster: pgcluster.py), and the
forms --store takes.

  - a host given a password-bearing URL in TARRY_STORE opens the database (migrating its
    schema), logs which store it opened (database, server, user; never the password), and
    GET /v1/cluster says postgres; its data folder holds the lock, tarry.addr and the plugin
    copies, and no LMDB file; an execution it ran is a row in the database;
  - a second host on the same database (another data folder) serves beside it: each reads what
    the other ran, GET /v1/cluster on either lists both (itself first), one idempotency key sent
    to both at once makes one execution, and both answers name it (the host whose commit lost the
    key in the database answers 200 with the other's), and once it stops the first lists it as left;
  - the host stopped and started again finds what it stored; after kill -9 a delayed
    execution it acknowledged still runs, once; with the database stopped, a restarted engine
    waits for it (started again by the supervisor) and serves once it is back;
  - the database stopped for 3 s under a load of queued and running executions: none is blocked
    (a pass that cannot read its journal runs again), and all succeed once it is back;
  - a --store flag wins over TARRY_STORE: the executions go to the flag's database;
  - --store lmdb:DIR is --data DIR; with a different --data it is a bad command line (exit 2)
    naming both; an unknown scheme is refused naming the scheme and not the rest; an
    unreachable database is exit 78 without the password.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
import pgcluster
from harness import check, check_eq

SECRET = "pw-Serve-s3cret"


def serve(*args, env=None, timeout=60):
    """Run `tarry serve ARGS` to its end (a refusal); the CompletedProcess."""
    return subprocess.run([harness.BIN, "serve"] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL, timeout=timeout)


def count_rows(pg, db, sql):
    return int(pg.psql(db, sql)[0][0])


def host_on_postgres(pg):
    url = pg.url(pg.create_database("one"), password=SECRET)
    with harness.Host(plugins=["testfns"], store_url=url, store_env=True) as h:
        log = h.log_text()
        check('opened the postgres store: database "one" on ' in log and 'as user "tarry"' in log,
              "the host says which store it opened: the database, its server and the user", h.log_tail())
        check("(store postgres, data %s" % h.data_dir in log, "the serving line names the store kind")
        check(SECRET not in log, "and never the password")
        status, doc, _ = h.client.get("/v1/cluster")
        check_eq((status, doc.get("store")), (200, "postgres"), "GET /v1/cluster: the store is postgres")
        check(count_rows(pg, "one", "SELECT count(*) FROM tarry_schema") >= 1, "the open migrated the schema")
        present = sorted(os.listdir(h.data_dir))
        check("tarry.lock" in present and "tarry.addr" in present and "plugins" in present,
              "the data folder holds the host's lock, tarry.addr and the plugin copies", present)
        check(not {"data.mdb", "lock.mdb", "tarry.store"} & set(present), "and no LMDB store", present)

        status, doc = h.trigger("echo", {"n": 1}, wait="30s")
        check_eq((status, doc.get("state")), (200, "succeeded"), "an execution runs on the PostgreSQL store")
        done = doc["id"]
        check_eq(count_rows(pg, "one", "SELECT count(*) FROM executions WHERE state = 'succeeded'"), 1,
                 "it is a row in the database")

        # A second host on the same database (its own data folder) serves beside the first: each
        # answers for what the other ran, and GET /v1/cluster on either lists both.
        with harness.Host(plugins=["testfns"], store_url=url, store_env=True) as h2:
            status, doc = h2.trigger("echo", {"n": 5}, wait="30s")
            check_eq((status, doc.get("state")), (200, "succeeded"), "a second host on the database runs an execution")
            check_eq(h.execution(doc["id"])["state"], "succeeded", "which the first host reads")
            check_eq(h2.execution(done)["state"], "succeeded", "and the second reads the first's")
            for this, other, name in ((h, h2, "first"), (h2, h, "second")):
                status, cl, _ = this.client.get("/v1/cluster")
                hosts = cl.get("hosts", [])
                selves = [x.get("self") for x in hosts]
                check_eq((status, len(hosts), selves), (200, 2, [True, False]),
                         "GET /v1/cluster on the %s host lists both, itself first" % name)
                pids = {x.get("pid") for x in hosts}
                check_eq(pids, {this.engine_pid(), other.engine_pid()}, "by their engines' pids")
                check(all(x.get("heartbeat_at") and x.get("lease_expires_at") for x in hosts),
                      "each with its heartbeat and lease", hosts)
            keys_race(pg, h, h2)
            check(SECRET not in h2.log_text(), "the second host never logs the password")
            check_eq(h2.stop(), 0, "the second host stops cleanly")
        status, cl, _ = h.client.get("/v1/cluster")
        left = [x for x in cl.get("hosts", []) if x.get("left_at")]
        check_eq([x.get("left_reason") for x in left], ["it stopped"], "then the first lists it as left: it stopped")
        executions = count_rows(pg, "one", "SELECT count(*) FROM executions")

        check_eq(h.stop(), 0, "a clean stop")
        h.start()
        check_eq(h.execution(done)["state"], "succeeded", "started again, the host finds what it stored")

        later = h.trigger_ok("echo", {"n": 2}, delay="2s")
        h.kill9()
        h.start()
        final = h.wait_final(later, timeout=60)
        check_eq(final["state"], "succeeded", "after kill -9 the acknowledged delayed execution runs")
        check_eq(count_rows(pg, "one", "SELECT count(*) FROM executions"), executions + 1, "each execution is one row")

        # The database away while the engine starts again (a server restarting): the supervisor
        # keeps starting it, and once the database is back the host serves what it stored.
        pg.stop()
        os.kill(h.engine_pid(), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while "the database cannot be reached; the engine starts again" not in h.log_text():
            check(time.monotonic() < deadline, "the engine says it waits for the database", h.log_tail())
            time.sleep(0.1)
        pg.start()
        h.client.close()
        deadline = time.monotonic() + 60
        while not h.healthy():
            check(time.monotonic() < deadline, "the host serves again within 60 s of the database", h.log_tail())
            time.sleep(0.1)
        status, doc = h.trigger("echo", {"n": 4}, wait="60s")
        check_eq((status, doc.get("state")), (200, "succeeded"), "with the database back, the host serves again")
        check_eq(h.execution(done)["state"], "succeeded", "and finds what it stored")


def keys_race(pg, h, h2, rounds=40):
    """Both hosts sent one idempotency key at once, rounds times: one execution per key, and
    both answers name it (the host whose commit lost the key answers 200 with the other's)."""
    clients = [harness.Client("127.0.0.1", h.port), harness.Client("127.0.0.1", h2.port)]
    path = "/v1/functions/echo/executions"
    answers = {202: 0, 200: 0}
    for n in range(rounds):
        key = "race-%d" % n
        gate, got = threading.Barrier(2), [None, None]

        def send(i):
            gate.wait()
            got[i] = clients[i].post(path, {"args": {"n": n}, "idempotency_key": key})

        threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(status for status, _, _ in got)
        check_eq(statuses, [200, 202], "key %s: one host accepts it, the other answers with that execution" % key)
        for status, _, _ in got:
            answers[status] += 1
        check_eq(len({doc["id"] for _, doc, _ in got}), 1, "both answers name one execution")
        check_eq(count_rows(pg, "one", "SELECT count(*) FROM executions WHERE idempotency_key = '%s'" % key), 1,
                 "and the database has one")
    lost = h.log_text().count("lost its idempotency key") + h2.log_text().count("lost its idempotency key")
    print("   %d keys sent to both hosts at once: %d accepted, %d answered with the first (%d of them after "
          "losing the key in the database)" % (rounds, answers[202], answers[200], lost))
    for c in clients:
        c.close()


def outage_under_load(pg):
    """The database stopped while a host has work queued and running: nothing is blocked or lost
    (a pass that cannot read its journal runs again once the database answers), and all of it
    succeeds once the database is back."""
    url = pg.url(pg.create_database("outage"))
    with harness.Host(plugins=["testfns"], store_url=url, workers=4) as h:
        ids = [h.trigger_ok("slow", {"ms": 50}) for _ in range(120)]
        pg.stop()
        time.sleep(3)
        pg.start()
        h.client.close()
        deadline = time.monotonic() + 60
        while count_rows(pg, "outage", "SELECT count(*) FROM executions WHERE state = 'succeeded'") < len(ids):
            states = pg.psql("outage", "SELECT state, count(*) FROM executions GROUP BY 1 ORDER BY 1")
            check(time.monotonic() < deadline, "every execution succeeds within 60 s of the database's return", states)
            check("blocked" not in [row[0] for row in states], "none is blocked by the outage", states)
            time.sleep(0.2)
        check(True, "all %d acknowledged executions succeeded, none blocked" % len(ids))
        waits = h.log_text().count("its pass runs again once the store answers")
        print("   passes that found the database away and ran again: %d logged" % waits)


def flag_over_env(pg):
    flag_db, env_db = pg.create_database("by_flag"), pg.create_database("by_env")
    with harness.Host(plugins=["testfns"], store_url=pg.url(flag_db),
                      extra_env={"TARRY_STORE": pg.url(env_db)}) as h:
        status, doc = h.trigger("echo", {"n": 3}, wait="30s")
        check_eq((status, doc.get("state")), (200, "succeeded"), "a host given --store and TARRY_STORE runs")
        check_eq(count_rows(pg, flag_db, "SELECT count(*) FROM executions"), 1,
                 "its execution is in the flag's database")
        check_eq(count_rows(pg, env_db, "SELECT count(*) FROM pg_tables WHERE tablename = 'executions'"), 0,
                 "the variable's database was never opened")


def forms():
    top = tempfile.mkdtemp(prefix="tarry-it-")
    try:
        a, b = os.path.join(top, "a"), os.path.join(top, "b")
        p = serve("--store", "lmdb:" + a, "--data", b, "--plugins", top)
        check_eq(p.returncode, 2, "--store lmdb:A with --data B is a bad command line")
        check(a in p.stderr and b in p.stderr, "naming both folders", p.stderr)

        p = serve("--store", "ftp://u:%s@h/d" % SECRET, "--plugins", top)
        check_eq(p.returncode, 2, "an unknown scheme is a bad command line")
        check('"ftp"' in p.stderr and SECRET not in p.stderr, "naming the scheme, not the rest", p.stderr)

        p = serve("--store", "postgres://u:%s@/nowhere?host=%s&connect_timeout=5" % (SECRET, top), "--data",
                  os.path.join(top, "pg"), "--plugins", top, "--listen", "127.0.0.1:0")
        check_eq(p.returncode, 78, "a database that cannot be reached: exit 78")
        check('database "nowhere"' in p.stderr and SECRET not in p.stderr,
              "naming the database, never the password", p.stderr)

        # --store lmdb:DIR is --data DIR: the host serves from DIR.
        log = open(os.path.join(top, "lmdb.log"), "w+")
        proc = subprocess.Popen([harness.BIN, "serve", "--no-supervisor", "--store", "lmdb:" + a, "--plugins", top,
                                 "--listen", "127.0.0.1:0"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                preexec_fn=harness._die_with_parent)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(os.path.join(a, harness.ADDR_FILE)) and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            check(os.path.exists(os.path.join(a, harness.ADDR_FILE)), "--store lmdb:DIR serves with DIR as --data")
            check(os.path.exists(os.path.join(a, "data.mdb")), "and its LMDB store in DIR")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            log.seek(0)
            text = log.read()
            log.close()
        check("opened the lmdb store: %s" % a in text, "the log says which store it opened", text)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main():
    forms()
    with pgcluster.PgCluster() as pg:
        host_on_postgres(pg)
        outage_under_load(pg)
        flag_over_env(pg)


if __name__ == "__main__":
    harness.run(main)
