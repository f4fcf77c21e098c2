/*
 * rl_v1.c - plugin "rl", build 1 (version "1.0.0"): rl_common.h's code
 * answering {"version": 1}. The reload tests install it as rl.so.
 */
#define RL_VERSION 1
#include "rl_common.h"

TARRY_PLUGIN("rl", "1.0.0", RL_FUNCTIONS);
