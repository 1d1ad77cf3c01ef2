/*
 * tokenwire.h - the public C surface of tokenwire (umbrella header).
 *
 * tokenwire turns streaming LLM HTTP responses (SSE / NDJSON) into a small set of normalized
 * events, and normalized events back into bytes for browsers. Every piece is usable alone:
 * SSE parser, NDJSON splitter, dialect decoders, encoders, and the libcurl engine.
 *
 * Conventions (read once, they hold everywhere):
 * - Strings crossing this API are (pointer, length) pairs (tw_str) and are NOT NUL-terminated
 *   unless stated. Text is always valid UTF-8: invalid input bytes become U+FFFD.
 * - Pointers handed to callbacks are borrowed and die when the callback returns.
 * - Every function that can fail returns a tw_code (or NULL) and fills an optional tw_error.
 */
#ifndef TOKENWIRE_H
#define TOKENWIRE_H

#include "tw_common.h"
#include "tw_sse.h"
#include "tw_ndjson.h"
#include "tw_decoder.h"
#include "tw_encoder.h"
#include "tw_engine.h"
#include "tw_summary.h"
#include "tw_merge.h"
#include "tw_tee.h"

#endif /* TOKENWIRE_H */
