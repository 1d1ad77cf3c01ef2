"""A Client made before fork() works in the child (a new engine on first use there); streams
started in the parent end in the child with TransportError at once, never a hang."""
import asyncio
import multiprocessing
import os
import queue
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

import tokenwire as tw

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
FORK = multiprocessing.get_context("fork")

CLIENT = None  # made by the parent before it forks; used by the pool workers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stream_in_child(n):
    """Pool worker: streams with the parent's client, sync for even n, async for odd n."""
    path = "/v1/chat/completions?chunks=%d" % (5 + n)
    if n % 2 == 0:
        with CLIENT.stream_sync("POST", path, json=BODY) as s:
            return os.getpid(), "".join(s.text())

    async def main():
        async with CLIENT.stream("POST", path, json=BODY) as s:
            return "".join([t async for t in s.text()])

    return os.getpid(), asyncio.run(main())


def test_multiprocessing_fork_pool_uses_the_parents_client(mock):
    global CLIENT
    CLIENT = tw.Client(base_url=mock.base, max_retries=0, timeout=30)
    # The parent uses it first: its engine's threads run, a loop sink exists.
    with CLIENT.stream_sync("POST", "/v1/chat/completions?chunks=3", json=BODY) as s:
        assert "".join(s.text()) == mock.expected_text(3)

    async def parent_async():
        async with CLIENT.stream("POST", "/v1/chat/completions?chunks=4", json=BODY) as s:
            return "".join([t async for t in s.text()])

    assert asyncio.run(parent_async()) == mock.expected_text(4)
    try:
        with FORK.Pool(2) as pool:
            res = pool.map_async(_stream_in_child, range(10)).get(timeout=120)
        assert [text for _, text in res] == [mock.expected_text(5 + n) for n in range(10)]
        assert os.getpid() not in {pid for pid, _ in res}
        # The parent's client is untouched by its children.
        with CLIENT.stream_sync("POST", "/v1/chat/completions?chunks=6", json=BODY) as s:
            assert "".join(s.text()) == mock.expected_text(6)
        assert asyncio.run(parent_async()) == mock.expected_text(4)
    finally:
        CLIENT = None


def _fork_within_running_loop(client, mock_base, out):
    """Child of a fork made while the parent's loop runs: a fresh loop and a stream."""
    async def main():
        async with client.stream("POST", "/v1/chat/completions?chunks=7", json=BODY) as s:
            return "".join([t async for t in s.text()])

    out.put(asyncio.run(main()))


def test_fork_while_a_loop_is_running_leaves_the_parent_loop_working(mock, run):
    """The child must not touch the parent's loop registrations (an epoll set is shared
    across fork()): the parent's streams keep flowing after the child made its own engine."""
    c = tw.Client(base_url=mock.base, max_retries=0, timeout=30)

    async def main():
        s = c.stream("POST", "/v1/chat/completions?chunks=200&delay_ms=2", json=BODY)
        first = [t async for t in _take(s.text(), 3)]
        q = FORK.Queue()
        p = FORK.Process(target=_fork_within_running_loop, args=(c, mock.base, q))
        p.start()
        child_text = await asyncio.get_running_loop().run_in_executor(None, q.get, True, 60)
        await asyncio.get_running_loop().run_in_executor(None, p.join, 30)
        rest = [t async for t in s.text()]
        return "".join(first + rest), child_text, p.exitcode

    text, child_text, code = run(main())
    assert child_text == mock.expected_text(7) and code == 0
    assert text == mock.expected_text(200)


async def _take(ait, n):
    async for x in ait:
        yield x
        n -= 1
        if n == 0:
            return


def _summary_seen(s):
    d = s.summary
    return (s.text_content, s.reasoning, d["text"], d["reasoning"], d["end"],
            d["error"] and d["error"]["kind"])


def _consume_parent_stream(s, mode, out):
    # The summary of a parent's stream is not in this process: never "" (which would say the
    # answer was empty), and after the end it says how the stream ended here.
    out.put(("before", _summary_seen(s)))
    try:
        if mode == "sync":
            for _ in s:
                pass
        else:
            async def main():
                async for _ in s:
                    pass

            asyncio.run(main())
        out.put(("ended", None))
    except tw.TransportError as e:
        out.put(("after", _summary_seen(s)))
        out.put(("TransportError", str(e)))
    except BaseException as e:  # pragma: no cover - reported to the parent
        out.put((type(e).__name__, str(e)))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_parent_stream_used_in_child_fails_at_once(mock, mode):
    c = tw.Client(base_url=mock.base, max_retries=0, timeout=30)
    s = c.stream_sync("POST", "/v1/chat/completions?chunks=300&delay_ms=5", json=BODY)
    assert next(iter(s)).type == "start"
    q = FORK.Queue()
    p = FORK.Process(target=_consume_parent_stream, args=(s, mode, q))
    p.start()
    try:
        before = q.get(timeout=30)
        after = q.get(timeout=30)
        kind, msg = q.get(timeout=30)
    finally:
        p.join(30)
        if p.is_alive():
            p.kill()
    assert kind == "TransportError", (kind, msg)
    assert "fork()" in msg and "parent" in msg, msg
    assert before == ("before", (None, None, None, None, None, None)), before
    assert after == ("after", (None, None, None, None, "error", "transport")), after
    # The parent's stream is unaffected.
    got = "".join(ev.text for ev in s if ev.type == "text")
    assert got == mock.expected_text(300)


@pytest.fixture
def gunicorn_relay(mock):
    port = free_port()
    env = dict(os.environ, TOKENWIRE_BASE_URL=mock.base + "/v1", TOKENWIRE_DIALECT="openai",
               TOKENWIRE_MODEL="gpt-test", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-k", "uvicorn.workers.UvicornWorker",
         "-w", "2", "-b", "127.0.0.1:%d" % port, "--log-level", "info",
         "--graceful-timeout", "5", "fastapi_app:app"],
        cwd=os.path.join(ROOT, "examples"), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    lines = queue.Queue()
    log = []

    def reader():
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    # Ready when both workers report that their application started.
    started = 0
    deadline = time.monotonic() + 60
    while started < 2:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            proc.kill()
            raise RuntimeError("gunicorn did not start:\n" + "".join(log))
        if "Application startup complete" in line:
            started += 1
    yield "http://127.0.0.1:%d" % port, log
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_gunicorn_preload_uvicorn_workers(gunicorn_relay, mock):
    base, log = gunicorn_relay
    results = [None] * 20

    def one(i):
        chunks = 10 + i
        with httpx.Client(timeout=httpx.Timeout(30.0)) as h:
            r = h.post(base + "/chat", params={"format": "text"}, json=BODY,
                       headers={"X-Mock-Chunks": str(chunks), "X-Mock-Delay-Ms": "2"})
            results[i] = (r.status_code, r.text, mock.expected_text(chunks))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, res in enumerate(results):
        assert res is not None, "stream %d did not finish:\n%s" % (i, "".join(log))
        status, text, want = res
        assert status == 200 and text == want, (i, status, text[:200], "".join(log))
    assert "Traceback" not in "".join(log), "".join(log)
