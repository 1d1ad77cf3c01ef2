/* test_engine_fallback.c - tw_request_opts.fallback: the next request takes over when one
 * fails before the stream's first token (HTTP error, refused connection, provider error,
 * first-token timeout, a body that is not an event stream), the consumer sees only the
 * winner's events, and a failure after the first token ends the stream as before. */
#include "test_engine_util.h"
#include "tw_test.h"

#include <string.h>

/* Everything taken from one stream: the starts (their ids), the text, the terminal. */
typedef struct fb_run {
    int starts;
    char first_start_id[64];
    te_result r;
    tw_metrics m;
} fb_run;

static void fb_drain(tw_engine *e, const tw_request_opts *o, fb_run *out) {
    tw_error err;
    tw_stream *s = tw_engine_start(e, o, &err);
    memset(out, 0, sizeof *out);
    CHECK_MSG(s != NULL, "start failed: %s", err.msg);
    if (!s) return;
    for (;;) {
        tw_batch *b;
        int done = 0;
        if (tw_stream_wait(s, 20000) != TW_OK) break;
        b = tw_stream_take(s);
        for (size_t i = 0; b && i < tw_batch_count(b); i++) {
            const tw_event *ev = tw_batch_get(b, i);
            out->r.events++;
            out->r.last = ev->type;
            if (ev->type == TW_EV_START && out->starts++ == 0)
                snprintf(out->first_start_id, sizeof out->first_start_id, "%.*s",
                         (int)ev->id.len, ev->id.ptr ? ev->id.ptr : "");
            if (ev->type == TW_EV_TEXT && ev->index == 0) {
                tw_buf_append(&out->r.text, ev->text.ptr, ev->text.len);
                out->r.text_events++;
            }
            if (tw_event_is_terminal(ev)) {
                out->r.terminals++;
                out->r.kind = ev->error_kind;
                tw_buf_append(&out->r.msg, ev->text.ptr ? ev->text.ptr : "", ev->text.len);
                done = 1;
            }
        }
        tw_batch_free(b);
        if (done) break;
    }
    tw_stream_get_metrics(s, &out->m);
    CHECK(tw_stream_finished(s));
    tw_stream_release(s);
}

static void fb_free(fb_run *f) { te_result_free(&f->r); }

/* 500 from OpenAI (no retries), then Anthropic: the Anthropic answer, nothing of the first. */
TW_TEST(engine_fallback_http_error_then_other_dialect) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char u1[512], u2[512];
    tw_request_opts a, b;
    fb_run f;
    char *want = tw_mock_expected_text(12, NULL);
    te_url(u1, mk, "/v1/chat/completions?fault=500");
    te_url(u2, mk, "/v1/messages?chunks=12");
    te_opts(&a, u1, TW_DIALECT_OPENAI);
    a.max_retries = 0;
    te_opts(&b, u2, TW_DIALECT_ANTHROPIC);
    a.fallback = &b;
    fb_drain(e, &a, &f);
    CHECK_EQ_INT(f.r.terminals, 1);
    CHECK_EQ_INT(f.r.last, TW_EV_END);
    CHECK_EQ_STR(f.r.text.data, f.r.text.len, want);
    CHECK_EQ_INT(f.m.fallback_index, 1);
    CHECK_EQ_INT(f.m.http_status, 200);
    CHECK_EQ_INT(f.starts, 1);
    CHECK_MSG(!strncmp(f.first_start_id, "msg_", 4), "start id %s", f.first_start_id);
    fb_free(&f);
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Three requests: a refused connection, a provider error after the start event (held back,
 * never seen), then an answer. */
TW_TEST(engine_fallback_chain_of_three) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char u1[512], u2[512], u3[512];
    tw_request_opts a, b, c;
    fb_run f;
    char *want = tw_mock_expected_text(7, NULL);
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/v1/chat/completions", te_unused_port());
    te_url(u2, mk, "/v1/messages?fault=provider_error&fault_after=0");
    te_url(u3, mk, "/v1/chat/completions?chunks=7");
    te_opts(&a, u1, TW_DIALECT_OPENAI);
    a.max_retries = 0;
    te_opts(&b, u2, TW_DIALECT_ANTHROPIC);
    te_opts(&c, u3, TW_DIALECT_OPENAI);
    a.fallback = &b;
    b.fallback = &c;
    fb_drain(e, &a, &f);
    CHECK_EQ_INT(f.r.last, TW_EV_END);
    CHECK_EQ_STR(f.r.text.data, f.r.text.len, want);
    CHECK_EQ_INT(f.m.fallback_index, 2);
    CHECK_EQ_INT(f.starts, 1);
    CHECK_MSG(strncmp(f.first_start_id, "msg_", 4) != 0, "the failed request's start leaked");
    fb_free(&f);
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* A first request that never sends a token within first_token_timeout: the fallback wins. */
TW_TEST(engine_fallback_first_token_timeout) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char u1[512], u2[512];
    tw_request_opts a, b;
    fb_run f;
    char *want = tw_mock_expected_text(5, NULL);
    te_url(u1, mk, "/v1/chat/completions?fault=stall&fault_after=0");
    te_url(u2, mk, "/v1/chat/completions?chunks=5");
    te_opts(&a, u1, TW_DIALECT_OPENAI);
    a.first_token_timeout = 0.3;
    te_opts(&b, u2, TW_DIALECT_OPENAI);
    a.fallback = &b;
    fb_drain(e, &a, &f);
    CHECK_EQ_INT(f.r.last, TW_EV_END);
    CHECK_EQ_STR(f.r.text.data, f.r.text.len, want);
    CHECK_EQ_INT(f.m.fallback_index, 1);
    CHECK(f.m.duration >= 0.3);
    fb_free(&f);

    /* Without a fallback the same stall ends the stream with a first token timeout. */
    a.fallback = NULL;
    fb_drain(e, &a, &f);
    CHECK_EQ_INT(f.r.last, TW_EV_ERROR);
    CHECK_EQ_INT(f.r.kind, TW_KIND_TIMEOUT);
    CHECK_MSG(strstr(f.r.msg.data ? f.r.msg.data : "", "first token timeout") != NULL,
              "msg %s", f.r.msg.data);
    fb_free(&f);
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* After the first token there is no going back: a reset is the stream's error, and the text
 * before it is delivered. */
TW_TEST(engine_fallback_not_after_first_token) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char u1[512], u2[512];
    tw_request_opts a, b;
    fb_run f;
    char *want = tw_mock_expected_text(3, NULL);
    te_url(u1, mk, "/v1/chat/completions?chunks=10&fault=reset&fault_after=3");
    te_url(u2, mk, "/v1/chat/completions?chunks=5");
    te_opts(&a, u1, TW_DIALECT_OPENAI);
    te_opts(&b, u2, TW_DIALECT_OPENAI);
    a.fallback = &b;
    fb_drain(e, &a, &f);
    CHECK_EQ_INT(f.r.last, TW_EV_ERROR);
    CHECK_EQ_INT(f.r.kind, TW_KIND_TRANSPORT);
    CHECK_EQ_STR(f.r.text.data, f.r.text.len, want);
    CHECK_EQ_INT(f.m.fallback_index, 0);
    fb_free(&f);
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Every request fails: the last one's error is the stream's, and the metrics say which. Also
 * an HTML page (not an event stream) is a failure a fallback covers. */
TW_TEST(engine_fallback_all_fail) {
    static const char html[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                               "Content-Length: 15\r\nConnection: close\r\n\r\n<html>hi</html>";
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    int port;
    te_canned *cn = te_canned_start(html, sizeof html - 1, 0, &port);
    char u1[512], u2[512];
    tw_request_opts a, b;
    fb_run f;
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/v1/chat/completions", port);
    te_url(u2, mk, "/v1/chat/completions?fault=429&retry_after=0");
    te_opts(&a, u1, TW_DIALECT_OPENAI);
    te_opts(&b, u2, TW_DIALECT_OPENAI);
    b.max_retries = 0;
    a.fallback = &b;
    fb_drain(e, &a, &f);
    CHECK_EQ_INT(f.r.terminals, 1);
    CHECK_EQ_INT(f.r.last, TW_EV_ERROR);
    CHECK_EQ_INT(f.r.kind, TW_KIND_HTTP);
    CHECK_EQ_INT(f.m.fallback_index, 1);
    CHECK_EQ_INT(f.m.http_status, 429);
    CHECK_EQ_INT(te_canned_requests(cn), 1);
    fb_free(&f);
    te_canned_stop(cn);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* A bad fallback is refused before anything is sent, naming it; so is a chain that loops. */
TW_TEST(engine_fallback_checked_at_start) {
    tw_engine *e = tw_engine_new(NULL, NULL);
    tw_request_opts a, b;
    tw_error err;
    const char *bad[] = {"X-Ok: 1", "X-Bad: a\r\nInjected: 1"};
    te_opts(&a, "http://127.0.0.1:9/v1/chat/completions", TW_DIALECT_OPENAI);
    te_opts(&b, "http://127.0.0.1:9/v1/chat/completions", TW_DIALECT_OPENAI);
    b.headers = bad;
    b.n_headers = 2;
    a.fallback = &b;
    CHECK(tw_engine_start(e, &a, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK_MSG(!strncmp(err.msg, "fallback 1: ", 12), "msg %s", err.msg);
    b.n_headers = 0;
    b.fallback = &a; /* a -> b -> a -> ... */
    CHECK(tw_engine_start(e, &a, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "cycle") != NULL, "msg %s", err.msg);
    tw_engine_free(e);
}
