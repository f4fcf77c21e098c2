/*
 * test_store_pg_journal.c - the PostgreSQL store's journal, attempts, logs
 * (store_pg_journal.c), callers, crash histories, cron marks and idempotency
 * keys (store_pg_keys.c), against the real server of the CTest fixture
 * pg_unit: each case opens a store on a fresh database of its own
 * (pg_testdb.h), dropped after. The cases are test_store.c's for these
 * tables, with values the schema takes, plus what is PostgreSQL's own: names
 * in byte order whatever the database's collation, a long log read in chunks
 * and stopped in the middle, a batch whose rows come before their
 * execution's, values the schema's enums refuse. It runs past 800 lines
 * because it is the one test of two files and seven tables; once the
 * conformance run (test_store.c on PostgreSQL) covers the shared cases, only
 * the PostgreSQL-own ones need stay here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"
#include "pg_testdb.h"
#include "record.h"
#include "status.h"
#include "store.h"

typedef struct fixture {
    pg_testdb db;
    store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[512] = "";

    assert_non_null(f);
    assert_int_equal(pg_testdb_create(&f->db), 0);
    if (store_open_url(&f->st, f->db.url, 0, err, sizeof err) != 0)
        fail_msg("opening %s: %s", f->db.name, err);
    assert_string_equal(store_kind(f->st), "postgres");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    store_close(f->st);
    assert_int_equal(pg_testdb_drop(&f->db), 0);
    free(f);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------- */

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

/* New executions, one after the other (consecutive ids: a scan that overran its execution's
 * rows would see the next one's), written in one transaction. */
static void executions(store *st, exec_id *ids, size_t n)
{
    store_txn *t;

    assert_int_equal(store_txn_begin(st, true, &t), 0);
    for (size_t i = 0; i < n; i++) {
        exec_record r;
        id_new(&ids[i]);
        r = record_with_id(&ids[i], "fn", EXEC_RUNNING);
        assert_int_equal(store_exec_put(t, &r, NULL), 0);
    }
    assert_int_equal(store_txn_commit(t), 0);
}

static void commit_batch(store *st, store_batch *b)
{
    if (store_batch_commit(st, b) != 0)
        fail_msg("commit: %s", store_last_error(st));
    store_batch_free(b);
}

/* ---- journal ----------------------------------------------------------------- */

#define JOURNAL_KEPT 16

typedef struct journal_seen {
    size_t n;
    journal_entry e[JOURNAL_KEPT];
    char name[JOURNAL_KEPT][32], value[JOURNAL_KEPT][32], error[JOURNAL_KEPT][32];
    int stop_at; /* return 42 at this call (from 1); 0: never */
} journal_seen;

static const char *keep(char *buf, size_t len, const char *s)
{
    if (!s)
        return NULL;
    snprintf(buf, len, "%s", s);
    return buf;
}

static int add_entry(void *user, const journal_entry *e)
{
    journal_seen *s = user;

    assert_true(s->n < JOURNAL_KEPT);
    s->e[s->n] = *e;
    s->e[s->n].name = keep(s->name[s->n], sizeof s->name[0], e->name);
    s->e[s->n].value = keep(s->value[s->n], sizeof s->value[0], e->value);
    s->e[s->n].error = keep(s->error[s->n], sizeof s->error[0], e->error);
    s->n++;
    return s->stop_at && (int)s->n == s->stop_at ? 42 : 0;
}

static void assert_str_or_null(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_non_null(got), assert_string_equal(got, want);
}

static void assert_entry(const journal_entry *got, const journal_entry *want)
{
    assert_int_equal(got->seq, want->seq);
    assert_int_equal(got->kind, want->kind);
    assert_int_equal(got->status, want->status);
    assert_int_equal(got->detached, want->detached);
    assert_int_equal(got->started_at, want->started_at);
    assert_int_equal(got->finished_at, want->finished_at);
    assert_int_equal(got->wake_at, want->wake_at);
    assert_memory_equal(got->child.bytes, want->child.bytes, 16);
    assert_str_or_null(got->name, want->name);
    assert_str_or_null(got->value, want->value);
    assert_str_or_null(got->error, want->error);
}

static void scan_journal(store *st, const exec_id *id, journal_seen *s, int stop_at, int want_rc)
{
    store_txn *t;

    memset(s, 0, sizeof *s);
    s->stop_at = stop_at;
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_journal_scan(t, id, add_entry, s), want_rc);
    store_txn_abort(t);
}

/* Every field round-trips (NULL and "" apart, negative and endless times, ids), entries come
 * in seq order per execution, a put replaces, a delete of nothing does nothing. */
static void test_journal(void **state)
{
    fixture *f = *state;
    static const uint32_t seqs[] = {256, 1, 0xffffffffu, 255, 65536, 0};
    static const uint32_t sorted[] = {0, 1, 255, 256, 65536, 0xffffffffu};
    journal_entry want[6];
    char names[6][16], values[6][16];
    exec_id ids[3], child;
    journal_seen seen;
    journal_entry got;
    store_batch *b;
    store_txn *t;

    executions(f->st, ids, 3);
    id_new(&child);
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    for (size_t i = 0; i < 6; i++) {
        journal_entry *e = &want[i];
        memset(e, 0, sizeof *e);
        e->seq = seqs[i];
        e->kind = (journal_kind)(JOURNAL_CALL + i % 5);
        e->status = (journal_status)(i % 4);
        e->detached = i % 2;
        e->started_at = -5 + (int64_t)i; /* i = 5: 0, "not yet" */
        e->finished_at = i == 2 ? INT64_MAX : 1700000000000 + (int64_t)i;
        e->wake_at = e->kind == JOURNAL_SLEEP ? 1700000000123 : 0;
        if (e->kind == JOURNAL_CALL)
            e->child = child;
        snprintf(names[i], sizeof names[i], "a%u", seqs[i]);
        snprintf(values[i], sizeof values[i], "{\"v\":%zu}", i);
        e->name = e->kind == JOURNAL_NOW ? NULL : names[i];
        e->value = i == 1 ? NULL : values[i];
        e->error = i == 3 ? "" : i == 4 ? "card declined" : NULL;
        assert_int_equal(store_journal_put(t, &ids[0], e), 0);
        journal_entry other = *e;
        other.name = "b";
        assert_int_equal(store_journal_put(t, &ids[1], &other), 0);
    }
    assert_int_equal(store_txn_commit(t), 0);

    scan_journal(f->st, &ids[0], &seen, 0, 0);
    assert_int_equal(seen.n, 6);
    for (size_t i = 0; i < 6; i++) {
        size_t put_at = 0;
        while (seqs[put_at] != sorted[i])
            put_at++;
        assert_entry(&seen.e[i], &want[put_at]);
    }
    scan_journal(f->st, &ids[1], &seen, 0, 0);
    assert_int_equal(seen.n, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(seen.e[i].name, "b");
    scan_journal(f->st, &ids[2], &seen, 0, 0);
    assert_int_equal(seen.n, 0);
    scan_journal(f->st, &ids[0], &seen, 2, 42); /* the callback's value stops the scan */
    assert_int_equal(seen.n, 2);

    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_journal_get(t, &ids[0], 65536, &got), 0);
    assert_entry(&got, &want[4]);
    assert_int_equal(store_journal_get(t, &ids[0], 2, &got), TARRY_ENOTFOUND);
    assert_int_equal(store_journal_get(t, &ids[2], 0, &got), TARRY_ENOTFOUND);
    store_txn_abort(t);

    /* A batch replaces seq 1, deletes 255 and a seq that is not there. */
    journal_entry again = want[1];
    again.status = JOURNAL_SUCCEEDED;
    again.value = "\"done\"";
    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_journal_put(b, &ids[0], &again), 0);
    assert_int_equal(store_batch_journal_del(b, &ids[0], 255), 0);
    assert_int_equal(store_batch_journal_del(b, &ids[0], 7), 0);
    commit_batch(f->st, b);
    scan_journal(f->st, &ids[0], &seen, 0, 0);
    assert_int_equal(seen.n, 5);
    assert_entry(&seen.e[1], &again);
    assert_int_equal(seen.e[2].seq, 256);

    /* A kind the schema has no label for is refused before it reaches the server. */
    journal_entry bad = want[0];
    bad.kind = (journal_kind)99;
    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_journal_put(b, &ids[0], &bad), TARRY_EINVAL);
    assert_non_null(strstr(store_last_error(f->st), "journal kind 99"));
    assert_true(store_batch_empty(b));
    store_batch_free(b);
}

/* ---- logs -------------------------------------------------------------------- */

#define LOGS_KEPT 700

typedef struct log_seen {
    size_t n;
    store_log_line lines[LOGS_KEPT];
    char texts[LOGS_KEPT][48];
    size_t stop_at;
} log_seen;

static int add_line(void *user, const store_log_line *line)
{
    log_seen *s = user;

    assert_true(s->n < LOGS_KEPT);
    s->lines[s->n] = *line;
    snprintf(s->texts[s->n], sizeof s->texts[0], "%s", line->text);
    s->lines[s->n].text = s->texts[s->n];
    s->n++;
    return s->stop_at && s->n == s->stop_at ? 7 : 0;
}

static int scan_logs(store *st, const exec_id *id, uint32_t from, size_t stop_at, log_seen *s)
{
    store_txn *t;
    int rc;

    memset(s, 0, sizeof *s);
    s->stop_at = stop_at;
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    rc = from ? store_log_scan_from(t, id, from, add_line, s) : store_log_scan(t, id, add_line, s);
    store_txn_abort(t);
    return rc;
}

static void test_logs(void **state)
{
    fixture *f = *state;
    static const uint32_t seqs[] = {256, 1, 0xffffffffu, 255, 65536, 0};
    static const uint32_t sorted[] = {0, 1, 255, 256, 65536, 0xffffffffu};
    log_seen *l = malloc(sizeof *l);
    exec_id ids[3];
    store_txn *t;

    assert_non_null(l);
    executions(f->st, ids, 3);
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    for (size_t i = 0; i < 6; i++) {
        char text[32];
        store_log_line line = {seqs[i], -5 + (int64_t)i - (i == 5), (int)(i % 4), text, (uint32_t)i};
        snprintf(text, sizeof text, "a%u", seqs[i]);
        assert_int_equal(store_log_put(t, &ids[0], &line), 0);
        snprintf(text, sizeof text, "b%u", seqs[i]);
        line.level = TARRY_LOG_ERROR;
        assert_int_equal(store_log_put(t, &ids[1], &line), 0);
    }
    store_log_line only = {7, INT64_MAX, TARRY_LOG_DEBUG, "", 0};
    assert_int_equal(store_log_put(t, &ids[2], &only), 0);
    assert_int_equal(store_txn_commit(t), 0);

    assert_int_equal(scan_logs(f->st, &ids[0], 0, 0, l), 0);
    assert_int_equal(l->n, 6);
    for (size_t i = 0; i < 6; i++) {
        char want[32];
        size_t put_at = 0;
        while (seqs[put_at] != sorted[i])
            put_at++;
        snprintf(want, sizeof want, "a%u", sorted[i]);
        assert_int_equal(l->lines[i].seq, sorted[i]);
        assert_string_equal(l->texts[i], want);
        assert_int_equal(l->lines[i].time_ms, -5 + (int64_t)put_at - (put_at == 5));
        assert_int_equal(l->lines[i].level, (int)(put_at % 4));
        assert_int_equal(l->lines[i].attempt, put_at);
    }
    assert_int_equal(scan_logs(f->st, &ids[1], 0, 0, l), 0);
    assert_int_equal(l->n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(l->texts[i][0], 'b');
        assert_int_equal(l->lines[i].level, TARRY_LOG_ERROR);
    }
    assert_int_equal(scan_logs(f->st, &ids[2], 0, 0, l), 0);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->texts[0], "");
    assert_int_equal(l->lines[0].time_ms, INT64_MAX);
    assert_int_equal(scan_logs(f->st, &ids[0], 256, 0, l), 0); /* from a seq on */
    assert_int_equal(l->n, 3);
    assert_int_equal(l->lines[0].seq, 256);

    /* A later line with the same seq replaces the earlier one. */
    store_log_line again = {1, 99, TARRY_LOG_WARN, "replaced", 2};
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_log_put(t, &ids[0], &again), 0);
    assert_int_equal(store_txn_commit(t), 0);
    assert_int_equal(scan_logs(f->st, &ids[0], 0, 0, l), 0);
    assert_int_equal(l->n, 6);
    assert_string_equal(l->texts[1], "replaced");
    assert_int_equal(l->lines[1].time_ms, 99);
    assert_int_equal(l->lines[1].attempt, 2);

    /* A level the schema's enum has no label for is refused, naming it. */
    store_log_line loud = {8, 1, 9, "?", 0};
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_log_put(t, &ids[0], &loud), TARRY_EINVAL);
    assert_non_null(strstr(store_last_error(f->st), "log level 9"));
    store_txn_abort(t);
    free(l);
}

/* A log longer than a chunk: read whole in order, and a page from the middle stopped by its
 * callback returns the callback's value after exactly the lines it took. */
static void test_long_log_pages(void **state)
{
    fixture *f = *state;
    log_seen *l = malloc(sizeof *l);
    store_batch *b;
    exec_id id;

    assert_non_null(l);
    executions(f->st, &id, 1);
    assert_non_null(b = store_batch_new(f->st));
    for (uint32_t i = 0; i < 600; i++) {
        char text[32];
        store_log_line line = {i, 1700000000000 + i, TARRY_LOG_INFO, text, 1};
        snprintf(text, sizeof text, "line %u", i);
        assert_int_equal(store_batch_log_put(b, &id, &line), 0);
    }
    store_log_line dropped = {STORE_LOG_DROPPED_SEQ, 1700000009999, TARRY_LOG_WARN, "9 lines dropped", 1};
    assert_int_equal(store_batch_log_put(b, &id, &dropped), 0);
    commit_batch(f->st, b);

    assert_int_equal(scan_logs(f->st, &id, 0, 0, l), 0);
    assert_int_equal(l->n, 601);
    for (uint32_t i = 0; i < 600; i++) {
        char want[32];
        snprintf(want, sizeof want, "line %u", i);
        assert_int_equal(l->lines[i].seq, i);
        assert_string_equal(l->texts[i], want);
    }
    assert_int_equal(l->lines[600].seq, STORE_LOG_DROPPED_SEQ);
    assert_string_equal(l->texts[600], "9 lines dropped");

    assert_int_equal(scan_logs(f->st, &id, 100, 300, l), 7);
    assert_int_equal(l->n, 300);
    assert_int_equal(l->lines[0].seq, 100);
    assert_int_equal(l->lines[299].seq, 399);
    assert_int_equal(scan_logs(f->st, &id, 599, 0, l), 0);
    assert_int_equal(l->n, 2);
    assert_int_equal(scan_logs(f->st, &id, STORE_LOG_DROPPED_SEQ, 0, l), 0);
    assert_int_equal(l->n, 1);
    free(l);
}

/* ---- attempts ------------------------------------------------------------------- */

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

static void test_attempts(void **state)
{
    fixture *f = *state;
    store_attempt one = {1, 10, 20, EXEC_FAILED, false, true, false, "timed out after 1s"};
    store_attempt two = {2, 30, 40, EXEC_FAILED, true, false, false, NULL};
    store_attempt three = {3, 50, 60, EXEC_SUCCEEDED, false, false, false, NULL};
    store_attempt other = {1, 1, 2, EXEC_FAILED, false, false, true, "bad card"};
    struct attempts_seen seen = {""};
    store_batch *batch;
    store_txn *txn;
    exec_id ids[2];

    executions(f->st, ids, 2);
    assert_non_null(batch = store_batch_new(f->st));
    assert_int_equal(store_batch_attempt_put(batch, &ids[0], &three), 0);
    assert_int_equal(store_batch_attempt_put(batch, &ids[0], &one), 0);
    assert_int_equal(store_batch_attempt_put(batch, &ids[1], &other), 0);
    commit_batch(f->st, batch);
    assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
    assert_int_equal(store_attempt_put(txn, &ids[0], &two), 0);
    one.error = "replaced";
    assert_int_equal(store_attempt_put(txn, &ids[0], &one), 0);
    assert_int_equal(store_txn_commit(txn), 0);

    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_attempt_scan(txn, &ids[0], attempt_seen, &seen), 0);
    assert_string_equal(seen.text, "1:10-20:failed:010:replaced;2:30-40:failed:100:-;"
                                   "3:50-60:succeeded:000:-;");
    seen.text[0] = '\0';
    assert_int_equal(store_attempt_scan(txn, &ids[1], attempt_seen, &seen), 0);
    assert_string_equal(seen.text, "1:1-2:failed:001:bad card;");
    store_txn_abort(txn);
}

/* ---- callers -------------------------------------------------------------------- */

typedef struct callers_seen {
    size_t n;
    store_caller c[8];
} callers_seen;

static int add_caller(void *user, const store_caller *c)
{
    callers_seen *s = user;
    assert_true(s->n < 8);
    s->c[s->n++] = *c;
    return 0;
}

static void test_callers(void **state)
{
    fixture *f = *state;
    store_batch *b;
    exec_id child, other, p[2];
    store_caller a = {{{0}}, 7, false}, c = {{{0}}, 0x01020304, false}, d = {{{0}}, 3, true};
    exec_record child_rec;
    callers_seen got;
    store_txn *t;

    executions(f->st, p, 2);
    executions(f->st, &other, 1);
    id_new(&child);
    a.parent = p[0];
    c.parent = p[0];
    d.parent = p[1];
    /* The child is written after its callers, in the same batch: the rows are checked at commit. */
    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_caller_put(b, &child, &d), 0);
    assert_int_equal(store_batch_caller_put(b, &child, &c), 0);
    assert_int_equal(store_batch_caller_put(b, &child, &a), 0);
    assert_int_equal(store_batch_caller_put(b, &other, &a), 0);
    child_rec = record_with_id(&child, "shared", EXEC_QUEUED);
    assert_int_equal(store_batch_exec_put(b, &child_rec, NULL), 0);
    commit_batch(f->st, b);
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_caller_put(t, &other, &d), 0);
    d.detached = false; /* a put replaces */
    assert_int_equal(store_caller_put(t, &other, &d), 0);
    assert_int_equal(store_txn_commit(t), 0);

    memset(&got, 0, sizeof got);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_callers_scan(t, &child, add_caller, &got), 0);
    store_txn_abort(t);
    assert_int_equal(got.n, 3);
    assert_memory_equal(got.c[0].parent.bytes, p[0].bytes, 16); /* p[0] is older than p[1] */
    assert_int_equal(got.c[0].seq, 7);
    assert_int_equal(got.c[1].seq, 0x01020304); /* numerically after 7 */
    assert_false(got.c[1].detached);
    assert_memory_equal(got.c[2].parent.bytes, p[1].bytes, 16);
    assert_int_equal(got.c[2].seq, 3);
    assert_true(got.c[2].detached);

    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_caller_del(b, &child, &p[0], 7), 0);
    assert_int_equal(store_batch_caller_del(b, &child, &p[0], 8), 0); /* none there: nothing happens */
    commit_batch(f->st, b);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_callers_scan(t, &child, add_caller, &got), 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.c[0].seq, 0x01020304);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_callers_scan(t, &other, add_caller, &got), 0);
    assert_int_equal(got.n, 2);
    assert_false(got.c[1].detached);
    store_txn_abort(t);

    /* A caller of an execution nobody writes fails the whole batch at commit. */
    exec_id ghost;
    id_new(&ghost);
    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_caller_put(b, &ghost, &a), 0);
    assert_int_equal(store_batch_caller_del(b, &other, &p[1], 3), 0);
    assert_int_not_equal(store_batch_commit(f->st, b), 0);
    store_batch_free(b);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_callers_scan(t, &other, add_caller, &got), 0);
    assert_int_equal(got.n, 2); /* the delete in the failed batch was rolled back */
    store_txn_abort(t);
}

/* ---- crash histories ---------------------------------------------------------------- */

struct crash_seen {
    char text[1024];
    int stop_at, calls;
};

static int crash_history_seen(void *user, const char *function, const store_fn_crashes *c)
{
    struct crash_seen *seen = user;
    size_t n = strlen(seen->text);
    char idt[ID_TEXT_LEN + 1];

    n += (size_t)snprintf(seen->text + n, sizeof seen->text - n, "%s@%s:%u:%lld:%s:", function, c->hash,
                          c->count, (long long)c->quarantined_at, c->reason ? c->reason : "(null)");
    for (uint32_t i = 0; i < c->count; i++) {
        id_format(&c->ids[i], idt);
        n += (size_t)snprintf(seen->text + n, sizeof seen->text - n, "%lld/%.4s,", (long long)c->at[i],
                              idt + 22);
    }
    snprintf(seen->text + n, sizeof seen->text - n, ";");
    return ++seen->calls == seen->stop_at ? 5 : 0;
}

static void scan_crashes(store *st, struct crash_seen *seen, int stop_at, int want_rc)
{
    store_txn *t;

    memset(seen, 0, sizeof *seen);
    seen->stop_at = stop_at;
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_fn_crashes_scan(t, crash_history_seen, seen), want_rc);
    store_txn_abort(t);
}

/* Histories come back by function in byte order ("B" before "a", whatever the database's
 * collation), each with its crashes newest first, its quarantine and reason. */
static void test_fn_crashes(void **state)
{
    fixture *f = *state;
    struct crash_seen seen;
    store_fn_crashes c;
    store_batch *b;
    store_txn *txn;
    char want[1024], idt[3][ID_TEXT_LEN + 1], long_name[282];
    exec_id ids[3];

    executions(f->st, ids, 3);
    for (int i = 0; i < 3; i++)
        id_format(&ids[i], idt[i]);
    memset(&c, 0, sizeof c);
    snprintf(c.hash, sizeof c.hash, "0123456789abcdef");
    c.count = 2;
    c.at[0] = 1000;
    c.at[1] = 900;
    c.ids[0] = ids[1];
    c.ids[1] = ids[0];
    c.reason = "";
    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_fn_crashes_put(b, "b", &c), 0);
    assert_int_equal(store_batch_fn_crashes_put(b, "a_b", &c), 0);
    c.count = 3;
    c.at[0] = 2000;
    c.ids[0] = ids[2];
    c.at[1] = 1000;
    c.ids[1] = ids[1];
    c.at[2] = 900;
    c.ids[2] = ids[0];
    c.quarantined_at = 2000;
    c.reason = "3 different executions";
    assert_int_equal(store_batch_fn_crashes_put(b, "B", &c), 0);
    assert_int_equal(store_batch_fn_crashes_put(b, "", &c), TARRY_EINVAL);
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(store_batch_fn_crashes_put(b, long_name, &c), TARRY_EINVAL);
    snprintf(c.hash, sizeof c.hash, "0123456789ABCDEF"); /* no plugin version: refused, named */
    assert_int_equal(store_batch_fn_crashes_put(b, "B", &c), TARRY_EINVAL);
    assert_non_null(strstr(store_last_error(f->st), "0123456789ABCDEF"));
    snprintf(c.hash, sizeof c.hash, "0123456789abcdef");
    commit_batch(f->st, b);

    /* A history with no crashes left (quarantined, then cleared) is kept. */
    c.count = 0;
    c.quarantined_at = 0;
    c.reason = NULL;
    snprintf(c.hash, sizeof c.hash, "fedcba9876543210");
    assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
    assert_int_equal(store_fn_crashes_put(txn, "a", &c), 0);
    assert_int_equal(store_txn_commit(txn), 0);

    scan_crashes(f->st, &seen, 0, 0);
    snprintf(want, sizeof want,
             "B@0123456789abcdef:3:2000:3 different executions:2000/%.4s,1000/%.4s,900/%.4s,;"
             "a@fedcba9876543210:0:0::;"
             "a_b@0123456789abcdef:2:0::1000/%.4s,900/%.4s,;"
             "b@0123456789abcdef:2:0::1000/%.4s,900/%.4s,;",
             idt[2] + 22, idt[1] + 22, idt[0] + 22, idt[1] + 22, idt[0] + 22, idt[1] + 22, idt[0] + 22);
    assert_string_equal(seen.text, want);
    scan_crashes(f->st, &seen, 2, 5);
    assert_int_equal(seen.calls, 2);

    /* A new history replaces the old one whole; an empty hash forgets it. */
    c.count = 1;
    c.at[0] = 3000;
    c.ids[0] = ids[2];
    snprintf(c.hash, sizeof c.hash, "0123456789abcdef");
    assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
    assert_int_equal(store_fn_crashes_put(txn, "b", &c), 0);
    c.hash[0] = '\0';
    assert_int_equal(store_fn_crashes_put(txn, "a_b", &c), 0);
    assert_int_equal(store_fn_crashes_put(txn, "B", &c), 0);
    assert_int_equal(store_txn_commit(txn), 0);
    scan_crashes(f->st, &seen, 0, 0);
    snprintf(want, sizeof want, "a@fedcba9876543210:0:0::;b@0123456789abcdef:1:0::3000/%.4s,;", idt[2] + 22);
    assert_string_equal(seen.text, want);
}

/* ---- cron marks -------------------------------------------------------------------- */

static int cron_seen(void *user, const char *function, int64_t covered_until, const char *expr)
{
    char *text = user;
    size_t n = strlen(text);
    snprintf(text + n, 256 - n, "%s=%lld@%s;", function, (long long)covered_until, expr);
    return strcmp(function, "a") == 0 ? 9 : 0;
}

static void test_cron_marks(void **state)
{
    fixture *f = *state;
    char seen[256] = "";
    store_batch *b;
    store_txn *t;

    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_cron_put(b, "b", 1700000000000, "*/5 * * * *"), 0);
    assert_int_equal(store_batch_cron_put(b, "a", 1700000000000, "0 * * * *"), 0);
    assert_int_equal(store_batch_cron_put(b, "", 1, "x"), TARRY_EINVAL);
    commit_batch(f->st, b);
    assert_int_equal(store_txn_begin(f->st, true, &t), 0);
    assert_int_equal(store_cron_put(t, "B", 1699999999999, "@daily"), 0);
    assert_int_equal(store_cron_put(t, "b", 1700000300000, "*/5 * * * *"), 0); /* replaces */
    assert_int_equal(store_txn_commit(t), 0);

    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_cron_scan(t, cron_seen, seen), 9); /* stopped at "a" */
    assert_string_equal(seen, "B=1699999999999@@daily;a=1700000000000@0 * * * *;");
    store_txn_abort(t);
}

/* ---- idempotency keys ----------------------------------------------------------------- */

typedef struct expired_seen {
    size_t n;
    uint8_t keys[8][STORE_IDEM_KEY_MAX];
    size_t lens[8];
    int stop_at;
} expired_seen;

static int note_expired(void *user, const void *key, size_t len)
{
    expired_seen *s = user;
    assert_true(s->n < 8 && len <= STORE_IDEM_KEY_MAX);
    memcpy(s->keys[s->n], key, len);
    s->lens[s->n++] = len;
    return s->stop_at && (int)s->n == s->stop_at ? 3 : 0;
}

static void assert_raw_key(const expired_seen *s, size_t i, const char *function, const char *key)
{
    uint8_t want[STORE_IDEM_KEY_MAX];
    size_t len = store_idem_key(function, key, want);
    assert_int_equal(s->lens[i], len);
    assert_memory_equal(s->keys[i], want, len);
}

static void test_idem_keys(void **state)
{
    fixture *f = *state;
    store_idem v = {{{0}}, 1000}, got;
    store_idem_pos pos = {{0}, 0};
    expired_seen seen;
    char long_fn[130];
    exec_id ids[2];
    store_batch *b;
    store_txn *t;

    executions(f->st, ids, 2);
    v.id = ids[0];
    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_idem_put(b, "fn", "order-42", &v), 0);
    assert_int_equal(store_batch_idem_put(b, "Fn", "order-42", &v), 0);
    assert_int_equal(store_batch_idem_put(b, "fn", "order-43", &v), 0);
    v.id = ids[1];
    v.expires_at = 5000;
    assert_int_equal(store_batch_idem_put(b, "other", "order-42", &v), 0);
    assert_int_equal(store_batch_idem_put(b, "fn", "order-43", &v), 0); /* replaces */
    memset(long_fn, 'f', sizeof long_fn - 1);
    long_fn[sizeof long_fn - 1] = '\0';
    assert_int_equal(store_batch_idem_put(b, long_fn, "k", &v), TARRY_EINVAL);
    commit_batch(f->st, b);

    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_idem_get(t, "fn", "order-42", &got), 0);
    assert_memory_equal(&got.id, &ids[0], sizeof got.id);
    assert_int_equal(got.expires_at, 1000);
    assert_int_equal(store_idem_get(t, "fn", "order-43", &got), 0);
    assert_memory_equal(&got.id, &ids[1], sizeof got.id);
    assert_int_equal(got.expires_at, 5000);
    assert_int_equal(store_idem_get(t, "fn", "order-44", &got), TARRY_ENOTFOUND);
    assert_int_equal(store_idem_get(t, long_fn, "k", &got), TARRY_ENOTFOUND);

    /* The sweep at 2000 finds Fn's and fn's order-42 (byte order: "Fn" < "fn" < "other"). */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_idem_expired(t, 2000, &pos, 10, note_expired, &seen), 0);
    assert_int_equal(pos.len, 0); /* the end: the next sweep starts at the top */
    assert_int_equal(seen.n, 2);
    assert_raw_key(&seen, 0, "Fn", "order-42");
    assert_raw_key(&seen, 1, "fn", "order-42");

    /* Bounded: one key per call, each call going on where the last one stopped. */
    size_t found = 0, calls = 0;
    memset(&seen, 0, sizeof seen);
    do {
        assert_int_equal(store_idem_expired(t, 2000, &pos, 1, note_expired, &seen), 0);
        calls++;
    } while (pos.len && calls < 10);
    found = seen.n;
    assert_int_equal(calls, 4); /* four keys, one looked at per call */
    assert_int_equal(found, 2);

    /* A callback that stops the sweep leaves the position on its key: the next call sees it again. */
    memset(&seen, 0, sizeof seen);
    seen.stop_at = 1;
    assert_int_equal(store_idem_expired(t, 9000, &pos, 10, note_expired, &seen), 3);
    assert_int_not_equal(pos.len, 0);
    seen.stop_at = 0;
    assert_int_equal(store_idem_expired(t, 9000, &pos, 10, note_expired, &seen), 0);
    assert_int_equal(seen.n, 5); /* Fn's twice, then the other three */
    assert_raw_key(&seen, 0, "Fn", "order-42");
    assert_raw_key(&seen, 1, "Fn", "order-42");
    assert_raw_key(&seen, 4, "other", "order-42");
    store_txn_abort(t);

    /* A key deleted as the sweep named it is gone; a raw key that is none is refused. */
    assert_non_null(b = store_batch_new(f->st));
    assert_int_equal(store_batch_idem_del_raw(b, seen.keys[4], seen.lens[4]), 0);
    assert_int_equal(store_batch_idem_del_raw(b, "fn", 2), TARRY_EINVAL);
    commit_batch(f->st, b);
    assert_int_equal(store_txn_begin(f->st, false, &t), 0);
    assert_int_equal(store_idem_get(t, "other", "order-42", &got), TARRY_ENOTFOUND);
    assert_int_equal(store_idem_get(t, "fn", "order-42", &got), 0);
    store_txn_abort(t);
}

#define PG_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PG_TEST(test_journal),    PG_TEST(test_logs),      PG_TEST(test_long_log_pages),
        PG_TEST(test_attempts),   PG_TEST(test_callers),   PG_TEST(test_fn_crashes),
        PG_TEST(test_cron_marks), PG_TEST(test_idem_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
