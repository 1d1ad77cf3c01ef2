"""WebSocket relay in an app's own vocabulary: server CPU per relayed token, tokenwire
(websocket_relay + tokenwire.Format, encoded in C) beside the same relay written with
json.dumps per token (tokenwire upstream, and the openai SDK upstream). The app
(ws_relay_app.py) runs under uvicorn, the mock in this process, the client reads with the
`websockets` client; CPU is the uvicorn process's (psutil), best of --repeat runs.

    python benchmarks/python/bench_ws_relay.py [--chunks 20000] [--repeat 3]
"""
import argparse
import json
import os
import socket
import subprocess
import sys

import httpx
import psutil
from websockets.sync.client import connect

from tokenwire import _tools

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    mock = _tools.Mock(host="127.0.0.1", port=0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    env = dict(os.environ, TOKENWIRE_BASE_URL="http://127.0.0.1:%d" % mock.port)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "ws_relay_app:app", "--fd",
                             str(sock.fileno()), "--log-level", "warning"], cwd=HERE, env=env,
                            pass_fds=(sock.fileno(),))
    sock.close()
    try:
        with httpx.Client(timeout=60) as h:
            server = psutil.Process(h.get("http://127.0.0.1:%d/pid" % port).json()["pid"])
        want = _tools.expected_text(args.chunks)
        rows = {}
        for path in ("tw", "tw_ndjson", "tw_dumps", "sdk"):
            best = None
            for _ in range(args.repeat):
                c0 = server.cpu_times()
                with connect("ws://127.0.0.1:%d/%s" % (port, path), max_size=None) as ws:
                    ws.send(json.dumps({"chunks": args.chunks}))
                    n, parts = 0, []
                    for m in ws:
                        o = json.loads(m)
                        if o["type"] in ("agent_processing_update", "text"):
                            n += 1
                            parts.append(o.get("chunk", o.get("text")))
                    text = "".join(parts)
                c1 = server.cpu_times()
                assert n == args.chunks and text == want, (path, n)
                us = ((c1.user - c0.user) + (c1.system - c0.system)) / n * 1e6
                best = us if best is None else min(best, us)
            rows[path] = best
        for path, us in rows.items():
            print("%-9s %7.2f us of server CPU per token  (%.1fx tokenwire)"
                  % (path, us, us / rows["tw"]))
    finally:
        proc.terminate()
        proc.wait()
        mock.stop()


if __name__ == "__main__":
    main()
