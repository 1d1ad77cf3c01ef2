/* test_engine.c - the engine against the in-process mock: dialects, faults, errors, retries,
 * timeouts, JSON answers, metrics and the ready list / wakeup fd. */
#include "test_engine_util.h"
#include "tw_test.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs one request and drains it. */
static void run1(tw_engine *e, const tw_request_opts *o, te_result *r, tw_metrics *m) {
    tw_error err;
    tw_stream *s = tw_engine_start(e, o, &err);
    memset(r, 0, sizeof *r);
    CHECK_MSG(s != NULL, "start failed: %s", err.msg);
    if (!s) return;
    te_drain(s, r, 20000, 0);
    if (m) tw_stream_get_metrics(s, m);
    CHECK(tw_stream_finished(s));
    tw_stream_release(s);
}

TW_TEST(engine_openai_basic) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512];
    tw_request_opts o;
    te_result r;
    tw_metrics m;
    char *want = tw_mock_expected_text(50, NULL);
    tw_engine_stats st;
    te_url(url, mk, "/v1/chat/completions?chunks=50");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.last, TW_EV_END);
    CHECK_EQ_STR(r.text.data, r.text.len, want);
    CHECK_EQ_INT(r.text_events, 50);
    CHECK_EQ_INT(m.text_events, 50);
    CHECK_EQ_INT(m.events, r.events);
    CHECK_EQ_INT(m.http_status, 200);
    CHECK_EQ_INT(m.http_version, 1);
    CHECK_EQ_INT(m.retries, 0);
    CHECK(m.bytes > 1000);
    CHECK(m.ttfb > 0 && m.ttft >= m.ttfb && m.duration >= m.ttft);
    CHECK(m.gap_p50 >= 0 && m.gap_p99 >= m.gap_p50);
    /* A second stream reuses the connection. */
    te_result_free(&r);
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(m.connection_reused, 1);
    tw_engine_get_stats(e, &st);
    CHECK_EQ_INT(st.streams_started, 2);
    CHECK_EQ_INT(st.streams_finished, 2);
    CHECK_EQ_INT(st.active_streams, 0);
    CHECK_EQ_INT(st.paused_streams, 0);
    CHECK(st.connections_reused >= 1);
    te_result_free(&r);
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Interrupt moderation off, default and wide: every chunk of a fast stream and of a slow one
 * arrives, in order, ending with END; out-of-range windows are refused. */
TW_TEST(engine_coalescing_windows) {
    static const int windows[] = {0, 200, 5000};
    tw_mock *mk = te_mock_start();
    char fast[512], slow[512];
    char *want_fast = tw_mock_expected_text(20000, NULL), *want_slow = tw_mock_expected_text(5, NULL);
    tw_engine_opts eo;
    tw_error err;
    te_url(fast, mk, "/v1/chat/completions?chunks=20000");
    te_url(slow, mk, "/v1/chat/completions?chunks=5&delay_ms=10");
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        tw_engine *e;
        tw_request_opts o;
        te_result r;
        tw_engine_opts_init(&eo);
        eo.coalesce_us = windows[i];
        e = tw_engine_new(&eo, &err);
        CHECK_MSG(e != NULL, "coalesce_us %d: %s", windows[i], err.msg);
        if (!e) continue;
        te_opts(&o, fast, TW_DIALECT_OPENAI);
        run1(e, &o, &r, NULL);
        CHECK(te_contract_ok(&r));
        CHECK_EQ_INT(r.last, TW_EV_END);
        CHECK_EQ_INT(r.text_events, 20000);
        CHECK_EQ_STR(r.text.data, r.text.len, want_fast);
        te_result_free(&r);
        te_opts(&o, slow, TW_DIALECT_OPENAI);
        run1(e, &o, &r, NULL);
        CHECK(te_contract_ok(&r));
        CHECK_EQ_STR(r.text.data, r.text.len, want_slow);
        te_result_free(&r);
        tw_engine_free(e);
    }
    tw_engine_opts_init(&eo);
    CHECK_EQ_INT(eo.coalesce_us, 200);
    eo.coalesce_us = -1;
    CHECK(tw_engine_new(&eo, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    eo.coalesce_us = 100001;
    CHECK(tw_engine_new(&eo, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    free(want_fast);
    free(want_slow);
    tw_mock_stop(mk);
}

/* Each dialect at its real path; the text a correct client assembles. */
TW_TEST(engine_all_dialects) {
    static const struct {
        const char *path;
        tw_dialect d;
    } cases[] = {
        {"/v1/chat/completions?chunks=30&split=random", TW_DIALECT_OPENAI},
        {"/v1/responses?chunks=30", TW_DIALECT_OPENAI_RESPONSES},
        {"/v1/messages?chunks=30&split=byte", TW_DIALECT_ANTHROPIC},
        {"/v1beta/models/gemini-x:streamGenerateContent?alt=sse&chunks=30", TW_DIALECT_GEMINI},
        {"/api/chat?chunks=30", TW_DIALECT_OLLAMA},
        {"/api/generate?chunks=30", TW_DIALECT_OLLAMA},
    };
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char *want = tw_mock_expected_text(30, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[512];
        tw_request_opts o;
        te_result r;
        te_url(url, mk, cases[i].path);
        te_opts(&o, url, cases[i].d);
        run1(e, &o, &r, NULL);
        CHECK_MSG(te_contract_ok(&r) && r.last == TW_EV_END, "%s: terminals %d last %d (%s)",
                  cases[i].path, r.terminals, r.last, r.msg.data);
        CHECK_MSG(r.text.len == strlen(want) && !memcmp(r.text.data, want, r.text.len),
                  "%s: text \"%.60s\"", cases[i].path, r.text.data);
        te_result_free(&r);
    }
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* A 2xx application/json answer (stream: false) decodes into the same events. */
TW_TEST(engine_json_answer) {
    static const struct {
        const char *path;
        tw_dialect d;
    } cases[] = {
        {"/v1/chat/completions?chunks=12", TW_DIALECT_OPENAI},
        {"/v1/messages?chunks=12", TW_DIALECT_ANTHROPIC},
        {"/v1beta/models/gemini-x:generateContent?chunks=12", TW_DIALECT_GEMINI},
    };
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char *want = tw_mock_expected_text(12, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[512];
        tw_request_opts o;
        te_result r;
        te_url(url, mk, cases[i].path);
        te_opts(&o, url, cases[i].d);
        o.body = te_body(0);
        o.body_len = strlen(o.body);
        run1(e, &o, &r, NULL);
        CHECK_MSG(te_contract_ok(&r) && r.last == TW_EV_END, "%s: terminals %d last %d (%s)",
                  cases[i].path, r.terminals, r.last, r.msg.data);
        CHECK_MSG(r.text.len == strlen(want) && !memcmp(r.text.data, want, r.text.len),
                  "%s: text \"%.60s\"", cases[i].path, r.text.data);
        te_result_free(&r);
    }
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Non-2xx: kind http, the status, the body as raw, the provider's message as text. */
TW_TEST(engine_http_errors) {
    static const struct {
        const char *path;
        tw_dialect d;
        int status;
    } cases[] = {
        {"/v1/chat/completions?fault=429", TW_DIALECT_OPENAI, 429},
        {"/v1/chat/completions?fault=500", TW_DIALECT_OPENAI, 500},
        {"/v1/messages?fault=429", TW_DIALECT_ANTHROPIC, 429},
        {"/v1beta/models/g:streamGenerateContent?alt=sse&fault=500", TW_DIALECT_GEMINI, 500},
        {"/v1/nowhere", TW_DIALECT_OPENAI, 404},
    };
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[512];
        tw_request_opts o;
        te_result r;
        tw_metrics m;
        te_url(url, mk, cases[i].path);
        te_opts(&o, url, cases[i].d);
        o.max_retries = 0;
        run1(e, &o, &r, &m);
        CHECK_MSG(te_contract_ok(&r) && r.last == TW_EV_ERROR, "%s", cases[i].path);
        CHECK_MSG(r.kind == TW_KIND_HTTP, "%s: kind %d", cases[i].path, r.kind);
        CHECK_MSG(r.status == cases[i].status, "%s: status %d", cases[i].path, r.status);
        CHECK_MSG(m.http_status == cases[i].status, "%s: metrics status", cases[i].path);
        CHECK_MSG(r.msg.len > 0 && r.raw.len > 0, "%s: message/raw empty", cases[i].path);
        /* The message is the provider's, pulled out of the error JSON, not the JSON itself. */
        CHECK_MSG(cases[i].status == 404 || r.msg.data[0] != '{', "%s: msg %s", cases[i].path,
                  r.msg.data);
        CHECK_EQ_INT(r.text_events, 0);
        te_result_free(&r);
    }
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Mid-stream faults: every event before the fault arrives, then one right terminal. */
TW_TEST(engine_midstream_faults) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char *want5 = tw_mock_expected_text(5, NULL);
    char *want20 = tw_mock_expected_text(20, NULL);
    char url[512];
    tw_request_opts o;
    te_result r;
    tw_metrics m;

    /* reset after 5 chunks: transport error, not retried. */
    te_url(url, mk, "/v1/chat/completions?chunks=20&fault=reset&fault_after=5");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.max_retries = 3;
    o.retry_base_delay = 0.01;
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_TRANSPORT);
    CHECK_EQ_STR(r.text.data, r.text.len, want5);
    CHECK_EQ_INT(m.retries, 0);
    te_result_free(&r);

    /* provider error event inside a 2xx stream. */
    te_url(url, mk, "/v1/chat/completions?chunks=20&fault=provider_error&fault_after=5");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_PROVIDER);
    CHECK(r.msg.len > 0);
    CHECK_EQ_STR(r.text.data, r.text.len, want5);
    te_result_free(&r);

    te_url(url, mk, "/v1/messages?chunks=20&fault=provider_error&fault_after=5");
    te_opts(&o, url, TW_DIALECT_ANTHROPIC);
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_PROVIDER);
    CHECK_EQ_STR(r.text.data, r.text.len, want5);
    te_result_free(&r);

    /* garbage JSON: a recoverable protocol error in order, and the stream goes on to its
     * end with every later event (one rule for every path: engine, decoder, CLI). */
    te_url(url, mk, "/v1/chat/completions?chunks=20&fault=garbage&fault_after=5");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.recoverable, 1);
    CHECK_EQ_INT(r.rec_kind, TW_KIND_PROTOCOL);
    CHECK(r.rec_raw.len > 0);
    CHECK_EQ_INT(r.last, TW_EV_END);
    CHECK_EQ_STR(r.text.data, r.text.len, want20);
    te_result_free(&r);

    /* oversized line over max_event_size: recoverable too; the events after it arrive. */
    te_url(url, mk, "/v1/chat/completions?chunks=20&fault=oversized&fault_after=5&oversized=300000");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.max_event_size = 100000;
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.recoverable, 1);
    CHECK_EQ_INT(r.rec_kind, TW_KIND_PROTOCOL);
    CHECK_EQ_INT(r.last, TW_EV_END);
    CHECK_EQ_STR(r.text.data, r.text.len, want20);
    te_result_free(&r);

    /* invalid UTF-8 in a delta: repaired (U+FFFD), the stream goes on to its end. */
    te_url(url, mk, "/v1/chat/completions?chunks=20&fault=bad_utf8&fault_after=5");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.last, TW_EV_END);
    CHECK(r.text.len > strlen(want5) && !memcmp(r.text.data, want5, strlen(want5)));
    CHECK(strstr(r.text.data, "\xef\xbf\xbd") != NULL);
    te_result_free(&r);

    free(want5);
    free(want20);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Timeouts: stall -> idle; heartbeats only -> event timeout although bytes keep coming;
 * nothing at all -> first byte; a slow stream -> total. */
TW_TEST(engine_timeouts) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char *want3 = tw_mock_expected_text(3, NULL);
    char url[512];
    tw_request_opts o;
    te_result r;
    double t0;

    te_url(url, mk, "/v1/chat/completions?chunks=20&fault=stall&fault_after=3");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.idle_timeout = 0.3;
    t0 = te_now();
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_TIMEOUT);
    CHECK(strstr(r.msg.data, "idle") != NULL);
    CHECK_EQ_STR(r.text.data, r.text.len, want3);
    CHECK(te_now() - t0 >= 0.3);
    te_result_free(&r);

    te_url(url, mk,
           "/v1/chat/completions?chunks=20&fault=heartbeat_only&fault_after=3&heartbeat_ms=30");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.idle_timeout = 0.25; /* heartbeats every 30 ms keep this one quiet */
    o.event_timeout = 0.4;
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_TIMEOUT);
    CHECK_MSG(strstr(r.msg.data, "event") != NULL, "msg: %s", r.msg.data);
    CHECK_EQ_STR(r.text.data, r.text.len, want3);
    te_result_free(&r);

    /* A slow stream runs into the total timeout. */
    te_url(url, mk, "/v1/chat/completions?chunks=50&delay_ms=20");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.total_timeout = 0.3;
    t0 = te_now();
    run1(e, &o, &r, NULL);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_TIMEOUT);
    CHECK(strstr(r.msg.data, "total") != NULL);
    CHECK(r.text_events > 0 && r.text_events < 50);
    CHECK(te_now() - t0 < 5);
    te_result_free(&r);

    /* A listener nobody accepts from: TCP connects (the backlog), no answer ever comes. */
    {
        int port, ls = te_listen_silent(&port);
        char u2[512];
        snprintf(u2, sizeof u2, "http://127.0.0.1:%d/v1/chat/completions", port);
        te_opts(&o, u2, TW_DIALECT_OPENAI);
        o.first_byte_timeout = 0.3;
        run1(e, &o, &r, NULL);
        CHECK(te_contract_ok(&r));
        CHECK_EQ_INT(r.kind, TW_KIND_TIMEOUT);
        CHECK_MSG(strstr(r.msg.data, "first byte") != NULL, "msg: %s", r.msg.data);
        te_result_free(&r);
        close(ls);
    }
    free(want3);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Retries: 429 / 500 before the body are retried (Retry-After honoured), a refused connection
 * too; nothing is retried once the body started. */
TW_TEST(engine_retries) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char *want = tw_mock_expected_text(10, NULL);
    char url[512];
    tw_request_opts o;
    te_result r;
    tw_metrics m;
    const char *hdr1[] = {"X-Mock-Key: retry-500"};
    const char *hdr2[] = {"X-Mock-Key: retry-429"};
    const char *hdr3[] = {"X-Mock-Key: retry-exhausted"};
    double t0;

    /* Two 500s, then success: 2 retries, the text whole and only once. */
    te_url(url, mk, "/v1/chat/completions?chunks=10&fault=500&fault_times=2");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.headers = hdr1;
    o.n_headers = 1;
    o.max_retries = 3;
    o.retry_base_delay = 0.01;
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.last, TW_EV_END);
    CHECK_EQ_STR(r.text.data, r.text.len, want);
    CHECK_EQ_INT(m.retries, 2);
    CHECK_EQ_INT(m.http_status, 200);
    te_result_free(&r);

    /* 429 with Retry-After: 1 -> the retry waits about a second (not the 10 ms backoff). */
    te_url(url, mk, "/v1/chat/completions?chunks=10&fault=429&fault_times=1&retry_after=1");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.headers = hdr2;
    o.n_headers = 1;
    o.retry_base_delay = 0.01;
    t0 = te_now();
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.last, TW_EV_END);
    CHECK_EQ_STR(r.text.data, r.text.len, want);
    CHECK_EQ_INT(m.retries, 1);
    CHECK(te_now() - t0 >= 0.95);
    te_result_free(&r);

    /* More failures than retries: the last failure is reported. */
    te_url(url, mk, "/v1/chat/completions?chunks=10&fault=500&fault_times=5");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.headers = hdr3;
    o.n_headers = 1;
    o.max_retries = 2;
    o.retry_base_delay = 0.01;
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_HTTP);
    CHECK_EQ_INT(r.status, 500);
    CHECK_EQ_INT(m.retries, 2);
    te_result_free(&r);

    /* A refused connection is retried, then reported as a transport error. */
    {
        int port = te_unused_port();
        char u2[512];
        snprintf(u2, sizeof u2, "http://127.0.0.1:%d/v1/chat/completions", port);
        te_opts(&o, u2, TW_DIALECT_OPENAI);
        o.max_retries = 2;
        o.retry_base_delay = 0.01;
        run1(e, &o, &r, &m);
        CHECK(te_contract_ok(&r));
        CHECK_EQ_INT(r.kind, TW_KIND_TRANSPORT);
        CHECK_EQ_INT(m.retries, 2);
        te_result_free(&r);
    }

    /* A reset after the body started is never retried (checked with retries allowed). */
    te_url(url, mk, "/v1/chat/completions?chunks=10&fault=reset&fault_after=2");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.max_retries = 5;
    o.retry_base_delay = 0.01;
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_TRANSPORT);
    CHECK_EQ_INT(m.retries, 0);
    CHECK_EQ_INT(r.text_events, 2);
    te_result_free(&r);

    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* The ready list: the fd turns readable when a stream has events, take_ready lists the stream
 * and clears the fd; the notify callback runs on the empty -> non-empty transition. */
static atomic_int notified;
static void on_notify(void *ud) {
    (void)ud;
    atomic_fetch_add(&notified, 1);
}

TW_TEST(engine_ready_list) {
    tw_mock *mk = te_mock_start();
    tw_engine_opts eo;
    tw_engine *e;
    char url[512];
    tw_request_opts o;
    tw_stream *s[8], *got[16];
    int done = 0, ends = 0, texts = 0;
    double t0 = te_now();
    tw_engine_opts_init(&eo);
    eo.notify = on_notify;
    e = tw_engine_new(&eo, NULL);
    te_url(url, mk, "/v1/chat/completions?chunks=40&delay_ms=1");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    for (int i = 0; i < 8; i++) {
        o.userdata = &s[i];
        s[i] = tw_engine_start(e, &o, NULL);
        CHECK(s[i] != NULL);
        CHECK(tw_stream_userdata(s[i]) == &s[i]);
    }
    while (done < 8 && te_now() - t0 < 20) {
        struct pollfd p = {tw_engine_fd(e), POLLIN, 0};
        size_t n;
        if (poll(&p, 1, 5000) <= 0) break;
        n = tw_engine_take_ready(e, got, 16);
        for (size_t i = 0; i < n; i++) {
            tw_batch *b = tw_stream_take(got[i]);
            tw_stream_unref(got[i]); /* take_ready's reference; ours keeps it valid */
            if (!b) continue;
            for (size_t k = 0; k < tw_batch_count(b); k++) {
                const tw_event *ev = tw_batch_get(b, k);
                if (ev->type == TW_EV_TEXT) texts++;
                if (ev->type == TW_EV_END) ends++;
            }
            tw_batch_free(b);
            if (tw_stream_finished(got[i])) done++;
        }
    }
    CHECK_EQ_INT(done, 8);
    CHECK_EQ_INT(ends, 8);
    CHECK_EQ_INT(texts, 8 * 40);
    CHECK(atomic_load(&notified) > 0);
    /* Everything taken: nothing is ready, and once a take found nothing (which clears a
     * signal that landed after the last take) the fd is clear. */
    {
        struct pollfd p = {tw_engine_fd(e), POLLIN, 0};
        CHECK_EQ_INT(tw_engine_take_ready(e, got, 16), 0);
        CHECK_EQ_INT(poll(&p, 1, 0), 0);
    }
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(tw_stream_wait(s[i], 0), TW_ERR_CLOSED);
        tw_stream_release(s[i]);
    }
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* prewarm leaves a connection in the cache: the first stream reuses it. */
TW_TEST(engine_prewarm) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512];
    tw_request_opts o;
    te_result r;
    tw_metrics m;
    tw_mock_stats ms;
    double t0 = te_now();
    te_url(url, mk, "/v1/chat/completions?chunks=3");
    CHECK_EQ_INT(tw_engine_prewarm(e, url, NULL), TW_OK);
    /* Wait for the prewarm request to be answered. */
    do {
        te_sleep_ms(5);
        tw_mock_get_stats(mk, &ms);
    } while (ms.total < 1 && te_now() - t0 < 5);
    te_sleep_ms(20);
    te_opts(&o, url, TW_DIALECT_OPENAI);
    run1(e, &o, &r, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.last, TW_EV_END);
    CHECK_EQ_INT(m.connection_reused, 1);
    te_result_free(&r);
    tw_engine_free(e);
    tw_mock_stop(mk);
}
