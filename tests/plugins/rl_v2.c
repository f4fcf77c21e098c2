/*
 * rl_v2.c - plugin "rl", build 2 (version "2.0.0"): rl_common.h's code
 * answering {"version": 2}. The reload tests install it as rl.so.
 */
#define RL_VERSION 2
#include "rl_common.h"

TARRY_PLUGIN("rl", "2.0.0", RL_FUNCTIONS);
