"""The FastAPI relay: examples/fastapi_app.py under a real uvicorn process, read by the official
openai SDK; the anthropic SDK as a reference consumer of the mock's anthropic dialect."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import httpx
import pytest

import tokenwire as tw
from tokenwire.fastapi import encode_stream, sse_response

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def relay(mock):
    port = free_port()
    env = dict(os.environ, TOKENWIRE_BASE_URL=mock.base + "/v1", TOKENWIRE_DIALECT="openai",
               TOKENWIRE_MODEL="gpt-test")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning"],
        cwd=os.path.join(ROOT, "examples"), env=env)
    base = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                assert json.loads(r.read())["ok"]
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


def direct(mock, dialect, path, **headers):
    """What tokenwire itself decodes from the mock for the same request."""
    c = tw.Client(base_url=mock.base, dialect=dialect, max_retries=0)
    with c.stream_sync("POST", path, json=BODY, headers=headers) as s:
        for _ in s:
            pass
    return s


def test_openai_sdk_reads_the_relay(relay, mock):
    import openai

    headers = {"X-Mock-Chunks": "12", "X-Mock-Tools": "2"}
    client = openai.OpenAI(base_url=relay + "/v1", api_key="unused", default_headers=headers,
                           max_retries=0)
    text, calls, finish = [], {}, None
    for chunk in client.chat.completions.create(model="gpt-test", messages=BODY["messages"],
                                                stream=True):
        for ch in chunk.choices:
            if ch.delta.content:
                text.append(ch.delta.content)
            for tc in ch.delta.tool_calls or []:
                cur = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    cur["id"] = tc.id
                if tc.function and tc.function.name:
                    cur["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    cur["arguments"] += tc.function.arguments
            if ch.finish_reason:
                finish = ch.finish_reason
    assert "".join(text) == mock.expected_text(12)
    ref = direct(mock, "openai", "/v1/chat/completions", **headers)
    assert [(calls[i]["id"], calls[i]["name"], calls[i]["arguments"]) for i in sorted(calls)] == \
        [(c["id"], c["name"], c["arguments"]) for c in ref.tool_calls]
    assert len(calls) == 2 and finish == "tool_calls"


def test_async_openai_sdk_reads_the_relay(relay, mock):
    import openai

    async def main():
        client = openai.AsyncOpenAI(base_url=relay + "/v1", api_key="unused", max_retries=0,
                                    default_headers={"X-Mock-Chunks": "30"})
        r = await client.chat.completions.create(model="gpt-test", messages=BODY["messages"],
                                                 stream=True)
        out = []
        async for chunk in r:
            if chunk.choices and chunk.choices[0].delta.content:
                out.append(chunk.choices[0].delta.content)
        await client.close()
        return "".join(out)

    assert asyncio.run(main()) == mock.expected_text(30)


def test_openai_sdk_reads_every_choice_of_an_n2_relay(relay, mock):
    """An OpenAI n > 1 upstream relayed in format "openai": each choice stays its own (the
    encoder is told the stream's dialect indexes choices), as the SDK reads it back."""
    import openai

    async def main():
        client = openai.AsyncOpenAI(base_url=relay + "/v1", api_key="unused", max_retries=0,
                                    default_headers={"X-Mock-Chunks": "7",
                                                     "X-Mock-Choices": "2"})
        r = await client.chat.completions.create(model="gpt-test", messages=BODY["messages"],
                                                 stream=True, n=2)
        text, finish = {}, {}
        async for chunk in r:
            for ch in chunk.choices:
                if ch.delta.content:
                    text[ch.index] = text.get(ch.index, "") + ch.delta.content
                if ch.finish_reason:
                    finish[ch.index] = ch.finish_reason
        await client.close()
        return text, finish

    text, finish = asyncio.run(main())
    # Delta i of choice c is word i + c of the mock's text: choice 1 is shifted by one word.
    assert text == {0: mock.expected_text(7), 1: mock.expected_text(8).split(" ", 1)[1]}
    assert text[0] != text[1]
    assert finish == {0: "stop", 1: "stop"}


def test_encoder_dialect_and_stream_dialect(mock):
    s = direct(mock, "openai", "/v1/chat/completions", **{"X-Mock-Chunks": "1"})
    assert s.dialect == "openai"
    assert tw.Encoder("openai", dialect="gemini").format == "openai"
    assert tw.Encoder("openai", dialect=None).format == "openai"
    with pytest.raises(ValueError, match="unknown dialect"):
        tw.Encoder("openai", dialect="bogus")


@pytest.mark.parametrize("fmt", ["openai", "events", "ai-sdk", "ndjson", "text"])
def test_every_format_and_headers(relay, mock, fmt):
    with httpx.Client(timeout=30) as h:
        r = h.post(relay + "/chat", params={"format": fmt}, json=BODY,
                   headers={"X-Mock-Chunks": "9", "X-Mock-Tools": "1"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache, no-transform"
    assert r.headers["x-accel-buffering"] == "no"
    body = r.content
    if fmt == "text":
        assert r.headers["content-type"].startswith("text/plain")
        assert body.decode() == mock.expected_text(9)
        return
    if fmt == "ndjson":
        lines = [json.loads(x) for x in body.decode().splitlines() if x]
        assert "".join(x.get("text", "") for x in lines if x["type"] == "text") == \
            mock.expected_text(9)
        return
    assert r.headers["content-type"].startswith("text/event-stream")
    if fmt == "ai-sdk":
        assert r.headers["x-vercel-ai-ui-message-stream"] == "v1"
    evs = tw.SSEParser().feed(body)
    if fmt == "openai":
        assert evs[-1].data == "[DONE]"
        text = "".join(
            (json.loads(e.data)["choices"] or [{}])[0].get("delta", {}).get("content") or ""
            for e in evs[:-1])
        assert text == mock.expected_text(9)
    elif fmt == "events":
        names = [e.event for e in evs]
        assert names[0] == "agent_start" and names[-1] == "complete"
        text = "".join(json.loads(e.data).get("text", "") for e in evs
                       if e.event == "agent_chunk" and json.loads(e.data)["type"] == "text")
        assert text == mock.expected_text(9)
    else:
        parts = [json.loads(e.data) for e in evs if e.data != "[DONE]"]
        text = "".join(p.get("delta", "") for p in parts if p.get("type") == "text-delta")
        assert text == mock.expected_text(9)


def test_two_agents_merged(relay, mock):
    with httpx.Client(timeout=30) as h:
        r = h.post(relay + "/agents", json={"prompt": "x"}, headers={"X-Mock-Chunks": "6"})
    evs = tw.SSEParser().feed(r.content)
    per = {}
    for e in evs:
        d = json.loads(e.data)
        if "agent" in d:
            per.setdefault(d["agent"], []).append((e.event, d))
    assert set(per) == {"researcher", "writer"}
    for name, items in per.items():
        kinds = [k for k, _ in items]
        assert kinds[0] == "agent_start" and kinds[-1] == "agent_complete"
        assert items[-1][1]["status"] == "ok"
        assert "".join(d.get("text", "") for k, d in items
                       if k == "agent_chunk" and d["type"] == "text") == mock.expected_text(6)
    assert evs[-1].event == "complete" and json.loads(evs[-1].data)["agents"] == 2


def test_browser_disconnect_cancels_upstream(relay, mock):
    before = mock.wait_idle()["aborted"]
    with httpx.Client(timeout=30) as h:
        with h.stream("POST", relay + "/chat", params={"format": "events"}, json=BODY,
                      headers={"X-Mock-Chunks": "5000", "X-Mock-Delay-Ms": "5"}) as r:
            got = b""
            for chunk in r.iter_bytes():
                got += chunk
                if got.count(b"agent_chunk") >= 3:
                    break
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = mock.stats()
        if st["active"] == 0 and st["aborted"] > before:
            break
        time.sleep(0.05)
    st = mock.stats()
    assert st["active"] == 0 and st["aborted"] > before


def test_heartbeat_while_idle_and_relay_in_process(mock, run):
    c = tw.Client(base_url=mock.base, max_retries=0)

    async def main():
        s = c.stream("POST", "/v1/chat/completions?chunks=3&delay_ms=400", json=BODY)
        chunks = [ch async for ch in encode_stream(s, "events", heartbeat=0.05)]
        return chunks

    chunks = run(main())
    assert any(ch == b": keepalive\n\n" for ch in chunks)
    body = b"".join(ch for ch in chunks if not ch.startswith(b":"))
    evs = tw.SSEParser().feed(body)
    assert evs[-1].event == "complete"
    resp = sse_response(c.stream("POST", "/v1/chat/completions?chunks=1", json=BODY), "ai-sdk")
    assert resp.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert resp.media_type.startswith("text/event-stream")
    with pytest.raises(ValueError):
        encode_stream(c.stream("POST", "/v1/chat/completions", json=BODY), "xml")


def test_anthropic_sdk_agrees_with_tokenwire(mock):
    import anthropic

    headers = {"X-Mock-Chunks": "15", "X-Mock-Tools": "1", "X-Mock-Reasoning": "2"}
    client = anthropic.Anthropic(base_url=mock.base, api_key="unused", max_retries=0,
                                 default_headers=headers)
    text, tool_json, thinking = [], {}, []
    with client.messages.create(model="claude-test", max_tokens=100,
                                messages=BODY["messages"], stream=True) as stream:
        for ev in stream:
            if ev.type == "content_block_start" and ev.content_block.type == "tool_use":
                tool_json[ev.index] = {"id": ev.content_block.id,
                                       "name": ev.content_block.name, "args": ""}
            elif ev.type == "content_block_delta":
                if ev.delta.type == "text_delta":
                    text.append(ev.delta.text)
                elif ev.delta.type == "input_json_delta":
                    tool_json[ev.index]["args"] += ev.delta.partial_json
                elif ev.delta.type == "thinking_delta":
                    thinking.append(ev.delta.thinking)
    ref = direct(mock, "anthropic", "/v1/messages", **headers)
    assert "".join(text) == ref.text_content == mock.expected_text(15)
    assert [(t["id"], t["name"], json.loads(t["args"])) for _, t in sorted(tool_json.items())] \
        == [(c["id"], c["name"], json.loads(c["arguments"])) for c in ref.tool_calls]
    assert thinking


def test_upstream_error_reaches_the_sdk_after_prior_text(relay, mock):
    import openai

    client = openai.OpenAI(base_url=relay + "/v1", api_key="unused", max_retries=0,
                           default_headers={"X-Mock-Chunks": "8", "X-Mock-Fault": "provider_error",
                                            "X-Mock-Fault-After": "4"})
    text = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in client.chat.completions.create(model="gpt-test", messages=BODY["messages"],
                                                    stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
    assert "".join(text) == mock.expected_text(4)
    assert "server had an error" in str(ei.value)


def test_relay_of_failed_stream_in_process(mock, run):
    c = tw.Client(base_url=mock.base, max_retries=0)

    async def main(fmt):
        s = c.stream("POST", "/v1/chat/completions?chunks=3&fault=provider_error&fault_after=1",
                     json=BODY)
        body = b"".join([x async for x in encode_stream(s, fmt)])
        return s, body

    s, body = run(main("events"))
    assert isinstance(s.error, tw.ProviderError)
    evs = tw.SSEParser().feed(body)
    names = [e.event for e in evs]
    assert "error" in names and names[-1] == "complete"
    assert json.loads(evs[-1].data)["errors"] == 1
    s, body = run(main("ai-sdk"))
    parts = [json.loads(e.data) for e in tw.SSEParser().feed(body) if e.data != "[DONE]"]
    assert any(p["type"] == "error" for p in parts)


# ---- event ids (resumable relays) -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["openai", "events", "ai-sdk"])
def test_event_ids_read_back_from_uvicorn(relay, mock, fmt):
    """event_ids=True: every SSE event of the relay carries "<stream id>:<seq>", seq 0, 1, 2...
    in order, the stream id a uuid4 hex the app gets as resp.stream_id (the example app sends
    it as X-Stream-Id); an EventSource's last event id is the last one."""
    from httpx_sse import connect_sse

    with httpx.Client(timeout=30) as h:
        with connect_sse(h, "POST", relay + "/chat", params={"format": fmt, "event_ids": "true"},
                         json=BODY, headers={"X-Mock-Chunks": "7"}) as es:
            sid = es.response.headers["x-stream-id"]
            evs = list(es.iter_sse())
    assert len(sid) == 32 and int(sid, 16) >= 0
    assert len(evs) > 7
    assert [e.id for e in evs] == ["%s:%d" % (sid, i) for i in range(len(evs))]
    # Our parser on the same bytes: same ids, and last_event_id is the last one.
    with httpx.Client(timeout=30) as h:
        raw = h.post(relay + "/chat", params={"format": fmt, "event_ids": "true"}, json=BODY,
                     headers={"X-Mock-Chunks": "7"})
    sid2 = raw.headers["x-stream-id"]
    assert sid2 != sid  # a new random id per response
    p = tw.SSEParser()
    ours = p.feed(raw.content) + p.finish()
    assert [e.id for e in ours] == ["%s:%d" % (sid2, i) for i in range(len(ours))]
    assert p.last_event_id == "%s:%d" % (sid2, len(ours) - 1)
    assert [e.event for e in ours] == [e.event for e in evs]


def test_event_ids_ndjson_and_text_from_uvicorn(relay, mock):
    with httpx.Client(timeout=30) as h:
        r = h.post(relay + "/chat", params={"format": "ndjson", "event_ids": "true"}, json=BODY,
                   headers={"X-Mock-Chunks": "5"})
        sid = r.headers["x-stream-id"]
        lines = [json.loads(x) for x in r.text.splitlines() if x]
        assert [x["event_id"] for x in lines] == ["%s:%d" % (sid, i) for i in range(len(lines))]
        assert "".join(x.get("text", "") for x in lines if x["type"] == "text") == \
            mock.expected_text(5)
        # Without event_ids: no ids, no stream id.
        r = h.post(relay + "/chat", params={"format": "events"}, json=BODY)
        assert "x-stream-id" not in r.headers
        assert all(e.id == "" for e in tw.SSEParser().feed(r.content))
        # text carries no ids (the core's rule).
        r = h.post(relay + "/chat", params={"format": "text", "event_ids": "true"}, json=BODY,
                   headers={"X-Mock-Chunks": "5"})
        assert r.text == mock.expected_text(5)


def test_event_ids_prefix_first_seq_and_heartbeats_in_process(mock, run):
    c = tw.Client(base_url=mock.base, max_retries=0)

    async def main(event_ids, heartbeat=None, path="/v1/chat/completions?chunks=3"):
        resp = sse_response(c.stream("POST", path, json=BODY), "events", heartbeat,
                            event_ids=event_ids)
        before = resp.next_event_seq
        chunks = [ch async for ch in resp.body_iterator]
        return resp, before, chunks

    resp, before, chunks = run(main("run-7"))
    assert resp.stream_id == "run-7" and resp.first_event_seq == 0 == before
    evs = tw.SSEParser().feed(b"".join(chunks))
    assert [e.id for e in evs] == ["run-7:%d" % i for i in range(len(evs))]
    assert resp.next_event_seq == len(evs)
    # Resuming: (prefix, first_seq) continues the numbering.
    resp, before, chunks = run(main(("run-7", 40)))
    evs = tw.SSEParser().feed(b"".join(chunks))
    assert before == resp.first_event_seq == 40
    assert [e.id for e in evs] == ["run-7:%d" % (40 + i) for i in range(len(evs))]
    # Heartbeats are comments: they carry no id and do not count.
    resp, _, chunks = run(main("hb", 0.05, "/v1/chat/completions?chunks=3&delay_ms=300"))
    assert b": keepalive\n\n" in chunks
    assert all(b"id:" not in ch for ch in chunks if ch.startswith(b":"))
    evs = tw.SSEParser().feed(b"".join(chunks))
    assert [e.id for e in evs] == ["hb:%d" % i for i in range(len(evs))]
    # No event ids: stream_id None.
    resp, _, chunks = run(main(None))
    assert resp.stream_id is None and b"id:" not in b"".join(chunks)
    with pytest.raises(TypeError):
        sse_response(c.stream("POST", "/v1/chat/completions", json=BODY), event_ids=7)
    with pytest.raises(ValueError):
        sse_response(c.stream("POST", "/v1/chat/completions", json=BODY),
                     event_ids=("p", -1))


def test_encoder_event_ids():
    ev = [tw.Event("start", id="r1"), tw.Event("text", text="Hi"),
          tw.Event("finish", reason="stop"), tw.Event("end")]
    e = tw.Encoder("openai", event_id_prefix="s", first_event_seq=5)
    assert e.event_id_prefix == "s" and e.next_event_seq == 5
    out = e.encode(ev) + e.heartbeat() + e.finish()
    evs = tw.SSEParser().feed(out)
    assert [x.id for x in evs] == ["s:%d" % (5 + i) for i in range(len(evs))]
    assert e.next_event_seq == 5 + len(evs) and evs[-1].data == "[DONE]"
    assert out.count(b"id: ") == len(evs)  # the heartbeat (a comment) has none
    n = tw.Encoder("ndjson", event_id_prefix='a"b')
    lines = [json.loads(x) for x in n.encode(ev).splitlines()]
    assert [x["event_id"] for x in lines] == ['a"b:%d' % i for i in range(len(lines))]
    assert list(lines[0])[0] == "event_id"
    plain = tw.Encoder("openai")
    assert plain.event_id_prefix is None and b"id:" not in plain.encode(ev)
    t = tw.Encoder("text", event_id_prefix="s")
    assert t.encode(ev) == b"Hi" and t.next_event_seq == 0
    with pytest.raises(ValueError, match="NUL"):
        tw.Encoder("openai", event_id_prefix="a\x00b")
    with pytest.raises(TypeError):
        tw.Encoder("openai", event_id_prefix=1)
    with pytest.raises(TypeError):
        tw.Encoder("openai", event_id_prefix="s", first_event_seq=True)
    with pytest.raises(ValueError):
        tw.Encoder("openai", event_id_prefix="s", first_event_seq=-1)
    with pytest.raises(ValueError):
        tw.Encoder("openai", event_id_prefix="s", first_event_seq=1 << 64)
    assert tw.Encoder("openai", event_id_prefix="s",
                      first_event_seq=(1 << 64) - 1).next_event_seq == (1 << 64) - 1
