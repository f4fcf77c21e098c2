/* crash_v1.c - version 1 of the hostile "crash" plugin (crash_common.h). */
#define CRASH_VERSION "1"
#include "crash_common.h"
