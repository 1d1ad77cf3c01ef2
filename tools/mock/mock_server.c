/*
 * mock_server.c - the mock LLM server's engine room: one poller loop per thread (the core's
 * poller.h: epoll on Linux, kqueue on macOS/BSD, poll() with TW_POLLER=poll), non-blocking
 * sockets, HTTP/1.1 request parsing (Content-Length and chunked bodies, Expect: 100-continue,
 * keep-alive, Connection: close), chunked response writes cut per the split control, and a
 * per-loop min-heap of deadlines whose earliest one is the poller wait's timeout, so that
 * thousands of streams each keep their own delay schedule. Waits have millisecond resolution
 * (rounded up): a delay_ms below 1 is kept on average (deadlines are absolute: t0 + k * delay)
 * with the events of one millisecond sent together.
 *
 * Connections live on the loop that accepted them and are touched by that thread only; the
 * stats counters are atomics; the fault_times counters are shared under a mutex.
 */
/* memmem, accept4: GNU extensions (the Makefile defines this too). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "engine/poller.h"
#include "mock/mock_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD ((size_t)64 * 1024)
#define MAX_BODY ((size_t)16 * 1024 * 1024)
#define MAX_PIPELINED ((size_t)1024 * 1024)
#define PUMP_BUDGET 512
#define MAX_LOOPS 64

/* macOS has no MSG_NOSIGNAL: accepted sockets get SO_NOSIGPIPE instead (see accept_all). */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

typedef struct mock_loop mock_loop;
typedef struct conn conn;

enum { ST_READ = 0, ST_STREAM, ST_UNARY_WAIT, ST_DRAIN };

struct conn {
    int fd;
    mock_loop *lp;
    conn *prev, *next;  /* the loop's list of live connections */
    int dead;           /* closed; freed at the end of the loop iteration */
    unsigned mask;      /* current poller interest (TW__POLL_*) */
    tw_buf in;          /* received bytes not yet consumed */
    tw_buf body;        /* decoded chunked request body */
    tw_buf out;         /* bytes the socket did not take yet */
    size_t out_off;
    tw_buf ev;          /* scratch: the event being written */
    tw_buf coal;        /* split=coalesce: events waiting for one write */
    long ncoal;
    int state;
    int keep_alive;     /* for the current request */
    int head_only;      /* the current request is HEAD: headers without a body (RFC 9110) */
    int chunked_out;    /* response uses chunked transfer-encoding */
    int sent_100;       /* 100 Continue already sent for this request */
    size_t dechunked;   /* chunked request body: raw bytes already decoded into body */
    int counted_active; /* this response is counted in stats.active */
    int stalled;
    int reset_pending;
    int peer_shut;      /* the client half-closed after its last request */
    size_t heap_idx;    /* position in the timer heap, SIZE_MAX when absent */
    uint64_t due_ns;
    /* the response in progress */
    tw__mock_params params;
    tw__mock_dialect dialect;
    char *model;
    tw__mock_gen *gen;
    uint64_t t0_ns;
    long delayed_k;     /* delayed steps taken */
    uint64_t next_hb_ns;
    uint32_t rng;
};

struct mock_loop {
    tw_mock *m;
    tw__poller *poller;
    conn **heap;         /* min-heap by due_ns */
    size_t nheap, capheap;
    conn *conns;         /* live connections */
    conn *dead;          /* closed, to free after this iteration */
    pthread_t thread;
    int started;
    char listen_tag, wake_tag; /* the poller's ud of the listening socket and of `wake` */
};

typedef struct fault_key {
    char *key;
    long count;
    struct fault_key *next;
} fault_key;

struct tw_mock {
    int lfd;      /* listening socket */
    tw__wakeup wake; /* readable = stop */
    int portable; /* TW_POLLER=poll: poll(), pipe wakeups and accept + fcntl, as on a system
                     without epoll / kqueue / eventfd / accept4 */
    int port;
    char host[64];
    int quiet;
    int nloops;
    mock_loop loops[MAX_LOOPS];
    _Atomic uint64_t active, total, completed, aborted, reqno;
    pthread_mutex_t keys_lock;
    fault_key *keys; /* guarded by keys_lock */
};

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- timer heap ---------------------------------------------------------------------------- */

static void heap_swap(mock_loop *lp, size_t a, size_t b) {
    conn *t = lp->heap[a];
    lp->heap[a] = lp->heap[b];
    lp->heap[b] = t;
    lp->heap[a]->heap_idx = a;
    lp->heap[b]->heap_idx = b;
}

static void heap_up(mock_loop *lp, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (lp->heap[p]->due_ns <= lp->heap[i]->due_ns) break;
        heap_swap(lp, p, i);
        i = p;
    }
}

static void heap_down(mock_loop *lp, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < lp->nheap && lp->heap[l]->due_ns < lp->heap[m]->due_ns) m = l;
        if (r < lp->nheap && lp->heap[r]->due_ns < lp->heap[m]->due_ns) m = r;
        if (m == i) break;
        heap_swap(lp, i, m);
        i = m;
    }
}

static void timer_cancel(conn *c) {
    mock_loop *lp = c->lp;
    size_t i = c->heap_idx;
    if (i == SIZE_MAX) return;
    lp->nheap--;
    if (i != lp->nheap) {
        lp->heap[i] = lp->heap[lp->nheap];
        lp->heap[i]->heap_idx = i;
        heap_down(lp, i);
        heap_up(lp, i);
    }
    c->heap_idx = SIZE_MAX;
}

static void timer_set(conn *c, uint64_t due) {
    mock_loop *lp = c->lp;
    timer_cancel(c);
    if (lp->nheap == lp->capheap) {
        size_t nc = lp->capheap ? lp->capheap * 2 : 256;
        conn **nh = realloc(lp->heap, nc * sizeof *nh);
        if (!nh) {
            fputs("tokenwire mock: out of memory\n", stderr);
            abort();
        }
        lp->heap = nh;
        lp->capheap = nc;
    }
    c->due_ns = due;
    c->heap_idx = lp->nheap;
    lp->heap[lp->nheap++] = c;
    heap_up(lp, c->heap_idx);
}

/* ---- connections --------------------------------------------------------------------------- */

static void set_mask(conn *c, unsigned mask) {
    if (c->mask == mask || c->dead) return;
    tw__poller_mod(c->lp->poller, c->fd, mask, c);
    c->mask = mask;
}

static void response_reset(conn *c) {
    tw__gen_free(c->gen);
    c->gen = NULL;
    free(c->model);
    c->model = NULL;
    tw__mock_params_free(&c->params);
    c->stalled = 0;
    c->reset_pending = 0;
    c->ncoal = 0;
    c->coal.len = 0;
    c->delayed_k = 0;
}

/* Closes the connection; `aborted`: the client left before the end of a stream. */
static void conn_close(conn *c, int rst) {
    mock_loop *lp = c->lp;
    if (c->dead) return;
    if (c->counted_active) {
        atomic_fetch_sub(&lp->m->active, 1);
        c->counted_active = 0;
    }
    timer_cancel(c);
    tw__poller_del(lp->poller, c->fd);
    if (rst) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    c->fd = -1;
    c->dead = 1;
    if (c->prev) c->prev->next = c->next;
    else lp->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = lp->dead;
    c->prev = NULL;
    lp->dead = c;
}

static void conn_abort(conn *c) {
    if (c->counted_active) atomic_fetch_add(&c->lp->m->aborted, 1);
    conn_close(c, 0);
}

static void conn_free(conn *c) {
    response_reset(c);
    tw_buf_free(&c->in);
    tw_buf_free(&c->body);
    tw_buf_free(&c->out);
    tw_buf_free(&c->ev);
    tw_buf_free(&c->coal);
    free(c);
}

static int out_pending(const conn *c) { return c->out.len > c->out_off; }

/* Read interest (with the half-close bit, see poller.h), dropped once the client has
 * half-closed (RDHUP would stay asserted). */
static unsigned base_mask(const conn *c) { return c->peer_shut ? 0 : TW__POLL_IN; }

/* Writes what is buffered. @return 1 all written, 0 would block, -1 connection failed. */
static int flush_out(conn *c) {
    while (out_pending(c)) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_mask(c, base_mask(c) | TW__POLL_OUT);
            return 0;
        }
        return -1;
    }
    c->out.len = c->out_off = 0;
    set_mask(c, base_mask(c));
    return 1;
}

/* Sends iov as one write when nothing is queued, queueing whatever the socket does not take.
 * @return 0, or -1 when the connection failed. */
static int send_iov(conn *c, struct iovec *iov, int n) {
    size_t total = 0, sent = 0;
    for (int i = 0; i < n; i++) total += iov[i].iov_len;
    if (!out_pending(c)) {
        struct msghdr mh;
        ssize_t r;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        do {
            r = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        } while (r < 0 && errno == EINTR);
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (r > 0) sent = (size_t)r;
    }
    if (sent < total) {
        size_t skip = sent;
        for (int i = 0; i < n; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            tw__mb_put(&c->out, (const char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
            skip = 0;
        }
        set_mask(c, base_mask(c) | TW__POLL_OUT);
    }
    return 0;
}

/* One piece of the response body: an HTTP chunk of its own (when chunked) and one write. */
static int send_piece(conn *c, const char *p, size_t n) {
    char hdr[24];
    struct iovec iov[3];
    if (n == 0) return 0;
    if (!c->chunked_out) {
        iov[0].iov_base = (void *)p;
        iov[0].iov_len = n;
        return send_iov(c, iov, 1);
    }
    iov[0].iov_base = hdr;
    iov[0].iov_len = (size_t)snprintf(hdr, sizeof hdr, "%zx\r\n", n);
    iov[1].iov_base = (void *)p;
    iov[1].iov_len = n;
    iov[2].iov_base = (void *)"\r\n";
    iov[2].iov_len = 2;
    return send_iov(c, iov, 3);
}

static int send_raw(conn *c, const char *p, size_t n) {
    struct iovec iov[1];
    iov[0].iov_base = (void *)p;
    iov[0].iov_len = n;
    return n ? send_iov(c, iov, 1) : 0;
}

static uint32_t rng_next(conn *c) {
    uint32_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return c->rng = x;
}

static int flush_coal(conn *c) {
    int rc = 0;
    if (c->coal.len) rc = send_piece(c, c->coal.data, c->coal.len);
    c->coal.len = 0;
    c->ncoal = 0;
    return rc;
}

/* Writes one event's bytes cut per the split control. */
static int write_event(conn *c, const char *p, size_t n) {
    switch (c->params.split) {
    case TW__SPLIT_COALESCE:
        tw__mb_put(&c->coal, p, n);
        if (++c->ncoal >= c->params.coalesce) return flush_coal(c);
        return 0;
    case TW__SPLIT_RANDOM:
        while (n) {
            size_t k = 1 + rng_next(c) % 7;
            if (k > n) k = n;
            if (send_piece(c, p, k)) return -1;
            p += k;
            n -= k;
        }
        return 0;
    case TW__SPLIT_BYTE:
        for (size_t i = 0; i < n; i++)
            if (send_piece(c, p + i, 1)) return -1;
        return 0;
    default: return send_piece(c, p, n);
    }
}

static const char *reason_phrase(int st) {
    switch (st) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Sends the status line and headers; content_length < 0 = streamed body. */
static int send_head(conn *c, int status, const char *ctype, long long content_length,
                     const char *extra) {
    tw_buf h = {0};
    int rc;
    tw__mb_printf(&h, "HTTP/1.1 %d %s\r\nServer: tokenwire-mock\r\nContent-Type: %s\r\n", status,
                  reason_phrase(status), ctype);
    if (content_length >= 0) {
        tw__mb_printf(&h, "Content-Length: %lld\r\n", content_length);
        c->chunked_out = 0;
    } else if (c->chunked_out) {
        tw__mb_puts(&h, "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n");
    } else {
        tw__mb_puts(&h, "Cache-Control: no-cache\r\n");
        c->keep_alive = 0; /* HTTP/1.0: the body ends when the connection closes */
    }
    tw__mb_puts(&h, c->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (extra) tw__mb_puts(&h, extra);
    tw__mb_puts(&h, "\r\n");
    rc = send_raw(c, h.data, h.len);
    tw_buf_free(&h);
    return rc;
}

/* A complete small response (JSON or text). */
static int send_simple(conn *c, int status, const char *ctype, const char *body, size_t n,
                       const char *extra) {
    if (send_head(c, status, ctype, (long long)n, extra)) return -1;
    /* A HEAD answer carries no body even though Content-Length says how long it would be;
     * sending one would corrupt the next response on a kept-alive connection. */
    if (!c->head_only && send_raw(c, body, n)) return -1;
    c->state = ST_DRAIN;
    return 0;
}

static int send_error(conn *c, tw__mock_dialect d, int status, const char *msg,
                      const char *extra) {
    tw_buf b = {0};
    int rc;
    tw__mock_error_body(&b, d, status, msg);
    rc = send_simple(c, status, "application/json", b.data, b.len, extra);
    tw_buf_free(&b);
    return rc;
}

/* fault_times: 1 when this request must fail (and counts it). */
static int fault_hit(tw_mock *m, const char *key, size_t kl, long times) {
    fault_key *k;
    int hit;
    if (times < 0) return 1;
    pthread_mutex_lock(&m->keys_lock);
    for (k = m->keys; k; k = k->next)
        if (strlen(k->key) == kl && !memcmp(k->key, key, kl)) break;
    if (!k) {
        k = calloc(1, sizeof *k);
        if (k) k->key = malloc(kl + 1);
        if (!k || !k->key) {
            free(k);
            pthread_mutex_unlock(&m->keys_lock);
            return 1;
        }
        memcpy(k->key, key, kl);
        k->key[kl] = '\0';
        k->next = m->keys;
        m->keys = k;
    }
    hit = k->count < times;
    if (hit) k->count++;
    pthread_mutex_unlock(&m->keys_lock);
    return hit;
}

static int path_ends(const char *p, size_t n, const char *suffix) {
    size_t sl = strlen(suffix);
    return n >= sl && memcmp(p + n - sl, suffix, sl) == 0;
}

static int query_has(const char *q, size_t n, const char *kv) {
    size_t kl = strlen(kv);
    const char *e = q + n;
    while (q && q < e) {
        const char *amp = memchr(q, '&', (size_t)(e - q));
        const char *pe = amp ? amp : e;
        if ((size_t)(pe - q) == kl && !memcmp(q, kv, kl)) return 1;
        q = amp ? amp + 1 : e;
    }
    return 0;
}

/* Routes a path to a dialect; gemini's model comes from the path. */
/* memrchr, which macOS lacks. */
static const char *last_of(const char *p, char ch, size_t n) {
    while (n > 0)
        if (p[--n] == ch) return p + n;
    return NULL;
}

static tw__mock_dialect route(const tw__mock_req *r, const char **gmodel, size_t *gml) {
    const char *p = r->path;
    size_t n = r->path_len;
    const char *colon, *slash;
    *gmodel = NULL;
    *gml = 0;
    if (path_ends(p, n, "/chat/completions")) return TW__MD_OPENAI;
    if (path_ends(p, n, "/responses")) return TW__MD_RESPONSES;
    if (path_ends(p, n, "/messages")) return TW__MD_ANTHROPIC;
    if (n == 9 && !memcmp(p, "/api/chat", 9)) return TW__MD_OLLAMA_CHAT;
    if (n == 13 && !memcmp(p, "/api/generate", 13)) return TW__MD_OLLAMA_GEN;
    colon = last_of(p, ':', n);
    if (!colon) return TW__MD_NONE;
    slash = last_of(p, '/', (size_t)(colon - p));
    if (!slash || slash - p < 7 || memcmp(slash - 7, "/models", 7) != 0) return TW__MD_NONE;
    *gmodel = slash + 1;
    *gml = (size_t)(colon - slash - 1);
    if ((size_t)(p + n - colon) == 22 && !memcmp(colon, ":streamGenerateContent", 22))
        return r->query && query_has(r->query, r->query_len, "alt=sse") ? TW__MD_GEMINI_SSE
                                                                         : TW__MD_GEMINI_ARRAY;
    if ((size_t)(p + n - colon) == 16 && !memcmp(colon, ":generateContent", 16))
        return TW__MD_GEMINI_UNARY;
    return TW__MD_NONE;
}

static void log_req(conn *c, const tw__mock_req *r, int status, const char *what) {
    if (c->lp->m->quiet) return;
    fprintf(stderr, "mock: %.*s %.*s -> %d %s\n", (int)r->method_len, r->method,
            (int)(r->path_len > 200 ? 200 : r->path_len), r->path, status, what);
}

static int start_stream(conn *c, uint64_t reqno) {
    char extra[64];
    snprintf(extra, sizeof extra, "x-request-id: req_mock%llu\r\n", (unsigned long long)reqno);
    c->gen = tw__gen_new(c->dialect, &c->params, c->model, reqno);
    if (!c->gen) return send_error(c, c->dialect, 500, "mock: out of memory", NULL);
    if (send_head(c, 200, tw__mock_stream_ctype(c->dialect), -1, extra)) return -1;
    c->state = ST_STREAM;
    c->t0_ns = mono_ns();
    c->delayed_k = 0;
    c->next_hb_ns = c->params.heartbeat_ms > 0
                        ? c->t0_ns + (uint64_t)(c->params.heartbeat_ms * 1e6)
                        : 0;
    c->rng = (uint32_t)(reqno * 2654435761u) | 1u;
    c->counted_active = 1;
    atomic_fetch_add(&c->lp->m->active, 1);
    return 0;
}

/* Handles one complete request. @return 0, or -1 when the connection failed. */
static int handle_request(conn *c, const tw__mock_req *r) {
    tw_mock *m = c->lp->m;
    int is_head = r->method_len == 4 && !memcmp(r->method, "HEAD", 4);
    int is_get = is_head || (r->method_len == 3 && !memcmp(r->method, "GET", 3));
    int is_post = r->method_len == 4 && !memcmp(r->method, "POST", 4);
    const char *gm, *v;
    size_t gml, vl;
    char err[160];
    uint64_t reqno;
    tw__mock_dialect d;

    c->head_only = is_head;
    if (is_get && r->path_len == 12 && !memcmp(r->path, "/_mock/stats", 12)) {
        char b[256];
        int n = snprintf(b, sizeof b,
                         "{\"active\":%llu,\"total\":%llu,\"completed\":%llu,\"aborted\":%llu}",
                         (unsigned long long)atomic_load(&m->active),
                         (unsigned long long)atomic_load(&m->total),
                         (unsigned long long)atomic_load(&m->completed),
                         (unsigned long long)atomic_load(&m->aborted));
        return send_simple(c, 200, "application/json", b, (size_t)n, NULL);
    }
    if (is_get && r->path_len == 8 && !memcmp(r->path, "/healthz", 8))
        return send_simple(c, 200, "text/plain", "ok", 2, NULL);

    atomic_fetch_add(&m->total, 1);
    reqno = atomic_fetch_add(&m->reqno, 1) + 1;
    d = route(r, &gm, &gml);
    if (d == TW__MD_NONE) {
        log_req(c, r, 404, "unknown path");
        return send_error(c, d, 404, "mock: unknown path", NULL);
    }
    if (!is_post) {
        log_req(c, r, 405, "POST only");
        return send_error(c, d, 405, "mock: use POST", "Allow: POST\r\n");
    }
    response_reset(c);
    tw__mock_params_init(&c->params);
    if (tw__mock_params_parse(&c->params, r, err, sizeof err) != 0) {
        log_req(c, r, 400, err);
        return send_error(c, d, 400, err, NULL);
    }
    c->dialect = d;
    /* The model: gemini's is in the path; others in the body (plain strings only). */
    if (gm) {
        c->model = strndup(gm, gml);
    } else if (tw__mock_json_top(r->body, r->body_len, "model", &v, &vl) && vl >= 2 &&
               v[0] == '"' && !memchr(v + 1, '\\', vl - 2)) {
        c->model = strndup(v + 1, vl - 2);
    } else {
        c->model = strdup("mock");
    }
    if (!c->model) return -1;

    if (c->params.fault != TW__FAULT_NONE) {
        const char *key = "";
        size_t kl = 0;
        int hit;
        tw__mock_header(r->headers, r->headers_len, "X-Mock-Key", &key, &kl);
        hit = fault_hit(m, key, kl, c->params.fault_times);
        /* fault_times spares the requests after the first N, whatever the fault. */
        if (!hit) c->params.fault = TW__FAULT_NONE;
        if (hit && (c->params.fault == TW__FAULT_429 || c->params.fault == TW__FAULT_500)) {
            if (c->params.fault == TW__FAULT_429) {
                char extra[64];
                snprintf(extra, sizeof extra, "Retry-After: %ld\r\n", c->params.retry_after);
                log_req(c, r, 429, "fault");
                return send_error(c, d, 429, "mock: rate limit reached, retry later", extra);
            }
            log_req(c, r, 500, "fault");
            return send_error(c, d, 500, "mock: internal server error", NULL);
        }
    }

    {
        int unary = d == TW__MD_GEMINI_UNARY;
        if (d != TW__MD_GEMINI_SSE && d != TW__MD_GEMINI_ARRAY && d != TW__MD_GEMINI_UNARY &&
            tw__mock_json_top(r->body, r->body_len, "stream", &v, &vl) && vl == 5 &&
            !memcmp(v, "false", 5))
            unary = 1;
        if (unary) {
            tw_buf b = {0};
            int rc;
            tw__mock_unary_body(&b, d, &c->params, c->model, reqno);
            log_req(c, r, 200, "json");
            if (c->params.delay_ms > 0 && c->params.chunks > 0) {
                /* A non-streaming answer takes as long as the stream would have. */
                c->state = ST_UNARY_WAIT;
                tw_buf_free(&c->ev);
                c->ev = b;
                timer_set(c, mono_ns() + (uint64_t)(c->params.delay_ms * 1e6 *
                                                    (double)c->params.chunks));
                return 0;
            }
            rc = send_simple(c, 200, "application/json", b.data, b.len, NULL);
            tw_buf_free(&b);
            return rc;
        }
    }
    log_req(c, r, 200, "stream");
    return start_stream(c, reqno);
}

/* Decodes a chunked body starting at p, resuming at the chunk boundary *done (the chunks
 * before it are already in body), so a body that trickles in is decoded once, not again and
 * again. @return bytes consumed, 0 need more, -1 malformed. */
static long long dechunk(const char *p, size_t n, tw_buf *body, size_t *done) {
    size_t i = *done;
    for (;;) {
        const char *eol = memchr(p + i, '\n', n - i);
        unsigned long long sz = 0;
        size_t j;
        int digits = 0;
        if (!eol) return n - i > 1024 ? -1 : 0;
        for (j = i; p + j < eol; j++) {
            int ch = (unsigned char)p[j], h;
            if (ch >= '0' && ch <= '9') h = ch - '0';
            else if (ch >= 'a' && ch <= 'f') h = ch - 'a' + 10;
            else if (ch >= 'A' && ch <= 'F') h = ch - 'A' + 10;
            else break;
            if (sz > (MAX_BODY >> 4)) return -1;
            sz = sz * 16 + (unsigned)h;
            digits++;
        }
        if (!digits) return -1;
        i = (size_t)(eol - p) + 1;
        if (sz == 0) {
            /* trailers until an empty line */
            for (;;) {
                const char *e2 = memchr(p + i, '\n', n - i);
                size_t ll;
                if (!e2) return 0;
                ll = (size_t)(e2 - (p + i));
                i = (size_t)(e2 - p) + 1;
                if (ll == 0 || (ll == 1 && p[i - 2] == '\r')) return (long long)i;
            }
        }
        if (body->len + sz > MAX_BODY) return -1;
        if (n - i < sz + 2) return 0;
        if (p[i + sz] == '\r') {
            if (p[i + sz + 1] != '\n') return -1;
        } else if (p[i + sz] != '\n') {
            return -1;
        }
        tw__mb_put(body, p + i, (size_t)sz);
        i += (size_t)sz + (p[i + sz] == '\r' ? 2 : 1);
        *done = i;
    }
}

/* Tries to take one request out of c->in. @return 1 handled, 0 need more, -1 closed. */
static int try_request(conn *c) {
    char *d = c->in.data;
    size_t n = c->in.len, head_len, body_off, consumed;
    const char *he, *sp1, *sp2, *line_end, *v;
    size_t vl;
    tw__mock_req r;
    long long cl = 0;
    int chunked = 0, http10, rc;

    if (n == 0) return 0;
    he = memmem(d, n, "\r\n\r\n", 4);
    if (he) {
        head_len = (size_t)(he - d) + 4;
    } else if ((he = memmem(d, n, "\n\n", 2)) != NULL) {
        head_len = (size_t)(he - d) + 2;
    } else {
        if (n > MAX_HEAD) {
            c->keep_alive = 0;
            send_error(c, TW__MD_NONE, 431, "mock: request head too large", NULL);
            return -1;
        }
        return 0;
    }
    memset(&r, 0, sizeof r);
    line_end = memchr(d, '\n', head_len);
    sp1 = memchr(d, ' ', (size_t)(line_end - d));
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || line_end - sp2 < 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        c->keep_alive = 0;
        send_error(c, TW__MD_NONE, 400, "mock: malformed request line", NULL);
        return -1;
    }
    http10 = sp2[8] == '0';
    r.method = d;
    r.method_len = (size_t)(sp1 - d);
    r.path = sp1 + 1;
    r.path_len = (size_t)(sp2 - sp1 - 1);
    {
        const char *q = memchr(r.path, '?', r.path_len);
        if (q) {
            r.query = q + 1;
            r.query_len = (size_t)(r.path + r.path_len - q - 1);
            r.path_len = (size_t)(q - r.path);
        }
    }
    r.headers = line_end + 1;
    r.headers_len = head_len - (size_t)(line_end + 1 - d);

    c->keep_alive = !http10 && !c->peer_shut;
    c->chunked_out = !http10;
    if (tw__mock_header(r.headers, r.headers_len, "Connection", &v, &vl)) {
        if (vl >= 5 && !strncasecmp(v, "close", 5)) c->keep_alive = 0;
        else if (vl >= 10 && !strncasecmp(v, "keep-alive", 10)) c->keep_alive = !c->peer_shut;
    }
    if (tw__mock_header(r.headers, r.headers_len, "Transfer-Encoding", &v, &vl) && vl >= 7 &&
        !strncasecmp(v + vl - 7, "chunked", 7)) {
        chunked = 1;
    } else if (tw__mock_header(r.headers, r.headers_len, "Content-Length", &v, &vl)) {
        char tmp[24];
        char *end;
        if (vl == 0 || vl >= sizeof tmp) cl = -1;
        else {
            memcpy(tmp, v, vl);
            tmp[vl] = '\0';
            cl = strtoll(tmp, &end, 10);
            if (*end || cl < 0) cl = -1;
        }
        if (cl < 0) {
            c->keep_alive = 0;
            send_error(c, TW__MD_NONE, 400, "mock: bad Content-Length", NULL);
            return -1;
        }
        if ((size_t)cl > MAX_BODY) {
            c->keep_alive = 0;
            send_error(c, TW__MD_NONE, 413, "mock: body too large", NULL);
            return -1;
        }
    }
    body_off = head_len;
    if (chunked) {
        long long used = dechunk(d + body_off, n - body_off, &c->body, &c->dechunked);
        if (used < 0) {
            c->keep_alive = 0;
            send_error(c, TW__MD_NONE, 400, "mock: malformed chunked body", NULL);
            return -1;
        }
        if (used == 0) goto need_more;
        r.body = c->body.data;
        r.body_len = c->body.len;
        consumed = body_off + (size_t)used;
    } else {
        if (n - body_off < (size_t)cl) goto need_more;
        r.body = d + body_off;
        r.body_len = (size_t)cl;
        consumed = body_off + (size_t)cl;
    }
    c->sent_100 = 0;
    rc = handle_request(c, &r);
    c->body.len = 0;
    c->dechunked = 0;
    /* Everything handle_request needed from the buffer has been copied; drop the request. */
    memmove(c->in.data, c->in.data + consumed, c->in.len - consumed);
    c->in.len -= consumed;
    return rc < 0 ? -1 : 1;

need_more:
    if (!c->sent_100 && tw__mock_header(r.headers, r.headers_len, "Expect", &v, &vl) &&
        vl == 12 && !strncasecmp(v, "100-continue", 12)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        c->sent_100 = 1;
        if (send_raw(c, cont, sizeof cont - 1)) return -1;
    }
    return 0;
}

/* Ends the current response once its bytes are out. @return 1 go on, 0 wait, -1 closed. */
static int drain(conn *c) {
    int r = flush_out(c);
    if (r < 0) {
        conn_abort(c);
        return -1;
    }
    if (r == 0) return 0;
    if (c->counted_active) {
        atomic_fetch_sub(&c->lp->m->active, 1);
        atomic_fetch_add(&c->lp->m->completed, 1);
        c->counted_active = 0;
    }
    response_reset(c);
    if (!c->keep_alive) {
        shutdown(c->fd, SHUT_WR);
        conn_close(c, 0);
        return -1;
    }
    c->state = ST_READ;
    return 1;
}

/* Streams events until the socket is full, a delay is due, or the stream ends.
 * @return 1 state changed (go on), 0 waiting, -1 closed. */
static int pump(conn *c) {
    uint64_t delay_ns = (uint64_t)(c->params.delay_ms * 1e6);
    uint64_t hb_ns = (uint64_t)(c->params.heartbeat_ms * 1e6);
    int budget = PUMP_BUDGET;
    for (;;) {
        int r = flush_out(c);
        uint64_t now;
        if (r < 0) {
            conn_abort(c);
            return -1;
        }
        if (r == 0) return 0;
        if (c->reset_pending) {
            if (c->counted_active) {
                atomic_fetch_sub(&c->lp->m->active, 1);
                atomic_fetch_add(&c->lp->m->completed, 1);
                c->counted_active = 0;
            }
            conn_close(c, 1);
            return -1;
        }
        if (tw__gen_heartbeat_only(c->gen)) {
            uint64_t period = hb_ns ? hb_ns : 100000000u;
            now = mono_ns();
            if (!c->next_hb_ns) c->next_hb_ns = now + period;
            if (now >= c->next_hb_ns) {
                c->ev.len = 0;
                tw__gen_heartbeat(c->gen, &c->ev);
                if (send_piece(c, c->ev.data, c->ev.len)) {
                    conn_abort(c);
                    return -1;
                }
                c->next_hb_ns = now + period;
            }
            timer_set(c, c->next_hb_ns);
            return 0;
        }
        if (c->stalled) return 0;
        if (tw__gen_next_delayed(c->gen)) {
            if (delay_ns) {
                uint64_t due = c->t0_ns + delay_ns * (uint64_t)(c->delayed_k + 1);
                now = mono_ns();
                if (now < due) {
                    if (flush_coal(c)) {
                        conn_abort(c);
                        return -1;
                    }
                    if (hb_ns && now >= c->next_hb_ns) {
                        c->ev.len = 0;
                        tw__gen_heartbeat(c->gen, &c->ev);
                        if (send_piece(c, c->ev.data, c->ev.len)) {
                            conn_abort(c);
                            return -1;
                        }
                        c->next_hb_ns = now + hb_ns;
                    }
                    timer_set(c, hb_ns && c->next_hb_ns < due ? c->next_hb_ns : due);
                    if (out_pending(c)) continue;
                    return 0;
                }
            }
            c->delayed_k++;
        }
        c->ev.len = 0;
        switch (tw__gen_next(c->gen, &c->ev)) {
        case TW__GEN_EVENT:
            if (write_event(c, c->ev.data, c->ev.len)) {
                conn_abort(c);
                return -1;
            }
            break;
        case TW__GEN_DONE:
            if (flush_coal(c) || (c->chunked_out && send_raw(c, "0\r\n\r\n", 5))) {
                conn_abort(c);
                return -1;
            }
            c->state = ST_DRAIN;
            return 1;
        case TW__GEN_RESET:
            if (flush_coal(c)) {
                conn_abort(c);
                return -1;
            }
            c->reset_pending = 1;
            continue;
        case TW__GEN_STALL:
            if (flush_coal(c)) {
                conn_abort(c);
                return -1;
            }
            c->stalled = 1;
            continue;
        }
        if (--budget == 0) {
            /* Let the other connections of this loop have a turn. */
            if (flush_coal(c)) {
                conn_abort(c);
                return -1;
            }
            timer_set(c, mono_ns());
            return 0;
        }
    }
}

/* Runs the connection's state machine as far as it can go. */
static void conn_run(conn *c) {
    for (;;) {
        int r;
        if (c->dead) return;
        switch (c->state) {
        case ST_READ:
            r = try_request(c);
            if (r < 0) {
                /* A malformed request: the error answer is queued; close after it. */
                if (!c->dead) {
                    c->keep_alive = 0;
                    c->state = ST_DRAIN;
                    continue;
                }
                return;
            }
            if (r == 0) return;
            continue;
        case ST_STREAM:
            r = pump(c);
            if (r <= 0) return;
            continue;
        case ST_UNARY_WAIT:
            if (c->heap_idx != SIZE_MAX) return; /* still waiting */
            {
                tw_buf b = c->ev;
                tw_buf_init(&c->ev);
                r = send_simple(c, 200, "application/json", b.data, b.len, NULL);
                tw_buf_free(&b);
                if (r < 0) {
                    conn_abort(c);
                    return;
                }
            }
            continue;
        case ST_DRAIN:
            r = drain(c);
            if (r <= 0) return;
            continue;
        default: return;
        }
    }
}

/* The peer closed or failed. */
static void conn_gone(conn *c) {
    if (c->state == ST_READ && !out_pending(c)) conn_close(c, 0);
    else conn_abort(c);
}

static void conn_event(conn *c, unsigned ev) {
    if (c->dead) return;
    if (ev & (TW__POLL_ERR | TW__POLL_HUP)) {
        conn_gone(c);
        return;
    }
    if (ev & (TW__POLL_IN | TW__POLL_RDHUP)) {
        for (;;) {
            ssize_t n;
            if (c->in.len > MAX_HEAD + MAX_BODY + MAX_PIPELINED) {
                conn_abort(c);
                return;
            }
            if (tw_buf_reserve(&c->in, 16384) != TW_OK) {
                conn_abort(c);
                return;
            }
            n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - TW_JSON_PADDING, 0);
            if (n > 0) {
                c->in.len += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            /* 0: orderly shutdown by the peer; <0: reset. Either way it is gone. */
            if (n == 0 && c->state == ST_READ && c->in.len > 0 && !out_pending(c)) {
                /* a final request sent with a half-close: answer it, then close */
                c->peer_shut = 1;
                set_mask(c, base_mask(c) | (out_pending(c) ? TW__POLL_OUT : 0u));
                conn_run(c);
                if (!c->dead) c->keep_alive = 0;
                if (!c->dead && c->state == ST_READ) conn_close(c, 0);
                return;
            }
            conn_gone(c);
            return;
        }
    }
    conn_run(c);
}

/* fcntl's half of what accept4 / SOCK_NONBLOCK | SOCK_CLOEXEC do in one call. */
static int nonblock_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    fl = fcntl(fd, F_GETFD);
    return fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0 ? -1 : 0;
}

/* accept4 where the system has it (Linux, the BSDs) unless the portable configuration is on;
 * accept + fcntl otherwise (macOS). */
static int accept_nb(tw_mock *m) {
    int fd;
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__)
    if (!m->portable) return accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#endif
    fd = accept(m->lfd, NULL, NULL);
    if (fd >= 0 && nonblock_cloexec(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
#ifdef SO_NOSIGPIPE
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif
    return fd;
}

static void accept_all(mock_loop *lp) {
    for (;;) {
        int one = 1;
        conn *c;
        int fd = accept_nb(lp->m);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if ((errno == EMFILE || errno == ENFILE) && !lp->m->quiet)
                fputs("mock: out of file descriptors, connection left in the backlog\n", stderr);
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->lp = lp;
        c->heap_idx = SIZE_MAX;
        c->mask = TW__POLL_IN;
        if (tw__poller_add(lp->poller, fd, c->mask, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = lp->conns;
        if (lp->conns) lp->conns->prev = c;
        lp->conns = c;
    }
}

/* The wait's timeout: until the heap's earliest deadline, rounded up to whole ms (never
 * early, so a wakeup finds that deadline due), -1 when the heap is empty. */
static int wait_ms(const mock_loop *lp) {
    uint64_t due, now, ms;
    if (!lp->nheap) return -1;
    due = lp->heap[0]->due_ns;
    now = mono_ns();
    if (due <= now) return 0;
    ms = (due - now + 999999u) / 1000000u;
    return ms > 86400000u ? 86400000 : (int)ms;
}

static void *loop_main(void *arg) {
    mock_loop *lp = arg;
    tw__poll_event evs[256];
    int stop = 0;
    tw__thread_name("tw-mock"); /* tells it from the engine in perf / top */
    while (!stop) {
        int n = tw__poller_wait(lp->poller, evs, 256, wait_ms(lp));
        if (n < 0) break;
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].ud;
            if (tag == &lp->listen_tag) {
                accept_all(lp);
            } else if (tag == &lp->wake_tag) {
                stop = 1;
            } else {
                conn_event(tag, evs[i].events);
            }
        }
        if (!stop) {
            uint64_t now = mono_ns();
            while (lp->nheap && lp->heap[0]->due_ns <= now) {
                conn *c = lp->heap[0];
                timer_cancel(c);
                conn_run(c);
            }
        }
        while (lp->dead) {
            conn *c = lp->dead;
            lp->dead = c->next;
            conn_free(c);
        }
    }
    return NULL;
}

/* ---- public API ---------------------------------------------------------------------------- */

void tw_mock_opts_init(tw_mock_opts *o) {
    if (!o) return;
    o->host = "127.0.0.1";
    o->port = 0;
    o->threads = 1;
    o->quiet = 0;
}

static void set_err(tw_error *err, tw_code code, const char *what) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->code = code;
    snprintf(err->msg, sizeof err->msg, "%s", what);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void free_loops(tw_mock *m) {
    for (int i = 0; i < m->nloops; i++) {
        mock_loop *lp = &m->loops[i];
        while (lp->conns) {
            conn *c = lp->conns;
            lp->conns = c->next;
            if (c->counted_active) atomic_fetch_sub(&m->active, 1);
            close(c->fd);
            conn_free(c);
        }
        while (lp->dead) {
            conn *c = lp->dead;
            lp->dead = c->next;
            conn_free(c);
        }
        free(lp->heap);
        tw__poller_free(lp->poller);
    }
}

static void mock_free(tw_mock *m) {
    free_loops(m);
    if (m->lfd >= 0) close(m->lfd);
    tw__wakeup_close(&m->wake);
    while (m->keys) {
        fault_key *k = m->keys;
        m->keys = k->next;
        free(k->key);
        free(k);
    }
    pthread_mutex_destroy(&m->keys_lock);
    free(m);
}

static int open_listener(tw_mock *m, const char *host, int port, tw_error *err) {
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[16];
    int fd = -1, one = 1, gai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "mock: cannot resolve %s: %s", host, gai_strerror(gai));
        set_err(err, TW_ERR_INVALID_ARG, msg);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, 0);
        if (fd < 0) continue;
        if (nonblock_cloexec(fd) != 0) {
            close(fd);
            fd = -1;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "mock: cannot listen on %s:%d: %s", host, port,
                 strerror(errno));
        set_err(err, TW_ERR_TRANSPORT, msg);
        return -1;
    }
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        m->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    m->lfd = fd;
    return 0;
}

tw_mock *tw_mock_start(const tw_mock_opts *opts, tw_error *err) {
    tw_mock_opts o;
    tw_mock *m;
    tw__poller_kind kind;
    char envmsg[112];
    if (tw__poller_env(&kind, envmsg, sizeof envmsg) != 0) {
        char full[120];
        snprintf(full, sizeof full, "mock: %.111s", envmsg);
        set_err(err, TW_ERR_INVALID_ARG, full);
        return NULL;
    }
    if (opts) o = *opts;
    else tw_mock_opts_init(&o);
    if (!o.host) o.host = "127.0.0.1";
    if (o.threads <= 0) o.threads = 1;
    if (o.threads > MAX_LOOPS) o.threads = MAX_LOOPS;
    if (o.port < 0 || o.port > 65535) {
        set_err(err, TW_ERR_INVALID_ARG, "mock: port out of range");
        return NULL;
    }
    raise_nofile();
    m = calloc(1, sizeof *m);
    if (!m) {
        set_err(err, TW_ERR_NOMEM, "mock: out of memory");
        return NULL;
    }
    m->lfd = m->wake.rfd = m->wake.wfd = -1;
    m->quiet = o.quiet;
    m->portable = kind == TW__POLLER_POLL;
    snprintf(m->host, sizeof m->host, "%s", o.host);
    pthread_mutex_init(&m->keys_lock, NULL);
    if (open_listener(m, o.host, o.port, err) != 0) {
        mock_free(m);
        return NULL;
    }
    if (tw__wakeup_open(&m->wake, m->portable) != 0) goto sys_fail;
    for (int i = 0; i < o.threads; i++) {
        mock_loop *lp = &m->loops[i];
        lp->m = m;
        lp->poller = tw__poller_new(kind);
        m->nloops = i + 1;
        if (!lp->poller) goto sys_fail;
        if (tw__poller_add(lp->poller, m->lfd, TW__POLL_IN | TW__POLL_EXCLUSIVE, &lp->listen_tag))
            goto sys_fail;
        if (tw__poller_add(lp->poller, tw__wakeup_fd(&m->wake), TW__POLL_IN, &lp->wake_tag))
            goto sys_fail;
    }
    for (int i = 0; i < m->nloops; i++) {
        if (pthread_create(&m->loops[i].thread, NULL, loop_main, &m->loops[i]) != 0) {
            tw_mock_stop(m);
            set_err(err, TW_ERR_NOMEM, "mock: cannot start a thread");
            return NULL;
        }
        m->loops[i].started = 1;
    }
    if (err) set_err(err, TW_OK, "");
    return m;

sys_fail: {
    char msg[128];
    snprintf(msg, sizeof msg, "mock: poller setup failed: %s", strerror(errno));
    set_err(err, TW_ERR_TRANSPORT, msg);
    mock_free(m);
    return NULL;
}
}

int tw_mock_port(const tw_mock *m) { return m ? m->port : 0; }

void tw_mock_stop(tw_mock *m) {
    if (!m) return;
    tw__wakeup_signal(&m->wake); /* never drained: every loop sees it readable */
    for (int i = 0; i < m->nloops; i++)
        if (m->loops[i].started) pthread_join(m->loops[i].thread, NULL);
    mock_free(m);
}

void tw_mock_get_stats(tw_mock *m, tw_mock_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!m) return;
    out->active = atomic_load(&m->active);
    out->total = atomic_load(&m->total);
    out->completed = atomic_load(&m->completed);
    out->aborted = atomic_load(&m->aborted);
}

int tw_mock_run(const tw_mock_opts *opts) {
    sigset_t set, old;
    tw_error err;
    tw_mock *m;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Block before the loop threads exist so that they inherit the mask and only sigwait
     * below sees the signals. */
    pthread_sigmask(SIG_BLOCK, &set, &old);
    m = tw_mock_start(opts, &err);
    if (!m) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        fprintf(stderr, "tokenwire mock: %s\n", err.msg);
        return 1;
    }
    if (strchr(m->host, ':')) printf("listening on http://[%s]:%d\n", m->host, m->port);
    else printf("listening on http://%s:%d\n", m->host, m->port);
    fflush(stdout);
    sigwait(&set, &sig);
    tw_mock_stop(m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
