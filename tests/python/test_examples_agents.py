"""The example backends of issue 12 run end to end with real clients: the WebSocket agent
(examples/ws_agent.py, under uvicorn, read with the websockets client), the NDJSON router
(examples/ndjson_router.py, under uvicorn, read with httpx) and the agent class
(examples/agent_class.py, in process), against the mock LLM."""
import asyncio
import json
import os
import sys

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from helpers.asgi_server import serve

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


def test_ws_agent_vocabulary_simulated_streaming_and_cancel(mock):
    env = {"UPSTREAM": mock.base + "/v1", "AGENT_TOKEN": "s3cret"}
    want = mock.expected_text(20)  # the mock's default answer

    def main(ws_base):
        # Auth before accept: a wrong token is refused and no upstream starts.
        before = mock.stats()["total"]
        with pytest.raises(InvalidStatus):
            with connect(ws_base + "/ws/agent?token=wrong", open_timeout=30) as ws:
                ws.recv(timeout=30)
        assert mock.stats()["total"] == before
        with connect(ws_base + "/ws/agent?token=s3cret", open_timeout=30) as ws:
            recv = lambda: json.loads(ws.recv(timeout=30))  # noqa: E731
            ws.send(json.dumps({"type": "ping"}))
            assert recv() == {"type": "pong"}
            ws.send(json.dumps({"prompt": "hi", "agent": "researcher"}))
            msgs = []
            while not msgs or msgs[-1]["type"] != "agent_processing_complete":
                msgs.append(recv())
            # A second prompt on the same socket, cancelled after its first update.
            ws.send(json.dumps({"prompt": "again", "agent": "writer"}))
            first = [recv(), recv()]
            ws.send(json.dumps({"type": "cancel"}))
            rest = []
            while not rest or rest[-1]["type"] not in ("agent_processing_complete", "error"):
                rest.append(recv())
            return msgs, first, rest

    with serve("ws_agent:app", env=env, cwd=EXAMPLES) as (_, ws_base):
        msgs, first, rest = main(ws_base)
    assert msgs[0] == {"type": "agent_processing_started", "agent": "researcher"}
    updates = [m for m in msgs if m["type"] == "agent_processing_update"]
    assert "".join(m["chunk"] for m in updates) == want
    # One JSON answer, cut into deltas of 4 characters by the core.
    assert len(updates) == (len(want) + 3) // 4 and all(len(m["chunk"]) <= 4 for m in updates)
    assert [m["length"] for m in updates] == \
        [len("".join(u["chunk"] for u in updates[:i + 1]).encode()) for i in range(len(updates))]
    assert msgs[-1] == {"type": "agent_processing_complete", "agent": "researcher",
                        "text": want}
    assert first[0] == {"type": "agent_processing_started", "agent": "writer"}
    assert rest[-1]["type"] in ("agent_processing_complete", "error")
    assert len(first) + len(rest) < len(msgs)  # the cancel cut the second answer short


def test_ndjson_router_lines_in_the_app_schema(mock):
    env = {"UPSTREAM": mock.base + "/v1"}
    with serve("ndjson_router:app", env=env, cwd=EXAMPLES) as (base, _):
        with httpx.Client(timeout=30) as h:
            with h.stream("POST", base + "/chat",
                          json={"messages": [{"role": "user", "content": "hi"}]}) as r:
                assert r.headers["content-type"] == "application/x-ndjson"
                lines = [json.loads(line) for line in r.iter_lines() if line]
    chats = lines[:-1]
    assert all(x["type"] == "chat" and x["streaming"] is True for x in chats)
    assert "".join(x["content"] for x in chats) == mock.expected_text(20)
    assert lines[-1]["type"] == "done"
    assert lines[-1]["usage"]["output_tokens"] > 0


def test_agent_class_callbacks_metrics_and_cancel(mock):
    sys.path.insert(0, EXAMPLES)
    try:
        import agent_class
    finally:
        sys.path.remove(EXAMPLES)
    import tokenwire as tw

    client = tw.Client(base_url=mock.base + "/v1", api_key="k", max_retries=0)
    agent = agent_class.Agent("writer", client, "m")
    want = mock.expected_text(20)

    got_sync = []
    r = agent.run_sync("hi", on_token=got_sync.append)
    assert "".join(got_sync) == r.text == want
    assert r.usage["output_tokens"] > 0 and r.ttft > 0 and r.tokens_per_second > 0
    assert r.finish_reason == "stop" and not r.cancelled

    async def main():
        got = []

        async def on_token(t):
            got.append(t)

        r1 = await agent.run("hi", on_token=on_token)
        assert "".join(got) == r1.text == want
        # Cancelled from "another request handler" by the agent's id, after a first token.
        slow = agent_class.Agent("slow", tw.Client(base_url=mock.base + "/v1", api_key="k",
                                                   params={"delay_ms": "20"}), "m")
        first = asyncio.Event()
        task = asyncio.ensure_future(slow.run("hi", on_token=lambda t: first.set()))
        done, _ = await asyncio.wait([task, asyncio.ensure_future(first.wait())], timeout=30,
                                     return_when=asyncio.FIRST_COMPLETED)
        assert first.is_set(), "no first token: %r" % [t.result() for t in done]
        assert slow.cancel() == 1
        return await task

    r2 = asyncio.run(main())
    assert r2.cancelled and len(r2.text) < len(want)


def _sse_events(text):
    import tokenwire as tw

    return [(e.event, json.loads(e.data)) for e in tw.SSEParser().feed(text.encode())]


def test_chat_backend_status_first_fallback_and_one_complete(mock):
    import socket

    with socket.socket() as s:  # a primary that refuses connections: the backup answers
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    env = {"PRIMARY": "http://127.0.0.1:%d/v1" % dead, "BACKUP": mock.base + "/v1"}
    with serve("chat_backend:app", env=env, cwd=EXAMPLES) as (base, _):
        with httpx.Client(timeout=30) as h:
            r = h.post(base + "/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(r.text)
    assert events[0] == ("status", {"state": "thinking"})
    text = "".join(d["text"] for name, d in events if name == "agent_chunk" and "text" in d)
    assert text == mock.expected_text(20)
    completes = [d for name, d in events if name == "complete"]
    assert len(completes) == 1 and events[-1][0] == "complete"
    assert completes[0]["provider"] == "backup" and completes[0]["usage"]["output_tokens"] > 0


def _check_orchestration(events, want):
    names = [n for n, _ in events]
    chunks = {}
    for n, d in events:
        if n == "agent_chunk":
            chunks[d["agent"]] = chunks.get(d["agent"], "") + d["content"]
    assert chunks == {"researcher": want, "writer": want, "reviewer": want}
    assert [d["progress"] for n, d in events if n == "progress"] == [0.0, 0.5, 1.0]
    inter = [d for n, d in events if n == "interaction"]
    assert inter == [{"from": "researcher", "to": "writer", "summary": want[:80]}]
    assert names.count("complete") == 1 and names[-1] == "complete"
    done = events[-1][1]
    assert done["response"] == want and done["interactions"] == 1
    assert done["metadata"]["review"] == want
    # The interaction comes after both agents completed, before the reviewer starts.
    assert names.index("interaction") > max(i for i, n in enumerate(names)
                                            if n == "agent_complete" and i < names.index("interaction"))


def test_orchestrator_over_sse_and_websocket(mock):
    env = {"OPENAI_BASE": mock.base + "/v1", "ANTHROPIC_BASE": mock.base + "/v1"}
    want = mock.expected_text(20)
    with serve("orchestrator:app", env=env, cwd=EXAMPLES) as (base, ws_base):
        with httpx.Client(timeout=30) as h:
            r = h.post(base + "/orchestrate", json={"task": "plan a trip"})
        _check_orchestration(_sse_events(r.text), want)
        with connect(ws_base + "/ws/orchestrate", open_timeout=30) as ws:
            ws.send(json.dumps({"task": "plan a trip"}))
            ws.send(json.dumps({"type": "ping", "n": 1}))
            msgs = []
            try:
                while True:
                    msgs.append(json.loads(ws.recv(timeout=30)))
            except Exception as exc:  # the server closes (1000) after the final event
                assert "1000" in str(exc) or "ConnectionClosedOK" in type(exc).__name__, exc
    assert {"type": "pong", "n": 1} in msgs
    events = [(m["event"], m["data"]) for m in msgs if "event" in m]
    _check_orchestration(events, want)
