'use strict';
/*
 * Client: options checked and turned into the addon's request object. What goes on the wire
 * is prepared by the core (tw_request_opts): the API key's header per dialect or `auth`,
 * anthropic-version, Content-Type, the query string (percent-encoded), caller headers
 * replacing those defaults whatever their case, and the timeout defaults (DEFAULT_TIMEOUTS).
 * and the Accept header per dialect (the caller's replacing it). This file only joins baseURL and
 * path and serializes `json`.
 */
const { binding, DIALECTS, AUTH } = require('./binding');
const { Stream } = require('./stream');
const { checkBytes } = require('./parsers');

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

function dialectOption(v) {
    if (!DIALECTS.includes(v)) throw argError(`unknown dialect ${JSON.stringify(v)}`);
    return v;
}

function authOption(v) {
    if (v === undefined) return undefined;
    /* The names (and the 'azure' alias) are the core's: tw_auth_from_name. */
    if (typeof v !== 'string' || binding.authFromName(v) < 0) throw argError(`unknown auth ${JSON.stringify(v)} (one of ${AUTH.join(', ')})`);
    return v;
}

const TIMEOUT_FIELDS = { connect: 'connectTimeout', firstByte: 'firstByteTimeout', idle: 'idleTimeout',
    event: 'eventTimeout', total: 'totalTimeout', paused: 'pausedTimeout', firstToken: 'firstTokenTimeout' };
/* Stream-wide fields: a fallback request runs under the first request's. */
const STREAM_FIELDS = ['accumulate', 'totalTimeout', 'pausedTimeout'];

/**
 * A request prepared by Client.request() and not sent: a fallback of Client.stream(). Checked
 * by the core when the stream starts, like the stream's own request.
 */
class Request {
    constructor(req) {
        this._req = req;
        Object.freeze(this);
    }

    get method() {
        return this._req.method;
    }

    get url() {
        return this._req.url;
    }

    get dialect() {
        return this._req.dialect;
    }
}

/* Timeouts in ms -> the request's fields in seconds; what is not given keeps the core's
 * default. A number is the idle timeout. */
function timeoutFields(timeout, out) {
    if (timeout === undefined || timeout === null) return;
    if (typeof timeout === 'number') {
        out.idleTimeout = secondsFromMs(timeout, 'timeout');
        return;
    }
    if (typeof timeout !== 'object') throw argError('timeout must be a number or an object', 'ERR_INVALID_ARG_TYPE');
    for (const k of Object.keys(timeout)) {
        if (!(k in TIMEOUT_FIELDS)) throw argError(`unknown timeout field ${JSON.stringify(k)}`);
        out[TIMEOUT_FIELDS[k]] = secondsFromMs(timeout[k], 'timeout.' + k);
    }
}

function entriesOf(v) {
    if (v instanceof Headers || v instanceof Map || v instanceof URLSearchParams) return [...v.entries()];
    if (Array.isArray(v)) return v;
    return Object.entries(v);
}

function headerList(h, name) {
    const out = [];
    if (h === undefined || h === null) return out;
    if (typeof h !== 'object') throw argError(`${name} must be an object, Headers, Map or array of pairs`, 'ERR_INVALID_ARG_TYPE');
    /* Only what joining "Name: value" would hide is checked here (an empty name, a colon in
     * it); the characters of names and values (RFC 9110 tokens, no CR, LF, NUL or other
     * control characters) are checked by the core when the request starts, for every
     * header alike: the user's, the API key's and the defaults. */
    for (const [k, v] of entriesOf(h)) {
        if (typeof k !== 'string') throw argError(`${name}: a header name must be a string`, 'ERR_INVALID_ARG_TYPE');
        if (k.length === 0 || k.includes(':'))
            throw argError(`${name}: invalid header name ${JSON.stringify(k)} (empty or with a colon)`);
        if (v === undefined || v === null) continue;
        out.push(k + ': ' + String(v));
    }
    return out;
}

/* query -> [name, value, name, value, ...] for the core, which percent-encodes them. */
function queryList(q) {
    if (q === undefined || q === null) return null;
    if (typeof q !== 'object') throw argError('query must be an object, URLSearchParams, Map or array of pairs', 'ERR_INVALID_ARG_TYPE');
    const out = [];
    for (const pair of entriesOf(q)) {
        if (!Array.isArray(pair) || pair.length !== 2) throw argError('query: each entry must be a [name, value] pair');
        const [k, v] = pair;
        if (v === undefined) continue;
        out.push(String(k), String(v));
    }
    return out;
}

class Client {
    constructor(opts = {}) {
        if (opts === null || typeof opts !== 'object') throw argError('Client options must be an object', 'ERR_INVALID_ARG_TYPE');
        const { baseURL, apiKey, auth, headers, dialect = 'openai', timeout, maxRetries, retrySent, http2, verifyPeer,
            caFile, maxEventSize, accumulate } = opts;
        if (typeof baseURL !== 'string' || !/^https?:\/\//i.test(baseURL))
            throw argError('baseURL must be an http:// or https:// URL string');
        dialectOption(dialect);
        if (apiKey !== undefined && apiKey !== null && typeof apiKey !== 'string')
            throw argError('apiKey must be a string', 'ERR_INVALID_ARG_TYPE');
        if (maxRetries !== undefined && !(Number.isInteger(maxRetries) && maxRetries >= 0))
            throw argError('maxRetries must be an integer >= 0');
        if (caFile !== undefined && typeof caFile !== 'string') throw argError('caFile must be a string', 'ERR_INVALID_ARG_TYPE');
        this.baseURL = baseURL.replace(/\/+$/, '');
        this.dialect = dialect;
        this._headers = headerList(headers, 'headers');
        /* The request fields every stream of this client starts from. */
        this._base = {};
        if (apiKey) this._base.apiKey = apiKey;
        if (authOption(auth) !== undefined) this._base.auth = auth;
        timeoutFields(timeout, this._base);
        if (maxRetries !== undefined) this._base.maxRetries = maxRetries;
        if (boolOption(retrySent, 'retrySent') !== undefined) this._base.retrySent = retrySent;
        this._base.accumulate = boolOption(accumulate, 'accumulate') !== false;
        if (http2 !== undefined) this._base.http2 = !!http2;
        if (verifyPeer !== undefined) this._base.verifyPeer = !!verifyPeer;
        if (caFile !== undefined) this._base.caFile = caFile;
        if (maxEventSize !== undefined) this._base.maxEventSize = maxEventSize;
    }

    /* The core's request fields for one request of this client (the core prepares the rest). */
    _request(pathOrUrl, opts) {
        if (typeof pathOrUrl !== 'string') throw argError('path must be a string', 'ERR_INVALID_ARG_TYPE');
        if (opts === null || typeof opts !== 'object') throw argError('options must be an object', 'ERR_INVALID_ARG_TYPE');
        const { method = 'POST', json, body, headers, dialect = this.dialect, auth, timeout, query, retrySent,
            accumulate } = opts;
        if (typeof method !== 'string') throw argError('method must be a string', 'ERR_INVALID_ARG_TYPE');
        dialectOption(dialect);
        if (json !== undefined && body !== undefined) throw argError('pass either json or body, not both');
        const url = /^https?:\/\//i.test(pathOrUrl) ? pathOrUrl
            : this.baseURL + (pathOrUrl.startsWith('/') ? '' : '/') + pathOrUrl;
        /* 'post' means POST; any other method goes as given, and the core refuses one that is
         * not an RFC 9110 token (so a non-ASCII one is never folded into ASCII here). */
        const req = { ...this._base, url, method: /^[a-z]+$/i.test(method) ? method.toUpperCase() : method, dialect };
        if (authOption(auth) !== undefined) req.auth = auth;
        if (boolOption(retrySent, 'retrySent') !== undefined) req.retrySent = retrySent;
        if (boolOption(accumulate, 'accumulate') !== undefined) req.accumulate = accumulate;
        const q = queryList(query);
        if (q !== null && q.length > 0) req.query = q;
        const given = this._headers.concat(headerList(headers, 'headers'));
        if (json !== undefined) {
            req.body = JSON.stringify(json);
        } else if (body !== undefined && body !== null) {
            checkBytes(body, 'body');
            req.body = body;
        }
        req.headers = given;
        timeoutFields(timeout, req);
        return req;
    }

    /**
     * A request prepared with this client's baseURL, key, dialect, headers and timeouts, and not
     * sent: a fallback for stream(path, { fallback: [...] }) of any client (e.g. Azure OpenAI,
     * then OpenAI; or a non-streaming call last). Same options as stream().
     * @returns {Request}
     */
    request(pathOrUrl, opts = {}) {
        const req = this._request(pathOrUrl, opts);
        for (const k of STREAM_FIELDS) delete req[k];
        return new Request(req);
    }

    /**
     * Starts a streaming request. path is appended to baseURL (an absolute URL is used as is).
     * opts.fallback: requests (client.request(...)) sent in order when the one before fails
     * before its first token (HTTP error, connect / first-byte / first-token timeout, transport
     * error, a body that is not an event stream, a provider error), after its own retries; the
     * stream continues from whichever succeeds and delivers only its events; the last failure
     * is the stream's error when all fail; metrics().fallbackIndex says which one won. Run by the
     * core: no JS between them.
     * opts.simulate { chars, interval }: when the answer comes as one JSON body (a model
     * without streaming, a non-streaming fallback), the core cuts its text into deltas of
     * `chars` characters released every `interval` ms (0: all at once);
     * metrics().simulated says so.
     * opts.id: an id of your choosing (a task, a conversation; several streams may share one)
     * under which client.cancel(id) finds the stream from any request handler of this thread.
     * @returns {Stream}
     */
    stream(pathOrUrl, opts = {}) {
        const req = this._request(pathOrUrl, opts);
        const { signal, fallback, id, simulate } = opts;
        if (simulate !== undefined && simulate !== null) {
            const { chars, interval = 0 } = simulate;
            if (!(Number.isInteger(chars) && chars > 0) || !(typeof interval === 'number' && interval >= 0))
                throw argError('simulate must be { chars: integer > 0, interval: ms >= 0 }');
            req.simulateChars = chars;
            req.simulateInterval = interval / 1000;
        }
        if (id !== undefined && id !== null) {
            if (typeof id !== 'string') throw argError('id must be a string', 'ERR_INVALID_ARG_TYPE');
            req.id = id;
        }
        if (signal !== undefined && signal !== null && !(typeof signal === 'object' && 'aborted' in signal))
            throw argError('signal must be an AbortSignal', 'ERR_INVALID_ARG_TYPE');
        if (fallback !== undefined && fallback !== null) {
            const list = fallback instanceof Request ? [fallback] : fallback;
            if (!Array.isArray(list) || !list.every((r) => r instanceof Request))
                throw argError('fallback must be an array of client.request(...) objects', 'ERR_INVALID_ARG_TYPE');
            if (list.length === 0) throw argError('fallback is empty: give at least one client.request(...) (or leave it out)');
            req.fallback = list.map((r) => r._req);
        }
        return new Stream(req, { signal: signal || null });
    }

    /**
     * Cancels every running stream started with stream(path, { id }) on this thread's engine
     * (each ends with an AbortError, like stream.cancel()). @returns {number} how many.
     */
    cancel(id) {
        if (typeof id !== 'string') throw argError('id must be a string', 'ERR_INVALID_ARG_TYPE');
        return binding.cancelId(id);
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

module.exports = { Client, Request, configure, stats };
