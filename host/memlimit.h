/*
 * memlimit.h - the engine process's memory limit (--memory-limit), and
 * what the cgroup it runs in allows.
 *
 * The limit is an address-space limit (RLIMIT_AS) set in the engine
 * process only (the supervisor stays unlimited, so it can always restart
 * the engine). Plugins run in the engine, so a function's runaway
 * allocation makes malloc return NULL once the limit is reached: a plugin
 * that checks fails its own execution with its own error, and the host's
 * allocations that fail become errors, instead of the kernel's OOM killer
 * taking the whole engine (and every execution on it) down.
 *
 * The store's map (1 TiB by default) is address space, not memory: it is
 * added to the limit, so the limit means everything else the engine maps
 * (code, thread stacks, malloc's arenas, the heap).
 */
#ifndef TARRY_MEMLIMIT_H
#define TARRY_MEMLIMIT_H

#include <stdint.h>

/*
 * Before the store opens: log the cgroup v2 memory.max the engine runs
 * under, if any; then, if `limit` > 0, set RLIMIT_AS to limit + map_size
 * and log it. A limit below what the engine already maps (a sanitizer
 * build reserves terabytes of shadow memory) is not set: logged. Returns 0,
 * or TARRY_EINVAL (logged) if setrlimit refused.
 */
int memlimit_apply(uint64_t limit, uint64_t map_size);

#endif
