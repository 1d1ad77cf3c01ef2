"""Streams that survive (issue 15), in process: relays teed to a real redis-server from C, resumed
after every position exactly, 404 / 400 / 503 answers, abandoned producers, Redis down at start,
and many concurrent tee'd relays. The multi-process tests are in test_resume_workers.py."""
import asyncio
import json
import select

import pytest

import tokenwire as tw
from tokenwire import _native
from tokenwire.fastapi import sse_response
from tokenwire.resume import RedisTee, ResumeNotFound, resume_response, resume_stream
from resume_util import RedisServer, blocks, free_port, openai_text

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def redis():
    r = RedisServer()
    yield r
    r.kill()


def upstream(mock, chunks=8, delay_ms=0):
    c = tw.Client(base_url=mock.base, max_retries=0)
    return c.stream("POST", "/v1/chat/completions", json=BODY,
                    params={"chunks": str(chunks), "delay_ms": str(delay_ms)})


async def relay_all(resp):
    return b"".join([c async for c in resp.body_iterator])


async def resumed(tee, event_id, **kw):
    body = await resume_stream(tee, event_id, heartbeat=None, **kw)
    return b"".join([c async for c in body])


@pytest.mark.parametrize("fmt", ["openai", "ndjson", "events", "ai-sdk"])
def test_resume_after_every_event(run, mock, redis, fmt):
    """Each resume after event k gives exactly the bytes the live reader got after it."""
    async def main():
        tee = RedisTee(redis.url, prefix="t1:")
        try:
            resp = sse_response(upstream(mock, 8, 5), format=fmt, heartbeat=None, tee=tee)
            live = await relay_all(resp)
            assert tee.flush(5)
            sid, n = resp.stream_id, resp.next_event_seq
            assert n > 8
            assert await resumed(tee, sid) == live  # from the start
            out = []
            for k in range(n):
                out.append((k, await resumed(tee, "%s:%d" % (sid, k))))
            return sid, live, out, tee.stats()
        finally:
            tee.close()

    sid, live, out, stats = run(main())
    sse = fmt != "ndjson"
    for k, got in out:
        mark = ("id: %s:%d\n" if sse else '{"event_id":"%s:%d"') % (sid, k + 1)
        i = live.find(mark.encode())
        assert got == (live[i:] if i >= 0 else b""), k
    assert stats["streams_dropped"] == 0 and stats["entries_written"] >= 2


def test_openai_text_matches_mock(run, mock, redis):
    async def main():
        tee = RedisTee(redis.url, prefix="t2:")
        try:
            resp = sse_response(upstream(mock, 12, 2), heartbeat=None, tee=tee)
            live = await relay_all(resp)
            tee.flush(5)
            return live, await resumed(tee, resp.stream_id + ":3")
        finally:
            tee.close()

    live, tail = run(main())
    evs = blocks(live)
    assert openai_text(evs) == mock.expected_text(12)
    assert evs[-1][1] == "[DONE]"
    assert openai_text(evs[:4]) + openai_text(blocks(tail)) == mock.expected_text(12)


def test_unknown_id_is_404_missing_is_400(run, redis):
    async def main():
        tee = RedisTee(redis.url, prefix="t3:")
        try:
            r404 = await resume_response(tee, last_event_id="nosuchstream:3")
            r400 = await resume_response(tee, last_event_id="")
            with pytest.raises(ResumeNotFound):
                await resume_stream(tee, "nosuchstream:0", grace=0)
            return r404, r400
        finally:
            tee.close()

    r404, r400 = run(main())
    assert r404.status_code == 404
    assert "unknown or expired" in json.loads(r404.body)["detail"]
    assert r400.status_code == 400 and json.loads(r400.body)["detail"]


def test_redis_down_at_start(run, mock):
    """The live relay serves its reader whole; resume answers 503; require=True refuses."""
    port = free_port()  # nothing listens there

    async def main():
        tee = RedisTee("redis://127.0.0.1:%d/0" % port, connect_timeout_ms=200)
        try:
            resp = sse_response(upstream(mock, 6), heartbeat=None, tee=tee)
            live = await relay_all(resp)
            r = await resume_response(tee, last_event_id=resp.stream_id + ":1")
            return live, r, tee.available
        finally:
            tee.close()

    live, r, available = run(main())
    assert openai_text(blocks(live)) == mock.expected_text(6)
    assert r.status_code == 503 and not available
    with pytest.raises(tw.Error):
        RedisTee("redis://127.0.0.1:%d/0" % port, require=True, connect_timeout_ms=200)


def test_abandoned_detached_producer_is_cancelled(run, mock, redis):
    """detach: the browser goes away, the upstream keeps teeing; with no resume reader for the
    abandon time the tee cancels it, and the recorded end says so."""
    async def main():
        tee = RedisTee(redis.url, prefix="t4:", stop_poll_ms=50)
        try:
            resp = sse_response(upstream(mock, 2000, 10), heartbeat=None, tee=tee, detach=0.3)
            it = resp.body_iterator
            first = await it.__anext__()
            await it.aclose()  # the browser disconnects
            sid = resp.stream_id
            # A reader that does not announce itself follows the tee'd stream to its end.
            # (The grace covers a first append still in the writer's queue.)
            r = _native.ResumeReader(tee.native, sid, None, presence_ttl_ms=0,
                                     not_found_grace_ms=5000)
            data = b""
            loop = asyncio.get_running_loop()
            while True:
                got = r.take()
                if got:
                    data += got[0]
                    continue
                state, msg = r.status()
                if state != "running":
                    break
                await loop.run_in_executor(None, select.select, [r.fileno()], [], [], 10)
            r.close()
            return first, data, state, msg, [n[0] for n in tee.notices if n[1] == sid]
        finally:
            tee.close()

    first, data, state, msg, kinds = run(main())
    assert data.startswith(first)
    assert "abandoned" in kinds
    text = openai_text(blocks(data))
    assert 0 < len(text) < len(mock.expected_text(2000))
    assert state == "upstream_error" and "cancel" in msg


def test_200_concurrent_teed_relays(run, mock, redis):
    """200 relays at once through one tee: each resumable whole, byte for byte."""
    async def main():
        tee = RedisTee(redis.url, prefix="t5:")
        try:
            resps = [sse_response(upstream(mock, 10, 20), heartbeat=None, tee=tee)
                     for _ in range(200)]
            lives = await asyncio.gather(*(relay_all(r) for r in resps))
            assert tee.flush(10)
            again = await asyncio.gather(*(resumed(tee, r.stream_id) for r in resps))
            return lives, again, tee.stats()
        finally:
            tee.close()

    lives, again, stats = run(main())
    assert lives == again
    assert all(openai_text(blocks(x)) == mock.expected_text(10) for x in lives)
    assert stats["streams_dropped"] == 0 and stats["active_streams"] == 0


def test_teed_relays_and_resumes_do_not_grow(run, mock, redis):
    """1,000 teed relays, each resumed, after a warm-up: live Python objects stay flat and RSS
    grows by less than 8 MiB (the encoder links, readers and chunks are all freed)."""
    import gc

    import psutil

    async def batch(tee, n):
        for _ in range(n):
            resp = sse_response(upstream(mock, 3), heartbeat=None, tee=tee)
            await relay_all(resp)
            await resumed(tee, resp.stream_id + ":0", grace=2.0)

    async def main():
        tee = RedisTee(redis.url, prefix="t6:", ttl=5)
        try:
            await batch(tee, 300)
            gc.collect()
            rss0, objs0 = psutil.Process().memory_info().rss, len(gc.get_objects())
            await batch(tee, 1000)
            gc.collect()
            rss1, objs1 = psutil.Process().memory_info().rss, len(gc.get_objects())
            return rss1 - rss0, objs1 - objs0, tee.stats()
        finally:
            tee.close()

    drss, dobjs, stats = run(main())
    assert dobjs < 200, dobjs
    assert drss < 8 << 20, drss
    assert stats["streams_dropped"] == 0


def test_reader_gone_without_detach_ends_resumes_now(run, mock, redis):
    """Without detach the upstream is cancelled with its reader, and the recorded end lets a
    resume finish at once (cancelled) instead of following a stream nobody produces."""
    async def main():
        tee = RedisTee(redis.url, prefix="t7:")
        try:
            resp = sse_response(upstream(mock, 2000, 10), heartbeat=None, tee=tee)
            it = resp.body_iterator
            first = await it.__anext__()
            await it.aclose()  # the browser disconnects
            r = _native.ResumeReader(tee.native, resp.stream_id, None, not_found_grace_ms=5000)
            data, loop = b"", asyncio.get_running_loop()
            while True:
                got = r.take()
                if got:
                    data += got[0]
                    continue
                state, msg = r.status()
                if state != "running":
                    break
                await loop.run_in_executor(None, select.select, [r.fileno()], [], [], 10)
            r.close()
            return first, data, state, msg
        finally:
            tee.close()

    first, data, state, msg = run(main())
    assert data.startswith(first)
    assert state == "upstream_error" and "cancel" in msg


def test_merge_relay_is_teed(run, mock, redis):
    """A merge() relay (the events format, agents tagged) is teed the same way."""
    async def main():
        tee = RedisTee(redis.url, prefix="t8:")
        try:
            m = tw.merge({"a": upstream(mock, 4, 2), "b": upstream(mock, 6, 1)})
            resp = sse_response(m, format="events", heartbeat=None, tee=tee)
            live = await relay_all(resp)
            tee.flush(5)
            sid, n = resp.stream_id, resp.next_event_seq
            return sid, live, [await resumed(tee, "%s:%d" % (sid, k)) for k in range(n)]
        finally:
            tee.close()

    sid, live, out = run(main())
    for k, got in enumerate(out):
        i = live.find(("id: %s:%d\n" % (sid, k + 1)).encode())
        assert got == (live[i:] if i >= 0 else b""), k


def test_resume_heartbeats_while_the_producer_is_idle(run, mock, redis):
    async def main():
        tee = RedisTee(redis.url, prefix="t9:")
        try:
            resp = sse_response(upstream(mock, 4, 300), heartbeat=None, tee=tee, detach=5)
            it = resp.body_iterator
            first = await it.__anext__()
            await it.aclose()
            assert first.startswith(("id: %s:0\n" % resp.stream_id).encode())
            # A bare stream id: from the start.
            body = await resume_stream(tee, resp.stream_id, heartbeat=0.05, grace=2.0)
            return b"".join([c async for c in body])
        finally:
            tee.close()

    data = run(main())
    assert b": keepalive\n\n" in data
    evs = blocks(data)
    assert openai_text(evs) == mock.expected_text(4) and evs[-1][1] == "[DONE]"


def test_resume_up_to_date_answers_at_once_with_heartbeats(run, mock, redis):
    """Resuming at the live end of a slow answer: the response starts (headers, then
    heartbeats) before the producer's next event, which is seconds away."""
    async def main():
        tee = RedisTee(redis.url, prefix="t10:")
        try:
            resp = sse_response(upstream(mock, 3, 3000), heartbeat=None, tee=tee, detach=10)
            it = resp.body_iterator
            first = await it.__anext__()  # event 0 (the start chunk), then ~3 s to the next
            await it.aclose()
            assert first.startswith(("id: %s:0\n" % resp.stream_id).encode())
            body = await resume_stream(tee, "%s:0" % resp.stream_id, heartbeat=0.05, grace=2.0)
            got = await body.__anext__()
            await body.aclose()
            tee.request_stop(resp.stream_id)
            return got
        finally:
            tee.close()

    assert run(main()) == b": keepalive\n\n"
