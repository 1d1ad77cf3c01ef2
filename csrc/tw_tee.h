/*
 * tw_tee.h - streams that survive: a tee of relayed bytes into Redis Streams, and a resume
 * reader that replays a stream after a given event seq and then follows its live tail.
 *
 * Layout in Redis (one key per relayed stream, "<key_prefix>s:<stream_id>"):
 *   - each tw_tee_append is one entry with the explicit id "1-<L>", L = the seq of its last
 *     event, and fields "d" = the encoded bytes and, when it holds several events, "o" = the
 *     end offsets of all but the last event (little-endian uint32 each). So a reader after
 *     seq S asks XRANGE from "1-<S+1>" and cuts the first entry at S's end: no scan, no
 *     event lost or repeated, whatever the format (SSE, NDJSON, templates).
 *   - the end is the entry "2-0" with "end" = "0" (finished) or the tw_code of the terminal
 *     error and "msg" = its message. EXPIRE ttl_after_end_s is set with it; while the stream
 *     runs the key carries a sliding EXPIRE live_ttl_s, so a crashed producer's log goes away.
 *   - stop requests are entries of the stream "<key_prefix>stops" (field "id"), which every
 *     tee watches (XREAD, piggybacked on its writes): a stop reaches the producer on any
 *     instance.
 *
 * Threads: a tee owns one writer thread and one Redis connection; appends only queue (a
 * mutex, a malloc and a memcpy; no syscall while streams flow: see linger_ms). A resume
 * reader owns one thread and one connection. Each object has one wakeup fd (eventfd)
 * readable while it has something for its consumer, and an optional notify callback, like
 * the engine's sinks: the
 * Python binding registers the fd with loop.add_reader, the Node binding wakes libuv from the
 * callback; the consumer then takes what is ready without blocking.
 *
 * Needs hiredis (Debian libhiredis-dev, 0.14 or later) and Redis >= 5 (Redis Streams).
 */
#ifndef TW_TEE_H
#define TW_TEE_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest stream id accepted (bytes). */
#define TW_TEE_MAX_ID 200

/** Called on the tee's or reader's thread when its fd becomes readable. Must not block and
 * must not free the object. */
typedef void (*tw_tee_notify_fn)(void *userdata);

/*==============================================================================================
 * Redis connection options (shared by the tee and the reader)
 *============================================================================================*/

typedef struct tw_redis_opts {
    const char *host;        /* default "127.0.0.1"; ignored when unix_path is set */
    int port;                /* default 6379 */
    const char *unix_path;   /* a unix socket instead of TCP; NULL = TCP */
    const char *username;    /* ACL user (Redis 6+); NULL = none */
    const char *password;    /* AUTH; NULL = none */
    int db;                  /* SELECT; default 0 */
    const char *key_prefix;  /* default "tw:" */
    int connect_timeout_ms;  /* default 1000 */
    int command_timeout_ms;  /* one pipelined round trip; default 2000 */
} tw_redis_opts;

/** Fills defaults. @param o NULL is a no-op. Thread: any. */
TW_API void tw_redis_opts_init(tw_redis_opts *o);

/*==============================================================================================
 * Tee writer
 *============================================================================================*/

typedef struct tw_tee tw_tee;

typedef struct tw_tee_opts {
    tw_redis_opts redis;
    /* 1: tw_tee_new fails (TW_ERR_STORE) when Redis cannot be reached. 0 (default): it
     * starts degraded (tw_tee_available = 0, a TW_TEE_DOWN notice), new streams are not
     * tee'd, and the writer keeps reconnecting. */
    int require_redis;
    long maxlen;             /* XADD MAXLEN ~ per stream, in entries; default 10000; 0 = none */
    int ttl_after_end_s;     /* EXPIRE once the end is recorded; default 3600 */
    int live_ttl_s;          /* sliding EXPIRE while the stream runs; default 86400 */
    /* Bytes queued for Redis across every stream. An append that would pass it drops the
     * tee for its stream (a TW_TEE_LOST notice; resume then says the stream is incomplete);
     * the live relay is never slowed. Default 64 MiB. */
    size_t max_queue_bytes;
    int reconnect_min_ms;    /* backoff after a failed connect: doubles up to the max; 50 */
    int reconnect_max_ms;    /* default 2000 */
    int watch_stops;         /* 1 (default): watch the stops stream; 0: do not */
    int stop_poll_ms;        /* how often stops are read when idle; default 200 */
    /* While streams flow, the writer gathers appends this long before each round trip and
     * appenders never wake it (no syscall on their side); default 5, 0 = a round trip as soon
     * as something is queued (an eventfd write by the append that finds the writer idle). */
    int linger_ms;
    tw_tee_notify_fn notify; /* optional: on the writer thread (or on the appending thread
                                whose append hit max_queue_bytes) */
    void *notify_userdata;
} tw_tee_opts;

/** Fills defaults. @param o NULL is a no-op. Thread: any. */
TW_API void tw_tee_opts_init(tw_tee_opts *o);

/**
 * Creates a tee and starts its writer thread. With require_redis it first connects (at most
 * connect_timeout_ms) and fails with TW_ERR_STORE when it cannot.
 * @param opts NULL for defaults (strings copied). @param err optional.
 * @return the tee or NULL. Thread: any. Ownership: free with tw_tee_free.
 */
TW_API tw_tee *tw_tee_new(const tw_tee_opts *opts, tw_error *err);

/**
 * Stops the writer (what is queued gets one more attempt, bounded by command_timeout_ms) and
 * frees the tee. NULL is a no-op. Thread: any but the writer (not from notify).
 */
TW_API void tw_tee_free(tw_tee *t);

/**
 * Queues n_events encoded events of a stream (their bytes, contiguous) for Redis. Never
 * blocks on the network. The first append of a stream id starts it; seqs must increase.
 * @param stream_id 1..TW_TEE_MAX_ID bytes, NUL-terminated. @param data len bytes, copied.
 * @param first_seq the seq of the first event in data. @param n_events >= 1.
 * @param ends the end offset of each event in data (n_events values, increasing, the last
 *        == len); may be NULL when n_events == 1.
 * @return TW_OK (queued); TW_ERR_CLOSED when this stream is not tee'd (dropped: Redis down
 *         at its start, lost, queue full; or already ended: see tw_tee_stream_status);
 *         TW_ERR_INVALID_ARG for a bad argument or a seq that does not increase (the stream
 *         is left as it was); TW_ERR_NOMEM. Thread: any; calls for one stream in order.
 */
TW_API tw_code tw_tee_append(tw_tee *t, const char *stream_id, const void *data, size_t len,
                             uint64_t first_seq, uint32_t n_events, const uint32_t *ends);

/**
 * Records the end of a stream: finished (error NULL or error->code TW_OK) or a terminal error
 * (its code and message are what resume readers end with), then EXPIRE ttl_after_end_s. The
 * stream's state is forgotten once written. A dropped stream gets an end marker saying it is
 * incomplete instead (when Redis is reachable). Never blocks on the network.
 * @return TW_OK; TW_ERR_NOT_FOUND when the stream was never appended to (or already ended);
 *         TW_ERR_INVALID_ARG; TW_ERR_NOMEM. Thread: any.
 */
TW_API tw_code tw_tee_end(tw_tee *t, const char *stream_id, const tw_error *error);

/**
 * A stream's tee state. @return TW_OK (tee'd), TW_ERR_STORE (dropped; why in err->msg),
 * TW_ERR_CLOSED (ended, end not yet written), TW_ERR_NOT_FOUND (unknown or written).
 * @param err optional. Thread: any.
 */
TW_API tw_code tw_tee_stream_status(tw_tee *t, const char *stream_id, tw_error *err);

/** 1 when the writer is connected to Redis (new streams are tee'd), else 0 (why in err).
 * Thread: any. */
TW_API int tw_tee_available(tw_tee *t, tw_error *err);

/**
 * Asks, through Redis, that the producer of stream_id stop (on whichever instance runs it,
 * this one included): that tee gets a TW_TEE_STOP notice and tw_tee_stop_requested turns 1.
 * Queued; never blocks. @return TW_OK, TW_ERR_INVALID_ARG, TW_ERR_NOMEM. Thread: any.
 */
TW_API tw_code tw_tee_request_stop(tw_tee *t, const char *stream_id);

/** 1 when a stop was requested for this running stream of this tee. Thread: any. */
TW_API int tw_tee_stop_requested(tw_tee *t, const char *stream_id);

/**
 * Waits until everything queued before the call was handled (written, or dropped while Redis
 * was down). For graceful shutdown and tests; never needed on the hot path.
 * @param timeout_ms -1 = no limit. @return TW_OK or TW_ERR_TIMEOUT. Thread: any but the
 * writer's.
 */
TW_API tw_code tw_tee_flush(tw_tee *t, int timeout_ms);

/**
 * Watches whether anyone still reads a running stream: every resume reader announces itself
 * (tw_resume_opts.presence_ttl_ms, the key "<key_prefix>r:<stream_id>"); when no reader was
 * announced for abandon_after_ms (counted from this call), the tee reports TW_TEE_ABANDONED
 * once and tw_tee_stop_requested turns 1, so a producer that outlives its browser stops after
 * a while with nobody to read it. Call it when the stream's own (live) reader goes away.
 * Checked at the stop-poll cadence (stop_poll_ms), one EXISTS per watched stream.
 * @param abandon_after_ms > 0 to watch, 0 to stop watching.
 * @return TW_OK, TW_ERR_NOT_FOUND (not running here), TW_ERR_INVALID_ARG, TW_ERR_NOMEM.
 * Thread: any.
 */
TW_API tw_code tw_tee_watch_readers(tw_tee *t, const char *stream_id, int abandon_after_ms);

/** What the tee reports to its producer, each at most once per stream (DOWN/UP per change). */
typedef enum tw_tee_notice_kind {
    TW_TEE_LOST = 1, /* stream_id's tee was dropped (error says why): resume unavailable */
    TW_TEE_STOP,     /* a stop was requested for stream_id */
    TW_TEE_DOWN,     /* Redis unreachable (error): new streams are not tee'd */
    TW_TEE_UP,       /* Redis reachable again: new streams are tee'd */
    TW_TEE_ABANDONED /* stream_id had no reader for its abandon_after_ms: stop it */
} tw_tee_notice_kind;

typedef struct tw_tee_notice {
    tw_tee_notice_kind kind;
    tw_error error;                       /* LOST / DOWN: why */
    char stream_id[TW_TEE_MAX_ID + 1];    /* LOST / STOP / ABANDONED; "" otherwise */
} tw_tee_notice;

/** The tee's wakeup fd: readable while notices are pending. Owned by the tee. Thread: any. */
TW_API int tw_tee_fd(const tw_tee *t);

/** Takes up to cap pending notices (oldest first) and clears the fd when none are left.
 * At most 4096 notices wait; beyond that the oldest are dropped (counted in stats).
 * @return the number written. Thread: any (normally the producer's loop). */
TW_API size_t tw_tee_take_notices(tw_tee *t, tw_tee_notice *out, size_t cap);

typedef struct tw_tee_stats {
    uint64_t appends;          /* accepted by tw_tee_append */
    uint64_t entries_written;  /* XADD replies that succeeded (data and end entries) */
    uint64_t batches;          /* pipelined round trips */
    uint64_t max_batch;        /* most commands in one round trip */
    uint64_t streams_dropped;  /* TW_TEE_LOST notices */
    uint64_t notices_dropped;
    uint64_t connects;         /* successful connects (the first included) */
    size_t queued_bytes;       /* now */
    size_t active_streams;     /* now */
} tw_tee_stats;

/** Thread: any. */
TW_API void tw_tee_get_stats(tw_tee *t, tw_tee_stats *out);

/*==============================================================================================
 * Resume reader
 *============================================================================================*/

typedef struct tw_resume tw_resume;

/** How a resume ended (tw_resume_status). */
typedef enum tw_resume_state {
    TW_RESUME_RUNNING = 0,   /* more may come */
    TW_RESUME_ENDED,         /* the producer recorded a clean end; everything was delivered */
    TW_RESUME_UPSTREAM_ERROR,/* the producer recorded a terminal error (its code and message) */
    TW_RESUME_NOT_FOUND,     /* unknown, expired, or the events after last_seq are no longer
                                retained: answer 404 (TW_ERR_NOT_FOUND) */
    TW_RESUME_STORE_ERROR,   /* Redis unreachable or lost, or the producer's tee was dropped
                                (TW_ERR_STORE) */
    TW_RESUME_TIMEOUT,       /* nothing new for idle_timeout_ms (TW_ERR_TIMEOUT) */
    TW_RESUME_CANCELLED      /* tw_resume_cancel (TW_ERR_CANCELLED) */
} tw_resume_state;

typedef struct tw_resume_opts {
    tw_redis_opts redis;
    /* Replay after this seq; from_start = 1 replays from the oldest retained event. */
    uint64_t last_seq;
    int from_start;
    int block_ms;            /* XREAD BLOCK per call; default 1000 */
    int idle_timeout_ms;     /* end with TIMEOUT after this long with nothing new; default
                                120000; 0 = never */
    size_t high_watermark;   /* bytes waiting for the consumer before reading pauses; 1 MiB */
    /* An unknown stream is NOT_FOUND at once (0, default), or only if it does not appear
     * within this many ms (XREAD BLOCK on the missing key, no polling): covers a reader that
     * comes back before the tee's first write of the stream landed. */
    int not_found_grace_ms;
    tw_tee_notify_fn notify; /* optional, on the reader thread */
    void *notify_userdata;
    /* While following, the reader keeps "<key_prefix>r:<stream_id>" alive with this TTL
     * (refreshed every third of it) so the producer's tw_tee_watch_readers knows someone
     * reads; default 3000, 0 = do not announce. */
    int presence_ttl_ms;
} tw_resume_opts;

/** Fills defaults. @param o NULL is a no-op. Thread: any. */
TW_API void tw_resume_opts_init(tw_resume_opts *o);

/**
 * Starts a reader of stream_id on its own thread; returns at once (no network on the caller's
 * thread). Whether the stream exists is known with the first wakeup: either bytes, or a
 * terminal status (NOT_FOUND before any byte for an unknown or expired stream).
 * @param opts required (connection and position). @param err optional.
 * @return the reader or NULL (INVALID_ARG, NOMEM). Thread: any.
 * Ownership: free with tw_resume_close.
 */
TW_API tw_resume *tw_resume_open(const tw_resume_opts *opts, const char *stream_id,
                                 tw_error *err);

/** The reader's wakeup fd: readable while bytes or the terminal status wait. Owned by it. */
/** "running", "ended", "upstream_error", "not_found", "store_error", "timeout", "cancelled"
 * (static storage; "unknown" for a value out of range): the one name table of the bindings.
 * Thread: any. */
TW_API const char *tw_resume_state_name(tw_resume_state s);

/** "lost", "stop", "down", "up", "abandoned" (static storage; "unknown" out of range).
 * Thread: any. */
TW_API const char *tw_tee_notice_name(tw_tee_notice_kind k);

/** The end offsets of the n numbered events in data, an encoder's output for one append: SSE
 * events are the blocks ending in a blank line that do not start with ':' (comments and
 * heartbeats carry no id), NDJSON events the lines starting with '{'. ends must hold n.
 * *len_out = the last one's end (trailing comments are not tee'd).
 * @return 0, or -1 when data does not hold n numbered events. Thread: any. */
TW_API int tw_tee_event_ends(int sse, const char *data, size_t len, uint64_t n, uint32_t *ends,
                             size_t *len_out);

/** The code an append's terminal error event of this kind is recorded with (tw_tee_end):
 * the inverse of tw_code_error_kind. Thread: any. */
TW_API tw_code tw_tee_code_of_kind(tw_error_kind kind);

TW_API int tw_resume_fd(const tw_resume *r);

/** 1 once the stream is known to exist in Redis (before any byte of a resume that is already
 * up to date with a live stream): the fd becomes readable then, once, so that a consumer can
 * answer (headers, heartbeats) without waiting for the next event. Thread: any. */
TW_API int tw_resume_found(tw_resume *r);

/** Delivered bytes: whole events, seqs first_seq .. first_seq + n_events - 1. */
typedef struct tw_resume_chunk {
    char *data;
    size_t len;
    uint64_t first_seq;
    uint64_t n_events;
} tw_resume_chunk;

/**
 * Takes every byte delivered so far as one chunk, without blocking.
 * @return the chunk, or NULL when nothing waits (then see tw_resume_status).
 * Thread: any (normally the consumer's loop). Ownership: free with tw_resume_chunk_free.
 */
TW_API tw_resume_chunk *tw_resume_take(tw_resume *r);

/** Frees a chunk. NULL is a no-op. Thread: any. */
TW_API void tw_resume_chunk_free(tw_resume_chunk *c);

/**
 * The terminal status, reported only once every byte before it was taken (RUNNING until
 * then). @param err optional: the code and message (the upstream's, for UPSTREAM_ERROR).
 * Thread: any.
 */
TW_API tw_resume_state tw_resume_status(tw_resume *r, tw_error *err);

/** Waits (poll on the fd) until something is ready or timeout_ms passes (-1 = forever).
 * @return 1 ready, 0 timed out. For C callers and tests. Thread: any. */
TW_API int tw_resume_wait(tw_resume *r, int timeout_ms);

/** Stops the reader (status CANCELLED unless it had ended). Returns at once. Thread: any. */
TW_API void tw_resume_cancel(tw_resume *r);

/**
 * Cancels the reader, joins its thread and frees it. Prompt: every wait of the reader thread
 * also watches a cancel fd (only a DNS lookup of a host name cannot be interrupted). Chunks
 * already taken stay valid. NULL is a no-op. Thread: any but the reader's (not from notify).
 */
TW_API void tw_resume_close(tw_resume *r);

#ifdef __cplusplus
}
#endif

#endif /* TW_TEE_H */
