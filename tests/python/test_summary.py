"""A stream's result comes from the core (tw_summary): Stream.summary is the dict of
tw_summary_to_json, and text_content, reasoning, tool_calls, usage (total derived),
finish_reason (normalized) / finish_reason_raw, model and id read the same summary; the metrics
say whether the upstream streamed, the generation time and tokens per second (issue 11)."""
import json
import os
import subprocess

import pytest

import tokenwire as tw
from helpers.rawserver import RawServer, respond

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
KEYS = {"id", "model", "text", "reasoning", "finish_reason", "finish_reason_raw", "choices",
        "tool_calls", "usage", "end", "error", "recoverable_errors"}
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.path.join(ROOT, "out", "release", "tokenwire")


def mk(base, **kw):
    kw.setdefault("max_retries", 0)
    return tw.Client(base_url=base, **kw)


def consume(s):
    with s:
        return [ev for ev in s]


def properties(s):
    return {"text": s.text_content, "reasoning": s.reasoning, "tool_calls": s.tool_calls,
            "usage": s.usage, "finish_reason": s.finish_reason,
            "finish_reason_raw": s.finish_reason_raw, "model": s.model, "id": s.id}


def cli_summary(dialect, body):
    out = subprocess.run([CLI, "parse", "--dialect", dialect, "--summary"], input=body,
                         capture_output=True, check=False).stdout
    return json.loads(out.splitlines()[-1])


@pytest.fixture
def body_server():
    """A server answering every request with the SSE body in srv.body."""
    srv = RawServer(lambda conn, head, body: respond(
        conn, "200 OK", [("Content-Type", "text/event-stream")], srv.body))
    yield srv
    srv.close()


@pytest.mark.parametrize("dialect,path,raw", [
    ("openai", "/v1/chat/completions", "tool_calls"),
    ("anthropic", "/v1/messages", "tool_use"),
    ("gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", "STOP")])
def test_summary_is_the_core_json_and_properties_agree(mock, dialect, path, raw):
    c = mk(mock.base, dialect=dialect)
    q = ("&" if "?" in path else "?") + "chunks=6&tools=2&reasoning=2"
    s = c.stream_sync("POST", path + q, json=BODY)
    evs = consume(s)
    summ = s.summary
    assert set(summ) == KEYS
    assert summ["text"] == mock.expected_text(6) == s.text_content
    assert summ["end"] == "end" and summ["error"] is None
    assert summ["finish_reason_raw"] == raw == s.finish_reason_raw
    assert s.finish_reason in tw.FINISH_REASONS
    for k, v in properties(s).items():
        assert summ[k] == v, k
    assert len(s.tool_calls) == 2
    for call in s.tool_calls:
        assert set(call) == {"index", "id", "name", "arguments"}
        json.loads(call["arguments"])
    assert summ["text"] == "".join(e.text for e in evs if e.type == "text")


def test_usage_total_is_derived_and_finish_is_normalized(body_server):
    body_server.body = (
        b'data: {"id":"r1","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},'
        b'"finish_reason":null}]}\n\n'
        b'data: {"id":"r1","model":"m","choices":[{"index":0,"delta":{},'
        b'"finish_reason":"max_tokens"}]}\n\n'
        b'data: {"id":"r1","model":"m","choices":[],"usage":{"prompt_tokens":5,'
        b'"completion_tokens":7}}\n\ndata: [DONE]\n\n')
    s = mk(body_server.base).stream_sync("POST", "/v1/chat/completions", json=BODY)
    consume(s)
    assert s.usage == {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}
    assert s.finish_reason == "length" and s.finish_reason_raw == "max_tokens"
    assert s.id == "r1" and s.model == "m" and s.text_content == "Hi"
    assert s.summary == cli_summary("openai", body_server.body)


def test_choices_apart(mock):
    s = mk(mock.base).stream_sync("POST", "/v1/chat/completions?chunks=4&choices=2", json=BODY)
    evs = consume(s)
    summ = s.summary
    assert len(summ["choices"]) == 2
    for ch in summ["choices"]:
        assert ch["text"] == "".join(e.text for e in evs
                                     if e.type == "text" and e.index == ch["index"])
    assert s.text_content == summ["choices"][0]["text"]


def test_accumulate_false_keeps_no_text_but_the_rest(mock):
    c = mk(mock.base, accumulate=False)
    s = c.stream_sync("POST", "/v1/chat/completions?chunks=5&tools=1&reasoning=1", json=BODY)
    consume(s)
    assert s.text_content is None and s.reasoning is None
    assert s.summary["text"] is None and s.summary["choices"][0]["text"] is None
    assert len(s.tool_calls) == 1 and s.usage and s.finish_reason == "tool_calls"


def test_metrics_from_the_core(mock):
    s = mk(mock.base).stream_sync("POST", "/v1/chat/completions?chunks=20&delay_ms=2", json=BODY)
    consume(s)
    m = s.metrics
    assert m["streamed"] is True
    assert 0 < m["generation_time"] <= m["duration"]
    assert m["tokens_per_second"] > 0


def test_json_answer_is_not_streamed():
    answer = json.dumps({"id": "r", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Whole"},
         "finish_reason": "stop"}]}).encode()
    srv = RawServer(lambda conn, head, body: respond(
        conn, "200 OK", [("Content-Type", "application/json")], answer))
    try:
        s = mk(srv.base).stream_sync("POST", "/v1/chat/completions", json=BODY)
        consume(s)
        assert s.text_content == "Whole" and s.finish_reason == "stop"
        assert s.metrics["streamed"] is False
    finally:
        srv.close()


def test_merge_sources_keep_their_summaries(mock, run):
    c = mk(mock.base)

    async def main():
        streams = {"a": c.stream("POST", "/v1/chat/completions?chunks=3", json=BODY),
                   "b": c.stream("POST", "/v1/messages?chunks=5&tools=1", json=BODY,
                                 dialect="anthropic")}
        async for _ in tw.merge(streams):
            pass
        return streams

    streams = run(main())
    assert streams["a"].summary["text"] == mock.expected_text(3)
    assert streams["b"].summary["text"] == mock.expected_text(5)
    assert len(streams["b"].tool_calls) == 1
    assert all(s.summary["end"] == "end" for s in streams.values())


def test_decoder_summary_is_built_in_c(body_server):
    data = (b'data: {"id":"r1","model":"m","choices":[{"index":0,"delta":{"content":"A"},'
            b'"finish_reason":null}]}\n\ndata: {bad\n\n'
            b'data: {"id":"r1","model":"m","choices":[{"index":0,"delta":{"content":"B"},'
            b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    whole = tw.Decoder("openai")
    whole.feed(data)
    whole.finish()
    split = tw.Decoder("openai")
    for i in range(len(data)):
        split.feed(data[i:i + 1])
    split.finish()
    assert whole.summary == split.summary == cli_summary("openai", data)
    assert whole.summary["text"] == "AB" and whole.summary["recoverable_errors"] == 1
