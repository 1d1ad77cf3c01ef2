'use strict';
/*
 * Stream: one streaming response. The addon hands it each batch of its events (packed, see
 * events.js) and/or the batch encoded to bytes; this file feeds them to the consumers:
 * listeners (EventEmitter, flowing), one iterator (events or text deltas, one batch per pull),
 * or one ReadableStream (bytes, one batch per pull). Listeners observe whatever consumes the
 * stream. How the stream ended and what it said (the summary) come from the core: the last
 * event of the last batch is the terminal one, and the summary is tw_stream_summary's.
 */
const { EventEmitter } = require('events');
const { binding } = require('./binding');
const { Cursor, T_TEXT } = require('./events');
const { AbortError, HTTPError, errorFromEvent } = require('./errors');
const { checkFormat, streamHeaders, heartbeatOption, byteStream, eventIdsOption, newEncoder, markIds } = require('./relay');

/* One dispatch function for every stream of this environment: C calls it once per stream
 * per wakeup with the stream's whole batch. */
binding.init(function dispatch(stream, str, meta, bytes, done, fstr, fmeta) {
    stream._onBatch(str, meta, bytes, done, fstr, fmeta);
});

const FLOW_PAUSED = 0, FLOW_ONE = 1, FLOW_ON = 2;
/* Listeners that want event objects or text. */
const EVENT_LISTENERS = new Set(['start', 'text', 'reasoning', 'tool_call', 'usage', 'finish', 'event', 'raw',
    'progress']);

function abortReason(signal) {
    const r = signal.reason;
    if (r !== undefined) return r;
    return new AbortError();
}

class Stream extends EventEmitter {
    /**
     * Made by Client.stream(). request: the addon's request object (url, method, headers,
     * apiKey, auth, query, timeouts...); opts: {signal}.
     */
    constructor(request, opts = {}) {
        super();
        this._dialect = request.dialect; /* tells the encoder what an event index means */
        this._accumulate = request.accumulate !== false;
        this._done = false;
        this._error = null;
        this._summary = null;
        this._terminal = null;   /* the terminal event (end or error) */
        this._cancelled = false;
        this._started = false;
        /* consumers */
        this._flow = FLOW_PAUSED;
        this._flowScheduled = false;
        this._iter = null;       /* 'events' | 'text' while an iterator is attached */
        this._queue = [];
        this._qpos = 0;
        this._waiter = null;     /* pending iterator next() */
        this._bytes = null;      /* byte sink of a ReadableStream: {waiting, enqueue, close, error} */
        this._wantEvents = true; /* with a byte sink: whether the addon sends event records too */
        this._frameSink = null;  /* merge: receives the batch's framed events (packed, tw_merge.h) */
        this.streamId = null;    /* toReadableStream({ eventIds }): the event ids' stream id */
        this._onDone = null;     /* merge: called once when the stream ends */
        this._summaryWaiters = null;
        this._inPull = false;
        this._parentWants = null; /* merge: does the merged consumer want more? */

        this._signal = opts.signal || null;
        this._onAbort = null;
        if (this._signal) {
            if (this._signal.aborted) {
                this._error = abortReason(this._signal);
                this._done = true;
                this._cancelled = true;
                this._summary = this._buildSummary();
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

    _consumed() {
        return this._iter !== null || this._bytes !== null || this._frameSink !== null;
    }

    _newListener(name) {
        if (!EVENT_LISTENERS.has(name) && name !== 'end') return;
        /* A relay with no listener so far gets bytes only; now events are wanted too. */
        if (EVENT_LISTENERS.has(name) && (this._bytes !== null || this._frameSink !== null) && !this._wantEvents) {
            this._wantEvents = true;
            if (!this._done) binding.wantEvents(this, true);
        }
        /* Listeners observe an iterator, a ReadableStream or a merge; alone, they consume. */
        if (this._flow === FLOW_ON || this._flowScheduled || this._consumed()) return;
        /* Listeners are added right after this hook; start flowing once they are in place. */
        this._flowScheduled = true;
        process.nextTick(() => {
            this._flowScheduled = false;
            if (!this._consumed()) this._setFlow(FLOW_ON);
        });
    }

    _listensForEvents() {
        for (const name of EVENT_LISTENERS) if (this.listenerCount(name) > 0) return true;
        return false;
    }

    _setFlow(mode) {
        if (this._done) return;
        if (this._flow === FLOW_ON && mode !== FLOW_ON) return;
        this._flow = mode;
        binding.setFlow(this, mode);
    }

    /* C -> JS: one batch (packed events and/or encoded bytes, and for a merged stream the
     * framed events); done: it holds the terminal event, last. */
    _onBatch(str, meta, bytes, done, fstr, fmeta) {
        if (this._done) return;
        if (bytes !== undefined && this._bytes) this._bytes.enqueue(bytes);
        if (fmeta !== undefined && this._frameSink !== null) {
            this._frameSink(fstr, fmeta);
            /* A merge listener may have cancelled everything. */
            if (this._done) return;
        }
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

    /* Walks the packed records: feeds listeners / iterators / taps. Text records, the bulk of
     * a stream, skip the event object unless someone wants it. Returns the terminal event
     * when the batch is the last one. */
    _batchEvents(str, meta, done) {
        const emitEvent = this.listenerCount('event') > 0;
        const emitText = this.listenerCount('text') > 0;
        const iter = this._iter;
        const objects = emitEvent || iter === 'events';
        const c = new Cursor(str, meta);
        const n = meta.length;
        let last = null;
        /* A listener may cancel or abort the stream mid-batch: nothing is delivered after. */
        while (c.i < n && !this._done) {
            if (meta[c.i] === T_TEXT && !objects) {
                const t = c.text(iter === 'text' || emitText);
                last = null;
                if (iter === 'text') this._queue.push(t);
                if (emitText) this.emit('text', t);
                continue;
            }
            const ev = c.event();
            last = this._event(ev, emitEvent, emitText, iter, done && c.i >= n);
        }
        return done ? last : null;
    }

    _event(ev, emitEvent, emitText, iter, terminal) {
        switch (ev.type) {
            case 'text':
                if (iter === 'text') this._queue.push(ev.text);
                if (emitText) this.emit('text', ev.text, ev);
                break;
            case 'reasoning':
                this.emit('reasoning', ev.text, ev);
                break;
            case 'start':
                this.emit('start', ev);
                break;
            case 'tool_call':
                this.emit('tool_call', ev);
                break;
            case 'usage':
                this.emit('usage', ev);
                break;
            case 'finish':
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
        /* The iterator ends with done (end) or by throwing (a terminal error): the terminal
         * event itself is not one of its values. A recoverable error is. */
        if (iter === 'events' && !terminal) this._queue.push(ev);
        return ev;
    }

    /* The core's summary (tw_stream_summary, snapshot at the terminal event; its keys are
     * tw_summary_to_json's in camelCase, see node/src/summary.c) plus metrics. */
    _buildSummary() {
        const summary = this._started ? binding.summary(this) : binding.summary(undefined, this._accumulate);
        summary.metrics = this._started ? binding.metrics(this) : null;
        return summary;
    }

    _finish(terminal) {
        if (this._done) return;
        this._done = true;
        this._terminal = terminal;
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
        const consumed = this._consumed() || this._summaryWaiters !== null;
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
            if (!this._consumed()) this._setFlow(FLOW_ON);
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

    _shift() {
        const v = this._queue[this._qpos++];
        if (this._qpos === this._queue.length) {
            this._queue = [];
            this._qpos = 0;
        }
        return v;
    }

    _wake() {
        const w = this._waiter;
        this._waiter = null;
        if (this._qpos < this._queue.length) w.resolve({ value: this._shift(), done: false });
        else if (this._rejection()) w.reject(this._rejection());
        else w.resolve({ value: undefined, done: true });
    }

    /**
     * A web ReadableStream<Uint8Array> of the stream re-encoded by the C encoders. Pulling
     * drives backpressure; cancel() cancels the upstream request.
     */
    toReadableStream(opts = {}) {
        if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
        const format = checkFormat(opts.format === undefined ? 'openai' : opts.format);
        const hb = heartbeatOption(opts);
        if (this._consumed()) throw new TypeError('tokenwire: this stream is already being consumed');
        /* The dialect decides whether an event index is a choice (OpenAI n > 1, Gemini
         * candidates) or a content-block position; the C core knows which. */
        /* tee: a RedisTee (node/lib/resume.js): ids on, each batch appended to Redis from C. */
        const ids = eventIdsOption(opts.tee && !opts.eventIds ? true : opts.eventIds);
        const enc = newEncoder(format, opts, this._dialect, ids);
        const tee = opts.tee ? opts.tee._link(this, enc, ids.prefix, opts.detach) : null;
        this.streamId = ids ? ids.prefix : null;
        return markIds(this._readable(enc, format, hb, null, true, tee), enc, ids);
    }

    /** A web Response carrying toReadableStream(opts) with the anti-buffering headers. */
    toResponse(opts = {}) {
        const format = opts.format === undefined ? 'openai' : opts.format;
        const body = this.toReadableStream(opts);
        return new Response(body, { status: opts.status || 200, headers: streamHeaders(format, opts.headers) });
    }

    /* tw.Relay's phases: this stream's batches encoded into enc, in C (enc is finished by
     * this stream at its end, which in phases mode ends its phase only); out ({ waiting(),
     * enqueue(bytes) }) receives the bytes; ended() is called once when the stream ended,
     * failed or was cancelled. */
    _encodeInto(enc, out, ended) {
        this._bytes = { waiting: () => out.waiting(), enqueue: (b) => out.enqueue(b), close: ended, error: ended };
        this._wantEvents = this._listensForEvents();
        binding.setOutput(this, this._wantEvents, enc, null, true);
    }

    _readable(enc, format, hb, source, own, tee) {
        if (this._done) {
            /* Aborted before it started: nothing to stream. */
            const self = this;
            return new ReadableStream({
                start(c) {
                    if (self._rejection()) c.error(self._rejection());
                    else c.close();
                },
            });
        }
        const { stream, sink } = byteStream(enc, format, hb, {
            more: () => this._pull(),
            done: () => this._done,
            cancel: () => {
                /* A detached teed relay outlives its reader: bytes then go to Redis only. */
                if (tee && tee.readerGone()) {
                    this._bytes = null;
                    this._setFlow(FLOW_ON);
                } else this.cancel();
            },
        });
        this._bytes = sink;
        this._wantEvents = this._listensForEvents();
        binding.setOutput(this, this._wantEvents, enc, source, own);
        return stream;
    }
}

class StreamIterator {
    constructor(stream) {
        this._s = stream;
    }
    next() {
        const s = this._s;
        if (s._qpos < s._queue.length) return Promise.resolve({ value: s._shift(), done: false });
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

module.exports = { Stream, FLOW_ON };
