/*
 * pg_schema.c - the PostgreSQL store's schema, as migrations (pg_schema.h),
 * and applying them under an advisory lock.
 *
 * Migration 1 is everything the LMDB store keeps (store.h, store_outbox.h,
 * store_retention.c), shaped for several hosts sharing one database. The
 * choices:
 *
 * - Typed columns, not an encoded record. Operators query this database
 *   with psql, dashboards and their own reports ("failed executions of
 *   charge_card since noon"), and PostgreSQL checks what it can: states and
 *   journal kinds are enums (declared in exec_state's order, so ORDER BY
 *   state sorts as LMDB's by_state keys), times are timestamptz (a C 0,
 *   "not yet", is NULL; milliseconds are exact in microseconds), the C
 *   uint32 counters and positions are tarry_u32 (a bigint checked to
 *   0..4294967295: a log's dropped-lines marker is seq 4294967295).
 * - Ids are tarry_id: the 26-character Crockford base32 text of ids.h, upper
 *   case, in the "C" collation. Its alphabet is in ASCII order and its length
 *   fixed, so text order is byte order is creation order, as LMDB's binary
 *   keys sort, and an operator can paste an id from the API into SQL.
 * - Times cross the wire as the C side's Unix milliseconds (0 is "not yet"):
 *   tarry_ts(ms) makes the column's timestamptz (NULL for 0, 'infinity' for
 *   INT64_MAX and anything past the type's range, '-infinity' for INT64_MIN),
 *   tarry_ms(t) reads it back, exact to the millisecond. They are STABLE,
 *   as timestamptz + interval and extract() are: a SQL function declared
 *   IMMUTABLE over STABLE parts is never inlined, and then runs through the
 *   SQL function executor at every call (a fifth of the server's time in
 *   W1); STABLE, the planner inlines the expression, and an index is still
 *   searched with tarry_ts($1), evaluated once per statement. The hours and
 *   the seconds are added apart: make_interval keeps hours as integers and a
 *   whole interval in one float would round past year 2255.
 * - args, result, metadata, step values and log lines are text, not jsonb:
 *   the API promises the bytes back as they came (jsonb reorders keys,
 *   drops duplicates and rewrites numbers), and the host checks JSON itself
 *   (json_strict.c). The database is UTF8 (pg.c refuses others) and JSON
 *   text holds no NUL, so text keeps every byte.
 * - Metadata is also one row per pair in execution_metadata, indexed by
 *   (key, value, exec_id): a key=value lookup walks one index range newest
 *   first and pages by id, as LMDB's by_meta does; a GIN index on jsonb
 *   would find the rows but not in id order.
 * - The timer index is a column the database computes: due_at is a stored
 *   generated column with store.c's timer_at() rule (a delayed start or a
 *   retry's wait at scheduled_at, or discard_at when that comes first for an
 *   unstarted one; a queued unstarted one's discard_at; a sleeper's
 *   wake_at), indexed where it is not NULL. The index cannot disagree with
 *   the record, whoever writes it. (Generated columns need PostgreSQL 12;
 *   pg.h asks for 13.)
 * - Each LMDB index database is an index here: executions_state (by_state:
 *   queues, recovery), executions_function (by_fn: listing one function
 *   newest first), executions_function_state (by_fn_state), executions_due
 *   (timers: "due at or before now, earliest first", and the earliest one
 *   for a host's own timer), executions_pins (pins: unfinished executions by
 *   plugin version, which versions must stay loaded), executions_expiry
 *   (retention: final executions by when they are deleted),
 *   executions_reruns (reruns), execution_metadata_pair (by_meta),
 *   idempotency_keys_expiry (the key sweep), notifications_outbox (outbox:
 *   pending notifications by due time). Partial where LMDB keeps only some
 *   rows, so each index is as small as its LMDB database.
 * - Rows that belong to an execution (journal, attempts, logs, metadata,
 *   callers of a shared child, its idempotency key, notifications)
 *   reference it ON DELETE CASCADE, each with an index that starts with the
 *   execution: retention deletes an execution whole in one statement. A
 *   parent, a re-run's original or a child named in a journal is not a
 *   reference: either may be deleted first.
 * - Several hosts: `hosts` is who runs, one row per engine process under
 *   the engine's own id (engine_host.c: 16 random hex digits, new at every
 *   engine start, so an engine restarted after a crash is a new holder and
 *   the dead one's late writes are told apart), with heartbeat_at, and
 *   left_at on a clean stop; the database's clock is the only one leases are
 *   measured by, so the hosts' clocks need not agree. attempts and crashes
 *   name the host they ran on (no reference: old hosts' rows may go). An
 *   execution a host runs carries a lease: lease_owner, lease_expires_at,
 *   and lease_epoch, a fencing token.
 *   Each claim increments the epoch; a holder writes with "WHERE id = $1
 *   AND lease_epoch = $2", so once a lease expired and another host claimed
 *   the execution, the late writer's update matches no row and it learns it
 *   lost the execution: no execution gets two committed outcomes. A trigger
 *   refuses any update that lowers an epoch, so the token only grows.
 *   executions_leases finds expired leases. Notifications carry a claim too
 *   (claimed_by, claimed_until), so one host delivers each at a time.
 * - plugin_versions is the content-addressed version store: the .so bytes
 *   by hash, which a CHECK recomputes (the first 16 hex digits of their
 *   SHA-256, as plugins.h names versions), so no row can lie about its
 *   bytes, and any host can replay any pinned execution. Executions do not
 *   reference it: a final execution keeps its hash as history after its
 *   version is dropped; executions_pins says which versions are still needed.
 * - fillfactor 80 on executions leaves room in each page for HOT updates:
 *   most changes (a result, a log count, a lease renewal) touch no indexed
 *   column and need not touch the indexes.
 *
 * May not: read or write the store's rows (store_pg*.c will), or change a
 * released migration: a change to the schema is a new migration.
 */
#include "pg_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_int.h"
#include "status.h"

static const char schema_v1[] =
    /* ---- types ---- */
    "CREATE DOMAIN tarry_id AS text COLLATE \"C\"\n"
    "    CHECK (VALUE ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$');\n"
    "CREATE DOMAIN tarry_u32 AS bigint CHECK (VALUE BETWEEN 0 AND 4294967295);\n"
    "CREATE DOMAIN tarry_hash AS text COLLATE \"C\" CHECK (VALUE ~ '^[0-9a-f]{16}$');\n"
    "CREATE DOMAIN tarry_host_id AS text COLLATE \"C\" CHECK (VALUE ~ '^[0-9a-f]{16}$');\n"
    "CREATE TYPE tarry_state AS ENUM ('scheduled', 'queued', 'running', 'waiting', 'succeeded',\n"
    "    'failed', 'cancelled', 'discarded', 'blocked');\n"
    "CREATE TYPE tarry_journal_kind AS ENUM ('call', 'step', 'sleep', 'now', 'patch');\n"
    "CREATE TYPE tarry_journal_status AS ENUM ('pending', 'succeeded', 'failed', 'cancelled');\n"
    "CREATE TYPE tarry_log_level AS ENUM ('debug', 'info', 'warn', 'error');\n"
    "CREATE TYPE tarry_notify_state AS ENUM ('pending', 'delivered', 'failed');\n"
    /* ---- times: the C side's Unix ms (0: "not yet") <-> timestamptz (NULL) ---- */
    "CREATE FUNCTION tarry_ts(ms bigint) RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$\n"
    "    SELECT CASE WHEN ms IS NULL OR ms = 0 THEN NULL\n"
    "        WHEN ms >= 7000000000000000 THEN 'infinity'::timestamptz\n"
    "        WHEN ms <= -200000000000000 THEN '-infinity'::timestamptz\n"
    "        ELSE timestamptz '1970-01-01 00:00:00+00'\n"
    "            + make_interval(hours => (ms / 3600000)::integer, secs => (ms % 3600000) / 1000.0) END\n"
    "$$;\n"
    "CREATE FUNCTION tarry_ms(t timestamptz) RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$\n"
    "    SELECT CASE WHEN t IS NULL THEN 0::bigint\n"
    "        WHEN t = 'infinity' THEN 9223372036854775807::bigint\n"
    "        WHEN t = '-infinity' THEN (-9223372036854775807 - 1)::bigint\n"
    "        ELSE floor(round(extract(epoch FROM t) * 1000000) / 1000)::bigint END\n"
    "$$;\n"
    /* ---- hosts and plugin versions ---- */
    "CREATE TABLE hosts (\n"
    "    id tarry_host_id PRIMARY KEY,\n"
    "    hostname text,\n"
    "    pid integer NOT NULL CHECK (pid > 0),\n"
    "    address text,\n"
    "    workers integer NOT NULL CHECK (workers > 0),\n"
    "    started_at timestamptz NOT NULL DEFAULT now(),\n"
    "    heartbeat_at timestamptz NOT NULL DEFAULT now(),\n"
    "    left_at timestamptz\n"
    ");\n"
    "CREATE INDEX hosts_live ON hosts (heartbeat_at) WHERE left_at IS NULL;\n"
    "CREATE TABLE plugin_versions (\n"
    "    hash tarry_hash PRIMARY KEY,\n"
    "    name text NOT NULL,\n"
    "    version text NOT NULL,\n"
    "    so bytea NOT NULL,\n"
    "    size bigint NOT NULL,\n"
    "    added_at timestamptz NOT NULL DEFAULT now(),\n"
    "    CHECK (size = octet_length(so)),\n"
    "    CHECK (hash = left(encode(sha256(so), 'hex'), 16))\n"
    ");\n"
    /* ---- executions ---- */
    "CREATE TABLE executions (\n"
    "    id tarry_id PRIMARY KEY,\n"
    "    function text NOT NULL CHECK (octet_length(function) BETWEEN 1 AND 128),\n"
    "    state tarry_state NOT NULL,\n"
    "    args text,\n"
    "    metadata text,\n"
    "    result text,\n"
    "    error text,\n"
    "    idempotency_key text,\n"
    "    parent_id tarry_id,\n"
    "    parent_seq tarry_u32 NOT NULL DEFAULT 0,\n"
    "    detached boolean NOT NULL DEFAULT false,\n"
    "    rerun_of tarry_id,\n"
    "    plugin_name text,\n"
    "    plugin_version text,\n"
    "    plugin_hash tarry_hash,\n"
    "    attempts tarry_u32 NOT NULL DEFAULT 0,\n"
    "    crashes tarry_u32 NOT NULL DEFAULT 0,\n"
    "    timeouts tarry_u32 NOT NULL DEFAULT 0,\n"
    "    suspect boolean NOT NULL DEFAULT false,\n"
    "    resume boolean NOT NULL DEFAULT false,\n"
    "    cancel_requested boolean NOT NULL DEFAULT false,\n"
    "    created_at timestamptz NOT NULL,\n"
    "    scheduled_at timestamptz,\n"
    "    started_at timestamptz,\n"
    "    finished_at timestamptz,\n"
    "    next_attempt_at timestamptz,\n"
    "    discard_at timestamptz,\n"
    "    wake_at timestamptz,\n"
    "    wake_seq tarry_u32 NOT NULL DEFAULT 0,\n"
    "    log_count tarry_u32 NOT NULL DEFAULT 0,\n"
    "    log_mark_pos tarry_u32 NOT NULL DEFAULT 0,\n"
    "    log_mark_count tarry_u32 NOT NULL DEFAULT 0,\n"
    "    log_dropped tarry_u32 NOT NULL DEFAULT 0,\n"
    /* store.c's timer_at(): keep the two in step */
    "    due_at timestamptz GENERATED ALWAYS AS (CASE\n"
    "        WHEN state = 'scheduled' AND attempts = 0 AND discard_at < scheduled_at THEN discard_at\n"
    "        WHEN state = 'scheduled' THEN scheduled_at\n"
    "        WHEN state = 'queued' AND attempts = 0 THEN discard_at\n"
    "        WHEN state = 'waiting' THEN wake_at\n"
    "    END) STORED,\n"
    "    expires_at timestamptz,\n"
    "    lease_owner tarry_host_id REFERENCES hosts (id),\n"
    "    lease_epoch bigint NOT NULL DEFAULT 0 CHECK (lease_epoch >= 0),\n"
    "    lease_expires_at timestamptz,\n"
    "    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),\n"
    "    CHECK (expires_at IS NULL OR state IN ('succeeded', 'failed', 'cancelled', 'discarded'))\n"
    ") WITH (fillfactor = 80);\n"
    "CREATE INDEX executions_state ON executions (state, id);\n"
    "CREATE INDEX executions_function ON executions (function, id);\n"
    "CREATE INDEX executions_function_state ON executions (function, state, id);\n"
    "CREATE INDEX executions_due ON executions (due_at, id) WHERE due_at IS NOT NULL;\n"
    "CREATE INDEX executions_pins ON executions (plugin_hash, id)\n"
    "    WHERE plugin_hash IS NOT NULL AND state NOT IN ('succeeded', 'failed', 'cancelled', 'discarded');\n"
    "CREATE INDEX executions_expiry ON executions (expires_at, id) WHERE expires_at IS NOT NULL;\n"
    "CREATE INDEX executions_reruns ON executions (rerun_of, id) WHERE rerun_of IS NOT NULL;\n"
    "CREATE INDEX executions_leases ON executions (lease_expires_at) WHERE lease_owner IS NOT NULL;\n"
    "CREATE FUNCTION tarry_lease_epoch_grows() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    RAISE EXCEPTION 'execution %: its lease epoch is %, an update may not lower it to %',\n"
    "        OLD.id, OLD.lease_epoch, NEW.lease_epoch USING ERRCODE = 'check_violation';\n"
    "END $$;\n"
    "CREATE TRIGGER executions_lease_epoch_grows BEFORE UPDATE OF lease_epoch ON executions\n"
    "    FOR EACH ROW WHEN (NEW.lease_epoch < OLD.lease_epoch) EXECUTE FUNCTION tarry_lease_epoch_grows();\n"
    "CREATE TABLE execution_metadata (\n"
    "    exec_id tarry_id NOT NULL REFERENCES executions (id) ON DELETE CASCADE,\n"
    "    key text NOT NULL,\n"
    "    value text NOT NULL,\n"
    "    PRIMARY KEY (exec_id, key)\n"
    ");\n"
    "CREATE INDEX execution_metadata_pair ON execution_metadata (key, value, exec_id);\n"
    /* ---- what an execution did ---- */
    "CREATE TABLE journal (\n"
    "    exec_id tarry_id NOT NULL REFERENCES executions (id) ON DELETE CASCADE\n"
    "        DEFERRABLE INITIALLY DEFERRED,\n"
    "    seq tarry_u32 NOT NULL,\n"
    "    kind tarry_journal_kind NOT NULL,\n"
    "    status tarry_journal_status NOT NULL,\n"
    "    detached boolean NOT NULL DEFAULT false,\n"
    "    name text,\n"
    "    child tarry_id,\n"
    "    value text,\n"
    "    error text,\n"
    "    started_at timestamptz,\n"
    "    finished_at timestamptz,\n"
    "    wake_at timestamptz,\n"
    "    PRIMARY KEY (exec_id, seq)\n"
    ");\n"
    "CREATE TABLE attempts (\n"
    "    exec_id tarry_id NOT NULL REFERENCES executions (id) ON DELETE CASCADE\n"
    "        DEFERRABLE INITIALLY DEFERRED,\n"
    "    number tarry_u32 NOT NULL CHECK (number >= 1),\n"
    "    started_at timestamptz,\n"
    "    finished_at timestamptz,\n"
    "    outcome tarry_state NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'cancelled')),\n"
    "    crashed boolean NOT NULL DEFAULT false,\n"
    "    timed_out boolean NOT NULL DEFAULT false,\n"
    "    permanent boolean NOT NULL DEFAULT false,\n"
    "    error text,\n"
    "    host_id tarry_host_id,\n"
    "    PRIMARY KEY (exec_id, number)\n"
    ");\n"
    "CREATE TABLE logs (\n"
    "    exec_id tarry_id NOT NULL REFERENCES executions (id) ON DELETE CASCADE\n"
    "        DEFERRABLE INITIALLY DEFERRED,\n"
    "    seq tarry_u32 NOT NULL,\n"
    "    logged_at timestamptz NOT NULL,\n"
    "    level tarry_log_level NOT NULL,\n"
    "    attempt tarry_u32 NOT NULL DEFAULT 0,\n"
    "    text text NOT NULL,\n"
    "    PRIMARY KEY (exec_id, seq)\n"
    ");\n"
    /* ---- keys, shared children, re-runs' originals live on executions ---- */
    /* store_idem_key()'s stored form, function and sha256(key), so a sweep deletes by it */
    "CREATE TABLE idempotency_keys (\n"
    "    function text COLLATE \"C\" NOT NULL,\n"
    "    key_hash bytea NOT NULL CHECK (octet_length(key_hash) = 32),\n"
    "    exec_id tarry_id NOT NULL REFERENCES executions (id) ON DELETE CASCADE\n"
    "        DEFERRABLE INITIALLY DEFERRED,\n"
    "    expires_at timestamptz NOT NULL,\n"
    "    PRIMARY KEY (function, key_hash)\n"
    ");\n"
    "CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);\n"
    "CREATE INDEX idempotency_keys_exec ON idempotency_keys (exec_id);\n"
    "CREATE TABLE callers (\n"
    "    child_id tarry_id NOT NULL REFERENCES executions (id) ON DELETE CASCADE\n"
    "        DEFERRABLE INITIALLY DEFERRED,\n"
    "    parent_id tarry_id NOT NULL,\n"
    "    seq tarry_u32 NOT NULL,\n"
    "    detached boolean NOT NULL DEFAULT false,\n"
    "    PRIMARY KEY (child_id, parent_id, seq)\n"
    ");\n"
    /* ---- functions: crash histories and cron marks ---- */
    "CREATE TABLE function_crash_histories (\n"
    "    function text PRIMARY KEY,\n"
    "    plugin_hash tarry_hash NOT NULL,\n"
    "    quarantined_at timestamptz,\n"
    "    reason text\n"
    ");\n"
    "CREATE TABLE function_crashes (\n"
    "    function text NOT NULL REFERENCES function_crash_histories (function) ON DELETE CASCADE,\n"
    "    crashed_at timestamptz NOT NULL,\n"
    "    exec_id tarry_id NOT NULL,\n"
    "    host_id tarry_host_id,\n"
    "    PRIMARY KEY (function, crashed_at, exec_id)\n"
    ");\n"
    "CREATE TABLE cron_marks (\n"
    "    function text PRIMARY KEY,\n"
    "    covered_until timestamptz NOT NULL,\n"
    "    expr text NOT NULL\n"
    ");\n"
    /* ---- failure notifications and their outbox ---- */
    "CREATE TABLE notifications (\n"
    "    exec_id tarry_id NOT NULL REFERENCES executions (id) ON DELETE CASCADE,\n"
    "    created_at timestamptz NOT NULL,\n"
    "    hook smallint NOT NULL CHECK (hook BETWEEN 0 AND 255),\n"
    "    state tarry_notify_state NOT NULL,\n"
    "    attempts tarry_u32 NOT NULL DEFAULT 0,\n"
    "    due_at timestamptz,\n"
    "    delivered_at timestamptz,\n"
    "    url text NOT NULL,\n"
    "    shown_url text NOT NULL,\n"
    "    body text NOT NULL,\n"
    "    last_error text,\n"
    "    claimed_by tarry_host_id REFERENCES hosts (id),\n"
    "    claimed_until timestamptz,\n"
    "    PRIMARY KEY (exec_id, created_at, hook)\n"
    ");\n"
    "CREATE INDEX notifications_outbox ON notifications (due_at, exec_id, created_at, hook)\n"
    "    WHERE state = 'pending';\n"
    /* ---- retention: what it has done (its rows are executions.expires_at) ---- */
    "CREATE TABLE retention (\n"
    "    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),\n"
    "    purged_before timestamptz,\n"
    "    deleted bigint NOT NULL DEFAULT 0 CHECK (deleted >= 0),\n"
    /* store_retention_build's mark: final executions written without expires_at have it now */
    "    built boolean NOT NULL DEFAULT false\n"
    ");\n"
    "INSERT INTO retention DEFAULT VALUES;\n";


/*
 * Migration 2: leases held by hosts, not by each execution. Migration 1
 * gave every execution a lease_expires_at, which a holder would have had to
 * renew row by row; instead a host's one row in `hosts` carries the lease
 * (lease_expires_at, renewed by its heartbeat) and an execution names its
 * holder (lease_owner) and how often it was claimed (lease_epoch). A host
 * whose lease ran out is declared stopped by whichever host beats next:
 * its row gets left_at and its executions are released to be claimed again.
 * Every batch a host commits starts with tarry_fence, which takes a KEY
 * SHARE lock on the host's row and fails once left_at is set; declaring a
 * host stopped takes FOR UPDATE on that row (SKIP LOCKED: not while one of
 * its batches is in flight), so a batch either commits before its host was
 * declared stopped or not at all: no late write of a stopped host lands.
 * A holder's write of an execution is conditional (store_pg_exec.c): it
 * holds the row, or the row is free and in the state the writer read;
 * otherwise tarry_conflict fails the batch with the execution's id.
 */
static const char schema_v2[] =
    "ALTER TABLE executions DROP COLUMN lease_expires_at;\n" /* its index and CHECK go with it */
    /* the host that last held it before it was released or taken over: a crash found after a
     * host died is that host's attempt, not the finder's (store_pg_journal.c) */
    "ALTER TABLE executions ADD COLUMN released_by tarry_host_id;\n"
    "CREATE INDEX executions_owner ON executions (lease_owner, state, id) WHERE lease_owner IS NOT NULL;\n"
    "CREATE INDEX executions_free ON executions (state, id) WHERE lease_owner IS NULL\n"
    "    AND state IN ('queued', 'running');\n"
    "ALTER TABLE hosts ADD COLUMN lease_ms integer NOT NULL DEFAULT 10000 CHECK (lease_ms > 0),\n"
    "    ADD COLUMN lease_expires_at timestamptz NOT NULL DEFAULT now() + interval '10 seconds',\n"
    "    ADD COLUMN left_reason text,\n"
    "    ADD COLUMN released bigint NOT NULL DEFAULT 0 CHECK (released >= 0),\n"
    /* what the host serves: its current plugin versions as a JSON array (store_batch_host_plugins) */
    "    ADD COLUMN plugins text;\n"
    "CREATE FUNCTION tarry_fence(me text) RETURNS void LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    PERFORM 1 FROM hosts WHERE id = me AND left_at IS NULL FOR KEY SHARE;\n"
    "    IF NOT FOUND THEN\n"
    "        RAISE EXCEPTION 'host % was declared stopped by another host (its lease ran out); its '\n"
    "            'executions were released to the others', me USING ERRCODE = 'TRF01';\n"
    "    END IF;\n"
    "END $$;\n"
    "CREATE FUNCTION tarry_conflict(exec text) RETURNS void LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    RAISE EXCEPTION 'execution % is held by another host, or changed since this host read it', exec\n"
    "        USING ERRCODE = 'TRC01', DETAIL = exec;\n"
    "END $$;\n"
    /* h stops holding anything: its row says why, its executions are free, the others hear it */
    "CREATE FUNCTION tarry_host_release(h text, reason text) RETURNS bigint LANGUAGE plpgsql AS $$\n"
    "DECLARE n bigint;\n"
    "BEGIN\n"
    "    UPDATE hosts SET left_at = coalesce(left_at, now()), left_reason = coalesce(left_reason, reason)\n"
    "        WHERE id = h;\n"
    "    UPDATE executions SET released_by = h, lease_owner = NULL WHERE lease_owner = h;\n"
    "    GET DIAGNOSTICS n = ROW_COUNT;\n"
    "    UPDATE hosts SET released = released + n WHERE id = h;\n"
    "    PERFORM pg_notify('tarry', 'w' || h);\n"
    "    RETURN n;\n"
    "END $$;\n"
    /* a heartbeat: renew h's lease; declare stopped the hosts whose lease ran out */
    "CREATE FUNCTION tarry_beat(h text, OUT alive boolean, OUT reaped integer) LANGUAGE plpgsql AS $$\n"
    "DECLARE d record; mine timestamptz;\n"
    "BEGIN\n"
    "    SELECT heartbeat_at INTO mine FROM hosts WHERE id = h;\n"
    "    UPDATE hosts SET heartbeat_at = now(), lease_expires_at = now() + make_interval(secs => lease_ms / 1000.0)\n"
    "        WHERE id = h AND left_at IS NULL;\n"
    "    alive := FOUND;\n"
    "    reaped := 0;\n"
    /* only a lease that ran out while this host was beating: after the database itself was
     * away, every lease has run out, and the hosts are given one beat to renew theirs */
    "    FOR d IN SELECT id, heartbeat_at FROM hosts WHERE left_at IS NULL AND lease_expires_at < now()\n"
    "            AND alive AND lease_expires_at < mine\n"
    "            ORDER BY id FOR UPDATE SKIP LOCKED LOOP\n"
    "        PERFORM tarry_host_release(d.id, 'its lease ran out (last heartbeat ' || d.heartbeat_at\n"
    "            || '); declared stopped by host ' || h);\n"
    "        reaped := reaped + 1;\n"
    "    END LOOP;\n"
    "END $$;\n"
    /* a host joins, taking over what its folder's previous engine (prev) held once that engine's
     * last batch has ended (its fence's lock), waiting at most 30 s for it */
    "CREATE FUNCTION tarry_host_join(h text, hostname text, pid integer, address text, workers integer,\n"
    "        lease_ms integer, prev text) RETURNS bigint LANGUAGE plpgsql AS $$\n"
    "DECLARE n bigint := 0;\n"
    "BEGIN\n"
    "    INSERT INTO hosts (id, hostname, pid, address, workers, lease_ms, lease_expires_at)\n"
    "        VALUES (h, hostname, pid, address, workers, lease_ms, now() + make_interval(secs => lease_ms / 1000.0));\n"
    "    IF prev IS NOT NULL THEN\n"
    "        PERFORM set_config('lock_timeout', '30s', true);\n"
    "        PERFORM 1 FROM hosts WHERE id = prev FOR UPDATE;\n"
    "        UPDATE hosts SET left_at = coalesce(left_at, now()),\n"
    "            left_reason = coalesce(left_reason, 'its engine stopped and started again as host ' || h)\n"
    "            WHERE id = prev;\n"
    "        UPDATE executions SET released_by = prev, lease_owner = h, lease_epoch = lease_epoch + 1\n"
    "            WHERE lease_owner = prev;\n"
    "        GET DIAGNOSTICS n = ROW_COUNT;\n"
    "        UPDATE hosts SET released = released + n WHERE id = prev;\n"
    "    END IF;\n"
    "    RETURN n;\n"
    "END $$;\n"
    /* host me claims up to lim free executions: queued, running (orphans) or due by `due` */
    "CREATE FUNCTION tarry_claim(me text, what text, lim integer, due timestamptz) RETURNS integer\n"
    "        LANGUAGE plpgsql AS $$\n"
    "DECLARE n integer;\n"
    "BEGIN\n"
    "    PERFORM tarry_fence(me);\n"
    "    IF what = 'due' THEN\n"
    "        UPDATE executions SET lease_owner = me, lease_epoch = lease_epoch + 1 WHERE lease_owner IS NULL\n"
    "            AND id IN (SELECT id FROM executions WHERE due_at <= due AND lease_owner IS NULL\n"
    "                ORDER BY due_at, id LIMIT lim FOR UPDATE SKIP LOCKED);\n"
    "    ELSIF what = 'running' THEN\n"
    "        UPDATE executions SET lease_owner = me, lease_epoch = lease_epoch + 1 WHERE lease_owner IS NULL\n"
    "            AND id IN (SELECT id FROM executions WHERE state = 'running' AND lease_owner IS NULL\n"
    "                ORDER BY id LIMIT lim FOR UPDATE SKIP LOCKED);\n"
    "    ELSE\n"
    "        UPDATE executions SET lease_owner = me, lease_epoch = lease_epoch + 1 WHERE lease_owner IS NULL\n"
    "            AND id IN (SELECT id FROM executions WHERE state = 'queued' AND lease_owner IS NULL\n"
    "                ORDER BY id LIMIT lim FOR UPDATE SKIP LOCKED);\n"
    "    END IF;\n"
    "    GET DIAGNOSTICS n = ROW_COUNT;\n"
    "    RETURN n;\n"
    "END $$;\n";

/*
 * Migration 3: a claim takes at most `lim` rows. Migration 2's tarry_claim chose its rows in an
 * `id IN (SELECT ... LIMIT lim FOR UPDATE SKIP LOCKED)` that the planner may rescan once per row
 * of the UPDATE (a nested-loop semi-join): each rescan skipped the rows the statement had just
 * taken and returned the next ones, so a claim of 5 took every free row. The rows are chosen
 * once now, in a materialized CTE; everything else is as it was.
 */
static const char schema_v3[] =
    "CREATE OR REPLACE FUNCTION tarry_claim(me text, what text, lim integer, due timestamptz) RETURNS integer\n"
    "        LANGUAGE plpgsql AS $$\n"
    "DECLARE n integer;\n"
    "BEGIN\n"
    "    PERFORM tarry_fence(me);\n"
    "    IF what = 'due' THEN\n"
    "        WITH c AS MATERIALIZED (SELECT id FROM executions WHERE due_at <= due AND lease_owner IS NULL\n"
    "                ORDER BY due_at, id LIMIT lim FOR UPDATE SKIP LOCKED)\n"
    "            UPDATE executions e SET lease_owner = me, lease_epoch = e.lease_epoch + 1 FROM c\n"
    "            WHERE e.id = c.id AND e.lease_owner IS NULL;\n"
    "    ELSIF what = 'running' THEN\n"
    "        WITH c AS MATERIALIZED (SELECT id FROM executions WHERE state = 'running' AND lease_owner IS NULL\n"
    "                ORDER BY id LIMIT lim FOR UPDATE SKIP LOCKED)\n"
    "            UPDATE executions e SET lease_owner = me, lease_epoch = e.lease_epoch + 1 FROM c\n"
    "            WHERE e.id = c.id AND e.lease_owner IS NULL;\n"
    "    ELSE\n"
    "        WITH c AS MATERIALIZED (SELECT id FROM executions WHERE state = 'queued' AND lease_owner IS NULL\n"
    "                ORDER BY id LIMIT lim FOR UPDATE SKIP LOCKED)\n"
    "            UPDATE executions e SET lease_owner = me, lease_epoch = e.lease_epoch + 1 FROM c\n"
    "            WHERE e.id = c.id AND e.lease_owner IS NULL;\n"
    "    END IF;\n"
    "    GET DIAGNOSTICS n = ROW_COUNT;\n"
    "    RETURN n;\n"
    "END $$;\n";

static const pg_migration migrations[] = {
    {1,
     "the whole store: executions, journal, attempts, logs, keys, timers, notifications, hosts, leases, "
     "plugin versions",
     schema_v1},
    {2, "leases held by hosts: heartbeats, fencing, claims", schema_v2},
    {3, "a claim takes at most the rows it asks for", schema_v3},
};

#define MIGRATION_COUNT (sizeof migrations / sizeof migrations[0])

int pg_schema_latest(void)
{
    return migrations[MIGRATION_COUNT - 1].version;
}

/* Made in each migration's transaction, under the lock: the first migrate of a database makes it. */
static const char schema_table[] = "CREATE TABLE IF NOT EXISTS tarry_schema (\n"
                                   "    version integer PRIMARY KEY CHECK (version >= 1),\n"
                                   "    description text NOT NULL,\n"
                                   "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
                                   "    applied_by_host text NOT NULL,\n"
                                   "    applied_by_pid integer NOT NULL\n"
                                   ")";

/* The version recorded in tarry_schema (which exists: the caller made it), or 0. */
static int version_read(pg_db *db, int *version, char *err, size_t errlen)
{
    PGresult *r;
    int rc = pg_run(db, "reading the schema version", "SELECT coalesce(max(version), 0) FROM tarry_schema",
                    PGRES_TUPLES_OK, &r, err, errlen);
    if (rc)
        return rc;
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static void rollback(pg_db *db)
{
    PQclear(PQexec(db->conn, "ROLLBACK"));
}

static void newer_error(pg_db *db, int version, char *err, size_t errlen)
{
    char why[160];
    snprintf(why, sizeof why,
             "database schema is at version %d; this tarry knows versions up to %d: run a newer tarry",
             version, pg_schema_latest());
    pg_error(db, "checking the schema", why, err, errlen);
}

/*
 * One transaction: take the lock, read the version, apply every missing migration in order and
 * record each. All or none: a database is never left between two versions, and of hosts that
 * start together the first applies them all while the others wait on the lock and find nothing.
 */
int pg_schema_migrate(pg_db *db, pg_schema_applied_cb applied, void *user, int *version, char *err,
                      size_t errlen)
{
    char step[128], host[256] = "", pid[24];
    int rc, from;

    *version = 0;
    if ((rc = pg_run(db, "starting a migration", "BEGIN", PGRES_COMMAND_OK, NULL, err, errlen)) != 0)
        return rc;
    /* IF NOT EXISTS and the migrations' own notices are nothing an operator must read. */
    if ((rc = pg_run(db, "starting a migration", "SET LOCAL client_min_messages = warning", PGRES_COMMAND_OK,
                     NULL, err, errlen)) != 0 ||
        (rc =
             pg_run(db, "waiting for the schema lock", "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK_KEY ")",
                    PGRES_TUPLES_OK, NULL, err, errlen)) != 0 ||
        (rc = pg_run(db, "creating tarry_schema", schema_table, PGRES_COMMAND_OK, NULL, err, errlen)) != 0 ||
        (rc = version_read(db, version, err, errlen)) != 0)
        goto fail;
    if (*version > pg_schema_latest()) {
        newer_error(db, *version, err, errlen);
        rc = TARRY_ERANGE;
        goto fail;
    }
    if (*version == pg_schema_latest()) {
        rollback(db); /* nothing to write (an empty tarry_schema made just now is not needed yet) */
        return 0;
    }
    gethostname(host, sizeof host - 1);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    from = *version;
    for (int v = from; v < pg_schema_latest(); v++) {
        const pg_migration *m = &migrations[v]; /* version N is migrations[N - 1] */
        char vtext[16];
        const char *params[] = {vtext, m->description, host, pid};

        snprintf(step, sizeof step, "applying schema version %d", m->version);
        if ((rc = pg_run(db, step, m->sql, PGRES_COMMAND_OK, NULL, err, errlen)) != 0)
            goto fail;
        snprintf(vtext, sizeof vtext, "%d", m->version);
        snprintf(step, sizeof step, "recording schema version %d", m->version);
        if ((rc = pg_run_params(
                 db, step,
                 "INSERT INTO tarry_schema (version, description, applied_by_host, applied_by_pid) "
                 "VALUES ($1, $2, $3, $4)",
                 4, params, PGRES_COMMAND_OK, NULL, err, errlen)) != 0)
            goto fail;
    }
    snprintf(step, sizeof step, "committing schema versions %d to %d", from + 1, pg_schema_latest());
    if ((rc = pg_run(db, step, "COMMIT", PGRES_COMMAND_OK, NULL, err, errlen)) != 0)
        return rc; /* a failed COMMIT has ended the transaction */
    *version = pg_schema_latest();
    for (int v = from; v < pg_schema_latest() && applied; v++)
        applied(user, &migrations[v]);
    return 0;
fail:
    rollback(db);
    return rc;
}
