/*
 * tw_encoder.h - encoders from normalized events to downstream bytes (SSE, NDJSON, text).
 *
 * The exact wire schema of each format is documented at the top of its source file:
 * csrc/encoders/enc_openai.c, enc_events.c, enc_ai_sdk.c, event_json.c (ndjson), encoder.c (text).
 * Output is always valid UTF-8: invalid input bytes become U+FFFD.
 */
#ifndef TW_ENCODER_H
#define TW_ENCODER_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*==============================================================================================
 * Encoders: normalized events -> downstream bytes
 *============================================================================================*/

typedef enum tw_format {
    TW_FORMAT_OPENAI = 1, /* chat.completion.chunk SSE + "data: [DONE]" */
    TW_FORMAT_EVENTS,     /* SSE agent_start / agent_chunk / agent_complete / progress / error /
                             complete with JSON data tagged with the source agent */
    TW_FORMAT_AI_SDK,     /* Vercel AI SDK UI message stream (SSE, x-vercel-ai-ui-message-stream) */
    TW_FORMAT_NDJSON,     /* one normalized event as JSON per line */
    TW_FORMAT_TEXT,       /* text deltas only, raw UTF-8 */
    TW_FORMAT__LAST       /* (an app's own vocabulary: tw_encoder_new_template) */
} tw_format;

/**
 * Parses a format name: "openai" (alias "sse-openai"), "events", "ai-sdk", "ndjson", "text".
 * @param name the name, len bytes, need not be NUL-terminated; NULL gives 0.
 * @return the format, or 0 if unknown (case-sensitive). Thread: any. Ownership: none.
 */
TW_API tw_format tw_format_from_name(const char *name, size_t len);
/** Static canonical name of a format, or NULL if invalid. Thread: any. Ownership: static. */
TW_API const char *tw_format_name(tw_format f);
/**
 * Static Content-Type for the format: "text/event-stream" (openai, events, ai-sdk),
 * "application/x-ndjson", "text/plain; charset=utf-8"; NULL if invalid.
 * Thread: any. Ownership: static, never free.
 */
TW_API const char *tw_format_content_type(tw_format f);
/**
 * The HTTP response headers for relaying the format, as a static array of lower-case name,
 * value, name, value, ..., NULL: content-type (tw_format_content_type), cache-control:
 * no-cache, no-transform and x-accel-buffering: no (so caches and nginx neither buffer nor
 * rewrite the stream); ai-sdk adds x-vercel-ai-ui-message-stream: v1, which the AI SDK
 * client checks. The bindings' relay helpers send exactly these.
 * @param f a format; an invalid one gives {NULL}.
 * @return a static array. Thread: any. Ownership: static, never free.
 */
TW_API const char *const *tw_format_headers(tw_format f);

typedef struct tw_encoder tw_encoder;

typedef struct tw_encoder_opts {
    const char *id;    /* NUL-terminated response id for openai chunks; NULL = generated */
    const char *model; /* NUL-terminated default model name; NULL = "tokenwire" */
    /* openai format only. 0 (default): an event's index is a content-block / output-item
     * position (Anthropic, Responses put thinking at 0 and text at 1) and everything goes to
     * choice 0. 1: the index is the choice / candidate index (OpenAI n > 1, Gemini
     * candidateCount > 1) and each index of text / reasoning / finish becomes its own choice.
     * Tool calls always go to choice 0 (their index keys the call) and are renumbered 0, 1,
     * 2... in order of appearance, as OpenAI clients require.
     * Set it from the source dialect with tw_dialect_indexes_choices() (tw_decoder.h);
     * leave 0 for a mix of dialects (merged streams). */
    int index_is_choice;
    /* Event ids, for resuming a relay (Last-Event-ID): when set (a NUL-terminated stream id,
     * copied), every SSE event the encoder writes starts with "id: <prefix>:<seq>" (comments
     * and heartbeats get none, so they never move a reader's last event id), and every
     * NDJSON line starts with "event_id":"<prefix>:<seq>"; seq counts from first_event_seq,
     * one per event written. text carries no ids. */
    const char *event_id_prefix;
    uint64_t first_event_seq;
    /* One message per event, for WebSocket relays (0: the format's byte stream). Each event
     * the encoder writes (encode, finish) becomes one whole message, appended to out back to
     * back, its length recorded for tw_encoder_message_lens:
     *   NDJSON framing (ndjson, ndjson templates): the JSON line without its "\n" (with
     *     "event_id" inside when event ids are on);
     *   SSE framing (openai, events, ai-sdk, SSE templates): {"event":NAME,"id":ID,"data":DATA}
     *     with event and id only when the SSE event has them, DATA the data as JSON when it is
     *     JSON, else a JSON string ("[DONE]"); comment blocks (a recoverable error in openai /
     *     ai-sdk) are not messages;
     *   text: each text delta as it is (not JSON).
     * tw_encoder_heartbeat then writes nothing (a WebSocket pings on its own). */
    int messages;
    /* A relay of several sources one after the other (phases) plus app events (1), or of one
     * source (0, default). With phases, tw_encoder_finish ends a phase only: it closes what the
     * format keeps open per source (events: open agents get agent_complete; ai-sdk: open parts
     * end, then finish-step; the next phase starts a new step) and writes no end of stream;
     * encoding goes on (event ids and a template's text so far continue), until
     * tw_encoder_close writes the end once, with the app's final event or the format's. */
    int phases;
} tw_encoder_opts;

/** Fills defaults (all NULL / 0). @param o NULL is a no-op. Thread: any. */
TW_API void tw_encoder_opts_init(tw_encoder_opts *o);
/**
 * Creates an encoder. @param f a tw_format. @param opts NULL for defaults; strings copied.
 * @param err optional. @return encoder or NULL (INVALID_ARG/NOMEM in err).
 * Thread: any. Ownership: free with tw_encoder_free.
 */
TW_API tw_encoder *tw_encoder_new(tw_format f, const tw_encoder_opts *opts, tw_error *err);
/** The seq the next event id will carry (first_event_seq + events written so far). */
TW_API uint64_t tw_encoder_next_event_seq(const tw_encoder *e);
/**
 * Creates an encoder for an app's own vocabulary, compiled once from a JSON spec (no per-token
 * work outside C):
 *
 *   {"framing": "sse" | "ndjson",                      (default "sse")
 *    "constants": {"agent": "researcher", ...},         (optional)
 *    "events": {"<event type>": {"event": "answer_streaming",   (SSE event name; optional)
 *                                "data": <template>} | null, ...},
 *    "finish": {"event": ..., "data": <template>}}      (written once by tw_encoder_finish)
 *
 * Event types are tw_event_type_name()s (start, text, reasoning, tool_call, usage, finish,
 * error, raw, end, agent_start, agent_complete, progress); unlisted types write nothing. A
 * template is any JSON; a string that is exactly "{field}" becomes that field's JSON value,
 * and "{field}" inside other text is interpolated as text ("{{" and "}}" are literal braces).
 * Fields: type, index, text, id, name, arguments, reason, finish_reason (normalized, of the
 * stream so far), input_tokens, output_tokens, total_tokens (null when absent), kind, status,
 * raw, source, recoverable, seq (events written before this one), text_so_far and length (the
 * answer so far and its bytes), usage ({input_tokens, output_tokens, total_tokens} or null),
 * summary (tw_summary_to_json of the stream so far), constants.<name>.
 * Example: {"events": {"text": {"event": "answer_streaming", "data": {"token": "{text}",
 * "partial_response": "{text_so_far}", "agent_id": "{constants.agent}"}}}}.
 * App events (tw_encoder_send, tw_encoder_progress, tw_encoder_close's final event) go through
 * an optional "app": {"<app event name>": entry | null, "*": entry | null} with the same entry
 * shape: the entry of the name, else the "*" entry, else (neither listed) the event passes
 * through as "event: <name>\ndata: <payload>" (sse) or {"event":<name>,"data":<payload>}
 * (ndjson); null drops it. In those entries {payload} is the whole payload, {payload.<key>}
 * a top-level key of it (null when absent; names compared as written in the JSON text),
 * {name} the app event's name, {type} "app"; the stream-so-far fields (text_so_far, usage,
 * summary, length, seq) and constants work as anywhere, so a final "complete" can carry the
 * answer of every phase: {"app": {"complete": {"event": "complete", "data": {"response":
 * "{text_so_far}", "usage": "{usage}", "meta": "{payload}"}}}}.
 * @return the encoder or NULL (err: TW_ERR_INVALID_ARG naming what is wrong in the spec, or
 * TW_ERR_NOMEM). Thread: any. Ownership: free with tw_encoder_free.
 */
TW_API tw_encoder *tw_encoder_new_template(const char *spec, size_t len,
                                           const tw_encoder_opts *opts, tw_error *err);

/**
 * A new encoder that writes what proto writes: the same format, or a copy of proto's compiled
 * template (so a spec is compiled once, e.g. when an app starts, and each relay gets its own
 * encoder without parsing it again). Per-stream state (seq, text so far, ids) starts anew.
 * @param proto not NULL; only read (threads may copy one proto at once while none encodes
 * with it). @param opts as for tw_encoder_new (NULL for defaults; strings copied).
 * @param err optional. @return the encoder or NULL (TW_ERR_INVALID_ARG, TW_ERR_NOMEM).
 * Thread: any. Ownership: free with tw_encoder_free; proto stays the caller's.
 */
TW_API tw_encoder *tw_encoder_new_like(const tw_encoder *proto, const tw_encoder_opts *opts,
                                       tw_error *err);

/**
 * Gives a constant of a template encoder its value for this stream (a task id, the agent's
 * name): the spec declares the constant under "constants" (its value there is the default),
 * so the template is compiled once and each stream's encoder (tw_encoder_new_like) sets its
 * own. Slots written after the call use the new value.
 * @param e a template encoder. @param name the constant's name, name_len bytes.
 * @param json one JSON value, json_len bytes (compacted here; e.g. "\"task-7\"" or "42").
 * @param err optional: names the problem.
 * @return TW_OK; TW_ERR_INVALID_ARG (NULL, not a template, a constant the spec does not
 * declare, not one JSON value); TW_ERR_NOMEM (the old value kept).
 * Thread: owner. Ownership: the strings are copied.
 */
TW_API tw_code tw_encoder_set_constant(tw_encoder *e, const char *name, size_t name_len,
                                       const char *json, size_t json_len, tw_error *err);

/** The HTTP response headers of this encoder's output (as tw_format_headers; a template's
 * follow its framing). Static array. Thread: any. */
TW_API const char *const *tw_encoder_headers(const tw_encoder *e);

/**
 * Messages mode (tw_encoder_opts.messages): the lengths of the messages written since the last
 * tw_encoder_messages_clear, in order; the bytes appended to out meanwhile are exactly these
 * messages back to back (whatever tw_buf each call appended to). A failed call records none.
 * @param e NULL gives NULL and 0. @param n receives the count (may be NULL).
 * @return borrowed array, valid until the next call on e (NULL when none was ever written).
 * Thread: owner. Ownership: the encoder's.
 */
TW_API const size_t *tw_encoder_message_lens(const tw_encoder *e, size_t *n);
/** Forgets the recorded message lengths, once the caller took the messages. NULL: no-op.
 * Thread: owner. */
TW_API void tw_encoder_messages_clear(tw_encoder *e);

/** Frees an encoder. NULL is a no-op. Thread: owner. */
TW_API void tw_encoder_free(tw_encoder *e);
/**
 * Appends the bytes for ev to out (possibly none). Strings in ev are borrowed for the call.
 * @return TW_OK; TW_ERR_INVALID_ARG (NULL argument, invalid event type); TW_ERR_CLOSED after
 * tw_encoder_finish; TW_ERR_NOMEM (out is then unchanged, but treat the stream as broken).
 * Thread: owner (one thread at a time). Ownership: out is the caller's.
 */
TW_API tw_code tw_encoder_encode(tw_encoder *e, const tw_event *ev, tw_buf *out);
/**
 * Appends the closing bytes once (openai: the usage chunk and "data: [DONE]"; events:
 * agent_complete for open agents and "complete"; ai-sdk: open parts ended, finish-step,
 * finish, "data: [DONE]"); later calls append nothing and return TW_OK.
 * @return TW_OK, TW_ERR_INVALID_ARG (NULL), TW_ERR_NOMEM (out unchanged; not finished).
 * Thread: owner. Ownership: out is the caller's.
 */
TW_API tw_code tw_encoder_finish(tw_encoder *e, tw_buf *out);
/* With tw_encoder_opts.phases, tw_encoder_finish ends one phase (see there) and may be called
 * once per source; tw_encoder_close ends the relay. */
/*==============================================================================================
 * App events and phases: an app's own events, at any time, through any encoder
 *============================================================================================*/

/**
 * Appends an app event (a status before the first upstream, an interaction between agents...):
 * a name and a JSON payload, written in the encoder's format:
 *   openai, events (SSE):  "event: <name>\ndata: <payload>\n\n" (EventSource dispatches them
 *                          by name; OpenAI SDKs do not skip them: openai-python reads every
 *                          data line as a chunk, so a relay for those sends no app events);
 *   ai-sdk:                 data: {"type":"data-<name>","data":<payload>} (an AI SDK data part;
 *                          "start" is written first if nothing was);
 *   ndjson:                 {"event":"<name>","data":<payload>} on one line;
 *   text:                   nothing (text carries the answer only);
 *   templates:              the spec's "app" entry for the name (slots {payload},
 *                          {payload.<key>}, {name} and the stream-so-far fields), else its "*"
 *                          entry, else passed through as SSE or NDJSON above (see
 *                          tw_encoder_new_template).
 * The payload is validated and compacted (one line); event ids, messages mode and templates'
 * seq apply as to any event. No agent is opened (the events format tags nothing).
 * @param e not NULL. @param name 1-256 bytes of UTF-8 without control characters.
 * @param json one JSON value, json_len bytes (an object, a string, a number...).
 * @param out not NULL. @param err optional: names what is wrong.
 * @return TW_OK; TW_ERR_INVALID_ARG (NULL, bad name); TW_ERR_JSON (payload not one JSON value);
 * TW_ERR_CLOSED (after tw_encoder_close, or finish without phases); TW_ERR_NOMEM. On error out
 * is unchanged. Thread: owner. Ownership: the arguments are borrowed for the call.
 */
TW_API tw_code tw_encoder_send(tw_encoder *e, const char *name, size_t name_len,
                               const char *json, size_t json_len, tw_buf *out, tw_error *err);
/**
 * Appends a numeric progress event: the app event "progress" with the payload
 * {"progress":<value>[,"status":"<status>"]} (in ai-sdk a transient data-progress part).
 * @param value in [0, 1]. @param status UTF-8 text, status_len bytes; NULL: none.
 * @return as tw_encoder_send (TW_ERR_INVALID_ARG for a value outside [0, 1] or NaN).
 * Thread: owner. Ownership: borrowed.
 */
TW_API tw_code tw_encoder_progress(tw_encoder *e, double value, const char *status,
                                   size_t status_len, tw_buf *out, tw_error *err);
/**
 * Ends the relay once: what tw_encoder_finish writes at the end of a single-source relay, with
 * the app's final event in place of the format's own when name is given: events writes it
 * instead of "complete"; openai writes it after the usage chunk, before "data: [DONE]"; ai-sdk
 * as a data part before "finish"; ndjson as its line; a template through its "app" entry
 * (instead of its "finish" entry). Open phases are ended first.
 * @param name NULL (json ignored): the format's default end. Else as tw_encoder_send.
 * @return TW_OK; TW_ERR_CLOSED when already closed (or finished without phases);
 * TW_ERR_INVALID_ARG, TW_ERR_JSON, TW_ERR_NOMEM (out unchanged, not closed).
 * Thread: owner. Ownership: borrowed.
 */
TW_API tw_code tw_encoder_close(tw_encoder *e, const char *name, size_t name_len,
                                const char *json, size_t json_len, tw_buf *out, tw_error *err);

/**
 * Appends an SSE comment heartbeat (": keepalive\n\n") for SSE formats; nothing for ndjson
 * and text, nor in messages mode. Allowed at any point, also after finish.
 * @return TW_OK, TW_ERR_INVALID_ARG,
 * TW_ERR_NOMEM. Thread: owner. Ownership: out is the caller's.
 */
TW_API tw_code tw_encoder_heartbeat(tw_encoder *e, tw_buf *out);

/**
 * Appends s as a JSON string literal (with quotes), escaping exactly: " and \ as \" \\,
 * controls < 0x20 as \n \r \t \b \f or \u00XX, U+2028/U+2029 as \u2028/\u2029; everything
 * else (DEL, '/', non-ASCII) is copied as is. Each maximal invalid UTF-8 subpart becomes
 * U+FFFD (as the WHATWG decoder does). SSE2 scan of escape-free runs.
 * @param out not NULL. @param s may be NULL when len == 0.
 * @return TW_OK, TW_ERR_INVALID_ARG, TW_ERR_NOMEM (out unchanged). Thread: any.
 * Ownership: out is the caller's; s borrowed.
 */
TW_API tw_code tw_json_escape(tw_buf *out, const char *s, size_t len);

/**
 * Appends ev as one JSON object (no newline): the lines of `tokenwire parse` and "ndjson".
 * Keys in a fixed order, only those set, e.g. {"type":"text","index":0,"text":"Hel"};
 * schema in csrc/encoders/event_json.c.
 * @return TW_OK, TW_ERR_INVALID_ARG (NULL, invalid type), TW_ERR_NOMEM (out unchanged).
 * Thread: any. Ownership: out is the caller's; ev borrowed.
 */
TW_API tw_code tw_event_to_json(const tw_event *ev, tw_buf *out);

#ifdef __cplusplus
}
#endif

#endif /* TW_ENCODER_H */
