/*
 * fuzz_host.h - a real host without a socket, for the fuzz targets: an
 * engine and the API on a temporary store (removed at exit), with the
 * fuzz plugin (fuzz_plugin.c: noop, echo) loaded, driven by test-only
 * requests (http.h: http_fake_new).
 *
 * Every answer is checked: a status in 200..599 and, but for /metrics, a
 * body that is strict JSON (json_strict.h) - a host that answers anything
 * else has a bug, and the target aborts so libFuzzer reports it.
 */
#ifndef TARRY_FUZZ_HOST_H
#define TARRY_FUZZ_HOST_H

#include <stddef.h>

/* Start the host once per process (idempotent). Aborts if it cannot. */
void fuzz_host_init(void);

/*
 * Send one request and run the loop until it is answered, or until a
 * bounded number of loop turns pass (then the request is dropped, as a
 * client that goes away). Returns the status, or 0 when it was dropped.
 */
int fuzz_host_request(const char *method, size_t method_len, const char *target, size_t target_len,
                      const char *headers, size_t headers_len, const char *body, size_t body_len);

/* The id of an execution the host made at start (an echo), as text, for routes that need one. */
const char *fuzz_host_exec_id(void);

#endif
