/*
 * tw_decoder.h - dialect decoders: framing + JSON into normalized events.
 */
#ifndef TW_DECODER_H
#define TW_DECODER_H

#include "tw_common.h"
#include "tw_json.h"
#include "tw_sse.h"

#ifdef __cplusplus
extern "C" {
#endif

/*==============================================================================================
 * Dialect decoders
 *============================================================================================*/

typedef enum tw_dialect {
    TW_DIALECT_OPENAI = 1,       /* chat.completions (Groq, Azure, vLLM, llama.cpp, ...) */
    TW_DIALECT_OPENAI_RESPONSES, /* Responses API */
    TW_DIALECT_ANTHROPIC,        /* Messages */
    TW_DIALECT_GEMINI,           /* streamGenerateContent?alt=sse */
    TW_DIALECT_OLLAMA,           /* native /api/chat and /api/generate NDJSON */
    TW_DIALECT_SSE,              /* raw SSE events as TW_EV_RAW */
    TW_DIALECT_NDJSON,           /* raw NDJSON lines as TW_EV_RAW (text = line) */
    TW_DIALECT__LAST
} tw_dialect;

/** Parses "openai", "openai-responses", "anthropic", "gemini", "ollama", "sse", "ndjson".
 * @return the dialect or 0 if unknown. */
TW_API tw_dialect tw_dialect_from_name(const char *name, size_t len);
/** Static name of a dialect, or NULL if invalid. */
TW_API const char *tw_dialect_name(tw_dialect d);
/**
 * Whether the dialect's event index is a choice / candidate index, i.e. the value to give
 * tw_encoder_opts.index_is_choice when relaying that dialect in the openai format.
 * 1: openai (choices[i].index, n > 1) and gemini (candidates[i].index, candidateCount > 1).
 * 0: openai-responses and anthropic (the index is an output-item / content-block position:
 * thinking at 0 and text at 1 must stay in one choice), ollama (one answer per request: text
 * and finish are always at index 0, so 0 and 1 encode alike; tool-call indices key the call),
 * sse and ndjson (raw events carry no index), and an invalid dialect.
 * @param d any value; an invalid one gives 0.
 * @return 1 or 0. Thread: any. Ownership: none.
 */
TW_API int tw_dialect_indexes_choices(tw_dialect d);

typedef struct tw_decoder tw_decoder;

typedef struct tw_decoder_opts {
    size_t max_event_size;        /* 0 = TW_DEFAULT_MAX_EVENT_SIZE */
    tw_sse_comment_fn on_comment; /* optional: SSE comments (heartbeats) */
    void *comment_userdata;
    /* optional: a JSON parser to share instead of one of the decoder's own (each costs ~14 KiB
     * and is cold in cache when thousands of decoders take turns). The decoder parses one
     * event at a time and keeps nothing of the parse between calls, so decoders fed on the
     * same thread may share one; it must outlive them and never be used by two threads. */
    tw_json *json;
} tw_decoder_opts;

TW_API void tw_decoder_opts_init(tw_decoder_opts *o);

/**
 * Creates a decoder: framing (SSE or NDJSON) + JSON decoding into normalized events.
 * @param opts NULL for defaults. @param err optional.
 * @return the decoder, or NULL (TW_ERR_INVALID_ARG for an unknown dialect, TW_ERR_NOMEM).
 * Thread: any. Ownership: free with tw_decoder_free.
 */
TW_API tw_decoder *tw_decoder_new(tw_dialect dialect, const tw_decoder_opts *opts, tw_error *err);
TW_API void tw_decoder_free(tw_decoder *d);

/**
 * Feeds raw response bytes; emits normalized events in order. Invalid JSON in one event
 * gives a TW_EV_ERROR of kind protocol carrying the raw data, and decoding goes on.
 * An oversized event gives a TW_EV_ERROR of kind protocol too (and TW_OK is returned).
 * @return TW_OK, TW_ERR_CANCELLED (callback stopped), TW_ERR_NOMEM.
 * Thread: owner thread. Ownership: buf borrowed; event strings borrowed for the callback.
 */
TW_API tw_code tw_decoder_feed(tw_decoder *d, const char *buf, size_t len, tw_event_fn on_event,
                               void *userdata, tw_error *err);

/**
 * End of input: flushes what the dialect defers (Gemini's final usage, a final NDJSON line)
 * and emits TW_EV_END if the stream ended without its own end marker and without a terminal
 * provider error. A protocol error for one malformed event does not end the stream (decoding
 * went on with the next event), so END still follows it. Emits nothing more after an END or a
 * provider error was already emitted. Input that had bytes but gave not one event (an HTML
 * page, compressed or binary bytes, only comments) is not an event stream: instead of END,
 * a protocol error "not an event stream" with the first bytes as raw (nothing is dropped
 * silently). Empty input ends with END.
 */
TW_API tw_code tw_decoder_finish(tw_decoder *d, tw_event_fn on_event, void *userdata,
                                 tw_error *err);

/**
 * Decodes a whole non-streaming JSON response body (stream: false, application/json) into
 * the same events a stream would give, ending with TW_EV_END.
 */
TW_API tw_code tw_decoder_decode_body(tw_decoder *d, const char *body, size_t len,
                                      tw_event_fn on_event, void *userdata, tw_error *err);

/** 1 once the dialect's end marker or a terminal provider error was seen, else 0. */
TW_API int tw_decoder_done(const tw_decoder *d);

/**
 * Pulls the provider's human message out of an error body (OpenAI / Anthropic / Gemini /
 * Ollama error JSON). @return a borrowed slice of body (unescaped copy in *scratch when the
 * JSON string had escapes), or {NULL,0} if none was found. scratch may be NULL.
 */
TW_API tw_str tw_error_body_message(const char *body, size_t len, tw_buf *scratch);

#ifdef __cplusplus
}
#endif

#endif /* TW_DECODER_H */
