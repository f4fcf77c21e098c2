/*
 * test_store_pg_query.c - the PostgreSQL store's scans, timers, listings, counts and re-runs
 * (store_pg_query.c) read exactly what LMDB's read, in the same order.
 *
 * One data set of 700 executions is written into both stores through the public calls: nine
 * states (460 succeeded, so a scan of them crosses three pages), five functions (one rare, one
 * whose name holds a quote, a comma and a backslash), timers with equal due times, pins under
 * three versions, metadata, finished times, errors and re-runs. Then every read runs on both
 * with many arguments (cursors, limits, examine budgets, sources past
 * STORE_QUERY_MAX_SOURCES, callbacks that stop) and writes what it saw as text; the two texts
 * must be equal, line for line. LMDB is the reference: its order and edge cases are store.h's.
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
#include "status.h"
#include "store.h"

#define EXECUTIONS 700
#define T0 1700000000000LL /* the first execution's creation, Unix ms */

static const char *const functions[] = {"f0", "f1", "f2", "f3"};
static const char rare[] = "rare";
static const char odd[] = "q'x,\"y\\z"; /* survives the JSON array of sources */
static const char *const hashes[] = {"00000000000000aa", "00000000000000bb", "00000000000000cc"};

typedef struct stores {
    store *lmdb, *pg;
    char dir[64];
    pg_testdb db;
} stores;

static exec_id id_at(int i)
{
    exec_id id;
    /* Pairs of executions share a millisecond, so created bounds fall between ids of one ms. */
    int64_t ms = T0 + (int64_t)(i / 2) * 1000;
    uint64_t mix = (uint64_t)i * 0x9E3779B97F4A7C15ull;

    for (int b = 0; b < 6; b++)
        id.bytes[b] = (uint8_t)((uint64_t)ms >> (40 - 8 * b));
    id.bytes[6] = (uint8_t)i; /* the second of a pair sorts after the first, as id_new makes them */
    for (int b = 7; b < 16; b++)
        id.bytes[b] = (uint8_t)(mix >> (7 * (b - 7)));
    return id;
}

static exec_state state_at(int i)
{
    static const exec_state cycle[10] = {EXEC_SCHEDULED, EXEC_QUEUED,    EXEC_RUNNING,   EXEC_WAITING,
                                         EXEC_FAILED,    EXEC_CANCELLED, EXEC_DISCARDED, EXEC_BLOCKED,
                                         EXEC_SUCCEEDED, EXEC_SUCCEEDED};
    return i < 400 && i % 3 != 0 ? EXEC_SUCCEEDED : cycle[i % 10];
}

static void record_at(int i, exec_record *r, char *meta, size_t metalen, char *error, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->id = id_at(i);
    r->state = state_at(i);
    r->function = i % 50 == 7 ? rare : i % 97 == 3 ? odd : functions[i % 4];
    r->args = "{}";
    r->created_at = id_time_ms(&r->id);
    r->attempts = i % 4 == 1 ? 1 : 0;
    r->plugin_name = "p";
    r->plugin_version = "1";
    r->plugin_hash = i % 11 == 5 ? NULL : hashes[i % 3];
    if (r->state == EXEC_SCHEDULED)
        r->scheduled_at = T0 + (int64_t)(i % 13) * 60000; /* equal due times: ordered by id */
    if ((r->state == EXEC_SCHEDULED || r->state == EXEC_QUEUED) && i % 3 == 0)
        r->discard_at = T0 + (int64_t)(i % 7) * 50000;
    if (r->state == EXEC_WAITING) {
        r->wake_at = T0 + (int64_t)(i % 17) * 45000;
        r->wake_seq = 2;
    }
    if (exec_state_final(r->state)) {
        r->started_at = r->created_at + 10;
        r->finished_at = r->created_at + 500 + (i % 5) * 1000;
    }
    if (r->state == EXEC_FAILED) {
        snprintf(error, errlen, "boom %d: %s", i, i % 2 ? "timeout" : "refused");
        r->error = error;
    }
    if (i % 5 != 4) {
        snprintf(meta, metalen, "{\"team\":\"%c\",\"env\":\"%s\"}", 'a' + i % 3, i % 2 ? "prod" : "dev");
        r->metadata = meta;
    }
    if (i > 20 && i % 40 == 1)
        r->rerun_of = id_at(5);
    if (i > 20 && i % 60 == 2)
        r->rerun_of = id_at(9);
}

static void fill(store *st)
{
    store_txn *t;

    assert_int_equal(store_txn_begin(st, true, &t), 0);
    for (int i = 0; i < EXECUTIONS; i++) {
        char meta[128], error[128];
        exec_record r;
        record_at(i, &r, meta, sizeof meta, error, sizeof error);
        if (store_exec_put(t, &r, NULL) != 0)
            fail_msg("writing execution %d into %s: %s", i, store_kind(st), store_last_error(st));
    }
    if (store_txn_commit(t) != 0)
        fail_msg("committing into %s: %s", store_kind(st), store_last_error(st));
}

static int setup(void **state)
{
    stores *s = calloc(1, sizeof *s);
    char err[1024];

    assert_non_null(s);
    strcpy(s->dir, "/tmp/tarry-pgq-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    if (store_open(&s->lmdb, s->dir, STORE_MIN_MAP_SIZE * 64, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(pg_testdb_create(&s->db), 0);
    if (store_open_url(&s->pg, s->db.url, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
    fill(s->lmdb);
    fill(s->pg);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    stores *s = *state;
    char cmd[128];

    store_close(s->lmdb);
    store_close(s->pg);
    assert_int_equal(pg_testdb_drop(&s->db), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    assert_int_equal(system(cmd), 0);
    free(s);
    return 0;
}

/* ---- transcripts: what a read saw, as text ---------------------------------------------- */

typedef struct seen {
    FILE *out;
    int stop_after; /* the callback returns 7 at this call (0: never) */
    int calls;
} seen;

static int stop_or_go(seen *s)
{
    return ++s->calls == s->stop_after ? 7 : 0;
}

static void put_id(FILE *out, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];
    id_format(id, text);
    fputs(text, out);
}

static int saw_record(void *user, const exec_record *r)
{
    seen *s = user;
    put_id(s->out, &r->id);
    fprintf(s->out, " %s %s c%lld s%lld w%lld f%lld h%s e%s m%s\n", r->function, exec_state_name(r->state),
            (long long)r->created_at, (long long)r->scheduled_at, (long long)r->wake_at,
            (long long)r->finished_at, r->plugin_hash ? r->plugin_hash : "-", r->error ? r->error : "-",
            r->metadata ? r->metadata : "-");
    return stop_or_go(s);
}

static int saw_id(void *user, const exec_id *id)
{
    seen *s = user;
    put_id(s->out, id);
    fputc('\n', s->out);
    return stop_or_go(s);
}

static int saw_hash(void *user, const char *hash)
{
    seen *s = user;
    fprintf(s->out, "%s\n", hash);
    return stop_or_go(s);
}

static int saw_timer(void *user, int64_t due_ms, const exec_id *id)
{
    seen *s = user;
    fprintf(s->out, "%lld ", (long long)due_ms);
    put_id(s->out, id);
    fputc('\n', s->out);
    return stop_or_go(s);
}

typedef void (*reads_fn)(store_txn *t, FILE *out);

static store_txn *read_txn(store *st)
{
    store_txn *t;
    if (store_txn_begin(st, false, &t) != 0)
        fail_msg("a read transaction on %s: %s", store_kind(st), store_last_error(st));
    return t;
}

/* Run reads on a read transaction of st; what they saw, as text (the caller frees it). */
static char *transcript(store *st, reads_fn reads)
{
    store_txn *t = read_txn(st);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    reads(t, out);
    store_txn_abort(t);
    fclose(out);
    return text;
}

/* The same reads on both stores must see the same: the first line that differs fails the test. */
static void same_on_both(stores *s, reads_fn reads, const char *what)
{
    char *want = transcript(s->lmdb, reads), *got = transcript(s->pg, reads);
    const char *w = want, *g = got;
    int line = 1;

    while (*w && *w == *g) {
        if (*w == '\n')
            line++;
        w++, g++;
    }
    if (*w || *g) {
        const char *ws = w, *gs = g;
        while (ws > want && ws[-1] != '\n')
            ws--;
        while (gs > got && gs[-1] != '\n')
            gs--;
        fail_msg("%s: line %d differs\n  lmdb:     %.*s\n  postgres: %.*s", what, line,
                 (int)strcspn(ws, "\n"), ws, (int)strcspn(gs, "\n"), gs);
    }
    assert_true(line > 1); /* something was read */
    free(want);
    free(got);
}

static void returned(FILE *out, const char *call, int rc)
{
    fprintf(out, "%s -> %d\n", call, rc);
}

/* ---- the reads ---------------------------------------------------------------------------- */

static void reads_by_state(store_txn *t, FILE *out)
{
    for (int st = EXEC_NONE; st <= EXEC_STATE_COUNT; st++) {
        seen s = {out, 0, 0};
        fprintf(out, "state %d\n", st);
        returned(out, "scan_state", store_exec_scan_state(t, (exec_state)st, saw_record, &s));
        returned(out, "ids_in_state", store_exec_ids_in_state(t, (exec_state)st, saw_id, &s));
    }
    /* A callback's non-zero return stops the scan and is returned: also past the first page. */
    for (int stop = 1; stop <= 300; stop += 299) {
        seen s = {out, stop, 0};
        returned(out, "scan_state stopped", store_exec_scan_state(t, EXEC_SUCCEEDED, saw_record, &s));
        s.calls = 0;
        returned(out, "ids_in_state stopped", store_exec_ids_in_state(t, EXEC_SUCCEEDED, saw_id, &s));
    }
}

static void reads_counts(store_txn *t, FILE *out)
{
    static const uint64_t maxes[] = {0, 1, 5, 100, UINT64_MAX};
    const char *fns[] = {NULL, "f1", rare, odd, "none"};

    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++)
        for (int st = EXEC_NONE; st <= EXEC_STATE_COUNT; st++)
            for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
                uint64_t count = 99;
                int rc = store_exec_count(t, fns[f], (exec_state)st, maxes[m], &count);
                fprintf(out, "count %s %d %llu: %d %llu\n", fns[f] ? fns[f] : "*", st,
                        (unsigned long long)maxes[m], rc, (unsigned long long)count);
            }
}

static void reads_pins(store_txn *t, FILE *out)
{
    const char *asked[] = {hashes[0], hashes[1], hashes[2], "00000000000000dd", "0123", "ZZZZZZZZZZZZZZZZ"};
    static const uint64_t maxes[] = {0, 1, 7, UINT64_MAX};
    seen s = {out, 0, 0}, stop = {out, 2, 0};

    returned(out, "pinned_versions", store_pinned_versions(t, saw_hash, &s));
    returned(out, "pinned_versions stopped", store_pinned_versions(t, saw_hash, &stop));
    for (size_t h = 0; h < sizeof asked / sizeof asked[0]; h++)
        for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
            uint64_t count = 99;
            int rc = store_pins_count(t, asked[h], maxes[m], &count);
            fprintf(out, "pins %s %llu: %d %llu\n", asked[h], (unsigned long long)maxes[m], rc,
                    (unsigned long long)count);
        }
}

static void reads_timers(store_txn *t, FILE *out)
{
    static const int64_t nows[] = {-1, 0, T0 - 1, T0, T0 + 60000, T0 + 300000, T0 + 10000000, INT64_MAX};
    int64_t due = 0;
    exec_id id = {{0}};
    seen s = {out, 0, 0}, stop = {out, 70, 0};

    returned(out, "timer_first", store_timer_first(t, &due, &id));
    fprintf(out, "%lld ", (long long)due);
    put_id(out, &id);
    fputc('\n', out);
    returned(out, "timer_each", store_timer_each(t, saw_timer, &s));
    returned(out, "timer_each stopped", store_timer_each(t, saw_timer, &stop));
    for (size_t n = 0; n < sizeof nows / sizeof nows[0]; n++) {
        seen d = {out, 0, 0};
        fprintf(out, "due by %lld\n", (long long)nows[n]);
        returned(out, "timer_scan_due", store_timer_scan_due(t, nows[n], saw_record, &d));
    }
    stop.calls = 0;
    returned(out, "timer_scan_due stopped", store_timer_scan_due(t, INT64_MAX, saw_record, &stop));
}

static void reads_reruns(store_txn *t, FILE *out)
{
    const exec_id none = {{0}}, five = id_at(5), nine = id_at(9), ten = id_at(10);
    const exec_id *asked[] = {&five, &nine, &ten, &none};
    seen stop = {out, 3, 0};

    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        seen s = {out, 0, 0};
        returned(out, "reruns", store_reruns_scan(t, asked[i], saw_id, &s));
    }
    returned(out, "reruns stopped", store_reruns_scan(t, &five, saw_id, &stop));
}

static void reads_list(store_txn *t, FILE *out)
{
    const char *fns[] = {NULL, "f1", rare, odd, "none"};
    static const exec_state states[] = {EXEC_NONE, EXEC_SUCCEEDED, EXEC_FAILED, EXEC_WAITING};
    static const size_t limits[] = {0, 1, 10, 100, 1000};
    const exec_id cursor = id_at(351), unknown_cursor = id_at(EXECUTIONS + 3);
    const exec_id *befores[] = {NULL, &cursor, &unknown_cursor};

    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++)
        for (size_t st = 0; st < sizeof states / sizeof states[0]; st++)
            for (size_t b = 0; b < sizeof befores / sizeof befores[0]; b++)
                for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
                    store_list_query q = {fns[f], states[st], befores[b], limits[l]};
                    seen s = {out, 0, 0};
                    bool more = false;
                    int rc;
                    fprintf(out, "list %s %d %zu %zu\n", fns[f] ? fns[f] : "*", states[st], b, limits[l]);
                    rc = store_exec_list(t, &q, saw_record, &s, &more);
                    fprintf(out, "-> %d more %d\n", rc, more);
                }
}

/* Page through q as the API does, each page from the last one's cursor: to its end, or for
 * PAGES_COMPARED pages (tiny pages of the whole data set would be thousands of queries). */
#define PAGES_COMPARED 25

static void query_pages(store_txn *t, FILE *out, store_query q)
{
    exec_id cursor;

    for (int page = 0; page < PAGES_COMPARED; page++) {
        seen s = {out, 0, 0};
        exec_id next = {{0}};
        bool more = false;
        int rc = store_exec_query(t, &q, saw_record, &s, &more, &next);
        fprintf(out, "page %d -> %d more %d next ", page, rc, more);
        put_id(out, &next);
        fputc('\n', out);
        if (rc || !more)
            return;
        cursor = next;
        q.before = &cursor;
    }
}

/* One (limit, examine_max) per transcript: a PostgreSQL read transaction holds every page it read. */
static size_t query_limit, query_budget;

static void reads_query(store_txn *t, FILE *out)
{
    const char *two[] = {"f1", rare};
    const char *one_odd[] = {odd};
    const char *long_name[] = {
        "f1", "f2xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
    const char *many[9] = {"f0", "f1", "f2", "f3", rare, odd, "n1", "n2", "n3"};
    const char *team_key[] = {"team"}, *team_b[] = {"b"};
    const char *pair_keys[] = {"env", "team"}, *pair_values[] = {"prod", "a"};
    const exec_id cursor = id_at(600);
    const uint32_t unfinished =
        1u << EXEC_SCHEDULED | 1u << EXEC_QUEUED | 1u << EXEC_RUNNING | 1u << EXEC_WAITING;
    const uint32_t but_succeeded = ((1u << EXEC_STATE_COUNT) - 2) & ~(1u << EXEC_SUCCEEDED);
    const store_query qs[] = {
        {.limit = 0},
        {.functions = two, .function_count = 2},
        {.functions = one_odd, .function_count = 1},
        {.states = unfinished},
        {.functions = two, .function_count = 2, .states = 1u << EXEC_FAILED | 1u << EXEC_SUCCEEDED},
        /* 9 functions x 8 states: past STORE_QUERY_MAX_SOURCES, walked by function */
        {.functions = many, .function_count = 9, .states = but_succeeded},
        {.meta_keys = team_key, .meta_values = team_b, .meta_count = 1},
        {.meta_keys = pair_keys, .meta_values = pair_values, .meta_count = 2, .states = 1u << EXEC_SUCCEEDED},
        {.created_from = T0 + 100500, .created_to = T0 + 250000},
        {.finished_from = T0 + 200000, .finished_to = T0 + 290000, .states = 1u << EXEC_SUCCEEDED},
        {.error_contains = "timeout"},
        {.functions = long_name, .function_count = 2},
        {.before = &cursor, .created_from = T0 + 1, .states = 1u << EXEC_BLOCKED},
        {.created_from = INT64_MAX},
    };

    fprintf(out, "limit %zu, examine_max %zu\n", query_limit, query_budget);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        store_query q = qs[i];
        q.limit = query_limit;
        q.examine_max = query_budget;
        if (q.limit == 0 && q.examine_max == 0)
            continue; /* pages of none that never end */
        fprintf(out, "query %zu\n", i);
        query_pages(t, out, q);
    }
    if (query_limit == 1 && query_budget == 0) {
        store_query q = {.states = 1u << EXEC_SUCCEEDED, .limit = 1000};
        seen s = {out, 300, 0};
        bool more = false;
        exec_id next = {{0}};
        returned(out, "query stopped", store_exec_query(t, &q, saw_record, &s, &more, &next));
    }
}

static void same_by_state(void **state)
{
    same_on_both(*state, reads_by_state, "scans by state");
}

static void same_counts(void **state)
{
    same_on_both(*state, reads_counts, "counts");
}

static void same_pins(void **state)
{
    same_on_both(*state, reads_pins, "pinned versions");
}

static void same_timers(void **state)
{
    same_on_both(*state, reads_timers, "timers");
}

static void same_reruns(void **state)
{
    same_on_both(*state, reads_reruns, "re-runs");
}

static void same_list(void **state)
{
    same_on_both(*state, reads_list, "listing");
}

static void same_query(void **state)
{
    static const size_t budgets[] = {0, 1, 60}, limits[] = {0, 1, 40};

    for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++)
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
            char what[96];
            query_budget = budgets[b];
            query_limit = limits[l];
            snprintf(what, sizeof what, "filtered listing (limit %zu, examine_max %zu)", query_limit,
                     query_budget);
            same_on_both(*state, reads_query, what);
        }
}

/* The data set is what the comparisons need: no test passes on two empty stores. */
static int count_timer(void *user, int64_t due_ms, const exec_id *id)
{
    (void)due_ms, (void)id;
    ++*(int *)user;
    return 0;
}

static void data_set_shape(void **state)
{
    stores *s = *state;
    store_txn *t = read_txn(s->pg);
    uint64_t succeeded = 0, rare_count = 0;
    int timers = 0;

    assert_int_equal(store_exec_count(t, NULL, EXEC_SUCCEEDED, UINT64_MAX, &succeeded), 0);
    assert_int_equal(store_exec_count(t, rare, EXEC_SUCCEEDED, UINT64_MAX, &rare_count), 0);
    assert_int_equal(store_timer_each(t, count_timer, &timers), 0);
    store_txn_abort(t);
    assert_true(succeeded > 64 + 256); /* a scan of them reads three pages */
    assert_true(rare_count > 0);
    assert_true(timers > 64); /* two pages */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(data_set_shape), cmocka_unit_test(same_by_state), cmocka_unit_test(same_counts),
        cmocka_unit_test(same_pins),      cmocka_unit_test(same_timers),   cmocka_unit_test(same_reruns),
        cmocka_unit_test(same_list),      cmocka_unit_test(same_query),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
