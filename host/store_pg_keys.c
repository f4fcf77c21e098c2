/*
 * store_pg_keys.c - the PostgreSQL store's side tables keyed by something
 * other than an execution's own rows: the callers that share a child by
 * idempotency key (callers), the idempotency keys (idempotency_keys),
 * functions' crash histories (function_crash_histories and function_crashes)
 * and cron marks (cron_marks). The LMDB side, store_lmdb_keys.c, is the
 * reference: scans run in LMDB's key order, which is why function names
 * are ordered COLLATE "C" (byte order) here.
 *
 * May not: touch the execution records or their indexes (store_pg_exec.c).
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

/* The longest function name a crash history or a cron mark takes: LMDB's key limit
 * (store_lmdb_keys.c), kept here so both stores refuse the same names. */
#define FN_KEY_MAX 280

/* ---- callers ------------------------------------------------------------------ */

static const char caller_put_sql[] =
    "INSERT INTO callers (child_id, parent_id, seq, detached) VALUES ($1, $2, $3, $4)\n"
    "ON CONFLICT (child_id, parent_id, seq) DO UPDATE SET detached = EXCLUDED.detached";

static int caller_put(pgs_sink *out, const exec_id *child, const store_caller *c)
{
    pgs_buf childt, parentt, seq;
    const char *params[4] = {pgs_idtext(&childt, child), pgs_idtext(&parentt, &c->parent),
                             pgs_int(&seq, c->seq), pgs_bool(c->detached)};

    return pgs_write(out, "writing a caller of a shared child", caller_put_sql, 4, params);
}

int pgs_batch_caller_put(store_batch *b, const exec_id *child, const store_caller *c)
{
    pgs_sink out = pgs_to_batch(b);
    return caller_put(&out, child, c);
}

int pgs_caller_put(store_txn *txn, const exec_id *child, const store_caller *c)
{
    pgs_sink out = pgs_to_txn(txn);
    return caller_put(&out, child, c);
}

static const char caller_del_sql[] =
    "DELETE FROM callers WHERE child_id = $1 AND parent_id = $2 AND seq = $3";

int pgs_batch_caller_del(store_batch *b, const exec_id *child, const exec_id *parent, uint32_t seq)
{
    pgs_sink out = pgs_to_batch(b);
    pgs_buf childt, parentt, seqt;
    const char *params[3] = {pgs_idtext(&childt, child), pgs_idtext(&parentt, parent), pgs_int(&seqt, seq)};

    return pgs_write(&out, "deleting a caller of a shared child", caller_del_sql, 3, params);
}

static const char callers_scan_sql[] =
    "SELECT parent_id, seq, detached FROM callers WHERE child_id = $1 ORDER BY parent_id, seq";

int pgs_callers_scan(store_txn *txn, const exec_id *child, store_caller_cb cb, void *user)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf childt;
    const char *params[1] = {pgs_idtext(&childt, child)};
    char what[96];
    PGresult *r;
    int rc;

    snprintf(what, sizeof what, "reading the callers of execution %s", params[0] ? params[0] : "(none)");
    if ((rc = pgs_query_prepared(t, what, callers_scan_sql, 1, params, &r)) != 0)
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows; i++) {
        store_caller c;
        if (pgs_idget(r, i, 0, &c.parent) != 0) {
            store_set_error("corrupt caller of a shared child: its parent is no execution id");
            return TARRY_EIO;
        }
        c.seq = (uint32_t)pgs_i64(r, i, 1);
        c.detached = pgs_b(r, i, 2);
        if ((rc = cb(user, &c)) != 0)
            return rc;
    }
    return 0;
}

/* ---- functions' crash histories ---------------------------------------------
 * One row per function (its plugin version, quarantine and reason) and one per
 * crash, newest first by (crashed_at, exec_id) as the engine keeps them. */

static int function_name_ok(const char *function)
{
    size_t n = strlen(function);
    return n > 0 && n <= FN_KEY_MAX;
}

/* The schema's tarry_hash (a plugin version, plugins.h): refused here, naming it, rather than
 * by the server at commit, where it would fail the whole batch. */
static int plugin_hash_ok(const char *function, const char *hash)
{
    char msg[256];
    size_t n = strspn(hash, "0123456789abcdef");

    if (n == 16 && hash[16] == '\0')
        return 0;
    snprintf(msg, sizeof msg, "crash history of %.128s: \"%.23s\" is no plugin version (16 hex digits)",
             function, hash);
    store_set_error(msg);
    return TARRY_EINVAL;
}

static const char fn_crashes_forget_sql[] = "DELETE FROM function_crash_histories WHERE function = $1";
static const char fn_crashes_history_sql[] =
    "INSERT INTO function_crash_histories (function, plugin_hash, quarantined_at, reason)\n"
    "VALUES ($1, $2, tarry_ts($3), $4)\n"
    "ON CONFLICT (function) DO UPDATE SET plugin_hash = EXCLUDED.plugin_hash,\n"
    "    quarantined_at = EXCLUDED.quarantined_at, reason = EXCLUDED.reason";
static const char fn_crashes_clear_sql[] = "DELETE FROM function_crashes WHERE function = $1";
/* Every crash in one statement: $2 and $3 are arrays of times (ms) and ids, in step. */
static const char fn_crashes_each_sql[] =
    "INSERT INTO function_crashes (function, crashed_at, exec_id)\n"
    "SELECT $1, tarry_ts(at), id FROM unnest($2::bigint[], $3::text[]) AS crash (at, id)";

static int fn_crashes_put(pgs_sink *out, const char *function, const store_fn_crashes *c)
{
    /* {t,t,...} and {id,id,...}: 20 digits and 26 characters at most, each with its comma */
    char ats[2 + STORE_FN_CRASHES_KEPT * 22], ids[2 + STORE_FN_CRASHES_KEPT * 28];
    size_t at_len = 0, id_len = 0;
    uint32_t count = c->count > STORE_FN_CRASHES_KEPT ? STORE_FN_CRASHES_KEPT : c->count;
    pgs_buf quarantined;
    const char *forget[1] = {function};
    const char *history[4] = {function, c->hash, pgs_ms(&quarantined, c->quarantined_at),
                              c->reason && c->reason[0] ? c->reason : NULL};
    const char *each[3] = {function, ats, ids};
    int rc;

    if (!function_name_ok(function))
        return TARRY_EINVAL;
    if (!c->hash[0]) /* nothing to remember: the crashes go with their history (ON DELETE CASCADE) */
        return pgs_write(out, "forgetting a function's crashes", fn_crashes_forget_sql, 1, forget);
    if ((rc = plugin_hash_ok(function, c->hash)) != 0)
        return rc;
    ats[at_len++] = '{';
    ids[id_len++] = '{';
    for (uint32_t i = 0; i < count; i++) {
        pgs_buf idt;
        const char *id = pgs_idtext(&idt, &c->ids[i]);
        at_len +=
            (size_t)snprintf(ats + at_len, sizeof ats - at_len, "%s%lld", i ? "," : "", (long long)c->at[i]);
        id_len += (size_t)snprintf(ids + id_len, sizeof ids - id_len, "%s%s", i ? "," : "", id ? id : "NULL");
    }
    snprintf(ats + at_len, sizeof ats - at_len, "}");
    snprintf(ids + id_len, sizeof ids - id_len, "}");
    if ((rc = pgs_write(out, "writing a function's crash history", fn_crashes_history_sql, 4, history)) !=
            0 ||
        (rc = pgs_write(out, "writing a function's crashes", fn_crashes_clear_sql, 1, forget)) != 0)
        return rc;
    return count ? pgs_write(out, "writing a function's crashes", fn_crashes_each_sql, 3, each) : 0;
}

int pgs_fn_crashes_put(store_txn *txn, const char *function, const store_fn_crashes *c)
{
    pgs_sink out = pgs_to_txn(txn);
    return fn_crashes_put(&out, function, c);
}

int pgs_batch_fn_crashes_put(store_batch *b, const char *function, const store_fn_crashes *c)
{
    pgs_sink out = pgs_to_batch(b);
    return fn_crashes_put(&out, function, c);
}

/* One row per crash (or one with NULL crash columns for a history without any), grouped by function. */
static const char fn_crashes_scan_sql[] =
    "SELECT h.function, h.plugin_hash, tarry_ms(h.quarantined_at), h.reason, tarry_ms(c.crashed_at), "
    "c.exec_id\n"
    "FROM function_crash_histories h LEFT JOIN function_crashes c ON c.function = h.function\n"
    "ORDER BY h.function COLLATE \"C\", c.crashed_at DESC, c.exec_id DESC";

int pgs_fn_crashes_scan(store_txn *txn, store_fn_crashes_cb cb, void *user)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    PGresult *r;
    int rc, rows;

    if ((rc = pgs_query(t, "reading crash histories", fn_crashes_scan_sql, 0, NULL, &r)) != 0)
        return rc;
    rows = PQntuples(r);
    for (int i = 0; i < rows;) {
        const char *function = pgs_str(r, i, 0), *hash = pgs_str(r, i, 1);
        store_fn_crashes c;

        if (!function || !hash || strlen(hash) >= sizeof c.hash) {
            store_set_error("corrupt crash history: no function or no plugin version");
            return TARRY_EIO;
        }
        memset(&c, 0, sizeof c);
        memcpy(c.hash, hash, strlen(hash) + 1);
        c.quarantined_at = pgs_i64(r, i, 2);
        c.reason = pgs_str(r, i, 3) ? pgs_str(r, i, 3) : ""; /* as LMDB reads a history without one */
        for (; i < rows && strcmp(pgs_str(r, i, 0), function) == 0; i++) {
            if (PQgetisnull(r, i, 5) || c.count == STORE_FN_CRASHES_KEPT) /* no crash: tarry_ms gave 0 */
                continue;
            c.at[c.count] = pgs_i64(r, i, 4);
            if (pgs_idget(r, i, 5, &c.ids[c.count]) != 0) {
                store_set_error("corrupt crash history: a crash names no execution id");
                return TARRY_EIO;
            }
            c.count++;
        }
        if ((rc = cb(user, function, &c)) != 0)
            return rc;
    }
    return 0;
}

/* ---- cron marks ---------------------------------------------------------------- */

static const char cron_put_sql[] =
    "INSERT INTO cron_marks (function, covered_until, expr) VALUES ($1, tarry_ts($2), $3)\n"
    "ON CONFLICT (function) DO UPDATE SET covered_until = EXCLUDED.covered_until,\n"
    "    expr = EXCLUDED.expr";

static int cron_put(pgs_sink *out, const char *function, int64_t covered_until, const char *expr)
{
    pgs_buf covered;
    const char *params[3] = {function, pgs_int(&covered, covered_until), expr};

    if (!function_name_ok(function))
        return TARRY_EINVAL;
    return pgs_write(out, "writing a cron mark", cron_put_sql, 3, params);
}

int pgs_batch_cron_put(store_batch *b, const char *function, int64_t covered_until, const char *expr)
{
    pgs_sink out = pgs_to_batch(b);
    return cron_put(&out, function, covered_until, expr);
}

int pgs_cron_put(store_txn *txn, const char *function, int64_t covered_until, const char *expr)
{
    pgs_sink out = pgs_to_txn(txn);
    return cron_put(&out, function, covered_until, expr);
}

static const char cron_scan_sql[] =
    "SELECT function, tarry_ms(covered_until), expr FROM cron_marks ORDER BY function COLLATE \"C\"";

int pgs_cron_scan(store_txn *txn, store_cron_cb cb, void *user)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    PGresult *r;
    int rc;

    if ((rc = pgs_query(t, "reading cron marks", cron_scan_sql, 0, NULL, &r)) != 0)
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows; i++) {
        if (!pgs_str(r, i, 0) || !pgs_str(r, i, 2)) {
            store_set_error("corrupt cron mark");
            return TARRY_EIO;
        }
        if ((rc = cb(user, pgs_str(r, i, 0), pgs_i64(r, i, 1), pgs_str(r, i, 2))) != 0)
            return rc;
    }
    return 0;
}

/* ---- idempotency keys ------------------------------------------------------------
 * A key is stored as store_idem_key() makes it, function NUL sha256(key): the
 * function as text and the 32 bytes as key_hash, passed and read as hex (bytea's
 * hex input form, whatever the server's bytea_output). A sweep hands that raw form
 * out and deletes by it, as the engine keys its map of uncommitted keys alike. */

#define IDEM_HASH_LEN 32

/* Split a raw key into its function and its hash as hex; 0, or -1 when it is not one. */
static int idem_split(const void *key, size_t len, char function[129], char hex[2 * IDEM_HASH_LEN + 1])
{
    const uint8_t *k = key;
    const uint8_t *nul = len > IDEM_HASH_LEN ? memchr(k, '\0', len) : NULL;
    size_t flen = nul ? (size_t)(nul - k) : 0;

    if (!nul || flen == 0 || flen > 128 || len != flen + 1 + IDEM_HASH_LEN)
        return -1;
    memcpy(function, k, flen);
    function[flen] = '\0';
    for (size_t i = 0; i < IDEM_HASH_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", nul[1 + i]);
    return 0;
}

/* The raw form of a row: function NUL the hash, from its hex; its length, or 0 when malformed. */
static size_t idem_join(const char *function, const char *hex, uint8_t *out, size_t cap)
{
    size_t flen = function ? strlen(function) : 0;

    if (!hex || flen == 0 || flen + 1 + IDEM_HASH_LEN > cap || strlen(hex) != 2 * IDEM_HASH_LEN)
        return 0;
    memcpy(out, function, flen + 1);
    for (size_t i = 0; i < IDEM_HASH_LEN; i++) {
        char byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'}, *end;
        out[flen + 1 + i] = (uint8_t)strtoul(byte, &end, 16);
        if (*end)
            return 0;
    }
    return flen + 1 + IDEM_HASH_LEN;
}

static const char idem_get_sql[] = "SELECT exec_id, tarry_ms(expires_at) FROM idempotency_keys WHERE "
                                   "function = $1 AND key_hash = decode($2, 'hex')";

int pgs_idem_get(store_txn *txn, const char *function, const char *key, store_idem *out)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    uint8_t raw[STORE_IDEM_KEY_MAX];
    char fn[129], hex[2 * IDEM_HASH_LEN + 1];
    const char *params[2] = {fn, hex};
    size_t len = store_idem_key(function, key, raw);
    PGresult *r;
    int rc;

    if (len == 0 || idem_split(raw, len, fn, hex) != 0)
        return TARRY_ENOTFOUND; /* a function name no key can have */
    if ((rc = pgs_query_prepared(t, "reading an idempotency key", idem_get_sql, 2, params, &r)) != 0)
        return rc;
    if (PQntuples(r) == 0)
        return TARRY_ENOTFOUND;
    if (pgs_idget(r, 0, 0, &out->id) != 0) {
        store_set_error("corrupt idempotency key: it names no execution id");
        return TARRY_EIO;
    }
    out->expires_at = pgs_i64(r, 0, 1);
    return 0;
}

/*
 * A key is taken only if it is free, expired, or already this execution's. Two hosts can each
 * find a key absent and accept a trigger with it at once (their checks are reads, each before
 * its own commit): the second commit to reach the key is a conflict naming its new execution
 * (tarry_conflict, TRC01), which the engine refuses (engine_batch.c), so one key never stands
 * for two executions. One host alone never gets here: its pending keys are in its memory.
 */
static const char idem_put_sql[] =
    "WITH taken AS (INSERT INTO idempotency_keys (function, key_hash, exec_id, expires_at)\n"
    "VALUES ($1, decode($2, 'hex'), $3, tarry_ts($4))\n"
    "ON CONFLICT (function, key_hash) DO UPDATE SET exec_id = EXCLUDED.exec_id, expires_at = EXCLUDED.expires_at\n"
    "WHERE idempotency_keys.exec_id = EXCLUDED.exec_id OR idempotency_keys.expires_at <= now() RETURNING 1)\n"
    "SELECT tarry_conflict($3) WHERE NOT EXISTS (SELECT FROM taken)";

int pgs_batch_idem_put(store_batch *b, const char *function, const char *key, const store_idem *v)
{
    pgs_sink out = pgs_to_batch(b);
    uint8_t raw[STORE_IDEM_KEY_MAX];
    char fn[129], hex[2 * IDEM_HASH_LEN + 1];
    pgs_buf idt, expires;
    const char *params[4] = {fn, hex, pgs_idtext(&idt, &v->id), pgs_int(&expires, v->expires_at)};
    size_t len = store_idem_key(function, key, raw);

    if (len == 0 || idem_split(raw, len, fn, hex) != 0)
        return TARRY_EINVAL;
    return pgs_write(&out, "writing an idempotency key", idem_put_sql, 4, params);
}

/* max + 1 rows from a position on: the last one, when there, is where the next sweep starts. */
static const char idem_sweep_top_sql[] =
    "SELECT function, encode(key_hash, 'hex'), tarry_ms(expires_at) FROM idempotency_keys\n"
    "ORDER BY function, key_hash LIMIT $1";
static const char idem_sweep_from_sql[] =
    "SELECT function, encode(key_hash, 'hex'), tarry_ms(expires_at) FROM idempotency_keys\n"
    "WHERE (function, key_hash) >= ($2, decode($3, 'hex')) ORDER BY function, key_hash LIMIT $1";

int pgs_idem_expired(store_txn *txn, int64_t now_ms, store_idem_pos *pos, size_t max,
                     store_idem_expired_cb cb, void *user)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    char fn[129], hex[2 * IDEM_HASH_LEN + 1];
    pgs_buf limit;
    const char *params[3] = {pgs_int(&limit, (int64_t)(max > INT32_MAX ? INT32_MAX : max) + 1), fn, hex};
    bool from = pos->len && idem_split(pos->key, pos->len, fn, hex) == 0;
    PGresult *r;
    int rc, rows;

    if ((rc = pgs_query(t, "sweeping idempotency keys", from ? idem_sweep_from_sql : idem_sweep_top_sql,
                        from ? 3 : 1, params, &r)) != 0)
        return rc;
    rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        uint8_t raw[STORE_IDEM_KEY_MAX];
        size_t len = idem_join(pgs_str(r, i, 0), pgs_str(r, i, 1), raw, sizeof raw);
        if (len == 0) {
            store_set_error("corrupt idempotency key: its function or hash is malformed");
            return TARRY_EIO;
        }
        /* Here the sweep stops (the callback's row is looked at again next time) or, past max,
         * goes on next time. */
        if ((size_t)i == max || (pgs_i64(r, i, 2) <= now_ms && (rc = cb(user, raw, len)) != 0)) {
            memcpy(pos->key, raw, len);
            pos->len = len;
            return rc;
        }
    }
    pos->len = 0; /* the end: the next sweep starts at the top */
    return 0;
}

static const char idem_del_sql[] =
    "DELETE FROM idempotency_keys WHERE function = $1 AND key_hash = decode($2, 'hex')";

int pgs_batch_idem_del_raw(store_batch *b, const void *key, size_t len)
{
    pgs_sink out = pgs_to_batch(b);
    char fn[129], hex[2 * IDEM_HASH_LEN + 1];
    const char *params[2] = {fn, hex};

    if (idem_split(key, len, fn, hex) != 0) {
        store_set_error("not an idempotency key as the store keeps them (function NUL sha256)");
        return TARRY_EINVAL;
    }
    return pgs_write(&out, "deleting an idempotency key", idem_del_sql, 2, params);
}
