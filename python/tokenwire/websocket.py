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

Relays of phases with app events (Relay), as tokenwire.fastapi.Relay on a socket:

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        prompt = await websocket.receive_json()
        relay = Relay(websocket, format=UPDATES, event_ids=True)

        async def run():
            relay.send("status", {"state": "thinking"})
            await relay.pipe(client.stream("POST", "/chat/completions", json=body(prompt)))
            relay.progress(0.5)
            await relay.pipe(client.stream("POST", "/chat/completions", json=more(prompt)))
            await relay.close(final=("complete", {"ok": True}))

        result = await relay.run(run())   # result.reason: "end", "cancelled", "disconnected"

One message per event (app events too: {"event": name, "data": payload} in SSE framings, the
line in NDJSON ones). The client's {"type": "cancel"} cancels the current upstream and the
app's coroutine (CancelledError into it); the relay then ends with the format's own end,
reason "cancelled". A client that goes away cancels both too (reason "disconnected"). Ping
and other messages as for websocket_relay.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, List, Mapping, Optional, Union

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from . import _native
from .fastapi import EventIds, FormatArg, _encoder, _event_ids
from .relay import PhasedRelay, cancel_source

__all__ = ["websocket_relay", "WebSocketRelay", "Relay"]


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


_cancel = cancel_source


async def _receive(websocket: WebSocket, kept: List[Any], send_all, on_cancel) -> None:
    """The client's messages until it goes away: cancel -> on_cancel(), ping -> pong, the
    rest kept in order."""
    while True:
        msg = await websocket.receive()
        if msg["type"] == "websocket.disconnect":
            return
        data = msg.get("text")
        if data is None:
            kept.append(msg.get("bytes"))
            continue
        try:
            obj = json.loads(data)
        except ValueError:
            kept.append(data)
            continue
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "cancel":
            on_cancel()
        elif kind == "ping":
            await send_all([json.dumps(dict(obj, type="pong"), separators=(",", ":"))])
        else:
            kept.append(obj)


async def _serve(websocket: WebSocket, batches, on_cancel, kept: List[Any]) -> bool:
    """Sends batches (lists of str) while receiving; True when they ended, False when the
    client went away (the caller stops its source)."""
    lock = asyncio.Lock()  # the relay and the pong replies send on one socket

    async def send_all(batch: List[str]) -> None:
        async with lock:
            for m in batch:
                await websocket.send_text(m)

    async def pump() -> None:
        async for batch in batches:
            await send_all(batch)

    sender = asyncio.ensure_future(pump())
    receiver = asyncio.ensure_future(_receive(websocket, kept, send_all, on_cancel))
    ended = False
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and not _gone(sender):
            sender.result()  # the source's own failure (a bug, not the client) propagates
            ended = True
    finally:
        for t in (sender, receiver):
            t.cancel()
        # Waits for both to unwind (a cancelled receive() loses no message: it stays queued
        # for the app). The sender's parked Future, cancelled, cancels the upstream.
        await asyncio.gather(sender, receiver, return_exceptions=True)
    return ended


class Relay(PhasedRelay):
    """App events and phases on a WebSocket (see the module docstring): send(name, payload),
    progress(value, status=None), await pipe(source), await close(final=None), and
    await run(app_coroutine) -> self once the relay ended. reason / messages as for
    WebSocketRelay. format, event_ids, constants, id, model as for websocket_relay."""

    def __init__(self, websocket: WebSocket, format: FormatArg = "events", *,
                 event_ids: EventIds = None, id: Optional[str] = None,
                 model: Optional[str] = None,
                 constants: Optional[Mapping[str, Any]] = None) -> None:
        prefix, first_seq = _event_ids(event_ids)
        encoder = _native.Encoder(format, id=id, model=model, event_id_prefix=prefix,
                                  first_event_seq=first_seq, phases=True, messages=True,
                                  constants=dict(constants) if constants is not None else None)
        super().__init__(encoder, 0.0)  # a WebSocket keeps alive with ping frames
        self.websocket = websocket
        self.reason: str = "end"
        self.messages: List[Any] = []

    def _client_cancel(self) -> None:
        self.reason = "cancelled"
        if self._phases:
            cancel_source(self._phases[0][0])
        if self._task is not None:
            self._task.cancel()

    async def run(self, app: Any = None, *, close: bool = False) -> "Relay":
        """Runs the relay (and app, the coroutine driving it) to its end; accepts the socket
        unless the app did; close=True closes it (1000) after an end or cancel."""
        if app is not None and not asyncio.iscoroutine(app):
            raise TypeError("app must be a coroutine (call your async function), not %s"
                            % type(app).__name__)
        if self.websocket.client_state == WebSocketState.CONNECTING:
            await self.websocket.accept()
        body = self.chunks(app)
        try:
            ended = await _serve(self.websocket, body, self._client_cancel, self.messages)
        finally:
            await body.aclose()  # stops the app and the upstream if the body did not end
        if not ended:
            self.reason = "disconnected"
        elif close:
            await self.websocket.close(code=1000)
        return self

    def __repr__(self) -> str:
        return "Relay(reason=%r, messages=%d)" % (self.reason, len(self.messages))


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

    def on_cancel() -> None:
        result.reason = "cancelled"
        _cancel(source)

    ended = False
    try:
        ended = await _serve(websocket, messages, on_cancel, result.messages)
        if not ended:
            result.reason = "disconnected"
    finally:
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
