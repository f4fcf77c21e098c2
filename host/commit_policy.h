/*
 * commit_policy.h - when the engine starts a group commit.
 *
 * A commit costs two device flushes whatever it holds, so the engine does
 * not start one the moment anything changed:
 *   - changes nobody waits for (the outcome of a function nobody polls)
 *     linger up to COMMIT_LINGER_MS to ride with a commit somebody needs,
 *     instead of occupying the disk when a caller arrives, unless
 *     COMMIT_LINGER_MAX of them pile up;
 *   - when the last batch answered several callers at once (concurrent
 *     clients), a batch gathers up to COMMIT_GATHER_NS for as many, so it
 *     answers them all rather than the first of them. A lone caller never
 *     waits;
 *   - a batch nobody calls for yet (a child's outcome and its parent's
 *     wake) waits up to COMMIT_GATHER_NS while passes handed to workers
 *     just now may end: siblings started together end together, and their
 *     outcomes in one commit spare the parent a commit (and a pass) of its
 *     own.
 *
 * Pure: the engine passes what it knows, time included, and acts on the
 * answer (tests/unit/test_commit_policy.c drives it with made-up times).
 */
#ifndef TARRY_COMMIT_POLICY_H
#define TARRY_COMMIT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMIT_LINGER_MS 1
#define COMMIT_LINGER_MAX 4096
#define COMMIT_GATHER_NS 150000

typedef struct commit_policy_in {
    bool draining;         /* stopping: commit everything at once */
    bool linger_over;      /* the linger timer fired */
    size_t dirty;          /* changes waiting for a commit */
    bool awaited;          /* someone waits for one of them (a caller, a worker, a dispatch) */
    size_t acks;           /* callers a commit now would answer */
    size_t acks_expected;  /* callers in flight when the last batch committed */
    bool young_running;    /* a pass handed to a worker less than COMMIT_GATHER_NS ago still runs */
    uint64_t now_ns;       /* a monotonic clock */
    uint64_t gather_until; /* 0: not gathering; else when gathering ends (same clock) */
} commit_policy_in;

typedef enum commit_decision {
    COMMIT_IDLE,   /* nothing changed */
    COMMIT_NOW,    /* hand the changes to the commit thread */
    COMMIT_LINGER, /* nobody waits: try again when the linger timer fires or somebody needs a commit */
    COMMIT_GATHER  /* more callers are expected: try again at the next loop turn until gather_until */
} commit_decision;

commit_decision commit_policy_decide(const commit_policy_in *in);

#endif
