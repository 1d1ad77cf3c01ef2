/* test_engine_util.c - helpers shared by the engine tests (see test_engine_util.h). */
#include "test_engine_util.h"
#include "engine/engine_internal.h"
#include "tw_test.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void te_result_free(te_result *r) {
    tw_buf_free(&r->text);
    tw_buf_free(&r->msg);
    tw_buf_free(&r->raw);
    tw_buf_free(&r->rec_raw);
    memset(r, 0, sizeof *r);
}

int te_listen_silent(int *port) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64) ||
        getsockname(fd, (struct sockaddr *)&a, &al)) {
        fprintf(stderr, "listen failed\n");
        exit(2);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int te_unused_port(void) {
    int port, fd = te_listen_silent(&port);
    close(fd);
    return port;
}

const char *te_body(int stream) {
    return stream ? "{\"model\":\"mock-1\",\"stream\":true,"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
                  : "{\"model\":\"mock-1\",\"stream\":false,"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
}

void te_opts(tw_request_opts *o, const char *url, tw_dialect d) {
    tw_request_opts_init(o);
    o->url = url;
    o->dialect = d;
    o->body = te_body(1);
    o->body_len = strlen(o->body);
}

double te_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void te_sleep_ms(double ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
    nanosleep(&ts, NULL);
}

static void add_event(te_result *r, const tw_event *ev) {
    r->events++;
    if (r->terminals) r->after_terminal++;
    r->last = ev->type;
    if (ev->type == TW_EV_TEXT) {
        r->text_events++;
        if (ev->index == 0) tw_buf_append(&r->text, ev->text.ptr, ev->text.len);
    }
    if (ev->type == TW_EV_ERROR && ev->recoverable) {
        /* One bad event: the stream goes on. Remember the first one. */
        if (r->recoverable++ == 0) {
            r->rec_kind = ev->error_kind;
            tw_buf_append(&r->rec_raw, ev->raw.ptr, ev->raw.len);
        }
        return;
    }
    if (ev->type == TW_EV_END || ev->type == TW_EV_ERROR) {
        r->terminals++;
        if (ev->type == TW_EV_ERROR && r->terminals == 1) {
            r->kind = ev->error_kind;
            r->status = ev->status;
            tw_buf_append(&r->msg, ev->text.ptr, ev->text.len);
            tw_buf_append(&r->raw, ev->raw.ptr, ev->raw.len);
        }
    }
}

void te_drain(tw_stream *s, te_result *r, int limit_ms, int sleep_us) {
    for (;;) {
        tw_code rc = tw_stream_wait(s, limit_ms);
        tw_batch *b;
        if (rc == TW_ERR_CLOSED) break;
        if (rc == TW_ERR_TIMEOUT) {
            r->wait_timeouts++;
            break;
        }
        if (sleep_us > 0) te_sleep_ms(sleep_us / 1000.0);
        b = tw_stream_take(s);
        if (!b) continue;
        r->batches++;
        for (size_t i = 0; i < tw_batch_count(b); i++) add_event(r, tw_batch_get(b, i));
        tw_batch_free(b);
    }
    /* Make sure the buffers are NUL-terminated for printing / strcmp. */
    tw_buf_append(&r->text, "", 1);
    r->text.len--;
    tw_buf_append(&r->msg, "", 1);
    r->msg.len--;
}

int te_contract_ok(const te_result *r) {
    return r->terminals == 1 && r->after_terminal == 0 &&
           (r->last == TW_EV_END || r->last == TW_EV_ERROR) && r->wait_timeouts == 0;
}

tw_engine *te_small_engine(size_t high) {
    tw_engine_opts eo;
    tw_engine_opts_init(&eo);
    eo.queue_high_watermark = high;
    eo.queue_low_watermark = high / 4;
    return tw_engine_new(&eo, NULL);
}

void te_slow_drain_check(tw_engine *e, tw_stream *s, const char *want, int min_pauses,
                         double expansion, int sleep_us) {
    te_result r;
    size_t high = tw__engine_high(e), peak;
    size_t bound = high + (size_t)(expansion * (double)tw__engine_buffer_size(e));
    uint64_t pauses;
    tw_engine_stats st;
    memset(&r, 0, sizeof r);
    /* A consumer that only reads once the engine has paused the transfer (or the stream has
     * ended): every take then is one pause/resume cycle, whatever the machine's load. sleep_us
     * adds a delay after each pause. It waits for "paused, no resume on its way" rather than
     * for the pause count to move: the take's resume and the next pause may both happen
     * before the count is read, and then no further pause would ever come. */
    for (;;) {
        double t0 = te_now();
        tw_batch *b;
        while (!tw__stream_paused_for_consumer(s) && !tw__stream_terminal_queued(s) &&
               te_now() - t0 < 20)
            te_sleep_ms(0.2);
        if (sleep_us > 0) te_sleep_ms(sleep_us / 1000.0);
        if (tw_stream_wait(s, 20000) != TW_OK) break;
        b = tw_stream_take(s);
        if (!b) continue;
        r.batches++;
        for (size_t i = 0; i < tw_batch_count(b); i++) add_event(&r, tw_batch_get(b, i));
        tw_batch_free(b);
        if (tw_stream_finished(s)) break;
    }
    tw_buf_append(&r.text, "", 1);
    r.text.len--;
    tw_buf_append(&r.msg, "", 1);
    r.msg.len--;
    peak = tw__stream_queue_peak(s);
    pauses = tw__stream_pauses(s);
    CHECK(te_contract_ok(&r));
    CHECK_MSG(r.last == TW_EV_END, "last %d kind %d msg %s", r.last, r.kind, r.msg.data);
    CHECK_MSG(r.text.len == strlen(want) && !memcmp(r.text.data, want, r.text.len),
              "text differs: got %zu bytes, want %zu", r.text.len, strlen(want));
    CHECK_MSG(peak <= bound, "queue peak %zu > bound %zu", peak, bound);
    CHECK_MSG(peak >= high / 2, "queue peak %zu: the consumer was never behind", peak);
    CHECK_MSG(pauses >= (uint64_t)min_pauses, "only %llu pauses", (unsigned long long)pauses);
    tw_engine_get_stats(e, &st);
    CHECK_EQ_INT(st.paused_streams, 0);
    te_result_free(&r);
}


/* ---- canned server ------------------------------------------------------------------------ */

struct te_canned {
    pthread_mutex_t lock;
    char last[8192]; /* the last request's header block, NUL-terminated */
    int fd;
    pthread_t thread;
    const char *answer;
    size_t len;
    int reset;
    atomic_int requests;
    atomic_int stop;
};

/* Reads one request: headers up to CRLFCRLF (kept in k->last), then Content-Length bytes.
 * @return 0 or -1. */
static int canned_read_request(te_canned *k, int c) {
    char buf[16384];
    size_t have = 0;
    char *end = NULL;
    long clen = 0;
    while (!end) {
        ssize_t r = recv(c, buf + have, sizeof buf - 1 - have, 0);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && have >= sizeof buf - 1) return -1;
    }
    {
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t hl = (size_t)(end + 4 - buf);
        if (cl) clen = strtol(cl + 17, NULL, 10);
        pthread_mutex_lock(&k->lock);
        if (hl >= sizeof k->last) hl = sizeof k->last - 1;
        memcpy(k->last, buf, hl);
        k->last[hl] = '\0';
        pthread_mutex_unlock(&k->lock);
    }
    {
        size_t body = have - (size_t)(end + 4 - buf);
        while ((long)body < clen) {
            ssize_t r = recv(c, buf, sizeof buf, 0);
            if (r <= 0) return -1;
            body += (size_t)r;
        }
    }
    return 0;
}

static void *canned_main(void *arg) {
    te_canned *k = arg;
    for (;;) {
        int c = accept(k->fd, NULL, NULL);
        if (c < 0) {
            if (atomic_load(&k->stop)) break;
            continue;
        }
        if (canned_read_request(k, c) == 0) {
            atomic_fetch_add(&k->requests, 1);
            if (k->answer) {
                size_t off = 0;
                while (off < k->len) {
                    ssize_t w = send(c, k->answer + off, k->len - off, MSG_NOSIGNAL);
                    if (w <= 0) break;
                    off += (size_t)w;
                }
            }
        }
        if (k->reset) {
            struct linger lg = {1, 0};
            setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c);
    }
    return NULL;
}

te_canned *te_canned_start(const char *answer, size_t len, int reset, int *port) {
    te_canned *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    pthread_mutex_init(&k->lock, NULL);
    k->fd = te_listen_silent(port);
    k->answer = answer;
    k->len = len;
    k->reset = reset;
    if (pthread_create(&k->thread, NULL, canned_main, k) != 0) {
        close(k->fd);
        free(k);
        return NULL;
    }
    return k;
}

int te_canned_requests(te_canned *k) { return atomic_load(&k->requests); }

void te_canned_last_request(te_canned *k, char *out, size_t cap) {
    pthread_mutex_lock(&k->lock);
    snprintf(out, cap, "%s", k->last);
    pthread_mutex_unlock(&k->lock);
}

void te_canned_stop(te_canned *k) {
    if (!k) return;
    atomic_store(&k->stop, 1);
    shutdown(k->fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(k->thread, NULL);
    close(k->fd);
    pthread_mutex_destroy(&k->lock);
    free(k);
}
