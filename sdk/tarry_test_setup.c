/*
 * tarry_test_setup.c - the test kit's setting up (tarry_test.h): creating
 * and freeing a kit, adding functions and plugins (checked by the journal
 * core's descriptor checks, as the host checks them), stubs, the clock and
 * the pass limit; and the small helpers the kit's files share.
 */
#include "tarry_test.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "jcore_plugin.h"
#include "tarry_test_private.h"

#define KIT_MAX_PASSES_DEFAULT 100000u

/* ---- small helpers ----------------------------------------------------------- */

char *tarry_test__dup(const char *s)
{
    size_t len;
    char *copy;

    if (!s)
        return NULL;
    len = strlen(s);
    if (!(copy = malloc(len + 1)))
        return NULL;
    memcpy(copy, s, len + 1);
    return copy;
}

char *tarry_test__vformat(const char *fmt, va_list ap)
{
    va_list again;
    int len;
    char *out;

    va_copy(again, ap);
    len = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (len < 0 || !(out = malloc((size_t)len + 1)))
        return NULL;
    vsnprintf(out, (size_t)len + 1, fmt, ap);
    return out;
}

void tarry_test__printf(kit_text *b, const char *fmt, ...)
{
    va_list ap;
    int len;

    if (b->oom)
        return;
    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) {
        b->oom = true;
        return;
    }
    if (b->len + (size_t)len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *grown;
        while (cap < b->len + (size_t)len + 1)
            cap *= 2;
        if (!(grown = realloc(b->text, cap))) {
            b->oom = true;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)len;
}

/* memcpy keeps the pointer's type honest: items_ptr is any T **. */
int tarry_test__grow(void *items_ptr, size_t count, size_t *cap, size_t size)
{
    void *items, *grown;
    size_t ncap;

    if (count < *cap)
        return 0;
    memcpy(&items, items_ptr, sizeof items);
    ncap = *cap ? *cap * 2 : 8;
    if (!(grown = realloc(items, ncap * size)))
        return -1;
    memcpy(items_ptr, &grown, sizeof grown);
    *cap = ncap;
    return 0;
}

int tarry_test_json_valid(const char *json)
{
    return json && json_strict_check(json, strlen(json), NULL) == 0;
}

void tarry_test__set_error(tarry_test *t, char *msg)
{
    free(t->error);
    t->error = msg;
}

/* A misuse of the kit's own API: printed and kept as tarry_test_error(). Returns TARRY_EINVAL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int
tarry_test__refuse(tarry_test *t, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = tarry_test__vformat(fmt, ap);
    va_end(ap);
    fprintf(stderr, "tarry_test: %s\n", msg ? msg : "out of memory");
    tarry_test__set_error(t, msg);
    return TARRY_EINVAL;
}

const char *tarry_test__level_name(int level)
{
    switch (level) {
    case TARRY_LOG_DEBUG:
        return "debug";
    case TARRY_LOG_INFO:
        return "info";
    case TARRY_LOG_WARN:
        return "warn";
    default:
        return "error";
    }
}

const char *tarry_test_state_name(tarry_test_state state)
{
    switch (state) {
    case TARRY_TEST_SUCCEEDED:
        return "succeeded";
    case TARRY_TEST_FAILED:
        return "failed";
    case TARRY_TEST_BLOCKED:
        return "blocked";
    case TARRY_TEST_WAITING:
        return "waiting";
    case TARRY_TEST_CRASHED:
        return "crashed";
    default:
        return "error";
    }
}

/* ---- functions and stubs ----------------------------------------------------------- */

const kit_function *tarry_test__function_find(const tarry_test *t, const char *name)
{
    for (size_t i = 0; i < t->function_count; i++)
        if (strcmp(t->functions[i].name, name) == 0)
            return &t->functions[i];
    return NULL;
}

bool tarry_test__function_runnable(const kit_function *f)
{
    return f && (f->real || f->stub);
}

/* ---- setting up ------------------------------------------------------------------------------ */

tarry_test *tarry_test_new(void)
{
    tarry_test *t = calloc(1, sizeof *t);

    if (!t)
        return NULL;
    t->clock_start = t->now = TARRY_TEST_EPOCH_MS;
    t->max_passes = KIT_MAX_PASSES_DEFAULT;
    t->state = TARRY_TEST_ERROR;
    t->verdict.position = -1;
    return t;
}

void tarry_test_free(tarry_test *t)
{
    if (!t)
        return;
    tarry_test__reset(t);
    free(t->execs);
    free(t->steps);
    free(t->logs);
    for (size_t i = 0; i < t->function_count; i++) {
        free(t->functions[i].name);
        free(t->functions[i].stub_text);
    }
    free(t->functions);
    tarry_test__step_stubs_free(t);
    for (size_t i = 0; i < t->owned_count; i++)
        free(t->owned[i]);
    free(t->owned);
    for (size_t i = 0; i < t->library_count; i++)
        dlclose(t->libraries[i]);
    free(t->libraries);
    free(t);
}

/* The entry for `name`, created empty if missing; NULL when out of memory. */
static kit_function *function_slot(tarry_test *t, const char *name)
{
    kit_function *f = (kit_function *)tarry_test__function_find(t, name);

    if (f)
        return f;
    if (tarry_test__grow(&t->functions, t->function_count, &t->function_cap, sizeof *t->functions) != 0)
        return NULL;
    f = &t->functions[t->function_count];
    memset(f, 0, sizeof *f);
    if (!(f->name = tarry_test__dup(name)))
        return NULL;
    t->function_count++;
    return f;
}

static int add_real(tarry_test *t, const char *what, const char *name, tarry_fn fn, uint32_t revision)
{
    kit_function *f;

    if (!jcore_name_valid(name))
        return tarry_test__refuse(
            t, "%s: invalid function name \"%s\" (want [A-Za-z_][A-Za-z0-9_.-]*, at most %d bytes)", what,
            name ? name : "(null)", JCORE_NAME_MAX);
    if (!fn)
        return tarry_test__refuse(t, "%s: function \"%s\" has no C function", what, name);
    if ((f = (kit_function *)tarry_test__function_find(t, name)) && f->real)
        return tarry_test__refuse(t, "%s: a function named \"%s\" was already added", what, name);
    if (!(f = function_slot(t, name)))
        return TARRY_ENOMEM;
    f->real = fn;
    f->real_revision = revision;
    return TARRY_OK;
}

int tarry_test_add_function(tarry_test *t, const char *name, tarry_fn fn)
{
    return add_real(t, "tarry_test_add_function", name, fn, TARRY_HEADER_REVISION);
}

int tarry_test_add_plugin(tarry_test *t, const tarry_plugin_def *def)
{
    static const char what[] = "tarry_test_add_plugin";
    jcore_plugin_info info;
    char err[1024];

    /* The host's checks (jcore_plugin.h), with the host's words. */
    if (jcore_plugin_check(def, &info, err, sizeof err) != 0)
        return tarry_test__refuse(t, "%s: %s", what, err);
    /* Check every function before adding any, so a refused plugin adds nothing. */
    for (size_t i = 0; i < def->function_count; i++) {
        const tarry_function_def *f = jcore_plugin_function(def, i);
        const kit_function *known = tarry_test__function_find(t, f->name);
        if (known && known->real)
            return tarry_test__refuse(t, "%s: plugin \"%s\": a function named \"%s\" was already added", what,
                                      def->name, f->name);
    }
    for (size_t i = 0; i < def->function_count; i++) {
        const tarry_function_def *f = jcore_plugin_function(def, i);
        int rc = add_real(t, what, f->name, f->fn, info.header_revision);
        if (rc != TARRY_OK)
            return rc;
    }
    return TARRY_OK;
}

int tarry_test_load(tarry_test *t, const char *path)
{
    const tarry_plugin_def *def;
    void *lib;
    int rc;

    if (!path)
        return tarry_test__refuse(t, "tarry_test_load: the path is NULL");
    if (tarry_test__grow(&t->libraries, t->library_count, &t->library_cap, sizeof *t->libraries) != 0)
        return TARRY_ENOMEM;
    if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
        return tarry_test__refuse(t, "tarry_test_load: cannot load %s: %s", path, dlerror());
    if (!(def = (const tarry_plugin_def *)dlsym(lib, "tarry_plugin"))) {
        rc = tarry_test__refuse(
            t, "tarry_test_load: %s exports no `tarry_plugin` (build it with TARRY_PLUGIN())", path);
        dlclose(lib);
        return rc;
    }
    if ((rc = tarry_test_add_plugin(t, def)) != TARRY_OK) {
        dlclose(lib);
        return rc;
    }
    t->libraries[t->library_count++] = lib;
    return TARRY_OK;
}

int tarry_test_stub(tarry_test *t, const char *function, tarry_status status, const char *value_or_error)
{
    kit_function *f;
    char *text = NULL;

    if (!jcore_name_valid(function))
        return tarry_test__refuse(t, "tarry_test_stub: invalid function name \"%s\"",
                                  function ? function : "(null)");
    if (status != TARRY_OK && status != TARRY_FAILED && status != TARRY_CANCELLED)
        return tarry_test__refuse(
            t, "tarry_test_stub(\"%s\"): status must be TARRY_OK, TARRY_FAILED or TARRY_CANCELLED", function);
    if (status == TARRY_OK && value_or_error && !tarry_test_json_valid(value_or_error))
        return tarry_test__refuse(t, "tarry_test_stub(\"%s\"): the value is not valid JSON: %.60s", function,
                                  value_or_error);
    if ((value_or_error && !(text = tarry_test__dup(value_or_error))) || !(f = function_slot(t, function))) {
        free(text);
        return TARRY_ENOMEM;
    }
    free(f->stub_text);
    f->stub = 1;
    f->stub_at = false; /* tarry_test_stub_at sets it after */
    f->stub_status = status;
    f->stub_text = text;
    f->stub_fn = NULL;
    return TARRY_OK;
}

int tarry_test_stub_fn(tarry_test *t, const char *function, tarry_fn fn)
{
    kit_function *f;

    if (!jcore_name_valid(function))
        return tarry_test__refuse(t, "tarry_test_stub_fn: invalid function name \"%s\"",
                                  function ? function : "(null)");
    if (!fn)
        return tarry_test__refuse(t, "tarry_test_stub_fn(\"%s\"): fn is NULL", function);
    if (!(f = function_slot(t, function)))
        return TARRY_ENOMEM;
    free(f->stub_text);
    f->stub_text = NULL;
    f->stub = 2;
    f->stub_at = false;
    f->stub_fn = fn;
    return TARRY_OK;
}

int tarry_test_unstub(tarry_test *t, const char *function)
{
    kit_function *f = function ? (kit_function *)tarry_test__function_find(t, function) : NULL;

    if (!f || !f->stub)
        return tarry_test__refuse(t, "tarry_test_unstub: \"%s\" is not stubbed",
                                  function ? function : "(null)");
    free(f->stub_text);
    f->stub_text = NULL;
    f->stub = 0;
    f->stub_at = false;
    f->stub_fn = NULL;
    return TARRY_OK;
}

void tarry_test_set_clock(tarry_test *t, int64_t unix_ms)
{
    t->clock_start = t->now = unix_ms;
}

void tarry_test_set_max_passes(tarry_test *t, unsigned max_passes)
{
    t->max_passes = max_passes ? max_passes : 1;
}
