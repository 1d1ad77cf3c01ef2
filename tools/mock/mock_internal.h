/*
 * mock_internal.h - the pieces of the mock server shared between its files (not public).
 *
 *   mock_params.c    request controls (query / X-Mock-* headers), URL decoding, the tiny JSON
 *                    body scanner, the deterministic text, reasoning and tool arguments
 *   mock_dialects.c  the per-dialect wire output: a generator that yields one event at a time
 *   mock_server.c    poller loops (csrc/engine/poller.h), HTTP/1.1 parsing, keep-alive,
 *                    chunked writes, timers, stats
 */
#ifndef TW_MOCK_INTERNAL_H
#define TW_MOCK_INTERNAL_H

#include "mock/tw_mock.h"

#include <stddef.h>
#include <stdint.h>

/* ---- dialects ------------------------------------------------------------------------------ */

typedef enum tw__mock_dialect {
    TW__MD_NONE = 0,
    TW__MD_OPENAI,        /* /v1/chat/completions */
    TW__MD_RESPONSES,     /* /v1/responses */
    TW__MD_ANTHROPIC,     /* /v1/messages */
    TW__MD_GEMINI_SSE,    /* :streamGenerateContent?alt=sse */
    TW__MD_GEMINI_ARRAY,  /* :streamGenerateContent (one JSON array) */
    TW__MD_GEMINI_UNARY,  /* :generateContent */
    TW__MD_OLLAMA_CHAT,   /* /api/chat */
    TW__MD_OLLAMA_GEN     /* /api/generate */
} tw__mock_dialect;

typedef enum tw__mock_split {
    TW__SPLIT_EVENT = 0, /* one event per write */
    TW__SPLIT_RANDOM,    /* random 1-7 byte pieces, one write (and HTTP chunk) each */
    TW__SPLIT_BYTE,      /* one byte per write (and HTTP chunk) */
    TW__SPLIT_COALESCE   /* `coalesce` events per write */
} tw__mock_split;

typedef enum tw__mock_fault {
    TW__FAULT_NONE = 0,
    TW__FAULT_429,
    TW__FAULT_500,
    TW__FAULT_RESET,
    TW__FAULT_STALL,
    TW__FAULT_GARBAGE,
    TW__FAULT_BAD_UTF8,
    TW__FAULT_OVERSIZED,
    TW__FAULT_PROVIDER_ERROR,
    TW__FAULT_HEARTBEAT_ONLY
} tw__mock_fault;

/** The request controls, see tw_mock.h. Ownership: text is malloc'd, tw__mock_params_free. */
typedef struct tw__mock_params {
    long chunks;
    double delay_ms;
    char *text; /* NULL = the default text */
    size_t text_len;
    long reasoning;
    long tools;
    long choices;
    int usage;
    tw__mock_split split;
    long coalesce;
    int timestamp;
    tw__mock_fault fault;
    long fault_after;
    long fault_times; /* -1 = every request */
    long retry_after;
    long long oversized;
    double heartbeat_ms; /* 0 = off */
} tw__mock_params;

/** A borrowed view of one request, filled by the HTTP parser. */
typedef struct tw__mock_req {
    const char *method;
    size_t method_len;
    const char *path; /* without the query */
    size_t path_len;
    const char *query; /* after '?', may be NULL */
    size_t query_len;
    const char *headers; /* the raw header block (lines after the request line) */
    size_t headers_len;
    const char *body;
    size_t body_len;
} tw__mock_req;

void tw__mock_params_init(tw__mock_params *p);
void tw__mock_params_free(tw__mock_params *p);

/**
 * Fills p from the query string, then the X-Mock-* headers (the query wins).
 * @return 0, or -1 with a message in errbuf (a bad value: the caller answers 400).
 */
int tw__mock_params_parse(tw__mock_params *p, const tw__mock_req *r, char *errbuf, size_t errlen);

/**
 * Finds a header value (case-insensitive name). @return 1 and sets *v and *vlen, or 0.
 */
int tw__mock_header(const char *headers, size_t len, const char *name, const char **v,
                    size_t *vlen);

/** URL-decodes the n bytes at s into a malloc'd NUL-terminated string (+ is a space). */
char *tw__mock_url_decode(const char *s, size_t n, size_t *out_len);

/**
 * The tiny JSON scanner: finds top-level key `key` in the object `body`.
 * @return 1 and the raw value span, 0 when absent or the body is not an object.
 */
int tw__mock_json_top(const char *body, size_t len, const char *key, const char **v,
                      size_t *vlen);

/** The words of a text (runs between spaces), indexed once per response. */
typedef struct tw__mock_words {
    const char *text; /* borrowed */
    size_t len;
    size_t n;
    size_t *off, *wlen;
} tw__mock_words;

/** Indexes text (NULL = the default text). @return 0 or -1 (NOMEM; free it anyway). */
int tw__mock_words_init(tw__mock_words *w, const char *text, size_t len);
void tw__mock_words_free(tw__mock_words *w);
/** Appends delta i of choice c (raw, unescaped) to out. */
void tw__mock_words_delta(const tw__mock_words *w, tw_buf *out, long i, long c);
/** Appends reasoning delta k (raw) to out. */
void tw__mock_reasoning_delta(tw_buf *out, long k);
/** Tool k's arguments JSON (static buffer written into out). */
void tw__mock_tool_args(tw_buf *out, long k);
/** Number of fragments tool k's arguments are streamed in, and fragment j into out. */
long tw__mock_tool_nfrags(long k);
void tw__mock_tool_frag(tw_buf *out, long k, long j);

/* ---- generator ----------------------------------------------------------------------------- */

typedef enum tw__gen_rc {
    TW__GEN_EVENT = 0, /* bytes appended */
    TW__GEN_DONE,      /* the stream is over (nothing appended) */
    TW__GEN_RESET,     /* fault: reset the connection now */
    TW__GEN_STALL      /* fault: stop sending, keep the connection */
} tw__gen_rc;

typedef struct tw__mock_gen tw__mock_gen;

/**
 * Creates the generator for one streaming response. Ownership: borrows p and model for its
 * whole life (the connection owns both); free with tw__gen_free.
 */
tw__mock_gen *tw__gen_new(tw__mock_dialect d, const tw__mock_params *p, const char *model,
                          uint64_t reqno);
void tw__gen_free(tw__mock_gen *g);
/** 1 when the next event is a delta that waits for delay_ms. */
int tw__gen_next_delayed(const tw__mock_gen *g);
/** 1 when the generator only sends heartbeats from now on (fault=heartbeat_only). */
int tw__gen_heartbeat_only(const tw__mock_gen *g);
/** Appends the next event's bytes (framing included) to out. */
tw__gen_rc tw__gen_next(tw__mock_gen *g, tw_buf *out);
/** Appends a heartbeat (": keepalive" comment, or a blank line for NDJSON / JSON array). */
void tw__gen_heartbeat(const tw__mock_gen *g, tw_buf *out);

/** The non-streaming JSON response body of dialect d. */
void tw__mock_unary_body(tw_buf *out, tw__mock_dialect d, const tw__mock_params *p,
                         const char *model, uint64_t reqno);
/** The provider-style error JSON body for an HTTP error status. */
void tw__mock_error_body(tw_buf *out, tw__mock_dialect d, int status, const char *msg);

/** Content-Type of a streaming response in dialect d. */
const char *tw__mock_stream_ctype(tw__mock_dialect d);

/* ---- small buffer helpers (mock_params.c) -------------------------------------------------- */

/** Appends; aborts on out-of-memory (the mock is a test tool: no partial responses). */
void tw__mb_put(tw_buf *b, const void *p, size_t n);
void tw__mb_puts(tw_buf *b, const char *s);
void tw__mb_printf(tw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends s as a quoted JSON string (", \ and control bytes escaped; other bytes as is). */
void tw__mb_jstr(tw_buf *b, const char *s, size_t n);
/** Same without the quotes. */
void tw__mb_jstr_body(tw_buf *b, const char *s, size_t n);

/** CLOCK_REALTIME in microseconds. */
uint64_t tw__mock_realtime_us(void);

#endif /* TW_MOCK_INTERNAL_H */
