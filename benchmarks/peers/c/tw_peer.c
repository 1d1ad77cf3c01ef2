/*
 * tw_peer.c - the C floor of the cross-peer benchmark: tokenwire's engine used directly from C.
 *
 * Same command line and JSON result line as benchmarks/peers/python/peer.py:
 *   tw_peer --workload bulk|fanin|ttft --base URL --dialect openai|anthropic [--query Q]
 *           [--chunks N] [--streams N --rate R --duration S] [--requests N] [--tick-us N]
 *           [--ca FILE] [--http2]
 * (--tick-us sets tw_engine_opts.tick_us, to compare time slices in one run; --ca trusts the
 * bench's local CA through tw_request_opts.ca_file; --http2 sets tw_request_opts.http2.)
 * Bulk and TTFT keep the text (a memcpy per delta) and print its SHA-256 after the measured
 * section (OpenSSL's EVP), which bench.py compares with the mock's expected text.
 * The consumer waits on the engine's wakeup fd with poll(), takes every ready stream and each
 * stream's queued events as one batch, and touches every text delta (counts it and its
 * characters, or parses its timestamp for fan-in): what a binding does, minus the binding.
 * CPU is getrusage(RUSAGE_SELF) (the engine's I/O thread included) around the measured part.
 */
#include "tokenwire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

typedef struct args {
    const char *workload;
    const char *base;
    const char *dialect;
    const char *query;
    long chunks;
    long streams;
    double rate;
    double duration;
    long requests;
    long tick_us; /* -1: the engine's default */
    const char *ca; /* NULL: plain HTTP or the system store */
    int http2;
} args;

typedef struct counters {
    long deltas;
    long chars;
    long errors;
    char first_error[200];
    int64_t *lat;
    size_t nlat, caplat;
    double first_text; /* monotonic seconds of the first text delta, 0 if none yet */
    int keep_text;     /* 1: append every delta to text (bulk, the checked TTFT request) */
    char *text;
    size_t tlen, tcap;
} counters;

static void text_push(counters *c, tw_str s) {
    if (c->tlen + s.len > c->tcap) {
        size_t cap = c->tcap ? c->tcap : 1 << 16;
        char *p;
        while (cap < c->tlen + s.len) cap *= 2;
        p = realloc(c->text, cap);
        if (!p) {
            fputs("tw_peer: out of memory\n", stderr);
            exit(1);
        }
        c->text = p;
        c->tcap = cap;
    }
    memcpy(c->text + c->tlen, s.ptr, s.len);
    c->tlen += s.len;
}

/** Hex SHA-256 of the kept text into out[65]. */
static void text_sha256(const counters *c, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    EVP_Digest(c->text ? c->text : "", c->tlen, md, &n, EVP_sha256(), NULL);
    for (i = 0; i < n && i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
    out[64] = 0;
}

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_bytes(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p) {
    double k;
    size_t i;
    if (!n) return 0;
    k = p / 100.0 * (double)(n - 1) + 0.5;
    i = (size_t)k;
    if (i >= n) i = n - 1;
    return (double)v[i];
}

/** Code points in UTF-8 text (what Python's len() and, for BMP text, JS .length count). */
static long utf8_chars(tw_str s) {
    long n = 0;
    size_t i;
    for (i = 0; i < s.len; i++) n += ((unsigned char)s.ptr[i] & 0xC0) != 0x80;
    return n;
}

static void lat_push(counters *c, int64_t v) {
    if (c->nlat == c->caplat) {
        size_t cap = c->caplat ? c->caplat * 2 : 65536;
        int64_t *p = realloc(c->lat, cap * sizeof(*p));
        if (!p) {
            fputs("tw_peer: out of memory\n", stderr);
            exit(1);
        }
        c->lat = p;
        c->caplat = cap;
    }
    c->lat[c->nlat++] = v;
}

static tw_stream *start(tw_engine *e, const args *a, const char *extra, tw_error *err) {
    static const char *hdrs[] = {"Content-Type: application/json"};
    static const char openai_body[] =
        "{\"model\":\"bench-model\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"Tell me a long story.\"}],\"stream\":true}";
    static const char anthropic_body[] =
        "{\"model\":\"bench-model\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\","
        "\"content\":\"Tell me a long story.\"}],\"stream\":true}";
    char url[1024];
    int anth = !strcmp(a->dialect, "anthropic");
    tw_request_opts o;
    tw_request_opts_init(&o);
    snprintf(url, sizeof url, "%s%s?%s%s%s", a->base,
             anth ? "/v1/messages" : "/v1/chat/completions", a->query, *a->query ? "&" : "",
             extra);
    o.url = url;
    o.headers = hdrs;
    o.n_headers = 1;
    o.body = anth ? anthropic_body : openai_body;
    o.body_len = strlen(o.body);
    o.dialect = anth ? TW_DIALECT_ANTHROPIC : TW_DIALECT_OPENAI;
    o.max_retries = 0;
    o.connect_timeout = 60;
    o.ca_file = a->ca;
    o.http2 = a->http2;
    return tw_engine_start(e, &o, err);
}

/** When bench.py runs peers side by side (BENCH_BARRIER=port), reports ready after the warm-up
 * and waits for the go, so that no peer's start-up overlaps another's measured section. */
static void barrier(void) {
    const char *port = getenv("BENCH_BARRIER");
    struct sockaddr_in sa;
    char buf[16];
    int fd;
    if (!port) return;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        write(fd, "ready\n", 6) != 6 || read(fd, buf, sizeof buf) < 0)
        fprintf(stderr, "tw_peer: barrier: %s\n", strerror(errno));
    if (fd >= 0) close(fd);
}

/** Handles one batch; returns 1 when it held the stream's terminal event. */
static int consume(counters *c, tw_batch *b, int latency) {
    size_t i, n = tw_batch_count(b);
    int done = 0;
    for (i = 0; i < n; i++) {
        const tw_event *ev = tw_batch_get(b, i);
        if (ev->type == TW_EV_TEXT) {
            c->deltas++;
            if (c->first_text == 0) c->first_text = mono_now();
            if (latency) {
                lat_push(c, real_us() - strtoll(ev->text.ptr, NULL, 10));
            } else {
                c->chars += utf8_chars(ev->text);
                if (c->keep_text) text_push(c, ev->text);
            }
        } else if (ev->type == TW_EV_END) {
            done = 1;
        } else if (ev->type == TW_EV_ERROR) {
            done = 1;
            if (!c->errors++)
                snprintf(c->first_error, sizeof c->first_error, "%s: %.*s",
                         tw_error_kind_name(ev->error_kind), (int)ev->text.len,
                         ev->text.ptr ? ev->text.ptr : "");
        }
    }
    return done;
}

/** Waits on the wakeup fd up to timeout_ms and drains every ready stream. @return streams
 * that ended in this call. */
static long drain(tw_engine *e, counters *c, int timeout_ms, int latency) {
    struct pollfd pfd;
    tw_stream *ready[256];
    long ended = 0;
    size_t k, n;
    pfd.fd = tw_engine_fd(e);
    pfd.events = POLLIN;
    if (poll(&pfd, 1, timeout_ms) <= 0) return 0;
    while ((n = tw_engine_take_ready(e, ready, 256)) > 0) {
        for (k = 0; k < n; k++) {
            tw_batch *b = tw_stream_take(ready[k]);
            if (!b) continue;
            ended += consume(c, b, latency);
            tw_batch_free(b);
        }
    }
    return ended;
}

/** Runs one stream to its end on engine e. */
static int one_stream(tw_engine *e, const args *a, const char *extra, counters *c) {
    tw_error err;
    tw_stream *s = start(e, a, extra, &err);
    if (!s) {
        fprintf(stderr, "tw_peer: start failed: %s\n", err.msg);
        return -1;
    }
    while (!drain(e, c, 1000, 0)) {
    }
    tw_stream_release(s);
    return 0;
}

static void print_result(const char *fmt_fields, const args *a, int ok, const counters *c) {
    printf("{\"impl\":\"c-engine\",\"loop\":\"poll\",\"workload\":\"%s\",%s,"
           "\"versions\":{\"tokenwire\":\"%s\"},\"ok\":%s",
           a->workload, fmt_fields, tw_version(), ok ? "true" : "false");
    if (c->errors) printf(",\"errors\":%ld,\"first_error\":\"%s\"", c->errors, c->first_error);
    printf("}\n");
}

static int do_bulk(tw_engine *e, const args *a) {
    counters warm = {0}, c = {0};
    char extra[64], fields[512], sha[65];
    double c0, w0, c1, w1;
    if (one_stream(e, a, "chunks=5", &warm)) return 1;
    snprintf(extra, sizeof extra, "chunks=%ld", a->chunks);
    c.keep_text = 1;
    c0 = cpu_now();
    w0 = mono_now();
    if (one_stream(e, a, extra, &c)) return 1;
    w1 = mono_now();
    c1 = cpu_now();
    text_sha256(&c, sha);
    snprintf(fields, sizeof fields,
             "\"chunks\":%ld,\"chars\":%ld,\"cpu_s\":%.6f,\"wall_s\":%.6f,\"expected\":%ld,"
             "\"sha256\":\"%s\"",
             c.deltas, c.chars, c1 - c0, w1 - w0, a->chunks, sha);
    print_result(fields, a, c.errors == 0, &c);
    free(c.text);
    return c.errors != 0;
}

static int do_fanin(tw_engine *e, const args *a) {
    counters warm = {0}, c = {0};
    long per = (long)(a->rate * a->duration + 0.5), started = 0, ended = 0, i;
    long rss0, rssmax;
    char extra[128], fields[1024];
    double c0, w0, c1, w1, next_sample, deadline;
    /* Starts are spread over one chunk interval so the ticks are not in lock-step, and at most
     * 1,000 per second so that no client is judged on how fast a burst of 5,000 connects gets
     * through the listen queue. */
    double ramp = (double)a->streams / 1000.0 > 1.0 / a->rate ? (double)a->streams / 1000.0
                                                              : 1.0 / a->rate;
    tw_stream **ss = calloc((size_t)a->streams, sizeof(*ss));
    int saturated = 0;
    if (!ss || one_stream(e, a, "chunks=5", &warm)) return 1;
    snprintf(extra, sizeof extra, "chunks=%ld&delay_ms=%g&timestamp=1", per, 1000.0 / a->rate);
    barrier();
    rss0 = rssmax = rss_bytes();
    c0 = cpu_now();
    w0 = mono_now();
    next_sample = w0 + 0.5;
    deadline = w0 + ramp + a->duration + (a->duration > 20 ? a->duration / 4 : 5);
    while (ended < a->streams) {
        double now = mono_now(), due;
        int wait_ms;
        while (started < a->streams && w0 + (double)started * ramp / (double)a->streams <= now) {
            tw_error err;
            ss[started] = start(e, a, extra, &err);
            if (!ss[started]) {
                fprintf(stderr, "tw_peer: start failed: %s\n", err.msg);
                return 1;
            }
            started++;
        }
        if (now >= deadline) {
            saturated = 1;
            break;
        }
        if (now >= next_sample) {
            long r = rss_bytes();
            if (r > rssmax) rssmax = r;
            next_sample = now + 0.5;
        }
        due = started < a->streams ? w0 + (double)started * ramp / (double)a->streams
                                   : next_sample;
        wait_ms = (int)((due - now) * 1000.0) + 1;
        if (wait_ms > 500) wait_ms = 500;
        ended += drain(e, &c, wait_ms, 1);
    }
    w1 = mono_now();
    c1 = cpu_now();
    {
        long r = rss_bytes();
        if (r > rssmax) rssmax = r;
    }
    for (i = 0; i < started; i++) tw_stream_release(ss[i]);
    free(ss);
    qsort(c.lat, c.nlat, sizeof(*c.lat), cmp_i64);
    snprintf(fields, sizeof fields,
             "\"chunks\":%ld,\"expected\":%ld,\"cpu_s\":%.6f,\"wall_s\":%.6f,\"cpu_util\":%.6f,"
             "\"lat_p50_us\":%.0f,\"lat_p99_us\":%.0f,\"lat_max_us\":%.0f,\"rss_base\":%ld,"
             "\"rss_max\":%ld,\"rss_per_stream\":%.1f,\"saturated\":%s",
             c.deltas, per * a->streams, c1 - c0, w1 - w0, (c1 - c0) / (w1 - w0),
             pct(c.lat, c.nlat, 50), pct(c.lat, c.nlat, 99),
             c.nlat ? (double)c.lat[c.nlat - 1] : 0.0, rss0, rssmax,
             (double)(rssmax - rss0) / (double)a->streams, saturated ? "true" : "false");
    print_result(fields, a, c.errors == 0, &c);
    free(c.lat);
    return c.errors != 0;
}

static int do_ttft(const args *a) {
    counters c = {0};
    char extra[64], fields[512], sha[65];
    double t0, cold, c0, w0, c1, w1, *ts;
    int64_t *tus;
    long i;
    tw_engine *e;
    tw_error err;
    snprintf(extra, sizeof extra, "chunks=%ld", a->chunks);
    t0 = mono_now();
    e = tw_engine_new(NULL, &err);
    if (!e) {
        fprintf(stderr, "tw_peer: engine: %s\n", err.msg);
        return 1;
    }
    if (one_stream(e, a, extra, &c)) return 1;
    cold = c.first_text - t0;
    ts = calloc((size_t)a->requests, sizeof(*ts));
    tus = calloc((size_t)a->requests, sizeof(*tus));
    if (!ts || !tus) return 1;
    c0 = cpu_now();
    w0 = mono_now();
    for (i = 0; i < a->requests; i++) {
        c.first_text = 0;
        t0 = mono_now();
        if (one_stream(e, a, extra, &c)) return 1;
        tus[i] = (int64_t)((c.first_text - t0) * 1e9);
    }
    w1 = mono_now();
    c1 = cpu_now();
    {
        /* One more request whose text is checked, outside the timing. */
        counters chk = {0};
        chk.keep_text = 1;
        if (one_stream(e, a, extra, &chk)) return 1;
        text_sha256(&chk, sha);
        free(chk.text);
    }
    qsort(tus, (size_t)a->requests, sizeof(*tus), cmp_i64);
    snprintf(fields, sizeof fields,
             "\"chunks\":%ld,\"expected\":%ld,\"cold_ms\":%.4f,\"ttft_p50_ms\":%.4f,"
             "\"ttft_p99_ms\":%.4f,\"cpu_s\":%.6f,\"wall_s\":%.6f,\"cpu_per_req_us\":%.2f,"
             "\"sha256\":\"%s\"",
             c.deltas, a->chunks * (a->requests + 1), cold * 1e3,
             pct(tus, (size_t)a->requests, 50) / 1e6, pct(tus, (size_t)a->requests, 99) / 1e6,
             c1 - c0, w1 - w0, (c1 - c0) / (double)a->requests * 1e6, sha);
    print_result(fields, a, c.errors == 0, &c);
    free(ts);
    free(tus);
    tw_engine_free(e);
    return c.errors != 0;
}

int main(int argc, char **argv) {
    args a = {"bulk", "http://127.0.0.1:8080", "openai", "", 200000, 1000, 50, 20, 1000, -1,
              NULL, 0};
    tw_engine_opts eo;
    int i, rc;
    tw_engine *e;
    tw_error err;
    for (i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(k, "--http2")) {
            a.http2 = 1;
            i--;
        } else if (!strcmp(k, "--ca")) a.ca = v;
        else if (!strcmp(k, "--workload")) a.workload = v;
        else if (!strcmp(k, "--base")) a.base = v;
        else if (!strcmp(k, "--dialect")) a.dialect = v;
        else if (!strcmp(k, "--query")) a.query = v;
        else if (!strcmp(k, "--chunks")) a.chunks = atol(v);
        else if (!strcmp(k, "--streams")) a.streams = atol(v);
        else if (!strcmp(k, "--rate")) a.rate = atof(v);
        else if (!strcmp(k, "--duration")) a.duration = atof(v);
        else if (!strcmp(k, "--requests")) a.requests = atol(v);
        else if (!strcmp(k, "--tick-us")) a.tick_us = atol(v);
        else {
            fprintf(stderr, "tw_peer: unknown option %s\n", k);
            return 2;
        }
    }
    if (!strcmp(a.workload, "versions")) {
        printf("{\"impl\":\"c-engine\",\"workload\":\"versions\",\"versions\":"
               "{\"tokenwire\":\"%s\"},\"ok\":true}\n", tw_version());
        return 0;
    }
    if (!strcmp(a.workload, "ttft")) return do_ttft(&a);
    tw_engine_opts_init(&eo);
    if (a.tick_us >= 0) eo.tick_us = (int)a.tick_us;
    e = tw_engine_new(&eo, &err);
    if (!e) {
        fprintf(stderr, "tw_peer: engine: %s\n", err.msg);
        return 1;
    }
    if (!strcmp(a.workload, "bulk")) rc = do_bulk(e, &a);
    else if (!strcmp(a.workload, "fanin")) rc = do_fanin(e, &a);
    else {
        fprintf(stderr, "tw_peer: unknown workload %s\n", a.workload);
        rc = 2;
    }
    tw_engine_free(e);
    return rc;
}
