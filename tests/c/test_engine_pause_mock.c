/* test_engine_pause_mock.c - backpressure against the mock (see test_engine_pause.c). */
#include "engine/engine_internal.h"
#include "test_engine_util.h"
#include "tw_test.h"

#include <stdlib.h>
#include <string.h>

#define HIGH 16384

/* The mock, chunked: events coalesced per write, and cut at random (many tiny HTTP chunks). */
TW_TEST(engine_pause_mock) {
    static const struct {
        const char *path;
        tw_dialect d;
        int n, min_pauses, sleep_us;
    } cases[] = {
        {"/v1/chat/completions?chunks=20000&split=coalesce", TW_DIALECT_OPENAI, 20000, 20, 0},
        {"/v1/messages?chunks=8000&split=coalesce&coalesce=16", TW_DIALECT_ANTHROPIC, 8000, 10, 0},
        {"/v1/chat/completions?chunks=3000&split=random", TW_DIALECT_OPENAI, 3000, 1, 0},
    };
    tw_mock *mk = te_mock_start();
    tw_engine *e = te_small_engine(HIGH);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[512];
        tw_request_opts o;
        tw_stream *s;
        char *want = tw_mock_expected_text(cases[i].n, NULL);
        te_url(url, mk, cases[i].path);
        te_opts(&o, url, cases[i].d);
        s = tw_engine_start(e, &o, NULL);
        te_slow_drain_check(e, s, want, cases[i].min_pauses, 2.0, cases[i].sleep_us);
        tw_stream_release(s);
        free(want);
    }
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* A stream paused for a long time (consumer away) resumes intact; idle timers do not fire
 * while the consumer, not the upstream, is the one behind. */
TW_TEST(engine_pause_long_no_idle_timeout) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = te_small_engine(HIGH);
    char url[512];
    tw_request_opts o;
    tw_stream *s;
    char *want = tw_mock_expected_text(5000, NULL);
    te_result r;
    te_url(url, mk, "/v1/chat/completions?chunks=5000");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.idle_timeout = 0.1;
    o.event_timeout = 0.1;
    s = tw_engine_start(e, &o, NULL);
    te_sleep_ms(400); /* paused well beyond both timeouts */
    CHECK(tw__stream_pauses(s) >= 1);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 20000, 0);
    CHECK(te_contract_ok(&r));
    CHECK_MSG(r.last == TW_EV_END, "last %d msg %s", r.last, r.msg.data);
    CHECK_EQ_STR(r.text.data, r.text.len, want);
    te_result_free(&r);
    free(want);
    tw_stream_release(s);
    tw_engine_free(e);
    tw_mock_stop(mk);
}
