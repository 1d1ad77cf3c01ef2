/*
 * fuzz_sse.c - libFuzzer target for the SSE parser.
 *
 * The first input byte picks the options (a small max_event_size half of the time, so the
 * limit path runs), the rest is the stream. Invariants checked:
 *  - feeding it whole, split at positions derived from the input, and with a callback that
 *    stops on every other event (then resumed with empty feeds) gives the same records
 *    (events, comments, protocol errors) in the same order;
 *  - every string handed out is valid UTF-8 (checked with an independent decoder);
 *  - no event's data exceeds max_event_size; data_capacity >= data.len and every byte up to
 *    data_capacity is readable (ASan checks the reads);
 *  - bytes_scanned never exceeds the bytes fed (the scanner reads each byte once);
 *  - every line-end scanner variant (memchr, SSE2, AVX2) finds the same line ends as the scalar
 *    loop, and UTF-8 repair yields valid UTF-8 that equals the input when the input was valid.
 */
#include "tokenwire.h"
#include "tw_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec {
    tw_buf out;
    size_t max;
    int stop_every; /* stop on every n-th event (0 = never) */
    int n;
} rec;

/* Independent UTF-8 check (RFC 3629 ranges). */
static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
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
        }
        else return 0;
        if (i + k >= n) return 0; /* truncated */
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static void put_str(rec *r, char tag, tw_str s) {
    char hdr[24];
    if (!valid_utf8((const unsigned char *)s.ptr, s.len)) abort();
    snprintf(hdr, sizeof hdr, "%c%zu:", tag, s.len);
    tw_buf_append(&r->out, hdr, strlen(hdr));
    tw_buf_append(&r->out, s.ptr, s.len);
}

static int on_event(void *ud, const tw_sse_event *ev) {
    rec *r = ud;
    char tmp[32];
    volatile char sink = 0;
    if (ev->data.len > r->max || ev->data_capacity < ev->data.len) abort();
    for (size_t i = 0; i < ev->data_capacity; i++) sink ^= ev->data.ptr[i];
    (void)sink;
    put_str(r, 'E', ev->event);
    put_str(r, 'D', ev->data);
    put_str(r, 'I', ev->id);
    snprintf(tmp, sizeof tmp, "R%lld\n", (long long)ev->retry);
    tw_buf_append(&r->out, tmp, strlen(tmp));
    r->n++;
    return r->stop_every && r->n % r->stop_every == 0;
}

static void on_comment(void *ud, tw_str c) {
    put_str(ud, 'C', c);
    tw_buf_append(&((rec *)ud)->out, "\n", 1);
}

static void feed(tw_sse_parser *p, rec *r, const uint8_t *buf, size_t len) {
    /* Own heap copy, so ASan sees reads past the piece. */
    char *piece = len ? malloc(len) : NULL;
    tw_code rc;
    if (len) memcpy(piece, buf, len);
    rc = tw_sse_parser_feed(p, piece, len, on_event, r, NULL);
    while (rc == TW_ERR_SSE_PROTOCOL || rc == TW_ERR_CANCELLED) {
        if (rc == TW_ERR_SSE_PROTOCOL) tw_buf_append(&r->out, "X\n", 2);
        rc = tw_sse_parser_feed(p, NULL, 0, on_event, r, NULL);
    }
    if (rc != TW_OK) abort();
    free(piece);
}

/* mode 0: whole; 1: cuts derived from the input; 2: one byte at a time (short inputs). */
static void run(const uint8_t *d, size_t n, size_t max, int mode, int stop_every, tw_buf *out) {
    rec r;
    tw_sse_opts o;
    tw_sse_parser *p;
    memset(&r, 0, sizeof r);
    r.max = max;
    r.stop_every = stop_every;
    tw_sse_opts_init(&o);
    o.max_event_size = max;
    o.on_comment = on_comment;
    o.comment_userdata = &r;
    p = tw_sse_parser_new(&o);
    if (!p) abort();
    if (mode == 0) {
        feed(p, &r, d, n);
    } else if (mode == 2) {
        for (size_t i = 0; i < n; i++) feed(p, &r, d + i, 1);
    } else {
        uint32_t h = 2166136261u;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 16777619u;
        while (at < n) {
            size_t k;
            h ^= h << 13, h ^= h >> 17, h ^= h << 5;
            k = 1 + h % (n - at < 64 ? n - at : 64);
            feed(p, &r, d + at, k);
            at += k;
        }
    }
    if (tw_sse_parser_bytes_scanned(p) > n) abort();
    tw_sse_parser_finish(p);
    tw_sse_parser_free(p);
    *out = r.out;
}

static void check_internals(const uint8_t *d, size_t n) {
    char *copy = malloc(n + 1); /* exact-size block: ASan flags any over-read */
    const char *end = copy + n;
    tw__eol_fn fns[3];
    int nf = 0;
    tw_buf r;
    memcpy(copy, d, n);
    fns[nf++] = tw__eol_memchr;
#ifdef TW__HAVE_X86_SIMD
    fns[nf++] = tw__eol_sse2;
    if (tw__cpu_has_avx2()) fns[nf++] = tw__eol_avx2;
#endif
    for (size_t start = 0; start <= n; start += 1 + start / 4) {
        const char *want = tw__eol_scalar(copy + start, end);
        for (int f = 0; f < nf; f++)
            if (fns[f](copy + start, end) != want) abort();
    }
    tw_buf_init(&r);
    if (tw__utf8_append(&r, copy, n) != TW_OK) abort();
    if (!valid_utf8((const unsigned char *)r.data, r.len)) abort();
    if (tw__utf8_valid(copy, n) != valid_utf8(d, n)) abort();
    if (tw__utf8_valid(copy, n) && (r.len != n || (n && memcmp(r.data, d, n) != 0))) abort();
    tw_buf_free(&r);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t max;
    tw_buf a, b, c;
    if (size < 1) return 0;
    check_internals(data, size);
    max = (data[0] & 1) ? 1 + (size_t)(data[0] >> 1) * 3 : TW_DEFAULT_MAX_EVENT_SIZE;
    data++, size--;
    run(data, size, max, 0, 0, &a);
    run(data, size, max, 1, 2, &b);
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) abort();
    if (size <= 512) {
        run(data, size, max, 2, 0, &c);
        if (a.len != c.len || (a.len && memcmp(a.data, c.data, a.len) != 0)) abort();
        tw_buf_free(&c);
    }
    tw_buf_free(&a);
    tw_buf_free(&b);
    return 0;
}
