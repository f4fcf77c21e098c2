/*
 * tarry-bench: the load generator and collector behind scripts/bench.
 *
 *   tarry-bench w1 --url URL [--function F] [-n N] [-c C] [--poll-ms MS] [--timeout S] [--stall S]
 *                  [-- CMD ARGS...]
 *       Throughput. Triggers N executions of F over C keep-alive connections (libcurl multi), or runs
 *       CMD (e.g. h2load) as the trigger generator instead, while polling GET /metrics until
 *       tarry_executions_finished_total has grown by N. Then pages through the execution records and
 *       reports first created_at -> last finished_at (the host's own clock: the honest figure) and the
 *       client's wall time from the first trigger to the poll that saw the last completion.
 *
 *   tarry-bench w3 --url URL [--function F] [-n N] [--warmup W] [--wait D]
 *       Latency. N sequential POST .../executions?wait=D round trips on one reused easy handle (one
 *       keep-alive connection), each timed with CLOCK_MONOTONIC; W untimed round trips first.
 *
 *   tarry-bench w2 --url URL [--function F] [--children-function G] [--per-trigger K] [-n N] [-c C] ...
 *       Workflow throughput: w1 for a workflow (default wfbench's wf2: two parallel children, await_all,
 *       one step, one fire-and-forget child). Each trigger makes K executions in all (default 4: the
 *       workflow and its three children); waits until N x K have finished, then reports the
 *       workflows' first created_at -> last finished_at (workflows/s) and checks that every workflow
 *       and N x (K - 1) executions of G (default wfbench_noop) succeeded.
 *
 *   tarry-bench replay --url URL [--function F] [--sizes 0,10,100,1000] [--reps R] [--sleep D]
 *       Replay cost. For each size S, R executions of F (default wfbench's steps) with args
 *       {"n": S, "sleep": D}: S steps, then a durable sleep (default "1h"). All are triggered at once;
 *       once every one is `waiting`, each in turn is resumed with PATCH .../schedule {} and timed
 *       from the PATCH to the long-poll answer of its result (after a 50 ms pause, so one resume's
 *       aftermath does not land in the next one's time): one run that replays S + 1 journal
 *       entries. Reports the median per size and the median minus the smallest size's (the cost of
 *       the replay itself, over the fixed cost of a resume).
 *
 *   tarry-bench reload --url URL --dir PLUGINS_DIR --a A.so --b B.so [--install NAME.so] [--function F]
 *                      [--reps R] [--via api|sighup --pid PID] [--known] [--every-ms MS]
 *       Reload latency (issue 4): R times, install the other build (A, B, A, ...) as NAME.so (default
 *       rl100.so; copy + rename, not timed), then ask for a reload (POST /v1/plugins/reload, or SIGHUP
 *       to PID) and trigger F (default rl100_f42) with ?wait=5s until it answers with the new build's
 *       result ({"build": "a"|"b"}): "serving" is the time from the request (or signal) to that answer.
 *       Each install gets a fresh content hash (the rl100_nonce marker in the copy is overwritten), so
 *       every reload really hashes, copies, dlopen()s and validates a version; --known installs A and B
 *       as they are, so after the first two reloads it only switches between loaded versions. Also
 *       reports a trigger round trip with no reload, the floor under "serving".
 *       With --every-ms MS: reload (API) every MS ms until SIGTERM/SIGINT, then one summary line (how
 *       many, how long each took): the background load of scripts/bench's W1-during-reloads run.
 *
 *   tarry-bench collect --url URL [--function F]
 *       Only the record paging part of w1, for a run that already happened.
 *
 *   tarry-bench fsync-probe --dir DIR [-n N]
 *       What one durable write costs on DIR's disk right now: N times pwrite 4 KiB + fdatasync. An
 *       LMDB commit does two such flushes (data pages, then the meta page), so this is the floor
 *       under every figure above; on a shared machine it moves, so scripts/bench prints it.
 *
 * Output: human-readable notes go to stderr; stdout gets one line per workload, the workload's name
 * followed by key=value pairs (times in ms), so `grep '^w1 '` and `sed` are all a script needs.
 * Exit status: 0 when every execution succeeded and every request answered as expected, 1 otherwise,
 * 2 on usage errors.
 *
 * This is a benchmark client: it must never be the bottleneck. It reports its own CPU time (and the
 * trigger command's, from wait4) so a reader can check that.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------------------------------ */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tarry-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_s(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           (double)ru->ru_stime.tv_usec / 1e6;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return cpu_s(&ru);
}

/* A growable byte buffer for response bodies; reused across requests. */
struct buf {
    char *data;
    size_t len, cap;
};

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return 0; /* makes curl fail the transfer */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array: the smallest value with at least q of the samples <= it. */
static double percentile(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

/*
 * RFC 3339 ("2026-11-28T10:00:00.123Z", any fraction length, "Z" or "+hh:mm") to microseconds since
 * the epoch. Returns false if the text is not such a time (null, missing, malformed).
 */
static bool rfc3339_us(const char *s, int64_t *out)
{
    struct tm tm = {0};
    if (!s)
        return false;
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return false;
    int64_t frac_us = 0;
    if (*p == '.') {
        int64_t scale = 100000;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            frac_us += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return false;
        offset_s = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    *out = ((int64_t)timegm(&tm) - offset_s) * 1000000 + frac_us;
    return true;
}

static void format_us(int64_t us, char *out, size_t size)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03dZ", (int)(us % 1000000 / 1000));
}

/* ---- options ------------------------------------------------------------------------------------ */

struct opts {
    const char *url;      /* base URL, no trailing slash */
    const char *function; /* function to trigger */
    const char *body;     /* trigger body */
    const char *wait;     /* w3: ?wait= value */
    long n;               /* executions (w1) or timed round trips (w3) */
    long conns;           /* w1 internal generator: concurrent connections */
    long warmup;          /* w3: untimed round trips first */
    long poll_ms;         /* w1: /metrics poll interval */
    long timeout_s;       /* w1: give up waiting for completions */
    long stall_s;         /* w1: give up when completions stop for this long after the triggers */
    char **exec_argv;     /* w1: external trigger command, NULL for the internal one */
    const char *dir;      /* fsync-probe: where to write */
    long per_trigger;     /* w1/w2: executions one trigger makes in all (a workflow and its children) */
    const char *children_function; /* w2: the children's function, checked after the run */
    const char *sizes;    /* replay: comma-separated journal sizes */
    long reps;            /* replay: executions per size */
    const char *sleep;    /* replay: the durable sleep each execution ends on */
    const char *build_a, *build_b; /* reload: the two builds of the plugin */
    const char *install;  /* reload: the file name they are installed as in --dir */
    const char *via;      /* reload: "api" or "sighup" */
    long pid;             /* reload --via sighup: the host's pid */
    long every_ms;        /* reload: loop mode interval, 0 for the latency runs */
    bool known;           /* reload: install the builds as they are (no fresh hash) */
};

static long parse_long(const char *flag, const char *v, long min)
{
    char *end;
    errno = 0;
    long x = strtol(v ? v : "", &end, 10);
    if (!v || errno || *end || end == v || x < min)
        die("%s wants an integer >= %ld, got \"%s\"", flag, min, v ? v : "");
    return x;
}

static void usage(void)
{
    fputs(
        "usage: tarry-bench w1 --url URL [--function F] [-n N] [-c C] [--poll-ms MS] [--timeout S]"
        " [--stall S] [-- TRIGGER_CMD ARGS...]\n"
        "       tarry-bench w3 --url URL [--function F] [-n N] [--warmup W] [--wait D]\n"
        "       tarry-bench w2 --url URL [--function F] [--children-function G] [--per-trigger K] [-n N]"
        " [-c C] [--poll-ms MS] [--timeout S] [--stall S]\n"
        "       tarry-bench replay --url URL [--function F] [--sizes S,S,...] [--reps R] [--sleep D]\n"
        "       tarry-bench reload --url URL --dir PLUGINS_DIR --a A.so --b B.so [--install NAME.so] [--function F]"
        " [--reps R] [--via api|sighup --pid PID] [--known] [--every-ms MS]\n"
        "       tarry-bench collect --url URL [--function F]\n"
        "       tarry-bench fsync-probe --dir DIR [-n N]\n"
        "defaults: --url $TARRY_URL or http://127.0.0.1:7373, --function noop, --body '{}';\n"
        "          w1 -n 10000 -c 8 --poll-ms 2 --timeout 300 --stall 10; w3 -n 500 --warmup 50 --wait 10s;\n"
        "          fsync-probe -n 200;\n"
        "          w2 --function wf2 --children-function wfbench_noop --per-trigger 4 -n 1000 -c 8;\n"
        "          replay --function steps --sizes 0,10,100,1000 --reps 5 --sleep 1h;\n"
        "          reload --function rl100_f42 --install rl100.so --reps 20 --via api\n",
        stderr);
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o, const char *cmd)
{
    const char *env_url = getenv("TARRY_URL");
    bool w2 = !strcmp(cmd, "w2"), replay = !strcmp(cmd, "replay"), reload = !strcmp(cmd, "reload");
    *o = (struct opts){
        .url = env_url && *env_url ? env_url : "http://127.0.0.1:7373",
        .function = w2 ? "wf2" : replay ? "steps" : reload ? "rl100_f42" : "noop",
        .body = "{}",
        .wait = "10s",
        .n = !strcmp(cmd, "w3")            ? 500
             : !strcmp(cmd, "fsync-probe") ? 200
             : w2                          ? 1000
                                           : 10000,
        .conns = 8,
        .warmup = 50,
        .poll_ms = 2,
        .timeout_s = 300,
        .stall_s = 10,
        .per_trigger = w2 ? 4 : 1,
        .children_function = "wfbench_noop",
        .sizes = "0,10,100,1000",
        .reps = reload ? 20 : 5,
        .sleep = "1h",
        .install = "rl100.so",
        .via = "api",
    };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) {
            if (i + 1 >= argc)
                die("-- wants a trigger command after it");
            o->exec_argv = &argv[i + 1];
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage();
        if (!strcmp(a, "--known")) {
            o->known = true;
            continue;
        }
        if (!v)
            die("%s wants a value", a);
        if (!strcmp(a, "--url"))
            o->url = v;
        else if (!strcmp(a, "--function"))
            o->function = v;
        else if (!strcmp(a, "--dir"))
            o->dir = v;
        else if (!strcmp(a, "--body"))
            o->body = v;
        else if (!strcmp(a, "--wait"))
            o->wait = v;
        else if (!strcmp(a, "-n"))
            o->n = parse_long(a, v, 1);
        else if (!strcmp(a, "-c"))
            o->conns = parse_long(a, v, 1);
        else if (!strcmp(a, "--warmup"))
            o->warmup = parse_long(a, v, 0);
        else if (!strcmp(a, "--poll-ms"))
            o->poll_ms = parse_long(a, v, 1);
        else if (!strcmp(a, "--timeout"))
            o->timeout_s = parse_long(a, v, 1);
        else if (!strcmp(a, "--stall"))
            o->stall_s = parse_long(a, v, 1);
        else if (!strcmp(a, "--per-trigger"))
            o->per_trigger = parse_long(a, v, 1);
        else if (!strcmp(a, "--children-function"))
            o->children_function = v;
        else if (!strcmp(a, "--sizes"))
            o->sizes = v;
        else if (!strcmp(a, "--reps"))
            o->reps = parse_long(a, v, 1);
        else if (!strcmp(a, "--sleep"))
            o->sleep = v;
        else if (!strcmp(a, "--a"))
            o->build_a = v;
        else if (!strcmp(a, "--b"))
            o->build_b = v;
        else if (!strcmp(a, "--install"))
            o->install = v;
        else if (!strcmp(a, "--via"))
            o->via = v;
        else if (!strcmp(a, "--pid"))
            o->pid = parse_long(a, v, 1);
        else if (!strcmp(a, "--every-ms"))
            o->every_ms = parse_long(a, v, 1);
        else
            die("unknown option %s (try --help)", a);
        i++;
    }
    size_t len = strlen(o->url);
    while (len > 0 && o->url[len - 1] == '/')
        len--;
    o->url = strndup(o->url, len);
}

/* ---- HTTP plumbing ------------------------------------------------------------------------------ */

static struct curl_slist *json_headers(void)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* libcurl would otherwise send "Expect: 100-continue" for larger bodies and wait for it. */
    return curl_slist_append(h, "Expect:");
}

static CURL *easy_new(const char *url, struct buf *sink)
{
    CURL *e = curl_easy_init();
    if (!e)
        die("curl_easy_init failed");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 5L);
    /* never proxy a loopback benchmark, whatever the environment says */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    return e;
}

/* GET url into *out; returns the HTTP status, or -1 (with a note on stderr) on a transport error. */
static long http_get(CURL *e, const char *url, struct buf *out)
{
    buf_reset(out);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        fprintf(stderr, "tarry-bench: GET %s: %s\n", url, curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/*
 * Sum of every tarry_executions_finished_total sample (all state labels) in a Prometheus text body.
 * Returns -1 when the body has no such sample.
 */
static double metrics_finished(const char *text)
{
    static const char name[] = "tarry_executions_finished_total";
    double sum = 0;
    bool found = false;
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        if (!strncmp(line, name, sizeof name - 1) &&
            (line[sizeof name - 1] == '{' || line[sizeof name - 1] == ' ')) {
            const char *p = line + sizeof name - 1;
            if (*p == '{') {
                p = strchr(p, '}');
                if (!p || (eol && p > eol))
                    goto next;
                p++;
            }
            char *end;
            double v = strtod(p, &end);
            if (end != p) {
                sum += v;
                found = true;
            }
        }
    next:
        line = eol ? eol + 1 : NULL;
    }
    return found ? sum : -1;
}

/* ---- record collection (w1, collect) ------------------------------------------------------------ */

struct records {
    long total, succeeded, failed, other_final, unfinished;
    int64_t first_created_us, last_created_us, last_finished_us;
    double *latency_ms; /* finished_at - created_at per finished execution */
    size_t latency_n, latency_cap;
};

static bool is_final(const char *state)
{
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled") ||
           !strcmp(state, "discarded");
}

static void records_init(struct records *r)
{
    free(r->latency_ms);
    *r = (struct records){
        .first_created_us = INT64_MAX, .last_created_us = INT64_MIN, .last_finished_us = INT64_MIN};
}

/* Pages through GET /v1/executions?function=F&limit=1000. Returns false on an HTTP or format error. */
static bool records_collect(const struct opts *o, struct records *r)
{
    struct buf body = {0};
    CURL *e = easy_new(o->url, &body);
    char *fn = curl_easy_escape(e, o->function, 0);
    char *cursor = NULL;
    bool ok = false;

    records_init(r);
    for (;;) {
        char url[2048];
        int len = snprintf(url, sizeof url, "%s/v1/executions?function=%s&limit=1000", o->url, fn);
        if (cursor) {
            char *c = curl_easy_escape(e, cursor, 0);
            snprintf(url + len, sizeof url - (size_t)len, "&cursor=%s", c);
            curl_free(c);
        }
        long status = http_get(e, url, &body);
        if (status != 200) {
            if (status > 0)
                fprintf(stderr, "tarry-bench: GET %s answered %ld: %.300s\n", url, status, body.data);
            goto out;
        }
        cJSON *doc = cJSON_Parse(body.data);
        cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
        if (!cJSON_IsArray(data)) {
            fprintf(stderr, "tarry-bench: GET %s: no \"data\" array in %.300s\n", url, body.data);
            cJSON_Delete(doc);
            goto out;
        }
        cJSON *x;
        cJSON_ArrayForEach(x, data)
        {
            const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "state"));
            const char *created = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "created_at"));
            const char *finished = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "finished_at"));
            int64_t c_us, f_us;
            r->total++;
            if (!state || !is_final(state))
                r->unfinished++;
            else if (!strcmp(state, "succeeded"))
                r->succeeded++;
            else if (!strcmp(state, "failed"))
                r->failed++;
            else
                r->other_final++;
            bool have_c = rfc3339_us(created, &c_us);
            if (have_c) {
                if (c_us < r->first_created_us)
                    r->first_created_us = c_us;
                if (c_us > r->last_created_us)
                    r->last_created_us = c_us;
            }
            if (rfc3339_us(finished, &f_us)) {
                if (f_us > r->last_finished_us)
                    r->last_finished_us = f_us;
                if (have_c) {
                    if (r->latency_n == r->latency_cap) {
                        r->latency_cap = r->latency_cap ? r->latency_cap * 2 : 1024;
                        r->latency_ms = realloc(r->latency_ms, r->latency_cap * sizeof *r->latency_ms);
                        if (!r->latency_ms)
                            die("out of memory");
                    }
                    r->latency_ms[r->latency_n++] = (double)(f_us - c_us) / 1e3;
                }
            }
        }
        free(cursor);
        cursor = NULL;
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "next_cursor"));
        if (next && *next)
            cursor = strdup(next);
        cJSON_Delete(doc);
        if (!cursor)
            break;
    }
    qsort(r->latency_ms, r->latency_n, sizeof *r->latency_ms, cmp_double);
    ok = true;
out:
    free(cursor);
    curl_free(fn);
    curl_easy_cleanup(e);
    free(body.data);
    return ok;
}

/* Prints the record-derived figures as key=value pairs (no newline); returns the records' span in ms. */
static double records_print(const struct records *r)
{
    char first[40] = "-", last[40] = "-";
    double span_ms = NAN;
    if (r->first_created_us != INT64_MAX && r->last_finished_us != INT64_MIN) {
        format_us(r->first_created_us, first, sizeof first);
        format_us(r->last_finished_us, last, sizeof last);
        span_ms = (double)(r->last_finished_us - r->first_created_us) / 1e3;
    }
    printf("executions=%ld succeeded=%ld failed=%ld other_final=%ld unfinished=%ld first_created=%s "
           "last_finished=%s span_ms=%.1f exec_per_s=%.0f",
           r->total, r->succeeded, r->failed, r->other_final, r->unfinished, first, last, span_ms,
           span_ms > 0 ? (double)r->total / (span_ms / 1e3) : NAN);
    if (r->first_created_us != INT64_MAX)
        printf(" created_span_ms=%.1f", (double)(r->last_created_us - r->first_created_us) / 1e3);
    printf(" exec_lat_p50_ms=%.1f exec_lat_p99_ms=%.1f exec_lat_max_ms=%.1f",
           percentile(r->latency_ms, r->latency_n, 0.50), percentile(r->latency_ms, r->latency_n, 0.99),
           r->latency_n ? r->latency_ms[r->latency_n - 1] : NAN);
    return span_ms;
}

static int cmd_collect(const struct opts *o)
{
    struct records r = {0};
    if (!records_collect(o, &r))
        return 1;
    printf("collect function=%s ", o->function);
    records_print(&r);
    printf("\n");
    fflush(stdout);
    int rc = r.succeeded == r.total && r.total > 0 ? 0 : 1;
    free(r.latency_ms);
    return rc;
}

/* ---- W1: throughput ----------------------------------------------------------------------------- */

/* One trigger connection of the internal generator: an easy handle re-added for each request. */
struct trigger_conn {
    CURL *easy;
    struct buf sink;
};

struct w1_state {
    const struct opts *o;
    CURLM *multi;
    struct trigger_conn *conns;
    long sent, answered, accepted; /* triggers sent, answered, answered 202/200 */
    long bad_status;
    double first_sent_ms, last_answer_ms;
    /* the /metrics poller */
    CURL *poll;
    struct buf poll_body;
    bool poll_busy;
    double next_poll_ms;
    double finished_baseline, finished_now;
    double progress_ms; /* when finished_now last grew */
    double done_ms;     /* when a poll first saw every completion, 0 until then */
    long polls;
    /* the external trigger command */
    pid_t child;
    bool child_done;
    int child_status;
    struct rusage child_ru;
};

static void w1_send(struct w1_state *s, struct trigger_conn *c)
{
    buf_reset(&c->sink);
    curl_multi_add_handle(s->multi, c->easy);
    if (s->sent++ == 0)
        s->first_sent_ms = mono_ms();
}

static void w1_poll_start(struct w1_state *s)
{
    buf_reset(&s->poll_body);
    curl_multi_add_handle(s->multi, s->poll);
    s->poll_busy = true;
    s->polls++;
}

static void w1_poll_done(struct w1_state *s, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(s->poll, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(s->multi, s->poll);
    s->poll_busy = false;
    double now = mono_ms();
    s->next_poll_ms = now + (double)s->o->poll_ms;
    if (rc != CURLE_OK || status != 200) {
        fprintf(stderr, "tarry-bench: GET /metrics: %s (status %ld)\n", curl_easy_strerror(rc), status);
        return;
    }
    double fin = metrics_finished(s->poll_body.data);
    if (fin < 0)
        die("GET /metrics has no tarry_executions_finished_total sample; cannot see completions");
    if (fin != s->finished_now)
        s->progress_ms = now;
    s->finished_now = fin;
    if (!s->done_ms && fin - s->finished_baseline >= (double)(s->o->n * s->o->per_trigger))
        s->done_ms = now;
}

static pid_t spawn_trigger_cmd(char **argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* The command's report goes to stderr: stdout carries only our result line. */
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "tarry-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static int cmd_w1(const struct opts *o, const char *label)
{
    struct w1_state s = {.o = o};
    char url[2048];
    struct curl_slist *headers = json_headers();
    int rc = 0;

    s.multi = curl_multi_init();
    /* keep one connection per trigger handle alive; never open more than asked */
    curl_multi_setopt(s.multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->exec_argv ? 1L : o->conns + 1);
    curl_multi_setopt(s.multi, CURLMOPT_MAXCONNECTS, o->conns + 1);
    curl_multi_setopt(s.multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);

    snprintf(url, sizeof url, "%s/metrics", o->url);
    s.poll = easy_new(url, &s.poll_body);
    if (http_get(s.poll, url, &s.poll_body) != 200)
        die("GET %s failed; is the host up?", url);
    s.finished_baseline = metrics_finished(s.poll_body.data);
    if (s.finished_baseline < 0)
        die("GET /metrics has no tarry_executions_finished_total sample; cannot see completions");

    /* The record figures count every execution of the function: they need a host that has none yet. */
    char *fn = curl_easy_escape(s.poll, o->function, 0);
    snprintf(url, sizeof url, "%s/v1/executions?function=%s&limit=1", o->url, fn);
    if (http_get(s.poll, url, &s.poll_body) != 200)
        die("GET %s failed: %.300s", url, s.poll_body.data ? s.poll_body.data : "");
    cJSON *doc = cJSON_Parse(s.poll_body.data);
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "data")) > 0)
        die("the host already has executions of %s; w1 wants a fresh host (data folder)", o->function);
    cJSON_Delete(doc);
    snprintf(url, sizeof url, "%s/metrics", o->url);
    curl_easy_setopt(s.poll, CURLOPT_URL, url);
    snprintf(url, sizeof url, "%s/v1/functions/%s/executions", o->url, fn);
    curl_free(fn);

    double cpu0 = self_cpu_s();
    double t0 = mono_ms();
    if (o->exec_argv) {
        fprintf(stderr, "tarry-bench: w1: triggers by");
        for (char **a = o->exec_argv; *a; a++)
            fprintf(stderr, " %s", *a);
        fprintf(stderr, "\n");
        s.child = spawn_trigger_cmd(o->exec_argv);
    } else {
        fprintf(stderr, "tarry-bench: w1: %ld triggers of %s over %ld keep-alive connections\n", o->n,
                o->function, o->conns);
        s.conns = calloc((size_t)o->conns, sizeof *s.conns);
        for (long i = 0; i < o->conns; i++) {
            struct trigger_conn *c = &s.conns[i];
            c->easy = easy_new(url, &c->sink);
            curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
            curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, o->body);
            curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(o->body));
            curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
            if (s.sent < o->n)
                w1_send(&s, c);
        }
    }
    double trigger_cpu = NAN;
    s.next_poll_ms = t0;

    double deadline = t0 + (double)o->timeout_s * 1e3;
    for (;;) {
        int running;
        curl_multi_perform(s.multi, &running);
        CURLMsg *msg;
        int queued;
        while ((msg = curl_multi_info_read(s.multi, &queued))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            if (msg->easy_handle == s.poll) {
                w1_poll_done(&s, msg->data.result);
                continue;
            }
            struct trigger_conn *c;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            long status = 0;
            curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(s.multi, c->easy);
            s.answered++;
            if (msg->data.result == CURLE_OK && (status == 202 || status == 200)) {
                s.accepted++;
            } else if (s.bad_status++ < 5) {
                fprintf(stderr, "tarry-bench: trigger: %s, status %ld: %.200s\n",
                        curl_easy_strerror(msg->data.result), status, c->sink.data ? c->sink.data : "");
            }
            if (s.answered == o->n) {
                s.last_answer_ms = mono_ms();
                trigger_cpu = self_cpu_s() - cpu0;
            }
            if (s.sent < o->n)
                w1_send(&s, c);
        }
        if (s.child && !s.child_done) {
            pid_t p = wait4(s.child, &s.child_status, WNOHANG, &s.child_ru);
            if (p == s.child) {
                s.child_done = true;
                s.last_answer_ms = mono_ms();
            }
        }
        bool triggers_done = o->exec_argv ? s.child_done : s.answered == o->n;
        if (s.done_ms && triggers_done)
            break;
        if (triggers_done && !o->exec_argv && s.accepted < o->n) {
            fprintf(stderr, "tarry-bench: w1: only %ld of %ld triggers accepted\n", s.accepted, o->n);
            rc = 1;
            break;
        }
        if (o->exec_argv && s.child_done && (!WIFEXITED(s.child_status) || WEXITSTATUS(s.child_status))) {
            fprintf(stderr, "tarry-bench: w1: the trigger command failed (status %d)\n", s.child_status);
            rc = 1;
            break;
        }
        double now = mono_ms();
        /* h2load exits 0 even when every request failed: a run that stops progressing is over. */
        if (triggers_done && now - fmax(s.progress_ms, s.last_answer_ms) > (double)o->stall_s * 1e3) {
            fprintf(stderr,
                    "tarry-bench: w1: no completion for %lds after the triggers ended: %.0f of %ld finished "
                    "(did the triggers fail? see the generator's report)\n",
                    o->stall_s, s.finished_now - s.finished_baseline, o->n * o->per_trigger);
            rc = 1;
            break;
        }
        if (now > deadline) {
            fprintf(stderr, "tarry-bench: w1: timed out after %lds: %.0f of %ld finished\n", o->timeout_s,
                    s.finished_now - s.finished_baseline, o->n * o->per_trigger);
            rc = 1;
            break;
        }
        if (!s.done_ms && !s.poll_busy && now >= s.next_poll_ms)
            w1_poll_start(&s);
        int wait_ms = 50;
        if (!s.done_ms && !s.poll_busy)
            wait_ms = (int)ceil(fmax(0, fmin(wait_ms, s.next_poll_ms - now)));
        if (s.child && !s.child_done)
            wait_ms = (int)fmin(wait_ms, 5);
        curl_multi_poll(s.multi, NULL, 0, wait_ms, NULL);
    }
    if (s.child && !s.child_done) {
        kill(s.child, SIGTERM);
        wait4(s.child, &s.child_status, 0, &s.child_ru);
    }
    double poller_cpu = self_cpu_s() - cpu0 - (o->exec_argv ? 0 : (isnan(trigger_cpu) ? 0 : trigger_cpu));

    struct records r = {0};
    records_init(&r);
    if (rc == 0) {
        fprintf(stderr, "tarry-bench: w1: all finished; reading the execution records\n");
        if (!records_collect(o, &r))
            rc = 1;
    }

    double wall_ms = s.done_ms ? s.done_ms - t0 : NAN;
    double trig_ms = s.last_answer_ms - t0;
    /* w2: the children must all have succeeded too (counted, not timed). */
    struct records kids = {0};
    records_init(&kids);
    bool check_kids = o->per_trigger > 1 && o->children_function && *o->children_function;
    if (rc == 0 && check_kids) {
        struct opts ko = *o;
        ko.function = o->children_function;
        if (!records_collect(&ko, &kids))
            rc = 1;
    }

    printf("%s n=%ld generator=%s", label, o->n, o->exec_argv ? o->exec_argv[0] : "tarry-bench");
    if (o->per_trigger > 1)
        printf(" function=%s per_trigger=%ld", o->function, o->per_trigger);
    if (!o->exec_argv)
        printf(" conns=%ld accepted=%ld", o->conns, s.accepted);
    printf(" ");
    records_print(&r);
    printf(" wall_ms=%.1f wall_exec_per_s=%.0f triggers_ms=%.1f triggers_per_s=%.0f", wall_ms,
           (double)o->n / (wall_ms / 1e3), trig_ms, (double)o->n / (trig_ms / 1e3));
    double gen_cpu = o->exec_argv ? cpu_s(&s.child_ru) : trigger_cpu;
    printf(" generator_cpu_s=%.3f generator_cpu_pct=%.0f poller_cpu_s=%.3f polls=%ld", gen_cpu,
           100 * gen_cpu / (trig_ms / 1e3), poller_cpu, s.polls);
    if (check_kids)
        printf(" children=%ld children_succeeded=%ld", kids.total, kids.succeeded);
    printf("\n");
    fflush(stdout);
    if (rc == 0 && (r.total != o->n || r.succeeded != o->n)) {
        fprintf(stderr, "tarry-bench: %s: expected %ld succeeded executions of %s, found %ld (of %ld)\n", label,
                o->n, o->function, r.succeeded, r.total);
        rc = 1;
    }
    long want_kids = o->n * (o->per_trigger - 1);
    if (rc == 0 && check_kids && (kids.total != want_kids || kids.succeeded != want_kids)) {
        fprintf(stderr, "tarry-bench: %s: expected %ld succeeded executions of %s, found %ld (of %ld)\n", label,
                want_kids, o->children_function, kids.succeeded, kids.total);
        rc = 1;
    }
    free(kids.latency_ms);

    for (long i = 0; s.conns && i < o->conns; i++) {
        curl_easy_cleanup(s.conns[i].easy);
        free(s.conns[i].sink.data);
    }
    free(s.conns);
    curl_multi_remove_handle(s.multi, s.poll);
    curl_easy_cleanup(s.poll);
    free(s.poll_body.data);
    curl_multi_cleanup(s.multi);
    curl_slist_free_all(headers);
    free(r.latency_ms);
    return rc;
}

/* ---- W3: trigger-and-wait latency --------------------------------------------------------------- */

static int cmd_w3(const struct opts *o)
{
    struct buf body = {0};
    CURL *e = easy_new(o->url, &body);
    struct curl_slist *headers = json_headers();
    char url[2048];
    char *fn = curl_easy_escape(e, o->function, 0);
    char *wait = curl_easy_escape(e, o->wait, 0);
    snprintf(url, sizeof url, "%s/v1/functions/%s/executions?wait=%s", o->url, fn, wait);
    curl_free(fn);
    curl_free(wait);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(o->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);

    double *ms = calloc((size_t)o->n, sizeof *ms);
    long errors = 0, connects = 0;
    double cpu0 = 0, t_start = 0;
    fprintf(stderr, "tarry-bench: w3: %ld warm-up + %ld timed round trips of POST %s\n", o->warmup, o->n,
            url);
    for (long i = 0; i < o->warmup + o->n; i++) {
        if (i == o->warmup) {
            cpu0 = self_cpu_s();
            t_start = mono_ms();
        }
        buf_reset(&body);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        CURLcode rc = curl_easy_perform(e);
        clock_gettime(CLOCK_MONOTONIC, &b);
        long status = 0, conn = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conn);
        /* A wait-mode trigger that finished answers 200 with the execution; anything else is an error. */
        bool ok = rc == CURLE_OK && status == 200 && body.data && strstr(body.data, "\"succeeded\"");
        if (!ok && errors++ < 5)
            fprintf(stderr, "tarry-bench: w3: round trip %ld: %s, status %ld: %.200s\n", i,
                    curl_easy_strerror(rc), status, body.data ? body.data : "");
        if (i >= o->warmup) {
            ms[i - o->warmup] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
            connects += conn;
        }
    }
    double total_ms = mono_ms() - t_start;
    double cpu = self_cpu_s() - cpu0;

    double sum = 0;
    for (long i = 0; i < o->n; i++)
        sum += ms[i];
    qsort(ms, (size_t)o->n, sizeof *ms, cmp_double);
    size_t n = (size_t)o->n;
    printf("w3 n=%ld warmup=%ld errors=%ld new_connections=%ld p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
           "mean_ms=%.3f min_ms=%.3f max_ms=%.3f total_ms=%.1f client_cpu_us_per_req=%.1f\n",
           o->n, o->warmup, errors, connects, percentile(ms, n, 0.50), percentile(ms, n, 0.90),
           percentile(ms, n, 0.99), sum / (double)n, ms[0], ms[n - 1], total_ms, cpu * 1e6 / (double)n);
    fflush(stdout);

    free(ms);
    free(body.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(e);
    return errors ? 1 : 0;
}

/* ---- replay cost: one resume of an execution with S journal entries ------------------------------ */

/* One request on a reused easy handle: method GET, POST or PATCH (body for the last two). Returns the
 * HTTP status, or -1 on a transport error (noted on stderr). */
static long http_do(CURL *e, const char *method, const char *url, const char *body, struct buf *out)
{
    buf_reset(out);
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (!strcmp(method, "GET")) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
    }
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        fprintf(stderr, "tarry-bench: %s %s: %s\n", method, url, curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* A string field of a JSON object body, copied into out; false when absent. */
static bool json_string_field(const char *body, const char *key, char *out, size_t size)
{
    cJSON *doc = cJSON_Parse(body ? body : "");
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, key));
    bool ok = v != NULL;
    if (ok)
        snprintf(out, size, "%s", v);
    cJSON_Delete(doc);
    return ok;
}

struct replay_exec {
    long size;
    char id[64];
    double ms;
};

static int cmd_replay(const struct opts *o)
{
    long sizes[32];
    size_t nsizes = 0;
    for (const char *p = o->sizes; *p;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || (*end && *end != ',') || nsizes == sizeof sizes / sizeof *sizes)
            die("--sizes wants up to 32 comma-separated integers >= 0, got \"%s\"", o->sizes);
        sizes[nsizes++] = v;
        p = *end ? end + 1 : end;
    }
    if (!nsizes)
        die("--sizes is empty");

    struct buf body = {0};
    CURL *e = easy_new(o->url, &body);
    struct curl_slist *headers = json_headers();
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    char url[2048], req[512];
    char *fn = curl_easy_escape(e, o->function, 0);
    size_t total = nsizes * (size_t)o->reps;
    struct replay_exec *ex = calloc(total, sizeof *ex);
    int rc = 0;

    /* Trigger everything at once: the first runs (one commit per step) overlap in group commits. */
    double t_setup = mono_ms();
    for (size_t i = 0; i < total; i++) {
        ex[i].size = sizes[i % nsizes]; /* rep-major: sizes interleaved, so drift hits all alike */
        snprintf(url, sizeof url, "%s/v1/functions/%s/executions", o->url, fn);
        snprintf(req, sizeof req, "{\"args\":{\"n\":%ld,\"sleep\":\"%s\"}}", ex[i].size, o->sleep);
        long status = http_do(e, "POST", url, req, &body);
        if (status != 202 || !json_string_field(body.data, "id", ex[i].id, sizeof ex[i].id))
            die("replay: trigger %s answered %ld: %.300s", o->function, status, body.data ? body.data : "");
    }
    fprintf(stderr, "tarry-bench: replay: %zu executions of %s triggered (sizes %s, %ld each); waiting until all wait\n",
            total, o->function, o->sizes, o->reps);
    for (size_t i = 0; i < total; i++) {
        char state[32] = "";
        double deadline = mono_ms() + (double)o->timeout_s * 1e3;
        for (;;) {
            snprintf(url, sizeof url, "%s/v1/executions/%s", o->url, ex[i].id);
            long status = http_do(e, "GET", url, NULL, &body);
            if (status != 200 || !json_string_field(body.data, "state", state, sizeof state))
                die("replay: GET %s answered %ld: %.300s", url, status, body.data ? body.data : "");
            if (!strcmp(state, "waiting"))
                break;
            if (is_final(state) || !strcmp(state, "blocked"))
                die("replay: %s (n=%ld) is %s before its sleep: %.500s", ex[i].id, ex[i].size, state, body.data);
            if (mono_ms() > deadline)
                die("replay: %s (n=%ld) still %s after %lds", ex[i].id, ex[i].size, state, o->timeout_s);
            usleep(20000);
        }
        /* The journal must hold what we think we replay: S steps and the sleep. */
        cJSON *doc = cJSON_Parse(body.data);
        int entries = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "journal"));
        cJSON_Delete(doc);
        if (entries != ex[i].size + 1)
            die("replay: %s has %d journal entries, want %ld (steps) + 1 (sleep)", ex[i].id, entries, ex[i].size);
    }
    fprintf(stderr, "tarry-bench: replay: all waiting after %.0f ms; resuming one at a time\n", mono_ms() - t_setup);

    CURL *pe = easy_new(o->url, &body); /* the PATCH and the long-poll on one connection each */
    curl_easy_setopt(pe, CURLOPT_HTTPHEADER, headers);
    for (size_t i = 0; i < total && rc == 0; i++) {
        char state[32] = "";
        usleep(50000); /* let the previous resume's aftermath (commits, wake-ups) settle first */
        snprintf(url, sizeof url, "%s/v1/executions/%s/schedule", o->url, ex[i].id);
        double t0 = mono_ms();
        long status = http_do(pe, "PATCH", url, "{}", &body);
        if (status != 200) {
            fprintf(stderr, "tarry-bench: replay: PATCH %s answered %ld: %.300s\n", url, status,
                    body.data ? body.data : "");
            rc = 1;
            break;
        }
        snprintf(url, sizeof url, "%s/v1/executions/%s/result?wait=60s", o->url, ex[i].id);
        status = http_do(e, "GET", url, NULL, &body);
        ex[i].ms = mono_ms() - t0;
        snprintf(url, sizeof url, "%s/v1/executions/%s", o->url, ex[i].id);
        if (status != 200 || http_do(e, "GET", url, NULL, &body) != 200 ||
            !json_string_field(body.data, "state", state, sizeof state) || strcmp(state, "succeeded")) {
            fprintf(stderr, "tarry-bench: replay: %s (n=%ld) did not succeed after the resume (%ld): %.500s\n",
                    ex[i].id, ex[i].size, status, body.data ? body.data : "");
            rc = 1;
        }
    }

    double base = NAN;
    for (size_t k = 0; k < nsizes && rc == 0; k++) {
        double *ms = calloc((size_t)o->reps, sizeof *ms);
        size_t n = 0;
        for (size_t i = 0; i < total; i++)
            if (ex[i].size == sizes[k])
                ms[n++] = ex[i].ms;
        qsort(ms, n, sizeof *ms, cmp_double);
        double p50 = percentile(ms, n, 0.50);
        if (k == 0)
            base = p50;
        printf("replay n=%ld entries=%ld reps=%zu p50_ms=%.3f min_ms=%.3f max_ms=%.3f over_n%ld_ms=%.3f "
               "per_entry_us=%.2f\n",
               sizes[k], sizes[k] + 1, n, p50, ms[0], ms[n - 1], sizes[0], p50 - base,
               sizes[k] > sizes[0] ? (p50 - base) * 1e3 / (double)(sizes[k] - sizes[0]) : 0.0);
        free(ms);
    }
    fflush(stdout);

    curl_free(fn);
    free(ex);
    free(body.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(pe);
    curl_easy_cleanup(e);
    return rc;
}

/* ---- reload latency ----------------------------------------------------------------------------- */

static volatile sig_atomic_t reload_stop;

static void on_reload_stop(int sig)
{
    (void)sig;
    reload_stop = 1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long size;
    char *bytes;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(bytes = malloc((size_t)size + 1)) || fread(bytes, 1, (size_t)size, f) != (size_t)size)
        die("cannot read %s: %s", path, strerror(errno));
    fclose(f);
    *len = (size_t)size;
    return bytes;
}

/* A build of the plugin, and where its rl100_nonce marker's digits are (NULL for --known). */
struct reload_build {
    char *bytes;
    size_t len;
    char *nonce;
    char tag; /* 'a' or 'b' */
};

static void reload_build_load(struct reload_build *b, const char *path, char tag, bool known)
{
    static const char marker[] = "RL100NONCE:";
    b->bytes = read_file(path, &b->len);
    b->tag = tag;
    b->nonce = NULL;
    if (!known) {
        char *m = memmem(b->bytes, b->len, marker, sizeof marker - 1);
        if (!m || (size_t)(m - b->bytes) + sizeof marker - 1 + 20 > b->len)
            die("%s has no rl100_nonce marker (\"%s\" + 20 digits); build it from tests/plugins/rl100_common.h "
                "or pass --known",
                path, marker);
        b->nonce = m + sizeof marker - 1;
    }
}

/* Install build b as DIR/NAME: a temp file renamed over it (a scan never sees half a file). A fresh
 * nonce gives the copy a content hash no earlier install had. */
static void reload_install(const struct opts *o, struct reload_build *b, unsigned long long serial)
{
    char tmp[4096], dest[4096], digits[32];
    FILE *f;
    if (b->nonce) {
        snprintf(digits, sizeof digits, "%06ld%014llu", (long)getpid() % 1000000, serial % 100000000000000ULL);
        memcpy(b->nonce, digits, 20);
    }
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", o->dir, o->install);
    snprintf(dest, sizeof dest, "%s/%s", o->dir, o->install);
    if (!(f = fopen(tmp, "wb")) || fwrite(b->bytes, 1, b->len, f) != b->len || fclose(f) != 0)
        die("cannot write %s: %s", tmp, strerror(errno));
    if (rename(tmp, dest) != 0)
        die("cannot rename %s to %s: %s", tmp, dest, strerror(errno));
}

/* POST /v1/plugins/reload; true when it answered 200 with "errors":0. */
static bool reload_post(CURL *e, const struct opts *o, struct buf *body)
{
    char url[2048];
    snprintf(url, sizeof url, "%s/v1/plugins/reload", o->url);
    long status = http_do(e, "POST", url, "{}", body);
    cJSON *doc = status == 200 ? cJSON_Parse(body->data) : NULL;
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(doc, "errors");
    bool ok = cJSON_IsNumber(errors) && errors->valuedouble == 0;
    cJSON_Delete(doc);
    if (!ok)
        fprintf(stderr, "tarry-bench: reload: POST %s answered %ld: %.500s\n", url, status,
                body->data ? body->data : "");
    return ok;
}

/* Trigger the probe function with ?wait=5s; returns the build tag of its result ('a', 'b'), or 0. */
static char reload_probe(CURL *e, const char *url, struct buf *body)
{
    long status = http_do(e, "POST", url, "{}", body);
    if (status != 200 || !body->data)
        return 0;
    const char *hit = strstr(body->data, "\"build\":\"");
    return hit ? hit[9] : 0;
}

static int cmd_reload(const struct opts *o)
{
    struct reload_build builds[2];
    struct buf body = {0};
    struct curl_slist *headers = json_headers();
    char probe_url[2048];
    bool sighup = !strcmp(o->via, "sighup");
    unsigned long long serial = (unsigned long long)time(NULL) * 1000;
    int rc = 0;

    if (!o->dir || !o->build_a || !o->build_b)
        die("reload wants --dir, --a and --b");
    if (strcmp(o->via, "api") && !sighup)
        die("--via wants api or sighup");
    if (sighup && !o->pid)
        die("--via sighup wants --pid (the host's pid: `tarry serve` forwards SIGHUP to its engine)");
    if (sighup && o->every_ms)
        die("--every-ms reloads through the API only");
    reload_build_load(&builds[0], o->build_a, 'a', o->known);
    reload_build_load(&builds[1], o->build_b, 'b', o->known);
    /* The reload request and the probes on a connection each. */
    CURL *e = easy_new(o->url, &body), *pe = easy_new(o->url, &body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(pe, CURLOPT_HTTPHEADER, headers);
    char *fn = curl_easy_escape(e, o->function, 0);
    snprintf(probe_url, sizeof probe_url, "%s/v1/functions/%s/executions?wait=5s", o->url, fn);
    curl_free(fn);

    if (o->every_ms) {
        /* Loop mode: the background reloads of W1-during-reloads. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_reload_stop;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        size_t cap = 1024, n = 0;
        double *ms = calloc(cap, sizeof *ms);
        long errors = 0;
        double next = mono_ms();
        while (!reload_stop) {
            reload_install(o, &builds[(n + 1) % 2], ++serial);
            double t0 = mono_ms();
            if (!reload_post(e, o, &body))
                errors++;
            if (n == cap) {
                cap *= 2;
                ms = realloc(ms, cap * sizeof *ms);
            }
            ms[n++] = mono_ms() - t0;
            next += (double)o->every_ms;
            for (double left = next - mono_ms(); left > 0 && !reload_stop; left = next - mono_ms())
                usleep(left > 20 ? 20000 : (useconds_t)(left * 1000));
        }
        qsort(ms, n, sizeof *ms, cmp_double);
        printf("reload_loop every_ms=%ld reloads=%zu errors=%ld reload_p50_ms=%.3f reload_p99_ms=%.3f "
               "reload_max_ms=%.3f\n",
               o->every_ms, n, errors, n ? percentile(ms, n, 0.5) : 0.0, n ? percentile(ms, n, 0.99) : 0.0,
               n ? ms[n - 1] : 0.0);
        fflush(stdout);
        free(ms);
        rc = errors ? 1 : 0;
        goto out;
    }

    /* The floor: a trigger-and-wait round trip with no reload around it. */
    double base[21];
    for (int i = 0; i < 21; i++) {
        double t0 = mono_ms();
        if (!reload_probe(pe, probe_url, &body))
            die("reload: POST %s did not answer with a build: %.300s", probe_url, body.data ? body.data : "");
        base[i] = mono_ms() - t0;
    }
    qsort(base, 21, sizeof *base, cmp_double);

    double *answer = calloc((size_t)o->reps, sizeof *answer), *serving = calloc((size_t)o->reps, sizeof *serving);
    long probes_max = 0;
    fprintf(stderr, "tarry-bench: reload: %ld reloads via %s of %s (%s builds), probing %s\n", o->reps,
            sighup ? "SIGHUP" : "POST /v1/plugins/reload", o->install, o->known ? "known" : "fresh", probe_url);
    for (long i = 0; i < o->reps && rc == 0; i++) {
        struct reload_build *b = &builds[(i + 1) % 2]; /* the host starts on A: B, A, B, ... */
        long probes = 0;
        usleep(100000); /* let the previous reload's aftermath settle */
        reload_install(o, b, ++serial);
        double t0 = mono_ms();
        if (sighup) {
            if (kill((pid_t)o->pid, SIGHUP) != 0)
                die("kill(%ld, SIGHUP): %s", o->pid, strerror(errno));
        } else if (!reload_post(e, o, &body)) {
            rc = 1;
            break;
        }
        answer[i] = mono_ms() - t0;
        for (;;) {
            char got = reload_probe(pe, probe_url, &body);
            probes++;
            if (got == b->tag)
                break;
            if (!got) {
                fprintf(stderr, "tarry-bench: reload: %s answered: %.300s\n", probe_url, body.data ? body.data : "");
                rc = 1;
                break;
            }
            if (mono_ms() - t0 > 10000) {
                fprintf(stderr, "tarry-bench: reload: build %c is not serving 10 s after the reload\n", b->tag);
                rc = 1;
                break;
            }
        }
        serving[i] = mono_ms() - t0;
        if (probes > probes_max)
            probes_max = probes;
    }
    if (rc == 0) {
        size_t n = (size_t)o->reps;
        qsort(answer, n, sizeof *answer, cmp_double);
        qsort(serving, n, sizeof *serving, cmp_double);
        printf("reload via=%s builds=%s reps=%zu serving_p50_ms=%.3f serving_min_ms=%.3f serving_max_ms=%.3f "
               "answer_p50_ms=%.3f answer_max_ms=%.3f trigger_p50_ms=%.3f probes_max=%ld\n",
               o->via, o->known ? "known" : "fresh", n, percentile(serving, n, 0.5), serving[0], serving[n - 1],
               percentile(answer, n, 0.5), answer[n - 1], percentile(base, 21, 0.5), probes_max);
        fflush(stdout);
    }
    free(answer);
    free(serving);
out:
    free(builds[0].bytes);
    free(builds[1].bytes);
    free(body.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(pe);
    curl_easy_cleanup(e);
    return rc;
}

/* ---- the disk's flush latency ------------------------------------------------------------------- */

static int cmd_fsync_probe(const struct opts *o)
{
    char path[4096];
    if (!o->dir)
        die("fsync-probe wants --dir DIR");
    snprintf(path, sizeof path, "%s/.tarry-bench-fsync-probe", o->dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        die("cannot create %s: %s", path, strerror(errno));
    unlink(path);
    static char page[4096];
    memset(page, 'x', sizeof page);
    double *ms = calloc((size_t)o->n, sizeof *ms);
    for (long i = 0; i < o->n; i++) {
        double a = mono_ms();
        if (pwrite(fd, page, sizeof page, (off_t)(i % 64) * (off_t)sizeof page) != (ssize_t)sizeof page ||
            fdatasync(fd) != 0)
            die("writing %s: %s", path, strerror(errno));
        ms[i] = mono_ms() - a;
    }
    close(fd);
    double sum = 0;
    for (long i = 0; i < o->n; i++)
        sum += ms[i];
    qsort(ms, (size_t)o->n, sizeof *ms, cmp_double);
    size_t n = (size_t)o->n;
    printf("fsync n=%ld p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f min_ms=%.3f max_ms=%.3f\n", o->n,
           percentile(ms, n, 0.50), percentile(ms, n, 0.99), sum / (double)n, ms[0], ms[n - 1]);
    free(ms);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "w1") && strcmp(cmd, "w2") && strcmp(cmd, "w3") && strcmp(cmd, "replay") &&
        strcmp(cmd, "collect") && strcmp(cmd, "fsync-probe") && strcmp(cmd, "reload"))
        usage();
    struct opts o;
    parse_opts(argc, argv, &o, cmd);
    if (!strcmp(cmd, "fsync-probe")) {
        int rc = cmd_fsync_probe(&o);
        free((char *)o.url);
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("curl_global_init failed");
    int rc = !strcmp(cmd, "w1")       ? cmd_w1(&o, "w1")
             : !strcmp(cmd, "w2")     ? cmd_w1(&o, "w2")
             : !strcmp(cmd, "w3")     ? cmd_w3(&o)
             : !strcmp(cmd, "replay") ? cmd_replay(&o)
             : !strcmp(cmd, "reload") ? cmd_reload(&o)
                                      : cmd_collect(&o);
    curl_global_cleanup();
    free((char *)o.url);
    return rc;
}
