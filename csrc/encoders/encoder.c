/*
 * encoder.c - the tw_encoder object: format names, content types, dispatch to the formats
 * (one table), the two stateless formats (ndjson, text), and event ids.
 *
 * ndjson: one tw_event_to_json object per event, each followed by "\n" (see event_json.c for
 *         the schema); tw_encoder_finish appends nothing.
 * text:   the text of TW_EV_TEXT events only, as raw UTF-8 (invalid sequences become U+FFFD);
 *         everything else, reasoning included, is dropped.
 */
#include "encoders/encoder.h"
#include "tw_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* What keeps proxies from buffering or rewriting a streamed body. */
#define TW_NO_BUFFERING "cache-control", "no-cache, no-transform", "x-accel-buffering", "no"
static const char *const sse_headers[] = {"content-type", "text/event-stream", TW_NO_BUFFERING,
                                          NULL};
static const char *const ai_sdk_headers[] = {
    "content-type", "text/event-stream", TW_NO_BUFFERING, "x-vercel-ai-ui-message-stream", "v1",
    NULL};
static const char *const ndjson_headers[] = {"content-type", "application/x-ndjson",
                                             TW_NO_BUFFERING, NULL};
static const char *const text_headers[] = {"content-type", "text/plain; charset=utf-8",
                                           TW_NO_BUFFERING, NULL};
static const char *const no_headers[] = {NULL};

static tw_code ndjson_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    tw_code rc = tw_event_to_json(ev, out);
    (void)e;
    return rc ? rc : tw__put(out, "\n", 1);
}

static tw_code text_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    (void)e;
    return (ev->type == TW_EV_TEXT && ev->text.ptr)
               ? tw__utf8_append(out, ev->text.ptr, ev->text.len)
               : TW_OK;
}

static tw_code sse_app(tw_encoder *e, const tw__app *a, tw_buf *out) {
    (void)e;
    return tw__app_sse(a, out);
}

static tw_code ndjson_app(tw_encoder *e, const tw__app *a, tw_buf *out) {
    (void)e;
    return tw__app_ndjson(a, out);
}

static tw_code ndjson_close(tw_encoder *e, const tw__app *final, tw_buf *out) {
    (void)e;
    return final ? tw__app_ndjson(final, out) : TW_OK;
}

/* The formats, dispatched through one table (like the decoders' dialects). */
static const struct format_ops {
    const char *name;
    const char *content_type;
    const char *const *headers;
    int sse; /* framed as SSE events (ids, heartbeats) */
    tw_code (*init)(tw_encoder *e);
    tw_code (*encode)(tw_encoder *e, const tw_event *ev, tw_buf *out);
    /* The end of one source (a phase); NULL: nothing to close. */
    tw_code (*end_phase)(tw_encoder *e, tw_buf *out);
    /* The end of the relay, with the app's final event or (NULL) the format's own. */
    tw_code (*close)(tw_encoder *e, const tw__app *final, tw_buf *out);
    /* An app event (tw_encoder_send). */
    tw_code (*app)(tw_encoder *e, const tw__app *a, tw_buf *out);
    void (*free)(tw_encoder *e);
} formats[TW_FORMAT__LAST + 1] = {
    [TW_FORMAT_OPENAI] = {"openai", "text/event-stream", sse_headers, 1, tw__openai_init,
                          tw__openai_encode, NULL, tw__openai_close, sse_app, tw__openai_free},
    [TW_FORMAT_EVENTS] = {"events", "text/event-stream", sse_headers, 1, tw__events_init,
                          tw__events_encode, tw__events_end_phase, tw__events_close, sse_app,
                          tw__events_free},
    [TW_FORMAT_AI_SDK] = {"ai-sdk", "text/event-stream", ai_sdk_headers, 1, tw__ai_sdk_init,
                          tw__ai_sdk_encode, tw__ai_sdk_end_phase, tw__ai_sdk_close,
                          tw__ai_sdk_app, tw__ai_sdk_free},
    [TW_FORMAT_NDJSON] = {"ndjson", "application/x-ndjson", ndjson_headers, 0, NULL,
                          ndjson_encode, NULL, ndjson_close, ndjson_app, NULL},
    [TW_FORMAT_TEXT] = {"text", "text/plain; charset=utf-8", text_headers, 0, NULL, text_encode,
                        NULL, NULL, NULL, NULL},
    /* Created by tw_encoder_new_template; SSE framing unless the spec says ndjson. */
    [TW__FORMAT_TEMPLATE] = {"template", "text/event-stream", sse_headers, 1, NULL,
                            tw__template_encode, NULL, tw__template_close, tw__template_app,
                            tw__template_free},
};

static int valid_format(tw_format f) { return (int)f >= TW_FORMAT_OPENAI && f < TW_FORMAT__LAST; }

const char *tw_format_name(tw_format f) { return valid_format(f) ? formats[f].name : NULL; }

const char *tw_format_content_type(tw_format f) {
    return valid_format(f) ? formats[f].content_type : NULL;
}

const char *const *tw_format_headers(tw_format f) {
    return valid_format(f) ? formats[f].headers : no_headers;
}

void tw_encoder_opts_init(tw_encoder_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
}

static tw_encoder *encoder_alloc(tw_format f, const tw_encoder_opts *opts, tw_error *err);

tw_encoder *tw_encoder_new_template(const char *spec, size_t len, const tw_encoder_opts *opts,
                                    tw_error *err) {
    tw_encoder *e;
    tw_error why = {0}; /* the compiler's reason, whatever err held before */
    tw_code rc;
    if (!spec) {
        tw__err(err, TW_ERR_INVALID_ARG, "template: a spec is required");
        return NULL;
    }
    e = encoder_alloc(TW__FORMAT_TEMPLATE, opts, err);
    if (!e) return NULL;
    rc = tw__template_compile(e, spec, len, &why);
    if (rc) {
        if (rc == TW_ERR_NOMEM) tw__err(&why, rc, "out of memory compiling a template");
        else if (why.code == TW_OK) tw__err(&why, rc, "template: invalid spec");
        if (err) *err = why;
        tw_encoder_free(e);
        return NULL;
    }
    if (err) tw__err(err, TW_OK, "");
    return e;
}

const char *const *tw_encoder_headers(const tw_encoder *e) {
    if (!e) return no_headers;
    if (e->format == TW__FORMAT_TEMPLATE && !e->sse) return ndjson_headers;
    return formats[e->format].headers;
}

static tw_encoder *encoder_alloc(tw_format f, const tw_encoder_opts *opts, tw_error *err) {
    tw_encoder *e = calloc(1, sizeof *e);
    if (!e) goto nomem;
    e->format = f;
    e->sse = formats[f].sse;
    if (opts) {
        e->index_is_choice = opts->index_is_choice != 0;
        if (opts->id && !(e->opt_id = tw__strndup(opts->id, strlen(opts->id)))) goto nomem;
        if (opts->model && !(e->opt_model = tw__strndup(opts->model, strlen(opts->model))))
            goto nomem;
        if (opts->event_id_prefix) {
            /* It goes on an "id:" line: a CR or LF would start another SSE field. */
            size_t n = strlen(opts->event_id_prefix);
            if (n == 0 || strpbrk(opts->event_id_prefix, "\r\n")) {
                tw_encoder_free(e);
                tw__err(err, TW_ERR_INVALID_ARG,
                        "event_id_prefix must be non-empty with no CR or LF");
                return NULL;
            }
            if (!(e->id_prefix = tw__strndup(opts->event_id_prefix, n))) goto nomem;
        }
        e->next_seq = opts->first_event_seq;
        e->messages = opts->messages != 0;
        e->phases = opts->phases != 0;
    }
    return e;
nomem:
    tw_encoder_free(e);
    tw__err(err, TW_ERR_NOMEM, "out of memory creating an encoder");
    return NULL;
}

tw_encoder *tw_encoder_new(tw_format f, const tw_encoder_opts *opts, tw_error *err) {
    tw_encoder *e;
    if (!valid_format(f)) {
        tw__err(err, TW_ERR_INVALID_ARG,
                "unknown encoder format (expected openai, events, ai-sdk, ndjson or text)");
        return NULL;
    }
    e = encoder_alloc(f, opts, err);
    if (!e) return NULL;
    if (formats[f].init && formats[f].init(e) != TW_OK) {
        tw_encoder_free(e);
        tw__err(err, TW_ERR_NOMEM, "out of memory creating an encoder");
        return NULL;
    }
    if (err) tw__err(err, TW_OK, "");
    return e;
}

tw_encoder *tw_encoder_new_like(const tw_encoder *proto, const tw_encoder_opts *opts,
                                tw_error *err) {
    tw_encoder *e;
    if (!proto) {
        tw__err(err, TW_ERR_INVALID_ARG, "a prototype encoder is required");
        return NULL;
    }
    if (proto->format != TW__FORMAT_TEMPLATE) return tw_encoder_new(proto->format, opts, err);
    e = encoder_alloc(TW__FORMAT_TEMPLATE, opts, err);
    if (!e) return NULL;
    if (tw__template_copy(e, proto) != TW_OK) {
        tw_encoder_free(e);
        tw__err(err, TW_ERR_NOMEM, "out of memory copying a template");
        return NULL;
    }
    if (err) tw__err(err, TW_OK, "");
    return e;
}

tw_code tw_encoder_set_constant(tw_encoder *e, const char *name, size_t name_len,
                                const char *json, size_t json_len, tw_error *err) {
    if (!e || !name || (!json && json_len)) {
        tw__err(err, TW_ERR_INVALID_ARG, "set_constant: NULL argument");
        return TW_ERR_INVALID_ARG;
    }
    if (e->format != TW__FORMAT_TEMPLATE) {
        tw__err(err, TW_ERR_INVALID_ARG, "constants belong to templates (tw_encoder_new_template)");
        return TW_ERR_INVALID_ARG;
    }
    return tw__template_set_constant(e, (tw_str){name, name_len}, (tw_str){json, json_len}, err);
}

void tw_encoder_free(tw_encoder *e) {
    if (!e) return;
    if (formats[e->format].free) formats[e->format].free(e);
    free(e->opt_id);
    free(e->opt_model);
    free(e->id_prefix);
    free(e->msg_lens);
    tw_buf_free(&e->scratch);
    tw_buf_free(&e->app_json);
    free(e);
}

/* Event ids (tw_encoder_opts.event_id_prefix): every SSE event written since `start` gets an
 * "id: <prefix>:<seq>" line first (comment blocks, which dispatch nothing, get none), every
 * NDJSON line an "event_id" key first. Rewritten through the scratch buffer. */
static tw_code add_ids(tw_encoder *e, tw_buf *out, size_t start) {
    size_t i = start, plen;
    char num[24];
    tw_code rc = TW_OK;
    if (!e->id_prefix || out->len == start || e->format == TW_FORMAT_TEXT) return TW_OK;
    plen = strlen(e->id_prefix);
    e->scratch.len = 0;
    while (i < out->len && rc == TW_OK) {
        /* One SSE block (up to and including its blank line) or one NDJSON line. */
        const char *p = out->data + i, *end;
        size_t n, left = out->len - i;
        if (e->sse) {
            const char *bl = NULL;
            for (size_t k = 0; k + 1 < left; k++)
                if (p[k] == '\n' && p[k + 1] == '\n') {
                    bl = p + k + 2;
                    break;
                }
            end = bl ? bl : p + left;
        } else {
            const char *nl = memchr(p, '\n', left);
            end = nl ? nl + 1 : p + left;
        }
        n = (size_t)(end - p);
        snprintf(num, sizeof num, "%llu", (unsigned long long)e->next_seq);
        if (e->sse && p[0] != ':') {
            tw_buf *w = &e->scratch;
            if ((rc = tw__put(w, "id: ", 4)) || (rc = tw__put(w, e->id_prefix, plen)) ||
                (rc = tw__put(w, ":", 1)) || (rc = tw__put(w, num, strlen(num))) ||
                (rc = tw__put(w, "\n", 1)) || (rc = tw__put(w, p, n)))
                break;
            e->next_seq++;
        } else if (!e->sse && p[0] == '{') {
            if ((rc = tw__put(&e->scratch, "{\"event_id\":", 12)) ||
                (rc = tw_json_escape(&e->scratch, e->id_prefix, plen)))
                break;
            /* The prefix went in quoted: reopen the quote to append ":<seq>". */
            e->scratch.len--;
            if ((rc = tw__put(&e->scratch, ":", 1)) ||
                (rc = tw__put(&e->scratch, num, strlen(num))) ||
                (rc = tw__put(&e->scratch, "\",", 2)) ||
                (rc = tw__put(&e->scratch, p + 1, n - 1)))
                break;
            e->next_seq++;
        } else {
            rc = tw__put(&e->scratch, p, n);
        }
        i += n;
    }
    if (rc) return rc;
    out->len = start;
    return tw__put(out, e->scratch.data, e->scratch.len);
}

uint64_t tw_encoder_next_event_seq(const tw_encoder *e) { return e ? e->next_seq : 0; }

/* After a format appended to out from start: event ids, messages; on failure out and the
 * message lengths roll back to what they were. */
static tw_code settle(tw_encoder *e, tw_buf *out, size_t start, size_t n_msgs, tw_code rc) {
    if (!rc) rc = add_ids(e, out, start);
    if (!rc && e->messages) rc = tw__to_messages(e, out, start);
    if (rc) {
        out->len = start;
        e->n_msgs = n_msgs;
    }
    return rc;
}

tw_code tw_encoder_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    size_t start, n_msgs;
    if (!e || !ev || !out || (int)ev->type <= 0 || ev->type >= TW_EV__LAST)
        return TW_ERR_INVALID_ARG;
    if (e->finished) return TW_ERR_CLOSED;
    start = out->len; /* before the format appends (argument order is unspecified) */
    n_msgs = e->n_msgs;
    return settle(e, out, start, n_msgs, formats[e->format].encode(e, ev, out));
}

/* The end of a phase, then (close) the end of the relay with final or the format's own. */
static tw_code end(tw_encoder *e, int close, const tw__app *final, tw_buf *out) {
    size_t start = out->len, n_msgs = e->n_msgs;
    tw_code rc = TW_OK;
    if (formats[e->format].end_phase) rc = formats[e->format].end_phase(e, out);
    if (!rc && close && formats[e->format].close) rc = formats[e->format].close(e, final, out);
    /* On failure: not finished, the caller may retry after freeing memory. */
    rc = settle(e, out, start, n_msgs, rc);
    if (!rc && close) e->finished = 1;
    return rc;
}

tw_code tw_encoder_finish(tw_encoder *e, tw_buf *out) {
    if (!e || !out) return TW_ERR_INVALID_ARG;
    if (e->finished) return TW_OK;
    return end(e, !e->phases, NULL, out);
}

tw_code tw__encoder_app(tw_encoder *e, const tw__app *a, int close, tw_buf *out) {
    size_t start = out->len, n_msgs = e->n_msgs;
    if (close) return end(e, 1, a, out);
    if (!formats[e->format].app) return TW_OK;
    return settle(e, out, start, n_msgs, formats[e->format].app(e, a, out));
}

tw_code tw_encoder_heartbeat(tw_encoder *e, tw_buf *out) {
    if (!e || !out) return TW_ERR_INVALID_ARG;
    /* A WebSocket keeps itself alive (ping frames): no message. */
    return e->sse && !e->messages ? TW__PUT(out, ": keepalive\n\n") : TW_OK;
}
