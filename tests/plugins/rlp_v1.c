/* rlp_v1.c - plugin "rlp" 1.0.0: rlp_flow without the patch (see rlp_common.h). */
#define RLP_VERSION 1
#define RLP_VERSION_TEXT "1.0.0"
#define RLP_PATCHED 0
#include "rlp_common.h"
