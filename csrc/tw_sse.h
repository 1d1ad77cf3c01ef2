/*
 * tw_sse.h - the incremental SSE parser (WHATWG rules), I/O-free.
 */
#ifndef TW_SSE_H
#define TW_SSE_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*==============================================================================================
 * SSE parser (WHATWG "parse an event stream" + "interpret an event stream")
 *============================================================================================*/

typedef struct tw_sse_parser tw_sse_parser;

/** One dispatched SSE event. Borrowed: valid only inside the callback. */
typedef struct tw_sse_event {
    tw_str event; /* event type; "message" when no event field was given */
    tw_str data;  /* data lines joined with "\n" */
    tw_str id;    /* the last event id (persists across events), possibly empty */
    int64_t retry; /* retry field of this event in ms, or -1 */
    /* Readable bytes starting at data.ptr (>= data.len). When >= data.len + TW_JSON_PADDING,
     * data can be handed to simdjson in place without a copy. */
    size_t data_capacity;
} tw_sse_event;

/** Receives dispatched events. Return non-zero to stop (feed returns TW_ERR_CANCELLED). */
typedef int (*tw_sse_event_fn)(void *userdata, const tw_sse_event *ev);
/** Receives comment lines without the leading ':' (a following space is kept, so ": ping"
 * gives " ping"); text is valid UTF-8. Relays use them as heartbeats. */
typedef void (*tw_sse_comment_fn)(void *userdata, tw_str comment);

typedef struct tw_sse_opts {
    /* Cap on one event: its data (decoded, joined) plus the line being read (any line,
     * comments included). 0 = default 64 MiB. Memory stays bounded by a small multiple. */
    size_t max_event_size;
    tw_sse_comment_fn on_comment; /* optional */
    void *comment_userdata;
    /* The last event ID string to start from (the id a reconnect sent in Last-Event-ID);
     * events carry it until the stream sets another. Copied; NULL/0 = none. */
    const char *last_event_id;
    size_t last_event_id_len;
} tw_sse_opts;

/** Fills defaults. @param o must not be NULL. */
TW_API void tw_sse_opts_init(tw_sse_opts *o);

/**
 * Creates a parser.
 * @param opts NULL for defaults; copied.
 * @return the parser or NULL on NOMEM. Thread: any. Ownership: free with tw_sse_parser_free.
 */
TW_API tw_sse_parser *tw_sse_parser_new(const tw_sse_opts *opts);
/** Frees the parser. NULL is a no-op. */
TW_API void tw_sse_parser_free(tw_sse_parser *p);

/**
 * Feeds bytes; calls on_event for every event completed by them, in order. Input may be
 * split anywhere (inside CRLF, a field name, a UTF-8 sequence).
 *
 * Stops: feed returns at the first TW_ERR_SSE_PROTOCOL or TW_ERR_CANCELLED. The unread rest
 * of buf is copied into the parser and read first by the next feed call, so nothing is lost
 * and events keep their order relative to the error; call feed(p, NULL, 0, ...) to go on
 * without new input (do so before tw_sse_parser_finish, which discards kept input). On
 * TW_ERR_CANCELLED the event whose callback returned non-zero counts as delivered.
 * An oversized event: the error is reported where the size is first exceeded; the lines of
 * that event up to the next blank line are dropped (fields such as id included).
 *
 * @param p parser (not NULL). @param buf may be NULL when len == 0. @param on_event not NULL;
 *   it must not call feed on the same parser (that returns TW_ERR_BUSY).
 * @param err optional; err->pos is the stream offset of the line that broke the limit.
 * @return TW_OK; TW_ERR_SSE_PROTOCOL when an event exceeds max_event_size (the parser then
 *   discards input up to the next blank line and can go on); TW_ERR_CANCELLED if the callback
 *   stopped; TW_ERR_NOMEM (reset the parser after it); TW_ERR_INVALID_ARG; TW_ERR_BUSY.
 *   Thread: owner thread (one thread at a time). Ownership: buf borrowed; event strings are
 *   borrowed and die when the callback returns.
 */
TW_API tw_code tw_sse_parser_feed(tw_sse_parser *p, const char *buf, size_t len,
                                  tw_sse_event_fn on_event, void *userdata, tw_error *err);

/**
 * Ends the stream (the connection). Per the spec an unterminated event is discarded, so this
 * dispatches nothing, and an id field of that undispatched block does not count. The last
 * event ID string is kept (WHATWG: it belongs to the event source, and a reconnect sends it),
 * so the same parser can read the next connection. Input kept after a stop is discarded
 * too: drain it first with tw_sse_parser_feed(p, NULL, 0, ...).
 * @return TW_OK or TW_ERR_NOMEM.
 */
TW_API tw_code tw_sse_parser_finish(tw_sse_parser *p);

/** Forgets all state (including last event id and BOM handling). */
TW_API void tw_sse_parser_reset(tw_sse_parser *p);

/** The last event ID string: the id in effect at the last dispatch (blank line), or the
 * starting one; never an id of a block still being read. Borrowed, valid until the next
 * feed/finish/reset/free. */
TW_API tw_str tw_sse_parser_last_event_id(const tw_sse_parser *p);

/**
 * The reconnection time set by the last valid retry field (it persists across events, and a
 * retry field in a block without data, which dispatches nothing, still sets it), or -1.
 * Thread: owner thread. Ownership: plain value.
 */
TW_API int64_t tw_sse_parser_retry(const tw_sse_parser *p);

/** Bytes examined by the line scanner since creation (for the linearity test). */
TW_API uint64_t tw_sse_parser_bytes_scanned(const tw_sse_parser *p);

#ifdef __cplusplus
}
#endif

#endif /* TW_SSE_H */
