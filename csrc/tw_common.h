/*
 * tw_common.h - version, export macro, error codes, normalized events, byte buffer, event batch. Included by every other header.
 */
#ifndef TW_COMMON_H
#define TW_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*==============================================================================================
 * Version
 *============================================================================================*/

/* The version lives in package.json alone; every build (make, setup.py, node-gyp) passes it
 * to the core as TW_VERSION_STRING, and tw_version() reports the one compiled in. */

/*==============================================================================================
 * Compile flags
 *============================================================================================*/

/* TW_DISABLE_SIMD: scan lines with portable C (memchr) instead of SSE2/AVX2 code. */

/*==============================================================================================
 * Export macro
 *============================================================================================*/

/* TW_STATIC: the core is compiled into another module (the Python extension, the Node addon)
 * built with -fvisibility=hidden, so that only that module's init symbol is exported. */
#if defined(TW_STATIC)
#define TW_API
#elif defined(_WIN32)
#define TW_API __declspec(dllexport)
#elif defined(__GNUC__)
#define TW_API __attribute__((visibility("default")))
#else
#define TW_API
#endif

/*==============================================================================================
 * Types
 *============================================================================================*/

/** A borrowed byte string: not NUL-terminated. An absent value is {NULL, 0}. */
typedef struct tw_str {
    const char *ptr;
    size_t len;
} tw_str;

/** Bytes that simdjson may read past the end of a JSON text; see tw_json.h. */
#define TW_JSON_PADDING 64

/** Default cap on one SSE event / NDJSON line: image events exceed 8-10 MiB in real traffic. */
#define TW_DEFAULT_MAX_EVENT_SIZE ((size_t)64 * 1024 * 1024)

/*==============================================================================================
 * Error codes
 *============================================================================================*/

/** Result codes. Append-only: values are never renumbered. */
typedef enum tw_code {
    TW_OK = 0,              /* success */
    TW_ERR_NOMEM,           /* an allocation failed */
    TW_ERR_INVALID_ARG,     /* a caller passed a bad argument (NULL, unknown name, bad range) */
    TW_ERR_TRANSPORT,       /* network failure: connect, reset, TLS (see tw_error.curl_code) */
    TW_ERR_HTTP_STATUS,     /* the server answered with a non-2xx status */
    TW_ERR_SSE_PROTOCOL,    /* framing violated a limit (oversized event/line) */
    TW_ERR_JSON,            /* a payload was not valid JSON */
    TW_ERR_CANCELLED,       /* the operation was cancelled by the user */
    TW_ERR_CLOSED,          /* the object is closed / finished and takes no more input */
    TW_ERR_TIMEOUT,         /* a connect, first-byte, idle or total timeout fired */
    TW_ERR_BUSY,            /* a resource is already attached / in use */
    TW_ERR_PROVIDER,        /* the provider sent an error event inside a 2xx stream */
    TW_ERR_FORKED,          /* the object belongs to the parent of this fork()ed process */
    TW_ERR_NOT_FOUND,       /* a resumed stream is unknown, expired or no longer retained */
    TW_ERR_STORE,           /* the resume store (Redis) is unreachable, lost or refused */
    TW_ERR__LAST
} tw_code;

/** Detail of a failure. Pass NULL wherever you do not care. */
typedef struct tw_error {
    tw_code code;     /* TW_OK when nothing failed */
    int curl_code;    /* CURLcode for TW_ERR_TRANSPORT, else 0 */
    long http_status; /* HTTP status when known, else 0 */
    size_t pos;       /* byte offset in the input for parse errors, else 0 */
    char msg[128];    /* NUL-terminated human-readable message */
} tw_error;

/** The error kind a failing code stands for (TW_ERR_HTTP_STATUS -> TW_KIND_HTTP, ...), so
 * bindings map a tw_code to the same error class as an error event; TW_KIND_NONE for TW_OK and
 * codes that are argument or state errors. Thread: any. */
TW_API int tw_code_error_kind(tw_code code);

/**
 * Static name/description of a code.
 * @param code any value; out-of-range values give "unknown error".
 * @return a static NUL-terminated string. Thread: any. Ownership: static, never free.
 */
TW_API const char *tw_strerror(tw_code code);

/** The library's version ("0.1.0"), from package.json at build time. Static storage; any
 * thread. */
TW_API const char *tw_version(void);

/*==============================================================================================
 * Normalized events
 *============================================================================================*/

/** Event types. Append-only. */
typedef enum tw_event_type {
    TW_EV_START = 1,      /* id, name (= model) */
    TW_EV_TEXT,           /* index, text */
    TW_EV_REASONING,      /* index, text (thinking / reasoning deltas) */
    TW_EV_TOOL_CALL,      /* index, id, name, arguments (a delta: concatenate per index) */
    TW_EV_USAGE,          /* input_tokens, output_tokens, total_tokens (-1 when not given) */
    TW_EV_FINISH,         /* index, reason */
    TW_EV_ERROR,          /* error_kind, status, text (= message), name (= provider error type), raw */
    TW_EV_RAW,            /* name (= SSE event name), text (= data), id (= last event id), retry */
    TW_EV_END,            /* the stream's protocol end marker ([DONE], message_stop, EOF...) */
    TW_EV_AGENT_START,    /* source: a merged agent stream began */
    TW_EV_AGENT_COMPLETE, /* source: a merged agent stream ended */
    TW_EV_PROGRESS,       /* text: free-form progress note (relays) */
    TW_EV__LAST
} tw_event_type;

/** Kinds of TW_EV_ERROR. Append-only. */
typedef enum tw_error_kind {
    TW_KIND_NONE = 0,
    TW_KIND_HTTP,      /* non-2xx status; status set, raw = body */
    TW_KIND_PROVIDER,  /* error object sent by the provider inside the stream */
    TW_KIND_TIMEOUT,   /* an engine timeout fired */
    TW_KIND_PROTOCOL,  /* malformed framing or JSON; raw = the offending data */
    TW_KIND_CANCELLED, /* cancelled by the user */
    TW_KIND_TRANSPORT, /* connection failure / reset */
    TW_KIND_TRUNCATED, /* the body ended before the dialect's end marker and without a finish
                          reason: the answer is incomplete (everything received came first) */
    TW_KIND__LAST
} tw_error_kind;

/**
 * One normalized event. Which fields are set depends on type (see tw_event_type); unset
 * strings are {NULL, 0}, unset integers are -1 (tokens, retry) or 0 (status).
 * Strings are borrowed: inside a callback they die when it returns; inside a tw_batch they
 * live as long as the batch.
 */
typedef struct tw_event {
    tw_event_type type;
    tw_error_kind error_kind; /* TW_EV_ERROR only */
    int32_t index;            /* choice / content block / candidate index; 0 by default */
    int32_t status;           /* error: HTTP status or provider numeric code, else 0 */
    int32_t recoverable;      /* error: 1 = one event was bad (malformed JSON, oversized) and
                                 decoding went on: the stream continues; 0 = the stream ends
                                 here (every other error) */
    int64_t input_tokens;     /* usage, -1 if absent */
    int64_t output_tokens;    /* usage, -1 if absent */
    int64_t total_tokens;     /* usage, -1 if absent */
    int64_t retry;            /* raw SSE: retry field in ms, -1 if absent */
    tw_str text;              /* text/reasoning delta; error message; raw data; progress */
    tw_str id;                /* start: response id; tool_call: call id; raw: last event id */
    tw_str name;              /* start: model; tool_call: function; raw: event; error: type */
    tw_str arguments;         /* tool_call: arguments delta (JSON text) */
    tw_str reason;            /* finish: reason as the provider spelled it */
    tw_str raw;               /* error: raw body or data that caused it */
    tw_str source;            /* merged streams: the agent's name */
} tw_event;

/**
 * Reset an event to "nothing set" (type 0, integers -1/0, strings empty).
 * @param ev must not be NULL. Thread: any. Ownership: ev is the caller's.
 */
TW_API void tw_event_init(tw_event *ev);

/**
 * 1 when ev ends its stream: END, or an ERROR that is not recoverable. Every stream's last
 * event is exactly one such event; a recoverable error is followed by more events.
 * Thread: any.
 */
TW_API int tw_event_is_terminal(const tw_event *ev);

/** Static lowercase name of an event type ("text", "tool_call", ...), "unknown" if invalid. */
TW_API const char *tw_event_type_name(tw_event_type type);
/** Static lowercase name of an error kind ("http", "provider", ...), "none" for TW_KIND_NONE. */
TW_API const char *tw_error_kind_name(tw_error_kind kind);

/**
 * Event sink used by parsers and decoders. Return 0 to go on; any other value stops the
 * producer, which then returns TW_ERR_CANCELLED (the unread rest of the input is kept).
 */
typedef int (*tw_event_fn)(void *userdata, const tw_event *ev);

/*==============================================================================================
 * Byte buffer
 *============================================================================================*/

/** A growable byte buffer. Zero-initialize or tw_buf_init; free with tw_buf_free. */
typedef struct tw_buf {
    char *data;
    size_t len;
    size_t cap;
} tw_buf;

TW_API void tw_buf_init(tw_buf *b);
/** Frees the storage and re-inits. NULL is a no-op. */
TW_API void tw_buf_free(tw_buf *b);
/** Appends n bytes. @return TW_OK or TW_ERR_NOMEM (b unchanged). */
TW_API tw_code tw_buf_append(tw_buf *b, const void *p, size_t n);
/**
 * Ensures room for n more bytes plus TW_JSON_PADDING. Bytes from len to cap are always
 * initialised (zero unless written before), so they can serve as tw_json_parse's padding.
 * @return TW_OK or TW_ERR_NOMEM.
 */
TW_API tw_code tw_buf_reserve(tw_buf *b, size_t n);

/*==============================================================================================
 * Event batch: owned events that cross threads
 *============================================================================================*/

/** An owned, append-only list of events whose strings live in the batch's own arena. */
typedef struct tw_batch tw_batch;

/** @return a new empty batch, or NULL on NOMEM. Ownership: free with tw_batch_free. */
TW_API tw_batch *tw_batch_new(void);
/** Frees a batch and every string of its events. NULL is a no-op. */
TW_API void tw_batch_free(tw_batch *b);
/** Deep-copies ev (strings included) to the end of b. @return TW_OK or TW_ERR_NOMEM. */
TW_API tw_code tw_batch_push(tw_batch *b, const tw_event *ev);
/** Number of events. */
TW_API size_t tw_batch_count(const tw_batch *b);
/** Borrowed pointer to event i (< count); valid until the batch is freed or pushed to. */
TW_API const tw_event *tw_batch_get(const tw_batch *b, size_t i);
/** Total bytes held (events + strings); used for watermarks. */
TW_API size_t tw_batch_bytes(const tw_batch *b);
/** Empties the batch, keeping its memory for reuse. */
TW_API void tw_batch_clear(tw_batch *b);
/** tw_event_fn adapter: pushes each event into the tw_batch passed as userdata. */
TW_API int tw_batch_sink(void *batch, const tw_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* TW_COMMON_H */
