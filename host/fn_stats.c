/*
 * fn_stats.c - see fn_stats.h. The table is an open-addressing hash of
 * names (linear probing, at most half full) over entries kept in the order
 * they were made; entries are never removed, so neither ever shrinks.
 */
#include "fn_stats.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

/* Seconds: run times from a no-op to a day-long workflow. */
static const double run_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,     2.5,
                                    5,     10,   30,    60,   300, 900,  3600, 21600, 86400};

struct fn_stats {
    fn_stats_entry **entries; /* in the order made */
    size_t count;
    size_t *slots; /* index + 1 into entries; 0: free. cap is a power of two */
    size_t cap;
};

static const char *const count_names[FN_COUNT_N] = {"started",   "succeeded", "failed", "cancelled",
                                                    "discarded", "blocked",   "retries"};
static const char *const attempt_names[FN_ATTEMPT_N] = {"succeeded", "failed", "cancelled", "timed_out",
                                                        "crashed"};

const char *fn_count_name(fn_count c)
{
    return (unsigned)c < FN_COUNT_N ? count_names[c] : "?";
}

const char *fn_attempt_name(fn_attempt a)
{
    return (unsigned)a < FN_ATTEMPT_N ? attempt_names[a] : "?";
}

int fn_stats_new(fn_stats **out)
{
    fn_stats *s = calloc(1, sizeof *s);
    if (!s || !(s->slots = calloc(16, sizeof *s->slots))) {
        free(s);
        return TARRY_ENOMEM;
    }
    s->cap = 16;
    *out = s;
    return 0;
}

void fn_stats_free(fn_stats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++) {
        free(s->entries[i]->name);
        free(s->entries[i]);
    }
    free(s->entries);
    free(s->slots);
    free(s);
}

/* FNV-1a: names are short, and this is all a lookup costs besides one strcmp. */
static size_t name_hash(const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding `name`, or the free slot where it would go. */
static size_t slot_of(const fn_stats *s, const char *name)
{
    size_t i = name_hash(name) & (s->cap - 1);
    while (s->slots[i] && strcmp(s->entries[s->slots[i] - 1]->name, name) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

const fn_stats_entry *fn_stats_find(const fn_stats *s, const char *function)
{
    size_t i = slot_of(s, function);
    return s->slots[i] ? s->entries[s->slots[i] - 1] : NULL;
}

static int grow(fn_stats *s)
{
    size_t cap = s->cap * 2;
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return TARRY_ENOMEM;
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    for (size_t k = 0; k < s->count; k++)
        s->slots[slot_of(s, s->entries[k]->name)] = k + 1;
    return 0;
}

fn_stats_entry *fn_stats_get(fn_stats *s, const char *function)
{
    size_t i = slot_of(s, function);
    fn_stats_entry *f, **entries;

    if (s->slots[i])
        return s->entries[s->slots[i] - 1];
    if (s->count >= FN_STATS_MAX)
        return NULL;
    if ((s->count + 1) * 2 > s->cap) {
        if (grow(s) != 0)
            return NULL;
        i = slot_of(s, function);
    }
    if (!(entries = realloc(s->entries, (s->count + 1) * sizeof *entries)))
        return NULL;
    s->entries = entries;
    if (!(f = calloc(1, sizeof *f)) || !(f->name = strdup(function))) {
        free(f);
        return NULL;
    }
    metrics_hist_init(&f->run_seconds, run_bounds, sizeof run_bounds / sizeof run_bounds[0]);
    metrics_hist_init(&f->attempt_seconds, run_bounds, sizeof run_bounds / sizeof run_bounds[0]);
    s->entries[s->count++] = f;
    s->slots[i] = s->count;
    return f;
}

size_t fn_stats_count_entries(const fn_stats *s)
{
    return s->count;
}

const fn_stats_entry *fn_stats_entry_at(const fn_stats *s, size_t i)
{
    return i < s->count ? s->entries[i] : NULL;
}

/* ---- counting ------------------------------------------------------------------------------- */

static int64_t interval_of(int64_t now_ms, int width_s)
{
    return now_ms < 0 ? 0 : now_ms / ((int64_t)width_s * 1000);
}

/* The bucket of the ring for the interval holding now_ms, cleared if it held an older one. */
static fn_bucket *bucket_at(fn_bucket *ring, size_t n, int width_s, int64_t now_ms)
{
    int64_t index = interval_of(now_ms, width_s);
    fn_bucket *b = &ring[(size_t)index % n];
    if (b->index != index) {
        memset(b, 0, sizeof *b);
        b->index = index;
    }
    return b;
}

static uint32_t add_sat(uint32_t v)
{
    return v == UINT32_MAX ? v : v + 1;
}

void fn_stats_add(fn_stats_entry *f, fn_count what, int64_t now_ms)
{
    fn_bucket *m = bucket_at(f->minutes, FN_STATS_MINUTES, 60, now_ms);
    fn_bucket *q = bucket_at(f->quarters, FN_STATS_QUARTERS, 900, now_ms);
    if ((unsigned)what >= FN_COUNT_N)
        return;
    f->n[what]++;
    m->n[what] = add_sat(m->n[what]);
    q->n[what] = add_sat(q->n[what]);
}

void fn_stats_finished(fn_stats_entry *f, fn_count what, int64_t run_ms, int64_t now_ms)
{
    fn_stats_add(f, what, now_ms);
    if (run_ms < 0)
        return;
    size_t bin = metrics_log_bin((double)run_ms);
    fn_bucket *m = bucket_at(f->minutes, FN_STATS_MINUTES, 60, now_ms);
    fn_bucket *q = bucket_at(f->quarters, FN_STATS_QUARTERS, 900, now_ms);
    m->run_ms[bin] = add_sat(m->run_ms[bin]);
    q->run_ms[bin] = add_sat(q->run_ms[bin]);
    metrics_hist_observe(&f->run_seconds, (double)run_ms / 1e3);
}

void fn_stats_attempt(fn_stats_entry *f, fn_attempt how, int64_t ms)
{
    if ((unsigned)how >= FN_ATTEMPT_N)
        return;
    f->attempts[how]++;
    metrics_hist_observe(&f->attempt_seconds, ms < 0 ? 0.0 : (double)ms / 1e3);
}

/* ---- reading --------------------------------------------------------------------------------- */

static void percentiles(const uint32_t *bins, double *p50, double *p95, double *p99)
{
    *p50 = metrics_log_percentile(bins, 0.50);
    *p95 = metrics_log_percentile(bins, 0.95);
    *p99 = metrics_log_percentile(bins, 0.99);
}

void fn_stats_read(const fn_stats_entry *f, fn_window w, int64_t now_ms, fn_stats_view *out)
{
    const fn_bucket *ring = NULL;
    uint32_t all[METRICS_LOG_BINS] = {0};
    size_t n = w == FN_WINDOW_24H ? FN_STATS_QUARTERS : FN_STATS_MINUTES;
    int width = w == FN_WINDOW_24H ? 900 : 60;
    int64_t last = interval_of(now_ms, width), first = last - (int64_t)n + 1;

    memset(out, 0, sizeof *out);
    if (f)
        ring = w == FN_WINDOW_24H ? f->quarters : f->minutes;
    out->bucket_seconds = width;
    out->bucket_count = n;
    out->from_ms = first * width * 1000;
    out->to_ms = now_ms;
    for (size_t k = 0; k < n; k++) {
        int64_t index = first + (int64_t)k;
        fn_stats_point *p = &out->buckets[k];
        const fn_bucket *b = ring && index >= 0 ? &ring[(size_t)index % n] : NULL;

        p->at_ms = index * width * 1000;
        p->p50_ms = p->p95_ms = p->p99_ms = -1.0;
        if (!b || b->index != index)
            continue; /* nothing counted in that interval (or the slot holds another one) */
        memcpy(p->n, b->n, sizeof p->n);
        for (size_t c = 0; c < FN_COUNT_N; c++)
            out->totals[c] += b->n[c];
        for (size_t i = 0; i < METRICS_LOG_BINS; i++) {
            uint64_t sum = (uint64_t)all[i] + b->run_ms[i];
            all[i] = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
        }
        percentiles(b->run_ms, &p->p50_ms, &p->p95_ms, &p->p99_ms);
    }
    percentiles(all, &out->p50_ms, &out->p95_ms, &out->p99_ms);
}
