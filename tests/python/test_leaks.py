"""Many streams without growth: 10,000 sequential and 1,000 concurrent, under the default
asyncio loop and uvloop; RSS and live Python objects are compared after a warm-up."""
import asyncio
import ctypes
import gc
import sys

import psutil
import pytest

import tokenwire as tw

BODY = {"model": "m", "messages": []}
PATH = "/v1/chat/completions?chunks=3&tools=1"


def _malloc_trim():
    """Returns freed-but-cached heap pages to the OS (glibc keeps them per thread arena), so
    that RSS shows memory still in use rather than allocator fragmentation."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def snapshot():
    gc.collect()
    _malloc_trim()
    return psutil.Process().memory_info().rss, len(gc.get_objects())


async def one(c):
    async with c.stream("POST", PATH, json=BODY) as s:
        n = 0
        async for ev in s:
            n += ev.type == "text"
    assert n == 3 and s.tool_calls and s.summary["end"] == "end"
    return n


async def one_final(c):
    """final() with a sync and an async callback (queued pairs, the _aio step)."""
    texts, types = [], []

    async def on_event(ev):
        types.append(ev.type)

    s = c.stream("POST", PATH, json=BODY, on_text=texts.append, on_event=on_event)
    summary = await s.final()
    assert "".join(texts) == summary["text"] == s.text_content and types[-1] == "end"
    return 3


async def one_text(c):
    return "".join([t async for t in c.stream("POST", PATH, json=BODY).text()])


async def sequential(c, n):
    for i in range(n):
        if i % 3 == 0:
            await one_text(c)
        elif i % 3 == 1:
            await one(c)
        else:
            await one_final(c)


async def concurrent(c, n):
    res = await asyncio.gather(*(one(c) for _ in range(n)))
    assert res == [3] * n


@pytest.mark.parametrize("n_seq,n_conc", [(10000, 1000)])
def test_no_growth(mock, run, n_seq, n_conc):
    c = tw.Client(base_url=mock.base, max_retries=0, timeout=60)
    # warm-up: the loop, the engine's connection cache, allocator arenas
    run(sequential(c, 300))
    run(concurrent(c, n_conc))
    rss0, objs0 = snapshot()
    refs0 = sys.gettotalrefcount() if hasattr(sys, "gettotalrefcount") else None
    run(sequential(c, n_seq))
    rss1, objs1 = snapshot()
    run(concurrent(c, n_conc))
    run(concurrent(c, n_conc))
    rss2, objs2 = snapshot()
    assert objs1 - objs0 < 200, (objs0, objs1)
    assert objs2 - objs0 < 200, (objs0, objs2)
    assert rss1 - rss0 < 8 * 1024 * 1024, (rss0, rss1)
    assert rss2 - rss0 < 12 * 1024 * 1024, (rss0, rss2)
    if refs0 is not None:
        assert sys.gettotalrefcount() - refs0 < 1000
    st = c.stats()
    assert st["active_streams"] == 0
    assert mock.wait_idle()["active"] == 0


def test_refcounts_of_events_and_views(mock, run):
    c = tw.Client(base_url=mock.base, max_retries=0)

    async def main():
        s = c.stream("POST", PATH, json=BODY)
        evs = [ev async for ev in s]
        return s, evs

    s, evs = run(main())
    for ev in evs:
        # list, loop variable, getrefcount argument, and the stream's replay log (the events
        # read are kept, up to replay_limit, for a relay started later)
        assert sys.getrefcount(ev) == 4
        if ev.text is not None:
            assert sys.getrefcount(ev.text) >= 2
    assert sys.getrefcount(s) == 2
    it = s.text()
    assert sys.getrefcount(s) == 3
    del it
    assert sys.getrefcount(s) == 2
    del s
    for ev in evs:
        assert sys.getrefcount(ev) == 3  # the log went with the stream
