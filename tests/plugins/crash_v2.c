/* crash_v2.c - version 2 of the hostile "crash" plugin (crash_common.h): a new build lifts a quarantine. */
#define CRASH_VERSION "2"
#include "crash_common.h"
