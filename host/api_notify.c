/*
 * api_notify.c - an execution's failure notifications as the API shows
 * them (GET /v1/executions/{id}: "notifications"), read from the store
 * (store_outbox.h). A webhook's URL is shown without userinfo, query or
 * fragment (notify_config.h), so a token kept there never leaves the host.
 *
 * May not: send, or change a notification.
 */
#include "api_int.h"
#include "status.h"
#include "store_outbox.h"

static int add_notification(void *user, const store_notify *n)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return TARRY_ENOMEM;
    cJSON_AddStringToObject(o, "url", n->shown_url);
    cJSON_AddStringToObject(o, "state", store_notify_state_name(n->state));
    cJSON_AddNumberToObject(o, "attempts", n->attempts);
    api_add_string_or_null(o, "last_error", n->last_error);
    api_add_time(o, "delivered_at", n->state == STORE_NOTIFY_DELIVERED ? n->delivered_at : 0);
    api_add_time(o, "next_attempt_at", n->state == STORE_NOTIFY_PENDING ? n->due_at : 0);
    cJSON_AddItemToArray(user, o);
    return 0;
}

int api_notifications_add(store_txn *txn, const exec_id *id, cJSON *obj)
{
    cJSON *list = cJSON_AddArrayToObject(obj, "notifications");
    if (!list)
        return TARRY_ENOMEM;
    return store_notify_scan(txn, id, add_notification, list);
}
