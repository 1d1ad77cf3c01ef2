/*
 * test_encoder_phases.c - app events (tw_encoder_send / progress) through every format, relays
 * of several phases with one end (tw_encoder_opts.phases, tw_encoder_close), event ids across
 * phases, templates' "app" entries, and the errors.
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

#define S(lit) lit, sizeof(lit) - 1

static tw_encoder *enc(tw_format f, int phases, const char *ids) {
    tw_encoder_opts o;
    tw_encoder *e;
    tw_encoder_opts_init(&o);
    o.phases = phases;
    o.event_id_prefix = ids;
    o.id = "m1";
    e = tw_encoder_new(f, &o, NULL);
    CHECK(e != NULL);
    return e;
}

static void out_is(tw_buf *out, const char *want) {
    if (getenv("TW_DEBUG")) fprintf(stderr, "[%.*s]\n", (int)out->len, out->data);
    CHECK_EQ_STR(out->data, out->len, want);
    out->len = 0;
}

/* One relay in two phases with app events around them, per format. */
static void two_phases(tw_encoder *e, tw_buf *out) {
    tw_event t1 = text("Hi"), t2 = text("Yo"), end = ev_of(TW_EV_END);
    CHECK_EQ_INT(tw_encoder_send(e, S("status"), S("{\"state\": \"thinking\"}"), out, NULL),
                 TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &t1, out), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &end, out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, out), TW_OK); /* the phase's end */
    CHECK_EQ_INT(tw_encoder_progress(e, 0.5, S("drafting"), out, NULL), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &t2, out), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &end, out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, out), TW_OK);
    CHECK_EQ_INT(tw_encoder_close(e, S("complete"), S("{\"response\":\"HiYo\"}"), out, NULL),
                 TW_OK);
}

TW_TEST(phases_events_one_complete_no_phantom_agent) {
    tw_encoder *e = enc(TW_FORMAT_EVENTS, 1, NULL);
    tw_buf out;
    tw_buf_init(&out);
    two_phases(e, &out);
    out_is(&out,
           "event: status\ndata: {\"state\":\"thinking\"}\n\n"
           "event: agent_start\ndata: {\"agent\":\"default\"}\n\n"
           "event: agent_chunk\ndata: {\"agent\":\"default\",\"type\":\"text\",\"index\":0,"
           "\"text\":\"Hi\"}\n\n"
           "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"ok\"}\n\n"
           "event: progress\ndata: {\"progress\":0.5,\"status\":\"drafting\"}\n\n"
           "event: agent_start\ndata: {\"agent\":\"default\"}\n\n"
           "event: agent_chunk\ndata: {\"agent\":\"default\",\"type\":\"text\",\"index\":0,"
           "\"text\":\"Yo\"}\n\n"
           "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"ok\"}\n\n"
           "event: complete\ndata: {\"response\":\"HiYo\"}\n\n");
    /* Closed: nothing more, typed errors. */
    CHECK_EQ_INT(tw_encoder_send(e, S("x"), S("1"), &out, NULL), TW_ERR_CLOSED);
    CHECK_EQ_INT(tw_encoder_close(e, NULL, 0, NULL, 0, &out, NULL), TW_ERR_CLOSED);
    CHECK_EQ_INT(out.len, 0);
    tw_encoder_free(e);
    tw_buf_free(&out);
}

TW_TEST(phases_events_default_complete_and_sourceless_progress) {
    tw_encoder *e = enc(TW_FORMAT_EVENTS, 1, NULL);
    tw_event p = ev_of(TW_EV_PROGRESS);
    tw_buf out;
    tw_buf_init(&out);
    p.text = (tw_str){"setup", 5};
    CHECK_EQ_INT(tw_encoder_encode(e, &p, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_close(e, NULL, 0, NULL, 0, &out, NULL), TW_OK);
    out_is(&out, "event: progress\ndata: {\"text\":\"setup\"}\n\n"
                 "event: complete\ndata: {\"agents\":0,\"errors\":0}\n\n");
    tw_encoder_free(e);
    tw_buf_free(&out);
}

TW_TEST(phases_openai_done_once_ids_continue) {
    tw_encoder *e = enc(TW_FORMAT_OPENAI, 1, "r");
    tw_buf out;
    const char *p, *done;
    tw_buf_init(&out);
    two_phases(e, &out);
    tw_buf_append(&out, "", 1);
    /* One [DONE], last; app events named, ids 0..N-1 in order across the phases. */
    done = strstr(out.data, "data: [DONE]");
    CHECK(done && !strstr(done + 12, "[DONE]") && strcmp(done, "data: [DONE]\n\n") == 0);
    CHECK(strncmp(out.data, "id: r:0\nevent: status\ndata: {\"state\":\"thinking\"}\n\n",
                  strlen("id: r:0\nevent: status\ndata: {\"state\":\"thinking\"}\n\n")) == 0);
    p = strstr(out.data, "event: progress\ndata: {\"progress\":0.5,\"status\":\"drafting\"}");
    CHECK(p && strncmp(p - 8, "id: r:2\n", 8) == 0);
    p = strstr(out.data, "event: complete\ndata: {\"response\":\"HiYo\"}\n\nid: r:5\ndata: [DONE]");
    CHECK(p && strncmp(p - 8, "id: r:4\n", 8) == 0);
    CHECK_EQ_INT(tw_encoder_next_event_seq(e), 6);
    tw_encoder_free(e);
    tw_buf_free(&out);
}

TW_TEST(phases_ai_sdk_one_step_per_phase_one_finish) {
    tw_encoder *e = enc(TW_FORMAT_AI_SDK, 1, NULL);
    tw_buf out;
    tw_buf_init(&out);
    two_phases(e, &out);
    out_is(&out,
           "data: {\"type\":\"start\",\"messageId\":\"m1\"}\n\n"
           "data: {\"type\":\"data-status\",\"data\":{\"state\":\"thinking\"}}\n\n"
           "data: {\"type\":\"start-step\"}\n\n"
           "data: {\"type\":\"text-start\",\"id\":\"txt_0\"}\n\n"
           "data: {\"type\":\"text-delta\",\"id\":\"txt_0\",\"delta\":\"Hi\"}\n\n"
           "data: {\"type\":\"text-end\",\"id\":\"txt_0\"}\n\n"
           "data: {\"type\":\"finish-step\"}\n\n"
           "data: {\"type\":\"data-progress\",\"data\":{\"progress\":0.5,\"status\":"
           "\"drafting\"},\"transient\":true}\n\n"
           "data: {\"type\":\"start-step\"}\n\n"
           "data: {\"type\":\"text-start\",\"id\":\"txt_1\"}\n\n"
           "data: {\"type\":\"text-delta\",\"id\":\"txt_1\",\"delta\":\"Yo\"}\n\n"
           "data: {\"type\":\"text-end\",\"id\":\"txt_1\"}\n\n"
           "data: {\"type\":\"finish-step\"}\n\n"
           "data: {\"type\":\"data-complete\",\"data\":{\"response\":\"HiYo\"}}\n\n"
           "data: {\"type\":\"finish\"}\n\n"
           "data: [DONE]\n\n");
    tw_encoder_free(e);
    tw_buf_free(&out);
}

TW_TEST(phases_ndjson_and_text) {
    tw_encoder *e = enc(TW_FORMAT_NDJSON, 1, "n");
    tw_buf out;
    tw_buf_init(&out);
    two_phases(e, &out);
    out_is(&out,
           "{\"event_id\":\"n:0\",\"event\":\"status\",\"data\":{\"state\":\"thinking\"}}\n"
           "{\"event_id\":\"n:1\",\"type\":\"text\",\"index\":0,\"text\":\"Hi\"}\n"
           "{\"event_id\":\"n:2\",\"type\":\"end\"}\n"
           "{\"event_id\":\"n:3\",\"event\":\"progress\",\"data\":{\"progress\":0.5,"
           "\"status\":\"drafting\"}}\n"
           "{\"event_id\":\"n:4\",\"type\":\"text\",\"index\":0,\"text\":\"Yo\"}\n"
           "{\"event_id\":\"n:5\",\"type\":\"end\"}\n"
           "{\"event_id\":\"n:6\",\"event\":\"complete\",\"data\":{\"response\":\"HiYo\"}}\n");
    tw_encoder_free(e);
    e = enc(TW_FORMAT_TEXT, 1, NULL);
    two_phases(e, &out);
    out_is(&out, "HiYo");
    tw_encoder_free(e);
    tw_buf_free(&out);
}

/* Without phases, finish still ends the relay (single-source relays unchanged), and app
 * events before it are fine. */
TW_TEST(phases_off_finish_is_the_end) {
    tw_encoder *e = enc(TW_FORMAT_EVENTS, 0, NULL);
    tw_event t1 = text("a");
    tw_buf out;
    tw_buf_init(&out);
    CHECK_EQ_INT(tw_encoder_send(e, S("status"), S("\"go\""), &out, NULL), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &t1, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, &out), TW_OK);
    out_is(&out, "event: status\ndata: \"go\"\n\n"
                 "event: agent_start\ndata: {\"agent\":\"default\"}\n\n"
                 "event: agent_chunk\ndata: {\"agent\":\"default\",\"type\":\"text\",\"index\":0,"
                 "\"text\":\"a\"}\n\n"
                 "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"incomplete\"}"
                 "\n\nevent: complete\ndata: {\"agents\":1,\"errors\":0}\n\n");
    CHECK_EQ_INT(tw_encoder_encode(e, &t1, &out), TW_ERR_CLOSED);
    CHECK_EQ_INT(tw_encoder_send(e, S("x"), S("1"), &out, NULL), TW_ERR_CLOSED);
    tw_encoder_free(e);
    /* close on a single-source encoder is finish with the app's final event. */
    e = enc(TW_FORMAT_OPENAI, 0, NULL);
    CHECK_EQ_INT(tw_encoder_close(e, S("bye"), S("{}"), &out, NULL), TW_OK);
    out_is(&out, "event: bye\ndata: {}\n\ndata: [DONE]\n\n");
    tw_encoder_free(e);
    tw_buf_free(&out);
}

TW_TEST(phases_app_event_errors) {
    tw_encoder *e = enc(TW_FORMAT_EVENTS, 1, NULL);
    tw_buf out;
    tw_error err = {0};
    tw_buf_init(&out);
    CHECK_EQ_INT(tw_encoder_send(e, S("x"), S("{\"a\":"), &out, &err), TW_ERR_JSON);
    CHECK(strstr(err.msg, "not one JSON value") != NULL);
    CHECK_EQ_INT(tw_encoder_send(e, S("x"), S("1 2"), &out, NULL), TW_ERR_JSON);
    CHECK_EQ_INT(tw_encoder_send(e, S("x"), "", 0, &out, NULL), TW_ERR_JSON);
    CHECK_EQ_INT(tw_encoder_send(e, S("a\nevent: b"), S("1"), &out, &err), TW_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "control") != NULL);
    CHECK_EQ_INT(tw_encoder_send(e, "", 0, S("1"), &out, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_encoder_send(e, NULL, 0, S("1"), &out, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_encoder_send(e, S("\xff"), S("1"), &out, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_encoder_progress(e, 1.5, NULL, 0, &out, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_encoder_progress(e, -0.1, NULL, 0, &out, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_encoder_progress(e, 0.0 / 0.0, NULL, 0, &out, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_encoder_close(e, S("x"), S("nope"), &out, NULL), TW_ERR_JSON);
    CHECK_EQ_INT(out.len, 0); /* nothing written by a refused call */
    /* Still open after the refused close; a payload with whitespace and U+2028 is compacted
     * onto one line. */
    CHECK_EQ_INT(tw_encoder_send(e, S("x"), S("{ \"a\" :\n [1, \"\xe2\x80\xa8\"] }"), &out, NULL),
                 TW_OK);
    out_is(&out, "event: x\ndata: {\"a\":[1,\"\\u2028\"]}\n\n");
    CHECK_EQ_INT(tw_encoder_progress(e, 0.1, NULL, 0, &out, NULL), TW_OK);
    out_is(&out, "event: progress\ndata: {\"progress\":0.1}\n\n");
    tw_encoder_free(e);
    tw_buf_free(&out);
}

TW_TEST(phases_messages_mode) {
    tw_encoder_opts o;
    tw_encoder *e;
    tw_buf out;
    const size_t *lens;
    size_t n;
    tw_buf_init(&out);
    tw_encoder_opts_init(&o);
    o.phases = o.messages = 1;
    o.event_id_prefix = "w";
    e = tw_encoder_new(TW_FORMAT_EVENTS, &o, NULL);
    CHECK_EQ_INT(tw_encoder_send(e, S("status"), S("{\"s\":1}"), &out, NULL), TW_OK);
    CHECK_EQ_INT(tw_encoder_close(e, S("complete"), S("[]"), &out, NULL), TW_OK);
    lens = tw_encoder_message_lens(e, &n);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_STR(out.data, lens[0], "{\"event\":\"status\",\"id\":\"w:0\",\"data\":{\"s\":1}}");
        CHECK_EQ_STR(out.data + lens[0], lens[1],
                     "{\"event\":\"complete\",\"id\":\"w:1\",\"data\":[]}");
    }
    tw_encoder_free(e);
    tw_buf_free(&out);
}

static const char spec[] =
    "{\"framing\":\"ndjson\",\"constants\":{\"agent\":\"bot\"},"
    "\"events\":{\"text\":{\"data\":{\"type\":\"chat\",\"content\":\"{text}\"}}},"
    "\"app\":{\"status\":{\"data\":{\"type\":\"status\",\"state\":\"{payload.state}\","
    "\"note\":\"{name}: {payload.state} ({payload.n})\",\"missing\":\"{payload.nope}\"}},"
    "\"done\":{\"data\":{\"type\":\"done\",\"text\":\"{text_so_far}\",\"usage\":\"{usage}\","
    "\"meta\":\"{payload}\",\"agent\":\"{constants.agent}\"}},"
    "\"secret\":null},"
    "\"finish\":{\"data\":{\"type\":\"end\"}}}";

TW_TEST(phases_template_app_entries) {
    tw_encoder_opts o;
    tw_encoder *e, *copy;
    tw_event t1 = text("Hi"), u = ev_of(TW_EV_USAGE);
    tw_buf out;
    tw_error err = {0};
    tw_buf_init(&out);
    tw_encoder_opts_init(&o);
    o.phases = 1;
    e = tw_encoder_new_template(spec, sizeof spec - 1, &o, &err);
    CHECK_MSG(e != NULL, "%s", err.msg);
    if (!e) return;
    copy = tw_encoder_new_like(e, &o, NULL); /* the app entries are copied too */
    CHECK(copy != NULL);
    tw_encoder_free(e);
    e = copy;
    u.input_tokens = 3;
    u.output_tokens = 2;
    CHECK_EQ_INT(tw_encoder_send(e, S("status"), S("{\"n\":7,\"state\":\"thinking\"}"), &out,
                                 NULL), TW_OK);
    CHECK_EQ_INT(tw_encoder_send(e, S("secret"), S("1"), &out, NULL), TW_OK); /* dropped */
    CHECK_EQ_INT(tw_encoder_send(e, S("other"), S("[1]"), &out, NULL), TW_OK); /* passed */
    CHECK_EQ_INT(tw_encoder_encode(e, &t1, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &u, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(e, &out), TW_OK); /* a phase: no "end" line */
    CHECK_EQ_INT(tw_encoder_encode(e, &t1, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_close(e, S("done"), S("{\"k\":true}"), &out, NULL), TW_OK);
    out_is(&out,
           "{\"type\":\"status\",\"state\":\"thinking\",\"note\":\"status: thinking (7)\","
           "\"missing\":null}\n"
           "{\"event\":\"other\",\"data\":[1]}\n"
           "{\"type\":\"chat\",\"content\":\"Hi\"}\n"
           "{\"type\":\"chat\",\"content\":\"Hi\"}\n"
           "{\"type\":\"done\",\"text\":\"HiHi\",\"usage\":{\"input_tokens\":3,"
           "\"output_tokens\":2,\"total_tokens\":5},\"meta\":{\"k\":true},"
           "\"agent\":\"bot\"}\n");
    tw_encoder_free(e);
    /* close without a final event: the spec's "finish" entry. */
    e = tw_encoder_new_template(spec, sizeof spec - 1, &o, NULL);
    CHECK_EQ_INT(tw_encoder_close(e, NULL, 0, NULL, 0, &out, NULL), TW_OK);
    out_is(&out, "{\"type\":\"end\"}\n");
    tw_encoder_free(e);
    tw_buf_free(&out);
}

TW_TEST(phases_template_star_and_sse_passthrough) {
    static const char drop_all[] = "{\"app\":{\"*\":null,\"keep\":{\"event\":\"k\",\"data\":"
                                   "{\"v\":\"{payload.v}\",\"t\":\"{type}\"}}}}";
    static const char bad[] = "{\"app\":{\"x\":{\"data\":\"{payload}{nope}\"}}}";
    tw_encoder *e = tw_encoder_new_template(drop_all, sizeof drop_all - 1, NULL, NULL);
    tw_buf out;
    tw_error err = {0};
    tw_buf_init(&out);
    CHECK(e != NULL);
    CHECK_EQ_INT(tw_encoder_send(e, S("other"), S("1"), &out, NULL), TW_OK);
    CHECK_EQ_INT(tw_encoder_send(e, S("keep"), S("{\"v\":{\"a\":[1]}}"), &out, NULL), TW_OK);
    out_is(&out, "event: k\ndata: {\"v\":{\"a\":[1]},\"t\":\"app\"}\n\n");
    tw_encoder_free(e);
    e = tw_encoder_new_template(S("{}"), NULL, NULL);
    CHECK_EQ_INT(tw_encoder_send(e, S("s"), S("2"), &out, NULL), TW_OK);
    out_is(&out, "event: s\ndata: 2\n\n");
    tw_encoder_free(e);
    CHECK(tw_encoder_new_template(bad, sizeof bad - 1, NULL, &err) == NULL);
    CHECK(strstr(err.msg, "unknown slot") != NULL);
    CHECK(tw_encoder_new_template(S("{\"app\":[]}"), NULL, &err) == NULL);
    CHECK(strstr(err.msg, "\"app\" is an object") != NULL);
    tw_buf_free(&out);
}
