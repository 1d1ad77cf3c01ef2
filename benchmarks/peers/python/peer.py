"""One benchmark peer run: python peer.py IMPL --workload W [options] -> one JSON line on stdout.

The orchestrator (benchmarks/bench.py) starts this as its own process, pinned to the client
core, so the CPU figures below are this process's own (getrusage RUSAGE_SELF: every thread,
including a library's I/O thread). Only the measured section is counted: imports, client
construction and one short warm-up stream happen before the first reading.

IMPL is a module of this folder (py_openai, py_anthropic, py_httpx_sse, py_aiohttp,
py_tokenwire, py_litellm, py_sync) plus an optional variant after a colon (py_httpx_sse:orjson,
py_tokenwire:text, py_sync:openai). A module with SYNC = True is driven without an event loop.

Every peer exposes `visit(q, fn)`: one request, fn(text) for every text delta, returns the
count. Bulk collects the deltas with list.append and reports the SHA-256 of the assembled text
(hashed after the measured section); bench.py compares it with the mock's expected text.
--ca FILE (TLS, the bench's local CA) and --http2 configure every peer through common.py.
"""
import argparse
import asyncio
import hashlib
import importlib
import json
import os
import resource
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402


def cpu_now():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def now_us():
    return time.time_ns() // 1000


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def barrier():
    """When bench.py runs peers side by side (BENCH_BARRIER=port), every peer reports ready
    after its warm-up and waits for the go, so that no peer's start-up (imports, warm-up)
    overlaps another's measured section."""
    port = os.environ.get("BENCH_BARRIER")
    if not port:
        return
    with socket.create_connection(("127.0.0.1", int(port)), timeout=600) as s:
        s.sendall(b"ready\n")
        s.recv(16)


def parse_query(s):
    q = {}
    for part in (s or "").split("&"):
        if part:
            k, _, v = part.partition("=")
            q[k] = v
    return q


def text_result(parts):
    text = "".join(parts)
    return {"chars": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


async def bulk(peer, a):
    q = dict(parse_query(a.query), chunks=str(a.chunks))
    await peer.visit(dict(parse_query(a.query), chunks="5"), len)  # warm-up: connection, init
    parts = []
    c0, w0 = cpu_now(), time.perf_counter()
    n = await peer.visit(q, parts.append)
    w1, c1 = time.perf_counter(), cpu_now()
    return dict(text_result(parts), chunks=n, cpu_s=c1 - c0, wall_s=w1 - w0, expected=a.chunks)


def bulk_sync(peer, a):
    q = dict(parse_query(a.query), chunks=str(a.chunks))
    peer.visit(dict(parse_query(a.query), chunks="5"), len)
    parts = []
    c0, w0 = cpu_now(), time.perf_counter()
    n = peer.visit(q, parts.append)
    w1, c1 = time.perf_counter(), cpu_now()
    return dict(text_result(parts), chunks=n, cpu_s=c1 - c0, wall_s=w1 - w0, expected=a.chunks)


def paced_sync(peer, a):
    """One paced stream (the fan-in workload with --streams 1) on a sync client."""
    if a.streams != 1:
        raise ValueError("a sync client runs one stream at a time (--streams 1)")
    per_stream = int(round(a.rate * a.duration))
    q = dict(parse_query(a.query), chunks=str(per_stream), delay_ms="%g" % (1000.0 / a.rate),
             timestamp="1")
    peer.visit(dict(parse_query(a.query), chunks="5"), len)
    barrier()
    lat = []
    rss0 = rss_bytes()
    c0, w0 = cpu_now(), time.perf_counter()
    n = peer.visit(q, lambda t: lat.append(now_us() - int(t)))
    w1, c1 = time.perf_counter(), cpu_now()
    lat.sort()
    return {"chunks": n, "expected": per_stream, "cpu_s": c1 - c0, "wall_s": w1 - w0,
            "cpu_util": (c1 - c0) / (w1 - w0), "lat_p50_us": pct(lat, 50),
            "lat_p99_us": pct(lat, 99), "lat_max_us": lat[-1] if lat else None,
            "rss_base": rss0, "rss_max": rss_bytes(), "rss_per_stream": rss_bytes() - rss0,
            "saturated": False}


def ttft_sync(peer_mod, a, variant):
    q = dict(parse_query(a.query), chunks=str(a.chunks))
    t0 = time.perf_counter()
    peer = peer_mod.Peer(a.base, a.dialect, 1, variant)
    tf, n = peer.first(q)
    cold = tf - t0
    ts, total = [], n
    c0, w0 = cpu_now(), time.perf_counter()
    for _ in range(a.requests):
        t0 = time.perf_counter()
        tf, n = peer.first(q)
        ts.append(tf - t0)
        total += n
    w1, c1 = time.perf_counter(), cpu_now()
    parts = []
    peer.visit(q, parts.append)  # one more request, its text checked (outside the timing)
    peer.close()
    ts.sort()
    return dict(text_result(parts), chunks=total, expected=a.chunks * (a.requests + 1),
                cold_ms=cold * 1e3, ttft_p50_ms=pct(ts, 50) * 1e3,
                ttft_p99_ms=pct(ts, 99) * 1e3, cpu_s=c1 - c0, wall_s=w1 - w0,
                cpu_per_req_us=(c1 - c0) / a.requests * 1e6)


async def fanin(peer, a):
    per_stream = int(round(a.rate * a.duration))
    q = dict(parse_query(a.query), chunks=str(per_stream), delay_ms="%g" % (1000.0 / a.rate),
             timestamp="1")
    await peer.visit(dict(parse_query(a.query), chunks="5"), len)
    barrier()
    lat = []
    append = lat.append

    def visit(t):
        append(now_us() - int(t))

    rss0 = rss_bytes()
    rss_max = [rss0]
    stop = asyncio.Event()

    async def sampler():
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
            rss_max[0] = max(rss_max[0], rss_bytes())

    # Starts are spread over one chunk interval so the streams' ticks are not in lock-step, and
    # at most 1,000 per second so that no client is judged on how fast a burst of 5,000
    # connects gets through the listen queue.
    ramp = max(1.0 / a.rate, a.streams / 1000.0)

    async def one(i):
        await asyncio.sleep(i * ramp / a.streams)
        return await peer.visit(q, visit)

    samp = asyncio.ensure_future(sampler())
    c0, w0 = cpu_now(), time.perf_counter()
    tasks = [asyncio.ensure_future(one(i)) for i in range(a.streams)]
    # A client that cannot keep up would take many times the planned duration: stop it at a
    # deadline and report it as saturated, with what it delivered by then.
    done, pending = await asyncio.wait(tasks, timeout=ramp + a.duration + max(5.0, a.duration / 4))
    w1, c1 = time.perf_counter(), cpu_now()
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    stop.set()
    await samp
    errors = [t.exception() for t in done if t.exception() is not None]
    n = len(lat)
    lat.sort()
    out = {"chunks": n, "expected": per_stream * a.streams, "cpu_s": c1 - c0, "wall_s": w1 - w0,
           "cpu_util": (c1 - c0) / (w1 - w0), "lat_p50_us": pct(lat, 50),
           "lat_p99_us": pct(lat, 99), "lat_max_us": lat[-1] if lat else None,
           "rss_base": rss0, "rss_max": rss_max[0],
           "rss_per_stream": (rss_max[0] - rss0) / a.streams, "saturated": bool(pending)}
    if errors:
        out["errors"] = len(errors)
        out["first_error"] = repr(errors[0])
    return out


async def ttft(peer_mod, a, variant):
    q = dict(parse_query(a.query), chunks=str(a.chunks))
    t0 = time.perf_counter()
    peer = peer_mod.Peer(a.base, a.dialect, 1, variant)
    tf, n = await peer.first(q)
    cold = tf - t0
    ts = []
    total = n
    c0, w0 = cpu_now(), time.perf_counter()
    for _ in range(a.requests):
        t0 = time.perf_counter()
        tf, n = await peer.first(q)
        ts.append(tf - t0)
        total += n
    w1, c1 = time.perf_counter(), cpu_now()
    parts = []
    await peer.visit(q, parts.append)  # one more request, its text checked (outside the timing)
    await peer.aclose()
    ts.sort()
    return peer, dict(text_result(parts), chunks=total, expected=a.chunks * (a.requests + 1),
                      cold_ms=cold * 1e3, ttft_p50_ms=pct(ts, 50) * 1e3,
                      ttft_p99_ms=pct(ts, 99) * 1e3, cpu_s=c1 - c0, wall_s=w1 - w0,
                      cpu_per_req_us=(c1 - c0) / a.requests * 1e6)


async def main_async(a):
    name, _, variant = a.impl.partition(":")
    mod = importlib.import_module(name)
    if a.workload == "ttft":
        _, out = await ttft(mod, a, variant)
        return out
    peer = mod.Peer(a.base, a.dialect, a.streams if a.workload == "fanin" else 1, variant)
    try:
        if a.workload == "bulk":
            return await bulk(peer, a)
        return await fanin(peer, a)
    finally:
        await peer.aclose()


def main_sync(mod, a, variant):
    if a.workload == "ttft":
        return ttft_sync(mod, a, variant)
    peer = mod.Peer(a.base, a.dialect, 1, variant)
    try:
        return bulk_sync(peer, a) if a.workload == "bulk" else paced_sync(peer, a)
    finally:
        peer.close()


def versions(impl):
    name = impl.split(":")[0]
    mod = importlib.import_module(name)
    v = {"python": sys.version.split()[0]}
    for dist in getattr(mod, "DISTS", ()):
        try:
            from importlib.metadata import version
            v[dist] = version(dist)
        except Exception as e:  # a missing distribution is reported, not hidden
            v[dist] = "missing (%s)" % type(e).__name__
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("impl")
    ap.add_argument("--workload", choices=("bulk", "fanin", "ttft", "versions"), required=True)
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--base", default="http://127.0.0.1:8080")
    ap.add_argument("--dialect", choices=("openai", "anthropic"), default="openai")
    ap.add_argument("--query", default="")
    ap.add_argument("--chunks", type=int, default=200000)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--ca", default="", help="TLS: the CA file to trust (the bench's local CA)")
    ap.add_argument("--http2", action="store_true", help="negotiate HTTP/2 where the peer can")
    a = ap.parse_args()
    common.CA, common.HTTP2 = a.ca or None, a.http2
    out = {"impl": a.impl, "loop": a.loop, "workload": a.workload}
    try:
        if a.workload == "versions":
            out["versions"] = versions(a.impl)
        elif getattr(importlib.import_module(a.impl.partition(":")[0]), "SYNC", False):
            name, _, variant = a.impl.partition(":")
            out["loop"] = "sync"
            out.update(main_sync(importlib.import_module(name), a, variant))
            out["versions"] = versions(a.impl)
        else:
            if a.loop == "uvloop":
                import uvloop
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
                    out.update(r.run(main_async(a)))
            else:
                out.update(asyncio.run(main_async(a)))
            out["versions"] = versions(a.impl)
        out["ok"] = "errors" not in out
    except BaseException as e:  # reported to the orchestrator as a failed cell
        out["ok"] = False
        out["error"] = "%s: %s" % (type(e).__name__, e)
        traceback.print_exc(file=sys.stderr)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
