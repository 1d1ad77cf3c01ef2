/* test_engine_pause.c - backpressure: a slow consumer makes the engine pause the transfer at
 * the high watermark and resume it after a take; queued bytes stay bounded (checked from the
 * queue's own peak, not from timing) and every event arrives in order. Run on chunked bodies
 * (mock, and a tiny local server) and on close-delimited bodies of unknown length, small
 * enough that the server has sent everything and closed while the client is paused (the
 * situation of curl #11982) and large enough for hundreds of pause/resume cycles. */
#include "engine/engine_internal.h"
#include "test_engine_util.h"
#include "tw_test.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a one-shot SSE server: close-delimited or chunked, openai chunks "t<i> " ---- */

typedef struct tiny {
    int ls, port, n, chunked;
    pthread_t th;
} tiny;

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_block(tiny *t, int fd, const char *p, size_t n) {
    if (t->chunked) {
        char hdr[32];
        int hl = snprintf(hdr, sizeof hdr, "%zx\r\n", n);
        if (write_all(fd, hdr, (size_t)hl) || write_all(fd, p, n) || write_all(fd, "\r\n", 2))
            return -1;
        return 0;
    }
    return write_all(fd, p, n);
}

static void *tiny_main(void *arg) {
    tiny *t = arg;
    char req[8192], block[8192];
    size_t have = 0, bl = 0;
    int fd = accept(t->ls, NULL, NULL);
    if (fd < 0) return NULL;
    /* Read the request head (the body is small; whatever of it is unread is harmless). */
    while (have < sizeof req - 1) {
        ssize_t r = recv(fd, req + have, sizeof req - 1 - have, 0);
        if (r <= 0) break;
        have += (size_t)r;
        req[have] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    {
        const char *head = t->chunked ? "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                        "Transfer-Encoding: chunked\r\n\r\n"
                                      : "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                        "Connection: close\r\n\r\n";
        if (write_all(fd, head, strlen(head))) goto out;
    }
    for (int i = 0; i <= t->n; i++) {
        char ev[128];
        int el = i < t->n ? snprintf(ev, sizeof ev,
                                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                                     "\"t%d \"}}]}\n\n",
                                     i)
                          : snprintf(ev, sizeof ev, "data: [DONE]\n\n");
        if (bl + (size_t)el > sizeof block) {
            if (send_block(t, fd, block, bl)) goto out;
            bl = 0;
        }
        memcpy(block + bl, ev, (size_t)el);
        bl += (size_t)el;
    }
    if (bl && send_block(t, fd, block, bl)) goto out;
    if (t->chunked) write_all(fd, "0\r\n\r\n", 5);
    shutdown(fd, SHUT_WR);
    /* Wait for the client to finish reading (it closes), so no RST discards unread data. */
    while (recv(fd, req, sizeof req, 0) > 0) {
    }
out:
    close(fd);
    return NULL;
}

static void tiny_start(tiny *t, int n, int chunked) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    memset(t, 0, sizeof *t);
    t->n = n;
    t->chunked = chunked;
    t->ls = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (t->ls < 0 || bind(t->ls, (struct sockaddr *)&a, sizeof a) || listen(t->ls, 4) ||
        getsockname(t->ls, (struct sockaddr *)&a, &al)) {
        fprintf(stderr, "tiny server: listen failed\n");
        exit(2);
    }
    t->port = ntohs(a.sin_port);
    pthread_create(&t->th, NULL, tiny_main, t);
}

static void tiny_stop(tiny *t) {
    pthread_join(t->th, NULL);
    close(t->ls);
}

static char *tiny_expected(int n) {
    tw_buf b;
    tw_buf_init(&b);
    for (int i = 0; i < n; i++) {
        char tok[32];
        int l = snprintf(tok, sizeof tok, "t%d ", i);
        tw_buf_append(&b, tok, (size_t)l);
    }
    tw_buf_append(&b, "", 1);
    return b.data;
}

/* ---- the checks ---- */

#define HIGH 16384

static void tiny_case(int n, int chunked, int min_pauses) {
    tw_engine *e = te_small_engine(HIGH);
    tiny t;
    char url[128];
    tw_request_opts o;
    tw_stream *s;
    char *want = tiny_expected(n);
    tiny_start(&t, n, chunked);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", t.port);
    te_opts(&o, url, TW_DIALECT_OPENAI);
    s = tw_engine_start(e, &o, NULL);
    CHECK(s != NULL);
    if (n < 5000) te_sleep_ms(100); /* let the server write everything and close first */
    te_slow_drain_check(e, s, want, min_pauses, 4.0, 0);
    tw_stream_release(s);
    tw_engine_free(e);
    tiny_stop(&t);
    free(want);
}

TW_TEST(engine_pause_close_delimited_small) { tiny_case(3000, 0, 3); }
TW_TEST(engine_pause_close_delimited_large) { tiny_case(80000, 0, 100); }
TW_TEST(engine_pause_chunked_small) { tiny_case(3000, 1, 3); }
TW_TEST(engine_pause_chunked_large) { tiny_case(80000, 1, 100); }

