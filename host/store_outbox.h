/*
 * store_outbox.h - failure notifications in the store: one row per webhook
 * and failure (what to send, where, and how its delivery went), identified
 * by (execution, created_at, hook), and the outbox, the pending ones by the
 * time they are due (notify.h sends them). An execution's rows are read
 * together (GET one execution lists them cheaply); the outbox is read in
 * due order. A row's put moves its outbox entry from the due time it had
 * (prev_due) to its new one, or removes it once the row is delivered or
 * failed, so the two cannot disagree. Retention's purge of an execution
 * deletes its rows and their outbox entries with it.
 *
 * Threads: like every store call (store.h); rows are written through
 * batches only (the engine's, or the notifier's own committer).
 *
 * Lifetimes: strings of a row read in a transaction borrow from it.
 */
#ifndef TARRY_STORE_OUTBOX_H
#define TARRY_STORE_OUTBOX_H

#include <stdint.h>

#include "store.h"

/* A notification's delivery state. Stored: append only. */
typedef enum store_notify_state {
    STORE_NOTIFY_PENDING = 0,   /* in the outbox, due at due_at */
    STORE_NOTIFY_DELIVERED = 1, /* the receiver answered 2xx at delivered_at */
    STORE_NOTIFY_FAILED = 2     /* every attempt failed; last_error says how the last one did */
} store_notify_state;

typedef struct store_notify {
    exec_id id; /* the execution that failed */
    int64_t
        created_at; /* Unix ms: when its failure was written (tells two failures of one execution apart) */
    uint8_t hook;   /* the webhook's position in the configuration then */
    store_notify_state state;
    uint32_t attempts;      /* deliveries tried so far */
    int64_t due_at;         /* pending: when the next attempt is due (Unix ms) */
    int64_t delivered_at;   /* delivered: when (Unix ms); else 0 */
    const char *url;        /* where to POST (may hold a secret: never shown) */
    const char *shown_url;  /* the URL without userinfo, query or fragment, for people */
    const char *body;       /* the JSON to POST */
    const char *last_error; /* the last failed attempt's reason, or NULL */
} store_notify;

/* The names of store_notify_state values ("pending", "delivered", "failed"). */
const char *store_notify_state_name(store_notify_state s);

/* Write n (insert or replace); prev_due: the due time its outbox entry has now, 0 for a new row.
 * 0, TARRY_ENOMEM. */
int store_batch_notify_put(store_batch *b, const store_notify *n, int64_t prev_due);

/* Execution id's notifications, oldest first; a non-zero return from cb stops the scan and is
 * returned. */
typedef int (*store_notify_cb)(void *user, const store_notify *n);
int store_notify_scan(store_txn *txn, const exec_id *id, store_notify_cb cb, void *user);

/* Pending notifications in due order (every one, due or not); a non-zero return from cb stops
 * the scan and is returned. */
int store_outbox_scan(store_txn *txn, store_notify_cb cb, void *user);

/* How many notifications are pending. */
int store_outbox_count(store_txn *txn, uint64_t *count);

#endif
