"""python -m tokenwire: the same stream / parse / mock commands as the C tool."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import tokenwire as tw


def cli(*args, input=None, timeout=30):
    return subprocess.run([sys.executable, "-m", "tokenwire"] + list(args), input=input,
                          capture_output=True, timeout=timeout)


def test_version_and_usage():
    r = cli("version")
    assert r.returncode == 0 and tw.__version__.encode() in r.stdout
    r = cli("no-such-command")
    assert r.returncode == 2 and b"usage" in r.stderr


def test_parse(mock):
    req = urllib.request.Request(mock.base + "/v1/chat/completions?chunks=4",
                                 data=b'{"stream":true}', method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    res = cli("parse", "--dialect", "openai", input=raw)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.decode().splitlines() if x]
    assert "".join(x.get("text", "") for x in lines if x["type"] == "text") == \
        mock.expected_text(4)
    # same events as the Decoder
    d = tw.Decoder("openai")
    evs = d.feed(raw) + d.finish()
    assert [x["type"] for x in lines] == [e.type for e in evs]


def test_stream(mock):
    r = cli("stream", mock.base + "/v1/chat/completions?chunks=5", "--dialect", "openai",
            "--json", '{"model":"m","messages":[]}')
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == mock.expected_text(5).strip()


def test_mock_command_serves_and_stops():
    p = subprocess.Popen([sys.executable, "-m", "tokenwire", "mock", "--host", "127.0.0.1",
                          "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    try:
        line = p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert m, line
        with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % m.group(1), timeout=5) as r:
            assert r.read().strip() == b"ok"
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
