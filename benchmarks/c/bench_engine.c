/*
 * bench_engine.c - the streaming engine end to end over loopback, against the in-process mock.
 *
 *   1. throughput: one stream of 200,000 OpenAI chunks (MB/s of body, ns per chunk)
 *   2. fan-in: 1,000 concurrent streams at 50 chunks/s each for 20 s (5 s with
 *      TW_BENCH_QUICK=1): CPU of the engine's I/O thread (and of the draining thread) in % of one
 *      core, and the added delivery latency p50/p99 from the mock's timestamp (timestamp=1: each
 *      text delta starts with CLOCK_REALTIME microseconds) to the moment the consumer drains it
 *   3. time to first token over a reused connection, against the `curl` command line doing the
 *      same requests on one reused connection (time_starttransfer)
 *
 * Numbers are printed, never asserted.
 */
#include "engine/engine_internal.h"
#include "mock/tw_mock.h"
#include "tokenwire.h"

#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *BODY = "{\"model\":\"bench\",\"stream\":true,"
                          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t now_real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double thread_cpu(pthread_t t) {
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(t, &cid) != 0 || clock_gettime(cid, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double self_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double engine_cpu(tw_engine *e) {
    double c = 0;
    for (int i = 0; i < e->n_io; i++) c += thread_cpu(e->io[i].thread);
    return c;
}

/* TW_BENCH_COALESCE_US overrides tw_engine_opts.coalesce_us (0 = interrupt moderation off). */
static tw_engine *new_engine(void) {
    tw_engine_opts o;
    tw_engine_opts_init(&o);
    if (getenv("TW_BENCH_COALESCE_US")) o.coalesce_us = atoi(getenv("TW_BENCH_COALESCE_US"));
    return tw_engine_new(&o, NULL);
}

static tw_mock *start_mock(int threads) {
    tw_mock_opts o;
    tw_error err;
    tw_mock *m;
    tw_mock_opts_init(&o);
    o.quiet = 1;
    o.threads = threads;
    m = tw_mock_start(&o, &err);
    if (!m) {
        fprintf(stderr, "bench_engine: mock: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- 1. one big stream -------------------------------------------------------------------- */

static void bench_throughput(int chunks) {
    tw_mock *mk = start_mock(1);
    tw_engine *e = new_engine();
    char url[256];
    tw_request_opts o;
    double best = 0, best_cpu = 0;
    uint64_t bytes = 0, texts = 0;
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/v1/chat/completions?chunks=%d&split=coalesce&coalesce=256"
             "&usage=1",
             tw_mock_port(mk), chunks);
    tw_request_opts_init(&o);
    o.url = url;
    o.body = BODY;
    o.body_len = strlen(BODY);
    for (int rep = 0; rep < 3; rep++) {
        tw_stream *s = tw_engine_start(e, &o, NULL);
        double t0 = now_mono(), cpu0 = engine_cpu(e), dt, mbs;
        tw_metrics m;
        uint64_t n_text = 0;
        int last = 0;
        while (tw_stream_wait(s, -1) == TW_OK) {
            tw_batch *b = tw_stream_take(s);
            if (!b) continue;
            for (size_t i = 0; i < tw_batch_count(b); i++) {
                const tw_event *ev = tw_batch_get(b, i);
                n_text += ev->type == TW_EV_TEXT;
                last = ev->type;
            }
            tw_batch_free(b);
        }
        dt = now_mono() - t0;
        tw_stream_get_metrics(s, &m);
        mbs = (double)m.bytes / dt / 1e6;
        if (last != TW_EV_END || n_text != (uint64_t)chunks)
            fprintf(stderr, "bench_engine: stream incomplete (%" PRIu64 " texts)\n", n_text);
        if (mbs > best) {
            best = mbs;
            best_cpu = engine_cpu(e) - cpu0;
            bytes = m.bytes;
            texts = n_text;
        }
        tw_stream_release(s);
    }
    printf("throughput: 1 stream, %" PRIu64 " openai chunks, %.1f MB body: %.0f MB/s end to end "
           "(%.0f ns/chunk wall; I/O thread CPU %.0f ns/chunk)\n",
           texts, (double)bytes / 1e6, best, (double)bytes / best / 1e6 / (double)texts * 1e9,
           best_cpu / (double)texts * 1e9);
    tw_engine_free(e);
    tw_mock_stop(mk);
}

/* ---- 2. many slow streams ------------------------------------------------------------------ */

#define LAT_MAX 4000000

static void bench_fanin(int n, double seconds) {
    int chunks = (int)(seconds * 50);
    tw_mock *mk = start_mock(1);
    tw_engine *e = new_engine();
    tw_stream **ss = calloc((size_t)n, sizeof *ss), **ready = calloc((size_t)n, sizeof *ready);
    double *lat = malloc(sizeof(double) * LAT_MAX);
    size_t n_lat = 0;
    uint64_t texts = 0;
    int finished = 0, errors = 0;
    char url[256];
    tw_request_opts o;
    double t0, t_all_started = 0, cpu_io0 = 0, cpu_me0 = 0, t_meas0 = 0, wall, cpu_io, cpu_me;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(2 * n + 256)) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)(2 * n + 256) ? rl.rlim_max : (rlim_t)(2 * n + 256);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/v1/chat/completions?chunks=%d&delay_ms=20&timestamp=1",
             tw_mock_port(mk), chunks);
    tw_request_opts_init(&o);
    o.url = url;
    o.body = BODY;
    o.body_len = strlen(BODY);
    t0 = now_mono();
    for (int i = 0; i < n; i++) ss[i] = tw_engine_start(e, &o, NULL);
    while (finished < n) {
        struct pollfd p = {tw_engine_fd(e), POLLIN, 0};
        size_t k;
        if (poll(&p, 1, 30000) <= 0) {
            fprintf(stderr, "bench_engine: fan-in stalled\n");
            break;
        }
        k = tw_engine_take_ready(e, ready, (size_t)n);
        for (size_t j = 0; j < k; j++) {
            tw_batch *b = tw_stream_take(ready[j]);
            tw_stream_unref(ready[j]); /* take_ready's reference; ours keeps it valid */
            int64_t now_us;
            if (!b) continue;
            now_us = now_real_us();
            for (size_t i = 0; i < tw_batch_count(b); i++) {
                const tw_event *ev = tw_batch_get(b, i);
                if (ev->type == TW_EV_TEXT) {
                    texts++;
                    /* Skip the connection storm of the first second. */
                    if (t_meas0 > 0 && n_lat < LAT_MAX && ev->text.len > 0) {
                        long long ts = strtoll(ev->text.ptr, NULL, 10);
                        if (ts > 0) lat[n_lat++] = (double)(now_us - ts);
                    }
                }
                if (ev->type == TW_EV_ERROR) errors++;
            }
            tw_batch_free(b);
            if (tw_stream_finished(ready[j])) finished++;
        }
        if (t_meas0 == 0 && now_mono() - t0 > 1.0) {
            t_meas0 = now_mono();
            t_all_started = t_meas0;
            cpu_io0 = engine_cpu(e);
            cpu_me0 = self_cpu();
        }
    }
    wall = now_mono() - t_all_started;
    cpu_io = engine_cpu(e) - cpu_io0;
    cpu_me = self_cpu() - cpu_me0;
    qsort(lat, n_lat, sizeof *lat, cmp_double);
    printf("fan-in: %d streams x %d chunks at 50/s (%.0f s): %" PRIu64 " text events, %d errors\n",
           n, chunks, seconds, texts, errors);
    if (n_lat)
        printf("fan-in: engine I/O thread CPU %.1f%% of one core, draining thread %.1f%%; "
               "added latency mock->drain p50 %.0f us, p99 %.0f us, max %.0f us (%zu samples)\n",
               100 * cpu_io / wall, 100 * cpu_me / wall, lat[n_lat / 2],
               lat[(size_t)((double)n_lat * 0.99)], lat[n_lat - 1], n_lat);
    for (int i = 0; i < n; i++) tw_stream_release(ss[i]);
    tw_engine_free(e);
    tw_mock_stop(mk);
    free(lat);
    free(ss);
    free(ready);
}

/* ---- 3. time to first token on a reused connection ------------------------------------------ */

static void bench_ttft(int reps) {
    tw_mock *mk = start_mock(1);
    tw_engine *e = new_engine();
    char url[256], cmd[8192];
    double *t = malloc(sizeof(double) * (size_t)reps), *c = malloc(sizeof(double) * (size_t)reps);
    int nc = 0;
    tw_request_opts o;
    FILE *p;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions?chunks=1&usage=0",
             tw_mock_port(mk));
    tw_request_opts_init(&o);
    o.url = url;
    o.body = BODY;
    o.body_len = strlen(BODY);
    for (int i = -1; i < reps; i++) {
        tw_stream *s;
        double t0 = now_mono(), first = 0;
        int done = 0;
        tw_metrics m;
        s = tw_engine_start(e, &o, NULL);
        while (!done && tw_stream_wait(s, -1) == TW_OK) {
            tw_batch *b = tw_stream_take(s);
            for (size_t k = 0; b && k < tw_batch_count(b); k++) {
                const tw_event *ev = tw_batch_get(b, k);
                if (ev->type == TW_EV_TEXT && first == 0) first = now_mono() - t0;
                if (ev->type == TW_EV_END || ev->type == TW_EV_ERROR) done = 1;
            }
            tw_batch_free(b);
        }
        tw_stream_get_metrics(s, &m);
        if (i >= 0) t[i] = first; /* i = -1 opens the connection */
        if (i >= 0 && !m.connection_reused) fprintf(stderr, "bench_engine: not reused\n");
        tw_stream_release(s);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);

    /* curl: the same POSTs on one command line reuse one connection; time_starttransfer is the
     * first response byte (the whole answer is one write here, so it is also the token). */
    {
        int n = snprintf(cmd, sizeof cmd,
                         "curl -s -H 'Content-Type: application/json' -d '%s' "
                         "-w '%%{time_starttransfer} %%{num_connects}\\n'",
                         BODY);
        for (int i = 0; i <= reps && n < (int)sizeof cmd - 300; i++)
            n += snprintf(cmd + n, sizeof cmd - (size_t)n, " -o /dev/null '%s'", url);
        p = popen(cmd, "r");
        if (p) {
            double v;
            int nconn, line = 0;
            while (fscanf(p, "%lf %d", &v, &nconn) == 2) {
                if (line++ > 0 && nc < reps) c[nc++] = v; /* the first opened the connection */
            }
            pclose(p);
        }
    }
    printf("ttft (reused connection, %d requests): tokenwire p50 %.0f us (min %.0f us)", reps,
           t[reps / 2] * 1e6, t[0] * 1e6);
    if (nc > 0) {
        qsort(c, (size_t)nc, sizeof *c, cmp_double);
        printf("; curl time_starttransfer p50 %.0f us (min %.0f us); difference p50 %+.0f us\n",
               c[nc / 2] * 1e6, c[0] * 1e6, (t[reps / 2] - c[nc / 2]) * 1e6);
    } else {
        printf("; curl command line not available for comparison\n");
    }
    tw_engine_free(e);
    tw_mock_stop(mk);
    free(t);
    free(c);
}

int main(void) {
    int quick = getenv("TW_BENCH_QUICK") && atoi(getenv("TW_BENCH_QUICK")) > 0;
    const char *only = getenv("TW_BENCH_ONLY"); /* throughput | ttft | fanin */
    if (!only || !strcmp(only, "throughput")) bench_throughput(200000);
    if (!only || !strcmp(only, "ttft")) bench_ttft(quick ? 20 : 50);
    if (!only || !strcmp(only, "fanin"))
        bench_fanin(getenv("TW_BENCH_STREAMS") ? atoi(getenv("TW_BENCH_STREAMS")) : 1000,
                    quick ? 5 : 20);
    return 0;
}
