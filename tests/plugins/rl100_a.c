/* rl100_a.c - plugin "rl100", build "a" (see rl100_common.h). */
#define RL100_BUILD "a"
#include "rl100_common.h"
