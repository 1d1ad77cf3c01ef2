"""FastAPI / Starlette relay: stream a tokenwire Stream or merge() to the browser.

    from tokenwire.fastapi import sse_response

    @app.post("/chat")
    async def chat(req: Request):
        s = client.stream("POST", "/chat/completions", json=body)
        return sse_response(s, format="openai")

format is a built-in name ('openai', 'events', 'ai-sdk', 'ndjson', 'text') or an app's own
vocabulary, a tokenwire.Format compiled once (e.g. at import time) from a spec:

    UPDATE = tw.Format({"constants": {"agent": "researcher"},
                        "events": {"text": {"event": "agent_processing_update",
                                            "data": {"agent": "{constants.agent}",
                                                     "chunk": "{text}", "length": "{length}"}}},
                        "finish": {"event": "agent_processing_complete",
                                   "data": {"agent": "{constants.agent}",
                                            "text": "{text_so_far}"}}})
    return sse_response(s, format=UPDATE)

The body bytes are produced by the C encoders, one encode call per drained batch; Python only
passes `bytes` along. While the upstream is idle, SSE formats get a ": keepalive" comment every
`heartbeat` seconds. When the browser disconnects, Starlette cancels the response task, which
cancels the upstream transfer(s).

A stream (or merge) the app already read from, say until its first token to decide on a
fallback, is relayed whole: the events read are relayed first, then the rest, with no gap or
repeat (Stream.replay_limit, default 64, says how many are kept for that; past it the relay
raises ValueError instead of sending a stream with a hole).

Resumable relays: event_ids=True (a random stream id), "prefix" or (prefix, first_seq) makes the
core's encoder number the events: every SSE event starts with "id: <stream id>:<seq>" (so a
browser's EventSource sends the last one back as Last-Event-ID when it reconnects; comments and
heartbeats carry none) and every NDJSON line carries "event_id"; text carries no ids. The
response's stream_id attribute is the id chosen, for the app to store (e.g. with the events it
relays, to replay those after a Last-Event-ID).

Relays of phases with app events (Relay): one response made of the app's own events at any
time and several sources one after the other, with one final event:

    @app.post("/chat")
    async def chat(req: Request):
        relay = Relay(format="events", event_ids=True)

        async def run():                            # the app's coroutine, per phase
            relay.send("status", {"state": "thinking"})      # before any upstream exists
            plan = client.stream("POST", "/chat/completions", json=plan_body)
            await relay.pipe(plan)                  # a phase: encoded in C per batch
            relay.progress(0.5, status="writing")
            answer = client.stream("POST", "/chat/completions", json=answer_body)
            await relay.pipe(answer)
            await relay.close(final=("complete", {"response": answer.text_content,
                                                   "usage": answer.usage}))

        return relay.response(run())                # returned at once

The response streams at once: app events go out when sent, each phase as its upstream
delivers, heartbeats while idle (before the first upstream, between phases). A source's end
ends its phase only (events: its agent_complete; ai-sdk: its step; openai: nothing), so the
response has one end: close(final=(name, payload)) writes the app's final event in place of
the format's own (events' "complete"; before openai's / ai-sdk's "data: [DONE]"), close()
the format's own; a coroutine that returns without close() gets the format's own. Event ids
continue across phases. App events are named SSE events in the openai format: fine for
browsers, but the OpenAI SDKs read every event as a chunk, so a relay for them sends none.
When the browser disconnects, the current upstream is cancelled and
the app's coroutine gets CancelledError (at its await, e.g. in pipe()); a coroutine that
raises ends the response after what was queued (the client sees it cut short) and the
exception propagates to the server. Errors: a payload json cannot write (TypeError /
ValueError), send / pipe / close after close() or once the client went away
(RelayClosedError), pipe() of a source already relayed (AlreadyRelayedError).
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator, Mapping, Optional, Tuple, Union

try:
    from starlette.responses import StreamingResponse
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "tokenwire.fastapi needs Starlette (FastAPI's base): pip install 'tokenwire[fastapi]'"
    ) from exc

from . import _native
from .relay import AlreadyRelayedError, PhasedRelay, RelayClosedError, RelayError, take

FORMATS = _native.FORMATS  # the core's format names

__all__ = ["sse_response", "encode_stream", "RelayResponse", "FORMATS", "websocket_relay",
           "WebSocketRelay", "Relay", "RelayError", "RelayClosedError", "AlreadyRelayedError"]

EventIds = Union[None, bool, str, Tuple[str, int]]
FormatArg = Union[str, _native.Format]  # a built-in name or an app's own Format


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


def _encoder(source, format, id, model, event_ids, messages=False, constants=None):
    """The encoder of a relay of source (the source checked first)."""
    if not isinstance(source, (_native.Stream, _native.merge)):
        raise TypeError("source must be a tokenwire Stream or merge(), not %s"
                        % type(source).__name__)
    prefix, first_seq = _event_ids(event_ids)
    take(source)  # one relay per source (AlreadyRelayedError for a second)
    # A single Stream has one dialect, which tells the encoder whether an event index is a
    # choice (OpenAI n > 1, Gemini candidates) or a content-block position. A merge may mix
    # dialects: its sources keep the default (everything in choice 0 per agent).
    dialect = source.dialect if isinstance(source, _native.Stream) else None
    return _native.Encoder(format, id=id, model=model, dialect=dialect,
                           event_id_prefix=prefix, first_event_seq=first_seq,
                           messages=messages, constants=constants)


def _check_heartbeat(heartbeat: Optional[float]) -> float:
    if heartbeat is not None and (heartbeat < 0 or heartbeat != heartbeat):
        raise ValueError("heartbeat must be >= 0 seconds or None")
    return float(heartbeat or 0.0)


def _relay(source, format, heartbeat, id, model, event_ids, constants):
    """(encoder, body): the encoder numbering the events, and the relay body."""
    _check_heartbeat(heartbeat)
    encoder = _encoder(source, format, id, model, event_ids, constants=constants)
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
    format: FormatArg = "openai",
    heartbeat: Optional[float] = 15.0,
    *,
    id: Optional[str] = None,
    model: Optional[str] = None,
    event_ids: EventIds = None,
    constants: Optional[Mapping[str, Any]] = None,
) -> AsyncIterator[bytes]:
    """The relay body as an async iterator of bytes (what sse_response streams); event_ids and
    constants as for sse_response."""
    return _relay(source, format, heartbeat, id, model, event_ids,
                  dict(constants) if constants is not None else None)[1]


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
    format: FormatArg = "openai",
    heartbeat: Optional[float] = 15.0,
    headers: Optional[Mapping[str, str]] = None,
    *,
    status_code: int = 200,
    id: Optional[str] = None,
    model: Optional[str] = None,
    event_ids: EventIds = None,
    constants: Optional[Mapping[str, Any]] = None,
    tee: Any = None,
    detach: Union[bool, float] = False,
) -> RelayResponse:
    """A StreamingResponse relaying source in format ('openai', 'events', 'ai-sdk', 'ndjson',
    'text', or a tokenwire.Format) with the headers streaming proxies need (a Format's follow
    its framing: text/event-stream or application/x-ndjson).

    event_ids: None (default) or False: no ids. True: ids "<random stream id>:<seq>" from 0
    (uuid4 hex). "prefix": that stream id, from 0. (prefix, first_seq): from first_seq (a
    relay that continues a stream the browser resumes with Last-Event-ID "<prefix>:<n>" passes
    (prefix, n + 1)). The returned response's stream_id is the stream id chosen.

    constants: with a Format, this relay's values of constants its spec declares (the task
    id, the agent's name), e.g. constants={"agent": name}: the template stays compiled once,
    each relay's encoder carries its own values. ValueError for a constant the spec does not
    declare or a value json cannot write.

    tee: a tokenwire.resume.RedisTee: the relay is appended to Redis from C (event ids on),
    resumable on any worker; detach=True (or seconds): see tokenwire.resume."""
    encoder, body = _relay(source, format, heartbeat, id, model,
                           event_ids or (tee is not None),
                           dict(constants) if constants is not None else None)
    if tee is not None:
        body = tee._relay_body(source, encoder, body, detach)
    return _response(encoder, body, status_code, headers)


def _response(encoder, body, status_code, headers) -> RelayResponse:
    hdrs = dict(encoder.headers)  # the core's list for the format
    if headers:
        hdrs.update((k.lower(), v) for k, v in headers.items())
    resp = RelayResponse(body, status_code=status_code, headers=hdrs,
                         media_type=hdrs["content-type"])
    resp._encoder = encoder
    resp.stream_id = encoder.event_id_prefix
    resp.first_event_seq = encoder.next_event_seq
    return resp


class Relay(PhasedRelay):
    """One streamed response made of app events and phases (see the module docstring):
    send(name, payload), progress(value, status=None), await pipe(source),
    await close(final=None), response(app_coroutine). format, event_ids, constants, id and
    model as for sse_response; heartbeat: seconds between keep-alive comments while nothing
    is sent (SSE framing; None or 0: none)."""

    def __init__(self, format: FormatArg = "events", *, heartbeat: Optional[float] = 15.0,
                 event_ids: EventIds = None, id: Optional[str] = None,
                 model: Optional[str] = None,
                 constants: Optional[Mapping[str, Any]] = None) -> None:
        hb = _check_heartbeat(heartbeat)
        prefix, first_seq = _event_ids(event_ids)
        encoder = _native.Encoder(format, id=id, model=model, event_id_prefix=prefix,
                                  first_event_seq=first_seq, phases=True,
                                  constants=dict(constants) if constants is not None else None)
        super().__init__(encoder, hb)

    @property
    def headers(self):
        """The response headers of the format, from the core: [(name, value), ...]."""
        return self._enc.headers

    def response(self, app: Any = None, *, status_code: int = 200,
                 headers: Optional[Mapping[str, str]] = None) -> RelayResponse:
        """The StreamingResponse to return at once. app: the coroutine that drives the relay
        (run as a task when the response starts; cancelled when the client goes away)."""
        if app is not None and not asyncio.iscoroutine(app):
            raise TypeError("app must be a coroutine (call your async function), not %s"
                            % type(app).__name__)
        return _response(self._enc, self.chunks(app), status_code, headers)


def __getattr__(name: str):
    # The WebSocket relay lives in tokenwire.websocket (which imports this module).
    if name in ("websocket_relay", "WebSocketRelay"):
        from . import websocket

        return getattr(websocket, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
