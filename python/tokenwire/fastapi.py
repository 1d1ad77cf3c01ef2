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
"""
from __future__ import annotations

from typing import AsyncIterator, Mapping, Optional, Union

from starlette.responses import StreamingResponse

from . import _native

FORMATS = _native.FORMATS  # the core's format names

__all__ = ["sse_response", "encode_stream", "FORMATS"]


def encode_stream(
    source: Union[_native.Stream, _native.merge],
    format: str = "openai",
    heartbeat: Optional[float] = 15.0,
    *,
    id: Optional[str] = None,
    model: Optional[str] = None,
) -> AsyncIterator[bytes]:
    """The relay body as an async iterator of bytes (what sse_response streams)."""
    if not isinstance(source, (_native.Stream, _native.merge)):
        raise TypeError("source must be a tokenwire Stream or merge(), not %s"
                        % type(source).__name__)
    if heartbeat is not None and (heartbeat < 0 or heartbeat != heartbeat):
        raise ValueError("heartbeat must be >= 0 seconds or None")
    # A single Stream has one dialect, which tells the encoder whether an event index is a
    # choice (OpenAI n > 1, Gemini candidates) or a content-block position. A merge may mix
    # dialects: its sources keep the default (everything in choice 0 per agent).
    dialect = source.dialect if isinstance(source, _native.Stream) else None
    encoder = _native.Encoder(format, id=id, model=model, dialect=dialect)
    chunks = source._encoded(encoder, float(heartbeat or 0.0))

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            # Normal end: nothing to cancel. Disconnect / error: cancel upstream now rather
            # than when the objects are collected.
            await source.aclose()

    return body()


def sse_response(
    source: Union[_native.Stream, _native.merge],
    format: str = "openai",
    heartbeat: Optional[float] = 15.0,
    headers: Optional[Mapping[str, str]] = None,
    *,
    status_code: int = 200,
    id: Optional[str] = None,
    model: Optional[str] = None,
) -> StreamingResponse:
    """A StreamingResponse relaying source in format ('openai', 'events', 'ai-sdk', 'ndjson',
    'text') with the headers streaming proxies need."""
    body = encode_stream(source, format, heartbeat, id=id, model=model)
    hdrs = dict(_native.Encoder(format).headers)  # the core's list for the format
    if headers:
        hdrs.update((k.lower(), v) for k, v in headers.items())
    return StreamingResponse(body, status_code=status_code, headers=hdrs,
                             media_type=hdrs["content-type"])
