"""final() (the summary after consuming the rest, awaitable on async streams, a plain call on
sync ones) and per-type callbacks (Stream.on / on_<type>= of Client.stream, sync or async,
called in order whatever consumes the stream: iteration, final(), a relay, a merge)."""
import asyncio

import pytest

import tokenwire as tw
from tokenwire.fastapi import encode_stream

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
PATH = "/v1/chat/completions?chunks=12&tools=1"


def mk(mock, **kw):
    return tw.Client(base_url=mock.base, max_retries=0, **kw)


def test_final_async_returns_the_summary(mock, run):
    c = mk(mock)

    async def main():
        s = c.stream("POST", PATH, json=BODY)
        first = await s.__anext__()
        summary = await s.final()
        rest = [ev async for ev in s]
        return s, first, summary, rest

    s, first, summary, rest = run(main())
    assert first.type == "start" and rest == []  # final() consumed the rest, yielded nothing
    assert summary == s.summary and summary["text"] == mock.expected_text(12)
    assert summary["end"] == "end" and len(summary["tool_calls"]) == 1 and s.done


def test_final_sync_is_a_plain_call(mock):
    s = mk(mock).stream_sync("POST", PATH, json=BODY)
    summary = s.final()
    assert isinstance(summary, dict) and summary["text"] == mock.expected_text(12)
    assert s.final() == summary  # again: the same result


@pytest.mark.parametrize("sync", [False, True])
def test_final_raises_the_terminal_error(mock, run, sync):
    c = mk(mock)
    path = "/v1/chat/completions?chunks=8&fault=provider_error&fault_after=3"
    if sync:
        s = c.stream_sync("POST", path, json=BODY)
        with pytest.raises(tw.ProviderError) as ei:
            s.final()
        with pytest.raises(tw.ProviderError):
            s.final()
    else:
        async def main():
            s = c.stream("POST", path, json=BODY)
            with pytest.raises(tw.ProviderError) as ei:
                await s.final()
            with pytest.raises(tw.ProviderError):
                await s.final()
            return s, ei
        s, ei = run(main())
    assert s.error is ei.value and s.summary["end"] == "error"
    assert s.summary["text"] == mock.expected_text(3)


class Log:
    """Callbacks that record what they got, a sync and an async kind."""

    def __init__(self):
        self.items = []

    def sync(self, tag):
        return lambda arg: self.items.append((tag, arg))

    def async_(self, tag):
        async def cb(arg):
            await asyncio.sleep(0)  # really suspends: the next callback must wait for this one
            self.items.append((tag, arg))
        return cb


def expected_calls(events):
    """What on_text (str) + on_event (Event) callbacks see, in order, for these events."""
    out = []
    for ev in events:
        if ev.type == "text":
            out.append(("text", ev.text))
        out.append(("event", ev.type))
    return out


def normalise(items):
    return [(t, a.type if isinstance(a, tw.Event) else a) for t, a in items]


@pytest.mark.parametrize("kinds", [("sync", "sync"), ("async_", "async_"), ("sync", "async_"),
                                   ("async_", "sync")])
def test_callbacks_in_order_during_async_iteration(mock, run, kinds):
    log = Log()
    c = mk(mock)

    async def main():
        seen = []
        s = c.stream("POST", PATH, json=BODY, on_text=getattr(log, kinds[0])("text"),
                     on_event=getattr(log, kinds[1])("event"))
        async for ev in s:
            # Every callback of this event (and the ones before) already ran.
            assert normalise(log.items) == expected_calls(seen + [ev])
            seen.append(ev)
        return s, seen

    s, seen = run(main())
    calls = normalise(log.items)
    assert calls[:-1] == expected_calls(seen)
    assert calls[-1] == ("event", "end")  # on_event sees the terminal event too
    assert "".join(a for t, a in calls if t == "text") == s.text_content


def test_callbacks_through_final_relay_and_merge(mock, run):
    c = mk(mock)

    async def main():
        got = {"final": [], "relay": [], "a": [], "b": [], "ends": [], "sources": set()}
        s1 = c.stream("POST", PATH, json=BODY, on_text=got["final"].append)
        s1.on("end", got["ends"].append)
        await s1.final()

        async def async_append(t):
            await asyncio.sleep(0)
            got["relay"].append(t)
        s2 = c.stream("POST", PATH, json=BODY, on_text=async_append)
        body = b"".join([chunk async for chunk in encode_stream(s2, "openai", heartbeat=None)])
        ms = {"a": c.stream("POST", "/v1/chat/completions?chunks=4", json=BODY,
                            on_text=got["a"].append),
              "b": c.stream("POST", "/v1/messages?chunks=6", json=BODY, dialect="anthropic",
                            on_text=got["b"].append,
                            on_event=lambda ev: got["sources"].add(ev.source))}
        async for _ in tw.merge(ms):
            pass
        return got, body

    got, body = run(main())
    assert "".join(got["final"]) == mock.expected_text(12)
    assert "".join(got["relay"]) == mock.expected_text(12) and b"[DONE]" in body
    assert "".join(got["a"]) == mock.expected_text(4)
    assert "".join(got["b"]) == mock.expected_text(6)
    assert len(got["ends"]) == 1 and got["ends"][0].type == "end"
    assert got["sources"] == {"b"}  # a merged stream's events carry their source


def test_async_final_with_async_callbacks_calls_them_as_chunks_arrive(mock, run):
    c = mk(mock)

    async def main():
        texts = []
        first = asyncio.get_running_loop().create_future()

        async def on_text(t):
            texts.append(t)
            if not first.done():
                first.set_result(len(texts))

        s = c.stream("POST", "/v1/chat/completions?chunks=200&delay_ms=2", json=BODY,
                     on_text=on_text)
        task = asyncio.ensure_future(s.final())
        n = await first  # a callback ran while final() was still waiting for the rest
        assert not task.done() and n >= 1
        summary = await task
        return texts, summary

    texts, summary = run(main())
    assert "".join(texts) == summary["text"] == mock.expected_text(200)


def test_sync_iteration_calls_callbacks_and_refuses_async_ones(mock):
    c = mk(mock)
    texts, types = [], []
    with c.stream_sync("POST", PATH, json=BODY, on_text=texts.append,
                       on_tool_call=lambda ev: types.append(ev.type)) as s:
        n = sum(1 for _ in s)
    assert n > 12 and "".join(texts) == mock.expected_text(12) and types

    async def acb(t):
        pass
    s = c.stream_sync("POST", PATH, json=BODY, on_text=acb)
    with pytest.raises(TypeError, match="async callbacks"):
        s.final()


def test_errors_reach_on_error_and_callback_exceptions_propagate(mock, run):
    c = mk(mock)
    errs = []
    s = c.stream_sync("POST", "/v1/chat/completions?chunks=6&fault=garbage&fault_after=2",
                      json=BODY, on_error=errs.append)
    assert s.final()["recoverable_errors"] == 1
    assert len(errs) == 1 and errs[0].recoverable is True and errs[0].kind == "protocol"

    def boom(t):
        raise ValueError("from the callback")

    async def main():
        s = c.stream("POST", PATH, json=BODY, on_text=boom)
        with pytest.raises(ValueError, match="from the callback"):
            async for _ in s:
                pass
        await s.aclose()

    run(main())


def test_on_arguments():
    s_types = list(tw.EVENT_TYPES) + ["event"]
    c = tw.Client(base_url="http://127.0.0.1:1", max_retries=0)
    s = c.stream_sync("POST", "/x", json=BODY)
    for t in s_types:
        assert s.on(t, print) is s
    with pytest.raises(ValueError):
        s.on("token", print)
    with pytest.raises(TypeError):
        s.on("text", "not callable")
    with pytest.raises(TypeError, match="on_token"):
        c.stream_sync("POST", "/x", json=BODY, on_token=print)
    s.close()
