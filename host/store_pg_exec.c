/*
 * store_pg_exec.c - an execution's record in PostgreSQL: parameters as text
 * and columns read back (store_pg_int.h), the record's columns and their
 * decoder, and writing and reading one record with its metadata rows.
 *
 * A record is one row of `executions`, a column per field (pg_schema.c says
 * why typed columns). A write is one upsert of every field: the indexes
 * LMDB keeps by hand (by_state, by_fn, timers, pins, reruns) are the
 * database's own, so `prev` matters only for the metadata rows, written
 * with a new record as LMDB's by_meta is (metadata never changes after
 * creation). A host's write also says who holds the execution now and is
 * refused when another host holds it (exec_upsert).
 *
 * May not: run anything but the record's and its metadata's statements, or
 * read a column by name (the decoder reads PGS_EXEC_COLS by position, so
 * every scan of every file selects the same list).
 */
#include "store_pg_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "status.h"

#define FUNCTION_MAX 128 /* bytes, as LMDB's index keys allow and the schema checks */

/* ---- parameters ---------------------------------------------------------------------------- */

const char *pgs_int(pgs_buf *b, int64_t v)
{
    snprintf(b->s, sizeof b->s, "%" PRId64, v);
    return b->s;
}

const char *pgs_ms(pgs_buf *b, int64_t ms)
{
    return ms ? pgs_int(b, ms) : NULL;
}

const char *pgs_idtext(pgs_buf *b, const exec_id *id)
{
    static const exec_id none;

    if (memcmp(id, &none, sizeof none) == 0)
        return NULL;
    id_format(id, b->s);
    return b->s;
}

const char *pgs_bool(bool v)
{
    return v ? "t" : "f";
}

const char *pgs_state(exec_state s)
{
    return exec_state_name(s);
}

/* ---- columns ------------------------------------------------------------------------------- */

const char *pgs_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int64_t pgs_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pgs_b(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

int pgs_idget(const PGresult *r, int row, int col, exec_id *out)
{
    const char *text = pgs_str(r, row, col);

    memset(out, 0, sizeof *out);
    if (!text)
        return 0;
    if (id_parse(text, out) != 0) {
        char why[128];
        snprintf(why, sizeof why, "a stored execution ID is malformed: \"%.40s\"", text);
        store_set_error(why);
        return TARRY_EIO;
    }
    return 0;
}

exec_state pgs_state_get(const PGresult *r, int row, int col)
{
    const char *text = pgs_str(r, row, col);
    exec_state s;

    return text && exec_state_parse(text, &s) == 0 ? s : EXEC_NONE;
}

/* ---- the record ---------------------------------------------------------------------------- */

const char pgs_exec_cols[] = PGS_EXEC_COLS;

/* PGS_EXEC_COLS's columns, in order; the upsert's parameters are numbered alike ($1 is C_ID). */
enum {
    C_ID,
    C_FUNCTION,
    C_STATE,
    C_ARGS,
    C_METADATA,
    C_RESULT,
    C_ERROR,
    C_IDEMPOTENCY_KEY,
    C_PARENT_ID,
    C_PARENT_SEQ,
    C_DETACHED,
    C_RERUN_OF,
    C_PLUGIN_NAME,
    C_PLUGIN_VERSION,
    C_PLUGIN_HASH,
    C_ATTEMPTS,
    C_CRASHES,
    C_TIMEOUTS,
    C_SUSPECT,
    C_RESUME,
    C_CANCEL_REQUESTED,
    C_CREATED_AT,
    C_SCHEDULED_AT,
    C_STARTED_AT,
    C_FINISHED_AT,
    C_NEXT_ATTEMPT_AT,
    C_DISCARD_AT,
    C_WAKE_AT,
    C_WAKE_SEQ,
    C_LOG_COUNT,
    C_LOG_MARK_POS,
    C_LOG_MARK_COUNT,
    C_LOG_DROPPED,
    C_COUNT
};

_Static_assert(C_COUNT == PGS_EXEC_NCOLS, "PGS_EXEC_NCOLS counts PGS_EXEC_COLS");

int pgs_exec_decode(const PGresult *r, int row, exec_record *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    if (PQnfields(r) < C_COUNT) {
        store_set_error("reading an execution: the statement did not select PGS_EXEC_COLS");
        return TARRY_EIO;
    }
    if ((rc = pgs_idget(r, row, C_ID, &out->id)) != 0 ||
        (rc = pgs_idget(r, row, C_PARENT_ID, &out->parent_id)) != 0 ||
        (rc = pgs_idget(r, row, C_RERUN_OF, &out->rerun_of)) != 0)
        return rc;
    if ((out->state = pgs_state_get(r, row, C_STATE)) == EXEC_NONE) {
        store_set_error("reading an execution: its state is not one this tarry knows");
        return TARRY_EIO;
    }
    out->function = pgs_str(r, row, C_FUNCTION);
    out->args = pgs_str(r, row, C_ARGS);
    out->metadata = pgs_str(r, row, C_METADATA);
    out->result = pgs_str(r, row, C_RESULT);
    out->error = pgs_str(r, row, C_ERROR);
    out->idempotency_key = pgs_str(r, row, C_IDEMPOTENCY_KEY);
    out->plugin_name = pgs_str(r, row, C_PLUGIN_NAME);
    out->plugin_version = pgs_str(r, row, C_PLUGIN_VERSION);
    out->plugin_hash = pgs_str(r, row, C_PLUGIN_HASH);
    out->parent_seq = (uint32_t)pgs_i64(r, row, C_PARENT_SEQ);
    out->detached = pgs_b(r, row, C_DETACHED);
    out->attempts = (uint32_t)pgs_i64(r, row, C_ATTEMPTS);
    out->crashes = (uint32_t)pgs_i64(r, row, C_CRASHES);
    out->timeouts = (uint32_t)pgs_i64(r, row, C_TIMEOUTS);
    out->suspect = pgs_b(r, row, C_SUSPECT);
    out->resume = pgs_b(r, row, C_RESUME);
    out->cancel_requested = pgs_b(r, row, C_CANCEL_REQUESTED);
    out->created_at = pgs_i64(r, row, C_CREATED_AT);
    out->scheduled_at = pgs_i64(r, row, C_SCHEDULED_AT);
    out->started_at = pgs_i64(r, row, C_STARTED_AT);
    out->finished_at = pgs_i64(r, row, C_FINISHED_AT);
    out->next_attempt_at = pgs_i64(r, row, C_NEXT_ATTEMPT_AT);
    out->discard_at = pgs_i64(r, row, C_DISCARD_AT);
    out->wake_at = pgs_i64(r, row, C_WAKE_AT);
    out->wake_seq = (uint32_t)pgs_i64(r, row, C_WAKE_SEQ);
    out->log_count = (uint32_t)pgs_i64(r, row, C_LOG_COUNT);
    out->log_mark_pos = (uint32_t)pgs_i64(r, row, C_LOG_MARK_POS);
    out->log_mark_count = (uint32_t)pgs_i64(r, row, C_LOG_MARK_COUNT);
    out->log_dropped = (uint32_t)pgs_i64(r, row, C_LOG_DROPPED);
    if (!out->function) {
        store_set_error("reading an execution: it has no function");
        return TARRY_EIO;
    }
    return 0;
}

/*
 * Every field, in C_* order, then the writing host ($34; NULL: a tool, which writes as before
 * there were hosts and leaves the lease as it is) and the state the writer last wrote or read
 * ($35; NULL for a new record). A host holds what it keeps in memory (queued, running) and
 * nothing else; it may write a row it holds, or a free row still in the state it read
 * (claiming it if the new state is one it holds). Anything else is another host's, or changed
 * under it: tarry_conflict fails the batch naming the execution (store_cluster.h).
 */
static const char exec_upsert[] =
    "WITH written AS (INSERT INTO executions (id, function, state, args, metadata, result, error, "
    "idempotency_key, "
    "parent_id, parent_seq, detached, rerun_of, plugin_name, plugin_version, plugin_hash, attempts, "
    "crashes, timeouts, suspect, resume, cancel_requested, created_at, scheduled_at, started_at, "
    "finished_at, next_attempt_at, discard_at, wake_at, wake_seq, log_count, log_mark_pos, "
    "log_mark_count, log_dropped, lease_owner, lease_epoch) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, "
    "$21, tarry_ts($22), tarry_ts($23), tarry_ts($24), tarry_ts($25), tarry_ts($26), tarry_ts($27), "
    "tarry_ts($28), $29, $30, $31, $32, $33, "
    "CASE WHEN $3::tarry_state IN ('queued', 'running') THEN $34::text END, "
    "CASE WHEN $3::tarry_state IN ('queued', 'running') AND $34::text IS NOT NULL THEN 1 ELSE 0 END) "
    "ON CONFLICT (id) DO UPDATE SET function = EXCLUDED.function, state = EXCLUDED.state, "
    "args = EXCLUDED.args, metadata = EXCLUDED.metadata, result = EXCLUDED.result, "
    "error = EXCLUDED.error, idempotency_key = EXCLUDED.idempotency_key, "
    "parent_id = EXCLUDED.parent_id, parent_seq = EXCLUDED.parent_seq, detached = EXCLUDED.detached, "
    "rerun_of = EXCLUDED.rerun_of, plugin_name = EXCLUDED.plugin_name, "
    "plugin_version = EXCLUDED.plugin_version, plugin_hash = EXCLUDED.plugin_hash, "
    "attempts = EXCLUDED.attempts, crashes = EXCLUDED.crashes, timeouts = EXCLUDED.timeouts, "
    "suspect = EXCLUDED.suspect, resume = EXCLUDED.resume, "
    "cancel_requested = EXCLUDED.cancel_requested, created_at = EXCLUDED.created_at, "
    "scheduled_at = EXCLUDED.scheduled_at, started_at = EXCLUDED.started_at, "
    "finished_at = EXCLUDED.finished_at, next_attempt_at = EXCLUDED.next_attempt_at, "
    "discard_at = EXCLUDED.discard_at, wake_at = EXCLUDED.wake_at, wake_seq = EXCLUDED.wake_seq, "
    "log_count = EXCLUDED.log_count, log_mark_pos = EXCLUDED.log_mark_pos, "
    "log_mark_count = EXCLUDED.log_mark_count, log_dropped = EXCLUDED.log_dropped, "
    "lease_owner = CASE WHEN $34::text IS NULL THEN executions.lease_owner ELSE EXCLUDED.lease_owner END, "
    "lease_epoch = executions.lease_epoch + CASE WHEN EXCLUDED.lease_owner IS NOT NULL "
    "AND executions.lease_owner IS DISTINCT FROM EXCLUDED.lease_owner THEN 1 ELSE 0 END "
    "WHERE $34::text IS NULL OR executions.lease_owner = $34::text "
    "OR (executions.lease_owner IS NULL AND executions.state::text = $35::text) RETURNING 1) "
    "SELECT tarry_conflict($1) WHERE NOT EXISTS (SELECT FROM written)";

/* A pair appears once per execution (the API refuses duplicate keys; a record that has them
 * anyway keeps the first, where LMDB would index both). */
static const char meta_insert[] = "INSERT INTO execution_metadata (exec_id, key, value) VALUES ($1, $2, $3) "
                                  "ON CONFLICT DO NOTHING";

/* A new execution's metadata pairs, one row each: the string values of its JSON object, as
 * LMDB's by_meta indexes them (anything else is no pair). */
static int meta_rows(pgs_sink *out, const exec_record *rec, const char *id)
{
    cJSON *obj, *item;
    int rc = 0;

    if (!rec->metadata || !(obj = cJSON_Parse(rec->metadata)))
        return 0; /* absent; the API refuses anything but an object of strings */
    cJSON_ArrayForEach(item, obj)
    {
        const char *params[3] = {id, item->string, item->valuestring};
        if (!cJSON_IsString(item) || !item->string)
            continue;
        if ((rc = pgs_write(out, "writing an execution's metadata", meta_insert, 3, params)) != 0)
            break;
    }
    cJSON_Delete(obj);
    return rc;
}

static int exec_put(pgs_sink *out, const exec_record *rec, const exec_record *prev)
{
    struct pg_store *st = out->batch ? out->batch->st : (struct pg_store *)out->txn->base.st;
    pgs_buf id, parent, rerun, n[9], t[7];
    const char *p[C_COUNT + 2];
    char what[80];
    int rc;

    if (strlen(rec->function) > FUNCTION_MAX)
        return TARRY_EINVAL;
    p[C_ID] = pgs_idtext(&id, &rec->id);
    p[C_FUNCTION] = rec->function;
    p[C_STATE] = pgs_state(rec->state);
    p[C_ARGS] = rec->args;
    p[C_METADATA] = rec->metadata;
    p[C_RESULT] = rec->result;
    p[C_ERROR] = rec->error;
    p[C_IDEMPOTENCY_KEY] = rec->idempotency_key;
    p[C_PARENT_ID] = pgs_idtext(&parent, &rec->parent_id);
    p[C_PARENT_SEQ] = pgs_int(&n[0], rec->parent_seq);
    p[C_DETACHED] = pgs_bool(rec->detached);
    p[C_RERUN_OF] = pgs_idtext(&rerun, &rec->rerun_of);
    p[C_PLUGIN_NAME] = rec->plugin_name;
    p[C_PLUGIN_VERSION] = rec->plugin_version;
    p[C_PLUGIN_HASH] = rec->plugin_hash;
    p[C_ATTEMPTS] = pgs_int(&n[1], rec->attempts);
    p[C_CRASHES] = pgs_int(&n[2], rec->crashes);
    p[C_TIMEOUTS] = pgs_int(&n[3], rec->timeouts);
    p[C_SUSPECT] = pgs_bool(rec->suspect);
    p[C_RESUME] = pgs_bool(rec->resume);
    p[C_CANCEL_REQUESTED] = pgs_bool(rec->cancel_requested);
    p[C_CREATED_AT] = pgs_ms(&t[0], rec->created_at);
    p[C_SCHEDULED_AT] = pgs_ms(&t[1], rec->scheduled_at);
    p[C_STARTED_AT] = pgs_ms(&t[2], rec->started_at);
    p[C_FINISHED_AT] = pgs_ms(&t[3], rec->finished_at);
    p[C_NEXT_ATTEMPT_AT] = pgs_ms(&t[4], rec->next_attempt_at);
    p[C_DISCARD_AT] = pgs_ms(&t[5], rec->discard_at);
    p[C_WAKE_AT] = pgs_ms(&t[6], rec->wake_at);
    p[C_WAKE_SEQ] = pgs_int(&n[4], rec->wake_seq);
    p[C_LOG_COUNT] = pgs_int(&n[5], rec->log_count);
    p[C_LOG_MARK_POS] = pgs_int(&n[6], rec->log_mark_pos);
    p[C_LOG_MARK_COUNT] = pgs_int(&n[7], rec->log_mark_count);
    p[C_LOG_DROPPED] = pgs_int(&n[8], rec->log_dropped);
    p[C_COUNT] = st->host_id[0] ? st->host_id : NULL;
    p[C_COUNT + 1] = prev ? pgs_state(prev->state) : NULL;
    snprintf(what, sizeof what, "writing execution %s", p[C_ID] ? p[C_ID] : "(no id)");
    if ((rc = pgs_write(out, what, exec_upsert, C_COUNT + 2, p)) != 0)
        return rc;
    if (out->batch && exec_state_final(rec->state))
        out->batch->finals++;
    return prev ? 0 : meta_rows(out, rec, p[C_ID]);
}

int pgs_exec_put(store_txn *txn, const exec_record *rec, const exec_record *prev)
{
    pgs_sink out = pgs_to_txn(txn);
    return exec_put(&out, rec, prev);
}

int pgs_batch_exec_put(store_batch *b, const exec_record *rec, const exec_record *prev)
{
    pgs_sink out = pgs_to_batch(b);
    return exec_put(&out, rec, prev);
}

int pgs_exec_get(store_txn *txn, const exec_id *id, exec_record *out)
{
    static const char sql[] = "SELECT " PGS_EXEC_COLS " FROM executions WHERE id = $1";
    pgs_buf text;
    const char *params[1] = {pgs_idtext(&text, id)};
    char what[80];
    PGresult *r;
    int rc;

    if (!params[0])
        return TARRY_ENOTFOUND; /* the all-zero id names nothing */
    snprintf(what, sizeof what, "reading execution %s", params[0]);
    if ((rc = pgs_query((struct pg_txn *)txn, what, sql, 1, params, &r)) != 0)
        return rc;
    if (PQntuples(r) == 0)
        return TARRY_ENOTFOUND;
    return pgs_exec_decode(r, 0, out);
}
