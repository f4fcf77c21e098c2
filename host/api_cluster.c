/*
 * api_cluster.c - GET /v1/cluster: the hosts serving this store, their
 * heartbeats and workers, and what runs on each.
 *
 * On LMDB one host owns the store (its lock file says so), so the list is
 * the host answering: its heartbeat is now, since it answers. On PostgreSQL
 * the answering host comes first with what its workers run, then the other
 * hosts as the database's `hosts` rows have them (heartbeat, lease, how
 * many executions each holds and runs), then those that left in the last
 * hour and why. What runs on another host is counted, not listed: that
 * host's own answer lists it. Each host shows the plugin versions it serves
 * (the answering one from memory, the others as they last recorded them),
 * so a reload of the whole cluster can be seen to have reached every host.
 *
 * A host's running list is bounded (CLUSTER_RUNNING_MAX, oldest first, with
 * running_count for all of them): a host with thousands of workers must not
 * make an answer of megabytes.
 *
 * May not: write anything, see an HTTP library type.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "engine.h"
#include "ids.h"
#include "status.h"
#include "store.h"
#include "store_cluster.h"

#define CLUSTER_RUNNING_MAX 1000
#define CLUSTER_LEFT_WITHIN_MS (60 * 60 * 1000) /* hosts that left this recently are listed */

/* This host's passes on workers, the first CLUSTER_RUNNING_MAX of them, into h. */
static int add_running(cJSON *h, engine *e, int64_t now, int64_t stuck_after_ms)
{
    engine_pass_info *passes = malloc(CLUSTER_RUNNING_MAX * sizeof *passes);
    size_t total, shown;
    cJSON *list;

    if (!passes)
        return TARRY_ENOMEM;
    total = engine_passes_list(e, passes, CLUSTER_RUNNING_MAX);
    shown = total < CLUSTER_RUNNING_MAX ? total : CLUSTER_RUNNING_MAX;
    cJSON_AddNumberToObject(h, "running_count", (double)total);
    list = cJSON_AddArrayToObject(h, "running");
    for (size_t i = 0; list && i < shown; i++) {
        const engine_pass_info *p = &passes[i];
        char id[ID_TEXT_LEN + 1];
        cJSON *o = cJSON_CreateObject();
        /* How long the pass on the worker has run, as GET /v1/executions says it. */
        int64_t ran = p->pass_started_at && now > p->pass_started_at ? now - p->pass_started_at : 0;

        if (!o)
            break;
        id_format(&p->id, id);
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "function", p->function);
        cJSON_AddNumberToObject(o, "attempt", p->attempt);
        api_add_time(o, "started_at", p->attempt_started_at);
        cJSON_AddNumberToObject(o, "running_ms", (double)ran);
        cJSON_AddBoolToObject(o, "stuck", ran >= stuck_after_ms);
        cJSON_AddBoolToObject(o, "abandoned", p->abandoned);
        cJSON_AddItemToArray(list, o);
    }
    free(passes);
    return 0;
}

struct others {
    cJSON *self, *hosts;
    const char *self_id;
};

/* One row of the store's hosts: the answering host's gets its heartbeat and lease; others a line. */
static int add_host_row(void *user, const store_host_row *row)
{
    struct others *o = user;
    cJSON *h;

    if (strcmp(row->id, o->self_id) == 0) {
        cJSON_DeleteItemFromObject(o->self, "heartbeat_at");
        api_add_time(o->self, "heartbeat_at", row->heartbeat_at);
        api_add_time(o->self, "lease_expires_at", row->lease_expires_at);
        cJSON_AddNumberToObject(o->self, "held", (double)row->held);
        return 0;
    }
    if (!(h = cJSON_CreateObject()))
        return TARRY_ENOMEM;
    cJSON_AddItemToArray(o->hosts, h);
    cJSON_AddStringToObject(h, "id", row->id);
    api_add_string_or_null(h, "hostname", row->hostname && row->hostname[0] ? row->hostname : NULL);
    cJSON_AddNumberToObject(h, "pid", (double)row->pid);
    api_add_string_or_null(h, "address", row->address && row->address[0] ? row->address : NULL);
    api_add_time(h, "started_at", row->started_at);
    api_add_time(h, "heartbeat_at", row->heartbeat_at);
    api_add_time(h, "lease_expires_at", row->lease_expires_at);
    cJSON_AddBoolToObject(h, "self", false);
    cJSON_AddNumberToObject(h, "workers", row->workers);
    cJSON_AddNumberToObject(h, "busy", (double)row->running);
    cJSON_AddNumberToObject(h, "held", (double)row->held);
    cJSON_AddNumberToObject(h, "running_count", (double)row->running);
    cJSON *plugins = row->plugins ? cJSON_Parse(row->plugins) : NULL;
    if (cJSON_IsArray(plugins))
        cJSON_AddItemToObject(h, "plugins", plugins);
    else
        cJSON_Delete(plugins);
    if (row->left_at) {
        api_add_time(h, "left_at", row->left_at);
        api_add_string_or_null(h, "left_reason", row->left_reason);
        cJSON_AddNumberToObject(h, "released", (double)row->released);
    }
    return 0;
}

int api_cluster_handle(api *a, http_req *req)
{
    engine *e = api_engine(a);
    const engine_host *self = engine_host_self(e);
    int64_t now = clock_now_ms();
    engine_stats stats;
    cJSON *root = cJSON_CreateObject(), *hosts, *h;

    engine_get_stats(e, &stats);
    cJSON_AddStringToObject(root, "store", store_kind(engine_store(e)));
    hosts = cJSON_AddArrayToObject(root, "hosts");
    if (!(h = cJSON_CreateObject()) || !hosts) {
        cJSON_Delete(h);
        cJSON_Delete(root);
        http_reply_error(req, 500, "internal", "out of memory building the answer");
        return 0;
    }
    cJSON_AddItemToArray(hosts, h);
    cJSON_AddStringToObject(h, "id", self->id);
    api_add_string_or_null(h, "hostname", self->hostname[0] ? self->hostname : NULL);
    cJSON_AddNumberToObject(h, "pid", (double)self->pid);
    api_add_string_or_null(h, "address", self->address[0] ? self->address : NULL);
    api_add_time(h, "started_at", self->started_at);
    /* Alone on its store, the host answering is the one alive: its heartbeat is this answer. */
    api_add_time(h, "heartbeat_at", now);
    cJSON_AddBoolToObject(h, "self", true);
    cJSON_AddNumberToObject(h, "workers", (double)stats.workers);
    /* Timed-out passes still hold a thread but no longer count towards --workers. */
    cJSON_AddNumberToObject(h, "busy", (double)(stats.workers_busy - stats.workers_abandoned));
    if (add_running(h, e, now, stats.stuck_after_ms) != 0) {
        cJSON_Delete(root);
        http_reply_error(req, 500, "internal", "out of memory building the answer");
        return 0;
    }
    char *plugins = engine_plugins_json(e);
    cJSON_AddItemToObject(h, "plugins", plugins ? cJSON_Parse(plugins) : cJSON_CreateArray());
    free(plugins);
    store_txn *txn;
    struct others others = {h, hosts, self->id};
    int rc = store_txn_begin(engine_store(e), false, &txn);
    if (rc == 0) {
        rc = store_hosts_scan(txn, CLUSTER_LEFT_WITHIN_MS, add_host_row, &others);
        store_txn_abort(txn);
    }
    if (rc != 0) {
        cJSON_Delete(root);
        api_reply_store_error(a, req, rc);
        return 0;
    }
    api_reply_cjson(req, 200, root);
    return 0;
}
