/* jd_v2.c - plugin "jd" 2.0.0: jd_patched with tarry_patched("extra"), jd_nd changed (see jd_common.h). */
#define JD_VERSION 2
#include "jd_common.h"
