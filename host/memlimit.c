/*
 * memlimit.c - RLIMIT_AS for the engine process, and the cgroup's memory
 * limit (v2 memory.max, or v1 memory.limit_in_bytes), logged at start so a
 * limit is never met silently.
 *
 * May not: allocate after the limit is set (nothing here runs again).
 */
#include "memlimit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hlog.h"
#include "status.h"

#define MIB (1024.0 * 1024.0)

/* The first line of file `dir`/`name` as a byte count: 0 for none, "max" or v1's "no limit" (about 2^63). */
static uint64_t read_limit(const char *dir, const char *sub, const char *name, char *where, size_t wherelen)
{
    char path[8400], line[64];
    uint64_t n = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s%s/%s", dir, sub, name);
    if (!(f = fopen(path, "r")))
        return 0;
    if (fgets(line, sizeof line, f) && strncmp(line, "max", 3) != 0)
        n = strtoull(line, NULL, 10);
    fclose(f);
    if (n >= (1ull << 60))
        return 0;
    if (n)
        snprintf(where, wherelen, "%s", path);
    return n;
}

/*
 * The memory limit of the engine's cgroup in bytes (0: none found), and the
 * file that says it in `where`: cgroup v2's memory.max, else v1's
 * memory.limit_in_bytes. The path in /proc/self/cgroup is relative to the
 * hierarchy's root, which inside a cgroup namespace is the mount itself, so
 * both the mount plus the path and the mount alone are tried.
 */
static uint64_t cgroup_memory_limit(char *where, size_t wherelen)
{
    char line[4096], v2_path[4096] = "", v1_path[4096] = "", v2_mount[4096] = "", v1_mount[4096] = "";
    uint64_t n = 0;
    FILE *f;

    if ((f = fopen("/proc/self/cgroup", "r"))) {
        while (fgets(line, sizeof line, f)) {
            char *rest;
            line[strcspn(line, "\n")] = '\0';
            if (strncmp(line, "0::", 3) == 0)
                snprintf(v2_path, sizeof v2_path, "%s", strcmp(line + 3, "/") == 0 ? "" : line + 3);
            else if ((rest = strstr(line, ":memory:")))
                snprintf(v1_path, sizeof v1_path, "%s", strcmp(rest + 8, "/") == 0 ? "" : rest + 8);
        }
        fclose(f);
    }
    if ((f = fopen("/proc/self/mounts", "r"))) {
        char dev[256], dir[4096], type[64], opts[1024];
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "%255s %4095s %63s %1023s", dev, dir, type, opts) != 4)
                continue;
            if (strcmp(type, "cgroup2") == 0 && !v2_mount[0])
                snprintf(v2_mount, sizeof v2_mount, "%s", dir);
            else if (strcmp(type, "cgroup") == 0 && strstr(opts, "memory") && !v1_mount[0])
                snprintf(v1_mount, sizeof v1_mount, "%s", dir);
        }
        fclose(f);
    }
    if (v2_mount[0] && !(n = read_limit(v2_mount, v2_path, "memory.max", where, wherelen)))
        n = read_limit(v2_mount, "", "memory.max", where, wherelen);
    if (!n && v1_mount[0] && !(n = read_limit(v1_mount, v1_path, "memory.limit_in_bytes", where, wherelen)))
        n = read_limit(v1_mount, "", "memory.limit_in_bytes", where, wherelen);
    return n;
}

/* The address space the process maps now, in bytes (0 if unknown). */
static uint64_t mapped_now(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%llu", &pages) != 1)
        pages = 0;
    fclose(f);
    return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

int memlimit_apply(uint64_t limit, uint64_t map_size)
{
    char where[8400] = "";
    uint64_t cg = cgroup_memory_limit(where, sizeof where), now = mapped_now();
    struct rlimit rl;

    if (cg) {
        hlog(HLOG_INFO, "cgroup memory limit %.0f MiB (%s): past it the kernel kills the engine",
             (double)cg / MIB, where);
        if (!limit)
            hlog(HLOG_WARN,
                 "no --memory-limit under a cgroup memory limit of %.0f MiB: a function's runaway allocation "
                 "ends in an OOM kill of the engine, not in that execution's failure; set --memory-limit "
                 "below "
                 "it",
                 (double)cg / MIB);
        else if (limit >= cg)
            hlog(HLOG_WARN,
                 "--memory-limit %.0f MiB is not below the cgroup's memory limit (%.0f MiB): the kernel may "
                 "kill "
                 "the engine before an allocation fails",
                 (double)limit / MIB, (double)cg / MIB);
    }
    if (!limit)
        return 0;
    if (now >= limit) {
        hlog(HLOG_WARN,
             "--memory-limit %.0f MiB is not applied: the engine maps %.0f MiB already (a sanitizer build "
             "reserves terabytes of shadow memory)",
             (double)limit / MIB, (double)now / MIB);
        return 0;
    }
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        rl.rlim_max = RLIM_INFINITY;
    /* The map is address space the store reserves, not memory: not counted. */
    rl.rlim_cur = limit + map_size < limit ? RLIM_INFINITY : (rlim_t)(limit + map_size);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        hlog(HLOG_ERROR, "cannot set the memory limit (RLIMIT_AS): %s", strerror(errno));
        return TARRY_EINVAL;
    }
    hlog(HLOG_INFO,
         "memory limit %.0f MiB for the engine (RLIMIT_AS %.0f MiB: the limit plus the store's %.0f MiB map, "
         "which is address space, not memory); an allocation past it fails, it does not kill the host",
         (double)limit / MIB, (double)rl.rlim_cur / MIB, (double)map_size / MIB);
    return 0;
}
