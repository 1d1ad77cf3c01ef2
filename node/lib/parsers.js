'use strict';
/* The I/O-free pieces: SSEParser (WHATWG "parse an event stream") and Decoder (framing + JSON
 * of one dialect into normalized events, with the core's summary of what it decoded). */
const { binding } = require('./binding');
const { unpack } = require('./events');
const { ProtocolError } = require('./errors');

function checkBytes(v, name) {
    if (typeof v === 'string' || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    throw new TypeError(`${name} must be a string, Buffer, Uint8Array or ArrayBuffer`);
}

class SSEParser {
    /** @param {{maxEventSize?: number, lastEventId?: string}} [opts] */
    constructor(opts = {}) {
        if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
        const max = opts.maxEventSize;
        if (max !== undefined && !(Number.isFinite(max) && max > 0))
            throw new TypeError('maxEventSize must be a positive number');
        const id = opts.lastEventId;
        if (id !== undefined && id !== null && typeof id !== 'string') throw new TypeError('lastEventId must be a string');
        this._h = binding.sseNew(max || 0, id === null ? undefined : id);
    }
    /** Feeds bytes; returns the events they completed: [{event, data, id, retry}]. */
    feed(chunk) {
        checkBytes(chunk, 'chunk');
        const r = binding.sseFeed(this._h, chunk);
        const str = r[0], meta = r[1];
        const out = [];
        let p = 0;
        for (let i = 0; i < meta.length; i += 4) {
            const le = meta[i], ld = meta[i + 1], li = meta[i + 2], retry = meta[i + 3];
            const event = str.slice(p, p + le);
            p += le;
            const data = str.slice(p, p + ld);
            p += ld;
            const id = li < 0 ? '' : str.slice(p, p + li);
            if (li > 0) p += li;
            out.push({ event, data, id, retry: retry < 0 ? null : retry });
        }
        if (r[2] !== undefined) {
            const err = new ProtocolError('SSE: ' + r[2]);
            err.events = out;
            throw err;
        }
        return out;
    }
    /** Ends the stream (an unterminated event is discarded, per the spec); lastEventId stays. */
    finish() {
        binding.sseFinish(this._h);
        return [];
    }
    /** Forgets everything, the last event id included. */
    reset() {
        binding.sseReset(this._h);
    }
    /** The last event ID string: the id in effect at the last dispatched event (or the
     * starting one); never the id of a block still being read. */
    get lastEventId() {
        return binding.sseLastEventId(this._h);
    }
}

class Decoder {
    /** @param {string} dialect @param {{maxEventSize?: number, accumulate?: boolean}} [opts] */
    constructor(dialect, opts = {}) {
        if (typeof dialect !== 'string') throw new TypeError('dialect must be a string');
        if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
        if (opts.accumulate !== undefined && typeof opts.accumulate !== 'boolean')
            throw new TypeError('accumulate must be a boolean');
        this.dialect = dialect;
        this._h = binding.decoderNew(dialect, opts.maxEventSize || 0, opts.accumulate !== false);
    }
    feed(chunk) {
        checkBytes(chunk, 'chunk');
        return decoded(binding.decoderFeed(this._h, chunk));
    }
    finish() {
        return decoded(binding.decoderFinish(this._h));
    }
    /** Decodes a whole non-streaming JSON response body. */
    decodeBody(body) {
        checkBytes(body, 'body');
        return decoded(binding.decoderDecodeBody(this._h, body));
    }
    get done() {
        return binding.decoderDone(this._h);
    }
    /** The core's summary (tw_summary) of every event decoded so far; the same keys as a
     * stream's summary, without metrics. */
    summary() {
        return binding.decoderSummary(this._h);
    }
}

function decoded(r) {
    const out = unpack(r[0], r[1], []);
    if (r[2] !== undefined) {
        const err = new ProtocolError('decoder: ' + r[2]);
        err.events = out;
        throw err;
    }
    return out;
}

module.exports = { SSEParser, Decoder, checkBytes };
