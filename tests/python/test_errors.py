"""The error vocabulary: one class per error kind of the core (the table built from the core's
kind names), the same names as Node (HTTPError, ProviderError, TimeoutError, ProtocolError,
TransportError, TruncatedError, AbortError), and every exception carries kind, status, message
and body (issue 11)."""
import asyncio

import pytest

import tokenwire as tw
from helpers.rawserver import RawServer, respond

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
NAMES = {"http": "HTTPError", "provider": "ProviderError", "timeout": "TimeoutError",
         "protocol": "ProtocolError", "transport": "TransportError",
         "truncated": "TruncatedError", "cancelled": "AbortError"}


def test_one_class_per_core_kind():
    assert set(tw.ERROR_KINDS) == set(tw.ERROR_CLASSES) >= set(NAMES)
    assert "none" not in tw.ERROR_KINDS
    for kind, cls in tw.ERROR_CLASSES.items():
        assert issubclass(cls, tw.Error) and cls is not tw.Error
        assert cls.kind == kind and cls.__module__ == "tokenwire" and cls.__doc__
        assert getattr(tw, cls.__name__) is cls
    for kind, name in NAMES.items():
        assert tw.ERROR_CLASSES[kind].__name__ == name
    assert tw.Error.kind is None
    assert issubclass(tw.TimeoutError, TimeoutError)


def test_abort_error_is_not_asyncio_cancelled_error():
    assert not hasattr(tw, "CancelledError")
    assert not issubclass(tw.AbortError, asyncio.CancelledError)
    assert not issubclass(asyncio.CancelledError, tw.Error)
    assert tw.ERROR_CLASSES["cancelled"] is tw.AbortError


def attrs(e):
    return {k: getattr(e, k) for k in ("kind", "status", "message", "body")}


def fail(client, path, **kw):
    with pytest.raises(tw.Error) as ei:
        with client.stream_sync("POST", path, json=BODY, **kw) as s:
            for _ in s:
                pass
    assert s.error is ei.value
    return ei.value


def test_every_exception_carries_kind_status_message_body(mock):
    c = tw.Client(base_url=mock.base, max_retries=0)
    e = fail(c, "/v1/chat/completions?fault=500")
    assert type(e) is tw.HTTPError
    a = attrs(e)
    assert a["kind"] == "http" and a["status"] == 500 and "mock" in a["message"]
    assert a["body"] and str(e) == a["message"]
    e = fail(c, "/v1/chat/completions?chunks=5&fault=provider_error&fault_after=2")
    assert type(e) is tw.ProviderError and e.kind == "provider" and e.message and e.body
    e = fail(c, "/v1/chat/completions?chunks=5&fault=reset&fault_after=2")
    assert type(e) is tw.TransportError and e.kind == "transport" and e.status is None
    assert e.message and e.body is None
    c2 = tw.Client(base_url=mock.base, max_retries=0, timeout=tw.Timeout(total=0.2))
    e = fail(c2, "/v1/chat/completions?chunks=5&fault=stall&fault_after=1")
    assert type(e) is tw.TimeoutError and isinstance(e, TimeoutError) and e.kind == "timeout"
    assert e.status is None and e.message and e.body is None


def test_truncated_stream_raises_truncated_error():
    chunk = (b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"},'
             b'"finish_reason":null}]}\n\n')
    srv = RawServer(lambda conn, head, body: respond(
        conn, "200 OK", [("Content-Type", "text/event-stream")], chunk))
    try:
        c = tw.Client(base_url=srv.base, max_retries=0)
        texts = []
        with pytest.raises(tw.TruncatedError) as ei:
            with c.stream_sync("POST", "/v1/chat/completions", json=BODY) as s:
                for ev in s:
                    texts.append(ev.text)
        assert "Hel" in texts
        assert ei.value.kind == "truncated" and ei.value.message and ei.value.status is None
        assert s.summary["end"] == "error" and s.summary["error"]["kind"] == "truncated"
        assert s.text_content == "Hel"
    finally:
        srv.close()


def test_abort_error_after_cancel_in_sync_iteration(mock):
    c = tw.Client(base_url=mock.base, max_retries=0)
    s = c.stream_sync("POST", "/v1/chat/completions?chunks=2000&delay_ms=5", json=BODY)
    assert next(s).type == "start"
    s.cancel()
    with pytest.raises(tw.AbortError) as ei:
        for _ in s:
            pass
    assert ei.value.kind == "cancelled" and ei.value.message
    assert not isinstance(ei.value, asyncio.CancelledError)


def test_parser_errors_carry_the_attributes_too():
    p = tw.SSEParser(max_event_size=10)
    with pytest.raises(tw.ProtocolError) as ei:
        p.feed(b"data: " + b"x" * 100 + b"\n\n")
    assert ei.value.kind == "protocol" and ei.value.message and ei.value.status is None
    assert ei.value.body is None and ei.value.events == []


def test_unknown_names_list_the_core_tables():
    with pytest.raises(ValueError) as ei:
        tw.Decoder("klingon")
    assert all(d in str(ei.value) for d in tw.DIALECTS)
    with pytest.raises(ValueError) as ei:
        tw.Encoder("klingon")
    assert all(f in str(ei.value) for f in tw.FORMATS)
    assert set(tw.DIALECTS) >= {"openai", "openai-responses", "anthropic", "gemini", "ollama",
                                "sse", "ndjson"}
    assert set(tw.FORMATS) >= {"openai", "events", "ai-sdk", "ndjson", "text"}
    assert "text" in tw.EVENT_TYPES and "tool_call" in tw.EVENT_TYPES
    assert tw.FINISH_REASONS == ("stop", "length", "tool_calls", "content_filter", "error",
                                 "other")
