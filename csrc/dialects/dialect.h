/*
 * dialect.h - internal interface between tw_decoder.c and the dialect decoders in
 * csrc/dialects/. Not installed, not part of the public contract.
 *
 * Model: the framing layer (SSE parser or NDJSON splitter) hands each payload to the dialect,
 * which reads its JSON with tw_json and *stages* normalized events in the context. The
 * decoder emits the staged events only once the whole payload was read without a JSON error:
 * a malformed payload gives exactly one TW_EV_ERROR (kind protocol, raw = the data), never a
 * half-decoded chunk, and the dialect state is restored to what it was before that payload.
 *
 * Staged strings may point into the payload (valid during the framing callback), into the
 * tw_json parser (valid until its next parse) or into the context's scratch area (reset per
 * payload, reserved up front so that it never moves while events point into it).
 */
#ifndef TW_DIALECT_H
#define TW_DIALECT_H

#include "tw_common.h"
#include "tw_decoder.h"
#include "tw_json.h"

#include <string.h>

/* One framed payload: an SSE event or an NDJSON line. */
typedef struct tw__payload {
    tw_str event;    /* SSE event name ("message" by default); {NULL,0} for NDJSON */
    tw_str data;     /* SSE data / NDJSON line */
    size_t capacity; /* readable bytes from data.ptr (see tw_sse_event.data_capacity) */
    tw_str id;       /* SSE last event id */
    int64_t retry;   /* SSE retry or -1 */
} tw__payload;

typedef enum tw__rc {
    TW__OK = 0,
    TW__BAD_JSON, /* the payload is not valid JSON (or not an object): one protocol error */
    TW__NOMEM
} tw__rc;

/* Per-dialect state. Plain data (no pointers to heap memory): the decoder snapshots it before
 * each payload and restores it when the payload turns out malformed. */
typedef struct tw__openai_state {
    int started;
    int usage_kind; /* 0 none, 1 Groq x_groq.usage, 2 standard usage (wins) */
    int64_t in, out, total;
} tw__openai_state;

typedef struct tw__responses_state {
    int started;
} tw__responses_state;

typedef struct tw__anthropic_state {
    int started;
    int have_input;
    int64_t input_tokens; /* from message_start, reused when message_delta omits it */
    uint64_t raw_blocks;  /* bit i: content block i is a kind we pass on raw (server tools) */
} tw__anthropic_state;

typedef struct tw__gemini_state {
    int started;
    int have_usage;
    int64_t in, out, total;
    int32_t next_tool; /* Gemini sends no tool index: calls are numbered in arrival order */
} tw__gemini_state;

typedef struct tw__ollama_state {
    int started;
    int32_t next_tool;
} tw__ollama_state;

typedef union tw__state {
    tw__openai_state openai;
    tw__responses_state responses;
    tw__anthropic_state anthropic;
    tw__gemini_state gemini;
    tw__ollama_state ollama;
} tw__state;

/* The decoding context a dialect works on. Owned by tw_decoder. */
typedef struct tw__dctx {
    tw_json *json;
    tw_event *ev; /* staged events */
    size_t nev, evcap;
    char *scratch; /* bump area, reset per payload */
    size_t scratch_used, scratch_cap;
    int done;      /* END or a terminal provider error was staged */
    int nomem;     /* an allocation failed while staging */
    tw__state st;
    const tw__payload *cur; /* payload being decoded (NULL in body mode) */
    tw_str body;            /* body mode: the whole body (raw of provider errors) */
} tw__dctx;

typedef struct tw__dialect {
    tw_dialect id;
    const char *name;
    int ndjson; /* framing: 1 NDJSON lines, 0 SSE events */
    /* Decodes one payload into staged events. */
    tw__rc (*payload)(tw__dctx *c, const tw__payload *p);
    /* End of input: stages what the dialect deferred (the decoder adds END). May be NULL. */
    tw__rc (*finish)(tw__dctx *c);
    /* Body mode: the root of a whole non-streaming response; stages everything up to END (or
     * the error). NULL for the raw dialects (their body is framed like a stream). */
    tw__rc (*body)(tw__dctx *c, tw_json_val *root);
} tw__dialect;

extern const tw__dialect tw__dialect_openai;
extern const tw__dialect tw__dialect_openai_responses;
extern const tw__dialect tw__dialect_anthropic;
extern const tw__dialect tw__dialect_gemini;
extern const tw__dialect tw__dialect_ollama;
extern const tw__dialect tw__dialect_sse;
extern const tw__dialect tw__dialect_ndjson;

/* ---- helpers (tw_decoder.c) ------------------------------------------------------------- */

/* Appends an initialized event of type t; NULL (and c->nomem) when out of memory. */
tw_event *tw__stage(tw__dctx *c, tw_event_type t);
/* Inserts an initialized event at position pos (<= c->nev). */
tw_event *tw__stage_at(tw__dctx *c, size_t pos, tw_event_type t);
/* Removes the staged event at position pos (< c->nev). */
void tw__unstage(tw__dctx *c, size_t pos);
/* Stages a TW_EV_RAW carrying the current payload untouched. */
void tw__stage_raw_payload(tw__dctx *c);
/* Stages a TW_EV_RAW for a sub-object of a payload/body (name = its kind, text = its JSON). */
void tw__stage_raw_json(tw__dctx *c, tw_str name, tw_str json);
/* Stages a terminal provider error read from an "error" member (object or string) and sets
 * c->done. name = error.type, else error.code (string), else error.status (string); status =
 * numeric error.code; text = error.message; raw = the payload (or body). */
void tw__stage_provider_error(tw__dctx *c, tw_json_val *err);
/* Stages a terminal provider error from already-read fields. */
void tw__stage_provider_error_fields(tw__dctx *c, tw_str message, tw_str type, int32_t status);
/* Stages END and sets c->done. */
void tw__stage_end(tw__dctx *c);
/* Parses the current payload's data as a JSON object root. */
tw__rc tw__parse_payload(tw__dctx *c, tw_json_val *root);
/* Returns TW__OK if the document was read cleanly to its end, else TW__BAD_JSON. */
tw__rc tw__check_end(tw__dctx *c);
/* Compact copy (insignificant whitespace removed) of a JSON value, in scratch. */
tw_str tw__compact_json(tw__dctx *c, tw_json_val *v);
/* Raw JSON of the object v, read with its members ignored (delimited with tw_json_cursor). */
tw_str tw__raw_between(tw__dctx *c, const char *start);
/* Reads a usage object: prompt_tokens / input_tokens / promptTokenCount ..., -1 if absent. */
void tw__read_usage(tw__dctx *c, tw_json_val *v, int64_t *in, int64_t *out, int64_t *total);

/* Saturating conversion for indexes and statuses read from JSON. */
static inline int32_t tw__i32(int64_t v) {
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* Byte comparison of a raw key (or any tw_str) with a literal. */
#define TW__IS(s, lit) ((s).len == sizeof(lit) - 1 && memcmp((s).ptr, lit, sizeof(lit) - 1) == 0)

static inline tw_str tw__lit(const char *s) {
    tw_str r;
    r.ptr = s;
    r.len = strlen(s);
    return r;
}

#endif /* TW_DIALECT_H */
