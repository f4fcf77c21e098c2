/*
 * rl_v3.c - plugin "rl", build 3 (version "3.0.0"): rl_common.h's code
 * answering {"version": 3}. The reload tests install it as rl.so.
 */
#define RL_VERSION 3
#include "rl_common.h"

TARRY_PLUGIN("rl", "3.0.0", RL_FUNCTIONS);
