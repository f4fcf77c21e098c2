"""`tarry migrate` against a real PostgreSQL (a private cluster: pgcluster.py), and the schema it makes.

  - 4 migrates started at once on a fresh database: all exit 0, exactly one applies each
    version and the others find nothing to apply (the advisory lock), tarry_schema holds each
    version once with who applied it, and every table and index of the store exists;
  - a second run (with TARRY_STORE instead of --store) says nothing to apply;
  - a database whose tarry_schema claims a newer version is refused, naming both versions;
  - a stopped server, a missing database, an unknown role, URLs libpq cannot read and URLs
    that are no PostgreSQL URL fail clearly and non-zero, and a password given in the URL
    (userinfo or ?password=) never appears in what tarry prints;
  - the schema takes what it must and refuses what it must: an execution and its journal,
    a second journal entry at the same (exec, seq), a malformed id, a lease epoch going back,
    a plugin version whose hash is not its bytes'; due_at follows store.c's timer_at(); the due
    query is served by the due index (EXPLAIN, on 20,000 executions); a deleted execution takes
    its rows with it.
"""

import os
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
import pgcluster
from harness import check, check_eq

TABLES = {
    "tarry_schema", "hosts", "plugin_versions", "executions", "execution_metadata", "journal", "attempts",
    "logs", "idempotency_keys", "callers", "function_crash_histories", "function_crashes", "cron_marks",
    "notifications", "retention",
}
INDEXES = {
    "executions_state", "executions_function", "executions_function_state", "executions_due",
    "executions_pins", "executions_expiry", "executions_reruns", "executions_owner", "executions_free",
    "execution_metadata_pair", "idempotency_keys_expiry", "idempotency_keys_exec", "notifications_outbox",
    "hosts_live",
}
SECRET = "pw-Very-s3cret"


runs_with_secret = [0]


def migrate(*args, env_store=None, secrets=(SECRET,)):
    """Run `tarry migrate ARGS`; fail the test if any secret shows in its output."""
    env = dict(os.environ)
    env.pop("TARRY_STORE", None)
    if env_store is not None:
        env["TARRY_STORE"] = env_store
    p = subprocess.run([harness.BIN, "migrate"] + list(args), capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=120)
    # Built with the tests' sanitizers, as the host is: a report fails the test (harness.Host.cli does alike).
    if harness.Host._SANITIZER_HEAD.search(p.stderr):
        raise harness.CheckFailed("FAILED: `tarry migrate %s` wrote a sanitizer report:\n%s" % (" ".join(args), p.stderr))
    for s in secrets:
        if s in p.stdout + p.stderr:
            raise harness.CheckFailed("FAILED: `tarry migrate %s` printed the password:\n%s%s"
                                      % (" ".join(args), p.stdout, p.stderr))
    if any(s in " ".join(args) + (env_store or "") for s in secrets):
        runs_with_secret[0] += 1
    return p


def lock_key():
    """The advisory lock's key, as host/pg_schema.h defines it."""
    with open(os.path.join(harness.SRC, "host", "pg_schema.h")) as f:
        m = re.search(r'#define PG_SCHEMA_LOCK_KEY "(\d+)"', f.read())
    return int(m.group(1))


def concurrent_first_migration(pg):
    db = pg.create_database("race")
    url = pg.url(db)
    env = dict(os.environ, TARRY_STORE=url)
    # Two by flag, two by TARRY_STORE: both ways in, at once.
    argvs = [[harness.BIN, "migrate", "--store", url]] * 2 + [[harness.BIN, "migrate"]] * 2
    # The lock is held while the four start, so all four wait on it together: the race is real.
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-A", "-t", "-h", pg.sock, "-p", str(pg.port), "-U", pgcluster.ROLE, "-d", db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write("SELECT pg_advisory_lock(%d);\n\\echo held\n" % lock_key())
    holder.stdin.flush()
    while holder.stdout.readline().strip() != "held":
        pass
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for a in argvs]
    waiting_sql = ("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                   "WHERE d.datname = '%s' AND l.locktype = 'advisory' AND NOT l.granted" % db)
    deadline = time.monotonic() + 60
    while pg.psql(db, waiting_sql) != [["4"]] and time.monotonic() < deadline:
        time.sleep(0.02)
    check_eq(pg.psql(db, waiting_sql), [["4"]], "the 4 migrates wait on the schema lock together")
    holder.stdin.close()  # psql ends, its session's lock goes
    holder.wait(timeout=30)
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        check(not harness.Host._SANITIZER_HEAD.search(err), "migrate %d wrote no sanitizer report" % p.pid, err)
        outs.append((p.pid, p.returncode, out, err))
    for pid, rc, out, err in outs:
        check_eq(rc, 0, "migrate %d (of 4 at once) exits 0 (stderr %r)" % (pid, err.strip()))
    rows = pg.psql(db, "SELECT version, count(*) OVER (PARTITION BY version), applied_by_host, applied_by_pid, "
                       "description <> '' FROM tarry_schema ORDER BY version")
    latest = int(rows[-1][0])
    applied = [o for o in outs
               if all("applied schema version %d (" % v in o[2] for v in range(1, latest + 1))]
    idle = [o for o in outs if o[2].strip() == "schema is at version %d: nothing to apply" % latest]
    check(len(applied) == 1 and len(idle) == 3,
          "one migrate applied versions 1..%d, the other three found nothing to apply" % latest, outs)
    check_eq([int(r[0]) for r in rows], list(range(1, latest + 1)), "tarry_schema holds versions 1..%d" % latest)
    check(all(r[1] == "1" for r in rows), "each version exactly once", rows)
    check(all(r[2] == socket.gethostname() and int(r[3]) == applied[0][0] and r[4] == "t" for r in rows),
          "recorded with its description, by this machine's hostname and the pid of the migrate that applied it",
          rows)
    tables = {r[0] for r in pg.psql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    check(TABLES <= tables, "every table of the store exists (%d)" % len(TABLES), sorted(TABLES - tables))
    indexes = {r[0] for r in pg.psql(db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    check(INDEXES <= indexes, "every index of the store exists (%d)" % len(INDEXES), sorted(INDEXES - indexes))
    check("application_name=tarry" in open(pg.log_path, errors="replace").read(),
          "migrate connects as application_name tarry (the server's connection log)")

    p = migrate(env_store=url)
    check_eq((p.returncode, p.stdout), (0, "schema is at version %d: nothing to apply\n" % latest),
             "a second run (TARRY_STORE) says there is nothing to apply")
    check_eq(pg.psql(db, "SELECT count(*) FROM tarry_schema"), [[str(latest)]], "and adds nothing to tarry_schema")
    return db, latest


def newer_schema_refused(pg, latest):
    db = pg.create_database("newer")
    check_eq(migrate("--store", pg.url(db)).returncode, 0, "a database migrated to version %d" % latest)
    pg.psql(db, "INSERT INTO tarry_schema (version, description, applied_by_host, applied_by_pid) "
                "VALUES (%d, 'from a newer tarry', 'elsewhere', 1)" % (latest + 2))
    p = migrate("--store", pg.url(db))
    want = "database schema is at version %d; this tarry knows versions up to %d: run a newer tarry" % (
        latest + 2, latest)
    check(p.returncode == 1 and want in p.stderr and '"newer"' in p.stderr,
          "a database at version %d is refused (exit 1): %r, naming the database" % (latest + 2, want), p.stderr)
    check_eq(pg.psql(db, "SELECT max(version) FROM tarry_schema"), [[str(latest + 2)]], "and left as it was")


def failures_are_clear(pg, db):
    with_pw = pg.url(db, password=SECRET)
    p = migrate("--store", with_pw)
    check_eq(p.returncode, 0, "a URL with a password works (trust auth ignores it)")

    p = migrate("--store", pg.url("nosuchdb", password=SECRET))
    check(p.returncode == 1 and 'database "nosuchdb"' in p.stderr and "does not exist" in p.stderr,
          "a missing database: exit 1, named", p.stderr)
    p = migrate("--store", pg.url(db, user="nobody", password=SECRET))
    check(p.returncode == 1 and 'role "nobody" does not exist' in p.stderr, "an unknown role: exit 1, named",
          p.stderr)

    query_pw = "postgresql://tarry@/%s?host=%s&port=%d&password=%s" % (db, pg.sock, pg.port, SECRET)
    pg.stop()
    for what, url in (("userinfo", with_pw), ("?password=", query_pw)):
        p = migrate("--store", url)
        check(p.returncode == 1 and "cannot connect" in p.stderr and '"%s"' % db in p.stderr and pg.sock in p.stderr,
              "a stopped server (password in the %s): exit 1, naming the database and the server" % what, p.stderr)
    pg.start()
    check_eq(migrate("--store", with_pw).returncode, 0, "the server back: migrate works again")

    bad = [
        ("an unknown URI parameter", "postgresql://tarry:%s@/x?host=/tmp&nonsense=1" % SECRET, "nonsense", SECRET),
        ("a bad percent-escape in the password", "postgresql://tarry:%s%%zz@/x" % SECRET, "percent", SECRET),
        ("a bad percent-escape in ?password=", "postgresql://tarry@/x?password=%s%%zz" % SECRET, "percent", SECRET),
    ]
    for what, url, names, secret in bad:
        p = migrate("--store", url, secrets=(secret,))
        check(p.returncode == 2 and "libpq" in p.stderr and names in p.stderr,
              "%s: exit 2, libpq's reason (%s)" % (what, names), p.stderr)
    for what, args, names in (
        ("an LMDB store URL", ["--store", "lmdb:./tarry-data"], "postgres://"),
        ("a libpq key=value string", ["--store", "host=/tmp password=%s" % SECRET], "postgres://"),
        ("no store at all", [], "TARRY_STORE"),
        ("an unknown option", ["--sotre", "x"], "--sotre"),
    ):
        p = migrate(*args)
        check(p.returncode == 2 and names in p.stderr, "%s: exit 2, saying %s" % (what, names), p.stderr)


def schema_takes_what_it_must(pg):
    db = pg.create_database("rows")
    check_eq(migrate("--store", pg.url(db)).returncode, 0, "a fresh database migrated")
    eid = "01JDQ8Z6V8M3X4KQ2T9W7R5B1D"
    pg.psql(db, "INSERT INTO executions (id, function, state, args, metadata, created_at, scheduled_at, attempts) "
                "VALUES ('%s', 'send_email', 'scheduled', '{\"to\": \"a@b\",  \"n\": 1.50}', '{\"tenant\":\"t1\"}', "
                "now(), '2030-01-01T00:00:00Z', 0)" % eid)
    pg.psql(db, "INSERT INTO execution_metadata VALUES ('%s', 'tenant', 't1')" % eid)
    check_eq(pg.psql(db, "SELECT args, due_at = scheduled_at FROM executions WHERE id = '%s'" % eid),
             [['{"to": "a@b",  "n": 1.50}', "t"]],
             "an execution is stored, its args byte for byte, its due time the delayed start's")
    pg.psql(db, "INSERT INTO journal (exec_id, seq, kind, status, name, started_at) "
                "VALUES ('%s', 0, 'step', 'pending', 'charge', now())" % eid)
    p = pg.psql(db, "INSERT INTO journal (exec_id, seq, kind, status, name, started_at) "
                    "VALUES ('%s', 0, 'call', 'pending', 'other', now())" % eid, check=False)
    check(p.returncode != 0 and "duplicate key" in p.stderr, "a second journal entry at (exec, 0) is refused",
          p.stderr)
    p = pg.psql(db, "INSERT INTO journal (exec_id, seq, kind, status, started_at) "
                    "VALUES ('01JDQ8Z6V8M3X4KQ2T9W7R5B1E', 0, 'now', 'succeeded', now())", check=False)
    check(p.returncode != 0 and "foreign key" in p.stderr, "a journal entry of no execution is refused", p.stderr)
    p = pg.psql(db, "INSERT INTO executions (id, function, state, args, created_at) "
                    "VALUES ('01jdq8z6v8m3x4kq2t9w7r5b1f', 'f', 'queued', '1', now())", check=False)
    check(p.returncode != 0 and "tarry_id" in p.stderr, "an id not in ids.h's form (lower case) is refused", p.stderr)

    pg.psql(db, "UPDATE executions SET state = 'waiting', wake_at = '2031-01-01T00:00:00Z' WHERE id = '%s'" % eid)
    check_eq(pg.psql(db, "SELECT due_at = wake_at FROM executions WHERE id = '%s'" % eid), [["t"]],
             "a waiting execution is due at its wake time")
    pg.psql(db, "UPDATE executions SET state = 'succeeded', finished_at = now() WHERE id = '%s'" % eid)
    check_eq(pg.psql(db, "SELECT due_at IS NULL FROM executions WHERE id = '%s'" % eid), [["t"]],
             "a final one is due never")

    pg.psql(db, "INSERT INTO hosts (id, hostname, pid, workers) VALUES ('c46c86ef0b87352f', 'a', 1, 4)")
    pg.psql(db, "UPDATE executions SET lease_owner = 'c46c86ef0b87352f', lease_epoch = lease_epoch + 1 "
                "WHERE id = '%s'" % eid)
    p = pg.psql(db, "UPDATE executions SET lease_epoch = 0 WHERE id = '%s'" % eid, check=False)
    check(p.returncode != 0 and "may not lower it" in p.stderr, "a lease epoch never goes back", p.stderr)

    so = "\\x7f454c46"
    p = pg.psql(db, "INSERT INTO plugin_versions (hash, name, version, so, size) "
                    "VALUES ('0123456789abcdef', 'p', '1', '%s', 4)" % so, check=False)
    check(p.returncode != 0 and "check constraint" in p.stderr, "a plugin version whose hash is not its bytes' is refused",
          p.stderr)
    pg.psql(db, "INSERT INTO plugin_versions (hash, name, version, so, size) "
                "VALUES (left(encode(sha256('%s'::bytea), 'hex'), 16), 'p', '1', '%s', 4)" % (so, so))
    check_eq(pg.psql(db, "SELECT count(*) FROM plugin_versions"), [["1"]], "one whose hash is its bytes' is kept")

    # 20,000 executions, 1 in 100 with a timer: the due query must take the due index.
    pg.psql(db, "INSERT INTO executions (id, function, state, args, created_at, scheduled_at) "
                "SELECT '1' || lpad(upper(to_hex(i)), 25, '0'), 'f' || (i % 7), "
                "CASE WHEN i % 100 = 0 THEN 'scheduled' ELSE 'succeeded' END::tarry_state, '{}', now(), "
                "CASE WHEN i % 100 = 0 THEN now() + i * interval '1 second' END "
                "FROM generate_series(1, 20000) AS i; ANALYZE executions")
    check_eq(pg.psql(db, "SELECT count(*) FROM executions WHERE due_at IS NOT NULL"), [["200"]],
             "200 of 20,000 have a due time")
    plan = "\n".join(r[0] for r in pg.psql(
        db, "EXPLAIN SELECT id FROM executions WHERE due_at <= now() + interval '1 hour' ORDER BY due_at, id LIMIT 100"))
    check("executions_due" in plan, "EXPLAIN of the due query names executions_due", plan)

    pg.psql(db, "DELETE FROM executions WHERE id = '%s'" % eid)
    check_eq(pg.psql(db, "SELECT (SELECT count(*) FROM journal), (SELECT count(*) FROM execution_metadata)"),
             [["0", "0"]], "deleting an execution deletes its journal and metadata rows")


def help_lists_it():
    p = subprocess.run([harness.BIN, "--help"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and re.search(r"^  migrate \[--store URL\] +\S", p.stdout, re.M),
          "`tarry --help` lists migrate", p.stdout)
    p = subprocess.run([harness.BIN, "migrate", "--help"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and p.stdout.startswith("usage: tarry migrate [--store URL]") and "TARRY_STORE" in p.stdout,
          "`tarry migrate --help` shows its usage and TARRY_STORE, exit 0", p.stdout)


def main():
    help_lists_it()
    with pgcluster.PgCluster(settings={"log_connections": "on"}) as pg:
        db, latest = concurrent_first_migration(pg)
        newer_schema_refused(pg, latest)
        failures_are_clear(pg, db)
        schema_takes_what_it_must(pg)
        check(runs_with_secret[0] >= 8, "a password given in the URL appeared in none of the %d runs that had one"
              % runs_with_secret[0])


if __name__ == "__main__":
    harness.run(main)
