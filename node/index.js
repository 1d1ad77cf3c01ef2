'use strict';
/*
 * tokenwire for Node: the JS face of the C addon (node/src). The addon does the HTTP
 * streaming, framing, JSON decoding and encoding on its own I/O thread and hands each stream
 * its events as one packed batch per event-loop wakeup; node/lib turns batches into the
 * public API, one job per file:
 *   binding.js  the addon and the core's name tables and defaults
 *   errors.js   the error classes, one per error kind
 *   events.js   packed batches -> event objects (the core's event JSON keys, camelCase)
 *   parsers.js  SSEParser, Decoder
 *   relay.js    formats, relay headers, the byte ReadableStream
 *   stream.js   Stream: emitter, iterators, ReadableStream, cancel
 *   merge.js    merge() / MergedStream
 *   encoder.js  Encoder: the core's encoders for an app's own loop
 *   websocket.js websocketRelay: a stream or merge over a `ws` WebSocket
 *   relay_phases.js Relay: one response of app events and phases (sources in turn)
 *   client.js   Client (options -> the core's request), configure, stats
 */
const { binding, TYPES, KINDS, DIALECTS, FORMATS, AUTH, DEFAULT_TIMEOUTS } = require('./lib/binding');
const errors = require('./lib/errors');
const { eventToJSON } = require('./lib/events');
const { SSEParser, Decoder } = require('./lib/parsers');
const { streamHeaders } = require('./lib/relay');
const { Stream } = require('./lib/stream');
const { merge, MergedStream } = require('./lib/merge');
const { Client, Request, configure, stats } = require('./lib/client');
const { Encoder } = require('./lib/encoder');
const { websocketRelay } = require('./lib/websocket');
const { Relay, RelayClosedError } = require('./lib/relay_phases');
const { RedisTee, resumeResponse, resumeStream, parseEventId, ResumeNotFoundError,
    RedisUnavailableError } = require('./lib/resume');

module.exports = {
    version: binding.version,
    SSEParser,
    Decoder,
    Client,
    Request,
    Stream,
    MergedStream,
    merge,
    streamHeaders,
    Encoder,
    websocketRelay,
    Relay,
    RelayClosedError,
    RedisTee,
    resumeResponse,
    resumeStream,
    parseEventId,
    ResumeNotFoundError,
    RedisUnavailableError,
    eventToJSON,
    configure,
    stats,
    TYPES,
    KINDS,
    DIALECTS,
    FORMATS,
    AUTH,
    DEFAULT_TIMEOUTS,
    TokenwireError: errors.TokenwireError,
    HTTPError: errors.HTTPError,
    ProviderError: errors.ProviderError,
    TimeoutError: errors.TimeoutError,
    ProtocolError: errors.ProtocolError,
    TransportError: errors.TransportError,
    TruncatedError: errors.TruncatedError,
    AbortError: errors.AbortError,
    errorClass: errors.errorClass,
    _binding: binding,
};
