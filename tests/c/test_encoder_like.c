/*
 * test_encoder_like.c - tw_encoder_new_like: a template compiled once, copied per relay with
 * its own per-stream state and options.
 */
#include "tokenwire.h"
#include "tw_test.h"

#include <string.h>

#define S(lit) ((tw_str){(lit), sizeof(lit) - 1})

static tw_event text(const char *t) {
    tw_event ev;
    tw_event_init(&ev);
    ev.type = TW_EV_TEXT;
    ev.text = (tw_str){t, strlen(t)};
    return ev;
}

TW_TEST(encoder_like_copies_a_template_with_fresh_state) {
    static const char spec[] =
        "{\"constants\": {\"agent\": \"r\"}, \"events\": {\"text\": {\"event\": \"u\","
        " \"data\": {\"a\": \"{constants.agent}\", \"so\": \"{text_so_far}\", \"n\": \"{seq}\"}}},"
        " \"finish\": {\"event\": \"done\", \"data\": {\"len\": \"{length}\"}}}";
    tw_error err = {0};
    tw_encoder *proto = tw_encoder_new_template(spec, strlen(spec), NULL, &err), *a, *b;
    tw_encoder_opts o;
    tw_event ev = text("hi");
    tw_buf out;
    CHECK_MSG(proto != NULL, "%s", err.msg);
    if (!proto) return;
    tw_encoder_opts_init(&o);
    o.event_id_prefix = "s";
    o.first_event_seq = 5;
    a = tw_encoder_new_like(proto, NULL, &err);
    b = tw_encoder_new_like(proto, &o, &err);
    CHECK(a && b);
    tw_buf_init(&out);
    CHECK_EQ_INT(tw_encoder_encode(a, &ev, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(a, &ev, &out), TW_OK);
    CHECK_EQ_INT(tw_encoder_finish(a, &out), TW_OK);
    CHECK_EQ_STR(out.data, out.len,
                 "event: u\ndata: {\"a\":\"r\",\"so\":\"hi\",\"n\":0}\n\n"
                 "event: u\ndata: {\"a\":\"r\",\"so\":\"hihi\",\"n\":1}\n\n"
                 "event: done\ndata: {\"len\":4}\n\n");
    out.len = 0;
    /* b starts anew (seq, text so far) and carries its own options. */
    CHECK_EQ_INT(tw_encoder_encode(b, &ev, &out), TW_OK);
    CHECK_EQ_STR(out.data, out.len,
                 "id: s:5\nevent: u\ndata: {\"a\":\"r\",\"so\":\"hi\",\"n\":0}\n\n");
    CHECK(tw_encoder_headers(b) == tw_encoder_headers(proto));
    tw_encoder_free(a);
    tw_encoder_free(b);
    /* The prototype itself was never touched: a copy made now starts at seq 0 too. */
    a = tw_encoder_new_like(proto, NULL, NULL);
    out.len = 0;
    CHECK_EQ_INT(tw_encoder_encode(a, &ev, &out), TW_OK);
    CHECK_EQ_STR(out.data, out.len, "event: u\ndata: {\"a\":\"r\",\"so\":\"hi\",\"n\":0}\n\n");
    tw_encoder_free(a);
    tw_encoder_free(proto);
    tw_buf_free(&out);
}

TW_TEST(encoder_like_builtin_and_errors) {
    tw_error err = {0};
    tw_encoder *proto = tw_encoder_new(TW_FORMAT_NDJSON, NULL, NULL), *e;
    tw_encoder_opts o;
    tw_event ev = text("x");
    tw_buf out;
    tw_buf_init(&out);
    e = tw_encoder_new_like(proto, NULL, NULL);
    CHECK(e != NULL);
    CHECK_EQ_INT(tw_encoder_encode(e, &ev, &out), TW_OK);
    CHECK_EQ_STR(out.data, out.len, "{\"type\":\"text\",\"index\":0,\"text\":\"x\"}\n");
    tw_encoder_free(e);
    CHECK(tw_encoder_new_like(NULL, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    tw_encoder_opts_init(&o);
    o.event_id_prefix = "a\nb"; /* the options are checked as for tw_encoder_new */
    CHECK(tw_encoder_new_like(proto, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    tw_encoder_free(proto);
    tw_buf_free(&out);
    (void)S("");
}

TW_TEST(template_errors_always_carry_a_message) {
    static const char *const bad[] = {
        "{\"events\": {\"text\": {\"data\": 1}", /* cut short: pass 2 cannot start */
        "{\"constants\": 5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tw_error err;
        memset(&err, 0xff, sizeof err); /* whatever the caller's err held before */
        CHECK(tw_encoder_new_template(bad[i], strlen(bad[i]), NULL, &err) == NULL);
        CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
        CHECK_MSG(!strncmp(err.msg, "template: ", 10), "%s -> %.128s", bad[i], err.msg);
    }
}

TW_TEST(template_constants_per_stream) {
    static const char spec[] =
        "{\"constants\": {\"agent\": \"default\", \"task\": null},"
        " \"events\": {\"text\": {\"event\": \"u\", \"data\": {\"a\": \"{constants.agent}\","
        " \"t\": \"{constants.task}\", \"s\": \"task {constants.task} of {constants.agent}\"}}}}";
    tw_error err = {0};
    tw_encoder *proto = tw_encoder_new_template(spec, strlen(spec), NULL, &err), *e;
    tw_event ev = text("x");
    tw_buf out;
    CHECK_MSG(proto != NULL, "%s", err.msg);
    if (!proto) return;
    e = tw_encoder_new_like(proto, NULL, NULL);
    tw_buf_init(&out);
    CHECK_EQ_INT(tw_encoder_set_constant(e, "agent", 5, "\"writer\"", 8, &err), TW_OK);
    CHECK_EQ_INT(tw_encoder_set_constant(e, "task", 4, " { \"id\" : 7 } ", 14, &err), TW_OK);
    CHECK_EQ_INT(tw_encoder_encode(e, &ev, &out), TW_OK);
    CHECK_EQ_STR(out.data, out.len,
                 "event: u\ndata: {\"a\":\"writer\",\"t\":{\"id\":7},"
                 "\"s\":\"task {\\\"id\\\":7} of writer\"}\n\n");
    tw_encoder_free(e);
    /* The prototype keeps its defaults. */
    e = tw_encoder_new_like(proto, NULL, NULL);
    out.len = 0;
    CHECK_EQ_INT(tw_encoder_encode(e, &ev, &out), TW_OK);
    CHECK_EQ_STR(out.data, out.len,
                 "event: u\ndata: {\"a\":\"default\",\"t\":null,"
                 "\"s\":\"task null of default\"}\n\n");
    CHECK_EQ_INT(tw_encoder_set_constant(e, "nope", 4, "1", 1, &err), TW_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "unknown constant \"nope\"") != NULL, "%s", err.msg);
    CHECK_EQ_INT(tw_encoder_set_constant(e, "task", 4, "{", 1, &err), TW_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "not one JSON value") != NULL, "%s", err.msg);
    CHECK_EQ_INT(tw_encoder_set_constant(e, "task", 4, "1 2", 3, &err), TW_ERR_INVALID_ARG);
    tw_encoder_free(e);
    e = tw_encoder_new(TW_FORMAT_EVENTS, NULL, NULL);
    CHECK_EQ_INT(tw_encoder_set_constant(e, "agent", 5, "1", 1, &err), TW_ERR_INVALID_ARG);
    tw_encoder_free(e);
    tw_encoder_free(proto);
    tw_buf_free(&out);
}
