/* test_mock.c - the mock LLM server, spoken to over plain sockets: each dialect's wire shape,
 * keep-alive, request bodies, every fault, split modes, stats, stream:false, concurrency. */
#include "mock/tw_mock.h"
#include "tw_test.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- a tiny HTTP/1.1 client ---------------------------------------------------------------- */

typedef struct tconn {
    int fd;
    tw_buf rb; /* bytes read and not yet consumed */
} tconn;

typedef struct tresp {
    int status;
    char head[8192];
    tw_buf body;       /* de-chunked */
    int nchunks;
    size_t min_chunk, max_chunk;
    int chunked;
    int eof;           /* the server closed (FIN) */
    int reset;         /* the server reset the connection */
    int timeout;       /* nothing arrived within the time limit */
} tresp;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int tc_open(tconn *c, int port) {
    struct sockaddr_in sa;
    int one = 1;
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void tc_close(tconn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    tw_buf_free(&c->rb);
}

static void tc_send(tconn *c, const char *s, size_t n) {
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads more bytes (waits up to ms). @return >0 bytes, 0 EOF, -1 reset, -2 timeout. */
static int tc_fill(tconn *c, int ms) {
    struct pollfd pf = {c->fd, POLLIN, 0};
    ssize_t n;
    int pr = poll(&pf, 1, ms);
    if (pr == 0) return -2;
    if (tw_buf_reserve(&c->rb, 65536) != TW_OK) return -1;
    n = recv(c->fd, c->rb.data + c->rb.len, 65536, 0);
    if (n > 0) {
        c->rb.len += (size_t)n;
        return (int)n;
    }
    if (n == 0) return 0;
    return -1;
}

static void consume(tconn *c, size_t n) {
    memmove(c->rb.data, c->rb.data + n, c->rb.len - n);
    c->rb.len -= n;
}

static uint64_t read_deadline;

/* Waits for more bytes until the deadline of the current tc_read. */
static int tc_fill_dl(tconn *c) {
    uint64_t now = now_ms();
    if (now >= read_deadline) return -2;
    return tc_fill(c, (int)(read_deadline - now));
}

/* Reads one response. Stops early on EOF / reset / after ms in all, flags say which. */
static void tc_read(tconn *c, tresp *r, int ms) {
    const char *he;
    size_t hl;
    long long cl = -1;
    memset(r, 0, sizeof *r);
    r->min_chunk = SIZE_MAX;
    read_deadline = now_ms() + (uint64_t)ms;
    for (;;) {
        int f;
        if (c->rb.len && (he = memmem(c->rb.data, c->rb.len, "\r\n\r\n", 4)) != NULL) {
            hl = (size_t)(he - c->rb.data) + 4;
            if (hl > 9 && !memcmp(c->rb.data + 9, "100", 3)) {
                consume(c, hl); /* 100 Continue */
                continue;
            }
            break;
        }
        f = tc_fill_dl(c);
        if (f == 0) r->eof = 1;
        if (f == -1) r->reset = 1;
        if (f == -2) r->timeout = 1;
        if (f <= 0) return;
    }
    snprintf(r->head, sizeof r->head, "%.*s", (int)hl, c->rb.data);
    r->status = atoi(r->head + 9);
    consume(c, hl);
    if (strcasestr(r->head, "Transfer-Encoding: chunked")) r->chunked = 1;
    {
        const char *p = strcasestr(r->head, "Content-Length:");
        if (p) cl = atoll(p + 15);
    }
    if (r->chunked) {
        for (;;) {
            char *eol = c->rb.len ? memmem(c->rb.data, c->rb.len, "\r\n", 2) : NULL;
            size_t sz;
            int f;
            if (eol) {
                sz = strtoul(c->rb.data, NULL, 16);
                if (c->rb.len >= (size_t)(eol - c->rb.data) + 2 + sz + 2) {
                    size_t off = (size_t)(eol - c->rb.data) + 2;
                    if (sz == 0) {
                        consume(c, off + 2);
                        return;
                    }
                    tw_buf_append(&r->body, c->rb.data + off, sz);
                    r->nchunks++;
                    if (sz < r->min_chunk) r->min_chunk = sz;
                    if (sz > r->max_chunk) r->max_chunk = sz;
                    consume(c, off + sz + 2);
                    continue;
                }
            }
            f = tc_fill_dl(c);
            if (f == 0) r->eof = 1;
            if (f == -1) r->reset = 1;
            if (f == -2) r->timeout = 1;
            if (f <= 0) return;
        }
    }
    if (cl >= 0) {
        while (c->rb.len < (size_t)cl) {
            int f = tc_fill_dl(c);
            if (f == 0) r->eof = 1;
            if (f == -1) r->reset = 1;
            if (f == -2) r->timeout = 1;
            if (f <= 0) break;
        }
        {
            size_t n = c->rb.len < (size_t)cl ? c->rb.len : (size_t)cl;
            tw_buf_append(&r->body, c->rb.data, n);
            consume(c, n);
        }
        return;
    }
    /* close-delimited */
    for (;;) {
        int f;
        tw_buf_append(&r->body, c->rb.data, c->rb.len);
        c->rb.len = 0;
        f = tc_fill_dl(c);
        if (f == 0) r->eof = 1;
        if (f == -1) r->reset = 1;
        if (f == -2) r->timeout = 1;
        if (f <= 0) return;
    }
}

static void tresp_free(tresp *r) { tw_buf_free(&r->body); }

static void tc_post(tconn *c, const char *path, const char *extra_headers, const char *body) {
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     path, strlen(body), extra_headers ? extra_headers : "");
    tc_send(c, head, (size_t)n);
    tc_send(c, body, strlen(body));
}

/* One request on a fresh connection, read for at most ms. */
static void post_ms(int port, const char *path, const char *hdrs, const char *body, tresp *r,
                    int ms) {
    tconn c;
    if (tc_open(&c, port) != 0) {
        memset(r, 0, sizeof *r);
        CHECK_MSG(0, "connect failed");
        return;
    }
    tc_post(&c, path, hdrs, body);
    tc_read(&c, r, ms);
    tc_close(&c);
}

static void post1(int port, const char *path, const char *hdrs, const char *body, tresp *r) {
    post_ms(port, path, hdrs, body, r, 5000);
}

static void get_stats(int port, tw_mock_stats *s) {
    tconn c;
    tresp r;
    const char *b;
    memset(s, 0, sizeof *s);
    if (tc_open(&c, port) != 0) return;
    tc_send(&c, "GET /_mock/stats HTTP/1.1\r\nHost: x\r\n\r\n", 38);
    tc_read(&c, &r, 5000);
    tc_close(&c);
    tw_buf_append(&r.body, "", 1);
    b = r.body.data;
    if (b && strstr(b, "\"active\":")) {
        s->active = strtoull(strstr(b, "\"active\":") + 9, NULL, 10);
        s->total = strtoull(strstr(b, "\"total\":") + 8, NULL, 10);
        s->completed = strtoull(strstr(b, "\"completed\":") + 12, NULL, 10);
        s->aborted = strtoull(strstr(b, "\"aborted\":") + 10, NULL, 10);
    }
    tresp_free(&r);
}

static tw_mock *start_mock(void) {
    tw_mock_opts o;
    tw_error e;
    tw_mock *m;
    tw_mock_opts_init(&o);
    o.quiet = 1;
    m = tw_mock_start(&o, &e);
    CHECK_MSG(m != NULL, "tw_mock_start: %s", e.msg);
    return m;
}

/* ---- reading the payloads ------------------------------------------------------------------ */

/* Decodes the JSON string at p (opening quote) into out. @return past it, or NULL. */
static const char *jstr(const char *p, tw_buf *out) {
    if (*p != '"') return NULL;
    p++;
    while (*p && *p != '"') {
        if (*p == '\\') {
            p++;
            switch (*p) {
            case 'n': tw_buf_append(out, "\n", 1); break;
            case 't': tw_buf_append(out, "\t", 1); break;
            case 'r': tw_buf_append(out, "\r", 1); break;
            case 'u': {
                char ch = (char)strtol((char[]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
                tw_buf_append(out, &ch, 1);
                p += 4;
                break;
            }
            default: tw_buf_append(out, p, 1);
            }
            p++;
        } else {
            tw_buf_append(out, p++, 1);
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

/* Concatenates the JSON strings that follow every occurrence of key (e.g. "\"content\":"). */
static char *collect(const tw_buf *body, const char *key) {
    tw_buf out = {0}, hay = {0};
    const char *p;
    tw_buf_append(&hay, body->data, body->len);
    tw_buf_append(&hay, "", 1);
    tw_buf_append(&out, "", 0);
    p = hay.data;
    while (p && (p = strstr(p, key)) != NULL) {
        p += strlen(key);
        if (*p == '"') p = jstr(p, &out);
    }
    tw_buf_append(&out, "", 1);
    tw_buf_free(&hay);
    return out.data;
}

static int count_of(const tw_buf *b, const char *needle) {
    int n = 0;
    size_t nl = strlen(needle);
    const char *p = b->data, *e = b->data + b->len;
    while (p && p < e && (p = memmem(p, (size_t)(e - p), needle, nl)) != NULL) {
        n++;
        p += nl;
    }
    return n;
}

static int ends_with(const tw_buf *b, const char *s) {
    size_t n = strlen(s);
    return b->len >= n && !memcmp(b->data + b->len - n, s, n);
}

static const char *find(const tw_buf *b, const char *s) {
    return b->len ? memmem(b->data, b->len, s, strlen(s)) : NULL;
}

/* ---- tests --------------------------------------------------------------------------------- */

TW_TEST(mock_expected_text_is_deterministic) {
    char *t = tw_mock_expected_text(3, "alpha beta");
    char *d = tw_mock_expected_text(2, NULL);
    char *r = tw_mock_expected_reasoning(2);
    char *a = tw_mock_expected_tool_args(1);
    CHECK_EQ_STR(t, strlen(t), "alpha beta alpha");
    CHECK_EQ_STR(d, strlen(d), "Hello from");
    CHECK_EQ_STR(r, strlen(r), "Thinking about part 1. Thinking about part 2. ");
    CHECK_EQ_STR(a, strlen(a), "{\"city\":\"Paris\",\"days\":2,\"unit\":\"celsius\"}");
    free(t);
    free(d);
    free(r);
    free(a);
    t = tw_mock_expected_text(0, NULL);
    CHECK_EQ_STR(t, strlen(t), "");
    free(t);
}

TW_TEST(mock_openai_stream_shape) {
    tw_mock *m = start_mock();
    tresp r;
    char *text, *exp = tw_mock_expected_text(20, NULL);
    const char *role, *first_content;
    if (!m) return;
    post1(tw_mock_port(m), "/v1/chat/completions", NULL,
          "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
          "\"hi\"}]}",
          &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strcasestr(r.head, "Content-Type: text/event-stream") != NULL);
    CHECK(r.chunked);
    CHECK(!r.eof && !r.reset);
    role = find(&r.body, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"");
    first_content = find(&r.body, "\"delta\":{\"content\":");
    CHECK(role && first_content && role < first_content);
    CHECK(!memcmp(r.body.data, "data: {\"id\":\"chatcmpl-", 22));
    CHECK(find(&r.body, "\"model\":\"gpt-4o-mini\"") != NULL);
    text = collect(&r.body, "\"delta\":{\"content\":");
    CHECK_EQ_STR(text, strlen(text), exp);
    CHECK_EQ_INT(count_of(&r.body, "\"finish_reason\":\"stop\""), 1);
    CHECK(find(&r.body, "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,"
                        "\"total_tokens\":32") != NULL);
    CHECK(ends_with(&r.body, "data: [DONE]\n\n"));
    CHECK_EQ_INT(count_of(&r.body, "\n\n"), 24); /* role + 20 + finish + usage + DONE */
    CHECK(!find(&r.body, "\r"));
    free(text);
    tresp_free(&r);

    /* usage=0: no usage chunk, no usage:null */
    post1(tw_mock_port(m), "/v1/chat/completions?usage=0&chunks=2", NULL, "{}", &r);
    CHECK(!find(&r.body, "usage"));
    CHECK(ends_with(&r.body, "data: [DONE]\n\n"));
    tresp_free(&r);
    free(exp);
    tw_mock_stop(m);
}

TW_TEST(mock_openai_reasoning_tools_choices) {
    tw_mock *m = start_mock();
    tresp r;
    char *reason, *exp_r = tw_mock_expected_reasoning(3), *args, *exp_a;
    const char *idpos, *frag;
    if (!m) return;
    post1(tw_mock_port(m), "/v1/chat/completions?chunks=4&reasoning=3&tools=2", NULL,
          "{\"stream\":true}", &r);
    reason = collect(&r.body, "\"delta\":{\"reasoning_content\":");
    CHECK_EQ_STR(reason, strlen(reason), exp_r);
    /* id and name come first, then argument fragments for the same index */
    idpos = find(&r.body, "\"tool_calls\":[{\"index\":1,\"id\":\"call_mock_1\",\"type\":"
                          "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}");
    frag = find(&r.body, "\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":");
    CHECK(idpos && frag && idpos < frag);
    args = collect(&r.body, "{\"index\":1,\"function\":{\"arguments\":");
    exp_a = tw_mock_expected_tool_args(1);
    CHECK_EQ_STR(args, strlen(args), exp_a);
    CHECK_EQ_INT(count_of(&r.body, "\"finish_reason\":\"tool_calls\""), 1);
    free(args);
    free(exp_a);
    free(reason);
    tresp_free(&r);

    /* two choices interleave; choice 1's text is shifted by one word */
    post1(tw_mock_port(m), "/v1/chat/completions?chunks=3&choices=2&text=a+b+c+d", NULL, "{}", &r);
    CHECK_EQ_INT(count_of(&r.body, "{\"index\":0,\"delta\":{\"content\":"), 3);
    CHECK_EQ_INT(count_of(&r.body, "{\"index\":1,\"delta\":{\"content\":"), 3);
    {
        char *c0 = collect(&r.body, "{\"index\":0,\"delta\":{\"content\":");
        char *c1 = collect(&r.body, "{\"index\":1,\"delta\":{\"content\":");
        CHECK_EQ_STR(c0, strlen(c0), "a b c");
        CHECK_EQ_STR(c1, strlen(c1), "b c d");
        free(c0);
        free(c1);
    }
    CHECK_EQ_INT(count_of(&r.body, "\"finish_reason\":\"stop\""), 2);
    tresp_free(&r);
    free(exp_r);
    tw_mock_stop(m);
}

/* The SSE events of body, one "event-name|data" line each (data only for unnamed events). */
static int next_event(const char **pp, const char *e, char *name, size_t nl, const char **data,
                      size_t *dl) {
    const char *p = *pp, *end = p < e ? memmem(p, (size_t)(e - p), "\n\n", 2) : NULL;
    const char *d;
    if (!end) return 0;
    name[0] = '\0';
    if (!strncmp(p, "event: ", 7)) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        snprintf(name, nl, "%.*s", (int)(eol - p - 7), p + 7);
        p = eol + 1;
    }
    d = p;
    if (strncmp(d, "data: ", 6)) return -1;
    *data = d + 6;
    *dl = (size_t)(end - d - 6);
    *pp = end + 2;
    return 1;
}

TW_TEST(mock_anthropic_event_sequence) {
    tw_mock *m = start_mock();
    tresp r;
    static const char *const want[] = {
        "message_start",       "content_block_start", "ping",
        "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_stop",  "content_block_start", "content_block_delta",
        "content_block_delta", "content_block_stop",  "content_block_start",
        "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_stop",  "message_delta",       "message_stop"};
    const char *p, *e, *data;
    char name[64];
    size_t dl;
    int i = 0, ok = 1;
    if (!m) return;
    post1(tw_mock_port(m), "/v1/messages?chunks=2&reasoning=2&tools=1", NULL,
          "{\"model\":\"claude-sonnet-4-5\",\"stream\":true,\"max_tokens\":100}", &r);
    CHECK_EQ_INT(r.status, 200);
    p = r.body.data;
    e = r.body.data + r.body.len;
    while (p && next_event(&p, e, name, sizeof name, &data, &dl) == 1) {
        char typ[80];
        snprintf(typ, sizeof typ, "\"type\":\"%s\"", name);
        if (i >= (int)(sizeof want / sizeof want[0]) || strcmp(name, want[i])) {
            CHECK_MSG(0, "event %d is %s", i, name);
            ok = 0;
            break;
        }
        /* data.type repeats the event name (ping has a space after the colon, as the API) */
        CHECK_MSG(memmem(data, dl, typ, strlen(typ)) || !strcmp(name, "ping"), "type of %s",
                  name);
        i++;
    }
    CHECK(ok && i == (int)(sizeof want / sizeof want[0]));
    {
        char *th = collect(&r.body, "\"thinking_delta\",\"thinking\":");
        char *tx = collect(&r.body, "\"text_delta\",\"text\":");
        char *pj = collect(&r.body, "\"partial_json\":");
        char *er = tw_mock_expected_reasoning(2), *et = tw_mock_expected_text(2, NULL);
        char *ea = tw_mock_expected_tool_args(0);
        CHECK_EQ_STR(th, strlen(th), er);
        CHECK_EQ_STR(tx, strlen(tx), et);
        CHECK_EQ_STR(pj, strlen(pj), ea);
        free(th);
        free(tx);
        free(pj);
        free(er);
        free(et);
        free(ea);
    }
    CHECK(find(&r.body, "\"model\":\"claude-sonnet-4-5\"") != NULL);
    CHECK(find(&r.body, "\"type\":\"tool_use\",\"id\":\"toolu_mock_0\",\"name\":\"get_weather\"") !=
          NULL);
    CHECK(find(&r.body, "\"stop_reason\":\"tool_use\"") != NULL);
    CHECK(find(&r.body, "\"usage\":{\"output_tokens\":") != NULL);
    tresp_free(&r);
    tw_mock_stop(m);
}

TW_TEST(mock_responses_events) {
    tw_mock *m = start_mock();
    tresp r;
    const char *p, *e, *data;
    char name[80];
    size_t dl;
    long seq = 0;
    int n = 0;
    if (!m) return;
    post1(tw_mock_port(m), "/v1/responses?chunks=3&tools=1&reasoning=1", NULL,
          "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"stream\":true}", &r);
    CHECK_EQ_INT(r.status, 200);
    p = r.body.data;
    e = p + r.body.len;
    while (p && next_event(&p, e, name, sizeof name, &data, &dl) == 1) {
        char typ[120], sq[40];
        snprintf(typ, sizeof typ, "{\"type\":\"%s\",", name);
        snprintf(sq, sizeof sq, "\"sequence_number\":%ld", seq++);
        CHECK_MSG(dl > strlen(typ) && !memcmp(data, typ, strlen(typ)), "type of %s", name);
        CHECK_MSG(memmem(data, dl, sq, strlen(sq)) != NULL, "%s", sq);
        if (n == 0) CHECK_EQ_STR(name, strlen(name), "response.created");
        n++;
    }
    CHECK_EQ_STR(name, strlen(name), "response.completed");
    {
        char *tx = collect(&r.body, "\"content_index\":0,\"delta\":");
        char *et = tw_mock_expected_text(3, NULL);
        char *ar = collect(&r.body, "\"output_index\":2,\"delta\":");
        char *ea = tw_mock_expected_tool_args(0);
        CHECK_EQ_STR(tx, strlen(tx), et);
        CHECK_EQ_STR(ar, strlen(ar), ea);
        free(tx);
        free(et);
        free(ar);
        free(ea);
    }
    CHECK(find(&r.body, "\"call_id\":\"call_mock_0\",\"name\":\"get_weather\"") != NULL);
    CHECK(find(&r.body, "event: response.reasoning_summary_text.delta\n") != NULL);
    CHECK(find(&r.body, "\"status\":\"completed\"") != NULL);
    CHECK(find(&r.body, "\"usage\":{\"input_tokens\":12,") != NULL);
    tresp_free(&r);
    tw_mock_stop(m);
}

TW_TEST(mock_gemini_sse_and_array) {
    tw_mock *m = start_mock();
    tresp r;
    const char *p;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    post1(port, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&chunks=3&tools=1",
          NULL, "{\"contents\":[]}", &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strcasestr(r.head, "text/event-stream") != NULL);
    /* every line ends with CRLF; events are separated by a blank CRLF line */
    CHECK_EQ_INT(count_of(&r.body, "\r\n\r\n"), 5);
    CHECK_EQ_INT(count_of(&r.body, "\n"), 10);
    CHECK(ends_with(&r.body, "\r\n\r\n"));
    CHECK_EQ_INT(count_of(&r.body, "\"usageMetadata\":{\"promptTokenCount\":12"), 5);
    CHECK(find(&r.body, "\"candidatesTokenCount\":1,") != NULL);
    CHECK(find(&r.body, "\"candidatesTokenCount\":4,\"totalTokenCount\":16}") != NULL);
    CHECK(find(&r.body, "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\","
                        "\"days\":1,\"unit\":\"celsius\"}}}") != NULL);
    CHECK(find(&r.body, "\"finishReason\":\"STOP\"") != NULL);
    CHECK(find(&r.body, "\"modelVersion\":\"gemini-2.5-flash\"") != NULL);
    {
        char *tx = collect(&r.body, "{\"text\":");
        char *et = tw_mock_expected_text(3, NULL);
        CHECK_EQ_STR(tx, strlen(tx), et);
        free(tx);
        free(et);
    }
    tresp_free(&r);

    post1(port, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?chunks=2&reasoning=1",
          NULL, "{}", &r);
    CHECK(strcasestr(r.head, "application/json") != NULL);
    CHECK(r.body.len > 2 && r.body.data[0] == '[' && ends_with(&r.body, "}]"));
    CHECK_EQ_INT(count_of(&r.body, "},\r\n{"), 3);
    CHECK(find(&r.body, "\"thought\":true") != NULL);
    CHECK(find(&r.body, "data:") == NULL);
    tresp_free(&r);

    /* heartbeat in the array form is whitespace, never a comment */
    post1(port, "/v1beta/models/g:streamGenerateContent?chunks=2&delay_ms=30&heartbeat_ms=5",
          NULL, "{}", &r);
    CHECK(r.body.len && r.body.data[0] == '[' && ends_with(&r.body, "]"));
    CHECK(find(&r.body, "keepalive") == NULL);
    tresp_free(&r);

    post1(port, "/v1beta/models/gemini-pro:generateContent?chunks=2", NULL, "{}", &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(!r.chunked && strcasestr(r.head, "Content-Length:"));
    p = find(&r.body, "\"parts\":[{\"text\":\"Hello from\"}]");
    CHECK(p != NULL);
    tresp_free(&r);
    tw_mock_stop(m);
}

TW_TEST(mock_ollama_ndjson) {
    tw_mock *m = start_mock();
    tresp r;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    post1(port, "/api/chat?chunks=4&tools=1&reasoning=1", NULL,
          "{\"model\":\"llama3.2\",\"messages\":[]}", &r);
    CHECK(strcasestr(r.head, "application/x-ndjson") != NULL);
    CHECK_EQ_INT(count_of(&r.body, "\n"), 7);
    CHECK_EQ_INT(count_of(&r.body, "\"done\":false"), 6);
    CHECK_EQ_INT(count_of(&r.body, "\"done\":true"), 1);
    CHECK(find(&r.body, "\"done_reason\":\"stop\",\"done\":true") != NULL);
    CHECK(find(&r.body, "\"eval_count\":") && find(&r.body, "\"prompt_eval_count\":12"));
    CHECK(find(&r.body, "\"tool_calls\":[{\"function\":{\"name\":\"get_weather\",\"arguments\":{") !=
          NULL);
    CHECK(find(&r.body, "\"model\":\"llama3.2\",\"created_at\":\"") != NULL);
    {
        char *tx = collect(&r.body, "\"role\":\"assistant\",\"content\":");
        char *et = tw_mock_expected_text(4, NULL);
        char *th = collect(&r.body, "\"thinking\":");
        char *er = tw_mock_expected_reasoning(1);
        CHECK_EQ_STR(tx, strlen(tx), et);
        CHECK_EQ_STR(th, strlen(th), er);
        free(tx);
        free(et);
        free(th);
        free(er);
    }
    tresp_free(&r);

    post1(port, "/api/generate?chunks=3", NULL, "{\"model\":\"llama3.2\",\"prompt\":\"x\"}", &r);
    CHECK_EQ_INT(count_of(&r.body, "\n"), 4);
    CHECK(find(&r.body, "\"context\":[1,2,3]") != NULL);
    {
        char *tx = collect(&r.body, "\"response\":");
        char *et = tw_mock_expected_text(3, NULL);
        CHECK_EQ_STR(tx, strlen(tx), et);
        free(tx);
        free(et);
    }
    tresp_free(&r);
    tw_mock_stop(m);
}

TW_TEST(mock_stream_false_bodies) {
    tw_mock *m = start_mock();
    static const struct {
        const char *path, *needle;
    } cases[] = {
        {"/v1/chat/completions?chunks=3", "\"object\":\"chat.completion\""},
        {"/v1/chat/completions?chunks=3", "\"message\":{\"role\":\"assistant\",\"content\":"
                                          "\"Hello from the\""},
        {"/v1/responses?chunks=3", "\"text\":\"Hello from the\""},
        {"/v1/messages?chunks=3", "\"content\":[{\"type\":\"text\",\"text\":\"Hello from the\"}]"},
        {"/api/chat?chunks=3", "\"content\":\"Hello from the\""},
        {"/api/generate?chunks=3", "\"response\":\"Hello from the\""},
    };
    tresp r;
    if (!m) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        post1(tw_mock_port(m), cases[i].path, NULL, "{\"model\":\"x\",\"stream\" : false}", &r);
        CHECK_EQ_INT(r.status, 200);
        CHECK_MSG(!r.chunked && strcasestr(r.head, "Content-Type: application/json"), "%s",
                  cases[i].path);
        CHECK_MSG(find(&r.body, cases[i].needle) != NULL, "%s: %.*s", cases[i].path,
                  (int)r.body.len, r.body.data);
        CHECK(r.body.len && r.body.data[0] == '{' && ends_with(&r.body, "}"));
        tresp_free(&r);
    }
    /* a nested "stream": false does not count; only the top-level key does */
    post1(tw_mock_port(m), "/v1/chat/completions?chunks=1", NULL,
          "{\"metadata\":{\"stream\":false},\"stream\":true}", &r);
    CHECK(r.chunked && find(&r.body, "[DONE]"));
    tresp_free(&r);
    /* delay: the JSON answer comes after chunks * delay_ms */
    {
        uint64_t t0 = now_ms();
        post1(tw_mock_port(m), "/v1/messages?chunks=4&delay_ms=25", NULL, "{\"stream\":false}", &r);
        CHECK(now_ms() - t0 >= 95);
        CHECK_EQ_INT(r.status, 200);
        tresp_free(&r);
    }
    tw_mock_stop(m);
}

/* HEAD (what a connection prewarm sends) gets headers only, so the kept-alive connection stays
 * usable: a POST right behind it on the same connection gets a clean response. */
TW_TEST(mock_head_has_no_body) {
    tw_mock *m = start_mock();
    tconn c;
    const char reqs[] = "HEAD /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n"
                        "POST /v1/chat/completions?chunks=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
    uint64_t t0;
    const char *end_of_head, *second;
    if (!m) return;
    CHECK(tc_open(&c, tw_mock_port(m)) == 0);
    tc_send(&c, reqs, sizeof reqs - 1);
    t0 = now_ms();
    while (now_ms() - t0 < 5000 &&
           !(c.rb.len && memmem(c.rb.data, c.rb.len, "[DONE]", 6)))
        if (tc_fill(&c, 500) <= 0 && c.rb.len == 0) break;
    CHECK(c.rb.len > 12 && !memcmp(c.rb.data, "HTTP/1.1 405", 12));
    end_of_head = c.rb.len ? memmem(c.rb.data, c.rb.len, "\r\n\r\n", 4) : NULL;
    second = c.rb.len ? memmem(c.rb.data, c.rb.len, "HTTP/1.1 200", 12) : NULL;
    CHECK(end_of_head != NULL && second == end_of_head + 4);
    CHECK(c.rb.len && memmem(c.rb.data, c.rb.len, "[DONE]", 6) != NULL);
    tc_close(&c);
    tw_mock_stop(m);
}

TW_TEST(mock_keepalive_and_connection_close) {
    tw_mock *m = start_mock();
    tconn c;
    tresp r;
    tw_mock_stats s;
    if (!m) return;
    CHECK(tc_open(&c, tw_mock_port(m)) == 0);
    for (int i = 0; i < 3; i++) {
        tc_post(&c, i == 1 ? "/v1/messages?chunks=2" : "/v1/chat/completions?chunks=2", NULL,
                i == 2 ? "{\"stream\":false}" : "{}");
        tc_read(&c, &r, 5000);
        CHECK_EQ_INT(r.status, 200);
        CHECK(!r.eof && !r.reset && !r.timeout);
        CHECK(strcasestr(r.head, "Connection: keep-alive") != NULL);
        tresp_free(&r);
    }
    /* two pipelined requests in one write are answered in order */
    {
        const char two[] = "POST /v1/chat/completions?chunks=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
                           "{}POST /api/chat?chunks=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
        tc_send(&c, two, sizeof two - 1);
        tc_read(&c, &r, 5000);
        CHECK(find(&r.body, "[DONE]") != NULL);
        tresp_free(&r);
        tc_read(&c, &r, 5000);
        CHECK(find(&r.body, "\"done\":true") != NULL);
        tresp_free(&r);
    }
    /* Connection: close is honoured: the server closes after the response */
    tc_post(&c, "/v1/chat/completions?chunks=2", "Connection: close\r\n", "{}");
    tc_read(&c, &r, 5000);
    CHECK(strcasestr(r.head, "Connection: close") != NULL);
    CHECK(find(&r.body, "[DONE]") != NULL);
    tresp_free(&r);
    CHECK_EQ_INT(tc_fill(&c, 2000), 0);
    tc_close(&c);
    get_stats(tw_mock_port(m), &s);
    CHECK_EQ_INT(s.total, 6);
    CHECK_EQ_INT(s.completed, 5);
    CHECK_EQ_INT(s.active, 0);
    tw_mock_stop(m);
}

TW_TEST(mock_request_bodies) {
    tw_mock *m = start_mock();
    tconn c;
    tresp r;
    if (!m) return;
    /* a chunked request body, cut in odd places, with the model inside */
    CHECK(tc_open(&c, tw_mock_port(m)) == 0);
    {
        const char *parts[] = {("POST /v1/chat/completions?chunks=1 HTTP/1.1\r\nHost: x\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"),
                               "a\r\n{\"model\":\"", "\r\n6\r\nchunky", "\r\n",
                               "2\r\n\"}\r\n0\r\n\r\n"};
        for (size_t i = 0; i < 5; i++) {
            tc_send(&c, parts[i], strlen(parts[i]));
            usleep(2000);
        }
    }
    tc_read(&c, &r, 5000);
    CHECK_EQ_INT(r.status, 200);
    CHECK(find(&r.body, "\"model\":\"chunky\"") != NULL);
    tresp_free(&r);
    /* Expect: 100-continue gets an interim answer before the body is sent */
    {
        const char head[] = "POST /v1/messages?chunks=1 HTTP/1.1\r\nContent-Length: 18\r\n"
                            "Expect: 100-continue\r\n\r\n";
        tc_send(&c, head, sizeof head - 1);
        CHECK(tc_fill(&c, 2000) > 0);
        CHECK(c.rb.len >= 25 && !memcmp(c.rb.data, "HTTP/1.1 100 Continue\r\n\r\n", 25));
        consume(&c, 25);
        tc_send(&c, "{\"model\":\"cont1\"}", 17);
        tc_send(&c, " ", 1);
        tc_read(&c, &r, 5000);
        CHECK_EQ_INT(r.status, 200);
        CHECK(find(&r.body, "\"model\":\"cont1\"") != NULL);
        tresp_free(&r);
    }
    /* unknown path, wrong method, bad control value, unknown control */
    tc_post(&c, "/v2/nothing", NULL, "{}");
    tc_read(&c, &r, 5000);
    CHECK_EQ_INT(r.status, 404);
    tresp_free(&r);
    tc_send(&c, "GET /v1/chat/completions HTTP/1.1\r\n\r\n", 37);
    tc_read(&c, &r, 5000);
    CHECK_EQ_INT(r.status, 405);
    tresp_free(&r);
    tc_post(&c, "/v1/messages?chunks=lots", NULL, "{}");
    tc_read(&c, &r, 5000);
    CHECK_EQ_INT(r.status, 400);
    CHECK(find(&r.body, "\"type\":\"invalid_request_error\"") != NULL);
    tresp_free(&r);
    tc_post(&c, "/v1/messages", "X-Mock-Bogus: 1\r\n", "{}");
    tc_read(&c, &r, 5000);
    CHECK_EQ_INT(r.status, 400);
    tresp_free(&r);
    /* headers work like query parameters; the query wins; text is URL-decoded */
    tc_post(&c, "/v1/chat/completions?chunks=3&text=one+two%20three", "X-Mock-Chunks: 9\r\n"
            "X-Mock-Usage: 0\r\n", "{}");
    tc_read(&c, &r, 5000);
    {
        char *tx = collect(&r.body, "\"delta\":{\"content\":");
        CHECK_EQ_STR(tx, strlen(tx), "one two three");
        free(tx);
    }
    CHECK(!find(&r.body, "usage"));
    tresp_free(&r);
    /* the healthz endpoint */
    tc_send(&c, "GET /healthz HTTP/1.1\r\n\r\n", 25);
    tc_read(&c, &r, 5000);
    CHECK_EQ_STR(r.body.data, r.body.len, "ok");
    tresp_free(&r);
    /* a malformed request line is answered 400 and the connection closed */
    tc_send(&c, "NONSENSE\r\n\r\n", 12);
    tc_read(&c, &r, 5000);
    CHECK_EQ_INT(r.status, 400);
    tresp_free(&r);
    CHECK_EQ_INT(tc_fill(&c, 2000), 0);
    tc_close(&c);

    /* HTTP/1.0: close-delimited, no chunked framing */
    CHECK(tc_open(&c, tw_mock_port(m)) == 0);
    tc_send(&c, "POST /api/chat?chunks=2 HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", 57);
    tc_read(&c, &r, 5000);
    CHECK(!r.chunked && r.eof);
    CHECK(find(&r.body, "\"done\":true") != NULL);
    tresp_free(&r);
    tc_close(&c);
    tw_mock_stop(m);
}

TW_TEST(mock_fault_http_errors) {
    tw_mock *m = start_mock();
    tresp r;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    post1(port, "/v1/chat/completions?fault=429&retry_after=7", NULL, "{}", &r);
    CHECK_EQ_INT(r.status, 429);
    CHECK(strcasestr(r.head, "Retry-After: 7\r\n") != NULL);
    CHECK(find(&r.body, "{\"error\":{\"message\":") && find(&r.body, "\"code\":\"rate_limit_exceeded\""));
    tresp_free(&r);
    post1(port, "/v1/messages?fault=429", NULL, "{}", &r);
    CHECK(find(&r.body, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"") != NULL);
    tresp_free(&r);
    post1(port, "/v1beta/models/g:streamGenerateContent?alt=sse&fault=429", NULL, "{}", &r);
    CHECK(find(&r.body, "{\"error\":{\"code\":429,") && find(&r.body, "RESOURCE_EXHAUSTED"));
    tresp_free(&r);
    post1(port, "/api/chat?fault=500", NULL, "{}", &r);
    CHECK_EQ_INT(r.status, 500);
    CHECK(r.body.len > 10 && !memcmp(r.body.data, "{\"error\":\"", 10));
    tresp_free(&r);
    post1(port, "/v1/responses?fault=500", NULL, "{}", &r);
    CHECK_EQ_INT(r.status, 500);
    CHECK(find(&r.body, "\"type\":\"server_error\"") != NULL);
    tresp_free(&r);
    /* fault_times: only the first N requests with the same key fail */
    for (int i = 0; i < 4; i++) {
        post1(port, "/v1/chat/completions?fault=500&fault_times=2&chunks=1", "X-Mock-Key: k1\r\n",
              "{}", &r);
        CHECK_EQ_INT(r.status, i < 2 ? 500 : 200);
        tresp_free(&r);
    }
    post1(port, "/v1/chat/completions?fault=429&fault_times=1&chunks=1", "X-Mock-Key: k2\r\n",
          "{}", &r);
    CHECK_EQ_INT(r.status, 429);
    tresp_free(&r);
    post1(port, "/v1/chat/completions?fault=429&fault_times=1&chunks=1", "X-Mock-Key: k2\r\n",
          "{}", &r);
    CHECK_EQ_INT(r.status, 200);
    tresp_free(&r);
    /* ... and mid-stream faults too: the first request resets, the second completes */
    for (int i = 0; i < 2; i++) {
        post1(port, "/v1/chat/completions?fault=reset&fault_times=1&chunks=5",
              "X-Mock-Key: k3\r\n", "{}", &r);
        CHECK_EQ_INT(r.reset, i == 0);
        CHECK_EQ_INT(find(&r.body, "[DONE]") != NULL, i == 1);
        tresp_free(&r);
    }
    tw_mock_stop(m);
}

TW_TEST(mock_fault_reset_and_stall) {
    tw_mock *m = start_mock();
    tconn c;
    tresp r;
    tw_mock_stats s;
    uint64_t t0;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    post1(port, "/v1/chat/completions?fault=reset&fault_after=3&chunks=10", NULL, "{}", &r);
    CHECK(r.reset);
    {
        char *tx = collect(&r.body, "\"delta\":{\"content\":");
        char *et = tw_mock_expected_text(3, NULL);
        CHECK_EQ_STR(tx, strlen(tx), et);
        free(tx);
        free(et);
    }
    CHECK(!find(&r.body, "[DONE]"));
    tresp_free(&r);

    /* stall: three deltas, then silence on an open connection */
    CHECK(tc_open(&c, port) == 0);
    tc_post(&c, "/v1/messages?fault=stall&fault_after=3&chunks=10", NULL, "{}");
    tc_read(&c, &r, 300);
    CHECK(r.timeout && !r.eof && !r.reset);
    CHECK_EQ_INT(count_of(&r.body, "\"text_delta\""), 3);
    tresp_free(&r);
    get_stats(port, &s);
    CHECK_EQ_INT(s.active, 1);
    tc_close(&c); /* the client gives up: counted as aborted, no longer active */
    t0 = now_ms();
    do {
        get_stats(port, &s);
        if (s.active == 0) break;
        usleep(5000);
    } while (now_ms() - t0 < 3000);
    CHECK_EQ_INT(s.active, 0);
    CHECK_EQ_INT(s.aborted, 1);
    CHECK_EQ_INT(s.completed, 1); /* the reset stream */
    tw_mock_stop(m);
}

TW_TEST(mock_fault_inserted_events) {
    tw_mock *m = start_mock();
    tresp r;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    post1(port, "/v1/chat/completions?fault=garbage&fault_after=2&chunks=4", NULL, "{}", &r);
    CHECK(find(&r.body, "data: {garbage \xfe\xff\x01 ]]\n\n") != NULL);
    CHECK(ends_with(&r.body, "data: [DONE]\n\n"));
    CHECK_EQ_INT(count_of(&r.body, "\"delta\":{\"content\":"), 4);
    tresp_free(&r);

    post1(port, "/v1/messages?fault=bad_utf8&fault_after=1&chunks=3", NULL, "{}", &r);
    CHECK(find(&r.body, "\"text_delta\",\"text\":\"\xff\xfe\"}}\n\n") != NULL);
    CHECK(find(&r.body, "event: message_stop\n") != NULL);
    tresp_free(&r);

    post1(port, "/api/chat?fault=oversized&oversized=300000&fault_after=1&chunks=3", NULL, "{}",
          &r);
    {
        /* one NDJSON line longer than 300000 bytes, then the stream goes on */
        const char *p = r.body.data, *e = p + r.body.len;
        size_t longest = 0;
        while (p < e) {
            const char *nl = memchr(p, '\n', (size_t)(e - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(e - p);
            if (len > longest) longest = len;
            p += len + 1;
        }
        CHECK(longest > 300000 && longest < 300200);
        CHECK(find(&r.body, "\"done\":true") != NULL);
    }
    tresp_free(&r);

    /* provider errors mid-stream, per dialect */
    {
        static const struct {
            const char *path, *err;
            const char *absent;
        } cases[] = {
            {"/v1/chat/completions", "data: {\"error\":{\"message\":", "[DONE]"},
            {"/v1/messages", "event: error\ndata: {\"type\":\"error\",\"error\":{\"details\":null,"
                             "\"type\":\"overloaded_error\"", "message_stop"},
            {"/v1/responses", "event: error\ndata: {\"type\":\"error\",\"sequence_number\":",
             "response.completed"},
            {"/v1beta/models/g:streamGenerateContent?alt=sse",
             "data: {\"error\":{\"code\":503,", "STOP"},
            {"/api/generate", "{\"error\":\"", "\"done\":true"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char path[200];
            snprintf(path, sizeof path, "%s%sfault=provider_error&fault_after=2&chunks=5",
                     cases[i].path, strchr(cases[i].path, '?') ? "&" : "?");
            post1(port, path, NULL, "{}", &r);
            CHECK_EQ_INT(r.status, 200);
            CHECK_MSG(find(&r.body, cases[i].err) != NULL, "%s", cases[i].path);
            CHECK_MSG(find(&r.body, cases[i].absent) == NULL, "%s", cases[i].path);
            CHECK(!r.eof && !r.reset && !r.timeout); /* clean HTTP ending */
            tresp_free(&r);
        }
    }
    tw_mock_stop(m);
}

TW_TEST(mock_heartbeats) {
    tw_mock *m = start_mock();
    tconn c;
    tresp r;
    if (!m) return;
    /* heartbeat_only: two deltas, then only comments */
    CHECK(tc_open(&c, tw_mock_port(m)) == 0);
    tc_post(&c, "/v1/chat/completions?fault=heartbeat_only&fault_after=2&heartbeat_ms=10", NULL,
            "{}");
    tc_read(&c, &r, 250);
    CHECK(r.timeout);
    CHECK_EQ_INT(count_of(&r.body, "\"delta\":{\"content\":"), 2);
    CHECK(count_of(&r.body, ": keepalive\n\n") >= 3);
    CHECK(!find(&r.body, "[DONE]"));
    tresp_free(&r);
    tc_close(&c);
    /* heartbeat_ms while delaying: comments between the deltas, stream completes */
    post1(tw_mock_port(m), "/v1/messages?chunks=3&delay_ms=40&heartbeat_ms=10", NULL, "{}", &r);
    CHECK(count_of(&r.body, ": keepalive\n\n") >= 3);
    CHECK(find(&r.body, "message_stop") != NULL);
    tresp_free(&r);
    tw_mock_stop(m);
}

/* Replaces the per-request numbers (ids, timestamps) so that two responses compare. */
static void normalize(tw_buf *b) {
    size_t j = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (i >= 4 && !memcmp(b->data + i - 4, "mock", 4)) {
            while (i < b->len && b->data[i] >= '0' && b->data[i] <= '9') i++;
            if (i == b->len) break;
        }
        b->data[j++] = b->data[i];
    }
    b->len = j;
}

TW_TEST(mock_split_modes_reassemble) {
    tw_mock *m = start_mock();
    static const char *const modes[] = {"event", "random", "byte", "coalesce&coalesce=4"};
    tresp ref, r;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    post1(port, "/v1/messages?chunks=12&tools=1&split=event", NULL, "{}", &ref);
    normalize(&ref.body);
    /* one event per write: every HTTP chunk is one whole event */
    CHECK_EQ_INT(ref.nchunks, count_of(&ref.body, "\n\n"));
    for (size_t i = 0; i < 4; i++) {
        char path[160];
        snprintf(path, sizeof path, "/v1/messages?chunks=12&tools=1&split=%s", modes[i]);
        size_t raw_len;
        post1(port, path, NULL, "{}", &r);
        raw_len = r.body.len;
        normalize(&r.body);
        CHECK_MSG(r.body.len == ref.body.len && !memcmp(r.body.data, ref.body.data, r.body.len),
                  "split=%s differs", modes[i]);
        if (i == 1) CHECK(r.min_chunk >= 1 && r.max_chunk <= 7 && r.nchunks > ref.nchunks);
        if (i == 2) CHECK(r.max_chunk == 1 && (size_t)r.nchunks == raw_len);
        if (i == 3) CHECK_EQ_INT(r.nchunks, (ref.nchunks + 3) / 4);
        tresp_free(&r);
    }
    tresp_free(&ref);
    tw_mock_stop(m);
}

TW_TEST(mock_delay_and_timestamps) {
    tw_mock *m = start_mock();
    tresp r;
    uint64_t t0, t1;
    struct timespec ts;
    unsigned long long before, after;
    if (!m) return;
    clock_gettime(CLOCK_REALTIME, &ts);
    before = (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
    t0 = now_ms();
    post1(tw_mock_port(m), "/v1/chat/completions?chunks=5&delay_ms=20&timestamp=1", NULL, "{}",
          &r);
    t1 = now_ms();
    clock_gettime(CLOCK_REALTIME, &ts);
    after = (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
    CHECK(t1 - t0 >= 100); /* five deltas, 20 ms apart, the first after 20 ms */
    {
        char *tx = collect(&r.body, "\"delta\":{\"content\":");
        char *p = tx;
        unsigned long long prev = 0;
        int n = 0;
        while (*p) {
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            CHECK(end > p && *end == ' ');
            /* The mock keeps a fixed rate (delta k is due at start + (k+1) * delay), so a late
             * delta may be followed closely by the next one: check the schedule, not gaps. */
            CHECK(v >= before + (unsigned long long)(n + 1) * 20000ull - 1000 && v <= after &&
                  v >= prev);
            prev = v;
            n++;
            p = end + 1;
        }
        CHECK_EQ_INT(n, 5);
        free(tx);
    }
    tresp_free(&r);
    tw_mock_stop(m);
}

TW_TEST(mock_client_cancel_counts_aborted) {
    tw_mock *m = start_mock();
    tw_mock_stats s;
    uint64_t t0;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    /* five clients leave while their streams wait on the delay timer */
    for (int i = 0; i < 5; i++) {
        tconn c;
        tresp r;
        CHECK(tc_open(&c, port) == 0);
        tc_post(&c, "/v1/chat/completions?chunks=100&delay_ms=200", NULL, "{}");
        tc_read(&c, &r, 100); /* headers and the role chunk, then the wait */
        CHECK_EQ_INT(r.status, 200);
        tresp_free(&r);
        if (i % 2) {
            struct linger lg = {1, 0};
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); /* RST instead of FIN */
        }
        tc_close(&c);
    }
    t0 = now_ms();
    do {
        get_stats(port, &s);
        if (s.active == 0) break;
        usleep(2000);
    } while (now_ms() - t0 < 3000);
    CHECK_EQ_INT(s.active, 0);
    CHECK_EQ_INT(s.aborted, 5);
    CHECK_EQ_INT(s.completed, 0);
    CHECK_EQ_INT(s.total, 5);
    {
        tw_mock_stats direct;
        tw_mock_get_stats(m, &direct);
        CHECK_EQ_INT(direct.aborted, 5);
        CHECK_EQ_INT(direct.total, 5);
    }
    tw_mock_stop(m);
}

/* Many streams at once through one epoll loop on the client side. */
static void run_concurrent(int port, int n, const char *path, int *done_out) {
    int ep = epoll_create1(0), done = 0, open_n = 0;
    tconn *cs = calloc((size_t)n, sizeof *cs);
    int *fin = calloc((size_t)n, sizeof *fin);
    char req[512];
    int rl = snprintf(req, sizeof req,
                      "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n"
                      "\r\n{}",
                      path);
    uint64_t t0 = now_ms();
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {EPOLLIN, {.u32 = (uint32_t)i}};
        if (tc_open(&cs[i], port) != 0) {
            cs[i].fd = -1;
            continue;
        }
        tc_send(&cs[i], req, (size_t)rl);
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        open_n++;
    }
    CHECK_EQ_INT(open_n, n);
    while (done < open_n && now_ms() - t0 < 20000) {
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 1000);
        for (int j = 0; j < k; j++) {
            tconn *c = &cs[evs[j].data.u32];
            char buf[16384];
            ssize_t got = recv(c->fd, buf, sizeof buf, 0);
            if (got > 0) {
                tw_buf_append(&c->rb, buf, (size_t)got);
            } else {
                /* the server closes after the terminating chunk (Connection: close) */
                fin[evs[j].data.u32] = got == 0 && c->rb.len >= 5 &&
                                       !memcmp(c->rb.data + c->rb.len - 5, "0\r\n\r\n", 5);
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                done++;
            }
        }
    }
    *done_out = 0;
    for (int i = 0; i < n; i++) {
        if (fin[i] && memmem(cs[i].rb.data, cs[i].rb.len, "data: [DONE]", 12)) (*done_out)++;
        tc_close(&cs[i]);
    }
    close(ep);
    free(cs);
    free(fin);
}

TW_TEST(mock_concurrency_2000_streams) {
    tw_mock_opts o;
    tw_mock *m;
    tw_mock_stats s;
    int ok = 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    tw_mock_opts_init(&o);
    o.quiet = 1;
    o.threads = 2;
    m = tw_mock_start(&o, NULL);
    CHECK(m != NULL);
    if (!m) return;
    getrlimit(RLIMIT_NOFILE, &rl); /* raised by tw_mock_start */
    CHECK(rl.rlim_cur >= 4200);
    run_concurrent(tw_mock_port(m), 2000, "/v1/chat/completions?chunks=10&delay_ms=20", &ok);
    CHECK_EQ_INT(ok, 2000);
    tw_mock_get_stats(m, &s);
    CHECK_EQ_INT(s.completed, 2000);
    CHECK_EQ_INT(s.active, 0);
    CHECK_EQ_INT(s.aborted, 0);
    tw_mock_stop(m);
}

TW_TEST(mock_stop_with_open_streams) {
    tw_mock *m = start_mock();
    tconn c[3];
    tresp r;
    if (!m) return;
    for (int i = 0; i < 3; i++) {
        CHECK(tc_open(&c[i], tw_mock_port(m)) == 0);
        tc_post(&c[i], i == 0 ? "/v1/messages?fault=stall" : "/v1/messages?delay_ms=1000", NULL,
                "{}");
    }
    tc_read(&c[0], &r, 200);
    tresp_free(&r);
    tw_mock_stop(m); /* frees every connection (the leak checker watches) */
    for (int i = 0; i < 3; i++) {
        int f;
        do {
            f = tc_fill(&c[i], 2000); /* drains what was sent, then EOF or reset */
        } while (f > 0);
        CHECK(f == 0 || f == -1);
        tc_close(&c[i]);
    }
}

TW_TEST(mock_survives_malformed_requests) {
    tw_mock *m = start_mock();
    tconn c;
    tresp r;
    tw_mock_stats s;
    int port;
    static const struct {
        const char *req;
        int status;
    } bad[] = {
        {"POST /v1/messages HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400},
        {"POST /v1/messages HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413},
        {"POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        {"POST /v1/messages HTTP/2.0\r\n\r\n", 400},
        {"GET\r\n\r\n", 400},
        {"POST /v1/messages?=&&chunks HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400},
        {"POST /v1/messages?fault=explode HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400},
        {"POST /v1/messages?delay_ms=-1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400},
        {"POST /v1/messages?choices=0 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400},
    };
    if (!m) return;
    port = tw_mock_port(m);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(tc_open(&c, port) == 0);
        tc_send(&c, bad[i].req, strlen(bad[i].req));
        tc_read(&c, &r, 3000);
        CHECK_MSG(r.status == bad[i].status, "request %zu: status %d", i, r.status);
        tresp_free(&r);
        tc_close(&c);
    }
    /* an endless header is cut at 64 KiB */
    CHECK(tc_open(&c, port) == 0);
    {
        char *big = malloc(70000);
        memcpy(big, "POST / HTTP/1.1\r\nX-Pad: ", 24);
        memset(big + 24, 'a', 70000 - 24);
        tc_send(&c, big, 70000);
        free(big);
    }
    tc_read(&c, &r, 3000);
    CHECK_EQ_INT(r.status, 431);
    tresp_free(&r);
    tc_close(&c);
    /* random bytes, then the client leaves */
    {
        uint32_t x = 12345;
        char junk[8192];
        for (size_t i = 0; i < sizeof junk; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            junk[i] = (char)x;
        }
        CHECK(tc_open(&c, port) == 0);
        tc_send(&c, junk, sizeof junk);
        tc_read(&c, &r, 300);
        tresp_free(&r);
        tc_close(&c);
    }
    /* a request sent one byte at a time */
    {
        const char req[] = "POST /api/chat?chunks=2 HTTP/1.1\r\nContent-Length: 17\r\n\r\n"
                           "{\"model\":\"slow\"}\n";
        CHECK(tc_open(&c, port) == 0);
        for (size_t i = 0; i < sizeof req - 1; i++) tc_send(&c, req + i, 1);
        tc_read(&c, &r, 3000);
        CHECK_EQ_INT(r.status, 200);
        CHECK(find(&r.body, "\"model\":\"slow\"") != NULL);
        tresp_free(&r);
        tc_close(&c);
    }
    /* still serving, nothing left active */
    post1(port, "/v1/chat/completions?chunks=2", NULL, "{}", &r);
    CHECK(find(&r.body, "[DONE]") != NULL);
    tresp_free(&r);
    get_stats(port, &s);
    CHECK_EQ_INT(s.active, 0);
    tw_mock_stop(m);
}

/* ---- the `tokenwire mock` command and the demo script -------------------------------------- */

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

/* Starts argv with stdout on a pipe (stderr to /dev/null when null_err). @return pid, *out_fd
 * the read end. */
static pid_t spawn(char *const argv[], int *out_fd, int null_err) {
    int pfd[2];
    pid_t pid;
    if (pipe(pfd) != 0) return -1;
    pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        if (null_err) {
            int dn = open("/dev/null", O_WRONLY);
            if (dn >= 0) dup2(dn, 2);
        }
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    *out_fd = pfd[0];
    return pid;
}

/* Reads from fd until `needle` shows up, EOF, or ms pass. */
static void read_until(int fd, tw_buf *b, const char *needle, int ms) {
    uint64_t end = now_ms() + (uint64_t)ms;
    while (now_ms() < end) {
        struct pollfd pf = {fd, POLLIN, 0};
        char buf[4096];
        ssize_t n;
        if (b->len && memmem(b->data, b->len, needle, strlen(needle))) return;
        if (poll(&pf, 1, (int)(end - now_ms())) <= 0) return;
        n = read(fd, buf, sizeof buf);
        if (n <= 0) return;
        tw_buf_append(b, buf, (size_t)n);
    }
}

TW_TEST(mock_cli_serves_until_sigterm) {
    const char *cli = getenv("TW_CLI");
    char *argv[] = {(char *)cli, "mock", "--port", "0", "--quiet", "--threads", "2", NULL};
    tw_buf out = {0};
    int fd = -1, st = 0, port = 0;
    pid_t pid;
    tresp r;
    CHECK_MSG(cli != NULL, "TW_CLI is not set (run through `make test-c`)");
    if (!cli) return;
    pid = spawn(argv, &fd, 0);
    CHECK(pid > 0);
    if (pid <= 0) return;
    read_until(fd, &out, "\n", 10000);
    tw_buf_append(&out, "", 1);
    CHECK_MSG(!strncmp(out.data, "listening on http://127.0.0.1:", 30), "got: %s", out.data);
    if (!strncmp(out.data, "listening on http://127.0.0.1:", 30)) port = atoi(out.data + 30);
    CHECK(port > 0);
    if (port > 0) {
        post1(port, "/v1/messages?chunks=3", NULL, "{}", &r);
        CHECK(find(&r.body, "event: message_stop") != NULL);
        tresp_free(&r);
    }
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(fd);
    tw_buf_free(&out);

    /* bad options are refused with status 2 */
    {
        char *bad[] = {(char *)cli, "mock", "--port", "70000", NULL};
        pid = spawn(bad, &fd, 1);
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
        close(fd);
    }
}

TW_TEST(mock_demo_script_streams_tokens) {
    const char *cli = getenv("TW_CLI");
    char script[1024];
    char *argv[] = {"/bin/bash", script, (char *)cli, NULL};
    tw_buf out = {0};
    int fd = -1, st = 0;
    pid_t pid;
    CHECK_MSG(cli != NULL, "TW_CLI is not set (run through `make test-c`)");
    if (!cli) return;
    snprintf(script, sizeof script, "%s/../../scripts/demo.sh", TW_TEST_DATA);
    setenv("DEMO_CHUNKS", "6", 1);
    setenv("DEMO_DELAY_MS", "5", 1);
    pid = spawn(argv, &fd, 1);
    CHECK(pid > 0);
    if (pid <= 0) return;
    read_until(fd, &out, "\x01never\x01", 20000); /* to EOF */
    waitpid(pid, &st, 0);
    close(fd);
    unsetenv("DEMO_CHUNKS");
    unsetenv("DEMO_DELAY_MS");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the tokens arrive either as text (tokenwire stream) or as raw SSE (the fallback) */
    CHECK_MSG(find(&out, "Hello") && find(&out, "server."), "demo printed: %.*s",
              (int)(out.len > 300 ? 300 : out.len), out.data ? out.data : "");
    tw_buf_free(&out);
}

/* Random combinations of every control on every path: the server answers each one sanely,
 * and whatever the clients did, nothing stays active at the end (ASan watches the rest). */
TW_TEST(mock_random_control_combinations) {
    static const char *const paths[] = {
        "/v1/chat/completions", "/v1/responses", "/v1/messages",
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        "/v1beta/models/g:streamGenerateContent", "/v1beta/models/g:generateContent",
        "/api/chat", "/api/generate"};
    static const char *const splits[] = {"event", "random", "byte", "coalesce"};
    static const char *const faults[] = {"none", "429", "500", "reset", "stall", "garbage",
                                         "bad_utf8", "oversized", "provider_error",
                                         "heartbeat_only"};
    tw_mock *m = start_mock();
    uint32_t x = 0x9e3779b9u;
    tw_mock_stats s;
    uint64_t t0;
    int port;
    if (!m) return;
    port = tw_mock_port(m);
    for (int it = 0; it < 160; it++) {
        int v[16];
        const char *path, *fault;
        char url[512];
        tresp r;
        int hangs;
        for (int k = 0; k < 16; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v[k] = (int)(x % 1000u);
        }
        path = paths[v[0] % 8];
        fault = faults[v[1] % 10];
        hangs = !strcmp(fault, "stall") || !strcmp(fault, "heartbeat_only");
        snprintf(url, sizeof url,
                 "%s%schunks=%d&reasoning=%d&tools=%d&choices=%d&usage=%d&split=%s&coalesce=%d"
                 "&fault=%s&fault_after=%d&oversized=%d&heartbeat_ms=%d&timestamp=%d&text=%s",
                 path, strchr(path, '?') ? "&" : "?", v[2] % 6, v[3] % 3, v[4] % 3,
                 1 + v[5] % 3, v[6] % 2, splits[v[7] % 4], 1 + v[8] % 5, fault, v[9] % 5,
                 1 + v[10] * 3, (v[11] % 3) * 5, v[12] % 2,
                 v[13] % 2 ? "a%22b%5C+%E2%82%AC+%0A" : "x");
        post_ms(port, url, NULL, v[14] % 3 ? "{\"stream\":true}" : "{\"stream\":false}", &r,
                hangs ? 100 : 5000);
        if (!strcmp(fault, "429") || !strcmp(fault, "500")) {
            CHECK_MSG(r.status == atoi(fault), "%s -> %d", url, r.status);
        } else {
            CHECK_MSG(r.status == 200, "%s -> %d", url, r.status);
        }
        if (!hangs && strcmp(fault, "reset")) CHECK_MSG(!r.timeout && !r.reset, "%s", url);
        tresp_free(&r);
    }
    t0 = now_ms();
    do {
        get_stats(port, &s);
        if (s.active == 0) break;
        usleep(5000);
    } while (now_ms() - t0 < 3000);
    CHECK_EQ_INT(s.active, 0);
    CHECK_EQ_INT(s.total, 160);
    tw_mock_stop(m);
}
