'use strict';
/*
 * tw.Encoder: the core's encoders (tw_encoder.h) for an app's own loop. Events in (the JS
 * shape of events.js: what a Stream emits, or objects an app builds), bytes out, all written
 * in C: a built-in format or an app's template, event ids, per-stream constants, and the
 * messages mode of WebSocket relays (one string per event instead of a byte stream).
 */
const { binding } = require('./binding');
const { checkFormat, eventIdsOption } = require('./relay');

/* Sets each of constants (a plain object) on a template encoder; the core says which names
 * the spec does not declare. A value JSON cannot carry is a TypeError naming it. */
function setConstants(enc, format, constants) {
    if (constants === undefined || constants === null) return;
    if (typeof constants !== 'object' || Array.isArray(constants))
        throw new TypeError('constants must be an object of name -> JSON value');
    if (typeof format === 'string') {
        if (Object.keys(constants).length === 0) return;
        throw new TypeError('constants need a template format ({ template: spec })');
    }
    for (const [name, value] of Object.entries(constants)) {
        let json;
        try {
            json = JSON.stringify(value);
        } catch (e) {
            json = undefined;
        }
        if (typeof json !== 'string') {
            const err = new TypeError(`constant ${JSON.stringify(name)} is not JSON-serializable`);
            err.code = 'ERR_INVALID_ARG_VALUE';
            throw err;
        }
        binding.encoderSetConstant(enc, name, json);
    }
}

/**
 * A native encoder handle from the options shared by Encoder and the relays:
 * format (checked), id, model, dialect, eventIds (already parsed: { prefix, firstSeq } or
 * null), constants, messages, phases (tw_encoder_opts.phases: finish ends one phase only).
 */
function makeEncoder(format, opts, dialect, ids, messages, phases) {
    const template = typeof format === 'string' ? undefined : format.template;
    const enc = binding.encoderNew(template === undefined ? format : null, opts.id, opts.model,
        dialect, ids ? ids.prefix : undefined, ids ? ids.firstSeq : undefined, template,
        messages === true, phases === true);
    setConstants(enc, format, opts.constants);
    return enc;
}

/* An app event's payload as JSON text; a TypeError when JSON cannot carry it (a BigInt, a
 * cycle, undefined, a function). */
function payloadJSON(what, payload) {
    let json;
    try {
        json = JSON.stringify(payload);
    } catch (e) {
        json = undefined;
    }
    if (typeof json !== 'string') {
        const err = new TypeError(`tokenwire: ${what}: the payload is not JSON-serializable`);
        err.code = 'ERR_INVALID_ARG_VALUE';
        throw err;
    }
    return json;
}

/* close()'s final: undefined / null (the format's end) or [name, payload]: [name, json]. */
function finalEvent(final) {
    if (final === undefined || final === null) return [null, null];
    if (!Array.isArray(final) || final.length !== 2 || typeof final[0] !== 'string')
        throw new TypeError('final must be [name, payload] (or nothing: the format\'s end)');
    return [final[0], payloadJSON('close', final[1])];
}

class Encoder {
    /**
     * format: a built-in name ('openai', 'events', 'ai-sdk', 'ndjson', 'text') or
     * { template: spec }. opts: { id, model, dialect (the source's, so 'openai' knows what an
     * index means), eventIds (as for toReadableStream), constants (template constants for
     * this encoder), messages (true: encode/finish return one string per event), phases
     * (true: a relay of several sources plus app events: finish() ends one source's phase,
     * close() ends the whole output once) }.
     * Bad arguments throw a TypeError before anything is encoded.
     */
    constructor(format = 'openai', opts = {}) {
        if (opts === null || typeof opts !== 'object')
            throw new TypeError('opts must be an object');
        if (opts.dialect !== undefined && typeof opts.dialect !== 'string')
            throw new TypeError('dialect must be a string');
        if (opts.phases !== undefined && typeof opts.phases !== 'boolean')
            throw new TypeError('phases must be a boolean');
        this.format = checkFormat(format);
        const ids = eventIdsOption(opts.eventIds);
        /** The event ids' stream id (null without eventIds). */
        this.streamId = ids ? ids.prefix : null;
        /** true: encode / finish / heartbeat return string[] (one message per event). */
        this.messages = opts.messages === true;
        /** true: finish() ends a phase; send / progress / close write the app's events. */
        this.phases = opts.phases === true;
        this._h = makeEncoder(this.format, opts, opts.dialect, ids, this.messages, this.phases);
    }

    /**
     * An app event: name (1-256 bytes, no control characters) and payload (JSON.stringify'd),
     * in the format (see README). TypeError for a bad name or a payload JSON cannot carry; an
     * ERR_TOKENWIRE error after close() (or, without phases, after finish()).
     */
    send(name, payload = null) {
        return binding.encoderSend(this._h, name, payloadJSON('send', payload));
    }

    /** The app event "progress" { progress: value (0-1), status }. */
    progress(value, status = null) {
        return binding.encoderProgress(this._h, value, status);
    }

    /**
     * Ends the output once: final = [name, payload] is the app's final event in place of the
     * format's own end; none: the format's end. A second close() throws ERR_TOKENWIRE.
     */
    close(final) {
        const [name, json] = finalEvent(final);
        return binding.encoderClose(this._h, name, json);
    }

    /** Encodes one event or an array of them: a Buffer, or string[] in messages mode. */
    encode(events) {
        return binding.encoderEncode(this._h, events);
    }

    /** The format's ending, once (later calls return nothing); after it encode() throws. */
    finish() {
        return binding.encoderFinish(this._h);
    }

    /** An SSE keep-alive comment (SSE formats); empty for the others and in messages mode. */
    heartbeat() {
        return binding.encoderHeartbeat(this._h);
    }

    /** The HTTP response headers of the output ({ 'content-type': ..., ... }). */
    get headers() {
        const list = binding.encoderHeaders(this._h);
        const h = {};
        for (let i = 0; i < list.length; i += 2) h[list[i]] = list[i + 1];
        return h;
    }

    /** The seq the next event id carries (null without eventIds). */
    get nextEventSeq() {
        return this.streamId === null ? null : binding.encoderNextEventSeq(this._h);
    }
}

module.exports = { Encoder, makeEncoder, payloadJSON, finalEvent };
