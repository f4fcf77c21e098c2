/*
 * store_pg_hosts.c - several hosts on one database (store_cluster.h): a
 * host joins, beats, claims free executions, hears the others, and leaves.
 *
 * The lease is the host's, not each execution's (pg_schema.c, migration
 * 2): one row per host whose lease_expires_at its heartbeat renews, so a
 * host renews one row however much it holds. Its heartbeat runs on a
 * thread of its own with a connection of its own, so a busy loop or a
 * long commit never lets its lease run out, and the same connection
 * LISTENs on channel "tarry": a NOTIFY's payload is one letter (w: work
 * was released, f: executions became final, r: reload; a batch sends the
 * first that applies of r, w, f, which stands for those after it too;
 * and, as notifications of their own, c: cancels asked, t: timers set,
 * q: queued executions released) and the sender's host id, so a host
 * ignores its own. Each beat also declares stopped the hosts whose lease
 * ran out (tarry_beat), and counts the live hosts (store_live_hosts). A beat that finds this host
 * declared stopped raises STORE_EVENT_FENCED: its batches fail from then on
 * (tarry_fence), and its engine must start again under a new id.
 *
 * Notifications are a wake-up, never the only way: every lease time the
 * thread raises STORE_EVENT_SWEEP, and after a reconnect (messages sent
 * while it was away are lost) it raises every event, so a missed message
 * costs at most a lease time.
 *
 * May not: hold a pool connection across beats, call the event callback
 * with a lock held.
 */
#include "store_pg_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"
#include "status.h"

#define RECONNECT_MS 500 /* between attempts to reach the database for the heartbeat */

struct pgs_hosts {
    struct pg_store *st;
    pthread_t thread;
    int wake[2]; /* a byte on wake[1] stops the thread */
    store_event_cb cb;
    void *user;
    int64_t lease_ms;
    bool fenced;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A beat: renew the lease, declare stopped the hosts whose lease ran out, count those live (the
 * count's snapshot is taken before the beat: one reaped now counts till the next). -1: the
 * connection failed (the caller reconnects); 0: alive; 1: this host was declared stopped. */
static int beat(struct pgs_hosts *h, pg_db *db)
{
    const char *params[1] = {h->st->host_id};
    PGresult *r;
    char err[512];
    int rc = pg_run_params(db, "renewing this host's lease",
                           "SELECT alive, reaped, (SELECT count(*) FROM hosts WHERE left_at IS NULL AND "
                           "lease_expires_at > now()) FROM tarry_beat($1)",
                           1, params, PGRES_TUPLES_OK, &r, err, sizeof err);
    bool alive;

    if (rc)
        return -1;
    alive = PQgetvalue(r, 0, 0)[0] == 't';
    atomic_store(&h->st->live, (size_t)strtoull(PQgetvalue(r, 0, 2), NULL, 10));
    PQclear(r);
    return alive ? 0 : 1;
}

/* Read the notifications that arrived: the events of other hosts. */
static unsigned heard(struct pgs_hosts *h, pg_db *db, bool *lost)
{
    PGnotify *n;
    unsigned events = 0;

    if (!PQconsumeInput(db->conn)) {
        *lost = true;
        return 0;
    }
    while ((n = PQnotifies(db->conn)) != NULL) {
        const char *p = n->extra ? n->extra : "";
        if (strcmp(p + (*p ? 1 : 0), h->st->host_id) != 0) {
            /* one letter for a batch: the rarest thing it says, and what else it may have done */
            if (*p == 'w')
                events |= STORE_EVENT_WORK | STORE_EVENT_FINAL;
            else if (*p == 'f')
                events |= STORE_EVENT_FINAL;
            else if (*p == 'r')
                events |= STORE_EVENT_RELOAD | STORE_EVENT_WORK | STORE_EVENT_FINAL;
            else if (*p == 'c')
                events |= STORE_EVENT_CANCEL;
            else if (*p == 't')
                events |= STORE_EVENT_TIMERS;
            else if (*p == 'q')
                events |= STORE_EVENT_QUEUED;
        }
        PQfreemem(n);
    }
    return events;
}

static pg_db *beat_connect(struct pgs_hosts *h)
{
    pg_db *db;
    char err[512];

    if (pg_connect(h->st->url, &db, err, sizeof err) != 0)
        return NULL;
    if (pg_run(db, "listening for the other hosts", "LISTEN tarry", PGRES_COMMAND_OK, NULL, err, sizeof err)) {
        pg_close(db);
        return NULL;
    }
    return db;
}

static void *beat_main(void *arg)
{
    struct pgs_hosts *h = arg;
    pg_db *db = NULL;
    int64_t interval = h->lease_ms / 5, next_beat = 0, next_sweep = mono_ms() + h->lease_ms;

    for (;;) {
        unsigned events = 0;
        int64_t now = mono_ms(), until;
        struct pollfd p[2] = {{.fd = h->wake[0], .events = POLLIN}, {.fd = -1, .events = POLLIN}};
        bool lost = false;

        if (!db && !h->fenced) {
            if ((db = beat_connect(h)) != NULL) {
                events |= STORE_EVENT_WORK | STORE_EVENT_FINAL | STORE_EVENT_SWEEP; /* missed while away */
                next_beat = now;
            }
        }
        if (db && now >= next_beat) {
            int b = beat(h, db);
            if (b < 0)
                lost = true;
            else if (b > 0) {
                h->fenced = true;
                events |= STORE_EVENT_FENCED;
            }
            next_beat = now + interval;
        }
        if (now >= next_sweep) {
            events |= STORE_EVENT_SWEEP;
            next_sweep = now + h->lease_ms;
        }
        if (db && !lost)
            events |= heard(h, db, &lost);
        if (lost || (db && h->fenced)) {
            pg_close(db);
            db = NULL;
        }
        if (events && h->cb)
            h->cb(h->user, events);
        until = db ? (next_beat < next_sweep ? next_beat : next_sweep) : now + RECONNECT_MS;
        if (db)
            p[1].fd = PQsocket(db->conn);
        now = mono_ms();
        if (poll(p, 2, until > now ? (int)(until - now) : 0) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
    }
    if (db)
        pg_close(db);
    return NULL;
}

int pgs_host_join(store *sb, const store_host_info *me, const char *prev_id, store_event_cb cb, void *user)
{
    struct pg_store *st = (struct pg_store *)sb;
    struct pgs_hosts *h;
    pgs_buf pid, workers, lease;
    int64_t lease_ms = me->lease_ms > 0 ? me->lease_ms : STORE_LEASE_MS_DEFAULT;
    const char *params[7] = {me->id,
                             me->hostname && *me->hostname ? me->hostname : NULL,
                             pgs_int(&pid, me->pid),
                             me->address && *me->address ? me->address : NULL,
                             pgs_int(&workers, me->workers > 0 ? me->workers : 1),
                             pgs_int(&lease, lease_ms),
                             prev_id && *prev_id ? prev_id : NULL};
    pg_db *db;
    PGresult *r;
    int rc;

    if (st->hosts || strlen(me->id) != sizeof st->host_id - 1) {
        store_set_error("joining the hosts: already joined, or a host id that is not 16 hex digits");
        return TARRY_EINVAL;
    }
    if (!(h = calloc(1, sizeof *h)))
        return TARRY_ENOMEM;
    if ((rc = pgs_pool_get(st, &db)) != 0) {
        free(h);
        return rc;
    }
    r = PQexecParams(db->conn, "SELECT tarry_host_join($1, $2, $3, $4, $5, $6, $7)", 7, NULL, params, NULL, NULL,
                     0);
    rc = !r || PQresultStatus(r) != PGRES_TUPLES_OK ? pgs_fail(db, "joining the hosts", r) : 0;
    PQclear(r);
    pgs_pool_put(st, db);
    if (rc) {
        free(h);
        return rc;
    }
    memcpy(st->host_id, me->id, sizeof st->host_id);
    h->st = st;
    h->cb = cb;
    h->user = user;
    h->lease_ms = lease_ms;
    if (pipe(h->wake) != 0 || pthread_create(&h->thread, NULL, beat_main, h) != 0) {
        store_set_error("joining the hosts: cannot start the heartbeat thread");
        if (h->wake[0] > 0) {
            close(h->wake[0]);
            close(h->wake[1]);
        }
        free(h);
        return TARRY_ENOMEM;
    }
    st->hosts = h;
    return 0;
}

void pgs_hosts_stop(struct pg_store *st)
{
    struct pgs_hosts *h = st->hosts;
    pg_db *db;
    char err[512];

    if (!h)
        return;
    (void)!write(h->wake[1], "x", 1);
    pthread_join(h->thread, NULL);
    close(h->wake[0]);
    close(h->wake[1]);
    /* A clean stop: what it held (queued work it did not start) goes to the others now, not
     * after its lease runs out. */
    if (!h->fenced && pgs_pool_get(st, &db) == 0) {
        const char *params[1] = {st->host_id};
        pg_run_params(db, "leaving the hosts", "SELECT tarry_host_release($1, 'it stopped')", 1, params,
                      PGRES_TUPLES_OK, NULL, err, sizeof err);
        pgs_pool_put(st, db);
    }
    free(h);
    st->hosts = NULL;
}

/*
 * Due timers are shared among the live hosts: a wave of them due at once is each host's in part,
 * ceil(due / live), so every host's workers run some (each host's timer for the wave fires about
 * together, and a host that claimed its part waits a moment before it takes what is left:
 * engine_timers.c). Counted are the due rows whoever holds them (claimed ones keep their due time
 * until written queued), at most `lim` of them. $2 is the kind, always 'due' here.
 */
static const char claim_due_sql[] =
    "WITH n AS (SELECT (SELECT count(*) FROM hosts WHERE left_at IS NULL) AS live, (SELECT count(*) FROM "
    "(SELECT 1 FROM executions WHERE due_at <= tarry_ts($4::bigint) LIMIT $3::integer) d) AS due), "
    "s AS (SELECT CASE WHEN live > 1 THEN least($3::integer, ceil(due::numeric / live)::integer) "
    "ELSE $3::integer END AS lim, due FROM n) "
    "SELECT tarry_claim($1::text, $2::text, s.lim, tarry_ts($4::bigint)), greatest(s.due - s.lim, 0) FROM s";

static const char claim_sql[] = "SELECT tarry_claim($1, $2, $3, tarry_ts($4))";

int pgs_claim(store *sb, store_claim_kind kind, int64_t now_ms, size_t max, size_t *claimed, size_t *left)
{
    static const char *const what[] = {"queued", "due", "running"};
    struct pg_store *st = (struct pg_store *)sb;
    pgs_buf lim, due;
    const char *params[4];
    pg_db *db;
    PGresult *r;
    int rc = 0;

    *claimed = *left = 0;
    if (!st->host_id[0] || max == 0)
        return 0; /* not joined (a tool): nothing is anybody's */
    params[0] = st->host_id;
    params[1] = what[kind == STORE_CLAIM_DUE ? 1 : kind == STORE_CLAIM_ORPHANS ? 2 : 0];
    params[2] = pgs_int(&lim, (int64_t)(max > INT32_MAX ? INT32_MAX : max));
    params[3] = pgs_int(&due, now_ms);
    if ((rc = pgs_pool_get(st, &db)) != 0)
        return rc;
    r = PQexecParams(db->conn, kind == STORE_CLAIM_DUE ? claim_due_sql : claim_sql, 4, NULL, params, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pgs_fail(db, "claiming executions", r); /* TARRY_EBROKEN once this host was declared stopped */
    } else {
        *claimed = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        if (kind == STORE_CLAIM_DUE)
            *left = (size_t)strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    pgs_pool_put(st, db);
    return rc;
}

size_t pgs_live_hosts(store *sb)
{
    size_t n = atomic_load(&((struct pg_store *)sb)->live);
    return n ? n : 1;
}

int pgs_batch_announce(store_batch *bb, unsigned events)
{
    struct pg_batch *b = (struct pg_batch *)bb;

    b->announce |= events;
    return 0;
}

/* Releases are grouped (store_pg_bulk.c), one statement for a group of them: a host releases a
 * burst at once. A release and a write of executions end each other's group: a write after a
 * release sees the row free, and a release after a write frees what the write left. */
const char pgs_release_write[] =
    "UPDATE executions e SET lease_owner = NULL FROM unnest($1::text[]) AS u(id) "
    "WHERE e.id = u.id COLLATE \"C\" AND e.lease_owner = $2::text AND e.state = "
    "'queued'";

int pgs_batch_release(store_batch *bb, const exec_id *id)
{
    struct pg_batch *b = (struct pg_batch *)bb;
    pgs_sink out = pgs_to_batch(bb);
    pgs_buf text;
    const char *params[1] = {pgs_idtext(&text, id)};

    if (!b->st->host_id[0])
        return 0; /* a tool holds nothing */
    return pgs_write(&out, "releasing a queued execution to the other hosts", pgs_release_write, 1, params);
}

/* Also ends the group of execution writes: a write of the row after it keeps the flag (the OR in
 * store_pg_exec.c's pgs_exec_write). */
const char pgs_cancel_request_sql[] = "UPDATE executions SET cancel_requested = true WHERE id = $1 AND state "
                                      "NOT IN ('succeeded', 'failed', 'cancelled', 'discarded')";

int pgs_batch_cancel_request(store_batch *bb, const exec_id *id)
{
    struct pg_batch *b = (struct pg_batch *)bb;
    pgs_sink out = pgs_to_batch(bb);
    pgs_buf text;
    const char *params[1] = {pgs_idtext(&text, id)};
    int rc;

    if (!b->st->host_id[0])
        return 0; /* a tool cancels through the API */
    if ((rc = pgs_write(&out, "asking the host that holds an execution to cancel it", pgs_cancel_request_sql,
                        1, params)) != 0)
        return rc;
    b->announce |= STORE_EVENT_CANCEL;
    return 0;
}

int pgs_cancel_requests_scan(store_txn *txn, store_id_cb cb, void *user)
{
    /* executions_owner serves it: this host's queued and running rows */
    static const char sql[] = "SELECT id FROM executions WHERE lease_owner = $1 AND state IN ('queued', "
                              "'running') AND cancel_requested ORDER BY id";
    struct pg_txn *t = (struct pg_txn *)txn;
    struct pg_store *st = (struct pg_store *)t->base.st;
    const char *params[1] = {st->host_id};
    PGresult *r;
    int rc;

    if (!st->host_id[0])
        return 0;
    if ((rc = pgs_query(t, "reading the cancels other hosts asked of this one", sql, 1, params, &r)) != 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        exec_id id;
        if (id_parse(PQgetvalue(r, i, 0), &id) != 0)
            continue;
        if ((rc = cb(user, &id)) != 0)
            return rc;
    }
    return 0;
}

int pgs_free_queued_count(store_txn *txn, uint64_t *count)
{
    /* executions_free's predicate, so the planner uses it */
    static const char sql[] =
        "SELECT count(*) FROM executions WHERE lease_owner IS NULL AND state IN ('queued', 'running') "
        "AND state = 'queued'";
    PGresult *r = NULL;
    int rc = pgs_query((struct pg_txn *)txn, "counting free queued executions", sql, 0, NULL, &r);

    *count = rc == 0 ? (uint64_t)pgs_i64(r, 0, 0) : 0;
    return rc;
}

int pgs_batch_host_plugins(store_batch *bb, const char *json)
{
    struct pg_batch *b = (struct pg_batch *)bb;
    pgs_sink out = pgs_to_batch(bb);
    const char *params[2] = {b->st->host_id, json};

    if (!b->st->host_id[0])
        return 0; /* a tool: no host to describe */
    return pgs_write(&out, "recording the host's plugins", "UPDATE hosts SET plugins = $2 WHERE id = $1", 2,
                     params);
}

int pgs_hosts_scan(store_txn *txn, int64_t left_within_ms, store_host_cb cb, void *user)
{
    static const char sql[] =
        "SELECT h.id, h.hostname, h.address, h.left_reason, h.pid, h.workers, tarry_ms(h.started_at), "
        "tarry_ms(h.heartbeat_at), tarry_ms(h.lease_expires_at), tarry_ms(h.left_at), "
        "c.held, c.running, h.released, h.plugins FROM hosts h CROSS JOIN LATERAL (SELECT count(*) AS held, "
        "count(*) FILTER (WHERE e.state = 'running') AS running FROM executions e WHERE e.lease_owner = h.id) c "
        "WHERE h.left_at IS NULL OR h.left_at > now() - make_interval(secs => $1::bigint / 1000.0) "
        "ORDER BY h.left_at IS NOT NULL, h.started_at, h.id";
    pgs_buf within;
    const char *params[1] = {pgs_int(&within, left_within_ms)};
    PGresult *r;
    int rc = pgs_query((struct pg_txn *)txn, "reading the hosts", sql, 1, params, &r);

    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        store_host_row row = {
            .id = pgs_str(r, i, 0),
            .hostname = pgs_str(r, i, 1),
            .address = pgs_str(r, i, 2),
            .left_reason = pgs_str(r, i, 3),
            .pid = (long)pgs_i64(r, i, 4),
            .workers = (int)pgs_i64(r, i, 5),
            .started_at = pgs_i64(r, i, 6),
            .heartbeat_at = pgs_i64(r, i, 7),
            .lease_expires_at = pgs_i64(r, i, 8),
            .left_at = pgs_i64(r, i, 9),
            .held = (uint64_t)pgs_i64(r, i, 10),
            .running = (uint64_t)pgs_i64(r, i, 11),
            .released = (uint64_t)pgs_i64(r, i, 12),
            .plugins = pgs_str(r, i, 13),
        };
        if ((rc = cb(user, &row)) != 0)
            return rc;
    }
    return 0;
}

int pgs_exec_holder(store_txn *txn, const exec_id *id, store_host_cb cb, void *user)
{
    static const char sql[] = "SELECT h.id, h.hostname, h.address FROM executions e JOIN hosts h ON h.id = "
                              "e.lease_owner WHERE e.id = $1 AND h.left_at IS NULL";
    pgs_buf text;
    const char *params[1] = {pgs_idtext(&text, id)};
    PGresult *r;
    int rc = pgs_query((struct pg_txn *)txn, "reading which host holds an execution", sql, 1, params, &r);

    if (rc || PQntuples(r) == 0)
        return rc;
    store_host_row row = {.id = pgs_str(r, 0, 0), .hostname = pgs_str(r, 0, 1), .address = pgs_str(r, 0, 2)};
    return cb(user, &row);
}
