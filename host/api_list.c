/*
 * api_list.c - GET /v1/executions (filters and cursor paging) and
 * GET /v1/executions/stats (counts per state).
 *
 * Which filters are indexed is the store's business (store_exec_query):
 * here the query string becomes a store_query, and a page reads at most
 * LIST_EXAMINE_MAX records, so a filter the indexes cannot answer (error
 * text, finished times, a second metadata pair) costs bounded work per
 * request on the loop thread and pages on with next_cursor.
 *
 * May not: write to the store, call plugin code, see an HTTP library type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "jcore_plugin.h"
#include "clock.h"
#include "exec_opts.h"
#include "ids.h"
#include "plugins.h"
#include "status.h"

#define LIST_DEFAULT 50
#define LIST_MAX 1000
#define LIST_EXAMINE_MAX 10000 /* records one page reads at most */
#define LIST_MAX_FUNCTIONS 20  /* function= names in one query */
#define LIST_PARAM_MAX 2200    /* a metadata=key=value parameter: 2 x 1 KiB of UTF-8 and the '=' */
#define STATS_COUNT_MAX 100000 /* a state's count stops here ("at least") */

/* The query's strings, owned here (freed with list_args_free). */
typedef struct list_args {
    store_query q;
    const char *functions[LIST_MAX_FUNCTIONS];
    const char *meta_keys[EXEC_META_MAX_PAIRS], *meta_values[EXEC_META_MAX_PAIRS];
    char *owned[LIST_MAX_FUNCTIONS + EXEC_META_MAX_PAIRS + 1];
    size_t owned_count;
    exec_id before;
} list_args;

static void list_args_free(list_args *la)
{
    for (size_t i = 0; i < la->owned_count; i++)
        free(la->owned[i]);
}

static char *keep(list_args *la, const char *s)
{
    char *copy = strdup(s);
    if (copy)
        la->owned[la->owned_count++] = copy;
    return copy;
}

static int bad(http_req *req, const char *fmt, const char *a)
{
    http_reply_error(req, 400, "invalid_query", fmt, a);
    return -1;
}

static int oom(http_req *req)
{
    http_reply_error(req, 500, "internal", "out of memory");
    return -1;
}

/* function=a,b&function=c: any of them. */
static int parse_functions(http_req *req, list_args *la)
{
    char text[LIST_PARAM_MAX];
    int got;

    for (size_t nth = 0; (got = http_req_query_nth(req, "function", nth, text, sizeof text)) != 0; nth++) {
        char *save = NULL;
        if (got < 0)
            return bad(req, "function: malformed or longer than %s bytes", "2200");
        for (char *name = strtok_r(text, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            if (la->q.function_count == LIST_MAX_FUNCTIONS)
                return bad(req, "function: at most %s functions in one query", "20");
            if (!(la->functions[la->q.function_count] = keep(la, name)))
                return oom(req);
            la->q.function_count++;
        }
    }
    la->q.functions = la->functions;
    return 0;
}

/* state=queued,running&state=failed: any of them. */
static int parse_states(http_req *req, list_args *la)
{
    char text[256];
    int got;

    for (size_t nth = 0; (got = http_req_query_nth(req, "state", nth, text, sizeof text)) != 0; nth++) {
        char *save = NULL;
        if (got < 0)
            return bad(req, "state: %s", "malformed or too long");
        for (char *name = strtok_r(text, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            exec_state st;
            if (exec_state_parse(name, &st) != 0 || st == EXEC_NONE)
                return bad(req,
                           "state: \"%s\" is not a state (scheduled, queued, running, waiting, succeeded, "
                           "failed, cancelled, discarded, blocked)",
                           name);
            la->q.states |= 1u << st;
        }
    }
    return 0;
}

/* metadata=key=value, repeated: every pair (split at the first '='). */
static int parse_metadata(http_req *req, list_args *la)
{
    char text[LIST_PARAM_MAX];
    int got;

    for (size_t nth = 0; (got = http_req_query_nth(req, "metadata", nth, text, sizeof text)) != 0; nth++) {
        char *eq, *pair;
        if (got < 0)
            return bad(req, "metadata: malformed or longer than %s bytes", "2200");
        if (!(eq = strchr(text, '=')) || eq == text)
            return bad(req, "metadata: \"%s\" is not key=value", text);
        if (la->q.meta_count == EXEC_META_MAX_PAIRS)
            return bad(req, "metadata: at most %s pairs in one query", "25");
        if (!(pair = keep(la, text)))
            return oom(req);
        pair[eq - text] = '\0';
        la->meta_keys[la->q.meta_count] = pair;
        la->meta_values[la->q.meta_count] = pair + (eq - text) + 1;
        la->q.meta_count++;
    }
    la->q.meta_keys = la->meta_keys;
    la->q.meta_values = la->meta_values;
    return 0;
}

/* An RFC 3339 time parameter into *ms (untouched when absent). */
static int parse_time(http_req *req, const char *name, int64_t *ms)
{
    char text[128], err[200];
    int got = http_req_query(req, name, text, sizeof text);

    if (got == 0 || (got > 0 && !text[0]))
        return 0;
    if (got < 0 || clock_parse(text, ms, err, sizeof err) != 0) {
        http_reply_error(req, 400, "invalid_query", "%s: %s", name, got < 0 ? "malformed" : err);
        return -1;
    }
    return 0;
}

static int parse_list_args(http_req *req, list_args *la)
{
    char text[LIST_PARAM_MAX];
    int got;

    memset(la, 0, sizeof *la);
    la->q.limit = LIST_DEFAULT;
    la->q.examine_max = LIST_EXAMINE_MAX;
    if (parse_functions(req, la) != 0 || parse_states(req, la) != 0 || parse_metadata(req, la) != 0 ||
        parse_time(req, "created_from", &la->q.created_from) != 0 ||
        parse_time(req, "created_to", &la->q.created_to) != 0 ||
        parse_time(req, "finished_from", &la->q.finished_from) != 0 ||
        parse_time(req, "finished_to", &la->q.finished_to) != 0)
        return -1;
    if ((got = http_req_query(req, "error_contains", text, sizeof text)) < 0)
        return bad(req, "error_contains: malformed or longer than %s bytes", "2200");
    if (got > 0 && text[0] && !(la->q.error_contains = keep(la, text)))
        return oom(req);
    if ((got = http_req_query(req, "limit", text, sizeof text)) != 0) {
        char *end;
        long n = got > 0 ? strtol(text, &end, 10) : 0;
        if (got < 0 || *end || n < 1 || n > LIST_MAX)
            return bad(req, "limit: want a whole number from 1 to %s", "1000");
        la->q.limit = (size_t)n;
    }
    if ((got = http_req_query(req, "cursor", text, sizeof text)) != 0 && text[0]) {
        if (got < 0 || id_parse(text, &la->before) != 0)
            return bad(req, "cursor: %s", "not a cursor from next_cursor");
        la->q.before = &la->before;
    }
    return 0;
}

struct list_ctx {
    cJSON *data;
    engine_stats stats; /* for the stuck threshold */
    api *a;
    int64_t now_ms;
};

static int add_listed(void *user, const exec_record *rec)
{
    struct list_ctx *lc = user;
    cJSON *o = api_exec_json(rec);
    int64_t since;

    /* A running execution says how long its pass has run, so one that spins
     * is visible as such: from the engine (a resumed workflow's pass starts
     * after its attempt), else from the stored attempt start. */
    if (rec->state == EXEC_RUNNING) {
        if (engine_pass_started(api_engine(lc->a), &rec->id, &since) != 0)
            since = rec->started_at;
        int64_t ran = since && lc->now_ms > since ? lc->now_ms - since : 0;
        cJSON_AddNumberToObject(o, "running_ms", (double)ran);
        cJSON_AddBoolToObject(o, "stuck", ran >= lc->stats.stuck_after_ms);
    }
    cJSON_AddItemToArray(lc->data, o);
    return 0;
}

int api_list_handle(api *a, http_req *req)
{
    struct list_ctx lc;
    list_args la;
    exec_id next;
    store_txn *txn;
    cJSON *root;
    bool more;
    int rc;

    if (!http_req_method_is(req, "GET")) {
        http_reply_method_not_allowed(req, "GET");
        return 0;
    }
    if (parse_list_args(req, &la) != 0 || api_read_begin(a, req, &txn) != 0) {
        list_args_free(&la);
        return 0;
    }
    root = cJSON_CreateObject();
    lc.data = cJSON_AddArrayToObject(root, "data");
    lc.a = a;
    lc.now_ms = clock_now_ms();
    engine_get_stats(api_engine(a), &lc.stats);
    rc = store_exec_query(txn, &la.q, add_listed, &lc, &more, &next);
    if (rc == 0)
        rc = api_add_retention(a, txn, root);
    store_txn_abort(txn);
    list_args_free(&la);
    if (rc != 0) {
        cJSON_Delete(root);
        api_reply_store_error(a, req, rc);
        return 0;
    }
    if (more) {
        char text[ID_TEXT_LEN + 1];
        id_format(&next, text);
        cJSON_AddStringToObject(root, "next_cursor", text);
    } else {
        cJSON_AddNullToObject(root, "next_cursor");
    }
    api_reply_cjson(req, 200, root);
    return 0;
}

int api_stats_handle(api *a, http_req *req)
{
    char function[PLUGIN_NAME_MAX + 2];
    const char *fn = NULL;
    store_txn *txn;
    cJSON *root, *counts;
    uint64_t total = 0;
    bool exact = true;
    int got, rc = 0;

    if (!http_req_method_is(req, "GET")) {
        http_reply_method_not_allowed(req, "GET");
        return 0;
    }
    if ((got = http_req_query(req, "function", function, sizeof function)) < 0) {
        http_reply_error(req, 400, "invalid_query", "function: malformed or longer than %d bytes",
                         PLUGIN_NAME_MAX);
        return 0;
    }
    if (got > 0 && function[0])
        fn = function;
    /* Not a name any function can have (tarry.h): refused, not echoed (it may not even be UTF-8). */
    if (fn && !jcore_name_valid(fn)) {
        http_reply_error(req, 400, "invalid_query",
                         "function: not a function name ([A-Za-z_][A-Za-z0-9_.-]*, at most %d bytes)",
                         PLUGIN_NAME_MAX);
        return 0;
    }
    if (api_read_begin(a, req, &txn) != 0)
        return 0;
    root = cJSON_CreateObject();
    if (fn)
        cJSON_AddStringToObject(root, "function", fn);
    else
        cJSON_AddNullToObject(root, "function");
    counts = cJSON_AddObjectToObject(root, "counts");
    for (int st = 1; st < EXEC_STATE_COUNT && rc == 0; st++) {
        uint64_t n;
        if ((rc = store_exec_count(txn, fn, (exec_state)st, STATS_COUNT_MAX, &n)) != 0)
            break;
        if (n == STATS_COUNT_MAX)
            exact = false;
        total += n;
        cJSON_AddNumberToObject(counts, exec_state_name((exec_state)st), (double)n);
    }
    store_txn_abort(txn);
    if (rc != 0) {
        cJSON_Delete(root);
        api_reply_store_error(a, req, rc);
        return 0;
    }
    cJSON_AddNumberToObject(root, "total", (double)total);
    /* A count that reached STATS_COUNT_MAX stopped there: it means "at least". */
    cJSON_AddBoolToObject(root, "exact", exact);
    cJSON_AddNumberToObject(root, "count_max", STATS_COUNT_MAX);
    api_reply_cjson(req, 200, root);
    return 0;
}
