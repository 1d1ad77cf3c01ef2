"""Type stubs of tokenwire._native, the C extension.

The model is the core's (csrc/): normalized events, recoverable errors (one bad event is an
'error' event with recoverable=True and the stream goes on), exactly one terminal event per
stream ('end', or an error that is not recoverable), and the summary (tw_summary) of what a
stream said. The binding adds the loop integration and the Python idioms.

Errors: a method, URL or header the engine refuses (RFC 9110 token method and header names;
URL printable ASCII without spaces; header values and the API key without CR, LF, NUL or other
control characters) raises ValueError naming the field and the byte position, before anything
is sent. Network, HTTP and stream failures are tokenwire.Error subclasses, one per error kind of
the core (ERROR_CLASSES).
"""
from typing import (Any, AsyncIterator, Awaitable, Callable, Dict, Iterator, List, Literal,
                    Mapping, Optional, Sequence, Tuple, Type, TypedDict, Union)

__version__: str

EventType = Literal["start", "text", "reasoning", "tool_call", "usage", "finish", "error", "raw",
                    "end", "agent_start", "agent_complete", "progress"]
ErrorKind = Literal["http", "provider", "timeout", "protocol", "cancelled", "transport",
                    "truncated"]
Dialect = Literal["openai", "openai-responses", "anthropic", "gemini", "ollama", "sse", "ndjson"]
FormatName = Literal["openai", "sse-openai", "events", "ai-sdk", "ndjson", "text"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "other"]
# tw_auth_from_name: "azure" is an alias of "api-key", "dialect" the same as None.
Auth = Literal["bearer", "api-key", "azure", "x-api-key", "x-goog-api-key", "dialect"]
Buffer = Union[bytes, bytearray, memoryview]

# The core's name tables (tw_event_type_name, tw_error_kind_name, tw_dialect_name,
# tw_format_name, tw_finish_name), in the core's order.
EVENT_TYPES: Tuple[str, ...]
ERROR_KINDS: Tuple[str, ...]
DIALECTS: Tuple[str, ...]
FORMATS: Tuple[str, ...]
FINISH_REASONS: Tuple[str, ...]
# How Client(auth=...) may send the API key (None: the dialect's way): tw_auth_name's
# canonical names; tw_auth_from_name also takes the alias "azure" (= "api-key").
AUTHS: Tuple[str, ...]
# tw_request_opts_init's values: connect_timeout 10, first_byte_timeout 600, idle_timeout
# 600, event_timeout 0, total_timeout 0, paused_timeout 300 (seconds, 0 = none),
# max_retries 2, retry_base_delay 0.5, accumulate True, verify_peer True.
REQUEST_DEFAULTS: Dict[str, Any]

class Error(Exception):
    """Base of every tokenwire error. Instances carry these attributes (None when unknown)."""
    kind: Optional[ErrorKind]   # class attribute of each subclass too
    status: Optional[int]       # HTTP status, or the provider's numeric code
    message: Optional[str]
    body: Optional[str]         # the raw body or data that caused it
    provider_type: Optional[str]  # the provider's error type, e.g. 'overloaded_error'

class HTTPError(Error): ...       # kind 'http': a non-2xx answer
class ProviderError(Error): ...   # kind 'provider': an error inside a 2xx stream
class TimeoutError(Error, TimeoutError): ...  # type: ignore[misc]
# kind 'timeout': connect, first byte, idle, event, total, or paused (the consumer stopped
# reading and the transfer stayed paused longer than paused_timeout).
class ProtocolError(Error):
    # kind 'protocol': broken framing, or a 2xx answer that is not an event stream (a
    # text/html page, bytes and no event: .body has the first bytes). SSEParser.feed raises
    # it for an oversized event, with the events dispatched before it in .events.
    events: List["SSEEvent"]
class TransportError(Error): ...  # kind 'transport': connection failed or reset; also a stream
                                  # started before fork(), read in the child
class TruncatedError(Error): ...  # kind 'truncated': the body ended before the dialect's end
                                  # marker and without a finish reason
class AbortError(Error): ...      # kind 'cancelled': a cancelled stream read again (sync
                                  # iteration, final()); never asyncio.CancelledError

# kind -> class, for every kind of the core.
ERROR_CLASSES: Dict[str, Type[Error]]

class Event:
    def __init__(self, type: EventType, *, text: Optional[str] = ..., index: int = ...,
                 id: Optional[str] = ..., name: Optional[str] = ...,
                 arguments: Optional[str] = ..., reason: Optional[str] = ...,
                 input_tokens: Optional[int] = ..., output_tokens: Optional[int] = ...,
                 total_tokens: Optional[int] = ..., kind: Optional[ErrorKind] = ...,
                 status: int = ..., raw: Optional[str] = ..., source: Optional[str] = ...,
                 retry: Optional[int] = ..., recoverable: bool = ...) -> None: ...
    @property
    def type(self) -> EventType: ...
    @property
    def text(self) -> Optional[str]: ...
    @property
    def index(self) -> int: ...
    @property
    def id(self) -> Optional[str]: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def arguments(self) -> Optional[str]: ...
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def raw(self) -> Optional[str]: ...
    source: Optional[str]
    @property
    def input_tokens(self) -> Optional[int]: ...
    @property
    def output_tokens(self) -> Optional[int]: ...
    @property
    def total_tokens(self) -> Optional[int]: ...
    @property
    def retry(self) -> Optional[int]: ...
    @property
    def kind(self) -> Optional[ErrorKind]: ...
    @property
    def status(self) -> Optional[int]: ...
    @property
    def recoverable(self) -> Optional[bool]: ...  # error events: True = the stream went on
    @property
    def message(self) -> Optional[str]: ...
    @property
    def model(self) -> Optional[str]: ...
    @property
    def event(self) -> Optional[str]: ...
    @property
    def data(self) -> Optional[str]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    # The core's JSON object of the event (tw_event_to_json: the lines of `tokenwire parse`
    # and of the ndjson format): 'type', then only the fields set, in the core's names:
    # start: id, model; text / reasoning: index, text; tool_call: index, id, name, arguments;
    # usage: input_tokens, output_tokens, total_tokens; finish: index, reason; error: kind,
    # status, message, name, raw, recoverable; raw: event, data, id, retry; plus source.

# The dict shapes below exist for type checkers only (not importable at run time).

class ToolCall(TypedDict):
    index: int
    id: Optional[str]
    name: Optional[str]
    arguments: str

class Usage(TypedDict):
    input_tokens: Optional[int]
    output_tokens: Optional[int]
    total_tokens: Optional[int]  # derived from input + output when the provider gave none

class Choice(TypedDict):
    index: int
    text: Optional[str]
    reasoning: Optional[str]
    finish_reason: Optional[FinishReason]
    finish_reason_raw: Optional[str]

class SummaryError(TypedDict):
    kind: ErrorKind
    status: int
    message: str

class Summary(TypedDict):
    """tw_summary_to_json: one definition of a stream's result (csrc/tw_summary.h)."""
    id: Optional[str]
    model: Optional[str]
    text: Optional[str]          # choice 0; None with accumulate=False
    reasoning: Optional[str]     # choice 0; None with accumulate=False
    finish_reason: Optional[FinishReason]
    finish_reason_raw: Optional[str]
    choices: List[Choice]
    tool_calls: List[ToolCall]
    usage: Optional[Usage]
    end: Optional[Literal["end", "error"]]  # None while the stream runs
    error: Optional[SummaryError]           # the terminal error
    recoverable_errors: int

class SSEEvent:
    def __init__(self, data: str, event: str = ..., id: str = ...,
                 retry: Optional[int] = ...) -> None: ...
    @property
    def event(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def retry(self) -> Optional[int]: ...

class SSEParser:
    # last_event_id: start from a known id (the one a reconnect sent in Last-Event-ID).
    def __init__(self, last_event_id: Optional[str] = ..., *,
                 max_event_size: int = ...) -> None: ...
    def feed(self, data: Buffer) -> List[SSEEvent]: ...
    def finish(self) -> List[SSEEvent]: ...  # discards an unterminated event; keeps the id
    def reset(self) -> None: ...             # forgets everything, the id included
    @property
    def last_event_id(self) -> str: ...
    # The id in effect at the last dispatch (an id-only block counts), or the starting one;
    # never the id of a block not dispatched yet; kept after finish().

class Decoder:
    def __init__(self, dialect: Dialect, *, max_event_size: int = ...) -> None: ...
    def feed(self, data: Buffer) -> List[Event]: ...
    def finish(self) -> List[Event]: ...  # the terminal event: 'end', or an error
    def decode_body(self, body: Buffer) -> List[Event]: ...
    @property
    def done(self) -> bool: ...
    @property
    def dialect(self) -> Dialect: ...
    @property
    def summary(self) -> Summary: ...  # of every event decoded so far, built in C

# A template spec (schema: tw_encoder_new_template in csrc/tw_encoder.h):
#   {"framing": "sse" | "ndjson", "constants": {name: JSON value},
#    "events": {<event type>: {"event": <SSE event name>, "data": <JSON template>} | None},
#    "finish": {"event": ..., "data": <JSON template>}}
# A string that is exactly "{field}" becomes the field's JSON value; "{field}" inside other
# text is interpolated; "{{" / "}}" are literal braces. Fields: type, index, text, id, name,
# arguments, reason, finish_reason, input_tokens, output_tokens, total_tokens, kind, status,
# raw, source, recoverable, seq, text_so_far, length, usage, summary, constants.<name>.
TemplateSpec = Union[Dict[str, Any], str]

class Format:
    """An app's own relay vocabulary, compiled once by the core from a spec (a dict, written
    with json.dumps, or its JSON text) and run in C per event. Accepted wherever a format name
    is: Encoder(fmt), tokenwire.fastapi.sse_response / encode_stream / websocket relays, merges.
    Each Encoder made from it gets its own copy of the compiled program (per-stream state:
    seq, text_so_far...). A bad spec (unknown slot, key or event type, malformed JSON, a value
    json cannot write such as a set or NaN) raises ValueError with the core's message
    ("template: unknown slot \"{nope}\""); a spec that is neither dict nor str, TypeError."""
    def __init__(self, spec: TemplateSpec) -> None: ...
    @property
    def spec(self) -> str: ...           # the JSON text the core compiled
    @property
    def framing(self) -> Literal["sse", "ndjson"]: ...
    @property
    def content_type(self) -> str: ...   # text/event-stream or application/x-ndjson
    @property
    def headers(self) -> List[Tuple[str, str]]: ...

AnyFormat = Union[FormatName, Format]

class Encoder:
    """Event ids (resumable relays): with event_id_prefix every SSE event the core writes
    starts with "id: <prefix>:<seq>" (comments and heartbeats get none, so they never move a
    reader's Last-Event-ID) and every NDJSON line carries "event_id": "<prefix>:<seq>"; seq
    counts from first_event_seq (0..2**64-1), one per event; text carries no ids."""
    def __init__(self, format: AnyFormat, id: Optional[str] = ...,
                 model: Optional[str] = ..., dialect: Optional[Dialect] = ..., *,
                 event_id_prefix: Optional[str] = ..., first_event_seq: int = ...,
                 messages: bool = ...,
                 constants: Optional[Mapping[str, Any]] = ...,
                 phases: bool = ...) -> None: ...
    # phases=True: a relay of several sources (finish() ends a phase only; close() ends it).
    def send(self, name: str, payload: Any) -> Any: ...  # an app event: bytes | List[str]
    def progress(self, value: float, status: Optional[str] = ...) -> Any: ...
    def close(self, name: Optional[str] = ..., payload: Any = ...) -> Any: ...
    @staticmethod
    def _taken(source: Any) -> bool: ...  # a relay or merge() took the source over
    # constants (a Format's encoders only): this stream's values of constants the spec
    # declares, written as JSON (tw_encoder_set_constant); ValueError for undeclared ones.
    # messages=True (WebSocket relays): one message per event, built by the core; encode(),
    # finish() and heartbeat() return a list of str instead of bytes: NDJSON lines without
    # their newline, SSE events as '{"event":...,"id":...,"data":...}' (event / id only when
    # set, data as JSON), text deltas as they are; heartbeat() gives [].
    def encode(self, events: Union[Event, Sequence[Event]]) -> Any: ...  # bytes | List[str]
    def finish(self) -> Any: ...
    def heartbeat(self) -> Any: ...
    @property
    def messages(self) -> bool: ...
    @property
    def content_type(self) -> str: ...
    @property
    def headers(self) -> List[Tuple[str, str]]: ...
    @property
    def format(self) -> Union[str, Format]: ...  # the canonical name, or the Format given
    @property
    def event_id_prefix(self) -> Optional[str]: ...  # None: no ids
    @property
    def next_event_seq(self) -> int: ...  # the seq of the next id (tw_encoder_next_event_seq)

class StreamIter:
    def __aiter__(self) -> "StreamIter": ...
    def __anext__(self) -> Awaitable[Any]: ...
    def __iter__(self) -> "StreamIter": ...
    def __next__(self) -> Any: ...
    async def aclose(self) -> None: ...

Callback = Callable[[Any], Union[None, Awaitable[None]]]

class Stream:
    """One streaming response. It belongs to the event loop it was started in (announced on
    that loop's own wakeup fd); sync iteration works from any thread. Iteration hands out
    every event but the terminal one: it stops at 'end' and raises the terminal error (after
    every event before it); recoverable 'error' events are handed out like any other."""
    def __aiter__(self) -> "Stream": ...
    async def __anext__(self) -> Event: ...
    def __iter__(self) -> "Stream": ...
    def __next__(self) -> Event: ...
    async def __aenter__(self) -> "Stream": ...
    async def __aexit__(self, *exc: Any) -> bool: ...
    def __enter__(self) -> "Stream": ...
    def __exit__(self, *exc: Any) -> bool: ...
    def text(self) -> StreamIter: ...
    def batches(self) -> StreamIter: ...
    def _encoded(self, encoder: Encoder, heartbeat: float = ...) -> StreamIter: ...
    def final(self) -> Any: ...
    # Consumes the rest (callbacks still called, nothing handed out) and returns the Summary;
    # raises the terminal error. An awaitable (-> Summary) for streams from Client.stream(),
    # a plain call (-> Summary) for those from Client.stream_sync().
    def on(self, type: Union[EventType, Literal["event"]], callback: Callback) -> "Stream": ...
    # 'text' / 'reasoning' callbacks get the delta (str), the other types and 'event' (every
    # event, after the type's own callbacks) the Event. Sync or async; called in event order
    # whatever consumes the stream (iteration, final(), relays, merge()); in sync iteration
    # an async callback raises TypeError. An exception in a callback propagates from the step.
    def cancel(self) -> None: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...
    @property
    def summary(self) -> Summary: ...  # the events received so far; final once it ended
    @property
    def text_content(self) -> Optional[str]: ...  # summary['text']
    @property
    def reasoning(self) -> Optional[str]: ...     # summary['reasoning']
    @property
    def tool_calls(self) -> List[ToolCall]: ...   # summary['tool_calls']
    @property
    def usage(self) -> Optional[Usage]: ...       # summary['usage']
    @property
    def finish_reason(self) -> Optional[FinishReason]: ...  # summary['finish_reason']
    @property
    def finish_reason_raw(self) -> Optional[str]: ...       # summary['finish_reason_raw']
    @property
    def model(self) -> Optional[str]: ...         # summary['model']
    @property
    def id(self) -> Optional[str]: ...            # summary['id']
    @property
    def done(self) -> bool: ...                   # the terminal event was consumed
    @property
    def error(self) -> Optional[Error]: ...       # the terminal exception, once consumed
    @property
    def metrics(self) -> Optional[Dict[str, Any]]: ...
    # connect_time, ttfb, ttft, duration, gap_p50, gap_p99, generation_time (s, first content
    # event to the end), tokens_per_second, streamed (False: one JSON body), text_events,
    # events, bytes, retries, http_status, http_version, connection_reused, retry_after
    # (seconds: the last Retry-After the server sent, 0 when none), fallback_index (which
    # request of stream(fallback=...) the stream is on: 0 the first), simulated (a JSON answer
    # re-chunked by stream(simulate=...))
    @property
    def dialect(self) -> Dialect: ...  # the first request's (a fallback may use another)
    # Relaying a stream the app read from (e.g. until its first token, to decide on a
    # fallback): the events read (iteration, text(), batches(), final()) are kept, up to
    # replay_limit (default 64; 0 keeps none), and a relay (sse_response, encode_stream,
    # websocket_relay) or merge() started later sends them first, in order, numbered by
    # event ids like the rest; callbacks are not called again, and a terminal error read
    # already is relayed rather than raised again. Past the limit the kept events are dropped
    # and such a relay or merge raises ValueError (the stream itself is left as it was).
    replay_limit: int

class merge:
    def __init__(self, streams: Mapping[str, Stream]) -> None: ...
    def __aiter__(self) -> "merge": ...
    async def __anext__(self) -> Event: ...
    async def __aenter__(self) -> "merge": ...
    async def __aexit__(self, *exc: Any) -> bool: ...
    def batches(self) -> StreamIter: ...
    def _encoded(self, encoder: Encoder, heartbeat: float = ...) -> StreamIter: ...
    async def aclose(self) -> None: ...
    @property
    def streams(self) -> Dict[str, Stream]: ...  # each keeps its own summary and callbacks
    # The framed Events read from the merge are kept the same way for a relay started later
    # (default 64); a merge of streams read from frames what was read first.
    replay_limit: int

class Engine:
    """The libcurl I/O thread(s). Shared by any number of event loops on any threads: each
    loop gets its own sink (ready list + eventfd, registered with its add_reader on first
    use; a closed loop's is freed when a new loop shows up, or with the engine; dropping the
    engine while a loop runs on another thread removes its reader on that thread). In a
    fork() child the first start / stats / prewarm replaces the parent's engine with a new
    one."""
    def __init__(self, io_threads: int = ..., high_watermark: int = ...,
                 low_watermark: int = ...) -> None: ...
    def start(self, url: str, *, method: str = ..., headers: Sequence[str] = ...,
              body: Optional[Buffer] = ..., dialect: Dialect = ...,
              api_key: Optional[str] = ..., auth: Optional[Auth] = ...,
              query: Sequence[Tuple[str, Optional[str]]] = ...,
              connect_timeout: float = ..., first_byte_timeout: float = ...,
              idle_timeout: float = ..., event_timeout: float = ..., total_timeout: float = ...,
              paused_timeout: float = ..., max_retries: int = ..., retry_sent: bool = ...,
              retry_base_delay: float = ..., http2: bool = ..., verify_peer: bool = ...,
              ca_file: Optional[str] = ..., max_event_size: int = ..., accumulate: bool = ...,
              sync: bool = ..., first_token_timeout: float = ...,
              fallback: Optional[Sequence[Dict[str, Any]]] = ...,
              id: Optional[str] = ..., simulate_chars: int = ...,
              simulate_interval: float = ...) -> Stream: ...
    def cancel_id(self, id: str) -> int: ...  # tw_engine_cancel_id
    # fallback: dicts of the same request keywords (url, method, ..., max_event_size; not the
    # stream-wide total/paused timeouts, accumulate, sync), tried in order when the request
    # before fails before its first token (tw_request_opts.fallback).
    # Options left out keep REQUEST_DEFAULTS. The core prepares the request: api_key's header
    # per dialect or auth, anthropic-version, query percent-encoded, caller headers replacing
    # those defaults case-insensitively.
    def stats(self) -> Dict[str, int]: ...
    def prewarm(self, url: str) -> None: ...
    def _loops(self) -> int: ...

# The core's auth name (canonical; None for the dialect's way); ValueError when unknown.
def _auth_name(name: Optional[str]) -> Optional[str]: ...
# The engine's API key check (tw_check_api_key): ValueError naming the byte's position.
def _check_api_key(key: str) -> None: ...

# The Redis Streams tee of resumable relays (python/src/tee.c; tokenwire.resume wraps it).
class Tee:
    def __init__(self, *, host: Optional[str] = ..., port: int = ...,
                 unix_path: Optional[str] = ..., username: Optional[str] = ...,
                 password: Optional[str] = ..., db: int = ..., key_prefix: Optional[str] = ...,
                 require: bool = ..., maxlen: int = ..., ttl: int = ..., live_ttl: int = ...,
                 connect_timeout_ms: int = ..., command_timeout_ms: int = ...,
                 linger_ms: int = ..., stop_poll_ms: int = ...,
                 max_queue_bytes: int = ...) -> None: ...
    def fileno(self) -> int: ...
    # [(kind, stream id or None, message)]: kind lost / stop / down / up / abandoned
    def take_notices(self) -> List[Tuple[str, Optional[str], str]]: ...
    def available(self) -> Tuple[bool, str]: ...
    def request_stop(self, stream_id: str) -> None: ...
    def stop_requested(self, stream_id: str) -> bool: ...
    def watch_readers(self, stream_id: str, abandon_after_ms: int) -> bool: ...
    def stream_status(self, stream_id: str) -> Tuple[str, str]: ...
    def flush(self, timeout_ms: int) -> bool: ...
    def stats(self) -> Dict[str, int]: ...
    def close(self) -> None: ...
    def _attach(self, encoder: Encoder, stream_id: str) -> None: ...
    def _end(self, encoder: Encoder) -> None: ...

class ResumeReader:
    def __init__(self, tee: Tee, stream_id: str, last_seq: Optional[int] = ..., *,
                 block_ms: int = ..., idle_timeout_ms: int = ...,
                 not_found_grace_ms: int = ..., presence_ttl_ms: int = ...) -> None: ...
    def fileno(self) -> int: ...
    # (bytes, first_seq, n_events) of the whole events delivered so far, or None
    def take(self) -> Optional[Tuple[bytes, int, int]]: ...
    # (state, message): running, ended, upstream_error, not_found, store_error, timeout,
    # cancelled
    def status(self) -> Tuple[str, str]: ...
    def found(self) -> bool: ...  # the stream exists (tw_resume_found)
    def close(self) -> None: ...
