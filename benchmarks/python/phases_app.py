"""The app of bench_phases.py: a two-phase relay (a status line, phase 1, a progress line,
phase 2, one final "done" line) in an app's own NDJSON vocabulary ({"type": "chat", "content"}
per token), written three ways over HTTP:

  /tw_phases  tokenwire.fastapi.Relay + a tokenwire.Format (the phases encoded in C per batch)
  /tw_single  sse_response of one stream of the same token count, same Format (the built-in
              single-stream relay: the reference for the cost of phases and app events)
  /sdk        the openai SDK (AsyncOpenAI, stream=True) + json.dumps per token, two phases
  /floor      no upstream: prebuilt lines from an async generator, paced by asyncio.sleep
              when delay_ms is given (what uvicorn + Starlette cost per streamed write)
"""
import asyncio
import json
import os

from fastapi import FastAPI, Request
from starlette.responses import StreamingResponse

import tokenwire as tw
import tokenwire._tools  # noqa: F401 - the floor's expected text
from tokenwire.fastapi import Relay, sse_response

BASE = os.environ["TOKENWIRE_BASE_URL"]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
client = tw.Client(base_url=BASE, max_retries=0)
CHAT = tw.Format({
    "framing": "ndjson",
    "events": {"text": {"data": {"type": "chat", "content": "{text}", "streaming": True}}},
    "app": {"status": {"data": {"type": "status", "state": "{payload.state}"}},
            "progress": {"data": {"type": "progress", "progress": "{payload.progress}"}},
            "done": {"data": {"type": "done", "response": "{text_so_far}", "usage": "{usage}"}}},
})
app = FastAPI()


def upstream(n, delay_ms="0"):
    params = {"chunks": str(n)}
    if delay_ms != "0":
        params["delay_ms"] = delay_ms  # paced: one token per wakeup, as real streams come
    return client.stream("POST", "/v1/chat/completions", json=BODY, params=params)


@app.get("/pid")
async def pid():
    return {"pid": os.getpid()}


@app.get("/tw_phases")
async def tw_phases(request: Request):
    n = int(request.query_params["chunks"])
    d = request.query_params.get("delay_ms", "0")
    relay = Relay(format=CHAT, heartbeat=None)

    async def run():
        relay.send("status", {"state": "thinking"})
        await relay.pipe(upstream(n // 2, d))
        relay.progress(0.5)
        await relay.pipe(upstream(n - n // 2, d))
        await relay.close(final=("done", {}))

    return relay.response(run())


@app.get("/tw_single")
async def tw_single(request: Request):
    q = request.query_params
    return sse_response(upstream(int(q["chunks"]), q.get("delay_ms", "0")), format=CHAT,
                        heartbeat=None)


@app.get("/floor")
async def floor(request: Request):
    n = int(request.query_params["chunks"])
    delay = int(request.query_params.get("delay_ms", "0")) / 1000.0
    # The whole text in the first line (what the client checks), then empty deltas.
    first = tw._tools.expected_text(n // 2) + tw._tools.expected_text(n - n // 2)

    async def body():
        for i in range(n):
            if delay:
                await asyncio.sleep(delay)
            yield '{"type":"chat","content":%s,"streaming":true}\n' % json.dumps(
                first if i == 0 else "")

    return StreamingResponse(body(), media_type="application/x-ndjson")


@app.get("/sdk")
async def sdk(request: Request):
    import openai

    n = int(request.query_params["chunks"])
    oc = openai.AsyncOpenAI(base_url=BASE + "/v1", api_key="x", max_retries=0)

    async def body():
        text = []
        yield json.dumps({"type": "status", "state": "thinking"}) + "\n"
        for k, count in enumerate((n // 2, n - n // 2)):
            if k:
                yield json.dumps({"type": "progress", "progress": 0.5}) + "\n"
            stream = await oc.chat.completions.create(
                model="m", messages=BODY["messages"], stream=True,
                extra_query=dict(request.query_params, chunks=str(count)))
            async for chunk in stream:
                for ch in chunk.choices:
                    t = ch.delta.content
                    if t:
                        text.append(t)
                        yield json.dumps({"type": "chat", "content": t, "streaming": True}) + "\n"
        yield json.dumps({"type": "done", "response": "".join(text)}) + "\n"

    return StreamingResponse(body(), media_type="application/x-ndjson")
