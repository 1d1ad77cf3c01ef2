"""A relay of two phases with app events, in an app's own NDJSON vocabulary: server CPU per
relayed token, tokenwire (fastapi.Relay + tokenwire.Format, phases encoded in C) beside the
built-in single-stream relay of as many tokens (sse_response, same Format) and the same
two-phase relay written with the openai SDK + json.dumps per token. The app (phases_app.py)
runs under uvicorn, the mock in this process, the client reads with httpx; CPU is the uvicorn
process's (psutil), best of --repeat runs.

    python benchmarks/python/bench_phases.py [--chunks 20000] [--sdk-chunks 5000] [--repeat 3]
        [--delay-ms 1]
"""
import argparse
import json
import os
import socket
import subprocess
import sys

import httpx
import psutil

from tokenwire import _tools  # the mock server and its expected text

HERE = os.path.dirname(os.path.abspath(__file__))


def run_once(h, server, url, chunks, delay_ms):
    """(server CPU us per token, tokens) of one relay; checks the text arrived whole."""
    c0 = server.cpu_times()
    n, parts, last = 0, [], None
    with h.stream("GET", url, params={"chunks": str(chunks), "delay_ms": str(delay_ms)}) as r:
        for line in r.iter_lines():
            o = json.loads(line)
            if o["type"] == "chat":
                n += 1
                parts.append(o["content"])
            last = o
    c1 = server.cpu_times()
    half = chunks // 2
    want = ((_tools.expected_text(half) + _tools.expected_text(chunks - half))
            if "single" not in url else _tools.expected_text(chunks))
    assert n == chunks and "".join(parts) == want, (url, n)
    assert last["type"] in ("done", "chat"), last
    return ((c1.user - c0.user) + (c1.system - c0.system)) / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--sdk-chunks", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="pace the mock's tokens (one per wakeup) instead of bulk")
    args = ap.parse_args()
    mock = _tools.Mock(host="127.0.0.1", port=0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    env = dict(os.environ, TOKENWIRE_BASE_URL="http://127.0.0.1:%d" % mock.port)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "phases_app:app", "--fd",
                             str(sock.fileno()), "--log-level", "warning"], cwd=HERE, env=env,
                            pass_fds=(sock.fileno(),))
    sock.close()
    base = "http://127.0.0.1:%d" % port
    try:
        with httpx.Client(timeout=120) as h:
            server = psutil.Process(h.get(base + "/pid").json()["pid"])
            rows = {}
            for path, n in (("tw_phases", args.chunks), ("tw_single", args.chunks),
                            ("sdk", args.sdk_chunks), ("floor", args.chunks)):
                rows[path] = min(run_once(h, server, base + "/" + path, n, args.delay_ms)
                                 for _ in range(args.repeat))
        for path, us in rows.items():
            print("%-10s %7.2f us of server CPU per token  (%.2fx tw_phases)"
                  % (path, us, us / rows["tw_phases"]))
    finally:
        proc.terminate()
        proc.wait()
        mock.stop()


if __name__ == "__main__":
    main()
