"""FastAPI / Starlette relay: stream a tokenwire Stream or merge() to the browser.

    from tokenwire.fastapi import sse_response

    @app.post("/chat")
    async def chat(req: Request):
        s = client.stream("POST", "/chat/completions", json=body)
        return sse_response(s, format="openai")

The body bytes are produced by the C encoders, one encode call per drained batch; Python only
passes `bytes` along. While the upstream is idle, SSE formats get a ": keepalive" comment every
`heartbeat` seconds. When the browser disconnects, Starlette cancels the response task, which
cancels the upstream transfer(s).

Resumable relays: event_ids=True (a random stream id), "prefix" or (prefix, first_seq) makes the
core's encoder number the events: every SSE event starts with "id: <stream id>:<seq>" (so a
browser's EventSource sends the last one back as Last-Event-ID when it reconnects; comments and
heartbeats carry none) and every NDJSON line carries "event_id"; text carries no ids. The
response's stream_id attribute is the id chosen, for the app to store (e.g. with the events it
relays, to replay those after a Last-Event-ID).
"""
from __future__ import annotations

import uuid
from typing import AsyncIterator, Mapping, Optional, Tuple, Union

try:
    from starlette.responses import StreamingResponse
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "tokenwire.fastapi needs Starlette (FastAPI's base): pip install 'tokenwire[fastapi]'"
    ) from exc

from . import _native

FORMATS = _native.FORMATS  # the core's format names

__all__ = ["sse_response", "encode_stream", "RelayResponse", "FORMATS"]

EventIds = Union[None, bool, str, Tuple[str, int]]


def _event_ids(event_ids: EventIds) -> Tuple[Optional[str], int]:
    """(stream id, first seq) of the event_ids argument; (None, 0) for no ids."""
    if event_ids is None or event_ids is False:
        return None, 0
    if event_ids is True:
        return uuid.uuid4().hex, 0
    if isinstance(event_ids, str):
        return event_ids, 0
    if isinstance(event_ids, tuple) and len(event_ids) == 2:
        return event_ids[0], event_ids[1]
    raise TypeError("event_ids must be None, a bool, a stream id str or (stream id, first seq)")


def _relay(source, format, heartbeat, id, model, event_ids):
    """(encoder, body): the encoder numbering the events, and the relay body."""
    if not isinstance(source, (_native.Stream, _native.merge)):
        raise TypeError("source must be a tokenwire Stream or merge(), not %s"
                        % type(source).__name__)
    if heartbeat is not None and (heartbeat < 0 or heartbeat != heartbeat):
        raise ValueError("heartbeat must be >= 0 seconds or None")
    prefix, first_seq = _event_ids(event_ids)
    # A single Stream has one dialect, which tells the encoder whether an event index is a
    # choice (OpenAI n > 1, Gemini candidates) or a content-block position. A merge may mix
    # dialects: its sources keep the default (everything in choice 0 per agent).
    dialect = source.dialect if isinstance(source, _native.Stream) else None
    encoder = _native.Encoder(format, id=id, model=model, dialect=dialect,
                              event_id_prefix=prefix, first_event_seq=first_seq)
    chunks = source._encoded(encoder, float(heartbeat or 0.0))

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            # Normal end: nothing to cancel. Disconnect / error: cancel upstream now rather
            # than when the objects are collected.
            await source.aclose()

    return encoder, body()


def encode_stream(
    source: Union[_native.Stream, _native.merge],
    format: str = "openai",
    heartbeat: Optional[float] = 15.0,
    *,
    id: Optional[str] = None,
    model: Optional[str] = None,
    event_ids: EventIds = None,
) -> AsyncIterator[bytes]:
    """The relay body as an async iterator of bytes (what sse_response streams); event_ids as
    for sse_response."""
    return _relay(source, format, heartbeat, id, model, event_ids)[1]


class RelayResponse(StreamingResponse):
    """The StreamingResponse of sse_response. stream_id: the stream id of the event ids
    (None without event_ids); first_event_seq: the seq of the first event; next_event_seq:
    the seq the next event will carry (so the last id sent so far is
    "<stream_id>:<next_event_seq - 1>" once next_event_seq > first_event_seq)."""

    stream_id: Optional[str]
    first_event_seq: int

    @property
    def next_event_seq(self) -> int:
        return self._encoder.next_event_seq


def sse_response(
    source: Union[_native.Stream, _native.merge],
    format: str = "openai",
    heartbeat: Optional[float] = 15.0,
    headers: Optional[Mapping[str, str]] = None,
    *,
    status_code: int = 200,
    id: Optional[str] = None,
    model: Optional[str] = None,
    event_ids: EventIds = None,
) -> RelayResponse:
    """A StreamingResponse relaying source in format ('openai', 'events', 'ai-sdk', 'ndjson',
    'text') with the headers streaming proxies need.

    event_ids: None (default) or False: no ids. True: ids "<random stream id>:<seq>" from 0
    (uuid4 hex). "prefix": that stream id, from 0. (prefix, first_seq): from first_seq (a
    relay that continues a stream the browser resumes with Last-Event-ID "<prefix>:<n>" passes
    (prefix, n + 1)). The returned response's stream_id is the stream id chosen."""
    encoder, body = _relay(source, format, heartbeat, id, model, event_ids)
    hdrs = dict(encoder.headers)  # the core's list for the format
    if headers:
        hdrs.update((k.lower(), v) for k, v in headers.items())
    resp = RelayResponse(body, status_code=status_code, headers=hdrs,
                         media_type=hdrs["content-type"])
    resp._encoder = encoder
    resp.stream_id = encoder.event_id_prefix
    resp.first_event_seq = encoder.next_event_seq
    return resp
