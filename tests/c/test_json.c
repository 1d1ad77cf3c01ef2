/* test_json.c - the simdjson wrapper (tw_json.h): parsing in place and through the padded copy,
 * iteration, strings with and without escapes, numbers, type mismatches, malformed input, and
 * the padding contract (initialised bytes, whose values never change a result). */
#include "tw_json.h"
#include "tw_test.h"

#include <stdlib.h>

/* Parses a literal through a padded heap copy (capacity = exactly len + padding, which must be
 * initialised: see tw_json.h). */
static tw_code parse_lit(tw_json *j, const char *s, char **keep, tw_json_val *root) {
    size_t n = strlen(s);
    *keep = malloc(n + TW_JSON_PADDING);
    memcpy(*keep, s, n);
    memset(*keep + n, 0, TW_JSON_PADDING);
    return tw_json_parse(j, *keep, n, n + TW_JSON_PADDING, root);
}

TW_TEST(json_iterates_object_and_reads_scalars) {
    tw_json *j = tw_json_new();
    tw_json_val root, v, el;
    tw_json_iter it, ait;
    tw_str k, s;
    int64_t x;
    int b, n_fields = 0, n_el = 0;
    char *buf;
    CHECK(j);
    CHECK_EQ_INT(parse_lit(j, "{\"a\":\"x\\\"y\\u00e9\",\"b\":12,\"c\":[1,2.0,3],\"d\":true,"
                              "\"e\":null,\"f\":\"plain\",\"g\":{\"h\":1}}",
                           &buf, &root),
                 TW_OK);
    CHECK_EQ_INT(tw_json_type_of(j, &root), TW_JSON_OBJECT);
    CHECK(tw_json_obj_begin(j, &root, &it));
    while (tw_json_obj_next(j, &it, &k, &v)) {
        n_fields++;
        if (k.len == 1 && k.ptr[0] == 'a') {
            CHECK(tw_json_get_str(j, &v, &s));
            CHECK_EQ_STR(s.ptr, s.len, "x\"y\xC3\xA9");
        } else if (k.len == 1 && k.ptr[0] == 'b') {
            CHECK(!tw_json_get_str(j, &v, &s)); /* a number is not a string: no error */
            CHECK(tw_json_get_i64(j, &v, &x));
            CHECK_EQ_INT(x, 12);
        } else if (k.len == 1 && k.ptr[0] == 'c') {
            CHECK(tw_json_arr_begin(j, &v, &ait));
            while (tw_json_arr_next(j, &ait, &el)) {
                CHECK(tw_json_get_i64(j, &el, &x));
                CHECK_EQ_INT(x, ++n_el);
            }
        } else if (k.len == 1 && k.ptr[0] == 'd') {
            CHECK(tw_json_get_bool(j, &v, &b));
            CHECK_EQ_INT(b, 1);
        } else if (k.len == 1 && k.ptr[0] == 'e') {
            CHECK(!tw_json_get_str(j, &v, &s));
            CHECK(tw_json_is_null(j, &v));
        } else if (k.len == 1 && k.ptr[0] == 'f') {
            CHECK(tw_json_get_str(j, &v, &s));
            CHECK_EQ_STR(s.ptr, s.len, "plain");
            /* No escape: the string is a slice of the text itself (zero copy). */
            CHECK(s.ptr > buf && s.ptr < buf + strlen("{\"a\":...") + 200);
        }
        /* "g" is left unread: the iterator skips it. */
    }
    CHECK_EQ_INT(n_fields, 7);
    CHECK_EQ_INT(n_el, 3);
    CHECK_EQ_INT(tw_json_end(j), TW_OK);
    CHECK(!tw_json_failed(j));
    tw_json_free(j);
    free(buf);
}

TW_TEST(json_copies_when_padding_is_missing) {
    tw_json *j = tw_json_new();
    tw_json_val root, v;
    tw_json_iter it;
    tw_str k, s;
    /* capacity == len: the wrapper must not read past the end (ASan would see it). */
    const char *text = "{\"k\":\"v\"}";
    char *exact = malloc(strlen(text));
    memcpy(exact, text, strlen(text));
    CHECK_EQ_INT(tw_json_parse(j, exact, strlen(text), strlen(text), &root), TW_OK);
    CHECK(tw_json_obj_begin(j, &root, &it));
    CHECK(tw_json_obj_next(j, &it, &k, &v));
    CHECK_EQ_STR(k.ptr, k.len, "k");
    CHECK(tw_json_get_str(j, &v, &s));
    CHECK_EQ_STR(s.ptr, s.len, "v");
    CHECK(!tw_json_obj_next(j, &it, &k, &v));
    CHECK_EQ_INT(tw_json_end(j), TW_OK);
    free(exact);
    tw_json_free(j);
}

TW_TEST(json_reports_malformed_documents) {
    static const char *bad[] = {
        "{\"a\":1",          /* unclosed */
        "{\"a\" 1}",         /* missing colon */
        "{\"a\":1 \"b\":2}", /* missing comma */
        "{\"a\":\"\xC3\x28\"}", /* invalid UTF-8 */
        "{\"a\":1} x",       /* trailing content */
        "{\"a\":1}{\"b\":2}", /* two documents */
        "{\"a\":tru}",       /* bad literal where it is read */
        "{\"a\":\"x\\q\"}",  /* bad escape where it is read */
        "nope",
        "\"a string\"", /* a scalar root is refused */
        "",
    };
    tw_json *j = tw_json_new();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tw_json_val root, v;
        tw_json_iter it;
        tw_str k, s;
        int b;
        char *buf;
        int failed = parse_lit(j, bad[i], &buf, &root) != TW_OK;
        if (!failed) {
            if (tw_json_obj_begin(j, &root, &it)) {
                while (tw_json_obj_next(j, &it, &k, &v)) {
                    if (!tw_json_get_str(j, &v, &s)) tw_json_get_bool(j, &v, &b);
                }
            }
            failed = tw_json_end(j) != TW_OK;
        }
        CHECK_MSG(failed, "accepted malformed %s", bad[i]);
        CHECK_MSG(failed && tw_json_failed(j), "no error recorded for %s", bad[i]);
        free(buf);
    }
    tw_json_free(j);
}

TW_TEST(json_raw_rewind_minify_and_cursor) {
    tw_json *j = tw_json_new();
    tw_json_val root, v;
    tw_json_iter it;
    tw_str k, raw;
    char dst[64];
    char *buf;
    const char *start = NULL;
    int passes = 0;
    CHECK_EQ_INT(parse_lit(j, "{\"args\": {\"city\": \"Pa ris\", \"n\": [1, 2]} , \"z\": 5 }", &buf,
                           &root),
                 TW_OK);
    for (passes = 0; passes < 2; passes++) {
        CHECK(tw_json_obj_begin(j, &root, &it));
        CHECK(tw_json_obj_next(j, &it, &k, &v));
        CHECK_EQ_STR(k.ptr, k.len, "args");
        start = tw_json_val_ptr(j, &v);
        CHECK(start && *start == '{');
        CHECK(tw_json_get_raw(j, &v, &raw));
        CHECK_EQ_STR(raw.ptr, raw.len, "{\"city\": \"Pa ris\", \"n\": [1, 2]}");
        CHECK(tw_json_cursor(j) && *tw_json_cursor(j) == ',');
        CHECK(tw_json_obj_next(j, &it, &k, &v));
        CHECK(tw_json_get_raw(j, &v, &raw));
        CHECK_EQ_STR(raw.ptr, raw.len, "5");
        CHECK(!tw_json_obj_next(j, &it, &k, &v));
        CHECK_EQ_INT(tw_json_end(j), TW_OK);
        if (passes == 0) CHECK_EQ_INT(tw_json_rewind(j, &root), TW_OK);
    }
    CHECK_EQ_INT(tw_json_minify("{\"city\": \"Pa ris\", \"n\": [1, 2]}", 31, dst), 27);
    CHECK(memcmp(dst, "{\"city\":\"Pa ris\",\"n\":[1,2]}", 27) == 0);
    CHECK(tw_json_valid_utf8("caf\xC3\xA9", 5));
    CHECK(!tw_json_valid_utf8("caf\xC3", 4));
    free(buf);
    tw_json_free(j);
}

TW_TEST(json_numbers_edge_cases) {
    tw_json *j = tw_json_new();
    tw_json_val root, v;
    tw_json_iter it;
    tw_str k;
    int64_t x, got[4];
    int ok[4], n = 0;
    char *buf;
    CHECK_EQ_INT(parse_lit(j, "[9223372036854775807, 12.0, 1e400, 18446744073709551615]", &buf,
                           &root),
                 TW_OK);
    (void)k;
    CHECK(tw_json_arr_begin(j, &root, &it));
    while (n < 4 && tw_json_arr_next(j, &it, &v)) {
        ok[n] = tw_json_get_i64(j, &v, &x);
        got[n++] = x;
    }
    CHECK_EQ_INT(n, 4);
    CHECK(ok[0] && got[0] == INT64_MAX);
    CHECK(ok[1] && got[1] == 12);
    CHECK(!ok[2]); /* out of double range: not read, reported as malformed number */
    CHECK(!ok[3]); /* beyond int64: not an int64 */
    free(buf);
    tw_json_free(j);
}

TW_TEST(json_big_document_then_small_shrinks) {
    /* A 5 MiB document grows the parser; the next small one gives the memory back. Checked
     * through behaviour only: both parse correctly. */
    size_t n = (size_t)5 << 20;
    char *big = malloc(n + TW_JSON_PADDING);
    tw_json *j = tw_json_new();
    tw_json_val root, v;
    tw_json_iter it;
    tw_str k, s;
    char *small;
    memcpy(big, "{\"d\":\"", 6);
    memset(big + 6, 'x', n - 8);
    memcpy(big + n - 2, "\"}", 2);
    memset(big + n, 0, TW_JSON_PADDING);
    CHECK_EQ_INT(tw_json_parse(j, big, n, n + TW_JSON_PADDING, &root), TW_OK);
    CHECK(tw_json_obj_begin(j, &root, &it) && tw_json_obj_next(j, &it, &k, &v));
    CHECK(tw_json_get_str(j, &v, &s));
    CHECK_EQ_INT(s.len, n - 8);
    CHECK_EQ_INT(parse_lit(j, "{\"d\":\"y\"}", &small, &root), TW_OK);
    CHECK(tw_json_obj_begin(j, &root, &it) && tw_json_obj_next(j, &it, &k, &v));
    CHECK(tw_json_get_str(j, &v, &s));
    CHECK_EQ_STR(s.ptr, s.len, "y");
    free(big);
    free(small);
    tw_json_free(j);
}

TW_TEST(json_verdict_does_not_depend_on_following_bytes) {
    /* An unbalanced text that simdjson on-demand can misread as complete: whatever bytes follow
     * it in the caller's buffer, the verdict must be the same (found by fuzzing). */
    const char *p = "{\"type\":\"x\":\"y\",\"a\":[],\"u\":null}}";
    size_t n = strlen(p);
    int verdict[4];
    for (int pad = 0; pad < 4; pad++) {
        char *b = malloc(n + TW_JSON_PADDING);
        tw_json *j = tw_json_new();
        tw_json_val root, v;
        tw_json_iter it;
        tw_str k;
        memcpy(b, p, n);
        memset(b + n, "\0} \""[pad], TW_JSON_PADDING);
        verdict[pad] = tw_json_parse(j, b, n, n + TW_JSON_PADDING, &root) == TW_OK;
        if (verdict[pad] && tw_json_obj_begin(j, &root, &it))
            while (tw_json_obj_next(j, &it, &k, &v)) {
            }
        if (verdict[pad]) verdict[pad] = tw_json_end(j) == TW_OK;
        tw_json_free(j);
        free(b);
    }
    CHECK_EQ_INT(verdict[1], verdict[0]);
    CHECK_EQ_INT(verdict[2], verdict[0]);
    CHECK_EQ_INT(verdict[3], verdict[0]);
}

TW_TEST(json_tw_buf_padding_is_initialised) {
    /* The SSE parser and the NDJSON splitter hand tw_json_parse the spare bytes of their tw_buf
     * as padding, and simdjson branches on them: valgrind reported them uninitialised on
     * multi-line events, repaired UTF-8 and lines longer than a read. They are zero unless
     * written (ASan fills fresh heap memory with 0xbe, so this sees the bug without valgrind). */
    static const char piece[] = "{\"k\":\"v\"}\n";
    tw_buf b;
    tw_json *j = tw_json_new();
    tw_json_val root, v;
    tw_json_iter it;
    tw_str k;
    size_t bad = 0;
    tw_buf_init(&b);
    for (int i = 0; i < 600; i++) { /* grows 256 -> 8 KiB */
        CHECK_EQ_INT(tw_buf_append(&b, piece, sizeof piece - 1), TW_OK);
        for (size_t x = b.len; x < b.cap; x++) bad += b.data[x] != 0;
    }
    CHECK_EQ_INT(tw_buf_reserve(&b, 5000), TW_OK);
    for (size_t x = b.len; x < b.cap; x++) bad += b.data[x] != 0;
    CHECK_EQ_INT(bad, 0);
    /* The last document, in place as the decoder parses it (capacity = the buffer's). */
    size_t last = b.len - (sizeof piece - 1);
    CHECK_EQ_INT(tw_json_parse(j, b.data + last, sizeof piece - 2, b.cap - last, &root), TW_OK);
    CHECK(tw_json_obj_begin(j, &root, &it) && tw_json_obj_next(j, &it, &k, &v));
    CHECK_EQ_STR(k.ptr, k.len, "k");
    CHECK(!tw_json_obj_next(j, &it, &k, &v));
    CHECK_EQ_INT(tw_json_end(j), TW_OK);
    tw_json_free(j);
    tw_buf_free(&b);
}

/* Reads every key and scalar of v in document order into a trace. */
static void walk(tw_json *j, tw_json_val *v, tw_buf *out, int depth) {
    tw_json_iter it;
    tw_json_val c;
    tw_str k, s;
    int64_t x;
    int b;
    char num[32];
    if (depth > 64) return;
    switch (tw_json_type_of(j, v)) {
    case TW_JSON_OBJECT:
        if (!tw_json_obj_begin(j, v, &it)) break;
        tw_buf_append(out, "{", 1);
        while (tw_json_obj_next(j, &it, &k, &c)) {
            tw_buf_append(out, k.ptr, k.len);
            tw_buf_append(out, ":", 1);
            walk(j, &c, out, depth + 1);
        }
        tw_buf_append(out, "}", 1);
        break;
    case TW_JSON_ARRAY:
        if (!tw_json_arr_begin(j, v, &it)) break;
        tw_buf_append(out, "[", 1);
        while (tw_json_arr_next(j, &it, &c)) walk(j, &c, out, depth + 1);
        tw_buf_append(out, "]", 1);
        break;
    case TW_JSON_STRING:
        if (tw_json_get_str(j, v, &s)) tw_buf_append(out, s.ptr, s.len);
        break;
    case TW_JSON_NUMBER:
        if (tw_json_get_i64(j, v, &x))
            tw_buf_append(out, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)x));
        break;
    case TW_JSON_BOOL:
        if (tw_json_get_bool(j, v, &b)) tw_buf_append(out, b ? "t" : "f", 1);
        break;
    case TW_JSON_NULL:
        if (tw_json_is_null(j, v)) tw_buf_append(out, "n", 1);
        break;
    default:
        tw_buf_append(out, "?", 1);
    }
    tw_buf_append(out, ",", 1);
}

/* Parses text[0, n) followed by cap - n bytes of pad (cap == n: the padded-copy path) and
 * traces everything read, the errors included. */
static void trace_doc(const char *text, size_t n, int pad, tw_buf *out) {
    char *b = malloc(n + TW_JSON_PADDING);
    tw_json *j = tw_json_new();
    tw_json_val root;
    size_t cap = n;
    memcpy(b, text, n);
    if (pad >= 0) {
        memset(b + n, pad, TW_JSON_PADDING);
        cap += TW_JSON_PADDING;
    }
    out->len = 0;
    if (tw_json_parse(j, b, n, cap, &root) == TW_OK) {
        walk(j, &root, out, 0);
        if (tw_json_end(j) == TW_OK) tw_buf_append(out, "|end", 4);
        else tw_buf_append(out, "|not-end", 8);
    } else {
        tw_buf_append(out, "|refused", 8);
    }
    tw_buf_append(out, tw_json_failed(j) ? "|failed" : "|ok", tw_json_failed(j) ? 7 : 3);
    tw_json_free(j);
    free(b);
}

TW_TEST(json_garbled_verdicts_do_not_depend_on_padding) {
    /* The wrapper itself reads past a text (raw_key_len and has_backslash, 16 bytes at a time,
     * and the '}' test of tw_json_parse): whatever the padding holds, a garbled document (a
     * payload cut short, then a stray byte, as the valgrind corpus run generates) must read the
     * same as through the zero-padded copy. */
    static const char *payloads[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"He said \\\"hi\\\"\\n\"},"
        "\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":12}}",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
        "\"partial_json\":\"{\\\"c\\\\\\\\ity\\\": \\\"Par\\u00e9\"}}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\",\"thought\":true}]}}],"
        "\"key_with_a_long_name_past_16\":[1,2.5,-3e2,true,false,null]}",
    };
    static const char tails[] = {'}', '"', '\\', ']', (char)0xff};
    static const int pads[] = {' ', '"', '\\', '}', 0xbe, 0xff};
    tw_buf ref, got, text;
    size_t mismatches = 0;
    tw_buf_init(&ref);
    tw_buf_init(&got);
    tw_buf_init(&text);
    for (size_t p = 0; p < sizeof payloads / sizeof payloads[0]; p++) {
        size_t n = strlen(payloads[p]);
        for (size_t cut = 1; cut <= n; cut++) {
            for (size_t t = 0; t <= sizeof tails; t++) {
                text.len = 0;
                tw_buf_append(&text, payloads[p], cut);
                if (t < sizeof tails) tw_buf_append(&text, &tails[t], 1);
                trace_doc(text.data, text.len, -1, &ref);
                for (size_t q = 0; q < sizeof pads / sizeof pads[0]; q++) {
                    trace_doc(text.data, text.len, pads[q], &got);
                    if (got.len != ref.len || memcmp(got.data, ref.data, ref.len) != 0) {
                        CHECK_MSG(mismatches > 3, "pad 0x%02x changes the reading of %.*s",
                                  pads[q], (int)text.len, text.data);
                        mismatches++;
                    }
                }
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    tw_buf_free(&ref);
    tw_buf_free(&got);
    tw_buf_free(&text);
}
