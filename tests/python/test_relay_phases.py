"""Relays of phases with app events (tokenwire.fastapi.Relay, tokenwire.websocket.Relay) in a
real FastAPI app under uvicorn (helpers/phases_app.py), read with httpx and websockets: a
status event before the upstream starts (the app's gate released by the test after it read the
status and a heartbeat), two phases with progress between them, one final complete carrying the
response text and usage, event ids continuous across phases, a disconnect mid-phase cancelling
the upstream (mock stats) and the app's coroutine; and the typed errors, in process."""
import asyncio
import json
import uuid

import httpx
import pytest
from websockets.sync.client import connect

import tokenwire as tw
from helpers.asgi_server import serve
from tokenwire.fastapi import AlreadyRelayedError, Relay, RelayClosedError, sse_response


@pytest.fixture(scope="module")
def app(mock):
    with serve("phases_app:app", {"TOKENWIRE_BASE_URL": mock.base}) as urls:
        yield urls


def key():
    return uuid.uuid4().hex


def sse_events(raw):
    p = tw.SSEParser()
    return p.feed(raw) + p.finish()


def read_until(it, buf, marker):
    """Reads the streamed body until marker is in what was read (no timing involved)."""
    while marker not in buf:
        buf += next(it)
    return buf


def test_status_before_the_upstream_two_phases_one_complete(app, mock):
    k = key()
    before = mock.wait_idle()["total"]
    with httpx.Client(timeout=30) as h:
        with h.stream("GET", app[0] + "/phases/events",
                      params={"key": k, "ids": "r", "gated": "1", "hb": "0.05"}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            it = r.iter_raw()
            # The status and a heartbeat arrive while the app waits on its gate: no upstream
            # request was made yet.
            buf = read_until(it, b"", b": keepalive\n\n")
            assert buf.startswith(b"id: r:0\nevent: status\ndata: {\"state\":\"thinking\"}\n\n")
            assert mock.stats()["total"] == before
            h.post(app[0] + "/release/" + k).raise_for_status()
            for chunk in it:
                buf += chunk
        assert h.get(app[0] + "/state/" + k).json() == {"state": "closed"}
    evs = [e for e in sse_events(buf)]
    names = [e.event for e in evs]
    # Ids continue across the phases and app events: r:0 .. r:N-1, in order.
    assert [e.id for e in evs] == ["r:%d" % i for i in range(len(evs))]
    assert names[0] == "status" and names[-1] == "complete" and names.count("complete") == 1
    # Two phases (the one default agent each time), the progress between them.
    starts = [i for i, n in enumerate(names) if n == "agent_start"]
    ends = [i for i, n in enumerate(names) if n == "agent_complete"]
    assert len(starts) == 2 and len(ends) == 2
    prog = names.index("progress")
    assert ends[0] < prog < starts[1]
    assert json.loads(evs[prog].data) == {"progress": 0.5, "status": "writing"}
    text = "".join(json.loads(e.data).get("text", "") for e in evs
                   if e.event == "agent_chunk" and json.loads(e.data)["type"] == "text")
    want = mock.expected_text(3) + mock.expected_text(4)
    assert text == want
    final = json.loads(evs[-1].data)
    assert final["response"] == want and final["phases"] == 2
    assert set(final["usage"]) >= {"input_tokens", "output_tokens", "total_tokens"}
    assert mock.wait_idle()["total"] == before + 2


@pytest.mark.parametrize("fmt", ["openai", "ai-sdk"])
def test_one_end_marker_across_phases(app, mock, fmt):
    with httpx.Client(timeout=30) as h:
        raw = h.get(app[0] + "/phases/" + fmt, params={"key": key()}).content
    evs = sse_events(raw)
    datas = [e.data for e in evs]
    assert datas.count("[DONE]") == 1 and datas[-1] == "[DONE]"
    if fmt == "openai":
        assert [e.event for e in evs if e.event != "message"] == ["status", "progress",
                                                                  "complete"]
        text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                       for e, d in zip(evs, datas)
                       if e.event == "message" and d != "[DONE]" and json.loads(d)["choices"])
    else:
        parts = [json.loads(d) for d in datas[:-1]]
        kinds = [p["type"] for p in parts]
        assert kinds.count("start") == 1 and kinds.count("finish") == 1
        assert kinds.count("start-step") == 2 and kinds.count("finish-step") == 2
        assert kinds[0] == "start" and kinds[-2:] == ["data-complete", "finish"]
        text = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
    assert text == mock.expected_text(3) + mock.expected_text(4)


def test_an_app_vocabulary_ndjson(app, mock):
    with httpx.Client(timeout=30) as h:
        r = h.get(app[0] + "/phases/chat", params={"key": key(), "ids": "n"})
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x["event_id"] for x in lines] == ["n:%d" % i for i in range(len(lines))]
    assert lines[0] == {"event_id": "n:0", "type": "status", "state": "thinking"}
    prog = [x for x in lines if x.get("event") == "progress"]  # not mapped: passed through
    assert prog == [{"event_id": prog[0]["event_id"], "event": "progress",
                     "data": {"progress": 0.5, "status": "writing"}}]
    want = mock.expected_text(3) + mock.expected_text(4)
    assert "".join(x["content"] for x in lines if x.get("type") == "chat") == want
    done = lines[-1]
    assert done["type"] == "done" and done["response"] == want and done["phases"] == 2
    assert done["usage"]["output_tokens"] is not None


def aborted_after(mock, before):
    """Waits (mock stats, bounded) until the mock saw one more aborted response."""
    st = mock.wait_idle(10)
    tries = 50
    while st["aborted"] <= before and tries:
        st = mock.wait_idle(0.1)
        tries -= 1
    return st


def test_disconnect_mid_phase_cancels_the_upstream_and_the_app(app, mock):
    k = key()
    before = mock.wait_idle()["aborted"]
    with httpx.Client(timeout=30) as h:
        with h.stream("GET", app[0] + "/slow", params={"key": k}) as r:
            it = r.iter_raw()
            buf = b""
            while buf.count(b"agent_chunk") < 3:
                buf += next(it)
        # The response is closed: the app's coroutine got CancelledError in pipe().
        assert h.get(app[0] + "/state/" + k).json() == {"state": "cancelled"}
    st = aborted_after(mock, before)
    assert st["active"] == 0 and st["aborted"] > before


def test_websocket_relay_of_phases(app, mock):
    k = key()
    with connect(app[1] + "/ws/phases", open_timeout=30, close_timeout=5) as conn:
        conn.send(json.dumps({"key": k, "ids": "w"}))
        got = []
        while True:
            obj = json.loads(conn.recv(timeout=30))
            if obj.get("type") == "relay_done":
                break
            got.append(obj)
    assert obj["reason"] == "end"
    assert [m["id"] for m in got] == ["w:%d" % i for i in range(len(got))]
    names = [m["event"] for m in got]
    assert names[0] == "status" and got[0]["data"] == {"state": "thinking"}
    assert names.count("complete") == 1 and names[-1] == "complete"
    assert names.count("agent_start") == 2 and "progress" in names
    want = mock.expected_text(3) + mock.expected_text(4)
    assert got[-1]["data"]["response"] == want


def test_websocket_cancel_message_stops_the_app(app, mock):
    k = key()
    before = mock.wait_idle()["aborted"]
    with connect(app[1] + "/ws/phases", open_timeout=30, close_timeout=5) as conn:
        conn.send(json.dumps({"key": k, "slow": True}))
        got = []
        while sum(1 for m in got if m.get("event") == "agent_chunk") < 2:
            got.append(json.loads(conn.recv(timeout=30)))
        conn.send(json.dumps({"type": "cancel"}))
        while True:
            obj = json.loads(conn.recv(timeout=30))
            if obj.get("type") == "relay_done":
                break
            got.append(obj)
    assert obj["reason"] == "cancelled"
    # The format's own end after the cancelled phase: one complete.
    assert got[-1]["event"] == "complete"
    with httpx.Client(timeout=30) as h:
        assert h.get(app[0] + "/state/" + k).json() == {"state": "cancelled"}
    st = aborted_after(mock, before)
    assert st["active"] == 0 and st["aborted"] > before


# ---- typed errors, in process ---------------------------------------------------------------


def test_errors(run, mock):
    c = tw.Client(base_url=mock.base, max_retries=0)

    async def main():
        relay = Relay(format="events", heartbeat=None)
        with pytest.raises(TypeError):
            relay.send("x", {"a": object()})  # not JSON-serializable
        with pytest.raises(ValueError):
            relay.send("x", float("nan"))
        with pytest.raises(ValueError):
            relay.send("a\nb", 1)
        with pytest.raises(ValueError):
            relay.progress(2)
        with pytest.raises(TypeError):
            await relay.pipe("not a stream")
        s = c.stream("POST", "/v1/chat/completions", json={"model": "m"},
                     params={"chunks": "2"})
        sse_response(s)  # this relay took the stream
        with pytest.raises(AlreadyRelayedError):
            await relay.pipe(s)
        s2 = c.stream("POST", "/v1/chat/completions", json={"model": "m"},
                      params={"chunks": "2"})
        out = []

        async def app():
            relay.send("status", {"ok": True})
            await relay.pipe(s2)
            with pytest.raises(AlreadyRelayedError):
                await relay.pipe(s2)
            with pytest.raises(TypeError):
                await relay.close(final=("complete", {1, 2}))  # a set: stays open
            await relay.close(final=("complete", {"n": 1}))
            for call in (lambda: relay.send("x", 1), lambda: relay.progress(0.1)):
                with pytest.raises(RelayClosedError):
                    call()
            with pytest.raises(RelayClosedError):
                await relay.close()
            s3 = c.stream("POST", "/v1/chat/completions", json={"model": "m"})
            with pytest.raises(RelayClosedError):
                await relay.pipe(s3)
            await s3.aclose()

        async for chunk in relay.chunks(app()):
            out.append(chunk)
        with pytest.raises(tw.Error, match="one response per relay"):
            await relay.chunks().__anext__()
        await s.aclose()
        body = b"".join(out)
        assert body.startswith(b"event: status\n")
        assert body.endswith(b"event: complete\ndata: {\"n\":1}\n\n")
        assert issubclass(RelayClosedError, tw.Error)

    run(main())


def test_app_that_returns_without_close_gets_the_format_end(run):
    async def main():
        relay = Relay(format="openai", heartbeat=None)

        async def app():
            relay.send("note", "hi")

        body = b"".join([c async for c in relay.chunks(app())])
        assert body == b"event: note\ndata: \"hi\"\n\ndata: [DONE]\n\n"

    run(main())


def test_app_that_raises_ends_the_output_after_what_was_queued(run):
    async def main():
        relay = Relay(format="events", heartbeat=None)
        got = []

        async def app():
            relay.send("status", 1)
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            async for c in relay.chunks(app()):
                got.append(c)
        assert got == [b"event: status\ndata: 1\n\n"]

    run(main())


def test_a_merge_and_a_peeked_stream_as_phases(run, mock):
    """A merge is one phase (its agents start and complete inside it); a stream the app read
    from until its first text is relayed whole (the events read first); one complete."""
    c = tw.Client(base_url=mock.base, max_retries=0)

    def up(n):
        return c.stream("POST", "/v1/chat/completions", json={"model": "m"},
                        params={"chunks": str(n)})

    async def main():
        relay = Relay(format="events", heartbeat=None, event_ids="p")

        async def app():
            await relay.pipe(tw.merge({"a": up(2), "b": up(3)}))
            s = up(4)
            async for ev in s:  # peek, as an app choosing a fallback does
                if ev.type == "text":
                    break
            relay.progress(1.0)
            await relay.pipe(s)
            await relay.close()

        evs = sse_events(b"".join([x async for x in relay.chunks(app())]))
        assert [e.id for e in evs] == ["p:%d" % i for i in range(len(evs))]
        names = [e.event for e in evs]
        assert names.count("complete") == 1 and names[-1] == "complete"
        # Three agents over the response: a, b, then the default one of the second phase.
        assert json.loads(evs[-1].data) == {"agents": 3, "errors": 0}
        by_agent = {}
        for e in evs:
            d = json.loads(e.data)
            if e.event == "agent_chunk" and d["type"] == "text":
                by_agent[d["agent"]] = by_agent.get(d["agent"], "") + d["text"]
        assert by_agent == {"a": mock.expected_text(2), "b": mock.expected_text(3),
                            "default": mock.expected_text(4)}
        prog = names.index("progress")
        assert names[prog + 1] == "agent_start"  # the peeked stream's phase starts after it

    run(main())
