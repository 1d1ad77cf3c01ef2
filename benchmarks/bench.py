#!/usr/bin/env python3
"""tokenwire cross-peer benchmark: `make bench` (full, ~20 min) or `make bench QUICK=1` (smoke).

Starts the built-in mock (`tokenwire mock`) pinned to core 0, runs every peer of every workload
as its own process pinned to core 1 (when the machine has two cores), alternating the peers'
order across repetitions so machine drift hits all alike, and prints one table per workload:
median and spread per peer, and the ratio to the tokenwire peer of the same language.
Raw figures go to benchmarks/results/<stamp>.json, the summary to benchmarks/RESULTS.md.

Every peer prints one JSON line with its own CPU time (getrusage / process.cpuUsage of the
client process, every thread included), wall time and the number of text deltas it delivered
to user code; a run whose count is not the one the mock was asked for is a failed cell.
Exit status: non-zero when any peer failed (the smoke check CI runs).

Run one cell by hand: see benchmarks/README.md.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, "out")
CLI = os.path.join(BUILD, "release", "tokenwire")
VENV_PY = os.path.join(BUILD, "bench", "venv", "bin", "python")
C_PEER = os.path.join(BUILD, "bench", "tw_peer")
PY_DIR = os.path.join(HERE, "peers", "python")
NODE_DIR = os.path.join(HERE, "peers", "node")
RESULTS_DIR = os.path.join(HERE, "results")

MOCK_CORE, CLIENT_CORE = "0", "1"


# ---- peers ------------------------------------------------------------------------------------

class Peer:
    """One client configuration. `scale` shrinks the bulk stream for peers whose per-chunk cost
    would otherwise blow the time budget (the per-chunk figure of a linear client does not
    depend on the stream length; the table shows the chunk count actually used)."""

    def __init__(self, pid, label, lang, argv, workloads, dialects=("openai", "anthropic"),
                 scale=1.0, tw=False, ref=False, group=None, target=None):
        self.id, self.label, self.lang, self.argv = pid, label, lang, argv
        self.workloads, self.dialects, self.scale = set(workloads), set(dialects), scale
        self.tw, self.ref = tw, ref
        self.group = group or lang  # ratios are taken against the reference of the same group
        self.target = target        # name used in the targets section


def py(impl, loop):
    return [VENV_PY, os.path.join(PY_DIR, "peer.py"), impl, "--loop", loop]


def nd(impl):
    return ["node", os.path.join(NODE_DIR, "peer.js"), impl]


def all_peers():
    peers = [
        Peer("c-engine", "tokenwire C engine (floor)", "c", [C_PEER],
             ("bulk", "fanin", "ttft"), tw=True),
        Peer("c-cli", "tokenwire CLI --format text", "c", [VENV_PY, os.path.join(PY_DIR,
             "cli_peer.py"), CLI], ("bulk",), tw=True),
    ]
    for loop in ("asyncio", "uvloop"):
        g = "py-" + loop
        # Every Python peer runs the bulk cells under both loops; the long fan-in and TTFT cells
        # run the peers under uvloop (their best loop) and tokenwire under both.
        more = ("fanin", "ttft") if loop == "uvloop" else ()
        peers += [
            Peer("py-tw-events/" + loop, "tokenwire async for ev (%s)" % loop, "python",
                 py("py_tokenwire", loop), ("bulk", "fanin", "ttft"), tw=True, ref=True,
                 group=g, target="py-tw-events"),
            Peer("py-tw-text/" + loop, "tokenwire s.text() (%s)" % loop, "python",
                 py("py_tokenwire:text", loop), ("bulk",) + more[1:], tw=True,
                 group=g),
            Peer("py-tw-batches/" + loop, "tokenwire s.batches() (%s)" % loop, "python",
                 py("py_tokenwire:batches", loop), ("bulk",), tw=True, group=g,
                 target="py-tw-batches"),
            Peer("py-openai/" + loop, "openai SDK (%s)" % loop, "python", py("py_openai", loop),
                 ("bulk",) + more, dialects=("openai",), scale=0.025, group=g,
                 target="py-openai"),
            Peer("py-anthropic/" + loop, "anthropic SDK create(stream) (%s)" % loop, "python",
                 py("py_anthropic", loop), ("bulk",), dialects=("anthropic",), scale=0.2,
                 group=g, target="py-anthropic"),
            Peer("py-anthropic-helper/" + loop, "anthropic SDK messages.stream (%s)" % loop,
                 "python", py("py_anthropic:helper", loop), ("bulk",), dialects=("anthropic",),
                 scale=0.025, group=g),
            Peer("py-httpx-json/" + loop, "httpx+httpx-sse+json (%s)" % loop, "python",
                 py("py_httpx_sse", loop), ("bulk",) + more[1:], scale=0.2, group=g),
            Peer("py-httpx-orjson/" + loop, "httpx+httpx-sse+orjson (%s)" % loop, "python",
                 py("py_httpx_sse:orjson", loop), ("bulk",) + more, scale=0.2, group=g,
                 target="py-httpx-orjson"),
            Peer("py-aiohttp/" + loop, "aiohttp lines+orjson (%s)" % loop, "python",
                 py("py_aiohttp", loop), ("bulk",) + more, scale=0.5, group=g),
        ]
    peers += [
        Peer("node-tw-emitter", "tokenwire emitter", "node", nd("tokenwire:emitter"),
             ("bulk", "fanin", "ttft"), tw=True, ref=True, target="node-tw"),
        Peer("node-tw-iter", "tokenwire for await", "node", nd("tokenwire:iter"),
             ("bulk", "ttft"), tw=True),
        Peer("node-tw-text", "tokenwire s.text()", "node", nd("tokenwire:text"),
             ("bulk",), tw=True),
        Peer("node-openai", "openai-node", "node", nd("openai"), ("bulk", "fanin", "ttft"),
             dialects=("openai",), scale=0.25, target="node-openai"),
        Peer("node-anthropic", "@anthropic-ai/sdk create(stream)", "node", nd("anthropic"),
             ("bulk",), dialects=("anthropic",), scale=0.25, target="node-anthropic"),
        Peer("node-anthropic-helper", "@anthropic-ai/sdk messages.stream", "node",
             nd("anthropic:helper"), ("bulk",), dialects=("anthropic",), scale=0.25),
        Peer("node-fetch-esp", "fetch+eventsource-parser", "node", nd("fetch_esp"),
             ("bulk", "fanin", "ttft"), scale=0.5, target="node-fetch"),
        Peer("node-undici-esp", "undici.request+eventsource-parser", "node", nd("undici_esp"),
             ("bulk", "fanin", "ttft"), scale=0.5),
    ]
    return peers


# ---- workloads ----------------------------------------------------------------------------------

def make_cells(quick):
    n = 5000 if quick else 200000
    frag = 2000 if quick else 4000  # the mock's 1-7 byte writes cost it ~30x more per chunk
    cells = [
        dict(id="bulk-openai", kind="bulk", dialect="openai", query="", chunks=n,
             title="Bulk, openai dialect, one stream of %d chunks" % n),
        dict(id="bulk-anthropic", kind="bulk", dialect="anthropic", query="", chunks=n,
             title="Bulk, anthropic dialect, one stream of %d chunks" % n),
        dict(id="bulk-openai-fragmented", kind="bulk", dialect="openai", query="split=random",
             chunks=frag, title="Bulk, openai, fragmented writes (split=random, 1-7 bytes), "
                                "%d chunks" % frag),
        dict(id="bulk-openai-coalesced", kind="bulk", dialect="openai",
             query="split=coalesce&coalesce=64", chunks=n,
             title="Bulk, openai, coalesced writes (64 events per write), %d chunks" % n),
        dict(id="fanin-1000x50", kind="fanin", dialect="openai", query="",
             streams=50 if quick else 1000, rate=20 if quick else 50,
             duration=1 if quick else 20),
        dict(id="fanin-5000x10", kind="fanin", dialect="openai", query="",
             streams=250 if quick else 5000, rate=10, duration=1 if quick else 20),
        dict(id="ttft", kind="ttft", dialect="openai", query="", chunks=5,
             requests=30 if quick else 500),
    ]
    for c in cells:
        if c["kind"] == "fanin":
            c["title"] = ("Fan-in, %d concurrent streams at %g chunks/s for %g s (timestamp=1)"
                          % (c["streams"], c["rate"], c["duration"]))
        if c["kind"] == "ttft":
            c["title"] = ("Time to first token, %d sequential %d-chunk requests on a warm client,"
                          " plus the first request of a cold client" % (c["requests"], c["chunks"]))
    if quick:
        cells = [c for c in cells if c["id"] in ("bulk-openai", "bulk-anthropic", "fanin-1000x50",
                                                 "ttft")]
    return cells


def reps_for(cell, quick):
    """Repetitions: three for the headline cell, two for the others, one for the 20 s fan-ins
    (each of their runs already aggregates 20,000-100,000 deliveries)."""
    if quick:
        return 1
    if cell["id"] == "bulk-openai":
        return 3
    if cell["id"] == "bulk-openai-fragmented":
        return 1  # the mock spends ~1 s per run writing 1-7 byte pieces
    return {"bulk": 2, "fanin": 1, "ttft": 2}[cell["kind"]]


# ---- process helpers -----------------------------------------------------------------------------

def pinned(argv, core, ncores):
    if ncores >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", core] + argv
    return argv


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_get(port, path, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path)
                  .encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            size = int(line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return head, body


def wait_port(port, deadline_s, proc=None):
    t_end = time.time() + deadline_s
    while time.time() < t_end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Mock:
    def __init__(self, ncores):
        self.port = free_port()
        argv = pinned([CLI, "mock", "--port", str(self.port), "--quiet"], MOCK_CORE, ncores)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_port(self.port, 15, self.proc):
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() else ""
            self.stop()
            raise RuntimeError("the mock did not start: " + err.strip())
        self.base = "http://127.0.0.1:%d" % self.port

    def stats(self):
        try:
            return json.loads(http_get(self.port, "/_mock/stats")[1])
        except (OSError, ValueError):
            return None

    def wait_idle(self, timeout=10.0):
        """Waits until no stream is active on the mock (the previous peer is fully gone)."""
        t_end = time.time() + timeout
        while time.time() < t_end:
            st = self.stats()
            if st is None or st.get("active", 0) == 0:
                return
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ExternalMock(Mock):
    """A mock someone else started (--mock-url): used as is, never stopped."""

    def __init__(self, url):
        self.base = url.rstrip("/")
        self.port = int(self.base.rsplit(":", 1)[1])
        self.proc = None

    def stop(self):
        pass


def run_json(argv, timeout, env=None):
    """Runs a peer process, returns its JSON line (or a failure record)."""
    t0 = time.time()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        tail = (e.stderr or b"").decode(errors="replace")[-400:]
        return {"ok": False, "error": "timed out after %ds %s" % (timeout, tail.strip())}
    except OSError as e:
        return {"ok": False, "error": "cannot run %s: %s" % (argv[0], e)}
    out = None
    for line in reversed(p.stdout.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                out = json.loads(line)
                break
            except ValueError:
                pass
    if out is None:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        return {"ok": False, "error": "exit %d, no result line: %s" %
                (p.returncode, " | ".join(err[-3:]))}
    if p.returncode != 0 and out.get("ok"):
        out["ok"] = False
        out["error"] = "exit status %d" % p.returncode
    out["proc_wall_s"] = time.time() - t0
    return out


# ---- one cell ----------------------------------------------------------------------------------

def peer_args(peer, cell, base):
    a = ["--workload", cell["kind"], "--base", base, "--dialect", cell["dialect"]]
    if cell["query"]:
        a += ["--query", cell["query"]]
    if cell["kind"] == "bulk":
        a += ["--chunks", str(bulk_chunks(peer, cell))]
    elif cell["kind"] == "fanin":
        a += ["--streams", str(cell["streams"]), "--rate", "%g" % cell["rate"],
              "--duration", "%g" % cell["duration"]]
    elif cell["kind"] == "ttft":
        a += ["--chunks", str(cell["chunks"]), "--requests", str(cell["requests"])]
    return a


def bulk_chunks(peer, cell):
    return max(1000, int(round(cell["chunks"] * peer.scale / 1000.0)) * 1000)


def check(cell, r):
    """Marks a run failed when it did not deliver what the mock sent."""
    if not r.get("ok"):
        return
    exp = r.get("expected")
    if cell["kind"] == "fanin":
        if r.get("chunks") != exp and not r.get("saturated"):
            r["ok"] = False
            r["error"] = "delivered %s of %s chunks" % (r.get("chunks"), exp)
        return
    if r.get("chunks") != exp:
        r["ok"] = False
        r["error"] = "delivered %s text deltas, the mock sent %s" % (r.get("chunks"), exp)


def run_cell(cell, peers, mock, reps, ncores, log, jobs=1):
    """Runs every peer `reps` times, rotating the order each repetition. jobs > 1 (the smoke
    run only) runs that many peers at once, unpinned: its figures are then not comparable."""
    runs = {p.id: [] for p in peers}

    def one(p, rep):
        if jobs == 1:
            mock.wait_idle()
        timeout = cell["duration"] * 3 + 90 if cell["kind"] == "fanin" else 300
        argv = p.argv + peer_args(p, cell, mock.base)
        r = run_json(pinned(argv, CLIENT_CORE, ncores) if jobs == 1 else argv, timeout)
        r["rep"] = rep
        check(cell, r)
        return r

    for rep in range(reps):
        k = rep % len(peers)
        order = peers[k:] + peers[:k]
        if rep % 2 == 1:
            order = order[::-1]
        if jobs == 1:
            results = ((p, one(p, rep)) for p in order)
        else:
            with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
                futs = [(p, ex.submit(one, p, rep)) for p in order]
                results = [(p, f.result()) for p, f in futs]
        for p, r in results:
            runs[p.id].append(r)
            log("  %-44s %s" % (p.label, brief(cell, r)))
    # Every peer must assemble the same text: compare the character counts of the bulk runs.
    if cell["kind"] == "bulk":
        counts = [r["chars"] for rs in runs.values() for r in rs if r.get("ok") and "chars" in r
                  and r["chunks"] == cell["chunks"]]
        if counts:
            want = statistics.mode(counts)
            for pid, rs in runs.items():
                for r in rs:
                    if r.get("ok") and r["chunks"] == cell["chunks"] and r.get("chars") != want:
                        r["ok"] = False
                        r["error"] = "assembled %s characters, the other peers %s" % (
                            r.get("chars"), want)
    return runs


def one_line(text, limit=300):
    return " | ".join(x.strip() for x in str(text).splitlines() if x.strip())[:limit]


def brief(cell, r):
    if not r.get("ok"):
        return "FAILED: " + one_line(r.get("error", "?"))
    if cell["kind"] == "bulk":
        return "%.3f us/chunk cpu, %.0f ms wall, %d chunks" % (
            r["cpu_s"] / r["chunks"] * 1e6, r["wall_s"] * 1e3, r["chunks"])
    if cell["kind"] == "fanin":
        return "cpu %.1f%%, latency p50 %.2f ms p99 %.2f ms max %.1f ms, %.1f KiB/stream%s" % (
            r["cpu_util"] * 100, r["lat_p50_us"] / 1e3, r["lat_p99_us"] / 1e3,
            r["lat_max_us"] / 1e3, r["rss_per_stream"] / 1024,
            " SATURATED" if r.get("saturated") else "")
    if cell["kind"] == "ttft":
        return "warm p50 %.3f ms p99 %.3f ms, cold %.2f ms, %.0f us cpu/request" % (
            r["ttft_p50_ms"], r["ttft_p99_ms"], r["cold_ms"], r["cpu_per_req_us"])
    if cell["kind"] == "relay":
        return "%.2f us/chunk relay cpu, %.0f chunks/s per core" % (
            r["cpu_us_per_chunk"], r["chunks_per_core_s"])
    return json.dumps(r)[:200]


# ---- statistics and tables ---------------------------------------------------------------------

def med_spread(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None
    m = statistics.median(vals)
    if len(vals) < 2 or m == 0:
        return m, None
    return m, (max(vals) - min(vals)) / 2 / abs(m) * 100


def metric(cell, r):
    kind = cell["kind"]
    if kind == "bulk":
        return r["cpu_s"] / r["chunks"] * 1e6
    if kind == "fanin":
        return r["cpu_util"] * 100
    if kind == "ttft":
        return r["ttft_p50_ms"]
    if kind == "relay":
        return r["cpu_us_per_chunk"]
    raise ValueError(kind)


def fmt(v, nd=2):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 100:
        return "%.1f" % v
    return "%.*f" % (nd, v)


def summarize(cell, peers, runs):
    """Rows: per peer the medians of its good runs. Ratios against the group's reference."""
    rows = []
    for p in peers:
        good = [r for r in runs.get(p.id, []) if r.get("ok")]
        bad = [r for r in runs.get(p.id, []) if not r.get("ok")]
        row = {"peer": p.id, "label": p.label, "group": p.group, "tw": p.tw, "ref": p.ref,
               "runs": len(good), "failed": len(bad),
               "error": one_line(bad[0].get("error")) if bad else None}
        if good:
            row["median"], row["spread"] = med_spread([metric(cell, r) for r in good])
            for key in ("wall_s", "chunks", "lat_p50_us", "lat_p99_us", "lat_max_us",
                        "rss_per_stream", "ttft_p99_ms", "cold_ms", "cpu_per_req_us",
                        "chunks_per_core_s", "cpu_util", "delivered"):
                vals = [r[key] for r in good if r.get(key) is not None]
                if vals:
                    row[key] = statistics.median(vals)
            row["saturated"] = any(r.get("saturated") for r in good)
        rows.append(row)
    refs = {r["group"]: r for r in rows if r["ref"] and r.get("median")}
    for r in rows:
        ref = refs.get(r["group"])
        if ref and r.get("median") is not None:
            r["ratio"] = r["median"] / ref["median"]
    return rows


def table_lines(cell, rows, md):
    kind = cell["kind"]
    if kind == "bulk":
        head = ["peer", "chunks", "CPU us/chunk", "spread", "wall ms", "x tokenwire"]
    elif kind == "fanin":
        head = ["peer", "client CPU %", "lat p50 ms", "lat p99 ms", "lat max ms",
                "RSS KiB/stream", "x tokenwire"]
    elif kind == "ttft":
        head = ["peer", "warm p50 ms", "warm p99 ms", "cold ms", "CPU us/request",
                "p50 vs best peer ms"]
    else:
        head = ["relay", "CPU us/chunk", "spread", "chunks/s per core", "x tokenwire"]
    body = []
    for r in rows:
        if r["runs"] == 0:
            body.append([r["label"], "FAILED" if not md else "FAILED: " + str(r["error"])[:120]]
                        + [""] * (len(head) - 2))
            continue
        ratio = "%.1fx" % r["ratio"] if r.get("ratio") is not None else "-"
        sp = "±%.0f%%" % r["spread"] if r.get("spread") is not None else "-"
        if kind == "bulk":
            body.append([r["label"], str(int(r["chunks"])), fmt(r["median"], 3), sp,
                         fmt(r["wall_s"] * 1e3, 0), ratio])
        elif kind == "fanin":
            body.append([r["label"] + (" (saturated)" if r.get("saturated") else ""),
                         fmt(r["median"], 1), fmt(r["lat_p50_us"] / 1e3, 3),
                         fmt(r["lat_p99_us"] / 1e3, 3), fmt(r["lat_max_us"] / 1e3, 1),
                         fmt(r["rss_per_stream"] / 1024, 1), ratio])
        elif kind == "ttft":
            d = r.get("ttft_delta")
            body.append([r["label"], fmt(r["median"], 3), fmt(r["ttft_p99_ms"], 3),
                         fmt(r["cold_ms"], 2), fmt(r["cpu_per_req_us"], 0),
                         ("%+.3f" % d) if d is not None else "-"])
        else:
            body.append([r["label"], fmt(r["median"], 2), sp, fmt(r["chunks_per_core_s"], 0),
                         ratio])
    if md:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return out
    w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    out = ["  ".join(h.ljust(w[i]) for i, h in enumerate(head))]
    out.append("  ".join("-" * x for x in w))
    out += ["  ".join(c.ljust(w[i]) for i, c in enumerate(b)) for b in body]
    return out


# ---- relay workload ----------------------------------------------------------------------------

def relay_defs():
    """The relays: tokenwire's own examples against pure-language relays of the same shape."""
    uvicorn = [VENV_PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}",
               "--log-level", "warning", "--no-access-log", "--workers", "1"]
    return [
        dict(id="relay-py-tokenwire", group="py", tw=True, ref=True,
             label="FastAPI + tokenwire sse_response (examples/fastapi_app.py)",
             argv=uvicorn + ["examples.fastapi_app:app"], cwd=ROOT, path="/chat?format=openai",
             env={"TOKENWIRE_BASE_URL": "{mock}/v1"}, scale=1.0),
        dict(id="relay-py-openai", group="py",
             label="FastAPI + openai SDK + StreamingResponse",
             argv=uvicorn + ["--app-dir", PY_DIR, "relay_openai:app"], cwd=ROOT,
             path="/chat?format=openai", env={"RELAY_UPSTREAM": "{mock}/v1"}, scale=0.02),
        dict(id="relay-node-tokenwire", group="node", tw=True, ref=True,
             label="node:http + tokenwire toReadableStream (examples/node_server.js)",
             argv=["node", os.path.join(ROOT, "examples", "node_server.js")], cwd=ROOT,
             path="/v1/chat/completions", env={"UPSTREAM": "{mock}/v1", "PORT": "{port}"},
             scale=1.0),
        dict(id="relay-node-openai", group="node",
             label="node:http + openai-node + ReadableStream",
             argv=["node", os.path.join(NODE_DIR, "relay_openai.js")], cwd=ROOT,
             path="/v1/chat/completions", env={"RELAY_UPSTREAM": "{mock}/v1", "PORT": "{port}"},
             scale=0.1),
    ]


def proc_cpu(pid):
    """utime + stime of a process (all its threads) from /proc, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def run_relay(rd, cell, mock, ncores):
    port = free_port()

    def sub(x):
        return x.replace("{port}", str(port)).replace("{mock}", mock.base)

    env = dict(os.environ)
    env.update({k: sub(v) for k, v in rd["env"].items()})
    argv = pinned([sub(x) for x in rd["argv"]], CLIENT_CORE, ncores)
    log_path = os.path.join(BUILD, "bench", rd["id"] + ".log")
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(argv, env=env, cwd=rd["cwd"], stdout=logf, stderr=logf)
    try:
        if not wait_port(port, 30, proc):
            with open(log_path, errors="replace") as f:
                err = f.read()
            return {"ok": False, "error": "relay did not start: " + err.strip()[-300:]}
        chunks = max(200, int(cell["chunks"] * rd["scale"]))
        lg = [VENV_PY, os.path.join(PY_DIR, "loadgen.py"), "--port", str(port), "--path",
              rd["path"]]
        warm = run_json(pinned(lg + ["--readers", "2", "--chunks", "50"], MOCK_CORE, ncores),
                        120)
        if not warm.get("ok"):
            return {"ok": False, "error": "warm-up: " + str(warm.get("error"))}
        c0 = proc_cpu(proc.pid)
        r = run_json(pinned(lg + ["--readers", str(cell["readers"]), "--chunks", str(chunks),
                                  "--timeout", str(cell["timeout"])], MOCK_CORE, ncores),
                     cell["timeout"] + 30)
        if proc.poll() is not None:
            with open(log_path, errors="replace") as f:
                err = f.read()
            return {"ok": False, "error": "the relay exited (%s): %s" % (proc.returncode,
                                                                        one_line(err[-400:]))}
        c1 = proc_cpu(proc.pid)
        if not r.get("ok"):
            return r
        r["expected"] = chunks * cell["readers"]
        r["relay_cpu_s"] = c1 - c0
        if r["chunks"] != r["expected"]:
            return {"ok": False, "error": "readers got %s chunks of %s" % (r["chunks"],
                                                                           r["expected"])}
        r["cpu_us_per_chunk"] = (c1 - c0) / r["chunks"] * 1e6
        r["chunks_per_core_s"] = r["chunks"] / max(c1 - c0, 1e-9)
        return r
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class RelayPeer:
    def __init__(self, d):
        self.id, self.label, self.tw = d["id"], d["label"], d.get("tw", False)
        self.ref, self.group = d.get("ref", False), d["group"]


# ---- machine and versions ------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def collect_versions(results):
    """Versions reported by the peers themselves in their result lines, plus the CLI's."""
    v = {}
    try:
        v["tokenwire CLI"] = subprocess.run([CLI, "version"], capture_output=True,
                                            text=True).stdout.strip()
    except OSError as e:
        v["tokenwire CLI"] = "missing (%s)" % e
    code = ("import json, importlib.metadata as m\n"
            "print(json.dumps({d: m.version(d) for d in ('fastapi', 'uvicorn', 'uvloop', "
            "'httptools', 'starlette')}))")
    try:
        extra = json.loads(subprocess.run([VENV_PY, "-c", code], capture_output=True,
                                          text=True, timeout=60).stdout)
        v.update({"PyPI " + k: val for k, val in extra.items()})
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        v["PyPI relay stack"] = "unknown (%s)" % e
    for c in results["cells"].values():
        for runs in c["runs"].values():
            for r in runs:
                impl = str(r.get("impl", ""))
                prefix = ("C" if impl.startswith("c-") else
                          "PyPI" if impl.startswith("py_") else "npm")
                for k, val in (r.get("versions") or {}).items():
                    v.setdefault("%s %s" % (prefix, k), val)
    return v


# ---- RESULTS.md --------------------------------------------------------------------------------

NOTES_BEGIN, NOTES_END = "<!-- notes: kept across runs -->", "<!-- /notes -->"


def row_of(results, cell_id, peer_id):
    c = results["cells"].get(cell_id)
    if not c:
        return None
    return next((r for r in c["rows"] if r["peer"] == peer_id and r.get("median") is not None),
                None)


def targets(results):
    """(what, measured, target, met) for every target of issue 6 that this run measured."""
    out = []

    def ratio(cell, peer, ref, want, what):
        p, t = row_of(results, cell, peer), row_of(results, cell, ref)
        if p and t:
            x = p["median"] / t["median"]
            out.append((what, "%.1fx" % x, ">= %gx" % want, x >= want))
        else:
            out.append((what, "not measured (%s)" % ("peer failed" if t else "tokenwire failed"),
                        ">= %gx" % want, False))

    def absolute(cell, peer, limit, what, unit, key="median", scale=1.0):
        p = row_of(results, cell, peer)
        if p:
            v = p[key] * scale
            out.append((what, "%.3f %s" % (v, unit), "<= %g %s" % (limit, unit), v <= limit))
        else:
            out.append((what, "not measured (failed)", "<= %g %s" % (limit, unit), False))

    for loop in ("asyncio", "uvloop"):
        ref = "py-tw-events/" + loop
        ratio("bulk-openai", "py-openai/" + loop, ref, 20,
              "Python bulk CPU/chunk: openai SDK / tokenwire (%s)" % loop)
        ratio("bulk-openai", "py-httpx-orjson/" + loop, ref, 5,
              "Python bulk CPU/chunk: httpx+httpx-sse+orjson / tokenwire (%s)" % loop)
        absolute("bulk-openai", ref, 1.0, "Python bulk, one event at a time (%s)" % loop,
                 "us/chunk")
        absolute("bulk-openai", "py-tw-batches/" + loop, 0.5, "Python bulk, batches (%s)" % loop,
                 "us/chunk")
    ratio("bulk-openai", "node-openai", "node-tw-emitter", 20,
          "Node bulk CPU/chunk: openai-node / tokenwire")
    ratio("bulk-openai", "node-fetch-esp", "node-tw-emitter", 4,
          "Node bulk CPU/chunk: fetch+eventsource-parser / tokenwire")
    absolute("bulk-openai", "node-tw-emitter", 0.6, "Node bulk, emitter", "us/chunk")
    for cid in ("fanin-1000x50", "fanin-5000x10"):
        c = results["cells"].get(cid)
        if not c:
            continue
        for lang, ref in (("python", "py-tw-events/uvloop"), ("node", "node-tw-emitter")):
            rows = [r for r in c["rows"] if r.get("median") is not None]
            peers = [r for r in rows if not r["tw"] and r["peer"].startswith(lang[:2])]
            tw = next((r for r in rows if r["peer"] == ref), None)
            if tw and peers:
                best = min(peers, key=lambda r: r["median"])
                x = best["median"] / tw["median"]
                out.append(("%s %s: CPU of best peer (%s) / tokenwire" % (cid, lang,
                            best["label"]), "%.1fx" % x, ">= 5x", x >= 5))
            if tw:
                v = tw["lat_p99_us"] / 1e3
                out.append(("%s %s: tokenwire p99 delivery latency" % (cid, lang),
                            "%.3f ms" % v, "< 1 ms", v < 1.0))
    c = results["cells"].get("ttft")
    if c:
        for r in c["rows"]:
            if r["ref"] and r.get("ttft_delta") is not None:
                out.append(("TTFT warm p50, %s minus best peer" % r["label"],
                            "%+.3f ms" % r["ttft_delta"], "<= 0.2 ms", r["ttft_delta"] <= 0.2))
    c = results["cells"].get("relay")
    if c:
        for grp, tw_id, peer_id in (("py", "relay-py-tokenwire", "relay-py-openai"),
                                    ("node", "relay-node-tokenwire", "relay-node-openai")):
            t, p = row_of(results, "relay", tw_id), row_of(results, "relay", peer_id)
            if t and p:
                x = t["chunks_per_core_s"] / p["chunks_per_core_s"]
                out.append(("Relay chunks per core, %s: tokenwire / pure" % grp, "%.1fx" % x,
                            ">= 5x", x >= 5))
            else:
                out.append(("Relay chunks per core, %s" % grp, "not measured (failed)", ">= 5x",
                            False))
    c = results["cells"].get("fanin-1000x50")
    if c:
        for r in c["rows"]:
            if r["tw"] and r.get("rss_per_stream") is not None:
                v = r["rss_per_stream"] / 1024
                out.append(("Memory per stream at %d streams, %s" % (c["cell"]["streams"],
                            r["label"]), "%.1f KiB" % v, "< 64 KiB", v < 64))
    return out


def results_md(results, raw_rel, old_text=""):
    m = results["meta"]
    L = ["# tokenwire benchmark results", "",
         "Written by `make bench` (benchmarks/bench.py); raw figures: `%s`." % raw_rel,
         "How each peer is set up and how to re-run one cell: [README.md](README.md).", "",
         "| | |", "|---|---|",
         "| date | %s |" % m["date"], "| CPU | %s |" % m["cpu"], "| cores | %d |" % m["cores"],
         "| kernel | %s |" % m.get("kernel", "?"), "| pinning | %s |" % m["pinning"],
         "| run time | %.0f s |" % m.get("elapsed_s", 0), ""]
    L += ["CPU is the client process's own (getrusage / process.cpuUsage, all its threads), "
          "for the text deltas delivered to user code. Median over repetitions, spread = "
          "half the min-max range. `x tokenwire` divides by the tokenwire peer of the same "
          "language and event loop (`async for ev` for Python, the emitter for Node). Slow "
          "peers get a shorter stream (column `chunks`) so the run fits in 20 minutes; their "
          "cost per chunk does not depend on the length.", ""]
    L += ["## Versions", "", "| component | version |", "|---|---|"]
    L += ["| %s | %s |" % kv for kv in sorted(m.get("versions", {}).items())]
    L += [""]
    tg = targets(results)
    if tg:
        L += ["## Targets (issue 6)", "", "| what | measured | target | |", "|---|---|---|---|"]
        L += ["| %s | %s | %s | %s |" % (w, v, t, "met" if ok else "**missed**")
              for w, v, t, ok in tg]
        L += [""]
    for cid, c in results["cells"].items():
        L += ["## " + c["cell"]["title"], ""]
        L += table_lines(c["cell"], c["rows"], md=True)
        L += [""]
    c = results["cells"].get("fanin-1000x50")
    if c:
        L += ["## Memory: RSS growth per concurrent stream at %d streams" % c["cell"]["streams"],
              "", "(peak RSS during the fan-in run minus RSS before it, divided by the streams)",
              "", "| peer | KiB per stream |", "|---|---|"]
        L += ["| %s | %s |" % (r["label"], fmt(r["rss_per_stream"] / 1024, 1))
              for r in c["rows"] if r.get("rss_per_stream") is not None]
        L += [""]
    if m.get("failed"):
        L += ["## Failed cells", ""] + ["- " + f for f in m["failed"]] + [""]
    notes = ""
    if NOTES_BEGIN in old_text and NOTES_END in old_text:
        notes = old_text[old_text.index(NOTES_BEGIN):old_text.index(NOTES_END) +
                         len(NOTES_END)]
    else:
        notes = NOTES_BEGIN + "\n## Notes\n\n" + NOTES_END
    L += [notes, ""]
    return "\n".join(L)


# ---- main --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): small sizes, 1 rep")
    ap.add_argument("--only", default="", help="comma-separated cell ids to run")
    ap.add_argument("--peers", default="", help="comma-separated substrings of peer ids")
    ap.add_argument("--mock-url", default="",
                    help="use this already running mock (http://127.0.0.1:PORT) instead of "
                         "starting out/release/tokenwire mock")
    ap.add_argument("--no-results-md", action="store_true",
                    help="do not rewrite benchmarks/RESULTS.md")
    a = ap.parse_args()
    quick = a.quick or os.environ.get("QUICK") not in (None, "", "0")

    t_start = time.time()
    ncores = os.cpu_count() or 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def log(msg):
        print(msg, flush=True)

    peers = all_peers()
    if a.peers:
        pats = a.peers.split(",")
        peers = [p for p in peers if any(s in p.id for s in pats)]
    cells = make_cells(quick)
    if a.only:
        cells = [c for c in cells if c["id"] in a.only.split(",")]
    relay_cell = dict(id="relay", kind="relay", dialect="openai", query="",
                      readers=8 if quick else 50, chunks=2000 if quick else 20000,
                      timeout=60 if quick else 240,
                      title="")
    relay_cell["title"] = ("Relay to %d concurrent downstream SSE readers, %d chunks each"
                           % (relay_cell["readers"], relay_cell["chunks"]))
    do_relay = not a.only or "relay" in a.only.split(",")

    for path in ((VENV_PY,) if a.mock_url else (CLI, VENV_PY)):
        if not os.path.exists(path):
            log("bench: %s is missing: run `make bench` (it builds and sets up first)" % path)
            return 2
    log("tokenwire benchmark (%s): %d cores, %s" % ("QUICK" if quick else "full", ncores,
                                                    cpu_model()))
    mock = ExternalMock(a.mock_url) if a.mock_url else Mock(ncores)
    results = {"meta": {}, "cells": {}}
    failed = []
    try:
        meta = results["meta"]
        meta["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        meta["cpu"] = cpu_model()
        meta["cores"] = ncores
        meta["kernel"] = platform.release()
        meta["quick"] = quick
        meta["pinning"] = ("mock on core %s, client on core %s" % (MOCK_CORE, CLIENT_CORE)
                           if ncores >= 2 else "none (one core)")

        for cell in cells:
            cp = [p for p in peers if cell["kind"] in p.workloads and cell["dialect"] in p.dialects]
            reps = reps_for(cell, quick)
            log("\n== %s  [%d peers x %d reps]" % (cell["title"], len(cp), reps))
            runs = run_cell(cell, cp, mock, reps, ncores, log,
                            jobs=2 if quick else 1)
            rows = summarize(cell, cp, runs)
            if cell["kind"] == "ttft":
                best = min((r["median"] for r in rows if r.get("median") is not None and
                            not r["tw"]), default=None)
                for r in rows:
                    if r.get("median") is not None and best is not None:
                        r["ttft_delta"] = r["median"] - best
            results["cells"][cell["id"]] = {"cell": cell, "runs": runs, "rows": rows}
            log("")
            for line in table_lines(cell, rows, md=False):
                log(line)
            failed += ["%s/%s: %s" % (cell["id"], r["peer"], r["error"]) for r in rows
                       if r["failed"]]

        if do_relay:
            rds = relay_defs()
            if a.peers:
                rds = [d for d in rds if any(s in d["id"] for s in a.peers.split(","))]
            if rds:
                reps = 1
                log("\n== %s  [%d relays x %d reps]" % (relay_cell["title"], len(rds), reps))
                runs = {d["id"]: [] for d in rds}
                for rep in range(reps):
                    order = rds[rep % len(rds):] + rds[:rep % len(rds)]
                    for d in order:
                        mock.wait_idle()
                        r = run_relay(d, relay_cell, mock, ncores)
                        r["rep"] = rep
                        runs[d["id"]].append(r)
                        log("  %-44s %s" % (d["label"], brief(relay_cell, r)))
                rps = [RelayPeer(d) for d in rds]
                rows = summarize(relay_cell, rps, runs)
                for r in rows:  # relays: the ratio is chunks per core, tokenwire over the peer
                    ref = next((x for x in rows if x["ref"] and x["group"] == r["group"]
                                and x.get("median")), None)
                    if ref and r.get("median"):
                        r["ratio"] = r["median"] / ref["median"]
                results["cells"]["relay"] = {"cell": relay_cell, "runs": runs, "rows": rows}
                log("")
                for line in table_lines(relay_cell, rows, md=False):
                    log(line)
                failed += ["relay/%s: %s" % (r["peer"], r["error"]) for r in rows if r["failed"]]
    finally:
        mock.stop()

    results["meta"]["versions"] = collect_versions(results)
    results["meta"]["elapsed_s"] = time.time() - t_start
    results["meta"]["failed"] = failed
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    partial = bool(a.only or a.peers or a.mock_url)
    name = ("quick-" if quick else "partial-" if partial else "full-") + stamp + ".json"
    # Quick (smoke) and partial runs are scratch: they go to out/; only complete full runs
    # are kept in the repository.
    out_dir = os.path.join(BUILD, "bench", "results") if quick or partial else RESULTS_DIR
    os.makedirs(out_dir, exist_ok=True)
    out_path = os.path.join(out_dir, name)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    log("\nraw results: %s" % os.path.relpath(out_path, ROOT))
    if not quick and not partial and not a.no_results_md:
        md_path = os.path.join(HERE, "RESULTS.md")
        old = open(md_path).read() if os.path.exists(md_path) else ""
        with open(md_path, "w") as f:
            f.write(results_md(results, os.path.relpath(out_path, HERE), old))
        log("summary: benchmarks/RESULTS.md")
    log("elapsed: %.0f s" % (time.time() - t_start))
    cells_run = sum(len(c["rows"]) for c in results["cells"].values())
    # One line a CI log reader understands: peer cells that produced numbers / that failed.
    log("bench: %d passed, %d failed" % (cells_run - len(failed), len(failed)))
    if failed:
        log("\nFAILED (%d):" % len(failed))
        for f_ in failed:
            log("  " + f_)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
