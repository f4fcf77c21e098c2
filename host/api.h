/*
 * api.h - the HTTP JSON API under /v1/ (docs/API.md, docs/openapi.yaml).
 *
 * Reads committed state straight from the store (read transactions on the
 * loop thread); every change goes through the engine, which answers after
 * the commit that makes it durable. A change that could not be made
 * durable is answered as not accepted: 503 store_full when the store is
 * full, 500 otherwise (docs/API.md, "Errors").
 */
#ifndef TARRY_API_H
#define TARRY_API_H

#include "engine.h"
#include "http.h"

typedef struct api api;

/* `token`: when non-empty, every request but /healthz must carry
 * "Authorization: Bearer <token>" (copied). */
int api_create(api **out, engine *eng, const char *token);
void api_free(api *a);
/* Stop what it sends to other hosts, while the loop still runs (before api_free). */
void api_close(api *a);

/* The http_handler for every request (api_ptr is the api). */
void api_handle(void *api_ptr, http_req *req);

#endif
