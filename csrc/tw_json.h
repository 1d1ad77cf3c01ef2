/*
 * tw_json.h - a narrow C surface over simdjson's on-demand API (the only C++ in the core lives
 * in tw_json.cc). Internal to the core: the bindings never see it.
 *
 * Padding: simdjson reads up to TW_JSON_PADDING (64) bytes past the end of a JSON text. The
 * bytes must be readable and initialised: their values do not change the result, but simdjson
 * and this wrapper branch on the first one (simdjson issue #1834), so uninitialised padding
 * is a use of indeterminate memory that valgrind and MSan report (tw_buf's spare bytes are
 * always initialised, see tw_buf_reserve). tw_json_parse takes the readable capacity of the
 * caller's buffer: when capacity >= len + TW_JSON_PADDING the text is parsed in place with no
 * copy (the SSE parser and NDJSON splitter hand out such buffers, see
 * tw_sse_event.data_capacity); otherwise it is first copied into an internal padded buffer.
 *
 * On-demand model: values are read forward only, once, in document order. A tw_json_val is a
 * cursor into the document being parsed; it is valid until the enclosing object/array moves
 * past it, and every handle dies at the next tw_json_parse / tw_json_rewind. Strings returned
 * by tw_json_get_str live until the next tw_json_parse / tw_json_rewind / tw_json_free.
 *
 * Errors: type mismatches (asking a string of a null) are not errors: the getters return 0 and
 * the document stays usable. Malformed JSON makes the handle "failed" (sticky until the next
 * parse); tw_json_end reports it, together with unconsumed trailing content.
 * Validation: the whole text is checked for valid UTF-8 and balanced structure; scalars are
 * validated where they are read. Tokens inside values that are skipped unread are not
 * validated (simdjson on-demand semantics).
 */
#ifndef TW_JSON_H
#define TW_JSON_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A reusable on-demand parser plus its current document. Not thread-safe. */
typedef struct tw_json tw_json;

/** JSON value types, as tw_json_type_of reports them. */
typedef enum tw_json_type {
    TW_JSON_INVALID = 0, /* malformed at this position */
    TW_JSON_OBJECT,
    TW_JSON_ARRAY,
    TW_JSON_STRING,
    TW_JSON_NUMBER,
    TW_JSON_BOOL,
    TW_JSON_NULL
} tw_json_type;

/** A cursor on one value (an on-demand value, copied by value; see the lifetime rules above). */
typedef struct tw_json_val {
    uint64_t opaque_[6];
} tw_json_val;

/** An object or array iterator. */
typedef struct tw_json_iter {
    uint64_t opaque_[4];
    int started_;
} tw_json_iter;

/**
 * Creates a parser; its buffers grow to the largest document seen and are reused.
 * @return the parser or NULL on NOMEM. Thread: any. Ownership: free with tw_json_free.
 */
TW_API tw_json *tw_json_new(void);

/** Frees the parser. NULL is a no-op. Thread: the owner. Ownership: j is freed. */
TW_API void tw_json_free(tw_json *j);

/**
 * Starts a new document. Root scalars are refused (every payload we decode is an object or an
 * array).
 * @param j the parser (not NULL).
 * @param buf the JSON text (not NULL unless len == 0); must stay untouched while the document
 *   is in use when parsed in place.
 * @param len text length. @param capacity readable bytes from buf (>= len).
 * @param root receives the root value (not NULL).
 * @return TW_OK; TW_ERR_JSON if the text is not a JSON object/array (structure, UTF-8, empty);
 *   TW_ERR_NOMEM. Thread: the owner. Ownership: buf borrowed for the document's life.
 */
TW_API tw_code tw_json_parse(tw_json *j, const char *buf, size_t len, size_t capacity,
                             tw_json_val *root);

/**
 * Restarts reading the current document from its beginning (a second pass, for example when
 * an object's "type" member came after the members it governs). Invalidates every handle and
 * string previously returned for this document.
 * @return TW_OK or TW_ERR_JSON. Thread: the owner. Ownership: none.
 */
TW_API tw_code tw_json_rewind(tw_json *j, tw_json_val *root);

/**
 * Checks that the document was read to its end without error and has no trailing content.
 * Call it after reading the root value completely.
 * @return TW_OK or TW_ERR_JSON. Thread: the owner. Ownership: none.
 */
TW_API tw_code tw_json_end(tw_json *j);

/** 1 when a malformed-JSON error was met in the current document, else 0. */
TW_API int tw_json_failed(const tw_json *j);

/** Short text of the first error met in the current document ("" if none). Static storage. */
TW_API const char *tw_json_error_message(const tw_json *j);

/** Type of v without consuming it. TW_JSON_INVALID on malformed input. */
TW_API tw_json_type tw_json_type_of(tw_json *j, tw_json_val *v);

/**
 * Starts iterating an object. @return 1 if v is an object (then call tw_json_obj_next until it
 * returns 0), 0 if it is not (not an error) or is malformed (then the handle is failed).
 */
TW_API int tw_json_obj_begin(tw_json *j, tw_json_val *v, tw_json_iter *it);

/**
 * Next member. key is the raw (still escaped) key text without quotes: keys are compared
 * byte for byte, as simdjson's own field lookup does, so "\u0061" does not match "a".
 * @return 1 with *key and *val set; 0 at the end of the object or on error.
 */
TW_API int tw_json_obj_next(tw_json *j, tw_json_iter *it, tw_str *key, tw_json_val *val);

/** Starts iterating an array; like tw_json_obj_begin. */
TW_API int tw_json_arr_begin(tw_json *j, tw_json_val *v, tw_json_iter *it);

/** Next element. @return 1 with *val set; 0 at the end or on error. */
TW_API int tw_json_arr_next(tw_json *j, tw_json_iter *it, tw_json_val *val);

/**
 * Reads a string, unescaped into UTF-8. When the JSON string has no escape the result points
 * into the document text itself (no copy); otherwise into the parser's string buffer.
 * @return 1 with *out set; 0 if v is not a string (out = {NULL,0}).
 */
TW_API int tw_json_get_str(tw_json *j, tw_json_val *v, tw_str *out);

/** Reads an integer (a float with an integral value is accepted). @return 1 or 0. */
TW_API int tw_json_get_i64(tw_json *j, tw_json_val *v, int64_t *out);

/** Reads a boolean. @return 1 or 0. */
TW_API int tw_json_get_bool(tw_json *j, tw_json_val *v, int *out);

/** @return 1 if v is null (consuming it), else 0. */
TW_API int tw_json_is_null(tw_json *j, tw_json_val *v);

/**
 * Consumes v and returns its JSON text as it appears in the document (a slice of it, trailing
 * whitespace removed). @return 1 or 0 on malformed input.
 */
TW_API int tw_json_get_raw(tw_json *j, tw_json_val *v, tw_str *out);

/**
 * Start of v's text in the document (its first byte), without consuming it. With
 * tw_json_cursor this delimits the raw text of an object after it was iterated.
 */
TW_API const char *tw_json_val_ptr(tw_json *j, tw_json_val *v);

/**
 * Where reading resumes: the next structural character of the document, or the end of the
 * text when everything was read. NULL if no document.
 */
TW_API const char *tw_json_cursor(tw_json *j);

/**
 * Removes insignificant whitespace from a JSON text (strings untouched).
 * @param dst at least len bytes. @return bytes written to dst, or (size_t)-1 on malformed input
 *   (unterminated string). Thread: any. Ownership: none.
 */
TW_API size_t tw_json_minify(const char *src, size_t len, char *dst);

/** @return 1 if buf[0..len) is valid UTF-8 (SIMD-validated), else 0. Thread: any. */
TW_API int tw_json_valid_utf8(const char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TW_JSON_H */
