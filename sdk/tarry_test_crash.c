/*
 * tarry_test_crash.c - crashes in the test kit (tarry_test.h, "crashes"):
 * the kit stops a run at the commit that makes one of the root's commands
 * durable, just before or just after it, keeping exactly what a host that
 * died there keeps; tarry_test_resume runs the execution that was running
 * as its next attempt.
 *
 * Where the commits are is the journal core's rule (jcore.h): a step's
 * result becomes durable in the checkpoint before the next step's body runs
 * (the kit's checkpoint hook), everything else with the pass's end (the
 * kit's commit in run_pass). This file decides whether the armed crash hits
 * one of them; tarry_test.c drops what it loses.
 */
#include "tarry_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcore.h"
#include "tarry_test_private.h"

int tarry_test_crash_at(tarry_test *t, unsigned position, int when)
{
    if (when != TARRY_TEST_BEFORE_COMMIT && when != TARRY_TEST_AFTER_COMMIT)
        return tarry_test__refuse(
            t, "tarry_test_crash_at: when must be TARRY_TEST_BEFORE_COMMIT or TARRY_TEST_AFTER_COMMIT");
    t->crash_armed = true;
    t->crash_pos = position;
    t->crash_when = when;
    return TARRY_OK;
}

bool tarry_test__crash_due(tarry_test *t, const kit_exec *x, size_t base, const jcore_entry *fresh,
                           size_t from, size_t to, size_t *keep)
{
    const jcore_entry *e;
    kit_text b = {0};
    bool before = t->crash_when == TARRY_TEST_BEFORE_COMMIT;

    /* Only the root's own commits (a replay's shadow is another kit_exec and never commits). */
    if (!t->crash_armed || t->exec_count == 0 || x != t->execs[0] || t->crash_pos < base + from ||
        t->crash_pos >= base + to)
        return false;
    t->crash_armed = false;
    *keep = before ? from : to;
    e = &fresh[t->crash_pos - base];
    tarry_test__printf(
        &b,
        "the host crashed %s the commit of #%u (%s \"%s\") in attempt %d (tarry_test_crash_at); "
        "tarry_test_resume() runs it on",
        before ? "before" : "after", t->crash_pos, jcore_kind_name(e->kind), e->name ? e->name : "",
        x->attempt ? x->attempt : 1);
    free(t->crash_why);
    t->crash_why = b.oom ? NULL : b.text;
    if (b.oom) {
        free(b.text);
        t->oom = true;
    }
    return true;
}

tarry_test_state tarry_test_resume(tarry_test *t)
{
    if (!t->crashed || t->exec_count == 0) {
        tarry_test__refuse(
            t, "tarry_test_resume: the last run did not crash (arm one with tarry_test_crash_at)");
        return t->state = TARRY_TEST_ERROR;
    }
    t->crashed = false;
    free(t->crash_why);
    t->crash_why = NULL;
    /* As the host's recovery: the attempt that was running ended with the host; the next one
     * starts from the top against the journal as committed. */
    for (size_t i = 0; i < t->exec_count; i++) {
        kit_exec *x = t->execs[i];
        if (x->state != KIT_CRASHED)
            continue;
        x->attempt = (x->attempt ? x->attempt : 1) + 1;
        tarry_test__queue(t, x);
    }
    return tarry_test__go_on(t);
}

int tarry_test_attempt(const tarry_test *t)
{
    return t->exec_count && t->execs[0]->attempt ? t->execs[0]->attempt : 1;
}
