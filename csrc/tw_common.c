/* tw_common.c - error strings, event helpers and the byte buffer (batches: tw_batch.c). */
#include "tw_common.h"
#include "tw_internal.h"

#include <stdarg.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

static const char *const code_names[TW_ERR__LAST] = {
    [TW_OK] = "ok",
    [TW_ERR_NOMEM] = "out of memory",
    [TW_ERR_INVALID_ARG] = "invalid argument",
    [TW_ERR_TRANSPORT] = "transport error",
    [TW_ERR_HTTP_STATUS] = "HTTP error status",
    [TW_ERR_SSE_PROTOCOL] = "stream protocol error",
    [TW_ERR_JSON] = "invalid JSON",
    [TW_ERR_CANCELLED] = "cancelled",
    [TW_ERR_CLOSED] = "closed",
    [TW_ERR_TIMEOUT] = "timeout",
    [TW_ERR_BUSY] = "busy",
    [TW_ERR_PROVIDER] = "provider error",
    [TW_ERR_FORKED] = "created before fork() in the parent process",
    [TW_ERR_NOT_FOUND] = "unknown or expired stream",
    [TW_ERR_STORE] = "resume store error",
};

void tw__err_at(tw_error *err, tw_code code, uint64_t pos, const char *msg) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->code = code;
    err->pos = (size_t)pos;
    snprintf(err->msg, sizeof err->msg, "%s", msg ? msg : "");
}

void tw__err(tw_error *err, tw_code code, const char *msg) { tw__err_at(err, code, 0, msg); }

void tw__errf(tw_error *err, tw_code code, const char *fmt, ...) {
    va_list ap;
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

int tw_code_error_kind(tw_code code) {
    switch (code) {
    case TW_ERR_TRANSPORT: return TW_KIND_TRANSPORT;
    case TW_ERR_HTTP_STATUS: return TW_KIND_HTTP;
    case TW_ERR_SSE_PROTOCOL:
    case TW_ERR_JSON: return TW_KIND_PROTOCOL;
    case TW_ERR_CANCELLED: return TW_KIND_CANCELLED;
    case TW_ERR_TIMEOUT: return TW_KIND_TIMEOUT;
    case TW_ERR_PROVIDER: return TW_KIND_PROVIDER;
    default: return TW_KIND_NONE;
    }
}

const char *tw_version(void) { return TW_VERSION_STRING; }

const char *tw_strerror(tw_code code) {
    if ((int)code < 0 || code >= TW_ERR__LAST || !code_names[code]) return "unknown error";
    return code_names[code];
}

static const char *const type_names[TW_EV__LAST] = {
    [TW_EV_START] = "start",
    [TW_EV_TEXT] = "text",
    [TW_EV_REASONING] = "reasoning",
    [TW_EV_TOOL_CALL] = "tool_call",
    [TW_EV_USAGE] = "usage",
    [TW_EV_FINISH] = "finish",
    [TW_EV_ERROR] = "error",
    [TW_EV_RAW] = "raw",
    [TW_EV_END] = "end",
    [TW_EV_AGENT_START] = "agent_start",
    [TW_EV_AGENT_COMPLETE] = "agent_complete",
    [TW_EV_PROGRESS] = "progress",
};

const char *tw_event_type_name(tw_event_type type) {
    if ((int)type <= 0 || type >= TW_EV__LAST || !type_names[type]) return "unknown";
    return type_names[type];
}

static const char *const kind_names[TW_KIND__LAST] = {
    [TW_KIND_NONE] = "none",         [TW_KIND_HTTP] = "http",
    [TW_KIND_PROVIDER] = "provider", [TW_KIND_TIMEOUT] = "timeout",
    [TW_KIND_PROTOCOL] = "protocol", [TW_KIND_CANCELLED] = "cancelled",
    [TW_KIND_TRANSPORT] = "transport", [TW_KIND_TRUNCATED] = "truncated",
};

const char *tw_error_kind_name(tw_error_kind kind) {
    if ((int)kind < 0 || kind >= TW_KIND__LAST) return "none";
    return kind_names[kind];
}

int tw_event_is_terminal(const tw_event *ev) {
    return ev && (ev->type == TW_EV_END || (ev->type == TW_EV_ERROR && !ev->recoverable));
}

void tw_event_init(tw_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->input_tokens = ev->output_tokens = ev->total_tokens = -1;
    ev->retry = -1;
}

/* ---- tw_buf ------------------------------------------------------------------------------- */

void tw_buf_init(tw_buf *b) {
    b->data = NULL;
    b->len = b->cap = 0;
}

void tw_buf_free(tw_buf *b) {
    if (!b) return;
    free(b->data);
    tw_buf_init(b);
}

tw_code tw_buf_reserve(tw_buf *b, size_t n) {
    size_t need, cap;
    char *p;
    if (n > SIZE_MAX - b->len - TW_JSON_PADDING) return TW_ERR_NOMEM;
    need = b->len + n + TW_JSON_PADDING;
    if (need <= b->cap) return TW_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p) return TW_ERR_NOMEM;
    /* Zero the new bytes so that everything below cap is initialised: the bytes after len are
     * the padding handed to tw_json_parse, which simdjson reads and branches on. Once per
     * growth, unlike zeroing the padding at every append. */
    memset(p + b->cap, 0, cap - b->cap);
    b->data = p;
    b->cap = cap;
    return TW_OK;
}

tw_code tw_buf_append(tw_buf *b, const void *p, size_t n) {
    if (n == 0) return TW_OK;
    if (b->cap - b->len < n + TW_JSON_PADDING || b->cap < b->len + n + TW_JSON_PADDING) {
        tw_code rc = tw_buf_reserve(b, n);
        if (rc) return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return TW_OK;
}
