/*
 * jcore_plugin.h - checking a plugin's descriptor (tarry_plugin_def) before
 * any of its code runs, for the host (plugins.c) and the test kit
 * (tarry_test_add_plugin), so both refuse the same plugins with the same
 * words. libc only, no state.
 */
#ifndef TARRY_JCORE_PLUGIN_H
#define TARRY_JCORE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "tarry.h"

#define JCORE_NAME_MAX 128

/*
 * The smallest descriptors accepted: the first layout of ABI 1, which ended
 * before `header_revision`, with functions of {name, fn} only (options came
 * with revision 4; tarry.h: structs only grow at the end). A descriptor that
 * ends before `header_revision` is revision 1.
 */
#define JCORE_PLUGIN_DEF_MIN offsetof(tarry_plugin_def, header_revision)
#define JCORE_FUNCTION_DEF_MIN offsetof(tarry_function_def, retry)

/* Whether `name` is a valid function or plugin name: [A-Za-z_][A-Za-z0-9_.-]*, 1..128 bytes. */
int jcore_name_valid(const char *name);

/* What a check found out. Strings are the descriptor's (borrowed: valid while the plugin is loaded). */
typedef struct jcore_plugin_info {
    const char *name;    /* the plugin's name once found valid (also when a later check fails), else NULL */
    const char *version; /* with `name`: its version text ("" when the descriptor has none) */
    uint32_t header_revision; /* the tarry.h revision it was built with (1 for the first layout) */
} jcore_plugin_info;

/*
 * Check `def`: magic, ABI number, pointer size, descriptor and function
 * struct sizes, the plugin's name, at least one function, and each
 * function's name (valid, unique in the plugin) and C function. Returns 0,
 * or TARRY_EINVAL with a one-line reason in err (the caller says which file
 * or call it was). `info` is filled as far as the check got.
 */
int jcore_plugin_check(const tarry_plugin_def *def, jcore_plugin_info *info, char *err, size_t errlen);

/* Function i of a checked descriptor, walked with the plugin's own stride (a newer header's struct may be
 * larger). */
const tarry_function_def *jcore_plugin_function(const tarry_plugin_def *def, size_t i);

#endif
