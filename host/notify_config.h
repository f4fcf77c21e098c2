/*
 * notify_config.h - where failure notifications go: the webhooks of
 * `--notify-url`, TARRY_NOTIFY_URL and `--notify-config FILE`, each checked
 * when the host starts (libcurl's URL parser: http and https only), and the
 * base of the dashboard link they carry (`--public-url`).
 *
 * A webhook is `URL` (every function) or `FN,FN=URL` (only those
 * functions). The two cannot be confused: a value that starts with http://
 * or https:// is a URL as a whole (so a URL's own "=" and "," stay its own);
 * any other value must be functions, "=", then the URL, and a function name
 * never holds "=" or ",". TARRY_NOTIFY_URL holds one or more of them,
 * separated by white space (which no URL holds).
 *
 * The config file is JSON, read strictly (an unknown key or a wrong type
 * is an error naming the file and the key):
 *   {"public_url": "https://tarry.example.com",
 *    "webhooks": [{"url": "https://hooks.slack.com/services/...", "functions": ["charge"]}]}
 *
 * May not: send anything, or touch the store.
 */
#ifndef TARRY_NOTIFY_CONFIG_H
#define TARRY_NOTIFY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define NOTIFY_HOOKS_MAX 32 /* a row stores its webhook's position in one byte; 32 is plenty */

typedef struct notify_hook {
    char *url;        /* as configured (it may carry a secret: never logged or shown) */
    char *shown_url;  /* without userinfo, query or fragment */
    char **functions; /* only these functions' failures; NULL (count 0): every function */
    size_t function_count;
} notify_hook;

typedef struct notify_config {
    notify_hook hooks[NOTIFY_HOOKS_MAX];
    size_t count;
    char *public_url; /* the dashboard's base (no trailing "/"), or NULL: http://LISTEN */
} notify_config;

/* Add the webhook in `spec` (`URL` or `FN,FN=URL`; `what` names its flag or variable for errors).
 * 0, or -1 with the reason printed to stderr. */
int notify_config_add(notify_config *c, const char *what, const char *spec);
/* Every webhook in TARRY_NOTIFY_URL's white-space separated list. 0 or -1 (printed). */
int notify_config_add_list(notify_config *c, const char *what, const char *list);
/* The webhooks (and public_url, if set) of a JSON config file. 0 or -1 (printed, naming the file). */
int notify_config_load(notify_config *c, const char *path);
/* Set the dashboard's base URL (checked like a webhook's). 0 or -1 (printed). */
int notify_config_public_url(notify_config *c, const char *what, const char *url);
/* Whether hook h wants `function`'s failures. */
bool notify_hook_wants(const notify_hook *h, const char *function);
void notify_config_free(notify_config *c);

#endif
