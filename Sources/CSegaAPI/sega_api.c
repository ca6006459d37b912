/* The C API's declarations live in include/sega.h; its definitions are the @_cdecl functions of
 * Sources/SegaCAPI (sega_version() included: it returns SegaRuntime's SegaVersion.string). This
 * file gives the target its one C translation unit. */
#include "sega.h"
