"""Starlette / FastAPI WebSocket relay: a tokenwire Stream or merge() sent as one message per
event, in any format (a built-in name or a tokenwire.Format), encoded in C.

    from tokenwire.websocket import websocket_relay   # also in tokenwire.fastapi

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        if not authorized(websocket):              # auth is the app's, before accept()
            await websocket.close(code=1008)
            return
        await websocket.accept()
        prompt = await websocket.receive_json()
        s = client.stream("POST", "/chat/completions", json=body(prompt))
        result = await websocket_relay(websocket, s, format=UPDATES)
        # result.reason: "end", "cancelled" (the client asked) or "disconnected"

Messages (text frames), built by the core's encoder in its messages mode: NDJSON framing (the
'ndjson' format, ndjson templates) sends each line as it is, the app's own JSON; SSE framing
('events', 'openai', 'ai-sdk', SSE templates) sends {"event": name, "id": id, "data": data}
(event and id only when set, data the event's JSON); 'text' sends each delta as it is. With
event_ids the ids are in the messages ("event_id" in NDJSON lines, "id" otherwise).

From the client, JSON text messages:
  {"type": "cancel"}           cancels the upstream; the relay still sends what the format
                               writes for the end (the cancelled error, the finish event) and
                               returns reason "cancelled";
  {"type": "ping", ...}        answered at once with {"type": "pong", ...} (the same other
                               keys): a keep-alive and latency probe browsers can send (they
                               cannot send WebSocket ping frames; uvicorn answers and sends
                               those by itself);
  anything else                kept, in order, in result.messages for the app.
A client that closes mid-stream cancels the upstream; the relay returns reason
"disconnected" and raises nothing. A slow client makes send() wait, which stops the relay
reading its source: the engine's queue fills and the upstream transfer is paused
(backpressure), nothing is dropped.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, List, Mapping, Optional, Union

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from . import _native
from .fastapi import EventIds, FormatArg, _encoder

__all__ = ["websocket_relay", "WebSocketRelay"]


class WebSocketRelay:
    """What websocket_relay returns. reason: "end" (the source ended and everything was
    sent), "cancelled" (the client sent a cancel message) or "disconnected" (the client went
    away; the upstream was cancelled). messages: the client's other messages received during
    the relay, in order (parsed JSON, or the str / bytes as received when not JSON).
    stream_id / first_event_seq / next_event_seq as for sse_response's event ids."""

    def __init__(self, encoder: _native.Encoder) -> None:
        self._encoder = encoder
        self.reason: str = "end"
        self.messages: List[Any] = []
        self.stream_id: Optional[str] = encoder.event_id_prefix
        self.first_event_seq: int = encoder.next_event_seq

    @property
    def next_event_seq(self) -> int:
        return self._encoder.next_event_seq

    def __repr__(self) -> str:
        return "WebSocketRelay(reason=%r, messages=%d)" % (self.reason, len(self.messages))


def _cancel(source) -> None:
    """Cancels the upstream transfer(s); the source still delivers its end (the cancelled
    error), so the relay sends what the format writes for it."""
    streams = [source] if isinstance(source, _native.Stream) else source.streams.values()
    for s in streams:
        s.cancel()


async def websocket_relay(
    websocket: WebSocket,
    source: Union[_native.Stream, _native.merge],
    format: FormatArg = "events",
    *,
    id: Optional[str] = None,
    model: Optional[str] = None,
    event_ids: EventIds = None,
    constants: Optional[Mapping[str, Any]] = None,
    close: bool = False,
) -> WebSocketRelay:
    """Relays source over websocket, one text message per event (see the module docstring),
    and returns a WebSocketRelay once the source ended, was cancelled by the client, or the
    client disconnected. The websocket is accepted here unless the app already did (do it
    yourself to check auth first or to choose a subprotocol). close=True closes it (code 1000)
    after a relay that ended or was cancelled; by default it stays open for the app's next
    exchange. event_ids and constants as for sse_response. Argument errors (format, event_ids,
    constants, source) raise before anything is sent."""
    encoder = _encoder(source, format, id, model, event_ids, messages=True,
                       constants=dict(constants) if constants is not None else None)
    messages = source._encoded(encoder, 0.0)
    result = WebSocketRelay(encoder)
    if websocket.client_state == WebSocketState.CONNECTING:
        await websocket.accept()
    lock = asyncio.Lock()  # the relay and the pong replies send on one socket

    async def send_all(batch: List[str]) -> None:
        async with lock:
            for m in batch:
                await websocket.send_text(m)

    async def pump() -> None:
        async for batch in messages:
            await send_all(batch)

    async def receive() -> None:
        while True:
            msg = await websocket.receive()
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("text")
            if data is None:
                result.messages.append(msg.get("bytes"))
                continue
            try:
                obj = json.loads(data)
            except ValueError:
                result.messages.append(data)
                continue
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind == "cancel":
                result.reason = "cancelled"
                _cancel(source)
            elif kind == "ping":
                await send_all([json.dumps(dict(obj, type="pong"), separators=(",", ":"))])
            else:
                result.messages.append(obj)

    sender = asyncio.ensure_future(pump())
    receiver = asyncio.ensure_future(receive())
    ended = False
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and not _gone(sender):
            sender.result()  # the source's own failure (a bug, not the client) propagates
            ended = True
        else:
            result.reason = "disconnected"
    finally:
        for t in (sender, receiver):
            t.cancel()
        # Waits for both to unwind (a cancelled receive() loses no message: it stays queued
        # for the app). The sender's parked Future, cancelled, cancels the upstream.
        await asyncio.gather(sender, receiver, return_exceptions=True)
        if not ended:
            await source.aclose()  # disconnected, failed or cancelled: the upstream stops now
    if close and result.reason != "disconnected":
        await websocket.close(code=1000)
    return result


def _gone(task: "asyncio.Future[None]") -> bool:
    """The sender ended because the client went away (send on a closed socket)."""
    exc = task.exception()
    return isinstance(exc, (WebSocketDisconnect, OSError)) or (
        # Starlette refuses a send after the client's close message was received.
        isinstance(exc, RuntimeError) and "close" in str(exc).lower())
