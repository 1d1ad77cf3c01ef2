/*
 * tw_internal.h - helpers shared by the core's own files; not part of the public surface
 * (tokenwire.h does not include it).
 */
#ifndef TW_INTERNAL_H
#define TW_INTERNAL_H

#include "tw_common.h"

#ifndef TW_VERSION_STRING
#error "TW_VERSION_STRING comes from package.json through the build (Makefile, setup.py, binding.gyp)"
#endif

/* Fills err (when not NULL): code, the message, pos (0 when it has none); every other field
 * cleared. The one way the core reports a failure to its callers. */
void tw__err(tw_error *err, tw_code code, const char *msg);
void tw__err_at(tw_error *err, tw_code code, uint64_t pos, const char *msg);
void tw__errf(tw_error *err, tw_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* TW_INTERNAL_H */
