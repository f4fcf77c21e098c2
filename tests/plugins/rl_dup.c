/*
 * rl_dup.c - a broken new build of plugin "rl": it exports rl_version twice.
 * Installed over a good rl.so, a reload must refuse it (naming the
 * duplicate) and keep the good version serving.
 */
#define RL_VERSION 99
#include "rl_common.h"

TARRY_PLUGIN("rl", "99.0.0-dup", RL_FUNCTIONS, TARRY_FUNCTION("rl_version", rl_leaf));
