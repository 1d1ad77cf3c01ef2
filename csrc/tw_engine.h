/*
 * tw_engine.h - the streaming engine: libcurl multi on its own I/O thread(s), per-stream bounded
 * queues with backpressure, one wakeup fd per engine. Included by tokenwire.h.
 *
 * Threads: each engine runs N I/O threads (streams sharded round-robin). Only an I/O thread
 * touches CURL / CURLM handles. Any other thread talks to it through a command queue plus
 * curl_multi_wakeup. Decoding happens on the I/O thread: consumers get normalized events.
 *
 * Delivery: the I/O thread appends decoded events to the stream's queue. When a stream's queue
 * goes from empty to non-empty it is put on the engine's ready list; when the ready list goes
 * from empty to non-empty, the wakeup fd becomes readable and the notify callback (if any) is
 * called. A consumer calls tw_engine_take_ready() to get the ready streams (which also clears
 * the fd) and tw_stream_take() on each to get its events as one owned batch.
 * A blocking per-stream API (tw_stream_wait) serves C users and the CLI.
 *
 * Ending: every stream's last delivered event is exactly one terminal event
 * (tw_event_is_terminal): TW_EV_END (clean end) or a TW_EV_ERROR that is not recoverable (kinds
 * http, provider, timeout, protocol, transport, cancelled, truncated). It comes after every
 * event received before it; nothing is delivered after it. A recoverable error (one malformed
 * or oversized event) is delivered in order and the stream goes on. A body that ends before
 * its dialect's end marker and without a finish reason ends with a truncated error.
 */
#ifndef TW_ENGINE_H
#define TW_ENGINE_H

#include "tw_common.h"
#include "tw_decoder.h"
#include "tw_summary.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_engine tw_engine;
typedef struct tw_stream tw_stream;

/** Called on an I/O thread when the ready list goes from empty to non-empty. Must not block. */
typedef void (*tw_notify_fn)(void *userdata);

typedef struct tw_engine_opts {
    int io_threads;               /* >= 1; default 1 */
    size_t queue_high_watermark;  /* bytes queued per stream before the transfer is paused;
                                     default 1 MiB */
    size_t queue_low_watermark;   /* resume below this; default high / 4 */
    tw_notify_fn notify;          /* optional */
    void *notify_userdata;
    /* Interrupt moderation, in microseconds; default 200, 0 = off. While socket events
     * arrive less than this far apart (bulk streams, many concurrent streams), each I/O loop
     * turn waits this long before polling again, so that one turn reads many chunks per recv
     * and wakes the consumer once for all of them. A chunk is held at most this long; a
     * stream slower than one event per coalesce_us (any single LLM stream) is never held. */
    int coalesce_us;
    /* Time-sliced delivery, in microseconds; default 1500, 0 = off. While at least
     * tick_streams transfers run on an I/O thread, the window above is tick_us instead: tokens
     * are read by humans, and one wakeup of this thread and of the consumer per tick for
     * everything that arrived costs far less than one per event. Each event is held at most
     * tick_us; a lone stream (fewer than tick_streams) is never held longer than coalesce_us,
     * and no stream is held while events arrive further apart than the window. */
    int tick_us;
    int tick_streams; /* default 32 */
} tw_engine_opts;

TW_API void tw_engine_opts_init(tw_engine_opts *o);

/**
 * Creates an engine and starts its I/O threads.
 * @param opts NULL for defaults. @param err optional.
 * @return the engine or NULL. Thread: any. Ownership: free with tw_engine_free.
 */
TW_API tw_engine *tw_engine_new(const tw_engine_opts *opts, tw_error *err);

/**
 * Cancels every stream, joins the I/O threads and frees the engine. Streams still referenced
 * by the caller stay valid handles (tw_stream_take gives their remaining events, ending in a
 * cancelled error) until tw_stream_release. Thread: any thread but an I/O thread.
 */
TW_API void tw_engine_free(tw_engine *e);

/** The default sink's wakeup fd (see tw_sink_fd). Owned by the engine. */
TW_API int tw_engine_fd(const tw_engine *e);

/** tw_sink_take_ready on the engine's default sink (streams started with no opts->sink). */
TW_API size_t tw_engine_take_ready(tw_engine *e, tw_stream **out, size_t cap);

/**
 * 1 when e was created in another process: this one is a fork() child of it. The engine's I/O
 * threads do not exist here, so every call on it or its streams fails at once instead of
 * waiting (tw_engine_start and tw_sink_new: TW_ERR_FORKED; tw_stream_take: one error event of
 * kind transport; tw_engine_take_ready: 0). Free it with tw_engine_free (which then only
 * closes this process's copies of its descriptors: the parent's connections are not touched,
 * and its memory is left alone because its locks may be held) and create a new engine.
 * Thread: any.
 */
TW_API int tw_engine_forked(const tw_engine *e);

/*
 * Sinks: where ready streams are announced. Each sink has its own ready list and wakeup fd, so
 * several consumers (one per event loop, each on its own thread) share one engine while each
 * stream is announced only to the loop that started it. Every engine has a default sink
 * (tw_engine_fd / tw_engine_take_ready); tw_request_opts.sink picks another.
 */
typedef struct tw_sink tw_sink;

/**
 * Creates a sink on e. notify (optional) is called on an I/O thread when the sink's ready
 * list goes from empty to non-empty; it must not block. @return the sink or NULL (err set).
 * Thread: any. Ownership: free with tw_sink_free; it stays alive while streams started on it
 * exist, and keeps its engine's memory alive.
 */
TW_API tw_sink *tw_sink_new(tw_engine *e, tw_notify_fn notify, void *notify_userdata,
                            tw_error *err);

/** Drops the caller's reference. Streams started on the sink keep it (and its fd) alive until
 * they are gone; nothing reads its fd any more. NULL is a no-op. Thread: any. */
TW_API void tw_sink_free(tw_sink *k);

/** The sink's wakeup fd: readable while its ready list is non-empty, and now and then once
 * after the list was emptied (the I/O thread signals it after releasing the list's lock):
 * tw_sink_take_ready returning 0 clears such a spurious wakeup. Owned by the sink. */
TW_API int tw_sink_fd(const tw_sink *k);

/**
 * Takes up to cap ready streams into out and clears the wakeup fd when the list empties.
 * Each stream comes with a reference owned by the caller, so it stays valid whatever code
 * runs before the caller gets to it (even code that releases it): drop each one with
 * tw_stream_unref. A stream released before it was taken is never handed out.
 * @return the number written. Thread: any (normally the sink's consumer thread).
 */
TW_API size_t tw_sink_take_ready(tw_sink *k, tw_stream **out, size_t cap);

/** Engine-wide counters. */
typedef struct tw_engine_stats {
    uint64_t active_streams;     /* started and not yet terminated */
    uint64_t paused_streams;     /* transfers currently paused by backpressure */
    uint64_t connections_reused; /* transfers that reused a connection */
    uint64_t streams_started;
    uint64_t streams_finished;
} tw_engine_stats;

TW_API void tw_engine_get_stats(tw_engine *e, tw_engine_stats *out);

/**
 * Opens a connection to url's host ahead of the first request (DNS + TCP + TLS) so that it
 * is in the shared connection cache. Asynchronous; failures are ignored. @return TW_OK or
 * TW_ERR_INVALID_ARG / TW_ERR_NOMEM.
 */
TW_API tw_code tw_engine_prewarm(tw_engine *e, const char *url, tw_error *err);

/** How the API key is sent. */
typedef enum tw_auth {
    TW_AUTH_DIALECT = 0, /* the dialect's provider's way: "Authorization: Bearer K" (openai,
                            openai-responses, ollama, sse, ndjson), "x-api-key: K" (anthropic),
                            "x-goog-api-key: K" (gemini) */
    TW_AUTH_BEARER,      /* "Authorization: Bearer K" */
    TW_AUTH_API_KEY,     /* "api-key: K" (Azure OpenAI) */
    TW_AUTH_X_API_KEY,   /* "x-api-key: K" */
    TW_AUTH_GOOG,        /* "x-goog-api-key: K" */
    TW_AUTH__LAST
} tw_auth;

/** Parses an auth name: "dialect", "bearer", "api-key" (alias "azure"), "x-api-key",
 * "x-goog-api-key". @return the value, or -1 if unknown. Thread: any. */
TW_API int tw_auth_from_name(const char *name, size_t len);
/** Static canonical name of an auth value, NULL if invalid. Thread: any. */
TW_API const char *tw_auth_name(tw_auth a);

/**
 * The check tw_engine_start applies to an API key (no CR, LF, NUL or other control byte), for
 * bindings that want to refuse a bad key when a client is made rather than at its first
 * request. @return TW_OK or TW_ERR_INVALID_ARG (err names the byte). Thread: any.
 */
TW_API tw_code tw_check_api_key(const char *key, size_t len, tw_error *err);

/**
 * Options of one request. Strings are copied by tw_engine_start.
 *
 * Headers sent: the caller's, then the defaults the caller did not give (names compared
 * case-insensitively): the API key's header, "anthropic-version: 2023-06-01" for the anthropic
 * dialect, "Accept: text/event-stream" ("application/x-ndjson" for ollama and ndjson),
 * "Content-Type: application/json" with a body. So a caller's "authorization" or
 * "Anthropic-Version" replaces the default instead of going out beside it.
 *
 * Everything that reaches the wire is checked by tw_engine_start, which fails with
 * TW_ERR_INVALID_ARG and a message naming the field: the method is an RFC 9110 token; the
 * URL is an absolute http(s) URL with no control characters, spaces or non-ASCII bytes;
 * each header is "Name: value" with a token name and a field value (no CR, LF, NUL or other
 * control character but tab). Lengths, when given, let an embedded NUL be seen (and refused)
 * instead of silently cutting the string short.
 */
typedef struct tw_request_opts {
    const char *method;      /* "POST" by default */
    size_t method_len;       /* 0 = strlen(method) */
    const char *url;         /* required */
    size_t url_len;          /* 0 = strlen(url) */
    const char *const *headers; /* "Name: value" strings */
    const size_t *header_lens;  /* optional: length of each header (else strlen) */
    size_t n_headers;
    const char *body;        /* may be NULL */
    size_t body_len;
    tw_dialect dialect;      /* default TW_DIALECT_OPENAI */
    /* The API key, sent the way the dialect's provider expects (auth below); NULL = none. */
    const char *api_key;
    size_t api_key_len;      /* 0 = strlen(api_key) */
    tw_auth auth;            /* default TW_AUTH_DIALECT */
    /* Query parameters appended to url: n_query (name, value) pairs, 2 * n_query strings,
     * percent-encoded here (UTF-8 bytes other than unreserved ones become %XX). */
    const char *const *query;
    const size_t *query_lens; /* optional: 2 * n_query lengths (else strlen); a NUL inside
                                 a name or value is refused instead of cutting it short */
    size_t n_query;
    /* timeouts in seconds; 0 = none. The defaults are the one policy of every binding. */
    double connect_timeout;     /* default 10 */
    double first_byte_timeout;  /* from request start to the first body byte; default 600
                                   (reasoning models may think for minutes before it) */
    double idle_timeout;        /* max gap between body bytes (heartbeats count); default 600 */
    double event_timeout;       /* max gap between events (heartbeats do NOT count); default 0 */
    double first_token_timeout; /* from request start to the first content event (text,
                                   reasoning, tool call); default 0. Its expiry, like any
                                   failure before the first token, moves on to `fallback` */
    double total_timeout;       /* whole stream, fallbacks included; default 0 */
    double paused_timeout;      /* max time a transfer stays paused because the consumer
                                   stopped reading (queue at the high watermark); then an
                                   error of kind timeout. Default 300; 0 = none */
    int max_retries;            /* before the first body byte only; default 2 */
    int retry_sent;             /* also retry a transport failure that came after the whole
                                   request was sent (the server may have received it and
                                   may bill it twice); default 0: such a failure is delivered.
                                   Failures before that (resolve, connect, TLS handshake,
                                   a reset while sending) and 429 / 5xx answers are retried. */
    double retry_base_delay;    /* seconds, default 0.5; exponential with jitter, capped 8s */
    int http2;                  /* 1 = negotiate HTTP/2 (ALPN / prior knowledge off) */
    int verify_peer;            /* default 1 */
    const char *ca_file;        /* optional CA bundle path */
    size_t ca_file_len;         /* 0 = strlen(ca_file) */
    size_t max_event_size;      /* 0 = default */
    int accumulate;             /* 1 (default): the summary keeps text and reasoning; 0: it
                                   counts them only (long streams use no memory for them) */
    tw_sink *sink;              /* where the stream is announced; NULL = the default sink */
    void *userdata;             /* returned by tw_stream_userdata */
    /* The request to send instead when this one fails before its first content event (an
     * HTTP error, a connect / first-byte / first-token / idle timeout, a transport error, a
     * body that is not an event stream, a provider error or a truncated body), after its own
     * retries: another provider, region or model, any dialect; it may have a fallback of its
     * own (at most 16 in a chain). Until the first content event of the stream, the events of
     * the current request (start, usage...) are held back, so the consumer sees only the
     * winner's; tw_metrics.fallback_index says which one won. Of a fallback, everything is
     * used but total_timeout, paused_timeout, accumulate, sink and userdata (the first
     * request's apply to the whole stream). Cancellation and a total timeout end the stream
     * with no fallback. Checked and copied by tw_engine_start, like the first request. */
    const struct tw_request_opts *fallback;
    /* Simulated streaming of an answer that comes as one JSON body (a model without
     * streaming, a non-streaming fallback): its text and reasoning are cut into deltas of
     * simulate_chars characters (0, the default: one delta, as decoded), released one every
     * simulate_interval seconds (0: all at once). tw_metrics.simulated is then 1. For the
     * whole stream, whichever request of the chain answered. */
    size_t simulate_chars;
    double simulate_interval;
    /* An id of the caller's choosing (a task, a conversation; at most 256 bytes) under which
     * tw_engine_cancel_id finds the stream; several streams may share one. NULL = none. */
    const char *id;
    size_t id_len; /* 0 = strlen(id) */
} tw_request_opts;

TW_API void tw_request_opts_init(tw_request_opts *o);

/**
 * Starts a stream. @return a stream handle holding one reference for the caller, or NULL.
 * Thread: any. Ownership: release with tw_stream_release (which cancels if still running).
 */
TW_API tw_stream *tw_engine_start(tw_engine *e, const tw_request_opts *opts, tw_error *err);

/** Requests cancellation; idempotent; any thread, any time. The stream then ends with an
 * error of kind cancelled unless it had already terminated. */
TW_API void tw_stream_cancel(tw_stream *s);

/** Cancels every stream of the engine started with this id (tw_request_opts.id) that is still
 * running, as tw_stream_cancel does. @return how many were cancelled. Thread: any. */
TW_API size_t tw_engine_cancel_id(tw_engine *e, const char *id, size_t len);

/** Drops the caller's reference; cancels a still-running stream. NULL is a no-op. After it,
 * the stream is never handed out by tw_sink_take_ready. Thread: any. */
TW_API void tw_stream_release(tw_stream *s);

/** Drops a reference handed out by tw_sink_take_ready / tw_engine_take_ready (does not
 * cancel). NULL is a no-op. Thread: any. */
TW_API void tw_stream_unref(tw_stream *s);

/** opts->userdata until tw_stream_release, NULL after it (so code holding a reference from
 * take_ready can tell that the owner let go). Thread: any. */
TW_API void *tw_stream_userdata(const tw_stream *s);

/**
 * Takes every queued event of the stream as one owned batch (NULL if none queued).
 * May resume a paused transfer. Thread: any. Ownership: free with tw_batch_free.
 */
TW_API tw_batch *tw_stream_take(tw_stream *s);

/**
 * Blocks until the stream has queued events or has terminated, or timeout_ms passes
 * (< 0 = forever). @return TW_OK when events are available, TW_ERR_TIMEOUT otherwise,
 * TW_ERR_CLOSED when the terminal event has already been taken.
 */
TW_API tw_code tw_stream_wait(tw_stream *s, int timeout_ms);

/** 1 when the terminal event has been taken by the consumer. */
TW_API int tw_stream_finished(const tw_stream *s);

typedef struct tw_metrics {
    double connect_time;        /* s, from start to TCP/TLS connected (curl) */
    double ttfb;                /* s, start to first body byte */
    double ttft;                /* s, start to first text event */
    double duration;            /* s, start to terminal event */
    double gap_p50, gap_p99;    /* s, inter text-event gaps */
    uint64_t text_events;
    uint64_t events;
    uint64_t bytes;             /* body bytes received */
    int retries;
    long http_status;
    int http_version;           /* 1 or 2 */
    int connection_reused;      /* 1 when the request went out on a kept-alive connection */
    double retry_after;         /* s, the last Retry-After the server sent; 0 when none */
    int streamed;               /* 1: the answer was an event stream; 0: one JSON body (or
                                   nothing yet) */
    double generation_time;     /* s, from the first content event (text, reasoning, tool
                                   call) to the terminal event (or now) */
    double tokens_per_second;   /* output tokens (usage; else content events) per second of
                                   generation_time; 0 when unknown */
    int fallback_index;         /* which request of the fallback chain the stream is on: 0 the
                                   first, 1 its fallback, ... */
    int simulated;              /* 1: a JSON answer re-chunked (simulate_chars) */
} tw_metrics;

/** Snapshot of the stream's metrics. Thread: any. */
TW_API void tw_stream_get_metrics(tw_stream *s, tw_metrics *out);

/**
 * Snapshot of the stream's summary (tw_summary.h) as of the events queued so far, whether or
 * not the consumer has taken them. @return an owned copy, or NULL on NOMEM.
 * Thread: any. Ownership: free with tw_summary_free.
 */
TW_API tw_summary *tw_stream_summary(tw_stream *s);

#ifdef __cplusplus
}
#endif

#endif /* TW_ENGINE_H */
