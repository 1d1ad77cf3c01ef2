/* test_engine_many.c - 1,000 concurrent streams through one engine, drained through the ready
 * list and the wakeup fd: every event of every stream accounted for, in order. */
#include "test_engine_util.h"
#include "tw_test.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct slot {
    tw_stream *s;
    tw_buf text;
    int terminals, after, last, texts;
} slot;

/* Two descriptors per stream (client + in-process server) plus slack. */
static void raise_fd_limit(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    CHECK_MSG(rl.rlim_cur >= want, "RLIMIT_NOFILE %llu < %llu needed",
              (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

static void many(int n, int io_threads, int mock_threads, const char *path, int chunks) {
    tw_mock_opts mo;
    tw_mock *mk;
    tw_engine_opts eo;
    tw_engine *e;
    tw_engine_stats st;
    char url[512];
    slot *sl = calloc((size_t)n, sizeof *sl);
    tw_stream **ready = calloc((size_t)n, sizeof *ready);
    char *want = tw_mock_expected_text(chunks, NULL);
    int finished = 0, texts = 0;
    double t0 = te_now();

    raise_fd_limit((rlim_t)(2 * n + 256));
    tw_mock_opts_init(&mo);
    mo.quiet = 1;
    mo.threads = mock_threads;
    mk = tw_mock_start(&mo, NULL);
    CHECK(mk != NULL);
    if (!mk) return;
    tw_engine_opts_init(&eo);
    eo.io_threads = io_threads;
    e = tw_engine_new(&eo, NULL);
    te_url(url, mk, path);
    for (int i = 0; i < n; i++) {
        tw_request_opts o;
        te_opts(&o, url, TW_DIALECT_OPENAI);
        o.userdata = &sl[i];
        o.total_timeout = 60;
        sl[i].s = tw_engine_start(e, &o, NULL);
        CHECK(sl[i].s != NULL);
    }
    while (finished < n && te_now() - t0 < 60) {
        struct pollfd p = {tw_engine_fd(e), POLLIN, 0};
        size_t k;
        if (poll(&p, 1, 10000) <= 0) break;
        k = tw_engine_take_ready(e, ready, (size_t)n);
        for (size_t j = 0; j < k; j++) {
            slot *x = tw_stream_userdata(ready[j]);
            tw_batch *b = tw_stream_take(ready[j]);
            tw_stream_unref(ready[j]); /* take_ready's reference; ours keeps it valid */
            if (!b) continue;
            for (size_t i = 0; i < tw_batch_count(b); i++) {
                const tw_event *ev = tw_batch_get(b, i);
                if (x->terminals) x->after++;
                x->last = ev->type;
                if (ev->type == TW_EV_TEXT) {
                    x->texts++;
                    texts++;
                    tw_buf_append(&x->text, ev->text.ptr, ev->text.len);
                }
                if (ev->type == TW_EV_END || ev->type == TW_EV_ERROR) x->terminals++;
            }
            tw_batch_free(b);
            if (tw_stream_finished(ready[j])) finished++;
        }
    }
    CHECK_EQ_INT(finished, n);
    CHECK_EQ_INT(texts, n * chunks);
    for (int i = 0; i < n; i++) {
        slot *x = &sl[i];
        CHECK_MSG(x->terminals == 1 && x->after == 0 && x->last == TW_EV_END &&
                      x->text.len == strlen(want) && !memcmp(x->text.data, want, x->text.len),
                  "stream %d: terminals %d after %d last %d texts %d", i, x->terminals, x->after,
                  x->last, x->texts);
        tw_buf_free(&x->text);
        tw_stream_release(x->s);
    }
    tw_engine_get_stats(e, &st);
    CHECK_EQ_INT(st.streams_started, n);
    CHECK_EQ_INT(st.streams_finished, n);
    CHECK_EQ_INT(st.active_streams, 0);
    tw_engine_free(e);
    tw_mock_stop(mk);
    free(want);
    free(ready);
    free(sl);
}

TW_TEST(engine_many_1000_concurrent) {
    many(1000, 1, 2, "/v1/chat/completions?chunks=20&delay_ms=5&split=random", 20);
}

/* Streams sharded over three I/O threads (DNS/TLS share with its locks in use). */
TW_TEST(engine_many_sharded_threads) {
    many(300, 3, 1, "/v1/chat/completions?chunks=30&delay_ms=2", 30);
}
