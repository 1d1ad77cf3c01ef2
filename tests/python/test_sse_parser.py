"""tokenwire.SSEParser: unit cases and a property test against a plain reading of the WHATWG
"parse an event stream" / "interpret an event stream" rules."""
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokenwire


def reference(data: bytes, start: str = "", want_id: bool = False):
    """The WHATWG algorithm read literally, on the whole input at once; with want_id, also
    the last event ID string (set at every dispatch step, also when no event is dispatched,
    from the last event ID buffer; start is where both begin)."""
    text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # the part after the last line end is not a complete line
    out = []
    data_buf, event_type, last_id, retry = "", "", start, None
    last_string = start
    for line in lines:
        if line == "":
            last_string = last_id
            if data_buf == "":
                event_type, retry = "", None
                continue
            if data_buf.endswith("\n"):
                data_buf = data_buf[:-1]
            out.append((event_type or "message", data_buf, last_id, retry))
            data_buf, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            event_type = value
        elif field == "data":
            data_buf += value + "\n"
        elif field == "id":
            if "\0" not in value:
                last_id = value
        elif field == "retry":
            if value and all(c in "0123456789" for c in value):
                retry = int(value)
    return (out, last_string) if want_id else out


def parse_split(data: bytes, cuts, start=None, want_id=False):
    p = tokenwire.SSEParser(start) if start is not None else tokenwire.SSEParser()
    out = []
    prev = 0
    for c in sorted(set(cuts)) + [len(data)]:
        out += p.feed(data[prev:c])
        prev = c
    assert p.finish() == []
    out = [(e.event, e.data, e.id, e.retry) for e in out]
    return (out, p.last_event_id) if want_id else out


def test_basic_events():
    p = tokenwire.SSEParser()
    evs = p.feed(b"data: x\n\nid: 7\nevent: delta\ndata: a\ndata: b\nretry: 250\n\n: note\n")
    assert [(e.event, e.data, e.id, e.retry) for e in evs] == [
        ("message", "x", "", None),
        ("delta", "a\nb", "7", 250),
    ]
    assert p.last_event_id == "7"
    assert p.feed(b"data: y") == []
    assert p.finish() == []  # unterminated event discarded


def test_split_inside_crlf_and_utf8():
    data = "data: héllo ✓\r\n\r\n".encode()
    for i in range(len(data) + 1):
        assert parse_split(data, [i]) == [("message", "héllo ✓", "", None)]


def test_sse_event_type_and_errors():
    e = tokenwire.SSEEvent("d", event="x", id="1", retry=5)
    assert (e.event, e.data, e.id, e.retry) == ("x", "d", "1", 5)
    assert e == tokenwire.SSEEvent("d", event="x", id="1", retry=5)
    with pytest.raises(TypeError):
        tokenwire.SSEParser().feed("data: str is not bytes\n\n")
    with pytest.raises(TypeError):
        tokenwire.SSEParser().feed(12)
    # bytearray and memoryview work
    assert len(tokenwire.SSEParser().feed(bytearray(b"data: a\n\n"))) == 1
    assert len(tokenwire.SSEParser().feed(memoryview(b"data: a\n\n"))) == 1


def test_oversized_event_is_a_protocol_error_and_parser_recovers():
    p = tokenwire.SSEParser(max_event_size=64)
    with pytest.raises(tokenwire.ProtocolError) as ei:
        p.feed(b"data: ok\n\ndata: " + b"x" * 200 + b"\n\n")
    assert [e.data for e in ei.value.events] == ["ok"]
    assert [e.data for e in p.feed(b"data: after\n\n")] == ["after"]


# Pieces that exercise every rule: line ends of all kinds, fields with and without values,
# comments, BOM, NUL in ids, digits and non-digits in retry, non-ASCII and invalid UTF-8.
PIECES = [
    b"data", b"data:", b"data: ", b"event", b"event:", b"id", b"id:", b"retry:", b"retry: ",
    b":", b": comment", b" ", b"x", b"hello", b"\xc3\xa9", b"\xe2\x9c\x93", b"\xff", b"\xc3",
    b"\x00", b"12", b"abc", b"\r", b"\n", b"\r\n", b"\n\n", b"\r\n\r\n", b"\xef\xbb\xbf",
    b"data: x\n\n", b"field: v", b"dat", b"a:y",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(PIECES), min_size=0, max_size=40),
    st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    st.booleans(),
)
def test_property_matches_reference(pieces, cuts, bom):
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(pieces)
    cuts = [c % (len(data) + 1) for c in cuts]
    assert parse_split(data, cuts) == reference(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_property_random_bytes(data, cuts):
    cuts = [c % (len(data) + 1) for c in cuts]
    assert parse_split(data, cuts) == reference(data)


def test_last_event_id_resume_and_finish():
    """SSEParser(last_event_id=...) resumes from a known id; the id survives finish(); only
    ids of dispatched blocks count (an id-only block does, an unterminated one does not)."""
    p = tokenwire.SSEParser(last_event_id="41")
    assert p.last_event_id == "41"
    assert [e.id for e in p.feed(b"data: a\n\n")] == ["41"]
    assert [e.id for e in p.feed(b"id: 42\ndata: b\n\n")] == ["42"]
    assert p.feed(b"id: 43\ndata: c\n") == [] and p.last_event_id == "42"
    assert p.finish() == [] and p.last_event_id == "42"  # the block of 43 never dispatched
    # The same parser reads the next connection, from the kept id.
    assert [e.id for e in p.feed(b"data: d\n\n")] == ["42"]
    assert p.feed(b"id: 44\n\n") == [] and p.last_event_id == "44"  # id-only block counts
    assert p.feed(b"id\n\n") == [] and p.last_event_id == ""  # an empty id resets it
    p.reset()
    assert p.last_event_id == ""
    assert tokenwire.SSEParser("x", max_event_size=100).last_event_id == "x"
    assert tokenwire.SSEParser(last_event_id=None).last_event_id == ""
    with pytest.raises(ValueError):
        tokenwire.SSEParser(last_event_id="a\x00b")
    with pytest.raises(TypeError):
        tokenwire.SSEParser(last_event_id=7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(PIECES), min_size=0, max_size=40),
    st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    st.sampled_from(["", "7", "é"]),
)
def test_property_last_event_id_matches_reference(pieces, cuts, start):
    data = b"".join(pieces)
    cuts = [c % (len(data) + 1) for c in cuts]
    assert parse_split(data, cuts, start, want_id=True) == reference(data, start, want_id=True)
