/*
 * commit.h - the group-commit thread.
 *
 * An fsync costs far more than everything else a turn does, so the loop
 * thread never waits for one: it hands a finished store_batch to this
 * thread, keeps serving requests and completions while the batch is made
 * durable, and gets a callback on the loop thread when it is. The next
 * batch collects everything that happened meanwhile, so batches grow
 * exactly when the host is busy. One batch is in flight at a time, which
 * keeps commits in order.
 */
#ifndef TARRY_COMMIT_H
#define TARRY_COMMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store.h"

typedef struct committer committer;

/* Called on the loop thread: status 0 (durable) or store_batch_commit's code,
 * with the commit thread's reason for it (borrowed for the call; "" on success). */
typedef void (*committer_cb)(void *user, int status, const char *error);

int committer_start(committer **out, uv_loop_t *loop, store *st, committer_cb cb, void *user);

/* Commit `b` (borrowed until the callback) on the commit thread. Only when not busy. */
void committer_submit(committer *c, store_batch *b);

bool committer_busy(const committer *c);

/* Time spent in store_batch_commit (applying and fsyncing), loop thread only. */
typedef struct committer_stats {
    uint64_t commits, total_ns, max_ns;
} committer_stats;
void committer_get_stats(const committer *c, committer_stats *out);

/* Wait for the batch in flight (its callback is not called), end the thread,
 * and close the loop handle (freed in its close callback). */
void committer_stop(committer *c);

#endif
