"""Relaying a stream (or merge) the app already read from: what it read is relayed first, in
order, with its event ids, nothing lost or sent twice; refused with ValueError when more was
read than replay_limit keeps."""
import json

import httpx
import pytest

import tokenwire as tw
from helpers.asgi_server import serve
from helpers.vocab import BODY, SPECS
from tokenwire.fastapi import encode_stream, sse_response

PATH = "/v1/chat/completions?chunks=%d"


def client(mock):
    return tw.Client(base_url=mock.base, max_retries=0)


async def relay(source, fmt="ndjson", ids=("r", 0)):
    return b"".join([ch async for ch in encode_stream(source, fmt, heartbeat=None,
                                                      event_ids=ids)])


def lines(body):
    return [json.loads(l) for l in body.splitlines()]


def strip_ids(objs):
    return [{k: v for k, v in o.items() if k != "event_id"} for o in objs]


def test_peeked_events_are_relayed_first(mock, run):
    c = client(mock)

    async def main(peek):
        whole = await relay(c.stream("POST", PATH % 6, json=BODY))
        s = c.stream("POST", PATH % 6, json=BODY)
        read = [await s.__anext__() for _ in range(peek)]
        return whole, read, await relay(s)

    for peek in (1, 2, 4):
        whole, read, body = run(main(peek))
        got, want = lines(body), lines(whole)
        # The same events as a relay of a stream nothing was read from, ids r:0, r:1, ...
        # with no gap and no repeat.
        # (the mock numbers its responses: the start events' ids differ)
        assert [dict(o, id=None) if o["type"] == "start" else o for o in strip_ids(got)] == \
            [dict(o, id=None) if o["type"] == "start" else o for o in strip_ids(want)]
        assert [o["event_id"] for o in got] == ["r:%d" % i for i in range(len(got))]
        assert [ev.to_dict() for ev in read] == strip_ids(got)[:peek]
        assert "".join(o.get("text", "") for o in got) == mock.expected_text(6)


def test_text_view_and_batches_peeks_are_relayed(mock, run):
    c = client(mock)

    async def main():
        s1 = c.stream("POST", PATH % 5, json=BODY)
        async for t in s1.text():
            break
        s2 = c.stream("POST", PATH % 5, json=BODY)
        async for batch in s2.batches():
            break
        return await relay(s1, "text", None), await relay(s2, "text", None)

    a, b = run(main())
    assert a.decode() == mock.expected_text(5) and b.decode() == mock.expected_text(5)


def test_a_stream_read_to_its_end_is_relayed_whole(mock, run):
    c = client(mock)

    async def main():
        s = c.stream("POST", PATH % 3, json=BODY)
        evs = [ev async for ev in s]
        return evs, await relay(s, "events", None)

    evs, body = run(main())
    parsed = tw.SSEParser().feed(body)
    assert parsed[-1].event == "complete"
    chunks = [json.loads(p.data) for p in parsed if p.event == "agent_chunk"]
    assert "".join(d.get("text", "") for d in chunks) == mock.expected_text(3)
    assert sum(1 for ev in evs if ev.type == "text") == 3


def test_a_terminal_error_read_by_the_app_is_relayed_not_raised_again(mock, run):
    c = client(mock)

    async def main():
        s = c.stream("POST", "/v1/chat/completions?chunks=4&fail_after=2", json=BODY)
        read = []
        with pytest.raises(tw.Error) as ei:
            async for ev in s:
                read.append(ev)
        return read, ei.value, await relay(s)

    read, exc, body = run(main())
    got = strip_ids(lines(body))
    assert got[:len(read)] == [ev.to_dict() for ev in read]
    assert got[-1]["type"] == "error" and got[-1]["kind"] == exc.kind


def test_callbacks_are_not_called_again_by_the_replay(mock, run):
    c = client(mock)
    seen = []

    async def main():
        s = c.stream("POST", PATH % 5, json=BODY).on("text", seen.append)
        await s.__anext__()
        await s.__anext__()
        return await relay(s, "text", None)

    assert run(main()).decode() == mock.expected_text(5)
    assert "".join(seen) == mock.expected_text(5) and len(seen) == 5


def test_past_replay_limit_a_relay_or_merge_is_refused_and_nothing_is_lost(mock, run):
    c = client(mock)

    async def main():
        s = c.stream("POST", PATH % 6, json=BODY)
        assert s.replay_limit == 64
        s.replay_limit = 2
        read = [await s.__anext__() for _ in range(3)]
        with pytest.raises(ValueError, match=r"3 events were read .* replay_limit \(2\)"):
            encode_stream(s, "ndjson")
        with pytest.raises(ValueError, match="cannot merge this stream"):
            tw.merge({"a": s})
        # Refused, not cancelled: the app still has the rest of its stream.
        read += [ev async for ev in s]
        return read

    read = run(main())
    assert "".join(ev.text for ev in read if ev.type == "text") == mock.expected_text(6)


def test_replay_limit_checks():
    c = tw.Client(base_url="http://127.0.0.1:9", max_retries=0)
    s = c.stream_sync("POST", "/x", json=BODY)
    with pytest.raises(ValueError):
        s.replay_limit = -1
    with pytest.raises(TypeError):
        s.replay_limit = "3"
    s.replay_limit = 0
    assert s.replay_limit == 0
    s.close()


def test_a_peeked_merge_is_relayed_whole(mock, run):
    c = client(mock)

    def agents():
        return {"a": c.stream("POST", PATH % 3, json=BODY),
                "b": c.stream("POST", PATH % 4, json=BODY)}

    async def main(peek):
        m = tw.merge(agents())
        read = [await m.__anext__() for _ in range(peek)]
        return read, await relay(m)

    for peek in (1, 3, 5):
        read, body = run(main(peek))
        got = lines(body)
        assert [o["event_id"] for o in got] == ["r:%d" % i for i in range(len(got))]
        assert strip_ids(got)[:peek] == [ev.to_dict() for ev in read]
        for name, n in (("a", 3), ("b", 4)):
            mine = [o for o in got if o.get("source") == name]
            assert mine[0]["type"] == "agent_start" and mine[-1]["type"] == "agent_complete"
            assert "".join(o.get("text", "") for o in mine) == mock.expected_text(n)


def test_a_merge_of_streams_read_from_frames_what_was_read(mock, run):
    c = client(mock)

    async def main():
        a = c.stream("POST", PATH % 3, json=BODY)
        b = c.stream("POST", PATH % 4, json=BODY)
        first = [await a.__anext__(), await a.__anext__()]
        return first, await relay(tw.merge({"a": a, "b": b}))

    first, body = run(main())
    got = lines(body)
    mine = [o for o in got if o.get("source") == "a"]
    assert mine[0]["type"] == "agent_start"
    assert strip_ids(mine[1:3]) == [dict(ev.to_dict(), source="a") for ev in first]
    assert "".join(o.get("text", "") for o in mine) == mock.expected_text(3)
    assert mine[-1]["type"] == "agent_complete"


@pytest.fixture(scope="module")
def app(mock):
    with serve("relay_app:app", {"TOKENWIRE_BASE_URL": mock.base}) as (base, _ws):
        yield base


@pytest.mark.parametrize("fmt", ["events", "answer_streaming"])
def test_uvicorn_relay_of_a_peeked_stream(app, mock, fmt):
    with httpx.Client(timeout=30) as h:
        r = h.get(app + "/peek/" + fmt, params={"chunks": "7", "ids": "p"})
    assert r.headers["x-peeked"].split(",")[-1] == "text"
    parsed = tw.SSEParser().feed(r.content)
    assert [p.id for p in parsed] == ["p:%d" % i for i in range(len(parsed))]
    datas = [json.loads(p.data) for p in parsed]
    if fmt == "events":
        text = "".join(d.get("text", "") for p, d in zip(parsed, datas)
                       if p.event == "agent_chunk")
    else:
        text = "".join(d["token"] for d in datas)
        assert datas[-1]["partial_response"] == text
    assert text == mock.expected_text(7)
