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

/** One line (without its line end). data_capacity as in tw_sse_event. */
typedef int (*tw_ndjson_line_fn)(void *userdata, tw_str line, size_t data_capacity);

/**
 * Creates a splitter. Lines end at LF or CRLF (a lone CR too, so that CR-only producers do
 * not stall); blank lines are skipped.
 * @param max_line 0 for TW_DEFAULT_MAX_EVENT_SIZE.
 * @return the splitter or NULL on NOMEM. Ownership: free with tw_ndjson_free.
 */
TW_API tw_ndjson *tw_ndjson_new(size_t max_line);
TW_API void tw_ndjson_free(tw_ndjson *s);
/** Like tw_sse_parser_feed. Invalid UTF-8 in a line is replaced by U+FFFD. */
TW_API tw_code tw_ndjson_feed(tw_ndjson *s, const char *buf, size_t len, tw_ndjson_line_fn on_line,
                              void *userdata, tw_error *err);
/** End of input: a final line without a line end is delivered (NDJSON allows it). */
TW_API tw_code tw_ndjson_finish(tw_ndjson *s, tw_ndjson_line_fn on_line, void *userdata,
                                tw_error *err);
TW_API uint64_t tw_ndjson_bytes_scanned(const tw_ndjson *s);

#ifdef __cplusplus
}
#endif

#endif /* TW_NDJSON_H */
