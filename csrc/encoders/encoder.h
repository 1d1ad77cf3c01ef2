/*
 * encoder.h - internals shared by the encoders (the files of csrc/encoders). Not installed,
 * not public.
 *
 * Every encoder appends to a caller's tw_buf. On failure the buffer is rolled back to the
 * length it had when the public call began, so a caller never sees half an SSE event.
 */
#ifndef TW_ENCODERS_ENCODER_H
#define TW_ENCODERS_ENCODER_H

#include "tw_encoder.h"
#include "tw_scan.h"

#include <string.h>

/* tw_buf_append with the common case (room already there) inlined. */
static inline tw_code tw__put(tw_buf *b, const void *p, size_t n) {
    size_t room = b->cap - b->len; /* tw_buf keeps cap >= len */
    if (room > TW_JSON_PADDING && n <= room - TW_JSON_PADDING) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return TW_OK;
    }
    return tw_buf_append(b, p, n);
}

/* Appends a string literal. */
#define TW__PUT(out, lit) tw__put((out), (lit), sizeof(lit) - 1)

/* Evaluates a tw_code expression and returns it from the enclosing function when non-zero. */
#define TW__TRY(expr)                                                                      \
    do {                                                                                   \
        tw_code tw__rc_ = (expr);                                                          \
        if (tw__rc_ != TW_OK) return tw__rc_;                                              \
    } while (0)

/* The per-format halves of an encoder. state is owned by the format's functions. */
struct tw_encoder {
    tw_format format;
    int finished;        /* tw_encoder_finish already ran */
    int index_is_choice; /* copy of tw_encoder_opts.index_is_choice */
    char *opt_id;        /* owned copies of the options, or NULL */
    char *opt_model;
    int sse;           /* framed as SSE events (ids, heartbeats): from the format or template */
    char *id_prefix;   /* tw_encoder_opts.event_id_prefix, or NULL: no event ids */
    uint64_t next_seq; /* the sequence number of the next event id */
    tw_buf scratch;    /* add_ids' and tw__to_messages' rewrite buffer */
    int messages;      /* tw_encoder_opts.messages: one message per event (messages.c) */
    size_t *msg_lens;  /* the lengths of the messages written since the last clear */
    size_t n_msgs, cap_msgs;
    void *state; /* openai / events / ai-sdk state; NULL for ndjson and text */
    int phases;  /* tw_encoder_opts.phases: finish ends a phase, close ends the relay */
    tw_buf app_json; /* the compacted payload of the app event being written (app.c) */
};

/* An app event (tw_encoder_send / progress / close's final event), its payload compacted. */
typedef struct tw__app {
    tw_str name;
    tw_str json;
    int progress; /* written by tw_encoder_progress (ai-sdk: a transient part) */
} tw__app;

/* The generic writers of an app event (app.c): "event: NAME\ndata: JSON\n\n" and
 * {"event":NAME,"data":JSON}\n; text writes nothing. */
tw_code tw__app_sse(const tw__app *a, tw_buf *out);
tw_code tw__app_ndjson(const tw__app *a, tw_buf *out);
/* Writes an app event through e's format (ids, messages, rollback as for any event); close:
 * as the final event of tw_encoder_close (a NULL: the format's own end). encoder.c. */
tw_code tw__encoder_app(tw_encoder *e, const tw__app *a, int close, tw_buf *out);

/* ---- shared helpers (encoder_util.c) ------------------------------------------------------- */

/** Appends a decimal integer. */
tw_code tw__put_i64(tw_buf *out, int64_t v);
/** Appends a tw_str as a JSON string literal; an absent string ({NULL,0}) gives "". */
tw_code tw__put_jstr(tw_buf *out, tw_str s);
/* An SSE comment ": <prefix><text>\n\n" with CR/LF in text turned into spaces: how the SSE
 * formats carry a recoverable error (seen in the byte stream, ignored by every SSE client). */
tw_code tw__put_sse_comment(tw_buf *out, const char *prefix, tw_str text);
/** Appends a NUL-terminated C string as a JSON string literal. */
tw_code tw__put_jcstr(tw_buf *out, const char *s);
/* Raw UTF-8 repair (tw__utf8_append) and validation (tw__utf8_valid) come from tw_scan.h. */

/**
 * Validates s as one JSON text and appends it compacted (insignificant whitespace dropped,
 * so it fits on one SSE data line; raw U+2028/U+2029 escaped; invalid UTF-8 inside strings
 * replaced by U+FFFD). Empty or all-whitespace input is rejected like any invalid text.
 * @return TW_OK, TW_ERR_JSON (out rolled back, reason in *why, a static string), TW_ERR_NOMEM.
 */
tw_code tw__json_compact(tw_buf *out, const char *s, size_t len, const char **why);

/** Maps any provider's finish reason to an OpenAI one: stop, length, tool_calls,
 * content_filter, function_call. Unknown reasons map to "stop". */
const char *tw__finish_reason_openai(tw_str reason);
/** Maps any provider's finish reason to an AI SDK one: stop, length, content-filter,
 * tool-calls, error, other. */
const char *tw__finish_reason_ai_sdk(tw_str reason);

/*
 * A map from 64-bit keys to 32-bit values (open addressing, linear probing, never shrinks), so
 * that per-event lookups stay O(1) however many choices / tool calls a hostile stream opens.
 */
typedef struct tw__map {
    uint64_t *keys;
    uint32_t *vals; /* value + 1; 0 = empty slot */
    size_t cap, count;
} tw__map;

/** @return 1 with *val set when key is present, else 0. */
int tw__map_get(const tw__map *m, uint64_t key, uint32_t *val);
/** Inserts or replaces. @return TW_OK or TW_ERR_NOMEM (map unchanged). */
tw_code tw__map_put(tw__map *m, uint64_t key, uint32_t val);
void tw__map_free(tw__map *m);

/** malloc'd NUL-terminated copy of n bytes (NULL on NOMEM). */
char *tw__strndup(const char *s, size_t n);
/** 1 when the two strings are byte-equal (absent equals empty). */
int tw__str_eq(tw_str a, const char *b, size_t blen);

/** Messages mode: rewrites what was appended to out since start as whole messages and records
 * their lengths (messages.c). On failure out and the lengths are the caller's to roll back. */
tw_code tw__to_messages(tw_encoder *e, tw_buf *out, size_t start);

/* ---- the formats with state ---------------------------------------------------------------- */

tw_code tw__openai_init(tw_encoder *e);
tw_code tw__openai_encode(tw_encoder *e, const tw_event *ev, tw_buf *out);
tw_code tw__openai_close(tw_encoder *e, const tw__app *final, tw_buf *out);
void tw__openai_free(tw_encoder *e);

tw_code tw__events_init(tw_encoder *e);
tw_code tw__events_encode(tw_encoder *e, const tw_event *ev, tw_buf *out);
tw_code tw__events_end_phase(tw_encoder *e, tw_buf *out);
tw_code tw__events_close(tw_encoder *e, const tw__app *final, tw_buf *out);
void tw__events_free(tw_encoder *e);

tw_code tw__ai_sdk_init(tw_encoder *e);
tw_code tw__ai_sdk_encode(tw_encoder *e, const tw_event *ev, tw_buf *out);
tw_code tw__ai_sdk_end_phase(tw_encoder *e, tw_buf *out);
tw_code tw__ai_sdk_close(tw_encoder *e, const tw__app *final, tw_buf *out);
tw_code tw__ai_sdk_app(tw_encoder *e, const tw__app *a, tw_buf *out);
void tw__ai_sdk_free(tw_encoder *e);

/* The format id of template encoders: after the public ones, never named or parsed. */
#define TW__FORMAT_TEMPLATE TW_FORMAT__LAST

tw_code tw__template_compile(tw_encoder *e, const char *spec, size_t len, tw_error *err);
tw_code tw__template_copy(tw_encoder *dst, const tw_encoder *src);
tw_code tw__template_set_constant(tw_encoder *e, tw_str name, tw_str json, tw_error *err);
tw_code tw__template_encode(tw_encoder *e, const tw_event *ev, tw_buf *out);
tw_code tw__template_close(tw_encoder *e, const tw__app *final, tw_buf *out);
tw_code tw__template_app(tw_encoder *e, const tw__app *a, tw_buf *out);
void tw__template_free(tw_encoder *e);

#endif /* TW_ENCODERS_ENCODER_H */
