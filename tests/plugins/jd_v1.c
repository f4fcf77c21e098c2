/* jd_v1.c - plugin "jd" 1.0.0, the differential test's corpus (see jd_common.h). */
#define JD_VERSION 1
#include "jd_common.h"
