/*
 * fuzz_decoder_common.h - shared body of the fuzz_decoder_<dialect>.c libFuzzer targets.
 *
 * The input is a stream for the dialect. Invariants checked (abort on violation):
 *  - feeding it whole and feeding it in pieces (sizes derived from the input's first bytes)
 *    give the same events, in the same order, after tw_decoder_finish (protocol error
 *    messages compared up to their parenthesized JSON-library detail);
 *  - every string of every event is valid UTF-8 (an independent RFC 3629 check);
 *  - exactly one terminal event (tw_event_is_terminal), and it is the last one;
 *  - the summary (tw_summary) of the events is the same whole and split;
 *  - the same bytes as a non-streaming body (tw_decoder_decode_body) give valid events too;
 *  - tw_error_body_message returns a slice of the body or of the scratch buffer;
 *  - no crash, no leak, no out-of-bounds read (ASan/UBSan), bounded work.
 */
#ifndef FUZZ_DECODER_COMMON_H
#define FUZZ_DECODER_COMMON_H

#include "tokenwire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fz_valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], lo = 0x80, hi = 0xBF;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return 0;
        }
        if (i + k >= n) return 0; /* truncated sequence */
        if ((unsigned)s[i + 1] < lo || (unsigned)s[i + 1] > hi) return 0;
        for (size_t m = 2; m <= k; m++)
            if ((s[i + m] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static void fz_str(tw_buf *out, tw_str s) {
    char len[32];
    if (s.len && !fz_valid_utf8((const unsigned char *)s.ptr, s.len)) {
        fprintf(stderr, "event string is not valid UTF-8\n");
        abort();
    }
    snprintf(len, sizeof len, "|%zu:", s.len);
    tw_buf_append(out, len, strlen(len));
    tw_buf_append(out, s.ptr, s.len);
}

typedef struct fz_ctx {
    tw_buf *out;
    tw_summary *sum;
    int terminals; /* terminal events seen */
} fz_ctx;

static int fz_record(void *ud, const tw_event *ev) {
    fz_ctx *c = ud;
    tw_buf *out = c->out;
    char head[160];
    if (c->terminals) {
        fprintf(stderr, "an event after the terminal event\n");
        abort();
    }
    if (tw_event_is_terminal(ev)) c->terminals++;
    if (c->sum && tw_summary_add(c->sum, ev) != TW_OK) abort();
    snprintf(head, sizeof head, "\n%d %d %d %d %d %lld %lld %lld %lld", (int)ev->type,
             (int)ev->error_kind, (int)ev->recoverable, (int)ev->index, (int)ev->status,
             (long long)ev->input_tokens,
             (long long)ev->output_tokens, (long long)ev->total_tokens, (long long)ev->retry);
    tw_buf_append(out, head, strlen(head));
    if (ev->type == TW_EV_ERROR && ev->error_kind == TW_KIND_PROTOCOL) {
        /* The parenthesized detail is the JSON library's wording, which may depend on the
         * bytes after a malformed payload (in-place parse vs padded copy): compare the rest. */
        tw_str t = ev->text;
        if (t.len && !fz_valid_utf8((const unsigned char *)t.ptr, t.len)) abort();
        for (size_t i = 0; i + 1 < t.len; i++)
            if (t.ptr[i] == ' ' && t.ptr[i + 1] == '(') t.len = i;
        fz_str(out, t);
    } else {
        fz_str(out, ev->text);
    }
    fz_str(out, ev->id);
    fz_str(out, ev->name);
    fz_str(out, ev->arguments);
    fz_str(out, ev->reason);
    fz_str(out, ev->raw);
    return 0;
}

static void fz_decode(tw_dialect dl, const char *in, size_t n, const uint8_t *cuts, size_t ncuts,
                      tw_buf *out) {
    tw_decoder *d = tw_decoder_new(dl, NULL, NULL);
    size_t off = 0, i = 0;
    fz_ctx ctx = {out, tw_summary_new(1, tw_dialect_indexes_choices(dl)), 0};
    if (!d || !ctx.sum) abort();
    while (off < n) {
        size_t piece = ncuts ? (size_t)cuts[i++ % ncuts] % 97 + 1 : n;
        char *copy;
        if (piece > n - off) piece = n - off;
        copy = malloc(piece); /* exact-size heap copy: ASan sees reads past the piece */
        memcpy(copy, in + off, piece);
        if (tw_decoder_feed(d, copy, piece, fz_record, &ctx, NULL) != TW_OK) abort();
        free(copy);
        off += piece;
    }
    if (tw_decoder_finish(d, fz_record, &ctx, NULL) != TW_OK) abort();
    if (!tw_decoder_done(d)) abort();
    if (ctx.terminals != 1) {
        fprintf(stderr, "%d terminal events\n", ctx.terminals);
        abort();
    }
    /* The summary goes into the record: whole and split must agree on it too. */
    tw_buf_append(out, "\nsummary ", 9);
    if (tw_summary_to_json(ctx.sum, out) != TW_OK) abort();
    tw_summary_free(ctx.sum);
    tw_decoder_free(d);
}

static int fz_run(tw_dialect dl, const uint8_t *data, size_t size) {
    tw_buf whole, split, body, scratch;
    char *copy;
    tw_decoder *d;
    tw_str m;
    size_t ncuts = size < 8 ? size : 8;
    tw_buf_init(&whole);
    tw_buf_init(&split);
    tw_buf_init(&body);
    tw_buf_init(&scratch);
    fz_decode(dl, (const char *)data, size, NULL, 0, &whole);
    fz_decode(dl, (const char *)data, size, data, ncuts, &split);
    if (whole.len != split.len || (whole.len && memcmp(whole.data, split.data, whole.len) != 0)) {
        fprintf(stderr, "whole and split feeds differ\n--- whole:%.*s\n--- split:%.*s\n",
                (int)whole.len, whole.data, (int)split.len, split.data);
        abort();
    }
    copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    d = tw_decoder_new(dl, NULL, NULL);
    {
        fz_ctx bctx = {&body, NULL, 0};
        if (tw_decoder_decode_body(d, copy, size, fz_record, &bctx, NULL) != TW_OK) abort();
        if (bctx.terminals != 1) abort();
    }
    tw_decoder_free(d);
    m = tw_error_body_message(copy, size, &scratch);
    if (m.ptr && !(m.ptr >= copy && m.ptr + m.len <= copy + size) &&
        !(m.ptr == scratch.data && m.len <= scratch.len))
        abort();
    free(copy);
    tw_buf_free(&whole);
    tw_buf_free(&split);
    tw_buf_free(&body);
    tw_buf_free(&scratch);
    return 0;
}

#endif /* FUZZ_DECODER_COMMON_H */
