/* tokenwire/browser: a reader of the relay formats "events", "ndjson" and "text" for browsers
 * and Node >= 18 (pure JS, web APIs only). See node/README.md, "Reading a relay in the
 * browser". */

/** The relay formats this module reads. */
export type RelayFormat = 'events' | 'ndjson' | 'text';

/**
 * One event of a relay body.
 * - events: type is the SSE event name (`agent_start`, `agent_chunk`, `progress`, `error`,
 *   `agent_complete`, `complete`, or a template's names; `message` when unnamed), data the
 *   parsed JSON of its data lines.
 * - ndjson: type is the line's `type` key (`text`, `usage`, `error`, `end`, ...; `message`
 *   when it has none), data the parsed line.
 * - text: type `text`, data the decoded text of one read.
 */
export interface RelayMessage {
    type: string;
    data: any;
    /** The last event id seen (SSE `id:` lines, NDJSON `event_id` keys); '' when none. */
    id: string;
    /** The data as received: the SSE data lines joined by '\n', the NDJSON line, the text. */
    raw: string;
    /** The answer text this event carries (events: agent_chunk of type text; ndjson: a text
     * line; text: every chunk); undefined for other events. */
    text?: string;
    /** Set on the relay's `error` events. */
    error?: RelayError;
}

export type RelayErrorKind =
    | 'http' | 'provider' | 'timeout' | 'protocol' | 'cancelled' | 'transport' | 'truncated'
    | 'network' | 'none' | 'unknown' | (string & {});

/**
 * An error event of the relay (kind, status, source from its JSON) or a failure of the
 * reader: kind 'http' (the relay answered non-2xx; status and body set), 'network' (the body
 * failed mid-read; cause set), 'protocol' (not the format: a line that is not JSON, an
 * unknown Content-Type).
 */
export class RelayError extends Error {
    constructor(message: string, opts?: {
        kind?: RelayErrorKind; status?: number; source?: string | null; recoverable?: boolean;
        body?: string | null; event?: RelayMessage; cause?: unknown;
    });
    readonly name: 'RelayError';
    kind: RelayErrorKind;
    /** HTTP status, or the provider's code; 0 when none. */
    status: number;
    /** The agent (events) or source (ndjson) the error came from; null when none. */
    source: string | null;
    /** A recoverable error (a malformed upstream line): decoding went on after it. */
    recoverable: boolean;
    /** The offending body or line, when the reader found one. */
    body: string | null;
    /** The relay's error event this error came from, or null. */
    event: RelayMessage | null;
}

/**
 * Incremental decoder of one relay body. Bytes may be split anywhere: inside a UTF-8
 * sequence, between CR and LF, several events in one chunk. A leading BOM is dropped;
 * invalid UTF-8 becomes U+FFFD.
 */
export class StreamDecoder {
    constructor(format: RelayFormat);
    readonly format: RelayFormat;
    /** The last event id seen so far. */
    lastEventId: string;
    /** The events that chunk completes. Throws RelayError (kind 'protocol') on a line or
     * data that is not JSON (events, ndjson). */
    feed(chunk: Uint8Array | string): RelayMessage[];
    /** At the end of the body: an ndjson line without its newline is still delivered; an SSE
     * event without its blank line is dropped (WHATWG). Later calls return []. */
    finish(): RelayMessage[];
}

export interface ReadEventsOptions {
    /** Default: from the response's Content-Type; required when a stream is passed. */
    format?: RelayFormat;
    /** Aborting cancels the body (the connection closes); the iteration throws its reason. */
    signal?: AbortSignal;
    /** 'throw' (default): a non-recoverable error event is thrown as its RelayError and
     * reading stops. 'yield': it is yielded with `error` set, and reading goes on. */
    errors?: 'throw' | 'yield';
}

/**
 * The events of a relay body, as they arrive. Breaking out of the loop cancels the body.
 * Throws RelayError ('http' for a non-2xx response, 'network', 'protocol', or the relay's
 * error event) or, when aborted, the signal's reason.
 */
export function readEvents(
    input: Response | ReadableStream<Uint8Array>,
    opts?: ReadEventsOptions,
): AsyncGenerator<RelayMessage, void, undefined>;

/** The event TokenwireReader dispatches (EventSource's MessageEvent fields, and more). */
export class RelayEvent extends Event {
    /** The wire name of the event ('agent_chunk', 'text', ...); the type for 'open' / 'end'. */
    readonly event: string;
    readonly data: any;
    readonly lastEventId: string;
    readonly text: string | undefined;
    readonly raw: string | undefined;
    /** 'error' events: the relay's error, or the failure that closed the reader. */
    readonly error: RelayError | null;
}

export interface TokenwireReaderOptions {
    format?: RelayFormat;
    /** Aborting closes the reader, like close(). */
    signal?: AbortSignal;
    /** The fetch options when input is a URL or a Request (method, headers, body, ...). */
    init?: RequestInit;
    /** Replaces globalThis.fetch. */
    fetch?: typeof fetch;
}

type Handler = ((this: TokenwireReader, ev: RelayEvent) => any) | null;

/**
 * EventSource-like reader of a relay. For each wire event, dispatches in order: its own name
 * (unless 'message'; the relay's error events go to 'error'), 'text' when it carries answer
 * text, then 'message' (every event, unlike EventSource). Also 'open', 'error' (relay error
 * events, reading goes on; a failure of the reader, after which readyState is CLOSED) and
 * 'end' (the body ended). No automatic reconnection.
 */
export class TokenwireReader extends EventTarget {
    constructor(
        input: string | URL | Request | Response | ReadableStream<Uint8Array>,
        opts?: TokenwireReaderOptions,
    );
    static readonly CONNECTING: 0;
    static readonly OPEN: 1;
    static readonly CLOSED: 2;
    readonly url: string;
    readyState: 0 | 1 | 2;
    lastEventId: string;
    onopen: Handler;
    onmessage: Handler;
    onerror: Handler;
    onend: Handler;
    /** Resolves when reading stops (end, error or close()); never rejects. */
    readonly finished: Promise<void>;
    /** Stops reading and drops the connection; no event follows. */
    close(): void;
    addEventListener(
        type: string,
        listener: ((ev: RelayEvent) => any) | EventListenerObject | null,
        options?: boolean | AddEventListenerOptions,
    ): void;
}
