/* test_sse.c - the SSE parser: one test per WHATWG rule, corpora fed whole / byte by byte /
 * split at every position, zero copy, limits, invalid UTF-8, callbacks, linearity. */
#include "tokenwire.h"
#include "tw_scan.h"
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
    /* Only dispatched blocks count: the block being read has not ended yet. */
    CHECK_EQ_INT(tw_sse_parser_last_event_id(p).len, 0);
    feed_piece(p, &r, "\n", 1);
    CHECK_EQ_STR(tw_sse_parser_last_event_id(p).ptr, tw_sse_parser_last_event_id(p).len, "abc");
    /* The end of the connection keeps it (a reconnect sends it). */
    CHECK_EQ_INT(tw_sse_parser_finish(p), TW_OK);
    CHECK_EQ_STR(tw_sse_parser_last_event_id(p).ptr, tw_sse_parser_last_event_id(p).len, "abc");
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

/* ---- corpora: tests/data/sse/{pass,fail}_*.sse with hand-written .expected ---------------- */

/* Drops '#' lines and reads "option" lines; returns the records as one string (malloc'd). */
static char *load_expected(const char *path, size_t *max) {
    size_t n;
    char *raw = tw_test_read_file(path, &n);
    char *out = malloc(n + 1), *o = out;
    const char *p = raw;
    *max = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= 7 && memcmp(p, "option ", 7) == 0) {
            if (sscanf(p, "option max_event_size=%zu", max) != 1)
                CHECK_MSG(0, "%s: bad option line", path);
        } else if (len && p[0] != '#') {
            memcpy(o, p, len);
            o += len;
            *o++ = '\n';
        }
        p += len + (nl ? 1 : 0);
    }
    *o = '\0';
    free(raw);
    return out;
}

TW_TEST(sse_corpora_match_expected_under_all_splits) {
    char dir[1024];
    DIR *d;
    struct dirent *e;
    int files = 0, n_pass = 0, n_fail = 0;
    snprintf(dir, sizeof dir, "%s/sse", TW_TEST_DATA);
    d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name), n, max;
        char path[2048], *in, *want, *got;
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".sse") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        in = tw_test_read_file(path, &n);
        snprintf(path, sizeof path, "%s/%.*s.expected", dir, (int)(nl - 4), e->d_name);
        want = load_expected(path, &max);
        got = parse_cuts(in, n, NULL, 0, max, 1);
        if (strcmp(got, want) != 0)
            CHECK_MSG(0, "%s whole:\n%s\nexpected:\n%s", e->d_name, got, want);
        if (strncmp(e->d_name, "pass_", 5) == 0) {
            n_pass++;
            CHECK_MSG(strstr(got, "error=") == NULL, "%s reports an error", e->d_name);
        } else {
            n_fail++;
            CHECK_MSG(strstr(got, "error=") != NULL, "%s reports no error", e->d_name);
        }
        if (check_all_splits(in, n, max, want)) CHECK_MSG(0, "in %s", e->d_name);
        free(got);
        free(want);
        free(in);
        files++;
    }
    closedir(d);
    CHECK(n_pass >= 10);
    CHECK(n_fail >= 2);
    CHECK_EQ_INT(files, n_pass + n_fail);
}

/* ---- callbacks ----------------------------------------------------------------------------- */

TW_TEST(sse_callback_stop_keeps_rest_for_next_feed) {
    static const char in[] = "data: 1\n\ndata: 2\n\ndata: 3\r";
    rec r;
    tw_sse_parser *p;
    tw_error err;
    memset(&r, 0, sizeof r);
    r.stop_after = 1;
    p = new_parser(&r, 0);
    CHECK_EQ_INT(tw_sse_parser_feed(p, in, sizeof in - 1, on_event, &r, &err), TW_ERR_CANCELLED);
    CHECK_EQ_INT(err.code, TW_ERR_CANCELLED);
    CHECK_EQ_INT(err.pos, 9); /* stopped right after the blank line of event 1 */
    CHECK_EQ_INT(r.n_events, 1);
    /* The next feed reads the kept "data: 2\n\ndata: 3\r" first, then its own bytes; the CR
     * kept at the end still pairs with the LF that starts the new input. */
    CHECK_EQ_INT(tw_sse_parser_feed(p, "\n\n", 2, on_event, &r, &err), TW_OK);
    CHECK_EQ_INT(r.n_events, 3);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data),
                 "event=message id= retry=-1 data=1\nevent=message id= retry=-1 data=2\n"
                 "event=message id= retry=-1 data=3\n");
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

TW_TEST(sse_callback_stop_every_event_then_drain) {
    /* Stopping on every event and resuming with empty feeds yields the same events. */
    static const char in[] = "id: 1\ndata: a\n\nevent: e\ndata: b\ndata: c\n\n: x\ndata: d\n\n";
    char *want = parse_whole(in, sizeof in - 1);
    rec r;
    tw_sse_parser *p;
    tw_code rc;
    int stops = 0;
    memset(&r, 0, sizeof r);
    p = new_parser(&r, 0);
    r.stop_after = 1;
    rc = tw_sse_parser_feed(p, in, sizeof in - 1, on_event, &r, NULL);
    while (rc == TW_ERR_CANCELLED) {
        stops++;
        r.stop_after = r.n_events + 1;
        rc = tw_sse_parser_feed(p, NULL, 0, on_event, &r, NULL);
    }
    CHECK_EQ_INT(rc, TW_OK);
    CHECK_EQ_INT(stops, 3);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), want);
    free(want);
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

TW_TEST(sse_finish_discards_kept_input) {
    rec r;
    tw_sse_parser *p;
    memset(&r, 0, sizeof r);
    r.stop_after = 1;
    p = new_parser(&r, 0);
    CHECK_EQ_INT(tw_sse_parser_feed(p, "data: 1\n\ndata: 2\n\n", 18, on_event, &r, NULL),
                 TW_ERR_CANCELLED);
    CHECK_EQ_INT(tw_sse_parser_finish(p), TW_OK);
    r.stop_after = 0;
    CHECK_EQ_INT(tw_sse_parser_feed(p, "data: 3\n\n", 9, on_event, &r, NULL), TW_OK);
    CHECK_EQ_INT(r.n_events, 2);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data),
                 "event=message id= retry=-1 data=1\nevent=message id= retry=-1 data=3\n");
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

static int reenter_cb(void *ud, const tw_sse_event *ev) {
    tw_sse_parser *p = ud;
    (void)ev;
    CHECK_EQ_INT(tw_sse_parser_feed(p, "x", 1, reenter_cb, p, NULL), TW_ERR_BUSY);
    return 0;
}

TW_TEST(sse_bad_arguments_and_reentry) {
    tw_sse_parser *p = tw_sse_parser_new(NULL);
    tw_error err;
    CHECK_EQ_INT(tw_sse_parser_feed(NULL, "x", 1, on_event, NULL, &err), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_sse_parser_feed(p, NULL, 1, on_event, NULL, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_sse_parser_feed(p, "x", 1, NULL, NULL, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_sse_parser_feed(p, NULL, 0, reenter_cb, p, NULL), TW_OK);
    CHECK_EQ_INT(tw_sse_parser_feed(p, "data: a\n\n", 9, reenter_cb, p, NULL), TW_OK);
    tw_sse_parser_free(p);
    tw_sse_parser_free(NULL);
}

TW_TEST(sse_reset_restarts_bom_and_state) {
    rec r;
    tw_sse_parser *p;
    memset(&r, 0, sizeof r);
    p = new_parser(&r, 0);
    feed_piece(p, &r, "\xEF\xBB\xBFid: 1\ndata: part", 19);
    tw_sse_parser_reset(p);
    feed_piece(p, &r, "\xEF\xBB\xBF" "data: new\n\n", 14);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), "event=message id= retry=-1 data=new\n");
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}

TW_TEST(sse_default_limit_is_64mib) {
    tw_sse_opts o;
    tw_sse_opts_init(&o);
    CHECK_EQ_INT(o.max_event_size, (size_t)64 << 20);
    CHECK(o.on_comment == NULL);
}

/* ---- invalid UTF-8 split across feeds ------------------------------------------------------ */

TW_TEST(sse_invalid_utf8_split_across_feeds) {
    static const char in[] = "data: \xE2\x82\xAC \xF0\x9F\x98\x80 \xF0\x9F\x98 \xE0\x80 \xC3\n"
                             "data: \xED\xBF\xBF \xF4\x8F\xBF\xBF \xC1\x81 \x80\xBF\n\n";
    char *want = parse_whole(in, sizeof in - 1);
    CHECK_EQ_STR(want, strlen(want),
                 "event=message id= retry=-1 data=\xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD "
                 "\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\\n\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
                 "\xF4\x8F\xBF\xBF \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\n");
    check_all_splits(in, sizeof in - 1, 0, want);
    free(want);
}

/* ---- internals: line-end scanners and the UTF-8 decoder (csrc/tw_scan.c) ------------------- */

static uint32_t rng_state = 987654321u;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

TW_TEST(scan_variants_agree_with_scalar) {
    tw__eol_fn fns[4];
    const char *names[4];
    int nf = 0;
    fns[nf] = tw__eol_memchr, names[nf++] = "memchr";
#ifdef TW__HAVE_X86_SIMD
    fns[nf] = tw__eol_sse2, names[nf++] = "sse2";
    if (tw__cpu_has_avx2()) fns[nf] = tw__eol_avx2, names[nf++] = "avx2";
#endif
    fns[nf] = tw__eol_default(), names[nf++] = tw__eol_default_name();
    for (int t = 0; t < 4000; t++) {
        size_t n = rnd() % (t < 2000 ? 200 : 5000);
        /* Exact-size heap block at a random alignment: ASan flags any over-read. */
        char *buf = malloc(n + 1);
        size_t start = n ? rnd() % (n + 1) : 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t x = rnd() % 1000;
            buf[i] = x < 2 ? '\n' : x < 4 ? '\r' : (char)(32 + x % 95);
            if (t % 7 == 0 && x < 500) buf[i] = (char)(0x80 | x); /* high bytes */
        }
        const char *want = tw__eol_scalar(buf + start, buf + n);
        for (int f = 0; f < nf; f++) {
            const char *got = fns[f](buf + start, buf + n);
            if (got != want) {
                CHECK_MSG(0, "%s: found %td, scalar %td (n=%zu start=%zu)", names[f],
                          got - buf, want - buf, n, start);
                t = 1 << 30;
                break;
            }
        }
        free(buf);
    }
}

TW_TEST(scan_cr_only_stream_stays_linear_with_memchr) {
    /* The memchr variant must not search for '\n' to the end of the input for every line. */
    size_t n = 1 << 20, lines = 0;
    char *buf = malloc(n);
    const char *p = buf, *end = buf + n;
    for (size_t i = 0; i < n; i++) buf[i] = (i % 10 == 9) ? '\r' : 'x';
    while (p < end) {
        p = tw__eol_memchr(p, end);
        if (p < end) p++, lines++;
    }
    CHECK_EQ_INT(lines, n / 10);
    free(buf);
}

/* The WHATWG Encoding standard's UTF-8 decoder, written as literally as the spec reads, as the
 * reference for tw__utf8_append. Output: the UTF-8 encoding of the decoded code points. */
static size_t ref_decode(const unsigned char *in, size_t n, unsigned char *out) {
    unsigned cp = 0, needed = 0, seen = 0, lower = 0x80, upper = 0xBF;
    size_t o = 0, i = 0;
#define EMIT_FFFD() (out[o++] = 0xEF, out[o++] = 0xBF, out[o++] = 0xBD)
    while (i <= n) {
        if (i == n) {
            if (needed) EMIT_FFFD();
            break;
        }
        unsigned b = in[i];
        if (needed == 0) {
            i++;
            if (b <= 0x7F) out[o++] = (unsigned char)b;
            else if (b >= 0xC2 && b <= 0xDF) needed = 1, cp = b & 0x1F;
            else if (b >= 0xE0 && b <= 0xEF) {
                if (b == 0xE0) lower = 0xA0;
                if (b == 0xED) upper = 0x9F;
                needed = 2, cp = b & 0xF;
            } else if (b >= 0xF0 && b <= 0xF4) {
                if (b == 0xF0) lower = 0x90;
                if (b == 0xF4) upper = 0x8F;
                needed = 3, cp = b & 0x7;
            } else EMIT_FFFD();
            continue;
        }
        if (b < lower || b > upper) {
            /* Reset and prepend the byte: it is read again. */
            cp = needed = seen = 0, lower = 0x80, upper = 0xBF;
            EMIT_FFFD();
            continue;
        }
        i++;
        lower = 0x80, upper = 0xBF;
        cp = (cp << 6) | (b & 0x3F);
        if (++seen != needed) continue;
        if (cp < 0x80) out[o++] = (unsigned char)cp;
        else if (cp < 0x800) out[o++] = (unsigned char)(0xC0 | cp >> 6),
                             out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
        else if (cp < 0x10000) out[o++] = (unsigned char)(0xE0 | cp >> 12),
                               out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)),
                               out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
        else out[o++] = (unsigned char)(0xF0 | cp >> 18),
             out[o++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F)),
             out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)),
             out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
        cp = needed = seen = 0;
    }
#undef EMIT_FFFD
    return o;
}

static int utf8_matches_reference(const unsigned char *in, size_t n) {
    unsigned char *ref = malloc(3 * n + 4);
    size_t rn = ref_decode(in, n, ref);
    tw_buf b;
    int ok;
    tw_buf_init(&b);
    CHECK_EQ_INT(tw__utf8_append(&b, (const char *)in, n), TW_OK);
    ok = b.len == rn && (rn == 0 || memcmp(b.data, ref, rn) == 0);
    /* Valid input is exactly input that decodes to itself. */
    ok = ok && (tw__utf8_valid((const char *)in, n) == (rn == n && memcmp(ref, in, n) == 0));
    tw_buf_free(&b);
    free(ref);
    return ok;
}

TW_TEST(utf8_repair_matches_whatwg_decoder_exhaustive_short) {
    unsigned char s[3];
    int bad = 0;
    /* Every 1- and 2-byte string, and every 3-byte string over an interesting byte set. */
    for (int a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        if (!utf8_matches_reference(s, 1)) bad++;
        for (int b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            if (!utf8_matches_reference(s, 2)) bad++;
        }
    }
    static const unsigned char set[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                        0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                        0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
    for (size_t a = 0; a < sizeof set; a++)
        for (size_t b = 0; b < sizeof set; b++)
            for (size_t c = 0; c < sizeof set; c++) {
                unsigned char t[4] = {set[a], set[b], set[c], 0x80};
                if (!utf8_matches_reference(t, 3)) bad++;
                if (!utf8_matches_reference(t, 4)) bad++;
            }
    CHECK_EQ_INT(bad, 0);
}

TW_TEST(utf8_repair_matches_whatwg_decoder_random) {
    static const unsigned char set[] = {0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC2,
                                        0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF4, 0xF5};
    unsigned char buf[300];
    int bad = 0;
    for (int t = 0; t < 20000 && bad < 5; t++) {
        size_t n = rnd() % sizeof buf;
        int ascii_run = t % 3 == 0; /* long ASCII runs exercise the SIMD fast path */
        for (size_t i = 0; i < n; i++)
            buf[i] = ascii_run && rnd() % 8 ? (unsigned char)('a' + rnd() % 26)
                                            : set[rnd() % sizeof set];
        if (!utf8_matches_reference(buf, n)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TW_TEST(utf8_unicode_maximal_subpart_example) {
    static const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    tw_buf b;
    tw_buf_init(&b);
    CHECK_EQ_INT(tw__utf8_append(&b, in, sizeof in - 1), TW_OK);
    CHECK_EQ_STR(b.data, b.len,
                 "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD"
                 "d");
    CHECK_EQ_INT(tw__utf8_valid_prefix(in, sizeof in - 1), 1);
    tw_buf_free(&b);
}

static int count_cb(void *ud, const tw_sse_event *ev) {
    (void)ev;
    return ++*(int *)ud > 0; /* stop on every event */
}

TW_TEST(sse_stop_on_every_event_of_a_large_feed) {
    /* 20,000 events in one feed, the callback stopping on each one and the caller resuming
     * with empty feeds: every event arrives once, in order, and the kept input is read from an
     * offset (not copied again per resume, which would be quadratic). */
    const int n_ev = 20000;
    tw_buf in;
    tw_sse_parser *p = tw_sse_parser_new(NULL);
    int got = 0, resumes = 0;
    tw_code rc;
    tw_buf_init(&in);
    for (int i = 0; i < n_ev; i++) {
        char line[64];
        int k = snprintf(line, sizeof line, "id: %d\ndata: {\"n\":%d}\n\n", i, i);
        tw_buf_append(&in, line, (size_t)k);
    }
    rc = tw_sse_parser_feed(p, in.data, in.len, count_cb, &got, NULL);
    while (rc == TW_ERR_CANCELLED) {
        resumes++;
        rc = tw_sse_parser_feed(p, NULL, 0, count_cb, &got, NULL);
    }
    CHECK_EQ_INT(rc, TW_OK);
    CHECK_EQ_INT(got, n_ev);
    CHECK_EQ_INT(resumes, n_ev);
    CHECK_EQ_STR(tw_sse_parser_last_event_id(p).ptr, tw_sse_parser_last_event_id(p).len, "19999");
    CHECK(tw_sse_parser_bytes_scanned(p) <= in.len);
    tw_sse_parser_free(p);
    tw_buf_free(&in);
}

/* ---- memory stays bounded by the limit ----------------------------------------------------- */

#ifdef __SANITIZE_ADDRESS__
/* From the ASan runtime (sanitizer/allocator_interface.h, not shipped with every compiler). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define HEAP_NOW() __sanitizer_get_current_allocated_bytes()
#else
#define HEAP_NOW() ((size_t)0)
#endif

TW_TEST(sse_oversized_event_memory_stays_bounded) {
    /* A 32 MiB event against a 1 MiB limit, arriving in 64 KiB reads: one error, the event is
     * dropped without being buffered, the next event arrives, and the heap never grows by more
     * than a few times the limit. */
    const size_t piece = 65536, big = (size_t)32 << 20;
    char *buf = malloc(piece);
    tw_sse_opts o;
    tw_sse_parser *p;
    rec r;
    size_t base, peak = 0, sent = 0;
    int errors = 0;
    memset(&r, 0, sizeof r);
    tw_sse_opts_init(&o);
    o.max_event_size = (size_t)1 << 20;
    p = tw_sse_parser_new(&o);
    base = HEAP_NOW();
    memset(buf, 'x', piece);
    memcpy(buf, "data: ", 6);
    while (sent < big) {
        tw_code rc = tw_sse_parser_feed(p, buf, piece, on_event, &r, NULL);
        while (rc == TW_ERR_SSE_PROTOCOL) {
            errors++;
            rc = tw_sse_parser_feed(p, NULL, 0, on_event, &r, NULL);
        }
        CHECK_EQ_INT(rc, TW_OK);
        if (HEAP_NOW() - base > peak) peak = HEAP_NOW() - base;
        sent += piece;
        memset(buf, 'x', 6);
    }
    feed_piece(p, &r, "\n\ndata: ok\n\n", 12);
    CHECK_EQ_INT(errors, 1);
    CHECK_EQ_INT(r.n_events, 1);
    CHECK_MSG(peak <= (size_t)4 << 20, "heap grew by %zu bytes for a 1 MiB limit", peak);
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
    free(buf);
}

/* WHATWG: the last event ID string is what the buffer held at the last dispatch (an id-only
 * block counts, an unterminated one does not), it survives the end of the connection, and a
 * parser can start from a known one (the Last-Event-ID a reconnect sent). */
TW_TEST(sse_last_event_id_survives_finish_and_can_be_given) {
    rec r;
    tw_sse_opts o;
    tw_sse_parser *p;
    tw_str id;
    const char *in1 = "id: 1\ndata: a\n\nid: 2\n\ndata: b\n\nid: 3\ndata: unterminated";
    memset(&r, 0, sizeof r);
    tw_sse_opts_init(&o);
    o.last_event_id = "41";
    o.last_event_id_len = 2;
    p = tw_sse_parser_new(&o);
    CHECK(p != NULL);
    id = tw_sse_parser_last_event_id(p);
    CHECK_EQ_STR(id.ptr, id.len, "41");
    feed_piece(p, &r, "data: first\n\n", 13);
    feed_piece(p, &r, in1, strlen(in1));
    /* Mid-block: the id of the block being read does not count yet. */
    id = tw_sse_parser_last_event_id(p);
    CHECK_EQ_STR(id.ptr, id.len, "2");
    CHECK_EQ_INT(tw_sse_parser_finish(p), TW_OK);
    id = tw_sse_parser_last_event_id(p);
    CHECK_EQ_STR(id.ptr, id.len, "2");
    /* The next connection on the same parser: events carry the id until one is set. */
    feed_piece(p, &r, "data: c\n\n", 9);
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data),
                 "event=message id=41 retry=-1 data=first\n"
                 "event=message id=1 retry=-1 data=a\n"
                 "event=message id=2 retry=-1 data=b\n"
                 "event=message id=2 retry=-1 data=c\n");
    /* reset() forgets it (a new event source). */
    tw_sse_parser_reset(p);
    id = tw_sse_parser_last_event_id(p);
    CHECK_EQ_INT((int)id.len, 0);
    tw_sse_parser_free(p);
    tw_buf_free(&r.out);
}
