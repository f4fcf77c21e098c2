/*
 * api_int.h - what api.c lends the API's other rooms (private: only
 * host/api*.c include it). api_list.c holds the listing and counting
 * routes; api_catalog.c functions and plugins; api_metrics.c metrics and
 * function stats; api_logs.c an execution's log (pages and following);
 * api.c the rest and the route table.
 */
#ifndef TARRY_API_INT_H
#define TARRY_API_INT_H

#include <cjson/cJSON.h>

#include "api.h"
#include "clock.h"
#include "http.h"
#include "record.h"
#include "store.h"

/* A Unix ms time as RFC 3339 UTC, or null for 0. */
static inline void api_add_time(cJSON *obj, const char *name, int64_t ms)
{
    char text[CLOCK_TEXT_LEN + 1];
    if (!ms) {
        cJSON_AddNullToObject(obj, name);
        return;
    }
    clock_format(ms, text);
    cJSON_AddStringToObject(obj, name, text);
}

static inline void api_add_string_or_null(cJSON *obj, const char *name, const char *s)
{
    if (s)
        cJSON_AddStringToObject(obj, name, s);
    else
        cJSON_AddNullToObject(obj, name);
}

/* A retention as the API shows it: "30d", or "0" for forever (api_catalog.c). */
void api_retention_text(int64_t ms, char *out, size_t len);
/* "retention": {"default": "30d", "purged_before": T|null} into a list answer (api_catalog.c). */
int api_add_retention(api *a, store_txn *txn, cJSON *root);

/* An execution as the API shows it (the caller owns the object). */
cJSON *api_exec_json(const exec_record *r);
/* Answer with `root` as JSON (freed here). */
void api_reply_cjson(http_req *req, int status, cJSON *root);
/* Open a read transaction, or answer 500 and return -1. */
int api_read_begin(api *a, http_req *req, store_txn **txn);
/* A read failed: answer 500 with the store's reason. */
void api_reply_store_error(api *a, http_req *req, int rc);
engine *api_engine(api *a);

/* GET /v1/executions (filters, paging) and GET /v1/executions/stats: answer and return 0. */
int api_list_handle(api *a, http_req *req);
int api_stats_handle(api *a, http_req *req);

/* api_catalog.c: GET /v1/functions, GET /v1/plugins (answer and return 0), and the
 * answer to a reload once it is applied (what it did to each file). */
int api_functions_handle(api *a, http_req *req);
int api_plugins_handle(api *a, http_req *req);
/* api_metrics.c: GET /metrics, GET /v1/functions/{name}/stats (name not NUL-terminated). */
int api_metrics_handle(api *a, http_req *req);
int api_fn_stats_handle(api *a, http_req *req, const char *name, size_t name_len);
/* api_upgrade.c: GET /v1/functions/{name}/upgrade-check (name not NUL-terminated); a check's
 * report as JSON (NULL: out of memory). */
int api_upgrade_check_handle(api *a, http_req *req, const char *name, size_t name_len);
struct upgrade_report;
cJSON *api_upgrade_report_json(const struct upgrade_report *rep);
void api_reply_reload(api *a, http_req *req);

/* api_cluster.c: GET /v1/cluster, the hosts, their workers and what runs on each (answer, return 0). */
int api_cluster_handle(api *a, http_req *req);
/* api_logs.c: GET /v1/executions/ID/logs, a page or (?follow=1) a stream of server-sent events. */
int api_logs_handle(api *a, http_req *req, const exec_id *id);
/* The forwarder of requests to other hosts (forward.h), made at the first; NULL: out of memory. */
struct forwarder *api_forwarder(api *a);
/* api_forward.c: send a control request (cancel, reschedule, upgrade) on to the host that holds
 * execution id now, and answer with that host's answer: 0, or -1 when it cannot go on (it came
 * from another host already, nobody else holds it, out of memory) and the caller answers. */
int api_forward(api *a, http_req *req, const exec_id *id);
/* api_notify.c: execution id's failure notifications, as "notifications": [...] in obj. 0 or a code. */
int api_notifications_add(store_txn *txn, const exec_id *id, cJSON *obj);

#endif
