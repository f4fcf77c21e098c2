/*
 * engine_host.c - this engine as a holder of work: its host id, hostname,
 * pid, the address it serves and when it started (GET /v1/cluster).
 *
 * The id is new for every engine process, random rather than derived from
 * the hostname or the data folder: an engine the supervisor restarts after
 * a crash is a new holder, so with several hosts on one store a late write
 * of the engine that died can be told from the one that replaced it. Today,
 * on one LMDB store, it names the host in the cluster view.
 *
 * May not: block the loop after start, touch the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "engine_int.h"

void engine_host_init(engine *e)
{
    engine_host *h = &e->host;
    unsigned char bytes[ENGINE_HOST_ID_LEN / 2];
    ssize_t got;

    /* Flags 0: blocks only until the kernel's pool is first initialised, which is long past by the
     * time a host starts. */
    while ((got = getrandom(bytes, sizeof bytes, 0)) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t)sizeof bytes) {
        /* As ids.c: only kernels before 3.17 lack getrandom(2); a guessable id could collide. */
        fprintf(stderr, "tarry: getrandom failed (errno %d); cannot make a host id\n", errno);
        abort();
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(h->id + 2 * i, 3, "%02x", bytes[i]);
    if (gethostname(h->hostname, sizeof h->hostname) != 0)
        h->hostname[0] = '\0';
    h->hostname[sizeof h->hostname - 1] = '\0'; /* POSIX leaves a cut name unterminated */
    h->pid = (long)getpid();
    h->started_at = clock_now_ms();
}

void engine_host_set_address(engine *e, const char *address)
{
    snprintf(e->host.address, sizeof e->host.address, "%s", address ? address : "");
}

const engine_host *engine_host_self(const engine *e)
{
    return &e->host;
}
