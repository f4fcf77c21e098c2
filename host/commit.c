/*
 * commit.c - see commit.h. The thread does nothing but store_batch_commit:
 * it reads the batch and the store, never the engine's memory.
 */
#include "commit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

struct committer {
    uv_loop_t *loop;
    store *st;
    committer_cb cb;
    void *user;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    uv_async_t done;       /* wakes the loop when a batch is durable */
    store_batch *todo;     /* guarded by lock: submitted, not yet taken */
    int status;            /* guarded by lock: the finished batch's result */
    char error[768];       /* guarded by lock: and its reason (store_last_error is per thread) */
    uint64_t took_ns;      /* guarded by lock: how long it took */
    committer_stats stats; /* loop thread */
    bool busy, stop, finished;
};

static void commit_thread(void *arg)
{
    committer *c = arg;

    uv_mutex_lock(&c->lock);
    for (;;) {
        while (!c->todo && !c->stop)
            uv_cond_wait(&c->wake, &c->lock);
        if (c->stop)
            break;
        store_batch *b = c->todo;
        c->todo = NULL;
        uv_mutex_unlock(&c->lock);
        uint64_t t0 = uv_hrtime();
        int status = store_batch_commit(c->st, b);
        uint64_t took = uv_hrtime() - t0;
        uv_mutex_lock(&c->lock);
        c->status = status;
        snprintf(c->error, sizeof c->error, "%s", status ? store_last_error(c->st) : "");
        c->took_ns = took;
        c->finished = true;
        uv_async_send(&c->done);
    }
    uv_mutex_unlock(&c->lock);
}

static void on_done(uv_async_t *a)
{
    committer *c = a->data;
    char error[sizeof c->error];
    int status;
    bool finished;

    uv_mutex_lock(&c->lock);
    finished = c->finished;
    status = c->status;
    memcpy(error, c->error, sizeof error);
    uint64_t took = c->took_ns;
    c->finished = false;
    uv_mutex_unlock(&c->lock);
    if (!finished)
        return;
    c->busy = false;
    c->stats.commits++;
    c->stats.total_ns += took;
    if (took > c->stats.max_ns)
        c->stats.max_ns = took;
    c->cb(c->user, status, error);
}

int committer_start(committer **out, uv_loop_t *loop, store *st, committer_cb cb, void *user)
{
    committer *c = calloc(1, sizeof *c);
    if (!c)
        return TARRY_ENOMEM;
    c->loop = loop;
    c->st = st;
    c->cb = cb;
    c->user = user;
    uv_mutex_init(&c->lock);
    uv_cond_init(&c->wake);
    uv_async_init(loop, &c->done, on_done);
    c->done.data = c;
    if (uv_thread_create(&c->thread, commit_thread, c) != 0) {
        uv_close((uv_handle_t *)&c->done, NULL);
        uv_cond_destroy(&c->wake);
        uv_mutex_destroy(&c->lock);
        free(c);
        return TARRY_ENOMEM;
    }
    *out = c;
    return 0;
}

void committer_submit(committer *c, store_batch *b)
{
    c->busy = true;
    uv_mutex_lock(&c->lock);
    c->todo = b;
    uv_cond_signal(&c->wake);
    uv_mutex_unlock(&c->lock);
}

bool committer_busy(const committer *c)
{
    return c->busy;
}

void committer_get_stats(const committer *c, committer_stats *out)
{
    *out = c->stats;
}

static void on_closed(uv_handle_t *h)
{
    committer *c = h->data;
    uv_cond_destroy(&c->wake);
    uv_mutex_destroy(&c->lock);
    free(c);
}

void committer_stop(committer *c)
{
    uv_mutex_lock(&c->lock);
    c->stop = true;
    uv_cond_signal(&c->wake);
    uv_mutex_unlock(&c->lock);
    uv_thread_join(&c->thread);
    uv_close((uv_handle_t *)&c->done, on_closed);
}
