"""Everything a request puts on the wire is checked before anything is sent: the method, the
URL (path and query), header names and values, the API key. A violation raises ValueError
naming the field, and no connection is made."""
import asyncio

import pytest

import tokenwire as tw
from helpers.rawserver import RawServer, respond

BODY = {"model": "m", "messages": []}
SECRET = "sk-secret-4242"


@pytest.fixture
def server():
    srv = RawServer(lambda conn, head, body: respond(conn, "200 OK", [
        ("Content-Type", "text/event-stream")], b'data: {"choices":[]}\n\ndata: [DONE]\n\n'))
    yield srv
    srv.close()


def refused(server, fn, *names):
    """fn() raises ValueError whose message names each of names; nothing reached server."""
    with pytest.raises(ValueError) as ei:
        s = fn()
        # Not raised at start: make sure the request would have gone out, then fail.
        for _ in s:
            pass
    msg = str(ei.value)
    for name in names:
        assert name in msg, (name, msg)
    assert SECRET not in msg and "\r" not in msg and "\n" not in msg, msg
    assert server.connections == 0, msg
    return msg


def control(server, client, **kw):
    """The same client and server with a valid request: it does reach the server (so a
    refusal above is the check's doing, not an unreachable server)."""
    with client.stream_sync("POST", "/v1/chat/completions", json=BODY, dialect="sse",
                            **kw) as s:
        for _ in s:
            pass
    assert server.connections >= 1 and len(server.requests) == 1


def test_non_ascii_method(server):
    c = tw.Client(base_url=server.base, max_retries=0)
    msg = refused(server, lambda: c.stream_sync("ＰＯＳＴ", "/v1/chat/completions", json=BODY),
                  "method")
    assert "RFC 9110 token" in msg
    refused(server, lambda: c.stream_sync("PO ST", "/v1/chat/completions", json=BODY), "method")
    refused(server, lambda: c.stream_sync("POST\r\nX: y", "/v1/chat/completions"), "method")
    refused(server, lambda: c.stream_sync("", "/v1/chat/completions"), "method")
    control(server, c)


@pytest.mark.parametrize("bad,what", [("\r\nX-Injected: yes", "CR"), ("\nHost: evil", "LF"),
                                      ("\x00tail", "NUL"), ("\x7f", "byte 0x7F")])
@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
def test_api_key_refused_when_the_client_is_made(server, bad, what, dialect):
    with pytest.raises(ValueError) as ei:
        tw.Client(base_url=server.base, api_key=SECRET + bad, dialect=dialect)
    msg = str(ei.value)
    # The core's check (tw_check_api_key): the byte's position, never the key.
    assert "api_key" in msg and what in msg and SECRET not in msg, msg
    assert "at byte %d" % len(SECRET) in msg, msg
    assert server.connections == 0


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("bad,what", [("\r\nX-Injected: yes", "CR"), ("\x00tail", "NUL")])
def test_api_key_changed_later_is_refused_by_the_engine(server, dialect, bad, what):
    # The key goes to the core (tw_request_opts.api_key), which checks it before building
    # the header.
    c = tw.Client(base_url=server.base, api_key=SECRET, dialect=dialect, max_retries=0)
    c.api_key = SECRET + bad
    msg = refused(server, lambda: c.stream_sync("POST", "/v1/chat/completions", json=BODY),
                  "api_key", what)
    assert "at byte" in msg
    c.api_key = SECRET
    control(server, c)


def test_header_name_and_value(server):
    c = tw.Client(base_url=server.base, max_retries=0)
    path = "/v1/chat/completions"
    for name in ("X-A\r\nX-Injected", "X-A\nB", "X A", "X-Ä", "X-A\x00B"):
        refused(server, lambda: c.stream_sync("POST", path, headers={name: "v"}),
                "header name")
    for value, what in (("v\r\nX-Injected: yes", "CR"), ("v\nX: y", "LF"), ("v\x00w", "NUL"),
                        ("a\x01b", "0x01")):
        refused(server, lambda: c.stream_sync("POST", path, headers={"X-Custom": value}),
                'value of header "X-Custom"', what)
    # Client-wide headers go through the same check.
    c2 = tw.Client(base_url=server.base, headers={"X-Team": "a\r\nX-Injected: 1"},
                   max_retries=0)
    refused(server, lambda: c2.stream_sync("POST", path), 'value of header "X-Team"', "CR")
    # A ":" in a name would silently make another header: refused by the binding.
    with pytest.raises(ValueError, match="header name"):
        c.stream_sync("POST", path, headers={"X-A: b": "v"})
    control(server, c, headers={"X-Custom": "fine\tvalue ü"})
    head = server.requests[0][0]
    assert b"X-Custom: fine\tvalue \xc3\xbc" in head


def test_path_and_query(server):
    c = tw.Client(base_url=server.base, max_retries=0)
    for path, what in (("/v1/chat\r\nX-Injected: yes", "CR"),
                       ("/v1/chat/completions?x=a\r\nb", "CR"),
                       ("/v1/chat/completions?x=a\nb", "LF"),
                       ("/v1/chat/completions?x=a b", "space"),
                       ("/v1/chät", "byte 0xC3"),
                       ("/v1/chat\x00/completions", "NUL"),
                       ("/v1/chat/completions?q=\x00", "NUL")):
        refused(server, lambda: c.stream_sync("POST", path, json=BODY), "url", what)
    bad_base = tw.Client(base_url=server.base + "/v1\r\nX: y", max_retries=0)
    refused(server, lambda: bad_base.stream_sync("POST", "/chat/completions"), "url", "CR")
    with pytest.raises(ValueError, match="url"):
        c.prewarm("/x\x00y")
    control(server, c)


def test_async_stream_refused_too(server):
    c = tw.Client(base_url=server.base, max_retries=0)

    async def main():
        with pytest.raises(ValueError, match='value of header "X-A"'):
            c.stream("POST", "/v1/chat/completions", headers={"X-A": "1\r\n2"})
        with pytest.raises(ValueError, match="method"):
            c.stream("ＰＯＳＴ", "/v1/chat/completions")

    asyncio.run(main())
    assert server.connections == 0


def test_ca_file_with_nul_is_refused(server):
    c = tw.Client(base_url=server.base, ca_file="/etc/ssl/certs/ca.pem\x00.evil", max_retries=0)
    with pytest.raises(ValueError, match="ca_file"):
        c.stream_sync("POST", "/v1/chat/completions")
    assert server.connections == 0
