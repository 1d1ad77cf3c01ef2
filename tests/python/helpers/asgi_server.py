"""Runs an ASGI app under a real uvicorn process on 127.0.0.1, on a socket the test binds and
listens on first (uvicorn --fd): a client may connect at once, the kernel queues the connection
until uvicorn accepts it, so nothing waits for a readiness poll."""
import contextlib
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


@contextlib.contextmanager
def serve(app, env=None, cwd=HERE):
    """Yields (http base URL, ws base URL) of uvicorn serving app ("module:attr" in cwd)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--fd", str(fd), "--log-level", "warning"],
        cwd=cwd, env=dict(os.environ, **(env or {})), pass_fds=(fd,))
    sock.close()  # uvicorn holds its own copy
    try:
        yield "http://127.0.0.1:%d" % port, "ws://127.0.0.1:%d" % port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
