/*
 * test_engine.c - the engine's lifecycle and group commit, driven from
 * inside: a real LMDB store in a fresh folder, a real libuv loop and the
 * real commit thread, no plugins (executions are made and moved by hand,
 * as the engine's rooms do).
 *
 * Covered: an impossible move is refused, logged as a bug and changes
 * nothing; allowed moves put the execution on the dirty list once; after a
 * commit each state's after-commit action happens (scheduled leaves memory
 * with its timer stored; queued joins the ready queue); a commit that fails
 * because the store is full answers the new execution's caller with
 * TARRY_EFULL, forgets it (nothing of it is ever written), refuses new work
 * for a while, and retries the change to a stored execution until it
 * commits. Every test ends with uv_loop_close() == 0: no handle leaks.
 */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "engine_int.h"
#include "status.h"

typedef struct fixture {
    char dir[64];
    uv_loop_t loop;
    store *st;
    plugins *pl;
    engine *e;
} fixture;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int open_engine(fixture *f, uint64_t map_size)
{
    char path[160], vstore[160], err[256];

    snprintf(path, sizeof path, "%s/data", f->dir);
    snprintf(vstore, sizeof vstore, "%s/versions", f->dir);
    if (store_open(&f->st, path, map_size, err, sizeof err) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    if (plugins_open(&f->pl, f->dir /* no .so in it */, vstore, NULL) != 0)
        return -1;
    uv_loop_init(&f->loop);
    if (engine_create(&f->e, &f->loop, f->st, f->pl, 2) != 0)
        return -1;
    /* Nothing here has code to run: the engine commits but starts nothing. */
    f->e->draining = true;
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/tarry-test-engine-XXXXXX");
    if (!mkdtemp(f->dir) || open_engine(f, 0) != 0)
        return -1;
    *state = f;
    return 0;
}

static void close_engine(fixture *f)
{
    engine_close(f->e);
    while (uv_run(&f->loop, UV_RUN_NOWAIT))
        ;
    assert_int_equal(uv_loop_close(&f->loop), 0); /* every handle closed: nothing leaks */
    plugins_free(f->pl);
    store_close(f->st);
}

static int teardown(void **state)
{
    fixture *f = *state;
    close_engine(f);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Run the loop until the commit thread is idle and nothing is dirty (or 10 s pass). */
static void settle(fixture *f)
{
    int64_t deadline = clock_now_ms() + 10000;
    do {
        engine_flush(f->e);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(200);
    } while ((committer_busy(f->e->committer) || !list_empty(&f->e->dirty)) && clock_now_ms() < deadline);
}

static exec *new_exec(fixture *f, const char *args)
{
    exec_record rec;
    memset(&rec, 0, sizeof rec);
    id_new(&rec.id);
    rec.function = "by_hand";
    rec.args = args;
    rec.created_at = rec.scheduled_at = clock_now_ms();
    return engine_exec_alloc(f->e, &rec);
}

/* ---- capturing the host log ------------------------------------------------------ */

static char *capture_stderr(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/tarry-test-engine-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    static char text[4096];
    ssize_t n;

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return text;
}

struct move_try {
    fixture *f;
    exec *x;
    exec_state to;
    int rc;
};

static void try_move(void *arg)
{
    struct move_try *m = arg;
    m->rc = engine_exec_move(m->f->e, m->x, m->to);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_impossible_move_is_a_logged_bug(void **state)
{
    fixture *f = *state;
    exec *x = new_exec(f, "null");
    struct move_try m = {f, x, EXEC_RUNNING, 0};
    char *log;

    log = capture_stderr(try_move, &m);
    assert_int_equal(m.rc, TARRY_ESTATE);
    assert_int_equal(x->rec.state, EXEC_NONE); /* nothing changed */
    assert_false(x->in_dirty);
    if (!strstr(log, "bug: execution") || !strstr(log, "cannot move from none to running"))
        fail_msg("the host log does not name the impossible move: \"%s\"", log);

    m.to = EXEC_QUEUED;
    log = capture_stderr(try_move, &m);
    assert_int_equal(m.rc, 0);
    assert_int_equal(x->rec.state, EXEC_QUEUED);
    assert_true(x->in_dirty);
    assert_int_equal(f->e->dirty_count, 1);
    assert_string_equal(log, "");
    assert_int_equal(engine_exec_move(f->e, x, EXEC_QUEUED), 0); /* a self-move: still dirty once */
    assert_int_equal(f->e->dirty_count, 1);
    m.to = EXEC_WAITING; /* only a pass can suspend */
    capture_stderr(try_move, &m);
    assert_int_equal(m.rc, TARRY_ESTATE);
    assert_int_equal(x->rec.state, EXEC_QUEUED);
}

static void test_after_commit_actions(void **state)
{
    fixture *f = *state;
    exec *later = new_exec(f, "{\"n\":1}"), *now = new_exec(f, "{\"n\":2}");
    exec_id later_id = later->rec.id, now_id = now->rec.id;
    store_txn *txn;
    exec_record rec;
    int64_t due;
    exec_id first;

    later->rec.scheduled_at = clock_now_ms() + 3600000;
    assert_int_equal(engine_exec_move(f->e, later, EXEC_SCHEDULED), 0);
    assert_int_equal(engine_exec_move(f->e, now, EXEC_QUEUED), 0);
    settle(f);

    /* scheduled: evicted, its timer in the store; queued: in the ready queue. */
    assert_null(idmap_get(&f->e->active, &later_id));
    assert_ptr_equal(idmap_get(&f->e->active, &now_id), now);
    assert_true(now->in_ready);
    assert_int_equal(now->committed_state, EXEC_QUEUED);
    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_exec_get(txn, &later_id, &rec), 0);
    assert_int_equal(rec.state, EXEC_SCHEDULED);
    assert_int_equal(store_timer_first(txn, &due, &first), 0);
    assert_memory_equal(first.bytes, later_id.bytes, 16);
    assert_int_equal(store_exec_get(txn, &now_id, &rec), 0);
    assert_int_equal(rec.state, EXEC_QUEUED);
    store_txn_abort(txn);
    engine_ready_remove(f->e, now);
}

struct answer {
    engine_waiter w;
    int calls, status;
};

static void on_answer(engine_waiter *w, int status, const exec_record *rec)
{
    struct answer *a = (struct answer *)w;
    (void)rec;
    a->calls++;
    a->status = status;
}

static void quiet_settle(void *arg)
{
    settle(arg);
}

static void test_full_store_rejects_new_and_retries_stored(void **state)
{
    fixture *f = *state;
    size_t big_len = 3u << 20;
    char *big = malloc(big_len + 3);
    struct answer a = {.w = {.cb = on_answer}};
    exec *stored, *fresh;
    exec_id stored_id, fresh_id;
    store_txn *txn;
    exec_record rec;

    /* A 2 MiB map: a 3 MiB args can never fit. */
    close_engine(f);
    assert_int_equal(open_engine(f, 2u << 20), 0);
    stored = new_exec(f, "{\"small\":true}");
    stored_id = stored->rec.id;
    assert_int_equal(engine_exec_move(f->e, stored, EXEC_QUEUED), 0);
    settle(f);
    engine_ready_remove(f->e, stored);

    /* One batch: a change to the stored execution, and a new one too big to write. */
    assert_non_null(big);
    big[0] = '"';
    memset(big + 1, 'x', big_len);
    big[big_len + 1] = '"';
    big[big_len + 2] = '\0';
    fresh = new_exec(f, big);
    fresh_id = fresh->rec.id;
    engine_waiter_init(&a.w, &fresh_id, WAIT_ACK);
    list_push_back(&fresh->acks, &a.w.node);
    assert_int_equal(engine_exec_move(f->e, fresh, EXEC_QUEUED), 0);
    stored->rec.attempts = 7; /* a change to write */
    engine_exec_dirty(f->e, stored);
    capture_stderr(quiet_settle, f); /* fails, then retries only the stored change, which fits */
    free(big);

    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, TARRY_EFULL);
    assert_null(idmap_get(&f->e->active, &fresh_id));  /* forgotten: never written later */
    assert_int_equal(engine_commit_refusing(f->e), 0); /* a later commit worked: accepted again */
    assert_int_equal(f->e->failed_commits, 0);
    assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
    assert_int_equal(store_exec_get(txn, &fresh_id, &rec), TARRY_ENOTFOUND);
    assert_int_equal(store_exec_get(txn, &stored_id, &rec), 0);
    assert_int_equal(rec.attempts, 7); /* the stored change was retried and committed */
    store_txn_abort(txn);
}

static void test_full_store_refuses_new_work_meanwhile(void **state)
{
    fixture *f = *state;
    f->e->failing_status = TARRY_EFULL;
    f->e->retry_until_ms = clock_mono_ms() + 60000;
    assert_int_equal(engine_commit_refusing(f->e), TARRY_EFULL);
    f->e->retry_until_ms = clock_mono_ms() - 1; /* the pause ended: try the store again */
    assert_int_equal(engine_commit_refusing(f->e), 0);
    f->e->retry_until_ms = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_impossible_move_is_a_logged_bug, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_commit_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_store_rejects_new_and_retries_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_store_refuses_new_work_meanwhile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
