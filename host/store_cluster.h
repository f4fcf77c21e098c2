/*
 * store_cluster.h - several hosts on one store: who holds which execution.
 *
 * On PostgreSQL several hosts share one database. Each host joins under its
 * engine's id (a `hosts` row whose lease its heartbeat renews) and holds
 * the executions it runs: an execution in a host's memory (queued or
 * running) is held by it; one sleeping, scheduled, blocked or final is
 * held by nobody. A host takes free executions by claiming them (FOR
 * UPDATE SKIP LOCKED: two hosts never claim one row), and reads back only
 * what it holds when it looks for work: the queued and running scans and
 * the due-timer scan of store.h return the calling host's rows once it has
 * joined. Writes are fenced: a batch of a host that was declared stopped
 * fails as a whole (TARRY_EBROKEN), and a write of an execution another
 * host holds, or that changed since it was read free, fails the batch with
 * TARRY_ECONFLICT naming that execution (store_batch_conflict).
 *
 * A host whose heartbeat stops for its lease time is declared stopped by
 * the next host to beat: its executions are released, and the others are
 * told (STORE_EVENT_WORK) to claim them; running ones come back as
 * orphans, interrupted by their host's death. A host restarted in the same
 * folder takes over its previous incarnation's executions at once (prev_id).
 *
 * LMDB is one host's store: joining records nothing, there is nothing to
 * claim (everything is its host's), no conflict and no event.
 *
 * Threads: store_host_join's callback runs on a thread of the store's own
 * (the heartbeat's); everything else as store.h says.
 */
#ifndef TARRY_STORE_CLUSTER_H
#define TARRY_STORE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_LEASE_MS_DEFAULT 10000 /* a host not heard from for this long is declared stopped */

/* What a joining host says of itself (copied). */
typedef struct store_host_info {
    const char *id; /* the engine's host id: 16 hex digits, new for every engine process */
    const char *hostname, *address;
    long pid;
    int workers;
    int64_t lease_ms; /* 0: STORE_LEASE_MS_DEFAULT; heartbeats go every lease_ms / 5 */
} store_host_info;

/* What the other hosts did that this one may act on (a bit set, handed to store_event_cb). */
enum {
    STORE_EVENT_WORK = 1u << 0,   /* executions were released (a host left or was declared stopped): claim */
    STORE_EVENT_FINAL = 1u << 1,  /* another host made executions final: answer waiters on them */
    STORE_EVENT_RELOAD = 1u << 2, /* a host asked every host to reload its plugins */
    STORE_EVENT_FENCED = 1u << 3, /* this host was declared stopped: it holds nothing, must start again */
    STORE_EVENT_SWEEP = 1u << 4,  /* a periodic look in case a message was missed (a reconnect, a slow host) */
    STORE_EVENT_CANCEL = 1u << 5, /* a host asked the holders of executions to cancel them */
    STORE_EVENT_TIMERS = 1u << 6, /* a host set timers any host may fire: look for the earliest again */
    STORE_EVENT_QUEUED = 1u << 7, /* a host released queued executions it would not start soon: claim */
};
typedef void (*store_event_cb)(void *user, unsigned events);

/*
 * Join the store's hosts as `me`, taking over what the host `prev_id` (this folder's previous
 * engine, or NULL) held, after its last batch ended. Events come to cb on the store's own thread
 * from then until store_close. 0, or a negative code with the reason in store_last_error.
 */
int store_host_join(store *st, const store_host_info *me, const char *prev_id, store_event_cb cb, void *user);

/* What to claim: free queued executions, due timers, or running ones whose host died. */
typedef enum store_claim_kind {
    STORE_CLAIM_QUEUED,
    STORE_CLAIM_DUE,
    STORE_CLAIM_ORPHANS,
} store_claim_kind;

/* Claim up to max free executions of `kind` (due ones: due by now_ms), oldest first, for this
 * host, in a transaction of its own. *claimed says how many. Due timers are shared: with other
 * hosts live, a host claims its part of those due (their count over the live hosts), and *left
 * (when not NULL) says how many due it left to the others; 0 otherwise. 0 or a negative code. */
int store_claim(store *st, store_claim_kind kind, int64_t now_ms, size_t max, size_t *claimed, size_t *left);

/* How many hosts were live at this host's last heartbeat (those whose lease had not run out,
 * this one included): 1 before its first, and on LMDB. Any thread. */
size_t store_live_hosts(store *st);

/* Tell every host (and this one) of `events` once the batch commits (STORE_EVENT_RELOAD). */
int store_batch_announce(store_batch *b, unsigned events);

/* Record in the batch what this host serves now (a JSON array of its current plugin versions,
 * copied), for the other hosts to show (store_host_row.plugins). On LMDB nothing. */
int store_batch_host_plugins(store_batch *b, const char *json);

/* Stop holding execution id once the batch commits, if it is still queued and this host's: any
 * host may claim it then. For a backlog past what this host keeps in memory, so hosts with room run
 * it (announce STORE_EVENT_QUEUED in the same batch to tell them). On LMDB nothing. */
int store_batch_release(store_batch *b, const exec_id *id);

/* Ask the host that holds execution id to cancel it (this host's write of it was refused: it is
 * another's). Once the batch commits, its row says cancel_requested, which every later write of
 * it keeps (a host that claims it later cancels it too), and the hosts are told
 * (STORE_EVENT_CANCEL). Nothing when it is final by then. On LMDB nothing. */
int store_batch_cancel_request(store_batch *b, const exec_id *id);
/* The executions this host holds (queued or running) that another host asked it to cancel: cb
 * once each. On LMDB none. 0 or a negative code. */
int store_cancel_requests_scan(store_txn *txn, store_id_cb cb, void *user);
/* How many queued executions no host holds (released, waiting for a claim), in *count. On LMDB
 * 0. 0 or a negative code. */
int store_free_queued_count(store_txn *txn, uint64_t *count);

/* After a commit that failed with TARRY_ECONFLICT: the execution it names, in *id. */
bool store_batch_conflict(const store_batch *b, exec_id *id);

/* One row of the hosts that share the store (GET /v1/cluster). Strings borrow from the txn. */
typedef struct store_host_row {
    const char *id, *hostname, *address, *left_reason;
    const char *plugins; /* JSON array of its current plugin versions, as it last wrote it; or NULL */
    long pid;
    int workers;
    int64_t started_at, heartbeat_at, lease_expires_at, left_at; /* Unix ms; left_at 0: live */
    uint64_t held;     /* executions it holds now */
    uint64_t running;  /* of which running */
    uint64_t released; /* executions released when it left */
} store_host_row;
typedef int (*store_host_cb)(void *user, const store_host_row *h);
/* The live hosts, then those that left within the last `left_within_ms`, by start time. */
int store_hosts_scan(store_txn *txn, int64_t left_within_ms, store_host_cb cb, void *user);
/* The live host that holds execution id now: cb once with its id, hostname and address (the
 * counts zero), or not at all (nobody holds it; LMDB). 0 or a negative code. */
int store_exec_holder(store_txn *txn, const exec_id *id, store_host_cb cb, void *user);

#endif
