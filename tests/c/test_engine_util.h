/*
 * test_engine_util.h - helpers shared by the engine tests (test_engine*.c): start the mock,
 * build request options, drain a stream and check the terminal-event contract on the way.
 */
#ifndef TEST_ENGINE_UTIL_H
#define TEST_ENGINE_UTIL_H

#include "mock/tw_mock.h"
#include "tokenwire.h"

#include <stdio.h>
#include <stdlib.h>

/* What a drained stream gave. */
typedef struct te_result {
    int events;           /* every event taken, the terminal included */
    int terminals;        /* END + terminal ERROR events seen: must be exactly 1 */
    int recoverable;      /* recoverable ERROR events (the stream went on after them) */
    tw_error_kind rec_kind; /* of the first recoverable error */
    tw_buf rec_raw;       /* its raw */
    int after_terminal;   /* events seen after the first terminal: must be 0 */
    int text_events;
    tw_event_type last;   /* type of the last event */
    tw_error_kind kind;   /* of the terminal error */
    int status;           /* of the terminal error */
    tw_buf text;          /* text deltas of index 0, concatenated */
    tw_buf msg;           /* terminal error message */
    tw_buf raw;           /* terminal error raw */
    int batches;
    int wait_timeouts;    /* tw_stream_wait timed out (the drain gives up after the limit) */
} te_result;

void te_result_free(te_result *r);

/* Starts the mock on 127.0.0.1:0 (quiet); aborts the run when it cannot. */
static inline tw_mock *te_mock_start(void) {
    tw_mock_opts o;
    tw_error err;
    tw_mock *m;
    tw_mock_opts_init(&o);
    o.port = 0;
    o.quiet = 1;
    m = tw_mock_start(&o, &err);
    if (!m) {
        fprintf(stderr, "cannot start the mock: %s\n", err.msg);
        exit(2);
    }
    return m;
}

/* "http://127.0.0.1:PORT" + path_query into a buffer of 512 bytes. */
static inline void te_url(char out[512], tw_mock *m, const char *path_query) {
    snprintf(out, 512, "http://127.0.0.1:%d%s", tw_mock_port(m), path_query);
}

/* A listening socket on 127.0.0.1 (ephemeral port) that never accepts: TCP connects through
 * the backlog, and no answer ever comes. */
int te_listen_silent(int *port);

/* A canned HTTP server on 127.0.0.1 (its own thread): for each connection it reads one whole
 * request (headers and Content-Length body), counts it, writes `answer` (len bytes; none when
 * NULL) and closes the connection (with a reset when `reset`). */
typedef struct te_canned te_canned;
te_canned *te_canned_start(const char *answer, size_t len, int reset, int *port);
/* Requests read completely so far. */
int te_canned_requests(te_canned *c);
/* The header block of the last request read (request line and headers). */
void te_canned_last_request(te_canned *c, char *out, size_t cap);
void te_canned_stop(te_canned *c);

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
int te_unused_port(void);

/* A streaming request body for the dialect ("stream": true/false). */
const char *te_body(int stream);

/* Request options for url with the given dialect; body = te_body(1). */
void te_opts(tw_request_opts *o, const char *url, tw_dialect d);

/* Takes events until the terminal one (or limit_ms passes without any progress).
 * sleep_us > 0 sleeps between takes (a slow consumer). */
void te_drain(tw_stream *s, te_result *r, int limit_ms, int sleep_us);

/* Checks the contract: exactly one terminal, last, nothing after it. */
int te_contract_ok(const te_result *r);

/* Monotonic seconds. */
double te_now(void);

/* Milliseconds sleep. */
void te_sleep_ms(double ms);

/* An engine with small watermarks (high, low = high / 4). */
tw_engine *te_small_engine(size_t high);

/* Drains s with sleep_us between takes; checks: the contract, END, the text equals want, the
 * queue peak stayed under high + expansion x the receive buffer, at least min_pauses pauses. */
void te_slow_drain_check(tw_engine *e, tw_stream *s, const char *want, int min_pauses,
                         double expansion, int sleep_us);

#endif /* TEST_ENGINE_UTIL_H */
