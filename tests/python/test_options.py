"""Request options: retry_sent, the paused timeout, Retry-After over the cap, accumulate."""
import asyncio
import gc
import time
import urllib.parse
import uuid

import psutil
import pytest

import tokenwire as tw
from helpers.rawserver import RawServer

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def mk(mock_or_base, **kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("retry_base_delay", 0.01)
    base = mock_or_base if isinstance(mock_or_base, str) else mock_or_base.base
    return tw.Client(base_url=base, **kw)


def drain_sync(s):
    with s:
        for _ in s:
            pass


# ---- retry_sent ------------------------------------------------------------------------------

@pytest.fixture
def swallower():
    """Reads each POST completely, then closes the connection without answering."""
    srv = RawServer(lambda conn, head, body: False)
    yield srv
    srv.close()


def test_sent_request_is_not_retried_by_default(swallower):
    c = mk(swallower.base, max_retries=3)
    with pytest.raises(tw.TransportError) as ei:
        drain_sync(c.stream_sync("POST", "/v1/chat/completions", json=BODY))
    assert swallower.wait_requests(1) == 1
    assert len(swallower.requests) == 1, ei.value
    assert swallower.requests[0][1] == b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'


def test_retry_sent_opts_in(swallower):
    c = mk(swallower.base, max_retries=2, retry_sent=True)
    with pytest.raises(tw.TransportError):
        drain_sync(c.stream_sync("POST", "/v1/chat/completions", json=BODY))
    assert swallower.wait_requests(3) == 3
    # per request, overriding the client's setting
    c2 = mk(swallower.base, max_retries=1)
    with pytest.raises(tw.TransportError):
        drain_sync(c2.stream_sync("POST", "/v1/chat/completions", json=BODY, retry_sent=True))
    assert swallower.wait_requests(5) == 5
    with pytest.raises(tw.TransportError):
        drain_sync(c.stream_sync("POST", "/v1/chat/completions", json=BODY, retry_sent=False))
    assert swallower.wait_requests(6) == 6
    assert c.retry_sent is True and c2.retry_sent is False


# ---- Retry-After over the cap -----------------------------------------------------------------

def test_retry_after_over_the_cap_is_delivered_at_once(mock):
    c = mk(mock, max_retries=2)
    t0 = time.monotonic()
    with pytest.raises(tw.HTTPError) as ei:
        drain_sync(c.stream_sync("POST", "/v1/chat/completions?fault=429&retry_after=120",
                                 json=BODY))
    err = ei.value
    assert err.status == 429
    assert "Retry-After: 120" in str(err) and "not retried" in str(err), str(err)
    assert time.monotonic() - t0 < 30
    # metrics: the value, and no retry was made
    with c.stream_sync("POST", "/v1/chat/completions?fault=429&retry_after=120",
                       json=BODY) as s:
        with pytest.raises(tw.HTTPError):
            for _ in s:
                pass
        m = s.metrics
    assert m["retry_after"] == 120.0 and m["retries"] == 0 and m["http_status"] == 429


def test_retry_after_within_the_cap_is_waited_and_reported(mock):
    c = mk(mock, max_retries=1)
    key = uuid.uuid4().hex
    with c.stream_sync("POST", "/v1/chat/completions?chunks=3&fault=429&fault_times=1"
                       "&retry_after=1", json=BODY, headers={"X-Mock-Key": key}) as s:
        text = "".join(s.text())
        m = s.metrics
    assert text == mock.expected_text(3)
    assert m["retries"] == 1 and m["retry_after"] == 1.0
    with c.stream_sync("POST", "/v1/chat/completions?chunks=2", json=BODY) as s:
        "".join(s.text())
        assert s.metrics["retry_after"] == 0.0


# ---- paused timeout ---------------------------------------------------------------------------

def test_paused_timeout_after_consumer_stops_reading(mock, run):
    c = mk(mock, high_watermark=64 * 1024, timeout=tw.Timeout(paused=1))
    path = "/v1/chat/completions?chunks=400000&split=coalesce"

    async def wait_for(pred, what, timeout=20):
        deadline = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.01)

    async def main():
        got = 0
        s = c.stream("POST", path, json=BODY)
        async for ev in s:
            got += 1
            if got == 10:
                break
        # The consumer stops reading: the queue fills, the transfer pauses, and after the
        # paused timeout the engine ends the stream (no longer active, upstream closed).
        await wait_for(lambda: c.stats()["paused_streams"] >= 1, "never paused")
        await wait_for(lambda: c.stats()["active_streams"] == 0, "paused stream kept")
        assert mock.wait_idle()["active"] == 0
        more = 0
        with pytest.raises(tw.TimeoutError) as ei:
            async for ev in s:
                more += 1
        return more, ei.value, s

    more, err, s = run(main())
    assert more > 0  # what was queued before the timeout is still delivered, then the error
    assert "paused" in str(err) and isinstance(err, TimeoutError)
    assert s.error is err


def test_paused_timeout_option_values():
    assert tw.Timeout().paused == 300.0
    assert tw.Timeout().as_kwargs()["paused_timeout"] == 300.0
    assert tw.Timeout(paused=None).as_kwargs()["paused_timeout"] == 0.0
    assert tw.Timeout.coerce(None).as_kwargs()["paused_timeout"] == 0.0
    assert tw.Timeout.coerce(5).as_kwargs()["paused_timeout"] == 300.0
    with pytest.raises(ValueError):
        tw.Timeout(paused=-1).as_kwargs()


# ---- accumulate -------------------------------------------------------------------------------

def _rss():
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return psutil.Process().memory_info().rss


WORD = "w" * 1000
BIG = "/v1/chat/completions?chunks=50000&split=coalesce&tools=1&text=" + urllib.parse.quote(WORD)


def test_accumulate_false_keeps_memory_flat_on_a_50mb_stream(mock, run):
    c = mk(mock, accumulate=False, timeout=60)

    async def main():
        n = 0
        async with c.stream("POST", BIG, json=BODY) as s:
            async for b in s.batches():
                for ev in b:
                    if ev.type == "text":
                        n += len(ev.text)
        return n, s

    run(main())  # warm-up: allocator arenas, connection
    rss0 = _rss()
    n, s = run(main())
    growth = _rss() - rss0
    assert n >= 50000 * 1000  # about 50 MB of text went through
    assert s.text_content is None and len(s.tool_calls) == 1  # tool calls are always kept
    assert s.usage is not None and s.finish_reason and s.done and s.error is None
    assert growth < 20 * 1024 * 1024, growth


def test_accumulate_default_and_per_stream_override(mock, run):
    path = "/v1/chat/completions?chunks=2000&tools=1&text=" + urllib.parse.quote(WORD)
    c = mk(mock, timeout=60)

    async def main(**kw):
        async with c.stream("POST", path, json=BODY, **kw) as s:
            async for _ in s:
                pass
        return s

    on = run(main())
    assert len(on.text_content) >= 2000 * 1000 and len(on.tool_calls) == 1
    off = run(main(accumulate=False))
    assert off.text_content is None and len(off.tool_calls) == 1 and off.usage
    c_off = mk(mock, accumulate=False)
    with c_off.stream_sync("POST", path, json=BODY, accumulate=True) as s:
        for _ in s:
            pass
    assert len(s.text_content) >= 2000 * 1000
