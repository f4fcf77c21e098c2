/*
 * deathnote.c - the shared record of how the engine died (deathnote.h).
 *
 * Layout: one header page (magic, the live and last records), then the
 * live slots, then the last slots. MAP_SHARED|MAP_ANONYMOUS, so the
 * supervisor and every engine it forks see the same bytes and nothing
 * touches the disk; untouched slot pages cost no memory.
 *
 * May not: allocate, lock or log in the signal handler or the exit hook.
 */
#include "deathnote.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "status.h"

#define DEATHNOTE_MAGIC 0x74646e31u /* "tdn1" */
#define ALT_STACK_SIZE (64 * 1024)

struct note {
    uint32_t magic;
    deathnote_death live, last;
    uint32_t store_opened;                   /* an engine of this supervisor had the store open: it exists */
    deathnote_slot *live_slots, *last_slots; /* same addresses in every process: mapped before fork */
};

static struct note *note;
static size_t slot_total;
static uint32_t claim_hint;
static long long oom_kills_at_fork = -1; /* the supervisor's */

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define FATAL_COUNT (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[FATAL_COUNT];

static _Thread_local int thread_slot = -1;
static _Thread_local void *thread_alt_stack; /* reachable for leak checkers while the thread lives */

int deathnote_create(size_t slots)
{
    size_t size = sizeof(struct note) + 2 * slots * sizeof(deathnote_slot);
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return TARRY_ENOMEM;
    note = map;
    note->magic = DEATHNOTE_MAGIC;
    note->live_slots = (deathnote_slot *)(note + 1);
    note->last_slots = note->live_slots + slots;
    note->live.slot_count = (uint32_t)slots;
    note->live.fault_slot = -1;
    slot_total = slots;
    return 0;
}

/* ---- the engine ------------------------------------------------------------------------------- */

static void on_fatal(int sig, siginfo_t *info, void *uctx)
{
    size_t i;

    if (note && note->live.fault_by == DEATHNOTE_BY_NONE) {
        /* A fault the kernel raised (si_code > 0), or abort()/raise() in this
         * process (tgkill to the calling thread), is this thread's own; a
         * signal another process sent lands on any thread and names nobody. */
        bool own = info && (info->si_code > 0 || (info->si_code == SI_TKILL && info->si_pid == getpid()));
        note->live.fault_signal = sig;
        note->live.fault_slot = own ? thread_slot : -1;
        atomic_signal_fence(memory_order_seq_cst);
        note->live.fault_by = DEATHNOTE_BY_SIGNAL;
    }
    for (i = 0; i < FATAL_COUNT && fatal_signals[i] != sig; i++)
        ;
    if (i < FATAL_COUNT) {
        struct sigaction *old = &previous[i];
        if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction &&
            (void *)old->sa_sigaction != (void *)SIG_DFL && (void *)old->sa_sigaction != (void *)SIG_IGN) {
            old->sa_sigaction(sig, info, uctx); /* a sanitizer's report, then its own exit */
        } else if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler != SIG_DFL &&
                   old->sa_handler != SIG_IGN) {
            old->sa_handler(sig);
        }
    }
    /* SA_RESETHAND put the default back: the signal is blocked until this
     * returns, then it (or the fault, again) ends the process as it would have. */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* exit() called by anything but the engine's own exit path: note which slot's thread did it. */
static void on_exit_hook(void)
{
    if (note && !note->live.declared && note->live.fault_by == DEATHNOTE_BY_NONE) {
        note->live.fault_signal = 0;
        note->live.fault_slot = thread_slot;
        atomic_signal_fence(memory_order_seq_cst);
        note->live.fault_by = DEATHNOTE_BY_EXIT;
    }
}

static void alt_stack_ensure(void)
{
    stack_t ss, old;
    if (thread_alt_stack || sigaltstack(NULL, &old) != 0 || !(old.ss_flags & SS_DISABLE))
        return; /* ours, or someone's (a sanitizer's) is in place */
    if (!(thread_alt_stack = malloc(ALT_STACK_SIZE)))
        return;
    ss.ss_sp = thread_alt_stack;
    ss.ss_size = ALT_STACK_SIZE;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0) {
        free(thread_alt_stack);
        thread_alt_stack = NULL;
    }
}

void deathnote_install(void)
{
    struct sigaction sa;

    if (!note)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < FATAL_COUNT; i++)
        sigaction(fatal_signals[i], &sa, &previous[i]);
    alt_stack_ensure();
    atexit(on_exit_hook);
}

void deathnote_declare_exit(int code)
{
    if (!note)
        return;
    note->live.exit_code = code;
    atomic_thread_fence(memory_order_seq_cst);
    note->live.declared = 1;
}

void deathnote_mark_store_opened(void)
{
    if (note)
        note->store_opened = 1;
}

bool deathnote_store_was_opened(void)
{
    return note && note->store_opened;
}

void deathnote_mark_recovered(void)
{
    if (note)
        note->live.recovered = 1;
}

int deathnote_slot_claim(const exec_id *id, const char *function, const char *hash, uint32_t attempt,
                         bool deferred, bool isolated, const char *args)
{
    if (!note)
        return -1;
    for (size_t n = 0; n < slot_total; n++) {
        uint32_t i = (claim_hint + (uint32_t)n) % (uint32_t)slot_total;
        deathnote_slot *s = &note->live_slots[i];
        size_t len;
        if (s->busy)
            continue;
        claim_hint = i + 1;
        s->id = *id;
        snprintf(s->function, sizeof s->function, "%s", function ? function : "");
        snprintf(s->hash, sizeof s->hash, "%s", hash ? hash : "");
        s->attempt = attempt;
        s->started_at = 0;
        s->isolated = isolated;
        s->deferred = deferred;
        s->args_kept = 0;
        if (deferred && args && (len = strlen(args)) < sizeof s->args) {
            memcpy(s->args, args, len + 1);
            s->args_kept = 1;
        }
        atomic_thread_fence(memory_order_release);
        s->busy = 1;
        return (int)i;
    }
    return -1;
}

void deathnote_slot_release(int slot)
{
    if (note && slot >= 0 && (size_t)slot < slot_total)
        note->live_slots[slot].busy = 0;
}

void deathnote_worker_enter(int slot)
{
    if (!note)
        return;
    alt_stack_ensure();
    thread_slot = slot;
}

void deathnote_worker_leave(void)
{
    thread_slot = -1;
}

const deathnote_death *deathnote_last(void)
{
    return note && note->last.sealed ? &note->last : NULL;
}

const deathnote_slot *deathnote_last_slot(uint32_t i)
{
    return note && note->last.sealed && i < note->last.slot_count ? &note->last_slots[i] : NULL;
}

/* ---- the supervisor ------------------------------------------------------------------------------ */

/* The kernel's count of OOM kills (system-wide, cgroup OOMs included), or -1. */
static long long oom_kills(void)
{
    char line[128];
    long long n = -1;
    FILE *f = fopen("/proc/vmstat", "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "oom_kill %lld", &n) == 1)
            break;
    fclose(f);
    return n;
}

void deathnote_arm(void)
{
    oom_kills_at_fork = oom_kills();
    if (!note)
        return;
    memset(&note->live, 0, sizeof note->live);
    note->live.fault_slot = -1;
    note->live.slot_count = (uint32_t)slot_total;
    memset(note->live_slots, 0, slot_total * sizeof *note->live_slots);
}

bool deathnote_declared(pid_t pid, int code)
{
    (void)pid; /* `live` belongs to the one engine alive since deathnote_arm */
    return note && note->live.declared && note->live.exit_code == code;
}

const char *deathnote_signal_name(int sig, char *buf, size_t len)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGILL, "SIGILL"},   {SIGFPE, "SIGFPE"},
                 {SIGABRT, "SIGABRT"}, {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
                 {SIGQUIT, "SIGQUIT"}, {SIGHUP, "SIGHUP"},   {SIGPIPE, "SIGPIPE"}, {SIGSYS, "SIGSYS"},
                 {SIGTRAP, "SIGTRAP"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, len, "signal %d", sig);
    return buf;
}

static const deathnote_slot *named_slot(const deathnote_death *d, const deathnote_slot *slots)
{
    if (d->fault_by == DEATHNOTE_BY_NONE || d->fault_slot < 0 || (uint32_t)d->fault_slot >= d->slot_count)
        return NULL;
    return slots[d->fault_slot].busy ? &slots[d->fault_slot] : NULL;
}

bool deathnote_seal(pid_t pid, int wstatus, char *cause, size_t cause_len)
{
    long long ooms = oom_kills();
    bool oom = WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL && oom_kills_at_fork >= 0 &&
               ooms > oom_kills_at_fork;
    const deathnote_slot *named = note ? named_slot(&note->live, note->live_slots) : NULL;
    bool outside = WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL && !oom;
    char sigbuf[32], who[300] = "";
    size_t busy = 0;

    if (named) {
        char id[ID_TEXT_LEN + 1];
        id_format(&named->id, id);
        snprintf(who, sizeof who, " in a worker running execution %s (%s)", id, named->function);
    }
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        const char *name = deathnote_signal_name(sig, sigbuf, sizeof sigbuf);
        if (sig == SIGKILL)
            snprintf(cause, cause_len, "died of SIGKILL (%s)",
                     oom ? "the OOM killer: the kernel counted an OOM kill"
                         : "killed from outside, e.g. kill -9; the kernel counted no OOM kill");
        else if (named && note->live.fault_by == DEATHNOTE_BY_SIGNAL && note->live.fault_signal != sig) {
            char first[32]; /* a sanitizer's handler turned the first signal into this one */
            snprintf(cause, cause_len, "died of %s after %s%s", name,
                     deathnote_signal_name(note->live.fault_signal, first, sizeof first), who);
        } else {
            snprintf(cause, cause_len, "died of %s%s", name,
                     named                         ? who
                     : note && note->live.fault_by ? " outside any execution's worker"
                                                   : "");
        }
    } else if (note && note->live.declared && note->live.exit_code == WEXITSTATUS(wstatus)) {
        snprintf(cause, cause_len, "exited with status %d%s", WEXITSTATUS(wstatus),
                 WEXITSTATUS(wstatus) == 75 ? " to reopen the store" : "");
    } else if (named && note->live.fault_by == DEATHNOTE_BY_SIGNAL) {
        /* A sanitizer's handler reported the signal and exited. */
        snprintf(cause, cause_len, "exited with status %d after %s%s", WEXITSTATUS(wstatus),
                 deathnote_signal_name(note->live.fault_signal, sigbuf, sizeof sigbuf), who);
    } else if (named) {
        snprintf(cause, cause_len, "exited with status %d without saying so: exit() was called%s",
                 WEXITSTATUS(wstatus), who);
    } else {
        snprintf(cause, cause_len, "exited with status %d without saying so (a plugin called exit or _exit?)",
                 WEXITSTATUS(wstatus));
    }
    if (!note)
        return outside;
    for (size_t i = 0; i < slot_total; i++)
        busy += note->live_slots[i].busy != 0;
    if (note->last.sealed && !note->live.recovered && !named && busy == 0) {
        /* It died before its recovery committed and saw nothing run: the
         * death before it still has to be judged by the next engine. */
        snprintf(cause + strlen(cause), cause_len - strlen(cause),
                 " before recovering; the previous death's record stands");
        return outside;
    }
    note->last = note->live;
    note->last.pid = (int32_t)pid;
    note->last.wstatus = wstatus;
    note->last.oom_killed = oom;
    note->last.sealed = 1;
    memcpy(note->last_slots, note->live_slots, slot_total * sizeof *note->live_slots);
    return outside;
}
