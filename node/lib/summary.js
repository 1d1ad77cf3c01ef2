'use strict';
/*
 * The summary of a stream (or of a Decoder's input) is the core's tw_summary, read as its JSON
 * (tw_summary_to_json) with every key in camelCase:
 *   id, model, text, reasoning, finishReason, finishReasonRaw       (text ... of choice 0)
 *   choices: [{index, text, reasoning, finishReason, finishReasonRaw}]
 *   toolCalls: [{index, id, name, arguments}]
 *   usage: {inputTokens, outputTokens, totalTokens} | null         (total derived when absent)
 *   end: 'end' | 'error' | null,  error: {kind, status, message} | null,  recoverableErrors
 * Streams add `metrics` (tw_stream_get_metrics). Nothing here computes any of it.
 */
const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function camelKeys(v) {
    if (Array.isArray(v)) return v.map(camelKeys);
    if (v === null || typeof v !== 'object') return v;
    const out = {};
    for (const k of Object.keys(v)) out[camel(k)] = camelKeys(v[k]);
    return out;
}

/** The JS summary of the core's summary JSON. */
function summaryFromJSON(json) {
    return camelKeys(JSON.parse(json));
}

module.exports = { summaryFromJSON };
