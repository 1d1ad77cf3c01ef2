/*
 * encoder.c - the tw_encoder object: format names, content types, dispatch to the formats,
 * and the two stateless formats (ndjson, text).
 *
 * ndjson: one tw_event_to_json object per event, each followed by "\n" (see event_json.c for
 *         the schema); tw_encoder_finish appends nothing.
 * text:   the text of TW_EV_TEXT events only, as raw UTF-8 (invalid sequences become U+FFFD);
 *         everything else, reasoning included, is dropped.
 */
#include "encoders/encoder.h"
#include "tw_internal.h"

#include <stdlib.h>

static const struct {
    const char *name;
    tw_format format;
} format_names[] = {
    {"openai", TW_FORMAT_OPENAI}, {"sse-openai", TW_FORMAT_OPENAI}, {"events", TW_FORMAT_EVENTS},
    {"ai-sdk", TW_FORMAT_AI_SDK}, {"ndjson", TW_FORMAT_NDJSON},     {"text", TW_FORMAT_TEXT},
};

tw_format tw_format_from_name(const char *name, size_t len) {
    if (!name) return (tw_format)0;
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++) {
        if (strlen(format_names[i].name) == len && memcmp(format_names[i].name, name, len) == 0)
            return format_names[i].format;
    }
    return (tw_format)0;
}

static int valid_format(tw_format f) { return (int)f >= TW_FORMAT_OPENAI && f < TW_FORMAT__LAST; }

const char *tw_format_name(tw_format f) {
    switch (f) {
    case TW_FORMAT_OPENAI: return "openai";
    case TW_FORMAT_EVENTS: return "events";
    case TW_FORMAT_AI_SDK: return "ai-sdk";
    case TW_FORMAT_NDJSON: return "ndjson";
    case TW_FORMAT_TEXT: return "text";
    default: return NULL;
    }
}

const char *tw_format_content_type(tw_format f) {
    switch (f) {
    case TW_FORMAT_OPENAI:
    case TW_FORMAT_EVENTS:
    case TW_FORMAT_AI_SDK: return "text/event-stream";
    case TW_FORMAT_NDJSON: return "application/x-ndjson";
    case TW_FORMAT_TEXT: return "text/plain; charset=utf-8";
    default: return NULL;
    }
}

/* What keeps proxies from buffering or rewriting a streamed body. */
#define TW_NO_BUFFERING "cache-control", "no-cache, no-transform", "x-accel-buffering", "no"
static const char *const openai_headers[] = {"content-type", "text/event-stream", TW_NO_BUFFERING,
                                             NULL};
static const char *const ai_sdk_headers[] = {
    "content-type", "text/event-stream", TW_NO_BUFFERING, "x-vercel-ai-ui-message-stream", "v1",
    NULL};
static const char *const ndjson_headers[] = {"content-type", "application/x-ndjson",
                                             TW_NO_BUFFERING, NULL};
static const char *const text_headers[] = {"content-type", "text/plain; charset=utf-8",
                                           TW_NO_BUFFERING, NULL};
static const char *const no_headers[] = {NULL};

const char *const *tw_format_headers(tw_format f) {
    switch (f) {
    case TW_FORMAT_OPENAI:
    case TW_FORMAT_EVENTS: return openai_headers;
    case TW_FORMAT_AI_SDK: return ai_sdk_headers;
    case TW_FORMAT_NDJSON: return ndjson_headers;
    case TW_FORMAT_TEXT: return text_headers;
    default: return no_headers;
    }
}

void tw_encoder_opts_init(tw_encoder_opts *o) {
    if (!o) return;
    o->id = NULL;
    o->model = NULL;
    o->index_is_choice = 0;
}

tw_encoder *tw_encoder_new(tw_format f, const tw_encoder_opts *opts, tw_error *err) {
    tw_encoder *e;
    tw_code rc = TW_OK;
    if (!valid_format(f)) {
        tw__err(err, TW_ERR_INVALID_ARG,
                "unknown encoder format (expected openai, events, ai-sdk, ndjson or text)");
        return NULL;
    }
    e = calloc(1, sizeof *e);
    if (!e) goto nomem;
    e->format = f;
    if (opts) {
        e->index_is_choice = opts->index_is_choice != 0;
        if (opts->id && !(e->opt_id = tw__strndup(opts->id, strlen(opts->id)))) goto nomem;
        if (opts->model && !(e->opt_model = tw__strndup(opts->model, strlen(opts->model))))
            goto nomem;
    }
    switch (f) {
    case TW_FORMAT_OPENAI: rc = tw__openai_init(e); break;
    case TW_FORMAT_EVENTS: rc = tw__events_init(e); break;
    case TW_FORMAT_AI_SDK: rc = tw__ai_sdk_init(e); break;
    default: break;
    }
    if (rc) goto nomem;
    if (err) tw__err(err, TW_OK, "");
    return e;
nomem:
    tw_encoder_free(e);
    tw__err(err, TW_ERR_NOMEM, "out of memory creating an encoder");
    return NULL;
}

void tw_encoder_free(tw_encoder *e) {
    if (!e) return;
    switch (e->format) {
    case TW_FORMAT_OPENAI: tw__openai_free(e); break;
    case TW_FORMAT_EVENTS: tw__events_free(e); break;
    case TW_FORMAT_AI_SDK: tw__ai_sdk_free(e); break;
    default: break;
    }
    free(e->opt_id);
    free(e->opt_model);
    free(e);
}

tw_code tw_encoder_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    size_t start;
    tw_code rc;
    if (!e || !ev || !out || (int)ev->type <= 0 || ev->type >= TW_EV__LAST)
        return TW_ERR_INVALID_ARG;
    if (e->finished) return TW_ERR_CLOSED;
    start = out->len;
    switch (e->format) {
    case TW_FORMAT_OPENAI: rc = tw__openai_encode(e, ev, out); break;
    case TW_FORMAT_EVENTS: rc = tw__events_encode(e, ev, out); break;
    case TW_FORMAT_AI_SDK: rc = tw__ai_sdk_encode(e, ev, out); break;
    case TW_FORMAT_NDJSON:
        rc = tw_event_to_json(ev, out);
        if (!rc) rc = tw__put(out, "\n", 1);
        break;
    case TW_FORMAT_TEXT:
        rc = (ev->type == TW_EV_TEXT && ev->text.ptr) ? tw__utf8_append(out, ev->text.ptr,
                                                                         ev->text.len)
                                                      : TW_OK;
        break;
    default: rc = TW_ERR_INVALID_ARG; break;
    }
    if (rc) out->len = start;
    return rc;
}

tw_code tw_encoder_finish(tw_encoder *e, tw_buf *out) {
    size_t start;
    tw_code rc = TW_OK;
    if (!e || !out) return TW_ERR_INVALID_ARG;
    if (e->finished) return TW_OK;
    start = out->len;
    switch (e->format) {
    case TW_FORMAT_OPENAI: rc = tw__openai_finish(e, out); break;
    case TW_FORMAT_EVENTS: rc = tw__events_finish(e, out); break;
    case TW_FORMAT_AI_SDK: rc = tw__ai_sdk_finish(e, out); break;
    default: break;
    }
    if (rc) {
        out->len = start; /* not finished: the caller may retry after freeing memory */
        return rc;
    }
    e->finished = 1;
    return TW_OK;
}

tw_code tw_encoder_heartbeat(tw_encoder *e, tw_buf *out) {
    if (!e || !out) return TW_ERR_INVALID_ARG;
    switch (e->format) {
    case TW_FORMAT_OPENAI:
    case TW_FORMAT_EVENTS:
    case TW_FORMAT_AI_SDK: return TW__PUT(out, ": keepalive\n\n");
    default: return TW_OK;
    }
}
