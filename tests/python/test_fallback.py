"""Provider fallback before the first token (issue 12): stream(fallback=[client.request(...)])
moves on, in the core, to the next request when one fails before its first token; only the
winner's events reach Python, metrics["fallback_index"] says which, the last failure is raised
when all fail, and a bad fallback is refused before anything is sent."""
import asyncio
import socket

import pytest

import tokenwire as tw

OPENAI = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
ANTHROPIC = {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
             "stream": True}


@pytest.fixture
def unused_port():
    """A 127.0.0.1 port where nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clients(mock):
    primary = tw.Client(base_url=mock.base + "/v1", api_key="k1", max_retries=0)
    backup = tw.Client(base_url=mock.base + "/v1", api_key="k2", dialect="anthropic",
                       max_retries=0)
    return primary, backup


async def _events(s):
    return [ev async for ev in s]


def test_http_error_falls_back_to_another_dialect(mock, run):
    primary, backup = _clients(mock)

    async def main():
        s = primary.stream("POST", "/chat/completions?fault=500", json=OPENAI,
                           fallback=[backup.request("POST", "/messages?chunks=9",
                                                    json=ANTHROPIC)])
        return s, await _events(s)

    s, events = run(main())
    assert "".join(e.text for e in events if e.type == "text") == mock.expected_text(9)
    starts = [e for e in events if e.type == "start"]
    assert len(starts) == 1 and starts[0].id.startswith("msg_")  # the winner's only
    assert s.metrics["fallback_index"] == 1
    assert s.metrics["http_status"] == 200
    assert s.summary["text"] == mock.expected_text(9)


def test_chain_with_refused_connection_and_first_token_timeout(mock, run, unused_port):
    dead = tw.Client(base_url="http://127.0.0.1:%d/v1" % unused_port, api_key="k",
                     max_retries=0)
    primary, _ = _clients(mock)

    async def main():
        s = dead.stream("POST", "/chat/completions", json=OPENAI, fallback=[
            primary.request("POST", "/chat/completions?fault=stall&fault_after=0",
                            json=OPENAI, timeout=tw.Timeout(first_token=0.3)),
            primary.request("POST", "/chat/completions?chunks=4", json=OPENAI),
        ])
        return s, "".join([t async for t in s.text()])

    s, text = run(main())
    assert text == mock.expected_text(4)
    assert s.metrics["fallback_index"] == 2


def test_non_streaming_call_as_the_last_resort(mock, client):
    # Streaming first; then the same model without streaming (one JSON body, decoded whole).
    s = client.stream_sync("POST", "/chat/completions?fault=500", json=OPENAI, fallback=[
        client.request("POST", "/chat/completions?chunks=6", json={**OPENAI, "stream": False})])
    text = "".join(s.text())
    assert text == mock.expected_text(6)
    assert s.metrics["fallback_index"] == 1 and s.metrics["streamed"] is False


def test_all_failing_raises_the_last_failure(mock, client):
    s = client.stream_sync("POST", "/chat/completions?fault=500", json=OPENAI, fallback=[
        client.request("POST", "/chat/completions?fault=429&retry_after=0", json=OPENAI)])
    with pytest.raises(tw.HTTPError) as ei:
        list(s)
    assert ei.value.status == 429
    assert s.metrics["fallback_index"] == 1


def test_no_fallback_after_the_first_token(mock, client):
    s = client.stream_sync("POST", "/chat/completions?chunks=10&fault=reset&fault_after=3",
                           json=OPENAI,
                           fallback=[client.request("POST", "/chat/completions", json=OPENAI)])
    got = []
    with pytest.raises(tw.TransportError):
        for t in s.text():
            got.append(t)
    assert "".join(got) == mock.expected_text(3)
    assert s.metrics["fallback_index"] == 0


def test_bad_fallbacks_are_refused_before_sending(mock, client):
    with pytest.raises(ValueError, match="fallback 1: .*header"):
        client.stream_sync("POST", "/chat/completions", json=OPENAI, fallback=[
            client.request("POST", "/chat/completions", json=OPENAI,
                           headers={"X-Bad": "a\r\nInjected: 1"})])
    with pytest.raises(ValueError, match="fallback is empty"):
        client.stream_sync("POST", "/chat/completions", json=OPENAI, fallback=[])
    with pytest.raises(TypeError, match="Client.request"):
        client.stream_sync("POST", "/chat/completions", json=OPENAI,
                           fallback=[{"url": mock.base}])
    assert mock.wait_idle()["active"] == 0


def test_fallback_relayed_through_sse_response(mock):
    # The relay encodes whichever request won; nothing of the failed one reaches the body.
    from starlette.requests import Request as StarletteRequest  # noqa: F401 (installed)
    from tokenwire.fastapi import sse_response

    primary, backup = _clients(mock)

    async def main():
        s = primary.stream("POST", "/chat/completions?fault=500", json=OPENAI,
                           fallback=[backup.request("POST", "/messages?chunks=5",
                                                    json=ANTHROPIC)])
        resp = sse_response(s, format="text")
        body = b""
        async for chunk in resp.body_iterator:
            body += chunk if isinstance(chunk, bytes) else chunk.encode()
        return body.decode()

    assert asyncio.run(main()) == mock.expected_text(5)


def test_cancel_by_id_from_another_task(mock, run):
    """client.cancel(id) from another coroutine (a "stop" request handler, a WebSocket
    message) cancels every running stream started with that id, and only those."""
    client = tw.Client(base_url=mock.base + "/v1", api_key="k", max_retries=0)
    path = "/chat/completions?chunks=500&delay_ms=10"

    async def consume(s, first=None):
        got = []
        try:
            async for t in s.text():
                got.append(t)
                if first is not None:
                    first.set()
        except tw.AbortError:
            return "aborted", len(got)
        return "ended", len(got)

    async def main():
        first = asyncio.Event()
        a = client.stream("POST", path, json=OPENAI, id="task-1")
        b = client.stream("POST", path, json=OPENAI, id="task-1")
        c = client.stream("POST", "/chat/completions?chunks=30&delay_ms=1", json=OPENAI,
                          id="task-2")
        tasks = [asyncio.ensure_future(consume(a, first)), asyncio.ensure_future(consume(b)),
                 asyncio.ensure_future(consume(c))]
        await first.wait()  # the first token is out: cancel from "elsewhere"
        assert client.cancel("nobody") == 0
        assert client.cancel("task-1") == 2
        return await asyncio.gather(*tasks)

    (ka, _), (kb, _), (kc, nc) = run(main())
    assert (ka, kb, kc) == ("aborted", "aborted", "ended") and nc == 30
    with pytest.raises(TypeError):
        client.cancel(42)


def test_simulated_streaming_of_a_non_streaming_fallback(mock, run):
    """A non-streaming last resort, re-chunked and paced by the core: the relay sees a stream
    (several deltas, in order), flagged simulated."""
    primary, _ = _clients(mock)

    async def main():
        s = primary.stream("POST", "/chat/completions?fault=500", json=OPENAI, fallback=[
            primary.request("POST", "/chat/completions?chunks=6",
                            json={**OPENAI, "stream": False})], simulate=(4, 0.005))
        return s, [t async for t in s.text()]

    s, deltas = run(main())
    want = mock.expected_text(6)
    assert "".join(deltas) == want
    assert len(deltas) == (len(want) + 3) // 4 and all(len(d) <= 4 for d in deltas)
    m = s.metrics
    assert m["simulated"] is True and m["streamed"] is False and m["fallback_index"] == 1
    with pytest.raises(ValueError, match="simulate"):
        primary.stream("POST", "/chat/completions", json=OPENAI, simulate=(0, 1))
