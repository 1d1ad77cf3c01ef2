/*
 * tw_decoder.c - dialect decoders: the SSE parser or NDJSON splitter composed with a dialect
 * (csrc/dialects/), plus the staging helpers the dialects share.
 *
 * Rules common to every dialect (documented here once):
 * - Each payload (SSE event / NDJSON line) is decoded completely before any of its events is
 *   emitted. A payload that is not a valid JSON object gives one TW_EV_ERROR of kind protocol
 *   (text = what was wrong, raw = the data) and decoding goes on with the next payload.
 *   What "valid" covers: UTF-8, string closure and bracket balance of the whole payload, the
 *   commas/colons along every member the dialect walks, and every value it reads. Scalars
 *   inside members a dialect skips unread are not looked at (simdjson on-demand): {"x": tru}
 *   passes where "x" means nothing to the dialect. Full validation would cost about as much
 *   as the decoding itself.
 * - An event the framing layer refused as oversized gives a TW_EV_ERROR of kind protocol
 *   (text = the framing layer's message naming the limit) and decoding goes on.
 * - After END or a terminal provider error was emitted, later input is read but emits nothing
 *   (tw_decoder_done() is 1 from then on). Protocol errors are not terminal.
 * - tw_decoder_finish stages what the dialect deferred (Gemini usage; the usage of an OpenAI
 *   stream that had no [DONE]), then END, unless END or a provider error was emitted already.
 * - When the callback stops the decoder (returns non-zero), the remaining events of the payload
 *   being emitted are dropped and tw_decoder_feed returns TW_ERR_CANCELLED.
 */
#include "tw_decoder.h"
#include "tw_internal.h"

#include "dialects/dialect.h"
#include "tw_json.h"
#include "tw_ndjson.h"
#include "tw_scan.h"
#include "tw_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tw_decoder {
    const tw__dialect *ops;
    tw_sse_parser *sse; /* SSE dialects */
    tw_ndjson *nd;      /* NDJSON dialects */
    tw__dctx c;
    int own_json;   /* c.json is ours (not tw_decoder_opts.json) */
    tw_event_fn cb; /* callback of the feed in progress */
    void *ud;
    int user_stop; /* the callback returned non-zero */
    int finished;  /* tw_decoder_finish was called */
    /* A body with bytes but not one event (an HTML page, a compressed or binary body, only
     * comments) is not an event stream: finish says so instead of ending cleanly. */
    uint64_t fed;       /* bytes fed */
    uint64_t emitted;   /* events handed to callbacks */
    int saw_finish;     /* a FINISH was emitted: the answer completed even without END */
    char head[48];      /* the first bytes fed, for the message */
    size_t head_len;
    tw_buf head_utf8;   /* those bytes as valid UTF-8 (the error's raw) */
    char noevent_msg[160];
};

/*==============================================================================================
 * Dialect names
 *============================================================================================*/

static const tw__dialect *const dialects[TW_DIALECT__LAST] = {
    [TW_DIALECT_OPENAI] = &tw__dialect_openai,
    [TW_DIALECT_OPENAI_RESPONSES] = &tw__dialect_openai_responses,
    [TW_DIALECT_ANTHROPIC] = &tw__dialect_anthropic,
    [TW_DIALECT_GEMINI] = &tw__dialect_gemini,
    [TW_DIALECT_OLLAMA] = &tw__dialect_ollama,
    [TW_DIALECT_SSE] = &tw__dialect_sse,
    [TW_DIALECT_NDJSON] = &tw__dialect_ndjson,
};

tw_dialect tw_dialect_from_name(const char *name, size_t len) {
    if (!name) return (tw_dialect)0;
    for (int d = 1; d < TW_DIALECT__LAST; d++) {
        const char *n = dialects[d]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return (tw_dialect)d;
    }
    return (tw_dialect)0;
}

const char *tw_dialect_name(tw_dialect d) {
    if ((int)d <= 0 || d >= TW_DIALECT__LAST) return NULL;
    return dialects[d]->name;
}

int tw_dialect_indexes_choices(tw_dialect d) {
    /* Keep in line with what each dialect (csrc/dialects/) puts in tw_event.index. */
    return d == TW_DIALECT_OPENAI || d == TW_DIALECT_GEMINI;
}

/*==============================================================================================
 * Staging helpers shared by the dialects
 *============================================================================================*/

static const tw_event blank_event = {
    .input_tokens = -1, .output_tokens = -1, .total_tokens = -1, .retry = -1};

static int grow_events(tw__dctx *c) {
    size_t cap = c->evcap ? c->evcap * 2 : 4;
    tw_event *ev = realloc(c->ev, cap * sizeof *ev);
    if (!ev) {
        c->nomem = 1;
        return 0;
    }
    c->ev = ev;
    c->evcap = cap;
    return 1;
}

tw_event *tw__stage(tw__dctx *c, tw_event_type t) {
    tw_event *e;
    if (c->nev == c->evcap && !grow_events(c)) return NULL;
    e = &c->ev[c->nev++];
    *e = blank_event;
    e->type = t;
    return e;
}

tw_event *tw__stage_at(tw__dctx *c, size_t pos, tw_event_type t) {
    tw_event *e;
    if (pos > c->nev) pos = c->nev;
    if (c->nev == c->evcap && !grow_events(c)) return NULL;
    memmove(&c->ev[pos + 1], &c->ev[pos], (c->nev - pos) * sizeof *e);
    c->nev++;
    e = &c->ev[pos];
    *e = blank_event;
    e->type = t;
    return e;
}

void tw__unstage(tw__dctx *c, size_t pos) {
    if (pos >= c->nev) return;
    memmove(&c->ev[pos], &c->ev[pos + 1], (c->nev - pos - 1) * sizeof c->ev[0]);
    c->nev--;
}

void tw__stage_raw_payload(tw__dctx *c) {
    const tw__payload *p = c->cur;
    tw_event *e = tw__stage(c, TW_EV_RAW);
    if (!e) return;
    if (p) {
        e->name = p->event;
        e->text = p->data;
        e->id = p->id;
        e->retry = p->retry;
    } else {
        e->text = c->body;
    }
}

void tw__stage_raw_json(tw__dctx *c, tw_str name, tw_str json) {
    tw_event *e = tw__stage(c, TW_EV_RAW);
    if (!e) return;
    e->name = name;
    e->text = json;
}

void tw__stage_end(tw__dctx *c) {
    if (tw__stage(c, TW_EV_END)) c->done = 1;
}

static tw_str current_raw(const tw__dctx *c) { return c->cur ? c->cur->data : c->body; }

void tw__stage_provider_error_fields(tw__dctx *c, tw_str message, tw_str type, int32_t status) {
    tw_event *e = tw__stage(c, TW_EV_ERROR);
    if (!e) return;
    e->error_kind = TW_KIND_PROVIDER;
    e->text = message.len ? message : type;
    e->name = type;
    e->status = status;
    e->raw = current_raw(c);
    c->done = 1;
}

void tw__stage_provider_error(tw__dctx *c, tw_json_val *err) {
    tw_json *j = c->json;
    tw_str message = {NULL, 0}, type = {NULL, 0}, code_s = {NULL, 0}, status_s = {NULL, 0};
    tw_str k;
    tw_json_val v;
    tw_json_iter it;
    int64_t code = 0;
    if (tw_json_get_str(j, err, &message)) {
        /* {"error": "message"} (Ollama, some gateways) */
    } else if (tw_json_obj_begin(j, err, &it)) {
        while (tw_json_obj_next(j, &it, &k, &v)) {
            if (TW__IS(k, "message")) tw_json_get_str(j, &v, &message);
            else if (TW__IS(k, "type")) tw_json_get_str(j, &v, &type);
            else if (TW__IS(k, "code")) {
                if (!tw_json_get_i64(j, &v, &code)) tw_json_get_str(j, &v, &code_s);
            } else if (TW__IS(k, "status")) {
                if (!tw_json_get_str(j, &v, &status_s) && !code) tw_json_get_i64(j, &v, &code);
            }
        }
    }
    if (!type.len) type = code_s.len ? code_s : status_s;
    if (!message.len && !type.len) message = tw__lit("provider error");
    tw__stage_provider_error_fields(c, message, type, tw__i32(code));
}

static char *scratch_alloc(tw__dctx *c, size_t n) {
    char *p;
    if (c->scratch_cap - c->scratch_used < n) return NULL;
    p = c->scratch + c->scratch_used;
    c->scratch_used += n;
    return p;
}

/* Makes room for n bytes of scratch for the coming payload (the area never moves while events
 * point into it: it only grows between payloads). */
static int scratch_reserve(tw__dctx *c, size_t n) {
    c->scratch_used = 0;
    if (n > c->scratch_cap) {
        size_t cap = c->scratch_cap ? c->scratch_cap : 1024;
        char *p;
        while (cap < n) cap = cap > SIZE_MAX / 2 ? n : cap * 2;
        p = realloc(c->scratch, cap);
        if (!p) return 0;
        c->scratch = p;
        c->scratch_cap = cap;
    }
    return 1;
}

/* Room every payload reserves beyond its length: error messages and the like. */
#define SCRATCH_EXTRA 512

tw_str tw__compact_json(tw__dctx *c, tw_json_val *v) {
    tw_str raw, out = {NULL, 0};
    char *dst;
    size_t n;
    if (!tw_json_get_raw(c->json, v, &raw)) return out;
    /* Compact output is never longer than its input; the scratch area holds a whole payload,
     * so several values of one payload always fit. */
    dst = scratch_alloc(c, raw.len);
    if (!dst) return raw;
    n = tw_json_minify(raw.ptr, raw.len, dst);
    if (n == (size_t)-1) {
        c->scratch_used -= raw.len;
        return raw;
    }
    c->scratch_used -= raw.len - n;
    out.ptr = dst;
    out.len = n;
    return out;
}

tw_str tw__raw_between(tw__dctx *c, const char *start) {
    tw_str r = {NULL, 0};
    const char *end = tw_json_cursor(c->json);
    if (!start || !end || end < start) return r;
    while (end > start && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' ||
                           end[-1] == '\t'))
        end--;
    r.ptr = start;
    r.len = (size_t)(end - start);
    return r;
}

void tw__read_usage(tw__dctx *c, tw_json_val *v, int64_t *in, int64_t *out, int64_t *total) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    int64_t x;
    *in = *out = *total = -1;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "prompt_tokens") || TW__IS(k, "input_tokens")) {
            if (tw_json_get_i64(j, &f, &x)) *in = x;
        } else if (TW__IS(k, "completion_tokens") || TW__IS(k, "output_tokens")) {
            if (tw_json_get_i64(j, &f, &x)) *out = x;
        } else if (TW__IS(k, "total_tokens")) {
            if (tw_json_get_i64(j, &f, &x)) *total = x;
        }
    }
}

tw__rc tw__parse_payload(tw__dctx *c, tw_json_val *root) {
    const tw__payload *p = c->cur;
    tw_code rc = tw_json_parse(c->json, p->data.ptr, p->data.len, p->capacity, root);
    if (rc == TW_ERR_NOMEM) return TW__NOMEM;
    if (rc) return TW__BAD_JSON;
    if (tw_json_type_of(c->json, root) != TW_JSON_OBJECT) return TW__BAD_JSON;
    return TW__OK;
}

tw__rc tw__check_end(tw__dctx *c) {
    if (c->nomem) return TW__NOMEM;
    return tw_json_end(c->json) == TW_OK ? TW__OK : TW__BAD_JSON;
}

/*==============================================================================================
 * Emission
 *============================================================================================*/

/* Replaces invalid UTF-8 by U+FFFD into scratch (body mode only: framed payloads arrive
 * already sanitized by the SSE parser / NDJSON splitter). */
static tw_str utf8_clean(tw__dctx *c, tw_str s) {
    const unsigned char *p = (const unsigned char *)s.ptr, *end = p + s.len;
    char *out, *o;
    if (!s.len || tw_json_valid_utf8(s.ptr, s.len)) return s;
    if (s.len > (SIZE_MAX - SCRATCH_EXTRA) / 3 || !scratch_reserve(c, s.len * 3 + SCRATCH_EXTRA))
        return (tw_str){NULL, 0};
    out = o = scratch_alloc(c, s.len * 3);
    while (p < end) {
        unsigned char b = *p;
        size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (n && (size_t)(end - p) >= n && tw_json_valid_utf8((const char *)p, n)) {
            memcpy(o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    return (tw_str){out, (size_t)(o - out)};
}

static int has_staged(const tw__dctx *c, tw_event_type t) {
    for (size_t i = 0; i < c->nev; i++)
        if (c->ev[i].type == t) return 1;
    return 0;
}

/* One bad event: reported, and decoding goes on with the next (recoverable). */
static void stage_protocol_error(tw__dctx *c, const char *what, tw_str raw) {
    tw_event *e = tw__stage(c, TW_EV_ERROR);
    if (!e) return;
    e->error_kind = TW_KIND_PROTOCOL;
    e->recoverable = 1;
    e->text = tw__lit(what);
    e->raw = raw;
}

/* Emits the staged events. @return 0 to go on, 1 if the callback stopped us. */
static int emit_staged(tw_decoder *d) {
    tw__dctx *c = &d->c;
    for (size_t i = 0; i < c->nev; i++) {
        d->emitted++;
        if (c->ev[i].type == TW_EV_FINISH) d->saw_finish = 1;
        if (d->cb(d->ud, &c->ev[i]) != 0) {
            d->user_stop = 1;
            c->nev = 0;
            return 1;
        }
    }
    c->nev = 0;
    return 0;
}

/* Formats "invalid JSON in event data (<simdjson error>)" into scratch. */
static const char *bad_json_message(tw__dctx *c) {
    const char *why = tw_json_failed(c->json) ? tw_json_error_message(c->json)
                                              : "not a JSON object";
    char *buf = scratch_alloc(c, 160);
    if (!buf) return "invalid JSON in event data";
    snprintf(buf, 160, "invalid JSON in event data (%s)", why);
    return buf;
}

/* Decodes one payload and emits its events. @return 0 go on, 1 stop (user or NOMEM). */
static int process_payload(tw_decoder *d, const tw__payload *p) {
    tw__dctx *c = &d->c;
    tw__state saved;
    tw__rc rc;
    if (c->done) return 0;
    if (!scratch_reserve(c, p->data.len + SCRATCH_EXTRA)) {
        c->nomem = 1;
        return 1;
    }
    saved = c->st;
    c->nev = 0;
    c->cur = p;
    rc = d->ops->payload(c, p);
    if (rc == TW__OK && c->nomem) rc = TW__NOMEM;
    if (rc == TW__NOMEM) {
        c->nomem = 1;
        c->nev = 0;
        return 1;
    }
    if (rc == TW__BAD_JSON) {
        c->st = saved;
        c->done = 0;
        c->nev = 0;
        c->scratch_used = 0;
        stage_protocol_error(c, bad_json_message(c), p->data);
    }
    return emit_staged(d);
}

static int on_sse_event(void *ud, const tw_sse_event *ev) {
    tw_decoder *d = ud;
    tw__payload p;
    p.event = ev->event;
    p.data = ev->data;
    p.capacity = ev->data_capacity;
    p.id = ev->id;
    p.retry = ev->retry;
    if (process_payload(d, &p)) return 1;
    /* Once done, stop the framing layer: nothing after END is emitted anyway. */
    return d->c.done;
}

static int on_ndjson_line(void *ud, tw_str line, size_t capacity) {
    tw_decoder *d = ud;
    tw__payload p;
    p.event.ptr = NULL;
    p.event.len = 0;
    p.data = line;
    p.capacity = capacity;
    p.id.ptr = NULL;
    p.id.len = 0;
    p.retry = -1;
    if (process_payload(d, &p)) return 1;
    return d->c.done;
}

/*==============================================================================================
 * Public API
 *============================================================================================*/

void tw_decoder_opts_init(tw_decoder_opts *o) {
    o->max_event_size = 0;
    o->on_comment = NULL;
    o->comment_userdata = NULL;
    o->json = NULL;
}

tw_decoder *tw_decoder_new(tw_dialect dialect, const tw_decoder_opts *opts, tw_error *err) {
    tw_decoder_opts defaults;
    tw_decoder *d;
    if ((int)dialect <= 0 || dialect >= TW_DIALECT__LAST) {
        tw__err(err, TW_ERR_INVALID_ARG, "unknown dialect");
        return NULL;
    }
    if (!opts) {
        tw_decoder_opts_init(&defaults);
        opts = &defaults;
    }
    d = calloc(1, sizeof *d);
    if (!d) goto nomem;
    d->ops = dialects[dialect];
    d->own_json = !opts->json;
    d->c.json = opts->json ? opts->json : tw_json_new();
    if (!d->c.json) goto nomem;
    if (d->ops->ndjson) {
        d->nd = tw_ndjson_new(opts->max_event_size);
        if (!d->nd) goto nomem;
    } else {
        tw_sse_opts so;
        tw_sse_opts_init(&so);
        so.max_event_size = opts->max_event_size;
        so.on_comment = opts->on_comment;
        so.comment_userdata = opts->comment_userdata;
        d->sse = tw_sse_parser_new(&so);
        if (!d->sse) goto nomem;
    }
    if (err) tw__err(err, TW_OK, "");
    return d;
nomem:
    tw_decoder_free(d);
    tw__err(err, TW_ERR_NOMEM, "out of memory");
    return NULL;
}

void tw_decoder_free(tw_decoder *d) {
    if (!d) return;
    tw_sse_parser_free(d->sse);
    tw_ndjson_free(d->nd);
    if (d->own_json) tw_json_free(d->c.json);
    free(d->c.ev);
    free(d->c.scratch);
    tw_buf_free(&d->head_utf8);
    free(d);
}

int tw_decoder_done(const tw_decoder *d) { return d && (d->c.done || d->finished); }

/* Maps the framing layer's result (after any oversized event was reported). */
static tw_code after_framing(tw_decoder *d, tw_code rc, tw_error *ferr, tw_error *err) {
    if (d->c.nomem) {
        d->c.nomem = 0;
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    if (d->user_stop) {
        d->user_stop = 0;
        tw__err(err, TW_ERR_CANCELLED, "stopped by the event callback");
        return TW_ERR_CANCELLED;
    }
    if (rc == TW_ERR_CANCELLED && d->c.done) rc = TW_OK; /* we stopped the framing ourselves */
    if (rc != TW_OK) {
        if (err) *err = *ferr;
        return rc;
    }
    if (err) tw__err(err, TW_OK, "");
    return TW_OK;
}

/* Runs the framing layer. It stops at an oversized event (keeping the unread input): report it
 * as a protocol error event and go on with the rest. */
static tw_code frame(tw_decoder *d, const char *buf, size_t len, int finish, tw_error *ferr) {
    tw_code rc;
    for (;;) {
        memset(ferr, 0, sizeof *ferr);
        if (d->nd)
            rc = finish && !len ? tw_ndjson_finish(d->nd, on_ndjson_line, d, ferr)
                                : tw_ndjson_feed(d->nd, buf, len, on_ndjson_line, d, ferr);
        else
            rc = tw_sse_parser_feed(d->sse, buf, len, on_sse_event, d, ferr);
        if (rc != TW_ERR_SSE_PROTOCOL || d->c.nomem || d->user_stop) break;
        if (!d->c.done) {
            d->c.nev = 0;
            d->c.cur = NULL;
            stage_protocol_error(&d->c, ferr->msg, (tw_str){NULL, 0});
            if (emit_staged(d)) break;
        }
        buf = NULL;
        len = 0;
    }
    if (rc == TW_OK && finish && !d->nd) rc = tw_sse_parser_finish(d->sse);
    return rc;
}

tw_code tw_decoder_feed(tw_decoder *d, const char *buf, size_t len, tw_event_fn on_event,
                        void *userdata, tw_error *err) {
    tw_error ferr;
    tw_code rc;
    if (!d || !on_event || (!buf && len)) {
        tw__err(err, TW_ERR_INVALID_ARG, "decoder, callback and buffer are required");
        return TW_ERR_INVALID_ARG;
    }
    if (d->c.done || d->finished || len == 0) {
        if (err) tw__err(err, TW_OK, "");
        return TW_OK;
    }
    d->cb = on_event;
    d->ud = userdata;
    if (d->head_len < sizeof d->head) {
        size_t k = sizeof d->head - d->head_len;
        if (k > len) k = len;
        memcpy(d->head + d->head_len, buf, k);
        d->head_len += k;
    }
    d->fed += len;
    rc = frame(d, buf, len, 0, &ferr);
    return after_framing(d, rc, &ferr, err);
}

tw_code tw_decoder_finish(tw_decoder *d, tw_event_fn on_event, void *userdata, tw_error *err) {
    tw_error ferr;
    tw_code rc = TW_OK;
    if (!d || !on_event) {
        tw__err(err, TW_ERR_INVALID_ARG, "decoder and callback are required");
        return TW_ERR_INVALID_ARG;
    }
    if (d->finished) {
        if (err) tw__err(err, TW_OK, "");
        return TW_OK;
    }
    d->cb = on_event;
    d->ud = userdata;
    memset(&ferr, 0, sizeof ferr);
    if (!d->c.done) {
        rc = frame(d, NULL, 0, 1, &ferr);
        rc = after_framing(d, rc, &ferr, err);
        if (rc != TW_OK) return rc;
    }
    d->finished = 1;
    if (d->c.done) {
        if (err) tw__err(err, TW_OK, "");
        return TW_OK;
    }
    d->c.nev = 0;
    d->c.cur = NULL;
    d->c.body.ptr = NULL;
    d->c.body.len = 0;
    if (!scratch_reserve(&d->c, SCRATCH_EXTRA) ||
        (d->ops->finish && d->ops->finish(&d->c) != TW__OK))
        d->c.nomem = 1;
    if (!d->c.done) {
        if (d->fed > 0 && d->emitted == 0 && d->c.nev == 0) {
            char shown[sizeof d->head + 1];
            size_t i;
            for (i = 0; i < d->head_len; i++)
                shown[i] = (d->head[i] >= 0x20 && d->head[i] < 0x7f) ? d->head[i] : '.';
            shown[i] = '\0';
            snprintf(d->noevent_msg, sizeof d->noevent_msg,
                     "not an event stream: %llu bytes and no event; first bytes \"%s\"",
                     (unsigned long long)d->fed, shown);
            /* raw is text like every event string: invalid bytes (and a sequence cut at the
             * end of the sample) become U+FFFD. */
            if (tw__utf8_append(&d->head_utf8, d->head, d->head_len) != TW_OK) d->c.nomem = 1;
            stage_protocol_error(&d->c, d->noevent_msg,
                                 (tw_str){d->head_utf8.data, d->head_utf8.len});
            if (d->c.nev) d->c.ev[d->c.nev - 1].recoverable = 0; /* nothing came: the end */
            d->c.done = 1;
        } else if (d->ops->body && !d->saw_finish && !has_staged(&d->c, TW_EV_FINISH)) {
            /* An LLM dialect whose body stopped before its end marker ([DONE], message_stop,
             * done: true...) and before any finish reason: the answer was cut short. */
            tw_event *e = tw__stage(&d->c, TW_EV_ERROR);
            if (e) {
                e->error_kind = TW_KIND_TRUNCATED;
                e->text = tw__lit(d->fed ? "stream ended before its end marker and without a "
                                           "finish reason: the answer is incomplete"
                                         : "empty response body: no answer");
            }
            d->c.done = 1;
        } else {
            tw__stage_end(&d->c);
        }
    }
    if (d->c.nomem) {
        d->c.nomem = 0;
        d->c.nev = 0;
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    if (emit_staged(d)) {
        d->user_stop = 0;
        tw__err(err, TW_ERR_CANCELLED, "stopped by the event callback");
        return TW_ERR_CANCELLED;
    }
    if (err) tw__err(err, TW_OK, "");
    return TW_OK;
}

tw_code tw_decoder_decode_body(tw_decoder *d, const char *body, size_t len, tw_event_fn on_event,
                               void *userdata, tw_error *err) {
    tw__dctx *c;
    tw_json_val root;
    tw_code rc;
    tw__rc drc;
    if (!d || !on_event || (!body && len)) {
        tw__err(err, TW_ERR_INVALID_ARG, "decoder, callback and body are required");
        return TW_ERR_INVALID_ARG;
    }
    if (!d->ops->body) {
        /* Raw dialects: the body is framed like a stream. */
        rc = tw_decoder_feed(d, body, len, on_event, userdata, err);
        if (rc != TW_OK) return rc;
        return tw_decoder_finish(d, on_event, userdata, err);
    }
    c = &d->c;
    d->cb = on_event;
    d->ud = userdata;
    memset(&c->st, 0, sizeof c->st);
    c->done = 0;
    c->nev = 0;
    c->cur = NULL;
    c->body.ptr = body;
    c->body.len = len;
    if (!scratch_reserve(c, len + SCRATCH_EXTRA)) {
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    rc = tw_json_parse(c->json, body, len, len, &root);
    if (rc == TW_ERR_NOMEM) {
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    drc = rc == TW_OK ? d->ops->body(c, &root) : TW__BAD_JSON;
    if (drc == TW__OK && c->nomem) drc = TW__NOMEM;
    if (drc == TW__OK && tw_json_end(c->json) != TW_OK) drc = TW__BAD_JSON;
    if (drc == TW__NOMEM) {
        c->nomem = 0;
        c->nev = 0;
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    if (drc == TW__BAD_JSON) {
        const char *why = tw_json_failed(c->json) ? tw_json_error_message(c->json)
                                                  : "unexpected JSON shape";
        tw_str raw;
        char *msg;
        c->nev = 0;
        memset(&c->st, 0, sizeof c->st);
        c->scratch_used = 0;
        raw = utf8_clean(c, c->body); /* may reserve scratch anew: allocate msg after */
        msg = scratch_alloc(c, 160);
        if (msg) snprintf(msg, 160, "invalid JSON response body (%s)", why);
        stage_protocol_error(c, msg ? msg : "invalid JSON response body", raw);
        if (c->nev) c->ev[c->nev - 1].recoverable = 0; /* the whole answer was bad */
    } else if (!c->done) {
        tw__stage_end(c);
    }
    d->finished = 1;
    c->done = 1;
    if (c->nomem) {
        c->nomem = 0;
        c->nev = 0;
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    if (emit_staged(d)) {
        d->user_stop = 0;
        tw__err(err, TW_ERR_CANCELLED, "stopped by the event callback");
        return TW_ERR_CANCELLED;
    }
    if (err) tw__err(err, TW_OK, "");
    return TW_OK;
}

/*==============================================================================================
 * Error bodies
 *============================================================================================*/

/* Finds the message of an "error" value (object with "message", or a string). */
static int error_value_message(tw_json *j, tw_json_val *v, tw_str *out) {
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    int found = 0;
    if (tw_json_get_str(j, v, out)) return 1;
    if (!tw_json_obj_begin(j, v, &it)) return 0;
    while (tw_json_obj_next(j, &it, &k, &f))
        if (!found && TW__IS(k, "message")) found = tw_json_get_str(j, &f, out);
    return found;
}

/* Looks for error.message / error (string) / message / detail in an object. */
static int body_object_message(tw_json *j, tw_json_val *obj, tw_str *out) {
    tw_json_iter it;
    tw_str k, top = {NULL, 0};
    tw_json_val f;
    int found = 0;
    if (!tw_json_obj_begin(j, obj, &it)) return 0;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (found) continue;
        if (TW__IS(k, "error")) found = error_value_message(j, &f, out);
        else if (!top.len && (TW__IS(k, "message") || TW__IS(k, "detail")))
            tw_json_get_str(j, &f, &top);
    }
    if (!found && top.len) {
        *out = top;
        found = 1;
    }
    return found;
}

tw_str tw_error_body_message(const char *body, size_t len, tw_buf *scratch) {
    tw_str none = {NULL, 0}, msg = {NULL, 0};
    tw_json *j;
    tw_json_val root, el;
    tw_json_iter it;
    char *copy;
    int found = 0;
    if (!body || !len) return none;
    copy = malloc(len + TW_JSON_PADDING);
    if (!copy) return none;
    memcpy(copy, body, len);
    memset(copy + len, 0, TW_JSON_PADDING);
    j = tw_json_new();
    if (!j) {
        free(copy);
        return none;
    }
    if (tw_json_parse(j, copy, len, len + TW_JSON_PADDING, &root) == TW_OK) {
        if (tw_json_type_of(j, &root) == TW_JSON_ARRAY) {
            /* Gemini wraps errors of its array streaming in [{"error":...}]. */
            if (tw_json_arr_begin(j, &root, &it) && tw_json_arr_next(j, &it, &el))
                found = body_object_message(j, &el, &msg);
        } else {
            found = body_object_message(j, &root, &msg);
        }
    }
    if (found && msg.len) {
        if (msg.ptr >= copy && msg.ptr + msg.len <= copy + len) {
            /* No escape: a slice of the caller's body. */
            none.ptr = body + (msg.ptr - copy);
            none.len = msg.len;
        } else if (scratch) {
            scratch->len = 0;
            if (tw_buf_append(scratch, msg.ptr, msg.len) == TW_OK) {
                none.ptr = scratch->data;
                none.len = msg.len;
            }
        }
    }
    tw_json_free(j);
    free(copy);
    return none;
}
