"""Downstream readers for the relay workload: N concurrent `POST PATH` requests to a relay
(asking for C chunks both as `chunks=C` in the query and as an `X-Mock-Chunks: C` header, which
the relays pass on to the mock), each read to the end; counts the text chunks relayed (openai-format SSE events with a
non-empty delta.content). Prints one JSON line. Its own CPU is not what is measured: the
orchestrator reads the relay process's CPU from /proc."""
import argparse
import asyncio
import json
import sys
import time

TEXT = b'"content":"'
EMPTY = b'"content":""'


async def reader(port, path, chunks, body):
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    target = "%s%schunks=%d" % (path, "&" if "?" in path else "?", chunks)
    w.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"X-Mock-Chunks: %d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (target.encode(), chunks, len(body)) + body)
    head = await r.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    if status != b"200":
        raise RuntimeError("relay answered " + head.decode(errors="replace").splitlines()[0])
    chunked = b"transfer-encoding: chunked" in head.lower()
    n = 0
    tail = b""
    if chunked:
        while True:
            line = await r.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            data = tail + await r.readexactly(size)
            await r.readexactly(2)
            # keep an incomplete last event for the next piece
            cut = data.rfind(b"\n\n") + 2
            whole, tail = data[:cut], data[cut:]
            n += whole.count(TEXT) - whole.count(EMPTY)
    else:
        while True:
            data = await r.read(1 << 16)
            if not data:
                break
            data = tail + data
            cut = data.rfind(b"\n\n") + 2
            whole, tail = data[:cut], data[cut:]
            n += whole.count(TEXT) - whole.count(EMPTY)
    n += tail.count(TEXT) - tail.count(EMPTY)
    w.close()
    return n


async def main_async(a):
    body = json.dumps({"messages": [{"role": "user", "content": "Tell me a long story."}]}).encode()
    t0 = time.perf_counter()
    try:
        res = await asyncio.wait_for(asyncio.gather(
            *(reader(a.port, a.path, a.chunks, body) for _ in range(a.readers)),
            return_exceptions=True), a.timeout)
    except asyncio.TimeoutError:
        return {"ok": False, "chunks": 0, "error": "the readers did not finish in %g s" % a.timeout}
    wall = time.perf_counter() - t0
    errs = [r for r in res if isinstance(r, BaseException)]
    out = {"chunks": sum(r for r in res if not isinstance(r, BaseException)), "wall_s": wall,
           "ok": not errs}
    if errs:
        out["error"] = "%d readers failed: %r" % (len(errs), errs[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/chat?format=openai")
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole load")
    a = ap.parse_args()
    out = asyncio.run(main_async(a))
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
