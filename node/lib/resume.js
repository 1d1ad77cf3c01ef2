'use strict';
/*
 * Streams that survive (issue 15): a Redis Streams tee for relays and resume on any process.
 *
 *   const tee = new tw.RedisTee({ url: 'redis://127.0.0.1:6379/0' });  // one per process
 *   return s.toResponse({ format: 'openai', tee, detach: true });      // teed from C
 *   return tw.resumeResponse(tee, req);        // Last-Event-ID header or ?resume=<id>: a Response
 *   tw.resumeResponse(tee, req, { res });      // or written to a node:http ServerResponse
 *   tee.requestStop(streamId);                 // stops the producer on whichever process runs it
 *
 * The addon appends each encoded batch to Redis (node/src/tee.c); the tee's notices fd and
 * each resume reader's fd are watched with uv_poll, so JS runs per notice and per delivered
 * chunk, never per token. Node cluster: each worker makes its own RedisTee; Redis is the
 * shared state.
 */
const { binding } = require('./binding');
const { streamHeaders } = require('./relay');

/** redis://[user[:password]@]host[:port][/db] or unix:///path[?db=N] -> addon options. */
function parseUrl(url) {
    const u = new URL(url);
    const o = {};
    if (u.protocol === 'unix:') {
        o.unixPath = decodeURIComponent(u.pathname);
        if (u.searchParams.has('db')) o.db = Number(u.searchParams.get('db'));
    } else if (u.protocol === 'redis:') {
        o.host = u.hostname || '127.0.0.1';
        o.port = u.port ? Number(u.port) : 6379;
        const db = u.pathname.replace(/^\//, '');
        if (db) o.db = Number(db);
    } else {
        throw new TypeError(`Redis url must be redis://host:port/db or unix:///path, not ${url}`);
    }
    if (u.username) o.username = decodeURIComponent(u.username);
    if (u.password) o.password = decodeURIComponent(u.password);
    return o;
}

/** { streamId, seq } of an event id "<stream id>:<seq>"; a bare stream id gives seq -1 (from
 * the start). TypeError for anything else. */
function parseEventId(v) {
    if (typeof v !== 'string' || v.trim() === '') throw new TypeError('not a tokenwire event id');
    v = v.trim();
    const i = v.lastIndexOf(':');
    const tail = i >= 0 ? v.slice(i + 1) : '';
    if (i > 0 && /^[0-9]+$/.test(tail)) return { streamId: v.slice(0, i), seq: Number(tail) };
    return { streamId: v, seq: -1 };
}

class RedisTee {
    /**
     * @param {object} opts url ('redis://127.0.0.1:6379/0'), prefix ('tw:'), ttl (s a finished
     *   stream stays resumable, 3600), maxlen (entries per stream, 10000), require (false:
     *   start degraded when Redis is unreachable; true: throw now), liveTtl, lingerMs,
     *   stopPollMs, connectTimeoutMs, onNotice(kind, streamId, message).
     */
    constructor(opts = {}) {
        this._opts = Object.assign(parseUrl(opts.url || 'redis://127.0.0.1:6379/0'), {
            keyPrefix: opts.prefix || 'tw:',
            require: opts.require ? 1 : 0,
            maxlen: opts.maxlen,
            ttl: opts.ttl,
            liveTtl: opts.liveTtl,
            lingerMs: opts.lingerMs,
            stopPollMs: opts.stopPollMs,
            connectTimeoutMs: opts.connectTimeoutMs,
        });
        this.onNotice = opts.onNotice || null;
        this.notices = []; /* the last 100, for health checks and tests */
        this._h = null;
        this._producers = new Map(); /* stream id -> stop() */
        if (opts.require) void this.handle; /* connect now: refuse to start without Redis */
    }

    /** The addon's tee, started on first use (its writer thread and connection). */
    get handle() {
        if (this._h === null) {
            try {
                this._h = binding.teeNew(this._opts);
            } catch (e) {
                if (e && e.code === 'ERR_TOKENWIRE') throw new RedisUnavailableError(e.message);
                throw e;
            }
            binding.teeWatch(this._h, (list) => this._onNotices(list));
        }
        return this._h;
    }

    /** True while Redis is reachable (new streams are teed). */
    get available() {
        return binding.teeAvailable(this.handle)[0];
    }

    requestStop(streamId) {
        binding.teeRequestStop(this.handle, streamId);
    }

    /** Blocks until what was queued is written (graceful shutdown, tests). */
    flush(timeoutMs = 2000) {
        return binding.teeFlush(this.handle, timeoutMs);
    }

    stats() {
        return binding.teeStats(this.handle);
    }

    close() {
        if (this._h !== null) binding.teeClose(this._h);
    }

    _onNotices(list) {
        for (const [kind, id, msg] of list) {
            this.notices.push([kind, id, msg]);
            if (this.notices.length > 100) this.notices.shift();
            if (kind === 'lost' || kind === 'down')
                process.emitWarning(`tokenwire tee: ${kind}${id ? ' ' + id : ''}: ${msg}`,
                    'TokenwireTeeWarning');
            const stop = this._producers.get(id);
            if ((kind === 'stop' || kind === 'abandoned') && stop) stop();
            if (this.onNotice) {
                try {
                    this.onNotice(kind, id, msg);
                } catch (e) {
                    process.emitWarning(`tokenwire tee: onNotice threw: ${e && e.message}`);
                }
            }
        }
    }

    /* Links a relay (Stream.toReadableStream({ tee, detach })) to the tee: enc's batches go
     * to Redis from C. Returns the relay's hooks: readerGone() when the browser disconnects
     * (true: the producer goes on, detached). */
    _link(stream, enc, streamId, detach) {
        const abandonMs = detach === true ? 60000 : typeof detach === 'number' ? detach * 1000 : 0;
        if (detach !== undefined && detach !== false && !(abandonMs > 0))
            throw new TypeError('detach must be a boolean or a number of seconds > 0');
        binding.teeAttach(this.handle, enc, streamId);
        const stop = () => {
            stream.cancel();
            binding.teeLinkEnd(enc);
        };
        this._producers.set(streamId, stop);
        stream.once('close', () => {
            if (this._producers.get(streamId) === stop) this._producers.delete(streamId);
        });
        return {
            readerGone: () => {
                if (!abandonMs || stream.done) {
                    stop();
                    return false;
                }
                /* An upstream failure with nobody reading must not throw from the emitter. */
                stream.on('error', () => {});
                binding.teeWatchReaders(this.handle, streamId, Math.round(abandonMs));
                return true;
            },
        };
    }
}

/** Redis cannot be reached (RedisTee({ require: true }), status 503 for a resume). */
class RedisUnavailableError extends Error {
    constructor(message) {
        super(message);
        this.name = 'RedisUnavailableError';
        this.code = 'ERR_TOKENWIRE_STORE';
        this.status = 503;
    }
}

class ResumeNotFoundError extends Error {
    constructor(message) {
        super(message);
        this.name = 'ResumeNotFoundError';
        this.status = 404;
    }
}

/**
 * A ReadableStream<Uint8Array> of a teed stream after eventId ("<stream id>:<seq>", or a bare
 * stream id: from the start), then its live tail until its end. Resolves once the first chunk
 * (or the end) is known: rejects with ResumeNotFoundError (status 404) for an unknown or expired
 * id, an Error with status 503 when Redis is unavailable.
 */
function resumeStream(tee, eventId, opts = {}) {
    const { streamId, seq } = parseEventId(eventId);
    const hbMs = opts.heartbeatMs === undefined ? 15000 : opts.heartbeatMs;
    const sse = opts.sse !== false;
    return new Promise((resolve, reject) => {
        let controller = null;
        let started = false;
        let timer = null;
        let h = null;
        const stream = new ReadableStream({
            start(c) {
                controller = c;
            },
            cancel() {
                if (timer) clearInterval(timer);
                binding.resumeClose(h);
            },
        });
        const begin = () => {
            started = true;
            resolve(stream);
            if (hbMs > 0 && sse) {
                timer = setInterval(() => controller.enqueue(Buffer.from(': keepalive\n\n')), hbMs);
                timer.unref();
            }
        };
        h = binding.resumeOpen(tee.handle, streamId, seq, {
            notFoundGraceMs: opts.graceMs === undefined ? 500 : opts.graceMs,
            idleTimeoutMs: opts.idleTimeoutMs,
            presenceTtlMs: opts.presenceTtlMs,
        }, (chunk, a, b) => {
            if (chunk) {
                if (!started) begin();
                else if (timer) timer.refresh();
                controller.enqueue(chunk);
                return;
            }
            const state = a, msg = b;
            if (state === 'found') {
                /* The stream exists but has nothing new yet (up to date with a live answer):
                 * answer now, with heartbeats, rather than at the next event. */
                if (!started) begin();
                return;
            }
            if (timer) clearInterval(timer);
            if (!started && state === 'not_found') {
                reject(new ResumeNotFoundError(msg || 'unknown or expired stream id'));
            } else if (!started && state === 'store_error') {
                reject(new RedisUnavailableError(`resume is unavailable: ${msg}`));
            } else {
                if (!started) begin();
                controller.close();
            }
        });
    });
}

function jsonError(status, detail, res) {
    const body = JSON.stringify({ detail });
    if (res) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
        return undefined;
    }
    return new Response(body, { status, headers: { 'content-type': 'application/json' } });
}

function headerOf(req, name) {
    if (!req) return null;
    if (req.headers && typeof req.headers.get === 'function') return req.headers.get(name);
    const v = req.headers && req.headers[name];
    return Array.isArray(v) ? v[0] : v || null;
}

/**
 * Resumes a teed relay on any process: the id from opts.lastEventId, else the request's
 * Last-Event-ID header, else its ?resume= parameter (req: a web Request or node:http
 * IncomingMessage). Returns a web Response, or with opts.res (a node:http ServerResponse)
 * writes to it and resolves when done. 404 (JSON body) for an unknown or expired id, 400 for
 * none, 503 when Redis is unavailable. opts.format: the relay's format (headers).
 */
async function resumeResponse(tee, req, opts = {}) {
    let id = opts.lastEventId || headerOf(req, 'last-event-id');
    if (!id && req && req.url) id = new URL(req.url, 'http://x').searchParams.get('resume');
    const res = opts.res || null;
    if (!id) return jsonError(400, 'no Last-Event-ID header or resume= id to resume from', res);
    const headers = streamHeaders(opts.format || 'openai', opts.headers);
    let body;
    try {
        body = await resumeStream(tee, id, { heartbeatMs: opts.heartbeatMs, graceMs: opts.graceMs,
            sse: headers['content-type'] === 'text/event-stream' });
    } catch (e) {
        if (e instanceof ResumeNotFoundError)
            return jsonError(404,
                `unknown or expired stream id ${JSON.stringify(id)}: ${e.message}`, res);
        if (e && e.status === 503) return jsonError(503, e.message, res);
        throw e;
    }
    if (!res) return new Response(body, { status: 200, headers });
    res.writeHead(200, headers);
    const reader = body.getReader();
    res.on('close', () => reader.cancel().catch(() => {}));
    for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (!res.write(value)) await new Promise((r) => res.once('drain', r).once('close', r));
    }
    res.end();
    return undefined;
}

module.exports = { RedisTee, resumeResponse, resumeStream, parseEventId, ResumeNotFoundError,
    RedisUnavailableError };
