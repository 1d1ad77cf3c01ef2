/* test_engine_cancel.c - cancellation at any moment from any thread, release of running
 * streams, engine teardown with streams in flight. */
#include "test_engine_util.h"
#include "tw_test.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct canceller {
    tw_stream *s;
    double delay_ms;
} canceller;

static void *cancel_thread(void *arg) {
    canceller *c = arg;
    te_sleep_ms(c->delay_ms);
    tw_stream_cancel(c->s);
    return NULL;
}

/* Many streams cancelled from another thread at random moments (before connect, mid-body,
 * after the end): exactly one terminal each, END or cancelled, every text delta before it in
 * order. */
TW_TEST(engine_cancel_random_points) {
    enum { ROUNDS = 30, PAR = 8 };
    tw_mock *mk = te_mock_start();
    tw_engine_opts eo;
    tw_engine *e;
    char url[512];
    char *want = tw_mock_expected_text(40, NULL);
    int ends = 0, cancels = 0;
    unsigned seed = 12345;
    tw_engine_stats st;
    tw_engine_opts_init(&eo);
    eo.io_threads = 2;
    e = tw_engine_new(&eo, NULL);
    te_url(url, mk, "/v1/chat/completions?chunks=40&delay_ms=0.25&split=random");
    for (int round = 0; round < ROUNDS; round++) {
        tw_stream *s[PAR];
        canceller c[PAR];
        pthread_t th[PAR];
        for (int i = 0; i < PAR; i++) {
            tw_request_opts o;
            te_opts(&o, url, TW_DIALECT_OPENAI);
            s[i] = tw_engine_start(e, &o, NULL);
            CHECK(s[i] != NULL);
            c[i].s = s[i];
            c[i].delay_ms = (double)(rand_r(&seed) % 16000) / 1000.0; /* 0..16 ms */
            pthread_create(&th[i], NULL, cancel_thread, &c[i]);
        }
        for (int i = 0; i < PAR; i++) {
            te_result r;
            memset(&r, 0, sizeof r);
            te_drain(s[i], &r, 10000, 0);
            CHECK(te_contract_ok(&r));
            if (r.last == TW_EV_END) {
                ends++;
                CHECK_EQ_STR(r.text.data, r.text.len, want);
            } else {
                cancels++;
                CHECK_EQ_INT(r.kind, TW_KIND_CANCELLED);
                CHECK(r.text.len <= strlen(want) && !memcmp(r.text.data, want, r.text.len));
            }
            te_result_free(&r);
        }
        for (int i = 0; i < PAR; i++) {
            pthread_join(th[i], NULL);
            /* After the end: a no-op; the stream stays finished and silent. */
            tw_stream_cancel(s[i]);
            CHECK(tw_stream_take(s[i]) == NULL);
            CHECK_EQ_INT(tw_stream_wait(s[i], 0), TW_ERR_CLOSED);
            tw_stream_release(s[i]);
        }
    }
    CHECK(cancels > 0);
    tw_engine_get_stats(e, &st);
    CHECK_EQ_INT(st.streams_started, ROUNDS * PAR);
    CHECK_EQ_INT(st.streams_finished, ROUNDS * PAR);
    CHECK_EQ_INT(st.active_streams, 0);
    free(want);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* Releasing running streams (consumer never drains) cancels them: the transfers close
 * (the mock sees aborted streams) and nothing leaks. */
TW_TEST(engine_release_running) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512];
    tw_engine_stats st;
    tw_mock_stats ms;
    double t0;
    te_url(url, mk, "/v1/chat/completions?chunks=2000&delay_ms=1");
    for (int i = 0; i < 20; i++) {
        tw_request_opts o;
        tw_stream *s;
        te_opts(&o, url, TW_DIALECT_OPENAI);
        s = tw_engine_start(e, &o, NULL);
        CHECK(s != NULL);
        if (i % 2) tw_stream_wait(s, 2000); /* some got events, some did not */
        tw_stream_release(s);
    }
    t0 = te_now();
    do {
        te_sleep_ms(5);
        tw_engine_get_stats(e, &st);
        tw_mock_get_stats(mk, &ms);
    } while ((st.active_streams != 0 || ms.active != 0) && te_now() - t0 < 5);
    CHECK_EQ_INT(st.active_streams, 0);
    CHECK_EQ_INT(st.streams_finished, 20);
    CHECK_EQ_INT(ms.active, 0);
    CHECK(ms.aborted >= 10);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

typedef struct waiter {
    tw_stream *s;
    te_result r;
} waiter;

static void *wait_thread(void *arg) {
    waiter *w = arg;
    te_drain(w->s, &w->r, 10000, 0);
    return NULL;
}

/* tw_engine_free with streams in flight: each ends with a cancelled error (a consumer blocked
 * in tw_stream_wait wakes up), handles stay usable until released. */
TW_TEST(engine_free_with_streams) {
    enum { N = 10 };
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512];
    waiter w[N];
    pthread_t th[N];
    int port, ls = te_listen_silent(&port);
    char url2[512];
    tw_stream *pending;
    tw_request_opts o;
    te_result r;
    te_url(url, mk, "/v1/chat/completions?chunks=5000&delay_ms=2");
    snprintf(url2, sizeof url2, "http://127.0.0.1:%d/x", port);
    for (int i = 0; i < N; i++) {
        te_opts(&o, url, TW_DIALECT_OPENAI);
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = tw_engine_start(e, &o, NULL);
        CHECK(w[i].s != NULL);
        pthread_create(&th[i], NULL, wait_thread, &w[i]);
    }
    te_opts(&o, url2, TW_DIALECT_OPENAI);
    pending = tw_engine_start(e, &o, NULL); /* never answered */
    te_sleep_ms(50);
    tw_engine_free(e);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK(te_contract_ok(&w[i].r));
        CHECK_EQ_INT(w[i].r.kind, TW_KIND_CANCELLED);
        CHECK(w[i].r.text_events > 0);
        te_result_free(&w[i].r);
        tw_stream_release(w[i].s);
    }
    memset(&r, 0, sizeof r);
    te_drain(pending, &r, 5000, 0);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_CANCELLED);
    te_result_free(&r);
    tw_stream_release(pending);
    close(ls);
    tw_mock_stop(mk);
}

/* A paused transfer (consumer not reading) is cancelled: the queued events, then cancelled. */
TW_TEST(engine_cancel_while_paused) {
    tw_mock *mk = te_mock_start();
    tw_engine_opts eo;
    tw_engine *e;
    tw_request_opts o;
    tw_stream *s;
    tw_engine_stats st;
    char url[512];
    te_result r;
    double t0 = te_now();
    char *want = tw_mock_expected_text(20000, NULL);
    tw_engine_opts_init(&eo);
    eo.queue_high_watermark = 8192;
    e = tw_engine_new(&eo, NULL);
    te_url(url, mk, "/v1/chat/completions?chunks=20000");
    te_opts(&o, url, TW_DIALECT_OPENAI);
    s = tw_engine_start(e, &o, NULL);
    do {
        te_sleep_ms(2);
        tw_engine_get_stats(e, &st);
    } while (st.paused_streams == 0 && te_now() - t0 < 5);
    CHECK_EQ_INT(st.paused_streams, 1);
    tw_stream_cancel(s);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 5000, 0);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_CANCELLED);
    CHECK(r.text_events > 0);
    CHECK(!memcmp(r.text.data, want, r.text.len));
    tw_engine_get_stats(e, &st);
    CHECK_EQ_INT(st.paused_streams, 0);
    te_result_free(&r);
    free(want);
    tw_stream_release(s);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* tw_engine_cancel_id: every running stream started with the id is cancelled (two share
 * "task-1"), others are not; an id no stream has cancels nothing; a finished stream is gone. */
TW_TEST(engine_cancel_by_id) {
    tw_mock *mk = te_mock_start();
    tw_engine *e = tw_engine_new(NULL, NULL);
    char url[512], slow[512];
    tw_request_opts o;
    tw_stream *a, *b, *c;
    te_result ra, rb, rc;
    te_url(url, mk, "/v1/chat/completions?chunks=3");
    te_url(slow, mk, "/v1/chat/completions?chunks=1000&delay_ms=20");
    te_opts(&o, slow, TW_DIALECT_OPENAI);
    o.id = "task-1";
    a = tw_engine_start(e, &o, NULL);
    b = tw_engine_start(e, &o, NULL);
    o.id = "task-2";
    c = tw_engine_start(e, &o, NULL);
    CHECK(a && b && c);
    CHECK_EQ_INT((int)tw_engine_cancel_id(e, "nobody", 6), 0);
    CHECK_EQ_INT((int)tw_engine_cancel_id(e, "task-1", 6), 2);
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    te_drain(a, &ra, 10000, 0);
    te_drain(b, &rb, 10000, 0);
    CHECK(te_contract_ok(&ra) && te_contract_ok(&rb));
    CHECK_EQ_INT(ra.kind, TW_KIND_CANCELLED);
    CHECK_EQ_INT(rb.kind, TW_KIND_CANCELLED);
    /* task-2 still runs: cancel it by its id too, once. */
    CHECK_EQ_INT((int)tw_engine_cancel_id(e, "task-2", 6), 1);
    CHECK_EQ_INT((int)tw_engine_cancel_id(e, "task-2", 6), 0);
    memset(&rc, 0, sizeof rc);
    te_drain(c, &rc, 10000, 0);
    CHECK_EQ_INT(rc.kind, TW_KIND_CANCELLED);
    te_result_free(&ra);
    te_result_free(&rb);
    te_result_free(&rc);
    tw_stream_release(a);
    tw_stream_release(b);
    tw_stream_release(c);
    /* A stream that finished and was released is no longer found. */
    te_opts(&o, url, TW_DIALECT_OPENAI);
    o.id = "done";
    a = tw_engine_start(e, &o, NULL);
    memset(&ra, 0, sizeof ra);
    te_drain(a, &ra, 10000, 0);
    CHECK_EQ_INT(ra.last, TW_EV_END);
    tw_stream_release(a);
    CHECK_EQ_INT((int)tw_engine_cancel_id(e, "done", 4), 0);
    te_result_free(&ra);
    tw_engine_free(e);
    tw_mock_stop(mk);
}
