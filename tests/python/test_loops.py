"""One Client shared by several event loops on several threads: each stream is announced to
the loop that started it (its own sink and reader) and its Futures are resolved on that loop."""
import asyncio
import gc
import os
import subprocess
import sys

import psutil
import pytest

import tokenwire as tw

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def run_worker(mock, debug, threads=4, streams=40):
    env = dict(os.environ)
    env.pop("PYTHONASYNCIODEBUG", None)
    if debug:
        env["PYTHONASYNCIODEBUG"] = "1"
    # In a subprocess with a deadline, so that a stall fails the test instead of hanging it.
    r = subprocess.run([sys.executable, os.path.join(HERE, "helpers", "loops_worker.py"),
                        mock.base, str(threads), str(streams)],
                       capture_output=True, timeout=180, env=env)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, (out, err)
    # 4 threads x 2 rounds x (10 sequential + 10 gathered + 1 merge of 2) + 1 outside-loop stream
    assert out.strip() == "ok %d" % (threads * 2 * (streams // 2 + 2) + 1), (out, err)
    assert "Non-thread-safe" not in err, err
    assert "Traceback" not in err, err
    return err


def test_four_loops_in_four_threads_share_one_client(mock):
    run_worker(mock, debug=False)


def test_four_loops_under_asyncio_debug(mock):
    run_worker(mock, debug=True)


def test_a_stream_belongs_to_its_loop_not_the_last_one_used(mock):
    """Two loops alive at once in one thread's sequence of use: the stream started in loop A
    is still delivered through A after loop B was used (a single shared reader moved to B
    would leave A's stream waiting)."""
    c = tw.Client(base_url=mock.base, max_retries=0, timeout=30)
    a = asyncio.new_event_loop()
    b = asyncio.new_event_loop()
    try:
        async def start(chunks):
            s = c.stream("POST", "/v1/chat/completions?chunks=%d&delay_ms=2" % chunks, json=BODY)
            first = await s.__anext__()
            return s, first

        async def finish(s):
            return "".join([ev.text async for ev in s if ev.type == "text"])

        sa, _ = a.run_until_complete(start(30))
        sb, _ = b.run_until_complete(start(20))
        assert b.run_until_complete(asyncio.wait_for(finish(sb), 20)) == \
            mock.expected_text(20)
        assert a.run_until_complete(asyncio.wait_for(finish(sa), 20)) == \
            mock.expected_text(30)
    finally:
        a.close()
        b.close()


def test_loops_that_close_leave_no_sinks_or_readers(mock):
    """A sink per loop is created on first use and dropped once its loop is closed: many
    short-lived loops (asyncio.run per job) do not accumulate descriptors."""
    c = tw.Client(base_url=mock.base, max_retries=0, timeout=30)
    proc = psutil.Process()

    async def job():
        async with c.stream("POST", "/v1/chat/completions?chunks=3", json=BODY) as s:
            return "".join([t async for t in s.text()])

    for _ in range(5):
        assert asyncio.run(job()) == mock.expected_text(3)
    gc.collect()
    fds0 = proc.num_fds()
    for _ in range(60):
        assert asyncio.run(job()) == mock.expected_text(3)
    gc.collect()
    assert proc.num_fds() - fds0 <= 2, (fds0, proc.num_fds())
    # at most the last loop's entry is kept (dropped when the next loop shows up)
    assert c._engine._loops() <= 1
    # Dropping the client with loops gone frees the rest.
    del c
    gc.collect()
    assert proc.num_fds() <= fds0


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_stream_from_another_loop_is_delivered(mock, kind):
    """A stream started in one loop (still open) and consumed in another loop on another
    thread ends with its full text instead of waiting forever."""
    import threading

    from conftest import new_loop

    c = tw.Client(base_url=mock.base, max_retries=0, timeout=30)
    home = new_loop(kind)
    try:
        async def start():
            return c.stream("POST", "/v1/chat/completions?chunks=25&delay_ms=1", json=BODY)

        s = home.run_until_complete(start())
        out = []

        def other():
            async def consume():
                return "".join([t async for t in s.text()])

            out.append(asyncio.run(asyncio.wait_for(consume(), 20)))

        t = threading.Thread(target=other)
        t.start()
        t.join(30)
        assert not t.is_alive()
        assert out == [mock.expected_text(25)]
    finally:
        home.close()


def test_client_dropped_while_its_loop_runs_in_another_thread(mock):
    """The reader is removed on the loop's own thread (call_soon_threadsafe) and the engine's
    descriptors are closed; the loop keeps running."""
    import threading

    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    t = threading.Thread(target=loop.run_forever)
    t.start()
    proc = psutil.Process()
    try:
        fds0 = proc.num_fds()
        readers0 = len(loop._selector.get_map())
        c = tw.Client(base_url=mock.base, max_retries=0, timeout=30)

        async def job():
            async with c.stream("POST", "/v1/chat/completions?chunks=3", json=BODY) as s:
                return "".join([x async for x in s.text()])

        assert asyncio.run_coroutine_threadsafe(job(), loop).result(20) == \
            mock.expected_text(3)
        assert len(loop._selector.get_map()) == readers0 + 1
        del c
        gc.collect()
        # Runs after the removal queued by the engine's teardown.
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(20)
        gc.collect()
        assert len(loop._selector.get_map()) == readers0
        assert proc.num_fds() <= fds0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(20)
        loop.close()
