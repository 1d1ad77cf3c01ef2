"""tokenwire: streaming LLM responses parsed, decoded and relayed in C.

    import tokenwire as tw
    client = tw.Client(base_url="https://api.openai.com/v1", api_key=KEY)
    async with client.stream("POST", "/chat/completions", json=body) as s:
        async for ev in s:            # tw.Event: .type, .text, .index, ...
            ...

The HTTP transfer, SSE / NDJSON framing and JSON decoding run in C on the engine's I/O thread;
Python receives normalized events in batches through a wakeup fd of the loop that started the
stream (one per event loop, so one Client serves loops on several threads). A Client made
before fork() starts a new engine in the child on first use. Invalid methods, URLs and headers
raise ValueError naming the field before anything is sent. See Client and Timeout for
retry_sent, the paused timeout, accumulate and ca_file.
"""
from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from . import _native
from ._native import (
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
    HTTPError,
    ProtocolError,
    ProviderError,
    SSEEvent,
    SSEParser,
    Stream,
    TimeoutError,
    TransportError,
    TruncatedError,
    __version__,
    merge,
)

__all__ = [
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
    "HTTPError",
    "ProtocolError",
    "ProviderError",
    "SSEEvent",
    "SSEParser",
    "Stream",
    "Timeout",
    "TimeoutError",
    "TransportError",
    "TruncatedError",
    "merge",
    "__version__",
]

@dataclass(frozen=True)
class Timeout:
    """Engine timeouts in seconds; None disables one.

    connect: TCP/TLS connect. first_byte: request start to the first body byte.
    idle: longest gap between body bytes (SSE heartbeats count). event: longest gap between
    events (heartbeats do not count). total: the whole stream. paused: longest time the
    transfer may stay paused because the consumer stopped reading (its queue is full and
    backpressure holds the upstream); then the stream ends with TimeoutError, raised once
    the consumer reads again, after the events queued before it. A number for `timeout=`
    sets connect, first_byte and idle and keeps paused at 300 s; `timeout=None` disables
    every timeout, paused included.
    """

    connect: Optional[float] = 10.0
    first_byte: Optional[float] = 600.0
    idle: Optional[float] = 600.0
    event: Optional[float] = None
    total: Optional[float] = None
    paused: Optional[float] = 300.0

    @classmethod
    def coerce(cls, value: "TimeoutLike") -> "Timeout":
        if value is None:
            return cls(connect=None, first_byte=None, idle=None, paused=None)
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
        }


TimeoutLike = Union[None, float, int, Timeout]
_UNSET: Any = object()


def _header_lines(headers: Union[None, Mapping[str, str], Iterable[tuple]]) -> list:
    """ "Name: value" lines. The bytes are checked by the engine (RFC 9110 token names, no CR,
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
        out.append("%s: %s" % (k, v))
    return out


def _check_api_key(api_key: str) -> None:
    # The engine refuses the header the key goes into as well; checking here names api_key
    # (not the header) and fails when the Client is made rather than at its first request.
    for i, ch in enumerate(api_key):
        o = ord(ch)
        if (o < 0x20 and ch != "\t") or o == 0x7F:
            name = {"\r": "CR", "\n": "LF", "\0": "NUL"}.get(ch, "control character 0x%02X" % o)
            raise ValueError("invalid api_key: %s at index %d (CR, LF, NUL and other control "
                             "characters are refused in header values)" % (name, i))


class Client:
    """An HTTP client for streaming LLM APIs backed by the C engine.

    base_url: e.g. "https://api.openai.com/v1". api_key: sent the way the dialect expects
    (Authorization: Bearer for OpenAI-compatible APIs and Ollama, x-api-key for Anthropic,
    x-goog-api-key for Gemini). headers: sent with every request. dialect: how responses are
    decoded. timeout: seconds (connect, first byte and idle gap) or a tokenwire.Timeout.
    max_retries: retries of failures before the first body byte (429, 5xx, connect errors).
    http2: negotiate HTTP/2. io_threads: engine I/O threads. high_watermark: bytes queued per
    stream before the transfer is paused (backpressure); 0 = engine default (1 MiB).
    max_event_size: cap on one SSE event / NDJSON line (0 = 64 MiB); larger ones end the
    stream with tokenwire.ProtocolError.
    retry_sent: also retry (within max_retries) a transport failure that came after the whole
    request was sent. Off by default: the server may have received the request and may bill
    it twice, so such a failure is raised as TransportError. Failures before that (connect,
    TLS, a reset while sending) and 429 / 5xx answers are retried either way; a Retry-After
    over 60 s is not waited for (HTTPError at once, the value in its message and in
    metrics["retry_after"]).
    accumulate: keep the text and tool calls consumed for Stream.text_content / tool_calls
    (default). False keeps memory flat on very long streams (relays): both are then None.
    verify / ca_file: verify the server's TLS certificate (default) against the system CA
    store, or against the PEM bundle at ca_file.

    Requests are checked before anything is sent: the method must be an RFC 9110 token, the
    URL (base_url + path, query included) printable ASCII with no spaces (percent-encode the
    rest), header names tokens and header values free of CR, LF, NUL and other control
    characters. A violation raises ValueError naming the field and the byte position (never
    the value, which may be a secret); api_key is checked when the Client is made.

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
        max_retries: int = 2,
        http2: bool = False,
        *,
        verify: bool = True,
        ca_file: Optional[str] = None,
        io_threads: int = 1,
        high_watermark: int = 0,
        retry_base_delay: float = 0.5,
        max_event_size: int = 0,
        retry_sent: bool = False,
        accumulate: bool = True,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL, got %r" % (base_url,))
        if dialect not in DIALECTS:
            raise ValueError("unknown dialect %r: expected one of %s" % (dialect, DIALECTS))
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError("api_key must be str or None")
        if api_key:
            _check_api_key(api_key)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an int >= 0")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
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
        self._headers = dict(headers or {})
        _header_lines(self._headers)
        self._engine = _native.Engine(io_threads=io_threads, high_watermark=high_watermark)

    def _auth_headers(self, dialect: str) -> dict:
        if not self.api_key:
            return {}
        if dialect == "anthropic":
            return {"x-api-key": self.api_key, "anthropic-version": "2023-06-01"}
        if dialect == "gemini":
            return {"x-goog-api-key": self.api_key}
        return {"Authorization": "Bearer " + self.api_key}

    def _url(self, path: str) -> str:
        if not isinstance(path, str):
            raise TypeError("path must be str")
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def stream(
        self,
        method: str = "POST",
        path: str = "",
        *,
        json: Any = _UNSET,
        content: Union[None, bytes, str] = None,
        headers: Optional[Mapping[str, str]] = None,
        dialect: Optional[str] = None,
        timeout: Any = _UNSET,
        max_retries: Optional[int] = None,
        retry_sent: Optional[bool] = None,
        accumulate: Optional[bool] = None,
        _sync: bool = False,
    ) -> Stream:
        """Starts a request and returns its Stream (async iterator and async context manager;
        also a plain iterator). The transfer starts at once on the engine's I/O thread and
        belongs to the running event loop, if any (see the class doc). retry_sent and
        accumulate override the Client's for this request. Raises ValueError, before
        anything is sent, for a method, URL or header the engine refuses."""
        if not isinstance(method, str):
            raise TypeError("method must be str, got %r" % (method,))
        dialect = dialect or self.dialect
        if dialect not in DIALECTS:
            raise ValueError("unknown dialect %r: expected one of %s" % (dialect, DIALECTS))
        if json is not _UNSET and content is not None:
            raise TypeError("pass json= or content=, not both")
        hdrs = dict(self._auth_headers(dialect))
        body: Optional[bytes] = None
        if json is not _UNSET:
            body = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
            hdrs["Content-Type"] = "application/json"
        elif content is not None:
            if isinstance(content, str):
                content = content.encode()
            if not isinstance(content, (bytes, bytearray, memoryview)):
                raise TypeError("content must be bytes or str")
            body = bytes(content)
        if dialect in ("ollama", "ndjson"):
            hdrs["Accept"] = "application/x-ndjson"
        else:
            hdrs["Accept"] = "text/event-stream"
        hdrs.update(self._headers)
        if headers:
            hdrs.update(headers)
        t = self.timeout if timeout is _UNSET else Timeout.coerce(timeout)
        retries = self.max_retries if max_retries is None else max_retries
        return self._engine.start(
            self._url(path),
            method=method.upper() if method.isascii() else method,
            headers=_header_lines(hdrs),
            body=body,
            dialect=dialect,
            max_retries=retries,
            retry_sent=self.retry_sent if retry_sent is None else bool(retry_sent),
            retry_base_delay=self.retry_base_delay,
            http2=self.http2,
            verify_peer=self.verify,
            ca_file=self.ca_file,
            max_event_size=self.max_event_size,
            accumulate=self.accumulate if accumulate is None else bool(accumulate),
            sync=_sync,
            **t.as_kwargs(),
        )

    def stream_sync(self, method: str = "POST", path: str = "", **kwargs: Any) -> Stream:
        """Like stream(), for synchronous code, from any thread: iterate with `for` (the GIL
        is released while waiting) and use as a `with` context manager."""
        return self.stream(method, path, _sync=True, **kwargs)

    def prewarm(self, path: str = "") -> None:
        """Opens a connection to the host now (DNS + TCP + TLS) so the first stream skips it."""
        self._engine.prewarm(self._url(path))

    def stats(self) -> dict:
        """Engine counters: active_streams, paused_streams, connections_reused, ..."""
        return self._engine.stats()
