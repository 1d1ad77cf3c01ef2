"""tokenwire: streaming LLM responses parsed, decoded and relayed in C.

    import tokenwire as tw
    client = tw.Client(base_url="https://api.openai.com/v1", api_key=KEY)
    async with client.stream("POST", "/chat/completions", json=body) as s:
        async for ev in s:            # tw.Event: .type, .text, .index, ...
            ...
    s.summary                         # the result: text, tool calls, usage, finish reason...
    summary = await client.stream("POST", "/chat/completions", json=body,
                                  on_text=print).final()

The HTTP transfer, SSE / NDJSON framing, JSON decoding, request preparation (API key header,
anthropic-version, query parameters), timeouts and the meaning of a stream live in the C core;
Python receives normalized events in batches through a wakeup fd of the loop that started the
stream (one per event loop, so one Client serves loops on several threads) and adds the
idioms. The one model:

- events: the core's normalized events (EVENT_TYPES); Event.to_dict() is the core's JSON;
- recoverable errors: one bad event (not JSON, oversized) is an 'error' event with
  recoverable=True and the stream goes on; it is never raised;
- the end: exactly one terminal event per stream, 'end' or an error that is not recoverable;
  iteration stops at 'end' and raises the terminal error after every event before it
  (TruncatedError when the body stopped before the dialect's end marker);
- the summary: Stream.summary / Decoder.summary / final() give the core's tw_summary as a dict
  (id, model, text, reasoning, finish_reason normalized and finish_reason_raw, choices,
  tool_calls, usage with a derived total, end, error, recoverable_errors);
- errors: one class per error kind of the core (ERROR_CLASSES), each instance with kind,
  status, message, body; AbortError for 'cancelled';
- final() and callbacks: Stream.final() consumes the rest and returns the summary;
  Stream.on(type, cb) / on_<type>= of Client.stream call sync or async callbacks in order
  whatever consumes the stream;
- formats: a relay writes one of the core's (FORMATS) or an app's own vocabulary,
  Format(spec): event names and JSON shapes with {field} slots, compiled once by the core and
  run in C per event, accepted wherever a format name is;
- relays of streams read from: what the app read (up to Stream.replay_limit events) is relayed
  or merged first, never dropped; past the limit the relay raises ValueError;
- requests: params= (query), auth= (how the key is sent), headers merged case-insensitively;
  Timeout() defaults are the core's (REQUEST_DEFAULTS).

A Client made before fork() starts a new engine in the child on first use. Invalid methods,
URLs and headers raise ValueError naming the field before anything is sent.
"""
from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from ._native import (
    AUTHS,
    DIALECTS,
    ERROR_CLASSES,
    ERROR_KINDS,
    EVENT_TYPES,
    FINISH_REASONS,
    FORMATS,
    AbortError,
    Decoder,
    Encoder,
    Error,
    Event,
    Format,
    HTTPError,
    ProtocolError,
    ProviderError,
    SSEEvent,
    SSEParser,
    Stream,
    TimeoutError,
    TransportError,
    TruncatedError,
    REQUEST_DEFAULTS,
    __version__,
    merge,
)

__all__ = [
    "AUTHS",
    "AbortError",
    "Client",
    "DIALECTS",
    "ERROR_CLASSES",
    "ERROR_KINDS",
    "EVENT_TYPES",
    "FINISH_REASONS",
    "FORMATS",
    "Decoder",
    "Encoder",
    "Error",
    "Event",
    "Format",
    "HTTPError",
    "ProtocolError",
    "ProviderError",
    "SSEEvent",
    "SSEParser",
    "Stream",
    "Timeout",
    "Request",
    "TimeoutError",
    "TransportError",
    "TruncatedError",
    "REQUEST_DEFAULTS",
    "merge",
    "__version__",
]

_DEFAULTS = _native.REQUEST_DEFAULTS  # tw_request_opts_init: the one policy of every binding


def _secs(v: float) -> Optional[float]:
    """A core timeout (0 = none) as a Timeout field (None = none)."""
    return float(v) if v else None


@dataclass(frozen=True)
class Timeout:
    """Engine timeouts in seconds; None disables one. The defaults are the core's
    (tw_request_opts_init, exported as REQUEST_DEFAULTS), the same for Python, Node and the CLI:
    connect 10 s, first_byte 600 s, idle 600 s, event none, total none, paused 300 s,
    first_token none.

    connect: TCP/TLS connect. first_byte: request start to the first body byte (reasoning
    models may think for minutes before it). idle: longest gap between body bytes (SSE
    heartbeats count). event: longest gap between events (heartbeats do not count). total: the
    whole stream. paused: longest time the transfer may stay paused because the consumer
    stopped reading (its queue is full and backpressure holds the upstream); then the stream
    ends with TimeoutError, raised once the consumer reads again, after the events queued
    before it. first_token: request start to the first text, reasoning or tool call (with a
    fallback, its expiry moves on to the next request; see Client.stream). A number for
    `timeout=` sets connect, first_byte and idle and keeps the other defaults; `timeout=None`
    disables every timeout, paused included.
    """

    connect: Optional[float] = _secs(_DEFAULTS["connect_timeout"])
    first_byte: Optional[float] = _secs(_DEFAULTS["first_byte_timeout"])
    idle: Optional[float] = _secs(_DEFAULTS["idle_timeout"])
    event: Optional[float] = _secs(_DEFAULTS["event_timeout"])
    total: Optional[float] = _secs(_DEFAULTS["total_timeout"])
    paused: Optional[float] = _secs(_DEFAULTS["paused_timeout"])
    first_token: Optional[float] = _secs(_DEFAULTS["first_token_timeout"])

    @classmethod
    def coerce(cls, value: "TimeoutLike") -> "Timeout":
        if value is None:
            return cls(connect=None, first_byte=None, idle=None, event=None, total=None,
                       paused=None, first_token=None)
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("timeout must be a number of seconds, a tokenwire.Timeout or None")
        if value <= 0:
            raise ValueError("timeout must be > 0")
        return cls(connect=float(value), first_byte=float(value), idle=float(value))

    def as_kwargs(self) -> dict:
        def secs(v: Optional[float], name: str) -> float:
            if v is None:
                return 0.0
            if v <= 0:
                raise ValueError("Timeout.%s must be > 0 or None" % name)
            return float(v)

        return {
            "connect_timeout": secs(self.connect, "connect"),
            "first_byte_timeout": secs(self.first_byte, "first_byte"),
            "idle_timeout": secs(self.idle, "idle"),
            "event_timeout": secs(self.event, "event"),
            "total_timeout": secs(self.total, "total"),
            "paused_timeout": secs(self.paused, "paused"),
            "first_token_timeout": secs(self.first_token, "first_token"),
        }


TimeoutLike = Union[None, float, int, Timeout]
Params = Union[None, Mapping[str, Any], Iterable[Tuple[str, Any]]]
_UNSET: Any = object()
_CALLBACK_TYPES = frozenset(EVENT_TYPES) | {"event"}


def _header_items(headers: Union[None, Mapping[str, str], Iterable[tuple]]) -> list:
    """(name, value) pairs. The bytes are checked by the engine (RFC 9110 token names, no CR,
    LF, NUL or other control character in values); only what the line format itself cannot
    express is refused here: a name that is empty or holds ":" would silently become a
    different header."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for k, v in items:
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("header names and values must be str")
        if not k or ":" in k:
            raise ValueError("invalid header name %r: a header name is an RFC 9110 token" % k)
        out.append((k, v))
    return out


def _merge_headers(*layers: list) -> list:
    """ "Name: value" lines of the layers, a later layer's header replacing an earlier one of
    the same name (case-insensitively; within one layer every line is kept). The core then adds
    its defaults (API key, anthropic-version, Accept, Content-Type) that none of these gives."""
    out: list = []
    for layer in layers:
        names = {k.lower() for k, _ in layer}
        out = [(k, v) for k, v in out if k.lower() not in names] + layer
    return ["%s: %s" % kv for kv in out]


def _query_pairs(params: Params) -> list:
    """(name, value) str pairs in order; the core percent-encodes them (tw_request_opts.query).
    Values may be str, int or float (converted with str())."""
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    out = []
    for item in items:
        try:
            k, v = item
        except (TypeError, ValueError):
            raise TypeError("params must be a mapping or a sequence of (name, value) pairs")
        if not isinstance(k, str):
            raise TypeError("query parameter names must be str, not %s" % type(k).__name__)
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise TypeError("query parameter %r: value must be str, int or float, not %s"
                            % (k, type(v).__name__))
        out.append((k, v if isinstance(v, str) else str(v)))
    return out


def _merge_params(base: list, extra: list) -> list:
    """The Client's params, those of the request replacing the Client's of the same name."""
    names = {k for k, _ in extra}
    return [kv for kv in base if kv[0] not in names] + extra



class Request:
    """A request prepared by Client.request() and not sent; the fallbacks of Client.stream().
    It keeps what the engine needs (URL, method, headers, body, dialect, key, timeouts,
    retries) and is checked by the engine when the stream starts."""

    __slots__ = ("_kwargs",)

    def __init__(self, kwargs: dict) -> None:
        self._kwargs = kwargs

    def __repr__(self) -> str:
        return "<tokenwire.Request %s %s (%s)>" % (self._kwargs["method"], self._kwargs["url"],
                                                   self._kwargs["dialect"])

class Client:
    """An HTTP client for streaming LLM APIs backed by the C engine.

    base_url: e.g. "https://api.openai.com/v1". dialect: how requests are prepared and
    responses decoded (one of DIALECTS).
    api_key / auth: the API key goes to the core, which sends it the way the dialect's provider
    expects (auth=None): "Authorization: Bearer K" for OpenAI-compatible APIs, Ollama, sse and
    ndjson, "x-api-key: K" for Anthropic, "x-goog-api-key: K" for Gemini. auth picks another
    way: "api-key" (alias "azure": Azure OpenAI's "api-key: K" header), "bearer", "x-api-key",
    "x-goog-api-key" (AUTHS; the names are the core's, tw_auth_from_name). The anthropic
    dialect always sends "anthropic-version: 2023-06-01" unless the request's headers give one.
    headers: sent with every request; a request's headers replace the Client's of the same
    name, and either replaces a default of the core (the key's header, anthropic-version,
    Accept, Content-Type) of the same name, all case-insensitively: a caller's "authorization"
    goes out instead of the default Authorization, never beside it. The core's Accept is
    "text/event-stream" ("application/x-ndjson" for the ollama and ndjson dialects).
    params: query parameters sent with every request (a mapping or (name, value) pairs; str,
    int or float values), e.g. {"api-version": "2024-10-21"} for Azure; stream(params=...)
    adds more (replacing the Client's of the same name). The core percent-encodes them.
    timeout: seconds (connect, first byte and idle gap) or a tokenwire.Timeout; the defaults
    are the core's (see Timeout). max_retries: retries of failures before the first body byte
    (429, 5xx, connect errors); default the core's (2), as is retry_base_delay (0.5 s).
    http2: negotiate HTTP/2. io_threads: engine I/O threads. high_watermark: bytes queued per
    stream before the transfer is paused (backpressure); 0 = engine default (1 MiB).
    max_event_size: cap on one SSE event / NDJSON line (0 = 64 MiB); a larger one is skipped
    and delivered as a recoverable 'error' event (kind protocol), and the stream goes on.
    retry_sent: also retry (within max_retries) a transport failure that came after the whole
    request was sent. Off by default: the server may have received the request and may bill
    it twice, so such a failure is raised as TransportError. Failures before that (connect,
    TLS, a reset while sending) and 429 / 5xx answers are retried either way; a Retry-After
    over 60 s is not waited for (HTTPError at once, the value in its message and in
    metrics["retry_after"]).
    accumulate: the stream's summary keeps the text and reasoning (default). False keeps
    memory flat on very long streams (relays): Stream.text_content / reasoning are then None;
    tool calls, usage and finish reasons are kept either way.
    verify / ca_file: verify the server's TLS certificate (default) against the system CA
    store, or against the PEM bundle at ca_file.

    Requests are checked before anything is sent: the method must be an RFC 9110 token, the
    URL (base_url + path, query included) printable ASCII with no spaces (percent-encode the
    rest, or pass params=), header names tokens and header values free of CR, LF, NUL and
    other control characters. A violation raises ValueError naming the field and the byte
    position (never the value, which may be a secret); api_key is checked when the Client is
    made, and by the core again on each request.

    Threads and event loops: one Client may be shared by any number of event loops, each on
    its own thread (asyncio or uvloop). A stream belongs to the loop it was started in: the
    engine announces it on that loop's own wakeup fd (one per loop, registered on first use;
    a closed loop's is freed when the next new loop shows up or with the Client), so its
    Futures are resolved on that loop's thread.
    stream_sync works from any thread. fork(): a Client made before fork() (gunicorn
    --preload, multiprocessing with the fork start method) works in the child: on first use
    there it starts a new engine; streams started in the parent end in the child with
    TransportError at once.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        dialect: str = "openai",
        timeout: TimeoutLike = Timeout(),
        max_retries: int = _DEFAULTS["max_retries"],
        http2: bool = False,
        *,
        auth: Optional[str] = None,
        params: Params = None,
        verify: bool = True,
        ca_file: Optional[str] = None,
        io_threads: int = 1,
        high_watermark: int = 0,
        retry_base_delay: float = _DEFAULTS["retry_base_delay"],
        max_event_size: int = 0,
        retry_sent: bool = False,
        accumulate: bool = _DEFAULTS["accumulate"],
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL, got %r" % (base_url,))
        if dialect not in DIALECTS:
            raise ValueError("unknown dialect %r: expected one of %s" % (dialect, DIALECTS))
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError("api_key must be str or None")
        if api_key:
            # The engine's check (tw_check_api_key), now rather than at the first request.
            _native._check_api_key(api_key)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an int >= 0")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.auth = _native._auth_name(auth)  # canonical ("azure" is "api-key"); checked now
        self.dialect = dialect
        self.timeout = Timeout.coerce(timeout)
        self.max_retries = max_retries
        self.http2 = bool(http2)
        self.verify = bool(verify)
        self.ca_file = ca_file
        self.retry_base_delay = float(retry_base_delay)
        if isinstance(max_event_size, bool) or not isinstance(max_event_size, int) \
                or max_event_size < 0:
            raise ValueError("max_event_size must be an int >= 0 (0 = 64 MiB)")
        self.max_event_size = max_event_size
        self.retry_sent = bool(retry_sent)
        self.accumulate = bool(accumulate)
        self._headers = _header_items(headers)
        self._params = _query_pairs(params)
        self._engine = _native.Engine(io_threads=io_threads, high_watermark=high_watermark)

    def _url(self, path: str) -> str:
        if not isinstance(path, str):
            raise TypeError("path must be str")
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def _request_kwargs(self, method: str, path: str, json: Any, content: Any,
                        headers: Optional[Mapping[str, str]], params: Params,
                        dialect: Optional[str], timeout: Any, max_retries: Optional[int],
                        retry_sent: Optional[bool]) -> dict:
        """The engine's keyword arguments for one request (the core prepares the rest)."""
        if not isinstance(method, str):
            raise TypeError("method must be str, got %r" % (method,))
        dialect = dialect or self.dialect
        if dialect not in DIALECTS:
            raise ValueError("unknown dialect %r: expected one of %s" % (dialect, DIALECTS))
        if json is not _UNSET and content is not None:
            raise TypeError("pass json= or content=, not both")
        body: Optional[bytes] = None
        if json is not _UNSET:
            body = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
        elif content is not None:
            if isinstance(content, str):
                content = content.encode()
            if not isinstance(content, (bytes, bytearray, memoryview)):
                raise TypeError("content must be bytes or str")
            body = bytes(content)
        t = self.timeout if timeout is _UNSET else Timeout.coerce(timeout)
        return dict(
            url=self._url(path),
            method=method.upper() if method.isascii() else method,
            headers=_merge_headers(self._headers, _header_items(headers)),
            body=body,
            dialect=dialect,
            api_key=self.api_key,
            auth=self.auth,
            query=_merge_params(self._params, _query_pairs(params)),
            max_retries=self.max_retries if max_retries is None else max_retries,
            retry_sent=self.retry_sent if retry_sent is None else bool(retry_sent),
            retry_base_delay=self.retry_base_delay,
            http2=self.http2,
            verify_peer=self.verify,
            ca_file=self.ca_file,
            max_event_size=self.max_event_size,
            **t.as_kwargs(),
        )

    def request(
        self,
        method: str = "POST",
        path: str = "",
        *,
        json: Any = _UNSET,
        content: Union[None, bytes, str] = None,
        headers: Optional[Mapping[str, str]] = None,
        params: Params = None,
        dialect: Optional[str] = None,
        timeout: Any = _UNSET,
        max_retries: Optional[int] = None,
        retry_sent: Optional[bool] = None,
    ) -> "Request":
        """A request prepared with this Client's base URL, key, dialect, headers, params and
        timeouts, and not sent: a fallback for stream(fallback=[...]) of any Client (e.g. Azure
        OpenAI first, then OpenAI; or a non-streaming call last). Same arguments as stream()."""
        kw = self._request_kwargs(method, path, json, content, headers, params, dialect,
                                  timeout, max_retries, retry_sent)
        # Stream-wide settings come from the stream's own request.
        kw.pop("total_timeout")
        kw.pop("paused_timeout")
        return Request(kw)

    def stream(
        self,
        method: str = "POST",
        path: str = "",
        *,
        json: Any = _UNSET,
        content: Union[None, bytes, str] = None,
        headers: Optional[Mapping[str, str]] = None,
        params: Params = None,
        dialect: Optional[str] = None,
        timeout: Any = _UNSET,
        max_retries: Optional[int] = None,
        retry_sent: Optional[bool] = None,
        accumulate: Optional[bool] = None,
        fallback: Optional[Sequence["Request"]] = None,
        id: Optional[str] = None,
        simulate: Optional[Tuple[int, float]] = None,
        _sync: bool = False,
        **callbacks: Callable[[Any], Any],
    ) -> Stream:
        """Starts a request and returns its Stream (async iterator and async context manager;
        also a plain iterator). The transfer starts at once on the engine's I/O thread and
        belongs to the running event loop, if any (see the class doc). headers and params add
        to the Client's (see the class doc); retry_sent and accumulate override the Client's
        for this request. Raises ValueError, before anything is sent, for a method, URL or
        header the engine refuses (in a fallback too).

        fallback=[client.request(...), ...]: requests to send, in order, when this one fails
        before its first token (an HTTP error, a connect / first-byte / first-token timeout,
        a transport error, a body that is not an event stream, a provider error), after its
        own retries; the stream continues from whichever succeeds, and only that one's events
        are delivered. s.metrics["fallback_index"] says which (0: this request). The last
        failure is raised when all fail. Timeout(first_token=...) bounds the wait for a first
        token. Fallbacks run in the core: no Python runs between them.

        simulate=(chars, interval): when the answer comes as one JSON body (a model without
        streaming, a non-streaming fallback), the core cuts its text into deltas of `chars`
        characters released every `interval` seconds (0: all at once), so relays and
        browsers see a stream; metrics["simulated"] says so (metrics["streamed"] is False).

        id="task-42": an id of your choosing (a task, a conversation; several streams may
        share one) under which client.cancel(id) finds the stream, from any request handler,
        WebSocket message or thread of this process.

        on_<type>=callback (on_text, on_reasoning, on_tool_call, on_usage, on_finish, on_error,
        on_end, ..., and on_event for every event): Stream.on(type, callback) for each; see
        Stream.on."""
        on = []
        for key, cb in callbacks.items():
            etype = key[3:] if key.startswith("on_") else None
            if etype not in _CALLBACK_TYPES:
                raise TypeError("stream() got an unexpected keyword argument %r (callbacks are "
                                "on_<type> for a type in EVENT_TYPES, or on_event)" % key)
            on.append((etype, cb))
        kw = self._request_kwargs(method, path, json, content, headers, params, dialect,
                                  timeout, max_retries, retry_sent)
        if fallback is not None:
            if isinstance(fallback, Request):
                fallback = [fallback]
            fallback = list(fallback)
            if not fallback:
                raise ValueError("fallback is empty: give at least one client.request(...) "
                                 "(or leave it out)")
            for r in fallback:
                if not isinstance(r, Request):
                    raise TypeError("fallback must be a list of Client.request(...) objects, "
                                    "not %s" % type(r).__name__)
            kw["fallback"] = [r._kwargs for r in fallback]
        if simulate is not None:
            chars, interval = simulate
            if not isinstance(chars, int) or chars <= 0 or interval < 0:
                raise ValueError("simulate must be (chars > 0, interval seconds >= 0)")
            kw["simulate_chars"], kw["simulate_interval"] = chars, float(interval)
        s = self._engine.start(
            accumulate=self.accumulate if accumulate is None else bool(accumulate),
            sync=_sync,
            id=id,
            **kw,
        )
        # Nothing is consumed before the caller reads, so no event can pass uncalled.
        for etype, cb in on:
            s.on(etype, cb)
        return s

    def stream_sync(self, method: str = "POST", path: str = "", **kwargs: Any) -> Stream:
        """Like stream(), for synchronous code, from any thread: iterate with `for` (the GIL
        is released while waiting) and use as a `with` context manager."""
        return self.stream(method, path, _sync=True, **kwargs)

    def cancel(self, id: str) -> int:
        """Cancels every running stream of this Client started with stream(..., id=id), as
        Stream.cancel() does (each ends with AbortError); returns how many. Any thread."""
        if not isinstance(id, str):
            raise TypeError("id must be str")
        return self._engine.cancel_id(id)

    def prewarm(self, path: str = "") -> None:
        """Opens a connection to the host now (DNS + TCP + TLS) so the first stream skips it."""
        self._engine.prewarm(self._url(path))

    def stats(self) -> dict:
        """Engine counters: active_streams, paused_streams, connections_reused, ..."""
        return self._engine.stats()
