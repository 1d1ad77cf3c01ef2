/*
 * fuzz_ndjson.c - libFuzzer target for the NDJSON splitter.
 *
 * The first input byte picks max_line (small half of the time). Invariants: the same lines and
 * errors whether the input is fed whole, split at positions derived from the input (with a
 * callback that stops on every other line, resumed with empty feeds), or one byte at a time;
 * every line is valid UTF-8, non-blank, without CR/LF, and within the limit; every byte up to
 * data_capacity is readable; bytes_scanned never exceeds the bytes fed.
 */
#include "tokenwire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec {
    tw_buf out;
    size_t max;
    int stop_every, n;
} rec;

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], lo = 0x80, hi = 0xBF;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
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
        if (i + k >= n) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static int on_line(void *ud, tw_str line, size_t cap) {
    rec *r = ud;
    char hdr[24];
    volatile char sink = 0;
    size_t blank = 0;
    if (line.len == 0 || line.len > r->max || cap < line.len) abort();
    if (!valid_utf8((const unsigned char *)line.ptr, line.len)) abort();
    if (memchr(line.ptr, '\n', line.len) || memchr(line.ptr, '\r', line.len)) abort();
    while (blank < line.len && (line.ptr[blank] == ' ' || line.ptr[blank] == '\t')) blank++;
    if (blank == line.len) abort();
    for (size_t i = 0; i < cap; i++) sink ^= line.ptr[i];
    (void)sink;
    snprintf(hdr, sizeof hdr, "L%zu:", line.len);
    tw_buf_append(&r->out, hdr, strlen(hdr));
    tw_buf_append(&r->out, line.ptr, line.len);
    r->n++;
    return r->stop_every && r->n % r->stop_every == 0;
}

static void check(tw_code rc, tw_ndjson *s, rec *r, int finishing) {
    while (rc == TW_ERR_SSE_PROTOCOL || rc == TW_ERR_CANCELLED) {
        if (rc == TW_ERR_SSE_PROTOCOL) tw_buf_append(&r->out, "X", 1);
        rc = finishing ? tw_ndjson_finish(s, on_line, r, NULL)
                       : tw_ndjson_feed(s, NULL, 0, on_line, r, NULL);
    }
    if (rc != TW_OK) abort();
}

static void feed(tw_ndjson *s, rec *r, const uint8_t *buf, size_t len) {
    char *piece = len ? malloc(len) : NULL;
    if (len) memcpy(piece, buf, len);
    check(tw_ndjson_feed(s, piece, len, on_line, r, NULL), s, r, 0);
    free(piece);
}

static void run(const uint8_t *d, size_t n, size_t max, int mode, int stop_every, tw_buf *out) {
    rec r;
    tw_ndjson *s = tw_ndjson_new(max);
    if (!s) abort();
    memset(&r, 0, sizeof r);
    r.max = max;
    r.stop_every = stop_every;
    if (mode == 0) {
        feed(s, &r, d, n);
    } else if (mode == 2) {
        for (size_t i = 0; i < n; i++) feed(s, &r, d + i, 1);
    } else {
        uint32_t h = 2166136261u;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 16777619u;
        while (at < n) {
            size_t k;
            h ^= h << 13, h ^= h >> 17, h ^= h << 5;
            k = 1 + h % (n - at < 64 ? n - at : 64);
            feed(s, &r, d + at, k);
            at += k;
        }
    }
    if (tw_ndjson_bytes_scanned(s) > n) abort();
    check(tw_ndjson_finish(s, on_line, &r, NULL), s, &r, 1);
    tw_ndjson_free(s);
    *out = r.out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t max;
    tw_buf a, b, c;
    if (size < 1) return 0;
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
