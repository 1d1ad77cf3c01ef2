"""Two pure-Python relay baselines of the relay workload, shaped like tokenwire's
examples/fastapi_app.py (POST /chat, the same upstream body, X-Mock-* headers forwarded):

  passthrough    httpx `aiter_raw()` -> StreamingResponse: the upstream's bytes unchanged, no
                 parsing at all (the floor of any Python relay).
  orjson_relay   httpx `aiter_raw()`, split by hand on b"\\n", orjson.loads each `data:` line
                 and orjson.dumps it again as the downstream event (a relay that can look at
                 or rewrite every chunk, written for speed).

    RELAY_UPSTREAM=http://127.0.0.1:PORT/v1 uvicorn relay_pure:passthrough --app-dir ...
"""
import os

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

UPSTREAM = os.environ.get("RELAY_UPSTREAM", "http://127.0.0.1:8080/v1")
MODEL = "gpt-4o-mini"
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

client = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=60.0, pool=600.0),
                           limits=httpx.Limits(max_connections=5000,
                                               max_keepalive_connections=5000))


async def open_upstream(request: Request):
    payload = await request.json()
    messages = payload.get("messages") or [{"role": "user", "content": payload.get("prompt", "")}]
    hdrs = {k: v for k, v in request.headers.items() if k.lower().startswith("x-mock-")}
    body = {"model": payload.get("model") or MODEL, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}}
    req = client.build_request("POST", UPSTREAM + "/chat/completions", json=body, headers=hdrs)
    resp = await client.send(req, stream=True)
    resp.raise_for_status()
    return resp


passthrough = FastAPI(title="byte pass-through relay")
orjson_relay = FastAPI(title="orjson relay")


@passthrough.post("/chat")
async def chat_raw(request: Request):
    resp = await open_upstream(request)

    async def body():
        try:
            async for data in resp.aiter_raw():
                yield data
        finally:
            await resp.aclose()

    return StreamingResponse(body(), media_type="text/event-stream", headers=HEADERS)


@orjson_relay.post("/chat")
async def chat_orjson(request: Request):
    resp = await open_upstream(request)
    loads, dumps = orjson.loads, orjson.dumps

    async def body():
        rest = b""
        try:
            async for data in resp.aiter_raw():
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.startswith(b"data: "):
                        if line.startswith(b"data: [DONE]"):
                            yield b"data: [DONE]\n\n"
                        else:
                            yield b"data: " + dumps(loads(line[6:])) + b"\n\n"
        finally:
            await resp.aclose()

    return StreamingResponse(body(), media_type="text/event-stream", headers=HEADERS)
