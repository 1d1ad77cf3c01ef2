/*
 * tw_mock.h - the built-in mock LLM server (epoll / kqueue / poll, HTTP/1.1 keep-alive,
 * chunked encoding). TW_POLLER=poll in the environment at tw_mock_start selects the portable
 * configuration (poll(), pipe wakeups, accept + fcntl); an unknown value fails the start.
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
 *   delay_ms=F      delay between chunks in ms, fractional allowed (default 0); the loop
 *                   waits in whole ms, so below 1 ms the rate holds on average (the schedule
 *                   is absolute) and the chunks due within one ms go out together
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
 *
 * Details every client may rely on (additions to the contract above):
 *   - Text delta i of choice c is word (i + c) of the text, cycling, preceded by one space
 *     when i > 0 (words are the runs between spaces). The default text contains one
 *     multi-byte character (an em dash).
 *   - Reasoning delta k is "Thinking about part <k+1>. " (tw_mock_expected_reasoning).
 *   - Tool call k: name "get_weather", arguments tw_mock_expected_tool_args(k), ids
 *     "call_mock_<k>" (openai, responses call_id), "toolu_mock_<k>" (anthropic), item id
 *     "fc_mock<k>" (responses); string deltas of at most 9 bytes for openai / responses /
 *     anthropic (anthropic's first input_json_delta is ""), whole objects for gemini / ollama.
 *   - Usage: input tokens TW_MOCK_INPUT_TOKENS; output tokens = the number of delta events
 *     sent (reasoning, text, tool starts and argument fragments, every choice), reasoning
 *     tokens = reasoning deltas. Gemini counts thoughts apart (thoughtsTokenCount).
 *   - Streaming is the default: only a top-level `"stream": false` in the body asks for
 *     the non-streaming JSON (gemini: the :generateContent path), which arrives after
 *     chunks * delay_ms. Paths are matched by suffix (".../chat/completions",
 *     ".../responses", ".../messages"), so base URLs with a prefix work.
 *   - Deltas wait delay_ms each (on an absolute schedule from the response start); the
 *     other events (role chunk, block starts/stops, finish, usage, end) follow at once.
 *   - Mid-stream faults fire where text delta number fault_after would go (after the
 *     reasoning, before any tool). garbage (a data line of malformed JSON with invalid
 *     bytes), bad_utf8 (one extra text delta "\xff\xfe") and oversized (one extra text
 *     delta of `oversized` 'x' bytes) are inserted and the stream then goes on normally;
 *     provider_error ends the stream after the error event (HTTP framing stays clean);
 *     reset sends RST; stall and heartbeat_only keep the connection open forever.
 *     heartbeat_only sends a heartbeat every heartbeat_ms (default 100 ms).
 *   - fault_times applies to every fault kind, not only 429/500: with X-Mock-Key, the
 *     first N requests of that key get the fault and the later ones a clean answer.
 *   - Heartbeats are ": keepalive" comments for SSE dialects and blank lines for NDJSON
 *     and the gemini JSON array.
 *   - Stats: total counts answered requests except GET /_mock/stats and /healthz;
 *     completed counts streams whose script the server finished (reset and provider_error
 *     included); aborted counts streams whose client left (or failed) first.
 *   - Bad control values answer 400 with the dialect's error JSON; unknown paths 404.
 *   - HTTP/1.0 requests get a close-delimited body; a client that half-closes after its
 *     request still gets the whole answer.
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

/** Prompt tokens the mock reports in every dialect's usage. */
#define TW_MOCK_INPUT_TOKENS 12

/**
 * The reasoning a correct client assembles for reasoning=n.
 * @return malloc'd NUL-terminated string; caller frees. Thread: any.
 */
TW_API char *tw_mock_expected_reasoning(int n);

/**
 * The complete arguments JSON of tool call k (0-based) for tools=N, N > k.
 * @return malloc'd NUL-terminated string; caller frees. Thread: any.
 */
TW_API char *tw_mock_expected_tool_args(int k);

#ifdef __cplusplus
}
#endif

#endif /* TW_MOCK_H */
