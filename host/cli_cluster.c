/*
 * cli_cluster.c - `tarry cluster`: the hosts serving the store (GET
 * /v1/cluster), their heartbeats and workers, and with -v what runs on each.
 * On PostgreSQL the list has every host of the database, and those that
 * left within the hour (HEARTBEAT says "left ... ago", -v says why); what
 * runs on another host is a count: that host's own answer lists it.
 *
 * Ages (UP FOR, HEARTBEAT) are measured against the answering host's own
 * heartbeat_at, not this machine's clock: the host answering is alive as it
 * answers, and its clock is the one every other time in the answer was
 * taken with (on one store), so a skewed client clock changes nothing.
 *
 * May not: include the store, engine, replay, plugins or http rooms.
 */
#include "cli_internal.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"

enum { CLUSTER_VERBOSE, CLUSTER_JSON };

/* The time the answer was made: the answering host's heartbeat, else this machine's clock. */
static int64_t answer_now(const cJSON *hosts)
{
    const cJSON *h;
    int64_t now;
    cJSON_ArrayForEach(h, hosts)
    {
        if (cJSON_IsTrue(cli_json_get(h, "self")) && cli_json_time(h, "heartbeat_at", &now))
            return now;
    }
    return clock_now_ms();
}

/* "3m 20s" since the time member `key` of obj, at now_ms; "now" under a second; NULL when missing. */
static char *age_cell(const cJSON *obj, const char *key, int64_t now_ms, const char *suffix)
{
    int64_t when;
    char span[64];

    if (!cli_json_time(obj, key, &when))
        return NULL;
    if (now_ms - when < 1000)
        return cli_xstrdup("now");
    /* Whole seconds: an age in milliseconds is noise in a table read by a person. */
    duration_format((now_ms - when) / 1000 * 1000, span, sizeof span);
    return cli_xasprintf("%s%s", span, suffix);
}

/* -v: what runs on host h, as a table under a line naming the host. */
static void print_running(const cJSON *h)
{
    static const char *const keys[] = {"id", "function", "attempt", "started_at"};
    const cJSON *running = cli_json_get(h, "running"), *x;
    const cJSON *count = cli_json_get(h, "running_count");
    int total = cJSON_IsNumber(count) ? (int)count->valuedouble : cJSON_GetArraySize(running);
    cli_table rows = {.ncols = 5};

    cli_say(stdout, "\nhost %s (%s, pid %.0f): ", cli_json_str(h, "id") ? cli_json_str(h, "id") : "?",
            cli_json_str(h, "hostname") ? cli_json_str(h, "hostname") : "-",
            cJSON_GetNumberValue(cli_json_get(h, "pid")));
    if (cli_json_get(h, "left_at")) {
        cli_say(stdout, "left: %s; %.0f executions released to the others\n",
                cli_json_str(h, "left_reason") ? cli_json_str(h, "left_reason") : "?",
                cJSON_GetNumberValue(cli_json_get(h, "released")));
        return;
    }
    if (total == 0) {
        fputs("nothing running\n", stdout);
        return;
    }
    if (!cJSON_IsArray(running)) {
        const char *addr = cli_json_str(h, "address");
        cli_say(stdout, "%d running (that host lists them: tarry --url http://%s cluster -v)\n", total,
                addr ? addr : "ADDRESS");
        return;
    }
    printf("%d running\n", total);
    cli_table_add(&rows, (const char *[]){"ID", "FUNCTION", "ATTEMPT", "STARTED", "RUN TIME"});
    cJSON_ArrayForEach(x, running)
    {
        char *cells[5], took[64];
        const cJSON *ran = cli_json_get(x, "running_ms");
        for (int i = 0; i < 4; i++)
            cells[i] = cli_json_cell(cli_json_get(x, keys[i]));
        if (cJSON_IsNumber(ran)) {
            duration_format((int64_t)ran->valuedouble, took, sizeof took);
            cells[4] = cli_xasprintf("%s%s%s", took, cJSON_IsTrue(cli_json_get(x, "stuck")) ? " (stuck)" : "",
                                     cJSON_IsTrue(cli_json_get(x, "abandoned")) ? " (timed out)" : "");
        } else {
            cells[4] = cli_xstrdup("-");
        }
        cli_table_add(&rows, (const char *const *)cells);
        for (int i = 0; i < 5; i++)
            free(cells[i]);
    }
    cli_table_print(&rows, stdout);
    if (total > cJSON_GetArraySize(running))
        printf("... and %d more (the host lists the longest-running %d)\n",
               total - cJSON_GetArraySize(running), cJSON_GetArraySize(running));
    cli_table_free(&rows);
}

int cli_cmd_cluster(client *c, const command *cmd, const cli_args *args)
{
    static const char *const keys[] = {"id", "hostname", "pid", "address"};
    answer ans = {0};
    cli_table rows = {.ncols = 9};
    int rc;

    (void)cmd;
    if ((rc = cli_get(c, "/v1/cluster", &ans)) != 0)
        goto done;
    if (args->seen[CLUSTER_JSON]) {
        cli_print_raw(&ans);
        goto done;
    }
    const cJSON *hosts = cli_json_get(ans.json, "hosts"), *h;
    if (!cJSON_IsArray(hosts)) {
        rc = cli_bad_answer(c, "\"hosts\" list");
        goto done;
    }
    int64_t now = answer_now(hosts);
    cli_table_add(&rows, (const char *[]){"HOST", "HOSTNAME", "PID", "ADDRESS", "UP FOR", "HEARTBEAT",
                                          "WORKERS", "BUSY", "HOLDS"});
    cJSON_ArrayForEach(h, hosts)
    {
        char *cells[9];
        for (int i = 0; i < 4; i++)
            cells[i] = cli_json_cell(cli_json_get(h, keys[i]));
        cells[4] = age_cell(h, "started_at", now, "");
        if (cli_json_get(h, "left_at")) {
            char *left = age_cell(h, "left_at", now, " ago");
            cells[5] = cli_xasprintf("left %s", left ? left : "");
            free(left);
        } else {
            cells[5] = age_cell(h, "heartbeat_at", now, " ago");
        }
        cells[6] = cli_json_cell(cli_json_get(h, "workers"));
        cells[7] = cli_json_cell(cli_json_get(h, "busy"));
        /* What its lease covers (queued and running here); on LMDB the one host holds all: "-". */
        cells[8] = cli_json_cell(cli_json_get(h, "held"));
        cli_table_add(&rows, (const char *const *)cells);
        for (int i = 0; i < 9; i++)
            free(cells[i]);
    }
    if (rows.nrows == 1) {
        fputs("tarry: the host lists no hosts\n", stderr);
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    cli_table_print(&rows, stdout);
    const char *store = cli_json_str(ans.json, "store");
    if (store)
        cli_say(stdout, "store: %s\n", store);
    if (args->seen[CLUSTER_VERBOSE]) {
        cJSON_ArrayForEach(h, hosts)
        {
            print_running(h);
        }
    }
done:
    cli_table_free(&rows);
    cli_answer_free(&ans);
    return rc;
}
