'use strict';
/*
 * Packed batches -> JS event objects. The addon (node/src/pack.c, layout in node/src/twn.h)
 * hands over a batch as one string holding every string field and a Float64Array of records
 * [type, index, fields...]; string fields are UTF-16 lengths (-1 = absent) consumed in order.
 *
 * The JS event shape: the keys of the core's event JSON (tw_event_to_json, the ndjson format
 * and `tokenwire parse`) in camelCase, every key of the type present (null where the core
 * leaves the key out), and `index` on every event:
 *   start      {type, index, id, model}
 *   text       {type, index, text}            reasoning: the same
 *   tool_call  {type, index, id, name, arguments}
 *   usage      {type, index, inputTokens, outputTokens, totalTokens}   (null when not given)
 *   finish     {type, index, reason}          (as the provider spelled it)
 *   error      {type, index, kind, status, message, name, raw, recoverable}
 *   raw        {type, index, event, data, id, retry}
 *   progress   {type, index, text}
 *   agent_start / agent_complete  {type, index, source};  end  {type, index}
 * Events of merged streams also carry `source`. eventToJSON(ev) gives the core's JSON back.
 */
const { binding, T } = require('./binding');

const NAMES = binding.eventTypes;
const KIND_NAMES = binding.errorKinds;
/* The record type numbers, read once into constants for the hot switch below. */
const T_START = T.start, T_TEXT = T.text, T_REASONING = T.reasoning, T_TOOL_CALL = T.tool_call,
    T_USAGE = T.usage, T_FINISH = T.finish, T_ERROR = T.error, T_RAW = T.raw, T_AGENT_START = T.agent_start,
    T_AGENT_COMPLETE = T.agent_complete, T_PROGRESS = T.progress;

class Cursor {
    constructor(str, meta) {
        this.str = str;
        this.meta = meta;
        this.i = 0;
        this.p = 0;
    }
    s() {
        const len = this.meta[this.i++];
        if (len < 0) return null;
        const v = this.str.slice(this.p, this.p + len);
        this.p += len;
        return v;
    }
    /* A text record's string without building an event (want false: skipped). */
    text(want) {
        const len = this.meta[this.i + 2];
        this.i += 3;
        if (len < 0) return want ? '' : null;
        const p = this.p;
        this.p += len;
        return want ? this.str.slice(p, p + len) : null;
    }
    /* Reads the record at the cursor into an event object. */
    event() {
        const meta = this.meta;
        const type = meta[this.i];
        const index = meta[this.i + 1];
        this.i += 2;
        switch (type) {
            case T_TEXT:
            case T_REASONING: {
                /* Always a string, as in the core's JSON. */
                const text = this.s();
                return { type: NAMES[type], index, text: text === null ? '' : text };
            }
            case T_PROGRESS:
                return { type: 'progress', index, text: this.s() };
            case T_START: {
                const id = this.s();
                return { type: 'start', index, id, model: this.s() };
            }
            case T_TOOL_CALL: {
                const id = this.s();
                const name = this.s();
                return { type: 'tool_call', index, id, name, arguments: this.s() };
            }
            case T_USAGE: {
                const i = this.i;
                this.i += 3;
                return { type: 'usage', index, inputTokens: tokens(meta[i]), outputTokens: tokens(meta[i + 1]),
                    totalTokens: tokens(meta[i + 2]) };
            }
            case T_FINISH:
                return { type: 'finish', index, reason: this.s() };
            case T_ERROR: {
                const kind = KIND_NAMES[meta[this.i]] || 'unknown';
                const status = meta[this.i + 1];
                /* One bad event (malformed JSON, oversized): the stream goes on after it. */
                const recoverable = meta[this.i + 2] === 1;
                this.i += 3;
                const message = this.s();
                const name = this.s();
                return { type: 'error', index, kind, status, message, name, raw: this.s(), recoverable };
            }
            case T_RAW: {
                const event = this.s();
                const data = this.s();
                const id = this.s();
                const retry = meta[this.i++];
                return { type: 'raw', index, event, data, id, retry: retry < 0 ? null : retry };
            }
            case T_AGENT_START:
            case T_AGENT_COMPLETE:
                return { type: NAMES[type], index, source: this.s() };
            default:
                return { type: NAMES[type] || 'unknown', index };
        }
    }
}

function tokens(v) {
    return v < 0 ? null : v;
}

function unpack(str, meta, out) {
    const c = new Cursor(str, meta);
    while (c.i < meta.length) out.push(c.event());
    return out;
}

/** The core's JSON text of a JS event (tw_event_to_json): what the ndjson format sends. */
function eventToJSON(ev) {
    return binding.eventToJSON(ev);
}

module.exports = { Cursor, unpack, eventToJSON, T_TEXT };
