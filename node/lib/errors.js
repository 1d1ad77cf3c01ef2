'use strict';
/*
 * Errors: one class per error kind, the same names as the Python binding (AbortError where
 * Python has its own name for cancellation). Which class and which default code a kind gets is
 * the addon's table (node/src/names.c, one entry per tw_error_kind); this file defines the
 * classes and fails at load if the addon names one it does not define.
 *
 * Every error carries kind, status (HTTP status or the provider's numeric code, 0 when none),
 * message, body (the response body or offending data, or null) and code. Argument errors of
 * the addon and of Client are TypeErrors with Node codes (ERR_INVALID_ARG_*), not these.
 */
const { binding } = require('./binding');

/* Each class's default kind and code, on its prototype. */
const DEFAULTS = Symbol('tokenwire.errorDefaults');

class TokenwireError extends Error {
    /**
     * @param {string} message
     * @param {{code?: string, status?: number, body?: string|null, kind?: string,
     *          source?: string|null, cause?: unknown}} [opts]
     */
    constructor(message, opts = {}) {
        super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
        const d = this[DEFAULTS];
        this.code = opts.code !== undefined ? opts.code : d.code;
        this.status = opts.status !== undefined ? opts.status : 0;
        this.body = opts.body !== undefined ? opts.body : null;
        this.kind = opts.kind !== undefined ? opts.kind : d.kind;
        /* Merged streams: the name of the source the error came from. */
        this.source = opts.source !== undefined ? opts.source : null;
    }
}
Object.defineProperty(TokenwireError.prototype, DEFAULTS, { value: { kind: 'unknown', code: 'ERR_TOKENWIRE' } });

/** A non-2xx answer (body = the response body). */
class HTTPError extends TokenwireError {
    constructor(message, opts = {}) {
        super(message, opts);
        /* Seconds from the answer's Retry-After header, null when none. */
        this.retryAfter = opts.retryAfter !== undefined ? opts.retryAfter : null;
    }
}
/** An error the provider sent inside a 2xx stream (code = the provider's error type). */
class ProviderError extends TokenwireError {}
/** A connect, first-byte, idle, event, total or paused timeout fired. */
class TimeoutError extends TokenwireError {}
/** Malformed framing / JSON, or a 2xx body that is not an event stream. */
class ProtocolError extends TokenwireError {}
/** Connection failure or reset. */
class TransportError extends TokenwireError {}
/** The body ended before the dialect's end marker and without a finish reason. */
class TruncatedError extends TokenwireError {}
/** Cancelled. (An AbortSignal's own reason is thrown instead when it has one.) */
class AbortError extends TokenwireError {
    constructor(message, opts) {
        super(message || 'The operation was aborted', opts);
    }
}

const CLASSES = { TokenwireError, HTTPError, ProviderError, TimeoutError, ProtocolError, TransportError,
    TruncatedError, AbortError };

const BY_KIND = new Map();
for (const { kind, cls, code } of binding.errorClasses) {
    const C = CLASSES[cls];
    if (!C) throw new Error(`tokenwire: the addon maps error kind ${kind} to ${cls}, which node/lib/errors.js does not define`);
    BY_KIND.set(kind, C);
    if (C === TokenwireError) continue;
    Object.defineProperty(C.prototype, DEFAULTS, { value: { kind, code } });
}
for (const [cls, C] of Object.entries(CLASSES))
    Object.defineProperty(C.prototype, 'name', { value: cls, writable: true, configurable: true });

/** The class of an error kind ('http' -> HTTPError ...); TokenwireError for an unknown one. */
function errorClass(kind) {
    const C = BY_KIND.get(kind);
    return C && C !== TokenwireError ? C : TokenwireError;
}

/** The typed error of a (terminal) error event. */
function errorFromEvent(ev) {
    const C = errorClass(ev.kind);
    const opts = { status: ev.status || 0, body: ev.raw, source: ev.source || null };
    if (C === TokenwireError) opts.kind = ev.kind;
    /* The provider's error type ("overloaded_error") is the code of a ProviderError. */
    if (C === ProviderError && ev.name) opts.code = ev.name;
    return new C(ev.message || ev.kind + ' error', opts);
}

module.exports = { ...CLASSES, errorClass, errorFromEvent };
