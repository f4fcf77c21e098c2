/*
 * store_lmdb_keys.c - the store's side tables keyed by something other than an
 * execution's own rows: the callers that share a child by idempotency key,
 * the idempotency keys themselves, functions' crash histories and cron marks.
 *
 * May not: touch the execution records or their indexes (store_lmdb.c).
 */
#include "store_lmdb_int.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

/* ---- callers ----------------------------------------------------------------
 * Key: child(16) parent(16) seq(4, big-endian) -> flags(1): the parents whose
 * call (by idempotency key) shares a child another call made, adjacent per
 * child. Written with the sharing call's entry, deleted with the child's end. */

static void key_caller(uint8_t k[36], const exec_id *child, const exec_id *parent, uint32_t seq)
{
    memcpy(k, child->bytes, 16);
    memcpy(k + 16, parent->bytes, 16);
    k[32] = (uint8_t)(seq >> 24);
    k[33] = (uint8_t)(seq >> 16);
    k[34] = (uint8_t)(seq >> 8);
    k[35] = (uint8_t)seq;
}

static int caller_put(sink *out, const exec_id *child, const store_caller *c)
{
    uint8_t k[36];
    void *value;
    int rc;

    key_caller(k, child, &c->parent, c->seq);
    if ((rc = lmdb_sink_reserve(out, DB_CALLERS, k, sizeof k, 1, &value)) != 0)
        return rc;
    *(uint8_t *)value = c->detached ? 1 : 0;
    return 0;
}

int lmdb_batch_caller_put(store_batch *batch, const exec_id *child, const store_caller *c)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    return caller_put(&out, child, c);
}

int lmdb_caller_put(store_txn *txn, const exec_id *child, const store_caller *c)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    sink out = {t, NULL};
    return caller_put(&out, child, c);
}

int lmdb_batch_caller_del(store_batch *batch, const exec_id *child, const exec_id *parent, uint32_t seq)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    uint8_t k[36];

    key_caller(k, child, parent, seq);
    return lmdb_sink_del(&out, DB_CALLERS, k, sizeof k);
}

int lmdb_callers_scan(store_txn *txn, const exec_id *child, store_caller_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key = {16, (void *)child->bytes}, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_CALLERS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        const uint8_t *k = key.mv_data;
        store_caller c;
        if (key.mv_size != 36 || memcmp(k, child->bytes, 16) != 0)
            break;
        if (val.mv_size != 1) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(c.parent.bytes, k + 16, 16);
        c.seq = (uint32_t)k[32] << 24 | (uint32_t)k[33] << 16 | (uint32_t)k[34] << 8 | k[35];
        c.detached = (*(const uint8_t *)val.mv_data & 1) != 0;
        if ((out = cb(user, &c)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading callers") : 0;
}

/* ---- functions' crash histories ---------------------------------------------
 * function -> fixed head (store_fn_crashes without its strings), then the
 * hash and the reason, NUL-terminated. A store from before this database
 * gets it empty at open (MDB_CREATE), which means "no crashes". */

struct fn_crashes_head {
    uint32_t count, reserved;
    int64_t at[STORE_FN_CRASHES_KEPT];
    uint8_t ids[STORE_FN_CRASHES_KEPT][16];
    int64_t quarantined_at;
};

static int fn_crashes_put(sink *out, const char *function, const store_fn_crashes *c)
{
    size_t flen = strlen(function), hlen = strlen(c->hash) + 1,
           rlen = (c->reason ? strlen(c->reason) : 0) + 1;
    struct fn_crashes_head head;
    void *value;
    int rc;

    if (flen == 0 || flen > MAX_INDEX_KEY - 20)
        return TARRY_EINVAL;
    if (!c->hash[0]) /* nothing to remember */
        return lmdb_sink_del(out, DB_FN_CRASHES, function, flen);
    memset(&head, 0, sizeof head);
    head.count = c->count > STORE_FN_CRASHES_KEPT ? STORE_FN_CRASHES_KEPT : c->count;
    for (uint32_t i = 0; i < head.count; i++) {
        head.at[i] = c->at[i];
        memcpy(head.ids[i], c->ids[i].bytes, 16);
    }
    head.quarantined_at = c->quarantined_at;
    if ((rc = lmdb_sink_reserve(out, DB_FN_CRASHES, function, flen, sizeof head + hlen + rlen, &value)) != 0)
        return rc;
    memcpy(value, &head, sizeof head);
    memcpy((char *)value + sizeof head, c->hash, hlen);
    memcpy((char *)value + sizeof head + hlen, c->reason ? c->reason : "", rlen);
    return 0;
}

int lmdb_batch_fn_crashes_put(store_batch *batch, const char *function, const store_fn_crashes *c)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    return fn_crashes_put(&out, function, c);
}

int lmdb_fn_crashes_put(store_txn *txn, const char *function, const store_fn_crashes *c)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    sink out = {t, NULL};
    return fn_crashes_put(&out, function, c);
}

int lmdb_fn_crashes_scan(store_txn *txn, store_fn_crashes_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_FN_CRASHES], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct fn_crashes_head head;
        store_fn_crashes c;
        char function[MAX_INDEX_KEY];
        const char *hash, *reason, *end = (const char *)val.mv_data + val.mv_size;
        if (key.mv_size == 0 || key.mv_size >= sizeof function || val.mv_size < sizeof head + 2) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(&head, val.mv_data, sizeof head);
        hash = (const char *)val.mv_data + sizeof head;
        reason = memchr(hash, '\0', (size_t)(end - hash));
        if (!reason || reason + 1 >= end || end[-1] != '\0' || strlen(hash) >= sizeof c.hash) {
            rc = MDB_CORRUPTED;
            break;
        }
        reason++;
        memset(&c, 0, sizeof c);
        memcpy(function, key.mv_data, key.mv_size);
        function[key.mv_size] = '\0';
        memcpy(c.hash, hash, strlen(hash) + 1);
        c.count = head.count > STORE_FN_CRASHES_KEPT ? STORE_FN_CRASHES_KEPT : head.count;
        for (uint32_t i = 0; i < c.count; i++) {
            c.at[i] = head.at[i];
            memcpy(c.ids[i].bytes, head.ids[i], 16);
        }
        c.quarantined_at = head.quarantined_at;
        c.reason = reason;
        if ((out = cb(user, function, &c)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading crash histories") : 0;
}

/* ---- cron marks --------------------------------------------------------------
 * function -> covered_until(8, native) then the expression, NUL-terminated. */

static int cron_put(sink *out, const char *function, int64_t covered_until, const char *expr)
{
    size_t flen = strlen(function), elen = strlen(expr) + 1;
    void *value;
    int rc;

    if (flen == 0 || flen > MAX_INDEX_KEY - 20)
        return TARRY_EINVAL;
    if ((rc = lmdb_sink_reserve(out, DB_CRON, function, flen, sizeof covered_until + elen, &value)) != 0)
        return rc;
    memcpy(value, &covered_until, sizeof covered_until);
    memcpy((char *)value + sizeof covered_until, expr, elen);
    return 0;
}

int lmdb_batch_cron_put(store_batch *batch, const char *function, int64_t covered_until, const char *expr)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    return cron_put(&out, function, covered_until, expr);
}

int lmdb_cron_put(store_txn *txn, const char *function, int64_t covered_until, const char *expr)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    sink out = {t, NULL};
    return cron_put(&out, function, covered_until, expr);
}

int lmdb_cron_scan(store_txn *txn, store_cron_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_CRON], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char function[MAX_INDEX_KEY];
        int64_t covered_until;
        const char *expr = (const char *)val.mv_data + sizeof covered_until;
        if (key.mv_size == 0 || key.mv_size >= sizeof function || val.mv_size < sizeof covered_until + 1 ||
            expr[val.mv_size - sizeof covered_until - 1] != '\0') {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(&covered_until, val.mv_data, sizeof covered_until);
        memcpy(function, key.mv_data, key.mv_size);
        function[key.mv_size] = '\0';
        if ((out = cb(user, function, covered_until, expr)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading cron marks") : 0;
}

/* ---- idempotency keys ----------------------------------------------------------
 *
 * idem: store_idem_key (function NUL sha256(key), store.c) -> id(16) expires_at(8, big-endian). The key
 * is hashed because a key of 256 characters (up to 1 KiB of UTF-8) and a
 * function name do not fit LMDB's 511-byte keys; a hash of 256 bits does not
 * collide in practice, and the arguments check reads the execution itself.
 */

#define IDEM_VALUE_LEN 24

int lmdb_idem_get(store_txn *txn, const char *function, const char *key, store_idem *out)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    uint8_t k[MAX_INDEX_KEY];
    MDB_val mk, val;
    int rc;

    if (strlen(function) > 128)
        return TARRY_ENOTFOUND;
    mk.mv_size = store_idem_key(function, key, k);
    mk.mv_data = k;
    if ((rc = mdb_get(t->txn, t->st->db[DB_IDEM], &mk, &val)) != 0)
        return lmdb_fail(t->st, rc, "reading an idempotency key");
    if (val.mv_size != IDEM_VALUE_LEN) {
        store_set_error("corrupt idempotency key");
        return TARRY_EIO;
    }
    memcpy(out->id.bytes, val.mv_data, 16);
    out->expires_at = be64_get((const uint8_t *)val.mv_data + 16);
    return 0;
}

int lmdb_batch_idem_put(store_batch *batch, const char *function, const char *key, const store_idem *v)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    uint8_t k[MAX_INDEX_KEY], *value;
    void *p;
    int rc;

    if (strlen(function) > 128)
        return TARRY_EINVAL;
    if ((rc = lmdb_batch_append(b, OP_PUT, DB_IDEM, k, store_idem_key(function, key, k), IDEM_VALUE_LEN,
                                &p)) != 0)
        return rc;
    value = p;
    memcpy(value, v->id.bytes, 16);
    be64_put(value + 16, v->expires_at);
    return 0;
}

int lmdb_idem_expired(store_txn *txn, int64_t now_ms, store_idem_pos *pos, size_t max,
                      store_idem_expired_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    size_t seen = 0;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_IDEM], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    if (pos->len) {
        key.mv_size = pos->len;
        key.mv_data = pos->key;
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    }
    for (; rc == 0 && seen < max; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), seen++) {
        if (val.mv_size == IDEM_VALUE_LEN && be64_get((const uint8_t *)val.mv_data + 16) <= now_ms &&
            (out = cb(user, key.mv_data, key.mv_size)) != 0)
            break;
    }
    /* Where the next sweep starts: here, or from the top once the end is reached. */
    if (rc == 0 && key.mv_size <= sizeof pos->key) {
        memcpy(pos->key, key.mv_data, key.mv_size);
        pos->len = key.mv_size;
    } else {
        pos->len = 0;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "sweeping idempotency keys") : 0;
}

int lmdb_batch_idem_del_raw(store_batch *batch, const void *key, size_t len)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    return lmdb_batch_append(b, OP_DEL, DB_IDEM, key, len, 0, NULL);
}
