/*
 * status.c - names for the host's error codes.
 *
 * The SDK's codes are named by tarry_strerror() in tarry.h, which plugins
 * compile in; this room adds the host's own band so one call names any code
 * a user can meet. It holds no state and may not allocate.
 */
#include "status.h"

const char *status_str(int code)
{
    switch (code) {
    case TARRY_ENOTFOUND:
        return "not found";
    case TARRY_EIO:
        return "I/O error";
    case TARRY_EEXIST:
        return "already exists";
    case TARRY_ERANGE:
        return "out of range";
    case TARRY_EFULL:
        return "store full";
    case TARRY_ESTATE:
        return "not allowed in this state";
    case TARRY_EBROKEN:
        return "store broken";
    case TARRY_ELOST:
        return "store lost";
    case TARRY_EQUARANTINED:
        return "function quarantined";
    case TARRY_ECONFLICT:
        return "held by another host";
    case TARRY_EUNREACHABLE:
        return "store unreachable";
    default:
        /* Codes the SDK defines, including ones a newer tarry.h adds. */
        return tarry_strerror(code);
    }
}
