/// <reference types="node" />
/**
 * tokenwire: streaming LLM responses parsed and re-encoded in C (libcurl + simdjson),
 * exposed as event emitters, async iterators and web ReadableStreams.
 */
import { EventEmitter } from 'node:events';

export declare const version: string;

/* ---- events -------------------------------------------------------------------------------- */

export type Dialect = 'openai' | 'openai-responses' | 'anthropic' | 'gemini' | 'ollama' | 'sse' | 'ndjson';
export type Format = 'sse-openai' | 'openai' | 'events' | 'ai-sdk' | 'ndjson' | 'text';
export type ErrorKind = 'http' | 'provider' | 'timeout' | 'protocol' | 'cancelled' | 'transport';

interface EventBase {
    /** Choice / content block / candidate index (0 by default). */
    index: number;
    /** Set on events of a merged stream: the name of the source stream. */
    source?: string;
}
export interface StartEvent extends EventBase { type: 'start'; id: string | null; model: string | null; }
export interface TextEvent extends EventBase { type: 'text'; text: string; }
export interface ReasoningEvent extends EventBase { type: 'reasoning'; text: string; }
/** A tool call delta: concatenate `arguments` per index. */
export interface ToolCallEvent extends EventBase {
    type: 'tool_call';
    id: string | null;
    name: string | null;
    arguments: string | null;
}
/** Token counts; -1 where the provider did not give one. */
export interface UsageEvent extends EventBase {
    type: 'usage';
    inputTokens: number;
    outputTokens: number;
    totalTokens: number;
}
export interface FinishEvent extends EventBase { type: 'finish'; reason: string | null; }
export interface ErrorEvent extends EventBase {
    type: 'error';
    kind: ErrorKind | 'unknown';
    status: number;
    message: string | null;
    /** Provider error type, e.g. "overloaded_error". */
    code: string | null;
    /** Raw body or data that caused the error. */
    raw: string | null;
}
/** Raw SSE event / NDJSON line (dialects 'sse' and 'ndjson', unknown provider events). */
export interface RawEvent extends EventBase {
    type: 'raw';
    event: string | null;
    data: string | null;
    id: string | null;
    retry: number | null;
}
export interface EndEvent extends EventBase { type: 'end'; }
export interface AgentStartEvent extends EventBase { type: 'agent_start'; source: string; }
export interface AgentCompleteEvent extends EventBase { type: 'agent_complete'; source: string; }
export interface ProgressEvent extends EventBase { type: 'progress'; text: string; }
export type Event = StartEvent | TextEvent | ReasoningEvent | ToolCallEvent | UsageEvent | FinishEvent |
    ErrorEvent | RawEvent | EndEvent | AgentStartEvent | AgentCompleteEvent | ProgressEvent;

/* ---- errors -------------------------------------------------------------------------------- */

export interface TokenwireErrorOptions {
    code?: string;
    status?: number;
    body?: string | null;
    kind?: string;
    source?: string | null;
    cause?: unknown;
}
export declare class TokenwireError extends Error {
    constructor(message: string, opts?: TokenwireErrorOptions);
    /** 'ERR_HTTP_STATUS', 'ERR_TIMEOUT', 'ERR_PROTOCOL', 'ERR_CONNECTION', 'ABORT_ERR', or the
     * provider's error type for ProviderError. */
    code: string;
    /** HTTP status (or the provider's numeric code), 0 when none. */
    status: number;
    /** Response body / offending data, when known. */
    body: string | null;
    kind: string;
    /** Merged streams: the source the error came from. */
    source: string | null;
}
/** The server answered with a non-2xx status (body = response body). 429 and 5xx are retried
 * first (maxRetries) unless the server's Retry-After is over 60 s: that answer is delivered at
 * once, with the value in the message and in `retryAfter`. */
export declare class HTTPError extends TokenwireError {
    /** Seconds from the answer's Retry-After header; null when it had none. */
    retryAfter: number | null;
}
/** A connect, first-byte, idle, event, total or paused timeout fired. */
export declare class TimeoutError extends TokenwireError {}
/** Malformed framing / JSON, an oversized event, or a 2xx body that is not an event stream
 * (a content type the dialect cannot read, e.g. text/html, named in the message; or bytes
 * that held no event at all). */
export declare class ProtocolError extends TokenwireError { events?: unknown[]; }
/** The provider sent an error inside a 2xx stream. */
export declare class ProviderError extends TokenwireError {}
/** Connection failure or reset. */
export declare class ConnectionError extends TokenwireError {}
/** Cancelled. (An AbortSignal's own reason is thrown when it has one.) */
export declare class AbortError extends TokenwireError {}

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
    constructor(opts?: { maxEventSize?: number });
    /** @throws ProtocolError (with `.events` parsed before it) when an event exceeds maxEventSize. */
    feed(chunk: Bytes): SSEEvent[];
    /** Ends the stream: an unterminated event is discarded, per the spec. Returns []. */
    finish(): SSEEvent[];
    reset(): void;
    readonly lastEventId: string;
}

/** Framing + JSON decoding of one dialect into normalized events. */
export declare class Decoder {
    constructor(dialect: Dialect, opts?: { maxEventSize?: number });
    readonly dialect: Dialect;
    feed(chunk: Bytes): Event[];
    /** End of input: flushes deferred events and the end marker. */
    finish(): Event[];
    /** Decodes a whole non-streaming JSON response body. */
    decodeBody(body: Bytes): Event[];
    /** True once the dialect's end marker or a terminal provider error was seen. */
    readonly done: boolean;
}

/* ---- client and streams -------------------------------------------------------------------- */

/** Timeouts in milliseconds. A number is the idle timeout (max gap between body bytes). */
export type Timeout = number | {
    connect?: number;
    /** Request start to the first body byte. */
    firstByte?: number;
    /** Max gap between body bytes (heartbeat comments count). */
    idle?: number;
    /** Max gap between events (heartbeat comments do not count). */
    event?: number;
    /** Whole stream. */
    total?: number;
    /** Max time the transfer stays paused because nobody reads the stream (its queue is
     * full); then the upstream connection is closed and, after the events received before,
     * the stream ends with a TimeoutError. Default 300000 (5 min); 0 = none. */
    paused?: number;
};
export type HeadersLike = Record<string, string | number | undefined | null> | Headers |
    Map<string, string> | Array<[string, string]>;

export interface ClientOptions {
    /** e.g. "https://api.openai.com/v1" */
    baseURL: string;
    /** Sent as Authorization: Bearer (x-api-key for anthropic, x-goog-api-key for gemini). */
    apiKey?: string;
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
     * delivered as a ConnectionError. */
    retrySent?: boolean;
    http2?: boolean;
    /** Default true. */
    verifyPeer?: boolean;
    /** Path of a PEM CA bundle to verify the server with, instead of the system's. */
    caFile?: string;
    /** Cap on one SSE event / NDJSON line in bytes (default 64 MiB). */
    maxEventSize?: number;
    /** Keep the text and reasoning for the summary (default true). false: summary.text and
     * summary.reasoning are null and a long stream holds no more than its current batch
     * (listeners and iterators still get every delta; tool calls, usage etc. are kept). */
    accumulate?: boolean;
}

export interface StreamOptions {
    /** Default 'POST'. */
    method?: string;
    /** Serialized as the JSON request body (sets Content-Type). */
    json?: unknown;
    body?: Bytes;
    headers?: HeadersLike;
    query?: Record<string, string> | URLSearchParams;
    signal?: AbortSignal;
    dialect?: Dialect;
    timeout?: Timeout;
    /** Overrides the client's retrySent for this request. */
    retrySent?: boolean;
    /** Overrides the client's accumulate for this stream. */
    accumulate?: boolean;
}

export interface Usage {
    inputTokens: number | null;
    outputTokens: number | null;
    totalTokens: number | null;
}
export interface ToolCall {
    index: number;
    id: string | null;
    name: string | null;
    /** The assembled arguments (JSON text). */
    arguments: string;
}
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
    httpStatus: number;
    httpVersion: number;
    /** The request went out on a kept-alive connection. */
    connectionReused: boolean;
    /** Seconds from the last Retry-After header the server sent; 0 when none. */
    retryAfter: number;
}
export interface Summary {
    id: string | null;
    model: string | null;
    /** Every text delta, concatenated in arrival order; null with accumulate: false. */
    text: string | null;
    /** null with accumulate: false. */
    reasoning: string | null;
    toolCalls: ToolCall[];
    usage: Usage | null;
    finishReason: string | null;
    metrics: Metrics | null;
}

export interface ReadableStreamOptions {
    /** Default 'sse-openai' ('events' for merged streams). */
    format?: Format;
    /** SSE comment heartbeat after this many ms of upstream silence; 0 = off. Default 15000. */
    heartbeatMs?: number;
    /** Response id for 'sse-openai' chunks. */
    id?: string;
    /** Default model name for 'sse-openai' chunks. */
    model?: string;
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
    /** Opens a connection to baseURL ahead of the first request. */
    prewarm(): void;
}

/**
 * One streaming response. Consume it one way: listeners (flowing), `for await` (events),
 * `text()` (strings), or `toReadableStream()` (bytes). Listeners attached before
 * toReadableStream() also receive events.
 */
export declare class Stream extends EventEmitter implements AsyncIterable<Event> {
    on(event: 'start', listener: (ev: StartEvent) => void): this;
    on(event: 'text', listener: (text: string, ev?: TextEvent) => void): this;
    on(event: 'reasoning', listener: (text: string, ev: ReasoningEvent) => void): this;
    on(event: 'tool_call', listener: (ev: ToolCallEvent) => void): this;
    on(event: 'usage', listener: (usage: Usage, ev: UsageEvent) => void): this;
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
    /** The summary once ended, else null. */
    readonly summary: Summary | null;
    /** Resolves with the summary at the end (consumes the stream if nothing else does). */
    finalSummary(): Promise<Summary>;
    /** The summary's text; rejects with a TypeError on a stream with accumulate: false. */
    fullText(): Promise<string>;
    metrics(): Metrics | null;
    [Symbol.asyncIterator](): AsyncIterator<Event>;
    /** Async iterable of text deltas. */
    text(): AsyncIterableIterator<string>;
    /** Bytes encoded in C; pulling drives backpressure; cancel() cancels upstream. */
    toReadableStream(opts?: ReadableStreamOptions): ReadableStream<Uint8Array>;
    /** toReadableStream wrapped in a Response with streamHeaders(format). */
    toResponse(opts?: ResponseOptions): Response;
}

export type MergeResult = Record<string, { summary: Summary } | { error: Error }>;

/** Events of several named streams in arrival order, tagged with `source`. */
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
    /** Default format 'events'. */
    toReadableStream(opts?: ReadableStreamOptions): ReadableStream<Uint8Array>;
    toResponse(opts?: ResponseOptions): Response;
}

export declare function merge(streams: Record<string, Stream> | Map<string, Stream>,
    opts?: { signal?: AbortSignal }): MergedStream;

/** Content-Type plus the headers that stop Next.js / proxies from buffering a relay. */
export declare function streamHeaders(format?: Format, extra?: HeadersLike): Record<string, string>;

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
