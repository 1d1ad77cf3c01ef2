'use strict';
/*
 * merge(): several named streams as one, in arrival order. The framing is the core's
 * (tw_merge.h, the same for Python): one tw_framer per merge, and every source event goes
 * through it in C where the batch is unpacked (binding.c deliver), so this file only forwards
 * what C framed: agent_start just before a source's first event, its events tagged with
 * `source`, its terminal error (once; its END is not forwarded), agent_complete right after.
 * Consumed as events (listeners or one iterator) or as bytes (one ReadableStream through one
 * shared C encoder, 'events' format by default). A source that fails does not end the merge;
 * it ends when every source did. Cancelling the merge cancels every source. The results
 * (each source's summary or error) come with 'end'.
 */
const { EventEmitter } = require('events');
const { binding } = require('./binding');
const { Stream, FLOW_ON } = require('./stream');
const { checkFormat, streamHeaders, heartbeatOption, byteStream, eventIdsOption, newEncoder, markIds } = require('./relay');
const { Cursor } = require('./events');

const EVENT_LISTENERS = new Set(['event', 'text', 'end']);

/**
 * Merges named streams into one stream of events tagged with `source`, in arrival order,
 * framed by agent_start / agent_complete events. Cancelling it cancels every source.
 */
function merge(streams, opts = {}) {
    return new MergedStream(streams, opts);
}

class MergedStream extends EventEmitter {
    constructor(streams, opts = {}) {
        super();
        if (streams === null || typeof streams !== 'object')
            throw new TypeError('merge expects an object of named streams');
        const entries = streams instanceof Map ? [...streams.entries()] : Object.entries(streams);
        if (entries.length === 0) throw new TypeError('merge expects at least one stream');
        for (const [name, s] of entries) {
            if (!(s instanceof Stream)) throw new TypeError(`merge: ${name} is not a tokenwire Stream`);
            if (s._consumed()) throw new TypeError(`merge: ${name} is already being consumed`);
        }
        this._entries = entries;
        this._pendingCount = entries.length;
        this._queue = [];
        this._qpos = 0;
        this._waiter = null;
        this._done = false;
        this._cancelled = false;
        this._consumer = null; /* 'events-flow' | 'events-iter' | 'bytes' */
        this._flowScheduled = false;
        this._results = {};
        this._bytesSink = null;
        this._framer = binding.framerNew(entries.length);
        this.streamId = null; /* toReadableStream({ eventIds }): the event ids' stream id */
        this._signal = opts.signal || null;
        if (this._signal) {
            const onAbort = () => this.cancel();
            if (this._signal.aborted) queueMicrotask(onAbort);
            else this._signal.addEventListener('abort', onAbort, { once: true });
        }
        this.on('newListener', (name) => {
            if (this._consumer !== null || this._flowScheduled || !EVENT_LISTENERS.has(name)) return;
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
        this._entries.forEach(([name, s], i) => {
            s._frameSink = (str, meta) => {
                const c = new Cursor(str, meta);
                /* Every framed event of a batch is this source's; the records carry the
                 * source only on agent_start / agent_complete, so it is put back here. */
                while (c.i < meta.length && !this._done) {
                    const ev = c.event();
                    if (ev.source === undefined) ev.source = name;
                    this._push(ev);
                }
            };
            s._onDone = (err) => this._childDone(name, s, err);
            s._parentWants = () => this._wantsMore();
            s._wantEvents = s._listensForEvents();
            if (!s._done) binding.setOutput(s, s._wantEvents, null, name, false, this._framer, i, true);
            if (flowing && !s._done) s._setFlow(FLOW_ON);
            if (s._done) this._childDone(name, s, s._error);
        });
    }

    _childDone(name, s, err) {
        if (this._results[name] !== undefined) return;
        this._results[name] = err ? { error: err } : { summary: s._summary };
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
        else w.resolve({ value: undefined, done: true });
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
        return this._bytesSink !== null && this._bytesSink.waiting();
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
                if (self._qpos < self._queue.length) return Promise.resolve({ value: self._shift(), done: false });
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
        if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
        if (this._consumer !== null) throw new TypeError('tokenwire: this merged stream is already being consumed');
        const format = checkFormat(opts.format === undefined ? 'events' : opts.format);
        const hb = heartbeatOption(opts);
        this._consumer = 'bytes';
        const ids = eventIdsOption(opts.eventIds);
        const enc = newEncoder(format, opts, undefined, ids);
        this.streamId = ids ? ids.prefix : null;
        const { stream } = byteStream(enc, format, hb, {
            start: (sink) => this._encodeInto(enc, sink, () => sink.close()),
            more: () => this._pullAll(),
            done: () => this._done,
            cancel: () => this.cancel(),
        });
        return markIds(stream, enc, ids);
    }

    /* Sends every source's events through the merge's framer into the shared encoder enc, in
     * C; out ({ waiting(), enqueue(bytes) }) receives the bytes, and ended() is called once
     * when every source ended (after enc's finish bytes) or the merge was cancelled. Used by
     * toReadableStream and by tw.Relay's phases. A source cancelled on its own is closed by
     * encoderFinish. */
    _encodeInto(enc, out, ended) {
        this._consumer = 'bytes';
        const self = this;
        this._bytesSink = {
            waiting: () => out.waiting(),
            finish() {
                if (!self._cancelled) out.enqueue(binding.encoderFinish(enc));
                ended();
            },
        };
        this._entries.forEach(([name, s], i) => {
            s._bytes = { waiting: () => false, enqueue: (b) => out.enqueue(b), close() {}, error() {} };
            s._onDone = (err) => self._childDone(name, s, err);
            s._parentWants = () => self._wantsMore();
            s._wantEvents = s._listensForEvents();
            if (!s._done) binding.setOutput(s, s._wantEvents, enc, name, false, self._framer, i, false);
            if (s._done) s._onDone(s._error);
        });
    }

    toResponse(opts = {}) {
        const format = opts.format === undefined ? 'events' : opts.format;
        return new Response(this.toReadableStream(opts), {
            status: opts.status || 200,
            headers: streamHeaders(format, opts.headers),
        });
    }
}

module.exports = { merge, MergedStream };
