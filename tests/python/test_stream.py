"""Client / Stream against the mock server: dialects, views, errors, retries, timeouts,
cancellation, backpressure, merge, sync iteration."""
import asyncio
import gc
import json
import os
import time
import urllib.request
import uuid

import psutil
import pytest

import tokenwire as tw

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}

PATHS = {
    "openai": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
    "ollama": "/api/chat",
}


def url(path, **q):
    if not q:
        return path
    qs = "&".join("%s=%s" % kv for kv in q.items())
    return path + ("&" if "?" in path else "?") + qs


def mk(mock, **kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("retry_base_delay", 0.01)
    return tw.Client(base_url=mock.base, api_key="k", **kw)


def norm(e):
    """An event as a dict, without the per-request response id."""
    d = e.to_dict()
    if d["type"] == "start":
        d.pop("id", None)
    return d


async def collect(s):
    out = []
    async with s:
        async for ev in s:
            out.append(ev)
    return out


@pytest.mark.parametrize("dialect", sorted(PATHS))
def test_every_dialect(mock, run, dialect):
    c = mk(mock, dialect=dialect)
    path = url(PATHS[dialect], chunks=7, tools=2, reasoning=2)

    async def main():
        s = c.stream("POST", path, json=BODY)
        evs = await collect(s)
        return s, evs

    s, evs = run(main())
    types = [e.type for e in evs]
    assert s.text_content == mock.expected_text(7)
    assert "".join(e.text for e in evs if e.type == "text") == mock.expected_text(7)
    assert types.count("reasoning") >= 1
    assert len(s.tool_calls) == 2
    for call in s.tool_calls:
        assert call["name"]
        assert isinstance(json.loads(call["arguments"]), dict)
    assert s.usage is not None and s.usage["output_tokens"] is not None
    assert s.finish_reason
    assert s.done and s.error is None
    assert "end" not in types and "error" not in types
    m = s.metrics
    assert m["http_status"] == 200 and m["events"] >= len(evs) and m["ttfb"] > 0


@pytest.mark.parametrize("dialect,path", [
    ("sse", "/v1/chat/completions"), ("ndjson", "/api/chat")])
def test_raw_dialects(mock, run, dialect, path):
    c = mk(mock, dialect=dialect)
    evs = run(collect(c.stream("POST", url(path, chunks=4), json=BODY)))
    assert evs and all(e.type == "raw" for e in evs)
    if dialect == "sse":
        assert evs[-1].data == "[DONE]" and evs[0].event == "message"
        json.loads(evs[0].data)
    else:
        assert all(isinstance(json.loads(e.data), dict) for e in evs)


def test_text_view_and_batches_and_sync_agree(mock, run):
    c = mk(mock)
    path = url("/v1/chat/completions", chunks=300, tools=1)

    async def main():
        texts = []
        async with c.stream("POST", path, json=BODY) as s:
            async for t in s.text():
                assert isinstance(t, str)
                texts.append(t)
        batches = []
        async with c.stream("POST", path, json=BODY) as s2:
            async for b in s2.batches():
                assert isinstance(b, list) and b
                batches.append(b)
        events = await collect(c.stream("POST", path, json=BODY))
        return texts, batches, events, s2

    texts, batches, events, s2 = run(main())
    assert "".join(texts) == mock.expected_text(300)
    flat = [norm(e) for b in batches for e in b]
    assert flat == [norm(e) for e in events]
    assert s2.tool_calls and s2.text_content == mock.expected_text(300)
    with c.stream_sync("POST", path, json=BODY) as s3:
        sync_events = [norm(e) for e in s3]
    assert sync_events == flat
    with c.stream_sync("POST", path, json=BODY) as s4:
        assert "".join(s4.text()) == mock.expected_text(300)


def test_decoder_matches_stream(mock, run):
    req = urllib.request.Request(mock.base + url(PATHS["anthropic"], chunks=9, tools=1),
                                 data=json.dumps(BODY).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    d = tw.Decoder("anthropic")
    offline = []
    for i in range(0, len(raw), 37):
        offline += d.feed(raw[i:i + 37])
    offline += d.finish()
    assert d.done
    assert offline[-1].type == "end"
    c = mk(mock, dialect="anthropic")
    live = run(collect(c.stream("POST", url(PATHS["anthropic"], chunks=9, tools=1), json=BODY)))
    assert [norm(e) for e in offline[:-1]] == [norm(e) for e in live]


FAULTS = [
    ("reset", tw.TransportError, 3),
    ("provider_error", tw.ProviderError, 3),
    ("429", tw.HTTPError, 0),
    ("500", tw.HTTPError, 0),
]


@pytest.mark.parametrize("fault,exc,before", FAULTS)
def test_faults_raise_after_prior_events(mock, run, fault, exc, before):
    c = mk(mock)
    path = url("/v1/chat/completions", chunks=8, fault=fault, fault_after=3, retry_after=0)

    async def main():
        got = []
        with pytest.raises(exc) as ei:
            async with c.stream("POST", path, json=BODY) as s:
                async for ev in s:
                    got.append(ev)
        return got, ei.value, s

    got, err, s = run(main())
    assert [e.text for e in got if e.type == "text"] == \
        mock.expected_text(before).split(" ")[:before] if False else \
        len([e for e in got if e.type == "text"]) == before
    assert isinstance(err, tw.Error)
    assert s.error is err and s.done
    if exc is tw.HTTPError:
        assert err.status == int(fault)
        assert err.body and "error" in json.loads(err.body)
        assert err.message and "mock" in err.message
    if exc is tw.ProtocolError:
        assert "garbage" in err.body


def test_fault_text_before_error_is_exact(mock, run):
    c = mk(mock)
    path = url("/v1/chat/completions", chunks=8, fault="reset", fault_after=5)

    async def main():
        texts = []
        with pytest.raises(tw.TransportError):
            async with c.stream("POST", path, json=BODY) as s:
                async for t in s.text():
                    texts.append(t)
        return "".join(texts)

    assert run(main()) == mock.expected_text(5)


def test_fault_in_sync_and_batches(mock, run):
    c = mk(mock)
    path = url("/v1/chat/completions", chunks=8, fault="provider_error", fault_after=4)
    with pytest.raises(tw.ProviderError):
        with c.stream_sync("POST", path, json=BODY) as s:
            n = sum(1 for ev in s if ev.type == "text")
    assert s.text_content == mock.expected_text(4)

    async def main():
        seen = []
        with pytest.raises(tw.ProviderError):
            async for b in c.stream("POST", path, json=BODY).batches():
                seen += b
        return seen

    seen = run(main())
    assert "".join(e.text for e in seen if e.type == "text") == mock.expected_text(4)


def test_bad_utf8_is_replaced_not_fatal(mock, run):
    c = mk(mock)
    s = c.stream("POST", url("/v1/chat/completions", chunks=6, fault="bad_utf8"), json=BODY)
    evs = run(collect(s))
    assert "\ufffd" in s.text_content and s.done and s.error is None
    assert evs[-1].type in ("usage", "finish")


@pytest.mark.parametrize("fault,extra", [("garbage", {}), ("oversized", {"oversized": 300000})])
def test_bad_event_is_a_recoverable_error_event(mock, run, fault, extra):
    """One bad event (not JSON, over max_event_size): an error event with recoverable=True in
    its place, no exception, and every later event (one rule in the core, issue 11)."""
    c = mk(mock, max_event_size=100000)
    path = url("/v1/chat/completions", chunks=8, fault=fault, fault_after=3, **extra)

    async def main():
        s = c.stream("POST", path, json=BODY)
        return await collect(s), s

    evs, s = run(main())
    errs = [e for e in evs if e.type == "error"]
    assert len(errs) == 1 and errs[0].recoverable is True and errs[0].kind == "protocol"
    texts = [e for e in evs if e.type == "text"]
    assert evs.index(errs[0]) > evs.index(texts[2]) and len(texts) == 8
    assert s.error is None and s.done and s.text_content == mock.expected_text(8)
    if fault == "garbage":
        assert "garbage" in errs[0].raw


def test_retries(mock, run):
    key = uuid.uuid4().hex
    c = mk(mock, max_retries=2)
    path = url("/v1/chat/completions", chunks=5, fault=429, fault_times=1, retry_after=0)

    async def main(k, p):
        s = c.stream("POST", p, json=BODY, headers={"X-Mock-Key": k})
        await collect(s)
        return s

    s = run(main(key, path))
    assert s.text_content == mock.expected_text(5)
    assert s.metrics["retries"] == 1
    path500 = url("/v1/chat/completions", chunks=5, fault=500, fault_times=2)
    s = run(main(uuid.uuid4().hex, path500))
    assert s.metrics["retries"] == 2 and s.text_content == mock.expected_text(5)
    # more failures than retries: the last error surfaces
    path500b = url("/v1/chat/completions", chunks=5, fault=500, fault_times=3)
    with pytest.raises(tw.HTTPError) as ei:
        run(main(uuid.uuid4().hex, path500b))
    assert ei.value.status == 500
    # no retries configured
    c0 = mk(mock, max_retries=0)
    with pytest.raises(tw.HTTPError):
        run(collect(c0.stream("POST", path, json=BODY, headers={"X-Mock-Key": uuid.uuid4().hex})))


def test_timeouts(mock, run):
    c = mk(mock, timeout=tw.Timeout(connect=5, first_byte=5, idle=0.4))
    t0 = time.monotonic()
    with pytest.raises(tw.TimeoutError) as ei:
        run(collect(c.stream("POST", url("/v1/chat/completions", chunks=9, fault="stall",
                                          fault_after=2), json=BODY)))
    assert isinstance(ei.value, TimeoutError)  # also the builtin
    assert 0.3 < time.monotonic() - t0 < 5
    # heartbeats keep the idle timer alive, but not the event timer
    c2 = mk(mock, timeout=tw.Timeout(connect=5, idle=5, event=0.4))
    with pytest.raises(tw.TimeoutError):
        run(collect(c2.stream("POST", url("/v1/chat/completions", chunks=9,
                                           fault="heartbeat_only", heartbeat_ms=50,
                                           fault_after=2), json=BODY)))
    c3 = mk(mock, timeout=tw.Timeout(connect=5, total=0.4))
    with pytest.raises(tw.TimeoutError):
        run(collect(c3.stream("POST", url("/v1/chat/completions", chunks=100, delay_ms=20),
                              json=BODY)))
    assert mock.wait_idle()["active"] == 0


def test_connect_failure_is_transport_error(run):
    c = tw.Client(base_url="http://127.0.0.1:1", max_retries=0)
    with pytest.raises(tw.TransportError):
        run(collect(c.stream("POST", "/v1/chat/completions", json=BODY)))


SLOW = url("/v1/chat/completions", chunks=2000, delay_ms=5)


def assert_freed(mock, client, aborted_before):
    st = mock.wait_idle()
    assert st["active"] == 0
    assert st["aborted"] > aborted_before
    deadline = time.monotonic() + 5
    while client.stats()["active_streams"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.stats()["active_streams"] == 0


def test_cancel_task_frees_upstream(mock, run):
    c = mk(mock)
    before = mock.wait_idle()["aborted"]

    async def main():
        got = []

        async def consume():
            async with c.stream("POST", SLOW, json=BODY) as s:
                async for ev in s:
                    got.append(ev)

        task = asyncio.ensure_future(consume())
        while len(got) < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return got

    run(main())
    assert_freed(mock, c, before)


def test_cancel_bare_iteration_without_context_manager(mock, run):
    """Task cancellation alone (no async with) cancels the upstream via the parked future."""
    c = mk(mock)
    before = mock.wait_idle()["aborted"]
    holder = []

    async def main():
        s = c.stream("POST", SLOW, json=BODY)
        holder.append(s)

        async def consume():
            async for _ in s:
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert_freed(mock, c, before)
    with pytest.raises(tw.AbortError):
        for _ in holder[0]:
            pass


def test_early_exit_and_aclose_free_upstream(mock, run):
    c = mk(mock)
    before = mock.wait_idle()["aborted"]

    async def main():
        async with c.stream("POST", SLOW, json=BODY) as s:
            async for ev in s:
                if ev.type == "text":
                    break
        s2 = c.stream("POST", SLOW, json=BODY)
        await s2.__anext__()
        await s2.aclose()
        with pytest.raises(StopAsyncIteration):
            while True:
                await s2.__anext__()

    run(main())
    assert_freed(mock, c, before + 1)


def test_gc_of_abandoned_stream_frees_upstream(mock, run):
    c = mk(mock)
    before = mock.wait_idle()["aborted"]

    async def main():
        s = c.stream("POST", SLOW, json=BODY)
        await s.__anext__()
        await asyncio.sleep(0.05)
        del s
        gc.collect()

    run(main())
    assert_freed(mock, c, before)


def test_sync_early_exit_frees_upstream(mock):
    c = mk(mock)
    before = mock.wait_idle()["aborted"]
    with c.stream_sync("POST", SLOW, json=BODY) as s:
        for ev in s:
            if ev.type == "text":
                break
    assert_freed(mock, c, before)


def test_backpressure_keeps_memory_bounded(mock, run):
    c = mk(mock, high_watermark=256 * 1024)
    proc = psutil.Process()
    path = url("/v1/chat/completions", chunks=400000, split="coalesce")

    async def main():
        async with c.stream("POST", path, json=BODY) as s:
            n = 0
            rss0 = None
            async for ev in s:
                n += 1
                if n == 10:
                    rss0 = proc.memory_info().rss
                    await asyncio.sleep(1.0)  # a consumer that falls behind
                    stats = c.stats()
                    rss1 = proc.memory_info().rss
                    return stats, rss1 - rss0

    stats, growth = run(main())
    assert stats["paused_streams"] >= 1
    # 400k chunks would be ~60 MB of SSE; the queue holds about the watermark.
    assert growth < 16 * 1024 * 1024, growth
    assert mock.wait_idle()["active"] == 0


def test_merge_arrival_order_and_tags(mock, run):
    c = mk(mock)

    async def main():
        streams = {
            "researcher": c.stream("POST", url("/v1/chat/completions", chunks=5, delay_ms=2),
                                   json=BODY),
            "writer": c.stream("POST", url("/v1/messages", chunks=7, tools=1, delay_ms=1),
                               json=BODY, dialect="anthropic"),
        }
        out = []
        async with tw.merge(streams) as m:
            async for ev in m:
                out.append(ev)
        return out, streams

    out, streams = run(main())
    for name, n in (("researcher", 5), ("writer", 7)):
        mine = [e for e in out if e.source == name]
        assert mine[0].type == "agent_start" and mine[-1].type == "agent_complete"
        assert [e.type for e in mine].count("agent_start") == 1
        assert [e.type for e in mine].count("agent_complete") == 1
        assert "".join(e.text for e in mine if e.type == "text") == mock.expected_text(n)
        assert streams[name].text_content == mock.expected_text(n)
    assert all(e.source in ("researcher", "writer") for e in out)
    assert streams["writer"].tool_calls


def test_merge_error_is_an_event_and_exit_cancels_rest(mock, run):
    c = mk(mock)
    before = mock.wait_idle()["aborted"]

    async def main():
        m = tw.merge({
            "bad": c.stream("POST", url("/v1/chat/completions", chunks=5, fault=500), json=BODY),
            "slow": c.stream("POST", SLOW, json=BODY),
        })
        seen = []
        async for ev in m:
            seen.append((ev.source, ev.type, ev.kind))
            if ("bad", "agent_complete", None) in seen and ("slow", "text", None) in seen:
                break
        await m.aclose()
        return seen

    seen = run(main())
    assert ("bad", "error", "http") in seen
    assert_freed(mock, c, before)


def test_merge_batches(mock, run):
    c = mk(mock)

    async def main():
        m = tw.merge({"a": c.stream("POST", url("/v1/chat/completions", chunks=50), json=BODY),
                      "b": c.stream("POST", url("/v1/chat/completions", chunks=60), json=BODY)})
        out = []
        async for b in m.batches():
            out += b
        return out

    out = run(main())
    for name, n in (("a", 50), ("b", 60)):
        assert "".join(e.text for e in out if e.source == name and e.type == "text") == \
            mock.expected_text(n)


def test_bad_arguments(mock):
    with pytest.raises(ValueError):
        tw.Client(base_url="ftp://x")
    with pytest.raises(ValueError):
        tw.Client(base_url="http://x", dialect="klingon")
    with pytest.raises(ValueError):
        tw.Client(base_url="http://x", max_retries=-1)
    c = mk(mock)
    with pytest.raises(TypeError):
        c.stream("POST", "/x", json={}, content=b"")
    with pytest.raises(TypeError):
        c.stream("POST", "/x", headers={"a": 1})
    with pytest.raises(ValueError):
        c.stream("POST", "/x", dialect="nope")
    with pytest.raises(ValueError):
        c.stream("GET POST", "/x")
    with pytest.raises(TypeError):
        tw.merge([1, 2])
    with pytest.raises(ValueError):
        tw.merge({})
    with pytest.raises(TypeError):
        tw.merge({"a": 1})
    with pytest.raises(ValueError):
        tw.Decoder("nope")
    with pytest.raises(TypeError):
        tw.Decoder("openai").feed("str")
    with pytest.raises(ValueError):
        tw.Encoder("nope")
    with pytest.raises(ValueError):
        tw.Event("nope")
    with pytest.raises(TypeError):
        tw.Event("text", text=5)


def test_prewarm_and_reuse(mock, run):
    c = mk(mock)
    c.prewarm("/")
    evs = run(collect(c.stream("POST", url("/v1/chat/completions", chunks=2), json=BODY)))
    assert evs
    run(collect(c.stream("POST", url("/v1/chat/completions", chunks=2), json=BODY)))
    assert c.stats()["connections_reused"] >= 1


@pytest.fixture
def counting_loop():
    loop = asyncio.new_event_loop()
    calls = []
    orig = loop.create_future

    def create_future():
        calls.append(1)
        return orig()

    loop.create_future = create_future
    yield loop, calls
    loop.close()


def test_anext_fast_path_without_futures(mock, counting_loop):
    loop, calls = counting_loop
    c = mk(mock)

    async def main():
        async with c.stream("POST", url("/v1/chat/completions", chunks=200), json=BODY) as s:
            first = await s.__anext__()
            await asyncio.sleep(0.3)  # everything arrives and waits in the engine's queue
            before = len(calls)
            rest = [ev async for ev in s]
            return first, rest, len(calls) - before

    first, rest, futures = loop.run_until_complete(main())
    assert first.type == "start" and len(rest) > 200
    assert futures == 0
