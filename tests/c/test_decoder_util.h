/*
 * test_decoder_util.h - recording normalized events as text lines, the format of the
 * hand-written tests/data/captures/<dialect>/<name>.expected files:
 *
 *   start id="..." model="..."
 *   text <index> "<text>" [name="refusal"]
 *   reasoning <index> "<text>"
 *   tool_call <index> [id="..."] [name="..."] [args="..."]
 *   usage in=<n> out=<n> total=<n>                 (-1 = absent)
 *   finish <index> "<reason>"
 *   error <kind> [status=<n>] [name="..."] "<message>" [raw="..."]
 *     (protocol errors: the message up to its parenthesized detail)
 *   raw [name="..."] "<text>" [id="..."] [retry=<n>]
 *   end
 *
 * Strings are quoted with \" \\ \n \r \t and \xHH for other control bytes; UTF-8 is kept.
 * Every string of every event is also checked to be valid UTF-8.
 */
#ifndef TEST_DECODER_UTIL_H
#define TEST_DECODER_UTIL_H

#include "tokenwire.h"
#include "tw_json.h"
#include "tw_test.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct evrec {
    tw_buf out;
    int n_events;
    int bad_utf8;
    int stop_after; /* return non-zero from the callback on this event (1-based); 0 never */
} evrec;

static void rec_put(evrec *r, const char *s) { tw_buf_append(&r->out, s, strlen(s)); }

static void rec_quoted(evrec *r, tw_str s) {
    rec_put(r, "\"");
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        char tmp[8];
        if (c == '"') rec_put(r, "\\\"");
        else if (c == '\\') rec_put(r, "\\\\");
        else if (c == '\n') rec_put(r, "\\n");
        else if (c == '\r') rec_put(r, "\\r");
        else if (c == '\t') rec_put(r, "\\t");
        else if (c < 0x20 || c == 0x7F) {
            snprintf(tmp, sizeof tmp, "\\x%02X", c);
            rec_put(r, tmp);
        } else {
            tw_buf_append(&r->out, s.ptr + i, 1);
        }
    }
    rec_put(r, "\"");
    if (s.len && !tw_json_valid_utf8(s.ptr, s.len)) r->bad_utf8++;
}

static void rec_field(evrec *r, const char *name, tw_str s) {
    if (!s.ptr) return;
    rec_put(r, " ");
    rec_put(r, name);
    rec_put(r, "=");
    rec_quoted(r, s);
}

static void rec_int(evrec *r, const char *fmt, long long v) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, fmt, v);
    rec_put(r, tmp);
}

static int rec_event(void *ud, const tw_event *ev) {
    evrec *r = ud;
    r->n_events++;
    switch (ev->type) {
    case TW_EV_START:
        rec_put(r, "start");
        rec_field(r, "id", ev->id);
        rec_field(r, "model", ev->name);
        break;
    case TW_EV_TEXT:
    case TW_EV_REASONING:
        rec_put(r, ev->type == TW_EV_TEXT ? "text" : "reasoning");
        rec_int(r, " %lld ", ev->index);
        rec_quoted(r, ev->text);
        rec_field(r, "name", ev->name);
        break;
    case TW_EV_TOOL_CALL:
        rec_int(r, "tool_call %lld", ev->index);
        rec_field(r, "id", ev->id.len ? ev->id : (tw_str){NULL, 0});
        rec_field(r, "name", ev->name.len ? ev->name : (tw_str){NULL, 0});
        rec_field(r, "args", ev->arguments);
        break;
    case TW_EV_USAGE:
        rec_int(r, "usage in=%lld", (long long)ev->input_tokens);
        rec_int(r, " out=%lld", (long long)ev->output_tokens);
        rec_int(r, " total=%lld", (long long)ev->total_tokens);
        break;
    case TW_EV_FINISH:
        rec_int(r, "finish %lld ", ev->index);
        rec_quoted(r, ev->reason);
        break;
    case TW_EV_ERROR:
        rec_put(r, "error ");
        rec_put(r, tw_error_kind_name(ev->error_kind));
        if (ev->status) rec_int(r, " status=%lld", ev->status);
        rec_field(r, "name", ev->name.len ? ev->name : (tw_str){NULL, 0});
        rec_put(r, " ");
        if (ev->error_kind == TW_KIND_PROTOCOL) {
            /* Protocol messages end with the JSON library's wording in parentheses: the
             * expected files pin only what comes before it. */
            tw_str t = ev->text;
            for (size_t i = 0; i + 1 < t.len; i++)
                if (t.ptr[i] == ' ' && t.ptr[i + 1] == '(') t.len = i;
            rec_quoted(r, t);
        } else {
            rec_quoted(r, ev->text);
        }
        rec_field(r, "raw", ev->raw.len ? ev->raw : (tw_str){NULL, 0});
        break;
    case TW_EV_RAW:
        rec_put(r, "raw");
        rec_field(r, "name", ev->name.len ? ev->name : (tw_str){NULL, 0});
        rec_put(r, " ");
        rec_quoted(r, ev->text);
        rec_field(r, "id", ev->id.len ? ev->id : (tw_str){NULL, 0});
        if (ev->retry >= 0) rec_int(r, " retry=%lld", (long long)ev->retry);
        break;
    case TW_EV_END: rec_put(r, "end"); break;
    default: rec_int(r, "unexpected-type-%lld", ev->type); break;
    }
    rec_put(r, "\n");
    return r->stop_after && r->n_events == r->stop_after;
}

static void rec_reset(evrec *r) {
    r->out.len = 0;
    r->n_events = 0;
    r->bad_utf8 = 0;
    r->stop_after = 0;
}

/* NUL-terminated view of the recording (for comparisons and messages). */
static const char *rec_text(evrec *r) {
    tw_buf_append(&r->out, "", 1);
    r->out.len--;
    return r->out.data ? r->out.data : "";
}

/* Decodes input with the given feed pattern: step 0 = whole, 1 = one byte at a time,
 * otherwise two pieces split at position `split`. Then finishes. */
static void decode_with(tw_dialect dialect, const char *in, size_t n, int mode, size_t split,
                        evrec *r) {
    tw_decoder *d = tw_decoder_new(dialect, NULL, NULL);
    rec_reset(r);
    if (!d) {
        rec_put(r, "decoder_new failed\n");
        return;
    }
    if (mode == 0) {
        CHECK_EQ_INT(tw_decoder_feed(d, in, n, rec_event, r, NULL), TW_OK);
    } else if (mode == 1) {
        for (size_t i = 0; i < n; i++) {
            /* A heap copy of each byte, so that ASan sees any read past the piece. */
            char *b = malloc(1);
            *b = in[i];
            CHECK_EQ_INT(tw_decoder_feed(d, b, 1, rec_event, r, NULL), TW_OK);
            free(b);
        }
    } else {
        char *a = malloc(split ? split : 1), *b = malloc(n - split ? n - split : 1);
        memcpy(a, in, split);
        memcpy(b, in + split, n - split);
        CHECK_EQ_INT(tw_decoder_feed(d, a, split, rec_event, r, NULL), TW_OK);
        CHECK_EQ_INT(tw_decoder_feed(d, b, n - split, rec_event, r, NULL), TW_OK);
        free(a);
        free(b);
    }
    CHECK_EQ_INT(tw_decoder_finish(d, rec_event, r, NULL), TW_OK);
    CHECK(tw_decoder_done(d));
    tw_decoder_free(d);
}

#endif /* TEST_DECODER_UTIL_H */
