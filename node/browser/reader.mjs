/*
 * tokenwire/browser: reads a tokenwire relay ("events", "ndjson" or "text" format) from a
 * fetch body, in browsers and in Node >= 18. Pure JS, web APIs only (fetch, ReadableStream,
 * TextDecoder, EventTarget), no Node modules and no native code, so bundlers take it as is.
 *
 * The wire formats are the C encoders' (csrc/encoders): "events" is SSE whose data lines are
 * JSON objects, ": keepalive" comments as heartbeats and optional "id:" lines; "ndjson" is
 * one JSON object per line ("event_id" key with event ids, blank lines as heartbeats);
 * "text" is the answer text as UTF-8. A relay writes many events per chunk and the network
 * splits bytes anywhere, so decoding keeps its state between reads: a partial line, a CR
 * whose LF may come next, a UTF-8 sequence cut in two (TextDecoder's stream mode).
 */

/**
 * An error the relay sent (an `error` event: kind, status, source from its JSON) or one the
 * reader met: kind 'http' (the relay answered non-2xx), 'network' (the body failed while
 * being read), 'protocol' (the bytes are not the format).
 */
export class RelayError extends Error {
    constructor(message, opts = {}) {
        super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
        this.name = 'RelayError';
        this.kind = opts.kind || 'unknown';
        this.status = opts.status || 0;
        this.source = opts.source === undefined ? null : opts.source;
        this.recoverable = opts.recoverable === true;
        this.body = opts.body === undefined ? null : opts.body; /* what was wrong, or null */
        this.event = opts.event || null; /* the relay's error event, when from one */
    }
}

const FORMATS = ['events', 'ndjson', 'text'];

function excerpt(s) {
    return s.length > 200 ? s.slice(0, 200) + '...' : s;
}

function parseJSON(raw, what) {
    try {
        return JSON.parse(raw);
    } catch (e) {
        throw new RelayError(`${what} is not JSON: ${excerpt(raw)}`,
            { kind: 'protocol', body: raw, cause: e });
    }
}

/* The event a wire event becomes: {type, data, id, raw}, plus text when it carries answer
 * text and error (a RelayError) when it is the relay's error event. */
function makeEvent(type, data, id, raw) {
    const ev = { type, data, id, raw };
    const obj = data !== null && typeof data === 'object' ? data : null;
    if (obj && typeof obj.text === 'string' &&
        ((type === 'agent_chunk' && obj.type === 'text') || type === 'text')) ev.text = obj.text;
    if (type === 'error' && obj) {
        const source = typeof obj.agent === 'string' ? obj.agent
            : typeof obj.source === 'string' ? obj.source : null;
        const kind = typeof obj.kind === 'string' ? obj.kind : 'unknown';
        ev.error = new RelayError(typeof obj.message === 'string' ? obj.message : `${kind} error`,
            { kind, status: obj.status, source, recoverable: obj.recoverable === true, event: ev });
    }
    return ev;
}

/* A chunk of the text format: all of it is answer text. */
function textEvent(text) {
    return { type: 'text', data: text, id: '', raw: text, text };
}

/**
 * Incremental decoder of one relay body: feed(bytes) returns the events completed so far,
 * finish() those the end of the body completes. Bytes may be split anywhere. Throws
 * RelayError (kind 'protocol') on a line that is not JSON. Not thread-safe (none of JS is).
 */
export class StreamDecoder {
    constructor(format) {
        if (!FORMATS.includes(format))
            throw new TypeError(`format must be one of ${FORMATS.join(', ')}: ${String(format)}`);
        this.format = format;
        this.lastEventId = '';
        /* A leading BOM is dropped (TextDecoder's default); bad UTF-8 becomes U+FFFD. */
        this._utf8 = new TextDecoder('utf-8');
        this._partial = ''; /* the current line's text so far */
        this._skipLF = false; /* the last line ended with CR: an LF right after belongs to it */
        this._data = null; /* SSE: the data lines of the event being built (null: none) */
        this._name = '';
        this._done = false;
    }

    /** Decodes a chunk (Uint8Array, or an already decoded string). */
    feed(chunk) {
        if (this._done) throw new TypeError('StreamDecoder: feed() after finish()');
        const text = typeof chunk === 'string' ? chunk : this._utf8.decode(chunk, { stream: true });
        const out = [];
        if (this.format === 'text') {
            if (text.length) out.push(textEvent(text));
        } else {
            this._lines(text, out);
        }
        return out;
    }

    /**
     * The end of the body: an ndjson line without its newline is still an event; an SSE event
     * without its blank line is dropped, as WHATWG's parser does (the relays end every event).
     */
    finish() {
        if (this._done) return [];
        this._done = true;
        const out = [];
        const rest = this._utf8.decode();
        if (this.format === 'text') {
            if (rest.length) out.push(textEvent(rest));
            return out;
        }
        this._lines(rest, out);
        if (this.format === 'ndjson' && this._partial.length) this._line(this._partial, out);
        this._partial = '';
        this._data = null;
        return out;
    }

    /* Splits text into lines at CRLF, CR or LF, keeping an unfinished line for later. */
    _lines(text, out) {
        let i = 0;
        const n = text.length;
        if (this._skipLF && n > 0) {
            if (text.charCodeAt(0) === 10) i = 1;
            this._skipLF = false;
        }
        while (i < n) {
            let j = i;
            let c = 0;
            for (; j < n; j++) {
                c = text.charCodeAt(j);
                if (c === 10 || c === 13) break;
            }
            if (j === n) {
                this._partial += text.slice(i);
                return;
            }
            const line = this._partial.length ? this._partial + text.slice(i, j) : text.slice(i, j);
            this._partial = '';
            if (c === 13) {
                if (j + 1 < n) {
                    if (text.charCodeAt(j + 1) === 10) j++;
                } else {
                    this._skipLF = true;
                }
            }
            i = j + 1;
            this._line(line, out);
        }
    }

    _line(line, out) {
        if (this.format === 'ndjson') this._ndjsonLine(line, out);
        else this._sseLine(line, out);
    }

    _ndjsonLine(line, out) {
        if (line.trim() === '') return; /* a heartbeat */
        const data = parseJSON(line, 'an NDJSON line');
        const obj = data !== null && typeof data === 'object' && !Array.isArray(data) ? data : null;
        if (obj && typeof obj.event_id === 'string') this.lastEventId = obj.event_id;
        const type = obj && typeof obj.type === 'string' ? obj.type : 'message';
        out.push(makeEvent(type, data, this.lastEventId, line));
    }

    /* WHATWG "interpret an event stream", minus reconnection (retry: is ignored). */
    _sseLine(line, out) {
        if (line === '') {
            const data = this._data;
            const name = this._name;
            this._data = null;
            this._name = '';
            if (data === null) return;
            const raw = data.length === 1 ? data[0] : data.join('\n');
            out.push(makeEvent(name || 'message', parseJSON(raw, `the data of event "${name}"`),
                this.lastEventId, raw));
            return;
        }
        if (line.charCodeAt(0) === 58) return; /* ':' a comment: heartbeats */
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.charCodeAt(0) === 32) value = value.slice(1);
        if (field === 'data') (this._data || (this._data = [])).push(value);
        else if (field === 'event') this._name = value;
        else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    }
}

/* The format a response's Content-Type says, or null. */
function formatOf(contentType) {
    const t = (contentType || '').split(';')[0].trim().toLowerCase();
    if (t === 'text/event-stream') return 'events';
    if (t === 'application/x-ndjson' || t === 'application/ndjson') return 'ndjson';
    if (t === 'text/plain') return 'text';
    return null;
}

function isResponse(x) {
    return x !== null && typeof x === 'object' && 'body' in x && 'headers' in x && 'ok' in x;
}

function abortReason(signal) {
    if (signal.reason !== undefined) return signal.reason;
    return new DOMException('This operation was aborted', 'AbortError');
}

/* The start of an error answer's body (at most ~1 KiB, then the body is cancelled), for the
 * error's message; '' when it cannot be read. An abort stops the wait. */
async function bodyHead(res, signal) {
    if (!res.body) return '';
    const reader = res.body.getReader();
    const onAbort = () => reader.cancel().catch(() => {});
    if (signal) signal.addEventListener('abort', onAbort);
    const utf8 = new TextDecoder();
    let text = '';
    try {
        for (;;) {
            const r = await reader.read();
            if (r.done) return text + utf8.decode();
            text += utf8.decode(r.value, { stream: true });
            if (text.length >= 1024) {
                reader.cancel().catch(() => {});
                return text;
            }
        }
    } catch (e) {
        return text;
    } finally {
        if (signal) signal.removeEventListener('abort', onAbort);
    }
}

/**
 * Reads the events of a relay body as they arrive.
 * @param input a fetch Response (its status and Content-Type are checked) or a
 *   ReadableStream<Uint8Array> (then opts.format is required).
 * @param opts.format 'events' | 'ndjson' | 'text'; default: from the Content-Type.
 * @param opts.signal an AbortSignal: aborting cancels the body (the connection closes) and
 *   the iteration throws signal.reason.
 * @param opts.errors 'throw' (default): the relay's first non-recoverable error event is
 *   thrown as its RelayError and reading stops; 'yield': it is yielded like other events
 *   (ev.error set), as a multi-agent page wants. Recoverable ones are always yielded.
 * Breaking out of the loop cancels the body too. The body's lock is held while iterating.
 */
export async function* readEvents(input, opts = {}) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
    const { signal } = opts;
    const errors = opts.errors === undefined ? 'throw' : opts.errors;
    if (errors !== 'throw' && errors !== 'yield')
        throw new TypeError(`errors must be 'throw' or 'yield': ${String(errors)}`);
    let format = opts.format;
    let body = input;
    if (isResponse(input)) {
        if (!input.ok) {
            const text = await bodyHead(input, signal);
            if (signal && signal.aborted) throw abortReason(signal);
            throw new RelayError(`the relay answered HTTP ${input.status}: ${excerpt(text)}`,
                { kind: 'http', status: input.status, body: text });
        }
        if (input.body === null) return; /* a 204, or a HEAD: no events */
        const type = input.headers.get('content-type');
        if (format === undefined) format = formatOf(type);
        if (format === null)
            throw new RelayError(`not a relay body (content-type ${String(type)})`,
                { kind: 'protocol', body: type });
        body = input.body;
    }
    if (body === null || typeof body !== 'object' || typeof body.getReader !== 'function')
        throw new TypeError('input must be a Response or a ReadableStream');
    if (format === undefined) throw new TypeError('opts.format is required with a stream');
    const decoder = new StreamDecoder(format);
    if (signal && signal.aborted) throw abortReason(signal);
    const reader = body.getReader();
    let finished = false;
    const onAbort = () => {
        reader.cancel(abortReason(signal)).catch(() => {});
    };
    if (signal) signal.addEventListener('abort', onAbort);
    try {
        for (;;) {
            let r;
            try {
                r = await reader.read();
            } catch (e) {
                if (signal && signal.aborted) throw abortReason(signal);
                throw new RelayError(`reading the relay failed: ${e && e.message}`,
                    { kind: 'network', cause: e });
            }
            if (signal && signal.aborted) throw abortReason(signal);
            const events = r.done ? decoder.finish() : decoder.feed(r.value);
            for (const ev of events) {
                if (ev.error && !ev.error.recoverable && errors === 'throw') throw ev.error;
                yield ev;
                if (signal && signal.aborted) throw abortReason(signal);
            }
            if (r.done) {
                finished = true;
                return;
            }
        }
    } finally {
        if (signal) signal.removeEventListener('abort', onAbort);
        /* Stopped early (break, throw, abort): let the connection go. */
        if (!finished) reader.cancel().catch(() => {});
        reader.releaseLock();
    }
}

/** The event TokenwireReader dispatches: EventSource's MessageEvent fields plus ours. */
export class RelayEvent extends Event {
    constructor(type, ev, error) {
        super(type);
        this.event = ev ? ev.type : type; /* the wire name ('agent_chunk', 'text', ...) */
        this.data = ev ? ev.data : null;
        this.lastEventId = ev ? ev.id : '';
        this.text = ev ? ev.text : undefined;
        this.raw = ev ? ev.raw : undefined;
        this.error = error || (ev && ev.error) || null;
    }
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/**
 * EventSource-like: fetches (or takes) a relay body and dispatches its events.
 * Dispatched, in order, for each wire event: its own name (unless 'message'); 'text' for a
 * piece of answer text in any format (an events agent_chunk of type text, an ndjson text
 * line, a text chunk); 'message' for every event (EventSource gives it only unnamed ones).
 * Also 'open' (headers in), 'error' (the relay's error events, reading goes on; and failures
 * of the reader, after which readyState is CLOSED), 'end' (the body ended). No reconnection:
 * resume with a new request carrying lastEventId (`Last-Event-ID` header) if the relay can.
 */
export class TokenwireReader extends EventTarget {
    /**
     * @param input a URL (fetched with opts.init), a Request, a Response or a body stream.
     * @param opts.format as readEvents; opts.signal also closes the reader; opts.fetch
     *   replaces globalThis.fetch.
     */
    constructor(input, opts = {}) {
        super();
        this.readyState = CONNECTING;
        this.lastEventId = '';
        this.url = typeof input === 'string' || input instanceof URL ? String(input)
            : (input && typeof input.url === 'string' ? input.url : '');
        this.onopen = this.onmessage = this.onerror = this.onend = null;
        this._ctl = new AbortController();
        const signal = opts.signal;
        const onAbort = () => this.close();
        if (signal) {
            if (signal.aborted) this.close();
            else signal.addEventListener('abort', onAbort, { once: true });
        }
        /** Resolves when reading stops (end, error or close); never rejects. */
        this.finished = this._run(input, opts).finally(() => {
            if (signal) signal.removeEventListener('abort', onAbort);
        });
    }

    /** Stops reading and drops the connection; no event follows. */
    close() {
        if (this.readyState === CLOSED) return;
        this.readyState = CLOSED;
        this._ctl.abort();
    }

    _dispatch(type, ev, error) {
        const e = new RelayEvent(type, ev, error);
        this.dispatchEvent(e);
        const h = this['on' + type];
        if (typeof h === 'function') h.call(this, e);
    }

    async _run(input, opts) {
        const signal = this._ctl.signal;
        /* Nothing is dispatched before the constructor's caller has set its handlers. */
        await null;
        try {
            let res = input;
            if (typeof input === 'string' || input instanceof URL ||
                (typeof Request !== 'undefined' && input instanceof Request)) {
                const f = opts.fetch || globalThis.fetch;
                res = await f(input, { ...opts.init, signal });
            }
            if (this.readyState === CLOSED) {
                /* Closed before reading: let the connection go all the same. */
                const b = isResponse(res) ? res.body : res;
                if (b && typeof b.cancel === 'function' && !b.locked) b.cancel().catch(() => {});
                return;
            }
            const events = readEvents(res, { format: opts.format, signal, errors: 'yield' });
            /* A response is open once it is a 2xx; a bare body at once. */
            if (!isResponse(res) || res.ok) this._open();
            for await (const ev of events) {
                this.lastEventId = ev.id;
                if (ev.error) this._dispatch('error', ev);
                else if (ev.type !== 'message') this._dispatch(ev.type, ev);
                if (ev.text !== undefined && ev.type !== 'text') this._dispatch('text', ev);
                this._dispatch('message', ev);
                if (this.readyState === CLOSED) return;
            }
            if (this.readyState === CLOSED) return;
            this.readyState = CLOSED;
            this._dispatch('end', null);
        } catch (e) {
            if (this.readyState === CLOSED) return; /* close() or the signal: no event */
            this.readyState = CLOSED;
            const err = e instanceof RelayError ? e
                : new RelayError(String(e && e.message), { kind: 'network', cause: e });
            this._dispatch('error', null, err);
        }
    }

    _open() {
        this.readyState = OPEN;
        this._dispatch('open', null);
    }
}

TokenwireReader.CONNECTING = CONNECTING;
TokenwireReader.OPEN = OPEN;
TokenwireReader.CLOSED = CLOSED;
