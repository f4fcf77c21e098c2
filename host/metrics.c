/*
 * metrics.c - see metrics.h.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* ---- fixed-bucket histogram ----------------------------------------------------------- */

void metrics_hist_init(metrics_hist *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n > METRICS_BOUNDS_MAX ? METRICS_BOUNDS_MAX : n;
    for (size_t i = 0; i < h->n; i++)
        snprintf(h->le[i], sizeof h->le[i], "%g", bounds[i]); /* bounds are round numbers */
}

void metrics_hist_observe(metrics_hist *h, double v)
{
    size_t i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* ---- log-scale histogram ---------------------------------------------------------------- */

size_t metrics_log_bin(double ms)
{
    if (!(ms >= 1.0)) /* also NaN */
        return 0;
    double bin = 1.0 + floor(2.0 * log2(ms));
    return bin >= METRICS_LOG_BINS - 1 ? METRICS_LOG_BINS - 1 : (size_t)bin;
}

void metrics_log_bounds(size_t bin, double *lower, double *upper)
{
    if (bin == 0) {
        *lower = 0.0;
        *upper = 1.0;
        return;
    }
    *lower = exp2((double)(bin - 1) / 2.0);
    *upper = bin >= METRICS_LOG_BINS - 1 ? *lower : exp2((double)bin / 2.0);
}

double metrics_log_percentile(const uint32_t *bins, double q)
{
    uint64_t total = 0, below = 0, rank;
    double lower, upper, f;

    for (size_t i = 0; i < METRICS_LOG_BINS; i++)
        total += bins[i];
    if (total == 0)
        return -1.0;
    if (q > 1.0)
        q = 1.0;
    rank = (uint64_t)ceil(q * (double)total);
    if (rank < 1)
        rank = 1;
    for (size_t i = 0; i < METRICS_LOG_BINS; i++) {
        if (below + bins[i] < rank) {
            below += bins[i];
            continue;
        }
        /* The rank-th smallest is the (rank - below)-th of bins[i]'s: assume them spread evenly
         * over the bin (in log scale), each at the middle of its share. */
        f = ((double)(rank - below) - 0.5) / (double)bins[i];
        metrics_log_bounds(i, &lower, &upper);
        if (i == 0)
            return lower + f * (upper - lower);
        return lower * pow(upper / lower, f);
    }
    return -1.0; /* not reached: rank <= total */
}

/* ---- Prometheus text ---------------------------------------------------------------------- */

void metrics_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the format wants it: backslash, double quote and newline escaped. */
static void write_label_value(FILE *out, const char *v)
{
    /* In runs: /metrics is scraped often, and a stream call per character adds up. */
    for (;;) {
        size_t plain = strcspn(v, "\\\"\n");
        fwrite(v, 1, plain, out);
        v += plain;
        if (!*v)
            return;
        fputs(*v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : "\\n", out);
        v++;
    }
}

static void write_labels(FILE *out, const metrics_label *labels, size_t nlabels)
{
    if (!nlabels)
        return;
    fputc('{', out);
    for (size_t i = 0; i < nlabels; i++) {
        if (i)
            fputc(',', out);
        fputs(labels[i].name, out);
        fputs("=\"", out);
        write_label_value(out, labels[i].value);
        fputc('"', out);
    }
    fputc('}', out);
}

/* Decimal digits without printf: /metrics is scraped often and is mostly integers. */
static void write_u64(FILE *out, uint64_t v)
{
    char digits[20];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    fwrite(digits + i, 1, sizeof digits - i, out);
}

static void write_value(FILE *out, double value)
{
    if (isinf(value))
        fputs(value > 0 ? "+Inf" : "-Inf", out);
    else if (isnan(value))
        fputs("NaN", out);
    else if (value == floor(value) && fabs(value) < 9007199254740992.0) { /* 2^53: exact */
        if (value < 0)
            fputc('-', out);
        write_u64(out, (uint64_t)fabs(value));
    } else
        fprintf(out, "%.15g", value);
}

void metrics_sample(FILE *out, const char *name, const metrics_label *labels, size_t nlabels, double value)
{
    fputs(name, out);
    write_labels(out, labels, nlabels);
    fputc(' ', out);
    write_value(out, value);
    fputc('\n', out);
}

void metrics_sample_u64(FILE *out, const char *name, const metrics_label *labels, size_t nlabels,
                        uint64_t value)
{
    fputs(name, out);
    write_labels(out, labels, nlabels);
    fputc(' ', out);
    write_u64(out, value);
    fputc('\n', out);
}

void metrics_hist_write(FILE *out, const char *name, const metrics_label *labels, size_t nlabels,
                        const metrics_hist *h)
{
    metrics_label with_le[4];
    char series[128];
    uint64_t cumulative = 0;

    if (nlabels > 3)
        nlabels = 3;
    if (nlabels) /* labels may be NULL then */
        memcpy(with_le, labels, nlabels * sizeof *labels);
    with_le[nlabels].name = "le";
    snprintf(series, sizeof series, "%s_bucket", name);
    for (size_t i = 0; i <= h->n; i++) {
        cumulative += h->counts[i];
        with_le[nlabels].value = i < h->n ? h->le[i] : "+Inf";
        metrics_sample_u64(out, series, with_le, nlabels + 1, cumulative);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    metrics_sample(out, series, labels, nlabels, h->sum);
    snprintf(series, sizeof series, "%s_count", name);
    metrics_sample_u64(out, series, labels, nlabels, h->count);
}
