/*
 * rl100_common.h - plugin "rl100": 100 functions rl100_f00 .. rl100_f99, for
 * the reload latency benchmark (scripts/bench reload). rl100_a.c and
 * rl100_b.c build it with RL100_BUILD "a" and "b"; every function answers
 * {"build": "a"|"b", "fn": "NN"}, so the benchmark sees which build served a
 * trigger. rl100_nonce is a marker the benchmark overwrites in a copy of the
 * .so to make a new build (a new content hash) for every reload, so each
 * reload really copies, dlopen()s and validates a version.
 */
#ifndef RL100_COMMON_H
#define RL100_COMMON_H

#include <tarry.h>

__attribute__((visibility("default"), used)) const char rl100_nonce[] = "RL100NONCE:00000000000000000000";

#define RL100_FN(n)                                                                                     \
    static tarry_status rl100_f##n(tarry_ctx *ctx, const char *args_json)                             \
    {                                                                                                  \
        (void)args_json;                                                                               \
        return (tarry_status)tarry_set_result(ctx, "{\"build\":\"" RL100_BUILD "\",\"fn\":\"" #n "\"}"); \
    }
#define RL100_TEN(d)                                                                                    \
    RL100_FN(d##0) RL100_FN(d##1) RL100_FN(d##2) RL100_FN(d##3) RL100_FN(d##4) RL100_FN(d##5)        \
        RL100_FN(d##6) RL100_FN(d##7) RL100_FN(d##8) RL100_FN(d##9)
RL100_TEN(0) RL100_TEN(1) RL100_TEN(2) RL100_TEN(3) RL100_TEN(4)
RL100_TEN(5) RL100_TEN(6) RL100_TEN(7) RL100_TEN(8) RL100_TEN(9)

#define RL100_DEF(n) TARRY_FUNCTION("rl100_f" #n, rl100_f##n)
#define RL100_DEF_TEN(d)                                                                                \
    RL100_DEF(d##0), RL100_DEF(d##1), RL100_DEF(d##2), RL100_DEF(d##3), RL100_DEF(d##4),              \
        RL100_DEF(d##5), RL100_DEF(d##6), RL100_DEF(d##7), RL100_DEF(d##8), RL100_DEF(d##9)

TARRY_PLUGIN("rl100", "1.0.0-" RL100_BUILD, RL100_DEF_TEN(0), RL100_DEF_TEN(1), RL100_DEF_TEN(2), RL100_DEF_TEN(3),
             RL100_DEF_TEN(4), RL100_DEF_TEN(5), RL100_DEF_TEN(6), RL100_DEF_TEN(7), RL100_DEF_TEN(8),
             RL100_DEF_TEN(9));

#endif
