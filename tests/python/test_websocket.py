"""WebSocket relays (tokenwire.websocket.websocket_relay) in a real FastAPI app under uvicorn
(helpers/relay_app.py), read with the `websockets` client: one message per event in any format
or tokenwire.Format, ids in the messages, cancel and ping messages, a client that goes away
mid-stream cancelling the upstream (the mock's stats show it) and raising nothing in the app,
auth before accept, several relays on one socket."""
import json
import socket

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import tokenwire as tw
from helpers.asgi_server import serve
from helpers.vocab import BODY


@pytest.fixture(scope="module")
def app(mock):
    with serve("relay_app:app", {"TOKENWIRE_BASE_URL": mock.base}) as urls:
        yield urls


def ws(app, name):
    return connect("%s/ws/%s?token=ok" % (app[1], name), open_timeout=30, close_timeout=5)


def relay_once(conn, **prompt):
    """Sends a prompt; returns (the relay's messages, the app's relay_done)."""
    conn.send(json.dumps(prompt))
    got = []
    while True:
        m = conn.recv(timeout=30)
        try:
            obj = json.loads(m)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and obj.get("type") == "relay_done":
            return got, obj
        got.append(m)


def decoded(mock, chunks):
    c = tw.Client(base_url=mock.base, max_retries=0)
    with c.stream_sync("POST", "/v1/chat/completions", json=BODY,
                       params={"chunks": str(chunks)}) as s:
        return list(s)


def jd(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def test_a_template_one_message_per_event_exact(app, mock):
    want, so_far = [], b""
    for e in decoded(mock, 6):
        if e.type == "start":
            want.append(jd({"type": "agent_processing_started", "agent": "researcher"}))
        elif e.type == "text":
            so_far += e.text.encode()
            want.append(jd({"type": "agent_processing_update", "agent": "researcher",
                            "chunk": e.text, "length": len(so_far)}))
    want.append(jd({"type": "agent_processing_complete", "agent": "researcher",
                    "text": so_far.decode()}))
    with ws(app, "ws_agent") as conn:
        got, done = relay_once(conn, chunks=6)
        # The same socket, this relay's own agent (a per-stream constant).
        again, _ = relay_once(conn, chunks=6, constants={"agent": "writer"})
    assert got == want
    assert done["reason"] == "end" and done["messages"] == []
    assert again == [m.replace('"agent":"researcher"', '"agent":"writer"') for m in want]


def test_built_in_formats_with_event_ids_and_several_relays_on_one_socket(app, mock):
    with ws(app, "events") as conn:
        got, done = relay_once(conn, chunks=4, ids="w")
        objs = [json.loads(m) for m in got]
        assert [o["id"] for o in objs] == ["w:%d" % i for i in range(len(objs))]
        assert done["next_event_seq"] == len(objs)
        assert objs[0]["event"] == "agent_start" and objs[-1]["event"] == "complete"
        assert "".join(o["data"].get("text", "") for o in objs
                       if o["event"] == "agent_chunk") == mock.expected_text(4)
        # The same socket, the next prompt: nothing of it was eaten by the first relay.
        got, _ = relay_once(conn, chunks=3)
        objs = [json.loads(m) for m in got]
        assert "id" not in objs[0]
        assert "".join(o["data"].get("text", "") for o in objs
                       if o["event"] == "agent_chunk") == mock.expected_text(3)
    with ws(app, "openai") as conn:
        got, _ = relay_once(conn, chunks=3)
    assert json.loads(got[-1]) == {"data": "[DONE]"}
    chunks = [json.loads(m)["data"] for m in got[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"]) == mock.expected_text(3)
    with ws(app, "text") as conn:
        got, _ = relay_once(conn, chunks=5)
    assert "".join(got) == mock.expected_text(5) and len(got) == 5


def test_ndjson_ids_inside_the_messages(app, mock):
    with ws(app, "ndjson") as conn:
        got, _ = relay_once(conn, chunks=3, ids=["n", 10])
    objs = [json.loads(m) for m in got]
    assert [o["event_id"] for o in objs] == ["n:%d" % (10 + i) for i in range(len(objs))]


def test_a_merge_over_a_websocket(app, mock):
    with ws(app, "multi_agent") as conn:
        got, _ = relay_once(conn, agents={"researcher": 3, "writer": 4})
    objs = [json.loads(m) for m in got]
    for agent, n in (("researcher", 3), ("writer", 4)):
        mine = [o for o in objs[:-1] if o["data"]["agent"] == agent]
        assert mine[0]["event"] == "agent_start" and mine[-1]["event"] == "agent_complete"
        assert "".join(o["data"].get("content", "") for o in mine) == mock.expected_text(n)
    assert objs[-1]["event"] == "complete"


def test_ping_pong_and_other_messages_kept_for_the_app(app, mock):
    with ws(app, "ws_agent") as conn:
        conn.send(json.dumps({"chunks": 200, "delay_ms": 5}))
        first = json.loads(conn.recv(timeout=30))
        assert first["type"] == "agent_processing_started"
        conn.send(json.dumps({"type": "ping", "id": 7}))
        conn.send(json.dumps({"type": "note", "x": 1}))
        conn.send("not json")
        seen, done = [], None
        while done is None:
            obj = json.loads(conn.recv(timeout=30))
            if obj["type"] == "relay_done":
                done = obj
            else:
                seen.append(obj)
    assert {"type": "pong", "id": 7} in seen
    updates = [o for o in seen if o["type"] == "agent_processing_update"]
    assert "".join(o["chunk"] for o in updates) == mock.expected_text(200)
    assert done["reason"] == "end"
    assert done["messages"] == [{"type": "note", "x": 1}, "not json"]


def aborted_after(mock, before):
    """Waits (mock stats, bounded) until the mock saw one more aborted response."""
    st = mock.wait_idle(10)
    deadline = 50
    while st["aborted"] <= before and deadline:
        st = mock.wait_idle(0.1)
        deadline -= 1
    return st


def test_a_cancel_message_cancels_the_upstream(app, mock):
    before = mock.wait_idle()["aborted"]
    with ws(app, "ws_agent") as conn:
        conn.send(json.dumps({"chunks": 5000, "delay_ms": 5}))
        for _ in range(3):
            conn.recv(timeout=30)
        conn.send(json.dumps({"type": "cancel"}))
        tail, done = [], None
        while done is None:
            obj = json.loads(conn.recv(timeout=30))
            if obj["type"] == "relay_done":
                done = obj
            else:
                tail.append(obj)
    assert done["reason"] == "cancelled"
    # The format's end still went out: the cancelled error, then the finish event.
    assert tail[-1]["type"] == "agent_processing_complete"
    assert {"type": "error", "kind": "cancelled"}.items() <= tail[-2].items()
    st = aborted_after(mock, before)
    assert st["active"] == 0 and st["aborted"] > before


def test_a_client_closing_mid_stream_cancels_the_upstream_and_raises_nothing(app, mock):
    before = mock.wait_idle()["aborted"]
    with httpx.Client(timeout=30) as h:
        n_log = len(h.get(app[0] + "/ws_log").json())
    for name in ("ws_agent", "events"):
        with ws(app, name) as conn:
            conn.send(json.dumps({"chunks": 5000, "delay_ms": 5}))
            for _ in range(3):
                conn.recv(timeout=30)
        # closed here, mid-stream
    st = aborted_after(mock, before + 1)
    assert st["active"] == 0 and st["aborted"] >= before + 2
    with httpx.Client(timeout=30) as h:
        log = h.get(app[0] + "/ws_log").json()[n_log:]
    assert log == [{"reason": "disconnected", "messages": []}] * 2


def test_auth_stays_the_apps_before_accept(app):
    with pytest.raises(InvalidStatus) as ei:
        connect("%s/ws/events?token=bad" % app[1], open_timeout=30)
    assert ei.value.response.status_code == 403


def test_bad_arguments_raise_before_anything_is_sent(mock, run):
    from tokenwire.fastapi import websocket_relay

    class NoSocket:
        client_state = None

    c = tw.Client(base_url=mock.base, max_retries=0)

    async def main():
        s = c.stream("POST", "/v1/chat/completions?chunks=1", json=BODY)
        with pytest.raises(ValueError, match="unknown format"):
            await websocket_relay(NoSocket(), s, format="xml")
        with pytest.raises(TypeError, match="source must be"):
            await websocket_relay(NoSocket(), object())
        await s.aclose()

    run(main())


def test_encoder_messages_mode():
    e = tw.Encoder(tw.Format({"events": {"text": {"event": "t", "data": {"x": "{text}"}}}}),
                   messages=True, event_id_prefix="m")
    assert e.messages and not tw.Encoder("events").messages
    assert e.encode([tw.Event("text", text="a"), tw.Event("text", text="é")]) == [
        '{"event":"t","id":"m:0","data":{"x":"a"}}', '{"event":"t","id":"m:1","data":{"x":"é"}}']
    assert e.heartbeat() == [] and e.finish() == [] and e.next_event_seq == 2
    t = tw.Encoder("text", messages=True)
    assert t.encode(tw.Event("text", text="line\n")) == ["line\n"]
    assert t.encode(tw.Event("usage", input_tokens=1)) == []


class RawClient:
    """A WebSocket client on a socket it reads only when asked (websockets' sans-I/O
    protocol): the threaded client reads the socket whatever its max_queue, so it cannot
    stand for a slow reader."""

    def __init__(self, url):
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        self.sock.settimeout(30)
        self.sock.connect((host, int(port)))
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()
        self.pending = []
        while self.proto.handshake_exc is None and not self._events():
            self._read()
        assert self.proto.handshake_exc is None, self.proto.handshake_exc
        self.pending = [e for e in self.pending if hasattr(e, "data")]  # drop the response

    def _flush(self):
        for chunk in self.proto.data_to_send():
            self.sock.sendall(chunk)

    def _read(self):
        data = self.sock.recv(65536)
        assert data, "connection closed"
        self.proto.receive_data(data)
        self._flush()  # pongs, close replies

    def _events(self):
        self.pending += self.proto.events_received()
        return self.pending

    def send(self, text):
        self.proto.send_text(text.encode())
        self._flush()

    def recv(self):
        while not self._events():
            self._read()
        return self.pending.pop(0).data.decode()

    def close(self):
        self.sock.close()


def test_a_slow_client_pauses_the_upstream_and_loses_nothing(app, mock):
    """A client that does not read: the socket's buffers fill, send() waits, the relay stops
    reading its stream and the engine pauses the transfer (paused_streams); once the client
    reads, every message arrives, in order (ids consecutive)."""
    # ~2 KiB per token: 4,000 tokens are more than the sockets' buffers and the engine's
    # queue (1 MiB) hold.
    chunks, word = 4000, "w" * 2000
    conn = RawClient(app[1] + "/ws/events?token=ok")
    try:
        conn.send(json.dumps({"chunks": chunks, "text": word, "ids": "b"}))
        with httpx.Client(timeout=30) as h:
            paused = 0
            for _ in range(500):  # bounded: each stats round trip is the wait
                paused = h.get(app[0] + "/engine_stats").json()["paused_streams"]
                if paused:
                    break
        assert paused >= 1
        got, done = [], None
        while done is None:
            obj = json.loads(conn.recv())
            if obj.get("type") == "relay_done":
                done = obj
            else:
                got.append(obj)
    finally:
        conn.close()
    assert done["reason"] == "end"
    assert [o["id"] for o in got] == ["b:%d" % i for i in range(len(got))]
    text = "".join(o["data"].get("text", "") for o in got if o["event"] == "agent_chunk")
    assert text == mock.expected_text(chunks, word)
