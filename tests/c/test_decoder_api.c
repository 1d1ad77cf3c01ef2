/* test_decoder_api.c - tw_decoder behaviour beyond the captures: names, done/after-END rules,
 * callback stop, oversized events, zero copy, comments, bodies, tw_error_body_message. */
#include "test_decoder_util.h"

static const char *decode_all(tw_dialect dl, const char *in, evrec *r) {
    decode_with(dl, in, strlen(in), 0, 0, r);
    return rec_text(r);
}

TW_TEST(decoder_dialect_names) {
    static const char *names[] = {"openai", "openai-responses", "anthropic", "gemini",
                                  "ollama", "sse", "ndjson"};
    tw_error err;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tw_dialect d = tw_dialect_from_name(names[i], strlen(names[i]));
        CHECK_EQ_INT(d, (int)i + 1);
        CHECK(tw_dialect_name(d) && strcmp(tw_dialect_name(d), names[i]) == 0);
    }
    CHECK_EQ_INT(tw_dialect_from_name("openai-", 7), 0);
    CHECK_EQ_INT(tw_dialect_from_name("open", 4), 0);
    CHECK_EQ_INT(tw_dialect_from_name(NULL, 0), 0);
    CHECK(tw_dialect_name((tw_dialect)0) == NULL);
    CHECK(tw_dialect_name(TW_DIALECT__LAST) == NULL);
    CHECK(tw_decoder_new((tw_dialect)99, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
}

TW_TEST(decoder_nothing_after_end_or_provider_error) {
    evrec r;
    tw_decoder *d = tw_decoder_new(TW_DIALECT_ANTHROPIC, NULL, NULL);
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(tw_decoder_feed(d, "data: {\"type\":\"message_stop\"}\n\n", 31, rec_event, &r,
                                 NULL),
                 TW_OK);
    CHECK(tw_decoder_done(d));
    CHECK_EQ_STR(rec_text(&r), r.out.len, "end\n");
    /* Later input, valid or not, emits nothing; finish adds nothing either. */
    CHECK_EQ_INT(tw_decoder_feed(d, "data: {\"type\":\"ping\"}\n\ndata: nope\n\n", 36, rec_event,
                                 &r, NULL),
                 TW_OK);
    CHECK_EQ_INT(tw_decoder_finish(d, rec_event, &r, NULL), TW_OK);
    CHECK_EQ_STR(rec_text(&r), r.out.len, "end\n");
    tw_decoder_free(d);

    /* Gemini: a provider error mid-stream, then EOF: no usage, no END. */
    decode_all(TW_DIALECT_GEMINI,
               "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}],"
               "\"usageMetadata\":{\"promptTokenCount\":1}}\r\n\r\n"
               "data: {\"error\":{\"code\":500,\"message\":\"Internal\",\"status\":\"INTERNAL\"}}"
               "\r\n\r\n",
               &r);
    CHECK(strstr(rec_text(&r), "error provider status=500 name=\"INTERNAL\" \"Internal\""));
    CHECK(!strstr(rec_text(&r), "usage"));
    CHECK(!strstr(rec_text(&r), "end"));
    tw_buf_free(&r.out);
}

/* No input at all: the raw dialects end cleanly; an LLM dialect got no answer (truncated). */
TW_TEST(decoder_finish_alone_gives_end) {
    evrec r;
    for (int dl = 1; dl < TW_DIALECT__LAST; dl++) {
        tw_decoder *d = tw_decoder_new((tw_dialect)dl, NULL, NULL);
        int raw = dl == TW_DIALECT_SSE || dl == TW_DIALECT_NDJSON;
        memset(&r, 0, sizeof r);
        CHECK_EQ_INT(tw_decoder_finish(d, rec_event, &r, NULL), TW_OK);
        CHECK_EQ_INT(tw_decoder_finish(d, rec_event, &r, NULL), TW_OK); /* second: nothing */
        if (raw)
            CHECK_EQ_STR(rec_text(&r), r.out.len, "end\n");
        else
            CHECK_MSG(strncmp(rec_text(&r), "error truncated", 15) == 0, "%s", rec_text(&r));
        CHECK(tw_decoder_done(d));
        tw_decoder_free(d);
        tw_buf_free(&r.out);
    }
}

TW_TEST(decoder_callback_stop_keeps_the_rest) {
    const char *in = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"id\":\"x\"}"
                     "\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n"
                     "data: [DONE]\n\n";
    evrec r;
    tw_error err;
    tw_decoder *d = tw_decoder_new(TW_DIALECT_OPENAI, NULL, NULL);
    memset(&r, 0, sizeof r);
    r.stop_after = 2; /* start, text "a": stop there */
    CHECK_EQ_INT(tw_decoder_feed(d, in, strlen(in), rec_event, &r, &err), TW_ERR_CANCELLED);
    CHECK_EQ_INT(err.code, TW_ERR_CANCELLED);
    CHECK_EQ_STR(rec_text(&r), r.out.len, "start id=\"x\"\ntext 0 \"a\"\n");
    /* The unread input is kept: the next feed (even empty of new bytes) goes on with it. */
    r.stop_after = 0;
    CHECK_EQ_INT(tw_decoder_feed(d, "\n", 1, rec_event, &r, NULL), TW_OK);
    CHECK_EQ_STR(rec_text(&r), r.out.len, "start id=\"x\"\ntext 0 \"a\"\ntext 0 \"b\"\nend\n");
    tw_decoder_free(d);
    tw_buf_free(&r.out);
}

TW_TEST(decoder_oversized_event_is_a_protocol_error) {
    tw_decoder_opts o;
    tw_decoder *d;
    evrec r;
    tw_buf in;
    memset(&r, 0, sizeof r);
    tw_buf_init(&in);
    tw_decoder_opts_init(&o);
    o.max_event_size = 1000;
    d = tw_decoder_new(TW_DIALECT_OPENAI, &o, NULL);
    tw_buf_append(&in, "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"", 59);
    for (int i = 0; i < 2000; i++) tw_buf_append(&in, "x", 1);
    tw_buf_append(&in, "\"}}]}\n\n", 7);
    tw_buf_append(&in, "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}"
                       "\n\ndata: [DONE]\n\n",
                  82);
    CHECK_EQ_INT(tw_decoder_feed(d, in.data, in.len, rec_event, &r, NULL), TW_OK);
    CHECK_EQ_INT(tw_decoder_finish(d, rec_event, &r, NULL), TW_OK);
    CHECK(strncmp(rec_text(&r), "error protocol \"SSE event larger than max_event_size", 52) == 0);
    CHECK(strstr(rec_text(&r), "\nstart id=\"a\"\ntext 0 \"ok\"\nend\n") != NULL);
    tw_decoder_free(d);
    tw_buf_free(&in);
    tw_buf_free(&r.out);
}

typedef struct zc {
    const char *lo, *hi;
    int texts, inside;
} zc;

static int zc_event(void *ud, const tw_event *ev) {
    zc *z = ud;
    if (ev->type == TW_EV_TEXT) {
        z->texts++;
        if (ev->text.ptr >= z->lo && ev->text.ptr + ev->text.len <= z->hi) z->inside++;
    }
    return 0;
}

TW_TEST(decoder_text_is_zero_copy_from_the_input) {
    /* Events in the middle of a feed are parsed in place and unescaped strings are slices of
     * the caller's buffer: no copy anywhere on that path. */
    const char *in = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one\"}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"two\"}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"esc\\n\"}}]}\n\n"
                     ": padding comment so that the events above have 64 readable bytes after them\n"
                     "\n";
    size_t n = strlen(in);
    char *buf = malloc(n);
    zc z = {0, 0, 0, 0};
    tw_decoder *d = tw_decoder_new(TW_DIALECT_OPENAI, NULL, NULL);
    memcpy(buf, in, n);
    z.lo = buf;
    z.hi = buf + n;
    CHECK_EQ_INT(tw_decoder_feed(d, buf, n, zc_event, &z, NULL), TW_OK);
    CHECK_EQ_INT(z.texts, 3);
    CHECK_EQ_INT(z.inside, 2); /* "esc\n" had an escape: unescaped into the parser's buffer */
    tw_decoder_free(d);
    free(buf);
}

static void count_comment(void *ud, tw_str c) {
    (void)c;
    (*(int *)ud)++;
}

TW_TEST(decoder_passes_comments_and_repairs_utf8) {
    tw_decoder_opts o;
    tw_decoder *d;
    evrec r;
    int comments = 0;
    const char *in = ": OPENROUTER PROCESSING\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xC3\x28\"}}]}\n\n";
    memset(&r, 0, sizeof r);
    tw_decoder_opts_init(&o);
    o.on_comment = count_comment;
    o.comment_userdata = &comments;
    d = tw_decoder_new(TW_DIALECT_OPENAI, &o, NULL);
    CHECK_EQ_INT(tw_decoder_feed(d, in, strlen(in), rec_event, &r, NULL), TW_OK);
    CHECK_EQ_INT(comments, 1);
    /* The framing layer decodes invalid UTF-8 as U+FFFD: the text stays valid UTF-8. */
    CHECK(strstr(rec_text(&r), "text 0 \"caf\xEF\xBF\xBD(\"") != NULL);
    CHECK_EQ_INT(r.bad_utf8, 0);
    tw_decoder_free(d);
    tw_buf_free(&r.out);
}

TW_TEST(decoder_body_errors) {
    evrec r;
    tw_decoder *d;
    memset(&r, 0, sizeof r);
    /* Not JSON, with invalid UTF-8: a protocol error whose raw body is repaired. */
    d = tw_decoder_new(TW_DIALECT_OPENAI, NULL, NULL);
    CHECK_EQ_INT(tw_decoder_decode_body(d, "<html>\xFF</html>", 14, rec_event, &r, NULL), TW_OK);
    CHECK_EQ_STR(rec_text(&r), r.out.len,
                 "error protocol \"invalid JSON response body\" raw=\"<html>\xEF\xBF\xBD</html>\"\n");
    CHECK(tw_decoder_done(d));
    tw_decoder_free(d);
    /* A JSON array is not an Anthropic message. */
    d = tw_decoder_new(TW_DIALECT_ANTHROPIC, NULL, NULL);
    rec_reset(&r);
    CHECK_EQ_INT(tw_decoder_decode_body(d, "[1,2]", 5, rec_event, &r, NULL), TW_OK);
    CHECK_EQ_STR(rec_text(&r), r.out.len,
                 "error protocol \"invalid JSON response body\" raw=\"[1,2]\"\n");
    tw_decoder_free(d);
    /* Raw dialects frame the body like a stream. */
    d = tw_decoder_new(TW_DIALECT_NDJSON, NULL, NULL);
    rec_reset(&r);
    CHECK_EQ_INT(tw_decoder_decode_body(d, "{\"a\":1}\n{\"b\":2}", 15, rec_event, &r, NULL),
                 TW_OK);
    CHECK_EQ_STR(rec_text(&r), r.out.len, "raw \"{\\\"a\\\":1}\"\nraw \"{\\\"b\\\":2}\"\nend\n");
    tw_decoder_free(d);
    /* Ollama /api/generate non-streaming. */
    d = tw_decoder_new(TW_DIALECT_OLLAMA, NULL, NULL);
    rec_reset(&r);
    {
        const char *gen = "{\"model\":\"m\",\"response\":\"hi\",\"done\":true,"
                          "\"done_reason\":\"stop\",\"context\":[1,2,3],"
                          "\"prompt_eval_count\":3,\"eval_count\":1}";
        CHECK_EQ_INT(tw_decoder_decode_body(d, gen, strlen(gen), rec_event, &r, NULL), TW_OK);
    }
    CHECK_EQ_STR(rec_text(&r), r.out.len,
                 "start model=\"m\"\ntext 0 \"hi\"\nfinish 0 \"stop\"\nusage in=3 out=1 total=-1\n"
                 "end\n");
    tw_decoder_free(d);
    tw_buf_free(&r.out);
}

TW_TEST(decoder_rejects_bad_arguments) {
    tw_decoder *d = tw_decoder_new(TW_DIALECT_OPENAI, NULL, NULL);
    evrec r;
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(tw_decoder_feed(NULL, "x", 1, rec_event, &r, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_decoder_feed(d, NULL, 1, rec_event, &r, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_decoder_feed(d, "x", 1, NULL, &r, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_decoder_feed(d, NULL, 0, rec_event, &r, NULL), TW_OK);
    CHECK_EQ_INT(tw_decoder_finish(NULL, rec_event, &r, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_decoder_decode_body(d, NULL, 3, rec_event, &r, NULL), TW_ERR_INVALID_ARG);
    CHECK(!tw_decoder_done(NULL));
    tw_decoder_free(d);
    tw_decoder_free(NULL);
}

TW_TEST(error_body_message_per_provider) {
    tw_buf scratch;
    tw_str m;
    const char *openai = "{\"error\":{\"message\":\"Incorrect API key\",\"type\":"
                         "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";
    const char *anthropic = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                            "\"message\":\"Overloaded\"}}";
    const char *gemini = "[{\"error\":{\"code\":400,\"message\":\"API key not valid.\","
                         "\"status\":\"INVALID_ARGUMENT\"}}]";
    const char *ollama = "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}";
    const char *fastapi = "{\"detail\":\"Not authenticated\"}";
    tw_buf_init(&scratch);
    m = tw_error_body_message(openai, strlen(openai), &scratch);
    CHECK_EQ_STR(m.ptr, m.len, "Incorrect API key");
    CHECK(m.ptr > openai && m.ptr < openai + strlen(openai)); /* a slice of the body */
    m = tw_error_body_message(anthropic, strlen(anthropic), NULL);
    CHECK_EQ_STR(m.ptr, m.len, "Overloaded");
    m = tw_error_body_message(gemini, strlen(gemini), &scratch);
    CHECK_EQ_STR(m.ptr, m.len, "API key not valid.");
    m = tw_error_body_message(ollama, strlen(ollama), &scratch);
    CHECK_EQ_STR(m.ptr, m.len, "model \"x\" not found, try pulling it first");
    CHECK(m.ptr == scratch.data); /* escapes: an unescaped copy in scratch */
    m = tw_error_body_message(ollama, strlen(ollama), NULL);
    CHECK(m.ptr == NULL && m.len == 0); /* escapes and no scratch: nothing */
    m = tw_error_body_message(fastapi, strlen(fastapi), &scratch);
    CHECK_EQ_STR(m.ptr, m.len, "Not authenticated");
    m = tw_error_body_message("<html>502 Bad Gateway</html>", 28, &scratch);
    CHECK(m.ptr == NULL && m.len == 0);
    m = tw_error_body_message("{\"error\":{\"code\":5}}", 20, &scratch);
    CHECK(m.ptr == NULL && m.len == 0);
    m = tw_error_body_message(NULL, 0, &scratch);
    CHECK(m.ptr == NULL && m.len == 0);
    tw_buf_free(&scratch);
}

static void expect_one_protocol_error(tw_dialect dl, const char *payload, evrec *r) {
    char in[512];
    const char *got;
    int n;
    if (dl == TW_DIALECT_OLLAMA) n = snprintf(in, sizeof in, "%s\n", payload);
    else n = snprintf(in, sizeof in, "data: %s\n\n", payload);
    decode_with(dl, in, (size_t)n, 0, 0, r);
    got = rec_text(r);
    /* Then the input ends with no end marker and no finish: truncated. */
    CHECK_MSG(strstr(got, "error protocol \"invalid JSON in event data\" raw=") == got &&
                  strchr(got, '\n') &&
                  strncmp(strchr(got, '\n'), "\nerror truncated", 16) == 0,
              "dialect %d payload %s: not one protocol error then truncated:\n%s", (int)dl,
              payload, got);
}

TW_TEST(decoder_malformed_payloads_each_give_one_protocol_error) {
    /* Structure, UTF-8 and closure are checked for every payload, whatever the dialect (some of
     * these shapes were found by fuzzing). */
    static const char *bad[] = {
        "{\"type\":\"message_stop\"} x", /* trailing garbage: the root does not end with } */
        "{\"type\":\"message_stop\"}}",  /* unbalanced */
        "{\"type\":\"ping\"}{\"type\":\"ping\"}", /* two documents */
        "[1,2]",                          /* not an object */
        "\"text\"",                       /* scalar root */
        "42",
        "{\"a\":\"unterminated}",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "{",
        "}",
    };
    static const tw_dialect dls[] = {TW_DIALECT_OPENAI, TW_DIALECT_OPENAI_RESPONSES,
                                     TW_DIALECT_ANTHROPIC, TW_DIALECT_GEMINI, TW_DIALECT_OLLAMA};
    evrec r;
    memset(&r, 0, sizeof r);
    for (size_t k = 0; k < sizeof dls / sizeof dls[0]; k++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            expect_one_protocol_error(dls[k], bad[i], &r);
    /* Bad tokens in members the dialect reads. (Scalars inside members a dialect skips unread
     * are not validated: simdjson on-demand semantics, see tw_json.h.) */
    expect_one_protocol_error(TW_DIALECT_ANTHROPIC,
                              "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                              "\"text_delta\",\"text\":\"\\ud800\"}}",
                              &r);
    expect_one_protocol_error(TW_DIALECT_OPENAI,
                              "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],"
                              "\"model\":tru}",
                              &r);
    expect_one_protocol_error(TW_DIALECT_GEMINI,
                              "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\","
                              "\"thought\":nul}]}}]}",
                              &r);
    expect_one_protocol_error(TW_DIALECT_OLLAMA, "{\"model\":\"m\",\"eval_count\":12x}", &r);
    expect_one_protocol_error(TW_DIALECT_OPENAI_RESPONSES,
                              "{\"type\":\"response.output_text.delta\",\"delta\":\"\\q\"}", &r);
    tw_buf_free(&r.out);
}

/* Feeds a and b to two decoders sharing one JSON parser, alternating pieces of `step` bytes
 * (so each parse of one stream falls between partial events of the other), and records each
 * decoder's events apart. */
static void decode_pair_shared(tw_json *j, tw_dialect da, const char *a, tw_dialect db,
                               const char *b, size_t step, evrec *ra, evrec *rb) {
    tw_decoder_opts o;
    tw_decoder *d[2];
    const char *in[2] = {a, b};
    size_t len[2] = {strlen(a), strlen(b)}, pos[2] = {0, 0};
    evrec *r[2] = {ra, rb};
    tw_decoder_opts_init(&o);
    o.json = j;
    d[0] = tw_decoder_new(da, &o, NULL);
    d[1] = tw_decoder_new(db, &o, NULL);
    rec_reset(ra);
    rec_reset(rb);
    while (pos[0] < len[0] || pos[1] < len[1]) {
        for (int k = 0; k < 2; k++) {
            size_t n = len[k] - pos[k] < step ? len[k] - pos[k] : step;
            char *piece = malloc(n ? n : 1); /* a heap copy: ASan sees reads past the piece */
            memcpy(piece, in[k] + pos[k], n);
            CHECK_EQ_INT(tw_decoder_feed(d[k], piece, n, rec_event, r[k], NULL), TW_OK);
            free(piece);
            pos[k] += n;
        }
    }
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(tw_decoder_finish(d[k], rec_event, r[k], NULL), TW_OK);
        tw_decoder_free(d[k]);
    }
}

TW_TEST(decoders_sharing_a_parser_decode_as_alone) {
    /* The engine's decoders share their I/O thread's parser (tw_decoder_opts.json): two
     * streams' events interleaved through one parser, at every piece size from 1 to 64 bytes,
     * must decode exactly as each stream decoded alone, invalid JSON included. */
    static const struct {
        tw_dialect dl;
        const char *name;
    } caps[] = {{TW_DIALECT_OPENAI, "openai/tool_calls.sse"},
                {TW_DIALECT_ANTHROPIC, "anthropic/thinking_tool_use.sse"},
                {TW_DIALECT_OPENAI, "openai/invalid_json.sse"},
                {TW_DIALECT_ANTHROPIC, "anthropic/invalid_json_multiline.sse"}};
    char *text[4];
    evrec alone[4], ra, rb;
    tw_json *j = tw_json_new();
    memset(alone, 0, sizeof alone);
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    for (int i = 0; i < 4; i++) {
        char path[512];
        size_t n;
        snprintf(path, sizeof path, "%s/captures/%s", TW_TEST_DATA, caps[i].name);
        text[i] = tw_test_read_file(path, &n);
        decode_with(caps[i].dl, text[i], n, 0, 0, &alone[i]);
        CHECK(alone[i].n_events > 2);
    }
    for (size_t step = 1; step <= 64; step++) {
        for (int p = 0; p < 4; p += 2) {
            decode_pair_shared(j, caps[p].dl, text[p], caps[p + 1].dl, text[p + 1], step, &ra,
                               &rb);
            CHECK_MSG(strcmp(rec_text(&ra), rec_text(&alone[p])) == 0,
                      "%s with a shared parser, %zu-byte pieces:\n%s\nalone:\n%s", caps[p].name,
                      step, rec_text(&ra), rec_text(&alone[p]));
            CHECK_MSG(strcmp(rec_text(&rb), rec_text(&alone[p + 1])) == 0,
                      "%s with a shared parser, %zu-byte pieces:\n%s\nalone:\n%s",
                      caps[p + 1].name, step, rec_text(&rb), rec_text(&alone[p + 1]));
        }
    }
    for (int i = 0; i < 4; i++) {
        free(text[i]);
        tw_buf_free(&alone[i].out);
    }
    tw_buf_free(&ra.out);
    tw_buf_free(&rb.out);
    tw_json_free(j);
}
