/* test_engine_local.c - engine tests that need no mock: arguments, cancellation before any
 * answer (a listener that never accepts), a stream from a tiny local server. */
#include "test_engine_util.h"
#include "tw_test.h"

#include <string.h>
#include <unistd.h>

/* Before the request is answered: against a listener that never answers, and right after
 * start (before the I/O thread even saw the stream). */
TW_TEST(engine_cancel_before_response) {
    tw_engine *e = tw_engine_new(NULL, NULL);
    int port, ls = te_listen_silent(&port);
    char url[512];
    tw_request_opts o;
    te_result r;
    double t0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", port);
    for (int i = 0; i < 20; i++) {
        tw_stream *s;
        te_opts(&o, url, TW_DIALECT_OPENAI);
        s = tw_engine_start(e, &o, NULL);
        CHECK(s != NULL);
        if (i % 2) te_sleep_ms(2); /* odd rounds: the request is on the wire */
        t0 = te_now();
        tw_stream_cancel(s);
        tw_stream_cancel(s); /* idempotent */
        memset(&r, 0, sizeof r);
        te_drain(s, &r, 5000, 0);
        CHECK(te_now() - t0 < 1.0);
        CHECK(te_contract_ok(&r));
        CHECK_EQ_INT(r.last, TW_EV_ERROR);
        CHECK_EQ_INT(r.kind, TW_KIND_CANCELLED);
        CHECK_EQ_INT(r.events, 1);
        te_result_free(&r);
        tw_stream_release(s);
    }
    close(ls);
    tw_engine_free(e);
}

/* Bad arguments: typed errors, no crash. */
TW_TEST(engine_bad_args) {
    tw_engine *e;
    tw_engine_opts eo;
    tw_request_opts o;
    tw_error err;
    tw_engine_opts_init(&eo);
    eo.io_threads = 0;
    CHECK(tw_engine_new(&eo, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    e = tw_engine_new(NULL, &err);
    CHECK(e != NULL);
    CHECK(tw_engine_start(e, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    te_opts(&o, "not a url", TW_DIALECT_OPENAI);
    CHECK(tw_engine_start(e, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    te_opts(&o, "ftp://127.0.0.1/x", TW_DIALECT_OPENAI);
    CHECK(tw_engine_start(e, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    te_opts(&o, "http://127.0.0.1:9/x", (tw_dialect)99);
    CHECK(tw_engine_start(e, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    te_opts(&o, "http://127.0.0.1:9/x", TW_DIALECT_OPENAI);
    o.idle_timeout = -1;
    CHECK(tw_engine_start(e, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_engine_prewarm(e, "gopher://x", &err), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_engine_prewarm(e, NULL, &err), TW_ERR_INVALID_ARG);
    CHECK(tw_stream_take(NULL) == NULL);
    CHECK_EQ_INT(tw_stream_wait(NULL, 0), TW_ERR_INVALID_ARG);
    tw_stream_cancel(NULL);
    tw_stream_release(NULL);
    tw_engine_free(e);
    tw_engine_free(NULL);
}

