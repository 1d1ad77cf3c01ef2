"""What `make bench` runs: the peers (client configurations), the cells (workloads) and the
relays. bench.py drives them; bench_run.py starts the processes; bench_report.py writes tables.

Production-shaped cells lead (paced fan-in, one paced stream, plain HTTP and TLS); the bulk
cells are throughput tests. Sizes: QUICK (the CI smoke run: every peer and cell at a tiny size)
or full (the published run, about an hour on 2 cores)."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, "out")
CLI = os.path.join(BUILD, "release", "tokenwire")
VENV_PY = os.path.join(BUILD, "bench", "venv", "bin", "python")
VENV313_PY = os.path.join(BUILD, "bench", "venv313", "bin", "python")
NODE22 = os.path.join(BUILD, "bench", "node22", "bin", "node")
C_PEER = os.path.join(BUILD, "bench", "tw_peer")
PY_DIR = os.path.join(HERE, "peers", "python")
NODE_DIR = os.path.join(HERE, "peers", "node")
TLS_DIR = os.path.join(BUILD, "bench", "tls")


class Peer:
    """One client configuration.

    scale: shrinks the bulk stream for peers whose per-chunk cost would blow the time budget.
    ref: tokenwire's reference peer of its table group (fixed, declared here, never chosen
    after the fact). h2: negotiates HTTP/2 (runs in the TLS cells only, where ALPN offers it).
    lang: the language a "best peer" is chosen within (python, python3.13, node, c)."""

    def __init__(self, pid, label, lang, argv, workloads, dialects=("openai", "anthropic"),
                 scale=1.0, tw=False, ref=False, group=None, h2=False, sync=False):
        self.id, self.label, self.lang, self.argv = pid, label, lang, argv
        self.workloads, self.dialects, self.scale = set(workloads), set(dialects), scale
        self.tw, self.ref, self.h2, self.sync = tw, ref, h2, sync
        self.group = group or lang  # ratios are taken against the reference of the same group


def py(impl, loop, python=VENV_PY):
    return [python, os.path.join(PY_DIR, "peer.py"), impl, "--loop", loop]


def nd(impl):
    return [NODE22, os.path.join(NODE_DIR, "peer.js"), impl]


# Workload sets. "fanin" covers every paced cell (many streams or one); "fanin-tls" the same over
# TLS; "capacity" the rate search; "paced" the one-stream cells only (plain and TLS). The SDKs
# (several times the best peer's CPU per event in every plain cell) run the TLS fan-in only as
# the one paced stream, to keep the full run within the hour.
PROD = ("fanin", "fanin-tls", "capacity")
SDK_PROD = ("fanin", "capacity", "paced")


def all_peers():
    peers = [
        Peer("c-engine", "tokenwire C engine (floor)", "c", [C_PEER],
             ("bulk", "ttft") + PROD, tw=True, ref=True),
        Peer("c-engine/h2", "tokenwire C engine, HTTP/2", "c", [C_PEER, "--http2"],
             ("fanin-tls",), tw=True, h2=True),
        Peer("c-cli", "tokenwire CLI --format text", "c", [VENV_PY, os.path.join(PY_DIR,
             "cli_peer.py"), CLI], ("bulk",), tw=True),
    ]
    for loop in ("asyncio", "uvloop"):
        g = "py-" + loop
        u = loop == "uvloop"
        # Production cells: tokenwire and the performance-minded readers under both loops, the
        # SDKs and the other readers under uvloop (their better loop). Bulk: all, both loops.
        best = PROD if u else ("fanin", "capacity")  # TLS cells: each one's better loop only
        more = PROD if u else ()
        peers += [
            Peer("py-tw-events/" + loop, "tokenwire async for ev (%s)" % loop, "python",
                 py("py_tokenwire", loop), ("bulk", "ttft") + best, tw=True, ref=True, group=g),
            Peer("py-tw-events-h2/" + loop, "tokenwire async for ev, HTTP/2 (%s)" % loop,
                 "python", py("py_tokenwire", loop) + ["--http2"], ("fanin-tls",) if u else (),
                 tw=True, group=g, h2=True),
            Peer("py-tw-text/" + loop, "tokenwire s.text() (%s)" % loop, "python",
                 py("py_tokenwire:text", loop), ("bulk",), tw=True, group=g),
            Peer("py-tw-batches/" + loop, "tokenwire s.batches() (%s)" % loop, "python",
                 py("py_tokenwire:batches", loop), ("bulk",), tw=True, group=g),
            Peer("py-openai/" + loop, "openai SDK (%s)" % loop, "python", py("py_openai", loop),
                 ("bulk",) + (("ttft",) + SDK_PROD if u else ()), dialects=("openai",),
                 scale=0.025, group=g),
            Peer("py-litellm/" + loop, "LiteLLM acompletion (%s)" % loop, "python",
                 py("py_litellm", loop), ("bulk",) + (("ttft",) + SDK_PROD if u else ()),
                 dialects=("openai",), scale=0.01, group=g),
            Peer("py-anthropic/" + loop, "anthropic SDK create(stream) (%s)" % loop, "python",
                 py("py_anthropic", loop), ("bulk",), dialects=("anthropic",), scale=0.2,
                 group=g),
            Peer("py-anthropic-helper/" + loop, "anthropic SDK messages.stream (%s)" % loop,
                 "python", py("py_anthropic:helper", loop), ("bulk",), dialects=("anthropic",),
                 scale=0.025, group=g),
            Peer("py-httpx-json/" + loop, "httpx+httpx-sse+json (%s)" % loop, "python",
                 py("py_httpx_sse", loop), ("bulk",), scale=0.2, group=g),
            Peer("py-httpx-orjson/" + loop, "httpx+httpx-sse+orjson (%s)" % loop, "python",
                 py("py_httpx_sse:orjson", loop), ("bulk",) + more, scale=0.2, group=g),
            Peer("py-httpx-orjson-h2/" + loop, "httpx+httpx-sse+orjson, HTTP/2 (%s)" % loop,
                 "python", py("py_httpx_sse:orjson", loop) + ["--http2"],
                 ("fanin-tls",) if u else (), group=g, h2=True),
            Peer("py-aiohttp/" + loop, "aiohttp lines+orjson (%s)" % loop, "python",
                 py("py_aiohttp", loop), ("bulk",) + more + (("ttft",) if u else ()),
                 scale=0.5, group=g),
            Peer("py-aiohttp-any/" + loop, "aiohttp iter_any+split+orjson (%s)" % loop,
                 "python", py("py_aiohttp:iter_any", loop), ("bulk", "ttft") + best,
                 scale=0.5, group=g),
        ]
    # The same Python peers' best pair under CPython 3.13 (a second venv), uvloop.
    peers += [
        Peer("py313-tw-events/uvloop", "tokenwire async for ev (3.13, uvloop)", "python3.13",
             py("py_tokenwire", "uvloop", VENV313_PY), ("bulk", "fanin"), tw=True, ref=True,
             group="py313"),
        Peer("py313-aiohttp-any/uvloop", "aiohttp iter_any+split+orjson (3.13, uvloop)",
             "python3.13", py("py_aiohttp:iter_any", "uvloop", VENV313_PY), ("bulk", "fanin"),
             scale=0.5, group="py313"),
    ]
    # Sync clients: no event loop, one stream at a time (bulk, the paced stream, TTFT).
    for v, label, ref, scale in (("tokenwire", "tokenwire stream_sync", True, 1.0),
                                 ("openai", "openai SDK, sync OpenAI", False, 0.025),
                                 ("httpx", "httpx.Client+httpx-sse+orjson, sync", False, 0.2)):
        peers.append(Peer("py-sync-" + v, label, "python-sync", py("py_sync:" + v, "asyncio"),
                          ("bulk", "paced", "ttft"), dialects=("openai",), scale=scale,
                          tw=v == "tokenwire", ref=ref, group="py-sync", sync=True))
    peers += [
        Peer("node-tw-emitter", "tokenwire emitter", "node", nd("tokenwire:emitter"),
             ("bulk", "ttft") + PROD, tw=True, ref=True),
        Peer("node-tw-emitter/h2", "tokenwire emitter, HTTP/2", "node",
             nd("tokenwire:emitter") + ["--http2"], ("fanin-tls",), tw=True, h2=True),
        Peer("node-tw-iter", "tokenwire for await", "node", nd("tokenwire:iter"),
             ("bulk", "ttft"), tw=True),
        Peer("node-tw-text", "tokenwire s.text()", "node", nd("tokenwire:text"),
             ("bulk",), tw=True),
        Peer("node-openai", "openai-node", "node", nd("openai"), ("bulk", "ttft") + SDK_PROD,
             dialects=("openai",), scale=0.25),
        Peer("node-ai-sdk", "AI SDK streamText (@ai-sdk/openai)", "node", nd("ai_sdk"),
             ("bulk", "ttft") + SDK_PROD, dialects=("openai",), scale=0.1),
        Peer("node-anthropic", "@anthropic-ai/sdk create(stream)", "node", nd("anthropic"),
             ("bulk",), dialects=("anthropic",), scale=0.25),
        Peer("node-anthropic-helper", "@anthropic-ai/sdk messages.stream", "node",
             nd("anthropic:helper"), ("bulk",), dialects=("anthropic",), scale=0.25),
        Peer("node-fetch-esp", "fetch+eventsource-parser", "node", nd("fetch_esp"),
             ("bulk", "ttft") + PROD, scale=0.5),
        Peer("node-undici-esp", "undici.request+eventsource-parser", "node", nd("undici_esp"),
             ("bulk", "ttft") + PROD, scale=0.5),
        Peer("node-undici-split", "undici.request+hand split", "node", nd("undici_split"),
             ("bulk", "ttft") + PROD, scale=0.5),
        Peer("node-undici-split/h2", "undici.request+hand split, HTTP/2", "node",
             nd("undici_split") + ["--http2"], ("fanin-tls",), h2=True),
    ]
    return peers


def make_cells(quick):
    """Cells in the order they run and are shown. reps: repetitions (headline cells >= 5)."""
    n = 5000 if quick else 200000
    frag = 2000 if quick else 4000  # the mock's 1-7 byte writes cost it ~30x more per chunk
    cells = []
    # Production shape. (id, streams, per-stream rate, seconds); QUICK keeps every cell, tiny.
    fan = [("fanin-1000x10", 1000, 10, 4), ("fanin-5000x2", 5000, 2, 4),
           ("fanin-200x50", 200, 50, 4)]
    qfan = {"fanin-1000x10": (40, 10, 1), "fanin-5000x2": (100, 2, 2),
            "fanin-200x50": (10, 50, 1)}
    for tls in (False, True):
        for cid, s, r, d in fan:
            if quick:
                s, r, d = qfan[cid]
            cells.append(dict(id=cid + ("-tls" if tls else ""), kind="fanin", dialect="openai",
                              query="", streams=s, rate=r, duration=d, tls=tls,
                              work="fanin-tls" if tls else "fanin", headline=not tls,
                              reps=1 if quick else (2 if tls else 5)))
        # One paced stream: 2,000 chunks at 20 ms (QUICK: 50). Its peers run side by side
        # (each ~1 % of a core), so five repetitions cost five stream lengths.
        cells.append(dict(id="paced-1x2000" + ("-tls" if tls else ""), kind="fanin",
                          dialect="openai", query="", streams=1, rate=50,
                          duration=1 if quick else 40, tls=tls, concurrent=True,
                          work="fanin-tls" if tls else "fanin", paced=True, headline=not tls,
                          reps=1 if quick else (2 if tls else 5)))
    for c in cells:
        c["title"] = ("%s: %d stream%s x %g chunks/s for %g s%s" % (
            c["id"], c["streams"], "s" if c["streams"] > 1 else "", c["rate"], c["duration"],
            ", over TLS (haproxy, h1 + h2 where the peer offers it)" if c["tls"] else ""))
    cells.append(dict(id="capacity", kind="capacity", dialect="openai", query="", tls=False,
                      streams=40 if quick else 1000, duration=1 if quick else 4,
                      rates=(10,) if quick else (10, 20, 40, 80), floor=10 if quick else 2.5,
                      reps=1,
                      title="Capacity: the highest aggregate event rate with p99 < 10 ms on "
                            "one core (1,000 streams, per-stream rate searched)"))
    # Throughput tests (one fast stream): where batching engages; not the production shape.
    cells += [
        dict(id="bulk-openai", kind="bulk", dialect="openai", query="", chunks=n,
             reps=1 if quick else 3, title="Throughput test: bulk, openai, one stream of %d "
                                          "chunks" % n),
        dict(id="bulk-anthropic", kind="bulk", dialect="anthropic", query="", chunks=n,
             reps=1 if quick else 2,
             title="Throughput test: bulk, anthropic, one stream of %d chunks" % n),
        dict(id="bulk-openai-fragmented", kind="bulk", dialect="openai", query="split=random",
             chunks=frag, reps=1, title="Throughput test: bulk, openai, fragmented writes "
                                        "(split=random, 1-7 bytes), %d chunks" % frag),
        dict(id="bulk-openai-coalesced", kind="bulk", dialect="openai",
             query="split=coalesce&coalesce=64", chunks=n, reps=1 if quick else 2,
             title="Throughput test: bulk, openai, coalesced writes (64 events per write), "
                   "%d chunks" % n),
        dict(id="ttft", kind="ttft", dialect="openai", query="", chunks=5,
             requests=30 if quick else 500, reps=1 if quick else 3,
             title="Time to first token, %d sequential 5-chunk requests on a warm client, "
                   "plus the first request of a cold client" % (30 if quick else 500)),
    ]
    for c in cells:
        c.setdefault("tls", False)
        c.setdefault("work", c["kind"])
    if quick:  # the smoke run keeps the cells every peer has, at tiny sizes
        cells = [c for c in cells if c["id"] not in ("bulk-openai-fragmented",
                                                     "bulk-openai-coalesced")]
    return cells


def relay_cells(quick):
    """The relay load: bulk (many chunks, as fast as the mock sends) and paced (1,000
    downstream readers, 10 chunks/s each: the production shape)."""
    return [
        dict(id="relay", kind="relay", readers=8 if quick else 50,
             chunks=2000 if quick else 20000, delay_ms=0, timeout=60 if quick else 240,
             reps=1,
             title="Relay throughput test: %d downstream readers, %d chunks each, unpaced" % (
                 8 if quick else 50, 2000 if quick else 20000)),
        dict(id="relay-paced", kind="relay", readers=40 if quick else 1000,
             chunks=10 if quick else 100, delay_ms=100, timeout=60 if quick else 120,
             reps=1 if quick else 2,
             title="Relay, production shape: %d downstream readers, %d chunks each at 10/s" % (
                 40 if quick else 1000, 10 if quick else 100)),
    ]


def relay_defs():
    """tokenwire's own examples against pure-language relays of the same shape."""
    uvicorn = [VENV_PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}",
               "--log-level", "warning", "--no-access-log", "--workers", "1"]
    node = NODE22
    return [
        dict(id="relay-py-tokenwire", group="py", tw=True, ref=True,
             label="FastAPI + tokenwire sse_response (examples/fastapi_app.py)",
             argv=uvicorn + ["examples.fastapi_app:app"], cwd=ROOT, path="/chat?format=openai",
             env={"TOKENWIRE_BASE_URL": "{mock}/v1"}, scale=1.0),
        dict(id="relay-py-passthrough", group="py",
             label="FastAPI + httpx aiter_raw byte pass-through (no parsing)",
             argv=uvicorn + ["--app-dir", PY_DIR, "relay_pure:passthrough"], cwd=ROOT,
             path="/chat?format=openai", env={"RELAY_UPSTREAM": "{mock}/v1"}, scale=0.25),
        dict(id="relay-py-orjson", group="py",
             label="FastAPI + httpx aiter_raw + split + orjson loads/dumps",
             argv=uvicorn + ["--app-dir", PY_DIR, "relay_pure:orjson_relay"], cwd=ROOT,
             path="/chat?format=openai", env={"RELAY_UPSTREAM": "{mock}/v1"}, scale=0.25),
        dict(id="relay-py-openai", group="py",
             label="FastAPI + openai SDK + StreamingResponse",
             argv=uvicorn + ["--app-dir", PY_DIR, "relay_openai:app"], cwd=ROOT,
             path="/chat?format=openai", env={"RELAY_UPSTREAM": "{mock}/v1"}, scale=0.02),
        dict(id="relay-node-tokenwire", group="node", tw=True, ref=True,
             label="node:http + tokenwire toReadableStream (examples/node_server.js)",
             argv=[node, os.path.join(ROOT, "examples", "node_server.js")], cwd=ROOT,
             path="/v1/chat/completions", env={"UPSTREAM": "{mock}/v1", "PORT": "{port}"},
             scale=1.0),
        dict(id="relay-node-openai", group="node",
             label="node:http + openai-node + ReadableStream",
             argv=[node, os.path.join(NODE_DIR, "relay_openai.js")], cwd=ROOT,
             path="/v1/chat/completions", env={"RELAY_UPSTREAM": "{mock}/v1", "PORT": "{port}"},
             scale=0.1),
        dict(id="relay-node-tokenwire-ai-sdk", group="node-ai-sdk", tw=True, ref=True,
             label="node:http + tokenwire, AI SDK UI message stream (format=ai-sdk)",
             argv=[node, os.path.join(ROOT, "examples", "node_server.js")], cwd=ROOT,
             path="/api/chat?format=ai-sdk", env={"UPSTREAM": "{mock}/v1", "PORT": "{port}"},
             scale=1.0),
        dict(id="relay-node-ai-sdk", group="node-ai-sdk",
             label="node:http + AI SDK streamText toUIMessageStreamResponse",
             argv=[node, os.path.join(NODE_DIR, "relay_ai_sdk.js")], cwd=ROOT,
             path="/api/chat", env={"RELAY_UPSTREAM": "{mock}/v1", "PORT": "{port}"},
             scale=0.1),
    ]
