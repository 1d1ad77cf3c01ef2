"""tokenwire: streaming LLM responses parsed, decoded and relayed in C.

    import tokenwire as tw
    client = tw.Client(base_url="https://api.openai.com/v1", api_key=KEY)
    async with client.stream("POST", "/chat/completions", json=body) as s:
        async for ev in s:            # tw.Event: .type, .text, .index, ...
            ...

The HTTP transfer, SSE / NDJSON framing and JSON decoding run in C on the engine's I/O thread;
Python receives normalized events in batches through one fd registered with the running loop.
"""
from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from . import _native
from ._native import (
    CancelledError,
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
    __version__,
    merge,
)

__all__ = [
    "CancelledError",
    "Client",
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
    "merge",
    "__version__",
]

DIALECTS = ("openai", "openai-responses", "anthropic", "gemini", "ollama", "sse", "ndjson")


@dataclass(frozen=True)
class Timeout:
    """Engine timeouts in seconds; None disables one.

    connect: TCP/TLS connect. first_byte: request start to the first body byte.
    idle: longest gap between body bytes (SSE heartbeats count). event: longest gap between
    events (heartbeats do not count). total: the whole stream.
    """

    connect: Optional[float] = 10.0
    first_byte: Optional[float] = 600.0
    idle: Optional[float] = 600.0
    event: Optional[float] = None
    total: Optional[float] = None

    @classmethod
    def coerce(cls, value: "TimeoutLike") -> "Timeout":
        if value is None:
            return cls(connect=None, first_byte=None, idle=None)
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
        }


TimeoutLike = Union[None, float, int, Timeout]
_UNSET: Any = object()


def _header_lines(headers: Union[None, Mapping[str, str], Iterable[tuple]]) -> list:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for k, v in items:
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("header names and values must be str")
        if "\n" in k or "\r" in k or "\n" in v or "\r" in v or ":" in k:
            raise ValueError("invalid header %r" % k)
        out.append("%s: %s" % (k, v))
    return out


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
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL, got %r" % (base_url,))
        if dialect not in DIALECTS:
            raise ValueError("unknown dialect %r: expected one of %s" % (dialect, DIALECTS))
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError("api_key must be str or None")
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
    ) -> Stream:
        """Starts a request and returns its Stream (async iterator and async context manager;
        also a plain iterator). The transfer starts at once on the engine's I/O thread."""
        if not isinstance(method, str) or not method.isalpha():
            raise ValueError("method must be an HTTP method name, got %r" % (method,))
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
            method=method.upper(),
            headers=_header_lines(hdrs),
            body=body,
            dialect=dialect,
            max_retries=retries,
            retry_base_delay=self.retry_base_delay,
            http2=self.http2,
            verify_peer=self.verify,
            ca_file=self.ca_file,
            max_event_size=self.max_event_size,
            **t.as_kwargs(),
        )

    def stream_sync(self, method: str = "POST", path: str = "", **kwargs: Any) -> Stream:
        """Like stream(), for synchronous code: iterate with `for` (the GIL is released while
        waiting) and use as a `with` context manager."""
        return self.stream(method, path, **kwargs)

    def prewarm(self, path: str = "") -> None:
        """Opens a connection to the host now (DNS + TCP + TLS) so the first stream skips it."""
        self._engine.prewarm(self._url(path))

    def stats(self) -> dict:
        """Engine counters: active_streams, paused_streams, connections_reused, ..."""
        return self._engine.stats()
