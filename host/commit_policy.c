/*
 * commit_policy.c - see commit_policy.h.
 */
#include "commit_policy.h"

commit_decision commit_policy_decide(const commit_policy_in *in)
{
    if (in->dirty == 0)
        return COMMIT_IDLE;
    if (in->draining || in->linger_over || in->dirty >= COMMIT_LINGER_MAX)
        return COMMIT_NOW;
    if (!in->awaited)
        return COMMIT_LINGER;
    if (in->gather_until && in->now_ns >= in->gather_until)
        return COMMIT_NOW;
    if (in->acks == 0)
        return in->young_running ? COMMIT_GATHER : COMMIT_NOW;
    if (in->acks >= in->acks_expected)
        return COMMIT_NOW;
    return COMMIT_GATHER;
}
