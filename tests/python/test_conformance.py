"""The shared conformance suite (tests/conformance/cases/*.json, format in
tests/conformance/README.md) against Python and the CLI: every case's input through
tw.Decoder (fed whole and one byte at a time) gives exactly the case's events (Event.to_dict())
and summary (Decoder.summary, built in C by the core's tw_summary); `tokenwire parse --dialect D
--format ndjson --summary` prints the same events and summary and exits with the case's status.
Plus one live case: a bad data line through Client.stream is a recoverable error event and the
rest of the answer still arrives."""
import glob
import json
import os
import subprocess

import pytest

import tokenwire as tw

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = sorted(glob.glob(os.path.join(ROOT, "tests", "conformance", "cases", "*.json")))
CLI = os.path.join(ROOT, "out", "release", "tokenwire")
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def load(path):
    with open(path, encoding="utf-8") as f:
        case = json.load(f)
    assert {"dialect", "input", "events", "summary", "exit_status"} <= set(case), path
    return case


def case_id(path):
    return os.path.splitext(os.path.basename(path))[0]


def decode(case, chunks):
    opts = {"max_event_size": case["max_event_size"]} if "max_event_size" in case else {}
    d = tw.Decoder(case["dialect"], **opts)
    events = []
    for chunk in chunks:
        events += d.feed(chunk)
    events += d.finish()
    return [e.to_dict() for e in events], d.summary


def test_the_suite_is_there():
    assert len(CASES) >= 17, CASES
    names = {case_id(p) for p in CASES}
    # The bugs of issue 11 are among the cases.
    assert {"openai_function_call_beside_tool_calls", "openai_bad_json_line_is_recoverable",
            "openai_truncated", "openai_n2_choices_apart"} <= names


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_decoder_whole(path):
    case = load(path)
    events, summary = decode(case, [case["input"].encode("utf-8")])
    assert events == case["events"]
    assert summary == case["summary"]


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_decoder_byte_by_byte(path):
    case = load(path)
    data = case["input"].encode("utf-8")
    events, summary = decode(case, [data[i:i + 1] for i in range(len(data))])
    assert events == case["events"]
    assert summary == case["summary"]


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_cli(path):
    case = load(path)
    assert os.access(CLI, os.X_OK), "build the CLI first: make (%s)" % CLI
    args = [CLI, "parse", "--dialect", case["dialect"], "--format", "ndjson", "--summary"]
    if "max_event_size" in case:
        args += ["--max-event-size", str(case["max_event_size"])]
    r = subprocess.run(args, input=case["input"].encode("utf-8"), capture_output=True,
                       timeout=30)
    lines = [json.loads(line) for line in r.stdout.decode("utf-8").splitlines()]
    assert lines == case["events"] + [case["summary"]], r.stderr
    assert r.returncode == case["exit_status"], r.stderr


def test_live_bad_line_is_a_recoverable_error_event(mock, run):
    c = tw.Client(base_url=mock.base, max_retries=0)
    path = "/v1/chat/completions?chunks=8&fault=garbage&fault_after=3"

    async def main():
        s = c.stream("POST", path, json=BODY)
        events = [ev async for ev in s]
        return s, events

    s, events = run(main())
    errors = [e.to_dict() for e in events if e.type == "error"]
    assert len(errors) == 1
    assert errors[0]["kind"] == "protocol" and errors[0]["recoverable"] is True
    assert "garbage" in errors[0]["raw"]
    assert "".join(e.text for e in events if e.type == "text") == mock.expected_text(8)
    assert s.summary["text"] == mock.expected_text(8)
    assert s.summary["recoverable_errors"] == 1 and s.summary["end"] == "end"
    assert s.error is None
