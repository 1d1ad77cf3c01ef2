"""Bulk benchmark: N OpenAI chat.completion.chunk events from the mock over loopback, consumed
by user code, CPU per chunk. tokenwire (async for / text() / batches() / stream_sync) beside the
official openai SDK and httpx + httpx-sse + json.loads, all in one run.

    python benchmarks/python/bench_bulk.py [--chunks 200000] [--repeat 3] [--json out.json]

The mock runs in a separate process (`python -m tokenwire mock`), so the CPU measured here is
only the client's: "cpu" is the whole process (tokenwire's engine I/O thread included),
"main" is the thread running the loop and user code. Best of --repeat runs.
The "queued" rows let the whole response land in the engine's queue first and then time only
the reading: the binding's own cost per event, without loop wakeups.
"""
import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time

import tokenwire as tw

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def start_mock():
    p = subprocess.Popen([sys.executable, "-m", "tokenwire", "mock", "--host", "127.0.0.1",
                          "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    line = p.stdout.readline()
    m = re.search(r"http://[\d.]+:(\d+)", line)
    if not m:
        p.kill()
        raise SystemExit("mock did not start: %r" % line)
    return p, int(m.group(1))


class Meter:
    def __enter__(self):
        self.w, self.c, self.t = time.perf_counter(), time.process_time(), time.thread_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w
        self.cpu = time.process_time() - self.c
        self.main = time.thread_time() - self.t


async def tw_events(client, path):
    n = 0
    async with client.stream("POST", path, json=BODY) as s:
        async for ev in s:
            if ev.type == "text":
                n += 1
    return n


async def tw_text(client, path):
    n = 0
    async with client.stream("POST", path, json=BODY) as s:
        async for _t in s.text():
            n += 1
    return n


async def tw_batches(client, path):
    n = 0
    async with client.stream("POST", path, json=BODY) as s:
        async for batch in s.batches():
            for ev in batch:
                if ev.type == "text":
                    n += 1
    return n


async def tw_queued(client, path, mode, chunks, meter_box):
    """Delivery cost alone: the whole response first waits in the engine's queue (high
    watermark above its size), then user code reads it; no loop wakeups are involved."""
    s = client.stream("POST", path, json=BODY)
    await s.__anext__()
    while client.stats()["active_streams"]:
        await asyncio.sleep(0.02)
    n = 0
    with Meter() as m:
        if mode == "events":
            async for ev in s:
                if ev.type == "text":
                    n += 1
        elif mode == "text":
            async for _t in s.text():
                n += 1
        else:
            async for batch in s.batches():
                for ev in batch:
                    if ev.type == "text":
                        n += 1
    meter_box.append(m)
    return n


def tw_sync(client, path):
    n = 0
    with client.stream_sync("POST", path, json=BODY) as s:
        for ev in s:
            if ev.type == "text":
                n += 1
    return n


async def openai_sdk(base, chunks, split):
    import openai

    c = openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
    n = 0
    stream = await c.chat.completions.create(model="gpt-4o-mini", stream=True,
                                             messages=BODY["messages"],
                                             extra_query={"chunks": str(chunks),
                                                          "split": split})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
    await c.close()
    return n


async def httpx_sse_loads(base, path):
    import httpx
    from httpx_sse import aconnect_sse

    n = 0
    async with httpx.AsyncClient(timeout=None) as c:
        async with aconnect_sse(c, "POST", base + path, json=BODY) as es:
            async for sse in es.aiter_sse():
                if sse.data == "[DONE]":
                    break
                d = json.loads(sse.data)
                ch = d.get("choices")
                if ch and ch[0].get("delta", {}).get("content"):
                    n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-chunks", type=int, default=0,
                    help="chunks for the (slow) SDK peers; default = --chunks")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--split", default="event", choices=["event", "coalesce"],
                    help="how the mock cuts its writes: one event per write, or 64")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--only", help="comma-separated subset of case names")
    a = ap.parse_args()
    proc, port = start_mock()
    base = "http://127.0.0.1:%d" % port
    peer_chunks = a.peer_chunks or a.chunks
    path = "/v1/chat/completions?chunks=%d&split=%s" % (a.chunks, a.split)
    peer_path = "/v1/chat/completions?chunks=%d&split=%s" % (peer_chunks, a.split)
    client = tw.Client(base_url=base + "/v1", max_retries=0, timeout=120)
    big = tw.Client(base_url=base + "/v1", max_retries=0, timeout=120, high_watermark=1 << 31)
    box = []
    if a.loop == "uvloop":
        import uvloop

        new_loop = uvloop.new_event_loop
    else:
        new_loop = asyncio.new_event_loop
    cases = [
        ("tokenwire async for ev in s", a.chunks, lambda: tw_events(client, path)),
        ("tokenwire s.text()", a.chunks, lambda: tw_text(client, path)),
        ("tokenwire s.batches()", a.chunks, lambda: tw_batches(client, path)),
        ("tokenwire stream_sync", a.chunks, None),
        ("tokenwire queued: async for ev", a.chunks,
         lambda: tw_queued(big, path, "events", a.chunks, box)),
        ("tokenwire queued: s.text()", a.chunks,
         lambda: tw_queued(big, path, "text", a.chunks, box)),
        ("tokenwire queued: s.batches()", a.chunks,
         lambda: tw_queued(big, path, "batches", a.chunks, box)),
        ("httpx + httpx-sse + json.loads", peer_chunks, lambda: httpx_sse_loads(base, peer_path)),
        ("openai SDK (AsyncOpenAI)", peer_chunks, lambda: openai_sdk(base, peer_chunks, a.split)),
    ]
    only = set(a.only.split(",")) if a.only else None
    results = []
    try:
        for name, chunks, fn in cases:
            if only and not any(o in name for o in only):
                continue
            best = None
            for _ in range(a.repeat):
                loop = new_loop()
                try:
                    with Meter() as m:
                        if fn is None:
                            n = tw_sync(client, path)
                        else:
                            n = loop.run_until_complete(fn())
                finally:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.close()
                if box:  # queued cases measure the reading alone
                    m = box.pop()
                if n != chunks:
                    raise SystemExit("%s: got %d text chunks, expected %d" % (name, n, chunks))
                if best is None or m.cpu < best.cpu:
                    best = m
            results.append({
                "case": name, "chunks": chunks,
                "cpu_us_per_chunk": best.cpu / chunks * 1e6,
                "main_thread_us_per_chunk": best.main / chunks * 1e6,
                "wall_s": best.wall,
                "chunks_per_s": chunks / best.wall,
            })
            r = results[-1]
            print("%-34s %8d chunks  cpu %6.3f us/chunk  main %6.3f us/chunk  %8.0f chunks/s"
                  % (name, chunks, r["cpu_us_per_chunk"], r["main_thread_us_per_chunk"],
                     r["chunks_per_s"]), flush=True)
    finally:
        proc.terminate()
        proc.wait(5)
    base_cpu = {r["case"]: r["cpu_us_per_chunk"] for r in results}
    peer = base_cpu.get("openai SDK (AsyncOpenAI)")
    print()
    print("| case | µs CPU/chunk (process) | µs CPU/chunk (main thread) | chunks/s | vs openai SDK |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        ratio = ("%.0fx" % (peer / r["cpu_us_per_chunk"])) if peer else "-"
        print("| %s | %.3f | %.3f | %.0f | %s |" % (r["case"], r["cpu_us_per_chunk"],
                                                   r["main_thread_us_per_chunk"],
                                                   r["chunks_per_s"], ratio))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"loop": a.loop, "split": a.split, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
