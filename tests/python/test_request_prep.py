"""Request preparation is the core's (tw_engine_start): the API key's header per dialect or per
auth (Azure's api-key), anthropic-version always for the anthropic dialect unless the caller
gives one, query parameters percent-encoded by the core, and a caller's header replacing a
default of the same name case-insensitively. The server here records the request head as it
arrived on the wire. Timeouts: tw.Timeout()'s defaults are the core's (issue 11)."""
import pytest

import tokenwire as tw
from helpers.rawserver import RawServer, respond

BODY = {"model": "m", "messages": []}
SSE = b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n' \
      b'data: [DONE]\n\n'


@pytest.fixture
def server():
    srv = RawServer(lambda conn, head, body: respond(conn, "200 OK", [
        ("Content-Type", "text/event-stream")], SSE))
    yield srv
    srv.close()


def request(server, client, path="/v1/chat/completions", **kw):
    """Sends one request and returns (request line, [(name, value)]) as the server read them."""
    n = len(server.requests)
    try:
        with client.stream_sync("POST", path, json=BODY, **kw) as s:
            for _ in s:
                pass
    except tw.Error:
        pass  # the body is OpenAI's: other dialects may not decode it; the head is what counts
    assert server.wait_requests(n + 1) == n + 1
    head = server.requests[n][0].decode()
    lines = head.split("\r\n")
    return lines[0], [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]


def named(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


@pytest.mark.parametrize("dialect,name,value", [
    ("openai", "Authorization", "Bearer K1"),
    ("ollama", "Authorization", "Bearer K1"),
    ("anthropic", "x-api-key", "K1"),
    ("gemini", "x-goog-api-key", "K1")])
def test_api_key_header_per_dialect(server, dialect, name, value):
    c = tw.Client(base_url=server.base, api_key="K1", dialect=dialect, max_retries=0)
    _, h = request(server, c)
    assert named(h, name) == [value]
    others = {"authorization", "x-api-key", "x-goog-api-key", "api-key"} - {name.lower()}
    assert all(not named(h, o) for o in others)


@pytest.mark.parametrize("auth,name,value", [
    ("api-key", "api-key", "K2"), ("bearer", "Authorization", "Bearer K2"),
    ("x-api-key", "x-api-key", "K2"), ("x-goog-api-key", "x-goog-api-key", "K2")])
def test_auth_picks_the_header(server, auth, name, value):
    c = tw.Client(base_url=server.base, api_key="K2", auth=auth, max_retries=0)
    _, h = request(server, c)
    assert named(h, name) == [value]
    assert sum(len(named(h, n)) for n in tw.AUTHS + ("authorization",)) == 1
    with pytest.raises(ValueError, match="auth"):
        tw.Client(base_url=server.base, auth="azure-ad")


def test_auth_names_are_the_cores(server):
    # "azure" is the core's alias of "api-key" (tw_auth_from_name); the Client keeps the
    # canonical name and the key goes out in the api-key header only.
    assert tw.AUTHS == ("bearer", "api-key", "x-api-key", "x-goog-api-key")
    c = tw.Client(base_url=server.base, api_key="K5", auth="azure", max_retries=0)
    assert c.auth == "api-key"
    _, h = request(server, c)
    assert named(h, "api-key") == ["K5"] and not named(h, "authorization")
    assert tw.Client(base_url=server.base, auth="dialect").auth is None
    assert tw.Client(base_url=server.base, auth=None).auth is None
    with pytest.raises(ValueError, match="azure"):
        tw.Client(base_url=server.base, auth="Azure")  # names are case-sensitive
    with pytest.raises(TypeError, match="auth"):
        tw.Client(base_url=server.base, auth=1)


def test_a_callers_authorization_replaces_the_default(server):
    c = tw.Client(base_url=server.base, api_key="K3", max_retries=0)
    _, h = request(server, c, headers={"authorization": "Bearer mine"})
    assert named(h, "authorization") == ["Bearer mine"]
    # Client-wide and per-request headers: the request's wins, one line in all.
    c2 = tw.Client(base_url=server.base, api_key="K3", max_retries=0,
                   headers={"Authorization": "Bearer client", "X-Team": "a"})
    _, h = request(server, c2, headers={"AUTHORIZATION": "Bearer request", "x-team": "b"})
    assert named(h, "authorization") == ["Bearer request"]
    assert named(h, "x-team") == ["b"]
    _, h = request(server, c2)
    assert named(h, "authorization") == ["Bearer client"] and named(h, "x-team") == ["a"]



@pytest.mark.parametrize("dialect,accept", [
    ("openai", "text/event-stream"), ("openai-responses", "text/event-stream"),
    ("anthropic", "text/event-stream"), ("gemini", "text/event-stream"),
    ("sse", "text/event-stream"), ("ollama", "application/x-ndjson"),
    ("ndjson", "application/x-ndjson")])
def test_one_accept_line_the_cores_or_the_callers(server, dialect, accept):
    # The core adds Accept per dialect (the binding sends none of its own); a caller's Accept,
    # in any case and from the Client or the request, replaces it: one line on the wire.
    c = tw.Client(base_url=server.base, dialect=dialect, max_retries=0)
    _, h = request(server, c)
    assert named(h, "accept") == [accept], h
    _, h = request(server, c, headers={"ACCEPT": "*/*"})
    assert named(h, "accept") == ["*/*"], h
    c2 = tw.Client(base_url=server.base, dialect=dialect, max_retries=0,
                   headers={"Accept": "application/json"})
    _, h = request(server, c2)
    assert named(h, "accept") == ["application/json"], h
    _, h = request(server, c2, headers={"accept": "text/plain"})
    assert named(h, "accept") == ["text/plain"], h


def test_anthropic_version_always_and_replaceable(server):
    c = tw.Client(base_url=server.base, dialect="anthropic", max_retries=0)
    _, h = request(server, c, path="/v1/messages", dialect="anthropic")
    assert named(h, "anthropic-version") == ["2023-06-01"] and not named(h, "x-api-key")
    _, h = request(server, c, path="/v1/messages", headers={"Anthropic-Version": "2099-01-01"})
    assert named(h, "anthropic-version") == ["2099-01-01"]
    ck = tw.Client(base_url=server.base, dialect="anthropic", api_key="K4", max_retries=0)
    _, h = request(server, ck, path="/v1/messages")
    assert named(h, "anthropic-version") == ["2023-06-01"] and named(h, "x-api-key") == ["K4"]
    _, h = request(server, c, dialect="openai")
    assert not named(h, "anthropic-version")


def test_params_are_encoded_by_the_core(server):
    c = tw.Client(base_url=server.base, max_retries=0, params={"api-version": "2024-10-21"})
    line, _ = request(server, c, params={"q": "a b&c/é", "n": 2})
    assert line == ("POST /v1/chat/completions?api-version=2024-10-21&q=a%20b%26c%2F%C3%A9&n=2"
                    " HTTP/1.1")
    line, _ = request(server, c, path="/v1/x?alt=sse", params=[("k", "1"), ("k", "2")])
    assert line == "POST /v1/x?alt=sse&api-version=2024-10-21&k=1&k=2 HTTP/1.1"
    line, _ = request(server, c, params={"api-version": "preview"})
    assert line == "POST /v1/chat/completions?api-version=preview HTTP/1.1"
    with pytest.raises(TypeError):
        c.stream_sync("POST", "/x", params={"a": None})
    with pytest.raises(TypeError):
        c.stream_sync("POST", "/x", params=[("a",)])
    # A NUL inside a name or value is refused by the core (the binding passes lengths), naming
    # the parameter by position (the Client's first); nothing is sent.
    n = len(server.requests)
    with pytest.raises(ValueError, match="query value #3: NUL inside"):
        c.stream_sync("POST", "/x", params={"a": "1", "b": "x\x00y"})
    with pytest.raises(ValueError, match="query name #2: NUL inside"):
        c.stream_sync("POST", "/x", params={"a\x00": "1"})
    with pytest.raises(ValueError, match="query value #1: NUL inside"):
        tw.Client(base_url=server.base, params={"v": "\x00"}).stream_sync("POST", "/x")
    # A trailing NUL is inside too (a C string would have dropped it silently).
    with pytest.raises(ValueError, match="query value #2: NUL inside"):
        c.stream_sync("POST", "/x", params={"a": "x\x00"})
    assert len(server.requests) == n


def test_timeout_defaults_are_the_cores():
    d = tw.REQUEST_DEFAULTS
    t = tw.Timeout()
    assert (t.connect, t.first_byte, t.idle, t.paused) == \
        (d["connect_timeout"], d["first_byte_timeout"], d["idle_timeout"], d["paused_timeout"])
    assert (d["connect_timeout"], d["first_byte_timeout"], d["idle_timeout"],
            d["paused_timeout"]) == (10, 600, 600, 300)
    assert t.event is None and t.total is None and t.first_token is None
    assert d["event_timeout"] == d["total_timeout"] == d["first_token_timeout"] == 0
    assert t.as_kwargs() == {k: d[k] for k in ("connect_timeout", "first_byte_timeout",
                                               "idle_timeout", "event_timeout",
                                               "total_timeout", "paused_timeout",
                                               "first_token_timeout")}
    c = tw.Client(base_url="http://127.0.0.1:1")
    assert c.max_retries == d["max_retries"] and c.retry_base_delay == d["retry_base_delay"]
    assert tw.Timeout.coerce(5) == tw.Timeout(connect=5.0, first_byte=5.0, idle=5.0)
    assert tw.Timeout.coerce(None).as_kwargs() == dict.fromkeys(t.as_kwargs(), 0.0)
