/*
 * store_pg_exec.c - an execution's record in PostgreSQL: parameters as text
 * and columns read back (store_pg_int.h), the record's columns and their
 * decoder, and writing and reading one record with its metadata rows.
 *
 * A record is one row of `executions`, a column per field (pg_schema.c says
 * why typed columns). A write sets every field: the indexes LMDB keeps
 * by hand (by_state, by_fn, timers, pins, reruns) are the database's own,
 * so `prev` matters only for the metadata rows, written with a new record
 * as LMDB's by_meta is (metadata never changes after creation), and for
 * the state a host expects a free row in. A host's write also says who
 * holds the execution now and is refused when another host holds it
 * (pgs_exec_write, which writes a batch's executions in one statement).
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
 * Executions' writes, one row per execution (store_pg_int.h: PGS_EXEC_ROW), as one statement
 * (store_pg_bulk.c says why). A host holds what it keeps in memory (queued, running) and
 * nothing else; it may write a row it holds, or a free row still in the state it read (claiming
 * it if the new state is one it holds); a new row is inserted. Anything else is another host's,
 * or changed under it: tarry_conflict fails the batch naming the execution (store_cluster.h).
 * `up` and `ins` see one snapshot, taken before either, so a row is updated or inserted, never
 * both; the expiry is left as it was unless the row brings one (a retention write folded in).
 * Ids are compared as text in "C" (tarry_id's collation, so the primary key serves) and checked
 * against tarry_id's pattern only when inserted, and a plugin hash only when it changes: the
 * domains' regular expressions were a tenth of the statement's time. The rows neither updated nor
 * inserted are found by EXCEPT (a hash of each set): a batch plans its joins as index probes
 * (store_pg.c: pgs_steer_sql), under which NOT EXISTS over `up` and `ins` read them once per row of
 * `v`, 95 ms for a batch of 1,000.
 */
const char pgs_exec_write[] =
    "WITH v AS (SELECT u.id COLLATE \"C\" AS id, u.function, u.state, u.args, u.metadata, u.result, "
    "u.error, u.idempotency_key, u.parent_id, u.parent_seq, u.detached, u.rerun_of, u.plugin_name, "
    "u.plugin_version, u.plugin_hash, u.attempts, u.crashes, u.timeouts, u.suspect, u.resume, "
    "u.cancel_requested, u.created_at, u.scheduled_at, u.started_at, u.finished_at, "
    "u.next_attempt_at, u.discard_at, u.wake_at, u.wake_seq, u.log_count, u.log_mark_pos, "
    "u.log_mark_count, u.log_dropped, u.prev, u.holds, u.expires FROM unnest($1::text[], $2::text[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], "
    "$11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], "
    "$18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], "
    "$25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[], "
    "$32::text[], $33::text[], $34::text[], $35::text[], $36::text[]) AS u(id, function, state, args, "
    "metadata, result, error, idempotency_key, parent_id, parent_seq, detached, rerun_of, "
    "plugin_name, plugin_version, plugin_hash, attempts, crashes, timeouts, suspect, resume, "
    "cancel_requested, created_at, scheduled_at, started_at, finished_at, next_attempt_at, "
    "discard_at, wake_at, wake_seq, log_count, log_mark_pos, log_mark_count, log_dropped, prev, "
    "holds, expires)),\n"
    "up AS (UPDATE executions e SET function = v.function, state = v.state::tarry_state, args = "
    "v.args, metadata = v.metadata, result = v.result, error = v.error, idempotency_key = "
    "v.idempotency_key, parent_id = v.parent_id, parent_seq = v.parent_seq::bigint, detached = "
    "v.detached::boolean, rerun_of = v.rerun_of, plugin_name = v.plugin_name, plugin_version = "
    "v.plugin_version, plugin_hash = CASE WHEN e.plugin_hash IS NOT DISTINCT FROM v.plugin_hash "
    "COLLATE \"C\" THEN e.plugin_hash ELSE v.plugin_hash::tarry_hash END, attempts = v.attempts::bigint, "
    "crashes = "
    "v.crashes::bigint, timeouts = v.timeouts::bigint, suspect = v.suspect::boolean, resume = "
    "v.resume::boolean, cancel_requested = v.cancel_requested::boolean OR e.cancel_requested, created_at = "
    "tarry_ts(v.created_at::bigint), scheduled_at = tarry_ts(v.scheduled_at::bigint), started_at = "
    "tarry_ts(v.started_at::bigint), finished_at = tarry_ts(v.finished_at::bigint), next_attempt_at = "
    "tarry_ts(v.next_attempt_at::bigint), discard_at = tarry_ts(v.discard_at::bigint), wake_at = "
    "tarry_ts(v.wake_at::bigint), wake_seq = v.wake_seq::bigint, log_count = v.log_count::bigint, "
    "log_mark_pos = v.log_mark_pos::bigint, log_mark_count = v.log_mark_count::bigint, log_dropped = "
    "v.log_dropped::bigint, expires_at = CASE WHEN v.expires IS NULL THEN e.expires_at ELSE "
    "tarry_ts(v.expires::bigint) END, lease_owner = CASE WHEN $37::text IS NULL THEN e.lease_owner "
    "WHEN v.state IN ('queued', 'running') THEN $37::text END, lease_epoch = e.lease_epoch + CASE "
    "WHEN $37::text IS NOT NULL AND v.holds::boolean AND e.lease_owner IS DISTINCT FROM $37::text "
    "THEN 1 ELSE 0 END\n"
    "FROM v WHERE e.id = v.id AND ($37::text IS NULL OR e.lease_owner = $37::text OR (e.lease_owner "
    "IS NULL AND e.state::text = v.prev)) RETURNING e.id),\n"
    "ins AS (INSERT INTO executions (id, function, state, args, metadata, result, error, "
    "idempotency_key, parent_id, parent_seq, detached, rerun_of, plugin_name, plugin_version, "
    "plugin_hash, attempts, crashes, timeouts, suspect, resume, cancel_requested, created_at, "
    "scheduled_at, started_at, finished_at, next_attempt_at, discard_at, wake_at, wake_seq, "
    "log_count, log_mark_pos, log_mark_count, log_dropped, expires_at, lease_owner, lease_epoch) "
    "SELECT v.id, v.function, v.state::tarry_state, v.args, v.metadata, v.result, v.error, "
    "v.idempotency_key, v.parent_id, v.parent_seq::bigint, v.detached::boolean, v.rerun_of, "
    "v.plugin_name, v.plugin_version, v.plugin_hash, v.attempts::bigint, v.crashes::bigint, "
    "v.timeouts::bigint, v.suspect::boolean, v.resume::boolean, v.cancel_requested::boolean, "
    "tarry_ts(v.created_at::bigint), tarry_ts(v.scheduled_at::bigint), "
    "tarry_ts(v.started_at::bigint), tarry_ts(v.finished_at::bigint), "
    "tarry_ts(v.next_attempt_at::bigint), tarry_ts(v.discard_at::bigint), "
    "tarry_ts(v.wake_at::bigint), v.wake_seq::bigint, v.log_count::bigint, v.log_mark_pos::bigint, "
    "v.log_mark_count::bigint, v.log_dropped::bigint, tarry_ts(v.expires::bigint), CASE WHEN v.state "
    "IN ('queued', 'running') THEN $37::text END, CASE WHEN $37::text IS NOT NULL AND "
    "v.holds::boolean THEN 1 ELSE 0 END FROM v\n"
    "WHERE NOT EXISTS (SELECT FROM executions x WHERE x.id = v.id) ON CONFLICT (id) DO NOTHING "
    "RETURNING id)\n"
    "SELECT tarry_conflict(c.id) FROM (SELECT id FROM v EXCEPT SELECT id::text FROM up EXCEPT SELECT "
    "id::text FROM ins) AS c LIMIT 1";

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

/* rec sets a timer no host holds (a delayed start or retry, a durable sleep): any host may fire it. */
static bool free_timer_set(const exec_record *rec, const exec_record *prev)
{
    if (rec->state == EXEC_SCHEDULED)
        return !prev || prev->state != EXEC_SCHEDULED || prev->scheduled_at != rec->scheduled_at;
    if (rec->state == EXEC_WAITING && rec->wake_at)
        return !prev || prev->state != EXEC_WAITING || prev->wake_at != rec->wake_at;
    return false;
}

static int exec_put(pgs_sink *out, const exec_record *rec, const exec_record *prev)
{
    pgs_buf id, parent, rerun, n[9], t[7];
    const char *p[PGS_EXEC_ROW];
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
    p[PGS_ROW_PREV] = prev ? pgs_state(prev->state) : NULL;
    p[PGS_ROW_HOLDS] = pgs_bool(rec->state == EXEC_QUEUED || rec->state == EXEC_RUNNING);
    p[PGS_ROW_EXPIRES] = NULL;
    snprintf(what, sizeof what, "writing execution %s", p[C_ID] ? p[C_ID] : "(no id)");
    /* a batch's rows go as one statement at commit (store_pg_bulk.c); a transaction's alone */
    rc = out->batch ? pgs_write(out, what, pgs_exec_write, PGS_EXEC_ROW, p)
                    : pgs_bulk_write_one(out->txn, what, pgs_exec_write, p);
    if (rc != 0)
        return rc;
    if (out->batch && exec_state_final(rec->state))
        out->batch->finals++;
    if (out->batch && free_timer_set(rec, prev))
        out->batch->timers++;
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
    if ((rc = pgs_query_prepared((struct pg_txn *)txn, what, sql, 1, params, &r)) != 0)
        return rc;
    if (PQntuples(r) == 0)
        return TARRY_ENOTFOUND;
    return pgs_exec_decode(r, 0, out);
}
