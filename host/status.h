/*
 * status.h - the host's error codes.
 *
 * Host functions return 0 on success or a negative TARRY_E* code. The SDK's
 * codes (tarry.h) start the band at -30700; the host's own follow, so every
 * code a user can see is in one range and never collides with errno.
 */
#ifndef TARRY_STATUS_H
#define TARRY_STATUS_H

#include "tarry.h"

#define TARRY_ENOTFOUND (-30710)    /* no such execution, function or key */
#define TARRY_EIO (-30711)          /* the store or the file system failed */
#define TARRY_EEXIST (-30712)       /* already exists */
#define TARRY_ERANGE (-30713)       /* a value is out of its range */
#define TARRY_EFULL (-30714)        /* the store is full (its map or the disk): nothing was written */
#define TARRY_ESTATE (-30715)       /* the execution is not in a state that allows this */
#define TARRY_EBROKEN (-30716)      /* the store can no longer write until it is opened again */
#define TARRY_ELOST (-30717)        /* the data folder or its store file is gone or was replaced */
#define TARRY_EQUARANTINED (-30718) /* the function's executions keep crashing the host: new work refused */
#define TARRY_ECONFLICT (-30719)    /* another host holds the execution, or changed it since it was read */
#define TARRY_EUNREACHABLE (-30720) /* the store's server cannot be reached now (PostgreSQL): try again later */

/* A readable name for any host or SDK code. */
const char *status_str(int code);

#endif
