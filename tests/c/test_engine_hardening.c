/* test_engine_hardening.c - what must never reach the wire (request checks), fork() children,
 * one sink per consumer, bodies that are not event streams, retry rules (Retry-After over the
 * cap, requests that were already sent), the paused timeout and connection-reuse metrics. */
#include "engine/engine_internal.h"
#include "test_engine_util.h"
#include "tw_test.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const chat_path = "/v1/chat/completions";

/* Starts a stream that must be refused with TW_ERR_INVALID_ARG and a message holding `want`. */
static void expect_refused(tw_engine *e, const tw_request_opts *o, const char *want) {
    tw_error err;
    tw_stream *s = tw_engine_start(e, o, &err);
    CHECK_MSG(s == NULL, "accepted; expected a refusal naming %s", want);
    if (s) {
        tw_stream_release(s);
        return;
    }
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, want) != NULL, "msg \"%s\" lacks \"%s\"", err.msg, want);
}

TW_TEST(engine_request_checks_refuse_injection) {
    int port;
    te_canned *srv = te_canned_start(NULL, 0, 0, &port);
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512];
    tw_request_opts o;
    CHECK(srv && e);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, chat_path);

    {
        const char *h[] = {"Authorization: Bearer sk-x\r\nX-Injected: yes\r\nHost: evil.example"};
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.headers = h;
        o.n_headers = 1;
        expect_refused(e, &o, "header \"Authorization\"");
        expect_refused(e, &o, "CR at byte 26");
    }
    {
        const char *h[] = {"x-api-key: sk\nX-Evil: 1"};
        te_opts(&o, url, TW_DIALECT_ANTHROPIC);
        o.headers = h;
        o.n_headers = 1;
        expect_refused(e, &o, "LF");
    }
    {
        /* A NUL would cut the key short inside libcurl: with lengths it is seen. */
        static const char key[] = "Authorization: Bearer sk-a\0tail";
        const char *h[] = {key};
        size_t lens[] = {sizeof key - 1};
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.headers = h;
        o.header_lens = lens;
        o.n_headers = 1;
        expect_refused(e, &o, "NUL");
    }
    {
        const char *h[] = {"X Bad: v"};
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.headers = h;
        o.n_headers = 1;
        expect_refused(e, &o, "header name");
    }
    {
        /* A bare secret passed as a header: refused, and never quoted back. */
        const char *h[] = {"X-Ok: 1", "sk-secret-token"};
        tw_error err;
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.headers = h;
        o.n_headers = 2;
        expect_refused(e, &o, "header #2");
        CHECK(tw_engine_start(e, &o, &err) == NULL && strstr(err.msg, "secret") == NULL);
    }
    {
        static const char ca[] = "/etc/ssl/certs/ca.pem\0/tmp/evil.pem";
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.ca_file = ca;
        o.ca_file_len = sizeof ca - 1;
        expect_refused(e, &o, "ca_file");
    }
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.method = "\xef\xbc\xb0OST"; /* a fullwidth P */
    expect_refused(e, &o, "method");
    o.method = "POST\r\nX: y";
    expect_refused(e, &o, "method");
    o.method = "POST";
    o.method_len = 5; /* "POST" and its NUL */
    expect_refused(e, &o, "NUL");
    {
        char bad[300];
        snprintf(bad, sizeof bad, "http://127.0.0.1:%d/v1/chat/completions?q=a\r\nX: y", port);
        te_opts(&o, bad, TW_DIALECT_OPENAI);
        expect_refused(e, &o, "url");
        snprintf(bad, sizeof bad, "http://127.0.0.1:%d/v1/chat completions", port);
        te_opts(&o, bad, TW_DIALECT_OPENAI);
        expect_refused(e, &o, "space");
    }
    {
        tw_error err;
        CHECK_EQ_INT(tw_engine_prewarm(e, "http://127.0.0.1/\r\nX: y", &err), TW_ERR_INVALID_ARG);
    }
    tw_engine_free(e);
    /* Nothing was sent: every refusal happened before a connection was made. */
    CHECK_EQ_INT(te_canned_requests(srv), 0);
    te_canned_stop(srv);

    /* Valid values pass: tab inside a value, obs-text, every tchar in a name. */
    {
        tw_mock *mk = te_mock_start();
        tw_engine *e2 = tw_engine_new(NULL, NULL);
        const char *h[] = {"X-Ok!#$%&'*+-.^_`|~: a\tb \xc3\xa9"};
        te_result r;
        tw_stream *s;
        te_url(url, mk, "/v1/chat/completions?chunks=3");
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.headers = h;
        o.n_headers = 1;
        s = tw_engine_start(e2, &o, NULL);
        CHECK(s != NULL);
        memset(&r, 0, sizeof r);
        te_drain(s, &r, 10000, 0);
        CHECK_EQ_INT(r.last, TW_EV_END);
        te_result_free(&r);
        tw_stream_release(s);
        tw_engine_free(e2);
        tw_mock_stop(mk);
    }
}

/* Each sink hears only of its own streams; take_ready's references keep a stream valid even
 * when its owner releases it before the consumer gets to it. */
TW_TEST(engine_sinks_separate_consumers) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    tw_sink *k1 = tw_sink_new(e, NULL, NULL, NULL), *k2 = tw_sink_new(e, NULL, NULL, NULL);
    tw_stream *a[4], *b[4];
    int ends1 = 0, ends2 = 0;
    char url[512];
    tw_request_opts o;
    double t0 = te_now();
    CHECK(k1 && k2 && tw_sink_fd(k1) != tw_sink_fd(k2));
    te_url(url, mk, "/v1/chat/completions?chunks=10&delay_ms=1");
    for (int i = 0; i < 4; i++) {
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.sink = k1;
        o.userdata = &a[i];
        a[i] = tw_engine_start(e, &o, NULL);
        o.sink = k2;
        o.userdata = &b[i];
        b[i] = tw_engine_start(e, &o, NULL);
        CHECK(a[i] && b[i]);
    }
    while ((ends1 < 4 || ends2 < 4) && te_now() - t0 < 20) {
        struct pollfd p[3] = {{tw_sink_fd(k1), POLLIN, 0}, {tw_sink_fd(k2), POLLIN, 0},
                              {tw_engine_fd(e), POLLIN, 0}};
        tw_stream *got[16];
        if (poll(p, 3, 5000) <= 0) break;
        CHECK_MSG(!(p[2].revents & POLLIN), "the default sink was woken for other sinks' streams");
        for (int w = 0; w < 2; w++) {
            tw_sink *k = w ? k2 : k1;
            tw_stream **mine = w ? b : a;
            size_t n = tw_sink_take_ready(k, got, 16);
            for (size_t i = 0; i < n; i++) {
                tw_batch *bt;
                int found = 0;
                for (int j = 0; j < 4; j++) found |= got[i] == mine[j];
                CHECK_MSG(found, "sink %d handed out another sink's stream", w + 1);
                bt = tw_stream_take(got[i]);
                for (size_t x = 0; bt && x < tw_batch_count(bt); x++)
                    if (tw_batch_get(bt, x)->type == TW_EV_END) *(w ? &ends2 : &ends1) += 1;
                tw_batch_free(bt);
                tw_stream_unref(got[i]);
            }
        }
    }
    CHECK_EQ_INT(ends1, 4);
    CHECK_EQ_INT(ends2, 4);
    for (int i = 0; i < 4; i++) {
        tw_stream_release(a[i]);
        tw_stream_release(b[i]);
    }

    /* Taken, then released by its owner before the consumer looks: still valid memory, and
     * userdata says the owner let go. */
    {
        tw_stream *s, *got[4];
        size_t n = 0;
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.sink = k1;
        o.userdata = &o;
        s = tw_engine_start(e, &o, NULL);
        CHECK(s != NULL);
        while (n == 0 && te_now() - t0 < 30) {
            struct pollfd p = {tw_sink_fd(k1), POLLIN, 0};
            if (poll(&p, 1, 5000) <= 0) break;
            n = tw_sink_take_ready(k1, got, 4);
        }
        CHECK_EQ_INT((int)n, 1);
        if (n == 1) {
            CHECK(tw_stream_userdata(got[0]) == &o);
            tw_stream_release(s);
            CHECK(tw_stream_userdata(got[0]) == NULL);
            tw_batch_free(tw_stream_take(got[0])); /* valid: ASan would see a use after free */
            tw_stream_unref(got[0]);
        } else {
            tw_stream_release(s);
        }
    }
    tw_sink_free(k1);
    tw_sink_free(k2);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* fork(): the child's copy of an engine fails at once, never waits; a new engine works; the
 * parent's engine and its stream are not disturbed. The parent's stream waits on a listener
 * that never answers, so its I/O thread sleeps in epoll_wait when fork() happens: under
 * AddressSanitizer a fork while another thread holds the sanitizer's allocator lock leaves that
 * lock held in the child forever (a sanitizer limitation; glibc's malloc handles fork). */
TW_TEST(engine_fork_child_never_hangs) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    int port, ls = te_listen_silent(&port);
    char url[512];
    tw_request_opts o;
    tw_stream *before;
    pid_t pid;
    int status = 0, conn = -1;
    size_t got = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", port);
    te_opts(&o, url, TW_DIALECT_OPENAI);
    before = tw_engine_start(e, &o, NULL);
    CHECK(before != NULL);
    CHECK_EQ_INT(tw_engine_forked(e), 0);
    /* The request has arrived whole (the server read it): the I/O thread has nothing left to
     * do but wait for the answer. */
    {
        struct pollfd p = {ls, POLLIN, 0};
        char req[4096] = "";
        CHECK(poll(&p, 1, 10000) == 1);
        conn = accept(ls, NULL, NULL);
        CHECK(conn >= 0);
        while (!strstr(req, "\r\n\r\n")) {
            ssize_t k = recv(conn, req + got, sizeof req - 1 - got, 0);
            if (k <= 0) break;
            got += (size_t)k;
            req[got] = '\0';
        }
        te_sleep_ms(20); /* from its last send() back into epoll_wait */
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        /* The child: any hang is turned into a failure by the alarm. Exit codes name the
         * first check that failed. */
        tw_error err;
        tw_batch *b;
        tw_engine *e2;
        tw_stream *s;
        te_result r;
        alarm(20);
        if (tw_engine_forked(e) != 1) _exit(10);
        if (tw_engine_start(e, &o, &err) != NULL || err.code != TW_ERR_FORKED) _exit(11);
        if (tw_sink_new(e, NULL, NULL, &err) != NULL || err.code != TW_ERR_FORKED) _exit(12);
        if (tw_stream_wait(before, -1) != TW_OK) _exit(13);
        b = tw_stream_take(before);
        if (!b || tw_batch_count(b) != 1 || tw_batch_get(b, 0)->type != TW_EV_ERROR) _exit(14);
        tw_batch_free(b);
        if (tw_stream_take(before) != NULL || tw_stream_wait(before, -1) != TW_ERR_CLOSED)
            _exit(15);
        if (!tw_stream_finished(before)) _exit(16);
        tw_stream_release(before); /* a no-op: the parent's memory */
        tw_engine_free(e);         /* closes the child's fds only */
        e2 = tw_engine_new(NULL, NULL);
        if (!e2) _exit(17);
        te_url(url, mk, "/v1/chat/completions?chunks=5");
        te_opts(&o, url, TW_DIALECT_OPENAI);
        s = tw_engine_start(e2, &o, NULL);
        if (!s) _exit(18);
        memset(&r, 0, sizeof r);
        te_drain(s, &r, 10000, 0);
        if (r.last != TW_EV_END || r.text_events != 5) _exit(19);
        _exit(0); /* no leak check in the child: the parent's engine is left as it was */
    }
    CHECK(pid > 0);
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d (exit %d, signal %d)",
              status, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    /* The parent's engine still works: its stream cancels normally, a new one streams. */
    {
        te_result r;
        tw_stream *s;
        tw_stream_cancel(before);
        memset(&r, 0, sizeof r);
        te_drain(before, &r, 10000, 0);
        CHECK(te_contract_ok(&r));
        CHECK_EQ_INT(r.kind, TW_KIND_CANCELLED);
        te_result_free(&r);
        te_url(url, mk, "/v1/chat/completions?chunks=7");
        te_opts(&o, url, TW_DIALECT_OPENAI);
        s = tw_engine_start(e, &o, NULL);
        memset(&r, 0, sizeof r);
        te_drain(s, &r, 10000, 0);
        CHECK_EQ_INT(r.last, TW_EV_END);
        CHECK_EQ_INT(r.text_events, 7);
        te_result_free(&r);
        tw_stream_release(s);
    }
    tw_stream_release(before);
    if (conn >= 0) close(conn);
    close(ls);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

static tw_stream *start_to(tw_engine *e, int port, tw_dialect d, tw_request_opts *o, char *url) {
    snprintf(url, 256, "http://127.0.0.1:%d%s", port, chat_path);
    te_opts(o, url, d);
    o->retry_base_delay = 0.01;
    return tw_engine_start(e, o, NULL);
}

static void drain_canned(const char *answer, size_t len, tw_dialect d, te_result *r) {
    int port;
    te_canned *srv = te_canned_start(answer, len, 0, &port);
    tw_engine *e = tw_engine_new(NULL, NULL);
    tw_request_opts o;
    char url[256];
    tw_stream *s = start_to(e, port, d, &o, url);
    CHECK(srv && e && s);
    memset(r, 0, sizeof *r);
    te_drain(s, r, 10000, 0);
    CHECK(te_contract_ok(r));
    tw_stream_release(s);
    tw_engine_free(e);
    te_canned_stop(srv);
}

TW_TEST(engine_non_stream_bodies_are_errors) {
    static const char html[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                               "Content-Length: 37\r\n\r\n<html><body>Sign in</body></html>\r\n\r\n";
    static const char noise[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                "Content-Length: 12\r\n\r\n\x01\x02\xff\xfe garbage";
    static const char comments[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                   "Content-Length: 20\r\n\r\n: ping\n\n: ping\n\n: ping";
    static const unsigned char gz[] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xb5, 0x8d, 0x3b, 0x0e, 0xc2,
        0x30, 0x0c, 0x86, 0xf7, 0x9c, 0xa2, 0xf2, 0x1c, 0x55, 0xb0, 0x66, 0x06, 0x89, 0x09, 0x0e,
        0x50, 0x55, 0x28, 0x38, 0x86, 0x04, 0x82, 0x5d, 0x35, 0x46, 0x42, 0x54, 0xb9, 0x3b, 0xe9,
        0xc4, 0x09, 0x18, 0xff, 0xe7, 0x17, 0xbc, 0x7a, 0xd7, 0x2d, 0x90, 0x02, 0x38, 0xc0, 0x2d,
        0x58, 0x90, 0xcb, 0x9d, 0x50, 0x57, 0x15, 0xbd, 0xf6, 0x28, 0xcf, 0x29, 0x93, 0x26, 0xe1,
        0x1e, 0xe3, 0x8b, 0x1f, 0xad, 0x80, 0x51, 0x12, 0x52, 0x01, 0x37, 0xb4, 0x19, 0x07, 0x7a,
        0x83, 0xdb, 0x58, 0x08, 0x94, 0xd5, 0x83, 0x5b, 0x00, 0x85, 0x95, 0x78, 0x3d, 0x38, 0x50,
        0xce, 0x02, 0xb5, 0x8e, 0xd5, 0x98, 0xf0, 0x47, 0x4e, 0x77, 0xfb, 0xa4, 0x09, 0xaa, 0x85,
        0x6b, 0xe2, 0x54, 0xe2, 0x79, 0x26, 0x5f, 0x84, 0x5b, 0x50, 0x54, 0x9a, 0xff, 0xc3, 0x0f,
        0xbb, 0xd3, 0x71, 0x3f, 0x1a, 0xf3, 0x05, 0x66, 0x61, 0x9b, 0x1a, 0xf5, 0x00, 0x00, 0x00};
    char gzresp[512];
    int hl;
    te_result r;

    drain_canned(html, sizeof html - 1, TW_DIALECT_OPENAI, &r);
    CHECK_EQ_INT(r.last, TW_EV_ERROR);
    CHECK_EQ_INT(r.kind, TW_KIND_PROTOCOL);
    CHECK_MSG(strstr(r.msg.data, "text/html") && strstr(r.msg.data, "<html><body>Sign in"),
              "msg: %s", r.msg.data);
    te_result_free(&r);

    drain_canned(noise, sizeof noise - 1, TW_DIALECT_OPENAI, &r);
    CHECK_EQ_INT(r.last, TW_EV_ERROR);
    CHECK_EQ_INT(r.kind, TW_KIND_PROTOCOL);
    CHECK_MSG(strstr(r.msg.data, "no event") && strstr(r.msg.data, "text/event-stream"),
              "msg: %s", r.msg.data);
    te_result_free(&r);

    drain_canned(comments, sizeof comments - 1, TW_DIALECT_SSE, &r);
    CHECK_EQ_INT(r.last, TW_EV_ERROR);
    CHECK_EQ_INT(r.kind, TW_KIND_PROTOCOL);
    te_result_free(&r);

    /* A gzip body nobody asked for is decoded by libcurl: the events arrive. */
    hl = snprintf(gzresp, sizeof gzresp,
                  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", sizeof gz);
    memcpy(gzresp + hl, gz, sizeof gz);
    drain_canned(gzresp, (size_t)hl + sizeof gz, TW_DIALECT_OPENAI, &r);
    CHECK_MSG(r.last == TW_EV_END, "last %d msg %s", r.last, r.msg.data ? r.msg.data : "");
    CHECK(r.text.len == 10 && memcmp(r.text.data, "Hello gzip", 10) == 0);
    te_result_free(&r);
}

/* A Retry-After over the 60 s a retry waits is delivered at once, with its value. */
TW_TEST(engine_retry_after_over_cap_is_delivered) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512];
    tw_request_opts o;
    te_result r;
    tw_metrics m;
    tw_stream *s;
    double t0 = te_now();
    te_url(url, mk, "/v1/chat/completions?fault=429&retry_after=120");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.max_retries = 3;
    s = tw_engine_start(e, &o, NULL);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    tw_stream_get_metrics(s, &m);
    CHECK(te_now() - t0 < 5.0);
    CHECK_EQ_INT(r.kind, TW_KIND_HTTP);
    CHECK_EQ_INT(r.status, 429);
    CHECK_MSG(strstr(r.msg.data, "Retry-After: 120 s") != NULL, "msg: %s", r.msg.data);
    CHECK_EQ_INT(m.retries, 0);
    CHECK(m.retry_after == 120.0);
    te_result_free(&r);
    tw_stream_release(s);

    /* Under the cap it is honoured (1 s, then the mock fails again: 1 retry, then given up). */
    te_url(url, mk, "/v1/chat/completions?fault=429&retry_after=1");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.max_retries = 1;
    t0 = te_now();
    s = tw_engine_start(e, &o, NULL);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    tw_stream_get_metrics(s, &m);
    CHECK(te_now() - t0 >= 0.9);
    CHECK_EQ_INT(m.retries, 1);
    CHECK_MSG(strstr(r.msg.data, "Retry-After: 1 s") != NULL, "msg: %s", r.msg.data);
    te_result_free(&r);
    tw_stream_release(s);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* A reset after the whole request was sent is not retried unless retry_sent says so: the
 * server may have acted on it. A refused connection is retried (nothing was sent). */
TW_TEST(engine_no_retry_once_the_request_was_sent) {
    int port;
    te_canned *srv = te_canned_start(NULL, 0, 1, &port);
    tw_engine *e = tw_engine_new(NULL, NULL);
    tw_request_opts o;
    char url[256];
    te_result r;
    tw_metrics m;
    tw_stream *s;

    snprintf(url, 256, "http://127.0.0.1:%d%s", port, chat_path);
    {
        int before = te_canned_requests(srv);
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.max_retries = 2;
        o.retry_base_delay = 0.01;
        s = tw_engine_start(e, &o, NULL);
        memset(&r, 0, sizeof r);
        te_drain(s, &r, 10000, 0);
        tw_stream_get_metrics(s, &m);
        CHECK_EQ_INT(r.kind, TW_KIND_TRANSPORT);
        CHECK_MSG(strstr(r.msg.data, "not retried") != NULL, "msg: %s", r.msg.data);
        CHECK_EQ_INT(m.retries, 0);
        CHECK_EQ_INT(te_canned_requests(srv) - before, 1);
        te_result_free(&r);
        tw_stream_release(s);

        before = te_canned_requests(srv);
        o.retry_sent = 1;
        s = tw_engine_start(e, &o, NULL);
        memset(&r, 0, sizeof r);
        te_drain(s, &r, 10000, 0);
        tw_stream_get_metrics(s, &m);
        CHECK_EQ_INT(r.kind, TW_KIND_TRANSPORT);
        CHECK_EQ_INT(m.retries, 2);
        CHECK_EQ_INT(te_canned_requests(srv) - before, 3);
        te_result_free(&r);
        tw_stream_release(s);
    }
    te_canned_stop(srv);

    /* Refused: retried, and never counted as a reused connection. */
    snprintf(url, 256, "http://127.0.0.1:%d%s", te_unused_port(), chat_path);
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.max_retries = 1;
    o.retry_base_delay = 0.01;
    s = tw_engine_start(e, &o, NULL);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    tw_stream_get_metrics(s, &m);
    CHECK_EQ_INT(r.kind, TW_KIND_TRANSPORT);
    CHECK_EQ_INT(m.retries, 1);
    CHECK_EQ_INT(m.connection_reused, 0);
    te_result_free(&r);
    tw_stream_release(s);
    {
        tw_engine_stats st;
        tw_engine_get_stats(e, &st);
        CHECK_EQ_INT((int)st.connections_reused, 0);
    }
    tw_engine_free(e);
}

/* A consumer that stops reading: the transfer pauses, and after paused_timeout the stream
 * ends with a timeout error behind every event queued before it. */
TW_TEST(engine_paused_timeout) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = te_small_engine(4096);
    char url[512];
    tw_request_opts o;
    te_result r;
    tw_stream *s;
    double t0;
    te_url(url, mk, "/v1/chat/completions?chunks=100000");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.paused_timeout = 0.3;
    s = tw_engine_start(e, &o, NULL);
    CHECK(s != NULL);
    /* Read nothing until the engine has given up on us (the terminal event is queued). */
    t0 = te_now();
    while (!tw__stream_terminal_queued(s) && te_now() - t0 < 10) te_sleep_ms(20);
    CHECK(te_now() - t0 >= 0.3);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_TIMEOUT);
    CHECK_MSG(strstr(r.msg.data, "paused") != NULL, "msg: %s", r.msg.data);
    CHECK(r.text_events > 0);
    te_result_free(&r);
    tw_stream_release(s);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Request preparation lives in the core: the key goes where the dialect's provider wants it
 * (or as Azure's api-key), anthropic-version is added unless given, query parameters are
 * percent-encoded, and a caller's header replaces a default whatever its case. */
TW_TEST(engine_request_preparation) {
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 "Content-Length: 14\r\n\r\ndata: [DONE]\n\n";
    int port;
    te_canned *srv = te_canned_start(answer, sizeof answer - 1, 0, &port);
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512], req[8192];
    tw_request_opts o;
    te_result r;
    tw_stream *s;
    const char *q[] = {"api-version", "2024-10-21", "q", "a b&c=d/é", "empty", NULL};
    CHECK(srv && e);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/messages", port);

#define RUN()                                                                                  \
    do {                                                                                       \
        s = tw_engine_start(e, &o, NULL);                                                      \
        CHECK(s != NULL);                                                                      \
        memset(&r, 0, sizeof r);                                                               \
        te_drain(s, &r, 10000, 0);                                                             \
        te_result_free(&r);                                                                    \
        tw_stream_release(s);                                                                  \
        te_canned_last_request(srv, req, sizeof req);                                          \
    } while (0)

    te_opts(&o, url, TW_DIALECT_ANTHROPIC);
    o.api_key = "sk-ant";
    RUN();
    CHECK_MSG(strstr(req, "\r\nx-api-key: sk-ant\r\n") && strstr(req, "\r\nanthropic-version: 2023-06-01\r\n") &&
                  !strstr(req, "Authorization"),
              "%s", req);
    {
        const char *h[] = {"Anthropic-Version: 2099-01-01", "X-API-KEY: mine"};
        o.headers = h;
        o.n_headers = 2;
        RUN();
        CHECK_MSG(strstr(req, "Anthropic-Version: 2099-01-01") && !strstr(req, "2023-06-01") &&
                      strstr(req, "X-API-KEY: mine") && !strstr(req, "sk-ant"),
                  "%s", req);
    }
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.api_key = "sk-oa";
    o.query = q;
    o.n_query = 3;
    RUN();
    CHECK_MSG(strstr(req, "\r\nAuthorization: Bearer sk-oa\r\n") && !strstr(req, "anthropic-version"),
              "%s", req);
    CHECK_MSG(strstr(req, "/v1/messages?api-version=2024-10-21&q=a%20b%26c%3Dd%2F%C3%A9&empty= HTTP"),
              "%s", req);
    o.auth = TW_AUTH_API_KEY; /* Azure OpenAI */
    o.query = NULL;
    o.n_query = 0;
    RUN();
    CHECK_MSG(strstr(req, "\r\napi-key: sk-oa\r\n") && !strstr(req, "Authorization"), "%s", req);
    {
        const char *h[] = {"authorization: Bearer user"};
        o.auth = TW_AUTH_DIALECT;
        o.headers = h;
        o.n_headers = 1;
        RUN();
        CHECK_MSG(strstr(req, "authorization: Bearer user") && !strstr(req, "sk-oa"), "%s", req);
    }
    te_opts(&o, url, TW_DIALECT_GEMINI);
    o.api_key = "AIza";
    RUN();
    CHECK_MSG(strstr(req, "\r\nx-goog-api-key: AIza\r\n") &&
                  strstr(req, "\r\nAccept: text/event-stream\r\n"),
              "%s", req);
    /* Accept per dialect, replaced by the caller's; the query goes before a fragment. */
    {
        char furl[512];
        const char *h[] = {"accept: application/json"};
        snprintf(furl, sizeof furl, "http://127.0.0.1:%d/api/chat#frag", port);
        te_opts(&o, furl, TW_DIALECT_OLLAMA);
        o.query = q;
        o.n_query = 1;
        RUN();
        CHECK_MSG(strstr(req, "\r\nAccept: application/x-ndjson\r\n") &&
                      strstr(req, "GET /api/chat?api-version=2024-10-21 HTTP") == NULL &&
                      strstr(req, "/api/chat?api-version=2024-10-21 HTTP"),
                  "%s", req);
        o.headers = h;
        o.n_headers = 1;
        RUN();
        CHECK_MSG(strstr(req, "accept: application/json") && !strstr(req, "x-ndjson"), "%s", req);
    }
    /* A NUL inside a query value (the caller's length says so) is refused. */
    {
        static const char v[] = "a\0b";
        const char *qq[] = {"k", v};
        size_t ql[] = {1, 3};
        tw_error qerr;
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.query = qq;
        o.query_lens = ql;
        o.n_query = 1;
        CHECK(tw_engine_start(e, &o, &qerr) == NULL && strstr(qerr.msg, "query value #1"));
    }
    CHECK_EQ_INT(tw_auth_from_name("azure", 5), TW_AUTH_API_KEY);
    CHECK_EQ_INT(tw_auth_from_name("x-goog-api-key", 14), TW_AUTH_GOOG);
    CHECK_EQ_INT(tw_auth_from_name("nope", 4), -1);
    CHECK(!strcmp(tw_auth_name(TW_AUTH_BEARER), "bearer") && tw_auth_name(TW_AUTH__LAST) == NULL);
#undef RUN
    tw_engine_free(e);
    te_canned_stop(srv);
}

/* The engine keeps the summary of every stream: what the consumer saw, assembled in C. */
TW_TEST(engine_stream_summary_and_metrics) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512];
    char *want = tw_mock_expected_text(6, NULL);
    tw_request_opts o;
    te_result r;
    tw_metrics m;
    tw_summary *sum;
    tw_stream *s;
    int64_t in, out, total;
    te_url(url, mk, "/v1/chat/completions?chunks=6&tools=1&delay_ms=2");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    s = tw_engine_start(e, &o, NULL);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    CHECK_EQ_INT(r.last, TW_EV_END);
    sum = tw_stream_summary(s);
    CHECK(sum != NULL);
    CHECK_EQ_STR(tw_summary_text(sum, 0).ptr, tw_summary_text(sum, 0).len, want);
    CHECK_EQ_INT((int)tw_summary_tool_calls(sum), 1);
    CHECK_EQ_INT(tw_summary_finish(sum, 0), TW_FINISH_TOOL_CALLS);
    CHECK_EQ_INT(tw_summary_usage(sum, &in, &out, &total), 1);
    CHECK(in > 0 && out > 0 && total == in + out);
    CHECK_EQ_INT(tw_summary_end(sum, NULL, NULL, NULL), TW_EV_END);
    tw_stream_get_metrics(s, &m);
    CHECK_EQ_INT(m.streamed, 1);
    CHECK(m.generation_time > 0 && m.generation_time <= m.duration);
    CHECK(m.tokens_per_second > 0);
    tw_summary_free(sum);
    te_result_free(&r);
    tw_stream_release(s);
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Time-sliced delivery's options are checked (its behaviour under many streams is exercised
 * by engine_many_1000_concurrent, its cost measured in benchmarks, never timed here). */
TW_TEST(engine_tick_options) {
    tw_engine_opts eo;
    tw_error err;
    tw_engine *e;
    tw_engine_opts_init(&eo);
    CHECK_EQ_INT(eo.tick_us, 1500);
    CHECK_EQ_INT(eo.tick_streams, 32);
    eo.tick_us = -1;
    CHECK(tw_engine_new(&eo, &err) == NULL && err.code == TW_ERR_INVALID_ARG);
    eo.tick_us = 100001;
    CHECK(tw_engine_new(&eo, &err) == NULL && strstr(err.msg, "tick_us"));
    eo.tick_us = 0; /* off */
    e = tw_engine_new(&eo, &err);
    CHECK(e != NULL);
    tw_engine_free(e);
}
