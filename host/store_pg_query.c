/*
 * store_pg_query.c - the PostgreSQL store's reads of many executions: scans
 * by state, pinned versions, timers, listing and the filtered query, counts
 * and re-runs. The semantics are store.h's; the LMDB implementation is the
 * reference for order and edge cases.
 *
 * Each LMDB index database is an index of `executions` (pg_schema.c), so each
 * read walks one index range in the order LMDB walks its keys: ids compare as
 * "C" text, which is their byte order, and timers as (due_at, id).
 *
 * Ranges that may be long are read in pages, each "after the last row read"
 * (a keyset, never an OFFSET), the first small and the next ones growing: a
 * callback that stops early, or a short list, costs one short query and a
 * long scan a few round trips. A page of records stays held by the
 * transaction, because the records handed out borrow from it until it ends;
 * a page of ids or times is given back once handed out (pgs_release).
 *
 * Where LMDB merges several index ranges newest first (store_exec_query's
 * function x state sources), one statement does: a LATERAL top-k of each
 * range, then the top k of their union, so each range is read from its index
 * for at most k rows and nothing is sorted but those.
 *
 * Id bounds are passed as `$n::text`, so a bound may be "" (below every id)
 * or "8" (above every id: the first of the 26 characters is 0-7), which the
 * tarry_id domain would refuse.
 *
 * May not: write (store_pg_exec.c writes records and their metadata rows), or
 * know the record's columns beyond PGS_EXEC_COLS and pgs_exec_decode.
 */
#include "store_pg_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "status.h"

#define PAGE_FIRST 64   /* rows in a scan's first page */
#define PAGE_MAX 4096   /* and in any page: each grows fourfold up to this */
#define ID_BELOW_ALL "" /* text bounds around every id */
#define ID_ABOVE_ALL "8"
#define ID_TIME_LIMIT ((int64_t)1 << 48) /* ids hold 48 bits of Unix ms */

static size_t page_grow(size_t rows)
{
    return rows >= PAGE_MAX / 4 ? PAGE_MAX : rows * 4;
}

static bool state_valid(exec_state s)
{
    return s > EXEC_NONE && s < EXEC_STATE_COUNT;
}

static int no_memory(const char *what)
{
    char msg[160];
    snprintf(msg, sizeof msg, "%s: out of memory", what);
    store_set_error(msg);
    return TARRY_ENOMEM;
}

/* exec_query's walks select one page of ids newest first ($1 the exclusive upper id, $2 the
 * inclusive lower id, $3 the page's rows; $4, $5 the sources), then read those records. */
#define PAGE_OF(ids)                                                                                         \
    "SELECT " PGS_EXEC_COLS " FROM (" ids ") AS page JOIN executions USING (id) ORDER BY id DESC"
#define ID_RANGE "id < $1::text AND id >= $2::text"

/* ---- by state ------------------------------------------------------------------------ */

/*
 * The host id a scan keeps to, or NULL for every row. Once the store joined the hosts
 * (store_cluster.h), a host looking for work (queued or running executions, due timers) sees
 * only what it holds; it claims free ones first (store_claim). A tool sees everything.
 */
static const char *held_only(const struct pg_txn *t, exec_state state)
{
    const struct pg_store *st = (const struct pg_store *)t->base.st;

    if (!st->host_id[0] || (state != EXEC_QUEUED && state != EXEC_RUNNING && state != EXEC_SCHEDULED))
        return NULL;
    return st->host_id;
}

int pgs_exec_scan_state(store_txn *txn, exec_state state, store_exec_cb cb, void *user)
{
    static const char sql[] =
        "SELECT " PGS_EXEC_COLS " FROM executions WHERE state = $1 AND id > $2::text"
        " AND ($4::text IS NULL OR lease_owner = $4::text) ORDER BY id LIMIT $3";
    struct pg_txn *t = (struct pg_txn *)txn;
    const char *mine = held_only(t, state);
    char after[ID_TEXT_LEN + 1] = ID_BELOW_ALL;
    size_t page = PAGE_FIRST;

    if (!state_valid(state))
        return 0;
    for (;;) {
        pgs_buf rows_text;
        const char *params[] = {pgs_state(state), after, pgs_int(&rows_text, (int64_t)page), mine};
        PGresult *r;
        int rc, rows;

        if ((rc = pgs_query(t, "scanning executions by state", sql, 4, params, &r)) != 0)
            return rc;
        rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            exec_record rec;
            if ((rc = pgs_exec_decode(r, i, &rec)) != 0 || (rc = cb(user, &rec)) != 0)
                return rc;
            id_format(&rec.id, after);
        }
        if ((size_t)rows < page)
            return 0;
        page = page_grow(page);
    }
}

int pgs_exec_ids_in_state(store_txn *txn, exec_state state, store_id_cb cb, void *user)
{
    static const char sql[] =
        "SELECT id FROM executions WHERE state = $1 AND id > $2::text"
        " AND ($4::text IS NULL OR lease_owner = $4::text) ORDER BY id LIMIT $3";
    struct pg_txn *t = (struct pg_txn *)txn;
    const char *mine = held_only(t, state);
    char after[ID_TEXT_LEN + 1] = ID_BELOW_ALL;
    size_t page = PAGE_FIRST;

    if (!state_valid(state))
        return 0;
    for (;;) {
        pgs_buf rows_text;
        const char *params[] = {pgs_state(state), after, pgs_int(&rows_text, (int64_t)page), mine};
        PGresult *r;
        int rc, rows;

        if ((rc = pgs_query(t, "scanning execution ids by state", sql, 4, params, &r)) != 0)
            return rc;
        rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            exec_id id;
            if ((rc = pgs_idget(r, i, 0, &id)) != 0 || (rc = cb(user, &id)) != 0)
                break;
            id_format(&id, after);
        }
        pgs_release(t, r); /* ids are copies: one page at a time */
        if (rc != 0 || (size_t)rows < page)
            return rc;
        page = page_grow(page);
    }
}

/* How many rows a LIMIT of max allows: the parameter is a bigint. */
static int64_t count_limit(uint64_t max)
{
    return max > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)max;
}

int pgs_exec_count(store_txn *txn, const char *function, exec_state state, uint64_t max, uint64_t *count)
{
    static const char by_state[] =
        "SELECT count(*) FROM (SELECT 1 FROM executions WHERE state = $1 LIMIT $2) AS counted";
    static const char by_fn_state[] = "SELECT count(*) FROM (SELECT 1 FROM executions"
                                      " WHERE function = $3 AND state = $1 LIMIT $2) AS counted";
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf limit;
    const char *params[] = {pgs_state(state), pgs_int(&limit, count_limit(max)), function};
    PGresult *r;
    int rc;

    *count = 0;
    if (!state_valid(state) || max == 0 || (function && strlen(function) > 128))
        return 0; /* no function has such a name */
    if ((rc = pgs_query(t, "counting executions", function ? by_fn_state : by_state, function ? 3 : 2, params,
                        &r)) != 0)
        return rc;
    *count = (uint64_t)pgs_i64(r, 0, 0);
    return 0;
}

/* ---- pinned versions ------------------------------------------------------------------
 * executions_pins holds unfinished executions by plugin_hash: these statements repeat its
 * predicate, word for word, so the planner uses it. */

#define PINNED "plugin_hash IS NOT NULL AND state NOT IN ('succeeded', 'failed', 'cancelled', 'discarded')"

static bool hash_valid(const char *hash)
{
    if (strlen(hash) != 16)
        return false;
    for (const char *c = hash; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

int pgs_pins_count(store_txn *txn, const char *hash, uint64_t max, uint64_t *count)
{
    static const char sql[] = "SELECT count(*) FROM (SELECT 1 FROM executions WHERE " PINNED
                              " AND plugin_hash = $1 LIMIT $2) AS counted";
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf limit;
    const char *params[] = {hash, pgs_int(&limit, count_limit(max))};
    PGresult *r;
    int rc;

    *count = 0;
    if (max == 0 || !hash_valid(hash))
        return 0; /* no version has such a hash: nothing is pinned to it */
    if ((rc = pgs_query(t, "counting pinned executions", sql, 2, params, &r)) != 0)
        return rc;
    *count = (uint64_t)pgs_i64(r, 0, 0);
    return 0;
}

int pgs_pinned_versions(store_txn *txn, store_hash_cb cb, void *user)
{
    /* One index probe per version (a loose index scan), as LMDB seeks past each version's ids,
     * rather than reading every pinned execution. */
    static const char sql[] =
        "WITH RECURSIVE versions (hash) AS (\n"
        "    (SELECT plugin_hash FROM executions WHERE " PINNED " ORDER BY plugin_hash LIMIT 1)\n"
        "    UNION ALL\n"
        "    SELECT (SELECT plugin_hash FROM executions WHERE " PINNED " AND plugin_hash > versions.hash\n"
        "            ORDER BY plugin_hash LIMIT 1)\n"
        "    FROM versions WHERE versions.hash IS NOT NULL)\n"
        "SELECT hash FROM versions WHERE hash IS NOT NULL";
    struct pg_txn *t = (struct pg_txn *)txn;
    PGresult *r;
    int rc, rows;

    if ((rc = pgs_query(t, "reading pinned versions", sql, 0, NULL, &r)) != 0)
        return rc;
    rows = PQntuples(r);
    for (int i = 0; i < rows; i++)
        if ((rc = cb(user, pgs_str(r, i, 0))) != 0)
            return rc;
    return 0;
}

/* ---- timers ------------------------------------------------------------------------------ */

int pgs_timer_first(store_txn *txn, int64_t *due_ms, exec_id *id)
{
    static const char sql[] =
        "SELECT tarry_ms(due_at), id FROM executions WHERE due_at IS NOT NULL ORDER BY due_at, id LIMIT 1";
    struct pg_txn *t = (struct pg_txn *)txn;
    PGresult *r;
    int rc;

    if ((rc = pgs_query(t, "reading the earliest timer", sql, 0, NULL, &r)) != 0)
        return rc;
    if (PQntuples(r) == 0)
        return TARRY_ENOTFOUND;
    if ((rc = pgs_idget(r, 0, 1, id)) != 0)
        return rc;
    *due_ms = pgs_i64(r, 0, 0);
    return 0;
}

int pgs_timer_each(store_txn *txn, store_timer_cb cb, void *user)
{
    /* After the row ($1 due, $2 id) the last page ended with, or from the first ($1 NULL); a host
     * ($4) sees the timers it holds or could claim, never another host's: that one fires them,
     * and a due timer this host cannot take would wake it again and again until then. */
    static const char sql[] = "SELECT tarry_ms(due_at), id FROM executions WHERE due_at IS NOT NULL"
                              " AND ($1::bigint IS NULL OR (due_at, id) > (tarry_ts($1), $2::text))"
                              " AND ($4::text IS NULL OR lease_owner IS NULL OR lease_owner = $4::text)"
                              " ORDER BY due_at, id LIMIT $3";
    struct pg_txn *t = (struct pg_txn *)txn;
    const char *mine = held_only(t, EXEC_SCHEDULED);
    pgs_buf due_text, rows_text;
    char after[ID_TEXT_LEN + 1] = ID_BELOW_ALL;
    const char *due = NULL;
    size_t page = PAGE_FIRST;

    for (;;) {
        const char *params[] = {due, after, pgs_int(&rows_text, (int64_t)page), mine};
        PGresult *r;
        int rc, rows;
        int64_t due_ms = 0;

        if ((rc = pgs_query(t, "scanning timers", sql, 4, params, &r)) != 0)
            return rc;
        rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            exec_id id;
            due_ms = pgs_i64(r, i, 0);
            if ((rc = pgs_idget(r, i, 1, &id)) != 0 || (rc = cb(user, due_ms, &id)) != 0)
                break;
            id_format(&id, after);
        }
        pgs_release(t, r); /* times and ids are copies: one page at a time */
        if (rc != 0 || (size_t)rows < page)
            return rc;
        due = pgs_int(&due_text, due_ms);
        page = page_grow(page);
    }
}

int pgs_timer_scan_due(store_txn *txn, int64_t now_ms, store_exec_cb cb, void *user)
{
    /* $1 now; after the row ($2 due, $3 id) the last page ended with, or from the first ($2 NULL) */
    static const char sql[] = "SELECT " PGS_EXEC_COLS ", tarry_ms(due_at) FROM executions"
                              " WHERE due_at <= tarry_ts($1)"
                              " AND ($2::bigint IS NULL OR (due_at, id) > (tarry_ts($2), $3::text))"
                              " AND ($5::text IS NULL OR lease_owner = $5::text)"
                              " ORDER BY due_at, id LIMIT $4";
    struct pg_txn *t = (struct pg_txn *)txn;
    const char *mine = held_only(t, EXEC_SCHEDULED);
    pgs_buf now_text, due_text, rows_text;
    char after[ID_TEXT_LEN + 1] = ID_BELOW_ALL;
    const char *due = NULL;
    size_t page = PAGE_FIRST;

    if (now_ms <= 0)
        return 0; /* every timer is due after 0 (a 0 is "no timer") */
    for (;;) {
        const char *params[] = {pgs_int(&now_text, now_ms), due, after, pgs_int(&rows_text, (int64_t)page), mine};
        PGresult *r;
        int rc, rows;
        int64_t due_ms = 0;

        if ((rc = pgs_query(t, "scanning due timers", sql, 5, params, &r)) != 0)
            return rc;
        rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            exec_record rec;
            if ((rc = pgs_exec_decode(r, i, &rec)) != 0 || (rc = cb(user, &rec)) != 0)
                return rc;
            due_ms = pgs_i64(r, i, PGS_EXEC_NCOLS);
            id_format(&rec.id, after);
        }
        if ((size_t)rows < page)
            return 0;
        due = pgs_int(&due_text, due_ms);
        page = page_grow(page);
    }
}

/* ---- re-runs ------------------------------------------------------------------------------- */

int pgs_reruns_scan(store_txn *txn, const exec_id *id, store_id_cb cb, void *user)
{
    /* An execution has few re-runs (each is an operator's action): one statement. */
    static const char sql[] = "SELECT id FROM executions WHERE rerun_of = $1::text ORDER BY id";
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf original;
    const char *params[] = {pgs_idtext(&original, id)};
    PGresult *r;
    int rc, rows;

    if ((rc = pgs_query(t, "reading re-runs", sql, 1, params, &r)) != 0)
        return rc;
    rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        exec_id rerun;
        if ((rc = pgs_idget(r, i, 0, &rerun)) != 0 || (rc = cb(user, &rerun)) != 0)
            return rc;
    }
    return 0;
}

/* ---- filtered listing ------------------------------------------------------------------------ */

/* The first id of millisecond ms (the id text sorts below every id made from then on). */
static void id_of_time(int64_t ms, char out[ID_TEXT_LEN + 1])
{
    exec_id id = {{0}};
    for (int i = 0; i < 6; i++)
        id.bytes[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
    id_format(&id, out);
}

/* Which index a query walks, and its sources (JSON arrays of texts), as LMDB's query_sources
 * chooses: the first metadata pair; else function x state ranges while there are at most
 * STORE_QUERY_MAX_SOURCES; else the functions; else the states; else every execution. */
typedef struct query_walk {
    const char *sql;
    char *functions, *states; /* cJSON-printed, or NULL */
} query_walk;

/* Each range is the range of its index's keys, as LMDB's is of its keys' (prefix, id): a row
 * comparison from (prefix, $2) to (prefix, $1), ordered by the whole key. Written so, the range
 * can only be read from that index; with "function = f.name AND id < $1", the planner may walk
 * the primary key instead and filter by function, reading every row for a rare one. */
static const char walk_all[] =
    PAGE_OF("SELECT id FROM executions WHERE " ID_RANGE " ORDER BY id DESC LIMIT $3");
static const char walk_states[] =
    PAGE_OF("SELECT r.id FROM jsonb_array_elements_text($4::jsonb) AS s (label), LATERAL"
            " (SELECT state, id FROM executions WHERE (state, id) < (s.label::tarry_state, $1::text)"
            " AND (state, id) >= (s.label::tarry_state, $2::text)"
            " ORDER BY state DESC, id DESC LIMIT $3) AS r ORDER BY r.id DESC LIMIT $3");
static const char walk_functions[] =
    PAGE_OF("SELECT r.id FROM jsonb_array_elements_text($4::jsonb) AS f (name), LATERAL"
            " (SELECT function, id FROM executions WHERE (function, id) < (f.name, $1::text)"
            " AND (function, id) >= (f.name, $2::text)"
            " ORDER BY function DESC, id DESC LIMIT $3) AS r ORDER BY r.id DESC LIMIT $3");
static const char walk_function_states[] =
    PAGE_OF("SELECT r.id FROM jsonb_array_elements_text($4::jsonb) AS f (name),"
            " jsonb_array_elements_text($5::jsonb) AS s (label), LATERAL"
            " (SELECT function, state, id FROM executions"
            " WHERE (function, state, id) < (f.name, s.label::tarry_state, $1::text)"
            " AND (function, state, id) >= (f.name, s.label::tarry_state, $2::text)"
            " ORDER BY function DESC, state DESC, id DESC LIMIT $3) AS r ORDER BY r.id DESC LIMIT $3");
static const char walk_meta[] =
    PAGE_OF("SELECT exec_id AS id FROM execution_metadata WHERE key = $4 AND value = $5"
            " AND exec_id < $1::text AND exec_id >= $2::text ORDER BY exec_id DESC LIMIT $3");

static int query_walk_make(const store_query *q, query_walk *w)
{
    size_t states = 0;
    cJSON *arr;

    w->functions = w->states = NULL;
    for (int s = 1; s < EXEC_STATE_COUNT; s++)
        if (q->states & (1u << s))
            states++;
    if (q->meta_count)
        w->sql = walk_meta;
    else if (q->function_count && states && q->function_count * states <= STORE_QUERY_MAX_SOURCES)
        w->sql = walk_function_states;
    else if (q->function_count)
        w->sql = walk_functions;
    else if (states)
        w->sql = walk_states;
    else
        w->sql = walk_all;
    if (w->sql == walk_function_states || w->sql == walk_functions) {
        if (q->function_count > (size_t)INT32_MAX ||
            !(arr = cJSON_CreateStringArray(q->functions, (int)q->function_count)))
            return TARRY_ENOMEM;
        w->functions = cJSON_PrintUnformatted(arr);
        cJSON_Delete(arr);
        if (!w->functions)
            return TARRY_ENOMEM;
    }
    if (w->sql == walk_function_states || w->sql == walk_states) {
        if (!(arr = cJSON_CreateArray()))
            return TARRY_ENOMEM;
        for (int s = 1; s < EXEC_STATE_COUNT; s++)
            if ((q->states & (1u << s)) && !cJSON_AddItemToArray(arr, cJSON_CreateString(pgs_state(s)))) {
                cJSON_Delete(arr);
                return TARRY_ENOMEM;
            }
        w->states = cJSON_PrintUnformatted(arr);
        cJSON_Delete(arr);
        if (!w->states)
            return TARRY_ENOMEM;
    }
    return 0;
}

static void query_walk_free(query_walk *w)
{
    cJSON_free(w->functions);
    cJSON_free(w->states);
}

/* The rows a page asks for: enough for the records wanted, within the budget of reads left
 * (plus one, to know whether another follows). */
static size_t query_page(size_t want, const store_query *q, size_t examined)
{
    size_t rows = want > PAGE_MAX ? PAGE_MAX : want < 16 ? 16 : want;
    if (q->examine_max && q->examine_max - examined < rows)
        rows = q->examine_max - examined + 1;
    return rows;
}

static int query_run(struct pg_txn *t, const store_query *q, store_exec_cb cb, void *user, bool *more,
                     exec_id *next)
{
    static const char what[] = "listing executions";
    char upper[ID_TEXT_LEN + 1] = ID_ABOVE_ALL, lower[ID_TEXT_LEN + 1] = ID_BELOW_ALL;
    size_t emitted = 0, examined = 0, page;
    exec_id last = {{0}};
    query_walk w;
    int rc;

    *more = false;
    for (size_t i = 0; i < q->function_count; i++)
        if (strlen(q->functions[i]) > 128)
            return 0; /* no function has such a name */
    if (q->created_from >= ID_TIME_LIMIT)
        return 0; /* no id is that late */
    /* The newest id to consider: below the cursor, and below created_to (ids start with their time). */
    if (q->before)
        id_format(q->before, upper);
    if (q->created_to > 0) {
        char to[ID_TEXT_LEN + 1];
        id_of_time(q->created_to, to);
        if (strcmp(to, upper) < 0)
            memcpy(upper, to, sizeof to);
    }
    if (q->created_from > 0)
        id_of_time(q->created_from, lower);
    if ((rc = query_walk_make(q, &w)) != 0) {
        query_walk_free(&w);
        return no_memory(what);
    }
    page = query_page(q->limit == SIZE_MAX ? SIZE_MAX : q->limit + 1, q, 0);
    for (;;) {
        pgs_buf rows_text;
        const char *params[5] = {upper, lower, pgs_int(&rows_text, (int64_t)page)};
        int n = 3, rows;
        PGresult *r;

        if (w.sql == walk_meta)
            params[n++] = q->meta_keys[0], params[n++] = q->meta_values[0];
        if (w.functions)
            params[n++] = w.functions;
        if (w.states)
            params[n++] = w.states;
        if ((rc = pgs_query(t, what, w.sql, n, params, &r)) != 0)
            goto done;
        rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            exec_record rec;
            if (q->examine_max && examined == q->examine_max) {
                /* Out of budget: the caller goes on from the last one looked at. */
                *more = true;
                *next = last;
                goto done;
            }
            examined++;
            if ((rc = pgs_exec_decode(r, i, &rec)) != 0)
                goto done;
            if (store_query_matches(q, &rec)) {
                if (emitted == q->limit) {
                    *more = true;
                    goto done; /* *next is the last one emitted */
                }
                if ((rc = cb(user, &rec)) != 0)
                    goto done;
                emitted++;
                *next = rec.id;
            }
            last = rec.id;
        }
        if ((size_t)rows < page)
            goto done;
        id_format(&last, upper);
        page = query_page(page_grow(page), q, examined);
    }
done:
    query_walk_free(&w);
    return rc;
}

int pgs_exec_query(store_txn *txn, const store_query *q, store_exec_cb cb, void *user, bool *more,
                   exec_id *next)
{
    return query_run((struct pg_txn *)txn, q, cb, user, more, next);
}

/* A listing is a query that its index decides whole: every record read matches. */
int pgs_exec_list(store_txn *txn, const store_list_query *lq, store_exec_cb cb, void *user, bool *more)
{
    store_query q = {0};
    exec_id next;

    q.functions = lq->function ? &lq->function : NULL;
    q.function_count = lq->function ? 1 : 0;
    q.states = state_valid(lq->state) ? 1u << lq->state : 0;
    q.before = lq->before;
    q.limit = lq->limit;
    if (lq->state != EXEC_NONE && !state_valid(lq->state)) {
        *more = false;
        return 0;
    }
    return query_run((struct pg_txn *)txn, &q, cb, user, more, &next);
}
