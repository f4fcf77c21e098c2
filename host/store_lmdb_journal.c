/*
 * store_lmdb_journal.c - what an execution writes as it runs, each keyed by its
 * id so the rows of one execution are adjacent and in order: its journal,
 * its attempts and its log lines.
 *
 * May not: touch the execution records or their indexes (store_lmdb.c).
 */
#include "store_lmdb_int.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

/* ---- logs ------------------------------------------------------------------ */

static void key_log(uint8_t k[20], const exec_id *id, uint32_t seq)
{
    memcpy(k, id->bytes, 16);
    k[16] = (uint8_t)(seq >> 24);
    k[17] = (uint8_t)(seq >> 16);
    k[18] = (uint8_t)(seq >> 8);
    k[19] = (uint8_t)seq;
}

/*
 * Value: time(8) level(1) text NUL attempt(4). Lines written before the
 * attempt was kept end at the text's NUL; the text holds no NUL, so where
 * its first NUL falls (last byte, or 4 before the end) tells the two apart
 * and an older store reads on, its lines as attempt 0.
 */
static int log_put(sink *out, const exec_id *id, const store_log_line *line)
{
    uint8_t k[20];
    size_t n = strlen(line->text) + 1;
    void *value;
    int rc;

    key_log(k, id, line->seq);
    if ((rc = lmdb_sink_reserve(out, DB_LOGS, k, 20, 9 + n + 4, &value)) != 0)
        return rc;
    memcpy(value, &line->time_ms, 8);
    ((uint8_t *)value)[8] = (uint8_t)line->level;
    memcpy((char *)value + 9, line->text, n);
    memcpy((char *)value + 9 + n, &line->attempt, 4);
    return 0;
}

int lmdb_log_put(store_txn *txn, const exec_id *id, const store_log_line *line)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    sink out = {t, NULL};
    return log_put(&out, id, line);
}

int lmdb_batch_log_put(store_batch *batch, const exec_id *id, const store_log_line *line)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    return log_put(&out, id, line);
}

int lmdb_log_scan(store_txn *txn, const exec_id *id, store_log_cb cb, void *user)
{
    return lmdb_log_scan_from(txn, id, 0, cb, user);
}

int lmdb_log_scan_from(store_txn *txn, const exec_id *id, uint32_t from, store_log_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    uint8_t k[20];
    MDB_cursor *cur;
    MDB_val key = {20, k}, val;
    int rc, out = 0;

    key_log(k, id, from);
    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_LOGS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        const uint8_t *kb = key.mv_data;
        const char *text = (const char *)val.mv_data + 9, *nul;
        store_log_line line;
        if (key.mv_size != 20 || memcmp(kb, id->bytes, 16) != 0)
            break;
        nul = val.mv_size >= 10 ? memchr(text, '\0', val.mv_size - 9) : NULL;
        if (!nul || (nul + 1 != text + val.mv_size - 9 && nul + 5 != text + val.mv_size - 9)) {
            rc = MDB_CORRUPTED;
            break;
        }
        line.seq = (uint32_t)kb[16] << 24 | (uint32_t)kb[17] << 16 | (uint32_t)kb[18] << 8 | kb[19];
        memcpy(&line.time_ms, val.mv_data, 8);
        line.level = ((uint8_t *)val.mv_data)[8];
        line.text = text;
        line.attempt = 0; /* a line from before attempts were kept */
        if (nul + 5 == text + val.mv_size - 9)
            memcpy(&line.attempt, nul + 1, 4);
        if ((out = cb(user, &line)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading logs") : 0;
}

/* ---- attempts ----------------------------------------------------------------
 * Key: id(16) number(4, big-endian), so an execution's attempts are
 * adjacent and in order. Value: a fixed head, then the error string. */

struct attempt_head {
    int64_t started_at, finished_at;
    uint8_t outcome, flags, pad[6];
};

#define ATTEMPT_F_CRASHED 0x1u
#define ATTEMPT_F_TIMED_OUT 0x2u
#define ATTEMPT_F_PERMANENT 0x4u

static int attempt_put(sink *out, const exec_id *id, const store_attempt *a)
{
    struct attempt_head head;
    const char *s[1] = {a->error};
    size_t len[1], total = sizeof head + lmdb_strings_size(s, len, 1);
    uint8_t k[20];
    void *value;
    int rc;

    key_log(k, id, a->number);
    if ((rc = lmdb_sink_reserve(out, DB_ATTEMPTS, k, 20, total, &value)) != 0)
        return rc;
    memset(&head, 0, sizeof head);
    head.started_at = a->started_at;
    head.finished_at = a->finished_at;
    head.outcome = (uint8_t)a->outcome;
    head.flags = (uint8_t)((a->crashed ? ATTEMPT_F_CRASHED : 0) | (a->timed_out ? ATTEMPT_F_TIMED_OUT : 0) |
                           (a->permanent ? ATTEMPT_F_PERMANENT : 0));
    memcpy(value, &head, sizeof head);
    lmdb_strings_put((char *)value + sizeof head, s, len, 1);
    return 0;
}

int lmdb_attempt_put(store_txn *txn, const exec_id *id, const store_attempt *a)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    sink out = {t, NULL};
    return attempt_put(&out, id, a);
}

int lmdb_batch_attempt_put(store_batch *batch, const exec_id *id, const store_attempt *a)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    return attempt_put(&out, id, a);
}

int lmdb_attempt_scan(store_txn *txn, const exec_id *id, store_attempt_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    uint8_t k[20];
    MDB_cursor *cur;
    MDB_val key = {20, k}, val;
    int rc, out = 0;

    key_log(k, id, 0);
    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_ATTEMPTS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        const uint8_t *kb = key.mv_data;
        const char *v = val.mv_data;
        struct attempt_head head;
        store_attempt a;
        const char *s[1];
        if (key.mv_size != 20 || memcmp(kb, id->bytes, 16) != 0)
            break;
        if (val.mv_size < sizeof head || lmdb_strings_get(v + sizeof head, v + val.mv_size, s, 1) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(&head, v, sizeof head);
        memset(&a, 0, sizeof a);
        a.number = (uint32_t)kb[16] << 24 | (uint32_t)kb[17] << 16 | (uint32_t)kb[18] << 8 | kb[19];
        a.started_at = head.started_at;
        a.finished_at = head.finished_at;
        a.outcome = (exec_state)head.outcome;
        a.crashed = (head.flags & ATTEMPT_F_CRASHED) != 0;
        a.timed_out = (head.flags & ATTEMPT_F_TIMED_OUT) != 0;
        a.permanent = (head.flags & ATTEMPT_F_PERMANENT) != 0;
        a.error = s[0];
        if ((out = cb(user, &a)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_fail(t->st, rc, "reading attempts");
    return 0;
}

/* ---- journal ----------------------------------------------------------------
 * id seq(4, big-endian) -> fixed head, then name, value, error as in records. */

struct journal_head {
    uint8_t kind, status, detached, pad[5];
    int64_t started_at, finished_at, wake_at;
    uint8_t child[16];
};

static int journal_put(sink *out, const exec_id *id, const journal_entry *e)
{
    const char *strs[3] = {e->name, e->value, e->error};
    size_t len[3], total = sizeof(struct journal_head);
    struct journal_head head;
    uint8_t k[20];
    void *value;
    int rc;

    total += lmdb_strings_size(strs, len, 3);
    key_log(k, id, e->seq);
    if ((rc = lmdb_sink_reserve(out, DB_JOURNAL, k, 20, total, &value)) != 0)
        return rc;
    memset(&head, 0, sizeof head);
    head.kind = (uint8_t)e->kind;
    head.status = (uint8_t)e->status;
    head.detached = e->detached;
    head.started_at = e->started_at;
    head.finished_at = e->finished_at;
    head.wake_at = e->wake_at;
    memcpy(head.child, e->child.bytes, 16);
    memcpy(value, &head, sizeof head);
    lmdb_strings_put((char *)value + sizeof head, strs, len, 3);
    return 0;
}

int lmdb_journal_put(store_txn *txn, const exec_id *id, const journal_entry *e)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    sink out = {t, NULL};
    return journal_put(&out, id, e);
}

int lmdb_batch_journal_put(store_batch *batch, const exec_id *id, const journal_entry *e)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    return journal_put(&out, id, e);
}

int lmdb_batch_journal_del(store_batch *batch, const exec_id *id, uint32_t seq)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    uint8_t k[20];
    key_log(k, id, seq);
    return lmdb_sink_del(&out, DB_JOURNAL, k, sizeof k);
}

static int journal_decode(const MDB_val *key, const MDB_val *val, journal_entry *e)
{
    struct journal_head head;
    const char *strs[3];
    const char *p = val->mv_data, *end = p + val->mv_size;
    const uint8_t *kb = key->mv_data;

    if (val->mv_size < sizeof head)
        return TARRY_EIO;
    memcpy(&head, p, sizeof head);
    if (lmdb_strings_get(p + sizeof head, end, strs, 3) != 0)
        return TARRY_EIO;
    memset(e, 0, sizeof *e);
    e->seq = (uint32_t)kb[16] << 24 | (uint32_t)kb[17] << 16 | (uint32_t)kb[18] << 8 | kb[19];
    e->kind = (journal_kind)head.kind;
    e->status = (journal_status)head.status;
    e->detached = head.detached != 0;
    e->started_at = head.started_at;
    e->finished_at = head.finished_at;
    e->wake_at = head.wake_at;
    memcpy(e->child.bytes, head.child, 16);
    e->name = strs[0];
    e->value = strs[1];
    e->error = strs[2];
    return 0;
}

int lmdb_journal_get(store_txn *txn, const exec_id *id, uint32_t seq, journal_entry *out)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    uint8_t k[20];
    MDB_val key = {20, k}, val;
    int rc;

    key_log(k, id, seq);
    if ((rc = mdb_get(t->txn, t->st->db[DB_JOURNAL], &key, &val)) != 0)
        return lmdb_fail(t->st, rc, "reading a journal entry");
    return journal_decode(&key, &val, out);
}

int lmdb_journal_scan(store_txn *txn, const exec_id *id, store_journal_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    uint8_t k[20];
    MDB_cursor *cur;
    MDB_val key = {20, k}, val;
    int rc, out = 0;

    key_log(k, id, 0);
    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_JOURNAL], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        journal_entry e;
        if (key.mv_size != 20 || memcmp(key.mv_data, id->bytes, 16) != 0)
            break;
        if (journal_decode(&key, &val, &e) != 0) {
            store_set_error("corrupt journal entry");
            out = TARRY_EIO;
            break;
        }
        if ((out = cb(user, &e)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading a journal") : 0;
}
