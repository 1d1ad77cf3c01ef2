/*
 * test_encoder_messages.c - the encoders' one-message-per-event mode (tw_encoder_opts.messages),
 * what WebSocket relays send: each message whole, its length recorded, ids inside.
 */
#include "tokenwire.h"
#include "tw_test.h"

#include <stdlib.h>
#include <string.h>

static tw_event ev_of(tw_event_type t) {
    tw_event ev;
    tw_event_init(&ev);
    ev.type = t;
    return ev;
}

static tw_event text(const char *t) {
    tw_event ev = ev_of(TW_EV_TEXT);
    ev.text = (tw_str){t, strlen(t)};
    return ev;
}

/* The messages of an encoder after encode(evs) + finish, joined by "|" for checking. */
static char *run(tw_encoder *e, const tw_event *evs, size_t n, size_t *count) {
    tw_buf out, joined;
    const size_t *lens;
    size_t k, at = 0;
    tw_buf_init(&out);
    tw_buf_init(&joined);
    for (size_t i = 0; i < n; i++) CHECK_EQ_INT(tw_encoder_encode(e, &evs[i], &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_heartbeat(e, &out), TW_OK); /* nothing in messages mode */
    CHECK_EQ_INT(tw_encoder_finish(e, &out), TW_OK);
    lens = tw_encoder_message_lens(e, &k);
    for (size_t i = 0; i < k; i++) {
        if (i) tw_buf_append(&joined, "|", 1);
        tw_buf_append(&joined, out.data + at, lens[i]);
        at += lens[i];
    }
    CHECK_EQ_INT(at, out.len); /* the messages are all the bytes, back to back */
    tw_encoder_messages_clear(e);
    tw_encoder_message_lens(e, count ? count : &k);
    CHECK_EQ_INT(count ? *count : k, 0);
    if (count) *count = k;
    tw_buf_append(&joined, "", 1);
    tw_buf_free(&out);
    return joined.data; /* tw_buf data is malloc'd */
}

static tw_encoder_opts opts(const char *prefix) {
    tw_encoder_opts o;
    tw_encoder_opts_init(&o);
    o.messages = 1;
    o.event_id_prefix = prefix;
    return o;
}

TW_TEST(messages_ndjson_and_text) {
    tw_event evs[2] = {text("a\"b"), text("c")};
    tw_encoder_opts o = opts("s");
    tw_encoder *e = tw_encoder_new(TW_FORMAT_NDJSON, &o, NULL);
    char *m = run(e, evs, 2, NULL);
    CHECK_EQ_STR(m, strlen(m),
                 "{\"event_id\":\"s:0\",\"type\":\"text\",\"index\":0,\"text\":\"a\\\"b\"}|"
                 "{\"event_id\":\"s:1\",\"type\":\"text\",\"index\":0,\"text\":\"c\"}");
    free(m);
    tw_encoder_free(e);
    o = opts(NULL);
    e = tw_encoder_new(TW_FORMAT_TEXT, &o, NULL);
    m = run(e, evs, 2, NULL);
    CHECK_EQ_STR(m, strlen(m), "a\"b|c");
    free(m);
    tw_encoder_free(e);
}

TW_TEST(messages_sse_template_with_ids) {
    static const char spec[] =
        "{\"events\": {\"text\": {\"event\": \"agent_processing_update\", \"data\":"
        " {\"chunk\": \"{text}\", \"length\": \"{length}\"}}, \"start\": {\"data\": [1]}},"
        " \"finish\": {\"event\": \"agent_processing_complete\","
        " \"data\": {\"t\": \"{text_so_far}\"}}}";
    tw_event evs[3] = {ev_of(TW_EV_START), text("hé"), text("!")};
    tw_encoder_opts o = opts("p");
    tw_error err = {0};
    tw_encoder *e = tw_encoder_new_template(spec, strlen(spec), &o, &err);
    size_t n;
    char *m;
    CHECK_MSG(e != NULL, "%s", err.msg);
    if (!e) return;
    m = run(e, evs, 3, &n);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_STR(m, strlen(m),
                 "{\"id\":\"p:0\",\"data\":[1]}|"
                 "{\"event\":\"agent_processing_update\",\"id\":\"p:1\","
                 "\"data\":{\"chunk\":\"hé\","
                 "\"length\":3}}|"
                 "{\"event\":\"agent_processing_update\",\"id\":\"p:2\",\"data\":{\"chunk\":\"!\","
                 "\"length\":4}}|"
                 "{\"event\":\"agent_processing_complete\",\"id\":\"p:3\","
                 "\"data\":{\"t\":\"hé!\"}}");
    free(m);
    tw_encoder_free(e);
}

TW_TEST(messages_openai_events_and_comments) {
    tw_event evs[3] = {text("hi"), ev_of(TW_EV_ERROR), ev_of(TW_EV_FINISH)};
    tw_encoder_opts o = opts(NULL);
    tw_encoder *e;
    char *m, *last;
    size_t n;
    evs[1].error_kind = TW_KIND_PROTOCOL;
    evs[1].recoverable = 1; /* openai carries it as an SSE comment: no message */
    evs[1].text = (tw_str){"bad line", 8};
    evs[2].reason = (tw_str){"stop", 4};
    o.id = "c1";
    o.model = "m";
    e = tw_encoder_new(TW_FORMAT_OPENAI, &o, NULL);
    m = run(e, evs, 3, &n);
    CHECK_MSG(!strstr(m, "bad line"), "%s", m);
    CHECK_MSG(!strncmp(m, "{\"data\":{\"id\":\"c1\",\"object\":\"chat.completion.chunk\"", 50),
              "%s", m);
    last = strrchr(m, '|');
    CHECK_MSG(last && !strcmp(last, "|{\"data\":\"[DONE]\"}"), "%s", m);
    CHECK(n >= 3);
    free(m);
    tw_encoder_free(e);
    o.id = o.model = NULL;
    e = tw_encoder_new(TW_FORMAT_EVENTS, &o, NULL);
    evs[1].recoverable = 0;
    m = run(e, evs, 2, &n);
    CHECK_MSG(!strncmp(m, "{\"event\":\"agent_start\",\"data\":{", 31), "%s", m);
    CHECK_MSG(strstr(m, "|{\"event\":\"agent_chunk\",\"data\":{") != NULL, "%s", m);
    CHECK_MSG(strstr(m, "|{\"event\":\"error\",\"data\":{") != NULL, "%s", m);
    CHECK_MSG(strstr(m, "|{\"event\":\"complete\",\"data\":{") != NULL, "%s", m);
    free(m);
    tw_encoder_free(e);
}

TW_TEST(messages_a_failed_call_records_nothing) {
    tw_event ev = text("x");
    tw_encoder_opts o = opts(NULL);
    tw_encoder *e = tw_encoder_new(TW_FORMAT_NDJSON, &o, NULL);
    tw_buf out;
    size_t n;
    tw_buf_init(&out);
    CHECK_EQ_INT(tw_encoder_encode(e, &ev, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &ev, &out), TW_ERR_CLOSED);
    tw_encoder_message_lens(e, &n);
    CHECK_EQ_INT(n, 1);
    CHECK(tw_encoder_message_lens(NULL, &n) == NULL && n == 0);
    tw_encoder_messages_clear(NULL);
    tw_buf_free(&out);
    tw_encoder_free(e);
    /* Off by default: the byte stream, nothing recorded. */
    e = tw_encoder_new(TW_FORMAT_NDJSON, NULL, NULL);
    tw_buf_init(&out);
    CHECK_EQ_INT(tw_encoder_encode(e, &ev, &out), TW_OK);
    CHECK(tw_encoder_message_lens(e, &n) == NULL && n == 0);
    CHECK(out.len && out.data[out.len - 1] == '\n');
    tw_buf_free(&out);
    tw_encoder_free(e);
}
