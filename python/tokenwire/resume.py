"""Streams that survive: a Redis Streams tee for relays, and resume on any worker.

    from tokenwire.resume import RedisTee, resume_response
    from tokenwire.fastapi import sse_response

    tee = RedisTee("redis://127.0.0.1:6379/0")        # one per process, shared by the app

    @app.post("/chat")
    async def chat(req: Request):
        s = client.stream("POST", "/chat/completions", json=body)
        return sse_response(s, format="openai", tee=tee, detach=True)

    @app.get("/chat/resume")
    async def resume(req: Request):
        return await resume_response(tee, req)      # Last-Event-ID header or ?resume=<id>

    @app.post("/chat/{stream_id}/stop")
    async def stop(stream_id: str):
        tee.request_stop(stream_id)                   # reaches the producer on any instance

With tee=, the relay numbers its events ("id: <stream id>:<seq>") and the C encode loop appends
each encoded batch to Redis (bytes, first seq, each event's end): no Python runs per token. The
end of the answer (or the terminal error) is recorded when the relay finishes. A browser's
EventSource sends the last id back as Last-Event-ID when it reconnects; resume_response replays
what came after it from Redis, then follows the live tail until the end marker.

detach=True (or a number of seconds): the upstream keeps running, and teeing, when the browser
disconnects; it stops on tee.request_stop(stream_id) from any instance, or when no resume reader
announced itself for that many seconds (default 60).

Failures never hurt the live relay: with Redis unreachable at start the relay serves its reader
and resume answers 503 (or RedisTee(require=True) raises); a Redis lost mid-stream is logged once
("tokenwire.resume" logger; on_notice gets it too); new streams use Redis once it is back.

Process model: each process (every uvicorn / gunicorn worker, with or without --preload) makes
its own RedisTee when the app module is imported in it: the tee starts its writer thread and
connection on first use in the worker; a tee object inherited through fork() (gunicorn
--preload imports the app in the master) starts a fresh writer in each child. Node cluster:
the same, one tee per worker. Any worker or instance can resume any stream: Redis is the shared
state, and a stop request reaches the producer wherever it runs.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.parse
from typing import Any, AsyncIterator, Callable, Dict, Optional, Tuple, Union

from . import _native

__all__ = ["RedisTee", "resume_response", "resume_stream", "parse_event_id", "ResumeNotFound"]

log = logging.getLogger("tokenwire.resume")

Notice = Tuple[str, Optional[str], str]  # (kind, stream id or None, message)


def _parse_url(url: str) -> Dict[str, Any]:
    """redis://[user[:password]@]host[:port][/db] or unix:///path[?db=N] as Tee keywords."""
    u = urllib.parse.urlsplit(url)
    kw: Dict[str, Any] = {}
    if u.scheme == "unix":
        kw["unix_path"] = u.path
        q = urllib.parse.parse_qs(u.query)
        if "db" in q:
            kw["db"] = int(q["db"][0])
    elif u.scheme == "redis":
        kw["host"] = u.hostname or "127.0.0.1"
        kw["port"] = u.port or 6379
        db = u.path.strip("/")
        if db:
            kw["db"] = int(db)
    else:
        raise ValueError("Redis url must be redis://host:port/db or unix:///path, not %r" % url)
    if u.username:
        kw["username"] = urllib.parse.unquote(u.username)
    if u.password:
        kw["password"] = urllib.parse.unquote(u.password)
    return kw


def parse_event_id(value: str) -> Tuple[str, int]:
    """(stream id, seq) of an event id "<stream id>:<seq>"; ValueError for anything else."""
    sid, sep, seq = (value or "").strip().rpartition(":")
    if not sep or not sid or not seq.isdigit() or len(sid) > 200:
        raise ValueError("not a tokenwire event id: %r" % value)
    return sid, int(seq)


class RedisTee:
    """The tee of resumable relays: one writer thread and Redis connection per process, shared
    by every relay (pass it as sse_response(..., tee=tee)).

    url: redis://[user:password@]host:port/db or unix:///path?db=N. prefix: the key prefix
    ("<prefix>s:<stream id>" per stream). ttl: seconds a finished stream stays resumable.
    maxlen: entries kept per stream (XADD MAXLEN ~). require: True raises
    tokenwire.TransportError-like errors when Redis cannot be reached now; False (default)
    starts degraded (live relays serve, resume answers 503) and keeps reconnecting.
    on_notice(kind, stream_id, message): called on the loop for every notice (lost, stop, down,
    up, abandoned) besides the log line."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "tw:",
                 ttl: int = 3600, maxlen: int = 10000, require: bool = False,
                 live_ttl: int = 86400, linger_ms: int = 5, stop_poll_ms: int = 200,
                 connect_timeout_ms: int = 1000,
                 on_notice: Optional[Callable[[str, Optional[str], str], None]] = None):
        self.url = url
        self._kw = dict(_parse_url(url), key_prefix=prefix, require=require, maxlen=maxlen,
                        ttl=ttl, live_ttl=live_ttl, linger_ms=linger_ms,
                        stop_poll_ms=stop_poll_ms, connect_timeout_ms=connect_timeout_ms)
        self.on_notice = on_notice
        self._native: Optional[_native.Tee] = None
        self._pid = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._producers: Dict[str, Any] = {}  # stream id -> its source (for stop / abandon)
        self.notices: list = []  # the last 100 notices, for health checks and tests
        if require:
            self.native  # connect now: refuse to start without Redis

    @property
    def native(self) -> _native.Tee:
        """The core's tee, started on first use (in the worker process, not a preload
        master)."""
        if self._native is None or self._pid != os.getpid():
            # A tee made before a fork (gunicorn --preload master) has no writer thread in
            # the child: each process gets its own.
            self._native, self._loop, self._pid = _native.Tee(**self._kw), None, os.getpid()
            self._producers.clear()
        return self._native

    @property
    def available(self) -> bool:
        """True while Redis is reachable (new streams are tee'd)."""
        return self.native.available()[0]

    def request_stop(self, stream_id: str) -> None:
        """Asks the producer of stream_id, on whichever instance runs it, to stop."""
        self.native.request_stop(stream_id)

    def stats(self) -> dict:
        return self.native.stats()

    def flush(self, timeout: float = 2.0) -> bool:
        """Waits until what was queued is written (graceful shutdown, tests)."""
        return self.native.flush(int(timeout * 1000))

    def close(self) -> None:
        if self._native is not None:
            self._unwatch()
            self._native.close()

    # ---- notices, on the loop ------------------------------------------------------------

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._unwatch()
        loop.add_reader(self.native.fileno(), self._on_notices)
        self._loop = loop

    def _unwatch(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.remove_reader(self._native.fileno())
            except (ValueError, RuntimeError):  # pragma: no cover - loop torn down
                pass
        self._loop = None

    def _on_notices(self) -> None:
        for kind, sid, msg in self.native.take_notices():
            self.notices = (self.notices + [(kind, sid, msg)])[-100:]
            if kind in ("lost", "down"):
                log.warning("tokenwire tee: %s%s: %s", kind, " " + sid if sid else "", msg)
            else:
                log.info("tokenwire tee: %s%s", kind, " " + sid if sid else "")
            if kind in ("stop", "abandoned") and sid in self._producers:
                src = self._producers[sid]
                # A Stream cancels its transfer (its relay then ends with a cancelled error,
                # recorded for readers); a merge closes its streams.
                (src.cancel if hasattr(src, "cancel") else src.aclose)()
            if self.on_notice is not None:
                try:
                    self.on_notice(kind, sid, msg)
                except Exception:  # a callback's bug never hurts the relays
                    log.exception("tokenwire tee: on_notice raised")

    # ---- relays ---------------------------------------------------------------------------

    def _relay_body(self, source, encoder, body: AsyncIterator[bytes],
                    detach: Union[bool, float]) -> AsyncIterator[bytes]:
        """The relay body of sse_response(..., tee=self): the encoder appends to Redis from C;
        with detach the upstream outlives the browser."""
        sid = encoder.event_id_prefix
        abandon = 60.0 if detach is True else float(detach or 0)
        if detach is not False and not abandon > 0:
            raise ValueError("detach must be a bool or a number of seconds > 0")
        self.native._attach(encoder, sid)  # ValueError now for a format without ids
        return (self._detached(source, encoder, body, sid, abandon) if detach is not False
                else self._attached(source, encoder, body, sid))

    def _start(self, source, encoder, sid: str) -> None:
        self._watch()
        self._producers[sid] = source

    async def _attached(self, source, encoder, body, sid) -> AsyncIterator[bytes]:
        self._start(source, encoder, sid)
        try:
            async for chunk in body:
                yield chunk
        finally:
            self._producers.pop(sid, None)
            self.native._end(encoder)  # a no-op after the end; else readers end now

    async def _detached(self, source, encoder, body, sid, abandon) -> AsyncIterator[bytes]:
        self._start(source, encoder, sid)
        # One queue item per drained batch (not per token); a None ends it.
        q: asyncio.Queue = asyncio.Queue()
        reader = {"on": True}

        async def produce() -> None:
            try:
                async for chunk in body:
                    if reader["on"]:
                        q.put_nowait(chunk)
            except Exception as exc:  # the live reader gets it; the tee recorded the end
                if reader["on"]:
                    q.put_nowait(exc)
            finally:
                self._producers.pop(sid, None)
                q.put_nowait(None)

        task = asyncio.ensure_future(produce())
        _running.add(task)
        task.add_done_callback(_running.discard)
        try:
            while True:
                item = await q.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not task.done():
                # The browser went away: the producer keeps teeing until the end, a stop, or
                # abandon seconds without a resume reader.
                reader["on"] = False
                self.native.watch_readers(sid, int(abandon * 1000))


_running: set = set()  # detached producers (a task must be referenced to keep running)


class ResumeNotFound(LookupError):
    """The stream is unknown, expired, or no longer holds the events after the id."""


async def _wait_fd(fd: int, timeout: Optional[float]) -> bool:
    """True once fd is readable, False after timeout seconds."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.add_reader(fd, lambda: fut.done() or fut.set_result(True))
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


async def resume_stream(tee: RedisTee, event_id: str, *, heartbeat: Optional[float] = 15.0,
                        sse: bool = True, grace: float = 0.5,
                        idle_timeout: float = 120.0) -> AsyncIterator[bytes]:
    """The bytes of stream <id> after the event id "<stream id>:<seq>" (or "<stream id>" alone:
    from the start), then its live tail until its end. Raises ResumeNotFound (unknown or expired
    id, checked before the first byte) or ConnectionError (Redis unavailable) when awaited for
    its first chunk: resume_response does that before answering."""
    it = _resume_iter(tee, event_id, heartbeat, sse, grace, idle_timeout)
    first = await it.__anext__()  # raises before any byte is promised

    async def chain() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in it:
                yield chunk
        finally:
            await it.aclose()

    return chain()


async def _resume_iter(tee, event_id, heartbeat, sse, grace, idle_timeout):
    if ":" in (event_id or "") and event_id.rpartition(":")[2].isdigit():
        sid, last = parse_event_id(event_id)
    else:
        sid, last = event_id, None
    r = _native.ResumeReader(tee.native, sid, last, not_found_grace_ms=int(grace * 1000),
                             idle_timeout_ms=int(idle_timeout * 1000))
    fd = r.fileno()
    started = False
    try:
        while True:
            got = r.take()
            if got is not None:
                started = True
                yield got[0]
                continue
            state, msg = r.status()
            if state == "running":
                if not started and r.found():
                    # The stream exists, nothing new yet (up to date with a live answer): the
                    # response starts now (headers), heartbeats from here on.
                    started = True
                    yield b""
                    continue
                ready = await _wait_fd(fd, heartbeat if started and heartbeat else None)
                if not ready and sse:
                    yield b": keepalive\n\n"
                continue
            if not started:
                if state == "not_found":
                    raise ResumeNotFound(msg or "unknown or expired stream id")
                if state == "store_error":
                    raise ConnectionError(msg or "resume store unavailable")
                started = True
                yield b""  # an empty stream that ended (e.g. resumed after its last event)
            if state in ("store_error", "timeout"):
                log.warning("tokenwire resume of %s ended: %s: %s", sid, state, msg)
            return
    finally:
        r.close()


def _json_error(status: int, detail: str):
    from starlette.responses import Response

    return Response(json.dumps({"detail": detail}), status_code=status,
                    media_type="application/json")


async def resume_response(tee: RedisTee, request: Any = None, *,
                          last_event_id: Optional[str] = None, format: str = "openai",
                          heartbeat: Optional[float] = 15.0, grace: float = 0.5,
                          headers: Optional[Dict[str, str]] = None):
    """A Starlette response resuming a tee'd relay on any worker: the events after the id the
    request carries (Last-Event-ID header, else ?resume=<id>; or last_event_id=) from Redis,
    then the live tail until the end, with ": keepalive" heartbeats. 404 with a JSON body for
    an unknown or expired id, 400 for a missing or malformed one, 503 when Redis is down.
    format: the relay's format (for the response headers)."""
    from starlette.responses import StreamingResponse

    eid = last_event_id
    if eid is None and request is not None:
        eid = request.headers.get("last-event-id") or request.query_params.get("resume")
    if not eid:
        return _json_error(400, "no Last-Event-ID header or resume= id to resume from")
    enc = _native.Encoder(format)
    hdrs = dict(enc.headers)
    sse = "event-stream" in hdrs["content-type"]
    try:
        body = await resume_stream(tee, eid, heartbeat=heartbeat, sse=sse, grace=grace)
    except ResumeNotFound as exc:
        return _json_error(404, "unknown or expired stream id %r: %s" % (eid, exc))
    except ConnectionError as exc:
        return _json_error(503, str(exc))
    if headers:
        hdrs.update((k.lower(), v) for k, v in headers.items())
    return StreamingResponse(body, headers=hdrs, media_type=hdrs["content-type"])
