/*
 * raw.c - the "sse" and "ndjson" dialects: every SSE event / NDJSON line comes out as a
 * TW_EV_RAW, untouched (SSE: name = event type, text = data, id = last event id, retry;
 * NDJSON: text = the line). No JSON is parsed. END comes from tw_decoder_finish.
 */
#include "dialects/dialect.h"

static tw__rc raw_payload(tw__dctx *c, const tw__payload *p) {
    (void)p;
    tw__stage_raw_payload(c);
    return TW__OK;
}

const tw__dialect tw__dialect_sse = {TW_DIALECT_SSE, "sse", 0, raw_payload, NULL, NULL};
const tw__dialect tw__dialect_ndjson = {TW_DIALECT_NDJSON, "ndjson", 1, raw_payload, NULL, NULL};
