/*
 * store_lmdb.c - the LMDB store (store_impl.h): schema, record encoding,
 * transactions, and the ops table that is its only way in.
 *
 * Over 800 lines because records, their indexes and the scans over them
 * are one concern: every index key is derived from the record encoding
 * here, and an index change is written in the same put as its record.
 * It reads in sections: opening, transactions, batches, string lists,
 * records, index keys, scans, the metadata index, filtered listing, the
 * ops table. The other databases live in store_lmdb_journal.c,
 * store_lmdb_keys.c, store_lmdb_retention.c and store_lmdb_outbox.c
 * (store_lmdb_int.h, which also describes the databases).
 *
 * May not: call into the engine, know about HTTP, or keep anything across
 * transactions except the environment, its database handles and each
 * thread's reset read transactions.
 */
#include "store_lmdb_int.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "status.h"
#include "store_lmdb_folder.h"

#define RECORD_FORMAT                                                                                        \
    5 /* written; formats 3 (before log counts) and 4 (before execution control) are read                    \
       */
#define RECORD_FORMAT_V4 4
#define RECORD_FORMAT_V3 3
#define STR_ABSENT 0xffffffffu

static const char *const db_names[DB_COUNT] = {
    "exec",     "by_state", "by_fn",   "by_fn_state", "timers", "logs",    "journal", "pins",   "fn_crashes",
    "attempts", "idem",     "by_meta", "cron",        "reruns", "callers", "notify",  "outbox", "retention"};

/*
 * Read transactions are reused per thread. Under MDB_NOTLS, beginning a
 * new read transaction takes LMDB's reader-table mutex (shared by every
 * process and thread on the environment) to find a free slot; a reset
 * transaction keeps its slot and renews without it. The loop, the commit
 * thread and every worker begin read transactions all the time, so each
 * thread keeps a few reset ones for the store it uses.
 */
#define TXN_CACHE 2
static _Thread_local struct {
    uint64_t epoch; /* the store these belong to; 0: none */
    lmdb_txn *idle[TXN_CACHE];
    int count;
} txn_cache;
static atomic_uint_fast64_t store_epochs;

int lmdb_fail(lmdb_store *st, int rc, const char *what)
{
    char why[768];

    (void)st;
    if (rc == MDB_NOTFOUND)
        return TARRY_ENOTFOUND;
    if (rc == MDB_MAP_FULL) {
        snprintf(why, sizeof why,
                 "the store's map is full (%s; raise --map-size: it costs nothing until used)", what);
        store_set_error(why);
        return TARRY_EFULL;
    }
    if (rc == ENOSPC || rc == EDQUOT) {
        snprintf(why, sizeof why, "no space left on the data disk (%s: %s)", what,
                 rc == EDQUOT ? "disk quota exceeded" : "no space left on device");
        store_set_error(why);
        return TARRY_EFULL;
    }
    snprintf(why, sizeof why, "%s: %s", what, mdb_strerror(rc));
    store_set_error(why);
    /* LMDB could not write a meta page: the environment refuses every
     * transaction from now on, until it is opened again. */
    return rc == MDB_PANIC ? TARRY_EBROKEN : TARRY_EIO;
}

/*
 * Two hosts on one data folder would both re-run every execution they find
 * running at start. LMDB itself allows several processes, so the folder is
 * locked here; the kernel drops the lock when the process dies, however it
 * dies, so a crash never leaves a stale lock.
 */
static int lock_folder(lmdb_store *st, const char *dir, char *err, size_t errlen)
{
    char path[4096], pid[32];
    int n;

    snprintf(path, sizeof path, "%s/tarry.lock", dir);
    if ((st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return TARRY_EIO;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        n = (int)pread(st->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen,
                 "data folder %s is in use by another tarry host (pid %s); one host per data folder", dir,
                 pid[0] ? pid : "unknown");
        close(st->lock_fd);
        return TARRY_EEXIST;
    }
    n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(st->lock_fd, 0) != 0 || pwrite(st->lock_fd, pid, (size_t)n, 0) != n) {
        /* The pid is only for the message above; the lock is what matters. */
    }
    return 0;
}

static int pin_put(sink *out, const char *hash, const exec_id *id);
static int record_decode(lmdb_store *st, const MDB_val *key, const MDB_val *val, exec_record *r);

/*
 * The `pins` index (hash, id) of every unfinished execution pinned to a
 * version, filled from the records of a store written before it existed.
 * Run once, inside the transaction that creates it. Returns an LMDB code.
 */
static int pins_build(lmdb_store *st, MDB_txn *txn)
{
    static const exec_state unfinished[] = {EXEC_SCHEDULED, EXEC_QUEUED, EXEC_RUNNING, EXEC_WAITING,
                                            EXEC_BLOCKED};
    lmdb_txn t = {.base = {&st->base}, .st = st, .txn = txn, .write = true};
    sink out = {&t, NULL};
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < sizeof unfinished / sizeof unfinished[0]; i++) {
        MDB_cursor *cur;
        uint8_t prefix = (uint8_t)unfinished[i];
        MDB_val key = {1, &prefix}, val, rkey, rval;
        if ((rc = mdb_cursor_open(txn, st->db[DB_BY_STATE], &cur)) != 0)
            return rc;
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
            exec_record rec;
            if (key.mv_size != 17 || ((uint8_t *)key.mv_data)[0] != prefix)
                break;
            rkey.mv_size = 16;
            rkey.mv_data = (uint8_t *)key.mv_data + 1;
            if ((rc = mdb_get(txn, st->db[DB_EXEC], &rkey, &rval)) != 0)
                break;
            if (record_decode(st, &rkey, &rval, &rec) != 0) {
                rc = MDB_CORRUPTED;
                break;
            }
            if (rec.plugin_hash && strlen(rec.plugin_hash) == PIN_HASH_LEN &&
                pin_put(&out, rec.plugin_hash, &rec.id) != 0) {
                rc = EIO; /* store_open reports it with the store's name */
                break;
            }
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc;
}

static int meta_index(sink *out, const exec_record *rec, bool del);

/* A store from before the metadata index: index every execution's metadata, once. */
static int meta_build(lmdb_store *st, MDB_txn *txn)
{
    lmdb_txn t = {.base = {&st->base}, .st = st, .txn = txn, .write = true};
    sink out = {&t, NULL};
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->db[DB_EXEC], &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        exec_record rec;
        if (record_decode(st, &key, &val, &rec) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (meta_index(&out, &rec, false) != 0) {
            rc = EIO; /* store_open reports it with the store's name */
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_open(store **out, const char *dir, uint64_t map_size, char *err, size_t errlen)
{
    lmdb_store *st = calloc(1, sizeof *st);
    MDB_txn *txn = NULL;
    bool defaulted = map_size == 0;
    int rc;

    if (!st)
        return TARRY_ENOMEM;
    st->base.ops = &store_lmdb_ops;
    st->ids.dir_fd = st->ids.notify_fd = -1;
    if (errlen)
        err[0] = '\0';
    if (!map_size)
        map_size = STORE_DEFAULT_MAP_SIZE;
    if (map_size < STORE_MIN_MAP_SIZE || map_size > SIZE_MAX) {
        snprintf(err, errlen, "map size %llu bytes is out of range (at least %llu)",
                 (unsigned long long)map_size, (unsigned long long)STORE_MIN_MAP_SIZE);
        free(st);
        return TARRY_EINVAL;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data folder %s: %s", dir, strerror(errno));
        free(st);
        return TARRY_EIO;
    }
    st->epoch = atomic_fetch_add(&store_epochs, 1) + 1;
    if (!(st->dir = strdup(dir))) {
        free(st);
        return TARRY_ENOMEM;
    }
    st->base.where = st->dir;
    pthread_mutex_init(&st->cached_lock, NULL);
    if ((rc = lock_folder(st, dir, err, errlen)) != 0) {
        free(st->dir);
        free(st);
        return rc;
    }
    {
        bool data_exists;
        if ((rc = store_folder_admit(dir, &data_exists, err, errlen)) != 0) {
            close(st->lock_fd);
            free(st->dir);
            free(st);
            return rc;
        }
    }
    /*
     * Readers: the loop thread and every worker (journals are read there).
     * The map is set once, here, and never resized: LMDB forbids a resize
     * while any transaction is open in any thread, and workers read
     * journals at any time. On 64-bit the map is only address space: the
     * file grows with what is written, so a map far larger than the store
     * will ever be costs nothing. MDB_MAP_FULL then means the store really
     * reached it (TARRY_EFULL, like a full disk).
     */
    for (;;) {
        if ((rc = mdb_env_create(&st->env)) != 0 || (rc = mdb_env_set_maxdbs(st->env, 32)) != 0 ||
            (rc = mdb_env_set_maxreaders(st->env, 2048)) != 0 ||
            (rc = mdb_env_set_mapsize(st->env, (size_t)map_size)) != 0)
            goto fail;
        /* MDB_NOTLS: a read transaction is not bound to a thread slot, so a
         * read and a write transaction may be open on the loop thread at once. */
        if ((rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0644)) == 0)
            break;
        /* The default does not fit this process's address space (an
         * address-space limit, a sanitizer's fixed layout): take the
         * largest power of two below it that does. A size the user asked
         * for is theirs to change. */
        if (rc != ENOMEM || !defaulted || map_size <= STORE_FALLBACK_MIN_MAP_SIZE)
            goto fail;
        mdb_env_close(st->env);
        st->env = NULL;
        map_size /= 2;
    }
    if (defaulted && map_size < STORE_DEFAULT_MAP_SIZE)
        snprintf(err, errlen,
                 "the default %llu GiB map does not fit this process's address space; using %llu GiB",
                 (unsigned long long)(STORE_DEFAULT_MAP_SIZE >> 30), (unsigned long long)(map_size >> 30));
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        goto fail;
    for (int i = 0; i < DB_COUNT; i++) {
        /* An index a store from before it lacks is built once, from the records (DB_EXEC is
         * opened first). A new store builds it from nothing, at no cost. */
        bool derived = i == DB_PINS || i == DB_BY_META, build = false;
        if (derived && (rc = mdb_dbi_open(txn, db_names[i], 0, &st->db[i])) == MDB_NOTFOUND)
            build = true;
        else if (derived && rc != 0)
            goto fail;
        if (!derived || build)
            if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &st->db[i])) != 0)
                goto fail;
        if (build && (rc = i == DB_PINS ? pins_build(st, txn) : meta_build(st, txn)) != 0)
            goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto fail;
    }
    {
        int data_fd;
        if ((rc = mdb_env_get_fd(st->env, &data_fd)) != 0)
            goto fail;
        if (store_folder_remember(dir, data_fd, st->lock_fd, &st->ids) != 0 || store_folder_mark(dir) != 0) {
            rc = errno ? errno : EIO;
            goto fail;
        }
    }
    *out = &st->base;
    return 0;
fail:
    snprintf(err, errlen, "cannot open the LMDB store in %s: %s", dir, mdb_strerror(rc));
    if (txn)
        mdb_txn_abort(txn);
    if (st->env)
        mdb_env_close(st->env);
    store_folder_forget(&st->ids);
    close(st->lock_fd);
    free(st->dir);
    free(st);
    return TARRY_EIO;
}

void lmdb_close(store *base)
{
    lmdb_store *st = (lmdb_store *)base;
    if (!st)
        return;
    /* Every cached read transaction, whichever thread keeps it (threads
     * that read have stopped by now); their caches see the epoch change. */
    while (st->cached) {
        lmdb_txn *t = st->cached;
        st->cached = t->next_cached;
        mdb_txn_abort(t->txn);
        free(t);
    }
    if (txn_cache.epoch == st->epoch)
        txn_cache.epoch = 0, txn_cache.count = 0;
    pthread_mutex_destroy(&st->cached_lock);
    mdb_env_close(st->env);
    store_folder_forget(&st->ids);
    close(st->lock_fd);
    free(st->dir);
    free(st);
}

int lmdb_txn_begin(store *base, bool write, store_txn **out)
{
    lmdb_store *st = (lmdb_store *)base;
    lmdb_txn *t;
    int rc;

    if (!write && txn_cache.epoch == st->epoch && txn_cache.count > 0) {
        t = txn_cache.idle[--txn_cache.count];
        if ((rc = mdb_txn_renew(t->txn)) != 0) {
            txn_cache.idle[txn_cache.count++] = t; /* still reset; try again later */
            return lmdb_fail(st, rc, "beginning a transaction");
        }
        t->idle = false;
        *out = &t->base;
        return 0;
    }
    if (!(t = calloc(1, sizeof *t)))
        return TARRY_ENOMEM;
    t->base.st = &st->base;
    t->st = st;
    t->write = write;
    if ((rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &t->txn)) != 0) {
        free(t);
        return lmdb_fail(st, rc, "beginning a transaction");
    }
    *out = &t->base;
    return 0;
}

int lmdb_txn_commit(store_txn *txn)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    int rc = mdb_txn_commit(t->txn);
    lmdb_store *st = t->st;
    free(t);
    return rc ? lmdb_fail(st, rc, "committing") : 0;
}

void lmdb_txn_abort(store_txn *txn)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    lmdb_store *st;

    if (!t)
        return;
    st = t->st;
    if (!t->write) {
        if (txn_cache.epoch != st->epoch) {
            txn_cache.epoch = st->epoch; /* a thread reads one store at a time in practice */
            txn_cache.count = 0;
        }
        if (txn_cache.count < TXN_CACHE) {
            /* Keep it: reset releases the snapshot but keeps the reader slot. */
            mdb_txn_reset(t->txn);
            t->idle = true;
            if (!t->registered) {
                pthread_mutex_lock(&st->cached_lock);
                t->next_cached = st->cached;
                st->cached = t;
                t->registered = true;
                pthread_mutex_unlock(&st->cached_lock);
            }
            txn_cache.idle[txn_cache.count++] = t;
            return;
        }
        if (t->registered) {
            /* A cache is full (rare: more than TXN_CACHE nested reads): forget it. */
            pthread_mutex_lock(&st->cached_lock);
            for (lmdb_txn **p = &st->cached; *p; p = &(*p)->next_cached)
                if (*p == t) {
                    *p = t->next_cached;
                    break;
                }
            pthread_mutex_unlock(&st->cached_lock);
        }
    }
    mdb_txn_abort(t->txn);
    free(t);
}

/* ---- write sinks ------------------------------------------------------------ */

int lmdb_batch_append(lmdb_batch *b, int kind, int db, const void *k, size_t klen, size_t vlen, void **value)
{
    size_t need = (sizeof(struct op_head) + klen + vlen + 7) & ~(size_t)7;
    struct op_head head = {(uint8_t)kind, (uint8_t)db, (uint16_t)klen, (uint32_t)vlen};

    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *grown;
        while (cap < b->len + need)
            cap *= 2;
        if (!(grown = realloc(b->buf, cap)))
            return TARRY_ENOMEM;
        b->buf = grown;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, &head, sizeof head);
    memcpy(b->buf + b->len + sizeof head, k, klen);
    if (value)
        *value = b->buf + b->len + sizeof head + klen;
    b->len += need;
    return 0;
}

/* Room for a `vlen`-byte value under key k; the caller fills *value. */
int lmdb_sink_reserve(sink *s, int db, const void *k, size_t klen, size_t vlen, void **value)
{
    if (s->batch)
        return lmdb_batch_append(s->batch, OP_PUT, db, k, klen, vlen, value);
    MDB_val key = {klen, (void *)k}, val = {vlen, NULL};
    int rc = mdb_put(s->txn->txn, s->txn->st->db[db], &key, &val, MDB_RESERVE);
    if (rc)
        return lmdb_fail(s->txn->st, rc, "writing");
    *value = val.mv_data;
    return 0;
}

int lmdb_sink_put_empty(sink *s, int db, const void *k, size_t klen)
{
    void *unused;
    return lmdb_sink_reserve(s, db, k, klen, 0, &unused);
}

int lmdb_sink_del(sink *s, int db, const void *k, size_t klen)
{
    if (s->batch)
        return lmdb_batch_append(s->batch, OP_DEL, db, k, klen, 0, NULL);
    MDB_val key = {klen, (void *)k};
    int rc = mdb_del(s->txn->txn, s->txn->st->db[db], &key, NULL);
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(s->txn->st, rc, "deleting") : 0;
}

store_batch *lmdb_batch_new(store *st)
{
    lmdb_batch *b = calloc(1, sizeof *b);

    if (!b)
        return NULL;
    b->base.ops = st->ops;
    return &b->base;
}

void lmdb_batch_free(store_batch *batch)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    if (b)
        free(b->buf);
    free(b);
}

void lmdb_batch_reset(store_batch *batch)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    b->len = 0;
}

bool lmdb_batch_empty(const store_batch *batch)
{
    const lmdb_batch *b = (const lmdb_batch *)batch;
    return b->len == 0;
}

/* Whether LMDB refuses every write transaction from now on (MDB_FATAL_ERROR: a failed meta page write). */
static bool env_broken(lmdb_store *st)
{
    MDB_txn *probe;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &probe);
    if (rc == 0)
        mdb_txn_abort(probe);
    return rc == MDB_PANIC;
}

/* Whether the data folder's file system has less room than a batch of `len` bytes could need. */
static bool disk_nearly_full(lmdb_store *st, size_t len)
{
    struct statvfs fs;
    if (statvfs(st->dir, &fs) != 0)
        return false;
    return (uint64_t)fs.f_bavail * fs.f_frsize < (uint64_t)len * 2 + (1u << 20);
}

int lmdb_batch_commit(store *base, store_batch *batch)
{
    lmdb_store *st = (lmdb_store *)base;
    lmdb_batch *b = (lmdb_batch *)batch;
    MDB_txn *txn;
    size_t at = 0;
    char why[512];
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(st, rc, "beginning a write transaction");
    while (at < b->len) {
        struct op_head head;
        memcpy(&head, b->buf + at, sizeof head);
        MDB_val key = {head.klen, b->buf + at + sizeof head};
        MDB_val val = {head.vlen, b->buf + at + sizeof head + head.klen};
        if (head.kind == OP_PURGE) {
            /* Its own error text and code (store_lmdb_retention.c); nothing of the batch is written. */
            int trc = lmdb_retention_purge_op(st, txn, &key, &val);
            if (trc != 0) {
                mdb_txn_abort(txn);
                return trc;
            }
        } else if (head.kind == OP_PUT)
            rc = mdb_put(txn, st->db[head.db], &key, &val, 0);
        else if ((rc = mdb_del(txn, st->db[head.db], &key, NULL)) == MDB_NOTFOUND)
            rc = 0;
        if (rc)
            break;
        at += (sizeof head + head.klen + head.vlen + 7) & ~(size_t)7;
    }
    if (rc) {
        mdb_txn_abort(txn);
    } else if ((rc = mdb_txn_commit(txn)) != 0 && env_broken(st)) {
        /* The commit failed writing its meta page, the last step: LMDB
         * cannot tell whether the new meta page reached the disk, so this
         * batch may be in the store (and would be found by the next open).
         * Its callers must hear "unknown", not "not accepted". */
        char broken[900];
        lmdb_fail(st, rc, "committing a batch");
        snprintf(broken, sizeof broken,
                 "%s; the store cannot write any more, and whether this batch was written is unknown",
                 store_last_error(base));
        store_set_error(broken);
        return TARRY_EBROKEN;
    }
    if (rc == EIO && disk_nearly_full(st, b->len)) {
        /* LMDB says EIO for a write that came up short ("filesystem full?"
         * in its source): on a disk without room for this batch, that is a
         * full disk, which refuses new work rather than failing it. */
        return lmdb_fail(st, ENOSPC, "committing a batch (a write came up short)");
    }
    if (rc)
        return lmdb_fail(st, rc, "committing a batch");
    /* Committed, but into the store that opened: if the folder is gone,
     * nobody will ever read it, and nothing may be acknowledged. (A folder
     * replaced under its name is found within a second: store_check_folder.) */
    if (store_folder_check_open(&st->ids, why, sizeof why) != 0) {
        store_set_error(why);
        return TARRY_ELOST;
    }
    return 0;
}

int lmdb_check_folder(store *base)
{
    lmdb_store *st = (lmdb_store *)base;
    char why[512];
    if (store_folder_check(st->dir, &st->ids, why, sizeof why) == 0)
        return 0;
    store_set_error(why);
    return TARRY_ELOST;
}

void lmdb_mark_lost(store *base)
{
    lmdb_store *st = (lmdb_store *)base;
    const char *why = store_last_error(base);

    /* This thread's last failure says how the store was lost, if it failed at all. */
    store_folder_mark_lost(st->dir, strcmp(why, "no error") != 0 ? why : "the store was lost");
}

/* ---- string lists -------------------------------------------------------------
 * Records and journal entries end with n strings, each a u32 length
 * (STR_ABSENT for NULL), its bytes and a NUL, so decoded strings point
 * straight into the map. */

size_t lmdb_strings_size(const char *const *strs, size_t *len, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        len[i] = strs[i] ? strlen(strs[i]) : 0;
        total += 4 + (strs[i] ? len[i] + 1 : 0);
    }
    return total;
}

void lmdb_strings_put(char *p, const char *const *strs, const size_t *len, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t size = strs[i] ? (uint32_t)len[i] : STR_ABSENT;
        memcpy(p, &size, 4);
        p += 4;
        if (strs[i]) {
            memcpy(p, strs[i], len[i] + 1);
            p += len[i] + 1;
        }
    }
}

/* 0, or -1 when the bytes in [p, end) are not n well-formed strings. */
int lmdb_strings_get(const char *p, const char *end, const char **strs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t size;
        if (end - p < 4)
            return -1;
        memcpy(&size, p, 4);
        p += 4;
        if (size == STR_ABSENT) {
            strs[i] = NULL;
            continue;
        }
        if ((size_t)(end - p) < (size_t)size + 1 || p[size] != '\0')
            return -1;
        strs[i] = p;
        p += size + 1;
    }
    return 0;
}

/* ---- record encoding ------------------------------------------------------
 * Fixed header, then the strings. Native byte order: an LMDB file is not
 * portable across architectures anyway. Format 4 appended the log counters
 * to format 3's header; a format-3 record reads with them at zero, which is
 * right: format 3 stored log lines only for final executions. Format 5
 * appended execution control (retries, discard, re-runs, cancel) to the
 * header and the idempotency key to the strings; older records read with
 * them zero and NULL: none of them existed. */

struct record_head_v3 {
    uint8_t format, state, detached, resume;
    uint32_t attempts, crashes;
    int64_t created_at, scheduled_at, started_at, finished_at, wake_at;
    uint8_t parent_id[16];
    uint32_t parent_seq, wake_seq;
};

struct record_head {
    struct record_head_v3 v3;
    uint32_t log_count, log_mark_pos, log_mark_count;
    /* Was `reserved` (always written 0), so older format-4 records read as neither: bit 31 is
     * RECORD_F_SUSPECT, bits 0-30 the lines dropped past the log limit (saturated). */
    uint32_t flags_dropped;
};

#define RECORD_F_SUSPECT 0x80000000u   /* exec_record.suspect */
#define RECORD_DROPPED_MAX 0x7fffffffu /* exec_record.log_dropped, saturated */

struct record_head_v5 {
    struct record_head v4;
    int64_t next_attempt_at, discard_at;
    uint8_t rerun_of[16];
    uint32_t flags5; /* RECORD_F5_* */
    uint32_t timeouts;
};

#define RECORD_F5_CANCEL_REQUESTED 0x1u

#define RECORD_STRINGS_V4 8
#define RECORD_STRINGS 9

static void record_strings(const exec_record *r, const char *s[RECORD_STRINGS])
{
    s[0] = r->function;
    s[1] = r->args;
    s[2] = r->metadata;
    s[3] = r->result;
    s[4] = r->error;
    s[5] = r->plugin_name;
    s[6] = r->plugin_version;
    s[7] = r->plugin_hash;
    s[8] = r->idempotency_key;
}

static int record_encode(sink *out, const exec_record *r)
{
    const char *s[RECORD_STRINGS];
    size_t len[RECORD_STRINGS], total = sizeof(struct record_head_v5);
    struct record_head_v5 head5;
    struct record_head head;
    void *value;
    int rc;

    record_strings(r, s);
    total += lmdb_strings_size(s, len, RECORD_STRINGS);
    /* Encode straight into the page (or the batch): no intermediate copy. */
    if ((rc = lmdb_sink_reserve(out, DB_EXEC, r->id.bytes, 16, total, &value)) != 0)
        return rc;
    memset(&head, 0, sizeof head);
    head.v3.format = RECORD_FORMAT;
    head.v3.state = (uint8_t)r->state;
    head.v3.detached = r->detached;
    head.v3.resume = r->resume;
    head.v3.attempts = r->attempts;
    head.v3.crashes = r->crashes;
    head.v3.created_at = r->created_at;
    head.v3.scheduled_at = r->scheduled_at;
    head.v3.started_at = r->started_at;
    head.v3.finished_at = r->finished_at;
    head.v3.wake_at = r->wake_at;
    head.v3.parent_seq = r->parent_seq;
    head.v3.wake_seq = r->wake_seq;
    memcpy(head.v3.parent_id, r->parent_id.bytes, 16);
    head.log_count = r->log_count;
    head.log_mark_pos = r->log_mark_pos;
    head.log_mark_count = r->log_mark_count;
    head.flags_dropped = (r->suspect ? RECORD_F_SUSPECT : 0) |
                         (r->log_dropped < RECORD_DROPPED_MAX ? r->log_dropped : RECORD_DROPPED_MAX);
    memset(&head5, 0, sizeof head5);
    head5.v4 = head;
    head5.next_attempt_at = r->next_attempt_at;
    head5.discard_at = r->discard_at;
    memcpy(head5.rerun_of, r->rerun_of.bytes, 16);
    head5.flags5 = r->cancel_requested ? RECORD_F5_CANCEL_REQUESTED : 0;
    head5.timeouts = r->timeouts;
    memcpy(value, &head5, sizeof head5);
    lmdb_strings_put((char *)value + sizeof head5, s, len, RECORD_STRINGS);
    return 0;
}

static int record_decode(lmdb_store *st, const MDB_val *key, const MDB_val *val, exec_record *r)
{
    struct record_head_v5 head5;
    struct record_head head;
    const char *s[RECORD_STRINGS] = {NULL};
    const char *p = val->mv_data, *end = p + val->mv_size;
    size_t head_size, nstrings = RECORD_STRINGS_V4;

    (void)st;
    memset(&head5, 0, sizeof head5);
    memset(&head, 0, sizeof head);
    if (key->mv_size != 16 || val->mv_size < sizeof head.v3)
        goto corrupt;
    memcpy(&head.v3, p, sizeof head.v3);
    if (head.v3.format == RECORD_FORMAT) {
        head_size = sizeof head5;
        nstrings = RECORD_STRINGS;
    } else if (head.v3.format == RECORD_FORMAT_V4)
        head_size = sizeof head;
    else if (head.v3.format == RECORD_FORMAT_V3)
        head_size = sizeof head.v3;
    else
        goto corrupt;
    if (val->mv_size < head_size || lmdb_strings_get(p + head_size, end, s, nstrings) != 0)
        goto corrupt;
    if (head_size == sizeof head5) {
        memcpy(&head5, p, sizeof head5);
        head = head5.v4;
    } else if (head_size == sizeof head)
        memcpy(&head, p, sizeof head);
    memset(r, 0, sizeof *r);
    r->next_attempt_at = head5.next_attempt_at;
    r->discard_at = head5.discard_at;
    memcpy(r->rerun_of.bytes, head5.rerun_of, 16);
    r->cancel_requested = (head5.flags5 & RECORD_F5_CANCEL_REQUESTED) != 0;
    r->timeouts = head5.timeouts;
    r->idempotency_key = s[8];
    memcpy(r->id.bytes, key->mv_data, 16);
    memcpy(r->parent_id.bytes, head.v3.parent_id, 16);
    r->state = (exec_state)head.v3.state;
    r->detached = head.v3.detached != 0;
    r->resume = head.v3.resume != 0;
    r->attempts = head.v3.attempts;
    r->crashes = head.v3.crashes;
    r->created_at = head.v3.created_at;
    r->scheduled_at = head.v3.scheduled_at;
    r->started_at = head.v3.started_at;
    r->finished_at = head.v3.finished_at;
    r->wake_at = head.v3.wake_at;
    r->parent_seq = head.v3.parent_seq;
    r->wake_seq = head.v3.wake_seq;
    r->log_count = head.log_count;
    r->log_mark_pos = head.log_mark_pos;
    r->log_mark_count = head.log_mark_count;
    r->suspect = (head.flags_dropped & RECORD_F_SUSPECT) != 0;
    r->log_dropped = head.flags_dropped & RECORD_DROPPED_MAX;
    r->function = s[0];
    r->args = s[1];
    r->metadata = s[2];
    r->result = s[3];
    r->error = s[4];
    r->plugin_name = s[5];
    r->plugin_version = s[6];
    r->plugin_hash = s[7];
    return 0;
corrupt:
    store_set_error("corrupt execution record");
    return TARRY_EIO;
}

/* ---- index keys ---------------------------------------------------------- */

static size_t key_state(uint8_t *k, exec_state state, const exec_id *id)
{
    k[0] = (uint8_t)state;
    memcpy(k + 1, id->bytes, 16);
    return 17;
}

static size_t key_fn(uint8_t *k, const char *fn, const exec_id *id)
{
    size_t n = strlen(fn) + 1;
    memcpy(k, fn, n);
    memcpy(k + n, id->bytes, 16);
    return n + 16;
}

static size_t key_fn_state(uint8_t *k, const char *fn, exec_state state, const exec_id *id)
{
    size_t n = strlen(fn) + 1;
    memcpy(k, fn, n);
    k[n] = (uint8_t)state;
    memcpy(k + n + 1, id->bytes, 16);
    return n + 17;
}

static size_t key_timer(uint8_t *k, int64_t due, const exec_id *id)
{
    uint64_t u = (uint64_t)(due < 0 ? 0 : due);
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t)(u >> (56 - 8 * i));
    memcpy(k + 8, id->bytes, 16);
    return 24;
}

static int64_t timer_due(const uint8_t *k)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | k[i];
    return (int64_t)u;
}

/* When the execution's timer fires: a delayed start, or the end of a
 * durable sleep it waits in; 0 when it has no timer. An execution that has
 * not started its first attempt and has a discard_after is due by then at
 * the latest, also while it is queued behind busy workers, so the engine
 * discards it on time (engine_cancel.c). A started one (a retry waits as
 * scheduled) ignores its discard_at. */
static int64_t timer_at(const exec_record *r)
{
    bool discardable = r->discard_at && r->attempts == 0;

    if (r->state == EXEC_SCHEDULED)
        return discardable && r->discard_at < r->scheduled_at ? r->discard_at : r->scheduled_at;
    if (r->state == EXEC_QUEUED && discardable)
        return r->discard_at;
    if (r->state == EXEC_WAITING)
        return r->wake_at;
    return 0;
}

/* The version an unfinished execution is pinned to, or NULL (final, unbound). */
static const char *pinned_to(const exec_record *r)
{
    if (!r || exec_state_final(r->state) || !r->plugin_hash || strlen(r->plugin_hash) != PIN_HASH_LEN)
        return NULL;
    return r->plugin_hash;
}

static size_t key_pin(uint8_t *k, const char *hash, const exec_id *id)
{
    memcpy(k, hash, PIN_HASH_LEN);
    memcpy(k + PIN_HASH_LEN, id->bytes, 16);
    return PIN_HASH_LEN + 16;
}

static int pin_put(sink *out, const char *hash, const exec_id *id)
{
    uint8_t k[PIN_HASH_LEN + 16];
    return lmdb_sink_put_empty(out, DB_PINS, k, key_pin(k, hash, id));
}

/* `pins` holds (hash, id) exactly while an execution is unfinished and pinned to `hash`. */
static int pins_update(sink *out, const exec_record *rec, const exec_record *prev)
{
    const char *was = pinned_to(prev), *now = pinned_to(rec);
    uint8_t k[PIN_HASH_LEN + 16];
    int rc;

    if (was && now && memcmp(was, now, PIN_HASH_LEN) == 0)
        return 0;
    if (was && (rc = lmdb_sink_del(out, DB_PINS, k, key_pin(k, was, &rec->id))) != 0)
        return rc;
    return now ? pin_put(out, now, &rec->id) : 0;
}

/* ---- reruns ------------------------------------------------------------------
 * Key: original id(16) re-run id(16) -> "": an execution's re-runs are
 * adjacent, oldest first. Written with the re-run's first record. */

static int reruns_put(sink *out, const exec_record *rec)
{
    static const exec_id none;
    uint8_t k[32];

    if (memcmp(&rec->rerun_of, &none, sizeof none) == 0)
        return 0;
    memcpy(k, rec->rerun_of.bytes, 16);
    memcpy(k + 16, rec->id.bytes, 16);
    return lmdb_sink_put_empty(out, DB_RERUNS, k, sizeof k);
}

int lmdb_reruns_scan(store_txn *txn, const exec_id *id, store_id_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key = {16, (void *)id->bytes}, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_RERUNS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        exec_id rerun;
        if (key.mv_size != 32 || memcmp(key.mv_data, id->bytes, 16) != 0)
            break;
        memcpy(rerun.bytes, (const uint8_t *)key.mv_data + 16, 16);
        if ((out = cb(user, &rerun)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_fail(t->st, rc, "reading re-runs");
    return 0;
}

static int exec_put(sink *out, const exec_record *rec, const exec_record *prev)
{
    uint8_t k[MAX_INDEX_KEY];
    int rc;

    if (strlen(rec->function) > 128)
        return TARRY_EINVAL;
    if ((rc = record_encode(out, rec)) != 0)
        return rc;
    if (!prev && (rc = lmdb_sink_put_empty(out, DB_BY_FN, k, key_fn(k, rec->function, &rec->id))) != 0)
        return rc;
    if (!prev && (rc = meta_index(out, rec, false)) != 0)
        return rc;
    if (!prev && (rc = reruns_put(out, rec)) != 0)
        return rc;
    if ((rc = pins_update(out, rec, prev)) != 0)
        return rc;
    if (prev && prev->state == rec->state && timer_at(prev) == timer_at(rec))
        return 0;
    if (prev && prev->state != rec->state) {
        if ((rc = lmdb_sink_del(out, DB_BY_STATE, k, key_state(k, prev->state, &rec->id))) != 0 ||
            (rc = lmdb_sink_del(out, DB_BY_FN_STATE, k,
                                key_fn_state(k, rec->function, prev->state, &rec->id))) != 0)
            return rc;
    }
    if (!prev || prev->state != rec->state) {
        if ((rc = lmdb_sink_put_empty(out, DB_BY_STATE, k, key_state(k, rec->state, &rec->id))) != 0 ||
            (rc = lmdb_sink_put_empty(out, DB_BY_FN_STATE, k,
                                      key_fn_state(k, rec->function, rec->state, &rec->id))) != 0)
            return rc;
    }
    /* An execution with a timer is in `timers` at its due time, and nowhere else. */
    if (prev && timer_at(prev) &&
        (rc = lmdb_sink_del(out, DB_TIMERS, k, key_timer(k, timer_at(prev), &rec->id))) != 0)
        return rc;
    if (timer_at(rec) &&
        (rc = lmdb_sink_put_empty(out, DB_TIMERS, k, key_timer(k, timer_at(rec), &rec->id))) != 0)
        return rc;
    return 0;
}

int lmdb_exec_put(store_txn *txn, const exec_record *rec, const exec_record *prev)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    sink out = {t, NULL};
    return exec_put(&out, rec, prev);
}

int lmdb_batch_exec_put(store_batch *batch, const exec_record *rec, const exec_record *prev)
{
    lmdb_batch *b = (lmdb_batch *)batch;
    sink out = {NULL, b};
    return exec_put(&out, rec, prev);
}

/*
 * Everything exec_put derives from rec, out: its state, function and metadata rows,
 * its pin and timer (none once final, deleted all the same) and its row among its original's
 * re-runs, then the record itself. Its own re-runs, journal and the rest are store_lmdb_retention.c's.
 */
int lmdb_exec_unindex(sink *out, const exec_record *rec)
{
    uint8_t k[MAX_INDEX_KEY];
    const char *pin = pinned_to(rec);
    static const exec_id none;
    int rc;

    if (strlen(rec->function) > 128)
        return TARRY_EINVAL;
    if ((rc = lmdb_sink_del(out, DB_BY_FN, k, key_fn(k, rec->function, &rec->id))) != 0 ||
        (rc = lmdb_sink_del(out, DB_BY_STATE, k, key_state(k, rec->state, &rec->id))) != 0 ||
        (rc = lmdb_sink_del(out, DB_BY_FN_STATE, k, key_fn_state(k, rec->function, rec->state, &rec->id))) !=
            0 ||
        (rc = meta_index(out, rec, true)) != 0)
        return rc;
    if (pin && (rc = lmdb_sink_del(out, DB_PINS, k, key_pin(k, pin, &rec->id))) != 0)
        return rc;
    if (timer_at(rec) && (rc = lmdb_sink_del(out, DB_TIMERS, k, key_timer(k, timer_at(rec), &rec->id))) != 0)
        return rc;
    if (memcmp(&rec->rerun_of, &none, sizeof none) != 0) {
        memcpy(k, rec->rerun_of.bytes, 16);
        memcpy(k + 16, rec->id.bytes, 16);
        if ((rc = lmdb_sink_del(out, DB_RERUNS, k, 32)) != 0)
            return rc;
    }
    /* Last: rec's strings may point into the record's own page (a decoded record). */
    return lmdb_sink_del(out, DB_EXEC, rec->id.bytes, 16);
}

int lmdb_record_decode(const MDB_val *key, const MDB_val *val, exec_record *r)
{
    return record_decode(NULL, key, val, r);
}

int lmdb_exec_get(store_txn *txn, const exec_id *id, exec_record *out)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_val key = {16, (void *)id->bytes}, val;
    int rc = mdb_get(t->txn, t->st->db[DB_EXEC], &key, &val);
    if (rc)
        return lmdb_fail(t->st, rc, "reading an execution");
    return record_decode(t->st, &key, &val, out);
}

/* Fetch the record an index key ends with (the last 16 bytes) and hand it on. */
static int emit_indexed(lmdb_txn *t, const MDB_val *ikey, store_exec_cb cb, void *user)
{
    exec_record rec;
    exec_id id;
    int rc;

    memcpy(id.bytes, (const uint8_t *)ikey->mv_data + ikey->mv_size - 16, 16);
    if ((rc = lmdb_exec_get(&t->base, &id, &rec)) != 0)
        return rc == TARRY_ENOTFOUND ? TARRY_EIO : rc; /* an index must never dangle */
    return cb(user, &rec);
}

int lmdb_exec_ids_in_state(store_txn *txn, exec_state state, store_id_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    uint8_t prefix = (uint8_t)state;
    MDB_val key = {1, &prefix}, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_BY_STATE], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        exec_id id;
        if (key.mv_size != 17 || ((uint8_t *)key.mv_data)[0] != prefix)
            break;
        memcpy(id.bytes, (uint8_t *)key.mv_data + 1, 16);
        if ((out = cb(user, &id)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "scanning by state") : 0;
}

struct scan_records {
    store_txn *t;
    store_exec_cb cb;
    void *user;
};

static int record_of_id(void *user, const exec_id *id)
{
    struct scan_records *s = user;
    exec_record rec;
    int rc = lmdb_exec_get(s->t, id, &rec);
    if (rc != 0)
        return rc == TARRY_ENOTFOUND ? TARRY_EIO : rc; /* an index must never dangle */
    return s->cb(s->user, &rec);
}

int lmdb_exec_scan_state(store_txn *txn, exec_state state, store_exec_cb cb, void *user)
{
    struct scan_records s = {txn, cb, user};
    return lmdb_exec_ids_in_state(txn, state, record_of_id, &s);
}

int lmdb_pins_count(store_txn *txn, const char *hash, uint64_t max, uint64_t *count)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    uint8_t seek[PIN_HASH_LEN + 16];
    MDB_val key = {sizeof seek, seek}, val;
    int rc;

    *count = 0;
    if (strlen(hash) != PIN_HASH_LEN)
        return 0; /* no version has such a hash: nothing is pinned to it */
    memcpy(seek, hash, PIN_HASH_LEN);
    memset(seek + PIN_HASH_LEN, 0, 16);
    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_PINS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && *count < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != sizeof seek || memcmp(key.mv_data, hash, PIN_HASH_LEN) != 0)
            break;
        (*count)++;
    }
    mdb_cursor_close(cur);
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "counting pinned executions") : 0;
}

int lmdb_pinned_versions(store_txn *txn, store_hash_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    uint8_t seek[PIN_HASH_LEN + 16];
    MDB_val key, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_PINS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    while (rc == 0 && key.mv_size == sizeof seek) {
        char hash[PIN_HASH_LEN + 1];
        memcpy(hash, key.mv_data, PIN_HASH_LEN);
        hash[PIN_HASH_LEN] = '\0';
        if ((out = cb(user, hash)) != 0)
            break;
        /* One seek per version: past every id pinned to this one. */
        memcpy(seek, hash, PIN_HASH_LEN);
        memset(seek + PIN_HASH_LEN, 0xff, 16);
        key.mv_size = sizeof seek;
        key.mv_data = seek;
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && key.mv_size == sizeof seek && memcmp(key.mv_data, seek, sizeof seek) == 0)
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "reading pinned versions") : 0;
}

int lmdb_exec_list(store_txn *txn, const store_list_query *q, store_exec_cb cb, void *user, bool *more)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    uint8_t prefix[MAX_INDEX_KEY], seek[MAX_INDEX_KEY];
    size_t plen = 0, n = 0;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, out = 0;

    if (q->function && strlen(q->function) > 128) {
        *more = false;
        return 0;
    }
    if (q->function && q->state != EXEC_NONE) {
        dbi = t->st->db[DB_BY_FN_STATE];
        plen = strlen(q->function) + 1;
        memcpy(prefix, q->function, plen);
        prefix[plen++] = (uint8_t)q->state;
    } else if (q->function) {
        dbi = t->st->db[DB_BY_FN];
        plen = strlen(q->function) + 1;
        memcpy(prefix, q->function, plen);
    } else if (q->state != EXEC_NONE) {
        dbi = t->st->db[DB_BY_STATE];
        prefix[plen++] = (uint8_t)q->state;
    } else {
        dbi = t->st->db[DB_EXEC];
    }
    /* Newest first: seek to the first key at or after prefix+cursor, then
     * step back, so the cursor id itself is excluded. */
    memcpy(seek, prefix, plen);
    if (q->before)
        memcpy(seek + plen, q->before->bytes, 16);
    else
        memset(seek + plen, 0xff, 16);
    if ((rc = mdb_cursor_open(t->txn, dbi, &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    key.mv_size = plen + 16;
    key.mv_data = seek;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &key, &val, rc == 0 ? MDB_PREV : MDB_LAST);
    *more = false;
    for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_PREV)) {
        if (key.mv_size != plen + 16 || memcmp(key.mv_data, prefix, plen) != 0)
            break;
        if (n == q->limit) {
            *more = true;
            break;
        }
        n++;
        if (dbi == t->st->db[DB_EXEC]) {
            exec_record rec;
            if ((out = record_decode(t->st, &key, &val, &rec)) != 0 || (out = cb(user, &rec)) != 0)
                break;
        } else if ((out = emit_indexed(t, &key, cb, user)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "listing executions") : 0;
}

int lmdb_timer_first(store_txn *txn, int64_t *due_ms, exec_id *id)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_TIMERS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    if (rc == 0 && key.mv_size == 24) {
        *due_ms = timer_due(key.mv_data);
        memcpy(id->bytes, (uint8_t *)key.mv_data + 8, 16);
    }
    mdb_cursor_close(cur);
    return rc ? lmdb_fail(t->st, rc, "reading timers") : 0;
}

int lmdb_timer_each(store_txn *txn, store_timer_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_TIMERS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        exec_id id;
        if (key.mv_size != 24)
            continue;
        memcpy(id.bytes, (uint8_t *)key.mv_data + 8, 16);
        if ((out = cb(user, timer_due(key.mv_data), &id)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "scanning timers") : 0;
}

int lmdb_timer_scan_due(store_txn *txn, int64_t now_ms, store_exec_cb cb, void *user)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, out = 0;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[DB_TIMERS], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != 24 || timer_due(key.mv_data) > now_ms)
            break;
        if ((out = emit_indexed(t, &key, cb, user)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (out)
        return out;
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "scanning timers") : 0;
}

/* ---- the metadata index ----------------------------------------------------------
 *
 * by_meta: key NUL value NUL id -> "". LMDB keys hold at most 511 bytes, and
 * a pair may hold 256 characters each (up to 1 KiB of UTF-8 apiece), so the
 * key keeps at most META_KEY_ROOM bytes of the key and what then fits of the
 * value: a long pair shares its prefix with others that start alike, and
 * every lookup checks the pair on the record itself.
 */

#define META_KEY_ROOM 240
#define META_INDEX_MAX 511

static size_t meta_prefix(uint8_t *k, const char *mkey, const char *mval)
{
    size_t kl = strlen(mkey), vl = strlen(mval), room;

    if (kl > META_KEY_ROOM)
        kl = META_KEY_ROOM;
    room = META_INDEX_MAX - 16 - 2 - kl;
    if (vl > room)
        vl = room;
    memcpy(k, mkey, kl);
    k[kl] = '\0';
    memcpy(k + kl + 1, mval, vl);
    k[kl + 1 + vl] = '\0';
    return kl + vl + 2;
}

/* A new execution's pairs into by_meta (metadata never changes after creation); or, del, out. */
static int meta_index(sink *out, const exec_record *rec, bool del)
{
    uint8_t k[META_INDEX_MAX];
    cJSON *obj, *item;
    int rc = 0;

    if (!rec->metadata || !(obj = cJSON_Parse(rec->metadata)))
        return 0; /* absent; the API refuses anything but an object of strings */
    cJSON_ArrayForEach(item, obj)
    {
        size_t n;
        if (!cJSON_IsString(item) || !item->string)
            continue;
        n = meta_prefix(k, item->string, item->valuestring);
        memcpy(k + n, rec->id.bytes, 16);
        if ((rc = del ? lmdb_sink_del(out, DB_BY_META, k, n + 16)
                      : lmdb_sink_put_empty(out, DB_BY_META, k, n + 16)) != 0)
            break;
    }
    cJSON_Delete(obj);
    return rc;
}

/* ---- filtered listing ------------------------------------------------------------- */

/* One index range walked newest first: keys prefix + id. */
typedef struct list_source {
    MDB_cursor *cur;
    bool exec; /* walks `exec` itself: the value is the record */
    bool live; /* positioned on a key inside its prefix */
    size_t plen;
    uint8_t prefix[META_INDEX_MAX];
    MDB_val key, val;
} list_source;

static void source_check(list_source *s, int rc)
{
    s->live = rc == 0 && s->key.mv_size == s->plen + 16 && memcmp(s->key.mv_data, s->prefix, s->plen) == 0;
}

/* Position s on its newest key below prefix + upper. */
static int source_open(lmdb_txn *t, int db, list_source *s, const uint8_t upper[16])
{
    uint8_t seek[META_INDEX_MAX + 16];
    int rc;

    if ((rc = mdb_cursor_open(t->txn, t->st->db[db], &s->cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    s->exec = db == DB_EXEC;
    memcpy(seek, s->prefix, s->plen);
    memcpy(seek + s->plen, upper, 16);
    s->key.mv_size = s->plen + 16;
    s->key.mv_data = seek;
    rc = mdb_cursor_get(s->cur, &s->key, &s->val, MDB_SET_RANGE);
    rc = mdb_cursor_get(s->cur, &s->key, &s->val, rc == 0 ? MDB_PREV : MDB_LAST);
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_fail(t->st, rc, "listing executions");
    source_check(s, rc);
    return 0;
}

static const uint8_t *source_id(const list_source *s)
{
    return (const uint8_t *)s->key.mv_data + s->plen;
}

/*
 * The sources a query walks: one metadata pair's range; or one range per
 * function (and state); or per state; or `exec` itself. The rest of the
 * query is checked on each record.
 */
static int query_sources(const store_query *q, list_source **out, size_t *count, int *db)
{
    size_t fns = q->function_count, states = 0, n, at = 0;
    uint8_t state_list[EXEC_STATE_COUNT];
    list_source *s;

    for (int st = 1; st < EXEC_STATE_COUNT; st++)
        if (q->states & (1u << st))
            state_list[states++] = (uint8_t)st;
    if (q->meta_count)
        n = 1, *db = DB_BY_META;
    else if (fns && states && fns * states <= STORE_QUERY_MAX_SOURCES)
        n = fns * states, *db = DB_BY_FN_STATE;
    else if (fns)
        n = fns, *db = DB_BY_FN;
    else if (states)
        n = states, *db = DB_BY_STATE;
    else
        n = 1, *db = DB_EXEC;
    if (!(s = calloc(n, sizeof *s)))
        return TARRY_ENOMEM;
    if (*db == DB_BY_META) {
        s[0].plen = meta_prefix(s[0].prefix, q->meta_keys[0], q->meta_values[0]);
    } else if (*db == DB_BY_FN_STATE || *db == DB_BY_FN) {
        for (size_t f = 0; f < fns; f++)
            for (size_t i = 0; i < (*db == DB_BY_FN ? 1 : states); i++, at++) {
                size_t len = strlen(q->functions[f]) + 1;
                memcpy(s[at].prefix, q->functions[f], len);
                if (*db == DB_BY_FN_STATE)
                    s[at].prefix[len++] = state_list[i];
                s[at].plen = len;
            }
    } else if (*db == DB_BY_STATE) {
        for (size_t i = 0; i < states; i++) {
            s[i].prefix[0] = state_list[i];
            s[i].plen = 1;
        }
    }
    *out = s;
    *count = n;
    return 0;
}

int lmdb_exec_query(store_txn *txn, const store_query *q, store_exec_cb cb, void *user, bool *more,
                    exec_id *next)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    list_source *src = NULL;
    size_t count = 0, emitted = 0, examined = 0;
    uint8_t upper[16];
    exec_id last = {{0}};
    int db, rc = 0;

    *more = false;
    for (size_t i = 0; i < q->function_count; i++)
        if (strlen(q->functions[i]) > 128)
            return 0; /* no function has such a name */
    /* The newest id to consider: below the cursor, and below created_to (ids start with their time). */
    memset(upper, 0xff, sizeof upper);
    if (q->before)
        memcpy(upper, q->before->bytes, 16);
    if (q->created_to > 0) {
        uint8_t to[16] = {0};
        for (int i = 0; i < 6; i++)
            to[i] = (uint8_t)((uint64_t)q->created_to >> (40 - 8 * i));
        if (memcmp(to, upper, 16) < 0)
            memcpy(upper, to, 16);
    }
    if ((rc = query_sources(q, &src, &count, &db)) != 0)
        return rc;
    for (size_t i = 0; i < count; i++)
        if ((rc = source_open(t, db, &src[i], upper)) != 0)
            goto done;
    for (;;) {
        list_source *best = NULL;
        exec_record rec;
        exec_id id;

        for (size_t i = 0; i < count; i++)
            if (src[i].live && (!best || memcmp(source_id(&src[i]), source_id(best), 16) > 0))
                best = &src[i];
        if (!best)
            break;
        memcpy(id.bytes, source_id(best), 16);
        if (q->created_from && id_time_ms(&id) < q->created_from)
            break;
        if (q->examine_max && examined == q->examine_max) {
            /* Out of budget: the caller goes on from the last one looked at. */
            *more = true;
            *next = last;
            break;
        }
        examined++;
        if (best->exec)
            rc = record_decode(t->st, &best->key, &best->val, &rec);
        else if ((rc = lmdb_exec_get(&t->base, &id, &rec)) == TARRY_ENOTFOUND)
            rc = TARRY_EIO; /* an index must never dangle */
        if (rc != 0)
            goto done;
        if (store_query_matches(q, &rec)) {
            if (emitted == q->limit) {
                *more = true;
                break; /* *next is the last one emitted */
            }
            if ((rc = cb(user, &rec)) != 0)
                goto done;
            emitted++;
            *next = rec.id;
        }
        last = id;
        int r = mdb_cursor_get(best->cur, &best->key, &best->val, MDB_PREV);
        if (r && r != MDB_NOTFOUND) {
            rc = lmdb_fail(t->st, r, "listing executions");
            goto done;
        }
        source_check(best, r);
    }
done:
    for (size_t i = 0; i < count; i++)
        if (src[i].cur)
            mdb_cursor_close(src[i].cur);
    free(src);
    return rc;
}

int lmdb_exec_count(store_txn *txn, const char *function, exec_state state, uint64_t max, uint64_t *count)
{
    lmdb_txn *t = (lmdb_txn *)txn;
    uint8_t prefix[MAX_INDEX_KEY];
    size_t plen = 0;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, db;

    *count = 0;
    if (function) {
        if ((plen = strlen(function) + 1) > 129)
            return 0;
        memcpy(prefix, function, plen);
        db = DB_BY_FN_STATE;
    } else {
        db = DB_BY_STATE;
    }
    prefix[plen++] = (uint8_t)state;
    if ((rc = mdb_cursor_open(t->txn, t->st->db[db], &cur)) != 0)
        return lmdb_fail(t->st, rc, "opening a cursor");
    key.mv_size = plen;
    key.mv_data = prefix;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && *count < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != plen + 16 || memcmp(key.mv_data, prefix, plen) != 0)
            break;
        (*count)++;
    }
    mdb_cursor_close(cur);
    return (rc && rc != MDB_NOTFOUND) ? lmdb_fail(t->st, rc, "counting executions") : 0;
}

/* ---- plugin versions' bytes ---------------------------------------------------------------- */

/* Nothing is kept here: an LMDB store has one host, whose data folder's plugins/ already holds
 * every version it loaded (plugins.h), so a second copy in the map would only cost its size. */
static int lmdb_plugin_put(store *st, const char *hash, const char *name, const char *version,
                           const void *bytes, size_t len)
{
    (void)st, (void)hash, (void)name, (void)version, (void)bytes, (void)len;
    return 0;
}

static int lmdb_plugin_get(store *st, const char *hash, void **bytes, size_t *len)
{
    (void)st, (void)hash;
    *bytes = NULL;
    *len = 0;
    store_set_error("the LMDB store keeps no plugin versions: the data folder's plugins/ holds them");
    return TARRY_ENOTFOUND;
}

/* ---- the ops table: the only way into this implementation (store_impl.h) ---------------- */

const struct store_ops store_lmdb_ops = {
    .kind = "lmdb",
    .close = lmdb_close,
    .check_folder = lmdb_check_folder,
    .mark_lost = lmdb_mark_lost,
    .txn_begin = lmdb_txn_begin,
    .txn_commit = lmdb_txn_commit,
    .txn_abort = lmdb_txn_abort,
    .exec_put = lmdb_exec_put,
    .exec_get = lmdb_exec_get,
    .batch_new = lmdb_batch_new,
    .batch_free = lmdb_batch_free,
    .batch_reset = lmdb_batch_reset,
    .batch_empty = lmdb_batch_empty,
    .batch_exec_put = lmdb_batch_exec_put,
    .batch_commit = lmdb_batch_commit,
    .exec_scan_state = lmdb_exec_scan_state,
    .pinned_versions = lmdb_pinned_versions,
    .pins_count = lmdb_pins_count,
    .exec_ids_in_state = lmdb_exec_ids_in_state,
    .exec_list = lmdb_exec_list,
    .timer_first = lmdb_timer_first,
    .timer_each = lmdb_timer_each,
    .timer_scan_due = lmdb_timer_scan_due,
    .log_put = lmdb_log_put,
    .batch_log_put = lmdb_batch_log_put,
    .log_scan = lmdb_log_scan,
    .log_scan_from = lmdb_log_scan_from,
    .reruns_scan = lmdb_reruns_scan,
    .batch_caller_put = lmdb_batch_caller_put,
    .caller_put = lmdb_caller_put,
    .batch_caller_del = lmdb_batch_caller_del,
    .callers_scan = lmdb_callers_scan,
    .fn_crashes_put = lmdb_fn_crashes_put,
    .batch_fn_crashes_put = lmdb_batch_fn_crashes_put,
    .fn_crashes_scan = lmdb_fn_crashes_scan,
    .batch_cron_put = lmdb_batch_cron_put,
    .cron_put = lmdb_cron_put,
    .cron_scan = lmdb_cron_scan,
    .attempt_put = lmdb_attempt_put,
    .batch_attempt_put = lmdb_batch_attempt_put,
    .attempt_scan = lmdb_attempt_scan,
    .journal_put = lmdb_journal_put,
    .batch_journal_put = lmdb_batch_journal_put,
    .batch_journal_del = lmdb_batch_journal_del,
    .journal_get = lmdb_journal_get,
    .journal_scan = lmdb_journal_scan,
    .idem_get = lmdb_idem_get,
    .batch_idem_put = lmdb_batch_idem_put,
    .idem_expired = lmdb_idem_expired,
    .batch_idem_del_raw = lmdb_batch_idem_del_raw,
    .exec_query = lmdb_exec_query,
    .exec_count = lmdb_exec_count,
    .usage_read = lmdb_usage_read,
    .batch_retention_put = lmdb_batch_retention_put,
    .retention_first = lmdb_retention_first,
    .retention_due = lmdb_retention_due,
    .batch_exec_purge = lmdb_batch_exec_purge,
    .retention_info_get = lmdb_retention_info_get,
    .retention_build = lmdb_retention_build,
    .batch_notify_put = lmdb_batch_notify_put,
    .notify_scan = lmdb_notify_scan,
    .outbox_scan = lmdb_outbox_scan,
    .outbox_count = lmdb_outbox_count,
    .host_join = lmdb_host_join,
    .claim = lmdb_claim,
    .batch_announce = lmdb_batch_announce,
    .batch_host_plugins = lmdb_batch_host_plugins,
    .batch_release = lmdb_batch_release,
    .free_queued_count = lmdb_free_queued_count,
    .live_hosts = lmdb_live_hosts,
    .hosts_scan = lmdb_hosts_scan,
    .exec_holder = lmdb_exec_holder,
    .batch_cancel_request = lmdb_batch_cancel_request,
    .cancel_requests_scan = lmdb_cancel_requests_scan,
    .plugin_put = lmdb_plugin_put,
    .plugin_get = lmdb_plugin_get,
};
