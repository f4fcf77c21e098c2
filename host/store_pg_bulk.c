/*
 * store_pg_bulk.c - a batch's rows sent as few statements: how the
 * statements a batch appended become the queries of its pipeline
 * (pgs_plan), and rows of text values as the text[] arrays one statement
 * takes (pgs_arrays).
 *
 * Why: a batch of W1 writes each execution two or three times (queued,
 * final, its expiry) and an attempt, and one statement per write cost the
 * server about 80 us of executor start (a generated column's and the
 * CHECKs' expressions are read again for every statement), more than the
 * row itself. One statement per group of rows pays that once. Four kinds of
 * rows are grouped: executions (store_pg_exec.c's pgs_exec_write),
 * attempts and journal entries (store_pg_journal.c's pgs_attempt_write,
 * pgs_journal_write), and releases of queued executions to the other
 * hosts (store_pg_hosts.c's pgs_release_write); a batch keeps each write
 * as a statement of that SQL with one row's values as parameters.
 *
 * Grouping keeps what the statements in order would have left: a group
 * stands at its first row's place, and a later write joins it when nothing
 * appended since could see the difference. Writes of one row (the same
 * execution, attempt or journal entry) merge into one: its latest values, and for
 * an execution the state the first write expected and whether any of them
 * left it held; an execution's expiry written after them folds into its
 * row. Rows only move earlier, which a statement of another table cannot
 * tell (references to executions are checked at COMMIT, or, for metadata
 * and notifications, only ever follow the write). A statement that reads or
 * deletes such rows itself closes groups: a purge every group, an expiry
 * for an execution not in the open group that group, a journal entry's
 * deletion the journal's; and a release and a write of executions close
 * each other's group; what follows goes in a new group after it.
 *
 * May not: send anything (store_pg.c's pipeline does), or change what a
 * batch holds.
 */
#include "store_pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

#define GROUP_ROWS_MAX 1000         /* rows per statement */
#define GROUP_BYTES_MAX (64u << 20) /* bytes of values per statement: far below a field's 1 GB */
#define NONE SIZE_MAX

/* The grouped kinds: a row's leading `keys` values name it; `params` counts the statement's
 * parameters, its `cols` arrays and then, for executions, the writing host. */
static const struct bulk_kind {
    const char *sql;
    int keys, cols, params;
} kinds[PGS_BULK_KINDS] = {
    {pgs_exec_write, 1, PGS_EXEC_ROW, PGS_EXEC_ROW + 1},
    {pgs_attempt_write, 2, PGS_ATTEMPT_ROW, PGS_ATTEMPT_ROW},
    {pgs_journal_write, 2, PGS_JOURNAL_ROW, PGS_JOURNAL_ROW},
    {pgs_release_write, 1, 1, 2},
};

/* The kind whose statement sql is, or -1. */
static int kind_of(const char *sql)
{
    for (int k = 0; k < PGS_BULK_KINDS; k++)
        if (kinds[k].sql == sql)
            return k;
    return -1;
}

int pgs_bulk_params(int kind)
{
    return kinds[kind].params;
}

/* After a kind's arrays in values[], the parameters its statement has besides: the writing host
 * (NULL: a tool, which writes as before there were hosts). */
static void add_host(const struct bulk_kind *k, const struct pg_store *st, const char **values)
{
    if (k->params > k->cols)
        values[k->cols] = st->host_id[0] ? st->host_id : NULL;
}

static const char *param(const struct pg_batch *b, size_t stmt, int j)
{
    size_t at = b->params[b->stmts[stmt].param0 + (size_t)j];

    return at == PGS_PARAM_NULL ? NULL : b->arena + at;
}

/* ---- the open groups' rows ----------------------------------------------------------------- */

/* Open addressing over the batch's writes of one kind; a slot belongs to the kind's open group
 * only while its group number is that group's, so closing a group clears nothing. */
typedef struct row_slot {
    size_t group; /* 1-based group number; 0: never used */
    size_t row;
} row_slot;

typedef struct row_table {
    row_slot *slots;
    size_t mask;
} row_table;

static size_t key_hash(const struct pg_batch *b, size_t stmt, int keys)
{
    size_t h = 14695981039346656037u; /* FNV-1a */

    for (int j = 0; j < keys; j++)
        for (const char *c = param(b, stmt, j); c && *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211u;
    return h;
}

static bool same_key(const struct pg_batch *b, size_t x, size_t y, int keys)
{
    for (int j = 0; j < keys; j++) {
        const char *u = param(b, x, j), *v = param(b, y, j);
        if (!u || !v || strcmp(u, v) != 0)
            return false;
    }
    return true;
}

/* Group `group`'s row written by statement stmt (found), or the slot it goes in. */
static row_slot *row_find(const row_table *t, const struct pg_batch *b, const pgs_plan *p, size_t group,
                          size_t stmt, int keys, bool *found)
{
    for (size_t i = key_hash(b, stmt, keys) & t->mask;; i = (i + 1) & t->mask) {
        row_slot *s = &t->slots[i];
        if (s->group != group) {
            *found = false;
            return s;
        }
        if (same_key(b, p->rows[s->row].first, stmt, keys)) {
            *found = true;
            return s;
        }
    }
}

/* ---- rows as arrays ------------------------------------------------------------------------ */

/* Bytes of v as a quoted element of an array literal ("...", with \ before " and \), or NULL. */
static size_t element_len(const char *v)
{
    size_t n = 2;

    if (!v)
        return 4;
    for (const char *c = v; *c; c++)
        n += (*c == '"' || *c == '\\') ? 2 : 1;
    return n;
}

static char *element_put(char *at, const char *v)
{
    if (!v)
        return memcpy(at, "NULL", 4), at + 4;
    *at++ = '"';
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\')
            *at++ = '\\';
        *at++ = *c;
    }
    *at++ = '"';
    return at;
}

int pgs_arrays(size_t nrows, int ncols, pgs_cell_fn cell, const void *rows, const char **values, char **buf)
{
    size_t total = 0;
    char *at;

    for (int j = 0; j < ncols; j++) {
        total += 3; /* { } and the NUL */
        for (size_t r = 0; r < nrows; r++)
            total += element_len(cell(rows, r, j)) + 1;
    }
    if (!(*buf = malloc(total))) {
        store_set_error("out of memory writing a batch's rows");
        return TARRY_ENOMEM;
    }
    at = *buf;
    for (int j = 0; j < ncols; j++) {
        values[j] = at;
        *at++ = '{';
        for (size_t r = 0; r < nrows; r++) {
            if (r)
                *at++ = ',';
            at = element_put(at, cell(rows, r, j));
        }
        *at++ = '}';
        *at++ = '\0';
    }
    return 0;
}

static const char *one_cell(const void *rows, size_t r, int col)
{
    (void)r;
    return ((const char *const *)rows)[col];
}

int pgs_bulk_write_one(struct pg_txn *t, const char *what, const char *sql, const char *const *row)
{
    struct pg_store *st = (struct pg_store *)t->base.st;
    const struct bulk_kind *k = &kinds[kind_of(sql)];
    const char *values[PGS_BULK_PARAMS_MAX];
    char *buf;
    int rc;

    if ((rc = pgs_arrays(1, k->cols, one_cell, row, values, &buf)) != 0)
        return rc;
    add_host(k, st, values);
    rc = pgs_query(t, what, sql, k->params, values, NULL);
    free(buf);
    return rc;
}

/* A group's cell: the latest write's values; for an execution, the state its first write
 * expected and the merged rest. */
typedef struct group_rows {
    const struct pg_batch *b;
    const pgs_row *rows;
    bool exec;
} group_rows;

static const char *group_cell(const void *ctx, size_t r, int col)
{
    const group_rows *g = ctx;
    const pgs_row *row = &g->rows[r];

    if (!g->exec)
        return param(g->b, row->last, col);
    switch (col) {
    case PGS_ROW_PREV:
        return param(g->b, row->first, col);
    case PGS_ROW_HOLDS:
        return row->holds ? "t" : "f";
    case PGS_ROW_EXPIRES:
        return row->expires == PGS_PARAM_NULL ? param(g->b, row->last, col) : g->b->arena + row->expires;
    default:
        return param(g->b, row->last, col);
    }
}

/* ---- the plan ------------------------------------------------------------------------------ */

/* Every group's parameters, made before anything is sent. 0, or TARRY_ENOMEM with p freed. */
static int encode(const struct pg_batch *b, pgs_plan *p)
{
    size_t groups = 0;

    for (size_t i = 0; i < p->nsends; i++)
        groups += p->sends[i].nrows > 0;
    if (groups && !(p->bufs = calloc(groups, sizeof *p->bufs))) {
        pgs_plan_free(p);
        store_set_error("out of memory writing a batch's rows");
        return TARRY_ENOMEM;
    }
    for (size_t i = 0; i < p->nsends; i++) {
        pgs_send *s = &p->sends[i];
        group_rows g = {b, p->rows + s->row0, s->kind == PGS_BULK_EXEC};
        int rc;
        if (!s->nrows)
            continue;
        if ((rc = pgs_arrays(s->nrows, kinds[s->kind].cols, group_cell, &g, s->arrays, &p->bufs[p->nbufs])) !=
            0) {
            pgs_plan_free(p);
            return rc;
        }
        p->nbufs++;
        add_host(&kinds[s->kind], b->st, s->arrays);
    }
    return 0;
}

static int add_send(pgs_plan *p, size_t stmt, int kind, size_t *cap)
{
    if (p->nsends == *cap) {
        size_t want = *cap ? *cap * 2 : 64;
        pgs_send *grown = realloc(p->sends, want * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        p->sends = grown;
        *cap = want;
    }
    p->sends[p->nsends++] = (pgs_send){.stmt = stmt, .kind = kind};
    return 0;
}

static size_t stmt_bytes(const struct pg_batch *b, size_t stmt)
{
    size_t n = 0;

    for (int j = 0; j < b->stmts[stmt].n; j++) {
        const char *v = param(b, stmt, j);
        n += v ? strlen(v) : 0;
    }
    return n;
}

/* The open groups while planning: each kind's send (an index: sends grow), its number, its bytes. */
typedef struct planner {
    const struct pg_batch *b;
    pgs_plan *p;
    row_table rows[PGS_BULK_KINDS];
    size_t cap, groups;
    size_t open[PGS_BULK_KINDS], number[PGS_BULK_KINDS], bytes[PGS_BULK_KINDS];
} planner;

/* Statement i, a write of kind k: merged into its row of the open group, or a new row. */
static int plan_row(planner *pl, size_t i, int k)
{
    const struct pg_batch *b = pl->b;
    pgs_plan *p = pl->p;
    bool found = false, holds = k == PGS_BULK_EXEC && strcmp(param(b, i, PGS_ROW_HOLDS), "t") == 0;
    row_slot *slot = NULL;
    int rc;

    /* a release frees a row a later write may take again, a write makes one a later release frees:
     * neither may move before the other */
    if (k == PGS_BULK_EXEC)
        pl->open[PGS_BULK_RELEASE] = NONE;
    if (k == PGS_BULK_RELEASE)
        pl->open[PGS_BULK_EXEC] = NONE;
    if (pl->open[k] != NONE)
        slot = row_find(&pl->rows[k], b, p, pl->number[k], i, kinds[k].keys, &found);
    if (found) {
        pgs_row *row = &p->rows[slot->row];
        row->last = i;
        row->holds = row->holds || holds;
        pl->bytes[k] += stmt_bytes(b, i);
        return 0;
    }
    if (pl->open[k] != NONE &&
        (p->sends[pl->open[k]].nrows == GROUP_ROWS_MAX || pl->bytes[k] > GROUP_BYTES_MAX))
        pl->open[k] = NONE;
    if (pl->open[k] == NONE) {
        if ((rc = add_send(p, i, k, &pl->cap)) != 0)
            return rc;
        pl->open[k] = p->nsends - 1;
        pl->number[k] = ++pl->groups;
        pl->bytes[k] = 0;
        slot = row_find(&pl->rows[k], b, p, pl->number[k], i, kinds[k].keys, &found);
    }
    p->rows[p->nrows] =
        (pgs_row){.first = i, .last = i, .expires = PGS_PARAM_NULL, .send = pl->open[k], .holds = holds};
    *slot = (row_slot){.group = pl->number[k], .row = p->nrows++};
    p->sends[pl->open[k]].nrows++;
    pl->bytes[k] += stmt_bytes(b, i);
    return 0;
}

/* Statement i, not a grouped write: an expiry folded into its execution's row, or sent alone. */
static int plan_other(planner *pl, size_t i)
{
    const struct pg_batch *b = pl->b;
    const char *sql = b->stmts[i].sql;

    if (sql == pgs_retention_put_sql && pl->open[PGS_BULK_EXEC] != NONE) {
        bool found;
        row_slot *slot =
            row_find(&pl->rows[PGS_BULK_EXEC], b, pl->p, pl->number[PGS_BULK_EXEC], i, 1, &found);
        if (found) {
            pl->p->rows[slot->row].expires = b->params[b->stmts[i].param0 + 1];
            return 0;
        }
    }
    /* it updates an execution a group would otherwise write after it; a purge deletes attempts and
     * journals too, and an entry deleted may be written again after */
    if (sql == pgs_retention_put_sql || sql == pgs_exec_purge_sql || sql == pgs_cancel_request_sql)
        pl->open[PGS_BULK_EXEC] = NONE;
    if (sql == pgs_exec_purge_sql)
        pl->open[PGS_BULK_ATTEMPT] = pl->open[PGS_BULK_JOURNAL] = NONE;
    if (sql == pgs_journal_del_sql)
        pl->open[PGS_BULK_JOURNAL] = NONE;
    return add_send(pl->p, i, -1, &pl->cap);
}

/* Each group's rows together, in the order they were added: groups of two kinds fill at once. */
static int gather(pgs_plan *p)
{
    pgs_row *sorted;
    size_t at = 0;

    if (!p->nrows)
        return 0;
    if (!(sorted = malloc(p->nrows * sizeof *sorted)))
        return TARRY_ENOMEM;
    for (size_t i = 0; i < p->nsends; i++) {
        p->sends[i].row0 = at;
        at += p->sends[i].nrows;
        p->sends[i].nrows = 0;
    }
    for (size_t r = 0; r < p->nrows; r++) {
        pgs_send *s = &p->sends[p->rows[r].send];
        sorted[s->row0 + s->nrows++] = p->rows[r];
    }
    free(p->rows);
    p->rows = sorted;
    return 0;
}

static void planner_free(planner *pl)
{
    for (int k = 0; k < PGS_BULK_KINDS; k++) {
        free(pl->rows[k].slots);
        pl->rows[k].slots = NULL;
    }
}

int pgs_plan_make(const struct pg_batch *b, pgs_plan *p)
{
    size_t writes[PGS_BULK_KINDS] = {0}, all = 0;
    planner pl = {.b = b, .p = p};
    int rc = TARRY_ENOMEM;

    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < b->nstmts; i++) {
        int k = kind_of(b->stmts[i].sql);
        if (k >= 0)
            writes[k]++, all++;
    }
    if (all && !(p->rows = malloc(all * sizeof *p->rows)))
        goto fail;
    for (int k = 0; k < PGS_BULK_KINDS; k++) {
        size_t slots = 16;
        while (slots < 2 * writes[k])
            slots *= 2;
        if (!(pl.rows[k].slots = calloc(slots, sizeof *pl.rows[k].slots)))
            goto fail;
        pl.rows[k].mask = slots - 1;
        pl.open[k] = NONE;
    }
    for (size_t i = 0; i < b->nstmts; i++) {
        int k = kind_of(b->stmts[i].sql);
        if ((rc = k >= 0 ? plan_row(&pl, i, k) : plan_other(&pl, i)) != 0)
            goto fail;
    }
    planner_free(&pl);
    if ((rc = gather(p)) != 0)
        goto fail;
    return encode(b, p);
fail:
    planner_free(&pl);
    pgs_plan_free(p);
    store_set_error("out of memory grouping a batch's rows");
    return rc;
}

void pgs_plan_free(pgs_plan *p)
{
    for (size_t i = 0; i < p->nbufs; i++)
        free(p->bufs[i]);
    free(p->bufs);
    free(p->sends);
    free(p->rows);
    memset(p, 0, sizeof *p);
}
