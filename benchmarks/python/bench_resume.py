"""Resumable relays (issue 15): CPU per relayed event with the Redis tee vs without, resume
latency (resume_stream called -> first replayed byte), Redis memory per finished stream.

The mock LLM runs as a separate process (python -m tokenwire mock), redis-server too; this
process relays --streams paced streams at once with sse_response bodies (what a FastAPI worker
runs per request, minus the HTTP server), once without and once with tee=, alternating
--repeat times; the CPU is the whole process's (engine I/O thread and tee writer included).

    out/pyvenv/bin/python benchmarks/python/bench_resume.py --streams 500 --chunks 50
"""
import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time

import tokenwire as tw
from tokenwire.fastapi import sse_response
from tokenwire.resume import RedisTee, resume_stream

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, ready):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        if ready in line:
            return p
    raise RuntimeError("%s did not start" % argv[0])


def redis_cmd(port, *args):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(("*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
        data = b""
        while not data.endswith(b"\r\n") or data.startswith(b"$") and data.count(b"\r\n") < 2:
            data += s.recv(65536)
        return data.decode()


def used_memory(port):
    info = redis_cmd(port, "INFO", "memory")
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError(info)


async def relay_many(base, n, chunks, delay_ms, tee):
    c = tw.Client(base_url=base, max_retries=0)
    params = {"chunks": str(chunks), "delay_ms": str(delay_ms)}
    resps = [sse_response(c.stream("POST", "/v1/chat/completions", json=BODY, params=params),
                          heartbeat=None, tee=tee, event_ids=True) for _ in range(n)]

    async def drain(r):
        k = 0
        async for chunk in r.body_iterator:
            k += 1
        return r.next_event_seq

    t0, w0 = time.process_time(), time.monotonic()
    events = sum(await asyncio.gather(*(drain(r) for r in resps)))
    return time.process_time() - t0, time.monotonic() - w0, events, [r.stream_id for r in resps]


async def resume_latency(tee, ids, chunks):
    lat = []
    for sid in ids:
        t0 = time.perf_counter()
        body = await resume_stream(tee, "%s:%d" % (sid, random.randrange(chunks - 1)))
        await body.__anext__()
        lat.append((time.perf_counter() - t0) * 1000)
        await body.aclose()
    return lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--chunks", type=int, default=50)
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    mport, rport = free_port(), free_port()
    mock = subprocess.Popen([sys.executable, "-m", "tokenwire", "mock", "--port", str(mport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = start(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no"], "Ready to accept")
    redis.stdout.close()
    base = "http://127.0.0.1:%d" % mport
    try:
        for _ in range(200):  # the mock's port accepting is the readiness signal
            try:
                socket.create_connection(("127.0.0.1", mport)).close()
                break
            except OSError:
                time.sleep(0.05)

        async def run():
            tee = RedisTee("redis://127.0.0.1:%d/0" % rport, prefix="bench:")
            rows = {"no tee": [], "tee": []}
            ids = []
            await relay_many(base, 20, 5, 0, tee)  # warm up (and connect)
            tee.flush(5)
            mem0 = used_memory(rport)
            for i in range(a.repeat):
                for name in ("no tee", "tee"):
                    cpu, wall, ev, sids = await relay_many(
                        base, a.streams, a.chunks, a.delay_ms, tee if name == "tee" else None)
                    rows[name].append(cpu / ev * 1e6)
                    if name == "tee" and i == 0:
                        ids = sids
                        tee.flush(10)
                        mem1 = used_memory(rport)
            lat = await resume_latency(tee, ids[:300], a.chunks)
            st = tee.stats()
            tee.close()
            return rows, lat, (mem1 - mem0) / a.streams, st

        rows, lat, mem, st = asyncio.run(run())
    finally:
        mock.kill()
        redis.kill()
    best = {k: min(v) for k, v in rows.items()}
    print("%d streams x %d events at %d ms (+ finish), best of %d:"
          % (a.streams, a.chunks, a.delay_ms, a.repeat))
    for k, v in best.items():
        print("  %-7s %6.2f us CPU/event  (runs: %s)" % (k, v, ", ".join("%.2f" % x for x in
                                                                            rows[k])))
    print("  ratio   %.3f" % (best["tee"] / best["no tee"]))
    lat.sort()
    print("resume latency (call -> first replayed byte), %d resumes: p50 %.2f ms, p99 %.2f ms"
          % (len(lat), statistics.median(lat), lat[int(len(lat) * 0.99) - 1]))
    print("Redis memory per finished stream (%d events, ~%d bytes of SSE each): %.0f bytes"
          % (a.chunks + 2, 200, mem))
    print("tee stats:", st)


if __name__ == "__main__":
    main()
