/* test_encoder.c - JSON escaping, event JSON, and the five encoders (exact bytes). */
#include "encoders/encoder.h"
#include "tokenwire.h"
#include "tw_json.h"
#include "tw_test.h"

#include <stdint.h>
#include <stdlib.h>

#define S(lit) ((tw_str){(lit), sizeof(lit) - 1})

static tw_event ev_of(tw_event_type t) {
    tw_event ev;
    tw_event_init(&ev);
    ev.type = t;
    return ev;
}

static tw_event text_ev(tw_event_type t, int32_t index, tw_str text) {
    tw_event ev = ev_of(t);
    ev.index = index;
    ev.text = text;
    return ev;
}

static tw_event tool_ev(int32_t index, tw_str id, tw_str name, tw_str args) {
    tw_event ev = ev_of(TW_EV_TOOL_CALL);
    ev.index = index;
    ev.id = id;
    ev.name = name;
    ev.arguments = args;
    return ev;
}

static tw_event finish_ev(int32_t index, tw_str reason) {
    tw_event ev = ev_of(TW_EV_FINISH);
    ev.index = index;
    ev.reason = reason;
    return ev;
}

static tw_event usage_ev(int64_t in, int64_t out, int64_t total) {
    tw_event ev = ev_of(TW_EV_USAGE);
    ev.input_tokens = in;
    ev.output_tokens = out;
    ev.total_tokens = total;
    return ev;
}

/* Replaces the digits after every "created": with 0 (the encoder stamps the clock). */
static void zero_created(tw_buf *b) {
    static const char key[] = "\"created\":";
    size_t r = 0, w = 0;
    while (r < b->len) {
        if (b->len - r >= sizeof key - 1 && memcmp(b->data + r, key, sizeof key - 1) == 0) {
            memmove(b->data + w, key, sizeof key - 1);
            w += sizeof key - 1;
            r += sizeof key - 1;
            b->data[w++] = '0';
            while (r < b->len && b->data[r] >= '0' && b->data[r] <= '9') r++;
            continue;
        }
        b->data[w++] = b->data[r++];
    }
    b->len = w;
}

/* Encodes evs with a fresh encoder, then finishes; returns the bytes in *out. */
static void encode_all(tw_format f, const tw_encoder_opts *opts, const tw_event *evs, size_t n,
                       tw_buf *out) {
    tw_error err;
    tw_encoder *e = tw_encoder_new(f, opts, &err);
    tw_buf_init(out);
    CHECK(e != NULL);
    if (!e) return;
    for (size_t i = 0; i < n; i++) CHECK_EQ_INT(tw_encoder_encode(e, &evs[i], out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, out), TW_OK);
    tw_encoder_free(e);
    zero_created(out);
}

static void escape_eq(const char *in, size_t n, const char *expected) {
    tw_buf b;
    tw_buf_init(&b);
    CHECK_EQ_INT(tw_json_escape(&b, in, n), TW_OK);
    CHECK_EQ_STR(b.data, b.len, expected);
    tw_buf_free(&b);
}

/* ---- escaping ------------------------------------------------------------------------------ */

TW_TEST(escape_basics) {
    escape_eq("", 0, "\"\"");
    escape_eq(NULL, 0, "\"\"");
    escape_eq("Hel", 3, "\"Hel\"");
    escape_eq("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    escape_eq("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    escape_eq("\x00\x01\x1f\x7f", 4, "\"\\u0000\\u0001\\u001f\x7f\"");
    escape_eq("\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xaa", 11, "\"\\u2028|\\u2029|\xe2\x80\xaa\"");
    escape_eq("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    {
        tw_buf b;
        tw_buf_init(&b);
        CHECK_EQ_INT(tw_json_escape(&b, NULL, 3), TW_ERR_INVALID_ARG);
        CHECK_EQ_INT(tw_json_escape(NULL, "x", 1), TW_ERR_INVALID_ARG);
        tw_buf_free(&b);
    }
}

/* Appends the UTF-8 form of cp. */
static size_t put_utf8(char *p, uint32_t cp) {
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (char)(0xC0 | (cp >> 6));
        p[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (char)(0xE0 | (cp >> 12));
        p[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | (cp >> 18));
    p[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    p[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    p[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Every scalar value, at several alignments of the 16-byte scanner: escaped exactly. */
TW_TEST(escape_every_code_point) {
    size_t cap = 0x110000 * 6 + 64;
    char *in = malloc(cap), *want = malloc(cap + 8);
    size_t n = 0, w = 0;
    want[w++] = '"';
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        char u[4];
        size_t k;
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        k = put_utf8(u, cp);
        memcpy(in + n, u, k);
        n += k;
        if (cp == '"' || cp == '\\') {
            want[w++] = '\\';
            want[w++] = (char)cp;
        } else if (cp < 0x20) {
            const char *named = cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : cp == '\t' ? "\\t"
                              : cp == '\b' ? "\\b" : cp == '\f' ? "\\f" : NULL;
            if (named) {
                memcpy(want + w, named, 2);
                w += 2;
            } else {
                w += (size_t)sprintf(want + w, "\\u%04x", cp);
            }
        } else if (cp == 0x2028 || cp == 0x2029) {
            w += (size_t)sprintf(want + w, "\\u%04x", cp);
        } else {
            memcpy(want + w, u, k);
            w += k;
        }
    }
    want[w++] = '"';
    /* Varied sequence lengths already land specials at every position of a 16-byte block;
     * a few leading shifts also move block boundaries across the multi-byte sequences. */
    static const size_t shifts[] = {0, 1, 2, 3, 15, 16};
    for (size_t si = 0; si < sizeof shifts / sizeof shifts[0]; si++) {
        size_t shift = shifts[si];
        tw_buf b;
        char *shifted = malloc(n + shift);
        memset(shifted, 'x', shift);
        memcpy(shifted + shift, in, n);
        tw_buf_init(&b);
        CHECK_EQ_INT(tw_json_escape(&b, shifted, n + shift), TW_OK);
        CHECK_EQ_INT(b.len, w + shift);
        CHECK(b.len == w + shift && memcmp(b.data + 1, shifted, shift) == 0 &&
              memcmp(b.data + 1 + shift, want + 1, w - 1) == 0);
        tw_buf_free(&b);
        free(shifted);
    }
    free(in);
    free(want);
}

TW_TEST(escape_invalid_utf8_becomes_replacement) {
#define FFFD "\xef\xbf\xbd"
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"\x80", 1, "\"" FFFD "\""},
        {"\xbf", 1, "\"" FFFD "\""},
        {"\xff", 1, "\"" FFFD "\""},
        {"\xc0\x80", 2, "\"" FFFD FFFD "\""},             /* overlong NUL */
        {"\xc1\xbf", 2, "\"" FFFD FFFD "\""},             /* overlong */
        {"\xe0\x80\x80", 3, "\"" FFFD FFFD FFFD "\""},    /* overlong 3-byte */
        {"\xed\xa0\x80", 3, "\"" FFFD FFFD FFFD "\""},    /* UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 4, "\"" FFFD FFFD FFFD FFFD "\""}, /* > U+10FFFF */
        {"\xf5\x80", 2, "\"" FFFD FFFD "\""},
        {"\xe2\x82", 2, "\"" FFFD "\""},                  /* truncated at the end */
        {"\xe2\x82x", 3, "\"" FFFD "x\""},                /* maximal subpart: one U+FFFD */
        {"\xf0\x9f\x98", 3, "\"" FFFD "\""},
        {"\xf0\x9f\x98\"", 4, "\"" FFFD "\\\"\""},
        {"a\xc3", 2, "\"a" FFFD "\""},
        {"\xc3\xa9\xa9", 3, "\"\xc3\xa9" FFFD "\""},
        {"\xe2\x80\xa8\xe2\x80", 5, "\"\\u2028" FFFD "\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Alone, and at each position of a 16-byte block (the SIMD path). */
        for (size_t pad = 0; pad < 20; pad++) {
            char in[64], want[128];
            tw_buf b;
            memset(in, 'p', pad);
            memcpy(in + pad, cases[i].in, cases[i].n);
            memset(in + pad + cases[i].n, 'q', 20);
            want[0] = '"';
            memset(want + 1, 'p', pad);
            strcpy(want + 1 + pad, cases[i].out + 1);
            want[strlen(want) - 1] = '\0';
            strcat(want, "qqqqqqqqqqqqqqqqqqqq\"");
            tw_buf_init(&b);
            CHECK_EQ_INT(tw_json_escape(&b, in, pad + cases[i].n + 20), TW_OK);
            CHECK_MSG(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
                      "case %zu pad %zu: got %.*s", i, pad, (int)b.len, b.data);
            tw_buf_free(&b);
        }
    }
#undef FFFD
}

/* A reference decoder written differently from the encoder's: a code-point state machine.
 * Returns the sanitized UTF-8 (invalid -> U+FFFD, maximal subparts) in out. */
static size_t ref_sanitize(const uint8_t *s, size_t n, char *out) {
    size_t i = 0, w = 0;
    while (i < n) {
        uint32_t cp;
        size_t len, k;
        uint8_t c = s[i];
        if (c < 0x80) {
            out[w++] = (char)c;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            memcpy(out + w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
            continue;
        }
        for (k = 1; k < len; k++) {
            uint32_t next;
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80) break;
            next = (cp << 6) | (s[i + k] & 0x3F);
            /* Reject as soon as the prefix can only lead to an overlong/surrogate/too big. */
            if (k == 1 && ((len == 3 && next < 0x20) ||
                           (len == 3 && next >= 0x360 && next < 0x380) ||
                           (len == 4 && (next < 0x10 || next > 0x10F))))
                break;
            cp = next;
        }
        if (k < len) {
            memcpy(out + w, "\xef\xbf\xbd", 3);
            w += 3;
            i += k;
            continue;
        }
        memcpy(out + w, s + i, len);
        w += len;
        i += len;
    }
    return w;
}

/* Inverse of tw_json_escape for checking: returns 0 on malformed escapes. */
static int unescape_json(const char *s, size_t n, char *out, size_t *outlen) {
    size_t i = 1, w = 0;
    if (n < 2 || s[0] != '"' || s[n - 1] != '"') return 0;
    while (i < n - 1) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"') return 0;
        if (c != '\\') {
            out[w++] = (char)c;
            i++;
            continue;
        }
        switch (s[i + 1]) {
        case '"': out[w++] = '"'; break;
        case '\\': out[w++] = '\\'; break;
        case 'n': out[w++] = '\n'; break;
        case 'r': out[w++] = '\r'; break;
        case 't': out[w++] = '\t'; break;
        case 'b': out[w++] = '\b'; break;
        case 'f': out[w++] = '\f'; break;
        case 'u': {
            unsigned v;
            char hex[5] = {0};
            memcpy(hex, s + i + 2, 4);
            v = (unsigned)strtoul(hex, NULL, 16);
            if (v < 0x20) {
                out[w++] = (char)v;
            } else if (v == 0x2028 || v == 0x2029) {
                w += put_utf8(out + w, v);
            } else {
                return 0; /* the encoder never writes other \u escapes */
            }
            i += 4;
            break;
        }
        default: return 0;
        }
        i += 2;
    }
    *outlen = w;
    return 1;
}

TW_TEST(escape_random_bytes_round_trip) {
    uint64_t x = 0x1234567;
    char in[300], want[1000], got[2000];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n, wn, gn = 0;
        tw_buf b;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        n = (size_t)(x >> 33) % sizeof in;
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            /* Mostly ASCII with bursts of high bytes and controls. */
            uint8_t r = (uint8_t)(x >> 40);
            in[i] = (char)((x >> 56) % 4 == 0  ? r
                           : r % 3 == 0        ? (0x80 | (r & 0x7F))
                                               : 'a' + r % 26);
        }
        wn = ref_sanitize((const uint8_t *)in, n, want);
        tw_buf_init(&b);
        CHECK_EQ_INT(tw_json_escape(&b, in, n), TW_OK);
        CHECK(unescape_json(b.data, b.len, got, &gn));
        CHECK_MSG(gn == wn && memcmp(got, want, wn) == 0, "iteration %d differs", iter);
        CHECK(tw__utf8_valid(b.data, b.len));
        tw_buf_free(&b);
        /* The raw repair agrees too. */
        tw_buf_init(&b);
        CHECK_EQ_INT(tw__utf8_append(&b, in, n), TW_OK);
        CHECK(b.len == wn && (wn == 0 || memcmp(b.data, want, wn) == 0));
        tw_buf_free(&b);
    }
}

TW_TEST(escape_long_string_crosses_blocks) {
    size_t n = 100000;
    char *in = malloc(n);
    tw_buf b;
    for (size_t i = 0; i < n; i++) in[i] = (i % 997 == 0) ? '\n' : (i % 1009 == 0 ? '\xe9' : 'a');
    tw_buf_init(&b);
    CHECK_EQ_INT(tw_json_escape(&b, in, n), TW_OK);
    {
        char *got = malloc(b.len);
        size_t gn = 0;
        char *want = malloc(n * 3);
        size_t wn = ref_sanitize((const uint8_t *)in, n, want);
        CHECK(unescape_json(b.data, b.len, got, &gn));
        CHECK(gn == wn && memcmp(got, want, wn) == 0);
        free(got);
        free(want);
    }
    tw_buf_free(&b);
    free(in);
}

/* ---- JSON compaction (tool arguments for ai-sdk) --------------------------------------------- */

static void compact_eq(const char *in, const char *want) {
    tw_buf b;
    const char *why = NULL;
    tw_buf_init(&b);
    CHECK_EQ_INT(tw__json_compact(&b, in, strlen(in), &why), TW_OK);
    CHECK_EQ_STR(b.data, b.len, want);
    tw_buf_free(&b);
}

static void compact_bad(const char *in, size_t n) {
    tw_buf b;
    const char *why = NULL;
    tw_buf_init(&b);
    CHECK_EQ_INT(tw_buf_append(&b, "keep", 4), TW_OK);
    CHECK_MSG(tw__json_compact(&b, in, n, &why) == TW_ERR_JSON, "accepted %.*s", (int)n, in);
    CHECK(why != NULL);
    CHECK_EQ_STR(b.data, b.len, "keep");
    tw_buf_free(&b);
}

TW_TEST(json_compact_valid_and_invalid) {
    compact_eq("{\"city\": \"Paris\",\n \"n\" : [1, -2.5e+3, true, false, null, {}]}",
               "{\"city\":\"Paris\",\"n\":[1,-2.5e+3,true,false,null,{}]}");
    compact_eq("  \"a\\u00e9\\n\"  ", "\"a\\u00e9\\n\"");
    compact_eq("0", "0");
    compact_eq("[[]]", "[[]]");
    compact_eq("{\"s\":\"\xe2\x80\xa8\xff\"}", "{\"s\":\"\\u2028\xef\xbf\xbd\"}");
    compact_bad("", 0);
    compact_bad("   ", 3);
    compact_bad("{\"city\": \"Pa", 12);
    compact_bad("{\"a\":1,}", 8);
    compact_bad("[1 2]", 5);
    compact_bad("{a:1}", 5);
    compact_bad("01", 2);
    compact_bad("1.", 2);
    compact_bad("-", 1);
    compact_bad("1e", 2);
    compact_bad("\"\\x\"", 4);
    compact_bad("\"\\u12g4\"", 8);
    compact_bad("\"a\nb\"", 5);
    compact_bad("tru", 3);
    compact_bad("{} {}", 5);
    compact_bad("{\"a\" 1}", 7);
    {
        char deep[2000];
        memset(deep, '[', 1000);
        memset(deep + 1000, ']', 1000);
        compact_bad(deep, sizeof deep);
        memset(deep, '[', 100);
        memset(deep + 100, ']', 100);
        deep[200] = '\0';
        compact_eq(deep, deep);
    }
}

/* ---- event JSON ------------------------------------------------------------------------------ */

static void json_eq(const tw_event *ev, const char *want) {
    tw_buf b;
    tw_buf_init(&b);
    CHECK_EQ_INT(tw_event_to_json(ev, &b), TW_OK);
    CHECK_EQ_STR(b.data, b.len, want);
    tw_buf_free(&b);
}

TW_TEST(event_to_json_every_type) {
    tw_event ev = ev_of(TW_EV_START);
    ev.id = S("msg_1");
    ev.name = S("claude");
    json_eq(&ev, "{\"type\":\"start\",\"id\":\"msg_1\",\"model\":\"claude\"}");
    ev = text_ev(TW_EV_TEXT, 0, S("Hel"));
    json_eq(&ev, "{\"type\":\"text\",\"index\":0,\"text\":\"Hel\"}");
    ev = text_ev(TW_EV_TEXT, 2, (tw_str){NULL, 0});
    json_eq(&ev, "{\"type\":\"text\",\"index\":2,\"text\":\"\"}");
    ev = text_ev(TW_EV_REASONING, 1, S("hm\n"));
    ev.source = S("planner");
    json_eq(&ev, "{\"type\":\"reasoning\",\"source\":\"planner\",\"index\":1,\"text\":\"hm\\n\"}");
    ev = tool_ev(1, S("toolu_1"), S("get_weather"), S("{\"city\": \"Pa"));
    json_eq(&ev, "{\"type\":\"tool_call\",\"index\":1,\"id\":\"toolu_1\",\"name\":\"get_weather\","
                 "\"arguments\":\"{\\\"city\\\": \\\"Pa\"}");
    ev = tool_ev(1, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("ris\"}"));
    json_eq(&ev, "{\"type\":\"tool_call\",\"index\":1,\"arguments\":\"ris\\\"}\"}");
    ev = usage_ev(82, 17, 99);
    json_eq(&ev, "{\"type\":\"usage\",\"input_tokens\":82,\"output_tokens\":17,\"total_tokens\":99}");
    ev = usage_ev(-1, 89, -1);
    json_eq(&ev, "{\"type\":\"usage\",\"output_tokens\":89}");
    ev = finish_ev(0, S("tool_use"));
    json_eq(&ev, "{\"type\":\"finish\",\"index\":0,\"reason\":\"tool_use\"}");
    ev = ev_of(TW_EV_ERROR);
    ev.error_kind = TW_KIND_PROVIDER;
    ev.status = 529;
    ev.text = S("Overloaded");
    ev.name = S("overloaded_error");
    ev.raw = S("{\"type\":\"error\"}");
    json_eq(&ev, "{\"type\":\"error\",\"kind\":\"provider\",\"status\":529,\"message\":\"Overloaded\","
                 "\"name\":\"overloaded_error\",\"raw\":\"{\\\"type\\\":\\\"error\\\"}\"}");
    ev = ev_of(TW_EV_ERROR);
    ev.error_kind = TW_KIND_TIMEOUT;
    json_eq(&ev, "{\"type\":\"error\",\"kind\":\"timeout\"}");
    ev = ev_of(TW_EV_RAW);
    ev.name = S("message");
    ev.text = S("x\ny");
    ev.id = S("");
    ev.retry = 3000;
    json_eq(&ev, "{\"type\":\"raw\",\"event\":\"message\",\"data\":\"x\\ny\",\"id\":\"\",\"retry\":3000}");
    ev = ev_of(TW_EV_END);
    json_eq(&ev, "{\"type\":\"end\"}");
    ev = ev_of(TW_EV_AGENT_START);
    ev.source = S("a\xff");
    json_eq(&ev, "{\"type\":\"agent_start\",\"source\":\"a\xef\xbf\xbd\"}");
    ev = ev_of(TW_EV_AGENT_COMPLETE);
    json_eq(&ev, "{\"type\":\"agent_complete\"}");
    ev = text_ev(TW_EV_PROGRESS, 0, S("searching"));
    json_eq(&ev, "{\"type\":\"progress\",\"text\":\"searching\"}");
    {
        tw_buf b;
        tw_buf_init(&b);
        ev = ev_of((tw_event_type)0);
        CHECK_EQ_INT(tw_event_to_json(&ev, &b), TW_ERR_INVALID_ARG);
        ev = ev_of(TW_EV__LAST);
        CHECK_EQ_INT(tw_event_to_json(&ev, &b), TW_ERR_INVALID_ARG);
        CHECK_EQ_INT(b.len, 0);
        tw_buf_free(&b);
    }
}

/* ---- names ----------------------------------------------------------------------------------- */

TW_TEST(format_names_and_headers) {
    CHECK_EQ_INT(tw_format_from_name("openai", 6), TW_FORMAT_OPENAI);
    CHECK_EQ_INT(tw_format_from_name("sse-openai", 10), TW_FORMAT_OPENAI);
    CHECK_EQ_INT(tw_format_from_name("events", 6), TW_FORMAT_EVENTS);
    CHECK_EQ_INT(tw_format_from_name("ai-sdk", 6), TW_FORMAT_AI_SDK);
    CHECK_EQ_INT(tw_format_from_name("ndjson", 6), TW_FORMAT_NDJSON);
    CHECK_EQ_INT(tw_format_from_name("text", 4), TW_FORMAT_TEXT);
    CHECK_EQ_INT(tw_format_from_name("textx", 4), TW_FORMAT_TEXT); /* len bounds the name */
    CHECK_EQ_INT(tw_format_from_name("OpenAI", 6), 0);
    CHECK_EQ_INT(tw_format_from_name("open", 4), 0);
    CHECK_EQ_INT(tw_format_from_name(NULL, 0), 0);
    for (int f = TW_FORMAT_OPENAI; f < TW_FORMAT__LAST; f++) {
        const char *name = tw_format_name((tw_format)f);
        CHECK(name != NULL);
        CHECK_EQ_INT(tw_format_from_name(name, strlen(name)), f);
        CHECK(tw_format_content_type((tw_format)f) != NULL);
    }
    CHECK(tw_format_name((tw_format)0) == NULL);
    CHECK(strcmp(tw_format_content_type(TW_FORMAT_AI_SDK), "text/event-stream") == 0);
    CHECK(strcmp(tw_format_content_type(TW_FORMAT_NDJSON), "application/x-ndjson") == 0);
    CHECK(strcmp(tw_format_content_type(TW_FORMAT_TEXT), "text/plain; charset=utf-8") == 0);
    {
        const char *const *h = tw_format_headers(TW_FORMAT_AI_SDK);
        int found = 0;
        for (; *h; h += 2)
            if (!strcmp(h[0], "x-vercel-ai-ui-message-stream") && !strcmp(h[1], "v1")) found = 1;
        CHECK(found);
        for (int f = TW_FORMAT_OPENAI; f <= TW_FORMAT_TEXT; f++) {
            int ct = 0, cache = 0;
            for (h = tw_format_headers((tw_format)f); *h; h += 2) {
                ct += !strcmp(h[0], "content-type") &&
                      !strcmp(h[1], tw_format_content_type((tw_format)f));
                cache += !strcmp(h[0], "cache-control") && strstr(h[1], "no-cache") != NULL;
            }
            CHECK(ct == 1 && cache == 1);
        }
        CHECK(tw_format_headers((tw_format)99)[0] == NULL);
    }
}

TW_TEST(encoder_lifecycle_errors) {
    tw_error err;
    tw_buf b;
    tw_event ev = text_ev(TW_EV_TEXT, 0, S("x"));
    tw_encoder *e = tw_encoder_new((tw_format)0, NULL, &err);
    CHECK(e == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK(strlen(err.msg) > 0);
    tw_buf_init(&b);
    for (int f = TW_FORMAT_OPENAI; f < TW_FORMAT__LAST; f++) {
        tw_event bad = ev_of((tw_event_type)42);
        size_t before;
        e = tw_encoder_new((tw_format)f, NULL, NULL);
        CHECK(e != NULL);
        CHECK_EQ_INT(tw_encoder_encode(e, &bad, &b), TW_ERR_INVALID_ARG);
        CHECK_EQ_INT(tw_encoder_encode(NULL, &ev, &b), TW_ERR_INVALID_ARG);
        CHECK_EQ_INT(tw_encoder_encode(e, &ev, &b), TW_OK);
        CHECK_EQ_INT(tw_encoder_finish(e, &b), TW_OK);
        before = b.len;
        CHECK_EQ_INT(tw_encoder_finish(e, &b), TW_OK); /* once only */
        CHECK_EQ_INT(b.len, before);
        CHECK_EQ_INT(tw_encoder_encode(e, &ev, &b), TW_ERR_CLOSED);
        CHECK_EQ_INT(tw_encoder_heartbeat(e, &b), TW_OK);
        if (f == TW_FORMAT_NDJSON || f == TW_FORMAT_TEXT) {
            CHECK_EQ_INT(b.len, before);
        } else {
            CHECK_EQ_STR(b.data + before, b.len - before, ": keepalive\n\n");
        }
        tw_encoder_free(e);
        b.len = 0;
    }
    tw_encoder_free(NULL);
    tw_buf_free(&b);
}

/* ---- openai ---------------------------------------------------------------------------------- */

#define OA_PREFIX "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":0," \
                  "\"model\":\"claude-x\",\"choices\":["
#define OA_TAIL(fr) "},\"logprobs\":null,\"finish_reason\":" fr "}]}\n\n"

TW_TEST(openai_anthropic_like_stream) {
    tw_encoder_opts o;
    tw_buf out;
    tw_event evs[12];
    size_t n = 0;
    tw_encoder_opts_init(&o);
    o.id = "chatcmpl-1";
    o.model = "default-model";
    evs[n] = ev_of(TW_EV_START);
    evs[n].id = S("msg_01");
    evs[n++].name = S("claude-x");
    evs[n++] = usage_ev(25, 1, -1);
    evs[n++] = text_ev(TW_EV_REASONING, 0, S("think"));
    evs[n++] = text_ev(TW_EV_TEXT, 1, S("Let me \"check\"\n"));
    evs[n++] = text_ev(TW_EV_TEXT, 1, S(""));
    evs[n++] = tool_ev(2, S("toolu_A"), S("get_weather"), S(""));
    evs[n++] = tool_ev(2, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("{\"city\": \"Pa"));
    evs[n++] = tool_ev(2, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S(""));
    evs[n++] = tool_ev(3, (tw_str){NULL, 0}, S("now"), S("{}"));
    evs[n++] = usage_ev(-1, 89, -1);
    evs[n++] = finish_ev(0, S("tool_use"));
    evs[n++] = ev_of(TW_EV_END);
    encode_all(TW_FORMAT_OPENAI, &o, evs, n, &out);
    CHECK_EQ_STR(out.data, out.len,
                 OA_PREFIX "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":"
                           "\"think\"" OA_TAIL("null")
                 OA_PREFIX "{\"index\":0,\"delta\":{\"content\":\"Let me \\\"check\\\"\\n\""
                           OA_TAIL("null")
                 OA_PREFIX "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_A\","
                           "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                           "\"arguments\":\"\"}}]" OA_TAIL("null")
                 OA_PREFIX "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
                           "{\"arguments\":\"{\\\"city\\\": \\\"Pa\"}}]" OA_TAIL("null")
                 OA_PREFIX "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_1\","
                           "\"type\":\"function\",\"function\":{\"name\":\"now\","
                           "\"arguments\":\"{}\"}}]" OA_TAIL("null")
                 OA_PREFIX "{\"index\":0,\"delta\":{" OA_TAIL("\"tool_calls\"")
                 OA_PREFIX "],\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":89,"
                           "\"total_tokens\":114}}\n\n"
                 "data: [DONE]\n\n");
    tw_buf_free(&out);
}

TW_TEST(openai_first_empty_content_carries_role_and_choices) {
    tw_encoder_opts o;
    tw_buf out;
    tw_event evs[8];
    size_t n = 0;
    tw_encoder_opts_init(&o);
    o.id = "c";
    o.index_is_choice = 1;
    evs[n++] = text_ev(TW_EV_TEXT, 0, S(""));
    evs[n++] = text_ev(TW_EV_TEXT, 1, S("b"));
    evs[n++] = text_ev(TW_EV_TEXT, 0, S("a"));
    evs[n++] = finish_ev(1, S("MAX_TOKENS"));
    evs[n++] = finish_ev(0, S("STOP"));
#define P "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"tokenwire\",\"choices\":["
    encode_all(TW_FORMAT_OPENAI, &o, evs, n, &out);
    CHECK_EQ_STR(out.data, out.len,
                 P "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"" OA_TAIL("null")
                 P "{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"b\"" OA_TAIL("null")
                 P "{\"index\":0,\"delta\":{\"content\":\"a\"" OA_TAIL("null")
                 P "{\"index\":1,\"delta\":{" OA_TAIL("\"length\"")
                 P "{\"index\":0,\"delta\":{" OA_TAIL("\"stop\"")
                 "data: [DONE]\n\n");
#undef P
    tw_buf_free(&out);
}

TW_TEST(openai_finish_reason_mapping) {
    static const struct {
        const char *in, *openai, *ai_sdk;
    } m[] = {
        {"stop", "stop", "stop"},
        {"end_turn", "stop", "stop"},
        {"stop_sequence", "stop", "stop"},
        {"STOP", "stop", "stop"},
        {"length", "length", "length"},
        {"max_tokens", "length", "length"},
        {"MAX_TOKENS", "length", "length"},
        {"max_output_tokens", "length", "length"},
        {"tool_calls", "tool_calls", "tool-calls"},
        {"tool_use", "tool_calls", "tool-calls"},
        {"function_call", "function_call", "tool-calls"},
        {"content_filter", "content_filter", "content-filter"},
        {"SAFETY", "content_filter", "content-filter"},
        {"RECITATION", "content_filter", "content-filter"},
        {"PROHIBITED_CONTENT", "content_filter", "content-filter"},
        {"refusal", "content_filter", "content-filter"},
        {"MALFORMED_FUNCTION_CALL", "stop", "error"},
        {"pause_turn", "stop", "other"},
        {"OTHER", "stop", "other"},
        {"", "stop", "other"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        tw_str r = {m[i].in, strlen(m[i].in)};
        CHECK_MSG(!strcmp(tw__finish_reason_openai(r), m[i].openai), "openai %s", m[i].in);
        CHECK_MSG(!strcmp(tw__finish_reason_ai_sdk(r), m[i].ai_sdk), "ai-sdk %s", m[i].in);
    }
}

TW_TEST(openai_error_and_generated_id) {
    tw_buf out;
    tw_event evs[3];
    evs[0] = ev_of(TW_EV_ERROR);
    evs[0].error_kind = TW_KIND_PROVIDER;
    evs[0].text = S("Overloaded");
    evs[0].name = S("overloaded_error");
    evs[0].status = 529;
    evs[1] = ev_of(TW_EV_ERROR);
    evs[1].error_kind = TW_KIND_TIMEOUT;
    evs[2] = text_ev(TW_EV_TEXT, 0, S("x"));
    encode_all(TW_FORMAT_OPENAI, NULL, evs, 3, &out);
    {
        static const char want[] =
            "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\","
            "\"param\":null,\"code\":529}}\n\n"
            "data: {\"error\":{\"message\":\"timeout error\",\"type\":\"timeout_error\","
            "\"param\":null,\"code\":null}}\n\n"
            "data: {\"id\":\"chatcmpl-tw";
        const char *model;
        CHECK(out.len > sizeof want && memcmp(out.data, want, sizeof want - 1) == 0);
        model = strstr(out.data, "\",\"object\":\"chat.completion.chunk\",\"created\":0,"
                                 "\"model\":\"tokenwire\"");
        CHECK(model != NULL);
        CHECK(model && model - out.data == (long)(sizeof want - 1) + 22);
    }
    tw_buf_free(&out);
}

/* ---- events ---------------------------------------------------------------------------------- */

TW_TEST(events_two_agents) {
    tw_buf out;
    tw_event evs[16];
    size_t n = 0;
    evs[n] = ev_of(TW_EV_AGENT_START);
    evs[n++].source = S("research");
    evs[n] = ev_of(TW_EV_START);
    evs[n].source = S("writer");
    evs[n].id = S("msg_1");
    evs[n++].name = S("claude");
    evs[n] = text_ev(TW_EV_TEXT, 0, S("Hel"));
    evs[n++].source = S("research");
    evs[n] = text_ev(TW_EV_REASONING, 0, S("hmm"));
    evs[n++].source = S("writer");
    evs[n] = tool_ev(1, S("call_1"), S("search"), S("{\"q\":1}"));
    evs[n++].source = S("research");
    evs[n] = text_ev(TW_EV_PROGRESS, 0, S("searching"));
    evs[n++].source = S("research");
    evs[n] = usage_ev(3, 4, -1);
    evs[n++].source = S("research");
    evs[n] = finish_ev(0, S("STOP"));
    evs[n++].source = S("research");
    evs[n] = ev_of(TW_EV_END);
    evs[n++].source = S("research");
    evs[n] = ev_of(TW_EV_ERROR);
    evs[n].source = S("writer");
    evs[n].error_kind = TW_KIND_PROVIDER;
    evs[n].status = 529;
    evs[n].text = S("Overloaded");
    evs[n].raw = S("{secret}");
    evs[n++].name = S("overloaded_error");
    evs[n++] = text_ev(TW_EV_TEXT, 0, S("anon"));
    encode_all(TW_FORMAT_EVENTS, NULL, evs, n, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "event: agent_start\ndata: {\"agent\":\"research\"}\n\n"
                 "event: agent_start\ndata: {\"agent\":\"writer\",\"id\":\"msg_1\",\"model\":\"claude\"}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"research\",\"type\":\"text\",\"index\":0,\"text\":\"Hel\"}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"writer\",\"type\":\"reasoning\",\"index\":0,\"text\":\"hmm\"}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"research\",\"type\":\"tool_call\",\"index\":1,\"id\":\"call_1\",\"name\":\"search\",\"arguments\":\"{\\\"q\\\":1}\"}\n\n"
                 "event: progress\ndata: {\"agent\":\"research\",\"text\":\"searching\"}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"research\",\"type\":\"usage\",\"input_tokens\":3,\"output_tokens\":4}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"research\",\"type\":\"finish\",\"index\":0,\"reason\":\"STOP\"}\n\n"
                 "event: agent_complete\ndata: {\"agent\":\"research\",\"status\":\"ok\",\"finish_reason\":\"tool_calls\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}\n\n"
                 "event: error\ndata: {\"agent\":\"writer\",\"kind\":\"provider\",\"status\":529,\"message\":\"Overloaded\",\"name\":\"overloaded_error\"}\n\n"
                 "event: agent_start\ndata: {\"agent\":\"default\"}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"default\",\"type\":\"text\",\"index\":0,\"text\":\"anon\"}\n\n"
                 "event: agent_complete\ndata: {\"agent\":\"writer\",\"status\":\"error\"}\n\n"
                 "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"incomplete\"}\n\n"
                 "event: complete\ndata: {\"agents\":3,\"errors\":1}\n\n");
    tw_buf_free(&out);
}

TW_TEST(events_restart_and_empty) {
    tw_buf out;
    tw_event evs[4];
    encode_all(TW_FORMAT_EVENTS, NULL, NULL, 0, &out);
    CHECK_EQ_STR(out.data, out.len, "event: complete\ndata: {\"agents\":0,\"errors\":0}\n\n");
    tw_buf_free(&out);
    evs[0] = ev_of(TW_EV_AGENT_COMPLETE);
    evs[1] = text_ev(TW_EV_TEXT, 0, S("again"));
    evs[2] = ev_of(TW_EV_AGENT_START);
    encode_all(TW_FORMAT_EVENTS, NULL, evs, 3, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "event: agent_start\ndata: {\"agent\":\"default\"}\n\n"
                 "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"ok\"}\n\n"
                 "event: agent_start\ndata: {\"agent\":\"default\"}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"default\",\"type\":\"text\",\"index\":0,\"text\":\"again\"}\n\n"
                 "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"incomplete\"}\n\n"
                 "event: agent_start\ndata: {\"agent\":\"default\"}\n\n"
                 "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"incomplete\"}\n\n"
                 "event: complete\ndata: {\"agents\":1,\"errors\":0}\n\n");
    tw_buf_free(&out);
}

/* ---- ai-sdk ---------------------------------------------------------------------------------- */

TW_TEST(ai_sdk_text_reasoning_tools) {
    tw_buf out;
    tw_event evs[16];
    size_t n = 0;
    evs[n] = ev_of(TW_EV_START);
    evs[n++].id = S("msg_1");
    evs[n++] = text_ev(TW_EV_REASONING, 0, S("plan"));
    evs[n++] = text_ev(TW_EV_TEXT, 1, S(""));
    evs[n++] = text_ev(TW_EV_TEXT, 1, S("Hel"));
    evs[n++] = text_ev(TW_EV_TEXT, 1, S("lo"));
    evs[n++] = tool_ev(2, S("toolu_1"), S("get_weather"), S(""));
    evs[n++] = tool_ev(2, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("{\"city\":\n \"Pa"));
    evs[n++] = tool_ev(2, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("ris\"}"));
    evs[n++] = tool_ev(3, (tw_str){NULL, 0}, S("now"), S(""));
    evs[n++] = tool_ev(4, S("bad"), S("broken"), S("{\"x\":"));
    evs[n++] = usage_ev(10, -1, -1);
    evs[n++] = usage_ev(-1, 20, -1);
    evs[n++] = finish_ev(0, S("end_turn"));
    evs[n++] = ev_of(TW_EV_END);
    encode_all(TW_FORMAT_AI_SDK, NULL, evs, n, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "data: {\"type\":\"start\",\"messageId\":\"msg_1\"}\n\n"
                 "data: {\"type\":\"start-step\"}\n\n"
                 "data: {\"type\":\"reasoning-start\",\"id\":\"rsn_0\"}\n\n"
                 "data: {\"type\":\"reasoning-delta\",\"id\":\"rsn_0\",\"delta\":\"plan\"}\n\n"
                 "data: {\"type\":\"reasoning-end\",\"id\":\"rsn_0\"}\n\n"
                 "data: {\"type\":\"text-start\",\"id\":\"txt_1\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_1\",\"delta\":\"Hel\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_1\",\"delta\":\"lo\"}\n\n"
                 "data: {\"type\":\"tool-input-start\",\"toolCallId\":\"toolu_1\",\"toolName\":\"get_weather\"}\n\n"
                 "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"toolu_1\",\"inputTextDelta\":\"{\\\"city\\\":\\n \\\"Pa\"}\n\n"
                 "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"toolu_1\",\"inputTextDelta\":\"ris\\\"}\"}\n\n"
                 "data: {\"type\":\"tool-input-available\",\"toolCallId\":\"toolu_1\",\"toolName\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}\n\n"
                 "data: {\"type\":\"tool-input-start\",\"toolCallId\":\"call_3\",\"toolName\":\"now\"}\n\n"
                 "data: {\"type\":\"tool-input-available\",\"toolCallId\":\"call_3\",\"toolName\":\"now\",\"input\":{}}\n\n"
                 "data: {\"type\":\"tool-input-start\",\"toolCallId\":\"bad\",\"toolName\":\"broken\"}\n\n"
                 "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"bad\",\"inputTextDelta\":\"{\\\"x\\\":\"}\n\n"
                 "data: {\"type\":\"text-end\",\"id\":\"txt_1\"}\n\n"
                 "data: {\"type\":\"tool-input-error\",\"toolCallId\":\"bad\",\"toolName\":\"broken\",\"input\":\"{\\\"x\\\":\",\"errorText\":\"invalid JSON in tool arguments: unexpected end of JSON\"}\n\n"
                 "data: {\"type\":\"finish-step\"}\n\n"
                 "data: {\"type\":\"finish\",\"finishReason\":\"tool-calls\",\"messageMetadata\":{\"usage\":{\"inputTokens\":10,\"outputTokens\":20,\"totalTokens\":30}}}\n\n"
                 "data: [DONE]\n\n");
    tw_buf_free(&out);
}

TW_TEST(ai_sdk_error_progress_and_empty) {
    tw_buf out;
    tw_event evs[4];
    tw_encoder_opts o;
    encode_all(TW_FORMAT_AI_SDK, NULL, NULL, 0, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "data: {\"type\":\"start\"}\n\ndata: {\"type\":\"start-step\"}\n\n"
                 "data: {\"type\":\"finish-step\"}\n\ndata: {\"type\":\"finish\"}\n\ndata: [DONE]\n\n");
    tw_buf_free(&out);
    tw_encoder_opts_init(&o);
    o.id = "m9";
    evs[0] = text_ev(TW_EV_PROGRESS, 0, S("looking"));
    evs[0].source = S("a");
    evs[1] = text_ev(TW_EV_TEXT, 0, S("x"));
    evs[2] = ev_of(TW_EV_ERROR);
    evs[2].error_kind = TW_KIND_PROVIDER;
    evs[2].text = S("Overloaded");
    evs[3] = finish_ev(0, S("stop"));
    encode_all(TW_FORMAT_AI_SDK, &o, evs, 4, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "data: {\"type\":\"start\",\"messageId\":\"m9\"}\n\ndata: {\"type\":\"start-step\"}\n\n"
                 "data: {\"type\":\"data-progress\",\"data\":{\"text\":\"looking\",\"agent\":\"a\"},\"transient\":true}\n\n"
                 "data: {\"type\":\"text-start\",\"id\":\"txt_0\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_0\",\"delta\":\"x\"}\n\n"
                 "data: {\"type\":\"error\",\"errorText\":\"Overloaded\"}\n\n"
                 "data: {\"type\":\"text-end\",\"id\":\"txt_0\"}\n\n"
                 "data: {\"type\":\"finish-step\"}\n\n"
                 "data: {\"type\":\"finish\",\"finishReason\":\"error\"}\n\ndata: [DONE]\n\n");
    tw_buf_free(&out);
}

/* ---- ndjson, text ---------------------------------------------------------------------------- */

TW_TEST(ndjson_and_text_formats) {
    tw_buf out;
    tw_event evs[5];
    evs[0] = text_ev(TW_EV_TEXT, 0, S("Hi \xff"));
    evs[1] = text_ev(TW_EV_REASONING, 0, S("hidden"));
    evs[2] = text_ev(TW_EV_TEXT, 0, S("\xe2\x80\xa8!\n"));
    evs[3] = finish_ev(0, S("stop"));
    evs[4] = ev_of(TW_EV_END);
    encode_all(TW_FORMAT_NDJSON, NULL, evs, 5, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "{\"type\":\"text\",\"index\":0,\"text\":\"Hi \xef\xbf\xbd\"}\n"
                 "{\"type\":\"reasoning\",\"index\":0,\"text\":\"hidden\"}\n"
                 "{\"type\":\"text\",\"index\":0,\"text\":\"\\u2028!\\n\"}\n"
                 "{\"type\":\"finish\",\"index\":0,\"reason\":\"stop\"}\n"
                 "{\"type\":\"end\"}\n");
    tw_buf_free(&out);
    encode_all(TW_FORMAT_TEXT, NULL, evs, 5, &out);
    CHECK_EQ_STR(out.data, out.len, "Hi \xef\xbf\xbd\xe2\x80\xa8!\n");
    tw_buf_free(&out);
}

/* ---- round trips through the SSE parser ------------------------------------------------------ */

/* Decodes the JSON string value of "key" in a compact JSON object: only the escapes JSON
 * allows, \u with surrogate pairs. Returns 0 when the key is absent or the value malformed. */
static int json_str_field(const char *js, size_t n, const char *key, tw_buf *val) {
    char pat[64];
    const char *p, *end = js + n;
    size_t plen = (size_t)snprintf(pat, sizeof pat, "\"%s\":\"", key);
    for (p = js; p + plen <= end; p++)
        if (memcmp(p, pat, plen) == 0) break;
    if (p + plen > end) return 0;
    p += plen;
    val->len = 0;
    while (p < end && *p != '"') {
        char u8[4];
        if (*p != '\\') {
            CHECK_EQ_INT(tw_buf_append(val, p++, 1), TW_OK);
            continue;
        }
        if (p + 1 >= end) return 0;
        switch (p[1]) {
        case 'n': u8[0] = '\n'; break;
        case 'r': u8[0] = '\r'; break;
        case 't': u8[0] = '\t'; break;
        case 'b': u8[0] = '\b'; break;
        case 'f': u8[0] = '\f'; break;
        case '"': case '\\': case '/': u8[0] = p[1]; break;
        case 'u': {
            char hex[5] = {0};
            unsigned cp;
            if (p + 6 > end) return 0;
            memcpy(hex, p + 2, 4);
            cp = (unsigned)strtoul(hex, NULL, 16);
            if (cp >= 0xD800 && cp <= 0xDBFF && p + 12 <= end && p[6] == '\\' && p[7] == 'u') {
                memcpy(hex, p + 8, 4);
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)strtoul(hex, NULL, 16) - 0xDC00);
                p += 6;
            }
            CHECK_EQ_INT(tw_buf_append(val, u8, put_utf8(u8, cp)), TW_OK);
            p += 6;
            continue;
        }
        default: return 0;
        }
        CHECK_EQ_INT(tw_buf_append(val, u8, 1), TW_OK);
        p += 2;
    }
    return p < end;
}

typedef struct collected {
    tw_buf names; /* event names, one per line */
    tw_buf text;  /* concatenated text deltas */
    tw_buf args;  /* concatenated tool argument deltas */
    int done, events, bad_json;
} collected;

static int collect_sse(void *ud, const tw_sse_event *ev) {
    collected *c = ud;
    tw_buf v, compact;
    const char *why;
    c->events++;
    CHECK_EQ_INT(tw_buf_append(&c->names, ev->event.ptr, ev->event.len), TW_OK);
    CHECK_EQ_INT(tw_buf_append(&c->names, "\n", 1), TW_OK);
    if (ev->data.len == 6 && memcmp(ev->data.ptr, "[DONE]", 6) == 0) {
        c->done++;
        return 0;
    }
    tw_buf_init(&compact);
    if (tw__json_compact(&compact, ev->data.ptr, ev->data.len, &why) != TW_OK) c->bad_json++;
    tw_buf_free(&compact);
    tw_buf_init(&v);
    /* ai-sdk text-delta / openai content / events agent_chunk text. */
    if ((memmem(ev->data.ptr, ev->data.len, "\"type\":\"text-delta\"", 19) &&
         json_str_field(ev->data.ptr, ev->data.len, "delta", &v)) ||
        json_str_field(ev->data.ptr, ev->data.len, "content", &v) ||
        (memmem(ev->data.ptr, ev->data.len, "\"type\":\"text\"", 13) &&
         json_str_field(ev->data.ptr, ev->data.len, "text", &v)))
        CHECK_EQ_INT(tw_buf_append(&c->text, v.data, v.len), TW_OK);
    if (json_str_field(ev->data.ptr, ev->data.len, "inputTextDelta", &v) ||
        json_str_field(ev->data.ptr, ev->data.len, "arguments", &v))
        CHECK_EQ_INT(tw_buf_append(&c->args, v.data, v.len), TW_OK);
    tw_buf_free(&v);
    return 0;
}

static const char *const tricky[] = {
    "Hel",        "lo\n\nworld",   "data: [DONE]\n\n", "\r\n\r",        "\"quoted\"",
    "back\\slash", "\xe2\x80\xa8", "\xe2\x80\xa9 x",   "caf\xc3\xa9",   "\xf0\x9f\x98\x80",
    "\x01\x1f\x7f", "bad \xff\xfe", "trunc \xe2\x82",  ": comment",     "event: x\nid: 1",
};

TW_TEST(sse_formats_round_trip_through_parser) {
    for (int f = TW_FORMAT_OPENAI; f <= TW_FORMAT_AI_SDK; f++) {
        tw_event evs[64];
        size_t n = 0;
        tw_buf out, want_text, want_args;
        tw_buf_init(&want_text);
        tw_buf_init(&want_args);
        for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
            tw_str t = {tricky[i], strlen(tricky[i])};
            evs[n++] = text_ev(TW_EV_TEXT, 0, t);
            CHECK_EQ_INT(tw__utf8_append(&want_text, t.ptr, t.len), TW_OK);
            if (i % 5 == 0) evs[n++] = text_ev(TW_EV_REASONING, 0, S("thinking \"hard\""));
        }
        evs[n++] = tool_ev(0, S("call_\"1\""), S("f\nn"), S("{\"q\": \"a\\n"));
        evs[n++] = tool_ev(0, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("\xe2\x80\xa8\"}"));
        {
            static const char wa[] = "{\"q\": \"a\\n\xe2\x80\xa8\"}";
            CHECK_EQ_INT(tw_buf_append(&want_args, wa, sizeof wa - 1), TW_OK);
        }
        evs[n++] = finish_ev(0, S("stop"));
        evs[n++] = usage_ev(1, 2, 3);
        evs[n++] = ev_of(TW_EV_END);
        encode_all((tw_format)f, NULL, evs, n, &out);
        /* Whole, then one byte at a time: the same events. */
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            collected c;
            tw_sse_parser *p = tw_sse_parser_new(NULL);
            memset(&c, 0, sizeof c);
            if (bytewise) {
                for (size_t i = 0; i < out.len; i++)
                    CHECK_EQ_INT(tw_sse_parser_feed(p, out.data + i, 1, collect_sse, &c, NULL),
                                 TW_OK);
            } else {
                CHECK_EQ_INT(tw_sse_parser_feed(p, out.data, out.len, collect_sse, &c, NULL),
                             TW_OK);
            }
            tw_sse_parser_free(p);
            CHECK_EQ_INT(c.bad_json, 0);
            CHECK_MSG(c.text.len == want_text.len &&
                          memcmp(c.text.data, want_text.data, want_text.len) == 0,
                      "%s: text %.*s", tw_format_name((tw_format)f), (int)c.text.len, c.text.data);
            if (f == TW_FORMAT_AI_SDK) {
                /* ai-sdk tool-input-available repeats nothing textual: deltas only. */
                CHECK_EQ_STR(c.args.data, c.args.len, "{\"q\": \"a\\n\xe2\x80\xa8\"}");
            } else {
                CHECK_MSG(c.args.len == want_args.len &&
                              memcmp(c.args.data, want_args.data, want_args.len) == 0,
                          "%s: args %.*s", tw_format_name((tw_format)f), (int)c.args.len,
                          c.args.data);
            }
            CHECK_EQ_INT(c.done, f == TW_FORMAT_EVENTS ? 0 : 1);
            if (f == TW_FORMAT_EVENTS) {
                /* 15 texts + 3 reasoning + 2 tool + finish + usage = 22 chunks. */
                CHECK_EQ_STR(c.names.data, 19, "agent_start\nagent_c");
                CHECK(memmem(c.names.data, c.names.len, "agent_complete\ncomplete\n", 24) != NULL);
                CHECK_EQ_INT(c.events, 1 + 22 + 1 + 1);
            } else {
                /* Every event is an unnamed "message". */
                CHECK_EQ_INT(c.names.len, (size_t)c.events * 8);
            }
            tw_buf_free(&c.names);
            tw_buf_free(&c.text);
            tw_buf_free(&c.args);
        }
        tw_buf_free(&out);
        tw_buf_free(&want_text);
        tw_buf_free(&want_args);
    }
}

TW_TEST(ndjson_round_trip) {
    tw_event evs[32];
    size_t n = 0;
    tw_buf out, want, got, v;
    tw_buf_init(&want);
    tw_buf_init(&got);
    tw_buf_init(&v);
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        tw_str t = {tricky[i], strlen(tricky[i])};
        evs[n++] = text_ev(TW_EV_TEXT, (int32_t)i, t);
        CHECK_EQ_INT(tw__utf8_append(&want, t.ptr, t.len), TW_OK);
    }
    encode_all(TW_FORMAT_NDJSON, NULL, evs, n, &out);
    {
        size_t i = 0, lines = 0;
        while (i < out.len) {
            const char *nl = memchr(out.data + i, '\n', out.len - i);
            CHECK(nl != NULL);
            if (!nl) break;
            CHECK(json_str_field(out.data + i, (size_t)(nl - out.data) - i, "text", &v));
            CHECK_EQ_INT(tw_buf_append(&got, v.data, v.len), TW_OK);
            i = (size_t)(nl - out.data) + 1;
            lines++;
        }
        CHECK_EQ_INT(lines, n);
    }
    CHECK(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    tw_buf_free(&out);
    tw_buf_free(&want);
    tw_buf_free(&got);
    tw_buf_free(&v);
}

/* ---- openai encoder -> openai decoder ------------------------------------------------------- */

typedef struct decoded {
    tw_buf text, reasoning, args[2];
    tw_buf tool_ids, tool_names; /* "id\n" per tool call start */
    tw_buf finish;
    int64_t in_tok, out_tok, total_tok;
    int ends, errors, after_end;
} decoded;

static int collect_decoded(void *ud, const tw_event *ev) {
    decoded *d = ud;
    if (d->ends) d->after_end++;
    switch (ev->type) {
    case TW_EV_TEXT: tw_buf_append(&d->text, ev->text.ptr, ev->text.len); break;
    case TW_EV_REASONING: tw_buf_append(&d->reasoning, ev->text.ptr, ev->text.len); break;
    case TW_EV_TOOL_CALL:
        CHECK(ev->index >= 0 && ev->index < 2);
        if (ev->index < 0 || ev->index > 1) break;
        if (ev->id.ptr && ev->id.len) {
            tw_buf_append(&d->tool_ids, ev->id.ptr, ev->id.len);
            tw_buf_append(&d->tool_ids, "\n", 1);
            tw_buf_append(&d->tool_names, ev->name.ptr, ev->name.len);
            tw_buf_append(&d->tool_names, "\n", 1);
        }
        if (ev->arguments.ptr)
            tw_buf_append(&d->args[ev->index], ev->arguments.ptr, ev->arguments.len);
        break;
    case TW_EV_FINISH:
        tw_buf_append(&d->finish, ev->reason.ptr, ev->reason.len);
        tw_buf_append(&d->finish, "\n", 1);
        break;
    case TW_EV_USAGE:
        if (ev->input_tokens >= 0) d->in_tok = ev->input_tokens;
        if (ev->output_tokens >= 0) d->out_tok = ev->output_tokens;
        if (ev->total_tokens >= 0) d->total_tok = ev->total_tokens;
        break;
    case TW_EV_ERROR: d->errors++; break;
    case TW_EV_END: d->ends++; break;
    default: break;
    }
    return 0;
}

static void decoded_free(decoded *d) {
    tw_buf_free(&d->text);
    tw_buf_free(&d->reasoning);
    tw_buf_free(&d->args[0]);
    tw_buf_free(&d->args[1]);
    tw_buf_free(&d->tool_ids);
    tw_buf_free(&d->tool_names);
    tw_buf_free(&d->finish);
}

static void decode_openai(const tw_buf *bytes, size_t step, decoded *d) {
    tw_error err;
    tw_decoder *dec = tw_decoder_new(TW_DIALECT_OPENAI, NULL, &err);
    memset(d, 0, sizeof *d);
    d->in_tok = d->out_tok = d->total_tok = -1;
    CHECK(dec != NULL);
    if (!dec) return;
    for (size_t i = 0; i < bytes->len; i += step) {
        size_t k = bytes->len - i < step ? bytes->len - i : step;
        CHECK_EQ_INT(tw_decoder_feed(dec, bytes->data + i, k, collect_decoded, d, &err), TW_OK);
    }
    CHECK_EQ_INT(tw_decoder_finish(dec, collect_decoded, d, &err), TW_OK);
    tw_decoder_free(dec);
}

TW_TEST(openai_encoder_round_trips_through_openai_decoder) {
    tw_event evs[64];
    size_t n = 0;
    tw_buf out, want_text;
    tw_buf_init(&want_text);
    evs[n] = ev_of(TW_EV_START);
    evs[n].id = S("msg_1");
    evs[n++].name = S("claude-x");
    evs[n++] = text_ev(TW_EV_REASONING, 0, S("let me think \"hard\"\n"));
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        tw_str t = {tricky[i], strlen(tricky[i])};
        evs[n++] = text_ev(TW_EV_TEXT, 1, t);
        CHECK_EQ_INT(tw__utf8_append(&want_text, t.ptr, t.len), TW_OK);
    }
    /* Anthropic-style block indices 2 and 3 become OpenAI tool calls 0 and 1. */
    evs[n++] = tool_ev(2, S("toolu_1"), S("get_weather"), S(""));
    evs[n++] = tool_ev(2, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("{\"city\": \"Pa"));
    evs[n++] = tool_ev(2, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("ris \xe2\x80\xa8\"}"));
    evs[n++] = tool_ev(3, S("toolu_2"), S("get_time"), S("{}"));
    evs[n++] = usage_ev(10, -1, -1);
    evs[n++] = usage_ev(-1, 20, -1);
    evs[n++] = finish_ev(0, S("tool_use"));
    evs[n++] = ev_of(TW_EV_END);
    encode_all(TW_FORMAT_OPENAI, NULL, evs, n, &out);
    for (size_t step = 1; step <= out.len; step = step < 8 ? step + 1 : step * 7) {
        decoded d;
        decode_openai(&out, step, &d);
        CHECK_MSG(d.text.len == want_text.len &&
                      memcmp(d.text.data, want_text.data, want_text.len) == 0,
                  "step %zu text %.*s", step, (int)d.text.len, d.text.data);
        CHECK_EQ_STR(d.reasoning.data, d.reasoning.len, "let me think \"hard\"\n");
        CHECK_EQ_STR(d.tool_ids.data, d.tool_ids.len, "toolu_1\ntoolu_2\n");
        CHECK_EQ_STR(d.tool_names.data, d.tool_names.len, "get_weather\nget_time\n");
        CHECK_EQ_STR(d.args[0].data, d.args[0].len, "{\"city\": \"Paris \xe2\x80\xa8\"}");
        CHECK_EQ_STR(d.args[1].data, d.args[1].len, "{}");
        CHECK_EQ_STR(d.finish.data, d.finish.len, "tool_calls\n");
        CHECK_EQ_INT(d.in_tok, 10);
        CHECK_EQ_INT(d.out_tok, 20);
        CHECK_EQ_INT(d.total_tok, 30);
        CHECK_EQ_INT(d.errors, 0);
        CHECK_EQ_INT(d.ends, 1);
        CHECK_EQ_INT(d.after_end, 0);
        decoded_free(&d);
    }
    tw_buf_free(&out);
    tw_buf_free(&want_text);
}

TW_TEST(openai_encoder_error_decodes_as_provider_error) {
    tw_event evs[3];
    tw_buf out;
    decoded d;
    evs[0] = text_ev(TW_EV_TEXT, 0, S("partial"));
    evs[1] = ev_of(TW_EV_ERROR);
    evs[1].error_kind = TW_KIND_PROVIDER;
    evs[1].text = S("Overloaded");
    evs[1].name = S("overloaded_error");
    encode_all(TW_FORMAT_OPENAI, NULL, evs, 2, &out);
    decode_openai(&out, out.len, &d);
    CHECK_EQ_STR(d.text.data, d.text.len, "partial");
    CHECK_EQ_INT(d.errors, 1);
    decoded_free(&d);
    tw_buf_free(&out);
}

/* ---- ndjson -> simdjson (tw_json) -> events: the same events --------------------------------- */


static int name_to_type(tw_str s) {
    for (int t = 1; t < TW_EV__LAST; t++) {
        const char *name = tw_event_type_name((tw_event_type)t);
        if (tw__str_eq(s, name, strlen(name))) return t;
    }
    return 0;
}

static int name_to_kind(tw_str s) {
    for (int k = 0; k < TW_KIND__LAST; k++) {
        const char *name = tw_error_kind_name((tw_error_kind)k);
        if (tw__str_eq(s, name, strlen(name))) return k;
    }
    return -1;
}

/* Compares a string read back with the original, sanitized as the encoder must. */
static void same_str(const char *what, tw_str got, tw_str orig) {
    tw_buf want;
    tw_buf_init(&want);
    if (orig.ptr) CHECK_EQ_INT(tw__utf8_append(&want, orig.ptr, orig.len), TW_OK);
    CHECK_MSG((got.ptr != NULL) == (orig.ptr != NULL) && got.len == want.len &&
                  (want.len == 0 || memcmp(got.ptr, want.data, want.len) == 0),
              "%s: got %.*s", what, (int)got.len, got.ptr ? got.ptr : "(absent)");
    tw_buf_free(&want);
}

/* Reads one ndjson line back into an event and compares it with orig. */
static void check_line(tw_json *j, const char *line, size_t n, const tw_event *orig) {
    tw_json_val root, v;
    tw_json_iter it;
    tw_str key, s;
    tw_event got;
    tw_buf copy;
    int64_t num;
    tw_event_init(&got);
    tw_buf_init(&copy);
    CHECK_EQ_INT(tw_buf_append(&copy, line, n), TW_OK); /* padded copy: parse in place */
    CHECK_EQ_INT(tw_json_parse(j, copy.data, n, copy.cap, &root), TW_OK);
    CHECK(tw_json_obj_begin(j, &root, &it));
    /* Strings point into the parser (valid until the next parse): compare before it. */
    while (tw_json_obj_next(j, &it, &key, &v)) {
        if (tw__str_eq(key, "type", 4)) {
            CHECK(tw_json_get_str(j, &v, &s));
            got.type = (tw_event_type)name_to_type(s);
        } else if (tw__str_eq(key, "kind", 4)) {
            CHECK(tw_json_get_str(j, &v, &s));
            got.error_kind = (tw_error_kind)name_to_kind(s);
        } else if (tw__str_eq(key, "index", 5) || tw__str_eq(key, "status", 6) ||
                   tw__str_eq(key, "input_tokens", 12) || tw__str_eq(key, "output_tokens", 13) ||
                   tw__str_eq(key, "total_tokens", 12) || tw__str_eq(key, "retry", 5)) {
            CHECK(tw_json_get_i64(j, &v, &num));
            if (key.ptr[0] == 'i' && key.len == 5) got.index = (int32_t)num;
            if (key.ptr[0] == 's') got.status = (int32_t)num;
            if (key.ptr[0] == 'i' && key.len == 12) got.input_tokens = num;
            if (key.ptr[0] == 'o') got.output_tokens = num;
            if (key.ptr[0] == 't') got.total_tokens = num;
            if (key.ptr[0] == 'r') got.retry = num;
        } else {
            tw_str *dst = NULL;
            CHECK(tw_json_get_str(j, &v, &s));
            if (tw__str_eq(key, "source", 6)) dst = &got.source;
            if (tw__str_eq(key, "id", 2)) dst = &got.id;
            if (tw__str_eq(key, "model", 5) || tw__str_eq(key, "name", 4) ||
                tw__str_eq(key, "event", 5))
                dst = &got.name;
            if (tw__str_eq(key, "text", 4) || tw__str_eq(key, "message", 7) ||
                tw__str_eq(key, "data", 4))
                dst = &got.text;
            if (tw__str_eq(key, "arguments", 9)) dst = &got.arguments;
            if (tw__str_eq(key, "reason", 6)) dst = &got.reason;
            if (tw__str_eq(key, "raw", 3)) dst = &got.raw;
            CHECK_MSG(dst != NULL, "unexpected key %.*s", (int)key.len, key.ptr);
            if (dst) *dst = s.ptr ? s : (tw_str){"", 0};
        }
    }
    CHECK_EQ_INT(tw_json_end(j), TW_OK);
    CHECK_EQ_INT(got.type, orig->type);
    if (orig->type == TW_EV_TEXT || orig->type == TW_EV_REASONING ||
        orig->type == TW_EV_TOOL_CALL || orig->type == TW_EV_FINISH)
        CHECK_EQ_INT(got.index, orig->index);
    CHECK_EQ_INT(got.status, orig->status);
    CHECK_EQ_INT(got.input_tokens, orig->input_tokens);
    CHECK_EQ_INT(got.output_tokens, orig->output_tokens);
    CHECK_EQ_INT(got.total_tokens, orig->total_tokens);
    CHECK_EQ_INT(got.retry, orig->retry);
    if (orig->type == TW_EV_ERROR) CHECK_EQ_INT(got.error_kind, orig->error_kind);
    same_str("source", got.source, orig->source);
    same_str("id", got.id, orig->id);
    same_str("name", got.name, orig->name);
    same_str("text", got.text, orig->text);
    same_str("arguments", got.arguments, orig->arguments);
    same_str("reason", got.reason, orig->reason);
    same_str("raw", got.raw, orig->raw);
    tw_buf_free(&copy);
}

TW_TEST(ndjson_every_event_type_reads_back_with_simdjson) {
    tw_event evs[16];
    size_t n = 0;
    tw_buf out;
    tw_json *j = tw_json_new();
    evs[n] = ev_of(TW_EV_START);
    evs[n].id = S("msg_\x01");
    evs[n++].name = S("m\xe2\x80\xa8");
    evs[n] = text_ev(TW_EV_TEXT, 3, S("a\"\\\n\xff\xc3"));
    evs[n++].source = S("agent \"x\"");
    evs[n++] = text_ev(TW_EV_REASONING, 0, S("\xf0\x9f\x98\x80\t"));
    evs[n++] = tool_ev(1, S("call_1"), S("get"), S("{\"city\": \"Pa"));
    evs[n++] = tool_ev(1, (tw_str){NULL, 0}, (tw_str){NULL, 0}, S("ris\"}"));
    evs[n++] = usage_ev(82, -1, 99);
    evs[n++] = finish_ev(2, S("MAX_TOKENS"));
    evs[n] = ev_of(TW_EV_ERROR);
    evs[n].error_kind = TW_KIND_HTTP;
    evs[n].status = 503;
    evs[n].text = S("Service Unavailable");
    evs[n++].raw = S("<html>\r\n</html>");
    evs[n] = ev_of(TW_EV_RAW);
    evs[n].name = S("ping");
    evs[n].text = S("");
    evs[n].id = S("42");
    evs[n++].retry = 1500;
    evs[n++] = ev_of(TW_EV_END);
    evs[n] = ev_of(TW_EV_AGENT_START);
    evs[n++].source = S("w");
    evs[n] = ev_of(TW_EV_AGENT_COMPLETE);
    evs[n++].source = S("w");
    evs[n++] = text_ev(TW_EV_PROGRESS, 0, S("50%"));
    encode_all(TW_FORMAT_NDJSON, NULL, evs, n, &out);
    CHECK(j != NULL);
    {
        size_t i = 0, k = 0;
        while (i < out.len && k < n) {
            const char *nl = memchr(out.data + i, '\n', out.len - i);
            CHECK(nl != NULL);
            if (!nl) break;
            check_line(j, out.data + i, (size_t)(nl - out.data) - i, &evs[k++]);
            i = (size_t)(nl - out.data) + 1;
        }
        CHECK_EQ_INT(k, n);
        CHECK_EQ_INT(i, out.len);
    }
    tw_json_free(j);
    tw_buf_free(&out);
}

/* simdjson, an independent parser, unescapes every code point back to the input. */
TW_TEST(escape_every_code_point_reads_back_with_simdjson) {
    tw_json *j = tw_json_new();
    tw_buf in, out;
    tw_json_val root, v;
    tw_json_iter it;
    tw_str s;
    tw_buf_init(&in);
    tw_buf_init(&out);
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        char u[4];
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        CHECK_EQ_INT(tw_buf_append(&in, u, put_utf8(u, cp)), TW_OK);
    }
    CHECK_EQ_INT(tw_buf_append(&out, "[", 1), TW_OK);
    CHECK_EQ_INT(tw_json_escape(&out, in.data, in.len), TW_OK);
    CHECK_EQ_INT(tw_buf_append(&out, "]", 1), TW_OK);
    CHECK_EQ_INT(tw_json_parse(j, out.data, out.len, out.cap, &root), TW_OK);
    CHECK(tw_json_arr_begin(j, &root, &it));
    CHECK(tw_json_arr_next(j, &it, &v));
    CHECK(tw_json_get_str(j, &v, &s));
    CHECK(s.len == in.len && memcmp(s.ptr, in.data, in.len) == 0);
    CHECK(!tw_json_arr_next(j, &it, &v));
    CHECK_EQ_INT(tw_json_end(j), TW_OK);
    tw_json_free(j);
    tw_buf_free(&in);
    tw_buf_free(&out);
}

/* ---- hostile streams stay linear --------------------------------------------------------------- */

static size_t count_of(const tw_buf *b, const char *pat) {
    size_t n = 0, plen = strlen(pat);
    const char *p = b->data, *end = b->data + b->len;
    while (p && (p = memmem(p, (size_t)(end - p), pat, plen)) != NULL) {
        n++;
        p += plen;
    }
    return n;
}

static void count_marks(const tw_buf *b, size_t *starts, size_t *ends, size_t *roles,
                        size_t *chunks, size_t *last_call) {
    static const char call[] = "\"tool_calls\":[{\"index\":";
    const char *p = b->data, *end = b->data + b->len, *hit;
    *starts += count_of(b, "\"text-start\"");
    *ends += count_of(b, "\"text-end\"");
    *roles += count_of(b, "\"role\":\"assistant\"");
    *chunks += count_of(b, "event: agent_chunk\n");
    while (p && (hit = memmem(p, (size_t)(end - p), call, sizeof call - 1)) != NULL) {
        size_t v = (size_t)strtoul(hit + sizeof call - 1, NULL, 10);
        if (v > *last_call) *last_call = v;
        p = hit + 1;
    }
}

/* 20,000 distinct tool-call and text indices, as a hostile stream could send: choices and
 * calls are looked up through a hash map and ai-sdk keeps at most 64 parts open, so per-event
 * work does not grow with the count (bench_encode is where speed is measured). This checks the
 * shape of the output under that load: numbering, one role per choice, every part ended. */
TW_TEST(many_distinct_indices_stay_bounded) {
    enum { N = 20000 };
    for (int f = TW_FORMAT_OPENAI; f <= TW_FORMAT_AI_SDK; f++) {
        tw_encoder_opts o;
        tw_encoder *e;
        tw_buf out;
        size_t starts = 0, ends = 0, roles = 0, chunks = 0, last_call = 0;
        tw_encoder_opts_init(&o);
        o.index_is_choice = 1;
        e = tw_encoder_new((tw_format)f, &o, NULL);
        tw_buf_init(&out);
        for (int32_t i = 0; i < N; i++) {
            tw_event ev = (i & 1) ? tool_ev(i, (tw_str){NULL, 0}, S("f"), S("{}"))
                                  : text_ev(TW_EV_TEXT, i, S("x"));
            CHECK_EQ_INT(tw_encoder_encode(e, &ev, &out), TW_OK);
            if (out.len > (1u << 20)) {
                count_marks(&out, &starts, &ends, &roles, &chunks, &last_call);
                out.len = 0;
            }
        }
        CHECK_EQ_INT(tw_encoder_finish(e, &out), TW_OK);
        count_marks(&out, &starts, &ends, &roles, &chunks, &last_call);
        if (f == TW_FORMAT_AI_SDK) {
            CHECK_EQ_INT(starts, N / 2);
            CHECK_EQ_INT(ends, N / 2); /* every part ended, the oldest first as the cap is hit */
        } else if (f == TW_FORMAT_OPENAI) {
            CHECK_EQ_INT(roles, N / 2);           /* one per choice: the text indices */
            CHECK_EQ_INT(last_call, N / 2 - 1);   /* calls 0..N/2-1, all in choice 0 */
        } else {
            CHECK_EQ_INT(chunks, N);
        }
        tw_buf_free(&out);
        tw_encoder_free(e);
    }
}

TW_TEST(openai_start_after_first_chunk_keeps_id_and_model) {
    tw_buf out;
    tw_event evs[4];
    evs[0] = ev_of(TW_EV_START);
    evs[0].id = S("resp_1");
    evs[0].name = S("m1");
    evs[1] = text_ev(TW_EV_TEXT, 0, S("a"));
    evs[2] = ev_of(TW_EV_START);
    evs[2].id = S("resp_2");
    evs[2].name = S("m2");
    evs[3] = text_ev(TW_EV_TEXT, 0, S("b"));
    encode_all(TW_FORMAT_OPENAI, NULL, evs, 4, &out);
#define P2 "data: {\"id\":\"resp_1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m1\",\"choices\":["
    CHECK_EQ_STR(out.data, out.len,
                 P2 "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"a\"" OA_TAIL("null")
                 P2 "{\"index\":0,\"delta\":{\"content\":\"b\"" OA_TAIL("null")
                 "data: [DONE]\n\n");
#undef P2
    tw_buf_free(&out);
}

TW_TEST(ai_sdk_parts_per_source) {
    tw_buf out;
    tw_event evs[6];
    evs[0] = text_ev(TW_EV_TEXT, 0, S("r1"));
    evs[0].source = S("research");
    evs[1] = text_ev(TW_EV_TEXT, 0, S("w1"));
    evs[1].source = S("writer");
    evs[2] = text_ev(TW_EV_TEXT, 0, S("r2"));
    evs[2].source = S("research");
    evs[3] = ev_of(TW_EV_END);
    evs[3].source = S("research");
    evs[4] = text_ev(TW_EV_TEXT, 0, S("w2"));
    evs[4].source = S("writer");
    encode_all(TW_FORMAT_AI_SDK, NULL, evs, 5, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "data: {\"type\":\"start\"}\n\ndata: {\"type\":\"start-step\"}\n\n"
                 "data: {\"type\":\"text-start\",\"id\":\"txt_0\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_0\",\"delta\":\"r1\"}\n\n"
                 "data: {\"type\":\"text-start\",\"id\":\"txt_1\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_1\",\"delta\":\"w1\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_0\",\"delta\":\"r2\"}\n\n"
                 "data: {\"type\":\"text-end\",\"id\":\"txt_0\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_1\",\"delta\":\"w2\"}\n\n"
                 "data: {\"type\":\"text-end\",\"id\":\"txt_1\"}\n\n"
                 "data: {\"type\":\"finish-step\"}\n\ndata: {\"type\":\"finish\"}\n\ndata: [DONE]\n\n");
    tw_buf_free(&out);
}

/* ---- tw_dialect_indexes_choices: relaying a dialect in the openai format ------------------ */

/* What a relay does: decode upstream bytes of dialect dl, encode every event to openai with
 * index_is_choice = tw_dialect_indexes_choices(dl). */
typedef struct relay_ctx {
    tw_encoder *e;
    tw_buf *out;
} relay_ctx;

static int relay_event(void *ud, const tw_event *ev) {
    relay_ctx *r = ud;
    CHECK_EQ_INT(tw_encoder_encode(r->e, ev, r->out), TW_OK);
    return 0;
}

static void relay_to_openai(tw_dialect dl, const char *in, tw_buf *out) {
    tw_encoder_opts o;
    relay_ctx r;
    tw_decoder *d = tw_decoder_new(dl, NULL, NULL);
    tw_encoder_opts_init(&o);
    o.index_is_choice = tw_dialect_indexes_choices(dl);
    tw_buf_init(out);
    r.e = tw_encoder_new(TW_FORMAT_OPENAI, &o, NULL);
    r.out = out;
    CHECK(d != NULL && r.e != NULL);
    if (d && r.e) {
        CHECK_EQ_INT(tw_decoder_feed(d, in, strlen(in), relay_event, &r, NULL), TW_OK);
        CHECK_EQ_INT(tw_decoder_finish(d, relay_event, &r, NULL), TW_OK);
        CHECK_EQ_INT(tw_encoder_finish(r.e, out), TW_OK);
    }
    tw_encoder_free(r.e);
    tw_decoder_free(d);
}

/* Reads the relayed openai bytes back: "text <choice> <text>" / "finish <choice> <reason>"
 * lines, in order, texts of one choice run together. */
static int per_choice_event(void *ud, const tw_event *ev) {
    tw_buf *b = ud;
    char head[48];
    int n;
    if (ev->type == TW_EV_TEXT) {
        n = snprintf(head, sizeof head, "text %d ", (int)ev->index);
        tw_buf_append(b, head, (size_t)n);
        tw_buf_append(b, ev->text.ptr, ev->text.len);
        tw_buf_append(b, "\n", 1);
    } else if (ev->type == TW_EV_FINISH) {
        n = snprintf(head, sizeof head, "finish %d ", (int)ev->index);
        tw_buf_append(b, head, (size_t)n);
        tw_buf_append(b, ev->reason.ptr, ev->reason.len);
        tw_buf_append(b, "\n", 1);
    }
    return 0;
}

static void read_choices(const tw_buf *bytes, tw_buf *got) {
    tw_decoder *d = tw_decoder_new(TW_DIALECT_OPENAI, NULL, NULL);
    tw_buf_init(got);
    CHECK(d != NULL);
    if (!d) return;
    CHECK_EQ_INT(tw_decoder_feed(d, bytes->data, bytes->len, per_choice_event, got, NULL), TW_OK);
    CHECK_EQ_INT(tw_decoder_finish(d, per_choice_event, got, NULL), TW_OK);
    tw_decoder_free(d);
}

TW_TEST(encoder_dialect_indexes_choices) {
    tw_buf out, got;
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT_OPENAI), 1);
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT_GEMINI), 1);
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT_OPENAI_RESPONSES), 0);
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT_ANTHROPIC), 0);
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT_OLLAMA), 0);
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT_SSE), 0);
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT_NDJSON), 0);
    CHECK_EQ_INT(tw_dialect_indexes_choices((tw_dialect)0), 0);
    CHECK_EQ_INT(tw_dialect_indexes_choices(TW_DIALECT__LAST), 0);

    /* OpenAI n = 2: each choice keeps its own text and finish_reason. */
    relay_to_openai(TW_DIALECT_OPENAI,
                    "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                    "\"assistant\",\"content\":\"\"}}]}\n\n"
                    "data: {\"id\":\"x\",\"choices\":[{\"index\":1,\"delta\":{\"role\":"
                    "\"assistant\",\"content\":\"\"}}]}\n\n"
                    "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                    "\"zero\"}}]}\n\n"
                    "data: {\"id\":\"x\",\"choices\":[{\"index\":1,\"delta\":{\"content\":"
                    "\"one\"}}]}\n\n"
                    "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},"
                    "\"finish_reason\":\"stop\"}]}\n\n"
                    "data: {\"id\":\"x\",\"choices\":[{\"index\":1,\"delta\":{},"
                    "\"finish_reason\":\"length\"}]}\n\n"
                    "data: [DONE]\n\n",
                    &out);
    read_choices(&out, &got);
    CHECK_EQ_STR(got.data, got.len,
                 "text 0 zero\ntext 1 one\nfinish 0 stop\nfinish 1 length\n");
    tw_buf_free(&out);
    tw_buf_free(&got);

    /* Gemini candidateCount = 2: candidates become choices 0 and 1. */
    relay_to_openai(TW_DIALECT_GEMINI,
                    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"g0\"}],"
                    "\"role\":\"model\"},\"index\":0},{\"content\":{\"parts\":[{\"text\":"
                    "\"g1\"}],\"role\":\"model\"},\"index\":1}]}\r\n\r\n"
                    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}],"
                    "\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0},{\"content\":"
                    "{\"parts\":[{\"text\":\"?\"}],\"role\":\"model\"},\"finishReason\":"
                    "\"MAX_TOKENS\",\"index\":1}]}\r\n\r\n",
                    &out);
    read_choices(&out, &got);
    CHECK_EQ_STR(got.data, got.len,
                 "text 0 g0\ntext 1 g1\ntext 0 !\nfinish 0 stop\ntext 1 ?\n"
                 "finish 1 length\n");
    tw_buf_free(&out);
    tw_buf_free(&got);

    /* Anthropic: thinking at block 0 and text at block 1 stay in choice 0. */
    relay_to_openai(TW_DIALECT_ANTHROPIC,
                    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                    "{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
                    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                    "\"thinking_delta\",\"thinking\":\"hm\"}}\n\n"
                    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
                    "{\"type\":\"text\",\"text\":\"\"}}\n\n"
                    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
                    "\"text_delta\",\"text\":\"hi\"}}\n\n"
                    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                    "\"end_turn\"}}\n\n"
                    "data: {\"type\":\"message_stop\"}\n\n",
                    &out);
    read_choices(&out, &got);
    CHECK_EQ_STR(got.data, got.len, "text 0 hi\nfinish 0 stop\n");
    tw_buf_free(&out);
    tw_buf_free(&got);
}

/* ---- event ids ------------------------------------------------------------------------------ */

static int count_sse(void *ud, const tw_sse_event *ev) {
    (void)ev;
    (*(int *)ud)++;
    return 0;
}

/* Every SSE event carries "id: <prefix>:<seq>" (seq from first_event_seq), a comment none;
 * an SSE reader's last event id is then the last event's; NDJSON lines carry event_id. */
TW_TEST(encoder_event_ids) {
    tw_event evs[5];
    tw_encoder_opts o;
    tw_buf out;
    tw_sse_parser *p;
    tw_str last;
    int dispatched = 0;
    evs[0] = text_ev(TW_EV_TEXT, 0, S("Hel"));
    evs[1] = ev_of(TW_EV_ERROR);
    evs[1].error_kind = TW_KIND_PROTOCOL;
    evs[1].recoverable = 1;
    evs[1].text = S("bad\nline");
    evs[2] = text_ev(TW_EV_TEXT, 0, S("lo"));
    evs[3] = finish_ev(0, S("stop"));
    evs[4] = ev_of(TW_EV_END);
    tw_encoder_opts_init(&o);
    o.event_id_prefix = "s-1";
    o.first_event_seq = 7;
    encode_all(TW_FORMAT_OPENAI, &o, evs, 5, &out);
    tw_buf_append(&out, "", 1);
    out.len--;
    /* 3 chunks (text, text, finish) + [DONE]: ids 7..10; the recoverable error's comment has
     * none and says what was wrong on one line. */
    CHECK_MSG(strstr(out.data, "id: s-1:7\ndata: {") && strstr(out.data, "id: s-1:10\ndata: [DONE]") &&
                  !strstr(out.data, "s-1:11") && strstr(out.data, "\n\n: recoverable error: bad line\n\n"),
              "%s", out.data);
    p = tw_sse_parser_new(NULL);
    CHECK_EQ_INT(tw_sse_parser_feed(p, out.data, out.len, count_sse, &dispatched, NULL), TW_OK);
    last = tw_sse_parser_last_event_id(p);
    CHECK_EQ_STR(last.ptr, last.len, "s-1:10");
    CHECK_EQ_INT(dispatched, 4);
    tw_sse_parser_free(p);
    tw_buf_free(&out);

    {
        tw_error err;
        o.event_id_prefix = "a\nevent: evil";
        CHECK(tw_encoder_new(TW_FORMAT_EVENTS, &o, &err) == NULL && err.code == TW_ERR_INVALID_ARG);
        o.event_id_prefix = "";
        CHECK(tw_encoder_new(TW_FORMAT_EVENTS, &o, &err) == NULL);
        o.event_id_prefix = "s-1";
    }
    o.first_event_seq = 0;
    encode_all(TW_FORMAT_NDJSON, &o, evs, 5, &out);
    tw_buf_append(&out, "", 1);
    out.len--;
    CHECK_MSG(strstr(out.data, "{\"event_id\":\"s-1:0\",\"type\":\"text\"") == out.data &&
                  strstr(out.data, "{\"event_id\":\"s-1:4\",\"type\":\"end\"}\n"),
              "%s", out.data);
    tw_buf_free(&out);
}

/* ---- templates: an app's own vocabulary ---------------------------------------------------- */

static void template_run(const char *spec, const tw_event *evs, size_t n, tw_buf *out) {
    tw_error err;
    tw_encoder *e = tw_encoder_new_template(spec, strlen(spec), NULL, &err);
    tw_buf_init(out);
    CHECK_MSG(e != NULL, "%s", err.msg);
    if (!e) return;
    for (size_t i = 0; i < n; i++) CHECK_EQ_INT(tw_encoder_encode(e, &evs[i], out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, out), TW_OK);
    tw_encoder_free(e);
    tw_buf_append(out, "", 1);
    out->len--;
}

TW_TEST(template_sse_vocabulary) {
    static const char spec[] =
        "{\"constants\": {\"agent\": \"researcher\", \"meta\": {\"v\": 2}},"
        " \"events\": {"
        "  \"text\": {\"event\": \"answer_streaming\", \"data\": {\"token\": \"{text}\","
        "            \"partial_response\": \"{text_so_far}\", \"agent_id\": \"{constants.agent}\","
        "            \"n\": \"{seq}\", \"note\": \"{{literal}} by {constants.agent}: {text}\"}},"
        "  \"usage\": null,"
        "  \"error\": {\"event\": \"error\", \"data\": {\"message\": \"{text}\", \"kind\": \"{kind}\"}}},"
        " \"finish\": {\"event\": \"complete\", \"data\": {\"response\": \"{text_so_far}\","
        "            \"usage\": \"{usage}\", \"finish_reason\": \"{finish_reason}\","
        "            \"meta\": \"{constants.meta}\"}}}";
    tw_event evs[4];
    tw_buf out;
    evs[0] = text_ev(TW_EV_TEXT, 0, S("Hel\"lo"));
    evs[1] = text_ev(TW_EV_TEXT, 0, S(" there"));
    evs[2] = finish_ev(0, S("end_turn"));
    evs[3] = usage_ev(3, 4, -1);
    template_run(spec, evs, 4, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "event: answer_streaming\n"
                 "data: {\"token\":\"Hel\\\"lo\",\"partial_response\":\"Hel\\\"lo\","
                 "\"agent_id\":\"researcher\",\"n\":0,\"note\":\"{literal} by researcher: Hel\\\"lo\"}\n\n"
                 "event: answer_streaming\n"
                 "data: {\"token\":\" there\",\"partial_response\":\"Hel\\\"lo there\","
                 "\"agent_id\":\"researcher\",\"n\":1,\"note\":\"{literal} by researcher:  there\"}\n\n"
                 "event: complete\n"
                 "data: {\"response\":\"Hel\\\"lo there\",\"usage\":{\"input_tokens\":3,"
                 "\"output_tokens\":4,\"total_tokens\":7},\"finish_reason\":\"stop\","
                 "\"meta\":{\"v\":2}}\n\n");
    tw_buf_free(&out);
}

TW_TEST(template_ndjson_and_sources) {
    static const char spec[] =
        "{\"framing\": \"ndjson\", \"events\": {"
        " \"text\": {\"data\": {\"type\": \"chat\", \"content\": \"{text}\", \"streaming\": true,"
        "          \"agent\": \"{source}\", \"tokens\": [\"{input_tokens}\", 1.5, null]}},"
        " \"end\": {\"data\": {\"type\": \"done\", \"summary_end\": \"{type}\"}}}}";
    tw_event evs[2];
    tw_buf out;
    tw_error err;
    tw_encoder *e;
    evs[0] = text_ev(TW_EV_TEXT, 0, S("hi"));
    evs[0].source = S("writer");
    evs[1] = ev_of(TW_EV_END);
    template_run(spec, evs, 2, &out);
    CHECK_EQ_STR(out.data, out.len,
                 "{\"type\":\"chat\",\"content\":\"hi\",\"streaming\":true,\"agent\":\"writer\","
                 "\"tokens\":[null,1.5,null]}\n"
                 "{\"type\":\"done\",\"summary_end\":\"end\"}\n");
    tw_buf_free(&out);
    e = tw_encoder_new_template(spec, strlen(spec), NULL, &err);
    CHECK(e != NULL && !strcmp(tw_encoder_headers(e)[1], "application/x-ndjson"));
    tw_encoder_free(e);
}

TW_TEST(template_spec_errors_name_the_problem) {
    static const struct {
        const char *spec, *want;
    } bad[] = {
        {"{\"events\": {\"text\": {\"data\": \"{nope}\"}}}", "unknown slot"},
        {"{\"events\": {\"texts\": {\"data\": 1}}}", "unknown event type"},
        {"{\"events\": {\"text\": {\"event\": \"a\\nb\", \"data\": 1}}}", "one-line"},
        {"{\"events\": {\"text\": {\"event\": \"x\"}}}", "needs \"data\""},
        {"{\"framing\": \"xml\"}", "framing"},
        {"{\"events\": {\"text\": {\"data\": {\"a\": \"{constants.missing}\"}}}}", "unknown slot"},
        {"[1, 2]", "one JSON object"},
        {"{\"events\": {\"text\": {\"data\": {\"a\": 1}}}", "malformed"},
        {"{\"events\": {\"text\": {\"data\": 1}}} trailing", "malformed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tw_error err;
        tw_encoder *e = tw_encoder_new_template(bad[i].spec, strlen(bad[i].spec), NULL, &err);
        CHECK_MSG(e == NULL, "accepted: %s", bad[i].spec);
        tw_encoder_free(e);
        if (!e) CHECK_MSG(err.code == TW_ERR_INVALID_ARG && strstr(err.msg, bad[i].want),
                          "%s -> %s", bad[i].spec, err.msg);
    }
}
