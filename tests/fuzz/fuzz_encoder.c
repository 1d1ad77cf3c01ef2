/*
 * fuzz_encoder.c - random events (strings cut from the input, invalid UTF-8 included) through
 * every format. Checked: the output is valid UTF-8; SSE output ends on an event boundary and
 * parses back with tw_sse_parser into data lines that are each "[DONE]" or one valid JSON
 * text; ndjson lines and tw_event_to_json are valid JSON; text is exactly the repaired text.
 */
#include "encoders/encoder.h"
#include "tokenwire.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_EVENTS 64

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t take_byte(reader *r) {
    uint8_t b;
    if (!r->n) return 0;
    b = *r->p++;
    r->n--;
    return b;
}

/* A string: a length byte then that many bytes (0xFF = absent). */
static tw_str take_str(reader *r) {
    uint8_t len = take_byte(r);
    tw_str s;
    if (len == 0xFF) return (tw_str){NULL, 0};
    if (len > r->n) len = (uint8_t)r->n;
    s.ptr = (const char *)r->p;
    s.len = len;
    r->p += len;
    r->n -= len;
    if (!s.ptr) s.ptr = "";
    return s;
}

static void fail(const char *what, const tw_buf *b) {
    fprintf(stderr, "fuzz_encoder: %s\n---\n%.*s\n---\n", what,
            (int)(b->len > 4000 ? 4000 : b->len),
            b->data ? b->data : "");
    abort();
}

static int check_json(const char *s, size_t n) {
    tw_buf tmp;
    const char *why = NULL;
    tw_code rc;
    tw_buf_init(&tmp);
    rc = tw__json_compact(&tmp, s, n, &why);
    /* Compacting our own output must change nothing: it never has insignificant spaces. */
    if (rc == TW_OK && (tmp.len != n || memcmp(tmp.data, s, n) != 0)) rc = TW_ERR_JSON;
    tw_buf_free(&tmp);
    return rc == TW_OK;
}

typedef struct sse_check {
    size_t events;
    int bad;
} sse_check;

static int on_sse(void *ud, const tw_sse_event *ev) {
    sse_check *c = ud;
    c->events++;
    if (ev->data.len == 6 && memcmp(ev->data.ptr, "[DONE]", 6) == 0) return 0;
    if (!check_json(ev->data.ptr, ev->data.len)) c->bad = 1;
    return 0;
}

static void check_sse(const tw_buf *out) {
    tw_sse_parser *p = tw_sse_parser_new(NULL);
    sse_check c = {0, 0};
    if (!p) abort();
    if (out->len < 2 || memcmp(out->data + out->len - 2, "\n\n", 2) != 0)
        fail("SSE output does not end with a blank line", out);
    if (tw_sse_parser_feed(p, out->data, out->len, on_sse, &c, NULL) != TW_OK)
        fail("SSE output does not parse", out);
    if (c.bad) fail("an SSE data line is not valid JSON", out);
    if (c.events == 0) fail("SSE output has no events", out);
    tw_sse_parser_free(p);
}

typedef struct oa_check {
    tw_buf text;
    int errors, protocol_errors;
} oa_check;

static int on_decoded(void *ud, const tw_event *ev) {
    oa_check *c = ud;
    if (ev->type == TW_EV_TEXT && ev->text.len &&
        tw_buf_append(&c->text, ev->text.ptr, ev->text.len) != TW_OK)
        abort();
    if (ev->type == TW_EV_ERROR) {
        c->errors++;
        if (ev->error_kind == TW_KIND_PROTOCOL) c->protocol_errors++;
    }
    return 0;
}

/* want: the text before the first error event; had_error: an error event was encoded. */
static void check_openai_decodes(const tw_buf *out, const tw_buf *want, int had_error) {
    tw_decoder *d = tw_decoder_new(TW_DIALECT_OPENAI, NULL, NULL);
    oa_check c;
    if (!d) abort();
    memset(&c, 0, sizeof c);
    if (tw_decoder_feed(d, out->data, out->len, on_decoded, &c, NULL) != TW_OK ||
        tw_decoder_finish(d, on_decoded, &c, NULL) != TW_OK)
        fail("openai decoder failed on openai output", out);
    if (c.protocol_errors) fail("openai output gave protocol errors when decoded", out);
    if (had_error ? c.errors == 0 : c.errors != 0) fail("error events lost or invented", out);
    if (c.text.len < want->len || (want->len && memcmp(c.text.data, want->data, want->len) != 0) ||
        (!had_error && c.text.len != want->len))
        fail("openai output decodes to other text", out);
    tw_buf_free(&c.text);
    tw_decoder_free(d);
}

static void check_ndjson(const tw_buf *out) {
    size_t i = 0;
    while (i < out->len) {
        const char *nl = memchr(out->data + i, '\n', out->len - i);
        if (!nl) fail("ndjson line without newline", out);
        if (!check_json(out->data + i, (size_t)(nl - out->data) - i)) fail("ndjson line", out);
        i = (size_t)(nl - out->data) + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    tw_event evs[MAX_EVENTS];
    size_t n = 0;
    tw_buf text_want, text_before_error;
    int had_error = 0;
    uint8_t flags = take_byte(&r);

    while (r.n && n < MAX_EVENTS) {
        tw_event *ev = &evs[n];
        uint8_t op = take_byte(&r);
        tw_event_init(ev);
        ev->type = (tw_event_type)(1 + op % (TW_EV__LAST - 1));
        ev->index = (int32_t)(take_byte(&r) % 5) - 1;
        ev->error_kind = (tw_error_kind)(op / 16 % TW_KIND__LAST);
        if (op & 0x80) ev->source = take_str(&r);
        switch (ev->type) {
        case TW_EV_START:
        case TW_EV_TOOL_CALL:
            ev->id = take_str(&r);
            ev->name = take_str(&r);
            ev->arguments = take_str(&r);
            break;
        case TW_EV_USAGE:
            ev->input_tokens = (int64_t)take_byte(&r) - 10;
            ev->output_tokens = (int64_t)take_byte(&r) * 1000 - 10;
            ev->total_tokens = (int64_t)take_byte(&r) - 128;
            break;
        case TW_EV_FINISH: ev->reason = take_str(&r); break;
        case TW_EV_ERROR:
            ev->status = (int32_t)take_byte(&r) * 3;
            ev->text = take_str(&r);
            ev->name = take_str(&r);
            ev->raw = take_str(&r);
            break;
        case TW_EV_RAW:
            ev->name = take_str(&r);
            ev->text = take_str(&r);
            ev->id = take_str(&r);
            ev->retry = (int64_t)take_byte(&r) - 1;
            break;
        default: ev->text = take_str(&r); break;
        }
        n++;
    }

    tw_buf_init(&text_want);
    tw_buf_init(&text_before_error);
    for (size_t i = 0; i < n; i++) {
        tw_buf j;
        if (evs[i].type == TW_EV_ERROR) had_error = 1;
        if (evs[i].type == TW_EV_TEXT && evs[i].text.ptr &&
            (tw__utf8_append(&text_want, evs[i].text.ptr, evs[i].text.len) != TW_OK ||
             (!had_error &&
              tw__utf8_append(&text_before_error, evs[i].text.ptr, evs[i].text.len) != TW_OK)))
            abort();
        tw_buf_init(&j);
        if (tw_event_to_json(&evs[i], &j) != TW_OK || !check_json(j.data, j.len))
            fail("tw_event_to_json", &j);
        tw_buf_free(&j);
    }

    for (int f = TW_FORMAT_OPENAI; f < TW_FORMAT__LAST; f++) {
        tw_encoder_opts o;
        tw_encoder *e;
        tw_buf out;
        tw_encoder_opts_init(&o);
        o.index_is_choice = flags & 1;
        if (flags & 2) o.id = "fixed\xff\"id";
        if (flags & 4) o.model = "m\n";
        e = tw_encoder_new((tw_format)f, &o, NULL);
        if (!e) abort();
        tw_buf_init(&out);
        for (size_t i = 0; i < n; i++) {
            if (tw_encoder_encode(e, &evs[i], &out) != TW_OK) fail("encode failed", &out);
            if ((flags & 8) && i % 3 == 0 && tw_encoder_heartbeat(e, &out) != TW_OK) abort();
        }
        if (tw_encoder_finish(e, &out) != TW_OK) fail("finish failed", &out);
        if (!tw__utf8_valid(out.data ? out.data : "", out.len)) fail("invalid UTF-8 out", &out);
        switch (f) {
        case TW_FORMAT_OPENAI:
            check_sse(&out);
            check_openai_decodes(&out, &text_before_error, had_error);
            break;
        case TW_FORMAT_EVENTS:
        case TW_FORMAT_AI_SDK: check_sse(&out); break;
        case TW_FORMAT_NDJSON: check_ndjson(&out); break;
        case TW_FORMAT_TEXT:
            if (out.len != text_want.len ||
                (out.len && memcmp(out.data, text_want.data, out.len) != 0))
                fail("text differs from the repaired text deltas", &out);
            break;
        default: break;
        }
        tw_buf_free(&out);
        tw_encoder_free(e);
    }
    tw_buf_free(&text_want);
    tw_buf_free(&text_before_error);
    return 0;
}
