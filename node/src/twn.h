/*
 * twn.h - internals shared by the Node-API addon's files (node/src).
 *
 * The addon is deliberately thin (STYLE.md point 12): C owns the engine, the per-stream state
 * needed for backpressure and the packing of event batches; node/index.js builds the public
 * API (EventEmitter, async iterators, web ReadableStream) on top.
 *
 * Batches reach JS in a packed form instead of one JS object per event, because creating an
 * object and five properties through Node-API costs more than the whole C parse of a chunk:
 *   - one string holding every string field of every event, back to back;
 *   - a Float64Array `meta` of records, one per event, whose layout depends on the type
 *     (see twn_pack_event); string fields are recorded as their length in UTF-16 code
 *     units (-1 when absent) and consumed in order from the string.
 * node/index.js unpacks records into plain objects (or only the strings it needs).
 */
#ifndef TWN_H
#define TWN_H

#define NAPI_VERSION 8

#include <node_api.h>
#include <uv.h>

#include "tokenwire.h"

/* Throws the last Node-API error unless an exception is already pending, then returns NULL
 * from the calling function (modelled on node's test/js-native-api/common.h NODE_API_CALL). */
#define TW_NAPI_CALL(env, call)                                                                  \
    do {                                                                                         \
        if ((call) != napi_ok) {                                                                 \
            twn_throw_last(env);                                                                 \
            return NULL;                                                                         \
        }                                                                                        \
    } while (0)

/* Same as TW_NAPI_CALL for functions that return nothing. */
#define TW_NAPI_CALL_VOID(env, call)                                                             \
    do {                                                                                         \
        if ((call) != napi_ok) {                                                                 \
            twn_throw_last(env);                                                                 \
            return;                                                                              \
        }                                                                                        \
    } while (0)

/* Packer: accumulates records and string bytes for one batch. Reused across batches. */
typedef struct twn_packer {
    double *meta; /* records; owned */
    size_t n;     /* slots used */
    size_t cap;   /* slots allocated */
    tw_buf str;   /* valid UTF-8 string bytes */
    int ascii;    /* 1 while every byte in str is < 0x80 */
    int oom;      /* an allocation failed while packing */
} twn_packer;

void twn_packer_init(twn_packer *p);
void twn_packer_free(twn_packer *p);
void twn_packer_reset(twn_packer *p);
/* Appends one number slot. */
void twn_pack_num(twn_packer *p, double v);
/* Appends a string field: its UTF-16 length (or -1 when s.ptr is NULL) as a slot and its
 * bytes (invalid UTF-8 replaced by U+FFFD) to the string. */
void twn_pack_str(twn_packer *p, tw_str s);
/* Appends one normalized event record. */
void twn_pack_event(twn_packer *p, const tw_event *ev);
/* Creates the JS string of the packed string bytes. */
napi_status twn_packer_string(napi_env env, twn_packer *p, napi_value *out);
/* Creates a fresh Float64Array holding the packed records. */
napi_status twn_packer_meta(napi_env env, twn_packer *p, napi_value *out);

/* Throws an Error for the last Node-API failure unless an exception is pending. */
void twn_throw_last(napi_env env);
/* Throws an Error whose message is "tokenwire: <what>: <tw_strerror/msg>". */
void twn_throw_code(napi_env env, const char *what, tw_code code, const tw_error *err);
/* Reads a JS string argument into a malloc'd NUL-terminated copy (NULL + exception). */
char *twn_get_string(napi_env env, napi_value v, size_t *len_out);
/* Reads a Buffer / TypedArray / ArrayBuffer / string argument as bytes. For strings the
 * bytes are copied into *scratch; otherwise they are borrowed from the JS object.
 * Returns 0 on success, -1 with an exception pending. */
int twn_get_bytes(napi_env env, napi_value v, tw_buf *scratch, const char **ptr, size_t *len);

/* A summary as a JS object: tw_summary_to_json's keys in camelCase (summary.c); text and
 * reasoning are null when the summary does not accumulate (tw_summary_accumulates). */
napi_status twn_summary_value(napi_env env, const tw_summary *s, napi_value *out);
/* Reads a JS-shaped event (see names.c) into ev; its strings are copied into arena, which must
 * outlive ev. Returns 0, or -1 with an exception pending. */
int twn_event_from_js(napi_env env, napi_value obj, tw_event *ev, tw_buf *arena);

/* Registrations of each file's exports. */
napi_status twn_init_engine(napi_env env, napi_value exports);
napi_status twn_init_parsers(napi_env env, napi_value exports);
napi_status twn_init_names(napi_env env, napi_value exports);

/* ---- tee.c: the Redis tee and resume readers ---- */
typedef struct twn_tee_link twn_tee_link;
napi_status twn_init_tee(napi_env env, napi_value exports);
/* binding.c: the tee link slot of an encoder handle (and its encoder); NULL with a TypeError. */
twn_tee_link **twn_enc_tee_slot(napi_env env, napi_value handle, tw_encoder **enc);
/* One batch the linked encoder wrote (data, len): appended to Redis; terminal: the relay's end
 * (last: the batch's last event, its error recorded when it is one). JS thread. */
void twn_tee_on_bytes(twn_tee_link *l, tw_encoder *e, const char *data, size_t len, int terminal,
                      const tw_event *last);
/* The encoder is freed: an end not recorded yet is recorded as cancelled. */
void twn_tee_link_free(twn_tee_link *l);

#endif /* TWN_H */
