/* tw_common.c - error strings, event helpers, byte buffer and event batches. */
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

/* ---- tw_batch ------------------------------------------------------------------------------
 * Events live in one array; their strings in an arena of fixed chunks so that pushing never
 * moves strings already handed out (pointers into a batch stay valid until it is freed). */

#define ARENA_CHUNK 16384

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
} arena_chunk;

struct tw_batch {
    tw_event *events;
    size_t count, cap;
    arena_chunk *chunks; /* newest first */
    size_t bytes;
};

tw_batch *tw_batch_new(void) { return calloc(1, sizeof(tw_batch)); }

static void free_chunks(arena_chunk *c) {
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

void tw_batch_free(tw_batch *b) {
    if (!b) return;
    free(b->events);
    free_chunks(b->chunks);
    free(b);
}

void tw_batch_clear(tw_batch *b) {
    /* Keep the newest chunk only: a batch reused for a steady stream needs about one. */
    if (b->chunks) {
        free_chunks(b->chunks->next);
        b->chunks->next = NULL;
        b->chunks->used = 0;
    }
    b->count = 0;
    b->bytes = 0;
}

size_t tw_batch_count(const tw_batch *b) { return b ? b->count : 0; }
size_t tw_batch_bytes(const tw_batch *b) { return b ? b->bytes : 0; }

const tw_event *tw_batch_get(const tw_batch *b, size_t i) {
    return (b && i < b->count) ? &b->events[i] : NULL;
}

static char *arena_alloc(tw_batch *b, size_t n) {
    arena_chunk *c = b->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof(arena_chunk) + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        /* A big string gets its own chunk behind the current one, so the current chunk's
         * free space is not wasted. */
        if (b->chunks && n > ARENA_CHUNK) {
            c->next = b->chunks->next;
            b->chunks->next = c;
        } else {
            c->next = b->chunks;
            b->chunks = c;
        }
    }
    c->used += n;
    return c->data + c->used - n;
}

static int copy_str(tw_batch *b, tw_str *s) {
    char *p;
    if (!s->ptr) return 0;
    p = arena_alloc(b, s->len + 1);
    if (!p) return -1;
    memcpy(p, s->ptr, s->len);
    p[s->len] = '\0'; /* bindings may rely on a terminator */
    s->ptr = p;
    b->bytes += s->len + 1;
    return 0;
}

tw_code tw_batch_push(tw_batch *b, const tw_event *ev) {
    tw_event *dst;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        tw_event *p = realloc(b->events, cap * sizeof *p);
        if (!p) return TW_ERR_NOMEM;
        b->events = p;
        b->cap = cap;
    }
    dst = &b->events[b->count];
    *dst = *ev;
    if (copy_str(b, &dst->text) || copy_str(b, &dst->id) || copy_str(b, &dst->name) ||
        copy_str(b, &dst->arguments) || copy_str(b, &dst->reason) || copy_str(b, &dst->raw) ||
        copy_str(b, &dst->source))
        return TW_ERR_NOMEM; /* arena bytes already taken are freed with the batch */
    b->count++;
    b->bytes += sizeof *dst;
    return TW_OK;
}

int tw_batch_sink(void *batch, const tw_event *ev) {
    return tw_batch_push((tw_batch *)batch, ev) == TW_OK ? 0 : 1;
}
