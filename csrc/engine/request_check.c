/*
 * request_check.c - the one check of everything a request puts on the wire (method, URL,
 * headers), whichever binding or tool built it. A CR or LF in a header value would let a
 * caller-supplied string (an API key from an environment variable, a user's header) add
 * headers or a second request; a NUL would silently cut it short inside libcurl. So all of
 * them are refused here, with the field named, before anything is copied.
 *
 * Rules (RFC 9110): method and header names are tokens (tchar+); a header value is a
 * field-value: visible ASCII, obs-text (0x80-0xFF), space and tab, nothing else. URLs are
 * absolute http(s) with no control characters, spaces or non-ASCII bytes (percent-encode them).
 */
#include "engine/engine_internal.h"
#include "tw_internal.h"

#include <stdio.h>
#include <string.h>

static int is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *char_name(unsigned char c, char *buf, size_t cap) {
    switch (c) {
    case '\r': return "CR";
    case '\n': return "LF";
    case '\0': return "NUL";
    case ' ': return "space";
    case '\t': return "tab";
    default: snprintf(buf, cap, "byte 0x%02X", c); return buf;
    }
}

static tw_code bad(tw_error *err, const char *what, const char *p, size_t len, size_t at,
                   const char *why) {
    char cn[16];
    /* The message names the field and the position, never the value: it may hold a secret,
     * and must not itself carry the injected bytes into a log line. */
    if (at < len)
        tw__errf(err, TW_ERR_INVALID_ARG, "invalid %s: %s at byte %zu (%s)", what,
                 char_name((unsigned char)p[at], cn, sizeof cn), at, why);
    else
        tw__errf(err, TW_ERR_INVALID_ARG, "invalid %s: %s", what, why);
    if (err) err->pos = at;
    return TW_ERR_INVALID_ARG;
}

tw_code tw__check_method(const char *m, size_t len, tw_error *err) {
    if (len == 0) return bad(err, "method", m, len, 0, "empty");
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)m[i]))
            return bad(err, "method", m, len, i, "a method is an RFC 9110 token");
    return TW_OK;
}

tw_code tw__check_url(const char *u, size_t len, tw_error *err) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c >= 0x7f)
            return bad(err, "url", u, len, i, "percent-encode it");
    }
    return TW_OK;
}

tw_code tw__check_header(const char *h, size_t len, size_t index, tw_error *err) {
    size_t colon = 0, i;
    char what[96];
    while (colon < len && h[colon] != ':') colon++;
    if (colon == len || colon == 0) {
        /* No name to show, and the string may be a bare secret: name it by its position. */
        snprintf(what, sizeof what, "header #%zu", index + 1);
        return bad(err, what, h, len, len, "expected \"Name: value\"");
    }
    for (i = 0; i < colon; i++) {
        if (!is_tchar((unsigned char)h[i])) {
            snprintf(what, sizeof what, "header name \"%.*s\"", (int)(colon < 40 ? colon : 40), h);
            for (char *q = what; *q; q++)
                if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f) *q = '?';
            return bad(err, what, h, len, i, "a header name is an RFC 9110 token");
        }
    }
    snprintf(what, sizeof what, "value of header \"%.*s\"", (int)(colon < 40 ? colon : 40), h);
    for (i = colon + 1; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(err, what, h, len, i,
                       "CR, LF, NUL and other control characters are refused in header values");
    }
    return TW_OK;
}
