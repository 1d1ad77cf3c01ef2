"""Streams that survive across processes: two uvicorn instances of helpers/resume_app.py share a
real redis-server; a reader leaves one mid-answer and resumes on the other with Last-Event-ID;
a stop request on one instance cancels the producer on the other; Redis restarted mid-stream."""
import contextlib
import os

import httpx
import pytest

from helpers.asgi_server import serve
from resume_util import RedisServer, SSEReader, blocks, openai_text

HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers")


@contextlib.contextmanager
def two_instances(mock, redis):
    env = {"TOKENWIRE_BASE_URL": mock.base, "TOKENWIRE_REDIS_URL": redis.url}
    with serve("resume_app:app", env=env, cwd=HELPERS) as (a, _):
        with serve("resume_app:app", env=env, cwd=HELPERS) as (b, _):
            yield a, b


@pytest.fixture(scope="module")
def redis():
    r = RedisServer()
    yield r
    r.kill()


def read_some(client, url, n):
    """The first n (or more: whole blocks) events of url, then a disconnect."""
    with client.stream("GET", url) as resp:
        assert resp.status_code == 200
        rd, evs = SSEReader(resp), []
        while len(evs) < n:
            got = rd.next_blocks()
            assert got, "the relay ended early"
            evs += blocks(got)
    return evs


def read_all(client, url, **headers):
    with client.stream("GET", url, headers=headers) as resp:
        assert resp.status_code == 200, resp.read()
        return blocks(resp.read())


def test_reconnect_to_other_instance_gets_the_rest_once(mock, redis):
    with two_instances(mock, redis) as (a, b), httpx.Client(timeout=30) as c:
        first = read_some(c, a + "/chat?chunks=60&delay_ms=15&detach=30", 5)
        rest = read_all(c, b + "/resume", **{"last-event-id": first[-1][0]})
    sid = first[0][0].rsplit(":", 1)[0]
    ids = [int(e[0].rsplit(":", 1)[1]) for e in first + rest]
    assert ids == list(range(len(ids)))  # every event once, in order
    assert all(e[0].startswith(sid + ":") for e in rest)
    assert openai_text(first + rest) == mock.expected_text(60)
    assert rest[-1][1] == "[DONE]"


def test_resume_query_param_and_unknown_id(mock, redis):
    with two_instances(mock, redis) as (a, b), httpx.Client(timeout=30) as c:
        evs = read_all(c, a + "/chat?chunks=5&delay_ms=1")
        again = read_all(c, b + "/resume?resume=" + evs[1][0])
        r = c.get(b + "/resume", headers={"last-event-id": "0123456789abcdef:4"})
        bad = c.get(b + "/resume")
    assert again == evs[2:]
    assert r.status_code == 404 and "unknown or expired" in r.json()["detail"]
    assert bad.status_code == 400


def test_stop_from_other_instance_cancels_detached_producer(mock, redis):
    with two_instances(mock, redis) as (a, b), httpx.Client(timeout=30) as c:
        first = read_some(c, a + "/chat?chunks=3000&delay_ms=10&detach=60", 3)
        sid = first[0][0].rsplit(":", 1)[0]
        assert c.post(b + "/stop/" + sid).json() == {"ok": True}
        # The resume ends once the producer on A recorded its end: the stop reached it.
        rest = read_all(c, b + "/resume", **{"last-event-id": first[-1][0]})
    text = openai_text([e for e in first + rest if '"error"' not in e[1]])
    assert mock.expected_text(3000).startswith(text) and len(text) < 3000
    assert "cancel" in rest[-1][1] or "cancel" in rest[-2][1]


def test_redis_restarted_mid_stream(mock):
    """The live reader gets the whole answer; the instance reports the loss once; once Redis is
    back, new streams are teed and resumable again."""
    r = RedisServer()
    try:
        env = {"TOKENWIRE_BASE_URL": mock.base, "TOKENWIRE_REDIS_URL": r.url}
        with serve("resume_app:app", env=env, cwd=HELPERS) as (a, _), \
                httpx.Client(timeout=30) as c:
            with c.stream("GET", a + "/chat?chunks=80&delay_ms=15") as resp:
                rd = SSEReader(resp)
                evs = blocks(rd.next_blocks())
                r.kill()
                r.start()  # same port, empty
                while True:
                    got = rd.next_blocks()
                    if not got:
                        break
                    evs += blocks(got)
            sid = evs[0][0].rsplit(":", 1)[0]
            notices = c.get(a + "/notices").json()
            lost = [n for n in notices["notices"] if n[0] == "lost" and n[1] == sid]
            # A stream after the restart is teed again.
            evs2 = read_all(c, a + "/chat?chunks=4&delay_ms=1")
            again = read_all(c, a + "/resume?resume=" + evs2[0][0])
    finally:
        r.kill()
    assert openai_text(evs) == mock.expected_text(80)
    assert len(lost) == 1, notices
    assert again == evs2[1:]


@contextlib.contextmanager
def serve_argv(argv, env):
    """A server command on a socket this test binds first (uvicorn --fd / gunicorn fd://)."""
    import socket
    import subprocess
    import sys

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    fd = sock.fileno()
    argv = [a.replace("FD", str(fd)) for a in argv]
    proc = subprocess.Popen([sys.executable, "-m"] + argv, cwd=HELPERS, pass_fds=(fd,),
                            env=dict(os.environ, **env))
    base = "http://127.0.0.1:%d" % sock.getsockname()[1]
    sock.close()
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.parametrize("server", ["uvicorn-workers", "gunicorn", "gunicorn-preload"])
def test_process_models(mock, redis, server):
    """Every worker tees and resumes: uvicorn --workers 2, gunicorn with UvicornWorker with and
    without --preload (with require=1 the tee is made in the preloading master, before the
    fork: each worker must start its own)."""
    env = {"TOKENWIRE_BASE_URL": mock.base, "TOKENWIRE_REDIS_URL": redis.url,
           "TOKENWIRE_REQUIRE": "1"}
    argv = (["uvicorn", "resume_app:app", "--fd", "FD", "--workers", "2", "--log-level",
             "warning"] if server == "uvicorn-workers" else
            ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "-b", "fd://FD",
             "--log-level", "warning"] + (["--preload"] if server.endswith("preload") else [])
            + ["resume_app:app"])
    with serve_argv(argv, env) as base, httpx.Client(timeout=30) as c:
        for _ in range(6):  # the kernel spreads the connections over the workers
            first = read_some(c, base + "/chat?chunks=20&delay_ms=5&detach=30", 2)
            rest = read_all(c, base + "/resume", **{"last-event-id": first[-1][0]})
            assert openai_text(first + rest) == mock.expected_text(20)
