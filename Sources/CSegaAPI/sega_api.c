/* The C API's declarations live in include/sega.h; its definitions are the @_cdecl functions of
 * Sources/SegaCAPI/CAPI.swift. This file gives the target its one C translation unit and a
 * version string. */
#include "sega.h"

const char *sega_version(void) { return "sega 0.3"; }
