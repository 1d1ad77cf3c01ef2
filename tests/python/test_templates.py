"""tokenwire.Format: an app's own vocabulary compiled once by the core, relayed by a real
FastAPI app under uvicorn (helpers/relay_app.py) and read back with httpx; the bytes are
checked against the spec, written out here independently from the events tokenwire decodes
for the same request."""
import asyncio
import json

import httpx
import pytest

import tokenwire as tw
from helpers.asgi_server import serve
from helpers.vocab import BODY, SPECS

from tokenwire.fastapi import encode_stream, sse_response


@pytest.fixture(scope="module")
def app(mock):
    with serve("relay_app:app", {"TOKENWIRE_BASE_URL": mock.base}) as (base, _ws):
        yield base


def decoded(mock, chunks):
    """The events tokenwire decodes from the mock for the request the app makes."""
    c = tw.Client(base_url=mock.base, max_retries=0)
    with c.stream_sync("POST", "/v1/chat/completions", json=BODY,
                       params={"chunks": str(chunks)}) as s:
        evs = list(s)
    assert [e.type for e in evs if e.type == "text"] and evs[-1].type in ("usage", "finish")
    return evs, s.usage


def jd(v):
    """JSON as the core writes it: compact, UTF-8 as is."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def sse(event, data, id=None):
    return ("id: %s\n" % id if id else "") + "event: %s\ndata: %s\n\n" % (event, jd(data))


def get(base, path, **params):
    with httpx.Client(timeout=30) as h:
        r = h.get(base + path, params=params)
    assert r.status_code == 200, r.text
    return r


def test_agent_processing_vocabulary_exact_bytes(app, mock):
    evs, _ = decoded(mock, 7)
    want, so_far = [], b""
    for e in evs:
        if e.type == "start":
            want.append(sse("agent_processing_started", {"agent": "researcher"}))
        elif e.type == "text":
            so_far += e.text.encode()
            want.append(sse("agent_processing_update",
                            {"agent": "researcher", "chunk": e.text, "length": len(so_far)}))
    want.append(sse("agent_processing_complete",
                    {"agent": "researcher", "text": so_far.decode()}))
    r = get(app, "/tpl/agent_update", chunks=7)
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.content.decode() == "".join(want)
    assert so_far.decode() == mock.expected_text(7)


def test_per_stream_constants_without_compiling_again(app, mock):
    evs, _ = decoded(mock, 3)
    texts = [e.text for e in evs if e.type == "text"]
    for agent in ("writer", 'quo"te'):
        r = get(app, "/tpl/agent_update", chunks=3, agent=agent)
        parsed = tw.SSEParser().feed(r.content)
        assert {json.loads(p.data)["agent"] for p in parsed} == {agent}
        assert [json.loads(p.data)["chunk"] for p in parsed[1:-1]] == texts
    # The Format's own default is untouched by the relays above.
    r = get(app, "/tpl/agent_update", chunks=2)
    assert {json.loads(p.data)["agent"] for p in tw.SSEParser().feed(r.content)} == \
        {"researcher"}


def test_constants_checks():
    f = tw.Format(SPECS["agent_update"])
    e = tw.Encoder(f, constants={"agent": {"id": 7, "tags": ["a"]}})
    assert e.encode(tw.Event("start")) == \
        b'event: agent_processing_started\ndata: {"agent":{"id":7,"tags":["a"]}}\n\n'
    with pytest.raises(ValueError, match='unknown constant "task"'):
        tw.Encoder(f, constants={"task": 1})
    with pytest.raises(ValueError, match="a constant is not JSON-serializable"):
        tw.Encoder(f, constants={"agent": {1, 2}})
    with pytest.raises(ValueError, match="constants belong to templates"):
        tw.Encoder("events", constants={"agent": "x"})
    with pytest.raises(TypeError):
        tw.Encoder(f, constants=[("agent", "x")])


def test_ndjson_chat_vocabulary_exact_bytes(app, mock):
    evs, usage = decoded(mock, 5)
    lines = [jd({"type": "chat", "content": e.text, "streaming": True})
             for e in evs if e.type == "text"]
    lines.append(jd({"type": "done", "usage": dict(usage)}))
    r = get(app, "/tpl/chat_ndjson", chunks=5)
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.content.decode() == "".join(l + "\n" for l in lines)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_answer_streaming_from_json_text_with_event_ids(app, mock):
    evs, _ = decoded(mock, 6)
    want, so_far, seq = [], "", 0
    for e in evs:
        if e.type == "text":
            so_far += e.text
            want.append(sse("answer_streaming", {"token": e.text, "partial_response": so_far,
                                                 "agent_id": "a-7"}, id="run1:%d" % seq))
            seq += 1
    r = get(app, "/tpl/answer_streaming", chunks=6, ids="run1")
    assert r.content.decode() == "".join(want)
    # What a browser's EventSource sees: the events in order, the last id to resume from.
    parsed = tw.SSEParser().feed(r.content)
    assert [p.event for p in parsed] == ["answer_streaming"] * seq
    assert parsed[-1].id == "run1:%d" % (seq - 1)


def test_a_merge_in_the_multi_agent_vocabulary(app, mock):
    r = get(app, "/agents/multi_agent")
    parsed = tw.SSEParser().feed(r.content)
    per = {}
    for p in parsed[:-1]:
        d = json.loads(p.data)
        per.setdefault(d["agent"], []).append((p.event, d))
    assert set(per) == {"researcher", "writer"}
    for agent, chunks in (("researcher", 4), ("writer", 6)):
        items = per[agent]
        assert items[0] == ("agent_start", {"agent": agent})
        assert items[-1] == ("agent_complete", {"agent": agent})
        assert all(k == "agent_chunk" for k, _ in items[1:-1])
        assert "".join(d["content"] for _, d in items[1:-1]) == mock.expected_text(chunks)
    last = parsed[-1]
    assert last.event == "complete"
    # text_so_far of a merge: every source's text, in arrival order.
    arrival = "".join(json.loads(p.data)["content"] for p in parsed if p.event == "agent_chunk")
    assert json.loads(last.data) == {"response": arrival}


def test_built_in_names_still_work_beside_formats(app, mock):
    r = get(app, "/tpl/ndjson", chunks=3)
    lines = [json.loads(l) for l in r.content.splitlines()]
    assert "".join(l.get("text", "") for l in lines if l["type"] == "text") == \
        mock.expected_text(3)


def test_format_object():
    f = tw.Format(SPECS["chat_ndjson"])
    assert f.framing == "ndjson" and f.content_type == "application/x-ndjson"
    assert dict(f.headers)["cache-control"] == "no-cache, no-transform"
    assert json.loads(f.spec) == SPECS["chat_ndjson"]
    g = tw.Format(SPECS["answer_streaming"])  # JSON text as it is
    assert g.spec == SPECS["answer_streaming"] and g.framing == "sse"
    assert "Format(" in repr(g)
    # Each Encoder gets its own copy of the compiled program: state is per stream.
    e1, e2 = tw.Encoder(f), tw.Encoder(f)
    assert e1.format is f and e1.content_type == "application/x-ndjson"
    ev = tw.Event("text", text="ab")
    assert e1.encode([ev, ev]) == b'{"type":"chat","content":"ab","streaming":true}\n' * 2
    assert e2.encode(ev) == b'{"type":"chat","content":"ab","streaming":true}\n'
    assert e1.finish() == b'{"type":"done","usage":null}\n'
    assert tw.Encoder("sse-openai").format == "openai"


@pytest.mark.parametrize("spec, message", [
    ({"events": {"text": {"data": {"t": "{nope}"}}}}, 'template: unknown slot "{nope}"'),
    ({"events": {"text": {"data": "x {constants.missing} y"}}},
     'template: unknown slot "{constants.missing}"'),
    ('{"events": {"text": {"data": 1}', "template: "),
    ("not json", "template: "),
    ({"events": {"texts": {"data": 1}}}, 'template: unknown event type "texts"'),
    ({"evens": {}}, 'template: unknown key "evens"'),
    ({"events": {"text": {"event": "a\nb", "data": 1}}}, "template: \"event\" is a one-line"),
    ({"framing": "xml", "events": {}}, "template: framing is"),
    ({"constants": 5}, 'template: "constants" is an object'),
    ({"constants": {"agent": {1, 2}}}, "not JSON-serializable (Object of type set"),
    ({"constants": {"ratio": float("nan")}}, "not JSON-serializable (Out of range float"),
    ({"constants": {"when": object()}}, "not JSON-serializable (Object of type object"),
])
def test_bad_specs_raise_value_error_with_the_core_message(spec, message):
    with pytest.raises(ValueError) as ei:
        tw.Format(spec)
    assert message in str(ei.value)
    if "JSON-serializable" in message:
        assert isinstance(ei.value.__cause__, (TypeError, ValueError))


def test_not_a_spec_is_a_type_error():
    with pytest.raises(TypeError, match="template spec"):
        tw.Format(42)
    with pytest.raises(TypeError):
        tw.Format(["events"])


def test_relay_helpers_take_a_format_in_process(mock, run):
    c = tw.Client(base_url=mock.base, max_retries=0)
    f = tw.Format(SPECS["chat_ndjson"])

    async def main():
        s = c.stream("POST", "/v1/chat/completions?chunks=4", json=BODY)
        body = b"".join([ch async for ch in encode_stream(s, f, heartbeat=None)])
        resp = sse_response(c.stream("POST", "/v1/chat/completions?chunks=1", json=BODY),
                            format=f, event_ids="x")
        await resp.body_iterator.aclose()
        return body, resp

    body, resp = run(main())
    lines = [json.loads(l) for l in body.splitlines()]
    assert "".join(l["content"] for l in lines[:-1]) == mock.expected_text(4)
    assert lines[-1]["type"] == "done" and lines[-1]["usage"]["output_tokens"] == 4
    assert resp.media_type == "application/x-ndjson" and resp.stream_id == "x"


def test_a_relay_step_is_bounded_however_fast_the_upstream(mock, run):
    """Each chunk a relay hands out stops at ~64 KiB (TW_PY_ENCODED_STEP_BYTES) even when
    more is queued: what a relay holds between two sends stays bounded."""
    c = tw.Client(base_url=mock.base, max_retries=0)
    f = tw.Format(SPECS["chat_ndjson"])

    async def main():
        s = c.stream("POST", "/v1/chat/completions?chunks=20000&split=coalesce", json=BODY)
        # Nothing read yet: the engine queues up to its watermark (1 MiB) and pauses; a step
        # could then take all of that at once.
        for _ in range(1000):
            if c.stats()["paused_streams"]:
                break
            await asyncio.sleep(0.005)  # polling the engine's counter, the condition itself
        assert c.stats()["paused_streams"] == 1
        return [ch async for ch in encode_stream(s, f, heartbeat=None)]

    chunks = run(main())
    lines = [json.loads(l) for l in b"".join(chunks).splitlines()]
    assert "".join(l["content"] for l in lines[:-1]) == mock.expected_text(20000)
    assert max(len(ch) for ch in chunks) < 64 * 1024 + 1024
