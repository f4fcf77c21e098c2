/*
 * engine_share.c - children shared by idempotency key: a tarry_call whose key
 * names a child another call made (from any parent) waits for that child
 * like for its own, and gets the same outcome when it ends.
 *
 * A child's own parent is in its record (parent_id, parent_seq). Any other
 * call that names it by key is a link (child, parent, seq), kept in the
 * store's `callers` database. A link is in one of two places, or both:
 *   - from the pass that made the call until the batch that writes its call
 *     entry commits, on the calling exec (x->links; an exec with links is on
 *     e->sharing). Every batch of that exec writes all of them (a put is
 *     idempotent); the commit drops the ones it wrote (they are in the store
 *     now). A failed batch keeps them: the exec, a stored one, is tried again
 *     with them. An exec the failure rejects (never stored) takes its links
 *     along;
 *   - from that commit on, in `callers`, until the child's end deletes it.
 *
 * When the child ends (engine_settle_child), its callers are read from both
 * places (a link may be in both between its commit and the loop's callback:
 * counted once), each parent is woken the way a child's own parent is
 * (engine_wake_parent), and the outcome goes into each caller's call entry
 * in the batch that holds the child's final state, which also deletes the
 * stored links. Detached calls are linked too (their entry gets the outcome,
 * as a detached own child's does) but wake nobody.
 *
 * No link is missed. A link is made on the loop thread, only for a child
 * that is not final: one final in memory (not committed, or not freed yet)
 * or in the store settles the call at once from its outcome. From then on
 * the link is on its exec until its commit puts it in the store, and a
 * child turns final only on the loop thread (a pass's end, a cancel, a
 * discard: all of them load the child into memory first, after the turn
 * that made the link), where engine_settle_child reads both places. So a
 * child that ends after the link is made finds it, whether it ends in the
 * batch that writes the link, the one after, or after a restart (the link is
 * in the store then, durable with the call entry that waits).
 *
 * Order within a batch: the outcomes are written after every exec's own
 * writes (engine_batch.c), so a caller's own pending call entry in the same
 * batch never overwrites the outcome.
 *
 * A child refused by a failed commit (never stored: new work, or the child
 * of new work) fails the calls that share it, with that reason; their
 * parents are woken once the failed batch is put back.
 *
 * May not: write the store directly, block the loop thread beyond one read.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

struct share_link {
    exec_id child;
    uint32_t seq;
    bool detached;
    bool refused;    /* the child was refused by a failed commit: the call fails */
    bool woken;      /* ... and its parent was woken for it */
    char *name;      /* refused: the child's function, for the entry (owned) */
    int64_t started; /* refused: when the child was made */
};

static const char REFUSED[] = "the child was refused by a failed commit: it was never stored";

/* ---- links on their calling exec --------------------------------------------------- */

int engine_share_link(engine *e, exec *x, const exec_id *child, uint32_t seq, bool detached)
{
    share_link *l;

    if (x->link_count == x->link_cap) {
        size_t cap = x->link_cap ? x->link_cap * 2 : 4;
        share_link *grown = realloc(x->links, cap * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        x->links = grown;
        x->link_cap = cap;
    }
    l = &x->links[x->link_count++];
    memset(l, 0, sizeof *l);
    l->child = *child;
    l->seq = seq;
    l->detached = detached;
    if (!list_linked(&x->share_node))
        list_push_back(&e->sharing, &x->share_node);
    return 0;
}

/* Drop x's first n links (written by a batch that committed). */
static void drop_links(exec *x, size_t n)
{
    if (n > x->link_count)
        n = x->link_count;
    if (n == 0)
        return; /* x->links may be NULL: no arithmetic on it */
    for (size_t i = 0; i < n; i++)
        free(x->links[i].name);
    memmove(x->links, x->links + n, (x->link_count - n) * sizeof *x->links);
    x->link_count -= n;
    if (!x->link_count)
        list_unlink(&x->share_node);
}

void engine_share_committed(engine *e, exec *x, size_t links_written)
{
    (void)e;
    if (links_written)
        drop_links(x, links_written);
}

void engine_share_forget(engine *e, exec *x)
{
    (void)e;
    drop_links(x, x->link_count);
    free(x->links);
    x->links = NULL;
    x->link_cap = 0;
    free(x->callers);
    x->callers = NULL;
    x->caller_count = 0;
    x->settle_callers = false;
}

/* ---- a child's end -------------------------------------------------------------------- */

typedef struct collect {
    store_caller *c;
    size_t n, cap;
    int error;
} collect;

static int collect_add(void *user, const store_caller *c)
{
    collect *co = user;

    for (size_t i = 0; i < co->n; i++)
        if (co->c[i].seq == c->seq && memcmp(&co->c[i].parent, &c->parent, sizeof c->parent) == 0)
            return 0; /* committed, and still on its exec until the loop hears of the commit */
    if (co->n == co->cap) {
        size_t cap = co->cap ? co->cap * 2 : 8;
        store_caller *grown = realloc(co->c, cap * sizeof *grown);
        if (!grown)
            return co->error = TARRY_ENOMEM;
        co->c = grown;
        co->cap = cap;
    }
    co->c[co->n++] = *c;
    return 0;
}

void engine_share_child_final(engine *e, exec *child)
{
    collect co = {0};
    store_txn *txn;
    int rc;

    if (!child->rec.idempotency_key)
        return; /* only a key names an execution to other callers: nothing to read */
    if ((rc = store_txn_begin(e->st, false, &txn)) == 0) {
        rc = store_callers_scan(txn, &child->rec.id, collect_add, &co);
        store_txn_abort(txn);
    }
    for (list_node *n = e->sharing.next; rc == 0 && n != &e->sharing; n = n->next) {
        exec *p = list_entry(n, exec, share_node);
        for (size_t i = 0; rc == 0 && i < p->link_count; i++) {
            const share_link *l = &p->links[i];
            if (l->refused || memcmp(&l->child, &child->rec.id, sizeof l->child) != 0)
                continue;
            store_caller c = {p->rec.id, l->seq, l->detached};
            rc = collect_add(&co, &c);
        }
    }
    if (rc != 0) {
        char id[ID_TEXT_LEN + 1];
        id_format(&child->rec.id, id);
        /* The calls that share it stay pending; a cancel of their parents still ends them. */
        hlog(HLOG_ERROR,
             "execution %s ended, but the calls sharing it by idempotency key cannot be read: %s (%s)", id,
             status_str(rc), store_last_error(e->st));
    }
    free(child->callers);
    child->callers = co.c;
    child->caller_count = co.n;
    child->settle_callers = co.n > 0;
    for (size_t i = 0; i < co.n; i++)
        if (!co.c[i].detached)
            engine_wake_parent(e, &co.c[i].parent);
}

void engine_share_child_refused(engine *e, const exec *child)
{
    for (list_node *n = e->sharing.next; n != &e->sharing; n = n->next) {
        exec *p = list_entry(n, exec, share_node);
        for (size_t i = 0; i < p->link_count; i++) {
            share_link *l = &p->links[i];
            if (l->refused || memcmp(&l->child, &child->rec.id, sizeof l->child) != 0)
                continue;
            l->refused = true;
            l->name = strdup(child->rec.function);
            l->started = child->rec.created_at;
        }
    }
}

void engine_share_wake_refused(engine *e)
{
    for (list_node *n = e->sharing.next, *next; n != &e->sharing; n = next) {
        exec *p = list_entry(n, exec, share_node);
        bool wake = false;
        next = n->next;
        for (size_t i = 0; i < p->link_count; i++)
            if (p->links[i].refused && !p->links[i].woken) {
                p->links[i].woken = true;
                wake = wake || !p->links[i].detached;
            }
        if (wake)
            engine_wake_parent(e, &p->rec.id);
    }
}

/* ---- into batches ------------------------------------------------------------------------ */

void engine_outcome_entry(journal_entry *j, const exec *child, uint32_t seq, bool detached)
{
    memset(j, 0, sizeof *j);
    j->seq = seq;
    j->kind = JOURNAL_CALL;
    j->status = child->rec.state == EXEC_SUCCEEDED   ? JOURNAL_SUCCEEDED
                : child->rec.state == EXEC_CANCELLED ? JOURNAL_CANCELLED
                                                     : JOURNAL_FAILED;
    j->detached = detached;
    j->started_at = child->rec.created_at;
    j->finished_at = child->rec.finished_at;
    j->child = child->rec.id;
    j->name = child->rec.function;
    j->value = j->status == JOURNAL_SUCCEEDED ? child->rec.result : NULL;
    j->error = j->status == JOURNAL_SUCCEEDED ? NULL : child->rec.error;
}

int engine_share_batch_links(store_batch *b, const exec *x, size_t *written)
{
    int rc = 0;

    *written = x->link_count;
    for (size_t i = 0; rc == 0 && i < x->link_count; i++) {
        const share_link *l = &x->links[i];
        store_caller c = {x->rec.id, l->seq, l->detached};
        if (!l->refused)
            rc = store_batch_caller_put(b, &l->child, &c);
    }
    return rc;
}

int engine_share_batch_settle(store_batch *b, const exec *x, bool settle_callers)
{
    int64_t now = clock_now_ms();
    int rc = 0;

    for (size_t i = 0; settle_callers && rc == 0 && i < x->caller_count; i++) {
        const store_caller *c = &x->callers[i];
        journal_entry j;
        engine_outcome_entry(&j, x, c->seq, c->detached);
        rc = store_batch_journal_put(b, &c->parent, &j);
        if (rc == 0)
            rc = store_batch_caller_del(b, &x->rec.id, &c->parent, c->seq);
    }
    for (size_t i = 0; rc == 0 && i < x->link_count; i++) {
        const share_link *l = &x->links[i];
        journal_entry j = {.seq = l->seq,
                           .kind = JOURNAL_CALL,
                           .status = JOURNAL_FAILED,
                           .detached = l->detached,
                           .started_at = l->started,
                           .finished_at = now,
                           .child = l->child,
                           .name = l->name ? l->name : "?",
                           .error = REFUSED};
        if (l->refused)
            rc = store_batch_journal_put(b, &x->rec.id, &j);
    }
    return rc;
}
