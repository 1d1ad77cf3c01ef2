'use strict';
/* Relaying to a browser: format names (checked by the core), the response headers of a format
 * (the core's list plus Next.js's), and the web ReadableStream that carries encoded bytes with
 * pull-driven backpressure and SSE heartbeats. */
const { randomUUID } = require('crypto');
const { binding } = require('./binding');

/**
 * The canonical name of a format ('sse-openai' -> 'openai'), or for an app's own vocabulary
 * ({ template: spec }, spec a JS object or its JSON text) a frozen { template: <JSON text> };
 * TypeError for anything else. The spec itself is checked by the core when compiled.
 */
function checkFormat(format) {
    if (format !== null && typeof format === 'object' && !Array.isArray(format) && 'template' in format) {
        const t = format.template;
        let spec;
        if (typeof t === 'string') spec = t;
        else if (t !== null && typeof t === 'object' && !Array.isArray(t)) spec = JSON.stringify(t);
        else {
            const e = new TypeError('format.template must be a spec object or its JSON text');
            e.code = 'ERR_INVALID_ARG_TYPE';
            throw e;
        }
        return Object.freeze({ template: spec });
    }
    const name = typeof format === 'string' ? binding.formatName(format) : null;
    if (name === null) throw new TypeError(`unknown format ${JSON.stringify(format)}`);
    return name;
}

/* The core's header list ([name, value, ...]) of a checked format; a template's follow its
 * framing (compiling the spec, so a bad one throws here). */
function headerList(format) {
    if (typeof format === 'string') return binding.formatHeaders(format);
    return binding.encoderHeaders(binding.encoderNew(null, undefined, undefined, undefined, undefined, undefined, format.template));
}

/** Headers for relaying a format to a browser through Next.js / proxies without buffering. */
function streamHeaders(format = 'openai', extra) {
    const h = {};
    const list = headerList(checkFormat(format)); // the core's list: content-type, no buffering, ...
    for (let i = 0; i < list.length; i += 2) h[list[i]] = list[i + 1];
    // Next.js compresses (and so buffers) a response unless it already names an encoding.
    h['content-encoding'] = 'none';
    if (extra) {
        const entries = extra instanceof Headers ? extra.entries() : Object.entries(extra);
        for (const [k, v] of entries) h[k.toLowerCase()] = v;
    }
    return h;
}

/* The Content-Type an encoder writes, from the core's header list (tw_encoder_headers). */
function contentType(enc) {
    const list = binding.encoderHeaders(enc);
    for (let i = 0; i < list.length; i += 2) if (list[i] === 'content-type') return list[i + 1];
    return null;
}

function heartbeatOption(opts) {
    const hb = opts.heartbeatMs === undefined ? 15000 : opts.heartbeatMs;
    if (!(typeof hb === 'number' && hb >= 0)) throw new TypeError('heartbeatMs must be a number >= 0');
    return hb;
}

/**
 * The `eventIds` option: false / undefined (no ids), true (a new random stream id), a string
 * (the stream id) or { prefix, firstSeq } (resume: ids go on from firstSeq). Returns
 * { prefix, firstSeq } or null. The ids themselves are the core's (tw_encoder_opts).
 */
function eventIdsOption(v) {
    if (v === undefined || v === false) return null;
    if (v === true) return { prefix: randomUUID(), firstSeq: 0 };
    if (typeof v === 'string') return { prefix: v, firstSeq: 0 };
    if (v !== null && typeof v === 'object' && typeof v.prefix === 'string') {
        const firstSeq = v.firstSeq === undefined ? 0 : v.firstSeq;
        if (!Number.isSafeInteger(firstSeq) || firstSeq < 0)
            throw new TypeError('eventIds.firstSeq must be an integer >= 0');
        return { prefix: v.prefix, firstSeq };
    }
    throw new TypeError('eventIds must be a boolean, a string or { prefix, firstSeq }');
}

/* A new encoder for a readable: format (a name, or { template } from checkFormat: compiled
 * by the core, a bad spec a TypeError with code ERR_INVALID_ARG_VALUE), id / model, the
 * source dialect (undefined for a merge) and event ids. */
function newEncoder(format, opts, dialect, ids) {
    const template = typeof format === 'string' ? undefined : format.template;
    return binding.encoderNew(template === undefined ? format : null, opts.id, opts.model, dialect,
        ids ? ids.prefix : undefined, ids ? ids.firstSeq : undefined, template);
}

/* The stream id and the next id's seq, on the ReadableStream an app relays. */
function markIds(stream, enc, ids) {
    Object.defineProperty(stream, 'streamId', { value: ids ? ids.prefix : null, enumerable: true });
    Object.defineProperty(stream, 'nextEventSeq', { value: () => (ids ? binding.encoderNextEventSeq(enc) : null) });
    return stream;
}

/**
 * A ReadableStream<Uint8Array> of encoder enc's bytes. The producer pushes through the returned
 * sink (enqueue / close / error); pull() asks it for more with hooks.more(), which returns
 * true when it delivered a batch synchronously, until hooks.done(). SSE formats get a
 * heartbeat comment after heartbeatMs of silence. cancel() (the reader went away) calls
 * hooks.cancel().
 * @returns {{stream: ReadableStream, sink: {waiting(): boolean, enqueue(b: Uint8Array): void,
 *   close(): void, error(reason: unknown): void}}}
 */
function byteStream(enc, format, heartbeatMs, hooks) {
    let controller = null;
    let pending = null; /* resolve of a pull waiting for bytes */
    let timer = null;
    let closed = false;
    let delivered = false;
    const release = () => {
        if (pending) {
            const r = pending;
            pending = null;
            r();
        }
    };
    const stop = () => {
        closed = true;
        if (timer) clearTimeout(timer);
    };
    const sink = {
        waiting() {
            return pending !== null;
        },
        enqueue(bytes) {
            if (closed || !bytes || bytes.length === 0) return;
            controller.enqueue(bytes);
            delivered = true;
            if (timer) timer.refresh();
            release();
        },
        close() {
            if (closed) return;
            stop();
            try {
                controller.close();
            } catch (e) {
                /* already closed or errored by the reader */
            }
            release();
        },
        error(reason) {
            if (closed) return;
            stop();
            try {
                controller.error(reason);
            } catch (e) {
                /* already closed */
            }
            release();
        },
    };
    const sse = contentType(enc) === 'text/event-stream';
    const stream = new ReadableStream(
        {
            start(c) {
                controller = c;
                if (heartbeatMs > 0 && sse) {
                    timer = setTimeout(() => {
                        if (closed) return;
                        sink.enqueue(binding.encoderHeartbeat(enc));
                        timer.refresh();
                    }, heartbeatMs);
                    timer.unref();
                }
                if (hooks.start) hooks.start(sink);
            },
            pull() {
                if (closed || hooks.done()) return undefined;
                delivered = false;
                while (hooks.more()) if (delivered || closed || hooks.done()) return undefined;
                if (closed || delivered || hooks.done()) return undefined;
                return new Promise((resolve) => {
                    pending = resolve;
                });
            },
            cancel() {
                stop();
                hooks.cancel();
            },
        },
        { highWaterMark: 0 },
    );
    return { stream, sink };
}

module.exports = { checkFormat, streamHeaders, heartbeatOption, byteStream, eventIdsOption, newEncoder, markIds };
