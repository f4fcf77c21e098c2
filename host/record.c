/*
 * record.c - names of execution states.
 */
#include "record.h"

#include <string.h>

#include "status.h"

static const char *const state_names[EXEC_STATE_COUNT] = {
    "none",      "scheduled", "queued",    "running",   "waiting",
    "succeeded", "failed",    "cancelled", "discarded", "blocked",
};

const char *exec_state_name(exec_state state)
{
    return ((unsigned)state < EXEC_STATE_COUNT) ? state_names[state] : "unknown";
}

int exec_state_parse(const char *name, exec_state *out)
{
    for (int s = EXEC_SCHEDULED; s < EXEC_STATE_COUNT; s++) {
        if (strcmp(name, state_names[s]) == 0) {
            *out = (exec_state)s;
            return 0;
        }
    }
    return TARRY_EINVAL;
}

bool exec_state_final(exec_state state)
{
    return state == EXEC_SUCCEEDED || state == EXEC_FAILED || state == EXEC_CANCELLED ||
           state == EXEC_DISCARDED;
}

const char *journal_kind_name(journal_kind kind)
{
    switch (kind) {
    case JOURNAL_CALL:
        return "call";
    case JOURNAL_STEP:
        return "step";
    case JOURNAL_SLEEP:
        return "sleep";
    case JOURNAL_NOW:
        return "now";
    case JOURNAL_PATCH:
        return "patch";
    }
    return "unknown";
}

const char *journal_status_name(journal_status status)
{
    switch (status) {
    case JOURNAL_PENDING:
        return "pending";
    case JOURNAL_SUCCEEDED:
        return "succeeded";
    case JOURNAL_FAILED:
        return "failed";
    case JOURNAL_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}
