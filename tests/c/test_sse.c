/* test_sse.c - the SSE parser: one test per WHATWG rule, corpora fed whole / byte by byte /
 * split at every position, zero copy, limits, invalid UTF-8, callbacks, linearity. */
#include "tokenwire.h"
#include "tw_test.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- recording events as text --------------------------------------------------------------
 * One record per line, the same format as the hand-written tests/data/sse/ *.expected files:
 *   event=<type> id=<last id> retry=<n> data=<data>     (a dispatched event)
 *   comment=<text>                                      (the comment callback)
 *   error=sse_protocol                                  (feed returned TW_ERR_SSE_PROTOCOL)
 * Escapes: \\ \n \r \t \0, other bytes < 0x20 and 0x7F as \xHH; in type and id a space is \s.
 * UTF-8 (including U+FFFD) is written as is. */

typedef struct rec {
    tw_buf out;
    int check_capacity; /* every event must satisfy the data_capacity contract */
    int bad_capacity;
    int stop_after;     /* callback returns non-zero on this event number (1-based), 0 = never */
    int n_events;
    size_t max_data;
} rec;

static void put(rec *r, const char *s) { tw_buf_append(&r->out, s, strlen(s)); }

static void put_esc(rec *r, const char *p, size_t n, int esc_space) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char tmp[8];
        if (c == '\\') put(r, "\\\\");
        else if (c == '\n') put(r, "\\n");
        else if (c == '\r') put(r, "\\r");
        else if (c == '\t') put(r, "\\t");
        else if (c == 0) put(r, "\\0");
        else if (c == ' ' && esc_space) put(r, "\\s");
        else if (c < 0x20 || c == 0x7F) {
            snprintf(tmp, sizeof tmp, "\\x%02X", c);
            put(r, tmp);
        } else {
            tw_buf_append(&r->out, p + i, 1);
        }
    }
}

static int on_event(void *ud, const tw_sse_event *ev) {
    rec *r = ud;
    char tmp[64];
    r->n_events++;
    put(r, "event=");
    put_esc(r, ev->event.ptr, ev->event.len, 1);
    put(r, " id=");
    put_esc(r, ev->id.ptr, ev->id.len, 1);
    snprintf(tmp, sizeof tmp, " retry=%lld data=", (long long)ev->retry);
    put(r, tmp);
    put_esc(r, ev->data.ptr, ev->data.len, 0);
    put(r, "\n");
    if (ev->data_capacity < ev->data.len) r->bad_capacity++;
    if (ev->data.len > r->max_data) r->max_data = ev->data.len;
    if (r->check_capacity) {
        /* Every byte up to data_capacity must be readable: ASan catches it otherwise. */
        volatile char sink = 0;
        for (size_t i = 0; i < ev->data_capacity; i++) sink ^= ev->data.ptr[i];
        (void)sink;
    }
    return r->stop_after && r->n_events == r->stop_after;
}

static void on_comment(void *ud, tw_str c) {
    rec *r = ud;
    put(r, "comment=");
    put_esc(r, c.ptr, c.len, 0);
    put(r, "\n");
}

static tw_sse_parser *new_parser(rec *r, size_t max) {
    tw_sse_opts o;
    tw_sse_opts_init(&o);
    if (max) o.max_event_size = max;
    o.on_comment = on_comment;
    o.comment_userdata = r;
    return tw_sse_parser_new(&o);
}

/* Feeds one piece; a protocol error is recorded and the kept rest drained. */
static void feed_piece(tw_sse_parser *p, rec *r, const char *buf, size_t len) {
    tw_code rc = tw_sse_parser_feed(p, buf, len, on_event, r, NULL);
    while (rc == TW_ERR_SSE_PROTOCOL) {
        put(r, "error=sse_protocol\n");
        rc = tw_sse_parser_feed(p, NULL, 0, on_event, r, NULL);
    }
    CHECK_EQ_INT(rc, TW_OK);
}

/* Parses input cut at the given offsets (ascending); returns the malloc'd record text. */
static char *parse_cuts(const char *in, size_t n, const size_t *cuts, int ncuts, size_t max,
                        int check_cap) {
    rec r;
    size_t at = 0;
    tw_sse_parser *p;
    memset(&r, 0, sizeof r);
    r.check_capacity = check_cap;
    p = new_parser(&r, max);
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        /* Each piece in its own heap block, so ASan sees any read past a feed buffer. */
        char *piece = malloc(to - at + 1);
        memcpy(piece, in + at, to - at);
        feed_piece(p, &r, to - at ? piece : NULL, to - at);
        free(piece);
        at = to;
    }
    CHECK_EQ_INT(tw_sse_parser_finish(p), TW_OK);
    CHECK_EQ_INT(r.bad_capacity, 0);
    tw_sse_parser_free(p);
    tw_buf_append(&r.out, "", 1);
    return r.out.data;
}

static char *parse_whole(const char *in, size_t n) { return parse_cuts(in, n, NULL, 0, 0, 1); }

#define CHECK_PARSE(input, expected)                                                       \
    do {                                                                                   \
        char *got_ = parse_whole(input, sizeof(input) - 1);                                \
        CHECK_EQ_STR(got_, strlen(got_), expected);                                        \
        free(got_);                                                                        \
    } while (0)

/* ---- one test per rule of the spec --------------------------------------------------------- */

TW_TEST(sse_basic_event) {
    CHECK_PARSE("data: hello\n\n", "event=message id= retry=-1 data=hello\n");
}

TW_TEST(sse_bom_dropped_once) {
    CHECK_PARSE("\xEF\xBB\xBF" "data: a\n\n", "event=message id= retry=-1 data=a\n");
    /* A second BOM is not at the start of the stream: it is part of the field name. */
    CHECK_PARSE("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n", "");
    CHECK_PARSE("data: \xEF\xBB\xBFx\n\n", "event=message id= retry=-1 data=\xEF\xBB\xBFx\n");
}

TW_TEST(sse_partial_bom_is_text) {
    /* EF BB followed by 'd' is an invalid sequence (one U+FFFD) glued to the field name. */
    CHECK_PARSE("\xEF\xBB" "data: a\n\ndata: b\n\n", "event=message id= retry=-1 data=b\n");
    CHECK_PARSE("\xEF\xBB\n\xEF:x\ndata: b\n\n", "event=message id= retry=-1 data=b\n");
}

TW_TEST(sse_line_ends_crlf_lf_cr) {
    CHECK_PARSE("data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\n",
                "event=message id= retry=-1 data=a\n"
                "event=message id= retry=-1 data=b\n"
                "event=message id= retry=-1 data=c\n"
                "event=message id= retry=-1 data=d\n");
    /* LF CR is two line ends (a blank line), CR LF one. */
    CHECK_PARSE("data: a\n\rdata: b\r\n", "event=message id= retry=-1 data=a\n");
}

TW_TEST(sse_comment_lines) {
    CHECK_PARSE(": ping\n:\n:x:y\ndata: a\n\n",
                "comment= ping\ncomment=\ncomment=x:y\nevent=message id= retry=-1 data=a\n");
}

TW_TEST(sse_field_value_split_at_first_colon) {
    CHECK_PARSE("data: a: b:c\n\n", "event=message id= retry=-1 data=a: b:c\n");
    CHECK_PARSE("data:no-space\n\n", "event=message id= retry=-1 data=no-space\n");
}

TW_TEST(sse_one_leading_space_removed) {
    CHECK_PARSE("data:  two\n\n", "event=message id= retry=-1 data= two\n");
    CHECK_PARSE("data:\tx\n\n", "event=message id= retry=-1 data=\\tx\n");
    CHECK_PARSE("data: \n\n", "event=message id= retry=-1 data=\n");
}

TW_TEST(sse_line_without_colon_is_field_with_empty_value) {
    CHECK_PARSE("data\n\n", "event=message id= retry=-1 data=\n");
    CHECK_PARSE("data\ndata\n\n", "event=message id= retry=-1 data=\\n\n");
    CHECK_PARSE("event\ndata: x\n\n", "event=message id= retry=-1 data=x\n");
}

TW_TEST(sse_data_lines_joined) {
    CHECK_PARSE("data: YHOO\ndata: +2\ndata: 10\n\n",
                "event=message id= retry=-1 data=YHOO\\n+2\\n10\n");
    CHECK_PARSE("data:\ndata:\n\n", "event=message id= retry=-1 data=\\n\n");
    CHECK_PARSE("data: a\ndata:\n\n", "event=message id= retry=-1 data=a\\n\n");
}

TW_TEST(sse_event_type_defaults_and_resets) {
    CHECK_PARSE("event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n",
                "event=add id= retry=-1 data=1\n"
                "event=message id= retry=-1 data=2\n"
                "event=message id= retry=-1 data=3\n");
    /* The last event field wins. */
    CHECK_PARSE("event: a\nevent: b\ndata: 1\n\n", "event=b id= retry=-1 data=1\n");
}

TW_TEST(sse_event_type_reset_even_without_dispatch) {
    CHECK_PARSE("event: lost\n\ndata: 1\n\n", "event=message id= retry=-1 data=1\n");
}

TW_TEST(sse_id_persists_and_nul_ignored) {
    CHECK_PARSE("id: 1\ndata: a\n\ndata: b\n\nid: 2\0x\ndata: c\n\nid\ndata: d\n\n",
                "event=message id=1 retry=-1 data=a\n"
                "event=message id=1 retry=-1 data=b\n"
                "event=message id=1 retry=-1 data=c\n"
                "event=message id= retry=-1 data=d\n");
    /* An id in a block without data still sets the last event id. */
    CHECK_PARSE("id: 7\n\ndata: x\n\n", "event=message id=7 retry=-1 data=x\n");
}

TW_TEST(sse_last_event_id_accessor) {
    rec r;
    tw_sse_parser *p;
    memset(&r, 0, sizeof r);
    p = new_parser(&r, 0);
    CHECK_EQ_INT(tw_sse_parser_last_event_id(p).len, 0);
    feed_piece(p, &r, "id: abc\n", 8);
    CHECK_EQ_STR(tw_sse_parser_last_event_id(p).ptr, tw_sse_parser_last_event_id(p).len, "abc");
    CHECK_EQ_INT(tw_sse_parser_finish(p), TW_OK);
    CHECK_EQ_INT(tw_sse_parser_last_event_id(p).len, 0);
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

TW_TEST(sse_retry_only_digits) {
    CHECK_PARSE("retry: 3000\ndata: a\n\ndata: b\n\n",
                "event=message id= retry=3000 data=a\nevent=message id= retry=-1 data=b\n");
    CHECK_PARSE("retry: 30x\ndata: a\n\n", "event=message id= retry=-1 data=a\n");
    CHECK_PARSE("retry: -1\ndata: a\n\n", "event=message id= retry=-1 data=a\n");
    CHECK_PARSE("retry:\ndata: a\n\n", "event=message id= retry=-1 data=a\n");
    CHECK_PARSE("retry:  5\ndata: a\n\n", "event=message id= retry=-1 data=a\n");
    CHECK_PARSE("retry: 0\ndata: a\n\n", "event=message id= retry=0 data=a\n");
    /* Overflow saturates instead of wrapping. */
    CHECK_PARSE("retry: 99999999999999999999999\ndata: a\n\n",
                "event=message id= retry=9223372036854775807 data=a\n");
}

TW_TEST(sse_retry_accessor_persists) {
    rec r;
    tw_sse_parser *p;
    memset(&r, 0, sizeof r);
    p = new_parser(&r, 0);
    CHECK_EQ_INT(tw_sse_parser_retry(p), -1);
    feed_piece(p, &r, "retry: 10000\n\n", 14);
    CHECK_EQ_INT(r.n_events, 0);
    CHECK_EQ_INT(tw_sse_parser_retry(p), 10000);
    feed_piece(p, &r, "retry: x\ndata: a\n\n", 18);
    CHECK_EQ_INT(tw_sse_parser_retry(p), 10000);
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

TW_TEST(sse_unknown_fields_ignored) {
    CHECK_PARSE("foo: bar\nDATA: x\ndata : y\n data: z\ndata: a\n\n",
                "event=message id= retry=-1 data=a\n");
}

TW_TEST(sse_empty_data_buffer_dispatches_nothing) {
    CHECK_PARSE("\n\n\nid: 1\n\nevent: x\n\n", "");
}

TW_TEST(sse_unterminated_event_discarded) {
    CHECK_PARSE("data: a\n\ndata: b\n", "event=message id= retry=-1 data=a\n");
    CHECK_PARSE("data: a\n\ndata: b", "event=message id= retry=-1 data=a\n");
}

TW_TEST(sse_whatwg_examples) {
    /* The examples of the HTML standard's "Event stream interpretation" section. */
    CHECK_PARSE(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
                "data:  third event\n",
                "comment= test stream\n"
                "event=message id=1 retry=-1 data=first event\n"
                "event=message id= retry=-1 data=second event\n");
    CHECK_PARSE("data\n\ndata\ndata\n\ndata:",
                "event=message id= retry=-1 data=\nevent=message id= retry=-1 data=\\n\n");
    CHECK_PARSE("data:test\n\ndata: test\n\n",
                "event=message id= retry=-1 data=test\nevent=message id= retry=-1 data=test\n");
}

/* ---- splits -------------------------------------------------------------------------------- */

static int check_all_splits(const char *in, size_t n, size_t max, const char *want) {
    int bad = 0;
    char *got;
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
    /* byte by byte */
    got = parse_cuts(in, n, cuts, n ? (int)n - 1 : 0, max, 1);
    if (strcmp(got, want) != 0) {
        bad++;
        CHECK_MSG(0, "byte-by-byte differs:\n%s\nvs whole:\n%s", got, want);
    }
    free(got);
    /* every 2-way split */
    for (size_t i = 0; i <= n && bad < 3; i++) {
        got = parse_cuts(in, n, &i, 1, max, 0);
        if (strcmp(got, want) != 0) {
            bad++;
            CHECK_MSG(0, "split at %zu differs:\n%s\nvs whole:\n%s", i, got, want);
        }
        free(got);
    }
    /* random 3-way and k-way splits (fixed seed: reproducible) */
    uint32_t seed = 12345;
    for (int t = 0; t < 300 && bad < 3 && n; t++) {
        int k = t < 150 ? 2 : 1 + (int)(seed % 16);
        for (int j = 0; j < k; j++) {
            seed = seed * 1103515245u + 12345u;
            cuts[j] = (seed >> 8) % (n + 1);
        }
        for (int a = 1; a < k; a++) /* insertion sort */
            for (int b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
                size_t x = cuts[b];
                cuts[b] = cuts[b - 1];
                cuts[b - 1] = x;
            }
        got = parse_cuts(in, n, cuts, k, max, 0);
        if (strcmp(got, want) != 0) {
            bad++;
            CHECK_MSG(0, "random split #%d differs:\n%s\nvs whole:\n%s", t, got, want);
        }
        free(got);
    }
    free(cuts);
    return bad;
}

TW_TEST(sse_splits_everywhere_give_same_events) {
    static const char in[] = "\xEF\xBB\xBF: hi\r\nevent: e\xC3\xA9\r\nid: 42\r\ndata: a\r\n"
                             "data: \xE2\x82\xAC\r\n\r\ndata: z\r\rretry: 12\ndata:x\n\n"
                             "data: bad \xE2\x82\n\n";
    char *want = parse_cuts(in, sizeof in - 1, NULL, 0, 0, 1);
    CHECK_EQ_STR(want, strlen(want),
                 "comment= hi\n"
                 "event=e\xC3\xA9 id=42 retry=-1 data=a\\n\xE2\x82\xAC\n"
                 "event=message id=42 retry=-1 data=z\n"
                 "event=message id=42 retry=12 data=x\n"
                 "event=message id=42 retry=-1 data=bad \xEF\xBF\xBD\n");
    check_all_splits(in, sizeof in - 1, 0, want);
    free(want);
}

TW_TEST(sse_cr_at_feed_end_then_lf_is_one_line_end) {
    rec r;
    tw_sse_parser *p;
    memset(&r, 0, sizeof r);
    p = new_parser(&r, 0);
    feed_piece(p, &r, "data: a\r", 8);
    feed_piece(p, &r, "\n", 1);
    CHECK_EQ_INT(r.n_events, 0); /* CR LF is one line end: no blank line yet */
    feed_piece(p, &r, "\r", 1);
    CHECK_EQ_INT(r.n_events, 1); /* a lone CR ends the blank line at once */
    feed_piece(p, &r, "\ndata: b\n\n", 10);
    CHECK_EQ_INT(r.n_events, 2);
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

/* ---- zero copy ----------------------------------------------------------------------------- */

typedef struct zc {
    const char *buf;
    size_t buflen;
    int inside, n;
    size_t cap;
} zc;

static int zc_cb(void *ud, const tw_sse_event *ev) {
    zc *z = ud;
    z->n++;
    z->inside = ev->data.ptr >= z->buf && ev->data.ptr < z->buf + z->buflen;
    z->cap = ev->data_capacity;
    if (z->inside) CHECK_EQ_INT(ev->data_capacity, (size_t)(z->buf + z->buflen - ev->data.ptr));
    else CHECK(ev->data_capacity >= ev->data.len + TW_JSON_PADDING);
    return 0;
}

TW_TEST(sse_zero_copy_single_line_in_buffer) {
    static const char in[] = "event: x\ndata: {\"a\":1}\n\nmore";
    tw_sse_parser *p = tw_sse_parser_new(NULL);
    zc z = {in, sizeof in - 1, 0, 0, 0};
    CHECK_EQ_INT(tw_sse_parser_feed(p, in, sizeof in - 1, zc_cb, &z, NULL), TW_OK);
    CHECK_EQ_INT(z.n, 1);
    CHECK(z.inside);
    CHECK_EQ_INT(z.cap, 4 + 2 + 7); /* from the data to the end of the feed buffer */
    tw_sse_parser_free(p);
}

TW_TEST(sse_copies_when_not_in_one_buffer) {
    tw_sse_parser *p = tw_sse_parser_new(NULL);
    zc z = {0};
    static const char a[] = "data: one\ndata: two\n\n";
    static const char b1[] = "data: spl", b2[] = "it\n\n";
    static const char c1[] = "data: whole\n", c2[] = "\n";
    static const char d[] = "data: bad\xFF\n\n";
    z.buf = a, z.buflen = sizeof a - 1;
    CHECK_EQ_INT(tw_sse_parser_feed(p, a, sizeof a - 1, zc_cb, &z, NULL), TW_OK);
    CHECK(!z.inside); /* two data lines: joined in the parser's buffer */
    z.buf = b1, z.buflen = sizeof b1 - 1;
    CHECK_EQ_INT(tw_sse_parser_feed(p, b1, sizeof b1 - 1, zc_cb, &z, NULL), TW_OK);
    z.buf = b2, z.buflen = sizeof b2 - 1;
    CHECK_EQ_INT(tw_sse_parser_feed(p, b2, sizeof b2 - 1, zc_cb, &z, NULL), TW_OK);
    CHECK(!z.inside);
    z.buf = c1, z.buflen = sizeof c1 - 1;
    CHECK_EQ_INT(tw_sse_parser_feed(p, c1, sizeof c1 - 1, zc_cb, &z, NULL), TW_OK);
    z.buf = c2, z.buflen = sizeof c2 - 1;
    CHECK_EQ_INT(tw_sse_parser_feed(p, c2, sizeof c2 - 1, zc_cb, &z, NULL), TW_OK);
    CHECK(!z.inside); /* the blank line came in the next feed */
    z.buf = d, z.buflen = sizeof d - 1;
    CHECK_EQ_INT(tw_sse_parser_feed(p, d, sizeof d - 1, zc_cb, &z, NULL), TW_OK);
    CHECK(!z.inside); /* repaired UTF-8 is a copy */
    CHECK_EQ_INT(z.n, 4);
    tw_sse_parser_free(p);
}

/* ---- limits, linearity --------------------------------------------------------------------- */

TW_TEST(sse_oversized_event_errors_then_resyncs) {
    static const char in[] = "data: 0123456789\ndata: 0123456789\n: c\nid: 5\n\ndata: ok\n\n";
    tw_sse_opts o;
    tw_sse_parser *p;
    tw_error err;
    rec r;
    memset(&r, 0, sizeof r);
    tw_sse_opts_init(&o);
    o.max_event_size = 20;
    p = tw_sse_parser_new(&o);
    CHECK_EQ_INT(tw_sse_parser_feed(p, in, sizeof in - 1, on_event, &r, &err), TW_ERR_SSE_PROTOCOL);
    CHECK_EQ_INT(err.code, TW_ERR_SSE_PROTOCOL);
    CHECK(strstr(err.msg, "max_event_size") != NULL);
    CHECK(strstr(err.msg, "20 bytes") != NULL);
    CHECK_EQ_INT(err.pos, 17); /* the second data line */
    CHECK_EQ_INT(r.n_events, 0);
    /* The rest was kept: feeding nothing goes on from there. */
    CHECK_EQ_INT(tw_sse_parser_feed(p, NULL, 0, on_event, &r, &err), TW_OK);
    CHECK_EQ_INT(err.code, TW_OK);
    tw_buf_append(&r.out, "", 1);
    /* The id line inside the dropped event is dropped too. */
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), "event=message id= retry=-1 data=ok\n");
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

TW_TEST(sse_oversized_splits_agree) {
    static const char in[] = "data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n"
                             "data: 01234567890123456789xx\n\r\n:c\ndata: end\n\n";
    char *want = parse_cuts(in, sizeof in - 1, NULL, 0, 20, 1);
    CHECK_EQ_STR(want, strlen(want),
                 "error=sse_protocol\nevent=message id= retry=-1 data=ok\n"
                 "error=sse_protocol\ncomment=c\nevent=message id= retry=-1 data=end\n");
    check_all_splits(in, sizeof in - 1, 20, want);
    free(want);
}

TW_TEST(sse_linear_bytes_scanned_16mib_byte_at_a_time) {
    size_t n = (size_t)16 << 20;
    char *in = malloc(n + 16);
    tw_sse_parser *p = tw_sse_parser_new(NULL);
    rec r;
    size_t total;
    memset(&r, 0, sizeof r);
    memcpy(in, "data: ", 6);
    for (size_t i = 6; i < n; i++) in[i] = (char)('a' + i % 26);
    memcpy(in + n, "\n\n", 2);
    total = n + 2;
    for (size_t i = 0; i < total; i++)
        if (tw_sse_parser_feed(p, in + i, 1, on_event, &r, NULL) != TW_OK) break;
    CHECK_EQ_INT(r.n_events, 1);
    CHECK_EQ_INT(r.max_data, n - 6);
    CHECK_MSG(tw_sse_parser_bytes_scanned(p) <= 2 * (uint64_t)total + 64,
              "scanned %llu bytes for %zu", (unsigned long long)tw_sse_parser_bytes_scanned(p),
              total);
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
    free(in);
}
