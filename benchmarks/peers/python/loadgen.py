"""Downstream readers for the relay workload: N concurrent `POST PATH` requests to a relay
(asking for C chunks, and D ms between them, both in the query and as X-Mock-Chunks /
X-Mock-Delay-Ms headers, which the relays pass on to the mock), each read to the end. Every
event's JSON is parsed: the text of an OpenAI chat.completion.chunk (choices[0].delta.content)
or of an AI SDK UI message `text-delta`; each reader's assembled text must hash (SHA-256) to
--expect-sha, the mock's expected text, so a relay that drops, reorders or mangles a token
fails. Prints one JSON line. Its own CPU is not what is measured: the orchestrator reads the
relay process's CPU from /proc."""
import argparse
import asyncio
import hashlib
import json
import sys
import time

import orjson


def texts(events, out):
    """Appends the text deltas of complete SSE events (bytes ending in a blank line)."""
    n = 0
    for line in events.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if not data.startswith(b"{"):
            continue
        d = orjson.loads(data)
        t = None
        if "choices" in d:
            ch = d["choices"]
            t = ch[0].get("delta", {}).get("content") if ch else None
        elif d.get("type") == "text-delta":
            t = d.get("delta")
        if t:
            out.append(t)
            n += 1
    return n


async def reader(port, path, chunks, delay_ms, body, start_at):
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    target = "%s%schunks=%d" % (path, "&" if "?" in path else "?", chunks)
    if delay_ms:
        target += "&delay_ms=%g" % delay_ms
    w.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"X-Mock-Chunks: %d\r\nX-Mock-Delay-Ms: %g\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n"
            % (target.encode(), chunks, delay_ms, len(body)) + body)
    head = await r.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    if status != b"200":
        raise RuntimeError("relay answered " + head.decode(errors="replace").splitlines()[0])
    chunked = b"transfer-encoding: chunked" in head.lower()
    n = 0
    parts = []
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
            cut = data.rfind(b"\n\n") + 2  # 1 when the piece holds no event end yet
            whole, tail = (data[:cut], data[cut:]) if cut > 1 else (b"", data)
            n += texts(whole, parts)
    else:
        while True:
            data = await r.read(1 << 16)
            if not data:
                break
            data = tail + data
            cut = data.rfind(b"\n\n") + 2  # 1 when the piece holds no event end yet
            whole, tail = (data[:cut], data[cut:]) if cut > 1 else (b"", data)
            n += texts(whole, parts)
    n += texts(tail, parts)
    w.close()
    return n, hashlib.sha256("".join(parts).encode()).hexdigest()


async def main_async(a):
    body = json.dumps({"messages": [{"role": "user", "content": "Tell me a long story."}]}).encode()
    t0 = time.perf_counter()
    # Paced readers start spread over one chunk interval (at most 1,000 per second), as the
    # fan-in cells do, so that the relay is not judged on a burst of connects.
    ramp = max(a.delay_ms / 1000.0, a.readers / 1000.0) if a.delay_ms else 0.0
    m0 = time.monotonic()
    try:
        res = await asyncio.wait_for(asyncio.gather(
            *(reader(a.port, a.path, a.chunks, a.delay_ms, body, m0 + i * ramp / a.readers)
              for i in range(a.readers)), return_exceptions=True), a.timeout)
    except asyncio.TimeoutError:
        return {"ok": False, "chunks": 0, "error": "the readers did not finish in %g s" % a.timeout}
    wall = time.perf_counter() - t0
    errs = [r for r in res if isinstance(r, BaseException)]
    good = [r for r in res if not isinstance(r, BaseException)]
    bad_text = [h for _, h in good if a.expect_sha and h != a.expect_sha]
    out = {"chunks": sum(n for n, _ in good), "wall_s": wall, "ok": not errs and not bad_text,
           "text_ok": not bad_text}
    if errs:
        out["error"] = "%d readers failed: %r" % (len(errs), errs[0])
    elif bad_text:
        out["error"] = "%d readers assembled a text other than the mock's (sha %s...)" % (
            len(bad_text), bad_text[0][:12])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/chat?format=openai")
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--delay-ms", type=float, default=0.0, help="the mock's delay per chunk")
    ap.add_argument("--expect-sha", default="", help="SHA-256 of the expected text per reader")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole load")
    a = ap.parse_args()
    out = asyncio.run(main_async(a))
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
