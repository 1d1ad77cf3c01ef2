"""tokenwire.Event: to_dict() is the core's JSON object of the event (tw_event_to_json, the
lines of `tokenwire parse` and of the ndjson format), not a Python copy of the rule."""
import json

import tokenwire as tw


def ndjson(ev):
    """The same event through the core's ndjson encoder."""
    return json.loads(tw.Encoder("ndjson").encode(ev))


EVENTS = [
    tw.Event("start", id="c1", name="gpt"),
    tw.Event("text", text="Hel", index=1),
    tw.Event("text", text=""),
    tw.Event("reasoning", text="hmm"),
    tw.Event("tool_call", index=2, id="call_1", name="get", arguments='{"a":'),
    tw.Event("usage", input_tokens=3, output_tokens=4),
    tw.Event("finish", reason="stop"),
    tw.Event("error", kind="protocol", text="bad json", raw="{x", recoverable=True),
    tw.Event("error", kind="provider", status=529, text="Overloaded", name="overloaded_error",
             raw='{"type":"error"}'),
    tw.Event("error", kind="truncated", text="cut"),
    tw.Event("raw", name="ping", text="{}", id="7", retry=100),
    tw.Event("end"),
    tw.Event("progress", text="step 1", source="agent"),
    tw.Event("agent_start", source="a"),
]


def test_to_dict_is_the_core_json():
    for ev in EVENTS:
        assert ev.to_dict() == ndjson(ev), ev


def test_to_dict_keys_follow_the_core():
    assert tw.Event("start", id="c1", name="gpt").to_dict() == \
        {"type": "start", "id": "c1", "model": "gpt"}
    assert tw.Event("error", kind="protocol", text="bad", raw="{x", recoverable=True).to_dict() \
        == {"type": "error", "kind": "protocol", "message": "bad", "raw": "{x",
            "recoverable": True}
    assert tw.Event("error", kind="http", status=500, text="boom").to_dict() == \
        {"type": "error", "kind": "http", "status": 500, "message": "boom"}
    assert tw.Event("text", text="x").to_dict() == {"type": "text", "index": 0, "text": "x"}
    assert tw.Event("raw", name="message", text="d").to_dict() == \
        {"type": "raw", "event": "message", "data": "d"}
    assert tw.Event("usage", output_tokens=4).to_dict() == {"type": "usage", "output_tokens": 4}


def test_decoded_events_match_the_cli_lines():
    data = (b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},'
            b'"finish_reason":null}]}\n\ndata: {oops\n\n'
            b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},'
            b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n'
            b'data: [DONE]\n\n')
    d = tw.Decoder("openai")
    evs = d.feed(data) + d.finish()
    got = [e.to_dict() for e in evs]
    assert got[0] == {"type": "start", "id": "c1", "model": "m"}
    err = [g for g in got if g["type"] == "error"]
    assert len(err) == 1 and err[0]["recoverable"] is True and err[0]["raw"] == "{oops"
    assert "message" in err[0] and "text" not in err[0]
    assert got == [ndjson(e) for e in evs]
    assert repr(evs[0]).startswith("Event('start', ")
