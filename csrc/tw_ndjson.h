/*
 * tw_ndjson.h - the incremental NDJSON line splitter, I/O-free.
 */
#ifndef TW_NDJSON_H
#define TW_NDJSON_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*==============================================================================================
 * NDJSON splitter
 *============================================================================================*/

typedef struct tw_ndjson tw_ndjson;

/**
 * Receives one line, without its line end, as valid UTF-8 (invalid bytes became U+FFFD).
 * data_capacity as in tw_sse_event: when the line lies wholly inside the caller's feed buffer
 * it points there and data_capacity counts the bytes up to the end of that buffer; otherwise it
 * points into the splitter's own buffer and data_capacity >= line.len + TW_JSON_PADDING.
 * Return non-zero to stop (feed/finish return TW_ERR_CANCELLED; the line counts as delivered).
 */
typedef int (*tw_ndjson_line_fn)(void *userdata, tw_str line, size_t data_capacity);

/**
 * Creates a splitter. Lines end at LF or CRLF (a lone CR too, so that CR-only producers do
 * not stall; a CR ending one feed and an LF starting the next are one line end); blank lines
 * (empty, or only spaces and tabs) are skipped; a UTF-8 BOM at the very start is dropped once.
 * A line longer than max_line gives TW_ERR_SSE_PROTOCOL (message naming max_line); its bytes
 * are dropped up to its line end, never buffered, and splitting resumes with the next line.
 * @param max_line 0 for TW_DEFAULT_MAX_EVENT_SIZE.
 * @return the splitter or NULL on NOMEM. Ownership: free with tw_ndjson_free.
 */
TW_API tw_ndjson *tw_ndjson_new(size_t max_line);
TW_API void tw_ndjson_free(tw_ndjson *s);
/**
 * Like tw_sse_parser_feed: returns at the first TW_ERR_SSE_PROTOCOL or TW_ERR_CANCELLED and
 * keeps the unread rest of buf, which the next feed (len may be 0) or finish reads first.
 * Invalid UTF-8 in a line is replaced by U+FFFD. Thread: owner thread. Ownership: buf borrowed.
 */
TW_API tw_code tw_ndjson_feed(tw_ndjson *s, const char *buf, size_t len, tw_ndjson_line_fn on_line,
                              void *userdata, tw_error *err);
/**
 * End of input: reads any kept input, then delivers a final line without a line end (NDJSON
 * allows it), then resets the splitter for a new stream. If it returns TW_ERR_CANCELLED or
 * TW_ERR_SSE_PROTOCOL while kept input remains, call it again to go on.
 */
TW_API tw_code tw_ndjson_finish(tw_ndjson *s, tw_ndjson_line_fn on_line, void *userdata,
                                tw_error *err);
TW_API uint64_t tw_ndjson_bytes_scanned(const tw_ndjson *s);

#ifdef __cplusplus
}
#endif

#endif /* TW_NDJSON_H */
