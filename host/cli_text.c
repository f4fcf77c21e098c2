/*
 * cli_text.c - the CLI's memory, text, JSON fields, tables and times.
 *
 * Growing text is written with stdio into open_memstream (libc's growable
 * buffer), never into a hand-sized one. Text that came from the host (error
 * messages plugins wrote, names, log lines) is printed through cli_say() or
 * a table, which replace control characters, so an execution's error cannot
 * drive the user's terminal.
 *
 * May not: talk to the host (cli_client.c does).
 */
#include "cli_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"

/* ---- memory ------------------------------------------------------------------ */

_Noreturn void cli_die_oom(void)
{
    fputs("tarry: out of memory\n", stderr);
    exit(CLI_EXIT_USAGE);
}

void *cli_xrealloc(void *ptr, size_t size)
{
    ptr = realloc(ptr, size ? size : 1);
    if (!ptr)
        cli_die_oom();
    return ptr;
}

char *cli_xstrdup(const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        cli_die_oom();
    return copy;
}

static char *xvasprintf(const char *fmt, va_list ap)
{
    char *text;
    if (vasprintf(&text, fmt, ap) < 0)
        cli_die_oom();
    return text;
}

char *cli_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    return text;
}

void cli_text_open(cli_text *t)
{
    t->ptr = NULL;
    t->size = 0;
    if (!(t->f = open_memstream(&t->ptr, &t->size)))
        cli_die_oom();
}

size_t cli_text_len(cli_text *t)
{
    long at = ftell(t->f);
    return at > 0 ? (size_t)at : 0;
}

char *cli_text_take(cli_text *t)
{
    /* fclose fails only when the stream could not grow: then ptr is not the text. */
    if (fclose(t->f) != 0 || !t->ptr)
        cli_die_oom();
    t->f = NULL;
    return t->ptr;
}

/* ---- text for a terminal ------------------------------------------------------- */

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

void cli_put_clean(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(is_control(c) && c != '\n' && c != '\t' ? '?' : c, out);
    }
}

void cli_say(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    cli_put_clean(out, text, strlen(text));
    free(text);
}

void cli_put_shell_word(FILE *out, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.,:/=@+%", *p))
            plain = false;
    if (plain) {
        fputs(s, out);
        return;
    }
    fputc('\'', out);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", out);
        else
            fputc(*p, out);
    }
    fputc('\'', out);
}

size_t cli_text_width(const char *s)
{
    size_t width = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            width++;
    return width;
}

void cli_put_cut(FILE *out, const char *s, size_t max_cols)
{
    if (cli_text_width(s) <= max_cols) {
        fputs(s, out);
        return;
    }
    size_t cols = 0, len = 0;
    for (; s[len]; len++) {
        if (((unsigned char)s[len] & 0xc0) != 0x80 && cols++ == max_cols - 3)
            break;
    }
    fwrite(s, 1, len, out);
    fputs("...", out);
}

/* ---- JSON fields ----------------------------------------------------------------- */

const char *cli_json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cli_json_get(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

const cJSON *cli_json_get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *cli_json_type_name(const cJSON *item)
{
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsArray(item))
        return "an array";
    return "an object";
}

char *cli_json_cell(const cJSON *item)
{
    if (!item || cJSON_IsNull(item))
        return cli_xstrdup("-");
    if (cJSON_IsString(item))
        return cli_xstrdup(item->valuestring);
    if (cJSON_IsNumber(item) && item->valuedouble == (double)(long long)item->valuedouble)
        return cli_xasprintf("%lld", (long long)item->valuedouble);
    char *text = cJSON_PrintUnformatted(item);
    if (!text)
        cli_die_oom();
    return text;
}

char *cli_json_text(const cJSON *item)
{
    char *text = item ? cJSON_PrintUnformatted(item) : cli_xstrdup("null");
    if (!text)
        cli_die_oom();
    return text;
}

bool cli_json_time(const cJSON *obj, const char *key, int64_t *out_ms)
{
    const char *text = cli_json_str(obj, key);
    return text && clock_parse(text, out_ms, NULL, 0) == 0;
}

/* "in 23h 59m", "5s ago" or "now" (within a second) for when_ms seen at now_ms. */
static void relative_text(int64_t when_ms, int64_t now_ms, char *out, size_t outlen)
{
    char span[64];
    int64_t diff = when_ms - now_ms;
    if (diff > -1000 && diff < 1000) {
        snprintf(out, outlen, "now");
        return;
    }
    duration_format(diff < 0 ? -diff : diff, span, sizeof span);
    snprintf(out, outlen, diff < 0 ? "%s ago" : "in %s", span);
}

char *cli_when_text(const char *word, const cJSON *obj, const char *key, int64_t now_ms)
{
    const char *text = cli_json_str(obj, key);
    int64_t when_ms;
    char rel[80];

    if (!text)
        return NULL;
    if (!cli_json_time(obj, key, &when_ms))
        return cli_xasprintf("%s%s%s", word, *word ? " " : "", text);
    relative_text(when_ms, now_ms, rel, sizeof rel);
    return cli_xasprintf("%s%s%s (%s)", word, *word ? " " : "", text, rel);
}

/* ---- tables ------------------------------------------------------------------------ */

void cli_table_add(cli_table *t, const char *const *cells)
{
    t->cells = cli_xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
    for (size_t i = 0; i < t->ncols; i++) {
        char *cell = cli_xstrdup(cells[i] ? cells[i] : "-");
        /* A row stays one line. */
        for (char *p = cell; *p; p++)
            if (is_control((unsigned char)*p))
                *p = *p == '\n' || *p == '\t' ? ' ' : '?';
        t->cells[t->nrows * t->ncols + i] = cell;
    }
    t->nrows++;
}

void cli_table_print(const cli_table *t, FILE *out)
{
    size_t *widths = cli_xrealloc(NULL, t->ncols * sizeof *widths);
    for (size_t c = 0; c < t->ncols; c++) {
        widths[c] = 0;
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = cli_text_width(t->cells[r * t->ncols + c]);
            if (w > widths[c])
                widths[c] = w;
        }
    }
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *row = (const char *const *)&t->cells[r * t->ncols];
        size_t last = t->ncols;
        while (last > 0 && !row[last - 1][0])
            last--;
        int pad = 0;
        for (size_t c = 0; c < last; c++) {
            if (widths[c] == 0)
                continue;
            fprintf(out, "%*s%s", pad, "", row[c]);
            pad = (int)(widths[c] - cli_text_width(row[c]) + 2);
        }
        fputc('\n', out);
    }
    free(widths);
}

void cli_table_free(cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}
