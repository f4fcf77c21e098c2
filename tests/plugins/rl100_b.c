/* rl100_b.c - plugin "rl100", build "b" (see rl100_common.h). */
#define RL100_BUILD "b"
#include "rl100_common.h"
