/*
 * tw_mock.h - the built-in mock LLM server (epoll, HTTP/1.1 keep-alive, chunked encoding).
 *
 * It is the upstream of the demo, the tests (C, Python, Node) and the benchmarks, so its
 * request controls below are a contract shared by all of them.
 *
 * Paths (each dialect at its real path; POST with a JSON body, `"stream": false` honoured):
 *   /v1/chat/completions                       openai (SSE, data: [DONE])
 *   /v1/responses                              openai-responses (SSE with event: names)
 *   /v1/messages                               anthropic (SSE with event: names)
 *   /v1beta/models/{model}:streamGenerateContent?alt=sse   gemini (SSE, CRLF line ends)
 *   /v1beta/models/{model}:streamGenerateContent           gemini JSON array (no alt=sse)
 *   /v1beta/models/{model}:generateContent                 gemini non-streaming JSON
 *   /api/chat, /api/generate                   ollama (NDJSON)
 *   GET /_mock/stats                           {"active":N,"total":N,"completed":N,"aborted":N}
 *   GET /healthz                               "ok"
 *
 * Controls: query parameters, or headers "X-Mock-<Name>" (query wins). All optional.
 *   chunks=N        text deltas to send (default 20)
 *   delay_ms=F      delay between chunks in ms, fractional allowed (default 0)
 *   text=S          the text to cycle through, split on spaces into deltas (URL-encoded)
 *   reasoning=N     reasoning/thinking deltas before the text (default 0)
 *   tools=N         tool calls after the text, each with streamed arguments (default 0)
 *   choices=N       openai n>1: interleaved choices (default 1)
 *   usage=0|1       send usage (default 1)
 *   split=event|random|byte|coalesce   how writes are cut: one event per write (default),
 *                   random 1-7 byte pieces, one byte per write, or `coalesce` events per write
 *   coalesce=K      events per write for split=coalesce (default 64)
 *   timestamp=1     each text delta is "<CLOCK_REALTIME microseconds> " (latency measurement)
 *   fault=KIND      429 | 500 | reset | stall | garbage | bad_utf8 | oversized | provider_error
 *                   | heartbeat_only (only ": keepalive" comments after fault_after chunks)
 *   fault_after=N   chunks sent before the mid-stream faults (default 3)
 *   fault_times=N   for 429/500: fail only the first N requests carrying the same
 *                   X-Mock-Key header (default: every request)
 *   retry_after=S   Retry-After seconds for 429 (default 1)
 *   oversized=B     bytes of the oversized line (default 80 MiB)
 *   heartbeat_ms=F  send ": keepalive" comments every F ms while delaying (default off)
 *
 * Text content is deterministic for the parameters, so tests can compare exactly:
 * tw_mock_expected_text() returns what a correct client assembles.
 */
#ifndef TW_MOCK_H
#define TW_MOCK_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_mock tw_mock;

typedef struct tw_mock_opts {
    const char *host; /* default "127.0.0.1" */
    int port;         /* 0 = ephemeral (read it back with tw_mock_port) */
    int threads;      /* event-loop threads, default 1 */
    int quiet;        /* 1 = no request log on stderr */
} tw_mock_opts;

TW_API void tw_mock_opts_init(tw_mock_opts *o);

/**
 * Starts the server on background thread(s) and returns once it listens.
 * @return the server or NULL (err says why). Thread: any. Ownership: tw_mock_stop frees it.
 */
TW_API tw_mock *tw_mock_start(const tw_mock_opts *opts, tw_error *err);

/** The bound port. */
TW_API int tw_mock_port(const tw_mock *m);

/** Stops accepting, closes every connection, joins the threads and frees m. NULL no-op. */
TW_API void tw_mock_stop(tw_mock *m);

typedef struct tw_mock_stats {
    uint64_t active;    /* streaming responses in progress */
    uint64_t total;     /* requests answered */
    uint64_t completed; /* streams that sent their last byte */
    uint64_t aborted;   /* streams whose client went away before the end */
} tw_mock_stats;

TW_API void tw_mock_get_stats(tw_mock *m, tw_mock_stats *out);

/**
 * Runs the server in the calling thread until SIGINT/SIGTERM (the `tokenwire mock` command).
 * Prints "listening on http://HOST:PORT" on stdout once bound. @return exit status.
 */
TW_API int tw_mock_run(const tw_mock_opts *opts);

/**
 * The text a correct client assembles for choice 0 given chunks and text parameters
 * (text may be NULL for the default). @return malloc'd NUL-terminated string; caller frees.
 */
TW_API char *tw_mock_expected_text(int chunks, const char *text);

#ifdef __cplusplus
}
#endif

#endif /* TW_MOCK_H */
