'use strict';
/*
 * tokenwire for Node: the JS face of the C addon (node/src). The addon does the HTTP
 * streaming, framing, JSON decoding and encoding on its own I/O thread and hands each stream
 * its events as one packed batch per event-loop wakeup; this file turns batches into the
 * public API: EventEmitter, async iterators, web ReadableStreams, merge, typed errors.
 */
const { EventEmitter } = require('events');
const path = require('path');

function loadBinding() {
    const root = path.join(__dirname, '..');
    const tried = [];
    for (const rel of ['build/Release/tokenwire.node', 'build/Debug/tokenwire.node']) {
        const p = path.join(root, rel);
        try {
            return require(p);
        } catch (e) {
            if (e && e.code !== 'MODULE_NOT_FOUND') throw e;
            tried.push(p);
        }
    }
    throw new Error(
        'tokenwire: the native addon is not built (looked for ' + tried.join(', ') +
            '); run `npm install` (or `npm rebuild tokenwire`) in the package directory',
    );
}

const binding = loadBinding();

/* ---- errors -------------------------------------------------------------------------------- */

class TokenwireError extends Error {
    constructor(message, opts = {}) {
        super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
        this.name = 'TokenwireError';
        this.code = opts.code !== undefined ? opts.code : 'ERR_TOKENWIRE';
        this.status = opts.status !== undefined ? opts.status : 0;
        this.body = opts.body !== undefined ? opts.body : null;
        this.kind = opts.kind !== undefined ? opts.kind : 'unknown';
        /* The events received before the failure, when the failure ended a stream. */
        this.source = opts.source !== undefined ? opts.source : null;
    }
}
class HTTPError extends TokenwireError {
    constructor(message, opts) {
        super(message, { code: 'ERR_HTTP_STATUS', kind: 'http', ...opts });
        this.name = 'HTTPError';
        /* Seconds from the answer's Retry-After header, null when none. */
        this.retryAfter = opts && opts.retryAfter !== undefined ? opts.retryAfter : null;
    }
}
class TimeoutError extends TokenwireError {
    constructor(message, opts) {
        super(message, { code: 'ERR_TIMEOUT', kind: 'timeout', ...opts });
        this.name = 'TimeoutError';
    }
}
class ProtocolError extends TokenwireError {
    constructor(message, opts) {
        super(message, { code: 'ERR_PROTOCOL', kind: 'protocol', ...opts });
        this.name = 'ProtocolError';
    }
}
class ProviderError extends TokenwireError {
    constructor(message, opts) {
        super(message, { code: 'provider_error', kind: 'provider', ...opts });
        this.name = 'ProviderError';
    }
}
class ConnectionError extends TokenwireError {
    constructor(message, opts) {
        super(message, { code: 'ERR_CONNECTION', kind: 'transport', ...opts });
        this.name = 'ConnectionError';
    }
}
class AbortError extends TokenwireError {
    constructor(message, opts) {
        super(message || 'The operation was aborted', { code: 'ABORT_ERR', kind: 'cancelled', ...opts });
        this.name = 'AbortError';
    }
}

/** Builds the typed error for a normalized error event. */
function errorFromEvent(ev) {
    const msg = ev.message || ev.kind + ' error';
    const opts = { status: ev.status || 0, body: ev.raw, source: ev.source || null };
    switch (ev.kind) {
        case 'http':
            return new HTTPError(msg, opts);
        case 'timeout':
            return new TimeoutError(msg, opts);
        case 'protocol':
            return new ProtocolError(msg, opts);
        case 'provider':
            return new ProviderError(msg, ev.code ? { ...opts, code: ev.code } : opts);
        case 'transport':
            return new ConnectionError(msg, opts);
        case 'cancelled':
            return new AbortError(msg, opts);
        default:
            return new TokenwireError(msg, { ...opts, kind: ev.kind });
    }
}

/* ---- packed batches ------------------------------------------------------------------------ */

const TYPES = [null, 'start', 'text', 'reasoning', 'tool_call', 'usage', 'finish', 'error', 'raw',
    'end', 'agent_start', 'agent_complete', 'progress'];
const KINDS = ['none', 'http', 'provider', 'timeout', 'protocol', 'cancelled', 'transport'];
const T_START = 1, T_TEXT = 2, T_REASONING = 3, T_TOOL = 4, T_USAGE = 5, T_FINISH = 6,
    T_ERROR = 7, T_RAW = 8, T_END = 9, T_AGENT_START = 10, T_AGENT_COMPLETE = 11, T_PROGRESS = 12;

/* Cursor over a packed batch (see node/src/twn.h for the layout): records are
 * [type, index, fields...]; strings are UTF-16 lengths (-1 = absent) consumed in order from
 * str. */
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
    /* Reads the record at the cursor into an event object. */
    event() {
        const meta = this.meta;
        const type = meta[this.i];
        const index = meta[this.i + 1];
        this.i += 2;
        switch (type) {
            case T_TEXT:
            case T_REASONING:
                return { type: TYPES[type], index, text: this.s() };
            case T_START: {
                const id = this.s();
                return { type: 'start', index, id, model: this.s() };
            }
            case T_TOOL: {
                const id = this.s();
                const name = this.s();
                return { type: 'tool_call', index, id, name, arguments: this.s() };
            }
            case T_USAGE: {
                const i = this.i;
                this.i += 3;
                return { type: 'usage', index, inputTokens: meta[i], outputTokens: meta[i + 1], totalTokens: meta[i + 2] };
            }
            case T_FINISH:
                return { type: 'finish', index, reason: this.s() };
            case T_ERROR: {
                const kind = KINDS[meta[this.i]] || 'unknown';
                const status = meta[this.i + 1];
                /* One bad event (malformed JSON, oversized): the stream goes on after it. */
                const recoverable = meta[this.i + 2] === 1;
                this.i += 3;
                const message = this.s();
                const code = this.s();
                return { type: 'error', index, kind, status, message, code, raw: this.s(), recoverable };
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
                return { type: TYPES[type], index, source: this.s() };
            case T_PROGRESS:
                return { type: 'progress', index, text: this.s() };
            default:
                return { type: TYPES[type] || 'unknown', index };
        }
    }
}

function unpack(str, meta, out) {
    const c = new Cursor(str, meta);
    while (c.i < meta.length) out.push(c.event());
    return out;
}

/* ---- SSEParser / Decoder ------------------------------------------------------------------- */

class SSEParser {
    /** @param {{maxEventSize?: number}} [opts] */
    constructor(opts = {}) {
        if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
        const max = opts.maxEventSize;
        if (max !== undefined && !(Number.isFinite(max) && max > 0))
            throw new TypeError('maxEventSize must be a positive number');
        this._h = binding.sseNew(max || 0);
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
    /** Ends the stream (an unterminated event is discarded, per the spec). */
    finish() {
        binding.sseFinish(this._h);
        return [];
    }
    reset() {
        binding.sseReset(this._h);
    }
    get lastEventId() {
        return binding.sseLastEventId(this._h);
    }
}

class Decoder {
    /** @param {string} dialect @param {{maxEventSize?: number}} [opts] */
    constructor(dialect, opts = {}) {
        if (typeof dialect !== 'string') throw new TypeError('dialect must be a string');
        this.dialect = dialect;
        this._h = binding.decoderNew(dialect, (opts && opts.maxEventSize) || 0);
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

function checkBytes(v, name) {
    if (typeof v === 'string' || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    throw new TypeError(`${name} must be a string, Buffer, Uint8Array or ArrayBuffer`);
}

/* ---- streams ------------------------------------------------------------------------------- */

/* One dispatch function for every stream of this environment: C calls it once per stream
 * per wakeup with the stream's whole batch. */
binding.init(function dispatch(stream, str, meta, bytes, done) {
    stream._onBatch(str, meta, bytes, done);
});

const FLOW_PAUSED = 0, FLOW_ONE = 1, FLOW_ON = 2;
const DATA_EVENTS = new Set(['start', 'text', 'reasoning', 'tool_call', 'usage', 'finish', 'event',
    'end', 'raw', 'progress']);
const SSE_FORMATS = new Set(['sse-openai', 'openai', 'events', 'ai-sdk']);
const FORMATS = new Set(['sse-openai', 'openai', 'events', 'ai-sdk', 'ndjson', 'text']);

/** Headers for relaying a format to a browser through Next.js / proxies without buffering. */
function streamHeaders(format = 'sse-openai', extra) {
    if (!FORMATS.has(format)) throw new TypeError(`unknown format ${JSON.stringify(format)}`);
    const h = {};
    const list = binding.formatHeaders(format); // the core's list: content-type, no buffering, ...
    for (let i = 0; i < list.length; i += 2) h[list[i]] = list[i + 1];
    // Next.js compresses (and so buffers) a response unless it already names an encoding.
    h['content-encoding'] = 'none';
    if (extra) {
        const entries = extra instanceof Headers ? extra.entries() : Object.entries(extra);
        for (const [k, v] of entries) h[k.toLowerCase()] = v;
    }
    return h;
}

/* Text-mode iterators only need strings: skip building event objects. */
class Stream extends EventEmitter {
    constructor(request, opts) {
        super();
        this._request = request;
        this._dialect = request.dialect; /* tells the encoder what an event index means */
        this._done = false;
        this._error = null;
        this._summary = null;
        this._cancelled = false;
        /* consumers */
        this._flow = FLOW_PAUSED;
        this._flowScheduled = false;
        this._iter = null;       /* 'events' | 'text' while an iterator is attached */
        this._queue = [];
        this._qpos = 0;
        this._waiter = null;     /* pending iterator next() */
        this._bytes = null;      /* ReadableStream sink: {enqueue, close, error} */
        this._taps = null;       /* merge: functions receiving each event */
        this._onDone = null;     /* merge: called once when the stream ends */
        this._summaryWaiters = null;
        this._inPull = false;
        this._parentWants = null; /* merge: does the merged consumer want more? */
        /* summary accumulators; with accumulate: false text and reasoning are not kept (a
         * long stream then holds no more than its current batch) */
        this._accumulate = opts.accumulate !== false;
        this._text = '';
        this._reasoning = '';
        this._tools = null;
        this._usage = null;
        this._finishReason = null;
        this._model = null;
        this._id = null;
        this._started = false;

        this._signal = opts.signal || null;
        this._onAbort = null;
        if (this._signal) {
            if (this._signal.aborted) {
                this._error = abortReason(this._signal);
                this._done = true;
                this._cancelled = true;
                return;
            }
            this._onAbort = () => this._abort(abortReason(this._signal));
            this._signal.addEventListener('abort', this._onAbort, { once: true });
        }
        try {
            binding.start(this, request);
        } catch (e) {
            /* Refused before anything was sent (e.g. a CR/LF in a header): no listener left. */
            this._cleanupSignal();
            throw e;
        }
        this._started = true;
        this.on('newListener', this._newListener);
    }

    _newListener(name) {
        if (!DATA_EVENTS.has(name) || this._flow === FLOW_ON || this._flowScheduled) return;
        /* Listeners are added right after this hook; start flowing once they are in place. */
        this._flowScheduled = true;
        process.nextTick(() => {
            this._flowScheduled = false;
            this._setFlow(FLOW_ON);
        });
    }

    _setFlow(mode) {
        if (this._done) return;
        if (this._flow === FLOW_ON && mode !== FLOW_ON) return;
        this._flow = mode;
        binding.setFlow(this, mode);
    }

    /* C -> JS: one batch (packed events and/or encoded bytes). */
    _onBatch(str, meta, bytes, done) {
        if (this._done) return;
        if (bytes !== undefined && this._bytes) this._bytes.enqueue(bytes);
        let terminal = null;
        if (meta !== undefined) terminal = this._batchEvents(str, meta, done);
        if (done) {
            this._finish(terminal);
            return;
        }
        if (this._waiter && this._qpos < this._queue.length) {
            this._wake();
            return;
        }
        /* The batch held nothing the waiting consumer takes (a start or usage event for a
         * text() reader, bytes-less events for an encoder): ask for the next one. Inside a
         * synchronous pull the caller loops instead. */
        if (!this._inPull) while (!this._done && this._wantsMore() && this._pull()) {}
    }

    _wantsMore() {
        if (this._flow === FLOW_ON) return false;
        if (this._waiter !== null && this._qpos >= this._queue.length) return true;
        if (this._bytes !== null && this._bytes.waiting()) return true;
        return this._parentWants !== null && this._parentWants();
    }

    /* Walks the packed records: updates the summary, feeds listeners / iterators / taps.
     * Text records, the bulk of a stream, skip the event object unless someone wants it.
     * The summary text is appended once per run of adjacent text records (one slice of the
     * batch string) rather than per delta: keeping every small delta alive in a rope made
     * the young-generation GC copy them all. */
    _batchEvents(str, meta, done) {
        const emitEvent = this.listenerCount('event') > 0;
        const emitText = this.listenerCount('text') > 0;
        const iter = this._iter;
        const objects = emitEvent || iter === 'events' || this._taps !== null;
        const c = new Cursor(str, meta);
        const n = meta.length;
        let last = null;
        let runStart = 0;
        /* A listener may cancel or abort the stream mid-batch: nothing is delivered after. */
        while (c.i < n && !this._done) {
            const type = meta[c.i];
            if (type === T_TEXT) {
                const len = meta[c.i + 2] > 0 ? meta[c.i + 2] : 0;
                const p = c.p;
                if (!objects) {
                    c.p += len;
                    c.i += 3;
                    last = null;
                    if (iter === 'text' || emitText) {
                        const t = str.slice(p, p + len);
                        if (iter === 'text') this._queue.push(t);
                        if (emitText) this.emit('text', t);
                    }
                    continue;
                }
                const ev = c.event();
                last = this._event(ev, emitEvent, emitText, iter);
                continue;
            }
            /* Any other record: close the text run before its strings. */
            if (c.p > runStart && this._accumulate) this._text += str.slice(runStart, c.p);
            last = this._event(c.event(), emitEvent, emitText, iter);
            runStart = c.p;
        }
        if (c.p > runStart && this._accumulate) this._text += str.slice(runStart, c.p);
        return done ? last : null;
    }

    _event(ev, emitEvent, emitText, iter) {
        switch (ev.type) {
            case 'text':
                /* (the summary text is appended by _batchEvents) */
                if (iter === 'text') this._queue.push(ev.text);
                if (emitText) this.emit('text', ev.text, ev);
                break;
            case 'reasoning':
                if (this._accumulate) this._reasoning += ev.text;
                this.emit('reasoning', ev.text, ev);
                break;
            case 'start':
                if (ev.model !== null) this._model = ev.model;
                if (ev.id !== null) this._id = ev.id;
                this.emit('start', ev);
                break;
            case 'tool_call': {
                if (this._tools === null) this._tools = new Map();
                let t = this._tools.get(ev.index);
                if (!t) {
                    t = { index: ev.index, id: null, name: null, arguments: '' };
                    this._tools.set(ev.index, t);
                }
                if (ev.id) t.id = ev.id;
                if (ev.name) t.name = ev.name;
                if (ev.arguments) t.arguments += ev.arguments;
                this.emit('tool_call', ev);
                break;
            }
            case 'usage': {
                const u = this._usage || (this._usage = { inputTokens: null, outputTokens: null, totalTokens: null });
                if (ev.inputTokens >= 0) u.inputTokens = ev.inputTokens;
                if (ev.outputTokens >= 0) u.outputTokens = ev.outputTokens;
                if (ev.totalTokens >= 0) u.totalTokens = ev.totalTokens;
                else if (u.inputTokens !== null && u.outputTokens !== null)
                    u.totalTokens = u.inputTokens + u.outputTokens;
                this.emit('usage', u, ev);
                break;
            }
            case 'finish':
                this._finishReason = ev.reason;
                this.emit('finish', ev.reason, ev);
                break;
            case 'raw':
                this.emit('raw', ev);
                break;
            case 'progress':
                this.emit('progress', ev.text, ev);
                break;
            default:
                break;
        }
        if (emitEvent) this.emit('event', ev);
        if (iter === 'events' && ev.type !== 'end') this._queue.push(ev);
        if (this._taps !== null) for (const tap of this._taps) tap(ev);
        return ev;
    }

    _buildSummary() {
        let toolCalls = [];
        if (this._tools !== null) toolCalls = [...this._tools.values()].sort((a, b) => a.index - b.index);
        return {
            id: this._id,
            model: this._model,
            text: this._accumulate ? this._text : null,
            reasoning: this._accumulate ? this._reasoning : null,
            toolCalls,
            usage: this._usage,
            finishReason: this._finishReason,
            metrics: this._started ? binding.metrics(this) : null,
        };
    }

    _finish(terminal) {
        if (this._done) return;
        this._done = true;
        this._cleanupSignal();
        let err = null;
        if (terminal && terminal.type === 'error') err = errorFromEvent(terminal);
        if (err && err.kind === 'cancelled' && this._cancelled) err = null;
        this._summary = this._buildSummary();
        /* The server's Retry-After (seconds) on the error it came with: over the 60 s a
         * retry waits, the answer is delivered at once and the caller decides. */
        if (err instanceof HTTPError) {
            const m = this._summary.metrics;
            err.retryAfter = m && m.retryAfter > 0 ? m.retryAfter : null;
        }
        if (err) this._error = err;
        if (this._bytes) this._bytes.close();
        this._settle();
    }

    _settle() {
        const err = this._error;
        /* Someone receives the error besides 'error' listeners. */
        const consumed = this._iter !== null || this._bytes !== null || this._taps !== null ||
            this._summaryWaiters !== null;
        if (this._waiter) this._wake();
        if (this._summaryWaiters) {
            for (const w of this._summaryWaiters) err ? w.reject(err) : w.resolve(this._summary);
            this._summaryWaiters = null;
        }
        if (this._onDone) this._onDone(err);
        if (err) {
            /* Like any EventEmitter, an unhandled upstream failure throws; an abort the user
             * asked for does not. */
            if (this.listenerCount('error') > 0 || (!consumed && !this._cancelled)) this.emit('error', err);
        } else if (!this._cancelled) {
            this.emit('end', this._summary);
        }
        this.emit('close');
    }

    _cleanupSignal() {
        if (this._signal && this._onAbort) this._signal.removeEventListener('abort', this._onAbort);
        this._onAbort = null;
    }

    _abort(reason) {
        if (this._done) return;
        this._cancelled = true;
        binding.cancel(this);
        this._done = true;
        this._cleanupSignal();
        this._error = reason;
        this._summary = this._buildSummary();
        if (this._bytes) this._bytes.error(reason);
        this._settle();
    }

    /** Cancels the stream and its upstream request. Iterators then end without an error. */
    cancel() {
        if (this._done) return;
        this._cancelled = true;
        binding.cancel(this);
        this._done = true;
        this._cleanupSignal();
        this._summary = this._buildSummary();
        if (this._bytes) this._bytes.close();
        this._settle();
    }

    /** Alias of cancel(), as on Node streams. */
    abort() {
        this.cancel();
    }

    get done() {
        return this._done;
    }

    /** The summary once the stream ended, else null. */
    get summary() {
        return this._summary;
    }

    /** Resolves with the summary at the end (consuming the stream if nobody else does). */
    finalSummary() {
        if (this._done) return this._error ? Promise.reject(this._error) : Promise.resolve(this._summary);
        return new Promise((resolve, reject) => {
            (this._summaryWaiters || (this._summaryWaiters = [])).push({ resolve, reject });
            if (this._iter === null && this._bytes === null && this._taps === null) this._setFlow(FLOW_ON);
        });
    }

    /** Resolves with the whole text (consuming the stream); needs accumulate (the default). */
    async fullText() {
        if (!this._accumulate) throw new TypeError('tokenwire: fullText() needs accumulate: true (the text is not kept)');
        return (await this.finalSummary()).text;
    }

    metrics() {
        return this._started ? binding.metrics(this) : null;
    }

    [Symbol.asyncIterator]() {
        return this._iterator('events');
    }

    /** Async iterable of text deltas (strings). */
    text() {
        const it = this._iterator('text');
        return { [Symbol.asyncIterator]: () => it, next: () => it.next(), return: () => it.return() };
    }

    _iterator(kind) {
        if (this._iter !== null || this._bytes !== null)
            throw new TypeError('tokenwire: this stream is already being consumed');
        this._iter = kind;
        return new StreamIterator(this);
    }

    /* A consumer wants more: take a queued batch now (returns true once it was delivered)
     * or, if none is queued, let the next batch through as soon as it arrives (false). */
    _pull() {
        if (this._done || this._flow === FLOW_ON) return false;
        this._flow = FLOW_ONE;
        this._inPull = true;
        try {
            return binding.setFlow(this, FLOW_ONE);
        } finally {
            this._inPull = false;
        }
    }

    /* The error an iterator ends with: upstream failures and aborts, not cancel(). */
    _rejection() {
        if (!this._error) return null;
        if (!this._cancelled || (this._signal && this._signal.aborted)) return this._error;
        return null;
    }

    _wake() {
        const w = this._waiter;
        this._waiter = null;
        if (this._qpos < this._queue.length) {
            const v = this._queue[this._qpos++];
            if (this._qpos === this._queue.length) {
                this._queue = [];
                this._qpos = 0;
            }
            w.resolve({ value: v, done: false });
        } else if (this._rejection()) {
            w.reject(this._rejection());
        } else {
            w.resolve({ value: undefined, done: true });
        }
    }

    /**
     * A web ReadableStream<Uint8Array> of the stream re-encoded by the C encoders. Pulling
     * drives backpressure; cancel() cancels the upstream request.
     */
    toReadableStream(opts = {}) {
        if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
        const format = opts.format === undefined ? 'sse-openai' : opts.format;
        if (!FORMATS.has(format)) throw new TypeError(`unknown format ${JSON.stringify(format)}`);
        const hb = opts.heartbeatMs === undefined ? 15000 : opts.heartbeatMs;
        if (!(typeof hb === 'number' && hb >= 0)) throw new TypeError('heartbeatMs must be a number >= 0');
        if (this._iter !== null || this._bytes !== null || this._taps !== null)
            throw new TypeError('tokenwire: this stream is already being consumed');
        /* The dialect decides whether an event index is a choice (OpenAI n > 1, Gemini
         * candidates) or a content-block position; the C core knows which. */
        const enc = binding.encoderNew(format, opts.id, opts.model, this._dialect);
        return this._readable(enc, format, hb, null, true);
    }

    /** A web Response carrying toReadableStream(opts) with the anti-buffering headers. */
    toResponse(opts = {}) {
        const format = opts.format === undefined ? 'sse-openai' : opts.format;
        const body = this.toReadableStream(opts);
        return new Response(body, { status: opts.status || 200, headers: streamHeaders(format, opts.headers) });
    }

    _readable(enc, format, hb, source, own) {
        const self = this;
        let controller = null;
        let pending = null; /* resolve of a pull waiting for bytes */
        let timer = null;
        let closed = false;
        let delivered = false;
        const wantEvents = () => self.listenerCount('event') + self.listenerCount('text') +
            self.listenerCount('end') + self.listenerCount('error') > 0 || self._summaryWaiters !== null;
        const sink = {
            waiting() {
                return pending !== null;
            },
            enqueue(bytes) {
                if (closed) return;
                controller.enqueue(bytes);
                delivered = true;
                if (timer) timer.refresh();
                if (pending) {
                    const r = pending;
                    pending = null;
                    r();
                }
            },
            close() {
                if (closed) return;
                closed = true;
                if (timer) clearTimeout(timer);
                try {
                    controller.close();
                } catch (e) {
                    /* already closed or errored by the reader */
                }
                if (pending) {
                    const r = pending;
                    pending = null;
                    r();
                }
            },
            error(reason) {
                if (closed) return;
                closed = true;
                if (timer) clearTimeout(timer);
                try {
                    controller.error(reason);
                } catch (e) {
                    /* already closed */
                }
                if (pending) {
                    const r = pending;
                    pending = null;
                    r();
                }
            },
        };
        if (this._done) {
            /* Aborted before it started: nothing to stream. */
            return new ReadableStream({
                start(c) {
                    if (self._rejection()) c.error(self._rejection());
                    else c.close();
                },
            });
        }
        this._bytes = sink;
        binding.setOutput(this, wantEvents(), enc, source, own);
        return new ReadableStream(
            {
                start(c) {
                    controller = c;
                    if (hb > 0 && SSE_FORMATS.has(format)) {
                        timer = setTimeout(function beat() {
                            if (closed) return;
                            const b = binding.encoderHeartbeat(enc);
                            if (b.length) controller.enqueue(b);
                            timer.refresh();
                        }, hb);
                        timer.unref();
                    }
                },
                pull() {
                    if (closed || self._done) return undefined;
                    delivered = false;
                    while (self._pull()) if (delivered || closed || self._done) return undefined;
                    if (closed || delivered || self._done) return undefined;
                    return new Promise((resolve) => {
                        pending = resolve;
                    });
                },
                cancel() {
                    closed = true;
                    if (timer) clearTimeout(timer);
                    self.cancel();
                },
            },
            { highWaterMark: 0 },
        );
    }
}

class StreamIterator {
    constructor(stream) {
        this._s = stream;
    }
    next() {
        const s = this._s;
        if (s._qpos < s._queue.length) {
            const v = s._queue[s._qpos++];
            if (s._qpos === s._queue.length) {
                s._queue = [];
                s._qpos = 0;
            }
            return Promise.resolve({ value: v, done: false });
        }
        if (s._done) {
            const err = s._rejection();
            return err ? Promise.reject(err) : Promise.resolve({ value: undefined, done: true });
        }
        if (s._waiter) return Promise.reject(new TypeError('tokenwire: concurrent next() calls'));
        while (s._pull()) if (s._qpos < s._queue.length || s._done) return this.next();
        if (s._qpos < s._queue.length || s._done) return this.next();
        return new Promise((resolve, reject) => {
            s._waiter = { resolve, reject };
        });
    }
    return(value) {
        const s = this._s;
        if (!s._done) s.cancel();
        return Promise.resolve({ value, done: true });
    }
    throw(err) {
        const s = this._s;
        if (!s._done) s.cancel();
        return Promise.reject(err);
    }
    [Symbol.asyncIterator]() {
        return this;
    }
}

function abortReason(signal) {
    const r = signal.reason;
    if (r !== undefined) return r;
    return new AbortError();
}

/* ---- merge --------------------------------------------------------------------------------- */

/**
 * Merges named streams into one stream of events tagged with `source`, in arrival order,
 * framed by agent_start / agent_complete events. Cancelling it cancels every source.
 */
function merge(streams, opts = {}) {
    return new MergedStream(streams, opts);
}

class MergedStream extends EventEmitter {
    constructor(streams, opts) {
        super();
        if (streams === null || typeof streams !== 'object')
            throw new TypeError('merge expects an object of named streams');
        const entries = streams instanceof Map ? [...streams.entries()] : Object.entries(streams);
        if (entries.length === 0) throw new TypeError('merge expects at least one stream');
        for (const [name, s] of entries) {
            if (!(s instanceof Stream)) throw new TypeError(`merge: ${name} is not a tokenwire Stream`);
            if (s._iter !== null || s._bytes !== null || s._taps !== null)
                throw new TypeError(`merge: ${name} is already being consumed`);
        }
        this._entries = entries;
        this._pendingCount = entries.length;
        this._queue = [];
        this._qpos = 0;
        this._waiter = null;
        this._done = false;
        this._cancelled = false;
        this._consumer = null; /* 'events' | 'bytes' */
        this._flowScheduled = false;
        this._results = {};
        this._signal = opts.signal || null;
        if (this._signal) {
            const onAbort = () => this.cancel();
            if (this._signal.aborted) queueMicrotask(onAbort);
            else this._signal.addEventListener('abort', onAbort, { once: true });
        }
        this.on('newListener', (name) => {
            if (this._consumer !== null || this._flowScheduled || !DATA_EVENTS.has(name)) return;
            this._flowScheduled = true;
            process.nextTick(() => {
                this._flowScheduled = false;
                if (this._consumer === null) this._startEvents(true);
            });
        });
    }

    _push(ev) {
        if (this._consumer === 'events-iter') {
            this._queue.push(ev);
            if (this._waiter) this._wake();
        }
        this.emit('event', ev);
        if (ev.type === 'text') this.emit('text', ev.text, ev);
    }

    _startEvents(flowing) {
        this._consumer = flowing ? 'events-flow' : 'events-iter';
        for (const [name, s] of this._entries) {
            this._push({ type: 'agent_start', index: 0, source: name });
            s._taps = [(ev) => {
                if (ev.type === 'end') return;
                this._push({ ...ev, source: name });
            }];
            s._onDone = (err) => this._childDone(name, s, err);
            s._parentWants = () => this._wantsMore();
            if (flowing && !s._done) s._setFlow(FLOW_ON);
            if (s._done) this._childDone(name, s, s._error);
        }
    }

    _childDone(name, s, err) {
        if (this._results[name] !== undefined) return;
        this._results[name] = err ? { error: err } : { summary: s._summary };
        if (this._consumer !== 'bytes') {
            if (err && !s._cancelled) {
                const ev = { type: 'error', index: 0, kind: err.kind, status: err.status, message: err.message,
                    code: err.code, raw: err.body, source: name };
                this._push(ev);
            }
            this._push({ type: 'agent_complete', index: 0, source: name });
        }
        if (--this._pendingCount === 0) this._finishAll();
        else if (this._waiter && this._qpos < this._queue.length) this._wake();
    }

    _finishAll() {
        if (this._done) return;
        this._done = true;
        if (this._bytesSink) this._bytesSink.finish();
        if (this._waiter) this._wake();
        if (!this._cancelled) this.emit('end', this._results);
        this.emit('close');
    }

    _wake() {
        const w = this._waiter;
        this._waiter = null;
        if (this._qpos < this._queue.length) {
            const v = this._queue[this._qpos++];
            if (this._qpos === this._queue.length) {
                this._queue = [];
                this._qpos = 0;
            }
            w.resolve({ value: v, done: false });
        } else {
            w.resolve({ value: undefined, done: true });
        }
    }

    /* Pulls every live source once; true if any delivered a batch synchronously. */
    _pullAll() {
        let any = false;
        for (const [, s] of this._entries) if (!s._done && s._pull()) any = true;
        return any;
    }

    _wantsMore() {
        if (this._done) return false;
        if (this._waiter !== null && this._qpos >= this._queue.length) return true;
        return this._bytesPending !== undefined && this._bytesPending();
    }

    /** Cancels every source stream. */
    cancel() {
        if (this._done) return;
        this._cancelled = true;
        for (const [, s] of this._entries) s.cancel();
        this._finishAll();
    }

    get done() {
        return this._done;
    }

    [Symbol.asyncIterator]() {
        if (this._consumer !== null) throw new TypeError('tokenwire: this merged stream is already being consumed');
        this._startEvents(false);
        const self = this;
        return {
            next() {
                if (self._qpos < self._queue.length) {
                    const v = self._queue[self._qpos++];
                    if (self._qpos === self._queue.length) {
                        self._queue = [];
                        self._qpos = 0;
                    }
                    return Promise.resolve({ value: v, done: false });
                }
                if (self._done) return Promise.resolve({ value: undefined, done: true });
                if (self._waiter) return Promise.reject(new TypeError('tokenwire: concurrent next() calls'));
                while (self._pullAll()) if (self._qpos < self._queue.length || self._done) return this.next();
                if (self._qpos < self._queue.length || self._done) return this.next();
                return new Promise((resolve, reject) => {
                    self._waiter = { resolve, reject };
                });
            },
            return(value) {
                self.cancel();
                return Promise.resolve({ value, done: true });
            },
            [Symbol.asyncIterator]() {
                return this;
            },
        };
    }

    /** Web ReadableStream of the merged events, encoded in C (default format 'events'). */
    toReadableStream(opts = {}) {
        if (this._consumer !== null) throw new TypeError('tokenwire: this merged stream is already being consumed');
        const format = opts.format === undefined ? 'events' : opts.format;
        if (!FORMATS.has(format)) throw new TypeError(`unknown format ${JSON.stringify(format)}`);
        const hb = opts.heartbeatMs === undefined ? 15000 : opts.heartbeatMs;
        this._consumer = 'bytes';
        const enc = binding.encoderNew(format, opts.id, opts.model);
        const self = this;
        let controller = null;
        let pending = null;
        let timer = null;
        let closed = false;
        const release = () => {
            if (pending) {
                const r = pending;
                pending = null;
                r();
            }
        };
        let delivered = false;
        const enqueue = (b) => {
            if (closed || !b || b.length === 0) return;
            controller.enqueue(b);
            delivered = true;
            if (timer) timer.refresh();
            release();
        };
        this._bytesPending = () => pending !== null;
        this._bytesSink = {
            finish() {
                if (closed) return;
                if (!self._cancelled) enqueue(binding.encoderFinish(enc));
                closed = true;
                if (timer) clearTimeout(timer);
                try {
                    controller.close();
                } catch (e) {
                    /* the reader went away */
                }
                release();
            },
        };
        return new ReadableStream(
            {
                start(c) {
                    controller = c;
                    for (const [name, s] of self._entries) {
                        enqueue(binding.encoderEncode(enc, { type: 'agent_start', source: name }));
                        s._bytes = {
                            waiting: () => false,
                            enqueue,
                            close() {},
                            error() {},
                        };
                        /* The encoder closes each agent itself (agent_complete on its end
                         * event, or at encoderFinish for one that failed). */
                        s._onDone = (err) => self._childDone(name, s, err);
                        s._parentWants = () => self._wantsMore();
                        binding.setOutput(s, false, enc, name, false);
                        if (s._done) s._onDone(s._error);
                    }
                    if (hb > 0 && SSE_FORMATS.has(format)) {
                        timer = setTimeout(() => {
                            if (closed) return;
                            enqueue(binding.encoderHeartbeat(enc));
                            timer.refresh();
                        }, hb);
                        timer.unref();
                    }
                },
                pull() {
                    if (closed) return undefined;
                    delivered = false;
                    while (self._pullAll()) if (delivered || closed || self._done) return undefined;
                    if (closed || delivered || self._done) return undefined;
                    return new Promise((resolve) => {
                        pending = resolve;
                    });
                },
                cancel() {
                    closed = true;
                    if (timer) clearTimeout(timer);
                    self.cancel();
                },
            },
            { highWaterMark: 0 },
        );
    }

    toResponse(opts = {}) {
        const format = opts.format === undefined ? 'events' : opts.format;
        return new Response(this.toReadableStream(opts), {
            status: opts.status || 200,
            headers: streamHeaders(format, opts.headers),
        });
    }
}

/* ---- client -------------------------------------------------------------------------------- */

const DIALECTS = new Set(['openai', 'openai-responses', 'anthropic', 'gemini', 'ollama', 'sse', 'ndjson']);

/* Invalid arguments throw TypeErrors carrying Node's codes, the same convention as the addon
 * (whose request checks, e.g. a CR or LF in a header, throw code ERR_INVALID_ARG_VALUE). */
function argError(message, code = 'ERR_INVALID_ARG_VALUE') {
    const e = new TypeError(message);
    e.code = code;
    return e;
}

function secondsFromMs(v, name) {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number') throw argError(`${name} must be a number of milliseconds >= 0`, 'ERR_INVALID_ARG_TYPE');
    if (!(v >= 0)) throw argError(`${name} must be a number of milliseconds >= 0`);
    return v / 1000;
}

function boolOption(v, name) {
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw argError(`${name} must be a boolean`, 'ERR_INVALID_ARG_TYPE');
    return v;
}

function timeoutFields(timeout, out) {
    if (timeout === undefined || timeout === null) return;
    if (typeof timeout === 'number') {
        out.idleTimeout = secondsFromMs(timeout, 'timeout');
        return;
    }
    if (typeof timeout !== 'object') throw argError('timeout must be a number or an object', 'ERR_INVALID_ARG_TYPE');
    const map = { connect: 'connectTimeout', firstByte: 'firstByteTimeout', idle: 'idleTimeout',
        event: 'eventTimeout', total: 'totalTimeout', paused: 'pausedTimeout' };
    for (const k of Object.keys(timeout)) {
        if (!(k in map)) throw argError(`unknown timeout field ${JSON.stringify(k)}`);
        out[map[k]] = secondsFromMs(timeout[k], 'timeout.' + k);
    }
}

function headerList(h, name) {
    const out = [];
    if (h === undefined || h === null) return out;
    const entries = h instanceof Headers || h instanceof Map ? [...h.entries()] : Array.isArray(h) ? h : Object.entries(h);
    /* Only what joining "Name: value" would hide is checked here (an empty name, a colon in
     * it); the characters of names and values (RFC 9110 tokens, no CR, LF, NUL or other
     * control characters) are checked by the core when the request starts, for every
     * header alike: the user's, the API key's and the defaults. */
    for (const [k, v] of entries) {
        if (typeof k !== 'string') throw argError(`${name}: a header name must be a string`, 'ERR_INVALID_ARG_TYPE');
        if (k.length === 0 || k.includes(':'))
            throw argError(`${name}: invalid header name ${JSON.stringify(k)} (empty or with a colon)`);
        if (v === undefined || v === null) continue;
        out.push(k + ': ' + String(v));
    }
    return out;
}

class Client {
    constructor(opts = {}) {
        if (opts === null || typeof opts !== 'object') throw argError('Client options must be an object', 'ERR_INVALID_ARG_TYPE');
        const { baseURL, apiKey, headers, dialect = 'openai', timeout, maxRetries, retrySent, http2, verifyPeer,
            caFile, maxEventSize, accumulate } = opts;
        if (typeof baseURL !== 'string' || !/^https?:\/\//i.test(baseURL))
            throw argError('baseURL must be an http:// or https:// URL string');
        if (!DIALECTS.has(dialect)) throw argError(`unknown dialect ${JSON.stringify(dialect)}`);
        if (apiKey !== undefined && apiKey !== null && typeof apiKey !== 'string')
            throw argError('apiKey must be a string', 'ERR_INVALID_ARG_TYPE');
        if (maxRetries !== undefined && !(Number.isInteger(maxRetries) && maxRetries >= 0))
            throw argError('maxRetries must be an integer >= 0');
        if (caFile !== undefined && typeof caFile !== 'string') throw argError('caFile must be a string', 'ERR_INVALID_ARG_TYPE');
        this.baseURL = baseURL.replace(/\/+$/, '');
        this.apiKey = apiKey || null;
        this.dialect = dialect;
        this._headers = headerList(headers, 'headers');
        this._base = {};
        timeoutFields(timeout, this._base);
        if (maxRetries !== undefined) this._base.maxRetries = maxRetries;
        if (boolOption(retrySent, 'retrySent') !== undefined) this._base.retrySent = retrySent;
        this._accumulate = boolOption(accumulate, 'accumulate') !== false;
        if (http2 !== undefined) this._base.http2 = !!http2;
        if (verifyPeer !== undefined) this._base.verifyPeer = !!verifyPeer;
        if (caFile !== undefined) this._base.caFile = caFile;
        if (maxEventSize !== undefined) this._base.maxEventSize = maxEventSize;
    }

    _authHeaders(dialect, given) {
        const has = (name) => given.some((h) => h.toLowerCase().startsWith(name + ':'));
        const out = [];
        if (this.apiKey) {
            if (dialect === 'anthropic') {
                if (!has('x-api-key')) out.push('x-api-key: ' + this.apiKey);
            } else if (dialect === 'gemini') {
                if (!has('x-goog-api-key')) out.push('x-goog-api-key: ' + this.apiKey);
            } else if (!has('authorization')) {
                out.push('Authorization: Bearer ' + this.apiKey);
            }
        }
        if (dialect === 'anthropic' && !has('anthropic-version')) out.push('anthropic-version: 2023-06-01');
        return out;
    }

    /**
     * Starts a streaming request. path is appended to baseURL (an absolute URL is used as is).
     * @returns {Stream}
     */
    stream(pathOrUrl, opts = {}) {
        if (typeof pathOrUrl !== 'string') throw argError('path must be a string', 'ERR_INVALID_ARG_TYPE');
        if (opts === null || typeof opts !== 'object') throw argError('options must be an object', 'ERR_INVALID_ARG_TYPE');
        const { method = 'POST', json, body, headers, signal, dialect = this.dialect, timeout, query, retrySent,
            accumulate = this._accumulate } = opts;
        if (typeof method !== 'string') throw argError('method must be a string', 'ERR_INVALID_ARG_TYPE');
        boolOption(retrySent, 'retrySent');
        boolOption(accumulate, 'accumulate');
        if (!DIALECTS.has(dialect)) throw argError(`unknown dialect ${JSON.stringify(dialect)}`);
        if (json !== undefined && body !== undefined) throw argError('pass either json or body, not both');
        if (signal !== undefined && signal !== null && !(typeof signal === 'object' && 'aborted' in signal))
            throw argError('signal must be an AbortSignal', 'ERR_INVALID_ARG_TYPE');
        let url = /^https?:\/\//i.test(pathOrUrl) ? pathOrUrl
            : this.baseURL + (pathOrUrl.startsWith('/') ? '' : '/') + pathOrUrl;
        if (query !== undefined && query !== null) {
            const qs = new URLSearchParams(query).toString();
            if (qs) url += (url.includes('?') ? '&' : '?') + qs;
        }
        const given = this._headers.concat(headerList(headers, 'headers'));
        /* 'post' means POST; any other method goes as given, and the core refuses one that is
         * not an RFC 9110 token (so a non-ASCII one is never folded into ASCII here). */
        const req = { url, method: /^[a-z]+$/i.test(method) ? method.toUpperCase() : method, dialect, ...this._base };
        if (retrySent !== undefined) req.retrySent = retrySent;
        if (json !== undefined) {
            req.body = JSON.stringify(json);
            if (!given.some((h) => h.toLowerCase().startsWith('content-type:'))) given.push('Content-Type: application/json');
        } else if (body !== undefined && body !== null) {
            checkBytes(body, 'body');
            req.body = body;
        }
        if (!given.some((h) => h.toLowerCase().startsWith('accept:')))
            given.push(dialect === 'ollama' || dialect === 'ndjson' ? 'Accept: application/x-ndjson' : 'Accept: text/event-stream');
        req.headers = given.concat(this._authHeaders(dialect, given));
        timeoutFields(timeout, req);
        return new Stream(req, { signal: signal || null, accumulate });
    }

    /** Opens a connection to baseURL ahead of the first request (DNS + TCP + TLS). */
    prewarm() {
        binding.prewarm(this.baseURL + '/');
    }
}

/** Engine settings; must be called before the first stream of this thread. */
function configure(opts = {}) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
    return binding.configure(opts);
}

/** Engine counters of this thread's engine. */
function stats() {
    return binding.stats();
}

module.exports = {
    version: binding.version,
    SSEParser,
    Decoder,
    Client,
    Stream,
    MergedStream,
    merge,
    streamHeaders,
    configure,
    stats,
    TokenwireError,
    HTTPError,
    TimeoutError,
    ProtocolError,
    ProviderError,
    ConnectionError,
    AbortError,
    _binding: binding,
};
