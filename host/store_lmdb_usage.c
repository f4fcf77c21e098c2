/*
 * store_lmdb_usage.c - how big the store is and how many timers it holds, for
 * /metrics: read from LMDB's own bookkeeping (mdb_env_info, mdb_stat), so
 * the answer costs the same whatever the store holds.
 *
 * May not: write, or walk a database.
 */
#include "store_lmdb_int.h"

int lmdb_usage_read(store_txn *txn, store_usage *out)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_envinfo info;
    MDB_stat env, timers;
    int rc;

    if ((rc = mdb_env_info(t->st->env, &info)) != 0 || (rc = mdb_env_stat(t->st->env, &env)) != 0)
        return lmdb_fail(t->st, rc, "reading the store's size");
    if ((rc = mdb_stat(t->txn, t->st->db[DB_TIMERS], &timers)) != 0)
        return lmdb_fail(t->st, rc, "counting the timers");
    /* Pages up to the last one used are the file's high-water mark; freed pages in it are reused. */
    out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * env.ms_psize;
    out->map_bytes = info.me_mapsize;
    out->timers = timers.ms_entries;
    return 0;
}
