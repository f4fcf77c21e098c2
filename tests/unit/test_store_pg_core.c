/*
 * test_store_pg_core.c - the PostgreSQL store's core against a real server:
 * opening (migration), hosts sharing the database (claims, conflicts,
 * fencing, a restarted host's take-over), transactions as snapshots, the
 * record codec (every field, NULLs, the extremes of times and counters),
 * batches committed in one pipelined transaction (all or nothing, larger
 * than a pipeline window), how failures map to codes, and a pooled
 * connection the server ended.
 *
 * The server is the CTest fixture pg_unit's (tests/unit/pg_fixture.py);
 * each case opens a store on a fresh database of its own (pg_testdb.h).
 * The store's conformance to store.h is tests/unit/test_store.c's, run on
 * both stores; this file tests what only the PostgreSQL store has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ids.h"
#include "pg_testdb.h"
#include "pg_schema.h"
#include "status.h"
#include "store_pg_int.h"

static pg_testdb testdb; /* the running case's database */
static const char *url = testdb.url;

static store *open_store(void)
{
    char err[1024] = "";
    store *st = NULL;
    int rc = store_pg_open(&st, url, err, sizeof err);

    if (rc != 0)
        fail_msg("store_pg_open: %d: %s", rc, err);
    return st;
}

static exec_record record(const char *function, exec_state state)
{
    exec_record r;

    memset(&r, 0, sizeof r);
    id_new(&r.id);
    r.state = state;
    r.function = function;
    r.args = "{}";
    r.created_at = id_time_ms(&r.id);
    r.plugin_name = "examples";
    r.plugin_version = "0.1.0";
    return r;
}

static void put_direct(store *st, const exec_record *rec, const exec_record *prev)
{
    store_txn *t;

    assert_int_equal(pgs_txn_begin(st, true, &t), 0);
    if (pgs_exec_put(t, rec, prev) != 0)
        fail_msg("exec_put: %s", store_last_error(st));
    assert_int_equal(pgs_txn_commit(t), 0);
}

static void assert_str(const char *got, const char *want, const char *field)
{
    if (!want && got)
        fail_msg("%s: want NULL, got \"%s\"", field, got);
    if (want && !got)
        fail_msg("%s: want \"%s\", got NULL", field, want);
    if (want && strcmp(got, want) != 0)
        fail_msg("%s: want \"%s\", got \"%s\"", field, want, got);
}

static void assert_record_equal(const exec_record *got, const exec_record *want)
{
    assert_memory_equal(&got->id, &want->id, sizeof got->id);
    assert_memory_equal(&got->parent_id, &want->parent_id, sizeof got->parent_id);
    assert_memory_equal(&got->rerun_of, &want->rerun_of, sizeof got->rerun_of);
    assert_int_equal(got->state, want->state);
    assert_int_equal(got->attempts, want->attempts);
    assert_int_equal(got->crashes, want->crashes);
    assert_int_equal(got->timeouts, want->timeouts);
    assert_int_equal(got->suspect, want->suspect);
    assert_int_equal(got->detached, want->detached);
    assert_int_equal(got->resume, want->resume);
    assert_int_equal(got->cancel_requested, want->cancel_requested);
    assert_int_equal(got->created_at, want->created_at);
    assert_int_equal(got->scheduled_at, want->scheduled_at);
    assert_int_equal(got->started_at, want->started_at);
    assert_int_equal(got->finished_at, want->finished_at);
    assert_int_equal(got->next_attempt_at, want->next_attempt_at);
    assert_int_equal(got->discard_at, want->discard_at);
    assert_int_equal(got->wake_at, want->wake_at);
    assert_int_equal(got->wake_seq, want->wake_seq);
    assert_int_equal(got->parent_seq, want->parent_seq);
    assert_int_equal(got->log_count, want->log_count);
    assert_int_equal(got->log_mark_pos, want->log_mark_pos);
    assert_int_equal(got->log_mark_count, want->log_mark_count);
    assert_int_equal(got->log_dropped, want->log_dropped);
    assert_str(got->function, want->function, "function");
    assert_str(got->args, want->args, "args");
    assert_str(got->metadata, want->metadata, "metadata");
    assert_str(got->result, want->result, "result");
    assert_str(got->error, want->error, "error");
    assert_str(got->plugin_name, want->plugin_name, "plugin_name");
    assert_str(got->plugin_version, want->plugin_version, "plugin_version");
    assert_str(got->plugin_hash, want->plugin_hash, "plugin_hash");
    assert_str(got->idempotency_key, want->idempotency_key, "idempotency_key");
}

static void assert_stored(store *st, const exec_record *want)
{
    store_txn *t;
    exec_record got;

    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    if (pgs_exec_get(t, &want->id, &got) != 0)
        fail_msg("exec_get: %s", store_last_error(st));
    assert_record_equal(&got, want);
    pgs_txn_abort(t);
}

static bool stored(store *st, const exec_id *id)
{
    store_txn *t;
    exec_record got;
    int rc;

    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    rc = pgs_exec_get(t, id, &got);
    pgs_txn_abort(t);
    if (rc != 0 && rc != TARRY_ENOTFOUND)
        fail_msg("exec_get: %d: %s", rc, store_last_error(st));
    return rc == 0;
}

/* One integer a statement selects, in a read transaction of st. */
static int64_t select_int(store *st, const char *sql, int n, const char *const *params)
{
    store_txn *t;
    PGresult *r;
    int64_t v;

    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    if (pgs_query((struct pg_txn *)t, "a test's query", sql, n, params, &r) != 0)
        fail_msg("%s: %s", sql, store_last_error(st));
    v = pgs_i64(r, 0, 0);
    pgs_txn_abort(t);
    return v;
}

/* ---- through the interface (store.h) -------------------------------------------------------- */

static void opened_by_url(void **state)
{
    store *st = NULL, *lmdb = NULL;
    exec_record r = record("f", EXEC_QUEUED), got;
    store_batch *b, *other;
    store_txn *t;
    char err[1024] = "", dir[] = "/tmp/tarry-pg-core-XXXXXX";

    /* The fixture's store holds the host lock: this case opens its own by URL. */
    pgs_close(*state);
    *state = NULL;
    if (store_open_url(&st, url, 0, err, sizeof err) != 0)
        fail_msg("store_open_url: %s", err);
    *state = st;
    assert_string_equal(store_kind(st), "postgres");
    assert_int_equal(store_check_folder(st), 0);
    assert_non_null(b = store_batch_new(st));
    assert_int_equal(store_batch_exec_put(b, &r, NULL), 0);
    /* A batch belongs to the kind of store that made it. */
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(&lmdb, dir, 0, err, sizeof err), 0);
    assert_non_null(other = store_batch_new(lmdb));
    assert_int_equal(store_batch_commit(st, other), TARRY_EINVAL);
    store_batch_free(other);
    store_close(lmdb);
    assert_int_equal(store_batch_commit(st, b), 0);
    store_batch_free(b);
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_exec_get(t, &r.id, &got), 0);
    assert_record_equal(&got, &r);
    store_txn_abort(t);
    {
        char cmd[sizeof dir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
}

/* ---- opening ------------------------------------------------------------------------------- */

static void opens_migrated(void **state)
{
    store *st = *state;
    char latest[16];

    snprintf(latest, sizeof latest, "%d", pg_schema_latest());
    assert_int_equal(select_int(st, "SELECT max(version) FROM tarry_schema", 0, NULL), pg_schema_latest());
    assert_int_equal(pgs_check_folder(st), 0);
}

static void join(store *st, const char *id, const char *prev)
{
    store_host_info me = {.id = id, .hostname = "test", .address = "", .pid = 1, .workers = 2, .lease_ms = 60000};

    if (store_host_join(st, &me, prev, NULL, NULL) != 0)
        fail_msg("joining as %s: %s", id, store_last_error(st));
}

static int commit_one(store *st, const exec_record *rec, const exec_record *prev)
{
    store_batch *b = pgs_batch_new(st);
    int rc;

    assert_int_equal(pgs_batch_exec_put(b, rec, prev), 0);
    rc = pgs_batch_commit(st, b);
    pgs_batch_free(b);
    return rc;
}

static size_t claim(store *st, store_claim_kind kind)
{
    size_t n = 0;

    if (store_claim(st, kind, INT64_MAX / 2, 100, &n, NULL) != 0)
        fail_msg("claiming: %s", store_last_error(st));
    return n;
}

/* Wait (at most 10 s) until st's heartbeat has counted `want` live hosts. */
static void wait_live(store *st, size_t want)
{
    for (int i = 0; i < 1000 && store_live_hosts(st) != want; i++)
        usleep(10 * 1000);
    assert_int_equal(store_live_hosts(st), want);
}

/*
 * Two hosts open one database: each counts the live hosts at its heartbeat (a joined host beats
 * at once); an execution queued by one is held by it, so the other can neither claim nor write
 * it (a conflict naming it) until the first leaves and releases it.
 */
static void hosts_share_a_database(void **state)
{
    store *a = *state, *b = open_store();
    exec_record r = record("f", EXEC_QUEUED), run = r, other;
    char id[ID_TEXT_LEN + 1];
    const char *params[1] = {id};
    exec_id named;

    assert_int_equal(store_live_hosts(a), 1); /* before its first heartbeat: itself */
    join(a, "00000000000000a1", NULL);
    join(b, "00000000000000b2", NULL);
    wait_live(b, 2);
    assert_int_equal(commit_one(a, &r, NULL), 0);
    id_format(&r.id, id);
    assert_int_equal(select_int(a, "SELECT count(*) FROM executions WHERE id = $1 AND lease_owner = "
                                   "'00000000000000a1'", 1, params), 1);
    assert_int_equal(claim(b, STORE_CLAIM_QUEUED), 0);
    run.state = EXEC_RUNNING;
    assert_int_equal(commit_one(b, &run, &r), TARRY_ECONFLICT);
    other = record("f", EXEC_QUEUED);
    {
        store_batch *bt = pgs_batch_new(b);
        assert_int_equal(pgs_batch_exec_put(bt, &other, NULL), 0);
        assert_int_equal(pgs_batch_exec_put(bt, &run, &r), 0);
        assert_int_equal(pgs_batch_commit(b, bt), TARRY_ECONFLICT);
        assert_true(store_batch_conflict(bt, &named));
        assert_memory_equal(&named, &r.id, sizeof named);
        pgs_batch_free(bt);
    }
    assert_false(stored(b, &other.id)); /* the batch failed as a whole */
    pgs_close(a); /* a clean leave releases what it held */
    *state = b;
    assert_int_equal(claim(b, STORE_CLAIM_QUEUED), 1);
    assert_int_equal(select_int(b, "SELECT lease_epoch FROM executions WHERE id = $1", 1, params), 2);
    assert_int_equal(commit_one(b, &run, &r), 0);
}

static int count_id(void *user, const exec_id *id)
{
    (void)id;
    ++*(int *)user;
    return 0;
}

/* The cancels asked of host `st`, as its scan sees them. */
static int cancels_asked_of(store *st)
{
    store_txn *txn;
    int n = 0;

    assert_int_equal(store_txn_begin(st, false, &txn), 0);
    assert_int_equal(store_cancel_requests_scan(txn, count_id, &n), 0);
    store_txn_abort(txn);
    return n;
}

/*
 * Host b asks for a cancel of an execution host a holds: the row says so, a's scan finds it, and
 * a's own later writes (which know nothing of it yet) keep it; a final row is not asked.
 */
static void a_cancel_is_asked_of_the_holder(void **state)
{
    store *a = *state, *b = open_store();
    exec_record r = record("f", EXEC_QUEUED), run = r, done;
    char id[ID_TEXT_LEN + 1];
    const char *params[1] = {id};
    store_batch *bt;

    join(a, "00000000000000a7", NULL);
    join(b, "00000000000000b8", NULL);
    assert_int_equal(commit_one(a, &r, NULL), 0);
    assert_int_equal(cancels_asked_of(a), 0);
    bt = pgs_batch_new(b);
    assert_int_equal(store_batch_cancel_request(bt, &r.id), 0);
    assert_int_equal(pgs_batch_commit(b, bt), 0);
    pgs_batch_free(bt);
    assert_int_equal(cancels_asked_of(a), 1);
    assert_int_equal(cancels_asked_of(b), 0); /* only the holder is asked */
    run.state = EXEC_RUNNING;
    assert_false(run.cancel_requested);
    assert_int_equal(commit_one(a, &run, &r), 0);
    id_format(&r.id, id);
    assert_int_equal(select_int(a, "SELECT cancel_requested::int FROM executions WHERE id = $1", 1, params),
                     1);
    assert_int_equal(cancels_asked_of(a), 1);
    done = run;
    done.state = EXEC_CANCELLED;
    assert_int_equal(commit_one(a, &done, &run), 0);
    assert_int_equal(cancels_asked_of(a), 0);
    bt = pgs_batch_new(b); /* asking again once it is final changes nothing */
    assert_int_equal(store_batch_cancel_request(bt, &r.id), 0);
    assert_int_equal(pgs_batch_commit(b, bt), 0);
    pgs_batch_free(bt);
    assert_int_equal(
        select_int(a, "SELECT count(*) FROM executions WHERE id = $1 AND state = 'cancelled'", 1, params), 1);
    pgs_close(b);
}

/*
 * A claim takes at most what it asks for (a planner's rescan once took every free row), and a
 * wave of due timers is shared: with two hosts live each claims half of those due.
 */
static void claims_take_their_part(void **state)
{
    store *a = *state, *b = open_store();
    size_t n, left;

    join(a, "00000000000000a9", NULL);
    for (int i = 0; i < 20; i++) {
        exec_record r = record("f", EXEC_SCHEDULED);
        r.scheduled_at = 1000 + i;
        assert_int_equal(commit_one(a, &r, NULL), 0); /* scheduled: nobody holds it */
    }
    assert_int_equal(store_claim(a, STORE_CLAIM_DUE, INT64_MAX / 2, 5, &n, &left), 0);
    assert_int_equal(n, 5); /* alone: all it asks for, nothing left to others */
    assert_int_equal(left, 0);
    assert_int_equal(select_int(a, "SELECT count(*) FROM executions WHERE lease_owner IS NOT NULL", 0, NULL),
                     5);
    join(b, "00000000000000ba", NULL);
    assert_int_equal(store_claim(b, STORE_CLAIM_DUE, INT64_MAX / 2, 100, &n, &left), 0);
    assert_int_equal(n, 10); /* 20 due over 2 live hosts */
    assert_int_equal(left, 10);
    assert_int_equal(store_claim(a, STORE_CLAIM_DUE, INT64_MAX / 2, 100, &n, &left), 0);
    assert_int_equal(n, 5); /* what is still free */
    assert_int_equal(select_int(a, "SELECT count(*) FROM executions WHERE lease_owner IS NULL", 0, NULL), 0);
    pgs_close(b);
}

/* A host declared stopped (its lease ran out while it was cut off) has its late batches refused. */
static void a_stopped_hosts_batch_is_fenced(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_QUEUED), done;
    char err[1024];
    pg_db *other;

    join(st, "00000000000000c3", NULL);
    assert_int_equal(commit_one(st, &r, NULL), 0);
    if (pg_connect(url, &other, err, sizeof err) != 0 ||
        pg_run(other, "declaring it stopped", "SELECT tarry_host_release('00000000000000c3', 'lease expired')",
               PGRES_TUPLES_OK, NULL, err, sizeof err) != 0)
        fail_msg("%s", err);
    pg_close(other);
    done = r;
    done.state = EXEC_SUCCEEDED;
    assert_int_equal(commit_one(st, &done, &r), TARRY_EBROKEN);
    if (!strstr(store_last_error(st), "stopped"))
        fail_msg("the refusal should say the host was declared stopped: %s", store_last_error(st));
}

/* A host started again in the same folder takes over what its previous engine held. */
static void a_restarted_host_takes_over(void **state)
{
    store *old = *state, *again;
    exec_record r = record("f", EXEC_QUEUED), run = r;
    char id[ID_TEXT_LEN + 1];
    const char *params[1] = {id};

    join(old, "00000000000000d4", NULL);
    assert_int_equal(commit_one(old, &r, NULL), 0);
    again = open_store();
    join(again, "00000000000000e5", "00000000000000d4");
    id_format(&r.id, id);
    assert_int_equal(select_int(again, "SELECT count(*) FROM executions WHERE id = $1 AND lease_owner = "
                                       "'00000000000000e5'", 1, params), 1);
    run.state = EXEC_RUNNING;
    assert_int_equal(commit_one(again, &run, &r), 0);
    assert_int_equal(commit_one(old, &run, &r), TARRY_EBROKEN); /* the old engine is fenced */
    pgs_close(old);
    *state = again;
}

/* One execution and its idempotency key, in one batch (as the engine writes a new keyed one). */
static int commit_keyed(store *st, const exec_record *rec, int64_t expires_at)
{
    store_batch *b = pgs_batch_new(st);
    store_idem v = {rec->id, expires_at};
    int rc;

    assert_int_equal(pgs_batch_exec_put(b, rec, NULL), 0);
    assert_int_equal(store_batch_idem_put(b, rec->function, "order-7", &v), 0);
    rc = pgs_batch_commit(st, b);
    if (rc == TARRY_ECONFLICT) {
        exec_id named;
        assert_true(store_batch_conflict(b, &named));
        assert_memory_equal(&named, &rec->id, sizeof named); /* the new execution that lost */
    }
    pgs_batch_free(b);
    return rc;
}

/*
 * Two hosts that each found a key free commit a new execution with it: the second is a
 * conflict naming its execution, and nothing of its batch is stored; a key that expired, or
 * written again for its own execution, is taken.
 */
static void an_idempotency_key_is_taken_once(void **state)
{
    store *a = *state, *b = open_store();
    exec_record first = record("f", EXEC_QUEUED), second = record("f", EXEC_QUEUED), third = record("f", EXEC_QUEUED);
    int64_t later = id_time_ms(&first.id) + 3600 * 1000;
    store_idem got;
    store_txn *t;

    join(a, "00000000000000f6", NULL);
    join(b, "00000000000000f7", NULL);
    assert_int_equal(commit_keyed(a, &first, later), 0);
    assert_int_equal(commit_keyed(b, &second, later), TARRY_ECONFLICT);
    assert_false(stored(b, &second.id));
    assert_int_equal(store_txn_begin(b, false, &t), 0);
    assert_int_equal(store_idem_get(t, "f", "order-7", &got), 0);
    assert_memory_equal(&got.id, &first.id, sizeof got.id);
    store_txn_abort(t);
    {
        store_batch *bt = pgs_batch_new(a);
        store_idem v = {first.id, later + 1000};
        assert_int_equal(store_batch_idem_put(bt, "f", "order-7", &v), 0);
        assert_int_equal(pgs_batch_commit(a, bt), 0);
        pgs_batch_free(bt);
    }
    {
        store_batch *bt = pgs_batch_new(a);
        store_idem v = {first.id, 1000}; /* expired long ago */
        assert_int_equal(store_batch_idem_put(bt, "f", "order-7", &v), 0);
        assert_int_equal(pgs_batch_commit(a, bt), 0);
        pgs_batch_free(bt);
    }
    assert_int_equal(commit_keyed(b, &third, later), 0);
    pgs_close(a);
    *state = b;
}

static int note_timer(void *user, int64_t due_ms, const exec_id *id)
{
    (void)due_ms;
    (void)id;
    (*(size_t *)user)++;
    return 0;
}

static size_t timers_seen(store *st)
{
    store_txn *t;
    size_t n = 0;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_timer_each(t, note_timer, &n), 0);
    store_txn_abort(t);
    return n;
}

/* A host's timer scan has the timers it holds or could claim, never one another host holds. */
static void timers_held_elsewhere_are_not_seen(void **state)
{
    store *a = *state, *b = open_store();
    exec_record held = record("f", EXEC_QUEUED), free_one = record("f", EXEC_SCHEDULED);

    held.discard_at = held.created_at + 1000; /* a queued one's timer: its discard_after */
    free_one.scheduled_at = free_one.created_at + 2000;
    join(a, "00000000000000a8", NULL);
    join(b, "00000000000000b9", NULL);
    assert_int_equal(commit_one(a, &held, NULL), 0);
    assert_int_equal(commit_one(a, &free_one, NULL), 0);
    assert_int_equal(timers_seen(a), 2);
    assert_int_equal(timers_seen(b), 1);
    pgs_close(b);
}

static void bad_url_names_the_reason(void **state)
{
    char err[1024] = "";
    store *st = NULL;

    (void)state;
    assert_int_equal(
        store_pg_open(&st, "postgresql://tarry:hunter2@/nosuchdb?host=/nonexistent/sock", err, sizeof err),
        TARRY_EIO);
    assert_null(st);
    if (!strstr(err, "nosuchdb") || strstr(err, "hunter2"))
        fail_msg("the error should name the database and hide the password: %s", err);
}

/* ---- the record ---------------------------------------------------------------------------- */

static void record_round_trip(void **state)
{
    store *st = *state;
    exec_record full = record("charge_card", EXEC_WAITING), sparse = record("f", EXEC_QUEUED),
                empty = record("g", EXEC_QUEUED), prev;

    id_new(&full.parent_id);
    id_new(&full.rerun_of);
    full.attempts = 4294967295u;
    full.crashes = 0x12345678u;
    full.timeouts = 7;
    full.suspect = full.detached = full.resume = full.cancel_requested = true;
    full.created_at = 1700000000123LL;
    full.scheduled_at = -1;
    full.started_at = INT64_MAX;
    full.finished_at = INT64_MIN;
    full.next_attempt_at = 4102444800001LL; /* 2100 */
    full.discard_at = 1;
    full.wake_at = 1711846800999LL; /* a DST change in Europe */
    full.wake_seq = 3;
    full.parent_seq = 4294967295u;
    full.log_count = 12;
    full.log_mark_pos = 5;
    full.log_mark_count = 2;
    full.log_dropped = 4294967295u;
    full.args = "{\"amount\":1200,\"currency\":\"EUR\",\"note\":\"caf\xc3\xa9\", \"x\" : [1.50, 2e3]}";
    full.metadata = "{\"trace\":\"abc\",\"team\":\"billing\"}";
    full.result = "[1,2,3]";
    full.error = "card declined\nline two\ttab 'quoted' \\ back";
    full.plugin_name = "payments";
    full.plugin_version = "2.3.4-rc.1";
    full.plugin_hash = "0123456789abcdef";
    full.idempotency_key = "order-42";
    put_direct(st, &full, NULL);

    sparse.args = NULL;
    sparse.plugin_name = NULL;
    sparse.plugin_version = NULL;
    put_direct(st, &sparse, NULL);

    empty.args = empty.metadata = empty.result = empty.error = "";
    empty.plugin_name = empty.plugin_version = empty.idempotency_key = "";
    put_direct(st, &empty, NULL);

    assert_stored(st, &full);
    assert_stored(st, &sparse);
    assert_stored(st, &empty);

    /* A later write replaces every field but one. */
    prev = full;
    full.metadata = full.result = full.error = full.plugin_hash = full.idempotency_key = NULL;
    full.attempts = 0;
    full.suspect = full.detached = full.resume = full.cancel_requested = false;
    full.started_at = full.finished_at = full.scheduled_at = 0;
    memset(&full.parent_id, 0, sizeof full.parent_id);
    memset(&full.rerun_of, 0, sizeof full.rerun_of);
    full.state = EXEC_RUNNING;
    put_direct(st, &full, &prev);
    full.cancel_requested = true; /* but a cancel asked is never withdrawn (store_batch_cancel_request) */
    assert_stored(st, &full);
}

static void times_are_timestamps(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_SCHEDULED);
    char id[ID_TEXT_LEN + 1];
    const char *params[1] = {id};

    r.scheduled_at = 1700000000123LL;
    put_direct(st, &r, NULL);
    id_format(&r.id, id);
    /* An operator reads real times (the column is timestamptz at the millisecond), and the timer
     * index the database computes holds the record's due time. */
    assert_int_equal(select_int(st,
                                "SELECT (scheduled_at = timestamptz '2023-11-14 22:13:20.123+00')::int "
                                "FROM executions WHERE id = $1",
                                1, params),
                     1);
    assert_int_equal(select_int(st, "SELECT tarry_ms(due_at) FROM executions WHERE id = $1", 1, params),
                     1700000000123LL);
}

static void missing_is_not_found(void **state)
{
    store *st = *state;
    exec_id missing, zero;
    exec_record out;
    store_txn *t;

    id_new(&missing);
    memset(&zero, 0, sizeof zero);
    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(pgs_exec_get(t, &missing, &out), TARRY_ENOTFOUND);
    assert_int_equal(pgs_exec_get(t, &zero, &out), TARRY_ENOTFOUND);
    assert_int_equal(pgs_txn_commit(t), 0); /* committing a read transaction ends it too */
}

static void function_name_limit(void **state)
{
    store *st = *state;
    char longest[129], too_long[130];
    exec_record ok, bad;
    store_batch *b = pgs_batch_new(st);
    store_txn *t;

    memset(longest, 'f', 128);
    longest[128] = '\0';
    memset(too_long, 'f', 129);
    too_long[129] = '\0';
    ok = record(longest, EXEC_QUEUED);
    bad = record(too_long, EXEC_QUEUED);
    assert_int_equal(pgs_txn_begin(st, true, &t), 0);
    assert_int_equal(pgs_exec_put(t, &bad, NULL), TARRY_EINVAL);
    assert_int_equal(pgs_exec_put(t, &ok, NULL), 0);
    assert_int_equal(pgs_txn_commit(t), 0);
    assert_int_equal(pgs_batch_exec_put(b, &bad, NULL), TARRY_EINVAL);
    assert_true(pgs_batch_empty(b));
    pgs_batch_free(b);
    assert_stored(st, &ok);
}

static void metadata_rows_with_a_new_record(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_QUEUED), prev;
    char id[ID_TEXT_LEN + 1];
    const char *params[1] = {id};
    static const char count[] = "SELECT count(*) FROM execution_metadata WHERE exec_id = $1";

    r.metadata = "{\"team\":\"billing\",\"n\":5,\"tenant\":\"acme \xc3\xa9\"}";
    put_direct(st, &r, NULL);
    id_format(&r.id, id);
    /* String values are pairs; the number is no pair (as LMDB's by_meta). */
    assert_int_equal(select_int(st, count, 1, params), 2);
    assert_int_equal(select_int(st,
                                "SELECT count(*) FROM execution_metadata WHERE exec_id = $1 AND "
                                "key = 'tenant' AND value = 'acme \xc3\xa9'",
                                1, params),
                     1);
    prev = r;
    r.state = EXEC_RUNNING;
    put_direct(st, &r, &prev); /* not new: the rows stay as they are */
    assert_int_equal(select_int(st, count, 1, params), 2);
    r.metadata = "not json";
    r.id.bytes[15] ^= 1;
    id_format(&r.id, id);
    put_direct(st, &r, NULL);
    assert_int_equal(select_int(st, count, 1, params), 0);
}

/* ---- transactions -------------------------------------------------------------------------- */

static void read_transactions_are_snapshots(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_QUEUED), prev, got;
    store_batch *b = pgs_batch_new(st);
    store_txn *before, *after;

    put_direct(st, &r, NULL);
    assert_int_equal(pgs_txn_begin(st, false, &before), 0);
    assert_int_equal(pgs_exec_get(before, &r.id, &got), 0);
    prev = r;
    r.state = EXEC_SUCCEEDED;
    r.result = "\"done\"";
    assert_int_equal(pgs_batch_exec_put(b, &r, &prev), 0);
    assert_int_equal(pgs_batch_commit(st, b), 0);
    /* Read again in the older transaction: still what it first saw, strings still valid. */
    assert_int_equal(pgs_exec_get(before, &r.id, &got), 0);
    assert_int_equal(got.state, EXEC_QUEUED);
    assert_null(got.result);
    assert_int_equal(pgs_txn_begin(st, false, &after), 0);
    assert_int_equal(pgs_exec_get(after, &r.id, &got), 0);
    assert_int_equal(got.state, EXEC_SUCCEEDED);
    assert_string_equal(got.result, "\"done\"");
    pgs_txn_abort(after);
    pgs_txn_abort(before);
    pgs_batch_free(b);
}

/* The snapshot is the store's at begin, not at the first read (as LMDB's). */
static void snapshot_taken_at_begin(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_QUEUED), got;
    store_batch *b = pgs_batch_new(st);
    store_txn *t;

    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(pgs_batch_exec_put(b, &r, NULL), 0);
    assert_int_equal(pgs_batch_commit(st, b), 0);
    assert_int_equal(pgs_exec_get(t, &r.id, &got), TARRY_ENOTFOUND);
    pgs_txn_abort(t);
    assert_true(stored(st, &r.id));
    pgs_batch_free(b);
}

static void read_transactions_refuse_writes(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_QUEUED);
    store_txn *t;

    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(pgs_exec_put(t, &r, NULL), TARRY_EIO);
    if (!strstr(store_last_error(st), "read-only transaction") ||
        !strstr(store_last_error(st), "writing execution"))
        fail_msg("the reason should name the step and the cause: %s", store_last_error(st));
    pgs_txn_abort(t);
    assert_false(stored(st, &r.id));
}

static void a_failed_statement_fails_the_commit(void **state)
{
    store *st = *state;
    exec_record good = record("f", EXEC_QUEUED), bad = record("f", EXEC_QUEUED);
    store_txn *t;

    bad.plugin_hash = "not a hash"; /* the schema's tarry_hash refuses it */
    assert_int_equal(pgs_txn_begin(st, true, &t), 0);
    assert_int_equal(pgs_exec_put(t, &good, NULL), 0);
    assert_int_equal(pgs_exec_put(t, &bad, NULL), TARRY_EIO);
    assert_int_equal(pgs_txn_commit(t), TARRY_EIO);
    assert_false(stored(st, &good.id));
}

/* ---- batches ------------------------------------------------------------------------------- */

static void batch_is_all_or_nothing(void **state)
{
    store *st = *state;
    exec_record good = record("f", EXEC_QUEUED), bad = record("f", EXEC_QUEUED),
                after = record("f", EXEC_QUEUED);
    store_batch *b = pgs_batch_new(st);
    char good_id[ID_TEXT_LEN + 1], id[ID_TEXT_LEN + 1], want[160];

    bad.plugin_hash = "not a hash";
    assert_true(pgs_batch_empty(b));
    assert_int_equal(pgs_batch_exec_put(b, &good, NULL), 0);
    assert_int_equal(pgs_batch_exec_put(b, &bad, NULL), 0); /* checked by the server, at commit */
    assert_int_equal(pgs_batch_exec_put(b, &after, NULL), 0);
    assert_false(pgs_batch_empty(b));
    assert_int_equal(pgs_batch_commit(st, b), TARRY_EIO);
    id_format(&bad.id, id);
    id_format(&good.id, good_id);
    /* one statement writes the three (store_pg_bulk.c): the step names each */
    snprintf(want, sizeof want, "writing executions %s, %s, ", good_id, id);
    if (!strstr(store_last_error(st), want) || !strstr(store_last_error(st), "tarry_hash") ||
        !strstr(store_last_error(st), testdb.name))
        fail_msg("the reason should name the statement that failed: %s", store_last_error(st));
    assert_false(stored(st, &good.id));
    assert_false(stored(st, &after.id));
    /* The connection went back clean: the next batch on it commits. */
    pgs_batch_reset(b);
    assert_true(pgs_batch_empty(b));
    assert_int_equal(pgs_batch_exec_put(b, &good, NULL), 0);
    assert_int_equal(pgs_batch_commit(st, b), 0);
    assert_stored(st, &good);
    assert_int_equal(pgs_batch_commit(st, b), 0); /* the same again: an upsert */
    pgs_batch_reset(b);
    assert_int_equal(pgs_batch_commit(st, b), 0); /* empty: nothing to do */
    pgs_batch_free(b);
}

/* More statements than a pipeline window, each with metadata rows, in one transaction. */
static void large_batch(void **state)
{
    enum { N = 700 };
    store *st = *state;
    store_batch *b = pgs_batch_new(st);
    static exec_record recs[N];
    char big[20000];

    memset(big, 'x', sizeof big - 1);
    big[0] = '"';
    big[sizeof big - 2] = '"';
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < N; i++) {
        recs[i] = record("bulk", EXEC_QUEUED);
        recs[i].metadata = "{\"batch\":\"large\"}";
        recs[i].args = i % 50 == 0 ? big : "{}"; /* some large parameters too */
        assert_int_equal(pgs_batch_exec_put(b, &recs[i], NULL), 0);
    }
    assert_int_equal(pgs_batch_commit(st, b), 0);
    assert_int_equal(select_int(st, "SELECT count(*) FROM executions WHERE function = 'bulk'", 0, NULL), N);
    assert_int_equal(
        select_int(st, "SELECT count(*) FROM execution_metadata WHERE key = 'batch' AND value = 'large'", 0,
                   NULL),
        N);
    assert_stored(st, &recs[0]);
    assert_stored(st, &recs[N - 1]);
    pgs_batch_free(b);
}

/* A batch statement that fails with SQLSTATE class 53 (a full disk is 53100) is TARRY_EFULL. */
static void full_disk_is_full(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_QUEUED);
    struct pg_batch *b = (struct pg_batch *)pgs_batch_new(st);
    pgs_sink out = pgs_to_batch(&b->base);

    assert_int_equal(pgs_batch_exec_put(&b->base, &r, NULL), 0);
    assert_int_equal(pgs_write(&out, "extending a table",
                               "DO $$BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' "
                               "USING ERRCODE = 'disk_full'; END$$",
                               0, NULL),
                     0);
    assert_int_equal(pgs_batch_commit(st, &b->base), TARRY_EFULL);
    if (!strstr(store_last_error(st), "extending a table") || !strstr(store_last_error(st), "No space left"))
        fail_msg("the reason should name the step and the server's message: %s", store_last_error(st));
    assert_false(stored(st, &r.id));
    pgs_batch_free(&b->base);
}

/* The server ends the session in the middle of a batch: nothing is written, and it says so. */
static void session_ended_in_a_batch(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_QUEUED), after = record("f", EXEC_QUEUED);
    struct pg_batch *b = (struct pg_batch *)pgs_batch_new(st);
    pgs_sink out = pgs_to_batch(&b->base);

    assert_int_equal(pgs_batch_exec_put(&b->base, &r, NULL), 0);
    assert_int_equal(
        pgs_write(&out, "ending the session", "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL), 0);
    assert_int_equal(pgs_batch_exec_put(&b->base, &after, NULL), 0);
    /* Not TARRY_EBROKEN: the server's own FATAL came for a statement before COMMIT. */
    assert_int_equal(pgs_batch_commit(st, &b->base), TARRY_EIO);
    if (!strstr(store_last_error(st), "ending the session") ||
        !strstr(store_last_error(st), "terminating connection"))
        fail_msg("the reason should name the step and the server's message: %s", store_last_error(st));
    assert_false(stored(st, &r.id));
    assert_false(stored(st, &after.id));
    /* The broken connection was not pooled: the same batch, without the ending, commits. */
    pgs_batch_reset(&b->base);
    assert_int_equal(pgs_batch_exec_put(&b->base, &r, NULL), 0);
    assert_int_equal(pgs_batch_commit(st, &b->base), 0);
    assert_true(stored(st, &r.id));
    pgs_batch_free(&b->base);
}

/* ---- the pool ------------------------------------------------------------------------------ */

/* A pooled connection whose session the server ended is not handed out again. */
static void ended_sessions_leave_the_pool(void **state)
{
    store *st = *state;
    store_txn *t;
    exec_record r = record("f", EXEC_QUEUED);
    store_batch *b = pgs_batch_new(st);
    char pid[32];
    const char *params[1] = {pid};
    PGresult *res;

    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(
        pgs_query((struct pg_txn *)t, "reading the backend", "SELECT pg_backend_pid()", 0, NULL, &res), 0);
    snprintf(pid, sizeof pid, "%s", pgs_str(res, 0, 0));
    pgs_txn_abort(t); /* idle in the pool now */
    /* End it from another session of the same role (any connection: a read transaction of a
     * second store would be refused the host lock, so a raw one). */
    {
        pg_db *db;
        char err[512];
        assert_int_equal(pg_connect(url, &db, err, sizeof err), 0);
        /* With a timeout, it answers once the backend has ended: its socket is closed. */
        assert_int_equal(pg_run_params(db, "ending a session", "SELECT pg_terminate_backend($1::int, 60000)",
                                       1, params, PGRES_TUPLES_OK, &res, err, sizeof err),
                         0);
        assert_string_equal(PQgetvalue(res, 0, 0), "t");
        PQclear(res);
        pg_close(db);
    }
    assert_int_equal(pgs_batch_exec_put(b, &r, NULL), 0);
    if (pgs_batch_commit(st, b) != 0)
        fail_msg("the batch after an ended session: %s", store_last_error(st));
    assert_stored(st, &r);
    pgs_batch_free(b);
}

static int setup(void **state)
{
    if (pg_testdb_create(&testdb) != 0)
        return -1;
    *state = open_store();
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    return pg_testdb_drop(&testdb);
}

static void usage_counts(void **state)
{
    store *st = *state;
    exec_record r = record("f", EXEC_SCHEDULED);
    store_usage before, after;
    store_txn *t;

    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(pgs_usage_read(t, &before), 0);
    pgs_txn_abort(t);
    r.scheduled_at = r.created_at + 60000;
    put_direct(st, &r, NULL);
    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(pgs_usage_read(t, &after), 0);
    pgs_txn_abort(t);
    assert_true(after.used_bytes > 0);
    assert_int_equal(after.timers, before.timers + 1);
}

/* Past PGS_USAGE_EXACT_MAX timers the count is PostgreSQL's estimate: a bound until the table
 * is analyzed, then the number it counted. */
static void usage_estimates_many_timers(void **state)
{
    enum { N = PGS_USAGE_EXACT_MAX + 2000 };
    store *st = *state;
    store_usage u;
    store_txn *t;

    assert_int_equal(pgs_txn_begin(st, true, &t), 0);
    if (pgs_query((struct pg_txn *)t, "sleepers",
                  "INSERT INTO executions (id, function, state, created_at, wake_at) SELECT '0' || "
                  "lpad(upper(to_hex(g)), 25, '0'), 'sleeper', 'waiting', now(), now() + interval '1 day' "
                  "FROM generate_series(1, " PGS_STR(PGS_USAGE_EXACT_MAX) " + 2000) AS g",
                  0, NULL, NULL) != 0 ||
        pgs_txn_commit(t) != 0)
        fail_msg("%s", store_last_error(st));
    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(pgs_usage_read(t, &u), 0);
    pgs_txn_abort(t);
    assert_int_equal(u.timers, PGS_USAGE_EXACT_MAX + 1); /* never analyzed: counted up to the bound */

    assert_int_equal(pgs_txn_begin(st, true, &t), 0);
    if (pgs_query((struct pg_txn *)t, "analyzing", "ANALYZE executions", 0, NULL, NULL) != 0 ||
        pgs_txn_commit(t) != 0)
        fail_msg("%s", store_last_error(st));
    assert_int_equal(pgs_txn_begin(st, false, &t), 0);
    assert_int_equal(pgs_usage_read(t, &u), 0);
    pgs_txn_abort(t);
    assert_int_equal(u.timers, N); /* ANALYZE read every row of a table this small */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(opens_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(opened_by_url, setup, teardown),
        cmocka_unit_test_setup_teardown(hosts_share_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(a_cancel_is_asked_of_the_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(claims_take_their_part, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stopped_hosts_batch_is_fenced, setup, teardown),
        cmocka_unit_test_setup_teardown(a_restarted_host_takes_over, setup, teardown),
        cmocka_unit_test_setup_teardown(an_idempotency_key_is_taken_once, setup, teardown),
        cmocka_unit_test_setup_teardown(timers_held_elsewhere_are_not_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_url_names_the_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(record_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(times_are_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(function_name_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(metadata_rows_with_a_new_record, setup, teardown),
        cmocka_unit_test_setup_teardown(read_transactions_are_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_taken_at_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(read_transactions_refuse_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_statement_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_is_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(large_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk_is_full, setup, teardown),
        cmocka_unit_test_setup_teardown(session_ended_in_a_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(ended_sessions_leave_the_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(usage_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(usage_estimates_many_timers, setup, teardown),
    };

    /* A zone with daylight saving time: times must not move with the session's zone. */
    setenv("PGTZ", "America/New_York", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
