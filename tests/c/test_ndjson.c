/* test_ndjson.c - the NDJSON splitter: line ends, blank lines, UTF-8 repair, limits, zero copy,
 * final unterminated line, stop and resume, splits everywhere, linearity. */
#include "tokenwire.h"
#include "tw_test.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct nrec {
    tw_buf out;
    int n, stop_after, bad_capacity;
    const char *buf; /* the current feed buffer, for zero-copy checks */
    size_t buflen;
    int inside;
} nrec;

static int on_line(void *ud, tw_str line, size_t cap) {
    nrec *r = ud;
    r->n++;
    tw_buf_append(&r->out, "[", 1);
    tw_buf_append(&r->out, line.ptr, line.len);
    tw_buf_append(&r->out, "]", 1);
    if (cap < line.len) r->bad_capacity++;
    r->inside = r->buf && line.ptr >= r->buf && line.ptr < r->buf + r->buflen;
    if (r->inside && cap != (size_t)(r->buf + r->buflen - line.ptr)) r->bad_capacity++;
    if (!r->inside && cap < line.len + TW_JSON_PADDING) r->bad_capacity++;
    {
        volatile char sink = 0; /* every byte up to cap readable (ASan checks) */
        for (size_t i = 0; i < cap; i++) sink ^= line.ptr[i];
        (void)sink;
    }
    return r->stop_after && r->n == r->stop_after;
}

static void nfeed(tw_ndjson *s, nrec *r, const char *buf, size_t len) {
    tw_code rc;
    r->buf = buf;
    r->buflen = len;
    rc = tw_ndjson_feed(s, buf, len, on_line, r, NULL);
    while (rc == TW_ERR_SSE_PROTOCOL) {
        tw_buf_append(&r->out, "<error>", 7);
        r->buf = NULL;
        rc = tw_ndjson_feed(s, NULL, 0, on_line, r, NULL);
    }
    r->buf = NULL;
    CHECK_EQ_INT(rc, TW_OK);
}

static char *nparse_cuts(const char *in, size_t n, const size_t *cuts, int ncuts, size_t max) {
    nrec r;
    size_t at = 0;
    tw_ndjson *s = tw_ndjson_new(max);
    tw_code rc;
    memset(&r, 0, sizeof r);
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        char *piece = malloc(to - at + 1);
        memcpy(piece, in + at, to - at);
        nfeed(s, &r, to - at ? piece : NULL, to - at);
        free(piece);
        at = to;
    }
    rc = tw_ndjson_finish(s, on_line, &r, NULL);
    while (rc == TW_ERR_SSE_PROTOCOL) {
        tw_buf_append(&r.out, "<error>", 7);
        rc = tw_ndjson_finish(s, on_line, &r, NULL);
    }
    CHECK_EQ_INT(rc, TW_OK);
    CHECK_EQ_INT(r.bad_capacity, 0);
    tw_ndjson_free(s);
    tw_buf_append(&r.out, "", 1);
    return r.out.data;
}

#define CHECK_NDJSON(input, max, expected)                                                 \
    do {                                                                                   \
        char *got_ = nparse_cuts(input, sizeof(input) - 1, NULL, 0, max);                  \
        CHECK_EQ_STR(got_, strlen(got_), expected);                                        \
        free(got_);                                                                        \
    } while (0)

TW_TEST(ndjson_line_ends) {
    CHECK_NDJSON("{\"a\":1}\n{\"b\":2}\r\n{\"c\":3}\r{\"d\":4}", 0,
                 "[{\"a\":1}][{\"b\":2}][{\"c\":3}][{\"d\":4}]");
}

TW_TEST(ndjson_blank_lines_skipped) {
    CHECK_NDJSON("\n\r\n  \n\t\n{}\n\n\n[]\n", 0, "[{}][[]]");
}

TW_TEST(ndjson_final_line_delivered_by_finish) {
    nrec r;
    tw_ndjson *s = tw_ndjson_new(0);
    memset(&r, 0, sizeof r);
    nfeed(s, &r, "{\"x\":1}\n{\"y\"", 12);
    CHECK_EQ_INT(r.n, 1);
    nfeed(s, &r, ":2}", 3);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(tw_ndjson_finish(s, on_line, &r, NULL), TW_OK);
    CHECK_EQ_INT(r.n, 2);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), "[{\"x\":1}][{\"y\":2}]");
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
}

TW_TEST(ndjson_utf8_repaired) {
    CHECK_NDJSON("\"\xC3\xA9\"\n\"\xC3\"\n\"\xE0\x80\x80\"\n\"\xED\xA0\x80\"\n\"\x80\"", 0,
                 "[\"\xC3\xA9\"][\"\xEF\xBF\xBD\"][\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"]"
                 "[\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"][\"\xEF\xBF\xBD\"]");
}

TW_TEST(ndjson_max_line_error_then_resync) {
    tw_ndjson *s = tw_ndjson_new(8);
    nrec r;
    tw_error err;
    static const char in[] = "{\"a\":1}\n{\"toolong\":1}\n{\"b\":2}\n";
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(tw_ndjson_feed(s, in, sizeof in - 1, on_line, &r, &err), TW_ERR_SSE_PROTOCOL);
    CHECK(strstr(err.msg, "max_line") != NULL);
    CHECK(strstr(err.msg, "8 bytes") != NULL);
    CHECK_EQ_INT(err.pos, 8);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(tw_ndjson_feed(s, NULL, 0, on_line, &r, &err), TW_OK);
    CHECK_EQ_INT(r.n, 2);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), "[{\"a\":1}][{\"b\":2}]");
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
}

TW_TEST(ndjson_zero_copy_and_capacity) {
    tw_ndjson *s = tw_ndjson_new(0);
    nrec r;
    static const char a[] = "{\"a\":1}\n{\"b\"", b[] = ":2}\n";
    memset(&r, 0, sizeof r);
    nfeed(s, &r, a, sizeof a - 1);
    CHECK_EQ_INT(r.n, 1);
    r.buf = a;
    CHECK_EQ_INT(r.bad_capacity, 0);
    nfeed(s, &r, b, sizeof b - 1);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.bad_capacity, 0);
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
}

TW_TEST(ndjson_linear_bytes_scanned_16mib_byte_at_a_time) {
    size_t n = (size_t)16 << 20;
    char *in = malloc(n + 1);
    tw_ndjson *s = tw_ndjson_new(0);
    nrec r;
    memset(&r, 0, sizeof r);
    in[0] = '"';
    for (size_t i = 1; i < n - 1; i++) in[i] = (char)('a' + i % 26);
    in[n - 1] = '"';
    in[n] = '\n';
    for (size_t i = 0; i <= n; i++)
        if (tw_ndjson_feed(s, in + i, 1, on_line, &r, NULL) != TW_OK) break;
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.out.len, n + 2);
    CHECK_MSG(tw_ndjson_bytes_scanned(s) <= 2 * (uint64_t)(n + 1) + 64, "scanned %llu for %zu",
              (unsigned long long)tw_ndjson_bytes_scanned(s), n + 1);
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
    free(in);
}

TW_TEST(ndjson_splits_everywhere_give_same_lines) {
    static const char in[] = "\xEF\xBB\xBF{\"a\":\"\xC3\xA9\"}\r\n\r\n{\"b\":\"\xF0\x9F\x98\"}\r"
                             "{\"c\":1}\n  \n{\"toolong-line-here\":1}\n{\"d\":\"\xE2\x82\xAC\"}\r";
    static const size_t max = 20;
    char *want = nparse_cuts(in, sizeof in - 1, NULL, 0, max);
    size_t n = sizeof in - 1, cuts[16];
    uint32_t seed = 777;
    CHECK_EQ_STR(want, strlen(want),
                 "[{\"a\":\"\xC3\xA9\"}][{\"b\":\"\xEF\xBF\xBD\"}][{\"c\":1}]<error>"
                 "[{\"d\":\"\xE2\x82\xAC\"}]");
    for (size_t i = 0; i <= n; i++) {
        char *got = nparse_cuts(in, n, &i, 1, max);
        if (strcmp(got, want) != 0) CHECK_MSG(0, "split at %zu: %s", i, got);
        free(got);
    }
    { /* byte by byte */
        size_t *all = malloc(n * sizeof *all);
        for (size_t i = 0; i < n; i++) all[i] = i + 1;
        char *got = nparse_cuts(in, n, all, (int)n - 1, max);
        CHECK_EQ_STR(got, strlen(got), want);
        free(got);
        free(all);
    }
    for (int t = 0; t < 300; t++) {
        int k = 1 + t % 8;
        for (int j = 0; j < k; j++) {
            seed = seed * 1103515245u + 12345u;
            cuts[j] = (seed >> 8) % (n + 1);
        }
        for (int a = 1; a < k; a++)
            for (int b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
                size_t x = cuts[b];
                cuts[b] = cuts[b - 1];
                cuts[b - 1] = x;
            }
        char *got = nparse_cuts(in, n, cuts, k, max);
        if (strcmp(got, want) != 0) CHECK_MSG(0, "random split %d: %s", t, got);
        free(got);
    }
    free(want);
}

TW_TEST(ndjson_cr_at_feed_end_then_lf) {
    nrec r;
    tw_ndjson *s = tw_ndjson_new(0);
    memset(&r, 0, sizeof r);
    nfeed(s, &r, "1\r", 2);
    CHECK_EQ_INT(r.n, 1); /* a CR ends the line at once: CR-only producers never stall */
    nfeed(s, &r, "\n2\n", 3);
    CHECK_EQ_INT(r.n, 2);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), "[1][2]");
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
}

TW_TEST(ndjson_callback_stop_keeps_rest) {
    nrec r;
    tw_ndjson *s = tw_ndjson_new(0);
    tw_error err;
    memset(&r, 0, sizeof r);
    r.stop_after = 1;
    CHECK_EQ_INT(tw_ndjson_feed(s, "1\n2\n3", 5, on_line, &r, &err), TW_ERR_CANCELLED);
    CHECK_EQ_INT(err.code, TW_ERR_CANCELLED);
    CHECK_EQ_INT(err.pos, 2);
    CHECK_EQ_INT(r.n, 1);
    r.stop_after = 2;
    /* finish reads the kept "2\n3" first; it stops again after "2", then delivers "3". */
    CHECK_EQ_INT(tw_ndjson_finish(s, on_line, &r, NULL), TW_ERR_CANCELLED);
    CHECK_EQ_INT(r.n, 2);
    r.stop_after = 0;
    CHECK_EQ_INT(tw_ndjson_finish(s, on_line, &r, NULL), TW_OK);
    CHECK_EQ_INT(r.n, 3);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), "[1][2][3]");
    /* After finish the splitter is fresh again. */
    nfeed(s, &r, "4\n", 2);
    CHECK_EQ_INT(r.n, 4);
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
}

TW_TEST(ndjson_bad_arguments) {
    tw_ndjson *s = tw_ndjson_new(0);
    CHECK_EQ_INT(tw_ndjson_feed(NULL, "x", 1, on_line, NULL, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_ndjson_feed(s, NULL, 1, on_line, NULL, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_ndjson_feed(s, "x", 1, NULL, NULL, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_ndjson_finish(s, NULL, NULL, NULL), TW_ERR_INVALID_ARG);
    tw_ndjson_free(s);
    tw_ndjson_free(NULL);
}

TW_TEST(ndjson_oversized_final_line_not_delivered) {
    nrec r;
    tw_ndjson *s = tw_ndjson_new(4);
    tw_code rc;
    memset(&r, 0, sizeof r);
    rc = tw_ndjson_feed(s, "12\n123456", 9, on_line, &r, NULL);
    CHECK_EQ_INT(rc, TW_ERR_SSE_PROTOCOL);
    CHECK_EQ_INT(tw_ndjson_finish(s, on_line, &r, NULL), TW_OK);
    CHECK_EQ_INT(r.n, 1);
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
}

#ifdef __SANITIZE_ADDRESS__
/* From the ASan runtime (sanitizer/allocator_interface.h, not shipped with every compiler). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define HEAP_NOW() __sanitizer_get_current_allocated_bytes()
#else
#define HEAP_NOW() ((size_t)0)
#endif

TW_TEST(ndjson_oversized_line_memory_stays_bounded) {
    const size_t piece = 65536, big = (size_t)32 << 20;
    char *buf = malloc(piece);
    tw_ndjson *s = tw_ndjson_new((size_t)1 << 20);
    nrec r;
    size_t base = HEAP_NOW(), peak = 0;
    int errors = 0;
    memset(&r, 0, sizeof r);
    memset(buf, 'x', piece);
    for (size_t sent = 0; sent < big; sent += piece) {
        tw_code rc = tw_ndjson_feed(s, buf, piece, on_line, &r, NULL);
        while (rc == TW_ERR_SSE_PROTOCOL) {
            errors++;
            rc = tw_ndjson_feed(s, NULL, 0, on_line, &r, NULL);
        }
        CHECK_EQ_INT(rc, TW_OK);
        if (HEAP_NOW() - base > peak) peak = HEAP_NOW() - base;
    }
    nfeed(s, &r, "\n{}\n", 4);
    CHECK_EQ_INT(errors, 1);
    CHECK_EQ_INT(r.n, 1);
    CHECK_MSG(peak <= (size_t)4 << 20, "heap grew by %zu bytes for a 1 MiB limit", peak);
    tw_ndjson_free(s);
    tw_buf_free(&r.out);
    free(buf);
}
