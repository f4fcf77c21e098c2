/*
 * test_store.c - the store room through its interface (store.h), against a
 * real LMDB environment, each test in its own fresh folder under /tmp that
 * is removed afterwards. Every store is opened by open_test_store, so the
 * tests in main's first group hold for any implementation; the second group
 * is LMDB-only (it uses lmdb.h, the data folder or the map), and the third
 * is store_open_url's schemes and errors.
 *
 * Compiled twice: as unit.test_store (LMDB), and with TARRY_TEST_STORE_PG as
 * unit.test_store_pg, where open_test_store opens a PostgreSQL store on a
 * fresh database per folder name (pg_testdb.h: a clone of the pg_unit
 * fixture's template, dropped at teardown) and the LMDB-only and URL groups
 * are skipped, each saying why.
 *
 * Covered: opening (the folder is created, errors name the folder); every
 * record field round trips (NULL strings too); every index (by_state, by_fn,
 * by_fn_state, timers) follows a record through its state changes and
 * reschedules, and never holds it twice or in the wrong place; listing
 * newest first with limits, exclusive cursors and every filter combination,
 * checked against an in-memory model, with function names that are prefixes
 * of each other; logs in seq order and per execution; the batch path writes
 * exactly what the direct path writes, owns its copies, and applies batches
 * in order; everything survives close and reopen; the map is set once (1 TiB
 * of address space by default, costing no disk); a full map is reported as
 * TARRY_EFULL, writes nothing and leaves reads and smaller writes working,
 * and a store reopened with a larger map takes the same batch; a batch
 * commits on a second thread while the first reads.
 */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <lmdb.h> /* only to make a store from before the pins index */

#include "ids.h"
#include "record.h"
#include "status.h"
#include "store.h"
#include "store_outbox.h"
#ifdef TARRY_TEST_STORE_PG
#include "pg_testdb.h"
#endif

/* ---- fixture: a fresh folder and a store in it, per test ---------------- */

/*
 * Every store these tests open comes from here (the LMDB-only tests at the end excepted), so
 * the same tests can run against another implementation of the store: `dir` names a store
 * that is empty the first time and the same store when opened again. Today: LMDB in that
 * folder, opened by URL.
 */
#ifndef TARRY_TEST_STORE_PG
static int open_test_store(store **out, const char *dir, char *err, size_t errlen)
{
    char url[256];

    snprintf(url, sizeof url, "lmdb:%s", dir);
    return store_open_url(out, url, 0, err, errlen);
}

static void drop_test_stores(void)
{
    /* the folders go with the fixture's */
}
#else
/* PostgreSQL: the database a folder name stands for, made the first time the name is opened. */
#define TEST_STORES_MAX 4
static struct {
    char dir[192];
    pg_testdb db;
} test_stores[TEST_STORES_MAX];

static int open_test_store(store **out, const char *dir, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < TEST_STORES_MAX && test_stores[i].dir[0] && strcmp(test_stores[i].dir, dir) != 0; i++)
        ;
    if (i == TEST_STORES_MAX) {
        snprintf(err, errlen, "more than %d stores in one test", TEST_STORES_MAX);
        return TARRY_EINVAL;
    }
    if (!test_stores[i].dir[0]) {
        if (pg_testdb_create(&test_stores[i].db) != 0) {
            snprintf(err, errlen, "no test database (the reason is above)");
            return TARRY_EIO;
        }
        snprintf(test_stores[i].dir, sizeof test_stores[i].dir, "%s", dir);
    }
    return store_open_url(out, test_stores[i].db.url, 0, err, errlen);
}

/* After the test's stores are closed. */
static void drop_test_stores(void)
{
    for (size_t i = 0; i < TEST_STORES_MAX; i++)
        if (test_stores[i].dir[0]) {
            pg_testdb_drop(&test_stores[i].db);
            test_stores[i].dir[0] = 0;
        }
}
#endif

typedef struct fixture {
    char dir[64];   /* from mkdtemp; removed with everything in it */
    char path[128]; /* dir/data: the store's folder, made by store_open */
    store *st;
    /* Large buffers a test hands to teardown, so they are freed when it fails. */
    store_batch *batch;
    char *big;
} fixture;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256] = "";

    drop_test_stores(); /* an earlier test's, when its teardown did not get there */
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/tarry-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/data", f->dir);
    if (open_test_store(&f->st, f->path, err, sizeof err) != 0) {
        fprintf(stderr, "open_test_store(%s): %s\n", f->path, err);
        drop_test_stores();
        nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    store_batch_free(f->batch); /* before its store */
    store_close(f->st);
    drop_test_stores();
    free(f->big);
    if (nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        perror(f->dir);
        free(f);
        return -1;
    }
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static const char *id_text(const exec_id *id, char buf[ID_TEXT_LEN + 1])
{
    id_format(id, buf);
    return buf;
}

static exec_record record_with_id(const exec_id *id, const char *function, exec_state state)
{
    exec_record r;

    memset(&r, 0, sizeof r);
    r.id = *id;
    r.state = state;
    r.function = function;
    r.args = "{}";
    r.created_at = id_time_ms(id);
    r.plugin_name = "examples";
    r.plugin_version = "0.1.0";
    return r;
}

static exec_record new_record(const char *function, exec_state state)
{
    exec_id id;

    id_new(&id);
    return record_with_id(&id, function, state);
}

static void put_direct(store *st, const exec_record *rec, const exec_record *prev)
{
    store_txn *t;

    assert_int_equal(store_txn_begin(st, true, &t), 0);
    assert_int_equal(store_exec_put(t, rec, prev), 0);
    assert_int_equal(store_txn_commit(t), 0);
}

/* An execution with this id: rows that belong to an execution (its logs, attempts, key,
 * callers) need one in PostgreSQL, which checks that they do; LMDB does not. */
static void put_execution(store *st, const exec_id *id)
{
    exec_record r = record_with_id(id, "owner", EXEC_RUNNING);

    put_direct(st, &r, NULL);
}

/* Write rec in its new state, moving its indexes from the old one. */
static void move_direct(store *st, exec_record *rec, exec_state state)
{
    exec_record prev = *rec;

    rec->state = state;
    put_direct(st, rec, &prev);
}

static void assert_str_or_null(const char *got, const char *expected, const char *field)
{
    if (!expected && !got)
        return;
    if (!expected || !got)
        fail_msg("%s: got %s%s%s, expected %s%s%s", field, got ? "\"" : "", got ? got : "NULL",
                 got ? "\"" : "", expected ? "\"" : "", expected ? expected : "NULL", expected ? "\"" : "");
    if (strcmp(got, expected) != 0)
        fail_msg("%s: got \"%s\", expected \"%s\"", field, got, expected);
}

static void assert_record_equal(const exec_record *got, const exec_record *expected)
{
    assert_memory_equal(got->id.bytes, expected->id.bytes, 16);
    assert_memory_equal(got->parent_id.bytes, expected->parent_id.bytes, 16);
    assert_int_equal(got->state, expected->state);
    assert_int_equal(got->attempts, expected->attempts);
    assert_int_equal(got->crashes, expected->crashes);
    assert_int_equal(got->created_at, expected->created_at);
    assert_int_equal(got->scheduled_at, expected->scheduled_at);
    assert_int_equal(got->started_at, expected->started_at);
    assert_int_equal(got->finished_at, expected->finished_at);
    assert_str_or_null(got->function, expected->function, "function");
    assert_str_or_null(got->args, expected->args, "args");
    assert_str_or_null(got->metadata, expected->metadata, "metadata");
    assert_str_or_null(got->result, expected->result, "result");
    assert_str_or_null(got->error, expected->error, "error");
    assert_str_or_null(got->plugin_name, expected->plugin_name, "plugin_name");
    assert_str_or_null(got->plugin_version, expected->plugin_version, "plugin_version");
}

static void assert_stored(store *st, const exec_record *expected)
{
    store_txn *t;
    exec_record got;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_exec_get(t, &expected->id, &got), 0);
    assert_record_equal(&got, expected);
    store_txn_abort(t);
}

/* What a scan or listing handed its callback, checked against its filter. */
#define MAX_SEEN 512
typedef struct seen {
    const char *want_function; /* non-NULL: every record must have it */
    exec_state want_state;     /* not EXEC_NONE: every record must be in it */
    size_t n;
    exec_id ids[MAX_SEEN];
} seen;

static int see(void *user, const exec_record *rec)
{
    seen *s = user;
    char text[ID_TEXT_LEN + 1];

    if (s->n == MAX_SEEN)
        fail_msg("more than %d records", MAX_SEEN);
    if (s->want_function && strcmp(rec->function, s->want_function) != 0)
        fail_msg("a listing of function \"%s\" returned %s of function \"%s\"", s->want_function,
                 id_text(&rec->id, text), rec->function);
    if (s->want_state != EXEC_NONE && rec->state != s->want_state)
        fail_msg("a %s listing returned %s, which is %s", exec_state_name(s->want_state),
                 id_text(&rec->id, text), exec_state_name(rec->state));
    s->ids[s->n++] = rec->id;
    return 0;
}

static size_t seen_count(const seen *s, const exec_id *id)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n; i++)
        n += id_compare(&s->ids[i], id) == 0;
    return n;
}

/* One page of a listing into *out; returns *more. */
static bool list_page(store_txn *t, const char *function, exec_state state, const exec_id *before,
                      size_t limit, seen *out)
{
    store_list_query q = {function, state, before, limit};
    bool more = limit != 0; /* the unlikely answer: a call that never sets it is caught */

    memset(out, 0, sizeof *out);
    out->want_function = function;
    out->want_state = state;
    assert_int_equal(store_exec_list(t, &q, see, out, &more), 0);
    if (out->n > limit)
        fail_msg("limit %zu, got %zu records", limit, out->n);
    return more;
}

static size_t scan_state_count(store_txn *t, exec_state state, const exec_id *id)
{
    seen s = {NULL, state, 0, {{{0}}}};

    assert_int_equal(store_exec_scan_state(t, state, see, &s), 0);
    return seen_count(&s, id);
}

static size_t list_count(store_txn *t, const char *function, exec_state state, const exec_id *id)
{
    seen s;

    assert_false(list_page(t, function, state, NULL, MAX_SEEN, &s));
    return seen_count(&s, id);
}

typedef struct due_seen {
    int64_t now;
    size_t n;
    exec_id ids[MAX_SEEN];
    int64_t due[MAX_SEEN];
} due_seen;

static int see_due(void *user, const exec_record *rec)
{
    due_seen *d = user;

    assert_true(d->n < MAX_SEEN);
    assert_int_equal(rec->state, EXEC_SCHEDULED);
    if (rec->scheduled_at > d->now)
        fail_msg("timer scan at %lld returned a record due at %lld", (long long)d->now,
                 (long long)rec->scheduled_at);
    d->ids[d->n] = rec->id;
    d->due[d->n++] = rec->scheduled_at;
    return 0;
}

static void scan_due(store *st, int64_t now, due_seen *out)
{
    store_txn *t;

    memset(out, 0, sizeof *out);
    out->now = now;
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_timer_scan_due(t, now, see_due, out), 0);
    store_txn_abort(t);
}

/*
 * rec is in exactly the indexes its state and function call for, once each:
 * by_state and by_fn_state under its state only, by_fn, the unfiltered
 * listing, and timers if and only if it is scheduled.
 */
static void assert_indexed_as(store *st, const exec_record *rec)
{
    char text[ID_TEXT_LEN + 1];
    store_txn *t;
    due_seen timers;
    size_t n;

    id_text(&rec->id, text);
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    for (exec_state s = EXEC_SCHEDULED; s < EXEC_STATE_COUNT; s++) {
        size_t want = s == rec->state;
        if ((n = scan_state_count(t, s, &rec->id)) != want)
            fail_msg("%s (%s): store_exec_scan_state(%s) has it %zu times, expected %zu", text,
                     exec_state_name(rec->state), exec_state_name(s), n, want);
        if ((n = list_count(t, NULL, s, &rec->id)) != want)
            fail_msg("%s (%s): listing state %s has it %zu times, expected %zu", text,
                     exec_state_name(rec->state), exec_state_name(s), n, want);
        if ((n = list_count(t, rec->function, s, &rec->id)) != want)
            fail_msg("%s (%s): listing %s+%s has it %zu times, expected %zu", text,
                     exec_state_name(rec->state), rec->function, exec_state_name(s), n, want);
    }
    if ((n = list_count(t, rec->function, EXEC_NONE, &rec->id)) != 1)
        fail_msg("%s: listing function %s has it %zu times, expected 1", text, rec->function, n);
    if ((n = list_count(t, NULL, EXEC_NONE, &rec->id)) != 1)
        fail_msg("%s: the unfiltered listing has it %zu times, expected 1", text, n);
    store_txn_abort(t);

    scan_due(st, INT64_MAX, &timers);
    n = 0;
    for (size_t i = 0; i < timers.n; i++)
        n += id_compare(&timers.ids[i], &rec->id) == 0;
    if (n != (rec->state == EXEC_SCHEDULED))
        fail_msg("%s (%s): timers have it %zu times", text, exec_state_name(rec->state), n);
    assert_stored(st, rec);
}

/* ---- a canonical text of everything in a store --------------------------- */

typedef struct dumper {
    FILE *out;
    store_txn *txn;
} dumper;

static void dump_string(FILE *out, const char *name, const char *s)
{
    if (s)
        fprintf(out, " %s=%zu:\"%s\"", name, strlen(s), s);
    else
        fprintf(out, " %s=NULL", name);
}

static int dump_log_line(void *user, const store_log_line *line)
{
    fprintf(user, "  log seq=%u time=%lld level=%d text=\"%s\"\n", line->seq, (long long)line->time_ms,
            line->level, line->text);
    return 0;
}

static int dump_record(void *user, const exec_record *r)
{
    dumper *d = user;
    char id[ID_TEXT_LEN + 1], parent[ID_TEXT_LEN + 1];

    fprintf(d->out, "exec %s parent=%s state=%s attempts=%u crashes=%u times=%lld,%lld,%lld,%lld",
            id_text(&r->id, id), id_text(&r->parent_id, parent), exec_state_name(r->state), r->attempts,
            r->crashes, (long long)r->created_at, (long long)r->scheduled_at, (long long)r->started_at,
            (long long)r->finished_at);
    dump_string(d->out, "function", r->function);
    dump_string(d->out, "args", r->args);
    dump_string(d->out, "metadata", r->metadata);
    dump_string(d->out, "result", r->result);
    dump_string(d->out, "error", r->error);
    dump_string(d->out, "plugin_name", r->plugin_name);
    dump_string(d->out, "plugin_version", r->plugin_version);
    fputc('\n', d->out);
    /* A second cursor in the same transaction, inside the listing's. */
    assert_int_equal(store_log_scan(d->txn, &r->id, dump_log_line, d->out), 0);
    return 0;
}

static int dump_id(void *user, const exec_record *r)
{
    dumper *d = user;
    char id[ID_TEXT_LEN + 1];

    fprintf(d->out, " %s", id_text(&r->id, id));
    return 0;
}

static int dump_timer(void *user, const exec_record *r)
{
    dumper *d = user;
    char id[ID_TEXT_LEN + 1];

    fprintf(d->out, " %s@%lld", id_text(&r->id, id), (long long)r->scheduled_at);
    return 0;
}

/* Every record with its logs, then every index as seen through the API. */
static char *store_dump(store *st, const char *const *functions, size_t function_count)
{
    char *text = NULL, id[ID_TEXT_LEN + 1];
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    store_list_query all = {NULL, EXEC_NONE, NULL, SIZE_MAX};
    dumper d = {out, NULL};
    exec_id first_id;
    int64_t first_due;
    bool more;
    int rc;

    assert_non_null(out);
    assert_int_equal(store_txn_begin(st, false, &d.txn), 0);
    assert_int_equal(store_exec_list(d.txn, &all, dump_record, &d, &more), 0);
    for (exec_state s = EXEC_SCHEDULED; s < EXEC_STATE_COUNT; s++) {
        fprintf(out, "by_state %s:", exec_state_name(s));
        assert_int_equal(store_exec_scan_state(d.txn, s, dump_id, &d), 0);
        fputc('\n', out);
    }
    for (size_t i = 0; i < function_count; i++) {
        store_list_query q = {functions[i], EXEC_NONE, NULL, SIZE_MAX};
        fprintf(out, "by_fn %s:", functions[i]);
        assert_int_equal(store_exec_list(d.txn, &q, dump_id, &d, &more), 0);
        fputc('\n', out);
        for (q.state = EXEC_SCHEDULED; q.state < EXEC_STATE_COUNT; q.state++) {
            fprintf(out, "by_fn_state %s %s:", functions[i], exec_state_name(q.state));
            assert_int_equal(store_exec_list(d.txn, &q, dump_id, &d, &more), 0);
            fputc('\n', out);
        }
    }
    fprintf(out, "timers:");
    assert_int_equal(store_timer_scan_due(d.txn, INT64_MAX, dump_timer, &d), 0);
    rc = store_timer_first(d.txn, &first_due, &first_id);
    if (rc == 0)
        fprintf(out, "\nfirst timer %s@%lld\n", id_text(&first_id, id), (long long)first_due);
    else
        fprintf(out, "\nfirst timer: %s\n", status_str(rc));
    store_txn_abort(d.txn);
    fclose(out);
    return text;
}

/* ---- a write path that is either a direct transaction or a batch --------- */

typedef struct writer {
    store *st;
    store_txn *txn;     /* the direct path: an open write transaction */
    store_batch *batch; /* the batch path */
} writer;

static void writer_begin(writer *w)
{
    if (!w->batch)
        assert_int_equal(store_txn_begin(w->st, true, &w->txn), 0);
}

static void writer_commit(writer *w)
{
    if (w->batch) {
        assert_int_equal(store_batch_commit(w->st, w->batch), 0);
        store_batch_reset(w->batch);
    } else {
        assert_int_equal(store_txn_commit(w->txn), 0);
        w->txn = NULL;
    }
}

static void writer_put(writer *w, const exec_record *rec, const exec_record *prev)
{
    if (w->batch)
        assert_int_equal(store_batch_exec_put(w->batch, rec, prev), 0);
    else
        assert_int_equal(store_exec_put(w->txn, rec, prev), 0);
}

static void writer_move(writer *w, exec_record *rec, exec_state state)
{
    exec_record prev = *rec;

    rec->state = state;
    writer_put(w, rec, &prev);
}

static void writer_log(writer *w, const exec_id *id, uint32_t seq, int level, const char *text)
{
    store_log_line line = {seq, 1700000000000LL + seq, level, text, 0};

    if (w->batch)
        assert_int_equal(store_batch_log_put(w->batch, id, &line), 0);
    else
        assert_int_equal(store_log_put(w->txn, id, &line), 0);
}

#define SCENARIO_IDS 6
static const char *const scenario_functions[] = {"send", "send_email", "charge", "sen"};

/*
 * Three commits of creations, state moves (several in one commit),
 * reschedules, moves out of scheduled, updates that keep the state, NULL and
 * empty strings, parents and log lines.
 */
static void run_scenario(writer *w, const exec_id ids[SCENARIO_IDS])
{
    exec_record a = record_with_id(&ids[0], "send", EXEC_QUEUED);
    exec_record b = record_with_id(&ids[1], "send_email", EXEC_SCHEDULED);
    exec_record c = record_with_id(&ids[2], "send", EXEC_SCHEDULED);
    exec_record d = record_with_id(&ids[3], "charge", EXEC_RUNNING);
    exec_record e = record_with_id(&ids[4], "sen", EXEC_BLOCKED);
    exec_record g = record_with_id(&ids[5], "send", EXEC_SCHEDULED);
    exec_record prev;

    writer_begin(w);
    a.args = "{\"to\":\"a@example.com\"}";
    a.metadata = "{\"tenant\":1}";
    writer_put(w, &a, NULL);
    b.parent_id = a.id;
    b.scheduled_at = 5000;
    writer_put(w, &b, NULL);
    c.scheduled_at = 7000;
    writer_put(w, &c, NULL);
    d.args = "";
    d.metadata = "{}";
    d.result = "{\"partial\":true}";
    d.error = "";
    d.attempts = 1;
    d.started_at = d.created_at + 1;
    writer_put(w, &d, NULL);
    g.scheduled_at = 7000; /* the same due time as c: ordered by id */
    writer_put(w, &g, NULL);
    writer_log(w, &a.id, 2, 1, "second");
    writer_log(w, &a.id, 1, 0, "first");
    writer_log(w, &d.id, 1, 3, "");
    writer_commit(w);

    writer_begin(w);
    a.attempts = 1;
    a.started_at = a.created_at + 10;
    writer_move(w, &a, EXEC_RUNNING);
    prev = b;
    b.scheduled_at = 9000; /* rescheduled, still scheduled */
    writer_put(w, &b, &prev);
    writer_move(w, &c, EXEC_QUEUED);
    d.result = "{\"ok\":true}";
    d.error = NULL;
    d.finished_at = d.started_at + 5;
    writer_move(w, &d, EXEC_SUCCEEDED);
    e.plugin_name = NULL;
    e.plugin_version = NULL;
    e.args = NULL;
    writer_put(w, &e, NULL);
    writer_log(w, &b.id, 0xffffffffu, 2, "last seq");
    writer_commit(w);

    writer_begin(w);
    writer_move(w, &a, EXEC_WAITING);
    writer_move(w, &a, EXEC_RUNNING);
    a.crashes = 2;
    a.attempts = 3;
    prev = a;
    writer_put(w, &a, &prev); /* same state, same due time: fields only */
    a.error = "boom";
    a.finished_at = a.started_at + 100;
    writer_move(w, &a, EXEC_FAILED);
    writer_move(w, &c, EXEC_CANCELLED);
    writer_move(w, &g, EXEC_QUEUED);
    writer_log(w, &a.id, 3, 2, "third");
    writer_commit(w);
}

/* ---- tests --------------------------------------------------------------- */

static void test_open_creates_folder(void **state)
{
    fixture *f = *state;
    char fresh[192], file[256], err[256] = "";
    struct stat sb;
    store *st;

    snprintf(fresh, sizeof fresh, "%s/fresh", f->dir);
    assert_int_equal(stat(fresh, &sb), -1);
    assert_int_equal(store_open(&st, fresh, 0, err, sizeof err), 0);
    assert_int_equal(stat(fresh, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    snprintf(file, sizeof file, "%s/data.mdb", fresh);
    assert_int_equal(stat(file, &sb), 0);
    assert_string_equal(store_last_error(st), "no error");
    store_close(st);

    /* Opening an existing store again works. */
    assert_int_equal(store_open(&st, fresh, 0, err, sizeof err), 0);
    store_close(st);
    store_close(NULL);
}

static void test_open_errors_name_the_folder(void **state)
{
    fixture *f = *state;
    char missing[192], plain[192], err[256];
    store *st = NULL;
    FILE *fp;

    /* Only the last folder is created, not its parents. */
    snprintf(missing, sizeof missing, "%s/no/such/parent", f->dir);
    err[0] = '\0';
    assert_int_equal(store_open(&st, missing, 0, err, sizeof err), TARRY_EIO);
    if (!strstr(err, missing))
        fail_msg("\"%s\" does not name %s", err, missing);

    /* A file where the folder should be. */
    snprintf(plain, sizeof plain, "%s/plain", f->dir);
    assert_non_null(fp = fopen(plain, "w"));
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(store_open(&st, plain, 0, err, sizeof err), TARRY_EIO);
    if (!strstr(err, plain))
        fail_msg("\"%s\" does not name %s", err, plain);
    assert_null(st);
}

static void test_record_round_trip(void **state)
{
    fixture *f = *state;
    exec_record full = new_record("charge_card", EXEC_WAITING);
    exec_record sparse = new_record("f", EXEC_QUEUED);
    exec_record empty_strings = new_record("g", EXEC_QUEUED);

    id_new(&full.parent_id);
    full.attempts = 4294967295u;
    full.crashes = 0x12345678u;
    full.created_at = 1700000000123LL;
    full.scheduled_at = -1; /* not a timer: any value round trips */
    full.started_at = INT64_MAX;
    full.finished_at = INT64_MIN;
    full.args = "{\"amount\":1200,\"currency\":\"EUR\",\"note\":\"caf\xc3\xa9\"}";
    full.metadata = "{\"trace\":\"abc\"}";
    full.result = "[1,2,3]";
    full.error = "card declined\nline two";
    full.plugin_name = "payments";
    full.plugin_version = "2.3.4-rc.1";
    put_direct(f->st, &full, NULL);

    sparse.args = NULL;
    sparse.plugin_name = NULL;
    sparse.plugin_version = NULL;
    put_direct(f->st, &sparse, NULL);

    empty_strings.args = "";
    empty_strings.metadata = "";
    empty_strings.result = "";
    empty_strings.error = "";
    empty_strings.plugin_name = "";
    empty_strings.plugin_version = "";
    put_direct(f->st, &empty_strings, NULL);

    assert_stored(f->st, &full);
    assert_stored(f->st, &sparse);
    assert_stored(f->st, &empty_strings);

    /* A later write replaces every field. */
    exec_record prev = full;
    full.metadata = NULL;
    full.result = NULL;
    full.error = NULL;
    full.attempts = 0;
    memset(&full.parent_id, 0, sizeof full.parent_id);
    full.state = EXEC_RUNNING;
    put_direct(f->st, &full, &prev);
    assert_stored(f->st, &full);
}

static void test_missing_id_is_not_found(void **state)
{
    fixture *f = *state;
    exec_record rec = new_record("f", EXEC_QUEUED), out;
    exec_id missing;
    store_txn *t;
    int64_t due;

    put_direct(f->st, &rec, NULL);
    id_new(&missing);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_exec_get(t, &missing, &out), TARRY_ENOTFOUND);
    assert_int_equal(store_timer_first(t, &due, &missing), TARRY_ENOTFOUND);
    assert_int_equal(store_exec_get(t, &rec.id, &out), 0);
    store_txn_commit(t); /* committing a read transaction ends it too */
}

static void test_function_name_limit(void **state)
{
    fixture *f = *state;
    char longest[129], too_long[130];
    exec_record ok, bad;
    store_batch *b = store_batch_new(f->st);
    store_txn *t;
    seen s;

    memset(longest, 'f', 128);
    longest[128] = '\0';
    memset(too_long, 'f', 129);
    too_long[129] = '\0';
    ok = new_record(longest, EXEC_QUEUED);
    bad = new_record(too_long, EXEC_QUEUED);

    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_exec_put(t, &bad, NULL), TARRY_EINVAL);
    assert_int_equal(store_exec_put(t, &ok, NULL), 0);
    assert_int_equal(store_txn_commit(t), 0);

    assert_non_null(b);
    assert_int_equal(store_batch_exec_put(b, &bad, NULL), TARRY_EINVAL);
    assert_true(store_batch_empty(b));
    assert_int_equal(store_batch_commit(f->st, b), 0);
    store_batch_free(b);

    assert_indexed_as(f->st, &ok);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_false(list_page(t, too_long, EXEC_NONE, NULL, 10, &s));
    assert_int_equal(s.n, 0);
    assert_false(list_page(t, too_long, EXEC_QUEUED, NULL, 10, &s));
    assert_int_equal(s.n, 0);
    assert_int_equal(store_exec_get(t, &bad.id, &ok), TARRY_ENOTFOUND);
    store_txn_abort(t);
}

static void test_indexes_follow_state_changes(void **state)
{
    fixture *f = *state;
    exec_record x = new_record("send", EXEC_QUEUED);
    exec_record bystander = new_record("send", EXEC_QUEUED);
    exec_record y = new_record("send_email", EXEC_SCHEDULED);
    exec_record prev;

    put_direct(f->st, &bystander, NULL);
    put_direct(f->st, &x, NULL);
    assert_indexed_as(f->st, &x);
    x.attempts = 1;
    x.started_at = x.created_at + 1;
    move_direct(f->st, &x, EXEC_RUNNING);
    assert_indexed_as(f->st, &x);
    /* The same state again (only fields change): indexes stay put, once. */
    prev = x;
    x.crashes = 1;
    put_direct(f->st, &x, &prev);
    assert_indexed_as(f->st, &x);
    x.result = "42";
    x.finished_at = x.started_at + 1;
    move_direct(f->st, &x, EXEC_SUCCEEDED);
    assert_indexed_as(f->st, &x);
    assert_indexed_as(f->st, &bystander);

    y.scheduled_at = 1000;
    put_direct(f->st, &y, NULL);
    assert_indexed_as(f->st, &y);
    static const exec_state path[] = {EXEC_QUEUED,    EXEC_RUNNING, EXEC_WAITING, EXEC_RUNNING, EXEC_BLOCKED,
                                      EXEC_SCHEDULED, EXEC_QUEUED,  EXEC_RUNNING, EXEC_FAILED};
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
        move_direct(f->st, &y, path[i]);
        assert_indexed_as(f->st, &y);
    }
    assert_indexed_as(f->st, &x);
    assert_indexed_as(f->st, &bystander);
}

static void test_timers(void **state)
{
    fixture *f = *state;
    exec_record late = new_record("tick", EXEC_SCHEDULED);
    exec_record early = new_record("tick", EXEC_SCHEDULED);
    exec_record middle = new_record("tock", EXEC_SCHEDULED);
    exec_record tie = new_record("tock", EXEC_SCHEDULED); /* created after middle, same due */
    exec_record queued = new_record("tick", EXEC_QUEUED);
    exec_record prev;
    store_txn *t;
    exec_id first;
    int64_t due;
    due_seen d;
    /* Real Unix-ms due times: the timer key must keep all 64 bits. */
    const int64_t at = 1700000000000LL;

    late.scheduled_at = at + 3000;
    early.scheduled_at = at + 1000;
    middle.scheduled_at = at + 2000;
    tie.scheduled_at = at + 2000;
    queued.scheduled_at = at + 500; /* not scheduled: no timer whatever this says */
    put_direct(f->st, &late, NULL);
    put_direct(f->st, &tie, NULL);
    put_direct(f->st, &early, NULL);
    put_direct(f->st, &middle, NULL);
    put_direct(f->st, &queued, NULL);

    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_timer_first(t, &due, &first), 0);
    store_txn_abort(t);
    assert_int_equal(due, at + 1000);
    assert_memory_equal(first.bytes, early.id.bytes, 16);

    scan_due(f->st, at + 999, &d);
    assert_int_equal(d.n, 0);
    scan_due(f->st, at + 1000, &d); /* due at now counts */
    assert_int_equal(d.n, 1);
    assert_memory_equal(d.ids[0].bytes, early.id.bytes, 16);
    scan_due(f->st, at + 2500, &d); /* earliest first, ties by id */
    assert_int_equal(d.n, 3);
    assert_memory_equal(d.ids[0].bytes, early.id.bytes, 16);
    assert_memory_equal(d.ids[1].bytes, middle.id.bytes, 16);
    assert_memory_equal(d.ids[2].bytes, tie.id.bytes, 16);
    scan_due(f->st, INT64_MAX, &d);
    assert_int_equal(d.n, 4);
    assert_memory_equal(d.ids[3].bytes, late.id.bytes, 16);

    /* Reschedule the earliest past the others: its old timer is gone. */
    prev = early;
    early.scheduled_at = at + 5000;
    put_direct(f->st, &early, &prev);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_timer_first(t, &due, &first), 0);
    store_txn_abort(t);
    assert_int_equal(due, at + 2000);
    assert_memory_equal(first.bytes, middle.id.bytes, 16);
    scan_due(f->st, at + 1500, &d);
    assert_int_equal(d.n, 0);
    scan_due(f->st, INT64_MAX, &d);
    assert_int_equal(d.n, 4);
    assert_memory_equal(d.ids[3].bytes, early.id.bytes, 16);
    assert_int_equal(d.due[3], at + 5000);

    /* Reschedule earlier. */
    prev = late;
    late.scheduled_at = at + 10;
    put_direct(f->st, &late, &prev);
    scan_due(f->st, at + 2999, &d);
    assert_int_equal(d.n, 3);
    assert_memory_equal(d.ids[0].bytes, late.id.bytes, 16);

    /* Leaving scheduled leaves the timers, whatever scheduled_at says. */
    move_direct(f->st, &middle, EXEC_QUEUED);
    move_direct(f->st, &late, EXEC_CANCELLED);
    prev = tie;
    tie.state = EXEC_QUEUED;
    tie.scheduled_at = 0; /* state and due time change together */
    put_direct(f->st, &tie, &prev);
    scan_due(f->st, INT64_MAX, &d);
    assert_int_equal(d.n, 1);
    assert_memory_equal(d.ids[0].bytes, early.id.bytes, 16);

    /* Back into scheduled: a timer again, at the new time. */
    prev = middle;
    middle.state = EXEC_SCHEDULED;
    middle.scheduled_at = at + 4000;
    put_direct(f->st, &middle, &prev);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_timer_first(t, &due, &first), 0);
    store_txn_abort(t);
    assert_int_equal(due, at + 4000);
    assert_memory_equal(first.bytes, middle.id.bytes, 16);

    move_direct(f->st, &middle, EXEC_RUNNING);
    move_direct(f->st, &early, EXEC_DISCARDED);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_timer_first(t, &due, &first), TARRY_ENOTFOUND);
    store_txn_abort(t);
    assert_indexed_as(f->st, &early);
    assert_indexed_as(f->st, &middle);
    assert_indexed_as(f->st, &queued);
}

static int64_t first_timer(store *st)
{
    store_txn *t;
    int64_t due = -1;
    exec_id id;
    int rc;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    rc = store_timer_first(t, &due, &id);
    store_txn_abort(t);
    return rc == 0 ? due : -1;
}

/* An unstarted execution with a discard_at is due by then, scheduled or queued (engine_cancel.c);
 * once started (attempts > 0) its discard_at no longer sets a timer. */
static void test_discard_timers(void **state)
{
    fixture *f = *state;
    const int64_t at = 1700000000000LL;
    exec_record q = new_record("tick", EXEC_QUEUED), s = new_record("tick", EXEC_SCHEDULED), prev;

    q.discard_at = at + 1000;
    put_direct(f->st, &q, NULL);
    assert_int_equal(first_timer(f->st), at + 1000); /* queued, unstarted: its discard time */

    prev = q;
    q.state = EXEC_RUNNING;
    q.attempts = 1;
    put_direct(f->st, &q, &prev);
    assert_int_equal(first_timer(f->st), -1); /* started: no timer */

    prev = q;
    q.state = EXEC_SCHEDULED; /* a retry waits: its discard_at no longer counts */
    q.scheduled_at = at + 5000;
    put_direct(f->st, &q, &prev);
    assert_int_equal(first_timer(f->st), at + 5000);
    prev = q;
    q.state = EXEC_CANCELLED;
    put_direct(f->st, &q, &prev);
    assert_int_equal(first_timer(f->st), -1);

    s.scheduled_at = at + 9000;
    s.discard_at = at + 2000; /* before its start: due at the discard time */
    put_direct(f->st, &s, NULL);
    assert_int_equal(first_timer(f->st), at + 2000);
    prev = s;
    s.scheduled_at = at + 1500; /* rescheduled before it: the start comes first */
    put_direct(f->st, &s, &prev);
    assert_int_equal(first_timer(f->st), at + 1500);
    prev = s;
    s.state = EXEC_DISCARDED;
    put_direct(f->st, &s, &prev);
    assert_int_equal(first_timer(f->st), -1);
}

static int add_rerun_id(void *user, const exec_id *id)
{
    seen *s = user;
    s->ids[s->n++] = *id;
    return 0;
}

/* A re-run's first record indexes it under its original, oldest first. */
static void test_reruns(void **state)
{
    fixture *f = *state;
    exec_record orig = new_record("tick", EXEC_SUCCEEDED);
    exec_record one = new_record("tick", EXEC_QUEUED), two = new_record("tick", EXEC_QUEUED), prev, back;
    store_txn *t;
    seen got;

    put_direct(f->st, &orig, NULL);
    one.rerun_of = orig.id;
    two.rerun_of = orig.id;
    put_direct(f->st, &one, NULL);
    put_direct(f->st, &two, NULL);
    prev = one;
    one.state = EXEC_SUCCEEDED; /* later writes leave the index as it is */
    put_direct(f->st, &one, &prev);

    memset(&got, 0, sizeof got);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_reruns_scan(t, &orig.id, add_rerun_id, &got), 0);
    assert_int_equal(got.n, 2);
    assert_memory_equal(got.ids[0].bytes, one.id.bytes, 16);
    assert_memory_equal(got.ids[1].bytes, two.id.bytes, 16);
    got.n = 0;
    assert_int_equal(store_reruns_scan(t, &one.id, add_rerun_id, &got), 0);
    assert_int_equal(got.n, 0);
    assert_int_equal(store_exec_get(t, &two.id, &back), 0);
    assert_memory_equal(back.rerun_of.bytes, orig.id.bytes, 16);
    store_txn_abort(t);
}

static int count_rows(void *user, int64_t expire_at, const exec_id *id)
{
    (void)expire_at;
    (void)id;
    (*(int *)user)++;
    return 0;
}

static int count_journal(void *user, const journal_entry *e)
{
    (void)e;
    (*(int *)user)++;
    return 0;
}

static int64_t retention_10s(void *user, const char *function)
{
    (void)user;
    return strcmp(function, "forever") == 0 ? 0 : 10000;
}

/* Retention: rows by expiry, a purge deletes the execution and every row of it in one commit,
 * a parent with an unfinished child is postponed, and the build indexes old stores once. */
static void test_retention(void **state)
{
    fixture *f = *state;
    exec_record done = new_record("tick", EXEC_SUCCEEDED), kid = new_record("tick", EXEC_WAITING);
    exec_record parent = new_record("tick", EXEC_FAILED), old = new_record("forever", EXEC_SUCCEEDED);
    exec_record rerun = new_record("tick", EXEC_SUCCEEDED), back;
    journal_entry j = {.seq = 0, .kind = JOURNAL_CALL, .status = JOURNAL_PENDING, .name = "kid"};
    journal_entry step = {.seq = 0, .kind = JOURNAL_STEP, .name = "s"};
    store_log_line line = {0, 1, TARRY_LOG_INFO, "hello", 0};
    store_attempt a = {.number = 1, .outcome = EXEC_SUCCEEDED};
    store_retention_info info;
    store_batch *b = store_batch_new(f->st);
    store_txn *t;
    int64_t at;
    exec_id first;
    int rows = 0, entries = 0;
    uint64_t n;

    done.finished_at = 1000;
    done.metadata = "{\"team\":\"a\"}";
    parent.finished_at = 2000;
    rerun.rerun_of = done.id;
    rerun.finished_at = 3000;
    put_direct(f->st, &done, NULL);
    put_direct(f->st, &kid, NULL);
    put_direct(f->st, &parent, NULL);
    put_direct(f->st, &old, NULL);
    put_direct(f->st, &rerun, NULL);
    j.child = kid.id;
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_journal_put(t, &done.id, &step), 0);
    assert_int_equal(store_journal_put(t, &parent.id, &j), 0);
    assert_int_equal(store_log_put(t, &done.id, &line), 0);
    assert_int_equal(store_attempt_put(t, &done.id, &a), 0);
    assert_int_equal(store_txn_commit(t), 0);

    /* The build writes rows for final executions (not "forever"), once. */
    assert_int_equal(store_retention_build(f->st, retention_10s, NULL), 0);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_retention_due(t, INT64_MAX, count_rows, &rows), 0);
    assert_int_equal(rows, 3); /* done, parent, rerun */
    assert_int_equal(store_retention_first(t, &at, &first), 0);
    assert_int_equal(at, 11000);
    assert_memory_equal(first.bytes, done.id.bytes, 16);
    assert_int_equal(store_retention_info_get(t, &info), 0);
    assert_true(info.built);
    store_txn_abort(t);
    assert_int_equal(store_retention_build(f->st, retention_10s, NULL), 0); /* a no-op now */

    /* Purge two: done goes with its journal, logs, attempts, indexes and its re-runs' row;
     * parent stays (its child is waiting), its row moved to 99000. */
    assert_int_equal(store_batch_exec_purge(b, 11000, &done.id, 99000), 0);
    assert_int_equal(store_batch_exec_purge(b, 12000, &parent.id, 99000), 0);
    if (store_batch_commit(f->st, b) != 0)
        fail_msg("purge commit: %s", store_last_error(f->st));
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_exec_get(t, &done.id, &back), TARRY_ENOTFOUND);
    assert_int_equal(store_journal_scan(t, &done.id, count_journal, &entries), 0);
    assert_int_equal(entries, 0);
    assert_int_equal(store_exec_count(t, "tick", EXEC_SUCCEEDED, 100, &n), 0);
    assert_int_equal(n, 1); /* the re-run */
    assert_int_equal(store_exec_get(t, &parent.id, &back), 0);
    assert_int_equal(store_retention_first(t, &at, &first), 0);
    assert_int_equal(at, 13000);
    assert_memory_equal(first.bytes, rerun.id.bytes, 16);
    rows = 0;
    assert_int_equal(store_retention_due(t, 99000, count_rows, &rows), 0);
    assert_int_equal(rows, 2); /* rerun, and parent at 99000 */
    assert_int_equal(store_retention_info_get(t, &info), 0);
    assert_int_equal(info.deleted, 1);
    assert_int_equal(info.purged_before, 1000);
    store_txn_abort(t);
    store_batch_free(b);
}

static void test_list_pages(void **state)
{
    fixture *f = *state;
    exec_record recs[25];
    const char *fns[] = {NULL, "page", NULL, "page"};
    exec_state states[] = {EXEC_NONE, EXEC_NONE, EXEC_QUEUED, EXEC_QUEUED};
    store_txn *t;
    seen page;

    for (int i = 0; i < 25; i++) {
        recs[i] = new_record("page", EXEC_QUEUED);
        put_direct(f->st, &recs[i], NULL);
    }
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    for (int k = 0; k < 4; k++) {
        const exec_id *cursor = NULL;
        int next = 24; /* newest first */
        static const size_t sizes[] = {10, 10, 5};
        static const bool mores[] = {true, true, false};

        for (int p = 0; p < 3; p++) {
            bool more = list_page(t, fns[k], states[k], cursor, 10, &page);
            if (page.n != sizes[p] || more != mores[p])
                fail_msg("query %d page %d: %zu records, more=%d; expected %zu, more=%d", k, p, page.n, more,
                         sizes[p], mores[p]);
            for (size_t i = 0; i < page.n; i++, next--)
                assert_memory_equal(page.ids[i].bytes, recs[next].id.bytes, 16);
            cursor = &recs[next + 1].id; /* the last id seen */
        }
        assert_int_equal(next, -1);

        /* Limits at the edges. */
        assert_true(list_page(t, fns[k], states[k], NULL, 0, &page));
        assert_int_equal(page.n, 0);
        assert_true(list_page(t, fns[k], states[k], NULL, 24, &page));
        assert_int_equal(page.n, 24);
        assert_false(list_page(t, fns[k], states[k], NULL, 25, &page));
        assert_int_equal(page.n, 25);
        assert_false(list_page(t, fns[k], states[k], &recs[20].id, 20, &page));
        assert_int_equal(page.n, 20);
        assert_memory_equal(page.ids[0].bytes, recs[19].id.bytes, 16);
        assert_false(list_page(t, fns[k], states[k], &recs[0].id, 10, &page));
        assert_int_equal(page.n, 0);
        assert_true(list_page(t, fns[k], states[k], &recs[1].id, 0, &page));
        assert_false(list_page(t, fns[k], states[k], &recs[1].id, 1, &page));
        assert_int_equal(page.n, 1);
        assert_memory_equal(page.ids[0].bytes, recs[0].id.bytes, 16);
    }
    store_txn_abort(t);
}

/*
 * 96 records over four functions that are prefixes of each other, moved
 * through states; every filter combination, page size and cursor against
 * an in-memory model.
 */
#define MODEL_SIZE 96
static const char *const model_functions[] = {"sen", "send", "send_email", "sends"};

/* Check one page against the model; returns its size, *last gets its last id. */
static size_t expect_page(store_txn *t, const exec_record *model, const char *function, exec_state state,
                          const exec_id *before, size_t limit, exec_id *last)
{
    exec_id want[MODEL_SIZE];
    size_t n_want = 0, expect_n;
    bool more;
    seen got;

    for (int i = MODEL_SIZE - 1; i >= 0; i--) {
        if (function && strcmp(model[i].function, function) != 0)
            continue;
        if (state != EXEC_NONE && model[i].state != state)
            continue;
        if (before && id_compare(&model[i].id, before) >= 0)
            continue;
        want[n_want++] = model[i].id;
    }
    more = list_page(t, function, state, before, limit, &got);
    expect_n = n_want < limit ? n_want : limit;
    if (got.n != expect_n || more != (n_want > limit))
        fail_msg("function=%s state=%s limit=%zu: %zu records, more=%d; expected %zu, more=%d",
                 function ? function : "(any)", exec_state_name(state), limit, got.n, more, expect_n,
                 n_want > limit);
    for (size_t i = 0; i < got.n; i++)
        if (id_compare(&got.ids[i], &want[i]) != 0)
            fail_msg("function=%s state=%s limit=%zu: record %zu is not the expected one",
                     function ? function : "(any)", exec_state_name(state), limit, i);
    if (got.n && last)
        *last = got.ids[got.n - 1];
    return got.n;
}

static void test_list_filters_against_model(void **state)
{
    fixture *f = *state;
    exec_record model[MODEL_SIZE];
    const char *queries[] = {NULL, "sen",       "send",        "send_email", "sends",
                             "se", "send_emai", "send_email_", "nosuch"};
    exec_state states[] = {EXEC_NONE, EXEC_SCHEDULED, EXEC_QUEUED, EXEC_RUNNING, EXEC_SUCCEEDED, EXEC_FAILED};
    size_t limits[] = {1, 7, 10, 1000};
    uint64_t rng = 0x243f6a8885a308d3ull;
    store_batch *b = store_batch_new(f->st);
    store_txn *t;

    for (int i = 0; i < MODEL_SIZE; i++) {
        model[i] = new_record(model_functions[i % 4], EXEC_QUEUED);
        if (i % 5 == 0) {
            model[i].state = EXEC_SCHEDULED;
            model[i].scheduled_at = 1000 + i;
        }
        put_direct(f->st, &model[i], NULL);
    }
    /* Move most of them on, some in a batch, so the indexes have moved. */
    for (int i = 0; i < MODEL_SIZE; i++) {
        exec_record prev = model[i];
        switch ((i * 7) % 4) {
        case 0:
            break;
        case 1:
            model[i].state = EXEC_RUNNING;
            put_direct(f->st, &model[i], &prev);
            break;
        case 2:
            model[i].state = EXEC_RUNNING;
            assert_int_equal(store_batch_exec_put(b, &model[i], &prev), 0);
            prev = model[i];
            model[i].state = EXEC_SUCCEEDED;
            assert_int_equal(store_batch_exec_put(b, &model[i], &prev), 0);
            break;
        case 3:
            model[i].state = EXEC_FAILED;
            assert_int_equal(store_batch_exec_put(b, &model[i], &prev), 0);
            break;
        }
    }
    assert_int_equal(store_batch_commit(f->st, b), 0);
    store_batch_free(b);

    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    for (size_t qi = 0; qi < sizeof queries / sizeof queries[0]; qi++) {
        for (size_t si = 0; si < sizeof states / sizeof states[0]; si++) {
            for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
                /* Page through to the end: every page matches the model. */
                exec_id cursor;
                bool paging = false;
                size_t got, pages = 0;
                do {
                    got = expect_page(t, model, queries[qi], states[si], paging ? &cursor : NULL, limits[li],
                                      &cursor);
                    paging = true;
                    assert_true(++pages <= MODEL_SIZE + 1);
                } while (got == limits[li]);
            }
            /* Cursors that are not members of the filtered set. */
            for (int r = 0; r < 8; r++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                const exec_id *before = &model[(rng >> 33) % MODEL_SIZE].id;
                expect_page(t, model, queries[qi], states[si], before, 5, NULL);
            }
        }
    }
    store_txn_abort(t);
}

typedef struct log_seen {
    size_t n;
    store_log_line lines[16];
    char texts[16][32];
} log_seen;

static int see_log(void *user, const store_log_line *line)
{
    log_seen *l = user;

    assert_true(l->n < 16);
    l->lines[l->n] = *line;
    snprintf(l->texts[l->n], sizeof l->texts[l->n], "%s", line->text);
    l->n++;
    return 0;
}

static void scan_logs(store *st, const exec_id *id, log_seen *out)
{
    store_txn *t;

    memset(out, 0, sizeof *out);
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_log_scan(t, id, see_log, out), 0);
    store_txn_abort(t);
}

static void test_logs(void **state)
{
    fixture *f = *state;
    exec_id a, b, c, none;
    static const uint32_t seqs[] = {256, 1, 0xffffffffu, 255, 65536, 0};
    store_txn *t;
    log_seen l;

    /* Consecutive ids: a scan that overran its prefix would see b's lines. */
    id_new(&none);
    id_new(&a);
    id_new(&b);
    id_new(&c);
    put_execution(f->st, &a);
    put_execution(f->st, &b);
    put_execution(f->st, &c);
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        char text[32];
        store_log_line line = {seqs[i], -6 + (int64_t)i, (int)(i % 4), text, 0}; /* any time but 0, any level */
        snprintf(text, sizeof text, "a%u", seqs[i]);
        assert_int_equal(store_log_put(t, &a, &line), 0);
        snprintf(text, sizeof text, "b%u", seqs[i]);
        line.level = TARRY_LOG_ERROR;
        assert_int_equal(store_log_put(t, &b, &line), 0);
    }
    store_log_line only = {7, INT64_MAX, 0, "", 0};
    assert_int_equal(store_log_put(t, &c, &only), 0);
    assert_int_equal(store_txn_commit(t), 0);

    scan_logs(f->st, &a, &l);
    assert_int_equal(l.n, 6);
    static const uint32_t sorted[] = {0, 1, 255, 256, 65536, 0xffffffffu};
    for (size_t i = 0; i < 6; i++) {
        char want[32];
        size_t put_at = 0;
        while (seqs[put_at] != sorted[i])
            put_at++;
        snprintf(want, sizeof want, "a%u", sorted[i]);
        assert_int_equal(l.lines[i].seq, sorted[i]);
        assert_string_equal(l.texts[i], want);
        assert_int_equal(l.lines[i].time_ms, -6 + (int64_t)put_at);
        assert_int_equal(l.lines[i].level, (int)(put_at % 4));
    }
    scan_logs(f->st, &b, &l);
    assert_int_equal(l.n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(l.texts[i][0], 'b');
        assert_int_equal(l.lines[i].level, TARRY_LOG_ERROR);
    }
    scan_logs(f->st, &c, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.texts[0], "");
    assert_int_equal(l.lines[0].time_ms, INT64_MAX);
    assert_int_equal(l.lines[0].seq, 7);
    scan_logs(f->st, &none, &l);
    assert_int_equal(l.n, 0);

    /* A later line with the same seq replaces the earlier one. */
    store_log_line again = {1, 99, 2, "replaced", 0};
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_log_put(t, &a, &again), 0);
    assert_int_equal(store_txn_commit(t), 0);
    scan_logs(f->st, &a, &l);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.texts[1], "replaced");
    assert_int_equal(l.lines[1].time_ms, 99);
}

static int stop_at_second(void *user, const exec_record *rec)
{
    int *calls = user;

    (void)rec;
    return ++*calls == 2 ? 42 : 0;
}

static int stop_log_at_second(void *user, const store_log_line *line)
{
    int *calls = user;

    (void)line;
    return ++*calls == 2 ? 43 : 0;
}

static void test_callbacks_stop_scans(void **state)
{
    fixture *f = *state;
    store_list_query all = {NULL, EXEC_NONE, NULL, 100};
    store_list_query by_fn = {"stop", EXEC_NONE, NULL, 100};
    exec_record first;
    store_txn *t;
    bool more;
    int calls;

    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    for (uint32_t i = 0; i < 4; i++) {
        exec_record r = new_record("stop", EXEC_SCHEDULED);
        r.scheduled_at = 100;
        assert_int_equal(store_exec_put(t, &r, NULL), 0);
        if (i == 0)
            first = r;
    }
    for (uint32_t i = 0; i < 4; i++) {
        store_log_line line = {i, 1, 0, "x", 0};
        assert_int_equal(store_log_put(t, &first.id, &line), 0);
    }
    assert_int_equal(store_txn_commit(t), 0);

    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    calls = 0;
    assert_int_equal(store_exec_scan_state(t, EXEC_SCHEDULED, stop_at_second, &calls), 42);
    assert_int_equal(calls, 2);
    calls = 0;
    assert_int_equal(store_exec_list(t, &all, stop_at_second, &calls, &more), 42);
    assert_int_equal(calls, 2);
    calls = 0;
    assert_int_equal(store_exec_list(t, &by_fn, stop_at_second, &calls, &more), 42);
    assert_int_equal(calls, 2);
    calls = 0;
    assert_int_equal(store_timer_scan_due(t, 100, stop_at_second, &calls), 42);
    assert_int_equal(calls, 2);
    calls = 0;
    assert_int_equal(store_log_scan(t, &first.id, stop_log_at_second, &calls), 43);
    assert_int_equal(calls, 2);
    store_txn_abort(t);
}

static void test_batch_matches_direct(void **state)
{
    fixture *f = *state;
    char other_path[192], err[256] = "";
    exec_id ids[SCENARIO_IDS];
    writer direct = {f->st, NULL, NULL};
    writer batched = {NULL, NULL, NULL};
    char *want, *got;

    snprintf(other_path, sizeof other_path, "%s/batched", f->dir);
    assert_int_equal(open_test_store(&batched.st, other_path, err, sizeof err), 0);
    assert_non_null(batched.batch = store_batch_new(batched.st));
    for (int i = 0; i < SCENARIO_IDS; i++)
        id_new(&ids[i]);

    run_scenario(&direct, ids);
    run_scenario(&batched, ids);
    want = store_dump(f->st, scenario_functions, 4);
    got = store_dump(batched.st, scenario_functions, 4);
    assert_string_equal(got, want);

    /* The dump is not vacuous: the scenario's end state is in it. */
    char line[128], id[ID_TEXT_LEN + 1];
    snprintf(line, sizeof line, "by_state failed: %s\n", id_text(&ids[0], id));
    if (!strstr(got, line))
        fail_msg("no \"%s\" in\n%s", line, got);
    snprintf(line, sizeof line, "timers: %s@9000\n", id_text(&ids[1], id));
    if (!strstr(got, line))
        fail_msg("no \"%s\" in\n%s", line, got);
    assert_non_null(strstr(got, "log seq=4294967295 time=1704294967295 level=2 text=\"last seq\""));
    assert_non_null(strstr(got, "error=4:\"boom\""));

    free(want);
    free(got);
    store_close(batched.st);
    store_batch_free(batched.batch);
}

static void test_batch_owns_its_copies(void **state)
{
    fixture *f = *state;
    store_batch *b = store_batch_new(f->st);
    exec_record *rec = malloc(sizeof *rec);
    exec_record want = new_record("owned_function", EXEC_SCHEDULED);
    char *strings[8];
    store_log_line line = {1, 123, 2, NULL, 0};

    assert_non_null(b);
    assert_non_null(rec);
    want.args = "{\"n\":1}";
    want.metadata = "{\"m\":2}";
    want.result = "null";
    want.error = "none yet";
    want.scheduled_at = 777;
    id_new(&want.parent_id);
    *rec = want;
    rec->function = strings[0] = strdup(want.function);
    rec->args = strings[1] = strdup(want.args);
    rec->metadata = strings[2] = strdup(want.metadata);
    rec->result = strings[3] = strdup(want.result);
    rec->error = strings[4] = strdup(want.error);
    rec->plugin_name = strings[5] = strdup(want.plugin_name);
    rec->plugin_version = strings[6] = strdup(want.plugin_version);
    line.text = strings[7] = strdup("a line that outlives its buffer");
    for (int i = 0; i < 8; i++)
        assert_non_null(strings[i]);

    assert_true(store_batch_empty(b));
    assert_int_equal(store_batch_exec_put(b, rec, NULL), 0);
    assert_int_equal(store_batch_log_put(b, &rec->id, &line), 0);
    assert_false(store_batch_empty(b));
    /* Scribble over and free everything the caller handed in. */
    for (int i = 0; i < 8; i++) {
        memset(strings[i], '#', strlen(strings[i]));
        free(strings[i]);
    }
    memset(rec, 0x5a, sizeof *rec);
    free(rec);
    line.text = "changed after the put";

    assert_int_equal(store_batch_commit(f->st, b), 0);
    store_batch_free(b);
    assert_indexed_as(f->st, &want);

    log_seen l;
    scan_logs(f->st, &want.id, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.texts[0], "a line that outlives its buffer");
    assert_int_equal(l.lines[0].time_ms, 123);
    assert_int_equal(l.lines[0].level, 2);
}

static void test_batch_reset_and_empty(void **state)
{
    fixture *f = *state;
    store_batch *b = store_batch_new(f->st);
    exec_record dropped = new_record("f", EXEC_QUEUED);
    exec_record kept = new_record("f", EXEC_QUEUED);
    store_log_line line = {0, 0, 0, "dropped", 0};
    store_txn *t;
    exec_record out;
    log_seen l;

    assert_non_null(b);
    assert_true(store_batch_empty(b));
    assert_int_equal(store_batch_commit(f->st, b), 0); /* an empty batch is a no-op */

    assert_int_equal(store_batch_exec_put(b, &dropped, NULL), 0);
    assert_false(store_batch_empty(b));
    store_batch_reset(b);
    assert_true(store_batch_empty(b));
    assert_int_equal(store_batch_log_put(b, &dropped.id, &line), 0);
    assert_false(store_batch_empty(b));
    store_batch_reset(b);
    assert_int_equal(store_batch_commit(f->st, b), 0);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_exec_get(t, &dropped.id, &out), TARRY_ENOTFOUND);
    store_txn_abort(t);
    scan_logs(f->st, &dropped.id, &l);
    assert_int_equal(l.n, 0);

    /* The reset batch is reused. */
    assert_int_equal(store_batch_exec_put(b, &kept, NULL), 0);
    assert_int_equal(store_batch_commit(f->st, b), 0);
    store_batch_free(b);
    assert_indexed_as(f->st, &kept);
    store_batch_free(NULL);
}

static void test_batches_apply_in_order(void **state)
{
    fixture *f = *state;
    store_batch *first = store_batch_new(f->st), *second = store_batch_new(f->st);
    exec_record x = new_record("order", EXEC_SCHEDULED), y = new_record("order", EXEC_QUEUED);
    exec_record as_first, prev;
    static const exec_state path[] = {EXEC_RUNNING, EXEC_WAITING, EXEC_RUNNING, EXEC_SUCCEEDED};

    assert_non_null(first);
    assert_non_null(second);
    /* Both batches are built before either commits; the second moves x out
     * of the state and timer the first one writes. */
    x.scheduled_at = 1000;
    assert_int_equal(store_batch_exec_put(first, &x, NULL), 0);
    as_first = x;
    x.state = EXEC_QUEUED;
    assert_int_equal(store_batch_exec_put(second, &x, &as_first), 0);
    assert_int_equal(store_batch_commit(f->st, first), 0);
    assert_indexed_as(f->st, &as_first);
    assert_int_equal(store_batch_commit(f->st, second), 0);
    assert_indexed_as(f->st, &x);

    /* Several moves of one record in one batch: only the last state stays. */
    store_batch_reset(first);
    assert_int_equal(store_batch_exec_put(first, &y, NULL), 0);
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
        prev = y;
        y.state = path[i];
        assert_int_equal(store_batch_exec_put(first, &y, &prev), 0);
    }
    /* And x moves on again, from the state the second batch wrote. */
    store_batch_reset(second);
    prev = x;
    x.state = EXEC_RUNNING;
    assert_int_equal(store_batch_exec_put(second, &x, &prev), 0);
    assert_int_equal(store_batch_commit(f->st, first), 0);
    assert_int_equal(store_batch_commit(f->st, second), 0);
    assert_indexed_as(f->st, &y);
    assert_indexed_as(f->st, &x);
    store_batch_free(first);
    store_batch_free(second);
}

static void test_durable_across_reopen(void **state)
{
    fixture *f = *state;
    exec_id ids[SCENARIO_IDS];
    writer w = {f->st, NULL, store_batch_new(f->st)};
    exec_record direct = new_record("send", EXEC_SCHEDULED);
    char err[256] = "", *before, *after;

    assert_non_null(w.batch);
    for (int i = 0; i < SCENARIO_IDS; i++)
        id_new(&ids[i]);
    run_scenario(&w, ids);
    store_batch_free(w.batch);
    direct.scheduled_at = 42;
    put_direct(f->st, &direct, NULL);
    before = store_dump(f->st, scenario_functions, 4);

    store_close(f->st);
    f->st = NULL;
    assert_int_equal(open_test_store(&f->st, f->path, err, sizeof err), 0);
    after = store_dump(f->st, scenario_functions, 4);
    assert_string_equal(after, before);
    assert_non_null(strstr(after, "@42\n"));

    /* The reopened store keeps working, indexes and all. */
    move_direct(f->st, &direct, EXEC_QUEUED);
    assert_indexed_as(f->st, &direct);
    free(before);
    free(after);
}

/* The default map is 1 TiB of address space: the file holds only what is written. */
static void test_default_map_costs_no_disk(void **state)
{
    fixture *f = *state;
    exec_record a = new_record("sparse", EXEC_QUEUED);
    char file[160];
    struct stat sb;

    put_direct(f->st, &a, NULL);
    snprintf(file, sizeof file, "%s/data.mdb", f->path);
    assert_int_equal(stat(file, &sb), 0);
    if ((uint64_t)sb.st_blocks * 512 > (64u << 20))
        fail_msg("data.mdb takes %llu bytes of disk for one record: the map is not sparse",
                 (unsigned long long)sb.st_blocks * 512);
    assert_indexed_as(f->st, &a);
}

static void test_map_size_out_of_range(void **state)
{
    fixture *f = *state;
    char path[160], err[256] = "";
    store *st = NULL;

    snprintf(path, sizeof path, "%s/tiny", f->dir);
    assert_int_equal(store_open(&st, path, 4096, err, sizeof err), TARRY_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err, "map size 4096 bytes"));
}

/* ---- the pins index ------------------------------------------------------------ */

static int add_hash(void *user, const char *hash)
{
    char *all = user;
    strcat(all, hash);
    strcat(all, " ");
    return 0;
}

static void pinned(store *st, char *out)
{
    store_txn *t;
    out[0] = '\0';
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_pinned_versions(t, add_hash, out), 0);
    store_txn_abort(t);
}

static void test_pins_follow_records(void **state)
{
    fixture *f = *state;
    exec_record a1 = new_record("pa", EXEC_QUEUED), a2 = new_record("pa", EXEC_WAITING),
                c = new_record("pc", EXEC_SCHEDULED), none = new_record("pn", EXEC_QUEUED), prev;
    char got[256];

    a1.plugin_hash = a2.plugin_hash = "aaaaaaaaaaaaaaaa";
    c.plugin_hash = "cccccccccccccccc";
    c.scheduled_at = 99;
    none.plugin_hash = NULL; /* unbound: pins nothing */
    put_direct(f->st, &a1, NULL);
    put_direct(f->st, &a2, NULL);
    put_direct(f->st, &c, NULL);
    put_direct(f->st, &none, NULL);
    pinned(f->st, got);
    assert_string_equal(got, "aaaaaaaaaaaaaaaa cccccccccccccccc "); /* each version once, in order */

    move_direct(f->st, &a1, EXEC_SUCCEEDED); /* final: no longer pins */
    pinned(f->st, got);
    assert_string_equal(got, "aaaaaaaaaaaaaaaa cccccccccccccccc ");
    move_direct(f->st, &a2, EXEC_FAILED);
    pinned(f->st, got);
    assert_string_equal(got, "cccccccccccccccc ");

    prev = c; /* upgraded to another version, state unchanged */
    c.plugin_hash = "bbbbbbbbbbbbbbbb";
    put_direct(f->st, &c, &prev);
    pinned(f->st, got);
    assert_string_equal(got, "bbbbbbbbbbbbbbbb ");
}

/* A store written before the pins index gets it built when it is opened. */
/* Close the store and take index `name` away, as a store from before it would be. */
static void drop_index(fixture *f, const char *name)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;

    store_close(f->st);
    f->st = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0); /* not the store's 1 TiB: TSan cannot map it */
    assert_int_equal(mdb_env_open(env, f->path, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_pins_built_for_an_older_store(void **state)
{
    fixture *f = *state;
    exec_record w = new_record("old", EXEC_WAITING), done = new_record("old", EXEC_SUCCEEDED);
    char err[256], got[256];

    w.plugin_hash = "dddddddddddddddd";
    w.wake_at = 5;
    done.plugin_hash = "eeeeeeeeeeeeeeee";
    put_direct(f->st, &w, NULL);
    put_direct(f->st, &done, NULL);
    drop_index(f, "pins");
    assert_int_equal(store_open(&f->st, f->path, 0, err, sizeof err), 0);
    pinned(f->st, got);
    assert_string_equal(got, "dddddddddddddddd "); /* the waiting one; the final one pins nothing */
}

/* Lines carry the attempt that logged them; a line written by the build before
 * (time level text NUL, no attempt) still reads, as attempt 0, once the store is
 * opened by this one, next to new lines of the same execution. */
static void test_log_attempts_and_older_lines(void **state)
{
    fixture *f = *state;
    exec_id a;
    uint8_t key[20], old_value[9 + 4];
    int64_t when = 1700000000123LL;
    store_txn *t;
    log_seen l;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char err[256];

    id_new(&a);
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    store_log_line second = {1, 5, 1, "second", 2}, third = {2, 6, 3, "", 0xfffffffeu};
    assert_int_equal(store_log_put(t, &a, &second), 0);
    assert_int_equal(store_log_put(t, &a, &third), 0);
    assert_int_equal(store_txn_commit(t), 0);

    /* Line 0 as the previous build wrote it: "old" and its NUL end the value. */
    store_close(f->st);
    f->st = NULL;
    memcpy(key, a.bytes, 16);
    memset(key + 16, 0, 4);
    memcpy(old_value, &when, 8);
    old_value[8] = 2;
    memcpy(old_value + 9, "old", 4);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
    assert_int_equal(mdb_env_open(env, f->path, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "logs", 0, &dbi), 0);
    MDB_val k = {20, key}, v = {sizeof old_value, old_value};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(store_open(&f->st, f->path, 0, err, sizeof err), 0);

    scan_logs(f->st, &a, &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.texts[0], "old");
    assert_int_equal(l.lines[0].attempt, 0);
    assert_int_equal(l.lines[0].time_ms, when);
    assert_int_equal(l.lines[0].level, 2);
    assert_string_equal(l.texts[1], "second");
    assert_int_equal(l.lines[1].attempt, 2);
    assert_int_equal(l.lines[1].level, 1);
    assert_string_equal(l.texts[2], "");
    assert_int_equal(l.lines[2].attempt, 0xfffffffeu);
    assert_int_equal(l.lines[2].time_ms, 6);
}

static void join_within(pthread_t thread, int seconds, const char *what);

/* ---- a full map ------------------------------------------------------------
 * A store opened with a 256 MiB map. Records of 4 MiB fill it quickly; LMDB
 * keeps values that large on their own overflow pages, so the arithmetic is
 * close to exact: 50 of them use ~200 MiB. */

#define BIG_ARGS (4u << 20)
#define SMALL_MAP (256ull << 20)

static char *big_args(void)
{
    char *s = malloc(BIG_ARGS);

    assert_non_null(s);
    for (size_t i = 0; i < BIG_ARGS - 1; i++)
        s[i] = (char)('a' + i % 26);
    s[BIG_ARGS - 1] = '\0';
    return s;
}

static void put_big(store_batch *b, const char *args, int count)
{
    for (int i = 0; i < count; i++) {
        exec_record r = new_record("big", EXEC_QUEUED);
        r.args = args;
        assert_int_equal(store_batch_exec_put(b, &r, NULL), 0);
    }
}

static void commit_big(store *st, store_batch *b, const char *args, int count)
{
    store_batch_reset(b);
    put_big(b, args, count);
    assert_int_equal(store_batch_commit(st, b), 0);
}

typedef struct big_check {
    const char *args;
    size_t n;
} big_check;

static int check_big(void *user, const exec_record *rec)
{
    big_check *c = user;

    if (strcmp(rec->args, c->args) != 0)
        fail_msg("a %zu-byte args read back as %zu bytes that differ", strlen(c->args), strlen(rec->args));
    c->n++;
    return 0;
}

static size_t count_big(store *st, const char *args)
{
    big_check c = {args, 0};
    store_txn *t;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_exec_scan_state(t, EXEC_QUEUED, check_big, &c), 0);
    store_txn_abort(t);
    return c.n;
}

static void reopen_with_map(fixture *f, uint64_t map_size)
{
    char err[256] = "";
    store_close(f->st);
    f->st = NULL;
    if (store_open(&f->st, f->path, map_size, err, sizeof err) != 0)
        fail_msg("reopening with a %llu-byte map: %s", (unsigned long long)map_size, err);
}

static void test_full_map_refuses_and_keeps_serving(void **state)
{
    fixture *f = *state;
    char *args = f->big = big_args();
    store_batch *b = f->batch = store_batch_new(f->st);
    exec_record small = new_record("small", EXEC_SCHEDULED);

    small.scheduled_at = 1234;
    int rc;

    assert_non_null(b);
    reopen_with_map(f, SMALL_MAP);
    for (int k = 0; k < 5; k++)
        commit_big(f->st, b, args, 10);
    store_batch_reset(b);
    put_big(b, args, 15);
    rc = store_batch_commit(f->st, b);
    if (rc != TARRY_EFULL)
        fail_msg("a 60 MiB batch on a 256 MiB map with 200 MiB used: got %s, expected TARRY_EFULL",
                 status_str(rc));
    assert_non_null(strstr(store_last_error(f->st), "map is full"));
    assert_int_equal(count_big(f->st, args), 50); /* the failed batch left nothing, reads work */

    /* What fits still commits: a full map refuses only what does not fit. */
    put_direct(f->st, &small, NULL);
    assert_indexed_as(f->st, &small);

    /* With a larger map the same batch commits, and nothing was lost. */
    reopen_with_map(f, 4 * SMALL_MAP);
    rc = store_batch_commit(f->st, b);
    if (rc != 0)
        fail_msg("the same batch on a 1 GiB map: %s (%s)", status_str(rc), store_last_error(f->st));
    assert_int_equal(count_big(f->st, args), 65);
    print_message(
        "map full at 50 x 4 MiB records: a 15-record batch got TARRY_EFULL; committed on a larger map\n");
}

/*
 * The failure reason is per thread: two threads fail at once with
 * different reasons (a batch commit, a direct write) on a full map, and
 * each reads back its own.
 */
typedef struct error_thread {
    fixture *f;
    const char *args;
    bool direct;
    pthread_barrier_t *both_failed;
    char seen[256];
    int rc;
} error_thread;

static void *fail_and_read_back(void *arg)
{
    error_thread *et = arg;
    exec_record r = new_record("big", EXEC_QUEUED);

    r.args = et->args;
    if (et->direct) {
        store_txn *t = NULL;
        et->rc = store_txn_begin(et->f->st, true, &t);
        for (int i = 0; et->rc == 0 && i < 20; i++) {
            r = new_record("big", EXEC_QUEUED);
            r.args = et->args;
            et->rc = store_exec_put(t, &r, NULL);
        }
        if (t)
            store_txn_abort(t);
    } else {
        store_batch *b = store_batch_new(et->f->st);
        for (int i = 0; b && i < 20; i++) {
            r = new_record("big", EXEC_QUEUED);
            r.args = et->args;
            store_batch_exec_put(b, &r, NULL);
        }
        et->rc = b ? store_batch_commit(et->f->st, b) : TARRY_ENOMEM;
        store_batch_free(b);
    }
    pthread_barrier_wait(et->both_failed); /* both failed: a shared buffer holds only one reason */
    snprintf(et->seen, sizeof et->seen, "%s", store_last_error(et->f->st));
    return NULL;
}

static void test_last_error_is_per_thread(void **state)
{
    fixture *f = *state;
    char *args = f->big = big_args();
    store_batch *b = f->batch = store_batch_new(f->st);
    pthread_barrier_t both;
    error_thread t[2];
    pthread_t th[2];

    reopen_with_map(f, SMALL_MAP);
    for (int k = 0; k < 5; k++)
        commit_big(f->st, b, args, 10); /* 200 of 256 MiB */
    pthread_barrier_init(&both, NULL, 2);
    for (int i = 0; i < 2; i++) {
        t[i] = (error_thread){f, args, i == 1, &both, "", 0};
        assert_int_equal(pthread_create(&th[i], NULL, fail_and_read_back, &t[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        join_within(th[i], 60, "a failing writer");
    pthread_barrier_destroy(&both);
    assert_int_equal(t[0].rc, TARRY_EFULL);
    assert_int_equal(t[1].rc, TARRY_EFULL);
    if (!strstr(t[0].seen, "(committing a batch;") || !strstr(t[1].seen, "(writing;"))
        fail_msg(
            "each thread must read its own failure: the batch thread saw \"%s\", the direct writer \"%s\"",
            t[0].seen, t[1].seen);
}

/* ---- threads --------------------------------------------------------------
 * store.h: batches commit on the engine's commit thread while the loop
 * thread reads. cmocka is not thread-safe: threads only record results. */

static void join_within(pthread_t thread, int seconds, const char *what)
{
    struct timespec deadline;
    int rc;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    if ((rc = pthread_timedjoin_np(thread, NULL, &deadline)) != 0)
        fail_msg("%s did not finish within %d s: %s", what, seconds, strerror(rc));
}

typedef struct commit_job {
    store *st;
    store_batch *batch;
    int rc;
} commit_job;

static void *commit_on_thread(void *arg)
{
    commit_job *job = arg;

    job->rc = store_batch_commit(job->st, job->batch);
    return NULL;
}

static void test_commit_on_thread_while_reading(void **state)
{
    fixture *f = *state;
    exec_record x = new_record("threaded", EXEC_QUEUED), then, again, prev;
    commit_job job = {f->st, store_batch_new(f->st), -1};
    store_log_line line = {0, 1, 0, "from the commit thread", 0};
    store_txn *reader;
    pthread_t thread;
    log_seen l;

    assert_non_null(job.batch);
    x.args = "{\"v\":1}";
    put_direct(f->st, &x, NULL);
    assert_int_equal(store_txn_begin(f->st, false, &reader), 0);
    assert_int_equal(store_exec_get(reader, &x.id, &then), 0);

    prev = x;
    x.state = EXEC_RUNNING;
    x.args = "{\"v\":2}";
    x.attempts = 1;
    assert_int_equal(store_batch_exec_put(job.batch, &x, &prev), 0);
    assert_int_equal(store_batch_log_put(job.batch, &x.id, &line), 0);
    assert_int_equal(pthread_create(&thread, NULL, commit_on_thread, &job), 0);
    join_within(thread, 60, "store_batch_commit on a second thread, with a read transaction open");
    assert_int_equal(job.rc, 0);

    /* The open read transaction keeps its snapshot and its borrowed strings. */
    assert_int_equal(then.state, EXEC_QUEUED);
    assert_string_equal(then.args, "{\"v\":1}");
    assert_string_equal(then.function, "threaded");
    assert_int_equal(store_exec_get(reader, &x.id, &again), 0);
    assert_int_equal(again.state, EXEC_QUEUED);
    assert_int_equal(scan_state_count(reader, EXEC_QUEUED, &x.id), 1);
    assert_int_equal(scan_state_count(reader, EXEC_RUNNING, &x.id), 0);
    store_txn_abort(reader);

    assert_indexed_as(f->st, &x);
    scan_logs(f->st, &x.id, &l);
    assert_int_equal(l.n, 1);
    store_batch_free(job.batch);
}

typedef struct flip_job {
    store *st;
    exec_record rec; /* owned by the thread until done */
    int commits;
    int rc;
    atomic_bool done;
} flip_job;

/* Move rec between queued and running, one batch (with a log line) each. */
static void *flip_on_thread(void *arg)
{
    flip_job *job = arg;
    store_batch *b = store_batch_new(job->st);

    job->rc = b ? 0 : TARRY_ENOMEM;
    for (int i = 0; i < job->commits && job->rc == 0; i++) {
        exec_record prev = job->rec;
        store_log_line line = {(uint32_t)i, i + 1, 0, "flip", 0};
        job->rec.state = prev.state == EXEC_QUEUED ? EXEC_RUNNING : EXEC_QUEUED;
        job->rec.attempts++;
        store_batch_reset(b);
        if ((job->rc = store_batch_exec_put(b, &job->rec, &prev)) == 0 &&
            (job->rc = store_batch_log_put(b, &job->rec.id, &line)) == 0)
            job->rc = store_batch_commit(job->st, b);
    }
    store_batch_free(b);
    atomic_store(&job->done, true);
    return NULL;
}

static int count_line(void *user, const store_log_line *line)
{
    (void)line;
    ++*(uint32_t *)user;
    return 0;
}

static void test_commits_on_thread_during_reads(void **state)
{
    fixture *f = *state;
    flip_job job = {f->st, new_record("flip", EXEC_QUEUED), 100, -1, false};
    exec_id id = job.rec.id;
    size_t reads = 0;
    pthread_t thread;

    put_direct(f->st, &job.rec, NULL);
    assert_int_equal(pthread_create(&thread, NULL, flip_on_thread, &job), 0);
    /* Every snapshot is consistent: the record, both indexes and the log
     * agree on how many commits it has seen. */
    while (!atomic_load(&job.done)) {
        store_txn *t;
        exec_record r;
        uint32_t lines = 0;
        assert_int_equal(store_txn_begin(f->st, false, &t), 0);
        assert_int_equal(store_exec_get(t, &id, &r), 0);
        assert_int_equal(r.state, r.attempts % 2 ? EXEC_RUNNING : EXEC_QUEUED);
        assert_int_equal(scan_state_count(t, r.state, &id), 1);
        assert_int_equal(scan_state_count(t, r.state == EXEC_QUEUED ? EXEC_RUNNING : EXEC_QUEUED, &id), 0);
        assert_int_equal(store_log_scan(t, &id, count_line, &lines), 0);
        assert_int_equal(lines, r.attempts);
        store_txn_abort(t);
        reads++;
    }
    join_within(thread, 60, "100 batch commits on a second thread");
    assert_int_equal(job.rc, 0);
    assert_int_equal(job.rec.attempts, 100);
    assert_indexed_as(f->st, &job.rec);
    print_message("100 commits on a second thread during %zu consistent reads\n", reads);
}

static void test_write_while_reading_same_thread(void **state)
{
    fixture *f = *state;
    exec_record x = new_record("same_thread", EXEC_QUEUED), out;
    store_txn *reader;

    put_direct(f->st, &x, NULL);
    assert_int_equal(store_txn_begin(f->st, false, &reader), 0);
    move_direct(f->st, &x, EXEC_RUNNING); /* a write transaction on this thread meanwhile */
    assert_int_equal(store_exec_get(reader, &x.id, &out), 0);
    assert_int_equal(out.state, EXEC_QUEUED);
    store_txn_abort(reader);
    assert_indexed_as(f->st, &x);
}

/* A suspect (engine_recovery.c) stays one in the store; new records are not. */
static void test_suspect_flag_round_trip(void **state)
{
    fixture *f = *state;
    exec_record plain = new_record("sus", EXEC_QUEUED), sus = new_record("sus", EXEC_RUNNING), got;
    store_txn *txn;

    sus.suspect = true;
    put_direct(f->st, &plain, NULL);
    put_direct(f->st, &sus, NULL);
    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_exec_get(txn, &plain.id, &got), 0);
    assert_false(got.suspect);
    assert_int_equal(store_exec_get(txn, &sus.id, &got), 0);
    assert_true(got.suspect);
    assert_int_equal(got.state, EXEC_RUNNING);
    store_txn_abort(txn);
}

struct crash_seen {
    char text[512];
};

static int crash_history_seen(void *user, const char *function, const store_fn_crashes *c)
{
    struct crash_seen *seen = user;
    size_t n = strlen(seen->text);
    snprintf(seen->text + n, sizeof seen->text - n, "%s@%s:%u:%lld:%lld:%s;", function, c->hash, c->count,
             (long long)c->at[0], (long long)c->quarantined_at, c->reason ? c->reason : "-");
    return 0;
}

/* Functions' crash histories (quarantine) survive a reopen; an empty hash deletes one. */
static void test_fn_crashes_across_reopen(void **state)
{
    fixture *f = *state;
    store_fn_crashes c;
    store_batch *b = store_batch_new(f->st);
    struct crash_seen seen = {""};
    store_txn *txn;
    char err[256] = "";

    memset(&c, 0, sizeof c);
    snprintf(c.hash, sizeof c.hash, "0123456789abcdef");
    c.count = 2;
    c.at[0] = 1000;
    c.at[1] = 900;
    c.at[2] = 800; /* read only once count is 3 */
    id_new(&c.ids[0]);
    id_new(&c.ids[1]);
    id_new(&c.ids[2]);
    c.quarantined_at = 0;
    c.reason = "";
    assert_non_null(b);
    assert_int_equal(store_batch_fn_crashes_put(b, "f_a", &c), 0);
    c.count = 3;
    c.at[0] = 2000;
    c.quarantined_at = 2000;
    c.reason = "3 different executions";
    assert_int_equal(store_batch_fn_crashes_put(b, "f_b", &c), 0);
    assert_int_equal(store_batch_fn_crashes_put(b, "", &c), TARRY_EINVAL);
    assert_int_equal(store_batch_commit(f->st, b), 0);
    store_batch_free(b);

    store_close(f->st);
    f->st = NULL;
    assert_int_equal(open_test_store(&f->st, f->path, err, sizeof err), 0);
    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_fn_crashes_scan(txn, crash_history_seen, &seen), 0);
    store_txn_abort(txn);
    assert_string_equal(seen.text, "f_a@0123456789abcdef:2:1000:0:;"
                                   "f_b@0123456789abcdef:3:2000:2000:3 different executions;");

    c.hash[0] = '\0'; /* forget f_a */
    assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
    assert_int_equal(store_fn_crashes_put(txn, "f_a", &c), 0);
    assert_int_equal(store_txn_commit(txn), 0);
    seen.text[0] = '\0';
    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_fn_crashes_scan(txn, crash_history_seen, &seen), 0);
    store_txn_abort(txn);
    assert_string_equal(seen.text, "f_b@0123456789abcdef:3:2000:2000:3 different executions;");
}

/* Format 5's execution-control fields survive a write and a read. */
static void test_control_fields_round_trip(void **state)
{
    fixture *f = *state;
    exec_record r = new_record("ctl", EXEC_SCHEDULED), other = new_record("ctl", EXEC_QUEUED), got;
    store_txn *txn;

    r.next_attempt_at = r.scheduled_at = 1700000000123;
    r.discard_at = 1700000009999;
    r.rerun_of = other.id;
    r.cancel_requested = true;
    r.timeouts = 2;
    r.idempotency_key = "order-42";
    put_direct(f->st, &other, NULL);
    put_direct(f->st, &r, NULL);
    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_exec_get(txn, &r.id, &got), 0);
    assert_int_equal(got.next_attempt_at, 1700000000123);
    assert_int_equal(got.discard_at, 1700000009999);
    assert_memory_equal(got.rerun_of.bytes, other.id.bytes, 16);
    assert_true(got.cancel_requested);
    assert_int_equal(got.timeouts, 2);
    assert_string_equal(got.idempotency_key, "order-42");
    assert_string_equal(got.function, "ctl");
    assert_int_equal(store_exec_get(txn, &other.id, &got), 0);
    assert_int_equal(got.next_attempt_at, 0);
    assert_false(got.cancel_requested);
    assert_null(got.idempotency_key);
    store_txn_abort(txn);
}

struct attempts_seen {
    char text[512];
};

static int attempt_seen(void *user, const store_attempt *a)
{
    struct attempts_seen *seen = user;
    size_t n = strlen(seen->text);
    snprintf(seen->text + n, sizeof seen->text - n, "%u:%lld-%lld:%s:%d%d%d:%s;", a->number,
             (long long)a->started_at, (long long)a->finished_at, exec_state_name(a->outcome), a->crashed,
             a->timed_out, a->permanent, a->error ? a->error : "-");
    return 0;
}

/* Attempts are kept per execution, in order, apart from other executions' (batch and direct writes). */
static void test_attempts(void **state)
{
    fixture *f = *state;
    exec_record a = new_record("att", EXEC_RUNNING), b = new_record("att", EXEC_RUNNING);
    store_attempt one = {1, 10, 20, EXEC_FAILED, false, true, false, "timed out after 1s"};
    store_attempt two = {2, 30, 40, EXEC_FAILED, true, false, false, NULL};
    store_attempt three = {3, 50, 60, EXEC_SUCCEEDED, false, false, false, NULL};
    store_attempt other = {1, 1, 2, EXEC_FAILED, false, false, true, "bad card"};
    struct attempts_seen seen = {""};
    store_batch *batch = store_batch_new(f->st);
    store_txn *txn;

    assert_non_null(batch);
    put_direct(f->st, &a, NULL);
    put_direct(f->st, &b, NULL);
    assert_int_equal(store_batch_attempt_put(batch, &a.id, &three), 0);
    assert_int_equal(store_batch_attempt_put(batch, &a.id, &one), 0);
    assert_int_equal(store_batch_attempt_put(batch, &b.id, &other), 0);
    assert_int_equal(store_batch_commit(f->st, batch), 0);
    store_batch_free(batch);
    assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
    assert_int_equal(store_attempt_put(txn, &a.id, &two), 0);
    assert_int_equal(store_txn_commit(txn), 0);

    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_attempt_scan(txn, &a.id, attempt_seen, &seen), 0);
    assert_string_equal(seen.text, "1:10-20:failed:010:timed out after 1s;2:30-40:failed:100:-;"
                                   "3:50-60:succeeded:000:-;");
    seen.text[0] = '\0';
    assert_int_equal(store_attempt_scan(txn, &b.id, attempt_seen, &seen), 0);
    assert_string_equal(seen.text, "1:1-2:failed:001:bad card;");
    store_txn_abort(txn);
}

/* ---- filtered listing and idempotency keys (issue 9) ------------------------------ */

static int collect_id(void *user, const exec_record *rec)
{
    exec_id *ids = user;
    size_t i = 0;
    while (memcmp(&ids[i], &(exec_id){{0}}, sizeof(exec_id)) != 0)
        i++;
    ids[i] = rec->id;
    return 0;
}

/*
 * 5,000 executions, 3 of them (the oldest ones) with team=billing: a query
 * by that pair that may read only 4 records still finds all 3, so it walks
 * the by_meta range, not the store. A second pair and a state are checked
 * on the records; a long value (past what fits in an LMDB key) still matches
 * exactly, and a value sharing its first 590 bytes does not.
 */
static void test_query_by_metadata_reads_the_index(void **state)
{
    fixture *f = *state;
    store_batch *b = f->batch = store_batch_new(f->st);
    exec_id want[3], got[8];
    char long_a[700], long_b[700], meta_a[1500], meta_b[1500];
    store_txn *t;
    bool more;
    exec_id next;

    /* 600 bytes (256 characters of UTF-8 may take 1 KiB): past the 489 that fit in the key. */
    memset(long_a, 'a', 600);
    long_a[600] = '\0';
    memcpy(long_b, long_a, sizeof long_a);
    long_b[590] = 'b';
    snprintf(meta_a, sizeof meta_a, "{\"team\":\"billing\",\"tier\":\"gold\",\"note\":\"%s\"}", long_a);
    snprintf(meta_b, sizeof meta_b, "{\"team\":\"search\",\"note\":\"%s\"}", long_b);
    for (int i = 0; i < 5000; i++) {
        exec_record r = new_record(i % 2 ? "a" : "b", i == 1 ? EXEC_FAILED : EXEC_SUCCEEDED);
        if (i < 3) {
            r.metadata = meta_a;
            want[2 - i] = r.id; /* newest first */
        } else if (i < 10) {
            r.metadata = meta_b;
        }
        assert_int_equal(store_batch_exec_put(b, &r, NULL), 0);
    }
    assert_int_equal(store_batch_commit(f->st, b), 0);

    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    const char *keys[] = {"team", "tier"}, *values[] = {"billing", "gold"};
    store_query q = {
        .meta_keys = keys, .meta_values = values, .meta_count = 1, .limit = 10, .examine_max = 4};
    memset(got, 0, sizeof got);
    assert_int_equal(store_exec_query(t, &q, collect_id, got, &more, &next), 0);
    assert_memory_equal(got, want, sizeof want);
    assert_false(more);

    q.meta_count = 2; /* and tier=gold, checked on each record */
    q.states = 1u << EXEC_FAILED;
    memset(got, 0, sizeof got);
    assert_int_equal(store_exec_query(t, &q, collect_id, got, &more, &next), 0);
    assert_memory_equal(&got[0], &want[1], sizeof(exec_id));
    assert_true(memcmp(&got[1], &(exec_id){{0}}, sizeof(exec_id)) == 0);

    const char *nkeys[] = {"note"}, *long_values[] = {long_a};
    store_query ql = {.meta_keys = nkeys, .meta_values = long_values, .meta_count = 1, .limit = 10};
    memset(got, 0, sizeof got);
    assert_int_equal(store_exec_query(t, &ql, collect_id, got, &more, &next), 0);
    assert_memory_equal(got, want, sizeof want);
    assert_true(memcmp(&got[3], &(exec_id){{0}}, sizeof(exec_id)) == 0); /* not the 7 like it */

    /* Out of budget before a page is full: more, and a cursor to go on from. */
    store_query qe = {.error_contains = "nothing has this", .limit = 10, .examine_max = 100};
    memset(got, 0, sizeof got);
    assert_int_equal(store_exec_query(t, &qe, collect_id, got, &more, &next), 0);
    assert_true(more);
    assert_true(memcmp(&got[0], &(exec_id){{0}}, sizeof(exec_id)) == 0);

    uint64_t n;
    assert_int_equal(store_exec_count(t, NULL, EXEC_SUCCEEDED, 100000, &n), 0);
    assert_int_equal(n, 4999);
    assert_int_equal(store_exec_count(t, "a", EXEC_FAILED, 100000, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_exec_count(t, NULL, EXEC_SUCCEEDED, 100, &n), 0);
    assert_int_equal(n, 100); /* bounded */
    store_txn_abort(t);
}

static int note_expired(void *user, const void *key, size_t len)
{
    (void)key;
    (void)len;
    (*(int *)user)++;
    return 0;
}

static void test_idem_keys(void **state)
{
    fixture *f = *state;
    store_batch *b = f->batch = store_batch_new(f->st);
    store_idem v = {{{0}}, 1000}, got;
    store_idem_pos pos = {{0}, 0};
    store_txn *t;
    int expired = 0;

    id_new(&v.id);
    put_execution(f->st, &v.id);
    assert_int_equal(store_batch_idem_put(b, "fn", "order-42", &v), 0);
    v.expires_at = 5000;
    assert_int_equal(store_batch_idem_put(b, "other", "order-42", &v), 0);
    assert_int_equal(store_batch_commit(f->st, b), 0);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_idem_get(t, "fn", "order-42", &got), 0);
    assert_memory_equal(&got.id, &v.id, sizeof v.id);
    assert_int_equal(got.expires_at, 1000);
    assert_int_equal(store_idem_get(t, "fn", "order-43", &got), TARRY_ENOTFOUND);
    assert_int_equal(store_idem_expired(t, 2000, &pos, 10, note_expired, &expired), 0);
    assert_int_equal(expired, 1); /* fn's key, not other's */
    assert_int_equal(pos.len, 0); /* the end: the next sweep starts at the top */
    store_txn_abort(t);
}

/* A store from before the metadata index gets it built at open: old executions match a filter. */
static void test_meta_built_for_an_older_store(void **state)
{
    fixture *f = *state;
    exec_record a = new_record("old", EXEC_SUCCEEDED), b = new_record("old", EXEC_QUEUED),
                c = new_record("old", EXEC_FAILED);
    const char *keys[] = {"team"}, *values[] = {"billing"};
    store_query q = {
        .meta_keys = keys, .meta_values = values, .meta_count = 1, .limit = 10, .examine_max = 10};
    exec_id got[4];
    exec_id next;
    bool more;
    char err[256];
    store_txn *t;

    a.metadata = "{\"team\":\"billing\"}";
    b.metadata = "{\"team\":\"ops\"}";
    c.metadata = "{\"team\":\"billing\",\"tier\":\"gold\"}";
    put_direct(f->st, &a, NULL);
    put_direct(f->st, &b, NULL);
    put_direct(f->st, &c, NULL);
    drop_index(f, "by_meta");
    assert_int_equal(store_open(&f->st, f->path, 0, err, sizeof err), 0);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    memset(got, 0, sizeof got);
    assert_int_equal(store_exec_query(t, &q, collect_id, got, &more, &next), 0);
    assert_memory_equal(&got[0], &c.id, sizeof c.id); /* newest first */
    assert_memory_equal(&got[1], &a.id, sizeof a.id);
    assert_true(memcmp(&got[2], &(exec_id){{0}}, sizeof(exec_id)) == 0);
    store_txn_abort(t);
}

typedef struct callers_seen {
    store_caller c[8];
    int n;
} callers_seen;

static int add_caller(void *user, const store_caller *c)
{
    callers_seen *s = user;
    s->c[s->n++] = *c;
    return 0;
}

/* A child's callers: adjacent under it, in (parent, seq) order, kept across a reopen, one deleted
 * alone; another child's callers are not among them. */
static void test_callers(void **state)
{
    fixture *f = *state;
    store_batch *b = f->batch = store_batch_new(f->st);
    exec_id child, other, p1, p2;
    store_caller a = {{{0}}, 7, false}, c = {{{0}}, 0x01020304, false}, d = {{{0}}, 3, true};
    char err[256] = "";
    callers_seen got;
    store_txn *t;

    id_new(&child);
    id_new(&other);
    put_execution(f->st, &child);
    put_execution(f->st, &other);
    id_new(&p1);
    id_new(&p2);
    a.parent = p1;
    c.parent = p1;
    d.parent = p2;
    assert_int_equal(store_batch_caller_put(b, &child, &d), 0);
    assert_int_equal(store_batch_caller_put(b, &child, &c), 0);
    assert_int_equal(store_batch_caller_put(b, &child, &a), 0);
    assert_int_equal(store_batch_caller_put(b, &other, &a), 0);
    assert_int_equal(store_batch_commit(f->st, b), 0);
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_caller_put(t, &other, &d), 0); /* the direct path, for tools and tests */
    assert_int_equal(store_txn_commit(t), 0);

    store_close(f->st);
    f->st = NULL;
    assert_int_equal(open_test_store(&f->st, f->path, err, sizeof err), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_callers_scan(t, &child, add_caller, &got), 0);
    store_txn_abort(t);
    assert_int_equal(got.n, 3);
    assert_memory_equal(got.c[0].parent.bytes, p1.bytes, 16); /* p1 is older than p2 */
    assert_int_equal(got.c[0].seq, 7);
    assert_int_equal(got.c[1].seq, 0x01020304); /* big-endian: after 7 */
    assert_false(got.c[1].detached);
    assert_memory_equal(got.c[2].parent.bytes, p2.bytes, 16);
    assert_int_equal(got.c[2].seq, 3);
    assert_true(got.c[2].detached);

    store_batch_reset(b);
    assert_int_equal(store_batch_caller_del(b, &child, &p1, 7), 0);
    assert_int_equal(store_batch_caller_del(b, &child, &p1, 8), 0); /* none there: nothing happens */
    assert_int_equal(store_batch_commit(f->st, b), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_callers_scan(t, &child, add_caller, &got), 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.c[0].seq, 0x01020304);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_callers_scan(t, &other, add_caller, &got), 0);
    assert_int_equal(got.n, 2);
    store_txn_abort(t);
}

/* ---- store_open_url (store.c) ------------------------------------------------------ */

/* lmdb:DIR and a plain DIR open the same LMDB store; its kind says so. */
static void test_open_url_lmdb_forms(void **state)
{
    fixture *f = *state;
    exec_record rec = new_record("by_url", EXEC_QUEUED);
    char dir[192], url[256], err[256] = "", cwd[4096];
    exec_record got;
    store *st = NULL;
    store_txn *t;

    assert_string_equal(store_kind(f->st), "lmdb");
    snprintf(dir, sizeof dir, "%s/by-url", f->dir);
    snprintf(url, sizeof url, "lmdb:%s", dir);
    assert_int_equal(store_open_url(&st, url, 0, err, sizeof err), 0);
    assert_string_equal(store_kind(st), "lmdb");
    put_direct(st, &rec, NULL);
    store_close(st);
    st = NULL;

    /* The plain path is the same folder: the record is there. */
    assert_int_equal(store_open_url(&st, dir, 0, err, sizeof err), 0);
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_exec_get(t, &rec.id, &got), 0);
    assert_string_equal(got.function, "by_url");
    store_txn_abort(t);
    store_close(st);
    st = NULL;

    /* A relative path with a dot first is a path, not a scheme. */
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    int rc = store_open_url(&st, "./by-url", 0, err, sizeof err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_string_equal(store_kind(st), "lmdb");
    store_close(st);
    st = NULL;

    /* The map size reaches the LMDB opener. */
    err[0] = '\0';
    assert_int_equal(store_open_url(&st, url, 4096, err, sizeof err), TARRY_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err, "map size 4096 bytes"));
}

static void expect_refused(const char *url, int rc, const char *says)
{
    char err[512] = "";
    store *st = NULL;

    assert_int_equal(store_open_url(&st, url, 0, err, sizeof err), rc);
    assert_null(st);
    if (!strstr(err, says))
        fail_msg("store_open_url(\"%s\") says \"%s\", not \"%s\"", url ? url : "NULL", err, says);
    if (strstr(err, "hunter2"))
        fail_msg("store_open_url(\"%s\") shows the password: \"%s\"", url, err);
}

/* Every refusal names what is wrong and what is accepted, and never the password. */
static void test_open_url_refusals(void **state)
{
    char err[512] = "";
    store *st = NULL;

    (void)state;
    expect_refused("", TARRY_EINVAL, "use lmdb:DIR");
    expect_refused(NULL, TARRY_EINVAL, "use lmdb:DIR");
    expect_refused("mysql://root:hunter2@db/tarry", TARRY_EINVAL,
                   "store scheme \"mysql\" is not one tarry knows");
    expect_refused("mysql://root:hunter2@db/tarry", TARRY_EINVAL, "postgres://USER@HOST/DB");
    expect_refused("LMDB:./data", TARRY_EINVAL, "store scheme \"LMDB\""); /* schemes as libpq takes them */
    expect_refused("data:2026", TARRY_EINVAL, "use lmdb:DIR");            /* a colon: write lmdb:data:2026 */
    expect_refused("lmdb:", TARRY_EINVAL, "names no folder");
    expect_refused("lmdb://host/data", TARRY_EINVAL, "written lmdb:DIR without \"//\"");
    expect_refused("postgres:tarry", TARRY_EINVAL, "a PostgreSQL store is a URL");
    expect_refused("postgresql:user=hunter2", TARRY_EINVAL, "a PostgreSQL store is a URL");

    /* Both PostgreSQL schemes reach its opener, which fails here (nothing listens on port 1, or
     * the implementation is not built) without showing the password. */
    for (int i = 0; i < 2; i++) {
        const char *url = i ? "postgresql://tarry:hunter2@127.0.0.1:1/none?connect_timeout=2"
                            : "postgres://tarry:hunter2@127.0.0.1:1/none?connect_timeout=2";
        err[0] = '\0';
        assert_true(store_open_url(&st, url, 0, err, sizeof err) < 0);
        assert_null(st);
        assert_true(err[0] != '\0');
        if (strstr(err, "hunter2"))
            fail_msg("store_open_url(\"%s\") shows the password: \"%s\"", url, err);
        if (strstr(err, "scheme"))
            fail_msg("store_open_url(\"%s\") did not take it for PostgreSQL: \"%s\"", url, err);
    }
}

/* ---- notifications and their outbox (store_outbox.h) ---------------------- */

typedef struct notify_seen {
    int count, stop_after;
    store_notify rows[8];
    char bodies[8][64], errors[8][64]; /* copies: rows' strings borrow from the txn */
} notify_seen;

static int collect_notify(void *user, const store_notify *n)
{
    notify_seen *s = user;

    if (s->count < 8) {
        s->rows[s->count] = *n;
        snprintf(s->bodies[s->count], sizeof s->bodies[0], "%s", n->body);
        snprintf(s->errors[s->count], sizeof s->errors[0], "%s", n->last_error ? n->last_error : "(null)");
    }
    s->count++;
    return s->stop_after && s->count == s->stop_after ? 7 : 0;
}

static store_notify notify_row(const exec_id *id, int64_t created_at, uint8_t hook, int64_t due_at)
{
    store_notify n = {.id = *id,
                      .created_at = created_at,
                      .hook = hook,
                      .state = STORE_NOTIFY_PENDING,
                      .due_at = due_at,
                      .url = "https://user:secret@hooks.example/T1?token=x",
                      .shown_url = "https://hooks.example/T1",
                      .body = "{\"text\":\"tick failed: caf\xc3\xa9\"}"};
    return n;
}

static void notify_put(store *st, const store_notify *n, int64_t prev_due)
{
    store_batch *b = store_batch_new(st);

    assert_int_equal(store_batch_notify_put(b, n, prev_due), 0);
    if (store_batch_commit(st, b) != 0)
        fail_msg("notification commit: %s", store_last_error(st));
    store_batch_free(b);
}

static notify_seen outbox_read(store *st, int stop_after, int *rc, uint64_t *count)
{
    notify_seen s = {.stop_after = stop_after};
    store_txn *t;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    *rc = store_outbox_scan(t, collect_notify, &s);
    assert_int_equal(store_outbox_count(t, count), 0);
    store_txn_abort(t);
    return s;
}

static void test_notifications_and_outbox(void **state)
{
    fixture *f = *state;
    exec_record a = new_record("tick", EXEC_FAILED), b = new_record("tock", EXEC_FAILED);
    store_notify a100 = notify_row(&a.id, 100, 0, 5000), a100h1 = notify_row(&a.id, 100, 1, 3000);
    store_notify b200 = notify_row(&b.id, 200, 0, 4000), a50 = notify_row(&a.id, 50, 0, 0);
    notify_seen s = {0};
    store_batch *batch;
    store_txn *t;
    uint64_t count;
    int rc;

    a.finished_at = 1000;
    put_direct(f->st, &a, NULL);
    put_direct(f->st, &b, NULL);
    a50.state = STORE_NOTIFY_DELIVERED;
    a50.attempts = 2;
    a50.delivered_at = 70;
    a50.last_error = "HTTP 503";
    notify_put(f->st, &a100, 0);
    notify_put(f->st, &a100h1, 0);
    notify_put(f->st, &b200, 0);
    notify_put(f->st, &a50, 0);

    /* An execution's rows by (created_at, hook), every field back as written. */
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_notify_scan(t, &a.id, collect_notify, &s), 0);
    store_txn_abort(t);
    assert_int_equal(s.count, 3);
    assert_int_equal(s.rows[0].created_at, 50);
    assert_int_equal(s.rows[0].state, STORE_NOTIFY_DELIVERED);
    assert_int_equal(s.rows[0].attempts, 2);
    assert_int_equal(s.rows[0].delivered_at, 70);
    assert_string_equal(s.errors[0], "HTTP 503");
    assert_int_equal(s.rows[1].created_at, 100);
    assert_int_equal(s.rows[1].hook, 0);
    assert_int_equal(s.rows[1].due_at, 5000);
    assert_int_equal(s.rows[1].delivered_at, 0);
    assert_string_equal(s.errors[1], "(null)");
    assert_string_equal(s.bodies[1], a100.body);
    assert_int_equal(s.rows[2].hook, 1);
    assert_memory_equal(s.rows[2].id.bytes, a.id.bytes, 16);

    /* The outbox: pending rows only, by due time; a callback's return stops it. */
    s = outbox_read(f->st, 0, &rc, &count);
    assert_int_equal(rc, 0);
    assert_int_equal(count, 3);
    assert_int_equal(s.count, 3);
    assert_int_equal(s.rows[0].due_at, 3000);
    assert_int_equal(s.rows[1].due_at, 4000);
    assert_memory_equal(s.rows[1].id.bytes, b.id.bytes, 16);
    assert_int_equal(s.rows[2].due_at, 5000);
    s = outbox_read(f->st, 1, &rc, &count);
    assert_int_equal(rc, 7);
    assert_int_equal(s.count, 1);

    /* A retry moves a row's due time; a row that failed for good leaves the outbox. */
    a100h1.attempts = 1;
    a100h1.due_at = 9000;
    a100h1.last_error = "HTTP 500";
    notify_put(f->st, &a100h1, 3000);
    a100.state = STORE_NOTIFY_FAILED;
    a100.attempts = 5;
    notify_put(f->st, &a100, 5000);
    s = outbox_read(f->st, 0, &rc, &count);
    assert_int_equal(count, 2);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.rows[0].due_at, 4000);
    assert_int_equal(s.rows[1].due_at, 9000);
    assert_int_equal(s.rows[1].attempts, 1);
    assert_string_equal(s.errors[1], "HTTP 500");

    /* Retention deletes an execution's notifications with it, outbox entries too. */
    batch = store_batch_new(f->st);
    assert_int_equal(store_batch_exec_purge(batch, 2000, &a.id, 99000), 0);
    if (store_batch_commit(f->st, batch) != 0)
        fail_msg("purge commit: %s", store_last_error(f->st));
    store_batch_free(batch);
    s = outbox_read(f->st, 0, &rc, &count);
    assert_int_equal(count, 1);
    assert_int_equal(s.count, 1);
    assert_memory_equal(s.rows[0].id.bytes, b.id.bytes, 16);
    memset(&s, 0, sizeof s);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_notify_scan(t, &a.id, collect_notify, &s), 0);
    store_txn_abort(t);
    assert_int_equal(s.count, 0);
}

#define STORE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#ifdef TARRY_TEST_STORE_PG
/* A test of another group, named but not run here: its function rides along as the initial state
 * (so it is referenced, and a reader sees which it is). */
static void skip_lmdb_only(void **state)
{
    (void)state;
    print_message(
        "skipped: LMDB-only (the data folder, the map, or a store an older build wrote with lmdb.h)\n");
    skip();
}

static void skip_url_test(void **state)
{
    (void)state;
    print_message("skipped: store_open_url's schemes are store.c's, tested once, in unit.test_store\n");
    skip();
}
#define LMDB_TEST(fn)                                                                                        \
    {                                                                                                        \
#fn, skip_lmdb_only, NULL, NULL, (void *)(uintptr_t)fn                                               \
    }
#define URL_TEST(fn)                                                                                         \
    {                                                                                                        \
#fn, skip_url_test, NULL, NULL, (void *)(uintptr_t)fn                                                \
    }
#else
#define LMDB_TEST(fn) STORE_TEST(fn)
#define URL_TEST(fn) STORE_TEST(fn)
#endif

int main(void)
{
    /* Any implementation of the store. */
    const struct CMUnitTest tests[] = {
        STORE_TEST(test_record_round_trip),
        STORE_TEST(test_missing_id_is_not_found),
        STORE_TEST(test_function_name_limit),
        STORE_TEST(test_indexes_follow_state_changes),
        STORE_TEST(test_timers),
        STORE_TEST(test_discard_timers),
        STORE_TEST(test_reruns),
        STORE_TEST(test_retention),
        STORE_TEST(test_list_pages),
        STORE_TEST(test_list_filters_against_model),
        STORE_TEST(test_logs),
        STORE_TEST(test_callbacks_stop_scans),
        STORE_TEST(test_batch_matches_direct),
        STORE_TEST(test_batch_owns_its_copies),
        STORE_TEST(test_batch_reset_and_empty),
        STORE_TEST(test_batches_apply_in_order),
        STORE_TEST(test_durable_across_reopen),
        STORE_TEST(test_pins_follow_records),
        STORE_TEST(test_commit_on_thread_while_reading),
        STORE_TEST(test_commits_on_thread_during_reads),
        STORE_TEST(test_write_while_reading_same_thread),
        STORE_TEST(test_suspect_flag_round_trip),
        STORE_TEST(test_fn_crashes_across_reopen),
        STORE_TEST(test_control_fields_round_trip),
        STORE_TEST(test_attempts),
        STORE_TEST(test_query_by_metadata_reads_the_index),
        STORE_TEST(test_idem_keys),
        STORE_TEST(test_callers),
        STORE_TEST(test_notifications_and_outbox),
    };
    /* LMDB-only: the data folder, the map, and stores written by older builds (lmdb.h). */
    const struct CMUnitTest lmdb_tests[] = {
        LMDB_TEST(test_open_creates_folder),
        LMDB_TEST(test_open_errors_name_the_folder),
        LMDB_TEST(test_default_map_costs_no_disk),
        LMDB_TEST(test_map_size_out_of_range),
        LMDB_TEST(test_full_map_refuses_and_keeps_serving),
        LMDB_TEST(test_last_error_is_per_thread),
        LMDB_TEST(test_pins_built_for_an_older_store),
        LMDB_TEST(test_log_attempts_and_older_lines),
        LMDB_TEST(test_meta_built_for_an_older_store),
    };
    /* Which implementation a URL opens (store.c). */
    const struct CMUnitTest url_tests[] = {
        URL_TEST(test_open_url_lmdb_forms),
        URL_TEST(test_open_url_refusals),
    };
    int failed = cmocka_run_group_tests_name("store", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("store.lmdb", lmdb_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("store.url", url_tests, NULL, NULL);
    return failed;
}
