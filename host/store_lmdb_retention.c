/*
 * store_lmdb_retention.c - final executions by when retention deletes them, and
 * the deletion itself.
 *
 * retention: expire_at(8, big-endian) id(16) -> "", one row per final
 * execution that is to be deleted (none for one kept forever), written in
 * the batch that makes it final (engine_final_batch). One more row, under
 * the key "~meta" (never 24 bytes long, so no scan takes it for a row),
 * holds what retention has done so far: the latest finished_at it deleted
 * (purged_before), how many it deleted, and whether the rows of a store
 * from before this database were written (store_retention_build).
 *
 * Deletion is an op of its own in a batch (OP_PURGE), expanded here on the
 * commit thread in the batch's write transaction: the record is read there,
 * and its rows in every database go in that one transaction, so a crash
 * leaves an execution whole or gone, never half deleted.
 *
 * May not: call into the engine, decide when or how much to delete (the
 * engine's engine_retention.c does), or delete an execution that is not final.
 */
#include "store_lmdb_int.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

#define META_KEY "~meta"
#define STORE_RETENTION_ROW 24 /* expire_at(8, big-endian) id(16) */

struct retention_meta {
    int64_t purged_before;
    uint64_t deleted;
    uint32_t built, pad;
};

static void row_key(uint8_t k[STORE_RETENTION_ROW], int64_t expire_at, const exec_id *id)
{
    be64_put(k, expire_at < 0 ? 0 : expire_at);
    memcpy(k + 8, id->bytes, 16);
}

int lmdb_batch_retention_put(store_batch *batch, int64_t expire_at, const exec_id *id)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    uint8_t k[STORE_RETENTION_ROW];

    row_key(k, expire_at, id);
    return lmdb_sink_put_empty(&out, DB_RETENTION, k, sizeof k);
}

int lmdb_batch_exec_purge(store_batch *batch, int64_t expire_at, const exec_id *id, int64_t postpone_to)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    uint8_t k[STORE_RETENTION_ROW];
    void *value;
    int rc;

    row_key(k, expire_at, id);
    if ((rc = lmdb_batch_append(b, OP_PURGE, DB_RETENTION, k, sizeof k, sizeof postpone_to, &value)) != 0)
        return rc;
    memcpy(value, &postpone_to, sizeof postpone_to);
    return 0;
}

static int meta_read(MDB_txn *txn, lmdb_store *st, struct retention_meta *m)
{
    MDB_val key = {sizeof META_KEY - 1, (void *)META_KEY}, val;
    int rc = mdb_get(txn, st->db[DB_RETENTION], &key, &val);

    memset(m, 0, sizeof *m);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lmdb_fail(st, rc, "reading retention");
    if (val.mv_size != sizeof *m) {
        store_set_error("corrupt retention meta row");
        return TARRY_EIO;
    }
    memcpy(m, val.mv_data, sizeof *m);
    return 0;
}

static int meta_write(MDB_txn *txn, lmdb_store *st, const struct retention_meta *m)
{
    MDB_val key = {sizeof META_KEY - 1, (void *)META_KEY}, val = {sizeof *m, (void *)m};
    int rc = mdb_put(txn, st->db[DB_RETENTION], &key, &val, 0);
    return rc ? lmdb_fail(st, rc, "writing retention") : 0;
}

int lmdb_retention_info_get(store_txn *txn, store_retention_info *out)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    struct retention_meta m;
    int rc = meta_read(t->txn, t->st, &m);

    memset(out, 0, sizeof *out);
    if (rc != 0)
        return rc;
    out->purged_before = m.purged_before;
    out->deleted = m.deleted;
    out->built = m.built != 0;
    return 0;
}

int lmdb_retention_due(store_txn *txn, int64_t now_ms, store_retention_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_RETENTION], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        exec_id id;
        int64_t at;
        if (key.mv_size != STORE_RETENTION_ROW)
            continue; /* the meta row */
        if ((at = be64_get(key.mv_data)) > now_ms)
            break;
        memcpy(id.bytes, (const uint8_t *)key.mv_data + 8, 16);
        if ((out = cb(user, at, &id)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out > 0 ? 0 : out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading retention") : 0;
}

static int first_cb(void *user, int64_t expire_at, const exec_id *id)
{
    struct {
        int64_t at;
        exec_id id;
        bool found;
    } *f = user;
    f->at = expire_at;
    f->id = *id;
    f->found = true;
    return 1;
}

int lmdb_retention_first(store_txn *txn, int64_t *expire_at, exec_id *id)
{
    struct {
        int64_t at;
        exec_id id;
        bool found;
    } f = {0};
    int rc = lmdb_retention_due(txn, INT64_MAX, first_cb, &f);

    if (rc != 0)
        return rc;
    if (!f.found)
        return TARRY_ENOTFOUND;
    *expire_at = f.at;
    *id = f.id;
    return 0;
}

/* Delete every key of `db` that starts with the 16 bytes of id. An LMDB code. */
static int del_prefixed(lmdb_store *st, MDB_txn *txn, int db, const exec_id *id)
{
    MDB_cursor *cur;
    MDB_val key = {16, (void *)id->bytes}, val;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->db[db], &cur)) != 0)
        return rc;
    /* After a delete the cursor stands on the next key, which MDB_NEXT then returns (C_DEL). */
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size < 16 || memcmp(key.mv_data, id->bytes, 16) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

struct live_child {
    store_txn *t;
    bool live;
};

/* Whether a journal entry names a child that has not ended (its end would write into this journal). */
static int child_live(void *user, const journal_entry *j)
{
    static const exec_id none;
    struct live_child *c = user;
    exec_record child;
    int rc;

    if (memcmp(&j->child, &none, sizeof none) == 0)
        return 0;
    if ((rc = lmdb_exec_get(c->t, &j->child, &child)) == TARRY_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (!exec_state_final(child.state)) {
        c->live = true;
        return 1;
    }
    return 0;
}

/* The idempotency key of rec, if it still names rec. */
static int del_idem(lmdb_store *st, MDB_txn *txn, const exec_record *rec)
{
    uint8_t k[STORE_IDEM_KEY_MAX];
    MDB_val key, val;
    int rc;

    if (!rec->idempotency_key || !(key.mv_size = store_idem_key(rec->function, rec->idempotency_key, k)))
        return 0;
    key.mv_data = k;
    if ((rc = mdb_get(txn, st->db[DB_IDEM], &key, &val)) != 0)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (val.mv_size < 16 || memcmp(val.mv_data, rec->id.bytes, 16) != 0)
        return 0; /* a later execution took the key */
    return mdb_del(txn, st->db[DB_IDEM], &key, NULL);
}

int lmdb_retention_purge_op(lmdb_store *st, MDB_txn *txn, const MDB_val *key, const MDB_val *val)
{
    lmdb_txn t = {.base = {&st->base}, .st = st, .txn = txn, .write = true};
    sink out = {&t, NULL};
    struct live_child lc = {&t.base, false};
    struct retention_meta m;
    exec_record rec;
    exec_id id;
    int64_t postpone_to;
    int rc;

    if (key->mv_size != STORE_RETENTION_ROW || val->mv_size != sizeof postpone_to) {
        store_set_error("corrupt purge op");
        return TARRY_EIO;
    }
    memcpy(id.bytes, (const uint8_t *)key->mv_data + 8, 16);
    memcpy(&postpone_to, val->mv_data, sizeof postpone_to);
    if ((rc = lmdb_sink_del(&out, DB_RETENTION, key->mv_data, key->mv_size)) != 0)
        return rc;
    if ((rc = lmdb_exec_get(&t.base, &id, &rec)) == TARRY_ENOTFOUND)
        return 0; /* gone already: the row was all that was left */
    if (rc != 0)
        return rc;
    if (!exec_state_final(rec.state))
        return 0; /* never: a final execution stays final (a re-run is a new one) */
    if ((rc = lmdb_journal_scan(&t.base, &id, child_live, &lc)) < 0)
        return rc; /* 1: child_live stopped at a live child */
    if (lc.live) {
        /* A detached child (or one a failed parent left running) writes its outcome into this
         * journal when it ends: keep the parent until then, or that row would outlive it. */
        uint8_t k[STORE_RETENTION_ROW];
        row_key(k, postpone_to, &id);
        return lmdb_sink_put_empty(&out, DB_RETENTION, k, sizeof k);
    }
    if ((rc = meta_read(txn, st, &m)) != 0)
        return rc;
    if (rec.finished_at > m.purged_before)
        m.purged_before = rec.finished_at;
    m.deleted++;
    /* Strings of rec point into the map: the decoded record is used up before its row goes. */
    if ((rc = del_idem(st, txn, &rec)) != 0 || (rc = del_prefixed(st, txn, DB_JOURNAL, &id)) != 0 ||
        (rc = del_prefixed(st, txn, DB_ATTEMPTS, &id)) != 0 ||
        (rc = del_prefixed(st, txn, DB_LOGS, &id)) != 0 ||
        (rc = del_prefixed(st, txn, DB_CALLERS, &id)) != 0 ||
        (rc = del_prefixed(st, txn, DB_RERUNS, &id)) != 0 || (rc = lmdb_notify_purge(st, txn, &id)) != 0)
        return lmdb_fail(st, rc, "deleting an expired execution");
    if ((rc = lmdb_exec_unindex(&out, &rec)) != 0)
        return rc;
    return meta_write(txn, st, &m);
}

struct build {
    lmdb_txn *t;
    sink *out;
    store_retention_of_cb retention_of;
    void *user;
};

static int build_one(void *user, const exec_record *rec)
{
    struct build *b = user;
    int64_t ms = b->retention_of(b->user, rec->function);
    uint8_t k[STORE_RETENTION_ROW];

    if (ms <= 0)
        return 0; /* kept forever */
    row_key(k, rec->finished_at + ms, &rec->id);
    return lmdb_sink_put_empty(b->out, DB_RETENTION, k, sizeof k);
}

int lmdb_retention_build(store *base, store_retention_of_cb retention_of, void *user)
{
    lmdb_store *st = (lmdb_store *)base;
    static const exec_state final[] = {EXEC_SUCCEEDED, EXEC_FAILED, EXEC_CANCELLED, EXEC_DISCARDED};
    struct retention_meta m;
    store_txn *txn;
    lmdb_txn *t;
    sink out;
    int rc;

    if ((rc = lmdb_txn_begin(base, true, &txn)) != 0)
        return rc;
    t = (lmdb_txn *)txn;
    out = (sink){t, NULL};
    if ((rc = meta_read(t->txn, st, &m)) != 0 || m.built) {
        lmdb_txn_abort(txn);
        return rc;
    }
    struct build b = {t, &out, retention_of, user};
    for (size_t i = 0; rc == 0 && i < sizeof final / sizeof final[0]; i++)
        rc = lmdb_exec_scan_state(txn, final[i], build_one, &b);
    m.built = 1;
    if (rc == 0)
        rc = meta_write(t->txn, st, &m);
    if (rc != 0) {
        lmdb_txn_abort(txn);
        return rc;
    }
    return lmdb_txn_commit(txn);
}
