"""Relays of phases: one response made of app events and several sources, encoded in C.

The transport-neutral half of tokenwire.fastapi.Relay (SSE / NDJSON responses) and
tokenwire.websocket.Relay (one message per event). One core encoder in phases mode numbers
every event of the response (event ids continue across phases); each source's end closes only
what it opened (an agent, an AI SDK step), and close() writes the one end of the response, with
the app's final event or the format's own. Per token nothing runs in Python: a phase is the
source's encoded view (one C encode call per drained batch), as for sse_response.

Order: app events sent while no phase streams are encoded at once; those sent (from another
task) while a phase streams go out right after the phase's next batch or heartbeat, so bytes
and event ids stay in one order.
"""
from __future__ import annotations

import asyncio
import collections
import json
from typing import Any, Awaitable, Optional, Tuple

from . import _native
from ._native import Error

__all__ = ["RelayError", "RelayClosedError", "AlreadyRelayedError", "PhasedRelay"]


class RelayError(Error):
    """A relay used out of order (tokenwire.Error)."""


class RelayClosedError(RelayError):
    """send / progress / pipe / close after close(), or after the client went away."""


class AlreadyRelayedError(RelayError):
    """pipe() of a Stream or merge() that a relay already took (its events went there)."""


_NAME_MAX = 256


def take(source: Any) -> None:
    """Checks source before a relay takes it over (its _encoded view marks it taken):
    TypeError for a non-source, AlreadyRelayedError when a relay or merge took it."""
    if not isinstance(source, (_native.Stream, _native.merge)):
        raise TypeError("a relay's source is a tokenwire Stream or merge(), not %s"
                        % type(source).__name__)
    # A second relay of a source would send nothing of what the first took.
    if _native.Encoder._taken(source):
        raise AlreadyRelayedError("this %s was already relayed (or merged): its events went "
                                  "there" % type(source).__name__)


def cancel_source(source: Any) -> None:
    """Cancels the upstream transfer(s); the source still delivers its end (the cancelled
    error), so a relay writes what the format writes for it."""
    streams = [source] if isinstance(source, _native.Stream) else source.streams.values()
    for s in streams:
        s.cancel()


def _check_name(name: Any) -> None:
    """What the core checks, before an event is deferred (its error belongs to send())."""
    if not isinstance(name, str):
        raise TypeError("an app event's name must be str, not %s" % type(name).__name__)
    raw = name.encode("utf-8", "surrogatepass")
    if not 0 < len(raw) <= _NAME_MAX or any(c < 0x20 or c == 0x7F for c in raw):
        raise ValueError("app event: a name is 1-256 bytes of UTF-8 without control "
                         "characters: %r" % name)


def _final(final: Any) -> Tuple[Optional[str], Any]:
    if final is None:
        return None, None
    if isinstance(final, tuple) and len(final) == 2:
        return final
    raise TypeError("final must be None or a (name, payload) tuple")


class PhasedRelay:
    """The relay's state and body. Subclasses give it a transport (an HTTP response, a
    WebSocket); chunks() is what they send: bytes, or lists of str in messages mode."""

    def __init__(self, encoder: "_native.Encoder", heartbeat: float) -> None:
        self._enc = encoder
        self._hb = heartbeat
        self._out: "collections.deque[Any]" = collections.deque()  # encoded, not sent
        self._deferred: "collections.deque[Tuple[int, Any, Any]]" = collections.deque()
        self._phases: "collections.deque[Any]" = collections.deque()  # (source, iter, fut)
        self._streaming = False  # a phase's iterator is running in chunks()
        self._closing = False  # close() called (its end queued or being written)
        self._ended = False  # the end was encoded
        self._gone = False  # the transport ended (client away, error): nothing is sent
        self._waiter: Optional[asyncio.Future] = None
        self._idle: Optional[asyncio.Future] = None  # close() waiting for the phases
        self._task: Optional[asyncio.Task] = None
        self._running = False  # chunks() started: one output per relay
        self.stream_id: Optional[str] = encoder.event_id_prefix
        self.first_event_seq: int = encoder.next_event_seq

    # ---- the app's calls ----------------------------------------------------------------

    @property
    def next_event_seq(self) -> int:
        return self._enc.next_event_seq

    @property
    def closed(self) -> bool:
        """True once close() was called or the client went away."""
        return self._closing or self._gone

    def _check_open(self, what: str) -> None:
        if self._gone:
            raise RelayClosedError("%s: the client went away, the relay is over" % what)
        if self._closing:
            raise RelayClosedError("%s: the relay is closed" % what)

    def send(self, name: str, payload: Any = None) -> None:
        """Queues an app event (payload: any json-serializable value; TypeError / ValueError
        when it is not, RelayClosedError after close)."""
        self._check_open("send")
        if self._streaming:
            _check_name(name)
            json.dumps(payload, allow_nan=False)  # its error is send()'s, not the body's
            self._deferred.append((0, name, payload))
        else:
            self._push(self._enc.send(name, payload))

    def progress(self, value: float, status: Optional[str] = None) -> None:
        """Queues the app event "progress" {"progress": value (0-1), "status": status}."""
        self._check_open("progress")
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError("progress: a value in [0, 1], not %r" % (value,))
        if status is not None and not isinstance(status, str):
            raise TypeError("progress: status must be str or None")
        if self._streaming:
            self._deferred.append((1, float(value), status))
        else:
            self._push(self._enc.progress(float(value), status))

    async def pipe(self, source: Any) -> None:
        """Relays source (a Stream or merge(), also one already partly read: what was read
        goes first) as one phase; returns when it ended. Cancelling the caller cancels the
        upstream."""
        self._check_open("pipe")
        take(source)
        it = source._encoded(self._enc, float(self._hb or 0.0))
        fut = asyncio.get_running_loop().create_future()
        self._phases.append((source, it, fut))
        self._wake()
        try:
            await fut
        except asyncio.CancelledError:
            cancel_source(source)  # the phase still ends (cancelled error) in the body
            raise

    async def close(self, final: Any = None) -> None:
        """Ends the relay once all phases ended: final=(name, payload) is the app's final
        event, None the format's own end. Bad payload: TypeError / ValueError and the relay
        stays open."""
        self._check_open("close")
        name, payload = _final(final)
        if name is not None:
            _check_name(name)
        while self._phases:
            self._idle = asyncio.get_running_loop().create_future()
            await self._idle
        self._check_open("close")
        data = self._enc.close(name, payload) if name is not None else self._enc.close()
        self._closing = self._ended = True
        self._push(data)

    # ---- the body -----------------------------------------------------------------------

    def _push(self, data: Any) -> None:
        if data:
            self._out.append(data)
            self._wake()

    def _wake(self, *_: Any) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _encode_deferred(self) -> None:
        while self._deferred:
            kind, a, b = self._deferred.popleft()
            self._out.append(self._enc.progress(a, b) if kind else self._enc.send(a, b))

    def start(self, app: Optional[Awaitable[Any]]) -> None:
        """Runs the app's coroutine as a task of this relay (cancelled when the client goes
        away)."""
        if app is None:
            return
        if not asyncio.iscoroutine(app):
            raise TypeError("the app is a coroutine (call your async function), not %s"
                            % type(app).__name__)
        self._task = asyncio.get_running_loop().create_task(app)
        self._task.add_done_callback(self._wake)

    async def chunks(self, app: Optional[Awaitable[Any]] = None):
        """The relay's output, in order; ends after the end was sent. The app's coroutine
        runs alongside; its exception ends the output after what was queued and propagates;
        an app that returns without close() gets the format's end."""
        loop = asyncio.get_running_loop()
        if self._running:
            raise RelayError("this relay's output is already being sent (one response per "
                             "relay)")
        self._running = True
        self.start(app)
        try:
            while True:
                while self._out:
                    yield self._out.popleft()
                if self._phases:
                    phase = self._phase()
                    try:
                        async for chunk in phase:
                            yield chunk
                    finally:
                        await phase.aclose()  # ends the phase now, whatever ended the body
                    continue
                if self._ended:
                    return
                if self._task is not None and self._task.done():
                    if not self._task.cancelled() and self._task.exception() is not None:
                        raise self._task.exception()
                    self._closing = self._ended = True  # returned without close()
                    self._push(self._enc.close())
                    continue
                if self._idle is not None and not self._idle.done():
                    self._idle.set_result(None)
                    continue
                self._waiter = loop.create_future()
                beat = loop.call_later(self._hb, self._wake) if self._hb else None
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                    if beat is not None:
                        beat.cancel()
                if not self._out and not self._phases and not self._ended and (
                        self._task is None or not self._task.done()) and (
                        self._idle is None or self._idle.done()):
                    hb = self._enc.heartbeat()  # woken by the timer: idle
                    if hb:
                        yield hb
        finally:
            self._gone = not self._ended
            await self._stop()

    async def _phase(self):
        source, it, fut = self._phases[0]
        err = None
        self._streaming = True
        try:
            async for chunk in it:
                yield chunk
                self._encode_deferred()
                while self._out:
                    yield self._out.popleft()
        except (Exception, asyncio.CancelledError, GeneratorExit) as e:
            err = e
            raise
        finally:
            self._streaming = False
            self._phases.popleft()
            self._encode_deferred()
            if not fut.done():
                if err is None:
                    fut.set_result(None)
                elif isinstance(err, Exception):
                    fut.set_exception(err)
                else:
                    fut.cancel()
            if err is not None:
                await source.aclose()

    async def _stop(self) -> None:
        """The body ended (normally, failing or the client gone): the app and the upstreams
        stop now, rather than when the objects are collected."""
        if self._task is not None and not self._task.done():
            self._task.cancel()  # CancelledError into the app's coroutine
        while self._phases:
            source, _, fut = self._phases.popleft()
            if not fut.done():
                fut.cancel()
            await source.aclose()
        if self._idle is not None and not self._idle.done():
            self._idle.cancel()
