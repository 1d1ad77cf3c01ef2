"""2xx answers that are not event streams end with ProtocolError (content type and first bytes
in the message) instead of a clean, empty end; a compressed event stream is decoded."""
import gzip
import json
import random
import zlib

import pytest

import tokenwire as tw
from helpers.rawserver import RawServer, respond

BODY = {"model": "m", "messages": []}
WORDS = ["Hello", " compressed", " world", " —", " done"]


def sse_body():
    out = []
    for i, w in enumerate(WORDS):
        chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
                 "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
        out.append("data: %s\n\n" % json.dumps(chunk, ensure_ascii=False))
    out.append('data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
               "\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def serve(status, headers, body):
    return RawServer(lambda conn, head, req: respond(conn, status, headers, body))


@pytest.fixture
def servers():
    made = []

    def make(*a):
        srv = serve(*a)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


def run_async(run, c, **kw):
    async def main():
        evs = []
        async with c.stream("POST", "/v1/chat/completions", json=BODY, **kw) as s:
            async for ev in s:
                evs.append(ev)
        return evs, s

    return run(main())


def run_sync(c, **kw):
    with c.stream_sync("POST", "/v1/chat/completions", json=BODY, **kw) as s:
        return list(s), s


def run_both(run, c, **kw):
    """The outcome through async iteration, then through sync iteration."""
    return [run_async(run, c, **kw), run_sync(c, **kw)]


def test_html_page_is_a_protocol_error(servers, run):
    page = b"<!DOCTYPE html><html><head><title>Sign in to the Wi-Fi</title></head></html>"
    srv = servers("200 OK", [("Content-Type", "text/html; charset=utf-8")], page)
    c = tw.Client(base_url=srv.base, max_retries=0)
    for consume in (lambda: run_async(run, c), lambda: run_sync(c)):
        with pytest.raises(tw.ProtocolError) as ei:
            consume()
        msg = str(ei.value)
        assert "text/html" in msg and "<!DOCTYPE html>" in msg, msg
        assert ei.value.status == 200 and ei.value.kind == "protocol"
        assert ei.value.body.startswith("<!DOCTYPE html>")


def test_random_bytes_labelled_event_stream_are_a_protocol_error(servers, run):
    junk = random.Random(1234).randbytes(4096)
    assert b"data" not in junk
    srv = servers("200 OK", [("Content-Type", "text/event-stream")], junk)
    c = tw.Client(base_url=srv.base, max_retries=0)
    for consume in (lambda: run_async(run, c), lambda: run_sync(c),
                    lambda: run_sync(c, dialect="sse")):
        with pytest.raises(tw.ProtocolError) as ei:
            consume()
        msg = str(ei.value)
        # The content type, the body size and the first bytes (printable ASCII, the rest as
        # '.') are in the message.
        assert "not an event stream" in msg and "4096 body bytes" in msg, msg
        assert 'content-type "text/event-stream"' in msg, msg
        assert 'first bytes "' in msg and ei.value.status in (None, 200)
        assert ei.value.body and len(ei.value.body) > 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_event_stream_is_decoded(servers, run, encoding):
    raw = sse_body()
    data = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    srv = servers("200 OK", [("Content-Type", "text/event-stream"),
                             ("Content-Encoding", encoding)], data)
    c = tw.Client(base_url=srv.base, max_retries=0)
    for evs, s in run_both(run, c):
        assert "".join(e.text for e in evs if e.type == "text") == "".join(WORDS)
        assert s.text_content == "".join(WORDS)
        assert s.finish_reason == "stop" and s.done and s.error is None
    head = srv.requests[0][0].lower()
    # the client asked for no compression (or one it decodes)
    assert b"accept-encoding: identity" in head or b"accept-encoding: gzip" in head, head
