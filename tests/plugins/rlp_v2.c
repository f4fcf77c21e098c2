/* rlp_v2.c - plugin "rlp" 2.0.0: rlp_flow with tarry_patched(ctx, "extra") (see rlp_common.h). */
#define RLP_VERSION 2
#define RLP_VERSION_TEXT "2.0.0"
#define RLP_PATCHED 1
#include "rlp_common.h"
