"""Shared fixtures: the mock LLM server (in-process, from the extension) and loop runners."""
import asyncio
import gc
import json
import os
import urllib.request

import pytest

import tokenwire
from tokenwire import _tools

LOOPS = ["asyncio", "uvloop"]


def new_loop(kind):
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_in(kind, coro):
    """Runs coro to completion on a fresh loop of the given kind and closes the loop."""
    loop = new_loop(kind)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class MockServer:
    def __init__(self):
        self.native = _tools.Mock(host="127.0.0.1", port=0)
        self.port = self.native.port
        self.base = "http://127.0.0.1:%d" % self.port

    def stats(self):
        return self.native.stats()

    def http_stats(self):
        with urllib.request.urlopen(self.base + "/_mock/stats", timeout=5) as r:
            return json.loads(r.read())

    def wait_idle(self, timeout=5.0):
        """Waits until the mock has no streaming response in progress; returns the stats."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if st["active"] == 0 or time.monotonic() > deadline:
                return st
            time.sleep(0.01)

    def expected_text(self, chunks=20, text=None):
        return _tools.expected_text(chunks, text)


@pytest.fixture(scope="session")
def mock():
    m = MockServer()
    yield m
    m.native.stop()


@pytest.fixture(params=LOOPS)
def loop_kind(request):
    return request.param


@pytest.fixture
def run(loop_kind):
    return lambda coro: run_in(loop_kind, coro)


@pytest.fixture
def client(mock):
    c = tokenwire.Client(base_url=mock.base + "/v1", api_key="test-key", max_retries=0,
                         retry_base_delay=0.05)
    yield c
    del c
    gc.collect()
