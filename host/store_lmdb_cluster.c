/*
 * store_lmdb_cluster.c - store_cluster.h on LMDB: one host's store. The
 * folder lock (store_lmdb_folder.h) already makes its host the only one,
 * so joining records nothing, every execution is its host's without a
 * claim, no write can conflict and no other host sends events.
 *
 * May not: keep state; the cluster view of an LMDB host is its engine's
 * own (api_cluster.c).
 */
#include "store_lmdb_int.h"

int lmdb_host_join(store *st, const store_host_info *me, const char *prev_id, store_event_cb cb, void *user)
{
    (void)st, (void)me, (void)prev_id, (void)cb, (void)user;
    return 0;
}

int lmdb_claim(store *st, store_claim_kind kind, int64_t now_ms, size_t max, size_t *claimed, size_t *left)
{
    (void)st, (void)kind, (void)now_ms, (void)max;
    *claimed = *left = 0;
    return 0;
}

int lmdb_batch_announce(store_batch *b, unsigned events)
{
    (void)b, (void)events;
    return 0;
}

int lmdb_batch_host_plugins(store_batch *b, const char *json)
{
    (void)b, (void)json;
    return 0;
}

int lmdb_batch_release(store_batch *b, const exec_id *id)
{
    (void)b, (void)id;
    return 0;
}

size_t lmdb_live_hosts(store *st)
{
    (void)st;
    return 1;
}

int lmdb_free_queued_count(store_txn *txn, uint64_t *count)
{
    (void)txn;
    *count = 0; /* everything is its one host's */
    return 0;
}

int lmdb_hosts_scan(store_txn *txn, int64_t left_within_ms, store_host_cb cb, void *user)
{
    (void)txn, (void)left_within_ms, (void)cb, (void)user;
    return 0;
}

int lmdb_exec_holder(store_txn *txn, const exec_id *id, store_host_cb cb, void *user)
{
    (void)txn, (void)id, (void)cb, (void)user;
    return 0; /* its one host holds everything, and never needs asking */
}

int lmdb_batch_cancel_request(store_batch *b, const exec_id *id)
{
    (void)b, (void)id;
    return 0; /* no other host to ask */
}

int lmdb_cancel_requests_scan(store_txn *txn, store_id_cb cb, void *user)
{
    (void)txn, (void)cb, (void)user;
    return 0;
}
