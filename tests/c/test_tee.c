/*
 * test_tee.c - the Redis Streams tee and resume reader against a real redis-server started by
 * the tests (tests/c/test_tee_util.c): exact bytes from every resume position, a live tail,
 * unknown / expired / trimmed streams, upstream errors, 1,000 concurrent streams, stop
 * requests between two tees, Redis unreachable at start, slow, killed and restarted.
 */
#include "test_engine_util.h"
#include "test_tee_util.h"
#include "tw_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Event i of stream id, as an SSE relay would encode it (lengths vary with i). */
static void event_bytes(tw_buf *b, const char *id, uint64_t i) {
    char tmp[160];
    int n = snprintf(tmp, sizeof tmp, "id: %s:%llu\ndata: {\"text\":\"tok%llu%.*s\"}\n\n", id,
                     (unsigned long long)i, (unsigned long long)i, (int)(i % 7), "xxxxxxx");
    tw_buf_append(b, tmp, (size_t)n);
}

/* Every event from..to-1, concatenated. */
static void expected(tw_buf *b, const char *id, uint64_t from, uint64_t to) {
    tw_buf_init(b);
    for (uint64_t i = from; i < to; i++) event_bytes(b, id, i);
}

/* Appends events [from, to) in chunks of 1..4 events (each with its event ends). */
static void append_range(tw_tee *t, const char *id, uint64_t from, uint64_t to) {
    uint64_t i = from;
    while (i < to) {
        uint32_t n = (uint32_t)(1 + i % 4), ends[4];
        tw_buf b;
        if (i + n > to) n = (uint32_t)(to - i);
        tw_buf_init(&b);
        for (uint32_t k = 0; k < n; k++) {
            event_bytes(&b, id, i + k);
            ends[k] = (uint32_t)b.len;
        }
        CHECK_EQ_INT(tw_tee_append(t, id, b.data, b.len, i, n, ends), TW_OK);
        tw_buf_free(&b);
        i += n;
    }
}

static tw_tee *new_tee(const tt_redis *r, const char *prefix) {
    tw_tee_opts o;
    tw_error err;
    tw_tee *t;
    tt_tee_opts(&o, r, prefix);
    o.require_redis = 1;
    t = tw_tee_new(&o, &err);
    CHECK_MSG(t != NULL, "tw_tee_new: %s", err.msg);
    return t;
}

static tw_resume *open_at(const tt_redis *r, const char *prefix, const char *id, int64_t last) {
    tw_resume_opts o;
    tw_error err;
    tw_resume *rd;
    tt_resume_opts(&o, r, prefix);
    if (last < 0)
        o.from_start = 1;
    else
        o.last_seq = (uint64_t)last;
    rd = tw_resume_open(&o, id, &err);
    CHECK_MSG(rd != NULL, "tw_resume_open: %s", err.msg);
    return rd;
}

/* Resumes after last and checks the exact bytes of events last+1..total-1 and the end. */
static void check_resume(const tt_redis *r, const char *prefix, const char *id, int64_t last,
                         uint64_t total, tw_resume_state want) {
    tw_resume *rd = open_at(r, prefix, id, last);
    tt_read got;
    tw_buf exp;
    if (!rd) return;
    tt_drain(rd, &got, 5000);
    expected(&exp, id, (uint64_t)(last + 1), total);
    CHECK_MSG(got.state == want, "after %lld: state %d, expected %d (%s)", (long long)last,
              got.state, want, got.err.msg);
    CHECK_MSG(got.bytes.len == exp.len &&
                  (!exp.len || !memcmp(got.bytes.data, exp.data, exp.len)),
              "after %lld: %zu bytes, expected %zu", (long long)last, got.bytes.len, exp.len);
    if (exp.len) CHECK_EQ_INT(got.first_seq, last + 1);
    CHECK_EQ_INT(got.events, (uint64_t)(last + 1) >= total ? 0 : total - (uint64_t)(last + 1));
    tt_read_free(&got);
    tw_buf_free(&exp);
    tw_resume_close(rd);
}

TW_TEST(tee_resume_from_every_position) {
    const tt_redis *r = tt_shared();
    tw_tee *t = new_tee(r, "t1:");
    redisContext *c;
    if (!t) return;
    append_range(t, "s", 0, 40);
    CHECK_EQ_INT(tw_tee_end(t, "s", NULL), TW_OK);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    /* Every position, inside chunks too (chunks hold 1..4 events), and past the end. */
    for (int64_t last = -1; last < 41; last++)
        check_resume(r, "t1:", "s", last, 40, TW_RESUME_ENDED);
    c = tt_connect(r);
    {
        long long ttl = tt_int(c, "TTL t1:s:s");
        CHECK_MSG(ttl > 3500 && ttl <= 3600, "TTL after the end is %lld", ttl);
    }
    redisFree(c);
    CHECK_EQ_INT(tw_tee_stream_status(t, "s", NULL), TW_ERR_NOT_FOUND);
    tw_tee_free(t);
}

TW_TEST(tee_resume_unknown_stream) {
    const tt_redis *r = tt_shared();
    tw_resume *rd = open_at(r, "t2:", "nope", 3);
    tt_read got;
    if (!rd) return;
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_NOT_FOUND);
    CHECK_EQ_INT(got.err.code, TW_ERR_NOT_FOUND);
    CHECK_EQ_INT(got.bytes.len, 0);
    tt_read_free(&got);
    tw_resume_close(rd);
}

TW_TEST(tee_resume_expired_stream) {
    const tt_redis *r = tt_shared();
    tw_tee *t = new_tee(r, "t3:");
    redisContext *c = tt_connect(r);
    tw_resume *rd;
    tt_read got;
    if (!t) return;
    append_range(t, "e", 0, 5);
    tw_tee_end(t, "e", NULL);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    /* Expire it now; the wait is on Redis saying it is gone, not on a clock. */
    CHECK_EQ_INT(tt_int(c, "PEXPIRE t3:s:e 1"), 1);
    while (tt_int(c, "EXISTS t3:s:e") != 0) {
    }
    rd = open_at(r, "t3:", "e", 1);
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_NOT_FOUND);
    CHECK_EQ_INT(got.bytes.len, 0);
    tt_read_free(&got);
    tw_resume_close(rd);

    /* Expired under a reader following the tail: it ends NOT_FOUND, not hanging. */
    append_range(t, "f", 0, 3);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    rd = open_at(r, "t3:", "f", -1);
    CHECK(tw_resume_wait(rd, 5000));
    CHECK_EQ_INT(tt_int(c, "DEL t3:s:f"), 1);
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_NOT_FOUND);
    CHECK_EQ_INT(got.events, 3);
    tt_read_free(&got);
    tw_resume_close(rd);
    tw_tee_end(t, "f", NULL);
    redisFree(c);
    tw_tee_free(t);
}

TW_TEST(tee_upstream_error_end) {
    const tt_redis *r = tt_shared();
    tw_tee *t = new_tee(r, "t4:");
    tw_error up;
    tt_read got;
    tw_resume *rd;
    if (!t) return;
    append_range(t, "u", 0, 6);
    memset(&up, 0, sizeof up);
    up.code = TW_ERR_PROVIDER;
    snprintf(up.msg, sizeof up.msg, "overloaded_error: try later");
    CHECK_EQ_INT(tw_tee_end(t, "u", &up), TW_OK);
    CHECK_EQ_INT(tw_tee_end(t, "u", NULL), TW_ERR_NOT_FOUND);       /* once */
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    /* The id again, once its end is written: Redis refuses the entry, reported once. */
    CHECK_EQ_INT(tw_tee_append(t, "u", "x", 1, 6, 1, NULL), TW_OK);
    CHECK(tt_wait_notice(t, TW_TEE_LOST, "u", NULL, 5000));
    CHECK_EQ_INT(tw_tee_stream_status(t, "u", NULL), TW_ERR_STORE);
    CHECK_EQ_INT(tw_tee_end(t, "u", NULL), TW_OK);
    rd = open_at(r, "t4:", "u", 2);
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_UPSTREAM_ERROR);
    CHECK_EQ_INT(got.err.code, TW_ERR_PROVIDER);
    CHECK_EQ_STR(got.err.msg, strlen(got.err.msg), "overloaded_error: try later");
    CHECK_EQ_INT(got.events, 3);
    tt_read_free(&got);
    tw_resume_close(rd);
    tw_tee_free(t);
}

TW_TEST(tee_bad_input) {
    const tt_redis *r = tt_shared();
    tw_tee *t = new_tee(r, "t5:");
    uint32_t ends[2] = {3, 5}, bad[2] = {4, 3};
    char longid[TW_TEE_MAX_ID + 2];
    tw_resume_opts ro;
    tw_error err;
    if (!t) return;
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    CHECK_EQ_INT(tw_tee_append(NULL, "a", "x", 1, 0, 1, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_tee_append(t, "", "x", 1, 0, 1, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_tee_append(t, longid, "x", 1, 0, 1, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_tee_append(t, "a", "x", 1, 0, 0, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_tee_append(t, "a", "abcde", 5, 0, 2, NULL), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_tee_append(t, "a", "abcde", 5, 0, 2, bad), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_tee_append(t, "a", "abcdef", 6, 0, 2, ends), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_tee_append(t, "a", "abcde", 5, 0, 2, ends), TW_OK);
    CHECK_EQ_INT(tw_tee_append(t, "a", "x", 1, 1, 1, NULL), TW_ERR_INVALID_ARG); /* seq back */
    CHECK_EQ_INT(tw_tee_append(t, "a", "x", 1, 2, 1, NULL), TW_OK);
    CHECK_EQ_INT(tw_tee_stream_status(t, "a", &err), TW_OK);
    CHECK_EQ_INT(tw_tee_end(t, "never", NULL), TW_ERR_NOT_FOUND);
    CHECK_EQ_INT(tw_tee_end(t, "a", NULL), TW_OK);
    CHECK_EQ_INT(tw_tee_request_stop(t, ""), TW_ERR_INVALID_ARG);
    tw_tee_opts to;
    tw_tee_opts_init(&to);
    to.ttl_after_end_s = 0;
    CHECK(tw_tee_new(&to, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    tw_resume_opts_init(&ro);
    CHECK(tw_resume_open(&ro, "", &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK(tw_resume_open(NULL, "a", &err) == NULL);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    tw_tee_free(t);
}

/* ---- live tail ------------------------------------------------------------------------------- */

typedef struct live_ctx {
    tw_tee *t;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    uint64_t reader_events; /* how far the reader got */
} live_ctx;

static void *live_producer(void *arg) {
    live_ctx *x = arg;
    append_range(x->t, "live", 1, 100);
    /* The rest only once the reader has seen the first half live. */
    pthread_mutex_lock(&x->lock);
    while (x->reader_events < 99) pthread_cond_wait(&x->cv, &x->lock);
    pthread_mutex_unlock(&x->lock);
    append_range(x->t, "live", 100, 200);
    tw_tee_end(x->t, "live", NULL);
    return NULL;
}

TW_TEST(tee_live_tail_while_appending) {
    const tt_redis *r = tt_shared();
    live_ctx x;
    pthread_t th;
    tw_resume *rd;
    tw_buf got, exp;
    uint64_t events = 0;
    tw_resume_state st = TW_RESUME_RUNNING;
    memset(&x, 0, sizeof x);
    x.t = new_tee(r, "t6:");
    if (!x.t) return;
    pthread_mutex_init(&x.lock, NULL);
    pthread_cond_init(&x.cv, NULL);
    append_range(x.t, "live", 0, 1);
    CHECK_EQ_INT(tw_tee_flush(x.t, 5000), TW_OK);
    rd = open_at(r, "t6:", "live", 0);
    pthread_create(&th, NULL, live_producer, &x);
    tw_buf_init(&got);
    while (st == TW_RESUME_RUNNING) {
        tw_resume_chunk *c;
        if (!tw_resume_wait(rd, 5000)) {
            CHECK_MSG(0, "the live tail stalled after %llu events", (unsigned long long)events);
            break;
        }
        while ((c = tw_resume_take(rd)) != NULL) {
            CHECK_EQ_INT(c->first_seq, 1 + events);
            events += c->n_events;
            tw_buf_append(&got, c->data, c->len);
            tw_resume_chunk_free(c);
        }
        pthread_mutex_lock(&x.lock);
        x.reader_events = events;
        pthread_cond_signal(&x.cv);
        pthread_mutex_unlock(&x.lock);
        st = tw_resume_status(rd, NULL);
    }
    if (st == TW_RESUME_RUNNING) { /* unblock the producer before joining */
        pthread_mutex_lock(&x.lock);
        x.reader_events = 1000;
        pthread_cond_signal(&x.cv);
        pthread_mutex_unlock(&x.lock);
    }
    pthread_join(th, NULL);
    CHECK_EQ_INT(st, TW_RESUME_ENDED);
    expected(&exp, "live", 1, 200);
    CHECK(got.len == exp.len && exp.len && memcmp(got.data, exp.data, exp.len) == 0);
    tw_buf_free(&got);
    tw_buf_free(&exp);
    tw_resume_close(rd);
    tw_tee_free(x.t);
    pthread_mutex_destroy(&x.lock);
    pthread_cond_destroy(&x.cv);
}

TW_TEST(tee_resume_close_while_blocked) {
    const tt_redis *r = tt_shared();
    tw_tee *t = new_tee(r, "t7:");
    tw_resume_opts o;
    tw_resume *rd;
    uint64_t n = 0;
    double t0;
    if (!t) return;
    append_range(t, "idle", 0, 2);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    tt_resume_opts(&o, r, "t7:");
    o.from_start = 1;
    o.block_ms = 30000; /* close must not wait for it */
    rd = tw_resume_open(&o, "idle", NULL);
    while (n < 2 && tw_resume_wait(rd, 5000)) {
        tw_resume_chunk *c = tw_resume_take(rd);
        if (c) n += c->n_events;
        tw_resume_chunk_free(c);
    }
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(tw_resume_found(rd), 1);
    t0 = tt_ms();
    tw_resume_close(rd);
    /* Resumed after the last event of a live stream: no byte to give, but the fd says at once
     * that the stream exists (so a binding answers with headers and heartbeats now). */
    o.from_start = 0;
    o.last_seq = 1;
    rd = tw_resume_open(&o, "idle", NULL);
    CHECK(tw_resume_wait(rd, 5000));
    CHECK(tw_resume_take(rd) == NULL);
    CHECK_EQ_INT(tw_resume_status(rd, NULL), TW_RESUME_RUNNING);
    CHECK_EQ_INT(tw_resume_found(rd), 1);
    CHECK(!tw_resume_wait(rd, 100)); /* signalled once, then quiet until data */
    tw_resume_close(rd);
    o.from_start = 1;
    CHECK_MSG(tt_ms() - t0 < 1000, "close took %.0f ms", tt_ms() - t0);
    /* Idle timeout: a producer that went silent ends the reader with TIMEOUT. */
    o.block_ms = 50;
    o.idle_timeout_ms = 200;
    rd = tw_resume_open(&o, "idle", NULL);
    {
        tt_read got;
        tt_drain(rd, &got, 5000);
        CHECK_EQ_INT(got.state, TW_RESUME_TIMEOUT);
        CHECK_EQ_INT(got.events, 2);
        tt_read_free(&got);
    }
    tw_resume_close(rd);
    tw_tee_end(t, "idle", NULL);
    tw_tee_free(t);
}

TW_TEST(tee_trimmed_history_is_not_found) {
    const tt_redis *r = tt_shared();
    tw_tee_opts o;
    tw_tee *t;
    tt_read got;
    tw_resume *rd;
    tt_tee_opts(&o, r, "t8:");
    o.maxlen = 10; /* ~: Redis trims whole nodes (100 entries each by default) */
    t = tw_tee_new(&o, NULL);
    for (uint64_t i = 0; i < 600; i++) append_range(t, "trim", i, i + 1);
    tw_tee_end(t, "trim", NULL);
    CHECK_EQ_INT(tw_tee_flush(t, 10000), TW_OK);
    rd = open_at(r, "t8:", "trim", 0);
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_NOT_FOUND);
    CHECK_EQ_INT(got.bytes.len, 0);
    CHECK(strstr(got.err.msg, "no longer available") != NULL);
    tt_read_free(&got);
    tw_resume_close(rd);
    check_resume(r, "t8:", "trim", 595, 600, TW_RESUME_ENDED); /* recent ones are kept */
    tw_tee_free(t);
}

/* ---- many streams ---------------------------------------------------------------------------- */

typedef struct many_ctx {
    tw_tee *t;
    int from, to;
} many_ctx;

static void *many_producer(void *arg) {
    many_ctx *m = arg;
    char id[32];
    for (uint64_t ev = 0; ev < 10; ev++)
        for (int s = m->from; s < m->to; s++) {
            snprintf(id, sizeof id, "m%d", s);
            append_range(m->t, id, ev, ev + 1);
        }
    for (int s = m->from; s < m->to; s++) {
        snprintf(id, sizeof id, "m%d", s);
        CHECK_EQ_INT(tw_tee_end(m->t, id, NULL), TW_OK);
    }
    return NULL;
}

TW_TEST(tee_1000_concurrent_streams) {
    const tt_redis *r = tt_shared();
    tw_tee *t = new_tee(r, "t9:");
    many_ctx m[2] = {{t, 0, 500}, {t, 500, 1000}};
    pthread_t th[2];
    tw_tee_stats st;
    if (!t) return;
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, many_producer, &m[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_EQ_INT(tw_tee_flush(t, 20000), TW_OK);
    tw_tee_get_stats(t, &st);
    CHECK_EQ_INT(st.appends, 10000);
    CHECK_EQ_INT(st.entries_written, 11000);
    CHECK_EQ_INT(st.streams_dropped, 0);
    CHECK_EQ_INT(st.active_streams, 0);
    for (int s = 0; s < 1000; s++) {
        char id[32];
        snprintf(id, sizeof id, "m%d", s);
        check_resume(r, "t9:", id, (s % 11) - 1, 10, TW_RESUME_ENDED);
    }
    tw_tee_free(t);
}

/* ---- stops ----------------------------------------------------------------------------------- */

TW_TEST(tee_stop_through_redis) {
    const tt_redis *r = tt_shared();
    tw_tee *a = new_tee(r, "t10:"), *b = new_tee(r, "t10:"); /* two instances */
    int counts[6] = {0};
    if (!a || !b) return;
    append_range(a, "job", 0, 3);
    CHECK_EQ_INT(tw_tee_flush(a, 5000), TW_OK);
    CHECK_EQ_INT(tw_tee_stop_requested(a, "job"), 0);
    CHECK_EQ_INT(tw_tee_request_stop(b, "job"), TW_OK);
    CHECK(tt_wait_notice(a, TW_TEE_STOP, "job", counts, 5000));
    CHECK_EQ_INT(tw_tee_stop_requested(a, "job"), 1);
    CHECK_EQ_INT(tw_tee_stop_requested(b, "job"), 0); /* b does not run it */
    tw_tee_end(a, "job", NULL);
    tw_tee_free(a);
    tw_tee_free(b);
}

/* ---- failures -------------------------------------------------------------------------------- */

TW_TEST(tee_redis_unreachable_at_start) {
    tw_tee_opts o;
    tw_error err;
    tw_tee *t;
    tt_redis none = {0, te_unused_port()};
    int counts[6] = {0};
    tt_tee_opts(&o, &none, "t11:");
    o.require_redis = 1;
    CHECK(tw_tee_new(&o, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_STORE);
    CHECK(strstr(err.msg, "connect") != NULL);
    o.require_redis = 0;
    t = tw_tee_new(&o, &err);
    CHECK_MSG(t != NULL, "degraded start: %s", err.msg);
    if (!t) return;
    CHECK(tt_wait_notice(t, TW_TEE_DOWN, NULL, counts, 5000));
    CHECK_EQ_INT(tw_tee_available(t, &err), 0);
    CHECK_EQ_INT(err.code, TW_ERR_STORE);
    CHECK_EQ_INT(tw_tee_append(t, "x", "a", 1, 0, 1, NULL), TW_ERR_CLOSED);
    CHECK_EQ_INT(tw_tee_stream_status(t, "x", &err), TW_ERR_STORE);
    CHECK(strstr(err.msg, "resume unavailable") != NULL);
    CHECK_EQ_INT(tw_tee_end(t, "x", NULL), TW_OK);
    tw_tee_free(t);
}

TW_TEST(tee_redis_slow_queue_full) {
    tw_tee_opts o;
    tw_tee *t;
    int port, fd = te_listen_silent(&port); /* accepts TCP, never answers */
    tt_redis silent = {0, port};
    int counts[6] = {0}, closed = 0;
    double t0, worst = 0;
    tt_tee_opts(&o, &silent, "t12:");
    o.watch_stops = 0;
    o.max_queue_bytes = 16 * 1024;
    o.redis.command_timeout_ms = 2000; /* an append waiting on it would take seconds */
    t = tw_tee_new(&o, NULL);
    if (!t) return;
    for (uint64_t i = 0; i < 2000; i++) {
        char ev[64];
        int n = snprintf(ev, sizeof ev, "data: %llu\n\n", (unsigned long long)i);
        tw_code rc;
        t0 = tt_ms();
        rc = tw_tee_append(t, "slow", ev, (size_t)n, i, 1, NULL);
        if (tt_ms() - t0 > worst) worst = tt_ms() - t0;
        if (rc == TW_ERR_CLOSED) closed++;
    }
    CHECK_MSG(closed > 0, "the queue limit never dropped the stream");
    /* Far below the command timeout (a shared CI machine can stall a thread for tens of ms). */
    CHECK_MSG(worst < 500, "an append took %.1f ms", worst);
    CHECK(tt_wait_notice(t, TW_TEE_LOST, "slow", counts, 5000));
    CHECK_EQ_INT(counts[TW_TEE_LOST], 1);
    CHECK_EQ_INT(tw_tee_stream_status(t, "slow", NULL), TW_ERR_STORE);
    t0 = tt_ms();
    tw_tee_free(t); /* bounded by the command timeout, not stuck on the silent server */
    CHECK_MSG(tt_ms() - t0 < 5000, "free took %.0f ms", tt_ms() - t0);
    close(fd);
}

TW_TEST(tee_redis_killed_and_restarted) {
    tt_redis rs;
    tw_tee_opts o;
    tw_tee *t;
    tw_resume *rd;
    tt_read got;
    int counts[6] = {0};
    double t0, worst = 0;
    tt_redis_start(&rs, 0);
    tt_tee_opts(&o, &rs, "t13:");
    o.require_redis = 1;
    o.reconnect_max_ms = 200;
    t = tw_tee_new(&o, NULL);
    if (!t) return;
    append_range(t, "k", 0, 10);
    append_range(t, "k2", 0, 10);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    rd = open_at(&rs, "t13:", "k", 4);
    CHECK(tw_resume_wait(rd, 5000));
    tt_redis_kill(&rs);
    /* Appends keep returning at once; the stream is reported lost exactly once. */
    for (uint64_t i = 10; i < 2010; i++) {
        t0 = tt_ms();
        tw_tee_append(t, "k2", "data: w\n\n", 9, i, 1, NULL);
        tw_tee_append(t, "k", "data: x\n\n", 9, i, 1, NULL);
        if (tt_ms() - t0 > worst) worst = tt_ms() - t0;
    }
    CHECK_MSG(worst < 500, "an append took %.1f ms with redis gone", worst);
    CHECK(tt_wait_notice(t, TW_TEE_LOST, "k", counts, 5000));
    tt_wait_notice(t, TW_TEE_DOWN, NULL, counts, 5000);
    CHECK_EQ_INT(counts[TW_TEE_DOWN], 1);
    CHECK_EQ_INT(tw_tee_stream_status(t, "k", NULL), TW_ERR_STORE);
    CHECK_EQ_INT(tw_tee_append(t, "k", "data: y\n\n", 9, 5000, 1, NULL), TW_ERR_CLOSED);
    /* The reader ends with the Redis error, and does not hang. */
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_STORE_ERROR);
    CHECK_EQ_INT(got.err.code, TW_ERR_STORE);
    CHECK_EQ_INT(got.events, 5);
    tt_read_free(&got);
    tw_resume_close(rd);
    /* Redis back on the same port: the writer reconnects; new streams are tee'd again. */
    tt_redis_start(&rs, rs.port);
    CHECK(tt_wait_notice(t, TW_TEE_UP, NULL, counts, 5000));
    CHECK_EQ_INT(counts[TW_TEE_LOST], 2); /* k and k2, once each */
    CHECK_EQ_INT(tw_tee_available(t, NULL), 1);
    append_range(t, "n", 0, 8);
    CHECK_EQ_INT(tw_tee_end(t, "n", NULL), TW_OK);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    check_resume(&rs, "t13:", "n", 2, 8, TW_RESUME_ENDED);
    CHECK_EQ_INT(tw_tee_append(t, "k", "data: z\n\n", 9, 6000, 1, NULL), TW_ERR_CLOSED);
    tw_tee_end(t, "k", NULL);
    tw_tee_end(t, "k2", NULL);
    tw_tee_free(t);
    tt_redis_kill(&rs);
}

TW_TEST(tee_resume_grace_for_a_stream_not_written_yet) {
    const tt_redis *r = tt_shared();
    tw_tee *t = new_tee(r, "t14:");
    tw_resume_opts o;
    tw_resume *rd;
    tt_read got;
    if (!t) return;
    tt_resume_opts(&o, r, "t14:");
    o.last_seq = 1;
    o.not_found_grace_ms = 10000;
    rd = tw_resume_open(&o, "late", NULL);
    /* The reader is waiting on the missing key (nothing is ready) when the tee writes. */
    CHECK(!tw_resume_wait(rd, 0));
    append_range(t, "late", 0, 6);
    tw_tee_end(t, "late", NULL);
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_ENDED);
    CHECK_EQ_INT(got.first_seq, 2);
    CHECK_EQ_INT(got.events, 4);
    tt_read_free(&got);
    tw_resume_close(rd);
    /* A stream that never comes is NOT_FOUND once the grace is over. */
    o.not_found_grace_ms = 100;
    rd = tw_resume_open(&o, "never", NULL);
    tt_drain(rd, &got, 5000);
    CHECK_EQ_INT(got.state, TW_RESUME_NOT_FOUND);
    CHECK_EQ_INT(got.bytes.len, 0);
    tt_read_free(&got);
    tw_resume_close(rd);
    tw_tee_free(t);
}

TW_TEST(tee_unix_socket_password_db) {
    char sock[64];
    const char *extra[] = {"--unixsocket", sock, "--requirepass", "s3cret", NULL};
    tt_redis rs;
    tw_tee_opts o;
    tw_resume_opts ro;
    tw_error err;
    tw_tee *t;
    tw_resume *rd;
    tt_read got;
    snprintf(sock, sizeof sock, "/tmp/tw-test-redis-%d.sock", (int)getpid());
    tt_redis_start_args(&rs, 0, extra);
    tw_tee_opts_init(&o);
    o.redis.unix_path = sock;
    o.redis.password = "wrong";
    o.require_redis = 1;
    CHECK(tw_tee_new(&o, &err) == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_STORE);
    CHECK_MSG(strstr(err.msg, "AUTH") != NULL, "message: %s", err.msg);
    o.redis.password = "s3cret";
    o.redis.db = 3;
    t = tw_tee_new(&o, &err);
    CHECK_MSG(t != NULL, "unix socket + AUTH + SELECT: %s", err.msg);
    if (t) {
        append_range(t, "u", 0, 5);
        tw_tee_end(t, "u", NULL);
        CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
        tw_resume_opts_init(&ro);
        ro.redis = o.redis;
        ro.last_seq = 1;
        rd = tw_resume_open(&ro, "u", NULL);
        tt_drain(rd, &got, 5000);
        CHECK_EQ_INT(got.state, TW_RESUME_ENDED);
        CHECK_EQ_INT(got.events, 3);
        tt_read_free(&got);
        tw_resume_close(rd);
        ro.redis.db = 0; /* the stream lives in db 3 only */
        rd = tw_resume_open(&ro, "u", NULL);
        tt_drain(rd, &got, 5000);
        CHECK_EQ_INT(got.state, TW_RESUME_NOT_FOUND);
        tt_read_free(&got);
        tw_resume_close(rd);
        tw_tee_free(t);
    }
    tt_redis_kill(&rs);
    unlink(sock);
}

TW_TEST(tee_abandoned_without_reader) {
    const tt_redis *r = tt_shared();
    tw_tee_opts o;
    tw_tee *t;
    tw_resume_opts ro;
    tw_resume *rd;
    int counts[6] = {0};
    double closed_at;
    tt_tee_opts(&o, r, "t15:");
    o.require_redis = 1;
    o.stop_poll_ms = 20;
    t = tw_tee_new(&o, NULL);
    if (!t) return;
    append_range(t, "ab", 0, 3);
    CHECK_EQ_INT(tw_tee_flush(t, 5000), TW_OK);
    CHECK_EQ_INT(tw_tee_watch_readers(t, "nope", 300), TW_ERR_NOT_FOUND);
    CHECK_EQ_INT(tw_tee_watch_readers(t, "ab", -1), TW_ERR_INVALID_ARG);
    /* A resume reader (as on another instance) keeps the stream alive... */
    tt_resume_opts(&ro, r, "t15:");
    ro.last_seq = 0;
    ro.presence_ttl_ms = 150;
    rd = tw_resume_open(&ro, "ab", NULL);
    CHECK(tw_resume_wait(rd, 5000));
    CHECK_EQ_INT(tw_tee_watch_readers(t, "ab", 300), TW_OK);
    CHECK(!tt_wait_notice(t, TW_TEE_ABANDONED, "ab", counts, 900));
    CHECK_EQ_INT(tw_tee_stop_requested(t, "ab"), 0);
    /* ...and once it is gone, the stream is abandoned after the presence TTL + 300 ms. */
    tw_resume_close(rd);
    closed_at = tt_ms();
    CHECK(tt_wait_notice(t, TW_TEE_ABANDONED, "ab", counts, 5000));
    CHECK_MSG(tt_ms() - closed_at >= 300, "abandoned %.0f ms after the reader left",
              tt_ms() - closed_at);
    CHECK_EQ_INT(counts[TW_TEE_ABANDONED], 1);
    CHECK_EQ_INT(tw_tee_stop_requested(t, "ab"), 1);
    /* Not watched: never abandoned. */
    append_range(t, "kept", 0, 1);
    CHECK_EQ_INT(tw_tee_watch_readers(t, "kept", 100), TW_OK);
    CHECK_EQ_INT(tw_tee_watch_readers(t, "kept", 0), TW_OK);
    CHECK(!tt_wait_notice(t, TW_TEE_ABANDONED, "kept", counts, 400));
    tw_tee_end(t, "ab", NULL);
    tw_tee_end(t, "kept", NULL);
    tw_tee_free(t);
}

/* The event ends the bindings tee with: SSE blocks (comments skipped), NDJSON lines. */
TW_TEST(tee_event_ends) {
    static const char sse[] = "id: a:0\ndata: x\n\n: keepalive\n\nid: a:1\ndata: yz\n\n: hb\n\n";
    static const char nd[] = "{\"a\":1}\n{\"b\":2}\n";
    uint32_t ends[4];
    size_t len = 0;
    CHECK_EQ_INT(tw_tee_event_ends(1, sse, sizeof sse - 1, 2, ends, &len), 0);
    CHECK_EQ_INT(ends[0], 17);
    CHECK_EQ_INT(ends[1], 48);
    CHECK_EQ_INT(len, 48); /* the trailing comment is not part of the append */
    CHECK_EQ_INT(tw_tee_event_ends(1, sse, sizeof sse - 1, 3, ends, &len), -1);
    CHECK_EQ_INT(tw_tee_event_ends(0, nd, sizeof nd - 1, 2, ends, &len), 0);
    CHECK_EQ_INT(ends[0], 8);
    CHECK_EQ_INT(len, sizeof nd - 1);
    CHECK_EQ_INT(tw_tee_event_ends(0, nd, 10, 2, ends, &len), -1); /* cut short */
    CHECK_EQ_INT(tw_tee_code_of_kind(TW_KIND_HTTP), TW_ERR_HTTP_STATUS);
    CHECK_EQ_INT(tw_code_error_kind(tw_tee_code_of_kind(TW_KIND_PROVIDER)), TW_KIND_PROVIDER);
}
