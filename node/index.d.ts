/// <reference types="node" />
/**
 * tokenwire: streaming LLM responses parsed and re-encoded in C (libcurl + simdjson),
 * exposed as event emitters, async iterators and web ReadableStreams.
 */
import { EventEmitter } from 'node:events';

export declare const version: string;

/* ---- names (read from the core) ----------------------------------------------------------- */

export type Dialect = 'openai' | 'openai-responses' | 'anthropic' | 'gemini' | 'ollama' | 'sse' | 'ndjson';
/** 'sse-openai' is accepted as another name of 'openai'. */
export type Format = 'openai' | 'sse-openai' | 'events' | 'ai-sdk' | 'ndjson' | 'text';
export type ErrorKind = 'http' | 'provider' | 'timeout' | 'protocol' | 'cancelled' | 'transport' | 'truncated';
export type EventType = Event['type'];
/**
 * How the API key is sent. 'dialect' (default): the dialect's provider's way (Authorization:
 * Bearer for openai, openai-responses, ollama, sse, ndjson; x-api-key for anthropic;
 * x-goog-api-key for gemini). 'bearer': Authorization: Bearer. 'api-key' (or 'azure'): Azure
 * OpenAI's api-key header. 'x-api-key', 'x-goog-api-key': that header.
 */
export type Auth = 'dialect' | 'bearer' | 'api-key' | 'azure' | 'x-api-key' | 'x-goog-api-key';

/** Event type names, in the core's order (tw_event_type_name). */
export declare const TYPES: readonly EventType[];
/** Error kinds (tw_error_kind_name). */
export declare const KINDS: readonly ErrorKind[];
/** Dialect names (tw_dialect_name). */
export declare const DIALECTS: readonly Dialect[];
/** Canonical format names (tw_format_name). */
export declare const FORMATS: readonly Exclude<Format, 'sse-openai'>[];
/** Values of the `auth` option. */
/** The core's canonical auth names ('azure' is accepted as an alias of 'api-key'). */
export declare const AUTH: readonly Auth[];
/**
 * The core's timeout defaults (tw_request_opts_init), in milliseconds; 0 = none. The one
 * policy of every binding: connect 10000, firstByte 600000 (reasoning models may think for
 * minutes before the first byte), idle 600000, event 0, total 0, paused 300000.
 */
export declare const DEFAULT_TIMEOUTS: Readonly<Required<TimeoutFields>>;

/* ---- events -------------------------------------------------------------------------------- */

/*
 * The JS event shape: the keys of the core's event JSON (tw_event_to_json: the ndjson format,
 * `tokenwire parse`) in camelCase, every key of the type present (null where the core's JSON
 * leaves it out; status 0 when none), and `index` on every event. eventToJSON(ev) gives the
 * core's JSON back.
 */
interface EventBase {
    /** Choice / content block / candidate index (0 by default). */
    index: number;
    /** Set on events of a merged stream: the name of the source stream. */
    source?: string;
}
export interface StartEvent extends EventBase { type: 'start'; id: string | null; model: string | null; }
export interface TextEvent extends EventBase { type: 'text'; text: string; }
export interface ReasoningEvent extends EventBase { type: 'reasoning'; text: string; }
/** A tool call delta: concatenate `arguments` per index (the summary does it). */
export interface ToolCallEvent extends EventBase {
    type: 'tool_call';
    id: string | null;
    name: string | null;
    arguments: string | null;
}
/** Token counts as the provider sent them (JSON input_tokens, output_tokens, total_tokens);
 * null where it gave none. The summary's usage has the total derived. */
export interface UsageEvent extends EventBase {
    type: 'usage';
    inputTokens: number | null;
    outputTokens: number | null;
    totalTokens: number | null;
}
/** The finish reason as the provider spelled it (the summary normalizes it). */
export interface FinishEvent extends EventBase { type: 'finish'; reason: string | null; }
/**
 * An error. recoverable: true = one bad event (malformed JSON, oversized) and the stream goes
 * on: iterators and listeners see it as an event. Otherwise it is the stream's terminal
 * event: iterators throw the matching error class instead of yielding it, emitters emit
 * 'error'.
 */
export interface ErrorEvent extends EventBase {
    type: 'error';
    kind: ErrorKind;
    /** HTTP status or the provider's numeric code; 0 when none. */
    status: number;
    message: string | null;
    /** Provider error type, e.g. "overloaded_error" (a ProviderError's code). */
    name: string | null;
    /** Raw body or data that caused the error. */
    raw: string | null;
    recoverable: boolean;
}
/** Raw SSE event / NDJSON line (dialects 'sse' and 'ndjson', unknown provider events). */
export interface RawEvent extends EventBase {
    type: 'raw';
    event: string | null;
    data: string | null;
    id: string | null;
    retry: number | null;
}
/** The stream's clean end (its protocol end marker, or EOF for sse / ndjson). */
export interface EndEvent extends EventBase { type: 'end'; }
export interface AgentStartEvent extends EventBase { type: 'agent_start'; source: string; }
export interface AgentCompleteEvent extends EventBase { type: 'agent_complete'; source: string; }
export interface ProgressEvent extends EventBase { type: 'progress'; text: string; }
export type Event = StartEvent | TextEvent | ReasoningEvent | ToolCallEvent | UsageEvent | FinishEvent |
    ErrorEvent | RawEvent | EndEvent | AgentStartEvent | AgentCompleteEvent | ProgressEvent;

/** The core's JSON text of an event (tw_event_to_json); TypeError for an unknown type. */
export declare function eventToJSON(ev: Event): string;

/* ---- errors -------------------------------------------------------------------------------- */

export interface TokenwireErrorOptions {
    code?: string;
    status?: number;
    body?: string | null;
    kind?: string;
    source?: string | null;
    cause?: unknown;
}
/**
 * Base of the errors a stream ends with (the same class names as Python). Argument errors are
 * TypeErrors with Node codes (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE), not these.
 */
export declare class TokenwireError extends Error {
    constructor(message: string, opts?: TokenwireErrorOptions);
    /** 'ERR_HTTP_STATUS', 'ERR_PROVIDER' (or the provider's error type), 'ERR_TIMEOUT',
     * 'ERR_PROTOCOL', 'ABORT_ERR', 'ERR_TRANSPORT', 'ERR_TRUNCATED'. */
    code: string;
    /** HTTP status (or the provider's numeric code), 0 when none. */
    status: number;
    /** Response body / offending data, when known. */
    body: string | null;
    /** The error kind (ErrorKind). */
    kind: string;
    /** Merged streams: the source the error came from. */
    source: string | null;
}
/** kind 'http': the server answered with a non-2xx status (body = response body). 429 and
 * 5xx are retried first (maxRetries) unless the server's Retry-After is over 60 s: that answer
 * is delivered at once, with the value in the message and in `retryAfter`. */
export declare class HTTPError extends TokenwireError {
    constructor(message: string, opts?: TokenwireErrorOptions & { retryAfter?: number | null });
    /** Seconds from the answer's Retry-After header; null when it had none. */
    retryAfter: number | null;
}
/** kind 'provider': the provider sent an error inside a 2xx stream; code = its error type. */
export declare class ProviderError extends TokenwireError {}
/** kind 'timeout': a connect, first-byte, idle, event, total or paused timeout fired. */
export declare class TimeoutError extends TokenwireError {}
/** kind 'protocol': a 2xx body that is not an event stream (a content type the dialect cannot
 * read, e.g. text/html, named in the message; or bytes that held no event at all). One
 * malformed or oversized event is not this: it is a recoverable error event. */
export declare class ProtocolError extends TokenwireError { events?: unknown[]; }
/** kind 'transport': connection failure or reset. */
export declare class TransportError extends TokenwireError {}
/** kind 'truncated': the body ended before the dialect's end marker and without a finish
 * reason; everything received came first. */
export declare class TruncatedError extends TokenwireError {}
/** kind 'cancelled'. (An AbortSignal's own reason is thrown when it has one.) */
export declare class AbortError extends TokenwireError {}
/** The class of an error kind ('truncated' -> TruncatedError); TokenwireError if unknown. */
export declare function errorClass(kind: string): typeof TokenwireError;

/* ---- parsers ------------------------------------------------------------------------------- */

export interface SSEEvent {
    /** Event type; "message" when no event field was given. */
    event: string;
    /** Data lines joined with "\n". */
    data: string;
    /** The last event id (persists across events), "" if none. */
    id: string;
    /** This event's retry field in ms, or null. */
    retry: number | null;
}
type Bytes = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** Incremental WHATWG "parse an event stream" parser; input may be split anywhere. */
export declare class SSEParser {
    /** lastEventId: the id to start from (the Last-Event-ID a reconnect sent); events carry it
     * until the stream sets another. */
    constructor(opts?: { maxEventSize?: number; lastEventId?: string });
    /** @throws ProtocolError (with `.events` parsed before it) when an event exceeds maxEventSize. */
    feed(chunk: Bytes): SSEEvent[];
    /** Ends the stream: an unterminated event (and its id) is discarded, per the spec; the
     * last event id is kept, so the parser can read the next connection. Returns []. */
    finish(): SSEEvent[];
    /** Forgets everything, the last event id included. */
    reset(): void;
    /** The last event ID string: the id in effect at the last dispatched event (id-only blocks
     * count once their blank line came), or the starting one. */
    readonly lastEventId: string;
}

/** Framing + JSON decoding of one dialect into normalized events. */
export declare class Decoder {
    /** accumulate (default true): summary() keeps text and reasoning. */
    constructor(dialect: Dialect, opts?: { maxEventSize?: number; accumulate?: boolean });
    readonly dialect: Dialect;
    feed(chunk: Bytes): Event[];
    /** End of input: flushes deferred events, then `end`, or the error that ends the input
     * (truncated, not an event stream). */
    finish(): Event[];
    /** Decodes a whole non-streaming JSON response body. */
    decodeBody(body: Bytes): Event[];
    /** True once the dialect's end marker or a terminal provider error was seen. */
    readonly done: boolean;
    /** The core's summary of every event decoded so far. */
    summary(): Omit<Summary, 'metrics'>;
}

/* ---- client and streams -------------------------------------------------------------------- */

/** Timeouts in milliseconds; 0 = none. What is not given keeps the core's default
 * (DEFAULT_TIMEOUTS). */
export interface TimeoutFields {
    /** Default 10000. */
    connect?: number;
    /** Request start to the first body byte. Default 600000. */
    firstByte?: number;
    /** Max gap between body bytes (heartbeat comments count). Default 600000. */
    idle?: number;
    /** Max gap between events (heartbeat comments do not count). Default 0. */
    event?: number;
    /** Whole stream. Default 0. */
    total?: number;
    /** Max time the transfer stays paused because nobody reads the stream (its queue is
     * full); then the upstream connection is closed and, after the events received before,
     * the stream ends with a TimeoutError. Default 300000 (5 min). */
    paused?: number;
    /** Request start to the first text, reasoning or tool call. Default 0. With a fallback,
     * its expiry moves on to the next request. */
    firstToken?: number;
}
/** A number is the idle timeout (max gap between body bytes). */
export type Timeout = number | TimeoutFields;
export type HeadersLike = Record<string, string | number | undefined | null> | Headers |
    Map<string, string> | Array<[string, string]>;
/** Query parameters, appended to the URL and percent-encoded by the core (every byte but
 * RFC 3986 unreserved ones: a space is %20). */
export type QueryLike = Record<string, string | number | boolean | undefined> | URLSearchParams |
    Map<string, string> | Array<[string, string]>;

export interface ClientOptions {
    /** e.g. "https://api.openai.com/v1" */
    baseURL: string;
    /** Sent the dialect's way (Authorization: Bearer; x-api-key for anthropic,
     * x-goog-api-key for gemini) unless `auth` says otherwise. A header of the same name in
     * `headers` (any case) replaces it. */
    apiKey?: string;
    /** How the API key is sent; e.g. 'azure' for Azure OpenAI's api-key header. */
    auth?: Auth;
    /** Sent with every request. The core adds, unless given here or per stream (names
     * compared case-insensitively): the API key's header, anthropic-version: 2023-06-01
     * (anthropic), Content-Type: application/json (with a body), Accept: text/event-stream
     * (application/x-ndjson for ollama / ndjson). */
    headers?: HeadersLike;
    /** Default 'openai'. */
    dialect?: Dialect;
    timeout?: Timeout;
    /** Retries before the first body byte: 429 / 5xx answers (honouring a Retry-After of up to
     * 60 s) and failures before the whole request was sent (resolve, connect, TLS, a reset
     * while sending); default 2. */
    maxRetries?: number;
    /** Also retry a transport failure that came after the whole request was sent (the server
     * may have received it, acted on it and billed it). Default false: that failure is
     * delivered as a TransportError. */
    retrySent?: boolean;
    http2?: boolean;
    /** Default true. */
    verifyPeer?: boolean;
    /** Path of a PEM CA bundle to verify the server with, instead of the system's. */
    caFile?: string;
    /** Cap on one SSE event / NDJSON line in bytes (default 64 MiB). */
    maxEventSize?: number;
    /** The summary keeps text and reasoning (default true). false: summary.text, reasoning
     * and each choice's text are null and a long stream holds no more than its current batch
     * (listeners, iterators and relays still get every delta; tool calls, usage, finish
     * reasons are kept). */
    accumulate?: boolean;
}

export interface StreamOptions {
    /** Default 'POST'. */
    method?: string;
    /** Serialized as the JSON request body. */
    json?: unknown;
    body?: Bytes;
    /** Added to the client's headers; they replace the core's defaults of the same name. */
    headers?: HeadersLike;
    query?: QueryLike;
    signal?: AbortSignal;
    dialect?: Dialect;
    /** Overrides the client's auth for this request. */
    auth?: Auth;
    timeout?: Timeout;
    /** Overrides the client's retrySent for this request. */
    retrySent?: boolean;
    /** Overrides the client's accumulate for this stream. */
    accumulate?: boolean;
    /** Requests (client.request(...), of any client) sent in order when the one before fails
     * before its first token (HTTP error, connect / first-byte / first-token timeout,
     * transport error, a body that is not an event stream, a provider error), after its own
     * retries. Only the winner's events are delivered; metrics().fallbackIndex says which. */
    fallback?: Request | Request[];
    /** An id of your choosing (a task, a conversation; several streams may share one) under
     * which client.cancel(id) finds the stream. */
    id?: string;
    /** Simulated streaming of an answer that comes as one JSON body: deltas of `chars`
     * characters, one every `interval` ms (default 0: all at once). */
    simulate?: { chars: number; interval?: number };
}

/** A request prepared by Client.request() and not sent: a fallback of Client.stream(). */
export declare class Request {
    readonly method: string;
    readonly url: string;
    readonly dialect: Dialect;
}

/* ---- summary ------------------------------------------------------------------------------- */

/*
 * The summary is the core's (tw_summary, kept by the engine per stream, the same in Python and
 * the CLI): its JSON (tw_summary_to_json) with every key in camelCase (finish_reason_raw ->
 * finishReasonRaw, tool_calls -> toolCalls, input_tokens -> inputTokens, ...), plus metrics.
 */
/** Usage from the last usage event; total = input + output when the provider gave no total. */
export interface Usage {
    inputTokens: number | null;
    outputTokens: number | null;
    totalTokens: number | null;
}
/** A tool call assembled per index: the first non-empty id and name win, argument deltas are
 * concatenated in order. */
export interface ToolCall {
    index: number;
    id: string | null;
    name: string | null;
    /** The assembled arguments (JSON text). */
    arguments: string;
}
/** One of the provider's choices (OpenAI n > 1, Gemini candidates); dialects whose indexes
 * are content blocks (Anthropic, Responses) have one. */
export interface Choice {
    index: number;
    /** null with accumulate: false. */
    text: string | null;
    reasoning: string | null;
    finishReason: FinishReason | null;
    finishReasonRaw: string | null;
}
/** Finish reasons normalized (stop: stop, end_turn, STOP, completed...; length: length,
 * max_tokens, MAX_TOKENS...; tool_calls: tool_calls, tool_use...; content_filter: SAFETY,
 * refusal...; error; other). The provider's own spelling is in finishReasonRaw. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other';
/** Times in seconds. */
export interface Metrics {
    connectTime: number;
    ttfb: number;
    ttft: number;
    duration: number;
    gapP50: number;
    gapP99: number;
    textEvents: number;
    events: number;
    bytes: number;
    retries: number;
    /** Which request of the fallback chain the stream is on: 0 the first. */
    fallbackIndex: number;
    /** A JSON answer re-chunked by the simulate option. */
    simulated: boolean;
    httpStatus: number;
    httpVersion: number;
    /** The request went out on a kept-alive connection. */
    connectionReused: boolean;
    /** Seconds from the last Retry-After header the server sent; 0 when none. */
    retryAfter: number;
    /** true: the answer was an event stream; false: one JSON body (stream: false). */
    streamed: boolean;
    /** From the first content event (text, reasoning, tool call) to the end. */
    generationTime: number;
    /** Output tokens (usage; else content events) per second of generationTime; 0 if unknown. */
    tokensPerSecond: number;
}
export interface Summary {
    id: string | null;
    model: string | null;
    /** Choice 0's text (null with accumulate: false). */
    text: string | null;
    /** Choice 0's reasoning (null with accumulate: false). */
    reasoning: string | null;
    /** Choice 0's finish reason, normalized; null when none came. */
    finishReason: FinishReason | null;
    /** Choice 0's finish reason as the provider spelled it. */
    finishReasonRaw: string | null;
    choices: Choice[];
    toolCalls: ToolCall[];
    usage: Usage | null;
    /** 'end': a clean end; 'error': the terminal error below; null: not ended (cancelled). */
    end: 'end' | 'error' | null;
    error: { kind: ErrorKind; status: number; message: string | null } | null;
    /** Bad events skipped (recoverable error events). */
    recoverableErrors: number;
    /** Added by the binding (null for a stream aborted before it started). */
    metrics: Metrics | null;
}

/**
 * An app's own vocabulary, compiled once by the core (tw_encoder_new_template) and written in
 * C. Slots: a string that is exactly "{field}" becomes the field's JSON value, "{field}" inside
 * text is interpolated ("{{" / "}}" literal braces). Fields: type, index, text, id, name,
 * arguments, reason, finish_reason, input_tokens, output_tokens, total_tokens, kind, status,
 * raw, source, recoverable, seq, text_so_far, length, usage, summary, constants.<name>.
 */
export interface TemplateSpec {
    /** Default 'sse'; 'ndjson' writes one JSON line per event (application/x-ndjson). */
    framing?: 'sse' | 'ndjson';
    constants?: Record<string, unknown>;
    /** Per event type (EventType); null or unlisted: nothing is written. */
    events?: Partial<Record<EventType, { event?: string; data: unknown } | null>>;
    /** Written once at the end. */
    finish?: { event?: string; data: unknown };
}

/** A format for toReadableStream / toResponse / streamHeaders: a built-in name, or a template
 * (a spec object, serialized with JSON.stringify, or its JSON text). A bad spec throws a
 * TypeError with code 'ERR_INVALID_ARG_VALUE' and the core's message. */
export type RelayFormat = Format | { template: TemplateSpec | string };

export interface ReadableStreamOptions {
    /** Default 'openai' ('events' for merged streams). */
    format?: RelayFormat;
    /** SSE comment heartbeat after this many ms of upstream silence; 0 = off. Default 15000. */
    heartbeatMs?: number;
    /** Response id for 'openai' chunks. */
    id?: string;
    /** Default model name for 'openai' chunks. */
    model?: string;
    /**
     * Event ids for resumable relays (the core's tw_encoder_opts.event_id_prefix): every SSE
     * event starts with `id: <streamId>:<seq>` (comments / heartbeats get none), every NDJSON
     * line with `"event_id": "<streamId>:<seq>"`; 'text' gets none. true: a random stream id
     * (crypto.randomUUID()); a string: that stream id (no CR, LF or NUL); { prefix, firstSeq }:
     * resume, seq counting from firstSeq (e.g. the client's Last-Event-ID seq + 1). Default none.
     */
    eventIds?: boolean | string | { prefix: string; firstSeq?: number };
    /** Append the relay to Redis from C (event ids turned on): resumable on any process. */
    tee?: RedisTee;
    /** With tee: the upstream outlives the reader (true: abandoned after 60 s without a
     * resume reader; a number: that many seconds); stopped by tee.requestStop(streamId). */
    detach?: boolean | number;
}

/** What toReadableStream returns: the bytes, plus the event ids' stream id for the app to store. */
export interface RelayStream extends ReadableStream<Uint8Array> {
    /** The stream id of the event ids, null without eventIds. */
    readonly streamId: string | null;
    /** The seq the next event id will carry (tw_encoder_next_event_seq), null without eventIds. */
    nextEventSeq(): number | null;
}
export interface ResponseOptions extends ReadableStreamOptions {
    status?: number;
    headers?: HeadersLike;
}

export declare class Client {
    constructor(opts: ClientOptions);
    readonly baseURL: string;
    readonly dialect: Dialect;
    /**
     * Starts a streaming request; `path` is appended to baseURL (absolute URLs are used as is).
     * @throws TypeError with code 'ERR_INVALID_ARG_VALUE', before anything is sent, when the
     * method is not an RFC 9110 token, the URL has a control character, space or non-ASCII
     * byte, or a header (the API key's included) has a CR, LF, NUL or other control character:
     * the message names the field and the byte position, never the value.
     */
    stream(path: string, opts?: StreamOptions): Stream;
    /** A request of this client, prepared and not sent: a fallback for stream(). The
     * stream-wide options (accumulate, total and paused timeouts) are the stream's own. */
    request(path: string, opts?: Omit<StreamOptions, 'signal' | 'fallback' | 'id' | 'simulate'>): Request;
    /** Cancels the running streams started with this id on this thread's engine; how many. */
    cancel(id: string): number;
    /** Opens a connection to baseURL ahead of the first request. */
    prewarm(): void;
}

/**
 * One streaming response. Consume it one way: listeners alone (flowing), `for await`
 * (events), `text()` (strings), `toReadableStream()` (bytes) or merge(). Listeners observe
 * whichever consumes it, attached before or after: `on('text')` hears every delta on every
 * path. The end is one terminal event, last: `end` (then 'end' with the summary, iterators
 * finish) or an error that is not recoverable (then the matching TokenwireError: iterators
 * throw it, 'error' listeners get it, finalSummary() rejects with it). Recoverable error
 * events come in order and the stream goes on. The summary is the core's on every path.
 */
export declare class Stream extends EventEmitter implements AsyncIterable<Event> {
    on(event: 'start', listener: (ev: StartEvent) => void): this;
    on(event: 'text', listener: (text: string, ev?: TextEvent) => void): this;
    on(event: 'reasoning', listener: (text: string, ev: ReasoningEvent) => void): this;
    on(event: 'tool_call', listener: (ev: ToolCallEvent) => void): this;
    on(event: 'usage', listener: (ev: UsageEvent) => void): this;
    on(event: 'finish', listener: (reason: string | null, ev: FinishEvent) => void): this;
    on(event: 'raw', listener: (ev: RawEvent) => void): this;
    on(event: 'progress', listener: (text: string, ev: ProgressEvent) => void): this;
    on(event: 'event', listener: (ev: Event) => void): this;
    on(event: 'end', listener: (summary: Summary) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'close', listener: () => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
    once(event: 'end', listener: (summary: Summary) => void): this;
    once(event: 'error', listener: (err: Error) => void): this;
    once(event: string | symbol, listener: (...args: any[]) => void): this;

    /** Cancels the request (the upstream connection is closed); iterators end without error. */
    cancel(): void;
    abort(): void;
    readonly done: boolean;
    /** The summary once ended (also after an error or cancel()), else null. */
    readonly summary: Summary | null;
    /** Resolves with the summary at the end (consumes the stream if nothing else does). */
    finalSummary(): Promise<Summary>;
    /** The summary's text; rejects with a TypeError on a stream with accumulate: false. */
    fullText(): Promise<string>;
    metrics(): Metrics | null;
    /** Every event but the terminal one (end, or the error it throws). */
    [Symbol.asyncIterator](): AsyncIterator<Event>;
    /** Async iterable of text deltas. */
    text(): AsyncIterableIterator<string>;
    /** Bytes encoded in C; pulling drives backpressure; cancel() cancels upstream. */
    toReadableStream(opts?: ReadableStreamOptions): RelayStream;
    /** The event ids' stream id chosen by toReadableStream({ eventIds }), else null. */
    readonly streamId: string | null;
    /** toReadableStream wrapped in a Response with streamHeaders(format). */
    toResponse(opts?: ResponseOptions): Response;
}

export type MergeResult = Record<string, { summary: Summary } | { error: Error }>;

/** Events of several named streams in arrival order, framed by the core's rule (tw_merge.h,
 * the same in Python): agent_start just before a source's first event, its events tagged with
 * `source` (its end event is not forwarded), its terminal error once (not thrown),
 * agent_complete right after its terminal event; the others go on. Done when every source
 * completed. 'end' gives each source's summary or error. */
export declare class MergedStream extends EventEmitter implements AsyncIterable<Event> {
    on(event: 'event', listener: (ev: Event & { source: string }) => void): this;
    on(event: 'text', listener: (text: string, ev: TextEvent & { source: string }) => void): this;
    on(event: 'end', listener: (results: MergeResult) => void): this;
    on(event: 'close', listener: () => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
    /** Cancels every source stream. */
    cancel(): void;
    readonly done: boolean;
    [Symbol.asyncIterator](): AsyncIterator<Event & { source: string }>;
    /** Default format 'events'; eventIds number the merged events across sources. */
    toReadableStream(opts?: ReadableStreamOptions): RelayStream;
    /** The event ids' stream id chosen by toReadableStream({ eventIds }), else null. */
    readonly streamId: string | null;
    toResponse(opts?: ResponseOptions): Response;
}

export declare function merge(streams: Record<string, Stream> | Map<string, Stream>,
    opts?: { signal?: AbortSignal }): MergedStream;

/** Content-Type plus the headers that stop Next.js / proxies from buffering a relay; for a
 * template, those of its framing (tw_encoder_headers). */
export declare function streamHeaders(format?: RelayFormat, extra?: HeadersLike): Record<string, string>;

/** Options of tw.Encoder. */
export interface EncoderOptions {
    /** Response id for 'openai' chunks. */
    id?: string;
    /** Default model name for 'openai' chunks. */
    model?: string;
    /** The source's dialect: tells 'openai' whether an event index is a choice. */
    dialect?: Dialect;
    /** Event ids, as for toReadableStream. */
    eventIds?: boolean | string | { prefix: string; firstSeq?: number };
    /** Template constants for this encoder (declared in the spec's "constants"; JSON values).
     * A name the spec does not declare or a value JSON cannot carry is a TypeError. */
    constants?: Record<string, unknown>;
    /** true: one string per event (the WebSocket messages of websocketRelay) instead of bytes. */
    messages?: boolean;
    /** true: a relay of several sources plus app events: finish() ends one source's phase,
     * send / progress write app events, close() ends the output once. */
    phases?: boolean;
}

/**
 * The core's encoders for an app's own loop: events in (the shape a Stream emits), bytes out,
 * written in C. With messages: true every call returns one string per event instead.
 */
export declare class Encoder<M extends boolean = false> {
    constructor(format?: RelayFormat, opts?: EncoderOptions & { messages?: M });
    /** The canonical format name, or the template ({ template: JSON text }). */
    readonly format: Format | { readonly template: string };
    /** The event ids' stream id; null without eventIds. */
    readonly streamId: string | null;
    readonly messages: M;
    /** Encodes one event or several, in order. */
    encode(events: Event | { type: 'end' } | ReadonlyArray<Event | { type: 'end' }>):
        M extends true ? string[] : Buffer;
    /** The format's ending, once (later calls return nothing; encode() then throws). */
    finish(): M extends true ? string[] : Buffer;
    /** An SSE keep-alive comment (SSE formats); empty for the others and in messages mode. */
    heartbeat(): M extends true ? string[] : Buffer;
    /** The HTTP response headers of the output. */
    readonly headers: Record<string, string>;
    /** The seq the next event id carries; null without eventIds. */
    readonly nextEventSeq: number | null;
    /** true: constructed with phases. */
    readonly phases: boolean;
    /** An app event (name: 1-256 bytes, no control characters; payload JSON.stringify'd).
     * TypeError for a bad name or payload; ERR_TOKENWIRE after close(). */
    send(name: string, payload?: unknown): M extends true ? string[] : Buffer;
    /** The app event "progress" {"progress": value (0-1), "status": status}. */
    progress(value: number, status?: string | null): M extends true ? string[] : Buffer;
    /** Ends the output once: final [name, payload] in place of the format's own end. */
    close(final?: readonly [string, unknown] | null): M extends true ? string[] : Buffer;
}

export interface RelayOptions {
    /** Default 'events'. */
    format?: RelayFormat;
    id?: string;
    model?: string;
    eventIds?: boolean | string | { prefix: string; firstSeq?: number };
    /** Template constants for this relay (see EncoderOptions). */
    constants?: Record<string, unknown>;
    /** Keep-alive comments after this much silence (SSE framing); 0: none. Default 15000. */
    heartbeatMs?: number;
}

/** send / progress / pipe / close after close(), or after the reader went away. */
export declare class RelayClosedError extends TokenwireError {}

/**
 * One streamed response made of app events and phases (sources relayed one after the
 * other), all encoded in C by one encoder: event ids continue across phases, each source's
 * end closes only its phase, close() writes the one end (complete, [DONE], AI SDK finish).
 */
export declare class Relay {
    constructor(opts?: RelayOptions);
    readonly format: Format | { readonly template: string };
    /** The event ids' stream id; null without eventIds. */
    readonly streamId: string | null;
    /** The seq the next event id carries; null without eventIds. */
    readonly nextEventSeq: number | null;
    /** The response headers of the format, from the core. */
    readonly headers: Record<string, string>;
    /** true once close() wrote the end or the reader went away. */
    readonly closed: boolean;
    /** An app event now; TypeError for a bad name / payload, RelayClosedError after close. */
    send(name: string, payload?: unknown): void;
    /** The app event "progress"; TypeError outside [0, 1]. */
    progress(value: number, status?: string | null): void;
    /** Relays source as one phase (after the queued ones); resolves with its summary (a
     * merge: its results), rejects with its error, or AbortError when the reader went away. */
    pipe(source: Stream): Promise<Summary>;
    pipe(source: MergedStream): Promise<MergeResult>;
    /** Ends the relay once every phase ended, with final [name, payload] or the format's end. */
    close(final?: readonly [string, unknown] | null): Promise<void>;
    /** The relay's bytes (once per relay); cancelling it cancels the current upstream. */
    toReadableStream(): ReadableStream<Uint8Array> & { readonly streamId: string | null };
    /** A Response of toReadableStream() with the format's headers. */
    toResponse(opts?: { status?: number; headers?: Record<string, string> | Headers }): Response;
}

/** The part of a `ws` WebSocket (npm `ws`) websocketRelay uses. */
export interface RelayWebSocket {
    readonly readyState: number;
    readonly bufferedAmount: number;
    send(data: string, cb?: (err?: Error) => void): void;
    ping(): void;
    terminate(): void;
    close(code?: number): void;
    on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown;
    on(event: 'close' | 'pong' | 'open', listener: () => void): unknown;
    once(event: 'open', listener: () => void): unknown;
    removeListener(event: string, listener: (...args: any[]) => void): unknown;
}

export interface WebSocketRelayOptions {
    /** Default 'events'. */
    format?: RelayFormat;
    id?: string;
    model?: string;
    eventIds?: boolean | string | { prefix: string; firstSeq?: number };
    /** Template constants for this relay (see EncoderOptions). */
    constants?: Record<string, unknown>;
    /** Close the socket (1000) after a relay that ended or was cancelled. Default false. */
    close?: boolean;
    /** Protocol ping every pingMs; the socket is terminated when a ping got no pong by the
     * next one. 0 (default): off. */
    pingMs?: number;
    /** Bytes buffered on the socket before the relay stops taking events (the upstream then
     * pauses); it goes on once the socket flushed them. Default 1 MiB. */
    highWatermark?: number;
}

export interface WebSocketRelayResult {
    /** 'end': the source ended and all was sent; 'cancelled': the client sent
     * {"type":"cancel"}; 'disconnected': the socket closed first (the upstream was cancelled). */
    reason: 'end' | 'cancelled' | 'disconnected';
    /** The client's other messages during the relay, in order: parsed JSON, else the text, or
     * the binary data as received. */
    messages: unknown[];
    streamId: string | null;
    firstEventSeq: number | null;
    nextEventSeq: number | null;
}

/**
 * Relays a Stream or a merge (not yet consumed) over a `ws` WebSocket, one text message per
 * event, encoded in C. Argument errors throw before anything is sent; the promise rejects only
 * when the source is aborted through its own AbortSignal.
 */
export declare function websocketRelay(ws: RelayWebSocket, source: Stream | MergedStream,
    opts?: WebSocketRelayOptions): Promise<WebSocketRelayResult>;
export type TeeNoticeKind = 'lost' | 'stop' | 'down' | 'up' | 'abandoned';

export interface RedisTeeOptions {
    /** redis://[user[:password]@]host[:port][/db] or unix:///path?db=N; default
     * 'redis://127.0.0.1:6379/0'. */
    url?: string;
    /** Key prefix ('<prefix>s:<stream id>'); default 'tw:'. */
    prefix?: string;
    /** Seconds a finished stream stays resumable; default 3600. */
    ttl?: number;
    /** Entries kept per stream (XADD MAXLEN ~); default 10000. */
    maxlen?: number;
    /** true: throw now when Redis is unreachable; false (default): start degraded. */
    require?: boolean;
    liveTtl?: number;
    lingerMs?: number;
    stopPollMs?: number;
    connectTimeoutMs?: number;
    onNotice?: (kind: TeeNoticeKind, streamId: string | null, message: string) => void;
}

/** The Redis Streams tee of resumable relays: one writer thread and connection per process. */
export declare class RedisTee {
    constructor(opts?: RedisTeeOptions);
    readonly available: boolean;
    /** The last 100 notices: [kind, streamId | null, message]. */
    readonly notices: Array<[TeeNoticeKind, string | null, string]>;
    onNotice: RedisTeeOptions['onNotice'] | null;
    /** Stops the producer of streamId on whichever process runs it (through Redis). */
    requestStop(streamId: string): void;
    /** Blocks until what was queued is written (shutdown, tests). */
    flush(timeoutMs?: number): boolean;
    stats(): Record<string, number>;
    close(): void;
}

export declare class ResumeNotFoundError extends Error {
    readonly status: 404;
}

/** Redis cannot be reached: RedisTee({ require: true }), or a resume (status 503). */
export declare class RedisUnavailableError extends Error {
    readonly code: 'ERR_TOKENWIRE_STORE';
    readonly status: 503;
}

export interface ResumeOptions {
    /** The id to resume after; default: the request's Last-Event-ID header, else ?resume=. */
    lastEventId?: string;
    /** The relay's format (response headers); default 'openai'. */
    format?: RelayFormat;
    heartbeatMs?: number;
    /** How long an id not yet written may take to appear (ms); default 500. */
    graceMs?: number;
    headers?: HeadersLike;
    /** Write to this node:http response instead of returning a Response. */
    res?: import('http').ServerResponse;
}

/** Resumes a teed relay: the events after the id, then the live tail until the end. 404 (JSON)
 * for an unknown or expired id, 400 without one, 503 when Redis is unavailable. */
export declare function resumeResponse(tee: RedisTee,
    req?: Request | import('http').IncomingMessage | null,
    opts?: ResumeOptions): Promise<Response | undefined>;
/** The bytes after eventId as a stream; rejects with ResumeNotFoundError (or status 503). */
export declare function resumeStream(tee: RedisTee, eventId: string,
    opts?: { heartbeatMs?: number; graceMs?: number; idleTimeoutMs?: number; sse?: boolean;
        /** How long this reader counts as present for abandonment (ms); 0: not announced. */
        presenceTtlMs?: number },
): Promise<ReadableStream<Uint8Array>>;
export declare function parseEventId(id: string): { streamId: string; seq: number };

export interface EngineOptions {
    ioThreads?: number;
    /** Bytes queued per stream before its transfer is paused (default 1 MiB). */
    queueHighWatermark?: number;
    queueLowWatermark?: number;
    /** Bulk mode: when events arrive faster than ~16,000/s, the JS thread waits this long
     * (ms) between drains to take bigger batches with fewer wakeups; 0 = never. Default 1. */
    coalesceMs?: number;
}
/** Engine settings for this thread; returns false if the engine already started. */
export declare function configure(opts: EngineOptions): boolean;
export interface EngineStats {
    activeStreams: number;
    pausedStreams: number;
    connectionsReused: number;
    streamsStarted: number;
    streamsFinished: number;
    bindingActive: number;
}
export declare function stats(): EngineStats;
