'use strict';
/*
 * tw.Relay: one streamed response made of app events and phases (sources relayed one after
 * the other), as tokenwire.fastapi.Relay in Python. One core encoder in phases mode
 * (tw_encoder_opts.phases) writes all of it: app events (send, progress), each source's
 * batches (encoded in C per batch, as toReadableStream), each source's end closing only its
 * phase (an agent, an AI SDK step), and close()'s one end of the response. Event ids continue
 * across phases.
 *
 * Order: JS runs between the addon's batches, so an app event sent while a phase streams is
 * encoded at once, after the batches already written: bytes and event ids stay in one order.
 */
const { binding } = require('./binding');
const { Stream } = require('./stream');
const { MergedStream } = require('./merge');
const { checkFormat, streamHeaders, heartbeatOption, byteStream, eventIdsOption, markIds } = require('./relay');
const { makeEncoder, payloadJSON, finalEvent } = require('./encoder');
const { AbortError, TokenwireError } = require('./errors');

/** send / progress / pipe / close after close(), or after the reader went away. */
class RelayClosedError extends TokenwireError {
    constructor(message) {
        super(message, { kind: 'closed' });
    }
}
Object.defineProperty(RelayClosedError.prototype, 'name', { value: 'RelayClosedError', writable: true, configurable: true });

/* Sources a relay took (queued phases included): a second pipe() of one is a TypeError. */
const TAKEN = new WeakSet();

function consumed(source) {
    if (TAKEN.has(source)) return true;
    return source instanceof Stream ? source._consumed() : source._consumer !== null;
}

class Relay {
    /**
     * opts: { format ('events' default, any built-in name or { template }), eventIds (as for
     * toReadableStream), constants (a template's values for this relay), id, model,
     * heartbeatMs (keep-alive comments after that much silence, SSE framing; 0: none;
     * default 15000) }. Bad options throw a TypeError.
     */
    constructor(opts = {}) {
        if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
        if (opts.heartbeat !== undefined)
            throw new TypeError('tokenwire: Relay takes heartbeatMs (milliseconds), not heartbeat');
        this.format = checkFormat(opts.format === undefined ? 'events' : opts.format);
        this._hb = heartbeatOption(opts);
        const ids = eventIdsOption(opts.eventIds);
        this._ids = ids;
        /** The event ids' stream id (null without eventIds). */
        this.streamId = ids ? ids.prefix : null;
        this._enc = makeEncoder(this.format, opts, undefined, ids, false, true);
        this._pending = []; /* bytes written before the output exists */
        this._sink = null; /* the output's sink (byteStream) once toReadableStream() ran */
        this._phases = []; /* queued { source, resolve, reject } */
        this._current = null; /* the phase streaming now */
        this._idle = []; /* close() calls waiting for the phases to end */
        this._ended = false; /* the end was encoded */
        this._gone = false; /* the reader went away */
    }

    /** true once close() wrote the end or the reader went away. */
    get closed() {
        return this._ended || this._gone;
    }

    /** The seq the next event id carries (null without eventIds). */
    get nextEventSeq() {
        return this._ids ? binding.encoderNextEventSeq(this._enc) : null;
    }

    /** The response headers of the format, from the core ({ 'content-type': ..., ... }). */
    get headers() {
        const list = binding.encoderHeaders(this._enc);
        const h = {};
        for (let i = 0; i < list.length; i += 2) h[list[i]] = list[i + 1];
        return h;
    }

    _checkOpen(what) {
        if (this._gone) throw new RelayClosedError(`tokenwire: ${what}: the reader went away, the relay is over`);
        if (this._ended) throw new RelayClosedError(`tokenwire: ${what}: the relay is closed`);
    }

    /**
     * An app event now (a status before any upstream exists...): payload is JSON.stringify'd;
     * TypeError for a bad name or a payload JSON cannot carry, RelayClosedError after close().
     */
    send(name, payload = null) {
        this._checkOpen('send');
        this._emit(binding.encoderSend(this._enc, name, payloadJSON('send', payload)));
    }

    /** The app event "progress" { progress: value (0-1), status }; TypeError outside [0, 1]. */
    progress(value, status = null) {
        this._checkOpen('progress');
        if (typeof value !== 'number') throw new TypeError('tokenwire: progress: a number in [0, 1]');
        if (status !== null && status !== undefined && typeof status !== 'string')
            throw new TypeError('tokenwire: progress: status must be a string');
        this._emit(binding.encoderProgress(this._enc, value, status));
    }

    /**
     * Relays source (a Stream or merge()) as one phase, after the phases queued before it.
     * Resolves when it ended: a Stream's summary, a merge's results. Rejects with the
     * stream's error when it failed (the format already wrote it), with AbortError when the
     * reader went away (the upstream is cancelled). TypeError for a non-source or one already
     * consumed.
     */
    pipe(source) {
        this._checkOpen('pipe');
        if (!(source instanceof Stream) && !(source instanceof MergedStream))
            throw new TypeError('tokenwire: a relay\'s source is a Stream or merge()');
        if (consumed(source)) throw new TypeError('tokenwire: this stream is already being consumed');
        TAKEN.add(source);
        return new Promise((resolve, reject) => {
            this._phases.push({ source, resolve, reject });
            this._next();
        });
    }

    /**
     * Ends the relay once every phase ended: final = [name, payload] is the app's final event
     * (in place of the format's own end), none the format's end. A bad final rejects with a
     * TypeError and the relay stays open; RelayClosedError when already closed.
     */
    async close(final) {
        this._checkOpen('close');
        const [name, json] = finalEvent(final);
        while (this._current !== null || this._phases.length > 0)
            await new Promise((resolve, reject) => this._idle.push({ resolve, reject }));
        this._checkOpen('close');
        const bytes = binding.encoderClose(this._enc, name, json);
        this._ended = true;
        this._emit(bytes);
        if (this._sink) this._sink.close();
    }

    /**
     * The web ReadableStream<Uint8Array> of the relay (once per relay): what was written so
     * far, then the rest as it comes; cancelling it (the browser went away) cancels the
     * current upstream and rejects the pending pipe() calls with AbortError.
     */
    toReadableStream() {
        if (this._sink !== null || this._gone) throw new TypeError('tokenwire: one response per relay');
        const { stream } = byteStream(this._enc, this.format, this._hb, {
            start: (sink) => {
                this._sink = sink;
                for (const b of this._pending) sink.enqueue(b);
                this._pending = [];
                if (this._ended) sink.close();
            },
            more: () => this._more(),
            done: () => this._ended,
            cancel: () => this._readerGone(),
        });
        return markIds(stream, this._enc, this._ids);
    }

    /** A web Response of toReadableStream() with the format's headers (from the core). */
    toResponse(opts = {}) {
        return new Response(this.toReadableStream(), {
            status: opts.status || 200,
            headers: streamHeaders(this.format, opts.headers),
        });
    }

    _emit(bytes) {
        if (!bytes || bytes.length === 0) return;
        if (this._sink) this._sink.enqueue(bytes);
        else this._pending.push(bytes);
    }

    /* The output wants bytes: pull the phase's source; true when it delivered a batch. */
    _more() {
        const p = this._current;
        if (p === null || p.ended) return false;
        return p.source instanceof Stream ? p.source._pull() : p.source._pullAll();
    }

    /* Starts the next queued phase when none streams. */
    _next() {
        if (this._current !== null || this._phases.length === 0 || this._gone) return;
        const p = this._phases.shift();
        p.ended = false;
        this._current = p;
        const out = {
            waiting: () => this._sink !== null && this._sink.waiting(),
            enqueue: (b) => this._emit(b),
        };
        const ended = () => this._phaseEnded(p);
        const src = p.source;
        if (src instanceof Stream && src._done) ended(); /* aborted before it was piped */
        else src._encodeInto(this._enc, out, ended);
        /* A read already waiting gets the new source's first batch. */
        while (!p.ended && out.waiting() && this._more()) {}
    }

    _phaseEnded(p) {
        if (p.ended) return;
        p.ended = true;
        this._current = null;
        const src = p.source;
        if (this._gone) p.reject(new AbortError('tokenwire: the relay\'s reader went away'));
        else if (src instanceof Stream && src._rejection()) p.reject(src._rejection());
        else p.resolve(src instanceof Stream ? src.summary : src._results);
        /* The next phase starts outside the addon's dispatch of this one. */
        process.nextTick(() => {
            this._next();
            if (this._current === null && this._phases.length === 0) {
                const idle = this._idle;
                this._idle = [];
                for (const w of idle) w.resolve();
            }
        });
    }

    /* The output was cancelled: the upstreams stop now and the app's waits reject. */
    _readerGone() {
        if (this._ended || this._gone) return;
        this._gone = true;
        const queued = this._phases;
        this._phases = [];
        for (const p of queued) {
            p.source.cancel();
            p.reject(new AbortError('tokenwire: the relay\'s reader went away'));
        }
        if (this._current !== null) this._current.source.cancel(); /* rejects its pipe() */
        const idle = this._idle;
        this._idle = [];
        for (const w of idle) w.reject(new AbortError('tokenwire: the relay\'s reader went away'));
    }
}

module.exports = { Relay, RelayClosedError };
