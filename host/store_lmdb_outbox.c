/*
 * store_lmdb_outbox.c - failure notifications and their outbox in LMDB (store_outbox.h).
 *
 * Databases (store_lmdb_int.h):
 *   notify  id(16) created_ms(8, big-endian) hook(1) -> a notification
 *           (an execution's rows are adjacent: GET one execution lists them cheaply)
 *   outbox  due_ms(8, big-endian) id(16) created_ms(8) hook(1) -> ""
 *           (pending rows only, earliest first: the sender reads what is due in order)
 * A row's value: a fixed head (state, attempts, due and delivered times),
 * then its four strings (url, shown url, body, last error) in the store's
 * string-list encoding (store_lmdb_int.h). Native byte order, as records.
 *
 * May not: touch the execution records or their indexes (store_lmdb.c); decide
 * anything about delivery (notify.c does).
 */
#include "store_outbox.h"

#include <string.h>

#include "status.h"
#include "store_lmdb_int.h"

#define NOTIFY_KEY 25 /* id(16) created(8) hook(1) */
#define OUTBOX_KEY 33 /* due(8) + a notify key */

struct notify_head {
    uint8_t state, hook, reserved[2];
    uint32_t attempts;
    int64_t due_at, delivered_at;
};

static void key_notify(uint8_t k[NOTIFY_KEY], const store_notify *n)
{
    memcpy(k, n->id.bytes, 16);
    be64_put(k + 16, n->created_at);
    k[24] = n->hook;
}

static void key_outbox(uint8_t k[OUTBOX_KEY], int64_t due, const store_notify *n)
{
    be64_put(k, due);
    key_notify(k + 8, n);
}

int lmdb_batch_notify_put(store_batch *batch, const store_notify *n, int64_t prev_due)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    const char *strs[4] = {n->url, n->shown_url, n->body, n->last_error};
    size_t len[4], size = lmdb_strings_size(strs, len, 4);
    uint8_t k[NOTIFY_KEY], ok[OUTBOX_KEY];
    struct notify_head head;
    void *value;
    int rc;

    if (prev_due) {
        key_outbox(ok, prev_due, n);
        if ((rc = lmdb_sink_del(&out, DB_OUTBOX, ok, sizeof ok)) != 0)
            return rc;
    }
    memset(&head, 0, sizeof head);
    head.state = (uint8_t)n->state;
    head.hook = n->hook;
    head.attempts = n->attempts;
    head.due_at = n->due_at;
    head.delivered_at = n->delivered_at;
    key_notify(k, n);
    if ((rc = lmdb_sink_reserve(&out, DB_NOTIFY, k, sizeof k, sizeof head + size, &value)) != 0)
        return rc;
    memcpy(value, &head, sizeof head);
    lmdb_strings_put((char *)value + sizeof head, strs, len, 4);
    if (n->state == STORE_NOTIFY_PENDING) {
        key_outbox(ok, n->due_at, n);
        return lmdb_sink_put_empty(&out, DB_OUTBOX, ok, sizeof ok);
    }
    return 0;
}

/* The row under key k (a notify key) from its value, strings borrowed. 0 or -1 when malformed. */
static int notify_decode(const uint8_t *k, const MDB_val *val, store_notify *n)
{
    struct notify_head head;
    const char *strs[4];

    if (val->mv_size < sizeof head)
        return -1;
    memcpy(&head, val->mv_data, sizeof head);
    if (lmdb_strings_get((const char *)val->mv_data + sizeof head, (const char *)val->mv_data + val->mv_size,
                         strs, 4) != 0 ||
        !strs[0] || !strs[1] || !strs[2])
        return -1;
    memset(n, 0, sizeof *n);
    memcpy(n->id.bytes, k, 16);
    n->created_at = be64_get(k + 16);
    n->hook = k[24];
    n->state = (store_notify_state)head.state;
    n->attempts = head.attempts;
    n->due_at = head.due_at;
    n->delivered_at = head.delivered_at;
    n->url = strs[0];
    n->shown_url = strs[1];
    n->body = strs[2];
    n->last_error = strs[3];
    return 0;
}

int lmdb_notify_scan(store_txn *txn, const exec_id *id, store_notify_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key = {16, (void *)id->bytes}, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_NOTIFY], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        store_notify n;
        if (key.mv_size != NOTIFY_KEY || memcmp(key.mv_data, id->bytes, 16) != 0)
            break;
        if (notify_decode(key.mv_data, &val, &n) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        if ((out = cb(user, &n)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading notifications") : 0;
}

int lmdb_outbox_scan(store_txn *txn, store_notify_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_OUTBOX], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        MDB_val nkey, nval;
        store_notify n;
        if (key.mv_size != OUTBOX_KEY) {
            rc = MDB_CORRUPTED;
            break;
        }
        nkey.mv_size = NOTIFY_KEY;
        nkey.mv_data = (uint8_t *)key.mv_data + 8;
        if ((rc = mdb_get(t->txn, t->st->db[DB_NOTIFY], &nkey, &nval)) == MDB_NOTFOUND)
            continue; /* its row was deleted with its execution (retention): nothing to send */
        if (rc != 0)
            break;
        if (notify_decode(nkey.mv_data, &nval, &n) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        if ((out = cb(user, &n)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading the notification outbox") : 0;
}

int lmdb_notify_purge(lmdb_store *st, MDB_txn *txn, const exec_id *id)
{
    MDB_cursor *cur;
    MDB_val key = {16, (void *)id->bytes}, val;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->db[DB_NOTIFY], &cur)) != 0)
        return rc;
    /* After a delete the cursor stands on the next key, which MDB_NEXT then returns (C_DEL). */
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct notify_head head;
        if (key.mv_size != NOTIFY_KEY || memcmp(key.mv_data, id->bytes, 16) != 0)
            break;
        if (val.mv_size >= sizeof head) {
            memcpy(&head, val.mv_data, sizeof head);
            if (head.state == STORE_NOTIFY_PENDING) {
                uint8_t ok[OUTBOX_KEY];
                MDB_val okey = {sizeof ok, ok};
                be64_put(ok, head.due_at);
                memcpy(ok + 8, key.mv_data, NOTIFY_KEY);
                if ((rc = mdb_del(txn, st->db[DB_OUTBOX], &okey, NULL)) != 0 && rc != MDB_NOTFOUND)
                    break;
            }
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int lmdb_outbox_count(store_txn *txn, uint64_t *count)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_stat s;
    int rc = mdb_stat(t->txn, t->st->db[DB_OUTBOX], &s);
    if (rc != 0)
        return lmdb_fail(t->st, rc, "counting the notification outbox");
    *count = s.ms_entries;
    return 0;
}
