/*
 * notify.h - failure notifications: a durable outbox in the store and a
 * sender thread that POSTs each row to its webhook with libcurl.
 *
 * The flow, and why each step is where it is:
 *   - engine_final_batch -> notify_final_batch: an execution that ends
 *     failed or blocked gets one row per webhook that wants its function,
 *     in the SAME batch as its end: a notification exists iff the failure is
 *     durable (never lost, never sent for an end that did not commit);
 *   - engine_final_committed -> notify_wake: the sender looks at the outbox;
 *   - the sender thread (libcurl multi, a few transfers at once, connect 5 s,
 *     total 10 s) sends what is due, earliest first, and hands each outcome
 *     to the loop; it never writes to the store;
 *   - the loop writes the outcome (delivered, a retry due later with
 *     backoff.h's waits, or failed after NOTIFY_ATTEMPTS) through a
 *     committer of its own (commit.h), so neither the loop nor the engine's
 *     commits wait for a receiver, and a row is sent again only when its
 *     outcome is not durable yet: at least once. A crash between a 2xx and
 *     the commit that records it sends that notification once more.
 *   - at start, pending rows are picked up where they were.
 * A notification never changes its execution: failing to send or to record
 * a delivery only concerns the notification's own row.
 *
 * Test only: TARRY_TEST_NOTIFY_SCALE=N (N > 1) divides every wait and
 * timeout by N.
 *
 * Threads: every call here is for the loop thread.
 */
#ifndef TARRY_NOTIFY_H
#define TARRY_NOTIFY_H

#include <stdint.h>
#include <uv.h>

#include "notify_config.h"
#include "record.h"
#include "store.h"

#define NOTIFY_ATTEMPTS 10 /* deliveries tried in all before a row is failed (about an hour) */
#define NOTIFY_IN_FLIGHT 4 /* transfers at once */

typedef struct notifier notifier;

/*
 * Start notifying for the webhooks in cfg (borrowed for the notifier's
 * life), with dashboard links under cfg->public_url or http://listen_addr.
 * The sender thread starts when there is a webhook or a pending row.
 * 0 or a negative code.
 */
int notify_start(notifier **out, uv_loop_t *loop, store *st, const notify_config *cfg,
                 const char *listen_addr);
/* Into the batch that writes rec's end (failed or blocked; other states add nothing): its rows.
 * 0 or TARRY_ENOMEM. n may be NULL (nothing configured). */
int notify_final_batch(notifier *n, store_batch *b, const exec_record *rec);
/* Rows were committed: let the sender look. n may be NULL. */
void notify_wake(notifier *n);

typedef struct notify_stats {
    uint64_t delivered, failed, retried; /* outcomes recorded since the host started */
    uint64_t pending;                    /* rows in the outbox now */
} notify_stats;
/* n may be NULL (zeros, pending read from the store when st is given). */
void notify_get_stats(notifier *n, store *st, notify_stats *out);

/* Stop the sender (transfers in flight are dropped: sent again at the next start), wait for the
 * outcome being written, close the handles; freed once they are closed (the loop must run). */
void notify_stop(notifier *n);

#endif
