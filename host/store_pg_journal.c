/*
 * store_pg_journal.c - what an execution writes as it runs, in PostgreSQL:
 * its journal, its attempts and its log lines (tables journal, attempts and
 * logs of pg_schema.c). Each table's primary key starts with the execution,
 * so one execution's rows are one index range, read in seq (or number)
 * order as LMDB's big-endian keys are. The LMDB side, store_lmdb_journal.c,
 * is the reference for every edge case: a put replaces the row with the same
 * key, a delete of a missing row does nothing, a scan stops at the first
 * non-zero callback return and returns it.
 *
 * May not: touch the execution records or their indexes (store_pg_exec.c).
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <string.h>

#include "status.h"

/* Log lines are read this many at a time: a page of a long log reads one
 * chunk, not the whole log (a callback that stops the scan stops the reading). */
#define LOG_CHUNK 256
#define LOG_CHUNK_TEXT "256"

/* The enums' labels in pg_schema.c, indexed by the C values. */
static const char *const log_levels[] = {"debug", "info", "warn", "error"}; /* TARRY_LOG_* */
static const char *const journal_kinds[] = {NULL, "call", "step", "sleep", "now", "patch"};
static const char *const journal_statuses[] = {"pending", "succeeded", "failed", "cancelled"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *label_of(const char *const *labels, size_t n, int value)
{
    return value >= 0 && (size_t)value < n ? labels[value] : NULL;
}

static int value_of(const char *const *labels, size_t n, const char *label)
{
    for (size_t i = 0; label && i < n; i++)
        if (labels[i] && strcmp(labels[i], label) == 0)
            return (int)i;
    return -1;
}

static int refuse(const char *what, int value, const exec_id *id)
{
    char msg[160];
    pgs_buf idt;
    const char *idtext = pgs_idtext(&idt, id);

    snprintf(msg, sizeof msg, "%s %d of execution %s has no name in the PostgreSQL store", what, value,
             idtext ? idtext : "(none)");
    store_set_error(msg);
    return TARRY_EINVAL;
}

static int corrupt(const char *what, const exec_id *id)
{
    char msg[160];
    pgs_buf idt;
    const char *idtext = pgs_idtext(&idt, id);

    snprintf(msg, sizeof msg, "corrupt %s of execution %s", what, idtext ? idtext : "(none)");
    store_set_error(msg);
    return TARRY_EIO;
}

/* "STEP of execution ID": a failed statement's message names the execution (a batch copies it). */
static const char *step_of(char *buf, size_t len, const char *step, const char *idtext)
{
    snprintf(buf, len, "%s of execution %s", step, idtext ? idtext : "(none)");
    return buf;
}

/* ---- logs ------------------------------------------------------------------ */

static const char log_put_sql[] =
    "INSERT INTO logs (exec_id, seq, logged_at, level, attempt, text)\n"
    "VALUES ($1, $2, tarry_ts($3), $4, $5, $6)\n"
    "ON CONFLICT (exec_id, seq) DO UPDATE SET logged_at = EXCLUDED.logged_at, level = EXCLUDED.level,\n"
    "    attempt = EXCLUDED.attempt, text = EXCLUDED.text";

static int log_put(pgs_sink *out, const exec_id *id, const store_log_line *line)
{
    pgs_buf idt, seq, time, attempt;
    char what[96];
    const char *level = label_of(log_levels, COUNT(log_levels), line->level);
    const char *params[6];

    if (!level)
        return refuse("log level", line->level, id);
    params[0] = pgs_idtext(&idt, id);
    params[1] = pgs_int(&seq, line->seq);
    params[2] = pgs_int(&time, line->time_ms);
    params[3] = level;
    params[4] = pgs_int(&attempt, line->attempt);
    params[5] = line->text;
    return pgs_write(out, step_of(what, sizeof what, "writing a log line", params[0]), log_put_sql, 6,
                     params);
}

int pgs_log_put(store_txn *txn, const exec_id *id, const store_log_line *line)
{
    pgs_sink out = pgs_to_txn(txn);
    return log_put(&out, id, line);
}

int pgs_batch_log_put(store_batch *b, const exec_id *id, const store_log_line *line)
{
    pgs_sink out = pgs_to_batch(b);
    return log_put(&out, id, line);
}

static const char log_scan_sql[] = "SELECT seq, tarry_ms(logged_at), level, attempt, text FROM logs\n"
                                   "WHERE exec_id = $1 AND seq >= $2 ORDER BY seq LIMIT " LOG_CHUNK_TEXT;

int pgs_log_scan_from(store_txn *txn, const exec_id *id, uint32_t from, store_log_cb cb, void *user)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf idt, seq;
    const char *params[2] = {pgs_idtext(&idt, id), NULL};
    char what[96];

    step_of(what, sizeof what, "reading the log", params[0]);
    for (int64_t next = from; next <= (int64_t)UINT32_MAX;) {
        PGresult *r;
        int rows, rc;

        params[1] = pgs_int(&seq, next);
        if ((rc = pgs_query(t, what, log_scan_sql, 2, params, &r)) != 0)
            return rc;
        rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            store_log_line line;
            int level = value_of(log_levels, COUNT(log_levels), pgs_str(r, i, 2));
            if (level < 0 || !pgs_str(r, i, 4))
                return corrupt("log line", id);
            line.seq = (uint32_t)pgs_i64(r, i, 0);
            line.time_ms = pgs_i64(r, i, 1);
            line.level = level;
            line.attempt = (uint32_t)pgs_i64(r, i, 3);
            line.text = pgs_str(r, i, 4);
            if ((rc = cb(user, &line)) != 0)
                return rc;
            next = (int64_t)line.seq + 1;
        }
        if (rows < LOG_CHUNK)
            break;
    }
    return 0;
}

int pgs_log_scan(store_txn *txn, const exec_id *id, store_log_cb cb, void *user)
{
    return pgs_log_scan_from(txn, id, 0, cb, user);
}

/* ---- attempts -------------------------------------------------------------- */

/*
 * Attempts' writes, one row per attempt (store_pg_int.h: PGS_ATTEMPT_ROW), as one statement
 * (store_pg_bulk.c). host_id is the host writing the attempt's end, where it ran; but a crashed
 * attempt is written by the host that found the crash: after a host died, the one it ran on is
 * the execution's released_by.
 */
const char pgs_attempt_write[] =
    "INSERT INTO attempts (exec_id, number, started_at, finished_at, outcome, crashed, timed_out, "
    "permanent,\n"
    "    error, host_id)\n"
    "SELECT v.exec_id::tarry_id, v.number::bigint, tarry_ts(v.started_at::bigint), "
    "tarry_ts(v.finished_at::bigint),\n"
    "    v.outcome::tarry_state, v.crashed::boolean, v.timed_out::boolean, v.permanent::boolean, v.error,\n"
    "    CASE WHEN v.crashed::boolean THEN coalesce((SELECT released_by FROM executions\n"
    "        WHERE id = v.exec_id::tarry_id), v.host_id) ELSE v.host_id END\n"
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[],\n"
    "    $9::text[], $10::text[])\n"
    "    AS v(exec_id, number, started_at, finished_at, outcome, crashed, timed_out, permanent, error, "
    "host_id)\n"
    "ON CONFLICT (exec_id, number) DO UPDATE SET started_at = EXCLUDED.started_at,\n"
    "    finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome, crashed = EXCLUDED.crashed,\n"
    "    timed_out = EXCLUDED.timed_out, permanent = EXCLUDED.permanent, error = EXCLUDED.error,\n"
    "    host_id = EXCLUDED.host_id";

static int attempt_put(pgs_sink *out, const exec_id *id, const store_attempt *a)
{
    pgs_buf idt, number, started, finished;
    char what[96];
    const char *params[PGS_ATTEMPT_ROW];
    const struct pg_store *st = out->batch ? out->batch->st : (const struct pg_store *)out->txn->base.st;

    params[0] = pgs_idtext(&idt, id);
    params[1] = pgs_int(&number, a->number);
    params[2] = pgs_int(&started, a->started_at);
    params[3] = pgs_int(&finished, a->finished_at);
    params[4] = pgs_state(a->outcome);
    params[5] = pgs_bool(a->crashed);
    params[6] = pgs_bool(a->timed_out);
    params[7] = pgs_bool(a->permanent);
    params[8] = a->error;
    params[9] = st->host_id[0] ? st->host_id : NULL; /* the host writing its end (above) */
    step_of(what, sizeof what, "writing an attempt", params[0]);
    if (out->batch)
        return pgs_write(out, what, pgs_attempt_write, PGS_ATTEMPT_ROW, params); /* grouped at commit */
    return pgs_bulk_write_one(out->txn, what, pgs_attempt_write, params);
}

int pgs_attempt_put(store_txn *txn, const exec_id *id, const store_attempt *a)
{
    pgs_sink out = pgs_to_txn(txn);
    return attempt_put(&out, id, a);
}

int pgs_batch_attempt_put(store_batch *b, const exec_id *id, const store_attempt *a)
{
    pgs_sink out = pgs_to_batch(b);
    return attempt_put(&out, id, a);
}

static const char attempt_scan_sql[] =
    "SELECT number, tarry_ms(started_at), tarry_ms(finished_at), outcome, crashed, timed_out, permanent,\n"
    "    error\n"
    "FROM attempts WHERE exec_id = $1 ORDER BY number";

int pgs_attempt_scan(store_txn *txn, const exec_id *id, store_attempt_cb cb, void *user)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf idt;
    const char *params[1] = {pgs_idtext(&idt, id)};
    char what[96];
    PGresult *r;
    int rc;

    step_of(what, sizeof what, "reading the attempts", params[0]);
    if ((rc = pgs_query(t, what, attempt_scan_sql, 1, params, &r)) != 0)
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows; i++) {
        store_attempt a;
        memset(&a, 0, sizeof a);
        a.number = (uint32_t)pgs_i64(r, i, 0);
        a.started_at = pgs_i64(r, i, 1);
        a.finished_at = pgs_i64(r, i, 2);
        a.outcome = pgs_state_get(r, i, 3);
        a.crashed = pgs_b(r, i, 4);
        a.timed_out = pgs_b(r, i, 5);
        a.permanent = pgs_b(r, i, 6);
        a.error = pgs_str(r, i, 7);
        if ((rc = cb(user, &a)) != 0)
            return rc;
    }
    return 0;
}

/* ---- journal ----------------------------------------------------------------- */

/* Journal entries' writes, one row per entry (store_pg_int.h: PGS_JOURNAL_ROW), as one statement
 * (store_pg_bulk.c). */
const char pgs_journal_write[] =
    "INSERT INTO journal (exec_id, seq, kind, status, detached, name, child, value, error, started_at,\n"
    "    finished_at, wake_at)\n"
    "SELECT v.exec_id::tarry_id, v.seq::bigint, v.kind::tarry_journal_kind, v.status::tarry_journal_status,\n"
    "    v.detached::boolean, v.name, v.child::tarry_id, v.value, v.error,\n"
    "    tarry_ts(v.started_at::bigint), tarry_ts(v.finished_at::bigint), tarry_ts(v.wake_at::bigint)\n"
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],\n"
    "    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])\n"
    "    AS v(exec_id, seq, kind, status, detached, name, child, value, error, started_at, finished_at,\n"
    "    wake_at)\n"
    "ON CONFLICT (exec_id, seq) DO UPDATE SET kind = EXCLUDED.kind, status = EXCLUDED.status,\n"
    "    detached = EXCLUDED.detached, name = EXCLUDED.name, child = EXCLUDED.child,\n"
    "    value = EXCLUDED.value,\n"
    "    error = EXCLUDED.error, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,\n"
    "    wake_at = EXCLUDED.wake_at";

static int journal_put(pgs_sink *out, const exec_id *id, const journal_entry *e)
{
    pgs_buf idt, seq, child, started, finished, wake;
    char what[96];
    const char *params[PGS_JOURNAL_ROW];

    params[2] = label_of(journal_kinds, COUNT(journal_kinds), (int)e->kind);
    params[3] = label_of(journal_statuses, COUNT(journal_statuses), (int)e->status);
    if (!params[2])
        return refuse("journal kind", (int)e->kind, id);
    if (!params[3])
        return refuse("journal status", (int)e->status, id);
    params[0] = pgs_idtext(&idt, id);
    params[1] = pgs_int(&seq, e->seq);
    params[4] = pgs_bool(e->detached);
    params[5] = e->name;
    params[6] = pgs_idtext(&child, &e->child);
    params[7] = e->value;
    params[8] = e->error;
    params[9] = pgs_int(&started, e->started_at);
    params[10] = pgs_int(&finished, e->finished_at);
    params[11] = pgs_int(&wake, e->wake_at);
    step_of(what, sizeof what, "writing a journal entry", params[0]);
    if (out->batch)
        return pgs_write(out, what, pgs_journal_write, PGS_JOURNAL_ROW, params); /* grouped at commit */
    return pgs_bulk_write_one(out->txn, what, pgs_journal_write, params);
}

int pgs_journal_put(store_txn *txn, const exec_id *id, const journal_entry *entry)
{
    pgs_sink out = pgs_to_txn(txn);
    return journal_put(&out, id, entry);
}

int pgs_batch_journal_put(store_batch *b, const exec_id *id, const journal_entry *entry)
{
    pgs_sink out = pgs_to_batch(b);
    return journal_put(&out, id, entry);
}

/* Ends the batch's group of journal writes (store_pg_bulk.c): a write after it may not pass it. */
const char pgs_journal_del_sql[] = "DELETE FROM journal WHERE exec_id = $1 AND seq = $2";

int pgs_batch_journal_del(store_batch *b, const exec_id *id, uint32_t seq)
{
    pgs_sink out = pgs_to_batch(b);
    pgs_buf idt, seqt;
    const char *params[2] = {pgs_idtext(&idt, id), pgs_int(&seqt, seq)};
    char what[96];

    return pgs_write(&out, step_of(what, sizeof what, "deleting a journal entry", params[0]),
                     pgs_journal_del_sql, 2, params);
}

#define JOURNAL_COLS                                                                                         \
    "seq, kind, status, detached, name, child, value, error, tarry_ms(started_at), tarry_ms(finished_at),\n" \
    "    tarry_ms(wake_at)\n"

static int journal_decode(const PGresult *r, int row, const exec_id *id, journal_entry *e)
{
    int kind = value_of(journal_kinds, COUNT(journal_kinds), pgs_str(r, row, 1));
    int status = value_of(journal_statuses, COUNT(journal_statuses), pgs_str(r, row, 2));

    memset(e, 0, sizeof *e);
    if (kind < 0 || status < 0 || pgs_idget(r, row, 5, &e->child) != 0)
        return corrupt("journal entry", id);
    e->seq = (uint32_t)pgs_i64(r, row, 0);
    e->kind = (journal_kind)kind;
    e->status = (journal_status)status;
    e->detached = pgs_b(r, row, 3);
    e->name = pgs_str(r, row, 4);
    e->value = pgs_str(r, row, 6);
    e->error = pgs_str(r, row, 7);
    e->started_at = pgs_i64(r, row, 8);
    e->finished_at = pgs_i64(r, row, 9);
    e->wake_at = pgs_i64(r, row, 10);
    return 0;
}

static const char journal_get_sql[] = "SELECT " JOURNAL_COLS "FROM journal WHERE exec_id = $1 AND seq = $2";

int pgs_journal_get(store_txn *txn, const exec_id *id, uint32_t seq, journal_entry *out)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf idt, seqt;
    const char *params[2] = {pgs_idtext(&idt, id), pgs_int(&seqt, seq)};
    char what[112];
    PGresult *r;
    int rc;

    snprintf(what, sizeof what, "reading journal entry %u of execution %s", seq,
             params[0] ? params[0] : "(none)");
    if ((rc = pgs_query_prepared(t, what, journal_get_sql, 2, params, &r)) != 0)
        return rc;
    if (PQntuples(r) == 0)
        return TARRY_ENOTFOUND;
    return journal_decode(r, 0, id, out);
}

static const char journal_scan_sql[] = "SELECT " JOURNAL_COLS "FROM journal WHERE exec_id = $1 ORDER BY seq";

int pgs_journal_scan(store_txn *txn, const exec_id *id, store_journal_cb cb, void *user)
{
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf idt;
    const char *params[1] = {pgs_idtext(&idt, id)};
    char what[96];
    PGresult *r;
    int rc;

    step_of(what, sizeof what, "reading the journal", params[0]);
    if ((rc = pgs_query_prepared(t, what, journal_scan_sql, 1, params, &r)) != 0)
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows; i++) {
        journal_entry e;
        if ((rc = journal_decode(r, i, id, &e)) != 0 || (rc = cb(user, &e)) != 0)
            return rc;
    }
    return 0;
}
