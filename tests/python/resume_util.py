"""Shared parts of the resume tests: a real redis-server on a free 127.0.0.1 port (started and
awaited through its readiness line), and an SSE block reader for relayed bytes."""
import json
import os
import socket
import subprocess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server (Debian package, scripts/ensure-deps.sh) on 127.0.0.1, no persistence."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "notice"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:  # the readiness line is the signal
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start on port %d" % self.port)
        # Later log lines must not fill a pipe nobody reads.
        self.proc.stdout.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def command(self, *args):
        """One command with the RESP protocol (no client library needed); the reply parsed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            req = "*%d\r\n" % len(args) + "".join(
                "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args)
            s.sendall(req.encode())
            f = s.makefile("rb")
            return _resp(f)


def _resp(f):
    line = f.readline().rstrip(b"\r\n")
    t, rest = line[:1], line[1:]
    if t in (b"+", b"-"):
        return rest.decode()
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_resp(f) for _ in range(n)]
    raise ValueError(line)


def blocks(data: bytes):
    """SSE blocks of data (each with its blank line), comments dropped: [(id, data)]."""
    out = []
    for b in data.decode().split("\n\n"):
        if not b or b.startswith(":"):
            continue
        eid, lines = None, []
        for ln in b.split("\n"):
            if ln.startswith("id: "):
                eid = ln[4:]
            elif ln.startswith("data: "):
                lines.append(ln[6:])
        out.append((eid, "\n".join(lines)))
    return out


def openai_text(evs):
    """The text of openai chat.completion.chunk events."""
    text = []
    for _, d in evs:
        if d == "[DONE]":
            continue
        j = json.loads(d)
        for c in j.get("choices") or []:
            text.append((c.get("delta") or {}).get("content") or "")
    return "".join(text)


class SSEReader:
    """Reads whole SSE blocks from an httpx streaming response."""

    def __init__(self, resp):
        self.it = resp.iter_raw()
        self.buf = b""

    def next_blocks(self):
        """The next complete blocks (raw bytes up to a blank line); b"" at the end."""
        while True:
            i = self.buf.rfind(b"\n\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                return out
            try:
                self.buf += next(self.it)
            except StopIteration:
                return b""


HERE = os.path.dirname(os.path.abspath(__file__))
